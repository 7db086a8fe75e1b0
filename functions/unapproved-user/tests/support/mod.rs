//! Shared set-up of the unapproved-user tests against moto: the function's configuration,
//! the fault proxy that answers what moto lacks, IAM users to act on, and reading results
//! back.
#![allow(dead_code)]

use aws_sdk_iam::types::StatusType;
use serde_json::Value;
use std::time::Duration;
use trailwarden::aws::CallError;
use trailwarden::lambda::Service;
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{service, AlertInbox, Moto, ReceivedAlert};
use unapproved_user::UnapprovedUser;

pub const EVIDENCE_BUCKET: &str = "trailwarden-evidence-123456789012";

/// An inline policy document allowing everything.
pub const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// A reset moto, clients on it and the alert inbox: what a test against moto acts on; with
/// `state`, whatever else the test keeps (the function built once, or nothing).
pub struct Env<S = ()> {
    pub moto: Moto,
    pub sdk: aws_config::SdkConfig,
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub inbox: AlertInbox,
    pub state: S,
}

impl Env {
    /// Waits for moto, resets it and creates the alert inbox.
    pub async fn start() -> Env {
        let moto = Moto::start().await.unwrap();
        let sdk = moto.sdk_config();
        Env {
            iam: aws_sdk_iam::Client::new(&sdk),
            s3: trailwarden::aws::s3_client(&sdk),
            inbox: inbox(&sdk).await,
            sdk,
            moto,
            state: (),
        }
    }

    /// The same, keeping `state`.
    pub fn with<S>(self, state: S) -> Env<S> {
        Env {
            moto: self.moto,
            sdk: self.sdk,
            iam: self.iam,
            s3: self.s3,
            inbox: self.inbox,
            state,
        }
    }
}

/// The alert topic and a short not-found wait, then `extra` (later pairs win).
pub fn vars<'a>(extra: &[(&'a str, &'a str)], topic: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![("ALERT_TOPIC_ARN", topic), ("NOT_FOUND_RETRY_SECONDS", "1")];
    v.extend_from_slice(extra);
    v
}

/// The function as Lambda builds it, against `sdk`, configured with [`vars`].
pub async fn function(
    sdk: &aws_config::SdkConfig,
    extra: &[(&str, &str)],
    topic: &str,
) -> Service<UnapprovedUser> {
    service::<UnapprovedUser>(sdk, &vars(extra, topic))
        .await
        .unwrap()
}

/// The alert inbox the tests read alerts back from.
pub async fn inbox(sdk: &aws_config::SdkConfig) -> AlertInbox {
    AlertInbox::create(sdk, "security-alerts").await.unwrap()
}

/// A fault proxy in front of moto with `rules`, and then the one IAM listing moto lacks:
/// moto answers ListServiceSpecificCredentials with HTTP 500; IAM answers an empty list.
pub async fn proxy(moto: &Moto, rules: Vec<Rule>) -> FaultProxy {
    let proxy = FaultProxy::start_with(&moto.endpoint, rules).await.unwrap();
    proxy.add(Rule::always(
        "ListServiceSpecificCredentials",
        Fault::empty_iam_list(
            "ListServiceSpecificCredentials",
            "ServiceSpecificCredentials",
        ),
    ));
    proxy
}

/// The one alert the inbox receives next (waiting up to 15 s).
pub async fn one_alert(inbox: &AlertInbox) -> ReceivedAlert {
    let mut got = inbox.receive(1, Duration::from_secs(15)).await.unwrap();
    assert_eq!(got.len(), 1, "expected one alert");
    got.remove(0)
}

pub async fn user_exists(iam: &aws_sdk_iam::Client, name: &str) -> bool {
    match iam.get_user().user_name(name).send().await {
        Ok(_) => true,
        Err(e) => {
            let e = CallError::from_sdk(&e);
            assert!(e.no_such_entity(), "{e}");
            false
        }
    }
}

