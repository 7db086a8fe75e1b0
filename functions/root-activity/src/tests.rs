//! Unit tests over the sample events in `events/`: each severity rule, each "not a person"
//! exclusion, known networks, configuration, and the handler paths that need no AWS.

use super::*;
use serde_json::{json, Value};
use trailwarden::alert::Alert;
use trailwarden::Severity;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn payload(v: Value) -> Payload {
    Payload::from_value(v).expect("fixture parses")
}

fn config(vars: &[(&str, &str)]) -> Config {
    let env: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_env(&env).expect("valid configuration")
}

fn alert_for(cfg: &Config, v: Value) -> Alert {
    let o = plan(cfg, &payload(v));
    assert_eq!(o.ignored, None, "unexpectedly ignored");
    assert_eq!(o.alerts.len(), 1);
    o.alerts.into_iter().next().unwrap()
}

fn ignored_for(cfg: &Config, v: Value) -> String {
    let o = plan(cfg, &payload(v));
    assert!(o.alerts.is_empty(), "unexpected alert: {:?}", o.alerts);
    o.ignored.expect("a reason")
}

fn fact<'a>(a: &'a Alert, label: &str) -> Option<&'a str> {
    a.facts
        .iter()
        .find(|(k, _)| k == label)
        .map(|(_, v)| v.as_str())
}

/// The root CreateAccessKey fixture turned into another root IAM call.
fn root_iam_call(name: &str, request: Value) -> Value {
    let mut v = fixture("root-create-access-key.json");
    v["detail"]["eventName"] = json!(name);
    v["detail"]["requestParameters"] = request;
    v["detail"]["responseElements"] = Value::Null;
    v
}

// --- severity rules -------------------------------------------------------------------------

#[test]
fn root_sign_in_without_mfa_is_critical_and_needs_no_request_id() {
    let v = fixture("signin-root-success-no-mfa.json");
    assert!(
        v["detail"].get("requestID").is_none(),
        "ConsoleLogin has no requestID"
    );
    let a = alert_for(&config(&[]), v);
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.detection, "root-console-sign-in");
    assert_eq!(
        a.subject(),
        "[CRITICAL] Root user signed in to the console without MFA (123456789012)"
    );
    assert_eq!(fact(&a, "Sign-in"), Some("Success"));
    assert_eq!(fact(&a, "MFA used"), Some("No"));
    assert_eq!(fact(&a, "Mobile console"), Some("No"));
    assert!(fact(&a, "Signed in to")
        .unwrap()
        .starts_with("https://console.aws.amazon.com/console/home"));
    assert_eq!(a.account.as_deref(), Some("123456789012"));
    assert_eq!(a.region.as_deref(), Some("us-east-1"));
    let e = a.event.as_ref().unwrap();
    assert_eq!(e.event_name.as_deref(), Some("ConsoleLogin"));
    assert_eq!(e.source_ip.as_deref(), Some("203.0.113.45"));
    assert!(e.user_agent.as_deref().unwrap().contains("Chrome/127"));
    assert_eq!(e.event_time.as_deref(), Some("2024-08-01T13:30:12Z"));
    assert_eq!(
        e.event_id.as_deref(),
        Some("0d5c8f7e-2a41-4b9e-8c3d-6e1f2a7b9c10")
    );
    assert_eq!(
        e.console_url.as_deref(),
        Some("https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/0d5c8f7e-2a41-4b9e-8c3d-6e1f2a7b9c10")
    );
    assert!(a.summary.contains("without MFA"), "{}", a.summary);
    assert!(a.summary.contains("203.0.113.45"));
    assert!(a.references.iter().any(|r| r.contains("4.3")));
    let text = a.text();
    for needle in [
        "Account:     123456789012",
        "Region:      us-east-1",
        "Sign-in: Success",
        "MFA used: No",
        "Source IP    203.0.113.45",
        "Event ID     0d5c8f7e-2a41-4b9e-8c3d-6e1f2a7b9c10",
        "When         2024-08-01T13:30:12Z",
        "Console      https://us-east-1.console.aws.amazon.com/cloudtrailv2/",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn root_sign_in_with_mfa_is_high() {
    let a = alert_for(&config(&[]), fixture("signin-root-success-mfa.json"));
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.detection, "root-console-sign-in");
    assert_eq!(fact(&a, "MFA used"), Some("Yes"));
    assert_eq!(
        fact(&a, "MFA device"),
        Some("arn:aws:iam::123456789012:mfa/root-account-mfa-device")
    );
    assert!(a.title.contains("with MFA"));
}

