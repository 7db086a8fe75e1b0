//! template.yaml (and forwarder/template.yaml) as JSON: CloudFormation's short-form tags
//! (`!Ref`, `!Sub`, `!GetAtt`, ...) become their long form (`{"Ref": ...}`,
//! `{"Fn::Sub": ...}`), so tests can look at any resource.

use serde_json::{json, Map, Value};
use serde_yaml::Value as Y;
use std::path::Path;

fn to_json(y: &Y) -> Value {
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => json!(b),
        Y::Number(n) => n
            .as_i64()
            .map(|i| json!(i))
            .or_else(|| n.as_f64().map(|f| json!(f)))
            .unwrap_or(Value::Null),
        Y::String(s) => json!(s),
        Y::Sequence(s) => Value::Array(s.iter().map(to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if let Y::String(k) = k {
                    out.insert(k.clone(), to_json(v));
                }
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = if name == "Ref" {
                "Ref".to_string()
            } else {
                format!("Fn::{name}")
            };
            let value = match (name, to_json(&t.value)) {
                // `!GetAtt Res.Attr` is `{"Fn::GetAtt": ["Res", "Attr"]}` in long form.
                ("GetAtt", Value::String(s)) => match s.split_once('.') {
                    Some((r, a)) => json!([r, a]),
                    None => json!(s),
                },
                (_, v) => v,
            };
            json!({ key: value })
        }
    }
}

/// A template file as JSON.
pub fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let y: Y = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    to_json(&y)
}

/// The resources of a given type: (logical id, resource).
pub fn resources<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str(), r))
        .collect()
}

/// `!Sub "..."` with `${AWS::StackName}` (and the other pseudo parameters) filled in.
pub fn sub(v: &Value, stack: &str) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("not a !Sub: {other}"))
            .to_string(),
    };
    s.replace("${AWS::StackName}", stack)
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::AccountId}", "123456789012")
        .replace("${AWS::Partition}", "aws")
}
