//! The wording a person reads: baseline against actual, duration, who and what, the catalog's
//! look-up, and one incident id for the Start and the End.

use insights::decide::{Step, Window};
use insights::execute::{parse_file, Found, Lookup};
use insights::lookup::{CatalogLook, FoundDetection};
use insights::report::{minutes, rate, UNREADABLE_DETECTION};
use insights::{Case, Config, Insights};
use std::path::PathBuf;
use trailwarden::alert::Alert;
use trailwarden::detect::Counted;
use trailwarden::respond::Settings as _;
use trailwarden::respond::{Decide, Decision, Plan, Reporting};
use trailwarden::{Payload, Severity, Status};
use trailwarden_testkit::harness::fact;
use trailwarden_testkit::{payload, plan};

fn one(name: &str) -> Alert {
    let o = plan::<Insights>(&[], name);
    assert_eq!(o.alerts.len(), 1, "{name}");
    o.alerts[0].clone()
}

#[test]
fn rates_and_lengths_read_naturally() {
    assert_eq!(rate(9.0), "9");
    assert_eq!(rate(7.5833333333), "7.58");
    assert_eq!(rate(0.0138), "0.0138");
    assert_eq!(rate(0.0004), "0.0004");
    assert_eq!(rate(14.2), "14.2");
    assert_eq!(rate(652.17), "652");
    assert_eq!(rate(0.0), "0");
    assert_eq!(minutes(1.0), "1 minute");
    assert_eq!(minutes(12.0), "12 minutes");
    assert_eq!(minutes(10079.0), "7 days");
}

#[test]
fn a_start_says_what_is_unusual_how_much_and_who() {
    let a = one("insight-api-call-rate-start.json");
    assert_eq!(a.detection, "insight-api-call-rate");
    assert_eq!(
        a.title,
        "Unusual CreateAccessKey call rate (iam): 9/min vs 0.0138/min baseline"
    );
    assert_eq!(a.severity, Severity::Medium);
    assert_eq!(
        fact(&a, "Incident"),
        "insight:8f3e6d2c-1b4a-4c9d-a7e8-2f1b0c9d8e7a"
    );
    assert_eq!(fact(&a, "Started"), "2024-05-14 10:05 UTC");
    assert_eq!(
        fact(&a, "Baseline"),
        "0.0138 calls per minute over the previous 7 days"
    );
    assert_eq!(
        fact(&a, "At the start"),
        "9 calls per minute (652x the baseline)"
    );
    assert_eq!(
        fact(&a, "Principals"),
        "arn:aws:sts::123456789012:assumed-role/ci-deploy/build-4711: 9/min (not in the baseline)"
    );
    assert!(fact(&a, "Catalog look-up").starts_with("planned: CreateAccessKey in us-east-1"));
    assert!(
        a.summary.contains("The End event of this incident"),
        "{}",
        a.summary
    );
    assert!(a.summary.contains("is planned"), "{}", a.summary);
    let e = a.event.as_ref().unwrap();
    assert_eq!(e.event_name.as_deref(), Some("CreateAccessKey"));
    assert_eq!(
        e.actor.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/ci-deploy/build-4711")
    );
    assert_eq!(a.region.as_deref(), Some("us-east-1"));
    assert_eq!(a.account.as_deref(), Some("123456789012"));
}

#[test]
fn an_end_states_baseline_against_actual_duration_and_the_attributions() {
    let a = one("insight-api-call-rate-end.json");
    assert_eq!(
        a.title,
        "Ended: unusual CreateAccessKey call rate (iam) after 12 minutes, 7.58/min vs 0.0138/min"
    );
    assert_eq!(a.severity, Severity::Low);
    assert_eq!(fact(&a, "Started"), "2024-05-14 10:05 UTC");
    assert_eq!(fact(&a, "Ended"), "2024-05-14 10:17 UTC");
    assert_eq!(fact(&a, "Duration"), "12 minutes");
    assert_eq!(
        fact(&a, "During the insight"),
        "7.58 calls per minute (550x the baseline)"
    );
    assert!(a.summary.contains("about 91 calls in all"), "{}", a.summary);
    let p = fact(&a, "Principals");
    assert!(p.starts_with("arn:aws:sts::123456789012:assumed-role/ci-deploy/build-4711: 7.25/min (not in the baseline); "), "{p}");
    assert!(
        p.contains("user/ops-alice: 0.333/min (baseline 0.0138/min)"),
        "{p}"
    );
    assert!(fact(&a, "User agents").contains("aws-cli/2.15.30"));
    assert_eq!(
        fact(&a, "Error codes"),
        "no error (succeeded): 6.92/min (baseline 0.0138/min); LimitExceeded: 0.667/min (not in the baseline)"
    );
    // The look-up belongs to the Start.
    assert!(a.facts.iter().all(|(k, _)| k != "Catalog look-up"));
}

