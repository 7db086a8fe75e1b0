//! unapproved-user against moto: real SDK calls over HTTP, results read back from IAM, S3
//! and the alert topic's SQS subscriber.

use aws_sdk_iam::types::StatusType;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use trailwarden_testkit::{AlertInbox, Moto, ReceivedAlert};
use unapproved_user::{handler, Config, State};

const EVIDENCE_BUCKET: &str = "trailwarden-evidence-123456789012";

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

struct Env {
    moto: Moto,
    iam: aws_sdk_iam::Client,
    s3: aws_sdk_s3::Client,
    inbox: AlertInbox,
    state: State,
}

fn config(vars: &[(&str, &str)], topic: &str) -> Config {
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("ALERT_TOPIC_ARN".into(), topic.to_string());
    env.entry("NOT_FOUND_RETRY_SECONDS".into())
        .or_insert_with(|| "1".into());
    Config::from_env(&env).unwrap()
}

async fn setup(vars: &[(&str, &str)]) -> Env {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    let inbox = AlertInbox::create(&cfg, "security-alerts").await.unwrap();
    let state = State::new(&cfg, config(vars, &inbox.topic_arn));
    Env {
        iam: aws_sdk_iam::Client::new(&cfg),
        s3: trailwarden::aws::s3_client(&cfg),
        moto,
        inbox,
        state,
    }
}

/// A user with everything that blocks DeleteUser.
struct Loaded {
    user_id: String,
    arn: String,
    key_ids: Vec<String>,
    mfa_serial: String,
    ssh_key_id: String,
    policy_arn: String,
}

async fn create_user(iam: &aws_sdk_iam::Client, name: &str, path: &str) -> (String, String) {
    let u = iam
        .create_user()
        .user_name(name)
        .path(path)
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    (u.user_id, u.arn)
}

async fn create_loaded_user(iam: &aws_sdk_iam::Client, name: &str) -> Loaded {
    let (user_id, arn) = create_user(iam, name, "/").await;
    iam.create_login_profile()
        .user_name(name)
        .password("Corr3ct-Horse-Battery!")
        .send()
        .await
        .unwrap();
    let mut key_ids = Vec::new();
    for _ in 0..2 {
        let k = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .unwrap();
        key_ids.push(k.access_key.unwrap().access_key_id);
    }
    iam.put_user_policy()
        .user_name(name)
        .policy_name("everything")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let policy_arn = iam
        .create_policy()
        .policy_name(format!("{name}-ec2-read"))
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    iam.attach_user_policy()
        .user_name(name)
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.create_group()
        .group_name("developers")
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("developers")
        .user_name(name)
        .send()
        .await
        .unwrap();
    let ssh_key_id = iam
        .upload_ssh_public_key()
        .user_name(name)
        .ssh_public_key_body("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0000000000000000000000 mallory@laptop")
        .send()
        .await
        .unwrap()
        .ssh_public_key
        .unwrap()
        .ssh_public_key_id;
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
        policy_arn,
    }
}

/// The fixture, with the user id moto gave the user (CloudTrail would log the real one).
fn event_for(file: &str, user_id: &str, arn: &str) -> Value {
    let mut ev = fixture(file);
    let user = &mut ev["detail"]["responseElements"]["user"];
    user["userId"] = Value::String(user_id.into());
    user["arn"] = Value::String(arn.into());
    ev
}

async fn invoke(state: &State, event: &Value) -> Result<Value, lambda_runtime::Error> {
    handler(
        state,
        lambda_runtime::LambdaEvent::new(event.clone(), lambda_runtime::Context::default()),
    )
    .await
}

async fn one_alert(inbox: &AlertInbox) -> ReceivedAlert {
    let mut got = inbox.receive(1, Duration::from_secs(15)).await.unwrap();
    assert_eq!(got.len(), 1, "expected one alert");
    got.remove(0)
}

