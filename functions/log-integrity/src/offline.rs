//! Offline validation of a local copy of a trail bucket, like `aws cloudtrail validate-logs`
//! but without AWS: for `trailwarden validate PATH --public-keys FILE`.
//!
//! `PATH` holds objects under their S3 keys (`aws s3 sync s3://bucket PATH`). Every digest
//! under a `CloudTrail-Digest/` folder is validated with [`check_digest`]; each digest and each
//! log file it lists is reported valid, invalid (why) or missing. Signatures come from
//! `<digest>.metadata.json` sidecars (`aws s3api head-object --query Metadata`) and, where
//! a sidecar is missing, from the next digest's `previousDigestSignature` (itself covered by
//! the next digest's signature). Log files that no digest lists are reported too.

use crate::check::{check_digest, DigestCheck, FileStatus, FindingKind, Options};
use crate::digest::{is_digest_key, is_log_file_key};
use crate::keys::KeySource;
use crate::s3walk::read_digest;
use crate::store::{list_keys, LocalStore, Location, Store};
use serde::Serialize;
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::Path;

/// What to validate.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    pub check: Options,
    /// The bucket `PATH` is a copy of. When given, a digest stating another bucket is
    /// reported as moved; when not, only keys are compared.
    pub bucket: Option<String>,
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    Valid,
    Invalid(String),
    Missing,
    /// Could not be checked (read error, key lookup failure).
    NotChecked(String),
    /// A log file that no digest lists (delivered after the newest digest, or planted).
    Unlisted,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Valid => f.write_str("valid"),
            Verdict::Invalid(r) => write!(f, "INVALID: {r}"),
            Verdict::Missing => f.write_str("INVALID: not found"),
            Verdict::NotChecked(r) => write!(f, "NOT CHECKED: {r}"),
            Verdict::Unlisted => f.write_str("not listed in any digest"),
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// `digest` or `log`.
    pub kind: &'static str,
    /// The object key.
    pub key: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The result of validating a local copy.
#[derive(Debug, Clone, Serialize)]
pub struct LocalReport {
    pub root: String,
    /// Every digest checked, oldest first per folder.
    pub digests: Vec<DigestCheck>,
    /// Report lines in order: each digest, then the log files it lists; previous digests
    /// that are missing appear as their own line.
    pub lines: Vec<Line>,
    /// Log files present that no digest lists (delivered after the newest digest, or
    /// planted).
    pub unlisted_log_files: Vec<String>,
}

/// Totals of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub digests_valid: usize,
    pub digests_invalid: usize,
    pub digests_missing: usize,
    pub log_files_valid: usize,
    pub log_files_invalid: usize,
    pub log_files_missing: usize,
    pub not_checked: usize,
    /// Log files that no digest lists.
    pub log_files_unlisted: usize,
}

impl Summary {
    /// Counts one line of a report.
    pub fn add(&mut self, l: &Line) {
        let digest = l.kind == "digest";
        match (&l.verdict, digest) {
            (Verdict::Valid, true) => self.digests_valid += 1,
            (Verdict::Invalid(_), true) => self.digests_invalid += 1,
            (Verdict::Missing, true) => self.digests_missing += 1,
            (Verdict::Valid, false) => self.log_files_valid += 1,
            (Verdict::Invalid(_), false) => self.log_files_invalid += 1,
            (Verdict::Missing, false) => self.log_files_missing += 1,
            (Verdict::NotChecked(_), _) => self.not_checked += 1,
            (Verdict::Unlisted, _) => self.log_files_unlisted += 1,
        }
    }
}

/// The closing line of a report (`Results: ...`).
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
        write!(
            f,
            "Results: {} digest file(s): {} valid, {} invalid, {} missing; {} log file(s): {} valid, {} invalid, {} missing",
            s.digests_valid + s.digests_invalid + s.digests_missing,
            s.digests_valid,
            s.digests_invalid,
            s.digests_missing,
            s.log_files_valid + s.log_files_invalid + s.log_files_missing,
            s.log_files_valid,
            s.log_files_invalid,
            s.log_files_missing,
        )?;
        if s.not_checked > 0 {
            write!(f, "; {} not checked", s.not_checked)?;
        }
        if s.log_files_unlisted > 0 {
            write!(
                f,
                "; {} log file(s) not listed in any digest",
                s.log_files_unlisted
            )?;
        }
        Ok(())
    }
}

impl Line {
    /// A log file that no digest lists.
    pub fn unlisted(key: String) -> Line {
        Line {
            kind: "log",
            key,
            verdict: Verdict::Unlisted,
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.kind == "digest" {
            "Digest file"
        } else {
            "Log file   "
        };
        write!(f, "{what}  {}  {}", self.key, self.verdict)
    }
}

impl LocalReport {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for l in &self.lines {
            s.add(l);
        }
        s.log_files_unlisted += self.unlisted_log_files.len();
        s
    }

    /// True when every digest and log file is valid and nothing is missing.
    pub fn is_valid(&self) -> bool {
        self.digests.iter().all(DigestCheck::is_valid)
    }

