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
use crate::digest::{is_digest_key, is_log_file_key, Digest};
use crate::hash::ContentHasher;
use crate::keys::KeySource;
use crate::store::{list_keys, Fetched, LocalStore, Location, Store};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::BTreeSet;
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
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Valid => f.write_str("valid"),
            Verdict::Invalid(r) => write!(f, "INVALID: {r}"),
            Verdict::Missing => f.write_str("INVALID: not found"),
            Verdict::NotChecked(r) => write!(f, "NOT CHECKED: {r}"),
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
}

impl LocalReport {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for l in &self.lines {
            let digest = l.kind == "digest";
            match (&l.verdict, digest) {
                (Verdict::Valid, true) => s.digests_valid += 1,
                (Verdict::Invalid(_), true) => s.digests_invalid += 1,
                (Verdict::Missing, true) => s.digests_missing += 1,
                (Verdict::Valid, false) => s.log_files_valid += 1,
                (Verdict::Invalid(_), false) => s.log_files_invalid += 1,
                (Verdict::Missing, false) => s.log_files_missing += 1,
                (Verdict::NotChecked(_), _) => s.not_checked += 1,
            }
        }
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
            let what = if l.kind == "digest" {
                "Digest file"
            } else {
                "Log file   "
            };
            writeln!(f, "{what}  {}  {}", l.key, l.verdict)?;
        }
        for k in &self.unlisted_log_files {
            writeln!(f, "Log file     {k}  not listed in any digest")?;
        }
        let s = self.summary();
        writeln!(
            f,
            "\nResults: {} digest file(s): {} valid, {} invalid, {} missing; {} log file(s): {} valid, {} invalid, {} missing{}{}",
            s.digests_valid + s.digests_invalid + s.digests_missing,
            s.digests_valid,
            s.digests_invalid,
            s.digests_missing,
            s.log_files_valid + s.log_files_invalid + s.log_files_missing,
            s.log_files_valid,
            s.log_files_invalid,
            s.log_files_missing,
            if s.not_checked > 0 {
                format!("; {} not checked", s.not_checked)
            } else {
                String::new()
            },
            if self.unlisted_log_files.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} log file(s) not listed in any digest",
                    self.unlisted_log_files.len()
                )
            }
        )
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
        let mut h = ContentHasher::keeping(crate::check::MAX_DIGEST_BYTES);
        let at = Location::new(options.bucket.clone().unwrap_or_default(), key);
        if !matches!(
            store.fetch(&at, None, &mut h).await,
            Ok(Fetched::Found { .. })
        ) {
            continue;
        }
        let Ok(hashed) = h.finish() else { continue };
        let Ok(d) = Digest::parse(hashed.content.as_deref().unwrap_or_default()) else {
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
        Walk::plain(&mut |_, _, _| {}),
    )
    .await)
}

/// How [`validate_s3`] walks a large prefix.
pub struct Walk<'a> {
    /// Digests checked at once (at least 1); each reads its log files one after another.
    pub concurrency: usize,
    /// Only the digests after this key, in S3's key order (a resumed run). Log files no
    /// digest lists are then reported only where this run is the one to tell: in an account
    /// and region whose digests it checked, from the earliest period they cover; in one whose
    /// digest folder comes after this key, all of them.
    pub start_after: Option<String>,
    /// Called after each digest, in key order: its key, the digests done, the digests in all.
    pub on_digest: &'a mut dyn FnMut(&str, usize, usize),
}

impl Walk<'_> {
    /// One digest at a time, from the start, telling no one.
    pub fn plain(on_digest: &mut dyn FnMut(&str, usize, usize)) -> Walk<'_> {
        Walk {
            concurrency: 1,
            start_after: None,
            on_digest,
        }
    }
}

