//! The function against moto: the committed sample trail in a real (emulated) bucket, the
//! signature in each digest's `x-amz-meta-signature`, alerts read back from an SQS queue
//! subscribed to the alert topic.

use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::{Context, LambdaEvent};
use log_integrity::{handler, Config, State};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use trailwarden_testkit::{AlertInbox, Moto};

const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");

fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out.sort();
    out
}

/// Uploads the sample trail as CloudTrail would have written it: objects under their keys,
/// digest signatures as user metadata.
async fn upload_trail(s3: &aws_sdk_s3::Client, bucket: &str) {
    let root = Path::new(EVENTS).join("trail");
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    for key in files(&root) {
        if !key.ends_with(".json.gz") {
            continue;
        }
        let mut req = s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from(std::fs::read(root.join(&key)).unwrap()));
        let side = root.join(format!("{key}.metadata.json"));
        if side.exists() {
            let md: HashMap<String, String> =
                serde_json::from_slice(&std::fs::read(side).unwrap()).unwrap();
            for (k, v) in md {
                req = req.metadata(k, v);
            }
        }
        req.send().await.unwrap();
    }
}

async fn invoke(state: &State, event: &Value) -> Result<Value, String> {
    handler(state, LambdaEvent::new(event.clone(), Context::default()))
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn digests_in_s3_are_validated_and_tampering_is_alerted() {
    let moto = Moto::start().await.expect("moto");
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "log-integrity-alerts")
        .await
        .unwrap();
    let s3 = trailwarden::aws::s3_client(&cfg);

    let event: Value = serde_json::from_slice(
        &std::fs::read(format!("{EVENTS}/s3-notification-digest-file.json")).unwrap(),
    )
    .unwrap();
    let bucket = event["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .unwrap();
    let digest_key = event["Records"][0]["s3"]["object"]["key"].as_str().unwrap();
    upload_trail(&s3, bucket).await;
    s3.create_bucket()
        .bucket("trailwarden-config")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("trailwarden-config")
        .key("cloudtrail/public-keys.json")
        .body(ByteStream::from(
            std::fs::read(format!("{EVENTS}/trail/public-keys.json")).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let config = Config::from_env(&[
        ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
        (
            "PUBLIC_KEYS_URI",
            "s3://trailwarden-config/cloudtrail/public-keys.json",
        ),
        ("ACCOUNT_ALIAS", "sandbox"),
    ])
    .unwrap();
    let state = State::new(&cfg, config);

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
    s3.delete_object()
        .bucket(bucket)
        .key(previous)
        .send()
        .await
        .unwrap();

    let out = invoke(&state, &event).await.unwrap();
    assert_eq!(out["stats"]["digests_invalid"], 1, "{out:#}");
    let alerts = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert!(
        a.subject.starts_with(
            "[CRITICAL] CloudTrail log tampering: 1 log file modified, previous digest deleted"
        ),
        "{}",
        a.subject
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
    assert!(facts.contains("log file modified"), "{facts}");
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
    let alerts = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].subject.contains("digest moved"),
        "{}",
        alerts[0].subject
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
    let moto = Moto::start().await.expect("moto");
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "log-integrity-alerts")
        .await
        .unwrap();
    let s3 = trailwarden::aws::s3_client(&cfg);
    let event: Value = serde_json::from_slice(
        &std::fs::read(format!("{EVENTS}/s3-notification-digest-file.json")).unwrap(),
    )
    .unwrap();
    let bucket = event["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .unwrap();
    upload_trail(&s3, bucket).await;
    let config = Config::from_env(&[("ALERT_TOPIC_ARN", inbox.topic_arn.as_str())]).unwrap();
    let state = State::new(&cfg, config);
    let e = invoke(&state, &event).await.unwrap_err();
    assert!(e.contains("not every check could be done"), "{e}");
    let alerts = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].attributes["severity"], "medium");
    assert!(
        alerts[0]
            .subject
            .starts_with("[MEDIUM] CloudTrail integrity check incomplete"),
        "{}",
        alerts[0].subject
    );
    let facts = alerts[0].body["facts"].to_string();
    assert!(facts.contains("ListPublicKeys"), "{facts}");
    assert!(facts.contains("2 listed: 2 valid"), "{facts}");
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}
