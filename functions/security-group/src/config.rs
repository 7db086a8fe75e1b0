//! Settings of the security-group function, read once at cold start.

use trailwarden::aws::MemberAccess;
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::estate::{self, AccountSettings, Modes};
use trailwarden::respond::Settings;
use trailwarden_state::StateSettings;

pub use trailwarden::net::PortSet;

/// Tag key that exempts a security group by default.
pub const DEFAULT_EXEMPT_TAG: &str = trailwarden::detect::catalog::DEFAULT_EXEMPT_TAG;
/// Public ports allowed to the whole internet by default.
pub const DEFAULT_ALLOWED_PUBLIC_PORTS: &str = "80,443";
/// Remote-administration and database ports: world-open ingress on these is critical.
pub const DEFAULT_CRITICAL_PORTS: &str = "22,3389,3306,5432,1433,6379,9200,27017";
/// `WORLD_OPEN_MIN_PREFIX_IPV4` by default: sources adding up to more than a /8 are the world.
pub const DEFAULT_WORLD_OPEN_MIN_PREFIX_IPV4: u8 = 8;
/// `WORLD_OPEN_MIN_PREFIX_IPV6` by default: sources adding up to more than a /16 are the world.
pub const DEFAULT_WORLD_OPEN_MIN_PREFIX_IPV6: u8 = 16;

/// What to do about world-open ingress on a port that is not allowed: the modes and their
/// words are the account settings' (`security_group_mode`), so `RESPONSE_MODE` and the
/// document accept the same words.
pub use trailwarden::estate::GroupMode as ResponseMode;

/// Configuration of the security-group function.
///
/// | Variable | Meaning | Default |
/// |---|---|---|
/// | `RESPONSE_MODE` | `revoke`: revoke world-open ingress on ports that are not allowed, then alert; `notify`: alert only | `revoke` |
/// | `ALLOWED_PUBLIC_PORTS` | ports (and ranges, `8000-8080`) that may be open to the whole internet; `none` for no port | `80,443` |
/// | `CRITICAL_PORTS` | ports whose world-open exposure is critical (remote administration, databases); `none` for no port | `22,3389,3306,5432,1433,6379,9200,27017` |
/// | `EXEMPT_GROUP_IDS` | security group ids (`sg-…`) whose world-open rules are reported but never revoked | empty |
/// | `EXEMPT_TAG` | tag key; a group carrying it with any value other than `false` is reported but never revoked; empty: no tag exempts (anyone allowed `ec2:CreateTags` can set a tag) | `trailwarden:exempt` |
/// | `WORLD_OPEN_MIN_PREFIX_IPV4` | a port is world-open when the public IPv4 addresses its rules let in add up to at least a prefix one bit shorter than this (default: more than a /8, i.e. 2^25 addresses); 1-32 | `8` |
/// | `WORLD_OPEN_MIN_PREFIX_IPV6` | the same for IPv6 global unicast addresses (default: at least a /15, i.e. 2^113 addresses); 1-128 | `16` |
/// | `ACCOUNT_SETTINGS_URI` | a local path or `s3://BUCKET/KEY` of the settings per account or organizational unit (`security_group_mode`, `allowed_public_ports`, `exempt_security_group_ids`, `exempt`; see [`trailwarden::estate`]); read and validated at cold start, a bad document stops it | none |
/// | `HOME_ACCOUNT_ID`, `MEMBER_ROLE_NAME`, `MEMBER_ROLE_EXTERNAL_ID` | acting in the event's own account through its responder role (see [`trailwarden::aws::accounts`]) | none: every account acted in with the function's own credentials |
///
/// plus the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
/// `OWN_ROLE_ARNS`). Ports apply to TCP and UDP alike. ICMP and ICMPv6 rules carry no ports
/// (their "ports" are ICMP type and code): world-open ICMP is reported at low severity and never
/// revoked, because ping and Path MTU Discovery commonly need it. Protocol `-1` (all traffic) is
/// every port of every protocol and always critical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub common: Common,
    pub response_mode: ResponseMode,
    pub allowed_public_ports: PortSet,
    pub critical_ports: PortSet,
    pub exempt_group_ids: Vec<String>,
    pub exempt_tag: String,
    /// `WORLD_OPEN_MIN_PREFIX_IPV4`.
    pub world_open_min_prefix_v4: u8,
    /// `WORLD_OPEN_MIN_PREFIX_IPV6`.
    pub world_open_min_prefix_v6: u8,
    /// `HOME_ACCOUNT_ID`, `MEMBER_ROLE_NAME`, `MEMBER_ROLE_EXTERNAL_ID`: how to act in a
    /// member account.
    pub member_access: MemberAccess,
    /// `ACCOUNT_SETTINGS_URI`: settings per account or organizational unit.
    pub account_settings: AccountSettings,
    /// `STATE_TABLE`, `INCIDENT_WINDOW_SECONDS`: where the incidents this function's alerts
    /// stand for are recorded (`trailwarden_state::handoff`).
    pub state: StateSettings,
}

