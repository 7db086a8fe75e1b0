//! The backfill's last step: the per-object results the Distributed Map's ResultWriter stored
//! in S3 are read back (streamed, however many there are) and added up into one [`Summary`]:
//! objects by kind, records, matching records per detection, digest verdicts and integrity
//! problems by kind, objects that could not be read, and batches that failed every retry.
//! The summary is the execution's output (what `trailwarden backfill --wait` prints) and the
//! one alert the backfill sends ([`crate::report::summary_alert`]).
//!
//! ResultWriter's layout (Step Functions documentation, "ResultWriter"): a `manifest.json`
//! (`{"DestinationBucket", "MapRunArn", "ResultFiles": {"SUCCEEDED": [{"Key", "Size"}],
//! "FAILED": [...], "PENDING": [...]}}`) and result files holding one entry per child
//! execution (`{"Status", "Input", "Output", "Error", "Cause", ...}`, input and output as JSON
//! text), written as a JSON array (or JSON Lines with `WriterConfig.OutputType: JSONL`).

use crate::batch::RequestError;
use crate::decide::ObjectKind;
use crate::result::{clip, BatchResult, Verdict};
use log_integrity::check::FindingKind;
use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use trailwarden::detect::Catalog;
use trailwarden::s3key::{classify_key, KeyKind};
use trailwarden::s3uri::S3Uri;
use trailwarden::Severity;

/// Example objects kept per detection and per problem kind.
pub const EXAMPLES: usize = 5;
/// Unreadable objects and failed batches listed (all are counted).
pub const LISTED: usize = 20;

/// The summary step's request: the execution's state when the Distributed Map ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SummaryRequest {
    /// The execution's ARN.
    pub execution: Option<String>,
    /// What was backfilled, in words (`s3://bucket/prefix`, or the inventory manifest).
    pub source: String,
    /// Where the ResultWriter writes (bucket, and the execution's prefix).
    pub results_bucket: String,
    pub results_prefix: String,
    /// The ResultWriter's manifest, when the Map state ended normally.
    pub manifest: Option<S3Uri>,
    pub map_run_arn: Option<String>,
    /// The error that ended the Map state (too many failed batches, an unreadable listing).
    pub map_error: Option<MapError>,
}

/// How the Distributed Map failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapError {
    pub error: String,
    pub cause: String,
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

impl SummaryRequest {
    /// Reads `{"execution": ARN, "run": <the state: bucket, prefix, manifest, results_bucket,
    /// results_prefix, and map (the Map state's output) or map_error (its caught error)>}`.
    pub fn parse(v: &Value) -> Result<SummaryRequest, RequestError> {
        let run = v
            .get("run")
            .ok_or_else(|| RequestError("summarize.run: expected the execution's state".into()))?;
        let need = |k: &str| {
            field(run, k)
                .map(str::to_string)
                .ok_or_else(|| RequestError(format!("summarize.run.{k}: expected a string")))
        };
        let source = match run.get("manifest").filter(|m| !m.is_null()) {
            Some(m) => format!(
                "the S3 Inventory manifest s3://{}/{}",
                field(m, "bucket").unwrap_or("?"),
                field(m, "key").unwrap_or("?")
            ),
            None => format!(
                "s3://{}/{}",
                need("bucket")?,
                field(run, "prefix").unwrap_or("")
            ),
        };
        let details = run.pointer("/map/ResultWriterDetails");
        let manifest = match details {
            Some(d) => Some(S3Uri::from_parts(
                field(d, "Bucket").ok_or_else(|| {
                    RequestError("summarize.run.map.ResultWriterDetails.Bucket: missing".into())
                })?,
                field(d, "Key").ok_or_else(|| {
                    RequestError("summarize.run.map.ResultWriterDetails.Key: missing".into())
                })?,
            )),
            None => None,
        };
        let map_error = run
            .get("map_error")
            .filter(|e| !e.is_null())
            .map(|e| MapError {
                error: field(e, "Error").unwrap_or("unknown").to_string(),
                cause: clip(field(e, "Cause").unwrap_or("")),
            });
        Ok(SummaryRequest {
            execution: field(v, "execution").map(str::to_string),
            source,
            results_bucket: need("results_bucket")?,
            results_prefix: need("results_prefix")?,
            manifest,
            map_run_arn: run
                .pointer("/map/MapRunArn")
                .and_then(Value::as_str)
                .map(str::to_string),
            map_error,
        })
    }
}

