//! Pure tests: configuration, and the plan for sample events in `events/` (which detections
//! match, what is counted, which incident is opened), without any AWS call.

use catalog::{Config, Facts, RealtimeCatalog, Step, NOT_AN_EVENT};
use serde_json::{json, Value};
use trailwarden::alert::{Severity, Status};
use trailwarden::respond::{plan_offline, Decide, Decision, PlannedStep, Settings, StepKind};
use trailwarden::Payload;
use trailwarden_testkit::{config, fixture, payload, plan};

fn respond(cfg: &Config, p: &Payload, facts: &Facts) -> (catalog::Case, Vec<PlannedStep<Step>>) {
    match RealtimeCatalog::decide(cfg, p, facts) {
        Decision::Respond { case, plan } => (case, plan),
        Decision::Ignore(why) => panic!("ignored: {why}"),
    }
}

fn ignored(cfg: &Config, p: &Payload, facts: &Facts) -> String {
    match RealtimeCatalog::decide(cfg, p, facts) {
        Decision::Ignore(why) => why,
        Decision::Respond { plan, .. } => panic!("not ignored: {plan:?}"),
    }
}

fn claims(plan: &[PlannedStep<Step>]) -> Vec<(String, Option<String>)> {
    plan.iter()
        .filter_map(|s| match &s.step {
            Step::Claim {
                detection,
                fingerprint,
                ..
            } => Some((detection.clone(), fingerprint.as_ref().map(|f| f.key()))),
            _ => None,
        })
        .collect()
}

/// An event built from a fixture with its record changed.
fn with(name: &str, change: impl FnOnce(&mut Value)) -> Payload {
    let mut v = fixture(name);
    change(&mut v["detail"]);
    Payload::from_value(v).unwrap()
}

#[test]
fn config_defaults_and_bad_values_name_the_variable() {
    let c = Config::defaults();
    assert!(c.detections.exclude_federated_signin);
    assert_eq!(c.state.table, None);
    assert_eq!(c.state.incident_window_seconds, 3600);
    let e = Config::from_env(&[("DISABLED_DETECTION_FAMILIES", "evasion,nope")]).unwrap_err();
    assert_eq!(e.var, "DISABLED_DETECTION_FAMILIES");
    let e = Config::from_env(&[("INCIDENT_WINDOW_SECONDS", "ten")]).unwrap_err();
    assert_eq!(e.var, "INCIDENT_WINDOW_SECONDS");
    let e = Config::from_env(&[("CUSTOM_DETECTIONS_URI", "s3://only-bucket")]).unwrap_err();
    assert_eq!(e.var, "CUSTOM_DETECTIONS_URI");
}

#[test]
fn stop_logging_opens_one_incident_per_matched_detection_and_alerts_critical() {
    let o = plan::<RealtimeCatalog>(&[], "cloudtrail-stop-logging.json");
    assert_eq!(o.ignored, None);
    let opened: Vec<&str> = o
        .steps
        .iter()
        .filter(|s| s.step == "open incident")
        .map(|s| s.target.as_str())
        .collect();
    assert!(
        opened.iter().any(|t| t.starts_with(
            "cloudtrail-tampering by arn:aws:iam::123456789012:user/deploy-legacy on \
             arn:aws:cloudtrail:us-east-1:123456789012:trail/org-audit-trail in 123456789012, \
             window \
             2024-09-12T08:00:00Z to 2024-09-12T09:00:00Z"
        )),
        "{opened:?}"
    );
    // Nothing in the account is changed: every step writes trailwarden's own state only.
    assert!(o.steps.iter().all(|s| s.status == Status::Planned));
    let tampering = o
        .alerts
        .iter()
        .find(|a| a.detection == "cloudtrail-tampering")
        .expect("alerted");
    assert_eq!(tampering.severity, Severity::Critical);
    assert_eq!(tampering.region.as_deref(), Some("us-east-1"));
    assert_eq!(tampering.account.as_deref(), Some("123456789012"));
}

#[test]
fn the_new_routes_each_raise_their_detection() {
    for (event, detection, severity) in [
        (
            "organizations-leave-organization.json",
            "organizations-leave",
            Severity::Critical,
        ),
        (
            "s3-put-bucket-policy-public.json",
            "s3-bucket-policy-public",
            Severity::High,
        ),
        (
            "guardduty-delete-detector.json",
            "guardduty-detector-disabled",
            Severity::Critical,
        ),
        (
            "iam-create-access-key-by-role-for-user.json",
            "iam-access-key-created-for-another-user",
            Severity::Medium,
        ),
    ] {
        let o = plan::<RealtimeCatalog>(&[], event);
        let a = o
            .alerts
            .iter()
            .find(|a| a.detection == detection)
            .unwrap_or_else(|| panic!("{event}: no {detection} alert in {:?}", o.alerts));
        assert_eq!(a.severity, severity, "{event}");
    }
}

#[test]
fn a_threshold_detection_counts_first_and_alerts_nothing_in_an_offline_plan() {
    let o = plan::<RealtimeCatalog>(&[], "secretsmanager-get-secret-value.json");
    let steps: Vec<(&str, &str)> = o
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.target.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (
                "count toward threshold",
                "secretsmanager-secret-value-burst for arn:aws:iam::123456789012:user/ci-runner \
                 | AKIAR2KXG7EXAMPLECIK"
            ),
            (
                "open incident",
                "secretsmanager-secret-value-burst for arn:aws:iam::123456789012:user/ci-runner \
                 | AKIAR2KXG7EXAMPLECIK (if the threshold is crossed)"
            ),
        ]
    );
    assert!(o.alerts.is_empty(), "{:?}", o.alerts);
    assert_eq!(
        o.stats.below_threshold,
        ["secretsmanager-secret-value-burst"]
    );
}

