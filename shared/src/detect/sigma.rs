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

// ---------------------------------------------------------------------------------------
// The detection section: selections and condition to one pattern.

/// Field path to the values (EventBridge matchers) it may have; all fields must match.
type Conj = BTreeMap<String, Vec<Value>>;
/// Any of the conjunctions may match. Empty: never; one empty conjunction: always.
type Dnf = Vec<Conj>;

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Sel(String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

fn convert_detection(
    det: &Map<String, Value>,
    timeframe: Option<&Value>,
    notes: &mut Vec<String>,
) -> R<(Value, Option<Value>)> {
    let conditions: Vec<&str> = match det.get("condition") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|c| c.as_str().ok_or("a condition is not a string"))
            .collect::<Result<_, _>>()?,
        _ => return Err("the detection has no condition".into()),
    };
    let names: Vec<String> = det
        .keys()
        .filter(|k| *k != "condition" && *k != "timeframe")
        .cloned()
        .collect();
    let mut exprs = Vec::new();
    let mut aggregation = None;
    for c in &conditions {
        let (expr_text, agg) = match c.split_once('|') {
            Some((e, a)) => (e, Some(a)),
            None => (*c, None),
        };
        exprs.push(parse_condition(expr_text, &names)?);
        if let Some(a) = agg {
            if conditions.len() > 1 {
                return Err("an aggregation (| count() ...) in a list of conditions".into());
            }
            aggregation = Some(parse_aggregation(a.trim())?);
        }
    }
    let expr = if exprs.len() == 1 {
        exprs.pop().expect("one")
    } else {
        Expr::Or(exprs)
    };
    let mut ctx = Selections {
        raw: det,
        cache: BTreeMap::new(),
    };
    // Conflicts and negations come from the condition as a whole: name it.
    let dnf = ctx.dnf(&expr, false).map_err(|m| {
        if m.starts_with("selection ") || m.starts_with("condition ") {
            m
        } else {
            format!("condition \"{}\": {m}", conditions.join("\" / \""))
        }
    })?;
    let pattern = to_pattern(dnf)?;
    Pattern::compile(&pattern)
        .map_err(|e| format!("the converted pattern does not compile: {e}"))?;
    let threshold = match aggregation {
        None => None,
        Some((count, group_by)) => {
            let window = match timeframe {
                Some(t) => parse_timeframe(t)?,
                None => {
                    notes.push(format!(
                        "The Sigma rule counts without a timeframe; {} s assumed.",
                        DEFAULT_WINDOW_SECONDS
                    ));
                    DEFAULT_WINDOW_SECONDS
                }
            };
            Some(json!({"count": count, "window_seconds": window, "group_by": group_by}))
        }
    };
    Ok((pattern, threshold))
}

/// `count() [by f1, f2] > N` (or `>=`): the threshold's count and group.
fn parse_aggregation(a: &str) -> R<(u64, Vec<String>)> {
    let refuse = || {
        format!("aggregation \"{a}\": only count() [by field] > N (or >= N) becomes a threshold")
    };
    let rest = a.strip_prefix("count(").ok_or_else(refuse)?;
    let (inner, rest) = rest.split_once(')').ok_or_else(refuse)?;
    if !inner.trim().is_empty() {
        return Err(format!(
            "aggregation \"{a}\": count({}) counts distinct values, which a threshold cannot",
            inner.trim()
        ));
    }
    let rest = rest.trim();
    let (group, cmp) = match rest.strip_prefix("by ") {
        Some(r) => {
            let i = r.find(['>', '<', '=']).ok_or_else(refuse)?;
            let fields: Vec<String> = r[..i]
                .split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect();
            (fields, r[i..].trim())
        }
        None => (Vec::new(), rest),
    };
    let (op, n) = if let Some(n) = cmp.strip_prefix(">=") {
        (">=", n)
    } else if let Some(n) = cmp.strip_prefix('>') {
        (">", n)
    } else {
        return Err(format!(
            "aggregation \"{a}\": a threshold fires on at least so many matches (> or >=), not on fewer"
        ));
    };
    let n: u64 = n.trim().parse().map_err(|_| refuse())?;
    let count = if op == ">" { n + 1 } else { n.max(1) };
    Ok((count, group))
}

/// `30s`, `15m`, `2h`, `1d` in seconds.
fn parse_timeframe(t: &Value) -> R<u64> {
    let s = scalar_text(t).unwrap_or_default();
    let s = s.trim();
    let bad = || format!("timeframe {s:?} is not a duration such as 15m, 1h or 1d");
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    if secs == 0 || secs > MAX_WINDOW_SECONDS {
        return Err(format!(
            "timeframe {s}: a threshold window is 1 s to 7 days"
        ));
    }
    Ok(secs)
}

// ---------------------------------------------------------------------------------------
// The condition.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |w: &mut String, out: &mut Vec<Tok>| {
        if !w.is_empty() {
            out.push(Tok::Word(std::mem::take(w)));
        }
    };
    for c in s.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut out);
                out.push(if c == '(' { Tok::Open } else { Tok::Close });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

fn parse_condition(text: &str, names: &[String]) -> R<Expr> {
    let mut p = Parser {
        toks: tokenize(text),
        pos: 0,
        names,
        text,
    };
    if p.toks.is_empty() {
        return Err("the condition is empty".into());
    }
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!(
            "condition \"{}\": unexpected {} after a complete expression",
            text.trim(),
            p.describe(p.pos)
        ));
    }
    Ok(e)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    names: &'a [String],
    text: &'a str,
}

impl Parser<'_> {
    fn describe(&self, i: usize) -> String {
        match self.toks.get(i) {
            Some(Tok::Open) => "\"(\"".into(),
            Some(Tok::Close) => "\")\"".into(),
            Some(Tok::Word(w)) => format!("\"{w}\""),
            None => "the end".into(),
        }
    }

    fn err(&self, what: impl fmt::Display) -> String {
        format!("condition \"{}\": {what}", self.text.trim())
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn or(&mut self) -> R<Expr> {
        self.joined("or", Self::and, Expr::Or)
    }

    fn and(&mut self) -> R<Expr> {
        self.joined("and", Self::not, Expr::And)
    }

    /// Operands read by `operand`, joined by the keyword `word` into `all` (one operand alone
    /// is itself).
    fn joined(
        &mut self,
        word: &str,
        operand: fn(&mut Self) -> R<Expr>,
        all: fn(Vec<Expr>) -> Expr,
    ) -> R<Expr> {
        let mut parts = vec![operand(self)?];
        while self.keyword(word) {
            self.pos += 1;
            parts.push(operand(self)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            all(parts)
        })
    }

    fn not(&mut self) -> R<Expr> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> R<Expr> {
        let at = self.pos;
        match self.toks.get(at).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let e = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err(
                        self.err(format!("expected \")\", found {}", self.describe(self.pos)))
                    );
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                let lower = w.to_ascii_lowercase();
                if self.keyword("of") {
                    self.pos += 1;
                    let Some(Tok::Word(target)) = self.toks.get(self.pos).cloned() else {
                        return Err(self.err(format!("\"{w} of\" without selection names")));
                    };
                    self.pos += 1;
                    let all = match lower.as_str() {
                        "1" | "any" => false,
                        "all" => true,
                        _ => {
                            return Err(self.err(format!(
                                "\"{w} of\": only \"1 of\", \"any of\" and \"all of\" are supported"
                            )))
                        }
                    };
                    let picked: Vec<Expr> = self
                        .names
                        .iter()
                        .filter(|n| {
                            if target.eq_ignore_ascii_case("them") {
                                !n.starts_with('_')
                            } else {
                                crate::glob::glob_match(&target, n)
                            }
                        })
                        .map(|n| Expr::Sel(n.clone()))
                        .collect();
                    if picked.is_empty() {
                        return Err(self.err(format!("\"{w} of {target}\" names no selection")));
                    }
                    return Ok(if picked.len() == 1 {
                        picked.into_iter().next().expect("one")
                    } else if all {
                        Expr::And(picked)
                    } else {
                        Expr::Or(picked)
                    });
                }
                if matches!(lower.as_str(), "and" | "or" | "not" | "of" | "them") {
                    return Err(self.err(format!("unexpected \"{w}\"")));
                }
                if self.names.contains(&w) {
                    Ok(Expr::Sel(w))
                } else {
                    Err(self.err(format!("names {w:?}, which is not a selection of the rule")))
                }
            }
            _ => Err(self.err(format!("expected a selection, found {}", self.describe(at)))),
        }
    }
}

/// The rule's selections, converted when the condition first uses them.
struct Selections<'a> {
    raw: &'a Map<String, Value>,
    cache: BTreeMap<String, Dnf>,
}

