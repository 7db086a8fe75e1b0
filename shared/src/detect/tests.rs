use super::*;
use serde_json::json;

fn builtin() -> Catalog {
    Catalog::builtin(BuiltinOptions::default())
}

fn ids(v: Vec<&Detection>) -> Vec<String> {
    v.into_iter().map(|d| d.id.clone()).collect()
}

/// Every built-in detection carries records it must and must not match, and they behave as
/// written when evaluated through the whole catalog (index included).
#[test]
fn builtin_detections_match_their_positive_and_negative_records() {
    for opts in [
        BuiltinOptions::default(),
        BuiltinOptions {
            exclude_federated_signin: false,
        },
    ] {
        let cat = Catalog::builtin(opts);
        for d in cat.detections() {
            assert!(
                !d.examples.matching.is_empty() && !d.examples.no_match.is_empty(),
                "{} needs positive and negative examples",
                d.id
            );
            for (i, ex) in d.examples.matching.iter().enumerate() {
                let got = ids(cat.matching(ex));
                assert!(
                    got.contains(&d.id),
                    "{} match[{i}] not matched; got {got:?}",
                    d.id
                );
            }
            for (i, ex) in d.examples.no_match.iter().enumerate() {
                let got = ids(cat.matching(ex));
                assert!(!got.contains(&d.id), "{} no_match[{i}] matched", d.id);
            }
        }
    }
}

#[test]
fn builtin_catalog_covers_the_issue() {
    let cat = builtin();
    for n in 1..=15 {
        let prefix = format!("cis-4.{n}-");
        let d = cat
            .detections()
            .iter()
            .find(|d| d.id.starts_with(&prefix))
            .unwrap_or_else(|| panic!("CIS 4.{n} missing"));
        assert_eq!(d.references.cis.as_deref(), Some(format!("4.{n}").as_str()));
        assert!(!d.references.mitre_attack.is_empty(), "{}", d.id);
    }
    for id in [
        "iam-user-created",
        "root-access-key-created",
        "cloudtrail-tampering",
        "organizations-leave",
        "console-signin-failure-burst",
        "access-denied-burst",
    ] {
        assert!(cat.get(id).is_some(), "{id} missing");
    }
    for d in cat.detections() {
        assert!(!d.description.is_empty(), "{}", d.id);
        assert!(
            d.reference_lines()
                .iter()
                .any(|l| l.contains("attack.mitre.org")),
            "{}",
            d.id
        );
    }
    // The index leaves few detections to evaluate on every record.
    let (by_name, by_source, always) = cat.index_stats();
    assert_eq!(by_name + by_source + always, cat.len());
    assert!(
        always <= 3,
        "{always} detections are evaluated on every record"
    );
}

#[test]
fn cis_4_2_leaves_out_identity_center_and_saml_signins_by_default() {
    let sso = json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "eventType": "AwsConsoleSignIn",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:alice@example.com",
            "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
            "accountId": "123456789012"},
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"MobileVersion": "No", "MFAUsed": "No"}});
    let saml = json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/Okta-Admin/bob"},
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"SamlProviderArn": "arn:aws:iam::123456789012:saml-provider/Okta", "MFAUsed": "No"}});
    let iam = json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
        "userIdentity": {"type": "IAMUser", "userName": "carol", "arn": "arn:aws:iam::123456789012:user/carol"},
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"MFAUsed": "No"}});
    let default = builtin();
    let all = Catalog::builtin(BuiltinOptions {
        exclude_federated_signin: false,
    });
    for ev in [&sso, &saml] {
        assert!(!ids(default.matching(ev)).contains(&CIS_4_2_ID.to_string()));
        assert!(ids(all.matching(ev)).contains(&CIS_4_2_ID.to_string()));
    }
    assert!(ids(default.matching(&iam)).contains(&CIS_4_2_ID.to_string()));
    assert!(ids(all.matching(&iam)).contains(&CIS_4_2_ID.to_string()));
    // The description says which reading is in force.
    assert!(default
        .get(CIS_4_2_ID)
        .unwrap()
        .description
        .contains("are left out"));
    assert!(all
        .get(CIS_4_2_ID)
        .unwrap()
        .description
        .contains("are included"));
}

#[test]
fn user_detections_add_override_and_disable_by_id() {
    let user = json!({"detections": [
        {"id": "s3-public-access-block-removed", "title": "S3 public access block removed",
         "severity": "high", "description": "x",
         "references": {"mitre_attack": ["T1530"]},
         "pattern": {"eventSource": ["s3.amazonaws.com"], "eventName": ["DeleteBucketPublicAccessBlock"]},
         "examples": {"match": [{"eventSource": "s3.amazonaws.com", "eventName": "DeleteBucketPublicAccessBlock"}]}},
        {"id": "iam-user-created", "title": "IAM user created (we never do this)", "severity": "critical",
         "pattern": {"eventSource": ["iam.amazonaws.com"], "eventName": ["CreateUser"]}},
        {"id": "cis-4.10-security-group-changes", "enabled": false}
    ]})
    .to_string();
    let base = builtin();
    let n = base.len();
    let cat = base
        .with_overrides(&user, "s3://cfg/detections.json")
        .unwrap();
    assert_eq!(cat.len(), n); // one added, one removed, one replaced
    let added = cat.get("s3-public-access-block-removed").unwrap();
    assert_eq!(added.origin, "s3://cfg/detections.json");
    let replaced = cat.get("iam-user-created").unwrap();
    assert_eq!(replaced.severity, crate::Severity::Critical);
    assert!(cat.get("cis-4.10-security-group-changes").is_none());
    let ev =
        json!({"eventSource": "ec2.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress"});
    assert!(cat.matching(&ev).is_empty());
    let ev = json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "errorCode": "AccessDenied"});
    assert!(ids(cat.matching(&ev)).contains(&"iam-user-created".to_string()));
    // A bare array is accepted too.
    let c = Catalog::from_json(
        r#"[{"id": "x", "title": "X", "severity": "low", "pattern": {"eventName": ["X"]}}]"#,
        "f.json",
    )
    .unwrap();
    assert_eq!(c.len(), 1);
}

