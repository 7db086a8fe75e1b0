//! backfill's settings, read once per cold start: the catalog settings log-delivery reads
//! (so a backfill scans with the same catalog as the live path) and log-integrity's settings
//! (so digests are checked the same way).

use trailwarden::config::{Common, ConfigError, Env};
use trailwarden::detect::settings::CatalogSettings;
use trailwarden::respond::Settings;

/// The function's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    /// `CUSTOM_DETECTIONS_URI`, `DISABLED_DETECTION_FAMILIES`, `EXCLUDE_FEDERATED_SIGNIN`: the
    /// catalog log-delivery runs.
    pub catalog: CatalogSettings,
    /// `PUBLIC_KEYS_URI`, `MAX_DIGEST_GAP_MINUTES`, `RESTART_LOOKBACK_DAYS`: log-integrity's
    /// settings.
    pub integrity: log_integrity::Config,
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        Ok(Config {
            common: Common::from_env(env)?,
            catalog: CatalogSettings::from_env(env)?,
            integrity: log_integrity::Config::from_env(env)?,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}
