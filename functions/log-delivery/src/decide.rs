//! Pure: which objects of a notification are CloudTrail log files to scan, and which are
//! skipped (digest, Insights and other objects), judged from their keys.

use crate::config::Config;
use crate::LogDelivery;
use serde::Serialize;
use trailwarden::payload::S3Object;
use trailwarden::respond::{DecidePayload, Decision, PlannedStep, StepKind};
use trailwarden::s3key::{classify_key, KeyKind};
use trailwarden::Payload;

/// Why a payload is ignored: it is not an S3 notification.
pub const NOT_S3: &str =
    "not an S3 object notification: log-delivery scans CloudTrail log files delivered to S3";
/// Why a payload is ignored: it names no object.
pub const NO_OBJECT: &str = "the notification names no created object";

/// What a notification delivered: every object it names, with what its key says it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub objects: Vec<Delivered>,
}

/// One object of the notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub object: S3Object,
    /// What the key says it is (a log file to scan, or why not).
    pub kind: KeyKind,
}

impl Case {
    /// The objects that are log files.
    pub fn log_files(&self) -> impl Iterator<Item = &Delivered> {
        self.objects
            .iter()
            .filter(|d| matches!(d.kind, KeyKind::LogFile { .. }))
    }
}

/// One step: read one object and run the catalog over it. Reading changes nothing, so it
/// runs in a dry run too.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    Scan { object: S3Object },
}

impl Step {
    pub fn object(&self) -> &S3Object {
        match self {
            Step::Scan { object } => object,
        }
    }
}

impl StepKind for Step {
    fn name(&self) -> String {
        match self {
            Step::Scan { .. } => "scan log file".into(),
        }
    }
    fn target(&self) -> String {
        self.object().uri()
    }
    fn changes(&self) -> bool {
        false
    }
}

/// Every object classified, in the notification's order; `None` when the payload is not an
/// S3 notification.
pub fn delivered(payload: &Payload) -> Option<Vec<Delivered>> {
    let objects = payload.s3_objects()?;
    Some(
        objects
            .iter()
            .map(|o| Delivered {
                object: o.clone(),
                kind: classify_key(&o.key),
            })
            .collect(),
    )
}

impl DecidePayload for LogDelivery {
    type Config = Config;
    type Case = Case;
    type Step = Step;

    /// One `Scan` step per object: log files to be scanned, every other object skipped with the
    /// reason. Ignored when nothing is a log file.
    fn decide_payload(_config: &Config, payload: &Payload) -> Decision<Case, Step> {
        match delivered(payload) {
            None => Decision::ignore(NOT_S3),
            Some(objects) if objects.is_empty() => Decision::ignore(NO_OBJECT),
            Some(objects) => plan(objects),
        }
    }
}

/// One `Scan` step per delivered object; ignored when none is a log file.
fn plan(objects: Vec<Delivered>) -> Decision<Case, Step> {
    let mut reasons = Vec::new();
    let plan: Vec<PlannedStep<Step>> = objects
        .iter()
        .map(|d| {
            let step = Step::Scan {
                object: d.object.clone(),
            };
            match d.kind.skip_reason() {
                None => PlannedStep::new(step),
                Some(reason) => {
                    reasons.push(format!("{}: {reason}", d.object.uri()));
                    PlannedStep::skipped(step, reason)
                }
            }
        })
        .collect();
    if reasons.len() == plan.len() {
        return Decision::ignore(format!("no CloudTrail log file: {}", reasons.join("; ")));
    }
    Decision::Respond {
        case: Case { objects },
        plan,
    }
}
