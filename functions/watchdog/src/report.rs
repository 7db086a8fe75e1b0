//! Pure: one alert per trail condition that began since the previous check. All of the
//! watchdog's wording is here.

use crate::assess::{assess, is_new, to_minute, Condition, ConditionKind};
use crate::config::{
    Config, CHECK_INTERVAL_MINUTES, DELIVERY_ERROR_GRACE_MINUTES, MAX_DIGEST_AGE_MINUTES,
};
use crate::decide::{Case, Step};
use crate::execute::{Observation, Output, TrailState, TrailView};
use crate::Watchdog;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use trailwarden::alert::Alert;
use trailwarden::respond::{Plan, Report, Reporting};

trailwarden::counters! {
    /// The watchdog's counters.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Stats {
        trails_checked: usize => "trails checked",
        /// Trails with no condition.
        trails_healthy: usize => "trails healthy",
        /// Conditions that began since the previous check (alerted).
        conditions_new: usize => "new conditions",
        /// Conditions that were there already (alerted when they began).
        conditions_ongoing: usize => "ongoing conditions",
    }
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn fmt_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(fmt).unwrap_or_else(|| "never (not reported)".into())
}

fn minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_minutes().max(0)
}

impl Reporting for Watchdog {
    type Output = Output;
    type Stats = Stats;

    /// The alerts of the conditions that are new at the tick.
    fn report(
        config: &Config,
        case: &Case,
        _plan: &Plan<Step>,
        output: Option<&Output>,
    ) -> Report<Stats> {
        let Some(output) = output else {
            return Report {
                alerts: Vec::new(),
                stats: Stats::default(),
            };
        };
        let at = case
            .at
            .or(output.checked_at.map(to_minute))
            .unwrap_or_else(|| to_minute(Utc::now()));
        let mut stats = Stats {
            trails_checked: output.observations.len(),
            ..Stats::default()
        };
        let mut alerts = Vec::new();
        for o in &output.observations {
            let conditions = assess(config, at, o);
            if conditions.is_empty() {
                stats.trails_healthy += 1;
            }
            for c in conditions {
                if is_new(&c, at) {
                    stats.conditions_new += 1;
                    alerts.push(alert(config, case, at, o, &c));
                } else {
                    stats.conditions_ongoing += 1;
                    tracing::info!(
                        trail = %o.trail,
                        condition = c.kind.detection(),
                        since = %c.since.map(fmt).unwrap_or_default(),
                        "condition still there (alerted when it began)"
                    );
                }
            }
        }
        Report { alerts, stats }
    }
}

fn trail_label(o: &Observation) -> String {
    match &o.state {
        TrailState::Seen(v) => v.name.clone(),
        _ => o
            .trail
            .rsplit('/')
            .next()
            .unwrap_or(o.trail.as_str())
            .to_string(),
    }
}

