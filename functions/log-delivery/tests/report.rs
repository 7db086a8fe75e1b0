//! Pure tests of `report`: the sample log file scanned locally, then reported as a live run
//! would report it (findings, statistics), with a few golden checks on wording.

use log_delivery::report::VANISHED;
use log_delivery::{
    alerts_for, Config, LogDelivery, ObjectAction, ObjectScan, Scans, Step,
    EXCLUDE_FEDERATED_SIGNIN, UNREADABLE_DETECTION,
};
use std::collections::BTreeMap;
use trailwarden::alert::{Alert, Severity, Status};
use trailwarden::detect::{ScanError, ScanReport, Scanner};
use trailwarden::payload::S3Object;
use trailwarden::respond::Settings as _;
use trailwarden::respond::{Decide, Decision, Reporting, Stats};
use trailwarden::Payload;
use trailwarden_testkit::harness::events_dir;
use trailwarden_testkit::harness::fact;
use trailwarden_testkit::{config, payload};

const LOG_FILE: &str =
    "logs/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";

fn log_file() -> Vec<u8> {
    std::fs::read(events_dir().join(LOG_FILE)).unwrap()
}

fn scan_bytes(cfg: &Config, bytes: Vec<u8>) -> (ScanReport, Option<ScanError>) {
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

fn by_detection(alerts: &[Alert]) -> BTreeMap<String, &Alert> {
    alerts.iter().map(|a| (a.detection.clone(), a)).collect()
}

/// The fixture log file through the whole catalog: what a user of the default configuration
/// would be told about it.
#[test]
fn the_fixture_log_file_yields_one_alert_per_detection() {
    let cfg = config::<LogDelivery>(&[("ACCOUNT_ALIAS", "prod-payments")]);
    let (report, err) = scan_bytes(&cfg, log_file());
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
            ("ec2-world-open-admin-port", 1),
            ("ec2-world-open-ingress", 1),
            ("iam-user-created", 1),
        ])
    );
    assert_eq!(alerts.len(), 11);

    let root = got["cis-4.3-root-usage"];
    // CIS monitors are compliance evidence: root use is medium (the other CIS ones low).
    assert_eq!(root.severity, Severity::Medium);
    assert_eq!(fact(root, "Principals"), "root user of 123456789012 (2)");
    assert_eq!(fact(root, "First"), "2024-08-01T13:30:05Z");
    assert_eq!(fact(root, "Last"), "2024-08-01T13:30:42Z");
    assert!(fact(root, "Events").contains("ConsoleLogin (1)"));
    assert_eq!(root.account.as_deref(), Some("123456789012"));
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
        .starts_with("123456789012 | HIDDEN_DUE_TO_SECURITY_REASONS (peak 5 in 300 s"));
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
    let all = config::<LogDelivery>(&[(EXCLUDE_FEDERATED_SIGNIN, "false")]);
    let (report, _) = scan_bytes(&all, log_file());
    let f = report
        .findings
        .iter()
        .find(|f| f.detection == "cis-4.2-console-signin-without-mfa")
        .unwrap();
    assert_eq!(f.count, 3);
}

/// Golden wording: the root-use alert's title and subject as a user sees them.
#[test]
fn golden_root_use_title_and_subject() {
    let cfg = Config::defaults();
    let (report, _) = scan_bytes(&cfg, log_file());
    let o = object(&payload("s3-object-created-log-file.json"));
    let mut alerts = alerts_for(&cfg, &o, &report, None);
    let root = alerts
        .iter_mut()
        .find(|a| a.detection == "cis-4.3-root-usage")
        .unwrap();
    assert_eq!(root.title, "Root user activity: 2 events");
    root.account_alias = Some("prod-payments".into());
    assert!(root
        .subject()
        .starts_with("[MEDIUM] Root user activity: 2 events (prod-payments 123456789012)"));
}

