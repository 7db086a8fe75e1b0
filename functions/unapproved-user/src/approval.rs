//! Who and what is approved: user-name globs, IAM path prefixes and creator ARN globs, from
//! the environment and optionally from a JSON document in S3; and the typed verdict about one
//! creator and user (its wording is in [`crate::report`]).
//!
//! Whoever calls `CreateUser` chooses the new user's name and path, so a name or path
//! approval trusts the creator's choice: anyone allowed to create users can create an
//! "approved" one. Only a creator approval says something about who acted. With
//! `APPROVAL_REQUIRES_CREATOR=true` the creator must be approved, and name/path approvals
//! (when any are configured) narrow what an approved creator may create.

use serde::{Deserialize, Serialize};
use trailwarden::aws::{read_object, ErrorKind};
use trailwarden::glob::first_match;
pub use trailwarden::s3uri::{check_bucket_name, S3Uri};

/// The approval lists. By default a new user is approved when its name matches a user
/// pattern, its path starts with a path prefix, or its creator's ARN matches a creator
/// pattern (see [`Verdict::approved`] for `APPROVAL_REQUIRES_CREATOR`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvals {
    /// Globs over the new user's name (`svc-*`).
    pub user_patterns: Vec<String>,
    /// IAM path prefixes (`/service-accounts/`), each starting and ending with `/`.
    pub path_prefixes: Vec<String>,
    /// Globs over the creator's ARN. Role sessions are matched by their role ARN
    /// (`arn:aws:iam::123456789012:role/terraform-deployer`), whatever the session name. In a
    /// role ARN pattern `*` and `?` never match `/`, so `role/terraform*` does not match a
    /// role under a path (`role/terraform-x/evil`); `role/*/x` matches one path segment.
    pub creator_arns: Vec<String>,
}

/// How one approval list judged the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "match", content = "entry", rename_all = "snake_case")]
pub enum Match {
    /// This entry matched.
    Matched(String),
    /// Entries are configured; none matched.
    Unmatched,
    /// The list is empty.
    NotConfigured,
    /// The creator has no ARN to match (a service, another account, an unknown principal).
    NoArn,
    /// The list does not apply to this kind of event (names and paths of existing users).
    NotApplicable,
    /// The creator matched this entry but is not trusted: it was itself created moments
    /// before, or no longer exists (see [`Doubt`]).
    Distrusted { entry: String, doubt: Doubt },
}

/// Why a creator that matches an approved creator pattern does not approve. An approved
/// creator pattern is met by every user or role that fits it, including one an unapproved
/// principal created seconds ago (a user under an approved path, a role of an approved name):
/// what that creator makes in the seconds before its own response lands is not approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "doubt", rename_all = "snake_case")]
pub enum Doubt {
    /// The creator (an IAM user or role of the event's account) was created `seconds` before
    /// the event: less than `APPROVED_CREATOR_MIN_AGE_MINUTES`.
    TooNew { seconds: i64, min_minutes: u32 },
    /// No user or role of that name exists any more, or the name now belongs to another one
    /// (its unique id differs from the event's).
    Gone,
}

/// The IAM user or role behind a creator ARN, to look up its creation date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatorRef {
    pub kind: CreatorKind,
    pub account: String,
    /// The name without its path (what `GetUser`/`GetRole` take).
    pub name: String,
    /// The unique id the event gives (`AIDA…`, `AROA…`), if any.
    pub unique_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatorKind {
    User,
    Role,
}

impl CreatorRef {
    /// `arn:PARTITION:iam::ACCOUNT:user/PATH/NAME` or `…:role/PATH/NAME`; anything else
    /// (a service, a federated user, an ARN without a name) is `None`.
    pub fn from_arn(arn: &str, unique_id: Option<&str>) -> Option<CreatorRef> {
        let mut f = arn.splitn(6, ':');
        let (Some("arn"), Some(_), Some("iam"), Some(""), Some(account), Some(resource)) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            return None;
        };
        let (kind, rest) = if let Some(r) = resource.strip_prefix("user/") {
            (CreatorKind::User, r)
        } else if let Some(r) = resource.strip_prefix("role/") {
            (CreatorKind::Role, r)
        } else {
            return None;
        };
        let name = rest.rsplit('/').next().filter(|n| !n.is_empty())?;
        Some(CreatorRef {
            kind,
            account: account.to_string(),
            name: name.to_string(),
            unique_id: unique_id
                .map(|u| u.split(':').next().unwrap_or(u).to_string())
                .filter(|u| !u.is_empty()),
        })
    }
}

