//! log-delivery: when CloudTrail delivers a log file to S3, run the whole detection catalog
//! over every record in it and send one aggregated alert per detection that fired.
//!
//! EventBridge sees single events, and only where a trail and a rule exist; the log files are
//! the complete record. This function is triggered by S3 `Object Created` (through EventBridge,
//! or a classic S3 event notification), keeps only CloudTrail log files (digest, Insights and
//! other objects are skipped with the reason), streams the object through gunzip and the
//! record splitter in `trailwarden::logfile` (memory stays bounded whatever the file size) and
//! aggregates matches per detection: count, first and last time, top principals, regions and
//! sample event ids ([`trailwarden::detect`]).
//!
//! Configuration (environment, read once at cold start):
//! - `CUSTOM_DETECTIONS_URI`: a detection file (`{"detections": [...]}`) that adds to or
//!   overrides the built-in catalog by id: a local path (bundled with the function) or
//!   `s3://bucket/key`. A malformed detection stops the cold start with its id and what is
//!   wrong. Default: none.
//! - `EXCLUDE_FEDERATED_SIGNIN`: CIS 4.2 (console sign-in without MFA) counts only IAM users
//!   and root, leaving out IAM Identity Center and SAML/OIDC federated sign-ins (whose MFA
//!   happens at the identity provider). Default `true`.
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`) from [`trailwarden::config::Common`].
//!
//! Each scanned object logs a summary line and prints CloudWatch Embedded Metric Format lines
//! ([`emf`]).
#![forbid(unsafe_code)]

pub mod emf;

use lambda_runtime::LambdaEvent;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use trailwarden::alert::Alert;
use trailwarden::aws::{AlertPublisher, Published};
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::detect::{BuiltinOptions, Catalog, ScanError, ScanReport, Scanner};
use trailwarden::logfile::{classify_key, KeyKind, LogError};
use trailwarden::outcome::{handle_json, RunError};
use trailwarden::payload::S3Object;
use trailwarden::{Outcome, Payload, Severity};

pub const NAME: &str = "log-delivery";

/// Environment variable: the user's detection file (path or `s3://bucket/key`).
pub const CUSTOM_DETECTIONS_URI: &str = "CUSTOM_DETECTIONS_URI";
/// Environment variable: leave federated sign-ins out of CIS 4.2.
pub const EXCLUDE_FEDERATED_SIGNIN: &str = "EXCLUDE_FEDERATED_SIGNIN";
/// Detection id of the alert about a log file that could not be read to the end.
pub const UNREADABLE_DETECTION: &str = "log-file-unreadable";

/// Where the user's detections come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectionsSource {
    /// A local file, already merged into [`Config::catalog`].
    Path(PathBuf),
    /// An S3 object, read once per cold start by [`State::catalog`].
    S3 { bucket: String, key: String },
}

impl DetectionsSource {
    fn parse(value: &str) -> Result<DetectionsSource, String> {
        if let Some(rest) = value.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(DetectionsSource::S3 {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                    })
                }
                _ => Err("expected s3://BUCKET/KEY".into()),
            };
        }
        if value.contains("://") {
            return Err("expected a local path or s3://BUCKET/KEY".into());
        }
        Ok(DetectionsSource::Path(PathBuf::from(value)))
    }

    /// `s3://bucket/key` or the path, for messages.
    pub fn display(&self) -> String {
        match self {
            DetectionsSource::Path(p) => p.display().to_string(),
            DetectionsSource::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// The function's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    /// `CUSTOM_DETECTIONS_URI`.
    pub custom_detections: Option<DetectionsSource>,
    /// `EXCLUDE_FEDERATED_SIGNIN`.
    pub exclude_federated_signin: bool,
    /// The built-in catalog, with the detections of a local `CUSTOM_DETECTIONS_URI` file.
    pub catalog: Arc<Catalog>,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let exclude_federated_signin = config::bool_var(env, EXCLUDE_FEDERATED_SIGNIN, true)?;
        let builtin = Catalog::builtin(BuiltinOptions {
            exclude_federated_signin,
        });
        let custom_detections = match config::get(env, CUSTOM_DETECTIONS_URI) {
            None => None,
            Some(v) => Some(
                DetectionsSource::parse(&v)
                    .map_err(|e| ConfigError::new(CUSTOM_DETECTIONS_URI, &v, e))?,
            ),
        };
        let catalog = match &custom_detections {
            Some(DetectionsSource::Path(p)) => {
                let v = p.display().to_string();
                builtin.with_file(p).map_err(|e| {
                    ConfigError::new(
                        CUSTOM_DETECTIONS_URI,
                        &v,
                        format!("a valid detection file: {e}"),
                    )
                })?
            }
            _ => builtin,
        };
        Ok(Config {
            common,
            custom_detections,
            exclude_federated_signin,
            catalog: Arc::new(catalog),
        })
    }

    /// Configuration with every default (tests, the CLI).
    pub fn defaults() -> Config {
        let none: [(&str, &str); 0] = [];
        Config::from_env(&none).expect("defaults are valid")
    }
}

