//! The batch handler and the summary step against moto: the committed sample trail (log files,
//! a signed digest chain, an Insights file) and the sample log file in an emulated bucket,
//! batches shaped exactly as the Distributed Map's `s3:listObjectsV2` item reader and
//! ItemBatcher hand them over, per-object results read back; then the results stored as the
//! ResultWriter stores them, summarized, and the one alert read back from the alert topic.

use backfill::{Backfill, BatchResult, ObjectKind, Summary, Verdict};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use trailwarden::detect::Scanner;
use trailwarden::lambda::Service;
use trailwarden::respond::Settings as _;
use trailwarden_testkit::harness::{events_dir, put_object};
use trailwarden_testkit::{service, AlertInbox, Moto};

const BUCKET: &str = "trailwarden-trail-123456789012";
const RESULTS: &str = "trailwarden-backfill-results";
const SAMPLE_LOG: &str =
    "123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";
const SAMPLE_KEY: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";
const TAMPERED: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1006Z_Ux4PBpVbB0Xq3Ycn.json.gz";

fn keys_path() -> String {
    events_dir()
        .join("trail/public-keys.json")
        .display()
        .to_string()
}

/// The sample trail as CloudTrail writes it (digest signatures as user metadata), and the
/// sample log file in its day's folder.
async fn upload_archive(s3: &aws_sdk_s3::Client) {
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    trailwarden_testkit::harness::upload_sample_trail(s3, BUCKET).await;
    put_object(s3, BUCKET, SAMPLE_KEY, sample_log()).await;
}

