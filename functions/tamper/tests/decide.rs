//! The pure decision over the sample events in `events/` (real EventBridge envelopes) and
//! variations of them: which changes are trailwarden's, their severity, the restart plan, and
//! the re-check plans for deleted or written-over trail files. Assertions are on the typed
//! case and plan, never on wording.

use serde_json::{json, Value};
use tamper::decide::{Note, Reason};
use tamper::{detections, Case, Change, Config, FileKind, Objects, Restart, Step, Tamper, Touch};
use trailwarden::respond::{Decide, Decision, Settings};
use trailwarden::{Payload, Severity};
use trailwarden_testkit::{config, fixture};

pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:trailwarden-AlertTopic-1A2B3C4D5E6F";
pub const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:123456789012:trail/trailwarden-trail";
pub const STATE_TABLE: &str = "trailwarden-StateTable-1Q2W3E4R5T6Y";

/// What the template passes for a stack named `trailwarden`.
pub fn self_resources() -> String {
    [
        "stack=trailwarden",
        "stack=arn:aws:cloudformation:us-east-1:123456789012:stack/trailwarden/1a2b3c4d-5e6f-11ef-9a0b-0a1b2c3d4e5f",
        "rule=trailwarden-*",
        "function=trailwarden-*",
        "role=trailwarden-*",
        &format!("topic={TOPIC}"),
        "queue=trailwarden-FailedEventsQueue-9Z8Y7X6W5V4U",
        "bucket=trailwarden-trail-123456789012",
        "key=arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "alarm=trailwarden-*",
        "policy=trailwarden-*",
        "secret=arn:aws:secretsmanager:us-east-1:123456789012:secret:trailwarden/pagerduty-a1B2c3",
        &format!("table={STATE_TABLE}"),
    ]
    .join(",")
}

fn cfg(extra: &[(&str, &str)]) -> Config {
    let resources = self_resources();
    let mut vars = vec![
        ("SELF_RESOURCES", resources.as_str()),
        ("TRAIL_ARNS", TRAIL),
        (
            "OWN_ROLE_ARNS",
            "arn:aws:iam::123456789012:role/trailwarden-TamperFunctionRole-*",
        ),
    ];
    vars.extend_from_slice(extra);
    config::<Tamper>(&vars)
}

fn decide(cfg: &Config, v: Value) -> Decision<Case, Step> {
    let p = Payload::from_value(v).expect("fixture parses");
    Tamper::decide(cfg, &p, &())
}

fn change(cfg: &Config, v: Value) -> (Change, Vec<Step>) {
    match decide(cfg, v) {
        Decision::Respond {
            case: Case::Change(c),
            plan,
        } => (c, plan.into_iter().map(|s| s.step).collect()),
        other => panic!("not a change: {other:?}"),
    }
}

fn objects(cfg: &Config, v: Value) -> (Objects, Vec<Step>) {
    match decide(cfg, v) {
        Decision::Respond {
            case: Case::Objects(o),
            plan,
        } => (o, plan.into_iter().map(|s| s.step).collect()),
        other => panic!("not a trail file case: {other:?}"),
    }
}

fn ignored(cfg: &Config, v: Value) -> String {
    match decide(cfg, v) {
        Decision::Ignore(r) => r,
        other => panic!("not ignored: {other:?}"),
    }
}

// --- the self family ------------------------------------------------------------------------

#[test]
fn the_self_family_is_built_from_the_stacks_resources_and_checks_its_own_examples() {
    let c = cfg(&[]);
    let families = c.catalog.families();
    assert_eq!(families.len(), 1);
    assert_eq!(families[0].0, detections::FAMILY);
    assert_eq!(families[0].1, 20, "{:?}", c.catalog.detections());
    for d in c.catalog.detections() {
        assert!(d.severity >= Severity::High, "{}", d.id);
        assert!(d.runbook.is_some(), "{}: no runbook", d.id);
        assert!(!d.examples.matching.is_empty(), "{}: no example", d.id);
        d.check_examples().unwrap();
    }
    // Nothing configured: no detection, and nothing of the account is trailwarden's.
    let empty = config::<Tamper>(&[]);
    assert!(empty.catalog.is_empty());
    let v = fixture("eventbridge-disable-rule-trailwarden.json");
    assert!(ignored(&empty, v).contains("not a change to any of trailwarden's own resources"));
}

