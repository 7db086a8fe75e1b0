//! `trailwarden scan s3://bucket/prefix/` (or `s3://bucket/key.json.gz`, one object): log
//! files read straight from S3, several at once, with progress and a position that a later
//! run can resume from.
//!
//! Keys are listed page by page in S3's order (lexicographic, which for CloudTrail's layout is
//! account, region, then time) and scanned in that order by one scanner, so the findings are
//! those a scan of a local copy would give; scanning starts with the first page, while the rest
//! of a prefix holding millions of keys is still being listed. Up to `concurrency` log files
//! are read ahead in the background, each whole if it is no larger than its share of the
//! read-ahead budget (`read_ahead_bytes / concurrency`); a larger one is streamed through the
//! scanner when its turn comes, so memory stays within the budget whatever lies under the
//! prefix. A read that fails for a retryable reason (throttling, a cut connection) is tried
//! again.
//!
//! Nothing is passed over silently. With `--resume-file`, the last key scanned is written
//! after every file; a later run with the same file and URI starts after it (its findings cover
//! what it scanned: a threshold spanning the interruption is counted in neither run). An object
//! that cannot be read (access denied, a KMS key the caller may not use, a listing that fails
//! half-way) stops the scan there: what was scanned is reported, the position stays before
//! that object, and the command exits 1, so that the same command, once the cause is fixed,
//! continues from it (with `skip_unreadable`, such an object is named and passed instead). A
//! log file that is not a log file (not gzip, not JSON) is reported and
//! passed (reading it again would not change it), and so is one deleted after it was listed.
//! Objects in S3 Glacier Flexible Retrieval or Deep Archive cannot be read until restored:
//! they are counted and named, not fetched.

use crate::status::StatusLine;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use trailwarden::aws::{open_object, read_object, Backoff, ErrorKind, Listed, Listing};
use trailwarden::detect::Scanner;
use trailwarden::s3key::{classify_key, KeyKind, LOG_SEGMENT};
use trailwarden::s3uri::S3Uri;

/// Default read-ahead budget (`--read-ahead-mib`).
pub const DEFAULT_READ_AHEAD_MIB: u32 = 32;

/// Attempts at reading one object whole (the SDK's own retries of each request come on top).
const FETCH_ATTEMPTS: u32 = 3;

/// Where a resumable S3 scan (or validation) got to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// `scan` or `validate`: the command the position belongs to.
    #[serde(default = "scan_command")]
    pub command: String,
    /// The `s3://bucket/prefix/` scanned.
    pub uri: String,
    /// The last key scanned (log file) or checked (digest), in S3's listing order.
    pub last_key: String,
    /// Files scanned (digests checked) by all runs so far.
    pub files: u64,
}

fn scan_command() -> String {
    "scan".into()
}

/// What one S3 scan did (in `--format json` output, the `s3` list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The `s3://bucket/prefix/` scanned.
    pub uri: String,
    /// Log files scanned, or passed as unreadable.
    pub files: u64,
    /// Log files that could not be scanned (not gzip or JSON, deleted after listing), the
    /// archived ones, and the one the scan stopped at.
    pub unreadable: u64,
    /// Objects listed under the prefix that are not log files (digests, Insights files,
    /// others). An account's digest and Insights folders are jumped over once the listing
    /// reaches them, so most of their keys are never listed (nor counted).
    pub skipped_keys: u64,
    /// Log files in an archive storage class, not read.
    pub archived: Vec<String>,
    /// Where and why the scan stopped (the position was left before it).
    pub stopped: Option<Stop>,
    /// Log files streamed (larger than their share of the read-ahead budget).
    pub streamed: u64,
    pub resumed_after: Option<String>,
}

impl std::fmt::Display for Summary {
    /// One line: what was read, streamed, skipped, passed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} log file(s) read", self.uri, self.files)?;
        if self.streamed > 0 {
            write!(f, ", {} streamed", self.streamed)?;
        }
        if let Some(k) = &self.resumed_after {
            write!(f, ", resuming after {k}")?;
        }
        if self.skipped_keys > 0 {
            write!(f, ", {} other object(s) skipped", self.skipped_keys)?;
        }
        if let Some(first) = self.archived.first() {
            write!(
                f,
                ", {} archived log file(s) not read (first: {first})",
                self.archived.len()
            )?;
        }
        Ok(())
    }
}

/// Reads a resume file: `None` when it does not exist yet; an error when it names another
/// URI or belongs to the other command (a mix-up that would silently skip files).
pub fn read_position(path: &Path, command: &str, uri: &str) -> Result<Option<Position>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let p: Position = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a trailwarden resume file", path.display()))?;
    if p.uri != uri || p.command != command {
        bail!(
            "{} records a {} of {}, not a {command} of {uri}: use another --resume-file or delete it",
            path.display(),
            p.command,
            p.uri
        );
    }
    Ok(Some(p))
}

