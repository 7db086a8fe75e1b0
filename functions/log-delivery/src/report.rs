//! Pure: the alerts and statistics of a walked plan. All of log-delivery's wording is here.
//!
//! One alert per detection that fired in a file ([`trailwarden::detect::Finding::to_alert`]),
//! plus one when a file could not be read to the end for a reason retrying will not fix. A
//! file whose reading was cut by S3 or the network gives no alert: its step failed, Lambda
//! retries, and the retry reads the whole file again.

use crate::config::Config;
use crate::decide::{Case, Step};
use crate::execute::{ObjectScan, Scans};
use crate::LogDelivery;
use serde::Serialize;
use trailwarden::alert::{Alert, Severity, Status};
use trailwarden::detect::{RecordProblem, ScanError, ScanReport};
use trailwarden::logfile::LogError;
use trailwarden::payload::S3Object;
use trailwarden::respond::{self, Plan, PlannedStep, Report, Reporting};
use trailwarden::s3key::{classify_key, KeyKind};
use trailwarden::Payload;

/// Detection id of the alert about a log file that could not be read to the end.
pub const UNREADABLE_DETECTION: &str = "log-file-unreadable";
/// Detection id of the alert about a log file this function may not read (S3 or KMS
/// refused): a deployment problem that hides every file until it is fixed.
pub const ACCESS_DENIED_DETECTION: &str = "log-file-access-denied";
/// Detail of a scan step whose object was gone when it was read.
pub const VANISHED: &str =
    "the object no longer exists (deleted or overwritten after the notification)";

/// log-delivery's counters: totals over the notification and one entry per object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeliveryStats {
    /// Detections in the catalog in force.
    pub detections: usize,
    /// `CUSTOM_DETECTIONS_URI`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_detections: Option<String>,
    pub objects_scanned: u64,
    pub objects_skipped: u64,
    pub objects_failed: u64,
    /// Records read, over every scanned object.
    pub records: u64,
    /// Decompressed bytes of JSON read.
    pub bytes: u64,
    pub compressed_bytes: u64,
    /// Records that could not be evaluated.
    pub unparsed_records: u64,
    /// Detections that fired (one alert each).
    pub findings: u64,
    /// Findings left out because their incidents were already alerted (by the real-time
    /// path, another file, or an earlier delivery of the same file).
    #[serde(skip_serializing_if = "is_zero")]
    pub findings_suppressed: u64,
    /// Matching records made by trailwarden's own roles (`OWN_ROLE_ARNS`), left out.
    #[serde(skip_serializing_if = "is_zero")]
    pub own_records: u64,
    pub objects: Vec<ObjectStats>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What became of one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectStats {
    pub bucket: String,
    pub key: String,
    pub action: ObjectAction,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compressed_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unparsed_records: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unparsed_samples: Vec<RecordProblem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingCount>,
    /// Findings left out: their incidents were already alerted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<trailwarden::detect::scan::Suppressed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Why it could not be read (to the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What was (or would be) done with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ObjectAction {
    /// To be scanned (an offline plan).
    #[serde(rename = "scan")]
    Scan,
    /// Read to the end.
    #[serde(rename = "scanned")]
    Scanned,
    /// Read until a problem (see `error`).
    #[serde(rename = "scanned (incomplete)")]
    ScannedIncomplete,
    /// Not a log file, or gone (see `reason`).
    #[serde(rename = "skip")]
    Skip,
    /// Could not be read (see `error`); the invocation is retried.
    #[serde(rename = "failed")]
    Failed,
}

/// One detection that fired in an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingCount {
    pub detection: String,
    pub severity: Severity,
    pub count: u64,
}

impl respond::Stats for DeliveryStats {
    fn lines(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("detections", self.detections.to_string()),
            ("objects scanned", self.objects_scanned.to_string()),
            ("objects skipped", self.objects_skipped.to_string()),
            ("objects failed", self.objects_failed.to_string()),
            ("records", self.records.to_string()),
            ("bytes", self.bytes.to_string()),
            ("compressed bytes", self.compressed_bytes.to_string()),
            ("unparsed records", self.unparsed_records.to_string()),
            ("findings", self.findings.to_string()),
        ];
        if let Some(c) = &self.custom_detections {
            v.insert(1, ("custom detections", c.clone()));
        }
        if self.findings_suppressed > 0 {
            v.push((
                "findings suppressed (already alerted)",
                self.findings_suppressed.to_string(),
            ));
        }
        if self.own_records > 0 {
            v.push(("records by own roles", self.own_records.to_string()));
        }
        v
    }
}

impl DeliveryStats {
    fn new(config: &Config) -> Self {
        DeliveryStats {
            detections: config.catalog.len(),
            custom_detections: config.custom_detections.as_ref().map(|s| s.to_string()),
            ..Default::default()
        }
    }

    fn push(&mut self, o: ObjectStats) {
        match o.action {
            ObjectAction::Scanned | ObjectAction::ScannedIncomplete => self.objects_scanned += 1,
            ObjectAction::Skip => self.objects_skipped += 1,
            ObjectAction::Failed => self.objects_failed += 1,
            ObjectAction::Scan => {}
        }
        self.records += o.records.unwrap_or(0);
        self.bytes += o.bytes.unwrap_or(0);
        self.compressed_bytes += o.compressed_bytes.unwrap_or(0);
        self.unparsed_records += o.unparsed_records.unwrap_or(0);
        self.findings += o.findings.len() as u64;
        self.findings_suppressed += o.suppressed.len() as u64;
        self.objects.push(o);
    }
}

