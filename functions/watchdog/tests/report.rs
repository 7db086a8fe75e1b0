//! Wording: what the watchdog's alerts tell a person (which trail, what is wrong since when,
//! what to do), and the counters of a check. The conditions themselves are decided (and
//! tested) in `assess`; here they come from observations built by hand.

mod support;

use chrono::Duration;
use serde_json::json;
use support::{cfg, healthy, seen, t, TRAIL};
use trailwarden::respond::{Plan, PlannedStep, Reporting};
use trailwarden::{Alert, Payload, Severity};
use trailwarden_testkit::fixture;
use trailwarden_testkit::harness::{assert_contains, fact};
use watchdog::execute::{DigestView, Observation, TrailState};
use watchdog::{Case, Output, Step, Watchdog};

/// The alerts of one check at `at` (minute) of the given observations.
fn alerts_at(at: chrono::DateTime<chrono::Utc>, observations: Vec<Observation>) -> Vec<Alert> {
    let case = Case {
        at: Some(at),
        account: Some("123456789012".into()),
        rule: None,
    };
    let plan: Plan<Step> = vec![PlannedStep::new(Step::CheckAllTrails)];
    let output = Output {
        observations,
        checked_at: Some(at + Duration::seconds(2)),
    };
    Watchdog::report(&cfg(), &case, &plan, Some(&output)).alerts
}

#[test]
fn the_report_alerts_new_conditions_and_counts_the_rest() {
    let mut stopped = healthy();
    stopped.status.is_logging = Some(false);
    stopped.status.stop_logging = Some(t(2, 17));
    let mut long_stopped = healthy();
    long_stopped.name = "old-trail".into();
    long_stopped.status.is_logging = Some(false);
    long_stopped.status.stop_logging = Some(t(1, 0));
    let output = Output {
        observations: vec![
            seen(stopped),
            seen(long_stopped),
            seen({
                let mut h = healthy();
                h.status.latest_delivery = Some(t(2, 18));
                h.status.start_logging = Some(t(1, 0));
                h
            }),
        ],
        checked_at: Some(t(2, 20) + Duration::seconds(3)),
    };
    let case = Case {
        at: Some(t(2, 20)),
        account: Some("123456789012".into()),
        rule: None,
    };
    let plan: Plan<Step> = vec![PlannedStep::new(Step::CheckAllTrails)];
    let r = Watchdog::report(&cfg(), &case, &plan, Some(&output));
    assert_eq!(r.stats.trails_checked, 3);
    assert_eq!(r.stats.trails_healthy, 1);
    assert_eq!(r.stats.conditions_new, 1);
    assert_eq!(r.stats.conditions_ongoing, 1);
    assert_eq!(r.alerts.len(), 1);
    let a = &r.alerts[0];
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.detection, "watchdog-logging-off");
    assert_eq!(a.title, "CloudTrail logging is off: trailwarden-trail");
    assert_contains(&a.summary, "logging stopped at 2024-08-03T02:17:00Z");
    assert!(a.facts.contains(&("Logging".into(), "OFF".into())));
    // The episode, by when it began: the same trail stopped again later is another incident
    // (destinations fingerprint the alert on it).
    let incident = a.facts.iter().find(|(k, _)| k == "Incident").unwrap();
    assert!(
        incident.1.starts_with("watchdog-logging-off of ")
            && incident.1.ends_with(" since 2024-08-03T02:17:00Z"),
        "{incident:?}"
    );
    assert_eq!(a.account.as_deref(), Some("123456789012"));
    assert_eq!(
        a.evidence.as_ref().unwrap()["condition"]["kind"],
        json!("logging_off")
    );
    // An offline plan looks nothing up and alerts nothing.
    let o = trailwarden::respond::plan_offline::<Watchdog>(
        &cfg(),
        &Payload::from_value(fixture("scheduled-event-watchdog.json")).unwrap(),
    );
    assert!(o.alerts.is_empty());
    assert_eq!(o.steps.len(), 1);
}

