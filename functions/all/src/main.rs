//! The one Lambda binary: every function of the template deploys it (so `sam build` compiles
//! once), and `TRAILWARDEN_FUNCTION` says which function this deployment runs.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden_functions::serve_from_env().await
}
