//! What one invocation decided and did, the same for every function, so the Lambda handler,
//! the CLI and the tests report alike.

use crate::alert::{Alert, Status};
use crate::payload::Payload;
use serde::Serialize;
use std::future::Future;

/// The result of handling one payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcome {
    /// The function that handled it (`unapproved-user`, …).
    pub function: String,
    /// A one-line description of the input.
    pub input: String,
    /// Set when the function deliberately did nothing, with the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// True when nothing was (or would be) changed because of dry-run.
    pub dry_run: bool,
    /// Alerts produced (published, or only logged when below the minimum severity).
    pub alerts: Vec<Alert>,
    /// Free-form counters (records scanned, files verified, …).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub stats: serde_json::Map<String, serde_json::Value>,
}

impl Outcome {
    pub fn new(function: &str, input: impl Into<String>) -> Self {
        Outcome {
            function: function.to_string(),
            input: input.into(),
            ..Default::default()
        }
    }

    pub fn ignored(function: &str, input: impl Into<String>, reason: impl Into<String>) -> Self {
        let mut o = Outcome::new(function, input);
        o.ignored = Some(reason.into());
        o
    }

    /// True when any response step in any alert failed.
    pub fn has_failures(&self) -> bool {
        self.alerts
            .iter()
            .flat_map(|a| &a.actions)
            .any(|a| a.status == Status::Failed)
    }
}

/// A run that could not finish: carries the partial outcome (what was done, what failed) so
/// it can still be reported, and makes the Lambda invocation fail so that it is retried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub message: String,
    pub outcome: Box<Outcome>,
}

impl RunError {
    pub fn new(message: impl Into<String>, outcome: Outcome) -> Self {
        RunError {
            message: message.into(),
            outcome: Box::new(outcome),
        }
    }
}

/// The error a Lambda handler returns (what `lambda_runtime::Error` is).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every function's Lambda handler: parses the payload (one that does not parse
/// is logged and becomes an `Err` carrying the `PayloadError` message), runs `run` on it, and
/// answers the outcome as JSON. A `RunError` becomes the invocation's error, so it is retried.
pub async fn handle_json<F, Fut>(
    function: &str,
    payload: serde_json::Value,
    run: F,
) -> Result<serde_json::Value, HandlerError>
where
    F: FnOnce(Payload) -> Fut,
    Fut: Future<Output = Result<Outcome, RunError>>,
{
    let payload = Payload::from_value(payload).map_err(|e| {
        tracing::error!(function, error = %e, "payload not understood");
        e
    })?;
    // Boxed: the run future of some functions is deep enough that nesting it here, inside
    // the Lambda service future, would exceed the compiler's layout depth limit.
    let outcome = Box::pin(run(payload)).await?;
    Ok(serde_json::to_value(outcome)?)
}
