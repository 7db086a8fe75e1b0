//! Settings of root-activity, read once at cold start.

use ipnet::IpNet;
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::respond::Settings;
use trailwarden_state::StateSettings;

/// Environment variable naming the known source networks.
pub const KNOWN_SOURCE_CIDRS: &str = "KNOWN_SOURCE_CIDRS";

/// The function's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub common: Common,
    /// `KNOWN_SOURCE_CIDRS`: networks whose root use is expected (severity one step lower).
    pub known_source_cidrs: Vec<IpNet>,
    /// `STATE_TABLE`, `INCIDENT_WINDOW_SECONDS`: where the incidents this function's alerts
    /// stand for are recorded (`trailwarden_state::handoff`).
    pub state: StateSettings,
}

impl Settings for Config {
    /// Reads the common settings, `KNOWN_SOURCE_CIDRS` and the state's; a bad item names the variable and
    /// the item.
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let known_source_cidrs = config::list(env, KNOWN_SOURCE_CIDRS)
            .into_iter()
            .map(|item| {
                trailwarden::net::parse_network(&item).ok_or_else(|| {
                    ConfigError::new(
                        KNOWN_SOURCE_CIDRS,
                        &item,
                        "expected a comma-separated list of IPv4/IPv6 CIDR blocks or addresses \
                         (e.g. 203.0.113.0/24, 2001:db8::/32, 198.51.100.7)",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            common,
            known_source_cidrs,
            state: StateSettings::from_env(env)?,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}
