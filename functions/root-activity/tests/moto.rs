//! Against moto: the handler publishes to SNS, and the alert read back from an SQS queue
//! subscribed to the topic says what a person needs to know.

use lambda_runtime::{Context, LambdaEvent};
use root_activity::{handler, Config, State};
use serde_json::Value;
use std::time::Duration;
use trailwarden_testkit::{AlertInbox, Moto};

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn state(moto: &Moto, vars: &[(&str, &str)]) -> State {
    let env: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    State::new(&moto.sdk_config(), Config::from_env(&env).unwrap())
}

async fn invoke(state: &State, v: Value) -> Result<Value, lambda_runtime::Error> {
    handler(state, LambdaEvent::new(v, Context::default())).await
}

#[tokio::test]
async fn root_sign_in_without_mfa_reaches_subscribers() {
    let moto = Moto::start().await.unwrap();
    let inbox = AlertInbox::create(&moto.sdk_config(), "root-alerts")
        .await
        .unwrap();
    let st = state(
        &moto,
        &[
            ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
            ("ACCOUNT_ALIAS", "prod-payments"),
        ],
    );
    let out = invoke(&st, fixture("signin-root-success-no-mfa.json"))
        .await
        .unwrap();
    assert_eq!(out["stats"]["alert_delivery"][0]["status"], "sent");

    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1, "exactly one alert");
    let a = &got[0];
    assert_eq!(
        a.subject,
        "[CRITICAL] Root user signed in to the console without MFA (prod-payments 123456789012)"
    );
    assert_eq!(a.attributes["severity"], "critical");
    assert_eq!(a.attributes["detection"], "root-console-sign-in");
    assert_eq!(a.attributes["account"], "123456789012");
    assert_eq!(a.attributes["region"], "us-east-1");
    let b = &a.body;
    assert_eq!(b["severity"], "critical");
    assert_eq!(b["account"], "123456789012");
    assert_eq!(b["account_alias"], "prod-payments");
    assert_eq!(b["region"], "us-east-1");
    assert_eq!(b["event"]["event_name"], "ConsoleLogin");
    assert_eq!(b["event"]["source_ip"], "203.0.113.45");
    assert!(b["event"]["user_agent"]
        .as_str()
        .unwrap()
        .contains("Chrome/127"));
    assert_eq!(b["event"]["event_time"], "2024-08-01T13:30:12Z");
    assert_eq!(
        b["event"]["event_id"],
        "0d5c8f7e-2a41-4b9e-8c3d-6e1f2a7b9c10"
    );
    assert_eq!(
        b["event"]["console_url"],
        "https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/0d5c8f7e-2a41-4b9e-8c3d-6e1f2a7b9c10"
    );
    assert_eq!(b["facts"]["Sign-in"], "Success");
    assert_eq!(b["facts"]["MFA used"], "No");
    assert!(b["summary"].as_str().unwrap().contains("without MFA"));
}

#[tokio::test]
async fn known_network_lowers_a_root_access_key_alert_but_still_sends_it() {
    let moto = Moto::start().await.unwrap();
    let inbox = AlertInbox::create(&moto.sdk_config(), "root-alerts")
        .await
        .unwrap();
    let st = state(
        &moto,
        &[
            ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
            ("KNOWN_SOURCE_CIDRS", "203.0.113.0/24"),
        ],
    );
    invoke(&st, fixture("root-create-access-key.json"))
        .await
        .unwrap();
    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1);
    let a = &got[0];
    assert_eq!(
        a.subject,
        "[HIGH] Root user credential change: CreateAccessKey (123456789012)"
    );
    assert_eq!(a.attributes["severity"], "high");
    assert_eq!(a.attributes["detection"], "root-credential-change");
    assert_eq!(a.body["event"]["event_name"], "CreateAccessKey");
    assert_eq!(a.body["facts"]["New access key"], "AKIAEXAMPLEROOTKEY01");
    assert!(a.body["facts"]["Source network"]
        .as_str()
        .unwrap()
        .contains("lowered from critical to high"));
}

#[tokio::test]
async fn aws_acting_on_the_account_and_low_severities_send_nothing() {
    let moto = Moto::start().await.unwrap();
    let inbox = AlertInbox::create(&moto.sdk_config(), "root-alerts")
        .await
        .unwrap();
    let st = state(
        &moto,
        &[
            ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
            ("MIN_SEVERITY", "high"),
        ],
    );
    let out = invoke(&st, fixture("root-invoked-by-service.json"))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("invokedBy"));
    let out = invoke(&st, fixture("service-event-no-identity-type.json"))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("AwsServiceEvent"));
    let out = invoke(&st, fixture("signin-root-failure.json"))
        .await
        .unwrap();
    assert_eq!(
        out["stats"]["alert_delivery"][0]["status"],
        "logged only: below MIN_SEVERITY"
    );
    assert!(inbox.drain().await.unwrap().is_empty());
    // A high one still goes through the same function.
    invoke(&st, fixture("signin-root-success-mfa.json"))
        .await
        .unwrap();
    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attributes["severity"], "high");
}

#[tokio::test]
async fn a_failed_publish_fails_the_invocation_so_lambda_retries() {
    let moto = Moto::start().await.unwrap();
    let st = state(
        &moto,
        &[(
            "ALERT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:no-such-topic",
        )],
    );
    let e = invoke(&st, fixture("signin-root-success-no-mfa.json"))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("root-activity"), "{msg}");
    assert!(msg.contains("no-such-topic"), "{msg}");
}
