//! Against moto: turning logging back on after StopLogging (and not in a dry run), and
//! re-checking the digest chain after a digest or a log file of the committed sample trail is
//! deleted from a real (emulated) bucket. Alerts are read back from an SQS queue subscribed to
//! the alert topic.

use serde_json::Value;
use std::time::Duration;
use tamper::Tamper;
use trailwarden_testkit::harness::{events_dir, logging_trail, upload_sample_trail};
use trailwarden_testkit::{fixture, invoke, service, Moto};

const BUCKET: &str = "trailwarden-trail-123456789012";
const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:123456789012:trail/trailwarden-trail";
const DIGEST_10: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T100131Z.json.gz";
const DIGEST_11: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T110131Z.json.gz";
const DIGEST_12: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T120131Z.json.gz";
const LOG_1006: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1006Z_Ux4PBpVbB0Xq3Ycn.json.gz";

fn self_resources() -> String {
    format!(
        "stack=trailwarden,rule=trailwarden-*,function=trailwarden-*,role=trailwarden-*,\
         bucket={BUCKET}"
    )
}

async fn trail_in_moto(cfg: &aws_config::SdkConfig) -> aws_sdk_cloudtrail::Client {
    let (ct, _) = logging_trail(cfg, BUCKET, TRAIL, true).await;
    // The attacker's call, whose record is the sample event.
    ct.stop_logging().name(TRAIL).send().await.unwrap();
    ct
}

async fn is_logging(ct: &aws_sdk_cloudtrail::Client) -> bool {
    ct.get_trail_status()
        .name(TRAIL)
        .send()
        .await
        .unwrap()
        .is_logging()
        .unwrap_or(false)
}

fn steps(out: &Value) -> Vec<(String, String)> {
    out["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn stop_logging_is_undone_when_restart_logging_is_on_and_the_alert_says_so() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = moto.alert_inbox("tamper-alerts").await;
    let ct = trail_in_moto(&cfg).await;
    assert!(!is_logging(&ct).await, "stopped before the function runs");
    let resources = self_resources();
    let st = service::<Tamper>(
        &cfg,
        &[
            ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
            ("SELF_RESOURCES", resources.as_str()),
            ("TRAIL_ARNS", TRAIL),
            ("RESTART_LOGGING", "true"),
        ],
    )
    .await
    .unwrap();
    let out = invoke(&st, &fixture("cloudtrail-stop-logging-trailwarden.json"))
        .await
        .unwrap();
    assert_eq!(
        steps(&out),
        [
            ("StartLogging".to_string(), "done".to_string()),
            ("GetTrailStatus".to_string(), "done".to_string())
        ],
        "{out:#}"
    );
    assert!(is_logging(&ct).await, "logging is on again");
    assert_eq!(out["stats"]["logging_restarted"], true);

    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1);
    let a = &got[0];
    assert_eq!(a.attributes["severity"], "critical");
    assert_eq!(a.attributes["detection"], "self-trail");
    assert_eq!(
        a.body["title"],
        "trailwarden's trail stopped or changed: StopLogging trailwarden-trail (logging turned back on)"
    );
    assert_eq!(
        a.body["facts"]["Trail status now"],
        format!("{TRAIL}: logging")
    );
    assert_eq!(a.body["evidence"]["trailStatus"]["is_logging"], true);
    assert_eq!(a.body["event"]["event_name"], "StopLogging");
    assert_eq!(a.body["event"]["source_ip"], "198.51.100.23");
    let summary = a.body["summary"].as_str().unwrap();
    assert!(
        summary.contains("trailwarden turned logging back on"),
        "{summary}"
    );
    assert!(
        summary.contains("arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/mallory"),
        "{summary}"
    );
}

#[tokio::test]
async fn a_dry_run_or_restart_logging_off_leaves_logging_stopped() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = moto.alert_inbox("tamper-alerts").await;
    let ct = trail_in_moto(&cfg).await;
    let resources = self_resources();
    let dry = service::<Tamper>(
        &cfg,
        &[
            ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
            ("SELF_RESOURCES", resources.as_str()),
            ("TRAIL_ARNS", TRAIL),
            ("RESTART_LOGGING", "true"),
            ("DRY_RUN", "true"),
        ],
    )
    .await
    .unwrap();
    let out = invoke(&dry, &fixture("cloudtrail-stop-logging-trailwarden.json"))
        .await
        .unwrap();
    // The same plan as the live run: the restart held back, the status still read.
    assert_eq!(
        steps(&out),
        [
            ("StartLogging".to_string(), "planned".to_string()),
            ("GetTrailStatus".to_string(), "done".to_string())
        ],
        "{out:#}"
    );
    assert!(!is_logging(&ct).await, "a dry run changes nothing");
    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attributes["severity"], "critical");
    assert!(
        got[0].subject.starts_with("[CRITICAL] [dry-run]"),
        "{}",
        got[0].subject
    );
    assert_eq!(
        got[0].body["facts"]["Trail status now"],
        format!("{TRAIL}: NOT logging")
    );
    assert!(got[0].body["summary"]
        .as_str()
        .unwrap()
        .contains("this is a dry run"));

    let off = service::<Tamper>(
        &cfg,
        &[
            ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
            ("SELF_RESOURCES", resources.as_str()),
            ("TRAIL_ARNS", TRAIL),
        ],
    )
    .await
    .unwrap();
    let out = invoke(&off, &fixture("cloudtrail-stop-logging-trailwarden.json"))
        .await
        .unwrap();
    assert!(steps(&out).is_empty(), "{out:#}");
    assert!(!is_logging(&ct).await);
    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert!(got[0].body["summary"]
        .as_str()
        .unwrap()
        .contains("Logging stays off"));
}

