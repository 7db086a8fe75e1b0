//! Every trailwarden function behind one name.
//!
//! [`Function`] lists the functions; the CLI uses it to plan and run any of them, and the
//! Lambda binary `trailwarden-lambda` ([`serve_from_env`]) runs the one named by
//! `TRAILWARDEN_FUNCTION`. Each function is a [`Responder`] in its own crate; nothing here
//! knows more about a function than its type.
#![forbid(unsafe_code)]

use anyhow::{anyhow, Result};
use serde_json::Value;
use std::sync::Arc;
use trailwarden::config::{ConfigError, Env, ProcessEnv};
use trailwarden::lambda::Service;
use trailwarden::respond::{self, AlertRouter, Decide, Outcome, Responder, Settings, StatLines};
use trailwarden::Payload;
use trailwarden_destinations::Router;

pub mod finding_action;

/// The variable naming the function a deployment of the shared binary runs.
pub const FUNCTION_VAR: &str = "TRAILWARDEN_FUNCTION";

/// A trailwarden function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    UnapprovedUser,
    RootActivity,
    SecurityGroup,
    LogDelivery,
    LogIntegrity,
    Catalog,
    Insights,
    Tamper,
    Watchdog,
    Backfill,
}

type UnapprovedUser = unapproved_user::UnapprovedUser;
type RootActivity = root_activity::RootActivity;
type SecurityGroup = security_group::SecurityGroup;
type LogDelivery = log_delivery::LogDelivery;
type LogIntegrity = log_integrity::LogIntegrity;
type Catalog = catalog::RealtimeCatalog;
type Insights = insights::Insights;
type Tamper = tamper::Tamper;
type Watchdog = watchdog::Watchdog;
type Backfill = backfill::Backfill;

/// Calls `$body` with `F` bound to the function's type.
macro_rules! with_type {
    ($f:expr, $F:ident => $body:expr) => {
        with_type!(@each $f, $F, $body, [
            UnapprovedUser, RootActivity, SecurityGroup, LogDelivery, LogIntegrity, Catalog,
            Insights, Tamper, Watchdog, Backfill
        ])
    };
    (@each $f:expr, $F:ident, $body:expr, [$($V:ident),*]) => {
        match $f {
            $(Function::$V => {
                type $F = $V;
                $body
            })*
        }
    };
}

/// What a plan or a run produced, for printing: the outcome with its statistics as lines, and
/// the typed outcome as JSON.
#[derive(Debug, Clone)]
pub struct Ran {
    pub outcome: Outcome<StatLines>,
    pub json: Value,
    /// Set when the run failed (the error Lambda would return; it would retry).
    pub error: Option<String>,
}

impl Ran {
    /// A function that could not start (its configuration is invalid).
    pub fn failed_to_start(function: &'static str, input: String, error: String) -> Ran {
        let outcome = Outcome {
            function,
            input,
            ignored: None,
            dry_run: false,
            steps: Vec::new(),
            alerts: Vec::new(),
            delivery: Vec::new(),
            routed: Vec::new(),
            stats: StatLines::default(),
        };
        Ran {
            json: serde_json::json!({"function": function, "input": outcome.input, "error": error}),
            outcome,
            error: Some(error),
        }
    }

    /// True when a step failed or the run did not finish.
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.outcome.has_failures()
    }

    /// The typed outcome as JSON, with the error when there was one.
    pub fn to_json(&self) -> Value {
        let mut v = self.json.clone();
        if let (Some(e), Some(m)) = (&self.error, v.as_object_mut()) {
            m.insert("error".into(), Value::String(e.clone()));
        }
        v
    }

    fn of<S: respond::Stats>(o: &Outcome<S>, error: Option<String>) -> Ran {
        Ran {
            outcome: o.erased(),
            json: serde_json::to_value(o).unwrap_or(Value::Null),
            error,
        }
    }
}

