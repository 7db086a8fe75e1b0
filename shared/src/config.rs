//! Configuration from environment variables, validated once at cold start.
//!
//! Every reader takes an [`Env`] so that tests (and the CLI) can supply values without
//! touching the process environment. A bad value is an error that names the variable, the
//! value and what is accepted; functions stop their cold start on it.

use crate::alert::Severity;
use serde_json::Value;
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// Where configuration values come from.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for [(&str, &str)] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.as_slice().var(name)
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {var}={value:?} is not valid: {expected}")]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub expected: String,
}

impl ConfigError {
    pub fn new(var: &str, value: &str, expected: impl Into<String>) -> Self {
        ConfigError {
            var: var.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// The trimmed value, `None` when unset or blank (CloudFormation passes empty strings for
/// parameters left at an empty default).
pub fn get(env: &dyn Env, var: &str) -> Option<String> {
    env.var(var)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The trimmed value ([`get`]), which must pass `valid`: one that does not is an error saying
/// what was `expected`.
pub fn checked(
    env: &dyn Env,
    var: &str,
    valid: impl FnOnce(&str) -> bool,
    expected: &str,
) -> Result<Option<String>, ConfigError> {
    match get(env, var) {
        Some(v) if !valid(&v) => Err(ConfigError::new(var, &v, expected)),
        v => Ok(v),
    }
}

/// A number within `range`, `default` when unset; anything else is an error saying what was
/// `expected`.
pub fn number<T: FromStr + PartialOrd>(
    env: &dyn Env,
    var: &str,
    range: RangeInclusive<T>,
    default: T,
    expected: &str,
) -> Result<T, ConfigError> {
    match get(env, var) {
        None => Ok(default),
        Some(v) => v
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| ConfigError::new(var, &v, expected)),
    }
}

/// `true/false`, `yes/no`, `1/0`, `on/off` (any case).
pub fn bool_var(env: &dyn Env, var: &str, default: bool) -> Result<bool, ConfigError> {
    match get(env, var) {
        None => Ok(default),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true),
            "false" | "no" | "0" | "off" => Ok(false),
            _ => Err(ConfigError::new(var, &v, "accepted values: true, false")),
        },
    }
}

/// One of a fixed set of words (case-insensitive).
pub fn choice<T: Copy>(
    env: &dyn Env,
    var: &str,
    choices: &[(&str, T)],
    default: T,
) -> Result<T, ConfigError> {
    match get(env, var) {
        None => Ok(default),
        Some(v) => choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&v))
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                ConfigError::new(var, &v, format!("accepted values: {}", names.join(", ")))
            }),
    }
}

/// A comma-separated list; blanks are dropped.
pub fn list(env: &dyn Env, var: &str) -> Vec<String> {
    get(env, var)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A comma-separated list where every item must parse as `T`.
pub fn parsed_list<T: FromStr>(
    env: &dyn Env,
    var: &str,
    what: &str,
) -> Result<Vec<T>, ConfigError> {
    list(env, var)
        .into_iter()
        .map(|item| {
            item.parse::<T>().map_err(|_| {
                ConfigError::new(
                    var,
                    &item,
                    format!("expected a comma-separated list of {what}"),
                )
            })
        })
        .collect()
}

/// A severity name.
pub fn severity(env: &dyn Env, var: &str, default: Severity) -> Result<Severity, ConfigError> {
    match get(env, var) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ConfigError::new(
                var,
                &v,
                "accepted values: info, low, medium, high, critical",
            )
        }),
    }
}

/// Settings every function shares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Common {
    /// `DRY_RUN`: decide and report, change nothing.
    pub dry_run: bool,
    /// `ALERT_TOPIC_ARN`: where alerts go. Unset: alerts are only logged.
    pub alert_topic_arn: Option<String>,
    /// `MIN_SEVERITY`: alerts below this are logged, not published.
    pub min_severity: Severity,
    /// `ACCOUNT_ALIAS`: shown in subjects and bodies.
    pub account_alias: Option<String>,
    /// `OWN_ROLE_ARNS`: trailwarden's own role ARNs (globs). Events by these principals are
    /// never acted on (loop guard).
    pub own_role_arns: Vec<String>,
}

