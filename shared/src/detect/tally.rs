//! The counters of one aggregate (a detection's, or one threshold group's): for each of its
//! dimensions (principals, regions, ...) the most frequent values, kept by Space-Saving, with
//! every value's text in one buffer.
//!
//! A threshold group is an aggregate, and a scan holds thousands of them, most with one or two
//! matches. Six counters of their own strings cost a new group a dozen allocations; here it
//! costs two (the text and the slots). A full counter replaces a value in place, without
//! allocating, and a large counter finds its values through a table of slot numbers.

use super::index::FxHasher;
use hashbrown::HashTable;
use std::hash::Hasher;

/// A dimension of an aggregate (see [`Tallies::add`]).
pub(super) type Dim = u8;
pub(super) const PRINCIPALS: Dim = 0;
pub(super) const REGIONS: Dim = 1;
pub(super) const ACCOUNTS: Dim = 2;
pub(super) const EVENT_NAMES: Dim = 3;
pub(super) const ERROR_CODES: Dim = 4;
pub(super) const SOURCE_IPS: Dim = 5;
/// Counted dimensions.
const DIMS: usize = 6;
/// Slots of this kind hold a plain text (a sample's event id, a time stamp): not counted,
/// never replaced by [`Tallies::add`], kept in the order they were written.
const TEXT: Dim = u8::MAX;

/// Counters of at most this many values are searched as a list; larger ones keep a table.
const SMALL_COUNTER: usize = 16;
/// Least counted values a full large counter lists at a time, to evict without a scan each
/// time (slot numbers: the list costs no allocation per value).
const LOW_BATCH: usize = 64;
/// Text left behind by replaced values that a buffer may hold before it is compacted (beyond
/// as much as its live text).
const SLACK: usize = 1024;

/// Where a value's text is, and its count. 32 bytes.
#[derive(Debug, Clone, Copy)]
struct Slot {
    dim: Dim,
    /// Values are strings of one record, which is under [`crate::logfile::MAX_RECORD_BYTES`].
    len: u32,
    at: usize,
    count: u64,
    /// Space-Saving's possible overcount (inherited from the value this one replaced).
    err: u64,
}

/// A large counter's lookup: value -> slot number.
#[derive(Debug, Clone, Default)]
struct Table {
    slots: HashTable<u32>,
    /// Once full: slots whose count was `low_count` (the smallest) when last looked at. Counts
    /// only grow and a newcomer starts above the smallest, so one still at `low_count` is a
    /// smallest: a scan of the counter serves up to [`LOW_BATCH`] evictions.
    low: Vec<u32>,
    low_count: u64,
}

/// Space-Saving counters of [`DIMS`] dimensions, each keeping at most `cap` values: when full,
/// a new value replaces a least counted one and inherits its count as possible error, so the
/// most frequent values stay in. Reported counts are the guaranteed part (count - error):
/// exact for values that never replaced another, and exact everywhere while fewer than `cap`
/// values were seen.
#[derive(Debug, Clone)]
pub(super) struct Tallies {
    /// Every value's text, one after another; replaced values leave bytes behind until the
    /// next compaction (see [`SLACK`]).
    text: Vec<u8>,
    /// Bytes of `text` that slots point at.
    live: usize,
    slots: Vec<Slot>,
    /// Per dimension, when `cap` is above [`SMALL_COUNTER`] (empty otherwise).
    tables: Vec<Table>,
    /// Values per dimension.
    len: [u32; DIMS],
    cap: u32,
    /// Bit `d`: dimension `d` replaced a value (its distinct count is a lower bound).
    overflowed: u8,
    /// Per dimension, the slot last counted into (a hint, its text checked before use:
    /// consecutive records often share a region, an account, an event name), `u32::MAX` for
    /// none. Only [`Tallies::add`] sets it, to a slot of that dimension.
    last: [u32; DIMS],
}

/// A value as [`Tallies::top`] gives it: (value, guaranteed count).
pub(super) type Top<'a> = (&'a str, u64);

fn hash(v: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(v);
    h.finish()
}