/// The 10:06 log file as someone with write access to the bucket might leave it: one source
/// address changed, recompressed. Still a readable log file; no longer the one CloudTrail wrote.
fn tampered_log() -> Vec<u8> {
    use std::io::{Read, Write};
    let original = std::fs::read(events_dir().join("trail").join(TAMPERED)).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&original[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("\"203.0.113.24\""));
    let text = text.replacen("\"203.0.113.24\"", "\"198.51.100.7\"", 1);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

fn sample_log() -> Vec<u8> {
    std::fs::read(events_dir().join("logs").join(SAMPLE_LOG)).unwrap()
}

/// The items `arn:aws:states:::s3:listObjectsV2` reads for a prefix, as it hands them over.
async fn listed(s3: &aws_sdk_s3::Client, prefix: &str) -> Vec<Value> {
    let out = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .map(|o| {
            json!({
                "Etag": o.e_tag().unwrap_or_default(),
                "Key": o.key().unwrap(),
                "LastModified": o.last_modified().map(|t| t.to_string()),
                "Size": o.size().unwrap_or_default(),
                "StorageClass": "STANDARD",
            })
        })
        .collect()
}

/// The ItemBatcher's batches of `size` items, with the state machine's `BatchInput`.
fn batches(items: &[Value], size: usize) -> Vec<Value> {
    items
        .chunks(size)
        .map(|c| json!({"Items": c, "BatchInput": {"bucket": BUCKET, "source": "prefix"}}))
        .collect()
}

async fn worker(moto: &Moto, topic: &str) -> Service<Backfill> {
    service::<Backfill>(
        &moto.sdk_config(),
        &[
            ("PUBLIC_KEYS_URI", &keys_path()),
            ("ALERT_TOPIC_ARN", topic),
        ],
    )
    .await
    .unwrap()
}

/// Every object's result over all batches, by key.
async fn run_batches(
    st: &Service<Backfill>,
    batches: &[Value],
) -> (Vec<Value>, BTreeMap<String, backfill::ObjectResult>) {
    let mut answers = Vec::new();
    let mut by_key = BTreeMap::new();
    for b in batches {
        let answer = backfill::handle(st, b.clone()).await.unwrap();
        let parsed: BatchResult = serde_json::from_value(answer.clone()).unwrap();
        assert_eq!(parsed.objects.len(), b["Items"].as_array().unwrap().len());
        for o in parsed.objects {
            by_key.insert(o.key.clone(), o);
        }
        answers.push(answer);
    }
    (answers, by_key)
}

/// The sample log file's matching records per detection, as a local scan counts them.
fn local_counts() -> BTreeMap<String, u64> {
    let catalog = backfill::Config::defaults().catalog.catalog;
    let mut scanner = Scanner::new(&catalog);
    scanner
        .scan_path(&events_dir().join("logs").join(SAMPLE_LOG))
        .unwrap();
    scanner
        .finish()
        .findings
        .into_iter()
        .map(|f| (f.detection, f.count))
        .collect()
}

#[tokio::test]
async fn every_listed_object_gets_a_result_with_findings_and_digest_verdicts() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "backfill-batches").await.unwrap();
    let s3 = trailwarden::aws::s3_client(&cfg);
    upload_archive(&s3).await;
    let items = listed(&s3, "AWSLogs/").await;
    assert_eq!(
        items.len(),
        11,
        "6 + 1 log files, 3 digests, 1 Insights file"
    );
    let st = worker(&moto, &inbox.topic_arn).await;

    let (_, results) = run_batches(&st, &batches(&items, 4)).await;
    assert_eq!(results.len(), 11);

    // The sample log file: the same counts as a scan of the local copy.
    let sample = &results[SAMPLE_KEY];
    assert_eq!(sample.kind, ObjectKind::Log);
    assert_eq!(sample.records, 22);
    let want = local_counts();
    assert_eq!(want.len(), 11, "{want:?}");
    assert_eq!(sample.findings, want);
    assert_eq!(sample.findings["cis-4.3-root-usage"], 2);
    assert!(sample.error.is_none());

    // The digest chain is intact: three valid digests, each listing the hour's log files.
    let digests: Vec<_> = results
        .values()
        .filter(|r| r.kind == ObjectKind::Digest)
        .collect();
    assert_eq!(digests.len(), 3);
    for d in &digests {
        let v = d.digest.as_ref().unwrap();
        assert_eq!(v.verdict, Verdict::Valid, "{}: {:?}", d.key, v.problems);
        assert!(v.log_files >= 1);
    }
    assert_eq!(
        digests
            .iter()
            .map(|d| d.digest.as_ref().unwrap().log_files)
            .sum::<u64>(),
        6
    );
    let insight = results
        .values()
        .find(|r| r.key.contains("CloudTrail-Insight/"))
        .unwrap();
    assert_eq!(insight.kind, ObjectKind::Skipped);
    assert!(insight.reason.as_deref().unwrap().contains("Insights"));

    // A batch sends nothing: the one alert of a backfill comes from its summary.
    assert!(inbox.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn tampered_corrupt_and_vanished_objects_are_results_not_failed_batches() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let s3 = trailwarden::aws::s3_client(&cfg);
    upload_archive(&s3).await;
    // One log file edited after delivery, one corrupt file in a log folder.
    put_object(&s3, BUCKET, TAMPERED, tampered_log()).await;
    let corrupt = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1130Z_Zz9QpLm2NbV4cX7r.json.gz";
    put_object(&s3, BUCKET, corrupt, b"not gzip at all".to_vec()).await;
    let items = listed(&s3, "AWSLogs/123456789012/").await;
    // Listed, then deleted before its batch ran.
    let gone = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T0918Z_9nYN7gp2eWAJHIfT.json.gz";
    s3.delete_object()
        .bucket(BUCKET)
        .key(gone)
        .send()
        .await
        .unwrap();
    let st = worker(&moto, "").await;

    let (_, results) = run_batches(&st, &batches(&items, 50)).await;
    assert_eq!(results.len(), items.len());
    assert_eq!(results[gone].kind, ObjectKind::Skipped);
    assert!(results[gone].reason.as_deref().unwrap().contains("gone"));
    let c = &results[corrupt];
    assert_eq!(c.kind, ObjectKind::Log);
    assert!(c.error.as_deref().unwrap().contains("read until"), "{c:?}");
    let t = &results[TAMPERED];
    assert!(
        t.error.is_none() && t.records > 0,
        "still a readable log file: {t:?}"
    );

    // The digest of 10:01 lists the deleted file, the one of 11:01 the edited one.
    let verdict = |hour: &str| {
        results
            .values()
            .find(|r| r.kind == ObjectKind::Digest && r.key.contains(hour))
            .and_then(|r| r.digest.clone())
            .unwrap()
    };
    let ten = verdict("T100131Z");
    assert_eq!(ten.verdict, Verdict::Invalid);
    assert!(ten
        .problems
        .iter()
        .any(|p| p.kind == log_integrity::FindingKind::LogFileMissing && p.file.contains("0918Z")));
    let eleven = verdict("T110131Z");
    assert_eq!(eleven.verdict, Verdict::Invalid);
    assert!(eleven
        .problems
        .iter()
        .any(|p| p.kind == log_integrity::FindingKind::LogFileModified
            && p.severity == trailwarden::Severity::Critical));
    assert_eq!(verdict("T120131Z").verdict, Verdict::Valid);
}

