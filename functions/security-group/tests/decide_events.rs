//! The pure decision over the sample events in `events/`: what a reader of the alert would
//! see, and which rules would be revoked.

use security_group::{plan, Config, State, NAME};
use serde_json::{json, Value};
use trailwarden::alert::{Severity, Status};
use trailwarden::{Alert, Outcome, Payload};

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn config(env: &[(&str, &str)]) -> Config {
    let map: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_env(&map).unwrap()
}

fn decide_with(env: &[(&str, &str)], v: Value) -> Outcome {
    plan(&config(env), &Payload::from_value(v).unwrap())
}

fn decide(name: &str) -> Outcome {
    decide_with(&[], fixture(name))
}

fn only_alert(o: &Outcome) -> &Alert {
    assert!(o.ignored.is_none(), "ignored: {:?}", o.ignored);
    assert_eq!(o.alerts.len(), 1);
    &o.alerts[0]
}

fn fact<'a>(a: &'a Alert, label: &str) -> &'a str {
    a.facts
        .iter()
        .find(|(k, _)| k == label)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no fact {label:?} in {:?}", a.facts))
}

#[test]
fn nested_world_ssh_is_critical_and_revoked_by_rule_id() {
    let o = decide("ec2-authorize-ingress-nested-world-ssh.json");
    assert_eq!(o.function, NAME);
    let a = only_alert(&o);
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.detection, "ec2-sg-world-open-ingress");
    assert_eq!(
        a.title,
        "Would revoke: world-open tcp/22 on sg-0a1b2c3d4e5f60718 by alice"
    );
    assert_eq!(a.region.as_deref(), Some("us-east-1"));
    assert_eq!(a.actions.len(), 1);
    let step = &a.actions[0];
    assert_eq!(step.status, Status::Planned);
    assert_eq!(
        step.target,
        "sg-0a1b2c3d4e5f60718 sgr-0c1d2e3f405162738 (tcp/22 from 0.0.0.0/0)"
    );
    assert!(
        step.detail.as_deref().unwrap().starts_with("by rule id"),
        "{step:?}"
    );
    assert!(a.summary.contains("22 (SSH)"), "{}", a.summary);
    assert!(a.summary.contains("203.0.113.24"), "{}", a.summary);
    assert!(
        fact(a, "Rule 1")
            .contains("0.0.0.0/0 (the whole IPv4 internet) [sgr-0c1d2e3f405162738] \"temp ssh\""),
        "{:?}",
        a.facts
    );
    assert_eq!(o.stats["world_open_ingress"], json!(1));
    // The plan is what dry-run reports.
    assert!(o.dry_run && a.dry_run);
    let rendered = a.render();
    assert!(rendered
        .subject
        .starts_with("[CRITICAL] [dry-run] Would revoke: world-open tcp/22"));
    assert!(rendered.subject.len() < 100);
    assert!(rendered.text.contains("DRY RUN: nothing was changed"));
}

#[test]
fn flat_shape_is_understood_and_the_region_is_the_events() {
    let o = decide("ec2-authorize-ingress-flat-world.json");
    let a = only_alert(&o);
    assert_eq!(a.severity, Severity::Critical);
    assert!(a.summary.contains("3389 (RDP)"), "{}", a.summary);
    assert_eq!(a.region.as_deref(), Some("eu-west-1"));
    assert!(
        a.title == "Would revoke: world-open tcp/3389 on sg-0f9e8d7c6b5a49382 by bob@example.com"
    );
    assert_eq!(a.actions.len(), 1);
    assert!(a.actions[0].target.contains("sgr-07a6b5c4d3e2f1a09"));
}

#[test]
fn without_rule_ids_the_permission_is_revoked() {
    let mut v = fixture("ec2-authorize-ingress-flat-world.json");
    v["detail"]["responseElements"] = json!({"requestId": "x", "_return": true});
    let o = decide_with(&[], v);
    let a = only_alert(&o);
    assert_eq!(a.actions.len(), 1);
    assert_eq!(
        a.actions[0].target,
        "sg-0f9e8d7c6b5a49382 (tcp/3389 from 0.0.0.0/0)"
    );
    assert!(a.actions[0]
        .detail
        .as_deref()
        .unwrap()
        .starts_with("by permission"));
}

