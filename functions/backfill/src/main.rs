//! Lambda entry point of backfill (`cargo lambda watch -p backfill`): the state machine's
//! batches and summary request, answered by [`backfill::handle`].
#![forbid(unsafe_code)]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (service, _) = trailwarden::lambda::cold_start::<backfill::Backfill>().await?;
    let service = &service;
    trailwarden::lambda::run_handler(move |payload| async move {
        backfill::handle(service, payload)
            .await
            .map_err(trailwarden::lambda::HandlerError::from)
    })
    .await
}
