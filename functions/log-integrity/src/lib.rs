//! log-integrity: continuous CloudTrail log file integrity validation.
//!
//! CloudTrail signs an hourly digest of the log files it delivered; AWS only checks it when
//! someone runs `aws cloudtrail validate-logs`. This function checks every digest as it
//! lands in S3 (`Object Created` for a `CloudTrail-Digest/` key, via EventBridge or a classic
//! S3 event notification), one `VerifyDigest` step per digest:
//!
//! - the RSA signature (object metadata `signature`, PKCS#1 v1.5 SHA-256) with the CloudTrail
//!   public key whose fingerprint the digest names;
//! - that the digest sits where it says CloudTrail wrote it;
//! - every log file it lists, streamed and hashed (SHA-256 of the uncompressed content),
//!   [`check::LOG_FILE_READS`] at once;
//! - the chain: the previous digest exists, is unchanged (hash and signature), and no more
//!   than `MAX_DIGEST_GAP_MINUTES` passed between the two;
//! - for a digest that starts a new chain (after StopLogging/StartLogging, CloudTrail writes
//!   one with every `previousDigest*` field null): the most recent earlier digest of the same
//!   trail and region, found by listing back `RESTART_LOOKBACK_DAYS` days. If there is one,
//!   the chain restarted: the gap from its end to this digest's start is reported ("logging
//!   was off or digests were deleted between T1 and T2", the hours named), that earlier
//!   digest is checked again, and log files written during the gap that no digest lists are
//!   named (see [`restart`]).
//!
//! A bad signature, a modified or missing log file, a moved or modified digest raise one
//! critical alert naming every file concerned; a broken chain, a gap or a restart is high. A
//! valid digest is logged and counted ([`report::Stats`]), not alerted. Nothing is ever
//! changed, so the steps run in a dry run too (alerts are marked `[dry-run]`).
//!
//! # Settings
//! - `PUBLIC_KEYS_URI` (optional): `s3://bucket/key`, `file:///path` or a path to a JSON
//!   document in `cloudtrail:ListPublicKeys`' response shape
//!   (`{"PublicKeyList": [{"Value", "Fingerprint", "ValidityStartTime", "ValidityEndTime"}]}`,
//!   what `aws cloudtrail list-public-keys` prints). When set, keys come from it instead of the
//!   API: for emulators without ListPublicKeys (moto), isolated accounts, and tests. Read once
//!   per cold start.
//! - `MAX_DIGEST_GAP_MINUTES` (default 90, 1 to 10080): longest accepted time between the end
//!   of the previous digest's period and the end of this one's. CloudTrail delivers hourly.
//! - `RESTART_LOOKBACK_DAYS` (default 7, 0 to 31): how many days before a digest that starts a
//!   new chain are listed for the chain before it (0: no look-up).
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`).
//!
//! The verification core ([`check::check_digest`]) works on any [`store::Store`] and
//! [`keys::KeySource`], so the CLI validates a local copy of a trail bucket offline with
//! [`offline::validate_local`], and a trail bucket in place with [`s3walk::validate_s3`].
#![forbid(unsafe_code)]

pub mod check;
pub mod config;
pub mod decide;
pub mod digest;
pub mod execute;
pub mod hash;
pub mod keys;
pub mod offline;
pub mod public_keys;
pub mod report;
pub mod restart;
pub mod s3walk;
pub mod store;

pub use check::{Finding, FindingKind};
pub use config::{
    Config, KeysUri, DEFAULT_MAX_DIGEST_GAP_MINUTES, DEFAULT_RESTART_LOOKBACK_DAYS,
    MAX_MAX_DIGEST_GAP_MINUTES,
};
pub use decide::{Case, SkipReason, Step};
pub use execute::Output;
pub use offline::{validate_local, LocalOptions, LocalReport, Summary};
pub use report::{alert_for, Stats, DETECTION};
pub use s3walk::{validate_s3, Event, Walk};

pub const NAME: &str = "log-integrity";

/// The function's state: the S3 clients and where public keys come from, built once per cold
/// start.
#[derive(Debug)]
pub struct LogIntegrity {
    /// S3 clients per bucket region (the function's own region's by default).
    s3: trailwarden::aws::RegionalClients<aws_sdk_s3::Client>,
    keys: public_keys::Keys,
}
