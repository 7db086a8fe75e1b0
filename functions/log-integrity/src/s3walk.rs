//! `trailwarden validate s3://…`: every digest under a prefix checked straight from S3, and
//! the log files no digest lists found, in one walk whose memory does not grow with the
//! prefix (years of an organization's logs hold millions of keys).
//!
//! Two listings of the prefix run side by side: one of digests, one of log files. Both come in
//! S3's key order, which for both is the order of their *place*: the folders above the
//! `CloudTrail-Digest/` or `CloudTrail/` segment (prefix, organization, account), then
//! `region/YYYY/MM/DD`. The log files a digest lists were delivered during its hour, so
//! once the digests of a day are checked, the log files of two days before cannot be listed by
//! any digest still to come: they are settled then (listed by a digest, or reported) and
//! forgotten. What is held at any time is the log-file keys the digests of the last two days
//! listed, one page of each listing and the digests being checked at once.
//!
//! A log file listed by a digest more than a day after its own date (CloudTrail does not do
//! that) would be reported as listed in no digest: a false alarm, never a miss.

use crate::check::{check_digest, DigestCheck, MAX_DIGEST_BYTES};
use crate::digest::{is_digest_key, is_log_file_key, Digest, DIGEST_SEGMENT, LOG_SEGMENT};
use crate::hash::ContentHasher;
use crate::keys::KeySource;
use crate::offline::{lines_of, Line, LocalOptions};
use crate::store::{Fetched, Location, S3Store, Store};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use trailwarden::aws::{CallError, Listing};
use trailwarden::s3key::trail_folder;
use trailwarden::s3uri::S3Uri;

/// How [`validate_s3`] walks a prefix and tells what it finds.
pub struct Walk<'a> {
    /// Digests checked at once (at least 1); each reads [`crate::check::LOG_FILE_READS`] of
    /// its log files at once.
    pub concurrency: usize,
    /// Only the digests after this key, in S3's key order (a resumed run). The log files of
    /// the day before its day and later are settled again (the digests of those days up to it
    /// are read again for what they list): the run that stopped there had settled only those
    /// of the days before.
    pub start_after: Option<String>,
    /// Told every line, in key order, as it is known.
    pub on_event: &'a mut dyn FnMut(Event<'_>),
}

/// What a walk tells as it goes.
pub enum Event<'a> {
    /// A digest or a log file it lists, with its verdict; a missing previous digest.
    Line(Line),
    /// A digest whose lines, and the log files its day settles, were told: it, and how many
    /// digests this run has checked (a resume position).
    Checked(&'a DigestCheck, usize),
    /// A log file that no digest lists (delivered after the newest digest, or planted).
    Unlisted(String),
}

