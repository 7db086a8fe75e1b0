//! The scanner's tests: both paths (the record's text and parsed values) agree, pending
//! threshold groups, buffers reused across records, the per-record memo.

use super::aggregate::caller_from_projection;
use super::*;

mod both_paths_tests {
    //! What the log scan derives from a record's raw text must equal what the real-time path
    //! derives from the parsed record: the threshold group it counts into, and the sample an
    //! alert shows.

    use super::*;
    use crate::detect::BuiltinOptions;
    use serde_json::json;

    #[test]
    fn group_keys_from_raw_text_equal_the_real_time_keys() {
        let t = Threshold {
            count: 1,
            window_seconds: 60,
            group_by: [
                "userIdentity.arn",
                "errorCode",
                "requestParameters.n",
                "requestParameters.list.1",
                "requestParameters.obj",
                "requestParameters.missing",
                "requestParameters.esc",
                "sourceIPAddress",
            ]
            .map(str::to_string)
            .to_vec(),
        };
        let trees = group_trees(&t);
        let records = [
            json!({"userIdentity": {"arn": "arn:aws:iam::1:user/a"}, "errorCode": "AccessDenied",
                   "requestParameters": {"n": 3, "list": ["x", "y"], "obj": {"k": [1, null]},
                                         "esc": "a\"b\u{e9}"}, "sourceIPAddress": "1.2.3.4"}),
            json!({"userIdentity": null, "errorCode": null,
                   "requestParameters": {"n": 1.5, "list": [null, null], "obj": null, "esc": ""},
                   "sourceIPAddress": true}),
            json!({"userIdentity": {"arn": ""}, "requestParameters": {"list": [1, {"a": 2}],
                   "obj": [], "n": -7}, "sourceIPAddress": ["a"]}),
            json!({"requestParameters": null}),
            json!({}),
        ];
        for record in &records {
            let text = record.to_string();
            let mut fields = Vec::new();
            let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
            assert_eq!(
                group_key(&raw, &t, &trees, &[], &[]),
                group_key_of(record, &t),
                "{text}"
            );
        }
    }

    #[test]
    fn the_sample_read_from_raw_text_equals_the_real_time_sample() {
        let catalog = Catalog::builtin(BuiltinOptions::default());
        let mut checked = 0;
        for d in catalog.detections() {
            for example in &d.examples.matching {
                let text = example.to_string();
                let mut fields = Vec::new();
                let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
                let record: Record = serde_json::from_value(example.clone()).unwrap();
                let from_raw = MatchInfo::from_raw(raw, None, &[]).expect("nothing excluded");
                assert_eq!(
                    from_raw.sample().context(),
                    EventContext::from_record(&record),
                    "{}: {text}",
                    d.id
                );
                checked += 1;
            }
        }
        assert!(checked > 250, "only {checked} examples");
    }

