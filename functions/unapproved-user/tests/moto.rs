//! unapproved-user against moto: real SDK calls over HTTP, results read back from IAM, S3
//! and the alert topic's SQS subscriber. Where moto lacks an IAM behaviour (the managed-policy
//! quota, service-specific credentials) the testkit's fault proxy stands in front of it.

mod support;

use aws_sdk_iam::types::StatusType;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use support::{
    add_access_key, add_login_profile, add_to_new_group, attached_policy_arns,
    create_evidence_bucket, function, has_login_profile, keys, new_user as create_user, one_alert,
    put_inline_policy, read_evidence, user_exists, vars, ALLOW_ALL, EVIDENCE_BUCKET,
};
use support::{create_session_role, ANY_CREATOR_AGE};
use tokio::task::JoinHandle;
use trailwarden::lambda::Service;
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::harness::{assert_contains, assert_starts_with, step_targets};
use trailwarden_testkit::{fixture, invoke, service, ReceivedAlert};
use unapproved_user::UnapprovedUser;
const DOC_BUCKET: &str = "security-config-123456789012";
const DOC_URI: &str = "s3://security-config-123456789012/trailwarden/approvals.json";

/// The test's account, and the function built with `extra`.
type Env = support::Env<Service<UnapprovedUser>>;

async fn setup(extra: &[(&str, &str)]) -> Env {
    let t = support::Env::start().await;
    let state = function(&t.sdk, extra, &t.inbox.topic_arn).await;
    t.with(state)
}

impl Env {
    /// Another configuration of the function against the same moto.
    async fn with(&self, extra: &[(&str, &str)]) -> Service<UnapprovedUser> {
        function(&self.sdk, extra, &self.inbox.topic_arn).await
    }

    /// The function behind a fault proxy that answers what moto does not implement (and what
    /// `rules` add).
    async fn proxied(
        &self,
        extra: &[(&str, &str)],
        rules: Vec<Rule>,
    ) -> (FaultProxy, Service<UnapprovedUser>) {
        let proxy = support::proxy(&self.moto, rules).await;
        let state = function(&proxy.sdk_config(), extra, &self.inbox.topic_arn).await;
        (proxy, state)
    }

    /// The function behind the fault proxy, with the first `operation` call held up for 3 s.
    async fn holding_up(
        &self,
        extra: &[(&str, &str)],
        operation: &str,
    ) -> (FaultProxy, Service<UnapprovedUser>) {
        let hold = Rule::first(1, operation, Fault::Delay(Duration::from_secs(3)));
        self.proxied(extra, vec![hold]).await
    }

    /// The function in quarantine mode, behind the fault proxy.
    async fn quarantining(&self) -> (FaultProxy, Service<UnapprovedUser>) {
        self.proxied(&[("RESPONSE_MODE", "quarantine")], vec![])
            .await
    }
}

/// Waits (up to 30 s) until the proxy has seen an `operation` call; panics, listing the calls
/// it saw, when none came.
async fn wait_for_call(proxy: &FaultProxy, operation: &str) {
    let waited = std::time::Instant::now();
    while proxy.count(operation) == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "no {operation}: {:?}",
            proxy
                .seen()
                .iter()
                .map(|x| x.operation.clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `state` on `event` in the background and waits until the proxy has seen (and holds
/// up) `operation`; the run, ending in the outcome, or the error and the event to deliver
/// again.
async fn run_until_held(
    state: Service<UnapprovedUser>,
    event: Value,
    proxy: &FaultProxy,
    operation: &str,
) -> JoinHandle<Result<Value, (String, Value)>> {
    let run = tokio::spawn(async move { invoke(&state, &event).await.map_err(|e| (e, event)) });
    wait_for_call(proxy, operation).await;
    run
}

/// A user with everything that blocks DeleteUser.
struct Loaded {
    user_id: String,
    arn: String,
    key_ids: Vec<String>,
    mfa_serial: String,
    ssh_key_id: String,
    certificate_id: String,
    policy_arn: String,
}

/// A new managed policy `policy` allowing `action` on everything, attached to the user; its
/// ARN.
async fn attach_new_policy(
    iam: &aws_sdk_iam::Client,
    name: &str,
    policy: &str,
    action: &str,
) -> String {
    let doc = serde_json::json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]});
    let created = iam
        .create_policy()
        .policy_name(policy)
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap();
    let arn = created.policy.unwrap().arn.unwrap();
    iam.attach_user_policy()
        .user_name(name)
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    arn
}

/// The user's tags, key to value.
async fn user_tags(iam: &aws_sdk_iam::Client, name: &str) -> HashMap<String, String> {
    let out = iam.list_user_tags().user_name(name).send().await.unwrap();
    out.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

async fn create_loaded_user(iam: &aws_sdk_iam::Client, name: &str) -> Loaded {
    let (user_id, arn) = create_user(iam, name, "/").await;
    add_login_profile(iam, name).await;
    let mut key_ids = Vec::new();
    for _ in 0..2 {
        key_ids.push(add_access_key(iam, name).await);
    }
    put_inline_policy(iam, name, "everything", ALLOW_ALL).await;
    let policy_arn =
        attach_new_policy(iam, name, &format!("{name}-ec2-read"), "ec2:Describe*").await;
    add_to_new_group(iam, name, "developers").await;
    let ssh_key_id = upload_ssh_public_key(iam, name, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0000000000000000000000 mallory@laptop").await;
    let certificate_id = add_signing_certificate(iam, name).await;
    let mfa_serial = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(format!("{name}-mfa"))
        .send()
        .await
        .unwrap()
        .virtual_mfa_device
        .unwrap()
        .serial_number;
    iam.enable_mfa_device()
        .user_name(name)
        .serial_number(&mfa_serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    Loaded {
        user_id,
        arn,
        key_ids,
        mfa_serial,
        ssh_key_id,
        certificate_id,
        policy_arn,
    }
}

/// A user `name` with everything that blocks DeleteUser, and the `file` event creating it.
async fn loaded_user_event(iam: &aws_sdk_iam::Client, name: &str, file: &str) -> (Loaded, Value) {
    let u = create_loaded_user(iam, name).await;
    let event = event_for(file, &u.user_id, &u.arn);
    (u, event)
}

/// `mallory`, with everything that blocks DeleteUser, and the event of an IAM user creating
/// it.
async fn loaded_mallory(iam: &aws_sdk_iam::Client) -> (Loaded, Value) {
    loaded_user_event(iam, "mallory", "iam-create-user-by-iam-user.json").await
}

/// The test's account and function built with `extra`, and [`loaded_mallory`].
async fn setup_with_mallory(extra: &[(&str, &str)]) -> (Env, Loaded, Value) {
    let t = setup(extra).await;
    let (u, event) = loaded_mallory(&t.iam).await;
    (t, u, event)
}

/// The test's account, and `backup-operator`, with everything that blocks DeleteUser, and the
/// event of a role creating it.
async fn setup_with_role_created_user() -> (Env, Loaded, Value) {
    let t = setup(&[]).await;
    let (u, event) = loaded_user_event(
        &t.iam,
        "backup-operator",
        "iam-create-user-by-assumed-role.json",
    )
    .await;
    (t, u, event)
}

/// The fixture, with the user id moto gave the user (CloudTrail would log the real one).
fn event_for(file: &str, user_id: &str, arn: &str) -> Value {
    let mut ev = fixture(file);
    let user = &mut ev["detail"]["responseElements"]["user"];
    user["userId"] = Value::String(user_id.into());
    user["arn"] = Value::String(arn.into());
    ev
}

/// (status, detail) of the one action with this step (and target, when given).
fn step<'a>(actions: &'a Value, name: &str, target: Option<&str>) -> (&'a str, &'a str) {
    let found: Vec<&Value> = actions
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["step"] == name && target.is_none_or(|t| a["target"] == t))
        .collect();
    assert_eq!(found.len(), 1, "{name} {target:?} in {actions:#}");
    (
        found[0]["status"].as_str().unwrap(),
        found[0]["detail"].as_str().unwrap_or(""),
    )
}

fn status<'a>(alert: &'a ReceivedAlert, name: &str) -> &'a str {
    step(&alert.body["actions"], name, None).0
}

fn detail<'a>(alert: &'a ReceivedAlert, name: &str) -> &'a str {
    step(&alert.body["actions"], name, None).1
}

/// The status of each of the user's SSH public keys.
async fn ssh_key_statuses(iam: &aws_sdk_iam::Client, name: &str) -> Vec<StatusType> {
    let list = iam.list_ssh_public_keys().user_name(name).send().await;
    let keys = list.unwrap().ssh_public_keys.unwrap_or_default();
    keys.into_iter().map(|k| k.status).collect()
}