#[test]
fn ipv6_world_on_a_port_that_is_not_allowed_is_high() {
    let a = decide("ec2-authorize-ingress-ipv6-world.json")
        .alerts
        .remove(0);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.actions.len(), 1);
    assert!(
        a.actions[0].target.contains("tcp/8080 from ::/0"),
        "{:?}",
        a.actions
    );
    assert!(
        a.summary
            .contains("port 8080 is not an allowed public port (ALLOWED_PUBLIC_PORTS=80,443)"),
        "{}",
        a.summary
    );
    assert!(fact(&a, "Rule 1").contains("::/0 (the whole IPv6 internet)"));
}

#[test]
fn all_protocols_to_a_slash_zero_with_odd_address_bits_is_critical() {
    let a = decide("ec2-authorize-ingress-all-ports-odd-bits.json")
        .alerts
        .remove(0);
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(
        a.title,
        "Would revoke: world-open all traffic on sg-0a1b2c3d4e5f60718 by terraform-deployer/ci-run-4812"
    );
    assert!(
        a.summary.contains("every protocol and every port"),
        "{}",
        a.summary
    );
    assert_eq!(a.actions.len(), 1);
    assert!(a.actions[0]
        .target
        .contains("all traffic from 208.236.235.254/0"));
}

#[test]
fn private_range_is_a_low_alert_in_words() {
    let a = decide("ec2-authorize-ingress-private-range.json")
        .alerts
        .remove(0);
    assert_eq!(a.severity, Severity::Low);
    assert_eq!(a.detection, "cis-4.10-security-group-changes");
    assert_eq!(
        a.title,
        "alice opened tcp/5432 to 10.0.0.0/8 on sg-0a1b2c3d4e5f60718"
    );
    assert!(a.actions.is_empty());
    assert!(fact(&a, "Rule 1").ends_with("not open to the internet"));
}

#[test]
fn https_to_the_world_is_allowed_by_default_but_not_when_configured_otherwise() {
    let a = decide("ec2-authorize-ingress-https-world.json")
        .alerts
        .remove(0);
    assert_eq!(a.severity, Severity::Low);
    assert!(a.actions.is_empty());
    assert!(fact(&a, "Rule 2").contains("allowed public port"));

    let o = decide_with(
        &[("ALLOWED_PUBLIC_PORTS", "80")],
        fixture("ec2-authorize-ingress-https-world.json"),
    );
    let a = only_alert(&o);
    assert_eq!(a.severity, Severity::High);
    let targets: Vec<&str> = a.actions.iter().map(|x| x.target.as_str()).collect();
    assert_eq!(
        targets,
        vec![
            "sg-0a1b2c3d4e5f60718 sgr-0e5f6a7b8c9d0e1f2 (tcp/443 from 0.0.0.0/0)",
            "sg-0a1b2c3d4e5f60718 sgr-0f6a7b8c9d0e1f2a3 (tcp/443 from ::/0)",
        ]
    );
}

#[test]
fn critical_ports_are_configurable() {
    let o = decide_with(
        &[("CRITICAL_PORTS", "3389")],
        fixture("ec2-authorize-ingress-nested-world-ssh.json"),
    );
    assert_eq!(only_alert(&o).severity, Severity::High);
    let o = decide_with(
        &[("ALLOWED_PUBLIC_PORTS", "22,80,443")],
        fixture("ec2-authorize-ingress-nested-world-ssh.json"),
    );
    let a = only_alert(&o);
    assert_eq!(a.severity, Severity::Low);
    assert!(a.actions.is_empty());
}

#[test]
fn a_person_revoking_is_an_info_alert() {
    let a = decide("ec2-revoke-ingress.json").alerts.remove(0);
    assert_eq!(a.severity, Severity::Info);
    assert_eq!(
        a.title,
        "alice closed inbound tcp/22 to 10.0.0.0/8 on sg-0a1b2c3d4e5f60718"
    );
    assert!(a.actions.is_empty());
}