    /// The caller read without copying strings names the same principal and account as the
    /// parsed record, for every identity type, and falls back to the full parse where a
    /// string holds an escape (which cannot be borrowed) or a field has an unexpected type.
    #[test]
    fn the_caller_read_from_raw_text_equals_the_parsed_caller() {
        let role = "arn:aws:sts::111122223333:assumed-role/Admin/alice";
        let issuer = json!({"sessionIssuer": {"type": "Role",
                             "arn": "arn:aws:iam::111122223333:role/ops/Admin"}});
        let identities = [
            json!({"type": "Root", "accountId": "111122223333", "arn": "arn:aws:iam::111122223333:root"}),
            json!({"type": "IAMUser", "userName": "bob", "arn": "arn:aws:iam::111122223333:user/bob",
                   "accountId": "111122223333"}),
            json!({"type": "AssumedRole", "arn": role, "sessionContext": issuer}),
            json!({"type": "AssumedRole", "arn": role}),
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0a1b/carol"}),
            json!({"type": "IdentityCenterUser", "principalId": "d-1234/carol"}),
            json!({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}),
            json!({"invokedBy": "ec2.amazonaws.com"}),
            json!({"type": "WebIdentityUser", "userName": "sub-1"}),
            json!({"type": "Mystery"}),
            // Escaped strings: "\/" and "\u0041" below survive `to_string` as escapes.
            json!({"type": "IAMUser", "userName": "dave", "arn": "arn:aws:iam::1:user/dave"}),
            // A field of an unexpected type: neither read gets a principal.
            json!({"type": "IAMUser", "userName": 7}),
            json!(null),
        ];
        for (i, identity) in identities.iter().enumerate() {
            let record = json!({"eventTime": "2024-01-01T00:00:00Z", "eventName": "X",
                                "userIdentity": identity});
            let mut text = record.to_string();
            if i == 10 {
                text = text.replace("user/dave", "user\\/d\\u0061ve");
                assert!(text.contains("user\\/d\\u0061ve"), "{text}");
            }
            // The real-time path cannot read such a record at all: its caller is unknown.
            let parsed: Record = serde_json::from_str(&text).unwrap_or_default();
            let mut fields = Vec::new();
            let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
            let m = MatchInfo::from_raw(raw, None, &[]).expect("nothing excluded");
            let want = parsed.principal();
            assert_eq!(m.principal, want.display(), "{text}");
            assert_eq!(m.actor_kind, want.kind(), "{text}");
            assert_eq!(m.account.as_deref(), parsed.account_id(), "{text}");
            if i == 11 {
                assert_eq!(want.kind(), "Unknown");
            }
        }
        // A repeated key fails both reads, as serde's derive does for the parsed record.
        let text = r#"{"userIdentity": {"type": "IAMUser", "userName": "a", "userName": "b"}}"#;
        assert!(serde_json::from_str::<Record>(text).is_err());
        let mut fields = Vec::new();
        let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
        let m = MatchInfo::from_raw(raw, None, &[]).expect("nothing excluded");
        assert_eq!(m.actor_kind, "Unknown");
    }