#[test]
fn a_bad_resource_list_stops_the_cold_start_naming_the_variable() {
    for (var, value) in [
        ("SELF_RESOURCES", "rule=trailwarden-*,lambda=x"),
        ("SELF_RESOURCES", "function=*"),
        ("TRAIL_ARNS", "arn:aws:s3:::bucket"),
        ("RESTART_LOGGING", "sometimes"),
        ("MAX_DIGEST_GAP_MINUTES", "0"),
    ] {
        let e = Config::from_env(&trailwarden_testkit::env(&[(var, value)])).unwrap_err();
        assert_eq!(e.var, var, "{value}");
    }
}

// --- changes to trailwarden's resources ---------------------------------------------------------

#[test]
fn disabling_the_stacks_rule_is_critical_and_names_the_rule_and_who() {
    let (c, steps) = change(
        &cfg(&[]),
        fixture("eventbridge-disable-rule-trailwarden.json"),
    );
    assert_eq!(c.detection.id, detections::RULE);
    assert_eq!(c.severity, Severity::Critical);
    assert_eq!(
        c.resource,
        "trailwarden-LogDeliveryFunctionLogFileDelivered-1R2Q3P4O5N6M7"
    );
    assert_eq!(
        c.record.principal().display(),
        "arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/mallory"
    );
    assert!(c.reasons.is_empty());
    assert!(steps.is_empty(), "an alert is the response");
    assert_eq!(c.restart, Restart::NotApplicable);
    assert_eq!(c.account.as_deref(), Some("123456789012"));
}

#[test]
fn a_rule_of_someone_else_is_not_trailwardens() {
    let mut v = fixture("eventbridge-disable-rule-trailwarden.json");
    v["detail"]["requestParameters"]["name"] = json!("billing-nightly-export");
    assert!(ignored(&cfg(&[]), v).contains("billing-nightly-export"));
    // Losing its targets is as bad as being disabled.
    let mut v = fixture("eventbridge-disable-rule-trailwarden.json");
    v["detail"]["eventName"] = json!("RemoveTargets");
    v["detail"]["requestParameters"] = json!({"rule": "trailwarden-WatchdogFunctionCheck-7H6G5F4E3D2C", "ids": ["WatchdogFunctionCheckLambdaTarget"], "force": false});
    let (c, _) = change(&cfg(&[]), v);
    assert_eq!(c.detection.id, detections::RULE);
}

#[test]
fn deleting_or_throttling_a_function_is_critical() {
    let (c, _) = change(
        &cfg(&[]),
        fixture("lambda-delete-function-trailwarden.json"),
    );
    assert_eq!(c.detection.id, detections::FUNCTION);
    assert_eq!(c.severity, Severity::Critical);
    assert_eq!(c.resource, "trailwarden-LogIntegrityFunction-Xy9Zk3LmNp2Q");

    // By ARN, with a qualifier.
    let mut v = fixture("lambda-delete-function-trailwarden.json");
    v["detail"]["eventName"] = json!("UpdateFunctionConfiguration20150331v2");
    v["detail"]["requestParameters"] = json!({
        "functionName": "arn:aws:lambda:us-east-1:123456789012:function:trailwarden-TamperFunction-Q1w2E3r4T5y6",
        "environment": {"variables": {"DRY_RUN": "true"}}
    });
    let (c, _) = change(&cfg(&[]), v);
    assert_eq!(c.detection.id, detections::FUNCTION);

    let throttle = |n: u64| {
        let mut v = fixture("lambda-delete-function-trailwarden.json");
        v["detail"]["eventName"] = json!("PutFunctionConcurrency20171031");
        v["detail"]["requestParameters"] = json!({
            "functionName": "trailwarden-LogIntegrityFunction-Xy9Zk3LmNp2Q",
            "reservedConcurrentExecutions": n
        });
        v["detail"]["responseElements"] = json!({"reservedConcurrentExecutions": n});
        v
    };
    let (c, _) = change(&cfg(&[]), throttle(0));
    assert_eq!(c.detection.id, detections::THROTTLED);
    assert_eq!(c.severity, Severity::Critical);
    assert!(ignored(&cfg(&[]), throttle(10)).contains("not a change"));

    let mut v = fixture("lambda-delete-function-trailwarden.json");
    v["detail"]["requestParameters"]["functionName"] = json!("payments-api");
    assert!(ignored(&cfg(&[]), v).contains("payments-api"));
}

