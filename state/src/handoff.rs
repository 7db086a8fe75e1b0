//! A responder's alert stands for the catalog's. A built-in detection may name the responder
//! that alerts on every event it matches (`responder` in the detection file: root use,
//! IAM user created, world-open ingress). Without a hand-off one event would alert twice:
//! once from the responder, once from the catalog (in real time, or from the log scan
//! minutes later).
//!
//! The rule:
//!
//! 1. In real time the catalog function leaves such events to the responder when told it is
//!    deployed (`RESPONDERS`), so it neither claims nor alerts them.
//! 2. Once the responder's alert is out (published, or logged where no topic is set) at a
//!    severity at least the detection's, the responder records the detection's incident for
//!    the event as alerted ([`Owner::Alerted`]): the log scan finds it taken and leaves the
//!    finding out ([`crate::scan::settle`]).
//! 3. Nothing is recorded when the responder's alert failed, was held back below
//!    `MIN_SEVERITY`, or was milder than the detection (an approved user's creation is an
//!    `info` alert, the catalog's `iam-user-created` is `medium`): the log scan then alerts
//!    as it always did. A state table that cannot be written is logged and changes nothing
//!    but a second alert.
//!
//! Dry runs hand off too, as the catalog's steps run in a dry run.

use crate::keys::Fingerprint;
use crate::store::{Claim, Owner, State};
use crate::StateSettings;
use trailwarden::alert::{Alert, Severity};
use trailwarden::detect::{BuiltinOptions, Catalog, Detection};
use trailwarden::respond::Delivery;
use trailwarden::Payload;

/// One responder's side of the hand-off: the built-in detections that name it, and the state.
#[derive(Debug, Clone)]
pub struct Handoff {
    responder: &'static str,
    state: State,
    window_seconds: u64,
    detections: Vec<Detection>,
}

/// What recording one event's incidents did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handed {
    /// Incidents recorded as alerted by the responder.
    pub recorded: Vec<Fingerprint>,
    /// Incidents another owner had opened already (the log scan got there first).
    pub taken: Vec<Fingerprint>,
    /// Detections matched but not handed off, and why.
    pub kept: Vec<(String, String)>,
}

impl Handoff {
    /// The hand-off of `responder` (a [`trailwarden::detect::RESPONDERS`] name) over `state`.
    pub fn new(responder: &'static str, state: State, settings: &StateSettings) -> Handoff {
        // Ownership does not depend on the federated sign-in choice: no detection of CIS 4.2
        // names a responder.
        let detections = Catalog::builtin(BuiltinOptions::default())
            .detections()
            .iter()
            .filter(|d| d.responder.as_deref() == Some(responder))
            .cloned()
            .collect();
        Handoff {
            responder,
            state,
            window_seconds: settings.incident_window_seconds,
            detections,
        }
    }

    /// The state `settings` names (memory when `STATE_TABLE` is unset).
    pub fn from_settings(
        responder: &'static str,
        sdk: &aws_config::SdkConfig,
        settings: &StateSettings,
    ) -> Handoff {
        Handoff::new(responder, State::from_settings(sdk, settings), settings)
    }

    /// The detections that name this responder.
    pub fn detections(&self) -> &[Detection] {
        &self.detections
    }

    /// Pure: the incidents of this responder's detections that the event matches, with each
    /// detection's severity.
    pub fn incidents(&self, payload: &Payload) -> Vec<(&Detection, Fingerprint)> {
        let (Some(record), Some(json)) = (payload.record(), payload.record_json()) else {
            return Vec::new();
        };
        self.detections
            .iter()
            .filter(|d| d.pattern.matches(&json))
            .map(|d| {
                (
                    d,
                    Fingerprint::of_event(&d.id, record, &json, self.window_seconds),
                )
            })
            .collect()
    }

    /// After the responder published: records the incidents its alert stands for (see the
    /// module's rule). Never fails; what cannot be recorded is logged.
    pub async fn record(
        &self,
        payload: &Payload,
        alerts: &[Alert],
        delivery: &[Delivery],
    ) -> Handed {
        let mut handed = Handed::default();
        let incidents = self.incidents(payload);
        if incidents.is_empty() {
            return handed;
        }
        let failed = Delivery::any_failed(delivery);
        let out: Option<Severity> = alerts
            .iter()
            .zip(delivery)
            .filter(|(_, d)| matches!(d, Delivery::Sent { .. } | Delivery::NoTopic))
            .map(|(a, _)| a.severity)
            .max();
        let event = payload
            .record()
            .and_then(|r| r.event_id.clone())
            .unwrap_or_else(|| "-".into());
        let owner_id = format!("{}:{event}", self.responder);
        let (now, at) = crate::now();
        for (d, fp) in incidents {
            let why = match out {
                _ if failed => Some("the responder's alert was not published".to_string()),
                None => Some("the responder's alert did not go out".to_string()),
                Some(s) if s < d.severity => Some(format!(
                    "the responder's alert ({s}) is milder than the detection ({})",
                    d.severity
                )),
                Some(_) => None,
            };
            if let Some(why) = why {
                handed.kept.push((d.id.clone(), why));
                continue;
            }
            match self
                .state
                .claim(&fp, Owner::Alerted(&owner_id), now, &at)
                .await
            {
                Ok(Claim::New | Claim::Ours) => handed.recorded.push(fp),
                Ok(Claim::Taken { .. }) => handed.taken.push(fp),
                Err(e) => {
                    tracing::warn!(responder = self.responder, error = %e, incident = %fp.describe(),
                        "cannot record the incident as alerted: the log scan may alert it again");
                    handed.kept.push((d.id.clone(), e.to_string()));
                }
            }
        }
        if !handed.recorded.is_empty() {
            tracing::info!(responder = self.responder, incidents = handed.recorded.len(), event = %event,
                "incidents recorded as alerted by the responder");
        }
        handed
    }
}

/// `Responder::after_publish` for a responder that hands off: written inside its
/// `impl Responder`, on a type whose `handoff` field is an `Option<Handoff>`. Once the alert
/// is out it records the incidents of the catalog detections that name the responder as
/// alerted ([`Handoff::record`]), so the log scan does not alert the same event again.
#[macro_export]
macro_rules! handoff_after_publish {
    () => {
        async fn after_publish(
            &self,
            _config: &Self::Config,
            payload: &::trailwarden::Payload,
            _case: &Self::Case,
            _output: &Self::Output,
            alerts: &[::trailwarden::alert::Alert],
            delivery: &[::trailwarden::respond::Delivery],
        ) {
            if let Some(h) = &self.handoff {
                h.record(payload, alerts, delivery).await;
            }
        }
    };
}
