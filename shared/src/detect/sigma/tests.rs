use super::condition::parse_condition;
use super::detection::Expr;
use super::selection::typed_value;
use super::*;
use crate::detect::Catalog;

fn rule(yaml: &str) -> Value {
    serde_yaml::from_str(yaml).expect("test rule is YAML")
}

/// A rule with the usual metadata around the given detection section (indented 4).
fn with_detection(title: &str, detection: &str) -> String {
    format!(
        "title: {title}\nid: 0c9a7e21-5b3d-4e8f-a1c2-3d4e5f6a7b8c\nstatus: experimental\n\
             description: A test rule.\nauthor: trailwarden tests\ndate: 2025-02-01\n\
             tags:\n    - attack.t1078.004\nlogsource:\n    product: aws\n    service: cloudtrail\n\
             detection:\n{detection}\nlevel: medium\n"
    )
}

fn convert_ok(yaml: &str) -> Value {
    convert_rule(&rule(yaml), &BTreeSet::new()).unwrap_or_else(|r| panic!("refused: {r}"))
}

fn refusal(yaml: &str) -> Refusal {
    match convert_rule(&rule(yaml), &BTreeSet::new()) {
        Ok(d) => panic!("converted: {d:#}"),
        Err(r) => r,
    }
}

fn detection(d: &Value) -> Detection {
    Detection::compile(d, "test", FAMILY, 0)
        .expect("converted detection compiles")
        .1
        .expect("enabled")
}

/// CloudTrail records and identities, shared with the CLI's `import-sigma` test.
#[path = "../../../tests/fixtures/cloudtrail.rs"]
mod cloudtrail;

/// A CloudTrail record as an IAM user's call writes it.
fn record(source: &str, name: &str) -> Value {
    let mut r = cloudtrail::record();
    r["userIdentity"] = cloudtrail::iam_user("111122223333", "alice");
    r["eventSource"] = json!(source);
    r["eventName"] = json!(name);
    r["tlsDetails"]["clientProvidedHostHeader"] = json!(source);
    r
}

/// The record with `value` at the dotted `path` (objects made as needed; `null` replaced).
fn set(mut r: Value, path: &str, value: Value) -> Value {
    let segs: Vec<&str> = path.split('.').collect();
    let mut cur = &mut r;
    for s in &segs[..segs.len() - 1] {
        if !cur.get(*s).is_some_and(Value::is_object) {
            cur[*s] = json!({});
        }
        cur = &mut cur[*s];
    }
    cur[segs[segs.len() - 1]] = value;
    r
}

fn assumed_role(role: &str) -> Value {
    cloudtrail::assumed_role("111122223333", role, "botocore-session-1741083342")
}

const TRAIL_RULE: &str = r#"
title: CloudTrail Logging Stopped Or Trail Deleted
id: 6b1f3c2e-4d5a-4f7b-9c8d-0e1f2a3b4c5d
status: experimental
description: |
    Detects a trail being stopped or deleted, which leaves
    the account without its audit log.
references:
    - https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_StopLogging.html
author: trailwarden tests
date: 2025-01-10
tags:
    - attack.defense-evasion
    - attack.t1562.008
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: cloudtrail.amazonaws.com
        eventName:
            - StopLogging
            - DeleteTrail
    condition: selection
falsepositives:
    - Planned decommissioning of a trail
    - Infrastructure as code replacing a trail
level: high
"#;

