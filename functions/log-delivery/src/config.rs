//! log-delivery's settings, read once per cold start. The catalog settings are shared with
//! the real-time `catalog` function ([`CatalogSettings`]), so both paths run the same
//! catalog; the state settings ([`StateSettings`]) too, so both share one memory.

use std::sync::Arc;
use trailwarden::config::{Common, ConfigError, Env};
use trailwarden::detect::settings::CatalogSettings;
use trailwarden::detect::Catalog;
use trailwarden::respond::Settings;
use trailwarden::s3uri::DocumentSource;
use trailwarden_state::StateSettings;

pub use trailwarden::detect::settings::{
    CUSTOM_DETECTIONS_URI, DISABLED_DETECTION_FAMILIES, EXCLUDE_FEDERATED_SIGNIN,
    MAX_DETECTION_FILE_BYTES,
};

/// The function's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    /// `CUSTOM_DETECTIONS_URI`: a local file or an S3 object.
    pub custom_detections: Option<DocumentSource>,
    /// `EXCLUDE_FEDERATED_SIGNIN`.
    pub exclude_federated_signin: bool,
    /// `DISABLED_DETECTION_FAMILIES`: built-in families left out.
    pub disabled_families: Vec<String>,
    /// The catalog in force: the built-in catalog with the detections of a local
    /// `CUSTOM_DETECTIONS_URI` file; at cold start ([`crate::LogDelivery`]'s `init`) an S3 file
    /// is read and merged in as well.
    pub catalog: Arc<Catalog>,
    /// `STATE_TABLE`, `INCIDENT_WINDOW_SECONDS`: the state shared with the real-time path.
    pub state: StateSettings,
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let c = CatalogSettings::from_env(env)?;
        Ok(Config {
            common,
            custom_detections: c.custom_detections,
            exclude_federated_signin: c.exclude_federated_signin,
            disabled_families: c.disabled_families,
            catalog: c.catalog,
            state: StateSettings::from_env(env)?,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}
