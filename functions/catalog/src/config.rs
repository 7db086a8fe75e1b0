//! catalog's settings, read once per cold start: the same catalog settings as log-delivery
//! ([`CatalogSettings`]: `CUSTOM_DETECTIONS_URI`, `DISABLED_DETECTION_FAMILIES`,
//! `EXCLUDE_FEDERATED_SIGNIN`), the state ([`StateSettings`]: `STATE_TABLE`,
//! `INCIDENT_WINDOW_SECONDS`), `RESPONDERS` and the common settings.

use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::detect::settings::CatalogSettings;
use trailwarden::detect::RESPONDERS as KNOWN_RESPONDERS;
use trailwarden::respond::Settings;
use trailwarden_state::StateSettings;

/// Environment variable: the responder functions deployed with this catalog (comma-separated,
/// of `root-activity`, `unapproved-user`, `security-group`). Events that a built-in detection
/// naming one of them (`responder`) matches are left to that responder, which alerts them and
/// records the incident (see `trailwarden_state::handoff`). Unset: the catalog alerts
/// everything itself.
pub const RESPONDERS: &str = "RESPONDERS";

/// The function's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    /// The catalog in force (an `s3://` detection file is merged in at cold start).
    pub detections: CatalogSettings,
    /// Where the state lives and how long an incident's window is.
    pub state: StateSettings,
    /// `RESPONDERS`.
    pub responders: Vec<String>,
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        Ok(Config {
            common: Common::from_env(env)?,
            detections: CatalogSettings::from_env(env)?,
            state: StateSettings::from_env(env)?,
            responders: responders(env)?,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

fn responders(env: &dyn Env) -> Result<Vec<String>, ConfigError> {
    let list = config::list(env, RESPONDERS);
    if let Some(bad) = list
        .iter()
        .find(|r| !KNOWN_RESPONDERS.contains(&r.as_str()))
    {
        return Err(ConfigError::new(
            RESPONDERS,
            bad,
            format!(
                "expected a comma-separated list of {}",
                KNOWN_RESPONDERS.join(", ")
            ),
        ));
    }
    Ok(list)
}
