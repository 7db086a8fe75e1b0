//! Pure: what is wrong with a trail, and since when; and whether that is new since the
//! previous check.
//!
//! The watchdog keeps no state. Each condition carries the time it began, derived from
//! CloudTrail's and S3's own timestamps ([`Condition::since`]):
//!
//! | condition | began at |
//! |---|---|
//! | logging off | `StopLoggingTime` |
//! | no log delivery for more than `WATCHDOG_MAX_SILENCE_MINUTES` | `LatestDeliveryTime` + that many minutes (`StartLoggingTime` + them, when nothing was ever delivered) |
//! | delivery error | `LatestDeliveryTime` + 15 minutes: CloudTrail keeps reporting the last error after deliveries resume, so an error counts only while nothing is delivered |
//! | notification error | `LatestNotificationTime` + 15 minutes, likewise |
//! | no digest for more than 2 hours in a region | the newest digest's `LastModified` + 2 hours |
//!
//! A condition is alerted when it began after the previous check and no later than this one
//! (the window `(tick - 5 min, tick]`, the tick being the scheduled time, to the minute; a
//! retried invocation of the same tick decides alike). The checks run every 5 minutes, so each
//! condition is alerted once when it begins, not every 5 minutes while it lasts; it stops being
//! a condition when the trail recovers, and a new onset is alerted again.
//!
//! Conditions whose beginning no timestamp tells (the trail is gone, it could not be checked,
//! it was stopped at an unrecorded time) are alerted at the first check of every hour while they
//! last; log file validation being off, at the first check of every day.

use crate::config::{
    Config, CHECK_INTERVAL_MINUTES, DELIVERY_ERROR_GRACE_MINUTES, MAX_DIGEST_AGE_MINUTES,
};
use crate::execute::{DigestView, Observation, TrailState, TrailView};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;
use trailwarden::Severity;

/// A time to the minute (seconds dropped).
pub fn to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    /// The trail does not exist (any more).
    TrailMissing,
    /// `IsLogging` is false.
    LoggingOff,
    /// `LatestDeliveryError` while nothing is delivered.
    DeliveryError,
    /// No log file delivered for longer than allowed.
    Silent,
    /// No digest for longer than 2 hours in one or more regions.
    DigestsStale,
    /// Log file validation is off: no digests are written.
    ValidationOff,
    /// `LatestNotificationError` while no notification is sent.
    NotificationError,
    /// The trail could not be checked.
    CheckFailed,
}

impl ConditionKind {
    pub fn severity(self) -> Severity {
        match self {
            ConditionKind::TrailMissing
            | ConditionKind::LoggingOff
            | ConditionKind::DeliveryError
            | ConditionKind::Silent
            | ConditionKind::DigestsStale => Severity::Critical,
            ConditionKind::ValidationOff | ConditionKind::CheckFailed => Severity::High,
            ConditionKind::NotificationError => Severity::Medium,
        }
    }

    /// The detection id of its alert.
    pub fn detection(self) -> &'static str {
        match self {
            ConditionKind::TrailMissing => "watchdog-trail-missing",
            ConditionKind::LoggingOff => "watchdog-logging-off",
            ConditionKind::DeliveryError => "watchdog-delivery-error",
            ConditionKind::Silent => "watchdog-no-log-delivery",
            ConditionKind::DigestsStale => "watchdog-digests-stale",
            ConditionKind::ValidationOff => "watchdog-validation-off",
            ConditionKind::NotificationError => "watchdog-notification-error",
            ConditionKind::CheckFailed => "watchdog-check-failed",
        }
    }

    /// How often a condition of unknown beginning is repeated.
    pub fn cadence(self) -> Cadence {
        match self {
            ConditionKind::ValidationOff => Cadence::Daily,
            _ => Cadence::Hourly,
        }
    }
}

/// How often a condition whose beginning is unknown is alerted while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    Hourly,
    Daily,
}

/// One region whose digests are late.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleRegion {
    pub region: String,
    /// The newest digest seen (none within the look-back).
    pub newest: Option<DateTime<Utc>>,
    /// When it became late (newest + 2 hours; with none seen, a bound before the look-back).
    pub since: DateTime<Utc>,
}

/// A condition of one trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub kind: ConditionKind,
    pub severity: Severity,
    /// When it began; `None` when no timestamp tells.
    pub since: Option<DateTime<Utc>>,
    /// CloudTrail's error text, or why the trail could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For [`ConditionKind::DigestsStale`]: the late regions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<StaleRegion>,
}

impl Condition {
    fn new(kind: ConditionKind, since: Option<DateTime<Utc>>) -> Condition {
        Condition {
            kind,
            severity: kind.severity(),
            since,
            error: None,
            regions: Vec::new(),
        }
    }

