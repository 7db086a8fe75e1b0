//! What an object in a trail bucket is, judged from its S3 key: the one classifier for log
//! files, digest files, Insights files and everything else.
//!
//! Key layout (see `cloudtrail-facts.md`):
//!
//! ```text
//! [prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz
//! [prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<homeRegion>_<YYYYMMDDTHHMMSSZ>.json.gz
//! [prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail-Insight/<region>/YYYY/MM/DD/<file>
//! [prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail/ConfigWritabilityCheckFile
//! ```
//!
//! Trail names may contain `_`, so a digest file name is read from both ends: the account and
//! region from the front, the time stamp and home region from the back, the trail is what is
//! left in between. Keys are taken decoded (never URL-encoded).
//!
//! [`classify`] gives the full [`TrailObject`]; [`classify_key`] the older, flatter
//! [`KeyKind`] that log-delivery reports.

use serde::Serialize;

/// The service folder of a log file.
pub const LOG_SEGMENT: &str = "CloudTrail";
/// The service folder of a digest file.
pub const DIGEST_SEGMENT: &str = "CloudTrail-Digest";
/// The service folder of an Insights file.
pub const INSIGHT_SEGMENT: &str = "CloudTrail-Insight";
/// The object CloudTrail writes to check that it may write to the bucket.
pub const WRITABILITY_CHECK: &str = "ConfigWritabilityCheckFile";

/// An object in a trail bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrailObject {
    /// A CloudTrail log file.
    LogFile(LogFileKey),
    /// A log file integrity digest.
    Digest(DigestKey),
    /// A CloudTrail Insights file.
    Insight(InsightKey),
    /// CloudTrail's bucket permission probe.
    WritabilityCheck,
    /// Anything else; the reason says why it is none of the above.
    Other { reason: String },
}

/// The folders every CloudTrail object sits in:
/// `[prefix/]AWSLogs/[o-orgid/]<account>/<service>/<region>/YYYY/MM/DD/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailFolder {
    /// What comes before `AWSLogs/` (without the trailing `/`); empty when nothing does.
    pub prefix: String,
    /// `o-…` for an organization trail.
    pub organization: Option<String>,
    /// The 12-digit account the events are from.
    pub account: String,
    /// The region folder.
    pub region: String,
    /// `YYYY-MM-DD` from the folder names.
    pub date: String,
}

/// A log file's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFileKey {
    pub folder: TrailFolder,
    pub name: LogFileName,
}

/// A digest file's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestKey {
    pub folder: TrailFolder,
    pub name: DigestName,
}

/// An Insights file's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InsightKey {
    pub folder: TrailFolder,
    /// The file name.
    pub file: String,
}

/// What a log file's name says:
/// `<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFileName {
    pub account: String,
    pub region: String,
    /// `YYYYMMDDTHHmmZ`: when the file was delivered (to the minute).
    pub timestamp: String,
    /// The random part that makes the name unique.
    pub unique: String,
    /// `.json.gz` (true) or an uncompressed `.json` copy (false).
    pub gzip: bool,
}

/// What a digest file's name says:
/// `<account>_CloudTrail-Digest_<region>_<trail>_<homeRegion>_<YYYYMMDDTHHMMSSZ>.json.gz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestName {
    pub account: String,
    /// The region whose log files it covers (and whose key signed it).
    pub region: String,
    /// The trail's name (may contain `_`).
    pub trail: String,
    /// The trail's home region.
    pub home_region: String,
    /// `YYYYMMDDTHHMMSSZ`.
    pub timestamp: String,
}

impl TrailObject {
    /// The folder fields, for log, digest and Insights files.
    pub fn folder(&self) -> Option<&TrailFolder> {
        match self {
            TrailObject::LogFile(k) => Some(&k.folder),
            TrailObject::Digest(k) => Some(&k.folder),
            TrailObject::Insight(k) => Some(&k.folder),
            TrailObject::WritabilityCheck | TrailObject::Other { .. } => None,
        }
    }

