//! The one shape every function has: **parse → decide → execute → report**, as three traits,
//! each implemented on the function's type in the module that holds that part:
//!
//! - [`Decide`] (the function's `decide.rs`) is pure: from (configuration, payload, read-only
//!   facts) to a [`Decision`]: ignore (and why), or a typed case and the ordered list of typed
//!   steps to take.
//! - [`Responder`] (the function's `execute.rs`) is the part that acts: the per-cold-start state
//!   (the SDK clients the function acts through, built by [`Responder::init`]), the read-only
//!   look-ups before deciding ([`Responder::gather`]) and [`Responder::execute_step`], which
//!   carries out one step through the SDK and says what became of it ([`StepResult`]). The
//!   runner, not the function, walks the plan, so a dry run and a live run walk the *same* list
//!   of steps: in a dry run every step that changes something ([`StepKind::changes`]) stays
//!   [`Status::Planned`]; read-only steps (reading a log file, capturing evidence) run in both.
//! - [`Reporting`] (the function's `report.rs`) is pure: from the case, the walked plan and
//!   what execution learnt to the alerts and the typed statistics.
//!
//! The configuration ([`Settings`], the function's `config.rs`) is read once at cold start and
//! owned by the runner ([`crate::lambda::Service`]), which hands it to every part: the state
//! holds only what acting needs.
//!
//! The generic runner ([`run`], [`plan_offline`]) owns everything else: logging ignores, the
//! dry-run stop, stamping `dry_run` and `account_alias` on every alert, publishing each alert
//! once with a typed [`Delivery`] record, and turning failed steps or failed publications
//! into a [`RunError`] so that Lambda retries the invocation (except failures a retry would
//! meet again, [`StepResult::failed_no_retry`]: those are reported only). [`crate::lambda::serve`] (feature
//! `aws`) is every function's `main`.
//!
//! Alert routing ([`run_routed`], [`AlertRouter`]): with a router, each alert is delivered to
//! the destinations its routing selects (e-mail, chat, Security Hub, paging, webhooks: crate
//! `trailwarden-destinations`), one [`DestinationDelivery`] record each in
//! [`Outcome::routed`]; only the alert topic's failure fails the run.

use crate::alert::{Action, Alert, Status};
use crate::config::{Common, ConfigError, Env};
use crate::payload::Payload;
use serde::Serialize;
use std::fmt::Debug;
use std::future::Future;

/// The pure decision of a function, implemented on the function's type in its `decide.rs`:
/// what the decision is about and the steps it plans are typed here. A function that looks
/// nothing up before deciding implements [`DecidePayload`] instead, which gives it this one.
pub trait Decide {
    /// True for the function that handles CloudTrail Insights events (`insights`); the runner
    /// skips them, with a reason, for every other function.
    const HANDLES_INSIGHTS: bool = false;

    /// Settings, read from the environment at cold start.
    type Config: Settings;
    /// Read-only look-ups that `decide` needs beyond the payload (the current state of a
    /// security group, an approval document). `Default` is "not looked up" (offline plans).
    type Facts: Default + Send + Sync;
    /// What the decision is about, typed (the new user and why it is unapproved, the rules and
    /// their exposure, the object to scan). Carries severities and reasons as data; wording
    /// belongs to the report.
    type Case: Debug + Send + Sync;
    /// One step of the plan.
    type Step: StepKind;

    /// Pure: what to do about the payload.
    fn decide(
        config: &Self::Config,
        payload: &Payload,
        facts: &Self::Facts,
    ) -> Decision<Self::Case, Self::Step>;
}

/// [`Decide`] for a function that decides from its configuration and the payload alone: no
/// look-ups ([`Decide::Facts`] is `()`). Implement this one and [`Decide`] comes with it.
pub trait DecidePayload {
    /// As [`Decide::HANDLES_INSIGHTS`].
    const HANDLES_INSIGHTS: bool = false;

    /// As [`Decide::Config`].
    type Config: Settings;
    /// As [`Decide::Case`].
    type Case: Debug + Send + Sync;
    /// As [`Decide::Step`].
    type Step: StepKind;

    /// Pure: what to do about the payload ([`Decide::decide`], without facts).
    fn decide_payload(config: &Self::Config, payload: &Payload)
        -> Decision<Self::Case, Self::Step>;
}

impl<F: DecidePayload> Decide for F {
    const HANDLES_INSIGHTS: bool = F::HANDLES_INSIGHTS;

    type Config = F::Config;
    type Facts = ();
    type Case = F::Case;
    type Step = F::Step;

    fn decide(config: &F::Config, payload: &Payload, _facts: &()) -> Decision<F::Case, F::Step> {
        F::decide_payload(config, payload)
    }
}

/// The pure report of a function, implemented on the function's type in its `report.rs`: all
/// wording, and the typed statistics.
pub trait Reporting: Decide {
    /// What executing the steps learnt (evidence, scan results). `Default` is "nothing yet".
    type Output: Default + Send + Sync;
    /// The function's counters, typed.
    type Stats: Stats;

    /// Pure: the alerts and statistics for a walked plan. `output` is `None` when nothing
    /// was executed (an offline plan).
    fn report(
        config: &Self::Config,
        case: &Self::Case,
        plan: &Plan<Self::Step>,
        output: Option<&Self::Output>,
    ) -> Report<Self::Stats>;

