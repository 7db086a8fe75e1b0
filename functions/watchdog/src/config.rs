//! Settings of the watchdog, read once at cold start; a bad value names its variable.

use trailwarden::config::{self, Common, ConfigError, Env};
use trailwarden::respond::Settings;
pub use trailwarden::trail::TrailRef;

/// The trails to check: ARNs or names. Unset: every trail `DescribeTrails` lists.
pub const TRAIL_ARNS: &str = "TRAIL_ARNS";
/// Longest accepted time without a log file delivery.
pub const MAX_SILENCE: &str = "WATCHDOG_MAX_SILENCE_MINUTES";
/// Default for [`MAX_SILENCE`]: CloudTrail delivers about every 5 minutes while there are
/// events, and the watchdog's own `GetTrailStatus` calls are events every 5 minutes.
pub const DEFAULT_MAX_SILENCE_MINUTES: u32 = 30;
/// Bounds of [`MAX_SILENCE`].
pub const MIN_MAX_SILENCE_MINUTES: u32 = 10;
pub const MAX_MAX_SILENCE_MINUTES: u32 = 1440;

/// How often the template's schedule runs the watchdog (`rate(5 minutes)`): a condition is new
/// when it began since the previous check.
pub const CHECK_INTERVAL_MINUTES: i64 = 5;
/// CloudTrail writes a digest per region every hour; none for longer than this is an alert.
pub const MAX_DIGEST_AGE_MINUTES: i64 = 120;
/// A delivery error with no successful delivery for this long is an alert (a shorter wait
/// would catch stale errors: CloudTrail keeps reporting the last one).
pub const DELIVERY_ERROR_GRACE_MINUTES: i64 = 15;

/// The function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub common: Common,
    /// `TRAIL_ARNS` (empty: every trail `DescribeTrails` lists).
    pub trails: Vec<TrailRef>,
    /// `WATCHDOG_MAX_SILENCE_MINUTES`.
    pub max_silence_minutes: u32,
}

impl Settings for Config {
    fn from_env(env: &dyn Env) -> Result<Config, ConfigError> {
        let common = Common::from_env(env)?;
        let trails = TrailRef::list_from_env(env, TRAIL_ARNS)?;
        let max_silence_minutes = config::number(
            env,
            MAX_SILENCE,
            MIN_MAX_SILENCE_MINUTES..=MAX_MAX_SILENCE_MINUTES,
            DEFAULT_MAX_SILENCE_MINUTES,
            &format!(
                "expected whole minutes from {MIN_MAX_SILENCE_MINUTES} to \
                 {MAX_MAX_SILENCE_MINUTES}"
            ),
        )?;
        Ok(Config {
            common,
            trails,
            max_silence_minutes,
        })
    }

    fn common(&self) -> &Common {
        &self.common
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_variable() {
        let c = Config::from_env(&[("ALERT_TOPIC_ARN", "")]).unwrap();
        assert_eq!(c.max_silence_minutes, 30);
        assert!(c.trails.is_empty());
        let c = Config::from_env(&[
            (
                TRAIL_ARNS,
                "arn:aws:cloudtrail:us-east-1:123456789012:trail/main, org-trail",
            ),
            (MAX_SILENCE, "45"),
        ])
        .unwrap();
        assert_eq!(c.trails.len(), 2);
        assert_eq!(c.trails[0].region.as_deref(), Some("us-east-1"));
        assert_eq!(c.trails[1].id(), "org-trail");
        assert_eq!(c.max_silence_minutes, 45);
        for (var, bad, says) in [
            (MAX_SILENCE, "5", "10 to 1440"),
            (MAX_SILENCE, "half an hour", "whole minutes"),
            (TRAIL_ARNS, "arn:aws:s3:::bucket", "trail ARN"),
        ] {
            let e = Config::from_env(&[(var, bad)]).unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
