//! Validating one digest: its signature, its location, the log files it lists, and its link
//! to the previous digest. The same code runs against S3 (Lambda) and a local copy (CLI).

use crate::digest::{string_to_sign, Digest, DigestName, LogFileEntry, SIGNATURE_ALGORITHM};
use crate::hash::{ContentHasher, Hashed};
use crate::keys::{KeySource, KeyWanted};
use crate::restart::Restart;
use crate::store::{FetchError, Fetched, Location, Store, SIGNATURE_SOURCE};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use trailwarden::Severity;

/// Digests larger than this (uncompressed) are refused as unreadable: a digest entry is about
/// 400 bytes, so this is some 40,000 log files for one hour of one region.
pub const MAX_DIGEST_BYTES: u64 = 16 * 1024 * 1024;

/// Log files of one digest read at once: a digest of a busy account lists hundreds, and each
/// read is mostly waiting on S3 (memory per read: the hasher's stream buffers, not the file).
pub const LOG_FILE_READS: usize = 8;

/// Checking options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Longest accepted time between the previous digest's end and this digest's end.
    pub max_gap_minutes: u32,
    /// How many days before a digest that starts a new chain are searched for the last
    /// digest of the chain before it (0: no search).
    pub restart_lookback_days: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_gap_minutes: crate::config::DEFAULT_MAX_DIGEST_GAP_MINUTES,
            restart_lookback_days: crate::config::DEFAULT_RESTART_LOOKBACK_DAYS,
        }
    }
}

/// What is wrong, one kind per cause. Read back too (backfill results stored in S3).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The digest that triggered the check is gone.
    DigestMissing,
    /// Not gzip, not JSON, or not a digest.
    DigestUnreadable,
    /// No `signature` in the object's metadata.
    SignatureMissing,
    /// A signature algorithm other than SHA256withRSA.
    SignatureAlgorithmUnsupported,
    /// No CloudTrail public key has the fingerprint the digest names.
    UnknownPublicKey,
    /// The signature does not verify: the digest was edited or not signed by CloudTrail.
    SignatureInvalid,
    /// The digest is not where it says it was written.
    DigestMoved,
    /// A log file's content differs from what the digest recorded.
    LogFileModified,
    /// A log file the digest lists is gone.
    LogFileMissing,
    /// A log file is not valid gzip.
    LogFileUnreadable,
    /// The previous digest's content differs from the hash this digest recorded.
    PreviousDigestModified,
    /// The previous digest carries another signature than the one this digest recorded.
    PreviousDigestResigned,
    /// The previous digest is gone (deleted, or never delivered).
    PreviousDigestMissing,
    /// The chain fields are inconsistent.
    ChainBroken,
    /// More time passed between two digests than allowed.
    Gap,
    /// The digest starts a new chain although an earlier digest of the same trail exists:
    /// logging was stopped and started again (or digests were deleted) in between.
    ChainRestarted,
    /// A log file delivered while the chain was broken that no digest lists: logging was on,
    /// so the digests covering it were deleted.
    UndigestedLogFile,
    /// Something could not be read or looked up (permissions, network): not verified.
    CheckFailed,
}

impl FindingKind {
    pub fn severity(self) -> Severity {
        use FindingKind::*;
        match self {
            DigestUnreadable
            | SignatureMissing
            | SignatureAlgorithmUnsupported
            | UnknownPublicKey
            | SignatureInvalid
            | DigestMoved
            | LogFileModified
            | LogFileMissing
            | LogFileUnreadable
            | PreviousDigestModified
            | PreviousDigestResigned => Severity::Critical,
            DigestMissing
            | PreviousDigestMissing
            | ChainBroken
            | Gap
            | ChainRestarted
            | UndigestedLogFile => Severity::High,
            CheckFailed => Severity::Medium,
        }
    }

