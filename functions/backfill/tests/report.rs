//! Pure: batches' results add up into a summary, and the summary into one alert whose
//! severity is the worst thing found.

use backfill::report::{headline, severity, summary_alert};
use backfill::summary::{Entry, FileStatus, SummaryRequest, Totals};
use backfill::{BatchResult, DigestResult, ObjectKind, ObjectResult, Verdict};
use log_integrity::FindingKind;
use trailwarden::respond::Settings as _;
use trailwarden::Severity;

fn log(day: &str, n: u32, findings: &[(&str, u64)]) -> ObjectResult {
    let d = day.replace('-', "/");
    let stamp = day.replace('-', "");
    let mut r = ObjectResult::new(
        "org-trail-archive",
        &format!("AWSLogs/o-7k2m9x4q1z/111122223333/CloudTrail/us-east-1/{d}/111122223333_CloudTrail_us-east-1_{stamp}T{n:04}Z_AbCdEfGh12345678.json.gz"),
        ObjectKind::Log,
    );
    r.records = 100;
    r.bytes = 250_000;
    r.findings = findings.iter().map(|(d, n)| (d.to_string(), *n)).collect();
    r
}

fn digest(verdict: Verdict, problems: &[(FindingKind, &str)]) -> ObjectResult {
    let mut r = ObjectResult::new(
        "org-trail-archive",
        "AWSLogs/o-7k2m9x4q1z/111122223333/CloudTrail-Digest/us-east-1/2023/11/02/111122223333_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20231102T050512Z.json.gz",
        ObjectKind::Digest,
    );
    r.digest = Some(DigestResult {
        verdict,
        log_files: 12,
        problems: problems
            .iter()
            .map(|(k, f)| backfill::result::Problem {
                kind: *k,
                severity: k.severity(),
                file: f.to_string(),
                detail: "differs".into(),
            })
            .collect(),
        problems_total: problems.len() as u64,
    });
    r
}

fn request() -> SummaryRequest {
    SummaryRequest {
        source: "s3://org-trail-archive/AWSLogs/o-7k2m9x4q1z/".into(),
        results_bucket: "results".into(),
        results_prefix: "backfill/run".into(),
        ..Default::default()
    }
}

fn summarize(batches: &[BatchResult]) -> backfill::Summary {
    let mut t = Totals::default();
    for b in batches {
        t.add_batch(b);
    }
    t.finish(
        &backfill::Config::defaults().catalog.catalog,
        &request(),
        None,
    )
}

#[test]
fn detections_add_up_across_batches_with_their_days_and_examples() {
    let s = summarize(&[
        BatchResult {
            objects: vec![
                log("2022-03-01", 405, &[("cis-4.3-root-usage", 2)]),
                log(
                    "2023-07-19",
                    1210,
                    &[("cis-4.3-root-usage", 1), ("iam-user-created", 4)],
                ),
            ],
        },
        BatchResult {
            objects: vec![log("2021-12-31", 2355, &[("cis-4.3-root-usage", 5)])],
        },
    ]);
    assert!(s.complete);
    assert_eq!(s.objects.log_files, 3);
    assert_eq!(s.records, 300);
    let root = &s
        .detections
        .iter()
        .find(|d| d.detection == "cis-4.3-root-usage")
        .unwrap();
    assert_eq!((root.records, root.objects), (8, 3));
    assert_eq!(root.first_day.as_deref(), Some("2021-12-31"));
    assert_eq!(root.last_day.as_deref(), Some("2023-07-19"));
    assert_eq!(root.title, "Root user activity");
    assert_eq!(root.examples.len(), 3);
    // Most severe first: root use (high in the catalog) before a user created (medium)?
    let order: Vec<&str> = s.detections.iter().map(|d| d.detection.as_str()).collect();
    let sev: Vec<Severity> = s.detections.iter().map(|d| d.severity).collect();
    assert!(sev.windows(2).all(|w| w[0] >= w[1]), "{order:?} {sev:?}");
    assert_eq!(severity(&s), *sev.iter().max().unwrap());
}

#[test]
fn one_alert_names_each_detection_and_integrity_problem() {
    let s = summarize(&[BatchResult {
        objects: vec![
            log("2023-11-02", 405, &[("cis-4.3-root-usage", 2)]),
            digest(
                Verdict::Invalid,
                &[(
                    FindingKind::LogFileModified,
                    "s3://org-trail-archive/AWSLogs/x.json.gz",
                )],
            ),
            digest(Verdict::Valid, &[]),
        ],
    }]);
    let a = summary_alert(&s);
    assert_eq!(
        a.severity,
        Severity::Critical,
        "a modified log file is critical"
    );
    assert_eq!(a.detection, "backfill-summary");
    assert!(a.title.starts_with("Backfill of s3://org-trail-archive/AWSLogs/o-7k2m9x4q1z/: 3 objects, 1 detection fired"), "{}", a.title);
    assert!(
        a.title.contains("1 digest failed validation"),
        "{}",
        a.title
    );
    let fact = |k: &str| a.facts.iter().find(|(l, _)| l == k).map(|(_, v)| v.clone());
    assert!(fact("Digests")
        .unwrap()
        .starts_with("1 valid, 1 invalid, 0 not fully checked (24 log files hashed)"));
    assert!(fact("critical log file modified")
        .unwrap()
        .contains("s3://org-trail-archive/AWSLogs/x.json.gz"));
    let root = a
        .facts
        .iter()
        .find(|(l, _)| l.ends_with("cis-4.3-root-usage"))
        .unwrap();
    assert!(
        root.1
            .starts_with("Root user activity: 2 records in 1 file on 2023-11-02"),
        "{}",
        root.1
    );
}

#[test]
fn nothing_found_is_an_info_alert_and_failed_batches_make_it_incomplete_and_high() {
    let clean = summarize(&[BatchResult {
        objects: vec![log("2023-11-02", 405, &[])],
    }]);
    assert_eq!(
        severity(&clean),
        Severity::Info,
        "not published at the default MIN_SEVERITY"
    );
    assert!(
        headline(&clean).ends_with("1 object, nothing found"),
        "{}",
        headline(&clean)
    );

    let mut t = Totals::default();
    t.add_batch(&BatchResult {
        objects: vec![log("2023-11-02", 405, &[])],
    });
    let input = serde_json::json!({"Items": [{"Key": "AWSLogs/a.json.gz"}, {"Key": "AWSLogs/b.json.gz"}], "BatchInput": {"bucket": "org-trail-archive"}});
    t.add_entry(
        FileStatus::Failed,
        &Entry {
            status: Some("FAILED".into()),
            input: Some(input.to_string()),
            error: Some("States.Timeout".into()),
            cause: Some("The batch did not finish in time".into()),
            ..Default::default()
        },
    );
    let s = t.finish(
        &backfill::Config::defaults().catalog.catalog,
        &request(),
        None,
    );
    assert!(!s.complete);
    assert_eq!(s.objects.in_failed_batches, 2);
    assert_eq!(
        s.failed_batches[0].first.as_deref(),
        Some("s3://org-trail-archive/AWSLogs/a.json.gz")
    );
    assert_eq!(severity(&s), Severity::High);
    let a = summary_alert(&s);
    assert!(a.title.ends_with("INCOMPLETE"), "{}", a.title);
    assert!(a.summary.contains("Some batches failed every retry"));
}
