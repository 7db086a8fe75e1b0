//! root-activity when SNS misbehaves (through the testkit's fault proxy in front of moto), and
//! its loop guard: its only side effect is the alert, so a throttled publish must be retried
//! and a lost one must fail the invocation; events of trailwarden's own roles, and AWS acting
//! on the account, never raise one.

mod support;

use std::time::Duration;
use support::{inbox, root_activity};
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{fixture, invoke, Moto};

#[tokio::test]
async fn a_throttled_publish_is_retried_and_the_alert_arrives_once() {
    let moto = Moto::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    let inbox = inbox(&moto).await;
    let st = root_activity(&proxy.sdk_config(), &inbox.topic_arn, &[]).await;
    proxy.add(Rule::first(2, "Publish", Fault::Throttle));
    proxy.add(Rule::first(1, "Publish", Fault::Status(500)));

    let out = invoke(&st, &fixture("signin-root-success-no-mfa.json"))
        .await
        .expect("the fourth attempt is published");
    assert_eq!(proxy.count("Publish"), 4);
    assert_eq!(out["delivery"][0]["status"], "sent");
    let got = inbox.receive(2, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 1, "exactly one alert reaches subscribers");
    assert_eq!(got[0].attributes["severity"], "critical");
    drop(moto);
}

#[tokio::test]
async fn a_publish_that_keeps_failing_fails_the_invocation() {
    let moto = Moto::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    let inbox = inbox(&moto).await;
    let st = root_activity(&proxy.sdk_config(), &inbox.topic_arn, &[]).await;
    proxy.add(Rule::always("Publish", Fault::Status(503)));
    let err = invoke(&st, &fixture("signin-root-success-no-mfa.json"))
        .await
        .unwrap_err();
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
    let inbox = inbox(&moto).await;
    let st = root_activity(
        &moto.sdk_config(),
        &inbox.topic_arn,
        &[(
            "OWN_ROLE_ARNS",
            "arn:aws:iam::123456789012:role/trailwarden-*,arn:aws:iam::123456789012:role/DevOpsAdmin",
        )],
    )
    .await;
    // trailwarden's own calls (its roles are never root) and AWS acting on the account.
    for f in [
        "ec2-revoke-ingress-by-trailwarden.json",
        "iam-create-user-by-assumed-role.json",
        "root-invoked-by-service.json",
        "service-event-no-identity-type.json",
    ] {
        let out = invoke(&st, &fixture(f)).await.unwrap();
        assert!(out["ignored"].is_string(), "{f}: {out:#}");
    }
    assert!(inbox.drain().await.unwrap().is_empty());
    drop(moto);
}
