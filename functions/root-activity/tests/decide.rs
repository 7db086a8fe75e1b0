//! The pure decision over the sample events in `events/`: each kind of root use and its
//! severity, each "not a person" exclusion, known networks, centralized root access, and the
//! configuration. Assertions are on the typed case, never on wording.

mod support;

use root_activity::centralized::{TaskPolicy, TaskSession};
use root_activity::decide::{CallOutcome, Credentials, KeyKind, Mfa};
use root_activity::network::SourceMatch;
use root_activity::{Case, Config, CredentialAction, Kind, Reason, RootActivity};
use serde_json::{json, Value};
use support::{long_term_key_call, refused};
use trailwarden::respond::{plan_offline, Decide, Decision, Settings};
use trailwarden::{Payload, Severity};
use trailwarden_testkit::{config, fixture};

fn cfg(vars: &[(&str, &str)]) -> Config {
    config::<RootActivity>(vars)
}

fn decide(cfg: &Config, v: Value) -> Decision<Case, root_activity::Step> {
    let p = Payload::from_value(v).expect("fixture parses");
    RootActivity::decide(cfg, &p, &())
}

fn case_for(cfg: &Config, v: Value) -> Case {
    match decide(cfg, v) {
        Decision::Respond { case, plan } => {
            assert!(plan.is_empty(), "root-activity never plans a step");
            case
        }
        Decision::Ignore(r) => panic!("unexpectedly ignored: {r}"),
    }
}

fn ignored_for(cfg: &Config, v: Value) -> String {
    match decide(cfg, v) {
        Decision::Ignore(r) => r,
        Decision::Respond { case, .. } => panic!("unexpected case: {case:?}"),
    }
}

/// The root CreateAccessKey fixture turned into another root IAM call.
fn root_iam_call(name: &str, request: Value) -> Value {
    let mut v = fixture("root-create-access-key.json");
    v["detail"]["eventName"] = json!(name);
    v["detail"]["requestParameters"] = request;
    v["detail"]["responseElements"] = Value::Null;
    v
}

// --- kinds and severities -------------------------------------------------------------------

#[test]
fn root_sign_in_without_mfa_is_critical_and_needs_no_request_id() {
    let v = fixture("signin-root-success-no-mfa.json");
    assert!(
        v["detail"].get("requestID").is_none(),
        "ConsoleLogin has no requestID"
    );
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::ConsoleSignIn);
    assert_eq!(c.severity, Severity::Critical);
    assert_eq!(c.outcome, CallOutcome::Succeeded);
    assert_eq!(c.mfa, Mfa::Recorded(Some(false)));
    assert_eq!(c.reasons, [Reason::NoMfa]);
    assert_eq!(c.account.as_deref(), Some("123456789012"));
    assert_eq!(c.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        c.source,
        SourceMatch::Unknown {
            ip: "203.0.113.45".parse().unwrap()
        }
    );
    assert!(!c.centralized());
}

#[test]
fn root_sign_in_with_mfa_is_high() {
    let c = case_for(&cfg(&[]), fixture("signin-root-success-mfa.json"));
    assert_eq!(c.kind, Kind::ConsoleSignIn);
    assert_eq!(c.severity, Severity::High);
    assert_eq!(c.mfa, Mfa::Recorded(Some(true)));
    assert!(c.reasons.is_empty(), "{:?}", c.reasons);
}

#[test]
fn failed_root_sign_in_is_medium() {
    let v = fixture("signin-root-failure.json");
    assert!(v["detail"].get("requestID").is_none());
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::ConsoleSignInFailed);
    assert_eq!(c.severity, Severity::Medium);
    assert_eq!(
        c.outcome,
        CallOutcome::Failed {
            code: None,
            message: Some("Failed authentication".into())
        }
    );
    assert_eq!(c.reasons, [Reason::Failed]);
}