#[test]
fn malformed_detections_fail_with_their_id_and_what_is_wrong() {
    let cases = [
        (
            r#"{"detections": [{"id": "bad-pattern", "title": "t", "severity": "low", "pattern": {"eventName": "CreateUser"}}]}"#,
            "detection \"bad-pattern\": pattern: at eventName: expected an array",
        ),
        (
            r#"{"detections": [{"id": "typo", "title": "t", "seververity": "low", "pattern": {"eventName": ["x"]}}]}"#,
            "detection \"typo\": seververity: unknown field `seververity`, expected one of `title`, `severity`",
        ),
        (
            r#"{"detections": [{"id": "sev", "title": "t", "severity": "urgent", "pattern": {"eventName": ["x"]}}]}"#,
            "detection \"sev\": severity: unknown variant `urgent`",
        ),
        (
            r#"{"detections": [{"id": "no-title", "severity": "low", "pattern": {"eventName": ["x"]}}]}"#,
            "detection \"no-title\": missing \"title\"",
        ),
        (
            r#"{"detections": [{"title": "t"}]}"#,
            "detection #1: missing \"id\"",
        ),
        (
            r#"{"detections": [{"id": "ex", "title": "t", "severity": "low", "pattern": {"eventName": ["A"]},
                "examples": {"no_match": [{"eventName": "A"}]}}]}"#,
            "detection \"ex\": examples.no_match[0] matches the pattern",
        ),
        (
            r#"{"detections": [{"id": "th", "title": "t", "severity": "low", "pattern": {"eventName": ["A"]},
                "threshold": {"count": 0, "window_seconds": 60}}]}"#,
            "detection \"th\": threshold.count must be between 1",
        ),
        (
            r#"{"detections": [{"id": "m", "title": "t", "severity": "low", "pattern": {"eventName": ["A"]},
                "references": {"mitre_attack": ["1078"]}}]}"#,
            "is not a technique id",
        ),
        (
            r#"{"detections": [{"id": "nope", "enabled": false}]}"#,
            "detection \"nope\": \"enabled\": false names no known detection",
        ),
        (
            r#"{"detections": [{"id": "d", "title": "t", "severity": "low", "pattern": {"eventName": ["A"]}},
                               {"id": "d", "title": "t", "severity": "low", "pattern": {"eventName": ["B"]}}]}"#,
            "detection \"d\": appears twice",
        ),
        (
            r#"{"detections": [{"id": "r", "title": "t", "severity": "low", "pattern": {"eventName": ["A"]},
                "responder": "root_activity"}]}"#,
            "detection \"r\": responder \"root_activity\" is not one of root-activity",
        ),
        (r#"{"detections": [}"#, "f.json: not valid JSON"),
        (r#"{"rules": []}"#, "unknown top-level key \"rules\""),
        (r#"{"detections": {"id": "d"}}"#, "\"detections\" must be an array"),
        (r#"{"family": 7, "detections": []}"#, "\"family\" 7 is not a name"),
        (r#"{"description": ["x"], "detections": []}"#, "\"description\" must be a string"),
        (r#""detections""#, "or an array of detections"),
        ("", "f.json: not valid JSON"),
        ("  nul", "f.json: not valid JSON"),
        ("[] []", "f.json: not valid JSON"),
        // Syntax is checked for the whole file at once; a number out of range only when its
        // entry is parsed: an error naming the entry either way, never a panic.
        (
            r#"[{"id": "d", "title": "t", "severity": "low", "pattern": {"eventName": ["A"]}},
                {"id": "e", "n": 1e400}]"#,
            "f.json: detection #2: not valid JSON: number out of range",
        ),
        (r#"{"detections": [{"id": "d"} {"id": "e"}]}"#, "f.json: not valid JSON"),
    ];
    for (text, want) in cases {
        let e = builtin().with_overrides(text, "f.json").unwrap_err();
        assert!(e.to_string().contains(want), "want {want:?}, got: {e}");
        assert!(e.to_string().starts_with("f.json: "), "{e}");
    }
}

#[test]
fn detection_files_load_in_either_shape_with_white_space_around() {
    let one = r#"{"id": "d", "title": "t", "severity": "low", "pattern": {"eventName": ["A"]}}"#;
    for text in [
        format!("\n  {{\"family\": \"mine\", \"detections\": [ {one} ]}}\n"),
        format!("\r\n\t[ {one} ]  \n"),
    ] {
        let c = Catalog::from_json(&text, "f.json").unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(c.detections().len(), 1);
        assert_eq!(c.detections()[0].id, "d");
        assert_eq!(
            c.detections()[0].pattern.source(),
            json!({"eventName": ["A"]})
        );
    }
    let c = Catalog::from_json(
        &format!("{{\"family\": \"mine\", \"detections\": [{one}]}}"),
        "f",
    )
    .unwrap();
    assert_eq!(c.detections()[0].family, "mine");
}

// -------------------------------------------------------------------------------------------
// Scanning
// -------------------------------------------------------------------------------------------

fn log(records: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "Records": records })).unwrap()
}

fn at(min: u32, sec: u32) -> String {
    format!("2024-08-01T13:{min:02}:{sec:02}Z")
}

fn failed_login(user: &str, time: &str, id: &str) -> serde_json::Value {
    json!({"eventVersion": "1.09", "eventTime": time, "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.50",
        "userAgent": "Mozilla/5.0", "eventID": id, "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "123456789012", "errorMessage": "Failed authentication",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": "123456789012",
            "accessKeyId": "", "userName": user},
        "requestParameters": null, "responseElements": {"ConsoleLogin": "Failure"},
        "additionalEventData": {"MFAUsed": "No"}})
}

fn scan(cat: &Catalog, bytes: Vec<u8>) -> ScanReport {
    scan_reader(cat, "test.json", std::io::Cursor::new(bytes)).unwrap()
}

fn finding<'a>(r: &'a ScanReport, id: &str) -> Option<&'a Finding> {
    r.findings.iter().find(|f| f.detection == id)
}

