//! Tests of the pattern engine (EventBridge semantics).

use super::*;
use serde_json::json;

fn pat(v: Value) -> Pattern {
    Pattern::compile(&v).unwrap_or_else(|e| panic!("{e}"))
}

fn m(p: &Pattern, ev: Value) -> bool {
    p.matches(&ev)
}

#[test]
fn exact_values_of_every_type() {
    let p = pat(json!({"a": ["x", 5, true, null]}));
    assert!(m(&p, json!({"a": "x"})));
    assert!(m(&p, json!({"a": 5})));
    assert!(m(&p, json!({"a": 5.0})));
    assert!(m(&p, json!({"a": true})));
    assert!(m(&p, json!({"a": null})));
    assert!(!m(&p, json!({"a": "5"})));
    assert!(!m(&p, json!({"a": false})));
    assert!(!m(&p, json!({"a": ""})));
    assert!(!m(&p, json!({})));
    let empty = pat(json!({"a": [""]}));
    assert!(m(&empty, json!({"a": ""})));
    assert!(!m(&empty, json!({"a": null})));
}

#[test]
fn all_fields_must_match_and_nested_objects_descend() {
    let p = pat(
        json!({"source": ["aws.iam"], "detail": {"eventName": ["CreateUser"],
        "userIdentity": {"type": ["IAMUser"]}}}),
    );
    let ev = json!({"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventName": "CreateUser", "userIdentity": {"type": "IAMUser"}}});
    assert!(p.matches(&ev));
    let mut other = ev.clone();
    other["detail"]["userIdentity"]["type"] = json!("Root");
    assert!(!p.matches(&other));
    assert!(!p.matches(&json!({"source": "aws.iam"})));
}

#[test]
fn event_arrays_match_when_any_element_matches() {
    let p = pat(json!({"resources": ["arn:b"]}));
    assert!(m(&p, json!({"resources": ["arn:a", "arn:b"]})));
    assert!(!m(&p, json!({"resources": ["arn:a"]})));
    assert!(!m(&p, json!({"resources": []})));
    // Arrays of objects: fields must come from the same element.
    let p = pat(json!({"employees": {"first": ["Anna"], "last": ["Smith"]}}));
    let ev = json!({"employees": [{"first": "John", "last": "Smith"}, {"first": "Anna", "last": "Jones"}]});
    assert!(!p.matches(&ev));
    let ev = json!({"employees": [[{"first": "Anna", "last": "Smith"}]]});
    assert!(p.matches(&ev));
}

#[test]
fn prefix_suffix_and_ignore_case_variants() {
    let p = pat(json!({"a": [{"prefix": "Access"}]}));
    assert!(m(&p, json!({"a": "AccessDenied"})));
    assert!(!m(&p, json!({"a": "accessdenied"})));
    assert!(!m(&p, json!({"a": 5})));
    let p = pat(json!({"a": [{"prefix": {"equals-ignore-case": "ACCESS"}}]}));
    assert!(m(&p, json!({"a": "accessDenied"})));
    let p = pat(json!({"a": [{"suffix": ".png"}]}));
    assert!(m(&p, json!({"a": "x.png"})));
    assert!(!m(&p, json!({"a": "x.PNG"})));
    let p = pat(json!({"a": [{"suffix": {"equals-ignore-case": ".png"}}]}));
    assert!(m(&p, json!({"a": "x.PNG"})));
    let p = pat(json!({"a": [{"equals-ignore-case": "Alice"}]}));
    assert!(m(&p, json!({"a": "aLICE"})));
    assert!(m(&p, json!({"a": "ALICE"})));
    assert!(!m(&p, json!({"a": "alicia"})));
    let p = pat(json!({"a": [{"equals-ignore-case": "ÄRGER"}]}));
    assert!(m(&p, json!({"a": "ärger"})));
}

#[test]
fn wildcards_with_escapes() {
    let p = pat(json!({"a": [{"wildcard": "*UnauthorizedOperation"}]}));
    assert!(m(&p, json!({"a": "Client.UnauthorizedOperation"})));
    assert!(m(&p, json!({"a": "UnauthorizedOperation"})));
    assert!(!m(&p, json!({"a": "UnauthorizedOperationX"})));
    let p = pat(json!({"a": [{"wildcard": "arn:aws:iam::*:role/*-admin"}]}));
    assert!(m(&p, json!({"a": "arn:aws:iam::1:role/ops-admin"})));
    assert!(!m(&p, json!({"a": "arn:aws:iam::1:user/ops-admin"})));
    let p = pat(json!({"a": [{"wildcard": "a*b*a"}]}));
    assert!(m(&p, json!({"a": "aba"})));
    assert!(!m(&p, json!({"a": "ab"})));
    // Parts between stars are found in order, each after the end of the one before.
    let p = pat(json!({"a": [{"wildcard": "*ab*b*"}]}));
    assert!(!m(&p, json!({"a": "xab"})));
    assert!(m(&p, json!({"a": "xabb"})));
    assert!(m(&p, json!({"a": "abéb"})));
    let p = pat(json!({"a": [{"wildcard": "lit\\*star\\\\"}]}));
    assert!(m(&p, json!({"a": "lit*star\\"})));
    assert!(!m(&p, json!({"a": "litXstar\\"})));
    let e = Pattern::compile(&json!({"a": [{"wildcard": "a**b"}]})).unwrap_err();
    assert!(e.to_string().contains("consecutive"), "{e}");
    let e = Pattern::compile(&json!({"a": [{"wildcard": "a\\b"}]})).unwrap_err();
    assert!(e.to_string().contains("backslash"), "{e}");
}

