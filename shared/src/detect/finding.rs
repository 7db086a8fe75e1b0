//! What a scan found for one detection, and how that reads as an alert.

use super::Threshold;
use crate::alert::{Alert, EventContext, Severity};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// A value and how often it was seen (at least: when more distinct values were seen than are
/// kept, counts are the guaranteed part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub value: String,
    pub count: u64,
}

impl Counted {
    /// `value (count), value (count)`, as alerts list the values seen.
    pub fn list(items: &[Counted]) -> String {
        let mut s = String::new();
        for (i, c) in items.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{c}");
        }
        s
    }
}

/// `value (count)`.
impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.value, self.count)
    }
}

/// One group that crossed a detection's threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdGroup {
    /// The `group_by` values, joined with ` | ` (`-` for a missing value).
    pub key: String,
    /// Most matches seen within one window (counted up to a cap: see `peak_capped`).
    pub peak: u64,
    /// The peak reached the number of timestamps kept per window: it was at least `peak`.
    #[serde(default)]
    pub peak_capped: bool,
    /// All matches of the group.
    pub matches: u64,
}

/// How a threshold detection fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub count: u32,
    pub window_seconds: u64,
    pub group_by: Vec<String>,
    /// Groups that reached `count` within `window_seconds`.
    pub groups_over: u64,
    /// Matches of groups beyond the number tracked per detection (not evaluated).
    #[serde(default)]
    pub groups_untracked: u64,
    /// The top groups (up to 10), most matches per window first.
    pub groups: Vec<ThresholdGroup>,
    /// Counted with the shared state (across log files, regions and the real-time path), not
    /// only within what was scanned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub across_deliveries: bool,
}

impl ThresholdResult {
    /// How `threshold` fired for `groups` (the top ones of the `groups_over` that crossed it),
    /// counted within what was scanned and with no group left untracked.
    pub fn new(
        threshold: &Threshold,
        groups_over: u64,
        groups: Vec<ThresholdGroup>,
    ) -> ThresholdResult {
        ThresholdResult {
            count: threshold.count,
            window_seconds: threshold.window_seconds,
            group_by: threshold.group_by.clone(),
            groups_over,
            groups_untracked: 0,
            groups,
            across_deliveries: false,
        }
    }
}

/// Where the records of a finding were seen: the wording of its alert depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen<'a> {
    /// In a log file (`s3://bucket/key`, or a local path).
    LogFile(&'a str),
    /// One event delivered by EventBridge, within seconds of the call.
    RealTime,
}

/// All matches of one detection in what was scanned (one log file in Lambda).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub detection: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    /// The detection's family (`identity`, `evasion`, ..., `custom`).
    #[serde(default)]
    pub family: String,
    /// What to check and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    pub references: Vec<String>,
    /// Matching records (for threshold detections: those of the groups over the threshold).
    pub count: u64,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// Top 10 principals with their counts.
    pub principals: Vec<Counted>,
    pub distinct_principals: u64,
    /// More principals were seen than are kept: `distinct_principals` is a lower bound (and
    /// counts may be over-estimated by at most the smallest count kept).
    #[serde(default)]
    pub distinct_principals_at_least: bool,
    pub regions: Vec<Counted>,
    pub accounts: Vec<Counted>,
    pub event_names: Vec<Counted>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<Counted>,
    pub source_ips: Vec<Counted>,
    /// Up to 5 event ids, in file order.
    pub sample_event_ids: Vec<String>,
    /// The first matching event.
    pub sample: Option<EventContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<ThresholdResult>,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

impl Finding {
    /// The alert for this finding. `source` names what was scanned (`s3://bucket/key`).
    pub fn to_alert(&self, source: &str) -> Alert {
        self.alert_seen(Seen::LogFile(source))
    }

    /// The alert for this finding when its record arrived on its own through EventBridge (the
    /// real-time path): the same wording as a log file's, saying where it was seen.
    pub fn to_event_alert(&self) -> Alert {
        self.alert_seen(Seen::RealTime)
    }

