//! Lambda entry point of tamper.
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::lambda::serve::<tamper::Tamper>().await
}
