//! Settings per account or organizational unit, from one JSON document (`ACCOUNT_SETTINGS_URI`).
//!
//! ```json
//! {
//!   "accounts": {
//!     "111122223333": {"exempt": true},
//!     "444455556666": {"unapproved_user_mode": "delete"}
//!   },
//!   "organizational_units": {
//!     "ou-ab12-workload1": {"accounts": ["444455556666"], "parent": "ou-ab12-sandbox01",
//!                           "security_group_mode": "revoke"},
//!     "ou-ab12-sandbox01": {"unapproved_user_mode": "notify", "security_group_mode": "notify",
//!                           "approved_creator_arns": ["arn:aws:iam::*:role/sandbox-admin"]}
//!   }
//! }
//! ```
//!
//! Each entry may set `unapproved_user_mode` (`delete`, `quarantine`, `notify`),
//! `credential_response_mode` (`notify`, `deactivate`), `security_group_mode` (`revoke`,
//! `notify`), `allowed_public_ports` (`"80,443"`, `"none"`: replaces the deployment's
//! `ALLOWED_PUBLIC_PORTS`), `approved_creator_arns` (added to the deployment's
//! `APPROVED_CREATOR_ARNS`), `exempt_security_group_ids` (added to the deployment's
//! `EXEMPT_GROUP_IDS`) and `exempt` (`true`: alert only, never act, in that account). An organizational unit also lists its own `accounts` and may name its `parent`
//! (another OU of the document), so an account's OU path comes from the document itself: no
//! Organizations call at run time, and the decision stays pure.
//!
//! Precedence, key by key: the account's entry, then its OU, then that OU's parent and so on
//! outward, then the deployment's environment variables. `approved_creator_arns` add up along
//! the whole path. Unknown keys, malformed ids and bad values are errors naming the key path
//! (`organizational_units.ou-ab12-sandbox01.security_group_mode`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::config::{self, ConfigError, Env};
use crate::net::PortSet;
use crate::s3uri::DocumentSource;

use serde_json::{Map, Value};

/// Environment variable: the document (a local path or `s3://bucket/key`).
pub const ACCOUNT_SETTINGS_URI: &str = "ACCOUNT_SETTINGS_URI";
/// How a function judges each `approved_creator_arns` item.
pub type CreatorCheck = fn(&str) -> Result<(), String>;
/// Largest document read.
pub const MAX_ACCOUNT_SETTINGS_BYTES: usize = 1 << 20;

/// A responder's modes and the words its settings use for them (`RESPONSE_MODE` and the
/// like, and this document's keys): one definition, so the environment, the document and the
/// alerts cannot disagree on a name.
macro_rules! modes {
    ($(#[$m:meta])* $name:ident, default $default:ident {
        $($(#[$vm:meta])* $variant:ident = $word:literal,)+
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vm])* $variant,)+
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl Modes for $name {
            const CHOICES: &'static [(&'static str, $name)] = &[$(($word, $name::$variant),)+];
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }
    };
}

/// A responder's modes, each with the word settings use for it.
pub trait Modes: Copy + 'static {
    /// Each mode with its word (`config::choice` takes this list as it is).
    const CHOICES: &'static [(&'static str, Self)];
}

/// The mode `word` names in the document, or an error saying which words are accepted.
fn mode<M: Modes>(path: &str, word: &str) -> Result<M, EstateError> {
    if let Some((_, m)) = M::CHOICES.iter().find(|(w, _)| *w == word) {
        return Ok(*m);
    }
    let words: Vec<&str> = M::CHOICES.iter().map(|(w, _)| *w).collect();
    let expected = match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => words.concat(),
    };
    Err(err(path, format!("expected {expected}, got {word:?}")))
}

modes! {
    /// What unapproved-user does with an IAM user nobody approved (`RESPONSE_MODE`,
    /// `unapproved_user_mode`).
    UserMode, default Delete {
        /// Remove everything that blocks `DeleteUser`, then delete the user.
        Delete = "delete",
        /// Deny every action (`AWSDenyAll`, or an inline deny-all policy when the user already
        /// has the most managed policies IAM allows), delete the console password, set every
        /// access key, SSH public key, service-specific credential and signing certificate
        /// Inactive, deactivate every MFA device, and tag the user with why and when.
        /// Reversible; the user stays in place as evidence.
        Quarantine = "quarantine",
        /// Change nothing in IAM: capture evidence and alert.
        Notify = "notify",
    }
}