    /// A short label for reports.
    pub fn label(self) -> &'static str {
        use FindingKind::*;
        match self {
            DigestMissing => "digest deleted",
            DigestUnreadable => "digest unreadable",
            SignatureMissing => "digest signature missing",
            SignatureAlgorithmUnsupported => "unsupported signature algorithm",
            UnknownPublicKey => "digest signed with an unknown key",
            SignatureInvalid => "digest signature invalid",
            DigestMoved => "digest moved",
            LogFileModified => "log file modified",
            LogFileMissing => "log file deleted",
            LogFileUnreadable => "log file corrupt",
            PreviousDigestModified => "previous digest modified",
            PreviousDigestResigned => "previous digest replaced",
            PreviousDigestMissing => "previous digest deleted",
            ChainBroken => "digest chain broken",
            Gap => "gap between digests",
            ChainRestarted => "digest chain restarted",
            UndigestedLogFile => "log file without digest",
            CheckFailed => "check incomplete",
        }
    }
}

/// One problem, about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// The file concerned (`s3://bucket/key`, or a path for a local copy).
    pub file: String,
    /// What is wrong, in a sentence.
    pub detail: String,
}

impl Finding {
    fn new(kind: FindingKind, file: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            kind,
            severity: kind.severity(),
            file: file.into(),
            detail: detail.into(),
        }
    }
}

/// The state of one log file listed in a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Valid,
    Invalid,
    Missing,
    /// Could not be read (see the `CheckFailed` finding).
    NotChecked,
}

/// One log file listed in a digest, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFileCheck {
    pub location: Location,
    /// How the store names it (a path for a local copy).
    pub file: String,
    pub status: FileStatus,
    /// Why it is not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Everything learned about one digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestCheck {
    /// Where the digest was read.
    pub location: Location,
    pub file: String,
    /// The digest, when it could be read and parsed.
    #[serde(skip)]
    pub digest: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<(String, String)>,
    pub signature_verified: bool,
    /// Where the signature came from, when not the object's own metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_source: Option<String>,
    pub log_files: Vec<LogFileCheck>,
    /// The previous digest this one names (none for the first of a chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Location>,
    /// For a digest that starts a new chain although an earlier digest of the same trail
    /// exists: the gap the restart leaves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    pub findings: Vec<Finding>,
    /// Bytes read from the store for this check.
    pub bytes_read: u64,
}

impl DigestCheck {
    /// No problem found and nothing left unchecked.
    pub fn is_valid(&self) -> bool {
        self.findings.is_empty()
    }

    /// Some check could not be done (read or key lookup failed).
    pub fn is_incomplete(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.kind == FindingKind::CheckFailed)
    }

    /// The most severe finding.
    pub fn severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    pub fn has(&self, kind: FindingKind) -> bool {
        self.findings.iter().any(|f| f.kind == kind)
    }

    /// Findings about the digest file itself (not its log files, not its predecessor).
    pub fn digest_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.file == self.file)
    }

    pub fn count(&self, status: FileStatus) -> usize {
        self.log_files.iter().filter(|l| l.status == status).count()
    }

    pub(crate) fn push(
        &mut self,
        kind: FindingKind,
        file: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.findings.push(Finding::new(kind, file, detail));
    }
}

/// Reads an object fully (digests only: bounded by [`MAX_DIGEST_BYTES`]).
pub(crate) async fn read_kept<S: Store>(
    store: &S,
    at: &Location,
    version: Option<&str>,
) -> Result<Option<(Hashed, HashMap<String, String>)>, FetchError> {
    let mut h = ContentHasher::keeping(MAX_DIGEST_BYTES);
    match store.fetch(at, version, &mut h).await? {
        Fetched::NotFound => Ok(None),
        Fetched::Found { metadata } => {
            let hashed = h.finish().map_err(FetchError::Content)?;
            Ok(Some((hashed, metadata)))
        }
    }
}

/// Validates the digest at `at`. Problems with the digest, its log files or its chain are
/// findings in the result; nothing here fails.
///
/// A digest that starts a new chain is looked at more closely ([`crate::restart`]): when an
/// earlier digest of the same trail and region exists within
/// [`Options::restart_lookback_days`], the chain restarted, and the gap between the two is
/// reported together with what is wrong with that earlier digest.
pub async fn check_digest<S: Store, K: KeySource>(
    store: &S,
    keys: &K,
    options: &Options,
    at: &Location,
    version: Option<&str>,
) -> DigestCheck {
    let mut check = check_one(store, keys, options, at, version).await;
    let starts_chain = check.digest.as_ref().is_some_and(Digest::starts_chain);
    if starts_chain && options.restart_lookback_days > 0 {
        crate::restart::look_for_restart(&mut check, store, keys, options).await;
    }
    check
}

