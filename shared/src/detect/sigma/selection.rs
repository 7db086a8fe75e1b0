//! Selections and values: a selection's fields with their modifiers to field conditions
//! (exact values, wildcards, prefixes, CIDR ranges, numeric comparisons).

use super::condition::check_size;
use super::detection::{Conj, Dnf};
use super::values::and_alts;
use super::*;

pub(super) fn selection_dnf(name: &str, v: &Value) -> R<Dnf> {
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

pub(super) fn map_conj(m: &Map<String, Value>) -> R<Option<Conj>> {
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
pub(super) enum Op {
    Eq,
    Contains,
    StartsWith,
    EndsWith,
    Cidr,
    Exists,
    Numeric(&'static str),
}

pub(super) fn field_atom(key: &str, val: &Value) -> R<(String, Vec<Value>)> {
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
pub(super) fn item_matchers(key: &str, op: Op, item: &Value) -> R<Vec<Value>> {
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
pub(super) fn typed_value(s: &str) -> Option<Value> {
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
pub(super) enum Piece {
    Char(char),
    /// An unescaped `*`.
    Star,
    /// An unescaped `?`.
    One,
}

/// A Sigma string value: `*` and `?` are wildcards, `\*`, `\?` and `\\` their literals, a
/// backslash before anything else is itself.
pub(super) fn pieces(s: &str) -> Vec<Piece> {
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

pub(super) fn literal_text(p: &[Piece]) -> String {
    p.iter()
        .filter_map(|x| match x {
            Piece::Char(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// Escapes text for an EventBridge wildcard (`*` and `\`).
pub(super) fn escape_wildcard(s: &str) -> String {
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
pub(super) fn wildcard(lead: bool, p: &[Piece], trail: bool) -> Value {
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

pub(super) fn string_matcher(key: &str, s: &str, op: Op) -> R<Value> {
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
pub(super) fn all_matchers(key: &str, op: Op, items: &[&Value]) -> R<Vec<Value>> {
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

pub(super) fn permutations(
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
