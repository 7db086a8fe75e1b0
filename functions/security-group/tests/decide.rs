//! The pure decision over the sample events in `events/`: the case (exposures, severity) and
//! the plan (which rules are revoked, or why not). Wording is covered by `report.rs`.

use security_group::decide::{Facts, Group, GroupLookup, PrefixList, Step, Why};
use security_group::exposure::{Exposure, Risk};
use security_group::report::{self, DETECTION_CHANGE, DETECTION_PREFIX_LIST, DETECTION_WORLD_OPEN};
use security_group::rules::{Direction, Peer, Protocol, Rule};
use security_group::{Case, Output, SecurityGroup, NAME};
use serde_json::{json, Value};
use trailwarden::alert::{Severity, Status};
use trailwarden::respond::{plan_with, Decide, Decision, PlannedStep, Reporting, StepKind};
use trailwarden::Payload;
use trailwarden_testkit::{config, fixture, payload, plan as offline_plan};

type Sg = SecurityGroup;

fn case_of(env: &[(&str, &str)], p: &Payload, facts: &Facts) -> (Case, Vec<PlannedStep<Step>>) {
    match Sg::decide(&config::<Sg>(env), p, facts) {
        Decision::Respond { case, plan } => (case, plan),
        Decision::Ignore(why) => panic!("ignored: {why}"),
    }
}

fn offline(name: &str) -> (Case, Vec<PlannedStep<Step>>) {
    offline_in(&[], name)
}

/// The decision on sample event `name` under `env`, with no facts looked up.
fn offline_in(env: &[(&str, &str)], name: &str) -> (Case, Vec<PlannedStep<Step>>) {
    case_of(env, &payload(name), &Facts::default())
}

fn offline_with(env: &[(&str, &str)], v: Value) -> (Case, Vec<PlannedStep<Step>>) {
    case_of(env, &Payload::from_value(v).unwrap(), &Facts::default())
}

fn targets(plan: &[PlannedStep<Step>]) -> Vec<(String, Status)> {
    plan.iter().map(|s| (s.step.target(), s.status)).collect()
}

fn revoked_rule(s: &PlannedStep<Step>) -> &Rule {
    let Step::RevokeIngress { rule, .. } = &s.step;
    rule
}

fn rule(id: &str, proto: &str, port: i32, cidr: &str) -> Rule {
    Rule {
        direction: Direction::Ingress,
        protocol: Protocol::parse(proto),
        from_port: Some(port),
        to_port: Some(port),
        peer: Peer::cidr(cidr, false),
        description: None,
        rule_id: Some(id.into()),
    }
}

fn group(id: &str, rules: Vec<Rule>) -> Facts {
    Facts {
        group: Some(GroupLookup::Found(Group {
            id: id.into(),
            name: Some("web".into()),
            rules,
            ..Group::default()
        })),
        ..Facts::default()
    }
}

#[test]
fn nested_world_ssh_is_critical_and_revoked_by_rule_id() {
    let (case, plan) = offline("ec2-authorize-ingress-nested-world-ssh.json");
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(case.region.as_deref(), Some("us-east-1"));
    assert!(matches!(
        &case.rules[0].exposure,
        Exposure::WorldRisky { critical: true, risk: Risk::CriticalPorts { ports }, alone: true } if ports == &vec![22]
    ));
    assert_eq!(
        targets(&plan),
        vec![(
            "sg-0a1b2c3d4e5f60718 sgr-0c1d2e3f405162738 (tcp/22 from 0.0.0.0/0)".into(),
            Status::Planned
        )]
    );
    assert_eq!(
        revoked_rule(&plan[0]).rule_id.as_deref(),
        Some("sgr-0c1d2e3f405162738")
    );
    let Step::RevokeIngress { region, .. } = &plan[0].step;
    assert_eq!(region.as_deref(), Some("us-east-1"));
    // The offline plan is what dry-run reports.
    let o = offline_plan::<Sg>(&[], "ec2-authorize-ingress-nested-world-ssh.json");
    assert_eq!(o.function, NAME);
    assert!(o.dry_run && o.alerts[0].dry_run);
    assert_eq!(o.alerts[0].detection, DETECTION_WORLD_OPEN);
    assert_eq!(o.stats.world_open_ingress, 1);
    assert_eq!(o.steps.len(), 1);
    assert_eq!(o.steps[0].status, Status::Planned);
}

#[test]
fn flat_shape_is_understood_and_the_region_is_the_events() {
    let (case, plan) = offline("ec2-authorize-ingress-flat-world.json");
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(case.region.as_deref(), Some("eu-west-1"));
    assert_eq!(plan.len(), 1);
    assert_eq!(
        revoked_rule(&plan[0]).rule_id.as_deref(),
        Some("sgr-07a6b5c4d3e2f1a09")
    );
    assert_eq!(revoked_rule(&plan[0]).port_range(), Some((3389, 3389)));
}

#[test]
fn without_rule_ids_the_permission_is_revoked() {
    let mut v = fixture("ec2-authorize-ingress-flat-world.json");
    v["detail"]["responseElements"] = json!({"requestId": "x", "_return": true});
    let (_, plan) = offline_with(&[], v);
    assert_eq!(
        targets(&plan),
        vec![(
            "sg-0f9e8d7c6b5a49382 (tcp/3389 from 0.0.0.0/0)".into(),
            Status::Planned
        )]
    );
    assert!(revoked_rule(&plan[0]).rule_id.is_none());
}

#[test]
fn ipv6_world_on_a_port_that_is_not_allowed_is_high() {
    let (case, plan) = offline("ec2-authorize-ingress-ipv6-world.json");
    assert_eq!(case.severity(), Severity::High);
    assert!(matches!(
        case.risky().next().unwrap().exposure,
        Exposure::WorldRisky {
            critical: false,
            risk: Risk::NotAllowed {
                from: 8080,
                to: 8080
            },
            ..
        }
    ));
    assert_eq!(plan.len(), 1);
    assert!(plan[0].step.target().contains("tcp/8080 from ::/0"));
}

#[test]
fn all_protocols_to_a_slash_zero_with_odd_address_bits_is_critical() {
    let (case, plan) = offline("ec2-authorize-ingress-all-ports-odd-bits.json");
    assert_eq!(case.severity(), Severity::Critical);
    assert!(matches!(
        case.rules[0].exposure,
        Exposure::WorldRisky {
            risk: Risk::AllTraffic,
            ..
        }
    ));
    assert_eq!(plan.len(), 1);
    assert!(plan[0]
        .step
        .target()
        .contains("all traffic from 208.236.235.254/0"));
}

