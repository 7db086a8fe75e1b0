//! The AWS destinations against moto, read back as a subscriber or a Security Hub user
//! would: the alert topic (e-mail), the Chatbot topic, and Security Hub findings
//! (BatchImportFindings, read back with GetFindings: one finding per incident, its id stable
//! across deliveries, its workflow NEW until the response finished).

mod support;

use serde_json::Value;
use std::time::Duration;
use support::*;
use trailwarden::respond::{Delivery, RouteStatus};
use trailwarden::Severity;
use trailwarden_testkit::harness::on_large_stack;
use trailwarden_testkit::{AlertInbox, Moto};

fn sent(r: &trailwarden::respond::Routed, name: &str) -> String {
    let d = r
        .destinations
        .iter()
        .find(|d| d.destination == name)
        .unwrap_or_else(|| panic!("no record for {name}: {:?}", r.destinations));
    match &d.status {
        RouteStatus::Sent { answer, .. } => answer.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn email_and_chat_topics_get_their_own_formats() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let email = AlertInbox::create(&sdk, "alerts").await.unwrap();
    let chat = AlertInbox::create(&sdk, "chat").await.unwrap();
    let doc = format!(
        r#"[{{"type": "sns"}}, {{"type": "chatbot", "topic_arn": "{}"}}]"#,
        chat.topic_arn
    );
    let r = router(&sdk, &doc, Some(&email.topic_arn));
    let alert = user_alert(true);
    let routed = r.deliver(&alert).await;
    assert!(matches!(routed.topic, Delivery::Sent { .. }), "{routed:?}");
    assert!(sent(&routed, "chat").starts_with("message "));

    let got = email.receive(1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].subject,
        "[HIGH] Unapproved IAM user mallory removed (123456789012)"
    );
    assert_eq!(got[0].body["schema"], "trailwarden.alert/v1");
    assert_eq!(got[0].attributes["severity"], "high");

    let got = chat.receive(1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(got.len(), 1);
    let n = &got[0].body;
    assert_eq!(n["version"], "1.0");
    assert_eq!(n["source"], "custom");
    assert_eq!(n["content"]["textType"], "client-markdown");
    assert!(n["content"]["title"]
        .as_str()
        .unwrap()
        .contains("Unapproved IAM user mallory removed"));
    assert_eq!(n["metadata"]["eventType"], "iam-unapproved-user");
    assert_eq!(
        n["metadata"]["relatedResources"][0],
        "arn:aws:iam::123456789012:user/mallory"
    );
}

#[tokio::test]
async fn routing_keeps_low_alerts_out_of_email_but_not_out_of_security_hub() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let email = AlertInbox::create(&sdk, "alerts").await.unwrap();
    let r = router(
        &sdk,
        r#"[{"type": "sns"}, {"type": "securityhub"}]"#,
        Some(&email.topic_arn),
    );
    let mut alert = user_alert(true);
    alert.severity = Severity::Low;
    let routed = r.deliver(&alert).await;
    assert_eq!(
        routed.topic,
        Delivery::BelowThreshold {
            severity: Severity::Low
        }
    );
    match &routed.destinations[0].status {
        RouteStatus::Skipped { reason } => {
            assert!(reason.contains("minimum severity (high)"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(sent(&routed, "securityhub").starts_with("imported finding"));
    assert!(email.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_alert_topic_fails_the_run_but_not_the_other_destinations() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let chat = AlertInbox::create(&sdk, "chat").await.unwrap();
    let doc = format!(
        r#"[{{"type": "sns"}}, {{"type": "chatbot", "topic_arn": "{}"}}, {{"type": "securityhub"}}]"#,
        chat.topic_arn
    );
    // The alert topic does not exist: SNS refuses the publish.
    let r = router(
        &sdk,
        &doc,
        Some("arn:aws:sns:us-east-1:123456789012:deleted-topic"),
    );
    let routed = r.deliver(&user_alert(true)).await;
    match &routed.topic {
        Delivery::Failed { error } => assert!(error.contains("deleted-topic"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert!(routed.destinations[0].failed());
    sent(&routed, "chat");
    sent(&routed, "securityhub");
    assert_eq!(
        chat.receive(1, Duration::from_secs(10))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Every finding, as GetFindings gives it. On a thread with a large stack: the SDK's
/// deserializer of `ResourceDetails` (hundreds of resource types) needs more stack than a
/// test thread has in a debug build.
async fn findings(
    sdk: &aws_config::SdkConfig,
) -> Vec<aws_sdk_securityhub::types::AwsSecurityFinding> {
    let sdk = sdk.clone();
    on_large_stack(move || async move {
        aws_sdk_securityhub::Client::new(&sdk)
            .get_findings()
            .send()
            .await
            .expect("GetFindings")
            .findings()
            .to_vec()
    })
    .await
}

#[tokio::test]
async fn security_hub_keeps_one_finding_per_incident_and_resolves_it() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let r = router(
        &sdk,
        r#"[{"type": "securityhub", "product_arn": "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"}]"#,
        None,
    );
    // First delivery: a dry run, nothing done yet.
    let first = r.deliver(&user_alert(false)).await;
    let answer = sent(&first, "securityhub");
    let f = findings(&sdk).await;
    assert_eq!(f.len(), 1, "{answer}");
    let id = f[0].id().unwrap().to_string();
    assert!(id.starts_with("trailwarden/iam-unapproved-user/"), "{id}");
    assert!(answer.contains(&id), "{answer}");
    assert_eq!(
        f[0].workflow().and_then(|w| w.status()).map(|s| s.as_str()),
        Some("NEW")
    );
    assert_eq!(
        f[0].product_arn(),
        Some("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default")
    );
    assert_eq!(f[0].generator_id(), Some("iam-unapproved-user"));
    assert_eq!(f[0].aws_account_id(), Some("123456789012"));
    assert_eq!(
        f[0].severity().and_then(|s| s.label()).map(|l| l.as_str()),
        Some("HIGH")
    );
    assert!(
        f[0].types()
            .iter()
            .any(|t| t == "TTPs/Persistence/T1136.003"),
        "{:?}",
        f[0].types()
    );
    let res = f[0].resources();
    assert_eq!(res[0].r#type(), Some("AwsIamUser"));
    assert_eq!(res[0].id(), Some("arn:aws:iam::123456789012:user/mallory"));
    assert_eq!(
        res[0]
            .details()
            .and_then(|d| d.aws_iam_user())
            .and_then(|u| u.user_id()),
        Some("AIDA4EXAMPLEMALLORY1")
    );
    let fields = f[0].product_fields().unwrap();
    assert_eq!(
        fields["trailwarden/event_id"],
        "3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f"
    );
    assert_eq!(fields["trailwarden/dry_run"], "true");

    // Second delivery of the same incident (the live run, or Lambda's retry): same finding,
    // now resolved. (moto takes the workflow from the import itself; real Security Hub keeps
    // it and is moved by BatchUpdateFindings, which moto lacks: the last test shows that
    // call.)
    let second = r.deliver(&user_alert(true)).await;
    let answer = sent(&second, "securityhub");
    let f = findings(&sdk).await;
    assert_eq!(f.len(), 1, "a second finding was created: {answer}");
    assert_eq!(f[0].id(), Some(id.as_str()));
    assert_eq!(
        f[0].workflow().and_then(|w| w.status()).map(|s| s.as_str()),
        Some("RESOLVED")
    );
    assert_eq!(
        f[0].product_fields().unwrap()["trailwarden/dry_run"],
        "false"
    );
    assert!(answer.contains("RESOLVED"), "{answer}");

    // Another incident is another finding.
    let mut other = user_alert(true);
    other.event.as_mut().unwrap().event_id = Some("0c2d6a1e-5b7f-4e3a-9d81-2f4e6a8b0c1d".into());
    sent(&r.deliver(&other).await, "securityhub");
    assert_eq!(findings(&sdk).await.len(), 2);
}

#[tokio::test]
async fn cis_findings_carry_compliance_and_the_cis_type() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let r = router(
        &sdk,
        r#"[{"type": "securityhub"}]"#,
        Some("arn:aws:sns:us-east-1:123456789012:alerts"),
    );
    let mut a = user_alert(true);
    a.detection = "cis-4.3-root-usage".into();
    a.actions.clear();
    a.facts.clear();
    a.title = "Root user activity: 1 event".into();
    sent(&r.deliver(&a).await, "securityhub");
    let f = findings(&sdk).await;
    let c = f[0].compliance().expect("compliance");
    assert_eq!(c.status().map(|s| s.as_str()), Some("FAILED"));
    assert_eq!(
        c.related_requirements(),
        ["CIS AWS Foundations Benchmark v1.4.0/4.3".to_string()]
    );
    assert!(f[0].types().iter().any(|t| t
        == "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"));
    // Alert only: nothing was done, so the finding waits for a person.
    assert_eq!(
        f[0].workflow().and_then(|w| w.status()).map(|s| s.as_str()),
        Some("NEW")
    );
    let v: Value = serde_json::to_value(
        f[0].remediation()
            .and_then(|r| r.recommendation())
            .and_then(|r| r.text()),
    )
    .unwrap();
    assert!(v.as_str().is_some_and(|t| !t.is_empty()), "runbook: {v}");
}

/// Real Security Hub keeps a finding's workflow once created (BatchImportFindings no longer
/// sets it; moto does). So a resolved response is also sent as BatchUpdateFindings. moto
/// does not implement that call: a local endpoint stands in for Security Hub here, and the
/// test reads what it received.
#[tokio::test]
async fn resolving_moves_an_existing_findings_workflow_with_batch_update_findings() {
    use aws_sdk_securityhub::config::{Credentials, SharedCredentialsProvider};
    use trailwarden_testkit::http::HttpStub;
    let hub = HttpStub::start(vec![
        (
            200,
            r#"{"FailedCount":0,"SuccessCount":1,"FailedFindings":[]}"#,
        ),
        (200, r#"{"ProcessedFindings":[],"UnprocessedFindings":[]}"#),
        (
            200,
            r#"{"FailedCount":0,"SuccessCount":1,"FailedFindings":[]}"#,
        ),
    ])
    .await;
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(hub.url(""))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .build();
    let r = router(
        &sdk,
        r#"[{"type": "securityhub", "product_arn": "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"}]"#,
        None,
    );
    let done = r.deliver(&user_alert(true)).await;
    assert!(sent(&done, "securityhub").ends_with("workflow RESOLVED"));
    let got = hub.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].method.as_str(), got[0].path.as_str()),
        ("POST", "/findings/import")
    );
    let imported = got[0].json();
    let id = imported["Findings"][0]["Id"].as_str().unwrap().to_string();
    assert_eq!(imported["Findings"][0]["Workflow"]["Status"], "RESOLVED");
    assert_eq!(
        (got[1].method.as_str(), got[1].path.as_str()),
        ("PATCH", "/findings/batchupdate")
    );
    let update = got[1].json();
    assert_eq!(update["FindingIdentifiers"][0]["Id"], id.as_str());
    assert_eq!(
        update["FindingIdentifiers"][0]["ProductArn"],
        "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    );
    assert_eq!(update["Workflow"]["Status"], "RESOLVED");
    // A response not finished is imported NEW and nothing is moved.
    r.deliver(&user_alert(false)).await;
    let got = hub.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].json()["Findings"][0]["Workflow"]["Status"], "NEW");
    assert_eq!(got[2].json()["Findings"][0]["Id"], id.as_str());
}
