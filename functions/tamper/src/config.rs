//! Settings of tamper, read once at cold start: which resources are trailwarden's own, which
//! trails it protects, whether it turns logging back on, and the digest checking options it
//! shares with log-integrity. The `self` detection family is compiled here, so a bad value
//! stops the cold start naming its variable.

use crate::detections;
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::detect::Catalog;
use trailwarden::respond::Settings;
pub use trailwarden::trail::TrailRef;

/// trailwarden's own resources: `kind=value` items, comma-separated.
pub const SELF_RESOURCES: &str = "SELF_RESOURCES";
/// The trails trailwarden protects (and the watchdog checks): ARNs or names.
pub const TRAIL_ARNS: &str = "TRAIL_ARNS";
/// `true`: after `StopLogging` on a protected trail, call `StartLogging` again.
pub const RESTART_LOGGING: &str = "RESTART_LOGGING";

/// The kinds `SELF_RESOURCES` accepts, with what a value is.
pub const KINDS: &[(&str, &str)] = &[
    ("stack", "CloudFormation stack name or stack id"),
    ("rule", "EventBridge rule name (or ARN)"),
    ("function", "Lambda function name (or ARN)"),
    ("role", "IAM role name (or ARN)"),
    ("topic", "SNS topic ARN"),
    ("queue", "SQS queue name (or URL, or ARN)"),
    ("bucket", "S3 bucket name (or ARN)"),
    ("key", "KMS key id or ARN"),
    ("alarm", "CloudWatch alarm name"),
    ("policy", "IAM managed policy name (or ARN)"),
    ("secret", "Secrets Manager secret ARN"),
    ("table", "DynamoDB table name (or ARN)"),
];

/// trailwarden's own resources, by kind. Values are names (or ARNs where the API records
/// ARNs) and may hold `*` wildcards (`trailwarden-*`: every name CloudFormation generates
/// for the stack `trailwarden`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfResources {
    pub stacks: Vec<String>,
    pub rules: Vec<String>,
    pub functions: Vec<String>,
    pub roles: Vec<String>,
    pub topics: Vec<String>,
    pub queues: Vec<String>,
    pub buckets: Vec<String>,
    pub keys: Vec<String>,
    pub alarms: Vec<String>,
    pub policies: Vec<String>,
    /// The secrets alert destinations read (PagerDuty's routing key, the webhook's signing
    /// secret): whoever rewrites one redirects or breaks those alerts.
    pub secrets: Vec<String>,
    /// The state table (incident claims, handled events, threshold counters): whoever
    /// weakens its resource policy can write claims that silence alerts.
    pub tables: Vec<String>,
}

impl SelfResources {
    /// True when nothing is configured.
    pub fn is_empty(&self) -> bool {
        [
            &self.stacks,
            &self.rules,
            &self.functions,
            &self.roles,
            &self.topics,
            &self.queues,
            &self.buckets,
            &self.keys,
            &self.alarms,
            &self.policies,
            &self.secrets,
            &self.tables,
        ]
        .iter()
        .all(|v| v.is_empty())
    }

    /// Parses `kind=value,kind=value,...`; a bad item names the variable and the item.
    pub fn parse(items: &[String]) -> Result<SelfResources, ConfigError> {
        let mut r = SelfResources::default();
        for item in items {
            let bad = |why: String| ConfigError::new(SELF_RESOURCES, item, why);
            let Some((kind, value)) = item.split_once('=') else {
                return Err(bad(format!(
                    "expected kind=value items, kind one of: {}",
                    kind_names()
                )));
            };
            let value = value.trim();
            if value.is_empty() {
                return Err(bad("the value is empty".into()));
            }
            if value.chars().all(|c| c == '*' || c == '?') {
                return Err(bad(
                    "a value of wildcards only would make every resource of that kind \
                     trailwarden's"
                        .into(),
                ));
            }
            if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("the value holds a space or control character".into()));
            }
            let list = match kind.trim() {
                "stack" => &mut r.stacks,
                "rule" => &mut r.rules,
                "function" => &mut r.functions,
                "role" => &mut r.roles,
                "topic" => {
                    if !value.starts_with("arn:") || value.split(':').count() != 6 {
                        return Err(bad(
                            "expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)".into(),
                        ));
                    }
                    &mut r.topics
                }
                "queue" => &mut r.queues,
                "bucket" => &mut r.buckets,
                "key" => &mut r.keys,
                "alarm" => &mut r.alarms,
                "policy" => &mut r.policies,
                "secret" => {
                    if !value.starts_with("arn:") || !value.contains(":secret:") {
                        return Err(bad("expected a Secrets Manager secret ARN \
                             (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)"
                            .into()));
                    }
                    &mut r.secrets
                }
                "table" => {
                    if value.starts_with("arn:") && !value.contains(":table/") {
                        return Err(bad("expected a DynamoDB table name or ARN \
                             (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)"
                            .into()));
                    }
                    &mut r.tables
                }
                other => {
                    return Err(bad(format!(
                        "unknown kind {other:?}; the kinds are: {}",
                        kind_names()
                    )))
                }
            };
            let value = normalize(kind.trim(), value);
            if !list.contains(&value) {
                list.push(value);
            }
        }
        Ok(r)
    }
}