#[test]
fn an_empty_notification_configuration_on_the_trail_bucket_turns_eventbridge_off() {
    let (c, steps) = change(&cfg(&[]), fixture("s3-put-bucket-notification-empty.json"));
    assert_eq!(c.detection.id, detections::BUCKET);
    assert_eq!(c.severity, Severity::Critical);
    assert_eq!(c.resource, "trailwarden-trail-123456789012");
    assert_eq!(c.notes, [Note::EventBridgeNotificationsOff]);
    assert!(steps.is_empty());

    // A configuration that keeps EventBridge on is still a change of the bucket, said so.
    let mut v = fixture("s3-put-bucket-notification-empty.json");
    v["detail"]["requestParameters"]["NotificationConfiguration"]["EventBridgeConfiguration"] =
        json!("");
    let (c, _) = change(&cfg(&[]), v);
    assert_eq!(c.notes, [Note::EventBridgeNotificationsKept]);

    let mut v = fixture("s3-put-bucket-notification-empty.json");
    v["detail"]["requestParameters"]["bucketName"] = json!("website-assets");
    assert!(ignored(&cfg(&[]), v).contains("website-assets"));
}

#[test]
fn stopping_the_trail_alerts_and_restarts_only_when_asked() {
    let v = fixture("cloudtrail-stop-logging-trailwarden.json");
    let (c, steps) = change(&cfg(&[]), v.clone());
    assert_eq!(c.detection.id, detections::TRAIL);
    assert_eq!(c.severity, Severity::Critical);
    assert_eq!(
        c.restart,
        Restart::Off {
            trail: TRAIL.into()
        }
    );
    assert!(steps.is_empty(), "RESTART_LOGGING is off by default");

    let (c, steps) = change(&cfg(&[("RESTART_LOGGING", "true")]), v);
    assert_eq!(
        c.restart,
        Restart::Planned {
            trail: TRAIL.into()
        }
    );
    assert_eq!(
        steps,
        [
            Step::StartLogging {
                trail: TRAIL.into(),
                region: Some("us-east-1".into())
            },
            Step::ReadTrailStatus {
                trail: TRAIL.into(),
                region: Some("us-east-1".into())
            }
        ]
    );
    assert!(trailwarden::respond::StepKind::changes(&steps[0]));
    assert!(!trailwarden::respond::StepKind::changes(&steps[1]));
}

#[test]
fn the_trail_is_matched_by_name_in_its_own_region_only() {
    let by_name = |region: &str| {
        let mut v = fixture("cloudtrail-stop-logging-trailwarden.json");
        v["detail"]["requestParameters"]["name"] = json!("trailwarden-trail");
        v["detail"]["awsRegion"] = json!(region);
        v["region"] = json!(region);
        v
    };
    let (c, steps) = change(&cfg(&[("RESTART_LOGGING", "true")]), by_name("us-east-1"));
    assert_eq!(c.detection.id, detections::TRAIL);
    assert_eq!(steps.len(), 2);
    // Another region's trail of the same name is not the stack's.
    assert!(ignored(&cfg(&[]), by_name("eu-west-1")).contains("another region"));
    // Nor is another trail.
    let mut v = fixture("cloudtrail-stop-logging-trailwarden.json");
    v["detail"]["requestParameters"]["name"] =
        json!("arn:aws:cloudtrail:us-east-1:123456789012:trail/data-events");
    assert!(ignored(&cfg(&[]), v).contains("not a change"));
}