/// What IAM says of an approved creator, looked up when an approval rests on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatorFact {
    /// It exists (with the event's unique id, when the event gives one) and was created then.
    Created(chrono::DateTime<chrono::Utc>),
    /// It does not exist, or its name belongs to another user or role now.
    Gone,
    /// The look-up failed (throttling, a missing permission): nothing is known against the
    /// creator, so the approval stands, and the alert says it was not checked.
    Unchecked(String),
}

impl CreatorFact {
    /// The doubt this fact raises about a creator acting at `event_time`, with
    /// `min_minutes` the least age trusted (0: never too new).
    pub fn doubt(
        &self,
        event_time: Option<chrono::DateTime<chrono::Utc>>,
        min_minutes: u32,
    ) -> Option<Doubt> {
        match self {
            CreatorFact::Gone => Some(Doubt::Gone),
            CreatorFact::Unchecked(_) => None,
            CreatorFact::Created(at) => {
                let seconds = (event_time? - *at).num_seconds();
                (min_minutes > 0 && seconds < i64::from(min_minutes) * 60).then_some(
                    Doubt::TooNew {
                        seconds: seconds.max(0),
                        min_minutes,
                    },
                )
            }
        }
    }
}

impl Match {
    pub fn matched(&self) -> bool {
        matches!(self, Match::Matched(_))
    }
    /// The entry that matched.
    pub fn entry(&self) -> Option<&str> {
        match self {
            Match::Matched(e) => Some(e),
            _ => None,
        }
    }
}

/// The approval verdict about one event: how each list judged it, and the rule in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub creator: Match,
    pub name: Match,
    pub path: Match,
    /// `APPROVAL_REQUIRES_CREATOR`.
    pub requires_creator: bool,
}

impl Verdict {
    /// The verdict with a matched creator distrusted for `doubt`.
    pub fn distrusting(mut self, doubt: Option<Doubt>) -> Verdict {
        if let (Some(doubt), Match::Matched(entry)) = (doubt, &self.creator) {
            self.creator = Match::Distrusted {
                entry: entry.clone(),
                doubt,
            };
        }
        self
    }

    /// Approved: by default, any one list matched. With `requires_creator`, the creator
    /// matched and, when name patterns or path prefixes are configured, the name or the path
    /// matched one too.
    pub fn approved(&self) -> bool {
        let name_or_path = self.name.matched() || self.path.matched();
        if self.requires_creator {
            let restricted = matches!(self.name, Match::Matched(_) | Match::Unmatched)
                || matches!(self.path, Match::Matched(_) | Match::Unmatched);
            self.creator.matched() && (name_or_path || !restricted)
        } else {
            self.creator.matched() || name_or_path
        }
    }

    /// A name or path approval that did not count because the creator is not approved
    /// (`APPROVAL_REQUIRES_CREATOR=true`).
    pub fn name_or_path_without_creator(&self) -> bool {
        self.requires_creator
            && !self.creator.matched()
            && (self.name.matched() || self.path.matched())
    }
}

impl Approvals {
    pub fn is_empty(&self) -> bool {
        self.user_patterns.is_empty()
            && self.path_prefixes.is_empty()
            && self.creator_arns.is_empty()
    }

    /// `self` extended with `other`'s entries (duplicates dropped, order kept).
    pub fn merged(&self, other: &Approvals) -> Approvals {
        fn join(a: &[String], b: &[String]) -> Vec<String> {
            let mut out = a.to_vec();
            for x in b {
                if !out.contains(x) {
                    out.push(x.clone());
                }
            }
            out
        }
        Approvals {
            user_patterns: join(&self.user_patterns, &other.user_patterns),
            path_prefixes: join(&self.path_prefixes, &other.path_prefixes),
            creator_arns: join(&self.creator_arns, &other.creator_arns),
        }
    }

