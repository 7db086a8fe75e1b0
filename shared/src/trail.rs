//! Trails named in settings (`TRAIL_ARNS`): an ARN or a bare name, and whether a request
//! parameter names the same trail.

use crate::config::{self, ConfigError, Env};

/// A trail named in a setting (`TRAIL_ARNS`): an ARN, or a bare name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailRef {
    /// The ARN, when given (`arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`).
    pub arn: Option<String>,
    pub name: String,
    /// The home region, from the ARN.
    pub region: Option<String>,
}

impl TrailRef {
    /// Parses an ARN or a bare name.
    pub fn parse(s: &str) -> Result<TrailRef, String> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let ok = parts.len() == 5 && parts[1] == "cloudtrail";
            let name = parts
                .get(4)
                .and_then(|r| r.strip_prefix("trail/"))
                .filter(|n| !n.is_empty());
            return match (ok, name) {
                (true, Some(name)) => Ok(TrailRef {
                    arn: Some(s.to_string()),
                    name: name.to_string(),
                    region: Some(parts[2].to_string()).filter(|r| !r.is_empty()),
                }),
                _ => Err(
                    "expected a trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME) or name"
                        .into(),
                ),
            };
        }
        let valid = (3..=128).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err("a trail name is 3 to 128 letters, digits, '.', '_' or '-'".into());
        }
        Ok(TrailRef {
            arn: None,
            name: s.to_string(),
            region: None,
        })
    }

    /// What CloudTrail calls are given: the ARN when known.
    pub fn id(&self) -> &str {
        self.arn.as_deref().unwrap_or(&self.name)
    }

    /// True when `named` (a `name` or `trailName` request parameter) is this trail, the call
    /// being made in `region`. A bare name names the trail of the region it is called in.
    pub fn is(&self, named: &str, region: Option<&str>) -> bool {
        if self.arn.as_deref() == Some(named) {
            return true;
        }
        if let Some(rest) = named.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let name = parts.get(4).and_then(|r| r.strip_prefix("trail/"));
            let arn_region = parts.get(2).copied();
            return name == Some(self.name.as_str())
                && (self.region.is_none() || arn_region == self.region.as_deref());
        }
        named == self.name
            && match (&self.region, region) {
                (Some(home), Some(called)) => home == called,
                _ => true,
            }
    }
}

impl TrailRef {
    /// Every trail the comma-separated variable `var` names (empty when unset).
    pub fn list_from_env(env: &dyn Env, var: &str) -> Result<Vec<TrailRef>, ConfigError> {
        config::list(env, var)
            .iter()
            .map(|t| TrailRef::parse(t).map_err(|e| ConfigError::new(var, t, e)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trails_by_arn_or_name() {
        let t =
            TrailRef::parse("arn:aws:cloudtrail:us-east-1:123456789012:trail/tw-trail").unwrap();
        assert_eq!(t.name, "tw-trail");
        assert_eq!(t.region.as_deref(), Some("us-east-1"));
        assert!(t.is("tw-trail", Some("us-east-1")));
        assert!(
            !t.is("tw-trail", Some("eu-west-1")),
            "another region's trail"
        );
        assert!(t.is(
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/tw-trail",
            Some("eu-west-1")
        ));
        assert!(!t.is(
            "arn:aws:cloudtrail:eu-west-1:123456789012:trail/tw-trail",
            None
        ));
        assert!(TrailRef::parse("arn:aws:sns:us-east-1:1:x").is_err());
        assert!(TrailRef::parse("a b").is_err());
        let n = TrailRef::parse("tw-trail").unwrap();
        assert!(n.is("tw-trail", Some("ap-south-1")));
    }

    #[test]
    fn a_list_names_the_variable_and_the_bad_entry() {
        let env: std::collections::HashMap<String, String> =
            [("TRAIL_ARNS".to_string(), "tw-trail, a b".to_string())].into();
        let e = TrailRef::list_from_env(&env, "TRAIL_ARNS").unwrap_err();
        assert_eq!(e.var, "TRAIL_ARNS");
        assert!(e.to_string().contains("a b"), "{e}");
    }
}