async fn tamper_with_sample_trail(
    cfg: &aws_config::SdkConfig,
    topic: &str,
) -> (trailwarden::lambda::Service<Tamper>, aws_sdk_s3::Client) {
    let s3 = trailwarden::aws::s3_client(cfg);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    upload_sample_trail(&s3, BUCKET).await;
    let keys = events_dir().join("trail/public-keys.json");
    let resources = self_resources();
    let st = service::<Tamper>(
        cfg,
        &[
            ("ALERT_TOPIC_ARN", topic),
            ("SELF_RESOURCES", resources.as_str()),
            ("TRAIL_ARNS", TRAIL),
            ("PUBLIC_KEYS_URI", keys.to_str().unwrap()),
        ],
    )
    .await
    .unwrap();
    (st, s3)
}

#[tokio::test]
async fn a_deleted_digest_breaks_the_chain_at_the_next_digest_and_the_alert_names_it() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = moto.alert_inbox("tamper-alerts").await;
    let (st, s3) = tamper_with_sample_trail(&cfg, &inbox.topic_arn).await;

    // Untouched: the re-check finds the chain intact (the event is still reported).
    let out = invoke(&st, &fixture("s3-delete-object-digest.json"))
        .await
        .unwrap();
    assert_eq!(out["stats"]["problems_found"], 0, "{out:#}");
    assert_eq!(out["stats"]["digests_checked"], 2, "{out:#}");
    inbox.drain().await.unwrap();

    // The attacker deletes the 11:01 digest.
    s3.delete_object()
        .bucket(BUCKET)
        .key(DIGEST_11)
        .send()
        .await
        .unwrap();
    let out = invoke(&st, &fixture("s3-delete-object-digest.json"))
        .await
        .unwrap();
    assert_eq!(
        steps(&out),
        [("RecheckDigestChain".to_string(), "done".to_string())]
    );
    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1);
    let a = &got[0];
    assert_eq!(a.attributes["detection"], "self-trail-file-deleted");
    assert_eq!(a.attributes["severity"], "high");
    assert_eq!(
        a.subject,
        "[HIGH] CloudTrail digest deleted: management-events us-east-1 2024-05-14T11:01Z (123456789012)"
    );
    assert_eq!(
        a.body["facts"]["File"],
        format!("s3://{BUCKET}/{DIGEST_11}")
    );
    let findings = a.body["evidence"]["findings"].as_array().unwrap();
    let deleted = format!("s3://{BUCKET}/{DIGEST_11}");
    let kinds: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["file"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("digest_missing", deleted.as_str())),
        "{kinds:?}"
    );
    // The 12:01 digest names the deleted one as its predecessor.
    assert!(
        kinds.contains(&("previous_digest_missing", deleted.as_str())),
        "{kinds:?}"
    );
    let summary = a.body["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("s3://{BUCKET}/{DIGEST_12}")),
        "{summary}"
    );
    assert!(summary.contains("mallory"), "{summary}");
    // The digest before it is intact and not reported.
    assert!(!findings
        .iter()
        .any(|f| f["file"].as_str().unwrap().ends_with(DIGEST_10)));
}

#[tokio::test]
async fn a_deleted_log_file_is_found_missing_by_the_digest_that_lists_it() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = moto.alert_inbox("tamper-alerts").await;
    let (st, s3) = tamper_with_sample_trail(&cfg, &inbox.topic_arn).await;
    s3.delete_object()
        .bucket(BUCKET)
        .key(LOG_1006)
        .send()
        .await
        .unwrap();
    let out = invoke(&st, &fixture("s3-object-deleted-log-file.json"))
        .await
        .unwrap();
    assert_eq!(out["stats"]["digests_checked"], 1, "{out:#}");
    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1);
    let a = &got[0];
    assert_eq!(a.attributes["severity"], "critical");
    assert_eq!(
        a.subject,
        "[CRITICAL] CloudTrail log file deleted: us-east-1 2024-05-14T10:06Z (123456789012)"
    );
    assert_eq!(a.body["facts"]["File"], format!("s3://{BUCKET}/{LOG_1006}"));
    let findings = a.body["evidence"]["findings"].as_array().unwrap();
    assert!(findings.iter().any(
        |f| f["kind"] == "log_file_missing" && f["file"] == format!("s3://{BUCKET}/{LOG_1006}")
    ));
    let summary = a.body["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("It is listed in s3://{BUCKET}/{DIGEST_11}")),
        "{summary}"
    );
    assert!(summary.contains("delete marker"), "{summary}");
}
