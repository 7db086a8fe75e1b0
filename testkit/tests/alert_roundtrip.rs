//! The alert path end to end against moto: a rendered alert goes out through the real SNS
//! client and comes back from a subscribed SQS queue with its subject, body and attributes.

use std::time::Duration;
use trailwarden::alert::{Action, Alert, Severity, Status};
use trailwarden::aws::{AlertPublisher, Published};
use trailwarden_testkit::{AlertInbox, Moto};

#[tokio::test]
async fn published_alert_arrives_with_subject_body_and_attributes() -> anyhow::Result<()> {
    let moto = Moto::start().await?;
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "alerts").await?;
    let publisher = AlertPublisher::new(&cfg, Some(inbox.topic_arn.clone()), Severity::Low);

    let mut alert = Alert::new(
        Severity::Critical,
        "root-console-sign-in",
        "Root console sign-in without MFA",
    );
    alert.account = Some("123456789012".into());
    alert.account_alias = Some("prod".into());
    alert.region = Some("us-east-1".into());
    alert
        .actions
        .push(Action::new("Notify", "security team", Status::Done));
    let sent = publisher.publish(&alert).await?;
    assert!(
        matches!(sent, Published::Sent(ref id) if !id.is_empty()),
        "{sent:?}"
    );

    // Below the minimum severity: logged, not published.
    let quiet = Alert::new(Severity::Info, "noise", "Nothing to see");
    assert_eq!(publisher.publish(&quiet).await?, Published::BelowThreshold);

    let got = inbox.receive(1, Duration::from_secs(10)).await?;
    assert_eq!(got.len(), 1, "exactly one alert expected, got {got:?}");
    let a = &got[0];
    assert_eq!(
        a.subject,
        "[CRITICAL] Root console sign-in without MFA (prod 123456789012)"
    );
    assert_eq!(a.body["severity"], "critical");
    assert_eq!(a.body["detection"], "root-console-sign-in");
    assert_eq!(a.body["actions"][0]["status"], "done");
    assert_eq!(
        a.attributes.get("severity").map(String::as_str),
        Some("critical")
    );
    assert_eq!(
        a.attributes.get("account").map(String::as_str),
        Some("123456789012")
    );
    assert_eq!(
        a.attributes.get("region").map(String::as_str),
        Some("us-east-1")
    );
    assert_eq!(
        a.attributes.get("detection").map(String::as_str),
        Some("root-console-sign-in")
    );
    assert!(
        inbox.drain().await?.is_empty(),
        "the info alert must not be published"
    );
    Ok(())
}

#[tokio::test]
async fn publishing_to_a_missing_topic_is_an_error_that_names_it() -> anyhow::Result<()> {
    let moto = Moto::start().await?;
    let cfg = moto.sdk_config();
    let topic = "arn:aws:sns:us-east-1:123456789012:does-not-exist";
    let publisher = AlertPublisher::new(&cfg, Some(topic.into()), Severity::Info);
    let err = publisher
        .publish(&Alert::new(Severity::High, "d", "t"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(topic), "{err}");
    Ok(())
}
