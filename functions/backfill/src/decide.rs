//! Pure: what to do with each object of a batch, judged from its key: a CloudTrail log file is
//! scanned with the catalog (as log-delivery scans it), a digest is checked (as log-integrity
//! checks it), anything else is skipped with the reason. Every object gets a step, so every
//! object gets a result.

use crate::{Backfill, Config};
use serde::{Deserialize, Serialize};
use trailwarden::payload::S3Object;
use trailwarden::respond::{DecidePayload, Decision, PlannedStep, StepKind};
use trailwarden::s3key::{classify_key, KeyKind};
use trailwarden::Payload;

/// Why a payload is ignored: it names no objects.
pub const NOT_A_BATCH: &str =
    "not a batch of S3 objects: backfill is invoked by its state machine's Distributed Map";
/// Why a batch is ignored: it is empty.
pub const EMPTY_BATCH: &str = "the batch holds no object";

/// What an object is, for a backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A CloudTrail log file: scanned with the catalog.
    Log,
    /// A CloudTrail digest file: signature, listed log files and chain checked.
    Digest,
    /// Anything else (Insights files, the writability check, other objects).
    Skipped,
}

/// The batch: every object with what its key says it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub objects: Vec<(S3Object, ObjectKind)>,
}

/// One step per object. Both read and change nothing, so a dry run runs them too.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    ScanLogFile { object: S3Object },
    VerifyDigest { object: S3Object },
}

impl Step {
    pub fn object(&self) -> &S3Object {
        match self {
            Step::ScanLogFile { object } | Step::VerifyDigest { object } => object,
        }
    }
}

impl StepKind for Step {
    fn name(&self) -> String {
        match self {
            Step::ScanLogFile { .. } => "scan log file".into(),
            Step::VerifyDigest { .. } => "verify digest".into(),
        }
    }
    fn target(&self) -> String {
        self.object().uri()
    }
    fn changes(&self) -> bool {
        false
    }
}

/// What `key` is: log-integrity's test for digests (under `CloudTrail-Digest/`, `.json.gz`),
/// log-delivery's for log files.
pub fn kind_of(o: &S3Object) -> (ObjectKind, Option<String>) {
    if log_integrity::decide::skip_reason(o).is_none() {
        return (ObjectKind::Digest, None);
    }
    match classify_key(&o.key) {
        KeyKind::LogFile { .. } => (ObjectKind::Log, None),
        other => (ObjectKind::Skipped, other.skip_reason()),
    }
}

impl DecidePayload for Backfill {
    type Config = Config;
    type Case = Case;
    type Step = Step;

    /// One step per object, in batch order; objects that are neither log files nor digests are
    /// skipped steps carrying the reason.
    fn decide_payload(_config: &Config, payload: &Payload) -> Decision<Case, Step> {
        match payload.s3_objects() {
            None => Decision::ignore(NOT_A_BATCH),
            Some([]) => Decision::ignore(EMPTY_BATCH),
            Some(objects) => plan(objects),
        }
    }
}

/// The batch's objects, each with its step.
fn plan(objects: &[S3Object]) -> Decision<Case, Step> {
    let mut case = Case {
        objects: Vec::with_capacity(objects.len()),
    };
    let mut plan = Vec::with_capacity(objects.len());
    for o in objects {
        let (kind, reason) = kind_of(o);
        let step = match kind {
            ObjectKind::Digest => Step::VerifyDigest { object: o.clone() },
            _ => Step::ScanLogFile { object: o.clone() },
        };
        plan.push(match kind {
            ObjectKind::Skipped => PlannedStep::skipped(
                step,
                reason.unwrap_or_else(|| "not a CloudTrail log or digest file".into()),
            ),
            _ => PlannedStep::new(step),
        });
        case.objects.push((o.clone(), kind));
    }
    Decision::Respond { case, plan }
}
