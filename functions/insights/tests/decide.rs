//! The pure decision, from the sample events in events/: what an Insights event or an
//! Insights file calls for, and what is ignored (with the reason).

use insights::decide::{Step, NOT_INSIGHT};
use insights::{Case, Config, Insights, State};
use trailwarden::payload::{S3Delivery, S3Object};
use trailwarden::respond::{Decide, Decision, Settings};
use trailwarden::{Payload, Severity, Status};
use trailwarden_testkit::{config, env, payload, plan};

fn window_of(d: &Decision<Case, Step>) -> insights::Window {
    let Decision::Respond { plan, .. } = d else {
        panic!("ignored: {d:?}")
    };
    match &plan[0].step {
        Step::LookUp { window } => window.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_start_event_plans_the_catalog_look_up_over_the_insights_window() {
    let d = Insights::decide(
        &Config::defaults(),
        &payload("insight-api-call-rate-start.json"),
        &(),
    );
    let w = window_of(&d);
    assert_eq!(w.event_name, "CreateAccessKey");
    assert_eq!(w.event_source.as_deref(), Some("iam.amazonaws.com"));
    assert_eq!(w.region.as_deref(), Some("us-east-1"));
    assert_eq!(w.incident, "insight:8f3e6d2c-1b4a-4c9d-a7e8-2f1b0c9d8e7a");
    // Five minutes before the start (10:05) to ten minutes after it.
    assert_eq!(w.from.to_rfc3339(), "2024-05-14T10:00:00+00:00");
    assert_eq!(w.to.to_rfc3339(), "2024-05-14T10:15:00+00:00");

    let o = plan::<Insights>(&[], "insight-api-call-rate-start.json");
    assert_eq!(o.ignored, None);
    assert_eq!(o.steps.len(), 1);
    assert_eq!(o.steps[0].step, "look up catalog findings");
    assert_eq!(
        o.steps[0].target,
        "CreateAccessKey in us-east-1 from 2024-05-14 10:00 to 10:15 UTC"
    );
    assert_eq!(o.steps[0].status, Status::Planned);
    assert_eq!(o.alerts.len(), 1);
    assert_eq!(o.alerts[0].severity, Severity::Medium);
}

#[test]
fn an_error_rate_start_in_another_region_is_looked_up_there() {
    let w = window_of(&Insights::decide(
        &Config::defaults(),
        &payload("insight-api-error-rate-start.json"),
        &(),
    ));
    assert_eq!(w.region.as_deref(), Some("eu-west-1"));
    assert_eq!(w.event_name, "GetSecretValue");
    assert_eq!(w.from.to_rfc3339(), "2024-05-14T03:36:00+00:00");
}

#[test]
fn an_end_event_plans_nothing_and_alerts_under_the_starts_incident_id() {
    for (start, end) in [
        (
            "insight-api-call-rate-start.json",
            "insight-api-call-rate-end.json",
        ),
        (
            "insight-api-error-rate-start.json",
            "insight-api-error-rate-end.json",
        ),
    ] {
        let s = plan::<Insights>(&[], start);
        let e = plan::<Insights>(&[], end);
        assert!(e.steps.is_empty(), "{end}: {:?}", e.steps);
        assert_eq!(e.alerts.len(), 1);
        assert_eq!(e.alerts[0].severity, Severity::Low, "{end}");
        let incident = |o: &trailwarden::Outcome<insights::InsightStats>| {
            o.alerts[0]
                .facts
                .iter()
                .find(|(k, _)| k == "Incident")
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(incident(&s), incident(&e), "{start} / {end}");
        assert_eq!(s.stats.starts, 1);
        assert_eq!(e.stats.ends, 1);
    }
}

#[test]
fn a_member_accounts_insight_is_not_looked_up_in_this_accounts_history() {
    // The sample is of 123456789012: from a stack in another account it is a member
    // account's insight, forwarded; this account's event history would answer with this
    // account's callers and "no detection matched".
    let o = plan::<Insights>(
        &[("HOME_ACCOUNT_ID", "999988887777")],
        "insight-api-call-rate-start.json",
    );
    assert_eq!(o.steps.len(), 1);
    assert_eq!(
        o.steps[0].status,
        trailwarden::alert::Status::Skipped,
        "{:?}",
        o.steps
    );
    let fact = o.alerts[0]
        .facts
        .iter()
        .find(|(k, _)| k == "Catalog look-up")
        .unwrap();
    assert!(
        fact.1.contains("the insight is of account 123456789012"),
        "{fact:?}"
    );
    // The stack's own account: looked up as before.
    let o = plan::<Insights>(
        &[("HOME_ACCOUNT_ID", "123456789012")],
        "insight-api-call-rate-start.json",
    );
    assert_eq!(
        o.steps[0].status,
        trailwarden::alert::Status::Planned,
        "{:?}",
        o.steps
    );
}

#[test]
fn with_the_look_up_turned_off_a_start_plans_nothing_and_says_so() {
    let o = plan::<Insights>(
        &[("INSIGHT_LOOKUP_MAX_EVENTS", "0")],
        "insight-api-call-rate-start.json",
    );
    assert!(o.steps.is_empty());
    let fact = o.alerts[0]
        .facts
        .iter()
        .find(|(k, _)| k == "Catalog look-up")
        .unwrap();
    assert!(fact.1.contains("INSIGHT_LOOKUP_MAX_EVENTS=0"), "{fact:?}");
}

#[test]
fn an_insights_file_is_read_then_its_starts_looked_up_and_other_objects_are_skipped() {
    let insight_file = payload("s3-object-created-insight-file.json");
    let Payload::S3Objects(mut objects) = insight_file else {
        panic!()
    };
    objects.push(S3Object {
        bucket: "trailwarden-trail-123456789012".into(),
        key: "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1020Z_a1b2c3d4e5f6a7b8.json.gz".into(),
        size: Some(4000),
        version_id: None,
        region: Some("us-east-1".into()),
        time: None,
        delivery: S3Delivery::Notification,
    });
    let d = Insights::decide(&Config::defaults(), &Payload::S3Objects(objects), &());
    let Decision::Respond { case, plan } = d else {
        panic!()
    };
    assert!(matches!(case, Case::Files { ref objects } if objects.len() == 2));
    let steps: Vec<(String, Status)> = plan
        .iter()
        .map(|s| (trailwarden::respond::StepKind::name(&s.step), s.status))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("read Insights file".to_string(), Status::Planned),
            (
                "look up catalog findings for its Start events".to_string(),
                Status::Planned
            ),
            ("read Insights file".to_string(), Status::Skipped),
        ]
    );
    assert!(plan[2]
        .detail
        .as_deref()
        .unwrap()
        .contains("log-delivery scans it"));
}

#[test]
fn log_digest_and_unrelated_objects_alone_are_ignored_with_the_reason() {
    for name in [
        "s3-object-created-log-file.json",
        "s3-object-created-digest-file.json",
        "s3-object-created-unrelated.json",
    ] {
        let o = plan::<Insights>(&[], name);
        let why = o.ignored.unwrap_or_else(|| panic!("{name} not ignored"));
        assert!(
            why.starts_with("no CloudTrail Insights file"),
            "{name}: {why}"
        );
    }
}

#[test]
fn api_calls_and_sign_ins_are_not_insights() {
    for name in [
        "iam-create-user-by-iam-user.json",
        "signin-root-success-mfa.json",
        "ec2-authorize-ingress-flat-world.json",
    ] {
        let o = plan::<Insights>(&[], name);
        assert_eq!(o.ignored.as_deref(), Some(NOT_INSIGHT), "{name}");
        assert!(o.alerts.is_empty());
    }
}

#[test]
fn a_bare_insights_record_is_handled_like_the_event() {
    let v = trailwarden_testkit::fixture("insight-api-call-rate-end.json");
    let p = Payload::from_value(v["detail"].clone()).unwrap();
    let d = Insights::decide(&Config::defaults(), &p, &());
    let Decision::Respond {
        case: Case::Event { insight },
        plan,
    } = d
    else {
        panic!()
    };
    assert_eq!(insight.state, State::End);
    assert!(plan.is_empty());
}

#[test]
fn a_bad_look_up_size_stops_the_cold_start_naming_the_variable() {
    for bad in ["-1", "lots", "5001"] {
        let e = Config::from_env(&env(&[("INSIGHT_LOOKUP_MAX_EVENTS", bad)])).unwrap_err();
        assert!(e.to_string().contains("INSIGHT_LOOKUP_MAX_EVENTS"), "{e}");
    }
    let e = Config::from_env(&env(&[("DISABLED_DETECTION_FAMILIES", "cis,nope")])).unwrap_err();
    assert!(e.to_string().contains("DISABLED_DETECTION_FAMILIES"), "{e}");
    let c = config::<Insights>(&[
        ("INSIGHT_LOOKUP_MAX_EVENTS", "50"),
        ("DISABLED_DETECTION_FAMILIES", "cis"),
    ]);
    assert_eq!(c.lookup_max_events, 50);
    assert!(c.catalog.get("cis-4.1-unauthorized-api-calls").is_none());
}

/// Whatever arrives (every sample in events/, every malformed payload in tests/bad-input/),
/// the plan is a reasoned skip or a response; nothing panics.
#[test]
fn every_sample_and_malformed_payload_is_skipped_with_a_reason_or_planned() {
    let dirs = [
        trailwarden_testkit::harness::events_dir(),
        trailwarden_testkit::harness::events_dir().join("../tests/bad-input/payloads"),
    ];
    let mut planned = 0;
    for dir in dirs {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let Ok(p) = Payload::parse(&std::fs::read(&path).unwrap()) else {
                continue;
            };
            let o = trailwarden::respond::plan_offline::<Insights>(&Config::defaults(), &p);
            match &o.ignored {
                Some(why) => assert!(why.len() > 10, "{}: {why}", path.display()),
                None => {
                    assert!(
                        !o.alerts.is_empty() || !o.steps.is_empty(),
                        "{}",
                        path.display()
                    );
                    planned += 1;
                }
            }
        }
    }
    // The four Insights events and the Insights file notification.
    assert_eq!(planned, 5);
}

