//! Running a catalog over log files: per record, only the detections that can match (looked
//! up by `eventName`/`eventSource`) are evaluated, and only the fields they read are parsed;
//! matches are aggregated into one [`Finding`] per detection (what a finding keeps of the
//! records: `aggregate`; threshold detections' grouped counts: `threshold`).

use super::finding::{Counted, Finding, ThresholdGroup, ThresholdResult};
use super::index::{split_group_path, Index};
use super::tally::{self, Tallies};
use super::{Catalog, Detection, Threshold};
use crate::alert::EventContext;
use crate::event::{lookup, Caller, CallerRef, Record, UserIdentity};
use crate::logfile::{self, Element, LogError, LogReader, RawRecord, Span};
use crate::pattern::RawValue;
use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

// Memory is bounded whatever the file holds: counters keep a fixed number of values (heavy
// hitters, Space-Saving), threshold detections track a fixed number of groups, and a group's
// window keeps a fixed number of timestamps.

/// Values kept per counter of a detection (principals, regions, ...).
const COUNTER_CAPACITY: usize = 256;
/// Values kept per counter of one threshold group.
const GROUP_COUNTER_CAPACITY: usize = 8;
/// Groups tracked per threshold detection; records of further groups are counted apart.
const MAX_GROUPS: usize = 2_000;
/// Groups tracked across all threshold detections of one scan: what bounds a scan's memory
/// whatever the catalog (a group that saw one record costs a few hundred bytes, one that
/// counts several up to about a kilobyte). When it is reached, groups that
/// stayed below their threshold and whose newest record is further than their window (plus
/// [`STALE_SLACK_SECONDS`]) from the record at hand are dropped: they can no longer cross
/// unless records arrive that much out of order.
const TOTAL_GROUPS: usize = 12_000;
/// Groups every threshold detection may track even when the shared budget is spent: a flood
/// of distinct groups on some detections (values an attacker controls, such as source
/// addresses or bucket names) cannot leave another detection unable to follow a burst.
/// Bounds the scan's memory at [`TOTAL_GROUPS`] plus this many per threshold detection.
const RESERVED_GROUPS: usize = 32;
/// How far out of time order records may arrive and still count into a group (files of
/// several regions and accounts interleave by minutes).
const STALE_SLACK_SECONDS: i64 = 900;
/// New groups refused while full before the next sweep for stale groups (a sweep walks every
/// group: this keeps its cost per record small).
const SWEEP_EVERY: u64 = 256;
/// Timestamps kept per group's window beyond the threshold count (the peak saturates there).
const MIN_WINDOW_CAP: usize = 64;
const TOP: usize = 10;
const SAMPLES: usize = 5;
const PROBLEM_SAMPLES: usize = 10;

pub(crate) use super::project::FieldTree;

mod aggregate;
#[cfg(test)]
mod tests;
mod threshold;

pub use aggregate::{
    content_of, resource_of, single_finding, DetectionEvents, GroupFinding, MatchedEvent,
    Suppressed,
};
use aggregate::{Agg, MatchInfo};
pub use threshold::group_key_of;
use threshold::{group_key, group_trees, DetState, GroupBudget, ThresholdState};

/// A record that could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordProblem {
    pub file: String,
    /// Position in the file's `Records` array (0-based).
    pub record: u64,
    pub message: String,
}

/// What was read of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    pub name: String,
    pub records: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compressed_bytes: Option<u64>,
    pub unparsed_records: u64,
    /// Why the file could not be read to the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a scan: what was read and what was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    pub detections: usize,
    pub files: Vec<FileSummary>,
    pub records: u64,
    pub bytes: u64,
    pub compressed_bytes: u64,
    pub unparsed_records: u64,
    /// The first few records that could not be evaluated.
    pub unparsed_samples: Vec<RecordProblem>,
    /// Most severe first.
    pub findings: Vec<Finding>,
    pub duration_ms: u64,
    /// Matching records per detection (only when asked: [`Scanner::keep_events`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<DetectionEvents>,
    /// Threshold groups below their threshold (only with [`Scanner::keep_events`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups_below: Vec<GroupFinding>,
    /// Matching records made by trailwarden's own roles, left out ([`Scanner::exclude_principals`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub own_records: u64,
    /// Findings left out because their incidents were already alerted (filled in by whoever
    /// keeps the shared state).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Suppressed>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A file that could not be read to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {error}")]
pub struct ScanError {
    pub name: String,
    pub error: LogError,
}

