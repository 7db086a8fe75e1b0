//! unapproved-user in an organization, against moto. moto keeps one IAM per account and acts
//! in the account of the credentials a request is signed with; `sts:AssumeRole` into another
//! account's role answers credentials of that account. So the function, running in the
//! tooling account (moto's default, 123456789012) and configured with `HOME_ACCOUNT_ID` and
//! `MEMBER_ROLE_NAME`, removes a user created in member account 111122223333 only there, and
//! the test reads every account back with that account's own credentials. moto does not
//! evaluate trust policies, so a role that is missing or refuses is STS's real answer
//! (`AccessDenied`) injected by the testkit's fault proxy in front of moto.

mod support;

use aws_config::SdkConfig;
use serde_json::Value;
use support::{
    add_access_key, add_login_profile, create_evidence_bucket, function, new_user,
    put_inline_policy, read_evidence, user_exists, ALLOW_ALL, EVIDENCE_BUCKET,
};
use trailwarden::lambda::Service;
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{fixture, invoke, only_detection, AlertInbox, Moto, ReceivedAlert};
use unapproved_user::UnapprovedUser;

const HOME: &str = trailwarden_testkit::ACCOUNT_ID;
const MEMBER: &str = "111122223333";
const OTHER_MEMBER: &str = "444455556666";
const ROLE_NAME: &str = "trailwarden-responder";
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/trailwarden-responder";
const EVENT: &str = "iam-create-user-in-member-account.json";

/// The responder role as member.yaml creates it (moto does not evaluate the trust policy).
async fn create_responder_role(iam: &aws_sdk_iam::Client) {
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{HOME}:root")},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"},
                "ArnLike": {"aws:PrincipalArn": [
                    format!("arn:aws:iam::{HOME}:role/trailwarden-UnapprovedUserFunctionRole-*"),
                    format!("arn:aws:iam::{HOME}:role/trailwarden-SecurityGroupFunctionRole-*"),
                ]}
            }
        }]
    });
    iam.create_role()
        .role_name(ROLE_NAME)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
}

/// A user with a console password, an access key and an inline policy; its id and ARN.
async fn create_user(iam: &aws_sdk_iam::Client, name: &str) -> (String, String) {
    let (id, arn) = new_user(iam, name, "/").await;
    add_login_profile(iam, name).await;
    add_access_key(iam, name).await;
    put_inline_policy(iam, name, "admin", ALLOW_ALL).await;
    (id, arn)
}

/// The member-account sample event, for the user moto made (CloudTrail logs the real id).
fn event_for(name: &str, user_id: &str, arn: &str, event_id: &str) -> Value {
    let mut ev = fixture(EVENT);
    let d = &mut ev["detail"];
    d["requestParameters"]["userName"] = name.into();
    d["responseElements"]["user"]["userName"] = name.into();
    d["responseElements"]["user"]["userId"] = user_id.into();
    d["responseElements"]["user"]["arn"] = arn.into();
    d["eventID"] = event_id.into();
    ev
}

/// The event id of the sample event for `ci-deployer`.
const EVENT_ID: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";

/// The member-account sample event for the user `ci-deployer` moto made.
fn ci_deployer_event(user_id: &str, arn: &str) -> Value {
    event_for("ci-deployer", user_id, arn, EVENT_ID)
}

struct World {
    moto: Moto,
    sdk: SdkConfig,
    inbox: AlertInbox,
    member: aws_sdk_iam::Client,
}

async fn world() -> World {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let inbox = support::inbox(&sdk).await;
    let member = aws_sdk_iam::Client::new(
        &moto
            .in_account(Some(MEMBER), trailwarden_testkit::REGION)
            .await,
    );
    World {
        moto,
        sdk,
        inbox,
        member,
    }
}

impl World {
    /// The function behind a fault proxy (which also answers the one IAM listing moto lacks),
    /// configured for an organization.
    async fn function(&self, rules: Vec<Rule>) -> (FaultProxy, Service<UnapprovedUser>) {
        let proxy = support::proxy(&self.moto, rules).await;
        let state = function(
            &proxy.sdk_config(),
            &[
                ("EVIDENCE_BUCKET", EVIDENCE_BUCKET),
                ("HOME_ACCOUNT_ID", HOME),
                ("MEMBER_ROLE_NAME", ROLE_NAME),
            ],
            &self.inbox.topic_arn,
        )
        .await;
        (proxy, state)
    }

