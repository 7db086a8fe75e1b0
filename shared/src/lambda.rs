//! Every function's Lambda entry point and the deployed form of a [`Responder`]: its state
//! plus the alert publisher, built once per cold start.

use crate::aws::AlertPublisher;
use crate::config::{Env, ProcessEnv};
use crate::payload::Payload;
use crate::respond::{self, Outcome, Responder, RunError, Settings};
use serde_json::Value;

/// The error a Lambda handler returns (what `lambda_runtime::Error` is).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A function ready to handle payloads: its state and where its alerts go.
pub struct Service<F: Responder> {
    pub state: F,
    pub publisher: AlertPublisher,
}

impl<F: Responder> Service<F> {
    /// Builds the state and the publisher (from `ALERT_TOPIC_ARN` and `MIN_SEVERITY`).
    pub async fn new(
        sdk: &aws_config::SdkConfig,
        config: F::Config,
    ) -> Result<Self, respond::InitError> {
        let common = config.common();
        let publisher =
            AlertPublisher::new(sdk, common.alert_topic_arn.clone(), common.min_severity);
        let state = F::init(sdk, config).await?;
        Ok(Service { state, publisher })
    }

    /// Reads the configuration from `env`, then builds the service.
    pub async fn from_env(
        sdk: &aws_config::SdkConfig,
        env: &dyn Env,
    ) -> Result<Self, respond::InitError> {
        let config = F::Config::from_env(env)?;
        Self::new(sdk, config).await
    }

    /// With a given state and publisher (tests with mocked clients).
    pub fn with(state: F, publisher: AlertPublisher) -> Self {
        Service { state, publisher }
    }

    pub fn config(&self) -> &F::Config {
        self.state.config()
    }

    /// Runs one parsed payload (see [`respond::run`]).
    pub async fn run(&self, payload: &Payload) -> Result<Outcome<F::Stats>, RunError<F::Stats>> {
        respond::run(&self.state, &self.publisher, payload).await
    }

    /// The Lambda handler's body: parses the payload (one that does not parse is logged and
    /// becomes the invocation's error, naming what was expected), runs it, and answers the
    /// outcome as JSON. A [`RunError`] becomes the invocation's error, so it is retried.
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        let payload = Payload::from_value(payload).map_err(|e| {
            tracing::error!(function = F::NAME, error = %e, "payload not understood");
            e
        })?;
        // Boxed: some functions' futures are deep; nesting them inside the runtime's service
        // future would exceed the compiler's layout depth limit.
        let outcome = Box::pin(self.run(&payload)).await?;
        Ok(serde_json::to_value(outcome)?)
    }
}

/// Every function's `main`: JSON logs, configuration (a bad value stops the cold start naming
/// the variable), SDK set-up, state, then the Lambda runtime loop.
pub async fn serve<F: Responder>() -> Result<(), lambda_runtime::Error> {
    crate::logging::init();
    let config = F::Config::from_env(&ProcessEnv)?;
    let sdk = crate::aws::sdk_config().await;
    let service = Service::<F>::new(&sdk, config).await?;
    tracing::info!(function = F::NAME, "ready");
    let service = &service;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |ev: lambda_runtime::LambdaEvent<Value>| async move {
            Box::pin(service.handle(ev.payload)).await
        },
    ))
    .await
}
