//! The one test harness every function crate uses: sample events from `events/`, a
//! configuration from `(variable, value)` pairs, and a function built and invoked exactly as
//! Lambda builds and invokes it (through [`trailwarden::lambda::Service`]).

use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use trailwarden::lambda::Service;
use trailwarden::respond::{self, Outcome, Responder, Settings};
use trailwarden::Payload;

/// The repository's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// A sample event from `events/` as JSON (`name` relative to `events/`).
pub fn fixture(name: &str) -> Value {
    let path = events_dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A sample event from `events/`, parsed as the functions parse it.
pub fn payload(name: &str) -> Payload {
    Payload::from_value(fixture(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// A CloudTrail record of a `DeleteLogGroup` made by a session of the IAM role `role` in
/// account `account`, sending Terraform's user agent: what a deployment pipeline writes, and
/// what anyone copying its user agent writes too.
pub fn terraform_log_group_deletion(account: &str, role: &str, event_id: &str) -> Value {
    serde_json::json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": format!("AROA4EXAMPLE{}ROLE:apply", role.len()),
            "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/apply"),
            "accountId": account,
            "accessKeyId": "ASIA4EXAMPLE6TEMPKEY",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": format!("AROA4EXAMPLE{}ROLE", role.len()),
                    "arn": format!("arn:aws:iam::{account}:role/{role}"),
                    "accountId": account,
                    "userName": role
                },
                "attributes": {"creationDate": "2024-09-12T08:58:40Z", "mfaAuthenticated": "false"}
            }
        },
        "eventTime": "2024-09-12T09:02:11Z",
        "eventSource": "logs.amazonaws.com",
        "eventName": "DeleteLogGroup",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0 aws-sdk-go-v2/1.25.3",
        "requestParameters": {"logGroupName": format!("/app/{role}/requests")},
        "responseElements": null,
        "requestID": format!("{event_id}-request"),
        "eventID": event_id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management"
    })
}

/// An environment from `(variable, value)` pairs (later pairs win).
pub fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A function's configuration from `(variable, value)` pairs; panics with the variable named
/// when it is invalid.
pub fn config<F: Responder>(vars: &[(&str, &str)]) -> F::Config {
    F::Config::from_env(&env(vars)).unwrap_or_else(|e| panic!("{}: {e}", F::NAME))
}

/// The offline plan (no AWS call) of a sample event.
pub fn plan<F: Responder>(vars: &[(&str, &str)], name: &str) -> Outcome<F::Stats> {
    respond::plan_offline::<F>(&config::<F>(vars), &payload(name))
}

/// The function built as Lambda builds it, against `sdk` (moto), with `vars`.
pub async fn service<F: Responder>(
    sdk: &aws_config::SdkConfig,
    vars: &[(&str, &str)],
) -> Result<Service<F>> {
    Service::<F>::from_env(sdk, &env(vars))
        .await
        .with_context(|| format!("building {}", F::NAME))
}

/// The function built against `sdk`, publishing its alerts to `topic`, with `more`
/// variables (later pairs win); panics when it cannot be built.
pub async fn alerting_service<F: Responder>(
    sdk: &aws_config::SdkConfig,
    topic: &str,
    more: &[(&str, &str)],
) -> Service<F> {
    let mut vars = vec![("ALERT_TOPIC_ARN", topic)];
    vars.extend_from_slice(more);
    service::<F>(sdk, &vars).await.unwrap()
}

/// Invokes the function's Lambda handler with a JSON payload, as Lambda does.
pub async fn invoke<F: Responder>(
    service: &Service<F>,
    event: &Value,
) -> std::result::Result<Value, String> {
    service
        .handle(event.clone())
        .await
        .map_err(|e| e.to_string())
}

/// The value of the alert's fact `label`; panics, listing the facts, when it has none.
pub fn fact<'a>(a: &'a trailwarden::alert::Alert, label: &str) -> &'a str {
    a.facts
        .iter()
        .find(|(k, _)| k == label)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no fact {label:?} in {:?}", a.facts))
}