/// The status of each of the user's signing certificates.
async fn certificate_statuses(iam: &aws_sdk_iam::Client, name: &str) -> Vec<StatusType> {
    let req = iam.list_signing_certificates().user_name(name);
    let certificates = req.send().await.unwrap().certificates;
    certificates.into_iter().map(|c| c.status).collect()
}

/// How many MFA devices the user has enabled.
async fn mfa_devices(iam: &aws_sdk_iam::Client, name: &str) -> usize {
    let list = iam.list_mfa_devices().user_name(name).send().await;
    list.unwrap().mfa_devices.len()
}

/// The quarantine's steps.
const QUARANTINE_STEPS: [&str; 7] = [
    "DenyAll",
    "DeleteLoginProfile",
    "DeactivateAccessKeys",
    "DeactivateSSHPublicKeys",
    "DeactivateSigningCertificates",
    "DeactivateMFADevices",
    "TagUser",
];

#[tokio::test]
async fn delete_removes_everything_and_the_alert_lists_every_step() {
    let (t, u, event) = setup_with_mallory(&[]).await;

    let out = invoke(&t.state, &event)
        .await
        .expect("the deletion completes");
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved IAM user mallory deleted"
    );

    assert!(!user_exists(&t.iam, "mallory").await);
    let group = t
        .iam
        .get_group()
        .group_name("developers")
        .send()
        .await
        .unwrap();
    assert!(group.users().is_empty(), "mallory left in developers");
    let virtual_devices = t.iam.list_virtual_mfa_devices().send().await.unwrap();
    assert!(
        !virtual_devices
            .virtual_mfa_devices()
            .iter()
            .any(|d| d.serial_number() == u.mfa_serial),
        "virtual MFA device left behind"
    );
    let policy = t
        .iam
        .get_policy()
        .policy_arn(&u.policy_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(policy.policy().unwrap().attachment_count(), Some(0));

    let alert = one_alert(&t.inbox).await;
    assert_starts_with(
        &alert.subject,
        "[CRITICAL] Unapproved IAM user mallory deleted",
    );
    assert_eq!(alert.attributes["severity"], "critical");
    for name in [
        "CaptureEvidence",
        "DeleteLoginProfile",
        "DeleteAccessKeys",
        "DeleteSigningCertificates",
        "DeleteSSHPublicKeys",
        "DeactivateMFADevices",
        "DeleteUserPolicies",
        "DetachUserPolicies",
        "RemoveUserFromGroups",
        "DeleteUser",
    ] {
        assert_eq!(status(&alert, name), "done", "{name}");
    }
    // Each step says what it did to each item.
    for k in &u.key_ids {
        assert!(detail(&alert, "DeleteAccessKeys").contains(&format!("{k} deleted")));
    }
    assert!(detail(&alert, "DeleteSSHPublicKeys").contains(&u.ssh_key_id));
    assert!(detail(&alert, "DeleteSigningCertificates").contains(&u.certificate_id));
    assert!(detail(&alert, "DeactivateMFADevices")
        .contains(&format!("virtual device {} deleted", u.mfa_serial)));
    assert!(detail(&alert, "DeleteUserPolicies").contains("everything deleted"));
    assert!(detail(&alert, "DetachUserPolicies").contains(&u.policy_arn));
    assert!(detail(&alert, "RemoveUserFromGroups").contains("developers"));
    // moto answers ListServiceSpecificCredentials with HTTP 500: the alert says so, and
    // that it did not matter because DeleteUser succeeded.
    let (st, why) = step(
        &alert.body["actions"],
        "DeleteServiceSpecificCredentials",
        Some("mallory"),
    );
    assert_eq!(st, "skipped");
    assert!(why.contains("500"), "{why}");
    assert!(why.contains("DeleteUser succeeded"), "{why}");
    let names: Vec<&str> = alert.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["step"].as_str().unwrap())
        .collect();
    assert_eq!(names.last(), Some(&"DeleteUser"));

    // Who, from where, why, and what the user held.
    let facts = &alert.body["facts"];
    assert_eq!(facts["Created by"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(
        facts["Approval"],
        "not approved: created by arn:aws:iam::123456789012:user/alice; no approved creators \
         are configured; no approved user-name patterns are configured; no approved path \
         prefixes are configured"
    );
    let creds = facts["Credentials before response"].as_str().unwrap();
    assert!(creds.contains("console password"), "{creds}");
    for k in &u.key_ids {
        assert!(creds.contains(k.as_str()), "{creds}");
    }
    assert!(facts["Administrator-level access before response"]
        .as_str()
        .unwrap()
        .contains("inline policy everything"));
    assert_eq!(alert.body["event"]["source_ip"], "198.51.100.23");
    assert_eq!(
        alert.body["event"]["event_id"],
        "3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f"
    );
    let ev = &alert.body["evidence"];
    assert_eq!(ev["access_keys"].as_array().unwrap().len(), 2);
    assert_eq!(
        ev["inline_policies"][0]["document"]["Statement"][0]["Action"],
        "*"
    );
    assert_eq!(ev["groups"][0]["name"], "developers");
    assert_eq!(ev["mfa_devices"][0]["serial_number"], u.mfa_serial.as_str());
    assert!(ev["attached_policies"][0]["document"]["Statement"].is_array());
    assert!(!ev.to_string().contains("Corr3ct-Horse"), "a secret leaked");
    drop(t.moto);
}

/// Issue 14: the dry-run plan and the steps a live run executes are the same list, in every
/// mode.
#[tokio::test]
async fn the_dry_run_plan_and_the_live_run_walk_the_same_steps() {
    let t = setup(&[]).await;
    for (i, mode) in ["delete", "quarantine", "notify"].into_iter().enumerate() {
        let name = format!("mallory{i}");
        let (id, arn) = create_user(&t.iam, &name, "/").await;
        add_access_key(&t.iam, &name).await;
        let mut event = event_for("iam-create-user-by-iam-user.json", &id, &arn);
        event["detail"]["requestParameters"]["userName"] = name.clone().into();
        event["detail"]["responseElements"]["user"]["userName"] = name.clone().into();
        let common = [
            ("RESPONSE_MODE", mode),
            ("EVIDENCE_BUCKET", EVIDENCE_BUCKET),
        ];
        let _ = t.s3.create_bucket().bucket(EVIDENCE_BUCKET).send().await;
        let mut dry_vars = common.to_vec();
        dry_vars.push(("DRY_RUN", "true"));
        let (_dry_proxy, dry_state) = t.proxied(&dry_vars, vec![]).await;
        let dry = invoke(&dry_state, &event).await.expect("dry run");
        assert_eq!(dry["dry_run"], true);
        assert!(user_exists(&t.iam, &name).await);
        let (_live_proxy, live_state) = t.proxied(&common, vec![]).await;
        let live = invoke(&live_state, &event).await.expect("live run");
        assert_eq!(live["dry_run"], false);
        assert!(!step_targets(&dry).is_empty());
        assert_eq!(step_targets(&dry), step_targets(&live), "{mode}");
        // The dry run held back every changing step; the live run carried them out.
        for s in dry["steps"].as_array().unwrap() {
            let changing = s["step"] != "CaptureEvidence" && s["step"] != "NoChange";
            if changing {
                assert_eq!(s["status"], "planned", "{mode}: {s}");
            }
        }
        assert!(live["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] != "planned"));
        t.inbox.drain().await.unwrap();
    }
    drop(t.moto);
}

#[tokio::test]
async fn the_same_event_twice_succeeds() {
    let (t, _, event) = setup_with_mallory(&[]).await;
    invoke(&t.state, &event).await.expect("first delivery");
    let first = one_alert(&t.inbox).await;
    assert_eq!(status(&first, "DeleteUser"), "done");

    let out = invoke(&t.state, &event)
        .await
        .expect("second delivery succeeds");
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved IAM user mallory already gone"
    );
    let second = one_alert(&t.inbox).await;
    assert_eq!(status(&second, "CaptureEvidence"), "already_done");
    assert_eq!(status(&second, "DeleteUser"), "skipped");
    assert!(second.body["summary"]
        .as_str()
        .unwrap()
        .contains("no longer exists"));
    drop(t.moto);
}

#[tokio::test]
async fn quarantine_denies_everything_deactivates_every_credential_and_is_repeatable() {
    let (t, u, event) = setup_with_role_created_user().await;
    let (_proxy, state) = t.quarantining().await;

    invoke(&state, &event).await.expect("quarantine completes");
    assert!(user_exists(&t.iam, "backup-operator").await);
    let attached = attached_policy_arns(&t.iam, "backup-operator").await;
    assert!(attached
        .iter()
        .any(|p| p == "arn:aws:iam::aws:policy/AWSDenyAll"));
    let k = keys(&t.iam, "backup-operator").await;
    assert_eq!(k.len(), 2);
    assert!(k.iter().all(|(_, s)| *s == StatusType::Inactive));
    assert!(
        !has_login_profile(&t.iam, "backup-operator").await,
        "console password still there"
    );
    assert!(ssh_key_statuses(&t.iam, "backup-operator")
        .await
        .iter()
        .all(|s| *s == StatusType::Inactive));
    assert!(certificate_statuses(&t.iam, "backup-operator")
        .await
        .iter()
        .all(|s| *s == StatusType::Inactive));
    assert_eq!(
        mfa_devices(&t.iam, "backup-operator").await,
        0,
        "MFA device still active"
    );
    let tags = user_tags(&t.iam, "backup-operator").await;
    assert!(tags.contains_key("trailwarden:quarantined"), "{tags:?}");
    assert_eq!(
        tags["trailwarden:event-id"],
        "c1f0e9d8-7b6a-4c5d-9e3f-2a1b0c9d8e7f"
    );
    assert!(tags["trailwarden:reason"].contains("arn:aws:iam::123456789012:role/DevOpsAdmin"));
    // The evidence stays in place: policies and group are untouched.
    let groups = t
        .iam
        .list_groups_for_user()
        .user_name("backup-operator")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.groups().len(), 1);

    let alert = one_alert(&t.inbox).await;
    assert_starts_with(
        &alert.subject,
        "[CRITICAL] Unapproved IAM user backup-operator quarantined",
    );
    for name in QUARANTINE_STEPS {
        assert_eq!(status(&alert, name), "done", "{name}");
    }
    assert!(
        detail(&alert, "DenyAll").contains("AttachUserPolicy arn:aws:iam::aws:policy/AWSDenyAll")
    );
    for k in &u.key_ids {
        assert!(detail(&alert, "DeactivateAccessKeys").contains(&format!("{k} set Inactive")));
    }
    assert!(alert.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["step"] != "DeleteUser"));

    invoke(&state, &event)
        .await
        .expect("a second delivery succeeds");
    let again = one_alert(&t.inbox).await;
    for name in QUARANTINE_STEPS {
        assert_eq!(status(&again, name), "already_done", "{name}");
    }
    drop(t.moto);
}

