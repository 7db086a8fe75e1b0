//! The hand-off, with the state in memory: once root-activity's alert for a root access key is
//! out, the log scan leaves out the catalog's findings for that event (root usage, root access
//! key) and keeps the rest; an alert that failed, was held back or was milder hands nothing
//! off, so the log scan alerts as before.

use serde_json::{json, Value};
use trailwarden::alert::{Alert, Severity};
use trailwarden::detect::{BuiltinOptions, Catalog, ScanReport, Scanner};
use trailwarden::respond::Delivery;
use trailwarden::Payload;
use trailwarden_state::scan::{settle, EVENTS_PER_DETECTION};
use trailwarden_state::{Handoff, State, StateSettings};

fn root_key(id: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "Root", "principalId": "123456789012",
                         "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012",
                         "accessKeyId": "ASIAEXAMPLEROOTKEY01",
                         "sessionContext": {"attributes": {"creationDate": "2026-11-30T09:58:00Z", "mfaAuthenticated": "true"}}},
        "eventTime": "2026-11-30T10:00:00Z", "eventSource": "iam.amazonaws.com",
        "eventName": "CreateAccessKey", "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23", "userAgent": "aws-cli/2.15.0 Python/3.11.6",
        "requestParameters": null,
        "responseElements": {"accessKey": {"accessKeyId": "AKIAEXAMPLEROOT00001", "status": "Active",
                             "userName": "", "createDate": "Nov 30, 2026 10:00:00 AM"}},
        "requestID": "c7b4f0a2-8a43-4b5e-9f5e-1f2d3c4b5a69", "eventID": id,
        "readOnly": false, "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": "123456789012", "eventCategory": "Management"
    })
}

fn stop_logging(id: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEMALLORY01",
                         "arn": "arn:aws:iam::123456789012:user/mallory", "accountId": "123456789012",
                         "accessKeyId": "AKIAEXAMPLEMALLORY1", "userName": "mallory"},
        "eventTime": "2026-11-30T10:01:00Z", "eventSource": "cloudtrail.amazonaws.com",
        "eventName": "StopLogging", "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.15.0 Python/3.11.6",
        "requestParameters": {"name": "arn:aws:cloudtrail:us-east-1:123456789012:trail/org"},
        "responseElements": null, "eventID": id, "readOnly": false, "eventType": "AwsApiCall",
        "managementEvent": true, "recipientAccountId": "123456789012", "eventCategory": "Management"
    })
}

fn payload(record: &Value) -> Payload {
    Payload::from_value(json!({
        "version": "0", "id": "0d4f6f4e-61e4-4c39-a1b4-8d1f0f3c9a11",
        "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
        "account": "123456789012", "time": "2026-11-30T10:00:03Z", "region": "us-east-1",
        "resources": [], "detail": record
    }))
    .unwrap()
}

fn alert(severity: Severity) -> Alert {
    Alert::new(
        severity,
        "root-user-activity",
        "Root user created an access key",
    )
}

fn sent() -> Delivery {
    Delivery::Sent {
        message_id: "m-1".into(),
    }
}

fn scan(c: &Catalog, records: &[Value]) -> ScanReport {
    let mut s = Scanner::new(c).keep_events(EVENTS_PER_DETECTION);
    let body = json!({"Records": records}).to_string().into_bytes();
    s.scan_reader("f.json", std::io::Cursor::new(body)).unwrap();
    s.finish()
}

fn ids(r: &ScanReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.detection.as_str()).collect()
}

const OWNED: [&str; 2] = ["cis-4.3-root-usage", "root-access-key-created"];

#[tokio::test]
async fn the_log_scan_leaves_out_what_the_responder_alerted_and_keeps_the_rest() {
    let c = Catalog::builtin(BuiltinOptions::default());
    let state = State::memory();
    let settings = StateSettings::default();
    let h = Handoff::new("root-activity", state.clone(), &settings);
    let key = root_key("e-root-1");
    let handed = h
        .record(&payload(&key), &[alert(Severity::Critical)], &[sent()])
        .await;
    let mut recorded: Vec<&str> = handed
        .recorded
        .iter()
        .map(|f| f.detection.as_str())
        .collect();
    recorded.sort();
    assert_eq!(recorded, OWNED, "{handed:?}");

    let mut report = scan(&c, &[key, stop_logging("e-stop-1")]);
    for id in OWNED {
        assert!(ids(&report).contains(&id), "{:?}", ids(&report));
    }
    let s = settle(&state, &c, &mut report, "object#b/f#-", 3600).await;
    assert_eq!(s.suppressed, 2, "{s:?}");
    let left = ids(&report);
    for id in OWNED {
        assert!(!left.contains(&id), "{id} alerted twice: {left:?}");
    }
    assert!(
        left.iter()
            .any(|d| d.contains("cloudtrail") || d.contains("trail")),
        "the trail stop is still alerted: {left:?}"
    );
    assert!(report
        .suppressed
        .iter()
        .any(|x| x.reason.contains("root-activity:e-root-1")));

    // Another root key, later the same hour, is a new incident only if it is another event
    // on another resource; the same event in a second file stays left out.
    let mut again = scan(&c, &[root_key("e-root-1")]);
    settle(&state, &c, &mut again, "object#b/g#-", 3600).await;
    assert!(ids(&again).iter().all(|d| !OWNED.contains(d)));
}

#[tokio::test]
async fn nothing_is_handed_off_when_the_responder_s_alert_did_not_go_out_or_was_milder() {
    let c = Catalog::builtin(BuiltinOptions::default());
    let settings = StateSettings::default();
    let cases: [(&str, Vec<Alert>, Vec<Delivery>); 4] = [
        (
            "failed",
            vec![alert(Severity::Critical)],
            vec![Delivery::Failed {
                error: "throttled".into(),
            }],
        ),
        (
            "held back",
            vec![alert(Severity::Critical)],
            vec![Delivery::BelowThreshold {
                severity: Severity::Critical,
            }],
        ),
        ("milder", vec![alert(Severity::Low)], vec![sent()]),
        ("no alert", vec![], vec![]),
    ];
    for (what, alerts, delivery) in cases {
        let state = State::memory();
        let h = Handoff::new("root-activity", state.clone(), &settings);
        let key = root_key("e-root-2");
        let handed = h.record(&payload(&key), &alerts, &delivery).await;
        assert!(handed.recorded.is_empty(), "{what}: {handed:?}");
        assert_eq!(handed.kept.len(), 2, "{what}: {handed:?}");
        let mut report = scan(&c, &[key]);
        settle(&state, &c, &mut report, "object#b/f#-", 3600).await;
        for id in OWNED {
            assert!(ids(&report).contains(&id), "{what}: {id} lost");
        }
    }
}

#[test]
fn a_responder_hands_off_only_the_detections_that_name_it() {
    let settings = StateSettings::default();
    let root = Handoff::new("root-activity", State::memory(), &settings);
    let users = Handoff::new("unapproved-user", State::memory(), &settings);
    let key = payload(&root_key("e-root-3"));
    let mut of_root: Vec<String> = root
        .incidents(&key)
        .into_iter()
        .map(|(d, _)| d.id.clone())
        .collect();
    of_root.sort();
    assert_eq!(of_root, OWNED);
    assert!(users.incidents(&key).is_empty());
    assert!(root
        .incidents(&payload(&stop_logging("e-stop-2")))
        .is_empty());
    assert!(root
        .detections()
        .iter()
        .all(|d| d.responder.as_deref() == Some("root-activity")));
}