/// Event selectors that leave management events out, basic or advanced (data selectors
/// alone), are named in the alert; Insights selectors on the trail are a change too.
#[test]
fn selectors_leaving_management_events_out_are_named() {
    let selectors = |params: Value| {
        let mut v = fixture("cloudtrail-stop-logging-trailwarden.json");
        v["detail"]["eventName"] = json!("PutEventSelectors");
        v["detail"]["requestParameters"] = params;
        change(&cfg(&[]), v).0
    };
    let trail = "arn:aws:cloudtrail:us-east-1:123456789012:trail/trailwarden-trail";
    let data_only = selectors(json!({"trailName": trail, "advancedEventSelectors": [
        {"name": "S3 objects", "fieldSelectors": [
            {"field": "eventCategory", "equals": ["Data"]},
            {"field": "resources.type", "equals": ["AWS::S3::Object"]}]}]}));
    assert_eq!(data_only.detection.id, detections::TRAIL);
    assert!(data_only.notes.contains(&Note::ManagementEventsExcluded));
    let with_management = selectors(json!({"trailName": trail, "advancedEventSelectors": [
        {"name": "management", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]},
        {"name": "S3 objects", "fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]}]}]}));
    assert!(!with_management
        .notes
        .contains(&Note::ManagementEventsExcluded));
    let basic = selectors(json!({"trailName": trail, "eventSelectors": [
        {"readWriteType": "All", "includeManagementEvents": false}]}));
    assert!(basic.notes.contains(&Note::ManagementEventsExcluded));

    let mut v = fixture("cloudtrail-stop-logging-trailwarden.json");
    v["detail"]["eventName"] = json!("PutInsightSelectors");
    v["detail"]["requestParameters"] = json!({"trailName": trail, "insightSelectors": []});
    assert_eq!(change(&cfg(&[]), v).0.detection.id, detections::TRAIL);
}

#[test]
fn a_failed_stop_is_an_attempt_one_step_lower_and_nothing_is_restarted() {
    let mut v = fixture("cloudtrail-stop-logging-trailwarden.json");
    v["detail"]["errorCode"] = json!("AccessDenied");
    v["detail"]["errorMessage"] = json!("User: arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/mallory is not authorized to perform: cloudtrail:StopLogging on resource: arn:aws:cloudtrail:us-east-1:123456789012:trail/trailwarden-trail because no identity-based policy allows the cloudtrail:StopLogging action");
    let (c, steps) = change(&cfg(&[("RESTART_LOGGING", "true")]), v);
    assert_eq!(c.severity, Severity::High);
    assert!(
        matches!(&c.reasons[..], [Reason::Failed { code: Some(code), .. }] if code == "AccessDenied")
    );
    assert_eq!(c.restart, Restart::NotApplicable);
    assert!(steps.is_empty());
}

#[test]
fn cloudformation_deployments_are_info_and_trailwardens_own_calls_are_ignored() {
    let mut v = fixture("lambda-delete-function-trailwarden.json");
    v["detail"]["eventName"] = json!("UpdateFunctionCode20150331v2");
    v["detail"]["userIdentity"]["invokedBy"] = json!("cloudformation.amazonaws.com");
    v["detail"]["sourceIPAddress"] = json!("cloudformation.amazonaws.com");
    v["detail"]["userAgent"] = json!("cloudformation.amazonaws.com");
    // A stack operation of a deployer role: a deployment.
    let deployers = [(
        "DEPLOYER_ROLE_ARNS",
        "arn:aws:iam::123456789012:role/DevOpsAdmin",
    )];
    let (c, _) = change(&cfg(&deployers), v.clone());
    assert_eq!(c.severity, Severity::Info);
    assert_eq!(c.reasons, [Reason::ViaCloudFormation]);
    // Anyone else's stack may be aimed at trailwarden's resources (any stack's calls carry
    // invokedBy cloudformation): one step lower, not informational.
    let (c, _) = change(&cfg(&[]), v);
    assert_eq!(c.severity, c.detection.severity.lower());
    assert!(c.severity >= Severity::High, "{:?}", c.severity);
    assert_eq!(c.reasons, [Reason::ViaUnlistedCloudFormation]);

    // The stack operation itself is alerted.
    let mut v = fixture("lambda-delete-function-trailwarden.json");
    v["source"] = json!("aws.cloudformation");
    v["detail"]["eventSource"] = json!("cloudformation.amazonaws.com");
    v["detail"]["eventName"] = json!("DeleteStack");
    v["detail"]["requestParameters"] = json!({"stackName": "trailwarden"});
    let (c, _) = change(&cfg(&[]), v);
    assert_eq!(c.detection.id, detections::STACK_DELETED);
    assert_eq!(c.severity, Severity::Critical);

    let mut v = fixture("eventbridge-disable-rule-trailwarden.json");
    v["detail"]["userIdentity"]["arn"] = json!(
        "arn:aws:sts::123456789012:assumed-role/trailwarden-TamperFunctionRole-AbC123/trailwarden-TamperFunction-Q1w2"
    );
    v["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
        json!("arn:aws:iam::123456789012:role/trailwarden-TamperFunctionRole-AbC123");
    assert!(ignored(&cfg(&[]), v).contains("loop guard"));
}

#[test]
fn a_deny_policy_on_a_role_outranks_a_replaced_policy() {
    let put = |doc: &str| {
        let mut v = fixture("lambda-delete-function-trailwarden.json");
        v["source"] = json!("aws.iam");
        v["detail"]["eventSource"] = json!("iam.amazonaws.com");
        v["detail"]["eventName"] = json!("PutRolePolicy");
        v["detail"]["requestParameters"] = json!({
            "roleName": "trailwarden-LogDeliveryFunctionRole-8K7J6H5G4F3D",
            "policyName": "LogDeliveryFunctionRolePolicy0",
            "policyDocument": doc
        });
        v
    };
    let (c, _) = change(
        &cfg(&[]),
        put(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}"#,
        ),
    );
    assert_eq!(c.detection.id, detections::ROLE_DENY);
    assert_eq!(c.severity, Severity::Critical);
    assert_eq!(c.also, [detections::ROLE_POLICY]);
    let (c, _) = change(
        &cfg(&[]),
        put(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:Publish","Resource":"*"}]}"#,
        ),
    );
    assert_eq!(c.detection.id, detections::ROLE_POLICY);
    assert_eq!(c.severity, Severity::High);
}

#[test]
fn unsubscribing_from_the_alert_topic_and_purging_the_queue_are_critical() {
    let mut v = fixture("lambda-delete-function-trailwarden.json");
    v["source"] = json!("aws.sns");
    v["detail"]["eventSource"] = json!("sns.amazonaws.com");
    v["detail"]["eventName"] = json!("Unsubscribe");
    v["detail"]["requestParameters"] =
        json!({"subscriptionArn": format!("{TOPIC}:8f1c2d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f")});
    let (c, _) = change(&cfg(&[]), v);
    assert_eq!(c.detection.id, detections::TOPIC);

    let mut v = fixture("lambda-delete-function-trailwarden.json");
    v["source"] = json!("aws.sqs");
    v["detail"]["eventSource"] = json!("sqs.amazonaws.com");
    v["detail"]["eventName"] = json!("PurgeQueue");
    v["detail"]["requestParameters"] = json!({"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/trailwarden-FailedEventsQueue-9Z8Y7X6W5V4U"});
    let (c, _) = change(&cfg(&[]), v);
    assert_eq!(c.detection.id, detections::QUEUE);
    assert_eq!(c.severity, Severity::Critical);
}

#[test]
fn the_state_tables_policy_or_the_table_itself_changed_is_high_and_another_table_is_not() {
    let arn = |table: &str| format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}");
    let call = |event: &str, request: Value| {
        let mut v = fixture("lambda-delete-function-trailwarden.json");
        v["source"] = json!("aws.dynamodb");
        v["detail"]["eventSource"] = json!("dynamodb.amazonaws.com");
        v["detail"]["eventName"] = json!(event);
        v["detail"]["requestParameters"] = request;
        v
    };
    // A policy that lets everyone in the account write: the claims are open again.
    let open = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"dynamodb:PutItem","Resource":"*"}]}"#;
    for (event, request) in [
        (
            "PutResourcePolicy",
            json!({"resourceArn": arn(STATE_TABLE), "policy": open}),
        ),
        (
            "DeleteResourcePolicy",
            json!({"resourceArn": arn(STATE_TABLE)}),
        ),
        ("DeleteTable", json!({"tableName": STATE_TABLE})),
        // DynamoDB takes the table's ARN wherever it takes its name.
        ("DeleteTable", json!({"tableName": arn(STATE_TABLE)})),
        (
            "UpdateTimeToLive",
            json!({"tableName": STATE_TABLE, "timeToLiveSpecification": {"attributeName": "expires_at", "enabled": false}}),
        ),
        // Made again under its name after a deletion: without the policy.
        (
            "CreateTable",
            json!({"tableName": STATE_TABLE, "billingMode": "PAY_PER_REQUEST"}),
        ),
    ] {
        let (c, steps) = change(&cfg(&[]), call(event, request.clone()));
        assert_eq!(c.detection.id, detections::TABLE, "{event} {request}");
        assert_eq!(c.severity, Severity::High, "{event}");
        assert!(c.reasons.is_empty(), "{event}: {:?}", c.reasons);
        assert!(steps.is_empty(), "{event}: an alert is the response");
        assert!(
            c.resource.contains(STATE_TABLE),
            "{event}: the alert names {}",
            c.resource
        );
        assert_eq!(
            c.record.principal().display(),
            "arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/mallory"
        );
    }

    // A failed attempt to remove the policy is one step lower.
    let mut v = call(
        "DeleteResourcePolicy",
        json!({"resourceArn": arn(STATE_TABLE)}),
    );
    v["detail"]["errorCode"] = json!("AccessDeniedException");
    let (c, _) = change(&cfg(&[]), v);
    assert_eq!(c.detection.id, detections::TABLE);
    assert_eq!(c.severity, Severity::Medium);

    // Another team's table, and reading the state table's policy, are not tampering.
    for (event, request) in [
        (
            "PutResourcePolicy",
            json!({"resourceArn": arn("orders"), "policy": open}),
        ),
        ("DeleteTable", json!({"tableName": "orders"})),
        ("DeleteTable", json!({"tableName": arn("orders")})),
        // A name that merely starts like the state table's.
        (
            "DeleteTable",
            json!({"tableName": format!("{STATE_TABLE}-copy")}),
        ),
        (
            "GetResourcePolicy",
            json!({"resourceArn": arn(STATE_TABLE)}),
        ),
        ("DescribeTable", json!({"tableName": STATE_TABLE})),
    ] {
        let why = ignored(&cfg(&[]), call(event, request.clone()));
        assert!(
            why.contains("not a change to any of trailwarden's own resources"),
            "{event} {request}: {why}"
        );
    }
}

