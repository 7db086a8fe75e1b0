//! tamper: notice when someone switches trailwarden off.
//!
//! trailwarden is blinded by a handful of API calls on its own resources: `DisableRule` on the
//! rule that routes log files, `DeleteFunction` on a function, `PutBucketNotification` with an
//! empty configuration on the trail bucket, `StopLogging` on the trail, a deny policy on a
//! function's role, `Unsubscribe` from the alert topic. This function receives those calls in
//! real time (EventBridge rules in the template, one per service) and raises a critical alert
//! with who did it, from where, and the request.
//!
//! Which resources are trailwarden's is known only once the stack is deployed, so the template
//! passes them (`SELF_RESOURCES`, `TRAIL_ARNS`) and [`detections`] turns them, at cold start,
//! into the `self` detection family: catalog detections compiled by the shared engine and
//! matched with [`trailwarden::detect::Catalog::matching`], like every other detection.
//!
//! It also watches the trail's files: a log file or digest deleted or written over (EventBridge
//! `Object Deleted` from the trail bucket, or S3 data events when the trail records them) is
//! re-checked with log-integrity's chain code ([`log_integrity::check::check_digest`]): for a
//! digest, the digest itself and the next one of its chain; for a log file, the digests that
//! list it. The alert names the file and what the re-check found.
//!
//! Optionally (`RESTART_LOGGING=true`) it turns logging back on after `StopLogging` on a
//! protected trail, and says so in the alert, with the trail's status read afterwards.
//!
//! # Settings
//! - `SELF_RESOURCES`: `kind=value` items, comma-separated; kinds `stack`, `rule`,
//!   `function`, `role`, `topic`, `queue`, `bucket`, `key` (see [`config::KINDS`]); values may
//!   hold `*` (`rule=trailwarden-*`).
//! - `TRAIL_ARNS`: the protected trails (ARNs, or names).
//! - `RESTART_LOGGING` (default `false`).
//! - `PUBLIC_KEYS_URI`, `MAX_DIGEST_GAP_MINUTES`, `RESTART_LOOKBACK_DAYS`: as for
//!   log-integrity, whose checks the re-checks are.
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`: trailwarden's own calls are never alerted).
#![forbid(unsafe_code)]

pub mod config;
pub mod decide;
pub mod detections;
pub mod execute;
pub mod report;

pub use config::{Config, SelfResources, TrailRef};
pub use decide::{Case, Change, FileKind, Objects, Restart, Step, Touch, Touched};
pub use execute::Output;
pub use report::Stats;

use log_integrity::public_keys::Keys;
use trailwarden::aws::RegionalClients;
use trailwarden::respond::{Decision, InitError, Plan, Report, Responder, StepResult};
use trailwarden::Payload;

pub const NAME: &str = "tamper";

/// The function's state: settings, S3 and CloudTrail clients, where digest keys come from
/// (boxed: the registry of functions holds every function's state in one enum).
pub struct Tamper {
    pub config: Box<Config>,
    s3: Box<RegionalClients<aws_sdk_s3::Client>>,
    cloudtrail: Box<RegionalClients<aws_sdk_cloudtrail::Client>>,
    keys: Box<Keys>,
}

impl std::fmt::Debug for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tamper")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Responder for Tamper {
    const NAME: &'static str = NAME;
    type Config = Config;
    type Facts = ();
    type Case = Case;
    type Step = Step;
    type Output = Output;
    type Stats = Stats;

    async fn init(sdk: &aws_config::SdkConfig, config: Config) -> Result<Self, InitError> {
        let s3 = RegionalClients::new(sdk, trailwarden::aws::s3_client);
        let keys = Keys::new(
            sdk,
            config.integrity.public_keys_uri.as_ref(),
            &s3.get(None),
        );
        Ok(Tamper {
            config: Box::new(config),
            s3: Box::new(s3),
            cloudtrail: Box::new(RegionalClients::new(sdk, aws_sdk_cloudtrail::Client::new)),
            keys: Box::new(keys),
        })
    }

    fn config(&self) -> &Config {
        &self.config
    }

    fn decide(config: &Config, payload: &Payload, _facts: &()) -> Decision<Case, Step> {
        decide::decide(config, payload)
    }

    async fn execute_step(&self, case: &Case, step: &Step, output: &mut Output) -> StepResult {
        self.execute(case, step, output).await
    }

    fn report(
        config: &Config,
        case: &Case,
        plan: &Plan<Step>,
        output: Option<&Output>,
    ) -> Report<Stats> {
        report::report(config, case, plan, output)
    }
}
