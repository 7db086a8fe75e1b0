//! The hand-off between the catalog and the responders (`trailwarden_state::handoff`) is only
//! safe while every built-in detection naming a responder is covered by it: the catalog leaves
//! those events to the responder in real time. These tests hold each responder to alerting
//! every `match` example of its detections, at a severity at least the detection's, and check
//! that the catalog leaves exactly those to it.

use serde_json::{json, Value};
use trailwarden::detect::{BuiltinOptions, Catalog, Detection, RESPONDERS};
use trailwarden::Payload;
use trailwarden_functions::Function;
use trailwarden_testkit::env;

/// The EventBridge envelope CloudTrail's events arrive in.
fn envelope(record: &Value) -> Payload {
    let source = record["eventSource"]
        .as_str()
        .and_then(|s| s.split('.').next())
        .unwrap_or("unknown");
    let detail_type = match record["eventType"].as_str() {
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    };
    Payload::from_value(json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": detail_type,
        "source": format!("aws.{source}"),
        "account": record["recipientAccountId"].as_str().unwrap_or("111122223333"),
        "time": record["eventTime"].as_str().unwrap_or("2026-11-30T10:00:00Z"),
        "region": record["awsRegion"].as_str().unwrap_or("us-east-1"),
        "resources": [],
        "detail": record,
    }))
    .expect("the envelope parses")
}

fn function_of(responder: &str) -> Function {
    Function::by_name(responder).expect("a responder is a function")
}

fn owned() -> Vec<Detection> {
    Catalog::builtin(BuiltinOptions::default())
        .detections()
        .iter()
        .filter(|d| d.responder.is_some())
        .cloned()
        .collect()
}

#[test]
fn every_responder_named_by_a_detection_alerts_each_of_its_examples_at_least_as_severely() {
    let owned = owned();
    let mut checked = 0;
    for d in &owned {
        let responder = d.responder.as_deref().unwrap();
        for (i, ex) in d.examples.matching.iter().enumerate() {
            let ran = function_of(responder)
                .plan(&env(&[]), &envelope(ex))
                .unwrap();
            let o = &ran.outcome;
            assert!(
                o.ignored.is_none(),
                "{responder} ignores {}'s example {i}: {:?}",
                d.id,
                o.ignored
            );
            let most = o.alerts.iter().map(|a| a.severity).max();
            assert!(
                most.is_some_and(|s| s >= d.severity),
                "{responder}'s alert for {}'s example {i} is {most:?}, milder than {}",
                d.id,
                d.severity
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} examples checked");
    for r in RESPONDERS {
        assert!(
            owned.iter().any(|d| d.responder.as_deref() == Some(r)),
            "no built-in detection names {r}"
        );
    }
}

#[test]
fn the_catalog_leaves_to_deployed_responders_only_the_events_they_alert() {
    let all = RESPONDERS.join(",");
    let with = env(&[("RESPONDERS", all.as_str())]);
    let without = env(&[]);
    for d in owned() {
        let ex = &d.examples.matching[0];
        let payload = envelope(ex);
        // Without RESPONDERS the catalog claims the detection's incident itself.
        let alone = Function::Catalog.plan(&without, &payload).unwrap();
        let claims = |o: &trailwarden::respond::Outcome<_>| {
            o.steps
                .iter()
                .filter(|s| s.target.starts_with(&format!("{} by", d.id)))
                .count()
        };
        assert_eq!(claims(&alone.outcome), 1, "{}: {:?}", d.id, alone.outcome);
        // With them, not: either nothing is left to claim (the event is ignored, naming the
        // responder) or only other detections are.
        let deployed = Function::Catalog.plan(&with, &payload).unwrap();
        assert_eq!(
            claims(&deployed.outcome),
            0,
            "{}: {:?}",
            d.id,
            deployed.outcome
        );
        if let Some(why) = &deployed.outcome.ignored {
            assert!(
                why.contains(d.responder.as_deref().unwrap()) && why.contains(&d.id),
                "{why}"
            );
        }
    }
}

#[test]
fn an_unknown_responder_name_stops_the_catalog_naming_the_variable() {
    let err = Function::Catalog
        .check_config(&env(&[("RESPONDERS", "root-activity,root_activity")]))
        .unwrap_err();
    let said = err.to_string();
    assert!(
        said.contains("RESPONDERS") && said.contains("root_activity"),
        "{said}"
    );
}
