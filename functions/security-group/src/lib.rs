//! `security-group`: alerts on security group changes (CIS 4.10) and revokes ingress open to
//! the whole internet on ports that should not be public.
//!
//! Triggered by `AWS API Call via CloudTrail` events from `ec2.amazonaws.com` for
//! `AuthorizeSecurityGroupIngress/Egress`, `RevokeSecurityGroupIngress/Egress`,
//! `CreateSecurityGroup`, `DeleteSecurityGroup` and `ModifySecurityGroupRules`.
//!
//! - Failed calls (`errorCode`) changed nothing: ignored. Calls by trailwarden's own roles
//!   (`OWN_ROLE_ARNS`, e.g. this function's own revocations) are ignored without an alert.
//! - World-open means a prefix length of 0, IPv4 or IPv6, whatever the address bits.
//!   Protocol `-1` is every port. ICMP/ICMPv6 has no ports: world-open ICMP is reported (low)
//!   and never revoked. Any other protocol number open to the world is high.
//! - World-open ingress on a port outside `ALLOWED_PUBLIC_PORTS` is high, critical on
//!   `CRITICAL_PORTS` or every port. In `revoke` mode exactly the rules the event created are
//!   revoked, by rule id (from `responseElements.securityGroupRuleSet`), falling back to the
//!   permission, in the event's own region. Groups in `EXEMPT_GROUP_IDS` or tagged
//!   `EXEMPT_TAG` are reported, not revoked. Egress is reported, never revoked.
//! - Every other change is a low (additions) or info (removals, creation, deletion) alert that
//!   says who changed what in words.
#![forbid(unsafe_code)]

pub mod config;
pub mod decide;
pub mod execute;
pub mod rules;

pub use config::{Config, PortSet, ResponseMode};
pub use decide::{Decision, Plan};

use aws_config::SdkConfig;
use std::collections::HashMap;
use std::sync::Mutex;
use trailwarden::alert::Status;
use trailwarden::aws::AlertPublisher;
use trailwarden::outcome::{handle_json, RunError};
use trailwarden::{Outcome, Payload};

pub const NAME: &str = "security-group";

/// Clients built once per cold start.
pub struct State {
    pub config: Config,
    sdk: SdkConfig,
    publisher: AlertPublisher,
    /// EC2 clients by region (responses act in the event's own region).
    ec2: Mutex<HashMap<String, aws_sdk_ec2::Client>>,
}

impl State {
    pub fn new(sdk: &SdkConfig, config: Config) -> State {
        State {
            publisher: AlertPublisher::new(
                sdk,
                config.common.alert_topic_arn.clone(),
                config.common.min_severity,
            ),
            config,
            sdk: sdk.clone(),
            ec2: Mutex::new(HashMap::new()),
        }
    }

    /// The EC2 client for a region (the SDK's own region when the event names none).
    pub fn ec2(&self, region: Option<&str>) -> aws_sdk_ec2::Client {
        let Some(region) = region else {
            return aws_sdk_ec2::Client::new(&self.sdk);
        };
        let mut map = self.ec2.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(region.to_string())
            .or_insert_with(|| {
                aws_sdk_ec2::Client::new(&trailwarden::aws::with_region(&self.sdk, region))
            })
            .clone()
    }
}

fn outcome_for(plan: &Plan, alert: trailwarden::Alert, input: String, dry_run: bool) -> Outcome {
    let mut o = Outcome::new(NAME, input);
    o.dry_run = dry_run;
    let count = |s: Status| plan.steps.iter().filter(|x| x.action.status == s).count();
    let stats = [
        ("rules", plan.assessments.len()),
        ("world_open_ingress", plan.risky().count()),
        ("revoked", count(Status::Done)),
        ("already_gone", count(Status::AlreadyDone)),
        ("skipped", count(Status::Skipped)),
        ("failed", count(Status::Failed)),
    ];
    for (k, v) in stats {
        o.stats.insert(k.into(), v.into());
    }
    o.alerts.push(alert);
    o
}

/// Pure, no AWS calls: what would be done (revocations with `Status::Planned`), as dry-run
/// reports it.
pub fn plan(config: &Config, payload: &Payload) -> Outcome {
    let input = payload.describe();
    match decide::decide(config, payload) {
        Decision::Ignore(reason) => Outcome::ignored(NAME, input, reason),
        Decision::Act(p) => {
            let alert = decide::alert(config, &p, None, true);
            outcome_for(&p, alert, input, true)
        }
    }
}

/// Decides, stops there when dry-running, else revokes through EC2 in the event's region;
/// publishes the alert. A failed revocation or publication is an `Err(RunError)` carrying the
/// outcome (after the alert describing it was published), so Lambda retries; revoking again
/// is harmless.
pub async fn run(state: &State, payload: &Payload) -> Result<Outcome, RunError> {
    let config = &state.config;
    let input = payload.describe();
    let mut plan = match decide::decide(config, payload) {
        Decision::Ignore(reason) => {
            tracing::info!(input = %input, reason = %reason, "ignored");
            return Ok(Outcome::ignored(NAME, input, reason));
        }
        Decision::Act(p) => *p,
    };
    let dry_run = config.common.dry_run;
    let facts = if dry_run {
        None
    } else {
        let ec2 = state.ec2(plan.region.as_deref());
        execute::execute(config, &ec2, &mut plan).await
    };
    let alert = decide::alert(config, &plan, facts.as_ref(), dry_run);
    let published = state.publisher.publish(&alert).await;
    let outcome = outcome_for(&plan, alert, input, dry_run);
    if let Err(e) = published {
        tracing::error!(error = %e, "alert not published");
        return Err(RunError::new(e.to_string(), outcome));
    }
    if outcome.has_failures() {
        let failed: Vec<String> = plan
            .steps
            .iter()
            .filter(|s| s.action.status == Status::Failed)
            .map(|s| {
                format!(
                    "{}: {}",
                    s.action.target,
                    s.action.detail.as_deref().unwrap_or("failed")
                )
            })
            .collect();
        return Err(RunError::new(
            format!("revoking world-open ingress failed: {}", failed.join("; ")),
            outcome,
        ));
    }
    Ok(outcome)
}

/// Lambda entry: parse, run, return the outcome as JSON.
pub async fn handler(
    state: &State,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    handle_json(NAME, event.payload, |p| async move { run(state, &p).await }).await
}
