//! Golden tests of the Slack/Teams message (AWS Chatbot custom notification) for each kind of
//! alert the functions send, made by the functions themselves from the sample events: an
//! unapproved user and a credential made for another user, root sign-in and a root API call,
//! a world-open security group, log-file findings (a CIS control and CloudTrail tampering),
//! a log file deleted after delivery (log-integrity), a catalog detection in real time, a
//! change to trailwarden's own resources (tamper), a CloudTrail Insights incident and a trail
//! the watchdog no longer finds.
//!
//! `UPDATE_GOLDEN=1 cargo test -p trailwarden-functions --test chatbot` rewrites the files in
//! tests/golden/chatbot/ after a deliberate change; review the diff.

use serde_json::Value;
use std::path::PathBuf;
use trailwarden::Alert;
use trailwarden_destinations::chatbot;
use trailwarden_functions::Function;
use trailwarden_testkit::harness::events_dir;
use trailwarden_testkit::{config, env, payload};

const ENV: [(&str, &str); 2] = [("ACCOUNT_ALIAS", "prod-payments"), ("DRY_RUN", "true")];

fn planned(f: Function, event: &str, extra: &[(&str, &str)]) -> Vec<Alert> {
    let mut vars: Vec<(&str, &str)> = ENV.to_vec();
    vars.extend_from_slice(extra);
    f.plan(&env(&vars), &payload(event))
        .unwrap_or_else(|e| panic!("{event}: {e:#}"))
        .outcome
        .alerts
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/chatbot")
}

/// What Chatbot's schema and our own bounds require of every notification.
fn check_shape(name: &str, n: &Value) {
    assert_eq!(n["version"], "1.0", "{name}");
    assert_eq!(n["source"], "custom", "{name}");
    assert_eq!(n["content"]["textType"], "client-markdown", "{name}");
    let title = n["content"]["title"].as_str().unwrap();
    assert!(
        !title.is_empty() && title.chars().count() <= chatbot::MAX_TITLE,
        "{name}"
    );
    let desc = n["content"]["description"].as_str().unwrap();
    assert!(
        !desc.is_empty() && desc.chars().count() <= chatbot::MAX_DESCRIPTION,
        "{name}: {} chars",
        desc.chars().count()
    );
    let steps = n["content"]["nextSteps"].as_array().unwrap();
    assert!(steps.len() <= chatbot::MAX_NEXT_STEPS, "{name}");
    let keywords = n["content"]["keywords"].as_array().unwrap();
    assert!(
        !keywords.is_empty() && keywords.len() <= chatbot::MAX_KEYWORDS,
        "{name}"
    );
    let thread = n["metadata"]["threadId"].as_str().unwrap();
    assert!(
        thread.starts_with("trailwarden-") && thread.len() <= 64,
        "{name}"
    );
    assert!(
        n["metadata"]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{name}"
    );
    assert!(n["metadata"]["eventType"].as_str().is_some(), "{name}");
    assert!(n["metadata"]["relatedResources"].as_array().unwrap().len() <= chatbot::MAX_RELATED);
    // The message Chatbot receives is the JSON text, and SNS takes at most 256 KiB.
    assert!(n.to_string().len() < 16 * 1024, "{name}");
}

fn golden(name: &str, alert: &Alert) -> Value {
    let got = chatbot::notification(alert);
    check_shape(name, &got);
    let path = golden_dir().join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, &pretty).unwrap();
        return got;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to write it",
            path.display()
        )
    });
    let want: Value = serde_json::from_str(&want).unwrap();
    assert_eq!(
        got, want,
        "{name}: the notification changed; if deliberate, rerun with UPDATE_GOLDEN=1:\n{pretty}"
    );
    got
}

fn only(alerts: Vec<Alert>) -> Alert {
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    alerts.into_iter().next().unwrap()
}

#[test]
fn unapproved_user() {
    let a = only(planned(
        Function::UnapprovedUser,
        "iam-create-user-by-iam-user.json",
        &[],
    ));
    let n = golden("unapproved-user", &a);
    let d = n["content"]["description"].as_str().unwrap();
    assert!(d.starts_with("*DRY RUN: nothing was changed.*"), "{d}");
    assert!(
        d.contains("DeleteUser mallory: planned, not executed"),
        "{d}"
    );
    assert_eq!(
        n["metadata"]["relatedResources"][0],
        "arn:aws:iam::123456789012:user/mallory"
    );
}

