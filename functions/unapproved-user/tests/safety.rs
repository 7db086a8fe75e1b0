//! Loop and lock-out safety against moto: an approved user, or a user created by one of
//! trailwarden's own roles, is never touched in any response mode, dry-run or not; dry-run
//! changes nothing in any mode. "Nothing" is checked on a snapshot of everything IAM and the
//! evidence bucket hold, taken before and after.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::{
    add_access_key, add_login_profile, add_to_new_group, attached_policy_arns,
    create_evidence_bucket, function, has_login_profile, keys, new_user, put_inline_policy, Env,
    EVIDENCE_BUCKET,
};
use support::{create_session_role, ANY_CREATOR_AGE};
use trailwarden_testkit::harness::assert_contains;
use trailwarden_testkit::{fixture, invoke};

const MODES: [&str; 3] = ["delete", "quarantine", "notify"];

/// A user holding everything a response would change, as the fixture's event created it.
async fn create_user(iam: &aws_sdk_iam::Client, fixture_name: &str) -> Value {
    let mut event = fixture(fixture_name);
    let name = event["detail"]["responseElements"]["user"]["userName"]
        .as_str()
        .unwrap()
        .to_string();
    let path = event["detail"]["responseElements"]["user"]["path"]
        .as_str()
        .unwrap_or("/")
        .to_string();
    let (user_id, arn) = new_user(iam, &name, &path).await;
    add_login_profile(iam, &name).await;
    add_access_key(iam, &name).await;
    put_inline_policy(
        iam,
        &name,
        "reports",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    )
    .await;
    iam.attach_user_policy()
        .user_name(&name)
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    add_to_new_group(iam, &name, "reporting").await;
    iam.tag_user()
        .user_name(&name)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("data")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let user = &mut event["detail"]["responseElements"]["user"];
    user["userId"] = user_id.into();
    user["arn"] = arn.into();
    event
}

/// Everything a response could change: users, their credentials, policies, groups, tags and
/// MFA devices, and the evidence bucket.
async fn snapshot(iam: &aws_sdk_iam::Client, s3: &aws_sdk_s3::Client) -> Value {
    let mut users = serde_json::Map::new();
    for u in iam.list_users().send().await.unwrap().users() {
        let name = u.user_name();
        let keys: Vec<Value> = keys(iam, name)
            .await
            .iter()
            .map(|(id, status)| json!([id, status.as_str()]))
            .collect();
        let login = has_login_profile(iam, name).await;
        let inline = iam
            .list_user_policies()
            .user_name(name)
            .send()
            .await
            .unwrap()
            .policy_names()
            .to_vec();
        let attached = attached_policy_arns(iam, name).await;
        let groups: Vec<String> = iam
            .list_groups_for_user()
            .user_name(name)
            .send()
            .await
            .unwrap()
            .groups()
            .iter()
            .map(|g| g.group_name().to_string())
            .collect();
        let tags: Vec<Value> = iam
            .list_user_tags()
            .user_name(name)
            .send()
            .await
            .unwrap()
            .tags()
            .iter()
            .map(|t| json!([t.key(), t.value()]))
            .collect();
        let mfa: Vec<String> = iam
            .list_mfa_devices()
            .user_name(name)
            .send()
            .await
            .unwrap()
            .mfa_devices()
            .iter()
            .map(|d| d.serial_number().to_string())
            .collect();
        users.insert(
            name.to_string(),
            json!({"id": u.user_id(), "path": u.path(), "keys": keys, "login_profile": login,
                   "inline": inline, "attached": attached, "groups": groups, "tags": tags,
                   "mfa": mfa}),
        );
    }
    let evidence: Vec<String> = s3
        .list_objects_v2()
        .bucket(EVIDENCE_BUCKET)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    json!({"users": users, "evidence": evidence})
}

/// The test's account, with the evidence bucket.
async fn setup() -> Env {
    let t = Env::start().await;
    create_evidence_bucket(&t.s3).await;
    t
}

impl Env {
    /// The function with the evidence bucket and `extra`, invoked on `event`.
    async fn invoke_with(&self, event: &Value, extra: &[(&str, &str)]) -> Value {
        let mut vars = vec![("EVIDENCE_BUCKET", EVIDENCE_BUCKET)];
        vars.extend_from_slice(extra);
        let st = function(&self.sdk, &vars, &self.inbox.topic_arn).await;
        invoke(&st, event).await.unwrap()
    }

