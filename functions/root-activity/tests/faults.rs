//! root-activity when SNS misbehaves (through the testkit's fault proxy in front of moto), and
//! its loop guard: its only side effect is the alert, so a throttled publish must be retried
//! and a lost one must fail the invocation; events of trailwarden's own roles, and AWS acting
//! on the account, never raise one.

use lambda_runtime::{Context, LambdaEvent};
use root_activity::{handler, Config, State};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{AlertInbox, Moto};

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn state(sdk: &aws_config::SdkConfig, vars: &[(&str, &str)]) -> State {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    State::new(sdk, Config::from_env(&env).unwrap())
}

async fn invoke(state: &State, v: Value) -> Result<Value, lambda_runtime::Error> {
    handler(state, LambdaEvent::new(v, Context::default())).await
}

#[tokio::test]
async fn a_throttled_publish_is_retried_and_the_alert_arrives_once() {
    let moto = Moto::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    let inbox = AlertInbox::create(&moto.sdk_config(), "root-alerts")
        .await
        .unwrap();
    let st = state(
        &proxy.sdk_config(),
        &[("ALERT_TOPIC_ARN", inbox.topic_arn.as_str())],
    );
    proxy.add(Rule::first(2, "Publish", Fault::Throttle));
    proxy.add(Rule::first(1, "Publish", Fault::Status(500)));

    let out = invoke(&st, fixture("signin-root-success-no-mfa.json"))
        .await
        .expect("the fourth attempt is published");
    assert_eq!(proxy.count("Publish"), 4);
    assert_eq!(out["stats"]["alert_delivery"][0]["status"], "sent");
    let got = inbox.receive(2, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 1, "exactly one alert reaches subscribers");
    assert_eq!(got[0].attributes["severity"], "critical");
    drop(moto);
}

#[tokio::test]
async fn a_publish_that_keeps_failing_fails_the_invocation() {
    let moto = Moto::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    let inbox = AlertInbox::create(&moto.sdk_config(), "root-alerts")
        .await
        .unwrap();
    let st = state(
        &proxy.sdk_config(),
        &[("ALERT_TOPIC_ARN", inbox.topic_arn.as_str())],
    );
    proxy.add(Rule::always("Publish", Fault::Status(503)));
    let err = invoke(&st, fixture("signin-root-success-no-mfa.json"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ServiceUnavailable"), "{err}");
    assert_eq!(
        proxy.count("Publish"),
        trailwarden::aws::MAX_ATTEMPTS as usize
    );
    assert!(inbox.drain().await.unwrap().is_empty());
    drop(moto);
}

#[tokio::test]
async fn own_roles_and_aws_itself_never_raise_an_alert() {
    let moto = Moto::start().await.unwrap();
    let inbox = AlertInbox::create(&moto.sdk_config(), "root-alerts")
        .await
        .unwrap();
    let st = state(
        &moto.sdk_config(),
        &[
            ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
            (
                "OWN_ROLE_ARNS",
                "arn:aws:iam::123456789012:role/trailwarden-*,arn:aws:iam::123456789012:role/DevOpsAdmin",
            ),
        ],
    );
    // trailwarden's own calls (its roles are never root) and AWS acting on the account.
    for f in [
        "ec2-revoke-ingress-by-trailwarden.json",
        "iam-create-user-by-assumed-role.json",
        "root-invoked-by-service.json",
        "service-event-no-identity-type.json",
    ] {
        let out = invoke(&st, fixture(f)).await.unwrap();
        assert!(out["ignored"].is_string(), "{f}: {out:#}");
    }
    assert!(inbox.drain().await.unwrap().is_empty());
    drop(moto);
}
