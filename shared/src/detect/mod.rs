//! Detections as data, and the engine that runs them over CloudTrail records.
//!
//! A detection is an id, a title, a severity, a description, references (CIS AWS Foundations
//! v1.4 control, MITRE ATT&CK techniques), a [`Pattern`] over one CloudTrail record (what is
//! `detail` in an EventBridge event) and optionally a threshold (so many matches within a time
//! window, per group). The built-in catalog is `shared/detections/builtin.json`, compiled into
//! the binary; users add or override detections by id with their own file in the same format
//! (`{"detections": [...]}`), and turn a built-in off with `{"id": "...", "enabled": false}`.
//!
//! Each detection may carry `examples` (`match` / `no_match` records); they are checked when the
//! catalog is loaded, so a user's detection that does not do what its author meant fails the
//! cold start with its id and the example that went wrong.
//!
//! [`scan`] runs a catalog over log files; [`Catalog::matching`] over one record.

pub mod finding;
pub mod scan;

pub use finding::{Counted, Finding, ThresholdGroup, ThresholdResult};
pub use scan::{scan_reader, FileSummary, RecordProblem, ScanError, ScanReport, Scanner};

use crate::alert::Severity;
use crate::pattern::Pattern;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// The built-in catalog, as shipped.
pub const BUILTIN_JSON: &str = include_str!("../../detections/builtin.json");

/// The id of the CIS 4.2 detection, which [`BuiltinOptions::exclude_federated_signin`] narrows.
pub const CIS_4_2_ID: &str = "cis-4.2-console-signin-without-mfa";

/// Choices that change built-in detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinOptions {
    /// CIS 4.2: count only IAM users and root. IAM Identity Center and SAML/OIDC federated
    /// sign-ins always report `MFAUsed: "No"` (MFA happened at the identity provider), which is
    /// the false positive users complain about most. Default true.
    pub exclude_federated_signin: bool,
}

impl Default for BuiltinOptions {
    fn default() -> Self {
        BuiltinOptions {
            exclude_federated_signin: true,
        }
    }
}

/// Where a detection comes from and what it points to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct References {
    /// CIS AWS Foundations Benchmark v1.4.0 control, e.g. `4.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cis: Option<String>,
    /// MITRE ATT&CK technique ids, e.g. `T1078.004`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitre_attack: Vec<String>,
    /// Further reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl References {
    /// One readable line per reference, as alerts show them.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(c) = &self.cis {
            out.push(format!("CIS AWS Foundations Benchmark v1.4.0, control {c}"));
        }
        for t in &self.mitre_attack {
            out.push(format!(
                "MITRE ATT&CK {t}: https://attack.mitre.org/techniques/{}/",
                t.replace('.', "/")
            ));
        }
        out.extend(self.urls.iter().cloned());
        out
    }
}

/// "So many matches within a window": the detection fires for a group only when at least
/// `count` of its matching records fall within `window_seconds` of each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub count: u32,
    pub window_seconds: u64,
    /// Record paths whose values form the group (`userIdentity.arn`); empty: one group.
    #[serde(default)]
    pub group_by: Vec<String>,
}

/// Records a detection must and must not match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matching: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_match: Vec<Value>,
}

/// A detection as written in a catalog file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    references: Option<References>,
    #[serde(default)]
    pattern: Option<Value>,
    #[serde(default)]
    threshold: Option<Threshold>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    examples: Option<Examples>,
}

/// A compiled detection.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    pub references: References,
    pub pattern: Pattern,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// `built-in`, or the file it came from.
    pub origin: String,
    #[serde(skip_serializing_if = "is_empty_examples")]
    pub examples: Examples,
}

fn is_empty_examples(e: &Examples) -> bool {
    e.matching.is_empty() && e.no_match.is_empty()
}

