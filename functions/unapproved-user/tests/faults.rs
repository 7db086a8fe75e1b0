//! unapproved-user when IAM misbehaves: throttling, 5xx, timeouts, lost responses and
//! `DeleteConflict`, injected by the testkit's fault proxy in front of moto. The function
//! talks to the proxy with the retry settings it uses in Lambda; the tests arrange and check
//! the account directly against moto, count the attempts the proxy saw, and read the alert
//! back from SQS.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::{
    add_access_key, add_login_profile, add_to_new_group, create_evidence_bucket, function,
    new_user, one_alert, proxy, put_inline_policy, read_evidence, user_exists, ALLOW_ALL,
    EVIDENCE_BUCKET,
};
use trailwarden::lambda::Service;
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{fixture, invoke, Moto, ReceivedAlert};
use unapproved_user::UnapprovedUser;

struct Env {
    moto: Moto,
    proxy: FaultProxy,
    /// Straight to moto, for arranging and checking.
    iam: aws_sdk_iam::Client,
    s3: aws_sdk_s3::Client,
    inbox: trailwarden_testkit::AlertInbox,
}

async fn setup() -> Env {
    let moto = Moto::start().await.unwrap();
    let cfg = moto.sdk_config();
    Env {
        proxy: proxy(&moto, vec![]).await,
        inbox: support::inbox(&cfg).await,
        iam: aws_sdk_iam::Client::new(&cfg),
        s3: trailwarden::aws::s3_client(&cfg),
        moto,
    }
}

impl Env {
    /// The function, talking to AWS through the proxy.
    async fn state(&self, extra: &[(&str, &str)]) -> Service<UnapprovedUser> {
        function(&self.proxy.sdk_config(), extra, &self.inbox.topic_arn).await
    }
}

/// A user with a console password, two access keys, an inline policy and a group.
async fn create_user(iam: &aws_sdk_iam::Client, name: &str) -> (String, String, Vec<String>) {
    let (id, arn) = new_user(iam, name, "/").await;
    add_login_profile(iam, name).await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        keys.push(add_access_key(iam, name).await);
    }
    put_inline_policy(iam, name, "everything", ALLOW_ALL).await;
    add_to_new_group(iam, name, &format!("{name}-group")).await;
    (id, arn, keys)
}

/// The CreateUser event for `name`, as CloudTrail would log it for what moto created.
fn event_for(name: &str, user_id: &str, arn: &str) -> Value {
    let mut ev = fixture("iam-create-user-by-iam-user.json");
    ev["detail"]["requestParameters"]["userName"] = name.into();
    let user = &mut ev["detail"]["responseElements"]["user"];
    user["userName"] = name.into();
    user["userId"] = user_id.into();
    user["arn"] = arn.into();
    ev
}

/// (status, detail) of the one action with this step and target.
fn action<'a>(alert: &'a ReceivedAlert, step: &str, target: &str) -> (&'a str, &'a str) {
    let found: Vec<&Value> = alert.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["step"] == step && a["target"] == target)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{step} {target} in {:#}",
        alert.body["actions"]
    );
    (
        found[0]["status"].as_str().unwrap(),
        found[0]["detail"].as_str().unwrap_or(""),
    )
}

/// Asserts that no action of the alert failed, listing those that did.
fn assert_nothing_failed(alert: &ReceivedAlert) {
    let failed = failed_steps(alert);
    assert!(failed.is_empty(), "{failed:?}");
}

fn failed_steps(alert: &ReceivedAlert) -> Vec<String> {
    alert.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "failed")
        .map(|a| format!("{} {}: {}", a["step"], a["target"], a["detail"]))
        .collect()
}

