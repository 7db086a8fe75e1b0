//! What a batch answers, object by object: the per-object results the state machine's
//! ResultWriter stores in S3, and the summary step reads back.

use crate::decide::ObjectKind;
use log_integrity::check::{DigestCheck, FindingKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use trailwarden::detect::ScanReport;
use trailwarden::Severity;

/// At most this many detections are listed per object (the most frequent first); a batch's
/// answer must stay under Step Functions' 256 KiB limit.
pub const MAX_DETECTIONS_PER_OBJECT: usize = 40;
/// At most this many integrity problems are listed per digest (`problems_total` counts all).
pub const MAX_PROBLEMS_PER_DIGEST: usize = 10;
/// Longest error or problem text kept.
pub const MAX_TEXT: usize = 300;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One object's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectResult {
    pub bucket: String,
    pub key: String,
    pub kind: ObjectKind,
    /// Why it was skipped (`kind: skipped`, or an object that was gone when read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Records read (log files).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub records: u64,
    /// Uncompressed bytes read (log files).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes: u64,
    /// Records that could not be evaluated.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unparsed_records: u64,
    /// Matching records per detection id, as log-delivery counts them for its alerts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub findings: BTreeMap<String, u64>,
    /// Detections left out of `findings` to keep the answer small.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more_detections: u64,
    /// The digest's verdict (digests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestResult>,
    /// Why the object could not be read (to the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl ObjectResult {
    pub fn new(bucket: &str, key: &str, kind: ObjectKind) -> ObjectResult {
        ObjectResult {
            bucket: bucket.to_string(),
            key: key.to_string(),
            kind,
            reason: None,
            records: 0,
            bytes: 0,
            unparsed_records: 0,
            findings: BTreeMap::new(),
            more_detections: 0,
            digest: None,
            error: None,
            duration_ms: 0,
        }
    }

    /// The counts of a log file scan (the most frequent detections, at most
    /// [`MAX_DETECTIONS_PER_OBJECT`]).
    pub fn with_scan(mut self, r: &ScanReport) -> ObjectResult {
        self.records = r.records;
        self.bytes = r.bytes;
        self.unparsed_records = r.unparsed_records;
        let mut counts: Vec<(&str, u64)> = r
            .findings
            .iter()
            .map(|f| (f.detection.as_str(), f.count))
            .collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        self.more_detections = counts.len().saturating_sub(MAX_DETECTIONS_PER_OBJECT) as u64;
        self.findings = counts
            .into_iter()
            .take(MAX_DETECTIONS_PER_OBJECT)
            .map(|(d, n)| (d.to_string(), n))
            .collect();
        self
    }
}

/// What checking a digest found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Signature, every listed log file and the link to the previous digest are as CloudTrail
    /// wrote them.
    Valid,
    /// Something is wrong (see the problems).
    Invalid,
    /// Something could not be read or looked up: not every check was done.
    Incomplete,
}

/// One integrity problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub kind: FindingKind,
    pub severity: Severity,
    pub file: String,
    pub detail: String,
}

/// A digest's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestResult {
    pub verdict: Verdict,
    /// Log files the digest lists.
    pub log_files: u64,
    /// The first [`MAX_PROBLEMS_PER_DIGEST`] problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    #[serde(default)]
    pub problems_total: u64,
}

impl DigestResult {
    pub fn from_check(check: &DigestCheck) -> DigestResult {
        let verdict = if check.is_valid() {
            Verdict::Valid
        } else if check.is_incomplete() {
            Verdict::Incomplete
        } else {
            Verdict::Invalid
        };
        DigestResult {
            verdict,
            log_files: check.log_files.len() as u64,
            problems: check
                .findings
                .iter()
                .take(MAX_PROBLEMS_PER_DIGEST)
                .map(|f| Problem {
                    kind: f.kind,
                    severity: f.severity,
                    file: f.file.clone(),
                    detail: clip(&f.detail),
                })
                .collect(),
            problems_total: check.findings.len() as u64,
        }
    }
}

/// `s` cut to [`MAX_TEXT`] characters.
pub fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_TEXT - 1).collect();
    out.push('…');
    out
}

/// A batch's answer: one result per object, in batch order. These are the function's typed
/// statistics, and what the state machine's ResultWriter stores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    pub objects: Vec<ObjectResult>,
}

impl BatchResult {
    pub fn count(&self, kind: ObjectKind) -> usize {
        self.objects.iter().filter(|o| o.kind == kind).count()
    }
}

impl trailwarden::respond::Stats for BatchResult {
    fn lines(&self) -> Vec<(&'static str, String)> {
        let findings: u64 = self.objects.iter().flat_map(|o| o.findings.values()).sum();
        let invalid = self
            .objects
            .iter()
            .filter(|o| {
                o.digest
                    .as_ref()
                    .is_some_and(|d| d.verdict != Verdict::Valid)
            })
            .count();
        vec![
            ("objects", self.objects.len().to_string()),
            ("log files", self.count(ObjectKind::Log).to_string()),
            ("digests", self.count(ObjectKind::Digest).to_string()),
            ("skipped", self.count(ObjectKind::Skipped).to_string()),
            (
                "records",
                self.objects
                    .iter()
                    .map(|o| o.records)
                    .sum::<u64>()
                    .to_string(),
            ),
            ("matching records", findings.to_string()),
            ("digests not valid", invalid.to_string()),
            (
                "errors",
                self.objects
                    .iter()
                    .filter(|o| o.error.is_some())
                    .count()
                    .to_string(),
            ),
        ]
    }
}
