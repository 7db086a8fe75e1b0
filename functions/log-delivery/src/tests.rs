use super::*;
use std::collections::BTreeMap;

const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/");
pub(crate) const LOG_FILE: &str =
    "logs/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{EVENTS}{name}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn payload(name: &str) -> Payload {
    Payload::from_value(fixture(name)).unwrap()
}

fn env(vars: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_env(&env(vars)).unwrap()
}

fn scan_fixture(cfg: &Config, bytes: Vec<u8>) -> (ScanReport, Option<ScanError>) {
    let mut s = Scanner::new(&cfg.catalog);
    let e = s.scan_reader("fixture", std::io::Cursor::new(bytes)).err();
    (s.finish(), e)
}

fn object(p: &Payload) -> S3Object {
    match p {
        Payload::S3Objects(o) => o[0].clone(),
        _ => panic!("not an S3 payload"),
    }
}

#[test]
fn config_defaults_and_bad_values_name_the_variable() {
    let c = Config::defaults();
    assert!(c.exclude_federated_signin);
    assert_eq!(c.custom_detections, None);
    assert_eq!(
        c.catalog.len(),
        Catalog::builtin(BuiltinOptions::default()).len()
    );

    let c = config(&[(
        CUSTOM_DETECTIONS_URI,
        "s3://cfg-bucket/trailwarden/detections.json",
    )]);
    assert_eq!(
        c.custom_detections,
        Some(DetectionsSource::S3 {
            bucket: "cfg-bucket".into(),
            key: "trailwarden/detections.json".into()
        })
    );
    for bad in [
        "s3://only-bucket",
        "s3:///key",
        "https://example.com/d.json",
    ] {
        let e = Config::from_env(&[(CUSTOM_DETECTIONS_URI, bad)]).unwrap_err();
        assert_eq!(e.var, CUSTOM_DETECTIONS_URI, "{bad}");
    }
    let e = Config::from_env(&[(EXCLUDE_FEDERATED_SIGNIN, "sometimes")]).unwrap_err();
    assert_eq!(e.var, EXCLUDE_FEDERATED_SIGNIN);
    let e =
        Config::from_env(&[(CUSTOM_DETECTIONS_URI, "/nonexistent/detections.json")]).unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn a_local_detection_file_is_merged_and_a_malformed_one_stops_the_cold_start() {
    let dir = std::env::temp_dir().join(format!("log-delivery-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(
        &good,
        r#"{"detections": [
            {"id": "s3-media-read", "title": "Media bucket read", "severity": "low",
             "pattern": {"eventSource": ["s3.amazonaws.com"], "eventName": ["GetObject"],
                         "requestParameters": {"bucketName": [{"prefix": "media-uploads-"}]}}},
            {"id": "cis-4.10-security-group-changes", "enabled": false}
        ]}"#,
    )
    .unwrap();
    let c = config(&[(CUSTOM_DETECTIONS_URI, good.to_str().unwrap())]);
    assert!(c.catalog.get("s3-media-read").is_some());
    assert!(c.catalog.get("cis-4.10-security-group-changes").is_none());

    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"detections": [{"id": "typo-detection", "title": "t", "severity": "high",
             "pattern": {"eventName": [{"prefx": "Delete"}]}}]}"#,
    )
    .unwrap();
    let e = Config::from_env(&[(CUSTOM_DETECTIONS_URI, bad.to_str().unwrap())]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("CUSTOM_DETECTIONS_URI"), "{msg}");
    assert!(msg.contains("detection \"typo-detection\""), "{msg}");
    assert!(msg.contains("unknown operator \"prefx\""), "{msg}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plan_scans_log_files_and_skips_everything_else_with_the_reason() {
    let cfg = Config::defaults();
    let o = plan(&cfg, &payload("s3-object-created-log-file.json"));
    assert_eq!(o.ignored, None);
    assert_eq!(o.stats["objects"][0]["action"], "scan");
    assert!(o
        .input
        .starts_with("s3://trailwarden-trail-123456789012/AWSLogs/"));

    let o = plan(&cfg, &payload("s3-object-created-digest-file.json"));
    assert!(
        o.ignored.as_deref().unwrap().contains("digest file"),
        "{:?}",
        o.ignored
    );
    let o = plan(&cfg, &payload("s3-object-created-unrelated.json"));
    assert!(
        o.ignored.as_deref().unwrap().contains("no AWSLogs/ folder"),
        "{:?}",
        o.ignored
    );

    // A classic notification's key is decoded ('+' is a space) before it is classified.
    let p = payload("s3-notification-log-file.json");
    assert!(object(&p)
        .key
        .starts_with("cloudtrail logs/AWSLogs/123456789012/CloudTrail/"));
    let o = plan(&cfg, &p);
    assert_eq!(o.ignored, None);
    assert_eq!(o.stats["objects"][0]["action"], "scan");

    // A CloudTrail event routed here by mistake is ignored, not an error.
    let p = Payload::from_value(
        serde_json::json!({"detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam", "detail": {"eventName": "CreateUser"}}),
    )
    .unwrap();
    assert!(plan(&cfg, &p).ignored.unwrap().contains("not an S3 object"));
    assert!(!plan(&config(&[("DRY_RUN", "true")]), &p)
        .alerts
        .iter()
        .any(|a| !a.dry_run));
}