    /// Checks every entry. On error: (list name, offending value, what is accepted).
    pub fn validate(&self) -> Result<(), (&'static str, String, String)> {
        for p in &self.user_patterns {
            check_user_pattern(p).map_err(|e| ("userPatterns", p.clone(), e))?;
        }
        for p in &self.path_prefixes {
            check_path_prefix(p).map_err(|e| ("pathPrefixes", p.clone(), e))?;
        }
        for p in &self.creator_arns {
            check_creator_arn(p).map_err(|e| ("creatorArns", p.clone(), e))?;
        }
        Ok(())
    }

    /// How the creator's ARN fares against the creator patterns.
    pub fn creator_match(&self, creator_arn: Option<&str>) -> Match {
        if self.creator_arns.is_empty() {
            return Match::NotConfigured;
        }
        let Some(arn) = creator_arn else {
            return Match::NoArn;
        };
        match self.creator_arns.iter().find(|p| creator_matches(p, arn)) {
            Some(p) => Match::Matched(p.clone()),
            None => Match::Unmatched,
        }
    }

    /// The verdict about a new user (`CreateUser`): every list applies.
    pub fn verdict(
        &self,
        user_name: &str,
        path: &str,
        creator_arn: Option<&str>,
        requires_creator: bool,
    ) -> Verdict {
        let name = if self.user_patterns.is_empty() {
            Match::NotConfigured
        } else {
            match first_match(&self.user_patterns, user_name) {
                Some(p) => Match::Matched(p.to_string()),
                None => Match::Unmatched,
            }
        };
        let path = if self.path_prefixes.is_empty() {
            Match::NotConfigured
        } else {
            match self
                .path_prefixes
                .iter()
                .find(|p| path.starts_with(p.as_str()))
            {
                Some(p) => Match::Matched(p.clone()),
                None => Match::Unmatched,
            }
        };
        Verdict {
            creator: self.creator_match(creator_arn),
            name,
            path,
            requires_creator,
        }
    }

    /// The verdict about credentials made for an existing user: only the creator counts (the
    /// user's name and path say nothing about who may give it credentials).
    pub fn creator_verdict(&self, creator_arn: Option<&str>) -> Verdict {
        Verdict {
            creator: self.creator_match(creator_arn),
            name: Match::NotApplicable,
            path: Match::NotApplicable,
            requires_creator: true,
        }
    }
}

/// True when a creator pattern matches a principal ARN. In a role ARN pattern (resource
/// `role/…`) a wildcard never crosses `/`, so a role name pattern cannot match a role under
/// a path; every other pattern is a plain glob.
pub fn creator_matches(pattern: &str, arn: &str) -> bool {
    if is_role_pattern(pattern) {
        trailwarden::glob::segment_glob(pattern, arn)
    } else {
        trailwarden::glob::glob_match(pattern, arn)
    }
}

fn resource_of(arn: &str) -> Option<&str> {
    arn.splitn(6, ':').nth(5)
}

fn is_role_pattern(pattern: &str) -> bool {
    resource_of(pattern).is_some_and(|r| r.starts_with("role/"))
}

fn only_wildcards(p: &str) -> bool {
    p.chars().all(|c| c == '*' || c == '?')
}

/// A user-name glob: IAM user-name characters plus `*` and `?`, not made of wildcards only
/// (`*`, `?*`, `**`: they approve every user, or every user of some length).
pub fn check_user_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > 128 {
        return Err("expected a user-name glob of 1 to 128 characters".into());
    }
    if only_wildcards(p) {
        return Err(
            "a pattern made only of '*' and '?' approves (nearly) every user; use RESPONSE_MODE=notify to alert without acting"
                .into(),
        );
    }
    if !p
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-*?".contains(c))
    {
        return Err(
            "expected a user-name glob: letters, digits, + = , . @ _ - and the wildcards * ?"
                .into(),
        );
    }
    Ok(())
}

