//! Every delivery route a log file notification may take (EventBridge, S3 event notification,
//! SNS, SQS, CloudTrail's own SNS notification, and their combinations), log files in a
//! log-archive account's bucket (SSE-KMS, organization keys), and a read the role may not do.
//!
//! The pure tests need nothing running; the others run against moto (reading the alerts back
//! from a queue subscribed to the alert topic), through the fault proxy where moto does not
//! behave like AWS (it enforces no KMS permission).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use log_delivery::{LogDelivery, ACCESS_DENIED_DETECTION};
use serde_json::{json, Value};
use std::time::Duration;
use trailwarden::payload::{S3Delivery, S3Object};
use trailwarden::respond::Settings as _;
use trailwarden::respond::{Decide, Decision};
use trailwarden::Payload;
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::harness::{events_dir, put_object};
use trailwarden_testkit::{fixture, invoke, payload, service, AlertInbox, Moto};

const LOG_FILE: &str =
    "logs/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";
/// The bucket and (decoded) key every log-file sample names.
const BUCKET: &str = "trailwarden-trail-123456789012";
const KEY: &str = "cloudtrail logs/AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";
/// Detections the sample log file fires (see tests/moto.rs).
const FINDINGS: usize = 11;

fn log_file() -> Vec<u8> {
    std::fs::read(events_dir().join(LOG_FILE)).unwrap()
}

fn objects(p: &Payload) -> Vec<S3Object> {
    match p {
        Payload::S3Objects(o) => o.clone(),
        other => panic!("not S3 objects: {other:?}"),
    }
}

#[test]
fn every_route_names_the_same_log_file_and_plans_the_same_scan() {
    let cfg = log_delivery::Config::defaults();
    for (name, delivery) in [
        ("s3-notification-log-file.json", S3Delivery::Notification),
        (
            "sns-s3-notification-log-file.json",
            S3Delivery::Notification,
        ),
        (
            "sqs-s3-notification-log-file.json",
            S3Delivery::Notification,
        ),
        (
            "sns-cloudtrail-log-file-delivered.json",
            S3Delivery::CloudTrail,
        ),
        (
            "sqs-sns-cloudtrail-log-file-delivered.json",
            S3Delivery::CloudTrail,
        ),
    ] {
        let p = payload(name);
        let o = objects(&p);
        assert_eq!(o.len(), 1, "{name}");
        assert_eq!(
            (o[0].bucket.as_str(), o[0].key.as_str()),
            (BUCKET, KEY),
            "{name}"
        );
        assert_eq!(o[0].delivery, delivery, "{name}");
        let Decision::Respond { plan, .. } = LogDelivery::decide(&cfg, &p, &()) else {
            panic!("{name}: ignored")
        };
        assert_eq!(plan.len(), 1, "{name}");
        assert_eq!(plan[0].step.object().key, KEY, "{name}");
    }
    // S3's own notifications say the bucket's region and the object's size; CloudTrail's
    // names neither (the SNS time stamp stands in for the time).
    let s3 = &objects(&payload("sqs-s3-notification-log-file.json"))[0];
    assert_eq!(
        (s3.region.as_deref(), s3.size),
        (Some("us-east-1"), Some(3788))
    );
    let ct = &objects(&payload("sns-cloudtrail-log-file-delivered.json"))[0];
    assert_eq!((ct.region.as_deref(), ct.size), (None, None));
    assert_eq!(ct.time.as_deref(), Some("2024-08-01T13:40:13.118Z"));
    // EventBridge -> SQS: the EventBridge event inside, key as is.
    let eb = &objects(&payload("sqs-eventbridge-object-created-log-file.json"))[0];
    assert_eq!(eb.delivery, S3Delivery::EventBridge);
    assert!(eb.key.ends_with("_Xy7pQ2mN4bR8sT1v.json.gz"));
}

#[test]
fn a_digest_delivered_through_sns_and_sqs_is_skipped_by_log_delivery_with_the_reason() {
    let p = payload("sqs-sns-s3-notification-digest-file.json");
    let Decision::Ignore(why) = LogDelivery::decide(&log_delivery::Config::defaults(), &p, &())
    else {
        panic!("a digest was planned for scanning")
    };
    assert!(why.contains("CloudTrail-Digest"), "{why}");
}

/// The sample log file put under `key`, creating the bucket first when it does not exist yet.
async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    let _ = s3.create_bucket().bucket(bucket).send().await;
    put_object(s3, bucket, key, log_file()).await;
}