#[test]
fn an_error_rate_names_the_error_and_a_baseline_that_never_saw_the_caller() {
    let a = one("insight-api-error-rate-start.json");
    assert_eq!(a.detection, "insight-api-error-rate");
    assert_eq!(
        a.title,
        "Unusual GetSecretValue error rate (AccessDeniedException, secretsmanager): 14.2/min vs 0.0004/min baseline"
    );
    assert_eq!(
        fact(&a, "Insight"),
        "API error rate (AccessDeniedException)"
    );
    assert_eq!(fact(&a, "Region"), "eu-west-1");
    assert_eq!(
        fact(&a, "Baseline"),
        "0.0004 AccessDeniedException errors per minute over the previous 7 days"
    );
    assert!(fact(&a, "Principals").contains("user/build-bot: 14.2/min (not in the baseline)"));
    assert_eq!(
        a.event.as_ref().unwrap().error_code.as_deref(),
        Some("AccessDeniedException")
    );
    let end = one("insight-api-error-rate-end.json");
    assert_eq!(fact(&end, "Duration"), "17 minutes");
    assert!(
        end.summary
            .contains("about 200 AccessDeniedException errors in all"),
        "{}",
        end.summary
    );
}

fn start_case() -> (Case, Plan<Step>) {
    match Insights::decide(
        &Config::defaults(),
        &payload("insight-api-call-rate-start.json"),
        &(),
    ) {
        Decision::Respond { case, plan } => (case, plan),
        d => panic!("{d:?}"),
    }
}

fn window(case: &Case) -> Window {
    let Case::Event { insight } = case else {
        panic!()
    };
    Window::for_start(insight).unwrap()
}

fn look(findings: Vec<FoundDetection>) -> CatalogLook {
    CatalogLook {
        events: 57,
        truncated: false,
        failed: 3,
        principals: vec![Counted {
            value: "arn:aws:sts::123456789012:assumed-role/ci-deploy/build-4711".into(),
            count: 54,
        }],
        error_codes: vec![Counted {
            value: "LimitExceeded".into(),
            count: 3,
        }],
        unreadable: 0,
        findings,
    }
}

#[test]
fn a_high_catalog_finding_in_the_window_raises_the_start_and_is_attached() {
    let (case, mut plan) = start_case();
    plan[0].status = Status::Done;
    let found = Found {
        lookups: vec![Lookup {
            window: window(&case),
            result: Ok(look(vec![FoundDetection {
                detection: "iam-access-key-for-other-user".into(),
                title: "Access key created for another user".into(),
                severity: Severity::High,
                count: 54,
                principals: vec![],
            }])),
        }],
        files: vec![],
    };
    let r = Insights::report(&Config::defaults(), &case, &plan, Some(&found));
    let a = &r.alerts[0];
    assert_eq!(a.severity, Severity::High);
    assert!(a.summary.contains(
        "The catalog, run over the 57 CreateAccessKey event(s) of CreateAccessKey in us-east-1 from 2024-05-14 10:00 to 10:15 UTC, found: Access key created for another user (high, 54 event(s))."
    ), "{}", a.summary);
    let f = fact(a, "Catalog look-up");
    assert!(f.contains("57 event(s)"), "{f}");
    assert!(
        f.contains("callers: arn:aws:sts::123456789012:assumed-role/ci-deploy/build-4711 (54)"),
        "{f}"
    );
    assert!(f.contains("errors: LimitExceeded (3)"), "{f}");
    assert!(
        f.contains("iam-access-key-for-other-user [high] 54 event(s)"),
        "{f}"
    );
    assert_eq!(
        a.evidence.as_ref().unwrap()["catalog_lookup"]["result"]["events"],
        57
    );
    assert_eq!(r.stats.lookups, 1);
    assert_eq!(r.stats.catalog_findings, 1);

    // Nothing found: medium, and said.
    let quiet = Found {
        lookups: vec![Lookup {
            window: window(&case),
            result: Ok(look(vec![])),
        }],
        files: vec![],
    };
    let a = &Insights::report(&Config::defaults(), &case, &plan, Some(&quiet)).alerts[0];
    assert_eq!(a.severity, Severity::Medium);
    assert!(a
        .summary
        .contains("None of the catalog's detections matched the 57 CreateAccessKey event(s)"));
}

#[test]
fn a_failed_look_up_is_said_and_the_alert_still_goes_out() {
    let (case, mut plan) = start_case();
    plan[0].status = Status::Failed;
    let found = Found {
        lookups: vec![Lookup {
            window: window(&case),
            result: Err("cloudtrail:LookupEvents: AccessDeniedException: not authorized".into()),
        }],
        files: vec![],
    };
    let a = &Insights::report(&Config::defaults(), &case, &plan, Some(&found)).alerts[0];
    assert!(a
        .summary
        .contains("failed: cloudtrail:LookupEvents: AccessDeniedException"));
    assert!(fact(a, "Catalog look-up").starts_with("FAILED for CreateAccessKey"));
    assert!(a.has_failures());
}

