//! Digest chains that restart.
//!
//! After `StopLogging` and `StartLogging` (or turning log file validation off and on again),
//! CloudTrail starts a new digest chain: the first digest after the restart has
//! `previousDigestS3Bucket`, `previousDigestS3Object`, `previousDigestHashValue`,
//! `previousDigestHashAlgorithm` and `previousDigestSignature` all `null`, exactly like the
//! very first digest of a trail, and its signature covers the literal `null`. Nothing in the
//! digest says how long logging was off, or that the last digests before the stop were
//! deleted, so a restart on its own looks valid.
//!
//! For a digest that starts a chain this module lists the trail's digest folder for the same
//! account and region, from the digest's day back [`Options::restart_lookback_days`] days,
//! newest day first, for the most recent earlier digest of the same trail (same name and home
//! region). None found: the trail's first digest (or one older than the look-back). One found:
//! the chain restarted, and
//!
//! - the gap runs from that digest's `digestEndTime` to this digest's `digestStartTime`:
//!   logging was off, or digests were deleted, in between ([`FindingKind::ChainRestarted`],
//!   the UTC hours concerned listed in [`Restart::missing_hours`]);
//! - the earlier digest is checked again (signature, log files, its own link back), so that
//!   log files or digests deleted before the restart are reported by name;
//! - the log file folders of the gap are listed: a log file CloudTrail wrote during the gap
//!   that no digest lists means logging was on then, so the digests covering it were deleted
//!   ([`FindingKind::UndigestedLogFile`]). Log file names do not say which trail wrote them,
//!   so the digests other trails wrote to the same folders during the gap are read and the
//!   log files they list are left out.

use crate::check::{check_one, read_kept, DigestCheck, FindingKind, Options};
use crate::digest::{Digest, DIGEST_SEGMENT, LOG_SEGMENT};
use crate::keys::KeySource;
use crate::store::{Location, Store};
use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use trailwarden::s3key::{classify, DigestKey, DigestName, TrailFolder, TrailObject};

/// At most this many digests of other trails (sharing the folders) are read to learn which
/// log files of the gap are theirs.
pub const MAX_OTHER_DIGESTS: usize = 200;

/// At most this many log files of a gap are named one by one.
pub const MAX_NAMED_LOG_FILES: usize = 50;

/// What a restarted chain leaves: the earlier digest, the gap and what was found in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restart {
    /// The most recent earlier digest of the same trail and region.
    pub previous: Location,
    /// Its `digestEndTime` (its name's time when it could not be read).
    pub gap_from: DateTime<Utc>,
    /// This digest's `digestStartTime`.
    pub gap_to: DateTime<Utc>,
    /// The UTC hours (their starts) that the gap touches, oldest first.
    pub missing_hours: Vec<DateTime<Utc>>,
    /// Log files written during the gap that no digest lists (at most
    /// [`MAX_NAMED_LOG_FILES`]).
    pub undigested_log_files: Vec<String>,
    /// How many there were in all.
    pub undigested_count: usize,
    /// Problems found when checking the earlier digest again (they are also among the
    /// check's findings).
    pub previous_problems: usize,
}

impl Restart {
    /// Whole minutes between the end of the earlier digest and the start of this one (0 when
    /// they touch or overlap).
    pub fn gap_minutes(&self) -> i64 {
        (self.gap_to - self.gap_from).num_minutes().max(0)
    }
}

/// The UTC hours `[h, h+1)` that overlap the open interval `(from, to)`, at most a week.
pub fn hours_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    if from >= to {
        return out;
    }
    let Ok(mut h) = from.duration_trunc(Duration::hours(1)) else {
        return out;
    };
    while h < to && out.len() < 7 * 24 {
        if h + Duration::hours(1) > from {
            out.push(h);
        }
        h += Duration::hours(1);
    }
    out
}

/// The digest key `key` is, when it is a well-formed one.
fn digest_key(key: &str) -> Option<DigestKey> {
    match classify(key) {
        TrailObject::Digest(k) => Some(k),
        _ => None,
    }
}

/// When a log file was written (its name's time, to the minute), when `key` is one.
fn log_file_time(key: &str) -> Option<DateTime<Utc>> {
    match classify(key) {
        TrailObject::LogFile(l) => stamp(&l.name.timestamp, "%Y%m%dT%H%MZ"),
        _ => None,
    }
}

