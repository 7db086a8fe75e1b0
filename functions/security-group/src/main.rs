use lambda_runtime::service_fn;
use security_group::{handler, Config, State};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::logging::init();
    let config = Config::from_env(&trailwarden::config::ProcessEnv)?;
    let sdk = trailwarden::aws::sdk_config().await;
    let state = State::new(&sdk, config);
    lambda_runtime::run(service_fn(|ev| async { handler(&state, ev).await })).await
}