modes! {
    /// What security-group does about world-open ingress on a port that is not allowed
    /// (`RESPONSE_MODE`, `security_group_mode`).
    GroupMode, default Revoke {
        /// Revoke exactly the offending rules, then alert.
        Revoke = "revoke",
        /// Alert only.
        Notify = "notify",
    }
}

modes! {
    /// What unapproved-user does with credentials an unapproved principal made for another,
    /// existing user (`CreateAccessKey`, `CreateLoginProfile`, `UpdateLoginProfile`,
    /// `UploadSSHPublicKey`, `UploadSigningCertificate`, `CreateServiceSpecificCredential`,
    /// `ResetServiceSpecificCredential`):
    /// `CREDENTIAL_RESPONSE_MODE`, `credential_response_mode`.
    CredentialResponse, default Notify {
        /// Alert only (the default: the user is an existing one, possibly a workload, and an
        /// administrator not listed in `APPROVED_CREATOR_ARNS` rotating a colleague's key is
        /// a common false positive).
        Notify = "notify",
        /// Set the new access key Inactive, or delete the console password just set.
        Deactivate = "deactivate",
    }
}

/// What one account or OU entry sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub unapproved_user_mode: Option<UserMode>,
    pub credential_response_mode: Option<CredentialResponse>,
    pub security_group_mode: Option<GroupMode>,
    pub allowed_public_ports: Option<PortSet>,
    pub approved_creator_arns: Vec<String>,
    pub exempt_security_group_ids: Vec<String>,
    pub exempt: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Unit {
    entry: Entry,
    parent: Option<String>,
}

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The account's own entry.
    Account(String),
    /// An organizational unit on the account's path.
    Unit(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Account(a) => write!(f, "account {a} ({ACCOUNT_SETTINGS_URI})"),
            Source::Unit(u) => write!(f, "organizational unit {u} ({ACCOUNT_SETTINGS_URI})"),
        }
    }
}

/// A value and the entry that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

/// The settings that apply to one account (`None`: the deployment's own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub unapproved_user_mode: Option<Setting<UserMode>>,
    pub credential_response_mode: Option<Setting<CredentialResponse>>,
    pub security_group_mode: Option<Setting<GroupMode>>,
    /// Replaces the deployment's.
    pub allowed_public_ports: Option<Setting<PortSet>>,
    /// Added to the deployment's, from every entry on the path.
    pub approved_creator_arns: Vec<Setting<String>>,
    /// Added to the deployment's, from every entry on the path.
    pub exempt_security_group_ids: Vec<Setting<String>>,
    pub exempt: Option<Setting<bool>>,
}

/// What [`Resolved::describe`] says when no entry of the document applied: the deployment's
/// own settings. Alerts leave the fact out then.
pub const DEPLOYMENT_SETTINGS: &str = "deployment (environment variables)";

impl Resolved {
    /// True when the account is exempt: alert only.
    pub fn is_exempt(&self) -> bool {
        self.exempt.as_ref().is_some_and(|s| s.value)
    }

