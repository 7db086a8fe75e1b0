//! EventBridge event patterns: compile once, match many events.
//!
//! The syntax is EventBridge's (and `aws/event-ruler`'s): a pattern has the shape of the events
//! it matches; each field names either a nested object pattern or an array of accepted values.
//! Values are exact strings, numbers, booleans or `null`, or one-key matcher objects:
//! `prefix`, `suffix` (both also as `{"equals-ignore-case": ...}`), `equals-ignore-case`,
//! `wildcard` (`*` for any run of characters, `\*` and `\\` for literals), `anything-but`
//! (values, or `prefix`/`suffix`/`wildcard`/`equals-ignore-case`, single or lists), `exists`,
//! `numeric` (`["=", 5]`, `[">", 0, "<=", 5]`) and `cidr`. `$or` takes two or more object
//! patterns, one of which must match at that level.
//!
//! Semantics follow EventBridge: all fields must match, any value in a field's array may match;
//! when the event has an array, the field matches if any element does (arrays of objects are
//! matched element by element, so two fields inside one array must come from the same
//! element); `exists` looks at leaves only (a field whose value is an object does not
//! "exist", an empty array has no leaves); `null` and `""` are different values.
//!
//! A compiled [`Pattern`] also tells which fields it reads ([`Pattern::fields`]) and, when the
//! pattern only accepts fixed strings somewhere, which ones ([`Pattern::required_strings`]): the
//! detection engine uses that to index detections by `eventSource`/`eventName`.

use serde_json::{Map, Number, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

/// A pattern that cannot be compiled: where (a path such as `detail.eventName[1]`) and what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PatternError {
    /// Path inside the pattern; empty for the pattern itself.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "at {}: {}", self.path, self.message)
        }
    }
}

