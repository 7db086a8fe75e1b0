//! Engine internals: how a catalog is indexed so that each record is tested only against the
//! detections that can match it (by `eventName`, `eventSource`), with shared literal checks
//! run once per record.

use super::project;
use super::Detection;
use std::collections::{BTreeSet, HashMap};

/// A small, fast hasher (FxHash) for the index: keys are short and not attacker-chosen in a
/// way that matters (a slow lookup is the worst outcome).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// A cheap test on a record's raw bytes: a top-level field must contain one of these JSON
/// strings somewhere (the pattern only accepts those exact values at a path below it). A
/// field holding a backslash is not judged (an escape could spell the value differently).
#[derive(Debug, Clone)]
pub(crate) struct Literal {
    /// Key id (see [`Index::keys`]).
    pub key: usize,
    values: BTreeSet<String>,
    quoted: bool,
    needles: Vec<memchr::memmem::Finder<'static>>,
}

impl Literal {
    /// False only when the field cannot hold any of the values. `escapes`: false when the
    /// field is known to hold no backslash (else it is looked for).
    #[inline]
    pub fn may_match(&self, raw: &[u8], escapes: bool) -> bool {
        (escapes && memchr::memchr(b'\\', raw).is_some())
            || self.needles.iter().any(|n| n.find(raw).is_some())
    }
}

/// What the scanner needs to know about one detection, with keys and literals interned so
/// that checks shared by many detections run once per record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// Top-level fields (key ids) that must be present for a match.
    pub required: Vec<usize>,
    /// Literal ids that must pass.
    pub literals: Vec<usize>,
    /// Top-level fields (key ids) the pattern reads.
    pub reads: Vec<usize>,
}

/// How detections are chosen for a record: by `eventName`, else by `eventSource`, else always.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// Keyed by the values' UTF-8 bytes, so that a record's plain ASCII value is looked up as
    /// it is written, without a UTF-8 check.
    pub by_name: FxMap<Box<[u8]>, Vec<usize>>,
    pub by_source: FxMap<Box<[u8]>, Vec<usize>>,
    pub always: Vec<usize>,
    /// Interned top-level field names.
    pub keys: Vec<String>,
    /// Their signatures ([`crate::logfile::key_sig`]), by key id: a pattern's field is found
    /// among a record's parsed fields by one number per field, its name compared only on a
    /// likely hit.
    pub key_sigs: Vec<u64>,
    /// Per key id: the nested paths the catalog reads below it (a leaf: the whole value).
    pub projections: Vec<project::FieldTree>,
    /// Interned literal tests.
    pub literals: Vec<Literal>,
    /// Per detection.
    pub plans: Vec<Plan>,
    /// The key id of `userIdentity` when some detection reads it: its projection then also
    /// holds the caller's fields ([`CALLER_PATHS`]), so that a matching record's caller is
    /// read from it instead of parsing the identity a second time.
    pub caller_key: Option<usize>,
    /// The key ids of `eventName` and `eventSource` when some detection reads them: the
    /// scanner has read them already (to choose the candidates), so a plain one is not
    /// projected again.
    pub name_key: Option<usize>,
    pub source_key: Option<usize>,
    /// Per detection, per `group_by` path of its threshold (empty without one): the key id
    /// whose projection holds the path whole, so that the group key is read from it.
    pub group_tops: Vec<Vec<Option<usize>>>,
    /// Per detection: the detections (without a threshold) that supersede it when they match
    /// the same record ([`Detection::superseded_by`], ids resolved in this catalog).
    pub superseded_by: Vec<Vec<usize>>,
    /// Whether any detection can be superseded (else matches need no second look).
    pub supersedes: bool,
}

impl Index {
    /// Drops from `matched` (indices of the detections a record matched, in catalog order)
    /// those superseded by another detection in it.
    pub(crate) fn drop_superseded(&self, matched: &mut Vec<usize>) {
        if !self.supersedes || matched.len() < 2 {
            return;
        }
        let keep: Vec<bool> = matched
            .iter()
            .map(|&i| !self.superseded_by[i].iter().any(|s| matched.contains(s)))
            .collect();
        let mut k = keep.into_iter();
        matched.retain(|_| k.next().unwrap_or(true));
    }
}