    async fn alerts(&self, n: usize) -> Vec<ReceivedAlert> {
        self.inbox.receive_only(n).await
    }
}

fn action<'a>(alert: &'a ReceivedAlert, step: &str) -> (&'a str, &'a str) {
    let a = alert.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["step"] == step)
        .unwrap_or_else(|| panic!("no step {step} in {:#}", alert.body["actions"]));
    (
        a["status"].as_str().unwrap(),
        a["detail"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn a_user_created_in_a_member_account_is_removed_there_through_the_member_role() {
    let w = world().await;
    let home = aws_sdk_iam::Client::new(&w.sdk);
    let other = aws_sdk_iam::Client::new(
        &w.moto
            .in_account(Some(OTHER_MEMBER), trailwarden_testkit::REGION)
            .await,
    );
    create_responder_role(&w.member).await;
    // The same name in the home account and in another member account: neither may be touched.
    let (id, arn) = create_user(&w.member, "ci-deployer").await;
    assert!(
        arn.starts_with(&format!("arn:aws:iam::{MEMBER}:user/")),
        "{arn}"
    );
    create_user(&home, "ci-deployer").await;
    create_user(&other, "ci-deployer").await;
    let s3 = trailwarden::aws::s3_client(&w.sdk);
    create_evidence_bucket(&s3).await;

    let (proxy, f) = w.function(Vec::new()).await;
    let event_id = EVENT_ID;
    let out = invoke(&f, &ci_deployer_event(&id, &arn))
        .await
        .expect("handled");

    assert!(!user_exists(&w.member, "ci-deployer").await);
    assert!(user_exists(&home, "ci-deployer").await);
    assert!(user_exists(&other, "ci-deployer").await);
    let steps = out["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s["status"] == "done" || s["status"] == "already_done"),
        "{steps:#?}"
    );
    // Evidence stays in the tooling account, filed under the member account.
    let key = format!("trailwarden/evidence/{MEMBER}/ci-deployer/{event_id}.json");
    let evidence = read_evidence(&s3, &key).await;
    assert_eq!(evidence["user"]["arn"], arn.as_str());
    let alerts = w.alerts(1).await;
    assert_eq!(alerts[0].body["account"], MEMBER);
    assert_eq!(action(&alerts[0], "DeleteUser").0, "done");
    assert_eq!(proxy.count("AssumeRole"), 1);

    // A second user in the same account: the role's credentials are reused, not assumed again.
    let (id2, arn2) = create_user(&w.member, "ci-deployer-2").await;
    invoke(
        &f,
        &event_for(
            "ci-deployer-2",
            &id2,
            &arn2,
            "0a1b2c3d-4e5f-4061-8273-948596a7b8c9",
        ),
    )
    .await
    .expect("handled");
    assert!(!user_exists(&w.member, "ci-deployer-2").await);
    assert_eq!(proxy.count("AssumeRole"), 1);
    w.alerts(1).await;
}

/// STS's answer when the role does not exist or its trust policy does not admit the caller
/// (STS does not say which).
fn access_denied() -> Fault {
    Fault::Canned {
        status: 403,
        body: format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::{HOME}:assumed-role/trailwarden-UnapprovedUserFunctionRole-1Q2W3E4R5T6Y/trailwarden-unapproved-user is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}</Message></Error><RequestId>4d1e0a6b-2c3f-4e5a-9b8c-7d6e5f4a3b2c</RequestId></ErrorResponse>"#
        ),
    }
}