/// Validates every digest under an S3 prefix (`s3://bucket/prefix/`), reading digests, their
/// signatures (object metadata) and log files straight from S3, as
/// `aws cloudtrail validate-logs` does: `walk.concurrency` digests at once, in key order,
/// after `walk.start_after`. Keys are listed in full (no look-around bound).
pub async fn validate_s3<K: KeySource>(
    client: &aws_sdk_s3::Client,
    uri: &trailwarden::s3uri::S3Uri,
    keys: &K,
    options: &LocalOptions,
    walk: Walk<'_>,
) -> Result<LocalReport, trailwarden::aws::CallError> {
    let all: Vec<String> = trailwarden::aws::Listing::new(client, uri, None)
        .collect(usize::MAX)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let digest_keys: Vec<String> = all
        .iter()
        .filter(|k| is_digest_key(k))
        .filter(|k| walk.start_after.as_ref().is_none_or(|after| *k > after))
        .cloned()
        .collect();
    let log_keys: Vec<String> = all.into_iter().filter(|k| is_log_file_key(k)).collect();
    let options = LocalOptions {
        bucket: Some(uri.bucket.clone()),
        ..options.clone()
    };
    let store = crate::store::S3Store::new(client.clone());
    Ok(validate_keys(
        &store,
        uri.to_string(),
        &digest_keys,
        log_keys,
        keys,
        &options,
        walk,
    )
    .await)
}

/// An account and region's place in a trail bucket: the folders above the date (prefix,
/// organization, account, region).
type AccountRegion = (String, Option<String>, String, String);

/// The account and region folders of a trail object's key.
fn account_region(key: &str) -> Option<AccountRegion> {
    let f = trailwarden::s3key::classify(key).folder()?.clone();
    Some((f.prefix, f.organization, f.account, f.region))
}

/// The digest folder of an account and region, as S3 keys start (for comparing with a
/// resume key).
fn digest_folder(group: &AccountRegion) -> String {
    let (prefix, org, account, region) = group;
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let org = org.as_ref().map(|o| format!("{o}/")).unwrap_or_default();
    format!("{prefix}AWSLogs/{org}{account}/CloudTrail-Digest/{region}/")
}

/// Whether a resumed run (after `start_after`) is the one to report `log_key` as listed in
/// no digest; `earliest`: per account and region, the start (`YYYYMMDDTHHmmZ`) of the
/// earliest period this run's digests cover.
fn reported_here(
    log_key: &str,
    start_after: &str,
    earliest: &std::collections::HashMap<AccountRegion, String>,
) -> bool {
    let Some(group) = account_region(log_key) else {
        return true;
    };
    match earliest.get(&group) {
        Some(from) => trailwarden::s3key::LogFileName::parse(log_key)
            .is_none_or(|n| n.timestamp.as_str() >= from.as_str()),
        None => {
            let folder = digest_folder(&group);
            folder.as_str() > start_after && !start_after.starts_with(&folder)
        }
    }
}