#[test]
fn anything_but_forms() {
    let p = pat(json!({"a": [{"anything-but": "x"}]}));
    assert!(m(&p, json!({"a": "y"})));
    assert!(!m(&p, json!({"a": "x"})));
    assert!(!m(&p, json!({})), "anything-but needs the field");
    let p = pat(json!({"a": [{"anything-but": [100, 200]}]}));
    assert!(m(&p, json!({"a": 300})));
    assert!(!m(&p, json!({"a": 200.0})));
    let p = pat(json!({"a": [{"anything-but": {"prefix": ["init", "stop"]}}]}));
    assert!(m(&p, json!({"a": "running"})));
    assert!(!m(&p, json!({"a": "stopping"})));
    assert!(!m(&p, json!({"a": 5})));
    let p = pat(json!({"a": [{"anything-but": {"suffix": ".tmp"}}]}));
    assert!(!m(&p, json!({"a": "x.tmp"})));
    assert!(m(&p, json!({"a": "x.txt"})));
    let p = pat(json!({"a": [{"anything-but": {"wildcard": ["*.tmp", "cache/*"]}}]}));
    assert!(!m(&p, json!({"a": "cache/x"})));
    assert!(m(&p, json!({"a": "data/x"})));
    let p = pat(json!({"a": [{"anything-but": {"equals-ignore-case": ["Yes"]}}]}));
    assert!(!m(&p, json!({"a": "YES"})));
    assert!(m(&p, json!({"a": "No"})));
    let e = Pattern::compile(&json!({"a": [{"anything-but": ["x", 1]}]})).unwrap_err();
    assert!(
        e.to_string().contains("only strings or only numbers"),
        "{e}"
    );
}

#[test]
fn exists_looks_at_leaves() {
    let yes = pat(json!({"errorCode": [{"exists": true}]}));
    let no = pat(json!({"errorCode": [{"exists": false}]}));
    assert!(m(&yes, json!({"errorCode": "AccessDenied"})));
    assert!(!m(&no, json!({"errorCode": "AccessDenied"})));
    assert!(!m(&yes, json!({})));
    assert!(m(&no, json!({})));
    assert!(m(&yes, json!({"errorCode": null})));
    // An object is not a leaf; an empty array has no leaves.
    assert!(m(&no, json!({"errorCode": {"x": 1}})));
    assert!(m(&no, json!({"errorCode": []})));
    let nested = pat(json!({"requestParameters": {"userName": [{"exists": false}]}}));
    assert!(m(&nested, json!({"requestParameters": null})));
    assert!(m(&nested, json!({})));
    assert!(!m(
        &nested,
        json!({"requestParameters": {"userName": "bob"}})
    ));
}