/// Validates every digest under `uri` (`s3://bucket/prefix/`), reading digests, their
/// signatures (object metadata) and log files straight from S3, as
/// `aws cloudtrail validate-logs` does: `walk.concurrency` digests at once, in key order,
/// after `walk.start_after`; what is found is told to `walk.on_event` as it is found.
/// Returns how many digests were checked; `Err` when a listing fails (what was told before
/// stands).
pub async fn validate_s3<K: KeySource>(
    client: &aws_sdk_s3::Client,
    uri: &S3Uri,
    keys: &K,
    options: &LocalOptions,
    walk: Walk<'_>,
) -> Result<usize, CallError> {
    let store = S3Store::new(client.clone());
    let bucket = uri.bucket.as_str();
    let options = LocalOptions {
        bucket: Some(uri.bucket.clone()),
        ..options.clone()
    };
    let mut unlisted = Unlisted::default();
    let mut logs_after = None;
    if let Some(after) = &walk.start_after {
        // The days a stopped run left unsettled: from the day before the resume digest's.
        let from = place(after, DIGEST_SEGMENT).map(|p| day_before(&p).unwrap_or(p));
        if let Some(from) = &from {
            let mut again = Listing::new(client, uri, Some(from.start(DIGEST_SEGMENT)));
            'pages: while let Some(page) = next_keys(&mut again).await? {
                for key in page {
                    if key.as_str() > after.as_str() {
                        break 'pages;
                    }
                    if is_digest_key(&key) {
                        let listed = read_digest(&store, &Location::new(bucket, &key)).await;
                        unlisted.listed(
                            listed
                                .into_iter()
                                .flat_map(|d| d.log_files)
                                .map(|f| f.s3_object),
                        );
                    }
                }
            }
            unlisted.frontier = Some(from.clone());
        }
        logs_after = Some(match &from {
            Some(p) => p.start(LOG_SEGMENT),
            None => after.clone(),
        });
    }
    let mut logs = LogCursor::new(Listing::new(client, uri, logs_after).within(LOG_SEGMENT));
    let digests = stream::try_unfold(
        Listing::new(client, uri, walk.start_after.clone()).within(DIGEST_SEGMENT),
        |mut listing| async move { Ok(next_keys(&mut listing).await?.map(|p| (p, listing))) },
    )
    .map_ok(|page| stream::iter(page.into_iter().filter(|k| is_digest_key(k)).map(Ok)))
    .try_flatten();
    let (store, options) = (&store, &options);
    let mut checks = std::pin::pin!(digests
        .map(|key: Result<String, CallError>| async move {
            let key = key?;
            let at = Location::new(bucket, &key);
            let check = check_digest(store, keys, &options.check, &at, None).await;
            Ok::<_, CallError>((key, check))
        })
        .buffered(walk.concurrency.max(1)));
    let mut missing_told = HashSet::new();
    let mut done = 0;
    while let Some(checked) = checks.next().await {
        let (key, check) = checked?;
        for line in lines_of(&check, &mut missing_told) {
            (walk.on_event)(Event::Line(line));
        }
        let listed = check.log_files.iter().map(|l| l.location.key.clone());
        unlisted.listed(listed);
        if let Some(frontier) = place(&key, DIGEST_SEGMENT).and_then(|p| day_before(&p)) {
            unlisted
                .advance(&mut logs, Some(frontier), &mut |k| {
                    (walk.on_event)(Event::Unlisted(k))
                })
                .await?;
        }
        // Told last: a run resumed after this digest finds everything before it told.
        done += 1;
        (walk.on_event)(Event::Checked(&check, done));
    }
    unlisted
        .advance(&mut logs, None, &mut |k| {
            (walk.on_event)(Event::Unlisted(k))
        })
        .await?;
    Ok(done)
}

/// The next page of a listing, as keys.
async fn next_keys(listing: &mut Listing) -> Result<Option<Vec<String>>, CallError> {
    Ok(listing
        .next_page()
        .await?
        .map(|page| page.into_iter().map(|o| o.key).collect()))
}

/// A digest read for the log files it lists (nothing checked); `None` when it cannot be read.
pub(crate) async fn read_digest<S: Store>(store: &S, at: &Location) -> Option<Digest> {
    let mut h = ContentHasher::keeping(MAX_DIGEST_BYTES);
    if !matches!(
        store.fetch(at, None, &mut h).await,
        Ok(Fetched::Found { .. })
    ) {
        return None;
    }
    let hashed = h.finish().ok()?;
    Digest::parse(hashed.content.as_deref().unwrap_or_default()).ok()
}

/// Where a trail object's key stands in a walk: the folders above its `CloudTrail…/` segment,
/// then the folders below it (`region/YYYY/MM/DD` as CloudTrail writes them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    /// Up to the segment, with the `/` before it (empty at the bucket's root).
    above: String,
    /// Between the segment's `/` and the file name.
    below: String,
}

impl Place {
    /// The key a listing starts after to reach this place's `segment` folder (its first
    /// key is in this place or after it).
    fn start(&self, segment: &str) -> String {
        format!("{}{segment}/{}", self.above, self.below)
    }
}

