//! A faulting HTTP proxy in front of moto: AWS as it behaves on a bad day.
//!
//! [`FaultProxy::start`] listens on 127.0.0.1 and forwards every request to the upstream
//! (moto). Requests are named by their operation: the `X-Amz-Target` suffix (JSON protocols),
//! the `Action` form field (query protocols: IAM, EC2, SNS), else `METHOD /path` (S3). A
//! [`Rule`] answers the first N requests for an operation (or all of them) with a [`Fault`]:
//! the service's own throttling error, a 5xx, any AWS error code, a delay (longer than the
//! client's attempt timeout, a timeout), or moto's real answer replaced by an error after
//! the request was carried out (a lost response). Every request is logged with its time, so
//! tests can assert that the SDK retried, and how long it waited between attempts.
//!
//! [`FaultProxy::sdk_config`] points the SDK at the proxy with the retry settings the
//! functions use in Lambda ([`trailwarden::aws::MAX_ATTEMPTS`], standard mode).

use anyhow::{Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::config::{Credentials, SharedCredentialsProvider};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does instead of (or besides) forwarding a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling error: IAM/SNS `Throttling` (HTTP 400), EC2
    /// `RequestLimitExceeded` (HTTP 503, as EC2 sends it), JSON protocols
    /// `ThrottlingException` (HTTP 400), S3 `SlowDown` (HTTP 503).
    Throttle,
    /// This HTTP status with a generic server error (`InternalFailure` for 500,
    /// `ServiceUnavailable` otherwise).
    Status(u16),
    /// An error response with this status and AWS error code (e.g. 409 `DeleteConflict`,
    /// 404 `NoSuchEntity`).
    Error { status: u16, code: String },
    /// Holds the request this long, then forwards it. Longer than the client's attempt
    /// timeout, this is a timeout; the request is still carried out, as a real service may.
    Delay(Duration),
    /// Forwards the request (moto carries it out), then answers with this fault instead of
    /// moto's answer: the change happened but the client saw an error.
    LostResponse(Box<Fault>),
    /// Answers with this status and XML body without forwarding: stands in for an operation
    /// moto does not implement (see [`Fault::empty_iam_list`]).
    Canned { status: u16, body: String },
}

impl Fault {
    /// IAM's answer to a `List<What>` action that found nothing, e.g.
    /// `empty_iam_list("ListServiceSpecificCredentials", "ServiceSpecificCredentials")`
    /// (moto answers that one with HTTP 500).
    pub fn empty_iam_list(action: &str, member: &str) -> Fault {
        Fault::Canned {
            status: 200,
            body: format!(
                r#"<{action}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><{action}Result><{member}/><IsTruncated>false</IsTruncated></{action}Result><ResponseMetadata><RequestId>faultproxy-canned</RequestId></ResponseMetadata></{action}Response>"#
            ),
        }
    }

    /// An AWS error code answer.
    pub fn error(status: u16, code: &str) -> Fault {
        Fault::Error {
            status,
            code: code.to_string(),
        }
    }
}

/// Which requests a rule applies to, and how often.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Operation name (`DeleteUser`), or a prefix ending in `*` (`PUT /bucket/*`).
    pub operation: String,
    pub fault: Fault,
    /// Applies to the first `times` matching requests; `None`: to every one.
    pub times: Option<u32>,
    fired: u32,
}

impl Rule {
    /// A rule for every request of `operation`.
    pub fn always(operation: &str, fault: Fault) -> Rule {
        Rule {
            operation: operation.to_string(),
            fault,
            times: None,
            fired: 0,
        }
    }

    /// A rule for the first `n` requests of `operation`.
    pub fn first(n: u32, operation: &str, fault: Fault) -> Rule {
        Rule {
            times: Some(n),
            ..Rule::always(operation, fault)
        }
    }