#[test]
fn credential_for_another_user_threads_with_that_user() {
    let a = only(planned(
        Function::UnapprovedUser,
        "iam-create-access-key-for-other-user.json",
        &[],
    ));
    let n = golden("unapproved-user-credential", &a);
    assert!(n["content"]["title"].as_str().unwrap().contains("HIGH"));
}

#[test]
fn root_sign_in_and_root_api_call() {
    let a = only(planned(
        Function::RootActivity,
        "signin-root-success-no-mfa.json",
        &[],
    ));
    let n = golden("root-activity-sign-in", &a);
    assert!(n["content"]["title"]
        .as_str()
        .unwrap()
        .starts_with(":rotating_light: [CRITICAL]"));
    let b = only(planned(
        Function::RootActivity,
        "root-api-call-create-bucket.json",
        &[],
    ));
    let m = golden("root-activity-api-call", &b);
    // Both are about the account's root user: one thread.
    assert_eq!(n["metadata"]["threadId"], m["metadata"]["threadId"]);
}

#[test]
fn world_open_security_group() {
    let a = only(planned(
        Function::SecurityGroup,
        "ec2-authorize-ingress-nested-world-ssh.json",
        &[],
    ));
    let n = golden("security-group", &a);
    assert!(n["metadata"]["relatedResources"][0]
        .as_str()
        .unwrap()
        .ends_with(":security-group/sg-0a1b2c3d4e5f60718"));
    assert!(n["content"]["description"]
        .as_str()
        .unwrap()
        .contains("revoke ingress rule sg-0a1b2c3d4e5f60718"));
}

#[test]
fn log_delivery_findings() {
    use log_delivery::LogDelivery;
    let cfg = config::<LogDelivery>(&[("ACCOUNT_ALIAS", "prod-payments")]);
    let bytes = std::fs::read(
        events_dir()
            .join("logs/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz"),
    )
    .unwrap();
    let mut s = trailwarden::detect::Scanner::new(&cfg.catalog);
    s.scan_reader("fixture", std::io::Cursor::new(bytes))
        .expect("the fixture scans");
    let report = s.finish();
    let o = match payload("s3-object-created-log-file.json") {
        trailwarden::Payload::S3Objects(o) => o[0].clone(),
        other => panic!("{other:?}"),
    };
    let alerts = log_delivery::alerts_for(&cfg, &o, &report, None);
    let pick = |id: &str| {
        let mut a = alerts
            .iter()
            .find(|a| a.detection == id)
            .unwrap_or_else(|| panic!("no {id} alert"))
            .clone();
        a.account_alias = Some("prod-payments".into());
        a
    };
    let n = golden("log-delivery-cis-root-usage", &pick("cis-4.3-root-usage"));
    // A catalog detection brings its runbook as next steps.
    assert!(n["content"]["nextSteps"][0]
        .as_str()
        .unwrap()
        .starts_with("Ask the account owner"));
    golden(
        "log-delivery-cloudtrail-tampering",
        &pick("cloudtrail-tampering"),
    );
}

