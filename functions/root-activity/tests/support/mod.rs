//! Shared set-up of the root-activity tests: sample events of refused calls; against moto, the
//! alert inbox and the function built with its topic.
#![allow(dead_code)]

use aws_config::SdkConfig;
use root_activity::RootActivity;
use serde_json::{json, Value};
use std::time::Duration;
use trailwarden::lambda::Service;
use trailwarden_testkit::{alerting_service, AlertInbox, Moto, ReceivedAlert};

/// The sample event `name` as CloudTrail records the call when AWS refused it: `errorCode`
/// and `errorMessage` set, no `responseElements`.
pub fn refused(name: &str, code: &str, message: &str) -> Value {
    let mut v = trailwarden_testkit::fixture(name);
    v["detail"]["errorCode"] = json!(code);
    v["detail"]["errorMessage"] = json!(message);
    v["detail"]["responseElements"] = Value::Null;
    v
}

/// The sample root API call (`CreateBucket`) as made with a long-term access key of the root
/// user: an `AKIA` key and no session.
pub fn long_term_key_call() -> Value {
    let mut v = trailwarden_testkit::fixture("root-api-call-create-bucket.json");
    v["detail"]["userIdentity"]["accessKeyId"] = json!("AKIAEXAMPLEROOTKEY01");
    v["detail"]["userIdentity"]
        .as_object_mut()
        .unwrap()
        .remove("sessionContext");
    v
}

/// The alert inbox (topic and subscribed queue) the tests read alerts back from.
pub async fn inbox(moto: &Moto) -> AlertInbox {
    moto.alert_inbox("root-alerts").await
}

/// root-activity built against `sdk`, publishing to `topic`, with `more` variables.
pub async fn root_activity(
    sdk: &SdkConfig,
    topic: &str,
    more: &[(&str, &str)],
) -> Service<RootActivity> {
    alerting_service::<RootActivity>(sdk, topic, more).await
}

/// The one alert the inbox receives next (waiting up to 20 s); fails, saying `what`, on
/// any other number.
pub async fn receive_one(inbox: &AlertInbox, what: &str) -> ReceivedAlert {
    let mut got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1, "{what}: exactly one alert");
    got.remove(0)
}