#[test]
fn a_selection_and_the_rules_metadata_become_a_detection() {
    let d = convert_ok(TRAIL_RULE);
    assert_eq!(d["id"], "cloudtrail-logging-stopped-or-trail-deleted");
    assert_eq!(d["title"], "CloudTrail Logging Stopped Or Trail Deleted");
    assert_eq!(d["severity"], "high");
    assert_eq!(d["references"]["mitre_attack"], json!(["T1562.008"]));
    assert_eq!(
        d["references"]["urls"],
        json!([
            "https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_StopLogging.html"
        ])
    );
    assert_eq!(
        d["pattern"],
        json!({"eventSource": ["cloudtrail.amazonaws.com"], "eventName": ["StopLogging", "DeleteTrail"]})
    );
    let text = d["description"].as_str().unwrap();
    assert!(text.starts_with("Detects a trail being stopped or deleted, which leaves the account without its audit log."), "{text}");
    assert!(text.contains("False positives (from the Sigma rule): Planned decommissioning of a trail; Infrastructure as code replacing a trail."), "{text}");
    assert!(
        text.contains("6b1f3c2e-4d5a-4f7b-9c8d-0e1f2a3b4c5d") && text.contains("trailwarden tests"),
        "{text}"
    );

    let det = detection(&d);
    assert_eq!(det.family, "sigma");
    let stop = set(
        record("cloudtrail.amazonaws.com", "StopLogging"),
        "requestParameters.name",
        json!("arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events"),
    );
    assert!(det.pattern.matches(&stop));
    let start = set(stop.clone(), "eventName", json!("StartLogging"));
    assert!(!det.pattern.matches(&start));
    // Indexed by its eventName values, as the built-ins are.
    assert_eq!(
        det.pattern.required_strings(&["eventName"]).unwrap().len(),
        2
    );
}

