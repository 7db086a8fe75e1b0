//! The pure parts: a schedule tick becomes a check per trail, and observed trails become
//! conditions, each alerted by the one check that first sees it. Observations are built by
//! hand (what GetTrailStatus, DescribeTrails and the digest listing answered).

mod support;

use chrono::{DateTime, Duration, Utc};
use support::{cfg, healthy, seen, t, TRAIL};
use trailwarden::respond::{Decide, Decision};
use trailwarden::Severity;
use trailwarden_testkit::config;
use watchdog::assess::{assess, is_new, Condition};
use watchdog::execute::{DigestView, Observation, TrailState};
use watchdog::{ConditionKind, Step, Watchdog};

fn kinds(cs: &[Condition]) -> Vec<ConditionKind> {
    cs.iter().map(|c| c.kind).collect()
}

/// The conditions the check at `at` alerts.
fn new_at(v: &Observation, at: DateTime<Utc>) -> Vec<ConditionKind> {
    assess(&cfg(), at, v)
        .into_iter()
        .filter(|c| is_new(c, at))
        .map(|c| c.kind)
        .collect()
}

#[test]
fn a_tick_checks_every_trail_it_is_told_about() {
    let p = trailwarden_testkit::payload("scheduled-event-watchdog.json");
    let Decision::Respond { case, plan } = Watchdog::decide(&cfg(), &p, &()) else {
        panic!("ignored")
    };
    assert_eq!(case.at, Some(t(2, 20)));
    assert_eq!(case.account.as_deref(), Some("123456789012"));
    assert_eq!(
        plan.into_iter().map(|s| s.step).collect::<Vec<_>>(),
        [Step::CheckTrail {
            trail: TRAIL.into(),
            region: Some("us-east-1".into())
        }]
    );
    // Not told: every trail DescribeTrails lists.
    let all = config::<Watchdog>(&[]);
    let Decision::Respond { plan, .. } = Watchdog::decide(&all, &p, &()) else {
        panic!("ignored")
    };
    assert_eq!(plan[0].step, Step::CheckAllTrails);
    // Anything else is not the watchdog's.
    let Decision::Ignore(why) = Watchdog::decide(
        &cfg(),
        &trailwarden_testkit::payload("cloudtrail-stop-logging-trailwarden.json"),
        &(),
    ) else {
        panic!("decided on an API call")
    };
    assert!(why.contains("not a scheduled event"), "{why}");
}

#[test]
fn a_healthy_trail_has_no_condition() {
    assert!(assess(&cfg(), t(12, 0), &seen(healthy())).is_empty());
}

#[test]
fn logging_off_is_alerted_by_the_first_check_after_the_stop_and_only_that_one() {
    let mut v = healthy();
    v.status.is_logging = Some(false);
    v.status.stop_logging = Some(t(11, 58) + Duration::seconds(31));
    let o = seen(v);
    let cs = assess(&cfg(), t(12, 0), &o);
    // While logging is off, the silence and the digests that follow are its consequences.
    assert_eq!(kinds(&cs), [ConditionKind::LoggingOff]);
    assert_eq!(cs[0].severity, Severity::Critical);
    assert_eq!(new_at(&o, t(12, 0)), [ConditionKind::LoggingOff]);
    assert!(new_at(&o, t(12, 5)).is_empty(), "not every 5 minutes");
    assert!(new_at(&o, t(14, 0)).is_empty());
    assert!(new_at(&o, t(11, 55)).is_empty(), "not before it happened");
}

#[test]
fn silence_is_alerted_when_it_crosses_the_limit() {
    let o = seen(healthy());
    // Delivered at 11:57; the limit is 30 minutes: crossed at 12:27.
    assert!(assess(&cfg(), t(12, 25), &o).is_empty());
    assert_eq!(new_at(&o, t(12, 30)), [ConditionKind::Silent]);
    assert!(new_at(&o, t(12, 35)).is_empty());
    let cs = assess(&cfg(), t(12, 35), &o);
    assert_eq!(cs[0].since, Some(t(12, 27)));
    // A longer limit moves the alert.
    let longer = config::<Watchdog>(&[("WATCHDOG_MAX_SILENCE_MINUTES", "60")]);
    assert!(assess(&longer, t(12, 30), &o).is_empty());
}

