//! A generic HTTPS webhook: the alert's JSON body (`trailwarden.alert/v1`, the same document
//! SNS subscribers get) POSTed with an HMAC-SHA256 signature (pure; the HTTP call is in
//! [`crate::deliver`]).
//!
//! Headers:
//! - `X-Trailwarden-Timestamp`: Unix seconds when the attempt was signed;
//! - `X-Trailwarden-Signature`: `v1=` and the lower-case hex HMAC-SHA256, keyed with the
//!   secret, of `<timestamp>.<body>` (the timestamp, a dot, the exact body bytes). A receiver
//!   recomputes it, compares in constant time, and refuses timestamps older than a few
//!   minutes (replays);
//! - `X-Trailwarden-Delivery`: the alert's fingerprint, the same on every retry and
//!   re-delivery of the same incident: an idempotency key to drop repeats.

use crate::identity;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use trailwarden::Alert;

pub const TIMESTAMP_HEADER: &str = "x-trailwarden-timestamp";
pub const SIGNATURE_HEADER: &str = "x-trailwarden-signature";
pub const DELIVERY_HEADER: &str = "x-trailwarden-delivery";

/// The body: the alert's machine JSON (as rendered for SNS, so bounded) with its
/// fingerprint.
pub fn body(alert: &Alert, rendered_json: &Value) -> Vec<u8> {
    let mut v = rendered_json.clone();
    if let Value::Object(m) = &mut v {
        m.insert(
            "fingerprint".into(),
            Value::String(identity::fingerprint(alert)),
        );
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2_011::Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature as a receiver would (constant-time comparison).
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("v1=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = <Hmac<sha2_011::Sha256> as KeyInit>::new_from_slice(secret)
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_secret_timestamp_and_body() {
        let sig = signature(b"Jefe", 1_700_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("v1="));
        assert_eq!(sig.len(), 3 + 64);
        assert!(verify(b"Jefe", 1_700_000_000, b"{\"a\":1}", &sig));
        assert!(!verify(b"Jefe", 1_700_000_001, b"{\"a\":1}", &sig));
        assert!(!verify(b"Jefe", 1_700_000_000, b"{\"a\":2}", &sig));
        assert!(!verify(b"other", 1_700_000_000, b"{\"a\":1}", &sig));
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2, through the same primitive.
        let mut mac = <Hmac<sha2_011::Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