#[test]
fn one_finding_per_detection_with_counts_principals_times_and_samples() {
    let mut recs = Vec::new();
    for i in 0..8 {
        let who = if i < 5 { "alice" } else { "bob" };
        recs.push(json!({"eventTime": at(10 + i, 0), "eventSource": "ec2.amazonaws.com",
            "eventName": "AuthorizeSecurityGroupIngress", "awsRegion": if i % 2 == 0 { "eu-west-1" } else { "us-east-1" },
            "eventID": format!("00000000-0000-4000-8000-00000000000{i}"),
            "recipientAccountId": "123456789012", "sourceIPAddress": "198.51.100.7",
            "userIdentity": {"type": "IAMUser", "userName": who,
                "arn": format!("arn:aws:iam::123456789012:user/{who}")}}));
    }
    // Out of order: the earliest comes last.
    recs.push(json!({"eventTime": at(1, 0), "eventSource": "ec2.amazonaws.com",
        "eventName": "RevokeSecurityGroupIngress", "awsRegion": "us-east-1", "eventID": "early",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/ops/x"}}));
    recs.push(json!({"eventTime": at(30, 0), "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances"}));
    let r = scan(&builtin(), log(&recs));
    assert_eq!(r.records, 10);
    assert_eq!(r.unparsed_records, 0);
    assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
    let f = &r.findings[0];
    assert_eq!(f.detection, "cis-4.10-security-group-changes");
    assert_eq!(f.count, 9);
    assert_eq!(f.first_time.as_deref(), Some("2024-08-01T13:01:00Z"));
    assert_eq!(f.last_time.as_deref(), Some("2024-08-01T13:17:00Z"));
    assert_eq!(
        f.principals[0].value,
        "arn:aws:iam::123456789012:user/alice"
    );
    assert_eq!(f.principals[0].count, 5);
    assert_eq!(f.principals[1].count, 3);
    assert_eq!(f.distinct_principals, 3);
    assert_eq!(f.sample_event_ids.len(), 5);
    assert_eq!(
        f.sample_event_ids[0],
        "00000000-0000-4000-8000-000000000000"
    );
    assert_eq!(f.regions.len(), 2);
    assert_eq!(f.event_names[0].value, "AuthorizeSecurityGroupIngress");
    assert_eq!(
        f.sample.as_ref().unwrap().actor.as_deref(),
        Some("arn:aws:iam::123456789012:user/alice")
    );

    let a = f.to_alert("s3://trail/AWSLogs/x.json.gz");
    assert_eq!(a.detection, "cis-4.10-security-group-changes");
    assert!(a.title.contains("9 events"), "{}", a.title);
    let text = a.text();
    assert!(
        text.contains("arn:aws:iam::123456789012:user/alice (5)"),
        "{text}"
    );
    assert!(
        text.contains("Log file: s3://trail/AWSLogs/x.json.gz"),
        "{text}"
    );
    assert!(
        text.contains("CIS AWS Foundations Benchmark v1.4.0, control 4.10"),
        "{text}"
    );
}

#[test]
fn thresholds_fire_only_for_bursts_within_the_window_per_group() {
    let cat = builtin();
    let id = "console-signin-failure-burst";
    // Five failures for alice within five minutes (out of order), four for bob.
    let mut recs: Vec<_> = [3, 0, 1, 4, 2]
        .iter()
        .map(|m| failed_login("alice", &at(20 + m, 10), &format!("a{m}")))
        .collect();
    recs.extend((0..4).map(|m| failed_login("bob", &at(20 + m, 0), &format!("b{m}"))));
    let r = scan(&cat, log(&recs));
    let f = finding(&r, id).expect("alice's burst");
    assert_eq!(f.count, 5);
    let t = f.threshold.as_ref().unwrap();
    assert_eq!(t.groups_over, 1);
    assert_eq!(t.groups[0].key, "123456789012 | alice");
    assert_eq!(t.groups[0].peak, 5);
    // CIS 4.6 still reports every failure, without a threshold.
    assert_eq!(
        finding(&r, "cis-4.6-console-auth-failures").unwrap().count,
        9
    );

    // A flood: the window keeps a bounded number of timestamps and says the peak is capped.
    let flood: Vec<_> = (0..200)
        .map(|i| failed_login("dave", &at(40 + i / 60, i % 60), &format!("d{i}")))
        .collect();
    let r = scan(&cat, log(&flood));
    let g = &finding(&r, id).unwrap().threshold.as_ref().unwrap().groups[0];
    assert_eq!((g.peak, g.peak_capped, g.matches), (64, true, 200));
    let text = finding(&r, id).unwrap().to_alert("f").text();
    assert!(
        text.contains("123456789012 | dave (peak 64+ in 300 s, 200 in all)"),
        "{text}"
    );

    // Failures for a user of the same name in another account of the organization count
    // apart: three there and two here make no burst (and a burst there is not this one).
    let mut mixed: Vec<_> = (0..3)
        .map(|i| {
            let mut r = failed_login("erin", &at(30, i), &format!("x{i}"));
            r["recipientAccountId"] = json!("222222222222");
            r["userIdentity"]["accountId"] = json!("222222222222");
            r
        })
        .collect();
    mixed.extend((0..2).map(|i| failed_login("erin", &at(31, i), &format!("e{i}"))));
    assert!(finding(&scan(&cat, log(&mixed)), id).is_none());

    // Five failures spread over 20 minutes: no burst.
    let spread: Vec<_> = (0..5)
        .map(|i| failed_login("carol", &at(5 * i, 0), &format!("c{i}")))
        .collect();
    let r = scan(&cat, log(&spread));
    assert!(finding(&r, id).is_none());
    assert_eq!(
        finding(&r, "cis-4.6-console-auth-failures").unwrap().count,
        5
    );
}

/// A call by a session of `role` named `session`, with access key `key`.
fn role_call(
    source: &str,
    name: &str,
    role: &str,
    session: &str,
    key: &str,
    time: &str,
    id: &str,
) -> serde_json::Value {
    json!({"eventVersion": "1.09", "eventTime": time, "eventSource": source,
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.20",
        "userAgent": "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux",
        "eventID": id, "eventType": "AwsApiCall", "readOnly": true, "managementEvent": true,
        "eventCategory": "Management", "recipientAccountId": "123456789012",
        "userIdentity": {"type": "AssumedRole", "principalId": format!("AROAEXAMPLEROLE00001:{session}"),
            "arn": format!("arn:aws:sts::123456789012:assumed-role/{role}/{session}"),
            "accountId": "123456789012", "accessKeyId": key,
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLE00001",
                "arn": format!("arn:aws:iam::123456789012:role/{role}"), "accountId": "123456789012",
                "userName": role},
                "attributes": {"creationDate": "2024-08-01T12:58:00Z", "mfaAuthenticated": "false"}}},
        "requestParameters": {"secretId": "prod/orders/db"}, "responseElements": null})
}

#[test]
fn secret_bursts_count_per_credential_and_console_refusals_are_no_probing_burst() {
    let cat = builtin();
    let id = "secretsmanager-secret-value-burst";
    let get = |session: &str, key: &str, i: u32| {
        role_call(
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            "orders-fn",
            session,
            key,
            &at(10 + i / 60, i % 60),
            &format!("s{key}{i}"),
        )
    };
    // A function scaling out: 40 new environments, one role session name (the function's),
    // each with its own key, reading the secret once each. No burst.
    let scale_out: Vec<_> = (0..40)
        .map(|i| get("orders-fn", &format!("ASIAEXAMPLEENV{i:06}"), i))
        .collect();
    assert!(finding(&scan(&cat, log(&scale_out)), id).is_none());
    // One set of credentials reading twenty secrets: a burst, named by session and key.
    let dump: Vec<_> = (0..20)
        .map(|i| get("orders-fn", "ASIAEXAMPLESTOLEN001", i))
        .collect();
    let r = scan(&cat, log(&dump));
    let f = finding(&r, id).expect("a burst");
    assert!(
        f.threshold.as_ref().unwrap().groups[0]
            .key
            .contains("ASIAEXAMPLESTOLEN001"),
        "{:?}",
        f.threshold
    );

    // Refusals: 30 in two minutes from an API caller are a probing burst; the same from a
    // console session (a page listing what the role may not read) are not.
    let id = "access-denied-burst";
    let refused = |console: bool| -> Vec<serde_json::Value> {
        (0..30)
            .map(|i| {
                let mut r = role_call(
                    "ec2.amazonaws.com",
                    "DescribeVpcEndpoints",
                    "ReadOnlyDev",
                    "dev@example.com",
                    "ASIAEXAMPLECONSOLE01",
                    &at(20 + i / 60, i % 60),
                    &format!("r{console}{i}"),
                );
                r["errorCode"] = json!("Client.UnauthorizedOperation");
                r["errorMessage"] = json!("You are not authorized to perform this operation.");
                if console {
                    r["sessionCredentialFromConsole"] = json!("true");
                }
                r
            })
            .collect()
    };
    assert!(finding(&scan(&cat, log(&refused(false))), id).is_some());
    let r = scan(&cat, log(&refused(true)));
    assert!(finding(&r, id).is_none());
    assert_eq!(
        finding(&r, "cis-4.1-unauthorized-api-calls").unwrap().count,
        30
    );
}

#[test]
fn a_password_spray_from_one_address_fires_where_per_user_bursts_do_not() {
    let cat = builtin();
    let from = |ip: &str, mut r: serde_json::Value| {
        r["sourceIPAddress"] = json!(ip);
        r
    };
    // Twelve users, one wrong password each, from one address within twelve minutes.
    let spray: Vec<_> = (0..12)
        .map(|i| {
            from(
                "198.51.100.23",
                failed_login(&format!("user{i}"), &at(i, 0), &format!("s{i}")),
            )
        })
        .collect();
    let r = scan(&cat, log(&spray));
    let f = finding(&r, "console-signin-failure-spray").expect("the spray");
    assert_eq!(f.count, 12);
    let t = f.threshold.as_ref().unwrap();
    assert_eq!(t.groups[0].key, "198.51.100.23");
    assert!(finding(&r, "console-signin-failure-burst").is_none());
    // The same failures from twelve addresses, or nine from one: nothing.
    let spread: Vec<_> = spray
        .iter()
        .enumerate()
        .map(|(i, r)| from(&format!("203.0.113.{i}"), r.clone()))
        .collect();
    assert!(finding(&scan(&cat, log(&spread)), "console-signin-failure-spray").is_none());
    assert!(finding(
        &scan(&cat, log(&spray[..9])),
        "console-signin-failure-spray"
    )
    .is_none());
    // Twelve failures from one address spread over an hour: nothing.
    let slow: Vec<_> = spray
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            r["eventTime"] = json!(format!("2024-08-01T13:{:02}:00Z", i * 5));
            r
        })
        .collect();
    assert!(finding(&scan(&cat, log(&slow)), "console-signin-failure-spray").is_none());
}

