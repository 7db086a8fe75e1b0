//! catalog against moto: a DynamoDB state table, the alert topic read back through a
//! subscribed SQS queue, and log-delivery sharing the table. Each function is built and
//! invoked as Lambda builds and invokes it; a new service is a new cold start (another Lambda
//! instance), so what one remembers and the next finds is in the table, not in memory.

use catalog::RealtimeCatalog;
use log_delivery::LogDelivery;
use root_activity::RootActivity;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use trailwarden::lambda::Service;
use trailwarden_testkit::harness::steps;
use trailwarden_testkit::{
    dry_run_marks, fixture, invoke, service, AlertInbox, Moto, ReceivedAlert,
};

const TABLE: &str = "trailwarden-state";

async fn create_table(cfg: &aws_config::SdkConfig, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let ddb = aws_sdk_dynamodb::Client::new(cfg);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .unwrap();
}

fn vars<'a>(topic: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![("ALERT_TOPIC_ARN", topic), ("STATE_TABLE", TABLE)];
    v.extend_from_slice(extra);
    v
}

async fn catalog_fn(moto: &Moto, vars: &[(&str, &str)]) -> Service<RealtimeCatalog> {
    service::<RealtimeCatalog>(&moto.sdk_config(), vars)
        .await
        .unwrap()
}

fn detections(alerts: &[ReceivedAlert]) -> Vec<String> {
    let mut d: Vec<String> = alerts
        .iter()
        .map(|a| a.body["detection"].as_str().unwrap().to_string())
        .collect();
    d.sort();
    d
}

/// The sample event with another event id (and time).
fn another(name: &str, id: &str, time: &str) -> Value {
    let mut v = fixture(name);
    v["detail"]["eventID"] = json!(id);
    v["detail"]["eventTime"] = json!(time);
    v["time"] = json!(time);
    v
}