    /// The older, flatter classification ([`classify_key`]).
    pub fn kind(&self) -> KeyKind {
        match self {
            TrailObject::LogFile(k) => KeyKind::LogFile {
                account: k.folder.account.clone(),
                region: k.folder.region.clone(),
                organization: k.folder.organization.clone(),
                date: k.folder.date.clone(),
            },
            TrailObject::Digest(_) => KeyKind::Digest,
            TrailObject::Insight(_) => KeyKind::Insight,
            TrailObject::WritabilityCheck => KeyKind::WritabilityCheck,
            TrailObject::Other { reason } => KeyKind::Other {
                reason: reason.clone(),
            },
        }
    }
}

impl LogFileName {
    /// Parses a log file's name (the last path segment of `key`, or `key` itself).
    pub fn parse(key: &str) -> Option<LogFileName> {
        let file = file_name(key);
        let (stem, gzip) = match file.strip_suffix(".json.gz") {
            Some(s) => (s, true),
            None => (file.strip_suffix(".json")?, false),
        };
        let (account, rest) = stem.split_once("_CloudTrail_")?;
        let (region, rest) = rest.split_once('_')?;
        let (timestamp, unique) = rest.split_once('_')?;
        if !(is_account(account)
            && is_region(region)
            && is_minute_stamp(timestamp)
            && !unique.is_empty())
        {
            return None;
        }
        Some(LogFileName {
            account: account.to_string(),
            region: region.to_string(),
            timestamp: timestamp.to_string(),
            unique: unique.to_string(),
            gzip,
        })
    }
}

impl DigestName {
    /// Parses a digest file's name (the last path segment of `key`, or `key` itself), from
    /// both ends so that underscores in the trail name are kept.
    pub fn parse(key: &str) -> Option<DigestName> {
        let stem = file_name(key).strip_suffix(".json.gz")?;
        let (account, rest) = stem.split_once("_CloudTrail-Digest_")?;
        let (region, rest) = rest.split_once('_')?;
        let (rest, timestamp) = rest.rsplit_once('_')?;
        let (trail, home_region) = rest.rsplit_once('_')?;
        if !(is_account(account)
            && is_region(region)
            && is_region(home_region)
            && is_second_stamp(timestamp)
            && !trail.is_empty())
        {
            return None;
        }
        Some(DigestName {
            account: account.to_string(),
            region: region.to_string(),
            trail: trail.to_string(),
            home_region: home_region.to_string(),
            timestamp: timestamp.to_string(),
        })
    }
}

/// Classifies an S3 key (decoded, never URL-encoded).
pub fn classify(key: &str) -> TrailObject {
    let segments: Vec<&str> = key.split('/').collect();
    let file = *segments.last().unwrap_or(&"");
    if file == WRITABILITY_CHECK {
        return TrailObject::WritabilityCheck;
    }
    let Some(logs_at) = segments.iter().rposition(|s| *s == "AWSLogs") else {
        return other("not a CloudTrail key: no AWSLogs/ folder");
    };
    let prefix = segments[..logs_at].join("/");
    let rest = &segments[logs_at + 1..];
    let (organization, rest) = match rest.first() {
        Some(s) if s.starts_with("o-") => (Some(s.to_string()), &rest[1..]),
        _ => (None, rest),
    };
    let service = rest.get(1).copied().unwrap_or("");
    let what = match service {
        LOG_SEGMENT => "log file",
        DIGEST_SEGMENT => "digest file",
        INSIGHT_SEGMENT => "Insights file",
        _ => "log file",
    };
    let [account, _, region, year, month, day, name] = rest else {
        return other(&format!(
            "not a CloudTrail {what} key: expected AWSLogs/[o-org/]<account>/{}/<region>/YYYY/MM/DD/<file>",
            if service.starts_with("CloudTrail") { service } else { LOG_SEGMENT }
        ));
    };
    let bad = |why: String| other(&format!("not a CloudTrail {what} key: {why}"));
    if !matches!(service, LOG_SEGMENT | DIGEST_SEGMENT | INSIGHT_SEGMENT) {
        return bad(format!("{service}/ is not CloudTrail/"));
    }
    if !is_account(account) {
        return bad(format!("{account:?} is not a 12-digit account id"));
    }
    let date = match date_of(year, month, day) {
        Some(d) => d,
        None => return bad("the date folders are not YYYY/MM/DD".into()),
    };
    let folder = TrailFolder {
        prefix,
        organization,
        account: account.to_string(),
        region: region.to_string(),
        date,
    };
    match service {
        LOG_SEGMENT => {
            let expected_start = format!("{account}_CloudTrail_{region}_");
            if !name.starts_with(&expected_start) {
                return bad(format!("file name does not start with {expected_start}"));
            }
            match LogFileName::parse(name) {
                Some(n) => TrailObject::LogFile(LogFileKey { folder, name: n }),
                None if !(name.ends_with(".json.gz") || name.ends_with(".json")) => {
                    bad("file name does not end with .json.gz".into())
                }
                None => bad(format!(
                    "file name is not {account}_CloudTrail_{region}_<YYYYMMDDTHHmmZ>_<unique>.json.gz"
                )),
            }
        }
        DIGEST_SEGMENT => match DigestName::parse(name) {
            Some(n) if n.account == *account && n.region == *region => {
                TrailObject::Digest(DigestKey { folder, name: n })
            }
            _ => bad(format!(
                "file name is not {account}_CloudTrail-Digest_{region}_<trail>_<homeRegion>_<YYYYMMDDTHHMMSSZ>.json.gz"
            )),
        },
        _ => {
            if name.is_empty() {
                return bad("no file name".into());
            }
            TrailObject::Insight(InsightKey {
                folder,
                file: name.to_string(),
            })
        }
    }
}