fn entry(o: &S3Object, action: ObjectAction) -> ObjectStats {
    ObjectStats {
        bucket: o.bucket.clone(),
        key: o.key.clone(),
        action,
        reason: None,
        records: None,
        bytes: None,
        compressed_bytes: None,
        unparsed_records: None,
        unparsed_samples: Vec::new(),
        findings: Vec::new(),
        suppressed: Vec::new(),
        duration_ms: None,
        error: None,
    }
}

fn scanned(scan: &ObjectScan) -> ObjectStats {
    let r = &scan.report;
    let mut e = entry(
        &scan.object,
        if scan.error.is_some() {
            ObjectAction::ScannedIncomplete
        } else {
            ObjectAction::Scanned
        },
    );
    e.records = Some(r.records);
    e.bytes = Some(r.bytes);
    e.compressed_bytes = r.files.first().and_then(|f| f.compressed_bytes);
    e.unparsed_records = Some(r.unparsed_records);
    e.unparsed_samples = r.unparsed_samples.clone();
    e.findings = r
        .findings
        .iter()
        .map(|f| FindingCount {
            detection: f.detection.clone(),
            severity: f.severity,
            count: f.count,
        })
        .collect();
    e.suppressed = r.suppressed.clone();
    e.duration_ms = Some(scan.duration_ms);
    e.error = scan.error.as_ref().map(|e| e.to_string());
    e
}

impl Reporting for LogDelivery {
    type Output = Scans;
    type Stats = DeliveryStats;

    /// The alerts and statistics of a walked plan (`output` is `None` for an offline plan:
    /// nothing was read, so there are no findings yet).
    fn report(
        config: &Config,
        _case: &Case,
        plan: &Plan<Step>,
        output: Option<&Scans>,
    ) -> Report<DeliveryStats> {
        let mut stats = DeliveryStats::new(config);
        let mut alerts = Vec::new();
        for step in plan {
            let object = step.step.object();
            let scan = output.and_then(|o| o.get(object));
            stats.own_records += scan.map_or(0, |s| s.report.own_records);
            stats.push(object_stats(step, object, scan));
            if let Some((_, why)) = output.and_then(|o| o.denied.iter().find(|(d, _)| d == object))
            {
                alerts.push(access_denied_alert(object, why));
            }
            let Some(scan) = scan else { continue };
            if scan.error.as_ref().is_some_and(|e| e.error.is_transient()) {
                // Cut by S3 or the network: the retry reads the whole file and reports it then.
                continue;
            }
            alerts.extend(alerts_for(
                config,
                object,
                &scan.report,
                scan.error.as_ref(),
            ));
        }
        Report { alerts, stats }
    }

    /// The statistics of an ignored payload: the detections in force and, for an S3
    /// notification, every object with why it is skipped.
    fn ignored_stats(config: &Config, payload: &Payload) -> DeliveryStats {
        let mut stats = DeliveryStats::new(config);
        for d in crate::decide::delivered(payload).unwrap_or_default() {
            let mut e = entry(&d.object, ObjectAction::Skip);
            e.reason = d.kind.skip_reason();
            stats.push(e);
        }
        stats
    }
}

fn object_stats(
    step: &PlannedStep<Step>,
    object: &S3Object,
    scan: Option<&ObjectScan>,
) -> ObjectStats {
    if let Some(scan) = scan {
        return scanned(scan);
    }
    let mut e = entry(
        object,
        match step.status {
            Status::Planned => ObjectAction::Scan,
            Status::Failed => ObjectAction::Failed,
            _ => ObjectAction::Skip,
        },
    );
    match step.status {
        Status::Failed => e.error = step.detail.clone(),
        Status::Planned => {}
        _ => e.reason = step.detail.clone(),
    }
    e
}

/// The alerts for one scanned object: one per finding, plus one when the file could not be
/// read to the end for a reason retrying will not fix. Account and region come from the key
/// when the finding has none.
pub fn alerts_for(
    _config: &Config,
    o: &S3Object,
    report: &ScanReport,
    error: Option<&ScanError>,
) -> Vec<Alert> {
    let source = o.uri();
    let mut alerts: Vec<Alert> = report
        .findings
        .iter()
        .map(|f| f.to_alert(&source))
        .collect();
    if let Some(e) = error.filter(|e| !e.error.is_transient()) {
        alerts.push(unreadable_alert(o, report, &e.error));
    }
    if let KeyKind::LogFile {
        account, region, ..
    } = classify_key(&o.key)
    {
        for a in &mut alerts {
            a.account.get_or_insert_with(|| account.clone());
            a.region.get_or_insert_with(|| region.clone());
        }
    }
    alerts
}

/// The alert for a log file this function's role may not read: the file is not scanned
/// until the grant is fixed (Lambda retries the delivery meanwhile).
fn access_denied_alert(o: &S3Object, why: &str) -> Alert {
    let source = o.uri();
    let mut a = Alert::new(
        Severity::High,
        ACCESS_DENIED_DETECTION,
        "CloudTrail log file cannot be read: access denied",
    );
    a.summary = format!(
        "log-delivery may not read {source}, so its records are not checked by any detection. \
         {why}"
    );
    a = a
        .fact("Log file", source)
        .fact("Bucket", o.bucket.clone())
        .fact("Key", o.key.clone());
    if let Some(key) = trailwarden::aws::access::kms_key_in(why) {
        a = a.fact("KMS key", key);
    }
    if let KeyKind::LogFile {
        account, region, ..
    } = classify_key(&o.key)
    {
        a.account = Some(account);
        a.region = Some(region);
    }
    a.references = vec![
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html".into(),
    ];
    a
}

fn unreadable_alert(o: &S3Object, report: &ScanReport, e: &LogError) -> Alert {
    let source = o.uri();
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
