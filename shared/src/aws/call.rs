//! SDK calls: one error type with a classification every function can act on, paging, and
//! bounded backoff for eventual consistency.
//!
//! [`CallError::from_sdk`] takes the error of any SDK operation (any service: S3, IAM, EC2,
//! CloudTrail...) and keeps the AWS error code, the HTTP status, a readable message and an
//! [`ErrorKind`]: not found, access denied, throttled, transient, or other.

use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// What kind of failure an SDK call met, for deciding what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The resource does not exist (`NoSuchKey`, `NoSuchEntity`, `InvalidGroup.NotFound`,
    /// `ResourceNotFoundException`, HTTP 404).
    NotFound,
    /// Not allowed (`AccessDenied`, `UnauthorizedOperation`, `AuthorizationError`, HTTP 403).
    /// Note that S3 answers 403 for a missing key when the caller lacks `s3:ListBucket`.
    AccessDenied,
    /// Rate limited (`Throttling`, `RequestLimitExceeded`, `SlowDown`, HTTP 429).
    Throttled,
    /// Worth retrying: time-outs, connection failures, HTTP 5xx.
    Transient,
    /// A document is larger than the reader accepts ([`super::s3::read_object`]).
    TooLarge,
    /// Anything else (a bad request, a conflict, a malformed response).
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AccessDenied => "access denied",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Transient => "transient",
            ErrorKind::TooLarge => "too large",
            ErrorKind::Other => "other",
        }
    }
}

/// An SDK call that failed: its classification, the AWS error code when there is one, the
/// HTTP status when a response came, and a readable message (`Display`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallError {
    pub kind: ErrorKind,
    pub code: Option<String>,
    pub status: Option<u16>,
    pub message: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallError {}

impl CallError {
    /// A failure that did not come from the SDK (a missing field in an answer, a local file).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CallError {
        CallError {
            kind,
            code: None,
            status: None,
            message: message.into(),
        }
    }

    /// Classifies the error of any SDK operation.
    pub fn from_sdk<E>(e: &SdkError<E, HttpResponse>) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match e {
            SdkError::ServiceError(se) => {
                let status = se.raw().status().as_u16();
                let code = se.err().code().map(str::to_string);
                let msg = se.err().message().unwrap_or("").trim();
                let message = match (&code, msg.is_empty()) {
                    (Some(c), false) => format!("{c}: {msg}"),
                    (Some(c), true) => format!("{c} (HTTP {status})"),
                    (None, _) => format!(
                        "HTTP {status} without an AWS error code (the endpoint may not implement this action)"
                    ),
                };
                CallError {
                    kind: classify(code.as_deref(), Some(status)),
                    code,
                    status: Some(status),
                    message,
                }
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => CallError {
                kind: ErrorKind::Transient,
                code: None,
                status: None,
                message: DisplayErrorContext(e).to_string(),
            },
            other => {
                let status = other.raw_response().map(|r| r.status().as_u16());
                let kind = match status {
                    Some(s) if s >= 500 => ErrorKind::Transient,
                    Some(s) => classify(None, Some(s)),
                    // A response that could not be read, or a request that could not be built.
                    None if matches!(other, SdkError::ResponseError(_)) => ErrorKind::Transient,
                    None => ErrorKind::Other,
                };
                CallError {
                    kind,
                    code: None,
                    status,
                    message: DisplayErrorContext(other).to_string(),
                }
            }
        }
    }

    /// The same error, its message prefixed with what was being done
    /// (`s3:GetObject s3://b/k: NoSuchKey: ...`).
    pub fn context(mut self, what: impl fmt::Display) -> CallError {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// True when the AWS error code is `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
    pub fn is_access_denied(&self) -> bool {
        self.kind == ErrorKind::AccessDenied
    }
    /// Throttled or transient: retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }
    /// IAM's "no such user / key / policy" answer.
    pub fn no_such_entity(&self) -> bool {
        self.is("NoSuchEntity")
    }
}