/// (status, detail) of every action with this step (and target, when given).
fn actions<'a>(
    alert: &'a ReceivedAlert,
    step: &str,
    target: Option<&str>,
) -> Vec<(&'a str, &'a str)> {
    alert.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["step"] == step && target.is_none_or(|t| a["target"] == t))
        .map(|a| {
            (
                a["status"].as_str().unwrap(),
                a["detail"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

fn status(alert: &ReceivedAlert, step: &str, target: &str) -> String {
    let found = actions(alert, step, Some(target));
    assert_eq!(
        found.len(),
        1,
        "{step} {target} in {:#}",
        alert.body["actions"]
    );
    found[0].0.to_string()
}

async fn user_exists(iam: &aws_sdk_iam::Client, name: &str) -> bool {
    match iam.get_user().user_name(name).send().await {
        Ok(_) => true,
        Err(e) => {
            let e = unapproved_user::iam::CallError::from_sdk(&e);
            assert!(e.no_such_entity(), "{e}");
            false
        }
    }
}

#[tokio::test]
async fn delete_removes_everything_and_the_alert_lists_every_step() {
    let t = setup(&[]).await;
    let u = create_loaded_user(&t.iam, "mallory").await;
    let event = event_for("iam-create-user-by-iam-user.json", &u.user_id, &u.arn);

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
    assert!(
        alert
            .subject
            .starts_with("[CRITICAL] Unapproved IAM user mallory deleted"),
        "{}",
        alert.subject
    );
    assert_eq!(alert.attributes["severity"], "critical");
    assert_eq!(status(&alert, "CaptureEvidence", "mallory"), "done");
    assert_eq!(status(&alert, "DeleteLoginProfile", "mallory"), "done");
    for k in &u.key_ids {
        assert_eq!(status(&alert, "DeleteAccessKey", k), "done");
    }
    assert_eq!(status(&alert, "DeleteSSHPublicKey", &u.ssh_key_id), "done");
    assert_eq!(status(&alert, "DeactivateMFADevice", &u.mfa_serial), "done");
    assert_eq!(
        status(&alert, "DeleteVirtualMFADevice", &u.mfa_serial),
        "done"
    );
    assert_eq!(status(&alert, "DeleteUserPolicy", "everything"), "done");
    assert_eq!(status(&alert, "DetachUserPolicy", &u.policy_arn), "done");
    assert_eq!(status(&alert, "RemoveUserFromGroup", "developers"), "done");
    assert_eq!(
        status(&alert, "DeleteSigningCertificate", "mallory"),
        "already_done"
    );
    assert_eq!(status(&alert, "DeleteUser", "mallory"), "done");
    // moto answers ListServiceSpecificCredentials with HTTP 500: the alert says so, and
    // that it did not matter because DeleteUser succeeded.
    let ssc = actions(&alert, "ListServiceSpecificCredentials", Some("mallory"));
    assert_eq!(ssc.len(), 1, "{:#}", alert.body["actions"]);
    assert_eq!(ssc[0].0, "skipped");
    assert!(ssc[0].1.contains("500"), "{}", ssc[0].1);
    assert!(ssc[0].1.contains("DeleteUser succeeded"), "{}", ssc[0].1);
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

#[tokio::test]
async fn the_same_event_twice_succeeds() {
    let t = setup(&[]).await;
    let u = create_loaded_user(&t.iam, "mallory").await;
    let event = event_for("iam-create-user-by-iam-user.json", &u.user_id, &u.arn);
    invoke(&t.state, &event).await.expect("first delivery");
    let first = one_alert(&t.inbox).await;
    assert_eq!(status(&first, "DeleteUser", "mallory"), "done");

    let out = invoke(&t.state, &event)
        .await
        .expect("second delivery succeeds");
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved IAM user mallory already gone"
    );
    let second = one_alert(&t.inbox).await;
    assert_eq!(status(&second, "GetUser", "mallory"), "already_done");
    assert!(second.body["summary"]
        .as_str()
        .unwrap()
        .contains("no longer exists"));
    drop(t.moto);
}

#[tokio::test]
async fn quarantine_denies_everything_keeps_the_user_and_is_repeatable() {
    let t = setup(&[("RESPONSE_MODE", "quarantine")]).await;
    let u = create_loaded_user(&t.iam, "backup-operator").await;
    let event = event_for("iam-create-user-by-assumed-role.json", &u.user_id, &u.arn);

    invoke(&t.state, &event)
        .await
        .expect("quarantine completes");
    assert!(user_exists(&t.iam, "backup-operator").await);
    let attached = t
        .iam
        .list_attached_user_policies()
        .user_name("backup-operator")
        .send()
        .await
        .unwrap();
    assert!(attached
        .attached_policies()
        .iter()
        .any(|p| p.policy_arn() == Some("arn:aws:iam::aws:policy/AWSDenyAll")));
    let keys = t
        .iam
        .list_access_keys()
        .user_name("backup-operator")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata().len(), 2);
    assert!(keys
        .access_key_metadata()
        .iter()
        .all(|k| k.status() == Some(&StatusType::Inactive)));
    let profile = t
        .iam
        .get_login_profile()
        .user_name("backup-operator")
        .send()
        .await;
    assert!(profile.is_err(), "console password still there");
    let tags = t
        .iam
        .list_user_tags()
        .user_name("backup-operator")
        .send()
        .await
        .unwrap();
    let tags: HashMap<&str, &str> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
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
    assert!(
        alert
            .subject
            .starts_with("[CRITICAL] Unapproved IAM user backup-operator quarantined"),
        "{}",
        alert.subject
    );
    assert_eq!(
        status(
            &alert,
            "AttachUserPolicy",
            "arn:aws:iam::aws:policy/AWSDenyAll"
        ),
        "done"
    );
    assert_eq!(
        status(&alert, "DeleteLoginProfile", "backup-operator"),
        "done"
    );
    for k in &u.key_ids {
        assert_eq!(status(&alert, "UpdateAccessKey", k), "done");
    }
    assert_eq!(status(&alert, "TagUser", "backup-operator"), "done");
    assert!(actions(&alert, "DeleteUser", None).is_empty());

    invoke(&t.state, &event)
        .await
        .expect("a second delivery succeeds");
    let again = one_alert(&t.inbox).await;
    assert_eq!(
        status(
            &again,
            "AttachUserPolicy",
            "arn:aws:iam::aws:policy/AWSDenyAll"
        ),
        "already_done"
    );
    for k in &u.key_ids {
        assert_eq!(status(&again, "UpdateAccessKey", k), "already_done");
    }
    assert_eq!(status(&again, "TagUser", "backup-operator"), "already_done");
    assert_eq!(
        status(&again, "DeleteLoginProfile", "backup-operator"),
        "already_done"
    );
    drop(t.moto);
}

#[tokio::test]
async fn dry_run_reports_the_plan_and_changes_nothing() {
    let t = setup(&[("DRY_RUN", "true")]).await;
    let u = create_loaded_user(&t.iam, "mallory").await;
    let event = event_for("iam-create-user-by-iam-user.json", &u.user_id, &u.arn);
    let out = invoke(&t.state, &event).await.unwrap();
    assert_eq!(out["dry_run"], true);

    assert!(user_exists(&t.iam, "mallory").await);
    let keys = t
        .iam
        .list_access_keys()
        .user_name("mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata().len(), 2);
    assert!(t
        .iam
        .get_login_profile()
        .user_name("mallory")
        .send()
        .await
        .is_ok());

    let alert = one_alert(&t.inbox).await;
    assert!(alert.subject.contains("[dry-run]"), "{}", alert.subject);
    assert_eq!(alert.body["dry_run"], true);
    assert_eq!(
        status(&alert, "DeleteUser", "mallory"),
        "planned",
        "the plan is listed"
    );
    assert!(alert.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["status"] == "planned"));
    drop(t.moto);
}

#[tokio::test]
async fn approved_user_is_untouched_and_nobody_is_paged() {
    let t = setup(&[(
        "APPROVED_CREATOR_ARNS",
        "arn:aws:iam::123456789012:role/terraform-deployer",
    )])
    .await;
    let (id, arn) = create_user(&t.iam, "svc-reporting", "/service-accounts/").await;
    t.iam
        .create_access_key()
        .user_name("svc-reporting")
        .send()
        .await
        .unwrap();
    let event = event_for("iam-create-user-by-approved-creator.json", &id, &arn);
    let out = invoke(&t.state, &event).await.unwrap();
    let why = out["ignored"].as_str().unwrap();
    assert!(why.starts_with("approved: created by"), "{why}");
    assert!(why.contains("terraform-run-8841"), "{why}");

    assert!(user_exists(&t.iam, "svc-reporting").await);
    let keys = t
        .iam
        .list_access_keys()
        .user_name("svc-reporting")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.access_key_metadata()[0].status(),
        Some(&StatusType::Active)
    );
    assert!(
        t.inbox.drain().await.unwrap().is_empty(),
        "approved users raise no alert"
    );
    drop(t.moto);
}

#[tokio::test]
async fn evidence_is_written_to_s3_and_never_overwritten() {
    let t = setup(&[("EVIDENCE_BUCKET", EVIDENCE_BUCKET)]).await;
    t.s3.create_bucket()
        .bucket(EVIDENCE_BUCKET)
        .send()
        .await
        .unwrap();
    let u = create_loaded_user(&t.iam, "mallory").await;
    let event = event_for("iam-create-user-by-iam-user.json", &u.user_id, &u.arn);
    invoke(&t.state, &event).await.unwrap();

    let key = "trailwarden/evidence/123456789012/mallory/3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f.json";
    let read = || async {
        let obj =
            t.s3.get_object()
                .bucket(EVIDENCE_BUCKET)
                .key(key)
                .send()
                .await
                .expect("evidence object exists");
        let bytes = obj.body.collect().await.unwrap().into_bytes();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
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
    assert_eq!(status(&alert, "PutEvidence", &uri), "done");

    // A redelivery finds the user gone and keeps the first, full evidence.
    invoke(&t.state, &event).await.unwrap();
    assert_eq!(read().await, stored);
    drop(t.moto);
}

#[tokio::test]
async fn notify_mode_alerts_with_evidence_and_changes_nothing() {
    let t = setup(&[("RESPONSE_MODE", "notify")]).await;
    let u = create_loaded_user(&t.iam, "mallory").await;
    let event = event_for("iam-create-user-by-iam-user.json", &u.user_id, &u.arn);
    invoke(&t.state, &event).await.unwrap();
    assert!(user_exists(&t.iam, "mallory").await);
    let keys = t
        .iam
        .list_access_keys()
        .user_name("mallory")
        .send()
        .await
        .unwrap();
    assert!(keys
        .access_key_metadata()
        .iter()
        .all(|k| k.status() == Some(&StatusType::Active)));
    let alert = one_alert(&t.inbox).await;
    assert_eq!(alert.body["title"], "Unapproved IAM user mallory created");
    assert_eq!(status(&alert, "NoChange", "mallory"), "skipped");
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
    assert_eq!(status(&alert, "GetUser", "mallory"), "skipped");
    drop(t.moto);
}

#[tokio::test]
async fn approval_document_in_s3_extends_the_lists() {
    let t = setup(&[(
        "APPROVAL_DOCUMENT_URI",
        "s3://security-config-123456789012/trailwarden/approvals.json",
    )])
    .await;
    t.s3.create_bucket()
        .bucket("security-config-123456789012")
        .send()
        .await
        .unwrap();
    t.s3.put_object()
        .bucket("security-config-123456789012")
        .key("trailwarden/approvals.json")
        .body(
            br#"{"userPatterns": ["backup-*"], "pathPrefixes": [], "creatorArns": []}"#
                .to_vec()
                .into(),
        )
        .send()
        .await
        .unwrap();
    let (id, arn) = create_user(&t.iam, "backup-operator", "/").await;
    let event = event_for("iam-create-user-by-assumed-role.json", &id, &arn);
    let out = invoke(&t.state, &event).await.unwrap();
    assert_eq!(
        out["ignored"],
        "approved: user name \"backup-operator\" matches approved user pattern \"backup-*\""
    );
    assert!(user_exists(&t.iam, "backup-operator").await);
    drop(t.moto);
}

#[tokio::test]
async fn a_malformed_approval_document_stops_before_any_change() {
    let t = setup(&[(
        "APPROVAL_DOCUMENT_URI",
        "s3://security-config-123456789012/trailwarden/approvals.json",
    )])
    .await;
    t.s3.create_bucket()
        .bucket("security-config-123456789012")
        .send()
        .await
        .unwrap();
    t.s3.put_object()
        .bucket("security-config-123456789012")
        .key("trailwarden/approvals.json")
        .body(br#"{"userPattern": ["backup-*"]}"#.to_vec().into())
        .send()
        .await
        .unwrap();
    let (id, arn) = create_user(&t.iam, "backup-operator", "/").await;
    let event = event_for("iam-create-user-by-assumed-role.json", &id, &arn);
    let err = invoke(&t.state, &event).await.unwrap_err().to_string();
    assert!(
        err.contains("s3://security-config-123456789012/trailwarden/approvals.json"),
        "{err}"
    );
    assert!(err.contains("userPattern"), "{err}");
    assert!(user_exists(&t.iam, "backup-operator").await);
    let alert = one_alert(&t.inbox).await;
    assert!(alert.subject.contains("not evaluated"), "{}", alert.subject);
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
    let cfg = t.moto.sdk_config();
    let faulty_iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&cfg)
            .interceptor(FailDeleteUserPolicy)
            .build(),
    );
    let faulty = State::with_clients(
        config(&[], &t.inbox.topic_arn),
        faulty_iam,
        trailwarden::aws::s3_client(&cfg),
        trailwarden::aws::AlertPublisher::new(
            &cfg,
            Some(t.inbox.topic_arn.clone()),
            trailwarden::Severity::Info,
        ),
    );
    let u = create_loaded_user(&t.iam, "mallory").await;
    let event = event_for("iam-create-user-by-iam-user.json", &u.user_id, &u.arn);

    let err = invoke(&faulty, &event).await.unwrap_err().to_string();
    assert!(err.contains("DeleteUserPolicy everything"), "{err}");
    assert!(err.contains("DeleteConflict"), "{err}");
    // Everything else was still done; the inline policy kept the user alive.
    assert!(user_exists(&t.iam, "mallory").await);
    let keys = t
        .iam
        .list_access_keys()
        .user_name("mallory")
        .send()
        .await
        .unwrap();
    assert!(keys.access_key_metadata().is_empty());

    let alert = one_alert(&t.inbox).await;
    assert_eq!(
        alert.body["title"],
        "Unapproved IAM user mallory: deletion incomplete"
    );
    assert_eq!(status(&alert, "DeleteUserPolicy", "everything"), "failed");
    assert_eq!(status(&alert, "RemoveUserFromGroup", "developers"), "done");
    let delete = actions(&alert, "DeleteUser", Some("mallory"));
    assert_eq!(delete[0].0, "failed");
    assert!(delete[0].1.starts_with("DeleteConflict"), "{}", delete[0].1);
    let (_, blockers) = delete[0]
        .1
        .split_once("steps that did not complete: ")
        .unwrap();
    assert!(
        blockers.contains("DeleteUserPolicy everything"),
        "{blockers}"
    );

    // Lambda's retry, with IAM healthy again, finishes the idempotent steps.
    invoke(&t.state, &event).await.expect("the retry completes");
    assert!(!user_exists(&t.iam, "mallory").await);
    let retry = one_alert(&t.inbox).await;
    assert_eq!(status(&retry, "DeleteUserPolicy", "everything"), "done");
    assert_eq!(status(&retry, "DeleteUser", "mallory"), "done");
    assert_eq!(
        status(&retry, "DeleteLoginProfile", "mallory"),
        "already_done"
    );
}
