//! Where digests and log files are read from: S3, or a local copy of a trail bucket.
//!
//! A [`Store`] only streams an object's stored bytes into a [`ContentHasher`] and returns its
//! user metadata; every decision is made by the caller, the same for both stores.

use crate::hash::ContentHasher;
use std::collections::HashMap;
use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use trailwarden::aws::{open_object, CallError, Listing, S3Uri};

/// An object's bucket and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Location {
    /// Empty when unknown (a local copy whose bucket name was not given).
    pub bucket: String,
    pub key: String,
}

impl Location {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Location {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// `s3://bucket/key` (or just the key when the bucket is unknown).
    pub fn uri(&self) -> String {
        if self.bucket.is_empty() {
            self.key.clone()
        } else {
            format!("s3://{}/{}", self.bucket, self.key)
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uri())
    }
}

/// What reading an object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The object exists; its bytes went into the hasher. User metadata, names lower-case
    /// and without the `x-amz-meta-` prefix.
    Found { metadata: HashMap<String, String> },
    /// No such object.
    NotFound,
}

/// Reading failed for a reason other than the object being absent (access denied,
/// network, throttling): nothing can be concluded about the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reading {location} failed: {reason}")]
pub struct StoreError {
    pub location: String,
    pub reason: String,
}

/// Why streaming an object failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bytes are not valid content (corrupt gzip, too large to keep).
    #[error("{0}")]
    Content(std::io::Error),
}

/// Somewhere objects can be read from.
pub trait Store: Sync {
    /// Streams the object (a specific version when `version` is given) into `sink`.
    fn fetch(
        &self,
        at: &Location,
        version: Option<&str>,
        sink: &mut ContentHasher,
    ) -> impl Future<Output = Result<Fetched, FetchError>> + Send;

    /// The keys under `prefix` in `bucket`, in key order, at most [`MAX_LISTED_KEYS`].
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// How to name an object in reports.
    fn describe(&self, at: &Location) -> String {
        at.uri()
    }

    /// False when object metadata may have been lost (a local copy): a missing signature
    /// then means "cannot check", not "rewritten".
    fn keeps_metadata(&self) -> bool {
        true
    }
}

/// At most this many keys are listed under one prefix (a day of one region's digests or log
/// files): listing is a bounded look-around, never a crawl of the bucket.
pub const MAX_LISTED_KEYS: usize = 20_000;

/// Objects in S3.
#[derive(Debug, Clone)]
pub struct S3Store {
    pub client: aws_sdk_s3::Client,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Store { client }
    }
}

impl Store for S3Store {
    async fn fetch(
        &self,
        at: &Location,
        version: Option<&str>,
        sink: &mut ContentHasher,
    ) -> Result<Fetched, FetchError> {
        let store_err = |e: CallError| StoreError {
            location: at.uri(),
            reason: e.to_string(),
        };
        let uri = S3Uri::from_parts(&at.bucket, &at.key);
        let mut object = match open_object(&self.client, &uri, version).await {
            Ok(o) => o,
            // Without s3:ListBucket, S3 answers 403 for a missing key: that stays a store
            // error (not checked), never a verdict.
            Err(e) if e.is_not_found() => return Ok(Fetched::NotFound),
            // A denied read names the KMS key and the statement to add (SSE-KMS), or the
            // grants to check.
            Err(e) => {
                let e = trailwarden::aws::explain_denied(&self.client, &uri, version, e).await;
                return Err(store_err(e).into());
            }
        };
        while let Some(chunk) = object.next_chunk().await.map_err(store_err)? {
            sink.update(&chunk).map_err(FetchError::Content)?;
        }
        Ok(Fetched::Found {
            metadata: object.metadata,
        })
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let uri = S3Uri::from_parts(bucket, prefix);
        let listed = Listing::new(&self.client, &uri, None)
            .collect(MAX_LISTED_KEYS)
            .await
            .map_err(|e| StoreError {
                location: uri.to_string(),
                reason: e.to_string(),
            })?;
        Ok(listed.into_iter().map(|o| o.key).collect())
    }
}