/// What an object in a trail bucket is, in the flat form log-delivery reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyKind {
    /// A CloudTrail log file:
    /// `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<random>.json.gz`.
    LogFile {
        account: String,
        region: String,
        organization: Option<String>,
        /// `YYYY-MM-DD` from the folder names.
        date: String,
    },
    /// A log file integrity digest (`CloudTrail-Digest/`).
    Digest,
    /// A CloudTrail Insights file (`CloudTrail-Insight/`).
    Insight,
    /// The object CloudTrail writes to check it may write to the bucket.
    WritabilityCheck,
    /// Anything else; the reason says why it is not a log file.
    Other { reason: String },
}

impl KeyKind {
    /// Why an object of this kind is not scanned, or `None` for log files.
    pub fn skip_reason(&self) -> Option<String> {
        match self {
            KeyKind::LogFile { .. } => None,
            KeyKind::Digest => Some(
                "CloudTrail digest file (integrity validation, no Records; log-integrity checks these)"
                    .into(),
            ),
            KeyKind::Insight => Some("CloudTrail Insights file (not a log of API calls)".into()),
            KeyKind::WritabilityCheck => {
                Some("ConfigWritabilityCheckFile (CloudTrail's bucket permission probe)".into())
            }
            KeyKind::Other { reason } => Some(reason.clone()),
        }
    }
}

/// Classifies an S3 key in the flat form: [`classify`], except that anything in a
/// `CloudTrail-Digest/` or `CloudTrail-Insight/` folder counts as a digest or Insights file
/// even when its name is unusual (it is never a log file to scan).
pub fn classify_key(key: &str) -> KeyKind {
    match classify(key) {
        TrailObject::Other { reason } => match service_folder(key) {
            Some(DIGEST_SEGMENT) => KeyKind::Digest,
            Some(INSIGHT_SEGMENT) => KeyKind::Insight,
            _ => KeyKind::Other { reason },
        },
        o => o.kind(),
    }
}

/// True when `key` is a digest file ([`classify`] says [`TrailObject::Digest`]).
pub fn is_digest_key(key: &str) -> bool {
    matches!(classify(key), TrailObject::Digest(_))
}

/// True when `key` is a log file ([`classify`] says [`TrailObject::LogFile`]).
pub fn is_log_file_key(key: &str) -> bool {
    matches!(classify(key), TrailObject::LogFile(_))
}

