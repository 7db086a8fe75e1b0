//! The pattern: a disjunction of conjunctions written as one event pattern (`$or` where there
//! are several).

use super::detection::{Conj, Dnf};
use super::*;

pub(super) fn to_pattern(dnf: Dnf) -> R<Value> {
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
pub(super) fn insert(obj: &mut Map<String, Value>, path: &str, alts: &[Value]) -> R<()> {
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
