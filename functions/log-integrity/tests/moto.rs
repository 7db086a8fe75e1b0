//! The function against moto: the committed sample trail in a real (emulated) bucket, the
//! signature in each digest's `x-amz-meta-signature`, alerts read back from an SQS queue
//! subscribed to the alert topic.

mod support;

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use log_integrity::LogIntegrity;
use serde_json::{json, Value};
use std::time::Duration;
use support::*;
use trailwarden::lambda::Service;
use trailwarden_testkit::harness::{events_dir, upload_sample_trail};
use trailwarden_testkit::{fixture, service, AlertInbox, Moto, ReceivedAlert};

async fn invoke(svc: &Service<LogIntegrity>, event: &Value) -> Result<Value, String> {
    trailwarden_testkit::invoke(svc, event).await
}

/// A moto, its SDK configuration, an S3 client on it, and the inbox of the alert topic.
async fn start() -> (Moto, SdkConfig, aws_sdk_s3::Client, AlertInbox) {
    let moto = Moto::start().await.expect("moto");
    let cfg = moto.sdk_config();
    let inbox = moto.alert_inbox("log-integrity-alerts").await;
    let s3 = trailwarden::aws::s3_client(&cfg);
    (moto, cfg, s3, inbox)
}

/// The next alert, which arrives alone.
async fn one_alert(inbox: &AlertInbox) -> ReceivedAlert {
    let mut alerts = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(alerts.len(), 1);
    alerts.remove(0)
}

/// Deletes an object (tampering with a trail).
async fn delete(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    s3.delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
}

/// Uploads the sample trail as CloudTrail would have written it: objects under their keys,
/// digest signatures as user metadata.
async fn upload_trail(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    upload_sample_trail(s3, bucket).await;
}