fn by_detection(alerts: &[Alert]) -> BTreeMap<String, &Alert> {
    alerts.iter().map(|a| (a.detection.clone(), a)).collect()
}

fn fact<'a>(a: &'a Alert, label: &str) -> &'a str {
    a.facts
        .iter()
        .find(|(k, _)| k == label)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no fact {label:?} in {:?}", a.facts))
}

/// The fixture log file through the whole catalog: what a user of the default configuration
/// would be told about it.
#[test]
fn the_fixture_log_file_yields_one_alert_per_detection() {
    let cfg = config(&[("ACCOUNT_ALIAS", "prod-payments")]);
    let bytes = std::fs::read(format!("{EVENTS}{LOG_FILE}")).unwrap();
    let (report, err) = scan_fixture(&cfg, bytes);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(report.records, 22);
    assert_eq!(report.unparsed_records, 0);
    let o = object(&payload("s3-object-created-log-file.json"));
    let alerts = alerts_for(&cfg, &o, &report, None);
    let got = by_detection(&alerts);
    let counts: BTreeMap<&str, u64> = report
        .findings
        .iter()
        .map(|f| (f.detection.as_str(), f.count))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("cis-4.1-unauthorized-api-calls", 2),
            ("cis-4.2-console-signin-without-mfa", 2),
            ("cis-4.3-root-usage", 2),
            ("cis-4.5-cloudtrail-config-changes", 1),
            ("cis-4.6-console-auth-failures", 6),
            ("cis-4.10-security-group-changes", 1),
            ("cloudtrail-tampering", 1),
            ("console-signin-failure-burst", 5),
            ("iam-user-created", 1),
        ])
    );
    assert_eq!(alerts.len(), 9);

    let root = got["cis-4.3-root-usage"];
    assert_eq!(root.title, "Root user activity: 2 events");
    assert_eq!(fact(root, "Principals"), "root user of 123456789012 (2)");
    assert_eq!(fact(root, "First"), "2024-08-01T13:30:05Z");
    assert_eq!(fact(root, "Last"), "2024-08-01T13:30:42Z");
    assert!(fact(root, "Events").contains("ConsoleLogin (1)"));
    assert_eq!(root.account.as_deref(), Some("123456789012"));
    assert_eq!(root.account_alias.as_deref(), Some("prod-payments"));
    assert!(root
        .subject()
        .starts_with("[HIGH] Root user activity: 2 events (prod-payments 123456789012)"));
    assert_eq!(
        fact(root, "Sample event IDs"),
        "5e0c1f8a-2b7d-4c39-9a61-0f3e8d2b7c41, a7f4c2d9-3e81-4b6a-8c05-91d2e7f3b6a8"
    );
    assert!(fact(root, "Log file").starts_with("s3://trailwarden-trail-123456789012/AWSLogs/"));

    // Identity Center's sign-in (MFAUsed "No") is left out of CIS 4.2 by default.
    let mfa = got["cis-4.2-console-signin-without-mfa"];
    assert!(fact(mfa, "Principals").contains("arn:aws:iam::123456789012:user/bob (1)"));
    assert!(!fact(mfa, "Principals").contains("AWSReservedSSO"));

    let burst = got["console-signin-failure-burst"];
    assert_eq!(burst.severity, Severity::High);
    assert!(fact(burst, "Groups over threshold")
        .starts_with("HIDDEN_DUE_TO_SECURITY_REASONS (peak 5 in 300 s"));
    assert_eq!(fact(burst, "Source IPs"), "45.155.205.233 (5)");

    // HeadBucket is not an unauthorized call under CIS 4.1.
    let denied = got["cis-4.1-unauthorized-api-calls"];
    assert_eq!(
        fact(denied, "Error codes"),
        "AccessDenied (1), Client.UnauthorizedOperation (1)"
    );

    let tamper = got["cloudtrail-tampering"];
    assert_eq!(tamper.severity, Severity::Critical);
    let ev = tamper.event.as_ref().unwrap();
    assert_eq!(ev.event_name.as_deref(), Some("StopLogging"));
    assert_eq!(
        ev.actor.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/github-actions-deploy/gha-run-10293847")
    );
    assert!(tamper.references.iter().any(|r| r.contains("T1562.008")));

    // With the option off, the Identity Center sign-in counts too.
    let all = config(&[(EXCLUDE_FEDERATED_SIGNIN, "false")]);
    let (report, _) = scan_fixture(&all, std::fs::read(format!("{EVENTS}{LOG_FILE}")).unwrap());
    let f = report
        .findings
        .iter()
        .find(|f| f.detection == "cis-4.2-console-signin-without-mfa")
        .unwrap();
    assert_eq!(f.count, 3);
}