#[test]
fn a_truncated_file_gets_an_alert_naming_bucket_key_and_how_far_it_got() {
    let cfg = Config::defaults();
    let bytes = log_file();
    let cut = bytes[..bytes.len() * 2 / 3].to_vec();
    let (report, err) = scan_bytes(&cfg, cut);
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
    assert_eq!(a.severity, Severity::Medium);
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

/// A walked plan, as the runner hands it to `report`: statistics per object and in total.
#[test]
fn report_counts_what_each_step_became() {
    let cfg = Config::defaults();
    let log = object(&payload("s3-object-created-log-file.json"));
    let mut gone = log.clone();
    gone.key = gone.key.replace("Xy7pQ2mN4bR8sT1v", "deletedmeanwhile");
    let mut broken = log.clone();
    broken.key = broken.key.replace("Xy7pQ2mN4bR8sT1v", "unreachable00000");
    let digest = object(&payload("s3-object-created-digest-file.json"));
    let p = Payload::S3Objects(vec![log.clone(), digest, gone, broken]);
    let Decision::Respond { case, mut plan } = LogDelivery::decide(&cfg, &p, &()) else {
        panic!("ignored")
    };
    // What execution made of the steps.
    plan[0].status = Status::Done;
    plan[2].status = Status::Skipped;
    plan[2].detail = Some(VANISHED.into());
    plan[3].status = Status::Failed;
    plan[3].detail = Some("s3:GetObject: AccessDenied: Access Denied".into());
    let (rep, error) = scan_bytes(&cfg, log_file());
    let scans = Scans {
        scans: vec![ObjectScan {
            object: log.clone(),
            report: rep,
            error,
            duration_ms: 12,
        }],
        ..Default::default()
    };
    let r = LogDelivery::report(&cfg, &case, &plan, Some(&scans));
    assert_eq!(r.alerts.len(), 11);
    let s = &r.stats;
    let actions: Vec<ObjectAction> = s.objects.iter().map(|o| o.action).collect();
    assert_eq!(
        actions,
        vec![
            ObjectAction::Scanned,
            ObjectAction::Skip,
            ObjectAction::Skip,
            ObjectAction::Failed
        ]
    );
    assert_eq!(
        (s.objects_scanned, s.objects_skipped, s.objects_failed),
        (1, 2, 1)
    );
    assert_eq!(s.records, 22);
    assert_eq!(s.compressed_bytes, 3788);
    assert_eq!(s.findings, 11);
    assert_eq!(s.objects[0].records, Some(22));
    assert_eq!(s.objects[2].reason.as_deref(), Some(VANISHED));
    assert!(s.objects[3]
        .error
        .as_deref()
        .unwrap()
        .contains("AccessDenied"));
    assert!(s.lines().contains(&("records", "22".to_string())));

    // Serialized as before: the action strings stay.
    let v = serde_json::to_value(s).unwrap();
    assert_eq!(v["objects"][0]["action"], "scanned");
    assert_eq!(v["objects"][1]["action"], "skip");
    assert_eq!(v["objects"][3]["action"], "failed");

    // Offline (nothing read): no alerts, the log file is still to be scanned.
    let Decision::Respond { case, plan } = LogDelivery::decide(&cfg, &p, &()) else {
        panic!("ignored")
    };
    let r = LogDelivery::report(&cfg, &case, &plan, None);
    assert!(r.alerts.is_empty());
    assert_eq!(r.stats.objects[0].action, ObjectAction::Scan);
    assert_eq!(
        plan.iter().map(|s| &s.step).collect::<Vec<&Step>>().len(),
        4
    );
}

/// A read cut by the network is not reported now: the step failed and the retry reads the
/// whole file.
#[test]
fn a_transiently_cut_scan_gives_no_alert() {
    let cfg = Config::defaults();
    let log = object(&payload("s3-object-created-log-file.json"));
    let p = Payload::S3Objects(vec![log.clone()]);
    let Decision::Respond { case, mut plan } = LogDelivery::decide(&cfg, &p, &()) else {
        panic!("ignored")
    };
    plan[0].status = Status::Failed;
    let (rep, _) = scan_bytes(&cfg, log_file());
    let cut = ScanError {
        name: "x".into(),
        error: trailwarden::logfile::LogError::Read {
            message: "connection reset".into(),
            progress: Default::default(),
        },
    };
    assert!(cut.error.is_transient());
    let scans = Scans {
        scans: vec![ObjectScan {
            object: log,
            report: rep,
            error: Some(cut),
            duration_ms: 1,
        }],
        ..Default::default()
    };
    let r = LogDelivery::report(&cfg, &case, &plan, Some(&scans));
    assert!(r.alerts.is_empty(), "{:?}", r.alerts);
    assert_eq!(r.stats.objects[0].action, ObjectAction::ScannedIncomplete);
}
