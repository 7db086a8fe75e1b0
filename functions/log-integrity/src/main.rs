//! Lambda entry point of log-integrity.
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::lambda::serve::<log_integrity::LogIntegrity>().await
}
