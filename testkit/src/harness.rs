//! The one test harness every function crate uses: sample events from `events/`, a
//! configuration from `(variable, value)` pairs, and a function built and invoked exactly as
//! Lambda builds and invokes it (through [`trailwarden::lambda::Service`]).

use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use trailwarden::lambda::Service;
use trailwarden::respond::{self, Outcome, Responder, Settings};
use trailwarden::Payload;

/// The repository's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// A sample event from `events/` as JSON (`name` relative to `events/`).
pub fn fixture(name: &str) -> Value {
    let path = events_dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A sample event from `events/`, parsed as the functions parse it.
pub fn payload(name: &str) -> Payload {
    Payload::from_value(fixture(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// An environment from `(variable, value)` pairs (later pairs win).
pub fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A function's configuration from `(variable, value)` pairs; panics with the variable named
/// when it is invalid.
pub fn config<F: Responder>(vars: &[(&str, &str)]) -> F::Config {
    F::Config::from_env(&env(vars)).unwrap_or_else(|e| panic!("{}: {e}", F::NAME))
}

/// The offline plan (no AWS call) of a sample event.
pub fn plan<F: Responder>(vars: &[(&str, &str)], name: &str) -> Outcome<F::Stats> {
    respond::plan_offline::<F>(&config::<F>(vars), &payload(name))
}

/// The function built as Lambda builds it, against `sdk` (moto), with `vars`.
pub async fn service<F: Responder>(
    sdk: &aws_config::SdkConfig,
    vars: &[(&str, &str)],
) -> Result<Service<F>> {
    Service::<F>::from_env(sdk, &env(vars))
        .await
        .with_context(|| format!("building {}", F::NAME))
}

/// Invokes the function's Lambda handler with a JSON payload, as Lambda does.
pub async fn invoke<F: Responder>(
    service: &Service<F>,
    event: &Value,
) -> std::result::Result<Value, String> {
    service
        .handle(event.clone())
        .await
        .map_err(|e| e.to_string())
}
