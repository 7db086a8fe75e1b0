//! log-delivery against moto: a CloudTrail log file in an S3 bucket, an Object Created event,
//! and the alerts read back from an SQS queue subscribed to the alert topic. The function is
//! built and invoked as Lambda builds and invokes it (`trailwarden_testkit::{service, invoke}`).

use log_delivery::{LogDelivery, UNREADABLE_DETECTION};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use trailwarden::lambda::Service;
use trailwarden_testkit::harness::{events_dir, put_object, steps};
use trailwarden_testkit::{
    dry_run_marks, fixture, invoke, service, AlertInbox, Moto, ReceivedAlert,
};

const LOG_FILE: &str =
    "logs/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";

/// Where the classic (S3 notification) fixture's log file lives: a key with a space.
const CLASSIC_KEY: &str = "cloudtrail logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";

fn log_file() -> Vec<u8> {
    std::fs::read(events_dir().join(LOG_FILE)).unwrap()
}

/// Bucket and (decoded) key an EventBridge Object Created fixture names.
fn target(event: &Value) -> (String, String) {
    (
        event["detail"]["bucket"]["name"]
            .as_str()
            .unwrap()
            .to_string(),
        event["detail"]["object"]["key"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// [`put_object`], creating the bucket first when it does not exist yet.
async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    let _ = s3.create_bucket().bucket(bucket).send().await;
    put_object(s3, bucket, key, body).await;
}

async fn state(moto: &Moto, vars: &[(&str, &str)]) -> Service<LogDelivery> {
    service::<LogDelivery>(&moto.sdk_config(), vars)
        .await
        .unwrap()
}

/// A reset moto with an alert inbox named `queue` and an S3 client.
struct Setup {
    moto: Moto,
    cfg: aws_config::SdkConfig,
    inbox: AlertInbox,
    s3: aws_sdk_s3::Client,
}

async fn setup(queue: &str) -> Setup {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, queue).await.unwrap();
    let s3 = trailwarden::aws::s3_client(&cfg);
    Setup {
        moto,
        cfg,
        inbox,
        s3,
    }
}

/// The Object Created fixture for the sample log file, with `body` stored where it points;
/// returns the event, its bucket and its key.
async fn delivered(s3: &aws_sdk_s3::Client, body: Vec<u8>) -> (Value, String, String) {
    let event = fixture("s3-object-created-log-file.json");
    let (bucket, key) = target(&event);
    put(s3, &bucket, &key, body).await;
    (event, bucket, key)
}

/// The cold-start error (with its causes) when `CUSTOM_DETECTIONS_URI` is `uri`.
async fn cold_start_error(cfg: &aws_config::SdkConfig, uri: &str, why: &str) -> String {
    let e = service::<LogDelivery>(cfg, &[("CUSTOM_DETECTIONS_URI", uri)])
        .await
        .err()
        .expect(why);
    format!("{e:#}")
}

fn by_detection(alerts: &[ReceivedAlert]) -> BTreeMap<String, &ReceivedAlert> {
    alerts
        .iter()
        .map(|a| (a.body["detection"].as_str().unwrap().to_string(), a))
        .collect()
}

#[tokio::test]
async fn a_delivered_log_file_becomes_one_alert_per_detection() {
    let Setup {
        moto, inbox, s3, ..
    } = setup("log-delivery-alerts").await;
    let (event, bucket, key) = delivered(&s3, log_file()).await;

    let st = state(
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &inbox.topic_arn),
            ("ACCOUNT_ALIAS", "prod-payments"),
        ],
    )
    .await;
    let out = invoke(&st, &event).await.unwrap();
    assert_eq!(out["stats"]["objects"][0]["records"], 22, "{out}");
    assert_eq!(out["stats"]["objects"][0]["action"], "scanned");

    let alerts = inbox.receive(11, Duration::from_secs(20)).await.unwrap();
    let got = by_detection(&alerts);
    assert_eq!(alerts.len(), 11, "{:?}", got.keys().collect::<Vec<_>>());
    assert_eq!(got.len(), 11, "one alert per detection");

    let root = got["cis-4.3-root-usage"];
    assert_eq!(
        root.subject,
        "[MEDIUM] Root user activity: 2 events (prod-payments 123456789012)"
    );
    assert_eq!(root.attributes["severity"], "medium");
    assert_eq!(root.attributes["detection"], "cis-4.3-root-usage");
    assert_eq!(
        root.body["facts"]["Principals"],
        "root user of 123456789012 (2)"
    );
    assert_eq!(
        root.body["facts"]["Log file"],
        format!("s3://{bucket}/{key}")
    );
    assert_eq!(root.body["event"]["event_name"], "ConsoleLogin");

    let burst = got["console-signin-failure-burst"];
    assert!(burst.body["facts"]["Groups over threshold"]
        .as_str()
        .unwrap()
        .starts_with("123456789012 | HIDDEN_DUE_TO_SECURITY_REASONS (peak 5"));
    let user = got["iam-user-created"];
    assert_eq!(user.body["event"]["event_name"], "CreateUser");
    assert!(user.body["facts"]["Principals"]
        .as_str()
        .unwrap()
        .contains("assumed-role/terraform/tf-plan-apply"));
    assert_eq!(
        got["cloudtrail-tampering"].attributes["severity"],
        "critical"
    );
    assert!(!got.contains_key("access-denied-burst"));
}

