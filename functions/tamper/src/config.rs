//! Settings of tamper, read once at cold start: which resources are trailwarden's own, which
//! trails it protects, whether it turns logging back on, and the digest checking options it
//! shares with log-integrity. The `self` detection family is compiled here, so a bad value
//! stops the cold start naming its variable.

use crate::detections;
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::detect::Catalog;
use trailwarden::respond::Settings;

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
        // arn:aws:iam::ACCOUNT:role/PATH/NAME
        "role" if value.starts_with("arn:") => last('/'),
        // https://sqs.REGION.amazonaws.com/ACCOUNT/NAME or arn:aws:sqs:REGION:ACCOUNT:NAME
        "queue" if value.contains('/') => last('/'),
        "queue" if value.starts_with("arn:") => last(':'),
        // arn:aws:s3:::NAME
        "bucket" if value.starts_with("arn:") => last(':'),
        _ => value.to_string(),
    }
}

/// A protected trail, as `TRAIL_ARNS` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailRef {
    /// The ARN, when given (`arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`).
    pub arn: Option<String>,
    pub name: String,
    /// The home region, from the ARN.
    pub region: Option<String>,
}

impl TrailRef {
    /// Parses an ARN or a bare name.
    pub fn parse(s: &str) -> Result<TrailRef, String> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let ok = parts.len() == 5 && parts[1] == "cloudtrail";
            let name = parts
                .get(4)
                .and_then(|r| r.strip_prefix("trail/"))
                .filter(|n| !n.is_empty());
            return match (ok, name) {
                (true, Some(name)) => Ok(TrailRef {
                    arn: Some(s.to_string()),
                    name: name.to_string(),
                    region: Some(parts[2].to_string()).filter(|r| !r.is_empty()),
                }),
                _ => Err(
                    "expected a trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME) or name"
                        .into(),
                ),
            };
        }
        let valid = (3..=128).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err("a trail name is 3 to 128 letters, digits, '.', '_' or '-'".into());
        }
        Ok(TrailRef {
            arn: None,
            name: s.to_string(),
            region: None,
        })
    }

    /// What CloudTrail calls are given: the ARN when known.
    pub fn id(&self) -> &str {
        self.arn.as_deref().unwrap_or(&self.name)
    }

    /// True when `named` (a `name` or `trailName` request parameter) is this trail, the call
    /// being made in `region`. A bare name names the trail of the region it is called in.
    pub fn is(&self, named: &str, region: Option<&str>) -> bool {
        if self.arn.as_deref() == Some(named) {
            return true;
        }
        if let Some(rest) = named.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let name = parts.get(4).and_then(|r| r.strip_prefix("trail/"));
            let arn_region = parts.get(2).copied();
            return name == Some(self.name.as_str())
                && (self.region.is_none() || arn_region == self.region.as_deref());
        }
        named == self.name
            && match (&self.region, region) {
                (Some(home), Some(called)) => home == called,
                _ => true,
            }
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
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let resources = SelfResources::parse(&config::list(env, SELF_RESOURCES))?;
        let trails = config::list(env, TRAIL_ARNS)
            .iter()
            .map(|t| TrailRef::parse(t).map_err(|e| ConfigError::new(TRAIL_ARNS, t, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let restart_logging = config::bool_var(env, RESTART_LOGGING, false)?;
        let integrity = log_integrity::Config::from_env(env)?;
        let catalog = detections::catalog(&resources, &trails)
            .map_err(|e| ConfigError::new(SELF_RESOURCES, "", e.to_string()))?;
        Ok(Config {
            common,
            resources,
            trails,
            restart_logging,
            integrity,
            catalog,
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
        ])
        .unwrap();
        assert_eq!(r.rules, ["tw-rule"]);
        assert_eq!(r.functions, ["tw-fn"]);
        assert_eq!(r.roles, ["tw-role"]);
        assert_eq!(r.queues, ["tw-failed", "tw-other"]);
        assert_eq!(r.buckets, ["tw-bucket"]);
        assert_eq!(r.stacks, ["trailwarden"]);
    }

    #[test]
    fn bad_items_name_the_variable_and_say_why() {
        for (item, says) in [
            ("rules=x", "unknown kind"),
            ("rule", "kind=value"),
            ("rule=*", "wildcards only"),
            ("rule=", "empty"),
            ("topic=tw-alerts", "SNS topic ARN"),
        ] {
            let e = parse(&[item]).unwrap_err();
            assert_eq!(e.var, SELF_RESOURCES);
            assert!(e.to_string().contains(says), "{item}: {e}");
        }
    }

    #[test]
    fn trails_by_arn_or_name() {
        let t =
            TrailRef::parse("arn:aws:cloudtrail:us-east-1:123456789012:trail/tw-trail").unwrap();
        assert_eq!(t.name, "tw-trail");
        assert_eq!(t.region.as_deref(), Some("us-east-1"));
        assert!(t.is("tw-trail", Some("us-east-1")));
        assert!(
            !t.is("tw-trail", Some("eu-west-1")),
            "another region's trail"
        );
        assert!(t.is(
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/tw-trail",
            Some("eu-west-1")
        ));
        assert!(!t.is(
            "arn:aws:cloudtrail:eu-west-1:123456789012:trail/tw-trail",
            None
        ));
        assert!(TrailRef::parse("arn:aws:sns:us-east-1:1:x").is_err());
        assert!(TrailRef::parse("a b").is_err());
        let n = TrailRef::parse("tw-trail").unwrap();
        assert!(n.is("tw-trail", Some("ap-south-1")));
    }
}