/// Writes a resume file (whole, or not at all: written aside, then renamed).
pub fn write_position(path: &Path, p: &Position) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(p)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// True for the keys a scan reads: CloudTrail log files (not digests, not Insight files), and
/// any other `.json.gz`/`.json` object under the prefix when the layout is not CloudTrail's.
fn wanted(key: &str) -> bool {
    match classify_key(key) {
        KeyKind::LogFile { .. } => true,
        KeyKind::Digest | KeyKind::Insight => false,
        _ => (key.ends_with(".json.gz") || key.ends_with(".json")) && !key.contains("/CloudTrail-"),
    }
}

/// How one listed log file is being read.
enum Mode {
    /// Whole, in the background.
    Whole(JoinHandle<Fetched>),
    /// Streamed through the scanner when its turn comes (larger than its read-ahead share).
    Stream,
}

/// One log file in the read-ahead queue.
struct Pending {
    key: String,
    size: u64,
    mode: Mode,
}

/// What reading an object whole gave.
enum Fetched {
    Whole(Vec<u8>),
    /// Larger than the share it was to fit in (it grew after it was listed): to be streamed.
    TooLarge,
    Unreadable(Done),
}

/// What became of one log file.
enum Done {
    Scanned,
    /// Not scanned, nor would it be on a later try: not a log file, deleted after it was
    /// listed, archived.
    Passed {
        warning: String,
        archived: bool,
    },
    /// Could not be read: the scan stops here.
    Stop(String),
}

/// Where and why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stop {
    /// The key that could not be read (`None`: the listing failed).
    pub key: Option<String>,
    pub reason: String,
}

/// Reads `object` whole, at most `max` bytes, trying again after a retryable failure.
async fn fetch(s3: aws_sdk_s3::Client, object: S3Uri, max: usize) -> Fetched {
    // The project's backoff (250 ms, doubling); the attempts, not the window, bound it.
    let mut backoff = Backoff::new(Duration::from_secs(60));
    let mut attempt = 1;
    loop {
        match read_object(&s3, &object, max).await {
            Ok(bytes) => return Fetched::Whole(bytes),
            Err(e) if e.kind == ErrorKind::TooLarge => return Fetched::TooLarge,
            Err(e) if e.is_retryable() && attempt < FETCH_ATTEMPTS && backoff.wait().await => {
                attempt += 1;
            }
            Err(e) => return Fetched::Unreadable(unreadable(&object, e)),
        }
    }
}

/// Sorts a failed read: passed (gone, archived) or a reason to stop (with the permission to
/// add, for a denied read).
fn unreadable(object: &S3Uri, e: trailwarden::aws::CallError) -> Done {
    if e.is_not_found() {
        Done::Passed {
            warning: format!("{object} was deleted after it was listed"),
            archived: false,
        }
    } else if e.is("InvalidObjectState") {
        Done::Passed {
            warning: format!(
                "{object} is archived (S3 Glacier Flexible Retrieval, Deep Archive or an archive tier) and not restored: restore it to scan it"
            ),
            archived: true,
        }
    } else if e.code.as_deref().is_some_and(|c| c.starts_with("KMS.")) || e.message.contains("kms:")
    {
        Done::Stop(format!(
            "{e}\n  it is SSE-KMS encrypted: the credentials in use need kms:Decrypt on its key, \
             and the key's policy must allow them"
        ))
    } else if e.is_access_denied() {
        Done::Stop(format!(
            "{e}\n  the credentials in use need s3:GetObject on it (for a bucket in another \
             account, its bucket policy must allow them too)"
        ))
    } else {
        Done::Stop(e.to_string())
    }
}

/// Streams `object` through the scanner.
async fn stream(
    scanner: &mut Scanner<'_>,
    s3: &aws_sdk_s3::Client,
    object: &S3Uri,
    name: &str,
) -> Done {
    let body = match open_object(s3, object, None).await {
        Ok(b) => b,
        Err(e) => return unreadable(object, e),
    };
    // The scanner reads on this thread, the body's pieces arrive on the runtime's workers.
    let cut = Arc::new(AtomicBool::new(false));
    let reader = Watched {
        inner: body.into_blocking_reader(),
        failed: cut.clone(),
    };
    let scanned = tokio::task::block_in_place(|| scanner.scan_reader(name, reader));
    match scanned {
        Ok(_) => Done::Scanned,
        // The connection failed, not the content: the file was not read to its end.
        Err(e) if cut.load(Ordering::Relaxed) => Done::Stop(format!(
            "reading it failed part-way ({e}); the findings of its first part are in this report"
        )),
        Err(e) => Done::Passed {
            warning: e.to_string(),
            archived: false,
        },
    }
}