    fn with_error(mut self, e: Option<&str>) -> Condition {
        self.error = e
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string);
        self
    }
}

/// The window of a check at `at`: `(at - interval, at]`.
pub fn in_window(t: DateTime<Utc>, at: DateTime<Utc>) -> bool {
    t > at - Duration::minutes(CHECK_INTERVAL_MINUTES) && t <= at
}

/// True when the condition is to be alerted by the check at `at` (see the module text).
pub fn is_new(c: &Condition, at: DateTime<Utc>) -> bool {
    if c.kind == ConditionKind::DigestsStale {
        return c.regions.iter().any(|r| in_window(r.since, at));
    }
    match c.since {
        Some(t) => in_window(t, at),
        None => {
            let period = match c.kind.cadence() {
                Cadence::Hourly => Duration::hours(1),
                Cadence::Daily => Duration::days(1),
            };
            // The first check at or after a whole hour (day).
            at.duration_trunc(period)
                .map(|start| in_window(start, at))
                .unwrap_or(false)
        }
    }
}

fn elapsed(since: DateTime<Utc>, at: DateTime<Utc>, minutes: i64) -> Option<DateTime<Utc>> {
    let onset = since + Duration::minutes(minutes);
    (onset < at).then_some(onset)
}

/// The conditions of one observed trail at `at`.
pub fn assess(config: &Config, at: DateTime<Utc>, o: &Observation) -> Vec<Condition> {
    match &o.state {
        TrailState::Missing { .. } => vec![Condition::new(ConditionKind::TrailMissing, None)],
        TrailState::Failed { detail, .. } => {
            vec![Condition::new(ConditionKind::CheckFailed, None).with_error(Some(detail))]
        }
        TrailState::Seen(v) => assess_view(config, at, v),
    }
}

fn assess_view(config: &Config, at: DateTime<Utc>, v: &TrailView) -> Vec<Condition> {
    let s = &v.status;
    let mut out = Vec::new();
    let logging = s.is_logging != Some(false);
    if !logging {
        out.push(Condition::new(ConditionKind::LoggingOff, s.stop_logging));
    }
    // Deliveries: only while logging (off, the cause is known and alerted).
    if logging {
        // A condition holds once `grace` minutes have passed since `from`; counted from an
        // unknown time, it holds at once.
        let mut holds = |kind: ConditionKind, from: Option<DateTime<Utc>>, grace: i64, error| {
            let since = match from {
                Some(t) => elapsed(t, at, grace).map(Some),
                None => Some(None),
            };
            if let Some(since) = since {
                out.push(Condition::new(kind, since).with_error(error));
            }
        };
        let failing = |e: Option<&str>| e.is_some_and(|e| !e.trim().is_empty());
        let delivered = s.latest_delivery.or(s.start_logging);
        let delivery_error = s.latest_delivery_error.as_deref();
        let notification_error = s.latest_notification_error.as_deref();
        let silence = i64::from(config.max_silence_minutes);
        holds(ConditionKind::Silent, delivered, silence, delivery_error);
        if failing(delivery_error) {
            holds(
                ConditionKind::DeliveryError,
                delivered,
                DELIVERY_ERROR_GRACE_MINUTES,
                delivery_error,
            );
        }
        if failing(notification_error) {
            holds(
                ConditionKind::NotificationError,
                s.latest_notification,
                DELIVERY_ERROR_GRACE_MINUTES,
                notification_error,
            );
        }
    }
    if !v.validation {
        out.push(Condition::new(ConditionKind::ValidationOff, None));
    } else if logging {
        match &v.digests {
            DigestView::Regions(regions) => {
                let stale: Vec<StaleRegion> = regions
                    .iter()
                    .filter_map(|r| {
                        let since = match r.newest {
                            Some(d) => elapsed(d, at, MAX_DIGEST_AGE_MINUTES)?,
                            // None within the look-back: late since before it.
                            None => {
                                r.listed_since + Duration::minutes(MAX_DIGEST_AGE_MINUTES)
                                    - Duration::minutes(1)
                            }
                        };
                        Some(StaleRegion {
                            region: r.region.clone(),
                            newest: r.newest,
                            since,
                        })
                    })
                    .collect();
                if !stale.is_empty() {
                    let mut c = Condition::new(
                        ConditionKind::DigestsStale,
                        stale.iter().map(|r| r.since).max(),
                    )
                    .with_error(s.latest_digest_delivery_error.as_deref());
                    c.regions = stale;
                    out.push(c);
                }
            }
            DigestView::Failed(e) => {
                out.push(Condition::new(ConditionKind::CheckFailed, None).with_error(Some(e)))
            }
            DigestView::NotChecked(_) => {}
        }
    }
    out
}
