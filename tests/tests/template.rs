//! template.yaml checked against the code:
//! - each rule's pattern (through the shared pattern engine) matches the sample events in
//!   events/ meant for its function and none meant for another;
//! - every environment variable a function's configuration reads is set by the template;
//! - every AWS operation a function's code calls is granted to that function's role.

use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use trailwarden::config::Env;
use trailwarden_cli::functions::Function;
use trailwarden_cli::template::Template;
use trailwarden_testkit::sdk;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Template {
    Template::load(&root().join("template.yaml")).expect("template.yaml loads")
}

/// Which function each sample event is meant for (`None`: no function should receive it).
/// Every file in events/ must be listed, so a new fixture has to be classified. The real-time
/// `catalog` function also receives every event a built-in detection matches (checked
/// against the catalog itself, see [`catalog_matches`]); events listed for it here are the
/// ones only it receives.
fn expected_routes() -> BTreeMap<&'static str, Option<&'static str>> {
    let ct = Some("catalog");
    let uu = Some("unapproved-user");
    let ra = Some("root-activity");
    let sg = Some("security-group");
    let ld = Some("log-delivery");
    let li = Some("log-integrity");
    let ins = Some("insights");
    let tw = Some("tamper");
    let wd = Some("watchdog");
    BTreeMap::from([
        ("iam-create-user-by-iam-user.json", uu),
        ("iam-create-user-by-assumed-role.json", uu),
        ("iam-create-user-access-denied.json", uu),
        ("iam-create-user-by-approved-creator.json", uu),
        ("iam-create-access-key-for-other-user.json", uu),
        ("iam-upload-ssh-public-key-for-other-user.json", uu),
        ("iam-upload-signing-certificate-for-other-user.json", uu),
        (
            "iam-create-service-specific-credential-for-other-user.json",
            uu,
        ),
        (
            "iam-reset-service-specific-credential-for-other-user.json",
            uu,
        ),
        ("iam-create-access-key-self.json", uu),
        ("iam-create-login-profile-for-other-user.json", uu),
        ("iam-update-login-profile-for-other-user.json", uu),
        ("signin-root-success-no-mfa.json", ra),
        ("signin-root-success-mfa.json", ra),
        ("signin-root-failure.json", ra),
        ("signin-iam-user-no-mfa.json", None),
        ("signin-iam-user-failure-hidden-name.json", None),
        ("signin-identity-center.json", None),
        ("signin-saml-federated.json", None),
        ("root-api-call-create-bucket.json", ra),
        ("root-api-call-get-secret-read-only.json", ra),
        ("root-create-access-key.json", ra),
        ("root-invoked-by-service.json", None),
        ("root-centralized-delete-login-profile.json", ra),
        ("root-assume-root-by-management-account.json", ra),
        ("service-event-no-identity-type.json", None),
        ("ec2-authorize-ingress-nested-world-ssh.json", sg),
        ("ec2-authorize-ingress-flat-world.json", sg),
        ("ec2-authorize-ingress-ipv6-world.json", sg),
        ("ec2-authorize-ingress-private-range.json", sg),
        ("ec2-authorize-ingress-all-ports-odd-bits.json", sg),
        ("ec2-authorize-ingress-https-world.json", sg),
        ("ec2-revoke-ingress.json", sg),
        ("ec2-revoke-ingress-by-trailwarden.json", sg),
        ("ec2-authorize-ingress-failed.json", sg),
        ("ec2-authorize-ingress-icmp-world.json", sg),
        ("ec2-authorize-ingress-group-and-prefix-list.json", sg),
        ("ec2-authorize-egress-world.json", sg),
        ("ec2-modify-security-group-rules-world.json", sg),
        ("ec2-create-security-group.json", sg),
        ("ec2-delete-security-group.json", sg),
        ("ec2-authorize-ingress-split-world-ssh.json", sg),
        ("ec2-authorize-ingress-split-world-ipv6.json", sg),
        ("ec2-authorize-ingress-prefix-list-world.json", sg),
        ("ec2-modify-managed-prefix-list-world.json", sg),
        ("ec2-restore-managed-prefix-list-version.json", sg),
        ("s3-object-created-log-file.json", ld),
        ("s3-notification-log-file.json", ld),
        ("s3-object-created-digest-file.json", li),
        ("s3-notification-digest-file.json", li),
        ("s3-object-created-digest-chain-restart.json", li),
        ("s3-object-created-digest-org-trail.json", li),
        ("s3-object-created-unrelated.json", None),
        ("insight-api-call-rate-start.json", ins),
        ("insight-api-call-rate-end.json", ins),
        ("insight-api-error-rate-start.json", ins),
        ("insight-api-error-rate-end.json", ins),
        ("s3-object-created-insight-file.json", ins),
        // Recorded in eu-north-1: the forwarder brings it to the us-east-1 bus.
        ("signin-iam-user-other-region.json", None),
        ("cloudtrail-stop-logging.json", ct),
        ("organizations-leave-organization.json", ct),
        ("s3-put-bucket-policy-public.json", ct),
        ("secretsmanager-get-secret-value.json", ct),
        ("guardduty-delete-detector.json", ct),
        ("iam-create-access-key-by-role-for-user.json", uu),
        // Recorded in a member account and forwarded to the tooling account's bus (member.yaml).
        ("iam-create-user-in-member-account.json", uu),
        ("ec2-authorize-ingress-in-member-account.json", sg),
        // Delivered by SNS or SQS (a subscription or an event source mapping, not an
        // EventBridge rule): no rule routes them.
        ("sns-s3-notification-log-file.json", None),
        ("sns-cloudtrail-log-file-delivered.json", None),
        ("sqs-s3-notification-log-file.json", None),
        ("sqs-sns-cloudtrail-log-file-delivered.json", None),
        ("sqs-sns-s3-notification-digest-file.json", None),
        ("sqs-eventbridge-object-created-log-file.json", None),
        // trailwarden's own resources changed, its trail's files deleted, its watchdog's tick.
        ("eventbridge-disable-rule-trailwarden.json", tw),
        ("lambda-delete-function-trailwarden.json", tw),
        ("s3-put-bucket-notification-empty.json", tw),
        ("cloudtrail-stop-logging-trailwarden.json", tw),
        ("s3-delete-object-digest.json", tw),
        ("s3-object-deleted-log-file.json", tw),
        ("scheduled-event-watchdog.json", wd),
    ])
}

