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

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Template {
    Template::load(&root().join("template.yaml")).expect("template.yaml loads")
}

/// Which function each sample event is meant for (`None`: no function should receive it).
/// Every file in events/ must be listed, so a new fixture has to be classified.
fn expected_routes() -> BTreeMap<&'static str, Option<&'static str>> {
    let uu = Some("unapproved-user");
    let ra = Some("root-activity");
    let sg = Some("security-group");
    let ld = Some("log-delivery");
    let li = Some("log-integrity");
    BTreeMap::from([
        ("iam-create-user-by-iam-user.json", uu),
        ("iam-create-user-by-assumed-role.json", uu),
        ("iam-create-user-access-denied.json", uu),
        ("iam-create-user-by-approved-creator.json", uu),
        ("iam-create-access-key-for-other-user.json", uu),
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
        ("s3-object-created-log-file.json", ld),
        ("s3-notification-log-file.json", ld),
        ("s3-object-created-digest-file.json", li),
        ("s3-notification-digest-file.json", li),
        ("s3-object-created-digest-chain-restart.json", li),
        ("s3-object-created-digest-org-trail.json", li),
        ("s3-object-created-unrelated.json", None),
        ("insight-api-call-rate-start.json", None),
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
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "events/{name}");
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} sample events");
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

/// The operation names of an SDK crate, from its generated `src/operation/` modules.
fn sdk_operations(krate: &str) -> BTreeSet<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|b| b.contains(&format!("name = \"{krate}\"\n")))
        .and_then(|b| b.lines().find(|l| l.starts_with("version = ")))
        .map(|l| {
            l.trim_start_matches("version = ")
                .trim_matches('"')
                .to_string()
        })
        .unwrap_or_else(|| panic!("{krate} not in Cargo.lock"));
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let src = cargo_home.join("registry/src");
    for reg in std::fs::read_dir(&src).unwrap().flatten() {
        let dir = reg.path().join(format!("{krate}-{version}/src/operation"));
        if dir.is_dir() {
            return std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
        }
    }
    panic!(
        "sources of {krate} {version} not found under {}",
        src.display()
    );
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// IAM action for an SDK operation where the two names differ.
fn iam_action(service: &str, op: &str) -> String {
    let p = pascal(op);
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
    let shared = sources(&root().join("shared"));
    for f in Function::ALL {
        let dir = root().join("functions").join(f.name());
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let own = sources(&dir);
        let spec = t.function(f.name()).unwrap();
        let mut checked = 0;
        for (krate, service) in [
            ("aws-sdk-iam", "iam"),
            ("aws-sdk-ec2", "ec2"),
            ("aws-sdk-s3", "s3"),
            ("aws-sdk-sns", "sns"),
            ("aws-sdk-cloudtrail", "cloudtrail"),
        ] {
            // Shared code (alert publishing, S3 reading) counts for every function.
            let uses = manifest.contains(krate) || krate == "aws-sdk-sns";
            if !uses {
                continue;
            }
            let ops = sdk_operations(krate);
            let mut code = own.clone();
            code.push_str(&shared);
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
