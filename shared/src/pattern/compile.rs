//! From JSON to the matcher tree, with errors that say where and what is wrong.

use super::matcher::*;
use super::{compile_foreign, PatternError, DISTINCT, FOREIGN};
pub(super) use crate::payload::kind_of;
use serde_json::{Map, Number, Value};

pub(super) fn err(path: &str, message: impl Into<String>) -> PatternError {
    PatternError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// The operators a matcher object may use.
pub(super) const OPERATORS: &str =
    "prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, cidr, exists, json, none, covers";

pub(super) fn compile_object(
    map: &Map<String, Value>,
    path: &str,
) -> Result<ObjectPattern, PatternError> {
    let mut out = ObjectPattern {
        fields: Vec::with_capacity(map.len()),
        ors: Vec::new(),
        absent: Vec::new(),
        nothing: false,
        foreign: Vec::new(),
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
                // `$foreign_principal` reads the record's own fields: a branch of the root's
                // `$or` may use it (the root's own is taken out by `Pattern::compile`).
                match bm.get(FOREIGN) {
                    Some(f) if path.is_empty() => {
                        let foreign = compile_foreign(f, &bp)?;
                        let mut rest = bm.clone();
                        rest.remove(FOREIGN);
                        let mut branch = compile_object(&rest, &bp)?;
                        branch.foreign = foreign;
                        compiled.push(branch);
                    }
                    _ => compiled.push(compile_object(bm, &bp)?),
                }
            }
            out.ors.push(compiled);
            continue;
        }
        if k == DISTINCT || k == FOREIGN {
            let place = if k == DISTINCT {
                "at the pattern's top level"
            } else {
                "at the pattern's top level or in a branch of its top-level \"$or\""
            };
            return Err(err(&p, format!("\"{k}\" is allowed only {place}")));
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
    out.settle();
    Ok(out)
}

pub(super) fn is_operator(k: &str) -> bool {
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
            | "json"
            | "none"
            | "covers"
    )
}

pub(super) fn literal(v: &Value) -> Option<Literal> {
    Some(match v {
        Value::String(s) => Literal::Str(s.clone()),
        Value::Number(n) => Literal::Num(number(n)?),
        Value::Bool(b) => Literal::Bool(*b),
        Value::Null => Literal::Null,
        _ => return None,
    })
}

pub(super) fn number(n: &Number) -> Option<f64> {
    n.as_f64().filter(|f| f.is_finite())
}

pub(super) fn string_arg<'a>(v: &'a Value, path: &str, op: &str) -> Result<&'a str, PatternError> {
    v.as_str().ok_or_else(|| {
        err(
            path,
            format!("\"{op}\" takes a string, found {}", kind_of(v)),
        )
    })
}

/// A string, or `{"equals-ignore-case": "..."}` (for prefix and suffix).
pub(super) fn string_or_ignore_case<'a>(
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
pub(super) fn strings(v: &Value, path: &str, op: &str) -> Result<Vec<String>, PatternError> {
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

pub(super) fn compile_matcher(item: &Value, path: &str) -> Result<Matcher, PatternError> {
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
        "covers" => Matcher::Covers(Covers::compile(string_arg(arg, &p, op)?, &p)?),
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
            // One CIDR parser (`crate::net`): IPv4-mapped IPv6 blocks become IPv4, as event
            // addresses do, so that they keep matching each other.
            let net =
                Some(s.trim())
                    .filter(|t| t.contains('/'))
                    .and_then(crate::net::parse_cidr)
                    .ok_or_else(|| {
                        err(
                    &p,
                    format!("{s:?} is not a CIDR block (e.g. \"10.0.0.0/8\" or \"2001:db8::/32\")"),
                )
                    })?;
            Matcher::Cidr(net)
        }
        "numeric" => Matcher::Numeric(compile_numeric(arg, &p)?),
        "json" => match arg {
            Value::Object(m) if !m.is_empty() => Matcher::Json(Box::new(compile_object(m, &p)?)),
            other => {
                return Err(err(
                    &p,
                    format!(
                        "\"json\" takes a non-empty object pattern for the document the string holds, found {}",
                        kind_of(other)
                    ),
                ))
            }
        },
        "none" => match arg {
            Value::Object(m) if !m.is_empty() => Matcher::None(Box::new(compile_object(m, &p)?)),
            other => {
                return Err(err(
                    &p,
                    format!(
                        "\"none\" takes a non-empty object pattern that no element of the value may match, found {}",
                        kind_of(other)
                    ),
                ))
            }
        },
        "anything-but" => Matcher::AnythingBut(compile_anything_but(arg, &p)?),
        other => {
            return Err(err(
                path,
                format!("unknown operator {other:?} (known: {OPERATORS})"),
            ))
        }
    })
}

pub(super) fn compile_anything_but(arg: &Value, p: &str) -> Result<AnythingBut, PatternError> {
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

pub(super) fn compile_numeric(arg: &Value, p: &str) -> Result<Range, PatternError> {
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