#[test]
fn sign_in_with_nothing_recorded_assumes_the_worse() {
    let mut v = fixture("signin-root-success-no-mfa.json");
    v["detail"]["responseElements"] = Value::Null;
    v["detail"]["additionalEventData"] = Value::Null;
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::ConsoleSignIn);
    assert_eq!(c.severity, Severity::Critical);
    assert_eq!(c.outcome, CallOutcome::NotRecorded);
    assert_eq!(c.mfa, Mfa::Recorded(None));
    assert_eq!(
        c.reasons,
        [Reason::OutcomeNotRecorded, Reason::MfaNotRecorded]
    );
}

#[test]
fn root_api_call_is_high_in_its_own_region() {
    let c = case_for(&cfg(&[]), fixture("root-api-call-create-bucket.json"));
    assert_eq!(c.kind, Kind::ApiCall);
    assert_eq!(c.severity, Severity::High);
    assert_eq!(c.region.as_deref(), Some("eu-west-1"));
    assert_eq!(c.outcome, CallOutcome::Succeeded);
    assert_eq!(c.mfa, Mfa::Session(true));
    assert_eq!(
        c.credentials,
        Some(Credentials {
            access_key_id: "ASIAEXAMPLEROOTSESN4".into(),
            kind: KeyKind::Temporary
        })
    );
    assert!(c.reasons.is_empty(), "{:?}", c.reasons);
}

#[test]
fn failed_root_api_call_is_still_high() {
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]["errorCode"] = json!("AccessDenied");
    v["detail"]["errorMessage"] = json!("Access Denied");
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::ApiCall);
    assert_eq!(c.severity, Severity::High);
    assert_eq!(
        c.outcome,
        CallOutcome::Failed {
            code: Some("AccessDenied".into()),
            message: Some("Access Denied".into())
        }
    );
    assert_eq!(c.reasons, [Reason::Failed]);
}

#[test]
fn root_create_access_key_is_critical() {
    let c = case_for(&cfg(&[]), fixture("root-create-access-key.json"));
    assert_eq!(
        c.kind,
        Kind::CredentialChange(CredentialAction::CreateAccessKey)
    );
    assert_eq!(c.severity, Severity::Critical);
    assert_eq!(c.mfa, Mfa::Session(false));
}