/// A detection file or entry that cannot be used: which file, which detection, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CatalogError {
    /// `built-in`, a path or an `s3://` URI.
    pub origin: String,
    /// The detection's id, when it has one.
    pub id: Option<String>,
    /// Position in the file's list (0-based).
    pub index: Option<usize>,
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.id, self.index) {
            (Some(id), _) => write!(f, "{}: detection {id:?}: {}", self.origin, self.message),
            (None, Some(i)) => write!(f, "{}: detection #{}: {}", self.origin, i + 1, self.message),
            (None, None) => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn valid_mitre(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

fn valid_path(p: &str) -> bool {
    !p.is_empty() && p.split('.').all(|s| !s.is_empty())
}

impl Detection {
    /// Compiles one detection from its JSON. `Ok(None)` for `{"id": ..., "enabled": false}`.
    fn compile(
        v: &Value,
        origin: &str,
        index: usize,
    ) -> Result<(String, Option<Detection>), CatalogError> {
        let fail = |id: Option<&str>, m: String| CatalogError {
            origin: origin.to_string(),
            id: id.map(str::to_string),
            index: Some(index),
            message: m,
        };
        let Value::Object(map) = v else {
            return Err(fail(None, "expected a detection object".into()));
        };
        let id = match map.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(fail(None, "\"id\" must be a string".into())),
            None => return Err(fail(None, "missing \"id\"".into())),
        };
        if !valid_id(&id) {
            return Err(fail(
                Some(&id),
                "invalid id: use up to 64 letters, digits, '-', '_', '.', ':' (starting with a letter or digit)".into(),
            ));
        }
        let mut rest = map.clone();
        rest.remove("id");
        let spec: Spec = serde_path_to_error::deserialize(Value::Object(rest)).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path.is_empty() || path == "." {
                fail(Some(&id), inner.to_string())
            } else {
                fail(Some(&id), format!("{path}: {inner}"))
            }
        })?;
        if spec.enabled == Some(false) {
            return Ok((id, None));
        }
        let title = spec
            .title
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| fail(Some(&id), "missing \"title\"".into()))?;
        if title.len() > 120 {
            return Err(fail(
                Some(&id),
                "\"title\" is longer than 120 characters".into(),
            ));
        }
        let severity = spec.severity.ok_or_else(|| {
            fail(
                Some(&id),
                "missing \"severity\" (info, low, medium, high or critical)".into(),
            )
        })?;
        let pattern_json = spec
            .pattern
            .ok_or_else(|| fail(Some(&id), "missing \"pattern\"".into()))?;
        let pattern = Pattern::compile(&pattern_json)
            .map_err(|e| fail(Some(&id), format!("pattern: {e}")))?;
        let references = spec.references.unwrap_or_default();
        if let Some(c) = &references.cis {
            let ok = c.split('.').count() == 2
                && c.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return Err(fail(
                    Some(&id),
                    format!("references.cis {c:?} is not a control number such as \"4.3\""),
                ));
            }
        }
        if let Some(t) = references.mitre_attack.iter().find(|t| !valid_mitre(t)) {
            return Err(fail(
                Some(&id),
                format!("references.mitre_attack {t:?} is not a technique id such as \"T1078\" or \"T1078.004\""),
            ));
        }
        if let Some(t) = &spec.threshold {
            if t.count == 0 || t.count > 1_000_000 {
                return Err(fail(
                    Some(&id),
                    "threshold.count must be between 1 and 1000000".into(),
                ));
            }
            if t.window_seconds == 0 || t.window_seconds > 7 * 86_400 {
                return Err(fail(
                    Some(&id),
                    "threshold.window_seconds must be between 1 and 604800 (7 days)".into(),
                ));
            }
            if t.group_by.len() > 8 {
                return Err(fail(
                    Some(&id),
                    "threshold.group_by has more than 8 paths".into(),
                ));
            }
            if let Some(p) = t.group_by.iter().find(|p| !valid_path(p)) {
                return Err(fail(
                    Some(&id),
                    format!("threshold.group_by {p:?} is not a dotted record path such as \"userIdentity.arn\""),
                ));
            }
        }
        let examples = spec.examples.unwrap_or_default();
        let d = Detection {
            id: id.clone(),
            title,
            severity,
            description: spec.description.unwrap_or_default(),
            references,
            pattern,
            threshold: spec.threshold,
            origin: origin.to_string(),
            examples,
        };
        d.check_examples().map_err(|m| fail(Some(&id), m))?;
        Ok((id, Some(d)))
    }

    /// Checks the detection's own examples: every `match` record matches, no `no_match` does.
    pub fn check_examples(&self) -> Result<(), String> {
        for (i, ex) in self.examples.matching.iter().enumerate() {
            if !ex.is_object() {
                return Err(format!("examples.match[{i}] is not a record object"));
            }
            if !self.pattern.matches(ex) {
                return Err(format!(
                    "examples.match[{i}] does not match the pattern (eventName {})",
                    ex.get("eventName").unwrap_or(&Value::Null)
                ));
            }
        }
        for (i, ex) in self.examples.no_match.iter().enumerate() {
            if !ex.is_object() {
                return Err(format!("examples.no_match[{i}] is not a record object"));
            }
            if self.pattern.matches(ex) {
                return Err(format!(
                    "examples.no_match[{i}] matches the pattern (eventName {})",
                    ex.get("eventName").unwrap_or(&Value::Null)
                ));
            }
        }
        Ok(())
    }

    /// The references as readable lines.
    pub fn reference_lines(&self) -> Vec<String> {
        self.references.lines()
    }
}

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
    needles: Vec<memchr::memmem::Finder<'static>>,
}