    /// The alert fact: which entries the given keys came from, or the deployment.
    pub fn describe(sources: &[&Source]) -> String {
        let mut s: Vec<&Source> = sources.to_vec();
        s.sort();
        s.dedup();
        if s.is_empty() {
            return DEPLOYMENT_SETTINGS.to_string();
        }
        s.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// An invalid document: the key path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstateError {
    /// `accounts.111122223333.exempt`; empty for the document itself.
    pub path: String,
    pub message: String,
}

impl fmt::Display for EstateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for EstateError {}

fn err(path: &str, message: impl Into<String>) -> EstateError {
    EstateError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// The parsed document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Estate {
    accounts: BTreeMap<String, Entry>,
    units: BTreeMap<String, Unit>,
    /// Account id → the OU whose `accounts` lists it.
    member_of: BTreeMap<String, String>,
}

/// A 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An organizational unit id: `ou-` + 4 to 32 + `-` + 8 to 32 lowercase letters or digits.
pub fn is_ou_id(s: &str) -> bool {
    let ok = |p: &str, min: usize| {
        (min..=32).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    match s.strip_prefix("ou-").and_then(|r| r.split_once('-')) {
        Some((a, b)) => ok(a, 4) && ok(b, 8),
        None => false,
    }
}

/// The check any function applies to `approved_creator_arns`: an ARN.
pub fn check_arn(s: &str) -> Result<(), String> {
    if s.starts_with("arn:") && s.split(':').count() >= 6 {
        Ok(())
    } else {
        Err("expected an ARN (arn:aws:iam::ACCOUNT:role/NAME)".to_string())
    }
}

impl Estate {
    /// True when the document sets nothing.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.units.is_empty()
    }

    /// Parses the document; `check_creator` judges each `approved_creator_arns` item (a
    /// function passes the check it applies to its own `APPROVED_CREATOR_ARNS`).
    pub fn parse(text: &str, check_creator: CreatorCheck) -> Result<Estate, EstateError> {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| err("", format!("not a valid JSON document: {e}")))?;
        let Value::Object(top) = doc else {
            return Err(err("", "expected a JSON object"));
        };
        let mut estate = Estate::default();
        for (key, value) in &top {
            match key.as_str() {
                "accounts" => {
                    for (id, v) in object(key, value)? {
                        let path = format!("accounts.{id}");
                        if !is_account_id(id) {
                            return Err(err(&path, "expected a 12-digit account id"));
                        }
                        let (entry, _, _) = entry(&path, v, false, check_creator)?;
                        estate.accounts.insert(id.clone(), entry);
                    }
                }
                "organizational_units" => {
                    for (id, v) in object(key, value)? {
                        let path = format!("organizational_units.{id}");
                        if !is_ou_id(id) {
                            return Err(err(
                                &path,
                                "expected an organizational unit id (ou-ab12-cdef3456)",
                            ));
                        }
                        let (entry, accounts, parent) = entry(&path, v, true, check_creator)?;
                        for a in accounts {
                            if let Some(other) = estate.member_of.insert(a.clone(), id.clone()) {
                                return Err(err(
                                    &format!("{path}.accounts"),
                                    format!("account {a} is also listed by {other}: an account belongs to one organizational unit"),
                                ));
                            }
                        }
                        estate.units.insert(id.clone(), Unit { entry, parent });
                    }
                }
                other => {
                    return Err(err(
                        other,
                        "unknown key (expected accounts, organizational_units)",
                    ))
                }
            }
        }
        for (id, unit) in &estate.units {
            let path = format!("organizational_units.{id}.parent");
            if let Some(p) = &unit.parent {
                if !estate.units.contains_key(p) {
                    return Err(err(
                        &path,
                        format!("{p} is not an organizational unit of this document"),
                    ));
                }
            }
            // A chain longer than the number of units loops.
            if estate.path_from(id).count() > estate.units.len() {
                return Err(err(&path, "the parents form a loop"));
            }
        }
        Ok(estate)
    }

    /// The OU ids from `unit` outward (bounded, so a loop cannot run forever).
    fn path_from<'a>(&'a self, unit: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let bound = self.units.len() + 1;
        std::iter::successors(Some(unit), move |u| {
            self.units.get(*u).and_then(|x| x.parent.as_deref())
        })
        .take(bound)
    }

    /// The account's OU path, innermost first (empty when no OU lists it).
    pub fn units_of(&self, account: &str) -> Vec<&str> {
        match self.member_of.get(account) {
            Some(u) => self.path_from(u).collect(),
            None => Vec::new(),
        }
    }

    /// The settings for `account`: its entry, then its OUs from the innermost outward.
    pub fn resolve(&self, account: &str) -> Resolved {
        let mut levels: Vec<(Source, &Entry)> = Vec::new();
        if let Some(e) = self.accounts.get(account) {
            levels.push((Source::Account(account.to_string()), e));
        }
        for u in self.units_of(account) {
            if let Some(unit) = self.units.get(u) {
                levels.push((Source::Unit(u.to_string()), &unit.entry));
            }
        }
        let mut r = Resolved::default();
        for (source, e) in levels {
            let set = |v| Setting {
                value: v,
                source: source.clone(),
            };
            first(&mut r.unapproved_user_mode, e.unapproved_user_mode, &source);
            first(
                &mut r.credential_response_mode,
                e.credential_response_mode,
                &source,
            );
            first(&mut r.security_group_mode, e.security_group_mode, &source);
            first(
                &mut r.allowed_public_ports,
                e.allowed_public_ports.clone(),
                &source,
            );
            first(&mut r.exempt, e.exempt, &source);
            r.approved_creator_arns
                .extend(e.approved_creator_arns.iter().cloned().map(set));
            r.exempt_security_group_ids
                .extend(e.exempt_security_group_ids.iter().cloned().map(set));
        }
        r
    }
}