impl Function {
    pub const ALL: [Function; 10] = [
        Function::UnapprovedUser,
        Function::RootActivity,
        Function::SecurityGroup,
        Function::LogDelivery,
        Function::LogIntegrity,
        Function::Catalog,
        Function::Insights,
        Function::Tamper,
        Function::Watchdog,
        Function::Backfill,
    ];

    /// The function's name: its crate, its `TRAILWARDEN_FUNCTION` value.
    pub fn name(self) -> &'static str {
        with_type!(self, F => F::NAME)
    }

    pub fn by_name(name: &str) -> Result<Function> {
        Function::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                anyhow!(
                    "no function named {name:?}; the functions are: {}",
                    Self::names()
                )
            })
    }

    /// The names, comma-separated.
    pub fn names() -> String {
        let names: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
        names.join(", ")
    }

    /// Checks the function's configuration in `env`.
    pub fn check_config(self, env: &dyn Env) -> Result<(), ConfigError> {
        trailwarden_destinations::Settings::from_env(env)?;
        with_type!(self, F => <F as Decide>::Config::from_env(env).map(|_| ()))
    }

    /// Reads the function's configuration (the variables Lambda gets) and decides what it
    /// would do, without any AWS call.
    pub fn plan(self, env: &dyn Env, payload: &Payload) -> Result<Ran> {
        // Where alerts would go is part of the configuration: a malformed
        // ALERT_DESTINATIONS stops the plan as it stops the cold start.
        trailwarden_destinations::Settings::from_env(env)?;
        with_type!(self, F => {
            let config = <F as Decide>::Config::from_env(env)?;
            Ok(Ran::of(&respond::plan_offline::<F>(&config, payload), None))
        })
    }

    /// Runs the function for real against the AWS endpoint `sdk` points to. A run that
    /// fails part-way still answers its outcome, with the error.
    pub async fn run(
        self,
        sdk: &aws_config::SdkConfig,
        env: &dyn Env,
        payload: &Payload,
    ) -> Result<Ran> {
        with_type!(self, F => {
            let service = built::<F>(sdk, env).await?;
            Ok(match Box::pin(service.run(payload)).await {
                Ok(o) => Ran::of(&o, None),
                Err(e) => Ran::of(&e.outcome, Some(e.message.clone())),
            })
        })
    }

    /// The function built as Lambda builds it (state, publisher and alert routing), with
    /// `env`. Each arm builds with [`built`].
    pub async fn service(self, sdk: &aws_config::SdkConfig, env: &dyn Env) -> Result<AnyService> {
        Ok(match self {
            Function::UnapprovedUser => AnyService::UnapprovedUser(built(sdk, env).await?),
            Function::RootActivity => AnyService::RootActivity(built(sdk, env).await?),
            Function::SecurityGroup => AnyService::SecurityGroup(built(sdk, env).await?),
            Function::LogDelivery => AnyService::LogDelivery(built(sdk, env).await?),
            Function::LogIntegrity => AnyService::LogIntegrity(built(sdk, env).await?),
            Function::Catalog => AnyService::Catalog(built(sdk, env).await?),
            Function::Insights => AnyService::Insights(built(sdk, env).await?),
            Function::Tamper => AnyService::Tamper(built(sdk, env).await?),
            Function::Watchdog => AnyService::Watchdog(built(sdk, env).await?),
            Function::Backfill => AnyService::Backfill(built(sdk, env).await?),
        })
    }

    /// Serves Lambda invocations as this function: JSON logs, configuration (a bad value,
    /// alert destinations included, stops the cold start naming the setting), SDK set-up,
    /// the service with its alert routing, then the runtime loop.
    pub async fn serve(self) -> Result<(), lambda_runtime::Error> {
        trailwarden::logging::init();
        self.check_config(&ProcessEnv)?;
        let sdk = trailwarden::aws::sdk_config().await;
        // Boxed: the services' futures are deep; inline they exceed the compiler's layout
        // depth limit inside the binary's main future.
        let service = Box::pin(self.service(&sdk, &ProcessEnv))
            .await
            .map_err(|e| format!("{e:#}"))?;
        tracing::info!(function = self.name(), "ready");
        let service = &service;
        Box::pin(trailwarden::lambda::run_handler(
            move |payload| async move {
                Box::pin(service.handle(payload))
                    .await
                    .map_err(trailwarden::lambda::HandlerError::from)
            },
        ))
        .await
    }
}