async fn validate_keys<S: Store, K: KeySource>(
    store: &S,
    root: String,
    digest_keys: &[String],
    log_keys: Vec<String>,
    keys: &K,
    options: &LocalOptions,
    walk: Walk<'_>,
) -> LocalReport {
    let mut report = LocalReport {
        root,
        digests: Vec::new(),
        lines: Vec::new(),
        unlisted_log_files: Vec::new(),
    };
    let mut listed = BTreeSet::new();
    let mut missing_reported = BTreeSet::new();
    let mut earliest = std::collections::HashMap::new();
    let bucket = options.bucket.clone().unwrap_or_default();
    let mut checks = futures_util::stream::iter(digest_keys.iter().map(|key| {
        let at = Location::new(bucket.clone(), key);
        async move {
            (
                key,
                check_digest(store, keys, &options.check, &at, None).await,
            )
        }
    }))
    .buffered(walk.concurrency.max(1));
    let mut done = 0;
    while let Some((key, c)) = checks.next().await {
        if let (Some(group), Some(Ok(start))) =
            (account_region(key), c.digest.as_ref().map(Digest::start))
        {
            let start = start.format("%Y%m%dT%H%MZ").to_string();
            let e = earliest.entry(group).or_insert_with(|| start.clone());
            if start < *e {
                *e = start;
            }
        }
        if let Some(prev) = &c.previous {
            if c.has(FindingKind::PreviousDigestMissing)
                && missing_reported.insert(prev.key.clone())
            {
                report.lines.push(Line {
                    kind: "digest",
                    key: prev.key.clone(),
                    verdict: Verdict::Missing,
                });
            }
        }
        report.lines.push(Line {
            kind: "digest",
            key: key.clone(),
            verdict: digest_verdict(&c),
        });
        for lf in &c.log_files {
            listed.insert(lf.location.key.clone());
            let verdict = match lf.status {
                FileStatus::Valid => Verdict::Valid,
                FileStatus::Missing => Verdict::Missing,
                FileStatus::Invalid => {
                    Verdict::Invalid(lf.reason.clone().unwrap_or_else(|| "invalid".into()))
                }
                FileStatus::NotChecked => {
                    Verdict::NotChecked(lf.reason.clone().unwrap_or_default())
                }
            };
            report.lines.push(Line {
                kind: "log",
                key: lf.location.key.clone(),
                verdict,
            });
        }
        report.digests.push(c);
        done += 1;
        (walk.on_digest)(key, done, digest_keys.len());
    }
    report.unlisted_log_files = log_keys
        .into_iter()
        .filter(|k| !listed.contains(k))
        .filter(|k| {
            walk.start_after
                .as_deref()
                .is_none_or(|after| reported_here(k, after, &earliest))
        })
        .collect();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ORG: &str = "logs/AWSLogs/o-a1b2c3d4e5";

    fn log(account: &str, region: &str, stamp: &str) -> String {
        format!(
            "{ORG}/{account}/CloudTrail/{region}/2024/05/14/{account}_CloudTrail_{region}_{stamp}_Ux4PBpVbB0Xq3Ycn.json.gz"
        )
    }

    fn digest(account: &str, region: &str, stamp: &str) -> String {
        format!(
            "{ORG}/{account}/CloudTrail-Digest/{region}/2024/05/14/{account}_CloudTrail-Digest_{region}_org-trail_us-east-1_{stamp}.json.gz"
        )
    }

    #[test]
    fn a_resumed_run_reports_unlisted_log_files_only_where_it_checked_digests() {
        let (a, b) = ("111122223333", "444455556666");
        // Resumed inside a's us-east-1 digests; this run checked a's us-east-1 from 10:01.
        let after = digest(a, "us-east-1", "20240514T100131Z");
        let group = account_region(&log(a, "us-east-1", "20240514T1006Z")).unwrap();
        assert_eq!(
            digest_folder(&group),
            format!("{ORG}/{a}/CloudTrail-Digest/us-east-1/")
        );
        let earliest = HashMap::from([(group, "20240514T1001Z".to_string())]);
        // The period this run's digests cover: reported.
        assert!(reported_here(
            &log(a, "us-east-1", "20240514T1006Z"),
            &after,
            &earliest
        ));
        // Earlier: the run that checked that period reported it.
        assert!(!reported_here(
            &log(a, "us-east-1", "20240514T0906Z"),
            &after,
            &earliest
        ));
        // An account and region before the resume point with no digest in this run: done
        // before. One after it: this run's, whether or not it had digests (a region whose
        // digests were all deleted is still reported).
        assert!(!reported_here(
            &log(a, "eu-west-1", "20240514T1006Z"),
            &after,
            &earliest
        ));
        assert!(reported_here(
            &log(b, "eu-west-1", "20240514T0906Z"),
            &after,
            &earliest
        ));
        assert!(reported_here(
            &log(a, "us-west-2", "20240514T0906Z"),
            &after,
            &earliest
        ));
        // A key no layout explains is always reported.
        assert!(reported_here("logs/planted.json.gz", &after, &earliest));
    }
}
