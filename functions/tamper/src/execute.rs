//! The AWS side of tamper: re-checking digest chains with log-integrity's code (read-only),
//! turning logging back on, and reading a trail's status.

use crate::decide::{FileKind, Step};
use crate::{Config, Tamper};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use log_integrity::check::{DigestCheck, FindingKind, Options};
use log_integrity::restart::day_prefix;
use log_integrity::store::{Location, S3Store, Store};
use log_integrity::LogIntegrity;
use serde::Serialize;
use trailwarden::alert::Status;
use trailwarden::aws::{CallError, RegionalClients};
use trailwarden::respond::{InitError, Job, Responder, StepResult};
use trailwarden::s3key::{classify, DigestKey, TrailObject, DIGEST_SEGMENT};

/// At most this many digests are read to find the ones listing a log file.
pub const MAX_CANDIDATE_DIGESTS: usize = 6;

/// How long after a log file is written the digest listing it arrives, at most.
pub const DIGEST_DELAY_HOURS: i64 = 2;

/// What re-checking one touched file found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recheck {
    /// The file (`s3://bucket/key`).
    pub file: String,
    pub kind: FileKind,
    /// The digests checked, with log-integrity's findings: for a digest, itself and the next
    /// digest of its chain; for a log file, the digests that list it.
    pub checks: Vec<DigestCheck>,
    /// For a digest: the next digest of its chain, when delivered already. For a log file:
    /// the digests that list it.
    pub related: Vec<String>,
}

impl Recheck {
    /// Every finding of every check, once.
    pub fn findings(&self) -> Vec<&log_integrity::Finding> {
        let mut out: Vec<&log_integrity::Finding> = Vec::new();
        for f in self.checks.iter().flat_map(|c| &c.findings) {
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }
}

/// A trail's status as `GetTrailStatus` answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailStatus {
    pub trail: String,
    pub is_logging: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_logging_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_logging_time: Option<String>,
}

/// What execution learnt.
#[derive(Debug, Default)]
pub struct Output {
    pub rechecks: Vec<Recheck>,
    /// Set by `ReadTrailStatus`.
    pub trail_status: Option<TrailStatus>,
    /// Set when `StartLogging` succeeded.
    pub restarted_at: Option<DateTime<Utc>>,
}

fn stamp(s: &str, format: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s, format)
        .ok()
        .map(|t| t.and_utc())
}