    fn applies(&self, op: &str) -> bool {
        let name_matches = match self.operation.strip_suffix('*') {
            Some(prefix) => op.starts_with(prefix),
            None => op == self.operation,
        };
        name_matches && self.times.is_none_or(|n| self.fired < n)
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub operation: String,
    /// When the request had been read completely.
    pub at: Instant,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    ids: AtomicU64,
}

/// The proxy; stops when dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the fault proxy")?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            ids: AtomicU64::new(1),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, s).await;
                });
            }
        });
        Ok(FaultProxy {
            endpoint,
            shared,
            task,
        })
    }

    /// Starts a proxy forwarding to `upstream`, with `rules` added in order.
    pub async fn start_with(upstream: &str, rules: Vec<Rule>) -> Result<FaultProxy> {
        let proxy = FaultProxy::start(upstream).await?;
        for r in rules {
            proxy.add(r);
        }
        Ok(proxy)
    }

    /// Adds a rule (rules are tried in the order added; the first that applies wins).
    pub fn add(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every rule: from now on every request is forwarded untouched.
    pub fn heal(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Forgets the requests seen so far.
    pub fn reset_counts(&self) {
        lock(&self.shared.seen).clear();
    }

    /// Every request seen, in order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// How many requests of `operation` arrived (attempts, retries included).
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.shared.seen)
            .iter()
            .filter(|s| s.operation == operation)
            .count()
    }

    /// How many requests of `operation` were answered with a fault.
    pub fn faulted(&self, operation: &str) -> usize {
        lock(&self.shared.seen)
            .iter()
            .filter(|s| s.operation == operation && s.fault.is_some())
            .count()
    }

    /// Times between consecutive requests of `operation` (the client's backoff plus the
    /// round trip).
    pub fn gaps(&self, operation: &str) -> Vec<Duration> {
        let times: Vec<Instant> = lock(&self.shared.seen)
            .iter()
            .filter(|s| s.operation == operation)
            .map(|s| s.at)
            .collect();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// SDK configuration pointing every client at the proxy, with the retry settings the
    /// functions use in Lambda.
    pub fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_with(
            RetryConfig::standard().with_max_attempts(trailwarden::aws::MAX_ATTEMPTS),
        )
    }

    /// The same with other retry settings.
    pub fn sdk_config_with(&self, retry: RetryConfig) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(crate::REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "trailwarden-testkit",
            )))
            .retry_config(retry)
            .build()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One HTTP/1.1 message as read: its head (up to and including the blank line) and body.
struct Message {
    head: String,
    body: Vec<u8>,
    /// The raw body bytes as sent (chunked encoding kept), for forwarding.
    raw_body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn start_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }
}

/// Reads one message from `r`, with `buf` holding bytes already read past the previous one.
/// `Ok(None)` on a clean end of stream before any byte of a new message.
async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    body_expected: impl Fn(&str) -> bool,
) -> Result<Option<Message>> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            anyhow::bail!("connection closed inside a message head");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let mut msg = Message {
        head,
        body: Vec::new(),
        raw_body: Vec::new(),
    };
    if !body_expected(msg.start_line()) {
        return Ok(Some(msg));
    }
    let chunked = msg
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                fill(r, buf).await?;
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .context("bad chunk size")?;
            let need = line_end + 2 + size + 2;
            while buf.len() < need {
                fill(r, buf).await?;
            }
            msg.body
                .extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            msg.raw_body.extend(buf.drain(..need));
            if size == 0 {
                break;
            }
        }
    } else if let Some(len) = msg.header("content-length") {
        let len: usize = len.parse().context("bad content-length")?;
        while buf.len() < len {
            fill(r, buf).await?;
        }
        msg.body = buf.drain(..len).collect();
        msg.raw_body = msg.body.clone();
    } else if !msg.start_line().starts_with("HTTP/") {
        // A request without a length has no body.
    } else {
        // A response without a length ends with the connection.
        r.read_to_end(buf).await?;
        msg.body = std::mem::take(buf);
        msg.raw_body = msg.body.clone();
    }
    Ok(Some(msg))
}

async fn fill<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = r.read(&mut chunk).await?;
    anyhow::ensure!(n > 0, "connection closed inside a message body");
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// How the service behind a request speaks, for error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// awsJson (`X-Amz-Target`).
    Json,
    /// EC2's query protocol.
    Ec2,
    /// awsQuery (IAM, SNS, STS).
    Query,
    /// REST-XML (S3).
    RestXml,
}

