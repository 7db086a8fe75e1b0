//! log-integrity: continuous CloudTrail log file integrity validation.
//!
//! CloudTrail signs an hourly digest of the log files it delivered; AWS only checks it when
//! someone runs `aws cloudtrail validate-logs`. This function checks every digest as it
//! lands in S3 (`Object Created` for a `CloudTrail-Digest/` key, via EventBridge or a classic
//! S3 event notification):
//!
//! - the RSA signature (object metadata `signature`, PKCS#1 v1.5 SHA-256) with the CloudTrail
//!   public key whose fingerprint the digest names;
//! - that the digest sits where it says CloudTrail wrote it;
//! - every log file it lists, streamed and hashed (SHA-256 of the uncompressed content);
//! - the chain: the previous digest exists, is unchanged (hash and signature), and no more
//!   than `MAX_DIGEST_GAP_MINUTES` passed between the two.
//!
//! A bad signature, a modified or missing log file, a moved or modified digest raise one
//! critical alert naming every file concerned; a broken chain or a gap is high. A valid digest
//! is logged and counted (`Outcome::stats`), not alerted. Nothing is ever changed.
//!
//! # Settings
//! - `PUBLIC_KEYS_URI` (optional): `s3://bucket/key`, `file:///path` or a path to a JSON
//!   document in `cloudtrail:ListPublicKeys`' response shape
//!   (`{"PublicKeyList": [{"Value", "Fingerprint", "ValidityStartTime", "ValidityEndTime"}]}`,
//!   what `aws cloudtrail list-public-keys` prints). When set, keys come from it instead of the
//!   API: for emulators without ListPublicKeys (moto), isolated accounts, and tests. Read once
//!   per cold start.
//! - `MAX_DIGEST_GAP_MINUTES` (default 90, 1 to 10080): longest accepted time between the end
//!   of the previous digest's period and the end of this one's. CloudTrail delivers hourly.
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`).
//!
//! The verification core ([`check::check_digest`]) works on any [`store::Store`] and
//! [`keys::KeySource`], so the CLI validates a local copy of a trail bucket offline with
//! [`offline::validate_local`].
#![forbid(unsafe_code)]

pub mod alert;
pub mod check;
pub mod cloudtrail_keys;
pub mod digest;
pub mod hash;
pub mod keys;
pub mod offline;
pub mod store;

use check::{check_digest, DigestCheck, FileStatus, Options};
use cloudtrail_keys::CloudTrailKeys;
use keys::{KeyError, KeySet, KeySource, PublicKey};
use serde_json::{json, Value};
use std::path::PathBuf;
use store::{Location, S3Store};
use trailwarden::alert::{Action, Status};
use trailwarden::aws::AlertPublisher;
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::outcome::{handle_json, RunError};
use trailwarden::payload::S3Object;
use trailwarden::{Alert, Outcome, Payload, Severity};

pub use alert::{alert_for, DETECTION};
pub use check::{Finding, FindingKind};
pub use offline::{validate_local, LocalOptions, LocalReport};

pub const NAME: &str = "log-integrity";

/// Default for `MAX_DIGEST_GAP_MINUTES`.
pub const DEFAULT_MAX_DIGEST_GAP_MINUTES: u32 = 90;
/// Upper bound for `MAX_DIGEST_GAP_MINUTES` (one week).
pub const MAX_MAX_DIGEST_GAP_MINUTES: u32 = 7 * 24 * 60;

/// Where a public key document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysUri {
    S3 { bucket: String, key: String },
    File(PathBuf),
}

impl std::fmt::Display for KeysUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeysUri::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            KeysUri::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl KeysUri {
    /// `s3://bucket/key`, `file:///path` or a plain path.
    pub fn parse(s: &str) -> Result<KeysUri, String> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok(KeysUri::S3 {
                    bucket: b.to_string(),
                    key: k.to_string(),
                }),
                _ => Err("expected s3://BUCKET/KEY".into()),
            };
        }
        if let Some(path) = s.strip_prefix("file://") {
            if path.is_empty() {
                return Err("expected file:///PATH".into());
            }
            return Ok(KeysUri::File(PathBuf::from(path)));
        }
        if s.contains("://") || s.is_empty() {
            return Err("expected s3://BUCKET/KEY, file:///PATH or a file path".into());
        }
        Ok(KeysUri::File(PathBuf::from(s)))
    }
}

