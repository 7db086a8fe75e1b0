//! The SDK side: reading Insights files from S3 and the catalog look-up through
//! `cloudtrail:LookupEvents` in the insight's region. Both only read.

use crate::config::Config;
use crate::decide::{Step, Window};
use crate::insight::{Insight, State};
use crate::lookup::{summarize, CatalogLook};
use crate::{Insights, NAME};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use serde_json::Value;
use std::io::Read;
use std::time::Duration;
use trailwarden::alert::Status;
use trailwarden::aws::{read_object_version, CallError, ErrorKind, RegionalClients, S3Uri};
use trailwarden::detect::Catalog;
use trailwarden::payload::{record_from_value, S3Object};
use trailwarden::respond::{InitError, Job, Responder, StepResult};

/// Largest Insights file read (they hold a handful of records; a larger object is not one).
pub const MAX_FILE_BYTES: usize = 16 << 20;
/// Largest decompressed Insights file.
pub const MAX_JSON_BYTES: u64 = 64 << 20;
/// Start records of one file that get a look-up (the rest are reported without one).
pub const MAX_FILE_LOOKUPS: usize = 5;
/// `LookupEvents` page size (its maximum).
pub const PAGE_SIZE: i32 = 50;
/// Pause between `LookupEvents` pages: the API allows 2 requests per second per account and
/// region.
pub const PAGE_PAUSE: Duration = Duration::from_millis(550);
/// Detail of a read step whose object was gone.
pub const VANISHED: &str =
    "the object no longer exists (deleted or overwritten after the notification)";

/// What the steps learnt.
#[derive(Debug, Default)]
pub struct Found {
    pub lookups: Vec<Lookup>,
    pub files: Vec<FileRead>,
}

impl Found {
    /// The look-up made for an incident.
    pub fn lookup(&self, incident: &str) -> Option<&Lookup> {
        self.lookups.iter().find(|l| l.window.incident == incident)
    }

    /// What was read from `object`.
    pub fn file(&self, object: &S3Object) -> Option<&FileRead> {
        self.files.iter().find(|f| f.object == *object)
    }
}

/// One catalog look-up.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub window: Window,
    /// The summary, or why it could not be made.
    pub result: Result<CatalogLook, String>,
}

/// One Insights file, read.
#[derive(Debug, Clone)]
pub struct FileRead {
    pub object: S3Object,
    /// The Insights records, in file order.
    pub insights: Vec<Insight>,
    /// Records that are not Insights records (or not records).
    pub other_records: u64,
    /// Why the file could not be read (corrupt, not an Insights file): retrying cannot fix it.
    pub problem: Option<String>,
}

impl Responder for Insights {
    const NAME: &'static str = NAME;

    /// Builds the state: the S3 client and `CloudTrail` clients per region.
    async fn init(sdk: &aws_config::SdkConfig, config: &mut Config) -> Result<Self, InitError> {
        tracing::info!(
            function = NAME,
            detections = config.catalog.len(),
            lookup_max_events = config.lookup_max_events,
            "ready"
        );
        Ok(Insights {
            s3: trailwarden::aws::s3_client(sdk),
            cloudtrail: RegionalClients::new(sdk, aws_sdk_cloudtrail::Client::new),
        })
    }

    /// Carries out one step.
    async fn execute_step(&self, step: &Step, job: Job<'_, Self>) -> StepResult {
        let (config, found) = (job.config, job.output);
        match step {
            Step::LookUp { window } => {
                let r = self.look_up_window(config, window).await;
                record_lookup(found, window.clone(), r)
            }
            Step::ReadFile { object } => read_file(self, object, found).await,
            Step::LookUpFile { object } => look_up_file(self, config, object, found).await,
        }
    }
}