#[test]
fn every_credential_action_is_critical() {
    let cases = [
        (
            CredentialAction::UpdateAccessKey,
            json!({"accessKeyId": "AKIAEXAMPLEROOTKEY01", "status": "Active"}),
        ),
        (
            CredentialAction::UpdateAccessKey,
            json!({"accessKeyId": "AKIAEXAMPLEROOTKEY01"}),
        ),
        (
            CredentialAction::UploadSigningCertificate,
            json!({"certificateBody": "-----BEGIN CERTIFICATE-----"}),
        ),
        (
            CredentialAction::UpdateSigningCertificate,
            json!({"certificateId": "ABCD", "status": "Active"}),
        ),
        (
            CredentialAction::CreateLoginProfile,
            json!({"userName": "breakglass", "password": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
        ),
        (
            CredentialAction::UpdateLoginProfile,
            json!({"userName": "alice", "password": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
        ),
        (
            CredentialAction::ChangePassword,
            json!({"oldPassword": "HIDDEN_DUE_TO_SECURITY_REASONS", "newPassword": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
        ),
        (
            CredentialAction::DeactivateMfaDevice,
            json!({"serialNumber": "arn:aws:iam::123456789012:mfa/root-account-mfa-device"}),
        ),
        (
            CredentialAction::DeleteVirtualMfaDevice,
            json!({"serialNumber": "arn:aws:iam::123456789012:mfa/root-account-mfa-device"}),
        ),
        (
            CredentialAction::GetFederationToken,
            json!({"name": "x", "durationSeconds": 129600}),
        ),
        (CredentialAction::GetSessionToken, Value::Null),
    ];
    for (action, req) in cases {
        let c = case_for(&cfg(&[]), root_iam_call(action.event_name(), req.clone()));
        assert_eq!(c.kind, Kind::CredentialChange(action), "{req}");
        assert_eq!(c.severity, Severity::Critical, "{action:?} {req}");
    }
    // Password recovery arrives as a sign-in event.
    let mut v = fixture("signin-root-success-no-mfa.json");
    v["detail"]["eventName"] = json!("PasswordRecoveryCompleted");
    v["detail"]["responseElements"] = json!({"PasswordRecoveryCompleted": "Success"});
    let c = case_for(&cfg(&[]), v);
    assert_eq!(
        c.kind,
        Kind::CredentialChange(CredentialAction::PasswordRecoveryCompleted)
    );
    assert_eq!(c.severity, Severity::Critical);
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
        let c = case_for(&cfg(&[]), root_iam_call(name, req));
        assert_eq!(c.kind, Kind::ApiCall, "{name}");
        assert_eq!(c.severity, Severity::High, "{name}");
    }
}

#[test]
fn failed_credential_action_stays_critical() {
    let v = refused(
        "root-create-access-key.json",
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 2",
    );
    let c = case_for(&cfg(&[]), v);
    assert_eq!(
        c.kind,
        Kind::CredentialChange(CredentialAction::CreateAccessKey)
    );
    assert_eq!(c.severity, Severity::Critical);
    assert!(c.outcome.failed());
    assert_eq!(c.reasons, [Reason::Failed]);
}

#[test]
fn other_sign_in_events_failed_are_medium_otherwise_high() {
    let mut v = fixture("signin-root-failure.json");
    v["detail"]["eventName"] = json!("PasswordRecoveryRequested");
    v["detail"]["responseElements"] = json!({"PasswordRecoveryRequested": "Failure"});
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::SignInEventFailed);
    assert_eq!(c.severity, Severity::Medium);
    let mut v = fixture("signin-root-success-mfa.json");
    v["detail"]["eventName"] = json!("PasswordRecoveryRequested");
    v["detail"]["responseElements"] = json!({"PasswordRecoveryRequested": "Success"});
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::SignInEvent);
    assert_eq!(c.severity, Severity::High);
}

#[test]
fn long_term_root_keys_are_called_out() {
    let v = long_term_key_call();
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.mfa, Mfa::LongTermKey);
    assert_eq!(c.credentials.unwrap().kind, KeyKind::LongTerm);
    assert_eq!(c.reasons, [Reason::LongTermRootKey]);
    assert_eq!(c.severity, Severity::High);
}

// --- exclusions -----------------------------------------------------------------------------

#[test]
fn root_invoked_by_a_service_is_not_a_person() {
    let r = ignored_for(&cfg(&[]), fixture("root-invoked-by-service.json"));
    assert!(r.contains("invokedBy"), "{r}");
    assert!(r.contains("cloudformation.amazonaws.com"), "{r}");
    assert!(r.contains("CIS 4.3"), "{r}");
}

#[test]
fn service_events_are_not_a_person() {
    let r = ignored_for(&cfg(&[]), fixture("service-event-no-identity-type.json"));
    assert!(r.contains("AwsServiceEvent"), "{r}");
    // Also when the record claims Root and arrives as an API call.
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]["eventType"] = json!("AwsServiceEvent");
    let r = ignored_for(&cfg(&[]), v);
    assert!(r.contains("AwsServiceEvent"), "{r}");
}

#[test]
fn non_root_sign_ins_are_ignored_with_the_principal_named() {
    for (file, kind) in [
        ("signin-iam-user-no-mfa.json", "IAMUser"),
        ("signin-identity-center.json", "IdentityCenterRole"),
        ("signin-saml-federated.json", "AssumedRole"),
    ] {
        let r = ignored_for(&cfg(&[]), fixture(file));
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
    let r = ignored_for(&cfg(&[]), v);
    assert!(r.contains("IAMUser"), "{r}");
    assert!(r.contains("HIDDEN_DUE_TO_SECURITY_REASONS"), "{r}");
}

#[test]
fn non_cloudtrail_payloads_are_ignored() {
    let r = ignored_for(
        &cfg(&[]),
        json!({"detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": "trail"}, "object": {"key": "AWSLogs/x.json.gz"}}}),
    );
    assert!(r.contains("not a CloudTrail record"), "{r}");
}

