//! root-activity: alert on every use of the root user.
//!
//! Triggered by console sign-ins (`AWS Console Sign In via CloudTrail`) and API calls (`AWS API
//! Call via CloudTrail`) whose `userIdentity.type` is `Root`. Records that are AWS acting on the
//! account (`userIdentity.invokedBy`, `eventType` `AwsServiceEvent`) are ignored, as CIS 4.3
//! does. The severity rules are in [`decide`]. Nothing is changed in the account: the response is
//! the alert.
//!
//! Configuration (environment, read once at cold start):
//! - `KNOWN_SOURCE_CIDRS`: comma-separated IPv4/IPv6 CIDR blocks (or single addresses) people
//!   are expected to use root from. A match lowers the severity one step and says so; it never
//!   suppresses the alert. Default: none.
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`) from [`trailwarden::config::Common`].
#![forbid(unsafe_code)]

pub mod decide;
pub mod network;

use ipnet::IpNet;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use trailwarden::aws::{AlertPublisher, Published};
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::outcome::{handle_json, RunError};
use trailwarden::{Outcome, Payload};

pub use decide::{decide, Decision, CREDENTIAL_ACTIONS};

pub const NAME: &str = "root-activity";

/// Environment variable naming the known source networks.
pub const KNOWN_SOURCE_CIDRS: &str = "KNOWN_SOURCE_CIDRS";

/// The function's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub common: Common,
    /// `KNOWN_SOURCE_CIDRS`: networks whose root use is expected (severity one step lower).
    pub known_source_cidrs: Vec<IpNet>,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let known_source_cidrs = config::list(env, KNOWN_SOURCE_CIDRS)
            .into_iter()
            .map(|item| {
                network::parse_network(&item).ok_or_else(|| {
                    ConfigError::new(
                        KNOWN_SOURCE_CIDRS,
                        &item,
                        "expected a comma-separated list of IPv4/IPv6 CIDR blocks or addresses \
                         (e.g. 203.0.113.0/24, 2001:db8::/32, 198.51.100.7)",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            common,
            known_source_cidrs,
        })
    }
}

/// Per-cold-start state: configuration and the SNS client.
#[derive(Debug, Clone)]
pub struct State {
    pub config: Config,
    publisher: AlertPublisher,
}

impl State {
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> State {
        let publisher = AlertPublisher::new(
            sdk,
            config.common.alert_topic_arn.clone(),
            config.common.min_severity,
        );
        State { config, publisher }
    }
}

/// What would be done, without any AWS call: ignore (with the reason), or the alert to send.
/// root-activity takes no response steps, so the plan is the alert itself.
pub fn plan(config: &Config, payload: &Payload) -> Outcome {
    let input = payload.describe();
    let mut outcome = match decide(config, payload) {
        Decision::Ignore(reason) => Outcome::ignored(NAME, input, reason),
        Decision::Alert(alert) => {
            let mut o = Outcome::new(NAME, input);
            o.alerts.push(*alert);
            o
        }
    };
    outcome.dry_run = config.common.dry_run;
    outcome
}

/// Decides, then publishes the alert (also in dry-run, where it is marked as such: there is
/// nothing to execute). A failed publish is an `Err` so that Lambda retries the invocation.
pub async fn run(state: &State, payload: &Payload) -> Result<Outcome, RunError> {
    let mut outcome = plan(&state.config, payload);
    if let Some(reason) = &outcome.ignored {
        tracing::info!(function = NAME, input = %outcome.input, reason = %reason, "ignored");
        return Ok(outcome);
    }
    let mut delivery = Vec::new();
    let mut errors = Vec::new();
    for alert in &outcome.alerts {
        match state.publisher.publish(alert).await {
            Ok(Published::Sent(id)) => delivery.push(json!({"status": "sent", "message_id": id})),
            Ok(Published::BelowThreshold) => delivery.push(json!({
                "status": "logged only: below MIN_SEVERITY",
                "severity": alert.severity,
            })),
            Ok(Published::NoTopic) => {
                delivery.push(json!({"status": "logged only: ALERT_TOPIC_ARN not set"}))
            }
            Err(e) => {
                tracing::error!(function = NAME, error = %e, "alert not published");
                delivery.push(json!({"status": "failed", "error": e.to_string()}));
                errors.push(e.to_string());
            }
        }
    }
    outcome
        .stats
        .insert("alert_delivery".into(), Value::Array(delivery));
    if errors.is_empty() {
        Ok(outcome)
    } else {
        Err(RunError::new(
            format!("{NAME}: {}", errors.join("; ")),
            outcome,
        ))
    }
}

/// Lambda entry: parse, run, return the outcome as JSON. A payload that does not parse is an
/// error carrying the parser's message.
pub async fn handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    handle_json(NAME, event.payload, |p| async move { run(state, &p).await }).await
}

#[cfg(test)]
mod tests;