/// ResultWriter's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Manifest {
    #[serde(default)]
    pub destination_bucket: Option<String>,
    #[serde(default)]
    pub map_run_arn: Option<String>,
    pub result_files: ResultFiles,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct ResultFiles {
    #[serde(default)]
    pub succeeded: Vec<ResultFile>,
    #[serde(default)]
    pub failed: Vec<ResultFile>,
    #[serde(default)]
    pub pending: Vec<ResultFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultFile {
    pub key: String,
    #[serde(default)]
    pub size: Option<u64>,
}

/// One child execution (one batch) as a result file holds it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// Which list of the manifest a result file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Succeeded,
    Failed,
    Pending,
}

struct EachEntry<'f, F>(&'f mut F);

impl<'de, F: FnMut(Entry)> Visitor<'de> for EachEntry<'_, F> {
    type Value = u64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of child execution results")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0;
        while let Some(e) = seq.next_element::<Entry>()? {
            (self.0)(e);
            n += 1;
        }
        Ok(n)
    }
}

/// Calls `f` for each entry of a result file, one at a time (memory stays flat however large
/// the file): a JSON array, or JSON Lines. Gives the number of entries.
pub fn for_each_entry<R: Read>(reader: R, mut f: impl FnMut(Entry)) -> Result<u64, String> {
    let mut r = BufReader::with_capacity(256 * 1024, reader);
    let first = loop {
        let buf = r.fill_buf().map_err(|e| e.to_string())?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                r.consume(i);
                break Some(b);
            }
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    };
    match first {
        None => Ok(0),
        Some(b'[') => serde_json::Deserializer::from_reader(r)
            .deserialize_seq(EachEntry(&mut f))
            .map_err(|e| format!("not a JSON array of results: {e}")),
        Some(_) => {
            let mut n = 0;
            for e in serde_json::Deserializer::from_reader(r).into_iter::<Entry>() {
                f(e.map_err(|e| format!("not JSON Lines of results: {e}"))?);
                n += 1;
            }
            Ok(n)
        }
    }
}

/// What the results add up to, while they are read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub batches_succeeded: u64,
    pub batches_failed: u64,
    pub batches_pending: u64,
    pub objects: BTreeMap<ObjectKind, u64>,
    pub objects_in_failed_batches: u64,
    pub objects_pending: u64,
    pub records: u64,
    pub bytes: u64,
    pub unparsed_records: u64,
    pub detections: BTreeMap<String, DetectionTotal>,
    pub verdicts: BTreeMap<Verdict, u64>,
    pub digest_log_files: u64,
    pub problems: BTreeMap<FindingKind, ProblemTotal>,
    pub errors: u64,
    pub error_list: Vec<ObjectError>,
    pub failed_list: Vec<FailedBatch>,
    /// Result entries that could not be understood.
    pub unreadable_entries: u64,
}

/// One detection over the whole backfill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionTotal {
    pub detection: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub severity: Severity,
    /// Matching records.
    pub records: u64,
    /// Log files with at least one.
    pub objects: u64,
    /// First and last day (from the log files' folders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_day: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_day: Option<String>,
    /// A few of the files (`s3://bucket/key`).
    pub examples: Vec<String>,
}

/// One kind of integrity problem over the whole backfill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemTotal {
    pub kind: FindingKind,
    pub label: String,
    pub severity: Severity,
    pub count: u64,
    /// A few of the files concerned.
    pub examples: Vec<String>,
}

/// An object that could not be read (to the end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectError {
    pub object: String,
    pub error: String,
}

/// A batch that failed every retry: its objects have no result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedBatch {
    pub error: String,
    pub cause: String,
    pub objects: u64,
    /// Its first object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
}

fn day_of(key: &str) -> Option<String> {
    match classify_key(key) {
        KeyKind::LogFile { date, .. } => Some(date),
        _ => None,
    }
}

/// Keys of a batch input (`{"Items": [{"Key"}...], "BatchInput": {"bucket"}}`) as text.
fn batch_objects(input: Option<&str>) -> (u64, Option<String>) {
    let Some(v) = input.and_then(|s| serde_json::from_str::<Value>(s).ok()) else {
        return (0, None);
    };
    let items = v.get("Items").and_then(Value::as_array);
    let n = items.map_or(0, |i| i.len() as u64);
    let bucket = v.pointer("/BatchInput/bucket").and_then(Value::as_str);
    let first = items.and_then(|i| i.first()).and_then(|i| {
        let key = i.get("Key").and_then(Value::as_str)?;
        let b = i.get("Bucket").and_then(Value::as_str).or(bucket)?;
        Some(format!("s3://{b}/{key}"))
    });
    (n, first)
}