#[tokio::test]
async fn a_classic_notification_with_an_encoded_key_is_scanned_too() {
    let Setup {
        moto, inbox, s3, ..
    } = setup("log-delivery-classic").await;
    let event = fixture("s3-notification-log-file.json");
    let bucket = event["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .unwrap();
    let key = CLASSIC_KEY;
    put(&s3, bucket, key, log_file()).await;

    let st = state(
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &inbox.topic_arn),
            ("MIN_SEVERITY", "critical"),
        ],
    )
    .await;
    let out = invoke(&st, &event.clone()).await.unwrap();
    assert_eq!(out["stats"]["objects"][0]["key"], key);
    // Only the critical findings are published; the others are logged.
    let alerts = inbox.receive(2, Duration::from_secs(15)).await.unwrap();
    let got = by_detection(&alerts);
    assert_eq!(
        got.keys().map(String::as_str).collect::<Vec<_>>(),
        ["cloudtrail-tampering", "ec2-world-open-admin-port"]
    );
    for a in &alerts {
        assert_eq!(a.body["facts"]["Log file"], format!("s3://{bucket}/{key}"));
    }
    assert!(inbox.drain().await.unwrap().is_empty());
    let delivery = out["delivery"].as_array().unwrap();
    assert_eq!(delivery.len(), 11);
    assert_eq!(
        delivery.iter().filter(|d| d["status"] == "sent").count(),
        2,
        "{delivery:?}"
    );
}

