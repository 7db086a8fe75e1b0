//! The SDK side of the summary step: read the ResultWriter's manifest and every result file
//! (streamed on a blocking thread), add them up ([`Totals`]), publish the one alert.

use crate::summary::{
    for_each_entry, AlertNote, FileStatus, Manifest, Summary, SummaryRequest, Totals,
};
use crate::{report, Backfill, NAME};
use trailwarden::aws::{open_object, read_object, Listing, Published};
use trailwarden::lambda::Service;
use trailwarden::respond::Delivery;
use trailwarden::s3uri::S3Uri;

/// The largest manifest read (it lists result files, a handful even for millions of objects).
pub const MAX_MANIFEST_BYTES: usize = 8 << 20;

/// When the Map state failed, its output (the manifest's location) is lost: the manifest is
/// looked for under the execution's results prefix.
pub async fn find_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Option<S3Uri>, String> {
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let mut listing = Listing::new(s3, &S3Uri::from_parts(bucket, &prefix), None);
    let mut found: Option<String> = None;
    while let Some(page) = listing.next_page().await.map_err(|e| e.to_string())? {
        for o in page {
            if o.key.ends_with("manifest.json")
                && found.as_deref().is_none_or(|f| o.key.as_str() > f)
            {
                found = Some(o.key);
            }
        }
    }
    Ok(found.map(|k| S3Uri::from_parts(bucket, k)))
}

/// Reads one result file entry by entry into `totals`.
async fn read_file(
    s3: &aws_sdk_s3::Client,
    uri: S3Uri,
    status: FileStatus,
    mut totals: Totals,
) -> Result<Totals, String> {
    let body = open_object(s3, &uri, None)
        .await
        .map_err(|e| format!("reading results {uri}: {e}"))?;
    let reader = body.into_blocking_reader();
    tokio::task::spawn_blocking(move || {
        for_each_entry(reader, |e| totals.add_entry(status, &e))
            .map(|n| {
                tracing::info!(function = NAME, file = %uri, entries = n, "results read");
                totals
            })
            .map_err(|e| format!("results {uri}: {e}"))
    })
    .await
    .map_err(|e| format!("reading results: {e}"))?
}

/// Reads every result the manifest lists.
pub async fn read_results(s3: &aws_sdk_s3::Client, manifest: &S3Uri) -> Result<Totals, String> {
    let bytes = read_object(s3, manifest, MAX_MANIFEST_BYTES)
        .await
        .map_err(|e| format!("reading the results manifest: {e}"))?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{manifest} is not a ResultWriter manifest: {e}"))?;
    let bucket = m
        .destination_bucket
        .clone()
        .unwrap_or_else(|| manifest.bucket.clone());
    let mut totals = Totals::default();
    for (status, files) in [
        (FileStatus::Succeeded, &m.result_files.succeeded),
        (FileStatus::Failed, &m.result_files.failed),
        (FileStatus::Pending, &m.result_files.pending),
    ] {
        for f in files {
            totals = read_file(s3, S3Uri::from_parts(&bucket, &f.key), status, totals).await?;
        }
    }
    Ok(totals)
}

fn delivery_text(d: &Delivery) -> String {
    match d {
        Delivery::Sent { message_id } => format!("sent ({message_id})"),
        Delivery::BelowThreshold { .. } => "below MIN_SEVERITY (logged only)".into(),
        Delivery::NoTopic => "no ALERT_TOPIC_ARN (logged only)".into(),
        Delivery::Failed { error } => format!("failed: {error}"),
        Delivery::NotAttempted => "not attempted".into(),
    }
}

/// The summary step: results read and added up, the one alert published. A failure to read
/// the results or to publish is an error, so the state machine retries the step.
pub async fn summarize(
    service: &Service<Backfill>,
    req: &SummaryRequest,
) -> Result<Summary, String> {
    let state = &service.state;
    let manifest = match &req.manifest {
        Some(m) => Some(m.clone()),
        None => find_manifest(&state.s3, &req.results_bucket, &req.results_prefix).await?,
    };
    let totals = match &manifest {
        Some(m) => read_results(&state.s3, m).await?,
        None => Totals::default(),
    };
    let mut summary = totals.finish(&service.config.catalog.catalog, req, manifest.as_ref());
    let common = &service.config.common;
    let mut alert = report::summary_alert(&summary);
    alert.dry_run = common.dry_run;
    alert.account_alias = common.account_alias.clone();
    let delivery = match &service.router {
        Some(router) => router.route(&alert).await.topic,
        None => match service.publisher.publish(&alert).await {
            Ok(Published::Sent(message_id)) => Delivery::Sent { message_id },
            Ok(Published::BelowThreshold) => Delivery::BelowThreshold {
                severity: alert.severity,
            },
            Ok(Published::NoTopic) => Delivery::NoTopic,
            Err(e) => Delivery::Failed {
                error: e.to_string(),
            },
        },
    };
    tracing::info!(function = NAME, source = %summary.source, objects = summary.objects.total,
        detections = summary.detections.len(), complete = summary.complete,
        alert = %delivery_text(&delivery), "backfill summarized");
    if let Delivery::Failed { error } = &delivery {
        return Err(format!("the summary alert was not published: {error}"));
    }
    summary.alert = Some(AlertNote {
        severity: alert.severity,
        subject: alert.render().subject,
        delivery: delivery_text(&delivery),
    });
    Ok(summary)
}