/// A reader that remembers whether it failed (an S3 body cut part-way), so that a read
/// error is told from a file that is not a log file.
struct Watched<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| {
            self.failed.store(true, Ordering::Relaxed);
        })
    }
}

/// How the scan reads: objects fetched at once, and the read-ahead budget they share.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub concurrency: usize,
    /// Bytes of log files held in memory ahead of the scanner, at most; 0 streams every
    /// file.
    pub read_ahead_bytes: u64,
    /// Pass an object that cannot be read (named and counted) instead of stopping at it: for
    /// an object nobody can fix, which would otherwise stop every run at the same place.
    pub skip_unreadable: bool,
}

impl Reading {
    /// The largest log file read whole: an equal share of the budget for each of the
    /// `concurrency` files read ahead.
    fn share(&self) -> u64 {
        self.read_ahead_bytes / self.concurrency.max(1) as u64
    }
}

/// The listing as a queue of wanted keys, fetched a page at a time as it drains.
struct Keys {
    listing: Listing,
    /// The one key wanted, when the location names an object.
    exact: Option<String>,
    queue: VecDeque<Listed>,
    listed: u64,
    listed_bytes: u64,
    complete: bool,
}

impl Keys {
    async fn next(
        &mut self,
        summary: &mut Summary,
    ) -> Result<Option<Listed>, trailwarden::aws::CallError> {
        while self.queue.is_empty() && !self.complete {
            let passed_over = self.listing.passed_over();
            let page = self.listing.next_page().await?;
            summary.skipped_keys += self.listing.passed_over() - passed_over;
            match page {
                Some(page) => {
                    for o in page {
                        if self.exact.as_ref().is_some_and(|k| *k != o.key) {
                            // Named one object: keys that merely start with its key are not it.
                            continue;
                        }
                        if wanted(&o.key) {
                            self.listed += 1;
                            self.listed_bytes += o.size;
                            self.queue.push_back(o);
                        } else {
                            summary.skipped_keys += 1;
                        }
                    }
                }
                None => self.complete = true,
            }
        }
        Ok(self.queue.pop_front())
    }
}