#[test]
fn the_same_principal_on_the_same_resource_within_the_window_is_one_incident() {
    let cfg = Config::defaults();
    let facts = Facts::default();
    let first = payload("cloudtrail-stop-logging.json");
    let later = with("cloudtrail-stop-logging.json", |d| {
        d["eventID"] = json!("11111111-2222-4333-8444-555555555555");
        d["eventTime"] = json!("2024-09-12T08:59:59Z");
    });
    let next_hour = with("cloudtrail-stop-logging.json", |d| {
        d["eventTime"] = json!("2024-09-12T09:00:00Z");
    });
    let other_trail = with("cloudtrail-stop-logging.json", |d| {
        d["requestParameters"]["name"] = json!("backup-trail");
    });
    let key = |p: &Payload| {
        claims(&respond(&cfg, p, &facts).1)
            .into_iter()
            .find(|(d, _)| d == "cloudtrail-tampering")
            .and_then(|(_, k)| k)
            .unwrap()
    };
    assert_eq!(key(&first), key(&later));
    assert_ne!(key(&first), key(&next_hour));
    assert_ne!(key(&first), key(&other_trail));
    // A shorter window splits them.
    let short = config::<RealtimeCatalog>(&[("INCIDENT_WINDOW_SECONDS", "600")]);
    let k = |p: &Payload| {
        claims(&respond(&short, p, &facts).1)
            .into_iter()
            .find(|(d, _)| d == "cloudtrail-tampering")
            .and_then(|(_, k)| k)
            .unwrap()
    };
    assert_ne!(k(&first), k(&later));
}

#[test]
fn an_event_already_handled_is_ignored_with_when() {
    let cfg = Config::defaults();
    let why = ignored(
        &cfg,
        &payload("cloudtrail-stop-logging.json"),
        &Facts {
            handled: Some("2024-09-12T08:41:09Z".into()),
            state_error: None,
        },
    );
    assert!(
        why.contains("c3d9a0e2-6f18-4b57-9e2d-1a7c4f805b36")
            && why.contains("already handled at 2024-09-12T08:41:09Z"),
        "{why}"
    );
}

#[test]
fn trailwarden_s_own_roles_are_not_findings() {
    let cfg = config::<RealtimeCatalog>(&[(
        "OWN_ROLE_ARNS",
        "arn:aws:iam::123456789012:role/trailwarden-*,arn:aws:iam::123456789012:role/BreakGlassAdmin",
    )]);
    let why = ignored(
        &cfg,
        &payload("organizations-leave-organization.json"),
        &Facts::default(),
    );
    assert!(
        why.contains("own role arn:aws:iam::123456789012:role/BreakGlassAdmin"),
        "{why}"
    );
    // Another principal still is.
    respond(
        &cfg,
        &payload("cloudtrail-stop-logging.json"),
        &Facts::default(),
    );
}

#[test]
fn what_no_detection_matches_and_what_is_no_event_are_ignored() {
    let cfg = Config::defaults();
    let quiet = with("cloudtrail-stop-logging.json", |d| {
        d["eventSource"] = json!("cloud9.amazonaws.com");
        d["eventName"] = json!("DescribeEnvironmentStatus");
        d["readOnly"] = json!(true);
    });
    let why = ignored(&cfg, &quiet, &Facts::default());
    assert!(why.starts_with("no detection of the catalog"), "{why}");
    assert!(why.contains("cloud9.amazonaws.com DescribeEnvironmentStatus"));
    assert_eq!(
        ignored(
            &cfg,
            &payload("s3-object-created-log-file.json"),
            &Facts::default()
        ),
        NOT_AN_EVENT
    );
    // Insight events are skipped by the runner, before deciding.
    let o = plan::<RealtimeCatalog>(&[], "insight-api-call-rate-start.json");
    assert!(o.ignored.unwrap().contains("Insights"));
}

#[test]
fn the_catalog_settings_are_log_delivery_s() {
    // A family turned off is off in real time too.
    let off = config::<RealtimeCatalog>(&[("DISABLED_DETECTION_FAMILIES", "evasion")]);
    let o = plan_offline::<RealtimeCatalog>(&off, &payload("cloudtrail-stop-logging.json"));
    assert!(o
        .alerts
        .iter()
        .all(|a| a.detection != "cloudtrail-tampering"));
    // A custom detection (a local file here) goes real time the same way.
    let dir = std::env::temp_dir().join(format!("catalog-custom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("detections.json");
    std::fs::write(
        &file,
        json!({"detections": [{
            "id": "payroll-bucket-policy-changed",
            "title": "Payroll bucket policy changed",
            "severity": "critical",
            "pattern": {
                "eventSource": ["s3.amazonaws.com"],
                "eventName": ["PutBucketPolicy", "DeleteBucketPolicy"],
                "requestParameters": {"bucketName": [{"prefix": "payroll-"}]}
            }
        }]})
        .to_string(),
    )
    .unwrap();
    let custom = config::<RealtimeCatalog>(&[("CUSTOM_DETECTIONS_URI", file.to_str().unwrap())]);
    let o = plan_offline::<RealtimeCatalog>(&custom, &payload("s3-put-bucket-policy-public.json"));
    let a = o
        .alerts
        .iter()
        .find(|a| a.detection == "payroll-bucket-policy-changed")
        .expect("the custom detection alerts");
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(
        o.stats.detections,
        Config::defaults().detections.catalog.len() + 1
    );
}

#[test]
fn steps_change_nothing_in_the_account() {
    let cfg = Config::defaults();
    let (_, plan) = respond(
        &cfg,
        &payload("secretsmanager-get-secret-value.json"),
        &Facts::default(),
    );
    assert!(plan.iter().all(|s| !s.step.changes()));
}