    /// Pure, after a live walk: lets a later step's result settle earlier ones (a failed
    /// removal made moot by the deletion that followed it). Default: nothing changes.
    fn settle(case: &Self::Case, plan: &mut Plan<Self::Step>, output: &Self::Output) {
        let _ = (case, plan, output);
    }

    /// Statistics of an ignored payload (default: none).
    fn ignored_stats(config: &Self::Config, payload: &Payload) -> Self::Stats {
        let _ = (config, payload);
        Self::Stats::default()
    }
}

/// A function of trailwarden: its pure parts ([`Decide`], [`Reporting`]) and the part that
/// acts, implemented on the function's type in its `execute.rs`. `Self` is the function's
/// state, built once per cold start; the configuration is the runner's and is handed to every
/// call.
pub trait Responder: Reporting + Sized + Send + Sync + 'static {
    /// The function's name: its crate, binary, `BuildProperties.Binary` and log field.
    const NAME: &'static str;

    /// Builds the state (SDK clients, caches) from the SDK configuration. Anything that must
    /// stop a cold start (a malformed detection file in S3) is checked here; what it reads
    /// that belongs to the settings (documents named by a setting) completes `config`.
    #[cfg(feature = "aws")]
    fn init(
        sdk: &aws_config::SdkConfig,
        config: &mut Self::Config,
    ) -> impl Future<Output = Result<Self, InitError>> + Send;

    /// Read-only look-ups made before deciding. The default looks nothing up.
    fn gather(
        &self,
        config: &Self::Config,
        payload: &Payload,
    ) -> impl Future<Output = Result<Self::Facts, StepError>> + Send {
        let _ = (config, payload);
        async { Ok(Self::Facts::default()) }
    }

    /// Carries out one step (never called for a changing step in a dry run), with what the
    /// walk hands every step ([`Job`]).
    fn execute_step(
        &self,
        step: &Self::Step,
        job: Job<'_, Self>,
    ) -> impl Future<Output = StepResult> + Send;

    /// After a live walk's alerts were published (`delivery`, one per alert, in order):
    /// records what must only be recorded once the alerts are out (that an event or an object
    /// was handled, so a re-delivery does not alert again). Never fails the run: whatever it
    /// cannot record is logged. `payload` is what was decided on. Default: nothing.
    fn after_publish(
        &self,
        config: &Self::Config,
        payload: &Payload,
        case: &Self::Case,
        output: &Self::Output,
        alerts: &[Alert],
        delivery: &[Delivery],
    ) -> impl Future<Output = ()> + Send {
        let _ = (config, payload, case, output, alerts, delivery);
        async {}
    }
}

/// What the walk of a plan hands each step it executes: the settings, the case the plan is
/// about, and the output the steps fill in (evidence, scan results).
pub struct Job<'a, F: Reporting> {
    pub config: &'a F::Config,
    pub case: &'a F::Case,
    pub output: &'a mut F::Output,
}

/// A function's settings: read once at cold start, holding the ones every function shares.
pub trait Settings: Debug + Send + Sync + Sized + 'static {
    /// Reads and validates the settings; a bad value names the variable.
    fn from_env(env: &dyn Env) -> Result<Self, ConfigError>;
    /// The settings every function shares.
    fn common(&self) -> &Common;
    /// The settings with every variable unset: every default (tests, the CLI).
    fn defaults() -> Self {
        let none: [(&str, &str); 0] = [];
        Self::from_env(&none).expect("the defaults are valid settings")
    }
}

/// A step's identity: what it does, to what, and whether it changes anything.
pub trait StepKind: Debug + Clone + PartialEq + Serialize + Send + Sync {
    /// The step's name in alerts (`DeleteUser`, `revoke ingress rule`, `scan log file`).
    fn name(&self) -> String;
    /// What it acts on (a user name, a rule id, an `s3://` URI).
    fn target(&self) -> String;
    /// True when carrying it out changes the account (held back in a dry run).
    fn changes(&self) -> bool;
}

/// The decision about one payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<C, S> {
    /// Nothing to do or say, and why.
    Ignore(String),
    /// A case and the steps to take about it (possibly none: alert only).
    Respond { case: C, plan: Vec<PlannedStep<S>> },
}

impl<C, S> Decision<C, S> {
    /// A response whose every step is still to be done.
    pub fn respond(case: C, steps: impl IntoIterator<Item = S>) -> Self {
        Decision::Respond {
            case,
            plan: steps.into_iter().map(PlannedStep::new).collect(),
        }
    }
    /// Nothing to do, and why.
    pub fn ignore(reason: impl Into<String>) -> Self {
        Decision::Ignore(reason.into())
    }
    /// Nothing to do with a payload that is not of the kind the function acts on: the reason
    /// is the payload ([`Payload::describe`]), then why it is not the function's
    /// (`"1 S3 object(s): not a CloudTrail event"`).
    pub fn not_for(payload: &Payload, why: &str) -> Self {
        Decision::Ignore(format!("{}: {why}", payload.describe()))
    }
}

