//! The AWS side of [`crate::keys`]: public keys from `cloudtrail:ListPublicKeys`. Kept apart
//! from `keys.rs` so that the signature checking there builds without the AWS SDK (the fuzz
//! targets compile it on its own).

use crate::keys::{KeyError, KeySource, PublicKey};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keys from `cloudtrail:ListPublicKeys`, cached for the life of the process (one Lambda
/// cold start). Each region has its own keys; a fingerprint not yet seen triggers one
/// (paginated) lookup for the digest's time range in the digest's region.
#[derive(Debug)]
pub struct CloudTrailKeys {
    sdk: aws_config::SdkConfig,
    cache: Mutex<HashMap<(String, String), PublicKey>>,
}

impl CloudTrailKeys {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        CloudTrailKeys {
            sdk: sdk.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, region: &str, fingerprint: &str) -> Option<PublicKey> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(region.to_string(), fingerprint.to_ascii_lowercase()))
            .cloned()
    }

    async fn fetch(
        &self,
        region: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<PublicKey>, KeyError> {
        use aws_sdk_cloudtrail::primitives::DateTime as SdkTime;
        let client =
            aws_sdk_cloudtrail::Client::new(&trailwarden::aws::with_region(&self.sdk, region));
        let api = |reason: String| KeyError::Api {
            region: region.to_string(),
            reason,
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = client
                .list_public_keys()
                .start_time(SdkTime::from_secs(start.timestamp()))
                .end_time(SdkTime::from_secs(end.timestamp()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| api(aws_sdk_cloudtrail::error::DisplayErrorContext(e).to_string()))?;
            for k in resp.public_key_list() {
                let (Some(fp), Some(v)) = (k.fingerprint(), k.value()) else {
                    continue;
                };
                let mut key = PublicKey::from_der(fp, v.as_ref())?;
                key.valid_from = k
                    .validity_start_time()
                    .and_then(|t| Utc.timestamp_opt(t.secs(), 0).single());
                key.valid_to = k
                    .validity_end_time()
                    .and_then(|t| Utc.timestamp_opt(t.secs(), 0).single());
                out.push(key);
            }
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

impl KeySource for CloudTrailKeys {
    async fn find_key(
        &self,
        region: &str,
        fingerprint: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Option<PublicKey>, KeyError> {
        if let Some(k) = self.cached(region, fingerprint) {
            return Ok(Some(k));
        }
        let keys = self.fetch(region, start, end).await?;
        tracing::info!(region, keys = keys.len(), "loaded CloudTrail public keys");
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            cache.insert((region.to_string(), k.fingerprint.to_ascii_lowercase()), k);
        }
        Ok(cache
            .get(&(region.to_string(), fingerprint.to_ascii_lowercase()))
            .cloned())
    }
}
