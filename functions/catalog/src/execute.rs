//! The SDK side: the state built at cold start (and an `s3://` detection file read), the
//! look-up before deciding (was this event handled already?), the two steps (count, claim)
//! and the record that the event was handled, written once its alerts are out.
//!
//! Fail open everywhere: a state table that cannot be read or written never stops an alert.

use crate::decide::{Case, Facts, Step};
use crate::{Config, RealtimeCatalog, NAME};
use serde::Serialize;
use std::collections::BTreeMap;
use trailwarden::alert::{part, Alert, Status};
use trailwarden::respond::{Delivery, InitError, Job, Responder, StepError, StepResult};
use trailwarden::Payload;
use trailwarden_state::keys::{self, Fingerprint};
use trailwarden_state::{window, Claim, Crossing, Owner, State};

/// What the steps learnt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Per threshold detection: the group's counter after this event.
    pub counts: BTreeMap<String, Count>,
    /// Per detection: what opening its incident found.
    pub claims: BTreeMap<String, Opened>,
    /// This invocation's token: its claims are published by it ([`Owner::Event`]).
    pub token: String,
}

/// A token no other invocation has: the time, the process and a counter.
fn new_token(event_id: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    keys::short_hash(&format!(
        "{event_id}\n{nanos}\n{}\n{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A threshold group's counter after this event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Count {
    /// Matches the counter holds around this event (epoch, event id), in time order.
    pub entries: Vec<(i64, String)>,
    /// Most matches within one window.
    pub peak: usize,
    pub crossing: Option<Crossing>,
    /// The table could not be used: counted in this instance's memory.
    pub degraded: Option<String>,
}

/// What opening a detection's incident found.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// A new incident (or this event's own, on a retry): alert.
    New {
        fingerprint: Fingerprint,
        retry: bool,
    },
    /// Another event or log file opened it: already alerted (or being alerted now by another
    /// invocation, when `published` is false).
    Duplicate {
        fingerprint: Fingerprint,
        owner: String,
        at: Option<String>,
        published: bool,
    },
    /// A threshold detection whose group has not crossed.
    Below { peak: usize },
    /// The state table could not be used: alert anyway.
    Unavailable {
        fingerprint: Fingerprint,
        error: String,
    },
}

impl Responder for RealtimeCatalog {
    const NAME: &'static str = NAME;

    /// Builds the state: the catalog with an `s3://` `CUSTOM_DETECTIONS_URI` merged in (a file
    /// that cannot be read or holds a malformed detection stops the cold start), and the state
    /// store `STATE_TABLE` names.
    async fn init(sdk: &aws_config::SdkConfig, config: &mut Config) -> Result<Self, InitError> {
        let s3 = trailwarden::aws::s3_client(sdk);
        config.detections.load_s3(&s3).await?;
        let state = State::from_settings(sdk, &config.state);
        tracing::info!(
            function = NAME,
            detections = config.detections.catalog.len(),
            state = %state.describe(),
            "catalog ready"
        );
        Ok(RealtimeCatalog { state })
    }

    /// Before deciding: was this event handled already? A state that cannot be read is noted,
    /// never fatal (the look-up never fails).
    async fn gather(&self, _config: &Config, payload: &Payload) -> Result<Facts, StepError> {
        let Some(json) = payload.record_json() else {
            return Ok(Facts::default());
        };
        let id = crate::decide::event_id(payload, &json);
        Ok(match self.state.handled(&keys::event_key(&id)).await {
            Ok(handled) => Facts {
                handled,
                state_error: None,
            },
            Err(e) => {
                tracing::warn!(function = NAME, error = %e, event = %id, "state unavailable: deciding without it (fail open)");
                Facts {
                    handled: None,
                    state_error: Some(e.to_string()),
                }
            }
        })
    }

    /// Carries out one step.
    async fn execute_step(&self, step: &Step, job: Job<'_, Self>) -> StepResult {
        let (config, case, output) = (job.config, job.case, job.output);
        let (now, at) = trailwarden_state::now();
        match step {
            Step::Count { detection, group } => {
                let Some(t) = threshold_of(config, detection) else {
                    return StepResult::status(Status::Skipped, "the detection has no threshold");
                };
                let epoch = case.epoch.unwrap_or(now);
                let w = t.window_seconds as i64;
                let counted = self
                    .state
                    .count(
                        &keys::window_key(detection, group),
                        &[(epoch, case.event_id.clone())],
                        epoch - w,
                        epoch + w,
                        epoch + w + keys::LINGER_SECONDS,
                    )
                    .await;
                let times = counted.times();
                let peak = window::peak(&times, t.window_seconds);
                let crossing = window::crossing(&times, t.count, t.window_seconds);
                let mut detail = format!(
                    "{peak} of {} within {} s{}",
                    t.count,
                    t.window_seconds,
                    if crossing.is_some() { ": crossed" } else { "" }
                );
                if let Some(d) = &counted.degraded {
                    detail.push_str(&format!(
                        " (state table unavailable, counted in this instance only: {d})"
                    ));
                }
                let mut entries = counted.entries;
                entries.sort();
                output.counts.insert(
                    detection.clone(),
                    Count {
                        entries,
                        peak,
                        crossing,
                        degraded: counted.degraded,
                    },
                );
                StepResult::status(Status::Done, detail)
            }
            Step::Claim {
                detection,
                fingerprint,
                group,
            } => {
                let fp = match fingerprint {
                    Some(fp) => fp.clone(),
                    None => {
                        let Some(t) = threshold_of(config, detection) else {
                            return StepResult::status(Status::Skipped, "no threshold");
                        };
                        let count = output.counts.get(detection);
                        let Some(c) = count.and_then(|c| c.crossing) else {
                            let peak = count.map_or(0, |c| c.peak);
                            output
                                .claims
                                .insert(detection.clone(), Opened::Below { peak });
                            return StepResult::status(
                                Status::Skipped,
                                format!(
                                    "below the threshold: {peak} of {} within {} s",
                                    t.count, t.window_seconds
                                ),
                            );
                        };
                        Fingerprint::threshold(
                            detection,
                            group.as_deref().unwrap_or("-"),
                            c.at,
                            t.window_seconds,
                        )
                    }
                };
                if output.token.is_empty() {
                    output.token = new_token(&case.event_id);
                }
                let owner = Owner::Event {
                    id: &case.event_id,
                    token: &output.token,
                };
                let (opened, result) = match self.state.claim(&fp, owner, now, &at).await {
                    Ok(Claim::New) => (
                        Opened::New {
                            fingerprint: fp,
                            retry: false,
                        },
                        StepResult::status(Status::Done, "new incident"),
                    ),
                    Ok(Claim::Ours) => (
                        Opened::New {
                            fingerprint: fp,
                            retry: true,
                        },
                        StepResult::status(
                            Status::Done,
                            "opened before but never published (a retry): alerting again",
                        ),
                    ),
                    Ok(Claim::Taken {
                        owner,
                        at,
                        published,
                    }) => {
                        let detail = format!(
                            "{}: opened by {owner}{}",
                            if published {
                                "already alerted"
                            } else {
                                "being alerted by another invocation"
                            },
                            part(" at ", at.as_deref(), "")
                        );
                        (
                            Opened::Duplicate {
                                fingerprint: fp,
                                owner,
                                at,
                                published,
                            },
                            StepResult::status(Status::AlreadyDone, detail),
                        )
                    }
                    Err(e) => {
                        tracing::warn!(function = NAME, error = %e, incident = %fp.describe(), "cannot open the incident: alerting anyway (fail open)");
                        let detail = format!("state table unavailable, alerting anyway: {e}");
                        (
                            Opened::Unavailable {
                                fingerprint: fp,
                                error: e.to_string(),
                            },
                            StepResult::status(Status::Done, detail),
                        )
                    }
                };
                output.claims.insert(detection.clone(), opened);
                result
            }
        }
    }

    /// Once the alerts are out (none failed): marks the incidents this invocation opened as
    /// published and records the event as handled, so a re-delivery publishes nothing. A failed
    /// publication leaves both unrecorded: Lambda retries, and the retry, finding the claims
    /// unpublished past their lease, alerts again.
    async fn after_publish(
        &self,
        _config: &Config,
        _payload: &Payload,
        case: &Case,
        output: &Output,
        alerts: &[Alert],
        delivery: &[Delivery],
    ) {
        if Delivery::any_failed(delivery) {
            return;
        }
        for opened in output.claims.values() {
            let fp = match opened {
                Opened::New { fingerprint, .. } => fingerprint,
                _ => continue,
            };
            if let Err(e) = self.state.published(fp, &output.token).await {
                tracing::warn!(function = NAME, error = %e, incident = %fp.describe(),
                    "cannot mark the incident published: another path may alert it after the lease");
            }
        }
        // An incident another invocation was still alerting: that invocation records the event
        // when its alert is out; if it fails, its retry must still find the event unhandled.
        if output.claims.values().any(|o| {
            matches!(
                o,
                Opened::Duplicate {
                    published: false,
                    ..
                }
            )
        }) {
            return;
        }
        let (now, at) = trailwarden_state::now();
        if let Err(e) = self
            .state
            .mark_handled(&keys::event_key(&case.event_id), &at, now)
            .await
        {
            tracing::warn!(function = NAME, error = %e, event = %case.event_id, alerts = alerts.len(),
                "cannot record the event as handled: a re-delivery may alert again");
        }
    }
}

fn threshold_of(config: &Config, detection: &str) -> Option<trailwarden::detect::Threshold> {
    config
        .detections
        .catalog
        .get(detection)
        .and_then(|d| d.threshold.clone())
}