#[test]
fn numeric_ranges() {
    let p = pat(json!({"n": [{"numeric": [">", 0, "<=", 5]}]}));
    assert!(m(&p, json!({"n": 5})));
    assert!(m(&p, json!({"n": 0.5})));
    assert!(!m(&p, json!({"n": 0})));
    assert!(!m(&p, json!({"n": 5.01})));
    assert!(!m(&p, json!({"n": "3"})));
    let p = pat(json!({"n": [{"numeric": ["=", 3.018e2]}]}));
    assert!(m(&p, json!({"n": 301.8})));
    for bad in [
        json!(["=", 1, ">", 0]),
        json!([">", 5, "<", 1]),
        json!([">", 1, ">", 2]),
        json!(["~", 1]),
        json!([">"]),
        json!([">", "1"]),
    ] {
        assert!(
            Pattern::compile(&json!({"n": [{"numeric": bad}]})).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn cidr_v4_v6_and_padded_octets() {
    let p = pat(json!({"ip": [{"cidr": "10.0.0.0/8"}, {"cidr": "2001:db8::/32"}]}));
    assert!(m(&p, json!({"ip": "10.1.2.3"})));
    assert!(m(&p, json!({"ip": "010.001.002.003"})));
    assert!(m(&p, json!({"ip": "2001:db8::1"})));
    assert!(!m(&p, json!({"ip": "11.0.0.1"})));
    assert!(!m(&p, json!({"ip": "iam.amazonaws.com"})));
    assert!(!m(&p, json!({"ip": "AWS Internal"})));
    assert!(Pattern::compile(&json!({"ip": [{"cidr": "10.0.0.0/33"}]})).is_err());
}

#[test]
fn or_branches() {
    let p = pat(json!({"source": ["aws.cloudwatch"], "$or": [
        {"metricName": ["CPUUtilization"]},
        {"namespace": ["AWS/EC2"], "$or": [{"a": [1]}, {"b": [2]}]}
    ]}));
    assert!(m(
        &p,
        json!({"source": "aws.cloudwatch", "metricName": "CPUUtilization"})
    ));
    assert!(m(
        &p,
        json!({"source": "aws.cloudwatch", "namespace": "AWS/EC2", "b": 2})
    ));
    assert!(!m(
        &p,
        json!({"source": "aws.cloudwatch", "namespace": "AWS/EC2"})
    ));
    assert!(!m(
        &p,
        json!({"source": "aws.ec2", "metricName": "CPUUtilization"})
    ));
    let e = Pattern::compile(&json!({"$or": [{"a": ["x"]}]})).unwrap_err();
    assert!(e.to_string().contains("at least two"), "{e}");
}

#[test]
fn compile_errors_name_the_path_and_the_problem() {
    let cases = [
        (
            json!({"detail": {"eventName": "CreateUser"}}),
            "detail.eventName",
            "expected an array",
        ),
        (
            json!({"detail": {"eventName": ["a", {"prefx": "b"}]}}),
            "detail.eventName[1]",
            "unknown operator \"prefx\"",
        ),
        (json!({"a": []}), "a", "empty array"),
        (
            json!({"a": [{"prefix": "x", "suffix": "y"}]}),
            "a[0]",
            "exactly one operator",
        ),
        (
            json!({"a": [{"exists": "yes"}]}),
            "a[0].exists",
            "true or false",
        ),
        (json!({"a": [["x"]]}), "a[0]", "nested arrays"),
        (json!({"a": {"prefix": "x"}}), "a", "inside an array"),
        (
            json!({"$or": [{"a": ["x"]}, 5]}),
            "$or[1]",
            "object pattern",
        ),
        (json!({"a": [{"cidr": "nope"}]}), "a[0].cidr", "not a CIDR"),
    ];
    for (p, path, what) in cases {
        let e = Pattern::compile(&p).unwrap_err();
        assert_eq!(e.path, path, "{p}: {e}");
        assert!(e.message.contains(what), "{p}: {e}");
        assert!(e.to_string().starts_with(&format!("at {path}: ")));
    }
    assert!(Pattern::compile(&json!({})).is_err());
    assert!(Pattern::compile(&json!(["x"])).is_err());
    assert!(Pattern::parse("{")
        .unwrap_err()
        .to_string()
        .contains("not valid JSON"));
}

#[test]
fn fields_and_index_keys() {
    let p = pat(json!({"eventSource": ["iam.amazonaws.com"],
        "eventName": ["CreateUser", "DeleteUser"],
        "userIdentity": {"type": ["Root"]},
        "$or": [{"errorCode": [{"exists": false}]}, {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}]}]}));
    assert_eq!(
        p.field_paths(),
        vec![
            "errorCode",
            "eventName",
            "eventSource",
            "sourceIPAddress",
            "userIdentity.type"
        ]
    );
    let names: Vec<String> = p
        .required_strings(&["eventName"])
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(names, vec!["CreateUser", "DeleteUser"]);
    assert_eq!(
        p.required_strings(&["userIdentity", "type"]).unwrap().len(),
        1
    );
    assert_eq!(p.required_strings(&["errorCode"]), None);
    assert_eq!(
        p.required_top_level_fields(),
        vec!["eventName", "eventSource", "userIdentity"]
    );

    // Through $or: a union when every branch names values.
    let p = pat(json!({"$or": [{"eventName": ["A"]}, {"eventName": ["B"], "x": [1]}]}));
    assert_eq!(p.required_strings(&["eventName"]).unwrap().len(), 2);
    let p = pat(json!({"$or": [{"eventName": ["A"]}, {"eventName": [{"prefix": "B"}]}]}));
    assert_eq!(p.required_strings(&["eventName"]), None);
    // Envelope paths.
    let p = pat(json!({"source": ["aws.s3"], "detail": {"eventName": ["PutBucketPolicy"]}}));
    assert!(p
        .required_strings(&["detail", "eventName"])
        .unwrap()
        .contains("PutBucketPolicy"));
    assert_eq!(p.required_strings(&["eventName"]), None);
}

#[test]
fn serde_round_trip_and_errors() {
    let p: Pattern = serde_json::from_value(json!({"a": ["x"]})).unwrap();
    assert_eq!(serde_json::to_value(&p).unwrap(), json!({"a": ["x"]}));
    let e = serde_json::from_value::<Pattern>(json!({"a": "x"})).unwrap_err();
    assert!(e.to_string().contains("at a:"), "{e}");
}

#[test]
fn cidr_matches_ipv4_mapped_ipv6_addresses_as_ipv4() {
    let p = pat(json!({"sourceIPAddress": [{"cidr": "203.0.113.0/24"}]}));
    assert!(p.matches(&json!({"sourceIPAddress": "::ffff:203.0.113.7"})));
    assert!(p.matches(&json!({"sourceIPAddress": "203.0.113.7"})));
    assert!(!p.matches(&json!({"sourceIPAddress": " 203.0.113.7"})));
    assert!(!p.matches(&json!({"sourceIPAddress": "::ffff:198.51.100.7"})));
    let mapped = pat(json!({"sourceIPAddress": [{"cidr": "::ffff:203.0.113.0/120"}]}));
    assert!(mapped.matches(&json!({"sourceIPAddress": "203.0.113.9"})));
    assert!(Pattern::compile(&json!({"a": [{"cidr": "203.0.113.7"}]})).is_err());
}

#[test]
fn json_looks_into_a_policy_kept_as_a_string_or_as_an_object() {
    let p = pat(json!({"requestParameters": {"policyDocument": [{"json": {
        "Statement": {"Effect": ["Allow"], "Principal": {"$or": [
            {"AWS": ["*"]}, {"AWS": [{"wildcard": "arn:aws:iam::*"}]}]}}
    }}]}}));
    let string_doc = |doc: &str| json!({"requestParameters": {"policyDocument": doc}});
    // IAM keeps the document as the caller sent it: any whitespace, Statement an object or an
    // array, Principal a string or an object.
    assert!(p.matches(&string_doc(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}]}"#
    )));
    assert!(p.matches(&string_doc(
        "{\n  \"Statement\": {\n    \"Effect\": \"Allow\",\n    \"Principal\": {\"AWS\": \"*\"}\n  }\n}"
    )));
    // Percent-encoded, as some records keep it.
    assert!(p.matches(&string_doc(
        "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22*%22%7D%7D%5D%7D"
    )));
    // A service principal, a Deny, and a string that is not JSON do not match.
    assert!(!p.matches(&string_doc(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#
    )));
    assert!(!p.matches(&string_doc(
        r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"}}]}"#
    )));
    assert!(!p.matches(&string_doc("not a policy")));
    assert!(!p.matches(&json!({"requestParameters": {}})));
    // An object (S3 keeps bucket policies parsed) is matched as it is.
    let obj = json!({"requestParameters": {"policyDocument": {"Statement": [
        {"Effect": "Allow", "Principal": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}}
    ]}}});
    assert!(p.matches(&obj));
}