/// One step of a plan and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStep<S> {
    pub step: S,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Set when the step failed in a way a retry of the invocation would meet again (see
    /// [`StepResult::failed_no_retry`]): reported, but it does not fail the run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_retry: bool,
}

impl<S> PlannedStep<S> {
    /// A step to be done (`Planned` until walked).
    pub fn new(step: S) -> Self {
        PlannedStep {
            step,
            status: Status::Planned,
            detail: None,
            no_retry: false,
        }
    }
    /// A step decided against (exempt, notify mode): walked past, never executed.
    pub fn skipped(step: S, why: impl Into<String>) -> Self {
        PlannedStep {
            step,
            status: Status::Skipped,
            detail: Some(why.into()),
            no_retry: false,
        }
    }
    pub fn with_detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

impl<S: StepKind> PlannedStep<S> {
    /// The step as the alert shows it.
    pub fn action(&self) -> Action {
        Action {
            step: self.step.name(),
            target: self.step.target(),
            status: self.status,
            detail: self.detail.clone(),
        }
    }
}

/// A walked (or still planned) list of steps.
pub type Plan<S> = Vec<PlannedStep<S>>;

/// The steps of a plan as alert actions.
pub fn actions<S: StepKind>(plan: &[PlannedStep<S>]) -> Vec<Action> {
    plan.iter().map(PlannedStep::action).collect()
}

/// How many steps of a plan ended in `status`.
pub fn count<S>(plan: &[PlannedStep<S>], status: Status) -> usize {
    plan.iter().filter(|s| s.status == status).count()
}

/// What became of one executed step, and whether the rest of the plan still runs.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub status: Status,
    pub detail: Option<String>,
    /// Set when the remaining steps must not run; they take this status and detail.
    pub rest: Option<(Status, String)>,
    /// A failure that retrying the invocation would meet again (a member account's role is
    /// missing or denies): reported like any failure, but the run does not fail for it, so
    /// Lambda does not retry the event in vain.
    pub no_retry: bool,
}

impl StepResult {
    pub fn done() -> Self {
        StepResult::with(Status::Done, None)
    }
    pub fn with(status: Status, detail: Option<String>) -> Self {
        StepResult {
            status,
            detail,
            rest: None,
            no_retry: false,
        }
    }
    pub fn status(status: Status, detail: impl Into<String>) -> Self {
        StepResult::with(status, Some(detail.into()))
    }
    pub fn failed(detail: impl Into<String>) -> Self {
        StepResult::status(Status::Failed, detail)
    }
    /// Failed, and a retry would fail the same way: reported (the step is `Failed`), but the
    /// run does not fail for it.
    pub fn failed_no_retry(detail: impl Into<String>) -> Self {
        StepResult {
            no_retry: true,
            ..StepResult::failed(detail)
        }
    }
    /// The remaining steps do not run; they are marked `status` with `why`.
    pub fn then_stop(mut self, status: Status, why: impl Into<String>) -> Self {
        self.rest = Some((status, why.into()));
        self
    }
}

/// A read-only look-up before deciding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct StepError {
    /// What was being looked up (`DescribeSecurityGroupRules sg-1`, `s3://bucket/key`).
    pub what: String,
    pub message: String,
}

impl StepError {
    pub fn new(what: impl Into<String>, message: impl Into<String>) -> Self {
        StepError {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// Building a function's state failed (stops the cold start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InitError(pub String);

impl From<ConfigError> for InitError {
    fn from(e: ConfigError) -> Self {
        InitError(e.to_string())
    }
}

/// What `report` produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Report<S> {
    pub alerts: Vec<Alert>,
    pub stats: S,
}

/// A function's typed counters.
pub trait Stats: Debug + Clone + Default + PartialEq + Serialize + Send + Sync + 'static {
    /// Label/value pairs in display order (the CLI's text output, log lines).
    fn lines(&self) -> Vec<(&'static str, String)>;
}

/// Declares a function's counters: a struct whose every field is public and shown under its
/// label, in the order written, by the [`Stats`] impl this writes (a counter cannot be added
/// and left out of the lines). The derives are the caller's (they need those [`Stats`] asks).
///
/// ```
/// trailwarden::counters! {
///     /// What a run counted.
///     #[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
///     pub struct Counted {
///         /// Rules looked at.
///         rules: usize => "rules",
///         revoked: u64 => "rules revoked",
///         restarted: bool => "logging restarted",
///     }
/// }
/// use trailwarden::respond::Stats;
/// let c = Counted { rules: 2, revoked: 1, restarted: true };
/// assert_eq!(
///     c.lines(),
///     [("rules", "2".into()), ("rules revoked", "1".into()), ("logging restarted", "true".into())]
/// );
/// ```
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty => $label:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl $crate::respond::Stats for $name {
            fn lines(&self) -> Vec<(&'static str, String)> {
                vec![$(($label, self.$field.to_string())),*]
            }
        }
    };
}

/// No counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NoStats {}

