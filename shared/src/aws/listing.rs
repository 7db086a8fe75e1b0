//! Listing a prefix page by page ([`Listing`]): what `trailwarden scan s3://` and
//! `validate s3://`, log-integrity's look-around and the backfill's summary walk.

use super::call::{CallError, ErrorKind};
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
#[derive(Debug)]
pub struct Listing {
    s3: aws_sdk_s3::Client,
    uri: S3Uri,
    start_after: Option<String>,
    token: Option<String>,
    done: bool,
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
        }
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
        let page = resp
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
        Ok(Some(page))
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