#[tokio::test]
async fn log_integrity_deleted_log_file() {
    use log_integrity::check::{check_digest, Options};
    use log_integrity::keys::KeySet;
    use log_integrity::store::{LocalStore, Location};
    let dir = std::env::temp_dir().join(format!("tw-chatbot-golden-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy(&events_dir().join("trail"), &dir);
    let prefix = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/";
    let victim = format!(
        "{prefix}123456789012_CloudTrail_us-east-1_20240514T1106Z_Ux4PBpVbB0Xq3Ycn.json.gz"
    );
    std::fs::remove_file(dir.join(&victim)).unwrap();
    let keys = KeySet::from_json(&std::fs::read(dir.join("public-keys.json")).unwrap()).unwrap();
    let digest = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T120131Z.json.gz";
    let check = check_digest(
        &AsS3(LocalStore::new(&dir)),
        &keys,
        &Options::default(),
        &Location::new("trailwarden-trail-123456789012", digest),
        None,
    )
    .await;
    let a = log_integrity::alert_for(&check, Some("prod-payments")).expect("an alert");
    let _ = std::fs::remove_dir_all(&dir);
    let n = golden("log-integrity-deleted-log-file", &a);
    assert!(n["content"]["title"]
        .as_str()
        .unwrap()
        .contains("1 log file deleted"));
}

/// A local copy of the trail bucket, named as the deployed function names objects
/// (`s3://bucket/key`).
struct AsS3(log_integrity::store::LocalStore);

impl log_integrity::store::Store for AsS3 {
    fn fetch(
        &self,
        at: &log_integrity::store::Location,
        version: Option<&str>,
        sink: &mut log_integrity::hash::ContentHasher,
    ) -> impl std::future::Future<
        Output = Result<log_integrity::store::Fetched, log_integrity::store::FetchError>,
    > + Send {
        self.0.fetch(at, version, sink)
    }

    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl std::future::Future<Output = Result<Vec<String>, log_integrity::store::StoreError>> + Send
    {
        self.0.list(bucket, prefix)
    }
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn real_time_catalog_detection() {
    let alerts = planned(Function::Catalog, "cloudtrail-stop-logging.json", &[]);
    let a = alerts
        .into_iter()
        .find(|a| a.detection == "cloudtrail-tampering")
        .expect("a cloudtrail-tampering alert");
    let n = golden("catalog-cloudtrail-tampering", &a);
    assert!(n["content"]["title"].as_str().unwrap().contains("CRITICAL"));
    // The detection's runbook is the first next step.
    assert!(!n["content"]["nextSteps"].as_array().unwrap().is_empty());
}

#[test]
fn change_to_trailwarden_itself() {
    let resources = [
        "rule=trailwarden-*",
        "function=trailwarden-*",
        "role=trailwarden-*",
        "bucket=trailwarden-trail-123456789012",
    ]
    .join(",");
    let a = only(planned(
        Function::Tamper,
        "eventbridge-disable-rule-trailwarden.json",
        &[("SELF_RESOURCES", resources.as_str())],
    ));
    let n = golden("tamper-rule-disabled", &a);
    assert!(n["content"]["title"].as_str().unwrap().contains("CRITICAL"));
}

#[test]
fn insights_incident() {
    let a = only(planned(
        Function::Insights,
        "insight-api-call-rate-start.json",
        &[],
    ));
    let n = golden("insights-api-call-rate", &a);
    assert!(
        n["content"]["description"]
            .as_str()
            .unwrap()
            .contains("baseline")
            || n["content"]["description"]
                .as_str()
                .unwrap()
                .contains("Baseline")
    );
}

#[test]
fn watchdog_trail_gone() {
    use trailwarden::respond::Reporting;
    use watchdog::execute::{Observation, TrailState};
    let cfg = config::<watchdog::Watchdog>(&[
        ("ACCOUNT_ALIAS", "prod-payments"),
        (
            "TRAIL_ARNS",
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail",
        ),
    ]);
    let case = watchdog::Case {
        at: Some("2024-09-12T09:02:00Z".parse().unwrap()),
        account: Some("123456789012".into()),
        rule: Some("trailwarden-WatchdogSchedule-1A2B3C4D5E6F".into()),
    };
    let output = watchdog::Output {
        observations: vec![Observation {
            trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/org-trail".into(),
            state: TrailState::Missing {
                detail: "TrailNotFoundException: Unknown trail".into(),
            },
        }],
        checked_at: Some("2024-09-12T09:02:00Z".parse().unwrap()),
    };
    let alerts = watchdog::Watchdog::report(&cfg, &case, &Vec::new(), Some(&output)).alerts;
    let n = golden("watchdog-trail-missing", &only(alerts));
    assert!(n["content"]["title"].as_str().unwrap().contains("CRITICAL"));
}

#[test]
fn large_alerts_stay_readable_and_bounded() {
    let mut a = only(planned(
        Function::UnapprovedUser,
        "iam-create-user-by-iam-user.json",
        &[],
    ));
    a.summary = "x ".repeat(20_000);
    for i in 0..200 {
        a = a.fact(format!("Rule {i}"), "y".repeat(2000));
        a.actions.push(trailwarden::Action::new(
            "revoke ingress rule",
            format!("sgr-{i:017}"),
            trailwarden::Status::Failed,
        ));
    }
    let n = chatbot::notification(&a);
    check_shape("large", &n);
    let d = n["content"]["description"].as_str().unwrap();
    assert!(d.contains("more details"), "{d}");
    assert!(n["content"]["nextSteps"][0]
        .as_str()
        .unwrap()
        .contains("response step(s) failed"));
}