impl Tallies {
    pub(super) fn with_cap(cap: usize) -> Self {
        Tallies {
            text: Vec::new(),
            live: 0,
            slots: Vec::new(),
            tables: if cap > SMALL_COUNTER {
                vec![Table::default(); DIMS]
            } else {
                Vec::new()
            },
            len: [0; DIMS],
            cap: u32::try_from(cap).unwrap_or(u32::MAX),
            overflowed: 0,
            last: [u32::MAX; DIMS],
        }
    }

    fn bytes(&self, i: usize) -> &[u8] {
        let s = &self.slots[i];
        &self.text[s.at..s.at + s.len as usize]
    }

    /// The text of a slot (whole `&str`s are written, so this never fails).
    pub(super) fn text(&self, i: u32) -> &str {
        std::str::from_utf8(self.bytes(i as usize)).unwrap_or_default()
    }

    /// Counts `v` `n` more times in dimension `dim`, with `err` of possible overcount.
    pub(super) fn add(&mut self, dim: Dim, v: &str, n: u64, err: u64) {
        let d = dim as usize;
        let v = v.as_bytes();
        // The value counted last in this dimension: no hashing, no table probe. (A value
        // has one slot per dimension, so this is the slot the table would give.)
        let hint = self.last[d] as usize;
        if hint < self.slots.len() && self.bytes(hint) == v {
            let s = &mut self.slots[hint];
            s.count += n;
            s.err += err;
            return;
        }
        let h = if self.tables.is_empty() { 0 } else { hash(v) };
        let found = if self.tables.is_empty() {
            let (slots, text) = (&self.slots, &self.text);
            slots
                .iter()
                .position(|s| s.dim == dim && &text[s.at..s.at + s.len as usize] == v)
        } else {
            let (slots, text) = (&self.slots, &self.text);
            self.tables[d]
                .slots
                .find(h, |&i| {
                    let s = &slots[i as usize];
                    &text[s.at..s.at + s.len as usize] == v
                })
                .map(|&i| i as usize)
        };
        if let Some(i) = found {
            let s = &mut self.slots[i];
            s.count += n;
            s.err += err;
            self.last[d] = i as u32;
            return;
        }
        if self.len[d] < self.cap {
            let i = self.push(dim, v, n, err);
            self.last[d] = i as u32;
            self.len[d] += 1;
            if !self.tables.is_empty() {
                self.index(d, i, h);
            }
            return;
        }
        // Full: the new value replaces a least counted one and inherits its count as error.
        let Some(i) = self.smallest(d) else { return };
        if !self.tables.is_empty() {
            let old = hash(self.bytes(i));
            if let Ok(entry) = self.tables[d].slots.find_entry(old, |&j| j as usize == i) {
                entry.remove();
            }
        }
        let min = self.slots[i].count;
        self.write(i, v);
        self.last[d] = i as u32;
        let s = &mut self.slots[i];
        s.count = min + n;
        s.err = min + err;
        if !self.tables.is_empty() {
            self.index(d, i, h);
        }
        self.overflowed |= 1 << d;
    }

    /// Adds slot `i` (whose text hashes to `h`) to dimension `d`'s table.
    fn index(&mut self, d: usize, i: usize, h: u64) {
        let (slots, text) = (&self.slots, &self.text);
        self.tables[d].slots.insert_unique(h, i as u32, |&j| {
            let s = &slots[j as usize];
            hash(&text[s.at..s.at + s.len as usize])
        });
    }