/// Keeps the innermost value set: the first level, from the account outward, that sets it.
fn first<T>(slot: &mut Option<Setting<T>>, value: Option<T>, source: &Source) {
    if slot.is_none() {
        *slot = value.map(|value| Setting {
            value,
            source: source.clone(),
        });
    }
}

/// A security group id: `sg-` and letters or digits.
pub fn is_security_group_id(s: &str) -> bool {
    s.strip_prefix("sg-")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn object<'a>(path: &str, v: &'a Value) -> Result<&'a Map<String, Value>, EstateError> {
    v.as_object()
        .ok_or_else(|| err(path, "expected a JSON object"))
}

type Parsed = (Entry, Vec<String>, Option<String>);

fn entry(
    path: &str,
    v: &Value,
    unit: bool,
    check_creator: CreatorCheck,
) -> Result<Parsed, EstateError> {
    let mut e = Entry::default();
    let mut accounts = Vec::new();
    let mut parent = None;
    for (key, value) in object(path, v)? {
        let p = format!("{path}.{key}");
        let text = || {
            value
                .as_str()
                .ok_or_else(|| err(&p, "expected a string"))
                .map(|s| s.trim().to_ascii_lowercase())
        };
        let strings = || -> Result<Vec<String>, EstateError> {
            let items = value
                .as_array()
                .ok_or_else(|| err(&p, "expected a list of strings"))?;
            items
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err(&format!("{p}[{i}]"), "expected a string"))
                })
                .collect()
        };
        match key.as_str() {
            "unapproved_user_mode" => {
                e.unapproved_user_mode = Some(mode(&p, &text()?)?);
            }
            "credential_response_mode" => {
                e.credential_response_mode = Some(mode(&p, &text()?)?);
            }
            "allowed_public_ports" => {
                let raw = value.as_str().ok_or_else(|| {
                    err(
                        &p,
                        "expected a string of ports and ranges (\"80,443,8000-8080\", or \"none\")",
                    )
                })?;
                e.allowed_public_ports = Some(PortSet::parse(raw).map_err(|item| {
                    err(
                        &p,
                        format!("{item:?} is not a port (0-65535) or a range such as 8000-8080"),
                    )
                })?);
            }
            "exempt_security_group_ids" => {
                let items = strings()?;
                if let Some((i, g)) = items
                    .iter()
                    .enumerate()
                    .find(|(_, g)| !is_security_group_id(g))
                {
                    return Err(err(
                        &format!("{p}[{i}]"),
                        format!("expected a security group id (sg-0123456789abcdef0), got {g:?}"),
                    ));
                }
                e.exempt_security_group_ids = items;
            }
            "security_group_mode" => {
                e.security_group_mode = Some(mode(&p, &text()?)?);
            }
            "exempt" => {
                e.exempt = Some(
                    value
                        .as_bool()
                        .ok_or_else(|| err(&p, "expected true or false"))?,
                )
            }
            "approved_creator_arns" => {
                let items = strings()?;
                for (i, a) in items.iter().enumerate() {
                    check_creator(a).map_err(|m| err(&format!("{p}[{i}]"), m))?;
                }
                e.approved_creator_arns = items;
            }
            "accounts" if unit => {
                accounts = strings()?;
                if let Some((i, a)) = accounts.iter().enumerate().find(|(_, a)| !is_account_id(a)) {
                    return Err(err(
                        &format!("{p}[{i}]"),
                        format!("expected a 12-digit account id, got {a:?}"),
                    ));
                }
            }
            "parent" if unit => {
                let s = value.as_str().unwrap_or_default();
                if !is_ou_id(s) {
                    return Err(err(&p, "expected an organizational unit id"));
                }
                parent = Some(s.to_string());
            }
            _ => {
                const KEYS: &str = "unapproved_user_mode, credential_response_mode, security_group_mode, allowed_public_ports, approved_creator_arns, exempt_security_group_ids, exempt";
                let known = if unit {
                    format!("{KEYS}, accounts, parent")
                } else {
                    KEYS.to_string()
                };
                return Err(err(&p, format!("unknown key (expected {known})")));
            }
        }
    }
    Ok((e, accounts, parent))
}