fn sample_events() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    out
}

/// A classic S3 notification goes straight to Lambda in AWS; for routing it is compared as
/// the EventBridge `Object Created` event S3 would send for the same object.
fn as_eventbridge(raw: &Value) -> Vec<Value> {
    if raw.get("detail-type").is_some() {
        return vec![raw.clone()];
    }
    raw["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let key = trailwarden::payload::decode_s3_key(
                r["s3"]["object"]["key"].as_str().unwrap_or_default(),
            )
            .unwrap();
            serde_json::json!({"source": "aws.s3", "detail-type": "Object Created",
                "detail": {"bucket": {"name": r["s3"]["bucket"]["name"]}, "object": {"key": key}}})
        })
        .collect()
}

#[test]
fn every_sample_event_reaches_exactly_the_function_meant_for_it() {
    let t = template();
    let expected = expected_routes();
    let mut checked = 0;
    for path in sample_events() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let want = expected
            .get(name.as_str())
            .unwrap_or_else(|| panic!("events/{name} is not classified in expected_routes()"));
        let raw: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut got: BTreeSet<String> = BTreeSet::new();
        for ev in as_eventbridge(&raw) {
            for f in t.route(&ev) {
                got.insert(f.name.clone());
            }
        }
        let mut want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        // The generated rules are a superset of the catalog: the catalog function must
        // receive every event a detection matches, and may receive others (it ignores them).
        if catalog_matches(&raw) {
            want.insert("catalog".into());
        } else if !want.contains("catalog") {
            got.remove("catalog");
        }
        // tamper's rules are a superset too (every StopLogging, names known once deployed):
        // it must receive every event it acts on, and ignores the others it receives.
        if tamper_takes(&raw) {
            want.insert("tamper".into());
        } else if !want.contains("tamper") {
            got.remove("tamper");
        }
        assert_eq!(got, want, "events/{name}");
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} sample events");
}

/// Root use that is read-only (a root access key reading a secret; `sts:AssumeRoot`, recorded
/// read-only like every AssumeRole*) reaches root-activity:
/// EventBridge hands read-only management events only to rules in the state
/// `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`. The same event put on the bus by someone
/// (PutEvents, whose source cannot start with `aws.`) reaches no responder.
#[test]
fn read_only_root_calls_reach_root_activity_and_forged_ones_nothing() {
    let t = template();
    let routed =
        |ev: &Value| -> BTreeSet<String> { t.route(ev).iter().map(|f| f.name.clone()).collect() };
    let read = sample("root-api-call-get-secret-read-only.json");
    assert_eq!(read["detail"]["readOnly"], true);
    assert!(
        routed(&read).contains("root-activity"),
        "{:?}",
        routed(&read)
    );
    // The model: the same rules in the plain ENABLED state would not see it.
    let ra = t.function("root-activity").unwrap();
    let mut plain = ra.clone();
    plain.all_management_events.clear();
    assert!(ra.receives(&read) && !plain.receives(&read));
    for name in [
        "root-api-call-get-secret-read-only.json",
        "signin-root-success-no-mfa.json",
        "root-assume-root-by-management-account.json",
    ] {
        let mut forged = sample(name);
        forged["source"] = "acme.alerts".into();
        assert!(
            !routed(&forged).contains("root-activity"),
            "{name}: {:?}",
            routed(&forged)
        );
    }
    // The forwarder and the member-account rules alike.
    for (file, ids) in [
        ("forwarder/template.yaml", &["ForwardRootActivity"][..]),
        ("member.yaml", &["ForwardRootUse", "ForwardAssumeRoot"][..]),
    ] {
        let doc = template_json::load(&root().join(file));
        for id in ids {
            let rule = resource(&doc, id);
            let source = &rule["Properties"]["EventPattern"]["source"];
            assert!(
                source.to_string().contains("aws."),
                "{file} {id}: source {source}"
            );
            // AssumeRoot is recorded read-only, like every AssumeRole*.
            assert_eq!(
                rule["Properties"]["State"], "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
                "{file} {id}"
            );
        }
    }
}

/// tamper's configuration as the template gives it to a stack named `trailwarden` (the names
/// the sample events use).
fn tamper_config() -> tamper::Config {
    let resources = [
        "stack=trailwarden",
        "rule=trailwarden-*",
        "function=trailwarden-*",
        "role=trailwarden-*",
        "topic=arn:aws:sns:us-east-1:123456789012:trailwarden-AlertTopic-1A2B3C4D5E6F",
        "key=arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "queue=trailwarden-FailedEventsQueue-9Z8Y7X6W5V4U",
        "bucket=trailwarden-trail-123456789012",
        "table=trailwarden-StateTable-1Q2W3E4R5T6Y",
    ]
    .join(",");
    trailwarden_testkit::config::<tamper::Tamper>(&[
        ("SELF_RESOURCES", resources.as_str()),
        (
            "TRAIL_ARNS",
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/trailwarden-trail",
        ),
    ])
}

/// True when tamper acts on the event (a change to trailwarden's resources, a trail file
/// deleted or written).
fn tamper_takes(raw: &Value) -> bool {
    use trailwarden::respond::{Decide, Decision};
    let Ok(p) = trailwarden::Payload::from_value(raw.clone()) else {
        return false;
    };
    static CONFIG: std::sync::OnceLock<tamper::Config> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(tamper_config);
    matches!(
        tamper::Tamper::decide(config, &p, &()),
        Decision::Respond { .. }
    )
}

