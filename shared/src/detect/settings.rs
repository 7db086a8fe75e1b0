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
//! - `DEPLOYER_ROLE_ARNS`: IAM roles of infrastructure-as-code pipelines whose sessions the
//!   defence-evasion detections marked `deployer_exempt` leave out
//!   ([`Catalog::with_deployer_roles`]).
//! - `APPROVED_CREATOR_ARNS`: unapproved-user's approved creators; its role patterns add a
//!   high detection of a role created to fit one, or such a role's trust policy changed
//!   ([`Catalog::with_approved_creators`]).
//! - `EXEMPT_TAG`: security-group's exemption tag key; the detection of that tag being set or
//!   removed watches it ([`Catalog::with_exempt_tag`]).

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
/// Environment variable: deployment roles (ARN wildcards, comma-separated) that the detections
/// marked `deployer_exempt` leave out.
pub const DEPLOYER_ROLE_ARNS: &str = "DEPLOYER_ROLE_ARNS";
/// Environment variable: unapproved-user's approved creators (principal ARN globs,
/// comma-separated); the catalog guards their role patterns.
pub const APPROVED_CREATOR_ARNS: &str = "APPROVED_CREATOR_ARNS";
/// Environment variable: security-group's exemption tag key (unset: the default key; empty: no
/// tag exempts).
pub const EXEMPT_TAG: &str = "EXEMPT_TAG";
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
    /// The roles and the tag whose trust the built-in detections follow.
    pub deployment: Deployment,
    /// The catalog in force: the built-in catalog with the detections of a local
    /// `CUSTOM_DETECTIONS_URI` file; an S3 file is merged in by [`CatalogSettings::load_s3`].
    pub catalog: Arc<Catalog>,
}

/// What a deployment tells the built-in catalog about itself: the roles and the tag that carry
/// trust elsewhere in trailwarden, which detections must leave out or watch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Deployment {
    /// `DEPLOYER_ROLE_ARNS`: deployment roles left out of the detections marked
    /// `deployer_exempt` ([`Catalog::with_deployer_roles`]).
    pub deployer_roles: Vec<String>,
    /// `APPROVED_CREATOR_ARNS`: approved creators whose role patterns are guarded
    /// ([`Catalog::with_approved_creators`]).
    pub approved_creators: Vec<String>,
    /// `EXEMPT_TAG`: the exemption tag key the tag detection watches
    /// ([`Catalog::with_exempt_tag`]).
    pub exempt_tag: String,
}

impl Default for Deployment {
    fn default() -> Self {
        Deployment {
            deployer_roles: Vec::new(),
            approved_creators: Vec::new(),
            exempt_tag: super::catalog::DEFAULT_EXEMPT_TAG.to_string(),
        }
    }
}

impl Deployment {
    /// Reads `DEPLOYER_ROLE_ARNS`, `APPROVED_CREATOR_ARNS` and `EXEMPT_TAG` (unset: the
    /// default key; set but empty: no tag exempts).
    pub fn from_env(env: &dyn Env) -> Deployment {
        Deployment {
            deployer_roles: config::list(env, DEPLOYER_ROLE_ARNS),
            approved_creators: config::list(env, APPROVED_CREATOR_ARNS),
            exempt_tag: env.var(EXEMPT_TAG).map_or_else(
                || super::catalog::DEFAULT_EXEMPT_TAG.to_string(),
                |v| v.trim().to_string(),
            ),
        }
    }
}

/// The built-in catalog with `EXCLUDE_FEDERATED_SIGNIN`'s choice and what the deployment says
/// of itself (`DEPLOYER_ROLE_ARNS`, `APPROVED_CREATOR_ARNS`, `EXEMPT_TAG`), without the
/// families `DISABLED_DETECTION_FAMILIES` names (an unknown family, a malformed role or tag
/// key names the variable).
pub fn builtin_catalog(
    exclude_federated_signin: bool,
    disabled_families: &[String],
    deployment: &Deployment,
) -> Result<Catalog, ConfigError> {
    let Deployment {
        deployer_roles,
        approved_creators,
        exempt_tag,
    } = deployment;
    // A list the catalog refuses, as a configuration error naming the variable.
    let refused = |var: &'static str, list: &[String], what: &'static str| {
        let value = list.join(",");
        move |e: super::CatalogError| {
            ConfigError::new(
                var,
                &value,
                format!("comma-separated {what} ({})", e.message),
            )
        }
    };
    Catalog::builtin(BuiltinOptions {
        exclude_federated_signin,
    })
    .with_deployer_roles(deployer_roles, DEPLOYER_ROLE_ARNS)
    .map_err(refused(DEPLOYER_ROLE_ARNS, deployer_roles, "IAM role ARNs"))?
    .with_approved_creators(approved_creators, APPROVED_CREATOR_ARNS)
    .map_err(refused(
        APPROVED_CREATOR_ARNS,
        approved_creators,
        "principal ARN globs",
    ))?
    .with_exempt_tag(exempt_tag, EXEMPT_TAG)
    .map_err(|e| ConfigError::new(EXEMPT_TAG, exempt_tag, format!("a tag key ({})", e.message)))?
    .without_families(disabled_families, DISABLED_DETECTION_FAMILIES)
    .map_err(refused(
        DISABLED_DETECTION_FAMILIES,
        disabled_families,
        "built-in family names",
    ))
}

