//! The real-time path end to end, without AWS: every built-in detection's `match` examples,
//! wrapped in the EventBridge envelope AWS delivers them in, go through template.yaml's
//! rules (as `trailwarden replay` routes events) and must reach the `catalog` function; the
//! function, run as Lambda runs it (state in memory, no topic), must then raise that
//! detection (a threshold detection after as many events as its threshold counts).

use serde_json::{json, Value};
use std::path::Path;
use trailwarden::aws::AlertPublisher;
use trailwarden::detect::{Catalog, Detection};
use trailwarden::respond::{self, Settings};
use trailwarden::{Payload, Severity};
use trailwarden_cli::template::Template;
use trailwarden_state::State;

fn template() -> Template {
    Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
        .expect("template.yaml loads")
}

/// The EventBridge event AWS would deliver for a CloudTrail record.
fn envelope(record: &Value, id: &str) -> Value {
    let s = |k: &str| record.get(k).and_then(Value::as_str);
    let source = s("eventSource").unwrap_or("unknown.amazonaws.com");
    let detail_type = match (s("eventType"), s("eventName")) {
        (Some("AwsConsoleSignIn"), _) | (_, Some("ConsoleLogin")) => {
            "AWS Console Sign In via CloudTrail"
        }
        (Some("AwsServiceEvent"), _) => "AWS Service Event via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    };
    let account = s("recipientAccountId")
        .or_else(|| {
            record
                .pointer("/userIdentity/accountId")
                .and_then(Value::as_str)
        })
        .unwrap_or("123456789012");
    json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": format!("aws.{}", source.split('.').next().unwrap_or("unknown")),
        "account": account,
        "time": s("eventTime").unwrap_or("2024-09-12T10:00:00Z"),
        "region": s("awsRegion").unwrap_or("us-east-1"),
        "resources": [],
        "detail": record,
    })
}

fn service() -> (catalog::Config, AlertPublisher) {
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let none: [(&str, &str); 0] = [];
    let config = catalog::Config::from_env(&none).unwrap();
    (config, AlertPublisher::new(&sdk, None, Severity::Info))
}

/// Runs the catalog function on the example (as many copies as its threshold needs, each its
/// own event) and answers the detections it alerted.
async fn raised(
    (config, publisher): &(catalog::Config, AlertPublisher),
    d: &Detection,
    example: &Value,
    i: usize,
) -> Vec<String> {
    let state = catalog::RealtimeCatalog::with_state(State::memory());
    let copies = d.threshold.as_ref().map_or(1, |t| t.count as usize);
    let mut alerted = Vec::new();
    for c in 0..copies {
        let mut record = example.clone();
        record["eventID"] = json!(format!("{}-example-{i}-copy-{c}", d.id));
        let event = envelope(&record, &format!("{}-{i}-{c}", d.id));
        let payload = Payload::from_value(event)
            .unwrap_or_else(|e| panic!("{} example {i}: the payload does not parse: {e}", d.id));
        let outcome = respond::run(config, &state, publisher, &payload)
            .await
            .unwrap_or_else(|e| panic!("{} example {i}: {e}", d.id));
        alerted.extend(outcome.alerts.iter().map(|a| a.detection.clone()));
    }
    alerted
}

/// The event patterns of forwarder/template.yaml's generated rules (other regions).
fn forwarder_patterns() -> Vec<(String, trailwarden::pattern::Pattern)> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../forwarder/template.yaml"),
    )
    .unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut out = Vec::new();
    for (k, v) in doc["Resources"].as_mapping().unwrap() {
        let name = k.as_str().unwrap_or_default();
        if !name.starts_with("ForwardCatalog") {
            continue;
        }
        let pattern: Value = serde_json::to_value(&v["Properties"]["EventPattern"]).unwrap();
        let compiled = trailwarden::pattern::Pattern::compile(&pattern)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push((name.to_string(), compiled));
    }
    out
}

#[tokio::test]
async fn every_detection_example_reaches_the_catalog_function_and_raises_its_detection() {
    let t = template();
    let forwarded = forwarder_patterns();
    assert!(!forwarded.is_empty());
    let catalog_fn = t
        .function("catalog")
        .expect("the catalog function is in template.yaml");
    let catalog = Catalog::builtin(Default::default());
    let svc = service();
    let mut checked = 0;
    let mut failures = Vec::new();
    for d in catalog.detections() {
        for (i, example) in d.examples.matching.iter().enumerate() {
            let event = envelope(example, &format!("{}-{i}", d.id));
            if !catalog_fn.receives(&event) {
                failures.push(format!(
                    "{} example {i}: no rule of the catalog function routes it",
                    d.id
                ));
                continue;
            }
            if !forwarded.iter().any(|(_, p)| p.matches(&event)) {
                failures.push(format!(
                    "{} example {i}: no rule of the forwarder sends it from another region",
                    d.id
                ));
            }
            let alerted = raised(&svc, d, example, i).await;
            if !alerted.contains(&d.id) {
                failures.push(format!(
                    "{} example {i}: routed, but the function alerted {alerted:?}",
                    d.id
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked >= catalog.len(),
        "only {checked} examples for {} detections",
        catalog.len()
    );
}

#[tokio::test]
async fn the_generated_rules_route_no_event_a_detection_would_miss_and_ignore_unrelated_ones() {
    let t = template();
    let catalog_fn = t.function("catalog").unwrap();
    // A benign read of a service no detection names reaches no catalog rule.
    let quiet = json!({
        "eventVersion": "1.09", "eventSource": "cloud9.amazonaws.com", "eventName": "DescribeEnvironments",
        "awsRegion": "us-east-1", "eventTime": "2024-09-12T10:00:00Z", "readOnly": true,
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/dev", "accountId": "123456789012"},
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": "123456789012"
    });
    assert!(!catalog_fn.receives(&envelope(&quiet, "quiet")));
    // A look-alike event sent with PutEvents cannot carry an `aws.` source; one that claims
    // another source is not routed.
    let mut spoofed = envelope(
        &Catalog::builtin(Default::default())
            .get("cloudtrail-tampering")
            .unwrap()
            .examples
            .matching[0],
        "spoof",
    );
    assert!(catalog_fn.receives(&spoofed));
    spoofed["source"] = json!("custom.cloudtrail");
    assert!(!catalog_fn.receives(&spoofed));
}