/// Documents read out of strings are kept a while by their text: reading the same texts again,
/// in any order, with more texts between than are kept and with texts too long to keep, gives
/// the verdicts of a first read.
#[test]
fn a_document_read_again_gives_the_verdict_of_its_first_read() {
    let p = pat(json!({"p": [{"json": {"Statement": {"Principal": {"AWS": ["*"]}}}}]}));
    let open = r#"{"Statement":[{"Principal":{"AWS":"*"}}]}"#.to_string();
    let closed = r#"{"Statement":[{"Principal":{"AWS":"arn:aws:iam::1:root"}}]}"#.to_string();
    let encoded =
        "%7B%22Statement%22%3A%7B%22Principal%22%3A%7B%22AWS%22%3A%22*%22%7D%7D%7D".to_string();
    let broken = r#"{"Statement":[{"Principal":{"AWS":"*"}}]"#.to_string();
    // The length of `open`, another verdict.
    let twin = open.replace("\"*\"", "\"?\"");
    // Longer than a kept document; open, then closed with the same length.
    let filler = " ".repeat(70 * 1024);
    let long_open = format!(r#"{{"Statement":{{"Principal":{{"AWS":"*"}}}}{filler}}}"#);
    let long_closed = format!(r#"{{"Statement":{{"Principal":{{"AWS":"?"}}}}{filler}}}"#);
    let others: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"Statement":{{"Principal":{{"AWS":"arn:aws:iam::{i}:root"}}}}}}"#))
        .collect();
    let want = |doc: &str| *doc == open || *doc == encoded || *doc == long_open;
    let mut order: Vec<&String> = vec![
        &open,
        &twin,
        &closed,
        &encoded,
        &broken,
        &long_open,
        &long_closed,
    ];
    order.extend(&others);
    order.extend([
        &closed,
        &open,
        &long_closed,
        &long_open,
        &broken,
        &encoded,
        &open,
    ]);
    order.extend(others.iter().rev());
    order.extend([&open, &open, &twin, &twin, &open, &closed, &closed]);
    for doc in order {
        assert_eq!(
            p.matches(&json!({"p": doc})),
            want(doc),
            "{}",
            &doc[..doc.len().min(60)]
        );
    }
}

#[test]
fn json_needs_an_object_pattern() {
    let e = Pattern::compile(&json!({"a": [{"json": "x"}]})).unwrap_err();
    assert!(
        e.to_string()
            .contains("\"json\" takes a non-empty object pattern"),
        "{e}"
    );
    let e = Pattern::compile(&json!({"a": [{"json": {"b": [{"prefx": "x"}]}}]})).unwrap_err();
    assert_eq!(e.path, "a[0].json.b[0]");
}

#[test]
fn the_eventbridge_form_leaves_out_json_fields_and_still_matches_a_superset() {
    let p = pat(json!({
        "eventSource": ["iam.amazonaws.com"],
        "eventName": ["UpdateAssumeRolePolicy"],
        "requestParameters": {"policyDocument": [{"json": {"Statement": {"Principal": {"AWS": ["*"]}}}}]},
        "$or": [{"errorCode": [{"exists": false}]}, {"requestParameters": {"x": [{"json": {"a": [1]}}]}}]
    }));
    assert_eq!(
        p.eventbridge().unwrap(),
        json!({"eventSource": ["iam.amazonaws.com"], "eventName": ["UpdateAssumeRolePolicy"]})
    );
    let plain = pat(json!({"eventName": ["A"], "$or": [{"b": ["1"]}, {"c": {"d": ["2"]}}]}));
    assert_eq!(plain.eventbridge().unwrap(), plain.source());
    let only_json = pat(json!({"p": [{"json": {"a": ["1"]}}]}));
    assert_eq!(only_json.eventbridge(), None);
}

#[test]
fn required_nested_paths_are_the_ones_every_match_has() {
    let p = pat(json!({
        "eventName": ["PutObject"],
        "requestParameters": {
            "x-amz-server-side-encryption-customer-algorithm": [{"exists": true}],
            "bucketName": [{"anything-but": "logs"}],
            "acl": [{"exists": false}],
            "tags": {"team": ["red"]}
        },
        "$or": [{"userIdentity": {"type": ["IAMUser"]}}, {"errorCode": ["AccessDenied"]}]
    }));
    let mut got = p.required_nested_paths();
    got.sort();
    let want: Vec<Vec<String>> = [
        vec!["requestParameters", "bucketName"],
        vec!["requestParameters", "tags"],
        vec!["requestParameters", "tags", "team"],
        vec![
            "requestParameters",
            "x-amz-server-side-encryption-customer-algorithm",
        ],
    ]
    .iter()
    .map(|p| p.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(got, want);
}

#[test]
fn required_fragments_are_pieces_every_accepted_value_contains() {
    let p = pat(json!({
        "userAgent": [{"wildcard": "*os/macos*"}, {"prefix": "Kali"}, "exact-agent"],
        "userIdentity": {"arn": [{"wildcard": "arn:aws:sts::*:assumed-role/*/i-*"}]},
        "key": [{"wildcard": "*a*"}],
        "other": [{"anything-but": "x"}],
        "quoted": [{"wildcard": "*say \"hi\"*"}],
        "$or": [{"z": [{"prefix": "abc"}]}, {"y": ["1"]}]
    }));
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        p.required_fragments(&["userAgent"]),
        Some(set(&["Kali", "exact-agent", "os/macos"]))
    );
    assert_eq!(
        p.required_fragments(&["userIdentity", "arn"]),
        Some(set(&[":assumed-role/"]))
    );
    // Too short to be worth a search, not a text matcher, would be escaped, inside `$or`.
    assert_eq!(p.required_fragments(&["key"]), None);
    assert_eq!(p.required_fragments(&["other"]), None);
    assert_eq!(p.required_fragments(&["quoted"]), None);
    assert_eq!(p.required_fragments(&["z"]), None);
}

#[test]
fn distinct_tells_a_caller_acting_on_someone_else_from_one_acting_on_itself() {
    let p = pat(json!({
        "eventName": ["CreateAccessKey"],
        "$distinct": [["userIdentity.userName", "requestParameters.userName"]]
    }));
    let ev = |caller: Option<&str>, target: Value| {
        let mut ui = json!({"type": "IAMUser"});
        if let Some(c) = caller {
            ui["userName"] = json!(c);
        }
        json!({"eventName": "CreateAccessKey", "userIdentity": ui,
            "requestParameters": {"userName": target}})
    };
    assert!(m(&p, ev(Some("alice"), json!("bob"))), "someone else");
    assert!(!m(&p, ev(Some("alice"), json!("alice"))), "itself");
    assert!(
        !m(&p, ev(Some("Alice"), json!("alice"))),
        "IAM names ignore case"
    );
    assert!(
        m(&p, ev(None, json!("alice"))),
        "a role session has no userName"
    );
    assert!(
        m(&p, ev(Some("alice"), json!(null))),
        "a missing target is distinct"
    );
    assert!(
        m(&p, ev(Some("alice"), json!(7))),
        "a non-string is distinct"
    );
    assert!(
        !m(
            &p,
            json!({"eventName": "DeleteUser", "userIdentity": {"userName": "a"},
        "requestParameters": {"userName": "b"}})
        ),
        "the rest of the pattern still applies"
    );
    // Matching field by field (as the scanner does) gives the same verdicts.
    for ev in [
        ev(Some("alice"), json!("bob")),
        ev(Some("alice"), json!("alice")),
    ] {
        let got = p.matches_fields(|k| ev.get(k));
        assert_eq!(got, p.matches(&ev), "{ev}");
    }
    // It reads both paths; EventBridge cannot compare fields, so its form leaves it out.
    assert!(p
        .field_paths()
        .contains(&"userIdentity.userName".to_string()));
    assert!(p
        .field_paths()
        .contains(&"requestParameters.userName".to_string()));
    assert_eq!(
        p.eventbridge().unwrap(),
        json!({"eventName": ["CreateAccessKey"]})
    );
}

