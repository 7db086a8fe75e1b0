//! `trailwarden scan s3://bucket/prefix/`: log files read straight from S3, several at once,
//! with progress and a position that a later run can resume from.
//!
//! Keys are listed in S3's order (lexicographic, which for CloudTrail's layout is account,
//! region, then time), log files are fetched `concurrency` at a time and scanned in that order
//! by one scanner, so the findings are those a scan of a local copy would give. With
//! `--resume-file`, the last key scanned is written after every file; a later run with the
//! same file and URI starts after it (its findings cover what it scanned: a threshold spanning
//! the interruption is counted in neither run).

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use trailwarden::aws::open_object;
use trailwarden::detect::Scanner;
use trailwarden::s3key::{classify_key, KeyKind};
use trailwarden::s3uri::S3Uri;

/// Where a resumable S3 scan got to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The `s3://bucket/prefix/` scanned.
    pub uri: String,
    /// The last key scanned (in S3's listing order).
    pub last_key: String,
    /// Files scanned by all runs so far.
    pub files: u64,
}

/// What one S3 scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    pub unreadable: u64,
    pub skipped_keys: u64,
    pub resumed_after: Option<String>,
}

/// Reads a resume file: `None` when it does not exist yet; an error when it names another
/// URI (a mix-up that would silently skip files).
pub fn read_position(path: &Path, uri: &str) -> Result<Option<Position>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let p: Position = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a trailwarden resume file", path.display()))?;
    if p.uri != uri {
        bail!(
            "{} records a scan of {}, not {uri}: use another --resume-file or delete it",
            path.display(),
            p.uri
        );
    }
    Ok(Some(p))
}

fn write_position(path: &Path, p: &Position) -> Result<()> {
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

/// An object being fetched: its key, its size and the task reading its body.
type Fetch = (String, i64, JoinHandle<Result<Vec<u8>, String>>);

/// Scans every log file under `uri` into `scanner`.
pub async fn scan(
    scanner: &mut Scanner<'_>,
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
    concurrency: usize,
    resume: Option<&PathBuf>,
    show_progress: bool,
) -> Result<Summary> {
    let label = uri.to_string();
    let position = match resume {
        Some(p) => read_position(p, &label)?,
        None => None,
    };
    let mut summary = Summary {
        resumed_after: position.as_ref().map(|p| p.last_key.clone()),
        ..Default::default()
    };
    let start_after = position.as_ref().map(|p| p.last_key.clone());
    let keys = list(s3, uri, start_after).await?;
    let (keys, skipped): (Vec<_>, Vec<_>) = keys.into_iter().partition(|(k, _)| wanted(k));
    summary.skipped_keys = skipped.len() as u64;
    let total_bytes: i64 = keys.iter().map(|(_, size)| *size).sum();
    let progress = show_progress && std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut drawn = Instant::now() - Duration::from_secs(1);
    let mut done_bytes = 0i64;
    let mut files_before = position.as_ref().map_or(0, |p| p.files);

    // Fetch up to `concurrency` objects ahead, scan them in listing order.
    let mut pending: VecDeque<Fetch> = VecDeque::new();
    let mut next = keys.into_iter();
    let total = next.len();
    loop {
        while pending.len() < concurrency.max(1) {
            let Some((key, size)) = next.next() else {
                break;
            };
            let client = s3.clone();
            let object = S3Uri::from_parts(&uri.bucket, &key);
            let handle = tokio::spawn(async move {
                let mut body = open_object(&client, &object, None)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut bytes = Vec::with_capacity(body.content_length.unwrap_or(0) as usize);
                while let Some(chunk) = body.next_chunk().await.map_err(|e| e.to_string())? {
                    bytes.extend_from_slice(&chunk);
                }
                Ok(bytes)
            });
            pending.push_back((key, size, handle));
        }
        let Some((key, size, handle)) = pending.pop_front() else {
            break;
        };
        let name = format!("s3://{}/{key}", uri.bucket);
        let fetched = handle.await.map_err(|e| anyhow!("fetching {name}: {e}"))?;
        match fetched {
            Ok(bytes) => {
                if let Err(e) = scanner.scan_reader(&name, std::io::Cursor::new(bytes)) {
                    summary.unreadable += 1;
                    clear(progress);
                    eprintln!("warning: {e}");
                }
            }
            Err(e) => {
                summary.unreadable += 1;
                clear(progress);
                eprintln!("warning: {name}: cannot read: {e}");
            }
        }
        summary.files += 1;
        done_bytes += size;
        files_before += 1;
        if let Some(path) = resume {
            write_position(
                path,
                &Position {
                    uri: label.clone(),
                    last_key: key.clone(),
                    files: files_before,
                },
            )?;
        }
        if progress && drawn.elapsed() >= Duration::from_millis(200) {
            drawn = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(0.001);
            eprint!(
                "\r\x1b[K[{:>3}%] file {}/{}  {:.1}/{:.1} MB  {:.1} MB/s  {}",
                (done_bytes * 100).checked_div(total_bytes).unwrap_or(100),
                summary.files,
                total,
                done_bytes as f64 / 1e6,
                total_bytes as f64 / 1e6,
                done_bytes as f64 / 1e6 / secs,
                key.rsplit('/').next().unwrap_or(&key)
            );
        }
    }
    clear(progress);
    Ok(summary)
}

fn clear(progress: bool) {
    if progress {
        eprint!("\r\x1b[K");
    }
}

/// Every key under the prefix (after `start_after`), with its size.
async fn list(
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
    start_after: Option<String>,
) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = s3
            .list_objects_v2()
            .bucket(&uri.bucket)
            .prefix(&uri.key)
            .set_start_after(if token.is_none() {
                start_after.clone()
            } else {
                None
            })
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "listing {uri}: {}",
                    trailwarden::aws::CallError::from_sdk(&e).context("s3:ListBucket")
                )
            })?;
        out.extend(
            resp.contents()
                .iter()
                .filter_map(|o| Some((o.key()?.to_string(), o.size().unwrap_or(0)))),
        );
        match resp.next_continuation_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(out)
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
        assert_eq!(read_position(&path, "s3://a/b/").unwrap(), None);
        let p = Position {
            uri: "s3://a/b/".into(),
            last_key: "b/k1.json.gz".into(),
            files: 3,
        };
        write_position(&path, &p).unwrap();
        assert_eq!(read_position(&path, "s3://a/b/").unwrap(), Some(p));
        let e = read_position(&path, "s3://a/c/").unwrap_err().to_string();
        assert!(e.contains("records a scan of s3://a/b/"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