/// An IAM path prefix: starts and ends with `/`, and is not `/` itself (every user's path
/// starts with `/`).
pub fn check_path_prefix(p: &str) -> Result<(), String> {
    if p == "/" {
        return Err(
            "the prefix \"/\" approves every user (the default path is \"/\"); name a path such as /service-accounts/"
                .into(),
        );
    }
    if !p.starts_with('/') || !p.ends_with('/') || p.len() > 512 {
        return Err(
            "expected an IAM path prefix that starts and ends with '/', such as /service-accounts/"
                .into(),
        );
    }
    if !p.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c)) {
        return Err("expected printable ASCII without spaces (IAM path characters)".into());
    }
    Ok(())
}

/// A creator ARN glob. Refused: session ARNs (role sessions are matched by role ARN), and
/// patterns that approve every principal: only wildcards (`*`, `?*`), every ARN segment a
/// wildcard (`arn:*`, `arn:*:*:*:*:*`), or a resource that is only wildcards, alone or after
/// its type (`arn:aws:iam::123456789012:*`, `…:role/*`, `…:user/*`).
pub fn check_creator_arn(p: &str) -> Result<(), String> {
    let approves_all = "approves every principal (any creator would be approved); name the roles or users, such as arn:aws:iam::123456789012:role/terraform-deployer";
    if only_wildcards(p) {
        return Err(format!("a pattern made only of '*' and '?' {approves_all}"));
    }
    if !p.starts_with("arn:") {
        return Err(
            "expected a principal ARN glob such as arn:aws:iam::123456789012:role/terraform-deployer"
                .into(),
        );
    }
    let segments: Vec<&str> = p.splitn(6, ':').skip(1).collect();
    let wild = |s: &str| !s.is_empty() && only_wildcards(s);
    if segments.iter().filter(|s| !s.is_empty()).all(|s| wild(s)) {
        return Err(format!("every ARN segment is a wildcard: {approves_all}"));
    }
    if segments.len() < 5 {
        return Err(
            "expected a principal ARN glob such as arn:aws:iam::123456789012:role/terraform-deployer"
                .into(),
        );
    }
    let resource = segments[4];
    let after_type = resource.split_once('/').map_or(resource, |(_, rest)| rest);
    if wild(resource) || wild(after_type) {
        return Err(format!(
            "the resource {resource:?} is only wildcards: it {approves_all}"
        ));
    }
    if p.contains(":assumed-role/") {
        return Err(
            "role sessions are matched by their role ARN, whatever the session name: use arn:aws:iam::ACCOUNT:role/NAME"
                .into(),
        );
    }
    if p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("expected an ARN glob without spaces".into());
    }
    Ok(())
}

/// The approval document could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("approval document {uri} could not be read: {reason}")]
    Read { uri: String, reason: String },
    #[error("approval document {uri} is not valid: {reason}; expected JSON such as {{\"userPatterns\": [\"svc-*\"], \"pathPrefixes\": [\"/service-accounts/\"], \"creatorArns\": [\"arn:aws:iam::123456789012:role/terraform-deployer\"]}}")]
    Invalid { uri: String, reason: String },
}

/// Largest approval document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApprovalDocument {
    #[serde(default)]
    user_patterns: Vec<String>,
    #[serde(default)]
    path_prefixes: Vec<String>,
    #[serde(default)]
    creator_arns: Vec<String>,
}

/// Parses and validates an approval document:
/// `{"userPatterns": [...], "pathPrefixes": [...], "creatorArns": [...]}` (each optional).
pub fn parse_document(bytes: &[u8], uri: &S3Uri) -> Result<Approvals, ApprovalError> {
    let invalid = |reason: String| ApprovalError::Invalid {
        uri: uri.to_string(),
        reason,
    };
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(invalid(format!(
            "{} bytes is larger than the {} bytes accepted",
            bytes.len(),
            MAX_DOCUMENT_BYTES
        )));
    }
    let doc: ApprovalDocument =
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let trim = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let approvals = Approvals {
        user_patterns: trim(doc.user_patterns),
        path_prefixes: trim(doc.path_prefixes),
        creator_arns: trim(doc.creator_arns),
    };
    approvals
        .validate()
        .map_err(|(list, value, expected)| invalid(format!("{list}: {value:?}: {expected}")))?;
    Ok(approvals)
}

