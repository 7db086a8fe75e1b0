//! Against moto (S3, SNS, SQS), with `cloudtrail:LookupEvents` answered by the testkit's proxy
//! (moto does not implement it): the Lambda handler reads Insights files, looks up the API's
//! events, runs the catalog over them and publishes alerts a subscriber can read back.

use insights::Insights;
use serde_json::{json, Value};
use std::time::Duration;
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{alerting_service, fixture, invoke, Moto};

const BUCKET: &str = "trailwarden-trail-123456789012";

/// One `LookupEvents` event: the summary fields and the full record as `CloudTrailEvent`.
fn event(id: &str, user: &str, caller: &str, error: Option<&str>) -> Value {
    let mut record = json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "principalId": format!("AROA5EXAMPLEROLE:{caller}"),
            "arn": format!("arn:aws:sts::123456789012:assumed-role/{caller}/build-4711"),
            "accountId": "123456789012", "accessKeyId": "ASIA5EXAMPLEKEY7Q2Z",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROA5EXAMPLEROLE",
                "arn": format!("arn:aws:iam::123456789012:role/{caller}"), "accountId": "123456789012",
                "userName": caller},
                "attributes": {"creationDate": "2024-05-14T09:58:02Z", "mfaAuthenticated": "false"}}},
        "eventTime": "2024-05-14T10:05:41Z", "eventSource": "iam.amazonaws.com",
        "eventName": "CreateAccessKey", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.20",
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/5.10.214 exe/x86_64.amzn.2",
        "requestParameters": {"userName": user},
        "responseElements": {"accessKey": {"userName": user, "accessKeyId": "AKIA5EXAMPLENEWKEY01",
            "status": "Active", "createDate": "May 14, 2024 10:05:41 AM"}},
        "requestID": format!("req-{id}"), "eventID": id, "readOnly": false,
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": "123456789012",
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "iam.amazonaws.com"}
    });
    if let Some(code) = error {
        record["errorCode"] = json!(code);
        record["errorMessage"] = json!(format!(
            "User: arn:aws:sts::123456789012:assumed-role/{caller}/build-4711 is not authorized to perform: iam:CreateAccessKey on resource: user {user} because no identity-based policy allows the iam:CreateAccessKey action"
        ));
        record["responseElements"] = Value::Null;
    }
    json!({
        "EventId": id, "EventName": "CreateAccessKey", "ReadOnly": "false",
        "AccessKeyId": "ASIA5EXAMPLEKEY7Q2Z", "EventTime": 1715681141.0,
        "EventSource": "iam.amazonaws.com", "Username": "build-4711",
        "Resources": [{"ResourceType": "AWS::IAM::AccessKey", "ResourceName": "AKIA5EXAMPLENEWKEY01"}],
        "CloudTrailEvent": record.to_string()
    })
}

/// `LookupEvents`' answer: two keys made for other users, and one refused.
fn lookup_answer() -> Fault {
    let body = json!({"Events": [
        event("0f1e2d3c-0001-4a5b-8c7d-9e0f1a2b3c4d", "svc-payments", "ci-deploy", None),
        event("0f1e2d3c-0002-4a5b-8c7d-9e0f1a2b3c4d", "svc-ledger", "ci-deploy", None),
        event("0f1e2d3c-0003-4a5b-8c7d-9e0f1a2b3c4d", "ops-alice", "ci-deploy", Some("AccessDenied")),
    ]});
    Fault::Canned {
        status: 200,
        body: body.to_string(),
    }
}

fn facts(a: &Value) -> &serde_json::Map<String, Value> {
    a["facts"].as_object().expect("facts")
}

#[tokio::test]
async fn a_start_in_real_time_is_alerted_with_the_catalogs_look_at_the_same_window() {
    let moto = Moto::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    proxy.add(Rule::always("LookupEvents", lookup_answer()));
    let inbox = moto.alert_inbox("insight-alerts").await;
    for dry_run in ["false", "true"] {
        let st = alerting_service::<Insights>(
            &proxy.sdk_config(),
            &inbox.topic_arn,
            &[("DRY_RUN", dry_run)],
        )
        .await;
        proxy.reset_counts();
        let out = invoke(&st, &fixture("insight-api-call-rate-start.json"))
            .await
            .unwrap();
        // Reading changes nothing: a dry run looks up too.
        assert_eq!(
            out["steps"][0]["status"], "done",
            "dry run {dry_run}: {out}"
        );
        assert_eq!(proxy.count("LookupEvents"), 1);
        let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
        assert_eq!(got.len(), 1);
        let a = &got[0].body;
        assert_eq!(got[0].attributes["detection"], "insight-api-call-rate");
        assert_eq!(got[0].attributes["severity"], "medium");
        assert_eq!(a["dry_run"], dry_run == "true");
        let f = facts(a);
        assert_eq!(
            f["Incident"],
            "insight:8f3e6d2c-1b4a-4c9d-a7e8-2f1b0c9d8e7a"
        );
        let look = f["Catalog look-up"].as_str().unwrap();
        assert!(look.starts_with("3 event(s) of CreateAccessKey in us-east-1 from 2024-05-14 10:00 to 10:15 UTC; 1 failed"), "{look}");
        assert!(
            look.contains(
                "callers: arn:aws:sts::123456789012:assumed-role/ci-deploy/build-4711 (3)"
            ),
            "{look}"
        );
        assert!(
            look.contains("cis-4.1-unauthorized-api-calls [low] 1 event(s)"),
            "{look}"
        );
        assert_eq!(a["evidence"]["catalog_lookup"]["result"]["events"], 3);
    }
}

