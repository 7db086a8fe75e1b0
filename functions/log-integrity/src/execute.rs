//! The AWS side: verifying a digest in S3 (read-only; the same in a dry run).

use crate::check::{check_digest, DigestCheck, FindingKind, Options};
use crate::decide::Step;
use crate::public_keys::Keys;
use crate::store::{Location, S3Store};
use crate::{Config, LogIntegrity};
use trailwarden::alert::Status;
use trailwarden::aws::RegionalClients;
use trailwarden::respond::{InitError, Job, Responder, StepResult};

/// What verifying learnt: one check per digest, in plan order.
#[derive(Debug, Default)]
pub struct Output {
    pub checks: Vec<DigestCheck>,
}

impl LogIntegrity {
    /// The state for `config` (no AWS call: keys are looked up on first use). Also tamper's
    /// for its re-checks, which are log-integrity's checks.
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> LogIntegrity {
        let s3 = RegionalClients::new(sdk, trailwarden::aws::s3_client);
        let keys = Keys::new(sdk, config.public_keys_uri.as_ref(), &s3.get(None));
        LogIntegrity { s3, keys }
    }

    /// An S3 store for objects in `region` (the function's own client when none is given).
    pub fn store(&self, region: Option<&str>) -> S3Store {
        S3Store::new(self.s3.get(region))
    }

    /// Checks the digest at `at` in `store` (see [`check_digest`]).
    pub async fn check(
        &self,
        store: &S3Store,
        options: &Options,
        at: &Location,
        version: Option<&str>,
    ) -> DigestCheck {
        check_digest(store, &self.keys, options, at, version).await
    }
}

impl Responder for LogIntegrity {
    const NAME: &'static str = crate::NAME;

    async fn init(sdk: &aws_config::SdkConfig, config: &mut Config) -> Result<Self, InitError> {
        Ok(LogIntegrity::new(sdk, config))
    }

    /// Verifies one digest and records the check in `output`. A check that could not be
    /// completed (a read or key look-up failed) fails the step, so that Lambda retries; the
    /// alert describing it is still sent.
    async fn execute_step(&self, step: &Step, job: Job<'_, Self>) -> StepResult {
        let Job { config, output, .. } = job;
        let Step::VerifyDigest {
            bucket,
            key,
            version_id,
            region,
        } = step;
        let store = self.store(region.as_deref());
        let at = Location::new(bucket, key);
        let check = self
            .check(&store, &config.options(), &at, version_id.as_deref())
            .await;
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