/// Validates one digest on its own (no search for an earlier chain).
pub(crate) async fn check_one<S: Store, K: KeySource>(
    store: &S,
    keys: &K,
    options: &Options,
    at: &Location,
    version: Option<&str>,
) -> DigestCheck {
    let file = store.describe(at);
    let name = DigestName::parse(&at.key);
    let mut check = DigestCheck {
        location: at.clone(),
        file: file.clone(),
        digest: None,
        trail: name.as_ref().map(|n| n.trail.clone()),
        account: name.as_ref().map(|n| n.account.clone()),
        region: name.map(|n| n.region),
        period: None,
        signature_verified: false,
        signature_source: None,
        log_files: Vec::new(),
        previous: None,
        restart: None,
        findings: Vec::new(),
        bytes_read: 0,
    };

    // 1. The digest itself.
    let (mut hashed, metadata) = match read_kept(store, at, version).await {
        Ok(Some(x)) => x,
        Ok(None) => {
            check.push(
                FindingKind::DigestMissing,
                &file,
                "the digest file no longer exists: it was deleted after CloudTrail delivered it",
            );
            return check;
        }
        Err(FetchError::Content(e)) => {
            check.push(
                FindingKind::DigestUnreadable,
                &file,
                format!(
                    "the digest file is not valid gzip content ({e}): it was replaced or corrupted"
                ),
            );
            return check;
        }
        Err(FetchError::Store(e)) => {
            check.push(FindingKind::CheckFailed, &file, e.to_string());
            return check;
        }
    };
    check.bytes_read += hashed.stored_bytes;
    let content = hashed.content.take().unwrap_or_default();
    let digest = match Digest::parse(&content) {
        Ok(d) => d,
        Err(e) => {
            check.push(
                FindingKind::DigestUnreadable,
                &file,
                format!("{e}: the digest file was replaced or corrupted"),
            );
            return check;
        }
    };
    drop(content);
    let stated_name = DigestName::parse(&digest.digest_s3_object);
    if let Some(n) = stated_name {
        check.trail = Some(n.trail);
        check.region = Some(n.region);
    }
    check.account = digest.aws_account_id.clone().or(check.account);
    check.period = Some((
        digest.digest_start_time.clone(),
        digest.digest_end_time.clone(),
    ));

    // 2. Where it sits.
    let stated = Location::new(&digest.digest_s3_bucket, &digest.digest_s3_object);
    let bucket_differs = !at.bucket.is_empty() && at.bucket != stated.bucket;
    if bucket_differs || at.key != stated.key {
        check.push(
            FindingKind::DigestMoved,
            &file,
            format!(
                "the digest says CloudTrail wrote it to {} but it was read from {}: it was copied or moved",
                stated.uri(),
                if at.bucket.is_empty() { at.key.clone() } else { at.uri() }
            ),
        );
    }

    // 3. Signature.
    check_signature(
        &mut check,
        keys,
        &digest,
        &hashed,
        &metadata,
        store.keeps_metadata(),
    )
    .await;

    // 4. Log files, LOG_FILE_READS at a time, each hashed while streaming; results in the
    //    digest's order.
    let reads: Vec<_> = digest
        .log_files
        .iter()
        .map(|entry| read_log_file(store, entry))
        .collect();
    {
        let mut reads = std::pin::pin!(futures_util::stream::iter(reads).buffered(LOG_FILE_READS));
        while let Some((entry, loc, hashed)) = reads.next().await {
            let lf_file = store.describe(&loc);
            let (status, reason) = match hashed {
                Ok(None) => {
                    check.push(
                        FindingKind::LogFileMissing,
                        &lf_file,
                        "listed in the digest but no longer exists: it was deleted",
                    );
                    (FileStatus::Missing, Some("not found".to_string()))
                }
                Ok(Some(got)) => {
                    check.bytes_read += got.stored_bytes;
                    if got.hex().eq_ignore_ascii_case(entry.hash_value.trim()) {
                        (FileStatus::Valid, None)
                    } else {
                        check.push(
                            FindingKind::LogFileModified,
                            &lf_file,
                            format!(
                                "content changed since delivery: SHA-256 is {}, the digest recorded {}",
                                got.hex(),
                                entry.hash_value
                            ),
                        );
                        (
                            FileStatus::Invalid,
                            Some("hash value doesn't match".to_string()),
                        )
                    }
                }
                Err(FetchError::Content(e)) => {
                    check.push(
                        FindingKind::LogFileUnreadable,
                        &lf_file,
                        format!("not valid gzip content ({e}): it was replaced or corrupted"),
                    );
                    (FileStatus::Invalid, Some(format!("not valid gzip: {e}")))
                }
                Err(FetchError::Store(e)) => {
                    check.push(FindingKind::CheckFailed, &lf_file, e.to_string());
                    (FileStatus::NotChecked, Some(e.reason))
                }
            };
            check.log_files.push(LogFileCheck {
                location: loc,
                file: lf_file,
                status,
                reason,
            });
        }
    }

    // 5. The chain.
    check_chain(&mut check, store, options, &digest).await;

    check.digest = Some(digest);
    check
}