fn kind_names() -> String {
    KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// The form a value is matched in: the name where the API records names.
fn normalize(kind: &str, value: &str) -> String {
    let last = |sep: char| value.rsplit(sep).next().unwrap_or(value).to_string();
    match kind {
        // arn:aws:events:REGION:ACCOUNT:rule/NAME (or rule/BUS/NAME)
        "rule" if value.starts_with("arn:") => last('/'),
        // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        "function" if value.starts_with("arn:") => value
            .split(':')
            .nth(6)
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string()),
        // arn:aws:iam::ACCOUNT:role/PATH/NAME, arn:aws:iam::ACCOUNT:policy/PATH/NAME
        "role" | "policy" if value.starts_with("arn:") => last('/'),
        // https://sqs.REGION.amazonaws.com/ACCOUNT/NAME or arn:aws:sqs:REGION:ACCOUNT:NAME
        "queue" if value.contains('/') => last('/'),
        "queue" if value.starts_with("arn:") => last(':'),
        // arn:aws:s3:::NAME
        "bucket" if value.starts_with("arn:") => last(':'),
        // arn:aws:dynamodb:REGION:ACCOUNT:table/NAME (or a stream or index of it)
        "table" if value.starts_with("arn:") => value
            .split_once(":table/")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest).to_string())
            .unwrap_or_else(|| value.to_string()),
        _ => value.to_string(),
    }
}

/// The function's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    /// `SELF_RESOURCES`.
    pub resources: SelfResources,
    /// `TRAIL_ARNS`.
    pub trails: Vec<TrailRef>,
    /// `RESTART_LOGGING` (default false).
    pub restart_logging: bool,
    /// `PUBLIC_KEYS_URI`, `MAX_DIGEST_GAP_MINUTES`, `RESTART_LOOKBACK_DAYS`: how digests are
    /// re-checked, exactly as log-integrity checks them.
    pub integrity: log_integrity::Config,
    /// The `self` detection family built from the resources and trails.
    pub catalog: Catalog,
    /// `DEPLOYER_ROLE_ARNS`: the roles whose stack operations are deployments (ARN globs).
    pub deployers: Vec<String>,
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let resources = SelfResources::parse(&config::list(env, SELF_RESOURCES))?;
        let trails = TrailRef::list_from_env(env, TRAIL_ARNS)?;
        let restart_logging = config::bool_var(env, RESTART_LOGGING, false)?;
        let integrity = log_integrity::Config::from_env(env)?;
        let catalog = detections::catalog(&resources, &trails)
            .map_err(|e| ConfigError::new(SELF_RESOURCES, "", e.to_string()))?;
        let deployers = config::list(env, trailwarden::detect::settings::DEPLOYER_ROLE_ARNS);
        if let Some(bad) = deployers
            .iter()
            .find(|r| !trailwarden::detect::valid_role_arn(r))
        {
            return Err(ConfigError::new(
                trailwarden::detect::settings::DEPLOYER_ROLE_ARNS,
                bad,
                "expected IAM role ARNs such as arn:aws:iam::123456789012:role/deployer ('*' matches any characters), not one naming every role",
            ));
        }
        Ok(Config {
            common,
            resources,
            trails,
            restart_logging,
            integrity,
            catalog,
            deployers,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

impl Config {
    /// The protected trail a request parameter names, if any.
    pub fn trail(&self, named: &str, region: Option<&str>) -> Option<&TrailRef> {
        self.trails.iter().find(|t| t.is(named, region))
    }

    /// True when `bucket` is a trail bucket of trailwarden's (any bucket when none is
    /// configured: the EventBridge rule chose it).
    pub fn is_trail_bucket(&self, bucket: &str) -> bool {
        self.resources.buckets.is_empty()
            || self
                .resources
                .buckets
                .iter()
                .any(|b| trailwarden::glob::glob_match(b, bucket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(items: &[&str]) -> Result<SelfResources, ConfigError> {
        SelfResources::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn resources_are_normalised_to_what_the_apis_record() {
        let r = parse(&[
            "rule=arn:aws:events:us-east-1:123456789012:rule/tw-rule",
            "function=arn:aws:lambda:us-east-1:123456789012:function:tw-fn:live",
            "role=arn:aws:iam::123456789012:role/service/tw-role",
            "queue=https://sqs.us-east-1.amazonaws.com/123456789012/tw-failed",
            "queue=arn:aws:sqs:us-east-1:123456789012:tw-other",
            "bucket=arn:aws:s3:::tw-bucket",
            "stack=trailwarden",
            "topic=arn:aws:sns:us-east-1:123456789012:tw-alerts",
            "table=arn:aws:dynamodb:us-east-1:123456789012:table/tw-StateTable-1A2B3C",
            "table=tw-StateTable-1A2B3C",
            "table=other-*",
        ])
        .unwrap();
        assert_eq!(r.rules, ["tw-rule"]);
        assert_eq!(r.functions, ["tw-fn"]);
        assert_eq!(r.roles, ["tw-role"]);
        assert_eq!(r.queues, ["tw-failed", "tw-other"]);
        assert_eq!(r.buckets, ["tw-bucket"]);
        assert_eq!(r.stacks, ["trailwarden"]);
        assert_eq!(r.tables, ["tw-StateTable-1A2B3C", "other-*"]);
    }

    #[test]
    fn bad_items_name_the_variable_and_say_why() {
        for (item, says) in [
            ("rules=x", "unknown kind"),
            ("rule", "kind=value"),
            ("rule=*", "wildcards only"),
            ("rule=", "empty"),
            ("topic=tw-alerts", "SNS topic ARN"),
            ("table=arn:aws:s3:::tw-bucket", "DynamoDB table"),
            ("table=*", "wildcards only"),
        ] {
            let e = parse(&[item]).unwrap_err();
            assert_eq!(e.var, SELF_RESOURCES);
            assert!(e.to_string().contains(says), "{item}: {e}");
        }
    }
}