/// True when a built-in detection matches the event's CloudTrail record.
fn catalog_matches(raw: &Value) -> bool {
    let Some(detail) = raw.get("detail") else {
        return false;
    };
    if raw["detail-type"] == trailwarden::payload::DETAIL_TYPE_INSIGHT {
        return false;
    }
    !trailwarden::detect::Catalog::builtin(Default::default())
        .matching(detail)
        .is_empty()
}

/// The catalog function's rules in template.yaml are the ones generated from the built-in
/// catalog: a detection added or changed without `scripts/gen-rules.sh` fails here.
#[test]
fn the_template_rules_are_generated_from_the_builtin_catalog() {
    use trailwarden_cli::rules;
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let (start, end, indent) =
        rules::find_block(&text).expect("template.yaml has the generated block");
    let catalog = trailwarden::detect::Catalog::builtin(Default::default());
    let generated = rules::generate(&catalog).unwrap();
    assert!(
        text[start..end] == rules::template_block(&generated, indent),
        "template.yaml's catalog rules are stale: run scripts/gen-rules.sh"
    );
    // The forwarder's copies for other regions too.
    let fwd = std::fs::read_to_string(root().join("forwarder/template.yaml")).unwrap();
    let (start, end, indent) =
        rules::find_block(&fwd).expect("forwarder/template.yaml has the generated block");
    assert!(
        fwd[start..end] == rules::forwarder_block(&generated, indent),
        "forwarder/template.yaml's catalog rules are stale: run scripts/gen-rules.sh"
    );
    // And they are the catalog function's.
    let t = template();
    let f = t.function("catalog").unwrap();
    let names: BTreeSet<&str> = f.rules.iter().map(|(n, _, _)| n.as_str()).collect();
    for r in &generated {
        assert!(
            names.contains(r.name.as_str()),
            "{} is not a rule of the catalog function",
            r.name
        );
    }
}

#[test]
fn the_template_has_every_function_once() {
    let t = template();
    let mut names: Vec<&str> = t.functions.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    let mut want: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    want.sort();
    assert_eq!(names, want);
}

/// Records every variable a configuration reader asks for.
#[derive(Default)]
struct RecordingEnv {
    asked: RefCell<BTreeSet<String>>,
}

impl Env for RecordingEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.asked.borrow_mut().insert(name.to_string());
        None
    }
}

#[test]
fn every_variable_the_code_reads_is_set_by_the_template() {
    let t = template();
    for f in Function::ALL {
        let env = RecordingEnv::default();
        // The configuration readers are the only place functions read the environment.
        let payload = trailwarden::Payload::Record(Box::default());
        let _ = f.plan(&env, &payload);
        let asked = env.asked.into_inner();
        assert!(!asked.is_empty(), "{}: reads no variable?", f.name());
        let spec = t.function(f.name()).unwrap();
        for var in &asked {
            assert!(
                spec.env.contains_key(var),
                "{}: the code reads {var} but template.yaml does not set it",
                f.name()
            );
        }
        // And the template sets nothing the code ignores.
        for var in spec.env.keys() {
            assert!(
                // LOG_LEVEL is read by the logger, TRAILWARDEN_FUNCTION by the shared binary.
                asked.contains(var)
                    || var == "LOG_LEVEL"
                    || var == trailwarden_cli::template::FUNCTION_VAR,
                "{}: template.yaml sets {var} but the code never reads it",
                f.name()
            );
        }
    }
}

/// The crate's source directories for a function: its own and the shared code it calls.
fn sources(crate_dir: &Path) -> String {
    fn walk(p: &Path, out: &mut String) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                // Test modules call whatever they need to set up moto; only product code counts.
                let product = text.split("#[cfg(test)]").next().unwrap_or("");
                out.push_str(product);
                out.push('\n');
            }
        }
    }
    let mut s = String::new();
    walk(&crate_dir.join("src"), &mut s);
    s
}

/// IAM action for an SDK operation where the two names differ.
fn iam_action(service: &str, op: &str) -> String {
    let p = sdk::pascal_case(op);
    match (service, p.as_str()) {
        ("s3", "ListObjectsV2") | ("s3", "ListObjects") => "s3:ListBucket".into(),
        ("s3", "HeadObject") => "s3:GetObject".into(),
        ("iam", "ListMfaDevices") => "iam:ListMFADevices".into(),
        ("iam", "DeactivateMfaDevice") => "iam:DeactivateMFADevice".into(),
        ("iam", "DeleteVirtualMfaDevice") => "iam:DeleteVirtualMFADevice".into(),
        ("iam", "ListSshPublicKeys") => "iam:ListSSHPublicKeys".into(),
        ("iam", "DeleteSshPublicKey") => "iam:DeleteSSHPublicKey".into(),
        _ => format!("{service}:{p}"),
    }
}

/// Operations called in `code`: `.operation_name()` where the name is one of the SDK's.
fn called_operations(code: &str, ops: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while let Some(pos) = code[i..].find('.') {
        let start = i + pos + 1;
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end] == b'_'
                || bytes[end].is_ascii_digit())
        {
            end += 1;
        }
        if end + 1 < bytes.len() && &code[end..end + 2] == "()" && ops.contains(&code[start..end]) {
            out.insert(code[start..end].to_string());
        }
        i = start;
    }
    out
}

