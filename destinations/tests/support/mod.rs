//! Shared by the destination tests: an alert as unapproved-user sends it, and routers built
//! against moto.
#![allow(dead_code)]

use trailwarden::alert::{Action, EventContext, Status};
use trailwarden::config::Common;
use trailwarden::{Alert, Severity};
use trailwarden_destinations::http::Backoff;
use trailwarden_destinations::{Router, Settings};

pub const ACCOUNT: &str = "123456789012";

/// The alert unapproved-user sends when it removed (`done`) or would remove a user.
pub fn user_alert(done: bool) -> Alert {
    let mut a = Alert::new(
        Severity::High,
        "iam-unapproved-user",
        if done {
            "Unapproved IAM user mallory removed"
        } else {
            "Would remove unapproved IAM user mallory"
        },
    )
    .fact("User", "mallory")
    .fact("User ARN", "arn:aws:iam::123456789012:user/mallory")
    .fact("Path", "/")
    .fact("User ID", "AIDA4EXAMPLEMALLORY1")
    .fact("Created by", "arn:aws:iam::123456789012:user/alice");
    a.account = Some(ACCOUNT.into());
    a.region = Some("us-east-1".into());
    a.summary = "IAM user mallory was created by arn:aws:iam::123456789012:user/alice, who is not an approved creator.".into();
    a.event = Some(EventContext {
        event_name: Some("CreateUser".into()),
        event_source: Some("iam.amazonaws.com".into()),
        event_time: Some("2024-08-01T13:33:28Z".into()),
        event_id: Some("3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f".into()),
        actor: Some("arn:aws:iam::123456789012:user/alice".into()),
        actor_kind: Some("IAMUser".into()),
        source_ip: Some("198.51.100.23".into()),
        user_agent: Some("aws-cli/2.17.20".into()),
        error_code: None,
        console_url: Some("https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f".into()),
    });
    a.references = vec![
        "MITRE ATT&CK T1136.003 Create Account: Cloud Account: https://attack.mitre.org/techniques/T1136/003/".into(),
    ];
    let status = if done { Status::Done } else { Status::Planned };
    a.actions = vec![
        Action::new("CaptureEvidence", "mallory", Status::Done),
        Action::new("DeleteAccessKeys", "mallory", status),
        Action::new("DeleteUser", "mallory", status),
    ];
    a.dry_run = !done;
    a
}

/// A router for `doc` against `sdk`, with the alert topic `topic`, and quick retries.
pub fn router(sdk: &aws_config::SdkConfig, doc: &str, topic: Option<&str>) -> Router {
    let common = Common {
        alert_topic_arn: topic.map(str::to_string),
        ..Common::default()
    };
    Router::new(sdk, Settings::parse(doc).expect("valid settings"), &common)
        .expect("router")
        .with_backoff(Backoff {
            first: std::time::Duration::from_millis(20),
            max: std::time::Duration::from_millis(100),
        })
}