#[tokio::test]
async fn throttling_and_5xx_on_iam_and_sns_are_retried_and_the_deletion_completes() {
    let t = setup().await;
    let (id, arn, keys) = create_user(&t.iam, "mallory").await;
    let state = t.state(&[]).await;
    t.proxy.add(Rule::first(1, "GetUser", Fault::Status(500)));
    t.proxy
        .add(Rule::first(2, "DeleteAccessKey", Fault::Throttle));
    t.proxy
        .add(Rule::first(1, "DeleteLoginProfile", Fault::Status(503)));
    t.proxy
        .add(Rule::first(1, "DeleteUserPolicy", Fault::Status(502)));
    t.proxy.add(Rule::first(1, "DeleteUser", Fault::Throttle));
    t.proxy.add(Rule::first(1, "Publish", Fault::Throttle));

    let out = invoke(&state, &event_for("mallory", &id, &arn))
        .await
        .expect("every fault was transient: the job completes");
    assert_eq!(
        out["alerts"][0]["title"],
        "Unapproved IAM user mallory deleted"
    );
    assert!(!user_exists(&t.iam, "mallory").await);

    // Each faulted call was sent again, and only as often as needed.
    assert_eq!(t.proxy.faulted("GetUser"), 1);
    assert!(t.proxy.count("GetUser") >= 2);
    assert_eq!(t.proxy.count("DeleteAccessKey"), keys.len() + 2);
    assert_eq!(t.proxy.count("DeleteLoginProfile"), 2);
    assert_eq!(t.proxy.count("DeleteUserPolicy"), 2);
    assert_eq!(t.proxy.count("DeleteUser"), 2);
    assert_eq!(t.proxy.count("Publish"), 2);

    // The alert (published on the second attempt) reports success, not the hiccups.
    let alert = one_alert(&t.inbox).await;
    assert_nothing_failed(&alert);
    let (status, detail) = action(&alert, "DeleteAccessKeys", "mallory");
    assert_eq!(status, "done");
    for k in &keys {
        assert!(detail.contains(&format!("{k} deleted")), "{detail}");
    }
    assert_eq!(action(&alert, "DeleteLoginProfile", "mallory").0, "done");
    assert_eq!(action(&alert, "DeleteUserPolicies", "mallory").0, "done");
    assert_eq!(action(&alert, "DeleteUser", "mallory").0, "done");
    drop(t.moto);
}

#[tokio::test]
async fn retries_back_off_exponentially() {
    let t = setup().await;
    // The standard retry strategy with its jitter switched off, so that the waits can be
    // measured: 200 ms, 400 ms, 800 ms, 1600 ms. (In Lambda the same strategy waits a random
    // part of each of these.)
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(trailwarden::aws::MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(200))
        .with_use_static_exponential_base(true);
    let state = function(&t.proxy.sdk_config_with(retry), &[], &t.inbox.topic_arn).await;
    let (id, arn, _) = create_user(&t.iam, "mallory").await;
    t.proxy
        .add(Rule::first(4, "DeleteLoginProfile", Fault::Throttle));

    invoke(&state, &event_for("mallory", &id, &arn))
        .await
        .expect("the fifth attempt succeeds");
    assert_eq!(t.proxy.count("DeleteLoginProfile"), 5);
    let gaps = t.proxy.gaps("DeleteLoginProfile");
    let expected = [200u64, 400, 800, 1600];
    for (gap, want) in gaps.iter().zip(expected) {
        assert!(
            gap.as_millis() as u64 >= want - 20,
            "waits {gaps:?} do not grow as {expected:?} ms"
        );
    }
    assert!(
        gaps[3] > gaps[0] * 4,
        "waits {gaps:?} do not grow exponentially"
    );
    let alert = one_alert(&t.inbox).await;
    assert_eq!(action(&alert, "DeleteLoginProfile", "mallory").0, "done");
    drop(t.moto);
}

