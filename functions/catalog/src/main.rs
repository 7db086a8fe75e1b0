//! Lambda entry point of catalog.
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::lambda::serve::<catalog::RealtimeCatalog>().await
}
