//! CloudTrail's public keys: where they come from and how a digest's signature is checked.
//!
//! In AWS the keys come from `cloudtrail:ListPublicKeys` in the digest's region for the
//! digest's time range ([`crate::cloudtrail_keys::CloudTrailKeys`], cached per cold start). Offline, and where the API
//! is not available (moto does not implement it), they come from a JSON document in the
//! shape of ListPublicKeys' response ([`KeySet`]):
//!
//! ```json
//! {"PublicKeyList": [{"Value": "<base64 DER>", "ValidityStartTime": "2024-05-01T00:00:00Z",
//!                     "ValidityEndTime": "2024-06-01T00:00:00Z", "Fingerprint": "31e8…"}]}
//! ```
//!
//! which is what `aws cloudtrail list-public-keys --start-time … --end-time …` prints. Lists
//! for several regions can be concatenated into one `PublicKeyList`: keys are found by
//! fingerprint. The value is DER, PKCS#1 `RSAPublicKey` (what CloudTrail returns) or SPKI
//! `SubjectPublicKeyInfo`; both are accepted.

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::future::Future;

/// One CloudTrail public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub fingerprint: String,
    pub key: RsaPublicKey,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

/// A key (or key document) that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("public key {fingerprint}: value is neither PKCS#1 nor SPKI DER RSA public key")]
    BadDer { fingerprint: String },
    #[error("public key document is not valid: {0}")]
    BadDocument(String),
    #[error("could not load public keys from {source_name}: {reason}")]
    Load { source_name: String, reason: String },
    #[error("cloudtrail:ListPublicKeys in {region} failed: {reason}")]
    Api { region: String, reason: String },
}

impl PublicKey {
    /// Parses a DER public key, PKCS#1 or SPKI.
    pub fn from_der(fingerprint: &str, der: &[u8]) -> Result<PublicKey, KeyError> {
        let key = RsaPublicKey::from_pkcs1_der(der)
            .or_else(|_| RsaPublicKey::from_public_key_der(der))
            .map_err(|_| KeyError::BadDer {
                fingerprint: fingerprint.to_string(),
            })?;
        Ok(PublicKey {
            fingerprint: fingerprint.to_string(),
            key,
            valid_from: None,
            valid_to: None,
        })
    }

    /// Checks an RSA PKCS#1 v1.5 SHA-256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let hashed = Sha256::digest(message);
        self.key
            .verify(Pkcs1v15Sign::new::<Sha256>(), &hashed, signature)
            .is_ok()
    }
}

/// A fixed set of keys, from a document in ListPublicKeys' response shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    pub keys: Vec<PublicKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    public_key_list: Vec<DocKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DocKey {
    value: String,
    fingerprint: String,
    #[serde(default)]
    validity_start_time: Option<Value>,
    #[serde(default)]
    validity_end_time: Option<Value>,
}

/// ISO 8601 strings (what the AWS CLI prints) or epoch seconds (what the raw API returns).
fn doc_time(v: &Option<Value>, what: &str, fp: &str) -> Result<Option<DateTime<Utc>>, KeyError> {
    let bad = || KeyError::BadDocument(format!("key {fp}: {what} is not a time: {v:?}"));
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| bad()),
        Some(Value::Number(n)) => {
            let secs = n.as_f64().ok_or_else(bad)?;
            Utc.timestamp_opt(secs as i64, 0)
                .single()
                .map(Some)
                .ok_or_else(bad)
        }
        Some(_) => Err(bad()),
    }
}

impl KeySet {
    /// Parses `{"PublicKeyList": [...]}`.
    pub fn from_json(bytes: &[u8]) -> Result<KeySet, KeyError> {
        let doc: Doc = serde_json::from_slice(bytes).map_err(|e| {
            KeyError::BadDocument(format!(
                "{e} (expected {{\"PublicKeyList\": [{{\"Value\", \"Fingerprint\", \"ValidityStartTime\", \"ValidityEndTime\"}}]}})"
            ))
        })?;
        let mut keys = Vec::with_capacity(doc.public_key_list.len());
        for k in doc.public_key_list {
            let der = base64::engine::general_purpose::STANDARD
                .decode(k.value.trim())
                .map_err(|e| {
                    KeyError::BadDocument(format!(
                        "key {}: Value is not base64: {e}",
                        k.fingerprint
                    ))
                })?;
            let mut key = PublicKey::from_der(&k.fingerprint, &der)?;
            key.valid_from = doc_time(&k.validity_start_time, "ValidityStartTime", &k.fingerprint)?;
            key.valid_to = doc_time(&k.validity_end_time, "ValidityEndTime", &k.fingerprint)?;
            keys.push(key);
        }
        Ok(KeySet { keys })
    }

    /// The key with this fingerprint (case-insensitive).
    pub fn find(&self, fingerprint: &str) -> Option<&PublicKey> {
        self.keys
            .iter()
            .find(|k| k.fingerprint.eq_ignore_ascii_case(fingerprint))
    }
}

/// The key a digest names: its fingerprint, and the region and hours the digest covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyWanted<'a> {
    pub region: &'a str,
    pub fingerprint: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Where digest signing keys are looked up.
pub trait KeySource: Sync {
    /// The key with the wanted fingerprint used in its region between its start and end.
    /// `Ok(None)`: no such key exists (the digest was not signed by CloudTrail). `Err`: the
    /// lookup itself failed (retry later).
    fn find_key(
        &self,
        wanted: KeyWanted<'_>,
    ) -> impl Future<Output = Result<Option<PublicKey>, KeyError>> + Send;
}

impl KeySource for KeySet {
    async fn find_key(&self, wanted: KeyWanted<'_>) -> Result<Option<PublicKey>, KeyError> {
        Ok(self.find(wanted.fingerprint).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_documents_say_what_is_expected() {
        let e = KeySet::from_json(b"[]").unwrap_err();
        assert!(e.to_string().contains("PublicKeyList"), "{e}");
        let e = KeySet::from_json(br#"{"PublicKeyList":[{"Value":"!!","Fingerprint":"ab"}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("key ab: Value is not base64"), "{e}");
        let e = KeySet::from_json(br#"{"PublicKeyList":[{"Value":"AAAA","Fingerprint":"ab"}]}"#)
            .unwrap_err();
        assert_eq!(
            e,
            KeyError::BadDer {
                fingerprint: "ab".into()
            }
        );
        let empty = KeySet::from_json(br#"{"PublicKeyList":[]}"#).unwrap();
        assert!(empty.find("ab").is_none());
    }
}
