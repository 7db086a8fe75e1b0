//! The log scan's rule, with the state in memory: the same events in a second file are left
//! out, a new event is not, a retry of the same file alerts again, and a threshold group
//! below its count in each of two files alerts when the two together cross it.

use serde_json::{json, Value};
use trailwarden::detect::{Catalog, ScanReport, Scanner};
use trailwarden_state::scan::{settle, EVENTS_PER_DETECTION};
use trailwarden_state::{keys, State};

fn catalog() -> Catalog {
    Catalog::from_json(
        &json!({"detections": [
            {"id": "trail-stopped", "title": "Trail stopped", "severity": "critical",
             "pattern": {"eventSource": ["cloudtrail.amazonaws.com"], "eventName": ["StopLogging"]}},
            {"id": "trust-changed", "title": "Role trust changed", "severity": "high",
             "pattern": {"eventSource": ["iam.amazonaws.com"], "eventName": ["UpdateAssumeRolePolicy"]}},
            {"id": "secret-reads", "title": "Secret reads", "severity": "medium",
             "pattern": {"eventSource": ["secretsmanager.amazonaws.com"], "eventName": ["GetSecretValue"]},
             "threshold": {"count": 3, "window_seconds": 300, "group_by": ["userIdentity.arn"]}}
        ]})
        .to_string(),
        "test",
    )
    .unwrap()
}

fn record(name: &str, id: &str, time: &str, who: &str, resource: &str) -> Value {
    let source = if name == "StopLogging" {
        "cloudtrail.amazonaws.com"
    } else {
        "secretsmanager.amazonaws.com"
    };
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::123456789012:user/{who}"),
                         "accountId": "123456789012", "userName": who},
        "eventTime": time, "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9", "requestParameters": {"name": resource, "secretId": resource},
        "responseElements": null, "eventID": id, "readOnly": name != "StopLogging",
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": "123456789012"
    })
}

fn scan(c: &Catalog, records: &[Value], own: &[String]) -> ScanReport {
    let mut s = Scanner::new(c)
        .keep_events(EVENTS_PER_DETECTION)
        .exclude_principals(own);
    let body = json!({"Records": records}).to_string().into_bytes();
    s.scan_reader("f.json", std::io::Cursor::new(body)).unwrap();
    s.finish()
}

fn ids(r: &ScanReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.detection.as_str()).collect()
}

#[tokio::test]
async fn the_same_events_in_another_file_are_left_out_and_a_retry_alerts_again() {
    let c = catalog();
    let state = State::memory();
    let stop = record(
        "StopLogging",
        "e1",
        "2024-09-12T08:41:07Z",
        "alice",
        "trail-a",
    );
    let a = keys::object_key("b", "file-a", None);
    let mut first = scan(&c, std::slice::from_ref(&stop), &[]);
    let s = settle(&state, &c, &mut first, &a, 3600).await;
    assert_eq!(ids(&first), ["trail-stopped"]);
    assert_eq!((s.opened, s.suppressed), (1, 0));

    // A copy of the record in another file: every incident is taken.
    let mut copy = scan(&c, std::slice::from_ref(&stop), &[]);
    settle(
        &state,
        &c,
        &mut copy,
        &keys::object_key("b", "file-b", None),
        3600,
    )
    .await;
    assert!(copy.findings.is_empty());
    assert_eq!(copy.suppressed.len(), 1);
    assert!(
        copy.suppressed[0].reason.contains("object#b/file-a"),
        "{:?}",
        copy.suppressed
    );

    // The same file again (a retry): its own incidents, alerted again.
    let mut retry = scan(&c, std::slice::from_ref(&stop), &[]);
    settle(&state, &c, &mut retry, &a, 3600).await;
    assert_eq!(ids(&retry), ["trail-stopped"]);

    // A file with the copy and a new incident (another trail): alerted whole.
    let other = record(
        "StopLogging",
        "e2",
        "2024-09-12T08:45:00Z",
        "alice",
        "trail-b",
    );
    let mut mixed = scan(&c, &[stop, other], &[]);
    settle(
        &state,
        &c,
        &mut mixed,
        &keys::object_key("b", "file-c", None),
        3600,
    )
    .await;
    assert_eq!(ids(&mixed), ["trail-stopped"]);
    assert_eq!(mixed.findings[0].count, 2);
}

