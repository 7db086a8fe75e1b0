//! Pure: a schedule tick becomes one read-only check per trail.

use crate::config::Config;
use crate::Watchdog;
use chrono::{DateTime, Utc};
use serde::Serialize;
use trailwarden::respond::{DecidePayload, Decision, StepKind};
use trailwarden::Payload;

/// One step: look at one trail (or at every trail `DescribeTrails` lists). Read-only, so it
/// runs in a dry run too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// `DescribeTrails`, `GetTrailStatus` and the freshness of its digests.
    CheckTrail {
        trail: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// The same for every trail `DescribeTrails` lists (`TRAIL_ARNS` unset).
    CheckAllTrails,
}

impl StepKind for Step {
    fn name(&self) -> String {
        match self {
            Step::CheckTrail { .. } => "CheckTrail".into(),
            Step::CheckAllTrails => "CheckAllTrails".into(),
        }
    }
    fn target(&self) -> String {
        match self {
            Step::CheckTrail { trail, .. } => trail.clone(),
            Step::CheckAllTrails => "every trail DescribeTrails lists".into(),
        }
    }
    fn changes(&self) -> bool {
        false
    }
}

/// The tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The scheduled time (the same for a retried invocation of the tick), to the minute.
    pub at: Option<DateTime<Utc>>,
    /// The account the schedule runs in: whose log files are checked.
    pub account: Option<String>,
    /// The schedule rule.
    pub rule: Option<String>,
}

impl DecidePayload for Watchdog {
    type Config = Config;
    type Case = Case;
    type Step = Step;

    /// A schedule tick: check every trail. Anything else: not the watchdog's.
    fn decide_payload(config: &Config, payload: &Payload) -> Decision<Case, Step> {
        let Some(s) = payload.schedule() else {
            return Decision::not_for(
                payload,
                "not a scheduled event (the watchdog runs on its schedule)",
            );
        };
        let at = s
            .time
            .as_deref()
            .and_then(trailwarden::event::parse_time)
            .map(crate::assess::to_minute);
        let case = Case {
            at,
            account: s.account.clone(),
            rule: s.resources.first().cloned(),
        };
        let steps: Vec<Step> = if config.trails.is_empty() {
            vec![Step::CheckAllTrails]
        } else {
            config
                .trails
                .iter()
                .map(|t| Step::CheckTrail {
                    trail: t.id().to_string(),
                    region: t.region.clone(),
                })
                .collect()
        };
        Decision::respond(case, steps)
    }
}