#[tokio::test]
async fn a_redelivered_event_publishes_nothing_and_a_retry_after_a_failed_publish_alerts() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    create_table(&cfg, TABLE).await;
    let inbox = AlertInbox::create(&cfg, "catalog-alerts").await.unwrap();
    let event = fixture("cloudtrail-stop-logging.json");

    // The first attempt cannot publish (the topic is gone): the invocation fails, so Lambda
    // retries, and nothing is recorded as handled or published. (A claim lease of 10 s here,
    // long enough for the twin below to arrive within it even on a loaded machine; Lambda
    // retries a failed invocation after a minute or more.)
    let lease = [("CLAIM_LEASE_SECONDS", "10")];
    let short_lease = [("CLAIM_LEASE_SECONDS", "1")];
    let missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let first = catalog_fn(&moto, &vars(missing, &lease)).await;
    let e = invoke(&first, &event).await.unwrap_err();
    assert!(e.contains("catalog"), "{e}");

    // Within the lease, another invocation of the same event (one event matching two rules
    // arrives twice at once) finds the incidents being alerted: it publishes nothing.
    let twin = catalog_fn(&moto, &vars(&inbox.topic_arn, &lease)).await;
    let out = invoke(&twin, &event).await.unwrap();
    assert_eq!(
        out["stats"]["duplicates"],
        json!(["cis-4.5-cloudtrail-config-changes", "cloudtrail-tampering"]),
        "{out}"
    );
    assert!(inbox.drain().await.unwrap().is_empty());

    // After the lease, the retry takes the unpublished incidents over and alerts.
    tokio::time::sleep(Duration::from_millis(11_100)).await;
    let retry = catalog_fn(&moto, &vars(&inbox.topic_arn, &short_lease)).await;
    let out = invoke(&retry, &event).await.unwrap();
    let steps = out["steps"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["detail"]
            .as_str()
            .unwrap()
            .starts_with("opened before but never published")),
        "{out}"
    );
    let alerts = inbox.receive(2, Duration::from_secs(15)).await.unwrap();
    assert_eq!(
        detections(&alerts),
        ["cis-4.5-cloudtrail-config-changes", "cloudtrail-tampering"]
    );

    // EventBridge delivers it again (at least once), to a third instance: nothing is
    // published, and the outcome says why.
    let again = catalog_fn(&moto, &vars(&inbox.topic_arn, &[])).await;
    let out = invoke(&again, &event).await.unwrap();
    assert!(
        out["ignored"]
            .as_str()
            .unwrap()
            .contains("was already handled at"),
        "{out}"
    );
    assert!(inbox.drain().await.unwrap().is_empty());

    // Another StopLogging by the same user on the same trail within the hour is the same
    // incident, published: nothing new is published, even long after the lease.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = another(
        "cloudtrail-stop-logging.json",
        "0f4e8d2c-7a91-4b35-8c60-2d9e1f7a3b58",
        "2024-09-12T08:52:40Z",
    );
    let out = invoke(&again, &later).await.unwrap();
    assert_eq!(
        out["stats"]["duplicates"],
        json!(["cis-4.5-cloudtrail-config-changes", "cloudtrail-tampering"]),
        "{out}"
    );
    assert!(inbox.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_threshold_counts_across_invocations_and_alerts_once() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    create_table(&cfg, TABLE).await;
    let inbox = AlertInbox::create(&cfg, "catalog-threshold").await.unwrap();
    // A detection of two secret reads by one principal within five minutes, as a user's
    // file (local here; s3:// in Lambda).
    let dir = std::env::temp_dir().join(format!("catalog-moto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("two-reads.json");
    std::fs::write(
        &file,
        json!({"detections": [{
            "id": "secret-read-twice",
            "title": "Secret read twice",
            "severity": "high",
            "pattern": {
                "eventSource": ["secretsmanager.amazonaws.com"],
                "eventName": ["GetSecretValue"],
                "errorCode": [{"exists": false}]
            },
            "threshold": {"count": 2, "window_seconds": 300, "group_by": ["userIdentity.arn"]}
        }]})
        .to_string(),
    )
    .unwrap();
    let v = vars(
        &inbox.topic_arn,
        &[("CUSTOM_DETECTIONS_URI", file.to_str().unwrap())],
    );

    let one = catalog_fn(&moto, &v).await;
    let out = invoke(&one, &fixture("secretsmanager-get-secret-value.json"))
        .await
        .unwrap();
    assert!(out["stats"]["below_threshold"]
        .as_array()
        .unwrap()
        .contains(&json!("secret-read-twice")));
    assert!(inbox.drain().await.unwrap().is_empty());

    // The second read a minute later reaches another instance: the table holds the first.
    let two = catalog_fn(&moto, &v).await;
    let second = another(
        "secretsmanager-get-secret-value.json",
        "5d1c9e7a-3b2f-4e80-a6d4-c8f0b2e4a6d8",
        "2024-09-12T11:04:21Z",
    );
    invoke(&two, &second).await.unwrap();
    let alerts = inbox.receive(1, Duration::from_secs(15)).await.unwrap();
    assert_eq!(detections(&alerts), ["secret-read-twice"]);
    let a = &alerts[0];
    assert!(
        a.subject.contains("Secret read twice: 2 events"),
        "{}",
        a.subject
    );
    let summary = a.body["summary"].as_str().unwrap();
    assert!(
        summary.contains("counted across log files, regions and the real-time path"),
        "{summary}"
    );
    assert_eq!(
        a.body["facts"]["Sample event IDs"],
        "b6e0d4a2-93c1-4f78-8d2e-5a17c9f03e64, 5d1c9e7a-3b2f-4e80-a6d4-c8f0b2e4a6d8"
    );

    // A third read within the window is the same incident: no second alert.
    let third = another(
        "secretsmanager-get-secret-value.json",
        "9a7c5e3b-1d2f-4a68-b0c2-e4f6a8c0d2e4",
        "2024-09-12T11:05:02Z",
    );
    let out = invoke(&one, &third).await.unwrap();
    assert!(out["stats"]["duplicates"]
        .as_array()
        .unwrap()
        .contains(&json!("secret-read-twice")));
    assert!(inbox.drain().await.unwrap().is_empty());
}

fn gzip(v: &Value) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(v.to_string().as_bytes()).unwrap();
    e.finish().unwrap()
}

/// Puts a log file of `records` in the trail bucket (created if need be) and returns the
/// notification of its delivery; `suffix` tells files apart.
async fn log_file(cfg: &aws_config::SdkConfig, suffix: &str, records: &[Value]) -> Value {
    let bucket = "trailwarden-trail-123456789012";
    let key = format!("AWSLogs/123456789012/CloudTrail/us-east-1/2024/09/12/123456789012_CloudTrail_us-east-1_20240912T0910Z_{suffix}.json.gz");
    let s3 = trailwarden::aws::s3_client(cfg);
    if s3.head_bucket().bucket(bucket).send().await.is_err() {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(gzip(&json!({ "Records": records })).into())
        .send()
        .await
        .unwrap();
    let mut delivered = fixture("s3-object-created-log-file.json");
    delivered["detail"]["bucket"]["name"] = json!(bucket);
    delivered["detail"]["object"]["key"] = json!(key);
    delivered
}

#[tokio::test]
async fn the_log_scan_does_not_alert_what_the_real_time_path_alerted() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    create_table(&cfg, TABLE).await;
    let inbox = AlertInbox::create(&cfg, "catalog-dedup").await.unwrap();
    let v = vars(&inbox.topic_arn, &[]);

    // Real time: StopLogging, within seconds.
    let rt = catalog_fn(&moto, &v).await;
    invoke(&rt, &fixture("cloudtrail-stop-logging.json"))
        .await
        .unwrap();
    let first = inbox.receive(2, Duration::from_secs(15)).await.unwrap();
    assert_eq!(
        detections(&first),
        ["cis-4.5-cloudtrail-config-changes", "cloudtrail-tampering"]
    );

    // Minutes later the log file arrives, holding that record and one the real-time path
    // did not see (its rule was missing, say: LeaveOrganization).
    let stop = fixture("cloudtrail-stop-logging.json")["detail"].clone();
    let leave = fixture("organizations-leave-organization.json")["detail"].clone();
    let delivered = log_file(&cfg, "Qm3Vx8Tr2Lp6Wn1K", &[stop, leave]).await;
    let ld = service::<LogDelivery>(&cfg, &v).await.unwrap();
    let out = invoke(&ld, &delivered).await.unwrap();
    let alerts = inbox.receive(2, Duration::from_secs(15)).await.unwrap();
    assert_eq!(
        detections(&alerts),
        ["cis-4.15-organizations-changes", "organizations-leave"],
        "{out}"
    );
    assert_eq!(out["stats"]["findings_suppressed"], 2, "{out}");
    let suppressed = &out["stats"]["objects"][0]["suppressed"];
    assert!(
        suppressed.as_array().unwrap().iter().all(|s| s["reason"]
            .as_str()
            .unwrap()
            .contains("1 by the real-time path")),
        "{suppressed}"
    );
    assert!(inbox.drain().await.unwrap().is_empty());

    // S3 delivers the notification again: the same version is not scanned twice.
    let out = invoke(&ld, &delivered).await.unwrap();
    assert!(
        out["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("already scanned at"),
        "{out}"
    );
    // And the real-time event that arrives after the scan (a late rule, a replay) is a
    // duplicate of the incidents the scan opened.
    let out = invoke(&rt, &fixture("organizations-leave-organization.json"))
        .await
        .unwrap();
    assert_eq!(
        out["stats"]["duplicates"],
        json!(["cis-4.15-organizations-changes", "organizations-leave"]),
        "{out}"
    );
    assert!(inbox.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_root_access_key_alerts_once_from_root_activity_and_the_log_scan_leaves_it_out() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    create_table(&cfg, TABLE).await;
    let inbox = AlertInbox::create(&cfg, "handoff").await.unwrap();
    let v = vars(
        &inbox.topic_arn,
        &[("RESPONDERS", "root-activity,unapproved-user,security-group")],
    );
    let event = fixture("root-create-access-key.json");

    // EventBridge hands the event to both functions within seconds.
    let rt = catalog_fn(&moto, &v).await;
    let out = invoke(&rt, &event).await.unwrap();
    assert!(
        out["ignored"]
            .as_str()
            .is_some_and(|w| w.contains("root-activity")),
        "{out}"
    );
    let root = service::<RootActivity>(&cfg, &v).await.unwrap();
    let out = invoke(&root, &event).await.unwrap();
    assert_eq!(out["delivery"][0]["status"], "sent", "{out}");
    let first = inbox.receive(1, Duration::from_secs(15)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attributes["detection"], "root-credential-change");

    // The responder recorded what its alert stands for, in the table.
    let ddb = aws_sdk_dynamodb::Client::new(&cfg);
    let items = ddb.scan().table_name(TABLE).send().await.unwrap();
    let incidents: Vec<(String, String, String)> = items
        .items()
        .iter()
        .filter(|i| i["pk"].as_s().unwrap().starts_with("incident#"))
        .map(|i| {
            (
                i["detection"].as_s().unwrap().clone(),
                i["owner"].as_s().unwrap().clone(),
                i["state"].as_s().unwrap().clone(),
            )
        })
        .collect();
    let id = event["detail"]["eventID"].as_str().unwrap();
    let mut owned: Vec<&str> = incidents.iter().map(|(d, _, _)| d.as_str()).collect();
    owned.sort();
    assert_eq!(owned, ["cis-4.3-root-usage", "root-access-key-created"]);
    assert!(incidents
        .iter()
        .all(|(_, o, s)| o == &format!("root-activity:{id}") && s == "published"));

    // The log file arrives: the same record and a trail stop by someone else.
    let key_record = event["detail"].clone();
    let stop = fixture("cloudtrail-stop-logging.json")["detail"].clone();
    let delivered = log_file(&cfg, "Rt4Vx8Tr2Lp6Wn1K", &[key_record, stop]).await;
    let ld = service::<LogDelivery>(&cfg, &v).await.unwrap();
    let out = invoke(&ld, &delivered).await.unwrap();
    let alerts = inbox.receive(2, Duration::from_secs(15)).await.unwrap();
    assert_eq!(
        detections(&alerts),
        ["cis-4.5-cloudtrail-config-changes", "cloudtrail-tampering"],
        "{out}"
    );
    assert_eq!(out["stats"]["findings_suppressed"], 2, "{out}");
    assert!(inbox.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_dry_run_and_a_live_run_walk_the_same_steps() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    create_table(&cfg, "state-dry").await;
    create_table(&cfg, "state-live").await;
    let inbox = AlertInbox::create(&cfg, "catalog-dry").await.unwrap();
    let dry = catalog_fn(
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &inbox.topic_arn),
            ("STATE_TABLE", "state-dry"),
            ("DRY_RUN", "true"),
        ],
    )
    .await;
    let live = catalog_fn(
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &inbox.topic_arn),
            ("STATE_TABLE", "state-live"),
        ],
    )
    .await;
    for name in [
        "cloudtrail-stop-logging.json",
        "secretsmanager-get-secret-value.json",
    ] {
        let p = invoke(&dry, &fixture(name)).await.unwrap();
        let d = invoke(&live, &fixture(name)).await.unwrap();
        assert_eq!(p["dry_run"], true);
        assert_eq!(d["dry_run"], false);
        assert!(!steps(&p).is_empty());
        // The steps only write trailwarden's own table, so the dry run runs them too.
        assert_eq!(steps(&p), steps(&d), "{name}");
        assert_eq!(p["stats"]["alerted"], d["stats"]["alerted"]);
    }
    let alerts = inbox.receive(4, Duration::from_secs(15)).await.unwrap();
    assert_eq!(dry_run_marks(&alerts), [false, false, true, true]);
}