#[test]
fn private_range_is_a_low_change_without_steps() {
    let (case, plan) = offline("ec2-authorize-ingress-private-range.json");
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
    assert_eq!(case.rules[0].exposure, Exposure::Restricted);
    let o = offline_plan::<Sg>(&[], "ec2-authorize-ingress-private-range.json");
    assert_eq!(o.alerts[0].detection, DETECTION_CHANGE);
}

#[test]
fn https_to_the_world_is_allowed_by_default_but_not_when_configured_otherwise() {
    let (case, plan) = offline("ec2-authorize-ingress-https-world.json");
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
    assert_eq!(case.rules[1].exposure, Exposure::WorldAllowed);

    let (case, plan) = offline_with(
        &[("ALLOWED_PUBLIC_PORTS", "80")],
        fixture("ec2-authorize-ingress-https-world.json"),
    );
    assert_eq!(case.severity(), Severity::High);
    let t: Vec<String> = plan.iter().map(|s| s.step.target()).collect();
    assert_eq!(
        t,
        vec![
            "sg-0a1b2c3d4e5f60718 sgr-0e5f6a7b8c9d0e1f2 (tcp/443 from 0.0.0.0/0)",
            "sg-0a1b2c3d4e5f60718 sgr-0f6a7b8c9d0e1f2a3 (tcp/443 from ::/0)",
        ]
    );
}

#[test]
fn critical_ports_are_configurable() {
    let v = fixture("ec2-authorize-ingress-nested-world-ssh.json");
    let (case, _) = offline_with(&[("CRITICAL_PORTS", "3389")], v.clone());
    assert_eq!(case.severity(), Severity::High);
    let (case, plan) = offline_with(&[("ALLOWED_PUBLIC_PORTS", "22,80,443")], v);
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
}

#[test]
fn a_person_revoking_is_info_without_steps() {
    let (case, plan) = offline("ec2-revoke-ingress.json");
    assert_eq!(case.severity(), Severity::Info);
    assert!(plan.is_empty());
}

#[test]
fn closing_a_world_open_rule_is_not_an_exposure() {
    let mut v = fixture("ec2-revoke-ingress.json");
    v["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"] =
        json!({"items": [{"cidrIp": "0.0.0.0/0"}]});
    let (case, plan) = offline_with(&[], v);
    assert_eq!(case.severity(), Severity::Info);
    assert!(plan.is_empty());
    assert_eq!(case.risky().count(), 0);
}

#[test]
fn our_own_revocation_is_ignored_without_alert() {
    let own = [("OWN_ROLE_ARNS", "arn:aws:iam::*:role/trailwarden-*")];
    let o = offline_plan::<Sg>(&own, "ec2-revoke-ingress-by-trailwarden.json");
    assert!(o.alerts.is_empty());
    let reason = o.ignored.unwrap();
    assert!(reason.contains("loop guard"), "{reason}");
    assert!(reason.contains("trailwarden-SecurityGroupFunctionRole-1A2B3C4D5E6F"));

    // Without the setting it is somebody else's revocation, by rule id.
    let (case, plan) = offline("ec2-revoke-ingress-by-trailwarden.json");
    assert_eq!(case.severity(), Severity::Info);
    assert!(plan.is_empty());
    assert_eq!(case.change.rule_ids_only, vec!["sgr-0c1d2e3f405162738"]);
}

#[test]
fn failed_calls_changed_nothing() {
    let o = offline_plan::<Sg>(&[], "ec2-authorize-ingress-failed.json");
    assert!(o.alerts.is_empty());
    assert!(o.ignored.unwrap().contains("Client.UnauthorizedOperation"));
}

#[test]
fn modify_to_world_mysql_is_critical_and_checked_for_direction() {
    let (case, plan) = offline("ec2-modify-security-group-rules-world.json");
    assert_eq!(case.severity(), Severity::Critical);
    assert!(matches!(
        &case.rules[0].exposure,
        Exposure::WorldRisky { risk: Risk::CriticalPorts { ports }, .. } if ports == &vec![3306]
    ));
    assert_eq!(plan.len(), 1);
    assert_eq!(revoked_rule(&plan[0]).direction, Direction::Unknown);
    assert!(plan[0].step.target().contains("sgr-0a9b8c7d6e5f40312"));

    // Looked up: the rule is egress, so it is reported, never revoked, and low.
    let mut egress = rule("sgr-0a9b8c7d6e5f40312", "tcp", 3306, "0.0.0.0/0");
    egress.direction = Direction::Egress;
    let (case, plan) = case_of(
        &[],
        &payload("ec2-modify-security-group-rules-world.json"),
        &group("sg-0a1b2c3d4e5f60718", vec![egress]),
    );
    assert_eq!(case.severity(), Severity::Low);
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].status, Status::Skipped);
    assert_eq!(
        plan[0].detail.as_deref(),
        Some(report::why(&Why::Egress).as_str())
    );
}

#[test]
fn egress_to_the_world_is_reported_never_revoked() {
    let (case, plan) = offline("ec2-authorize-egress-world.json");
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
    assert_eq!(case.rules[0].rule.direction, Direction::Egress);
}

#[test]
fn icmp_to_the_world_is_low_and_not_revoked() {
    let (case, plan) = offline("ec2-authorize-ingress-icmp-world.json");
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
    assert_eq!(case.rules[0].exposure, Exposure::WorldIcmp);
}

#[test]
fn groups_and_unresolved_prefix_lists_are_not_world_open() {
    let (case, plan) = offline("ec2-authorize-ingress-group-and-prefix-list.json");
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
    assert!(case
        .rules
        .iter()
        .all(|a| a.exposure == Exposure::Restricted));
}

#[test]
fn group_creation_and_deletion_are_info() {
    let (case, plan) = offline("ec2-create-security-group.json");
    assert_eq!(case.severity(), Severity::Info);
    assert!(plan.is_empty());
    assert_eq!(case.change.vpc_id.as_deref(), Some("vpc-0123456789abcdef0"));
    let (case, _) = offline("ec2-delete-security-group.json");
    assert_eq!(case.severity(), Severity::Info);
}

#[test]
fn exempt_groups_are_reported_but_not_revoked() {
    let (case, plan) = offline_with(
        &[("EXEMPT_GROUP_IDS", "sg-0a1b2c3d4e5f60718")],
        fixture("ec2-authorize-ingress-nested-world-ssh.json"),
    );
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(plan[0].status, Status::Skipped);
    assert_eq!(
        case.exempt,
        Some(Why::ExemptId("sg-0a1b2c3d4e5f60718".into()))
    );
}