/// The built-in catalog with one threshold detection on failed sign-ins (the per-user burst),
/// so that a budget of groups is all its own.
fn burst_only() -> Catalog {
    builtin()
        .with_overrides(
            r#"{"detections": [{"id": "console-signin-failure-spray", "enabled": false}]}"#,
            "test",
        )
        .unwrap()
}

/// Scans with a budget of `groups` threshold groups and no reserve per detection, keeping
/// events (and so every group below its threshold) or not.
fn scan_with_budget(
    cat: &Catalog,
    recs: &[serde_json::Value],
    groups: usize,
    keep: bool,
) -> ScanReport {
    let mut s = Scanner::new(cat).group_budget(groups).group_reserve(0);
    if keep {
        s = s.keep_events(1);
    }
    s.scan_reader("test.json", std::io::Cursor::new(log(recs)))
        .unwrap();
    s.finish()
}

#[test]
fn threshold_groups_share_one_budget_and_the_rest_are_counted_as_untracked() {
    let cat = burst_only();
    let id = "console-signin-failure-burst";
    // Three users each fail five times in the same minute; the scan may track two groups.
    let recs: Vec<_> = ["alice", "bob", "carol"]
        .iter()
        .flat_map(|who| (0..5).map(move |i| failed_login(who, &at(20, i), &format!("{who}{i}"))))
        .collect();
    let r = scan_with_budget(&cat, &recs, 2, false);
    let t = finding(&r, id).unwrap().threshold.clone().unwrap();
    assert_eq!((t.groups_over, t.groups_untracked), (2, 5));
    let keys: Vec<_> = t.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["123456789012 | alice", "123456789012 | bob"]);
    // The alert says that some groups were not followed.
    let text = finding(&r, id).unwrap().to_alert("f").text();
    assert!(
        text.contains("5 matches of further groups were not evaluated"),
        "{text}"
    );
    // Without a budget every burst is found.
    let r = scan(&cat, log(&recs));
    assert_eq!(
        finding(&r, id)
            .unwrap()
            .threshold
            .as_ref()
            .unwrap()
            .groups_over,
        3
    );
}

#[test]
fn a_full_budget_drops_groups_whose_window_has_long_passed() {
    let cat = burst_only();
    let id = "console-signin-failure-burst";
    // Two failures each for alice and bob at 13:00 fill a budget of two groups; two hours
    // later mallory fails 300 times in five minutes.
    let mut recs = vec![
        failed_login("alice", &at(0, 0), "a0"),
        failed_login("alice", &at(0, 5), "a1"),
        failed_login("bob", &at(0, 10), "b0"),
        failed_login("bob", &at(0, 15), "b1"),
    ];
    recs.extend((0..300u32).map(|i| {
        let time = format!("2024-08-01T15:{:02}:{:02}Z", i / 60, i % 60);
        failed_login("mallory", &time, &format!("m{i}"))
    }));
    // Alice's and bob's groups can no longer cross their threshold: once enough of
    // mallory's records were refused, they make room and mallory's burst is found.
    let r = scan_with_budget(&cat, &recs, 2, false);
    let f = finding(&r, id).expect("mallory's burst");
    let t = f.threshold.as_ref().unwrap();
    assert_eq!(t.groups[0].key, "123456789012 | mallory");
    assert_eq!(t.groups_over, 1);
    assert!(t.groups_untracked > 0 && t.groups_untracked < 300, "{t:?}");
    assert_eq!(f.count + t.groups_untracked, 300);

    // A scan that reports the groups below their threshold (for the shared state) drops
    // none of them: mallory's records stay untracked.
    let r = scan_with_budget(&cat, &recs, 2, true);
    assert!(finding(&r, id).is_none());
    let below: Vec<_> = r
        .groups_below
        .iter()
        .filter(|g| g.detection == id)
        .map(|g| g.key.as_str())
        .collect();
    assert_eq!(below, ["123456789012 | alice", "123456789012 | bob"]);

    // A group still inside its window is never dropped: with alice's failures at 14:58,
    // mallory stays untracked.
    recs[0] = failed_login("alice", "2024-08-01T14:58:00Z", "a0");
    recs[1] = failed_login("alice", "2024-08-01T14:58:05Z", "a1");
    recs[2] = failed_login("bob", "2024-08-01T14:58:10Z", "b0");
    recs[3] = failed_login("bob", "2024-08-01T14:58:15Z", "b1");
    let r = scan_with_budget(&cat, &recs, 2, false);
    assert!(finding(&r, id).is_none());
}