// --- trail files ----------------------------------------------------------------------------

const DIGEST: &str = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T110131Z.json.gz";
const LOG: &str = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1006Z_Ux4PBpVbB0Xq3Ycn.json.gz";

#[test]
fn a_deleted_digest_is_rechecked_with_its_chain() {
    let (o, steps) = objects(&cfg(&[]), fixture("s3-delete-object-digest.json"));
    assert_eq!(o.touched.len(), 1);
    let t = &o.touched[0];
    assert_eq!(t.kind, FileKind::Digest);
    assert_eq!(t.key, DIGEST);
    assert_eq!(t.how, Touch::Deleted);
    assert_eq!(
        t.by.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/mallory")
    );
    assert_eq!(o.severity, Severity::High);
    assert_eq!(
        steps,
        [Step::RecheckDigest {
            bucket: "trailwarden-trail-123456789012".into(),
            key: DIGEST.into(),
            region: Some("us-east-1".into())
        }]
    );
    assert!(steps
        .iter()
        .all(|s| !trailwarden::respond::StepKind::changes(s)));

    // Deleting a version is permanent, and critical.
    let mut v = fixture("s3-delete-object-digest.json");
    v["detail"]["requestParameters"]["versionId"] = json!("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY");
    let (o, _) = objects(&cfg(&[]), v);
    assert_eq!(o.touched[0].how, Touch::PermanentlyDeleted);
    assert_eq!(o.severity, Severity::Critical);
}