fn sdk_time(t: &aws_sdk_cloudtrail::primitives::DateTime) -> Option<String> {
    DateTime::<Utc>::from_timestamp(t.secs(), 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

impl Responder for Tamper {
    const NAME: &'static str = crate::NAME;

    async fn init(sdk: &aws_config::SdkConfig, config: &mut Config) -> Result<Self, InitError> {
        Ok(Tamper {
            integrity: Box::new(LogIntegrity::new(sdk, &config.integrity)),
            cloudtrail: Box::new(RegionalClients::new(sdk, aws_sdk_cloudtrail::Client::new)),
        })
    }

    async fn execute_step(&self, step: &Step, job: Job<'_, Self>) -> StepResult {
        let Job { config, output, .. } = job;
        match step {
            Step::RecheckDigest {
                bucket,
                key,
                region,
            }
            | Step::RecheckLogFile {
                bucket,
                key,
                region,
            } => {
                let recheck = Rechecker {
                    integrity: &self.integrity,
                    store: self.integrity.store(region.as_deref()),
                    options: config.integrity.options(),
                    bucket,
                };
                let r = if matches!(step, Step::RecheckDigest { .. }) {
                    recheck.digest(key).await
                } else {
                    recheck.log_file(key).await
                };
                finish(r, output)
            }
            Step::StartLogging { trail, region } => {
                let client = self.cloudtrail.get(region.as_deref());
                match client.start_logging().name(trail).send().await {
                    Ok(_) => {
                        let now = Utc::now();
                        output.restarted_at = Some(now);
                        tracing::warn!(trail = %trail, "logging turned back on after StopLogging");
                        StepResult::status(
                            Status::Done,
                            format!(
                                "logging turned back on at {}",
                                now.format("%Y-%m-%dT%H:%M:%SZ")
                            ),
                        )
                    }
                    Err(e) => StepResult::failed(
                        CallError::from_sdk(&e)
                            .context("cloudtrail:StartLogging")
                            .to_string(),
                    ),
                }
            }
            Step::ReadTrailStatus { trail, region } => {
                let client = self.cloudtrail.get(region.as_deref());
                match client.get_trail_status().name(trail).send().await {
                    Ok(s) => {
                        let status = TrailStatus {
                            trail: trail.clone(),
                            is_logging: s.is_logging(),
                            start_logging_time: s.start_logging_time().and_then(sdk_time),
                            stop_logging_time: s.stop_logging_time().and_then(sdk_time),
                        };
                        let logging = status.is_logging;
                        output.trail_status = Some(status);
                        match logging {
                            Some(true) => StepResult::status(Status::Done, "IsLogging: true"),
                            // After a restart that succeeded, still off: the restart did not take.
                            Some(false) if output.restarted_at.is_some() => {
                                StepResult::failed("IsLogging is still false after StartLogging")
                            }
                            _ => StepResult::status(Status::Done, "IsLogging: false"),
                        }
                    }
                    Err(e) => StepResult::failed(
                        CallError::from_sdk(&e)
                            .context("cloudtrail:GetTrailStatus")
                            .to_string(),
                    ),
                }
            }
        }
    }
}

/// Re-checks in one trail bucket, with log-integrity's checks and settings.
struct Rechecker<'a> {
    integrity: &'a LogIntegrity,
    /// The bucket, through a client of its region.
    store: S3Store,
    options: Options,
    bucket: &'a str,
}

impl Rechecker<'_> {
    /// log-integrity's check of the digest `key`.
    async fn check(&self, key: &str) -> DigestCheck {
        let at = Location::new(self.bucket, key);
        self.integrity
            .check(&self.store, &self.options, &at, None)
            .await
    }

    /// The digest itself (gone, or changed) and the next digest of its chain, which names it
    /// as its predecessor.
    async fn digest(&self, key: &str) -> Result<Recheck, String> {
        let mut checks = vec![self.check(key).await];
        let mut related = Vec::new();
        if let TrailObject::Digest(d) = classify(key) {
            if let Some(next) = successor(&self.store, self.bucket, &d).await? {
                related.push(Location::new(self.bucket, &next).uri());
                checks.push(self.check(&next).await);
            }
        }
        Ok(Recheck {
            file: Location::new(self.bucket, key).uri(),
            kind: FileKind::Digest,
            checks,
            related,
        })
    }

    /// The digests delivered after a log file (within [`DIGEST_DELAY_HOURS`]) that list it.
    async fn log_file(&self, key: &str) -> Result<Recheck, String> {
        let (store, bucket) = (&self.store, self.bucket);
        let file = Location::new(bucket, key).uri();
        let TrailObject::LogFile(lf) = classify(key) else {
            return Ok(Recheck {
                file,
                kind: FileKind::LogFile,
                checks: Vec::new(),
                related: Vec::new(),
            });
        };
        let Some(written) = stamp(&lf.name.timestamp, "%Y%m%dT%H%MZ") else {
            return Err(format!("{key}: the file name's time does not parse"));
        };
        let until = written + Duration::hours(DIGEST_DELAY_HOURS);
        let mut candidates: Vec<(DateTime<Utc>, String)> = Vec::new();
        let mut day = written.date_naive();
        while day <= until.date_naive() {
            let prefix = day_prefix(&lf.folder, DIGEST_SEGMENT, day);
            let keys = store
                .list(bucket, &prefix)
                .await
                .map_err(|e| e.to_string())?;
            for k in keys {
                let TrailObject::Digest(d) = classify(&k) else {
                    continue;
                };
                let Some(t) = stamp(&d.name.timestamp, "%Y%m%dT%H%M%SZ") else {
                    continue;
                };
                if t >= written && t <= until {
                    candidates.push((t, k));
                }
            }
            day += Duration::days(1);
        }
        candidates.sort();
        candidates.truncate(MAX_CANDIDATE_DIGESTS);
        let mut checks = Vec::new();
        let mut related = Vec::new();
        for (_, k) in candidates {
            let check = self.check(&k).await;
            if check.log_files.iter().any(|l| l.location.key == key) {
                related.push(Location::new(bucket, &k).uri());
                checks.push(check);
            }
        }
        Ok(Recheck {
            file,
            kind: FileKind::LogFile,
            checks,
            related,
        })
    }
}

/// The next digest of `d`'s chain in its folder (its day, and the next day), if delivered.
async fn successor(store: &S3Store, bucket: &str, d: &DigestKey) -> Result<Option<String>, String> {
    let Ok(day) = NaiveDate::parse_from_str(&d.folder.date, "%Y-%m-%d") else {
        return Ok(None);
    };
    for day in [day, day + Duration::days(1)] {
        let prefix = day_prefix(&d.folder, DIGEST_SEGMENT, day);
        let keys = store
            .list(bucket, &prefix)
            .await
            .map_err(|e| e.to_string())?;
        let next = keys
            .into_iter()
            .filter_map(|k| match classify(&k) {
                TrailObject::Digest(o)
                    if o.name.trail == d.name.trail
                        && o.name.home_region == d.name.home_region
                        && o.name.account == d.name.account
                        && o.name.region == d.name.region
                        && o.name.timestamp > d.name.timestamp =>
                {
                    Some((o.name.timestamp, k))
                }
                _ => None,
            })
            .min();
        if let Some((_, k)) = next {
            return Ok(Some(k));
        }
    }
    Ok(None)
}

/// Records a re-check; one that could not be completed fails the step (Lambda retries; the
/// alert still says what was found).
fn finish(r: Result<Recheck, String>, output: &mut Output) -> StepResult {
    match r {
        Err(e) => StepResult::failed(format!("re-check not done: {e}")),
        Ok(recheck) => {
            let incomplete = recheck
                .checks
                .iter()
                .flat_map(|c| &c.findings)
                .find(|f| f.kind == FindingKind::CheckFailed)
                .map(|f| format!("{}: {}", f.file, f.detail));
            let problems = recheck.findings().len();
            let checked = recheck.checks.len();
            output.rechecks.push(recheck);
            match incomplete {
                Some(why) => StepResult::failed(format!("not every check could be done: {why}")),
                None => StepResult::status(
                    Status::Done,
                    format!("{checked} digest(s) checked, {problems} problem(s) found"),
                ),
            }
        }
    }
}
