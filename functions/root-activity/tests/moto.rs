//! Against moto: the Lambda handler publishes to SNS, and the alert read back from an SQS queue
//! subscribed to the topic says what a person needs to know.

mod support;

use std::time::Duration;
use support::{inbox, receive_one, root_activity};
use trailwarden_testkit::harness::step_targets;
use trailwarden_testkit::{dry_run_marks, fixture, invoke, Moto};

#[tokio::test]
async fn root_sign_in_without_mfa_reaches_subscribers() {
    let moto = Moto::start().await.unwrap();
    let inbox = inbox(&moto).await;
    let st = root_activity(
        &moto.sdk_config(),
        &inbox.topic_arn,
        &[("ACCOUNT_ALIAS", "prod-payments")],
    )
    .await;
    let out = invoke(&st, &fixture("signin-root-success-no-mfa.json"))
        .await
        .unwrap();
    assert_eq!(out["delivery"][0]["status"], "sent");

    let a = &receive_one(&inbox, "root sign-in").await;
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
    let inbox = inbox(&moto).await;
    let st = root_activity(
        &moto.sdk_config(),
        &inbox.topic_arn,
        &[("KNOWN_SOURCE_CIDRS", "203.0.113.0/24")],
    )
    .await;
    invoke(&st, &fixture("root-create-access-key.json"))
        .await
        .unwrap();
    let a = &receive_one(&inbox, "root access key").await;
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
    let inbox = inbox(&moto).await;
    let st = root_activity(
        &moto.sdk_config(),
        &inbox.topic_arn,
        &[("MIN_SEVERITY", "high")],
    )
    .await;
    let out = invoke(&st, &fixture("root-invoked-by-service.json"))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("invokedBy"));
    let out = invoke(&st, &fixture("service-event-no-identity-type.json"))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("AwsServiceEvent"));
    let out = invoke(&st, &fixture("signin-root-failure.json"))
        .await
        .unwrap();
    assert_eq!(out["delivery"][0]["status"], "below_threshold");
    assert!(inbox.drain().await.unwrap().is_empty());
    // A high one still goes through the same function.
    invoke(&st, &fixture("signin-root-success-mfa.json"))
        .await
        .unwrap();
    let a = receive_one(&inbox, "root sign-in with MFA").await;
    assert_eq!(a.attributes["severity"], "high");
}

#[tokio::test]
async fn a_failed_publish_fails_the_invocation_so_lambda_retries() {
    let moto = Moto::start().await.unwrap();
    let st = root_activity(
        &moto.sdk_config(),
        "arn:aws:sns:us-east-1:123456789012:no-such-topic",
        &[],
    )
    .await;
    let e = invoke(&st, &fixture("signin-root-success-no-mfa.json"))
        .await
        .unwrap_err();
    let msg = e;
    assert!(msg.contains("root-activity"), "{msg}");
    assert!(msg.contains("no-such-topic"), "{msg}");
}

#[tokio::test]
async fn dry_run_plan_and_live_steps_are_the_same_list_and_both_alert() {
    let moto = Moto::start().await.unwrap();
    let inbox = inbox(&moto).await;
    let topic = inbox.topic_arn.clone();
    for f in [
        "signin-root-success-no-mfa.json",
        "root-create-access-key.json",
        "root-centralized-delete-login-profile.json",
        "root-assume-root-by-management-account.json",
    ] {
        let dry = root_activity(&moto.sdk_config(), &topic, &[("DRY_RUN", "true")]).await;
        let live = root_activity(&moto.sdk_config(), &topic, &[]).await;
        let planned = invoke(&dry, &fixture(f)).await.unwrap();
        let done = invoke(&live, &fixture(f)).await.unwrap();
        assert_eq!(planned["dry_run"], true, "{f}");
        assert_eq!(done["dry_run"], false, "{f}");
        assert_eq!(step_targets(&planned), step_targets(&done), "{f}");
        // root-activity changes nothing: both lists are empty, the response is the alert.
        assert!(step_targets(&done).is_empty(), "{f}: {done:#}");
        assert_eq!(planned["delivery"][0]["status"], "sent", "{f}");
        assert_eq!(done["delivery"][0]["status"], "sent", "{f}");
        let got = inbox.receive(2, Duration::from_secs(20)).await.unwrap();
        assert_eq!(got.len(), 2, "{f}: one alert from each run");
        assert_eq!(dry_run_marks(&got), [false, true], "{f}");
        assert_eq!(
            got[0].attributes["detection"],
            got[1].attributes["detection"]
        );
    }
}

#[tokio::test]
async fn centralized_root_sessions_and_assume_root_reach_subscribers_as_such() {
    let moto = Moto::start().await.unwrap();
    let inbox = inbox(&moto).await;
    let st = root_activity(&moto.sdk_config(), &inbox.topic_arn, &[]).await;

    // The member account's record of the task session.
    let out = invoke(&st, &fixture("root-centralized-delete-login-profile.json"))
        .await
        .unwrap();
    assert_eq!(out["delivery"][0]["status"], "sent");
    let a = &receive_one(&inbox, "centralized root task session").await;
    assert_eq!(a.attributes["severity"], "high");
    assert_eq!(a.attributes["detection"], "root-centralized-task");
    assert_eq!(a.attributes["account"], "123456789012");
    assert_eq!(
        a.subject,
        "[HIGH] Centralized root task session: DeleteLoginProfile (iam) (123456789012)"
    );
    assert_eq!(a.body["event"]["event_name"], "DeleteLoginProfile");
    assert!(a.body["facts"]["Root session"]
        .as_str()
        .unwrap()
        .contains("sts:AssumeRoot"));
    assert!(a.body["facts"]["Task policy"]
        .as_str()
        .unwrap()
        .contains("IAMDeleteRootUserCredentials"));
    let summary = a.body["summary"].as_str().unwrap();
    assert!(summary.contains("no root password to reset"), "{summary}");
    assert!(
        !summary.contains("secure the root user (password, MFA)"),
        "{summary}"
    );

    // A credential-weakening call of such a session stays critical.
    let mut v = fixture("root-centralized-delete-login-profile.json");
    v["detail"]["eventName"] = serde_json::json!("CreateLoginProfile");
    invoke(&st, &v).await.unwrap();
    let a = receive_one(&inbox, "CreateLoginProfile in a root session").await;
    assert_eq!(a.attributes["severity"], "critical");
    assert_eq!(a.attributes["detection"], "root-credential-change");

    // The management account's record of the AssumeRoot call.
    let out = invoke(&st, &fixture("root-assume-root-by-management-account.json"))
        .await
        .unwrap();
    assert_eq!(out["delivery"][0]["status"], "sent");
    let a = &receive_one(&inbox, "AssumeRoot").await;
    assert_eq!(a.attributes["severity"], "high");
    assert_eq!(a.attributes["detection"], "root-assume-root");
    assert_eq!(a.attributes["account"], "111122223333");
    assert_eq!(
        a.subject,
        "[HIGH] Centralized root access to 123456789012: IAMDeleteRootUserCredentials (111122223333)"
    );
    assert_eq!(a.body["facts"]["Member account"], "123456789012");
    assert_eq!(
        a.body["facts"]["Task policy"],
        "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials"
    );
    assert!(a.body["facts"]["Called by"]
        .as_str()
        .unwrap()
        .ends_with("/jordan.lee@example.com"));
    assert_eq!(
        a.body["evidence"]["responseElements"]["credentials"]["sessionToken"],
        "[redacted]"
    );
    assert!(inbox.drain().await.unwrap().is_empty());
}