/// Classification from an AWS error code and HTTP status.
pub fn classify(code: Option<&str>, status: Option<u16>) -> ErrorKind {
    if let Some(c) = code {
        let kind = match c {
            "NoSuchKey"
            | "NoSuchBucket"
            | "NoSuchEntity"
            | "NoSuchVersion"
            | "NotFound"
            | "NotFoundException"
            | "ResourceNotFoundException"
            | "TrailNotFoundException"
            | "NoSuchUpload" => Some(ErrorKind::NotFound),
            c if c.ends_with(".NotFound") || c.ends_with(".Malformed.NotFound") => {
                Some(ErrorKind::NotFound)
            }
            "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "AuthorizationError"
            | "AuthorizationErrorException"
            | "Forbidden"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "SignatureDoesNotMatch"
            | "AllAccessDisabled"
            | "KMS.AccessDeniedException" => Some(ErrorKind::AccessDenied),
            "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "SlowDown"
            | "ProvisionedThroughputExceededException"
            | "BandwidthLimitExceeded"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException" => Some(ErrorKind::Throttled),
            "InternalError"
            | "InternalFailure"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "RequestTimeout"
            | "RequestTimeoutException"
            | "ServiceFailure"
            | "Unavailable" => Some(ErrorKind::Transient),
            _ => None,
        };
        if let Some(k) = kind {
            return k;
        }
    }
    match status {
        Some(404) => ErrorKind::NotFound,
        Some(403) => ErrorKind::AccessDenied,
        Some(429) => ErrorKind::Throttled,
        Some(s) if s >= 500 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// Collects every item of an SDK paginator (`.into_paginator().items().send()`, or
/// `.into_paginator().send()` for whole pages).
pub async fn collect_all<T, E>(
    stream: PaginationStream<Result<T, SdkError<E, HttpResponse>>>,
) -> Result<Vec<T>, CallError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    stream
        .collect::<Result<Vec<T>, _>>()
        .await
        .map_err(|e| CallError::from_sdk(&e))
}

/// Most pages [`paginate`] reads before giving up (a token that never ends).
pub const MAX_PAGES: usize = 10_000;

/// Walks a `NextToken`-style listing that has no SDK paginator: `page(token)` returns a page's
/// items and the next token; an absent or empty token ends the listing. A token repeating the
/// previous one, or more than [`MAX_PAGES`] pages, is an error rather than an endless loop.
pub async fn paginate<T, F, Fut>(mut page: F) -> Result<Vec<T>, CallError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), CallError>>,
{
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let (items, next) = page(token.clone()).await?;
        out.extend(items);
        match next.filter(|t| !t.is_empty()) {
            None => return Ok(out),
            Some(t) if Some(&t) == token.as_ref() => {
                return Err(CallError::new(
                    ErrorKind::Other,
                    "the listing returned the same page token twice",
                ))
            }
            Some(t) => token = Some(t),
        }
    }
    Err(CallError::new(
        ErrorKind::Other,
        format!("the listing did not end after {MAX_PAGES} pages"),
    ))
}

/// Exponential backoff (250 ms doubling to 4 s) within a fixed window.
#[derive(Debug)]
pub struct Backoff {
    deadline: Instant,
    delay: Duration,
    started: Instant,
}

impl Backoff {
    pub fn new(window: Duration) -> Backoff {
        let now = Instant::now();
        Backoff {
            deadline: now + window,
            delay: Duration::from_millis(250),
            started: now,
        }
    }

    /// Sleeps before the next attempt; `false` (without sleeping) once the window is spent.
    pub async fn wait(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        let pause = self.delay.min(self.deadline - now);
        tokio::time::sleep(pause).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(4));
        true
    }

    /// Time since the first attempt.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// What [`retry_not_found`] ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Retried<T> {
    /// The call succeeded (perhaps after retries).
    Found(T),
    /// Still not found when the window was spent: the last error and how long it waited.
    NotFound { waited: Duration, error: CallError },
    /// Another failure (not retried).
    Failed(CallError),
}