#[test]
fn a_log_file_deleted_behind_a_delete_marker_is_rechecked_against_its_digests() {
    let (o, steps) = objects(&cfg(&[]), fixture("s3-object-deleted-log-file.json"));
    let t = &o.touched[0];
    assert_eq!((t.kind, t.how), (FileKind::LogFile, Touch::DeleteMarker));
    assert_eq!(t.by.as_deref(), Some("123456789012"));
    assert_eq!(t.source_ip.as_deref(), Some("198.51.100.23"));
    assert_eq!(
        steps,
        [Step::RecheckLogFile {
            bucket: "trailwarden-trail-123456789012".into(),
            key: LOG.into(),
            region: Some("us-east-1".into())
        }]
    );
}

#[test]
fn what_is_not_tampering_with_the_trails_files_is_left_alone() {
    // Retention by a lifecycle rule.
    let mut v = fixture("s3-object-deleted-log-file.json");
    v["detail"]["reason"] = json!("Lifecycle Expiration");
    assert!(ignored(&cfg(&[]), v).contains("lifecycle"));
    // Another bucket.
    let mut v = fixture("s3-object-deleted-log-file.json");
    v["detail"]["bucket"]["name"] = json!("website-assets");
    assert!(ignored(&cfg(&[]), v).contains("not a trail bucket"));
    // Not a log file or digest.
    let mut v = fixture("s3-delete-object-digest.json");
    v["detail"]["requestParameters"]["key"] = json!("reports/2024/summary.csv");
    assert!(ignored(&cfg(&[]), v).contains("not a log file or digest"));
    // CloudTrail delivering.
    let mut v = fixture("s3-delete-object-digest.json");
    v["detail"]["eventName"] = json!("PutObject");
    v["detail"]["userIdentity"] =
        json!({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"});
    v["detail"]["sourceIPAddress"] = json!("cloudtrail.amazonaws.com");
    assert!(ignored(&cfg(&[]), v).contains("CloudTrail itself"));
    // New objects are other functions' business; so are schedule ticks.
    assert!(
        ignored(&cfg(&[]), fixture("s3-object-created-digest-file.json")).contains("log-integrity")
    );
    assert!(ignored(&cfg(&[]), fixture("scheduled-event-watchdog.json")).contains("watchdog"));
}

#[test]
fn writing_over_a_digest_or_deleting_in_bulk_is_reported() {
    let mut v = fixture("s3-delete-object-digest.json");
    v["detail"]["eventName"] = json!("PutObject");
    let (o, steps) = objects(&cfg(&[]), v);
    assert_eq!(o.touched[0].how, Touch::Written);
    assert!(matches!(steps[..], [Step::RecheckDigest { .. }]));

    let mut v = fixture("s3-delete-object-digest.json");
    v["detail"]["eventName"] = json!("DeleteObjects");
    v["detail"]["requestParameters"] = json!({
        "bucketName": "trailwarden-trail-123456789012",
        "Host": "trailwarden-trail-123456789012.s3.us-east-1.amazonaws.com",
        "delete": ""
    });
    let (o, steps) = objects(&cfg(&[]), v);
    assert_eq!(o.touched[0].how, Touch::BulkDeleted);
    assert_eq!(o.touched[0].kind, FileKind::Unknown);
    assert_eq!(o.severity, Severity::Critical);
    assert!(
        steps.is_empty(),
        "the keys are not recorded: nothing to re-check"
    );

    // A failed attempt is reported, high, without a re-check.
    let mut v = fixture("s3-delete-object-digest.json");
    v["detail"]["errorCode"] = json!("AccessDenied");
    v["detail"]["errorMessage"] = json!("Access Denied");
    let (o, steps) = objects(&cfg(&[]), v);
    assert!(o.touched[0].failed);
    assert_eq!(o.severity, Severity::High);
    assert!(steps.is_empty());
}
