//! Lambda entry point of insights.
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::lambda::serve::<insights::Insights>().await
}
