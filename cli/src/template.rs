//! Reads `template.yaml`: each function's binary, environment and granted IAM actions, and
//! its EventBridge rule patterns, with CloudFormation intrinsics resolved well enough to
//! route events the way the deployed rules would.
//!
//! Resolution rules: `!Ref` of a parameter gives its default; `!If` takes the branch for the
//! conditions' default outcome; `!Join`, `!Sub` and `!Select` are evaluated on what is
//! known. A reference to something only known after deployment (the trail bucket's
//! generated name, a topic ARN) becomes [`ANY`]; inside an event pattern it matches any
//! string, since the deployed rule would hold the real value.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use serde_yaml::Value as Y;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use trailwarden::pattern::Pattern;

/// The variable naming which function the shared Lambda binary runs.
pub const FUNCTION_VAR: &str = "TRAILWARDEN_FUNCTION";

/// What the ticks of a schedule rule look like to a pattern: EventBridge sends them as
/// `Scheduled Event` from `aws.events`, naming the rule in `resources`.
pub const SCHEDULE_PATTERN: &str =
    r#"{"source": ["aws.events"], "detail-type": ["Scheduled Event"]}"#;

/// Stands for a value known only after deployment.
pub const ANY: &str = "\u{0}ANY\u{0}";

/// One function of the template.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// The function's name (`unapproved-user`, …): `Environment.Variables.TRAILWARDEN_FUNCTION`,
    /// else `Metadata.BuildProperties.Binary`.
    pub name: String,
    /// Environment variables (Globals merged with the function's own).
    pub env: BTreeMap<String, String>,
    /// IAM actions granted by the function's inline policies, lower-cased (`iam:deleteuser`).
    pub actions: BTreeSet<String>,
    /// EventBridge rules: (event name, pattern source, compiled pattern). A `Schedule`
    /// event is a rule too, whose pattern is the one its ticks match
    /// ([`SCHEDULE_PATTERN`]).
    pub rules: Vec<(String, Value, Pattern)>,
    /// `Schedule` events: (event name, schedule expression such as `rate(5 minutes)`).
    pub schedules: Vec<(String, String)>,
    /// The rules in the state `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`: the only ones
    /// EventBridge hands read-only management events (Get*, List*, Describe*) to.
    pub all_management_events: BTreeSet<String>,
    pub memory_mb: Option<u64>,
    pub timeout_s: Option<u64>,
}

impl FunctionSpec {
    /// True when any of the function's rules matches the event and EventBridge hands it the
    /// event: a read-only management event (`detail.readOnly: true`) only to a rule in the state
    /// `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub fn receives(&self, event: &Value) -> bool {
        let read_only = event.get("detail-type").and_then(Value::as_str)
            == Some("AWS API Call via CloudTrail")
            && event.pointer("/detail/readOnly") == Some(&Value::Bool(true));
        self.rules.iter().any(|(name, _, p)| {
            p.matches(event) && (!read_only || self.all_management_events.contains(name))
        })
    }

    /// True when the template grants `action` (`iam:DeleteUser`), allowing `*` wildcards.
    pub fn grants(&self, action: &str) -> bool {
        let a = action.to_ascii_lowercase();
        self.actions
            .iter()
            .any(|g| trailwarden::glob::glob_match(g, &a))
    }
}

/// The parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    pub functions: Vec<FunctionSpec>,
    pub parameters: BTreeMap<String, Value>,
}

/// The template file at `path` as JSON, unresolved: CloudFormation's short-form tags in their
/// long form (`!Ref X` is `{"Ref": "X"}`, `!Sub s` is `{"Fn::Sub": s}`, `!GetAtt X.Arn` is
/// `{"Fn::GetAtt": "X.Arn"}`).
pub fn load_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_json(&text).with_context(|| format!("in {}", path.display()))
}