impl Common {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let alert_topic_arn = checked(
            env,
            "ALERT_TOPIC_ARN",
            |t| t.starts_with("arn:") && t.split(':').count() == 6,
            "expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
        )?;
        let account_alias = checked(
            env,
            "ACCOUNT_ALIAS",
            |a| a.len() <= 63 && a.chars().all(|c| c.is_ascii_graphic()),
            "expected at most 63 printable ASCII characters",
        )?;
        Ok(Common {
            dry_run: bool_var(env, "DRY_RUN", false)?,
            alert_topic_arn,
            min_severity: severity(env, "MIN_SEVERITY", Severity::Info)?,
            account_alias,
            own_role_arns: list(env, "OWN_ROLE_ARNS"),
        })
    }

    /// True when the principal ARN, making the record's call, is trailwarden itself
    /// ([`is_own_call`] over `OWN_ROLE_ARNS`).
    pub fn is_own(&self, principal_arn: Option<&str>, record: &crate::event::Record) -> bool {
        principal_arn.is_some_and(|a| {
            is_own_call(
                &self.own_role_arns,
                a,
                &call_of(record.event_source(), record.event_name()),
                record.request_parameters.as_ref(),
            )
        })
    }
}

/// The calls trailwarden's responder role makes in member accounts: exactly what member.yaml's
/// `ResponderRole` allows (a test holds the two together).
pub const RESPONDER_CALLS: &[&str] = &[
    "ec2:DescribeManagedPrefixLists",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeSecurityGroups",
    "ec2:GetManagedPrefixListEntries",
    "ec2:RevokeSecurityGroupIngress",
    "iam:AttachUserPolicy",
    "iam:DeactivateMFADevice",
    "iam:DeleteAccessKey",
    "iam:DeleteLoginProfile",
    "iam:DeleteSSHPublicKey",
    "iam:DeleteServiceSpecificCredential",
    "iam:DeleteSigningCertificate",
    "iam:DeleteUser",
    "iam:DeleteUserPolicy",
    "iam:DeleteVirtualMFADevice",
    "iam:DetachUserPolicy",
    "iam:GetAccessKeyLastUsed",
    "iam:GetGroupPolicy",
    "iam:GetLoginProfile",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetUser",
    "iam:GetUserPolicy",
    "iam:ListAccessKeys",
    "iam:ListAttachedGroupPolicies",
    "iam:ListAttachedUserPolicies",
    "iam:ListGroupPolicies",
    "iam:ListGroupsForUser",
    "iam:ListMFADevices",
    "iam:ListSSHPublicKeys",
    "iam:ListServiceSpecificCredentials",
    "iam:ListSigningCertificates",
    "iam:ListUserPolicies",
    "iam:ListUserTags",
    "iam:ListUsers",
    "iam:PutUserPolicy",
    "iam:RemoveUserFromGroup",
    "iam:TagUser",
    "iam:UpdateAccessKey",
    "iam:UpdateSSHPublicKey",
    "iam:UpdateServiceSpecificCredential",
    "iam:UpdateSigningCertificate",
];

/// Whether a call of [`RESPONDER_CALLS`] is made as the responder makes it, for the calls that
/// could also grant: an inline user policy only of Deny statements (the quarantine policy),
/// only `AWSDenyAll` attached, credentials only set `Inactive`, only `trailwarden:` tags. The
/// other calls only read or take away.
pub fn is_responder_request(call: &str, request: Option<&Value>) -> bool {
    let field = |k: &str| request.and_then(|r| r.get(k)).and_then(Value::as_str);
    match call {
        "iam:PutUserPolicy" => field("policyDocument").is_some_and(is_deny_only),
        "iam:AttachUserPolicy" => {
            field("policyArn").is_some_and(|a| a.ends_with(":iam::aws:policy/AWSDenyAll"))
        }
        "iam:UpdateAccessKey"
        | "iam:UpdateSSHPublicKey"
        | "iam:UpdateServiceSpecificCredential"
        | "iam:UpdateSigningCertificate" => field("status") == Some("Inactive"),
        "iam:TagUser" => request
            .and_then(|r| r.get("tags"))
            .and_then(Value::as_array)
            .is_some_and(|tags| {
                tags.iter().all(|t| {
                    t.get("key")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k.starts_with("trailwarden:"))
                })
            }),
        _ => true,
    }
}

