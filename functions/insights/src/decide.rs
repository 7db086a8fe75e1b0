//! Pure: what an Insights event or an Insights file calls for.
//!
//! - An Insights event (EventBridge `AWS Insight via CloudTrail`, or a bare Insights record):
//!   the case is the insight; a `Start` plans one read-only step, the catalog look-up over the
//!   API's events in the insight's window ([`Window`]); an `End` plans nothing (its alert is
//!   the response).
//! - An S3 notification: every `CloudTrail-Insight/` object is read (one step each), then the
//!   Start records found in it get their catalog look-up (one step per file); other objects
//!   are skipped with the reason, judged from the key.

use crate::config::Config;
use crate::insight::{Insight, State};
use crate::Insights;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use trailwarden::payload::S3Object;
use trailwarden::respond::{DecidePayload, Decision, PlannedStep, StepKind};
use trailwarden::s3key::{classify_key, KeyKind};
use trailwarden::Payload;

/// Why a CloudTrail event that is not an Insights event is ignored.
pub const NOT_INSIGHT: &str =
    "not a CloudTrail Insights event: insights handles \"AWS Insight via \
     CloudTrail\" events and the Insights files delivered to the trail bucket";
/// Why an Insights event without `insightDetails` is ignored.
pub const NO_DETAILS: &str =
    "a CloudTrail Insights event without an insightDetails object: nothing says which API or rate";
/// Why a payload that is neither an event nor an S3 notification is ignored.
pub const NOT_HANDLED: &str = "neither a CloudTrail Insights event nor an S3 object notification";
/// Why a notification naming no object is ignored.
pub const NO_OBJECT: &str = "the notification names no created object";

/// How long before an insight's start the look-up begins: the calls that set it off.
pub const LOOK_BEFORE_MINUTES: i64 = 5;
/// The shortest stretch after the start that is looked at (a Start's `insightDuration` is the
/// minutes seen so far, often 1).
pub const LOOK_AFTER_MINUTES: i64 = 10;

/// The API and the time range a catalog look-up covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// The incident the look-up belongs to (`insight:<sharedEventID>`).
    pub incident: String,
    /// Where the insight was recorded; `LookupEvents` answers for one region.
    pub region: Option<String>,
    pub event_source: Option<String>,
    pub event_name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// The window of a Start record: from [`LOOK_BEFORE_MINUTES`] before the start to the
    /// longer of its `insightDuration` and [`LOOK_AFTER_MINUTES`] after it. `None` without an
    /// API name or a start time.
    pub fn for_start(i: &Insight) -> Option<Window> {
        let start = i.started()?;
        let name = i.event_name.clone()?;
        let after = i
            .duration()
            .unwrap_or_else(Duration::zero)
            .max(Duration::minutes(LOOK_AFTER_MINUTES));
        Some(Window {
            incident: i.incident_id(),
            region: i.region.clone(),
            event_source: i.event_source.clone(),
            event_name: name,
            from: start - Duration::minutes(LOOK_BEFORE_MINUTES),
            to: start + after,
        })
    }

    /// `eventName in region, from - to` for step targets and alerts.
    pub fn describe(&self) -> String {
        format!(
            "{} in {} from {} to {} UTC",
            self.event_name,
            self.region.as_deref().unwrap_or("the function's region"),
            self.from.format("%Y-%m-%d %H:%M"),
            self.to.format("%H:%M"),
        )
    }
}

/// What the payload is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Case {
    /// One Insights event delivered in real time (or a bare Insights record).
    Event { insight: Box<Insight> },
    /// Objects delivered to a trail bucket: the Insights files among them are read.
    Files { objects: Vec<Delivered> },
}

/// One object of a notification and what its key says it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub object: S3Object,
    pub kind: KeyKind,
}

/// One step. None changes anything: all run in a dry run too.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// `LookupEvents` for the insight's API over its window, run through the catalog.
    LookUp { window: Window },
    /// Read an Insights file.
    ReadFile { object: S3Object },
    /// The catalog look-up for every Start record read from this file.
    LookUpFile { object: S3Object },
}

impl StepKind for Step {
    fn name(&self) -> String {
        match self {
            Step::LookUp { .. } => "look up catalog findings".into(),
            Step::ReadFile { .. } => "read Insights file".into(),
            Step::LookUpFile { .. } => "look up catalog findings for its Start events".into(),
        }
    }
    fn target(&self) -> String {
        match self {
            Step::LookUp { window } => window.describe(),
            Step::ReadFile { object } | Step::LookUpFile { object } => object.uri(),
        }
    }
    fn changes(&self) -> bool {
        false
    }
}

impl DecidePayload for Insights {
    const HANDLES_INSIGHTS: bool = true;

    type Config = Config;
    type Case = Case;
    type Step = Step;

    /// The decision.
    fn decide_payload(config: &Config, payload: &Payload) -> Decision<Case, Step> {
        match payload {
            Payload::S3Objects(objects) => decide_files(config, objects),
            Payload::CloudTrail(_) | Payload::Record(_) => {
                if !payload.is_insight() {
                    return Decision::ignore(NOT_INSIGHT);
                }
                let Some(insight) = payload.record().and_then(Insight::from_record) else {
                    return Decision::ignore(NO_DETAILS);
                };
                let plan: Vec<PlannedStep<Step>> = match (&insight.state, config.lookup_max_events)
                {
                    (State::End, _) | (_, 0) => Vec::new(),
                    _ => Window::for_start(&insight)
                        .map(|window| {
                            let step = Step::LookUp { window };
                            match config.not_here(insight.account.as_deref()) {
                                Some(why) => PlannedStep::skipped(step, why),
                                None => PlannedStep::new(step),
                            }
                        })
                        .into_iter()
                        .collect(),
                };
                Decision::Respond {
                    case: Case::Event {
                        insight: Box::new(insight),
                    },
                    plan,
                }
            }
            _ => Decision::ignore(NOT_HANDLED),
        }
    }
}

fn decide_files(config: &Config, objects: &[S3Object]) -> Decision<Case, Step> {
    if objects.is_empty() {
        return Decision::ignore(NO_OBJECT);
    }
    let delivered: Vec<Delivered> = objects
        .iter()
        .map(|o| Delivered {
            object: o.clone(),
            kind: classify_key(&o.key),
        })
        .collect();
    let mut plan = Vec::new();
    let mut reasons = Vec::new();
    for d in &delivered {
        if d.kind == KeyKind::Insight {
            plan.push(PlannedStep::new(Step::ReadFile {
                object: d.object.clone(),
            }));
            if config.lookup_max_events > 0 {
                plan.push(PlannedStep::new(Step::LookUpFile {
                    object: d.object.clone(),
                }));
            }
        } else {
            let why = match &d.kind {
                KeyKind::LogFile { .. } => "a CloudTrail log file (log-delivery scans it)".into(),
                other => other
                    .skip_reason()
                    .unwrap_or_else(|| "not an Insights file".into()),
            };
            reasons.push(format!("{}: {why}", d.object.uri()));
            plan.push(PlannedStep::skipped(
                Step::ReadFile {
                    object: d.object.clone(),
                },
                why,
            ));
        }
    }
    if !delivered.iter().any(|d| d.kind == KeyKind::Insight) {
        return Decision::ignore(format!(
            "no CloudTrail Insights file: {}",
            reasons.join("; ")
        ));
    }
    Decision::Respond {
        case: Case::Files { objects: delivered },
        plan,
    }
}
