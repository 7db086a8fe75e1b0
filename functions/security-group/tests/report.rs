//! The wording of alerts (golden text) over the sample events, and the Lambda handler's
//! answers to payloads it cannot or need not act on.

use security_group::decide::{Facts, Group, GroupLookup, PrefixList};
use security_group::rules::{Direction, Peer, Protocol, Rule};
use security_group::SecurityGroup;
use serde_json::{json, Value};
use trailwarden::alert::{Severity, Status};
use trailwarden::lambda::Service;
use trailwarden::respond::plan_with;
use trailwarden::{Alert, Payload};
use trailwarden_testkit::harness::{assert_contains, assert_starts_with, fact};
use trailwarden_testkit::{config, fixture, plan};

type Sg = SecurityGroup;

fn alert_for(env: &[(&str, &str)], v: Value) -> Alert {
    let o = plan_with::<Sg>(
        &config::<Sg>(env),
        &Payload::from_value(v).unwrap(),
        &Facts::default(),
    );
    assert!(o.ignored.is_none(), "ignored: {:?}", o.ignored);
    assert_eq!(o.alerts.len(), 1);
    o.alerts.into_iter().next().unwrap()
}

fn alert(name: &str) -> Alert {
    alert_for(&[], fixture(name))
}

#[test]
fn world_ssh_reads_as_a_planned_revocation() {
    let a = alert("ec2-authorize-ingress-nested-world-ssh.json");
    assert_eq!(
        a.title,
        "Would revoke: world-open tcp/22 on sg-0a1b2c3d4e5f60718 by alice"
    );
    let step = &a.actions[0];
    assert_eq!(step.step, "revoke ingress rule");
    assert_eq!(
        step.detail.as_deref(),
        Some("by rule id, unless the group is tagged trailwarden:exempt")
    );
    assert_contains(&a.summary, "22 (SSH)");
    assert_contains(&a.summary, "203.0.113.24");
    assert!(
        fact(&a, "Rule 1")
            .contains("0.0.0.0/0 (the whole IPv4 internet) [sgr-0c1d2e3f405162738] \"temp ssh\""),
        "{:?}",
        a.facts
    );
    assert!(a.dry_run);
    let rendered = a.render();
    assert!(rendered
        .subject
        .starts_with("[CRITICAL] [dry-run] Would revoke: world-open tcp/22"));
    assert!(rendered.subject.len() < 100);
    assert!(rendered.text.contains("DRY RUN: nothing was changed"));
}

