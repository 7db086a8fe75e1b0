//! The Security Hub custom action "Quarantine IAM user": a person selects findings of
//! unapproved users in Security Hub and chooses the action; EventBridge delivers a
//! `Security Hub Findings - Custom Action` event to the unapproved-user function, which
//! quarantines each finding's user with its own response.
//!
//! Nothing of the response is copied here: each finding is turned back into the `CreateUser`
//! event it was raised for (the user, its path and unique id, the creator, the event id, all
//! carried by the finding), and unapproved-user's own decide, execute and report run on it
//! with `RESPONSE_MODE=quarantine` and the approvals set aside (a person decided). The
//! alert that comes out is the same incident (same fingerprint), so the Security Hub finding
//! is updated in place and moves to `RESOLVED` when every quarantine step succeeded; every
//! alert says who asked ("Requested from"). Findings of other detections are skipped, with
//! the reason. A failed step fails the invocation so that it is retried (quarantine steps are
//! idempotent).

use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use trailwarden::lambda::Service;
use trailwarden::respond::{self, AlertRouter, Routed};
use trailwarden::{Alert, Payload};
use unapproved_user::approval::Approvals;
use unapproved_user::{Mode, UnapprovedUser, DETECTION};

/// EventBridge's detail-type for a Security Hub custom action.
pub const DETAIL_TYPE: &str = "Security Hub Findings - Custom Action";

/// True for a Security Hub custom action event.
pub fn is_request(v: &Value) -> bool {
    v.get("source").and_then(Value::as_str) == Some("aws.securityhub")
        && v.get("detail-type").and_then(Value::as_str) == Some(DETAIL_TYPE)
}

fn field<'a>(finding: &'a Value, key: &str) -> Option<&'a str> {
    finding
        .get("ProductFields")
        .and_then(|p| p.get(format!("trailwarden/{key}")))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Why a finding was not imported by trailwarden in `account` (the account the custom action
/// ran in, trailwarden's): its `ProductArn` must be that account's default product, which
/// only principals of that account can import into. Any account of an organization can
/// import findings into its own product, and the administrator account's console shows them
/// next to trailwarden's: one shaped like trailwarden's would otherwise aim a quarantine at a
/// user of the forger's choosing once someone selects it.
pub fn imported_here(finding: &Value, account: &str) -> Result<(), String> {
    let product = finding["ProductArn"].as_str().unwrap_or_default();
    let parts: Vec<&str> = product.split(':').collect();
    let ours = parts.len() == 6
        && parts[2] == "securityhub"
        && parts[4] == account
        && parts[5] == format!("product/{account}/default");
    if ours && !account.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "not a finding trailwarden imported: its product is {}, not account {account}'s default product (a finding imported by another account is not acted on)",
            if product.is_empty() { "missing" } else { product }
        ))
    }
}

/// The `CreateUser` record a trailwarden finding of an unapproved user was raised for, or
/// why the finding is not one.
pub fn record_of(finding: &Value) -> Result<Value, String> {
    let detection = field(finding, "detection").or_else(|| finding["GeneratorId"].as_str());
    if detection != Some(DETECTION) {
        return Err(format!(
            "not a finding of an unapproved IAM user (detection {}): this action quarantines users trailwarden found created by an unapproved principal",
            detection.unwrap_or("unknown")
        ));
    }
    if field(finding, "event_name") != Some("CreateUser") {
        return Err(format!(
            "the finding is about {}, not a CreateUser event",
            field(finding, "event_name").unwrap_or("no event")
        ));
    }
    let user = finding["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["Type"] == "AwsIamUser")
        .ok_or("the finding names no IAM user (no AwsIamUser resource)")?;
    let details = &user["Details"]["AwsIamUser"];
    let arn = user["Id"].as_str().unwrap_or_default();
    let name = details["UserName"]
        .as_str()
        .or_else(|| arn.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .ok_or("the finding's IAM user has no name")?;
    let path = details["Path"].as_str().unwrap_or("/");
    let account = field(finding, "account")
        .or_else(|| finding["AwsAccountId"].as_str())
        .unwrap_or_default();
    let region = field(finding, "region")
        .or_else(|| user["Region"].as_str())
        .unwrap_or("us-east-1");
    let mut identity = json!({"accountId": account});
    if let Some(kind) = field(finding, "actor_kind") {
        identity["type"] = json!(kind);
    }
    if let Some(actor) = field(finding, "actor").filter(|a| a.starts_with("arn:")) {
        identity["arn"] = json!(actor);
    }
    let mut user_element = json!({"userName": name, "path": path});
    if arn.starts_with("arn:") {
        user_element["arn"] = json!(arn);
    }
    if let Some(id) = details["UserId"].as_str() {
        user_element["userId"] = json!(id);
    }
    let mut record = json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser",
        "awsRegion": region,
        "requestParameters": {"userName": name, "path": path},
        "responseElements": {"user": user_element},
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management",
    });
    for (key, name) in [
        ("event_id", "eventID"),
        ("event_time", "eventTime"),
        ("source_ip", "sourceIPAddress"),
    ] {
        if let Some(v) = field(finding, key) {
            record[name] = json!(v);
        }
    }
    Ok(record)
}