#[tokio::test]
async fn sns_and_sqs_wrapped_notifications_are_scanned_end_to_end() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "log-delivery-routes")
        .await
        .unwrap();
    put(&trailwarden::aws::s3_client(&cfg), BUCKET, KEY).await;
    for (name, batch) in [
        ("sns-cloudtrail-log-file-delivered.json", false),
        ("sqs-sns-cloudtrail-log-file-delivered.json", true),
        ("sqs-s3-notification-log-file.json", true),
    ] {
        // A fresh service per route: its memory of scanned files starts empty.
        let st = service::<LogDelivery>(&cfg, &[("ALERT_TOPIC_ARN", &inbox.topic_arn)])
            .await
            .unwrap();
        let out = invoke(&st, &fixture(name)).await.unwrap();
        if batch {
            // The SQS answer: nothing to deliver again.
            assert_eq!(out, json!({"batchItemFailures": []}), "{name}");
        } else {
            assert_eq!(out["stats"]["objects"][0]["records"], 22, "{name}: {out}");
        }
        let alerts = inbox
            .receive(FINDINGS, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(alerts.len(), FINDINGS, "{name}");
        let root = alerts
            .iter()
            .find(|a| a.body["detection"] == "cis-4.3-root-usage")
            .unwrap_or_else(|| panic!("{name}: no root alert"));
        assert_eq!(
            root.body["facts"]["Log file"],
            format!("s3://{BUCKET}/{KEY}"),
            "{name}"
        );
    }
}

fn sqs_message(id: &str, body: &str) -> Value {
    let mut m = fixture("sqs-s3-notification-log-file.json")["Records"][0].clone();
    m["messageId"] = json!(id);
    m["body"] = json!(body);
    m
}

#[tokio::test]
async fn a_batch_with_one_bad_message_reports_exactly_that_message() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "log-delivery-batch")
        .await
        .unwrap();
    put(&trailwarden::aws::s3_client(&cfg), BUCKET, KEY).await;
    let good = fixture("sqs-s3-notification-log-file.json")["Records"][0]["body"]
        .as_str()
        .unwrap()
        .to_string();
    let test_event = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-08-01T13:00:00.000Z","Bucket":"trailwarden-trail-123456789012","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmwpMH4CmCAlhLuACrAJkdRTm1Zo0BXcq0bz5o="}"#;
    let batch = json!({"Records": [
        sqs_message("0b5b3c4e-0001-4000-8000-000000000001", &good),
        sqs_message("0b5b3c4e-0002-4000-8000-000000000002", "{\"Records\": [{\"eventSource\": \"aws:s3\", \"eventName\": \"ObjectCreated:Put\", \"s3\": {\"bucket\": {\"name\": 7}}}]}"),
        sqs_message("0b5b3c4e-0003-4000-8000-000000000003", test_event),
    ]});
    let st = service::<LogDelivery>(&cfg, &[("ALERT_TOPIC_ARN", &inbox.topic_arn)])
        .await
        .unwrap();
    let out = invoke(&st, &batch).await.unwrap();
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "0b5b3c4e-0002-4000-8000-000000000002"}]})
    );
    // The good message was scanned all the same.
    let alerts = inbox
        .receive(FINDINGS, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(alerts.len(), FINDINGS);
    // Per message, with the reason.
    let report = st.run_batch(batch).await.unwrap();
    let failed: Vec<(&str, &str)> = report
        .failed()
        .map(|m| (m.message_id.as_str(), m.error().unwrap()))
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].1.contains("field Records[1].body.Records[0].s3."),
        "{failed:?}"
    );
    // A batch whose every message fails fails the invocation (all of it is delivered again).
    let all_bad =
        json!({"Records": [sqs_message("0b5b3c4e-0004-4000-8000-000000000004", "not json")]});
    let e = invoke(&st, &all_bad).await.unwrap_err();
    assert!(
        e.contains("0b5b3c4e-0004-4000-8000-000000000004") && e.contains("not JSON"),
        "{e}"
    );
}

/// The log-archive account of an organization: its own credentials (moto gives assumed-role
/// credentials the role's account), a bucket in another region, an SSE-KMS key of its own.
struct LogArchive {
    s3: aws_sdk_s3::Client,
    key_arn: String,
}

const ARCHIVE_ACCOUNT: &str = "111111111111";
const ARCHIVE_BUCKET: &str = "org-log-archive-111111111111";
const ORG_KEY: &str = "AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";

