#![forbid(unsafe_code)]
use lambda_runtime::{service_fn, LambdaEvent};
use log_integrity::{handler, Config, State};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::logging::init();
    let config = Config::from_env(&trailwarden::config::ProcessEnv)?;
    let sdk = trailwarden::aws::sdk_config().await;
    let state = State::new(&sdk, config);
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Value>| {
        let state = &state;
        async move { handler(state, ev).await }
    }))
    .await
}