/// The user's owner forges the marks of a quarantine before it runs: an inline policy with
/// the quarantine's name that allows everything, and the quarantine tag. Neither is taken for
/// the real thing: AWSDenyAll is attached and the user tagged with this event.
#[tokio::test]
async fn a_forged_quarantine_policy_or_tag_does_not_stop_the_quarantine() {
    let (t, _, event) = setup_with_role_created_user().await;
    t.iam
        .put_user_policy()
        .user_name("backup-operator")
        .policy_name("trailwarden-quarantine-deny-all")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    t.iam
        .tag_user()
        .user_name("backup-operator")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("trailwarden:quarantined")
                .value("2020-01-01T00:00:00Z")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (_proxy, state) = t.quarantining().await;
    let out = invoke(&state, &event).await.expect("quarantine completes");
    let attached = attached_policy_arns(&t.iam, "backup-operator").await;
    assert!(
        attached
            .iter()
            .any(|p| p == "arn:aws:iam::aws:policy/AWSDenyAll"),
        "{attached:?}"
    );
    assert_eq!(step(&out["steps"], "DenyAll", None).0, "done");
    let tags = user_tags(&t.iam, "backup-operator").await;
    assert_eq!(
        tags["trailwarden:event-id"], "c1f0e9d8-7b6a-4c5d-9e3f-2a1b0c9d8e7f",
        "{tags:?}"
    );
    assert_ne!(tags["trailwarden:quarantined"], "2020-01-01T00:00:00Z");
    drop(t.moto);
}

/// Issue 15: a user that already has 10 managed policies cannot be given AWSDenyAll
/// (LimitExceeded, as IAM answers; moto does not enforce the quota, so the fault proxy
/// answers for it): the quarantine falls back to an inline deny-all policy and still
/// deactivates every credential type.
#[tokio::test]
async fn quarantine_of_a_user_with_ten_managed_policies_falls_back_to_an_inline_deny_all() {
    let t = setup(&[]).await;
    let u = create_loaded_user(&t.iam, "backup-operator").await;
    for i in 0..9 {
        let filler = format!("filler-{i}");
        attach_new_policy(&t.iam, "backup-operator", &filler, "s3:ListAllMyBuckets").await;
    }
    let attached = attached_policy_arns(&t.iam, "backup-operator").await;
    assert_eq!(attached.len(), 10);
    let event = event_for("iam-create-user-by-assumed-role.json", &u.user_id, &u.arn);
    let ssc = r#"<ListServiceSpecificCredentialsResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListServiceSpecificCredentialsResult><ServiceSpecificCredentials><member><UserName>backup-operator</UserName><Status>Active</Status><ServiceUserName>backup-operator-at-123456789012</ServiceUserName><CreateDate>2024-08-02T09:20:00Z</CreateDate><ServiceSpecificCredentialId>ACCA4EXAMPLECODECOMM1</ServiceSpecificCredentialId><ServiceName>codecommit.amazonaws.com</ServiceName></member></ServiceSpecificCredentials><IsTruncated>false</IsTruncated></ListServiceSpecificCredentialsResult><ResponseMetadata><RequestId>faultproxy-canned</RequestId></ResponseMetadata></ListServiceSpecificCredentialsResponse>"#;
    let updated = r#"<UpdateServiceSpecificCredentialResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ResponseMetadata><RequestId>faultproxy-canned</RequestId></ResponseMetadata></UpdateServiceSpecificCredentialResponse>"#;
    let (proxy, state) = t
        .proxied(
            &[("RESPONSE_MODE", "quarantine")],
            vec![
                Rule::always("AttachUserPolicy", Fault::error(409, "LimitExceeded")),
                Rule::always(
                    "ListServiceSpecificCredentials",
                    Fault::Canned {
                        status: 200,
                        body: ssc.into(),
                    },
                ),
                Rule::always(
                    "UpdateServiceSpecificCredential",
                    Fault::Canned {
                        status: 200,
                        body: updated.into(),
                    },
                ),
            ],
        )
        .await;

    let out = invoke(&state, &event)
        .await
        .expect("the quarantine completes with the inline policy");
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved IAM user backup-operator quarantined"
    );
    let (st, why) = step(&out["steps"], "DenyAll", None);
    assert_eq!(st, "done");
    assert!(why.contains("LimitExceeded"), "{why}");
    assert!(
        why.contains("PutUserPolicy trailwarden-quarantine-deny-all"),
        "{why}"
    );
    let doc = t
        .iam
        .get_user_policy()
        .user_name("backup-operator")
        .policy_name("trailwarden-quarantine-deny-all")
        .send()
        .await
        .expect("the inline deny-all policy is in place");
    let doc = unapproved_user::evidence::decode_policy_document(doc.policy_document());
    assert_eq!(doc["Statement"][0]["Effect"], "Deny");
    assert_eq!(doc["Statement"][0]["Action"], "*");
    assert_eq!(doc["Statement"][0]["Resource"], "*");
    // Every credential type is deactivated.
    assert!(keys(&t.iam, "backup-operator")
        .await
        .iter()
        .all(|(_, s)| *s == StatusType::Inactive));
    assert!(!has_login_profile(&t.iam, "backup-operator").await);
    assert_eq!(
        ssh_key_statuses(&t.iam, "backup-operator").await[0],
        StatusType::Inactive
    );
    assert_eq!(
        certificate_statuses(&t.iam, "backup-operator").await[0],
        StatusType::Inactive
    );
    assert_eq!(mfa_devices(&t.iam, "backup-operator").await, 0);
    assert_eq!(proxy.count("UpdateServiceSpecificCredential"), 1);
    let (st, why) = step(&out["steps"], "DeactivateServiceSpecificCredentials", None);
    assert_eq!(st, "done");
    assert!(why.contains("ACCA4EXAMPLECODECOMM1"), "{why}");
    // A second delivery finds the inline policy in place.
    let again = invoke(&state, &event).await.expect("second delivery");
    assert_eq!(step(&again["steps"], "DenyAll", None).0, "already_done");
    drop(t.moto);
}

/// Issue 15: renaming the user right after CreateUser does not save it: it is found by its
/// unique id and deleted under its new name.
/// How the fault proxy names the evidence upload of the fixture's event (S3's REST calls are
/// named by method and path).
const EVIDENCE_PUT: &str = "PUT /trailwarden-evidence-123456789012/trailwarden/evidence/123456789012/mallory/3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f.json";

