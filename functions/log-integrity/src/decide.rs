//! Pure: which objects of a notification are digests to verify, and which are skipped (why).

use crate::digest::{is_digest_key, is_log_file_key};
use crate::report;
use crate::{Config, LogIntegrity};
use serde::Serialize;
use trailwarden::payload::S3Object;
use trailwarden::respond::{DecidePayload, Decision, PlannedStep, StepKind};
use trailwarden::Payload;

/// One step: verify one digest (signature, location, listed log files, chain; for a digest
/// that starts a chain, the earlier chain too). Read-only, so it runs in a dry run as well:
/// a stack deployed in dry-run mode must still notice tampering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    VerifyDigest {
        bucket: String,
        key: String,
        /// The version the notification names (versioned buckets).
        #[serde(skip_serializing_if = "Option::is_none")]
        version_id: Option<String>,
        /// The bucket's region, when the notification says.
        #[serde(skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
}

impl Step {
    fn verify(o: &S3Object) -> Step {
        Step::VerifyDigest {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            version_id: o.version_id.clone(),
            region: o.region.clone(),
        }
    }
}

impl StepKind for Step {
    fn name(&self) -> String {
        match self {
            Step::VerifyDigest { .. } => "VerifyDigest".into(),
        }
    }
    fn target(&self) -> String {
        match self {
            Step::VerifyDigest { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        }
    }
    fn changes(&self) -> bool {
        false
    }
}

/// Why an object of the notification is not verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// CloudTrail's `ConfigWritabilityCheckFile`.
    WritabilityCheck,
    /// A log file: verified when the digest listing it arrives.
    LogFile,
    /// Not under `CloudTrail-Digest/`, or not `.json.gz`.
    NotDigest,
}

/// Why `o` is not verified; `None` for a digest file.
pub fn skip_reason(o: &S3Object) -> Option<SkipReason> {
    if is_digest_key(&o.key) {
        None
    } else if o.key.ends_with("ConfigWritabilityCheckFile") {
        Some(SkipReason::WritabilityCheck)
    } else if is_log_file_key(&o.key) {
        Some(SkipReason::LogFile)
    } else {
        Some(SkipReason::NotDigest)
    }
}

/// What the notification is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The digest files to verify, in notification order.
    pub digests: Vec<S3Object>,
    /// The other objects and why they are skipped.
    pub skipped: Vec<(S3Object, SkipReason)>,
}

impl Case {
    /// The region the notification names, if any.
    pub fn region(&self) -> Option<&str> {
        self.digests.iter().find_map(|o| o.region.as_deref())
    }
}

impl DecidePayload for LogIntegrity {
    type Config = Config;
    type Case = Case;
    type Step = Step;

    /// One `VerifyDigest` step per digest; other objects are skipped steps, with the reason.
    /// A notification without any digest is ignored.
    fn decide_payload(_config: &Config, payload: &Payload) -> Decision<Case, Step> {
        payload
            .s3_objects()
            .map_or_else(|| Decision::ignore(report::NOT_S3), plan)
    }
}

/// One step per object of the notification.
fn plan(objects: &[S3Object]) -> Decision<Case, Step> {
    let mut case = Case {
        digests: Vec::new(),
        skipped: Vec::new(),
    };
    let mut plan = Vec::with_capacity(objects.len());
    for o in objects {
        match skip_reason(o) {
            None => {
                case.digests.push(o.clone());
                plan.push(PlannedStep::new(Step::verify(o)));
            }
            Some(why) => {
                plan.push(PlannedStep::skipped(
                    Step::verify(o),
                    report::skip_text(why),
                ));
                case.skipped.push((o.clone(), why));
            }
        }
    }
    if case.digests.is_empty() {
        return Decision::ignore(report::nothing_to_verify(&case.skipped));
    }
    Decision::Respond { case, plan }
}
