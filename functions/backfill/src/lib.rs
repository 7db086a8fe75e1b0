//! backfill: the per-batch worker and the summary step of the backfill state machine
//! (`statemachines/backfill.asl.json`), which fans a whole trail archive (millions of objects,
//! listed under an S3 prefix or read from an S3 Inventory manifest) out over this function with
//! a Step Functions Distributed Map.
//!
//! **A batch** (`{"Items": [...], "BatchInput": {...}}`, see [`batch`]) is a list of objects.
//! [`decide`](decide::decide) gives each object one step from its key: a CloudTrail log file is
//! scanned with the catalog by log-delivery's own scan
//! ([`log_delivery::execute::scan_object`]: the same catalog settings, the same counting, the
//! same exclusion of trailwarden's own roles); a digest is checked by log-integrity's own check
//! ([`log_integrity::check::check_digest`]: signature, every listed log file's hash, the chain,
//! gaps and restarts); anything else is skipped with the reason. The answer is one
//! [`result::ObjectResult`] per object (key, kind, records, matching records per detection,
//! the digest's verdict and problems, the error), which the Distributed Map's ResultWriter
//! stores in S3. A batch sends no alert: alerting per file over millions of files would bury
//! the people reading them.
//!
//! **The summary** (`{"summarize": {...}}`, see [`summary`]) reads every stored result back,
//! adds them up and sends **one** alert for the whole backfill ([`report::summary_alert`]): each
//! detection that fired with its matching records, files and days, each kind of integrity
//! problem, what could not be read, where the per-object results are. Its severity is the most
//! severe thing found, so `MIN_SEVERITY` and subscription filters work as for every alert.
//!
//! Failures: an object gone since it was listed is skipped; a failure worth retrying
//! (throttling, 5xx, a read cut short) fails the batch, which the state machine retries, and
//! counts against its tolerated failure percentage when it keeps failing; any other failure
//! (access denied, a corrupt file) is recorded in the object's result. Nothing is changed, so
//! a dry run behaves the same (the summary alert is marked `[dry-run]`).
//!
//! Configuration (environment, read once at cold start): log-delivery's catalog settings
//! (`CUSTOM_DETECTIONS_URI`, `DISABLED_DETECTION_FAMILIES`, `EXCLUDE_FEDERATED_SIGNIN`),
//! log-integrity's (`PUBLIC_KEYS_URI`, `MAX_DIGEST_GAP_MINUTES`, `RESTART_LOOKBACK_DAYS`) and
//! the common settings (`ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`, `DRY_RUN`,
//! `OWN_ROLE_ARNS`).
#![forbid(unsafe_code)]

pub mod batch;
pub mod config;
pub mod decide;
pub mod execute;
pub mod report;
pub mod result;
pub mod summarize;
pub mod summary;

pub use batch::{Batch, Request, Source};
pub use config::Config;
pub use decide::{Case, ObjectKind, Step};
pub use execute::Output;
pub use result::{BatchResult, DigestResult, ObjectResult, Verdict};
pub use summary::{Summary, SummaryRequest};

use serde_json::Value;
use trailwarden::lambda::Service;
use trailwarden::respond::{Decision, InitError, Plan, Report, Responder, StepResult};
use trailwarden::Payload;

pub const NAME: &str = "backfill";

/// backfill's per-cold-start state: its configuration (with the catalog in force), the S3
/// client and where digest signatures' public keys come from.
#[derive(Debug)]
pub struct Backfill {
    pub config: Config,
    /// The function's own S3 client (results, detection and key documents).
    pub s3: aws_sdk_s3::Client,
    /// Reads archive objects in their bucket's region (log-delivery's reader).
    reader: trailwarden::aws::BucketReader,
    keys: log_integrity::public_keys::Keys,
}

impl Responder for Backfill {
    const NAME: &'static str = NAME;
    type Config = Config;
    type Facts = ();
    type Case = Case;
    type Step = Step;
    type Output = Output;
    type Stats = BatchResult;

    async fn init(sdk: &aws_config::SdkConfig, mut config: Config) -> Result<Self, InitError> {
        let s3 = trailwarden::aws::s3_client(sdk);
        config.catalog.load_s3(&s3).await?;
        let keys = log_integrity::public_keys::Keys::new(
            sdk,
            config.integrity.public_keys_uri.as_ref(),
            &s3,
        );
        tracing::info!(
            function = NAME,
            detections = config.catalog.catalog.len(),
            "catalog ready"
        );
        let reader = trailwarden::aws::BucketReader::new(sdk);
        Ok(Backfill {
            config,
            s3,
            reader,
            keys,
        })
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn decide(_config: &Config, payload: &Payload, _facts: &()) -> Decision<Case, Step> {
        decide::decide(payload)
    }

    async fn execute_step(&self, _case: &Case, step: &Step, output: &mut Output) -> StepResult {
        self.execute(step, output).await
    }

    fn report(
        _config: &Config,
        case: &Case,
        plan: &Plan<Step>,
        output: Option<&Output>,
    ) -> Report<BatchResult> {
        report::report(case, plan, output)
    }
}

/// The Lambda handler: a batch answers its per-object results ([`BatchResult`]), the summary
/// request the [`Summary`]. A batch that met a failure worth retrying is an error (the state
/// machine retries it), as is a payload that is neither.
pub async fn handle(service: &Service<Backfill>, payload: Value) -> Result<Value, String> {
    let request = batch::parse(&payload).map_err(|e| {
        tracing::error!(function = NAME, error = %e, "payload not understood");
        e.to_string()
    })?;
    match request {
        Request::Batch(b) => {
            let n = b.objects.len();
            let payload = Payload::S3Objects(b.objects);
            let outcome = Box::pin(service.run(&payload))
                .await
                .map_err(|e| e.message)?;
            tracing::info!(function = NAME, objects = n, "batch done");
            serde_json::to_value(outcome.stats).map_err(|e| e.to_string())
        }
        Request::Summary(req) => {
            let summary = Box::pin(summarize::summarize(service, &req)).await?;
            serde_json::to_value(summary).map_err(|e| e.to_string())
        }
    }
}