/// A `group_by` path as (top-level field, the rest of the path), and whether the rest names
/// array positions (then the group key reads the whole top-level value).
pub(crate) fn split_group_path(path: &str) -> (&str, &str, bool) {
    let (top, rest) = path.split_once('.').unwrap_or((path, ""));
    let positional = rest.split('.').any(|seg| seg.parse::<usize>().is_ok());
    (top, rest, positional)
}

/// A dot-separated path as segments (none for the empty path).
fn segments(path: &str) -> Vec<String> {
    match path {
        "" => Vec::new(),
        path => path.split('.').map(str::to_string).collect(),
    }
}

/// The paths below `userIdentity` that [`crate::event::Caller`] reads.
pub(crate) const CALLER_PATHS: [&[&str]; 7] = [
    &["type"],
    &["principalId"],
    &["arn"],
    &["accountId"],
    &["userName"],
    &["invokedBy"],
    &["sessionContext", "sessionIssuer", "arn"],
];

impl Index {
    /// The id of a top-level field some detection reads.
    fn find_key(&self, k: &str) -> Option<usize> {
        self.keys.iter().position(|x| x == k)
    }

    fn key_id(&mut self, k: &str) -> usize {
        match self.find_key(k) {
            Some(i) => i,
            None => {
                self.keys.push(k.to_string());
                self.key_sigs.push(crate::logfile::key_sig(k.as_bytes()));
                self.projections.push(project::FieldTree::partial());
                self.keys.len() - 1
            }
        }
    }

    fn literal_id(&mut self, key: usize, values: BTreeSet<String>) -> usize {
        self.needle_id(key, values, true)
    }

    /// A test that the raw text of top-level field `key` holds one of `values`, as JSON
    /// strings (`quoted`) or as bare pieces of text (parts of wildcards, prefixes).
    fn needle_id(&mut self, key: usize, values: BTreeSet<String>, quoted: bool) -> usize {
        if let Some(i) = self
            .literals
            .iter()
            .position(|l| l.key == key && l.values == values && l.quoted == quoted)
        {
            return i;
        }
        let needles = values
            .iter()
            .map(|v| {
                let text = if quoted {
                    serde_json::to_string(v).expect("a string serializes")
                } else {
                    v.clone()
                };
                memchr::memmem::Finder::new(text.as_bytes()).into_owned()
            })
            .collect();
        self.literals.push(Literal {
            key,
            values,
            quoted,
            needles,
        });
        self.literals.len() - 1
    }

    pub(super) fn build(detections: &[Detection]) -> Index {
        let mut ix = Index::default();
        for (i, d) in detections.iter().enumerate() {
            if let Some(names) = d.pattern.required_strings(&["eventName"]) {
                for n in names {
                    ix.by_name.entry(n.into_bytes().into()).or_default().push(i);
                }
            } else if let Some(sources) = d.pattern.required_strings(&["eventSource"]) {
                for s in sources {
                    ix.by_source
                        .entry(s.into_bytes().into())
                        .or_default()
                        .push(i);
                }
            } else {
                ix.always.push(i);
            }
            let mut plan = Plan::default();
            for k in d.pattern.required_top_level_fields() {
                let id = ix.key_id(&k);
                plan.required.push(id);
            }
            for path in d.pattern.fields() {
                let (top, rest) = path.split_first().expect("paths are never empty");
                let key = ix.key_id(top);
                ix.projections[key].add(rest);
                if !plan.reads.contains(&key) {
                    plan.reads.push(key);
                }
                if path.len() == 1 && (path[0] == "eventName" || path[0] == "eventSource") {
                    continue; // the index already looked at these
                }
                let segs: Vec<&str> = path.iter().map(String::as_str).collect();
                let Some(values) = d.pattern.required_strings(&segs) else {
                    if let Some(pieces) = d.pattern.required_fragments(&segs) {
                        if !pieces.is_empty() && pieces.len() <= 32 {
                            let lit = ix.needle_id(key, pieces, false);
                            if !plan.literals.contains(&lit) {
                                plan.literals.push(lit);
                            }
                        }
                    }
                    continue;
                };
                if values.is_empty() || values.len() > 32 {
                    continue;
                }
                let lit = ix.literal_id(key, values);
                if !plan.literals.contains(&lit) {
                    plan.literals.push(lit);
                }
            }
            // A nested field the pattern needs has its name, quoted, in the top-level field's
            // text: a cheap test before parsing (`requestParameters` holding
            // `"x-amz-server-side-encryption-customer-algorithm"`, say).
            for path in d.pattern.required_nested_paths() {
                let key = ix.key_id(&path[0]);
                let name = path.last().expect("two or more segments").clone();
                let lit = ix.literal_id(key, BTreeSet::from([name]));
                if !plan.literals.contains(&lit) {
                    plan.literals.push(lit);
                }
            }
            ix.plans.push(plan);
        }
        // Threshold groups are keyed by fields of the record (`userIdentity.arn`, mostly):
        // the keyed paths join the projections, and the key is read from the projection when a
        // candidate had that field parsed.
        for d in detections {
            let paths = d.threshold.as_ref().map_or(&[][..], |t| &t.group_by[..]);
            let tops = paths
                .iter()
                .map(|path| {
                    let (top, rest, positional) = split_group_path(path);
                    // A field no detection reads is never parsed for the candidates.
                    let key = ix.find_key(top).filter(|_| !positional)?;
                    ix.projections[key].add(&segments(rest));
                    Some(key)
                })
                .collect();
            ix.group_tops.push(tops);
        }
        ix.caller_key = ix.find_key("userIdentity");
        ix.name_key = ix.find_key("eventName");
        ix.source_key = ix.find_key("eventSource");
        if let Some(k) = ix.caller_key {
            for path in CALLER_PATHS {
                let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
                ix.projections[k].add(&path);
            }
        }
        let position = |id: &str| detections.iter().position(|d| d.id == id);
        ix.superseded_by = detections
            .iter()
            .map(|d| d.superseded_by.iter().filter_map(|s| position(s)).collect())
            .collect();
        ix.supersedes = ix.superseded_by.iter().any(|s| !s.is_empty());
        ix
    }