#[test]
fn closing_a_world_open_rule_is_not_an_exposure() {
    let mut v = fixture("ec2-revoke-ingress.json");
    v["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"] =
        json!({"items": [{"cidrIp": "0.0.0.0/0"}]});
    let o = decide_with(&[], v);
    let a = only_alert(&o);
    assert_eq!(a.severity, Severity::Info);
    assert!(a.actions.is_empty());
    assert_eq!(
        a.title,
        "alice closed inbound tcp/22 to 0.0.0.0/0 on sg-0a1b2c3d4e5f60718"
    );
}

#[test]
fn our_own_revocation_is_ignored_without_alert() {
    let own = [("OWN_ROLE_ARNS", "arn:aws:iam::*:role/trailwarden-*")];
    let o = decide_with(&own, fixture("ec2-revoke-ingress-by-trailwarden.json"));
    assert!(o.alerts.is_empty());
    let reason = o.ignored.unwrap();
    assert!(reason.contains("own role"), "{reason}");
    assert!(reason.contains("trailwarden-SecurityGroupFunctionRole-1A2B3C4D5E6F"));

    // Without the setting it is somebody else's revocation, described by rule id.
    let a = decide("ec2-revoke-ingress-by-trailwarden.json")
        .alerts
        .remove(0);
    assert_eq!(a.severity, Severity::Info);
    assert!(
        a.title
            .contains("removed inbound rule(s) sgr-0c1d2e3f405162738"),
        "{}",
        a.title
    );
}

#[test]
fn failed_calls_changed_nothing() {
    let o = decide("ec2-authorize-ingress-failed.json");
    assert!(o.alerts.is_empty());
    assert!(o.ignored.unwrap().contains("Client.UnauthorizedOperation"));
}

#[test]
fn modify_to_world_mysql_is_critical_and_checked_for_direction() {
    let a = decide("ec2-modify-security-group-rules-world.json")
        .alerts
        .remove(0);
    assert_eq!(a.severity, Severity::Critical);
    assert!(a.summary.contains("3306 (MySQL)"));
    assert_eq!(a.actions.len(), 1);
    assert!(a.actions[0].target.contains("sgr-0a9b8c7d6e5f40312"));
    assert!(a.actions[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("if it is an ingress rule"));
}

#[test]
fn egress_to_the_world_is_reported_never_revoked() {
    let a = decide("ec2-authorize-egress-world.json").alerts.remove(0);
    assert_eq!(a.severity, Severity::Low);
    assert!(a.actions.is_empty());
    assert_eq!(
        a.title,
        "alice allowed outbound all traffic to 0.0.0.0/0 from sg-0a1b2c3d4e5f60718"
    );
    assert!(a
        .summary
        .contains("Egress rules are reported, never revoked."));
}

#[test]
fn icmp_to_the_world_is_low_and_not_revoked() {
    let a = decide("ec2-authorize-ingress-icmp-world.json")
        .alerts
        .remove(0);
    assert_eq!(a.severity, Severity::Low);
    assert!(a.actions.is_empty());
    assert!(a.title.contains("icmp type 8 to 0.0.0.0/0"), "{}", a.title);
    assert!(a.summary.contains("Path MTU Discovery"));
}

#[test]
fn groups_and_prefix_lists_are_not_world_open() {
    let a = decide("ec2-authorize-ingress-group-and-prefix-list.json")
        .alerts
        .remove(0);
    assert_eq!(a.severity, Severity::Low);
    assert!(a.actions.is_empty());
    assert!(
        a.title.contains("tcp/5432 to pl-0f1e2d3c4b5a69788"),
        "{}",
        a.title
    );
    assert!(fact(&a, "Rule 2").contains(
        "security group sg-0aa11bb22cc33dd44 of account 123456789012 [sgr-0d8e9f0a1b2c3d4e5]"
    ));
}

#[test]
fn group_creation_and_deletion_are_info() {
    let a = decide("ec2-create-security-group.json").alerts.remove(0);
    assert_eq!(a.severity, Severity::Info);
    assert_eq!(
        a.title,
        "alice created security group sg-0a1b2c3d4e5f60718 (web) in vpc-0123456789abcdef0"
    );
    assert_eq!(fact(&a, "Group description"), "web tier");
    let a = decide("ec2-delete-security-group.json").alerts.remove(0);
    assert_eq!(a.severity, Severity::Info);
    assert_eq!(a.title, "alice deleted security group sg-0a1b2c3d4e5f60718");
}

#[test]
fn exempt_groups_are_reported_but_not_revoked() {
    let o = decide_with(
        &[("EXEMPT_GROUP_IDS", "sg-0a1b2c3d4e5f60718")],
        fixture("ec2-authorize-ingress-nested-world-ssh.json"),
    );
    let a = only_alert(&o);
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.actions[0].status, Status::Skipped);
    assert!(
        a.title
            .starts_with("Not revoked (exempt): world-open tcp/22"),
        "{}",
        a.title
    );
    assert!(fact(a, "Exempt").contains("EXEMPT_GROUP_IDS"));
}

