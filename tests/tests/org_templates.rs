//! The organization templates checked against the main stack:
//! - member.yaml forwards, pattern for pattern, what the main stack's responders, Insights and
//!   real-time catalog rules listen to (so an event of a member account reaches the same
//!   function it would at home), and nothing of the trail bucket's;
//! - its responder role trusts only the tooling account's unapproved-user and security-group
//!   roles, within the organization, and grants exactly the IAM and EC2 actions their roles
//!   in the main stack have;
//! - log-archive.yaml forwards exactly the bucket events the stack's log readers listen to,
//!   and grants those readers what they need;
//! - template.yaml's bus accepts the organization, and only the two responders may assume
//!   the member role, only when it is configured.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use trailwarden::pattern::Pattern;
use trailwarden_cli::template::Template;

// Shared with template.rs, which uses all of it.
#[allow(dead_code)]
#[path = "support/template_json.rs"]
mod template_json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(name: &str) -> Value {
    template_json::load(&root().join(name))
}

fn sample(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root().join("events").join(name)).unwrap()).unwrap()
}

/// The functions whose rules member accounts forward: the responders, Insights and the
/// real-time catalog. (log-delivery, log-integrity and insights' file rule listen to the
/// trail bucket: log-archive.yaml forwards those; tamper and watchdog watch the tooling
/// account's own trail and stack.)
const FORWARDED: &[&str] = &[
    "unapproved-user",
    "root-activity",
    "security-group",
    "insights",
    "catalog",
];

/// A serverless function of template.yaml by its TRAILWARDEN_FUNCTION name: (logical id,
/// properties).
fn function<'a>(t: &'a Value, name: &str) -> (&'a str, &'a Value) {
    template_json::resources(t, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| f["Properties"]["Environment"]["Variables"]["TRAILWARDEN_FUNCTION"] == name)
        .map(|(id, f)| (id, &f["Properties"]))
        .unwrap_or_else(|| panic!("template.yaml has no function {name}"))
}

fn is_bucket_rule(pattern: &Value) -> bool {
    pattern["detail-type"] == json!(["Object Created"])
}

/// The EventBridge rules of a function on its account's default bus: (event name, pattern,
/// state). (A rule on another bus, such as the catalog's `FromOtherRegions`, receives what
/// forwarders send; it is not something to forward.)
fn rules(props: &Value) -> Vec<(String, Value, Value)> {
    props["Events"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, e)| e["Type"] == "EventBridgeRule")
        .filter(|(_, e)| e["Properties"].get("EventBusName").is_none())
        .map(|(n, e)| {
            (
                n.clone(),
                e["Properties"]["Pattern"].clone(),
                e["Properties"]["State"].clone(),
            )
        })
        .collect()
}

/// The statements of a resource's inline policies (any `!If` branch that is a policy).
fn statements(policies: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in policies.as_array().into_iter().flatten() {
        let docs: Vec<&Value> = match p.get("Fn::If") {
            Some(branches) => branches.as_array().unwrap()[1..].iter().collect(),
            None => vec![p.get("PolicyDocument").unwrap_or(p)],
        };
        for d in docs {
            for s in d["Statement"].as_array().into_iter().flatten() {
                out.push(s.clone());
            }
        }
    }
    out
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        other => panic!("statement without actions: {other}"),
    }
}

