//! The AWS side of [`crate::keys`]: public keys from `cloudtrail:ListPublicKeys`, or from a
//! ListPublicKeys-shaped document (`PUBLIC_KEYS_URI`). Kept apart from `keys.rs` so that the
//! signature checking there builds without the AWS SDK (the fuzz targets compile it on its
//! own).

use crate::config::KeysUri;
use crate::keys::{KeyError, KeySet, KeySource, KeyWanted, PublicKey};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use trailwarden::aws::{paginate, read_document, CallError, RegionalClients};

/// Keys from `cloudtrail:ListPublicKeys`, cached for the life of the process (one Lambda
/// cold start). Each region has its own keys; a fingerprint not yet seen triggers one
/// (paginated) lookup for the digest's time range in the digest's region.
#[derive(Debug)]
pub struct CloudTrailKeys {
    clients: RegionalClients<aws_sdk_cloudtrail::Client>,
    cache: Mutex<HashMap<(String, String), PublicKey>>,
}

impl CloudTrailKeys {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        CloudTrailKeys {
            clients: RegionalClients::new(sdk, aws_sdk_cloudtrail::Client::new),
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
        let client = self.clients.region(region);
        let pages = paginate(|token| {
            let request = client
                .list_public_keys()
                .start_time(SdkTime::from_secs(start.timestamp()))
                .end_time(SdkTime::from_secs(end.timestamp()))
                .set_next_token(token);
            async move {
                let resp = request.send().await.map_err(|e| CallError::from_sdk(&e))?;
                let next = resp.next_token().map(str::to_string);
                Ok((resp.public_key_list.unwrap_or_default(), next))
            }
        })
        .await
        .map_err(|e| KeyError::Api {
            region: region.to_string(),
            reason: e.to_string(),
        })?;
        let mut out = Vec::new();
        for k in pages {
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
        Ok(out)
    }
}

impl KeySource for CloudTrailKeys {
    async fn find_key(&self, wanted: KeyWanted<'_>) -> Result<Option<PublicKey>, KeyError> {
        let KeyWanted {
            region,
            fingerprint,
            start,
            end,
        } = wanted;
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

/// The largest public key document accepted (a year of keys for every region is a few
/// hundred KB).
pub const MAX_KEY_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Reads a ListPublicKeys-shaped document from a file or S3.
pub async fn load_key_document(uri: &KeysUri, s3: &aws_sdk_s3::Client) -> Result<KeySet, KeyError> {
    let load = |reason: String| KeyError::Load {
        source_name: uri.to_string(),
        reason,
    };
    let bytes = read_document(s3, uri, MAX_KEY_DOCUMENT_BYTES)
        .await
        .map_err(|e| load(e.to_string()))?;
    KeySet::from_json(&bytes).map_err(|e| load(e.to_string()))
}

/// Where this function's keys come from.
#[derive(Debug)]
pub enum Keys {
    /// `cloudtrail:ListPublicKeys`, cached per cold start.
    Api(Box<CloudTrailKeys>),
    /// `PUBLIC_KEYS_URI`, read on first use.
    Document {
        uri: KeysUri,
        s3: aws_sdk_s3::Client,
        loaded: tokio::sync::OnceCell<KeySet>,
    },
}

impl Keys {
    /// The key source the settings name.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        uri: Option<&KeysUri>,
        s3: &aws_sdk_s3::Client,
    ) -> Keys {
        match uri {
            Some(uri) => Keys::Document {
                uri: uri.clone(),
                s3: s3.clone(),
                loaded: tokio::sync::OnceCell::new(),
            },
            None => Keys::Api(Box::new(CloudTrailKeys::new(sdk))),
        }
    }
}

impl KeySource for Keys {
    async fn find_key(&self, wanted: KeyWanted<'_>) -> Result<Option<PublicKey>, KeyError> {
        match self {
            Keys::Api(k) => k.find_key(wanted).await,
            Keys::Document { uri, s3, loaded } => {
                let set = loaded
                    .get_or_try_init(|| async {
                        let set = load_key_document(uri, s3).await?;
                        tracing::info!(source = %uri, keys = set.keys.len(), "loaded public keys");
                        Ok::<_, KeyError>(set)
                    })
                    .await?;
                Ok(set.find(wanted.fingerprint).cloned())
            }
        }
    }
}
