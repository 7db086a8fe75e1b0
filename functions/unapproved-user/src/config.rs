//! Settings, read from environment variables once per cold start.

use crate::approval::{check_bucket_name, Approvals, S3Uri};
use std::time::Duration;
use trailwarden::aws::MemberAccess;
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::estate::{AccountSettings, Modes};
use trailwarden::respond::Settings;
use trailwarden_state::StateSettings;

/// What to do with an IAM user nobody approved, and with credentials an unapproved principal
/// made for another, existing user: the modes and their words are the account settings'
/// (`unapproved_user_mode`, `credential_response_mode`), so `RESPONSE_MODE` and the document
/// accept the same words.
pub use trailwarden::estate::{CredentialResponse as CredentialMode, UserMode as Mode};

/// Configuration of the unapproved-user function.
///
/// | Variable | Meaning | Default |
/// |---|---|---|
/// | `RESPONSE_MODE` | `delete`, `quarantine` or `notify` (see [`Mode`]) | `delete` |
/// | `APPROVED_USER_PATTERNS` | comma-separated globs over the new user's name (`svc-*,ci-bot`); `*` alone is refused | none |
/// | `APPROVED_PATH_PREFIXES` | comma-separated IAM path prefixes, each starting and ending with `/` (`/service-accounts/`); `/` alone is refused | none |
/// | `APPROVED_CREATOR_ARNS` | comma-separated globs over the creator's ARN; role sessions match by their role ARN (`arn:aws:iam::*:role/terraform-deployer`), whatever the session name; in role patterns `*` stops at `/`; patterns that approve every principal (`arn:*`, `…:role/*`) are refused | none |
/// | `APPROVAL_REQUIRES_CREATOR` | `true`: a user is approved only when its creator is, and (when patterns or prefixes are configured) its name or path matches too; name and path alone are chosen by whoever calls `CreateUser` | `false` |
/// | `APPROVED_CREATOR_MIN_AGE_MINUTES` | a creator that matches `APPROVED_CREATOR_ARNS` approves only when it is an IAM user or role of the event's account that existed at least this long before the event (looked up with `GetUser`/`GetRole`, unique id compared); one created more recently, or gone, does not approve: an unapproved principal could create a user under an approved path, or a role of an approved name, and let it create users in the seconds before the response; 0 to 10080, 0 checks only that the creator still exists | `10` |
/// | `APPROVAL_DOCUMENT_URI` | `s3://BUCKET/KEY` of a JSON document `{"userPatterns": [], "pathPrefixes": [], "creatorArns": []}` merged into the lists above; read once per cold start, only when an event is not approved by the variables; an unreadable or malformed document fails closed: the lists above alone decide, and a high alert names the document and the error | none |
/// | `CREDENTIAL_RESPONSE_MODE` | `notify` or `deactivate`: what to do when an unapproved principal creates an access key, console password, SSH public key, signing certificate or service-specific credential (or resets one's password) for another, existing user (see [`CredentialMode`]); `deactivate` sets that one credential `Inactive` (deletes the password) | `notify` |
/// | `EVIDENCE_BUCKET` | bucket for evidence objects, written to `trailwarden/evidence/<account>/<user-name>/<eventID>.json` (never overwritten) | none: evidence only in the alert |
/// | `NOT_FOUND_RETRY_SECONDS` | how long a just-created user answering `NoSuchEntity` is retried (backoff) before it is taken as gone; also bounds retries of a `DeleteConflict` on `DeleteUser`; 0 to 300, fractions allowed | `20` |
/// | `ACCOUNT_SETTINGS_URI` | a local path or `s3://BUCKET/KEY` of the settings per account or organizational unit (`unapproved_user_mode`, `credential_response_mode`, `approved_creator_arns`, `exempt`; see [`trailwarden::estate`]); read and validated at cold start, a bad document stops it | none |
/// | `HOME_ACCOUNT_ID`, `MEMBER_ROLE_NAME`, `MEMBER_ROLE_EXTERNAL_ID` | acting in the event's own account through its responder role (see [`trailwarden::aws::accounts`]) | none: every account acted in with the function's own credentials |
///
/// Plus the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
/// `OWN_ROLE_ARNS`) of [`Common`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`, `OWN_ROLE_ARNS`.
    pub common: Common,
    /// `RESPONSE_MODE`: `delete` (default), `quarantine` or `notify`.
    pub mode: Mode,
    /// `APPROVED_USER_PATTERNS`, `APPROVED_PATH_PREFIXES`, `APPROVED_CREATOR_ARNS`.
    pub approvals: Approvals,
    /// `APPROVAL_REQUIRES_CREATOR`: name/path approvals count only with an approved creator.
    pub approval_requires_creator: bool,
    /// `CREDENTIAL_RESPONSE_MODE`: `notify` (default) or `deactivate`.
    pub credential_mode: CredentialMode,
    /// `APPROVED_CREATOR_MIN_AGE_MINUTES`: the least age of a creator that approves.
    pub creator_min_age_minutes: u32,
    /// `APPROVAL_DOCUMENT_URI`: optional `s3://bucket/key` approval document.
    pub approval_document: Option<S3Uri>,
    /// `EVIDENCE_BUCKET`: optional bucket for evidence objects.
    pub evidence_bucket: Option<String>,
    /// `NOT_FOUND_RETRY_SECONDS`: bounded retry window for `NoSuchEntity` (default 20 s).
    pub not_found_retry: Duration,
    /// `HOME_ACCOUNT_ID`, `MEMBER_ROLE_NAME`, `MEMBER_ROLE_EXTERNAL_ID`: how to act in a
    /// member account.
    pub member_access: MemberAccess,
    /// `ACCOUNT_SETTINGS_URI`: settings per account or organizational unit.
    pub account_settings: AccountSettings,
    /// `STATE_TABLE`, `INCIDENT_WINDOW_SECONDS`: where the incidents this function's alerts
    /// stand for are recorded (`trailwarden_state::handoff`).
    pub state: StateSettings,
}

