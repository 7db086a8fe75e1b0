//! root-activity: alert on every use of the root user, and on centralized root access.
//!
//! Triggered by console sign-ins (`AWS Console Sign In via CloudTrail`) and API calls (`AWS API
//! Call via CloudTrail`) whose `userIdentity.type` is `Root`, and by `sts:AssumeRoot` calls (a
//! management-account principal taking a root task session in a member account). Records that
//! are AWS acting on the account (`userIdentity.invokedBy`, `eventType` `AwsServiceEvent`) are
//! ignored, as CIS 4.3 does. Root task sessions obtained with `sts:AssumeRoot` (the
//! `assumedRoot` marker) are reported as what they are, not as someone holding the root
//! password ([`centralized`]).
//!
//! The four steps: [`decide`] classifies the record into a typed [`Case`] (kind of root use,
//! severity, reasons, source network); the plan has no steps, since nothing is changed in the
//! account ([`execute`]); [`report`] words the alert; the shared runner publishes it (also in
//! dry run, marked as such).
//!
//! Configuration (environment, read once at cold start, [`config`]):
//! - `KNOWN_SOURCE_CIDRS`: comma-separated IPv4/IPv6 CIDR blocks (or single addresses) people
//!   are expected to use root from. A match lowers the severity one step and says so; it never
//!   suppresses the alert. Default: none.
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`) from [`trailwarden::config::Common`].
#![forbid(unsafe_code)]

pub mod centralized;
pub mod config;
pub mod decide;
pub mod execute;
pub mod network;
pub mod report;

pub use config::{Config, KNOWN_SOURCE_CIDRS};
pub use decide::{decide, Case, CredentialAction, Kind, Reason, Step};

use trailwarden::respond::{Decision, InitError, NoStats, Plan, Report, Responder, StepResult};
use trailwarden::Payload;

pub const NAME: &str = "root-activity";

/// root-activity's per-cold-start state: its configuration (it acts through no SDK client;
/// the runner publishes the alert).
#[derive(Debug, Clone)]
pub struct RootActivity {
    config: Config,
}

impl Responder for RootActivity {
    const NAME: &'static str = NAME;
    type Config = Config;
    type Facts = ();
    type Case = Case;
    type Step = Step;
    type Output = ();
    type Stats = NoStats;

    async fn init(_sdk: &aws_config::SdkConfig, config: Config) -> Result<Self, InitError> {
        execute::init(config)
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn decide(config: &Config, payload: &Payload, _facts: &()) -> Decision<Case, Step> {
        decide::decide(config, payload)
    }

    async fn execute_step(&self, _case: &Case, step: &Step, _output: &mut ()) -> StepResult {
        execute::execute_step(step).await
    }

    fn report(
        config: &Config,
        case: &Case,
        _plan: &Plan<Step>,
        _output: Option<&()>,
    ) -> Report<NoStats> {
        report::report(config, case)
    }
}