    /// A least counted slot of dimension `d` (which is full).
    fn smallest(&mut self, d: usize) -> Option<usize> {
        let dim = d as Dim;
        if self.tables.is_empty() {
            return self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.dim == dim)
                .min_by_key(|(_, s)| s.count)
                .map(|(i, _)| i);
        }
        let slots = &self.slots;
        let t = &mut self.tables[d];
        loop {
            while let Some(i) = t.low.pop() {
                if slots[i as usize].count == t.low_count {
                    return Some(i as usize);
                }
            }
            let min = t.slots.iter().map(|&i| slots[i as usize].count).min()?;
            t.low_count = min;
            t.low.extend(
                t.slots
                    .iter()
                    .copied()
                    .filter(|&i| slots[i as usize].count == min)
                    .take(LOW_BATCH),
            );
        }
    }

    /// A new slot holding `v`; its number.
    fn push(&mut self, dim: Dim, v: &[u8], count: u64, err: u64) -> usize {
        let at = self.text.len();
        self.text.extend_from_slice(v);
        self.live += v.len();
        self.slots.push(Slot {
            dim,
            len: v.len() as u32,
            at,
            count,
            err,
        });
        self.slots.len() - 1
    }

    /// Puts `v` in slot `i`: in place when it fits, else at the end of the text.
    fn write(&mut self, i: usize, v: &[u8]) {
        let s = &mut self.slots[i];
        self.live -= s.len as usize;
        self.live += v.len();
        if v.len() <= s.len as usize {
            self.text[s.at..s.at + v.len()].copy_from_slice(v);
        } else {
            s.at = self.text.len();
            self.text.extend_from_slice(v);
        }
        s.len = v.len() as u32;
        if self.text.len() > 2 * self.live + SLACK {
            self.compact();
        }
    }

    /// Drops the text no slot points at.
    fn compact(&mut self) {
        let mut text = Vec::with_capacity(self.live + self.live / 2);
        for s in &mut self.slots {
            let at = text.len();
            text.extend_from_slice(&self.text[s.at..s.at + s.len as usize]);
            s.at = at;
        }
        self.text = text;
    }

    /// A plain text (not counted) in a slot of its own; its number, to read it with
    /// [`Tallies::text`] and change it with [`Tallies::set_text`].
    pub(super) fn push_text(&mut self, v: &str) -> u32 {
        self.push(TEXT, v.as_bytes(), 0, 0) as u32
    }

    pub(super) fn set_text(&mut self, i: u32, v: &str) {
        self.write(i as usize, v.as_bytes());
    }

    /// Every counted value of dimension `dim` with its (count, error).
    fn entries(&self, dim: Dim) -> impl Iterator<Item = (&str, u64, u64)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.dim == dim)
            .map(|(i, s)| (self.text(i as u32), s.count, s.err))
    }

    /// The `n` values of `dim` with the highest guaranteed counts (ties: the higher count,
    /// then the value).
    pub(super) fn top(&self, dim: Dim, n: usize) -> Vec<Top<'_>> {
        let mut v: Vec<(&str, u64, u64)> =
            self.entries(dim).map(|(k, c, e)| (k, c - e, c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then_with(|| a.0.cmp(b.0)));
        v.into_iter()
            .take(n)
            .map(|(k, sure, _)| (k, sure))
            .collect()
    }

    /// Distinct values seen in `dim`, and whether that is only a lower bound.
    pub(super) fn distinct(&self, dim: Dim) -> (u64, bool) {
        (
            u64::from(self.len[dim as usize]),
            self.overflowed & (1 << dim) != 0,
        )
    }

    /// Adds another aggregate's counts (its plain texts are not taken).
    pub(super) fn merge(&mut self, other: &Tallies) {
        for (i, s) in other.slots.iter().enumerate() {
            if s.dim != TEXT {
                self.add(s.dim, other.text(i as u32), s.count, s.err);
            }
        }
        self.overflowed |= other.overflowed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn total(t: &Tallies, dim: Dim) -> u64 {
        t.entries(dim).map(|(_, n, _)| n).sum()
    }

    /// Both kinds of counter (a threshold group's list, a detection's table with its batched
    /// evictions) keep Space-Saving's promises on a stream with heavy values, a long tail and
    /// counts that grow while values are evicted: the total is kept, no reported count exceeds
    /// the true one, every value seen more than total/cap times is kept, and counts are exact
    /// until the counter fills. The other dimensions sharing the buffer are not disturbed.
    #[test]
    fn small_and_large_counters_keep_space_saving_guarantees() {
        // A threshold group's cap, the largest list, a detection's cap.
        for cap in [8, SMALL_COUNTER, 256] {
            let mut c = Tallies::with_cap(cap);
            let mut truth: HashMap<String, u64> = HashMap::new();
            let mut add = |c: &mut Tallies, v: String| {
                c.add(SOURCE_IPS, &v, 1, 0);
                *truth.entry(v).or_default() += 1;
            };
            for i in 0..(cap as u64 - 1) {
                add(&mut c, format!("early-{i}"));
            }
            c.add(REGIONS, "us-east-1", 1, 0);
            let exact: Vec<_> = c.top(SOURCE_IPS, usize::MAX);
            assert!(
                exact.iter().all(|&(_, n)| n == 1) && exact.len() == cap - 1,
                "{exact:?}"
            );
            assert!(!c.distinct(SOURCE_IPS).1);
            let stamp = c.push_text("2024-01-01T00:00:00Z");
            for i in 0..20_000u64 {
                // A long tail, two heavy values, and a value that comes back ever more often;
                // values of other lengths than the ones they replace.
                add(&mut c, format!("tail-{i}{}", "x".repeat((i % 7) as usize)));
                if i % 3 == 0 {
                    add(&mut c, "heavy-a".to_string());
                }
                if i % 11 == 0 {
                    add(&mut c, "heavy-b".to_string());
                }
                if i % 997 < i / 1000 {
                    add(&mut c, "growing".to_string());
                }
                if i % 1000 == 0 {
                    c.add(REGIONS, "us-east-1", 1, 0);
                    c.set_text(stamp, &format!("2024-01-01T00:00:{:02}Z", i % 60));
                }
            }
            let total_seen: u64 = truth.values().sum();
            assert_eq!(total(&c, SOURCE_IPS), total_seen, "cap {cap}");
            assert_eq!(c.distinct(SOURCE_IPS), (cap as u64, true), "cap {cap}");
            let top = c.top(SOURCE_IPS, usize::MAX);
            for (v, n) in &top {
                assert!(*n <= truth[*v], "cap {cap}: {v} {n}");
            }
            for (v, n) in &truth {
                if *n > total_seen / cap as u64 {
                    assert!(top.iter().any(|(x, _)| x == v), "cap {cap}: {v} ({n}) lost");
                }
            }
            assert!(truth["heavy-a"] > total_seen / cap as u64);
            assert_eq!(top[0].0, "heavy-a", "cap {cap}");
            // The other dimension and the plain text are intact after every replacement and
            // compaction.
            assert_eq!(c.top(REGIONS, 10), vec![("us-east-1", 21)], "cap {cap}");
            assert_eq!(c.distinct(REGIONS), (1, false));
            // The last stamp written, at i = 19,000.
            assert_eq!(c.text(stamp), "2024-01-01T00:00:40Z");
            // Replaced values' text does not pile up, nor do their table entries.
            assert!(c.text.len() <= 2 * c.live + SLACK, "cap {cap}");
            for (d, t) in c.tables.iter().enumerate() {
                assert_eq!(t.slots.len(), c.len[d] as usize, "cap {cap}, dimension {d}");
            }
        }
    }

    #[test]
    fn merging_adds_counts_and_keeps_the_overflow_mark() {
        let mut a = Tallies::with_cap(4);
        let mut b = Tallies::with_cap(4);
        for v in ["x", "y", "x"] {
            a.add(PRINCIPALS, v, 1, 0);
        }
        // `s` replaces `p` (the first least counted) and inherits its count as error.
        for v in ["x", "x", "p", "q", "r", "s"] {
            b.add(PRINCIPALS, v, 1, 0);
        }
        assert_eq!(b.distinct(PRINCIPALS), (4, true));
        b.push_text("not counted");
        let mut m = Tallies::with_cap(256);
        m.merge(&a);
        m.merge(&b);
        assert_eq!(m.top(PRINCIPALS, 2), vec![("x", 4), ("s", 1)]);
        assert_eq!(m.distinct(PRINCIPALS), (5, true));
        assert_eq!(total(&m, PRINCIPALS), 9);
        assert_eq!(m.top(REGIONS, 10), vec![]);
    }
}
