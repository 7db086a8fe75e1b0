//! Reading S3 objects: whole documents with a size bound ([`read_object`], [`read_document`])
//! and streamed bodies ([`open_object`]) for log and digest files.

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