#[tokio::test]
async fn a_state_table_that_cannot_be_used_never_stops_an_alert() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "catalog-open").await.unwrap();
    // No table was created: every state call fails.
    let f = catalog_fn(
        &moto,
        &[
            ("ALERT_TOPIC_ARN", &inbox.topic_arn),
            ("STATE_TABLE", "no-such-table"),
        ],
    )
    .await;
    let out = invoke(&f, &fixture("organizations-leave-organization.json"))
        .await
        .unwrap();
    assert!(!out["stats"]["state_warnings"]
        .as_array()
        .unwrap()
        .is_empty());
    let alerts = inbox.receive(2, Duration::from_secs(15)).await.unwrap();
    assert_eq!(
        detections(&alerts),
        ["cis-4.15-organizations-changes", "organizations-leave"]
    );
    let state = alerts[0].body["facts"]["State"].as_str().unwrap();
    assert!(
        state.starts_with("unavailable, so duplicates were not suppressed")
            && state.contains("no-such-table"),
        "{state}"
    );
}

#[tokio::test]
async fn custom_detections_in_s3_go_real_time_too() {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    create_table(&cfg, TABLE).await;
    let inbox = AlertInbox::create(&cfg, "catalog-custom").await.unwrap();
    let s3 = trailwarden::aws::s3_client(&cfg);
    s3.create_bucket()
        .bucket("cfg-bucket")
        .send()
        .await
        .unwrap();
    let file = json!({"detections": [{
        "id": "guardduty-touched-by-break-glass",
        "title": "GuardDuty changed with the break-glass role",
        "severity": "critical",
        "pattern": {
            "eventSource": ["guardduty.amazonaws.com"],
            "userIdentity": {"sessionContext": {"sessionIssuer": {"userName": ["BreakGlassAdmin"]}}}
        }
    }]});
    s3.put_object()
        .bucket("cfg-bucket")
        .key("trailwarden/detections.json")
        .body(file.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    let f = catalog_fn(
        &moto,
        &vars(
            &inbox.topic_arn,
            &[(
                "CUSTOM_DETECTIONS_URI",
                "s3://cfg-bucket/trailwarden/detections.json",
            )],
        ),
    )
    .await;
    invoke(&f, &fixture("guardduty-delete-detector.json"))
        .await
        .unwrap();
    let alerts = inbox.receive(2, Duration::from_secs(15)).await.unwrap();
    assert_eq!(
        detections(&alerts),
        [
            "guardduty-detector-disabled",
            "guardduty-touched-by-break-glass"
        ]
    );
    // A malformed file stops the cold start, naming the variable.
    s3.put_object()
        .bucket("cfg-bucket")
        .key("trailwarden/bad.json")
        .body(b"{\"detections\": [{\"id\": \"x\"}]}".to_vec().into())
        .send()
        .await
        .unwrap();
    let e = service::<RealtimeCatalog>(
        &cfg,
        &[(
            "CUSTOM_DETECTIONS_URI",
            "s3://cfg-bucket/trailwarden/bad.json",
        )],
    )
    .await
    .err()
    .unwrap();
    assert!(format!("{e:#}").contains("CUSTOM_DETECTIONS_URI"), "{e:#}");
}
