//! The one Lambda binary refuses to start without a valid TRAILWARDEN_FUNCTION, naming the
//! variable and the accepted values; every function of the registry has a distinct name.

use std::process::Command;
use trailwarden_functions::Function;

fn run_with(value: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailwarden-lambda"));
    cmd.env_remove("TRAILWARDEN_FUNCTION")
        .env_remove("AWS_LAMBDA_RUNTIME_API");
    if let Some(v) = value {
        cmd.env("TRAILWARDEN_FUNCTION", v);
    }
    let out = cmd.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn a_missing_or_unknown_function_name_stops_the_cold_start_naming_the_variable() {
    for value in [None, Some(""), Some("unapproved_user"), Some("all")] {
        let (ok, said) = run_with(value);
        assert!(!ok, "{value:?} started");
        assert!(said.contains("TRAILWARDEN_FUNCTION"), "{value:?}: {said}");
        assert!(
            said.contains("log-integrity"),
            "{value:?} lists the names: {said}"
        );
    }
}

#[test]
fn every_function_is_found_by_its_own_name() {
    for f in Function::ALL {
        assert_eq!(Function::by_name(f.name()).unwrap(), f);
    }
    let mut names: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), Function::ALL.len());
}

#[test]
fn malformed_alert_destinations_stop_the_cold_start_naming_the_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_trailwarden-lambda"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("TRAILWARDEN_FUNCTION", "root-activity")
        .env("AWS_REGION", "us-east-1")
        .env(
            "ALERT_DESTINATIONS",
            r#"[{"type": "sns"}, {"type": "pagerduty", "secret": "pd", "min_severity": "urgent"}]"#,
        )
        .output()
        .expect("the binary runs");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "started: {said}");
    assert!(
        said.contains("ALERT_DESTINATIONS[1] (pagerduty).min_severity"),
        "{said}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_trailwarden-lambda"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("TRAILWARDEN_FUNCTION", "root-activity")
        .env("AWS_REGION", "us-east-1")
        .env("ALERT_DESTINATIONS", r#"[{"type": "sns"}]"#)
        .env("ALERT_ROUTING", r#"{"pager": {"min_severity": "high"}}"#)
        .output()
        .expect("the binary runs");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        said.contains("ALERT_ROUTING") && said.contains("pager"),
        "{said}"
    );
}