fn alert(config: &Config, case: &Case, at: DateTime<Utc>, o: &Observation, c: &Condition) -> Alert {
    let name = trail_label(o);
    let view: Option<&TrailView> = match &o.state {
        TrailState::Seen(v) => Some(v),
        _ => None,
    };
    let status = view.map(|v| &v.status);
    let error = c.error.clone().unwrap_or_default();
    let since = c
        .since
        .map(fmt)
        .unwrap_or_else(|| "an unrecorded time".into());
    let repeat = match c.kind.cadence() {
        crate::assess::Cadence::Hourly => "hour",
        crate::assess::Cadence::Daily => "day",
    };
    let unknown_start = format!(
        " CloudTrail does not say when this began, so the watchdog repeats it at the first \
         check of every {repeat} while it lasts."
    );
    let (title, mut summary) = match c.kind {
        ConditionKind::TrailMissing => (
            format!("Trail {name} no longer exists"),
            format!(
                "The trail {} is not there: DescribeTrails does not list it, or GetTrailStatus \
                 answers TrailNotFoundException. Nothing of this account's activity is being \
                 recorded by it. If it was deleted, the DeleteTrail call is in the trail's last \
                 log files and in CloudTrail's event history (90 days).{unknown_start}",
                o.trail
            ),
        ),
        ConditionKind::LoggingOff => (
            format!("CloudTrail logging is off: {name}"),
            match c.since {
                Some(t) => format!(
                    "GetTrailStatus answers IsLogging: false for the trail {}; logging stopped at \
                     {}. API calls made from then on are not recorded, and no digest covers \
                     them.",
                    o.trail,
                    fmt(t)
                ),
                None => format!(
                    "GetTrailStatus answers IsLogging: false for the trail {}. API calls are not \
                     recorded.{unknown_start}",
                    o.trail
                ),
            },
        ),
        ConditionKind::Silent => {
            let last = status.and_then(|s| s.latest_delivery);
            (
                format!(
                    "No CloudTrail log delivered for {} minutes: {name}",
                    last.map(|l| minutes(l, at))
                        .unwrap_or(i64::from(config.max_silence_minutes))
                ),
                format!(
                    "The trail {} is logging, but it last delivered a log file at {}: more than \
                     {} minutes ago (WATCHDOG_MAX_SILENCE_MINUTES). CloudTrail delivers about \
                     every 5 minutes while there is activity, and the watchdog's own calls are \
                     activity every 5 minutes. Deliveries are failing or being held back.{}",
                    o.trail,
                    fmt_opt(last),
                    config.max_silence_minutes,
                    if error.is_empty() {
                        String::new()
                    } else {
                        format!(" CloudTrail reports: {error}.")
                    }
                ),
            )
        }
        ConditionKind::DeliveryError => (
            format!("CloudTrail cannot deliver log files: {name}"),
            format!(
                "CloudTrail reports a delivery error for the trail {}: {error}. Nothing was \
                 delivered for more than {DELIVERY_ERROR_GRACE_MINUTES} minutes (last delivery: \
                 {}). The usual causes are a changed bucket policy, a deleted bucket, or a KMS \
                 key CloudTrail may no longer use.",
                o.trail,
                fmt_opt(status.and_then(|s| s.latest_delivery))
            ),
        ),
        ConditionKind::NotificationError => (
            format!("CloudTrail cannot send its SNS notifications: {name}"),
            format!(
                "CloudTrail reports an SNS notification error for the trail {}: {error}. \
                 Log delivery itself is not affected; whatever subscribes to the trail's \
                 notifications no longer hears of new log files.",
                o.trail
            ),
        ),
        ConditionKind::DigestsStale => {
            let regions: Vec<String> = c
                .regions
                .iter()
                .map(|r| match r.newest {
                    Some(t) => format!(
                        "{} (last digest {}, {} minutes ago)",
                        r.region,
                        fmt(t),
                        minutes(t, at)
                    ),
                    None => format!(
                        "{} (no digest since before {})",
                        r.region,
                        fmt(r.since - chrono::Duration::minutes(MAX_DIGEST_AGE_MINUTES - 1))
                    ),
                })
                .collect();
            (
                format!(
                    "No CloudTrail digest for over {} hours in {} region(s): {name}",
                    MAX_DIGEST_AGE_MINUTES / 60,
                    c.regions.len()
                ),
                format!(
                    "CloudTrail writes a signed digest for every region of the trail {} every \
                     hour, even when there is nothing to list. None arrived for more than {} \
                     hours in: {}. Without digests, the log files of those hours cannot be \
                     proven untouched: digest delivery is failing, or digests are being \
                     deleted as they arrive.{}",
                    o.trail,
                    MAX_DIGEST_AGE_MINUTES / 60,
                    regions.join("; "),
                    if error.is_empty() {
                        String::new()
                    } else {
                        format!(" CloudTrail reports: {error}.")
                    }
                ),
            )
        }
        ConditionKind::ValidationOff => (
            format!("Log file validation is off: {name}"),
            format!(
                "The trail {} writes no digests (log file validation is off), so deleted or \
                 edited log files cannot be detected. Turn it on: aws cloudtrail update-trail \
                 --name {} --enable-log-file-validation.{unknown_start}",
                o.trail, o.trail
            ),
        ),
        ConditionKind::CheckFailed => (
            format!("trailwarden could not check trail {name}"),
            format!(
                "The watchdog could not check the trail {}: {error}. Until it can, a stopped \
                 trail or missing digests go unnoticed. Check the watchdog's permissions \
                 (cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus, s3:ListBucket on the \
                 trail bucket): a policy denying them is itself a way to blind trailwarden. \
                 The invocation fails, so the function's Errors alarm fires as well.\
                 {unknown_start}",
                o.trail
            ),
        ),
    };
    summary.push_str(&format!(
        "\n\nWhat to do: {}",
        match c.kind {
            ConditionKind::LoggingOff | ConditionKind::Silent | ConditionKind::DeliveryError => {
                "turn logging back on (aws cloudtrail start-logging --name TRAIL) or fix the \
                 bucket (policy, encryption key, existence), then find out who changed it: \
                 trailwarden's tamper alerts name the call when it came through a protected \
                 resource."
            }
            ConditionKind::DigestsStale => {
                "check the trail's LatestDigestDeliveryError (aws cloudtrail get-trail-status) \
                 and the bucket; look for deletions of CloudTrail-Digest/ objects (tamper \
                 alerts on them) and verify the digests there are with log-integrity or \
                 `trailwarden validate`."
            }
            ConditionKind::TrailMissing => {
                "recreate the trail by redeploying the stack, then find out who deleted it."
            }
            ConditionKind::ValidationOff => "turn log file validation on.",
            ConditionKind::NotificationError => {
                "check the trail's SNS topic and its policy."
            }
            ConditionKind::CheckFailed =>
                "restore the watchdog's permissions (redeploy the stack).",
        }
    ));
    summary.push_str(&format!(
        " This alert is sent once when the condition begins (the watchdog checks every \
         {CHECK_INTERVAL_MINUTES} minutes), not at every check."
    ));

    let mut a = Alert::new(c.severity, c.kind.detection(), title);
    a.summary = summary;
    a.account = case.account.clone().or_else(|| {
        view.and_then(|v| v.arn.as_deref())
            .and_then(|arn| arn.split(':').nth(4))
            .map(str::to_string)
    });
    a.region = view.and_then(|v| v.home_region.clone());
    a = a.fact("Trail", o.trail.clone());
    if let Some(v) = view {
        if let Some(b) = &v.bucket {
            a = a.fact("Bucket", b.clone());
        }
        let s = &v.status;
        a = a.fact(
            "Logging",
            match s.is_logging {
                Some(true) => "on".to_string(),
                Some(false) => "OFF".to_string(),
                None => "not reported".to_string(),
            },
        );
        a = a.fact("Last log delivery", fmt_opt(s.latest_delivery));
        a = a.fact("Last digest delivery", fmt_opt(s.latest_digest_delivery));
        if let Some(t) = s.stop_logging {
            a = a.fact("Logging stopped", fmt(t));
        }
        if let Some(t) = s.start_logging {
            a = a.fact("Logging started", fmt(t));
        }
        for (label, e) in [
            ("Delivery error", &s.latest_delivery_error),
            ("Digest delivery error", &s.latest_digest_delivery_error),
            ("Notification error", &s.latest_notification_error),
        ] {
            if let Some(e) = e {
                a = a.fact(label, e.clone());
            }
        }
    }
    a = a.fact(
        "Began",
        c.since.map(fmt).unwrap_or_else(|| "not recorded".into()),
    );
    a = a.fact("Checked", fmt(at));
    // What tells this episode from a later one of the same condition (destinations anchor
    // the alert's fingerprint on it): when it began, else the check that first reported it
    // (the watchdog then reports it once a period).
    a = a.fact(
        "Incident",
        format!(
            "{} of {} since {}",
            c.kind.detection(),
            o.trail,
            fmt(c.since.unwrap_or(at))
        ),
    );
    a.references = vec![
        "MITRE ATT&CK T1562.008: https://attack.mitre.org/techniques/T1562/008/".into(),
        "https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_GetTrailStatus.html"
            .into(),
    ];
    a.evidence = Some(json!({"condition": c, "trail": o, "since": since}));
    a
}
