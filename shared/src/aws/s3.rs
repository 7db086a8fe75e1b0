//! Reading S3 objects: whole documents with a size bound ([`read_object`], [`read_document`])
//! and streamed bodies ([`open_object`]) for log and digest files; listings ([`Listing`]).

use super::call::{CallError, ErrorKind};
use crate::s3uri::{DocumentSource, S3Uri};
use aws_sdk_s3::primitives::ByteStream;
use std::collections::HashMap;

/// Reads a whole object of at most `max_bytes` (checked against `Content-Length` before the
/// body is read, and while reading it). A larger object is [`ErrorKind::TooLarge`].
pub async fn read_object(
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
    max_bytes: usize,
) -> Result<Vec<u8>, CallError> {
    read_object_version(s3, uri, None, max_bytes).await
}

/// [`read_object`] of one version of the object (`None`: the current one).
pub async fn read_object_version(
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
    version: Option<&str>,
    max_bytes: usize,
) -> Result<Vec<u8>, CallError> {
    let mut object = open_object(s3, uri, version).await?;
    if let Some(len) = object.content_length.filter(|n| *n > max_bytes as u64) {
        return Err(too_large(uri, len, max_bytes));
    }
    let mut out =
        Vec::with_capacity(object.content_length.unwrap_or(0).min(max_bytes as u64) as usize);
    while let Some(chunk) = object.next_chunk().await? {
        if out.len() + chunk.len() > max_bytes {
            return Err(too_large(uri, (out.len() + chunk.len()) as u64, max_bytes));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn too_large(uri: &S3Uri, len: u64, max: usize) -> CallError {
    CallError::new(
        ErrorKind::TooLarge,
        format!("{uri}: {len} bytes or more is larger than the {max} bytes accepted"),
    )
}

/// Reads a document from a local file or S3, at most `max_bytes`. File errors are classified
/// like SDK errors (a missing file is [`ErrorKind::NotFound`]).
pub async fn read_document(
    s3: &aws_sdk_s3::Client,
    source: &DocumentSource,
    max_bytes: usize,
) -> Result<Vec<u8>, CallError> {
    match source {
        DocumentSource::S3(uri) => read_object(s3, uri, max_bytes).await,
        DocumentSource::Path(p) => {
            let io = |e: std::io::Error| {
                let kind = match e.kind() {
                    std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                    std::io::ErrorKind::PermissionDenied => ErrorKind::AccessDenied,
                    _ => ErrorKind::Other,
                };
                CallError::new(kind, format!("{}: {e}", p.display()))
            };
            let len = tokio::fs::metadata(p).await.map_err(io)?.len();
            if len > max_bytes as u64 {
                return Err(CallError::new(
                    ErrorKind::TooLarge,
                    format!(
                        "{}: {len} bytes is larger than the {max_bytes} bytes accepted",
                        p.display()
                    ),
                ));
            }
            tokio::fs::read(p).await.map_err(io)
        }
    }
}

/// An object being read: its size, user metadata and body.
#[derive(Debug)]
pub struct ObjectBody {
    pub uri: S3Uri,
    /// `Content-Length`, when S3 sent it.
    pub content_length: Option<u64>,
    /// User metadata (`x-amz-meta-*` without the prefix), names in lowercase.
    pub metadata: HashMap<String, String>,
    /// The version read, when the bucket is versioned.
    pub version_id: Option<String>,
    pub body: ByteStream,
}

impl ObjectBody {
    /// The object a `GetObject` answer holds.
    pub fn from_output(
        uri: &S3Uri,
        out: aws_sdk_s3::operation::get_object::GetObjectOutput,
    ) -> ObjectBody {
        ObjectBody {
            uri: uri.clone(),
            content_length: out.content_length().and_then(|n| u64::try_from(n).ok()),
            metadata: out
                .metadata()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            version_id: out.version_id().map(str::to_string),
            body: out.body,
        }
    }

    /// The next piece of the body, or `None` at the end. A connection cut while reading is
    /// [`ErrorKind::Transient`].
    pub async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, CallError> {
        self.body.try_next().await.map_err(|e| {
            CallError::new(
                ErrorKind::Transient,
                format!("{}: reading the object body failed: {e}", self.uri),
            )
        })
    }

    /// The body as a blocking [`std::io::Read`], for parsing on a blocking thread
    /// (`tokio::task::spawn_blocking`); only a few buffers are in memory at a time. Must not
    /// be read on an async worker thread.
    pub fn into_blocking_reader(self) -> impl std::io::Read + Send + 'static {
        tokio_util::io::SyncIoBridge::new(Box::pin(self.body.into_async_read()))
    }
}

/// Opens an object for streaming (`GetObject`; `version`: a given version, or the current one).
/// A missing object is [`ErrorKind::NotFound`]; without `s3:ListBucket` S3 answers
/// [`ErrorKind::AccessDenied`] instead.
pub async fn open_object(
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
    version: Option<&str>,
) -> Result<ObjectBody, CallError> {
    get_object(s3, uri, version).await.map_err(|(e, _)| e)
}

/// [`open_object`], keeping the bucket's region S3 names in an error answer
/// (`x-amz-bucket-region`, sent with its redirects).
pub(crate) async fn get_object(
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
    version: Option<&str>,
) -> Result<ObjectBody, (CallError, Option<String>)> {
    let out = s3
        .get_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await
        .map_err(|e| {
            let region = e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_string);
            (
                CallError::from_sdk(&e).context(format!("s3:GetObject {uri}")),
                region,
            )
        })?;
    Ok(ObjectBody::from_output(uri, out))
}

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