/// The trail folder a key is in (`CloudTrail-Digest`, `CloudTrail-Insight` or `CloudTrail`):
/// the key up to it, and its name. The folder CloudTrail writes into, right after the first
/// `AWSLogs/[o-org/]<account>/`, whatever the trail's key prefix above it is named (`CloudTrail`
/// is a common one) and whatever folders lie below it (an object planted under a digest
/// folder is in that digest folder). A key with no such folders (a copy synced from below
/// `AWSLogs/`) is in the first folder so named.
pub fn trail_folder(key: &str) -> Option<(&str, &str)> {
    let mut parts = Vec::new();
    let mut at = 0;
    for part in key.split('/') {
        parts.push((at, part));
        at += part.len() + 1;
    }
    // The file's own name is no folder.
    let folders = &parts[..parts.len() - 1];
    let segment = |p: &str| {
        [DIGEST_SEGMENT, INSIGHT_SEGMENT, LOG_SEGMENT]
            .into_iter()
            .find(|s| *s == p)
    };
    let written = folders.iter().enumerate().find_map(|(i, (_, p))| {
        if *p != "AWSLogs" {
            return None;
        }
        let rest = &folders[i + 1..];
        let rest = match rest.first() {
            Some((_, o)) if o.starts_with("o-") => &rest[1..],
            _ => rest,
        };
        match rest {
            [(_, account), (start, service), ..] if is_account(account) => {
                segment(service).map(|s| (&key[..*start], s))
            }
            _ => None,
        }
    });
    written.or_else(|| {
        folders
            .iter()
            .find_map(|(start, p)| segment(p).map(|s| (&key[..*start], s)))
    })
}

/// The service folder right after `AWSLogs/[o-org/]<account>/`.
fn service_folder(key: &str) -> Option<&str> {
    let segments: Vec<&str> = key.split('/').collect();
    let at = segments.iter().rposition(|s| *s == "AWSLogs")?;
    let rest = &segments[at + 1..];
    let rest = match rest.first() {
        Some(s) if s.starts_with("o-") => &rest[1..],
        _ => rest,
    };
    rest.get(1).copied()
}