impl Totals {
    /// Adds one batch's results.
    pub fn add_batch(&mut self, batch: &BatchResult) {
        self.batches_succeeded += 1;
        for o in &batch.objects {
            *self.objects.entry(o.kind).or_default() += 1;
            self.records += o.records;
            self.bytes += o.bytes;
            self.unparsed_records += o.unparsed_records;
            let uri = format!("s3://{}/{}", o.bucket, o.key);
            if let Some(e) = &o.error {
                self.errors += 1;
                if self.error_list.len() < LISTED {
                    self.error_list.push(ObjectError {
                        object: uri.clone(),
                        error: e.clone(),
                    });
                }
            }
            let day = (!o.findings.is_empty()).then(|| day_of(&o.key)).flatten();
            for (id, n) in &o.findings {
                let d = self
                    .detections
                    .entry(id.clone())
                    .or_insert_with(|| DetectionTotal {
                        detection: id.clone(),
                        ..Default::default()
                    });
                d.records += n;
                d.objects += 1;
                if let Some(day) = &day {
                    if d.first_day.as_ref().is_none_or(|f| day < f) {
                        d.first_day = Some(day.clone());
                    }
                    if d.last_day.as_ref().is_none_or(|l| day > l) {
                        d.last_day = Some(day.clone());
                    }
                }
                if d.examples.len() < EXAMPLES {
                    d.examples.push(uri.clone());
                }
            }
            if let Some(digest) = &o.digest {
                *self.verdicts.entry(digest.verdict).or_default() += 1;
                self.digest_log_files += digest.log_files;
                for p in &digest.problems {
                    let t = self.problems.entry(p.kind).or_insert_with(|| ProblemTotal {
                        kind: p.kind,
                        label: p.kind.label().to_string(),
                        severity: p.severity,
                        count: 0,
                        examples: Vec::new(),
                    });
                    t.count += 1;
                    if t.examples.len() < EXAMPLES && !t.examples.contains(&p.file) {
                        t.examples.push(p.file.clone());
                    }
                }
            }
        }
    }

    /// Adds one entry of a result file.
    pub fn add_entry(&mut self, status: FileStatus, e: &Entry) {
        match status {
            FileStatus::Succeeded => {
                match e
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str::<BatchResult>(o).ok())
                {
                    Some(b) => self.add_batch(&b),
                    None => self.unreadable_entries += 1,
                }
            }
            FileStatus::Failed => {
                let (n, first) = batch_objects(e.input.as_deref());
                self.batches_failed += 1;
                self.objects_in_failed_batches += n;
                if self.failed_list.len() < LISTED {
                    self.failed_list.push(FailedBatch {
                        error: e
                            .error
                            .clone()
                            .or_else(|| e.status.clone())
                            .unwrap_or_default(),
                        cause: clip(e.cause.as_deref().unwrap_or("")),
                        objects: n,
                        first,
                    });
                }
            }
            FileStatus::Pending => {
                let (n, _) = batch_objects(e.input.as_deref());
                self.batches_pending += 1;
                self.objects_pending += n;
            }
        }
    }

    /// The summary: detections named and ordered (most severe, then most records, first).
    pub fn finish(
        self,
        catalog: &Catalog,
        req: &SummaryRequest,
        results: Option<&S3Uri>,
    ) -> Summary {
        let mut detections: Vec<DetectionTotal> = self
            .detections
            .into_values()
            .map(|mut d| {
                match catalog.get(&d.detection) {
                    Some(det) => {
                        d.title = det.title.clone();
                        d.severity = det.severity;
                    }
                    None => {
                        d.title = format!("{} (not in the catalog now)", d.detection);
                        d.severity = Severity::Medium;
                    }
                }
                d
            })
            .collect();
        detections.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.records.cmp(&a.records))
                .then(a.detection.cmp(&b.detection))
        });
        let mut problems: Vec<ProblemTotal> = self.problems.into_values().collect();
        problems.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.count.cmp(&a.count)));
        let count = |k| self.objects.get(&k).copied().unwrap_or(0);
        let verdict = |v| self.verdicts.get(&v).copied().unwrap_or(0);
        let complete = req.map_error.is_none()
            && self.batches_failed == 0
            && self.batches_pending == 0
            && self.unreadable_entries == 0;
        Summary {
            source: req.source.clone(),
            execution: req.execution.clone(),
            complete,
            map_error: req.map_error.clone(),
            results: results.map(|u| u.to_string()),
            map_run: req.map_run_arn.clone(),
            batches: BatchCounts {
                succeeded: self.batches_succeeded,
                failed: self.batches_failed,
                pending: self.batches_pending,
                unreadable: self.unreadable_entries,
            },
            objects: ObjectCounts {
                total: count(ObjectKind::Log)
                    + count(ObjectKind::Digest)
                    + count(ObjectKind::Skipped),
                log_files: count(ObjectKind::Log),
                digests: count(ObjectKind::Digest),
                skipped: count(ObjectKind::Skipped),
                errors: self.errors,
                in_failed_batches: self.objects_in_failed_batches,
                pending: self.objects_pending,
            },
            records: self.records,
            bytes: self.bytes,
            unparsed_records: self.unparsed_records,
            detections,
            digests: DigestTotals {
                valid: verdict(Verdict::Valid),
                invalid: verdict(Verdict::Invalid),
                incomplete: verdict(Verdict::Incomplete),
                log_files_listed: self.digest_log_files,
                problems,
            },
            errors: self.error_list,
            failed_batches: self.failed_list,
            alert: None,
        }
    }
}