/// A detection file in S3 that could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{CUSTOM_DETECTIONS_URI}: {0}")]
pub struct DetectionsError(pub String);

/// Per-cold-start state: configuration, clients, and the catalog once loaded.
#[derive(Debug)]
pub struct State {
    pub config: Config,
    s3: aws_sdk_s3::Client,
    publisher: AlertPublisher,
    catalog: tokio::sync::OnceCell<Arc<Catalog>>,
}

impl State {
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> State {
        let publisher = AlertPublisher::new(
            sdk,
            config.common.alert_topic_arn.clone(),
            config.common.min_severity,
        );
        State {
            s3: trailwarden::aws::s3_client(sdk),
            publisher,
            catalog: tokio::sync::OnceCell::new(),
            config,
        }
    }

    /// The catalog in force. With an `s3://` `CUSTOM_DETECTIONS_URI` the file is read and
    /// merged once; `main` calls this before serving so that a malformed detection stops the
    /// cold start.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, DetectionsError> {
        self.catalog
            .get_or_try_init(|| async {
                let Some(DetectionsSource::S3 { bucket, key }) = &self.config.custom_detections
                else {
                    return Ok(self.config.catalog.clone());
                };
                let uri = format!("s3://{bucket}/{key}");
                let out = self
                    .s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| {
                        DetectionsError(format!(
                            "cannot read {uri}: {}",
                            aws_sdk_s3::error::DisplayErrorContext(e)
                        ))
                    })?;
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| DetectionsError(format!("cannot read {uri}: {e}")))?
                    .into_bytes();
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| DetectionsError(format!("{uri}: not UTF-8 text")))?;
                let catalog = (*self.config.catalog)
                    .clone()
                    .with_overrides(text, &uri)
                    .map_err(|e| DetectionsError(e.to_string()))?;
                tracing::info!(function = NAME, source = %uri, detections = catalog.len(), "custom detections loaded");
                Ok(Arc::new(catalog))
            })
            .await
            .cloned()
    }
}

fn s3_uri(o: &S3Object) -> String {
    format!("s3://{}/{}", o.bucket, o.key)
}

/// What would be done, without any AWS call: which objects would be scanned and which are
/// skipped, and why. (What a log file holds is only known by reading it, in [`run`].)
pub fn plan(config: &Config, payload: &Payload) -> Outcome {
    let input = match payload {
        Payload::S3Objects(objs) if objs.len() == 1 => s3_uri(&objs[0]),
        other => other.describe(),
    };
    let mut outcome = Outcome::new(NAME, input);
    outcome.dry_run = config.common.dry_run;
    let Payload::S3Objects(objects) = payload else {
        outcome.ignored = Some(
            "not an S3 object notification: log-delivery scans CloudTrail log files delivered to S3"
                .into(),
        );
        return outcome;
    };
    let mut entries = Vec::new();
    let mut reasons = Vec::new();
    for o in objects {
        let kind = classify_key(&o.key);
        match kind.skip_reason() {
            None => entries.push(json!({"bucket": o.bucket, "key": o.key, "action": "scan"})),
            Some(reason) => {
                reasons.push(format!("{}: {reason}", s3_uri(o)));
                entries.push(
                    json!({"bucket": o.bucket, "key": o.key, "action": "skip", "reason": reason}),
                );
            }
        }
    }
    if objects.is_empty() {
        outcome.ignored = Some("the notification names no created object".into());
    } else if entries.iter().all(|e| e["action"] == "skip") {
        outcome.ignored = Some(format!("no CloudTrail log file: {}", reasons.join("; ")));
    }
    outcome
        .stats
        .insert("objects".into(), Value::Array(entries));
    outcome
        .stats
        .insert("detections".into(), json!(config.catalog.len()));
    if let Some(src) = &config.custom_detections {
        outcome
            .stats
            .insert("custom_detections".into(), json!(src.display()));
    }
    outcome
}

/// The result of reading one object.
struct ObjectScan {
    report: ScanReport,
    /// Why it could not be read to the end (content problem or transient failure).
    error: Option<ScanError>,
}

/// Streams one object from S3 through the scanner (on a blocking thread; the S3 body is
/// bridged, so only a few buffers are in memory at a time).
async fn scan_object(
    state: &State,
    catalog: Arc<Catalog>,
    o: &S3Object,
) -> Result<
    ObjectScan,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::get_object::GetObjectError>,