#[test]
fn a_flood_of_groups_on_one_detection_cannot_hide_a_burst_on_another() {
    let cat = burst_only();
    // An attacker who knows the budget fails one console sign-in each as 400 different
    // user names (below every threshold), filling it, then reads secrets in a burst.
    let mut recs: Vec<_> = (0..400u32)
        .map(|i| failed_login(&format!("decoy{i}"), &at(i / 60, i % 60), &format!("d{i}")))
        .collect();
    recs.extend((0..20u32).map(|i| {
        json!({"eventVersion": "1.09", "eventTime": at(7, i), "eventSource": "secretsmanager.amazonaws.com",
            "eventName": "GetSecretValue", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.9",
            "eventID": format!("s{i}"), "eventType": "AwsApiCall", "recipientAccountId": "123456789012",
            "requestParameters": {"secretId": format!("prod/db-{i}")}, "responseElements": null,
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEMALLORY", "accountId": "123456789012",
                "arn": "arn:aws:iam::123456789012:user/mallory", "userName": "mallory"}})
    }));
    let id = "secretsmanager-secret-value-burst";
    let scan_with = |reserve: usize| {
        let mut s = Scanner::new(&cat).group_budget(100).group_reserve(reserve);
        s.scan_reader("test.json", std::io::Cursor::new(log(&recs)))
            .unwrap();
        s.finish()
    };
    // Without a reserve the flood takes the whole budget: the burst is not evaluated, only
    // counted.
    let starved = scan_with(0);
    assert!(finding(&starved, id).is_none());
    // With one, the detection still follows its own groups and the burst alerts.
    let r = scan_with(4);
    let f = finding(&r, id).expect("the secrets burst");
    assert_eq!(f.count, 20);
    assert_eq!(f.threshold.as_ref().unwrap().groups_over, 1);
    // The flooded detection is capped at the budget plus its reserve, and says what it
    // did not follow.
    let flood = finding(&r, "console-signin-failure-burst");
    assert!(flood.is_none(), "no decoy crossed its threshold");
    // The default reserve is what a real scan uses.
    let mut s = Scanner::new(&cat).group_budget(100);
    s.scan_reader("test.json", std::io::Cursor::new(log(&recs)))
        .unwrap();
    assert!(finding(&s.finish(), id).is_some());
}

#[test]
fn access_denied_burst_groups_by_principal() {
    let cat = builtin();
    let denied = |who: &str, s: u32| {
        json!({"eventTime": format!("2024-08-01T14:{:02}:{:02}Z", s / 60, s % 60),
            "eventSource": "iam.amazonaws.com", "eventName": "ListRoles", "errorCode": "AccessDenied",
            "sourceIPAddress": "198.51.100.9", "awsRegion": "us-east-1",
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::123456789012:user/{who}")}})
    };
    let mut recs: Vec<_> = (0..25).map(|i| denied("mallory", i * 5)).collect();
    recs.extend((0..19).map(|i| denied("dev", i * 5)));
    let r = scan(&cat, log(&recs));
    let f = finding(&r, "access-denied-burst").unwrap();
    assert_eq!(f.count, 25);
    assert_eq!(f.principals.len(), 1);
    assert_eq!(
        f.principals[0].value,
        "arn:aws:iam::123456789012:user/mallory"
    );
    assert_eq!(
        finding(&r, "cis-4.1-unauthorized-api-calls").unwrap().count,
        44
    );
}

#[test]
fn a_record_that_does_not_parse_is_counted_and_the_rest_still_scanned() {
    let text = br#"{"Records": [
        {"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "userIdentity": {"type": "IAMUser", "userName": "a"}},
        7,
        {"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "errorMessage": "Failed authentication \q"},
        {"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "errorMessage": "Failed authentication", "userIdentity": {"type": tru}},
        {"eventSource": "iam.amazonaws.com", "eventName": ["CreateUser"], "eventID": "weird-name"},
        {"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "eventID": "last"}
    ]}"#;
    let r = scan(&builtin(), text.to_vec());
    assert_eq!(r.records, 6);
    assert_eq!(r.unparsed_records, 2, "{:?}", r.unparsed_samples);
    assert_eq!(r.unparsed_samples[0].record, 1);
    assert!(r.unparsed_samples[0].message.contains("not an object"));
    // A field a detection must read does not parse: the record is reported, not evaluated.
    assert_eq!(r.unparsed_samples[1].record, 2);
    assert!(
        r.unparsed_samples[1].message.contains("field errorMessage"),
        "{:?}",
        r.unparsed_samples
    );
    // A broken field no candidate detection needs is never parsed: the record still counts,
    // with an unknown principal.
    let f = finding(&r, "cis-4.6-console-auth-failures").unwrap();
    assert_eq!(f.count, 1);
    assert_eq!(f.principals[0].value, "unknown principal (no type)");
    // An array-valued eventName is evaluated against every detection.
    let f = finding(&r, "iam-user-created").unwrap();
    assert_eq!(f.count, 3);
    assert_eq!(f.sample_event_ids, vec!["weird-name", "last"]);
}

#[test]
fn counters_keep_the_heaviest_values_in_bounded_memory() {
    // 3000 distinct principals once each, and one principal 50 times: the heavy one is on
    // top with its exact count, and the distinct count is reported as a lower bound.
    let mut recs = Vec::new();
    for i in 0..3000 {
        recs.push(json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateUser",
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::123456789012:user/u{i}")}}));
        if i % 60 == 0 {
            recs.push(json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateUser",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/heavy"}}));
        }
    }
    let r = scan(&builtin(), log(&recs));
    let f = finding(&r, "iam-user-created").unwrap();
    assert_eq!(f.count, 3050);
    assert_eq!(
        f.principals[0].value,
        "arn:aws:iam::123456789012:user/heavy"
    );
    assert_eq!(f.principals[0].count, 50);
    // The others were seen once each; no count is inflated.
    assert!(
        f.principals[1..].iter().all(|p| p.count == 1),
        "{:?}",
        f.principals
    );
    assert!(f.distinct_principals_at_least);
    let text = f.to_alert("x").text();
    assert!(text.contains(" and more"), "{text}");
}

#[test]
fn broken_json_in_a_field_a_detection_reads_is_reported_per_record() {
    let text = br#"{"Records": [
        {"eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey", "userIdentity": {"type": "Root"}, "requestParameters": {"userName": nul}},
        {"eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey", "userIdentity": {"type": "Root"}, "requestParameters": null, "eventID": "ok"}
    ]}"#;
    let r = scan(&builtin(), text.to_vec());
    assert_eq!(r.unparsed_records, 1);
    assert!(
        r.unparsed_samples[0].message.contains("requestParameters"),
        "{:?}",
        r.unparsed_samples
    );
    assert_eq!(
        finding(&r, "root-access-key-created")
            .unwrap()
            .sample_event_ids,
        vec!["ok"]
    );
}

