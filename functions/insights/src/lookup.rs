//! Pure: what the catalog finds among the events of the insight's API in its window.
//!
//! The events come from `cloudtrail:LookupEvents` (each a `CloudTrailEvent` JSON string, the
//! full record); they run through the same scanner as a delivered log file
//! ([`trailwarden::detect::Scanner`]), so thresholds count across them too. Besides the
//! detections that fired, the summary says who made the calls and with which errors: the
//! insight's own attributions are averages per minute, this is the count of real records.

use crate::decide::Window;
use serde::Serialize;
use std::collections::HashMap;
use trailwarden::detect::{Catalog, Counted, Scanner};
use trailwarden::{Record, Severity};

/// How many principals and error codes the summary keeps.
pub const TOP: usize = 5;

/// One detection that fired on the looked-up events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundDetection {
    pub detection: String,
    pub title: String,
    pub severity: Severity,
    /// Matching events.
    pub count: u64,
    /// Top principals among them.
    pub principals: Vec<Counted>,
}

/// The look-up's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogLook {
    /// Events of the API in the window (at most `INSIGHT_LOOKUP_MAX_EVENTS`).
    pub events: u64,
    /// More events existed than were read.
    pub truncated: bool,
    /// Events that carry an `errorCode`.
    pub failed: u64,
    /// Who made the calls, most first.
    pub principals: Vec<Counted>,
    /// The errors, most first.
    pub error_codes: Vec<Counted>,
    /// Events that could not be read as CloudTrail records.
    pub unreadable: u64,
    /// The detections that fired, most severe first.
    pub findings: Vec<FoundDetection>,
}

impl CatalogLook {
    /// The most severe detection found.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

fn top(counts: HashMap<String, u64>) -> Vec<Counted> {
    let mut v: Vec<Counted> = counts
        .into_iter()
        .map(|(value, count)| Counted { value, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    v.truncate(TOP);
    v
}

/// Runs the catalog over `events` (CloudTrail records as JSON text) and summarises them.
pub fn summarize(
    catalog: &Catalog,
    window: &Window,
    events: &[String],
    truncated: bool,
) -> CatalogLook {
    let mut principals: HashMap<String, u64> = HashMap::new();
    let mut errors: HashMap<String, u64> = HashMap::new();
    let mut failed = 0;
    let mut unreadable = 0;
    let mut file = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum::<usize>() + 16);
    file.extend_from_slice(b"{\"Records\":[");
    let mut first = true;
    for e in events {
        let Ok(r) = serde_json::from_str::<Record>(e) else {
            unreadable += 1;
            continue;
        };
        *principals.entry(r.principal().display()).or_default() += 1;
        if let Some(code) = r.error_code.as_deref().filter(|c| !c.is_empty()) {
            failed += 1;
            *errors.entry(code.to_string()).or_default() += 1;
        }
        if !first {
            file.push(b',');
        }
        first = false;
        file.extend_from_slice(e.trim().as_bytes());
    }
    file.extend_from_slice(b"]}");
    let mut scanner = Scanner::new(catalog);
    let name = format!("LookupEvents {}", window.describe());
    // In-memory JSON cannot fail to read; a record the scanner cannot evaluate is counted.
    let _ = scanner.scan_reader(&name, std::io::Cursor::new(file));
    let report = scanner.finish();
    let findings = report
        .findings
        .iter()
        .map(|f| FoundDetection {
            detection: f.detection.clone(),
            title: f.title.clone(),
            severity: f.severity,
            count: f.count,
            principals: f.principals.iter().take(3).cloned().collect(),
        })
        .collect();
    CatalogLook {
        events: events.len() as u64 - unreadable,
        truncated,
        failed,
        principals: top(principals),
        error_codes: top(errors),
        unreadable: unreadable + report.unparsed_records,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;
    use trailwarden::detect::BuiltinOptions;

    fn window() -> Window {
        Window {
            incident: "insight:x".into(),
            region: Some("us-east-1".into()),
            event_source: Some("iam.amazonaws.com".into()),
            event_name: "CreateAccessKey".into(),
            from: chrono::Utc.with_ymd_and_hms(2024, 5, 14, 10, 0, 0).unwrap(),
            to: chrono::Utc
                .with_ymd_and_hms(2024, 5, 14, 10, 15, 0)
                .unwrap(),
        }
    }

    fn key_for(user: &str, by: &str, error: Option<&str>) -> String {
        let mut v = json!({"eventVersion": "1.09", "eventTime": "2024-05-14T10:05:12Z",
            "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
            "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.20",
            "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:build-4711",
                "arn": format!("arn:aws:sts::123456789012:assumed-role/{by}/build-4711"),
                "accountId": "123456789012"},
            "requestParameters": {"userName": user},
            "eventID": format!("ev-{user}"), "eventType": "AwsApiCall", "readOnly": false,
            "recipientAccountId": "123456789012", "eventCategory": "Management"});
        if let Some(e) = error {
            v["errorCode"] = json!(e);
            v["errorMessage"] = json!("Cannot exceed quota for AccessKeysPerUser: 2");
        }
        v.to_string()
    }

    #[test]
    fn the_catalog_runs_over_the_events_and_the_callers_are_counted() {
        let catalog = Catalog::builtin(BuiltinOptions::default());
        let mut events: Vec<String> = (0..3)
            .map(|i| key_for(&format!("svc-{i}"), "ci-deploy", None))
            .collect();
        events.push(key_for("svc-8", "ci-deploy", Some("LimitExceeded")));
        events.push(key_for("svc-9", "intruder", Some("AccessDenied")));
        events.push("{not json".into());
        let look = summarize(&catalog, &window(), &events, true);
        assert_eq!(look.events, 5);
        assert_eq!(look.unreadable, 1);
        assert!(look.truncated);
        assert_eq!(look.failed, 2);
        assert_eq!(look.error_codes.len(), 2);
        assert_eq!(look.principals[0].count, 4);
        assert!(look.principals[0].value.contains("ci-deploy"));
        let denied = look
            .findings
            .iter()
            .find(|f| f.detection == "cis-4.1-unauthorized-api-calls")
            .expect("the denied call is a CIS 4.1 finding");
        assert_eq!(denied.count, 1);
        assert!(denied.principals[0].value.contains("intruder"));
        assert!(look.max_severity().is_some());
    }

    #[test]
    fn no_events_no_findings() {
        let catalog = Catalog::builtin(BuiltinOptions::default());
        let look = summarize(&catalog, &window(), &[], false);
        assert_eq!(look.events, 0);
        assert!(look.findings.is_empty() && look.principals.is_empty());
        assert_eq!(look.max_severity(), None);
    }
}
