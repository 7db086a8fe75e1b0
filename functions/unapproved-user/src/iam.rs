//! Small helpers around SDK calls: error classification, bounded backoff, pagination.

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use std::fmt;
use std::time::{Duration, Instant};

/// An SDK call that failed: the AWS error code when there is one, and a readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub code: Option<String>,
    pub status: Option<u16>,
    pub message: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl CallError {
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
                    code,
                    status: Some(status),
                    message,
                }
            }
            other => CallError {
                code: None,
                status: other.raw_response().map(|r| r.status().as_u16()),
                message: DisplayErrorContext(other).to_string(),
            },
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// IAM's "no such user / key / policy" answer.
    pub fn no_such_entity(&self) -> bool {
        self.is("NoSuchEntity")
    }
}

/// Collects every item of a paginated listing.
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

/// Formats an SDK date as RFC 3339.
pub fn date(d: &aws_sdk_iam::primitives::DateTime) -> String {
    d.fmt(aws_sdk_iam::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{} seconds since the epoch", d.secs()))
}