/// Reads the approval document from S3 and parses it.
pub async fn load_document(
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
) -> Result<Approvals, ApprovalError> {
    let bytes = read_object(s3, uri, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| match e.kind {
            ErrorKind::TooLarge => ApprovalError::Invalid {
                uri: uri.to_string(),
                reason: e.to_string(),
            },
            _ => ApprovalError::Read {
                uri: uri.to_string(),
                reason: e.to_string(),
            },
        })?;
    parse_document(&bytes, uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri() -> S3Uri {
        "s3://security-config/trailwarden/approvals.json"
            .parse()
            .unwrap()
    }

    #[test]
    fn creators_match_by_role_whatever_the_session() {
        let a = Approvals {
            creator_arns: vec!["arn:aws:iam::*:role/terraform-deployer".into()],
            ..Default::default()
        };
        let v = a.verdict(
            "x",
            "/",
            Some("arn:aws:iam::123456789012:role/terraform-deployer"),
            false,
        );
        assert_eq!(
            v.creator,
            Match::Matched("arn:aws:iam::*:role/terraform-deployer".into())
        );
        assert!(v.approved());
        let v = a.verdict(
            "x",
            "/",
            Some("arn:aws:iam::123456789012:role/terraform-deployer-evil"),
            false,
        );
        assert_eq!(v.creator, Match::Unmatched);
        assert!(!v.approved());
    }

    #[test]
    fn every_miss_is_recorded() {
        let a = Approvals {
            user_patterns: vec!["svc-*".into()],
            path_prefixes: vec!["/service-accounts/".into()],
            creator_arns: vec!["arn:aws:iam::*:role/terraform".into()],
        };
        let v = a.verdict(
            "mallory",
            "/",
            Some("arn:aws:iam::123456789012:user/alice"),
            false,
        );
        assert_eq!(
            (v.creator.clone(), v.name.clone(), v.path.clone()),
            (Match::Unmatched, Match::Unmatched, Match::Unmatched)
        );
        assert!(!v.approved());
        let v = Approvals::default().verdict("m", "/", None, false);
        assert_eq!(v.creator, Match::NotConfigured);
        assert_eq!(v.name, Match::NotConfigured);
        let v = a.verdict("m", "/", None, false);
        assert_eq!(v.creator, Match::NoArn);
    }

    #[test]
    fn path_prefixes_are_whole_segments() {
        let a = Approvals {
            path_prefixes: vec!["/service-accounts/".into()],
            ..Default::default()
        };
        assert!(a
            .verdict("u", "/service-accounts/batch/", None, false)
            .approved());
        assert!(!a
            .verdict("u", "/service-accounts-evil/", None, false)
            .approved());
        assert!(check_path_prefix("/service-accounts").is_err());
        assert!(check_path_prefix("/").unwrap_err().contains("every user"));
    }

    #[test]
    fn requiring_the_creator_makes_name_and_path_approvals_conditional() {
        let a = Approvals {
            user_patterns: vec!["svc-*".into()],
            path_prefixes: vec![],
            creator_arns: vec!["arn:aws:iam::123456789012:role/terraform".into()],
        };
        let tf = Some("arn:aws:iam::123456789012:role/terraform");
        let alice = Some("arn:aws:iam::123456789012:user/alice");
        // Default: the attacker-chosen name is enough.
        assert!(a.verdict("svc-evil", "/", alice, false).approved());
        // Required: a name approval alone does not count...
        let v = a.verdict("svc-evil", "/", alice, true);
        assert!(!v.approved());
        assert!(v.name_or_path_without_creator());
        // ...the approved creator still needs an approved name when names are configured...
        assert!(!a.verdict("mallory", "/", tf, true).approved());
        assert!(a.verdict("svc-reporting", "/", tf, true).approved());
        // ...and with no name/path lists, the creator alone is enough.
        let only_creator = Approvals {
            creator_arns: a.creator_arns.clone(),
            ..Default::default()
        };
        assert!(only_creator.verdict("anything", "/", tf, true).approved());
    }

    #[test]
    fn role_wildcards_stop_at_slashes() {
        let p = "arn:aws:iam::123456789012:role/terraform*";
        assert!(creator_matches(
            p,
            "arn:aws:iam::123456789012:role/terraform"
        ));
        assert!(creator_matches(
            p,
            "arn:aws:iam::123456789012:role/terraform-deployer"
        ));
        assert!(!creator_matches(
            p,
            "arn:aws:iam::123456789012:role/terraform-x/evil"
        ));
        let seg = "arn:aws:iam::123456789012:role/*/deployer";
        assert!(creator_matches(
            seg,
            "arn:aws:iam::123456789012:role/ci/deployer"
        ));
        assert!(!creator_matches(
            seg,
            "arn:aws:iam::123456789012:role/ci/x/deployer"
        ));
        assert!(creator_matches(
            "arn:aws:iam::*:role/ci-?",
            "arn:aws:iam::123456789012:role/ci-1"
        ));
        assert!(!creator_matches(
            "arn:aws:iam::*:role/ci?x",
            "arn:aws:iam::123456789012:role/ci/x"
        ));
        // User patterns keep plain globs (users under paths are common).
        assert!(creator_matches(
            "arn:aws:iam::123456789012:user/admins/*",
            "arn:aws:iam::123456789012:user/admins/ops/bob"
        ));
    }

    #[test]
    fn entries_that_approve_everything_or_never_match_are_refused() {
        for p in ["*", "?*", "**", "*?*", "?", "***"] {
            assert!(check_user_pattern(p).is_err(), "{p}");
        }
        assert!(check_user_pattern("svc-*").is_ok());
        assert!(check_user_pattern("bad name").is_err());
        for p in [
            "*",
            "?*",
            "arn:*",
            "arn:*:*:*:*:*",
            "arn:*:*::*:*",
            "arn:aws:iam::123456789012:*",
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::*:user/**",
            "arn:aws:iam::123456789012:?*",
        ] {
            let e = check_creator_arn(p).unwrap_err();
            assert!(e.contains("every principal"), "{p}: {e}");
        }
        assert!(check_creator_arn("terraform").is_err());
        let e = check_creator_arn("arn:aws:sts::123456789012:assumed-role/terraform/run-1")
            .unwrap_err();
        assert!(e.contains("role ARN"), "{e}");
        assert!(check_creator_arn("arn:aws:iam::*:role/ci-*").is_ok());
        assert!(check_creator_arn("arn:aws:iam::*:role/*/deployer").is_ok());
    }

    #[test]
    fn document_parses_merges_and_rejects_typos() {
        let a = parse_document(
            br#"{"userPatterns": ["svc-*"], "creatorArns": ["arn:aws:iam::123456789012:role/ci"]}"#,
            &uri(),
        )
        .unwrap();
        assert_eq!(a.user_patterns, vec!["svc-*"]);
        assert!(a.path_prefixes.is_empty());
        let env = Approvals {
            user_patterns: vec!["svc-*".into(), "bot-*".into()],
            ..Default::default()
        };
        let m = env.merged(&a);
        assert_eq!(m.user_patterns, vec!["svc-*", "bot-*"]);
        assert_eq!(m.creator_arns, vec!["arn:aws:iam::123456789012:role/ci"]);

        let e = parse_document(br#"{"userPattern": ["svc-*"]}"#, &uri()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("s3://security-config/trailwarden/approvals.json"),
            "{msg}"
        );
        assert!(msg.contains("userPattern"), "{msg}");
        let e = parse_document(br#"{"pathPrefixes": ["/"]}"#, &uri()).unwrap_err();
        assert!(e.to_string().contains("pathPrefixes"), "{e}");
        let e = parse_document(br#"{"creatorArns": ["arn:*:*:*:*:*"]}"#, &uri()).unwrap_err();
        assert!(e.to_string().contains("creatorArns"), "{e}");
        assert!(parse_document(b"not json", &uri()).is_err());
        assert!(parse_document(br#"{"userPatterns": "svc-*"}"#, &uri()).is_err());
    }

    #[test]
    fn s3_uris() {
        let u: S3Uri = "s3://my-bucket/a/b.json".parse().unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("my-bucket", "a/b.json")
        );
        assert_eq!(u.to_string(), "s3://my-bucket/a/b.json");
        assert!("my-bucket/a.json".parse::<S3Uri>().is_err());
        assert!("s3://my-bucket/".parse::<S3Uri>().is_err());
        assert!("s3://My_Bucket/a".parse::<S3Uri>().is_err());
    }

    #[test]
    fn creator_refs_name_the_user_or_role_without_its_path() {
        let u = CreatorRef::from_arn(
            "arn:aws:iam::123456789012:user/admins/ops/alice",
            Some("AIDAEXAMPLE"),
        )
        .unwrap();
        assert_eq!(u.kind, CreatorKind::User);
        assert_eq!(
            (u.account.as_str(), u.name.as_str()),
            ("123456789012", "alice")
        );
        assert_eq!(u.unique_id.as_deref(), Some("AIDAEXAMPLE"));
        // A role session's principal id is `AROA…:session`: the role's id is the first part.
        let r = CreatorRef::from_arn(
            "arn:aws-us-gov:iam::111122223333:role/terraform-deployer",
            Some("AROAEXAMPLE:run-1"),
        )
        .unwrap();
        assert_eq!(r.kind, CreatorKind::Role);
        assert_eq!(r.name, "terraform-deployer");
        assert_eq!(r.unique_id.as_deref(), Some("AROAEXAMPLE"));
        for arn in [
            "arn:aws:sts::123456789012:assumed-role/x/y",
            "arn:aws:iam::123456789012:group/admins",
            "arn:aws:iam::123456789012:user/",
            "arn:aws:iam::123456789012:root",
            "not an arn",
        ] {
            assert_eq!(CreatorRef::from_arn(arn, None), None, "{arn}");
        }
    }

    #[test]
    fn a_creator_younger_than_the_minimum_or_gone_does_not_approve() {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let event = Some(at("2024-08-01T12:10:00Z"));
        let created = |s| CreatorFact::Created(at(s));
        assert_eq!(
            created("2024-08-01T12:09:30Z").doubt(event, 10),
            Some(Doubt::TooNew {
                seconds: 30,
                min_minutes: 10
            })
        );
        assert_eq!(created("2024-08-01T12:00:00Z").doubt(event, 10), None);
        assert_eq!(created("2024-08-01T12:09:30Z").doubt(event, 0), None);
        assert_eq!(CreatorFact::Gone.doubt(event, 0), Some(Doubt::Gone));
        // Created after the event (clock skew, or a name reused since): too new, age 0.
        assert_eq!(
            created("2024-08-01T12:11:00Z").doubt(event, 10),
            Some(Doubt::TooNew {
                seconds: 0,
                min_minutes: 10
            })
        );

        let approvals = Approvals {
            creator_arns: vec!["arn:aws:iam::123456789012:user/admins/*".into()],
            ..Default::default()
        };
        let arn = Some("arn:aws:iam::123456789012:user/admins/fresh");
        let v = approvals.verdict("child", "/", arn, false);
        assert!(v.approved());
        let v = v.distrusting(Some(Doubt::Gone));
        assert!(!v.approved());
        assert_eq!(
            v.creator,
            Match::Distrusted {
                entry: "arn:aws:iam::123456789012:user/admins/*".into(),
                doubt: Doubt::Gone
            }
        );
        // Nothing to distrust when the creator did not match.
        let v = approvals.verdict(
            "child",
            "/",
            Some("arn:aws:iam::123456789012:user/x"),
            false,
        );
        assert_eq!(v.clone().distrusting(Some(Doubt::Gone)), v);
    }
}