    /// A threshold group's key read from the fields the scanner projected for the candidates
    /// is the key the real-time path forms, for every threshold detection of the built-in
    /// catalog, on every example and on records whose keyed fields are of other types, repeat
    /// or hold escapes.
    #[test]
    fn group_keys_read_from_the_projection_equal_the_real_time_keys() {
        // Plus detections keyed by fields no pattern reads, below fields patterns do read.
        let extra = r#"{"detections": [
            {"id": "keyed-by-unread", "title": "t", "severity": "low", "description": "d",
             "pattern": {"requestParameters": {"attribute": ["userData"]}},
             "threshold": {"count": 2, "window_seconds": 60,
                           "group_by": ["requestParameters.instanceId", "userIdentity.sessionContext.sessionIssuer.userName", "tlsDetails.tlsVersion"]}},
            {"id": "keyed-by-position", "title": "t", "severity": "low", "description": "d",
             "pattern": {"requestParameters": {"items": [{"exists": true}]}},
             "threshold": {"count": 2, "window_seconds": 60, "group_by": ["requestParameters.items.0"]}}
        ]}"#;
        let catalog = Catalog::builtin(BuiltinOptions::default())
            .with_overrides(extra, "test")
            .unwrap();
        let index = &catalog.index;
        let scanner = Scanner::new(&catalog);
        let mut records: Vec<String> = catalog
            .detections()
            .iter()
            .flat_map(|d| d.examples.matching.iter().chain(&d.examples.no_match))
            .map(Value::to_string)
            .collect();
        let odd = [
            r#"{"userIdentity": {"arn": 7}, "requestParameters": {"bucketName": ["b"]}, "sourceIPAddress": null}"#,
            r#"{"userIdentity": {"arn": "a", "arn": "b"}, "requestParameters": {"bucketName": "x", "bucketName": {"k": 1}}}"#,
            r#"{"userIdentity": {"arn": "arn:aws:iam::1:user\/e\u0073c"}, "requestParameters": {"bucketName": ""}}"#,
            r#"{"userIdentity": [{"arn": "a"}], "requestParameters": [{"bucketName": "b"}], "sourceIPAddress": {"ip": 1}}"#,
            r#"{"userIdentity": {"arn": null, "userName": false}, "requestParameters": null}"#,
            r#"{"userIdentity": "x", "requestParameters": "y", "sourceIPAddress": 1.5}"#,
            r#"{}"#,
            r#"{"requestParameters": {"attribute": "userData", "instanceId": "i-1", "items": ["a", "b"]}, "tlsDetails": {"tlsVersion": "TLSv1.3"},
                "userIdentity": {"sessionContext": {"sessionIssuer": {"userName": "r", "arn": "x"}}}}"#,
            r#"{"requestParameters": {"attribute": "userData", "instanceId": {"id": 1}, "items": [{"a": 1}]}, "tlsDetails": null,
                "userIdentity": {"sessionContext": {"sessionIssuer": {"userName": ["r"]}}}}"#,
        ];
        records.extend(odd.iter().map(|s| s.to_string()));
        let mut compared = 0;
        let mut from_projection = 0;
        for text in &records {
            let mut fields = Vec::new();
            let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            // Every field the catalog reads, projected as the scanner projects it.
            let parsed: Vec<(usize, RawValue<'_>)> = (0..index.keys.len())
                .filter_map(|k| {
                    let bytes = raw.get(&index.keys[k])?;
                    Some((k, index.projections[k].project_raw(bytes).ok()?))
                })
                .collect();
            for (d, state) in catalog.detections().iter().zip(&scanner.states) {
                let (Some(t), DetState::Threshold(st)) = (&d.threshold, state) else {
                    continue;
                };
                let want = group_key_of(&value, t);
                assert_eq!(
                    group_key(&raw, t, &st.trees, &[], &[]),
                    want,
                    "{}: {text}",
                    d.id
                );
                assert_eq!(
                    group_key(&raw, t, &st.trees, &parsed, &st.tops),
                    want,
                    "{}: {text}",
                    d.id
                );
                compared += 1;
                from_projection += st.tops.iter().flatten().count();
            }
        }
        assert!(compared > 1000, "{compared}");
        // The keys of most threshold detections are read from the projection.
        assert!(
            from_projection > compared / 2,
            "{from_projection} of {compared}"
        );
    }

    /// The caller read from the scanner's projection of `userIdentity` (the catalog's paths
    /// plus the caller's) is the caller read from the text, whatever the identity holds:
    /// every identity of the built-in examples and identities that make one read or the
    /// other give up (repeats, other types, escapes, a context that is not an object).
    #[test]
    fn the_caller_read_from_the_projection_equals_the_caller_read_from_text() {
        let catalog = Catalog::builtin(BuiltinOptions::default());
        let index = &catalog.index;
        let key = index
            .caller_key
            .expect("the built-in catalog reads userIdentity");
        let tree = &index.projections[key];
        let mut identities: Vec<String> = catalog
            .detections()
            .iter()
            .flat_map(|d| d.examples.matching.iter().chain(&d.examples.no_match))
            .filter_map(|e| e.get("userIdentity").map(Value::to_string))
            .collect();
        let issuer = r#"{"type": "Role", "arn": "arn:aws:iam::1:role/Admin"}"#;
        identities.extend(
            [
                r#"{"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Admin/a", "sessionContext": {"sessionIssuer": ISSUER}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": ISSUER, "sessionIssuer": ISSUER}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": "x", "arn": "y"}}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": 5}}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": null}}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": null}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": "x"}}"#,
                r#"{"type": "AssumedRole", "sessionContext": [ISSUER]}"#,
                r#"{"type": "AssumedRole", "sessionContext": [{"arn": "x"}]}"#,
                r#"{"type": "AssumedRole", "sessionContext": "x"}"#,
                r#"{"type": "AssumedRole", "sessionContext": null, "arn": "arn:aws:sts::1:assumed-role/R/s"}"#,
                r#"{"type": "IAMUser", "userName": "a", "userName": "a"}"#,
                r#"{"type": "IAMUser", "userName": null, "arn": "arn:aws:iam::1:user/a"}"#,
                r#"{"type": "IAMUser", "userName": ["a"], "arn": "arn:aws:iam::1:user/a"}"#,
                r#"{"type": "IAMUser", "arn": "arn:aws:iam::1:user\/a", "accessKeyId": 7}"#,
                r#"{"typ\u0065": "Root", "accountId": "1", "accessKeyId": 7}"#,
                r#"{"typ\u0065": "Root", "accountId": "1"}"#,
                r#"{"type": "Root", "accountId": "1", "accessKeyId": 7}"#,
                r#"{"type": "Root", "accountId": 1}"#,
                r#"{"type": "Root", "accountId": "1", "unknown": {"deep": [1, {"x": null}]}, "unknown": 2}"#,
                r#"{"type": "AWSService", "invokedBy": "ec2.amazonaws.com", "invokedBy": "x"}"#,
                r#"{}"#,
                r#"null"#,
                r#""Root""#,
                r#"[{"type": "Root"}]"#,
                r#"7"#,
            ]
            .iter()
            .map(|t| t.replace("ISSUER", issuer)),
        );
        let mut projected_reads = 0;
        for identity in &identities {
            let text =
                format!(r#"{{"eventTime": "2024-01-01T00:00:00Z", "userIdentity": {identity}}}"#);
            let mut fields = Vec::new();
            let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
            let projection = tree
                .project_raw(raw.get("userIdentity").unwrap())
                .unwrap_or_else(|e| panic!("{identity}: {e}"));
            let want = MatchInfo::from_raw(raw, None, &[]).expect("nothing excluded");
            let got = MatchInfo::from_raw(raw, Some(&projection), &[]).expect("nothing excluded");
            assert_eq!(got.principal, want.principal, "{identity}");
            assert_eq!(got.actor_kind, want.actor_kind, "{identity}");
            assert_eq!(got.account, want.account, "{identity}");
            if !identity.contains('\\') && caller_from_projection(&projection).is_some() {
                projected_reads += 1;
            }
        }
        // Most identities are read from the projection (the rest go to the parse).
        assert!(
            projected_reads > identities.len() / 2,
            "{projected_reads} of {}",
            identities.len()
        );
    }
}