    /// The alert, worded for where the records were seen.
    pub fn alert_seen(&self, seen: Seen<'_>) -> Alert {
        let source = match seen {
            Seen::LogFile(s) => s,
            Seen::RealTime => "real time (EventBridge)",
        };
        let mut a = Alert::new(
            self.severity,
            &self.detection,
            format!("{}: {}", self.title, plural(self.count, "event", "events")),
        );
        a.account = self.accounts.first().map(|c| c.value.clone());
        a.region = self.regions.first().map(|c| c.value.clone());
        a.event = self.sample.clone();
        a.references = self.references.clone();

        let mut summary = String::new();
        if !self.description.is_empty() {
            summary.push_str(&self.description);
            summary.push_str("\n\n");
        }
        let when = match (&self.first_time, &self.last_time) {
            (Some(f), Some(l)) if f != l => format!(" between {f} and {l}"),
            (Some(f), _) => format!(" at {f}"),
            _ => String::new(),
        };
        let _ = write!(
            summary,
            "{} in {source}{when}",
            plural(self.count, "matching record", "matching records"),
        );
        if let Some(p) = self.principals.first() {
            let _ = write!(
                summary,
                "; {}{}, most by {} ({}).",
                if self.distinct_principals_at_least {
                    "more than "
                } else {
                    ""
                },
                plural(self.distinct_principals, "principal", "principals"),
                p.value,
                p.count
            );
        } else {
            summary.push('.');
        }
        if let Some(t) = &self.threshold {
            let _ = write!(
                summary,
                " Threshold: at least {} within {} s per {}{}; {} over it{}.",
                t.count,
                t.window_seconds,
                if t.group_by.is_empty() {
                    "file".to_string()
                } else {
                    t.group_by.join(" + ")
                },
                if t.across_deliveries {
                    ", counted across log files, regions and the real-time path"
                } else {
                    ""
                },
                plural(t.groups_over, "group", "groups"),
                if t.groups_untracked > 0 {
                    format!(
                        " ({} matches of further groups were not evaluated: too many groups)",
                        t.groups_untracked
                    )
                } else {
                    String::new()
                }
            );
        }
        summary.push_str(match seen {
            Seen::LogFile(_) => {
                " Nothing was changed: this is a report of what the log file holds."
            }
            Seen::RealTime => {
                " Nothing was changed: this is a report of the call as CloudTrail recorded it, \
                 seconds after it was made."
            }
        });
        if let Some(r) = &self.runbook {
            summary.push_str("\n\nWhat to do: ");
            summary.push_str(r);
        }
        a.summary = summary;

        a = match seen {
            Seen::LogFile(_) => a.fact("Log file", source),
            Seen::RealTime => a.fact("Seen", source),
        }
        .fact("Matching records", self.count.to_string());
        if let Some(f) = &self.first_time {
            a = a.fact("First", f.clone());
        }
        if let Some(l) = &self.last_time {
            a = a.fact("Last", l.clone());
        }
        if !self.principals.is_empty() {
            let more = self
                .distinct_principals
                .saturating_sub(self.principals.len() as u64);
            let mut v = Counted::list(&self.principals);
            if self.distinct_principals_at_least {
                v.push_str(" and more");
            } else if more > 0 {
                let _ = write!(v, " and {more} more");
            }
            a = a.fact("Principals", v);
        }
        if !self.event_names.is_empty() {
            a = a.fact("Events", Counted::list(&self.event_names));
        }
        if !self.error_codes.is_empty() {
            a = a.fact("Error codes", Counted::list(&self.error_codes));
        }
        if !self.regions.is_empty() {
            a = a.fact("Regions", Counted::list(&self.regions));
        }
        if self.accounts.len() > 1 {
            a = a.fact("Accounts", Counted::list(&self.accounts));
        }
        if !self.source_ips.is_empty() {
            a = a.fact("Source IPs", Counted::list(&self.source_ips));
        }
        if let Some(t) = &self.threshold {
            let groups: Vec<String> = t
                .groups
                .iter()
                .map(|g| {
                    format!(
                        "{} (peak {}{} in {} s, {} in all)",
                        g.key,
                        g.peak,
                        if g.peak_capped { "+" } else { "" },
                        t.window_seconds,
                        g.matches
                    )
                })
                .collect();
            a = a.fact("Groups over threshold", groups.join(", "));
        }
        if !self.sample_event_ids.is_empty() {
            a = a.fact("Sample event IDs", self.sample_event_ids.join(", "));
        }
        a
    }
}
