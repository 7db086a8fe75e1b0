//! catalog's settings, read once per cold start: the same catalog settings as log-delivery
//! ([`CatalogSettings`]: `CUSTOM_DETECTIONS_URI`, `DISABLED_DETECTION_FAMILIES`,
//! `EXCLUDE_FEDERATED_SIGNIN`), the state ([`StateSettings`]: `STATE_TABLE`,
//! `INCIDENT_WINDOW_SECONDS`) and the common settings.

use trailwarden::config::{Common, ConfigError, Env};
use trailwarden::detect::settings::CatalogSettings;
use trailwarden::respond::Settings;
use trailwarden_state::StateSettings;

/// The function's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    /// The catalog in force (an `s3://` detection file is merged in at cold start).
    pub detections: CatalogSettings,
    /// Where the state lives and how long an incident's window is.
    pub state: StateSettings,
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        Ok(Config {
            common: Common::from_env(env)?,
            detections: CatalogSettings::from_env(env)?,
            state: StateSettings::from_env(env)?,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}
