//! `s3://bucket/key` locations, parsed with one set of rules, and "a local file or an S3
//! object" settings (detection files, key documents) built on them.
//!
//! [`S3Uri::parse_object`] (also `FromStr`) names one object: the key must be present and must
//! not end with `/`. [`S3Uri::parse_prefix`] names a folder (or a whole bucket): the key may
//! be empty and, when present, is normalised to end with `/`. Both check the bucket name
//! against S3's naming rules ([`check_bucket_name`]) and the key against S3's limits, so a
//! typo in a setting is reported at cold start rather than as an access error later.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// An S3 location: a bucket and a key (an object) or a key prefix (a folder).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct S3Uri {
    pub bucket: String,
    /// The object key, or the prefix (empty, or ending with `/`) of a folder.
    pub key: String,
}

/// Longest S3 object key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

impl S3Uri {
    /// `s3://BUCKET/KEY` naming one object (not a folder).
    pub fn parse_object(s: &str) -> Result<S3Uri, String> {
        let (bucket, key) = split(s, "s3://BUCKET/KEY")?;
        let key = key.ok_or("expected s3://BUCKET/KEY naming an object")?;
        if key.is_empty() || key.ends_with('/') {
            return Err("expected s3://BUCKET/KEY naming an object, not a folder".into());
        }
        S3Uri::object(bucket, key)
    }

    /// `s3://BUCKET/PREFIX/`, `s3://BUCKET/PREFIX` or `s3://BUCKET`: a folder (the prefix is
    /// given a trailing `/` when it lacks one) or the whole bucket (empty prefix).
    pub fn parse_prefix(s: &str) -> Result<S3Uri, String> {
        let (bucket, key) = split(s, "s3://BUCKET/PREFIX/")?;
        let mut prefix = key.unwrap_or("").to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        check_bucket_name(bucket)?;
        check_key(&prefix)?;
        Ok(S3Uri {
            bucket: bucket.to_string(),
            key: prefix,
        })
    }

    /// An object location from its parts, checked as [`S3Uri::parse_object`] checks them.
    pub fn object(bucket: &str, key: &str) -> Result<S3Uri, String> {
        check_bucket_name(bucket)?;
        if key.is_empty() {
            return Err("the object key is empty".into());
        }
        check_key(key)?;
        Ok(S3Uri {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// A location from parts S3 itself reported (an event notification): not checked.
    pub fn from_parts(bucket: impl Into<String>, key: impl Into<String>) -> S3Uri {
        S3Uri {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// True when this names a folder or a whole bucket rather than one object.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    /// The object `name` inside this folder (`s3://b/p/` + `x.json` = `s3://b/p/x.json`).
    pub fn join(&self, name: &str) -> S3Uri {
        let mut key = self.key.clone();
        if !key.is_empty() && !key.ends_with('/') {
            key.push('/');
        }
        key.push_str(name.trim_start_matches('/'));
        S3Uri {
            bucket: self.bucket.clone(),
            key,
        }
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Parses `s3://BUCKET/KEY` naming an object ([`S3Uri::parse_object`]).
impl FromStr for S3Uri {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        S3Uri::parse_object(s)
    }
}

/// The bucket and (when there is a `/` after it) the key of an `s3://` URI.
fn split<'a>(s: &'a str, form: &str) -> Result<(&'a str, Option<&'a str>), String> {
    let s = s.trim();
    let rest = s
        .strip_prefix("s3://")
        .or_else(|| {
            // `S3://` is the same scheme; anything else is not.
            s.get(..5)
                .filter(|p| p.eq_ignore_ascii_case("s3://"))
                .map(|_| &s[5..])
        })
        .ok_or_else(|| format!("expected {form}"))?;
    Ok(match rest.split_once('/') {
        Some((b, k)) => (b, Some(k)),
        None => (rest, None),
    })
}

fn check_key(key: &str) -> Result<(), String> {
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "the key is {} bytes; S3 keys are at most {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    if key.starts_with('/') {
        return Err("the key starts with '/' (write s3://BUCKET/KEY with a single slash)".into());
    }
    if key.chars().any(char::is_control) {
        return Err("the key contains control characters".into());
    }
    Ok(())
}

/// S3's bucket naming rules: 3-63 characters of lowercase letters, digits, `.` and `-`,
/// starting and ending with a letter or digit, no `..`, not shaped like an IP address, and
/// none of the prefixes and suffixes S3 reserves.
pub fn check_bucket_name(b: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "{b:?} is not an S3 bucket name ({why}: 3-63 lowercase letters, digits, '.' and '-', \
             starting and ending with a letter or digit)"
        ))
    };
    if !(3..=63).contains(&b.len()) {
        return bad("wrong length");
    }
    if !b
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return bad("invalid character");
    }
    if !(b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric()))
    {
        return bad("must start and end with a letter or digit");
    }
    if b.contains("..") || b.contains(".-") || b.contains("-.") {
        return bad("'.' next to '.' or '-'");
    }
    if b.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("shaped like an IP address");
    }
    if b.starts_with("xn--") || b.starts_with("sthree-") {
        return bad("reserved prefix");
    }
    if b.ends_with("-s3alias") || b.ends_with("--ol-s3") || b.ends_with("--x-s3") {
        return bad("reserved suffix");
    }
    Ok(())
}

