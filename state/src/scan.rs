//! The log scan's use of the state: after a file is scanned, thresholds are counted across
//! files and paths, and findings whose incidents were already alerted are left out.
//!
//! The rule, per finding of one file:
//!
//! 1. Every matching record gives an incident fingerprint (detection, principal, resource,
//!    fixed window of `INCIDENT_WINDOW_SECONDS`; a threshold group's fingerprint is the
//!    detection, the group and the window of its own length in which it crossed). The file
//!    (its bucket, key and version) claims each one.
//! 2. The finding is **left out** when every one of its records was kept by the scanner and
//!    every fingerprint was already claimed by another owner: the real-time path alerted
//!    each of those events within seconds, or another file (or an earlier delivery of this
//!    one) did. It is reported in the statistics as suppressed, with the reason.
//! 3. Otherwise it is alerted whole, as before. A fingerprint this file claimed before (a
//!    retry) counts as new: the retry alerts again rather than risk losing the alert. A claim
//!    that fails (the table is unavailable) counts as new too: fail open.
//!
//! For threshold detections every matching record is also added to the shared counter of its
//! (detection, group): a group below the threshold within the file alerts when the counter,
//! holding the other files' and the real-time path's matches as well, shows it crossed.

use crate::keys::{self, Fingerprint};
use crate::store::{Claim, Owner, State};
use crate::window::{self, Crossing};
use std::collections::{BTreeMap, BTreeSet};
use trailwarden::detect::scan::{DetectionEvents, MatchedEvent, Suppressed};
use trailwarden::detect::{Catalog, Finding, ScanReport};

/// Matching records the scanner keeps per detection for the state.
pub const EVENTS_PER_DETECTION: usize = 2_000;
/// Incidents claimed per finding; a finding with more is alerted without asking further.
pub const MAX_CLAIMS_PER_FINDING: usize = 200;

/// What settling one file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Incidents this file opened (or re-opened on a retry).
    pub opened: usize,
    /// Findings left out: every incident already alerted.
    pub suppressed: usize,
    /// Threshold findings that crossed only when counted with other deliveries.
    pub across: usize,
    /// Why the state could not be used, when it could not (the alerts went out anyway).
    pub warnings: Vec<String>,
}

/// An event's id for the counter: CloudTrail's `eventID`, else one made from what is known.
fn counter_id(e: &MatchedEvent) -> String {
    e.event_id.clone().unwrap_or_else(|| {
        keys::short_hash(&format!(
            "{}\n{}\n{}",
            e.time.as_deref().unwrap_or(""),
            e.principal,
            e.resource
        ))
    })
}

fn group_of(e: &MatchedEvent) -> &str {
    e.group.as_deref().unwrap_or("-")
}

/// Counts a group's matches into its shared counter and answers its crossing, if any.
async fn count_group(
    state: &State,
    detection: &str,
    group: &str,
    events: &[&MatchedEvent],
    count: u32,
    window_seconds: u64,
    warnings: &mut Vec<String>,
) -> Option<Crossing> {
    let entries: Vec<(i64, String)> = events
        .iter()
        .filter_map(|e| Some((e.epoch?, counter_id(e))))
        .collect();
    let (lo, hi) = (
        entries.iter().map(|e| e.0).min()?,
        entries.iter().map(|e| e.0).max()?,
    );
    let w = window_seconds as i64;
    let counted = state
        .count(
            &keys::window_key(detection, group),
            &entries,
            lo - w,
            hi + w,
            hi + w + keys::LINGER_SECONDS,
        )
        .await;
    if let Some(d) = &counted.degraded {
        warnings.push(d.clone());
    }
    window::crossing(&counted.times(), count, window_seconds)
}

/// Claims every fingerprint; true when at least one is this owner's (new, a retry, or
/// unknown because the claim failed).
async fn claim_all(
    state: &State,
    fps: &BTreeSet<Fingerprint>,
    owner: &str,
    at: &str,
    settled: &mut Settled,
) -> (bool, Vec<String>) {
    let mut ours = false;
    let mut others = Vec::new();
    let (now, _) = crate::now();
    for fp in fps {
        match state.claim(fp, Owner::File(owner), now, at).await {
            Ok(Claim::New) | Ok(Claim::Ours) => {
                settled.opened += 1;
                ours = true;
            }
            Ok(Claim::Taken { owner, .. }) => others.push(owner),
            Err(e) => {
                tracing::warn!(error = %e, incident = %fp.describe(), "cannot claim the incident: alerting anyway");
                settled.warnings.push(e.to_string());
                ours = true;
            }
        }
    }
    (ours, others)
}

fn reason(others: &[String]) -> String {
    let realtime = others.iter().filter(|o| !o.starts_with("object#")).count();
    let first = others.first().cloned().unwrap_or_default();
    format!(
        "every incident already alerted ({} incident{}, {realtime} by the real-time path; first by {first})",
        others.len(),
        if others.len() == 1 { "" } else { "s" },
    )
}