#[test]
fn member_accounts_forward_the_stacks_rules_pattern_for_pattern() {
    let t = load("template.yaml");
    let m = load("member.yaml");
    let mut want: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for name in FORWARDED {
        let (_, props) = function(&t, name);
        for (event, pattern, state) in rules(props) {
            if is_bucket_rule(&pattern) {
                continue;
            }
            let key = serde_json::to_string(&pattern).unwrap();
            want.insert(key, (format!("{name} {event}"), state));
        }
    }
    assert!(want.len() >= 10, "{want:?}");
    // The main stack's buses: its account's default bus, and the catalog's, named after it.
    let catalog = &t["Resources"]["CatalogEventBus"]["Properties"]["Name"];
    assert_eq!(catalog, &json!({"Fn::Sub": "${AWS::StackName}-catalog"}));
    let default_bus = json!({"Fn::If": ["DefaultBus",
        {"Fn::Sub": "arn:${AWS::Partition}:events:us-east-1:${ToolingAccountId}:event-bus/default"},
        {"Ref": "TargetEventBusArn"}]});
    let catalog_bus = json!({"Fn::Sub":
        "arn:${AWS::Partition}:events:us-east-1:${ToolingAccountId}:event-bus/${ToolingStackName}-catalog"});
    let mut forwarded = BTreeSet::new();
    for (id, r) in template_json::resources(&m, "AWS::Events::Rule") {
        let p = &r["Properties"];
        let key = serde_json::to_string(&p["EventPattern"]).unwrap();
        let (what, state) = want.get(&key).unwrap_or_else(|| {
            panic!("member.yaml {id} forwards a pattern no rule of the main stack has (run scripts/gen-rules.sh)")
        });
        assert_eq!(&p["State"], state, "{id} ({what}): the rule's state");
        // To the tooling account's bus the rule is on there (the catalog's own bus for the
        // catalog's rules, as the forwarder does), through the forwarding role, with dead
        // letters.
        let target = &p["Targets"][0];
        let bus = if what.starts_with("catalog ") {
            &catalog_bus
        } else {
            &default_bus
        };
        assert_eq!(&target["Arn"], bus, "{id} ({what}): the bus");
        assert_eq!(
            target["RoleArn"],
            json!({"Fn::GetAtt": ["ForwardRole", "Arn"]})
        );
        assert_eq!(
            target["DeadLetterConfig"]["Arn"],
            json!({"Fn::GetAtt": ["ForwardDeadLetters", "Arn"]})
        );
        assert!(
            r["Condition"] == "Forward" || r["Condition"] == "ForwardCatalog",
            "{id}"
        );
        forwarded.insert(key);
    }
    let missing: Vec<&String> = want
        .iter()
        .filter(|(k, _)| !forwarded.contains(*k))
        .map(|(_, (what, _))| what)
        .collect();
    assert!(
        missing.is_empty(),
        "member.yaml does not forward {missing:?} (run scripts/gen-rules.sh)"
    );
    // The forwarding role may put events on those two buses, and only there.
    let role = &m["Resources"]["ForwardRole"]["Properties"];
    let s = &statements(&role["Policies"])[0];
    assert_eq!(actions(s), vec!["events:PutEvents"]);
    assert_eq!(s["Resource"], json!([default_bus, catalog_bus]));
}

/// An event recorded in a member account is forwarded by member.yaml and, on the tooling
/// account's bus, reaches the function it would reach at home. Bucket events are not
/// forwarded from member accounts (the log archive forwards those).
#[test]
fn member_account_events_reach_their_responder_in_the_tooling_account() {
    let m = load("member.yaml");
    let forwarders: Vec<(String, Pattern)> = template_json::resources(&m, "AWS::Events::Rule")
        .into_iter()
        .map(|(id, r)| {
            let p = Pattern::compile(&r["Properties"]["EventPattern"])
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            (id.to_string(), p)
        })
        .collect();
    let forwarded_by = |ev: &Value| -> Vec<&str> {
        forwarders
            .iter()
            .filter(|(_, p)| p.matches(ev))
            .map(|(id, _)| id.as_str())
            .collect()
    };
    let t = Template::load(&root().join("template.yaml")).unwrap();
    for (file, function, rule) in [
        (
            "iam-create-user-in-member-account.json",
            "unapproved-user",
            "ForwardCreateUser",
        ),
        (
            "ec2-authorize-ingress-in-member-account.json",
            "security-group",
            "ForwardSecurityGroupChange",
        ),
        (
            "root-api-call-create-bucket.json",
            "root-activity",
            "ForwardRootUse",
        ),
        (
            "insight-api-call-rate-start.json",
            "insights",
            "ForwardInsightEvent",
        ),
    ] {
        let ev = sample(file);
        let by = forwarded_by(&ev);
        assert!(by.contains(&rule), "{file}: forwarded by {by:?}");
        let routed: Vec<&str> = t.route(&ev).iter().map(|f| f.name.as_str()).collect();
        assert!(routed.contains(&function), "{file}: routed to {routed:?}");
    }
    // The member samples say where they happened.
    for file in [
        "iam-create-user-in-member-account.json",
        "ec2-authorize-ingress-in-member-account.json",
    ] {
        let ev = sample(file);
        assert_eq!(ev["account"], "111122223333", "{file}");
        assert_eq!(ev["detail"]["recipientAccountId"], "111122223333", "{file}");
    }
    // A catalog detection's event (read-only calls included) is forwarded too.
    let stop = sample("cloudtrail-stop-logging.json");
    assert!(
        forwarded_by(&stop)
            .iter()
            .any(|id| id.starts_with("ForwardCatalog")),
        "{:?}",
        forwarded_by(&stop)
    );
    for bucket_event in [
        "s3-object-created-log-file.json",
        "s3-object-created-digest-file.json",
    ] {
        assert!(
            forwarded_by(&sample(bucket_event)).is_empty(),
            "{bucket_event}"
        );
    }
}