#[test]
fn projection_parses_only_the_paths_read() {
    let mut t = project::FieldTree::partial();
    t.add(&["userName".to_string()]);
    t.add(&[
        "ipPermissions".to_string(),
        "items".to_string(),
        "cidrIp".to_string(),
    ]);
    let raw = br#"{"userName": "bob", "policyDocument": {"huge": [1,2,3]},
        "ipPermissions": {"items": [{"cidrIp": "0.0.0.0/0", "other": 1}, {"x": 2}]}}"#;
    let v = t.project(raw).unwrap();
    assert_eq!(
        v,
        json!({"userName": "bob", "ipPermissions": {"items": [{"cidrIp": "0.0.0.0/0"}, {}]}})
    );
    assert!(t.project(br#"{"userName": "bob""#).is_err());
}

#[test]
fn matches_through_the_scanner_equal_matches_on_whole_values() {
    // Random-ish records through both paths must agree for every built-in detection.
    let cat = Catalog::builtin(BuiltinOptions {
        exclude_federated_signin: false,
    });
    let mut records = Vec::new();
    for d in cat.detections() {
        records.extend(d.examples.matching.iter().cloned());
        records.extend(d.examples.no_match.iter().cloned());
    }
    for rec in &records {
        let expected = ids(cat.matching(rec));
        let r = scan(&cat, log(std::slice::from_ref(rec)));
        let mut got: Vec<String> = r.findings.iter().map(|f| f.detection.clone()).collect();
        // Thresholds need more than one record; compare the per-record part only.
        let mut exp: Vec<String> = expected
            .into_iter()
            .filter(|id| cat.get(id).unwrap().threshold.is_none())
            .collect();
        got.sort();
        exp.sort();
        assert_eq!(got, exp, "{rec}");
    }
}

/// A successful PutRolePolicy by an IAM user, with these request parameters.
fn put_role_policy(event_id: &str, request_parameters: serde_json::Value) -> serde_json::Value {
    json!({"eventVersion": "1.09", "eventTime": at(0, 1), "eventSource": "iam.amazonaws.com",
        "eventName": "PutRolePolicy", "eventID": event_id, "recipientAccountId": "123456789012",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::123456789012:user/mallory", "accountId": "123456789012",
            "userName": "mallory"},
        "requestParameters": request_parameters})
}

/// A detection superseded by another that matches the same record is reported for it by
/// neither path (`matching`, the scanner); once the other is gone (disabled), it reports on
/// its own. Ids of detections not in the catalog are passed over.
#[test]
fn a_superseded_detection_gives_way_to_the_stronger_one_on_both_paths() {
    let file = json!({"detections": [
        {"id": "narrow", "title": "Narrow", "severity": "medium",
         "superseded_by": ["wide", "not-in-this-catalog"],
         "pattern": {"eventName": ["PutRolePolicy"]}},
        {"id": "wide", "title": "Wide", "severity": "high",
         "pattern": {"eventName": ["PutRolePolicy"], "requestParameters": {"policyName": ["admin"]}}}
    ]})
    .to_string();
    let cat = Catalog::from_json(&file, "f.json").unwrap();
    let put = |policy: &str, id: &str| {
        put_role_policy(id, json!({"roleName": "app", "policyName": policy}))
    };
    let (both, alone) = (put("admin", "e1"), put("read-only", "e2"));
    assert_eq!(ids(cat.matching(&both)), ["wide"]);
    assert_eq!(ids(cat.matching(&alone)), ["narrow"]);
    let r = scan(&cat, log(&[both.clone(), alone.clone()]));
    assert_eq!(finding(&r, "wide").map(|f| f.count), Some(1));
    assert_eq!(finding(&r, "narrow").map(|f| f.count), Some(1));
    let without = cat
        .with_overrides(
            r#"{"detections": [{"id": "wide", "enabled": false}]}"#,
            "g.json",
        )
        .unwrap();
    assert_eq!(ids(without.matching(&both)), ["narrow"]);
    let r = scan(&without, log(&[both, alone]));
    assert_eq!(finding(&r, "narrow").map(|f| f.count), Some(2));
}

/// `superseded_by` that would lose a record (a cycle, a threshold detection on either side) or
/// names the detection itself is refused with the detection's id.
#[test]
fn superseding_that_could_hide_a_record_is_refused() {
    let plain = |id: &str, by: &[&str]| {
        json!({"id": id, "title": id, "severity": "low", "superseded_by": by,
            "pattern": {"eventName": ["PutRolePolicy"]}})
    };
    let burst = json!({"id": "burst", "title": "b", "severity": "low",
        "pattern": {"eventName": ["PutRolePolicy"]},
        "threshold": {"count": 5, "window_seconds": 60, "group_by": ["userIdentity.arn"]}});
    let cases = [
        (
            vec![plain("a", &["b"]), plain("b", &["c"]), plain("c", &["a"])],
            "superseded_by forms a cycle",
        ),
        (
            vec![plain("a", &["a"])],
            "is not the id of another detection",
        ),
        (
            vec![plain("a", &["burst"]), burst.clone()],
            "a threshold detection",
        ),
        (
            vec![{
                let mut b = burst.clone();
                b["superseded_by"] = json!(["x"]);
                b
            }],
            "a threshold detection cannot be superseded",
        ),
    ];
    for (detections, want) in cases {
        let text = json!({ "detections": detections }).to_string();
        let e = Catalog::from_json(&text, "f.json").unwrap_err();
        assert!(e.to_string().contains(want), "{e} (wanted {want:?})");
        assert!(e.id.is_some(), "{e}");
    }
}

/// The escalation detection gives way to the admin-grant detections on a statement that
/// grants all of IAM (one alert, the stronger), and reports a narrower escalation grant.
#[test]
fn an_admin_grant_is_not_also_reported_as_an_escalation_grant() {
    let cat = builtin();
    let put = |doc: &str| {
        put_role_policy(
            "e1",
            json!({"roleName": "app", "policyName": "p", "policyDocument": doc}),
        )
    };
    let (admin, escalation) = (
        "iam-inline-policy-grants-admin",
        "iam-policy-grants-privilege-escalation",
    );
    // (the statement's Action, the detection it raises, the one it does not)
    for (action, raised, not_raised) in
        [("*", admin, escalation), ("iam:Attach*", escalation, admin)]
    {
        let doc = json!({"Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Action": action, "Resource": "*"}});
        let got = ids(cat.matching(&put(&doc.to_string())));
        assert!(got.iter().any(|g| g == raised), "{action}: {got:?}");
        assert!(!got.iter().any(|g| g == not_raised), "{action}: {got:?}");
    }
    // Every id a built-in detection names in superseded_by is a built-in detection.
    for d in cat.detections() {
        for s in &d.superseded_by {
            assert!(
                cat.get(s).is_some(),
                "{}: superseded_by {s} is no built-in",
                d.id
            );
        }
    }
}