/// The `ACCOUNT_SETTINGS_URI` setting of a function and the document it gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSettings {
    /// Where the document is (`None`: not configured).
    pub source: Option<DocumentSource>,
    /// The document: read at configuration for a local path, at cold start
    /// ([`AccountSettings::load_s3`]) for an S3 object.
    pub estate: Arc<Estate>,
}

impl AccountSettings {
    /// Reads `ACCOUNT_SETTINGS_URI`; a local document is read and validated here.
    pub fn from_env(
        env: &dyn Env,
        check_creator: CreatorCheck,
    ) -> Result<AccountSettings, ConfigError> {
        let Some(v) = config::get(env, ACCOUNT_SETTINGS_URI) else {
            return Ok(AccountSettings::default());
        };
        let source = DocumentSource::parse(&v).map_err(|e| {
            ConfigError::new(
                ACCOUNT_SETTINGS_URI,
                &v,
                format!("a local path or s3://BUCKET/KEY ({e})"),
            )
        })?;
        let estate = match &source {
            DocumentSource::Path(p) => {
                let bad = |m: String| {
                    ConfigError::new(
                        ACCOUNT_SETTINGS_URI,
                        &v,
                        format!("a valid account settings document: {m}"),
                    )
                };
                let text = std::fs::read_to_string(p)
                    .map_err(|e| bad(format!("cannot read {}: {e}", p.display())))?;
                Estate::parse(&text, check_creator).map_err(|e| bad(e.to_string()))?
            }
            DocumentSource::S3(_) => Estate::default(),
        };
        Ok(AccountSettings {
            source: Some(source),
            estate: Arc::new(estate),
        })
    }

    /// With an `s3://` `ACCOUNT_SETTINGS_URI`, reads and validates the document (at cold
    /// start). An unreadable or invalid document is an error naming the variable, the object
    /// and the key path.
    #[cfg(feature = "aws")]
    pub async fn load_s3(
        &mut self,
        s3: &aws_sdk_s3::Client,
        check_creator: CreatorCheck,
    ) -> Result<(), crate::respond::InitError> {
        let Some(DocumentSource::S3(uri)) = &self.source else {
            return Ok(());
        };
        let fail = |m: String| crate::respond::InitError(format!("{ACCOUNT_SETTINGS_URI}: {m}"));
        let bytes = crate::aws::read_object(s3, uri, MAX_ACCOUNT_SETTINGS_BYTES)
            .await
            .map_err(|e| fail(format!("cannot read {uri}: {e}")))?;
        let text =
            std::str::from_utf8(&bytes).map_err(|_| fail(format!("{uri}: not UTF-8 text")))?;
        let estate = Estate::parse(text, check_creator).map_err(|e| fail(format!("{uri}: {e}")))?;
        tracing::info!(source = %uri, accounts = estate.accounts.len(), organizational_units = estate.units.len(), "account settings loaded");
        self.estate = Arc::new(estate);
        Ok(())
    }