/// What trailwarden takes for its own calls in member accounts (the responder role's name is a
/// wildcard-account entry of OWN_ROLE_ARNS) is exactly what the responder role may call: a role
/// of that name made by someone else is not excused anything more.
#[test]
fn the_responder_calls_taken_for_trailwardens_are_the_responder_roles_actions() {
    let m = load("member.yaml");
    let policies = &m["Resources"]["ResponderRole"]["Properties"]["Policies"];
    let allowed: BTreeSet<String> = statements(policies)
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(actions)
        .collect();
    let taken: BTreeSet<String> = trailwarden::config::RESPONDER_CALLS
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(taken, allowed);
}

#[test]
fn the_responder_role_trusts_only_the_tooling_functions_of_the_organization() {
    let t = load("template.yaml");
    let m = load("member.yaml");
    let role = &m["Resources"]["ResponderRole"];
    assert_eq!(role["Condition"], "CreateResponderRole");
    assert_eq!(
        role["Properties"]["RoleName"],
        json!({"Ref": "MemberRoleName"})
    );
    let trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    assert_eq!(trust.len(), 1);
    let s = &trust[0];
    assert_eq!(s["Effect"], "Allow");
    assert_eq!(s["Action"], "sts:AssumeRole");
    assert_eq!(
        s["Principal"],
        json!({"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${ToolingAccountId}:root"}})
    );
    // The function roles SAM names after the main stack's function logical ids.
    let role_of = |name: &str| {
        let (id, _) = function(&t, name);
        format!("arn:${{AWS::Partition}}:iam::${{ToolingAccountId}}:role/${{ToolingStackName}}-{id}Role-*")
    };
    let principals = json!([
        {"Fn::Sub": role_of("unapproved-user")},
        {"Fn::Sub": role_of("security-group")}
    ]);
    let branches = s["Condition"]["Fn::If"].as_array().unwrap();
    assert_eq!(branches[0], "HasExternalId");
    for (i, cond) in branches[1..].iter().enumerate() {
        assert_eq!(
            cond["StringEquals"]["aws:PrincipalOrgID"],
            json!({"Ref": "OrganizationId"}),
            "branch {i}"
        );
        assert_eq!(
            cond["ArnLike"]["aws:PrincipalArn"], principals,
            "branch {i}"
        );
    }
    assert_eq!(
        branches[1]["StringEquals"]["sts:ExternalId"],
        json!({"Ref": "ExternalId"})
    );
    assert!(branches[2]["StringEquals"].get("sts:ExternalId").is_none());
    // The default name is the one the README tells the main stack to use.
    assert_eq!(
        m["Parameters"]["MemberRoleName"]["Default"],
        "trailwarden-responder"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("MemberRoleName=trailwarden-responder"));
}

