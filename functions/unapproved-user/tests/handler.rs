//! The Lambda entry point without AWS: payloads that are not understood, and events that are
//! decided before any AWS call.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::json;
use trailwarden::lambda::Service;
use trailwarden_testkit::{fixture, invoke, plan, service};
use unapproved_user::UnapprovedUser;

/// An endpoint nothing listens on: any AWS call would fail the test.
fn nowhere() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build()
}

async fn state(vars: &[(&str, &str)]) -> Service<UnapprovedUser> {
    service::<UnapprovedUser>(&nowhere(), vars).await.unwrap()
}

#[tokio::test]
async fn unparseable_payloads_are_errors_with_the_reason() {
    let s = state(&[]).await;
    let e = invoke(&s, &json!([1, 2])).await.unwrap_err();
    assert!(e.contains("found an array"), "{e}");
    let e = invoke(
        &s,
        &json!({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": 5}}),
    )
    .await
    .unwrap_err();
    assert!(e.contains("detail.eventName"), "{e}");
}

#[tokio::test]
async fn ignored_events_make_no_aws_call() {
    let s = state(&[(
        "APPROVAL_DOCUMENT_URI",
        "s3://security-config/approvals.json",
    )])
    .await;
    let out = invoke(&s, &fixture("iam-create-user-access-denied.json"))
        .await
        .unwrap();
    let why = out["ignored"].as_str().unwrap();
    assert!(why.contains("failed with AccessDenied"), "{why}");
    assert!(out["alerts"].as_array().unwrap().is_empty());
    let out = invoke(&s, &fixture("iam-create-access-key-self.json"))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("for itself"));
}

#[tokio::test]
async fn approved_users_are_reported_without_any_aws_call() {
    let s = state(&[("APPROVED_USER_PATTERNS", "svc-*")]).await;
    let out = invoke(&s, &fixture("iam-create-user-by-approved-creator.json"))
        .await
        .unwrap();
    assert!(out.get("steps").is_none(), "{out:#}");
    assert_eq!(out["alerts"][0]["severity"], "low", "approved by name only");
    assert_eq!(out["delivery"][0]["status"], "no_topic");
}

#[test]
fn dry_run_plan_lists_the_changing_steps_as_planned() {
    let out = plan::<UnapprovedUser>(
        &[("DRY_RUN", "true"), ("RESPONSE_MODE", "quarantine")],
        "iam-create-user-by-assumed-role.json",
    );
    assert!(out.dry_run);
    assert!(out
        .steps
        .iter()
        .any(|a| a.step == "DenyAll" && a.status == trailwarden::Status::Planned));
    assert_eq!(out.alerts[0].actions, out.steps);
}