/// A digest name's time (the end of its period, to the second).
fn digest_time(name: &DigestName) -> Option<DateTime<Utc>> {
    stamp(&name.timestamp, "%Y%m%dT%H%M%SZ")
}

fn stamp(s: &str, format: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(s, format)
        .ok()
        .map(|t| t.and_utc())
}

/// Same account, region, trail and home region: the same chain.
fn same_chain(a: &DigestName, b: &DigestName) -> bool {
    a.account == b.account
        && a.region == b.region
        && a.trail == b.trail
        && a.home_region == b.home_region
}

/// The folder of the same account and region for `service` (`CloudTrail-Digest` or
/// `CloudTrail`) on `date`, with its trailing `/`: what to list.
pub fn day_prefix(folder: &TrailFolder, service: &str, date: NaiveDate) -> String {
    let mut s = String::new();
    if !folder.prefix.is_empty() {
        s.push_str(&folder.prefix);
        s.push('/');
    }
    s.push_str("AWSLogs/");
    if let Some(org) = &folder.organization {
        s.push_str(org);
        s.push('/');
    }
    s.push_str(&format!(
        "{}/{service}/{}/{}/",
        folder.account,
        folder.region,
        date.format("%Y/%m/%d")
    ));
    s
}

/// Looks for the chain before `check`'s digest (which starts a chain) and records a restart
/// in `check` when there was one.
pub(crate) async fn look_for_restart<S: Store, K: KeySource>(
    check: &mut DigestCheck,
    store: &S,
    keys: &K,
    options: &Options,
) {
    let Some(digest) = check.digest.clone() else {
        return;
    };
    let Ok(gap_to) = digest.start() else { return };
    let at = check.location.clone();
    let file = check.file.clone();
    // Where CloudTrail wrote it (a copy elsewhere is reported as moved, and its place says
    // nothing about the chain).
    let Some(key) = digest_key(&digest.digest_s3_object) else {
        return;
    };
    let (Some(this_time), Ok(this_day)) = (
        digest_time(&key.name),
        NaiveDate::parse_from_str(&key.folder.date, "%Y-%m-%d"),
    ) else {
        return;
    };

    // 1. The most recent earlier digest of the same trail, newest day first.
    let mut listed_days: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    let mut previous: Option<(String, DateTime<Utc>)> = None;
    for back in 0..=options.restart_lookback_days {
        let day = this_day - Duration::days(i64::from(back));
        let prefix = day_prefix(&key.folder, DIGEST_SEGMENT, day);
        let listed = match store.list(&at.bucket, &prefix).await {
            Ok(l) => l,
            Err(e) => {
                check.push(
                    FindingKind::CheckFailed,
                    &file,
                    format!("this digest starts a new chain, but the earlier digests could not be listed to see whether logging was interrupted: {e}"),
                );
                return;
            }
        };
        previous = listed
            .iter()
            .filter_map(|k| {
                let d = digest_key(k)?;
                let t = digest_time(&d.name)?;
                (same_chain(&d.name, &key.name) && t < this_time).then(|| (k.clone(), t))
            })
            .max_by_key(|(_, t)| *t);
        listed_days.insert(day, listed);
        if previous.is_some() {
            break;
        }
    }
    let Some((prev_key, prev_name_time)) = previous else {
        tracing::info!(digest = %file, days = options.restart_lookback_days, "first digest of the trail (no earlier digest within the look-back)");
        return;
    };
    let prev_loc = Location::new(&at.bucket, &prev_key);

    // 2. The earlier digest, checked again: its end time, and what happened to it.
    let prev_check = check_one(store, keys, options, &prev_loc, None).await;
    check.bytes_read += prev_check.bytes_read;
    let previous_problems = prev_check.findings.len();
    let gap_from = prev_check
        .digest
        .as_ref()
        .and_then(|d| d.end().ok())
        .unwrap_or(prev_name_time);
    let mut covered: BTreeSet<String> = digest
        .log_files
        .iter()
        .map(|l| l.s3_object.clone())
        .collect();
    if let Some(p) = &prev_check.digest {
        covered.extend(p.log_files.iter().map(|l| l.s3_object.clone()));
    }
    let prev_file = prev_check.file.clone();
    check.findings.extend(prev_check.findings);

    let missing_hours = hours_between(gap_from, gap_to);
    let minutes = (gap_to - gap_from).num_minutes().max(0);
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    check.push(
        FindingKind::ChainRestarted,
        &file,
        format!(
            "this digest starts a new chain, but {prev_file} (ending {}) is an earlier digest of the same trail: logging was off or digests were deleted between {} and {} ({minutes} minutes)",
            fmt(gap_from),
            fmt(gap_from),
            fmt(gap_to),
        ),
    );

    // 3. Log files written during the gap that no digest lists. Other trails may write log
    //    files to the same folders: what their digests of the time list is not counted.
    let mut undigested = Vec::new();
    if gap_to > gap_from {
        let mut others_read = 0;
        let mut day = gap_from.date_naive();
        while day <= gap_to.date_naive() && others_read < MAX_OTHER_DIGESTS {
            if let std::collections::btree_map::Entry::Vacant(slot) = listed_days.entry(day) {
                match store
                    .list(&at.bucket, &day_prefix(&key.folder, DIGEST_SEGMENT, day))
                    .await
                {
                    Ok(l) => {
                        slot.insert(l);
                    }
                    Err(e) => check.push(
                        FindingKind::CheckFailed,
                        &file,
                        format!("the other trails' digests of the gap could not be listed: {e}"),
                    ),
                }
            }
            for k in listed_days.get(&day).into_iter().flatten() {
                let Some(d) = digest_key(k) else {
                    continue;
                };
                let Some(t) = digest_time(&d.name) else {
                    continue;
                };
                if same_chain(&d.name, &key.name)
                    || t <= gap_from
                    || t > gap_to + Duration::hours(2)
                    || others_read >= MAX_OTHER_DIGESTS
                {
                    continue;
                }
                others_read += 1;
                if let Ok(Some((h, _))) =
                    read_kept(store, &Location::new(&at.bucket, k), None).await
                {
                    check.bytes_read += h.stored_bytes;
                    if let Ok(other) = Digest::parse(h.content.as_deref().unwrap_or_default()) {
                        covered.extend(other.log_files.into_iter().map(|l| l.s3_object));
                    }
                }
            }
            day += Duration::days(1);
        }
        let mut day = gap_from.date_naive();
        let last = gap_to.date_naive().min(
            gap_from.date_naive() + Duration::days(i64::from(options.restart_lookback_days) + 1),
        );
        while day <= last {
            let prefix = day_prefix(&key.folder, LOG_SEGMENT, day);
            match store.list(&at.bucket, &prefix).await {
                Ok(listed) => undigested.extend(listed.into_iter().filter(|k| {
                    log_file_time(k).is_some_and(|t| t > gap_from && t < gap_to)
                        && !covered.contains(k)
                })),
                Err(e) => check.push(
                    FindingKind::CheckFailed,
                    &file,
                    format!("the log files written during the gap could not be listed: {e}"),
                ),
            }
            day += Duration::days(1);
        }
    }
    let undigested_count = undigested.len();
    undigested.truncate(MAX_NAMED_LOG_FILES);
    for k in &undigested {
        let lf = store.describe(&Location::new(&at.bucket, k));
        check.push(
            FindingKind::UndigestedLogFile,
            lf,
            format!(
                "written between {} and {}, while the chain was broken, and listed by no digest: logging was on, so the digests covering it were deleted (unless another trail writes to the same prefix)",
                fmt(gap_from),
                fmt(gap_to)
            ),
        );
    }
    check.restart = Some(Restart {
        previous: prev_loc,
        gap_from,
        gap_to,
        missing_hours,
        undigested_log_files: undigested,
        undigested_count,
        previous_problems,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_hours_a_gap_touches() {
        let t = |h, m| Utc.with_ymd_and_hms(2024, 5, 14, h, m, 31).unwrap();
        let hours = hours_between(t(12, 1), t(16, 1));
        let starts: Vec<u32> = hours.iter().map(chrono::Timelike::hour).collect();
        assert_eq!(starts, vec![12, 13, 14, 15, 16]);
        assert!(hours_between(t(12, 1), t(12, 1)).is_empty());
        // Across midnight, bounded.
        let a = Utc.with_ymd_and_hms(2024, 5, 14, 23, 30, 0).unwrap();
        let b = Utc.with_ymd_and_hms(2024, 5, 15, 1, 0, 0).unwrap();
        assert_eq!(hours_between(a, b).len(), 2);
        let far = a + Duration::days(30);
        assert_eq!(hours_between(a, far).len(), 7 * 24);
    }
}