/// Reads a listed log file, hashing it as it streams: its hash, `None` when it does not exist.
async fn read_log_file<'e, S: Store>(
    store: &S,
    entry: &'e LogFileEntry,
) -> (
    &'e LogFileEntry,
    Location,
    Result<Option<Hashed>, FetchError>,
) {
    let loc = Location::new(&entry.s3_bucket, &entry.s3_object);
    let mut h = ContentHasher::new();
    let hashed = match store.fetch(&loc, None, &mut h).await {
        Ok(Fetched::Found { .. }) => h.finish().map(Some).map_err(FetchError::Content),
        Ok(Fetched::NotFound) => Ok(None),
        Err(e) => Err(e),
    };
    (entry, loc, hashed)
}

async fn check_signature<K: KeySource>(
    check: &mut DigestCheck,
    keys: &K,
    digest: &Digest,
    hashed: &Hashed,
    metadata: &HashMap<String, String>,
    keeps_metadata: bool,
) {
    let file = check.file.clone();
    check.signature_source = metadata.get(SIGNATURE_SOURCE).cloned();
    for algo in [
        metadata.get("signature-algorithm"),
        digest.digest_signature_algorithm.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if !algo.trim().eq_ignore_ascii_case(SIGNATURE_ALGORITHM) {
            check.push(
                FindingKind::SignatureAlgorithmUnsupported,
                &file,
                format!("signature algorithm {algo:?} is not {SIGNATURE_ALGORITHM}, the only one CloudTrail uses"),
            );
            return;
        }
    }
    let Some(sig_hex) = metadata.get("signature").map(|s| s.trim()) else {
        if !keeps_metadata {
            check.push(
                FindingKind::CheckFailed,
                &file,
                format!("signature not available: no {file}.metadata.json sidecar (aws s3api head-object --query Metadata) and no later digest records it"),
            );
            return;
        }
        check.push(
            FindingKind::SignatureMissing,
            &file,
            "the object has no signature metadata (x-amz-meta-signature): CloudTrail always sets it, so the digest was rewritten",
        );
        return;
    };
    let Some(fingerprint) = digest.digest_public_key_fingerprint.as_deref() else {
        check.push(
            FindingKind::UnknownPublicKey,
            &file,
            "the digest names no public key (digestPublicKeyFingerprint is empty)",
        );
        return;
    };
    let (Ok(start), Ok(end)) = (digest.start(), digest.end()) else {
        return; // checked by Digest::parse
    };
    let region = check.region.clone().unwrap_or_default();
    let wanted = KeyWanted {
        region: &region,
        fingerprint,
        start,
        end,
    };
    let key = match keys.find_key(wanted).await {
        Ok(Some(k)) => k,
        Ok(None) => {
            check.push(
                FindingKind::UnknownPublicKey,
                &file,
                format!(
                    "no CloudTrail public key with fingerprint {fingerprint} exists for {} in {}: the digest was not signed by CloudTrail",
                    digest.digest_end_time,
                    if region.is_empty() { "its region" } else { &region }
                ),
            );
            return;
        }
        Err(e) => {
            check.push(FindingKind::CheckFailed, &file, e.to_string());
            return;
        }
    };
    let message = string_to_sign(digest, &hashed.hex());
    let verified = hex::decode(sig_hex)
        .map(|sig| key.verify(message.as_bytes(), &sig))
        .unwrap_or(false);
    if verified {
        check.signature_verified = true;
    } else {
        check.push(
            FindingKind::SignatureInvalid,
            &file,
            format!(
                "the signature does not verify with CloudTrail's public key {fingerprint}: the digest was edited or signed by someone else"
            ),
        );
    }
}