#[test]
fn notify_mode_only_reports() {
    let (case, plan) = offline_with(
        &[("RESPONSE_MODE", "notify")],
        fixture("ec2-authorize-ingress-nested-world-ssh.json"),
    );
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(plan[0].status, Status::Skipped);
    assert_eq!(
        plan[0].detail.as_deref(),
        Some(report::why(&Why::Notify).as_str())
    );
}

#[test]
fn other_payloads_are_ignored() {
    let c = config::<Sg>(&[]);
    let ignored =
        |v: Value| match Sg::decide(&c, &Payload::from_value(v).unwrap(), &Facts::default()) {
            Decision::Ignore(why) => why,
            Decision::Respond { .. } => panic!("not ignored"),
        };
    assert!(ignored(
        json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
        "detail": {"eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}})
    )
    .contains("not an EC2 security group change"));
    assert!(ignored(
        json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
        "detail": {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"}})
    )
    .contains("RunInstances"));
    assert!(
        ignored(json!({"detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}}))
        .contains("not a CloudTrail record")
    );
}

// ---- issue 15: the ways around the response.

#[test]
fn split_ipv4_halves_on_ssh_are_world_open_and_both_pieces_are_revoked() {
    let (case, plan) = offline("ec2-authorize-ingress-split-world-ssh.json");
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(case.risky().count(), 2);
    assert!(case
        .risky()
        .all(|a| matches!(a.exposure, Exposure::WorldRisky { critical: true, .. })));
    let cidrs: Vec<String> = plan
        .iter()
        .map(|s| match &revoked_rule(s).peer {
            Peer::Cidr { text, .. } => text.clone(),
            p => panic!("{p:?}"),
        })
        .collect();
    assert_eq!(cidrs, vec!["0.0.0.0/1", "128.0.0.0/1"]);
    assert!(plan.iter().all(|s| s.status == Status::Planned));
}

#[test]
fn split_ipv6_halves_are_world_open() {
    let (case, plan) = offline("ec2-authorize-ingress-split-world-ipv6.json");
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(plan.len(), 2);
    // A stricter threshold for IPv6 still catches them; a looser one for IPv4 is separate.
    let (case, _) = offline_with(
        &[("WORLD_OPEN_MIN_PREFIX_IPV6", "1")],
        fixture("ec2-authorize-ingress-split-world-ipv6.json"),
    );
    assert_eq!(
        case.severity(),
        Severity::Critical,
        "::/1 + 8000::/1 is ::/0"
    );
}

/// The split sample event with its one permission's ranges replaced by `cidrs`, creating rules
/// `ids` (in order) on tcp/22 of sg-0c2d4e6f8a0b1c3d5.
fn split_event(cidrs: &[&str], ids: &[&str]) -> Payload {
    let mut v = fixture("ec2-authorize-ingress-split-world-ssh.json");
    v["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"] = cidrs
        .iter()
        .map(|c| json!({"cidrIp": c}))
        .collect::<Vec<_>>()
        .into();
    v["detail"]["responseElements"]["securityGroupRuleSet"]["items"] = cidrs
        .iter()
        .zip(ids)
        .map(|(c, id)| {
            json!({"groupOwnerId": "123456789012", "groupId": "sg-0c2d4e6f8a0b1c3d5",
                "securityGroupRuleId": id, "isEgress": false, "ipProtocol": "tcp",
                "fromPort": 22, "toPort": 22, "cidrIpv4": c})
        })
        .collect::<Vec<_>>()
        .into();
    Payload::from_value(v).unwrap()
}

fn revoked_ids(plan: &[PlannedStep<Step>]) -> Vec<(&str, Status)> {
    plan.iter()
        .map(|s| (revoked_rule(s).rule_id.as_deref().unwrap(), s.status))
        .collect()
}

#[test]
fn a_piece_completing_a_split_is_revoked_and_the_older_piece_stays() {
    // The group already has tcp/22 from 11.0.0.0/8 (one public /8: not world-open by itself),
    // an office /32 and world-open HTTPS; the event adds 12.0.0.0/8. Together the two /8s are
    // as much as a /7: world-open. Offline, the event alone looks harmless.
    let p = split_event(&["12.0.0.0/8"], &["sgr-0aaaaaaaaaaaaaaa2"]);
    let (case, plan) = case_of(&[], &p, &Facts::default());
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());

    let now = vec![
        rule("sgr-0aaaaaaaaaaaaaaa1", "tcp", 22, "11.0.0.0/8"),
        rule("sgr-0aaaaaaaaaaaaaaa2", "tcp", 22, "12.0.0.0/8"),
        rule("sgr-0aaaaaaaaaaaaaaa3", "tcp", 22, "198.51.100.7/32"),
        rule("sgr-0bbbbbbbbbbbbbbb1", "tcp", 443, "0.0.0.0/0"),
    ];
    let (case, plan) = case_of(&[], &p, &group("sg-0c2d4e6f8a0b1c3d5", now.clone()));
    assert_eq!(case.severity(), Severity::Critical);
    assert!(matches!(
        case.rules[0].exposure,
        Exposure::WorldRisky {
            alone: false,
            critical: true,
            ..
        }
    ));
    // The event made the port world-open: revoking what it added closes it again, so the
    // older /8 (not world-open by itself) stays, as do the /32 and the allowed HTTPS rule.
    assert_eq!(
        revoked_ids(&plan),
        vec![("sgr-0aaaaaaaaaaaaaaa2", Status::Planned)]
    );
    assert!(case.pieces.is_empty());

    // When the port was world-open before the event (11/8 and 13/8 already there), the older
    // pieces are revoked with the event's: revoking the event's rule alone leaves it open.
    let mut before = now;
    before.push(rule("sgr-0aaaaaaaaaaaaaaa4", "tcp", 22, "13.0.0.0/8"));
    let (case, plan) = case_of(&[], &p, &group("sg-0c2d4e6f8a0b1c3d5", before));
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(
        revoked_ids(&plan),
        vec![
            ("sgr-0aaaaaaaaaaaaaaa2", Status::Planned),
            ("sgr-0aaaaaaaaaaaaaaa1", Status::Planned),
            ("sgr-0aaaaaaaaaaaaaaa4", Status::Planned),
        ]
    );
    assert_eq!(case.pieces.len(), 2);
}

/// Red-team finding: pieces of a split range added in one permission hid behind an older,
/// wider rule (the widest rule was blamed first, so the old /8 was the only contributor, the
/// event's /9s counted as restricted, the alert was low and nothing was revoked).
#[test]
fn split_pieces_cannot_hide_behind_an_older_wider_rule() {
    let p = split_event(
        &["12.0.0.0/9", "12.128.0.0/9"],
        &["sgr-0aaaaaaaaaaaaaa2a", "sgr-0aaaaaaaaaaaaaa2b"],
    );
    let now = vec![
        rule("sgr-0aaaaaaaaaaaaaaa1", "tcp", 22, "11.0.0.0/8"),
        rule("sgr-0aaaaaaaaaaaaaa2a", "tcp", 22, "12.0.0.0/9"),
        rule("sgr-0aaaaaaaaaaaaaa2b", "tcp", 22, "12.128.0.0/9"),
        rule("sgr-0aaaaaaaaaaaaaaa3", "tcp", 22, "198.51.100.7/32"),
        rule("sgr-0bbbbbbbbbbbbbbb1", "tcp", 443, "0.0.0.0/0"),
    ];
    let (case, plan) = case_of(&[], &p, &group("sg-0c2d4e6f8a0b1c3d5", now.clone()));
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(case.risky().count(), 2, "{:?}", case.rules);
    assert!(case.risky().all(|a| matches!(
        &a.exposure,
        Exposure::WorldRisky { critical: true, alone: false, risk: Risk::CriticalPorts { ports } }
            if ports == &vec![22]
    )));
    // What the event added is revoked; the older /8 and the office /32 stay.
    assert_eq!(
        revoked_ids(&plan),
        vec![
            ("sgr-0aaaaaaaaaaaaaa2a", Status::Planned),
            ("sgr-0aaaaaaaaaaaaaa2b", Status::Planned),
        ]
    );
    assert!(case.pieces.is_empty());
    let o = plan_with::<Sg>(
        &config::<Sg>(&[]),
        &p,
        &group("sg-0c2d4e6f8a0b1c3d5", now.clone()),
    );
    assert_eq!(o.alerts[0].detection, DETECTION_WORLD_OPEN);

    // Exempt group: the same alert, nothing revoked.
    let (case, plan) = case_of(
        &[("EXEMPT_GROUP_IDS", "sg-0c2d4e6f8a0b1c3d5")],
        &p,
        &group("sg-0c2d4e6f8a0b1c3d5", now.clone()),
    );
    assert_eq!(case.severity(), Severity::Critical);
    assert!(plan.iter().all(|s| s.status == Status::Skipped), "{plan:?}");
    // SSH an allowed public port: nothing risky.
    let (case, plan) = case_of(
        &[("ALLOWED_PUBLIC_PORTS", "22,443")],
        &p,
        &group("sg-0c2d4e6f8a0b1c3d5", now.clone()),
    );
    assert!(case.severity() < Severity::High);
    assert!(plan.is_empty());
    // Stale: both pieces removed since the event, the old /8 left: nothing revoked.
    let (_, plan) = case_of(
        &[],
        &p,
        &group(
            "sg-0c2d4e6f8a0b1c3d5",
            vec![now[0].clone(), now[3].clone(), now[4].clone()],
        ),
    );
    assert!(
        plan.iter().all(|s| s.status == Status::AlreadyDone),
        "{plan:?}"
    );
    assert_eq!(plan.len(), 2);
}

/// A port older rules already make world-open, to which the event adds a narrow source: the
/// event's rule adds nothing that makes it so, but the port must not stay world-open (low and
/// nothing revoked): the older rules are revoked, the event's /32 stays.
#[test]
fn adding_to_a_port_older_rules_make_world_open_revokes_those_rules() {
    let p = split_event(&["203.0.113.7/32"], &["sgr-0aaaaaaaaaaaaaaa9"]);
    let old = rule("sgr-0aaaaaaaaaaaaaaa1", "tcp", 22, "0.0.0.0/0");
    let mine = rule("sgr-0aaaaaaaaaaaaaaa9", "tcp", 22, "203.0.113.7/32");
    let facts = group("sg-0c2d4e6f8a0b1c3d5", vec![old.clone(), mine.clone()]);
    let (case, plan) = case_of(&[], &p, &facts);
    assert_eq!(case.rules[0].exposure, Exposure::Restricted);
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(
        revoked_ids(&plan),
        vec![("sgr-0aaaaaaaaaaaaaaa1", Status::Planned)]
    );
    assert_eq!(case.pieces.len(), 1);
    let o = plan_with::<Sg>(&config::<Sg>(&[]), &p, &facts);
    assert_eq!(o.alerts[0].detection, DETECTION_WORLD_OPEN);
    assert_eq!(o.alerts[0].severity, Severity::Critical);

    // Notify mode: reported critical, not revoked.
    let (case, plan) = case_of(&[("RESPONSE_MODE", "notify")], &p, &facts);
    assert_eq!(case.severity(), Severity::Critical);
    assert!(plan.iter().all(|s| s.status == Status::Skipped));
    // The event's rule is gone since (stale or re-delivered): nothing revoked.
    let (_, plan) = case_of(&[], &p, &group("sg-0c2d4e6f8a0b1c3d5", vec![old.clone()]));
    assert!(plan.is_empty(), "{plan:?}");
    // Or narrowed to a private range since: nothing revoked either.
    let narrowed = rule("sgr-0aaaaaaaaaaaaaaa9", "tcp", 22, "10.0.0.7/32");
    let (_, plan) = case_of(
        &[],
        &p,
        &group("sg-0c2d4e6f8a0b1c3d5", vec![old.clone(), narrowed]),
    );
    assert!(plan.is_empty(), "{plan:?}");
    // A private source added next to the world-open rule is no exposure of the change's.
    let p10 = split_event(&["10.0.0.0/8"], &["sgr-0aaaaaaaaaaaaaaa8"]);
    let (case, plan) = case_of(
        &[],
        &p10,
        &group(
            "sg-0c2d4e6f8a0b1c3d5",
            vec![old, rule("sgr-0aaaaaaaaaaaaaaa8", "tcp", 22, "10.0.0.0/8")],
        ),
    );
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
}

#[test]
fn a_customer_prefix_list_holding_the_world_makes_its_rule_world_open() {
    let p = payload("ec2-authorize-ingress-prefix-list-world.json");
    let rule_now = Rule {
        peer: Peer::PrefixList {
            id: "pl-0b1c2d3e4f5a6b7c8".into(),
        },
        ..rule("sgr-0e1f2a3b4c5d6e7f8", "tcp", 22, "0.0.0.0/0")
    };
    let mut facts = group("sg-0a1b2c3d4e5f60718", vec![rule_now]);
    let list = |entries: &[&str], aws: bool| PrefixList {
        id: "pl-0b1c2d3e4f5a6b7c8".into(),
        name: Some(
            if aws {
                "com.amazonaws.us-east-1.s3"
            } else {
                "partners"
            }
            .into(),
        ),
        aws_managed: aws,
        version: Some(3),
        state: Some("create-complete".into()),
        entries: entries.iter().map(|s| s.to_string()).collect(),
    };
    facts.prefix_lists.insert(
        "pl-0b1c2d3e4f5a6b7c8".into(),
        list(&["198.51.100.0/24", "0.0.0.0/0"], false),
    );
    let (case, plan) = case_of(&[], &p, &facts);
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(targets(&plan).len(), 1);
    assert_eq!(plan[0].status, Status::Planned);
    assert_eq!(
        revoked_rule(&plan[0]).rule_id.as_deref(),
        Some("sgr-0e1f2a3b4c5d6e7f8")
    );

    // Offline (the list not resolved) or an AWS-managed list: not world-open.
    let (case, plan) = case_of(&[], &p, &Facts::default());
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
    facts
        .prefix_lists
        .insert("pl-0b1c2d3e4f5a6b7c8".into(), list(&["0.0.0.0/0"], true));
    let (case, plan) = case_of(&[], &p, &facts);
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
    // A list of narrow partner ranges is fine.
    facts.prefix_lists.insert(
        "pl-0b1c2d3e4f5a6b7c8".into(),
        list(&["198.51.100.0/24", "203.0.113.0/24"], false),
    );
    let (case, plan) = case_of(&[], &p, &facts);
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());
}

#[test]
fn a_prefix_list_made_world_open_revokes_the_rules_referencing_it() {
    let p = payload("ec2-modify-managed-prefix-list-world.json");
    // Offline: the added entry alone says the list is world-open; nothing to revoke yet, but
    // high (accounts the list is shared with may reference it).
    let (case, plan) = case_of(&[], &p, &Facts::default());
    assert_eq!(case.severity(), Severity::High);
    assert_eq!(case.prefix_list.as_ref().unwrap().groups_checked, None);
    assert!(plan.is_empty());
    assert_eq!(
        case.prefix_list.as_ref().unwrap().world_entries,
        vec!["0.0.0.0/0"]
    );
    let o = plan_with::<Sg>(&config::<Sg>(&[]), &p, &Facts::default());
    assert_eq!(o.alerts[0].detection, DETECTION_PREFIX_LIST);

    let pl = Rule {
        peer: Peer::PrefixList {
            id: "pl-0b1c2d3e4f5a6b7c8".into(),
        },
        ..rule("sgr-0e1f2a3b4c5d6e7f8", "tcp", 22, "0.0.0.0/0")
    };
    let web = Rule {
        peer: pl.peer.clone(),
        ..rule("sgr-0f0f0f0f0f0f0f0f0", "tcp", 443, "0.0.0.0/0")
    };
    let mut facts = Facts {
        referencing: Some(vec![
            Group {
                id: "sg-0a1b2c3d4e5f60718".into(),
                rules: vec![pl, web],
                ..Group::default()
            },
            Group {
                id: "sg-0d0d0d0d0d0d0d0d0".into(),
                exempt_tag: Some(("trailwarden:exempt".into(), "SEC-9".into())),
                rules: vec![Rule {
                    peer: Peer::PrefixList {
                        id: "pl-0b1c2d3e4f5a6b7c8".into(),
                    },
                    ..rule("sgr-0c0c0c0c0c0c0c0c0", "tcp", 3389, "0.0.0.0/0")
                }],
                ..Group::default()
            },
        ]),
        ..Facts::default()
    };
    facts.prefix_lists.insert(
        "pl-0b1c2d3e4f5a6b7c8".into(),
        PrefixList {
            id: "pl-0b1c2d3e4f5a6b7c8".into(),
            name: Some("partners".into()),
            version: Some(4),
            entries: vec!["198.51.100.0/24".into(), "0.0.0.0/0".into()],
            ..PrefixList::default()
        },
    );
    let (case, plan) = case_of(&[], &p, &facts);
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(
        plan.iter()
            .map(|s| (revoked_rule(s).rule_id.clone().unwrap(), s.status))
            .collect::<Vec<_>>(),
        vec![
            ("sgr-0e1f2a3b4c5d6e7f8".to_string(), Status::Planned),
            ("sgr-0c0c0c0c0c0c0c0c0".to_string(), Status::Skipped),
        ],
        "SSH is revoked, HTTPS (allowed) stays, the exempt group is reported"
    );
    assert_eq!(case.prefix_list.as_ref().unwrap().groups_checked, Some(2));
}

const PL: &str = "pl-0b1c2d3e4f5a6b7c8";

fn partners(version: i64, state: &str, entries: &[&str]) -> PrefixList {
    PrefixList {
        id: PL.into(),
        name: Some("partner-bastions".into()),
        version: Some(version),
        state: Some(state.into()),
        entries: entries.iter().map(|s| s.to_string()).collect(),
        ..PrefixList::default()
    }
}

/// Facts for a prefix-list change: the list as looked up and one group whose tcp/22 ingress
/// rule references it, with `others` besides.
fn list_facts(list: PrefixList, others: Vec<Rule>) -> Facts {
    let mut rules = vec![Rule {
        peer: Peer::PrefixList { id: PL.into() },
        ..rule("sgr-0e1f2a3b4c5d6e7f8", "tcp", 22, "0.0.0.0/0")
    }];
    rules.extend(others);
    let mut facts = Facts {
        referencing: Some(vec![Group {
            id: "sg-0a1b2c3d4e5f60718".into(),
            rules,
            ..Group::default()
        }]),
        ..Facts::default()
    };
    facts.prefix_lists.insert(PL.into(), list);
    facts
}

/// Red-team finding: a customer list made to hold the world with no referencing rule found in
/// this account and region was a medium alert; groups of accounts it is shared with (RAM) are
/// not visible from here.
#[test]
fn a_prefix_list_holding_the_world_is_high_even_when_nothing_here_references_it() {
    let p = payload("ec2-modify-managed-prefix-list-world.json");
    let mut facts = Facts {
        referencing: Some(Vec::new()),
        ..Facts::default()
    };
    facts.prefix_lists.insert(
        PL.into(),
        partners(4, "modify-complete", &["198.51.100.0/24", "0.0.0.0/0"]),
    );
    let (case, plan) = case_of(&[], &p, &facts);
    assert_eq!(case.severity(), Severity::High);
    assert!(plan.is_empty());
    let pl = case.prefix_list.as_ref().unwrap();
    assert_eq!(pl.world_entries, vec!["0.0.0.0/0"]);
    assert_eq!(pl.groups_checked, Some(0));
    assert_eq!(pl.looked_up_early, None);
    let o = plan_with::<Sg>(&config::<Sg>(&[]), &p, &facts);
    assert_eq!(o.alerts[0].detection, DETECTION_PREFIX_LIST);
    assert_eq!(o.alerts[0].severity, Severity::High);
    // Referenced here only on an allowed port: still high.
    let web = Rule {
        peer: Peer::PrefixList { id: PL.into() },
        ..rule("sgr-0f0f0f0f0f0f0f0f0", "tcp", 443, "0.0.0.0/0")
    };
    let mut facts = list_facts(
        partners(4, "modify-complete", &["198.51.100.0/24", "0.0.0.0/0"]),
        Vec::new(),
    );
    if let Some(groups) = facts.referencing.as_mut() {
        groups[0].rules = vec![web];
    }
    let (case, plan) = case_of(&[], &p, &facts);
    assert_eq!(case.severity(), Severity::High);
    assert!(plan.is_empty());
    // A list of narrow entries only is no exposure.
    let (case, _) = case_of(
        &[],
        &payload("ec2-restore-managed-prefix-list-version.json"),
        &list_facts(
            partners(5, "restore-complete", &["198.51.100.0/24"]),
            Vec::new(),
        ),
    );
    assert_eq!(case.severity(), Severity::Low);
}

/// Red-team finding: the list looked up before the change completed (the event's response
/// shows `modify-in-progress` at version 3, so the change makes version 4) still shows the old
/// entries; the entry the event added must be counted in, not "no world-open entries".
#[test]
fn a_prefix_list_looked_up_before_the_change_completed_counts_the_added_entry() {
    let p = payload("ec2-modify-managed-prefix-list-world.json");
    let (case, _) = case_of(&[], &p, &Facts::default());
    let edit = case.change.prefix_list.clone().unwrap();
    assert_eq!((edit.version, edit.produced), (Some(3), Some(4)));

    for early in [
        partners(3, "modify-in-progress", &["198.51.100.0/24"]),
        partners(3, "modify-complete", &["198.51.100.0/24"]),
        partners(4, "modify-in-progress", &["198.51.100.0/24"]),
    ] {
        let facts = list_facts(early.clone(), Vec::new());
        let (case, plan) = case_of(&[], &p, &facts);
        let pl = case.prefix_list.as_ref().unwrap();
        assert_eq!(pl.world_entries, vec!["0.0.0.0/0"], "{early:?}");
        assert_eq!(
            pl.looked_up_early,
            Some((early.version, early.state.clone()))
        );
        assert_eq!(
            pl.list.as_ref().unwrap().entries,
            vec!["198.51.100.0/24", "0.0.0.0/0"]
        );
        assert_eq!(case.severity(), Severity::Critical, "{early:?}");
        assert_eq!(
            revoked_ids(&plan),
            vec![("sgr-0e1f2a3b4c5d6e7f8", Status::Planned)],
            "{early:?}"
        );
    }

    // Looked up after a later change took the entry out again (version 5): the list as looked
    // up decides.
    let later = list_facts(
        partners(5, "modify-complete", &["198.51.100.0/24"]),
        Vec::new(),
    );
    let (case, plan) = case_of(&[], &p, &later);
    assert!(case.prefix_list.as_ref().unwrap().world_entries.is_empty());
    assert_eq!(case.prefix_list.as_ref().unwrap().looked_up_early, None);
    assert_eq!(case.severity(), Severity::Low);
    assert!(plan.is_empty());

    // An early look-up of a change that removes the world entry: not counted.
    let mut v = fixture("ec2-modify-managed-prefix-list-world.json");
    let req = &mut v["detail"]["requestParameters"]["ModifyManagedPrefixListRequest"];
    req["RemoveEntry"] = req["AddEntry"].take();
    let removal = Payload::from_value(v).unwrap();
    let (case, plan) = case_of(
        &[],
        &removal,
        &list_facts(
            partners(3, "modify-in-progress", &["198.51.100.0/24", "0.0.0.0/0"]),
            Vec::new(),
        ),
    );
    assert!(case.prefix_list.as_ref().unwrap().world_entries.is_empty());
    assert!(plan.is_empty());
}

/// A restore looked up before it completed: the restored version's entries count.
#[test]
fn a_restore_looked_up_before_it_completed_counts_the_restored_entries() {
    let p = payload("ec2-restore-managed-prefix-list-version.json");
    let (case, _) = case_of(&[], &p, &Facts::default());
    let edit = case.change.prefix_list.clone().unwrap();
    assert_eq!((edit.restored, edit.produced), (Some(1), Some(5)));
    let mut facts = list_facts(
        partners(4, "restore-in-progress", &["198.51.100.0/24"]),
        Vec::new(),
    );
    facts.restored_entries = Some(vec!["198.51.100.0/24".into(), "0.0.0.0/0".into()]);
    let (case, plan) = case_of(&[], &p, &facts);
    assert_eq!(
        case.prefix_list.as_ref().unwrap().world_entries,
        vec!["0.0.0.0/0"]
    );
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(plan.len(), 1);
    // Looked up once complete: the list as it is.
    let mut facts = list_facts(
        partners(5, "restore-complete", &["198.51.100.0/24"]),
        Vec::new(),
    );
    facts.restored_entries = Some(vec!["0.0.0.0/0".into()]);
    let (case, plan) = case_of(&[], &p, &facts);
    assert!(case.prefix_list.as_ref().unwrap().world_entries.is_empty());
    assert!(plan.is_empty());
}

/// The split-range finding through a prefix list: the list's new entry (a /9) together with
/// older, wider rules of a group referencing it makes tcp/22 world-open; the rule referencing
/// the list is what the change changed and is blamed, not the older /8.
#[test]
fn a_prefix_list_piece_cannot_hide_behind_an_older_wider_rule() {
    let mut v = fixture("ec2-modify-managed-prefix-list-world.json");
    v["detail"]["requestParameters"]["ModifyManagedPrefixListRequest"]["AddEntry"]["Cidr"] =
        json!("12.0.0.0/9");
    let p = Payload::from_value(v).unwrap();
    let facts = list_facts(
        partners(4, "modify-complete", &["12.0.0.0/9"]),
        vec![
            rule("sgr-0aaaaaaaaaaaaaaa1", "tcp", 22, "11.0.0.0/8"),
            rule("sgr-0aaaaaaaaaaaaaaa3", "tcp", 22, "13.0.0.0/9"),
        ],
    );
    let (case, plan) = case_of(&[], &p, &facts);
    let pl = case.prefix_list.as_ref().unwrap();
    assert!(
        pl.world_entries.is_empty(),
        "the list alone is not world-open"
    );
    assert!(pl.references[0].1.exposure.is_critical());
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(
        revoked_ids(&plan),
        vec![("sgr-0e1f2a3b4c5d6e7f8", Status::Planned)]
    );
}

#[test]
fn a_stale_event_whose_rule_was_narrowed_is_left_alone() {
    let p = payload("ec2-authorize-ingress-nested-world-ssh.json");
    // The rule the event created now allows 10.0.0.0/8 only.
    let narrowed = rule("sgr-0c1d2e3f405162738", "tcp", 22, "10.0.0.0/8");
    let (case, plan) = case_of(
        &[],
        &p,
        &group("sg-0a1b2c3d4e5f60718", vec![narrowed.clone()]),
    );
    assert_eq!(case.severity(), Severity::Critical, "what the event did");
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].status, Status::AlreadyDone);
    assert_eq!(
        plan[0].detail.as_deref(),
        Some(report::why(&Why::NoLongerWorldOpen(narrowed)).as_str())
    );
    assert!(plan[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("now allows tcp/22 from 10.0.0.0/8: left alone"));

    // Removed since: nothing to revoke.
    let (_, plan) = case_of(&[], &p, &group("sg-0a1b2c3d4e5f60718", vec![]));
    assert_eq!(plan[0].status, Status::AlreadyDone);
    assert_eq!(
        plan[0].detail.as_deref(),
        Some(report::why(&Why::Gone).as_str())
    );

    // The group is gone.
    let facts = Facts {
        group: Some(GroupLookup::Gone),
        ..Facts::default()
    };
    let (_, plan) = case_of(&[], &p, &facts);
    assert_eq!(plan[0].status, Status::AlreadyDone);

    // Still world-open: revoked.
    let (_, plan) = case_of(
        &[],
        &p,
        &group(
            "sg-0a1b2c3d4e5f60718",
            vec![rule("sgr-0c1d2e3f405162738", "tcp", 22, "0.0.0.0/0")],
        ),
    );
    assert_eq!(plan[0].status, Status::Planned);
}

#[test]
fn every_ec2_fixture_decides_and_renders_for_sns() {
    let dir = trailwarden_testkit::harness::events_dir();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.starts_with("ec2-") {
            continue;
        }
        seen += 1;
        let o = offline_plan::<Sg>(&[], &name);
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
    assert!(seen >= 13, "only {seen} ec2 fixtures");
}

/// The log-scan catalog's world-open detections (for regions without the forwarder) on the
/// same sample events the function decides on.
#[test]
fn the_log_scan_catalog_flags_the_world_open_samples() {
    use trailwarden::detect::{BuiltinOptions, Catalog};
    let catalog = Catalog::builtin(BuiltinOptions::default());
    let ids = |name: &str| -> Vec<String> {
        let detail = fixture(name)["detail"].clone();
        let mut v: Vec<String> = catalog
            .matching(&detail)
            .iter()
            .map(|d| d.id.clone())
            .filter(|id| id.starts_with("ec2-world-open"))
            .collect();
        v.sort();
        v
    };
    let both = vec!["ec2-world-open-admin-port", "ec2-world-open-ingress"];
    assert_eq!(ids("ec2-authorize-ingress-nested-world-ssh.json"), both);
    assert_eq!(ids("ec2-authorize-ingress-flat-world.json"), both);
    assert_eq!(ids("ec2-authorize-ingress-split-world-ssh.json"), both);
    assert_eq!(ids("ec2-authorize-ingress-split-world-ipv6.json"), both);
    assert_eq!(ids("ec2-authorize-ingress-all-ports-odd-bits.json"), both);
    assert_eq!(
        ids("ec2-modify-security-group-rules-world.json"),
        vec!["ec2-world-open-ingress"]
    );
    assert_eq!(
        ids("ec2-authorize-ingress-ipv6-world.json"),
        vec!["ec2-world-open-ingress"]
    );
    for quiet in [
        "ec2-authorize-ingress-https-world.json",
        "ec2-authorize-ingress-private-range.json",
        "ec2-authorize-ingress-icmp-world.json",
        "ec2-authorize-ingress-failed.json",
        "ec2-authorize-egress-world.json",
        "ec2-revoke-ingress.json",
    ] {
        assert!(ids(quiet).is_empty(), "{quiet}: {:?}", ids(quiet));
    }
}

/// Writes an `ACCOUNT_SETTINGS_URI` document to a file of its own and returns its path.
fn settings_file(name: &str, doc: &str) -> String {
    let dir = std::env::temp_dir().join(format!("tw-sg-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, doc).unwrap();
    path.to_str().unwrap().to_string()
}

fn fact<'a>(alert: &'a trailwarden::Alert, label: &str) -> Option<&'a str> {
    alert
        .facts
        .iter()
        .find(|(l, _)| l == label)
        .map(|(_, v)| v.as_str())
}

#[test]
fn an_exempt_account_gets_an_alert_and_no_revocation() {
    let path = settings_file(
        "exempt.json",
        r#"{"accounts": {"123456789012": {"exempt": true, "security_group_mode": "revoke"}}}"#,
    );
    let env = [("ACCOUNT_SETTINGS_URI", path.as_str())];
    let p = payload("ec2-authorize-ingress-nested-world-ssh.json");
    let (case, plan) = case_of(&env, &p, &Facts::default());
    assert_eq!(case.severity(), Severity::Critical);
    assert!(case.settings.exempt);
    assert_eq!(case.exempt, Some(Why::ExemptAccount("123456789012".into())));
    assert!(!plan.is_empty());
    assert!(plan.iter().all(|s| s.status == Status::Skipped), "{plan:?}");
    let r = Sg::report(&config::<Sg>(&env), &case, &plan, Some(&Output::default()));
    let alert = &r.alerts[0];
    assert_eq!(
        fact(alert, "Settings"),
        Some("account 123456789012 (ACCOUNT_SETTINGS_URI)")
    );
    assert_eq!(
        fact(alert, "Exempt"),
        Some("account 123456789012 is exempt (ACCOUNT_SETTINGS_URI)")
    );

    // The member account of the same deployment is not exempt: revoked as usual.
    let (case, plan) = offline_in(&env, "ec2-authorize-ingress-in-member-account.json");
    assert!(!case.settings.exempt);
    assert!(plan.iter().any(|s| s.status == Status::Planned), "{plan:?}");
}

#[test]
fn an_organizational_unit_s_notify_mode_applies_to_its_accounts() {
    let path = settings_file(
        "ou-notify.json",
        r#"{"organizational_units": {
              "ou-ab12-sandbox01": {"accounts": ["111122223333"], "security_group_mode": "notify"}}}"#,
    );
    let env = [
        ("ACCOUNT_SETTINGS_URI", path.as_str()),
        ("RESPONSE_MODE", "revoke"),
    ];
    let (case, plan) = offline_in(&env, "ec2-authorize-ingress-in-member-account.json");
    assert_eq!(
        case.settings.response_mode,
        security_group::config::ResponseMode::Notify
    );
    assert!(!plan.is_empty());
    assert!(plan.iter().all(|s| s.status == Status::Skipped), "{plan:?}");
    let r = Sg::report(&config::<Sg>(&env), &case, &plan, Some(&Output::default()));
    let alert = &r.alerts[0];
    assert_eq!(fact(alert, "Response mode"), Some("notify"));
    assert_eq!(
        fact(alert, "Settings"),
        Some("organizational unit ou-ab12-sandbox01 (ACCOUNT_SETTINGS_URI)")
    );

    // An account outside the OU keeps the deployment's mode.
    let (case, plan) = offline_in(&env, "ec2-authorize-ingress-nested-world-ssh.json");
    assert_eq!(case.settings.source, "deployment (environment variables)");
    assert!(plan.iter().all(|s| s.status == Status::Planned), "{plan:?}");
}