#[test]
fn failed_root_sign_in_is_medium_and_says_why() {
    let v = fixture("signin-root-failure.json");
    assert!(v["detail"].get("requestID").is_none());
    let a = alert_for(&config(&[]), v);
    assert_eq!(a.severity, Severity::Medium);
    assert_eq!(a.detection, "root-console-sign-in-failure");
    assert_eq!(fact(&a, "Sign-in"), Some("Failure (Failed authentication)"));
    assert_eq!(
        a.subject(),
        "[MEDIUM] Failed root user console sign-in (123456789012)"
    );
    assert!(a.summary.contains("guessing"), "{}", a.summary);
    assert!(a.references.iter().any(|r| r.contains("T1110")));
}

#[test]
fn sign_in_with_nothing_recorded_assumes_the_worse() {
    let mut v = fixture("signin-root-success-no-mfa.json");
    v["detail"]["responseElements"] = Value::Null;
    v["detail"]["additionalEventData"] = Value::Null;
    let a = alert_for(&config(&[]), v);
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(fact(&a, "MFA used"), Some("not recorded"));
    assert!(fact(&a, "Sign-in").unwrap().contains("not recorded"));
    assert!(a.title.contains("MFA not recorded"));
}

#[test]
fn root_api_call_is_high_in_its_own_region() {
    let a = alert_for(&config(&[]), fixture("root-api-call-create-bucket.json"));
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.detection, "root-api-call");
    assert_eq!(a.title, "Root user API call: CreateBucket (s3)");
    assert_eq!(a.region.as_deref(), Some("eu-west-1"));
    assert_eq!(fact(&a, "Outcome"), Some("Succeeded"));
    assert_eq!(
        fact(&a, "MFA used"),
        Some("Yes (MFA-authenticated session)")
    );
    assert!(fact(&a, "Credentials")
        .unwrap()
        .starts_with("ASIAEXAMPLEROOTSESN4 (temporary: console session"));
    assert_eq!(
        a.evidence.as_ref().unwrap()["requestParameters"]["bucketName"],
        "acme-root-scratch-2024"
    );
    assert!(a
        .event
        .as_ref()
        .unwrap()
        .console_url
        .as_deref()
        .unwrap()
        .starts_with("https://eu-west-1.console.aws.amazon.com/"));
}

#[test]
fn failed_root_api_call_is_still_high_and_says_it_failed() {
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]["errorCode"] = json!("AccessDenied");
    v["detail"]["errorMessage"] = json!("Access Denied");
    let a = alert_for(&config(&[]), v);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(
        fact(&a, "Outcome"),
        Some("Failed: AccessDenied (Access Denied)")
    );
    assert!(a.title.ends_with(", failed"));
    assert!(a.summary.contains("changed nothing"));
}

#[test]
fn root_create_access_key_is_critical() {
    let a = alert_for(&config(&[]), fixture("root-create-access-key.json"));
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.detection, "root-credential-change");
    assert_eq!(a.title, "Root user credential change: CreateAccessKey");
    assert_eq!(fact(&a, "New access key"), Some("AKIAEXAMPLEROOTKEY01"));
    assert_eq!(
        fact(&a, "MFA used"),
        Some("No (session not MFA-authenticated)")
    );
    assert!(a.summary.contains("creates a long-term access key"));
    assert!(a.references.iter().any(|r| r.contains("T1098.001")));
}