/// The place of a key whose trail folder ([`trail_folder`]) is `segment`.
fn place(key: &str, segment: &str) -> Option<Place> {
    let (above, _) = trail_folder(key).filter(|(_, f)| *f == segment)?;
    let below = &key[above.len() + segment.len() + 1..];
    Some(Place {
        above: above.to_string(),
        below: below.rfind('/').map_or("", |j| &below[..j]).to_string(),
    })
}

/// The place of the same region a day earlier; `None` when the folders below the segment are
/// not `region/YYYY/MM/DD`.
fn day_before(p: &Place) -> Option<Place> {
    let parts: Vec<&str> = p.below.split('/').collect();
    let [region, y, m, d] = parts[..] else {
        return None;
    };
    let date = chrono::NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    Some(Place {
        above: p.above.clone(),
        below: format!("{region}/{}", date.pred_opt()?.format("%Y/%m/%d")),
    })
}

/// Pages of keys in S3's order: a listing, or keys in memory (tests).
pub(crate) trait Pages: Send {
    fn next_page(&mut self) -> impl Future<Output = Result<Option<Vec<String>>, CallError>> + Send;
}

impl Pages for Listing {
    fn next_page(&mut self) -> impl Future<Output = Result<Option<Vec<String>>, CallError>> + Send {
        next_keys(self)
    }
}

/// The log-file keys of a listing, handed over place by place.
struct LogCursor<P> {
    pages: P,
    /// Listed, not yet handed over.
    page: VecDeque<String>,
    done: bool,
}

impl<P: Pages> LogCursor<P> {
    fn new(pages: P) -> Self {
        LogCursor {
            pages,
            page: VecDeque::new(),
            done: false,
        }
    }

    /// Hands over the log files whose place comes before `until` (every one left: `None`).
    async fn hand_over(
        &mut self,
        until: Option<&Place>,
        to: &mut dyn FnMut(String),
    ) -> Result<(), CallError> {
        loop {
            let Some(key) = self.page.front() else {
                if self.done {
                    return Ok(());
                }
                match self.pages.next_page().await? {
                    Some(page) => self
                        .page
                        .extend(page.into_iter().filter(|k| is_log_file_key(k))),
                    None => self.done = true,
                }
                continue;
            };
            if let (Some(until), Some(at)) = (until, place(key, LOG_SEGMENT)) {
                if at >= *until {
                    return Ok(());
                }
            }
            to(self.page.pop_front().expect("a key is there"));
        }
    }
}

/// The log files the digests checked so far list, not yet settled; the place before which
/// every log file is settled.
#[derive(Default)]
struct Unlisted {
    listed: HashSet<String>,
    frontier: Option<Place>,
    /// The most keys held at once (what the walk's memory grows with).
    most: usize,
}

impl Unlisted {
    fn listed(&mut self, keys: impl IntoIterator<Item = impl Into<String>>) {
        self.listed.extend(keys.into_iter().map(Into::into));
        self.most = self.most.max(self.listed.len());
    }