/// Default of `APPROVED_CREATOR_MIN_AGE_MINUTES`.
pub const DEFAULT_CREATOR_MIN_AGE_MINUTES: u32 = 10;
/// Largest `APPROVED_CREATOR_MIN_AGE_MINUTES` accepted (a week).
pub const MAX_CREATOR_MIN_AGE_MINUTES: u32 = 7 * 24 * 60;

/// Default of `NOT_FOUND_RETRY_SECONDS`.
pub const DEFAULT_NOT_FOUND_RETRY_SECONDS: u64 = 20;
/// Largest `NOT_FOUND_RETRY_SECONDS` accepted (well inside a Lambda timeout).
pub const MAX_NOT_FOUND_RETRY_SECONDS: f64 = 300.0;

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let mode = config::choice(env, "RESPONSE_MODE", Mode::CHOICES, Mode::default())?;
        let checked = |var: &str, check: fn(&str) -> Result<(), String>| {
            let items = config::list(env, var);
            for item in &items {
                check(item).map_err(|e| ConfigError::new(var, item, e))?;
            }
            Ok::<_, ConfigError>(items)
        };
        let approvals = Approvals {
            user_patterns: checked(
                "APPROVED_USER_PATTERNS",
                crate::approval::check_user_pattern,
            )?,
            path_prefixes: checked("APPROVED_PATH_PREFIXES", crate::approval::check_path_prefix)?,
            creator_arns: checked("APPROVED_CREATOR_ARNS", crate::approval::check_creator_arn)?,
        };
        let approval_requires_creator = config::bool_var(env, "APPROVAL_REQUIRES_CREATOR", false)?;
        let credential_mode = config::choice(
            env,
            "CREDENTIAL_RESPONSE_MODE",
            CredentialMode::CHOICES,
            CredentialMode::default(),
        )?;
        let creator_min_age_minutes = config::number(
            env,
            "APPROVED_CREATOR_MIN_AGE_MINUTES",
            0..=MAX_CREATOR_MIN_AGE_MINUTES,
            DEFAULT_CREATOR_MIN_AGE_MINUTES,
            "expected a whole number of minutes from 0 to 10080",
        )?;
        let approval_document = match config::get(env, "APPROVAL_DOCUMENT_URI") {
            None => None,
            Some(v) => Some(v.parse::<S3Uri>().map_err(|e| {
                ConfigError::new(
                    "APPROVAL_DOCUMENT_URI",
                    &v,
                    format!("{e} (an approval document such as s3://security-config/trailwarden/approvals.json)"),
                )
            })?),
        };
        let evidence_bucket = match config::get(env, "EVIDENCE_BUCKET") {
            None => None,
            Some(v) => {
                check_bucket_name(&v).map_err(|e| {
                    ConfigError::new(
                        "EVIDENCE_BUCKET",
                        &v,
                        format!("{e}; give the bucket name only, not an s3:// URI or ARN"),
                    )
                })?;
                Some(v)
            }
        };
        let not_found_retry = match config::get(env, "NOT_FOUND_RETRY_SECONDS") {
            None => Duration::from_secs(DEFAULT_NOT_FOUND_RETRY_SECONDS),
            Some(v) => match v.parse::<f64>() {
                Ok(s) if s.is_finite() && (0.0..=MAX_NOT_FOUND_RETRY_SECONDS).contains(&s) => {
                    Duration::from_secs_f64(s)
                }
                _ => {
                    return Err(ConfigError::new(
                        "NOT_FOUND_RETRY_SECONDS",
                        &v,
                        "expected a number of seconds from 0 to 300",
                    ))
                }
            },
        };
        Ok(Config {
            common,
            mode,
            approvals,
            approval_requires_creator,
            credential_mode,
            creator_min_age_minutes,
            approval_document,
            evidence_bucket,
            not_found_retry,
            member_access: MemberAccess::from_env(env)?,
            account_settings: AccountSettings::from_env(env, crate::approval::check_creator_arn)?,
            state: StateSettings::from_env(env)?,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_env(&[("UNRELATED", "x")]).unwrap();
        assert_eq!(c.mode, Mode::Delete);
        assert!(c.approvals.is_empty());
        assert_eq!(c.approval_document, None);
        assert_eq!(c.evidence_bucket, None);
        assert_eq!(c.not_found_retry, Duration::from_secs(20));
        assert!(!c.common.dry_run);
        assert!(!c.approval_requires_creator);
        assert_eq!(c.credential_mode, CredentialMode::Notify);
        assert_eq!(c.creator_min_age_minutes, 10);
    }

    #[test]
    fn every_setting_is_read() {
        let c = Config::from_env(&[
            ("RESPONSE_MODE", "Quarantine"),
            ("APPROVED_USER_PATTERNS", "svc-*, ci-bot"),
            ("APPROVED_PATH_PREFIXES", "/service-accounts/"),
            (
                "APPROVED_CREATOR_ARNS",
                "arn:aws:iam::123456789012:role/terraform-deployer",
            ),
            (
                "APPROVAL_DOCUMENT_URI",
                "s3://security-config/approvals.json",
            ),
            ("EVIDENCE_BUCKET", "trailwarden-evidence-123456789012"),
            ("NOT_FOUND_RETRY_SECONDS", "0.5"),
            ("DRY_RUN", "true"),
            ("APPROVAL_REQUIRES_CREATOR", "true"),
            ("CREDENTIAL_RESPONSE_MODE", "deactivate"),
            ("APPROVED_CREATOR_MIN_AGE_MINUTES", "0"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Quarantine);
        assert_eq!(c.approvals.user_patterns, vec!["svc-*", "ci-bot"]);
        assert_eq!(c.approvals.path_prefixes, vec!["/service-accounts/"]);
        assert_eq!(c.approvals.creator_arns.len(), 1);
        assert_eq!(
            c.approval_document.unwrap().to_string(),
            "s3://security-config/approvals.json"
        );
        assert_eq!(
            c.evidence_bucket.as_deref(),
            Some("trailwarden-evidence-123456789012")
        );
        assert_eq!(c.not_found_retry, Duration::from_millis(500));
        assert!(c.common.dry_run);
        assert!(c.approval_requires_creator);
        assert_eq!(c.credential_mode, CredentialMode::Deactivate);
        assert_eq!(c.creator_min_age_minutes, 0);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases: &[(&str, &str)] = &[
            ("RESPONSE_MODE", "nuke"),
            ("APPROVED_USER_PATTERNS", "svc-*,*"),
            ("APPROVED_USER_PATTERNS", "?*"),
            ("APPROVED_USER_PATTERNS", "*?*"),
            ("APPROVED_CREATOR_ARNS", "arn:*:*:*:*:*"),
            ("APPROVED_CREATOR_ARNS", "arn:*"),
            ("APPROVED_CREATOR_ARNS", "*"),
            ("APPROVED_CREATOR_ARNS", "arn:aws:iam::123456789012:role/*"),
            ("APPROVAL_REQUIRES_CREATOR", "maybe"),
            ("CREDENTIAL_RESPONSE_MODE", "delete"),
            ("APPROVED_PATH_PREFIXES", "service-accounts"),
            ("APPROVED_CREATOR_ARNS", "terraform-deployer"),
            ("APPROVAL_DOCUMENT_URI", "https://example.com/a.json"),
            ("EVIDENCE_BUCKET", "s3://evidence"),
            ("NOT_FOUND_RETRY_SECONDS", "forever"),
            ("NOT_FOUND_RETRY_SECONDS", "-1"),
            ("NOT_FOUND_RETRY_SECONDS", "301"),
            ("APPROVED_CREATOR_MIN_AGE_MINUTES", "10081"),
            ("APPROVED_CREATOR_MIN_AGE_MINUTES", "-5"),
            ("APPROVED_CREATOR_MIN_AGE_MINUTES", "ten"),
        ];
        for (var, value) in cases {
            let e = Config::from_env(&[(*var, *value)]).unwrap_err();
            assert_eq!(e.var, *var, "{e}");
            assert!(e.to_string().contains(var), "{e}");
        }
        let e = Config::from_env(&[("RESPONSE_MODE", "nuke")]).unwrap_err();
        assert!(e.to_string().contains("delete, quarantine, notify"), "{e}");
    }
}
