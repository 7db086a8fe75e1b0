//! Every function's Lambda entry point and the deployed form of a [`Responder`]: its
//! configuration and state plus the alert publisher, built once per cold start, and optionally an
//! [`AlertRouter`] that delivers each alert to the configured destinations (crate
//! `trailwarden-destinations`; the Lambda binary in `functions/all` adds it).

use crate::aws::AlertPublisher;
use crate::config::{Env, ProcessEnv};
use crate::envelope::Invocation;
use crate::payload::{Payload, PayloadError};
use crate::respond::{self, AlertRouter, Outcome, Responder, RunError, Settings};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// The error a Lambda handler returns (what `lambda_runtime::Error` is).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A function ready to handle payloads: its configuration, its state and where its alerts go.
pub struct Service<F: Responder> {
    /// The settings, read at cold start (and completed by [`Responder::init`]).
    pub config: F::Config,
    pub state: F,
    pub publisher: AlertPublisher,
    /// Alert routing to destinations (crate `trailwarden-destinations`); `None`: every alert
    /// goes to the alert topic through `publisher`, as configured by `ALERT_TOPIC_ARN`.
    pub router: Option<Arc<dyn AlertRouter>>,
}

impl<F: Responder> Service<F> {
    /// Builds the state and the publisher (from `ALERT_TOPIC_ARN` and `MIN_SEVERITY`).
    pub async fn new(
        sdk: &aws_config::SdkConfig,
        mut config: F::Config,
    ) -> Result<Self, respond::InitError> {
        let common = config.common();
        let publisher =
            AlertPublisher::new(sdk, common.alert_topic_arn.clone(), common.min_severity);
        let state = F::init(sdk, &mut config).await?;
        Ok(Service {
            config,
            state,
            publisher,
            router: None,
        })
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
    pub fn with(config: F::Config, state: F, publisher: AlertPublisher) -> Self {
        Service {
            config,
            state,
            publisher,
            router: None,
        }
    }

    /// The same service delivering its alerts through `router`.
    pub fn with_router(mut self, router: Option<Arc<dyn AlertRouter>>) -> Self {
        self.router = router;
        self
    }

    /// Runs one parsed payload (see [`respond::run`]).
    pub async fn run(&self, payload: &Payload) -> Result<Outcome<F::Stats>, RunError<F::Stats>> {
        respond::run_routed(
            &self.config,
            &self.state,
            &self.publisher,
            self.router.as_deref(),
            payload,
        )
        .await
    }

    /// The Lambda handler's body: parses the payload (one that does not parse is logged and
    /// becomes the invocation's error, naming what was expected), runs it, and answers the
    /// outcome as JSON. A [`RunError`] becomes the invocation's error, so it is retried.
    ///
    /// An SQS batch is handled message by message ([`Service::run_batch`]): the answer is
    /// `{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}` naming the messages that
    /// failed (with `ReportBatchItemFailures` on the event source mapping, only those are
    /// delivered again); when every message failed, the invocation fails as a whole.
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        if crate::envelope::is_sqs_event(&payload) {
            return Box::pin(self.handle_batch(payload)).await;
        }
        let payload = Payload::from_value(payload).map_err(|e| {
            tracing::error!(function = F::NAME, error = %e, "payload not understood");
            e
        })?;
        // Boxed: some functions' futures are deep; nesting them inside the runtime's service
        // future would exceed the compiler's layout depth limit.
        let outcome = Box::pin(self.run(&payload)).await?;
        Ok(serde_json::to_value(outcome)?)
    }

    /// [`Service::handle`] for an SQS batch: the `batchItemFailures` answer, or the
    /// invocation's error when the batch cannot be read or every message failed.
    pub async fn handle_batch(&self, payload: Value) -> Result<Value, HandlerError> {
        let batch = Box::pin(self.run_batch(payload)).await.map_err(|e| {
            tracing::error!(function = F::NAME, error = %e, "SQS batch not understood");
            e
        })?;
        if !batch.messages.is_empty() && batch.failed().count() == batch.messages.len() {
            let errors: Vec<String> = batch
                .messages
                .iter()
                .map(|m| format!("message {}: {}", m.message_id, m.error().unwrap_or("")))
                .collect();
            return Err(format!(
                "{}: every message of the SQS batch failed: {}",
                F::NAME,
                errors.join("; ")
            )
            .into());
        }
        Ok(serde_json::to_value(batch.response())?)
    }

