//! The backfill state machine's definition (`statemachines/backfill.asl.json`) as the template
//! deploys it: valid Amazon States Language with the Distributed Map fields, every
//! `DefinitionSubstitutions` placeholder defined by the template, and the role a Distributed
//! Map needs.

use serde_json::Value;
use serde_yaml::Value as Y;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn definition_text() -> String {
    std::fs::read_to_string(root().join("statemachines/backfill.asl.json")).unwrap()
}

fn template() -> Y {
    serde_yaml::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap()
}

/// The template's state machine resource that deploys the definition.
fn state_machine(t: &Y) -> (String, Y) {
    let resources = t["Resources"].as_mapping().unwrap();
    let found: Vec<(String, Y)> = resources
        .iter()
        .filter(|(_, r)| {
            r["Properties"]["DefinitionUri"].as_str() == Some("statemachines/backfill.asl.json")
        })
        .map(|(k, r)| (k.as_str().unwrap().to_string(), r.clone()))
        .collect();
    assert_eq!(found.len(), 1, "exactly one state machine deploys the file");
    found.into_iter().next().unwrap()
}

/// `${Name}` placeholders in the definition.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after.find('}').expect("closed placeholder");
        out.insert(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

/// The definition with each placeholder replaced as CloudFormation would (parameters by their
/// default, resources by a made-up ARN or name).
fn deployed() -> Value {
    let t = template();
    let (_, sm) = state_machine(&t);
    let mut text = definition_text();
    for (k, v) in sm["Properties"]["DefinitionSubstitutions"]
        .as_mapping()
        .unwrap()
    {
        let value = match v {
            Y::Tagged(tag) if tag.tag == "!Ref" => {
                let name = tag.value.as_str().unwrap();
                match t["Parameters"].get(name) {
                    Some(p) => match &p["Default"] {
                        Y::Number(n) => n.to_string(),
                        Y::String(s) => s.clone(),
                        other => panic!("{name}: default {other:?}"),
                    },
                    None => format!("{}-resource", name.to_ascii_lowercase()),
                }
            }
            Y::Tagged(tag) if tag.tag == "!GetAtt" => {
                format!(
                    "arn:aws:lambda:us-east-1:123456789012:function:{}",
                    tag.value.as_str().unwrap()
                )
            }
            other => panic!("{k:?}: unexpected substitution {other:?}"),
        };
        text = text.replace(&format!("${{{}}}", k.as_str().unwrap()), &value);
    }
    assert!(!text.contains("${"), "every placeholder substituted");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_placeholder_is_a_substitution_the_template_defines() {
    let text = definition_text();
    let _: Value = serde_json::from_str(&text).expect("valid JSON before substitution too");
    let t = template();
    let (id, sm) = state_machine(&t);
    assert_eq!(sm["Type"].as_str(), Some("AWS::Serverless::StateMachine"));
    let subs = sm["Properties"]["DefinitionSubstitutions"]
        .as_mapping()
        .unwrap();
    let keys: BTreeSet<String> = subs
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        keys,
        placeholders(&text),
        "{id}: substitutions and placeholders differ"
    );
    for (k, v) in subs {
        let Y::Tagged(tag) = v else {
            panic!("{k:?}: expected !Ref or !GetAtt")
        };
        let target = tag.value.as_str().unwrap();
        let target = target.split('.').next().unwrap();
        let defined = t["Parameters"].get(target).is_some() || t["Resources"].get(target).is_some();
        assert!(
            defined,
            "{k:?} refers to {target}, which the template does not define"
        );
    }
    // The stack's defaults are the ones the issue names.
    assert_eq!(
        t["Parameters"]["BackfillMaxConcurrency"]["Default"].as_u64(),
        Some(10)
    );
}

fn states(d: &Value) -> &serde_json::Map<String, Value> {
    d["States"].as_object().unwrap()
}

/// Amazon States Language rules a definition must meet (the subset this one uses): every
/// state has a known type, `StartAt` and every `Next`/`Default`/`Catch` target exist in the
/// same scope, every non-terminal state says where to go, every state is reachable.
fn check_scope(scope: &Value, path: &str) {
    let all = states(scope);
    let start = scope["StartAt"].as_str().unwrap();
    assert!(
        all.contains_key(start),
        "{path}: StartAt {start} is not a state"
    );
    let mut targets: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, s) in all {
        let ty = s["Type"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}.{name}: no Type"));
        assert!(
            ["Pass", "Task", "Choice", "Map", "Parallel", "Wait", "Succeed", "Fail"].contains(&ty),
            "{path}.{name}: Type {ty}"
        );
        let mut next: Vec<&str> = Vec::new();
        if let Some(n) = s["Next"].as_str() {
            next.push(n);
        }
        if let Some(d) = s["Default"].as_str() {
            next.push(d);
        }
        for c in s["Choices"].as_array().into_iter().flatten() {
            next.push(c["Next"].as_str().unwrap());
        }
        for c in s["Catch"].as_array().into_iter().flatten() {
            next.push(c["Next"].as_str().unwrap());
            assert!(c["ErrorEquals"].as_array().is_some_and(|e| !e.is_empty()));
        }
        let terminal = s["End"] == Value::Bool(true) || ty == "Succeed" || ty == "Fail";
        assert!(
            terminal || ty == "Choice" || s["Next"].is_string(),
            "{path}.{name}: neither Next nor End"
        );
        assert!(
            !(terminal && s["Next"].is_string()),
            "{path}.{name}: both Next and End"
        );
        if ty == "Task" {
            assert!(
                s["Resource"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("arn:aws:states:::")),
                "{path}.{name}"
            );
        }
        for n in &next {
            assert!(
                all.contains_key(*n),
                "{path}.{name}: Next {n} is not a state"
            );
        }
        if let Some(p) = s.get("ItemProcessor") {
            check_scope(p, &format!("{path}.{name}.ItemProcessor"));
        }
        targets.insert(name, next);
    }
    let mut seen = BTreeSet::from([start]);
    let mut todo = vec![start];
    while let Some(s) = todo.pop() {
        for n in &targets[s] {
            if seen.insert(n) {
                todo.push(n);
            }
        }
    }
    let unreachable: Vec<&String> = all.keys().filter(|k| !seen.contains(k.as_str())).collect();
    assert!(
        unreachable.is_empty(),
        "{path}: unreachable {unreachable:?}"
    );
}