/// Any function, built: what the Lambda handler of that function is.
pub enum AnyService {
    UnapprovedUser(Service<UnapprovedUser>),
    RootActivity(Service<RootActivity>),
    SecurityGroup(Service<SecurityGroup>),
    LogDelivery(Service<LogDelivery>),
    LogIntegrity(Service<LogIntegrity>),
    Catalog(Service<Catalog>),
    Insights(Service<Insights>),
    Tamper(Service<Tamper>),
    Watchdog(Service<Watchdog>),
    Backfill(Service<Backfill>),
}

impl AnyService {
    /// The Lambda handler's answer to a JSON payload (the error text on failure).
    pub async fn handle(&self, payload: Value) -> Result<Value, String> {
        let r = match self {
            // A person's request from Security Hub (the custom action "Quarantine IAM user").
            AnyService::UnapprovedUser(s) if finding_action::is_request(&payload) => {
                return Box::pin(finding_action::handle(s, payload)).await;
            }
            AnyService::UnapprovedUser(s) => Box::pin(s.handle(payload)).await,
            AnyService::RootActivity(s) => Box::pin(s.handle(payload)).await,
            AnyService::SecurityGroup(s) => Box::pin(s.handle(payload)).await,
            AnyService::LogDelivery(s) => Box::pin(s.handle(payload)).await,
            AnyService::LogIntegrity(s) => Box::pin(s.handle(payload)).await,
            AnyService::Catalog(s) => Box::pin(s.handle(payload)).await,
            AnyService::Insights(s) => Box::pin(s.handle(payload)).await,
            AnyService::Tamper(s) => Box::pin(s.handle(payload)).await,
            AnyService::Watchdog(s) => Box::pin(s.handle(payload)).await,
            // Step Functions batches and the summary request, not a trailwarden payload.
            AnyService::Backfill(s) => return Box::pin(backfill::handle(s, payload)).await,
        };
        r.map_err(|e| e.to_string())
    }
}

/// Alert routing as configured by `ALERT_DESTINATIONS` and `ALERT_ROUTING` (crate
/// `trailwarden-destinations`); `None` when neither is set (alerts go to `ALERT_TOPIC_ARN`).
pub fn alert_router(
    sdk: &aws_config::SdkConfig,
    env: &dyn Env,
    common: &trailwarden::config::Common,
) -> Result<Option<Arc<dyn AlertRouter>>, ConfigError> {
    Ok(Router::from_env(sdk, env, common)?.map(|r| Arc::new(r) as Arc<dyn AlertRouter>))
}

/// A function's service as Lambda builds it: its state, the alert publisher and the alert
/// routing.
pub async fn built<F: Responder>(sdk: &aws_config::SdkConfig, env: &dyn Env) -> Result<Service<F>> {
    let service = Service::<F>::from_env(sdk, env).await?;
    let router = alert_router(sdk, env, service.config.common())?;
    Ok(service.with_router(router))
}

/// The Lambda binary's `main`: serves the function `TRAILWARDEN_FUNCTION` names. A missing or
/// unknown name stops the cold start with the accepted values.
pub async fn serve_from_env() -> Result<(), lambda_runtime::Error> {
    let value = trailwarden::config::get(&ProcessEnv, FUNCTION_VAR).unwrap_or_default();
    let f = Function::by_name(&value).map_err(|_| {
        ConfigError::new(
            FUNCTION_VAR,
            &value,
            format!("the name of a function: {}", Function::names()),
        )
    })?;
    f.serve().await
}