/// The sample digest notification, with the sample trail uploaded to the bucket it names;
/// returns the event and that bucket.
async fn digest_delivered(s3: &aws_sdk_s3::Client) -> (Value, String) {
    let event = fixture("s3-notification-digest-file.json");
    let bucket = event["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    upload_trail(s3, &bucket).await;
    (event, bucket)
}

#[tokio::test]
async fn digests_in_s3_are_validated_and_tampering_is_alerted() {
    let (_moto, cfg, s3, inbox) = start().await;

    let (event, bucket) = digest_delivered(&s3).await;
    let bucket = bucket.as_str();
    let digest_key = event["Records"][0]["s3"]["object"]["key"].as_str().unwrap();
    s3.create_bucket()
        .bucket("trailwarden-config")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("trailwarden-config")
        .key("cloudtrail/public-keys.json")
        .body(ByteStream::from(
            std::fs::read(events_dir().join("trail/public-keys.json")).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let state = service::<LogIntegrity>(
        &cfg,
        &[
            ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
            (
                "PUBLIC_KEYS_URI",
                "s3://trailwarden-config/cloudtrail/public-keys.json",
            ),
            ("ACCOUNT_ALIAS", "sandbox"),
        ],
    )
    .await
    .unwrap();

    // 1. As delivered: valid, counted, not alerted.
    let out = invoke(&state, &event).await.unwrap();
    assert_eq!(out["stats"]["digests_valid"], 1, "{out:#}");
    assert_eq!(out["stats"]["log_files_valid"], 2, "{out:#}");
    assert_eq!(out["alerts"], json!([]));
    assert!(inbox.drain().await.unwrap().is_empty());

    // 2. Someone edits one of the hour's log files and deletes the previous digest.
    let digest: Value = {
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(digest_key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    };
    let edited = digest["logFiles"][0]["s3Object"].as_str().unwrap();
    let previous = digest["previousDigestS3Object"].as_str().unwrap();
    s3.put_object()
        .bucket(bucket)
        .key(edited)
        .body(ByteStream::from(gzip(br#"{"Records":[]}"#)))
        .send()
        .await
        .unwrap();
    delete(&s3, bucket, previous).await;

    let out = invoke(&state, &event).await.unwrap();
    assert_eq!(out["stats"]["digests_invalid"], 1, "{out:#}");
    let a = &one_alert(&inbox).await;
    assert_eq!(
        kinds(&a.body),
        ["log_file_modified", "previous_digest_missing"]
    );
    assert_eq!(a.attributes["severity"], "critical");
    assert_eq!(a.attributes["detection"], "cloudtrail-log-integrity");
    assert_eq!(a.body["account"], "123456789012");
    assert_eq!(a.body["account_alias"], "sandbox");
    let facts = a.body["facts"].to_string();
    assert!(
        facts.contains(&format!("s3://{bucket}/{edited}")),
        "{facts}"
    );
    assert!(
        facts.contains(&format!("s3://{bucket}/{previous}")),
        "{facts}"
    );
    assert_eq!(a.body["facts"]["Signature"], "valid");

    // 3. The digest copied elsewhere, announced through EventBridge.
    let copy = digest_key.replace(
        "CloudTrail-Digest/us-east-1/2024/05/14/",
        "CloudTrail-Digest/us-east-1/2024/05/15/",
    );
    s3.copy_object()
        .bucket(bucket)
        .key(&copy)
        .copy_source(format!("{bucket}/{digest_key}"))
        .send()
        .await
        .unwrap();
    let eb = json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2024-05-15T12:06:43Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": copy, "size": 887, "etag": "4211d6cab6dbe25eebe25ec9c0776f39", "sequencer": "00664355F4A1B2C3D5"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "203.0.113.15",
            "reason": "CopyObject"
        }
    });
    let out = invoke(&state, &eb).await.unwrap();
    assert_eq!(out["stats"]["digests_invalid"], 1, "{out:#}");
    let alert = one_alert(&inbox).await;
    // Moved, and still carrying step 2's tampering.
    assert_eq!(
        kinds(&alert.body),
        [
            "digest_moved",
            "log_file_modified",
            "previous_digest_missing"
        ]
    );

    // 4. A log file landing is skipped with a reason; a malformed payload is an error.
    let mut log_event = eb.clone();
    log_event["detail"]["object"]["key"] = json!(edited);
    let out = invoke(&state, &log_event).await.unwrap();
    assert!(
        out["ignored"]
            .as_str()
            .unwrap()
            .contains("a CloudTrail log file, not a digest"),
        "{out:#}"
    );
    let e = invoke(&state, &json!({"hello": "world"}))
        .await
        .unwrap_err();
    assert!(e.contains("unrecognised payload"), "{e}");
    assert!(inbox.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn without_public_keys_the_check_is_incomplete_and_retried() {
    // moto does not implement cloudtrail:ListPublicKeys: the lookup fails, which must not
    // read as tampering.
    let (_moto, cfg, s3, inbox) = start().await;
    let (event, _) = digest_delivered(&s3).await;
    let state = service::<LogIntegrity>(&cfg, &[("ALERT_TOPIC_ARN", inbox.topic_arn.as_str())])
        .await
        .unwrap();
    let e = invoke(&state, &event).await.unwrap_err();
    assert!(e.contains("not every check could be done"), "{e}");
    let alert = one_alert(&inbox).await;
    assert_eq!(alert.attributes["severity"], "medium");
    assert_eq!(kinds(&alert.body), ["check_failed"]);
    let facts = alert.body["facts"].to_string();
    assert!(facts.contains("ListPublicKeys"), "{facts}");
    assert!(facts.contains("2 listed: 2 valid"), "{facts}");
}

/// Uploads a generated trail as CloudTrail writes it (signatures as user metadata).
async fn upload_generated(s3: &aws_sdk_s3::Client, t: &Trail) {
    s3.create_bucket().bucket(&t.bucket).send().await.unwrap();
    for (key, o) in &t.objects {
        let mut req = s3
            .put_object()
            .bucket(&t.bucket)
            .key(key)
            .body(ByteStream::from(o.body.clone()));
        for (k, v) in &o.metadata {
            req = req.metadata(k, v);
        }
        req.send().await.unwrap();
    }
}

/// The finding kinds in an alert's evidence.
fn kinds(alert: &Value) -> Vec<String> {
    alert["evidence"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

fn steps(out: &Value) -> Vec<(String, String)> {
    let all = trailwarden_testkit::harness::steps(out);
    all.into_iter()
        .map(|(step, target, _)| (step, target))
        .collect()
}

#[tokio::test]
async fn the_dry_run_plan_and_the_live_run_walk_the_same_steps() {
    let moto = Moto::start().await.expect("moto");
    let cfg = moto.sdk_config();
    let s3 = trailwarden::aws::s3_client(&cfg);
    let (mut event, _) = digest_delivered(&s3).await;
    // The digest, and a log file landing in the same notification (a skipped step).
    let mut log = event["Records"][0].clone();
    log["s3"]["object"]["key"] = json!(
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1118Z_9nYN7gp2eWAJHIfT.json.gz"
    );
    event["Records"].as_array_mut().unwrap().push(log);
    let keys = events_dir().join("trail/public-keys.json");
    let keys = keys.to_str().unwrap();

    let dry = service::<LogIntegrity>(&cfg, &[("DRY_RUN", "true"), ("PUBLIC_KEYS_URI", keys)])
        .await
        .unwrap();
    let planned = invoke(&dry, &event).await.unwrap();
    let live = service::<LogIntegrity>(&cfg, &[("DRY_RUN", "false"), ("PUBLIC_KEYS_URI", keys)])
        .await
        .unwrap();
    let done = invoke(&live, &event).await.unwrap();
    assert_eq!(planned["dry_run"], true);
    assert_eq!(done["dry_run"], false);
    assert_eq!(steps(&planned).len(), 2, "{planned:#}");
    assert_eq!(steps(&planned), steps(&done));
    // Verifying only reads, so the dry run verified too; the log file was skipped in both.
    for out in [&planned, &done] {
        assert_eq!(out["steps"][0]["status"], "done", "{out:#}");
        assert_eq!(out["steps"][1]["status"], "skipped", "{out:#}");
        assert_eq!(out["stats"]["digests_valid"], 1, "{out:#}");
        assert_eq!(out["stats"]["objects_skipped"], 1, "{out:#}");
    }
    // The offline plan (the CLI's replay) names the same steps.
    let offline = trailwarden::respond::plan_offline::<LogIntegrity>(
        &trailwarden_testkit::config::<LogIntegrity>(&[("PUBLIC_KEYS_URI", keys)]),
        &trailwarden::Payload::from_value(event).unwrap(),
    );
    let offline: Vec<(String, String)> = offline
        .steps
        .iter()
        .map(|a| (a.step.clone(), a.target.clone()))
        .collect();
    assert_eq!(offline, steps(&done));
}

#[tokio::test]
async fn a_restarted_chain_in_s3_is_alerted_with_its_gap() {
    let (_moto, cfg, s3, inbox) = start().await;
    // Logging stopped after 11:01:31 and started again at 15:01:31.
    let t = Trail::generate(
        &Spec {
            restart_before: Some((2, 4)),
            ..Spec::default()
        },
        cloudtrail_key(),
    );
    let event = fixture("s3-object-created-digest-chain-restart.json");
    assert_eq!(event["detail"]["object"]["key"], json!(t.digests[2]));
    assert_eq!(event["detail"]["bucket"]["name"], json!(t.bucket));
    upload_generated(&s3, &t).await;
    let dir = TempDir::new("moto-restart");
    let keys = dir.0.join("public-keys.json");
    std::fs::write(&keys, keys_document(&[(cloudtrail_key(), Der::Pkcs1)])).unwrap();
    let svc = service::<LogIntegrity>(
        &cfg,
        &[
            ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
            ("PUBLIC_KEYS_URI", keys.to_str().unwrap()),
        ],
    )
    .await
    .unwrap();

    // 1. The restart alone: high, the gap and its hours named.
    let out = invoke(&svc, &event).await.unwrap();
    assert_eq!(out["stats"]["chain_restarts"], 1, "{out:#}");
    assert_eq!(out["stats"]["hours_missing"], 5, "{out:#}");
    assert_eq!(out["stats"]["digests_invalid"], 1, "{out:#}");
    let a = &one_alert(&inbox).await;
    assert_eq!(a.attributes["severity"], "high");
    let findings = a.body["evidence"]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["kind"], "chain_restarted");
    assert_eq!(
        a.body["evidence"]["restart"]["previous"]["key"],
        json!(t.digests[1])
    );
    assert_eq!(
        a.body["facts"]["Gap"],
        "logging was off or digests were deleted between 2024-05-14T11:01:31Z and 2024-05-14T15:01:31Z (240 minutes)"
    );

    // 2. The last digest before the stop and one of its log files are deleted: the gap
    //    grows by that hour, and the log file left behind proves a digest was deleted.
    delete(&s3, &t.bucket, &t.digests[1]).await;
    delete(&s3, &t.bucket, &t.log_files[1][0]).await;
    let out = invoke(&svc, &event).await.unwrap();
    assert_eq!(out["stats"]["hours_missing"], 6, "{out:#}");
    assert_eq!(out["stats"]["log_files_undigested"], 1, "{out:#}");
    let alert = one_alert(&inbox).await;
    let ev = &alert.body["evidence"];
    assert_eq!(ev["restart"]["previous"]["key"], json!(t.digests[0]));
    assert_eq!(
        kinds(&alert.body),
        ["chain_restarted", "undigested_log_file"]
    );
    assert_eq!(
        ev["findings"][1]["file"],
        json!(format!("s3://{}/{}", t.bucket, t.log_files[1][1]))
    );
    assert!(inbox.drain().await.unwrap().is_empty());
}
