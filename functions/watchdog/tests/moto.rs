//! Against moto: a trail and its bucket in a real (emulated) CloudTrail and S3. A stopped
//! trail raises one critical alert (read back from an SQS queue subscribed to the topic) and
//! is not alerted again at the next check; a healthy trail raises nothing; a digest that stops
//! arriving is alerted when it is two hours late.

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::Value;
use std::time::Duration as StdDuration;
use trailwarden_testkit::harness::logging_trail;
use trailwarden_testkit::{fixture, invoke, service, AlertInbox, Moto};
use watchdog::Watchdog;

const BUCKET: &str = "trailwarden-trail-123456789012";
const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:123456789012:trail/trailwarden-trail";

/// The schedule's event for a tick at `at`.
fn tick(at: DateTime<Utc>) -> Value {
    let mut v = fixture("scheduled-event-watchdog.json");
    v["time"] = Value::String(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    v
}

/// The next tick after `t`: whole minutes, as EventBridge schedules them.
fn next_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap() + Duration::minutes(1)
}

/// The set-up of the tests of a trail that exists: the logging trail, a digest of it just
/// delivered, and the alert inbox.
async fn delivering_trail(
    moto: &Moto,
) -> (
    aws_config::SdkConfig,
    AlertInbox,
    aws_sdk_cloudtrail::Client,
) {
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "watchdog-alerts").await.unwrap();
    let (ct, s3) = logging_trail(&cfg, BUCKET, TRAIL, false).await;
    deliver_digest(&s3).await;
    (cfg, inbox, ct)
}

/// A digest of the trail delivered now (its content does not matter here).
async fn deliver_digest(s3: &aws_sdk_s3::Client) {
    let now = Utc::now();
    let key = format!(
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/{}/123456789012_CloudTrail-Digest_us-east-1_trailwarden-trail_us-east-1_{}.json.gz",
        now.format("%Y/%m/%d"),
        now.format("%Y%m%dT%H%M%SZ")
    );
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_static(b"\x1f\x8b"))
        .send()
        .await
        .unwrap();
}

async fn watchdog(
    cfg: &aws_config::SdkConfig,
    topic: &str,
) -> trailwarden::lambda::Service<Watchdog> {
    service::<Watchdog>(cfg, &[("ALERT_TOPIC_ARN", topic), ("TRAIL_ARNS", TRAIL)])
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stopped_trail_is_alerted_once_critical() {
    let moto = Moto::start().await.unwrap();
    let (cfg, inbox, ct) = delivering_trail(&moto).await;
    ct.stop_logging().name(TRAIL).send().await.unwrap();
    let st = watchdog(&cfg, &inbox.topic_arn).await;

    let first = next_minute(Utc::now());
    let out = invoke(&st, &tick(first)).await.unwrap();
    assert_eq!(out["stats"]["conditions_new"], 1, "{out:#}");
    let got = inbox.receive(1, StdDuration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1);
    let a = &got[0];
    assert_eq!(a.attributes["severity"], "critical");
    assert_eq!(a.attributes["detection"], "watchdog-logging-off");
    assert_eq!(
        a.body["title"],
        "CloudTrail logging is off: trailwarden-trail"
    );
    assert_eq!(a.body["facts"]["Logging"], "OFF");
    assert_eq!(a.body["facts"]["Trail"], TRAIL);
    assert!(a.body["summary"]
        .as_str()
        .unwrap()
        .contains("GetTrailStatus answers IsLogging: false"));

    // The next check sees the same condition: nothing is sent again.
    let out = invoke(&st, &tick(first + Duration::minutes(5)))
        .await
        .unwrap();
    assert_eq!(out["stats"]["conditions_new"], 0, "{out:#}");
    assert_eq!(out["stats"]["conditions_ongoing"], 1, "{out:#}");
    assert!(inbox.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_healthy_trail_sends_nothing() {
    let moto = Moto::start().await.unwrap();
    let (cfg, inbox, _ct) = delivering_trail(&moto).await;
    let st = watchdog(&cfg, &inbox.topic_arn).await;
    let out = invoke(&st, &tick(next_minute(Utc::now()))).await.unwrap();
    assert_eq!(out["stats"]["trails_checked"], 1, "{out:#}");
    assert_eq!(out["stats"]["trails_healthy"], 1, "{out:#}");
    assert_eq!(out["alerts"], serde_json::json!([]));
    assert_eq!(out["steps"][0]["status"], "done");
    assert!(inbox.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_digest_two_hours_late_is_alerted_when_it_becomes_late() {
    let moto = Moto::start().await.unwrap();
    let (cfg, inbox, _ct) = delivering_trail(&moto).await;
    let st = watchdog(&cfg, &inbox.topic_arn).await;
    // The tick two hours and a minute after the last digest (moto cannot age objects, so the
    // clock of the tick moves instead).
    let late = next_minute(Utc::now() + Duration::hours(2));
    let out = invoke(&st, &tick(late)).await.unwrap();
    let got = inbox.receive(1, StdDuration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1, "{out:#}");
    assert_eq!(got[0].attributes["detection"], "watchdog-digests-stale");
    assert_eq!(got[0].attributes["severity"], "critical");
    assert!(got[0].body["summary"]
        .as_str()
        .unwrap()
        .contains("us-east-1 (last digest"));
}

#[tokio::test]
async fn a_trail_that_is_gone_is_critical_at_the_first_check_of_the_hour() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "watchdog-alerts").await.unwrap();
    let st = watchdog(&cfg, &inbox.topic_arn).await;
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let out = invoke(&st, &tick(hour)).await.unwrap();
    assert_eq!(out["stats"]["conditions_new"], 1, "{out:#}");
    let got = inbox.receive(1, StdDuration::from_secs(20)).await.unwrap();
    assert_eq!(got[0].attributes["detection"], "watchdog-trail-missing");
    assert_eq!(got[0].attributes["severity"], "critical");
    let out = invoke(&st, &tick(hour + Duration::minutes(5)))
        .await
        .unwrap();
    assert_eq!(out["stats"]["conditions_new"], 0, "{out:#}");
    assert!(inbox.drain().await.unwrap().is_empty());
}
