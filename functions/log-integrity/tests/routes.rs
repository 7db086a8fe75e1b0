//! Digest notifications by every route (S3 event notification straight, or through SNS and
//! SQS) plan the same verification; CloudTrail's own SNS notification names log files only,
//! which log-integrity skips with the reason.

use log_integrity::{LogIntegrity, Step};
use trailwarden::respond::{Decide, Decision, StepKind};
use trailwarden::Payload;
use trailwarden_testkit::{config, payload};

fn decide(p: &Payload) -> Decision<log_integrity::Case, Step> {
    LogIntegrity::decide(&config::<LogIntegrity>(&[]), p, &())
}

fn target(name: &str) -> String {
    match decide(&payload(name)) {
        Decision::Respond { plan, .. } => {
            assert_eq!(plan.len(), 1, "{name}");
            plan[0].step.target()
        }
        Decision::Ignore(why) => panic!("{name}: ignored: {why}"),
    }
}

#[test]
fn a_digest_through_sns_and_sqs_is_verified_like_the_direct_notification() {
    let direct = target("s3-notification-digest-file.json");
    assert_eq!(target("sqs-sns-s3-notification-digest-file.json"), direct);
    // The bucket's region comes through for the regional client.
    let Payload::S3Objects(o) = payload("sqs-sns-s3-notification-digest-file.json") else {
        panic!("not S3 objects")
    };
    assert_eq!(o[0].region.as_deref(), Some("us-east-1"));
}

#[test]
fn cloudtrail_s_log_file_notification_is_skipped_with_the_reason() {
    for name in [
        "sns-cloudtrail-log-file-delivered.json",
        "sqs-sns-cloudtrail-log-file-delivered.json",
    ] {
        let Decision::Ignore(why) = decide(&payload(name)) else {
            panic!("{name}: a log file was planned for digest verification")
        };
        assert!(why.contains("log file"), "{name}: {why}");
    }
}
