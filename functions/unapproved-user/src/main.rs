//! Lambda entry point of unapproved-user.
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    trailwarden::lambda::serve::<unapproved_user::UnapprovedUser>().await
}