#[test]
fn a_bare_record_works_too() {
    let v = fixture("signin-root-success-no-mfa.json");
    let c = case_for(&cfg(&[]), v["detail"].clone());
    assert_eq!(c.kind, Kind::ConsoleSignIn);
    assert_eq!(c.severity, Severity::Critical);
}

// --- known networks ------------------------------------------------------------------------

#[test]
fn known_network_lowers_one_step() {
    let cfg = cfg(&[("KNOWN_SOURCE_CIDRS", "10.0.0.0/8, 203.0.113.0/24")]);
    let c = case_for(&cfg, fixture("signin-root-success-no-mfa.json"));
    assert_eq!(c.base_severity, Severity::Critical);
    assert_eq!(c.severity, Severity::High);
    assert!(c.lowered());
    assert!(c
        .reasons
        .contains(&Reason::KnownSource("203.0.113.0/24".into())));
    // Elsewhere: unchanged.
    let c = case_for(&cfg, fixture("signin-root-success-mfa.json"));
    assert_eq!(c.severity, Severity::High);
    assert!(!c.lowered());
    assert!(matches!(c.source, SourceMatch::Unknown { .. }));
}

#[test]
fn known_network_never_suppresses() {
    let c = case_for(
        &cfg(&[("KNOWN_SOURCE_CIDRS", "192.0.2.0/24")]),
        fixture("signin-root-failure.json"),
    );
    assert_eq!(c.severity, Severity::Low);
    let c = case_for(
        &cfg(&[("KNOWN_SOURCE_CIDRS", "0.0.0.0/0")]),
        fixture("root-create-access-key.json"),
    );
    assert_eq!(c.severity, Severity::High);
}

#[test]
fn leading_zero_and_host_name_sources_do_not_fail() {
    let cfg = cfg(&[("KNOWN_SOURCE_CIDRS", "75.50.0.0/16")]);
    let mut v = fixture("signin-root-success-no-mfa.json");
    v["detail"]["sourceIPAddress"] = json!("075.050.255.67");
    let c = case_for(&cfg, v);
    assert_eq!(c.severity, Severity::High);
    assert!(matches!(c.source, SourceMatch::Known { ip, .. } if ip.to_string() == "75.50.255.67"));
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]["sourceIPAddress"] = json!("AWS Internal");
    let c = case_for(&cfg, v);
    assert_eq!(c.severity, Severity::High);
    assert_eq!(
        c.source,
        SourceMatch::NotAnIp {
            value: "AWS Internal".into()
        }
    );
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]
        .as_object_mut()
        .unwrap()
        .remove("sourceIPAddress");
    let c = case_for(&cfg, v);
    assert_eq!(c.severity, Severity::High);
    assert_eq!(c.source, SourceMatch::Missing);
}

// --- centralized root access (issue 15) --------------------------------------------------

#[test]
fn centralized_root_session_is_a_task_not_the_root_password() {
    let c = case_for(
        &cfg(&[]),
        fixture("root-centralized-delete-login-profile.json"),
    );
    assert_eq!(c.kind, Kind::CentralizedRootTask);
    assert_eq!(c.severity, Severity::High);
    assert_eq!(c.reasons, [Reason::CentralizedRootSession]);
    assert_eq!(
        c.task_session,
        Some(TaskSession {
            access_key_id: Some("ASIAEXAMPLETASKSESN2".into()),
            issued_at: Some("2024-11-20T16:41:37Z".into()),
            source_identity: None,
            likely_task_policy: Some(TaskPolicy::DeleteRootUserCredentials),
        })
    );
    assert_eq!(c.account.as_deref(), Some("123456789012"));
}

#[test]
fn plain_root_sessions_are_not_centralized() {
    for f in [
        "root-api-call-create-bucket.json",
        "root-create-access-key.json",
        "signin-root-success-mfa.json",
    ] {
        let c = case_for(&cfg(&[]), fixture(f));
        assert_eq!(c.task_session, None, "{f}");
        assert!(!c.reasons.contains(&Reason::CentralizedRootSession), "{f}");
    }
    // The marker set to false is no marker.
    let mut v = fixture("root-centralized-delete-login-profile.json");
    v["detail"]["userIdentity"]["sessionContext"]["assumedRoot"] = json!("false");
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::ApiCall);
    assert_eq!(c.task_session, None);
}

