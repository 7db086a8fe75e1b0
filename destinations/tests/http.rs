//! PagerDuty and webhooks against a local HTTP server on 127.0.0.1, with their secrets in
//! Secrets Manager (moto): the body, the signature and the dedup key as a receiver sees them;
//! a 500 then a 202 is retried; a destination that keeps failing is reported after its
//! bounded attempts while the others are delivered; the secrets appear nowhere but where
//! they belong.

mod support;

use support::*;
use trailwarden::respond::{Delivery, RouteStatus, Routed};
use trailwarden::Severity;
use trailwarden_destinations::{identity, webhook, Router};
use trailwarden_testkit::harness::create_secret;
use trailwarden_testkit::http::HttpStub;
use trailwarden_testkit::Moto;

const ROUTING_KEY: &str = "R0ENKGQ4QRQ2FUVHPFBV4P7ZPQJD6A";
const SIGNING_SECRET: &str = "whsec_5f0c8b2e9a7d41f3b6c2d8e4a1f9b7c3";

/// The PagerDuty and the webhook secret, created in Secrets Manager: their ARNs.
async fn secrets(sdk: &aws_config::SdkConfig) -> (String, String) {
    let routing = format!(r#"{{"routing_key": "{ROUTING_KEY}"}}"#);
    let pd = create_secret(sdk, "trailwarden/pagerduty", &routing).await;
    let hook = create_secret(sdk, "trailwarden/webhook", SIGNING_SECRET).await;
    (pd, hook)
}

/// A reset moto holding the two secrets: the server, its SDK configuration, and the ARNs of
/// the PagerDuty and the webhook secret.
async fn moto_with_secrets() -> (Moto, aws_config::SdkConfig, String, String) {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let (pd_secret, hook_secret) = secrets(&sdk).await;
    (moto, sdk, pd_secret, hook_secret)
}

fn status<'a>(r: &'a Routed, name: &str) -> &'a RouteStatus {
    &r.destinations
        .iter()
        .find(|d| d.destination == name)
        .unwrap_or_else(|| panic!("no record for {name}"))
        .status
}

fn doc(pd_url: &str, pd_secret: &str, hook_url: &str, hook_secret: &str) -> String {
    format!(
        r#"[{{"type": "pagerduty", "min_severity": "high", "secret": "{pd_secret}", "events_url": "{pd_url}"}},
            {{"type": "webhook", "url": "{hook_url}", "secret": "{hook_secret}"}}]"#
    )
}

/// A router to PagerDuty at the stub `pd` and to a webhook at the stub `hook`.
fn stub_router(
    sdk: &aws_config::SdkConfig,
    pd: &HttpStub,
    pd_secret: &str,
    hook: &HttpStub,
    hook_secret: &str,
) -> Router {
    router(
        sdk,
        &doc(
            &pd.url("/v2/enqueue"),
            pd_secret,
            &hook.url("/hooks/trailwarden"),
            hook_secret,
        ),
        None,
    )
}

#[tokio::test]
async fn pagerduty_and_webhook_receive_signed_deduplicable_alerts() {
    let (_moto, sdk, pd_secret, hook_secret) = moto_with_secrets().await;
    let pd = HttpStub::start(vec![(
        202,
        r#"{"status":"success","message":"Event processed","dedup_key":"x"}"#,
    )])
    .await;
    let hook = HttpStub::start(vec![(200, "")]).await;
    // The webhook's secret by name, as the stack may give it.
    let r = stub_router(&sdk, &pd, &pd_secret, &hook, "trailwarden/webhook");
    let _ = hook_secret;
    let alert = user_alert(true);
    let routed = r.deliver(&alert).await;
    match status(&routed, "pagerduty") {
        RouteStatus::Sent { answer, attempts } => {
            assert_eq!(*attempts, 1);
            assert!(answer.starts_with("HTTP 202"), "{answer}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        status(&routed, "webhook"),
        RouteStatus::Sent { .. }
    ));
    assert_eq!(routed.topic, Delivery::NoTopic);

    // PagerDuty: Events API v2, the routing key from the secret, the incident's dedup key.
    let got = pd.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/v2/enqueue");
    let ev = got[0].json();
    assert_eq!(ev["routing_key"], ROUTING_KEY);
    assert_eq!(ev["event_action"], "trigger");
    assert_eq!(ev["dedup_key"], identity::fingerprint(&alert));
    assert_eq!(ev["payload"]["severity"], "error");
    assert_eq!(ev["payload"]["class"], "iam-unapproved-user");
    assert_eq!(ev["payload"]["timestamp"], "2024-08-01T13:33:28Z");
    assert!(ev["payload"]["summary"]
        .as_str()
        .unwrap()
        .contains("mallory"));
    assert_eq!(ev["payload"]["custom_details"]["User"], "mallory");

    // The webhook: the alert's JSON, signed over "<timestamp>.<body>".
    let got = hook.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.header("content-type"), Some("application/json"));
    let ts: i64 = req
        .header(webhook::TIMESTAMP_HEADER)
        .unwrap()
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    let sig = req.header(webhook::SIGNATURE_HEADER).unwrap();
    assert!(webhook::verify(
        SIGNING_SECRET.as_bytes(),
        ts,
        &req.body,
        sig
    ));
    assert!(!webhook::verify(b"another secret", ts, &req.body, sig));
    assert_eq!(
        req.header(webhook::DELIVERY_HEADER),
        Some(identity::fingerprint(&alert).as_str())
    );
    let body = req.json();
    assert_eq!(body["schema"], "trailwarden.alert/v1");
    assert_eq!(body["detection"], "iam-unapproved-user");
    assert_eq!(body["fingerprint"], identity::fingerprint(&alert));
    assert_eq!(body["actions"][2]["status"], "done");

    // The secrets are nowhere in what is reported.
    let record = format!("{routed:?}");
    assert!(!record.contains(ROUTING_KEY) && !record.contains(SIGNING_SECRET));

    // A second delivery of the same incident (Lambda's retry) carries the same keys.
    let again = r.deliver(&alert).await;
    assert!(matches!(
        status(&again, "pagerduty"),
        RouteStatus::Sent { .. }
    ));
    assert_eq!(pd.received()[1].json()["dedup_key"], ev["dedup_key"]);
    assert_eq!(
        hook.received()[1].header(webhook::DELIVERY_HEADER),
        req.header(webhook::DELIVERY_HEADER)
    );
}