fn err(path: &str, message: impl Into<String>) -> PatternError {
    PatternError {
        path: path.to_string(),
        message: message.into(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A compiled event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    root: ObjectPattern,
    source: Value,
}

#[derive(Debug, Clone)]
struct ObjectPattern {
    fields: Vec<(String, FieldPattern)>,
    /// Each entry is one `$or`: at least one branch must match.
    ors: Vec<Vec<ObjectPattern>>,
}

#[derive(Debug, Clone)]
enum FieldPattern {
    Nested(ObjectPattern),
    /// Any matcher may match.
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

impl Literal {
    fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Literal::Str(s), Value::String(t)) => s == t,
            (Literal::Num(n), Value::Number(m)) => m.as_f64() == Some(*n),
            (Literal::Bool(b), Value::Bool(c)) => b == c,
            (Literal::Null, Value::Null) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(Literal),
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Cidr(ipnet::IpNet),
    Exists(bool),
}

#[derive(Debug, Clone)]
enum AnythingBut {
    Values(Vec<Literal>),
    Prefix(Vec<String>),
    Suffix(Vec<String>),
    Wildcard(Vec<Wildcard>),
    IgnoreCase(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    value: f64,
    inclusive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Range {
    lower: Option<Bound>,
    upper: Option<Bound>,
}

impl Range {
    fn contains(&self, x: f64) -> bool {
        let lo = match self.lower {
            None => true,
            Some(b) if b.inclusive => x >= b.value,
            Some(b) => x > b.value,
        };
        let hi = match self.upper {
            None => true,
            Some(b) if b.inclusive => x <= b.value,
            Some(b) => x < b.value,
        };
        lo && hi
    }
}

/// A wildcard pattern split on its unescaped `*`s.
#[derive(Debug, Clone)]
struct Wildcard {
    /// Literal parts; `parts.len() - 1` stars sit between them.
    parts: Vec<String>,
}

impl Wildcard {
    fn compile(s: &str, path: &str) -> Result<Wildcard, PatternError> {
        let mut parts = vec![String::new()];
        let mut chars = s.chars().peekable();
        let mut last_star = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => {
                        parts.last_mut().expect("never empty").push(e);
                        last_star = false;
                    }
                    Some(other) => {
                        return Err(err(
                            path,
                            format!(
                                "wildcard {s:?}: a backslash may only escape '*' or '\\', not {other:?}"
                            ),
                        ))
                    }
                    None => {
                        return Err(err(
                            path,
                            format!("wildcard {s:?} ends with a lone backslash"),
                        ))
                    }
                },
                '*' => {
                    if last_star {
                        return Err(err(
                            path,
                            format!("wildcard {s:?}: consecutive '*' are not allowed"),
                        ));
                    }
                    parts.push(String::new());
                    last_star = true;
                }
                c => {
                    parts.last_mut().expect("never empty").push(c);
                    last_star = false;
                }
            }
        }
        Ok(Wildcard { parts })
    }

    fn matches(&self, text: &str) -> bool {
        let n = self.parts.len();
        if n == 1 {
            return text == self.parts[0];
        }
        let first = &self.parts[0];
        let last = &self.parts[n - 1];
        if text.len() < first.len() + last.len()
            || !text.starts_with(first.as_str())
            || !text.ends_with(last.as_str())
        {
            return false;
        }
        // Star-only globs: leftmost matches of the middle parts, in order, are enough.
        let mut rest = &text[first.len()..text.len() - last.len()];
        for mid in &self.parts[1..n - 1] {
            match rest.find(mid.as_str()) {
                Some(i) => rest = &rest[i + mid.len()..],
                None => return false,
            }
        }
        true
    }
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn eq_ignore_case(text: &str, lowered: &str) -> bool {
    if text.is_ascii() && lowered.is_ascii() {
        text.eq_ignore_ascii_case(lowered)
    } else {
        text.to_lowercase() == lowered
    }
}

fn starts_ignore_case(text: &str, lowered: &str) -> bool {
    if text.is_ascii() && lowered.is_ascii() {
        text.len() >= lowered.len()
            && text.as_bytes()[..lowered.len()].eq_ignore_ascii_case(lowered.as_bytes())
    } else {
        text.to_lowercase().starts_with(lowered)
    }
}

fn ends_ignore_case(text: &str, lowered: &str) -> bool {
    if text.is_ascii() && lowered.is_ascii() {
        text.len() >= lowered.len()
            && text.as_bytes()[text.len() - lowered.len()..]
                .eq_ignore_ascii_case(lowered.as_bytes())
    } else {
        text.to_lowercase().ends_with(lowered)
    }
}

/// Parses an IP address as CloudTrail writes it; anonymised samples pad IPv4 octets with
/// zeros (`075.050.255.67`), which the standard parser refuses.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let octets: Vec<&str> = s.split('.').collect();
    if octets.len() != 4 {
        return None;
    }
    let mut out = [0u8; 4];
    for (o, part) in out.iter_mut().zip(&octets) {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = part.parse().ok()?;
    }
    Some(IpAddr::from(out))
}

impl Matcher {
    /// Does one leaf value satisfy this matcher? (`Exists` is handled by the caller.)
    fn matches_leaf(&self, v: &Value) -> bool {
        match self {
            Matcher::Exact(l) => l.matches(v),
            Matcher::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Matcher::PrefixIgnoreCase(p) => v.as_str().is_some_and(|s| starts_ignore_case(s, p)),
            Matcher::Suffix(p) => v.as_str().is_some_and(|s| s.ends_with(p.as_str())),
            Matcher::SuffixIgnoreCase(p) => v.as_str().is_some_and(|s| ends_ignore_case(s, p)),
            Matcher::EqualsIgnoreCase(p) => v.as_str().is_some_and(|s| eq_ignore_case(s, p)),
            Matcher::Wildcard(w) => v.as_str().is_some_and(|s| w.matches(s)),
            Matcher::AnythingBut(ab) => match ab {
                AnythingBut::Values(vals) => !vals.iter().any(|l| l.matches(v)),
                AnythingBut::Prefix(ps) => v
                    .as_str()
                    .is_some_and(|s| !ps.iter().any(|p| s.starts_with(p.as_str()))),
                AnythingBut::Suffix(ps) => v
                    .as_str()
                    .is_some_and(|s| !ps.iter().any(|p| s.ends_with(p.as_str()))),
                AnythingBut::Wildcard(ws) => {
                    v.as_str().is_some_and(|s| !ws.iter().any(|w| w.matches(s)))
                }
                AnythingBut::IgnoreCase(ps) => v
                    .as_str()
                    .is_some_and(|s| !ps.iter().any(|p| eq_ignore_case(s, p))),
            },
            Matcher::Numeric(r) => v.as_f64().is_some_and(|x| r.contains(x)),
            Matcher::Cidr(net) => v
                .as_str()
                .and_then(parse_ip)
                .is_some_and(|ip| net.contains(&ip)),
            Matcher::Exists(_) => false,
        }
    }
}

/// Calls `f` on every leaf at `v`: arrays are flattened, objects are not leaves.
fn any_leaf(v: &Value, f: &mut impl FnMut(&Value) -> bool) -> bool {
    match v {
        Value::Array(a) => a.iter().any(|e| any_leaf(e, f)),
        Value::Object(_) => false,
        leaf => f(leaf),
    }
}

fn has_leaf(v: &Value) -> bool {
    any_leaf(v, &mut |_| true)
}

impl FieldPattern {
    fn matches(&self, v: Option<&Value>) -> bool {
        match self {
            FieldPattern::Leaf(ms) => ms.iter().any(|m| match m {
                Matcher::Exists(want) => v.is_some_and(has_leaf) == *want,
                m => v.is_some_and(|v| any_leaf(v, &mut |leaf| m.matches_leaf(leaf))),
            }),
            FieldPattern::Nested(op) => op.matches_opt(v),
        }
    }

    fn matches_absent(&self) -> bool {
        self.matches(None)
    }
}

impl ObjectPattern {
    fn matches_opt(&self, v: Option<&Value>) -> bool {
        match v {
            Some(Value::Object(m)) => self.matches_map(m),
            Some(Value::Array(a)) if !a.is_empty() => a.iter().any(|e| self.matches_opt(Some(e))),
            // A scalar, an empty array or nothing: none of the fields are there.
            _ => self.matches_nothing(),
        }
    }

    fn matches_map(&self, m: &Map<String, Value>) -> bool {
        self.fields.iter().all(|(k, fp)| fp.matches(m.get(k)))
            && self
                .ors
                .iter()
                .all(|branches| branches.iter().any(|b| b.matches_map(m)))
    }

    fn matches_nothing(&self) -> bool {
        self.fields.iter().all(|(_, fp)| fp.matches_absent())
            && self
                .ors
                .iter()
                .all(|branches| branches.iter().any(|b| b.matches_nothing()))
    }

    fn collect_fields(&self, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
        for (k, fp) in &self.fields {
            prefix.push(k.clone());
            match fp {
                FieldPattern::Leaf(_) => {
                    out.insert(prefix.clone());
                }
                FieldPattern::Nested(op) => op.collect_fields(prefix, out),
            }
            prefix.pop();
        }
        for branches in &self.ors {
            for b in branches {
                b.collect_fields(prefix, out);
            }
        }
    }

    fn required_strings(&self, path: &[&str]) -> Option<BTreeSet<String>> {
        let (first, rest) = path.split_first()?;
        let mut result: Option<BTreeSet<String>> = None;
        let mut narrow = |set: BTreeSet<String>| {
            result = Some(match result.take() {
                None => set,
                Some(prev) => prev.intersection(&set).cloned().collect(),
            });
        };
        for (k, fp) in &self.fields {
            if k != first {
                continue;
            }
            match (fp, rest.is_empty()) {
                (FieldPattern::Leaf(ms), true) => {
                    let mut set = BTreeSet::new();
                    let all_exact = ms.iter().all(|m| match m {
                        Matcher::Exact(Literal::Str(s)) => {
                            set.insert(s.clone());
                            true
                        }
                        _ => false,
                    });
                    if all_exact {
                        narrow(set);
                    }
                }
                (FieldPattern::Nested(op), false) => {
                    if let Some(set) = op.required_strings(rest) {
                        narrow(set);
                    }
                }
                _ => {}
            }
        }
        for branches in &self.ors {
            let mut union = BTreeSet::new();
            let mut all = true;
            for b in branches {
                match b.required_strings(path) {
                    Some(s) => union.extend(s),
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            if all {
                narrow(union);
            }
        }
        result
    }
}

/// The operators a matcher object may use.
const OPERATORS: &str =
    "prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, cidr, exists";

fn compile_object(map: &Map<String, Value>, path: &str) -> Result<ObjectPattern, PatternError> {
    let mut out = ObjectPattern {
        fields: Vec::with_capacity(map.len()),
        ors: Vec::new(),
    };
    for (k, v) in map {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if k == "$or" {
            let Value::Array(branches) = v else {
                return Err(err(
                    &p,
                    format!(
                        "\"$or\" takes an array of two or more patterns, found {}",
                        kind_of(v)
                    ),
                ));
            };
            if branches.len() < 2 {
                return Err(err(
                    &p,
                    "\"$or\" needs at least two patterns (write the single pattern directly)",
                ));
            }
            let mut compiled = Vec::with_capacity(branches.len());
            for (i, b) in branches.iter().enumerate() {
                let bp = format!("{p}[{i}]");
                let Value::Object(bm) = b else {
                    return Err(err(
                        &bp,
                        format!(
                            "each \"$or\" branch must be an object pattern, found {}",
                            kind_of(b)
                        ),
                    ));
                };
                if bm.is_empty() {
                    return Err(err(&bp, "empty \"$or\" branch (it would match everything)"));
                }
                compiled.push(compile_object(bm, &bp)?);
            }
            out.ors.push(compiled);
            continue;
        }
        let fp = match v {
            Value::Object(m) => {
                if m.is_empty() {
                    return Err(err(
                        &p,
                        "empty object: give the nested fields to match, or an array of values",
                    ));
                }
                if m.len() == 1 && m.keys().next().is_some_and(|op| is_operator(op)) {
                    return Err(err(
                        &p,
                        format!(
                            "matchers must be inside an array: write [{}]",
                            Value::Object(m.clone())
                        ),
                    ));
                }
                FieldPattern::Nested(compile_object(m, &p)?)
            }
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(err(&p, "empty array: it would match nothing"));
                }
                let mut ms = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    ms.push(compile_matcher(item, &format!("{p}[{i}]"))?);
                }
                FieldPattern::Leaf(ms)
            }
            other => {
                return Err(err(
                    &p,
                    format!(
                        "expected an array of values or a nested object, found {} (write [{}])",
                        kind_of(other),
                        other
                    ),
                ))
            }
        };
        out.fields.push((k.clone(), fp));
    }
    Ok(out)
}