/// The user renamed away *after* it was captured, and another user (a break-glass one)
/// renamed to its old name, while the plan runs (here: while the evidence is being written,
/// held up by the proxy). Every later step checks the name still belongs to the user captured:
/// the renamed user is followed and deleted, the other user keeps everything.
#[tokio::test]
async fn a_name_swapped_after_capture_is_not_acted_on_and_the_user_is_followed() {
    let (t, u, event) = setup_with_mallory(&[]).await;
    let (victim_id, _) = create_loaded_user_named(&t.iam, "breakglass").await;
    add_login_profile(&t.iam, "breakglass").await;
    create_evidence_bucket(&t.s3).await;
    let (proxy, state) = t
        .holding_up(&[("EVIDENCE_BUCKET", EVIDENCE_BUCKET)], EVIDENCE_PUT)
        .await;
    // The evidence is being written: the capture is over, no user has been changed yet.
    let run = run_until_held(state, event, &proxy, EVIDENCE_PUT).await;
    for (from, to) in [("mallory", "mallory-2"), ("breakglass", "mallory")] {
        rename(&t.iam, from, to).await;
    }
    let out = run.await.unwrap().expect("the deletion completes");
    // The user now named mallory is the break-glass user, untouched.
    let now = t.iam.get_user().user_name("mallory").send().await.unwrap();
    assert_eq!(now.user.unwrap().user_id(), victim_id);
    assert!(has_login_profile(&t.iam, "mallory").await, "{out:#}");
    assert_eq!(keys(&t.iam, "mallory").await.len(), 1, "{out:#}");
    // The unapproved user, under its new name, is deleted.
    assert!(!user_exists(&t.iam, "mallory-2").await, "{out:#}");
    assert_eq!(step(&out["steps"], "DeleteUser", None).0, "done", "{out:#}");
    let alert = one_alert(&t.inbox).await;
    assert_eq!(
        alert.body["evidence"]["user"]["user_id"],
        u.user_id.as_str()
    );
    drop(t.moto);
}

#[tokio::test]
async fn a_user_renamed_right_after_creation_is_followed_and_deleted() {
    let (t, u, event) = setup_with_mallory(&[]).await;
    rename(&t.iam, "mallory", "mallory-renamed").await;

    let out = invoke(&t.state, &event)
        .await
        .expect("the deletion completes");
    assert!(!user_exists(&t.iam, "mallory-renamed").await);
    assert!(!user_exists(&t.iam, "mallory").await);
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved IAM user mallory (renamed to mallory-renamed) deleted"
    );
    let (st, why) = step(&out["steps"], "CaptureEvidence", Some("mallory"));
    assert_eq!(st, "done");
    assert!(
        why.contains("renamed from mallory to mallory-renamed"),
        "{why}"
    );
    assert!(why.contains(&u.user_id), "{why}");
    assert_eq!(step(&out["steps"], "DeleteUser", None).0, "done");
    let alert = one_alert(&t.inbox).await;
    assert_eq!(alert.body["facts"]["Renamed to"], "mallory-renamed");
    assert_eq!(alert.body["evidence"]["user"]["name"], "mallory-renamed");
    assert_eq!(
        alert.body["evidence"]["user"]["user_id"],
        u.user_id.as_str()
    );

    // Renamed, and the old name taken by a new user: the event's user is still the one acted
    // on, and the newcomer is left alone.
    let v = create_loaded_user_named(&t.iam, "eve").await;
    let event = event_for("iam-create-user-by-iam-user.json", &v.0, &v.1);
    let mut event = event;
    event["detail"]["requestParameters"]["userName"] = "eve".into();
    event["detail"]["responseElements"]["user"]["userName"] = "eve".into();
    rename(&t.iam, "eve", "eve-2").await;
    let (newcomer, _) = create_user(&t.iam, "eve", "/").await;
    invoke(&t.state, &event).await.expect("completes");
    assert!(!user_exists(&t.iam, "eve-2").await);
    let still = t.iam.get_user().user_name("eve").send().await.unwrap();
    assert_eq!(still.user().unwrap().user_id(), newcomer);
    drop(t.moto);
}

async fn create_loaded_user_named(iam: &aws_sdk_iam::Client, name: &str) -> (String, String) {
    let (id, arn) = create_user(iam, name, "/").await;
    add_access_key(iam, name).await;
    (id, arn)
}

#[tokio::test]
async fn dry_run_reports_the_plan_and_changes_nothing() {
    let (t, _, event) = setup_with_mallory(&[("DRY_RUN", "true")]).await;
    let out = invoke(&t.state, &event).await.unwrap();
    assert_eq!(out["dry_run"], true);

    assert!(user_exists(&t.iam, "mallory").await);
    assert_eq!(keys(&t.iam, "mallory").await.len(), 2);
    assert!(has_login_profile(&t.iam, "mallory").await);

    let alert = one_alert(&t.inbox).await;
    assert_contains(&alert.subject, "[dry-run]");
    assert_eq!(alert.body["dry_run"], true);
    assert_eq!(
        status(&alert, "DeleteUser"),
        "planned",
        "the plan is listed"
    );
    // Capturing evidence only reads, so a dry run does it (and reports what it found).
    assert_eq!(status(&alert, "CaptureEvidence"), "done");
    assert_eq!(alert.attributes["severity"], "critical");
    assert!(alert.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["step"] != "CaptureEvidence")
        .all(|a| a["status"] == "planned"));
    drop(t.moto);
}

/// Issue 15: approved users are never touched but produce an informational alert, which
/// MIN_SEVERITY filters.
#[tokio::test]
async fn approved_user_is_untouched_and_reported_at_info() {
    let approval = (
        "APPROVED_CREATOR_ARNS",
        "arn:aws:iam::123456789012:role/terraform-deployer",
    );
    let t = setup(&[approval, ANY_CREATOR_AGE]).await;
    let (id, arn) = create_user(&t.iam, "svc-reporting", "/service-accounts/").await;
    add_access_key(&t.iam, "svc-reporting").await;
    let mut event = event_for("iam-create-user-by-approved-creator.json", &id, &arn);
    create_session_role(&t.iam, &mut event).await;
    let out = invoke(&t.state, &event).await.unwrap();
    assert!(out.get("steps").is_none(), "{out:#}");
    assert!(user_exists(&t.iam, "svc-reporting").await);
    assert_eq!(keys(&t.iam, "svc-reporting").await[0].1, StatusType::Active);
    let alert = one_alert(&t.inbox).await;
    assert_eq!(alert.attributes["severity"], "info");
    let summary = alert.body["summary"].as_str().unwrap();
    assert!(summary.contains("terraform-run-8841"), "{summary}");
    assert!(summary.contains("approved creator pattern"), "{summary}");

    let quiet = t
        .with(&[approval, ANY_CREATOR_AGE, ("MIN_SEVERITY", "low")])
        .await;
    let out = invoke(&quiet, &event).await.unwrap();
    assert_eq!(out["delivery"][0]["status"], "below_threshold");
    assert!(t.inbox.drain().await.unwrap().is_empty());
    drop(t.moto);
}

