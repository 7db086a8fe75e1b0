//! Threshold detections: records grouped by key (`userIdentity.arn`, say), each group counting
//! within a sliding window, in a bounded number of groups.

use super::aggregate::{Agg, MatchInfo};
use super::*;

#[derive(Debug)]
pub(super) struct Group {
    pub(super) agg: Agg,
    pub(super) window: VecDeque<i64>,
    pub(super) peak: u64,
}

impl Group {
    /// Below the threshold, and its newest record too far in time from `now` for the window.
    pub(super) fn stale(&self, t: &Threshold, now: i64) -> bool {
        self.peak < u64::from(t.count)
            && self.window.back().is_some_and(|&newest| {
                (now - newest).abs() > t.window_seconds as i64 + STALE_SLACK_SECONDS
            })
    }
}

/// The shared allowance of threshold groups of one scan.
#[derive(Debug)]
pub(super) struct GroupBudget {
    pub(super) cap: usize,
    /// Groups each detection may hold beyond `cap` ([`RESERVED_GROUPS`]).
    pub(super) reserve: usize,
    pub(super) live: usize,
    /// Refused since the last sweep.
    pub(super) refused: u64,
    /// Stale groups may be dropped (not when groups below their threshold are reported).
    pub(super) evict: bool,
}

#[derive(Debug)]
pub(super) struct ThresholdState {
    /// Boxed: the table stays small (it holds up to twice as many slots as groups). Keys are
    /// values a caller controls (addresses, names): the table's hasher is seeded at random
    /// for each table, so collisions cannot be prepared, and the group budget bounds it.
    pub(super) groups: HashMap<String, Box<Group>>,
    /// Matches of groups beyond [`MAX_GROUPS`] or the scan's [`TOTAL_GROUPS`] (not evaluated).
    pub(super) untracked: u64,
    /// Timestamps kept per window.
    pub(super) window_cap: usize,
    /// [`group_trees`] of the detection's threshold.
    pub(super) trees: Vec<FieldTree>,
    /// Per `group_by` path: the catalog's key id whose projection holds it
    /// ([`super::index::Index::group_tops`]).
    pub(super) tops: Vec<Option<usize>>,
}

#[derive(Debug)]
pub(super) enum DetState {
    Plain(Box<Agg>),
    Threshold(ThresholdState),
}

/// Per `group_by` path of a threshold: the projection that parses only what the key reads
/// of its top-level field (built once per scan, not per record).
pub(super) fn group_trees(t: &Threshold) -> Vec<FieldTree> {
    t.group_by
        .iter()
        .map(|path| {
            let (_, rest, positional) = split_group_path(path);
            let mut tree = FieldTree::partial();
            // Array positions in the path need the whole value.
            if !rest.is_empty() && !positional {
                let segs: Vec<String> = rest.split('.').map(str::to_string).collect();
                tree.add(&segs);
            } else {
                tree.add(&[]);
            }
            tree
        })
        .collect()
}

