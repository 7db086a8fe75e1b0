//! Pure: which detections of the catalog one CloudTrail event matches, and the plan: for a
//! detection without threshold, claim its incident; for a threshold detection, count the
//! event into its group's shared counter, then claim the group's incident if it crossed.

use crate::config::Config;
use crate::RealtimeCatalog;
use serde::Serialize;
use serde_json::Value;
use trailwarden::detect::scan::{group_key_of, resource_of};
use trailwarden::detect::{Detection, BUILT_IN};
use trailwarden::event::Record;
use trailwarden::respond::{Decide, Decision, StepKind};
use trailwarden::Payload;
use trailwarden_state::Fingerprint;

/// Why a payload is ignored: it carries no CloudTrail record.
pub const NOT_AN_EVENT: &str = "not a CloudTrail event: catalog evaluates single CloudTrail \
     events delivered by EventBridge (log files go to log-delivery)";

/// What `gather` found in the state before deciding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// When this event was already handled (a retry or a re-delivery), as recorded.
    pub handled: Option<String>,
    /// The state could not be read: deciding without it (fail open).
    pub state_error: Option<String>,
}

/// One event and the detections it matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The record as the model reads it (who, when, where).
    pub record: Record,
    /// The event's identity: CloudTrail's `eventID` (the envelope's id, or a hash of the
    /// record, when absent). It owns the incidents this event opens.
    pub event_id: String,
    /// `eventTime` as epoch seconds.
    pub epoch: Option<i64>,
    /// Who made the call (as alerts name them).
    pub principal: String,
    /// What the call acted on ([`resource_of`]).
    pub resource: String,
    /// The matched detections, in catalog order.
    pub matches: Vec<Matched>,
    /// The state could not be read before deciding.
    pub state_warning: Option<String>,
}

/// One matched detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub detection: String,
    /// The threshold group (threshold detections only).
    pub group: Option<String>,
}

/// One step. Both only write trailwarden's own state table, never the account, so they run
/// in a dry run too: a dry run counts and suppresses duplicates as a live run does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Add this event to the shared counter of (detection, group).
    Count { detection: String, group: String },
    /// Open the detection's incident for this event, unless another event or log file did.
    /// A threshold detection's incident is known once counted (`fingerprint` is `None`).
    Claim {
        detection: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        fingerprint: Option<Fingerprint>,
        #[serde(skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
}

impl Step {
    pub fn detection(&self) -> &str {
        match self {
            Step::Count { detection, .. } | Step::Claim { detection, .. } => detection,
        }
    }
}

impl StepKind for Step {
    fn name(&self) -> String {
        match self {
            Step::Count { .. } => "count toward threshold".into(),
            Step::Claim { .. } => "open incident".into(),
        }
    }
    fn target(&self) -> String {
        match self {
            Step::Count { detection, group } => format!("{detection} for {group}"),
            Step::Claim {
                fingerprint: Some(fp),
                ..
            } => fp.describe(),
            Step::Claim {
                detection, group, ..
            } => format!(
                "{detection} for {} (if the threshold is crossed)",
                group.as_deref().unwrap_or("-")
            ),
        }
    }
    fn changes(&self) -> bool {
        false
    }
}

/// The deployed responder a built-in detection leaves its events to (`RESPONDERS`), if any.
fn left_to<'a>(config: &Config, d: &'a Detection) -> Option<&'a str> {
    d.responder
        .as_deref()
        .filter(|r| d.origin == BUILT_IN && config.responders.iter().any(|x| x == r))
}

/// The event's identity (see [`Case::event_id`]).
pub fn event_id(payload: &Payload, json: &Value) -> String {
    if let Some(id) = json.get("eventID").and_then(Value::as_str) {
        return id.to_string();
    }
    if let Payload::CloudTrail(e) = payload {
        if let Some(id) = &e.id {
            return format!("envelope-{id}");
        }
    }
    format!(
        "record-{}",
        trailwarden_state::keys::short_hash(&json.to_string())
    )
}

impl Decide for RealtimeCatalog {
    type Config = Config;
    type Facts = Facts;
    type Case = Case;
    type Step = Step;

    /// The decision for one event.
    fn decide(config: &Config, payload: &Payload, facts: &Facts) -> Decision<Case, Step> {
        let (Some(record), Some(json)) = (payload.record(), payload.record_json()) else {
            return Decision::ignore(NOT_AN_EVENT);
        };
        let id = event_id(payload, &json);
        if let Some(at) = &facts.handled {
            return Decision::ignore(format!(
                "event {id} was already handled at {at} (a retry or a re-delivery): its alerts went \
                 out then"
            ));
        }
        let principal = record.principal();
        if let Some(own) = principal
            .match_arn()
            .filter(|a| config.common.is_own(Some(a), record))
        {
            return Decision::ignore(format!(
                "made by trailwarden's own role {own}: its remediations are not findings"
            ));
        }
        let catalog = &config.detections.catalog;
        let (matched, left): (Vec<_>, Vec<_>) = catalog
            .matching(&json)
            .into_iter()
            .partition(|d| left_to(config, d).is_none());
        if matched.is_empty() {
            if let Some(d) = left.first() {
                return Decision::ignore(format!(
                    "{} {} matches {}, left to the responder {} (it alerts this event and records \
                     the incident, so the log scan does not alert it again)",
                    record.event_source(),
                    record.event_name(),
                    left.iter()
                        .map(|d| d.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    left_to(config, d).unwrap_or("-"),
                ));
            }
            return Decision::ignore(format!(
                "no detection of the catalog ({} detections) matches {} {}",
                catalog.len(),
                record.event_source(),
                record.event_name()
            ));
        }
        let epoch = record.time().map(|t| t.timestamp());
        let principal = principal.display();
        let resource = resource_of(json.get("requestParameters"), json.get("resources"));
        let mut matches = Vec::new();
        let mut steps = Vec::new();
        for d in matched {
            match &d.threshold {
                Some(t) => {
                    let group = group_key_of(&json, t);
                    steps.push(Step::Count {
                        detection: d.id.clone(),
                        group: group.clone(),
                    });
                    steps.push(Step::Claim {
                        detection: d.id.clone(),
                        fingerprint: None,
                        group: Some(group.clone()),
                    });
                    matches.push(Matched {
                        detection: d.id.clone(),
                        group: Some(group),
                    });
                }
                None => {
                    steps.push(Step::Claim {
                        detection: d.id.clone(),
                        fingerprint: Some(Fingerprint::of_event(
                            &d.id,
                            record,
                            &json,
                            config.state.incident_window_seconds,
                        )),
                        group: None,
                    });
                    matches.push(Matched {
                        detection: d.id.clone(),
                        group: None,
                    });
                }
            }
        }
        Decision::respond(
            Case {
                record: record.clone(),
                event_id: id,
                epoch,
                principal,
                resource,
                matches,
                state_warning: facts.state_error.clone(),
            },
            steps,
        )
    }
}
