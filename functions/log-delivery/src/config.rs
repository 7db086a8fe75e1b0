//! log-delivery's settings, read once per cold start.

use std::sync::Arc;
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::detect::{BuiltinOptions, Catalog};
use trailwarden::respond::Settings;
use trailwarden::s3uri::DocumentSource;

/// Environment variable: the user's detection file (path or `s3://bucket/key`).
pub const CUSTOM_DETECTIONS_URI: &str = "CUSTOM_DETECTIONS_URI";
/// Environment variable: leave federated sign-ins out of CIS 4.2.
pub const EXCLUDE_FEDERATED_SIGNIN: &str = "EXCLUDE_FEDERATED_SIGNIN";
/// Environment variable: built-in detection families to turn off, comma-separated.
pub const DISABLED_DETECTION_FAMILIES: &str = "DISABLED_DETECTION_FAMILIES";
/// Largest detection file read from S3.
pub const MAX_DETECTION_FILE_BYTES: usize = 4 << 20;

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
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let exclude_federated_signin = config::bool_var(env, EXCLUDE_FEDERATED_SIGNIN, true)?;
        let disabled_families: Vec<String> = config::get(env, DISABLED_DETECTION_FAMILIES)
            .map(|v| {
                v.split(',')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let builtin = Catalog::builtin(BuiltinOptions {
            exclude_federated_signin,
        })
        .without_families(&disabled_families, DISABLED_DETECTION_FAMILIES)
        .map_err(|e| {
            ConfigError::new(
                DISABLED_DETECTION_FAMILIES,
                &disabled_families.join(","),
                format!("comma-separated built-in family names ({})", e.message),
            )
        })?;
        let custom_detections = match config::get(env, CUSTOM_DETECTIONS_URI) {
            None => None,
            Some(v) => Some(DocumentSource::parse(&v).map_err(|e| {
                ConfigError::new(
                    CUSTOM_DETECTIONS_URI,
                    &v,
                    format!("a local path or s3://BUCKET/KEY ({e})"),
                )
            })?),
        };
        let catalog = match &custom_detections {
            Some(DocumentSource::Path(p)) => {
                let v = p.display().to_string();
                builtin.with_file(p).map_err(|e| {
                    ConfigError::new(
                        CUSTOM_DETECTIONS_URI,
                        &v,
                        format!("a valid detection file: {e}"),
                    )
                })?
            }
            _ => builtin,
        };
        Ok(Config {
            common,
            custom_detections,
            exclude_federated_signin,
            disabled_families,
            catalog: Arc::new(catalog),
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

impl Config {
    /// Configuration with every default (tests, the CLI).
    pub fn defaults() -> Config {
        let none: [(&str, &str); 0] = [];
        Config::from_env(&none).expect("defaults are valid")
    }
}