#[test]
fn every_credential_action_is_critical() {
    let cases = [
        (
            "UpdateAccessKey",
            json!({"accessKeyId": "AKIAEXAMPLEROOTKEY01", "status": "Active"}),
        ),
        (
            "UpdateAccessKey",
            json!({"accessKeyId": "AKIAEXAMPLEROOTKEY01"}),
        ),
        (
            "UploadSigningCertificate",
            json!({"certificateBody": "-----BEGIN CERTIFICATE-----"}),
        ),
        (
            "UpdateSigningCertificate",
            json!({"certificateId": "ABCD", "status": "Active"}),
        ),
        (
            "CreateLoginProfile",
            json!({"userName": "breakglass", "password": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
        ),
        (
            "UpdateLoginProfile",
            json!({"userName": "alice", "password": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
        ),
        (
            "ChangePassword",
            json!({"oldPassword": "HIDDEN_DUE_TO_SECURITY_REASONS", "newPassword": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
        ),
        (
            "DeactivateMFADevice",
            json!({"serialNumber": "arn:aws:iam::123456789012:mfa/root-account-mfa-device"}),
        ),
        (
            "DeleteVirtualMFADevice",
            json!({"serialNumber": "arn:aws:iam::123456789012:mfa/root-account-mfa-device"}),
        ),
        (
            "GetFederationToken",
            json!({"name": "x", "durationSeconds": 129600}),
        ),
        ("GetSessionToken", Value::Null),
    ];
    for (name, req) in cases {
        let a = alert_for(&config(&[]), root_iam_call(name, req.clone()));
        assert_eq!(a.severity, Severity::Critical, "{name} {req}");
        assert_eq!(a.detection, "root-credential-change", "{name}");
    }
    let a = alert_for(
        &config(&[]),
        root_iam_call("UpdateLoginProfile", json!({"userName": "alice"})),
    );
    assert_eq!(fact(&a, "For IAM user"), Some("alice"));
    let mut v = fixture("signin-root-success-no-mfa.json");
    v["detail"]["eventName"] = json!("PasswordRecoveryCompleted");
    v["detail"]["responseElements"] = json!({"PasswordRecoveryCompleted": "Success"});
    let a = alert_for(&config(&[]), v);
    assert_eq!(a.severity, Severity::Critical);
    assert!(a.summary.contains("password recovery"));
}

#[test]
fn deactivating_a_key_or_adding_mfa_is_an_ordinary_root_call() {
    for (name, req) in [
        (
            "UpdateAccessKey",
            json!({"accessKeyId": "AKIAEXAMPLEROOTKEY01", "status": "Inactive"}),
        ),
        (
            "EnableMFADevice",
            json!({"serialNumber": "arn:aws:iam::123456789012:mfa/root"}),
        ),
        (
            "DeleteAccessKey",
            json!({"accessKeyId": "AKIAEXAMPLEROOTKEY01"}),
        ),
    ] {
        let a = alert_for(&config(&[]), root_iam_call(name, req));
        assert_eq!(a.severity, Severity::High, "{name}");
        assert_eq!(a.detection, "root-api-call", "{name}");
    }
}

#[test]
fn failed_credential_action_stays_critical_and_says_it_failed() {
    let mut v = fixture("root-create-access-key.json");
    v["detail"]["errorCode"] = json!("LimitExceeded");
    v["detail"]["errorMessage"] = json!("Cannot exceed quota for AccessKeysPerUser: 2");
    v["detail"]["responseElements"] = Value::Null;
    let a = alert_for(&config(&[]), v);
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(
        a.title,
        "Root user credential change: CreateAccessKey (failed)"
    );
    assert!(fact(&a, "Outcome")
        .unwrap()
        .starts_with("Failed: LimitExceeded"));
    assert_eq!(fact(&a, "New access key"), None);
}

#[test]
fn other_sign_in_events_failed_are_medium_otherwise_high() {
    let mut v = fixture("signin-root-failure.json");
    v["detail"]["eventName"] = json!("PasswordRecoveryRequested");
    v["detail"]["responseElements"] = json!({"PasswordRecoveryRequested": "Failure"});
    let a = alert_for(&config(&[]), v);
    assert_eq!(a.severity, Severity::Medium);
    assert_eq!(a.detection, "root-sign-in-failure");
    let mut v = fixture("signin-root-success-mfa.json");
    v["detail"]["eventName"] = json!("PasswordRecoveryRequested");
    v["detail"]["responseElements"] = json!({"PasswordRecoveryRequested": "Success"});
    let a = alert_for(&config(&[]), v);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.detection, "root-sign-in-event");
}

#[test]
fn long_term_root_keys_are_called_out() {
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]["userIdentity"]["accessKeyId"] = json!("AKIAEXAMPLEROOTKEY01");
    v["detail"]["userIdentity"]
        .as_object_mut()
        .unwrap()
        .remove("sessionContext");
    let a = alert_for(&config(&[]), v);
    assert_eq!(fact(&a, "MFA used"), Some("No (long-term access key)"));
    assert!(fact(&a, "Credentials").unwrap().contains("CIS 1.4"));
}

#[test]
fn evidence_never_carries_secrets() {
    let mut v = fixture("root-create-access-key.json");
    v["detail"]["responseElements"]["accessKey"]["secretAccessKey"] =
        json!("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    v["detail"]["eventName"] = json!("GetSessionToken");
    v["detail"]["responseElements"]["credentials"] = json!({"accessKeyId": "ASIAEXAMPLE", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "expiration": "Aug 2, 2024 1:33:28 AM"});
    let a = alert_for(&config(&[]), v);
    let rendered = a.render();
    assert!(!rendered.message.contains("wJalrXUtnFEMI"));
    assert!(!rendered.message.contains("IQoJb3JpZ2luX2VjEXAMPLE"));
    assert!(rendered.message.contains("[redacted]"));
    assert!(rendered.message.contains("ASIAEXAMPLE"));
}

// --- exclusions -----------------------------------------------------------------------------

#[test]
fn root_invoked_by_a_service_is_not_a_person() {
    let r = ignored_for(&config(&[]), fixture("root-invoked-by-service.json"));
    assert!(r.contains("invokedBy"), "{r}");
    assert!(r.contains("cloudformation.amazonaws.com"), "{r}");
    assert!(r.contains("CIS 4.3"), "{r}");
}

#[test]
fn service_events_are_not_a_person() {
    let r = ignored_for(&config(&[]), fixture("service-event-no-identity-type.json"));
    assert!(r.contains("AwsServiceEvent"), "{r}");
    // Also when the record claims Root and arrives as an API call.
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]["eventType"] = json!("AwsServiceEvent");
    let r = ignored_for(&config(&[]), v);
    assert!(r.contains("AwsServiceEvent"), "{r}");
}

#[test]
fn non_root_sign_ins_are_ignored_with_the_principal_named() {
    for (file, kind) in [
        ("signin-iam-user-no-mfa.json", "IAMUser"),
        ("signin-identity-center.json", "IdentityCenterRole"),
        ("signin-saml-federated.json", "AssumedRole"),
    ] {
        let r = ignored_for(&config(&[]), fixture(file));
        assert!(r.contains("not the root user"), "{file}: {r}");
        assert!(r.contains(kind), "{file}: {r}");
    }
}

#[test]
fn failed_sign_in_with_hidden_user_name_parses_and_is_not_root() {
    let v = fixture("signin-iam-user-failure-hidden-name.json");
    assert!(v["detail"].get("requestID").is_none());
    assert!(v["detail"]["userIdentity"].get("arn").is_none());
    assert!(v["detail"]["userIdentity"].get("principalId").is_none());
    let r = ignored_for(&config(&[]), v);
    assert!(r.contains("IAMUser"), "{r}");
    assert!(r.contains("HIDDEN_DUE_TO_SECURITY_REASONS"), "{r}");
}

#[test]
fn non_cloudtrail_payloads_are_ignored() {
    let p = payload(json!({"detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": "trail"}, "object": {"key": "AWSLogs/x.json.gz"}}}));
    let o = plan(&config(&[]), &p);
    assert!(o.ignored.unwrap().contains("not a CloudTrail record"));
}

#[test]
fn a_bare_record_works_too() {
    let v = fixture("signin-root-success-no-mfa.json");
    let a = alert_for(&config(&[]), v["detail"].clone());
    assert_eq!(a.severity, Severity::Critical);
}

// --- known networks and account alias ------------------------------------------------------

#[test]
fn known_network_lowers_one_step_and_says_so() {
    let cfg = config(&[("KNOWN_SOURCE_CIDRS", "10.0.0.0/8, 203.0.113.0/24")]);
    let a = alert_for(&cfg, fixture("signin-root-success-no-mfa.json"));
    assert_eq!(a.severity, Severity::High);
    let f = fact(&a, "Source network").unwrap();
    assert!(f.contains("203.0.113.0/24"), "{f}");
    assert!(f.contains("lowered from critical to high"), "{f}");
    assert!(a.summary.contains("known network 203.0.113.0/24"));
    // Elsewhere: unchanged, and the alert says the source is unknown.
    let a = alert_for(&cfg, fixture("signin-root-success-mfa.json"));
    assert_eq!(a.severity, Severity::High);
    assert!(fact(&a, "Source network")
        .unwrap()
        .contains("none of the known networks"));
}

#[test]
fn known_network_never_suppresses() {
    let cfg = config(&[("KNOWN_SOURCE_CIDRS", "192.0.2.0/24")]);
    let a = alert_for(&cfg, fixture("signin-root-failure.json"));
    assert_eq!(a.severity, Severity::Low);
    let cfg = config(&[("KNOWN_SOURCE_CIDRS", "0.0.0.0/0")]);
    let a = alert_for(&cfg, fixture("root-create-access-key.json"));
    assert_eq!(a.severity, Severity::High);
}

#[test]
fn leading_zero_and_host_name_sources_do_not_fail() {
    let cfg = config(&[("KNOWN_SOURCE_CIDRS", "75.50.0.0/16")]);
    let mut v = fixture("signin-root-success-no-mfa.json");
    v["detail"]["sourceIPAddress"] = json!("075.050.255.67");
    let a = alert_for(&cfg, v);
    assert_eq!(a.severity, Severity::High);
    assert!(fact(&a, "Source network").unwrap().contains("75.50.255.67"));
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]["sourceIPAddress"] = json!("AWS Internal");
    let a = alert_for(&cfg, v);
    assert_eq!(a.severity, Severity::High);
    assert!(fact(&a, "Source network")
        .unwrap()
        .contains("not an IP address"));
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]
        .as_object_mut()
        .unwrap()
        .remove("sourceIPAddress");
    let a = alert_for(&cfg, v);
    assert_eq!(a.severity, Severity::High);
    assert!(a.summary.contains("an unrecorded source"));
}