impl Selections<'_> {
    fn selection(&mut self, name: &str) -> R<Dnf> {
        if let Some(d) = self.cache.get(name) {
            return Ok(d.clone());
        }
        let d = selection_dnf(name, &self.raw[name]).map_err(|m| {
            if m.starts_with("selection ") {
                m
            } else {
                format!("selection {name}: {m}")
            }
        })?;
        self.cache.insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// The expression (negated when `neg`) as a disjunction of conjunctions.
    fn dnf(&mut self, e: &Expr, neg: bool) -> R<Dnf> {
        match (e, neg) {
            (Expr::Sel(n), false) => self.selection(n),
            (Expr::Sel(n), true) => {
                let d = self.selection(n)?;
                negate_dnf(&d).map_err(|m| format!("not {n}: {m}"))
            }
            (Expr::Not(inner), _) => self.dnf(inner, !neg),
            (Expr::And(xs), false) | (Expr::Or(xs), true) => {
                let mut acc: Dnf = vec![Conj::new()];
                for x in xs {
                    let d = self.dnf(x, neg)?;
                    acc = and_dnf(&acc, &d)?;
                }
                Ok(acc)
            }
            (Expr::Or(xs), false) | (Expr::And(xs), true) => {
                let mut acc: Dnf = Vec::new();
                for x in xs {
                    for c in self.dnf(x, neg)? {
                        if !acc.contains(&c) {
                            acc.push(c);
                        }
                    }
                    check_size(acc.len())?;
                }
                Ok(acc)
            }
        }
    }
}

fn check_size(n: usize) -> R<()> {
    if n > MAX_CLAUSES {
        Err(format!(
            "the condition expands to more than {MAX_CLAUSES} alternatives"
        ))
    } else {
        Ok(())
    }
}

fn and_dnf(a: &Dnf, b: &Dnf) -> R<Dnf> {
    let mut out: Dnf = Vec::new();
    for x in a {
        for y in b {
            if let Some(c) = and_conj(x, y)? {
                if !out.contains(&c) {
                    out.push(c);
                    check_size(out.len())?;
                }
            }
        }
    }
    Ok(out)
}

/// Both conjunctions; `None` when they can never hold together.
fn and_conj(x: &Conj, y: &Conj) -> R<Option<Conj>> {
    let mut out = x.clone();
    for (path, alts) in y {
        let merged = match out.get(path) {
            None => alts.clone(),
            Some(have) => match and_alts(path, have, alts)? {
                Some(m) => m,
                None => return Ok(None),
            },
        };
        out.insert(path.clone(), merged);
    }
    Ok(Some(out))
}

fn negate_dnf(d: &Dnf) -> R<Dnf> {
    let mut acc: Dnf = vec![Conj::new()];
    for clause in d {
        let mut any: Dnf = Vec::new();
        for (path, alts) in clause {
            let n = negate_alts(path, alts)?;
            if !n.is_empty() {
                any.push(Conj::from([(path.clone(), n)]));
            }
        }
        acc = and_dnf(&acc, &any)?;
    }
    Ok(acc)
}

// ---------------------------------------------------------------------------------------
// Selections and values.

fn selection_dnf(name: &str, v: &Value) -> R<Dnf> {
    match v {
        Value::Object(m) if !m.is_empty() => Ok(map_conj(m)?.into_iter().collect()),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            let mut out = Vec::new();
            for item in items {
                let m = item.as_object().expect("checked");
                if m.is_empty() {
                    return Err(format!("selection {name} holds an empty mapping"));
                }
                if let Some(c) = map_conj(m)? {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
            check_size(out.len())?;
            Ok(out)
        }
        Value::Array(a) if !a.is_empty() => Err(format!(
            "selection {name} is a keyword search (values without field names), which needs full-text search over the record"
        )),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Err(format!(
            "selection {name} is a keyword search (a value without a field name), which needs full-text search over the record"
        )),
        _ => Err(format!("selection {name} is empty")),
    }
}

fn map_conj(m: &Map<String, Value>) -> R<Option<Conj>> {
    let mut conj = Conj::new();
    for (key, val) in m {
        let (path, alts) = field_atom(key, val)?;
        let merged = match conj.get(&path) {
            None => alts,
            Some(have) => match and_alts(&path, have, &alts)? {
                Some(m) => m,
                None => return Ok(None),
            },
        };
        conj.insert(path, merged);
    }
    Ok(Some(conj))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Contains,
    StartsWith,
    EndsWith,
    Cidr,
    Exists,
    Numeric(&'static str),
}

fn field_atom(key: &str, val: &Value) -> R<(String, Vec<Value>)> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default().trim();
    if field.is_empty() {
        return Err(format!(
            "{key:?} is a keyword search (no field name), which needs full-text search over the record"
        ));
    }
    let mut op = Op::Eq;
    let mut all = false;
    for m in parts {
        let next = match m {
            "contains" => Op::Contains,
            "startswith" => Op::StartsWith,
            "endswith" => Op::EndsWith,
            "cidr" => Op::Cidr,
            "exists" => Op::Exists,
            "gt" => Op::Numeric(">"),
            "gte" => Op::Numeric(">="),
            "lt" => Op::Numeric("<"),
            "lte" => Op::Numeric("<="),
            "all" => {
                all = true;
                continue;
            }
            "cased" => continue,
            "re" => {
                return Err(format!(
                    "{key}: regular expressions (|re) cannot be expressed in an event pattern"
                ))
            }
            other => return Err(format!("{key}: the modifier |{other} is not supported")),
        };
        if op != Op::Eq {
            return Err(format!("{key}: two value modifiers on one field"));
        }
        op = next;
    }
    let items: Vec<&Value> = match val {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    if items.is_empty() {
        return Err(format!("{key}: an empty list of values"));
    }
    if let Some(bad) = items.iter().find(|v| v.is_object() || v.is_array()) {
        return Err(format!("{key}: {bad} is not a Sigma value"));
    }
    let textual = matches!(op, Op::Eq | Op::Contains | Op::StartsWith | Op::EndsWith);
    if OBJECT_FIELDS.contains(&field) && textual && items.iter().any(|v| !v.is_null()) {
        return Err(format!(
            "{key}: {field} is an object in CloudTrail records; the rule matches its text, which an event pattern cannot (it can only name fields inside it, such as {field}.userName)"
        ));
    }
    let mut alts: Vec<Value> = Vec::new();
    if all && items.len() > 1 {
        alts = all_matchers(key, op, &items)?;
    } else {
        for item in items {
            for m in item_matchers(key, op, item)? {
                if !alts.contains(&m) {
                    alts.push(m);
                }
            }
        }
    }
    Ok((field.to_string(), alts))
}

/// One Sigma value with its modifier as EventBridge matchers (any may match).
fn item_matchers(key: &str, op: Op, item: &Value) -> R<Vec<Value>> {
    Ok(match (op, item) {
        (Op::Eq, Value::String(s)) => {
            // Sigma compares text: 'false' and '22' also match CloudTrail's typed values.
            let mut out = vec![string_matcher(key, s, op)?];
            out.extend(typed_value(s));
            out
        }
        (Op::Eq, Value::Number(n)) => vec![Value::Number(n.clone()), json!(n.to_string())],
        (Op::Eq, Value::Bool(b)) => vec![json!(b), json!(b.to_string())],
        (Op::Eq, Value::Null) => vec![Value::Null, json!({"exists": false})],
        (Op::Contains | Op::StartsWith | Op::EndsWith, v) => {
            let s = scalar_text(v)
                .ok_or_else(|| format!("{key}: a null value with a string modifier"))?;
            vec![string_matcher(key, &s, op)?]
        }
        (Op::Cidr, Value::String(s)) => {
            let s = s.trim();
            let block = if s.contains('/') {
                s.to_string()
            } else if s.contains(':') {
                format!("{s}/128")
            } else {
                format!("{s}/32")
            };
            vec![json!({ "cidr": block })]
        }
        (Op::Exists, Value::Bool(b)) => vec![json!({ "exists": b })],
        (Op::Exists, Value::String(s)) if s == "true" || s == "false" => {
            vec![json!({"exists": s == "true"})]
        }
        (Op::Numeric(o), v) => {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("{key}: {v} is not a number"))?;
            vec![json!({"numeric": [o, n]})]
        }
        (_, v) => return Err(format!("{key}: {v} is not a value this modifier takes")),
    })
}

/// The JSON boolean or number a Sigma string spells exactly (`false`, `22`, `-1.5`), if any.
fn typed_value(s: &str) -> Option<Value> {
    match s {
        "true" => return Some(json!(true)),
        "false" => return Some(json!(false)),
        _ => {}
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let plain = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let canonical = plain(int) && plain(frac) && (int == "0" || !int.starts_with('0'));
    if !canonical {
        return None;
    }
    serde_json::from_str::<serde_json::Number>(s)
        .ok()
        .filter(|n| n.as_f64().is_some_and(f64::is_finite))
        .map(Value::Number)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    Char(char),
    /// An unescaped `*`.
    Star,
    /// An unescaped `?`.
    One,
}

/// A Sigma string value: `*` and `?` are wildcards, `\*`, `\?` and `\\` their literals, a
/// backslash before anything else is itself.
fn pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&e @ ('*' | '?' | '\\')) => {
                    chars.next();
                    out.push(Piece::Char(e));
                }
                _ => out.push(Piece::Char('\\')),
            },
            '*' => out.push(Piece::Star),
            '?' => out.push(Piece::One),
            c => out.push(Piece::Char(c)),
        }
    }
    out
}