/// The user's access keys: id and status.
pub async fn keys(iam: &aws_sdk_iam::Client, name: &str) -> Vec<(String, StatusType)> {
    iam.list_access_keys()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap().to_string(),
                k.status().unwrap().clone(),
            )
        })
        .collect()
}

/// The ARNs of the managed policies attached to the user.
pub async fn attached_policy_arns(iam: &aws_sdk_iam::Client, name: &str) -> Vec<String> {
    let req = iam.list_attached_user_policies().user_name(name);
    let attached = req
        .send()
        .await
        .unwrap()
        .attached_policies
        .unwrap_or_default();
    let arns = attached
        .into_iter()
        .map(|p| p.policy_arn.unwrap_or_default());
    arns.collect()
}

pub async fn has_login_profile(iam: &aws_sdk_iam::Client, name: &str) -> bool {
    iam.get_login_profile().user_name(name).send().await.is_ok()
}

/// A new user under `path`; its id and ARN.
pub async fn new_user(iam: &aws_sdk_iam::Client, name: &str, path: &str) -> (String, String) {
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

/// Gives the user a console password.
pub async fn add_login_profile(iam: &aws_sdk_iam::Client, name: &str) {
    iam.create_login_profile()
        .user_name(name)
        .password("Corr3ct-Horse-Battery!")
        .send()
        .await
        .unwrap();
}

/// Gives the user an access key; its id.
pub async fn add_access_key(iam: &aws_sdk_iam::Client, name: &str) -> String {
    iam.create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id
}

/// Puts the inline policy `policy` (a JSON document) on the user.
pub async fn put_inline_policy(iam: &aws_sdk_iam::Client, name: &str, policy: &str, doc: &str) {
    iam.put_user_policy()
        .user_name(name)
        .policy_name(policy)
        .policy_document(doc)
        .send()
        .await
        .unwrap();
}

/// Creates `group` and adds the user to it.
pub async fn add_to_new_group(iam: &aws_sdk_iam::Client, name: &str, group: &str) {
    iam.create_group().group_name(group).send().await.unwrap();
    iam.add_user_to_group()
        .group_name(group)
        .user_name(name)
        .send()
        .await
        .unwrap();
}

/// The evidence document stored at `key` in the evidence bucket.
pub async fn read_evidence(s3: &aws_sdk_s3::Client, key: &str) -> Value {
    let obj = s3
        .get_object()
        .bucket(EVIDENCE_BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no evidence at {key}: {e:?}"));
    serde_json::from_slice(&obj.body.collect().await.unwrap().into_bytes()).unwrap()
}

/// Creates the evidence bucket.
pub async fn create_evidence_bucket(s3: &aws_sdk_s3::Client) {
    s3.create_bucket()
        .bucket(EVIDENCE_BUCKET)
        .send()
        .await
        .unwrap();
}

/// Creates the role an event's session belongs to (`sessionContext.sessionIssuer`) and gives
/// the event the role's unique id, as CloudTrail would: an approved creator is looked up in IAM
/// before it approves. The role is created now, so the event (older) must be judged with
/// `APPROVED_CREATOR_MIN_AGE_MINUTES=0`.
pub async fn create_session_role(iam: &aws_sdk_iam::Client, event: &mut Value) {
    let identity = &mut event["detail"]["userIdentity"];
    let issuer = &mut identity["sessionContext"]["sessionIssuer"];
    let name = issuer["userName"]
        .as_str()
        .expect("a role session")
        .to_string();
    let role = iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    issuer["principalId"] = Value::String(role.role_id.clone());
    let session = identity["arn"]
        .as_str()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or("session")
        .to_string();
    identity["principalId"] = Value::String(format!("{}:{session}", role.role_id));
}

/// Judges an approved creator of any age (see [`create_session_role`]).
pub const ANY_CREATOR_AGE: (&str, &str) = ("APPROVED_CREATOR_MIN_AGE_MINUTES", "0");