#[test]
fn the_responder_role_grants_exactly_what_the_responders_call_in_an_account() {
    let t = load("template.yaml");
    let m = load("member.yaml");
    let mut responders: BTreeSet<String> = BTreeSet::new();
    for name in ["unapproved-user", "security-group"] {
        let (_, props) = function(&t, name);
        for s in statements(&props["Policies"]) {
            for a in actions(&s) {
                if a.starts_with("iam:") || a.starts_with("ec2:") {
                    responders.insert(a);
                }
            }
        }
    }
    let role = &m["Resources"]["ResponderRole"]["Properties"];
    let granted: Vec<Value> = statements(&role["Policies"]);
    let mut member: BTreeSet<String> = BTreeSet::new();
    for s in &granted {
        assert_eq!(s["Effect"], "Allow");
        for a in actions(s) {
            assert!(
                responders.contains(&a),
                "member role grants {a}, which neither responder has"
            );
            member.insert(a);
        }
        // Everything but listing users and reading groups' rules is this account's own.
        let resources: Vec<&Value> = match &s["Resource"] {
            Value::Array(a) => a.iter().collect(),
            r => vec![r],
        };
        for r in resources {
            if r == "*" {
                assert!(
                    actions(s).iter().all(|a| a == "iam:ListUsers"
                        || a.starts_with("ec2:Describe")
                        || a.starts_with("ec2:Get")),
                    "{s}"
                );
            } else {
                let sub = r["Fn::Sub"].as_str().unwrap_or_default();
                assert!(sub.contains(":${AWS::AccountId}:"), "{sub}");
            }
        }
    }
    assert_eq!(member, responders, "the responders' IAM and EC2 actions");
    // Quarantine may attach AWSDenyAll only, as at home.
    let attach = granted
        .iter()
        .find(|s| actions(s) == ["iam:AttachUserPolicy"])
        .unwrap();
    assert_eq!(
        attach["Condition"]["ArnEquals"]["iam:PolicyARN"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"})
    );
}

#[test]
fn the_tooling_bus_accepts_the_organization_and_only_the_responders_assume_the_role() {
    let t = load("template.yaml");
    let policy = &t["Resources"]["OrganizationEventBusPolicy"];
    assert_eq!(policy["Type"], "AWS::Events::EventBusPolicy");
    assert_eq!(policy["Condition"], "HasOrganization");
    let p = &policy["Properties"];
    assert_eq!(p["EventBusName"], "default");
    assert_eq!(p["Statement"]["Action"], "events:PutEvents");
    assert_eq!(
        p["Statement"]["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        json!({"Ref": "OrganizationId"})
    );
    // The catalog's bus accepts the organization too (member.yaml's catalog rules).
    let catalog = &t["Resources"]["OrganizationCatalogEventBusPolicy"];
    assert_eq!(catalog["Condition"], "HasOrganization");
    let c = &catalog["Properties"];
    assert_eq!(c["EventBusName"], json!({"Ref": "CatalogEventBus"}));
    assert_eq!(c["Statement"]["Action"], "events:PutEvents");
    assert_eq!(
        c["Statement"]["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        json!({"Ref": "OrganizationId"})
    );
    assert_eq!(t["Parameters"]["OrganizationId"]["Default"], "");
    assert_eq!(t["Parameters"]["MemberRoleName"]["Default"], "");
    assert_eq!(
        t["Conditions"]["HasMemberRole"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "MemberRoleName"}, ""]}]})
    );
    for (_, f) in template_json::resources(&t, "AWS::Serverless::Function") {
        let props = &f["Properties"];
        let name = props["Environment"]["Variables"]["TRAILWARDEN_FUNCTION"]
            .as_str()
            .unwrap_or_default();
        let assume: Vec<&Value> = props["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| serde_json::to_string(p).unwrap().contains("sts:AssumeRole"))
            .collect();
        if name == "unapproved-user" || name == "security-group" {
            assert_eq!(assume.len(), 1, "{name}");
            let branches = assume[0]["Fn::If"].as_array().unwrap();
            assert_eq!(branches[0], "HasMemberRole", "{name}: only when set");
            assert_eq!(branches[2], json!({"Ref": "AWS::NoValue"}));
            let s = &branches[1]["Statement"][0];
            assert_eq!(s["Action"], "sts:AssumeRole");
            assert_eq!(
                s["Resource"],
                json!({"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"})
            );
            let vars = &props["Environment"]["Variables"];
            assert_eq!(vars["HOME_ACCOUNT_ID"], json!({"Ref": "AWS::AccountId"}));
            assert_eq!(vars["MEMBER_ROLE_NAME"], json!({"Ref": "MemberRoleName"}));
            assert_eq!(
                vars["MEMBER_ROLE_EXTERNAL_ID"],
                json!({"Ref": "MemberRoleExternalId"})
            );
        } else {
            assert!(assume.is_empty(), "{name} may not assume member roles");
        }
    }
}

#[test]
fn the_log_archive_forwards_exactly_the_bucket_events_the_log_readers_listen_to() {
    let t = load("template.yaml");
    let la = load("log-archive.yaml");
    let bucket = |mut p: Value| {
        p["detail"]["bucket"]["name"] = json!(["org-trail-logs-111122223333"]);
        p
    };
    let mut stack: BTreeMap<String, &str> = BTreeMap::new();
    for name in ["log-delivery", "log-integrity", "insights"] {
        let (_, props) = function(&t, name);
        for (_, pattern, _) in rules(props) {
            if is_bucket_rule(&pattern) {
                stack.insert(serde_json::to_string(&bucket(pattern)).unwrap(), name);
            }
        }
    }
    assert_eq!(stack.len(), 3, "{stack:?}");
    let mut forwarders = Vec::new();
    for (id, r) in template_json::resources(&la, "AWS::Events::Rule") {
        let p = &r["Properties"]["EventPattern"];
        assert_eq!(
            p["detail"]["bucket"]["name"],
            json!([{"Fn::If": ["CreateBucket", {"Ref": "TrailBucket"}, {"Ref": "ExistingTrailBucketName"}]}]),
            "{id}"
        );
        let key = serde_json::to_string(&bucket(p.clone())).unwrap();
        assert!(
            stack.remove(&key).is_some(),
            "{id} forwards what no log reader listens to"
        );
        forwarders.push(Pattern::compile(&bucket(p.clone())).unwrap());
    }
    assert!(stack.is_empty(), "not forwarded: {stack:?}");
    // Organization trail keys (AWSLogs/o-.../account/...) are forwarded; other objects not.
    let in_bucket = |file: &str| {
        let mut ev = sample(file);
        ev["detail"]["bucket"]["name"] = json!("org-trail-logs-111122223333");
        ev
    };
    let forwarded = |ev: &Value| forwarders.iter().filter(|p| p.matches(ev)).count();
    for file in [
        "s3-object-created-log-file.json",
        "s3-object-created-digest-file.json",
        "s3-object-created-digest-org-trail.json",
        "s3-object-created-insight-file.json",
    ] {
        assert_eq!(forwarded(&in_bucket(file)), 1, "{file}");
    }
    assert_eq!(forwarded(&in_bucket("s3-object-created-unrelated.json")), 0);
    assert_eq!(
        forwarded(&sample("s3-object-created-log-file.json")),
        0,
        "another bucket"
    );
}