#[tokio::test]
async fn digest_unrelated_and_vanished_objects_are_skipped_not_errors() {
    let Setup {
        moto, inbox, s3, ..
    } = setup("log-delivery-skips").await;
    let st = state(&moto, &[("ALERT_TOPIC_ARN", &inbox.topic_arn)]).await;
    for name in [
        "s3-object-created-digest-file.json",
        "s3-object-created-unrelated.json",
    ] {
        let out = invoke(&st, &fixture(name)).await.unwrap();
        assert!(out["ignored"].is_string(), "{name}: {out}");
    }
    // A log file deleted between the notification and the read.
    let event = fixture("s3-object-created-log-file.json");
    let (bucket, _) = target(&event);
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let out = invoke(&st, &event).await.unwrap();
    assert_eq!(out["stats"]["objects"][0]["action"], "skip");
    assert!(out["stats"]["objects"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("no longer exists"));
    assert!(inbox.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_truncated_log_file_is_reported_with_how_far_it_got() {
    let Setup {
        moto, inbox, s3, ..
    } = setup("log-delivery-truncated").await;
    let whole = log_file();
    let (event, bucket, key) = delivered(&s3, whole[..whole.len() / 2].to_vec()).await;

    let st = state(&moto, &[("ALERT_TOPIC_ARN", &inbox.topic_arn)]).await;
    let out = invoke(&st, &event).await.unwrap();
    let obj = &out["stats"]["objects"][0];
    assert_eq!(obj["action"], "scanned (incomplete)");
    assert!(obj["error"].as_str().unwrap().contains(&key), "{obj}");

    let alerts = inbox.receive(2, Duration::from_secs(15)).await.unwrap();
    let got = by_detection(&alerts);
    let bad = got[UNREADABLE_DETECTION];
    assert_eq!(bad.body["facts"]["Bucket"], bucket);
    assert_eq!(bad.body["facts"]["Key"], key);
    let how_far = bad.body["facts"]["Read before the problem"]
        .as_str()
        .unwrap();
    assert!(how_far.contains(" records and "), "{how_far}");
    // The root sign-ins at the start of the file were still read and reported.
    assert!(got.contains_key("cis-4.3-root-usage"), "{:?}", got.keys());
}

#[tokio::test]
async fn custom_detections_from_s3_add_and_disable_and_a_bad_one_fails_with_its_id() {
    let Setup {
        moto,
        cfg,
        inbox,
        s3,
    } = setup("log-delivery-custom").await;
    put(
        &s3,
        "trailwarden-config",
        "detections.json",
        br#"{"detections": [
            {"id": "media-bucket-read-by-lambda", "title": "Media bucket read by a Lambda role", "severity": "high",
             "description": "Photos are only read by the thumbnailer.",
             "pattern": {"eventSource": ["s3.amazonaws.com"], "eventName": ["GetObject"],
                         "requestParameters": {"bucketName": [{"prefix": "media-uploads-"}]}},
             "examples": {"match": [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                                     "requestParameters": {"bucketName": "media-uploads-1"}}]}},
            {"id": "cis-4.3-root-usage", "enabled": false}
        ]}"#
        .to_vec(),
    )
    .await;
    put(
        &s3,
        "trailwarden-config",
        "broken.json",
        br#"{"detections": [{"id": "half-written", "title": "x", "severity": "low", "pattern": {"eventName": "GetObject"}}]}"#.to_vec(),
    )
    .await;
    let (event, _, _) = delivered(&s3, log_file()).await;

    let st = state(
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &inbox.topic_arn),
            ("MIN_SEVERITY", "high"),
            (
                "CUSTOM_DETECTIONS_URI",
                "s3://trailwarden-config/detections.json",
            ),
        ],
    )
    .await;
    invoke(&st, &event.clone()).await.unwrap();
    // high and above: the custom detection, the burst, tampering and the world-open SSH rule
    // (root use is off; CIS 4.5 is low: compliance evidence, tampering carries the urgency).
    let alerts = inbox.receive(5, Duration::from_secs(15)).await.unwrap();
    let got = by_detection(&alerts);
    assert_eq!(
        got.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![
            "cloudtrail-tampering",
            "console-signin-failure-burst",
            "ec2-world-open-admin-port",
            "ec2-world-open-ingress",
            "media-bucket-read-by-lambda"
        ]
    );
    let custom = got["media-bucket-read-by-lambda"];
    assert!(custom.body["facts"]["Principals"]
        .as_str()
        .unwrap()
        .contains("lambda-thumbnailer"));

    // A malformed detection stops the cold start, naming the file, the detection and the
    // problem; a file that is not there does too.
    let e = cold_start_error(
        &cfg,
        "s3://trailwarden-config/broken.json",
        "a malformed detection stops the cold start",
    )
    .await;
    assert!(e.contains("CUSTOM_DETECTIONS_URI"), "{e}");
    assert!(e.contains("s3://trailwarden-config/broken.json"), "{e}");
    assert!(e.contains("detection \"half-written\""), "{e}");
    assert!(e.contains("at eventName: expected an array"), "{e}");
    let e = cold_start_error(
        &cfg,
        "s3://trailwarden-config/missing.json",
        "a missing detection file stops the cold start",
    )
    .await;
    assert!(
        e.contains("cannot read s3://trailwarden-config/missing.json"),
        "{e}"
    );
    assert!(e.contains("NoSuchKey"), "{e}");
}

