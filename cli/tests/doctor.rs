//! `trailwarden doctor` against moto: a deliberately broken deployment (trail logging stopped,
//! no bucket notifications to EventBridge, a disabled rule, an unconfirmed subscription, a
//! member account without a forwarder) reports each problem with its fix and exits 1; the same
//! deployment repaired exits 0.
//!
//! moto does not keep a bucket's `EventBridgeConfiguration` and confirms every subscription
//! at once, so the fault proxy in front of it gives S3's and SNS's real answers for those two
//! calls (what AWS says for an enabled EventBridge notification, and for an e-mail address
//! that has not clicked its confirmation link).

use serde_json::{json, Value};
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{aws_command, outcome, Moto};

const STACK: &str = "trailwarden";
const ACCOUNT: &str = "123456789012";
const MEMBER: &str = "111111111111";
const MEMBER_ROLE: &str = "trailwarden-responder";
const BUCKET: &str = "trailwarden-trail-123456789012";
const TRAIL: &str = "trailwarden-Trail-1Q2W3E4R5T6Y";
const TOPIC: &str = "trailwarden-AlertTopic-7U8I9O0P";
const DISABLED_RULE: &str = "trailwarden-RootActivityFunctionRootSignIn-1F2G3H4J";

const FUNCTIONS: [&str; 10] = [
    "UnapprovedUser",
    "RootActivity",
    "SecurityGroup",
    "LogDelivery",
    "LogIntegrity",
    "Catalog",
    "Insights",
    "Tamper",
    "Watchdog",
    "Backfill",
];

struct Deployment {
    topic_arn: String,
}

/// The stack's resources as `sam deploy` names them, a trail with a KMS key, and a member
/// account (moto gives assumed-role credentials the role's account).
async fn deploy(moto: &Moto, healthy: bool) -> Deployment {
    let cfg = moto.sdk_config();
    let iam = aws_sdk_iam::Client::new(&cfg);
    let kms = aws_sdk_kms::Client::new(&cfg);
    let key = kms.create_key().send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    for f in FUNCTIONS {
        let name = format!("{STACK}-{f}FunctionRole-AB12CD34EF56");
        iam.create_role()
            .role_name(&name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
        if f.starts_with("Log") {
            let policy = json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "DecryptTrailFiles", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn}]});
            iam.put_role_policy()
                .role_name(&name)
                .policy_name(format!("{f}FunctionRolePolicy1"))
                .policy_document(policy.to_string())
                .send()
                .await
                .unwrap();
        }
    }
    let s3 = trailwarden::aws::s3_client(&cfg);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let ct = aws_sdk_cloudtrail::Client::new(&cfg);
    ct.create_trail()
        .name(TRAIL)
        .s3_bucket_name(BUCKET)
        .is_multi_region_trail(true)
        .enable_log_file_validation(true)
        .kms_key_id(&key_arn)
        .send()
        .await
        .unwrap();
    if healthy {
        ct.start_logging().name(TRAIL).send().await.unwrap();
    }
    let events = aws_sdk_eventbridge::Client::new(&cfg);
    let pattern = json!({"source": ["aws.s3"], "detail-type": ["Object Created"]}).to_string();
    for (name, enabled) in [
        (
            "trailwarden-LogDeliveryFunctionLogFileDelivered-9K8J7H6G",
            true,
        ),
        (
            "trailwarden-LogIntegrityFunctionDigestDelivered-5F4D3S2A",
            true,
        ),
        (DISABLED_RULE, healthy),
    ] {
        events
            .put_rule()
            .name(name)
            .event_pattern(&pattern)
            .state(if enabled {
                aws_sdk_eventbridge::types::RuleState::Enabled
            } else {
                aws_sdk_eventbridge::types::RuleState::Disabled
            })
            .send()
            .await
            .unwrap();
    }
    let sns = aws_sdk_sns::Client::new(&cfg);
    let topic_arn = sns
        .create_topic()
        .name(TOPIC)
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("email")
        .endpoint("secops@example.com")
        .send()
        .await
        .unwrap();
    if healthy {
        // The member template's forwarder: the member's events to this account's bus.
        let sts = aws_sdk_sts::Client::new(&cfg);
        let c = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{MEMBER}:role/{MEMBER_ROLE}"))
            .role_session_name("member-setup")
            .send()
            .await
            .unwrap();
        let c = c.credentials().unwrap();
        let member = cfg
            .to_builder()
            .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
                aws_sdk_sts::config::Credentials::new(
                    c.access_key_id(),
                    c.secret_access_key(),
                    Some(c.session_token().to_string()),
                    None,
                    "member",
                ),
            ))
            .build();
        let events = aws_sdk_eventbridge::Client::new(&member);
        events
            .put_rule()
            .name("trailwarden-member-ForwardEvents-2W3E4R")
            .event_pattern(json!({"source": ["aws.iam", "aws.ec2", "aws.signin"]}).to_string())
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule("trailwarden-member-ForwardEvents-2W3E4R")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("tooling-bus")
                    .arn(format!(
                        "arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"
                    ))
                    .role_arn(format!(
                        "arn:aws:iam::{MEMBER}:role/trailwarden-member-ForwardRole"
                    ))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    Deployment { topic_arn }
}