async fn log_archive(moto: &Moto) -> LogArchive {
    let sts = aws_sdk_sts::Client::new(&moto.sdk_config());
    let c = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{ARCHIVE_ACCOUNT}:role/AWSControlTowerExecution"
        ))
        .role_session_name("log-archive-setup")
        .send()
        .await
        .unwrap();
    let c = c.credentials().unwrap();
    let creds = aws_sdk_s3::config::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "log-archive",
    );
    let cfg = moto
        .sdk_config_in("eu-west-1")
        .to_builder()
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(creds))
        .build();
    let who = aws_sdk_sts::Client::new(&cfg)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some(ARCHIVE_ACCOUNT));
    let kms = aws_sdk_kms::Client::new(&cfg);
    let key = kms
        .create_key()
        .description("organization trail")
        .send()
        .await
        .unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    assert!(key_arn.contains(&format!(":{ARCHIVE_ACCOUNT}:key/")));
    let s3 = trailwarden::aws::s3_client(&cfg);
    s3.create_bucket()
        .bucket(ARCHIVE_BUCKET)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // What the README asks of the log-archive account: the security-tooling account may read.
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "TrailwardenReadsTrailFiles", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": format!("arn:aws:s3:::{ARCHIVE_BUCKET}/*")}]});
    s3.put_bucket_policy()
        .bucket(ARCHIVE_BUCKET)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(ARCHIVE_BUCKET)
        .key(ORG_KEY)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key_arn)
        .body(ByteStream::from(log_file()))
        .send()
        .await
        .unwrap();
    LogArchive { s3, key_arn }
}

/// CloudTrail's notification for the organization trail's file, through SNS and SQS.
fn org_notification() -> Value {
    let mut ev = fixture("sqs-sns-cloudtrail-log-file-delivered.json");
    let mut sns: Value = serde_json::from_str(ev["Records"][0]["body"].as_str().unwrap()).unwrap();
    sns["Message"] =
        json!(json!({"s3Bucket": ARCHIVE_BUCKET, "s3ObjectKey": [ORG_KEY]}).to_string());
    ev["Records"][0]["body"] = json!(sns.to_string());
    ev
}

#[tokio::test]
async fn a_kms_encrypted_log_file_in_the_log_archive_account_is_scanned() {
    let moto = Moto::start().await.unwrap();
    let archive = log_archive(&moto).await;
    let head = archive
        .s3
        .head_object()
        .bucket(ARCHIVE_BUCKET)
        .key(ORG_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(head.ssekms_key_id(), Some(archive.key_arn.as_str()));

    // The security-tooling account (moto's default credentials) runs the function.
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "log-delivery-archive")
        .await
        .unwrap();
    let st = service::<LogDelivery>(&cfg, &[("ALERT_TOPIC_ARN", &inbox.topic_arn)])
        .await
        .unwrap();
    let report = st.run_batch(org_notification()).await.unwrap();
    let outcome = report.messages[0].result.as_ref().unwrap();
    assert_eq!(outcome.stats.records, 22);
    assert_eq!(outcome.stats.objects_scanned, 1);
    let alerts = inbox
        .receive(FINDINGS, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(alerts.len(), FINDINGS);
    let root = alerts
        .iter()
        .find(|a| a.body["detection"] == "cis-4.3-root-usage")
        .unwrap();
    assert_eq!(
        root.body["facts"]["Log file"],
        format!("s3://{ARCHIVE_BUCKET}/{ORG_KEY}")
    );
    assert_eq!(root.body["account"], "123456789012");
}

#[tokio::test]
async fn a_log_file_whose_key_may_not_be_used_is_reported_naming_the_key_and_the_fix() {
    let moto = Moto::start().await.unwrap();
    let archive = log_archive(&moto).await;
    // moto enforces no KMS permission: the proxy answers GetObject as S3 does when the role
    // lacks kms:Decrypt (HeadObject, which needs no decryption, still reaches moto).
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    proxy.add(Rule::always(
        &format!("GET /{ARCHIVE_BUCKET}/*"),
        Fault::Canned {
            status: 403,
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>4VMQ8GE1KP3MJ9TZ</RequestId></Error>".into(),
        },
    ));
    let inbox = AlertInbox::create(&moto.sdk_config(), "log-delivery-denied")
        .await
        .unwrap();
    let st = service::<LogDelivery>(
        &proxy.sdk_config(),
        &[("ALERT_TOPIC_ARN", &inbox.topic_arn)],
    )
    .await
    .unwrap();
    // The only message failed: the invocation fails (Lambda delivers it again), naming the
    // bucket, the object and the key.
    let e = invoke(&st, &org_notification()).await.unwrap_err();
    assert!(
        e.contains(&format!("s3://{ARCHIVE_BUCKET}/{ORG_KEY}")),
        "{e}"
    );
    assert!(e.contains(&archive.key_arn), "{e}");
    // And one alert says what to do.
    let alerts = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.body["detection"], ACCESS_DENIED_DETECTION);
    assert_eq!(a.attributes["severity"], "high");
    assert_eq!(a.body["facts"]["KMS key"], archive.key_arn.as_str());
    let summary = a.body["summary"].as_str().unwrap();
    for needed in [
        "kms:Decrypt",
        "AllowTrailwardenToReadTrailFiles",
        "TrailKmsKeyArn=",
        "s3.*.amazonaws.com",
    ] {
        assert!(summary.contains(needed), "{needed} missing from {summary}");
    }
    // The key was learnt from HeadObject (S3's message named none).
    assert!(proxy
        .seen()
        .iter()
        .any(|s| s.operation.starts_with(&format!("HEAD /{ARCHIVE_BUCKET}/"))));
}