#[test]
fn the_log_archive_grants_the_stacks_log_readers_and_turns_notifications_on() {
    let t = load("template.yaml");
    let la = load("log-archive.yaml");
    let readers: Vec<String> = ["log-delivery", "log-integrity", "insights"]
        .iter()
        .map(|n| {
            let (id, _) = function(&t, n);
            format!("arn:${{AWS::Partition}}:iam::${{ToolingAccountId}}:role/${{ToolingStackName}}-{id}Role-*")
        })
        .collect();
    let subs = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(a) => a
                .iter()
                .map(|x| x["Fn::Sub"].as_str().unwrap().to_string())
                .collect(),
            x => vec![x["Fn::Sub"].as_str().unwrap().to_string()],
        }
    };
    // A new bucket: EventBridge notifications on, readers granted in the bucket and key policies.
    let bucket = &la["Resources"]["TrailBucket"]["Properties"];
    assert_eq!(
        bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"],
        true
    );
    let policy = la["Resources"]["TrailBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    let read = policy
        .iter()
        .find(|s| s["Sid"] == "TrailwardenLogReadersRead")
        .unwrap();
    assert_eq!(actions(read), ["s3:GetObject", "s3:GetObjectVersion"]);
    assert_eq!(
        subs(&read["Condition"]["ArnLike"]["aws:PrincipalArn"]),
        readers
    );
    let list = policy
        .iter()
        .find(|s| s["Sid"] == "TrailwardenIntegrityLists")
        .unwrap();
    assert_eq!(actions(list), ["s3:ListBucket"]);
    assert_eq!(
        subs(&list["Condition"]["ArnLike"]["aws:PrincipalArn"]),
        [readers[1].clone()]
    );
    let key = la["Resources"]["TrailKey"]["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap();
    let decrypt = key
        .iter()
        .find(|s| s["Sid"] == "TrailwardenLogReadersDecrypt")
        .unwrap();
    assert_eq!(actions(decrypt), ["kms:Decrypt"]);
    assert_eq!(
        subs(&decrypt["Condition"]["ArnLike"]["aws:PrincipalArn"]),
        readers
    );
    assert_eq!(
        decrypt["Condition"]["StringEquals"]["kms:ViaService"],
        json!({"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"})
    );
    // An existing bucket: the same grants and the notification command, as outputs.
    let out = &la["Outputs"];
    let text = |name: &str| -> String {
        let v = &out[name]["Value"]["Fn::Sub"];
        v.as_str()
            .or_else(|| v[0].as_str())
            .unwrap_or_else(|| panic!("output {name}"))
            .to_string()
    };
    assert!(text("EnableEventBridgeNotifications").contains("\"EventBridgeConfiguration\": {}"));
    let roles_var = out["BucketPolicyStatements"]["Value"]["Fn::Sub"][1]["Roles"]["Fn::Sub"]
        .as_str()
        .unwrap();
    for name in ["BucketPolicyStatements", "KeyPolicyStatement"] {
        let filled = text(name).replace("${Roles}", roles_var);
        for r in &readers {
            assert!(filled.contains(r.as_str()), "{name} lacks {r}");
        }
        // The statements are JSON once CloudFormation has filled them in.
        let json_text = filled
            .replace("${AWS::Partition}", "aws")
            .replace("${AWS::Region}", "eu-west-1")
            .replace("${ToolingAccountId}", "123456789012")
            .replace("${ToolingStackName}", "trailwarden")
            .replace("${ExistingTrailBucketName}", "org-trail-logs");
        serde_json::from_str::<Value>(&json_text)
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}: {json_text}"));
    }
}
