//! log-delivery: when CloudTrail delivers a log file to S3, run the whole detection catalog
//! over every record in it and send one aggregated alert per detection that fired.
//!
//! EventBridge sees single events, and only where a trail and a rule exist; the log files are
//! the complete record. This function is triggered by S3 `Object Created` (through EventBridge,
//! or a classic S3 event notification). [`decide`] plans one `scan log file`
//! step per object, keeping only CloudTrail log files (digest, Insights and other objects are
//! skipped with the reason, judged from the key by [`trailwarden::s3key`]). Each scan streams
//! the object through gunzip and the record splitter in [`trailwarden::logfile`] (memory stays
//! bounded whatever the file size) and aggregates matches per detection: count, first and last
//! time, top principals, regions and sample event ids ([`trailwarden::detect`]). Reading
//! changes nothing, so a dry run scans too and its alerts are marked as such.
//!
//! Configuration (environment, read once at cold start):
//! - `CUSTOM_DETECTIONS_URI`: a detection file (`{"detections": [...]}`) that adds to or
//!   overrides the built-in catalog by id: a local path (bundled with the function) or
//!   `s3://bucket/key` (read at cold start). A malformed detection stops the cold start with
//!   its id and what is wrong. Default: none.
//! - `EXCLUDE_FEDERATED_SIGNIN`: CIS 4.2 (console sign-in without MFA) counts only IAM users
//!   and root, leaving out IAM Identity Center and SAML/OIDC federated sign-ins (whose MFA
//!   happens at the identity provider). Default `true`.
//! - `DEPLOYER_ROLE_ARNS`: IAM roles of infrastructure-as-code pipelines whose sessions the
//!   detections marked `deployer_exempt` leave out. Default: none.
//! - `APPROVED_CREATOR_ARNS`: unapproved-user's approved creators; their role patterns add a
//!   high detection of a role created to fit one, or such a role's trust policy changed.
//!   Default: none.
//! - `EXEMPT_TAG`: security-group's exemption tag key, which the detection of that tag being
//!   set or removed watches. Default: `trailwarden:exempt`.
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`) from [`trailwarden::config::Common`].
//!
//! A missing object (deleted after the notification) is skipped; any other S3 failure, or a
//! read cut by S3 or the network, fails the invocation so that Lambda retries. A corrupt or
//! truncated file is reported by an alert ([`UNREADABLE_DETECTION`]): retrying cannot fix it.
//! Each scanned object logs a summary line and prints CloudWatch Embedded Metric Format lines
//! ([`emf`]).
#![forbid(unsafe_code)]

pub mod config;
pub mod decide;
pub mod emf;
pub mod execute;
pub mod report;

pub use config::{Config, CUSTOM_DETECTIONS_URI, EXCLUDE_FEDERATED_SIGNIN};
pub use decide::{Case, Delivered, Step};
pub use execute::{ObjectScan, Scans};
pub use report::{
    alerts_for, DeliveryStats, ObjectAction, ObjectStats, ACCESS_DENIED_DETECTION,
    UNREADABLE_DETECTION,
};

pub const NAME: &str = "log-delivery";

/// log-delivery's per-cold-start state: the reader of log files in any bucket and region
/// ([`trailwarden::aws::BucketReader`]: the bucket's region, denied reads explained).
#[derive(Debug, Clone)]
pub struct LogDelivery {
    reader: std::sync::Arc<trailwarden::aws::BucketReader>,
    /// The state shared with the real-time path (`STATE_TABLE`; memory when unset).
    state: trailwarden_state::State,
}
