//! Settings of insights, read once at cold start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::detect::{settings, Catalog};
use trailwarden::respond::Settings;

/// Environment variable: how many events of the Insight's API `LookupEvents` may return for
/// the catalog look-up of one Start event (0 turns the look-up off).
pub const INSIGHT_LOOKUP_MAX_EVENTS: &str = "INSIGHT_LOOKUP_MAX_EVENTS";
/// Environment variable: built-in detection families left out of the look-up (the same
/// variable, and the same meaning, as log-delivery's).
pub const DISABLED_DETECTION_FAMILIES: &str = "DISABLED_DETECTION_FAMILIES";
/// Environment variable: CIS 4.2 leaves out federated sign-ins (as in log-delivery). The
/// look-up also reads `DEPLOYER_ROLE_ARNS`, `APPROVED_CREATOR_ARNS` and `EXEMPT_TAG`
/// ([`settings::Deployment`]) as log-delivery does.
pub const EXCLUDE_FEDERATED_SIGNIN: &str = "EXCLUDE_FEDERATED_SIGNIN";

/// Default of `INSIGHT_LOOKUP_MAX_EVENTS`: ten pages of `LookupEvents`.
pub const DEFAULT_LOOKUP_MAX_EVENTS: u32 = 500;
/// Largest accepted `INSIGHT_LOOKUP_MAX_EVENTS`: `LookupEvents` answers 50 events a page at
/// 2 requests per second, so 5,000 events take about 50 seconds.
pub const MAX_LOOKUP_MAX_EVENTS: u32 = 5_000;

/// The function's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    /// `INSIGHT_LOOKUP_MAX_EVENTS`: 0 means no look-up.
    pub lookup_max_events: u32,
    /// `DISABLED_DETECTION_FAMILIES`.
    pub disabled_families: Vec<String>,
    /// The catalog the look-up runs: the built-in catalog less the disabled families.
    pub catalog: Arc<Catalog>,
    /// `HOME_ACCOUNT_ID`: the account the function runs in, whose event history it can look
    /// up. An insight of another account (a member account's, forwarded) is not looked up
    /// here: this account's history would answer with this account's callers. Unset: every
    /// insight is looked up.
    pub home_account: Option<String>,
}

impl Config {
    /// Why an insight of `account` is not looked up in this account's event history (see
    /// [`Config::home_account`]); `None` when it is.
    pub fn not_here(&self, account: Option<&str>) -> Option<String> {
        let home = self.home_account.as_deref()?;
        let account = account.filter(|a| *a != home)?;
        Some(format!(
            "not made: the insight is of account {account}, and CloudTrail's event history \
             answers for this account ({home}) only; look its calls up in account {account} \
             (or in the organization trail's log files)"
        ))
    }
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let lookup_max_events = config::number(
            env,
            INSIGHT_LOOKUP_MAX_EVENTS,
            0..=MAX_LOOKUP_MAX_EVENTS,
            DEFAULT_LOOKUP_MAX_EVENTS,
            &format!("a number of events from 0 (no look-up) to {MAX_LOOKUP_MAX_EVENTS}"),
        )?;
        let exclude_federated_signin = config::bool_var(env, EXCLUDE_FEDERATED_SIGNIN, true)?;
        let disabled_families = config::list(env, DISABLED_DETECTION_FAMILIES);
        let deployment = settings::Deployment::from_env(env);
        let catalog = builtin_catalog(exclude_federated_signin, &disabled_families, &deployment)?;
        // Only the home account of the member settings: insights assumes no member role.
        let home_account = config::checked(
            env,
            trailwarden::aws::accounts::HOME_ACCOUNT_ID,
            trailwarden::estate::is_account_id,
            "expected a 12-digit AWS account id",
        )?;
        Ok(Config {
            common,
            lookup_max_events,
            disabled_families,
            catalog,
            home_account,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

/// The built-in catalog for these options, compiled once per process: it is the same data
/// every time, and compiling it takes far longer than reading the other settings (the CLI
/// and the tests read configurations many times).
fn builtin_catalog(
    exclude_federated_signin: bool,
    disabled_families: &[String],
    deployment: &settings::Deployment,
) -> Result<Arc<Catalog>, ConfigError> {
    type Key = (bool, Vec<String>, settings::Deployment);
    static BUILT: OnceLock<Mutex<HashMap<Key, Arc<Catalog>>>> = OnceLock::new();
    let key = (
        exclude_federated_signin,
        disabled_families.to_vec(),
        deployment.clone(),
    );
    let built = BUILT.get_or_init(Mutex::default);
    if let Some(c) = built.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(c.clone());
    }
    let catalog = Arc::new(settings::builtin_catalog(
        exclude_federated_signin,
        disabled_families,
        deployment,
    )?);
    built
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, catalog.clone());
    Ok(catalog)
}
