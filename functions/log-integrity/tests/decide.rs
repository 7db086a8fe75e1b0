//! Pure decisions from the sample events: which objects are verified, which are skipped and
//! why, and the offline plan (no AWS call).

use log_integrity::{LogIntegrity, SkipReason, Step};
use serde_json::json;
use trailwarden::alert::Status;
use trailwarden::respond::{plan_offline, Decide, Decision, StepKind};
use trailwarden::s3key::{classify, TrailObject};
use trailwarden::{Payload, Severity};
use trailwarden_testkit::{config, fixture, payload, plan};

fn decide(p: &Payload) -> Decision<log_integrity::Case, Step> {
    LogIntegrity::decide(&config::<LogIntegrity>(&[]), p, &())
}

#[test]
fn a_digest_notification_plans_one_read_only_verification() {
    let p = payload("s3-notification-digest-file.json");
    let Payload::S3Objects(objs) = &p else {
        panic!("fixture is not an S3 notification")
    };
    let Decision::Respond { case, plan } = decide(&p) else {
        panic!("a digest is verified")
    };
    assert_eq!(case.digests.len(), 1);
    assert!(case.skipped.is_empty());
    assert_eq!(plan.len(), 1);
    let step = &plan[0].step;
    assert_eq!(step.name(), "VerifyDigest");
    assert_eq!(
        step.target(),
        format!("s3://{}/{}", objs[0].bucket, objs[0].key)
    );
    assert!(
        !step.changes(),
        "verifying changes nothing, so it runs in a dry run too"
    );
    assert_eq!(plan[0].status, Status::Planned);
    assert!(objs[0].key.contains("/CloudTrail-Digest/us-east-1/"));
}

#[test]
fn the_offline_plan_lists_what_would_be_verified() {
    let o = plan::<LogIntegrity>(&[("DRY_RUN", "true")], "s3-notification-digest-file.json");
    assert_eq!(o.ignored, None);
    assert!(o.dry_run);
    assert_eq!(o.steps.len(), 1);
    assert_eq!(o.steps[0].status, Status::Planned);
    assert_eq!(o.stats.digests_planned, 1);
    assert_eq!(o.stats.digests_checked, 0, "nothing was read");
    assert_eq!(o.alerts.len(), 1);
    assert_eq!(o.alerts[0].severity, Severity::Info);
    assert_eq!(o.alerts[0].actions, o.steps);
    assert!(o.alerts[0].dry_run);
}

#[test]
fn an_eventbridge_digest_of_an_organization_trail_is_verified() {
    // Trail `mytrail_us-east-1`, organization layout, delivered for eu-west-1.
    let p = payload("s3-object-created-digest-org-trail.json");
    let Decision::Respond { case, plan } = decide(&p) else {
        panic!("a digest is verified")
    };
    assert_eq!(case.digests.len(), 1);
    let Step::VerifyDigest { bucket, key, .. } = &plan[0].step;
    assert_eq!(bucket, "aws-controltower-logs-111122223333-us-east-1");
    let TrailObject::Digest(k) = classify(key) else {
        panic!("{key} is a digest")
    };
    assert_eq!(k.folder.organization.as_deref(), Some("o-a1b2c3d4e5"));
    assert_eq!(
        [
            &k.name.account,
            &k.name.region,
            &k.name.trail,
            &k.name.home_region
        ],
        [
            "123456789012",
            "eu-west-1",
            "mytrail_us-east-1",
            "us-east-1"
        ]
    );
    // The restart sample is a digest too.
    assert!(matches!(
        decide(&payload("s3-object-created-digest-chain-restart.json")),
        Decision::Respond { .. }
    ));
}