#[test]
fn a_delivery_error_counts_only_while_nothing_is_delivered() {
    let mut v = healthy();
    v.status.latest_delivery_error = Some("AccessDenied".into());
    let o = seen(v);
    // Delivered 3 minutes ago: an old error CloudTrail still reports.
    assert!(assess(&cfg(), t(12, 0), &o).is_empty());
    // Nothing since 11:57: from 12:12 it is a delivery failure.
    assert_eq!(new_at(&o, t(12, 15)), [ConditionKind::DeliveryError]);
    let cs = assess(&cfg(), t(12, 15), &o);
    assert_eq!(cs[0].error.as_deref(), Some("AccessDenied"));
    assert!(new_at(&o, t(12, 20)).is_empty());
    // The silence alert follows on its own, with the error.
    assert_eq!(new_at(&o, t(12, 30)), [ConditionKind::Silent]);
    let silent = assess(&cfg(), t(12, 30), &o)
        .into_iter()
        .find(|c| c.kind == ConditionKind::Silent)
        .unwrap();
    assert_eq!(silent.error.as_deref(), Some("AccessDenied"));
}

#[test]
fn a_region_without_a_digest_for_two_hours_is_alerted_once() {
    let mut v = healthy();
    v.status.latest_delivery = Some(t(13, 4));
    if let DigestView::Regions(r) = &mut v.digests {
        r[1].newest = Some(t(11, 2)); // eu-west-1
        r[0].newest = Some(t(13, 2)); // us-east-1 keeps arriving
    }
    let o = seen(v);
    // 11:02 + 2 h = 13:02: the check at 13:05 sees it begin.
    assert!(new_at(&o, t(13, 0)).is_empty());
    assert_eq!(new_at(&o, t(13, 5)), [ConditionKind::DigestsStale]);
    let c = &assess(&cfg(), t(13, 5), &o)[0];
    assert_eq!(c.regions.len(), 1);
    assert_eq!(c.regions[0].region, "eu-west-1");
    assert!(new_at(&o, t(13, 10)).is_empty());

    // A region with no digest within the look-back was late before it: not new.
    let mut v = healthy();
    v.status.latest_delivery = Some(t(11, 59));
    if let DigestView::Regions(r) = &mut v.digests {
        r[1].newest = None;
    }
    let o = seen(v);
    let cs = assess(&cfg(), t(12, 0), &o);
    assert_eq!(kinds(&cs), [ConditionKind::DigestsStale]);
    assert!(!is_new(&cs[0], t(12, 0)));
}

#[test]
fn conditions_without_a_recorded_start_are_repeated_hourly_or_daily() {
    let gone = Observation {
        trail: TRAIL.into(),
        state: TrailState::Missing {
            detail: "TrailNotFoundException".into(),
        },
    };
    assert_eq!(new_at(&gone, t(12, 0)), [ConditionKind::TrailMissing]);
    assert_eq!(new_at(&gone, t(12, 3)), [ConditionKind::TrailMissing]);
    assert!(new_at(&gone, t(12, 5)).is_empty());
    assert!(new_at(&gone, t(12, 40)).is_empty());
    assert_eq!(new_at(&gone, t(13, 0)), [ConditionKind::TrailMissing]);

    let mut v = healthy();
    v.validation = false;
    v.digests = DigestView::NotChecked("log file validation is off".into());
    let o = seen(v);
    let cs = assess(&cfg(), t(12, 0), &o);
    assert_eq!(kinds(&cs), [ConditionKind::ValidationOff]);
    assert_eq!(cs[0].severity, Severity::High);
    assert!(new_at(&o, t(12, 0)).is_empty(), "daily, not hourly");
    assert_eq!(new_at(&o, t(0, 0)), [ConditionKind::ValidationOff]);

    let failed = Observation {
        trail: TRAIL.into(),
        state: TrailState::Failed {
            what: "GetTrailStatus".into(),
            detail: "AccessDeniedException: explicit deny".into(),
        },
    };
    let cs = assess(&cfg(), t(9, 0), &failed);
    assert_eq!(kinds(&cs), [ConditionKind::CheckFailed]);
    assert!(cs[0].error.as_deref().unwrap().contains("explicit deny"));
}
