//! The catalog in force, for every function that evaluates it (`log-delivery` over log files,
//! `catalog` over single events): the built-in detections, less the families turned off, plus
//! the user's own file. Both read the same variables the same way, so both paths run the same
//! catalog.
//!
//! - `CUSTOM_DETECTIONS_URI`: a detection file (`{"detections": [...]}`) that adds to or
//!   overrides the built-ins by id: a local path (read here) or `s3://bucket/key` (read at cold
//!   start by [`CatalogSettings::load_s3`]). A malformed detection stops the cold start.
//! - `DISABLED_DETECTION_FAMILIES`: built-in families to turn off; an unknown name is an error.
//! - `EXCLUDE_FEDERATED_SIGNIN`: CIS 4.2 leaves out Identity Center and SAML/OIDC sign-ins.

use super::{BuiltinOptions, Catalog};
use crate::config::{self, ConfigError, Env};
use crate::s3uri::DocumentSource;
use std::sync::Arc;

/// Environment variable: the user's detection file (path or `s3://bucket/key`).
pub const CUSTOM_DETECTIONS_URI: &str = "CUSTOM_DETECTIONS_URI";
/// Environment variable: leave federated sign-ins out of CIS 4.2.
pub const EXCLUDE_FEDERATED_SIGNIN: &str = "EXCLUDE_FEDERATED_SIGNIN";
/// Environment variable: built-in detection families to turn off, comma-separated.
pub const DISABLED_DETECTION_FAMILIES: &str = "DISABLED_DETECTION_FAMILIES";
/// Largest detection file read from S3.
pub const MAX_DETECTION_FILE_BYTES: usize = 4 << 20;

/// The catalog settings and the catalog they give.
#[derive(Debug, Clone)]
pub struct CatalogSettings {
    /// `CUSTOM_DETECTIONS_URI`: a local file or an S3 object.
    pub custom_detections: Option<DocumentSource>,
    /// `EXCLUDE_FEDERATED_SIGNIN`.
    pub exclude_federated_signin: bool,
    /// `DISABLED_DETECTION_FAMILIES`: built-in families left out.
    pub disabled_families: Vec<String>,
    /// The catalog in force: the built-in catalog with the detections of a local
    /// `CUSTOM_DETECTIONS_URI` file; an S3 file is merged in by [`CatalogSettings::load_s3`].
    pub catalog: Arc<Catalog>,
}

/// The built-in catalog with `EXCLUDE_FEDERATED_SIGNIN`'s choice, without the families
/// `DISABLED_DETECTION_FAMILIES` names (an unknown family names the variable).
pub fn builtin_catalog(
    exclude_federated_signin: bool,
    disabled_families: &[String],
) -> Result<Catalog, ConfigError> {
    Catalog::builtin(BuiltinOptions {
        exclude_federated_signin,
    })
    .without_families(disabled_families, DISABLED_DETECTION_FAMILIES)
    .map_err(|e| {
        ConfigError::new(
            DISABLED_DETECTION_FAMILIES,
            &disabled_families.join(","),
            format!("comma-separated built-in family names ({})", e.message),
        )
    })
}

impl CatalogSettings {
    /// Reads the three variables and builds the catalog (a local detection file included).
    pub fn from_env(env: &dyn Env) -> Result<CatalogSettings, ConfigError> {
        let exclude_federated_signin = config::bool_var(env, EXCLUDE_FEDERATED_SIGNIN, true)?;
        let disabled_families = config::list(env, DISABLED_DETECTION_FAMILIES);
        let builtin = builtin_catalog(exclude_federated_signin, &disabled_families)?;
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
        Ok(CatalogSettings {
            custom_detections,
            exclude_federated_signin,
            disabled_families,
            catalog: Arc::new(catalog),
        })
    }

    /// With an `s3://` `CUSTOM_DETECTIONS_URI`, reads the file and merges it into the catalog
    /// (at cold start). A file that cannot be read or holds a malformed detection is an error
    /// naming the variable, the location, the detection's id and what is wrong.
    #[cfg(feature = "aws")]
    pub async fn load_s3(
        &mut self,
        s3: &aws_sdk_s3::Client,
    ) -> Result<(), crate::respond::InitError> {
        let Some(DocumentSource::S3(uri)) = &self.custom_detections else {
            return Ok(());
        };
        let catalog = load_detections(s3, &self.catalog, uri).await?;
        tracing::info!(source = %uri, detections = catalog.len(), "custom detections loaded");
        self.catalog = Arc::new(catalog);
        Ok(())
    }
}

/// Reads a detection file from S3 and merges it into `base` by id.
#[cfg(feature = "aws")]
pub async fn load_detections(
    s3: &aws_sdk_s3::Client,
    base: &Catalog,
    uri: &crate::s3uri::S3Uri,
) -> Result<Catalog, crate::respond::InitError> {
    let fail = |m: String| crate::respond::InitError(format!("{CUSTOM_DETECTIONS_URI}: {m}"));
    let bytes = crate::aws::read_object(s3, uri, MAX_DETECTION_FILE_BYTES)
        .await
        .map_err(|e| fail(format!("cannot read {uri}: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| fail(format!("{uri}: not UTF-8 text")))?;
    base.clone()
        .with_overrides(text, &uri.to_string())
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn defaults_give_the_builtin_catalog() {
        let none: [(&str, &str); 0] = [];
        let s = CatalogSettings::from_env(&none).unwrap();
        assert!(s.exclude_federated_signin);
        assert!(s.custom_detections.is_none());
        assert_eq!(
            s.catalog.len(),
            Catalog::builtin(BuiltinOptions::default()).len()
        );
    }

    #[test]
    fn a_disabled_family_is_left_out_and_an_unknown_one_names_the_variable() {
        let s = CatalogSettings::from_env(&[(DISABLED_DETECTION_FAMILIES, "cis")]).unwrap();
        assert!(s.catalog.detections().iter().all(|d| d.family != "cis"));
        let e =
            CatalogSettings::from_env(&[(DISABLED_DETECTION_FAMILIES, "cis, nope")]).unwrap_err();
        assert_eq!(e.var, DISABLED_DETECTION_FAMILIES);
        assert!(e.expected.contains("nope"), "{e}");
    }
}