/// A setting naming a document: a local file (bundled with the function) or an S3 object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentSource {
    /// A local path (`/var/task/x.json`, `x.json` or `file:///var/task/x.json`).
    Path(PathBuf),
    /// An S3 object.
    S3(S3Uri),
}

impl DocumentSource {
    /// `s3://BUCKET/KEY`, `file:///PATH` or a plain path. Any other scheme is refused.
    pub fn parse(s: &str) -> Result<DocumentSource, String> {
        let s = s.trim();
        if s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("s3://")) {
            return S3Uri::parse_object(s).map(DocumentSource::S3);
        }
        if let Some(path) = s.strip_prefix("file://") {
            if path.is_empty() {
                return Err("expected file:///PATH".into());
            }
            return Ok(DocumentSource::Path(PathBuf::from(path)));
        }
        if s.is_empty() || s.contains("://") {
            return Err("expected s3://BUCKET/KEY, file:///PATH or a file path".into());
        }
        Ok(DocumentSource::Path(PathBuf::from(s)))
    }

    /// The S3 location, when it is one.
    pub fn s3(&self) -> Option<&S3Uri> {
        match self {
            DocumentSource::S3(u) => Some(u),
            DocumentSource::Path(_) => None,
        }
    }
}

/// `s3://bucket/key` or the path.
impl fmt::Display for DocumentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentSource::Path(p) => write!(f, "{}", p.display()),
            DocumentSource::S3(u) => u.fmt(f),
        }
    }
}

impl FromStr for DocumentSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocumentSource::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse_and_print_back() {
        let u: S3Uri = "s3://my-bucket/a/b.json".parse().unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("my-bucket", "a/b.json")
        );
        assert_eq!(u.to_string(), "s3://my-bucket/a/b.json");
        assert!(!u.is_prefix());
        let spaced = S3Uri::parse_object("  s3://my-bucket/x y.json \n").unwrap();
        assert_eq!(spaced.key, "x y.json");
        assert_eq!(
            S3Uri::parse_object("S3://my-bucket/k").unwrap().to_string(),
            "s3://my-bucket/k"
        );
    }

    #[test]
    fn objects_need_a_key_that_is_not_a_folder() {
        for bad in [
            "my-bucket/a.json",
            "https://my-bucket/a.json",
            "s3://my-bucket",
            "s3://my-bucket/",
            "s3://my-bucket/folder/",
            "s3:///key",
            "s3://my-bucket//key",
        ] {
            assert!(S3Uri::parse_object(bad).is_err(), "{bad}");
        }
        let long = format!("s3://my-bucket/{}", "k".repeat(MAX_KEY_BYTES + 1));
        assert!(S3Uri::parse_object(&long).is_err());
        assert!(S3Uri::parse_object("s3://my-bucket/a\u{7}b").is_err());
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in [
            "abc",
            "my-bucket",
            "logs.example.com",
            "a1-b2",
            &"a".repeat(63),
        ] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "My_Bucket",
            "UPPER",
            "-start",
            "end-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--bucket",
            "data-s3alias",
            "data--ol-s3",
            "my bucket",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
        assert!("s3://My_Bucket/a".parse::<S3Uri>().is_err());
    }

    #[test]
    fn prefixes_end_with_a_slash_or_are_empty() {
        let p = S3Uri::parse_prefix("s3://trail-bucket/AWSLogs").unwrap();
        assert_eq!(p.key, "AWSLogs/");
        assert!(p.is_prefix());
        assert_eq!(p.to_string(), "s3://trail-bucket/AWSLogs/");
        assert_eq!(S3Uri::parse_prefix("s3://trail-bucket").unwrap().key, "");
        assert_eq!(S3Uri::parse_prefix("s3://trail-bucket/").unwrap().key, "");
        assert_eq!(
            S3Uri::parse_prefix("s3://trail-bucket/a/b/").unwrap().key,
            "a/b/"
        );
        assert!(S3Uri::parse_prefix("s3://Trail/x/").is_err());
        assert_eq!(
            p.join("x.json").to_string(),
            "s3://trail-bucket/AWSLogs/x.json"
        );
        assert_eq!(
            S3Uri::parse_prefix("s3://trail-bucket")
                .unwrap()
                .join("/x")
                .key,
            "x"
        );
    }

    #[test]
    fn document_sources_are_a_path_or_an_object() {
        assert_eq!(
            DocumentSource::parse("s3://config-bucket/detections.json").unwrap(),
            DocumentSource::S3(S3Uri::from_parts("config-bucket", "detections.json"))
        );
        assert_eq!(
            DocumentSource::parse("file:///var/task/d.json").unwrap(),
            DocumentSource::Path("/var/task/d.json".into())
        );
        assert_eq!(
            DocumentSource::parse("detections.json").unwrap(),
            DocumentSource::Path("detections.json".into())
        );
        for bad in [
            "",
            "https://x/y",
            "s3://bucket",
            "file://",
            "s3://Bad_Bucket/k",
        ] {
            assert!(DocumentSource::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            DocumentSource::parse("s3://config-bucket/d.json")
                .unwrap()
                .to_string(),
            "s3://config-bucket/d.json"
        );
    }
}