/// A local copy of a trail bucket: object `key` is the file `root/key`. The bucket name of a
/// location is not used to find files.
///
/// S3 user metadata does not survive a download, so a digest's signature is read from a
/// sidecar file `root/<key>.metadata.json` holding the object's metadata as
/// `aws s3api head-object --query Metadata` prints it
/// (`{"signature": "…", "signature-algorithm": "SHA256withRSA"}`). Signatures without a
/// sidecar can be supplied with [`LocalStore::with_signature`] (the offline validator takes
/// them from the next digest's `previousDigestSignature`).
#[derive(Debug, Clone)]
pub struct LocalStore {
    pub root: PathBuf,
    signatures: HashMap<String, (String, String)>,
}

/// The user metadata key where the signature source is noted when it is not the object's own
/// metadata.
pub const SIGNATURE_SOURCE: &str = "trailwarden-signature-source";

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore {
            root: root.into(),
            signatures: HashMap::new(),
        }
    }

    /// Supplies the signature of `key` for when it has no metadata sidecar, noting where it
    /// came from.
    pub fn with_signature(&mut self, key: &str, signature: &str, source: &str) {
        self.signatures
            .insert(key.to_string(), (signature.to_string(), source.to_string()));
    }

    pub fn path_of(&self, key: &str) -> PathBuf {
        let mut p = self.root.clone();
        for part in key
            .split('/')
            .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        {
            p.push(part);
        }
        p
    }

    fn metadata(&self, key: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut side = self.path_of(key).into_os_string();
        side.push(".metadata.json");
        let side = PathBuf::from(side);
        let mut md: HashMap<String, String> = match std::fs::read(&side) {
            Ok(bytes) => {
                let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError {
                        location: side.display().to_string(),
                        reason: format!("metadata sidecar is not a JSON object: {e}"),
                    })?;
                v.into_iter()
                    .filter_map(|(k, v)| {
                        let k = k.to_ascii_lowercase();
                        let k = k.strip_prefix("x-amz-meta-").unwrap_or(&k).to_string();
                        v.as_str().map(|s| (k, s.to_string()))
                    })
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => {
                return Err(StoreError {
                    location: side.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        if !md.contains_key("signature") {
            if let Some((sig, source)) = self.signatures.get(key) {
                md.insert("signature".into(), sig.clone());
                md.insert(SIGNATURE_SOURCE.into(), source.clone());
            }
        }
        Ok(md)
    }

    fn fetch_sync(&self, at: &Location, sink: &mut ContentHasher) -> Result<Fetched, FetchError> {
        let path = self.path_of(&at.key);
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Fetched::NotFound),
            Err(e) => {
                return Err(StoreError {
                    location: path.display().to_string(),
                    reason: e.to_string(),
                }
                .into())
            }
        };
        if f.metadata().is_ok_and(|m| m.is_dir()) {
            return Ok(Fetched::NotFound);
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(StoreError {
                        location: path.display().to_string(),
                        reason: e.to_string(),
                    }
                    .into())
                }
            };
            sink.update(&buf[..n]).map_err(FetchError::Content)?;
        }
        Ok(Fetched::Found {
            metadata: self.metadata(&at.key)?,
        })
    }
}

impl Store for LocalStore {
    async fn fetch(
        &self,
        at: &Location,
        _version: Option<&str>,
        sink: &mut ContentHasher,
    ) -> Result<Fetched, FetchError> {
        self.fetch_sync(at, sink)
    }

    async fn list(&self, _bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        // Prefixes used here end at a folder (`…/YYYY/MM/DD/`).
        let dir = self.path_of(prefix);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let keep = |k: &str| !k.ends_with(".metadata.json");
        let mut keys = list_keys(&dir, &keep).map_err(|e| StoreError {
            location: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let base = prefix.trim_end_matches('/');
        for k in &mut keys {
            *k = format!("{base}/{k}");
        }
        keys.truncate(MAX_LISTED_KEYS);
        Ok(keys)
    }

    fn describe(&self, at: &Location) -> String {
        self.path_of(&at.key).display().to_string()
    }

    fn keeps_metadata(&self) -> bool {
        false
    }
}

/// Every file under `root` whose key satisfies `keep`, as keys (`/`-separated), sorted.
pub fn list_keys(root: &Path, keep: &dyn Fn(&str) -> bool) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let ty = entry.file_type()?;
            let path = entry.path();
            if ty.is_dir() {
                stack.push(path);
            } else if ty.is_file() {
                let Ok(rel) = path.strip_prefix(root) else {
                    continue;
                };
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                if keep(&key) {
                    out.push(key);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}
