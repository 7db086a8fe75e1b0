#[test]
fn timing() {
    use trailwarden::respond::plan_offline;
    let env = trailwarden_testkit::env(&[("DRY_RUN", "true")]);
    let p = trailwarden_testkit::payload("cloudtrail-stop-logging-trailwarden.json");
    let t = std::time::Instant::now();
    for _ in 0..1000 {
        let c = <tamper::Config as trailwarden::respond::Settings>::from_env(&env).unwrap();
        let _ = plan_offline::<tamper::Tamper>(&c, &p);
    }
    eprintln!("tamper: {:?} per config+plan", t.elapsed() / 1000);
    let t = std::time::Instant::now();
    for _ in 0..100 {
        let c = trailwarden::detect::Catalog::builtin(Default::default());
        std::hint::black_box(c);
    }
    eprintln!("builtin catalog: {:?} per build", t.elapsed() / 100);
}