fn is_operator(k: &str) -> bool {
    matches!(
        k,
        "prefix"
            | "suffix"
            | "equals-ignore-case"
            | "wildcard"
            | "anything-but"
            | "numeric"
            | "cidr"
            | "exists"
    )
}

fn literal(v: &Value) -> Option<Literal> {
    Some(match v {
        Value::String(s) => Literal::Str(s.clone()),
        Value::Number(n) => Literal::Num(number(n)?),
        Value::Bool(b) => Literal::Bool(*b),
        Value::Null => Literal::Null,
        _ => return None,
    })
}

fn number(n: &Number) -> Option<f64> {
    n.as_f64().filter(|f| f.is_finite())
}

fn string_arg<'a>(v: &'a Value, path: &str, op: &str) -> Result<&'a str, PatternError> {
    v.as_str().ok_or_else(|| {
        err(
            path,
            format!("\"{op}\" takes a string, found {}", kind_of(v)),
        )
    })
}

/// A string, or `{"equals-ignore-case": "..."}` (for prefix and suffix).
fn string_or_ignore_case<'a>(
    v: &'a Value,
    path: &str,
    op: &str,
) -> Result<(&'a str, bool), PatternError> {
    match v {
        Value::String(s) => Ok((s, false)),
        Value::Object(m) if m.len() == 1 && m.contains_key("equals-ignore-case") => Ok((
            string_arg(&m["equals-ignore-case"], path, "equals-ignore-case")?,
            true,
        )),
        other => Err(err(
            path,
            format!(
                "\"{op}\" takes a string or {{\"equals-ignore-case\": \"...\"}}, found {}",
                kind_of(other)
            ),
        )),
    }
}

