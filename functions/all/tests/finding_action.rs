//! The Security Hub custom action "Quarantine IAM user", end to end against moto: the
//! unapproved-user function alerts on a new user in notify mode (a finding, NEW), a person
//! chooses the action on that finding, and the same function quarantines the user with its
//! own response; the finding (same id) now lists the quarantine and is RESOLVED. Findings of
//! other detections are refused with the reason and change nothing.

use serde_json::{json, Value};
use trailwarden::Alert;
use trailwarden_destinations::asff::{self, Target};
use trailwarden_functions::{finding_action, Function};
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::harness::on_large_stack;
use trailwarden_testkit::{env, fixture, Moto};

const PRODUCT: &str = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default";
const ACTION: &str = "arn:aws:securityhub:us-east-1:123456789012:action/custom/TwQuarantineUser";

/// The event EventBridge delivers when a person chooses the custom action on `findings`
/// (each as Security Hub stores it: what was imported plus the fields Security Hub adds).
fn custom_action(findings: &[Value]) -> Value {
    let stored: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut f = f.clone();
            let id = f["Id"].clone();
            f["Region"] = json!("us-east-1");
            f["WorkflowState"] = json!("NEW");
            f["ProcessedAt"] = json!("2024-08-01T13:35:02.412Z");
            let fields = f["ProductFields"].as_object_mut().unwrap();
            fields.insert(
                "aws/securityhub/FindingId".into(),
                json!(format!("{PRODUCT}/{}", id.as_str().unwrap())),
            );
            fields.insert("aws/securityhub/ProductName".into(), json!("Default"));
            fields.insert("aws/securityhub/CompanyName".into(), json!("Personal"));
            f
        })
        .collect();
    json!({
        "version": "0",
        "id": "6d0b2f83-4c1e-4a7b-9f25-8e3c1d7a5b90",
        "detail-type": "Security Hub Findings - Custom Action",
        "source": "aws.securityhub",
        "account": "123456789012",
        "time": "2024-08-01T13:41:07Z",
        "region": "us-east-1",
        "resources": [ACTION],
        "detail": {
            "actionName": "Quarantine IAM user",
            "actionDescription": "trailwarden quarantines the IAM user of each selected finding of an unapproved user",
            "findings": stored
        }
    })
}

/// Security Hub's findings in moto, as (id, workflow status, product fields). On a thread
/// with a large stack: the SDK's `ResourceDetails` deserializer needs more than a test
/// thread has in a debug build.
async fn findings(sdk: &aws_config::SdkConfig) -> Vec<(String, String, Value)> {
    let sdk = sdk.clone();
    on_large_stack(move || async move {
        let out = aws_sdk_securityhub::Client::new(&sdk)
            .get_findings()
            .send()
            .await
            .unwrap();
        out.findings()
            .iter()
            .map(|f| {
                (
                    f.id().unwrap_or_default().to_string(),
                    f.workflow()
                        .and_then(|w| w.status())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    json!(f.product_fields().cloned().unwrap_or_default()),
                )
            })
            .collect()
    })
    .await
}

fn settings() -> std::collections::HashMap<String, String> {
    let doc = format!(r#"[{{"type": "securityhub", "product_arn": "{PRODUCT}"}}]"#);
    env(&[
        ("RESPONSE_MODE", "notify"),
        ("ALERT_DESTINATIONS", doc.as_str()),
        ("NOT_FOUND_RETRY_SECONDS", "0"),
    ])
}

#[tokio::test]
async fn quarantine_from_a_finding_reuses_the_response_and_resolves_the_finding() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let iam = aws_sdk_iam::Client::new(&sdk);
    let created = iam.create_user().user_name("mallory").send().await.unwrap();
    let user = created.user().unwrap();
    let key = iam
        .create_access_key()
        .user_name("mallory")
        .send()
        .await
        .unwrap()
        .access_key()
        .unwrap()
        .access_key_id()
        .to_string();
    // moto does not implement ListServiceSpecificCredentials: a proxy answers it (none).
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    proxy.add(Rule::always(
        "ListServiceSpecificCredentials",
        Fault::empty_iam_list(
            "ListServiceSpecificCredentials",
            "ServiceSpecificCredentials",
        ),
    ));
    let service = Function::UnapprovedUser
        .service(&proxy.sdk_config(), &settings())
        .await
        .unwrap();

    // The CreateUser event in notify mode: an alert, nothing changed, the finding NEW. (The
    // event names the user moto created, by its unique id: the function acts only on the
    // user the event created.)
    let mut event = fixture("iam-create-user-by-iam-user.json");
    event["detail"]["responseElements"]["user"]["userId"] = json!(user.user_id());
    event["detail"]["responseElements"]["user"]["arn"] = json!(user.arn());
    let out = service.handle(event).await.unwrap();
    assert_eq!(out["routed"][0][0]["status"], "sent", "{out:#}");
    let alert: Alert = serde_json::from_value(out["alerts"][0].clone()).unwrap();
    let imported = asff::finding(
        &alert,
        &Target {
            product_arn: PRODUCT.into(),
        },
        "2024-08-01T13:35:01.000Z",
    );
    let before = findings(&sdk).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].0, imported.id);
    assert_eq!(before[0].1, "NEW");

    // A person chooses "Quarantine IAM user" on that finding.
    let event = custom_action(&[serde_json::to_value(&imported).unwrap()]);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        // The sample event in tests/data: this one, with the user id the sample CreateUser
        // event gives (moto makes its own).
        let text = serde_json::to_string_pretty(&event)
            .unwrap()
            .replace(user.user_id(), "AIDA4EXAMPLEMALLORY1");
        std::fs::write(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/securityhub-custom-action-quarantine.json"),
            text + "\n",
        )
        .unwrap();
    }
    let answer = service.handle(event).await.unwrap();
    let outcome = &answer["findings"][0]["outcome"];
    let steps: Vec<(String, String)> = outcome["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        steps.contains(&("DenyAll".into(), "done".into())),
        "{steps:?}\n{answer:#}"
    );
    assert!(
        steps
            .iter()
            .all(|(_, s)| s == "done" || s == "already_done"),
        "{steps:?}"
    );

    // The user is quarantined: deny-all attached, its key inactive, tagged.
    let attached = iam
        .list_attached_user_policies()
        .user_name("mallory")
        .send()
        .await
        .unwrap();
    assert!(attached
        .attached_policies()
        .iter()
        .any(|p| p.policy_name() == Some("AWSDenyAll")));
    let keys = iam
        .list_access_keys()
        .user_name("mallory")
        .send()
        .await
        .unwrap();
    let k = keys
        .access_key_metadata()
        .iter()
        .find(|k| k.access_key_id() == Some(key.as_str()))
        .unwrap();
    assert_eq!(k.status().map(|s| s.as_str()), Some("Inactive"));

    // The same finding, updated: resolved, saying who asked.
    let after = findings(&sdk).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].0, imported.id);
    assert_eq!(after[0].1, "RESOLVED");
    let requested = after[0].2["fact/Requested_from"].as_str().unwrap();
    assert!(
        requested.contains("Quarantine IAM user") && requested.contains(&imported.id),
        "{requested}"
    );
    assert_eq!(after[0].2["fact/Response_mode"], "quarantine");
}