/// Template text as JSON, as [`load_json`] gives it.
pub fn parse_json(text: &str) -> Result<Value> {
    let y: Y = serde_yaml::from_str(text).context("template is not valid YAML")?;
    Ok(to_json(&y))
}

struct Resolver<'a> {
    params: &'a BTreeMap<String, Value>,
}

fn to_json(y: &Y) -> Value {
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => json!(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(f) = n.as_f64() {
                json!(f)
            } else {
                json!(n.to_string())
            }
        }
        Y::String(s) => json!(s),
        Y::Sequence(s) => Value::Array(s.iter().map(to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .into(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            // Keep the tag as a one-key object, the long form CloudFormation uses.
            let name = t.tag.to_string();
            let name = name.trim_start_matches('!');
            let fname = if name == "Ref" {
                "Ref".to_string()
            } else {
                format!("Fn::{name}")
            };
            json!({ fname: to_json(&t.value) })
        }
    }
}

impl Resolver<'_> {
    fn resolve(&self, v: &Value) -> Value {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => self.reference(arg.as_str().unwrap_or_default()),
                    "Fn::If" => {
                        // Conditions take their outcome under the parameters' defaults; for
                        // this template every condition is "a parameter is (not) empty".
                        let a = arg.as_array().cloned().unwrap_or_default();
                        let cond = a.first().and_then(Value::as_str).unwrap_or_default();
                        let take_first = self.condition(cond);
                        self.resolve(
                            a.get(if take_first { 1 } else { 2 })
                                .unwrap_or(&Value::Null),
                        )
                    }
                    "Fn::Join" => {
                        let a = arg.as_array().cloned().unwrap_or_default();
                        let sep = a.first().and_then(Value::as_str).unwrap_or_default();
                        let items = self.resolve(a.get(1).unwrap_or(&Value::Null));
                        let parts: Vec<String> = items
                            .as_array()
                            .map(|xs| xs.iter().map(scalar_text).collect())
                            .unwrap_or_default();
                        json!(parts.join(sep))
                    }
                    "Fn::Sub" | "Fn::GetAtt" | "Fn::Select" | "Fn::Split" => json!(ANY),
                    _ => Value::Object(
                        m.iter()
                            .map(|(k, v)| (k.clone(), self.resolve(v)))
                            .collect(),
                    ),
                }
            }
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.resolve(x)).collect()),
            other => other.clone(),
        }
    }

    fn reference(&self, name: &str) -> Value {
        match self.params.get(name) {
            Some(p) => {
                let default = p.get("Default").cloned().unwrap_or(json!(""));
                if p.get("Type").and_then(Value::as_str) == Some("CommaDelimitedList") {
                    let s = scalar_text(&default);
                    Value::Array(
                        s.split(',')
                            .filter(|x| !x.is_empty())
                            .map(|x| json!(x))
                            .collect(),
                    )
                } else {
                    json!(scalar_text(&default))
                }
            }
            None => json!(ANY),
        }
    }

    fn condition(&self, name: &str) -> bool {
        let empty = |p: &str| {
            self.params
                .get(p)
                .and_then(|v| v.get("Default"))
                .map(scalar_text)
                .unwrap_or_default()
                .is_empty()
        };
        match name {
            "CreateTrail" => empty("ExistingTrailBucketName"),
            "HasAlertEmail" => !empty("AlertEmail"),
            "HasEvidenceBucket" => !empty("EvidenceBucketName"),
            "HasApprovalDocument" => !empty("ApprovalDocumentUri"),
            "HasCustomDetections" => !empty("CustomDetectionsUri"),
            "HasPublicKeysDocument" => !empty("PublicKeysUri"),
            _ => true,
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Replaces [`ANY`] in pattern value lists by a matcher of any string.
fn open_unknowns(v: Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| {
                    // A value, or a matcher (`{wildcard: !Sub "${AWS::StackName}-*"}`), known
                    // only after deployment matches any string.
                    let matcher_of_unknown = x.as_object().is_some_and(|m| {
                        m.len() == 1 && m.values().all(|v| v.as_str() == Some(ANY))
                    });
                    if x.as_str() == Some(ANY) || matcher_of_unknown {
                        json!({"prefix": ""})
                    } else {
                        open_unknowns(x)
                    }
                })
                .collect(),
        ),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, open_unknowns(v))).collect())
        }
        other => other,
    }
}

