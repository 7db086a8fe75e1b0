//! Lambda entry point of log-delivery.
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::lambda::serve::<log_delivery::LogDelivery>().await
}
