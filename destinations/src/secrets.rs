//! Secrets (the PagerDuty routing key, the webhook signing secret) from Secrets Manager,
//! read when first needed and kept for a few minutes, so a rotation is picked up without a
//! cold start. A secret's value is never logged, never in a delivery record, never in an
//! error: [`Secret`]'s `Debug` hides it.
//!
//! The secret string is the key itself, or a JSON object holding it under one of the
//! expected keys (`routing_key`/`integration_key` for PagerDuty, `secret`/`signing_secret`
//! for webhooks).

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a secret read is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(300);

/// A secret's value. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([not shown])")
    }
}

/// The value from a secret string: itself, or the first of `keys` in a JSON object.
pub fn value_of(secret_string: &str, keys: &[&str]) -> Result<Secret, String> {
    let s = secret_string.trim();
    if s.starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(s).map_err(|_| "the secret holds malformed JSON".to_string())?;
        for k in keys {
            if let Some(x) = v.get(*k).and_then(|x| x.as_str()) {
                if !x.trim().is_empty() {
                    return Ok(Secret(x.trim().to_string()));
                }
            }
        }
        return Err(format!(
            "the secret is a JSON object without a non-empty {}",
            keys.join(" or ")
        ));
    }
    if s.is_empty() {
        return Err("the secret is empty".into());
    }
    Ok(Secret(s.to_string()))
}

/// Reads and caches secrets.
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
    cache: Mutex<HashMap<String, (Instant, String)>>,
}

impl Secrets {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Secrets {
        Secrets {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The value of secret `id` (ARN or name), as [`value_of`] reads it.
    pub async fn get(&self, id: &str, keys: &[&str]) -> Result<Secret, String> {
        {
            let cache = self.cache.lock().await;
            if let Some((at, s)) = cache.get(id) {
                if at.elapsed() < CACHE_FOR {
                    return value_of(s, keys);
                }
            }
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                let c = trailwarden::aws::CallError::from_sdk(&e);
                format!("GetSecretValue {id}: {c}")
            })?;
        let Some(s) = out.secret_string() else {
            return Err(format!(
                "secret {id} has no string value (binary secrets are not read)"
            ));
        };
        let value = value_of(s, keys);
        self.cache
            .lock()
            .await
            .insert(id.to_string(), (Instant::now(), s.to_string()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_json_secrets() {
        assert_eq!(
            value_of(" abc \n", &["routing_key"]).unwrap().expose(),
            "abc"
        );
        assert_eq!(
            value_of(r#"{"routing_key": "R0123"}"#, &["routing_key"])
                .unwrap()
                .expose(),
            "R0123"
        );
        let e = value_of(r#"{"other": "x"}"#, &["routing_key", "integration_key"]).unwrap_err();
        assert!(e.contains("routing_key or integration_key"), "{e}");
        assert!(!e.contains('x'));
        assert!(value_of("  ", &["k"]).is_err());
        assert_eq!(
            format!("{:?}", value_of("hunter2", &[]).unwrap()),
            "Secret([not shown])"
        );
    }
}