fn literal_text(p: &[Piece]) -> String {
    p.iter()
        .filter_map(|x| match x {
            Piece::Char(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// Escapes text for an EventBridge wildcard (`*` and `\`).
fn escape_wildcard(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '*' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An EventBridge wildcard from Sigma pieces, with a star before and/or after.
fn wildcard(lead: bool, p: &[Piece], trail: bool) -> Value {
    fn star(out: &mut String, last: &mut bool) {
        if !*last {
            out.push('*');
        }
        *last = true;
    }
    let mut out = String::new();
    let mut last_star = false;
    if lead {
        star(&mut out, &mut last_star);
    }
    for x in p {
        match x {
            Piece::Star | Piece::One => star(&mut out, &mut last_star),
            Piece::Char(c) => {
                if *c == '*' || *c == '\\' {
                    out.push('\\');
                }
                out.push(*c);
                last_star = false;
            }
        }
    }
    if trail {
        star(&mut out, &mut last_star);
    }
    json!({ "wildcard": out })
}

fn string_matcher(key: &str, s: &str, op: Op) -> R<Value> {
    let p = pieces(s);
    if p.contains(&Piece::One) {
        return Err(format!(
            "{key}: the value {s:?} uses the one-character wildcard '?', which event patterns do not have"
        ));
    }
    let starred = p.contains(&Piece::Star);
    Ok(match op {
        Op::Eq if !starred => json!(literal_text(&p)),
        Op::Eq => wildcard(false, &p, false),
        Op::StartsWith if !starred => json!({ "prefix": literal_text(&p) }),
        Op::StartsWith => wildcard(false, &p, true),
        Op::EndsWith if !starred => json!({ "suffix": literal_text(&p) }),
        Op::EndsWith => wildcard(true, &p, false),
        _ => wildcard(true, &p, true),
    })
}

/// `|all` over several values: one matcher that needs every value.
fn all_matchers(key: &str, op: Op, items: &[&Value]) -> R<Vec<Value>> {
    let mut lits: Vec<String> = Vec::new();
    for v in items {
        let s = scalar_text(v).ok_or_else(|| format!("{key}: {v} with |all"))?;
        let p = pieces(&s);
        if p.iter().any(|x| !matches!(x, Piece::Char(_))) {
            return Err(format!(
                "{key}: |all with wildcards in its values cannot be expressed"
            ));
        }
        let t = literal_text(&p);
        if !lits.contains(&t) {
            lits.push(t);
        }
    }
    if lits.len() == 1 {
        let one = Value::String(lits.remove(0));
        return item_matchers(key, op, &one);
    }
    let never =
        || format!("{key}: no value can satisfy all of {lits:?}, so the rule could never match");
    match op {
        Op::Eq => Err(never()),
        Op::StartsWith | Op::EndsWith => {
            let longest = lits.iter().max_by_key(|s| s.len()).expect("two or more");
            let nested = lits.iter().all(|s| {
                if op == Op::StartsWith {
                    longest.starts_with(s.as_str())
                } else {
                    longest.ends_with(s.as_str())
                }
            });
            if !nested {
                return Err(never());
            }
            let k = if op == Op::StartsWith {
                "prefix"
            } else {
                "suffix"
            };
            Ok(vec![json!({ k: longest })])
        }
        Op::Contains => {
            // A value inside another is implied by it; "" by anything.
            let keep: Vec<String> = lits
                .iter()
                .filter(|s| {
                    !s.is_empty() && !lits.iter().any(|o| o != *s && o.contains(s.as_str()))
                })
                .cloned()
                .collect();
            if keep.is_empty() {
                return Ok(vec![json!({"wildcard": "*"})]);
            }
            for a in &keep {
                for b in &keep {
                    if a == b {
                        continue;
                    }
                    let overlap = b
                        .char_indices()
                        .map(|(i, _)| i)
                        .skip(1)
                        .any(|k| k < a.len() && a.ends_with(&b[..k]));
                    if overlap {
                        return Err(format!(
                            "{key}: the values {a:?} and {b:?} can overlap in the text, which a wildcard cannot express"
                        ));
                    }
                }
            }
            if keep.len() > MAX_ALL_VALUES {
                return Err(format!(
                    "{key}: |contains|all of more than {MAX_ALL_VALUES} values"
                ));
            }
            let escaped: Vec<String> = keep.iter().map(|s| escape_wildcard(s)).collect();
            let mut out = Vec::new();
            permutations(
                &escaped,
                &mut Vec::new(),
                &mut vec![false; escaped.len()],
                &mut |p| {
                    out.push(json!({"wildcard": format!("*{}*", p.join("*"))}));
                },
            );
            Ok(out)
        }
        _ => Err(format!(
            "{key}: |all is only supported with |contains, |startswith and |endswith"
        )),
    }
}

fn permutations(
    items: &[String],
    cur: &mut Vec<String>,
    used: &mut Vec<bool>,
    f: &mut impl FnMut(&[String]),
) {
    if cur.len() == items.len() {
        f(cur);
        return;
    }
    for i in 0..items.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        cur.push(items[i].clone());
        permutations(items, cur, used, f);
        cur.pop();
        used[i] = false;
    }
}

// ---------------------------------------------------------------------------------------
// Negation and conjunction of one field's values.

/// What one matcher of a field is.
enum Alt<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Null,
    Absent,
    Present,
    Prefix(&'a str),
    Suffix(&'a str),
    Wild(&'a str),
    Other,
}

fn classify(v: &Value) -> Alt<'_> {
    match v {
        Value::String(s) => Alt::Str(s),
        Value::Number(n) => n.as_f64().map(Alt::Num).unwrap_or(Alt::Other),
        Value::Bool(b) => Alt::Bool(*b),
        Value::Null => Alt::Null,
        Value::Object(m) if m.len() == 1 => {
            let (k, a) = m.iter().next().expect("one");
            match (k.as_str(), a) {
                ("exists", Value::Bool(false)) => Alt::Absent,
                ("exists", Value::Bool(true)) => Alt::Present,
                ("prefix", Value::String(s)) => Alt::Prefix(s),
                ("suffix", Value::String(s)) => Alt::Suffix(s),
                ("wildcard", Value::String(s)) => Alt::Wild(s),
                _ => Alt::Other,
            }
        }
        _ => Alt::Other,
    }
}

/// The values a field may have when it has none of `alts` (Sigma's `not`: absent counts).
/// Empty: nothing is left.
fn negate_alts(path: &str, alts: &[Value]) -> R<Vec<Value>> {
    let (mut strs, mut pats) = (Vec::<String>::new(), Vec::<String>::new());
    let (mut prefixes, mut suffixes) = (Vec::<String>::new(), Vec::<String>::new());
    let mut nums: Vec<f64> = Vec::new();
    let mut bools: Vec<bool> = Vec::new();
    let (mut null, mut absent, mut present) = (false, false, false);
    for a in alts {
        match classify(a) {
            Alt::Str(s) => strs.push(s.to_string()),
            Alt::Num(n) => nums.push(n),
            Alt::Bool(b) => bools.push(b),
            Alt::Null => null = true,
            Alt::Absent => absent = true,
            Alt::Present => present = true,
            Alt::Prefix(p) => {
                prefixes.push(p.to_string());
                pats.push(format!("{}*", escape_wildcard(p)));
            }
            Alt::Suffix(s) => {
                suffixes.push(s.to_string());
                pats.push(format!("*{}", escape_wildcard(s)));
            }
            Alt::Wild(w) => pats.push(w.to_string()),
            Alt::Other => {
                return Err(format!(
                    "{path} {a}: the negation of this kind of condition (cidr, numeric comparison) cannot be expressed in an event pattern"
                ))
            }
        }
    }
    if present {
        return Ok(if absent {
            Vec::new()
        } else {
            vec![json!({"exists": false})]
        });
    }
    let mut out = Vec::new();
    if null && absent && strs.is_empty() && pats.is_empty() && nums.is_empty() && bools.is_empty() {
        // Sigma's `field: null` negated: the field has a value.
        return Ok(vec![json!({"exists": true})]);
    }
    if pats.is_empty() && nums.is_empty() && bools.is_empty() && !null {
        if strs.is_empty() {
            // Only "absent" was accepted: now any value is.
            return Ok(vec![json!({"exists": true})]);
        }
        // Also accepts numbers, booleans and null, which are none of these strings.
        out.push(json!({ "anything-but": strs }));
    } else {
        if strs.is_empty() && pats.is_empty() {
            out.push(json!({"wildcard": "*"}));
        } else if strs.is_empty() && suffixes.is_empty() && pats.len() == prefixes.len() {
            out.push(json!({"anything-but": {"prefix": prefixes}}));
        } else if strs.is_empty() && prefixes.is_empty() && pats.len() == suffixes.len() {
            out.push(json!({"anything-but": {"suffix": suffixes}}));
        } else {
            let mut w: Vec<String> = strs.iter().map(|s| escape_wildcard(s)).collect();
            w.extend(pats);
            out.push(json!({"anything-but": {"wildcard": w}}));
        }
        if !nums.is_empty() {
            nums.sort_by(f64::total_cmp);
            nums.dedup();
            out.push(json!({"numeric": ["<", nums[0]]}));
            for w in nums.windows(2) {
                out.push(json!({"numeric": [">", w[0], "<", w[1]]}));
            }
            out.push(json!({"numeric": [">", nums[nums.len() - 1]]}));
        }
        if !nums.is_empty() || !bools.is_empty() {
            for b in [false, true] {
                if !bools.contains(&b) {
                    out.push(json!(b));
                }
            }
        }
        if !null {
            out.push(Value::Null);
        }
    }
    if !absent {
        out.push(json!({"exists": false}));
    }
    Ok(out)
}

/// Matchers that accept only fixed values (and "absent"): a finite set to filter.
fn is_finite(alts: &[Value]) -> bool {
    alts.iter().all(|a| {
        matches!(
            classify(a),
            Alt::Str(_) | Alt::Num(_) | Alt::Bool(_) | Alt::Null | Alt::Absent
        )
    })
}

/// `anything-but` (one), with `null` and "absent" beside it.
struct Excluding {
    /// Exact strings (accepting null, numbers and booleans too), or wildcards (strings only).
    values: Vec<String>,
    kind: &'static str,
    null: bool,
    absent: bool,
}

fn excluding(alts: &[Value]) -> Option<Excluding> {
    let mut found: Option<Excluding> = None;
    let (mut null, mut absent) = (false, false);
    for a in alts {
        match a {
            Value::Null => null = true,
            v if v == &json!({"exists": false}) => absent = true,
            Value::Object(m) if m.len() == 1 && m.contains_key("anything-but") => {
                if found.is_some() {
                    return None;
                }
                let strs = |v: &Value| -> Option<Vec<String>> {
                    match v {
                        Value::String(s) => Some(vec![s.clone()]),
                        Value::Array(a) => {
                            a.iter().map(|x| x.as_str().map(str::to_string)).collect()
                        }
                        _ => None,
                    }
                };
                found = Some(match &m["anything-but"] {
                    Value::Object(inner) if inner.len() == 1 => {
                        let (k, v) = inner.iter().next().expect("one");
                        let kind = match k.as_str() {
                            "prefix" => "prefix",
                            "suffix" => "suffix",
                            "wildcard" => "wildcard",
                            _ => return None,
                        };
                        Excluding {
                            values: strs(v)?,
                            kind,
                            null: false,
                            absent: false,
                        }
                    }
                    v => Excluding {
                        values: strs(v)?,
                        kind: "values",
                        null: false,
                        absent: false,
                    },
                });
            }
            _ => return None,
        }
    }
    let mut e = found?;
    e.null = null || e.kind == "values";
    e.absent = absent;
    Some(e)
}

fn as_wildcards(e: &Excluding) -> Vec<String> {
    e.values
        .iter()
        .map(|v| match e.kind {
            "values" => escape_wildcard(v),
            "prefix" => format!("{}*", escape_wildcard(v)),
            "suffix" => format!("*{}", escape_wildcard(v)),
            _ => v.clone(),
        })
        .collect()
}

/// One field that must satisfy both lists; `None` when nothing can.
fn and_alts(path: &str, a: &[Value], b: &[Value]) -> R<Option<Vec<Value>>> {
    if a == b {
        return Ok(Some(a.to_vec()));
    }
    // A condition and its own negation (`sel and not sel`, within `1 of x*`): never both.
    if negate_alts(path, a).is_ok_and(|n| n == b) || negate_alts(path, b).is_ok_and(|n| n == a) {
        return Ok(None);
    }
    for (fin, other) in [(a, b), (b, a)] {
        if is_finite(fin) {
            let p = Pattern::compile(&json!({ "v": other })).map_err(|e| format!("{path}: {e}"))?;
            let kept: Vec<Value> = fin
                .iter()
                .filter(|v| {
                    if *v == &json!({"exists": false}) {
                        p.matches(&json!({}))
                    } else {
                        p.matches(&json!({ "v": v }))
                    }
                })
                .cloned()
                .collect();
            return Ok((!kept.is_empty()).then_some(kept));
        }
    }
    let present = json!({"exists": true});
    for (x, other) in [(a, b), (b, a)] {
        if x == [present.clone()] {
            let kept: Vec<Value> = other
                .iter()
                .filter(|v| **v != json!({"exists": false}))
                .cloned()
                .collect();
            return Ok((!kept.is_empty()).then_some(kept));
        }
    }
    if let (Some(x), Some(y)) = (excluding(a), excluding(b)) {
        let mut out = Vec::new();
        if x.kind == y.kind {
            let mut values = x.values.clone();
            for v in &y.values {
                if !values.contains(v) {
                    values.push(v.clone());
                }
            }
            out.push(match x.kind {
                "values" => json!({ "anything-but": values }),
                k => json!({"anything-but": { k: values }}),
            });
        } else {
            let mut values = as_wildcards(&x);
            for v in as_wildcards(&y) {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            out.push(json!({"anything-but": {"wildcard": values}}));
        }
        let values_kind = x.kind == "values" && y.kind == "values";
        if x.null && y.null && !values_kind {
            out.push(Value::Null);
        }
        if x.absent && y.absent {
            out.push(json!({"exists": false}));
        }
        return Ok(Some(out));
    }
    Err(format!(
        "{path} must match {} and also {}: an event pattern cannot put two conditions on one field",
        Value::Array(a.to_vec()),
        Value::Array(b.to_vec())
    ))
}

// ---------------------------------------------------------------------------------------
// The pattern.

fn to_pattern(dnf: Dnf) -> R<Value> {
    let mut clauses: Dnf = Vec::new();
    for c in dnf {
        if !clauses.contains(&c) {
            clauses.push(c);
        }
    }
    // A clause that holds whenever a smaller one does adds nothing.
    let subset = |a: &Conj, b: &Conj| a.iter().all(|(k, v)| b.get(k) == Some(v));
    let snapshot = clauses.clone();
    clauses.retain(|b| !snapshot.iter().any(|a| a != b && subset(a, b)));
    if clauses.is_empty() {
        return Err("the condition can never match".into());
    }
    if clauses.iter().any(Conj::is_empty) {
        return Err("the condition matches every record".into());
    }
    let mut common = clauses[0].clone();
    common.retain(|k, v| clauses.iter().all(|c| c.get(k) == Some(v)));
    let rests: Vec<Conj> = clauses
        .iter()
        .map(|c| {
            c.iter()
                .filter(|(k, _)| !common.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect();
    let mut top = Map::new();
    for (k, v) in &common {
        insert(&mut top, k, v)?;
    }
    if rests.len() > 1 {
        let one_field = rests[0].len() == 1
            && rests
                .iter()
                .all(|r| r.len() == 1 && r.keys().next() == rests[0].keys().next());
        if one_field {
            let path = rests[0].keys().next().expect("one").clone();
            let mut union: Vec<Value> = Vec::new();
            for r in &rests {
                for v in &r[&path] {
                    if !union.contains(v) {
                        union.push(v.clone());
                    }
                }
            }
            insert(&mut top, &path, &union)?;
        } else {
            let mut branches = Vec::new();
            for r in &rests {
                let mut b = Map::new();
                for (k, v) in r {
                    insert(&mut b, k, v)?;
                }
                branches.push(Value::Object(b));
            }
            top.insert("$or".into(), Value::Array(branches));
        }
    }
    Ok(Value::Object(top))
}

/// Puts `alts` at the dotted `path` of a pattern object.
fn insert(obj: &mut Map<String, Value>, path: &str, alts: &[Value]) -> R<()> {
    let segs: Vec<&str> = path.split('.').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(format!("{path:?} is not a field path"));
    }
    let mut cur = obj;
    for (i, s) in segs.iter().enumerate() {
        if i + 1 == segs.len() {
            if cur.contains_key(*s) {
                return Err(format!("the rule uses both {path} and fields inside it"));
            }
            cur.insert(s.to_string(), Value::Array(alts.to_vec()));
            return Ok(());
        }
        let next = cur
            .entry(s.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        cur = match next {
            Value::Object(m) => m,
            _ => {
                return Err(format!(
                    "the rule uses both {} and {path}",
                    segs[..=i].join(".")
                ))
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Catalog;

    fn rule(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).expect("test rule is YAML")
    }

    /// A rule with the usual metadata around the given detection section (indented 4).
    fn with_detection(title: &str, detection: &str) -> String {
        format!(
            "title: {title}\nid: 0c9a7e21-5b3d-4e8f-a1c2-3d4e5f6a7b8c\nstatus: experimental\n\
             description: A test rule.\nauthor: trailwarden tests\ndate: 2025-02-01\n\
             tags:\n    - attack.t1078.004\nlogsource:\n    product: aws\n    service: cloudtrail\n\
             detection:\n{detection}\nlevel: medium\n"
        )
    }

    fn convert_ok(yaml: &str) -> Value {
        convert_rule(&rule(yaml), &BTreeSet::new()).unwrap_or_else(|r| panic!("refused: {r}"))
    }

    fn refusal(yaml: &str) -> Refusal {
        match convert_rule(&rule(yaml), &BTreeSet::new()) {
            Ok(d) => panic!("converted: {d:#}"),
            Err(r) => r,
        }
    }

    fn detection(d: &Value) -> Detection {
        Detection::compile(d, "test", FAMILY, 0)
            .expect("converted detection compiles")
            .1
            .expect("enabled")
    }

    /// A CloudTrail record as an IAM user's call writes it.
    fn record(source: &str, name: &str) -> Value {
        json!({
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDA4Z7EXAMPLEUSER01",
                "arn": "arn:aws:iam::111122223333:user/alice",
                "accountId": "111122223333",
                "accessKeyId": "AKIA4Z7EXAMPLEKEY001",
                "userName": "alice"
            },
            "eventTime": "2025-03-04T10:15:42Z",
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.24",
            "userAgent": "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1016-aws md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off md/command#x",
            "requestParameters": null,
            "responseElements": null,
            "requestID": "5d1c9f0e-7a3b-4c2d-9e8f-1a2b3c4d5e6f",
            "eventID": "a8b7c6d5-e4f3-4a2b-8c1d-0e9f8a7b6c5d",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "111122223333",
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": format!("{}", source)
            }
        })
    }

    /// The record with `value` at the dotted `path` (objects made as needed; `null` replaced).
    fn set(mut r: Value, path: &str, value: Value) -> Value {
        let segs: Vec<&str> = path.split('.').collect();
        let mut cur = &mut r;
        for s in &segs[..segs.len() - 1] {
            if !cur.get(*s).is_some_and(Value::is_object) {
                cur[*s] = json!({});
            }
            cur = &mut cur[*s];
        }
        cur[segs[segs.len() - 1]] = value;
        r
    }

    fn assumed_role(role: &str) -> Value {
        json!({
            "type": "AssumedRole",
            "principalId": "AROA4Z7EXAMPLEROLE01:botocore-session-1741083342",
            "arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/botocore-session-1741083342"),
            "accountId": "111122223333",
            "accessKeyId": "ASIA4Z7EXAMPLEKEY002",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROA4Z7EXAMPLEROLE01",
                    "arn": format!("arn:aws:iam::111122223333:role/{role}"),
                    "accountId": "111122223333",
                    "userName": role
                },
                "attributes": {"creationDate": "2025-03-04T10:02:11Z", "mfaAuthenticated": "false"}
            }
        })
    }

    const TRAIL_RULE: &str = r#"
title: CloudTrail Logging Stopped Or Trail Deleted
id: 6b1f3c2e-4d5a-4f7b-9c8d-0e1f2a3b4c5d
status: experimental
description: |
    Detects a trail being stopped or deleted, which leaves
    the account without its audit log.
references:
    - https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_StopLogging.html
author: trailwarden tests
date: 2025-01-10
tags:
    - attack.defense-evasion
    - attack.t1562.008
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: cloudtrail.amazonaws.com
        eventName:
            - StopLogging
            - DeleteTrail
    condition: selection
falsepositives:
    - Planned decommissioning of a trail
    - Infrastructure as code replacing a trail
level: high
"#;

    #[test]
    fn a_selection_and_the_rules_metadata_become_a_detection() {
        let d = convert_ok(TRAIL_RULE);
        assert_eq!(d["id"], "cloudtrail-logging-stopped-or-trail-deleted");
        assert_eq!(d["title"], "CloudTrail Logging Stopped Or Trail Deleted");
        assert_eq!(d["severity"], "high");
        assert_eq!(d["references"]["mitre_attack"], json!(["T1562.008"]));
        assert_eq!(
            d["references"]["urls"],
            json!(["https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_StopLogging.html"])
        );
        assert_eq!(
            d["pattern"],
            json!({"eventSource": ["cloudtrail.amazonaws.com"], "eventName": ["StopLogging", "DeleteTrail"]})
        );
        let text = d["description"].as_str().unwrap();
        assert!(text.starts_with("Detects a trail being stopped or deleted, which leaves the account without its audit log."), "{text}");
        assert!(text.contains("False positives (from the Sigma rule): Planned decommissioning of a trail; Infrastructure as code replacing a trail."), "{text}");
        assert!(
            text.contains("6b1f3c2e-4d5a-4f7b-9c8d-0e1f2a3b4c5d")
                && text.contains("trailwarden tests"),
            "{text}"
        );

        let det = detection(&d);
        assert_eq!(det.family, "sigma");
        let stop = set(
            record("cloudtrail.amazonaws.com", "StopLogging"),
            "requestParameters.name",
            json!("arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events"),
        );
        assert!(det.pattern.matches(&stop));
        let start = set(stop.clone(), "eventName", json!("StartLogging"));
        assert!(!det.pattern.matches(&start));
        // Indexed by its eventName values, as the built-ins are.
        assert_eq!(
            det.pattern.required_strings(&["eventName"]).unwrap().len(),
            2
        );
    }

    #[test]
    fn levels_map_to_severities() {
        for (level, sev) in [
            ("informational", "info"),
            ("low", "low"),
            ("medium", "medium"),
            ("high", "high"),
            ("critical", "critical"),
        ] {
            let y = TRAIL_RULE.replace("level: high", &format!("level: {level}"));
            assert_eq!(convert_ok(&y)["severity"], sev, "{level}");
        }
        let none = convert_ok(&TRAIL_RULE.replace("level: high\n", ""));
        assert_eq!(none["severity"], "medium");
        assert!(none["description"]
            .as_str()
            .unwrap()
            .contains("no level; medium assumed"));
        let r = refusal(&TRAIL_RULE.replace("level: high", "level: urgent"));
        assert!(r.reason.contains("unknown level"), "{r}");
        assert_eq!(r.title, "CloudTrail Logging Stopped Or Trail Deleted");
    }

    #[test]
    fn field_modifiers_become_pattern_operators() {
        let y = with_detection(
            "Suspicious Access Key Creation",
            r#"    selection:
        eventSource: iam.amazonaws.com
        eventName|startswith: Create
        userAgent|contains: 'S3 Browser'
        userIdentity.arn|endswith: ':root'
        sourceIPAddress|cidr: 198.51.100.0/24
        requestParameters.userName: 'svc-*-deploy'
        errorCode: null
    condition: selection"#,
        );
        let d = convert_ok(&y);
        assert_eq!(
            d["pattern"],
            json!({
                "eventSource": ["iam.amazonaws.com"],
                "eventName": [{"prefix": "Create"}],
                "userAgent": [{"wildcard": "*S3 Browser*"}],
                "userIdentity": {"arn": [{"suffix": ":root"}]},
                "sourceIPAddress": [{"cidr": "198.51.100.0/24"}],
                "requestParameters": {"userName": [{"wildcard": "svc-*-deploy"}]},
                "errorCode": [null, {"exists": false}]
            })
        );
        let det = detection(&d);
        let mut hit = record("iam.amazonaws.com", "CreateAccessKey");
        hit["userIdentity"] = json!({
            "type": "Root",
            "principalId": "111122223333",
            "arn": "arn:aws:iam::111122223333:root",
            "accountId": "111122223333",
            "accessKeyId": "ASIA4Z7EXAMPLEKEY003"
        });
        hit["userAgent"] = json!("S3 Browser 11.5.7 https://s3browser.com");
        hit["sourceIPAddress"] = json!("198.51.100.77");
        hit = set(
            hit,
            "requestParameters.userName",
            json!("svc-billing-deploy"),
        );
        hit = set(
            hit,
            "responseElements.accessKey",
            json!({"accessKeyId": "AKIA4Z7EXAMPLEKEY004", "status": "Active", "userName": "svc-billing-deploy", "createDate": "Mar 4, 2025 10:15:42 AM"}),
        );
        assert!(det.pattern.matches(&hit));
        let failed = set(hit.clone(), "errorCode", json!("AccessDenied"));
        assert!(!det.pattern.matches(&failed));
        let elsewhere = set(hit.clone(), "sourceIPAddress", json!("203.0.113.24"));
        assert!(!det.pattern.matches(&elsewhere));
        let other_user = set(
            hit.clone(),
            "requestParameters.userName",
            json!("svc-billing"),
        );
        assert!(!det.pattern.matches(&other_user));
        let cli = set(hit, "userAgent", json!("aws-cli/2.15.30"));
        assert!(!det.pattern.matches(&cli));
    }

    #[test]
    fn numbers_exists_and_comparisons() {
        let y = with_detection(
            "Security Group Opened For SSH To The World",
            r#"    selection:
        eventSource: ec2.amazonaws.com
        eventName: AuthorizeSecurityGroupIngress
        requestParameters.ipPermissions.items.fromPort: 22
        requestParameters.ipPermissions.items.ipRanges.items.cidrIp: '0.0.0.0/0'
        errorCode|exists: false
    condition: selection"#,
        );
        let d = convert_ok(&y);
        assert_eq!(
            d["pattern"]["requestParameters"]["ipPermissions"]["items"]["fromPort"],
            json!([22, "22"])
        );
        assert_eq!(d["pattern"]["errorCode"], json!([{"exists": false}]));
        let det = detection(&d);
        let open = set(
            record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
            "requestParameters",
            json!({"groupId": "sg-0a1b2c3d4e5f60718", "ipPermissions": {"items": [
                {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                 "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                 "ipv6Ranges": {}, "prefixListIds": {}}
            ]}}),
        );
        assert!(det.pattern.matches(&open));
        let https = set(
            open.clone(),
            "requestParameters.ipPermissions.items",
            json!([{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]),
        );
        assert!(!det.pattern.matches(&https));
        let failed = set(
            open,
            "errorCode",
            json!("Client.InvalidPermission.Duplicate"),
        );
        assert!(!det.pattern.matches(&failed));

        // Quoted in the rule, typed in the record: Sigma compares the text.
        let y = with_detection(
            "Block Public Access Turned Off",
            r#"    selection:
        eventSource: s3.amazonaws.com
        eventName: PutBucketPublicAccessBlock
        requestParameters.PublicAccessBlockConfiguration.BlockPublicPolicy: 'false'
        requestParameters.PublicAccessBlockConfiguration.xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/'
    condition: selection"#,
        );
        let d = convert_ok(&y);
        assert_eq!(
            d["pattern"]["requestParameters"]["PublicAccessBlockConfiguration"]
                ["BlockPublicPolicy"],
            json!(["false", false])
        );
        let det = detection(&d);
        let bpa = |block: bool| {
            set(
                record("s3.amazonaws.com", "PutBucketPublicAccessBlock"),
                "requestParameters",
                json!({"bucketName": "finance-exports", "Host": "finance-exports.s3.amazonaws.com", "publicAccessBlock": "",
                       "PublicAccessBlockConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                           "RestrictPublicBuckets": block, "BlockPublicPolicy": block, "BlockPublicAcls": block, "IgnorePublicAcls": block}}),
            )
        };
        assert!(det.pattern.matches(&bpa(false)));
        assert!(!det.pattern.matches(&bpa(true)));
        for (text, typed) in [
            ("22", Some(json!(22))),
            ("-1.5", Some(json!(-1.5))),
            ("true", Some(json!(true))),
            ("022", None),
            ("1e3", None),
            ("12ab", None),
            ("", None),
            ("-", None),
        ] {
            assert_eq!(typed_value(text), typed, "{text}");
        }

        let y = with_detection(
            "Long Lived Federation Token",
            r#"    selection:
        eventSource: sts.amazonaws.com
        eventName: GetFederationToken
        requestParameters.durationSeconds|gte: 43200
    condition: selection"#,
        );
        let det = detection(&convert_ok(&y));
        let token = |secs: u64| {
            set(
                record("sts.amazonaws.com", "GetFederationToken"),
                "requestParameters",
                json!({"name": "backup", "durationSeconds": secs}),
            )
        };
        assert!(det.pattern.matches(&token(129_600)));
        assert!(det.pattern.matches(&token(43_200)));
        assert!(!det.pattern.matches(&token(3_600)));
    }

    #[test]
    fn sigma_wildcards_and_escapes() {
        let y = with_detection(
            "Escapes",
            r#"    selection:
        eventSource: iam.amazonaws.com
        requestParameters.policyName: 'Full\*Access*'
        requestParameters.path: 'C:\temp\\*'
    condition: selection"#,
        );
        let d = convert_ok(&y);
        let rp = &d["pattern"]["requestParameters"];
        assert_eq!(rp["policyName"], json!([{"wildcard": "Full\\*Access*"}]));
        assert_eq!(rp["path"], json!([{"wildcard": "C:\\\\temp\\\\*"}]));
        let det = detection(&d);
        let r = set(
            set(
                record("iam.amazonaws.com", "PutUserPolicy"),
                "requestParameters.policyName",
                json!("Full*AccessToAll"),
            ),
            "requestParameters.path",
            json!("C:\\temp\\x"),
        );
        assert!(det.pattern.matches(&r));
        let r = set(r, "requestParameters.policyName", json!("FullAdminAccess"));
        assert!(!det.pattern.matches(&r));
    }

    #[test]
    fn and_not_on_one_field_becomes_anything_but_or_absent() {
        let y = with_detection(
            "S3 Buckets Listed Outside Roles",
            r#"    selection:
        eventSource: s3.amazonaws.com
        eventName: ListBuckets
    filter:
        userIdentity.type: AssumedRole
    condition: selection and not filter"#,
        );
        let d = convert_ok(&y);
        assert_eq!(
            d["pattern"],
            json!({
                "eventSource": ["s3.amazonaws.com"],
                "eventName": ["ListBuckets"],
                "userIdentity": {"type": [{"anything-but": ["AssumedRole"]}, {"exists": false}]}
            })
        );
        let det = detection(&d);
        let by_user = record("s3.amazonaws.com", "ListBuckets");
        assert!(det.pattern.matches(&by_user));
        let mut by_role = by_user.clone();
        by_role["userIdentity"] = assumed_role("ci-deployer");
        assert!(!det.pattern.matches(&by_role));

        // Two filters on one field: one anything-but of both, strings only (so null and
        // absent are said explicitly).
        let y = with_detection(
            "Sign-in Token Outside The Console",
            r#"    selection:
        eventSource: signin.amazonaws.com
        eventName: GetSigninToken
    filter_main_console:
        userAgent|contains: 'Jersey/'
    filter_optional_sso:
        userAgent|startswith: 'aws-sso-portal'
    condition: selection and not 1 of filter_*"#,
        );
        let d = convert_ok(&y);
        assert_eq!(
            d["pattern"]["userAgent"],
            json!([{"anything-but": {"wildcard": ["*Jersey/*", "aws-sso-portal*"]}}, null, {"exists": false}])
        );
        let det = detection(&d);
        let tok = |ua: &str| {
            set(
                record("signin.amazonaws.com", "GetSigninToken"),
                "userAgent",
                json!(ua),
            )
        };
        assert!(det.pattern.matches(&tok("python-requests/2.31.0")));
        assert!(!det.pattern.matches(&tok("Jersey/${project.version}")));
        assert!(!det.pattern.matches(&tok("aws-sso-portal/1.0")));
    }

    #[test]
    fn not_of_a_selection_of_several_fields_is_an_or_of_each_field_negated() {
        let y = with_detection(
            "Access Key Created Outside The Break-glass Role",
            r#"    selection:
        eventSource: iam.amazonaws.com
        eventName: CreateAccessKey
    filter_breakglass:
        userIdentity.type: AssumedRole
        userIdentity.sessionContext.sessionIssuer.userName: OrganizationAccountAccessRole
    condition: selection and not filter_breakglass"#,
        );
        let d = convert_ok(&y);
        assert_eq!(
            d["pattern"]["$or"].as_array().unwrap().len(),
            2,
            "{:#}",
            d["pattern"]
        );
        let det = detection(&d);
        let base = record("iam.amazonaws.com", "CreateAccessKey");
        let mut org = base.clone();
        org["userIdentity"] = assumed_role("OrganizationAccountAccessRole");
        let mut other = base.clone();
        other["userIdentity"] = assumed_role("ci-deployer");
        assert!(det.pattern.matches(&base), "IAM user: not the filter");
        assert!(det.pattern.matches(&other), "another role: not the filter");
        assert!(!det.pattern.matches(&org), "the filtered role");
        let sibling = set(base, "eventName", json!("ListAccessKeys"));
        assert!(!det.pattern.matches(&sibling));
    }

    #[test]
    fn one_of_all_of_them_and_parentheses() {
        let y = with_detection(
            "Snapshot Or Image Made Public",
            r#"    selection_snapshot:
        eventSource: ec2.amazonaws.com
        eventName: ModifySnapshotAttribute
        requestParameters.createVolumePermission.add.items.group: all
    selection_image:
        eventSource: ec2.amazonaws.com
        eventName: ModifyImageAttribute
        requestParameters.launchPermission.add.items.group: all
    filter_failed:
        errorCode|exists: true
    condition: 1 of selection_* and not filter_failed"#,
        );
        let d = convert_ok(&y);
        let p = &d["pattern"];
        assert_eq!(p["eventSource"], json!(["ec2.amazonaws.com"]));
        assert_eq!(p["errorCode"], json!([{"exists": false}]));
        assert_eq!(p["$or"].as_array().unwrap().len(), 2, "{p:#}");
        let det = detection(&d);
        assert_eq!(
            det.pattern.required_strings(&["eventName"]).unwrap(),
            ["ModifyImageAttribute", "ModifySnapshotAttribute"]
                .map(String::from)
                .into()
        );
        let snap = set(
            record("ec2.amazonaws.com", "ModifySnapshotAttribute"),
            "requestParameters",
            json!({"snapshotId": "snap-0123456789abcdef0", "attributeType": "CREATE_VOLUME_PERMISSION",
                   "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}),
        );
        assert!(det.pattern.matches(&snap));
        let removed = set(
            snap.clone(),
            "requestParameters.createVolumePermission",
            json!({"remove": {"items": [{"group": "all"}]}}),
        );
        assert!(!det.pattern.matches(&removed));
        let failed = set(
            snap.clone(),
            "errorCode",
            json!("Client.UnauthorizedOperation"),
        );
        assert!(!det.pattern.matches(&failed));
        let image = set(
            record("ec2.amazonaws.com", "ModifyImageAttribute"),
            "requestParameters",
            json!({"imageId": "ami-0abcdef1234567890", "launchPermission": {"add": {"items": [{"group": "all"}]}},
                   "attributeType": "launchPermission"}),
        );
        assert!(det.pattern.matches(&image));

        // `1 of them` over selections of one field: one list of values (selections in name
        // order).
        let y = with_detection(
            "Recorder Or Trail Off",
            r#"    sel_trail:
        eventName: StopLogging
    sel_config:
        eventName: StopConfigurationRecorder
    condition: 1 of them"#,
        );
        assert_eq!(
            convert_ok(&y)["pattern"],
            json!({"eventName": ["StopConfigurationRecorder", "StopLogging"]})
        );
        // `all of them` and parentheses.
        let y = with_detection(
            "Root Console Or Key",
            r#"    sel_root:
        userIdentity.type: Root
    sel_events:
        eventName:
            - ConsoleLogin
            - CreateAccessKey
    _unused:
        eventName: Unused
    condition: (sel_root and sel_events) and not (1 of _unused)"#,
        );
        let d = convert_ok(&y);
        assert_eq!(
            d["pattern"],
            json!({"userIdentity": {"type": ["Root"]}, "eventName": ["ConsoleLogin", "CreateAccessKey"]})
        );
        let y = y.replace(
            "condition: (sel_root and sel_events) and not (1 of _unused)",
            "condition: all of them",
        );
        assert_eq!(
            d["pattern"],
            convert_ok(&y)["pattern"],
            "`them` leaves out _names"
        );
    }

    #[test]
    fn contains_all_is_every_order_of_the_values() {
        let y = with_detection(
            "Boto3 From Kali",
            r#"    selection:
        eventSource: sts.amazonaws.com
        userAgent|contains|all:
            - Boto3
            - kali
    condition: selection"#,
        );
        let d = convert_ok(&y);
        assert_eq!(
            d["pattern"]["userAgent"],
            json!([{"wildcard": "*Boto3*kali*"}, {"wildcard": "*kali*Boto3*"}])
        );
        let det = detection(&d);
        let ua = |s: &str| {
            set(
                record("sts.amazonaws.com", "GetCallerIdentity"),
                "userAgent",
                json!(s),
            )
        };
        assert!(det.pattern.matches(&ua(
            "Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#6.6.9-amd64-kali md/arch#x86_64"
        )));
        assert!(det.pattern.matches(&ua("kali-tools Boto3/1.34.50")));
        assert!(!det.pattern.matches(&ua(
            "Boto3/1.34.50 md/Botocore#1.34.50 os/linux#6.5.0-1016-aws"
        )));

        let overlapping = y.replace(
            "- Boto3\n            - kali",
            "- 'abc'\n            - 'cde'",
        );
        let r = refusal(&overlapping);
        assert!(r.reason.contains("overlap"), "{r}");
        // A value inside another adds nothing.
        let nested = y.replace(
            "- Boto3\n            - kali",
            "- 'Boto'\n            - 'Boto3'",
        );
        assert_eq!(
            convert_ok(&nested)["pattern"]["userAgent"],
            json!([{"wildcard": "*Boto3*"}])
        );
    }

    #[test]
    fn count_aggregations_become_thresholds() {
        let y = with_detection(
            "Many Secrets Read By One Identity",
            r#"    selection:
        eventSource: secretsmanager.amazonaws.com
        eventName:
            - GetSecretValue
            - BatchGetSecretValue
    timeframe: 10m
    condition: selection | count() by userIdentity.arn > 20"#,
        );
        let d = convert_ok(&y);
        assert_eq!(
            d["threshold"],
            json!({"count": 21, "window_seconds": 600, "group_by": ["userIdentity.arn"]})
        );
        let y = y.replace("    timeframe: 10m\n", "");
        let d = convert_ok(&y);
        assert_eq!(d["threshold"]["window_seconds"], 3600);
        assert!(d["description"]
            .as_str()
            .unwrap()
            .contains("without a timeframe"));
        let r = refusal(&y.replace("count() by", "count(eventName) by"));
        assert!(r.reason.contains("distinct"), "{r}");
        let r = refusal(&y.replace("> 20", "< 2"));
        assert!(r.reason.contains("not on fewer"), "{r}");
    }

    #[test]
    fn what_an_event_pattern_cannot_say_is_refused_with_the_construct() {
        let cases: &[(&str, &str)] = &[
            (
                "    selection:\n        userIdentity.arn|re: '.+:assumed-role/aws:.+'\n    condition: selection",
                "regular expressions",
            ),
            (
                "    selection:\n        eventName: 'Delete?ucket'\n    condition: selection",
                "one-character wildcard",
            ),
            (
                "    keywords:\n        - 'AccessDenied'\n        - 'UnauthorizedOperation'\n    condition: keywords",
                "keyword search",
            ),
            (
                "    selection:\n        eventName: PutUserPolicy\n        requestParameters|contains: '\"s3:GetObject\"'\n    condition: selection",
                "requestParameters is an object",
            ),
            (
                "    selection:\n        eventSource: ec2.amazonaws.com\n        eventName|startswith: Delete\n    filter:\n        eventName: DeleteTags\n    condition: selection and not filter",
                "cannot put two conditions on one field",
            ),
            (
                "    selection:\n        eventName: ConsoleLogin\n    filter:\n        sourceIPAddress|cidr: 10.0.0.0/8\n    condition: selection and not filter",
                "negation of this kind",
            ),
            (
                "    selection:\n        userAgent|base64offset|contains: 'curl'\n    condition: selection",
                "modifier |base64offset",
            ),
            (
                "    selection:\n        eventName: StopLogging\n    condition: selection and not filter",
                "\"filter\", which is not a selection",
            ),
            (
                "    sel_a:\n        eventName: StopLogging\n    sel_b:\n        eventName: DeleteTrail\n    condition: 2 of sel_*",
                "only \"1 of\"",
            ),
            (
                "    selection:\n        eventName: StopLogging\n    condition: selection and not selection",
                "can never match",
            ),
            (
                "    selection:\n        eventName|all:\n            - StopLogging\n            - DeleteTrail\n    condition: selection",
                "could never match",
            ),
            (
                "    selection:\n        eventName: StopLogging\n    condition: selection | near other",
                "aggregation",
            ),
        ];
        for (detection, want) in cases {
            let r = refusal(&with_detection("Refused Rule", detection));
            assert_eq!(r.title, "Refused Rule");
            assert!(
                r.reason.contains(want),
                "{detection}\n-> {r}\nwanted {want:?}"
            );
        }

        let r = refusal(&with_detection("Deletions", cases[4].0));
        assert!(
            r.reason
                .starts_with("condition \"selection and not filter\": eventName must match"),
            "the conflict names the condition and the field: {r}"
        );
        let r = refusal(&with_detection("Re", cases[0].0));
        assert!(
            r.reason
                .starts_with("selection selection: userIdentity.arn|re"),
            "{r}"
        );

        let windows = TRAIL_RULE.replace(
            "product: aws\n    service: cloudtrail",
            "product: windows\n    category: process_creation",
        );
        let r = refusal(&windows);
        assert!(
            r.reason
                .contains("product windows / service (none), not aws / cloudtrail"),
            "{r}"
        );
        let r = refusal("action: global\ntitle: Shared\nlogsource:\n    product: aws\n");
        assert!(r.reason.contains("rule-collection"), "{r}");
        let r = refusal(&TRAIL_RULE.replace("status: experimental", "status: deprecated"));
        assert!(r.reason.contains("deprecated"), "{r}");
        assert_eq!(
            refusal("just text").reason,
            "not a Sigma rule: expected a YAML mapping"
        );
    }

    /// Sigma's meaning of a selection on one record, written directly (exact strings, null,
    /// contains / startswith / endswith), to check the converted patterns against.
    fn sigma_selection_holds(sel: &Value, rec: &Value) -> bool {
        let get = |path: &str| {
            path.split('.')
                .try_fold(rec, |v, k| v.get(k))
                .filter(|v| !v.is_null())
        };
        let map_holds = |m: &Map<String, Value>| {
            m.iter().all(|(key, want)| {
                let (field, modifier) = key.split_once('|').unwrap_or((key, ""));
                let have = get(field).and_then(Value::as_str);
                let wants: Vec<&Value> = match want {
                    Value::Array(a) => a.iter().collect(),
                    w => vec![w],
                };
                wants.iter().any(|w| match (w.as_str(), have) {
                    (None, h) => h.is_none(),
                    (Some(_), None) => false,
                    (Some(w), Some(h)) => match modifier {
                        "" => h == w,
                        "contains" => h.contains(w),
                        "startswith" => h.starts_with(w),
                        "endswith" => h.ends_with(w),
                        m => panic!("modifier {m}"),
                    },
                })
            })
        };
        match sel {
            Value::Object(m) => map_holds(m),
            Value::Array(a) => a.iter().any(|m| map_holds(m.as_object().unwrap())),
            _ => unreachable!(),
        }
    }

    fn sigma_holds(e: &Expr, sels: &Map<String, Value>, rec: &Value) -> bool {
        match e {
            Expr::Sel(n) => sigma_selection_holds(&sels[n], rec),
            Expr::Not(x) => !sigma_holds(x, sels, rec),
            Expr::And(xs) => xs.iter().all(|x| sigma_holds(x, sels, rec)),
            Expr::Or(xs) => xs.iter().any(|x| sigma_holds(x, sels, rec)),
        }
    }

    /// Every condition the converter accepts means, on every record of a grid of values
    /// (absent fields included), what Sigma means; and the refusals are the same-field
    /// conflicts, nothing else.
    #[test]
    fn converted_conditions_agree_with_sigma_on_every_record() {
        let selections = r#"    s1:
        eventName: [CreateUser, DeleteUser]
    s2:
        userIdentity.type: Root
    s3:
        userAgent|contains: kali
    s4:
        eventName: AttachUserPolicy
        userIdentity.type: [IAMUser, AssumedRole]
    s5:
        userAgent|startswith: aws-cli
    s6:
        - eventName: CreateUser
        - userAgent: console.amazonaws.com
    s7:
        userAgent|endswith: kali
        eventName: null
"#;
        let conditions = [
            "s1",
            "s1 and not s2",
            "s1 and not s4",
            "(s1 or s4) and not s3",
            "not (s2 or s3) and s1",
            "s4 and not s5",
            "s6 and not s2",
            "s2 and not s6",
            "not s4 and s1",
            "not s4",
            "s2 and not (s4 or s6)",
            "s2 or not s1 and s5",
            "1 of s* and not s3",
            "s2 and not s7",
            "s7 or s4",
            "not (s1 and s2) and s5",
            "s3 and not s5",
            "all of s1 s2",
        ];
        let names = ["s1", "s2", "s3", "s4", "s5", "s6", "s7"].map(String::from);
        let yaml_sels: Map<String, Value> = serde_yaml::from_str(selections).unwrap();
        let mut records = Vec::new();
        for name in [
            None,
            Some("CreateUser"),
            Some("DeleteUser"),
            Some("AttachUserPolicy"),
        ] {
            for ty in [None, Some("Root"), Some("IAMUser"), Some("AssumedRole")] {
                for ua in [
                    None,
                    Some("aws-cli/2.15.30 os/linux"),
                    Some("Boto3/1.34.50 os/linux#6.6.9-kali"),
                    Some("console.amazonaws.com"),
                    Some("aws-cli/2.15.30 os/linux#kali"),
                ] {
                    let mut r = record("iam.amazonaws.com", "x");
                    let o = r.as_object_mut().unwrap();
                    o.remove("eventName");
                    o.remove("userAgent");
                    o["userIdentity"].as_object_mut().unwrap().remove("type");
                    if let Some(n) = name {
                        r["eventName"] = json!(n);
                    }
                    if let Some(t) = ty {
                        r["userIdentity"]["type"] = json!(t);
                    }
                    if let Some(u) = ua {
                        r["userAgent"] = json!(u);
                    }
                    records.push(r);
                }
            }
        }
        let mut converted = 0;
        for cond in conditions {
            let y = with_detection("Grid", &format!("{selections}    condition: {cond}"));
            let expr = match parse_condition(cond, &names) {
                Ok(e) => e,
                Err(e) => {
                    assert_eq!(cond, "all of s1 s2", "{e}");
                    continue;
                }
            };
            match convert_rule(&rule(&y), &BTreeSet::new()) {
                Ok(d) => {
                    converted += 1;
                    let det = detection(&d);
                    for r in &records {
                        assert_eq!(
                            det.pattern.matches(r),
                            sigma_holds(&expr, &yaml_sels, r),
                            "condition {cond:?}, pattern {:#}, record eventName {} type {} userAgent {}",
                            d["pattern"],
                            r["eventName"],
                            r["userIdentity"]["type"],
                            r["userAgent"]
                        );
                    }
                }
                Err(r) => assert!(
                    r.reason.contains("two conditions on one field"),
                    "{cond}: {r}"
                ),
            }
        }
        assert_eq!(converted, 15, "converted");
    }

    #[test]
    fn ids_stay_clear_of_the_built_ins_and_of_each_other() {
        let mut c = Converter::new(["cloudtrail-logging-stopped-or-trail-deleted"]);
        let a = c.convert(&rule(TRAIL_RULE)).unwrap()["id"].clone();
        let b = c.convert(&rule(TRAIL_RULE)).unwrap()["id"].clone();
        assert_eq!(a, "sigma-6b1f3c2e");
        assert_eq!(b, "sigma-6b1f3c2e-2");
        let fresh = Converter::new(Vec::<String>::new())
            .convert(&rule(TRAIL_RULE))
            .unwrap()["id"]
            .clone();
        assert_eq!(fresh, "cloudtrail-logging-stopped-or-trail-deleted");

        let long = TRAIL_RULE.replace(
            "title: CloudTrail Logging Stopped Or Trail Deleted",
            "title: A Very Long Sigma Rule Title That Goes On And On Well Past The Sixty Four Character Limit Of Ids",
        );
        let id = convert_ok(&long)["id"].as_str().unwrap().to_string();
        assert!(
            id.len() <= 64 && !id.ends_with('-') && id.starts_with("a-very-long-sigma-rule"),
            "{id}"
        );

        let file = c.into_file();
        assert_eq!(file["family"], "sigma");
        let cat = Catalog::from_json(&file.to_string(), "sigma.json").expect("loads");
        assert_eq!(cat.len(), 2);
        assert_eq!(cat.family_description("sigma"), Some(FILE_DESCRIPTION));
        assert!(cat.detections().iter().all(|d| d.family == "sigma"));
    }
}