impl Literal {
    /// False only when the field cannot hold any of the values.
    #[inline]
    pub fn may_match(&self, raw: &[u8]) -> bool {
        memchr::memchr(b'\\', raw).is_some() || self.needles.iter().any(|n| n.find(raw).is_some())
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
    pub by_name: FxMap<String, Vec<usize>>,
    pub by_source: FxMap<String, Vec<usize>>,
    pub always: Vec<usize>,
    /// Interned top-level field names.
    pub keys: Vec<String>,
    /// Per key id: the nested paths the catalog reads below it (a leaf: the whole value).
    pub projections: Vec<scan::FieldTree>,
    /// Interned literal tests.
    pub literals: Vec<Literal>,
    /// Per detection.
    pub plans: Vec<Plan>,
}

impl Index {
    fn key_id(&mut self, k: &str) -> usize {
        match self.keys.iter().position(|x| x == k) {
            Some(i) => i,
            None => {
                self.keys.push(k.to_string());
                self.projections.push(scan::FieldTree::partial());
                self.keys.len() - 1
            }
        }
    }

    fn literal_id(&mut self, key: usize, values: BTreeSet<String>) -> usize {
        if let Some(i) = self
            .literals
            .iter()
            .position(|l| l.key == key && l.values == values)
        {
            return i;
        }
        let needles = values
            .iter()
            .map(|v| {
                let quoted = serde_json::to_string(v).expect("a string serializes");
                memchr::memmem::Finder::new(quoted.as_bytes()).into_owned()
            })
            .collect();
        self.literals.push(Literal {
            key,
            values,
            needles,
        });
        self.literals.len() - 1
    }