/// Scans every log file under `uri` into `scanner`.
pub async fn scan(
    scanner: &mut Scanner<'_>,
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
    reading: Reading,
    resume: Option<&PathBuf>,
    show_progress: bool,
) -> Result<Summary> {
    let label = uri.to_string();
    let position = match resume {
        Some(p) => read_position(p, "scan", &label)?,
        None => None,
    };
    let mut summary = Summary {
        uri: label.clone(),
        resumed_after: position.as_ref().map(|p| p.last_key.clone()),
        ..Default::default()
    };
    let mut keys = Keys {
        listing: Listing::new(s3, uri, position.as_ref().map(|p| p.last_key.clone()))
            .within(LOG_SEGMENT),
        exact: (!uri.is_prefix()).then(|| uri.key.clone()),
        queue: VecDeque::new(),
        listed: 0,
        listed_bytes: 0,
        complete: false,
    };
    // A listing refused from the start (no such bucket, no s3:ListBucket) is the command's
    // error; later on, it stops the scan like an unreadable object.
    let mut first = keys
        .next(&mut summary)
        .await
        .with_context(|| format!("listing {uri}"))?;
    if keys.exact.is_some() && first.is_none() && summary.skipped_keys == 0 {
        bail!("{uri}: no such object");
    }
    let mut line = StatusLine::new(show_progress);
    let started = Instant::now();
    let mut done_bytes = 0u64;
    let mut files_before = position.as_ref().map_or(0, |p| p.files);
    let share = reading.share();

    let mut pending: VecDeque<Pending> = VecDeque::new();
    loop {
        while pending.len() < reading.concurrency.max(1) && summary.stopped.is_none() {
            let next = match first.take() {
                Some(o) => Some(o),
                None => keys.next(&mut summary).await.unwrap_or_else(|e| {
                    // What is already being read is scanned; the position stays after it.
                    summary.stopped = Some(Stop {
                        key: None,
                        reason: e.to_string(),
                    });
                    None
                }),
            };
            let Some(o) = next else { break };
            let mode = if o.size <= share {
                let object = S3Uri::from_parts(&uri.bucket, &o.key);
                Mode::Whole(tokio::spawn(fetch(s3.clone(), object, share as usize)))
            } else {
                Mode::Stream
            };
            pending.push_back(Pending {
                key: o.key,
                size: o.size,
                mode,
            });
        }
        let Some(Pending { key, size, mode }) = pending.pop_front() else {
            break;
        };
        let object = S3Uri::from_parts(&uri.bucket, &key);
        let name = object.to_string();
        let fetched = match mode {
            Mode::Whole(handle) => handle
                .await
                .unwrap_or_else(|e| Fetched::Unreadable(Done::Stop(e.to_string()))),
            Mode::Stream => Fetched::TooLarge,
        };
        let done = match fetched {
            Fetched::Whole(bytes) => {
                match scanner.scan_reader(&name, std::io::Cursor::new(bytes)) {
                    Ok(_) => Done::Scanned,
                    Err(e) => Done::Passed {
                        warning: e.to_string(),
                        archived: false,
                    },
                }
            }
            Fetched::TooLarge => {
                summary.streamed += 1;
                stream(scanner, s3, &object, &name).await
            }
            Fetched::Unreadable(done) => done,
        };
        match done {
            Done::Scanned => {}
            Done::Passed { warning, archived } => {
                if archived {
                    summary.archived.push(key.clone());
                }
                summary.unreadable += 1;
                line.clear();
                eprintln!("warning: {warning}");
            }
            Done::Stop(reason) if reading.skip_unreadable => {
                summary.unreadable += 1;
                line.clear();
                eprintln!("warning: {name} not read (--skip-unreadable): {reason}");
            }
            Done::Stop(reason) => {
                summary.stopped = Some(Stop {
                    key: Some(name),
                    reason,
                });
                break;
            }
        }
        summary.files += 1;
        done_bytes += size;
        files_before += 1;
        if let Some(path) = resume {
            write_position(
                path,
                &Position {
                    command: scan_command(),
                    uri: label.clone(),
                    last_key: key.clone(),
                    files: files_before,
                },
            )?;
        }
        line.draw(false, || {
            let secs = started.elapsed().as_secs_f64().max(0.001);
            let of = if keys.complete {
                format!("{}", keys.listed)
            } else {
                format!("{}+ (listing)", keys.listed)
            };
            format!(
                "[{:>3}%] file {} of {of}  {:.1}/{:.1} MB  {:.1} MB/s  {}",
                (done_bytes * 100)
                    .checked_div(keys.listed_bytes)
                    .unwrap_or(100),
                summary.files,
                done_bytes as f64 / 1e6,
                keys.listed_bytes as f64 / 1e6,
                done_bytes as f64 / 1e6 / secs,
                key.rsplit('/').next().unwrap_or(&key)
            )
        });
    }
    // Reads ahead of a stop are abandoned.
    for p in pending {
        if let Mode::Whole(handle) = p.mode {
            handle.abort();
        }
    }
    line.clear();
    if let Some(stop) = &summary.stopped {
        summary.unreadable += 1;
        let at = match &stop.key {
            Some(k) => format!("at {k}"),
            None => "listing".to_string(),
        };
        let again = match resume {
            Some(p) => format!(
                "run the same command again (--resume-file {}) to continue from there",
                p.display()
            ),
            None => "run it again with --resume-file to be able to continue from there".to_string(),
        };
        eprintln!(
            "error: the scan stopped {at}:\n  {}\n  fix the cause and {again}",
            stop.reason
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_log_files_are_scanned() {
        let base = "AWSLogs/123456789012";
        assert!(wanted(&format!(
            "{base}/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1205Z_abc.json.gz"
        )));
        assert!(!wanted(&format!(
            "{base}/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_trail_us-east-1_20240514T120502Z.json.gz"
        )));
        assert!(!wanted(&format!(
            "{base}/CloudTrail-Insight/us-east-1/2024/05/14/123456789012_CloudTrail-Insight_us-east-1_20240514T1205Z_abc.json.gz"
        )));
        assert!(wanted("exports/2024/batch-1.json.gz"));
        assert!(!wanted("exports/readme.txt"));
    }

    #[test]
    fn a_resume_file_for_another_uri_is_refused() {
        let dir = std::env::temp_dir().join(format!("tw-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pos.json");
        assert_eq!(read_position(&path, "scan", "s3://a/b/").unwrap(), None);
        let p = Position {
            command: "scan".into(),
            uri: "s3://a/b/".into(),
            last_key: "b/k1.json.gz".into(),
            files: 3,
        };
        write_position(&path, &p).unwrap();
        assert_eq!(read_position(&path, "scan", "s3://a/b/").unwrap(), Some(p));
        let e = read_position(&path, "scan", "s3://a/c/")
            .unwrap_err()
            .to_string();
        assert!(e.contains("records a scan of s3://a/b/"), "{e}");
        // A scan's position is not a validation's.
        let e = read_position(&path, "validate", "s3://a/b/")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a validate of"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