#[test]
fn titles_and_summaries_of_the_sample_events() {
    let a = alert("ec2-authorize-ingress-flat-world.json");
    assert_eq!(
        a.title,
        "Would revoke: world-open tcp/3389 on sg-0f9e8d7c6b5a49382 by bob@example.com"
    );
    assert_contains(&a.summary, "3389 (RDP)");
    assert_eq!(a.region.as_deref(), Some("eu-west-1"));

    let mut v = fixture("ec2-authorize-ingress-flat-world.json");
    v["detail"]["responseElements"] = json!({"requestId": "x", "_return": true});
    let a = alert_for(&[], v);
    assert!(a.actions[0]
        .detail
        .as_deref()
        .unwrap()
        .starts_with("by permission"));

    let a = alert("ec2-authorize-ingress-ipv6-world.json");
    assert_contains(
        &a.summary,
        "port 8080 is not an allowed public port (ALLOWED_PUBLIC_PORTS=80,443)",
    );
    assert!(fact(&a, "Rule 1").contains("::/0 (the whole IPv6 internet)"));

    let a = alert("ec2-authorize-ingress-all-ports-odd-bits.json");
    assert_eq!(
        a.title,
        "Would revoke: world-open all traffic on sg-0a1b2c3d4e5f60718 by terraform-deployer/ci-run-4812"
    );
    assert!(a.summary.contains("every protocol and every port"));

    let a = alert("ec2-authorize-ingress-private-range.json");
    assert_eq!(
        a.title,
        "alice opened tcp/5432 to 10.0.0.0/8 on sg-0a1b2c3d4e5f60718"
    );
    assert!(fact(&a, "Rule 1").ends_with("not open to the internet"));

    let a = alert("ec2-authorize-ingress-https-world.json");
    assert!(fact(&a, "Rule 2").contains("allowed public port"));

    let a = alert("ec2-revoke-ingress.json");
    assert_eq!(
        a.title,
        "alice closed inbound tcp/22 to 10.0.0.0/8 on sg-0a1b2c3d4e5f60718"
    );
    let mut v = fixture("ec2-revoke-ingress.json");
    v["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"] =
        json!({"items": [{"cidrIp": "0.0.0.0/0"}]});
    assert_eq!(
        alert_for(&[], v).title,
        "alice closed inbound tcp/22 to 0.0.0.0/0 on sg-0a1b2c3d4e5f60718"
    );
    let a = alert("ec2-revoke-ingress-by-trailwarden.json");
    assert_contains(&a.title, "removed inbound rule(s) sgr-0c1d2e3f405162738");

    let a = alert("ec2-modify-security-group-rules-world.json");
    assert!(a.summary.contains("3306 (MySQL)"));
    assert!(a.actions[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("if it is an ingress rule"));

    let a = alert("ec2-authorize-egress-world.json");
    assert_eq!(
        a.title,
        "alice allowed outbound all traffic to 0.0.0.0/0 from sg-0a1b2c3d4e5f60718"
    );
    assert!(a
        .summary
        .contains("Egress rules are reported, never revoked."));

    let a = alert("ec2-authorize-ingress-icmp-world.json");
    assert_contains(&a.title, "icmp type 8 to 0.0.0.0/0");
    assert!(a.summary.contains("Path MTU Discovery"));

    let a = alert("ec2-authorize-ingress-group-and-prefix-list.json");
    assert_contains(&a.title, "tcp/5432 to pl-0f1e2d3c4b5a69788");
    assert!(fact(&a, "Rule 2").contains(
        "security group sg-0aa11bb22cc33dd44 of account 123456789012 [sgr-0d8e9f0a1b2c3d4e5]"
    ));

    let a = alert("ec2-create-security-group.json");
    assert_eq!(
        a.title,
        "alice created security group sg-0a1b2c3d4e5f60718 (web) in vpc-0123456789abcdef0"
    );
    assert_eq!(fact(&a, "Group description"), "web tier");
    let a = alert("ec2-delete-security-group.json");
    assert_eq!(a.title, "alice deleted security group sg-0a1b2c3d4e5f60718");
}

#[test]
fn exempt_and_notify_say_so() {
    let a = alert_for(
        &[("EXEMPT_GROUP_IDS", "sg-0a1b2c3d4e5f60718")],
        fixture("ec2-authorize-ingress-nested-world-ssh.json"),
    );
    assert_starts_with(&a.title, "Not revoked (exempt): world-open tcp/22");
    assert!(fact(&a, "Exempt").contains("EXEMPT_GROUP_IDS"));

    let a = alert_for(
        &[("RESPONSE_MODE", "notify")],
        fixture("ec2-authorize-ingress-nested-world-ssh.json"),
    );
    assert_starts_with(&a.title, "Not revoked (notify mode): world-open tcp/22");
    assert!(a.summary.contains("RESPONSE_MODE=notify"));
    assert_eq!(fact(&a, "Response mode"), "notify");
}

#[test]
fn split_ranges_explain_the_threshold() {
    let a = alert("ec2-authorize-ingress-split-world-ssh.json");
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(
        a.title,
        "Would revoke: world-open tcp/22 on sg-0c2d4e6f8a0b1c3d5 by DevOps/mallory"
    );
    assert_contains(&a.summary, "WORLD_OPEN_MIN_PREFIX_IPV4=8");
    assert_contains(
        &a.summary,
        "tcp/22 from 0.0.0.0/1 and tcp/22 from 128.0.0.0/1 would be revoked",
    );
}

#[test]
fn a_narrowed_rule_is_reported_as_found() {
    let facts = Facts {
        group: Some(GroupLookup::Found(Group {
            id: "sg-0a1b2c3d4e5f60718".into(),
            name: Some("web".into()),
            rules: vec![Rule {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                from_port: Some(22),
                to_port: Some(22),
                peer: Peer::cidr("10.0.0.0/8", false),
                description: None,
                rule_id: Some("sgr-0c1d2e3f405162738".into()),
            }],
            ..Group::default()
        })),
        ..Facts::default()
    };
    let o = plan_with::<Sg>(
        &config::<Sg>(&[]),
        &trailwarden_testkit::payload("ec2-authorize-ingress-nested-world-ssh.json"),
        &facts,
    );
    let a = &o.alerts[0];
    assert_eq!(a.actions[0].status, Status::AlreadyDone);
    assert_eq!(
        a.actions[0].detail.as_deref(),
        Some("rule sgr-0c1d2e3f405162738 now allows tcp/22 from 10.0.0.0/8: left alone")
    );
    assert_starts_with(
        &a.title,
        "Already closed: world-open tcp/22 on sg-0a1b2c3d4e5f60718 (web)",
    );
    assert_contains(&a.summary, "no longer world-open");
    assert!(!a.summary.contains("trailwarden revoked"), "{}", a.summary);
}

#[test]
fn a_prefix_list_change_names_the_list_and_the_entry() {
    let a = alert("ec2-modify-managed-prefix-list-world.json");
    assert_eq!(a.severity, Severity::High);
    assert_eq!(
        a.title,
        "prefix list pl-0b1c2d3e4f5a6b7c8 holds 0.0.0.0/0 (world-open) by alice"
    );
    assert_contains(
        &a.summary,
        "alice added 0.0.0.0/0 in prefix list pl-0b1c2d3e4f5a6b7c8",
    );
    assert_contains(&a.summary, "leaves the list itself alone");
}

/// A customer list now holding the world: what was checked here (this account and region, how
/// many groups), that accounts it is shared with through RAM are not visible, and what to do.
#[test]
fn a_world_open_prefix_list_says_what_was_checked_and_what_is_not_visible() {
    let p = trailwarden_testkit::payload("ec2-modify-managed-prefix-list-world.json");
    let list = PrefixList {
        id: "pl-0b1c2d3e4f5a6b7c8".into(),
        name: Some("partner-bastions".into()),
        version: Some(4),
        state: Some("modify-complete".into()),
        entries: vec!["198.51.100.0/24".into(), "0.0.0.0/0".into()],
        ..PrefixList::default()
    };
    let mut facts = Facts {
        referencing: Some(Vec::new()),
        ..Facts::default()
    };
    facts.prefix_lists.insert(list.id.clone(), list);
    let o = plan_with::<Sg>(&config::<Sg>(&[]), &p, &facts);
    let a = &o.alerts[0];
    assert_eq!(a.severity, Severity::High);
    for text in [
        "The security group rules of account 123456789012 in us-east-1 were checked: none references the list.",
        "Accounts the list is shared with through AWS RAM are not visible from here",
        "aws ec2 modify-managed-prefix-list --prefix-list-id pl-0b1c2d3e4f5a6b7c8 --remove-entries Cidr=0.0.0.0/0 --region us-east-1",
        "in the owner account (the list's, 123456789012), `aws ec2 get-managed-prefix-list-associations --prefix-list-id pl-0b1c2d3e4f5a6b7c8 --region us-east-1` lists every security group referencing it, in any account",
    ] {
        assert!(a.summary.contains(text), "{text}\n{}", a.summary);
    }
    assert!(
        !a.summary.contains("No ingress rule in this region"),
        "{}",
        a.summary
    );
    assert!(
        !a.summary.contains("before the change had completed"),
        "{}",
        a.summary
    );

    // Two groups here reference it.
    let rule = |id: &str, port: i32| Rule {
        direction: Direction::Ingress,
        protocol: Protocol::Tcp,
        from_port: Some(port),
        to_port: Some(port),
        peer: Peer::PrefixList {
            id: "pl-0b1c2d3e4f5a6b7c8".into(),
        },
        description: None,
        rule_id: Some(id.into()),
    };
    facts.referencing = Some(vec![
        Group {
            id: "sg-1".into(),
            rules: vec![rule("sgr-1", 22), rule("sgr-2", 443)],
            ..Group::default()
        },
        Group {
            id: "sg-2".into(),
            rules: vec![rule("sgr-3", 443)],
            ..Group::default()
        },
    ]);
    let o = plan_with::<Sg>(&config::<Sg>(&[]), &p, &facts);
    let a = &o.alerts[0];
    assert_eq!(a.severity, Severity::Critical);
    assert_contains(
        &a.summary,
        "were checked: 2 security groups reference the list (3 ingress rules, listed below).",
    );
    assert_contains(&a.summary, "AWS RAM");

    // Offline: said so.
    let a = alert("ec2-modify-managed-prefix-list-world.json");
    assert_contains(&a.summary, "referencing the list were not looked up");
}

/// The list looked up while the change was still being applied: said, and the entries counted
/// with the event's.
#[test]
fn a_prefix_list_looked_up_early_says_so() {
    let p = trailwarden_testkit::payload("ec2-modify-managed-prefix-list-world.json");
    let mut facts = Facts {
        referencing: Some(Vec::new()),
        ..Facts::default()
    };
    facts.prefix_lists.insert(
        "pl-0b1c2d3e4f5a6b7c8".into(),
        PrefixList {
            id: "pl-0b1c2d3e4f5a6b7c8".into(),
            version: Some(3),
            state: Some("modify-in-progress".into()),
            entries: vec!["198.51.100.0/24".into()],
            ..PrefixList::default()
        },
    );
    let o = plan_with::<Sg>(&config::<Sg>(&[]), &p, &facts);
    let a = &o.alerts[0];
    assert_eq!(
        a.title,
        "prefix list pl-0b1c2d3e4f5a6b7c8 holds 0.0.0.0/0 (world-open) by alice"
    );
    assert_contains(
        &a.summary,
        "The list was looked up before the change had completed (version 3, modify-in-progress)",
    );
    assert!(
        fact(a, "Prefix list").ends_with("2 entries: 198.51.100.0/24 and 0.0.0.0/0"),
        "{:?}",
        a.facts
    );
}

/// The event added a narrow source to a port older rules already make world-open: the alert
/// names the older rule as what is revoked and says why the event's own rule stays.
#[test]
fn a_port_already_world_open_names_the_older_rule() {
    let mut v = fixture("ec2-authorize-ingress-nested-world-ssh.json");
    v["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"][0]
        ["cidrIp"] = json!("203.0.113.7/32");
    v["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["cidrIpv4"] =
        json!("203.0.113.7/32");
    let tcp22 = |id: &str, cidr: &str| Rule {
        direction: Direction::Ingress,
        protocol: Protocol::Tcp,
        from_port: Some(22),
        to_port: Some(22),
        peer: Peer::cidr(cidr, false),
        description: None,
        rule_id: Some(id.into()),
    };
    let facts = Facts {
        group: Some(GroupLookup::Found(Group {
            id: "sg-0a1b2c3d4e5f60718".into(),
            name: Some("web".into()),
            rules: vec![
                tcp22("sgr-0old", "0.0.0.0/0"),
                tcp22("sgr-0c1d2e3f405162738", "203.0.113.7/32"),
            ],
            ..Group::default()
        })),
        ..Facts::default()
    };
    let o = plan_with::<Sg>(&config::<Sg>(&[]), &Payload::from_value(v).unwrap(), &facts);
    let a = &o.alerts[0];
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.detection, "ec2-sg-world-open-ingress");
    assert_eq!(
        a.title,
        "Would revoke: world-open tcp/22 on sg-0a1b2c3d4e5f60718 (web) by older rules, added to by alice"
    );
    assert_contains(&a.summary, "The change added to a port that rules already in the group make world-open (tcp/22 from 0.0.0.0/0).");
    assert_contains(&a.summary, "tcp/22 from 0.0.0.0/0 would be revoked");
    assert!(
        fact(a, "Rule already there 1")
            .contains("0.0.0.0/0 (the whole IPv4 internet) [sgr-0old] - CRITICAL"),
        "{:?}",
        a.facts
    );
    assert_eq!(a.actions.len(), 1);
    assert_eq!(
        a.actions[0].target,
        "sg-0a1b2c3d4e5f60718 sgr-0old (tcp/22 from 0.0.0.0/0)"
    );
}

#[test]
fn every_sample_subject_fits() {
    for name in [
        "ec2-authorize-ingress-split-world-ipv6.json",
        "ec2-authorize-ingress-prefix-list-world.json",
    ] {
        let o = plan::<Sg>(&[], name);
        let r = o.alerts[0].render();
        assert!(r.subject.len() < 100, "{}", r.subject);
    }
}

async fn offline_service() -> Service<Sg> {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    trailwarden_testkit::service::<Sg>(&sdk, &[]).await.unwrap()
}

#[tokio::test]
async fn handler_rejects_payloads_it_cannot_parse() {
    let s = offline_service().await;
    let e = trailwarden_testkit::invoke(&s, &json!({"hello": "world"}))
        .await
        .unwrap_err();
    assert!(e.contains("unrecognised payload"), "{e}");
    let e = trailwarden_testkit::invoke(&s, &json!([1, 2]))
        .await
        .unwrap_err();
    assert!(e.contains("found an array"), "{e}");
}

#[tokio::test]
async fn handler_returns_the_outcome_of_ignored_events() {
    let s = offline_service().await;
    let v = trailwarden_testkit::invoke(&s, &fixture("ec2-authorize-ingress-failed.json"))
        .await
        .unwrap();
    assert_eq!(v["function"], "security-group");
    assert!(v["ignored"].as_str().unwrap().contains("failed"));
}
