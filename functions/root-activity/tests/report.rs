//! Golden wording: the alert a person reads for the main kinds of root use, secrets kept out
//! of evidence, the account alias, and what the Lambda handler answers without AWS.

mod support;

use root_activity::RootActivity;
use serde_json::{json, Value};
use support::{long_term_key_call, refused};
use trailwarden::alert::Alert;
use trailwarden::respond::{plan_offline, Decide, Decision, Reporting};
use trailwarden::Payload;
use trailwarden_testkit::{config, fixture, invoke, service};

/// The alert as `report` words it (before the runner stamps `dry_run` and the alias).
fn alert_for(vars: &[(&str, &str)], v: Value) -> Alert {
    let cfg = config::<RootActivity>(vars);
    let p = Payload::from_value(v).expect("fixture parses");
    let Decision::Respond { case, plan } = RootActivity::decide(&cfg, &p, &()) else {
        panic!("unexpectedly ignored");
    };
    let report = RootActivity::report(&cfg, &case, &plan, None);
    assert_eq!(report.alerts.len(), 1);
    report.alerts.into_iter().next().unwrap()
}

fn fact<'a>(a: &'a Alert, label: &str) -> Option<&'a str> {
    a.facts
        .iter()
        .find(|(k, _)| k == label)
        .map(|(_, v)| v.as_str())
}

#[test]
fn console_sign_in_without_mfa_golden() {
    let a = alert_for(&[], fixture("signin-root-success-no-mfa.json"));
    assert_eq!(a.detection, "root-console-sign-in");
    assert_eq!(
        a.subject(),
        "[CRITICAL] Root user signed in to the console without MFA (123456789012)"
    );
    assert_eq!(
        a.summary,
        "Someone signed in to the AWS console of account 123456789012 as the root user from \
         203.0.113.45, without MFA: the password alone was enough. The root user can do anything \
         in the account, including closing it. If this was not you: reset the root password, \
         enable MFA on the root user, and review what this session did (further root alerts, \
         CloudTrail event history). trailwarden took no automatic action: this is an alert only."
    );
    assert_eq!(fact(&a, "Sign-in"), Some("Success"));
    assert_eq!(fact(&a, "MFA used"), Some("No"));
    assert_eq!(fact(&a, "Mobile console"), Some("No"));
    assert!(fact(&a, "Signed in to")
        .unwrap()
        .starts_with("https://console.aws.amazon.com/console/home"));
    let e = a.event.as_ref().unwrap();
    assert_eq!(e.event_name.as_deref(), Some("ConsoleLogin"));
    assert_eq!(e.source_ip.as_deref(), Some("203.0.113.45"));
    assert!(e.user_agent.as_deref().unwrap().contains("Chrome/127"));
    assert_eq!(e.event_time.as_deref(), Some("2024-08-01T13:30:12Z"));
    assert_eq!(
        e.console_url.as_deref(),
        Some("https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/0d5c8f7e-2a41-4b9e-8c3d-6e1f2a7b9c10")
    );
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
fn titles_of_each_kind() {
    let cases: Vec<(Value, &str)> = vec![
        (
            fixture("signin-root-success-mfa.json"),
            "Root user signed in to the console with MFA",
        ),
        (
            fixture("signin-root-failure.json"),
            "Failed root user console sign-in",
        ),
        (
            fixture("root-api-call-create-bucket.json"),
            "Root user API call: CreateBucket (s3)",
        ),
        (
            fixture("root-create-access-key.json"),
            "Root user credential change: CreateAccessKey",
        ),
        (
            {
                let mut v = fixture("signin-root-success-no-mfa.json");
                v["detail"]["responseElements"] = Value::Null;
                v["detail"]["additionalEventData"] = Value::Null;
                v
            },
            "Root user signed in to the console, MFA not recorded",
        ),
        (
            {
                let mut v = fixture("root-create-access-key.json");
                v["detail"]["errorCode"] = json!("LimitExceeded");
                v["detail"]["responseElements"] = Value::Null;
                v
            },
            "Root user credential change: CreateAccessKey (failed)",
        ),
    ];
    for (v, title) in cases {
        assert_eq!(alert_for(&[], v).title, title);
    }
}

#[test]
fn facts_and_sentences_of_each_kind() {
    let a = alert_for(&[], fixture("signin-root-success-mfa.json"));
    assert_eq!(fact(&a, "MFA used"), Some("Yes"));
    assert_eq!(
        fact(&a, "MFA device"),
        Some("arn:aws:iam::123456789012:mfa/root-account-mfa-device")
    );

    let a = alert_for(&[], fixture("signin-root-failure.json"));
    assert_eq!(fact(&a, "Sign-in"), Some("Failure (Failed authentication)"));
    assert!(a.summary.contains("guessing"), "{}", a.summary);
    assert!(a.references.iter().any(|r| r.contains("T1110")));

    let mut v = fixture("signin-root-success-no-mfa.json");
    v["detail"]["responseElements"] = Value::Null;
    v["detail"]["additionalEventData"] = Value::Null;
    let a = alert_for(&[], v);
    assert_eq!(fact(&a, "MFA used"), Some("not recorded"));
    assert_eq!(
        fact(&a, "Sign-in"),
        Some("outcome not recorded (treated as a success)")
    );

    let a = alert_for(&[], fixture("root-api-call-create-bucket.json"));
    assert_eq!(fact(&a, "Outcome"), Some("Succeeded"));
    assert_eq!(
        fact(&a, "MFA used"),
        Some("Yes (MFA-authenticated session)")
    );
    assert_eq!(
        fact(&a, "Credentials"),
        Some("ASIAEXAMPLEROOTSESN4 (temporary: console session or session token)")
    );
    assert_eq!(
        a.evidence.as_ref().unwrap()["requestParameters"]["bucketName"],
        "acme-root-scratch-2024"
    );
    assert_eq!(a.region.as_deref(), Some("eu-west-1"));
    assert!(a
        .event
        .as_ref()
        .unwrap()
        .console_url
        .as_deref()
        .unwrap()
        .starts_with("https://eu-west-1.console.aws.amazon.com/"));

    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]["errorCode"] = json!("AccessDenied");
    v["detail"]["errorMessage"] = json!("Access Denied");
    let a = alert_for(&[], v);
    assert_eq!(a.title, "Root user API call: CreateBucket (s3), failed");
    assert_eq!(
        fact(&a, "Outcome"),
        Some("Failed: AccessDenied (Access Denied)")
    );
    assert!(a.summary.contains("changed nothing"));

    let v = refused(
        "root-create-access-key.json",
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 2",
    );
    let a = alert_for(&[], v);
    assert_eq!(
        fact(&a, "Outcome"),
        Some("Failed: LimitExceeded (Cannot exceed quota for AccessKeysPerUser: 2)")
    );
    assert_eq!(fact(&a, "New access key"), None);

    let mut v = fixture("root-create-access-key.json");
    v["detail"]["eventName"] = json!("UpdateLoginProfile");
    v["detail"]["requestParameters"] = json!({"userName": "alice"});
    v["detail"]["responseElements"] = Value::Null;
    assert_eq!(fact(&alert_for(&[], v), "For IAM user"), Some("alice"));

    let mut v = fixture("signin-root-success-no-mfa.json");
    v["detail"]["eventName"] = json!("PasswordRecoveryCompleted");
    v["detail"]["responseElements"] = json!({"PasswordRecoveryCompleted": "Success"});
    assert!(alert_for(&[], v).summary.contains("password recovery"));

    let v = long_term_key_call();
    let a = alert_for(&[], v);
    assert_eq!(fact(&a, "MFA used"), Some("No (long-term access key)"));
    assert!(fact(&a, "Credentials").unwrap().contains("CIS 1.4"));
}