> {
    let mut req = state.s3.get_object().bucket(&o.bucket).key(&o.key);
    if let Some(v) = &o.version_id {
        req = req.version_id(v);
    }
    let out = req.send().await?;
    let reader = tokio_util::io::SyncIoBridge::new(Box::pin(out.body.into_async_read()));
    let name = s3_uri(o);
    let joined = tokio::task::spawn_blocking(move || {
        let mut scanner = Scanner::new(&catalog);
        let error = scanner.scan_reader(&name, reader).err();
        ObjectScan {
            report: scanner.finish(),
            error,
        }
    })
    .await;
    Ok(joined.unwrap_or_else(|e| ObjectScan {
        report: Scanner::new(&Catalog::new(Vec::new()).expect("empty catalog")).finish(),
        error: Some(ScanError {
            name: s3_uri(o),
            error: LogError::Read {
                message: format!("the scanning task failed: {e}"),
                progress: Default::default(),
            },
        }),
    }))
}

/// The alerts for one scanned object: one per finding, plus one when the file could not be
/// read to the end for a reason retrying will not fix.
pub fn alerts_for(
    config: &Config,
    o: &S3Object,
    report: &ScanReport,
    error: Option<&ScanError>,
) -> Vec<Alert> {
    let source = s3_uri(o);
    let mut alerts: Vec<Alert> = report
        .findings
        .iter()
        .map(|f| f.to_alert(&source))
        .collect();
    if let Some(e) = error.filter(|e| !e.error.is_transient()) {
        alerts.push(unreadable_alert(o, report, &e.error));
    }
    for a in &mut alerts {
        a.account_alias = config.common.account_alias.clone();
        a.dry_run = config.common.dry_run;
        if a.account.is_none() || a.region.is_none() {
            if let KeyKind::LogFile {
                account, region, ..
            } = classify_key(&o.key)
            {
                a.account.get_or_insert(account);
                a.region.get_or_insert(region);
            }
        }
    }
    alerts
}

fn unreadable_alert(o: &S3Object, report: &ScanReport, e: &LogError) -> Alert {
    let source = s3_uri(o);
    let mut a = Alert::new(
        Severity::Medium,
        UNREADABLE_DETECTION,
        "CloudTrail log file could not be read to the end",
    );
    let how_far = match e.progress() {
        Some(p) => format!(
            "{} records and {} bytes of JSON were read{} before the problem",
            p.records,
            p.bytes,
            p.compressed_bytes
                .map(|c| format!(
                    " ({c} compressed bytes of {})",
                    o.size.map_or("?".into(), |s| s.to_string())
                ))
                .unwrap_or_default()
        ),
        None => "nothing could be read".into(),
    };
    a.summary = format!(
        "{source} is not a readable CloudTrail log file: {e}. {how_far}; findings from those \
         records were reported separately. CloudTrail delivers complete gzip files, so a cut or \
         corrupt one means something else wrote to the trail bucket or the object was damaged: \
         check who wrote it (S3 server access logs or data events) and the log-integrity \
         results for this file."
    );
    a = a
        .fact("Log file", source)
        .fact("Bucket", o.bucket.clone())
        .fact("Key", o.key.clone())
        .fact("Problem", e.to_string())
        .fact("Read before the problem", how_far)
        .fact("Records scanned", report.records.to_string());
    if let Some(size) = o.size {
        a = a.fact("Object size", format!("{size} bytes"));
    }
    a.references = vec![
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html"
            .into(),
    ];
    a
}

fn object_stats(o: &S3Object, scan: &ObjectScan, duration_ms: u64) -> Value {
    let r = &scan.report;
    let file = r.files.first();
    let mut m = Map::new();
    m.insert("bucket".into(), json!(o.bucket));
    m.insert("key".into(), json!(o.key));
    m.insert(
        "action".into(),
        json!(if scan.error.is_some() {
            "scanned (incomplete)"
        } else {
            "scanned"
        }),
    );
    m.insert("records".into(), json!(r.records));
    m.insert("bytes".into(), json!(r.bytes));
    if let Some(c) = file.and_then(|f| f.compressed_bytes) {
        m.insert("compressed_bytes".into(), json!(c));
    }
    m.insert("unparsed_records".into(), json!(r.unparsed_records));
    if !r.unparsed_samples.is_empty() {
        m.insert("unparsed_samples".into(), json!(r.unparsed_samples));
    }
    m.insert(
        "findings".into(),
        Value::Array(
            r.findings
                .iter()
                .map(
                    |f| json!({"detection": f.detection, "severity": f.severity, "count": f.count}),
                )
                .collect(),
        ),
    );
    m.insert("duration_ms".into(), json!(duration_ms));
    if let Some(e) = &scan.error {
        m.insert("error".into(), json!(e.to_string()));
    }
    Value::Object(m)
}

