//! Pure tests: configuration, and the plan for the sample notifications in `events/` (which
//! objects are scanned and which are skipped), without any AWS call.

use log_delivery::decide::NOT_S3;
use log_delivery::{
    Case, Config, LogDelivery, ObjectAction, Step, CUSTOM_DETECTIONS_URI, EXCLUDE_FEDERATED_SIGNIN,
};
use trailwarden::alert::Status;
use trailwarden::detect::{BuiltinOptions, Catalog};
use trailwarden::payload::S3Object;
use trailwarden::respond::{Decide, Decision, PlannedStep, Settings, StepKind};
use trailwarden::s3key::KeyKind;
use trailwarden::s3uri::{DocumentSource, S3Uri};
use trailwarden::Payload;
use trailwarden_testkit::{config, payload, plan};

fn respond(cfg: &Config, p: &Payload) -> (Case, Vec<PlannedStep<Step>>) {
    match LogDelivery::decide(cfg, p, &()) {
        Decision::Respond { case, plan } => (case, plan),
        Decision::Ignore(why) => panic!("ignored: {why}"),
    }
}

fn ignored(cfg: &Config, p: &Payload) -> String {
    match LogDelivery::decide(cfg, p, &()) {
        Decision::Ignore(why) => why,
        Decision::Respond { plan, .. } => panic!("not ignored: {plan:?}"),
    }
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

    let c = config::<LogDelivery>(&[(
        CUSTOM_DETECTIONS_URI,
        "s3://cfg-bucket/trailwarden/detections.json",
    )]);
    assert_eq!(
        c.custom_detections,
        Some(DocumentSource::S3(S3Uri::from_parts(
            "cfg-bucket",
            "trailwarden/detections.json"
        )))
    );
    for bad in [
        "s3://only-bucket",
        "s3:///key",
        "s3://Bad_Bucket/d.json",
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
    let c = config::<LogDelivery>(&[(CUSTOM_DETECTIONS_URI, good.to_str().unwrap())]);
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
    assert_eq!(e.var, CUSTOM_DETECTIONS_URI);
    let msg = e.to_string();
    assert!(msg.contains("detection \"typo-detection\""), "{msg}");
    assert!(msg.contains("unknown operator \"prefx\""), "{msg}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_delivered_log_file_is_one_read_only_scan_step() {
    let cfg = Config::defaults();
    let p = payload("s3-object-created-log-file.json");
    let (case, plan) = respond(&cfg, &p);
    assert_eq!(plan.len(), 1);
    let step = &plan[0];
    assert_eq!(step.status, Status::Planned);
    assert_eq!(step.step, Step::Scan { object: object(&p) });
    assert!(!step.step.changes(), "reading runs in a dry run too");
    assert!(step
        .step
        .target()
        .starts_with("s3://trailwarden-trail-123456789012/AWSLogs/123456789012/CloudTrail/"));
    assert!(matches!(
        &case.objects[0].kind,
        KeyKind::LogFile { account, region, .. } if account == "123456789012" && region == "us-east-1"
    ));
    assert_eq!(case.log_files().count(), 1);
}

#[test]
fn digest_insight_and_unrelated_objects_are_ignored_with_the_reason() {
    let cfg = Config::defaults();
    let why = ignored(&cfg, &payload("s3-object-created-digest-file.json"));
    assert!(why.starts_with("no CloudTrail log file: s3://"), "{why}");
    assert!(why.contains("digest file"), "{why}");
    let why = ignored(&cfg, &payload("s3-object-created-unrelated.json"));
    assert!(why.contains("no AWSLogs/ folder"), "{why}");

    // The offline plan says why, and lists every object as skipped in the statistics.
    let o = plan::<LogDelivery>(&[], "s3-object-created-digest-file.json");
    assert!(o.ignored.as_deref().unwrap().contains("digest file"));
    assert_eq!(o.stats.objects.len(), 1);
    assert_eq!(o.stats.objects[0].action, ObjectAction::Skip);
    assert_eq!(o.stats.objects_skipped, 1);
    assert_eq!(o.stats.detections, Config::defaults().catalog.len());
}

#[test]
fn a_classic_notification_key_is_decoded_before_it_is_classified() {
    let cfg = Config::defaults();
    let p = payload("s3-notification-log-file.json");
    assert!(object(&p)
        .key
        .starts_with("cloudtrail logs/AWSLogs/123456789012/CloudTrail/"));
    let (_, plan) = respond(&cfg, &p);
    assert_eq!(plan[0].status, Status::Planned);
}

#[test]
fn in_a_mixed_notification_only_log_files_are_scanned() {
    let cfg = Config::defaults();
    let log = object(&payload("s3-object-created-log-file.json"));
    let digest = object(&payload("s3-object-created-digest-file.json"));
    let p = Payload::S3Objects(vec![digest.clone(), log.clone()]);
    let (case, plan) = respond(&cfg, &p);
    assert_eq!(case.objects.len(), 2);
    assert_eq!(
        plan.iter().map(|s| s.status).collect::<Vec<_>>(),
        vec![Status::Skipped, Status::Planned]
    );
    assert_eq!(plan[0].step, Step::Scan { object: digest });
    assert!(plan[0].detail.as_deref().unwrap().contains("digest file"));
    assert_eq!(plan[1].step, Step::Scan { object: log });

    // Offline: the log file would be scanned, the digest is skipped; nothing read yet.
    let o = trailwarden::respond::plan_offline::<LogDelivery>(&cfg, &p);
    assert_eq!(o.ignored, None);
    assert!(o.alerts.is_empty());
    let actions: Vec<ObjectAction> = o.stats.objects.iter().map(|s| s.action).collect();
    assert_eq!(actions, vec![ObjectAction::Skip, ObjectAction::Scan]);
    assert_eq!(o.steps.len(), 2);
    assert_eq!(o.steps[1].step, "scan log file");
}

#[test]
fn payloads_that_are_not_s3_notifications_are_ignored_not_errors() {
    let cfg = config::<LogDelivery>(&[("DRY_RUN", "true")]);
    let p = payload("iam-create-user-by-iam-user.json");
    assert_eq!(ignored(&cfg, &p), NOT_S3);
    let o = trailwarden::respond::plan_offline::<LogDelivery>(&cfg, &p);
    assert!(o.ignored.unwrap().contains("not an S3 object"));
    assert!(o.alerts.is_empty());
    assert!(o.dry_run);
    let empty = Payload::S3Objects(Vec::new());
    assert!(ignored(&cfg, &empty).contains("no created object"));
}
