//! Lambda entry point of root-activity.
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::lambda::serve::<root_activity::RootActivity>().await
}
