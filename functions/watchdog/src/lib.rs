//! watchdog: notice when the trail goes quiet, on a schedule.
//!
//! Real-time detections see the calls that switch logging off; they cannot see what happens
//! without a call they receive (the tamper function deleted first, a bucket policy that
//! blocks delivery, a KMS key disabled elsewhere, digests deleted as they arrive). Every 5
//! minutes (an EventBridge schedule) the watchdog looks at each trail it is told about:
//!
//! - `GetTrailStatus`: `IsLogging`, `LatestDeliveryTime`, `LatestDeliveryError`,
//!   `LatestDigestDeliveryTime`, `LatestDigestDeliveryError`, `LatestNotificationError`,
//!   `StartLoggingTime`, `StopLoggingTime`;
//! - `DescribeTrails`: the bucket, key prefix, regions, log file validation;
//! - the trail bucket's digest folders (`ListObjectsV2`): the newest digest per region.
//!
//! and alerts (critical) on logging off, a delivery error, no log delivery for more than
//! `WATCHDOG_MAX_SILENCE_MINUTES`, no digest for more than 2 hours in a region, and a trail
//! that is gone; high when log file validation is off or the trail cannot be checked (the
//! invocation then fails too, so the function's Errors alarm fires).
//!
//! It keeps no state: each condition carries the time it began, from CloudTrail's and S3's own
//! timestamps, and is alerted by the check that first sees it ([`assess`]); a condition that
//! lasts is not re-alerted every 5 minutes.
//!
//! Why a function of its own, not a second entry of tamper: it runs on a clock, not on an
//! event, and it only reads (its role has `GetTrailStatus`, `DescribeTrails` and
//! `s3:ListBucket`, nothing that changes anything), while tamper may hold
//! `cloudtrail:StartLogging`; and the two watch each other: tamper alerts on changes to the
//! watchdog's schedule rule, function and role, the watchdog notices the silence that follows
//! when tamper is gone.
//!
//! # Settings
//! - `TRAIL_ARNS`: the trails (ARNs or names); unset: every trail `DescribeTrails` lists.
//! - `WATCHDOG_MAX_SILENCE_MINUTES` (default 30, 10 to 1440).
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`).
#![forbid(unsafe_code)]

pub mod assess;
pub mod config;
pub mod decide;
pub mod execute;
pub mod report;

pub use assess::{Condition, ConditionKind};
pub use config::{Config, TrailRef};
pub use decide::{Case, Step};
pub use execute::Output;
pub use report::Stats;

pub const NAME: &str = "watchdog";

/// The function's state: CloudTrail and S3 clients per region (boxed: the registry of functions
/// holds every function's state in one enum).
#[derive(Debug)]
pub struct Watchdog {
    cloudtrail: Box<trailwarden::aws::RegionalClients<aws_sdk_cloudtrail::Client>>,
    s3: Box<trailwarden::aws::RegionalClients<aws_sdk_s3::Client>>,
}