/// Runs a catalog over one or more log files and aggregates the matches.
pub struct Scanner<'c> {
    catalog: &'c Catalog,
    states: Vec<DetState>,
    files: Vec<FileSummary>,
    problems: Vec<RecordProblem>,
    unparsed: u64,
    started: Instant,
    cands: Vec<usize>,
    /// The buffer of the current record's projected fields, kept empty between records.
    parsed: Vec<(usize, RawValue<'static>)>,
    /// What is known of the current record's keys and literal tests.
    memo: Memo,
    /// Matching records kept per detection (0: none).
    keep_events: usize,
    /// Per detection: the matching records kept, and how many more there were.
    events: Vec<(Vec<MatchedEvent>, u64)>,
    /// Principal ARN globs whose records are left out (trailwarden's own roles).
    exclude: Vec<String>,
    own_records: u64,
    budget: GroupBudget,
}

/// Drops every detection's stale groups (see [`TOTAL_GROUPS`]).
fn sweep(catalog: &Catalog, states: &mut [DetState], budget: &mut GroupBudget, now: i64) {
    for (d, st) in catalog.detections().iter().zip(states.iter_mut()) {
        if let (DetState::Threshold(st), Some(t)) = (st, &d.threshold) {
            budget.live -= st.sweep(t, now);
        }
    }
}

/// An emptied vector of projected fields for the values of another record: collecting the
/// emptied vector in place keeps its allocation (the pairs have the same layout whatever the
/// values borrow from).
fn reuse<'b>(mut v: Vec<(usize, RawValue<'_>)>) -> Vec<(usize, RawValue<'b>)> {
    v.clear();
    v.into_iter().map(|(k, _)| (k, RawValue::Null)).collect()
}

/// What is known of the current record's top-level keys (where each is) and literal tests
/// (whether each passes), each found at most once per record. An entry counts for the record
/// whose number it carries, so nothing is cleared between records.
struct Memo {
    record: u32,
    keys: Vec<(u32, Option<Span>)>,
    literals: Vec<(u32, bool)>,
}

impl Memo {
    fn new(index: &Index) -> Memo {
        Memo {
            record: 0,
            keys: vec![(0, None); index.keys.len()],
            literals: vec![(0, false); index.literals.len()],
        }
    }

    /// Forgets what was known of the previous record.
    fn next_record(&mut self) {
        self.record = self.record.wrapping_add(1);
        if self.record == 0 {
            // After four billion records the numbers start again: no entry may look current
            // (record numbers start at 1, so 0 never is).
            self.keys.iter_mut().for_each(|e| e.0 = 0);
            self.literals.iter_mut().for_each(|e| e.0 = 0);
            self.record = 1;
        }
    }

    /// Where key `k` is in the record.
    #[inline]
    fn field(&mut self, raw: &RawRecord<'_>, index: &Index, k: usize) -> Option<Span> {
        let e = &mut self.keys[k];
        if e.0 != self.record {
            *e = (
                self.record,
                raw.locate_signed(index.keys[k].as_bytes(), index.key_sigs[k]),
            );
        }
        e.1
    }

    /// Whether literal test `l` passes on the record.
    #[inline]
    fn literal(&mut self, raw: &RawRecord<'_>, index: &Index, l: usize) -> bool {
        if self.literals[l].0 != self.record {
            let lit = &index.literals[l];
            let pass = self
                .field(raw, index, lit.key)
                .is_some_and(|s| lit.may_match(raw.text(s), s.escapes));
            self.literals[l] = (self.record, pass);
        }
        self.literals[l].1
    }
}

fn str_or_other<'a>(raw: &RawRecord<'a>, key: &str) -> Option<Option<Cow<'a, str>>> {
    raw.str_field(key).ok()
}

/// A top-level string field's text as UTF-8 bytes, as [`str_or_other`] reads it: a plain
/// ASCII string (no escape, nothing to decode, valid UTF-8 as it stands) is borrowed as it is
/// written, without the UTF-8 check. `eventName` and `eventSource` are looked up this way in
/// every record.
fn index_text<'a>(raw: &RawRecord<'a>, key: &str, sig: u64) -> Option<Option<Cow<'a, [u8]>>> {
    if let Some(s) = raw
        .locate_signed(key.as_bytes(), sig)
        .filter(|s| !s.escapes)
    {
        if let [b'"', inner @ .., b'"'] = raw.text(s) {
            if inner.is_ascii() {
                return Some(Some(Cow::Borrowed(inner)));
            }
        }
    }
    str_or_other(raw, key).map(|o| {
        o.map(|c| match c {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        })
    })
}