#[test]
fn levels_map_to_severities() {
    for (level, sev) in [
        ("informational", "info"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("critical", "critical"),
    ] {
        let y = TRAIL_RULE.replace("level: high", &format!("level: {level}"));
        assert_eq!(convert_ok(&y)["severity"], sev, "{level}");
    }
    let none = convert_ok(&TRAIL_RULE.replace("level: high\n", ""));
    assert_eq!(none["severity"], "medium");
    assert!(none["description"]
        .as_str()
        .unwrap()
        .contains("no level; medium assumed"));
    let r = refusal(&TRAIL_RULE.replace("level: high", "level: urgent"));
    assert!(r.reason.contains("unknown level"), "{r}");
    assert_eq!(r.title, "CloudTrail Logging Stopped Or Trail Deleted");
}

#[test]
fn field_modifiers_become_pattern_operators() {
    let y = with_detection(
        "Suspicious Access Key Creation",
        r#"    selection:
        eventSource: iam.amazonaws.com
        eventName|startswith: Create
        userAgent|contains: 'S3 Browser'
        userIdentity.arn|endswith: ':root'
        sourceIPAddress|cidr: 198.51.100.0/24
        requestParameters.userName: 'svc-*-deploy'
        errorCode: null
    condition: selection"#,
    );
    let d = convert_ok(&y);
    assert_eq!(
        d["pattern"],
        json!({
            "eventSource": ["iam.amazonaws.com"],
            "eventName": [{"prefix": "Create"}],
            "userAgent": [{"wildcard": "*S3 Browser*"}],
            "userIdentity": {"arn": [{"suffix": ":root"}]},
            "sourceIPAddress": [{"cidr": "198.51.100.0/24"}],
            "requestParameters": {"userName": [{"wildcard": "svc-*-deploy"}]},
            "errorCode": [null, {"exists": false}]
        })
    );
    let det = detection(&d);
    let mut hit = record("iam.amazonaws.com", "CreateAccessKey");
    hit["userIdentity"] = json!({
        "type": "Root",
        "principalId": "111122223333",
        "arn": "arn:aws:iam::111122223333:root",
        "accountId": "111122223333",
        "accessKeyId": "ASIA4Z7EXAMPLEKEY003"
    });
    hit["userAgent"] = json!("S3 Browser 11.5.7 https://s3browser.com");
    hit["sourceIPAddress"] = json!("198.51.100.77");
    hit = set(
        hit,
        "requestParameters.userName",
        json!("svc-billing-deploy"),
    );
    hit = set(
        hit,
        "responseElements.accessKey",
        json!({"accessKeyId": "AKIA4Z7EXAMPLEKEY004", "status": "Active", "userName": "svc-billing-deploy", "createDate": "Mar 4, 2025 10:15:42 AM"}),
    );
    assert!(det.pattern.matches(&hit));
    let failed = set(hit.clone(), "errorCode", json!("AccessDenied"));
    assert!(!det.pattern.matches(&failed));
    let elsewhere = set(hit.clone(), "sourceIPAddress", json!("203.0.113.24"));
    assert!(!det.pattern.matches(&elsewhere));
    let other_user = set(
        hit.clone(),
        "requestParameters.userName",
        json!("svc-billing"),
    );
    assert!(!det.pattern.matches(&other_user));
    let cli = set(hit, "userAgent", json!("aws-cli/2.15.30"));
    assert!(!det.pattern.matches(&cli));
}

#[test]
fn numbers_exists_and_comparisons() {
    let y = with_detection(
        "Security Group Opened For SSH To The World",
        r#"    selection:
        eventSource: ec2.amazonaws.com
        eventName: AuthorizeSecurityGroupIngress
        requestParameters.ipPermissions.items.fromPort: 22
        requestParameters.ipPermissions.items.ipRanges.items.cidrIp: '0.0.0.0/0'
        errorCode|exists: false
    condition: selection"#,
    );
    let d = convert_ok(&y);
    assert_eq!(
        d["pattern"]["requestParameters"]["ipPermissions"]["items"]["fromPort"],
        json!([22, "22"])
    );
    assert_eq!(d["pattern"]["errorCode"], json!([{"exists": false}]));
    let det = detection(&d);
    let open = set(
        record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
        "requestParameters",
        json!({"groupId": "sg-0a1b2c3d4e5f60718", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
             "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
             "ipv6Ranges": {}, "prefixListIds": {}}
        ]}}),
    );
    assert!(det.pattern.matches(&open));
    let https = set(
        open.clone(),
        "requestParameters.ipPermissions.items",
        json!([{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]),
    );
    assert!(!det.pattern.matches(&https));
    let failed = set(
        open,
        "errorCode",
        json!("Client.InvalidPermission.Duplicate"),
    );
    assert!(!det.pattern.matches(&failed));

    // Quoted in the rule, typed in the record: Sigma compares the text.
    let y = with_detection(
        "Block Public Access Turned Off",
        r#"    selection:
        eventSource: s3.amazonaws.com
        eventName: PutBucketPublicAccessBlock
        requestParameters.PublicAccessBlockConfiguration.BlockPublicPolicy: 'false'
        requestParameters.PublicAccessBlockConfiguration.xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/'
    condition: selection"#,
    );
    let d = convert_ok(&y);
    assert_eq!(
        d["pattern"]["requestParameters"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"],
        json!(["false", false])
    );
    let det = detection(&d);
    let bpa = |block: bool| {
        set(
            record("s3.amazonaws.com", "PutBucketPublicAccessBlock"),
            "requestParameters",
            json!({"bucketName": "finance-exports", "Host": "finance-exports.s3.amazonaws.com", "publicAccessBlock": "",
                       "PublicAccessBlockConfiguration": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                           "RestrictPublicBuckets": block, "BlockPublicPolicy": block, "BlockPublicAcls": block, "IgnorePublicAcls": block}}),
        )
    };
    assert!(det.pattern.matches(&bpa(false)));
    assert!(!det.pattern.matches(&bpa(true)));
    for (text, typed) in [
        ("22", Some(json!(22))),
        ("-1.5", Some(json!(-1.5))),
        ("true", Some(json!(true))),
        ("022", None),
        ("1e3", None),
        ("12ab", None),
        ("", None),
        ("-", None),
    ] {
        assert_eq!(typed_value(text), typed, "{text}");
    }

    let y = with_detection(
        "Long Lived Federation Token",
        r#"    selection:
        eventSource: sts.amazonaws.com
        eventName: GetFederationToken
        requestParameters.durationSeconds|gte: 43200
    condition: selection"#,
    );
    let det = detection(&convert_ok(&y));
    let token = |secs: u64| {
        set(
            record("sts.amazonaws.com", "GetFederationToken"),
            "requestParameters",
            json!({"name": "backup", "durationSeconds": secs}),
        )
    };
    assert!(det.pattern.matches(&token(129_600)));
    assert!(det.pattern.matches(&token(43_200)));
    assert!(!det.pattern.matches(&token(3_600)));
}

