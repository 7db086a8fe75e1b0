//! Listing a prefix page by page ([`Listing`]): what `trailwarden scan s3://` and
//! `validate s3://`, log-integrity's look-around and the backfill's summary walk.

use super::call::{CallError, ErrorKind};
use crate::s3key::{trail_folder, DIGEST_SEGMENT, LOG_SEGMENT};
use crate::s3uri::S3Uri;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// Bytes, as listed.
    pub size: u64,
    /// `STANDARD`, `GLACIER`, ... (S3 leaves it out in some answers).
    pub storage_class: Option<String>,
}

impl Listed {
    /// True when the object's storage class keeps it from being read until it is restored
    /// (S3 Glacier Flexible Retrieval and Deep Archive; not Glacier Instant Retrieval).
    pub fn archived(&self) -> bool {
        matches!(
            self.storage_class.as_deref(),
            Some("GLACIER" | "DEEP_ARCHIVE")
        )
    }
}

/// The objects under a prefix, page by page (`ListObjectsV2`, up to 1,000 keys a page), in
/// S3's order (lexicographic by key). One page at a time, so that a caller can work on the
/// first keys of a prefix holding millions while the rest are still to be listed. A page
/// token repeating the previous one ends the listing with an error instead of looping.
///
/// [`Listing::within`] narrows it to one kind of trail folder of every account under the
/// prefix, jumping over the others instead of paging through them.
#[derive(Debug)]
pub struct Listing {
    s3: aws_sdk_s3::Client,
    uri: S3Uri,
    start_after: Option<String>,
    token: Option<String>,
    done: bool,
    within: Option<&'static str>,
    passed_over: u64,
}

impl Listing {
    /// The listing of `uri`'s key prefix, after `start_after` (exclusive) when given.
    pub fn new(s3: &aws_sdk_s3::Client, uri: &S3Uri, start_after: Option<String>) -> Listing {
        Listing {
            s3: s3.clone(),
            uri: uri.clone(),
            start_after,
            token: None,
            done: false,
            within: None,
            passed_over: 0,
        }
    }

    /// Only the keys in trail folders named `segment` ([`DIGEST_SEGMENT`] or
    /// [`LOG_SEGMENT`]), and those in no trail folder: an account's other trail folders
    /// (`CloudTrail-Digest/`, `CloudTrail-Insight/`, `CloudTrail/`) are left out, and when a
    /// page ends inside one, the listing goes on after it (`start-after`) instead of paging
    /// through it. An account's log files are about twelve times as many as its digests, and
    /// years of either are hundreds of pages.
    pub fn within(mut self, segment: &'static str) -> Listing {
        self.within = Some(segment);
        self
    }

    /// Keys listed but left out by [`Listing::within`] so far (those of a folder jumped over
    /// are not listed, so not counted).
    pub fn passed_over(&self) -> u64 {
        self.passed_over
    }

    /// The next page; `None` once the listing is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Listed>>, CallError> {
        if self.done {
            return Ok(None);
        }
        let resp = self
            .s3
            .list_objects_v2()
            .bucket(&self.uri.bucket)
            .prefix(&self.uri.key)
            .set_start_after(self.start_after.clone().filter(|_| self.token.is_none()))
            .set_continuation_token(self.token.clone())
            .send()
            .await
            .map_err(|e| CallError::from_sdk(&e).context(format!("s3:ListBucket {}", self.uri)))?;
        let page: Vec<Listed> = resp
            .contents()
            .iter()
            .filter_map(|o| {
                Some(Listed {
                    key: o.key()?.to_string(),
                    size: o.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    storage_class: o.storage_class().map(|c| c.as_str().to_string()),
                })
            })
            .collect();
        match resp.next_continuation_token().filter(|t| !t.is_empty()) {
            None => self.done = true,
            Some(t) if self.token.as_deref() == Some(t) => {
                return Err(CallError::new(
                    ErrorKind::Other,
                    format!(
                        "s3:ListBucket {}: the listing returned the same page token twice",
                        self.uri
                    ),
                ))
            }
            Some(t) => self.token = Some(t.to_string()),
        }
        let Some(segment) = self.within else {
            return Ok(Some(page));
        };
        let sifted = sift(page, segment);
        self.passed_over += sifted.passed_over;
        if let Some(after) = sifted.resume_after.filter(|_| !self.done) {
            self.start_after = Some(after);
            self.token = None;
        }
        Ok(Some(sifted.kept))
    }

    /// Every object of the listing, at most `max` (the rest are not listed).
    pub async fn collect(mut self, max: usize) -> Result<Vec<Listed>, CallError> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.next_page().await? {
                Some(page) => out.extend(page),
                None => break,
            }
        }
        out.truncate(max);
        Ok(out)
    }
}

/// A page of a [`Listing::within`] sifted.
#[derive(Debug, PartialEq, Eq)]
struct Sifted {
    kept: Vec<Listed>,
    passed_over: u64,
    /// The page ends inside a folder left out: where the listing goes on.
    resume_after: Option<String>,
}

/// Leaves out of `page` the keys in trail folders other than `segment`.
fn sift(page: Vec<Listed>, segment: &str) -> Sifted {
    let mut kept = Vec::with_capacity(page.len());
    let mut passed_over = 0;
    let mut skip_to: Option<String> = None;
    for o in page {
        if skip_to.as_deref().is_some_and(|to| o.key.as_str() < to) {
            passed_over += 1;
            continue;
        }
        skip_to = jump(&o.key, segment);
        if skip_to.is_some() {
            passed_over += 1;
        } else {
            kept.push(o);
        }
    }
    Sifted {
        kept,
        passed_over,
        resume_after: skip_to,
    }
}