/// S3's answer for a bucket whose "Send notifications to Amazon EventBridge" is on.
fn eventbridge_on() -> Fault {
    Fault::Canned {
        status: 200,
        body: r#"<?xml version="1.0" encoding="UTF-8"?><NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><EventBridgeConfiguration></EventBridgeConfiguration></NotificationConfiguration>"#.into(),
    }
}

/// SNS's answer for an e-mail subscription not confirmed yet.
fn pending(topic_arn: &str) -> Fault {
    Fault::Canned {
        status: 200,
        body: format!(
            r#"<ListSubscriptionsByTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ListSubscriptionsByTopicResult><Subscriptions><member><TopicArn>{topic_arn}</TopicArn><Protocol>email</Protocol><SubscriptionArn>PendingConfirmation</SubscriptionArn><Owner>{ACCOUNT}</Owner><Endpoint>secops@example.com</Endpoint></member></Subscriptions></ListSubscriptionsByTopicResult><ResponseMetadata><RequestId>0c8f4a1e-5b2d-5f3a-9c7e-1a2b3c4d5e6f</RequestId></ResponseMetadata></ListSubscriptionsByTopicResponse>"#
        ),
    }
}

async fn doctor(endpoint: &str, format: &str) -> (i32, String, String) {
    let mut cmd = aws_command(env!("CARGO_BIN_EXE_trailwarden"), endpoint);
    cmd.args([
        "--format",
        format,
        "doctor",
        STACK,
        "--accounts",
        MEMBER,
        "--member-role",
        MEMBER_ROLE,
    ]);
    let out = tokio::process::Command::from(cmd).output().await.unwrap();
    outcome(&out)
}

fn problems(report: &Value) -> Vec<&Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["level"] == "PROBLEM")
        .collect()
}

/// The one problem about `subject`.
fn problem<'a>(report: &'a Value, subject: &str) -> &'a Value {
    let found: Vec<&Value> = problems(report)
        .into_iter()
        .filter(|c| c["subject"].as_str().unwrap().starts_with(subject))
        .collect();
    assert_eq!(found.len(), 1, "{subject}: {report:#}");
    found[0]
}

