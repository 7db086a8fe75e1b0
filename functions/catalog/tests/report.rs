//! Wording: a real-time alert reads as the log scan's alert for the same record, except for
//! where the record was seen; a threshold alert counts the group across deliveries.

use catalog::execute::{Count, Opened, Output};
use catalog::{Config, Facts, RealtimeCatalog};
use serde_json::json;
use trailwarden::alert::Status;
use trailwarden::detect::Scanner;
use trailwarden::respond::Settings as _;
use trailwarden::respond::{Decide, Decision, Reporting};
use trailwarden_state::{window, Fingerprint};
use trailwarden_testkit::{fixture, payload, plan};

#[test]
fn a_real_time_alert_reads_as_the_log_scan_s_for_the_same_record() {
    let cfg = Config::defaults();
    let event = fixture("cloudtrail-stop-logging.json");
    let log = json!({"Records": [event["detail"]]})
        .to_string()
        .into_bytes();
    let mut scanner = Scanner::new(&cfg.detections.catalog);
    let uri = "s3://trail-bucket/AWSLogs/123456789012/CloudTrail/us-east-1/2024/09/12/f.json.gz";
    scanner.scan_reader(uri, std::io::Cursor::new(log)).unwrap();
    let report = scanner.finish();
    let realtime = plan::<RealtimeCatalog>(&[], "cloudtrail-stop-logging.json");
    assert_eq!(report.findings.len(), realtime.alerts.len());
    for f in &report.findings {
        let scanned = f.to_alert(uri);
        let live = realtime
            .alerts
            .iter()
            .find(|a| a.detection == f.detection)
            .unwrap_or_else(|| panic!("{} not alerted in real time", f.detection));
        assert_eq!(live.title, scanned.title);
        assert_eq!(live.severity, scanned.severity);
        assert_eq!(live.references, scanned.references);
        assert_eq!(live.event, scanned.event);
        assert_eq!(live.account, scanned.account);
        assert_eq!(live.region, scanned.region);
        let same = live
            .summary
            .replace("in real time (EventBridge)", &format!("in {uri}"))
            .replace(
                "this is a report of the call as CloudTrail recorded it, seconds after it was made.",
                "this is a report of what the log file holds.",
            );
        assert_eq!(same, scanned.summary, "{}", f.detection);
        let facts = |a: &trailwarden::Alert| -> Vec<(String, String)> {
            a.facts
                .iter()
                .filter(|(k, _)| !["Seen", "Log file", "Incident"].contains(&k.as_str()))
                .cloned()
                .collect()
        };
        assert_eq!(facts(live), facts(&scanned));
        assert!(live
            .facts
            .contains(&("Seen".into(), "real time (EventBridge)".into())));
        assert!(live.facts.iter().any(|(k, v)| k == "Incident"
            && v.starts_with(&format!(
                "{} by arn:aws:iam::123456789012:user/deploy-legacy",
                f.detection
            ))));
    }
}

#[test]
fn a_crossed_threshold_alert_counts_the_group_across_deliveries() {
    let cfg = Config::defaults();
    let p = payload("secretsmanager-get-secret-value.json");
    let Decision::Respond { case, mut plan } = RealtimeCatalog::decide(&cfg, &p, &Facts::default())
    else {
        panic!("ignored")
    };
    let d = cfg
        .detections
        .catalog
        .get("secretsmanager-secret-value-burst")
        .unwrap();
    let t = d.threshold.clone().unwrap();
    // The counter holds 15 reads within four minutes, this one the last.
    let entries: Vec<(i64, String)> = (0..t.count as i64)
        .map(|i| (1_726_138_999 - 240 + i * 16, format!("read-{i}")))
        .collect();
    let times: Vec<i64> = entries.iter().map(|e| e.0).collect();
    let crossing = window::crossing(&times, t.count, t.window_seconds).unwrap();
    let fp = Fingerprint::threshold(
        &d.id,
        "arn:aws:iam::123456789012:user/ci-runner | AKIAR2KXG7EXAMPLECIK",
        crossing.at,
        t.window_seconds,
    );
    let mut output = Output::default();
    output.counts.insert(
        d.id.clone(),
        Count {
            entries: entries.clone(),
            peak: t.count as usize,
            crossing: Some(crossing),
            degraded: None,
        },
    );
    output.claims.insert(
        d.id.clone(),
        Opened::New {
            fingerprint: fp,
            retry: false,
        },
    );
    for s in &mut plan {
        s.status = Status::Done;
    }
    let r = RealtimeCatalog::report(&cfg, &case, &plan, Some(&output));
    assert_eq!(r.alerts.len(), 1);
    let a = &r.alerts[0];
    assert_eq!(a.title, format!("{}: {} events", d.title, t.count));
    assert!(
        a.summary.contains(&format!(
            "Threshold: at least {} within {} s per userIdentity.arn + userIdentity.accessKeyId, \
             counted across log files, regions and the real-time path; 1 group over it.",
            t.count, t.window_seconds
        )),
        "{}",
        a.summary
    );
    assert!(a.facts.contains(&(
        "Groups over threshold".into(),
        format!(
            "arn:aws:iam::123456789012:user/ci-runner | AKIAR2KXG7EXAMPLECIK (peak {} in {} s, \
             {} in all)",
            t.count, t.window_seconds, t.count
        )
    )));
    assert!(a.facts.contains(&(
        "Sample event IDs".into(),
        "read-0, read-1, read-2, read-3, read-4".into()
    )));
    assert_eq!(r.stats.alerted, vec![d.id.clone()]);
}

#[test]
fn a_duplicate_alerts_nothing_and_an_unavailable_state_alerts_and_says_so() {
    let cfg = Config::defaults();
    let p = payload("cloudtrail-stop-logging.json");
    let Decision::Respond { case, plan } = RealtimeCatalog::decide(&cfg, &p, &Facts::default())
    else {
        panic!("ignored")
    };
    let fp = |d: &str| Fingerprint::plain(d, "111111111111", "p", "r", Some(0), 3600);
    let mut output = Output::default();
    output.claims.insert(
        "cloudtrail-tampering".into(),
        Opened::Duplicate {
            fingerprint: fp("cloudtrail-tampering"),
            owner: "object#trail-bucket/AWSLogs/f.json.gz#-".into(),
            at: None,
            published: true,
        },
    );
    output.claims.insert(
        "cis-4.5-cloudtrail-config-changes".into(),
        Opened::Unavailable {
            fingerprint: fp("cis-4.5-cloudtrail-config-changes"),
            error: "state table t: ResourceNotFoundException: Requested resource not found".into(),
        },
    );
    let r = RealtimeCatalog::report(&cfg, &case, &plan, Some(&output));
    assert_eq!(r.stats.duplicates, ["cloudtrail-tampering"]);
    assert_eq!(r.alerts.len(), 1);
    let a = &r.alerts[0];
    assert_eq!(a.detection, "cis-4.5-cloudtrail-config-changes");
    assert!(a.facts.iter().any(|(k, v)| k == "State"
        && v.starts_with("unavailable, so duplicates were not suppressed")
        && v.contains("ResourceNotFoundException")));
    assert_eq!(r.stats.state_warnings.len(), 1);
}