#[test]
fn the_definition_is_valid_asl_with_a_distributed_map_over_a_prefix_or_a_manifest() {
    let d = deployed();
    check_scope(&d, "");
    let all = states(&d);
    // The input chooses the source.
    let choice = &all["Source"];
    assert_eq!(choice["Choices"][0]["Variable"], "$.manifest");
    assert_eq!(choice["Choices"][0]["Next"], "ScanInventory");
    assert_eq!(choice["Default"], "ScanPrefix");

    for (name, resource) in [
        ("ScanPrefix", "arn:aws:states:::s3:listObjectsV2"),
        ("ScanInventory", "arn:aws:states:::s3:getObject"),
    ] {
        let m = &all[name];
        assert_eq!(m["Type"], "Map", "{name}");
        assert_eq!(
            m["ItemProcessor"]["ProcessorConfig"]["Mode"], "DISTRIBUTED",
            "{name}"
        );
        assert_eq!(m["ItemReader"]["Resource"], resource, "{name}");
        let batcher = &m["ItemBatcher"];
        assert_eq!(batcher["MaxItemsPerBatchPath"], "$.batch_size", "{name}");
        assert!(batcher["MaxInputBytesPerBatch"].as_u64().unwrap() <= 256 * 1024);
        assert!(batcher["BatchInput"]["source"].is_string(), "{name}");
        assert_eq!(m["MaxConcurrencyPath"], "$.concurrency", "{name}");
        assert_eq!(
            m["ToleratedFailurePercentagePath"],
            "$.tolerated_failure_percentage"
        );
        let writer = &m["ResultWriter"];
        assert_eq!(
            writer["Resource"], "arn:aws:states:::s3:putObject",
            "{name}"
        );
        assert_eq!(
            writer["Parameters"]["Bucket"],
            "backfillresultsbucket-resource"
        );
        assert_eq!(writer["Parameters"]["Prefix.$"], "$.results_prefix");
        assert_eq!(
            m["Catch"][0]["Next"], "Summarize",
            "a stopped Map Run is summarized too"
        );
        assert_eq!(m["Next"], "Summarize");
        let task = &m["ItemProcessor"]["States"]["ScanBatch"];
        assert_eq!(task["Resource"], "arn:aws:states:::lambda:invoke");
        assert!(task["Parameters"]["FunctionName"]
            .as_str()
            .unwrap()
            .ends_with(":BackfillFunction.Arn"));
        assert_eq!(task["OutputPath"], "$.Payload");
        assert!(task["Retry"][0]["MaxAttempts"].as_u64().unwrap() >= 2);
    }
    assert_eq!(
        all["ScanPrefix"]["ItemReader"]["Parameters"]["Prefix.$"],
        "$.prefix"
    );
    assert_eq!(
        all["ScanPrefix"]["ItemBatcher"]["BatchInput"]["bucket.$"],
        "$.bucket"
    );
    assert_eq!(
        all["ScanInventory"]["ItemReader"]["ReaderConfig"]["InputType"],
        "MANIFEST"
    );
    assert_eq!(
        all["ScanInventory"]["ItemBatcher"]["BatchInput"]["source"],
        "manifest"
    );

    // The stack's defaults reach the Map through the execution's state.
    let defaults = &all["Settings"]["Parameters"]["defaults"];
    assert_eq!(defaults["concurrency.$"], "States.StringToJson('10')");
    assert_eq!(defaults["batch_size.$"], "States.StringToJson('50')");
    assert_eq!(
        defaults["tolerated_failure_percentage.$"],
        "States.StringToJson('5')"
    );

    let summarize = &all["Summarize"];
    assert_eq!(
        summarize["Parameters"]["Payload"]["summarize"]["run.$"],
        "$"
    );
    assert_eq!(summarize["End"], true);
}

