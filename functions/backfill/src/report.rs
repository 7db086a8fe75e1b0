//! Pure wording and results: a batch's per-object results (no alert: a backfill of millions
//! of objects must not send an alert per file), and the one alert of a whole backfill, from
//! its [`Summary`].

use crate::decide::{Case, ObjectKind, Step};
use crate::execute::Output;
use crate::result::{BatchResult, ObjectResult};
use crate::summary::{DigestTotals, ObjectCounts, Summary};
use crate::{Backfill, Config};
use trailwarden::alert::{Alert, Status};
use trailwarden::respond::{Plan, Report, Reporting};
use trailwarden::Severity;

/// The summary alert's detection id.
pub const SUMMARY_DETECTION: &str = "backfill-summary";

/// Detections, problem kinds, unreadable objects and failed batches named in the alert; the
/// rest are counted and in the results.
pub const ALERT_LINES: usize = 25;

impl Reporting for Backfill {
    type Output = Output;
    type Stats = BatchResult;

    /// A batch's results, one per object in batch order. A step that was not executed (a skipped
    /// object, or one left `planned` by a failure) gets a result saying why.
    fn report(
        _config: &Config,
        case: &Case,
        plan: &Plan<Step>,
        output: Option<&Output>,
    ) -> Report<BatchResult> {
        let objects = plan
            .iter()
            .zip(&case.objects)
            .map(|(p, (object, kind))| {
                if let Some(r) = output.and_then(|o| o.get(&p.step)) {
                    return r.clone();
                }
                let mut r = ObjectResult::new(&object.bucket, &object.key, *kind);
                if p.status == Status::Skipped {
                    r.kind = ObjectKind::Skipped;
                    r.reason = p.detail.clone();
                } else if p.status != Status::Planned {
                    r.error = p.detail.clone();
                }
                r
            })
            .collect();
        Report {
            alerts: Vec::new(),
            stats: BatchResult { objects },
        }
    }
}

/// `1234567` as `1,234,567` (the summary alert's and `trailwarden backfill`'s counts).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

impl ObjectCounts {
    /// The objects with a result, by kind: `12 log files, 3 digests, 1 skipped` (the summary
    /// alert's and `trailwarden backfill`'s wording).
    pub fn by_kind(&self) -> String {
        format!(
            "{} log files, {} digests, {} skipped",
            thousands(self.log_files),
            thousands(self.digests),
            thousands(self.skipped)
        )
    }
}

impl DigestTotals {
    /// The digests' verdicts: `5 valid, 0 invalid, 1 not fully checked`.
    pub fn verdicts(&self) -> String {
        format!(
            "{} valid, {} invalid, {} not fully checked",
            thousands(self.valid),
            thousands(self.invalid),
            thousands(self.incomplete)
        )
    }
}

impl Summary {
    /// The records read: `1,234 (56 MB uncompressed)`.
    pub fn records_read(&self) -> String {
        format!(
            "{} ({} MB uncompressed)",
            thousands(self.records),
            thousands(self.bytes / 1_000_000)
        )
    }
}

/// The alert's severity: the most severe detection or integrity problem; `high` when the
/// backfill is incomplete; `medium` for objects that could not be read; `info` when nothing
/// was found (not published at the default `MIN_SEVERITY`).
pub fn severity(s: &Summary) -> Severity {
    let mut sev = Severity::Info;
    if let Some(d) = s.detections.iter().map(|d| d.severity).max() {
        sev = sev.max(d);
    }
    if let Some(p) = s.digests.problems.iter().map(|p| p.severity).max() {
        sev = sev.max(p);
    }
    if s.objects.errors > 0 || s.digests.incomplete > 0 {
        sev = sev.max(Severity::Medium);
    }
    if !s.complete {
        sev = sev.max(Severity::High);
    }
    sev
}

/// One line: what the backfill found.
pub fn headline(s: &Summary) -> String {
    let mut parts = Vec::new();
    if !s.detections.is_empty() {
        let files: u64 = s.detections.iter().map(|d| d.objects).max().unwrap_or(0);
        parts.push(format!(
            "{} fired (in up to {})",
            plural(s.detections.len() as u64, "detection", "detections"),
            plural(files, "file", "files")
        ));
    }
    let bad = s.digests.invalid;
    if bad > 0 {
        parts.push(format!(
            "{} failed validation",
            plural(bad, "digest", "digests")
        ));
    }
    if s.objects.errors > 0 {
        parts.push(format!(
            "{} unreadable",
            plural(s.objects.errors, "object", "objects")
        ));
    }
    if !s.complete {
        parts.push("INCOMPLETE".into());
    }
    if parts.is_empty() {
        parts.push("nothing found".into());
    }
    format!(
        "Backfill of {}: {}, {}",
        s.source,
        plural(s.objects.total, "object", "objects"),
        parts.join(", ")
    )
}

