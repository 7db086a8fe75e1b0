//! Lambda entry point of unapproved-user.
#![forbid(unsafe_code)]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use unapproved_user::{handler, Config, State};

#[tokio::main]
async fn main() -> Result<(), Error> {
    trailwarden::logging::init();
    let config = Config::from_env(&trailwarden::config::ProcessEnv)?;
    let sdk = trailwarden::aws::sdk_config().await;
    let state = State::new(&sdk, config);
    let state = &state;
    // Boxed: the handler's future is large, and boxing keeps the runtime's future small.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        Box::pin(handler(state, event))
    }))
    .await
}
