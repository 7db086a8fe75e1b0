//! Negation and conjunction of one field's values: what `not` and `and` make of a field's
//! alternatives, when EventBridge syntax can say it.

use super::selection::escape_wildcard;
use super::*;

/// What one matcher of a field is.
pub(super) enum Alt<'a> {
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

pub(super) fn classify(v: &Value) -> Alt<'_> {
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
pub(super) fn negate_alts(path: &str, alts: &[Value]) -> R<Vec<Value>> {
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
pub(super) fn is_finite(alts: &[Value]) -> bool {
    alts.iter().all(|a| {
        matches!(
            classify(a),
            Alt::Str(_) | Alt::Num(_) | Alt::Bool(_) | Alt::Null | Alt::Absent
        )
    })
}

/// `anything-but` (one), with `null` and "absent" beside it.
pub(super) struct Excluding {
    /// Exact strings (accepting null, numbers and booleans too), or wildcards (strings only).
    values: Vec<String>,
    kind: &'static str,
    null: bool,
    absent: bool,
}

pub(super) fn excluding(alts: &[Value]) -> Option<Excluding> {
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

pub(super) fn as_wildcards(e: &Excluding) -> Vec<String> {
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
pub(super) fn and_alts(path: &str, a: &[Value], b: &[Value]) -> R<Option<Vec<Value>>> {
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