    /// Detections that can match a record with these `eventName`/`eventSource` values (their
    /// text as UTF-8 bytes; `Some(None)`: absent). `None` for a value that is present but not
    /// a string (or not valid UTF-8): then every detection is a candidate.
    pub fn candidates(
        &self,
        name: Option<Option<&[u8]>>,
        source: Option<Option<&[u8]>>,
        all: usize,
        out: &mut Vec<usize>,
    ) {
        out.clear();
        let (Some(name), Some(source)) = (name, source) else {
            out.extend(0..all);
            return;
        };
        if let Some(v) = name.and_then(|n| self.by_name.get(n)) {
            out.extend_from_slice(v);
        }
        if let Some(v) = source.and_then(|s| self.by_source.get(s)) {
            out.extend_from_slice(v);
        }
        out.extend_from_slice(&self.always);
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::project::FieldTree;
    use crate::detect::{BuiltinOptions, Catalog, Detection, Scanner};
    use crate::pattern::{Pattern, View};
    use std::collections::BTreeSet;

    /// The verdict of `pattern` on a record's text, matched the scanner's way: fields parsed
    /// into borrowed values (no maps), whole.
    fn raw_verdict(pattern: &Pattern, text: &str) -> bool {
        let mut whole = FieldTree::partial();
        whole.add(&[]);
        let v = whole.project_raw(text.as_bytes()).expect("valid JSON");
        pattern.matches_fields(|k| v.get(k))
    }

    /// The scanner's borrowed values give every built-in detection the verdict serde_json's
    /// values give, on every example record of the catalog, written plainly and with escapes
    /// (`\/`, `\u0041`: strings that cannot be borrowed from the text).
    #[test]
    fn borrowed_values_match_like_serde_values_on_every_builtin_example() {
        let cat = Catalog::builtin(BuiltinOptions::default());
        let mut checked = 0;
        let mut matched = 0;
        for d in cat.detections() {
            for ex in d.examples.matching.iter().chain(&d.examples.no_match) {
                let plain = ex.to_string();
                let escaped = plain.replace('/', "\\/").replace('A', "\\u0041");
                assert_eq!(
                    serde_json::from_str::<serde_json::Value>(&escaped).unwrap(),
                    *ex
                );
                let mut whole = FieldTree::partial();
                whole.add(&[]);
                for text in [&plain, &escaped] {
                    let v = whole.project_raw(text.as_bytes()).expect("valid JSON");
                    for o in cat.detections() {
                        let want = o.pattern.matches(ex);
                        let got = o.pattern.matches_fields(|k| v.get(k));
                        assert_eq!(got, want, "{} on {text}", o.id);
                        checked += 1;
                        matched += usize::from(want);
                    }
                }
            }
        }
        assert!(
            checked > 100_000 && matched > 500,
            "{checked} checks, {matched} matches"
        );
    }

    /// Numbers, repeated keys, nulls, nested arrays and JSON documents kept in strings or as
    /// objects: the borrowed values agree with serde_json's on each.
    #[test]
    fn borrowed_values_match_like_serde_values_on_edge_cases() {
        let patterns = [
            r#"{"n": [{"numeric": [">", 5, "<=", 7]}]}"#,
            r#"{"n": [6]}"#,
            r#"{"n": [6.0]}"#,
            r#"{"d": ["b"]}"#,
            r#"{"d": [null]}"#,
            r#"{"d": [{"exists": false}]}"#,
            r#"{"d": [{"exists": true}]}"#,
            r#"{"b": [true]}"#,
            r#"{"o": {"k": ["x"]}}"#,
            r#"{"o": {"k": [{"anything-but": "x"}]}}"#,
            r#"{"p": [{"json": {"Statement": {"Principal": ["*"]}}}]}"#,
            r#"{"$or": [{"n": [1]}, {"o": {"k": [{"prefix": "x"}]}}]}"#,
        ];
        let records = [
            r#"{"n": 6}"#,
            r#"{"n": 6.0, "d": "a", "d": "b"}"#,
            r#"{"n": 7.5, "d": null, "b": true}"#,
            r#"{"n": -1, "n": 1, "d": [], "o": [{"k": "y"}, {"k": ["x", "z"]}]}"#,
            r#"{"n": 18446744073709551615, "o": {"k": "x\u0079"}, "b": "true"}"#,
            r#"{"n": "6", "d": [["b"]], "o": "k"}"#,
            r#"{"p": "{\"Statement\": [{\"Principal\": \"*\"}]}"}"#,
            r#"{"p": "%7B%22Statement%22%3A%7B%22Principal%22%3A%22%2A%22%7D%7D"}"#,
            r#"{"p": {"Statement": {"Principal": ["x", "*"]}}}"#,
            r#"{"p": ["{\"Statement\": {\"Principal\": \"a\"}}", "{\"Statement\": {\"Principal\": \"*\"}}"]}"#,
            r#"{"p": 5, "o": {"k": "xy"}}"#,
        ];
        let mut agreed = [0usize; 2];
        for p in patterns {
            let pattern = Pattern::parse(p).unwrap();
            for r in records {
                let value: serde_json::Value = serde_json::from_str(r).unwrap();
                let want = pattern.matches(&value);
                assert_eq!(raw_verdict(&pattern, r), want, "{p} on {r}");
                agreed[usize::from(want)] += 1;
            }
        }
        // Both verdicts occur, so the comparison means something.
        assert!(agreed[0] > 10 && agreed[1] > 10, "{agreed:?}");
    }

    /// The engine's shortcuts (the index, the required fields, the text searches before
    /// parsing) never change a verdict: every example record of every built-in detection,
    /// scanned alone as a log file, raises exactly the detections whose pattern matches it
    /// (less those superseded by another of them).
    #[test]
    fn shortcuts_never_change_a_verdict_on_any_builtin_example() {
        let cat = Catalog::builtin(BuiltinOptions::default());
        let mut checked = 0;
        for d in cat.detections() {
            for ex in d.examples.matching.iter().chain(&d.examples.no_match) {
                let matched: Vec<&Detection> = cat
                    .detections()
                    .iter()
                    .filter(|o| o.threshold.is_none() && o.pattern.matches(ex))
                    .collect();
                // Less those a stronger matched detection supersedes.
                let want: BTreeSet<&str> = matched
                    .iter()
                    .filter(|o| {
                        !o.superseded_by
                            .iter()
                            .any(|s| matched.iter().any(|m| &m.id == s))
                    })
                    .map(|o| o.id.as_str())
                    .collect();
                let file = serde_json::json!({ "Records": [ex] }).to_string();
                let mut s = Scanner::new(&cat);
                s.scan_reader("example", std::io::Cursor::new(file.into_bytes()))
                    .unwrap();
                let report = s.finish();
                let got: BTreeSet<&str> = report
                    .findings
                    .iter()
                    .filter(|f| f.threshold.is_none())
                    .map(|f| f.detection.as_str())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .map(|id| cat.get(id).expect("a known detection").id.as_str())
                    .collect();
                assert_eq!(got, want, "example of {}: {ex}", d.id);
                checked += 1;
            }
        }
        assert!(checked > 500, "{checked} examples");
    }
}