fn prefix(env: &dyn Env, var: &str, default: u8, max: u8) -> Result<u8, ConfigError> {
    let Some(raw) = config::get(env, var) else {
        return Ok(default);
    };
    raw.trim_start_matches('/')
        .parse::<u8>()
        .ok()
        .filter(|p| (1..=max).contains(p))
        .ok_or_else(|| {
            ConfigError::new(
                var,
                &raw,
                format!(
                    "expected a prefix length from 1 to {max} (such as {default} or /{default})"
                ),
            )
        })
}

fn ports(env: &dyn Env, var: &str, default: &str) -> Result<PortSet, ConfigError> {
    let raw = config::get(env, var);
    PortSet::parse(raw.as_deref().unwrap_or(default)).map_err(|item| {
        ConfigError::new(
            var,
            &item,
            "expected comma-separated ports or ranges (0-65535) such as 80,443,8000-8080, or none",
        )
    })
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let response_mode = config::choice(
            env,
            "RESPONSE_MODE",
            ResponseMode::CHOICES,
            ResponseMode::default(),
        )?;
        let allowed_public_ports =
            ports(env, "ALLOWED_PUBLIC_PORTS", DEFAULT_ALLOWED_PUBLIC_PORTS)?;
        let critical_ports = ports(env, "CRITICAL_PORTS", DEFAULT_CRITICAL_PORTS)?;
        let exempt_group_ids = config::list(env, "EXEMPT_GROUP_IDS");
        if let Some(bad) = exempt_group_ids
            .iter()
            .find(|g| !estate::is_security_group_id(g))
        {
            return Err(ConfigError::new(
                "EXEMPT_GROUP_IDS",
                bad,
                "expected a comma-separated list of security group ids (sg-0123456789abcdef0)",
            ));
        }
        // Set but empty: no tag exempts (a tag key is never empty).
        let exempt_tag = env
            .var("EXEMPT_TAG")
            .map_or_else(|| DEFAULT_EXEMPT_TAG.to_string(), |v| v.trim().to_string());
        if exempt_tag.chars().count() > 128 || exempt_tag.chars().any(char::is_control) {
            return Err(ConfigError::new(
                "EXEMPT_TAG",
                &exempt_tag,
                "expected a tag key of at most 128 printable characters",
            ));
        }
        Ok(Config {
            common,
            response_mode,
            allowed_public_ports,
            critical_ports,
            exempt_group_ids,
            exempt_tag,
            world_open_min_prefix_v4: prefix(
                env,
                "WORLD_OPEN_MIN_PREFIX_IPV4",
                DEFAULT_WORLD_OPEN_MIN_PREFIX_IPV4,
                32,
            )?,
            world_open_min_prefix_v6: prefix(
                env,
                "WORLD_OPEN_MIN_PREFIX_IPV6",
                DEFAULT_WORLD_OPEN_MIN_PREFIX_IPV6,
                128,
            )?,
            member_access: MemberAccess::from_env(env)?,
            account_settings: AccountSettings::from_env(env, estate::check_arn)?,
            state: StateSettings::from_env(env)?,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

impl Config {
    /// True when the group id is listed in `EXEMPT_GROUP_IDS`.
    pub fn exempt_by_id(&self, group_id: &str) -> bool {
        self.exempt_group_ids.iter().any(|g| g == group_id)
    }

    /// True when a tag value exempts the group: any value other than `false`.
    pub fn tag_value_exempts(value: &str) -> bool {
        !value.trim().eq_ignore_ascii_case("false")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_env(&[("DRY_RUN", "false")]).unwrap();
        assert_eq!(c.response_mode, ResponseMode::Revoke);
        assert_eq!(c.allowed_public_ports.to_string(), "80,443");
        for p in [22, 3389, 3306, 5432, 1433, 6379, 9200, 27017] {
            assert!(c.critical_ports.contains(p), "{p}");
        }
        assert!(!c.critical_ports.contains(443));
        assert_eq!(c.exempt_tag, "trailwarden:exempt");
        let none = Config::from_env(&[("EXEMPT_TAG", " ")]).unwrap();
        assert_eq!(none.exempt_tag, "", "set but empty: no tag exempts");
        assert!(c.exempt_group_ids.is_empty());
        assert_eq!(
            (c.world_open_min_prefix_v4, c.world_open_min_prefix_v6),
            (8, 16)
        );
        let c = Config::from_env(&[
            ("WORLD_OPEN_MIN_PREFIX_IPV4", "/12"),
            ("WORLD_OPEN_MIN_PREFIX_IPV6", "32"),
        ])
        .unwrap();
        assert_eq!(
            (c.world_open_min_prefix_v4, c.world_open_min_prefix_v6),
            (12, 32)
        );
    }

    #[test]
    fn ports_and_ranges_parse_and_merge() {
        let s = PortSet::parse(" 443, 80 ,8000-8080, 8081-8090,").unwrap();
        assert_eq!(s.to_string(), "80,443,8000-8090");
        assert!(s.covers(8000, 8090));
        assert!(s.covers(443, 443));
        assert!(!s.covers(443, 444));
        assert!(!s.covers(79, 80));
        assert_eq!(s.ports_within(0, 500, 10), vec![80, 443]);
        assert_eq!(s.ports_within(8085, 9000, 3), vec![8085, 8086, 8087]);
        assert!(PortSet::parse("none").unwrap().is_empty());
        assert!(!PortSet::parse("none").unwrap().covers(80, 80));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = Config::from_env(&[("RESPONSE_MODE", "delete")]).unwrap_err();
        assert_eq!(e.var, "RESPONSE_MODE");
        assert!(e.to_string().contains("revoke, notify"), "{e}");
        let e = Config::from_env(&[("ALLOWED_PUBLIC_PORTS", "80,https")]).unwrap_err();
        assert_eq!(
            (e.var.as_str(), e.value.as_str()),
            ("ALLOWED_PUBLIC_PORTS", "https")
        );
        let e = Config::from_env(&[("CRITICAL_PORTS", "22,70000")]).unwrap_err();
        assert_eq!(
            (e.var.as_str(), e.value.as_str()),
            ("CRITICAL_PORTS", "70000")
        );
        let e = Config::from_env(&[("ALLOWED_PUBLIC_PORTS", "9000-8000")]).unwrap_err();
        assert_eq!(e.value, "9000-8000");
        let e = Config::from_env(&[("EXEMPT_GROUP_IDS", "sg-0abc, web")]).unwrap_err();
        assert_eq!(
            (e.var.as_str(), e.value.as_str()),
            ("EXEMPT_GROUP_IDS", "web")
        );
        let e = Config::from_env(&[("MIN_SEVERITY", "loud")]).unwrap_err();
        assert_eq!(e.var, "MIN_SEVERITY");
        for (var, bad) in [
            ("WORLD_OPEN_MIN_PREFIX_IPV4", "0"),
            ("WORLD_OPEN_MIN_PREFIX_IPV4", "33"),
            ("WORLD_OPEN_MIN_PREFIX_IPV4", "eight"),
            ("WORLD_OPEN_MIN_PREFIX_IPV6", "129"),
        ] {
            let e = Config::from_env(&[(var, bad)]).unwrap_err();
            assert_eq!((e.var.as_str(), e.value.as_str()), (var, bad));
        }
    }

    #[test]
    fn overrides() {
        let c = Config::from_env(&[
            ("RESPONSE_MODE", "Notify"),
            ("ALLOWED_PUBLIC_PORTS", "none"),
            ("CRITICAL_PORTS", "2049"),
            ("EXEMPT_GROUP_IDS", "sg-0123456789abcdef0, sg-11111111"),
            ("EXEMPT_TAG", "SecurityException"),
        ])
        .unwrap();
        assert_eq!(c.response_mode, ResponseMode::Notify);
        assert!(c.allowed_public_ports.is_empty());
        assert!(c.critical_ports.contains(2049) && !c.critical_ports.contains(22));
        assert!(c.exempt_by_id("sg-11111111"));
        assert!(!c.exempt_by_id("sg-22222222"));
        assert_eq!(c.exempt_tag, "SecurityException");
    }

    #[test]
    fn tag_values_other_than_false_exempt() {
        for v in ["true", "", "yes", "until 2025-01-01"] {
            assert!(Config::tag_value_exempts(v), "{v:?}");
        }
        for v in ["false", "FALSE", " False "] {
            assert!(!Config::tag_value_exempts(v), "{v:?}");
        }
    }
}