#[tokio::test]
async fn a_missing_member_role_raises_one_high_alert_and_no_retry() {
    let w = world().await;
    let (id, arn) = create_user(&w.member, "ci-deployer").await;
    let (proxy, f) = w
        .function(vec![Rule::always("AssumeRole", access_denied())])
        .await;

    let out = invoke(&f, &ci_deployer_event(&id, &arn))
        .await
        .expect("a refused role does not fail the invocation: a retry would be refused again");

    // Nothing was changed in the member account, and STS was asked once.
    assert!(user_exists(&w.member, "ci-deployer").await);
    assert_eq!(proxy.count("AssumeRole"), 1);
    let steps = out["steps"].as_array().unwrap();
    assert_eq!(steps[0]["step"], "CaptureEvidence");
    assert_eq!(steps[0]["status"], "failed");
    assert!(
        steps[1..].iter().all(|s| s["status"] == "skipped"),
        "{steps:#?}"
    );

    let alerts = w.alerts(2).await;
    let a = only_detection(&alerts, "member-role-unavailable");
    assert_eq!(a.body["severity"], "high");
    assert_eq!(a.body["account"], MEMBER);
    assert_eq!(
        a.body["title"],
        format!("could not act in account {MEMBER}: role {ROLE_NAME} missing or denied")
    );
    let summary = a.body["summary"].as_str().unwrap();
    assert!(summary.contains(ROLE_ARN), "{summary}");
    assert!(summary.contains("AccessDenied"), "{summary}");
    assert!(summary.contains("not retried"), "{summary}");
    // The user's own alert says what could not be done, and why.
    let user = alerts
        .iter()
        .find(|a| a.body["detection"] == unapproved_user::DETECTION)
        .expect("the unapproved-user alert");
    let (status, detail) = action(user, "CaptureEvidence");
    assert_eq!(status, "failed");
    assert!(
        detail.contains(&format!(
            "could not act in account {MEMBER}: role {ROLE_ARN} missing or denied: AccessDenied"
        )),
        "{detail}"
    );
    let summary = user.body["summary"].as_str().unwrap();
    assert!(summary.contains("not retried"), "{summary}");
}

#[tokio::test]
async fn an_unreachable_sts_still_fails_the_invocation_so_lambda_retries() {
    let w = world().await;
    let (id, arn) = create_user(&w.member, "ci-deployer").await;
    let (proxy, f) = w
        .function(vec![Rule::always("AssumeRole", Fault::Status(503))])
        .await;

    let err = invoke(&f, &ci_deployer_event(&id, &arn))
        .await
        .expect_err("STS unavailable is worth a retry");
    assert!(
        err.contains(&format!("could not act in account {MEMBER}")),
        "{err}"
    );
    assert!(user_exists(&w.member, "ci-deployer").await);
    // The SDK's own attempts, then the invocation's error: Lambda retries it later.
    assert_eq!(
        proxy.count("AssumeRole"),
        trailwarden::aws::MAX_ATTEMPTS as usize
    );
    let alerts = w.alerts(1).await;
    assert_eq!(alerts[0].body["detection"], unapproved_user::DETECTION);
    assert_eq!(action(&alerts[0], "CaptureEvidence").0, "failed");
}

#[tokio::test]
async fn another_accounts_user_is_not_acted_on_here_without_a_member_role() {
    // The stack receives the organization's events but has no member role (MemberRoleName
    // empty): a user created in a member account must not be "removed" with this account's
    // credentials, which would find this account's namesake (or nothing) and report done.
    let w = world().await;
    let home = aws_sdk_iam::Client::new(&w.sdk);
    let (id, arn) = create_user(&w.member, "ci-deployer").await;
    create_user(&home, "ci-deployer").await;
    let s3 = trailwarden::aws::s3_client(&w.sdk);
    create_evidence_bucket(&s3).await;
    let proxy = support::proxy(&w.moto, Vec::new()).await;
    let f = function(
        &proxy.sdk_config(),
        &[
            ("EVIDENCE_BUCKET", EVIDENCE_BUCKET),
            ("HOME_ACCOUNT_ID", HOME),
            ("MEMBER_ROLE_NAME", ""),
        ],
        &w.inbox.topic_arn,
    )
    .await;

    let out = invoke(&f, &ci_deployer_event(&id, &arn))
        .await
        .expect("not retried: no role will appear by retrying");

    assert!(user_exists(&w.member, "ci-deployer").await);
    assert!(user_exists(&home, "ci-deployer").await);
    assert_eq!(proxy.count("AssumeRole"), 0);
    let steps = out["steps"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "failed", "{steps:#?}");
    assert!(
        steps[1..].iter().all(|s| s["status"] == "skipped"),
        "{steps:#?}"
    );
    let alerts = w.alerts(2).await;
    let a = only_detection(&alerts, "member-role-unavailable");
    assert_eq!(a.body["account"], MEMBER);
    assert_eq!(
        a.body["title"],
        format!("could not act in account {MEMBER}: no member role configured")
    );
}