/// The catalog on the sample events other parts of the project use (`events/`), through
/// their `detail`; and the pattern engine on whole EventBridge envelopes, as template rules
/// see them.
#[test]
fn the_catalog_and_envelope_patterns_on_the_sample_events() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/");
    let load = |name: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(format!("{dir}{name}"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::from_str(&text).unwrap()
    };
    let cat = builtin();
    let cases = [
        (
            "signin-iam-user-no-mfa.json",
            "cis-4.2-console-signin-without-mfa",
            true,
        ),
        (
            "signin-identity-center.json",
            "cis-4.2-console-signin-without-mfa",
            false,
        ),
        (
            "signin-saml-federated.json",
            "cis-4.2-console-signin-without-mfa",
            false,
        ),
        (
            "signin-root-success-no-mfa.json",
            "cis-4.3-root-usage",
            true,
        ),
        ("root-invoked-by-service.json", "cis-4.3-root-usage", false),
        (
            "service-event-no-identity-type.json",
            "cis-4.3-root-usage",
            false,
        ),
        (
            "root-create-access-key.json",
            "root-access-key-created",
            true,
        ),
        (
            "iam-create-user-by-assumed-role.json",
            "iam-user-created",
            true,
        ),
        (
            "iam-create-user-access-denied.json",
            "iam-user-created",
            false,
        ),
        (
            "iam-create-user-access-denied.json",
            "cis-4.1-unauthorized-api-calls",
            true,
        ),
        (
            "ec2-authorize-ingress-nested-world-ssh.json",
            "cis-4.10-security-group-changes",
            true,
        ),
    ];
    for (file, id, expected) in cases {
        let ev = load(file);
        let got = ids(cat.matching(&ev["detail"]));
        assert_eq!(
            got.contains(&id.to_string()),
            expected,
            "{file} / {id}: {got:?}"
        );
    }

    let root_signin = crate::pattern::Pattern::compile(&json!({
        "source": ["aws.signin"],
        "detail-type": ["AWS Console Sign In via CloudTrail"],
        "detail": {"userIdentity": {"type": ["Root"]}, "eventName": ["ConsoleLogin"]}
    }))
    .unwrap();
    assert!(root_signin.matches(&load("signin-root-success-no-mfa.json")));
    assert!(!root_signin.matches(&load("signin-iam-user-no-mfa.json")));
    let log_files = crate::pattern::Pattern::compile(&json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"object": {"key": [{"wildcard": "*/CloudTrail/*.json.gz"}]}}
    }))
    .unwrap();
    assert!(log_files.matches(&load("s3-object-created-log-file.json")));
    assert!(!log_files.matches(&load("s3-object-created-digest-file.json")));
    assert!(!log_files.matches(&load("s3-object-created-unrelated.json")));
}

/// Built-in detections that are about any event (error codes, any use of root), so they
/// cannot name exact eventName values. Every other detection must.
const ANY_EVENT_DETECTIONS: &[&str] = &[
    "cis-4.1-unauthorized-api-calls",
    "cis-4.3-root-usage",
    "access-denied-burst",
    "vpc-endpoint-access-denied",
    "vpc-endpoint-used-by-external-account",
];

