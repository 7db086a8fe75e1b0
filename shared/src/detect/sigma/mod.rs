//! Sigma rules for AWS CloudTrail (`logsource: {product: aws, service: cloudtrail}`) as
//! trailwarden detections (`trailwarden import-sigma`).
//!
//! A rule is converted when its detection logic can be written as one event pattern, exactly:
//!
//! - field names are CloudTrail record paths; dotted names (`requestParameters.userName`)
//!   become nested patterns;
//! - values: a plain value is an exact value (Sigma compares text: a number or boolean also
//!   matches its text, and `'22'` or `'false'` the typed value CloudTrail may write), `null`
//!   is "null or absent", a list is "any of"; `*` in a value is a `wildcard` (`\*` a literal
//!   star), `?` has no equivalent and is refused;
//! - modifiers: `contains` (wildcard `*x*`), `startswith` (`prefix`), `endswith` (`suffix`),
//!   `cidr`, `exists`, `gt`/`gte`/`lt`/`lte` (`numeric`), `cased` (patterns are case-sensitive
//!   anyway) and `all` (one value; `startswith|all`/`endswith|all` that nest; `contains|all` of
//!   up to four values that cannot overlap, as every order of them); `re`, `base64`, `windash`,
//!   `expand`, `fieldref` and the rest are refused;
//! - the condition (`and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`, `them`) is brought
//!   to a disjunction of conjunctions: a negated field becomes `anything-but` plus "absent"
//!   (Sigma's `not` also holds when the field is missing), a negated selection of several
//!   fields becomes a `$or` of its negated fields; two conditions on one field must reduce to
//!   one list of values (an exact list filtered by the other condition, two `anything-but`s
//!   merged), otherwise the rule is refused: EventBridge syntax cannot require two
//!   conditions of one field;
//! - `| count() [by field] > N` with `timeframe` becomes a threshold.
//!
//! Matching is case-sensitive where Sigma's default is not: CloudTrail writes its names with
//! a fixed case, and only case-sensitive values let the engine index a detection by
//! `eventName`.
//!
//! Metadata: `level` is the severity (`informational` is `info`), `attack.tNNNN[.NNN]` tags
//! are the MITRE ATT&CK references, `references` the URLs, the id is the slug of the title
//! (`sigma-` and the first 8 characters of the rule's id when the slug is taken), and the
//! description keeps the rule's false positives and names the rule it came from.

use super::detection::valid_mitre;
use super::Detection;
use crate::pattern::Pattern;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

mod condition;
mod detection;
mod emit;
mod selection;
#[cfg(test)]
mod tests;
mod values;

use detection::convert_detection;

/// The family of converted rules.
pub const FAMILY: &str = "sigma";

/// The description of the family in a converted file.
pub const FILE_DESCRIPTION: &str = "Sigma rules for AWS CloudTrail, converted by trailwarden import-sigma: each rule's selections and condition as one event pattern.";

/// A condition may expand to at most this many alternatives (`$or` branches).
const MAX_CLAUSES: usize = 32;
/// `contains|all` takes at most this many values (every order of them is written out).
const MAX_ALL_VALUES: usize = 4;
/// The window of a `count()` aggregation when the rule gives no `timeframe`.
const DEFAULT_WINDOW_SECONDS: u64 = 3600;
/// The longest window a threshold accepts.
const MAX_WINDOW_SECONDS: u64 = 7 * 86_400;
/// Top-level CloudTrail fields that hold objects: Sigma rules that search their text cannot
/// be written as a pattern.
const OBJECT_FIELDS: &[&str] = &[
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "userIdentity",
    "serviceEventDetails",
    "tlsDetails",
    "resources",
    "edgeDeviceDetails",
    "insightDetails",
];

/// A rule that was not converted: its title and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule's title (its id, or `(untitled)`, when it has none).
    pub title: String,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.title, self.reason)
    }
}

impl std::error::Error for Refusal {}

type R<T> = Result<T, String>;

/// Converts rules one after the other, keeping their ids unique among themselves and apart
/// from the reserved ones (the built-in catalog's, which a converted file would otherwise
/// replace).
#[derive(Debug, Clone, Default)]
pub struct Converter {
    taken: BTreeSet<String>,
    detections: Vec<Value>,
}

impl Converter {
    pub fn new<I, S>(reserved_ids: I) -> Converter
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Converter {
            taken: reserved_ids.into_iter().map(Into::into).collect(),
            detections: Vec::new(),
        }
    }

    /// Converts one rule (a parsed YAML document) and keeps the detection.
    pub fn convert(&mut self, rule: &Value) -> Result<&Value, Refusal> {
        let d = convert_rule(rule, &self.taken)?;
        if let Some(id) = d["id"].as_str() {
            self.taken.insert(id.to_string());
        }
        self.detections.push(d);
        Ok(self.detections.last().expect("just pushed"))
    }

    /// The detections converted so far.
    pub fn detections(&self) -> &[Value] {
        &self.detections
    }

    /// A detection file (`{"family": "sigma", "description": ..., "detections": [...]}`).
    pub fn into_file(self) -> Value {
        json!({"family": FAMILY, "description": FILE_DESCRIPTION, "detections": self.detections})
    }
}