impl Insights {
    /// Looks the calls of `window` up in its region's event history and runs the catalog over
    /// them ([`look_up`]).
    async fn look_up_window(
        &self,
        config: &Config,
        window: &Window,
    ) -> Result<CatalogLook, CallError> {
        let client = self.cloudtrail.get(window.region.as_deref());
        look_up(&client, &config.catalog, window, config.lookup_max_events).await
    }
}

fn record_lookup(
    found: &mut Found,
    window: Window,
    r: Result<CatalogLook, CallError>,
) -> StepResult {
    match r {
        Ok(look) => {
            let detail = format!(
                "{} event(s){}, {} detection(s) fired",
                look.events,
                if look.truncated {
                    " (more not read)"
                } else {
                    ""
                },
                look.findings.len()
            );
            found.lookups.push(Lookup {
                window,
                result: Ok(look),
            });
            StepResult::status(Status::Done, detail)
        }
        Err(e) => {
            tracing::error!(function = NAME, window = %window.describe(), error = %e, "catalog look-up failed");
            found.lookups.push(Lookup {
                window,
                result: Err(e.to_string()),
            });
            StepResult::failed(e.to_string())
        }
    }
}

/// `LookupEvents` for the window's API, every page up to `max` events of its service, through
/// the catalog.
pub async fn look_up(
    client: &aws_sdk_cloudtrail::Client,
    catalog: &Catalog,
    w: &Window,
    max: u32,
) -> Result<CatalogLook, CallError> {
    let what = format!("cloudtrail:LookupEvents {}", w.describe());
    let attribute = LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::EventName)
        .attribute_value(&w.event_name)
        .build()
        .map_err(|e| CallError::new(ErrorKind::Other, format!("{what}: {e}")))?;
    let max = max as usize;
    let mut events: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    let mut truncated = false;
    let mut pages = 0u32;
    loop {
        if pages > 0 {
            tokio::time::sleep(PAGE_PAUSE).await;
        }
        let sent = token.take();
        let out = client
            .lookup_events()
            .lookup_attributes(attribute.clone())
            .start_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(
                w.from.timestamp(),
            ))
            .end_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(
                w.to.timestamp(),
            ))
            .max_results(PAGE_SIZE)
            .set_next_token(sent.clone())
            .send()
            .await
            .map_err(|e| CallError::from_sdk(&e).context(&what))?;
        pages += 1;
        for e in out.events() {
            // The same API name exists in several services (DeletePolicy: IAM and Auto
            // Scaling): keep the insight's.
            let same_service = match (&w.event_source, e.event_source()) {
                (Some(want), Some(got)) => want == got,
                _ => true,
            };
            if let (true, Some(raw)) = (same_service, e.cloud_trail_event()) {
                events.push(raw.to_string());
            }
        }
        let next = out
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if events.len() >= max {
            truncated = events.len() > max || next.is_some();
            events.truncate(max);
            break;
        }
        match next {
            // A token that repeats would loop forever.
            Some(t) if Some(&t) != sent.as_ref() => token = Some(t),
            _ => break,
        }
    }
    tracing::info!(function = NAME, window = %w.describe(), events = events.len(), pages, truncated, "looked up");
    Ok(summarize(catalog, w, &events, truncated))
}

async fn read_file(state: &Insights, object: &S3Object, found: &mut Found) -> StepResult {
    let uri = S3Uri::from_parts(&object.bucket, &object.key);
    let bytes = match read_object_version(
        &state.s3,
        &uri,
        object.version_id.as_deref(),
        MAX_FILE_BYTES,
    )
    .await
    {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            tracing::warn!(function = NAME, object = %uri, reason = VANISHED, "object skipped");
            return StepResult::status(Status::Skipped, VANISHED);
        }
        Err(e) if e.kind == ErrorKind::TooLarge => {
            found.files.push(FileRead {
                object: object.clone(),
                insights: Vec::new(),
                other_records: 0,
                problem: Some(e.to_string()),
            });
            return StepResult::status(Status::Done, format!("not read: {e}"));
        }
        Err(e) => {
            tracing::error!(function = NAME, object = %uri, error = %e, "cannot read object");
            return StepResult::failed(e.to_string());
        }
    };
    let read = parse_file(object, &bytes);
    let detail = match &read.problem {
        None => format!(
            "{} Insights record(s){}",
            read.insights.len(),
            match read.other_records {
                0 => String::new(),
                n => format!(", {n} other record(s) ignored"),
            }
        ),
        Some(p) => format!("unreadable: {p}"),
    };
    tracing::info!(function = NAME, object = %uri, insights = read.insights.len(), problem = read.problem.as_deref().unwrap_or(""), "Insights file read");
    found.files.push(read);
    StepResult::status(Status::Done, detail)
}

