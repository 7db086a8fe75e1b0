//! Every sample payload in events/ parses into the shared model, and every log file in
//! events/ yields CloudTrail records.

use std::path::{Path, PathBuf};
use trailwarden::{Payload, Record};

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn all_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    files(&events_dir(), &mut out);
    out.sort();
    out
}

#[test]
fn every_sample_payload_parses() {
    let mut n = 0;
    for p in all_files() {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") || p.to_string_lossy().contains("/trail/") {
            continue;
        }
        if name.contains("public-keys") || name.starts_with("detections") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let payload = Payload::parse(&bytes)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", p.display()));
        match &payload {
            Payload::CloudTrail(env) => {
                let r = &env.detail;
                // Insight records name the API inside insightDetails, not at the top.
                assert!(
                    (r.event_name.is_some() && r.event_source.is_some()) || payload.is_insight(),
                    "{name}: record without eventName/eventSource"
                );
                assert!(r.event_id.is_some(), "{name}: no eventID");
                // The time on the envelope and in the record must both be ISO 8601.
                assert!(r.time().is_some(), "{name}: eventTime does not parse");
                if r.event_name() == "ConsoleLogin" {
                    assert_eq!(r.request_id, None, "{name}: ConsoleLogin has no requestID");
                    assert_eq!(env.source.as_deref(), Some("aws.signin"), "{name}");
                }
                // Global services' events arrive in us-east-1, except console sign-ins of IAM
                // users and federated users, which CloudTrail records in the region of the
                // sign-in endpoint used (root sign-ins stay in us-east-1).
                let regional_signin = r.event_source() == "signin.amazonaws.com"
                    && r.user_identity
                        .as_ref()
                        .and_then(|u| u.identity_type.as_deref())
                        != Some("Root");
                if !regional_signin
                    && matches!(
                        r.event_source(),
                        "iam.amazonaws.com" | "signin.amazonaws.com" | "sts.amazonaws.com"
                    )
                {
                    assert_eq!(
                        env.region.as_deref(),
                        Some("us-east-1"),
                        "{name}: global service events arrive in us-east-1"
                    );
                }
            }
            Payload::S3Objects(objs) => {
                assert!(!objs.is_empty(), "{name}: no objects");
                for o in objs {
                    assert!(!o.key.contains('%'), "{name}: key still URL-encoded");
                }
            }
            Payload::S3Deleted(objs) => {
                assert!(!objs.is_empty(), "{name}: no objects");
                for o in objs {
                    assert!(o.reason.is_some(), "{name}: no reason");
                }
            }
            Payload::Schedule(s) => {
                assert!(s.time.is_some(), "{name}: no time");
                assert!(!s.resources.is_empty(), "{name}: no rule ARN");
            }
            Payload::Record(_) => {}
        }
        n += 1;
    }
    assert!(n >= 10, "only {n} sample payloads found in events/");
}

#[test]
fn every_sample_log_file_yields_records() {
    use std::io::Read;
    let mut n = 0;
    for p in all_files() {
        let name = p.to_string_lossy().to_string();
        if !name.ends_with(".json.gz") || name.contains("CloudTrail-Digest") {
            continue;
        }
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let Some(records) = v["Records"].as_array() else {
            continue; // digest or other file
        };
        assert!(!records.is_empty(), "{name}: empty Records");
        for (i, r) in records.iter().enumerate() {
            let rec: Record = trailwarden::payload::record_from_value(r.clone(), "")
                .unwrap_or_else(|e| panic!("{name} record {i}: {e}"));
            let _ = rec.principal();
        }
        n += 1;
    }
    assert!(n >= 1, "no CloudTrail log file in events/");
}

#[test]
fn tricky_shapes_from_real_records() {
    // A failed sign-in hides the user name and has no arn/principalId; no requestID.
    let p = Payload::parse(br#"{"version":"0","id":"1","detail-type":"AWS Console Sign In via CloudTrail",
        "source":"aws.signin","account":"123456789012","time":"2024-08-01T13:33:28Z","region":"us-east-1",
        "resources":[],"detail":{"eventVersion":"1.08","userIdentity":{"type":"IAMUser",
        "accountId":"123456789012","accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"},
        "eventTime":"2024-08-01T13:33:28Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
        "awsRegion":"us-east-1","sourceIPAddress":"075.050.255.67","userAgent":"Mozilla/5.0",
        "errorMessage":"Failed authentication","requestParameters":null,
        "responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"},
        "eventID":"e1","readOnly":false,"eventType":"AwsConsoleSignIn"}}"#)
        .unwrap();
    let r = p.record().unwrap();
    assert_eq!(r.request_id, None);
    assert_eq!(r.principal().kind(), "IAMUser");
    assert_eq!(
        r.response_element("ConsoleLogin").and_then(|v| v.as_str()),
        Some("Failure")
    );
    assert_eq!(r.source_ip_address.as_deref(), Some("075.050.255.67"));
    // Dates in responseElements are not ISO 8601 and stay raw text.
    let r: Record = serde_json::from_str(
        r#"{"responseElements":{"user":{"createDate":"Aug 1, 2024 1:33:28 PM"}}}"#,
    )
    .unwrap();
    assert_eq!(
        r.response_element("user.createDate")
            .and_then(|v| v.as_str()),
        Some("Aug 1, 2024 1:33:28 PM")
    );
}
