//! tamper: notice when someone switches trailwarden off.
//!
//! trailwarden is blinded by a handful of API calls on its own resources: `DisableRule` on the
//! rule that routes log files, `DeleteFunction` on a function, `PutBucketNotification` with an
//! empty configuration on the trail bucket, `StopLogging` on the trail, a deny policy on a
//! function's role, `Unsubscribe` from the alert topic. This function receives those calls in
//! real time (EventBridge rules in the template, one per service) and raises a critical alert
//! with who did it, from where, and the request.
//!
//! Which resources are trailwarden's is known only once the stack is deployed, so the template
//! passes them (`SELF_RESOURCES`, `TRAIL_ARNS`) and [`detections`] turns them, at cold start,
//! into the `self` detection family: catalog detections compiled by the shared engine and
//! matched with [`trailwarden::detect::Catalog::matching`], like every other detection.
//!
//! It also watches the trail's files: a log file or digest deleted or written over (EventBridge
//! `Object Deleted` from the trail bucket, or S3 data events when the trail records them) is
//! re-checked with log-integrity's chain code ([`log_integrity::check::check_digest`]): for a
//! digest, the digest itself and the next one of its chain; for a log file, the digests that
//! list it. The alert names the file and what the re-check found.
//!
//! Optionally (`RESTART_LOGGING=true`) it turns logging back on after `StopLogging` on a
//! protected trail, and says so in the alert, with the trail's status read afterwards.
//!
//! # Settings
//! - `SELF_RESOURCES`: `kind=value` items, comma-separated; kinds `stack`, `rule`,
//!   `function`, `role`, `topic`, `queue`, `bucket`, `key` (see [`config::KINDS`]); values may
//!   hold `*` (`rule=trailwarden-*`).
//! - `TRAIL_ARNS`: the protected trails (ARNs, or names).
//! - `RESTART_LOGGING` (default `false`).
//! - `PUBLIC_KEYS_URI`, `MAX_DIGEST_GAP_MINUTES`, `RESTART_LOOKBACK_DAYS`: as for
//!   log-integrity, whose checks the re-checks are.
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`: trailwarden's own calls are never alerted).
#![forbid(unsafe_code)]

pub mod config;
pub mod decide;
pub mod detections;
pub mod execute;
pub mod report;

pub use config::{Config, SelfResources, TrailRef};
pub use decide::{Case, Change, FileKind, Objects, Restart, Step, Touch, Touched};
pub use execute::Output;
pub use report::Stats;

pub const NAME: &str = "tamper";

/// The function's state: log-integrity's (S3 clients and where digest keys come from, for the
/// re-checks) and CloudTrail clients per region (boxed: the registry of functions holds every
/// function's state in one enum).
#[derive(Debug)]
pub struct Tamper {
    integrity: Box<log_integrity::LogIntegrity>,
    cloudtrail: Box<trailwarden::aws::RegionalClients<aws_sdk_cloudtrail::Client>>,
}