impl<'c> Scanner<'c> {
    pub fn new(catalog: &'c Catalog) -> Self {
        let states = catalog
            .detections()
            .iter()
            .enumerate()
            .map(|(i, d)| match &d.threshold {
                None => DetState::Plain(Box::new(Agg::with_cap(COUNTER_CAPACITY))),
                Some(t) => DetState::Threshold(ThresholdState {
                    groups: HashMap::new(),
                    untracked: 0,
                    window_cap: (t.count as usize).max(MIN_WINDOW_CAP),
                    trees: group_trees(t),
                    tops: catalog.index.group_tops[i].clone(),
                }),
            })
            .collect();
        Scanner {
            catalog,
            states,
            files: Vec::new(),
            problems: Vec::new(),
            unparsed: 0,
            started: Instant::now(),
            cands: Vec::with_capacity(64),
            parsed: Vec::with_capacity(16),
            memo: Memo::new(&catalog.index),
            keep_events: 0,
            events: Vec::new(),
            exclude: Vec::new(),
            own_records: 0,
            budget: GroupBudget {
                cap: TOTAL_GROUPS,
                reserve: RESERVED_GROUPS,
                live: 0,
                refused: 0,
                evict: true,
            },
        }
    }

    /// Tracks at most `cap` threshold groups over all detections (default [`TOTAL_GROUPS`]),
    /// besides the groups each detection may always hold (see [`Scanner::group_reserve`]).
    pub fn group_budget(mut self, cap: usize) -> Self {
        self.budget.cap = cap;
        self
    }

    /// Lets every threshold detection hold `reserve` groups even when the shared budget is
    /// spent (default [`RESERVED_GROUPS`]).
    pub fn group_reserve(mut self, reserve: usize) -> Self {
        self.budget.reserve = reserve;
        self
    }

    /// Keeps up to `cap` matching records per detection ([`ScanReport::events`]) and the
    /// threshold groups that stay below their threshold ([`ScanReport::groups_below`]), for
    /// the shared state (incidents, counters across files).
    pub fn keep_events(mut self, cap: usize) -> Self {
        self.keep_events = cap;
        // Every group below its threshold is reported: none is dropped as stale.
        self.budget.evict = cap == 0;
        self.events = vec![(Vec::new(), 0); self.catalog.len()];
        self
    }

    /// Leaves out records made by these principals (ARN globs, matched against the role ARN of
    /// a role session as `OWN_ROLE_ARNS` is): trailwarden's own remediations are not findings.
    pub fn exclude_principals(mut self, globs: &[String]) -> Self {
        self.exclude = globs.to_vec();
        self
    }

