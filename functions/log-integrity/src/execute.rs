//! The AWS side: verifying a digest in S3 (read-only; the same in a dry run).

use crate::check::{check_digest, DigestCheck, FindingKind};
use crate::decide::{Case, Step};
use crate::store::{Location, S3Store};
use crate::LogIntegrity;
use trailwarden::alert::Status;
use trailwarden::respond::StepResult;

/// What verifying learnt: one check per digest, in plan order.
#[derive(Debug, Default)]
pub struct Output {
    pub checks: Vec<DigestCheck>,
}

impl LogIntegrity {
    /// An S3 store for objects in `region` (the function's own client when none is given).
    fn store_for(&self, region: Option<&str>) -> S3Store {
        S3Store::new(self.s3.get(region))
    }

    /// Verifies one digest and records the check in `output`. A check that could not be
    /// completed (a read or key look-up failed) fails the step, so that Lambda retries; the
    /// alert describing it is still sent.
    pub(crate) async fn execute(
        &self,
        _case: &Case,
        step: &Step,
        output: &mut Output,
    ) -> StepResult {
        let Step::VerifyDigest {
            bucket,
            key,
            version_id,
            region,
        } = step;
        let store = self.store_for(region.as_deref());
        let at = Location::new(bucket, key);
        let options = self.config.options();
        let check = check_digest(&store, &self.keys, &options, &at, version_id.as_deref()).await;
        let result = if check.is_valid() {
            tracing::info!(
                digest = %check.file,
                log_files = check.log_files.len(),
                first_of_chain = check.previous.is_none(),
                "CloudTrail digest valid"
            );
            StepResult::status(
                Status::Done,
                format!("valid, {} log file(s)", check.log_files.len()),
            )
        } else {
            tracing::warn!(
                digest = %check.file,
                findings = %serde_json::to_string(&check.findings).unwrap_or_default(),
                "CloudTrail digest failed validation"
            );
            match check
                .findings
                .iter()
                .find(|f| f.kind == FindingKind::CheckFailed)
            {
                Some(f) => StepResult::failed(format!(
                    "not every check could be done: {}: {}",
                    f.file, f.detail
                )),
                None => StepResult::status(
                    Status::Done,
                    format!("{} problem(s) found", check.findings.len()),
                ),
            }
        };
        output.checks.push(check);
        result
    }
}