/// The catalog's quality bar: each built-in detection has its family, a runbook, at least
/// one ATT&CK technique the table in `mitre.rs` knows, positive and negative examples, and
/// exact eventName values (the index needs them) unless it is about any event. Every
/// offending detection is listed with everything it lacks.
#[test]
fn every_builtin_detection_meets_the_catalog_bar() {
    let cat = builtin();
    let families: Vec<&str> = BUILTIN_FILES.iter().map(|(f, _)| *f).collect();
    let mut problems = Vec::new();
    for d in cat.detections() {
        let mut missing: Vec<String> = Vec::new();
        if !families.contains(&d.family.as_str()) {
            missing.push(format!("family {:?} is not a built-in family", d.family));
        }
        if d.runbook.is_none() {
            missing.push("no runbook".into());
        }
        if d.references.mitre_attack.is_empty() {
            missing.push("no MITRE ATT&CK technique".into());
        }
        for t in &d.references.mitre_attack {
            if mitre::technique(t).is_none() {
                missing.push(format!(
                    "technique {t} is not in the ATT&CK table (shared/src/detect/mitre.rs)"
                ));
            }
        }
        if d.examples.matching.is_empty() {
            missing.push("no match example".into());
        }
        if d.examples.no_match.is_empty() {
            missing.push("no no_match example".into());
        }
        let names = d.pattern.required_strings(&["eventName"]);
        let any_event = ANY_EVENT_DETECTIONS.contains(&d.id.as_str());
        match (names, any_event) {
            (None, false) => missing.push(
                "names no exact eventName values (add them, or the id to ANY_EVENT_DETECTIONS if it is about any event)"
                    .into(),
            ),
            (Some(_), true) => missing.push(
                "names exact eventName values but is in ANY_EVENT_DETECTIONS (take it out)".into(),
            ),
            _ => {}
        }
        if !missing.is_empty() {
            problems.push(format!("{} ({}): {}", d.id, d.family, missing.join("; ")));
        }
    }
    for id in ANY_EVENT_DETECTIONS {
        if cat.get(id).is_none() {
            problems.push(format!(
                "ANY_EVENT_DETECTIONS names {id}, which is no built-in detection"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} built-in detection problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The README's table of detections (between the `detections:start`/`end` markers, written
/// by `scripts/detections-table.sh` from `trailwarden detections --markdown`) lists every
/// built-in detection, and no detection that is gone.
#[test]
fn readme_lists_every_builtin_detection() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md next to the workspace");
    let heading = readme
        .find("\n## Detections\n")
        .expect("README has a Detections section");
    let start = readme
        .find("<!-- detections:start -->")
        .expect("README has <!-- detections:start -->");
    let end = readme
        .find("<!-- detections:end -->")
        .expect("README has <!-- detections:end -->");
    assert!(
        heading < start && start < end,
        "the markers sit in the Detections section, start before end"
    );
    let next_section = readme[heading + 1..]
        .find("\n## ")
        .map(|i| i + heading + 1)
        .unwrap_or(readme.len());
    assert!(
        end < next_section,
        "the table ends inside the Detections section"
    );
    let listed: std::collections::BTreeSet<String> = readme[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(id, _)| id.to_string())
        .collect();
    let cat = builtin();
    let ids: std::collections::BTreeSet<String> =
        cat.detections().iter().map(|d| d.id.clone()).collect();
    let missing: Vec<&String> = ids.difference(&listed).collect();
    let gone: Vec<&String> = listed.difference(&ids).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "README.md's detection table is out of date (regenerate it with scripts/detections-table.sh): \
         {} not listed {missing:?}; {} listed but not built in {gone:?}",
        missing.len(),
        gone.len()
    );
}

#[test]
fn tactics_come_from_the_techniques_each_once_in_matrix_order() {
    use mitre::Tactic::*;
    let cat = Catalog::from_json(
        &json!({"detections": [{
            "id": "custom-key-for-other-user",
            "title": "Access key created for another user",
            "severity": "high",
            "references": {"mitre_attack": ["T1098.001", "T1078.004", "T1999", "T1098"]},
            "pattern": {"eventSource": ["iam.amazonaws.com"], "eventName": ["CreateAccessKey"]}
        }]})
        .to_string(),
        "mine.json",
    )
    .unwrap();
    assert_eq!(
        cat.detections()[0].tactics(),
        vec![
            InitialAccess,
            Persistence,
            PrivilegeEscalation,
            DefenseEvasion
        ],
        "T1098.001 (persistence, privilege escalation) and T1078.004 (four tactics); T1999 is unknown"
    );
    let builtin = builtin();
    let tampering = builtin.get("cloudtrail-tampering").unwrap();
    assert_eq!(tampering.tactics(), vec![DefenseEvasion]);
}

#[test]
fn families_keep_the_descriptions_their_files_give() {
    let cat = builtin();
    for (family, _) in BUILTIN_FILES {
        let d = cat.family_description(family).unwrap_or_default();
        assert!(
            !d.trim().is_empty(),
            "built-in family {family} has a description"
        );
    }
    let mine =
        json!({"family": "team-a", "description": "Team A's own detections.", "detections": [{
            "id": "team-a-kms-key-deleted",
            "title": "KMS key deletion scheduled",
            "severity": "high",
            "pattern": {"eventSource": ["kms.amazonaws.com"], "eventName": ["ScheduleKeyDeletion"]}
        }]})
        .to_string();
    let cat = cat
        .with_overrides(&mine, "team-a.json")
        .unwrap()
        .without_families(&["discovery"], "test")
        .unwrap();
    assert_eq!(
        cat.family_description("team-a"),
        Some("Team A's own detections.")
    );
    assert!(cat.family_description("identity").is_some());
    assert_eq!(cat.family_description("nonexistent"), None);
    let err = Catalog::from_json(r#"{"description": 5, "detections": []}"#, "x.json").unwrap_err();
    assert!(
        err.message.contains("\"description\" must be a string"),
        "{err}"
    );
}

/// The index looks a record's `eventName` and `eventSource` up as written when they are plain
/// ASCII. Written with escapes they are decoded first, so a record names its event however it
/// spells it; a name that is not valid UTF-8 makes every detection a candidate, as any name
/// that cannot be read does.
#[test]
fn event_names_written_with_escapes_choose_the_same_detections() {
    let cat = Catalog::builtin(BuiltinOptions {
        exclude_federated_signin: false,
    });
    let escape_first = |text: &str, key: &str| {
        let at = text.find(&format!("\"{key}\":\"")).unwrap() + key.len() + 4;
        let c = text[at..].chars().next().unwrap();
        format!("{}\\u{:04x}{}", &text[..at], c as u32, &text[at + 1..])
    };
    let mut checked = 0;
    for d in cat.detections().iter().filter(|d| d.threshold.is_none()) {
        for rec in &d.examples.matching {
            let (Some(_), Some(_)) = (rec.get("eventName"), rec.get("eventSource")) else {
                continue;
            };
            let plain = log(std::slice::from_ref(rec));
            let text = String::from_utf8(plain.clone()).unwrap();
            let escaped = escape_first(&escape_first(&text, "eventName"), "eventSource");
            assert!(escaped.contains("\"eventName\":\"\\u00"), "{escaped}");
            let found = |bytes: Vec<u8>| {
                let mut v: Vec<String> = scan(&cat, bytes)
                    .findings
                    .into_iter()
                    .map(|f| f.detection)
                    .collect();
                v.sort();
                v
            };
            let want = found(plain);
            assert!(want.contains(&d.id), "{}: {rec}", d.id);
            assert_eq!(found(escaped.into_bytes()), want, "{}: {rec}", d.id);
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");

    // Not ASCII: looked up decoded (no detection names such an event).
    let user = |name: &[u8]| {
        let mut text =
            br#"{"Records": [{"eventSource": "iam.amazonaws.com", "eventName": ""#.to_vec();
        text.extend_from_slice(name);
        text.extend_from_slice(
            br#"", "eventID": "e1", "userIdentity": {"type": "IAMUser", "userName": "a"}}]}"#,
        );
        scan(&cat, text)
    };
    let r = user("CreateUser".as_bytes());
    assert!(finding(&r, "iam-user-created").is_some());
    let r = user("CreateUs\u{e9}r".as_bytes());
    assert!(finding(&r, "iam-user-created").is_none());
    assert_eq!(r.unparsed_records, 0);
    // Not UTF-8: every detection is a candidate, and those that read the name report the
    // record as unreadable rather than passing over it.
    let r = user(b"CreateUser\xff");
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.unparsed_records, 1, "{:?}", r.unparsed_samples);
    assert!(
        r.unparsed_samples[0].message.contains("eventName"),
        "{:?}",
        r.unparsed_samples
    );
}

/// Top-level fields whose names share their first eight bytes and their length (one
/// signature) are still told apart: each detection reads its own field.
#[test]
fn fields_with_one_signature_are_told_apart_by_name() {
    let c = Catalog::from_json(
        r#"[{"id": "a", "title": "A", "severity": "low",
             "pattern": {"eventName": ["X"], "customFieldA": [{"numeric": [">", 5]}]}},
            {"id": "b", "title": "B", "severity": "low",
             "pattern": {"eventName": ["X"], "customFieldB": [{"numeric": [">", 5]}]}}]"#,
        "f.json",
    )
    .unwrap();
    // Numbers: no literal pre-check drops either detection before its field is read.
    let rec = |a: u32, b: u32| json!({"eventName": "X", "customFieldA": a, "customFieldB": b});
    for (a, b, want) in [
        (10, 1, vec!["a"]),
        (1, 10, vec!["b"]),
        (10, 10, vec!["a", "b"]),
        (1, 1, vec![]),
    ] {
        let r = scan(&c, log(&[rec(a, b)]));
        let mut got: Vec<String> = r.findings.iter().map(|f| f.detection.clone()).collect();
        got.sort();
        assert_eq!(got, want, "customFieldA={a} customFieldB={b}");
        assert_eq!(ids(c.matching(&rec(a, b))), want);
    }
}