#[test]
fn foreign_principal_tells_a_trust_in_your_own_account_from_one_in_another() {
    let p = pat(json!({
        "eventName": ["CreateRole"],
        "$foreign_principal": ["requestParameters.assumeRolePolicyDocument"]
    }));
    let ev = |principal: Value| {
        let doc = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
             "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]});
        json!({"eventName": "CreateRole", "recipientAccountId": "111122223333",
            "requestParameters": {"roleName": "r", "assumeRolePolicyDocument": doc.to_string()}})
    };
    for (principal, foreign, why) in [
        (
            json!({"AWS": "arn:aws:iam::111122223333:root"}),
            false,
            "own root",
        ),
        (json!({"AWS": "111122223333"}), false, "own account id"),
        (
            json!({"AWS": ["arn:aws:iam::111122223333:role/deployer", "111122223333"]}),
            false,
            "own role and id",
        ),
        (
            json!({"AWS": "arn:aws:iam::444455556666:root"}),
            true,
            "another account's root",
        ),
        (
            json!({"AWS": ["arn:aws:iam::111122223333:root", "444455556666"]}),
            true,
            "own and another",
        ),
        (
            json!({"AWS": "arn:aws:sts::444455556666:assumed-role/x/y"}),
            true,
            "another account's session",
        ),
        (json!({"AWS": "*"}), true, "anyone"),
        (json!("*"), true, "anyone, short form"),
        (
            json!({"AWS": "AROAEXAMPLEUNIQUEID1"}),
            true,
            "a unique id it cannot place",
        ),
        (
            json!({"Federated": "arn:aws:iam::111122223333:oidc-provider/x"}),
            false,
            "no AWS principal",
        ),
    ] {
        assert_eq!(m(&p, ev(principal.clone())), foreign, "{why}: {principal}");
        // Matching field by field (as the scanner does) gives the same verdict.
        let e = ev(principal);
        assert_eq!(p.matches_fields(|k| e.get(k)), foreign, "{why}, by fields");
    }
    // A Deny naming another account lets nobody in.
    let deny = json!({"eventName": "CreateRole", "recipientAccountId": "111122223333",
        "requestParameters": {"assumeRolePolicyDocument": {"Statement": [
            {"Effect": "Deny", "Principal": {"AWS": "444455556666"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"}]}}});
    assert!(
        !m(&p, deny),
        "an object document, own account allowed, another denied"
    );
    // Percent-encoded, as some IAM records keep policies.
    let enc = json!({"eventName": "CreateRole", "recipientAccountId": "111122223333",
        "requestParameters": {"assumeRolePolicyDocument":
            "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22444455556666%22%7D%7D%5D%7D"}});
    assert!(m(&p, enc), "percent-encoded document of another account");
    // What it cannot read, it errs towards matching: no own account, no document, no JSON.
    assert!(m(
        &p,
        json!({"eventName": "CreateRole",
        "requestParameters": {"assumeRolePolicyDocument": "{\"Statement\": []}"}})
    ));
    assert!(m(
        &p,
        json!({"eventName": "CreateRole", "recipientAccountId": "111122223333"})
    ));
    assert!(m(
        &p,
        json!({"eventName": "CreateRole", "recipientAccountId": "111122223333",
        "requestParameters": {"assumeRolePolicyDocument": "not json"}})
    ));
    // It reads the document and the own account; EventBridge's form leaves it out.
    let paths = p.field_paths();
    assert!(paths.contains(&"requestParameters.assumeRolePolicyDocument".to_string()));
    assert!(paths.contains(&"recipientAccountId".to_string()));
    assert_eq!(
        p.eventbridge().unwrap(),
        json!({"eventName": ["CreateRole"]})
    );
    for (bad, want) in [
        (
            json!({"eventName": ["X"], "$foreign_principal": "a.b"}),
            "takes an array",
        ),
        (
            json!({"eventName": ["X"], "$foreign_principal": []}),
            "takes an array",
        ),
        (
            json!({"eventName": ["X"], "$foreign_principal": ["a..b"]}),
            "not a dotted field path",
        ),
    ] {
        let e = Pattern::compile(&bad).unwrap_err().to_string();
        assert!(e.contains(want), "{bad}: {e}");
    }
}

#[test]
fn distinct_errors_name_what_is_wrong() {
    for (bad, want) in [
        (
            json!({"eventName": ["X"], "$distinct": "a.b"}),
            "takes an array of pairs",
        ),
        (json!({"eventName": ["X"], "$distinct": []}), "is empty"),
        (
            json!({"eventName": ["X"], "$distinct": [["a.b"]]}),
            "expected a pair",
        ),
        (
            json!({"eventName": ["X"], "$distinct": [["a..b", "c"]]}),
            "not a dotted field path",
        ),
        (
            json!({"eventName": ["X"], "$distinct": [["a.b", "a.b"]]}),
            "with itself",
        ),
        (
            json!({"$distinct": [["a.b", "c.d"]]}),
            "the pattern is empty",
        ),
    ] {
        let e = Pattern::compile(&bad).unwrap_err().to_string();
        assert!(e.contains(want), "{bad}: {e}");
    }
}

/// A [`RawValue`] copy of a JSON value (the log scanner's borrowed form), to match the same
/// record through the other implementation of [`View`].
fn raw(v: &Value) -> RawValue<'static> {
    match v {
        Value::Null => RawValue::Null,
        Value::Bool(b) => RawValue::Bool(*b),
        Value::Number(n) => RawValue::Num(n.as_f64().unwrap()),
        Value::String(s) => RawValue::Str(s.clone().into()),
        Value::Array(a) => RawValue::Arr(a.iter().map(raw).collect()),
        Value::Object(o) => {
            RawValue::Obj(o.iter().map(|(k, v)| (k.clone().into(), raw(v))).collect())
        }
    }
}

/// The verdict on a record, checked to be the same through whole values and through the
/// scanner's field-by-field [`RawValue`]s.
fn both(p: &Pattern, ev: &Value) -> bool {
    let whole = p.matches(ev);
    let fields: Vec<(String, RawValue<'static>)> = ev
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), raw(v)))
        .collect();
    let by_fields = p.matches_fields(|k| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v));
    assert_eq!(whole, by_fields, "the two match paths disagree on {ev}");
    whole
}

#[test]
fn none_matches_when_no_element_of_the_value_matches() {
    let p = pat(json!({
        "eventName": ["PutEventSelectors"],
        "requestParameters": {"advancedEventSelectors": [{"none": {"fieldSelectors": {
            "field": ["eventCategory"], "equals": ["Management"]}}}]}
    }));
    let ev = |selectors: Value| {
        json!({"eventName": "PutEventSelectors", "requestParameters": {"trailName": "t",
            "advancedEventSelectors": selectors}})
    };
    let management = json!({"name": "m", "fieldSelectors": [
        {"field": "eventCategory", "equals": ["Management"]}]});
    let data = json!({"name": "d", "fieldSelectors": [
        {"field": "eventCategory", "equals": ["Data"]},
        {"field": "resources.type", "equals": ["AWS::S3::Object"]}]});
    for (selectors, want, why) in [
        (json!([data.clone()]), true, "data events only"),
        (json!(data.clone()), true, "one selector as an object"),
        (json!([]), true, "no selector at all"),
        (json!([management.clone()]), false, "management events"),
        (
            json!([data.clone(), management.clone()]),
            false,
            "management and data",
        ),
        (
            json!([{"fieldSelectors": [{"field": "eventCategory", "equals": ["Data", "Management"]}]}]),
            false,
            "management among the values",
        ),
        (
            json!([{"fieldSelectors": [{"field": "readOnly", "equals": ["Management"]}]}]),
            true,
            "the value on another field does not count",
        ),
        (json!(null), false, "null is no array"),
        (json!("x"), false, "nor is a string"),
    ] {
        assert_eq!(both(&p, &ev(selectors.clone())), want, "{why}: {selectors}");
    }
    assert!(
        !both(
            &p,
            &json!({"eventName": "PutEventSelectors", "requestParameters": {"eventSelectors": []}})
        ),
        "an absent field does not match"
    );
    // It reads the whole field, needs it present, and EventBridge's form leaves it out.
    assert!(p
        .field_paths()
        .contains(&"requestParameters.advancedEventSelectors".to_string()));
    assert_eq!(
        p.required_nested_paths(),
        vec![vec![
            "requestParameters".to_string(),
            "advancedEventSelectors".to_string()
        ]]
    );
    assert_eq!(
        p.eventbridge().unwrap(),
        json!({"eventName": ["PutEventSelectors"]})
    );
    // An empty array has no element to match, even for an inner pattern that accepts an
    // object without its fields.
    let absent = pat(json!({"a": [{"none": {"x": [{"exists": false}]}}]}));
    assert!(both(&absent, &json!({"a": []})));
    assert!(!both(&absent, &json!({"a": [{"y": 1}]})));
    assert!(both(&absent, &json!({"a": [{"x": 1}, {"x": 2}]})));
    assert!(!both(&absent, &json!({"a": {}})));
    // Inside a JSON document too.
    let doc = pat(json!({"d": [{"json": {"Statement": [{"none": {"Effect": ["Deny"]}}]}}]}));
    assert!(both(
        &doc,
        &json!({"d": "{\"Statement\": [{\"Effect\": \"Allow\"}]}"})
    ));
    assert!(!both(
        &doc,
        &json!({"d": "{\"Statement\": [{\"Effect\": \"Allow\"}, {\"Effect\": \"Deny\"}]}"})
    ));
    for (bad, want) in [
        (
            json!({"a": [{"none": "x"}]}),
            "\"none\" takes a non-empty object pattern",
        ),
        (
            json!({"a": [{"none": {}}]}),
            "\"none\" takes a non-empty object pattern",
        ),
        (
            json!({"a": [{"none": {"b": [{"prefx": "x"}]}}]}),
            "unknown operator",
        ),
    ] {
        let e = Pattern::compile(&bad).unwrap_err().to_string();
        assert!(e.contains(want), "{bad}: {e}");
    }
}

#[test]
fn foreign_principal_in_a_top_level_or_branch() {
    // A whole-account trust (any account, own included), or any principal of another account.
    let p = pat(json!({
        "eventName": ["UpdateAssumeRolePolicy"],
        "$or": [
            {"requestParameters": {"policyDocument": [{"json": {"Statement": {"Effect": ["Allow"],
                "Principal": {"AWS": [{"suffix": ":root"}]}}}}]}},
            {"requestParameters": {"policyDocument": [{"json": {"Statement": {"Effect": ["Allow"],
                "Principal": {"AWS": [{"anything-but": "*"}]}}}}]},
             "$foreign_principal": ["requestParameters.policyDocument"]}
        ]
    }));
    let ev = |aws: &str| {
        let doc = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": aws},
            "Action": "sts:AssumeRole"}]});
        json!({"eventName": "UpdateAssumeRolePolicy", "recipientAccountId": "111122223333",
            "requestParameters": {"roleName": "r", "policyDocument": doc.to_string()}})
    };
    for (aws, want) in [
        ("arn:aws:iam::111122223333:root", true),
        ("arn:aws:iam::444455556666:root", true),
        ("arn:aws:iam::444455556666:role/backdoor", true),
        ("arn:aws:iam::444455556666:user/someone", true),
        ("arn:aws:iam::111122223333:role/ci-runner", false),
    ] {
        assert_eq!(both(&p, &ev(aws)), want, "{aws}");
    }
    // It reads the document and the own account; EventBridge's form leaves the branch out.
    let paths = p.field_paths();
    assert!(paths.contains(&"requestParameters.policyDocument".to_string()));
    assert!(paths.contains(&"recipientAccountId".to_string()));
    assert_eq!(
        p.eventbridge().unwrap(),
        json!({"eventName": ["UpdateAssumeRolePolicy"]})
    );
    // A branch may hold only the extension; the other branches still count.
    let only = pat(json!({
        "eventName": ["CreateRole"],
        "$or": [{"requestParameters": {"x": ["1"]}},
                {"$foreign_principal": ["requestParameters.assumeRolePolicyDocument"]}]
    }));
    let own = json!({"eventName": "CreateRole", "recipientAccountId": "111122223333",
        "requestParameters": {"assumeRolePolicyDocument":
            "{\"Statement\": {\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"111122223333\"}}}"}});
    assert!(!both(&only, &own));
    let mut own_x = own.clone();
    own_x["requestParameters"]["x"] = json!("1");
    assert!(both(&only, &own_x));
    let mut foreign = own.clone();
    foreign["recipientAccountId"] = json!("999988887777");
    assert!(both(&only, &foreign));
    assert_eq!(
        only.eventbridge().unwrap(),
        json!({"eventName": ["CreateRole"]})
    );
    // Elsewhere the extensions are errors, not fields named "$...".
    for (bad, want) in [
        (
            json!({"a": {"$foreign_principal": ["b.c"], "d": ["1"]}}),
            "allowed only at the pattern's top level or in a branch",
        ),
        (
            json!({"a": {"$or": [{"$foreign_principal": ["b.c"]}, {"d": ["1"]}]}}),
            "allowed only at the pattern's top level or in a branch",
        ),
        (
            json!({"e": ["1"], "$or": [{"$distinct": [["a.b", "c.d"]]}, {"d": ["1"]}]}),
            "allowed only at the pattern's top level",
        ),
        (
            json!({"e": ["1"], "$or": [{"$foreign_principal": "a.b"}, {"d": ["1"]}]}),
            "takes an array",
        ),
    ] {
        let e = Pattern::compile(&bad).unwrap_err().to_string();
        assert!(e.contains(want), "{bad}: {e}");
    }
    let e = Pattern::compile(
        &json!({"e": ["1"], "$or": [{"$foreign_principal": ["a..b"]}, {"d": ["1"]}]}),
    )
    .unwrap_err();
    assert_eq!(e.path, "$or[0].$foreign_principal[0]");
}