#[tokio::test]
async fn an_end_in_real_time_closes_the_incident_without_a_look_up() {
    let moto = Moto::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    proxy.add(Rule::always("LookupEvents", lookup_answer()));
    let inbox = moto.alert_inbox("insight-alerts").await;
    let st = alerting_service::<Insights>(&proxy.sdk_config(), &inbox.topic_arn, &[]).await;
    invoke(&st, &fixture("insight-api-call-rate-end.json"))
        .await
        .unwrap();
    assert_eq!(proxy.count("LookupEvents"), 0);
    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attributes["severity"], "low");
    let f = facts(&got[0].body);
    assert_eq!(
        f["Incident"],
        "insight:8f3e6d2c-1b4a-4c9d-a7e8-2f1b0c9d8e7a"
    );
    assert_eq!(f["Duration"], "12 minutes");
    assert!(
        got[0]
            .subject
            .contains("Ended: unusual CreateAccessKey call rate"),
        "{}",
        got[0].subject
    );
}

async fn put_insight_file(moto: &Moto) -> String {
    let s3 = trailwarden::aws::s3_client(&moto.sdk_config());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let ev = fixture("s3-object-created-insight-file.json");
    let key = ev["detail"]["object"]["key"].as_str().unwrap().to_string();
    let path = trailwarden_testkit::harness::events_dir()
        .join("trail")
        .join(&key);
    s3.put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(std::fs::read(path).unwrap().into())
        .send()
        .await
        .unwrap();
    key
}

#[tokio::test]
async fn an_insights_file_gives_one_alert_per_insight_with_the_look_ups_of_its_starts() {
    let moto = Moto::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    proxy.add(Rule::always("LookupEvents", lookup_answer()));
    put_insight_file(&moto).await;
    let inbox = moto.alert_inbox("insight-alerts").await;
    let st = alerting_service::<Insights>(&proxy.sdk_config(), &inbox.topic_arn, &[]).await;
    let out = invoke(&st, &fixture("s3-object-created-insight-file.json"))
        .await
        .unwrap();
    assert_eq!(out["stats"]["files"], 1, "{out}");
    assert_eq!(out["stats"]["insights"], 3);
    assert_eq!(out["stats"]["incidents"], 2);
    // Two Start records, two look-ups.
    assert_eq!(proxy.count("LookupEvents"), 2);
    let mut got = inbox.receive(2, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 2);
    got.sort_by_key(|a| a.body["title"].as_str().unwrap().to_string());
    let keys = &got[0].body;
    let run = &got[1].body;
    assert_eq!(
        keys["title"],
        "Unusual CreateAccessKey call rate (iam) for 12 minutes: 7.58/min vs 0.0138/min baseline"
    );
    assert_eq!(facts(keys)["Started"], "2024-05-14 10:05 UTC");
    assert_eq!(facts(keys)["Ended"], "2024-05-14 10:17 UTC");
    assert!(facts(keys)["Catalog look-up"]
        .as_str()
        .unwrap()
        .starts_with("3 event(s)"));
    assert_eq!(
        facts(run)["Incident"],
        "insight:b2c4e6f8-0a1c-4e3a-9b5d-7f9a1c3e5b7d"
    );
}

#[tokio::test]
async fn an_insights_file_gone_before_it_is_read_is_skipped_quietly() {
    let moto = Moto::start().await.unwrap();
    let s3 = trailwarden::aws::s3_client(&moto.sdk_config());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let inbox = moto.alert_inbox("insight-alerts").await;
    let st = alerting_service::<Insights>(&moto.sdk_config(), &inbox.topic_arn, &[]).await;
    let out = invoke(&st, &fixture("s3-object-created-insight-file.json"))
        .await
        .unwrap();
    assert_eq!(out["steps"][0]["status"], "skipped", "{out}");
    assert!(out["steps"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("no longer exists"));
    assert_eq!(out["steps"][1]["status"], "skipped");
    assert!(inbox.drain().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_look_up_that_is_refused_fails_the_invocation_after_the_alert_says_so() {
    let moto = Moto::start().await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    proxy.add(Rule::always(
        "LookupEvents",
        Fault::error(400, "AccessDeniedException"),
    ));
    let inbox = moto.alert_inbox("insight-alerts").await;
    let st = alerting_service::<Insights>(&proxy.sdk_config(), &inbox.topic_arn, &[]).await;
    let err = invoke(&st, &fixture("insight-api-error-rate-start.json"))
        .await
        .unwrap_err();
    assert!(err.contains("AccessDeniedException"), "{err}");
    let got = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(got.len(), 1, "the insight is still reported");
    let look = facts(&got[0].body)["Catalog look-up"].as_str().unwrap();
    assert!(
        look.starts_with("FAILED for GetSecretValue in eu-west-1"),
        "{look}"
    );
}