#[tokio::test]
async fn a_500_then_a_202_is_retried_and_a_dead_endpoint_does_not_stop_the_others() {
    let (_moto, sdk, pd_secret, hook_secret) = moto_with_secrets().await;
    let pd = HttpStub::start(vec![
        (500, r#"{"status":"error"}"#),
        (202, r#"{"status":"success","message":"Event processed"}"#),
    ])
    .await;
    let hook = HttpStub::start(vec![(503, "down for maintenance")]).await;
    let r = stub_router(&sdk, &pd, &pd_secret, &hook, &hook_secret);
    let routed = r.deliver(&user_alert(true)).await;
    match status(&routed, "pagerduty") {
        RouteStatus::Sent { attempts, .. } => assert_eq!(*attempts, 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(pd.received().len(), 2);
    // Both attempts are the same event.
    assert_eq!(
        pd.received()[0].json()["dedup_key"],
        pd.received()[1].json()["dedup_key"]
    );
    match status(&routed, "webhook") {
        RouteStatus::Failed { error, attempts } => {
            assert_eq!(*attempts, 3);
            assert!(error.contains("HTTP 503"), "{error}");
            assert!(error.contains("down for maintenance"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hook.received().len(), 3);
    // Each attempt is signed afresh, and each signature verifies.
    for req in hook.received() {
        let ts: i64 = req
            .header(webhook::TIMESTAMP_HEADER)
            .unwrap()
            .parse()
            .unwrap();
        assert!(webhook::verify(
            SIGNING_SECRET.as_bytes(),
            ts,
            &req.body,
            req.header(webhook::SIGNATURE_HEADER).unwrap()
        ));
    }
}

#[tokio::test]
async fn refusals_are_final_and_nothing_listening_is_reported() {
    let (_moto, sdk, pd_secret, hook_secret) = moto_with_secrets().await;
    let pd = HttpStub::start(vec![(
        400,
        r#"{"status":"invalid event","message":"Event object is invalid","errors":["'routing_key' is invalid"]}"#,
    )])
    .await;
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = router(
        &sdk,
        &doc(
            &pd.url("/v2/enqueue"),
            &pd_secret,
            &format!("http://127.0.0.1:{closed}/hook"),
            &hook_secret,
        ),
        None,
    );
    let routed = r.deliver(&user_alert(true)).await;
    match status(&routed, "pagerduty") {
        RouteStatus::Failed { error, attempts } => {
            assert_eq!(*attempts, 1, "a 400 is not retried");
            assert!(
                error.contains("HTTP 400") && error.contains("invalid"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    match status(&routed, "webhook") {
        RouteStatus::Failed { error, attempts } => {
            assert_eq!(*attempts, 3);
            assert!(error.contains("attempt 1"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn routing_filters_decide_who_is_paged_and_a_missing_secret_is_reported() {
    let (_moto, sdk, pd_secret, _) = moto_with_secrets().await;
    let pd = HttpStub::start(vec![(202, "{}")]).await;
    let hook = HttpStub::start(vec![(200, "")]).await;
    let r = router(
        &sdk,
        &format!(
            r#"[{{"type": "pagerduty", "secret": "{pd_secret}", "events_url": "{}", "detections": ["root-*"]}},
                {{"type": "webhook", "url": "{}", "secret": "trailwarden/no-such-secret"}}]"#,
            pd.url("/v2/enqueue"),
            hook.url("/h")
        ),
        None,
    );
    let mut alert = user_alert(true);
    alert.severity = Severity::Critical;
    let routed = r.deliver(&alert).await;
    match status(&routed, "pagerduty") {
        RouteStatus::Skipped { reason } => assert!(reason.contains("root-*"), "{reason}"),
        other => panic!("{other:?}"),
    }
    match status(&routed, "webhook") {
        RouteStatus::Failed { error, .. } => {
            assert!(error.contains("trailwarden/no-such-secret"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert!(pd.received().is_empty() && hook.received().is_empty());
    alert.detection = "root-console-sign-in".into();
    let routed = r.deliver(&alert).await;
    assert!(matches!(
        status(&routed, "pagerduty"),
        RouteStatus::Sent { .. }
    ));
    assert_eq!(pd.received()[0].json()["payload"]["severity"], "critical");
}