/// `covers` on one value, through both match paths.
fn covers(value: Value, target: &str) -> bool {
    let p = pat(json!({"a": [{"covers": target}]}));
    both(&p, &json!({"a": value}))
}

#[test]
fn covers_reads_the_value_as_an_iam_wildcard_over_an_open_target() {
    for (g, want) in [
        ("*", true),
        ("*:*", true),
        ("i*:*", true),
        ("ia?:*", true),
        ("?am:*", true),
        ("*am:*", true),
        ("IAM:*", true),
        ("Iam:*", true),
        ("IAM:**", true),
        ("iam:*", true),
        ("iam:?*", true),
        ("iam:*?", true),
        ("iam:*?*", true),
        ("iam*", true),
        ("i*", true),
        ("??*", true),
        ("?*", true),
        ("**", true),
        ("i*m:*", true),
        ("*:*:*", false),
        ("iam:Put*", false),
        ("iam:?", false),
        ("iam:??*", false),
        ("iam:?*?", false),
        ("iam:", false),
        ("iam", false),
        ("iam:PassRole", false),
        ("s3:*", false),
        ("*:Get*", false),
        ("iam:*x", false),
        ("?", false),
        ("", false),
        ("iamx:*", false),
        ("ia:*", false),
        ("i?m:*x", false),
    ] {
        assert_eq!(covers(json!(g), "iam:*"), want, "{g:?} covers \"iam:*\"");
    }
    // Resources: every ARN of a partition, or of IAM.
    for (g, want) in [
        ("*", true),
        ("arn:*", true),
        ("arn:aws:*", true),
        ("ARN:AWS:*", true),
        ("arn:*:*", true),
        ("arn:aws*", true),
        ("arn:???:*", true),
        ("arn:aws:s3:::my-bucket/*", false),
        ("arn:aws:iam::*:role/*", false),
        ("arn:aws-cn:*", false),
        ("arn:aws:?", false),
    ] {
        assert_eq!(
            covers(json!(g), "arn:aws:*"),
            want,
            "{g:?} covers \"arn:aws:*\""
        );
    }
    assert!(covers(json!("arn:aws:iam::*"), "arn:aws:iam::*"));
    assert!(covers(json!("arn:aws:*"), "arn:aws:iam::*"));
    assert!(!covers(
        json!("arn:aws:iam::123456789012:*"),
        "arn:aws:iam::*"
    ));
    // "*" alone: any non-empty string.
    assert!(covers(json!("?*"), "*"));
    assert!(!covers(json!("?"), "*"));
    assert!(!covers(json!("x*"), "*"));
}