/// One string or a non-empty array of strings.
fn strings(v: &Value, path: &str, op: &str) -> Result<Vec<String>, PatternError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    err(
                        &format!("{path}[{i}]"),
                        format!("\"{op}\" takes strings, found {}", kind_of(x)),
                    )
                })
            })
            .collect(),
        other => Err(err(
            path,
            format!(
                "\"{op}\" takes a string or a non-empty array of strings, found {}",
                kind_of(other)
            ),
        )),
    }
}

fn compile_matcher(item: &Value, path: &str) -> Result<Matcher, PatternError> {
    let map = match item {
        Value::Object(m) => m,
        Value::Array(_) => {
            return Err(err(
                path,
                "nested arrays are not allowed in a pattern's value list",
            ))
        }
        v => {
            return literal(v)
                .map(Matcher::Exact)
                .ok_or_else(|| err(path, "number out of range"))
        }
    };
    if map.len() != 1 {
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        return Err(err(
            path,
            format!(
                "a matcher object has exactly one operator ({OPERATORS}), found {} keys [{}]",
                map.len(),
                keys.join(", ")
            ),
        ));
    }
    let (op, arg) = map.iter().next().expect("one entry");
    let p = format!("{path}.{op}");
    Ok(match op.as_str() {
        "prefix" => match string_or_ignore_case(arg, &p, op)? {
            (s, false) => Matcher::Prefix(s.to_string()),
            (s, true) => Matcher::PrefixIgnoreCase(lower(s)),
        },
        "suffix" => match string_or_ignore_case(arg, &p, op)? {
            (s, false) => Matcher::Suffix(s.to_string()),
            (s, true) => Matcher::SuffixIgnoreCase(lower(s)),
        },
        "equals-ignore-case" => Matcher::EqualsIgnoreCase(lower(string_arg(arg, &p, op)?)),
        "wildcard" => Matcher::Wildcard(Wildcard::compile(string_arg(arg, &p, op)?, &p)?),
        "exists" => match arg {
            Value::Bool(b) => Matcher::Exists(*b),
            other => {
                return Err(err(
                    &p,
                    format!("\"exists\" takes true or false, found {}", kind_of(other)),
                ))
            }
        },
        "cidr" => {
            let s = string_arg(arg, &p, op)?;
            let net: ipnet::IpNet = s.trim().parse().map_err(|_| {
                err(
                    &p,
                    format!("{s:?} is not a CIDR block (e.g. \"10.0.0.0/8\" or \"2001:db8::/32\")"),
                )
            })?;
            Matcher::Cidr(net)
        }
        "numeric" => Matcher::Numeric(compile_numeric(arg, &p)?),
        "anything-but" => Matcher::AnythingBut(compile_anything_but(arg, &p)?),
        other => {
            return Err(err(
                path,
                format!("unknown operator {other:?} (known: {OPERATORS})"),
            ))
        }
    })
}

fn compile_anything_but(arg: &Value, p: &str) -> Result<AnythingBut, PatternError> {
    match arg {
        Value::String(_) | Value::Number(_) => Ok(AnythingBut::Values(vec![literal(arg)
            .ok_or_else(|| err(p, "number out of range"))?])),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(err(p, "\"anything-but\" list is empty"));
            }
            let all_str = items.iter().all(Value::is_string);
            let all_num = items.iter().all(Value::is_number);
            if !all_str && !all_num {
                return Err(err(
                    p,
                    "an \"anything-but\" list must hold only strings or only numbers",
                ));
            }
            let mut vals = Vec::with_capacity(items.len());
            for (i, x) in items.iter().enumerate() {
                vals.push(
                    literal(x).ok_or_else(|| err(&format!("{p}[{i}]"), "number out of range"))?,
                );
            }
            Ok(AnythingBut::Values(vals))
        }
        Value::Object(m) if m.len() == 1 => {
            let (op, inner) = m.iter().next().expect("one entry");
            let ip = format!("{p}.{op}");
            match op.as_str() {
                "prefix" => Ok(AnythingBut::Prefix(strings(inner, &ip, op)?)),
                "suffix" => Ok(AnythingBut::Suffix(strings(inner, &ip, op)?)),
                "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(
                    strings(inner, &ip, op)?.iter().map(|s| lower(s)).collect(),
                )),
                "wildcard" => Ok(AnythingBut::Wildcard(
                    strings(inner, &ip, op)?
                        .iter()
                        .map(|s| Wildcard::compile(s, &ip))
                        .collect::<Result<_, _>>()?,
                )),
                other => Err(err(
                    p,
                    format!(
                        "\"anything-but\" accepts prefix, suffix, wildcard or equals-ignore-case inside, not {other:?}"
                    ),
                )),
            }
        }
        other => Err(err(
            p,
            format!(
                "\"anything-but\" takes a string, a number, a list of either, or one of prefix/suffix/wildcard/equals-ignore-case; found {}",
                kind_of(other)
            ),
        )),
    }
}