fn actions(policies: &Y) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in policies.as_sequence().unwrap() {
        let doc = match p {
            Y::Tagged(t) if t.tag == "!If" => t.value[1].clone(),
            other => other.clone(),
        };
        for s in doc["Statement"].as_sequence().into_iter().flatten() {
            let resource = serde_yaml::to_string(&s["Resource"]).unwrap();
            match &s["Action"] {
                Y::String(a) => out.push((a.clone(), resource.clone())),
                Y::Sequence(l) => out.extend(
                    l.iter()
                        .map(|a| (a.as_str().unwrap().to_string(), resource.clone())),
                ),
                other => panic!("{other:?}"),
            }
        }
    }
    out
}

#[test]
fn the_state_machine_role_can_run_a_distributed_map() {
    let t = template();
    let (_, sm) = state_machine(&t);
    let granted = actions(&sm["Properties"]["Policies"]);
    let has = |a: &str, on: &str| granted.iter().any(|(x, r)| x == a && r.contains(on));
    assert!(has("lambda:InvokeFunction", "BackfillFunction"));
    // Child executions of itself, named by the stack.
    assert!(has(
        "states:StartExecution",
        "stateMachine:${AWS::StackName}-backfill"
    ));
    assert!(has(
        "states:DescribeExecution",
        "execution:${AWS::StackName}-backfill/*"
    ));
    assert!(has(
        "states:StopExecution",
        "execution:${AWS::StackName}-backfill/*"
    ));
    assert_eq!(
        serde_yaml::to_string(&sm["Properties"]["Name"])
            .unwrap()
            .trim(),
        "!Sub ${AWS::StackName}-backfill"
    );
    assert!(
        has("s3:ListBucket", "BackfillBucketName"),
        "the item reader lists the archive"
    );
    assert!(
        has("s3:GetObject", "BackfillInventoryBucketName"),
        "inventory manifests"
    );
    assert!(
        has("s3:PutObject", "BackfillResultsBucket"),
        "the result writer"
    );
    assert!(has("s3:AbortMultipartUpload", "BackfillResultsBucket"));
}