#[test]
fn other_objects_are_skipped_with_a_reason() {
    let log = Payload::from_value(json!({"detail-type": "Object Created", "source": "aws.s3",
        "region": "us-east-1",
        "detail": {"bucket": {"name": "trail"}, "object": {"key":
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1455Z_x.json.gz"}}}))
    .unwrap();
    let Decision::Ignore(why) = decide(&log) else {
        panic!("a log file alone is not verified")
    };
    assert!(why.contains("a CloudTrail log file, not a digest"), "{why}");
    let check = Payload::from_value(json!({"detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": "trail"}, "object": {"key":
        "AWSLogs/123456789012/CloudTrail/ConfigWritabilityCheckFile"}}}))
    .unwrap();
    assert!(matches!(decide(&check), Decision::Ignore(_)));
    let Payload::S3Objects(objs) = &check else {
        panic!()
    };
    assert_eq!(
        log_integrity::decide::skip_reason(&objs[0]),
        Some(SkipReason::WritabilityCheck)
    );

    // A notification with a digest and a log file: the log file is a skipped step.
    let mut both = fixture("s3-notification-digest-file.json");
    let mut second = both["Records"][0].clone();
    second["s3"]["object"]["key"] = json!(
        "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1455Z_x.json.gz"
    );
    both["Records"].as_array_mut().unwrap().push(second);
    let Decision::Respond { case, plan } = decide(&Payload::from_value(both).unwrap()) else {
        panic!("the digest is verified")
    };
    assert_eq!(case.skipped.len(), 1);
    assert_eq!(case.skipped[0].1, SkipReason::LogFile);
    assert_eq!(
        plan.iter().map(|s| s.status).collect::<Vec<_>>(),
        vec![Status::Planned, Status::Skipped]
    );
}

#[test]
fn cloudtrail_api_events_are_not_for_this_function() {
    let p = Payload::from_value(json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
        "detail": {"eventVersion": "1.09", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}}))
    .unwrap();
    let o = plan_offline::<LogIntegrity>(&config::<LogIntegrity>(&[]), &p);
    assert!(o.ignored.unwrap().contains("not an S3 Object Created"));
}

#[tokio::test]
async fn the_handler_rejects_unknown_payloads_without_any_call() {
    // No endpoint and no credentials: any AWS call would fail.
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let svc = trailwarden_testkit::service::<LogIntegrity>(&sdk, &[("DRY_RUN", "yes")])
        .await
        .unwrap();
    let e = trailwarden_testkit::invoke(&svc, &json!([1, 2]))
        .await
        .unwrap_err();
    assert!(e.contains("found an array"), "{e}");
    let out = trailwarden_testkit::invoke(
        &svc,
        &json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
            "detail": {"eventVersion": "1.09", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}}),
    )
    .await
    .unwrap();
    assert!(out["ignored"]
        .as_str()
        .unwrap()
        .contains("not an S3 Object Created"));
}

/// Issue 15: digest names are read from both ends (trail names may contain `_` and end in
/// something region-like), in every layout CloudTrail writes. These are the cases this
/// function depends on, checked against the shared classifier it uses.
#[test]
fn the_shared_classifier_reads_digest_names_from_both_ends() {
    let digest = |key: &str| match classify(key) {
        TrailObject::Digest(k) => k,
        other => panic!("{key}: {other:?}"),
    };
    // A backfilled digest of trail `mytrail_us-east-1` for eu-west-1, home region us-east-1.
    let k = digest("AWSLogs/123456789012/CloudTrail-Digest/eu-west-1/2024/05/14/123456789012_CloudTrail-Digest_eu-west-1_mytrail_us-east-1_us-east-1_20240514T150131Z.json.gz");
    assert_eq!(k.name.trail, "mytrail_us-east-1");
    assert_eq!(k.name.region, "eu-west-1");
    assert_eq!(k.name.home_region, "us-east-1");
    assert_eq!(k.name.timestamp, "20240514T150131Z");
    // A trail name made of region-like parts.
    let k = digest("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_us-west-2_eu-west-1_us-east-1_20240514T150131Z.json.gz");
    assert_eq!(
        (k.name.trail.as_str(), k.name.home_region.as_str()),
        ("us-west-2_eu-west-1", "us-east-1")
    );
    // Organization layout under a prefix.
    let k = digest("central/logs/AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail-Digest/ap-southeast-2/2024/12/31/123456789012_CloudTrail-Digest_ap-southeast-2_org_trail_us-east-1_20241231T235959Z.json.gz");
    assert_eq!(k.folder.prefix, "central/logs");
    assert_eq!(k.folder.organization.as_deref(), Some("o-a1b2c3d4e5"));
    assert_eq!(k.folder.account, "123456789012");
    assert_eq!(k.folder.date, "2024-12-31");
    assert_eq!(k.name.trail, "org_trail");
    for bad in [
        // an 11-digit account
        "AWSLogs/12345678901/CloudTrail-Digest/us-east-1/2024/05/14/12345678901_CloudTrail-Digest_us-east-1_t_us-east-1_20240514T150131Z.json.gz",
        // no home region
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_t_20240514T150131Z.json.gz",
        // folder and name disagree on the region, or on the account
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-2/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240514T150131Z.json.gz",
        "AWSLogs/210987654321/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240514T150131Z.json.gz",
        // a minute-only timestamp; a month 13
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240514T1501Z.json.gz",
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/13/14/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240514T150131Z.json.gz",
    ] {
        assert!(!matches!(classify(bad), TrailObject::Digest(_)), "{bad}");
    }
    // A log file of the organization layout, with the time its name gives.
    match classify("p/AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1455Z_Ux4PBpVbB0Xq3Ycn.json.gz") {
        TrailObject::LogFile(l) => {
            assert_eq!(l.name.timestamp, "20240514T1455Z");
            assert_eq!(l.folder.organization.as_deref(), Some("o-a1b2c3d4e5"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn anything_under_the_digest_folder_is_verified_even_with_a_name_cloudtrail_never_writes() {
    // Planted next to the real digests: verified (and found wanting), not skipped.
    let p = Payload::from_value(json!({"detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": "trail"}, "object": {"key":
        "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/readme.json.gz"}}}))
    .unwrap();
    assert!(matches!(decide(&p), Decision::Respond { .. }));
}
