//! The Lambda entry point without AWS: payloads that are not understood, and events that are
//! ignored before any AWS call.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{json, Value};
use unapproved_user::{handler, Config, State};

fn state(env: &[(&str, &str)]) -> State {
    // An endpoint nothing listens on: any AWS call would fail the test.
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let env: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    State::new(&sdk, Config::from_env(&env).unwrap())
}

async fn invoke(state: &State, payload: Value) -> Result<Value, lambda_runtime::Error> {
    handler(
        state,
        lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default()),
    )
    .await
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn unparseable_payloads_are_errors_with_the_reason() {
    let s = state(&[]);
    let e = invoke(&s, json!([1, 2])).await.unwrap_err();
    assert!(e.to_string().contains("found an array"), "{e}");
    let e = invoke(
        &s,
        json!({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": 5}}),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("detail.eventName"), "{e}");
}

#[tokio::test]
async fn failed_create_user_is_ignored_without_any_aws_call() {
    let s = state(&[]);
    let out = invoke(&s, fixture("iam-create-user-access-denied.json"))
        .await
        .unwrap();
    let why = out["ignored"].as_str().unwrap();
    assert!(why.contains("failed with AccessDenied"), "{why}");
    assert!(out["alerts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn dry_run_without_a_topic_reports_the_plan_only() {
    let s = state(&[("DRY_RUN", "true"), ("RESPONSE_MODE", "quarantine")]);
    let out = invoke(&s, fixture("iam-create-user-by-assumed-role.json"))
        .await
        .unwrap();
    assert_eq!(out["dry_run"], true);
    let alert = &out["alerts"][0];
    assert_eq!(
        alert["title"],
        "Unapproved IAM user backup-operator would be quarantined"
    );
    assert!(alert["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["step"] == "AttachUserPolicy" && a["status"] == "planned"));
}

#[test]
fn plan_is_pure_and_mentions_an_unconsulted_document() {
    let env: std::collections::HashMap<String, String> = [(
        "APPROVAL_DOCUMENT_URI".to_string(),
        "s3://security-config/approvals.json".to_string(),
    )]
    .into();
    let config = Config::from_env(&env).unwrap();
    let payload =
        trailwarden::Payload::from_value(fixture("iam-create-user-by-iam-user.json")).unwrap();
    let out = unapproved_user::plan(&config, &payload);
    assert!(out.dry_run);
    let alert = &out.alerts[0];
    assert!(alert
        .facts
        .iter()
        .any(|(k, v)| k == "Approval document" && v.contains("not consulted")));
}