fn form_value(body: &[u8], key: &str) -> Option<String> {
    String::from_utf8_lossy(body).split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// The operation name and protocol of a request.
fn classify(req: &Message) -> (String, Protocol) {
    if let Some(t) = req.header("x-amz-target") {
        let op = t.rsplit('.').next().unwrap_or(t).to_string();
        return (op, Protocol::Json);
    }
    if let Some(action) = form_value(&req.body, "Action") {
        let ec2 = form_value(&req.body, "Version").as_deref() == Some("2016-11-15");
        return (action, if ec2 { Protocol::Ec2 } else { Protocol::Query });
    }
    let mut parts = req.start_line().split_whitespace();
    let method = parts.next().unwrap_or("?");
    let target = parts.next().unwrap_or("/");
    let path = target.split('?').next().unwrap_or(target);
    (format!("{method} {path}"), Protocol::RestXml)
}

fn error_response(protocol: Protocol, status: u16, code: &str, request_id: &str) -> Vec<u8> {
    let message = format!("injected by the trailwarden fault proxy: {code}");
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let (content_type, body) = match protocol {
        Protocol::Json => (
            "application/x-amz-json-1.0",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        ),
        Protocol::Ec2 => (
            "text/xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"#
            ),
        ),
        Protocol::Query => (
            "text/xml",
            format!(
                r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"#,
                if status >= 500 { "Receiver" } else { "Sender" }
            ),
        ),
        Protocol::RestXml => (
            "application/xml",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"#
            ),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-amzn-requestid: {request_id}\r\nx-amz-request-id: {request_id}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The answer a fault gives (for faults that answer by themselves).
fn fault_response(fault: &Fault, protocol: Protocol, request_id: &str) -> Option<Vec<u8>> {
    match fault {
        Fault::Throttle => Some(match protocol {
            Protocol::Ec2 => error_response(protocol, 503, "RequestLimitExceeded", request_id),
            Protocol::RestXml => error_response(protocol, 503, "SlowDown", request_id),
            Protocol::Json => error_response(protocol, 400, "ThrottlingException", request_id),
            Protocol::Query => error_response(protocol, 400, "Throttling", request_id),
        }),
        Fault::Status(s) => {
            let code = if *s == 500 {
                "InternalFailure"
            } else {
                "ServiceUnavailable"
            };
            Some(error_response(protocol, *s, code, request_id))
        }
        Fault::Error { status, code } => Some(error_response(protocol, *status, code, request_id)),
        Fault::Delay(_) => None,
        Fault::LostResponse(inner) => fault_response(inner, protocol, request_id),
        Fault::Canned { status, body } => {
            let mut out = format!(
                "HTTP/1.1 {status} Canned\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nx-amzn-requestid: {request_id}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(body.as_bytes());
            Some(out)
        }
    }
}

/// Sends a request to the upstream on a fresh connection and returns its raw answer.
async fn forward(upstream: &str, req: &Message) -> Result<Vec<u8>> {
    let mut conn = TcpStream::connect(upstream)
        .await
        .with_context(|| format!("connecting to {upstream}"))?;
    let mut head = String::new();
    for (i, line) in req.head.trim_end().split("\r\n").enumerate() {
        if i > 0 {
            let name = line.split(':').next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
                continue;
            }
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("connection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(&req.raw_body).await?;
    let is_head = req.start_line().starts_with("HEAD ");
    let mut buf = Vec::new();
    let resp = read_message(&mut conn, &mut buf, |status_line| {
        let code = status_line.split_whitespace().nth(1).unwrap_or("");
        !is_head && code != "204" && code != "304" && !code.starts_with('1')
    })
    .await?
    .context("the upstream closed without answering")?;
    // Answer the client as the upstream did, but keep the client's connection open.
    let mut out = String::new();
    for (i, line) in resp.head.trim_end().split("\r\n").enumerate() {
        if i > 0 {
            let name = line.split(':').next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
                continue;
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    // A response whose length was "until the connection closes" gets one.
    let delimited = resp.header("content-length").is_some()
        || resp.header("transfer-encoding").is_some()
        || is_head;
    if !delimited {
        out.push_str(&format!("content-length: {}\r\n", resp.raw_body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&resp.raw_body);
    Ok(bytes)
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>) -> Result<()> {
    let mut buf = Vec::new();
    while let Some(req) = read_message(&mut client, &mut buf, |_| true).await? {
        let (operation, protocol) = classify(&req);
        let fault = {
            let mut rules = lock(&shared.rules);
            rules.iter_mut().find(|r| r.applies(&operation)).map(|r| {
                r.fired += 1;
                r.fault.clone()
            })
        };
        lock(&shared.seen).push(Seen {
            operation: operation.clone(),
            at: Instant::now(),
            fault: fault.clone(),
        });
        let request_id = format!(
            "faultproxy-{:08}",
            shared.ids.fetch_add(1, Ordering::Relaxed)
        );
        let answer = match &fault {
            None => forward(&shared.upstream, &req).await?,
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(*d).await;
                forward(&shared.upstream, &req).await?
            }
            Some(Fault::LostResponse(inner)) => {
                forward(&shared.upstream, &req).await?;
                fault_response(inner, protocol, &request_id).unwrap_or_default()
            }
            Some(f) => fault_response(f, protocol, &request_id).unwrap_or_default(),
        };
        if client.write_all(&answer).await.is_err() {
            // The client gave up (its attempt timed out): nothing more to say.
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(head: &str, body: &str) -> Message {
        Message {
            head: head.to_string(),
            body: body.as_bytes().to_vec(),
            raw_body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn operations_are_named_by_target_action_or_path() {
        let (op, p) = classify(&msg(
            "POST / HTTP/1.1\r\nX-Amz-Target: AmazonSQS.ReceiveMessage\r\n\r\n",
            "{}",
        ));
        assert_eq!((op.as_str(), p), ("ReceiveMessage", Protocol::Json));
        let (op, p) = classify(&msg(
            "POST / HTTP/1.1\r\n\r\n",
            "Action=DeleteUser&UserName=mallory&Version=2010-05-08",
        ));
        assert_eq!((op.as_str(), p), ("DeleteUser", Protocol::Query));
        let (op, p) = classify(&msg(
            "POST / HTTP/1.1\r\n\r\n",
            "Action=RevokeSecurityGroupIngress&Version=2016-11-15",
        ));
        assert_eq!(
            (op.as_str(), p),
            ("RevokeSecurityGroupIngress", Protocol::Ec2)
        );
        let (op, p) = classify(&msg(
            "PUT /bucket/a/b.json?x-id=PutObject HTTP/1.1\r\n\r\n",
            "",
        ));
        assert_eq!(
            (op.as_str(), p),
            ("PUT /bucket/a/b.json", Protocol::RestXml)
        );
    }

    #[test]
    fn rules_apply_to_the_first_n_matching_requests() {
        let mut r = Rule::first(2, "PUT /bucket/*", Fault::Throttle);
        assert!(r.applies("PUT /bucket/key"));
        assert!(!r.applies("GET /bucket/key"));
        r.fired = 2;
        assert!(!r.applies("PUT /bucket/key"));
        assert!(Rule::always("DeleteUser", Fault::Status(503)).applies("DeleteUser"));
        assert!(!Rule::always("DeleteUser", Fault::Status(503)).applies("DeleteUserPolicy"));
    }

    #[test]
    fn throttling_bodies_carry_each_protocols_code() {
        let b = String::from_utf8(fault_response(&Fault::Throttle, Protocol::Query, "r1").unwrap())
            .unwrap();
        assert!(b.starts_with("HTTP/1.1 400 "), "{b}");
        assert!(b.contains("<Code>Throttling</Code>"), "{b}");
        let b = String::from_utf8(fault_response(&Fault::Throttle, Protocol::Ec2, "r1").unwrap())
            .unwrap();
        assert!(b.contains("<Code>RequestLimitExceeded</Code>"), "{b}");
        let len: usize = b
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, b.split("\r\n\r\n").nth(1).unwrap().len());
    }
}