impl Stats for NoStats {
    fn lines(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// What became of publishing one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Delivery {
    /// Published; the SNS message id.
    Sent { message_id: String },
    /// Below `MIN_SEVERITY`: logged only.
    BelowThreshold { severity: crate::alert::Severity },
    /// `ALERT_TOPIC_ARN` not set: logged only.
    NoTopic,
    /// Not published (the invocation fails so that Lambda retries).
    Failed { error: String },
    /// Not attempted (an offline plan).
    NotAttempted,
}

impl Delivery {
    /// Whether publishing any of these failed: what must wait until every alert is out
    /// (recording an event or object as handled) waits for the retry.
    pub fn any_failed(delivery: &[Delivery]) -> bool {
        delivery
            .iter()
            .any(|d| matches!(d, Delivery::Failed { .. }))
    }
}

/// What one alert destination made of one alert (see [`AlertRouter`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RouteStatus {
    /// Delivered: what the destination answered (a message id, a finding id, an HTTP status).
    Sent { answer: String, attempts: u32 },
    /// Not for this destination (its minimum severity, its filters), and why.
    Skipped { reason: String },
    /// Not delivered after `attempts` tries; the error.
    Failed { error: String, attempts: u32 },
}

/// One destination's record for one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationDelivery {
    /// The destination's name (`email`, `chat`, `securityhub`, `pagerduty`, `webhook`, ...).
    pub destination: String,
    #[serde(flatten)]
    pub status: RouteStatus,
}

impl DestinationDelivery {
    pub fn failed(&self) -> bool {
        matches!(self.status, RouteStatus::Failed { .. })
    }
}

/// One alert as an [`AlertRouter`] delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The alert topic's record, as without routing. Its failure fails the run (Lambda
    /// retries); other destinations' failures are reported, never fatal.
    pub topic: Delivery,
    /// Every destination's record, the alert topic's included.
    pub destinations: Vec<DestinationDelivery>,
}

/// Delivers each alert to the destinations its routing selects (crate
/// `trailwarden-destinations`). Never fails as a whole: every destination's result is a
/// record, and one failing destination does not stop the others.
pub trait AlertRouter: Send + Sync {
    fn route<'a>(
        &'a self,
        alert: &'a Alert,
    ) -> std::pin::Pin<Box<dyn Future<Output = Routed> + Send + 'a>>;
}

/// The result of handling one payload, the same for every function so that Lambda, the CLI
/// and the tests report alike.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome<S> {
    /// The function that handled it.
    pub function: &'static str,
    /// A one-line description of the input.
    pub input: String,
    /// Set when the function deliberately did nothing, with the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// True when nothing was (or would be) changed because of dry-run (or an offline plan).
    pub dry_run: bool,
    /// The steps, as walked (names, targets, statuses).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Action>,
    /// Alerts produced.
    pub alerts: Vec<Alert>,
    /// What became of each alert, in the same order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delivery: Vec<Delivery>,
    /// With alert routing ([`AlertRouter`]): every destination's record for each alert, in
    /// the alerts' order. Empty without routing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routed: Vec<Vec<DestinationDelivery>>,
    /// The function's counters.
    pub stats: S,
}

impl<S: Stats> Outcome<S> {
    fn new(function: &'static str, input: String, dry_run: bool, stats: S) -> Self {
        Outcome {
            function,
            input,
            ignored: None,
            dry_run,
            steps: Vec::new(),
            alerts: Vec::new(),
            delivery: Vec::new(),
            routed: Vec::new(),
            stats,
        }
    }

    /// True when any response step failed.
    pub fn has_failures(&self) -> bool {
        self.steps.iter().any(|a| a.status == Status::Failed)
            || self
                .alerts
                .iter()
                .flat_map(|a| &a.actions)
                .any(|a| a.status == Status::Failed)
    }

    /// The same outcome with its statistics as label/value lines (for uniform printing).
    pub fn erased(&self) -> Outcome<StatLines> {
        Outcome {
            function: self.function,
            input: self.input.clone(),
            ignored: self.ignored.clone(),
            dry_run: self.dry_run,
            steps: self.steps.clone(),
            alerts: self.alerts.clone(),
            delivery: self.delivery.clone(),
            routed: self.routed.clone(),
            stats: StatLines(
                self.stats
                    .lines()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            ),
        }
    }
}

/// Statistics as label/value lines, whatever function produced them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatLines(pub Vec<(String, String)>);

