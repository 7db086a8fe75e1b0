//! backfill: the per-batch worker and the summary step of the backfill state machine
//! (`statemachines/backfill.asl.json`), which fans a whole trail archive (millions of objects,
//! listed under an S3 prefix or read from an S3 Inventory manifest) out over this function with
//! a Step Functions Distributed Map.
//!
//! **A batch** (`{"Items": [...], "BatchInput": {...}}`, see [`batch`]) is a list of objects.
//! [`decide`] gives each object one step from its key: a CloudTrail log file is
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
//! (`CUSTOM_DETECTIONS_URI`, `DISABLED_DETECTION_FAMILIES`, `EXCLUDE_FEDERATED_SIGNIN`,
//! `DEPLOYER_ROLE_ARNS`, `APPROVED_CREATOR_ARNS`, `EXEMPT_TAG`),
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
use trailwarden::Payload;

pub const NAME: &str = "backfill";

/// backfill's per-cold-start state: the S3 client and where digest signatures' public keys
/// come from.
#[derive(Debug)]
pub struct Backfill {
    /// The function's own S3 client (results, detection and key documents).
    pub s3: aws_sdk_s3::Client,
    /// Reads archive objects in their bucket's region (log-delivery's reader).
    reader: trailwarden::aws::BucketReader,
    keys: log_integrity::public_keys::Keys,
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
