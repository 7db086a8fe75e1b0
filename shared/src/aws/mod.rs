//! The AWS toolbox: SDK set-up in one place, alert publishing, and the helpers every
//! function's SDK calls go through:
//!
//! - [`call`]: [`CallError`] (any SDK error, classified as not found / access denied /
//!   throttled / transient / other), paging ([`collect_all`], [`paginate`]), bounded backoff
//!   ([`Backoff`], [`retry_not_found`]);
//! - [`s3`]: bounded document reads ([`read_object`], [`read_document`]) and streamed bodies
//!   ([`open_object`]);
//! - [`listing`]: a prefix's objects page by page ([`Listing`]);
//! - [`regional`]: SDK clients per region ([`RegionalClients`]);
//! - [`access`]: trail files in another account and region, SSE-KMS ([`BucketReader`],
//!   [`explain_denied`]);
//! - [`accounts`]: acting in a member account through its responder role ([`Accounts`],
//!   [`AccountClients`], [`AccountError`]);
//! - [`S3Uri`] and [`DocumentSource`] (from [`crate::s3uri`], which builds without the SDK).
//!
//! Region and credentials come from the standard chain. `AWS_ENDPOINT_URL` (read by the SDK
//! itself) lets a local emulator such as moto stand in for AWS; when it is set, S3 uses
//! path-style addressing so that `http://127.0.0.1:PORT/bucket/key` works.

use crate::alert::{Alert, Rendered, Severity};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sns::types::MessageAttributeValue;
use std::time::Duration;

pub mod access;
pub mod accounts;
pub mod call;
pub mod listing;
pub mod regional;
pub mod s3;

pub use crate::s3uri::{DocumentSource, S3Uri};
pub use access::{explain_denied, BucketReader};
pub use accounts::{AccountClients, AccountError, Accounts, MemberAccess};
pub use call::{
    classify, collect_all, paginate, retry_not_found, Backoff, CallError, ErrorKind, Retried,
};
pub use listing::{Listed, Listing};
pub use regional::RegionalClients;
pub use s3::{open_object, read_document, read_object, read_object_version, ObjectBody};

/// Attempts per SDK call (standard retry mode: exponential backoff with jitter, retrying
/// throttling, 5xx and transient network errors).
pub const MAX_ATTEMPTS: u32 = 5;

/// Longest wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest one attempt of a call may take (until the response starts, for streamed S3
/// bodies); a hung call is retried instead of eating the function's whole timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads the shared SDK configuration (once per cold start).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// The SDK configuration with the region replaced (security group responses act in the
/// event's own region).
pub fn with_region(cfg: &SdkConfig, region: &str) -> SdkConfig {
    cfg.to_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build()
}

/// True when a custom endpoint (a local emulator) is configured, in the SDK configuration or
/// in `AWS_ENDPOINT_URL`.
pub fn custom_endpoint(cfg: &SdkConfig) -> bool {
    cfg.endpoint_url().is_some()
        || std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.trim().is_empty())
}

/// An S3 client; path-style addressing when a custom endpoint is set.
pub fn s3_client(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(cfg)
        .force_path_style(custom_endpoint(cfg))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Publishes alerts to the SNS topic, or logs them when no topic is configured.
#[derive(Debug, Clone)]
pub struct AlertPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: Option<String>,
    min_severity: Severity,
}

/// What became of one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Published; the SNS message id.
    Sent(String),
    /// Below the minimum severity: logged only.
    BelowThreshold,
    /// No topic configured: logged only.
    NoTopic,
}

#[derive(Debug, thiserror::Error)]
#[error("publishing alert {detection:?} to {topic} failed: {source}")]
pub struct PublishError {
    pub detection: String,
    pub topic: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// A rendered alert's SNS message attributes (what subscription filter policies match).
pub fn message_attributes(
    r: &Rendered,
) -> Result<std::collections::HashMap<String, MessageAttributeValue>, String> {
    r.attributes
        .iter()
        .map(|(name, value)| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map(|attr| (name.to_string(), attr))
                .map_err(|e| format!("message attribute {name}: {e}"))
        })
        .collect()
}

impl AlertPublisher {
    pub fn new(cfg: &SdkConfig, topic_arn: Option<String>, min_severity: Severity) -> Self {
        AlertPublisher {
            client: aws_sdk_sns::Client::new(cfg),
            topic_arn,
            min_severity,
        }
    }

    pub fn from_client(
        client: aws_sdk_sns::Client,
        topic_arn: Option<String>,
        min_severity: Severity,
    ) -> Self {
        AlertPublisher {
            client,
            topic_arn,
            min_severity,
        }
    }

    pub async fn publish(&self, alert: &Alert) -> Result<Published, PublishError> {
        let rendered = alert.render_logged();
        if alert.severity < self.min_severity {
            return Ok(Published::BelowThreshold);
        }
        let Some(topic) = &self.topic_arn else {
            return Ok(Published::NoTopic);
        };
        self.publish_rendered(topic, &alert.detection, &rendered)
            .await
            .map(Published::Sent)
    }

    async fn publish_rendered(
        &self,
        topic: &str,
        detection: &str,
        r: &Rendered,
    ) -> Result<String, PublishError> {
        let attributes = message_attributes(r).map_err(|e| PublishError {
            detection: detection.to_string(),
            topic: topic.to_string(),
            source: e.into(),
        })?;
        let out = self
            .client
            .publish()
            .topic_arn(topic)
            .subject(&r.subject)
            .message(&r.message)
            .message_structure("json")
            .set_message_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| PublishError {
                detection: detection.to_string(),
                topic: topic.to_string(),
                source: aws_sdk_sns::error::DisplayErrorContext(e)
                    .to_string()
                    .into(),
            })?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}