/// Asserts that `text` contains `part`; panics, showing both, when it does not.
#[track_caller]
pub fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "{part:?} not found in:\n{text}");
}

/// Asserts that `text` starts with `prefix`; panics, showing both, when it does not.
#[track_caller]
pub fn assert_starts_with(text: &str, prefix: &str) {
    assert!(
        text.starts_with(prefix),
        "{prefix:?} does not start:\n{text}"
    );
}

/// (step, target, status) of each step of a function's outcome, in order; panics, showing
/// the outcome, when it has no list of steps.
pub fn steps(out: &Value) -> Vec<(String, String, String)> {
    let text = |s: &Value, field: &str| -> String {
        s[field]
            .as_str()
            .unwrap_or_else(|| panic!("step without {field}: {s}"))
            .to_string()
    };
    out["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {out:#}"))
        .iter()
        .map(|s| (text(s, "step"), text(s, "target"), text(s, "status")))
        .collect()
}

/// (step, target) of each step of a function's outcome, in order; none when the outcome has
/// no list of steps.
pub fn step_targets(out: &Value) -> Vec<(String, String)> {
    if !out["steps"].is_array() {
        return Vec::new();
    }
    steps(out).into_iter().map(|(s, t, _)| (s, t)).collect()
}

/// Every file below `root`, as `/`-separated paths relative to it, sorted.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out.sort();
    out
}

/// Puts `body` into `bucket` under `key`; panics when S3 refuses it.
pub async fn put_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("putting s3://{bucket}/{key}: {e:?}"));
}

/// Creates the Secrets Manager secret `name` holding `value`; its ARN.
pub async fn create_secret(sdk: &aws_config::SdkConfig, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating the secret {name}: {e:?}"))
        .arn()
        .expect("a created secret has an ARN")
        .to_string()
}

/// Creates the bucket `bucket` and the trail whose ARN is `trail`, delivering to it with log
/// file validation on (in every region when `multi_region`), and starts its logging; the
/// CloudTrail and S3 clients used.
pub async fn logging_trail(
    sdk: &aws_config::SdkConfig,
    bucket: &str,
    trail: &str,
    multi_region: bool,
) -> (aws_sdk_cloudtrail::Client, aws_sdk_s3::Client) {
    let s3 = trailwarden::aws::s3_client(sdk);
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let ct = aws_sdk_cloudtrail::Client::new(sdk);
    let name = trail.rsplit_once(":trail/").map_or(trail, |(_, name)| name);
    ct.create_trail()
        .name(name)
        .s3_bucket_name(bucket)
        .is_multi_region_trail(multi_region)
        .enable_log_file_validation(true)
        .send()
        .await
        .unwrap();
    ct.start_logging().name(trail).send().await.unwrap();
    (ct, s3)
}

/// Runs the future `make` gives to completion on a thread of its own with a 256 MiB stack, and
/// returns its output: for SDK calls whose deserializers need more stack than a test thread
/// has in a debug build (Security Hub's `ResourceDetails`, hundreds of resource types).
pub async fn on_large_stack<T, Fut>(make: impl FnOnce() -> Fut + Send + 'static) -> T
where
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(make())
            })
            .unwrap()
            .join()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Uploads the committed sample trail (`events/trail`) into `bucket` as CloudTrail wrote it:
/// objects under their keys, digest signatures as user metadata.
pub async fn upload_sample_trail(s3: &aws_sdk_s3::Client, bucket: &str) {
    let root = events_dir().join("trail");
    for key in files_under(&root) {
        if !key.ends_with(".json.gz") {
            continue;
        }
        let mut req = s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(std::fs::read(root.join(&key)).unwrap().into());
        let side = root.join(format!("{key}.metadata.json"));
        if side.exists() {
            let md: HashMap<String, String> =
                serde_json::from_slice(&std::fs::read(side).unwrap()).unwrap();
            for (k, v) in md {
                req = req.metadata(k, v);
            }
        }
        req.send().await.unwrap();
    }
}