#[test]
fn every_aws_operation_the_code_calls_is_granted() {
    let t = template();
    // Listing a prefix (s3:ListBucket) counts only for the functions that list.
    let listing_file = root().join("shared/src/aws/listing.rs");
    let listing = std::fs::read_to_string(&listing_file).unwrap();
    let listing = listing
        .split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .to_string();
    let shared = sources(&root().join("shared")).replace(&listing, "");
    assert!(
        !called_operations(&listing, &sdk::operations("aws-sdk-s3")).is_empty(),
        "{} lists with ListObjectsV2",
        listing_file.display()
    );
    for f in Function::ALL {
        let dir = root().join("functions").join(f.name());
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let mut own = sources(&dir);
        // The state crate's DynamoDB calls count for every function that uses it.
        let uses_state = manifest.contains("trailwarden-state");
        if uses_state {
            own.push_str(&sources(&root().join("state")));
        }
        let spec = t.function(f.name()).unwrap();
        let mut checked = 0;
        // The shared S3 readers (documents, streamed objects) count for the functions whose
        // code reads through them, directly or through log-integrity's store.
        let reads_through_shared = [
            "read_object",
            "read_document",
            "open_object",
            "DocumentSource",
            "log_integrity",
        ]
        .iter()
        .any(|w| own.contains(w));
        for (krate, service) in [
            ("aws-sdk-iam", "iam"),
            ("aws-sdk-ec2", "ec2"),
            ("aws-sdk-s3", "s3"),
            ("aws-sdk-sns", "sns"),
            ("aws-sdk-cloudtrail", "cloudtrail"),
            ("aws-sdk-dynamodb", "dynamodb"),
        ] {
            // Shared code (alert publishing, S3 reading) counts for every function.
            let uses = manifest.contains(krate)
                || krate == "aws-sdk-sns"
                || (krate == "aws-sdk-dynamodb" && uses_state);
            if !uses {
                continue;
            }
            let ops = sdk::operations(krate);
            let mut code = own.clone();
            if krate != "aws-sdk-s3" || reads_through_shared {
                code.push_str(&shared);
            }
            if krate == "aws-sdk-s3" && own.contains("Listing::") {
                code.push_str(&listing);
            }
            for op in called_operations(&code, &ops) {
                let action = iam_action(service, &op);
                assert!(
                    spec.grants(&action),
                    "{}: the code calls {op} but the role is not granted {action}",
                    f.name()
                );
                checked += 1;
            }
        }
        assert!(
            spec.grants("sns:Publish") && checked >= 1,
            "{}: checked {checked} operations",
            f.name()
        );
    }
}

#[test]
fn unapproved_user_may_attach_only_deny_all() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let i = text
        .find("iam:AttachUserPolicy")
        .expect("AttachUserPolicy granted");
    let stmt = &text[i..i + 400];
    assert!(stmt.contains("iam:PolicyARN"), "{stmt}");
    assert!(stmt.contains("AWSDenyAll"), "{stmt}");
}

#[path = "support/cis.rs"]
mod cis;
#[path = "support/template_json.rs"]
mod template_json;

fn sample(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(root().join("events").join(name)).unwrap()).unwrap()
}

const INSIGHT_EVENTS: [&str; 4] = [
    "insight-api-call-rate-start.json",
    "insight-api-call-rate-end.json",
    "insight-api-error-rate-start.json",
    "insight-api-error-rate-end.json",
];

/// Insights events are the insights function's: it alerts on each, and every other function
/// skips them with a reason (they describe a rate, not an API call).
#[test]
fn insights_events_are_handled_by_insights_and_skipped_by_every_other_function() {
    let env = RecordingEnv::default();
    for name in INSIGHT_EVENTS {
        let p = trailwarden::Payload::from_value(sample(name)).unwrap();
        for f in Function::ALL {
            let o = f.plan(&env, &p).unwrap().outcome;
            if f.name() == "insights" {
                assert_eq!(o.ignored, None, "{name}");
                assert_eq!(o.alerts.len(), 1, "{name}");
            } else {
                let why = o
                    .ignored
                    .unwrap_or_else(|| panic!("{}: {name} not skipped", f.name()));
                assert!(why.contains("Insights"), "{}: {why}", f.name());
            }
        }
    }
}

/// What is recorded outside us-east-1 and must be handled there reaches the us-east-1 bus
/// through forwarder/template.yaml: IAM users' console sign-ins (recorded in the region of
/// the sign-in endpoint), Insights events, regional root API calls and security group
/// changes. Once there, a root sign-in reaches root-activity wherever it was recorded.
#[test]
fn the_forwarder_brings_home_what_other_regions_record() {
    let fwd = template_json::load(&root().join("forwarder/template.yaml"));
    let rules: Vec<(String, trailwarden::pattern::Pattern)> =
        template_json::resources(&fwd, "AWS::Events::Rule")
            .into_iter()
            // The catalog's generated rules send to the catalog's own bus, not home (checked
            // by tests/tests/realtime.rs).
            .filter(|(_, r)| r["Properties"]["Targets"][0]["Arn"]["Ref"] != "CatalogEventBusArn")
            .map(|(id, r)| {
                let p = trailwarden::pattern::Pattern::compile(&r["Properties"]["EventPattern"])
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                (id.to_string(), p)
            })
            .collect();
    let forwarded_by = |ev: &Value| -> Vec<String> {
        rules
            .iter()
            .filter(|(_, p)| p.matches(ev))
            .map(|(id, _)| id.clone())
            .collect()
    };
    let signin = sample("signin-iam-user-other-region.json");
    assert_eq!(signin["region"], "eu-north-1");
    assert_eq!(forwarded_by(&signin), vec!["ForwardConsoleSignIns"]);
    assert_eq!(
        forwarded_by(&sample("insight-api-error-rate-start.json")),
        vec!["ForwardInsights"]
    );
    assert_eq!(
        forwarded_by(&sample("root-api-call-create-bucket.json")),
        vec!["ForwardRootActivity"]
    );
    assert_eq!(
        forwarded_by(&sample("ec2-authorize-ingress-nested-world-ssh.json")),
        vec!["ForwardSecurityGroupChanges"]
    );
    for home_only in [
        "iam-create-user-by-iam-user.json",
        "s3-object-created-log-file.json",
        "root-assume-root-by-management-account.json",
    ] {
        assert!(forwarded_by(&sample(home_only)).is_empty(), "{home_only}");
    }
    // A root sign-in, should one be recorded elsewhere, is forwarded and handled at home.
    let mut root_signin = sample("signin-root-success-no-mfa.json");
    root_signin["region"] = "eu-north-1".into();
    root_signin["detail"]["awsRegion"] = "eu-north-1".into();
    assert_eq!(forwarded_by(&root_signin), vec!["ForwardConsoleSignIns"]);
    let t = template();
    let got: Vec<String> = t
        .route(&root_signin)
        .iter()
        .map(|f| f.name.clone())
        .collect();
    assert!(got.contains(&"root-activity".to_string()), "{got:?}");
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    let r = &t["Resources"][id];
    assert!(r.is_object(), "template.yaml has no resource {id}");
    r
}

