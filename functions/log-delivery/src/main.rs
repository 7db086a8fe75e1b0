//! Lambda entry point for log-delivery.
#![forbid(unsafe_code)]

use lambda_runtime::service_fn;
use log_delivery::{handler, Config, State};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::logging::init();
    let config = Config::from_env(&trailwarden::config::ProcessEnv)?;
    let sdk = trailwarden::aws::sdk_config().await;
    let state = State::new(&sdk, config);
    // An s3:// CUSTOM_DETECTIONS_URI is read now, so a malformed detection stops the cold start.
    let catalog = state.catalog().await?;
    tracing::info!(
        function = log_delivery::NAME,
        detections = catalog.len(),
        "ready"
    );
    let state = &state;
    lambda_runtime::run(service_fn(
        move |ev| async move { handler(state, ev).await },
    ))
    .await
}
