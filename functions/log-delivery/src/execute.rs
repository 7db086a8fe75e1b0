//! The SDK side: loading an S3 detection file at cold start, and scanning one object (streamed
//! from S3 through gunzip and the record splitter on a blocking thread, so memory stays
//! bounded whatever the file size).

use crate::config::Config;
use crate::decide::{Case, Step};
use crate::report::VANISHED;
use crate::{emf, LogDelivery, NAME};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use trailwarden::alert::{Alert, Status};
use trailwarden::detect::{Catalog, ScanError, ScanReport, Scanner};
use trailwarden::logfile::LogError;
use trailwarden::payload::S3Object;
use trailwarden::respond::{Delivery, InitError, Job, Responder, StepResult};
use trailwarden::s3uri::{DocumentSource, S3Uri};
use trailwarden::Payload;
use trailwarden_state::{keys, scan as state_scan, State};

/// What the scans of one invocation found, object by object.
#[derive(Debug, Default)]
pub struct Scans {
    pub scans: Vec<ObjectScan>,
    /// Objects this function's role may not read (S3 or KMS refused), with the explanation
    /// ([`trailwarden::aws::explain_denied`]): each gets an alert naming the fix.
    pub denied: Vec<(S3Object, String)>,
}

impl Scans {
    /// The scan of `object`, when it was read.
    pub fn get(&self, object: &S3Object) -> Option<&ObjectScan> {
        self.scans.iter().find(|s| s.object == *object)
    }
}

/// The result of reading one object.
#[derive(Debug, Clone)]
pub struct ObjectScan {
    pub object: S3Object,
    pub report: ScanReport,
    /// Why it could not be read to the end (content problem or transient failure).
    pub error: Option<ScanError>,
    pub duration_ms: u64,
}

impl Responder for LogDelivery {
    const NAME: &'static str = NAME;

    /// Builds the state: the S3 client and, with an `s3://` `CUSTOM_DETECTIONS_URI`, the catalog
    /// with that file merged in. A file that cannot be read or holds a malformed detection stops
    /// the cold start with its location, the detection's id and what is wrong.
    async fn init(sdk: &aws_config::SdkConfig, config: &mut Config) -> Result<Self, InitError> {
        let s3 = trailwarden::aws::s3_client(sdk);
        if let Some(DocumentSource::S3(uri)) = &config.custom_detections {
            let catalog = load_detections(&s3, &config.catalog, uri).await?;
            tracing::info!(function = NAME, source = %uri, detections = catalog.len(), "custom detections loaded");
            config.catalog = Arc::new(catalog);
        }
        let state = State::from_settings(sdk, &config.state);
        tracing::info!(
            function = NAME,
            detections = config.catalog.len(),
            state = %state.describe(),
            "catalog ready"
        );
        let reader = Arc::new(trailwarden::aws::BucketReader::new(sdk));
        Ok(LogDelivery { reader, state })
    }

    /// Once the alerts are out (none failed): records every object read to the end as scanned,
    /// so a re-delivery of the same version publishes nothing.
    async fn after_publish(
        &self,
        _config: &Config,
        _payload: &Payload,
        _case: &Case,
        output: &Scans,
        _alerts: &[Alert],
        delivery: &[Delivery],
    ) {
        if Delivery::any_failed(delivery) {
            return;
        }
        let (now, at) = trailwarden_state::now();
        for scan in output.scans.iter().filter(|s| s.error.is_none()) {
            if let Err(e) = self
                .state
                .mark_handled(&object_owner(&scan.object), &at, now)
                .await
            {
                tracing::warn!(function = NAME, error = %e, key = %scan.object.key,
                    "cannot record the object as scanned: a re-delivery may alert again");
            }
        }
    }

