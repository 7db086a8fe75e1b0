//! `trailwarden import-sigma`: the example Sigma rules convert (and the unconvertible ones
//! are named with their reason), the result loads with `--detections` and finds what it
//! should in a CloudTrail log file.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

fn trailwarden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailwarden"))
        .args(args)
        .output()
        .expect("run trailwarden")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/detections/sigma-examples")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tw-sigma-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The JSON `trailwarden --format json <args>` prints; the command must succeed.
fn json_output(args: &[&str]) -> Value {
    let o = trailwarden(&[&["--format", "json"], args].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// CloudTrail records and identities, shared with the Sigma converter's own tests.
#[path = "../../shared/tests/fixtures/cloudtrail.rs"]
mod cloudtrail;

fn iam_user(name: &str) -> Value {
    cloudtrail::iam_user("111122223333", name)
}

/// A session of an EC2 instance's role.
fn role_session(role: &str) -> Value {
    let mut id = cloudtrail::assumed_role("111122223333", role, "i-0a1b2c3d4e5f60718");
    id["sessionContext"]["ec2RoleDelivery"] = json!("2.0");
    id
}

/// A CloudTrail record as the service writes it.
fn record(
    time: &str,
    source: &str,
    name: &str,
    identity: Value,
    user_agent: &str,
    request: Value,
    response: Value,
) -> Value {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut r = cloudtrail::record();
    for (field, value) in [
        ("userIdentity", identity),
        ("eventTime", json!(time)),
        ("eventSource", json!(source)),
        ("eventName", json!(name)),
        ("awsRegion", json!("eu-west-1")),
        ("userAgent", json!(user_agent)),
        ("requestParameters", request),
        ("responseElements", response),
        (
            "requestID",
            json!(format!("5d1c9f0e-7a3b-4c2d-9e8f-{n:012}")),
        ),
        ("eventID", json!(format!("a8b7c6d5-e4f3-4a2b-8c1d-{n:012}"))),
        (
            "readOnly",
            json!(name.starts_with("Get") || name.starts_with("List")),
        ),
    ] {
        r[field] = value;
    }
    r["tlsDetails"]["clientProvidedHostHeader"] =
        json!(source.replace(".amazonaws.com", ".eu-west-1.amazonaws.com"));
    r
}

fn failed(mut r: Value, code: &str, message: &str) -> Value {
    r["errorCode"] = json!(code);
    r["errorMessage"] = json!(message);
    r["responseElements"] = Value::Null;
    r
}

const CLI: &str = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1016-aws md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off md/command#s3.ls";
const BOTO: &str = "Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#6.1.79-99.164.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.50";

fn log_records() -> Vec<Value> {
    let trail = "arn:aws:cloudtrail:eu-west-1:111122223333:trail/management-events";
    let mut v = vec![
        record("2025-03-04T10:00:05Z", "cloudtrail.amazonaws.com", "StopLogging", iam_user("mallory"), CLI,
               json!({"name": trail}), Value::Null),
        failed(
            record("2025-03-04T10:00:01Z", "cloudtrail.amazonaws.com", "StopLogging", iam_user("intern"), CLI,
                   json!({"name": trail}), Value::Null),
            "AccessDenied",
            "User: arn:aws:iam::111122223333:user/intern is not authorized to perform: cloudtrail:StopLogging on resource: arn:aws:cloudtrail:eu-west-1:111122223333:trail/management-events because no identity-based policy allows the cloudtrail:StopLogging action",
        ),
        record("2025-03-04T10:01:00Z", "cloudtrail.amazonaws.com", "StartLogging", iam_user("admin"), CLI,
               json!({"name": trail}), Value::Null),
        record("2025-03-04T10:02:00Z", "s3.amazonaws.com", "ListBuckets", iam_user("mallory"), CLI,
               json!({"Host": "s3.eu-west-1.amazonaws.com"}), Value::Null),
        record("2025-03-04T10:02:30Z", "s3.amazonaws.com", "ListBuckets", role_session("inventory"), BOTO,
               json!({"Host": "s3.eu-west-1.amazonaws.com"}), Value::Null),
        record("2025-03-04T10:03:00Z", "ec2.amazonaws.com", "ModifySnapshotAttribute", iam_user("mallory"), CLI,
               json!({"snapshotId": "snap-0123456789abcdef0", "createVolumePermission": {"add": {"items": [{"group": "all"}]}}, "attributeType": "CREATE_VOLUME_PERMISSION"}),
               json!({"requestId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "_return": true})),
        record("2025-03-04T10:03:30Z", "ec2.amazonaws.com", "ModifySnapshotAttribute", iam_user("admin"), CLI,
               json!({"snapshotId": "snap-0123456789abcdef0", "createVolumePermission": {"remove": {"items": [{"group": "all"}]}}, "attributeType": "CREATE_VOLUME_PERMISSION"}),
               json!({"requestId": "1f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "_return": true})),
        record("2025-03-04T10:04:00Z", "iam.amazonaws.com", "CreateAccessKey", iam_user("mallory"),
               "S3 Browser 11.5.7 https://s3browser.com",
               json!({"userName": "backup-svc"}),
               json!({"accessKey": {"userName": "backup-svc", "accessKeyId": "AKIA4Z7EXAMPLEKEY009", "status": "Active", "createDate": "Mar 4, 2025 10:04:00 AM"}})),
        record("2025-03-04T10:04:30Z", "iam.amazonaws.com", "CreateAccessKey", iam_user("admin"), CLI,
               json!({"userName": "ci-bot"}),
               json!({"accessKey": {"userName": "ci-bot", "accessKeyId": "AKIA4Z7EXAMPLEKEY010", "status": "Active", "createDate": "Mar 4, 2025 10:04:30 AM"}})),
    ];
    // Twelve secrets read by one role session in three minutes; three by another.
    for i in 0..12u32 {
        v.push(record(
            &format!("2025-03-04T10:{:02}:{:02}Z", 10 + i / 4, (i % 4) * 15),
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            role_session("web-frontend"),
            BOTO,
            json!({"secretId": format!("prod/db/replica-{i}")}),
            Value::Null,
        ));
    }
    for i in 0..3u32 {
        v.push(record(
            &format!("2025-03-04T10:2{i}:00Z"),
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            role_session("billing"),
            BOTO,
            json!({"secretId": format!("prod/billing/key-{i}")}),
            Value::Null,
        ));
    }
    v
}

fn findings(report: &Value) -> BTreeMap<String, u64> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["detection"].as_str().unwrap().to_string(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_sigma_examples_convert_load_and_scan() {
    let dir = scratch("examples");
    let out = dir.join("sigma.json");
    let o = trailwarden(&[
        "import-sigma",
        examples().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    // One line per refused rule: the file, the title and why.
    let refused: Vec<&str> = err.lines().filter(|l| l.contains(": refused ")).collect();
    assert_eq!(refused.len(), 3, "{err}");
    for (file, title, why) in [
        (
            "aws_instance_credentials_regex.yml",
            "Instance Role Credentials Used Outside EC2",
            "regular expressions",
        ),
        (
            "aws_iam_inline_policy_text.yml",
            "Inline User Policy Granting Every Bucket Object",
            "requestParameters is an object",
        ),
        (
            "aws_ec2_deletions_except_tags.yml",
            "EC2 Resources Deleted",
            "cannot put two conditions on one field",
        ),
    ] {
        assert!(
            refused
                .iter()
                .any(|l| l.contains(file) && l.contains(title) && l.contains(why)),
            "{file}: {err}"
        );
    }
    assert!(err.contains("converted 5 of 8 rule(s)"), "{err}");

    let file: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(file["family"], "sigma");
    let ids: Vec<&str> = file["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    let expected = [
        "cloudtrail-trail-stopped-or-deleted",
        "ebs-snapshot-or-ami-shared-with-everyone",
        "iam-credentials-created-from-s3-browser",
        "burst-of-secret-reads-by-one-identity",
        "s3-buckets-listed-by-an-iam-user-or-root",
    ];
    for id in expected {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }

    // The file loads as detections, next to the built-ins.
    let listed = json_output(&["detections", "--detections", out.to_str().unwrap()]);
    let sigma: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["family"] == "sigma")
        .collect();
    assert_eq!(sigma.len(), 5);
    assert!(listed.as_array().unwrap().len() > 5, "built-ins kept");

    // And it finds what the rules mean in a log file, and not the near misses.
    let logs = dir.join("AWSLogs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("111122223333_CloudTrail_eu-west-1_20250304T1025Z_Xy7aB3cD9eF1gH2i.json"),
        serde_json::to_vec(&json!({"Records": log_records()})).unwrap(),
    )
    .unwrap();
    let report = json_output(&[
        "scan",
        "--detections",
        out.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    let found = findings(&report);
    assert_eq!(
        found.get("cloudtrail-trail-stopped-or-deleted"),
        Some(&1),
        "the failed StopLogging and StartLogging are not: {found:?}"
    );
    assert_eq!(
        found.get("s3-buckets-listed-by-an-iam-user-or-root"),
        Some(&1),
        "the role's listing is not: {found:?}"
    );
    assert_eq!(
        found.get("ebs-snapshot-or-ami-shared-with-everyone"),
        Some(&1),
        "removing 'all' is not: {found:?}"
    );
    assert_eq!(
        found.get("iam-credentials-created-from-s3-browser"),
        Some(&1),
        "the CLI's key is not: {found:?}"
    );
    assert_eq!(
        found.get("burst-of-secret-reads-by-one-identity"),
        Some(&12),
        "the burst's twelve reads, not the other role's three: {found:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nothing_convertible_or_unusable_input_exits_2() {
    let dir = scratch("refused");
    let out = dir.join("never-written.json");
    let regex = examples().join("aws_instance_credentials_regex.yml");
    let o = trailwarden(&[
        "import-sigma",
        regex.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("aws_instance_credentials_regex.yml: refused \"Instance Role Credentials Used Outside EC2\""), "{err}");
    assert!(err.contains("no rule could be converted"), "{err}");
    assert!(!out.exists());

    let broken = dir.join("broken.yml");
    std::fs::write(
        &broken,
        "title: Broken\ndetection:\n  selection: [unclosed\n",
    )
    .unwrap();
    let o = trailwarden(&["import-sigma", broken.to_str().unwrap()]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("broken.yml: refused \"-\": not a readable YAML document"),
        "{err}"
    );

    let o = trailwarden(&["import-sigma", dir.join("missing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("does not exist"));

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = trailwarden(&["import-sigma", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no .yml or .yaml files"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_an_output_file_the_detections_go_to_stdout() {
    let rule = examples().join("aws_cloudtrail_logging_stopped.yml");
    let o = trailwarden(&["import-sigma", rule.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let file: Value = serde_json::from_slice(&o.stdout).expect("stdout is the detection file");
    assert_eq!(file["detections"].as_array().unwrap().len(), 1);
    assert_eq!(
        file["detections"][0]["pattern"]["errorCode"],
        json!([{"exists": false}])
    );
    assert!(text(&o.stderr).contains("converted 1 of 1 rule(s)"));
}
