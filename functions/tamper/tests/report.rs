//! Wording: what the alerts say a person needs to know (who, what, on which resource, what
//! it means, what to do), for the sample events and for re-check results.

use log_integrity::check::{DigestCheck, FindingKind};
use log_integrity::store::Location;
use log_integrity::Finding;
use serde_json::json;
use tamper::execute::Recheck;
use tamper::{Case, FileKind, Output, Tamper};
use trailwarden::respond::{plan_offline, Decide, Decision, Reporting};
use trailwarden::{Payload, Severity, Status};
use trailwarden_testkit::{config, fixture, harness::fact, payload};

fn cfg(extra: &[(&str, &str)]) -> tamper::Config {
    let resources =
        "stack=trailwarden,rule=trailwarden-*,function=trailwarden-*,role=trailwarden-*,\
                     bucket=trailwarden-trail-123456789012";
    let mut vars = vec![
        ("SELF_RESOURCES", resources),
        (
            "TRAIL_ARNS",
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/trailwarden-trail",
        ),
    ];
    vars.extend_from_slice(extra);
    config::<Tamper>(&vars)
}

fn alert(cfg: &tamper::Config, name: &str) -> trailwarden::Alert {
    let o = plan_offline::<Tamper>(cfg, &payload(name));
    assert!(o.ignored.is_none(), "{name}: {:?}", o.ignored);
    assert_eq!(o.alerts.len(), 1);
    o.alerts[0].clone()
}

#[test]
fn a_disabled_rule_says_who_what_from_where_and_what_to_do() {
    let a = alert(&cfg(&[]), "eventbridge-disable-rule-trailwarden.json");
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.detection, "self-eventbridge-rule");
    assert_eq!(
        a.title,
        "trailwarden's EventBridge rule changed: DisableRule trailwarden-LogDeliveryFunctionLogFileDelivered-1R2Q3P4O5N6M7"
    );
    assert!(a
        .summary
        .starts_with("One of the EventBridge rules that route events to trailwarden"));
    assert!(a.summary.contains(
        "arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/mallory called DisableRule (events) on \
         trailwarden-LogDeliveryFunctionLogFileDelivered-1R2Q3P4O5N6M7 from 198.51.100.23 in \
         us-east-1 at 2024-08-03T02:14:08Z. The call succeeded."
    ), "{}", a.summary);
    assert!(a
        .summary
        .contains("\n\nWhat to do: Find out who made the call"));
    assert_eq!(
        fact(&a, "Changed by"),
        "arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/mallory (AssumedRole)"
    );
    assert_eq!(
        fact(&a, "Request"),
        r#"{"name":"trailwarden-LogDeliveryFunctionLogFileDelivered-1R2Q3P4O5N6M7"}"#
    );
    assert_eq!(
        a.evidence.as_ref().unwrap()["requestParameters"]["name"],
        "trailwarden-LogDeliveryFunctionLogFileDelivered-1R2Q3P4O5N6M7"
    );
    assert!(a.references.iter().any(|r| r.contains("T1562/001")));
    let r = a.render();
    assert!(
        r.subject.len() < 100 && r.subject.is_ascii(),
        "{}",
        r.subject
    );
}

#[test]
fn an_empty_notification_configuration_is_explained() {
    let a = alert(&cfg(&[]), "s3-put-bucket-notification-empty.json");
    assert!(a.summary.contains(
        "S3 no longer sends the bucket's events to EventBridge, so no delivered log file or \
         digest reaches log-delivery or log-integrity from now on."
    ));
    assert_eq!(fact(&a, "Resource"), "trailwarden-trail-123456789012");
}

#[test]
fn a_stop_without_restart_says_how_to_turn_logging_back_on() {
    let a = alert(&cfg(&[]), "cloudtrail-stop-logging-trailwarden.json");
    assert!(
        a.summary.contains(
            "Logging stays off: turn it back on (aws cloudtrail start-logging --name \
         arn:aws:cloudtrail:us-east-1:123456789012:trail/trailwarden-trail), or deploy with \
         RestartLogging=true"
        ),
        "{}",
        a.summary
    );
    // The offline plan of a restart is a dry run: said so, step planned.
    let a = alert(
        &cfg(&[("RESTART_LOGGING", "true")]),
        "cloudtrail-stop-logging-trailwarden.json",
    );
    assert!(a.summary.contains("this is a dry run"), "{}", a.summary);
    assert_eq!(a.actions[0].step, "StartLogging");
    assert_eq!(a.actions[0].status, Status::Planned);
}