/// Stores batch answers as the ResultWriter does (no `WriterConfig`: JSON arrays of child
/// execution records, input and output as JSON text) and returns the manifest's key.
async fn store_results(
    s3: &aws_sdk_s3::Client,
    prefix: &str,
    batches: &[Value],
    answers: &[Value],
    failed: &[(Value, &str, &str)],
) -> String {
    let _ = s3.create_bucket().bucket(RESULTS).send().await;
    let run = "2f0a8b51-7c1e-3f4d-9b1a-5d6e7f8a9b0c";
    let record = |i: usize, input: &Value, status: &str| {
        json!({
            "ExecutionArn": format!("arn:aws:states:us-east-1:123456789012:execution:trailwarden-backfill/ScanPrefix:{run}-{i}"),
            "Input": input.to_string(),
            "InputDetails": {"Included": true},
            "Name": format!("{run}-{i}"),
            "StartDate": "2024-09-02T10:15:04.112Z",
            "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:trailwarden-backfill/ScanPrefix",
            "Status": status,
            "StopDate": "2024-09-02T10:15:06.871Z",
        })
    };
    let succeeded: Vec<Value> = batches
        .iter()
        .zip(answers)
        .enumerate()
        .map(|(i, (b, a))| {
            let mut r = record(i, b, "SUCCEEDED");
            r["Output"] = json!(a.to_string());
            r["OutputDetails"] = json!({"Included": true});
            r
        })
        .collect();
    let failures: Vec<Value> = failed
        .iter()
        .enumerate()
        .map(|(i, (b, error, cause))| {
            let mut r = record(100 + i, b, "FAILED");
            r["Error"] = json!(error);
            r["Cause"] = json!(cause);
            r
        })
        .collect();
    let mut manifest = json!({
        "DestinationBucket": RESULTS,
        "MapRunArn": format!("arn:aws:states:us-east-1:123456789012:mapRun:trailwarden-backfill/ScanPrefix:{run}"),
        "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": []},
    });
    for (status, entries) in [("SUCCEEDED", succeeded), ("FAILED", failures)] {
        if entries.is_empty() {
            continue;
        }
        let key = format!("{prefix}/{run}/{status}_0.json");
        let body = serde_json::to_vec(&entries).unwrap();
        manifest["ResultFiles"][status] = json!([{"Key": key, "Size": body.len()}]);
        put_object(s3, RESULTS, &key, body).await;
    }
    let key = format!("{prefix}/{run}/manifest.json");
    put_object(s3, RESULTS, &key, serde_json::to_vec(&manifest).unwrap()).await;
    key
}

fn run_state(map: Value) -> Value {
    let mut run = json!({
        "bucket": BUCKET, "prefix": "AWSLogs/", "manifest": null, "concurrency": 10,
        "batch_size": 4, "tolerated_failure_percentage": 5,
        "results_bucket": RESULTS, "results_prefix": "backfill/nightly-2024-09-02",
    });
    let (k, v) = map.as_object().unwrap().iter().next().unwrap();
    run[k] = v.clone();
    json!({"summarize": {
        "execution": "arn:aws:states:us-east-1:123456789012:execution:trailwarden-backfill:nightly-2024-09-02",
        "run": run,
    }})
}