#[test]
fn covers_a_literal_target_when_the_value_matches_it() {
    for (g, want) in [
        ("iam:*", true),
        ("iam:Pass*", true),
        ("IAM:PASSROLE", true),
        ("iam:PassRole", true),
        ("iam:Pass????", true),
        ("*", true),
        ("*Role", true),
        ("iam:P*s*R*e", true),
        ("iam:Pass???", false),
        ("iam:PassRole?", false),
        ("iam:PassRoles", false),
        ("iam:Get*", false),
        ("iam:PassRole*x", false),
        ("", false),
    ] {
        assert_eq!(
            covers(json!(g), "iam:PassRole"),
            want,
            "{g:?} covers \"iam:PassRole\""
        );
    }
    assert!(covers(
        json!("arn:aws:*:*:*:*"),
        "arn:aws:iam::000000000000:role/x"
    ));
    assert!(covers(
        json!("arn:*:iam::*:*"),
        "arn:aws:iam::000000000000:role/x"
    ));
    assert!(!covers(
        json!("arn:aws:iam::123456789012:*"),
        "arn:aws:iam::000000000000:role/x"
    ));
    // Non-ASCII letters fold too.
    assert!(covers(json!("ÄRGER*"), "ärger-x"));
    assert!(!covers(json!("ärger?"), "ärger"));
}