/// For a key in another trail folder of its account than `segment`, the key its account's
/// keys of `segment` come after: for digests, past the account's `CloudTrail-Insight/` and
/// `CloudTrail/` folders (`CloudTrail0` sorts after both); for log files, the account's
/// `CloudTrail/` folder (`CloudTrail-Digest/` and `CloudTrail-Insight/` sort before it).
/// Always after the key; `None` for a key of `segment` itself or of no trail folder.
fn jump(key: &str, segment: &str) -> Option<String> {
    let (above, folder) = trail_folder(key)?;
    match (folder == segment, segment == DIGEST_SEGMENT) {
        (true, _) => None,
        (false, true) => Some(format!("{above}{LOG_SEGMENT}0")),
        (false, false) => Some(format!("{above}{LOG_SEGMENT}/")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "logs/AWSLogs/o-a1b2c3d4e5/111122223333";

    fn digest(region: &str, hour: u32) -> String {
        format!(
            "{ACCOUNT}/CloudTrail-Digest/{region}/2023/12/01/111122223333_CloudTrail-Digest_{region}_org_us-east-1_20231201T{hour:02}0000Z.json.gz"
        )
    }

    fn log(region: &str, hour: u32) -> String {
        format!(
            "{ACCOUNT}/CloudTrail/{region}/2023/12/01/111122223333_CloudTrail_{region}_20231201T{hour:02}05Z_abc.json.gz"
        )
    }

    fn insight(region: &str) -> String {
        format!("{ACCOUNT}/CloudTrail-Insight/{region}/2023/12/01/111122223333_CloudTrail-Insight_{region}_20231201T1205Z_i.json.gz")
    }

    fn listed(keys: &[String]) -> Vec<Listed> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.into_iter()
            .map(|key| Listed {
                key,
                size: 1,
                storage_class: None,
            })
            .collect()
    }

    fn keys(s: &Sifted) -> Vec<&str> {
        s.kept.iter().map(|o| o.key.as_str()).collect()
    }

    #[test]
    fn a_listing_of_one_trail_folder_jumps_over_the_others() {
        let (d, l, i) = (
            digest("us-east-1", 1),
            log("us-east-1", 1),
            insight("us-east-1"),
        );
        // Digests: past the Insights and log files of the account, to what follows them.
        let past = jump(&l, DIGEST_SEGMENT).unwrap();
        assert_eq!(jump(&i, DIGEST_SEGMENT).unwrap(), past);
        assert!(past > l && past > i);
        assert!(format!("{ACCOUNT}/Config/x.json.gz") > past);
        assert!(
            "logs/AWSLogs/o-a1b2c3d4e5/111122223334/CloudTrail-Digest/r/f.json.gz" > past.as_str()
        );
        // Log files: from the digests and Insights to the account's log files.
        let to = jump(&d, LOG_SEGMENT).unwrap();
        assert_eq!(jump(&i, LOG_SEGMENT).unwrap(), to);
        assert!(to > d && to > i && to < l);
        // A key of the folder listed, or of none, is no jump; nor is one planted under a
        // digest folder, whatever folders it is planted in (it is checked as a digest).
        let planted = format!("{ACCOUNT}/CloudTrail-Digest/a/AWSLogs/222233334444/CloudTrail/f");
        assert_eq!(jump(&planted, DIGEST_SEGMENT), None);
        assert_eq!(jump(&format!("CloudTrail/{d}"), DIGEST_SEGMENT), None);
        assert_eq!(jump(&d, DIGEST_SEGMENT), None);
        assert_eq!(jump(&l, LOG_SEGMENT), None);
        assert_eq!(jump("logs/readme.txt", LOG_SEGMENT), None);
        assert_eq!(jump("logs/CloudTrail", LOG_SEGMENT), None);
    }

    #[test]
    fn a_page_that_ends_inside_a_folder_left_out_goes_on_after_it() {
        // A page of digests only (the first of a year of them): all left out, and the
        // listing goes on at the account's log files.
        let page = listed(&[digest("eu-west-1", 1), digest("eu-west-1", 2)]);
        let s = sift(page, LOG_SEGMENT);
        assert!(s.kept.is_empty());
        assert_eq!(s.passed_over, 2);
        assert_eq!(
            s.resume_after.as_deref(),
            Some(format!("{ACCOUNT}/CloudTrail/").as_str())
        );
        // Listing digests, a page ending in the log files: on after the account's folders.
        let page = listed(&[
            digest("us-east-1", 23),
            insight("us-east-1"),
            log("ap-south-1", 1),
        ]);
        let s = sift(page, DIGEST_SEGMENT);
        assert_eq!(keys(&s), [digest("us-east-1", 23)]);
        assert_eq!(s.passed_over, 2);
        assert_eq!(
            s.resume_after.as_deref(),
            Some(format!("{ACCOUNT}/CloudTrail0").as_str())
        );
    }

    #[test]
    fn a_page_that_gets_past_a_folder_left_out_goes_on_as_it_is() {
        // Digests, Insights, then log files and a key in no trail folder, all in one page:
        // the log files and the other key kept, the listing goes on with its page token.
        let other = format!("{ACCOUNT}/CloudTrail/us-east-1/readme.txt");
        let stray = "logs/zz-notes.txt".to_string();
        let page = listed(&[
            digest("us-east-1", 1),
            digest("us-east-2", 1),
            insight("us-east-1"),
            log("us-east-1", 1),
            log("us-east-2", 1),
            other.clone(),
            stray.clone(),
        ]);
        let s = sift(page, LOG_SEGMENT);
        assert_eq!(
            keys(&s),
            [log("us-east-1", 1), other, log("us-east-2", 1), stray]
        );
        assert_eq!(s.passed_over, 3);
        assert_eq!(s.resume_after, None);
    }
}