#[test]
fn unusual_sources_are_described() {
    let vars = [("KNOWN_SOURCE_CIDRS", "75.50.0.0/16")];
    let mut v = fixture("signin-root-success-no-mfa.json");
    v["detail"]["sourceIPAddress"] = json!("075.050.255.67");
    let a = alert_for(&vars, v);
    assert!(fact(&a, "Source network").unwrap().contains("75.50.255.67"));
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]["sourceIPAddress"] = json!("AWS Internal");
    let a = alert_for(&vars, v);
    assert_eq!(
        fact(&a, "Source network"),
        Some("AWS Internal is an AWS service host name, not an IP address")
    );
    let mut v = fixture("root-api-call-create-bucket.json");
    v["detail"]
        .as_object_mut()
        .unwrap()
        .remove("sourceIPAddress");
    let a = alert_for(&vars, v);
    assert!(a.summary.contains("an unrecorded source"));
    assert_eq!(fact(&a, "Source network"), None);
}

#[test]
fn credential_change_names_what_it_does_and_the_new_key() {
    let a = alert_for(&[], fixture("root-create-access-key.json"));
    assert!(a.summary.contains("which creates a long-term access key"));
    assert!(a.summary.contains("secure the root user (password, MFA)"));
    assert_eq!(fact(&a, "New access key"), Some("AKIAEXAMPLEROOTKEY01"));
    assert_eq!(
        fact(&a, "MFA used"),
        Some("No (session not MFA-authenticated)")
    );
    assert!(a.references.iter().any(|r| r.contains("T1098.001")));
}