mod pending_tests {
    //! An aggregate's first record waits as its sample until a second comes or a finding is
    //! made: what it reports must not depend on when the record's values were counted.

    use super::*;
    use crate::detect::BuiltinOptions;
    use serde_json::json;

    fn records() -> Vec<Record> {
        let rec = |v: serde_json::Value| serde_json::from_value::<Record>(v).unwrap();
        vec![
            rec(
                json!({"eventTime": "2024-08-01T12:00:05Z", "eventName": "GetObject",
                "awsRegion": "eu-west-1", "errorCode": "AccessDenied",
                "sourceIPAddress": "198.51.100.7", "eventID": "e1", "recipientAccountId": "111122223333",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
                                 "accountId": "111122223333", "userName": "alice"}}),
            ),
            // Earlier, and missing most fields; an empty error code is not counted.
            rec(json!({"eventTime": "2024-08-01T11:59:00Z", "errorCode": "", "eventID": "e2"})),
            rec(
                json!({"eventTime": "2024-08-01T12:10:00Z", "eventName": "GetObject",
                "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9", "eventID": "e3",
                "userIdentity": {"type": "Root", "arn": "arn:aws:iam::444455556666:root",
                                 "accountId": "444455556666"}}),
            ),
        ]
    }

    /// Every count of `agg` as a finding reports it.
    fn report(agg: &Agg) -> Finding {
        let catalog = Catalog::builtin(BuiltinOptions::default());
        agg.finding(&catalog.detections()[0], None)
    }

    /// An aggregate of `records` with each record counted at once (the first settled
    /// straight away).
    fn eager(records: &[Record], cap: usize) -> Agg {
        let mut a = Agg::with_cap(cap);
        for r in records {
            a.add(&MatchInfo::from_record(r));
            a.settle();
        }
        a
    }

    #[test]
    fn a_pending_first_record_reports_as_if_counted_at_once() {
        let recs = records();
        for cap in [GROUP_COUNTER_CAPACITY, COUNTER_CAPACITY] {
            for n in 1..=recs.len() {
                let mut lazy = Agg::with_cap(cap);
                for r in &recs[..n] {
                    lazy.add(&MatchInfo::from_record(r));
                }
                assert_eq!(lazy.pending.is_some(), n == 1, "{n} records");
                let want = report(&eager(&recs[..n], cap));
                assert_eq!(report(&lazy), want, "{n} records, cap {cap}");
                assert_eq!(want.count, n as u64);
            }
        }
        // What a single record's aggregate counts, spelled out.
        let one = report(&{
            let mut a = Agg::with_cap(GROUP_COUNTER_CAPACITY);
            a.add(&MatchInfo::from_record(&recs[0]));
            a
        });
        assert_eq!(one.first_time.as_deref(), Some("2024-08-01T12:00:05Z"));
        assert_eq!(one.last_time, one.first_time);
        let values = |c: &[Counted]| {
            c.iter()
                .map(|c| (c.value.clone(), c.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(values(&one.regions), [("eu-west-1".to_string(), 1)]);
        assert_eq!(values(&one.accounts), [("111122223333".to_string(), 1)]);
        assert_eq!(values(&one.event_names), [("GetObject".to_string(), 1)]);
        assert_eq!(values(&one.error_codes), [("AccessDenied".to_string(), 1)]);
        assert_eq!(values(&one.source_ips), [("198.51.100.7".to_string(), 1)]);
        assert_eq!(one.principals.len(), 1);
        assert_eq!(one.sample_event_ids, ["e1"]);
        assert_eq!(
            one.sample.as_ref().and_then(|s| s.event_id.as_deref()),
            Some("e1")
        );
    }

    #[test]
    fn merging_pending_aggregates_counts_their_first_records() {
        let recs = records();
        // Each record alone (pending), merged into one: as if one aggregate counted them all.
        let mut merged = Agg::with_cap(COUNTER_CAPACITY);
        for r in &recs {
            let mut one = Agg::with_cap(GROUP_COUNTER_CAPACITY);
            one.add(&MatchInfo::from_record(r));
            assert!(one.pending.is_some());
            merged.merge(&one);
        }
        let mut settled = Agg::with_cap(COUNTER_CAPACITY);
        for r in &recs {
            settled.merge(&eager(std::slice::from_ref(r), GROUP_COUNTER_CAPACITY));
        }
        let got = report(&merged);
        assert_eq!(got, report(&settled));
        assert_eq!(got.count, 3);
        // The earliest record (the second) is the first time and the merged sample.
        assert_eq!(got.first_time.as_deref(), Some("2024-08-01T11:59:00Z"));
        assert_eq!(got.last_time.as_deref(), Some("2024-08-01T12:10:00Z"));
        assert_eq!(
            got.sample.as_ref().and_then(|s| s.event_id.as_deref()),
            Some("e2")
        );
        assert_eq!(got.sample_event_ids, ["e1", "e2", "e3"]);
        // A pending aggregate merged into a pending one.
        let mut a = Agg::with_cap(GROUP_COUNTER_CAPACITY);
        a.add(&MatchInfo::from_record(&recs[0]));
        let mut b = Agg::with_cap(GROUP_COUNTER_CAPACITY);
        b.add(&MatchInfo::from_record(&recs[2]));
        a.merge(&b);
        assert_eq!(
            report(&a),
            report(&eager(
                &[recs[0].clone(), recs[2].clone()],
                GROUP_COUNTER_CAPACITY
            ))
        );
    }
}

mod reuse_tests {
    use super::*;

    /// The buffer of projected fields is emptied and handed to the next record without a new
    /// allocation (the scanner relies on it not to allocate that buffer per evaluated record).
    #[test]
    fn an_emptied_buffer_keeps_its_allocation() {
        let text = String::from("GetObject");
        let mut v: Vec<(usize, RawValue<'_>)> = Vec::with_capacity(16);
        v.push((3, RawValue::Str(std::borrow::Cow::Borrowed(text.as_str()))));
        v.push((4, RawValue::Arr(vec![RawValue::Null])));
        let (ptr, cap) = (v.as_ptr() as usize, v.capacity());
        let kept: Vec<(usize, RawValue<'static>)> = reuse(v);
        assert!(kept.is_empty());
        assert_eq!(
            (kept.as_ptr() as usize, kept.capacity()),
            (ptr, cap),
            "a new buffer was allocated"
        );
    }
}

mod memo_tests {
    use super::*;
    use crate::detect::BuiltinOptions;

    /// What is known of one record is not taken for the next, including when the record
    /// numbers start again after four billion records.
    #[test]
    fn a_record_never_sees_what_was_found_in_another() {
        let cat = Catalog::builtin(BuiltinOptions::default());
        let index = &cat.index;
        let k = index.keys.iter().position(|k| k == "errorCode").unwrap();
        let l = (0..index.literals.len())
            .find(|&l| {
                index.literals[l].key == k
                    && index.literals[l].may_match(br#""AccessDenied""#, false)
            })
            .expect("a literal test on errorCode that AccessDenied passes");
        let texts = [
            r#"{"errorCode":"AccessDenied","eventName":"X"}"#,
            r#"{"eventName":"X"}"#,
        ];
        let mut fields: Vec<Vec<crate::logfile::Field>> = vec![Vec::new(), Vec::new()];
        let [f0, f1] = &mut fields[..] else {
            unreachable!()
        };
        let with = RawRecord::scan(texts[0].as_bytes(), f0).unwrap();
        let without = RawRecord::scan(texts[1].as_bytes(), f1).unwrap();
        for start in [0, u32::MAX - 2] {
            let mut memo = Memo::new(index);
            memo.record = start;
            for (n, raw) in [with, without, with, without, with].iter().enumerate() {
                memo.next_record();
                let has = n % 2 == 0;
                assert_eq!(
                    memo.field(raw, index, k).is_some(),
                    has,
                    "record {n} from {start}"
                );
                // Asked twice: the same answer from what is known.
                assert_eq!(memo.field(raw, index, k).is_some(), has);
                // The literal test is first asked of the third record (the first after the
                // numbers start again, from u32::MAX - 2).
                if n >= 2 {
                    assert_eq!(memo.literal(raw, index, l), has, "record {n} from {start}");
                }
            }
        }
    }
}

#[test]
fn what_a_request_acted_on_tells_shares_and_unnamed_resources_apart() {
    let of = |p: serde_json::Value| resource_of(Some(&p), None);
    let share = |snap: &str, to: &str| {
        of(
            serde_json::json!({"snapshotId": snap, "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [{"userId": to}]}}}),
        )
    };
    // A routine share with the backup account does not stand for a later share of the same
    // snapshot with another account: two incidents.
    assert_eq!(
        share("snap-0dr1", "111100001111"),
        "snap-0dr1 to 111100001111"
    );
    assert_ne!(
        share("snap-0dr1", "111100001111"),
        share("snap-0dr1", "999988887777")
    );
    assert_ne!(
        share("snap-0dr1", "111100001111"),
        share("snap-0prod", "111100001111")
    );
    // Access taken away names no grantee.
    assert_eq!(
        of(serde_json::json!({"snapshotId": "snap-1",
            "createVolumePermission": {"remove": {"items": [{"userId": "111100001111"}]}}})),
        "snap-1"
    );
    // RDS and AMIs the same way.
    assert_eq!(
        of(
            serde_json::json!({"dBSnapshotIdentifier": "prod", "attributeName": "restore",
            "valuesToAdd": ["all"]})
        ),
        "prod to all"
    );
    assert_eq!(
        of(serde_json::json!({"imageId": "ami-1",
            "launchPermission": {"add": {"items": [{"group": "all"}]}}})),
        "ami-1 to all"
    );
    assert_eq!(
        of(
            serde_json::json!({"keyId": "k-1", "operations": ["Decrypt"],
            "granteePrincipal": "arn:aws:iam::999988887777:root"})
        ),
        "k-1 to arn:aws:iam::999988887777:root"
    );
    // No well-known name: the parameters themselves, never one empty resource for all.
    let a = of(serde_json::json!({"vpcEndpointId": "vpce-1", "policyDocument": "{}"}));
    let b = of(serde_json::json!({"vpcEndpointId": "vpce-2", "policyDocument": "{}"}));
    assert!(a.starts_with("request "), "{a}");
    assert_ne!(a, b);
    assert_eq!(
        a,
        of(serde_json::json!({"policyDocument": "{}", "vpcEndpointId": "vpce-1"}))
    );
    assert_eq!(resource_of(None, None), "");
    assert_eq!(of(serde_json::json!({})), "");
    // An ARN in `resources` comes first.
    let resources = serde_json::json!([{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}]);
    assert_eq!(
        resource_of(
            Some(&serde_json::json!({"bucketName": "b"})),
            Some(&resources)
        ),
        "arn:aws:s3:::b"
    );
}