/// The one alert of a backfill: every detection that fired with its matching records, files
/// and days; every kind of integrity problem; what could not be read; where the per-object
/// results are.
pub fn summary_alert(s: &Summary) -> Alert {
    let mut a = Alert::new(severity(s), SUMMARY_DETECTION, headline(s));
    let mut summary = format!(
        "A backfill read {} ({} log files with {} records, {} digests, {} other objects skipped).",
        plural(s.objects.total, "object", "objects"),
        thousands(s.objects.log_files),
        thousands(s.records),
        thousands(s.objects.digests),
        thousands(s.objects.skipped),
    );
    if !s.detections.is_empty() {
        summary.push_str(
            " Detections fired in the archive: each is one line below; the per-object results \
             name every file, and `trailwarden scan s3://BUCKET/KEY` shows a file's events.",
        );
    }
    if s.digests.invalid > 0 {
        summary.push_str(
            " Some digests do not match the logs they cover: log files or digests were \
             modified, deleted or moved after CloudTrail wrote them.",
        );
    }
    if !s.complete {
        summary.push_str(match &s.map_error {
            Some(_) => " The backfill did not finish: objects without a result were not looked at.",
            None => " Some batches failed every retry: their objects were not looked at.",
        });
    }
    a.summary = summary;
    a = a.fact("Source", &s.source);
    if let Some(e) = &s.execution {
        a = a.fact("Execution", e);
    }
    a = a.fact(
        "Objects",
        format!(
            "{} with a result ({})",
            thousands(s.objects.total),
            s.objects.by_kind()
        ),
    );
    a = a.fact("Records", s.records_read());
    for d in s.detections.iter().take(ALERT_LINES) {
        let days = match (&d.first_day, &d.last_day) {
            (Some(f), Some(l)) if f == l => format!(" on {f}"),
            (Some(f), Some(l)) => format!(" from {f} to {l}"),
            _ => String::new(),
        };
        a = a.fact(
            format!("{} {}", d.severity.as_str(), d.detection),
            format!(
                "{}: {} in {}{days}; e.g. {}",
                d.title,
                plural(d.records, "record", "records"),
                plural(d.objects, "file", "files"),
                d.examples.first().map(String::as_str).unwrap_or("-")
            ),
        );
    }
    a = a.fact_unlisted("More detections", s.detections.len(), ALERT_LINES, |n| {
        format!("{n} more (in the execution's output)")
    });
    if s.objects.digests > 0 {
        a = a.fact(
            "Digests",
            format!(
                "{} ({} log files hashed)",
                s.digests.verdicts(),
                thousands(s.digests.log_files_listed)
            ),
        );
    }
    for p in s.digests.problems.iter().take(ALERT_LINES) {
        a = a.fact(
            format!("{} {}", p.severity.as_str(), p.label),
            format!(
                "{}; e.g. {}",
                plural(p.count, "time", "times"),
                p.examples.join(", ")
            ),
        );
    }
    if s.objects.errors > 0 {
        let first = s
            .errors
            .first()
            .map(|e| format!("; e.g. {}: {}", e.object, e.error))
            .unwrap_or_default();
        a = a.fact(
            "Unreadable objects",
            format!("{}{first}", thousands(s.objects.errors)),
        );
    }
    if s.batches.failed > 0 {
        let first = s
            .failed_batches
            .first()
            .map(|b| format!("; e.g. {} ({})", b.error, b.cause))
            .unwrap_or_default();
        a = a.fact(
            "Failed batches",
            format!(
                "{} ({} objects without a result){first}",
                thousands(s.batches.failed),
                thousands(s.objects.in_failed_batches)
            ),
        );
    }
    if let Some(e) = &s.map_error {
        a = a.fact("Stopped by", format!("{}: {}", e.error, e.cause));
    }
    if let Some(r) = &s.results {
        a = a.fact("Per-object results", r);
    }
    a
}