/// Retries `call` while it fails with [`ErrorKind::NotFound`] (a resource created a moment ago
/// may not be visible yet: IAM and EC2 are eventually consistent), with [`Backoff`] within
/// `window`. Any other failure ends at once.
pub async fn retry_not_found<T, F, Fut>(window: Duration, mut call: F) -> Retried<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut backoff = Backoff::new(window);
    loop {
        match call().await {
            Ok(v) => return Retried::Found(v),
            Err(e) if e.is_not_found() => {
                if !backoff.wait().await {
                    return Retried::NotFound {
                        waited: backoff.elapsed(),
                        error: e,
                    };
                }
                tracing::info!(error = %e, "not found yet, retrying (eventual consistency)");
            }
            Err(e) => return Retried::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn codes_and_statuses_classify() {
        let k = |c: Option<&str>, s: Option<u16>| classify(c, s);
        assert_eq!(k(Some("NoSuchKey"), Some(404)), ErrorKind::NotFound);
        assert_eq!(k(Some("NoSuchEntity"), Some(404)), ErrorKind::NotFound);
        assert_eq!(
            k(Some("InvalidGroup.NotFound"), Some(400)),
            ErrorKind::NotFound
        );
        assert_eq!(
            k(Some("InvalidPermission.NotFound"), Some(400)),
            ErrorKind::NotFound
        );
        assert_eq!(k(None, Some(404)), ErrorKind::NotFound);
        assert_eq!(k(Some("AccessDenied"), Some(403)), ErrorKind::AccessDenied);
        assert_eq!(
            k(Some("UnauthorizedOperation"), Some(403)),
            ErrorKind::AccessDenied
        );
        assert_eq!(k(None, Some(403)), ErrorKind::AccessDenied);
        assert_eq!(k(Some("Throttling"), Some(400)), ErrorKind::Throttled);
        assert_eq!(
            k(Some("RequestLimitExceeded"), Some(503)),
            ErrorKind::Throttled
        );
        assert_eq!(k(Some("SlowDown"), Some(503)), ErrorKind::Throttled);
        assert_eq!(k(None, Some(429)), ErrorKind::Throttled);
        assert_eq!(k(Some("InternalError"), Some(500)), ErrorKind::Transient);
        assert_eq!(k(None, Some(502)), ErrorKind::Transient);
        assert_eq!(k(Some("DeleteConflict"), Some(409)), ErrorKind::Other);
        assert_eq!(k(Some("ValidationError"), Some(400)), ErrorKind::Other);
        assert_eq!(k(None, None), ErrorKind::Other);
    }

    #[test]
    fn sdk_service_errors_keep_code_status_and_message() {
        use aws_sdk_s3::operation::get_object::GetObjectError;
        use aws_smithy_types::body::SdkBody;
        let raw = HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(404).unwrap(),
            SdkBody::empty(),
        );
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("NoSuchKey")
            .message("The specified key does not exist.")
            .build();
        let err: SdkError<GetObjectError, HttpResponse> =
            SdkError::service_error(GetObjectError::generic(meta), raw);
        let e = CallError::from_sdk(&err);
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.code.as_deref(), Some("NoSuchKey"));
        assert_eq!(e.status, Some(404));
        assert_eq!(
            e.to_string(),
            "NoSuchKey: The specified key does not exist."
        );
        assert!(e.is("NoSuchKey") && e.is_not_found() && !e.is_retryable());
        assert_eq!(
            e.context("s3:GetObject s3://b/k").to_string(),
            "s3:GetObject s3://b/k: NoSuchKey: The specified key does not exist."
        );

        let timeout: SdkError<GetObjectError, HttpResponse> =
            SdkError::timeout_error("attempt timed out");
        let e = CallError::from_sdk(&timeout);
        assert_eq!(e.kind, ErrorKind::Transient);
        assert!(e.is_retryable());
    }

    #[tokio::test]
    async fn paginate_follows_tokens_and_stops_on_repeats() {
        let pages = |token: Option<String>| async move {
            Ok(match token.as_deref() {
                None => (vec![1, 2], Some("a".to_string())),
                Some("a") => (vec![3], Some("b".to_string())),
                _ => (vec![4], Some(String::new())),
            })
        };
        assert_eq!(paginate(pages).await.unwrap(), vec![1, 2, 3, 4]);
        let stuck = |_t: Option<String>| async { Ok((vec![0], Some("same".to_string()))) };
        assert!(paginate(stuck)
            .await
            .unwrap_err()
            .message
            .contains("same page token"));
        let failing = |_t: Option<String>| async {
            Err::<(Vec<u8>, Option<String>), _>(CallError::new(ErrorKind::Throttled, "slow"))
        };
        assert_eq!(
            paginate(failing).await.unwrap_err().kind,
            ErrorKind::Throttled
        );
    }

    #[tokio::test]
    async fn not_found_is_retried_within_the_window_only() {
        let calls = AtomicUsize::new(0);
        let r = retry_not_found(Duration::from_secs(5), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(CallError::new(ErrorKind::NotFound, "NoSuchEntity"))
            } else {
                Ok("user")
            }
        })
        .await;
        assert_eq!(r, Retried::Found("user"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let r: Retried<()> = retry_not_found(Duration::from_millis(600), || async {
            Err(CallError::new(ErrorKind::NotFound, "NoSuchEntity"))
        })
        .await;
        assert!(matches!(r, Retried::NotFound { .. }), "{r:?}");

        let calls = AtomicUsize::new(0);
        let r: Retried<()> = retry_not_found(Duration::from_secs(5), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(CallError::new(ErrorKind::AccessDenied, "AccessDenied"))
        })
        .await;
        assert!(matches!(r, Retried::Failed(e) if e.is_access_denied()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