#[test]
fn a_truncated_file_gets_an_alert_naming_bucket_key_and_how_far_it_got() {
    let cfg = config(&[("DRY_RUN", "true")]);
    let bytes = std::fs::read(format!("{EVENTS}{LOG_FILE}")).unwrap();
    let cut = bytes[..bytes.len() * 2 / 3].to_vec();
    let (report, err) = scan_fixture(&cfg, cut);
    let err = err.expect("a cut file is an error");
    assert!(!err.error.is_transient());
    let progress = err.error.progress().unwrap();
    assert!(progress.records > 5 && progress.records < 22, "{err}");
    let o = object(&payload("s3-object-created-log-file.json"));
    let alerts = alerts_for(&cfg, &o, &report, Some(&err));
    let a = alerts
        .iter()
        .find(|a| a.detection == UNREADABLE_DETECTION)
        .unwrap();
    assert!(a.dry_run);
    assert_eq!(fact(a, "Bucket"), "trailwarden-trail-123456789012");
    assert!(fact(a, "Key").ends_with("Xy7pQ2mN4bR8sT1v.json.gz"));
    let how_far = fact(a, "Read before the problem");
    assert!(
        how_far.contains(&format!("{} records", progress.records)),
        "{how_far}"
    );
    assert!(how_far.contains("compressed bytes of 3788"), "{how_far}");
    assert_eq!(a.account.as_deref(), Some("123456789012"));
    // Findings from the part that was read are still there (root use is at the start).
    assert!(alerts.iter().any(|a| a.detection == "cis-4.3-root-usage"));
}

#[tokio::test]
async fn a_payload_that_does_not_parse_is_an_error_with_the_parser_message() {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let state = State::new(&sdk, Config::defaults());
    let ev = LambdaEvent::new(serde_json::json!({"hello": 1}), Default::default());
    let e = handler(&state, ev).await.unwrap_err();
    assert!(e.to_string().contains("[hello]"), "{e}");
    // An ignored payload needs no AWS at all.
    let ev = LambdaEvent::new(
        fixture("s3-object-created-digest-file.json"),
        Default::default(),
    );
    let out = handler(&state, ev).await.unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("digest"));
}