/// Every CIS v1.4.0 monitoring control (4.1-4.15; Security Hub CloudWatch.1-14) has a
/// metric filter with the benchmark's exact pattern on the log group the trail delivers to,
/// and an alarm on its metric that publishes to a topic with a subscriber.
#[test]
fn every_cis_monitoring_control_has_its_exact_filter_and_an_alarm() {
    let t = template_json::load(&root().join("template.yaml"));
    // ComplianceMode's resources (the stack has other alarms, on its own health).
    let compliance = |r: &(&str, &Value)| r.1["Condition"] == "Compliance";
    let filters: Vec<(&str, &Value)> = template_json::resources(&t, "AWS::Logs::MetricFilter")
        .into_iter()
        .filter(compliance)
        .collect();
    let alarms: Vec<(&str, &Value)> = template_json::resources(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(compliance)
        .collect();
    assert_eq!(alarms.len(), cis::CONTROLS.len(), "an alarm per filter");
    for c in cis::CONTROLS {
        let what = format!("CIS {} {}", c.cis, c.security_hub.unwrap_or(""));
        let (id, f) = filters
            .iter()
            .find(|(_, f)| f["Properties"]["FilterPattern"] == c.pattern)
            .unwrap_or_else(|| {
                panic!(
                    "{what}: no metric filter with the exact pattern {}",
                    c.pattern
                )
            });
        assert_eq!(f["Condition"], "Compliance", "{id}");
        assert_eq!(
            f["Properties"]["LogGroupName"]["Ref"], "TrailLogGroup",
            "{id}"
        );
        let m = &f["Properties"]["MetricTransformations"][0];
        assert_eq!(m["MetricValue"], "1", "{id}");
        let (aid, a) = alarms
            .iter()
            .find(|(_, a)| {
                a["Properties"]["MetricName"] == m["MetricName"]
                    && a["Properties"]["Namespace"] == m["MetricNamespace"]
            })
            .unwrap_or_else(|| panic!("{what}: no alarm on the metric of {id}"));
        let p = &a["Properties"];
        assert_eq!(a["Condition"], "Compliance", "{aid}");
        assert_eq!(p["Threshold"], 1, "{aid}");
        assert_eq!(
            p["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{aid}"
        );
        assert_eq!(p["AlarmActions"][0]["Ref"], "ComplianceAlarmTopic", "{aid}");
        let description = p["AlarmDescription"].as_str().unwrap();
        assert!(
            description.contains(&format!("v1.4.0 {}", c.cis)),
            "{aid}: {description}"
        );
        if let Some(sh) = c.security_hub {
            assert!(description.contains(sh), "{aid}: {description}");
        }
    }
    assert_eq!(
        filters.len(),
        cis::CONTROLS.len(),
        "a filter no control asks for"
    );
    let controls: BTreeSet<&str> = cis::CONTROLS.iter().map(|c| c.cis).collect();
    let want: BTreeSet<String> = (1..=15).map(|n| format!("4.{n}")).collect();
    assert_eq!(controls, want.iter().map(String::as_str).collect());
    let sh: BTreeSet<&str> = cis::CONTROLS
        .iter()
        .filter_map(|c| c.security_hub)
        .collect();
    let want_sh: BTreeSet<String> = (1..=14).map(|n| format!("CloudWatch.{n}")).collect();
    assert_eq!(sh, want_sh.iter().map(String::as_str).collect());

    // The trail delivers to the group, encrypted with the stack's key.
    let trail = &resource(&t, "Trail")["Properties"];
    assert_eq!(
        trail["CloudWatchLogsLogGroupArn"]["Fn::If"][1]["Fn::GetAtt"],
        serde_json::json!(["TrailLogGroup", "Arn"])
    );
    assert_eq!(
        trail["CloudWatchLogsLogGroupArn"]["Fn::If"][0],
        "Compliance"
    );
    assert_eq!(
        resource(&t, "TrailLogGroup")["Properties"]["KmsKeyId"]["Fn::GetAtt"],
        serde_json::json!(["TrailKey", "Arn"])
    );
    // The alarm topic has a subscriber, and its key lets CloudWatch publish (the alert
    // topic's AWS managed key cannot).
    let sub = resource(&t, "ComplianceAlarmEmail");
    assert_eq!(sub["Properties"]["TopicArn"]["Ref"], "ComplianceAlarmTopic");
    assert_eq!(
        resource(&t, "ComplianceAlarmTopic")["Properties"]["KmsMasterKeyId"]["Ref"],
        "TrailKey"
    );
    let key_policy = resource(&t, "TrailKey")["Properties"]["KeyPolicy"].to_string();
    assert!(
        key_policy.contains("cloudwatch.amazonaws.com"),
        "{key_policy}"
    );
    assert!(
        key_policy.contains("kms:EncryptionContext:aws:logs:arn"),
        "{key_policy}"
    );
}

/// The trail and its bucket as the seeds advise, when the stack creates them.
#[test]
fn the_trail_and_its_bucket_are_hardened() {
    let t = template_json::load(&root().join("template.yaml"));
    let trail = &resource(&t, "Trail")["Properties"];
    assert_eq!(
        trail["KMSKeyId"]["Fn::GetAtt"],
        serde_json::json!(["TrailKey", "Arn"])
    );
    assert_eq!(trail["EnableLogFileValidation"], true);
    assert_eq!(trail["IsMultiRegionTrail"], true);
    // Insights from the InsightTypes parameter.
    assert!(trail["InsightSelectors"]
        .to_string()
        .contains("InsightTypes"));
    // The key policy lets only this stack's trail encrypt, for CloudTrail's context.
    let statements = resource(&t, "TrailKey")["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let cloudtrail = statements
        .iter()
        .find(|s| {
            s["Principal"]["Service"] == "cloudtrail.amazonaws.com"
                && s["Action"] == "kms:GenerateDataKey*"
        })
        .expect("CloudTrail may generate data keys");
    assert!(cloudtrail["Condition"]["StringEquals"]["aws:SourceArn"].is_object());
    assert!(
        cloudtrail["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]
            .is_object()
    );
    // trailwarden's readers may decrypt.
    let cli = template();
    for reader in ["log-delivery", "log-integrity", "insights"] {
        assert!(
            cli.function(reader).unwrap().grants("kms:Decrypt"),
            "{reader}"
        );
    }
    assert!(!cli.function("root-activity").unwrap().grants("kms:Decrypt"));
    // Nobody deletes log objects.
    let policy = &resource(&t, "TrailBucketPolicy")["Properties"]["PolicyDocument"]["Statement"];
    let deny = policy
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Effect"] == "Deny" && s["Action"].to_string().contains("s3:DeleteObject"))
        .expect("an explicit deny on deleting log objects");
    assert_eq!(deny["Principal"], "*");
    assert!(deny["Action"]
        .to_string()
        .contains("s3:DeleteObjectVersion"));
    assert!(deny["Resource"].to_string().contains("/AWSLogs/*"));
    // Server access logs go to another bucket.
    let bucket = &resource(&t, "TrailBucket")["Properties"];
    assert_eq!(
        bucket["LoggingConfiguration"]["DestinationBucketName"]["Ref"],
        "AccessLogsBucket"
    );
    assert!(resource(&t, "AccessLogsBucketPolicy")["Properties"]
        .to_string()
        .contains("logging.s3.amazonaws.com"));
    // Object Lock is optional, governance mode, off by default.
    assert_eq!(
        bucket["ObjectLockConfiguration"]["Fn::If"][0],
        "HasObjectLock"
    );
    assert_eq!(
        bucket["ObjectLockConfiguration"]["Fn::If"][1]["Rule"]["DefaultRetention"]["Mode"],
        "GOVERNANCE"
    );
    assert_eq!(t["Parameters"]["ObjectLockRetentionDays"]["Default"], 0);
    // Nothing purges old versions unless asked.
    assert_eq!(
        bucket["LifecycleConfiguration"]["Fn::If"][0],
        "ExpireNoncurrentVersions"
    );
    assert_eq!(
        t["Parameters"]["NoncurrentVersionExpirationDays"]["Default"],
        0
    );
    // What costs money says how much.
    for p in [
        "InsightTypes",
        "DataEvents",
        "NetworkActivityEvents",
        "ComplianceMode",
    ] {
        let d = t["Parameters"][p]["Description"].as_str().unwrap();
        assert!(d.contains('$'), "{p}: the description gives no cost");
    }
    // Data events in the trail bucket: its deletions, never CloudTrail's own deliveries.
    let selectors = trail["AdvancedEventSelectors"].to_string();
    let in_bucket = trail["AdvancedEventSelectors"]["Fn::If"][1]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["Fn::If"][1].as_object())
        .find(|s| {
            serde_json::Value::Object((*s).clone())
                .to_string()
                .contains("\"StartsWith\"")
        })
        .expect("a selector for the trail bucket");
    let in_bucket = serde_json::Value::Object(in_bucket.clone()).to_string();
    assert!(
        in_bucket.contains("DeleteObject") && !in_bucket.contains("PutObject\""),
        "{in_bucket}"
    );
    assert!(selectors.contains("VpceAccessDenied"));
}

/// The item writes the state table's resource policy refuses to everyone but the functions
/// that keep state (TransactWriteItems is authorised as PutItem, UpdateItem and DeleteItem;
/// PartiQL's statements as these three).
const STATE_WRITES: [&str; 7] = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
];

/// The state table's own configuration calls: never denied, so that CloudFormation and an
/// administrator can always manage the table and its policy.
const STATE_TABLE_CONTROL: [&str; 6] = [
    "dynamodb:DescribeTable",
    "dynamodb:UpdateTable",
    "dynamodb:DeleteTable",
    "dynamodb:GetResourcePolicy",
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
];

/// An incident claimed in the state table is not alerted again, and the claim's key is worked
/// out from the event: whoever may write items there can silence the alert of an attack
/// before carrying it out. The table's resource policy refuses item writes to every principal
/// but the roles of the functions whose environment names the table (derived from the
/// template here), and to every role with a path; it denies nothing else.
#[test]
fn the_state_table_refuses_writes_but_from_the_functions_that_keep_state() {
    let t = template_json::load(&root().join("template.yaml"));
    let stack = "tw";
    let account = "arn:aws:iam::123456789012";
    let functions = template_json::resources(&t, "AWS::Serverless::Function");
    let global_state = t["Globals"]["Function"]["Environment"]["Variables"]
        .get("STATE_TABLE")
        .is_some();
    let keepers: BTreeSet<String> = functions
        .iter()
        .filter(|(_, f)| {
            global_state
                || f["Properties"]["Environment"]["Variables"]
                    .get("STATE_TABLE")
                    .is_some()
        })
        .map(|(id, _)| id.to_string())
        .collect();
    assert!(
        keepers.contains("CatalogFunction") && keepers.contains("LogDeliveryFunction"),
        "both paths keep state: {keepers:?}"
    );
    // Whoever the template lets write the table keeps state (and so is listed).
    for (id, f) in &functions {
        let policies = f["Properties"]["Policies"].to_string();
        let writes = STATE_WRITES.iter().any(|a| policies.contains(a));
        if writes && policies.contains("\"StateTable\"") {
            assert!(keepers.contains(*id), "{id} may write the state table");
        }
    }

    let policy = &resource(&t, "StateTable")["Properties"]["ResourcePolicy"]["PolicyDocument"];
    let statements = policy["Statement"]
        .as_array()
        .unwrap_or_else(|| panic!("StateTable has no resource policy: {policy}"));
    let list = |v: &Value| -> Vec<Value> {
        match v {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        }
    };
    let actions = |s: &Value| -> BTreeSet<String> {
        list(&s["Action"])
            .iter()
            .map(|a| a.as_str().expect("an action name").to_string())
            .collect()
    };
    for s in statements {
        assert_eq!(s["Effect"], "Deny", "the policy only denies: {s}");
        assert!(
            s["Principal"] == "*" || s["Principal"]["AWS"] == "*",
            "denied to every principal: {s}"
        );
        for a in actions(s) {
            assert!(!a.contains('*'), "{a}: a wildcard may deny control calls");
            assert!(!STATE_TABLE_CONTROL.contains(&a.as_str()), "{a} is denied");
        }
        for a in STATE_WRITES {
            assert!(actions(s).contains(a), "{a} not denied by {}", s["Sid"]);
        }
    }

    // The condition an ARN pattern list stands for, with the stack's names filled in.
    let arns = |v: &Value| -> Vec<String> {
        list(v)
            .iter()
            .map(|x| template_json::sub(x, stack))
            .collect()
    };
    // The exemption names exactly the state keepers' roles, as SAM names them.
    let exempt = statements
        .iter()
        .find(|s| s["Condition"].get("ArnNotLike").is_some())
        .expect("a deny to all but the state keepers' roles");
    let got: BTreeSet<String> = arns(&exempt["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
        .into_iter()
        .collect();
    let want: BTreeSet<String> = keepers
        .iter()
        .map(|k| format!("{account}:role/{stack}-{k}Role-*"))
        .collect();
    assert_eq!(got, want, "the roles that may write the state table");

    // Evaluated as IAM does (ArnLike: any pattern matches; ArnNotLike: none does).
    let denied = |principal: &str, action: &str| {
        statements.iter().any(|s| {
            actions(s).contains(action)
                && s["Condition"]
                    .as_object()
                    .expect("every deny is conditional")
                    .iter()
                    .all(|(op, keys)| {
                        let keys = keys.as_object().unwrap();
                        assert_eq!(keys.len(), 1, "{keys:?}");
                        let patterns = arns(&keys["aws:PrincipalArn"]);
                        let any = patterns
                            .iter()
                            .any(|p| trailwarden::glob::glob_match(p, principal));
                        match op.as_str() {
                            "ArnLike" => any,
                            "ArnNotLike" => !any,
                            other => panic!("unexpected condition {other}"),
                        }
                    })
        })
    };
    for k in &keepers {
        let role = format!("{account}:role/{stack}-{k}Role-1A2B3C4D5E6F");
        for a in STATE_WRITES {
            assert!(!denied(&role, a), "{k} may not {a}");
        }
    }
    let mut others: Vec<String> = functions
        .iter()
        .filter(|(id, _)| !keepers.contains(*id))
        .map(|(id, _)| format!("{account}:role/{stack}-{id}Role-1A2B3C4D5E6F"))
        .collect();
    assert!(!others.is_empty(), "tamper, the watchdog... keep no state");
    others.extend([
        format!("{account}:role/developer"),
        format!("{account}:user/dev"),
        format!("{account}:root"),
        // Another stack's catalog.
        format!("{account}:role/other-CatalogFunctionRole-1A2B3C4D5E6F"),
        // A role with a path that looks like a state keeper's name.
        format!("{account}:role/{stack}-CatalogFunctionRole-x/helper"),
        format!("{account}:role/service/{stack}-CatalogFunctionRole-1A2B3C4D5E6F"),
    ]);
    for p in &others {
        for a in STATE_WRITES {
            assert!(denied(p, a), "{p} may {a}");
        }
        for a in STATE_TABLE_CONTROL {
            assert!(!denied(p, a), "{p} is locked out of {a}");
        }
    }
}

/// Self-monitoring: every function has an Errors and a Throttles alarm, the failed-events
/// queue and the log-delivery heartbeat have theirs, and every one of them publishes to the
/// alert topic, which CloudWatch may publish to (its policy, and a key CloudWatch may use:
/// not the AWS managed alias/aws/sns).
#[test]
fn every_alarm_exists_and_targets_the_alert_topic() {
    let t = template_json::load(&root().join("template.yaml"));
    let alarms = template_json::resources(&t, "AWS::CloudWatch::Alarm");
    let to_alert_topic = |a: &Value| {
        a["Properties"]["AlarmActions"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["Ref"] == "AlertTopic"))
    };
    let find = |metric: &str, dimension: &str, target: &str| {
        alarms
            .iter()
            .find(|(_, a)| {
                let p = &a["Properties"];
                p["MetricName"] == metric
                    && p["Dimensions"].as_array().is_some_and(|d| {
                        d.iter().any(|d| {
                            d["Name"] == dimension
                                && (d["Value"]["Ref"] == target
                                    || d["Value"]["Fn::GetAtt"][0] == target)
                        })
                    })
            })
            .map(|(id, a)| (*id, *a))
    };
    let functions = template_json::resources(&t, "AWS::Serverless::Function");
    assert!(functions.len() >= 9, "{}", functions.len());
    for (id, _) in &functions {
        for metric in ["Errors", "Throttles"] {
            let (aid, a) = find(metric, "FunctionName", id)
                .unwrap_or_else(|| panic!("{id}: no {metric} alarm"));
            let p = &a["Properties"];
            assert_eq!(p["Namespace"], "AWS/Lambda", "{aid}");
            assert_eq!(p["Threshold"], 0, "{aid}");
            assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold", "{aid}");
            assert!(to_alert_topic(a), "{aid}: not to the alert topic");
        }
    }
    let (qid, q) = find(
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        "FailedEventsQueue",
    )
    .expect("an alarm on the failed-events queue");
    assert_eq!(q["Properties"]["Namespace"], "AWS/SQS", "{qid}");
    assert_eq!(
        q["Properties"]["ComparisonOperator"], "GreaterThanThreshold",
        "{qid}"
    );
    assert_eq!(q["Properties"]["Threshold"], 0, "{qid}");
    assert!(to_alert_topic(q), "{qid}");
    let (hid, h) = find("Invocations", "FunctionName", "LogDeliveryFunction")
        .expect("a log-delivery heartbeat alarm");
    let p = &h["Properties"];
    assert_eq!(
        p["TreatMissingData"], "breaching",
        "{hid}: no invocation means no data"
    );
    assert_eq!(
        p["ComparisonOperator"], "LessThanOrEqualToThreshold",
        "{hid}"
    );
    assert_eq!(p["Threshold"], 0, "{hid}");
    let minutes = p["Period"].as_i64().unwrap() * p["EvaluationPeriods"].as_i64().unwrap() / 60;
    assert_eq!(minutes, 30, "{hid}");
    assert_eq!(p["DatapointsToAlarm"], p["EvaluationPeriods"], "{hid}");
    assert!(to_alert_topic(h), "{hid}");

    // Every alarm that is not a compliance alarm publishes to the alert topic, under a name
    // the topic policy lets publish.
    let policy = resource(&t, "AlertTopicPolicy")["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let cw = policy
        .iter()
        .find(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com")
        .expect("the topic policy lets CloudWatch publish");
    assert_eq!(cw["Effect"], "Allow");
    assert_eq!(cw["Action"], "sns:Publish");
    let allowed = template_json::sub(&cw["Condition"]["ArnLike"]["aws:SourceArn"], "trailwarden");
    let prefix = allowed
        .trim_end_matches('*')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    for (id, a) in &alarms {
        if a["Condition"] == "Compliance" {
            continue;
        }
        assert!(to_alert_topic(a), "{id}: not to the alert topic");
        let name = template_json::sub(&a["Properties"]["AlarmName"], "trailwarden");
        assert!(
            name.starts_with(&prefix),
            "{id}: {name} is not covered by {allowed}"
        );
    }
    let topic = &resource(&t, "AlertTopic")["Properties"];
    assert_eq!(topic["KmsMasterKeyId"]["Ref"], "AlertTopicKey");
    let key = resource(&t, "AlertTopicKey")["Properties"]["KeyPolicy"].to_string();
    assert!(key.contains("cloudwatch.amazonaws.com"), "{key}");
    assert!(key.contains("kms:GenerateDataKey*"), "{key}");
}

/// Every `self` detection's examples reach tamper through the template's rules (values the
/// template fills in once deployed match anything here, so this checks the services and API
/// names each rule lets through), and what SELF_RESOURCES names covers every kind.
#[test]
fn tamper_receives_what_its_self_detections_match() {
    let t = template();
    let spec = t.function("tamper").unwrap();
    let cfg = tamper_config();
    assert!(cfg.catalog.len() >= 12);
    for d in cfg.catalog.detections() {
        for ex in &d.examples.matching {
            let service = ex["eventSource"]
                .as_str()
                .unwrap()
                .trim_end_matches(".amazonaws.com");
            let event = serde_json::json!({
                "source": format!("aws.{service}"),
                "detail-type": "AWS API Call via CloudTrail",
                "detail": ex,
            });
            assert!(
                spec.receives(&event),
                "{}: {} does not reach tamper",
                d.id,
                ex["eventName"]
            );
        }
    }
    let resources = &spec.env["SELF_RESOURCES"];
    let raw = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    for kind in tamper::config::KINDS.iter().map(|(k, _)| *k) {
        assert!(
            raw.contains(&format!("\"{kind}=")),
            "SELF_RESOURCES names no {kind} ({resources})"
        );
    }
    // RestartLogging grants StartLogging only conditionally, and only on trails.
    let tj = template_json::load(&root().join("template.yaml"));
    let policies = resource(&tj, "TamperFunction")["Properties"]["Policies"].to_string();
    assert!(!policies.contains("\"cloudtrail:StartLogging\",\"Resource\":\"*\""));
    let restart = resource(&tj, "TamperFunction")["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.to_string().contains("cloudtrail:StartLogging"))
        .map(|p| {
            p["Fn::If"][0]
                .as_str()
                .unwrap_or("unconditional")
                .to_string()
        })
        .collect::<Vec<_>>();
    assert_eq!(restart, ["RestartOwnTrail", "RestartWatchedTrails"]);
}

/// The watchdog runs on the schedule its decisions assume (a condition is new when it began
/// since the previous check).
#[test]
fn the_watchdog_runs_every_check_interval() {
    let t = template();
    let spec = t.function("watchdog").unwrap();
    assert_eq!(
        spec.schedules,
        [(
            "Check".to_string(),
            format!("rate({} minutes)", watchdog::config::CHECK_INTERVAL_MINUTES)
        )]
    );
    let tick = sample("scheduled-event-watchdog.json");
    let got: Vec<String> = t.route(&tick).iter().map(|f| f.name.clone()).collect();
    assert_eq!(got, ["watchdog"]);
}