#[test]
fn sigma_wildcards_and_escapes() {
    let y = with_detection(
        "Escapes",
        r#"    selection:
        eventSource: iam.amazonaws.com
        requestParameters.policyName: 'Full\*Access*'
        requestParameters.path: 'C:\temp\\*'
    condition: selection"#,
    );
    let d = convert_ok(&y);
    let rp = &d["pattern"]["requestParameters"];
    assert_eq!(rp["policyName"], json!([{"wildcard": "Full\\*Access*"}]));
    assert_eq!(rp["path"], json!([{"wildcard": "C:\\\\temp\\\\*"}]));
    let det = detection(&d);
    let r = set(
        set(
            record("iam.amazonaws.com", "PutUserPolicy"),
            "requestParameters.policyName",
            json!("Full*AccessToAll"),
        ),
        "requestParameters.path",
        json!("C:\\temp\\x"),
    );
    assert!(det.pattern.matches(&r));
    let r = set(r, "requestParameters.policyName", json!("FullAdminAccess"));
    assert!(!det.pattern.matches(&r));
}

#[test]
fn and_not_on_one_field_becomes_anything_but_or_absent() {
    let y = with_detection(
        "S3 Buckets Listed Outside Roles",
        r#"    selection:
        eventSource: s3.amazonaws.com
        eventName: ListBuckets
    filter:
        userIdentity.type: AssumedRole
    condition: selection and not filter"#,
    );
    let d = convert_ok(&y);
    assert_eq!(
        d["pattern"],
        json!({
            "eventSource": ["s3.amazonaws.com"],
            "eventName": ["ListBuckets"],
            "userIdentity": {"type": [{"anything-but": ["AssumedRole"]}, {"exists": false}]}
        })
    );
    let det = detection(&d);
    let by_user = record("s3.amazonaws.com", "ListBuckets");
    assert!(det.pattern.matches(&by_user));
    let mut by_role = by_user.clone();
    by_role["userIdentity"] = assumed_role("ci-deployer");
    assert!(!det.pattern.matches(&by_role));

    // Two filters on one field: one anything-but of both, strings only (so null and
    // absent are said explicitly).
    let y = with_detection(
        "Sign-in Token Outside The Console",
        r#"    selection:
        eventSource: signin.amazonaws.com
        eventName: GetSigninToken
    filter_main_console:
        userAgent|contains: 'Jersey/'
    filter_optional_sso:
        userAgent|startswith: 'aws-sso-portal'
    condition: selection and not 1 of filter_*"#,
    );
    let d = convert_ok(&y);
    assert_eq!(
        d["pattern"]["userAgent"],
        json!([{"anything-but": {"wildcard": ["*Jersey/*", "aws-sso-portal*"]}}, null, {"exists": false}])
    );
    let det = detection(&d);
    let tok = |ua: &str| {
        set(
            record("signin.amazonaws.com", "GetSigninToken"),
            "userAgent",
            json!(ua),
        )
    };
    assert!(det.pattern.matches(&tok("python-requests/2.31.0")));
    assert!(!det.pattern.matches(&tok("Jersey/${project.version}")));
    assert!(!det.pattern.matches(&tok("aws-sso-portal/1.0")));
}

#[test]
fn not_of_a_selection_of_several_fields_is_an_or_of_each_field_negated() {
    let y = with_detection(
        "Access Key Created Outside The Break-glass Role",
        r#"    selection:
        eventSource: iam.amazonaws.com
        eventName: CreateAccessKey
    filter_breakglass:
        userIdentity.type: AssumedRole
        userIdentity.sessionContext.sessionIssuer.userName: OrganizationAccountAccessRole
    condition: selection and not filter_breakglass"#,
    );
    let d = convert_ok(&y);
    assert_eq!(
        d["pattern"]["$or"].as_array().unwrap().len(),
        2,
        "{:#}",
        d["pattern"]
    );
    let det = detection(&d);
    let base = record("iam.amazonaws.com", "CreateAccessKey");
    let mut org = base.clone();
    org["userIdentity"] = assumed_role("OrganizationAccountAccessRole");
    let mut other = base.clone();
    other["userIdentity"] = assumed_role("ci-deployer");
    assert!(det.pattern.matches(&base), "IAM user: not the filter");
    assert!(det.pattern.matches(&other), "another role: not the filter");
    assert!(!det.pattern.matches(&org), "the filtered role");
    let sibling = set(base, "eventName", json!("ListAccessKeys"));
    assert!(!det.pattern.matches(&sibling));
}