    fn build(detections: &[Detection]) -> Index {
        let mut ix = Index::default();
        for (i, d) in detections.iter().enumerate() {
            if let Some(names) = d.pattern.required_strings(&["eventName"]) {
                for n in names {
                    ix.by_name.entry(n).or_default().push(i);
                }
            } else if let Some(sources) = d.pattern.required_strings(&["eventSource"]) {
                for s in sources {
                    ix.by_source.entry(s).or_default().push(i);
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
            ix.plans.push(plan);
        }
        ix
    }

    /// Detections that can match a record with these `eventName`/`eventSource` values
    /// (`Some(None)`: absent). `None` for a value that is present but not a plain string: then
    /// every detection is a candidate.
    pub fn candidates(
        &self,
        name: Option<Option<&str>>,
        source: Option<Option<&str>>,
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

/// A compiled, indexed set of detections.
#[derive(Debug, Clone)]
pub struct Catalog {
    detections: Vec<Detection>,
    pub(crate) index: Index,
}

fn parse_list(text: &str, origin: &str) -> Result<Vec<Value>, CatalogError> {
    let whole = |m: String| CatalogError {
        origin: origin.to_string(),
        id: None,
        index: None,
        message: m,
    };
    let v: Value = serde_json::from_str(text).map_err(|e| whole(format!("not valid JSON: {e}")))?;
    match v {
        Value::Array(a) => Ok(a),
        Value::Object(mut m) => {
            let extra: Vec<&String> = m.keys().filter(|k| *k != "detections").collect();
            if !extra.is_empty() {
                return Err(whole(format!(
                    "unknown top-level key {:?} (expected only \"detections\")",
                    extra[0]
                )));
            }
            match m.remove("detections") {
                Some(Value::Array(a)) => Ok(a),
                Some(_) => Err(whole("\"detections\" must be an array".into())),
                None => Err(whole("expected {\"detections\": [...]}".into())),
            }
        }
        _ => Err(whole(
            "expected {\"detections\": [...]} or an array of detections".into(),
        )),
    }
}

impl Catalog {
    /// A catalog of the given detections (ids must be unique).
    pub fn new(detections: Vec<Detection>) -> Result<Catalog, CatalogError> {
        let mut seen = BTreeSet::new();
        for d in &detections {
            if !seen.insert(d.id.as_str()) {
                return Err(CatalogError {
                    origin: d.origin.clone(),
                    id: Some(d.id.clone()),
                    index: None,
                    message: "duplicate id".into(),
                });
            }
        }
        let index = Index::build(&detections);
        Ok(Catalog { detections, index })
    }

    /// The built-in catalog.
    pub fn builtin(opts: BuiltinOptions) -> Catalog {
        let mut list = parse_list(BUILTIN_JSON, "built-in").expect("built-in catalog parses");
        for d in &mut list {
            if d["id"] != CIS_4_2_ID {
                continue;
            }
            let note = if opts.exclude_federated_signin {
                d["pattern"]["userIdentity"] = serde_json::json!({"type": ["IAMUser", "Root"]});
                " Only IAM users and root count: IAM Identity Center and SAML/OIDC federated \
                 sign-ins are left out (EXCLUDE_FEDERATED_SIGNIN) because they always report \
                 MFAUsed=No, MFA having happened at the identity provider."
            } else {
                " IAM Identity Center and federated sign-ins are included \
                 (EXCLUDE_FEDERATED_SIGNIN=false); they always report MFAUsed=No, MFA having \
                 happened at the identity provider."
            };
            let text = format!("{}{note}", d["description"].as_str().unwrap_or_default());
            d["description"] = text.into();
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let (_, d) = Detection::compile(v, "built-in", i).expect("built-in detections compile");
            out.extend(d);
        }
        Catalog::new(out).expect("built-in ids are unique")
    }

    /// A catalog made only of the detections in `text` (a user file).
    pub fn from_json(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        Catalog::new(Vec::new())?.with_overrides(text, origin)
    }

    /// This catalog with the detections in `text` added, replacing those with the same id;
    /// `{"id": ..., "enabled": false}` removes one.
    pub fn with_overrides(self, text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let list = parse_list(text, origin)?;
        let mut detections = self.detections;
        let mut seen = BTreeSet::new();
        for (i, v) in list.iter().enumerate() {
            let (id, d) = Detection::compile(v, origin, i)?;
            if !seen.insert(id.clone()) {
                return Err(CatalogError {
                    origin: origin.to_string(),
                    id: Some(id),
                    index: Some(i),
                    message: "appears twice in this file".into(),
                });
            }
            let at = detections.iter().position(|x| x.id == id);
            match (d, at) {
                (Some(d), Some(at)) => detections[at] = d,
                (Some(d), None) => detections.push(d),
                (None, Some(at)) => {
                    detections.remove(at);
                }
                (None, None) => {
                    return Err(CatalogError {
                        origin: origin.to_string(),
                        id: Some(id),
                        index: Some(i),
                        message: "\"enabled\": false names no known detection".into(),
                    })
                }
            }
        }
        Catalog::new(detections)
    }

    /// This catalog with the detections of a local file added (see [`Catalog::with_overrides`]).
    pub fn with_file(self, path: &std::path::Path) -> Result<Catalog, CatalogError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError {
            origin: origin.clone(),
            id: None,
            index: None,
            message: format!("cannot read: {e}"),
        })?;
        self.with_overrides(&text, &origin)
    }

    pub fn detections(&self) -> &[Detection] {
        &self.detections
    }

    pub fn get(&self, id: &str) -> Option<&Detection> {
        self.detections.iter().find(|d| d.id == id)
    }

    pub fn len(&self) -> usize {
        self.detections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.detections.is_empty()
    }

    /// The detections whose pattern matches one record (thresholds are not applied).
    pub fn matching(&self, record: &Value) -> Vec<&Detection> {
        let str_of = |k: &str| match record.get(k) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.as_str())),
            Some(_) => None,
        };
        let mut cands = Vec::new();
        self.index.candidates(
            str_of("eventName"),
            str_of("eventSource"),
            self.len(),
            &mut cands,
        );
        cands.sort_unstable();
        cands
            .into_iter()
            .map(|i| &self.detections[i])
            .filter(|d| d.pattern.matches(record))
            .collect()
    }

    /// How the index splits the catalog: (by eventName, by eventSource only, always evaluated).
    pub fn index_stats(&self) -> (usize, usize, usize) {
        let distinct =
            |m: &FxMap<String, Vec<usize>>| m.values().flatten().collect::<BTreeSet<_>>().len();
        (
            distinct(&self.index.by_name),
            distinct(&self.index.by_source),
            self.index.always.len(),
        )
    }
}

#[cfg(test)]
mod tests;