    /// The settings for `account`.
    pub fn resolve(&self, account: &str) -> Resolved {
        self.estate.resolve(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
      "accounts": {
        "111122223333": {"exempt": true},
        "444455556666": {"unapproved_user_mode": "delete",
                         "approved_creator_arns": ["arn:aws:iam::444455556666:role/deployer"]}
      },
      "organizational_units": {
        "ou-ab12-workload1": {"accounts": ["444455556666", "777788889999"],
                              "parent": "ou-ab12-sandbox01",
                              "security_group_mode": "revoke"},
        "ou-ab12-sandbox01": {"unapproved_user_mode": "notify", "security_group_mode": "notify",
                              "exempt": false,
                              "approved_creator_arns": ["arn:aws:iam::*:role/sandbox-admin"]}
      }
    }"#;

    fn parse(text: &str) -> Result<Estate, EstateError> {
        Estate::parse(text, check_arn)
    }

    #[test]
    fn ids_are_checked() {
        assert!(is_account_id("111122223333"));
        assert!(!is_account_id("11112222333"));
        assert!(is_ou_id("ou-ab12-cdef3456"));
        assert!(!is_ou_id("ou-ab12-cdef"));
        assert!(!is_ou_id("ou-AB12-cdef3456"));
        assert!(!is_ou_id("r-ab12"));
    }

    #[test]
    fn the_account_entry_wins_then_the_nearest_unit_then_outer_units() {
        let e = parse(DOC).unwrap();
        assert_eq!(
            e.units_of("444455556666"),
            ["ou-ab12-workload1", "ou-ab12-sandbox01"]
        );
        let r = e.resolve("444455556666");
        let user = r.unapproved_user_mode.clone().unwrap();
        assert_eq!(user.value, UserMode::Delete);
        assert_eq!(user.source, Source::Account("444455556666".into()));
        let sg = r.security_group_mode.clone().unwrap();
        assert_eq!(sg.value, GroupMode::Revoke);
        assert_eq!(sg.source, Source::Unit("ou-ab12-workload1".into()));
        assert!(!r.is_exempt());
        assert_eq!(
            r.exempt.unwrap().source,
            Source::Unit("ou-ab12-sandbox01".into())
        );
        let creators: Vec<&str> = r
            .approved_creator_arns
            .iter()
            .map(|s| s.value.as_str())
            .collect();
        assert_eq!(
            creators,
            [
                "arn:aws:iam::444455556666:role/deployer",
                "arn:aws:iam::*:role/sandbox-admin"
            ]
        );

        // Listed by an OU only: the OU's settings, the outer OU's for what it does not set.
        let r = e.resolve("777788889999");
        assert_eq!(r.unapproved_user_mode.unwrap().value, UserMode::Notify);
        assert_eq!(r.security_group_mode.unwrap().value, GroupMode::Revoke);

        // Exempt by its own entry, in no OU.
        let r = e.resolve("111122223333");
        assert!(r.is_exempt());
        assert!(r.unapproved_user_mode.is_none());

        // Not in the document: the deployment decides.
        assert_eq!(e.resolve("999999999999"), Resolved::default());
        assert_eq!(
            Resolved::describe(&[]),
            "deployment (environment variables)"
        );
        assert_eq!(
            Resolved::describe(&[&Source::Account("111122223333".into())]),
            "account 111122223333 (ACCOUNT_SETTINGS_URI)"
        );
    }

    #[test]
    fn ports_credentials_and_exempt_groups_resolve_like_the_other_keys() {
        let e = parse(
            r#"{
              "accounts": {"444455556666": {"allowed_public_ports": "443",
                                            "exempt_security_group_ids": ["sg-0aaa1111bbbb2222c"]}},
              "organizational_units": {
                "ou-ab12-workload1": {"accounts": ["444455556666", "777788889999"],
                                      "credential_response_mode": "deactivate",
                                      "allowed_public_ports": "none",
                                      "exempt_security_group_ids": ["sg-0ddd3333eeee4444f"]}
              }
            }"#,
        )
        .unwrap();
        let r = e.resolve("444455556666");
        let ports = r.allowed_public_ports.unwrap();
        assert_eq!(ports.value.to_string(), "443");
        assert_eq!(ports.source, Source::Account("444455556666".into()));
        let c = r.credential_response_mode.unwrap();
        assert_eq!(c.value, CredentialResponse::Deactivate);
        assert_eq!(c.source, Source::Unit("ou-ab12-workload1".into()));
        let groups: Vec<&str> = r
            .exempt_security_group_ids
            .iter()
            .map(|g| g.value.as_str())
            .collect();
        assert_eq!(groups, ["sg-0aaa1111bbbb2222c", "sg-0ddd3333eeee4444f"]);
        // The OU's "none" for an account that does not set its own.
        let r = e.resolve("777788889999");
        assert!(r.allowed_public_ports.unwrap().value.is_empty());
        assert_eq!(r.exempt_security_group_ids.len(), 1);
        assert_eq!(e.resolve("999999999999"), Resolved::default());
    }