fn compile_numeric(arg: &Value, p: &str) -> Result<Range, PatternError> {
    let Value::Array(items) = arg else {
        return Err(err(
            p,
            format!(
                "\"numeric\" takes an array such as [\">\", 0, \"<=\", 5], found {}",
                kind_of(arg)
            ),
        ));
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return Err(err(
            p,
            "\"numeric\" takes one or two operator/number pairs, such as [\"=\", 5] or [\">\", 0, \"<=\", 5]",
        ));
    }
    let mut range = Range {
        lower: None,
        upper: None,
    };
    let mut equals = false;
    for (i, pair) in items.chunks(2).enumerate() {
        let op = pair[0].as_str().ok_or_else(|| {
            err(
                &format!("{p}[{}]", i * 2),
                format!(
                    "expected an operator (=, <, <=, >, >=), found {}",
                    kind_of(&pair[0])
                ),
            )
        })?;
        let n = pair[1].as_f64().filter(|f| f.is_finite()).ok_or_else(|| {
            err(
                &format!("{p}[{}]", i * 2 + 1),
                format!(
                    "expected a number after {op:?}, found {}",
                    kind_of(&pair[1])
                ),
            )
        })?;
        let slot_err = |what: &str| err(p, format!("\"numeric\" has two {what} bounds"));
        match op {
            "=" => {
                if items.len() != 2 {
                    return Err(err(p, "\"=\" cannot be combined with another bound"));
                }
                equals = true;
                range.lower = Some(Bound {
                    value: n,
                    inclusive: true,
                });
                range.upper = range.lower;
            }
            ">" | ">=" => {
                if range.lower.is_some() {
                    return Err(slot_err("lower"));
                }
                range.lower = Some(Bound {
                    value: n,
                    inclusive: op == ">=",
                });
            }
            "<" | "<=" => {
                if range.upper.is_some() {
                    return Err(slot_err("upper"));
                }
                range.upper = Some(Bound {
                    value: n,
                    inclusive: op == "<=",
                });
            }
            other => {
                return Err(err(
                    &format!("{p}[{}]", i * 2),
                    format!("unknown operator {other:?} (use =, <, <=, >, >=)"),
                ))
            }
        }
    }
    if !equals {
        if let (Some(lo), Some(hi)) = (range.lower, range.upper) {
            let empty =
                lo.value > hi.value || (lo.value == hi.value && !(lo.inclusive && hi.inclusive));
            if empty {
                return Err(err(
                    p,
                    format!(
                        "the range is empty: nothing is above {} and below {}",
                        lo.value, hi.value
                    ),
                ));
            }
        }
    }
    Ok(range)
}

impl Pattern {
    /// Compiles a pattern given as JSON.
    pub fn compile(v: &Value) -> Result<Pattern, PatternError> {
        let Value::Object(map) = v else {
            return Err(err(
                "",
                format!("an event pattern is a JSON object, found {}", kind_of(v)),
            ));
        };
        if map.is_empty() {
            return Err(err("", "the pattern is empty (it would match every event)"));
        }
        Ok(Pattern {
            root: compile_object(map, "")?,
            source: v.clone(),
        })
    }

