//! trailwarden's common crate: the tolerant CloudTrail event model, payload parsing, the
//! alert model and its SNS rendering, configuration from the environment, and (feature
//! `aws`) SDK set-up and alert publishing; the EventBridge event-pattern engine, the detection
//! catalog and the streaming CloudTrail log-file scanner (all without the SDK).
#![forbid(unsafe_code)]

pub mod alert;
#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod detect;
pub mod event;
pub mod glob;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod logfile;
pub mod logging;
pub mod outcome;
pub mod pattern;
pub mod payload;
pub mod respond;

pub use alert::{Action, Alert, Severity, Status};
pub use event::{Principal, Record};
pub use outcome::Outcome;
pub use payload::{Payload, PayloadError, S3Object};