#[tokio::test]
async fn a_threshold_crosses_across_two_files() {
    let c = catalog();
    let state = State::memory();
    let read = |id: &str, t: &str| record("GetSecretValue", id, t, "bob", "db-password");
    // Two reads in the first file, one in the second: three within five minutes.
    let mut one = scan(
        &c,
        &[
            read("r1", "2024-09-12T11:00:00Z"),
            read("r2", "2024-09-12T11:01:00Z"),
        ],
        &[],
    );
    settle(&state, &c, &mut one, "object#b/one#-", 3600).await;
    assert!(one.findings.is_empty(), "{:?}", ids(&one));
    let mut two = scan(&c, &[read("r3", "2024-09-12T11:02:30Z")], &[]);
    let s = settle(&state, &c, &mut two, "object#b/two#-", 3600).await;
    assert_eq!(ids(&two), ["secret-reads"]);
    assert_eq!(s.across, 1);
    let t = two.findings[0].threshold.as_ref().unwrap();
    assert!(t.across_deliveries);
    assert_eq!(t.groups[0].peak, 3);
    assert_eq!(t.groups[0].key, "arn:aws:iam::123456789012:user/bob");
    // The alert says the count spans deliveries.
    let alert = two.findings[0].to_alert("s3://b/two");
    assert!(
        alert.summary.contains("counted across log files"),
        "{}",
        alert.summary
    );
    // A later file repeating r3 (and nothing new) adds no alert: the incident is taken and
    // the counter counts r3 once.
    let mut three = scan(&c, &[read("r3", "2024-09-12T11:02:30Z")], &[]);
    settle(&state, &c, &mut three, "object#b/three#-", 3600).await;
    assert!(three.findings.is_empty());
}

#[tokio::test]
async fn records_of_trailwarden_s_own_roles_are_left_out_of_the_scan() {
    let c = catalog();
    let mut own = record("StopLogging", "e9", "2024-09-12T08:41:07Z", "x", "trail-a");
    own["userIdentity"] = json!({
        "type": "AssumedRole", "principalId": "AROAEXAMPLE:s",
        "arn": "arn:aws:sts::123456789012:assumed-role/trailwarden-WatchdogRole-1AB/s",
        "accountId": "123456789012",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
            "arn": "arn:aws:iam::123456789012:role/trailwarden-WatchdogRole-1AB",
            "accountId": "123456789012", "userName": "trailwarden-WatchdogRole-1AB"}}
    });
    let globs = vec!["arn:aws:iam::123456789012:role/trailwarden-*".to_string()];
    let r = scan(&c, std::slice::from_ref(&own), &globs);
    assert!(r.findings.is_empty());
    assert_eq!(r.own_records, 1);
    // Without the setting it is a finding.
    assert_eq!(ids(&scan(&c, &[own], &[])), ["trail-stopped"]);
}

/// An `UpdateAssumeRolePolicy` of the role `ops` by alice, trusting `principal`.
fn trust(id: &str, time: &str, principal: &str) -> Value {
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]});
    let mut r = record("StopLogging", id, time, "alice", "ops");
    r["eventSource"] = json!("iam.amazonaws.com");
    r["eventName"] = json!("UpdateAssumeRolePolicy");
    r["requestParameters"] = json!({"roleName": "ops", "policyDocument": doc.to_string()});
    r
}

#[tokio::test]
async fn a_decoy_change_does_not_claim_a_different_change_of_the_same_resource() {
    let c = catalog();
    let state = State::memory();
    // 13:05, a trust in the account itself: alerted (and, say, closed as benign).
    let decoy = trust(
        "t1",
        "2024-09-12T13:05:00Z",
        "arn:aws:iam::123456789012:root",
    );
    let mut first = scan(&c, std::slice::from_ref(&decoy), &[]);
    settle(&state, &c, &mut first, "object#b/one#-", 3600).await;
    assert_eq!(ids(&first), ["trust-changed"]);
    // 13:40, same user, same role, a trust in another account: a new incident.
    let backdoor = trust(
        "t2",
        "2024-09-12T13:40:00Z",
        "arn:aws:iam::999988887777:root",
    );
    let mut second = scan(&c, std::slice::from_ref(&backdoor), &[]);
    settle(&state, &c, &mut second, "object#b/two#-", 3600).await;
    assert_eq!(ids(&second), ["trust-changed"], "{:?}", second.suppressed);
    // 13:50, the first trust put back: the same incident as at 13:05, left out.
    let again = trust(
        "t3",
        "2024-09-12T13:50:00Z",
        "arn:aws:iam::123456789012:root",
    );
    let mut third = scan(&c, std::slice::from_ref(&again), &[]);
    settle(&state, &c, &mut third, "object#b/three#-", 3600).await;
    assert!(third.findings.is_empty(), "{:?}", third.findings);

    // The real-time path keys the event as the scan does.
    let kept = &second
        .events
        .iter()
        .find(|d| d.detection == "trust-changed")
        .unwrap()
        .events[0];
    let record: trailwarden::event::Record = serde_json::from_value(backdoor.clone()).unwrap();
    let realtime = keys::Fingerprint::of_event("trust-changed", &record, &backdoor, 3600);
    let scanned = keys::Fingerprint::plain(
        "trust-changed",
        kept.account.as_deref().unwrap_or_default(),
        &kept.principal,
        &kept.resource,
        kept.epoch,
        3600,
    )
    .with_content(kept.content.as_deref());
    assert_eq!(realtime.key(), scanned.key());
}
