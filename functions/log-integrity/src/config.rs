//! The function's settings, read once per cold start; a bad value names its variable.

use crate::check::Options;
use trailwarden::aws::DocumentSource;
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::respond::Settings;

/// Default for `MAX_DIGEST_GAP_MINUTES`.
pub const DEFAULT_MAX_DIGEST_GAP_MINUTES: u32 = 90;
/// Upper bound for `MAX_DIGEST_GAP_MINUTES` (one week).
pub const MAX_MAX_DIGEST_GAP_MINUTES: u32 = 7 * 24 * 60;
/// Default for `RESTART_LOOKBACK_DAYS`.
pub const DEFAULT_RESTART_LOOKBACK_DAYS: u32 = 7;
/// Upper bound for `RESTART_LOOKBACK_DAYS`.
pub const MAX_RESTART_LOOKBACK_DAYS: u32 = 31;

/// Where a public key document is: `s3://bucket/key`, `file:///path` or a plain path.
pub type KeysUri = DocumentSource;

/// The function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub common: Common,
    /// `PUBLIC_KEYS_URI`: a ListPublicKeys-shaped document used instead of the API.
    pub public_keys_uri: Option<KeysUri>,
    /// `MAX_DIGEST_GAP_MINUTES`.
    pub max_digest_gap_minutes: u32,
    /// `RESTART_LOOKBACK_DAYS`.
    pub restart_lookback_days: u32,
}

fn bounded(
    env: &dyn Env,
    var: &str,
    default: u32,
    range: (u32, u32),
    unit: &str,
) -> Result<u32, ConfigError> {
    config::number(
        env,
        var,
        range.0..=range.1,
        default,
        &format!("expected whole {unit} from {} to {}", range.0, range.1),
    )
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let public_keys_uri = match config::get(env, "PUBLIC_KEYS_URI") {
            None => None,
            Some(v) => Some(
                DocumentSource::parse(&v)
                    .map_err(|e| ConfigError::new("PUBLIC_KEYS_URI", &v, e))?,
            ),
        };
        Ok(Config {
            common,
            public_keys_uri,
            max_digest_gap_minutes: bounded(
                env,
                "MAX_DIGEST_GAP_MINUTES",
                DEFAULT_MAX_DIGEST_GAP_MINUTES,
                (1, MAX_MAX_DIGEST_GAP_MINUTES),
                "minutes",
            )?,
            restart_lookback_days: bounded(
                env,
                "RESTART_LOOKBACK_DAYS",
                DEFAULT_RESTART_LOOKBACK_DAYS,
                (0, MAX_RESTART_LOOKBACK_DAYS),
                "days",
            )?,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

impl Config {
    /// The checking options these settings give.
    pub fn options(&self) -> Options {
        Options {
            max_gap_minutes: self.max_digest_gap_minutes,
            restart_lookback_days: self.restart_lookback_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_errors_name_the_variable() {
        let c = Config::from_env(&[("ALERT_TOPIC_ARN", "")]).unwrap();
        assert_eq!(c.max_digest_gap_minutes, 90);
        assert_eq!(c.restart_lookback_days, 7);
        assert_eq!(c.public_keys_uri, None);
        let c = Config::from_env(&[
            (
                "PUBLIC_KEYS_URI",
                "s3://keys-bucket/cloudtrail/public-keys.json",
            ),
            ("MAX_DIGEST_GAP_MINUTES", "120"),
            ("RESTART_LOOKBACK_DAYS", "2"),
        ])
        .unwrap();
        assert_eq!(
            c.public_keys_uri
                .as_ref()
                .and_then(DocumentSource::s3)
                .map(|u| (u.bucket.as_str(), u.key.as_str())),
            Some(("keys-bucket", "cloudtrail/public-keys.json"))
        );
        assert_eq!(c.options().max_gap_minutes, 120);
        assert_eq!(c.options().restart_lookback_days, 2);
        let c = Config::from_env(&[("PUBLIC_KEYS_URI", "file:///opt/keys.json")]).unwrap();
        assert_eq!(
            c.public_keys_uri,
            Some(DocumentSource::Path("/opt/keys.json".into()))
        );
        for (var, bad, expect) in [
            ("MAX_DIGEST_GAP_MINUTES", "0", "1 to 10080"),
            ("MAX_DIGEST_GAP_MINUTES", "1.5h", "whole minutes"),
            ("RESTART_LOOKBACK_DAYS", "32", "0 to 31"),
            ("PUBLIC_KEYS_URI", "s3://only-bucket", "s3://BUCKET/KEY"),
            (
                "PUBLIC_KEYS_URI",
                "https://example.com/keys.json",
                "file path",
            ),
        ] {
            let e = Config::from_env(&[(var, bad)]).unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.to_string().contains(expect), "{e}");
        }
    }
}