impl Stats for StatLines {
    fn lines(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

impl StatLines {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A run that could not finish cleanly: carries the outcome (what was done, what failed) so it
/// can still be reported, and fails the Lambda invocation so that it is retried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RunError<S: Stats> {
    pub message: String,
    pub outcome: Box<Outcome<S>>,
}

/// Decides without any AWS call and reports the plan (every changing step `Planned`): what
/// `trailwarden replay` and the tests show. Facts are not looked up.
pub fn plan_offline<F: Responder>(config: &F::Config, payload: &Payload) -> Outcome<F::Stats> {
    plan_with::<F>(config, payload, &F::Facts::default())
}

/// Decides with the given facts and reports the plan without executing anything.
pub fn plan_with<F: Responder>(
    config: &F::Config,
    payload: &Payload,
    facts: &F::Facts,
) -> Outcome<F::Stats> {
    let input = payload.describe();
    if let Some(reason) = skip_reason::<F>(payload) {
        return ignored::<F>(config, payload, input, reason);
    }
    match F::decide(config, payload, facts) {
        Decision::Ignore(reason) => ignored::<F>(config, payload, input, reason),
        Decision::Respond { case, plan } => {
            let report = F::report(config, &case, &plan, None);
            finish::<F>(config, input, true, &plan, report)
        }
    }
}

/// Payloads a responder never acts on, whatever its decision would be: Insights events, for
/// every function but the one that handles them.
fn skip_reason<F: Responder>(payload: &Payload) -> Option<String> {
    (payload.is_insight() && !F::HANDLES_INSIGHTS).then(|| {
        "a CloudTrail Insights event (unusual API call or error rates): it describes a rate, \
         not an API call, so no response of this function applies"
            .to_string()
    })
}

fn ignored<F: Responder>(
    config: &F::Config,
    payload: &Payload,
    input: String,
    reason: String,
) -> Outcome<F::Stats> {
    let common = config.common();
    let mut o = Outcome::new(
        F::NAME,
        input,
        common.dry_run,
        F::ignored_stats(config, payload),
    );
    o.ignored = Some(reason);
    o
}

fn finish<F: Responder>(
    config: &F::Config,
    input: String,
    dry_run: bool,
    plan: &[PlannedStep<F::Step>],
    report: Report<F::Stats>,
) -> Outcome<F::Stats> {
    let common = config.common();
    let mut o = Outcome::new(F::NAME, input, dry_run, report.stats);
    o.steps = actions(plan);
    o.alerts = report
        .alerts
        .into_iter()
        .map(|mut a| {
            a.dry_run = dry_run;
            if a.account_alias.is_none() {
                a.account_alias = common.account_alias.clone();
            }
            a
        })
        .collect();
    o
}

/// Walks a plan: executes each `Planned` step in order (in a dry run, only the steps that
/// change nothing), filling in its status; a step may stop the rest.
pub async fn walk<F: Responder>(
    config: &F::Config,
    state: &F,
    case: &F::Case,
    plan: &mut [PlannedStep<F::Step>],
    dry_run: bool,
    output: &mut F::Output,
) {
    let mut stopped: Option<(Status, String)> = None;
    for step in plan.iter_mut() {
        if step.status != Status::Planned {
            continue;
        }
        if let Some((status, why)) = &stopped {
            step.status = *status;
            step.detail = Some(why.clone());
            continue;
        }
        if dry_run && step.step.changes() {
            continue;
        }
        let job = Job {
            config,
            case,
            output: &mut *output,
        };
        let r = state.execute_step(&step.step, job).await;
        tracing::info!(
            function = F::NAME,
            step = %step.step.name(),
            target = %step.step.target(),
            status = r.status.as_str(),
            detail = r.detail.as_deref().unwrap_or(""),
            "step"
        );
        step.status = r.status;
        step.detail = r.detail;
        step.no_retry = r.no_retry;
        if r.rest.is_some() {
            stopped = r.rest;
        }
    }
}

/// Publishes alerts, one delivery record each; with a router, delivers each to its
/// destinations instead (one record per destination too), the alert topic's record being the
/// delivery record.
#[cfg(feature = "aws")]
async fn publish(
    publisher: &crate::aws::AlertPublisher,
    router: Option<&dyn AlertRouter>,
    alerts: &[Alert],
) -> (Vec<Delivery>, Vec<Vec<DestinationDelivery>>, Vec<String>) {
    use crate::aws::Published;
    let mut delivery = Vec::with_capacity(alerts.len());
    let mut routed = Vec::new();
    let mut errors = Vec::new();
    for alert in alerts {
        if let Some(router) = router {
            let r = router.route(alert).await;
            if let Delivery::Failed { error } = &r.topic {
                errors.push(error.clone());
            }
            delivery.push(r.topic);
            routed.push(r.destinations);
            continue;
        }
        delivery.push(match publisher.publish(alert).await {
            Ok(Published::Sent(message_id)) => Delivery::Sent { message_id },
            Ok(Published::BelowThreshold) => Delivery::BelowThreshold {
                severity: alert.severity,
            },
            Ok(Published::NoTopic) => Delivery::NoTopic,
            Err(e) => {
                tracing::error!(error = %e, detection = %alert.detection, "alert not published");
                errors.push(e.to_string());
                Delivery::Failed {
                    error: e.to_string(),
                }
            }
        });
    }
    (delivery, routed, errors)
}

/// The whole run of one payload: gather, decide, walk the plan (the dry-run stop is in the
/// walk), report, publish. A failed step or publication is a [`RunError`] carrying the
/// outcome (after the alert describing it was published), so that Lambda retries.
#[cfg(feature = "aws")]
pub async fn run<F: Responder>(
    config: &F::Config,
    state: &F,
    publisher: &crate::aws::AlertPublisher,
    payload: &Payload,
) -> Result<Outcome<F::Stats>, RunError<F::Stats>> {
    run_routed(config, state, publisher, None, payload).await
}

/// [`run`], delivering the alerts through `router` when there is one (the alert topic's
/// failure still fails the run; other destinations' failures are only reported, in
/// [`Outcome::routed`] and the logs).
#[cfg(feature = "aws")]
pub async fn run_routed<F: Responder>(
    config: &F::Config,
    state: &F,
    publisher: &crate::aws::AlertPublisher,
    router: Option<&dyn AlertRouter>,
    payload: &Payload,
) -> Result<Outcome<F::Stats>, RunError<F::Stats>> {
    let common = config.common();
    let input = payload.describe();
    if let Some(reason) = skip_reason::<F>(payload) {
        tracing::info!(function = F::NAME, input = %input, reason = %reason, "ignored");
        return Ok(ignored::<F>(config, payload, input, reason));
    }
    let facts = match state.gather(config, payload).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(function = F::NAME, input = %input, error = %e, "look-up before deciding failed");
            let mut outcome = ignored::<F>(config, payload, input, format!("not decided: {e}"));
            outcome.alerts = vec![undecided_alert(F::NAME, common, payload, &e)];
            let (delivery, routed, _) = publish(publisher, router, &outcome.alerts).await;
            (outcome.delivery, outcome.routed) = (delivery, routed);
            return Err(RunError {
                message: format!("{}: {e}", F::NAME),
                outcome: Box::new(outcome),
            });
        }
    };
    let (case, mut plan) = match F::decide(config, payload, &facts) {
        Decision::Ignore(reason) => {
            tracing::info!(function = F::NAME, input = %input, reason = %reason, "ignored");
            return Ok(ignored::<F>(config, payload, input, reason));
        }
        Decision::Respond { case, plan } => (case, plan),
    };
    let mut output = F::Output::default();
    Box::pin(walk(
        config,
        state,
        &case,
        &mut plan,
        common.dry_run,
        &mut output,
    ))
    .await;
    F::settle(&case, &mut plan, &output);
    let report = F::report(config, &case, &plan, Some(&output));
    let mut outcome = finish::<F>(config, input, common.dry_run, &plan, report);
    let (delivery, routed, mut errors) = publish(publisher, router, &outcome.alerts).await;
    (outcome.delivery, outcome.routed) = (delivery, routed);
    state
        .after_publish(
            config,
            payload,
            &case,
            &output,
            &outcome.alerts,
            &outcome.delivery,
        )
        .await;
    // Failures a retry would meet again (`no_retry`) are in the alert, not in the error.
    let failed: Vec<String> = plan
        .iter()
        .filter(|s| s.status == Status::Failed && !s.no_retry)
        .map(|s| {
            format!(
                "{} {} ({})",
                s.step.name(),
                s.step.target(),
                s.detail.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    if !failed.is_empty() {
        errors.insert(0, format!("steps failed: {}", failed.join("; ")));
    }
    if errors.is_empty() {
        Ok(outcome)
    } else {
        Err(RunError {
            message: format!("{}: {}", F::NAME, errors.join("; ")),
            outcome: Box::new(outcome),
        })
    }
}

/// The alert for a payload that could not be decided because a look-up failed: never silent.
pub fn undecided_alert(function: &str, common: &Common, payload: &Payload, e: &StepError) -> Alert {
    let mut a = Alert::new(
        crate::alert::Severity::High,
        format!("{function}-undecided"),
        format!("{function} could not decide: {} failed", e.what),
    );
    if let Some(r) = payload.record() {
        a = a.about(r);
    }
    a.account_alias = common.account_alias.clone();
    a.dry_run = common.dry_run;
    a.summary = format!(
        "{function} received {} but could not look up what it needs to decide, so nothing was \
         changed: {e}. Lambda retries the event; if this persists, the event ends in the \
         failed-events queue. Check the function's permissions and the resource named.",
        payload.describe()
    );
    a.actions =
        vec![Action::new(e.what.clone(), "", Status::Failed).with_detail(e.message.clone())];
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;
    use std::sync::Mutex;

    /// A toy function: reads, then changes twice; the first change can be told to stop the
    /// rest. Records which steps were executed.
    struct Toy {
        executed: Mutex<Vec<ToyStep>>,
        stop_after_first_change: bool,
        /// `Some(no_retry)`: the second change fails (a retry would fail again, or not).
        fail_second_change: Option<bool>,
    }

    #[derive(Debug, Default)]
    struct ToyConfig {
        common: Common,
    }

    #[derive(Debug, Clone, PartialEq, Serialize)]
    enum ToyStep {
        Read,
        Change(u8),
    }

    impl StepKind for ToyStep {
        fn name(&self) -> String {
            match self {
                ToyStep::Read => "Read".into(),
                ToyStep::Change(n) => format!("Change{n}"),
            }
        }
        fn target(&self) -> String {
            "thing".into()
        }
        fn changes(&self) -> bool {
            matches!(self, ToyStep::Change(_))
        }
    }

    crate::counters! {
        #[derive(Debug, Clone, Default, PartialEq, Serialize)]
        struct ToyStats {
            done: usize => "done",
        }
    }

    impl Settings for ToyConfig {
        fn from_env(env: &dyn Env) -> Result<ToyConfig, ConfigError> {
            Ok(ToyConfig {
                common: Common::from_env(env)?,
            })
        }
        fn common(&self) -> &Common {
            &self.common
        }
    }

    impl Decide for Toy {
        type Config = ToyConfig;
        type Facts = ();
        type Case = ();
        type Step = ToyStep;

        fn decide(_: &ToyConfig, payload: &Payload, _: &()) -> Decision<(), ToyStep> {
            if payload.record().is_none() {
                return Decision::ignore("no record");
            }
            Decision::respond((), [ToyStep::Read, ToyStep::Change(1), ToyStep::Change(2)])
        }
    }

    impl Reporting for Toy {
        type Output = ();
        type Stats = ToyStats;

        fn report(_: &ToyConfig, _: &(), plan: &Plan<ToyStep>, _: Option<&()>) -> Report<ToyStats> {
            let mut a = Alert::new(Severity::High, "toy", "toy");
            a.actions = actions(plan);
            Report {
                alerts: vec![a],
                stats: ToyStats {
                    done: count(plan, Status::Done),
                },
            }
        }
    }

    impl Responder for Toy {
        const NAME: &'static str = "toy";

        #[cfg(feature = "aws")]
        async fn init(_: &aws_config::SdkConfig, _: &mut ToyConfig) -> Result<Self, InitError> {
            Ok(toy(false))
        }
        async fn execute_step(&self, step: &ToyStep, _: Job<'_, Self>) -> StepResult {
            self.executed.lock().unwrap().push(step.clone());
            match step {
                ToyStep::Change(1) if self.stop_after_first_change => StepResult::done()
                    .then_stop(Status::AlreadyDone, "the first change made the rest moot"),
                ToyStep::Change(2) => match self.fail_second_change {
                    Some(true) => StepResult::failed_no_retry("role missing or denied"),
                    Some(false) => StepResult::failed("throttled"),
                    None => StepResult::done(),
                },
                _ => StepResult::done(),
            }
        }
    }

    fn toy(stop: bool) -> Toy {
        Toy {
            executed: Mutex::default(),
            stop_after_first_change: stop,
            fail_second_change: None,
        }
    }

    fn record() -> Payload {
        Payload::Record(Box::default())
    }

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn walked(t: &Toy, dry_run: bool) -> Plan<ToyStep> {
        let config = ToyConfig::default();
        let Decision::Respond { mut plan, .. } = Toy::decide(&config, &record(), &()) else {
            panic!("decided to ignore");
        };
        block_on(walk(&config, t, &(), &mut plan, dry_run, &mut ()));
        plan
    }

    #[test]
    fn a_dry_run_walks_the_same_plan_but_runs_only_the_steps_that_change_nothing() {
        let live = toy(false);
        let dry = toy(false);
        let live_plan = walked(&live, false);
        let dry_plan = walked(&dry, true);
        let steps = |p: &Plan<ToyStep>| p.iter().map(|s| s.step.clone()).collect::<Vec<_>>();
        assert_eq!(steps(&live_plan), steps(&dry_plan));
        assert_eq!(*dry.executed.lock().unwrap(), vec![ToyStep::Read]);
        assert_eq!(
            dry_plan.iter().map(|s| s.status).collect::<Vec<_>>(),
            vec![Status::Done, Status::Planned, Status::Planned]
        );
        assert_eq!(live.executed.lock().unwrap().len(), 3);
        assert_eq!(count(&live_plan, Status::Done), 3);
    }

    #[test]
    fn a_step_can_stop_the_rest_which_then_say_why() {
        let t = toy(true);
        let plan = walked(&t, false);
        assert_eq!(t.executed.lock().unwrap().len(), 2);
        assert_eq!(plan[2].status, Status::AlreadyDone);
        assert_eq!(
            plan[2].detail.as_deref(),
            Some("the first change made the rest moot")
        );
    }

    /// A failure a retry would meet again is in the outcome and the alert, but does not fail
    /// the run (Lambda would retry in vain); any other failure still does.
    #[cfg(feature = "aws")]
    #[test]
    fn a_failure_a_retry_would_meet_again_is_reported_but_does_not_fail_the_run() {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let publisher = crate::aws::AlertPublisher::new(&sdk, None, Severity::Info);
        let mut t = toy(false);
        t.fail_second_change = Some(true);
        let o =
            block_on(run(&ToyConfig::default(), &t, &publisher, &record())).expect("no RunError");
        assert_eq!(o.steps[2].status, Status::Failed);
        assert_eq!(o.steps[2].detail.as_deref(), Some("role missing or denied"));
        assert!(o.has_failures());
        assert_eq!(o.alerts[0].actions[2].status, Status::Failed);
        let mut t = toy(false);
        t.fail_second_change = Some(false);
        let e = block_on(run(&ToyConfig::default(), &t, &publisher, &record()))
            .expect_err("a retryable failure fails the run");
        assert!(
            e.message.contains("Change2 thing (throttled)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn skipped_steps_are_walked_past_and_never_executed() {
        let t = toy(false);
        let mut plan = vec![
            PlannedStep::skipped(ToyStep::Change(1), "exempt"),
            PlannedStep::new(ToyStep::Change(2)),
        ];
        block_on(walk(
            &ToyConfig::default(),
            &t,
            &(),
            &mut plan,
            false,
            &mut (),
        ));
        assert_eq!(*t.executed.lock().unwrap(), vec![ToyStep::Change(2)]);
        assert_eq!(plan[0].status, Status::Skipped);
    }

    #[test]
    fn an_offline_plan_stamps_every_alert_and_lists_the_steps() {
        let config = ToyConfig::config_with_alias("prod");
        let o = plan_offline::<Toy>(&config, &record());
        assert!(o.dry_run);
        assert_eq!(o.steps.len(), 3);
        assert!(o.steps.iter().all(|s| s.status == Status::Planned));
        assert_eq!(o.alerts[0].account_alias.as_deref(), Some("prod"));
        assert!(o.alerts[0].dry_run);
        assert_eq!(o.stats, ToyStats { done: 0 });
        assert_eq!(
            o.erased().stats.0,
            vec![("done".to_string(), "0".to_string())]
        );
    }

    /// A router that answers for two destinations: the alert topic (failing on demand) and
    /// a pager that always fails.
    #[cfg(feature = "aws")]
    struct FakeRouter {
        topic_fails: bool,
        seen: Mutex<Vec<String>>,
    }

    #[cfg(feature = "aws")]
    impl AlertRouter for FakeRouter {
        fn route<'a>(
            &'a self,
            alert: &'a Alert,
        ) -> std::pin::Pin<Box<dyn Future<Output = Routed> + Send + 'a>> {
            Box::pin(async move {
                self.seen.lock().unwrap().push(alert.detection.clone());
                let topic = if self.topic_fails {
                    Delivery::Failed {
                        error: "Publish: NotFound".into(),
                    }
                } else {
                    Delivery::Sent {
                        message_id: "m-1".into(),
                    }
                };
                let email = match &topic {
                    Delivery::Failed { error } => RouteStatus::Failed {
                        error: error.clone(),
                        attempts: 1,
                    },
                    _ => RouteStatus::Sent {
                        answer: "message m-1".into(),
                        attempts: 1,
                    },
                };
                Routed {
                    topic,
                    destinations: vec![
                        DestinationDelivery {
                            destination: "email".into(),
                            status: email,
                        },
                        DestinationDelivery {
                            destination: "pagerduty".into(),
                            status: RouteStatus::Failed {
                                error: "HTTP 500 after 3 attempt(s)".into(),
                                attempts: 3,
                            },
                        },
                    ],
                }
            })
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn with_a_router_only_the_alert_topic_failing_fails_the_run() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let publisher = crate::aws::AlertPublisher::new(&sdk, None, Severity::Info);
        let router = FakeRouter {
            topic_fails: false,
            seen: Mutex::default(),
        };
        let t = toy(false);
        let o = block_on(run_routed(
            &ToyConfig::default(),
            &t,
            &publisher,
            Some(&router),
            &record(),
        ))
        .expect("a failing pager does not fail the run");
        assert_eq!(*router.seen.lock().unwrap(), vec!["toy".to_string()]);
        assert_eq!(
            o.delivery,
            vec![Delivery::Sent {
                message_id: "m-1".into()
            }]
        );
        assert_eq!(o.routed.len(), 1);
        assert!(o.routed[0][1].failed());
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["routed"][0][1]["destination"], "pagerduty");
        assert_eq!(json["routed"][0][1]["status"], "failed");
        assert_eq!(json["routed"][0][1]["attempts"], 3);

        let failing = FakeRouter {
            topic_fails: true,
            seen: Mutex::default(),
        };
        let e = block_on(run_routed(
            &ToyConfig::default(),
            &toy(false),
            &publisher,
            Some(&failing),
            &record(),
        ))
        .expect_err("the alert topic failing fails the run, so that Lambda retries");
        assert!(e.message.contains("Publish: NotFound"), "{}", e.message);
        assert_eq!(e.outcome.routed[0].len(), 2);
        // Without a router nothing is routed, as before.
        let o = block_on(run(
            &ToyConfig::default(),
            &toy(false),
            &publisher,
            &record(),
        ))
        .unwrap();
        assert!(o.routed.is_empty());
        assert_eq!(o.delivery, vec![Delivery::NoTopic]);
        assert!(serde_json::to_value(&o).unwrap().get("routed").is_none());
    }

    #[test]
    fn ignores_carry_the_reason_and_no_alert() {
        let o = plan_offline::<Toy>(&ToyConfig::default(), &Payload::S3Objects(Vec::new()));
        assert_eq!(o.ignored.as_deref(), Some("no record"));
        assert!(o.alerts.is_empty() && o.steps.is_empty());
    }

    #[test]
    fn not_for_names_the_payload_then_why() {
        let d: Decision<(), ToyStep> =
            Decision::not_for(&Payload::S3Objects(Vec::new()), "not a CloudTrail event");
        assert_eq!(
            d,
            Decision::Ignore("0 S3 object(s): not a CloudTrail event".into())
        );
    }

    #[test]
    fn insight_events_are_skipped_by_every_responder_with_a_reason() {
        let v: serde_json::Value = serde_json::from_str(include_str!(
            "../../events/insight-api-call-rate-start.json"
        ))
        .unwrap();
        let payload = Payload::from_value(v).expect("Insight events parse");
        assert!(payload.is_insight());
        let o = plan_offline::<Toy>(&ToyConfig::default(), &payload);
        assert!(o.ignored.unwrap().contains("Insights"));
        assert!(o.alerts.is_empty());
    }

    impl ToyConfig {
        fn config_with_alias(alias: &str) -> ToyConfig {
            ToyConfig {
                common: Common {
                    account_alias: Some(alias.into()),
                    ..Common::default()
                },
            }
        }
    }
}
