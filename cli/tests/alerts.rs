//! `trailwarden alerts test` against moto (the alert topic, Security Hub, Secrets Manager) and
//! local endpoints standing in for PagerDuty and a webhook: every configured destination is
//! sent the sample alert and the command prints what each answered; a failing destination
//! makes the exit code 1 without stopping the others; no destination, or a malformed
//! setting, is exit code 2 naming it.

use std::process::Command;
use std::time::Duration;
use trailwarden_testkit::harness::create_secret;
use trailwarden_testkit::http::HttpStub;
use trailwarden_testkit::{AlertInbox, Moto};

const SIGNING_SECRET: &str = "whsec_0f9e8d7c6b5a49382716a5b4c3d2e1f0";
const ROUTING_KEY: &str = "R03B5PXKDQ7JQ2C4E6F8H0J2L4N6P8R0";

#[tokio::test]
async fn every_destination_is_tried_and_says_what_it_answered() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let inbox = AlertInbox::create(&sdk, "alerts").await.unwrap();
    let pd_secret = create_secret(&sdk, "trailwarden/pagerduty", ROUTING_KEY).await;
    let hook_secret = create_secret(
        &sdk,
        "trailwarden/webhook",
        &format!(r#"{{"secret": "{SIGNING_SECRET}"}}"#),
    )
    .await;
    let pd = HttpStub::start(vec![(500, r#"{"status":"unavailable"}"#)]).await;
    let hook = HttpStub::start(vec![(204, "")]).await;
    let doc = format!(
        r#"[{{"type": "sns"}},
            {{"type": "securityhub"}},
            {{"type": "pagerduty", "secret": "{pd_secret}", "events_url": "{}", "max_attempts": 2}},
            {{"type": "webhook", "url": "{}", "secret": "{hook_secret}"}}]"#,
        pd.url("/v2/enqueue"),
        hook.url("/hooks/trailwarden")
    );
    let vars = [
        ("ALERT_DESTINATIONS", doc.as_str()),
        ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
        ("ACCOUNT_ALIAS", "sandbox"),
    ];
    let mut owned: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    owned.push(("AWS_ENDPOINT_URL".into(), moto.endpoint.clone()));
    // On a blocking thread: the local endpoints answer from this test's runtime meanwhile.
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let v: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        run_env(&v, &["alerts", "test"])
    })
    .await
    .unwrap();
    assert_eq!(
        code, 1,
        "a failing destination is exit code 1:\n{out}\n{err}"
    );
    assert!(
        out.starts_with("Sample alert: [INFO] trailwarden test alert"),
        "{out}"
    );
    assert!(
        out.contains("email (sns): arn:aws:sns:us-east-1:123456789012:alerts"),
        "{out}"
    );
    assert!(out.contains("answered: message "), "{out}");
    assert!(
        out.contains("a real info alert would not be sent: info is below this destination's minimum severity (high)"),
        "{out}"
    );
    assert!(
        out.contains("answered: imported finding trailwarden/trailwarden-test-alert/"),
        "{out}"
    );
    assert!(out.contains("pagerduty (pagerduty)"), "{out}");
    assert!(out.contains("FAILED: HTTP 500 after 2 attempt(s)"), "{out}");
    assert!(out.contains("webhook (webhook)"), "{out}");
    assert!(out.contains("answered: HTTP 204"), "{out}");
    for s in [ROUTING_KEY, SIGNING_SECRET] {
        assert!(!out.contains(s) && !err.contains(s), "a secret was printed");
    }
    // What each destination received.
    let got = inbox.receive(1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].subject.contains("trailwarden test alert"),
        "{}",
        got[0].subject
    );
    assert_eq!(pd.received().len(), 2);
    assert_eq!(pd.received()[0].json()["routing_key"], ROUTING_KEY);
    let req = &hook.received()[0];
    let ts: i64 = req
        .header("x-trailwarden-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!(trailwarden_destinations::webhook::verify(
        SIGNING_SECRET.as_bytes(),
        ts,
        &req.body,
        req.header("x-trailwarden-signature").unwrap()
    ));
    assert_eq!(req.json()["detection"], "trailwarden-test-alert");
}

/// Runs the CLI with `vars` (AWS settings for moto unless given) and `args`.
fn run_env(vars: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailwarden"));
    cmd.args(args)
        .env_remove("ALERT_DESTINATIONS")
        .env_remove("ALERT_ROUTING")
        .env_remove("ALERT_TOPIC_ARN")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the CLI runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_destination_or_a_malformed_one_is_exit_code_2_naming_the_setting() {
    let none = [("AWS_ENDPOINT_URL", "http://127.0.0.1:9")];
    let (code, _, err) = run_env(&none, &["alerts", "test"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ALERT_DESTINATIONS"), "{err}");
    let bad = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        (
            "ALERT_DESTINATIONS",
            r#"[{"type": "webhook", "url": "http://hooks.example.com/x", "secret": "s"}]"#,
        ),
    ];
    let (code, _, err) = run_env(&bad, &["alerts", "test"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ALERT_DESTINATIONS[0] (webhook).url"), "{err}");
}