#[test]
fn known_network_is_said_in_facts_and_summary() {
    let a = alert_for(
        &[("KNOWN_SOURCE_CIDRS", "10.0.0.0/8, 203.0.113.0/24")],
        fixture("signin-root-success-no-mfa.json"),
    );
    assert_eq!(
        fact(&a, "Source network"),
        Some(
            "203.0.113.45 is in known network 203.0.113.0/24 (KNOWN_SOURCE_CIDRS): severity \
             lowered from critical to high"
        )
    );
    assert!(a.summary.contains(
        "The source 203.0.113.45 is in the known network 203.0.113.0/24, so the severity was \
         lowered from critical to high; it is still root use."
    ));
    let a = alert_for(
        &[("KNOWN_SOURCE_CIDRS", "10.0.0.0/8")],
        fixture("signin-root-success-mfa.json"),
    );
    assert!(fact(&a, "Source network")
        .unwrap()
        .contains("none of the known networks"));
}

#[test]
fn evidence_never_carries_secrets() {
    let mut v = fixture("root-create-access-key.json");
    v["detail"]["responseElements"]["accessKey"]["secretAccessKey"] =
        json!("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    v["detail"]["eventName"] = json!("GetSessionToken");
    v["detail"]["responseElements"]["credentials"] = json!({"accessKeyId": "ASIAEXAMPLE", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "expiration": "Aug 2, 2024 1:33:28 AM"});
    let a = alert_for(&[], v);
    let rendered = a.render();
    assert!(!rendered.message.contains("wJalrXUtnFEMI"));
    assert!(!rendered.message.contains("IQoJb3JpZ2luX2VjEXAMPLE"));
    assert!(rendered.message.contains("[redacted]"));
    assert!(rendered.message.contains("ASIAEXAMPLE"));
}

#[test]
fn account_alias_is_in_subject_and_body() {
    let cfg = config::<RootActivity>(&[("ACCOUNT_ALIAS", "prod-payments")]);
    let p = Payload::from_value(fixture("signin-root-success-no-mfa.json")).unwrap();
    let o = plan_offline::<RootActivity>(&cfg, &p);
    let a = &o.alerts[0];
    assert_eq!(
        a.subject(),
        "[CRITICAL] [dry-run] Root user signed in to the console without MFA (prod-payments \
         123456789012)"
    );
    assert!(a
        .text()
        .contains("Account:     123456789012 (prod-payments)"));
    assert!(a.summary.contains("123456789012 (prod-payments)"));
}

#[test]
fn an_offline_plan_marks_the_subject_dry_run() {
    let p = Payload::from_value(fixture("signin-root-success-mfa.json")).unwrap();
    let o = plan_offline::<RootActivity>(&config::<RootActivity>(&[]), &p);
    let s = o.alerts[0].subject();
    assert!(s.starts_with("[HIGH] [dry-run] "), "{s}");
}

// --- centralized root access (issue 15) --------------------------------------------------

#[test]
fn centralized_task_session_is_worded_as_a_task_not_a_password() {
    let a = alert_for(&[], fixture("root-centralized-delete-login-profile.json"));
    assert_eq!(a.detection, "root-centralized-task");
    assert_eq!(
        a.subject(),
        "[HIGH] Centralized root task session: DeleteLoginProfile (iam) (123456789012)"
    );
    for said in [
        "centralized root access task session in account 123456789012",
        "obtained with sts:AssumeRoot",
        "there is no root password to reset",
        "look in the management account's CloudTrail",
        "AssumeRoot with requestParameters.targetPrincipal 123456789012 and \
         responseElements.credentials.accessKeyId ASIAEXAMPLETASKSESN2",
    ] {
        assert!(
            a.summary.contains(said),
            "missing {said:?} in {}",
            a.summary
        );
    }
    // Not the advice for someone holding the root password.
    assert!(!a.summary.contains("secure the root user (password, MFA)"));
    assert!(!a.summary.contains("reset the root password"));
    assert_eq!(
        fact(&a, "Root session"),
        Some(
            "centralized root access: a task session issued by sts:AssumeRoot, not the root \
             password"
        )
    );
    assert!(fact(&a, "Task policy")
        .unwrap()
        .starts_with("probably IAMDeleteRootUserCredentials"));
    assert!(fact(&a, "Assumed by").unwrap().starts_with("not recorded"));
    assert_eq!(fact(&a, "Session issued"), Some("2024-11-20T16:41:37Z"));
    assert_eq!(
        fact(&a, "Credentials"),
        Some("ASIAEXAMPLETASKSESN2 (temporary: root task session issued by sts:AssumeRoot)")
    );
    assert!(a.references.iter().any(|r| r.contains("sts:AssumeRoot")));
}

#[test]
fn centralized_session_names_who_assumed_it_when_recorded() {
    let mut v = fixture("root-centralized-delete-login-profile.json");
    v["detail"]["userIdentity"]["sessionContext"]["sourceIdentity"] =
        json!("jordan.lee@example.com");
    let a = alert_for(&[], v);
    assert_eq!(
        fact(&a, "Assumed by"),
        Some("jordan.lee@example.com (source identity of the caller's session)")
    );
    assert!(a
        .summary
        .contains("Its source identity is jordan.lee@example.com."));
}

#[test]
fn centralized_credential_change_stays_critical_with_task_advice() {
    let mut v = fixture("root-centralized-delete-login-profile.json");
    v["detail"]["eventName"] = json!("CreateLoginProfile");
    let a = alert_for(&[], v);
    assert_eq!(a.detection, "root-credential-change");
    assert_eq!(
        a.subject(),
        "[CRITICAL] Root user credential change: CreateLoginProfile (root task session) \
         (123456789012)"
    );
    assert!(a.summary.contains("which creates a console password"));
    assert!(a.summary.contains("not with this account's root password"));
    assert!(a
        .summary
        .contains("treat the principal that called AssumeRoot as compromised"));
    assert!(!a.summary.contains("secure the root user (password, MFA)"));
    assert!(fact(&a, "Task policy")
        .unwrap()
        .starts_with("probably IAMCreateRootUserPassword"));
}

#[test]
fn assume_root_says_who_which_account_and_which_task() {
    let a = alert_for(&[], fixture("root-assume-root-by-management-account.json"));
    assert_eq!(a.detection, "root-assume-root");
    assert_eq!(
        a.subject(),
        "[HIGH] Centralized root access to 123456789012: IAMDeleteRootUserCredentials \
         (111122223333)"
    );
    let caller = "arn:aws:sts::111122223333:assumed-role/\
                  AWSReservedSSO_OrgAdministrator_5a1b2c3d4e5f6a7b/jordan.lee@example.com";
    assert_eq!(fact(&a, "Member account"), Some("123456789012"));
    assert_eq!(
        fact(&a, "Task policy"),
        Some("arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials")
    );
    assert_eq!(fact(&a, "Called by"), Some(caller));
    assert_eq!(fact(&a, "Session duration"), Some("900 seconds"));
    assert_eq!(fact(&a, "Root session key"), Some("ASIAEXAMPLETASKSESN2"));
    assert!(a
        .summary
        .starts_with(&format!("{caller} called sts:AssumeRoot")));
    for said in [
        "received a root session for member account 123456789012",
        "limited to the task policy IAMDeleteRootUserCredentials",
        "nobody used the member account's root password",
        "limit who may call sts:AssumeRoot",
    ] {
        assert!(
            a.summary.contains(said),
            "missing {said:?} in {}",
            a.summary
        );
    }
    // The session token never reaches the alert.
    let rendered = a.render();
    assert!(!rendered.message.contains("IQoJb3JpZ2luX2VjEKv"));
    assert!(rendered.message.contains("ASIAEXAMPLETASKSESN2"));
}

#[test]
fn refused_assume_root_says_no_session_was_issued() {
    let v = refused(
        "root-assume-root-by-management-account.json",
        "AccessDenied",
        "not authorized to perform: sts:AssumeRoot",
    );
    let a = alert_for(&[], v);
    assert_eq!(
        a.title,
        "Centralized root access to 123456789012 refused: IAMDeleteRootUserCredentials"
    );
    assert!(a.summary.contains("no root session was issued"));
    assert_eq!(
        fact(&a, "Outcome"),
        Some("Failed: AccessDenied (not authorized to perform: sts:AssumeRoot)")
    );
}

// --- the handler without AWS (no topic: nothing is published) --------------------------------

fn offline_sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build()
}

#[tokio::test]
async fn handler_rejects_what_it_cannot_parse() {
    let svc = service::<RootActivity>(&offline_sdk(), &[]).await.unwrap();
    let e = invoke(&svc, &json!(["not", "an", "event"]))
        .await
        .unwrap_err();
    assert!(e.contains("found an array"), "{e}");
    let e = invoke(
        &svc,
        &json!({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": 42}}),
    )
    .await
    .unwrap_err();
    assert!(e.contains("detail.eventName"), "{e}");
}

#[tokio::test]
async fn handler_reports_ignored_events_and_unpublished_alerts() {
    let svc = service::<RootActivity>(&offline_sdk(), &[]).await.unwrap();
    let out = invoke(&svc, &fixture("root-invoked-by-service.json"))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("invokedBy"));
    assert_eq!(out["alerts"], json!([]));
    // No ALERT_TOPIC_ARN: the alert is logged only, and the outcome says so.
    let out = invoke(&svc, &fixture("signin-root-failure.json"))
        .await
        .unwrap();
    assert_eq!(out["alerts"][0]["severity"], "medium");
    assert_eq!(out["delivery"][0]["status"], "no_topic");
}