async fn check_chain<S: Store>(
    check: &mut DigestCheck,
    store: &S,
    options: &Options,
    digest: &Digest,
) {
    let file = check.file.clone();
    let name = file.rsplit(['/', '\\']).next().unwrap_or(&file).to_string();
    if digest.starts_chain() {
        return;
    }
    let (Some(obj), Some(expected_sig)) = (
        digest.previous_digest_s3_object.as_deref(),
        digest.previous_digest_signature.as_deref(),
    ) else {
        check.push(
            FindingKind::ChainBroken,
            &file,
            "the digest names a previous digest only partly (previousDigestS3Object or previousDigestSignature is null)",
        );
        return;
    };
    let bucket = digest
        .previous_digest_s3_bucket
        .clone()
        .unwrap_or_else(|| digest.digest_s3_bucket.clone());
    let prev_loc = Location::new(bucket, obj);
    let prev_file = store.describe(&prev_loc);
    check.previous = Some(prev_loc.clone());
    let (hashed, metadata) = match read_kept(store, &prev_loc, None).await {
        Ok(Some(x)) => x,
        Ok(None) => {
            check.push(
                FindingKind::PreviousDigestMissing,
                &prev_file,
                format!(
                    "{name} names it as the previous digest but it does not exist: it was deleted, and with it the proof for that hour's log files"
                ),
            );
            return;
        }
        Err(FetchError::Content(e)) => {
            check.push(
                FindingKind::PreviousDigestModified,
                &prev_file,
                format!("the previous digest is not valid gzip content ({e}): it was replaced"),
            );
            return;
        }
        Err(FetchError::Store(e)) => {
            check.push(FindingKind::CheckFailed, &prev_file, e.to_string());
            return;
        }
    };
    check.bytes_read += hashed.stored_bytes;
    match digest.previous_digest_hash_value.as_deref() {
        Some(want) if want.trim().eq_ignore_ascii_case(&hashed.hex()) => {}
        Some(want) => {
            check.push(
                FindingKind::PreviousDigestModified,
                &prev_file,
                format!(
                    "the previous digest changed: SHA-256 is {}, {name} recorded {want}",
                    hashed.hex()
                ),
            );
        }
        None => {
            check.push(
                FindingKind::ChainBroken,
                &file,
                "the digest names a previous digest but no previousDigestHashValue",
            );
        }
    }
    if let Some(actual) = metadata.get("signature") {
        if !actual.trim().eq_ignore_ascii_case(expected_sig.trim()) {
            check.push(
                FindingKind::PreviousDigestResigned,
                &prev_file,
                format!("the previous digest carries a different signature than the one {name} recorded: it was replaced"),
            );
        }
    }
    let content = hashed.content.as_deref().unwrap_or_default();
    let Ok(prev) = Digest::parse(content) else {
        if !check.has(FindingKind::PreviousDigestModified) {
            check.push(
                FindingKind::PreviousDigestModified,
                &prev_file,
                "the previous digest is not a CloudTrail digest",
            );
        }
        return;
    };
    let (Ok(prev_end), Ok(end)) = (prev.end(), digest.end()) else {
        return;
    };
    let minutes = (end - prev_end).num_minutes();
    if end < prev_end {
        check.push(
            FindingKind::ChainBroken,
            &file,
            format!(
                "the previous digest ends at {} after this one ({}): the chain is out of order",
                prev.digest_end_time, digest.digest_end_time
            ),
        );
    } else if minutes > i64::from(options.max_gap_minutes) {
        check.push(
            FindingKind::Gap,
            &file,
            format!(
                "{minutes} minutes passed between the previous digest (ending {}) and this one (ending {}); at most {} are expected: logging stopped or digests are missing",
                prev.digest_end_time, digest.digest_end_time, options.max_gap_minutes
            ),
        );
    }
}