    /// [`snapshot`] of this account and its evidence bucket.
    async fn snapshot(&self) -> Value {
        snapshot(&self.iam, &self.s3).await
    }
}

#[tokio::test]
async fn approved_users_are_never_touched_in_any_mode() {
    let t = setup().await;
    let mut event = create_user(&t.iam, "iam-create-user-by-approved-creator.json").await;
    create_session_role(&t.iam, &mut event).await;
    let before = t.snapshot().await;
    let approvals = [
        (
            "APPROVED_CREATOR_ARNS",
            "arn:aws:iam::123456789012:role/terraform-deployer",
        ),
        ("APPROVED_USER_PATTERNS", "svc-*"),
        ("APPROVED_PATH_PREFIXES", "/service-accounts/"),
    ];
    for (var, value) in approvals {
        for mode in MODES {
            for dry_run in ["false", "true"] {
                let out = t
                    .invoke_with(
                        &event,
                        &[
                            (var, value),
                            ("RESPONSE_MODE", mode),
                            ("DRY_RUN", dry_run),
                            ("MIN_SEVERITY", "low"),
                            ANY_CREATOR_AGE,
                        ],
                    )
                    .await;
                assert!(
                    out.get("steps").is_none(),
                    "{var} {mode} dry-run={dry_run}: {out:#}"
                );
                // Approved by name or path alone (chosen by the caller): low.
                let severity = if var == "APPROVED_CREATOR_ARNS" {
                    "info"
                } else {
                    "low"
                };
                assert_eq!(out["alerts"][0]["severity"], severity, "{out:#}");
                assert_eq!(
                    t.snapshot().await,
                    before,
                    "{var} {mode} dry-run={dry_run} changed the account"
                );
            }
        }
    }
    // Only the name and path approvals' low alerts get past MIN_SEVERITY=low; the creator
    // approval's info alerts are filtered.
    let published = t.inbox.drain().await.unwrap();
    assert_eq!(published.len(), 2 * MODES.len() * 2, "{published:?}");
    assert!(
        published.iter().all(|a| a.attributes["severity"] == "low"),
        "{published:?}"
    );
    drop(t.moto);
}

#[tokio::test]
async fn users_created_by_our_own_roles_are_never_acted_on() {
    let t = setup().await;
    let event = create_user(&t.iam, "iam-create-user-by-assumed-role.json").await;
    let before = t.snapshot().await;
    for mode in MODES {
        let out = t
            .invoke_with(
                &event,
                &[
                    ("OWN_ROLE_ARNS", "arn:aws:iam::123456789012:role/DevOps*"),
                    ("RESPONSE_MODE", mode),
                ],
            )
            .await;
        let why = out["ignored"].as_str().unwrap_or_default();
        assert!(why.contains("loop guard"), "{mode}: {out:#}");
        assert_eq!(t.snapshot().await, before, "{mode}");
    }
    assert!(t.inbox.drain().await.unwrap().is_empty());
    drop(t.moto);
}

#[tokio::test]
async fn dry_run_changes_nothing_in_any_mode() {
    let t = setup().await;
    let event = create_user(&t.iam, "iam-create-user-by-assumed-role.json").await;
    let before = t.snapshot().await;
    for mode in MODES {
        let out = t
            .invoke_with(&event, &[("RESPONSE_MODE", mode), ("DRY_RUN", "true")])
            .await;
        assert_eq!(out["dry_run"], true, "{mode}");
        assert_eq!(
            t.snapshot().await,
            before,
            "dry-run in {mode} mode changed the account"
        );
        let alerts = t.inbox.receive(1, Duration::from_secs(15)).await.unwrap();
        assert_eq!(alerts.len(), 1, "{mode}");
        assert_eq!(alerts[0].body["dry_run"], true);
        assert_contains(&alerts[0].subject, "[dry-run]");
        // Only the read-only evidence capture runs; every changing step stays planned.
        for a in alerts[0].body["actions"].as_array().unwrap() {
            let status = a["status"].as_str().unwrap();
            if a["step"] == "CaptureEvidence" {
                assert_eq!(status, "done", "{mode}");
            } else {
                assert!(status == "planned" || status == "skipped", "{mode}: {a}");
            }
        }
    }
    drop(t.moto);
}