#[test]
fn centralized_credential_weakening_stays_critical() {
    for (name, action, policy) in [
        (
            "CreateLoginProfile",
            CredentialAction::CreateLoginProfile,
            TaskPolicy::CreateRootUserPassword,
        ),
        (
            "DeactivateMFADevice",
            CredentialAction::DeactivateMfaDevice,
            TaskPolicy::DeleteRootUserCredentials,
        ),
    ] {
        let mut v = fixture("root-centralized-delete-login-profile.json");
        v["detail"]["eventName"] = json!(name);
        let c = case_for(&cfg(&[]), v);
        assert_eq!(c.kind, Kind::CredentialChange(action), "{name}");
        assert_eq!(c.severity, Severity::Critical, "{name}");
        assert!(
            c.reasons.contains(&Reason::CentralizedRootSession),
            "{name}"
        );
        assert_eq!(
            c.task_session.unwrap().likely_task_policy,
            Some(policy),
            "{name}"
        );
    }
    // A read that several tasks allow names no task policy.
    let mut v = fixture("root-centralized-delete-login-profile.json");
    v["detail"]["eventName"] = json!("GetLoginProfile");
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::CentralizedRootTask);
    assert_eq!(c.task_session.unwrap().likely_task_policy, None);
}

#[test]
fn centralized_marker_and_source_identity_are_read_wherever_recorded() {
    let mut v = fixture("root-centralized-delete-login-profile.json");
    let identity = &mut v["detail"]["userIdentity"];
    identity["sessionContext"]
        .as_object_mut()
        .unwrap()
        .remove("assumedRoot");
    identity["assumedRoot"] = json!("true");
    identity["sessionContext"]["sourceIdentity"] = json!("jordan.lee@example.com");
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::CentralizedRootTask);
    assert_eq!(
        c.task_session.unwrap().source_identity.as_deref(),
        Some("jordan.lee@example.com")
    );
}

#[test]
fn failed_centralized_call_is_still_high() {
    let mut v = fixture("root-centralized-delete-login-profile.json");
    v["detail"]["errorCode"] = json!("NoSuchEntityException");
    v["detail"]["errorMessage"] = json!("Login Profile for User root cannot be found.");
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.kind, Kind::CentralizedRootTask);
    assert_eq!(c.severity, Severity::High);
    assert_eq!(c.reasons, [Reason::Failed, Reason::CentralizedRootSession]);
}

#[test]
fn assume_root_in_the_management_account_is_high_with_target_and_policy() {
    let c = case_for(
        &cfg(&[]),
        fixture("root-assume-root-by-management-account.json"),
    );
    assert_eq!(c.severity, Severity::High);
    assert_eq!(c.account.as_deref(), Some("111122223333"));
    assert_eq!(c.task_session, None, "the caller is not a root session");
    let Kind::AssumeRoot(call) = &c.kind else {
        panic!("{:?}", c.kind)
    };
    assert_eq!(call.target_account.as_deref(), Some("123456789012"));
    assert_eq!(
        call.task_policy_arn.as_deref(),
        Some("arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials")
    );
    assert_eq!(
        call.task_policy,
        Some(TaskPolicy::DeleteRootUserCredentials)
    );
    assert_eq!(call.caller.kind(), "IdentityCenterRole");
    assert!(call
        .caller
        .display()
        .ends_with("AWSReservedSSO_OrgAdministrator_5a1b2c3d4e5f6a7b/jordan.lee@example.com"));
    assert_eq!(call.caller_account.as_deref(), Some("111122223333"));
    assert_eq!(call.duration_seconds, Some(900));
    assert_eq!(call.session_key.as_deref(), Some("ASIAEXAMPLETASKSESN2"));
}

