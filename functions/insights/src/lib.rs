//! insights: CloudTrail Insights events, in real time and from the Insights files.
//!
//! CloudTrail Insights (turned on by the stack's `InsightTypes` parameter) watches each API's
//! call rate (`ApiCallRateInsight`) and error rate (`ApiErrorRateInsight`) against a baseline
//! and records a `Start` event when it becomes unusual and an `End` event when it is back to
//! normal, both with the same `sharedEventID`. They reach this function two ways:
//!
//! - in real time, as EventBridge `AWS Insight via CloudTrail` events (other regions through
//!   the forwarder): one alert per event;
//! - in the Insights files CloudTrail delivers under `CloudTrail-Insight/` in the trail
//!   bucket (S3 `Object Created`): the records of a file are paired by `sharedEventID`, one
//!   alert per insight.
//!
//! Every alert of one insight carries the incident id `insight:<sharedEventID>`. An End alert
//! states the baseline against the actual rate, the duration and CloudTrail's attribution of
//! the activity to principals, user agents and error codes. On a Start, the function looks up
//! the API's events in the insight's window (`cloudtrail:LookupEvents` in the insight's
//! region, at most `INSIGHT_LOOKUP_MAX_EVENTS`) and runs the detection catalog over them: what
//! it finds is attached to the alert, and a high or critical finding raises the alert to high.
//! Every other function skips Insights events with a reason.
//!
//! The four steps: [`decide`] (the insight or the files, and the read-only steps),
//! [`execute`] (reading files, the look-up), [`report`] (all wording); the model of an
//! Insights record and the pairing are in [`insight`], the look-up's summary in [`lookup`].
//!
//! Configuration (environment, read once at cold start, [`config`]):
//! - `INSIGHT_LOOKUP_MAX_EVENTS`: events read per look-up (default 500, 0 turns it off);
//! - `DISABLED_DETECTION_FAMILIES`, `EXCLUDE_FEDERATED_SIGNIN`, `DEPLOYER_ROLE_ARNS`: the catalog, as log-delivery
//!   reads them;
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`) from [`trailwarden::config::Common`].
#![forbid(unsafe_code)]

pub mod config;
pub mod decide;
pub mod execute;
pub mod insight;
pub mod lookup;
pub mod report;

pub use config::{Config, INSIGHT_LOOKUP_MAX_EVENTS};
pub use decide::{Case, Step, Window};
pub use execute::Found;
pub use insight::{pair, Incident, Insight, InsightType, State};
pub use report::InsightStats;

use trailwarden::aws::RegionalClients;

pub const NAME: &str = "insights";

/// insights' per-cold-start state: the S3 client it reads Insights files with, and
/// `CloudTrail` clients per region for the look-up.
#[derive(Debug)]
pub struct Insights {
    s3: aws_sdk_s3::Client,
    cloudtrail: RegionalClients<aws_sdk_cloudtrail::Client>,
}