#[test]
fn a_failed_attempt_says_nothing_changed_and_why_the_severity_is_lower() {
    let mut v = fixture("lambda-delete-function-trailwarden.json");
    v["detail"]["errorCode"] = json!("AccessDeniedException");
    v["detail"]["errorMessage"] = json!("User is not authorized to perform: lambda:DeleteFunction");
    let o = plan_offline::<Tamper>(&cfg(&[]), &Payload::from_value(v).unwrap());
    let a = &o.alerts[0];
    assert_eq!(a.severity, Severity::High);
    assert!(a.title.ends_with(", failed"), "{}", a.title);
    assert!(
        a.summary.contains(
            "The call failed (AccessDeniedException: User is not authorized to perform: \
         lambda:DeleteFunction): nothing was changed, but someone with this principal tried \
         (severity lowered from critical to high)."
        ),
        "{}",
        a.summary
    );
}

fn check(file: &str, listed: &[&str], findings: Vec<Finding>) -> DigestCheck {
    DigestCheck {
        location: Location::new("trailwarden-trail-123456789012", file),
        file: format!("s3://trailwarden-trail-123456789012/{file}"),
        digest: None,
        trail: Some("management-events".into()),
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
        period: None,
        signature_verified: true,
        signature_source: None,
        log_files: listed
            .iter()
            .map(|k| log_integrity::check::LogFileCheck {
                location: Location::new("trailwarden-trail-123456789012", *k),
                file: format!("s3://trailwarden-trail-123456789012/{k}"),
                status: log_integrity::check::FileStatus::Missing,
                reason: None,
            })
            .collect(),
        previous: None,
        restart: None,
        findings,
        bytes_read: 0,
    }
}

#[test]
fn a_deleted_log_file_listed_by_a_digest_is_critical_and_the_finding_is_named() {
    let log = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1006Z_Ux4PBpVbB0Xq3Ycn.json.gz";
    let digest = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T110131Z.json.gz";
    let config = cfg(&[]);
    let p = payload("s3-object-deleted-log-file.json");
    let Decision::Respond { case, mut plan } = Tamper::decide(&config, &p, &()) else {
        panic!("ignored")
    };
    assert!(matches!(case, Case::Objects(_)));
    plan[0].status = Status::Done;
    let finding = Finding {
        kind: FindingKind::LogFileMissing,
        severity: FindingKind::LogFileMissing.severity(),
        file: format!("s3://trailwarden-trail-123456789012/{log}"),
        detail: "listed in the digest but no longer exists: it was deleted".into(),
    };
    let output = Output {
        rechecks: vec![Recheck {
            file: format!("s3://trailwarden-trail-123456789012/{log}"),
            kind: FileKind::LogFile,
            checks: vec![check(digest, &[log], vec![finding])],
            related: vec![format!("s3://trailwarden-trail-123456789012/{digest}")],
        }],
        ..Output::default()
    };
    let r = Tamper::report(&config, &case, &plan, Some(&output));
    let a = &r.alerts[0];
    assert_eq!(
        a.severity,
        Severity::Critical,
        "a listed file is gone: evidence destroyed"
    );
    assert_eq!(a.detection, "self-trail-file-deleted");
    assert!(
        a.summary.starts_with(&format!(
            "123456789012 deleted s3://trailwarden-trail-123456789012/{log} from 198.51.100.23 at \
         2024-05-14T13:22:05Z. The bucket is versioned, so the deleted version is still there \
         behind a delete marker (version Qm3xE8vR1tY5uI9oP2aS6dF0gH4jK7lZ)"
        )),
        "{}",
        a.summary
    );
    assert!(
        a.summary.contains(&format!(
            "It found 1 problem(s): log file deleted (s3://trailwarden-trail-123456789012/{log}): \
         listed in the digest but no longer exists: it was deleted."
        )),
        "{}",
        a.summary
    );
    assert_eq!(r.stats.problems_found, 1);
    assert_eq!(
        a.evidence.as_ref().unwrap()["findings"][0]["kind"],
        "log_file_missing"
    );

    // No digest lists it yet: high, and what happens next is said.
    let output = Output {
        rechecks: vec![Recheck {
            file: format!("s3://trailwarden-trail-123456789012/{log}"),
            kind: FileKind::LogFile,
            checks: Vec::new(),
            related: Vec::new(),
        }],
        ..Output::default()
    };
    let r = Tamper::report(&config, &case, &plan, Some(&output));
    assert_eq!(r.alerts[0].severity, Severity::High);
    assert!(r.alerts[0]
        .summary
        .contains("No digest lists this file yet"));
}

#[test]
fn every_sample_events_alert_renders_within_sns_limits() {
    let config = cfg(&[("RESTART_LOGGING", "true")]);
    for name in [
        "eventbridge-disable-rule-trailwarden.json",
        "lambda-delete-function-trailwarden.json",
        "s3-put-bucket-notification-empty.json",
        "cloudtrail-stop-logging-trailwarden.json",
        "s3-delete-object-digest.json",
        "s3-object-deleted-log-file.json",
    ] {
        let a = alert(&config, name);
        let r = a.render();
        assert!(
            r.subject.len() < 100 && r.subject.is_ascii(),
            "{name}: {}",
            r.subject
        );
        assert!(a.severity >= Severity::High, "{name}");
    }
}
