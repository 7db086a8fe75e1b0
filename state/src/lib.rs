//! trailwarden's memory across deliveries: one small DynamoDB table (on demand, TTL, SSE)
//! shared by the real-time path (the `catalog` function, one event at a time) and the log
//! scan (`log-delivery`, one log file at a time), so the two agree:
//!
//! - **idempotency**: an event handled in real time, or a version of a log file scanned, is
//!   recorded once its alerts are out ([`keys::event_key`], [`keys::object_key`]); a retried
//!   invocation or a re-delivery finds the record and publishes nothing again;
//! - **sliding-window counters** for threshold detections, keyed by (detection, group), one
//!   entry per event ([`keys::window_key`]): a burst counts across log files, regions and both
//!   paths, and the same event seen twice counts once ([`window::crossing`]);
//! - **incidents**: one per fingerprint (detection, principal, resource, window;
//!   [`keys::Fingerprint`]), claimed with a conditional write by the first owner that sees
//!   it (an event id, or a log file's version). A later owner finds it taken and does not
//!   alert. This is how the log scan skips what the real-time path already alerted: see
//!   [`scan::settle`] for the rule.
//!
//! `STATE_TABLE` names the table; unset (the CLI, local runs), the state lives in the
//! process's memory. A failing table never loses an alert: reads and claims that fail are
//! answered "not seen" (the alert goes out, with a warning in the log and in the alert),
//! counters fall back to the instance's memory ([`store::Counted::degraded`]).
//!
//! - **hand-off**: a responder whose alert covers a catalog detection records that detection's
//!   incident as alerted, so the log scan does not alert the same event again
//!   ([`handoff`]).
//!
//! Modules: [`keys`] (item names, fingerprints; pure), [`window`] (threshold crossing;
//! pure), [`store`] (DynamoDB and memory), [`scan`] (the log scan's use of it), [`handoff`]
//! (the responders' use of it).
#![forbid(unsafe_code)]

pub mod handoff;
pub mod keys;
pub mod scan;
pub mod store;
pub mod window;

pub use handoff::{Handed, Handoff};
pub use keys::Fingerprint;
pub use store::{Claim, Counted, Owner, State, StateError};
pub use window::Crossing;

use trailwarden::config::{self, ConfigError, Env};

/// Environment variable: the DynamoDB table holding the state (unset: memory).
pub const STATE_TABLE: &str = "STATE_TABLE";
/// Environment variable: length of the window of one incident of a detection without
/// threshold, in seconds.
pub const INCIDENT_WINDOW_SECONDS: &str = "INCIDENT_WINDOW_SECONDS";
/// Default incident window: one hour.
pub const DEFAULT_INCIDENT_WINDOW_SECONDS: u64 = 3600;
/// Environment variable: how long an event's claim of an incident holds before its alert is
/// out; an older unpublished claim is taken over (the retry of a failed invocation alerts).
pub const CLAIM_LEASE_SECONDS: &str = "CLAIM_LEASE_SECONDS";
/// Default claim lease: shorter than Lambda's first retry of a failed asynchronous
/// invocation (a minute or more), far longer than an invocation publishing its alerts.
pub const DEFAULT_CLAIM_LEASE_SECONDS: u64 = 45;

/// The state settings, read at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// `STATE_TABLE`.
    pub table: Option<String>,
    /// `INCIDENT_WINDOW_SECONDS`: the same detection, principal and resource within one
    /// window of this length is one incident, alerted once. Threshold detections use their
    /// own window.
    pub incident_window_seconds: u64,
    /// `CLAIM_LEASE_SECONDS`.
    pub claim_lease_seconds: u64,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            table: None,
            incident_window_seconds: DEFAULT_INCIDENT_WINDOW_SECONDS,
            claim_lease_seconds: DEFAULT_CLAIM_LEASE_SECONDS,
        }
    }
}

impl StateSettings {
    pub fn from_env(env: &dyn Env) -> Result<StateSettings, ConfigError> {
        let table = config::checked(
            env,
            STATE_TABLE,
            |t| {
                (3..=255).contains(&t.len())
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            },
            "a DynamoDB table name: 3-255 letters, digits, '_', '-' and '.'",
        )?;
        let incident_window_seconds = config::number(
            env,
            INCIDENT_WINDOW_SECONDS,
            60..=86_400,
            DEFAULT_INCIDENT_WINDOW_SECONDS,
            "a number of seconds from 60 to 86400",
        )?;
        let claim_lease_seconds = config::number(
            env,
            CLAIM_LEASE_SECONDS,
            1..=900,
            DEFAULT_CLAIM_LEASE_SECONDS,
            "a number of seconds from 1 to 900",
        )?;
        Ok(StateSettings {
            table,
            incident_window_seconds,
            claim_lease_seconds,
        })
    }
}

/// Now, as epoch seconds and as RFC 3339 text.
pub fn now() -> (i64, String) {
    let t = chrono::Utc::now();
    (
        t.timestamp(),
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_memory_and_an_hour_and_bad_values_name_the_variable() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            StateSettings::from_env(&none).unwrap(),
            StateSettings::default()
        );
        let s = StateSettings::from_env(&[
            (STATE_TABLE, "trailwarden-State-1A2B"),
            (INCIDENT_WINDOW_SECONDS, "900"),
        ])
        .unwrap();
        assert_eq!(s.table.as_deref(), Some("trailwarden-State-1A2B"));
        assert_eq!(s.incident_window_seconds, 900);
        let e = StateSettings::from_env(&[(INCIDENT_WINDOW_SECONDS, "5")]).unwrap_err();
        assert_eq!(e.var, INCIDENT_WINDOW_SECONDS);
        let e = StateSettings::from_env(&[(STATE_TABLE, "no spaces")]).unwrap_err();
        assert_eq!(e.var, STATE_TABLE);
    }
}
