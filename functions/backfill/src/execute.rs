//! The SDK side of a batch: each log file is scanned by log-delivery's own scan
//! ([`log_delivery::execute::scan_object`]), each digest checked by log-integrity's own check
//! ([`log_integrity::check::check_digest`]). Nothing is changed.
//!
//! Failure policy, object by object: an object gone since it was listed is skipped; a failure
//! worth retrying (throttling, 5xx, a read cut by the network) fails the step, so the batch
//! fails and the state machine retries it; any other failure (access denied, a corrupt file) is
//! recorded in the object's result and the batch goes on: retrying would not change it.

use crate::decide::{ObjectKind, Step};
use crate::result::{clip, DigestResult, ObjectResult};
use crate::{Backfill, Config};
use std::time::Instant;
use trailwarden::alert::Status;
use trailwarden::respond::{InitError, Job, Responder, StepResult};

/// Why an object listed for the batch is skipped when it is gone.
pub const VANISHED: &str = "gone since it was listed (deleted or expired)";

/// What the steps of one batch learnt, in execution order.
#[derive(Debug, Default)]
pub struct Output {
    pub results: Vec<ObjectResult>,
}

impl Output {
    /// The result for the step's object.
    pub fn get(&self, step: &Step) -> Option<&ObjectResult> {
        let o = step.object();
        self.results
            .iter()
            .find(|r| r.bucket == o.bucket && r.key == o.key)
    }
}

impl Responder for Backfill {
    const NAME: &'static str = crate::NAME;

    /// Builds the state: the catalog with an `s3://` `CUSTOM_DETECTIONS_URI` merged in (a
    /// malformed detection stops the cold start), the S3 clients and the digest keys.
    async fn init(sdk: &aws_config::SdkConfig, config: &mut Config) -> Result<Self, InitError> {
        let s3 = trailwarden::aws::s3_client(sdk);
        config.catalog.load_s3(&s3).await?;
        let keys = log_integrity::public_keys::Keys::new(
            sdk,
            config.integrity.public_keys_uri.as_ref(),
            &s3,
        );
        tracing::info!(
            function = crate::NAME,
            detections = config.catalog.catalog.len(),
            "catalog ready"
        );
        let reader = trailwarden::aws::BucketReader::new(sdk);
        Ok(Backfill { s3, reader, keys })
    }

    async fn execute_step(&self, step: &Step, job: Job<'_, Self>) -> StepResult {
        let Job { config, output, .. } = job;
        match step {
            Step::ScanLogFile { .. } => self.scan(config, step, output).await,
            Step::VerifyDigest { .. } => self.verify(config, step, output).await,
        }
    }
}

impl Backfill {
    async fn scan(&self, config: &Config, step: &Step, output: &mut Output) -> StepResult {
        let o = step.object();
        let started = Instant::now();
        let mut result = ObjectResult::new(&o.bucket, &o.key, ObjectKind::Log);
        let scanned = log_delivery::execute::scan_object(
            &self.reader,
            config.catalog.catalog.clone(),
            &config.common.own_role_arns,
            o,
        )
        .await;
        result.duration_ms = started.elapsed().as_millis() as u64;
        let status = match scanned {
            Err(e) if e.is_not_found() => {
                result.kind = ObjectKind::Skipped;
                result.reason = Some(VANISHED.into());
                StepResult::status(Status::Skipped, VANISHED)
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(key = %o.key, error = %e, "log file not read: the batch will be retried");
                return StepResult::failed(e.to_string());
            }
            Err(e) => {
                tracing::warn!(key = %o.key, error = %e, "log file not read");
                result.error = Some(clip(&e.to_string()));
                StepResult::status(Status::Skipped, format!("not read: {e}"))
            }
            Ok((_, Some(e))) if e.error.is_transient() => {
                tracing::warn!(key = %o.key, error = %e, "log file read cut short: the batch will be retried");
                return StepResult::failed(e.to_string());
            }
            Ok((report, error)) => {
                result = result.with_scan(&report);
                tracing::info!(key = %o.key, records = report.records, findings = report.findings.len(),
                    duration_ms = result.duration_ms, "log file scanned");
                match error {
                    None => StepResult::done(),
                    Some(e) => {
                        result.error = Some(clip(&format!("read until: {}", e.error)));
                        StepResult::status(Status::Done, format!("read until: {}", e.error))
                    }
                }
            }
        };
        output.results.push(result);
        status
    }

    async fn verify(&self, config: &Config, step: &Step, output: &mut Output) -> StepResult {
        let o = step.object();
        let started = Instant::now();
        let store =
            log_integrity::store::S3Store::new(self.reader.client(&o.bucket, o.region.as_deref()));
        let at = log_integrity::store::Location::new(&o.bucket, &o.key);
        let check = log_integrity::check::check_digest(
            &store,
            &self.keys,
            &config.integrity.options(),
            &at,
            o.version_id.as_deref(),
        )
        .await;
        let mut result = ObjectResult::new(&o.bucket, &o.key, ObjectKind::Digest);
        result.duration_ms = started.elapsed().as_millis() as u64;
        let digest = DigestResult::from_check(&check);
        tracing::info!(digest = %o.uri(), verdict = ?digest.verdict, log_files = digest.log_files,
            problems = digest.problems_total, duration_ms = result.duration_ms, "digest checked");
        let detail = format!(
            "{:?}, {} log file(s), {} problem(s)",
            digest.verdict, digest.log_files, digest.problems_total
        )
        .to_lowercase();
        result.digest = Some(digest);
        output.results.push(result);
        StepResult::status(Status::Done, detail)
    }
}