#[tokio::test]
async fn findings_of_other_detections_are_refused_and_change_nothing() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let service = Function::UnapprovedUser
        .service(&sdk, &settings())
        .await
        .unwrap();
    let root = Function::RootActivity
        .plan(
            &env(&[]),
            &trailwarden_testkit::payload("signin-root-success-no-mfa.json"),
        )
        .unwrap()
        .outcome
        .alerts
        .remove(0);
    let f = asff::finding(
        &root,
        &Target {
            product_arn: PRODUCT.into(),
        },
        "2024-08-01T13:35:01.000Z",
    );
    let answer = service
        .handle(custom_action(&[serde_json::to_value(&f).unwrap()]))
        .await
        .unwrap();
    let skipped = answer["findings"][0]["skipped"].as_str().unwrap();
    assert!(skipped.contains("root-console-sign-in"), "{skipped}");
    assert!(findings(&sdk).await.is_empty());
}

/// A finding shaped like trailwarden's but imported by another account (its own default
/// product; any member account may import into its own) is not acted on.
#[test]
fn findings_imported_by_another_account_are_refused() {
    let event: Value = serde_json::from_str(include_str!(
        "data/securityhub-custom-action-quarantine.json"
    ))
    .unwrap();
    let finding = &event["detail"]["findings"][0];
    assert!(finding_action::imported_here(finding, "123456789012").is_ok());
    let mut forged = finding.clone();
    forged["ProductArn"] =
        json!("arn:aws:securityhub:us-east-1:444455556666:product/444455556666/default");
    forged["AwsAccountId"] = json!("444455556666");
    let why = finding_action::imported_here(&forged, "123456789012").unwrap_err();
    assert!(why.contains("444455556666"), "{why}");
    // Another vendor's product in this account is not trailwarden's either.
    forged["ProductArn"] = json!("arn:aws:securityhub:us-east-1::product/aws/guardduty");
    assert!(finding_action::imported_here(&forged, "123456789012").is_err());
    forged["ProductArn"] = Value::Null;
    assert!(finding_action::imported_here(&forged, "123456789012").is_err());
}

#[test]
fn the_sample_event_reads_back_as_the_create_user_event() {
    let event: Value = serde_json::from_str(include_str!(
        "data/securityhub-custom-action-quarantine.json"
    ))
    .unwrap();
    assert!(finding_action::is_request(&event));
    let record = finding_action::record_of(&event["detail"]["findings"][0]).unwrap();
    assert_eq!(record["eventName"], "CreateUser");
    assert_eq!(record["eventID"], "3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f");
    assert_eq!(record["requestParameters"]["userName"], "mallory");
    assert_eq!(
        record["responseElements"]["user"]["arn"],
        "arn:aws:iam::123456789012:user/mallory"
    );
    assert_eq!(
        record["responseElements"]["user"]["userId"],
        "AIDA4EXAMPLEMALLORY1"
    );
    assert_eq!(
        record["userIdentity"]["arn"],
        "arn:aws:iam::123456789012:user/alice"
    );
    let p = trailwarden::Payload::from_value(record).unwrap();
    assert_eq!(p.record().unwrap().event_name(), "CreateUser");
    // Not a request: an ordinary CloudTrail event for the same function.
    assert!(!finding_action::is_request(&fixture(
        "iam-create-user-by-iam-user.json"
    )));
}