/// Every field of the Insights samples replaced by every JSON type, or removed: parsing refuses
/// it naming the field, or the plan skips with a reason or responds; alerts stay within SNS's
/// limits; nothing panics.
#[test]
fn every_field_of_the_insights_samples_with_every_wrong_type_is_understood_or_refused() {
    use trailwarden_testkit::mutate::{wrong_types, Mutation};
    let config = Config::defaults();
    let mut cases = 0;
    for name in [
        "insight-api-call-rate-start.json",
        "insight-api-call-rate-end.json",
        "insight-api-error-rate-start.json",
        "insight-api-error-rate-end.json",
        "s3-object-created-insight-file.json",
    ] {
        let original = trailwarden_testkit::fixture(name);
        for Mutation { path, value: v, .. } in wrong_types(&original, 10_000) {
            cases += 1;
            let Ok(p) = Payload::from_value(v) else {
                continue;
            };
            let o = trailwarden::respond::plan_offline::<Insights>(&config, &p);
            assert!(
                o.ignored.is_some() || !o.alerts.is_empty() || !o.steps.is_empty(),
                "{name} {path}: neither skipped nor planned"
            );
            for a in &o.alerts {
                let r = a.render();
                assert!(
                    r.subject.is_ascii() && r.subject.len() < 100,
                    "{name} {path}"
                );
                assert!(r.message.len() <= trailwarden::alert::MAX_MESSAGE_BYTES);
            }
        }
    }
    assert!(cases > 1000, "{cases} cases");
}
