//! template.yaml (and forwarder/template.yaml) as JSON: CloudFormation's short-form tags
//! (`!Ref`, `!Sub`, `!GetAtt`, ...) become their long form (`{"Ref": ...}`,
//! `{"Fn::Sub": ...}`), so tests can look at any resource.

use serde_json::{json, Value};
use std::path::Path;

/// A template file as JSON, `!GetAtt` in CloudFormation's long form too.
pub fn load(path: &Path) -> Value {
    let mut t = trailwarden_cli::template::load_json(path).unwrap_or_else(|e| panic!("{e:#}"));
    split_get_att(&mut t);
    t
}

/// `{"Fn::GetAtt": "Res.Attr"}` (what `!GetAtt Res.Attr` reads as) as
/// `{"Fn::GetAtt": ["Res", "Attr"]}`, throughout `v`.
fn split_get_att(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(s)) = m.get("Fn::GetAtt") {
                if let Some((r, a)) = s.split_once('.') {
                    let long = json!([r, a]);
                    m.insert("Fn::GetAtt".into(), long);
                }
            }
            m.values_mut().for_each(split_get_att);
        }
        Value::Array(a) => a.iter_mut().for_each(split_get_att),
        _ => {}
    }
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
