//! A small HTTPS client for PagerDuty and webhooks, on the hyper/rustls stack the AWS SDK
//! already brings, with bounded retries.
//!
//! Each attempt has a timeout; connection failures, time-outs, 408, 425, 429 and 5xx are
//! retried with exponential backoff and jitter (honouring a short `Retry-After`), up to the
//! destination's `max_attempts`; any other answer is final. The request is built again for
//! every attempt, so a signature can carry a fresh timestamp.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::OnceLock;
use std::time::Duration;

/// Longest one attempt may take (connect, send, answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);
/// Most of an answer's body kept (for the delivery record).
pub const MAX_ANSWER_BYTES: usize = 2048;

/// Backoff between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(300),
            max: Duration::from_secs(4),
        }
    }
}

impl Backoff {
    /// The wait before attempt `n + 1` (n starting at 1): doubling, with up to 25 % jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let base = self
            .first
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.max);
        let jitter = rand::random::<f64>() * 0.25;
        base.mul_f64(1.0 + jitter).min(self.max)
    }
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The final answer of a sequence of attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The start of the body (lossy UTF-8).
    pub body: String,
}

impl Answer {
    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// What the attempts came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    /// The last answer, or the last transport error.
    pub result: Result<Answer, String>,
    pub attempts: u32,
    /// One line per attempt that failed, for the log and the record.
    pub history: Vec<String>,
}

fn retryable(status: u16) -> bool {
    matches!(status, 408 | 425 | 429) || (500..600).contains(&status)
}

type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The HTTPS client (built on first use: no TLS set-up when no HTTP destination is used).
#[derive(Default)]
pub struct HttpClient {
    client: OnceLock<Result<HyperClient, String>>,
    pub backoff: Backoff,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("backoff", &self.backoff)
            .finish()
    }
}

fn build() -> Result<HyperClient, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!(
            "no trusted root certificates found on this system ({} errors loading them)",
            native.errors.len()
        ));
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS set-up: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(4)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

impl HttpClient {
    pub fn new(backoff: Backoff) -> HttpClient {
        HttpClient {
            client: OnceLock::new(),
            backoff,
        }
    }

    fn client(&self) -> Result<&HyperClient, String> {
        self.client
            .get_or_init(build)
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn once(&self, req: Request) -> Result<Answer, String> {
        let client = self.client()?;
        let mut builder = hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let request = builder
            .body(Full::new(Bytes::from(req.body)))
            .map_err(|e| format!("request: {e}"))?;
        let call = async {
            let response = client.request(request).await.map_err(|e| {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    src = s.source();
                }
                msg
            })?;
            let status = response.status().as_u16();
            // Only the start of the body matters; a larger one is cut, not an error.
            let body = match Limited::new(response.into_body(), 64 * 1024)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::new(),
            };
            let mut text =
                String::from_utf8_lossy(&body[..body.len().min(MAX_ANSWER_BYTES)]).into_owned();
            if body.len() > MAX_ANSWER_BYTES {
                text.push_str("...");
            }
            Ok::<_, String>(Answer { status, body: text })
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, call).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
        }
    }

    /// Sends `make(attempt)` until an answer is final or `max_attempts` are used.
    pub async fn send(&self, max_attempts: u32, make: impl Fn(u32) -> Request) -> Attempted {
        let max_attempts = max_attempts.max(1);
        let mut history = Vec::new();
        let mut n = 0;
        loop {
            n += 1;
            let result = self.once(make(n)).await;
            let (ok, again) = match &result {
                Ok(a) => (a.success(), !a.success() && retryable(a.status)),
                Err(_) => (false, true),
            };
            if !ok {
                history.push(match &result {
                    Ok(a) => format!("attempt {n}: HTTP {}", a.status),
                    Err(e) => format!("attempt {n}: {e}"),
                });
            }
            if !again || n >= max_attempts {
                return Attempted {
                    result,
                    attempts: n,
                    history,
                };
            }
            tokio::time::sleep(self.backoff.delay(n)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        let d1 = b.delay(1);
        let d3 = b.delay(3);
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(125));
        assert!(d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(500));
        assert_eq!(b.delay(20), Duration::from_millis(1000));
    }

    #[test]
    fn only_transient_answers_are_retried() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(retryable(s), "{s}");
        }
        for s in [200, 202, 400, 401, 403, 404, 413] {
            assert!(!retryable(s), "{s}");
        }
    }
}