/// The function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub common: Common,
    /// `PUBLIC_KEYS_URI`: a ListPublicKeys-shaped document used instead of the API.
    pub public_keys_uri: Option<KeysUri>,
    /// `MAX_DIGEST_GAP_MINUTES`.
    pub max_digest_gap_minutes: u32,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let public_keys_uri = match config::get(env, "PUBLIC_KEYS_URI") {
            None => None,
            Some(v) => {
                Some(KeysUri::parse(&v).map_err(|e| ConfigError::new("PUBLIC_KEYS_URI", &v, e))?)
            }
        };
        let max_digest_gap_minutes = match config::get(env, "MAX_DIGEST_GAP_MINUTES") {
            None => DEFAULT_MAX_DIGEST_GAP_MINUTES,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|m| (1..=MAX_MAX_DIGEST_GAP_MINUTES).contains(m))
                .ok_or_else(|| {
                    ConfigError::new(
                        "MAX_DIGEST_GAP_MINUTES",
                        &v,
                        format!("expected whole minutes from 1 to {MAX_MAX_DIGEST_GAP_MINUTES}"),
                    )
                })?,
        };
        Ok(Config {
            common,
            public_keys_uri,
            max_digest_gap_minutes,
        })
    }

    pub fn options(&self) -> Options {
        Options {
            max_gap_minutes: self.max_digest_gap_minutes,
        }
    }
}