/// The dry-run plan and the steps a live run executes are the same list: scanning changes
/// nothing, so a dry run reads and reports too, and its alerts say so.
#[tokio::test]
async fn dry_run_plan_and_live_steps_are_the_same_list_and_both_alert() {
    let Setup {
        moto: _moto,
        cfg,
        inbox,
        s3,
    } = setup("log-delivery-dry-run").await;
    let (event, _, _) = delivered(&s3, log_file()).await;
    // A second, mixed notification: a digest beside the log file.
    let mut mixed = fixture("s3-notification-log-file.json");
    let classic_bucket = mixed["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    put(&s3, &classic_bucket, CLASSIC_KEY, log_file()).await;
    let digest = fixture("s3-notification-digest-file.json")["Records"][0].clone();
    mixed["Records"].as_array_mut().unwrap().insert(0, digest);

    let topic = inbox.topic_arn.clone();
    let vars = |dry: &'static str| -> [(&'static str, String); 4] {
        [
            ("ALERT_TOPIC_ARN", topic.clone()),
            ("ACCOUNT_ALIAS", "prod-payments".into()),
            ("MIN_SEVERITY", "critical".into()),
            ("DRY_RUN", dry.into()),
        ]
    };
    let (dry_vars, live_vars) = (vars("true"), vars("false"));
    let dry_refs: Vec<(&str, &str)> = dry_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let live_refs: Vec<(&str, &str)> = live_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dry = service::<LogDelivery>(&cfg, &dry_refs).await.unwrap();
    let live = service::<LogDelivery>(&cfg, &live_refs).await.unwrap();
    for (i, ev) in [&event, &mixed].into_iter().enumerate() {
        let planned = invoke(&dry, ev).await.unwrap();
        let done = invoke(&live, ev).await.unwrap();
        assert_eq!(planned["dry_run"], true);
        assert_eq!(done["dry_run"], false);
        let (p, d) = (steps(&planned), steps(&done));
        assert!(!p.is_empty());
        assert_eq!(
            p.iter().map(|s| (&s.0, &s.1)).collect::<Vec<_>>(),
            d.iter().map(|s| (&s.0, &s.1)).collect::<Vec<_>>(),
            "the same steps in a dry run and a live run"
        );
        // Reading is not held back in a dry run: the statuses are the same too.
        assert_eq!(p, d);
        for n in [
            "records",
            "bytes",
            "findings",
            "objects_scanned",
            "objects_skipped",
        ] {
            assert_eq!(planned["stats"][n], done["stats"][n], "{n}");
        }
        if i == 1 {
            // The second file holds the same records as the first: their incidents were
            // alerted then, so each run leaves every finding out (state in memory here).
            assert_eq!(done["stats"]["findings"], 0, "{done}");
            assert_eq!(done["stats"]["findings_suppressed"], 11, "{done}");
            assert!(inbox.drain().await.unwrap().is_empty());
            continue;
        }
        // Both publish the two critical findings; the dry run's alerts are marked.
        let alerts = inbox.receive(4, Duration::from_secs(15)).await.unwrap();
        assert_eq!(alerts.len(), 4);
        assert_eq!(dry_run_marks(&alerts), [false, false, true, true]);
        for a in &alerts {
            assert!(
                a.body["detection"] == "cloudtrail-tampering"
                    || a.body["detection"] == "ec2-world-open-admin-port"
            );
            assert!(a.subject.contains("prod-payments"), "{}", a.subject);
        }
    }
    // A re-delivery: the log file it names was scanned already and is skipped.
    let again = invoke(&dry, &mixed).await.unwrap();
    let mixed_steps = steps(&again);
    assert_eq!(mixed_steps.len(), 2);
    assert_eq!(mixed_steps[0].2, "skipped");
    assert_eq!(mixed_steps[1].2, "skipped");
    assert!(again["steps"][1]["detail"]
        .as_str()
        .unwrap()
        .starts_with("already scanned at"));
    inbox.drain().await.unwrap();
}

#[tokio::test]
async fn a_payload_that_does_not_parse_is_an_error_with_the_parser_message() {
    // No AWS call is made for either payload, so no server is needed.
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let st = service::<LogDelivery>(&sdk, &[]).await.unwrap();
    let e = invoke(&st, &serde_json::json!({"hello": 1}))
        .await
        .unwrap_err();
    assert!(e.contains("[hello]"), "{e}");
    // An ignored payload needs no AWS at all.
    let out = invoke(&st, &fixture("s3-object-created-digest-file.json"))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("digest"));
}

#[tokio::test]
async fn a_large_file_is_streamed() {
    // ~40 MB of JSON (9 MB compressed) read through the S3 body stream.
    let moto = Moto::start().await.unwrap();
    let s3 = trailwarden::aws::s3_client(&moto.sdk_config());
    let text = String::from_utf8(flate2_decode(&log_file())).unwrap();
    let inner = &text[text.find('[').unwrap() + 1..text.rfind(']').unwrap()];
    let copies = 1500;
    let mut big = String::with_capacity(inner.len() * copies + 16);
    big.push_str("{\"Records\":[");
    for i in 0..copies {
        if i > 0 {
            big.push(',');
        }
        big.push_str(inner);
    }
    big.push_str("]}");
    let (event, _, _) = delivered(&s3, flate2_encode(big.as_bytes())).await;
    let st = state(&moto, &[]).await;
    let out = invoke(&st, &event).await.unwrap();
    let obj = &out["stats"]["objects"][0];
    assert_eq!(obj["records"], 22 * copies as u64, "{obj}");
    assert_eq!(obj["bytes"], big.len() as u64);
    let root = obj["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["detection"] == "cis-4.3-root-usage")
        .unwrap();
    assert_eq!(root["count"], 2 * copies as u64);
}

fn flate2_decode(gz: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn flate2_encode(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
