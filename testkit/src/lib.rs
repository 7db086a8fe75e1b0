//! Test support: moto (`moto_server`) on 127.0.0.1 standing in for AWS, an alert inbox
//! (an SNS topic with a subscribed SQS queue) to read published alerts back, and a tiny HTTP
//! server ([`http::HttpStub`]) standing in for webhook and PagerDuty endpoints.
//!
//! The server is the one named by `TRAILWARDEN_MOTO_ENDPOINT` when that is set (the test
//! script starts one for the whole run), otherwise one started here from the project's
//! virtualenv (`TRAILWARDEN_VENV/bin/moto_server`, else `moto_server` on `PATH`) on a free
//! port, which stops when the test process ends. Tests take [`Moto::start`], which
//! serialises them within a process and resets the server's state.
#![forbid(unsafe_code)]

pub mod faults;
pub mod harness;
pub mod http;
pub mod mutate;
pub mod sdk;

pub use harness::{alerting_service, config, env, fixture, invoke, payload, plan, service};

use anyhow::{bail, Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::config::Credentials;
use serde_json::Value;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

/// A command (the `trailwarden` binary, usually) that calls AWS at `endpoint` (moto, or a
/// fault proxy in front of it) in us-east-1 with test credentials, and none of the caller's
/// own AWS settings (profile, session token, instance metadata).
pub fn aws_command(bin: impl AsRef<std::ffi::OsStr>, endpoint: &str) -> Command {
    let mut c = Command::new(bin);
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(Stdio::null());
    c
}

/// A finished command's exit code (-1 when a signal ended it), stdout and stderr.
pub fn outcome(out: &std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";

static ENDPOINT: OnceLock<std::result::Result<String, String>> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::const_new(());

/// A reset moto server, held exclusively by one test until dropped.
pub struct Moto {
    pub endpoint: String,
    _guard: MutexGuard<'static, ()>,
}

fn reachable(endpoint: &str) -> bool {
    let addr = endpoint.trim_start_matches("http://");
    std::net::TcpStream::connect_timeout(
        &addr
            .parse()
            .unwrap_or_else(|_| "127.0.0.1:1".parse().unwrap()),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Starts moto through `scripts/moto.sh` (the one place moto is started), which keeps it up
/// until this test process exits and prints its endpoint.
fn spawn_moto() -> std::result::Result<String, String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/moto.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg("--serve-for")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or("no stdout from scripts/moto.sh")?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .map_err(|e| format!("reading the endpoint from scripts/moto.sh: {e}"))?;
    let endpoint = line.trim().to_string();
    if !endpoint.starts_with("http://127.0.0.1:") || !reachable(&endpoint) {
        return Err(format!(
            "scripts/moto.sh did not start moto_server (it said {endpoint:?}); run the tests \
             through scripts/test.sh, which installs it into the project's virtualenv"
        ));
    }
    Ok(endpoint)
}

fn endpoint() -> Result<String> {
    ENDPOINT
        .get_or_init(|| match std::env::var("TRAILWARDEN_MOTO_ENDPOINT") {
            Ok(e) if !e.trim().is_empty() => Ok(e.trim().trim_end_matches('/').to_string()),
            _ => spawn_moto(),
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

impl Moto {
    /// Waits for exclusive use of the server, then resets it.
    pub async fn start() -> Result<Moto> {
        let guard = LOCK.lock().await;
        let endpoint = tokio::task::spawn_blocking(endpoint).await??;
        let url = format!("{endpoint}/moto-api/reset");
        let out = tokio::process::Command::new("curl")
            .args(["-s", "-f", "-X", "POST", &url])
            .output()
            .await;
        match out {
            Ok(o) if o.status.success() => {}
            _ => reset_with_tcp(&endpoint).await?,
        }
        Ok(Moto {
            endpoint,
            _guard: guard,
        })
    }

    /// SDK configuration pointing every client at this server.
    pub fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_in(REGION)
    }

    /// The same, in another region.
    pub fn sdk_config_in(&self, region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_sns::config::SharedCredentialsProvider::new(
                Credentials::new("testing", "testing", None, None, "trailwarden-testkit"),
            ))
            .build()
    }

    /// An alert inbox named `name` on this server.
    pub async fn alert_inbox(&self, name: &str) -> AlertInbox {
        AlertInbox::create(&self.sdk_config(), name).await.unwrap()
    }

    /// SDK configuration acting in `account` (in `region`), as an administrator reaches a
    /// member account: by assuming its `OrganizationAccountAccessRole`, with aws-config's own
    /// loader (independent of the code under test). `None`: the tooling account itself.
    pub async fn in_account(&self, account: Option<&str>, region: &str) -> SdkConfig {
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .load()
            .await;
        let Some(account) = account else {
            return base;
        };
        let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .configure(&base)
        .session_name("test-administrator")
        .build()
        .await;
        base.to_builder()
            .credentials_provider(aws_sdk_sns::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build()
    }
}

/// Resets moto with a hand-written HTTP request (when curl is not installed).
async fn reset_with_tcp(endpoint: &str) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to moto at {endpoint}"))?;
    let req = format!(
        "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let head = String::from_utf8_lossy(&buf);
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("moto reset answered: {}", head.lines().next().unwrap_or(""));
    }
    Ok(())
}

/// One alert as an SQS subscriber of the alert topic received it.
#[derive(Debug, Clone)]
pub struct ReceivedAlert {
    pub subject: String,
    /// The JSON alert body (the `default` message).
    pub body: Value,
    /// SNS message attributes, name -> string value.
    pub attributes: HashMap<String, String>,
}

/// An SNS topic with an SQS queue subscribed to it.
pub struct AlertInbox {
    pub topic_arn: String,
    pub queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl AlertInbox {
    pub async fn create(cfg: &SdkConfig, name: &str) -> Result<AlertInbox> {
        let sns = aws_sdk_sns::Client::new(cfg);
        let sqs = aws_sdk_sqs::Client::new(cfg);
        let topic_arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .context("create topic")?
            .topic_arn()
            .context("topic arn")?
            .to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{name}-inbox"))
            .send()
            .await
            .context("create queue")?
            .queue_url()
            .context("queue url")?
            .to_string();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .context("queue arn")?
            .clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .context("subscribe")?;
        Ok(AlertInbox {
            topic_arn,
            queue_url,
            sqs,
        })
    }

    /// Reads every alert that arrives until `expected` were read or `timeout` passed.
    pub async fn receive(&self, expected: usize, timeout: Duration) -> Result<Vec<ReceivedAlert>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < expected && Instant::now() < deadline {
            let r = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await?;
            for m in r.messages() {
                out.push(parse_notification(m.body().unwrap_or_default())?);
                if let Some(h) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(h)
                        .send()
                        .await?;
                }
            }
        }
        Ok(out)
    }

    /// Exactly the next `expected` alerts (waiting up to 15 s for them); panics, listing them,
    /// when any more arrive.
    pub async fn receive_only(&self, expected: usize) -> Vec<ReceivedAlert> {
        let got = self
            .receive(expected, Duration::from_secs(15))
            .await
            .unwrap();
        let extra = self.drain().await.unwrap();
        assert!(extra.is_empty(), "more alerts than {expected}: {extra:?}");
        got
    }

    /// Everything that arrived within a short wait (for asserting that nothing was sent).
    pub async fn drain(&self) -> Result<Vec<ReceivedAlert>> {
        self.receive(usize::MAX, Duration::from_secs(2)).await
    }
}

/// For each alert, whether its subject marks it as a dry run's, sorted (unmarked first).
pub fn dry_run_marks(alerts: &[ReceivedAlert]) -> Vec<bool> {
    let mut marked: Vec<bool> = alerts
        .iter()
        .map(|a| a.subject.contains("[dry-run]"))
        .collect();
    marked.sort();
    marked
}

/// The one alert of `alerts` raised by `detection`; panics, listing them all, when there is
/// not exactly one.
pub fn only_detection<'a>(alerts: &'a [ReceivedAlert], detection: &str) -> &'a ReceivedAlert {
    let found: Vec<&ReceivedAlert> = alerts
        .iter()
        .filter(|a| a.body["detection"] == detection)
        .collect();
    assert_eq!(found.len(), 1, "{alerts:#?}");
    found[0]
}

/// Parses the SNS notification envelope an SQS subscriber receives.
pub fn parse_notification(body: &str) -> Result<ReceivedAlert> {
    let env: Value = serde_json::from_str(body).context("SNS envelope is not JSON")?;
    let subject = env["Subject"].as_str().unwrap_or_default().to_string();
    let msg = env["Message"].as_str().context("no Message")?;
    let body: Value =
        serde_json::from_str(msg).with_context(|| format!("alert body is not JSON: {msg:.200}"))?;
    let mut attributes = HashMap::new();
    if let Some(m) = env["MessageAttributes"].as_object() {
        for (k, v) in m {
            if let Some(s) = v["Value"].as_str() {
                attributes.insert(k.clone(), s.to_string());
            }
        }
    }
    Ok(ReceivedAlert {
        subject,
        body,
        attributes,
    })
}