#[test]
fn silence_says_since_when_and_what_cloudtrail_reports() {
    let mut v = healthy();
    v.status.latest_delivery_error = Some("AccessDenied".into());
    let a = alerts_at(t(12, 30), vec![seen(v)]);
    // 12:12 the delivery error began (15 minutes without a delivery), 12:27 the silence.
    assert_eq!(a.len(), 1, "{a:?}");
    let a = &a[0];
    assert_eq!(a.detection, "watchdog-no-log-delivery");
    assert_eq!(
        a.title,
        "No CloudTrail log delivered for 33 minutes: trailwarden-trail"
    );
    assert_contains(
        &a.summary,
        "it last delivered a log file at 2024-08-03T11:57:00Z: more than 30 minutes ago \
             (WATCHDOG_MAX_SILENCE_MINUTES)",
    );
    assert_contains(&a.summary, "CloudTrail reports: AccessDenied.");
    assert!(a.summary.contains("What to do: turn logging back on"));
    assert_eq!(fact(a, "Delivery error"), "AccessDenied");
    assert_eq!(fact(a, "Last log delivery"), "2024-08-03T11:57:00Z");
    assert_eq!(fact(a, "Began"), "2024-08-03T12:27:00Z");
    assert_eq!(fact(a, "Bucket"), "trailwarden-trail-123456789012");
}

#[test]
fn stale_digests_name_each_late_region_and_how_late() {
    let mut v = healthy();
    v.status.latest_delivery = Some(t(13, 4));
    if let DigestView::Regions(r) = &mut v.digests {
        r[0].newest = Some(t(13, 2));
        r[1].newest = Some(t(11, 2));
    }
    let a = alerts_at(t(13, 5), vec![seen(v)]);
    assert_eq!(a.len(), 1, "{a:?}");
    let a = &a[0];
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(
        a.title,
        "No CloudTrail digest for over 2 hours in 1 region(s): trailwarden-trail"
    );
    assert_contains(
        &a.summary,
        "in: eu-west-1 (last digest 2024-08-03T11:02:00Z, 123 minutes ago).",
    );
    assert!(!a.summary.contains("us-east-1 ("), "{}", a.summary);
    assert!(a.summary.contains("`trailwarden validate`"));
}

#[test]
fn a_trail_that_is_gone_or_cannot_be_checked_says_so_and_repeats_hourly() {
    let gone = Observation {
        trail: TRAIL.into(),
        state: TrailState::Missing {
            detail: "TrailNotFoundException".into(),
        },
    };
    let failed = Observation {
        trail: "arn:aws:cloudtrail:eu-west-1:123456789012:trail/org-trail".into(),
        state: TrailState::Failed {
            what: "GetTrailStatus".into(),
            detail: "AccessDeniedException: explicit deny".into(),
        },
    };
    let a = alerts_at(t(13, 0), vec![gone, failed]);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[0].title, "Trail trailwarden-trail no longer exists");
    assert!(a[0]
        .summary
        .contains(&format!("The trail {TRAIL} is not there")));
    assert!(a[0]
        .summary
        .contains("repeats it at the first check of every hour"));
    assert!(a[0].summary.contains("What to do: recreate the trail"));
    // No bucket or status: the trail was not seen.
    assert!(a[0]
        .facts
        .iter()
        .all(|(k, _)| k != "Bucket" && k != "Logging"));
    assert_eq!(fact(&a[0], "Began"), "not recorded");
    assert_eq!(
        fact(&a[0], "Incident"),
        format!("watchdog-trail-missing of {TRAIL} since 2024-08-03T13:00:00Z")
    );

    assert_eq!(a[1].severity, Severity::High);
    assert_eq!(a[1].title, "trailwarden could not check trail org-trail");
    assert_contains(&a[1].summary, "AccessDeniedException: explicit deny");
    assert_contains(&a[1].summary, "cloudtrail:GetTrailStatus");
    assert_eq!(a[1].account.as_deref(), Some("123456789012"));
}
