//! Lambda entry point of watchdog.
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::lambda::serve::<watchdog::Watchdog>().await
}
