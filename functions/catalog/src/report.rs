//! Pure: the alerts and statistics of a walked plan. The alert of a detection is the log
//! scan's ([`trailwarden::detect::Finding`]), built from this one record and worded for the
//! real-time path ([`trailwarden::detect::Finding::to_event_alert`]), so both paths read
//! alike; a threshold detection's alert counts the group's matches across deliveries.

use crate::config::Config;
use crate::decide::{Case, Matched, Step};
use crate::execute::{Count, Opened, Output};
use crate::RealtimeCatalog;
use serde::Serialize;
use trailwarden::alert::{Alert, Status};
use trailwarden::detect::scan::single_finding;
use trailwarden::detect::{Detection, ThresholdGroup, ThresholdResult};
use trailwarden::respond::{self, Plan, Report, Reporting};
use trailwarden::Payload;

/// catalog's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CatalogStats {
    /// Detections in the catalog in force.
    pub detections: usize,
    /// Where the state lives (`DynamoDB table ...`, or memory).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub state: String,
    /// Detections the event matched.
    pub matched: Vec<String>,
    /// Detections alerted (new incidents).
    pub alerted: Vec<String>,
    /// Detections whose incident was already alerted (by another event or a log file).
    pub duplicates: Vec<String>,
    /// Threshold detections whose group has not crossed.
    pub below_threshold: Vec<String>,
    /// Why the state could not be used, when it could not (the alerts went out anyway).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub state_warnings: Vec<String>,
}

impl respond::Stats for CatalogStats {
    fn lines(&self) -> Vec<(&'static str, String)> {
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        let mut out = vec![
            ("detections", self.detections.to_string()),
            ("matched", list(&self.matched)),
            ("alerted", list(&self.alerted)),
            ("duplicates", list(&self.duplicates)),
            ("below threshold", list(&self.below_threshold)),
        ];
        if !self.state.is_empty() {
            out.insert(1, ("state", self.state.clone()));
        }
        if !self.state_warnings.is_empty() {
            out.push(("state warnings", self.state_warnings.join("; ")));
        }
        out
    }
}

fn epoch_text(e: i64) -> String {
    chrono::DateTime::from_timestamp(e, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| e.to_string())
}

/// The alert of one detection for this event. `count` is the group's counter for a threshold
/// detection (`None` in an offline plan).
pub fn alert_for(
    d: &Detection,
    case: &Case,
    m: &Matched,
    count: Option<&Count>,
    incident: Option<&str>,
    warning: Option<&str>,
) -> Alert {
    let mut f = single_finding(d, &case.record);
    if let (Some(t), Some(c)) = (&d.threshold, count) {
        let in_window: Vec<&(i64, String)> = match c.crossing {
            Some(x) => c
                .entries
                .iter()
                .filter(|(e, _)| *e > x.at - t.window_seconds as i64 && *e <= x.at)
                .collect(),
            None => c.entries.iter().collect(),
        };
        f.count = in_window.len().max(1) as u64;
        if let (Some(first), Some(last)) = (in_window.first(), in_window.last()) {
            f.first_time = Some(epoch_text(first.0));
            f.last_time = Some(epoch_text(last.0));
        }
        f.sample_event_ids = in_window.iter().take(5).map(|(_, id)| id.clone()).collect();
        let group = ThresholdGroup {
            key: m.group.clone().unwrap_or_default(),
            peak: c.peak as u64,
            peak_capped: false,
            matches: c.entries.len() as u64,
        };
        f.threshold = Some(ThresholdResult {
            across_deliveries: true,
            ..ThresholdResult::new(t, 1, vec![group])
        });
    }
    let mut a = f.to_event_alert();
    if let Some(i) = incident {
        a = a.fact("Incident", i);
    }
    if let Some(w) = warning {
        a = a.fact(
            "State",
            format!(
                "unavailable, so duplicates were not suppressed and thresholds were counted in \
                 this instance only: {w}"
            ),
        );
    }
    a
}

impl Reporting for RealtimeCatalog {
    type Output = Output;
    type Stats = CatalogStats;

    /// The alerts and statistics of a walked plan (`output` is `None` for an offline plan: every
    /// detection without threshold would alert; threshold detections need counting first).
    fn report(
        config: &Config,
        case: &Case,
        plan: &Plan<Step>,
        output: Option<&Output>,
    ) -> Report<CatalogStats> {
        let state = match (&config.state.table, output) {
            (_, None) => String::new(),
            (Some(t), Some(_)) => format!("DynamoDB table {t}"),
            (None, Some(_)) => "memory (this process only)".into(),
        };
        let catalog = &config.detections.catalog;
        let mut stats = CatalogStats {
            detections: catalog.len(),
            state,
            matched: case.matches.iter().map(|m| m.detection.clone()).collect(),
            ..Default::default()
        };
        if let Some(w) = &case.state_warning {
            stats.state_warnings.push(w.clone());
        }
        let mut alerts = Vec::new();
        for step in plan {
            let Step::Claim {
                detection,
                fingerprint,
                ..
            } = &step.step
            else {
                continue;
            };
            let (Some(d), Some(m)) = (
                catalog.get(detection),
                case.matches.iter().find(|m| &m.detection == detection),
            ) else {
                continue;
            };
            let count = output.and_then(|o| o.counts.get(detection));
            let mut warning = case
                .state_warning
                .clone()
                .or_else(|| count.and_then(|c| c.degraded.clone()));
            let incident = match output.and_then(|o| o.claims.get(detection)) {
                None if step.status == Status::Planned && d.threshold.is_none() => {
                    fingerprint.as_ref().map(|f| f.describe())
                }
                None => {
                    if d.threshold.is_some() {
                        stats.below_threshold.push(detection.clone());
                    }
                    continue;
                }
                Some(Opened::Below { .. }) => {
                    stats.below_threshold.push(detection.clone());
                    continue;
                }
                Some(Opened::Duplicate { .. }) => {
                    stats.duplicates.push(detection.clone());
                    continue;
                }
                Some(Opened::New { fingerprint, .. }) => Some(fingerprint.describe()),
                Some(Opened::Unavailable { fingerprint, error }) => {
                    warning.get_or_insert_with(|| error.clone());
                    Some(fingerprint.describe())
                }
            };
            if let Some(w) = &warning {
                if !stats.state_warnings.contains(w) {
                    stats.state_warnings.push(w.clone());
                }
            }
            stats.alerted.push(detection.clone());
            alerts.push(alert_for(
                d,
                case,
                m,
                count,
                incident.as_deref(),
                warning.as_deref(),
            ));
        }
        Report { alerts, stats }
    }

    /// The statistics of an event that was not evaluated.
    fn ignored_stats(config: &Config, _payload: &Payload) -> CatalogStats {
        CatalogStats {
            detections: config.detections.catalog.len(),
            ..Default::default()
        }
    }
}