/// Reads a ListPublicKeys-shaped document from a file or S3.
pub async fn load_key_document(uri: &KeysUri, s3: &aws_sdk_s3::Client) -> Result<KeySet, KeyError> {
    let load = |reason: String| KeyError::Load {
        source_name: uri.to_string(),
        reason,
    };
    let bytes = match uri {
        KeysUri::File(p) => std::fs::read(p).map_err(|e| load(e.to_string()))?,
        KeysUri::S3 { bucket, key } => s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| load(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?
            .body
            .collect()
            .await
            .map_err(|e| load(e.to_string()))?
            .into_bytes()
            .to_vec(),
    };
    KeySet::from_json(&bytes).map_err(|e| load(e.to_string()))
}

/// Where this function's keys come from.
#[derive(Debug)]
pub enum Keys {
    /// `cloudtrail:ListPublicKeys`, cached per cold start.
    Api(Box<CloudTrailKeys>),
    /// `PUBLIC_KEYS_URI`, read on first use.
    Document {
        uri: KeysUri,
        s3: aws_sdk_s3::Client,
        loaded: tokio::sync::OnceCell<KeySet>,
    },
}

impl KeySource for Keys {
    async fn find_key(
        &self,
        region: &str,
        fingerprint: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<PublicKey>, KeyError> {
        match self {
            Keys::Api(k) => k.find_key(region, fingerprint, start, end).await,
            Keys::Document { uri, s3, loaded } => {
                let set = loaded
                    .get_or_try_init(|| async {
                        let set = load_key_document(uri, s3).await?;
                        tracing::info!(source = %uri, keys = set.keys.len(), "loaded public keys");
                        Ok::<_, KeyError>(set)
                    })
                    .await?;
                Ok(set.find(fingerprint).cloned())
            }
        }
    }
}

/// Clients and caches, built once per cold start.
#[derive(Debug)]
pub struct State {
    pub config: Config,
    sdk: aws_config::SdkConfig,
    s3: aws_sdk_s3::Client,
    keys: Keys,
    publisher: AlertPublisher,
}

impl State {
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> State {
        let s3 = trailwarden::aws::s3_client(sdk);
        let keys = match &config.public_keys_uri {
            Some(uri) => Keys::Document {
                uri: uri.clone(),
                s3: s3.clone(),
                loaded: tokio::sync::OnceCell::new(),
            },
            None => Keys::Api(Box::new(CloudTrailKeys::new(sdk))),
        };
        let publisher = AlertPublisher::new(
            sdk,
            config.common.alert_topic_arn.clone(),
            config.common.min_severity,
        );
        State {
            config,
            sdk: sdk.clone(),
            s3,
            keys,
            publisher,
        }
    }

    /// An S3 store for objects in `region` (the function's own client when it is the same).
    fn store_for(&self, region: Option<&str>) -> S3Store {
        match region {
            Some(r) if !r.is_empty() && self.sdk.region().map(|x| x.as_ref()) != Some(r) => {
                S3Store::new(trailwarden::aws::s3_client(&trailwarden::aws::with_region(
                    &self.sdk, r,
                )))
            }
            _ => S3Store::new(self.s3.clone()),
        }
    }
}

/// Why an object is not validated; `None` for a digest file.
pub fn skip_reason(o: &S3Object) -> Option<String> {
    if digest::is_digest_key(&o.key) {
        return None;
    }
    Some(if o.key.ends_with("ConfigWritabilityCheckFile") {
        "CloudTrail's ConfigWritabilityCheckFile, not a digest".to_string()
    } else if digest::is_log_file_key(&o.key) {
        "a CloudTrail log file, not a digest (it is validated when its digest arrives)".to_string()
    } else {
        "not a CloudTrail digest file (no CloudTrail-Digest/ folder, or not .json.gz)".to_string()
    })
}

fn uri(o: &S3Object) -> String {
    format!("s3://{}/{}", o.bucket, o.key)
}

fn describe_input(objects: &[S3Object]) -> String {
    let mut s = format!("{} S3 object(s):", objects.len());
    for o in objects.iter().take(3) {
        s.push(' ');
        s.push_str(&uri(o));
    }
    if objects.len() > 3 {
        s.push_str(" ...");
    }
    s
}

const NOT_S3: &str =
    "not an S3 Object Created notification: this function validates CloudTrail digest files";

/// What would be done, without any AWS call: which objects would be validated, which
/// skipped and why.
pub fn plan(config: &Config, payload: &Payload) -> Outcome {
    let Payload::S3Objects(objects) = payload else {
        return Outcome::ignored(NAME, payload.describe(), NOT_S3);
    };
    let input = describe_input(objects);
    let mut actions = Vec::new();
    let mut digests = 0;
    let mut reasons = Vec::new();
    for o in objects {
        match skip_reason(o) {
            None => {
                digests += 1;
                actions.push(
                    Action::new("ValidateDigest", uri(o), Status::Planned)
                        .with_detail("verify signature, location, listed log files and chain"),
                );
            }
            Some(r) => {
                reasons.push(format!("{}: {r}", uri(o)));
                actions.push(Action::new("ValidateDigest", uri(o), Status::Skipped).with_detail(r));
            }
        }
    }
    if digests == 0 {
        let reason = if reasons.is_empty() {
            "no object created".to_string()
        } else {
            reasons.join("; ")
        };
        return Outcome::ignored(NAME, input, reason);
    }
    let mut outcome = Outcome::new(NAME, input);
    outcome.dry_run = config.common.dry_run;
    let mut alert = Alert::new(
        Severity::Info,
        DETECTION,
        format!("Would validate {digests} CloudTrail digest file(s)"),
    );
    alert.summary = "Each digest's signature, location, listed log files and link to the previous \
                     digest would be checked; nothing is changed either way."
        .into();
    alert.account_alias = config.common.account_alias.clone();
    alert.region = objects.iter().find_map(|o| o.region.clone());
    alert.dry_run = config.common.dry_run;
    alert.actions = actions;
    outcome.alerts.push(alert);
    outcome
        .stats
        .insert("digests_planned".into(), json!(digests));
    outcome
        .stats
        .insert("objects_skipped".into(), json!(objects.len() - digests));
    outcome
}

fn add(stats: &mut serde_json::Map<String, Value>, key: &str, n: u64) {
    let cur = stats.get(key).and_then(Value::as_u64).unwrap_or(0);
    stats.insert(key.to_string(), json!(cur + n));
}

fn record_stats(stats: &mut serde_json::Map<String, Value>, c: &DigestCheck) {
    add(stats, "digests_checked", 1);
    add(
        stats,
        if c.is_valid() {
            "digests_valid"
        } else {
            "digests_invalid"
        },
        1,
    );
    add(stats, "log_files_checked", c.log_files.len() as u64);
    for (status, key) in [
        (FileStatus::Valid, "log_files_valid"),
        (FileStatus::Invalid, "log_files_invalid"),
        (FileStatus::Missing, "log_files_missing"),
        (FileStatus::NotChecked, "log_files_not_checked"),
    ] {
        add(stats, key, c.count(status) as u64);
    }
    add(stats, "bytes_read", c.bytes_read);
}

/// Validates every digest in the payload and publishes an alert for each one that fails.
///
/// Validation only reads, so `DRY_RUN` does not switch it off (a stack deployed in dry-run
/// must still notice tampering); alerts are marked `[dry-run]`. [`plan`] is the no-AWS view
/// the CLI shows.
pub async fn run(state: &State, payload: &Payload) -> Result<Outcome, RunError> {
    let config = &state.config;
    let Payload::S3Objects(objects) = payload else {
        tracing::info!(input = %payload.describe(), reason = NOT_S3, "ignored");
        return Ok(Outcome::ignored(NAME, payload.describe(), NOT_S3));
    };
    let mut outcome = Outcome::new(NAME, describe_input(objects));
    outcome.dry_run = config.common.dry_run;
    let mut skipped = Vec::new();
    let mut skip_reasons = Vec::new();
    let mut failures = Vec::new();
    let options = config.options();
    for o in objects {
        if let Some(reason) = skip_reason(o) {
            tracing::info!(object = %uri(o), %reason, "skipped");
            skip_reasons.push(format!("{}: {reason}", uri(o)));
            skipped.push(json!({"object": uri(o), "reason": reason}));
            continue;
        }
        let store = state.store_for(o.region.as_deref());
        let at = Location::new(&o.bucket, &o.key);
        let check = check_digest(&store, &state.keys, &options, &at, o.version_id.as_deref()).await;
        record_stats(&mut outcome.stats, &check);
        if check.is_valid() {
            tracing::info!(
                digest = %check.file,
                log_files = check.log_files.len(),
                first_of_chain = check.previous.is_none(),
                "CloudTrail digest valid"
            );
            continue;
        }
        tracing::warn!(
            digest = %check.file,
            findings = %serde_json::to_string(&check.findings).unwrap_or_default(),
            "CloudTrail digest failed validation"
        );
        if check.is_incomplete() {
            failures.push(format!("{}: not every check could be done", check.file));
        }
        if let Some(mut alert) = alert_for(&check, config.common.account_alias.as_deref()) {
            alert.dry_run = config.common.dry_run;
            if let Err(e) = state.publisher.publish(&alert).await {
                tracing::error!(error = %e, "alert not published");
                failures.push(e.to_string());
            }
            outcome.alerts.push(alert);
        }
    }
    if !skipped.is_empty() {
        outcome
            .stats
            .insert("objects_skipped".into(), json!(skipped.len()));
        outcome
            .stats
            .insert("skipped".into(), Value::Array(skipped));
    }
    if outcome.stats.get("digests_checked").is_none() {
        outcome.ignored = Some(if skip_reasons.is_empty() {
            "no object created".to_string()
        } else {
            skip_reasons.join("; ")
        });
    }
    if failures.is_empty() {
        Ok(outcome)
    } else {
        Err(RunError::new(
            format!("log-integrity incomplete: {}", failures.join("; ")),
            outcome,
        ))
    }
}

/// Lambda entry point.
pub async fn handler(
    state: &State,
    event: lambda_runtime::LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    handle_json(NAME, event.payload, |p| async move {
        run(state, &p).await.map_err(|e| {
            tracing::error!(error = %e, "run incomplete; the invocation fails so that it is retried");
            e
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Payload {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Payload::parse(&bytes).unwrap()
    }

    #[test]
    fn config_defaults_and_errors_name_the_variable() {
        let c = Config::from_env(&[("ALERT_TOPIC_ARN", "")]).unwrap();
        assert_eq!(c.max_digest_gap_minutes, 90);
        assert_eq!(c.public_keys_uri, None);
        let c = Config::from_env(&[
            (
                "PUBLIC_KEYS_URI",
                "s3://keys-bucket/cloudtrail/public-keys.json",
            ),
            ("MAX_DIGEST_GAP_MINUTES", "120"),
        ])
        .unwrap();
        assert_eq!(
            c.public_keys_uri,
            Some(KeysUri::S3 {
                bucket: "keys-bucket".into(),
                key: "cloudtrail/public-keys.json".into()
            })
        );
        assert_eq!(c.options().max_gap_minutes, 120);
        let c = Config::from_env(&[("PUBLIC_KEYS_URI", "file:///opt/keys.json")]).unwrap();
        assert_eq!(
            c.public_keys_uri,
            Some(KeysUri::File("/opt/keys.json".into()))
        );
        for (var, bad, expect) in [
            ("MAX_DIGEST_GAP_MINUTES", "0", "1 to 10080"),
            ("MAX_DIGEST_GAP_MINUTES", "1.5h", "whole minutes"),
            ("PUBLIC_KEYS_URI", "s3://only-bucket", "s3://BUCKET/KEY"),
            (
                "PUBLIC_KEYS_URI",
                "https://example.com/keys.json",
                "file path",
            ),
        ] {
            let e = Config::from_env(&[(var, bad)]).unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.to_string().contains(expect), "{e}");
        }
    }

    #[test]
    fn plan_validates_digest_keys_and_skips_others_with_a_reason() {
        let config = Config::from_env(&[("DRY_RUN", "true")]).unwrap();
        let p = fixture("s3-notification-digest-file.json");
        let Payload::S3Objects(objs) = &p else {
            panic!("fixture is not an S3 notification")
        };
        let o = plan(&config, &p);
        assert_eq!(o.ignored, None);
        assert!(o.dry_run);
        let actions = &o.alerts[0].actions;
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].status, Status::Planned);
        assert_eq!(
            actions[0].target,
            format!("s3://{}/{}", objs[0].bucket, objs[0].key)
        );
        assert!(objs[0].key.contains("/CloudTrail-Digest/us-east-1/"));

        let log = Payload::from_value(json!({"detail-type": "Object Created", "source": "aws.s3",
            "region": "us-east-1",
            "detail": {"bucket": {"name": "trail"}, "object": {"key":
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1455Z_x.json.gz"}}}))
        .unwrap();
        let o = plan(&config, &log);
        assert!(o
            .ignored
            .as_deref()
            .unwrap()
            .contains("a CloudTrail log file, not a digest"));
        let check =
            Payload::from_value(json!({"detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "trail"}, "object": {"key":
            "AWSLogs/123456789012/CloudTrail/ConfigWritabilityCheckFile"}}}))
            .unwrap();
        assert!(plan(&config, &check)
            .ignored
            .unwrap()
            .contains("ConfigWritabilityCheckFile"));
    }

    fn offline_state(config: Config) -> State {
        // No endpoint and no credentials: any AWS call would fail.
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        State::new(&sdk, config)
    }

    #[tokio::test]
    async fn handler_rejects_unknown_payloads_and_plan_makes_no_call() {
        let state = offline_state(Config::from_env(&[("DRY_RUN", "yes")]).unwrap());
        let ev = |v: Value| lambda_runtime::LambdaEvent::new(v, lambda_runtime::Context::default());
        let e = handler(&state, ev(json!([1, 2]))).await.unwrap_err();
        assert!(e.to_string().contains("found an array"), "{e}");
        let path = format!(
            "{}/../../events/s3-notification-digest-file.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let payload: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        // The plan (what the CLI shows) reads nothing; the endpoint here does not exist.
        let planned = plan(&state.config, &Payload::from_value(payload).unwrap());
        let out = serde_json::to_value(&planned).unwrap();
        assert_eq!(out["dry_run"], true);
        assert_eq!(out["stats"]["digests_planned"], 1);
        assert_eq!(out["alerts"][0]["actions"][0]["status"], "planned");
        // A CloudTrail API event is not for this function.
        let out = handler(
            &state,
            ev(json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
                "detail": {"eventVersion": "1.09", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}})),
        )
        .await
        .unwrap();
        assert!(out["ignored"]
            .as_str()
            .unwrap()
            .contains("not an S3 Object Created"));
    }
}