/// Routes the alerts of a requested quarantine, each saying who asked.
struct Requested<'a> {
    inner: &'a dyn AlertRouter,
    note: String,
}

impl AlertRouter for Requested<'_> {
    fn route<'a>(&'a self, alert: &'a Alert) -> Pin<Box<dyn Future<Output = Routed> + Send + 'a>> {
        Box::pin(async move {
            let mut a = alert.clone();
            a.facts
                .insert(0, ("Requested from".into(), self.note.clone()));
            self.inner.route(&a).await
        })
    }
}

/// Handles a custom action event with the unapproved-user function's state.
pub async fn handle(service: &Service<UnapprovedUser>, event: Value) -> Result<Value, String> {
    let action = event["detail"]["actionName"]
        .as_str()
        .unwrap_or("custom action")
        .to_string();
    let action_arn = event["resources"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let findings = event["detail"]["findings"]
        .as_array()
        .cloned()
        .ok_or("a Security Hub custom action event without detail.findings")?;
    let state = &service.state;
    let mut config = service.config.clone();
    config.mode = Mode::Quarantine;
    config.approvals = Approvals::default();
    config.approval_document = None;
    config.approval_requires_creator = false;
    // A finding of a member account is acted on there, through its responder role, as the
    // real-time path does; never with this account's credentials on a namesake.
    let mut quarantine = UnapprovedUser::with_clients(state.iam.clone(), state.s3.clone());
    if let Some(accounts) = state.accounts() {
        quarantine = quarantine.with_accounts(accounts);
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let account = event["account"].as_str().unwrap_or_default().to_string();
    for f in &findings {
        let id = f["Id"].as_str().unwrap_or("(no id)").to_string();
        let record = match imported_here(f, &account).and_then(|()| record_of(f)) {
            Ok(r) => r,
            Err(why) => {
                tracing::info!(finding = %id, reason = %why, "custom action: finding skipped");
                results.push(json!({"finding": id, "skipped": why}));
                continue;
            }
        };
        let payload = match Payload::from_value(record) {
            Ok(p) => p,
            Err(e) => {
                results.push(json!({"finding": id, "skipped": format!("cannot be read back as an event: {e}")}));
                continue;
            }
        };
        tracing::info!(finding = %id, action = %action, "custom action: quarantining the finding's user");
        let requested = service.router.as_deref().map(|inner| Requested {
            inner,
            note: format!(
                "Security Hub custom action \"{action}\" ({action_arn}) on finding {id}: the user is quarantined on a person's request, approvals set aside"
            ),
        });
        let router = requested.as_ref().map(|r| r as &dyn AlertRouter);
        let ran = Box::pin(respond::run_routed(
            &config,
            &quarantine,
            &service.publisher,
            router,
            &payload,
        ))
        .await;
        match ran {
            Ok(o) => results.push(json!({"finding": id, "outcome": o})),
            Err(e) => {
                errors.push(format!("{id}: {}", e.message));
                results.push(json!({"finding": id, "outcome": e.outcome, "error": e.message}));
            }
        }
    }
    let answer = json!({
        "function": unapproved_user::NAME,
        "custom_action": action,
        "findings": results,
    });
    if errors.is_empty() {
        Ok(answer)
    } else {
        Err(format!("custom action {action}: {}", errors.join("; ")))
    }
}