#[test]
fn one_of_all_of_them_and_parentheses() {
    let y = with_detection(
        "Snapshot Or Image Made Public",
        r#"    selection_snapshot:
        eventSource: ec2.amazonaws.com
        eventName: ModifySnapshotAttribute
        requestParameters.createVolumePermission.add.items.group: all
    selection_image:
        eventSource: ec2.amazonaws.com
        eventName: ModifyImageAttribute
        requestParameters.launchPermission.add.items.group: all
    filter_failed:
        errorCode|exists: true
    condition: 1 of selection_* and not filter_failed"#,
    );
    let d = convert_ok(&y);
    let p = &d["pattern"];
    assert_eq!(p["eventSource"], json!(["ec2.amazonaws.com"]));
    assert_eq!(p["errorCode"], json!([{"exists": false}]));
    assert_eq!(p["$or"].as_array().unwrap().len(), 2, "{p:#}");
    let det = detection(&d);
    assert_eq!(
        det.pattern.required_strings(&["eventName"]).unwrap(),
        ["ModifyImageAttribute", "ModifySnapshotAttribute"]
            .map(String::from)
            .into()
    );
    let snap = set(
        record("ec2.amazonaws.com", "ModifySnapshotAttribute"),
        "requestParameters",
        json!({"snapshotId": "snap-0123456789abcdef0", "attributeType": "CREATE_VOLUME_PERMISSION",
                   "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}),
    );
    assert!(det.pattern.matches(&snap));
    let removed = set(
        snap.clone(),
        "requestParameters.createVolumePermission",
        json!({"remove": {"items": [{"group": "all"}]}}),
    );
    assert!(!det.pattern.matches(&removed));
    let failed = set(
        snap.clone(),
        "errorCode",
        json!("Client.UnauthorizedOperation"),
    );
    assert!(!det.pattern.matches(&failed));
    let image = set(
        record("ec2.amazonaws.com", "ModifyImageAttribute"),
        "requestParameters",
        json!({"imageId": "ami-0abcdef1234567890", "launchPermission": {"add": {"items": [{"group": "all"}]}},
                   "attributeType": "launchPermission"}),
    );
    assert!(det.pattern.matches(&image));

    // `1 of them` over selections of one field: one list of values (selections in name
    // order).
    let y = with_detection(
        "Recorder Or Trail Off",
        r#"    sel_trail:
        eventName: StopLogging
    sel_config:
        eventName: StopConfigurationRecorder
    condition: 1 of them"#,
    );
    assert_eq!(
        convert_ok(&y)["pattern"],
        json!({"eventName": ["StopConfigurationRecorder", "StopLogging"]})
    );
    // `all of them` and parentheses.
    let y = with_detection(
        "Root Console Or Key",
        r#"    sel_root:
        userIdentity.type: Root
    sel_events:
        eventName:
            - ConsoleLogin
            - CreateAccessKey
    _unused:
        eventName: Unused
    condition: (sel_root and sel_events) and not (1 of _unused)"#,
    );
    let d = convert_ok(&y);
    assert_eq!(
        d["pattern"],
        json!({"userIdentity": {"type": ["Root"]}, "eventName": ["ConsoleLogin", "CreateAccessKey"]})
    );
    let y = y.replace(
        "condition: (sel_root and sel_events) and not (1 of _unused)",
        "condition: all of them",
    );
    assert_eq!(
        d["pattern"],
        convert_ok(&y)["pattern"],
        "`them` leaves out _names"
    );
}

#[test]
fn contains_all_is_every_order_of_the_values() {
    let y = with_detection(
        "Boto3 From Kali",
        r#"    selection:
        eventSource: sts.amazonaws.com
        userAgent|contains|all:
            - Boto3
            - kali
    condition: selection"#,
    );
    let d = convert_ok(&y);
    assert_eq!(
        d["pattern"]["userAgent"],
        json!([{"wildcard": "*Boto3*kali*"}, {"wildcard": "*kali*Boto3*"}])
    );
    let det = detection(&d);
    let ua = |s: &str| {
        set(
            record("sts.amazonaws.com", "GetCallerIdentity"),
            "userAgent",
            json!(s),
        )
    };
    assert!(det.pattern.matches(&ua(
        "Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#6.6.9-amd64-kali md/arch#x86_64"
    )));
    assert!(det.pattern.matches(&ua("kali-tools Boto3/1.34.50")));
    assert!(!det.pattern.matches(&ua(
        "Boto3/1.34.50 md/Botocore#1.34.50 os/linux#6.5.0-1016-aws"
    )));

    let overlapping = y.replace(
        "- Boto3\n            - kali",
        "- 'abc'\n            - 'cde'",
    );
    let r = refusal(&overlapping);
    assert!(r.reason.contains("overlap"), "{r}");
    // A value inside another adds nothing.
    let nested = y.replace(
        "- Boto3\n            - kali",
        "- 'Boto'\n            - 'Boto3'",
    );
    assert_eq!(
        convert_ok(&nested)["pattern"]["userAgent"],
        json!([{"wildcard": "*Boto3*"}])
    );
}

#[test]
fn count_aggregations_become_thresholds() {
    let y = with_detection(
        "Many Secrets Read By One Identity",
        r#"    selection:
        eventSource: secretsmanager.amazonaws.com
        eventName:
            - GetSecretValue
            - BatchGetSecretValue
    timeframe: 10m
    condition: selection | count() by userIdentity.arn > 20"#,
    );
    let d = convert_ok(&y);
    assert_eq!(
        d["threshold"],
        json!({"count": 21, "window_seconds": 600, "group_by": ["userIdentity.arn"]})
    );
    let y = y.replace("    timeframe: 10m\n", "");
    let d = convert_ok(&y);
    assert_eq!(d["threshold"]["window_seconds"], 3600);
    assert!(d["description"]
        .as_str()
        .unwrap()
        .contains("without a timeframe"));
    let r = refusal(&y.replace("count() by", "count(eventName) by"));
    assert!(r.reason.contains("distinct"), "{r}");
    let r = refusal(&y.replace("> 20", "< 2"));
    assert!(r.reason.contains("not on fewer"), "{r}");
}

#[test]
fn what_an_event_pattern_cannot_say_is_refused_with_the_construct() {
    let cases: &[(&str, &str)] = &[
            (
                "    selection:\n        userIdentity.arn|re: '.+:assumed-role/aws:.+'\n    condition: selection",
                "regular expressions",
            ),
            (
                "    selection:\n        eventName: 'Delete?ucket'\n    condition: selection",
                "one-character wildcard",
            ),
            (
                "    keywords:\n        - 'AccessDenied'\n        - 'UnauthorizedOperation'\n    condition: keywords",
                "keyword search",
            ),
            (
                "    selection:\n        eventName: PutUserPolicy\n        requestParameters|contains: '\"s3:GetObject\"'\n    condition: selection",
                "requestParameters is an object",
            ),
            (
                "    selection:\n        eventSource: ec2.amazonaws.com\n        eventName|startswith: Delete\n    filter:\n        eventName: DeleteTags\n    condition: selection and not filter",
                "cannot put two conditions on one field",
            ),
            (
                "    selection:\n        eventName: ConsoleLogin\n    filter:\n        sourceIPAddress|cidr: 10.0.0.0/8\n    condition: selection and not filter",
                "negation of this kind",
            ),
            (
                "    selection:\n        userAgent|base64offset|contains: 'curl'\n    condition: selection",
                "modifier |base64offset",
            ),
            (
                "    selection:\n        eventName: StopLogging\n    condition: selection and not filter",
                "\"filter\", which is not a selection",
            ),
            (
                "    sel_a:\n        eventName: StopLogging\n    sel_b:\n        eventName: DeleteTrail\n    condition: 2 of sel_*",
                "only \"1 of\"",
            ),
            (
                "    selection:\n        eventName: StopLogging\n    condition: selection and not selection",
                "can never match",
            ),
            (
                "    selection:\n        eventName|all:\n            - StopLogging\n            - DeleteTrail\n    condition: selection",
                "could never match",
            ),
            (
                "    selection:\n        eventName: StopLogging\n    condition: selection | near other",
                "aggregation",
            ),
        ];
    for (detection, want) in cases {
        let r = refusal(&with_detection("Refused Rule", detection));
        assert_eq!(r.title, "Refused Rule");
        assert!(
            r.reason.contains(want),
            "{detection}\n-> {r}\nwanted {want:?}"
        );
    }

    let r = refusal(&with_detection("Deletions", cases[4].0));
    assert!(
        r.reason
            .starts_with("condition \"selection and not filter\": eventName must match"),
        "the conflict names the condition and the field: {r}"
    );
    let r = refusal(&with_detection("Re", cases[0].0));
    assert!(
        r.reason
            .starts_with("selection selection: userIdentity.arn|re"),
        "{r}"
    );

    let windows = TRAIL_RULE.replace(
        "product: aws\n    service: cloudtrail",
        "product: windows\n    category: process_creation",
    );
    let r = refusal(&windows);
    assert!(
        r.reason
            .contains("product windows / service (none), not aws / cloudtrail"),
        "{r}"
    );
    let r = refusal("action: global\ntitle: Shared\nlogsource:\n    product: aws\n");
    assert!(r.reason.contains("rule-collection"), "{r}");
    let r = refusal(&TRAIL_RULE.replace("status: experimental", "status: deprecated"));
    assert!(r.reason.contains("deprecated"), "{r}");
    assert_eq!(
        refusal("just text").reason,
        "not a Sigma rule: expected a YAML mapping"
    );
}

/// Sigma's meaning of a selection on one record, written directly (exact strings, null,
/// contains / startswith / endswith), to check the converted patterns against.
fn sigma_selection_holds(sel: &Value, rec: &Value) -> bool {
    let get = |path: &str| {
        path.split('.')
            .try_fold(rec, |v, k| v.get(k))
            .filter(|v| !v.is_null())
    };
    let map_holds = |m: &Map<String, Value>| {
        m.iter().all(|(key, want)| {
            let (field, modifier) = key.split_once('|').unwrap_or((key, ""));
            let have = get(field).and_then(Value::as_str);
            let wants: Vec<&Value> = match want {
                Value::Array(a) => a.iter().collect(),
                w => vec![w],
            };
            wants.iter().any(|w| match (w.as_str(), have) {
                (None, h) => h.is_none(),
                (Some(_), None) => false,
                (Some(w), Some(h)) => match modifier {
                    "" => h == w,
                    "contains" => h.contains(w),
                    "startswith" => h.starts_with(w),
                    "endswith" => h.ends_with(w),
                    m => panic!("modifier {m}"),
                },
            })
        })
    };
    match sel {
        Value::Object(m) => map_holds(m),
        Value::Array(a) => a.iter().any(|m| map_holds(m.as_object().unwrap())),
        _ => unreachable!(),
    }
}

fn sigma_holds(e: &Expr, sels: &Map<String, Value>, rec: &Value) -> bool {
    match e {
        Expr::Sel(n) => sigma_selection_holds(&sels[n], rec),
        Expr::Not(x) => !sigma_holds(x, sels, rec),
        Expr::And(xs) => xs.iter().all(|x| sigma_holds(x, sels, rec)),
        Expr::Or(xs) => xs.iter().any(|x| sigma_holds(x, sels, rec)),
    }
}

/// Every condition the converter accepts means, on every record of a grid of values
/// (absent fields included), what Sigma means; and the refusals are the same-field
/// conflicts, nothing else.
#[test]
fn converted_conditions_agree_with_sigma_on_every_record() {
    let selections = r#"    s1:
        eventName: [CreateUser, DeleteUser]
    s2:
        userIdentity.type: Root
    s3:
        userAgent|contains: kali
    s4:
        eventName: AttachUserPolicy
        userIdentity.type: [IAMUser, AssumedRole]
    s5:
        userAgent|startswith: aws-cli
    s6:
        - eventName: CreateUser
        - userAgent: console.amazonaws.com
    s7:
        userAgent|endswith: kali
        eventName: null
"#;
    let conditions = [
        "s1",
        "s1 and not s2",
        "s1 and not s4",
        "(s1 or s4) and not s3",
        "not (s2 or s3) and s1",
        "s4 and not s5",
        "s6 and not s2",
        "s2 and not s6",
        "not s4 and s1",
        "not s4",
        "s2 and not (s4 or s6)",
        "s2 or not s1 and s5",
        "1 of s* and not s3",
        "s2 and not s7",
        "s7 or s4",
        "not (s1 and s2) and s5",
        "s3 and not s5",
        "all of s1 s2",
    ];
    let names = ["s1", "s2", "s3", "s4", "s5", "s6", "s7"].map(String::from);
    let yaml_sels: Map<String, Value> = serde_yaml::from_str(selections).unwrap();
    let mut records = Vec::new();
    for name in [
        None,
        Some("CreateUser"),
        Some("DeleteUser"),
        Some("AttachUserPolicy"),
    ] {
        for ty in [None, Some("Root"), Some("IAMUser"), Some("AssumedRole")] {
            for ua in [
                None,
                Some("aws-cli/2.15.30 os/linux"),
                Some("Boto3/1.34.50 os/linux#6.6.9-kali"),
                Some("console.amazonaws.com"),
                Some("aws-cli/2.15.30 os/linux#kali"),
            ] {
                let mut r = record("iam.amazonaws.com", "x");
                let o = r.as_object_mut().unwrap();
                o.remove("eventName");
                o.remove("userAgent");
                o["userIdentity"].as_object_mut().unwrap().remove("type");
                if let Some(n) = name {
                    r["eventName"] = json!(n);
                }
                if let Some(t) = ty {
                    r["userIdentity"]["type"] = json!(t);
                }
                if let Some(u) = ua {
                    r["userAgent"] = json!(u);
                }
                records.push(r);
            }
        }
    }
    let mut converted = 0;
    for cond in conditions {
        let y = with_detection("Grid", &format!("{selections}    condition: {cond}"));
        let expr = match parse_condition(cond, &names) {
            Ok(e) => e,
            Err(e) => {
                assert_eq!(cond, "all of s1 s2", "{e}");
                continue;
            }
        };
        match convert_rule(&rule(&y), &BTreeSet::new()) {
            Ok(d) => {
                converted += 1;
                let det = detection(&d);
                for r in &records {
                    assert_eq!(
                            det.pattern.matches(r),
                            sigma_holds(&expr, &yaml_sels, r),
                            "condition {cond:?}, pattern {:#}, record eventName {} type {} userAgent {}",
                            d["pattern"],
                            r["eventName"],
                            r["userIdentity"]["type"],
                            r["userAgent"]
                        );
                }
            }
            Err(r) => assert!(
                r.reason.contains("two conditions on one field"),
                "{cond}: {r}"
            ),
        }
    }
    assert_eq!(converted, 15, "converted");
}

#[test]
fn ids_stay_clear_of_the_built_ins_and_of_each_other() {
    let mut c = Converter::new(["cloudtrail-logging-stopped-or-trail-deleted"]);
    let a = c.convert(&rule(TRAIL_RULE)).unwrap()["id"].clone();
    let b = c.convert(&rule(TRAIL_RULE)).unwrap()["id"].clone();
    assert_eq!(a, "sigma-6b1f3c2e");
    assert_eq!(b, "sigma-6b1f3c2e-2");
    let fresh = Converter::new(Vec::<String>::new())
        .convert(&rule(TRAIL_RULE))
        .unwrap()["id"]
        .clone();
    assert_eq!(fresh, "cloudtrail-logging-stopped-or-trail-deleted");

    let long = TRAIL_RULE.replace(
            "title: CloudTrail Logging Stopped Or Trail Deleted",
            "title: A Very Long Sigma Rule Title That Goes On And On Well Past The Sixty Four Character Limit Of Ids",
        );
    let id = convert_ok(&long)["id"].as_str().unwrap().to_string();
    assert!(
        id.len() <= 64 && !id.ends_with('-') && id.starts_with("a-very-long-sigma-rule"),
        "{id}"
    );

    let file = c.into_file();
    assert_eq!(file["family"], "sigma");
    let cat = Catalog::from_json(&file.to_string(), "sigma.json").expect("loads");
    assert_eq!(cat.len(), 2);
    assert_eq!(cat.family_description("sigma"), Some(FILE_DESCRIPTION));
    assert!(cat.detections().iter().all(|d| d.family == "sigma"));
}
