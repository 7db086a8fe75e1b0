//! catalog: the whole detection catalog on single CloudTrail events, within seconds of the
//! call.
//!
//! The catalog's patterns are EventBridge event patterns, so EventBridge itself routes the
//! events that can match to this function: `template.yaml` holds rules generated from the
//! built-in catalog (`trailwarden rules`, `scripts/gen-rules.sh`), one per `eventSource` with
//! the union of its detections' `eventName`s, plus one per detection that names no fixed
//! source or event. The rules are a superset; this function evaluates the same catalog as
//! log-delivery (built-ins, `CUSTOM_DETECTIONS_URI`, `DISABLED_DETECTION_FAMILIES`,
//! `EXCLUDE_FEDERATED_SIGNIN`: [`trailwarden::detect::settings`]) on the event's record and
//! alerts with the same wording as the log scan ([`report`]).
//!
//! The four steps: [`decide`] matches the record (events made by trailwarden's own roles,
//! `OWN_ROLE_ARNS`, are ignored) and plans, per matched detection, `count toward threshold`
//! (threshold detections: the event goes into the shared counter of its (detection, group))
//! and `open incident` (a conditional write of the incident's fingerprint: detection,
//! principal, resource, window). [`execute`] carries them out against the state
//! ([`trailwarden_state`]); [`report`] alerts each new incident. A duplicate (the incident
//! already opened by another event, or by the log scan of a file holding this event) and a
//! threshold not crossed alert nothing. Once the alerts are out the event is recorded as
//! handled, so a retry or a re-delivery of it publishes nothing.
//!
//! Configuration (environment, read once at cold start, [`config`]):
//! - `CUSTOM_DETECTIONS_URI`, `DISABLED_DETECTION_FAMILIES`, `EXCLUDE_FEDERATED_SIGNIN`,
//!   `DEPLOYER_ROLE_ARNS`, `APPROVED_CREATOR_ARNS`, `EXEMPT_TAG`: the catalog, as for
//!   log-delivery;
//! - `STATE_TABLE`: the DynamoDB table of the state (unset: memory, for the CLI);
//!   `INCIDENT_WINDOW_SECONDS` (default 3600): one incident per detection, principal and
//!   resource within a window of this length;
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`) from [`trailwarden::config::Common`].
//!
//! Failure of the state table never loses an alert: the look-up, the counter and the claim
//! fail open (the alert goes out, says the state was unavailable, and a warning is logged).
//! Both steps only write trailwarden's own table, so a dry run walks and runs them as a live
//! run does.
#![forbid(unsafe_code)]

pub mod config;
pub mod decide;
pub mod execute;
pub mod report;

pub use config::Config;
pub use decide::{Case, Facts, Matched, Step, NOT_AN_EVENT};
pub use execute::{Count, Opened, Output};
pub use report::CatalogStats;

use trailwarden_state::State;

pub const NAME: &str = "catalog";

/// catalog's per-cold-start state: the state store.
#[derive(Debug, Clone)]
pub struct RealtimeCatalog {
    state: State,
}

impl RealtimeCatalog {
    /// With a given state store (tests).
    pub fn with_state(state: State) -> RealtimeCatalog {
        RealtimeCatalog { state }
    }

    pub fn state(&self) -> &State {
        &self.state
    }
}
