//! The detection section of a rule: its selections and condition (and a `count()` aggregation) to
//! one disjunction of conjunctions of field conditions.

use super::condition::{parse_condition, Selections};
use super::emit::to_pattern;
use super::*;

/// Field path to the values (EventBridge matchers) it may have; all fields must match.
pub(super) type Conj = BTreeMap<String, Vec<Value>>;
/// Any of the conjunctions may match. Empty: never; one empty conjunction: always.
pub(super) type Dnf = Vec<Conj>;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Sel(String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

pub(super) fn convert_detection(
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
pub(super) fn parse_aggregation(a: &str) -> R<(u64, Vec<String>)> {
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
pub(super) fn parse_timeframe(t: &Value) -> R<u64> {
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