fn collect_actions(policy: &Value, out: &mut BTreeSet<String>) {
    let statements = policy
        .get("Statement")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in statements {
        if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        match s.get("Action") {
            Some(Value::String(a)) => {
                out.insert(a.to_ascii_lowercase());
            }
            Some(Value::Array(a)) => {
                for x in a.iter().filter_map(Value::as_str) {
                    out.insert(x.to_ascii_lowercase());
                }
            }
            _ => {}
        }
    }
}

/// Logical ids of the functions a state machine invokes (named by `!GetAtt X.Arn` or `!Ref X`
/// in its `DefinitionSubstitutions`): they need no rule of their own.
fn invoked_by_state_machines(resources: &Map<String, Value>) -> BTreeSet<String> {
    resources
        .values()
        .filter(|r| {
            matches!(
                r.get("Type").and_then(Value::as_str),
                Some("AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine")
            )
        })
        .filter_map(|r| {
            r.pointer("/Properties/DefinitionSubstitutions")?
                .as_object()
        })
        .flat_map(|m| m.values())
        .filter_map(|v| match (v.get("Fn::GetAtt"), v.get("Ref")) {
            (Some(Value::String(s)), _) => s.split('.').next().map(str::to_string),
            (Some(Value::Array(a)), _) => a.first()?.as_str().map(str::to_string),
            (None, Some(Value::String(r))) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

impl Template {
    pub fn load(path: &Path) -> Result<Template> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Template::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Template> {
        let doc = parse_json(text)?;
        let parameters: BTreeMap<String, Value> = doc
            .get("Parameters")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let r = Resolver {
            params: &parameters,
        };
        let globals = doc
            .pointer("/Globals/Function")
            .cloned()
            .unwrap_or(json!({}));
        let resources = doc
            .get("Resources")
            .and_then(Value::as_object)
            .ok_or_else(|| anyhow!("template has no Resources"))?;
        let by_state_machine = invoked_by_state_machines(resources);
        let mut functions = Vec::new();
        for (id, res) in resources {
            if res.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let props = res.get("Properties").cloned().unwrap_or(json!({}));
            let mut env = BTreeMap::new();
            for vars in [
                globals.pointer("/Environment/Variables"),
                props.pointer("/Environment/Variables"),
            ]
            .into_iter()
            .flatten()
            {
                if let Some(m) = vars.as_object() {
                    for (k, v) in m {
                        env.insert(k.clone(), scalar_text(&r.resolve(v)));
                    }
                }
            }
            // Every function deploys the same binary (one SAM build for all); the function it
            // runs is named by TRAILWARDEN_FUNCTION. A per-function binary also works.
            let name = match env.get(FUNCTION_VAR) {
                Some(n) if !n.is_empty() => n.clone(),
                _ => res
                    .pointer("/Metadata/BuildProperties/Binary")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        anyhow!("{id}: neither Environment.Variables.{FUNCTION_VAR} nor Metadata.BuildProperties.Binary")
                    })?
                    .to_string(),
            };
            let mut actions = BTreeSet::new();
            for p in props
                .get("Policies")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                // Conditional policies (`!If [Cond, policy, NoValue]`) count as granted:
                // they are present whenever the setting that needs them is.
                let p = match p.get("Fn::If").and_then(Value::as_array) {
                    Some(a) => a.get(1).cloned().unwrap_or(Value::Null),
                    None => p,
                };
                collect_actions(&p, &mut actions);
            }
            let mut rules = Vec::new();
            let mut schedules = Vec::new();
            let mut all_management_events = BTreeSet::new();
            if let Some(events) = props.get("Events").and_then(Value::as_object) {
                for (name, ev) in events {
                    if ev.get("Type").and_then(Value::as_str) == Some("Schedule") {
                        let expression = ev
                            .pointer("/Properties/Schedule")
                            .map(|s| scalar_text(&r.resolve(s)))
                            .ok_or_else(|| anyhow!("{id}.{name}: no Schedule"))?;
                        let pattern: Value =
                            serde_json::from_str(SCHEDULE_PATTERN).expect("valid JSON");
                        let compiled = Pattern::compile(&pattern).expect("valid pattern");
                        rules.push((name.clone(), pattern, compiled));
                        schedules.push((name.clone(), expression));
                        continue;
                    }
                    if ev.get("Type").and_then(Value::as_str) != Some("EventBridgeRule") {
                        continue;
                    }
                    // A rule on another bus (the catalog's bus for events forwarded from other
                    // regions) sees only what is put there, not the account's own events.
                    if ev.pointer("/Properties/EventBusName").is_some() {
                        continue;
                    }
                    let raw = ev
                        .pointer("/Properties/Pattern")
                        .ok_or_else(|| anyhow!("{id}.{name}: no Pattern"))?;
                    let resolved = open_unknowns(r.resolve(raw));
                    let compiled = Pattern::compile(&resolved)
                        .map_err(|e| anyhow!("{id}.{name}: invalid event pattern: {e}"))?;
                    if ev.pointer("/Properties/State").and_then(Value::as_str)
                        == Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
                    {
                        all_management_events.insert(name.clone());
                    }
                    rules.push((name.clone(), resolved, compiled));
                }
            }
            if rules.is_empty() && !by_state_machine.contains(id) {
                bail!(
                    "{id}: no EventBridgeRule or Schedule event, and no state machine invokes it"
                );
            }
            functions.push(FunctionSpec {
                logical_id: id.clone(),
                name,
                env,
                actions,
                rules,
                schedules,
                all_management_events,
                memory_mb: props.get("MemorySize").and_then(Value::as_u64),
                timeout_s: props.get("Timeout").and_then(Value::as_u64),
            });
        }
        Ok(Template {
            functions,
            parameters,
        })
    }

    /// The functions whose rules match an event.
    pub fn route(&self, event: &Value) -> Vec<&FunctionSpec> {
        self.functions
            .iter()
            .filter(|f| f.receives(event))
            .collect()
    }

    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = r#"
Parameters:
  Bucket: { Type: String, Default: "" }
  Ports: { Type: CommaDelimitedList, Default: "80,443" }
Conditions:
  CreateTrail: !Equals [!Ref Bucket, ""]
Globals:
  Function:
    Environment:
      Variables:
        A: x
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      Environment: { Variables: { PORTS: !Join [",", !Ref Ports] } }
      Policies:
        - Statement:
            - { Effect: Allow, Action: [iam:DeleteUser, "s3:Get*"], Resource: "*" }
            - { Effect: Deny, Action: iam:CreateUser, Resource: "*" }
      Events:
        E:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.s3]
              detail: { bucket: { name: [!If [CreateTrail, !Ref TrailBucket, !Ref Bucket]] } }
"#;

    #[test]
    fn resolves_env_policies_and_patterns() {
        let t = Template::parse(T).unwrap();
        let f = t.function("f").unwrap();
        assert_eq!(f.env["A"], "x");
        assert_eq!(f.env["PORTS"], "80,443");
        assert!(f.grants("iam:DeleteUser"));
        assert!(f.grants("s3:GetObject"));
        assert!(!f.grants("iam:CreateUser"));
        // The generated bucket name is unknown before deployment: any bucket matches.
        assert!(f.receives(&json!({"source": "aws.s3", "detail": {"bucket": {"name": "b-123"}}})));
        assert!(!f.receives(&json!({"source": "aws.ec2", "detail": {"bucket": {"name": "b"}}})));
    }
}