    /// Settles the log files before `to` (all that are left: `None`), telling the ones no
    /// digest listed, and forgets the listed keys before it. Does nothing unless `to` is past
    /// the frontier (digests come in order; one out of order moves nothing back).
    async fn advance<P: Pages>(
        &mut self,
        logs: &mut LogCursor<P>,
        to: Option<Place>,
        tell: &mut dyn FnMut(String),
    ) -> Result<(), CallError> {
        if let (Some(to), Some(at)) = (&to, &self.frontier) {
            if to <= at {
                return Ok(());
            }
        }
        let listed = &mut self.listed;
        logs.hand_over(to.as_ref(), &mut |key| {
            if !listed.remove(&key) {
                tell(key)
            }
        })
        .await?;
        match &to {
            Some(to) => self
                .listed
                .retain(|k| place(k, LOG_SEGMENT).is_none_or(|p| p >= *to)),
            None => self.listed.clear(),
        }
        self.frontier = to;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys in memory, a page at a time.
    struct Memory(VecDeque<Vec<String>>);

    impl Memory {
        fn new(mut keys: Vec<String>) -> Self {
            keys.sort();
            Memory(keys.chunks(1000).map(<[String]>::to_vec).collect())
        }
    }

    impl Pages for Memory {
        fn next_page(
            &mut self,
        ) -> impl Future<Output = Result<Option<Vec<String>>, CallError>> + Send {
            std::future::ready(Ok(self.0.pop_front()))
        }
    }

    const ACCOUNT: &str = "logs/AWSLogs/o-a1b2c3d4e5/111122223333";

    fn day(n: u32) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2023, 12, 1).unwrap() + chrono::Days::new(n.into())
    }

    fn log(region: &str, day_n: u32, hour: u32, minute: u32, n: u32) -> String {
        let d = day(day_n);
        format!(
            "{ACCOUNT}/CloudTrail/{region}/{}/111122223333_CloudTrail_{region}_{}T{hour:02}{minute:02}Z_f{n:011}.json.gz",
            d.format("%Y/%m/%d"),
            d.format("%Y%m%d")
        )
    }

    fn digest(region: &str, day_n: u32, hour: u32) -> String {
        let d = day(day_n);
        format!(
            "{ACCOUNT}/CloudTrail-Digest/{region}/{}/111122223333_CloudTrail-Digest_{region}_org-trail_us-east-1_{}T{hour:02}1502Z.json.gz",
            d.format("%Y/%m/%d"),
            d.format("%Y%m%d")
        )
    }

    #[test]
    fn places_order_as_s3_lists_keys() {
        let d = place(&digest("us-east-1", 3, 10), DIGEST_SEGMENT).unwrap();
        assert_eq!(d.above, format!("{ACCOUNT}/"));
        assert_eq!(d.below, "us-east-1/2023/12/04");
        let before = day_before(&d).unwrap();
        assert_eq!(before.below, "us-east-1/2023/12/03");
        assert_eq!(
            day_before(&place(&digest("us-east-1", 0, 0), DIGEST_SEGMENT).unwrap())
                .unwrap()
                .below,
            "us-east-1/2023/11/30"
        );
        // A log file's place against a digest's: by folder, region, then date.
        let l = |r, n| place(&log(r, n, 23, 59, 0), LOG_SEGMENT).unwrap();
        assert!(l("us-east-1", 1) < before);
        assert!(l("us-east-1", 2) >= before);
        assert!(l("ap-south-1", 9) < before);
        assert!(l("us-west-2", 0) > before);
        // The segment as a whole folder only.
        assert!(place("x/MyCloudTrail/us/2024/01/01/f.json.gz", LOG_SEGMENT).is_none());
        // A trail whose key prefix is itself named CloudTrail: the folder below the account.
        let prefixed = |key: String| format!("CloudTrail/{key}");
        let d = place(&prefixed(digest("us-east-1", 3, 10)), DIGEST_SEGMENT).unwrap();
        assert_eq!(d.above, format!("CloudTrail/{ACCOUNT}/"));
        let l = place(&prefixed(log("us-east-1", 3, 9, 5, 0)), LOG_SEGMENT).unwrap();
        assert_eq!(
            (l.above.as_str(), l.below.as_str()),
            (d.above.as_str(), d.below.as_str())
        );
        assert!(place(&prefixed(digest("us-east-1", 3, 10)), LOG_SEGMENT).is_none());
        assert_eq!(
            place("CloudTrail/r/f.json.gz", LOG_SEGMENT).unwrap(),
            Place {
                above: String::new(),
                below: "r".into()
            }
        );
        // A listing started at a place's folder reaches its keys and no earlier day's.
        let start = before.start(LOG_SEGMENT);
        assert!(log("us-east-1", 2, 0, 5, 1) > start);
        assert!(log("us-east-1", 1, 23, 55, 1) < start);
        assert!(day_before(&Place {
            above: String::new(),
            below: "us-east-1/2024/13/01".into()
        })
        .is_none());
    }

    /// Sixty days of two regions, a log file every five minutes, digests hourly (from
    /// `first_day` on) listing the files of the hour before theirs (the first of a day lists
    /// the previous day's last); region eu-west-1's digests all deleted, one file planted, one
    /// listed by a digest but missing. What is told, the most listed keys held, the keys.
    async fn walk(first_day: u32) -> (Vec<String>, usize, usize) {
        let mut keys = Vec::new();
        let mut digests = Vec::new();
        for region in ["eu-west-1", "us-east-1"] {
            let mut previous_hour: Vec<String> = Vec::new();
            for d in 0..60 {
                for h in 0..24 {
                    let files: Vec<String> = (0..12)
                        .map(|m| log(region, d, h, m * 5, d * 1000 + h * 12 + m))
                        .collect();
                    keys.extend(files.iter().cloned());
                    if region == "us-east-1" && d >= first_day {
                        digests.push((digest(region, d, h), previous_hour.clone()));
                    }
                    previous_hour = files;
                }
            }
        }
        keys.push(log("us-east-1", 30, 12, 1, 999_999));
        let total = keys.len();
        let mut unlisted = Unlisted::default();
        let mut logs = LogCursor::new(Memory::new(keys));
        let mut told = Vec::new();
        for (key, mut files) in digests {
            if key == digest("us-east-1", 40, 7) {
                files.push(log("us-east-1", 40, 6, 59, 888_888));
            }
            unlisted.listed(files);
            let frontier = day_before(&place(&key, DIGEST_SEGMENT).unwrap());
            unlisted
                .advance(&mut logs, frontier, &mut |k| told.push(k))
                .await
                .unwrap();
        }
        unlisted
            .advance(&mut logs, None, &mut |k| told.push(k))
            .await
            .unwrap();
        (told, unlisted.most, total)
    }

    fn told_in<'a>(told: &'a [String], region: &str) -> Vec<&'a String> {
        told.iter()
            .filter(|k| k.contains(&format!("/{region}/")))
            .collect()
    }

    #[tokio::test]
    async fn unlisted_log_files_are_found_with_a_few_days_of_keys_held() {
        let (told, most, total) = walk(0).await;
        // Every eu-west-1 file (no digest lists them); in us-east-1 the planted one and the
        // last hour's (delivered after the newest digest), nothing a digest listed, even
        // across midnight.
        assert_eq!(told_in(&told, "eu-west-1").len(), 60 * 24 * 12);
        let us = told_in(&told, "us-east-1");
        assert_eq!(us.len(), 1 + 12, "{us:?}");
        assert!(us.contains(&&log("us-east-1", 30, 12, 1, 999_999)));
        assert!(us.contains(&&log("us-east-1", 59, 23, 55, 59 * 1000 + 23 * 12 + 11)));
        // Told in S3's order, each once.
        assert!(told.windows(2).all(|w| w[0] < w[1]));
        // At most about two days of one region's listed keys (288 a day) were held, out
        // of 34,561 keys.
        assert_eq!(total, 2 * 60 * 24 * 12 + 1);
        assert!(most <= 3 * 288, "held {most}");
    }

    #[tokio::test]
    async fn log_files_of_days_no_digest_covers_are_told() {
        // Digests from day 20 on only (the earlier ones deleted): the files of days 0-19 are
        // listed in none, but for the last hour of day 19 (day 20's first digest lists it).
        let (told, _, _) = walk(20).await;
        let us = told_in(&told, "us-east-1");
        assert_eq!(us.len(), 20 * 24 * 12 - 12 + 1 + 12);
        assert!(us.contains(&&log("us-east-1", 19, 22, 55, 19 * 1000 + 22 * 12 + 11)));
        assert!(!us.contains(&&log("us-east-1", 19, 23, 0, 19 * 1000 + 23 * 12)));
    }
}