#[tokio::test]
async fn a_broken_deployment_is_reported_problem_by_problem_with_the_fixes() {
    let moto = Moto::start().await.unwrap();
    let d = deploy(&moto, false).await;
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    proxy.add(Rule::always(
        "ListSubscriptionsByTopic",
        pending(&d.topic_arn),
    ));
    // moto answers GetBucketNotificationConfiguration in a shape the SDK cannot read; S3's
    // answer for a bucket with no notification at all is an empty configuration.
    proxy.add(Rule::always(
        &format!("GET /{BUCKET}/"),
        Fault::Canned {
            status: 200,
            body: r#"<?xml version="1.0" encoding="UTF-8"?><NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></NotificationConfiguration>"#.into(),
        },
    ));
    let (code, out, err) = doctor(&proxy.endpoint, "json").await;
    assert_eq!(code, 1, "{out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], false);

    let trail = format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}");
    let p = problem(&report, &format!("trail {TRAIL}"));
    assert!(p["detail"].as_str().unwrap().contains("not logging"));
    assert_eq!(
        p["fix"],
        format!("aws cloudtrail start-logging --name {trail}")
    );

    let p = problem(&report, &format!("bucket {BUCKET}"));
    assert!(p["detail"].as_str().unwrap().contains("EventBridge"));
    assert_eq!(
        p["fix"],
        format!("aws s3api put-bucket-notification-configuration --bucket {BUCKET} --notification-configuration '{{\"EventBridgeConfiguration\": {{}}}}'")
    );

    let p = problem(&report, &format!("rule {DISABLED_RULE}"));
    assert!(p["fix"]
        .as_str()
        .unwrap()
        .starts_with(&format!("aws events enable-rule --name {DISABLED_RULE}")));

    let p = problem(&report, &format!("alert topic {TOPIC}"));
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("secops@example.com is not confirmed"));
    assert!(p["fix"]
        .as_str()
        .unwrap()
        .contains("Subscription Confirmation"));

    let p = problem(&report, "forwarder");
    assert_eq!(p["account"], MEMBER);
    assert!(p["fix"]
        .as_str()
        .unwrap()
        .contains(&format!("create-stack-instances --stack-set-name trailwarden-member --accounts {MEMBER} --regions us-east-1")));
    assert_eq!(problems(&report).len(), 5, "{report:#}");

    // What is right is said too: the functions, the trail's other settings, the KMS key.
    let ok: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["level"] == "OK")
        .map(|c| {
            format!(
                "{}: {}",
                c["subject"].as_str().unwrap(),
                c["detail"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        format!("stack {STACK}: all 10 functions present"),
        format!("trail {TRAIL}: multi-region"),
        format!("trail {TRAIL}: log file validation on"),
        format!(
            "member role {MEMBER_ROLE}: arn:aws:iam::{MEMBER}:role/{MEMBER_ROLE} can be assumed"
        ),
    ] {
        assert!(ok.contains(&expected), "{expected} not in {ok:#?}");
    }
    assert!(
        ok.iter()
            .any(|l| l.contains("the key policy lets the log functions decrypt")),
        "{ok:#?}"
    );

    // The text form: a table per account and region, each problem followed by its fix.
    let (code, text, _) = doctor(&proxy.endpoint, "text").await;
    assert_eq!(code, 1);
    assert!(
        text.contains(&format!("account {ACCOUNT}, us-east-1")),
        "{text}"
    );
    assert!(
        text.contains(&format!("account {MEMBER}, us-east-1")),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("PROBLEM") && l.contains("not logging"))
        .unwrap();
    assert!(
        lines[i + 1]
            .trim_start()
            .starts_with("fix: aws cloudtrail start-logging"),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("5 problem(s), 0 warning(s)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_healthy_deployment_passes() {
    let moto = Moto::start().await.unwrap();
    deploy(&moto, true).await;
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    // GetBucketNotificationConfiguration (`GET /bucket/?notification`).
    proxy.add(Rule::always(&format!("GET /{BUCKET}/"), eventbridge_on()));
    let (code, out, err) = doctor(&proxy.endpoint, "json").await;
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 0, "{report:#}\n{err}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["problems"], 0);
    assert_eq!(report["warnings"], 0, "{report:#}");
    assert!(report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["subject"] == "forwarder" && c["level"] == "OK"));
}