fn other(reason: &str) -> TrailObject {
    TrailObject::Other {
        reason: reason.to_string(),
    }
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

fn all_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_account(s: &str) -> bool {
    all_digits(s, 12)
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`: lowercase letters, digits
/// and `-`, with at least one `-`.
fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.contains('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn date_of(year: &str, month: &str, day: &str) -> Option<String> {
    if !(all_digits(year, 4) && all_digits(month, 2) && all_digits(day, 2)) {
        return None;
    }
    let (y, m, d) = (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
    chrono::NaiveDate::from_ymd_opt(y, m, d)?;
    Some(format!("{year}-{month}-{day}"))
}

/// `YYYYMMDDTHHmmZ`.
fn is_minute_stamp(s: &str) -> bool {
    s.len() == 14 && stamp(s, "%Y%m%dT%H%MZ")
}

/// `YYYYMMDDTHHMMSSZ`.
fn is_second_stamp(s: &str) -> bool {
    s.len() == 16 && stamp(s, "%Y%m%dT%H%M%SZ")
}

fn stamp(s: &str, format: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || b == b'T' || b == b'Z')
        && chrono::NaiveDateTime::parse_from_str(s, format).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";
    const DIGEST: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2024/05/14/111122223333_CloudTrail-Digest_us-east-2_org_trail-1_us-east-1_20240514T150131Z.json.gz";

    fn log_key(key: &str) -> LogFileKey {
        match classify(key) {
            TrailObject::LogFile(k) => k,
            o => panic!("{key}: {o:?}"),
        }
    }

    fn digest_key(key: &str) -> DigestKey {
        match classify(key) {
            TrailObject::Digest(k) => k,
            o => panic!("{key}: {o:?}"),
        }
    }

    #[test]
    fn standard_log_file_keys() {
        let k = log_key(LOG);
        assert_eq!(k.folder.prefix, "");
        assert_eq!(k.folder.organization, None);
        assert_eq!(k.folder.account, "123456789012");
        assert_eq!(k.folder.region, "us-east-1");
        assert_eq!(k.folder.date, "2024-08-01");
        assert_eq!(k.name.account, "123456789012");
        assert_eq!(k.name.region, "us-east-1");
        assert_eq!(k.name.timestamp, "20240801T1335Z");
        assert_eq!(k.name.unique, "Xy7pQ2mN4bR8sT1v");
        assert!(k.name.gzip);
        assert!(is_log_file_key(LOG));
        assert!(!is_digest_key(LOG));
    }

    #[test]
    fn organization_and_prefixed_log_file_keys() {
        let k = log_key("trails/prod/AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/eu-west-1/2024/02/29/123456789012_CloudTrail_eu-west-1_20240229T2355Z_abc123.json.gz");
        assert_eq!(k.folder.prefix, "trails/prod");
        assert_eq!(k.folder.organization.as_deref(), Some("o-a1b2c3d4e5"));
        assert_eq!(k.folder.account, "123456789012");
        assert_eq!(k.folder.region, "eu-west-1");
        assert_eq!(k.folder.date, "2024-02-29");
        assert_eq!(
            classify_key(&format!("logs/{LOG}")),
            KeyKind::LogFile {
                account: "123456789012".into(),
                region: "us-east-1".into(),
                organization: None,
                date: "2024-08-01".into(),
            }
        );
        // An uncompressed copy is still a log file.
        let plain = LOG.replace(".json.gz", ".json");
        assert!(!log_key(&plain).name.gzip);
    }

    #[test]
    fn malformed_log_file_keys_say_why() {
        let reason = |key: &str| match classify(key) {
            TrailObject::Other { reason } => reason,
            o => panic!("{key}: {o:?}"),
        };
        assert!(reason(
            "AWSLogs/12345/CloudTrail/us-east-1/2024/08/01/12345_CloudTrail_us-east-1_x.json.gz"
        )
        .contains("12-digit"));
        assert!(reason(&LOG.replace("/2024/08/01/", "/2024/13/01/")).contains("YYYY/MM/DD"));
        assert!(reason(&LOG.replace(
            "123456789012_CloudTrail_us-east-1",
            "999999999999_CloudTrail_us-east-1"
        ))
        .contains("does not start with"));
        assert!(reason(&LOG.replace(".json.gz", ".txt")).contains(".json.gz"));
        assert!(reason(&LOG.replace("20240801T1335Z", "20240801")).contains("YYYYMMDDTHHmmZ"));
        assert!(reason(&LOG.replace("_Xy7pQ2mN4bR8sT1v", "_")).contains("<unique>"));
        assert!(reason("uploads/report.csv").contains("no AWSLogs/"));
        assert!(
            reason("AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/08/01/x.log.gz")
                .contains("elasticloadbalancing/ is not CloudTrail/")
        );
        assert!(
            reason("AWSLogs/123456789012/CloudTrail/us-east-1/x.json.gz")
                .contains("expected AWSLogs/")
        );
    }

    #[test]
    fn digest_names_are_read_from_both_ends() {
        let k = digest_key(DIGEST);
        assert_eq!(k.name.account, "111122223333");
        assert_eq!(k.name.region, "us-east-2");
        assert_eq!(k.name.trail, "org_trail-1");
        assert_eq!(k.name.home_region, "us-east-1");
        assert_eq!(k.name.timestamp, "20240514T150131Z");
        assert_eq!(k.folder.region, "us-east-2");
        // A trail named like a region suffix still comes out whole.
        let n = DigestName::parse(
            "123456789012_CloudTrail-Digest_eu-west-1_mytrail_us-east-1_us-east-1_20240101T000000Z.json.gz",
        )
        .unwrap();
        assert_eq!(n.trail, "mytrail_us-east-1");
        assert_eq!(n.home_region, "us-east-1");
        assert_eq!(n.region, "eu-west-1");
        let n = DigestName::parse(
            "123456789012_CloudTrail-Digest_us-east-1_a__b_us-east-1_20240101T000000Z.json.gz",
        )
        .unwrap();
        assert_eq!(n.trail, "a__b");
        assert!(is_digest_key(DIGEST));
        assert!(!is_log_file_key(DIGEST));
        assert_eq!(classify_key(DIGEST), KeyKind::Digest);
    }

    #[test]
    fn bad_digest_names_are_refused() {
        for bad in [
            "123456789012_CloudTrail-Digest_us-east-1_us-east-1_20240101T000000Z.json.gz", // no trail
            "123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T0000Z.json.gz", // minute stamp
            "123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T000000Z.json", // not gzip
            "1234_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T000000Z.json.gz",
            "123456789012_CloudTrail-Digest_us-east-1_t_US_20240101T000000Z.json.gz",
            "AWSLogs/1/CloudTrail/us-east-1/x.json.gz",
        ] {
            assert_eq!(DigestName::parse(bad), None, "{bad}");
        }
        // In a digest folder but for another region than the folder says.
        let moved = DIGEST.replace(
            "/CloudTrail-Digest/us-east-2/",
            "/CloudTrail-Digest/eu-west-1/",
        );
        assert!(matches!(classify(&moved), TrailObject::Other { .. }));
        // The flat classification still never calls it a log file.
        assert_eq!(classify_key(&moved), KeyKind::Digest);
        assert_eq!(
            classify_key("AWSLogs/111122223333/CloudTrail-Digest/us-east-2/x"),
            KeyKind::Digest
        );
    }

    #[test]
    fn insights_probe_and_other_objects() {
        let k = "AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail-Insight/us-east-1/2024/05/14/123456789012_CloudTrail-Insight_us-east-1_20240514T1500Z_k2.json.gz";
        match classify(k) {
            TrailObject::Insight(i) => {
                assert_eq!(i.folder.organization.as_deref(), Some("o-a1b2c3d4e5"));
                assert_eq!(i.folder.date, "2024-05-14");
                assert!(i.file.starts_with("123456789012_CloudTrail-Insight_"));
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(classify_key(k), KeyKind::Insight);
        assert_eq!(
            classify("AWSLogs/123456789012/CloudTrail/ConfigWritabilityCheckFile"),
            TrailObject::WritabilityCheck
        );
        assert_eq!(
            classify_key("AWSLogs/123456789012/CloudTrail/ConfigWritabilityCheckFile"),
            KeyKind::WritabilityCheck
        );
        assert!(classify_key("uploads/report.csv").skip_reason().is_some());
        assert!(classify_key(LOG).skip_reason().is_none());
        assert_eq!(classify(LOG).folder().unwrap().account, "123456789012");
    }

    #[test]
    fn log_file_names_parse_alone() {
        let n =
            LogFileName::parse("123456789012_CloudTrail_us-gov-west-1_20240801T1335Z_a_b.json.gz")
                .unwrap();
        assert_eq!(n.region, "us-gov-west-1");
        assert_eq!(n.unique, "a_b");
        assert_eq!(
            LogFileName::parse("123456789012_CloudTrail_us-east-1_20241301T1335Z_a.json.gz"),
            None
        );
        assert_eq!(
            LogFileName::parse(
                "123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T000000Z.json.gz"
            ),
            None
        );
    }

    #[test]
    fn the_trail_folder_is_the_one_below_the_account_whatever_the_prefix_is_named() {
        let account = "AWSLogs/o-a1b2c3d4e5/123456789012";
        let day = "us-east-1/2024/08/01";
        for prefix in [
            "",
            "CloudTrail/",
            "CloudTrail-Digest/x/",
            "logs/CloudTrail/",
        ] {
            for segment in [LOG_SEGMENT, DIGEST_SEGMENT, INSIGHT_SEGMENT] {
                let key = format!("{prefix}{account}/{segment}/{day}/f.json.gz");
                let above = format!("{prefix}{account}/");
                assert_eq!(trail_folder(&key), Some((above.as_str(), segment)), "{key}");
            }
        }
        // Folders below the one CloudTrail writes into do not count.
        let planted =
            format!("{account}/CloudTrail-Digest/aa/AWSLogs/222233334444/CloudTrail/x/f.json.gz");
        assert_eq!(
            trail_folder(&planted),
            Some((format!("{account}/").as_str(), DIGEST_SEGMENT))
        );
        // A copy synced from below AWSLogs/: the first folder so named.
        assert_eq!(
            trail_folder("CloudTrail-Digest/us-east-1/2024/08/01/f.json.gz"),
            Some(("", DIGEST_SEGMENT))
        );
        assert_eq!(
            trail_folder("copy/CloudTrail/x/CloudTrail-Digest/f"),
            Some(("copy/", LOG_SEGMENT))
        );
        // The file's own name is no folder; a key in no trail folder has none.
        assert_eq!(trail_folder("logs/CloudTrail"), None);
        assert_eq!(trail_folder("logs/readme.txt"), None);
        assert_eq!(trail_folder("CloudTrail"), None);
        assert_eq!(trail_folder("CloudTrail/f"), Some(("", LOG_SEGMENT)));
    }
}
