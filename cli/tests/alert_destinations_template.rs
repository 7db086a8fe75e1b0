//! template.yaml's alert destinations: the ALERT_DESTINATIONS document the stack builds from
//! its parameters (evaluated here as CloudFormation would) is valid and gives the documented
//! defaults; the roles get exactly the grants the destinations need (Security Hub on the
//! account's default product and hub, GetSecretValue on the named secrets only, publishing to
//! the chat topic); the Security Hub custom action reaches the unapproved-user function.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use trailwarden::Severity;
use trailwarden_destinations::Settings;
use trailwarden_testkit::sdk;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The template as JSON, tags in CloudFormation's long form (`{"Fn::Sub": ...}`).
fn template() -> Value {
    trailwarden_cli::template::load_json(&root().join("template.yaml")).unwrap()
}

/// Evaluates CloudFormation intrinsics with parameter values and pseudo parameters.
struct Eval {
    t: Value,
    params: BTreeMap<String, String>,
}

impl Eval {
    fn new(t: &Value, overrides: &[(&str, &str)]) -> Eval {
        let mut params = BTreeMap::new();
        for (k, v) in t["Parameters"].as_object().unwrap() {
            let d = match &v["Default"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            params.insert(k.clone(), d);
        }
        for (k, v) in overrides {
            params.insert(k.to_string(), v.to_string());
        }
        params.insert("AWS::Partition".into(), "aws".into());
        params.insert("AWS::Region".into(), "us-east-1".into());
        params.insert("AWS::AccountId".into(), "111122223333".into());
        params.insert(
            "ChatAlertTopic".into(),
            "arn:aws:sns:us-east-1:111122223333:trailwarden-ChatAlertTopic-AbC".into(),
        );
        Eval {
            t: t.clone(),
            params,
        }
    }

    fn condition(&self, name: &str) -> bool {
        self.truth(&self.t["Conditions"][name])
    }

    fn truth(&self, v: &Value) -> bool {
        let (k, a) = v.as_object().unwrap().iter().next().unwrap();
        match k.as_str() {
            "Fn::Equals" => self.eval(&a[0]) == self.eval(&a[1]),
            "Fn::Not" => !self.truth(&a[0]),
            "Fn::And" => a.as_array().unwrap().iter().all(|x| self.truth(x)),
            "Fn::Or" => a.as_array().unwrap().iter().any(|x| self.truth(x)),
            "Condition" | "Fn::Condition" => self.condition(a.as_str().unwrap()),
            other => panic!("condition {other}"),
        }
    }

    fn sub(&self, text: &str, vars: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let j = rest[i..].find('}').unwrap() + i;
            let name = &rest[i + 2..j];
            let v = vars
                .get(name)
                .or_else(|| self.params.get(name))
                .unwrap_or_else(|| panic!("unknown ${{{name}}}"));
            out.push_str(v);
            rest = &rest[j + 1..];
        }
        out.push_str(rest);
        out
    }

    fn eval(&self, v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Object(m) if m.len() == 1 => {
                let (k, a) = m.iter().next().unwrap();
                match k.as_str() {
                    "Ref" => self.params[a.as_str().unwrap()].clone(),
                    "Fn::If" => {
                        let a = a.as_array().unwrap();
                        if self.condition(a[0].as_str().unwrap()) {
                            self.eval(&a[1])
                        } else {
                            self.eval(&a[2])
                        }
                    }
                    "Fn::Sub" => match a {
                        Value::String(s) => self.sub(s, &BTreeMap::new()),
                        Value::Array(x) => {
                            let vars = x[1]
                                .as_object()
                                .unwrap()
                                .iter()
                                .map(|(k, v)| (k.clone(), self.eval(v)))
                                .collect();
                            self.sub(x[0].as_str().unwrap(), &vars)
                        }
                        other => panic!("Sub {other}"),
                    },
                    other => panic!("cannot evaluate {other}"),
                }
            }
            other => panic!("cannot evaluate {other}"),
        }
    }

    fn destinations(&self) -> Settings {
        let doc = self
            .eval(&self.t["Globals"]["Function"]["Environment"]["Variables"]["ALERT_DESTINATIONS"]);
        Settings::parse(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"))
    }
}

fn summary(s: &Settings) -> Vec<(String, String, Severity, bool)> {
    s.destinations
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                d.kind.type_name().to_string(),
                d.route.min_severity,
                d.route.off,
            )
        })
        .collect()
}