#[test]
fn an_account_entry_overrides_its_organizational_unit() {
    let path = settings_file(
        "estate.json",
        r#"{"accounts": {"111122223333": {"security_group_mode": "revoke"}},
            "organizational_units": {
              "ou-ab12-workload1": {"accounts": ["111122223333"], "parent": "ou-ab12-sandbox01"},
              "ou-ab12-sandbox01": {"security_group_mode": "notify", "exempt": false}}}"#,
    );
    let env = [
        ("ACCOUNT_SETTINGS_URI", path.as_str()),
        ("RESPONSE_MODE", "notify"),
    ];
    let (case, plan) = offline_in(&env, "ec2-authorize-ingress-in-member-account.json");
    assert_eq!(
        case.settings.response_mode,
        security_group::config::ResponseMode::Revoke
    );
    assert_eq!(
        case.settings.source,
        "account 111122223333 (ACCOUNT_SETTINGS_URI); organizational unit ou-ab12-sandbox01 (ACCOUNT_SETTINGS_URI)"
    );
    assert!(!plan.is_empty());
    assert!(plan.iter().all(|s| s.status == Status::Planned), "{plan:?}");
}

#[test]
fn an_account_may_allow_its_own_public_ports() {
    let path = settings_file(
        "ports.json",
        r#"{"accounts": {"123456789012": {"allowed_public_ports": "443,8080"}}}"#,
    );
    let env = [
        ("ACCOUNT_SETTINGS_URI", path.as_str()),
        ("ALLOWED_PUBLIC_PORTS", "80,443"),
    ];
    // 8080 open to the internet: allowed in this account, so reported low and not revoked.
    let (case, plan) = offline_in(&env, "ec2-authorize-ingress-ipv6-world.json");
    assert_eq!(case.risky().count(), 0, "{case:?}");
    assert!(case.severity() < Severity::High);
    assert!(plan.iter().all(|s| s.status != Status::Planned), "{plan:?}");
    assert_eq!(
        case.settings.source,
        "account 123456789012 (ACCOUNT_SETTINGS_URI)"
    );
    // The deployment's ports alone: 8080 is revoked.
    let (case, plan) = case_of(
        &env[1..],
        &payload("ec2-authorize-ingress-ipv6-world.json"),
        &Facts::default(),
    );
    assert_eq!(case.risky().count(), 1);
    assert!(plan.iter().any(|s| s.status == Status::Planned), "{plan:?}");
    // "none" takes 443 away too.
    let none = settings_file(
        "ports-none.json",
        r#"{"accounts": {"123456789012": {"allowed_public_ports": "none"}}}"#,
    );
    let (case, _) = case_of(
        &[("ACCOUNT_SETTINGS_URI", none.as_str())],
        &payload("ec2-authorize-ingress-https-world.json"),
        &Facts::default(),
    );
    // Its IPv4 and IPv6 rules both.
    assert_eq!(case.risky().count(), 2, "{case:?}");
}