fn insight_file() -> (Case, Plan<Step>, Found) {
    let p = payload("s3-object-created-insight-file.json");
    let Payload::S3Objects(objects) = &p else {
        panic!()
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/trail")
        .join(&objects[0].key);
    let read = parse_file(&objects[0], &std::fs::read(path).unwrap());
    let Decision::Respond { case, mut plan } = Insights::decide(&Config::defaults(), &p, &())
    else {
        panic!()
    };
    for s in &mut plan {
        s.status = Status::Done;
    }
    (
        case,
        plan,
        Found {
            lookups: vec![],
            files: vec![read],
        },
    )
}

#[test]
fn an_insights_file_pairs_start_and_end_into_one_alert_per_insight() {
    let (case, plan, mut found) = insight_file();
    assert_eq!(found.files[0].insights.len(), 3);
    let starts: Vec<Window> = found.files[0]
        .insights
        .iter()
        .filter(|i| i.state == insights::State::Start)
        .filter_map(Window::for_start)
        .collect();
    found.lookups = starts
        .into_iter()
        .map(|w| Lookup {
            window: w,
            result: Ok(look(vec![])),
        })
        .collect();
    let r = Insights::report(&Config::defaults(), &case, &plan, Some(&found));
    assert_eq!(r.alerts.len(), 2, "two insights, three records");
    assert_eq!(r.stats.insights, 3);
    assert_eq!(r.stats.incidents, 2);
    assert_eq!(r.stats.files, 1);

    let paired = &r.alerts[0];
    assert_eq!(
        paired.title,
        "Unusual CreateAccessKey call rate (iam) for 12 minutes: 7.58/min vs 0.0138/min baseline"
    );
    assert_eq!(paired.severity, Severity::Medium);
    assert_eq!(
        fact(paired, "Incident"),
        "insight:8f3e6d2c-1b4a-4c9d-a7e8-2f1b0c9d8e7a"
    );
    assert_eq!(fact(paired, "Started"), "2024-05-14 10:05 UTC");
    assert_eq!(fact(paired, "Ended"), "2024-05-14 10:17 UTC");
    assert_eq!(fact(paired, "At the start"), "9 calls per minute");
    assert!(fact(paired, "Catalog look-up").contains("57 event(s)"));
    assert!(paired.summary.contains("Read from the Insights file s3://trailwarden-trail-123456789012/AWSLogs/123456789012/CloudTrail-Insight/"));
    assert_eq!(
        paired
            .actions
            .iter()
            .map(|a| a.step.as_str())
            .collect::<Vec<_>>(),
        vec![
            "read Insights file",
            "look up catalog findings for its Start events"
        ]
    );

    let alone = &r.alerts[1];
    assert_eq!(
        fact(alone, "Incident"),
        "insight:b2c4e6f8-0a1c-4e3a-9b5d-7f9a1c3e5b7d"
    );
    assert!(alone
        .title
        .starts_with("Unusual RunInstances call rate (ec2): 23/min"));
    assert!(fact(alone, "Error codes").contains("Client.InstanceLimitExceeded: 4/min"));
}

#[test]
fn an_unreadable_insights_file_is_reported() {
    let (case, plan, _) = insight_file();
    let Case::Files { objects } = &case else {
        panic!()
    };
    let bad = parse_file(&objects[0].object, b"\x1f\x8b\x08\x00garbage");
    assert!(bad.problem.is_some());
    let r = Insights::report(
        &Config::defaults(),
        &case,
        &plan,
        Some(&Found {
            lookups: vec![],
            files: vec![bad],
        }),
    );
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(r.alerts[0].detection, UNREADABLE_DETECTION);
    assert!(r.alerts[0].summary.contains("not a valid gzip file"));
    let digest = parse_file(&objects[0].object, br#"{"awsAccountId": "123456789012"}"#);
    assert_eq!(digest.problem.as_deref(), Some("no \"Records\" array"));
}

#[test]
fn every_subject_is_short_ascii_and_every_body_fits_sns() {
    for name in [
        "insight-api-call-rate-start.json",
        "insight-api-call-rate-end.json",
        "insight-api-error-rate-start.json",
        "insight-api-error-rate-end.json",
    ] {
        let r = one(name).render();
        assert!(
            r.subject.is_ascii() && r.subject.len() < 100,
            "{name}: {}",
            r.subject
        );
        assert!(r.message.len() <= trailwarden::alert::MAX_MESSAGE_BYTES);
        assert!(r.text.contains("Incident"), "{name}");
    }
}