    /// Runs each message of an SQS batch on its own: a message that cannot be understood or
    /// whose run fails is recorded as failed, and the others still run. From a FIFO queue,
    /// the messages after a failed one are not run (and count as failed), so that their order
    /// is kept when they are delivered again.
    pub async fn run_batch(&self, payload: Value) -> Result<Batch<F::Stats>, PayloadError> {
        let Invocation::Batch(messages) = crate::envelope::parse_invocation(payload)? else {
            return Err(PayloadError::Unrecognised(
                "expected an SQS event (Records of SQS messages)".into(),
            ));
        };
        let mut out = Vec::with_capacity(messages.len());
        let mut blocked: Option<String> = None;
        for m in messages {
            let fifo = m.fifo();
            let result = match (&blocked, m.payload) {
                (Some(first), _) => Err(format!(
                    "not run: message {first} before it in this FIFO queue failed"
                )),
                (None, Err(e)) => {
                    tracing::error!(function = F::NAME, message_id = %m.message_id, error = %e, "SQS message not understood");
                    Err(e.to_string())
                }
                (None, Ok(p)) => match Box::pin(self.run(&p)).await {
                    Ok(o) => Ok(o),
                    Err(e) => {
                        tracing::error!(function = F::NAME, message_id = %m.message_id, error = %e, "SQS message failed");
                        Err(e.to_string())
                    }
                },
            };
            if result.is_err() && blocked.is_none() && fifo {
                blocked = Some(m.message_id.clone());
            }
            out.push(BatchMessage {
                message_id: m.message_id,
                result,
            });
        }
        let batch = Batch { messages: out };
        tracing::info!(
            function = F::NAME,
            messages = batch.messages.len(),
            failed = batch.failed().count(),
            "SQS batch handled"
        );
        Ok(batch)
    }
}

/// What became of each message of an SQS batch.
#[derive(Debug, Clone)]
pub struct Batch<S: crate::respond::Stats> {
    pub messages: Vec<BatchMessage<S>>,
}

/// One message of an SQS batch: its outcome, or why it failed.
#[derive(Debug, Clone)]
pub struct BatchMessage<S: crate::respond::Stats> {
    pub message_id: String,
    pub result: Result<Outcome<S>, String>,
}

impl<S: crate::respond::Stats> BatchMessage<S> {
    /// Why the message failed.
    pub fn error(&self) -> Option<&str> {
        self.result.as_ref().err().map(String::as_str)
    }
}

impl<S: crate::respond::Stats> Batch<S> {
    /// The messages that failed.
    pub fn failed(&self) -> impl Iterator<Item = &BatchMessage<S>> {
        self.messages.iter().filter(|m| m.result.is_err())
    }

    /// Lambda's partial batch answer: the failed messages' ids.
    pub fn response(&self) -> aws_lambda_events::sqs::SqsBatchResponse {
        crate::envelope::batch_response(self.failed().map(|m| m.message_id.as_str()))
    }
}

/// Every function's `main`: JSON logs, configuration (a bad value stops the cold start naming
/// the variable), SDK set-up, state, then the Lambda runtime loop.
pub async fn serve<F: Responder>() -> Result<(), lambda_runtime::Error> {
    let (service, _) = cold_start::<F>().await?;
    let service = &service;
    run_handler(move |payload| async move { Box::pin(service.handle(payload)).await }).await
}

/// `serve`'s cold start without the runtime loop (for a binary that adds alert routing, or
/// answers some payloads itself): JSON logs, configuration, SDK set-up, state. Gives the
/// service and the SDK configuration.
pub async fn cold_start<F: Responder>(
) -> Result<(Service<F>, aws_config::SdkConfig), lambda_runtime::Error> {
    crate::logging::init();
    let config = F::Config::from_env(&ProcessEnv)?;
    let sdk = crate::aws::sdk_config().await;
    let service = Service::<F>::new(&sdk, config).await?;
    tracing::info!(function = F::NAME, "ready");
    Ok((service, sdk))
}

/// The Lambda runtime loop: each invocation's payload to `handler`, its answer (or error) back.
pub async fn run_handler<H, Fut>(handler: H) -> Result<(), lambda_runtime::Error>
where
    H: Fn(Value) -> Fut,
    Fut: Future<Output = Result<Value, HandlerError>>,
{
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |ev: lambda_runtime::LambdaEvent<Value>| handler(ev.payload),
    ))
    .await
}