#[test]
fn covers_matches_strings_only_and_any_element_of_an_array() {
    let p = pat(json!({"Action": [{"covers": "iam:*"}]}));
    for (v, want) in [
        (json!(["s3:GetObject", "i*:*"]), true),
        (json!(["s3:GetObject", "iam:Get*"]), false),
        (json!([]), false),
        (json!(5), false),
        (json!(true), false),
        (json!(null), false),
        (json!({"x": "*"}), false),
    ] {
        assert_eq!(both(&p, &json!({"Action": v.clone()})), want, "{v}");
    }
    assert!(!both(&p, &json!({})));
    // Inside a policy document, as the admin-grant detections use it.
    let p = pat(json!({"policyDocument": [{"json": {"Statement": {
        "Effect": ["Allow"],
        "Action": [{"covers": "iam:*"}],
        "Resource": [{"covers": "arn:aws:*"}]
    }}}]}));
    let doc = |action: &str, resource: &str| {
        json!({"policyDocument": format!(
            "{{\"Statement\": [{{\"Effect\": \"Allow\", \"Action\": {action:?}, \"Resource\": {resource:?}}}]}}"
        )})
    };
    assert!(both(&p, &doc("i*:*", "*")));
    assert!(both(&p, &doc("*", "arn:aws:*")));
    assert!(!both(&p, &doc("iam:Get*", "*")));
    assert!(!both(&p, &doc("*", "arn:aws:s3:::my-bucket/*")));
}

#[test]
fn covers_errors_and_what_the_engine_learns_from_it() {
    for (bad, want) in [
        (json!({"a": [{"covers": 5}]}), "takes a string"),
        (json!({"a": [{"covers": ""}]}), "takes a literal string"),
        (json!({"a": [{"covers": "iam:**"}]}), "one trailing '*'"),
        (json!({"a": [{"covers": "i*:*"}]}), "one trailing '*'"),
        (json!({"a": [{"covers": "iam:?"}]}), "one trailing '*'"),
        (
            json!({"a": [{"covers": "x".repeat(128)}]}),
            "longer than 127",
        ),
    ] {
        let e = Pattern::compile(&bad).unwrap_err();
        assert_eq!(e.path, "a[0].covers", "{bad}: {e}");
        assert!(e.message.contains(want), "{bad}: {e}");
    }
    assert!(Pattern::compile(&json!({"a": [{"covers": "x".repeat(127)}]})).is_ok());
    let e = Pattern::compile(&json!({"a": [{"cover": "iam:*"}]})).unwrap_err();
    assert!(
        e.message.contains("covers"),
        "the known operators list it: {e}"
    );
    // No piece of text is required (a value of "*" covers), and EventBridge cannot run it.
    let p = pat(json!({"eventName": ["PutUserPolicy"], "a": [{"covers": "iam:*"}]}));
    assert_eq!(p.required_fragments(&["a"]), None);
    assert_eq!(
        p.eventbridge(),
        Some(json!({"eventName": ["PutUserPolicy"]}))
    );
}

/// The covering test as stated, on a simulation of the pattern G over its own positions (a
/// set of positions, allocated: for checking only).
fn covers_by_positions(g: &str, target: &str) -> bool {
    let g: Vec<char> = g.chars().flat_map(char::to_lowercase).collect();
    let (text, open) = match target.strip_suffix('*') {
        Some(t) => (t, true),
        None => (target, false),
    };
    let close = |mut s: Vec<bool>| {
        for i in 0..g.len() {
            if s[i] && g[i] == '*' {
                s[i + 1] = true;
            }
        }
        s
    };
    let mut s = vec![false; g.len() + 1];
    s[0] = true;
    s = close(s);
    for c in text.chars().flat_map(char::to_lowercase) {
        let mut next = vec![false; g.len() + 1];
        for i in 0..g.len() {
            if s[i] {
                match g[i] {
                    '*' => next[i] = true,
                    '?' => next[i + 1] = true,
                    x if x == c => next[i + 1] = true,
                    _ => {}
                }
            }
        }
        s = close(next);
    }
    if !open {
        return s[g.len()];
    }
    (0..=g.len()).any(|i| {
        let rest = &g[i..];
        s[i] && rest.iter().all(|&c| c == '*' || c == '?')
            && rest.contains(&'*')
            && rest.iter().filter(|&&c| c == '?').count() <= 1
    })
}

#[test]
fn covers_agrees_with_the_stated_test_on_every_short_pattern() {
    let alphabet = ['i', 'A', 'm', ':', '*', '?', 'x'];
    let targets = ["iam:*", "iam:", "ia*", "*", "i", "a:*", "iam:x"];
    let compiled: Vec<_> = targets
        .iter()
        .map(|t| matcher::Covers::compile(t, "").unwrap())
        .collect();
    let mut g = String::new();
    let mut checked = 0;
    for len in 0..=6u32 {
        for mut n in 0..alphabet.len().pow(len) {
            g.clear();
            for _ in 0..len {
                g.push(alphabet[n % alphabet.len()]);
                n /= alphabet.len();
            }
            for (t, c) in targets.iter().zip(&compiled) {
                let got = c.covered_by(&g);
                assert_eq!(got, covers_by_positions(&g, t), "{g:?} covers {t:?}");
                // And what it says is so: every rest (up to three characters) is matched.
                if got && t.ends_with('*') {
                    let prefix = t.trim_end_matches('*');
                    for rest in ["x", "A", ":", "ia", "m:x", "*?"] {
                        let s = format!("{prefix}{rest}");
                        assert!(
                            covers_by_positions(&g, &s),
                            "{g:?} covers {t:?} but not {s:?}"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100_000);
}