#[test]
fn notify_mode_only_reports() {
    let o = decide_with(
        &[("RESPONSE_MODE", "notify")],
        fixture("ec2-authorize-ingress-nested-world-ssh.json"),
    );
    let a = only_alert(&o);
    assert_eq!(a.severity, Severity::Critical);
    assert!(
        a.title
            .starts_with("Not revoked (notify mode): world-open tcp/22"),
        "{}",
        a.title
    );
    assert!(a.summary.contains("RESPONSE_MODE=notify"));
    assert_eq!(fact(a, "Response mode"), "notify");
}

#[test]
fn other_payloads_are_ignored() {
    let o = decide_with(
        &[],
        json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
               "detail": {"eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}}),
    );
    assert!(o.alerts.is_empty());
    assert!(o
        .ignored
        .unwrap()
        .contains("not an EC2 security group change"));
    let o = decide_with(
        &[],
        json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
               "detail": {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"}}),
    );
    assert!(o.ignored.unwrap().contains("RunInstances"));
    let o = decide_with(
        &[],
        json!({"detail-type": "Object Created", "source": "aws.s3",
               "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}}),
    );
    assert!(o.ignored.unwrap().contains("not a CloudTrail record"));
}

#[test]
fn every_ec2_fixture_decides_without_panicking_and_renders_for_sns() {
    let dir = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.starts_with("ec2-") {
            continue;
        }
        seen += 1;
        let o = decide(&name);
        for a in &o.alerts {
            let r = a.render();
            assert!(
                r.subject.len() < 100 && r.subject.is_ascii(),
                "{name}: {}",
                r.subject
            );
            assert!(r.text.contains("Who"), "{name}");
        }
    }
    assert!(seen >= 9, "only {seen} ec2 fixtures");
}

fn offline_state(env: &[(&str, &str)]) -> State {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    State::new(&sdk, config(env))
}

fn lambda_event(v: Value) -> lambda_runtime::LambdaEvent<Value> {
    lambda_runtime::LambdaEvent::new(v, lambda_runtime::Context::default())
}

#[tokio::test]
async fn handler_rejects_payloads_it_cannot_parse() {
    let state = offline_state(&[]);
    let e = security_group::handler(&state, lambda_event(json!({"hello": "world"})))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unrecognised payload"), "{e}");
    let e = security_group::handler(&state, lambda_event(json!([1, 2])))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("found an array"), "{e}");
}

#[tokio::test]
async fn handler_returns_the_outcome_of_ignored_events() {
    let state = offline_state(&[]);
    let v = security_group::handler(
        &state,
        lambda_event(fixture("ec2-authorize-ingress-failed.json")),
    )
    .await
    .unwrap();
    assert_eq!(v["function"], "security-group");
    assert!(v["ignored"].as_str().unwrap().contains("failed"));
}