    /// Evaluates one record. `Err` when a field a detection needs does not parse.
    pub fn record(&mut self, raw: &RawRecord<'_>) -> Result<(), String> {
        let catalog = self.catalog;
        let index = &catalog.index;
        const NAME_SIG: u64 = logfile::key_sig(b"eventName");
        const SOURCE_SIG: u64 = logfile::key_sig(b"eventSource");
        let name = index_text(raw, "eventName", NAME_SIG);
        let source = index_text(raw, "eventSource", SOURCE_SIG);
        let mut cands = std::mem::take(&mut self.cands);
        index.candidates(
            name.as_ref().map(|o| o.as_deref()),
            source.as_ref().map(|o| o.as_deref()),
            catalog.len(),
            &mut cands,
        );
        if cands.is_empty() {
            self.cands = cands;
            return Ok(());
        }
        // Keep the detections whose required fields are all there and whose literal tests
        // pass (each test runs at most once per record, however many detections share it),
        // then parse every field they read before evaluating any: a record is either
        // evaluated or reported, never half of each.
        self.memo.next_record();
        {
            let memo = &mut self.memo;
            cands.retain(|&i| {
                let plan = &index.plans[i];
                plan.required
                    .iter()
                    .all(|&k| memo.field(raw, index, k).is_some())
                    && plan.literals.iter().all(|&l| memo.literal(raw, index, l))
            });
        }
        if cands.is_empty() {
            self.cands = cands;
            return Ok(());
        }
        // Each field once, however many detections read it; strings borrow from the record.
        let mut parsed: Vec<(usize, RawValue<'_>)> = reuse(std::mem::take(&mut self.parsed));
        for &i in &cands {
            for &k in &index.plans[i].reads {
                if parsed.iter().any(|(p, _)| *p == k) {
                    continue;
                }
                // eventName and eventSource as read for the candidates, when plain ASCII:
                // what the projection would give.
                let known = if Some(k) == index.name_key {
                    &name
                } else if Some(k) == index.source_key {
                    &source
                } else {
                    &None
                };
                if let Some(Some(Cow::Borrowed(text))) = known {
                    if let Ok(text) = std::str::from_utf8(text) {
                        parsed.push((k, RawValue::Str(Cow::Borrowed(text))));
                        continue;
                    }
                }
                let Some(bytes) = self.memo.field(raw, index, k).map(|s| raw.text(s)) else {
                    continue;
                };
                match index.projections[k].project_raw(bytes) {
                    Ok(v) => parsed.push((k, v)),
                    Err(e) => {
                        self.cands = cands;
                        self.parsed = reuse(parsed);
                        return Err(format!("field {}: {e}", index.keys[k]));
                    }
                }
            }
        }
        let get = |name: &str| {
            let sig = logfile::key_sig(name.as_bytes());
            parsed
                .iter()
                .find(|(k, _)| index.key_sigs[*k] == sig && index.keys[*k] == name)
                .map(|(_, v)| v)
        };
        cands.retain(|&i| catalog.detections()[i].pattern.matches_fields(get));
        index.drop_superseded(&mut cands);
        let mut info: Option<MatchInfo> = None;
        let mut subject: Option<(String, Option<String>)> = None;
        for &i in &cands {
            let d = &catalog.detections()[i];
            if info.is_none() {
                // The caller is read from `userIdentity` as projected for the candidates, or
                // projected here (the projection keeps the caller's paths) when none read it.
                let projected;
                let identity = match index.caller_key {
                    Some(c) => match parsed.iter().find(|(k, _)| *k == c) {
                        Some((_, v)) => Some(v),
                        None => {
                            projected = self
                                .memo
                                .field(raw, index, c)
                                .and_then(|s| index.projections[c].project_raw(raw.text(s)).ok());
                            projected.as_ref()
                        }
                    },
                    None => None,
                };
                match MatchInfo::from_raw(*raw, identity, &self.exclude) {
                    Some(m) => info = Some(m),
                    None => {
                        self.own_records += 1;
                        break;
                    }
                }
            }
            let m = info.as_ref().expect("set above");
            let group = match &mut self.states[i] {
                DetState::Plain(agg) => {
                    agg.add(m);
                    None
                }
                DetState::Threshold(st) => {
                    let t = d
                        .threshold
                        .as_ref()
                        .expect("threshold state has a threshold");
                    let key = group_key(raw, t, &st.trees, &parsed, &st.tops);
                    if st.full(&self.budget) && !st.groups.contains_key(&key) {
                        self.budget.refused += 1;
                        if let Some(now) = m.epoch {
                            if self.budget.evict && self.budget.refused >= SWEEP_EVERY {
                                self.budget.refused = 0;
                                sweep(catalog, &mut self.states, &mut self.budget, now);
                            }
                        }
                    }
                    let DetState::Threshold(st) = &mut self.states[i] else {
                        unreachable!("a threshold detection keeps threshold state")
                    };
                    // The key is kept with the matching record only when records are kept.
                    let kept = (self.keep_events > 0).then(|| key.clone());
                    st.add(t, key, m, &mut self.budget);
                    kept
                }
            };
            if self.keep_events > 0 {
                let (kept, dropped) = &mut self.events[i];
                if kept.len() < self.keep_events {
                    let (resource, content) = subject.get_or_insert_with(|| {
                        let params = raw.value("requestParameters").ok().flatten();
                        (
                            resource_of(
                                params.as_ref(),
                                raw.value("resources").ok().flatten().as_ref(),
                            ),
                            content_of(params.as_ref()),
                        )
                    });
                    kept.push(MatchedEvent {
                        event_id: m.event_id.as_deref().map(str::to_string),
                        time: m.event_time.as_deref().map(str::to_string),
                        epoch: m.epoch,
                        principal: m.principal.clone(),
                        account: m.account.as_deref().map(str::to_string),
                        resource: resource.clone(),
                        content: content.clone(),
                        group,
                    });
                } else {
                    *dropped += 1;
                }
            }
        }
        self.cands = cands;
        self.parsed = reuse(parsed);
        Ok(())
    }

    fn problem(&mut self, file: &str, record: u64, message: String) {
        self.unparsed += 1;
        if self.problems.len() < PROBLEM_SAMPLES {
            self.problems.push(RecordProblem {
                file: file.to_string(),
                record,
                message,
            });
        }
    }

    /// Scans one log file from any reader (gzip or plain JSON, told apart by the first bytes).
    /// On error, what was read before it still counts: call [`Scanner::finish`] for it.
    pub fn scan_reader<R: Read + Send + 'static>(
        &mut self,
        name: &str,
        source: R,
    ) -> Result<FileSummary, ScanError> {
        let opened = logfile::open(source).map_err(|e| {
            let error = LogError::Read {
                message: e.to_string(),
                progress: Default::default(),
            };
            self.files.push(FileSummary {
                name: name.to_string(),
                records: 0,
                bytes: 0,
                compressed_bytes: None,
                unparsed_records: 0,
                error: Some(error.to_string()),
            });
            ScanError {
                name: name.to_string(),
                error,
            }
        })?;
        let gzip = opened.gzip;
        let mut reader = LogReader::from_opened(opened);
        let unparsed_before = self.unparsed;
        let outcome = loop {
            match reader.next() {
                Ok(Some(Element::Record(raw))) => {
                    if let Err(m) = self.record(&raw) {
                        self.problem(name, raw.index, m);
                    }
                }
                Ok(Some(Element::Unreadable { index, reason })) => {
                    self.problem(name, index, reason)
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let p = reader.progress();
        let summary = FileSummary {
            name: name.to_string(),
            records: p.records,
            bytes: reader.bytes_read(),
            compressed_bytes: if gzip { p.compressed_bytes } else { None },
            unparsed_records: self.unparsed - unparsed_before,
            error: outcome.as_ref().err().map(ToString::to_string),
        };
        self.files.push(summary.clone());
        outcome.map(|_| summary).map_err(|error| ScanError {
            name: name.to_string(),
            error,
        })
    }

    /// Scans a local `.json.gz` or `.json` log file.
    pub fn scan_path(&mut self, path: &Path) -> Result<FileSummary, ScanError> {
        let name = path.display().to_string();
        match std::fs::File::open(path) {
            Ok(f) => self.scan_reader(&name, f),
            Err(e) => {
                let error = LogError::Read {
                    message: e.to_string(),
                    progress: Default::default(),
                };
                self.files.push(FileSummary {
                    name: name.clone(),
                    records: 0,
                    bytes: 0,
                    compressed_bytes: None,
                    unparsed_records: 0,
                    error: Some(error.to_string()),
                });
                Err(ScanError { name, error })
            }
        }
    }

    /// The findings so far, most severe first.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .catalog
            .detections()
            .iter()
            .zip(&self.states)
            .filter_map(|(d, st)| match st {
                DetState::Plain(a) if a.count > 0 => Some(a.finding(d, None)),
                DetState::Plain(_) => None,
                DetState::Threshold(t) => t.finding(d, d.threshold.as_ref().expect("threshold")),
            })
            .collect();
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.count.cmp(&a.count))
                .then_with(|| a.detection.cmp(&b.detection))
        });
        out
    }

    /// The report of everything scanned.
    pub fn finish(self) -> ScanReport {
        let findings = self.findings();
        let mut events = Vec::new();
        let mut groups_below = Vec::new();
        if self.keep_events > 0 {
            for ((d, st), (kept, dropped)) in self
                .catalog
                .detections()
                .iter()
                .zip(&self.states)
                .zip(&self.events)
            {
                if !kept.is_empty() || *dropped > 0 {
                    events.push(DetectionEvents {
                        detection: d.id.clone(),
                        events: kept.clone(),
                        dropped: *dropped,
                    });
                }
                if let (DetState::Threshold(t), Some(th)) = (st, &d.threshold) {
                    groups_below.extend(t.below(d, th));
                }
            }
        }
        ScanReport {
            events,
            groups_below,
            own_records: self.own_records,
            suppressed: Vec::new(),
            detections: self.catalog.len(),
            records: self.files.iter().map(|f| f.records).sum(),
            bytes: self.files.iter().map(|f| f.bytes).sum(),
            compressed_bytes: self.files.iter().filter_map(|f| f.compressed_bytes).sum(),
            unparsed_records: self.unparsed,
            unparsed_samples: self.problems,
            files: self.files,
            findings,
            duration_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}

/// Scans one log file and reports. A file that cannot be read to the end is an error (use
/// [`Scanner`] to keep what was found before the error).
pub fn scan_reader<R: Read + Send + 'static>(
    catalog: &Catalog,
    name: &str,
    source: R,
) -> Result<ScanReport, ScanError> {
    let mut s = Scanner::new(catalog);
    s.scan_reader(name, source)?;
    Ok(s.finish())
}