#[test]
fn account_alias_is_in_subject_and_body() {
    let cfg = config(&[("ACCOUNT_ALIAS", "prod-payments")]);
    let a = alert_for(&cfg, fixture("signin-root-success-no-mfa.json"));
    assert_eq!(
        a.subject(),
        "[CRITICAL] Root user signed in to the console without MFA (prod-payments 123456789012)"
    );
    assert!(a
        .text()
        .contains("Account:     123456789012 (prod-payments)"));
    assert!(a.summary.contains("123456789012 (prod-payments)"));
}

#[test]
fn dry_run_marks_the_alert() {
    let cfg = config(&[("DRY_RUN", "true")]);
    let o = plan(&cfg, &payload(fixture("signin-root-success-mfa.json")));
    assert!(o.dry_run);
    assert!(o.alerts[0].dry_run);
    assert!(o.alerts[0].subject().starts_with("[HIGH] [dry-run] "));
}

// --- configuration --------------------------------------------------------------------------

#[test]
fn config_reads_known_networks_and_names_bad_values() {
    let cfg = config(&[(
        "KNOWN_SOURCE_CIDRS",
        " 203.0.113.0/24 ,, 2001:db8::/32, 198.51.100.7 ",
    )]);
    let nets: Vec<String> = cfg
        .known_source_cidrs
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]);
    assert!(config(&[("KNOWN_SOURCE_CIDRS", " ")])
        .known_source_cidrs
        .is_empty());
    let e = Config::from_env(&[("KNOWN_SOURCE_CIDRS", "203.0.113.0/24, office-vpn")]).unwrap_err();
    assert_eq!(e.var, "KNOWN_SOURCE_CIDRS");
    assert_eq!(e.value, "office-vpn");
    assert!(e.to_string().contains("CIDR"), "{e}");
    let e = Config::from_env(&[("MIN_SEVERITY", "loud")]).unwrap_err();
    assert_eq!(e.var, "MIN_SEVERITY");
}

// --- handler paths without AWS ---------------------------------------------------------------

fn offline_state(vars: &[(&str, &str)]) -> State {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    State::new(&sdk, config(vars))
}

fn event(v: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(v, lambda_runtime::Context::default())
}

#[tokio::test]
async fn handler_rejects_what_it_cannot_parse() {
    let state = offline_state(&[]);
    let e = handler(&state, event(json!(["not", "an", "event"])))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("found an array"), "{e}");
    let e = handler(
        &state,
        event(json!({"detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventName": 42}})),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("detail.eventName"), "{e}");
}

#[tokio::test]
async fn handler_reports_ignored_events_and_unpublished_alerts() {
    let state = offline_state(&[]);
    let out = handler(&state, event(fixture("root-invoked-by-service.json")))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("invokedBy"));
    assert_eq!(out["alerts"], json!([]));
    // No ALERT_TOPIC_ARN: the alert is logged only, and the outcome says so.
    let out = handler(&state, event(fixture("signin-root-failure.json")))
        .await
        .unwrap();
    assert_eq!(out["alerts"][0]["severity"], "medium");
    assert_eq!(
        out["stats"]["alert_delivery"][0]["status"],
        "logged only: ALERT_TOPIC_ARN not set"
    );
}