/// A policy document (as CloudTrail records it: JSON text, sometimes percent-encoded) whose
/// every statement denies.
fn is_deny_only(document: &str) -> bool {
    let text = if document.trim_start().starts_with('{') {
        std::borrow::Cow::Borrowed(document)
    } else {
        percent_encoding::percent_decode_str(document).decode_utf8_lossy()
    };
    let Ok(doc) = serde_json::from_str::<Value>(&text) else {
        return false;
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    !statements.is_empty()
        && statements
            .iter()
            .all(|s| s.get("Effect").and_then(Value::as_str) == Some("Deny"))
}

/// `iam:DeleteUser` for `iam.amazonaws.com` and `DeleteUser`.
pub fn call_of(event_source: &str, event_name: &str) -> String {
    let service = event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source);
    format!("{service}:{event_name}")
}

/// Whether `role_arn` making `call` (`iam:DeleteUser`) is trailwarden itself, by the ARN globs
/// of `OWN_ROLE_ARNS`:
/// - an entry naming its account exactly (the functions' own roles) covers every call;
/// - an entry whose account is a wildcard (the responder role in member accounts, whichever
///   they are) covers only the calls the responder makes ([`RESPONDER_CALLS`]), and never in
///   an account an exact entry names (the tooling account, where member.yaml creates no
///   responder role). Anyone may create a role of that name in an account that has none (the
///   management account, an account the StackSet skips): what such a role does beyond the
///   responder's calls is not taken for trailwarden's.
///
/// A responder call that grants rather than takes away counts only as the responder makes it
/// ([`is_responder_request`]): a role of that name used to grant itself or someone else
/// access is not excused.
pub fn is_own_call(globs: &[String], role_arn: &str, call: &str, request: Option<&Value>) -> bool {
    let account = |arn: &str| arn.split(':').nth(4).map(str::to_string);
    let exact_accounts: Vec<String> = globs
        .iter()
        .filter_map(|g| account(g))
        .filter(|a| !a.contains(['*', '?']))
        .collect();
    globs.iter().any(|g| {
        if !crate::glob::arn_glob_match(g, role_arn) {
            return false;
        }
        match account(g) {
            Some(a) if !a.contains(['*', '?']) => true,
            _ => {
                RESPONDER_CALLS.contains(&call)
                    && is_responder_request(call, request)
                    && account(role_arn).is_some_and(|a| !exact_accounts.contains(&a))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_variable_and_the_accepted_values() {
        let e = bool_var(&[("DRY_RUN", "maybe")], "DRY_RUN", false).unwrap_err();
        assert_eq!(e.var, "DRY_RUN");
        assert!(e.to_string().contains("DRY_RUN=\"maybe\""));
        assert!(e.to_string().contains("true, false"));
        let e = Common::from_env(&[("MIN_SEVERITY", "urgent")]).unwrap_err();
        assert!(e.to_string().contains("MIN_SEVERITY"));
        assert!(e.to_string().contains("critical"));
        let e = Common::from_env(&[("ALERT_TOPIC_ARN", "my-topic")]).unwrap_err();
        assert!(e.to_string().contains("ALERT_TOPIC_ARN"));
        let e = choice(
            &[("MODE", "nuke")],
            "MODE",
            &[("delete", 1), ("notify", 2)],
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("delete, notify"));
        let e = parsed_list::<u16>(&[("PORTS", "80, http")], "PORTS", "port numbers").unwrap_err();
        assert_eq!(e.value, "http");
    }

    #[test]
    fn defaults_and_blanks() {
        let c = Common::from_env(&[("DRY_RUN", " "), ("OWN_ROLE_ARNS", " a , ,b ")]).unwrap();
        assert!(!c.dry_run);
        assert_eq!(c.min_severity, Severity::Info);
        assert_eq!(c.own_role_arns, vec!["a", "b"]);
        assert_eq!(c.alert_topic_arn, None);
        assert!(bool_var(&[("X", "YES")], "X", false).unwrap());
    }

    #[test]
    fn own_roles_match_by_glob() {
        let globs = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        let g = globs("arn:aws:iam::999988887777:role/trailwarden-SecurityGroupRole-*,arn:aws:iam::*:role/trailwarden-responder");
        let fun = "arn:aws:iam::999988887777:role/trailwarden-SecurityGroupRole-AB12";
        // The functions' own roles, named with their account: every call.
        for call in ["ec2:RevokeSecurityGroupIngress", "cloudtrail:StopLogging"] {
            assert!(is_own_call(&g, fun, call, None));
        }
        assert!(!is_own_call(
            &g,
            "arn:aws:iam::999988887777:role/admin",
            "iam:DeleteUser",
            None
        ));
        // The responder role in a member account: its own calls only.
        let responder = "arn:aws:iam::111122223333:role/trailwarden-responder";
        assert!(is_own_call(&g, responder, "iam:DeleteUser", None));
        assert!(is_own_call(
            &g,
            responder,
            "ec2:RevokeSecurityGroupIngress",
            None
        ));
        for call in [
            "iam:CreateUser",
            "iam:CreateAccessKey",
            "cloudtrail:StopLogging",
            "ec2:AuthorizeSecurityGroupIngress",
            "iam:AttachRolePolicy",
        ] {
            assert!(!is_own_call(&g, responder, call, None), "{call}");
        }
        // Calls that could grant count only as the responder makes them: a role of that name
        // (anyone able to pass the member role's trust) granting access is not excused.
        let quarantine = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
        let grant = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let own = |call: &str, request: serde_json::Value| {
            is_own_call(&g, responder, call, Some(&request))
        };
        let doc = |d: &str| serde_json::json!({"userName": "u", "policyName": "trailwarden-quarantine-deny-all", "policyDocument": d});
        assert!(own("iam:PutUserPolicy", doc(quarantine)));
        let encoded: String =
            percent_encoding::utf8_percent_encode(quarantine, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(own("iam:PutUserPolicy", doc(&encoded)));
        assert!(!own("iam:PutUserPolicy", doc(grant)));
        assert!(!own("iam:PutUserPolicy", doc("not json")));
        assert!(!is_own_call(&g, responder, "iam:PutUserPolicy", None));
        let attach = |arn: &str| serde_json::json!({"userName": "u", "policyArn": arn});
        assert!(own(
            "iam:AttachUserPolicy",
            attach("arn:aws:iam::aws:policy/AWSDenyAll")
        ));
        assert!(!own(
            "iam:AttachUserPolicy",
            attach("arn:aws:iam::aws:policy/AdministratorAccess")
        ));
        let status =
            |s: &str| serde_json::json!({"userName": "u", "accessKeyId": "AKIA1", "status": s});
        assert!(own("iam:UpdateAccessKey", status("Inactive")));
        assert!(!own("iam:UpdateAccessKey", status("Active")));
        let tags =
            |k: &str| serde_json::json!({"userName": "u", "tags": [{"key": k, "value": "x"}]});
        assert!(own("iam:TagUser", tags("trailwarden:quarantined")));
        assert!(!own("iam:TagUser", tags("approved")));
        // The functions' own roles: every call, whatever it grants.
        assert!(is_own_call(&g, fun, "iam:PutUserPolicy", Some(&doc(grant))));
        // Never in the tooling account, which has no responder role: a role of that name there
        // is someone else's.
        let impostor = "arn:aws:iam::999988887777:role/trailwarden-responder";
        assert!(!is_own_call(&g, impostor, "iam:DeleteUser", None));
        // Look-alikes in a member account: a user whose path holds `:role/` (IAM paths may
        // hold `:`), a role of that name under a path, a role under a path named like a
        // function's role. None is trailwarden.
        for lookalike in [
            "arn:aws:iam::111122223333:user/x:role/trailwarden-responder",
            "arn:aws:iam::111122223333:role/ops/trailwarden-responder",
            "arn:aws:iam::999988887777:role/trailwarden-SecurityGroupRole-x/admin",
        ] {
            assert!(
                !is_own_call(&g, lookalike, "ec2:RevokeSecurityGroupIngress", None),
                "{lookalike}"
            );
        }
        assert_eq!(call_of("iam.amazonaws.com", "DeleteUser"), "iam:DeleteUser");
        let c = Common::from_env(&[("OWN_ROLE_ARNS", fun)]).unwrap();
        let r = crate::event::Record {
            event_source: Some("iam.amazonaws.com".into()),
            event_name: Some("CreateUser".into()),
            ..Default::default()
        };
        assert!(c.is_own(Some(fun), &r));
        assert!(!c.is_own(None, &r));
    }
}
