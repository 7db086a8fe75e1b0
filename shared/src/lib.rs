//! trailwarden's common crate (lib name `trailwarden`): everything the functions share.
//!
//! Module map, by layer:
//!
//! | Layer | Module | What it holds |
//! |---|---|---|
//! | The shape of a function | [`respond`] | the [`respond::Decide`] (pure `decide` to a typed plan), [`respond::Responder`] (state, facts, `execute_step`) and [`respond::Reporting`] (pure `report`) traits, the generic runner, `Outcome`, typed stats |
//! | | [`lambda`] (feature `aws`) | `Service<F>` (state + publisher + optional alert routing) and `serve`, every function's `main` |
//! | | [`config`] | settings from the environment; [`config::Common`], errors that name the variable |
//! | | [`estate`] | settings per account or organizational unit from one document (`ACCOUNT_SETTINGS_URI`), validated at cold start, with precedence |
//! | Input | [`payload`] | what a function receives (EventBridge event, S3 notification, ...), parsed |
//! | | [`event`] | the tolerant CloudTrail record model ([`Record`], [`Principal`]) |
//! | | [`envelope`] | the delivery routes around a payload: SNS, SQS batches, CloudTrail's SNS notification |
//! | Output | [`alert`] | the alert model and its SNS rendering |
//! | | [`logging`] | JSON logs |
//! | AWS toolbox (feature `aws`) | [`aws`] | SDK set-up, alert publishing; [`aws::call`] (`CallError`, classification, paging, backoff), [`aws::s3`] (bounded and streamed reads), [`aws::regional`] (clients per region) |
//! | Shared parsers (no SDK) | [`s3uri`] | `s3://bucket/key` ([`s3uri::S3Uri`]) and file-or-S3 settings |
//! | | [`s3key`] | what an object in a trail bucket is: log, digest, Insights file, other |
//! | | [`trail`] | trails named in settings (`TRAIL_ARNS`): ARN or name, and which request parameter names them |
//! | | [`net`] | IP addresses and CIDR blocks (IPv4-mapped IPv6 as IPv4), address-space coverage |
//! | | [`glob`] | `*` globs for names and ARNs |
//! | Detection engine (no SDK) | [`pattern`] | EventBridge event patterns: compile once, match many |
//! | | [`detect`] | detections as data: the catalog, its index, the log-file scanner, findings |
//! | | [`logfile`] | streaming CloudTrail log files: gzip, the record splitter, errors with progress |
//!
//! Without feature `aws` (the fuzz targets) everything but `aws` and `lambda` builds.
#![forbid(unsafe_code)]

pub mod alert;
#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod detect;
pub mod envelope;
pub mod estate;
pub mod event;
pub mod glob;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod logfile;
pub mod logging;
pub mod net;
pub mod pattern;
pub mod payload;
pub mod respond;
pub mod s3key;
pub mod s3uri;
pub mod trail;

pub use alert::{Action, Alert, Severity, Status};
pub use event::{Principal, Record};
pub use payload::{Payload, PayloadError, S3Object};
pub use respond::{Outcome, Responder};