#[tokio::test]
async fn a_persistent_fault_is_reported_and_the_second_delivery_finishes_without_harm() {
    let t = setup().await;
    create_evidence_bucket(&t.s3).await;
    let (id, arn, keys) = create_user(&t.iam, "mallory").await;
    let event = event_for("mallory", &id, &arn);
    let state = t.state(&[("EVIDENCE_BUCKET", EVIDENCE_BUCKET)]).await;
    t.proxy
        .add(Rule::always("DeleteUserPolicy", Fault::Throttle));

    // First delivery: IAM throttles DeleteUserPolicy on every attempt.
    let err = invoke(&state, &event).await.unwrap_err().to_string();
    assert!(err.contains("DeleteUserPolicy everything"), "{err}");
    assert!(err.contains("Throttling"), "{err}");
    assert_eq!(
        t.proxy.count("DeleteUserPolicy"),
        trailwarden::aws::MAX_ATTEMPTS as usize,
        "the SDK gives up after MAX_ATTEMPTS attempts"
    );
    assert!(
        user_exists(&t.iam, "mallory").await,
        "the inline policy kept the user"
    );
    let alert = one_alert(&t.inbox).await;
    assert_eq!(
        alert.body["title"],
        "Unapproved IAM user mallory: deletion incomplete"
    );
    let (status, detail) = action(&alert, "DeleteUserPolicies", "mallory");
    assert_eq!(status, "failed");
    assert!(detail.contains("DeleteUserPolicy everything"), "{detail}");
    assert!(detail.contains("Throttling"), "{detail}");
    let (status, detail) = action(&alert, "DeleteUser", "mallory");
    assert_eq!(status, "failed");
    assert!(
        detail.contains("steps that did not complete: DeleteUserPolicy everything"),
        "{detail}"
    );
    // What did succeed is reported as done: the keys and the password are gone.
    let (status, detail) = action(&alert, "DeleteAccessKeys", "mallory");
    assert_eq!(status, "done");
    for k in &keys {
        assert!(detail.contains(&format!("{k} deleted")), "{detail}");
    }
    assert_eq!(action(&alert, "DeleteLoginProfile", "mallory").0, "done");
    let key = format!(
        "trailwarden/evidence/123456789012/mallory/{}.json",
        event["detail"]["eventID"].as_str().unwrap()
    );
    let uri = format!("s3://{EVIDENCE_BUCKET}/{key}");
    assert_eq!(action(&alert, "PutEvidence", &uri).0, "done");
    let evidence = read_evidence(&t.s3, &key).await;
    assert_eq!(evidence["access_keys"].as_array().unwrap().len(), 2);

    // Lambda redelivers once IAM is healthy: the job finishes.
    t.proxy.heal();
    t.proxy.reset_counts();
    invoke(&state, &event)
        .await
        .expect("the second delivery completes");
    assert!(!user_exists(&t.iam, "mallory").await);
    let retry = one_alert(&t.inbox).await;
    assert_eq!(retry.body["title"], "Unapproved IAM user mallory deleted");
    assert_nothing_failed(&retry);
    assert_eq!(action(&retry, "DeleteUserPolicies", "mallory").0, "done");
    assert_eq!(action(&retry, "DeleteUser", "mallory").0, "done");
    // Nothing is done twice: the keys and password deleted the first time are not deleted
    // again, and the first (fuller) evidence is kept.
    assert_eq!(t.proxy.count("DeleteAccessKey"), 0);
    assert_eq!(
        action(&retry, "DeleteLoginProfile", "mallory").0,
        "already_done"
    );
    let (status, detail) = action(&retry, "PutEvidence", &uri);
    assert_eq!(status, "already_done");
    assert!(detail.contains("earlier delivery"), "{detail}");
    assert_eq!(
        read_evidence(&t.s3, &key).await,
        evidence,
        "evidence was overwritten"
    );
    drop(t.moto);
}