#[test]
fn refused_assume_root_is_medium_and_issued_no_session() {
    let v = refused(
        "root-assume-root-by-management-account.json",
        "AccessDenied",
        "User: arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_OrgAdministrator_5a1b2c3d4e5f6a7b/jordan.lee@example.com is not authorized to perform: sts:AssumeRoot",
    );
    let c = case_for(&cfg(&[]), v);
    assert_eq!(c.severity, Severity::Medium);
    assert_eq!(c.reasons, [Reason::Failed]);
    let Kind::AssumeRoot(call) = &c.kind else {
        panic!("{:?}", c.kind)
    };
    assert_eq!(call.session_key, None);
}

#[test]
fn assume_root_variants_of_the_request_are_read() {
    let mut v = fixture("root-assume-root-by-management-account.json");
    v["detail"]["requestParameters"] = json!({
        "targetPrincipal": "444455556666",
        "taskPolicyArn": "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"
    });
    let c = case_for(&cfg(&[("KNOWN_SOURCE_CIDRS", "198.51.100.0/24")]), v);
    let Kind::AssumeRoot(call) = &c.kind else {
        panic!("{:?}", c.kind)
    };
    assert_eq!(call.target_account.as_deref(), Some("444455556666"));
    assert_eq!(call.task_policy, Some(TaskPolicy::S3UnlockBucketPolicy));
    assert_eq!(call.duration_seconds, None);
    // Known networks lower it one step, as for every root alert.
    assert_eq!(c.base_severity, Severity::High);
    assert_eq!(c.severity, Severity::Medium);
}

#[test]
fn other_sts_calls_by_non_root_principals_are_still_ignored() {
    let mut v = fixture("root-assume-root-by-management-account.json");
    v["detail"]["eventName"] = json!("AssumeRole");
    let r = ignored_for(&cfg(&[]), v);
    assert!(r.contains("not the root user"), "{r}");
    // AssumeRoot as an AWS service event is AWS acting, not a person.
    let mut v = fixture("root-assume-root-by-management-account.json");
    v["detail"]["eventType"] = json!("AwsServiceEvent");
    let r = ignored_for(&cfg(&[]), v);
    assert!(r.contains("AwsServiceEvent"), "{r}");
}

// --- offline plan ----------------------------------------------------------------------------

#[test]
fn the_plan_is_the_alert_alone_and_dry_run_marks_it() {
    let cfg = cfg(&[("DRY_RUN", "true"), ("ACCOUNT_ALIAS", "prod-payments")]);
    let p = Payload::from_value(fixture("signin-root-success-mfa.json")).unwrap();
    let o = plan_offline::<RootActivity>(&cfg, &p);
    assert!(o.dry_run);
    assert!(o.steps.is_empty());
    assert_eq!(o.alerts.len(), 1);
    assert!(o.alerts[0].dry_run);
    assert_eq!(o.alerts[0].severity, Severity::High);
    assert_eq!(o.alerts[0].account_alias.as_deref(), Some("prod-payments"));
}

// --- configuration --------------------------------------------------------------------------

#[test]
fn config_reads_known_networks_and_names_bad_values() {
    let c = cfg(&[(
        "KNOWN_SOURCE_CIDRS",
        " 203.0.113.0/24 ,, 2001:db8::/32, 198.51.100.7 ",
    )]);
    let nets: Vec<String> = c
        .known_source_cidrs
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]);
    assert!(cfg(&[("KNOWN_SOURCE_CIDRS", " ")])
        .known_source_cidrs
        .is_empty());
    let env = trailwarden_testkit::env(&[("KNOWN_SOURCE_CIDRS", "203.0.113.0/24, office-vpn")]);
    let e = Config::from_env(&env).unwrap_err();
    assert_eq!(e.var, "KNOWN_SOURCE_CIDRS");
    assert_eq!(e.value, "office-vpn");
    assert!(e.to_string().contains("CIDR"), "{e}");
    let env = trailwarden_testkit::env(&[("MIN_SEVERITY", "loud")]);
    let e = Config::from_env(&env).unwrap_err();
    assert_eq!(e.var, "MIN_SEVERITY");
}