/// Pure: an Insights file's bytes (gzip or plain JSON `{"Records": [...]}`) to its records.
pub fn parse_file(object: &S3Object, bytes: &[u8]) -> FileRead {
    let mut read = FileRead {
        object: object.clone(),
        insights: Vec::new(),
        other_records: 0,
        problem: None,
    };
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut dec = flate2::read::MultiGzDecoder::new(bytes).take(MAX_JSON_BYTES + 1);
        if let Err(e) = dec.read_to_end(&mut out) {
            read.problem = Some(format!("not a valid gzip file: {e}"));
            return read;
        }
        if out.len() as u64 > MAX_JSON_BYTES {
            read.problem = Some(format!(
                "decompresses to more than {} MiB",
                MAX_JSON_BYTES >> 20
            ));
            return read;
        }
        out
    } else {
        bytes.to_vec()
    };
    let v: Value = match serde_json::from_slice(&json) {
        Ok(v) => v,
        Err(e) => {
            read.problem = Some(format!("not valid JSON: {e}"));
            return read;
        }
    };
    let Some(records) = v.get("Records").and_then(Value::as_array) else {
        read.problem = Some("no \"Records\" array".into());
        return read;
    };
    for (i, r) in records.iter().enumerate() {
        match record_from_value(r.clone(), &format!("Records[{i}]."))
            .ok()
            .filter(|r| r.event_type.as_deref() == Some("AwsCloudTrailInsight"))
            .and_then(|r| Insight::from_record(&r))
        {
            Some(i) => read.insights.push(i),
            None => read.other_records += 1,
        }
    }
    read
}

async fn look_up_file(
    state: &Insights,
    config: &Config,
    object: &S3Object,
    found: &mut Found,
) -> StepResult {
    let Some(read) = found.file(object) else {
        return StepResult::status(Status::Skipped, "the file was not read");
    };
    // Insights of other accounts (an organization trail's files) are not looked up in this
    // account's event history.
    let windows: Vec<Window> = read
        .insights
        .iter()
        .filter(|i| i.state == State::Start && config.not_here(i.account.as_deref()).is_none())
        .filter_map(Window::for_start)
        .collect();
    if windows.is_empty() {
        return StepResult::status(Status::Skipped, "no Start record in the file");
    }
    let extra = windows.len().saturating_sub(MAX_FILE_LOOKUPS);
    let mut failures = Vec::new();
    let mut done = 0;
    for (n, w) in windows.into_iter().take(MAX_FILE_LOOKUPS).enumerate() {
        if n > 0 {
            tokio::time::sleep(PAGE_PAUSE).await;
        }
        let r = state.look_up_window(config, &w).await;
        if let Err(e) = &r {
            failures.push(e.to_string());
        } else {
            done += 1;
        }
        let _ = record_lookup(found, w, r);
    }
    let mut detail = format!("{done} look-up(s) made");
    if extra > 0 {
        detail.push_str(&format!(
            ", {extra} Start record(s) beyond {MAX_FILE_LOOKUPS} not looked up"
        ));
    }
    if failures.is_empty() {
        StepResult::status(Status::Done, detail)
    } else {
        StepResult::failed(format!("{detail}; failed: {}", failures.join("; ")))
    }
}