    /// The verdict on a key, if it was reported.
    pub fn verdict(&self, key: &str) -> Option<&Verdict> {
        self.lines.iter().find(|l| l.key == key).map(|l| &l.verdict)
    }
}

impl fmt::Display for LocalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Validating CloudTrail files under {}", self.root)?;
        if self.digests.is_empty() {
            writeln!(
                f,
                "No digest files found (no CloudTrail-Digest/ folder, or none after the resume point)."
            )?;
        }
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        for k in &self.unlisted_log_files {
            writeln!(f, "{}", Line::unlisted(k.clone()))?;
        }
        writeln!(f, "\n{}", self.summary())
    }
}

/// Why the copy could not be validated at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct LocalError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

fn digest_verdict(c: &DigestCheck) -> Verdict {
    let own: Vec<_> = c
        .digest_findings()
        .filter(|f| f.kind != FindingKind::CheckFailed)
        .collect();
    if c.has(FindingKind::DigestMissing) {
        return Verdict::Missing;
    }
    if !own.is_empty() {
        let reasons: Vec<String> = own.iter().map(|f| f.kind.label().to_string()).collect();
        return Verdict::Invalid(reasons.join(", "));
    }
    if let Some(f) = c
        .digest_findings()
        .find(|f| f.kind == FindingKind::CheckFailed)
    {
        return Verdict::NotChecked(f.detail.clone());
    }
    Verdict::Valid
}

/// Validates every digest under `root` (a local copy of a trail bucket) with keys from
/// `keys` (usually a [`crate::keys::KeySet`] read from a ListPublicKeys-shaped file).
pub async fn validate_local<K: KeySource>(
    root: &Path,
    keys: &K,
    options: &LocalOptions,
) -> Result<LocalReport, LocalError> {
    let io_err = |source| LocalError {
        path: root.display().to_string(),
        source,
    };
    let digest_keys = list_keys(root, &is_digest_key).map_err(io_err)?;
    let log_keys = list_keys(root, &is_log_file_key).map_err(io_err)?;
    let mut store = LocalStore::new(root);

    // Signatures of digests without a sidecar: what the next digest recorded.
    for key in &digest_keys {
        let at = Location::new(options.bucket.clone().unwrap_or_default(), key);
        let Some(d) = read_digest(&store, &at).await else {
            continue;
        };
        if let (Some(prev), Some(sig)) =
            (&d.previous_digest_s3_object, &d.previous_digest_signature)
        {
            store.with_signature(
                prev,
                sig,
                &format!("previousDigestSignature recorded in {key}"),
            );
        }
    }

    Ok(validate_keys(
        &store,
        root.display().to_string(),
        &digest_keys,
        log_keys,
        keys,
        options,
    )
    .await)
}

async fn validate_keys<S: Store, K: KeySource>(
    store: &S,
    root: String,
    digest_keys: &[String],
    log_keys: Vec<String>,
    keys: &K,
    options: &LocalOptions,
) -> LocalReport {
    let mut report = LocalReport {
        root,
        digests: Vec::new(),
        lines: Vec::new(),
        unlisted_log_files: Vec::new(),
    };
    let mut listed = BTreeSet::new();
    let mut missing_told = HashSet::new();
    let bucket = options.bucket.clone().unwrap_or_default();
    for key in digest_keys {
        let at = Location::new(bucket.clone(), key);
        let c = check_digest(store, keys, &options.check, &at, None).await;
        report.lines.extend(lines_of(&c, &mut missing_told));
        listed.extend(c.log_files.iter().map(|lf| lf.location.key.clone()));
        report.digests.push(c);
    }
    report.unlisted_log_files = log_keys
        .into_iter()
        .filter(|k| !listed.contains(k))
        .collect();
    report
}

/// The report lines of a checked digest: its previous digest when that is missing (once,
/// however many digests name it: `missing_told`), the digest, then each log file it lists.
pub(crate) fn lines_of(c: &DigestCheck, missing_told: &mut HashSet<String>) -> Vec<Line> {
    let mut lines = Vec::with_capacity(c.log_files.len() + 1);
    if let Some(prev) = &c.previous {
        if c.has(FindingKind::PreviousDigestMissing) && missing_told.insert(prev.key.clone()) {
            lines.push(Line {
                kind: "digest",
                key: prev.key.clone(),
                verdict: Verdict::Missing,
            });
        }
    }
    lines.push(Line {
        kind: "digest",
        key: c.location.key.clone(),
        verdict: digest_verdict(c),
    });
    for lf in &c.log_files {
        let verdict = match lf.status {
            FileStatus::Valid => Verdict::Valid,
            FileStatus::Missing => Verdict::Missing,
            FileStatus::Invalid => {
                Verdict::Invalid(lf.reason.clone().unwrap_or_else(|| "invalid".into()))
            }
            FileStatus::NotChecked => Verdict::NotChecked(lf.reason.clone().unwrap_or_default()),
        };
        lines.push(Line {
            kind: "log",
            key: lf.location.key.clone(),
            verdict,
        });
    }
    lines
}
