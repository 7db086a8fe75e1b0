//! Lambda entry point for root-activity.
#![forbid(unsafe_code)]

use lambda_runtime::service_fn;
use root_activity::{handler, Config, State};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::logging::init();
    let config = Config::from_env(&trailwarden::config::ProcessEnv)?;
    let sdk = trailwarden::aws::sdk_config().await;
    let state = State::new(&sdk, config);
    let state = &state;
    lambda_runtime::run(service_fn(
        move |ev| async move { handler(state, ev).await },
    ))
    .await
}