#[test]
fn an_organizational_unit_may_exempt_groups_of_its_accounts() {
    let path = settings_file(
        "groups.json",
        r#"{"organizational_units": {"ou-ab12-sandbox01": {"accounts": ["123456789012"],
              "exempt_security_group_ids": ["sg-0a1b2c3d4e5f60718"]}}}"#,
    );
    let env = [("ACCOUNT_SETTINGS_URI", path.as_str())];
    let (case, plan) = offline_in(&env, "ec2-authorize-ingress-nested-world-ssh.json");
    assert_eq!(case.severity(), Severity::Critical);
    assert_eq!(
        case.exempt,
        Some(Why::ExemptId("sg-0a1b2c3d4e5f60718".into()))
    );
    assert!(!plan.is_empty());
    assert!(plan.iter().all(|s| s.status == Status::Skipped), "{plan:?}");
    // A group of another account is revoked as usual.
    let (case, plan) = offline_in(&env, "ec2-authorize-ingress-in-member-account.json");
    assert_eq!(case.exempt, None);
    assert!(plan.iter().any(|s| s.status == Status::Planned), "{plan:?}");
}

#[test]
fn a_bad_account_settings_document_stops_the_cold_start() {
    use trailwarden::respond::Settings;
    let path = settings_file(
        "bad.json",
        r#"{"accounts": {"111122223333": {"security_group_mode": "delete"}}}"#,
    );
    let e =
        security_group::Config::from_env(&[("ACCOUNT_SETTINGS_URI", path.as_str())]).unwrap_err();
    assert_eq!(e.var, "ACCOUNT_SETTINGS_URI");
    assert!(
        e.to_string()
            .contains("accounts.111122223333.security_group_mode"),
        "{e}"
    );
}
