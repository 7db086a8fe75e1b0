//! Lambda entry point of security-group.
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::lambda::serve::<security_group::SecurityGroup>().await
}