    #[test]
    fn errors_name_the_key_path() {
        let cases: &[(&str, &str)] = &[
            (r#"{"acounts": {}}"#, "acounts"),
            (r#"{"accounts": {"1111": {}}}"#, "accounts.1111"),
            (
                r#"{"accounts": {"111122223333": {"mode": "notify"}}}"#,
                "accounts.111122223333.mode",
            ),
            (
                r#"{"accounts": {"111122223333": {"unapproved_user_mode": "nuke"}}}"#,
                "accounts.111122223333.unapproved_user_mode",
            ),
            (
                r#"{"accounts": {"111122223333": {"security_group_mode": "delete"}}}"#,
                "accounts.111122223333.security_group_mode",
            ),
            (
                r#"{"accounts": {"111122223333": {"exempt": "yes"}}}"#,
                "accounts.111122223333.exempt",
            ),
            (
                r#"{"accounts": {"111122223333": {"approved_creator_arns": ["deployer"]}}}"#,
                "accounts.111122223333.approved_creator_arns[0]",
            ),
            (
                r#"{"accounts": {"111122223333": {"accounts": []}}}"#,
                "accounts.111122223333.accounts",
            ),
            (
                r#"{"accounts": {"111122223333": {"credential_response_mode": "delete"}}}"#,
                "accounts.111122223333.credential_response_mode",
            ),
            (
                r#"{"accounts": {"111122223333": {"allowed_public_ports": "80,44o"}}}"#,
                "accounts.111122223333.allowed_public_ports",
            ),
            (
                r#"{"accounts": {"111122223333": {"allowed_public_ports": [80, 443]}}}"#,
                "accounts.111122223333.allowed_public_ports",
            ),
            (
                r#"{"accounts": {"111122223333": {"exempt_security_group_ids": ["sg-1", "web"]}}}"#,
                "accounts.111122223333.exempt_security_group_ids[1]",
            ),
            (
                r#"{"organizational_units": {"ou-1": {}}}"#,
                "organizational_units.ou-1",
            ),
            (
                r#"{"organizational_units": {"ou-ab12-cdef3456": {"accounts": ["12"]}}}"#,
                "organizational_units.ou-ab12-cdef3456.accounts[0]",
            ),
            (
                r#"{"organizational_units": {"ou-ab12-cdef3456": {"parent": "ou-ab12-nothere1"}}}"#,
                "organizational_units.ou-ab12-cdef3456.parent",
            ),
            (
                r#"{"organizational_units": {"ou-ab12-aaaaaaaa": {"parent": "ou-ab12-bbbbbbbb"},
                                             "ou-ab12-bbbbbbbb": {"parent": "ou-ab12-aaaaaaaa"}}}"#,
                "organizational_units.ou-ab12-aaaaaaaa.parent",
            ),
            (
                r#"{"organizational_units": {"ou-ab12-aaaaaaaa": {"accounts": ["111122223333"]},
                                             "ou-ab12-bbbbbbbb": {"accounts": ["111122223333"]}}}"#,
                "organizational_units.ou-ab12-bbbbbbbb.accounts",
            ),
        ];
        for (doc, path) in cases {
            let e = parse(doc).unwrap_err();
            assert_eq!(e.path, *path, "{doc}: {e}");
            assert!(e.to_string().starts_with(path), "{e}");
        }
        assert!(parse("[]").unwrap_err().message.contains("object"));
        assert!(parse("{").unwrap_err().message.contains("JSON"));
        assert!(parse("{}").unwrap().is_empty());
    }

    #[test]
    fn the_function_s_own_creator_check_applies() {
        let strict = |a: &str| {
            if a.ends_with(":role/*") {
                Err("approves every role".to_string())
            } else {
                Ok(())
            }
        };
        let doc = r#"{"accounts": {"111122223333": {"approved_creator_arns": ["arn:aws:iam::111122223333:role/*"]}}}"#;
        assert!(Estate::parse(doc, check_arn).is_ok());
        let e = Estate::parse(doc, strict).unwrap_err();
        assert_eq!(e.path, "accounts.111122223333.approved_creator_arns[0]");
    }

    #[test]
    fn a_local_document_is_read_at_configuration_and_a_bad_one_names_the_variable() {
        let dir = std::env::temp_dir().join(format!("tw-estate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, DOC).unwrap();
        let s =
            AccountSettings::from_env(&[(ACCOUNT_SETTINGS_URI, good.to_str().unwrap())], check_arn)
                .unwrap();
        assert!(s.resolve("111122223333").is_exempt());
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"accounts": {"111122223333": {"exempt": 1}}}"#).unwrap();
        let e =
            AccountSettings::from_env(&[(ACCOUNT_SETTINGS_URI, bad.to_str().unwrap())], check_arn)
                .unwrap_err();
        assert_eq!(e.var, ACCOUNT_SETTINGS_URI);
        assert!(
            e.to_string().contains("accounts.111122223333.exempt"),
            "{e}"
        );
        let none: [(&str, &str); 0] = [];
        assert!(AccountSettings::from_env(&none, check_arn)
            .unwrap()
            .source
            .is_none());
        let s3 = AccountSettings::from_env(
            &[(ACCOUNT_SETTINGS_URI, "s3://security-config/accounts.json")],
            check_arn,
        )
        .unwrap();
        assert!(s3.estate.is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }
}