#[tokio::test]
async fn lost_responses_and_delete_conflicts_end_as_done_or_already_done() {
    let t = setup().await;
    let (id, arn, keys) = create_user(&t.iam, "mallory").await;
    let state = t.state(&[("NOT_FOUND_RETRY_SECONDS", "5")]).await;
    // IAM carries these out but the answer is lost: the SDK's retry then finds the thing gone.
    t.proxy.add(Rule::first(
        1,
        "DeleteAccessKey",
        Fault::LostResponse(Box::new(Fault::Status(500))),
    ));
    t.proxy.add(Rule::first(
        1,
        "RemoveUserFromGroup",
        Fault::LostResponse(Box::new(Fault::Throttle)),
    ));
    // IAM is eventually consistent: DeleteUser may still see what was just removed.
    t.proxy.add(Rule::first(
        2,
        "DeleteUser",
        Fault::error(409, "DeleteConflict"),
    ));
    // ...and the deletion that finally goes through loses its answer too.
    t.proxy.add(Rule::first(
        1,
        "DeleteUser",
        Fault::LostResponse(Box::new(Fault::Status(503))),
    ));

    invoke(&state, &event_for("mallory", &id, &arn))
        .await
        .expect("nothing here is a failure");
    assert!(!user_exists(&t.iam, "mallory").await);
    // DeleteConflict is not retried by the SDK but by the function (twice), then the SDK
    // retries the lost 503 once.
    assert_eq!(t.proxy.count("DeleteUser"), 4);
    assert_eq!(t.proxy.count("DeleteAccessKey"), keys.len() + 1);

    let alert = one_alert(&t.inbox).await;
    assert_nothing_failed(&alert);
    // One key's deletion lost its answer (the retry found it gone), the other did not.
    let (status, detail) = action(&alert, "DeleteAccessKeys", "mallory");
    assert_eq!(status, "done");
    let deleted = keys
        .iter()
        .filter(|k| detail.contains(&format!("{k} deleted")))
        .count();
    let already = keys
        .iter()
        .filter(|k| detail.contains(&format!("{k} already deleted")))
        .count();
    assert_eq!((deleted, already), (1, 1), "{detail}");
    let (status, detail) = action(&alert, "RemoveUserFromGroups", "mallory");
    assert_eq!(status, "already_done");
    assert!(detail.contains("mallory-group already removed"), "{detail}");
    let (status, detail) = action(&alert, "DeleteUser", "mallory");
    assert_eq!(status, "already_done");
    assert!(detail.contains("no longer exists"), "{detail}");
    drop(t.moto);
}

#[tokio::test]
async fn a_user_iam_does_not_show_yet_is_waited_for_then_deleted() {
    // IAM is eventually consistent: right after CreateUser, GetUser may answer NoSuchEntity.
    let t = setup().await;
    let (id, arn, _) = create_user(&t.iam, "mallory").await;
    let state = t.state(&[("NOT_FOUND_RETRY_SECONDS", "10")]).await;
    t.proxy
        .add(Rule::first(2, "GetUser", Fault::error(404, "NoSuchEntity")));
    invoke(&state, &event_for("mallory", &id, &arn))
        .await
        .expect("the user shows up and is deleted");
    assert!(!user_exists(&t.iam, "mallory").await);
    assert!(t.proxy.count("GetUser") >= 3);
    // NoSuchEntity is an answer, not a transient error: the function waits between lookups
    // (250 ms, then 500 ms), the SDK does not retry it.
    let gaps = t.proxy.gaps("GetUser");
    assert!(gaps[0] >= Duration::from_millis(240), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(490), "{gaps:?}");
    let alert = one_alert(&t.inbox).await;
    assert_eq!(action(&alert, "DeleteUser", "mallory").0, "done");
    drop(t.moto);
}

#[tokio::test]
async fn a_call_that_times_out_is_retried_and_not_done_twice() {
    let t = setup().await;
    // trailwarden::aws::sdk_config sets no attempt timeout; a client with one (as a Lambda
    // with a short timeout needs) gives up on a hung call and retries it.
    let cfg = t
        .proxy
        .sdk_config()
        .to_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(800))
                .build(),
        )
        .build();
    let state = function(&cfg, &[], &t.inbox.topic_arn).await;
    let (id, arn, _) = create_user(&t.iam, "slowpoke").await;
    t.proxy.add(Rule::first(
        1,
        "DeleteLoginProfile",
        Fault::Delay(Duration::from_secs(2)),
    ));

    invoke(&state, &event_for("slowpoke", &id, &arn))
        .await
        .expect("the retry after the timeout completes the job");
    assert_eq!(t.proxy.count("DeleteLoginProfile"), 2);
    assert!(!user_exists(&t.iam, "slowpoke").await);
    let alert = one_alert(&t.inbox).await;
    assert_eq!(action(&alert, "DeleteLoginProfile", "slowpoke").0, "done");
    assert_eq!(action(&alert, "DeleteUser", "slowpoke").0, "done");
    // Let the held request reach moto (it answers NoSuchEntity, to nobody) before the next
    // test resets the server.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(t.moto);
}