/// Settles one scanned file with the state (see the module's rule): counts threshold
/// matches, claims incidents for `owner` ([`keys::object_key`]), leaves out findings already
/// alerted (into `report.suppressed`) and adds threshold findings that crossed across
/// deliveries. `report` must come from a scanner that kept events
/// ([`trailwarden::detect::Scanner::keep_events`]).
pub async fn settle(
    state: &State,
    catalog: &Catalog,
    report: &mut ScanReport,
    owner: &str,
    incident_window_seconds: u64,
) -> Settled {
    let mut settled = Settled::default();
    let (_, at) = crate::now();
    let events: BTreeMap<&str, &DetectionEvents> = report
        .events
        .iter()
        .map(|e| (e.detection.as_str(), e))
        .collect();

    // Thresholds: every group's matches into the shared counter.
    let mut crossings: BTreeMap<(String, String), Crossing> = BTreeMap::new();
    for (det, de) in &events {
        let Some(t) = catalog.get(det).and_then(|d| d.threshold.clone()) else {
            continue;
        };
        let mut groups: BTreeMap<&str, Vec<&MatchedEvent>> = BTreeMap::new();
        for e in &de.events {
            groups.entry(group_of(e)).or_default().push(e);
        }
        for (g, evs) in groups {
            if let Some(c) = count_group(
                state,
                det,
                g,
                &evs,
                t.count,
                t.window_seconds,
                &mut settled.warnings,
            )
            .await
            {
                crossings.insert((det.to_string(), g.to_string()), c);
            }
        }
    }
    let below: BTreeSet<(&str, &str)> = report
        .groups_below
        .iter()
        .map(|g| (g.detection.as_str(), g.key.as_str()))
        .collect();

    let mut keep: Vec<Finding> = Vec::new();
    let mut suppressed: Vec<Suppressed> = Vec::new();
    for f in std::mem::take(&mut report.findings) {
        let Some(d) = catalog.get(&f.detection) else {
            keep.push(f);
            continue;
        };
        let Some(de) = events.get(f.detection.as_str()) else {
            keep.push(f);
            continue;
        };
        let mut complete = de.dropped == 0;
        let mut fps = BTreeSet::new();
        match &d.threshold {
            Some(t) => {
                let over: BTreeSet<&str> = de
                    .events
                    .iter()
                    .map(group_of)
                    .filter(|g| !below.contains(&(d.id.as_str(), *g)))
                    .collect();
                for g in over {
                    match crossings.get(&(d.id.clone(), g.to_string())) {
                        Some(c) => {
                            fps.insert(Fingerprint::threshold(&d.id, g, c.at, t.window_seconds));
                        }
                        None => complete = false,
                    }
                }
            }
            None => {
                for e in &de.events {
                    fps.insert(
                        Fingerprint::plain(
                            &d.id,
                            e.account.as_deref().unwrap_or_default(),
                            &e.principal,
                            &e.resource,
                            e.epoch,
                            incident_window_seconds,
                        )
                        .with_content(e.content.as_deref()),
                    );
                }
            }
        }
        if fps.len() > MAX_CLAIMS_PER_FINDING {
            complete = false;
            fps = fps.into_iter().take(MAX_CLAIMS_PER_FINDING).collect();
        }
        let (ours, others) = claim_all(state, &fps, owner, &at, &mut settled).await;
        if complete && !ours && !fps.is_empty() {
            tracing::info!(detection = %f.detection, count = f.count, "finding already alerted: left out");
            suppressed.push(Suppressed {
                detection: f.detection.clone(),
                count: f.count,
                reason: reason(&others),
            });
        } else {
            keep.push(f);
        }
    }

    // Groups below the threshold within this file that crossed with the other deliveries.
    for g in &report.groups_below {
        let (Some(c), Some(t)) = (
            crossings.get(&(g.detection.clone(), g.key.clone())),
            catalog.get(&g.detection).and_then(|d| d.threshold.as_ref()),
        ) else {
            continue;
        };
        let fp = Fingerprint::threshold(&g.detection, &g.key, c.at, t.window_seconds);
        let (ours, others) =
            claim_all(state, &BTreeSet::from([fp]), owner, &at, &mut settled).await;
        if !ours {
            suppressed.push(Suppressed {
                detection: g.detection.clone(),
                count: g.finding.count,
                reason: reason(&others),
            });
            continue;
        }
        let mut f = g.finding.clone();
        if let Some(th) = &mut f.threshold {
            th.across_deliveries = true;
            if let Some(first) = th.groups.first_mut() {
                first.peak = c.peak as u64;
            }
        }
        settled.across += 1;
        keep.push(f);
    }

    keep.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.detection.cmp(&b.detection))
    });
    settled.suppressed = suppressed.len();
    report.findings = keep;
    report.suppressed.extend(suppressed);
    settled
}