/// The rule's title as refusals name it.
pub fn rule_title(rule: &Value) -> String {
    let s = |k: &str| {
        rule.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    s("title")
        .or_else(|| s("id"))
        .unwrap_or_else(|| "(untitled)".into())
}

/// Converts one Sigma rule to a detection (its JSON, as a detection file holds it), with an
/// id not in `taken`.
pub fn convert_rule(rule: &Value, taken: &BTreeSet<String>) -> Result<Value, Refusal> {
    let title = rule_title(rule);
    convert(rule, &title, taken).map_err(|reason| Refusal { title, reason })
}

fn convert(rule: &Value, title: &str, taken: &BTreeSet<String>) -> R<Value> {
    let Value::Object(m) = rule else {
        return Err("not a Sigma rule: expected a YAML mapping".into());
    };
    if let Some(a) = m.get("action") {
        return Err(format!(
            "a rule-collection document (action: {}); only single rules are converted",
            scalar_text(a).unwrap_or_else(|| a.to_string())
        ));
    }
    if m.contains_key("correlation") {
        return Err(
            "a correlation rule (it combines other rules); only single rules are converted".into(),
        );
    }
    if let Some(s @ ("deprecated" | "unsupported")) = m.get("status").and_then(Value::as_str) {
        return Err(format!("the rule's status is {s}"));
    }
    check_logsource(m.get("logsource"))?;
    let Some(Value::Object(det)) = m.get("detection") else {
        return Err("the rule has no detection section".into());
    };
    let mut notes = Vec::new();
    let severity = match m.get("level") {
        None => {
            notes.push("The Sigma rule gives no level; medium assumed.".to_string());
            "medium"
        }
        Some(l) => match scalar_text(l)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "informational" | "info" => "info",
            "low" => "low",
            "medium" => "medium",
            "high" => "high",
            "critical" => "critical",
            _ => return Err(format!("unknown level {l}")),
        },
    };
    let timeframe = det.get("timeframe").or_else(|| m.get("timeframe"));
    let (pattern, threshold) = convert_detection(det, timeframe, &mut notes)?;

    let text = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let sigma_id = text("id");
    let id = choose_id(title, sigma_id, taken);
    let mut description = text("description")
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| title.to_string());
    let fps = strings_of(m.get("falsepositives"));
    if !fps.is_empty() {
        description.push_str(&format!(
            "\n\nFalse positives (from the Sigma rule): {}.",
            fps.join("; ").trim_end_matches('.')
        ));
    }
    let mut origin = format!("\n\nConverted from Sigma rule \"{title}\"");
    if let Some(i) = sigma_id {
        origin.push_str(&format!(" ({i})"));
    }
    if let Some(a) = text("author") {
        origin.push_str(&format!(" by {a}"));
    }
    origin.push('.');
    description.push_str(&origin);
    for n in &notes {
        description.push(' ');
        description.push_str(n);
    }
    let mut mitre: Vec<String> = Vec::new();
    for t in strings_of(m.get("tags")) {
        let Some(rest) = t
            .to_ascii_lowercase()
            .strip_prefix("attack.t")
            .map(str::to_string)
        else {
            continue;
        };
        let id = format!("T{rest}");
        if valid_mitre(&id) && !mitre.contains(&id) {
            mitre.push(id);
        }
    }
    let urls = strings_of(m.get("references"));
    let mut references = Map::new();
    if !mitre.is_empty() {
        references.insert("mitre_attack".into(), json!(mitre));
    }
    if !urls.is_empty() {
        references.insert("urls".into(), json!(urls));
    }
    let mut d = Map::new();
    d.insert("id".into(), json!(id));
    d.insert("title".into(), json!(short_title(title)));
    d.insert("severity".into(), json!(severity));
    d.insert("description".into(), json!(description));
    if !references.is_empty() {
        d.insert("references".into(), Value::Object(references));
    }
    d.insert("pattern".into(), pattern);
    if let Some(t) = threshold {
        d.insert("threshold".into(), t);
    }
    let d = Value::Object(d);
    Detection::compile(&d, "sigma", FAMILY, 0)
        .map_err(|e| format!("the converted detection does not load: {}", e.message))?;
    Ok(d)
}

fn check_logsource(v: Option<&Value>) -> R<()> {
    let Some(Value::Object(ls)) = v else {
        return Err("the rule has no logsource".into());
    };
    let get = |k: &str| {
        ls.get(k)
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    };
    match (get("product"), get("service")) {
        (Some(p), Some(s)) if p == "aws" && s == "cloudtrail" => Ok(()),
        (p, s) => Err(format!(
            "logsource is product {} / service {}, not aws / cloudtrail",
            p.as_deref().unwrap_or("(none)"),
            s.as_deref().unwrap_or("(none)")
        )),
    }
}

/// A string, number or boolean as text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list of strings (or one string), other entries left out.
fn strings_of(v: Option<&Value>) -> Vec<String> {
    let one = |v: &Value| {
        scalar_text(v)
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty())
    };
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn short_title(t: &str) -> String {
    if t.chars().count() <= 120 {
        return t.to_string();
    }
    let cut: String = t.chars().take(117).collect();
    format!("{}...", cut.trim_end())
}

/// The slug of the title; `sigma-` and the first 8 characters of the rule's id when the slug
/// is empty or taken; a number added when that is taken too.
fn choose_id(title: &str, sigma_id: Option<&str>, taken: &BTreeSet<String>) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    if slug.len() > 64 {
        slug.truncate(64);
        if let Some(i) = slug.rfind('-').filter(|&i| i >= 32) {
            slug.truncate(i);
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if !slug.is_empty() && !taken.contains(&slug) {
        return slug;
    }
    let short: String = sigma_id
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    let base = if short.is_empty() {
        if slug.is_empty() {
            "sigma-rule".to_string()
        } else {
            slug.chars().take(58).collect()
        }
    } else {
        format!("sigma-{short}")
    };
    if !taken.contains(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|c| !taken.contains(c))
        .expect("some number is free")
}