    /// Scans one object: reads it from S3 and runs the catalog over every record. A missing
    /// object is skipped (deleted after the notification); any other S3 failure fails the step
    /// (Lambda retries). A file that could not be read to the end is still `Done` (its alert says
    /// so), unless S3 or the network cut the reading: that fails the step, so the retry reads it
    /// whole.
    async fn execute_step(&self, step: &Step, job: Job<'_, Self>) -> StepResult {
        let Job { config, output, .. } = job;
        let Step::Scan { object: o } = step;
        let started = Instant::now();
        let owner = object_owner(o);
        match self.state.handled(&owner).await {
            Ok(Some(at)) => {
                return StepResult::status(
                    Status::Skipped,
                    format!("already scanned at {at} (a re-delivery of the same version): its alerts went out then"),
                )
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(function = NAME, error = %e, key = %o.key, "state unavailable: scanning without it (fail open)")
            }
        }
        let own = config.common.own_role_arns.clone();
        let scan = match scan_object(&self.reader, config.catalog.clone(), &own, o).await {
            Ok(s) => s,
            Err(e) if e.is("NoSuchKey") => {
                tracing::warn!(function = NAME, bucket = %o.bucket, key = %o.key, reason = VANISHED, "object skipped");
                return StepResult::status(Status::Skipped, VANISHED);
            }
            Err(e) => {
                tracing::error!(function = NAME, bucket = %o.bucket, key = %o.key, error = %e, "cannot read object");
                if e.is_access_denied() {
                    output.denied.push((o.clone(), e.to_string()));
                }
                return StepResult::failed(e.to_string());
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        log_scan(o, &scan.0, scan.1.as_ref(), duration_ms);
        let (mut report, error) = scan;
        if !error.as_ref().is_some_and(|e| e.error.is_transient()) {
            let settled = state_scan::settle(
                &self.state,
                &config.catalog,
                &mut report,
                &owner,
                config.state.incident_window_seconds,
            )
            .await;
            tracing::info!(function = NAME, key = %o.key, incidents_opened = settled.opened,
                findings_suppressed = settled.suppressed, across_deliveries = settled.across,
                own_records = report.own_records, state_warnings = settled.warnings.len(), "state settled");
        }
        let result = match &error {
            None => StepResult::done(),
            Some(e) if e.error.is_transient() => StepResult::failed(e.to_string()),
            Some(e) => StepResult::status(Status::Done, format!("read until: {}", e.error)),
        };
        output.scans.push(ObjectScan {
            object: o.clone(),
            report,
            error,
            duration_ms,
        });
        result
    }
}

/// Reads a detection file from S3 and merges it into `base` by id.
pub use trailwarden::detect::settings::load_detections;

/// The state's name for one version of an object (the owner of the incidents it opens).
pub fn object_owner(o: &S3Object) -> String {
    keys::object_key(&o.bucket, &o.key, o.version_id.as_deref())
}

/// The summary log line, the unparsed-records warning and the EMF metric lines of one scan.
fn log_scan(o: &S3Object, r: &ScanReport, error: Option<&ScanError>, duration_ms: u64) {
    let compressed = r.files.first().and_then(|f| f.compressed_bytes);
    match error {
        None => tracing::info!(
            function = NAME, bucket = %o.bucket, key = %o.key, records = r.records,
            bytes = r.bytes, compressed_bytes = compressed, unparsed_records = r.unparsed_records,
            findings = r.findings.len(), duration_ms, "log file scanned"
        ),
        Some(e) => tracing::error!(
            function = NAME, bucket = %o.bucket, key = %o.key, records = r.records,
            bytes = r.bytes, compressed_bytes = compressed, unparsed_records = r.unparsed_records,
            findings = r.findings.len(), duration_ms, error = %e, "log file not read to the end"
        ),
    }
    if r.unparsed_records > 0 {
        tracing::warn!(function = NAME, key = %o.key, unparsed_records = r.unparsed_records,
            samples = %json!(r.unparsed_samples), "records that could not be evaluated");
    }
    for line in emf::lines(
        NAME,
        &emf::ObjectMetrics::from_scan(r, error, duration_ms),
        chrono::Utc::now().timestamp_millis(),
    ) {
        println!("{line}");
    }
}

/// Streams one object from S3 through the scanner on a blocking thread: the catalog over
/// every record, matches by `own_roles` left out. The read's failure to start (missing object,
/// access denied) is the error; a file read only in part gives its report with the
/// [`ScanError`]. The one scan of a log file, shared with the backfill's batches.
pub async fn scan_object(
    reader: &trailwarden::aws::BucketReader,
    catalog: Arc<Catalog>,
    own_roles: &[String],
    o: &S3Object,
) -> Result<(ScanReport, Option<ScanError>), trailwarden::aws::CallError> {
    let own_roles = own_roles.to_vec();
    let uri = S3Uri::from_parts(&o.bucket, &o.key);
    let body = reader
        .open(&uri, o.version_id.as_deref(), o.region.as_deref())
        .await?;
    let reader = body.into_blocking_reader();
    let name = o.uri();
    let joined = tokio::task::spawn_blocking(move || {
        let mut scanner = Scanner::new(&catalog)
            .keep_events(state_scan::EVENTS_PER_DETECTION)
            .exclude_principals(&own_roles);
        let error = scanner.scan_reader(&name, reader).err();
        (scanner.finish(), error)
    })
    .await;
    Ok(joined.unwrap_or_else(|e| {
        (
            Scanner::new(&Catalog::new(Vec::new()).expect("empty catalog")).finish(),
            Some(ScanError {
                name: o.uri(),
                error: LogError::Read {
                    message: format!("the scanning task failed: {e}"),
                    progress: Default::default(),
                },
            }),
        )
    }))
}