/// `parsed`: the record's fields the scanner projected (key id, value); `tops`: per path, the
/// key id whose projection holds it ([`ThresholdState::tops`]), else it is projected here.
pub(super) fn group_key(
    raw: &RawRecord<'_>,
    t: &Threshold,
    trees: &[FieldTree],
    parsed: &[(usize, RawValue<'_>)],
    tops: &[Option<usize>],
) -> String {
    let mut key = String::new();
    for (i, (path, tree)) in t.group_by.iter().zip(trees).enumerate() {
        if i > 0 {
            key.push_str(" | ");
        }
        let (top, rest) = path.split_once('.').unwrap_or((path, ""));
        let Some(bytes) = raw.get(top) else {
            key.push('-');
            continue;
        };
        let projected = tops
            .get(i)
            .copied()
            .flatten()
            .and_then(|id| parsed.iter().find(|(k, _)| *k == id))
            .map(|(_, v)| v);
        let own;
        let value = match projected {
            Some(v) => Ok(v),
            None => {
                own = tree.project_raw(bytes);
                own.as_ref()
            }
        };
        // Strings (nearly every key) borrow from the record; anything else is written as
        // the real-time path writes it.
        match value.map(|v| lookup(v, rest)) {
            Ok(Some(RawValue::Str(s))) if !s.is_empty() => key.push_str(s),
            Ok(Some(RawValue::Str(_)) | None) => key.push('-'),
            _ => {
                let v = tree
                    .project(bytes)
                    .or_else(|_| serde_json::from_slice(bytes))
                    .ok();
                push_key_part(&mut key, v.as_ref().and_then(|v| lookup(v, rest)));
            }
        }
    }
    key
}

/// The threshold group of a record given as JSON (the real-time path): the same key the
/// scanner forms from a log file's record, so both count into the same group.
pub fn group_key_of(record: &Value, t: &Threshold) -> String {
    group_key_with(t, |top, _| record.get(top).cloned())
}

/// `top_value(top, rest)` gives the top-level field `top`, of which the key reads `rest`.
pub(super) fn group_key_with(
    t: &Threshold,
    mut top_value: impl FnMut(&str, &str) -> Option<Value>,
) -> String {
    let mut key = String::new();
    for (i, path) in t.group_by.iter().enumerate() {
        if i > 0 {
            key.push_str(" | ");
        }
        let (top, rest) = path.split_once('.').unwrap_or((path, ""));
        let v = top_value(top, rest);
        push_key_part(&mut key, v.as_ref().and_then(|v| lookup(v, rest)));
    }
    key
}

/// One path's part of a group key: a string as it is, `-` for none, other JSON as text.
pub(super) fn push_key_part(key: &mut String, v: Option<&Value>) {
    match v {
        Some(Value::String(s)) if !s.is_empty() => key.push_str(s),
        Some(Value::String(_)) | None => key.push('-'),
        Some(other) => key.push_str(&other.to_string()),
    }
}

impl ThresholdState {
    pub(super) fn full(&self, budget: &GroupBudget) -> bool {
        self.groups.len() >= MAX_GROUPS
            || (budget.live >= budget.cap && self.groups.len() >= budget.reserve)
    }

    /// Drops the stale groups (see [`TOTAL_GROUPS`]); how many.
    pub(super) fn sweep(&mut self, t: &Threshold, now: i64) -> usize {
        let before = self.groups.len();
        self.groups.retain(|_, g| !g.stale(t, now));
        before - self.groups.len()
    }

    pub(super) fn add(
        &mut self,
        t: &Threshold,
        key: String,
        m: &MatchInfo<'_>,
        budget: &mut GroupBudget,
    ) {
        let full = self.full(budget);
        let g = match self.groups.entry(key) {
            Entry::Occupied(g) => g.into_mut(),
            Entry::Vacant(_) if full => {
                self.untracked += 1;
                return;
            }
            Entry::Vacant(slot) => {
                budget.live += 1;
                slot.insert(Box::new(Group {
                    agg: Agg::with_cap(GROUP_COUNTER_CAPACITY),
                    window: VecDeque::new(),
                    peak: 0,
                }))
            }
        };
        g.agg.add(m);
        let Some(ts) = m.epoch else { return };
        // Records are nearly in time order: insert from the back.
        let at = g.window.iter().rposition(|x| *x <= ts).map_or(0, |p| p + 1);
        g.window.insert(at, ts);
        let window = t.window_seconds as i64;
        while let (Some(f), Some(b)) = (g.window.front(), g.window.back()) {
            if b - f >= window {
                g.window.pop_front();
            } else {
                break;
            }
        }
        if g.window.len() > self.window_cap {
            g.window.pop_front();
        }
        g.peak = g.peak.max(g.window.len() as u64);
    }

    pub(super) fn finding(&self, d: &Detection, t: &Threshold) -> Option<Finding> {
        let mut over: Vec<(&String, &Group)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.peak >= u64::from(t.count))
            .map(|(k, g)| (k, &**g))
            .collect();
        if over.is_empty() {
            return None;
        }
        over.sort_by(|a, b| {
            b.1.peak
                .cmp(&a.1.peak)
                .then(b.1.agg.count.cmp(&a.1.agg.count))
                .then(a.0.cmp(b.0))
        });
        let mut agg = Agg::with_cap(COUNTER_CAPACITY);
        for (_, g) in &over {
            agg.merge(&g.agg);
        }
        let groups = over
            .iter()
            .take(TOP)
            .map(|(k, g)| self.group_result(k, g))
            .collect();
        let result = ThresholdResult {
            groups_untracked: self.untracked,
            ..ThresholdResult::new(t, over.len() as u64, groups)
        };
        Some(agg.finding(d, Some(result)))
    }

    /// The finding of one group below the threshold, as it would read if it crossed.
    pub(super) fn group_finding(
        &self,
        d: &Detection,
        t: &Threshold,
        key: &str,
        g: &Group,
    ) -> Finding {
        let result = ThresholdResult::new(t, 1, vec![self.group_result(key, g)]);
        g.agg.finding(d, Some(result))
    }

    /// How one group counted, as a finding reports it.
    pub(super) fn group_result(&self, key: &str, g: &Group) -> ThresholdGroup {
        ThresholdGroup {
            key: key.to_string(),
            peak: g.peak,
            peak_capped: g.peak >= self.window_cap as u64,
            matches: g.agg.count,
        }
    }

    pub(super) fn below(&self, d: &Detection, t: &Threshold) -> Vec<GroupFinding> {
        let mut out: Vec<GroupFinding> = self
            .groups
            .iter()
            .filter(|(_, g)| g.peak < u64::from(t.count))
            .map(|(k, g)| GroupFinding {
                detection: d.id.clone(),
                key: k.clone(),
                finding: self.group_finding(d, t, k, g),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}