/// Scans every CloudTrail log file in the notification and publishes one alert per detection
/// per file (in dry-run too, marked as such: reading changes nothing). S3 and publishing
/// failures are an `Err` so that Lambda retries; a corrupt or truncated file is reported by an
/// alert (retrying cannot fix it).
pub async fn run(state: &State, payload: &Payload) -> Result<Outcome, RunError> {
    let mut outcome = plan(&state.config, payload);
    if let Some(reason) = &outcome.ignored {
        tracing::info!(function = NAME, input = %outcome.input, reason = %reason, "ignored");
        return Ok(outcome);
    }
    let catalog = match state.catalog().await {
        Ok(c) => c,
        Err(e) => return Err(RunError::new(format!("{NAME}: {e}"), outcome)),
    };
    outcome
        .stats
        .insert("detections".into(), json!(catalog.len()));
    let Payload::S3Objects(objects) = payload else {
        return Ok(outcome); // plan has ignored it already
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for o in objects {
        let kind = classify_key(&o.key);
        if let Some(reason) = kind.skip_reason() {
            tracing::info!(function = NAME, bucket = %o.bucket, key = %o.key, reason = %reason, "object skipped");
            entries.push(
                json!({"bucket": o.bucket, "key": o.key, "action": "skip", "reason": reason}),
            );
            continue;
        }
        let started = Instant::now();
        let scan = match scan_object(state, catalog.clone(), o).await {
            Ok(s) => s,
            Err(e) => {
                let gone = e.as_service_error().is_some_and(|s| s.is_no_such_key());
                let detail = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
                if gone {
                    let reason = "the object no longer exists (deleted or overwritten after the notification)";
                    tracing::warn!(function = NAME, bucket = %o.bucket, key = %o.key, reason, "object skipped");
                    entries.push(json!({"bucket": o.bucket, "key": o.key, "action": "skip", "reason": reason}));
                } else {
                    tracing::error!(function = NAME, bucket = %o.bucket, key = %o.key, error = %detail, "cannot read object");
                    errors.push(format!("{}: s3:GetObject failed: {detail}", s3_uri(o)));
                    entries.push(json!({"bucket": o.bucket, "key": o.key, "action": "failed", "error": detail}));
                }
                continue;
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let r = &scan.report;
        let compressed = r.files.first().and_then(|f| f.compressed_bytes);
        match &scan.error {
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
            &emf::ObjectMetrics::from_scan(r, scan.error.as_ref(), duration_ms),
            chrono::Utc::now().timestamp_millis(),
        ) {
            println!("{line}");
        }
        entries.push(object_stats(o, &scan, duration_ms));
        if let Some(e) = scan.error.as_ref().filter(|e| e.error.is_transient()) {
            // Reading was cut by S3 or the network: the retry reads the whole file again and
            // reports it then, so nothing partial is published now.
            errors.push(e.to_string());
            continue;
        }
        outcome
            .alerts
            .extend(alerts_for(&state.config, o, r, scan.error.as_ref()));
    }
    outcome
        .stats
        .insert("objects".into(), Value::Array(entries));

    let mut delivery = Vec::new();
    for alert in &outcome.alerts {
        match state.publisher.publish(alert).await {
            Ok(Published::Sent(id)) => delivery
                .push(json!({"detection": alert.detection, "status": "sent", "message_id": id})),
            Ok(Published::BelowThreshold) => delivery.push(json!({
                "detection": alert.detection,
                "status": "logged only: below MIN_SEVERITY",
                "severity": alert.severity,
            })),
            Ok(Published::NoTopic) => delivery.push(json!({
                "detection": alert.detection,
                "status": "logged only: ALERT_TOPIC_ARN not set",
            })),
            Err(e) => {
                tracing::error!(function = NAME, error = %e, "alert not published");
                delivery.push(json!({"detection": alert.detection, "status": "failed", "error": e.to_string()}));
                errors.push(e.to_string());
            }
        }
    }
    let sent = delivery.iter().filter(|d| d["status"] == "sent").count();
    tracing::info!(
        function = NAME,
        input = %outcome.input,
        objects = objects.len(),
        alerts = outcome.alerts.len(),
        published = sent,
        errors = errors.len(),
        dry_run = outcome.dry_run,
        "invocation summary"
    );
    outcome
        .stats
        .insert("alert_delivery".into(), Value::Array(delivery));
    if errors.is_empty() {
        Ok(outcome)
    } else {
        Err(RunError::new(
            format!("{NAME}: {}", errors.join("; ")),
            outcome,
        ))
    }
}

/// Lambda entry: parse, run, return the outcome as JSON. A payload that does not parse is an
/// error carrying the parser's message.
pub async fn handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    handle_json(NAME, event.payload, |p| async move { run(state, &p).await }).await
}

#[cfg(test)]
mod tests;