#[test]
fn the_stack_defaults_are_email_and_chat_for_high_and_security_hub_for_everything() {
    let t = template();
    let e = Eval::new(&t, &[]);
    let got = summary(&e.destinations());
    assert_eq!(
        got,
        vec![
            ("email".into(), "sns".into(), Severity::High, false),
            ("chat".into(), "chatbot".into(), Severity::High, false),
            (
                "securityhub".into(),
                "securityhub".into(),
                Severity::Info,
                false
            ),
        ]
    );
    // The floor lets everything through by default.
    assert_eq!(t["Parameters"]["MinSeverity"]["Default"], "info");
    let vars = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(vars["ALERT_ROUTING"], json!({"Ref": "AlertRouting"}));
}

#[test]
fn every_destination_parameter_lands_in_the_document() {
    let t = template();
    let pd = "arn:aws:secretsmanager:us-east-1:111122223333:secret:trailwarden/pagerduty-a1B2c3";
    let hook = "arn:aws:secretsmanager:us-east-1:111122223333:secret:trailwarden/webhook-d4E5f6";
    let e = Eval::new(
        &t,
        &[
            ("EmailMinSeverity", "off"),
            ("ChatMinSeverity", "critical"),
            ("SecurityHubMinSeverity", "low"),
            ("PagerDutySecretArn", pd),
            ("PagerDutyMinSeverity", "high"),
            ("WebhookUrl", "https://siem.example.com/hooks/trailwarden"),
            ("WebhookSecretArn", hook),
            ("WebhookMinSeverity", "medium"),
        ],
    );
    let s = e.destinations();
    assert_eq!(
        summary(&s),
        vec![
            ("email".into(), "sns".into(), Severity::High, true),
            ("chat".into(), "chatbot".into(), Severity::Critical, false),
            (
                "securityhub".into(),
                "securityhub".into(),
                Severity::Low,
                false
            ),
            (
                "pagerduty".into(),
                "pagerduty".into(),
                Severity::High,
                false
            ),
            ("webhook".into(), "webhook".into(), Severity::Medium, false),
        ]
    );
    assert_eq!(s.secrets(), vec![("pagerduty", pd), ("webhook", hook)]);
    let doc = e.eval(&t["Globals"]["Function"]["Environment"]["Variables"]["ALERT_DESTINATIONS"]);
    assert!(doc.contains(
        r#""product_arn":"arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default""#
    ));
    // Off in the stack: no chat topic, no Security Hub entry.
    let e = Eval::new(
        &t,
        &[
            ("ChatMinSeverity", "off"),
            ("SecurityHubMinSeverity", "off"),
        ],
    );
    assert_eq!(summary(&e.destinations()).len(), 1);
}

#[test]
fn roles_get_exactly_the_grants_of_the_destinations_in_use() {
    let t = template();
    let res = t["Resources"].as_object().unwrap();
    let policy = &res["AlertDestinationsPolicy"];
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    // Attached to every function's role.
    let roles: Vec<String> = policy["Properties"]["Roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Ref"].as_str().unwrap().to_string())
        .collect();
    for (id, r) in res {
        if r["Type"] == "AWS::Serverless::Function" {
            assert!(
                roles.contains(&format!("{id}Role")),
                "{id}'s role does not get AlertDestinationsPolicy"
            );
        }
    }
    // Each statement: (condition, actions, resource).
    let mut grants = Vec::new();
    for s in policy["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
    {
        let (cond, s) = match s.get("Fn::If") {
            Some(a) => (a[0].as_str().unwrap().to_string(), a[1].clone()),
            None => (String::new(), s.clone()),
        };
        assert_eq!(s["Effect"], "Allow");
        let resource = s["Resource"].clone();
        assert_ne!(resource, json!("*"), "{s}");
        grants.push((
            cond,
            s["Action"].as_str().unwrap().to_string(),
            resource,
            s.get("Condition").cloned(),
        ));
    }
    let find = |action: &str| {
        grants
            .iter()
            .filter(|g| g.1 == action)
            .cloned()
            .collect::<Vec<_>>()
    };
    let import = find("securityhub:BatchImportFindings");
    assert_eq!(import.len(), 1);
    assert_eq!(import[0].0, "HasSecurityHub");
    assert!(import[0].2["Fn::Sub"]
        .as_str()
        .unwrap()
        .ends_with(":product/${AWS::AccountId}/default"));
    let update = find("securityhub:BatchUpdateFindings");
    assert_eq!(update.len(), 1);
    assert!(update[0].2["Fn::Sub"]
        .as_str()
        .unwrap()
        .ends_with(":hub/default"));
    assert_eq!(
        update[0].3.as_ref().unwrap()["StringEquals"]["securityhub:ASFFSyntaxPath/Workflow.Status"],
        "RESOLVED"
    );
    let secrets = find("secretsmanager:GetSecretValue");
    let named: Vec<(String, Value)> = secrets.iter().map(|g| (g.0.clone(), g.2.clone())).collect();
    assert_eq!(
        named,
        vec![
            (
                "HasPagerDuty".to_string(),
                json!({"Ref": "PagerDutySecretArn"})
            ),
            ("HasWebhook".to_string(), json!({"Ref": "WebhookSecretArn"})),
        ]
    );
    let publish = find("sns:Publish");
    assert!(publish
        .iter()
        .any(|g| g.0 == "HasChat" && g.2 == json!({"Ref": "ChatAlertTopic"})));
    let actions: std::collections::BTreeSet<&str> = grants.iter().map(|g| g.1.as_str()).collect();
    assert_eq!(
        actions.into_iter().collect::<Vec<_>>(),
        vec![
            "secretsmanager:GetSecretValue",
            "securityhub:BatchImportFindings",
            "securityhub:BatchUpdateFindings",
            "sns:Publish"
        ]
    );
    // Secrets are parameters only as ARNs, never values.
    for (name, p) in t["Parameters"].as_object().unwrap() {
        let lower = name.to_ascii_lowercase();
        assert!(
            ![
                "routingkey",
                "integrationkey",
                "signing",
                "password",
                "token"
            ]
            .iter()
            .any(|w| lower.contains(w)),
            "{name} could hold a secret's value"
        );
        if lower.contains("secret") {
            assert!(
                name.ends_with("Arn")
                    && p["AllowedPattern"]
                        .as_str()
                        .is_some_and(|a| a.contains("secretsmanager")),
                "{name} could hold a secret's value"
            );
        }
    }
}

