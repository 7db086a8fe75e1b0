//! CloudTrail digest files: their JSON shape, their key names, and the string CloudTrail signs.
//!
//! A digest is `…/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<homeRegion>_<YYYYMMDDTHHMMSSZ>.json.gz`,
//! gzip-compressed JSON. Its signature (hex) is in the object's user metadata `signature`,
//! over
//!
//! ```text
//! digestEndTime \n digestS3Bucket/digestS3Object \n hex(SHA-256(uncompressed digest)) \n previousDigestSignature
//! ```
//!
//! (`null` for the first digest of a chain), RSA PKCS#1 v1.5 with SHA-256.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The only signature algorithm CloudTrail uses.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";

// Key names are parsed by the shared classifier (`trailwarden::s3key`), from both ends.
use trailwarden::s3key::trail_folder;
pub use trailwarden::s3key::{DigestName, DIGEST_SEGMENT, LOG_SEGMENT};

/// True when an S3 key's trail folder ([`trail_folder`]: the one CloudTrail writes into,
/// whatever the trail's key prefix is named) is `CloudTrail-Digest/` and it ends in `.json.gz`.
///
/// Deliberately looser than [`trailwarden::s3key::is_digest_key`] (which needs a well-formed
/// name): CloudTrail never writes a malformed name there, so an object planted under that
/// folder is verified, and reported (moved, unreadable, unsigned), rather than skipped.
pub fn is_digest_key(key: &str) -> bool {
    key.ends_with(".json.gz") && trail_folder(key).is_some_and(|(_, f)| f == DIGEST_SEGMENT)
}

/// True when an S3 key's trail folder is `CloudTrail/` and it ends in `.json.gz` (not a
/// digest, not an Insights file). Loose for the same reason: a planted file with a name
/// CloudTrail would not write is still reported as listed in no digest.
pub fn is_log_file_key(key: &str) -> bool {
    key.ends_with(".json.gz") && trail_folder(key).is_some_and(|(_, f)| f == LOG_SEGMENT)
}

/// One entry of `logFiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    pub s3_bucket: String,
    pub s3_object: String,
    /// Hex SHA-256 of the uncompressed log file.
    pub hash_value: String,
    #[serde(default)]
    pub hash_algorithm: Option<String>,
    #[serde(default)]
    pub newest_event_time: Option<String>,
    #[serde(default)]
    pub oldest_event_time: Option<String>,
}

/// A digest file, as CloudTrail writes it. Fields CloudTrail may leave null are options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    #[serde(default)]
    pub aws_account_id: Option<String>,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    #[serde(default)]
    pub digest_public_key_fingerprint: Option<String>,
    #[serde(default)]
    pub digest_signature_algorithm: Option<String>,
    #[serde(default)]
    pub newest_event_time: Option<String>,
    #[serde(default)]
    pub oldest_event_time: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogFileEntry>,
}

/// Why bytes are not a usable digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a CloudTrail digest: {0}")]
    NotDigest(String),
    #[error("{field} is not an ISO 8601 time: {value:?}")]
    BadTime { field: &'static str, value: String },
}

impl Digest {
    /// Parses the uncompressed digest JSON.
    pub fn parse(uncompressed: &[u8]) -> Result<Digest, DigestError> {
        let d: Digest = serde_json::from_slice(uncompressed)
            .map_err(|e| DigestError::NotDigest(e.to_string()))?;
        d.start()?;
        d.end()?;
        Ok(d)
    }

    pub fn start(&self) -> Result<DateTime<Utc>, DigestError> {
        parse_time("digestStartTime", &self.digest_start_time)
    }

    pub fn end(&self) -> Result<DateTime<Utc>, DigestError> {
        parse_time("digestEndTime", &self.digest_end_time)
    }

    /// True for the first digest of a chain (CloudTrail writes `null` previous fields).
    pub fn starts_chain(&self) -> bool {
        self.previous_digest_signature.is_none() && self.previous_digest_s3_object.is_none()
    }

    /// The region whose key signed this digest: the `CloudTrail-Digest/<region>/` segment
    /// of the stated object key.
    pub fn region(&self) -> Option<String> {
        DigestName::parse(&self.digest_s3_object).map(|n| n.region)
    }
}

fn parse_time(field: &'static str, value: &str) -> Result<DateTime<Utc>, DigestError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| DigestError::BadTime {
            field,
            value: value.to_string(),
        })
}

/// The exact bytes CloudTrail signs for a digest.
pub fn string_to_sign(digest: &Digest, uncompressed_sha256_hex: &str) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        digest.digest_end_time,
        digest.digest_s3_bucket,
        digest.digest_s3_object,
        uncompressed_sha256_hex,
        digest
            .previous_digest_signature
            .as_deref()
            .unwrap_or("null")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2024/05/14/111122223333_CloudTrail-Digest_us-east-2_org_trail-1_us-east-1_20240514T150131Z.json.gz";

    #[test]
    fn key_kinds() {
        assert!(is_digest_key(KEY));
        assert!(!is_log_file_key(KEY));
        let log = "p/AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/14/111122223333_CloudTrail_us-east-1_20240514T1455Z_abc.json.gz";
        assert!(is_log_file_key(log));
        assert!(!is_digest_key(log));
        assert!(!is_digest_key(
            "AWSLogs/111122223333/CloudTrail/ConfigWritabilityCheckFile"
        ));
        assert!(!is_digest_key(
            "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/05/14/x.json.gz"
        ));
        // A trail whose key prefix is named after one of CloudTrail's folders.
        for prefix in ["CloudTrail/", "CloudTrail-Digest/", "x/CloudTrail/"] {
            let (digest, log) = (format!("{prefix}{KEY}"), format!("{prefix}{}", &log[2..]));
            assert!(
                is_digest_key(&digest) && !is_log_file_key(&digest),
                "{digest}"
            );
            assert!(is_log_file_key(&log) && !is_digest_key(&log), "{log}");
        }
        let n = DigestName::parse(KEY).unwrap();
        assert_eq!(
            (n.trail.as_str(), n.home_region.as_str()),
            ("org_trail-1", "us-east-1")
        );
    }

    #[test]
    fn string_to_sign_matches_cloudtrail_layout() {
        let json = format!(
            r#"{{"awsAccountId":"111122223333","digestStartTime":"2024-05-14T14:01:31Z",
            "digestEndTime":"2024-05-14T15:01:31Z","digestS3Bucket":"trail-bucket",
            "digestS3Object":"{KEY}","digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff",
            "digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,
            "previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,
            "previousDigestHashAlgorithm":null,"previousDigestSignature":null,"logFiles":[]}}"#
        );
        let d = Digest::parse(json.as_bytes()).unwrap();
        assert!(d.starts_chain());
        assert_eq!(d.region().as_deref(), Some("us-east-2"));
        assert_eq!(
            string_to_sign(&d, "abcd"),
            format!("2024-05-14T15:01:31Z\ntrail-bucket/{KEY}\nabcd\nnull")
        );
    }

    #[test]
    fn bad_digests_say_why() {
        let e = Digest::parse(b"{\"Records\": []}").unwrap_err();
        assert!(e.to_string().contains("digestStartTime"), "{e}");
        let e = Digest::parse(
            br#"{"digestStartTime":"yesterday","digestEndTime":"2024-05-14T15:01:31Z","digestS3Bucket":"b","digestS3Object":"k"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            DigestError::BadTime {
                field: "digestStartTime",
                value: "yesterday".into()
            }
        );
    }
}
