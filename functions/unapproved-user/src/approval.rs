//! Who and what is approved: user-name globs, IAM path prefixes and creator ARN globs, from
//! the environment and optionally from a JSON document in S3.

use serde::Deserialize;
use std::fmt;
use std::str::FromStr;
use trailwarden::glob::first_match;
use trailwarden::Principal;

/// The approval lists. A new user is approved when its name matches a user pattern, its path
/// starts with a path prefix, or its creator's ARN matches a creator pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvals {
    /// Globs over the new user's name (`svc-*`).
    pub user_patterns: Vec<String>,
    /// IAM path prefixes (`/service-accounts/`), each starting and ending with `/`.
    pub path_prefixes: Vec<String>,
    /// Globs over the creator's ARN. Role sessions are matched by their role ARN
    /// (`arn:aws:iam::123456789012:role/terraform-deployer`), whatever the session name.
    pub creator_arns: Vec<String>,
}

/// The approval decision for one new user, with its reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approved(String),
    NotApproved(String),
}

/// How the creator is named in reasons: the principal, plus the role ARN it was matched by.
pub fn creator_label(p: &Principal) -> String {
    match p {
        Principal::AssumedRole {
            arn: Some(arn),
            role_arn: Some(role),
            ..
        }
        | Principal::IdentityCenterRole {
            arn: Some(arn),
            role_arn: Some(role),
            ..
        } => format!("{arn} (role {role})"),
        other => other.display(),
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

    /// Decides whether a new user is approved, and says why in words that go into the log
    /// and the alert.
    pub fn verdict(
        &self,
        user_name: &str,
        path: &str,
        creator: &Principal,
        creator_arn: Option<&str>,
    ) -> Verdict {
        if let Some(p) = first_match(&self.user_patterns, user_name) {
            return Verdict::Approved(format!(
                "user name \"{user_name}\" matches approved user pattern \"{p}\""
            ));
        }
        if let Some(p) = self
            .path_prefixes
            .iter()
            .find(|p| path.starts_with(p.as_str()))
        {
            return Verdict::Approved(format!(
                "path \"{path}\" is under approved path prefix \"{p}\""
            ));
        }
        let who = creator_label(creator);
        if let Some(arn) = creator_arn {
            if let Some(p) = first_match(&self.creator_arns, arn) {
                return Verdict::Approved(format!(
                    "created by {who}, which matches approved creator pattern \"{p}\""
                ));
            }
        }
        let creator_part = if self.creator_arns.is_empty() {
            format!("created by {who}; no approved creators are configured")
        } else if creator_arn.is_none() {
            format!("created by {who}, which has no ARN to match against the approved creators")
        } else {
            format!("created by {who}, which is not an approved creator")
        };
        let name_part = if self.user_patterns.is_empty() {
            "no approved user-name patterns are configured".to_string()
        } else {
            format!("user name \"{user_name}\" matches no approved user pattern")
        };
        let path_part = if self.path_prefixes.is_empty() {
            "no approved path prefixes are configured".to_string()
        } else {
            format!("path \"{path}\" is under no approved path prefix")
        };
        Verdict::NotApproved(format!("{creator_part}; {name_part}; {path_part}"))
    }
}

fn only_stars(p: &str) -> bool {
    p.chars().all(|c| c == '*')
}

/// A user-name glob: IAM user-name characters plus `*` and `?`.
pub fn check_user_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > 128 {
        return Err("expected a user-name glob of 1 to 128 characters".into());
    }
    if only_stars(p) {
        return Err(
            "a pattern of only '*' approves every user; use RESPONSE_MODE=notify to alert without acting"
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

/// A creator ARN glob. Session ARNs are refused: role sessions are matched by role ARN.
pub fn check_creator_arn(p: &str) -> Result<(), String> {
    if !p.starts_with("arn:") || p.split(':').count() < 6 {
        return Err(
            "expected a principal ARN glob such as arn:aws:iam::123456789012:role/terraform-deployer"
                .into(),
        );
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

/// An `s3://bucket/key` location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl FromStr for S3Uri {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("s3://").ok_or("expected s3://BUCKET/KEY")?;
        let (bucket, key) = rest.split_once('/').ok_or("expected s3://BUCKET/KEY")?;
        check_bucket_name(bucket)?;
        if key.is_empty() || key.ends_with('/') {
            return Err("expected s3://BUCKET/KEY naming an object, not a folder".into());
        }
        Ok(S3Uri {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

/// S3 bucket naming rules (3-63 characters: lowercase letters, digits, `.` and `-`, starting
/// and ending with a letter or digit).
pub fn check_bucket_name(b: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{b:?} is not an S3 bucket name (3-63 lowercase letters, digits, '.' and '-')"
        ))
    }
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
    let read = |reason: String| ApprovalError::Read {
        uri: uri.to_string(),
        reason,
    };
    let out = s3
        .get_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .send()
        .await
        .map_err(|e| read(crate::iam::CallError::from_sdk(&e).to_string()))?;
    if out
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as i64)
    {
        return Err(ApprovalError::Invalid {
            uri: uri.to_string(),
            reason: format!(
                "{} bytes is larger than the {MAX_DOCUMENT_BYTES} bytes accepted",
                out.content_length().unwrap_or_default()
            ),
        });
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| read(format!("reading the object body failed: {e}")))?
        .into_bytes();
    parse_document(&bytes, uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role_session(role: &str, session: &str) -> Principal {
        Principal::AssumedRole {
            arn: Some(format!(
                "arn:aws:sts::123456789012:assumed-role/{role}/{session}"
            )),
            role_arn: Some(format!("arn:aws:iam::123456789012:role/{role}")),
            session_name: Some(session.into()),
        }
    }

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
        for session in ["run-1", "terraform-run-8841"] {
            let p = role_session("terraform-deployer", session);
            let v = a.verdict("x", "/", &p, p.match_arn());
            let Verdict::Approved(why) = v else {
                panic!("{v:?}")
            };
            assert!(why.contains("approved creator pattern"), "{why}");
            assert!(why.contains(session), "{why}");
        }
        let p = role_session("terraform-deployer-evil", "s");
        assert!(matches!(
            a.verdict("x", "/", &p, p.match_arn()),
            Verdict::NotApproved(_)
        ));
    }

    #[test]
    fn not_approved_reason_names_every_miss() {
        let a = Approvals {
            user_patterns: vec!["svc-*".into()],
            path_prefixes: vec!["/service-accounts/".into()],
            creator_arns: vec!["arn:aws:iam::*:role/terraform".into()],
        };
        let p = Principal::IamUser {
            arn: Some("arn:aws:iam::123456789012:user/alice".into()),
            user_name: Some("alice".into()),
        };
        let Verdict::NotApproved(why) = a.verdict("mallory", "/", &p, p.match_arn()) else {
            panic!()
        };
        assert_eq!(
            why,
            "created by arn:aws:iam::123456789012:user/alice, which is not an approved creator; \
             user name \"mallory\" matches no approved user pattern; \
             path \"/\" is under no approved path prefix"
        );
        let Verdict::NotApproved(why) = Approvals::default().verdict("m", "/", &p, p.match_arn())
        else {
            panic!()
        };
        assert!(why.contains("no approved creators are configured"), "{why}");
    }

    #[test]
    fn path_prefixes_are_whole_segments() {
        let a = Approvals {
            path_prefixes: vec!["/service-accounts/".into()],
            ..Default::default()
        };
        let p = Principal::Unknown {
            identity_type: None,
        };
        assert!(matches!(
            a.verdict("u", "/service-accounts/batch/", &p, None),
            Verdict::Approved(_)
        ));
        assert!(matches!(
            a.verdict("u", "/service-accounts-evil/", &p, None),
            Verdict::NotApproved(_)
        ));
        assert!(check_path_prefix("/service-accounts").is_err());
        assert!(check_path_prefix("/").unwrap_err().contains("every user"));
    }

    #[test]
    fn entries_that_approve_everything_or_never_match_are_refused() {
        assert!(check_user_pattern("*").is_err());
        assert!(check_user_pattern("svc-*").is_ok());
        assert!(check_user_pattern("bad name").is_err());
        assert!(check_creator_arn("terraform").is_err());
        let e = check_creator_arn("arn:aws:sts::123456789012:assumed-role/terraform/run-1")
            .unwrap_err();
        assert!(e.contains("role ARN"), "{e}");
        assert!(check_creator_arn("arn:aws:iam::*:role/ci-*").is_ok());
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
}