#[test]
fn the_quarantine_action_reaches_the_unapproved_user_function() {
    let t = template();
    let res = &t["Resources"];
    let target = &res["QuarantineActionTarget"];
    assert_eq!(target["Type"], "AWS::SecurityHub::ActionTarget");
    assert_eq!(target["Condition"], "HasQuarantineAction");
    let name = target["Properties"]["Name"].as_str().unwrap();
    let id = target["Properties"]["Id"].as_str().unwrap();
    assert!(name.len() <= 20 && id.len() <= 20 && id.chars().all(|c| c.is_ascii_alphanumeric()));
    let rule = &res["QuarantineActionRule"]["Properties"];
    assert_eq!(
        rule["Targets"][0]["Arn"],
        json!({"Fn::GetAtt": "UnapprovedUserFunction.Arn"})
    );
    let permission = &res["QuarantineActionPermission"]["Properties"];
    assert_eq!(
        permission["FunctionName"],
        json!({"Ref": "UnapprovedUserFunction"})
    );
    assert_eq!(permission["Principal"], "events.amazonaws.com");
    // The rule's pattern, with the action's ARN in place, matches the sample event and not
    // an ordinary finding import.
    let mut pattern = rule["EventPattern"].clone();
    pattern["resources"] = json!([format!(
        "arn:aws:securityhub:us-east-1:123456789012:action/custom/{id}"
    )]);
    let p = trailwarden::pattern::Pattern::compile(&pattern).unwrap();
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("functions/all/tests/data/securityhub-custom-action-quarantine.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(p.matches(&sample));
    let mut imported = sample.clone();
    imported["detail-type"] = json!("Security Hub Findings - Imported");
    assert!(!p.matches(&imported));
    let mut other = sample;
    other["resources"] =
        json!(["arn:aws:securityhub:us-east-1:123456789012:action/custom/SendToJira"]);
    assert!(!p.matches(&other));
}

/// The SDK operations a crate's sources call (`.batch_import_findings()`), among those of the
/// SDK crate `krate`.
fn called(sources: &str, krate: &str) -> std::collections::BTreeSet<String> {
    sdk::operations(krate)
        .into_iter()
        .filter(|op| sources.contains(&format!(".{op}()")))
        .collect()
}

#[test]
fn every_destination_call_is_granted() {
    let mut sources = String::new();
    for e in std::fs::read_dir(root().join("destinations/src"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).unwrap();
        sources.push_str(text.split("#[cfg(test)]").next().unwrap());
    }
    let mut needed = Vec::new();
    for (krate, service) in [
        ("aws-sdk-securityhub", "securityhub"),
        ("aws-sdk-secretsmanager", "secretsmanager"),
        ("aws-sdk-sns", "sns"),
    ] {
        for op in called(&sources, krate) {
            needed.push(format!("{service}:{}", sdk::pascal_case(&op)));
        }
    }
    needed.sort();
    assert_eq!(
        needed,
        vec![
            "secretsmanager:GetSecretValue",
            "securityhub:BatchImportFindings",
            "securityhub:BatchUpdateFindings",
            "sns:Publish",
        ]
    );
    let t = template();
    let text = t["Resources"]["AlertDestinationsPolicy"].to_string();
    for action in &needed {
        assert!(
            text.contains(&format!("\"{action}\"")),
            "{action} is not granted"
        );
    }
}