/// The chain an approved user path allows: an unapproved principal creates a user under the
/// path, and that user creates another in the seconds before its own response. The creator
/// matches the approved pattern but is seconds old, so its user is deleted, and the alert
/// says why; the same creator, judged with no minimum age, approves.
#[tokio::test]
async fn a_user_made_by_a_creator_seconds_old_is_not_approved() {
    let approval = (
        "APPROVED_CREATOR_ARNS",
        "arn:aws:iam::123456789012:user/admins/*",
    );
    let t = setup(&[approval]).await;
    let (creator_id, creator_arn) = create_user(&t.iam, "fresh-admin", "/admins/").await;
    let (id, arn) = create_user(&t.iam, "helper", "/").await;
    let mut event = event_for("iam-create-user-by-iam-user.json", &id, &arn);
    let detail = &mut event["detail"];
    detail["eventTime"] =
        Value::String(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    detail["requestParameters"]["userName"] = Value::String("helper".into());
    detail["responseElements"]["user"]["userName"] = Value::String("helper".into());
    detail["responseElements"]["user"]["path"] = Value::String("/".into());
    let who = &mut detail["userIdentity"];
    who["principalId"] = Value::String(creator_id);
    who["arn"] = Value::String(creator_arn);
    who["userName"] = Value::String("fresh-admin".into());

    let any_age = t
        .with(&[approval, ANY_CREATOR_AGE, ("DRY_RUN", "true")])
        .await;
    let out = invoke(&any_age, &event).await.unwrap();
    assert_eq!(out["alerts"][0]["severity"], "info", "{out:#}");
    t.inbox.drain().await.unwrap();

    let out = invoke(&t.state, &event).await.unwrap();
    assert_eq!(step(&out["steps"], "DeleteUser", None).0, "done", "{out:#}");
    assert!(!user_exists(&t.iam, "helper").await);
    assert!(user_exists(&t.iam, "fresh-admin").await);
    let alert = one_alert(&t.inbox).await;
    assert_eq!(alert.attributes["severity"], "high");
    let summary = alert.body["summary"].as_str().unwrap();
    assert_contains(summary, "matches approved creator pattern \"arn:aws:iam::123456789012:user/admins/*\" but was itself created");
    assert_contains(summary, "APPROVED_CREATOR_MIN_AGE_MINUTES");
    drop(t.moto);
}

#[tokio::test]
async fn evidence_is_written_to_s3_and_never_overwritten() {
    let t = setup(&[("EVIDENCE_BUCKET", EVIDENCE_BUCKET)]).await;
    create_evidence_bucket(&t.s3).await;
    let (u, event) = loaded_mallory(&t.iam).await;
    invoke(&t.state, &event).await.unwrap();

    let key = "trailwarden/evidence/123456789012/mallory/3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f.json";
    let read = || read_evidence(&t.s3, key);
    let stored = read().await;
    assert_eq!(stored["schema"], "trailwarden.evidence/v1");
    assert_eq!(stored["user"]["name"], "mallory");
    assert_eq!(stored["user"]["user_id"], u.user_id.as_str());
    let ids: Vec<&str> = stored["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["access_key_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    for k in &u.key_ids {
        assert!(ids.contains(&k.as_str()));
    }
    assert!(stored["login_profile"]["create_date"].is_string());
    assert_eq!(
        stored["event"]["eventID"],
        "3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f"
    );
    assert!(stored["approval"].as_str().unwrap().contains("alice"));
    assert!(stored["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["what"] == "ListServiceSpecificCredentials"));

    let alert = one_alert(&t.inbox).await;
    let uri = format!("s3://{EVIDENCE_BUCKET}/{key}");
    assert_eq!(alert.body["facts"]["Evidence stored"], uri.as_str());
    assert_eq!(
        step(&alert.body["actions"], "PutEvidence", Some(&uri)).0,
        "done"
    );

    // A redelivery finds the user gone and keeps the first, full evidence.
    invoke(&t.state, &event).await.unwrap();
    assert_eq!(read().await, stored);
    drop(t.moto);
}

#[tokio::test]
async fn notify_mode_alerts_with_evidence_and_changes_nothing() {
    let (t, _, event) = setup_with_mallory(&[("RESPONSE_MODE", "notify")]).await;
    invoke(&t.state, &event).await.unwrap();
    assert!(user_exists(&t.iam, "mallory").await);
    assert!(keys(&t.iam, "mallory")
        .await
        .iter()
        .all(|(_, s)| *s == StatusType::Active));
    let alert = one_alert(&t.inbox).await;
    assert_eq!(alert.body["title"], "Unapproved IAM user mallory created");
    assert_eq!(status(&alert, "NoChange"), "skipped");
    assert_eq!(
        alert.body["evidence"]["access_keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    drop(t.moto);
}

#[tokio::test]
async fn a_user_recreated_under_the_same_name_is_left_alone() {
    let t = setup(&[]).await;
    let (id, arn) = create_user(&t.iam, "mallory", "/").await;
    // The event is about an earlier mallory (the fixture's id), since deleted and re-created.
    let event = fixture("iam-create-user-by-iam-user.json");
    assert_ne!(
        event["detail"]["responseElements"]["user"]["userId"],
        id.as_str()
    );
    invoke(&t.state, &event).await.unwrap();
    let still = t.iam.get_user().user_name("mallory").send().await.unwrap();
    assert_eq!(still.user().unwrap().arn(), arn);
    let alert = one_alert(&t.inbox).await;
    assert_eq!(
        alert.body["title"],
        "Unapproved IAM user mallory already gone (name reused)"
    );
    assert_eq!(status(&alert, "CaptureEvidence"), "skipped");
    assert_eq!(status(&alert, "DeleteUser"), "skipped");
    drop(t.moto);
}

async fn put_document(s3: &aws_sdk_s3::Client, body: &[u8]) {
    s3.create_bucket().bucket(DOC_BUCKET).send().await.unwrap();
    s3.put_object()
        .bucket(DOC_BUCKET)
        .key("trailwarden/approvals.json")
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn approval_document_in_s3_extends_the_lists() {
    let t = setup(&[("APPROVAL_DOCUMENT_URI", DOC_URI)]).await;
    put_document(
        &t.s3,
        br#"{"userPatterns": ["backup-*"], "pathPrefixes": [], "creatorArns": []}"#,
    )
    .await;
    let (id, arn) = create_user(&t.iam, "backup-operator", "/").await;
    let event = event_for("iam-create-user-by-assumed-role.json", &id, &arn);
    let out = invoke(&t.state, &event).await.unwrap();
    assert!(out.get("steps").is_none(), "{out:#}");
    assert_eq!(out["alerts"][0]["severity"], "low", "approved by name only");
    assert!(out["alerts"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("user name \"backup-operator\" matches approved user pattern \"backup-*\""));
    assert!(user_exists(&t.iam, "backup-operator").await);
    drop(t.moto);
}

/// Issue 15: an unreadable approval document (not JSON, a typo, or missing) fails closed:
/// the user is handled by the configured lists alone, in the configured mode, and a high alert
/// names the document and the error.
#[tokio::test]
async fn an_unreadable_approval_document_fails_closed_with_a_loud_alert() {
    for (body, error) in [
        (Some(&b"userPatterns: backup-*"[..]), "expected value"),
        (
            Some(&br#"{"userPattern": ["backup-*"]}"#[..]),
            "userPattern",
        ),
        (None, "NoSuchKey"),
    ] {
        let t = setup(&[("APPROVAL_DOCUMENT_URI", DOC_URI)]).await;
        match body {
            Some(b) => put_document(&t.s3, b).await,
            None => {
                t.s3.create_bucket()
                    .bucket(DOC_BUCKET)
                    .send()
                    .await
                    .unwrap();
            }
        }
        let (id, arn) = create_user(&t.iam, "backup-operator", "/").await;
        let event = event_for("iam-create-user-by-assumed-role.json", &id, &arn);
        let out = invoke(&t.state, &event)
            .await
            .expect("the response is carried out without the document");
        assert!(!user_exists(&t.iam, "backup-operator").await, "{error}");
        let got = t.inbox.receive(2, Duration::from_secs(15)).await.unwrap();
        assert_eq!(got.len(), 2, "{error}");
        let doc = got
            .iter()
            .find(|a| a.body["detection"] == "iam-approval-document-unusable")
            .expect("the document alert");
        assert_eq!(doc.attributes["severity"], "high");
        let summary = doc.body["summary"].as_str().unwrap();
        assert!(summary.contains(DOC_URI), "{summary}");
        assert!(summary.contains(error), "{error}: {summary}");
        let user = got
            .iter()
            .find(|a| a.body["detection"] == "iam-unapproved-user")
            .unwrap();
        assert_eq!(
            user.body["title"],
            "Unapproved IAM user backup-operator deleted"
        );
        assert_eq!(out["stats"]["document_unusable"], 1);
        drop(t.moto);
    }
}

/// Issue 15: persistence through an existing user, by an unapproved principal.
#[tokio::test]
async fn credentials_made_for_another_user_are_alerted_and_optionally_revoked() {
    let t = setup_with_build_bot().await;
    let key = add_access_key(&t.iam, "build-bot").await;
    let key_event = access_key_event(&key);

    // Default (notify): a high alert, nothing changed.
    let out = invoke(&t.state, &key_event).await.unwrap();
    assert_eq!(step(&out["steps"], "NoChange", None).0, "skipped");
    let alert = one_alert(&t.inbox).await;
    assert_eq!(alert.attributes["severity"], "high");
    assert_eq!(alert.body["detection"], "iam-credential-for-other-user");
    assert_eq!(keys(&t.iam, "build-bot").await[0].1, StatusType::Active);

    // Dry run of deactivate: planned, nothing changed.
    let dry = t
        .with(&[
            ("CREDENTIAL_RESPONSE_MODE", "deactivate"),
            ("DRY_RUN", "true"),
        ])
        .await;
    let out = invoke(&dry, &key_event).await.unwrap();
    assert_eq!(
        step(&out["steps"], "DeactivateAccessKey", Some(&key)).0,
        "planned"
    );
    assert_eq!(keys(&t.iam, "build-bot").await[0].1, StatusType::Active);

    // An approved creator that IAM does not know (deleted, or never there): no approval.
    let approval = (
        "APPROVED_CREATOR_ARNS",
        "arn:aws:iam::123456789012:role/DevOpsAdmin",
    );
    let vanished = t
        .with(&[
            ("CREDENTIAL_RESPONSE_MODE", "deactivate"),
            ("DRY_RUN", "true"),
            approval,
        ])
        .await;
    let out = invoke(&vanished, &key_event).await.unwrap();
    assert_eq!(out["alerts"][0]["severity"], "high");
    assert_contains(
        out["alerts"][0]["summary"].as_str().unwrap(),
        "no longer exists",
    );

    // An approved creator that exists: info, nothing changed.
    let mut approved_event = key_event.clone();
    create_session_role(&t.iam, &mut approved_event).await;
    let approved = t
        .with(&[
            ("CREDENTIAL_RESPONSE_MODE", "deactivate"),
            approval,
            ANY_CREATOR_AGE,
        ])
        .await;
    let out = invoke(&approved, &approved_event).await.unwrap();
    assert_eq!(out["alerts"][0]["severity"], "info");
    assert_eq!(keys(&t.iam, "build-bot").await[0].1, StatusType::Active);

    // deactivate: the new key is set Inactive; a redelivery finds it so.
    let live = t.with(&[("CREDENTIAL_RESPONSE_MODE", "deactivate")]).await;
    let out = invoke(&live, &key_event).await.unwrap();
    assert_eq!(
        step(&out["steps"], "DeactivateAccessKey", Some(&key)).0,
        "done"
    );
    assert_eq!(keys(&t.iam, "build-bot").await[0].1, StatusType::Inactive);
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved principal gave IAM user build-bot an access key: revoked"
    );
    invoke(&live, &key_event).await.expect("redelivery");

    // A console password set for the user: deleted.
    t.iam
        .create_login_profile()
        .user_name("build-bot")
        .password("Tr0ub4dor&3-x!")
        .send()
        .await
        .unwrap();
    for file in [
        "iam-create-login-profile-for-other-user.json",
        "iam-update-login-profile-for-other-user.json",
    ] {
        let out = invoke(&live, &fixture(file)).await.unwrap();
        let st = step(&out["steps"], "DeleteLoginProfile", Some("build-bot")).0;
        assert!(st == "done" || st == "already_done", "{file}: {st}");
        assert!(!has_login_profile(&t.iam, "build-bot").await);
    }
    // The caller making its own key is not this attack: ignored, nothing changed.
    let out = invoke(&live, &fixture("iam-create-access-key-self.json"))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("for itself"));
    t.inbox.drain().await.unwrap();
    drop(t.moto);
}

/// Fault injection: every DeleteUserPolicy call fails before it is sent.
#[derive(Debug)]
struct FailDeleteUserPolicy;

impl aws_sdk_iam::config::Intercept for FailDeleteUserPolicy {
    fn name(&self) -> &'static str {
        "FailDeleteUserPolicy"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_iam::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_iam::config::ConfigBag,
    ) -> Result<(), aws_sdk_iam::error::BoxError> {
        if context
            .input()
            .downcast_ref::<aws_sdk_iam::operation::delete_user_policy::DeleteUserPolicyInput>()
            .is_some()
        {
            return Err("injected fault: DeleteUserPolicy refused".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_partial_failure_is_reported_and_the_retry_finishes_the_job() {
    let t = setup(&[]).await;
    let faulty_iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&t.sdk)
            .interceptor(FailDeleteUserPolicy)
            .build(),
    );
    let faulty = Service::with(
        trailwarden_testkit::config::<UnapprovedUser>(&vars(&[], &t.inbox.topic_arn)),
        UnapprovedUser::with_clients(faulty_iam, trailwarden::aws::s3_client(&t.sdk)),
        trailwarden::aws::AlertPublisher::new(
            &t.sdk,
            Some(t.inbox.topic_arn.clone()),
            trailwarden::Severity::Info,
        ),
    );
    let (_, event) = loaded_mallory(&t.iam).await;

    let err = invoke(&faulty, &event).await.unwrap_err();
    assert!(err.contains("DeleteUserPolicy everything"), "{err}");
    assert!(err.contains("DeleteConflict"), "{err}");
    // Everything else was still done; the inline policy kept the user alive.
    assert!(user_exists(&t.iam, "mallory").await);
    assert!(keys(&t.iam, "mallory").await.is_empty());

    let alert = one_alert(&t.inbox).await;
    assert_eq!(
        alert.body["title"],
        "Unapproved IAM user mallory: deletion incomplete"
    );
    assert_eq!(status(&alert, "DeleteUserPolicies"), "failed");
    assert!(detail(&alert, "DeleteUserPolicies").contains("DeleteUserPolicy everything"));
    assert_eq!(status(&alert, "RemoveUserFromGroups"), "done");
    let (st, why) = step(&alert.body["actions"], "DeleteUser", Some("mallory"));
    assert_eq!(st, "failed");
    assert!(why.starts_with("DeleteConflict"), "{why}");
    let (_, blockers) = why.split_once("steps that did not complete: ").unwrap();
    assert!(
        blockers.contains("DeleteUserPolicy everything"),
        "{blockers}"
    );

    // Lambda's retry, with IAM healthy again, finishes the idempotent steps.
    invoke(&t.state, &event).await.expect("the retry completes");
    assert!(!user_exists(&t.iam, "mallory").await);
    let retry = one_alert(&t.inbox).await;
    assert_eq!(status(&retry, "DeleteUserPolicies"), "done");
    assert_eq!(status(&retry, "DeleteUser"), "done");
    assert_eq!(status(&retry, "DeleteLoginProfile"), "already_done");
    drop(t.moto);
}

/// Issue 16: `ACCOUNT_SETTINGS_URI` in S3 is read and validated at cold start: an invalid
/// document stops it, naming the variable and the key path; a valid one exempting the account
/// leaves an unapproved user in place and says which entry decided.
#[tokio::test]
async fn account_settings_in_s3_are_validated_at_cold_start_and_applied() {
    const KEY: &str = "trailwarden/accounts.json";
    let uri = format!("s3://{DOC_BUCKET}/{KEY}");
    let t = setup(&[]).await;
    t.s3.create_bucket()
        .bucket(DOC_BUCKET)
        .send()
        .await
        .unwrap();
    let put = |body: &'static [u8]| {
        t.s3.put_object()
            .bucket(DOC_BUCKET)
            .key(KEY)
            .body(body.to_vec().into())
            .send()
    };

    put(br#"{"accounts": {"123456789012": {"unapproved_user_mode": "nuke"}}}"#)
        .await
        .unwrap();
    let err = service::<UnapprovedUser>(
        &t.sdk,
        &vars(&[("ACCOUNT_SETTINGS_URI", &uri)], &t.inbox.topic_arn),
    )
    .await
    .err()
    .expect("an invalid account settings document stops the cold start");
    let e = format!("{err:#}");
    assert!(e.contains("ACCOUNT_SETTINGS_URI"), "{e}");
    assert!(
        e.contains("accounts.123456789012.unapproved_user_mode"),
        "{e}"
    );

    put(br#"{"accounts": {"123456789012": {"exempt": true}}}"#)
        .await
        .unwrap();
    let state = t.with(&[("ACCOUNT_SETTINGS_URI", &uri)]).await;
    let (id, arn) = create_user(&t.iam, "backup-operator", "/").await;
    let event = event_for("iam-create-user-by-assumed-role.json", &id, &arn);
    let out = invoke(&state, &event).await.unwrap();
    assert_eq!(out["alerts"][0]["severity"], "high", "{out:#}");
    assert!(
        user_exists(&t.iam, "backup-operator").await,
        "an exempt account is never acted in"
    );
    let alert = one_alert(&t.inbox).await;
    assert_eq!(
        alert.body["facts"]["Settings"],
        "account 123456789012 (ACCOUNT_SETTINGS_URI)"
    );
    drop(t.moto);
}

/// An SSH public key uploaded for the user; its id.
async fn add_ssh_public_key(iam: &aws_sdk_iam::Client, name: &str) -> String {
    upload_ssh_public_key(
        iam,
        name,
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7ExampleKeyMaterialOnlyNotARealKey build-bot@ci",
    )
    .await
}

/// The SSH public key `body` uploaded for the user; its id.
async fn upload_ssh_public_key(iam: &aws_sdk_iam::Client, name: &str, body: &str) -> String {
    iam.upload_ssh_public_key()
        .user_name(name)
        .ssh_public_key_body(body)
        .send()
        .await
        .unwrap()
        .ssh_public_key
        .unwrap()
        .ssh_public_key_id
}

/// A signing certificate uploaded for the user; its id.
async fn add_signing_certificate(iam: &aws_sdk_iam::Client, name: &str) -> String {
    iam.upload_signing_certificate()
        .user_name(name)
        .certificate_body(include_str!("data/signing-certificate.pem"))
        .send()
        .await
        .unwrap()
        .certificate
        .unwrap()
        .certificate_id
}

/// The sample `file`, naming the credential `id` moto gave (CloudTrail would log the real one)
/// at `responseElements.<object>.<field>`.
fn credential_event(file: &str, object: &str, field: &str, id: &str) -> Value {
    let mut ev = fixture(file);
    ev["detail"]["responseElements"][object][field] = id.into();
    ev
}

/// The event of an access key `id` made for `build-bot` by someone else.
fn access_key_event(id: &str) -> Value {
    credential_event(
        "iam-create-access-key-for-other-user.json",
        "accessKey",
        "accessKeyId",
        id,
    )
}

/// The event of an SSH public key `id` uploaded for `build-bot` by someone else.
fn ssh_key_event(id: &str) -> Value {
    credential_event(
        "iam-upload-ssh-public-key-for-other-user.json",
        "sSHPublicKey",
        "sSHPublicKeyId",
        id,
    )
}

/// The test's account with the user `build-bot`, whom the credential events are about.
async fn setup_with_build_bot() -> Env {
    let t = setup(&[]).await;
    create_user(&t.iam, "build-bot", "/").await;
    t
}

async fn rename(iam: &aws_sdk_iam::Client, from: &str, to: &str) {
    iam.update_user()
        .user_name(from)
        .new_user_name(to)
        .send()
        .await
        .unwrap();
}

/// An SSH public key or signing certificate uploaded for another user by an unapproved
/// principal: the dry run and the live run walk the same steps; notify changes nothing; deactivate
/// sets exactly that credential Inactive and leaves the user's others alone.
#[tokio::test]
async fn ssh_keys_and_signing_certificates_made_for_another_user_are_revoked() {
    let t = setup_with_build_bot().await;
    let other_key = add_ssh_public_key(&t.iam, "build-bot").await;
    let ssh_key = add_ssh_public_key(&t.iam, "build-bot").await;
    let certificate = add_signing_certificate(&t.iam, "build-bot").await;
    let notify = t.with(&[]).await;
    let dry = t
        .with(&[
            ("CREDENTIAL_RESPONSE_MODE", "deactivate"),
            ("DRY_RUN", "true"),
        ])
        .await;
    let live = t.with(&[("CREDENTIAL_RESPONSE_MODE", "deactivate")]).await;
    let cases = [
        (
            ssh_key_event(&ssh_key),
            "DeactivateSSHPublicKey",
            ssh_key.clone(),
            "Unapproved principal gave IAM user build-bot an SSH public key: revoked",
        ),
        (
            credential_event(
                "iam-upload-signing-certificate-for-other-user.json",
                "certificate",
                "certificateId",
                &certificate,
            ),
            "DeactivateSigningCertificate",
            certificate.clone(),
            "Unapproved principal gave IAM user build-bot a signing certificate: revoked",
        ),
    ];
    let statuses = || async {
        (
            ssh_key_statuses(&t.iam, "build-bot").await,
            certificate_statuses(&t.iam, "build-bot").await,
        )
    };
    for (event, step_name, id, title) in cases {
        let before = statuses().await;
        // notify: a high alert, nothing changed.
        let out = invoke(&notify, &event).await.unwrap();
        assert_eq!(step(&out["steps"], "NoChange", None).0, "skipped");
        assert_eq!(out["alerts"][0]["severity"], "high");
        // The dry run plans the step and changes nothing.
        let planned = invoke(&dry, &event).await.unwrap();
        assert_eq!(step(&planned["steps"], step_name, Some(&id)).0, "planned");
        assert_eq!(
            statuses().await,
            before,
            "{step_name}: changed by notify or dry run"
        );
        // The live run walks the same steps and carries them out.
        let done = invoke(&live, &event).await.expect(step_name);
        assert_eq!(step_targets(&planned), step_targets(&done), "{step_name}");
        assert_eq!(step(&done["steps"], step_name, Some(&id)).0, "done");
        assert_eq!(done["alerts"][0]["title"], title);
        // A redelivery succeeds.
        invoke(&live, &event).await.expect("redelivery");
    }
    let statuses: HashMap<String, StatusType> = t
        .iam
        .list_ssh_public_keys()
        .user_name("build-bot")
        .send()
        .await
        .unwrap()
        .ssh_public_keys()
        .iter()
        .map(|k| (k.ssh_public_key_id().to_string(), k.status().clone()))
        .collect();
    assert_eq!(statuses[&ssh_key], StatusType::Inactive);
    assert_eq!(
        statuses[&other_key],
        StatusType::Active,
        "only the key the event made is revoked"
    );
    assert_eq!(
        certificate_statuses(&t.iam, "build-bot").await,
        [StatusType::Inactive]
    );
    t.inbox.drain().await.unwrap();
    drop(t.moto);
}

/// IAM's (empty) answer to UpdateServiceSpecificCredential, which moto does not implement.
const SSC_UPDATED: &str = r#"<UpdateServiceSpecificCredentialResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ResponseMetadata><RequestId>faultproxy-canned</RequestId></ResponseMetadata></UpdateServiceSpecificCredentialResponse>"#;

/// Service-specific credentials (moto implements none of their calls: the fault proxy answers
/// UpdateServiceSpecificCredential as IAM does). A created and a reset credential are set
/// Inactive; a credential IAM no longer knows on a user that exists is already done; on a user
/// that is no longer there (renamed) the step fails, and the invocation with it.
#[tokio::test]
async fn service_specific_credentials_made_or_reset_for_another_user_are_revoked() {
    let t = setup_with_build_bot().await;
    let deactivate = [("CREDENTIAL_RESPONSE_MODE", "deactivate")];
    let (proxy, live) = t
        .proxied(
            &deactivate,
            vec![Rule::always(
                "UpdateServiceSpecificCredential",
                Fault::Canned {
                    status: 200,
                    body: SSC_UPDATED.into(),
                },
            )],
        )
        .await;
    let mut dry_vars = deactivate.to_vec();
    dry_vars.push(("DRY_RUN", "true"));
    let (_dry_proxy, dry) = t.proxied(&dry_vars, vec![]).await;
    for (file, id) in [
        (
            "iam-create-service-specific-credential-for-other-user.json",
            "ACCA4EXAMPLEBUILDB01X",
        ),
        (
            "iam-reset-service-specific-credential-for-other-user.json",
            "ACCA4EXAMPLEBUILDB02Y",
        ),
    ] {
        let planned = invoke(&dry, &fixture(file)).await.unwrap();
        let before = proxy.count("UpdateServiceSpecificCredential");
        let out = invoke(&live, &fixture(file)).await.expect(file);
        assert_eq!(step_targets(&planned), step_targets(&out), "{file}");
        let (st, detail) = step(
            &out["steps"],
            "DeactivateServiceSpecificCredential",
            Some(id),
        );
        assert_eq!(
            (st, detail),
            ("done", format!("{id} set Inactive").as_str())
        );
        assert_eq!(proxy.count("UpdateServiceSpecificCredential"), before + 1);
        assert!(out["alerts"][0]["title"]
            .as_str()
            .unwrap()
            .ends_with(": revoked"));
    }
    // IAM no longer knows the credential, the user is there: already done.
    let (_p, gone) = t
        .proxied(
            &deactivate,
            vec![Rule::always(
                "UpdateServiceSpecificCredential",
                Fault::error(404, "NoSuchEntity"),
            )],
        )
        .await;
    let file = "iam-create-service-specific-credential-for-other-user.json";
    let out = invoke(&gone, &fixture(file)).await.expect("already done");
    let (st, detail) = step(&out["steps"], "DeactivateServiceSpecificCredential", None);
    assert_eq!(st, "already_done");
    assert_eq!(detail, "ACCA4EXAMPLEBUILDB01X no longer exists");
    // The user renamed since the event: IAM cannot find the credential by the old name, and
    // offers no look-up by id: not "already done" but a failure Lambda retries.
    rename(&t.iam, "build-bot", "build-bot-x").await;
    let err = invoke(&gone, &fixture(file)).await.unwrap_err();
    assert!(err.contains("DeactivateServiceSpecificCredential"), "{err}");
    t.inbox.drain().await.unwrap();
    drop(t.moto);
}

/// IAM's answer to GetAccessKeyLastUsed naming the key's current owner. (moto keeps the name
/// the key was created under after UpdateUser; IAM names the user that holds the key.)
fn key_last_used(owner: &str) -> Fault {
    Fault::Canned {
        status: 200,
        body: format!(
            r#"<GetAccessKeyLastUsedResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetAccessKeyLastUsedResult><UserName>{owner}</UserName><AccessKeyLastUsed><Region>N/A</Region><ServiceName>N/A</ServiceName></AccessKeyLastUsed></GetAccessKeyLastUsedResult><ResponseMetadata><RequestId>faultproxy-canned</RequestId></ResponseMetadata></GetAccessKeyLastUsedResponse>"#
        ),
    }
}

/// The red-team bypass: CreateAccessKey for build-bot, then UpdateUser build-bot -> build-bot-x
/// before the response. UpdateAccessKey(build-bot) answers NoSuchEntity; the key's owner is
/// looked up and the key set Inactive under the new name. When the owner cannot be found the
/// step fails (never "already done" with the key active); only a key IAM no longer knows is
/// already done.
#[tokio::test]
async fn a_key_whose_user_is_renamed_before_the_response_is_still_deactivated() {
    let t = setup_with_build_bot().await;
    let key = add_access_key(&t.iam, "build-bot").await;
    let mut event = access_key_event(&key);
    rename(&t.iam, "build-bot", "build-bot-x").await;
    let deactivate = [("CREDENTIAL_RESPONSE_MODE", "deactivate")];

    // moto still names build-bot as the owner: nothing confirms the key revoked, so the step
    // fails and Lambda retries (before the fix: "already done", key left Active).
    let live = t.with(&deactivate).await;
    let err = invoke(&live, &event).await.unwrap_err();
    assert!(err.contains("DeactivateAccessKey"), "{err}");
    let alert = one_alert(&t.inbox).await;
    assert_eq!(
        alert.body["title"],
        "Unapproved principal gave IAM user build-bot an access key: revocation failed"
    );
    let (st, why) = step(&alert.body["actions"], "DeactivateAccessKey", Some(&key));
    assert_eq!(st, "failed");
    assert!(why.contains("not confirmed revoked"), "{why}");
    assert_eq!(keys(&t.iam, "build-bot-x").await[0].1, StatusType::Active);

    // IAM names the key's current owner: the key is set Inactive there.
    let (proxy, state) = t
        .proxied(
            &deactivate,
            vec![Rule::always(
                "GetAccessKeyLastUsed",
                key_last_used("build-bot-x"),
            )],
        )
        .await;
    let out = invoke(&state, &event)
        .await
        .expect("revoked under the new name");
    let (st, why) = step(&out["steps"], "DeactivateAccessKey", Some(&key));
    assert_eq!(st, "done");
    assert_eq!(
        why,
        format!("{key} set Inactive under build-bot-x: the user was renamed from build-bot since the event")
    );
    assert_eq!(proxy.count("UpdateAccessKey"), 2);
    assert_eq!(keys(&t.iam, "build-bot-x").await[0].1, StatusType::Inactive);
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved principal gave IAM user build-bot an access key: revoked"
    );

    // A key IAM does not know (deleted since; here one moto never made, as moto keeps a
    // renamed user's deleted key listed): already done.
    let gone = "AKIA4EXAMPLEGONEKEY1";
    event["detail"]["responseElements"]["accessKey"]["accessKeyId"] = gone.into();
    let out = invoke(&live, &event).await.expect("a deleted key is done");
    let (st, why) = step(&out["steps"], "DeactivateAccessKey", Some(gone));
    assert_eq!(
        (st, why),
        ("already_done", format!("{gone} no longer exists").as_str())
    );
    t.inbox.drain().await.unwrap();
    drop(t.moto);
}

/// The same race for an SSH public key and a console password: IAM offers no look-up of their
/// owner, so a user missing under the event's name fails the step (the alert says the credential
/// may still work) instead of "already done"; with the user in place, a credential already gone
/// is already done.
#[tokio::test]
async fn other_credentials_of_a_renamed_user_fail_rather_than_pass_as_done() {
    let t = setup_with_build_bot().await;
    let ssh_key = add_ssh_public_key(&t.iam, "build-bot").await;
    add_login_profile(&t.iam, "build-bot").await;
    let ssh_event = ssh_key_event(&ssh_key);
    let password_event = fixture("iam-create-login-profile-for-other-user.json");
    rename(&t.iam, "build-bot", "build-bot-x").await;
    let live = t.with(&[("CREDENTIAL_RESPONSE_MODE", "deactivate")]).await;

    for (event, step_name, target) in [
        (&ssh_event, "DeactivateSSHPublicKey", ssh_key.as_str()),
        (&password_event, "DeleteLoginProfile", "build-bot"),
    ] {
        invoke(&live, event).await.unwrap_err();
        let alert = one_alert(&t.inbox).await;
        let (st, why) = step(&alert.body["actions"], step_name, Some(target));
        assert_eq!(st, "failed", "{step_name}: {why}");
        assert!(why.contains("no IAM user is named build-bot"), "{why}");
        assert!(
            alert.body["title"]
                .as_str()
                .unwrap()
                .ends_with(": revocation failed"),
            "{}",
            alert.body["title"]
        );
        assert!(alert.body["summary"]
            .as_str()
            .unwrap()
            .contains("the credential may still work"));
    }
    assert_eq!(
        ssh_key_statuses(&t.iam, "build-bot-x").await,
        [StatusType::Active]
    );
    assert!(has_login_profile(&t.iam, "build-bot-x").await);

    // Renamed back, with the credentials removed meanwhile: already done.
    rename(&t.iam, "build-bot-x", "build-bot").await;
    t.iam
        .delete_ssh_public_key()
        .user_name("build-bot")
        .ssh_public_key_id(&ssh_key)
        .send()
        .await
        .unwrap();
    t.iam
        .delete_login_profile()
        .user_name("build-bot")
        .send()
        .await
        .unwrap();
    for (event, step_name) in [
        (&ssh_event, "DeactivateSSHPublicKey"),
        (&password_event, "DeleteLoginProfile"),
    ] {
        let out = invoke(&live, event).await.expect(step_name);
        assert_eq!(step(&out["steps"], step_name, None).0, "already_done");
    }
    t.inbox.drain().await.unwrap();
    drop(t.moto);
}

/// Delete mode, the user renamed between the last check and DeleteUser (held up by the proxy
/// meanwhile): DeleteUser answers NoSuchEntity, but a user still holds the captured id, so the
/// step fails (before the fix: "already done" and "deleted" with the user alive under its new
/// name). Lambda's retry follows it and deletes it.
#[tokio::test]
async fn a_user_renamed_just_before_delete_user_is_not_reported_deleted() {
    let (t, u, event) = setup_with_mallory(&[]).await;
    let (proxy, state) = t.holding_up(&[], "DeleteUser").await;
    let run = run_until_held(state, event, &proxy, "DeleteUser").await;
    rename(&t.iam, "mallory", "mallory-x").await;
    let (err, event) = run
        .await
        .unwrap()
        .expect_err("the deletion is not confirmed");
    assert!(err.contains("DeleteUser mallory"), "{err}");
    assert!(user_exists(&t.iam, "mallory-x").await);
    let alert = one_alert(&t.inbox).await;
    assert_eq!(
        alert.body["title"],
        "Unapproved IAM user mallory: deletion incomplete"
    );
    let (st, why) = step(&alert.body["actions"], "DeleteUser", Some("mallory"));
    assert_eq!(st, "failed");
    assert!(
        why.contains(&format!(
            "the user (id {}) still exists, renamed to mallory-x",
            u.user_id
        )),
        "{why}"
    );

    // Lambda's retry finds it by its id under the new name and deletes it.
    let out = invoke(&t.state, &event).await.expect("the retry completes");
    assert!(!user_exists(&t.iam, "mallory-x").await);
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved IAM user mallory (renamed to mallory-x) deleted"
    );
    t.inbox.drain().await.unwrap();
    drop(t.moto);
}

/// The user captured, then gone under its name and its id before the next step (deleted by
/// someone else here; a rename IAM does not list yet looks the same): the alert does not say
/// trailwarden deleted it, and the run fails so that Lambda's retry settles it.
#[tokio::test]
async fn a_user_lost_after_capture_is_not_reported_deleted() {
    let t = setup(&[]).await;
    let (id, arn) = create_user(&t.iam, "mallory", "/").await;
    let event = event_for("iam-create-user-by-iam-user.json", &id, &arn);
    create_evidence_bucket(&t.s3).await;
    let (proxy, state) = t
        .holding_up(&[("EVIDENCE_BUCKET", EVIDENCE_BUCKET)], EVIDENCE_PUT)
        .await;
    let run = run_until_held(state, event, &proxy, EVIDENCE_PUT).await;
    t.iam
        .delete_user()
        .user_name("mallory")
        .send()
        .await
        .unwrap();
    let (err, event) = run.await.unwrap().expect_err("not confirmed");
    assert!(err.contains("DeleteLoginProfile mallory"), "{err}");
    let alert = one_alert(&t.inbox).await;
    assert_eq!(
        alert.body["title"],
        "Unapproved IAM user mallory vanished mid-response: not confirmed removed"
    );
    assert_eq!(status(&alert, "DeleteLoginProfile"), "failed");
    assert_eq!(status(&alert, "DeleteUser"), "skipped");
    // The retry confirms it gone.
    let out = invoke(&t.state, &event).await.expect("settled");
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved IAM user mallory already gone"
    );
    t.inbox.drain().await.unwrap();
    drop(t.moto);
}
