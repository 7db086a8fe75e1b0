//! Mutated JSON for robustness tests: a value with one field, at any depth, replaced by a
//! value of every JSON type or removed.

use serde_json::{json, Value};

/// A value with one field changed.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// The field: object keys and array indexes from the top, `/`-separated.
    pub path: String,
    /// What the field was replaced by; `None` when it was removed.
    pub replacement: Option<Value>,
    /// The whole value after the change.
    pub value: Value,
}

/// Every variant of `original` with one field (each object member and array element, at any
/// depth, depth first) replaced by each of `null`, `0`, `-1.5e300`, `true`, `""`, a string of
/// `long` bytes, `[]`, `[{"a": 1}]` and `{}`, then (object members only) removed.
pub fn wrong_types(original: &Value, long: usize) -> impl Iterator<Item = Mutation> + '_ {
    let replacements = [
        json!(null),
        json!(0),
        json!(-1.5e300),
        json!(true),
        json!(""),
        json!("x".repeat(long)),
        json!([]),
        json!([{"a": 1}]),
        json!({}),
    ];
    let mut all = Vec::new();
    paths(original, &mut Vec::new(), &mut all);
    all.into_iter().flat_map(move |path| {
        let text = path
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) => k.clone(),
                Seg::Index(i) => i.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let removal = matches!(path.last(), Some(Seg::Key(_))).then_some(None);
        replacements
            .clone()
            .into_iter()
            .map(Some)
            .chain(removal)
            .map(move |replacement| {
                let mut value = original.clone();
                match (&replacement, path.split_last()) {
                    (Some(r), _) => *at_mut(&mut value, &path) = r.clone(),
                    (None, Some((Seg::Key(k), parent))) => {
                        if let Some(m) = at_mut(&mut value, parent).as_object_mut() {
                            m.remove(k);
                        }
                    }
                    (None, _) => unreachable!("only object members are removed"),
                }
                Mutation {
                    path: text.clone(),
                    replacement,
                    value,
                }
            })
    })
}

/// One step of a path into a JSON value.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every path in a JSON value (object keys and array indexes), depth first.
fn paths(v: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    let children: Vec<(Seg, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, x)| (Seg::Key(k.clone()), x)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| (Seg::Index(i), x))
            .collect(),
        _ => Vec::new(),
    };
    for (seg, x) in children {
        prefix.push(seg);
        out.push(prefix.clone());
        paths(x, prefix, out);
        prefix.pop();
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    path.iter().fold(v, |v, seg| match seg {
        Seg::Key(k) => &mut v[k.as_str()],
        Seg::Index(i) => &mut v[*i],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_is_replaced_by_each_type_and_members_are_removed() {
        let original = json!({"a": [1], "b": {"c": "d"}});
        let got: Vec<(String, Value)> = wrong_types(&original, 3)
            .map(|m| (m.path, m.value))
            .collect();
        // a, a/0, b, b/c: nine replacements each; a, b and b/c are also removed.
        assert_eq!(got.len(), 4 * 9 + 3);
        assert!(got.contains(&("a/0".into(), json!({"a": ["xxx"], "b": {"c": "d"}}))));
        assert!(got.contains(&("b/c".into(), json!({"a": [1], "b": {}}))));
        assert!(got.contains(&("a".into(), json!({"b": {"c": "d"}}))));
        // An array element is not removed.
        assert_eq!(got.iter().filter(|(p, _)| p == "a/0").count(), 9);
    }
}