#[tokio::test]
async fn the_summary_adds_every_result_up_and_sends_one_alert() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "backfill-summary").await.unwrap();
    let s3 = trailwarden::aws::s3_client(&cfg);
    upload_archive(&s3).await;
    put_object(&s3, BUCKET, TAMPERED, tampered_log()).await;
    let items = listed(&s3, "AWSLogs/").await;
    let st = worker(&moto, &inbox.topic_arn).await;
    let batches = batches(&items, 4);
    let (answers, results) = run_batches(&st, &batches).await;
    // One more batch failed every retry: its two objects have no result.
    let lost = json!({"Items": [{"Key": "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/15/123456789012_CloudTrail_us-east-1_20240515T0006Z_Ux4PBpVbB0Xq3Ycn.json.gz", "Size": 2210},
                                {"Key": "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/15/123456789012_CloudTrail_us-east-1_20240515T0018Z_9nYN7gp2eWAJHIfT.json.gz", "Size": 2301}],
                      "BatchInput": {"bucket": BUCKET, "source": "prefix"}});
    let manifest = store_results(
        &s3,
        "backfill/nightly-2024-09-02",
        &batches,
        &answers,
        &[(lost, "Lambda.TooManyRequestsException", "Rate Exceeded.")],
    )
    .await;

    let req = run_state(json!({"map": {
        "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:trailwarden-backfill/ScanPrefix:2f0a8b51-7c1e-3f4d-9b1a-5d6e7f8a9b0c",
        "ResultWriterDetails": {"Bucket": RESULTS, "Key": manifest},
    }}));
    let out = backfill::handle(&st, req).await.unwrap();
    let s: Summary = serde_json::from_value(out.clone()).unwrap();
    assert_eq!(s.objects.total, 11);
    assert_eq!(s.objects.log_files, 7);
    assert_eq!(s.objects.digests, 3);
    assert_eq!(s.objects.skipped, 1);
    assert_eq!(s.batches.succeeded, batches.len() as u64);
    assert_eq!(s.batches.failed, 1);
    assert_eq!(s.objects.in_failed_batches, 2);
    assert!(!s.complete, "a failed batch leaves objects unchecked");
    let records: u64 = results.values().map(|r| r.records).sum();
    assert_eq!(s.records, records);
    // Matching records per detection: the sample file's, counted once.
    let root = s
        .detections
        .iter()
        .find(|d| d.detection == "cis-4.3-root-usage")
        .unwrap();
    assert_eq!((root.records, root.objects), (2, 1));
    assert_eq!(root.first_day.as_deref(), Some("2024-08-01"));
    assert_eq!(root.examples, [format!("s3://{BUCKET}/{SAMPLE_KEY}")]);
    assert_eq!(s.detections.len(), local_counts().len());
    assert_eq!(s.detections[0].severity, trailwarden::Severity::Critical);
    assert_eq!((s.digests.valid, s.digests.invalid), (2, 1));
    assert_eq!(
        s.digests.problems[0].kind,
        log_integrity::FindingKind::LogFileModified
    );
    assert_eq!(s.failed_batches[0].error, "Lambda.TooManyRequestsException");

    // Exactly one alert for the whole backfill, as severe as the worst thing found.
    let alerts = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.attributes["severity"], "critical");
    assert_eq!(a.body["detection"], "backfill-summary");
    assert!(
        a.subject
            .contains("Backfill of s3://trailwarden-trail-123456789012/AWSLogs/"),
        "{}",
        a.subject
    );
    let facts = &a.body["facts"];
    assert!(facts["critical log file modified"]
        .as_str()
        .unwrap()
        .contains(TAMPERED));
    assert!(facts["medium cis-4.3-root-usage"]
        .as_str()
        .unwrap()
        .starts_with("Root user activity: 2 records in 1 file on 2024-08-01"));
    assert!(facts["Failed batches"]
        .as_str()
        .unwrap()
        .starts_with("1 (2 objects without a result)"));
    assert_eq!(
        facts["Per-object results"],
        format!("s3://{RESULTS}/{manifest}")
    );
    assert!(inbox.drain().await.unwrap().is_empty());
    assert_eq!(out["alert"]["severity"], "critical");
}

#[tokio::test]
async fn a_stopped_map_run_is_summarized_from_what_it_wrote_and_reported_incomplete() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "backfill-stopped").await.unwrap();
    let s3 = trailwarden::aws::s3_client(&cfg);
    upload_archive(&s3).await;
    let items = listed(&s3, "AWSLogs/123456789012/CloudTrail/").await;
    let st = worker(&moto, &inbox.topic_arn).await;
    let batches = batches(&items[..2], 2);
    let (answers, _) = run_batches(&st, &batches).await;
    store_results(&s3, "backfill/nightly-2024-09-02", &batches, &answers, &[]).await;

    // The Map state failed (too many failed batches): its output, the manifest's location,
    // is replaced by the caught error.
    let req = run_state(json!({"map_error": {
        "Error": "States.ExceedToleratedFailureThreshold",
        "Cause": "The specified tolerated failure threshold was exceeded",
    }}));
    let s: Summary = serde_json::from_value(backfill::handle(&st, req).await.unwrap()).unwrap();
    assert!(!s.complete);
    assert_eq!(s.objects.total, 2, "the results written before it stopped");
    assert!(s.results.as_deref().unwrap().ends_with("/manifest.json"));
    assert_eq!(
        s.map_error.as_ref().unwrap().error,
        "States.ExceedToleratedFailureThreshold"
    );
    let alerts = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(alerts[0].attributes["severity"], "high");
    assert!(
        alerts[0].subject.contains("INCOMPLETE"),
        "{}",
        alerts[0].subject
    );
}

#[tokio::test]
async fn a_payload_that_is_not_a_batch_fails_naming_what_was_expected() {
    let moto = Moto::start().await.unwrap();
    let st = worker(&moto, "").await;
    let e = backfill::handle(&st, json!({"Records": []}))
        .await
        .unwrap_err();
    assert!(e.contains("expected a Distributed Map batch"), "{e}");
}