    /// Parses and compiles a pattern given as JSON text.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| err("", format!("the pattern is not valid JSON: {e}")))?;
        Pattern::compile(&v)
    }

    /// True when the event matches.
    pub fn matches(&self, event: &Value) -> bool {
        match event {
            Value::Object(m) => self.root.matches_map(m),
            other => self.root.matches_opt(Some(other)),
        }
    }

    /// True when an event given as a JSON object's map matches.
    pub fn matches_map(&self, event: &Map<String, Value>) -> bool {
        self.root.matches_map(event)
    }

    /// The JSON this pattern was compiled from.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Every field path the pattern reads (including inside `$or`), as path segments.
    pub fn fields(&self) -> Vec<Vec<String>> {
        let mut out = BTreeSet::new();
        self.root.collect_fields(&mut Vec::new(), &mut out);
        out.into_iter().collect()
    }

    /// Every field path the pattern reads, dotted (`userIdentity.type`).
    pub fn field_paths(&self) -> Vec<String> {
        self.fields().into_iter().map(|p| p.join(".")).collect()
    }

    /// The distinct top-level fields the pattern reads.
    pub fn top_level_fields(&self) -> BTreeSet<String> {
        self.fields()
            .into_iter()
            .filter_map(|p| p.into_iter().next())
            .collect()
    }

    /// When every event this pattern matches must carry, at `path`, one of a fixed set of
    /// strings (exact values, possibly through `$or`), that set. `None` when the pattern
    /// accepts other values there (prefix, anything-but, absent, ...). Use it for indexing:
    /// `required_strings(&["eventName"])`, or `&["detail", "eventName"]` for EventBridge
    /// envelopes.
    pub fn required_strings(&self, path: &[&str]) -> Option<BTreeSet<String>> {
        self.root.required_strings(path)
    }

    /// Top-level fields that must be present (with any value, even `null`) for the pattern to
    /// match: an event without one of them cannot match. (`$or` branches are not considered.)
    pub fn required_top_level_fields(&self) -> Vec<String> {
        self.root
            .fields
            .iter()
            .filter(|(_, fp)| !fp.matches_absent())
            .map(|(k, _)| k.clone())
            .collect()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl serde::Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Pattern::compile(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pat(v: Value) -> Pattern {
        Pattern::compile(&v).unwrap_or_else(|e| panic!("{e}"))
    }

    fn m(p: &Pattern, ev: Value) -> bool {
        p.matches(&ev)
    }

    #[test]
    fn exact_values_of_every_type() {
        let p = pat(json!({"a": ["x", 5, true, null]}));
        assert!(m(&p, json!({"a": "x"})));
        assert!(m(&p, json!({"a": 5})));
        assert!(m(&p, json!({"a": 5.0})));
        assert!(m(&p, json!({"a": true})));
        assert!(m(&p, json!({"a": null})));
        assert!(!m(&p, json!({"a": "5"})));
        assert!(!m(&p, json!({"a": false})));
        assert!(!m(&p, json!({"a": ""})));
        assert!(!m(&p, json!({})));
        let empty = pat(json!({"a": [""]}));
        assert!(m(&empty, json!({"a": ""})));
        assert!(!m(&empty, json!({"a": null})));
    }

    #[test]
    fn all_fields_must_match_and_nested_objects_descend() {
        let p = pat(
            json!({"source": ["aws.iam"], "detail": {"eventName": ["CreateUser"],
            "userIdentity": {"type": ["IAMUser"]}}}),
        );
        let ev = json!({"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail",
            "detail": {"eventName": "CreateUser", "userIdentity": {"type": "IAMUser"}}});
        assert!(p.matches(&ev));
        let mut other = ev.clone();
        other["detail"]["userIdentity"]["type"] = json!("Root");
        assert!(!p.matches(&other));
        assert!(!p.matches(&json!({"source": "aws.iam"})));
    }

    #[test]
    fn event_arrays_match_when_any_element_matches() {
        let p = pat(json!({"resources": ["arn:b"]}));
        assert!(m(&p, json!({"resources": ["arn:a", "arn:b"]})));
        assert!(!m(&p, json!({"resources": ["arn:a"]})));
        assert!(!m(&p, json!({"resources": []})));
        // Arrays of objects: fields must come from the same element.
        let p = pat(json!({"employees": {"first": ["Anna"], "last": ["Smith"]}}));
        let ev = json!({"employees": [{"first": "John", "last": "Smith"}, {"first": "Anna", "last": "Jones"}]});
        assert!(!p.matches(&ev));
        let ev = json!({"employees": [[{"first": "Anna", "last": "Smith"}]]});
        assert!(p.matches(&ev));
    }

    #[test]
    fn prefix_suffix_and_ignore_case_variants() {
        let p = pat(json!({"a": [{"prefix": "Access"}]}));
        assert!(m(&p, json!({"a": "AccessDenied"})));
        assert!(!m(&p, json!({"a": "accessdenied"})));
        assert!(!m(&p, json!({"a": 5})));
        let p = pat(json!({"a": [{"prefix": {"equals-ignore-case": "ACCESS"}}]}));
        assert!(m(&p, json!({"a": "accessDenied"})));
        let p = pat(json!({"a": [{"suffix": ".png"}]}));
        assert!(m(&p, json!({"a": "x.png"})));
        assert!(!m(&p, json!({"a": "x.PNG"})));
        let p = pat(json!({"a": [{"suffix": {"equals-ignore-case": ".png"}}]}));
        assert!(m(&p, json!({"a": "x.PNG"})));
        let p = pat(json!({"a": [{"equals-ignore-case": "Alice"}]}));
        assert!(m(&p, json!({"a": "aLICE"})));
        assert!(m(&p, json!({"a": "ALICE"})));
        assert!(!m(&p, json!({"a": "alicia"})));
        let p = pat(json!({"a": [{"equals-ignore-case": "ÄRGER"}]}));
        assert!(m(&p, json!({"a": "ärger"})));
    }

    #[test]
    fn wildcards_with_escapes() {
        let p = pat(json!({"a": [{"wildcard": "*UnauthorizedOperation"}]}));
        assert!(m(&p, json!({"a": "Client.UnauthorizedOperation"})));
        assert!(m(&p, json!({"a": "UnauthorizedOperation"})));
        assert!(!m(&p, json!({"a": "UnauthorizedOperationX"})));
        let p = pat(json!({"a": [{"wildcard": "arn:aws:iam::*:role/*-admin"}]}));
        assert!(m(&p, json!({"a": "arn:aws:iam::1:role/ops-admin"})));
        assert!(!m(&p, json!({"a": "arn:aws:iam::1:user/ops-admin"})));
        let p = pat(json!({"a": [{"wildcard": "a*b*a"}]}));
        assert!(m(&p, json!({"a": "aba"})));
        assert!(!m(&p, json!({"a": "ab"})));
        let p = pat(json!({"a": [{"wildcard": "lit\\*star\\\\"}]}));
        assert!(m(&p, json!({"a": "lit*star\\"})));
        assert!(!m(&p, json!({"a": "litXstar\\"})));
        let e = Pattern::compile(&json!({"a": [{"wildcard": "a**b"}]})).unwrap_err();
        assert!(e.to_string().contains("consecutive"), "{e}");
        let e = Pattern::compile(&json!({"a": [{"wildcard": "a\\b"}]})).unwrap_err();
        assert!(e.to_string().contains("backslash"), "{e}");
    }

    #[test]
    fn anything_but_forms() {
        let p = pat(json!({"a": [{"anything-but": "x"}]}));
        assert!(m(&p, json!({"a": "y"})));
        assert!(!m(&p, json!({"a": "x"})));
        assert!(!m(&p, json!({})), "anything-but needs the field");
        let p = pat(json!({"a": [{"anything-but": [100, 200]}]}));
        assert!(m(&p, json!({"a": 300})));
        assert!(!m(&p, json!({"a": 200.0})));
        let p = pat(json!({"a": [{"anything-but": {"prefix": ["init", "stop"]}}]}));
        assert!(m(&p, json!({"a": "running"})));
        assert!(!m(&p, json!({"a": "stopping"})));
        assert!(!m(&p, json!({"a": 5})));
        let p = pat(json!({"a": [{"anything-but": {"suffix": ".tmp"}}]}));
        assert!(!m(&p, json!({"a": "x.tmp"})));
        assert!(m(&p, json!({"a": "x.txt"})));
        let p = pat(json!({"a": [{"anything-but": {"wildcard": ["*.tmp", "cache/*"]}}]}));
        assert!(!m(&p, json!({"a": "cache/x"})));
        assert!(m(&p, json!({"a": "data/x"})));
        let p = pat(json!({"a": [{"anything-but": {"equals-ignore-case": ["Yes"]}}]}));
        assert!(!m(&p, json!({"a": "YES"})));
        assert!(m(&p, json!({"a": "No"})));
        let e = Pattern::compile(&json!({"a": [{"anything-but": ["x", 1]}]})).unwrap_err();
        assert!(
            e.to_string().contains("only strings or only numbers"),
            "{e}"
        );
    }

    #[test]
    fn exists_looks_at_leaves() {
        let yes = pat(json!({"errorCode": [{"exists": true}]}));
        let no = pat(json!({"errorCode": [{"exists": false}]}));
        assert!(m(&yes, json!({"errorCode": "AccessDenied"})));
        assert!(!m(&no, json!({"errorCode": "AccessDenied"})));
        assert!(!m(&yes, json!({})));
        assert!(m(&no, json!({})));
        assert!(m(&yes, json!({"errorCode": null})));
        // An object is not a leaf; an empty array has no leaves.
        assert!(m(&no, json!({"errorCode": {"x": 1}})));
        assert!(m(&no, json!({"errorCode": []})));
        let nested = pat(json!({"requestParameters": {"userName": [{"exists": false}]}}));
        assert!(m(&nested, json!({"requestParameters": null})));
        assert!(m(&nested, json!({})));
        assert!(!m(
            &nested,
            json!({"requestParameters": {"userName": "bob"}})
        ));
    }

    #[test]
    fn numeric_ranges() {
        let p = pat(json!({"n": [{"numeric": [">", 0, "<=", 5]}]}));
        assert!(m(&p, json!({"n": 5})));
        assert!(m(&p, json!({"n": 0.5})));
        assert!(!m(&p, json!({"n": 0})));
        assert!(!m(&p, json!({"n": 5.01})));
        assert!(!m(&p, json!({"n": "3"})));
        let p = pat(json!({"n": [{"numeric": ["=", 3.018e2]}]}));
        assert!(m(&p, json!({"n": 301.8})));
        for bad in [
            json!(["=", 1, ">", 0]),
            json!([">", 5, "<", 1]),
            json!([">", 1, ">", 2]),
            json!(["~", 1]),
            json!([">"]),
            json!([">", "1"]),
        ] {
            assert!(
                Pattern::compile(&json!({"n": [{"numeric": bad}]})).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn cidr_v4_v6_and_padded_octets() {
        let p = pat(json!({"ip": [{"cidr": "10.0.0.0/8"}, {"cidr": "2001:db8::/32"}]}));
        assert!(m(&p, json!({"ip": "10.1.2.3"})));
        assert!(m(&p, json!({"ip": "010.001.002.003"})));
        assert!(m(&p, json!({"ip": "2001:db8::1"})));
        assert!(!m(&p, json!({"ip": "11.0.0.1"})));
        assert!(!m(&p, json!({"ip": "iam.amazonaws.com"})));
        assert!(!m(&p, json!({"ip": "AWS Internal"})));
        assert!(Pattern::compile(&json!({"ip": [{"cidr": "10.0.0.0/33"}]})).is_err());
    }

    #[test]
    fn or_branches() {
        let p = pat(json!({"source": ["aws.cloudwatch"], "$or": [
            {"metricName": ["CPUUtilization"]},
            {"namespace": ["AWS/EC2"], "$or": [{"a": [1]}, {"b": [2]}]}
        ]}));
        assert!(m(
            &p,
            json!({"source": "aws.cloudwatch", "metricName": "CPUUtilization"})
        ));
        assert!(m(
            &p,
            json!({"source": "aws.cloudwatch", "namespace": "AWS/EC2", "b": 2})
        ));
        assert!(!m(
            &p,
            json!({"source": "aws.cloudwatch", "namespace": "AWS/EC2"})
        ));
        assert!(!m(
            &p,
            json!({"source": "aws.ec2", "metricName": "CPUUtilization"})
        ));
        let e = Pattern::compile(&json!({"$or": [{"a": ["x"]}]})).unwrap_err();
        assert!(e.to_string().contains("at least two"), "{e}");
    }

    #[test]
    fn compile_errors_name_the_path_and_the_problem() {
        let cases = [
            (
                json!({"detail": {"eventName": "CreateUser"}}),
                "detail.eventName",
                "expected an array",
            ),
            (
                json!({"detail": {"eventName": ["a", {"prefx": "b"}]}}),
                "detail.eventName[1]",
                "unknown operator \"prefx\"",
            ),
            (json!({"a": []}), "a", "empty array"),
            (
                json!({"a": [{"prefix": "x", "suffix": "y"}]}),
                "a[0]",
                "exactly one operator",
            ),
            (
                json!({"a": [{"exists": "yes"}]}),
                "a[0].exists",
                "true or false",
            ),
            (json!({"a": [["x"]]}), "a[0]", "nested arrays"),
            (json!({"a": {"prefix": "x"}}), "a", "inside an array"),
            (
                json!({"$or": [{"a": ["x"]}, 5]}),
                "$or[1]",
                "object pattern",
            ),
            (json!({"a": [{"cidr": "nope"}]}), "a[0].cidr", "not a CIDR"),
        ];
        for (p, path, what) in cases {
            let e = Pattern::compile(&p).unwrap_err();
            assert_eq!(e.path, path, "{p}: {e}");
            assert!(e.message.contains(what), "{p}: {e}");
            assert!(e.to_string().starts_with(&format!("at {path}: ")));
        }
        assert!(Pattern::compile(&json!({})).is_err());
        assert!(Pattern::compile(&json!(["x"])).is_err());
        assert!(Pattern::parse("{")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }

    #[test]
    fn fields_and_index_keys() {
        let p = pat(json!({"eventSource": ["iam.amazonaws.com"],
            "eventName": ["CreateUser", "DeleteUser"],
            "userIdentity": {"type": ["Root"]},
            "$or": [{"errorCode": [{"exists": false}]}, {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}]}]}));
        assert_eq!(
            p.field_paths(),
            vec![
                "errorCode",
                "eventName",
                "eventSource",
                "sourceIPAddress",
                "userIdentity.type"
            ]
        );
        let names: Vec<String> = p
            .required_strings(&["eventName"])
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(names, vec!["CreateUser", "DeleteUser"]);
        assert_eq!(
            p.required_strings(&["userIdentity", "type"]).unwrap().len(),
            1
        );
        assert_eq!(p.required_strings(&["errorCode"]), None);
        assert_eq!(
            p.required_top_level_fields(),
            vec!["eventName", "eventSource", "userIdentity"]
        );

        // Through $or: a union when every branch names values.
        let p = pat(json!({"$or": [{"eventName": ["A"]}, {"eventName": ["B"], "x": [1]}]}));
        assert_eq!(p.required_strings(&["eventName"]).unwrap().len(), 2);
        let p = pat(json!({"$or": [{"eventName": ["A"]}, {"eventName": [{"prefix": "B"}]}]}));
        assert_eq!(p.required_strings(&["eventName"]), None);
        // Envelope paths.
        let p = pat(json!({"source": ["aws.s3"], "detail": {"eventName": ["PutBucketPolicy"]}}));
        assert!(p
            .required_strings(&["detail", "eventName"])
            .unwrap()
            .contains("PutBucketPolicy"));
        assert_eq!(p.required_strings(&["eventName"]), None);
    }

    #[test]
    fn serde_round_trip_and_errors() {
        let p: Pattern = serde_json::from_value(json!({"a": ["x"]})).unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap(), json!({"a": ["x"]}));
        let e = serde_json::from_value::<Pattern>(json!({"a": "x"})).unwrap_err();
        assert!(e.to_string().contains("at a:"), "{e}");
    }
}