/// The whole backfill: the execution's output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// Every object has a result: the Map state ended normally, no batch failed.
    pub complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_error: Option<MapError>,
    /// The ResultWriter's manifest (`s3://...`): the per-object results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_run: Option<String>,
    pub batches: BatchCounts,
    pub objects: ObjectCounts,
    pub records: u64,
    pub bytes: u64,
    #[serde(default)]
    pub unparsed_records: u64,
    pub detections: Vec<DetectionTotal>,
    pub digests: DigestTotals,
    /// The first [`LISTED`] objects that could not be read (to the end).
    pub errors: Vec<ObjectError>,
    /// The first [`LISTED`] batches that failed every retry.
    pub failed_batches: Vec<FailedBatch>,
    /// The one alert the backfill sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertNote>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCounts {
    pub succeeded: u64,
    pub failed: u64,
    pub pending: u64,
    /// Result entries that could not be read.
    #[serde(default)]
    pub unreadable: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCounts {
    /// Objects with a result.
    pub total: u64,
    pub log_files: u64,
    pub digests: u64,
    pub skipped: u64,
    /// Objects that could not be read (to the end).
    pub errors: u64,
    /// Objects of batches that failed every retry (no result).
    pub in_failed_batches: u64,
    /// Objects never processed (the Map Run stopped first).
    pub pending: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestTotals {
    pub valid: u64,
    pub invalid: u64,
    pub incomplete: u64,
    /// Log files the digests list (each hashed once more by the check).
    pub log_files_listed: u64,
    pub problems: Vec<ProblemTotal>,
}

/// What became of the summary alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertNote {
    pub severity: Severity,
    pub subject: String,
    /// `sent`, `below MIN_SEVERITY`, `no topic` or the failure.
    pub delivery: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_files_are_read_entry_by_entry_as_a_json_array_or_json_lines() {
        let array = br#" [ {"Status": "SUCCEEDED", "Output": "{\"objects\": []}", "Input": "{}"},
                           {"Status": "FAILED", "Error": "Lambda.Unknown", "Cause": "boom"} ] "#;
        let mut seen = Vec::new();
        let n = for_each_entry(&array[..], |e| seen.push(e.status.unwrap())).unwrap();
        assert_eq!(n, 2);
        assert_eq!(seen, ["SUCCEEDED", "FAILED"]);
        let lines = b"{\"Status\": \"SUCCEEDED\"}\n{\"Status\": \"FAILED\"}\n";
        assert_eq!(for_each_entry(&lines[..], |_| {}).unwrap(), 2);
        assert_eq!(for_each_entry(&b"  "[..], |_| {}).unwrap(), 0);
        assert!(for_each_entry(&b"[{\"Status\": 1"[..], |_| {}).is_err());
    }
}