impl CatalogSettings {
    /// Reads the seven variables and builds the catalog (a local detection file included).
    pub fn from_env(env: &dyn Env) -> Result<CatalogSettings, ConfigError> {
        let exclude_federated_signin = config::bool_var(env, EXCLUDE_FEDERATED_SIGNIN, true)?;
        let disabled_families = config::list(env, DISABLED_DETECTION_FAMILIES);
        let deployment = Deployment::from_env(env);
        let builtin = builtin_catalog(exclude_federated_signin, &disabled_families, &deployment)?;
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
            deployment,
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

    /// CloudTrail identities, shared with the Sigma converter's and the CLI's tests.
    mod cloudtrail {
        include!("../../tests/fixtures/cloudtrail.rs");
    }

    /// A log group deleted by a session of `role` that sends Terraform's user agent.
    fn log_group_deleted_by(role: &str) -> serde_json::Value {
        serde_json::json!({
            "eventVersion": "1.09",
            "userIdentity": cloudtrail::assumed_role("123456789012", role, "session"),
            "eventTime": "2024-08-01T13:05:12Z",
            "eventSource": "logs.amazonaws.com",
            "eventName": "DeleteLogGroup",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.23",
            "userAgent": "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0 aws-sdk-go-v2/1.25.3",
            "requestParameters": {"logGroupName": "/app/orders"},
            "responseElements": null,
            "eventType": "AwsApiCall",
            "recipientAccountId": "123456789012"
        })
    }

    fn fires(s: &CatalogSettings, record: &serde_json::Value, id: &str) -> bool {
        s.catalog.matching(record).iter().any(|d| d.id == id)
    }

    #[test]
    fn a_terraform_user_agent_alone_leaves_nothing_out() {
        let none: [(&str, &str); 0] = [];
        let s = CatalogSettings::from_env(&none).unwrap();
        assert!(fires(
            &s,
            &log_group_deleted_by("terraform"),
            "logs-log-group-deleted"
        ));
    }

    #[test]
    fn listed_deployment_roles_are_left_out_and_only_they() {
        let s = CatalogSettings::from_env(&[(
            DEPLOYER_ROLE_ARNS,
            "arn:aws:iam::123456789012:role/terraform, arn:aws:iam::*:role/ci-deploy-*",
        )])
        .unwrap();
        assert_eq!(s.deployment.deployer_roles.len(), 2);
        let id = "logs-log-group-deleted";
        assert!(!fires(&s, &log_group_deleted_by("terraform"), id));
        assert!(!fires(&s, &log_group_deleted_by("ci-deploy-prod"), id));
        // Same user agent, another role: an attacker who copies the pipeline's user agent.
        assert!(fires(&s, &log_group_deleted_by("app-runtime"), id));
        // Detections not marked deployer_exempt still see the deployment role.
        let d = s.catalog.get(id).unwrap();
        assert!(
            d.description.contains("DEPLOYER_ROLE_ARNS"),
            "{}",
            d.description
        );
        assert!(
            s.catalog
                .detections()
                .iter()
                .filter(|d| d.deployer_exempt)
                .count()
                >= 9
        );
        // The list adds one detection: a role that would carry the exemption.
        assert_eq!(
            s.catalog.len(),
            Catalog::builtin(BuiltinOptions::default()).len() + 1
        );
    }

    fn iam_call(event_name: &str, role_name: &str) -> serde_json::Value {
        serde_json::json!({
            "eventVersion": "1.09",
            "userIdentity": cloudtrail::iam_user("123456789012", "mallory"),
            "eventTime": "2024-08-01T13:05:12Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.23",
            "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws",
            "requestParameters": {
                "roleName": role_name,
                "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::210987654321:root\"},\"Action\":\"sts:AssumeRole\"}]}"
            },
            "responseElements": null,
            "eventType": "AwsApiCall",
            "recipientAccountId": "123456789012"
        })
    }

    #[test]
    fn a_role_that_would_carry_the_exemption_is_alerted_high() {
        let s = CatalogSettings::from_env(&[(
            DEPLOYER_ROLE_ARNS,
            "arn:aws:iam::123456789012:role/terraform, arn:aws:iam::*:role/ci/ci-deploy-*",
        )])
        .unwrap();
        let id = crate::detect::catalog::DEPLOYER_GUARD_ID;
        let guard = s.catalog.get(id).unwrap();
        assert_eq!(guard.severity, crate::alert::Severity::High);
        // A look-alike of a wildcard entry, and a listed role whose trust policy changes.
        assert!(fires(&s, &iam_call("CreateRole", "ci-deploy-mallory"), id));
        // A role under a path the pattern's `*` reaches into: its name alone fits no entry,
        // its ARN (in the response) does.
        let mut under_path = iam_call("CreateRole", "evil");
        under_path["requestParameters"]["path"] = "/terraform-x/".into();
        under_path["responseElements"] = serde_json::json!({"role": {
            "path": "/terraform-x/",
            "roleName": "evil",
            "roleId": "AROA4EXAMPLEEVILROLE",
            "arn": "arn:aws:iam::123456789012:role/terraform-x/evil",
            "createDate": "Aug 1, 2024 1:05:12 PM"
        }});
        let wide = CatalogSettings::from_env(&[(
            DEPLOYER_ROLE_ARNS,
            "arn:aws:iam::123456789012:role/terraform*",
        )])
        .unwrap();
        assert!(fires(&wide, &under_path, id));
        assert!(fires(
            &s,
            &iam_call("UpdateAssumeRolePolicy", "terraform"),
            id
        ));
        // Other roles, and the guard's absence without a list.
        assert!(!fires(
            &s,
            &iam_call("UpdateAssumeRolePolicy", "app-runtime"),
            id
        ));
        let none: [(&str, &str); 0] = [];
        assert!(CatalogSettings::from_env(&none)
            .unwrap()
            .catalog
            .get(id)
            .is_none());
    }

    /// CreateTags of one tag on a security group.
    fn tag_group(key: &str, value: &str) -> serde_json::Value {
        cloudtrail::security_group_tagged("123456789012", key, value)
    }

    #[test]
    fn the_exemption_tag_detection_watches_the_configured_key() {
        let id = crate::detect::catalog::EXEMPT_TAG_DETECTION;
        let none: [(&str, &str); 0] = [];
        let default = CatalogSettings::from_env(&none).unwrap();
        // Another key (with characters JSON escapes), and one set but empty (no tag exempts:
        // the detection is left as it is).
        let odd = "security/exempt \"x\"";
        let custom = CatalogSettings::from_env(&[(EXEMPT_TAG, " security/exempt \"x\" ")]).unwrap();
        let empty = CatalogSettings::from_env(&[(EXEMPT_TAG, "")]).unwrap();
        // (settings, tag key, tag value, whether the detection fires)
        let cases = [
            (&default, "trailwarden:exempt", "CHG-1234", true),
            (&default, odd, "yes", false),
            (&custom, odd, "yes", true),
            (&custom, odd, "false", false),
            (&custom, "trailwarden:exempt", "CHG-1234", false),
            (&empty, "trailwarden:exempt", "CHG-1234", true),
        ];
        for (i, (settings, key, value, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                fires(settings, &tag_group(key, value), id),
                want,
                "case {i}"
            );
        }
        let d = custom.catalog.get(id).unwrap();
        assert!(d.title.contains(odd), "{}", d.title);
        assert_eq!(d.family, "evasion");
        assert!(
            !d.deployer_exempt,
            "rebuilt from its text, it would lose the exemption"
        );
        assert_eq!(custom.catalog.len(), default.catalog.len());
        // Not a tag key.
        let e = CatalogSettings::from_env(&[(EXEMPT_TAG, "a\u{7}b")]).unwrap_err();
        assert_eq!(e.var, EXEMPT_TAG);
    }

    #[test]
    fn a_role_that_would_approve_new_users_is_alerted_high() {
        let creators = "arn:aws:iam::*:role/stacksets-exec-*, \
             arn:aws:iam::123456789012:role/terraform-deployer, \
             arn:aws:iam::123456789012:user/admins/*";
        let s = CatalogSettings::from_env(&[(APPROVED_CREATOR_ARNS, creators)]).unwrap();
        let id = crate::detect::catalog::CREATOR_GUARD_ID;
        let guard = s.catalog.get(id).expect("role patterns add the guard");
        assert_eq!(guard.severity, crate::alert::Severity::High);
        assert!(guard.description.contains("stacksets-exec-*"));
        // A new role that fits a pattern, under a path too (its ARN is in the response), and a
        // listed role whose trust policy changes.
        assert!(fires(
            &s,
            &iam_call("CreateRole", "stacksets-exec-7f3a"),
            id
        ));
        let mut under_path = iam_call("CreateRole", "deployer");
        under_path["responseElements"] = serde_json::json!({"role": {
            "path": "/terraform-deployer/",
            "roleName": "deployer",
            "roleId": "AROA4EXAMPLEEVILROLE",
            "arn": "arn:aws:iam::123456789012:role/stacksets-exec-x/deployer",
            "createDate": "Aug 1, 2024 1:05:12 PM"
        }});
        assert!(fires(&s, &under_path, id));
        assert!(fires(
            &s,
            &iam_call("UpdateAssumeRolePolicy", "terraform-deployer"),
            id
        ));
        // Other roles; the deployer guard is not added by this list.
        assert!(!fires(&s, &iam_call("CreateRole", "app-runtime"), id));
        assert!(s
            .catalog
            .get(crate::detect::catalog::DEPLOYER_GUARD_ID)
            .is_none());
        // A failed call changed nothing.
        let mut failed = iam_call("CreateRole", "stacksets-exec-7f3a");
        failed["errorCode"] = "AccessDenied".into();
        assert!(!fires(&s, &failed, id));
        // User patterns alone add nothing (a new user is unapproved-user's own event).
        let users = CatalogSettings::from_env(&[(
            APPROVED_CREATOR_ARNS,
            "arn:aws:iam::123456789012:user/admins/*",
        )])
        .unwrap();
        assert!(users.catalog.get(id).is_none());
        assert_eq!(
            users.catalog.len(),
            Catalog::builtin(BuiltinOptions::default()).len()
        );
    }

    #[test]
    fn both_guards_together_and_a_malformed_creator_role_names_the_variable() {
        let s = CatalogSettings::from_env(&[
            (
                DEPLOYER_ROLE_ARNS,
                "arn:aws:iam::123456789012:role/terraform",
            ),
            (
                APPROVED_CREATOR_ARNS,
                "arn:aws:iam::123456789012:role/terraform",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.catalog.len(),
            Catalog::builtin(BuiltinOptions::default()).len() + 2
        );
        let e = CatalogSettings::from_env(&[(
            APPROVED_CREATOR_ARNS,
            "arn:aws:iam::12345:role/terraform",
        )])
        .unwrap_err();
        assert_eq!(e.var, APPROVED_CREATOR_ARNS);
        assert!(e.expected.contains("role ARN"), "{e}");
    }

    #[test]
    fn deployment_roles_and_disabled_families_combine() {
        let s = CatalogSettings::from_env(&[
            (
                DEPLOYER_ROLE_ARNS,
                "arn:aws:iam::123456789012:role/terraform",
            ),
            (DISABLED_DETECTION_FAMILIES, "evasion"),
        ])
        .unwrap();
        assert!(s.catalog.get("logs-log-group-deleted").is_none());
    }

    #[test]
    fn a_malformed_or_too_broad_deployment_role_names_the_variable() {
        for bad in [
            "terraform",
            "arn:aws:iam::123456789012:user/terraform",
            "arn:aws:iam::123456789012:role/*",
            "arn:aws:iam::12345:role/terraform",
            "arn:aws:sts::123456789012:assumed-role/terraform/s",
        ] {
            let e = CatalogSettings::from_env(&[(DEPLOYER_ROLE_ARNS, bad)]).unwrap_err();
            assert_eq!(e.var, DEPLOYER_ROLE_ARNS, "{bad}");
            assert!(e.expected.contains("role ARN"), "{bad}: {e}");
        }
    }
}
