//! security-group in an organization, against moto (which keeps each account's EC2 apart and
//! answers `sts:AssumeRole` into another account with that account's credentials): a
//! world-open rule opened in member account 111122223333, in eu-west-1, is revoked there
//! through the member role; the same rule in the tooling account is left alone. A role that
//! STS refuses (injected by the fault proxy: moto does not evaluate trust policies) is
//! reported once and does not fail the invocation.

mod support;

use aws_sdk_ec2::types::{IpPermission, IpRange, SecurityGroupRule};
use security_group::SecurityGroup;
use serde_json::{json, Value};
use support::{create_group, ingress};
use trailwarden::lambda::Service;
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{
    fixture, invoke, only_detection, service, AlertInbox, Moto, ReceivedAlert,
};

const HOME: &str = trailwarden_testkit::ACCOUNT_ID;
const MEMBER: &str = "111122223333";
const REGION: &str = "eu-west-1";
const ROLE_NAME: &str = "trailwarden-responder";
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/trailwarden-responder";

/// A group named `bastion` with SSH open to the world; its id and that ingress rule.
async fn world_open_ssh(ec2: &aws_sdk_ec2::Client) -> (String, SecurityGroupRule) {
    let gid = create_group(ec2, "bastion", "bastion hosts", &[]).await;
    ec2.authorize_security_group_ingress()
        .group_id(&gid)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .description("bastion")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let rules = ingress(ec2, &gid).await;
    assert_eq!(rules.len(), 1);
    (gid, rules[0].clone())
}

/// The member-account sample event for the rule moto made.
fn event_for(gid: &str, rule: &SecurityGroupRule) -> Value {
    let mut v = fixture("ec2-authorize-ingress-in-member-account.json");
    let d = &mut v["detail"];
    d["requestParameters"]["groupId"] = gid.into();
    d["responseElements"]["securityGroupRuleSet"]["items"] = json!([{
        "groupOwnerId": MEMBER,
        "groupId": gid,
        "securityGroupRuleId": rule.security_group_rule_id(),
        "isEgress": false,
        "ipProtocol": "tcp",
        "fromPort": 22,
        "toPort": 22,
        "cidrIpv4": "0.0.0.0/0",
        "description": "bastion"
    }]);
    v
}

struct World {
    moto: Moto,
    inbox: AlertInbox,
    member: aws_sdk_ec2::Client,
}

async fn world() -> World {
    let moto = Moto::start().await.unwrap();
    let inbox = AlertInbox::create(&moto.sdk_config(), "security-alerts")
        .await
        .unwrap();
    let member = aws_sdk_ec2::Client::new(&moto.in_account(Some(MEMBER), REGION).await);
    World {
        moto,
        inbox,
        member,
    }
}

impl World {
    async fn function(&self, rules: Vec<Rule>) -> (FaultProxy, Service<SecurityGroup>) {
        let proxy = FaultProxy::start_with(&self.moto.endpoint, rules)
            .await
            .unwrap();
        let state = service::<SecurityGroup>(
            &proxy.sdk_config(),
            &[
                ("ALERT_TOPIC_ARN", self.inbox.topic_arn.as_str()),
                ("OWN_ROLE_ARNS", "arn:aws:iam::*:role/trailwarden-*"),
                ("HOME_ACCOUNT_ID", HOME),
                ("MEMBER_ROLE_NAME", ROLE_NAME),
            ],
        )
        .await
        .unwrap();
        (proxy, state)
    }

    async fn alerts(&self, n: usize) -> Vec<ReceivedAlert> {
        self.inbox.receive_only(n).await
    }
}

#[tokio::test]
async fn a_world_open_rule_in_a_member_account_is_revoked_there_in_its_region() {
    let w = world().await;
    let home = aws_sdk_ec2::Client::new(&w.moto.in_account(None, REGION).await);
    let (gid, rule) = world_open_ssh(&w.member).await;
    // The same group and rule in the tooling account: not the event's, left alone.
    let (home_gid, _) = world_open_ssh(&home).await;
    let (proxy, f) = w.function(Vec::new()).await;

    let out = invoke(&f, &event_for(&gid, &rule)).await.expect("handled");

    assert!(ingress(&w.member, &gid).await.is_empty());
    assert_eq!(ingress(&home, &home_gid).await.len(), 1);
    assert_eq!(out["steps"][0]["step"], "revoke ingress rule");
    assert_eq!(out["steps"][0]["status"], "done");
    assert_eq!(proxy.count("AssumeRole"), 1);
    let alerts = w.alerts(1).await;
    let a = &alerts[0];
    assert_eq!(a.body["account"], MEMBER);
    assert_eq!(a.body["region"], REGION);
    assert_eq!(a.body["severity"], "critical");
    let title = a.body["title"].as_str().unwrap();
    assert!(title.starts_with("Revoked: world-open"), "{title}");
}

#[tokio::test]
async fn a_refused_member_role_is_reported_once_and_not_retried() {
    let w = world().await;
    let (gid, rule) = world_open_ssh(&w.member).await;
    let denied = Fault::Canned {
        status: 403,
        body: format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::{HOME}:assumed-role/trailwarden-SecurityGroupFunctionRole-7U8I9O0P1A2S/trailwarden-security-group is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}</Message></Error><RequestId>0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f</RequestId></ErrorResponse>"#
        ),
    };
    let (_proxy, f) = w.function(vec![Rule::always("AssumeRole", denied)]).await;

    let out = invoke(&f, &event_for(&gid, &rule))
        .await
        .expect("a refused role does not fail the invocation");

    assert_eq!(ingress(&w.member, &gid).await.len(), 1, "nothing revoked");
    assert_eq!(out["steps"][0]["status"], "failed");
    let alerts = w.alerts(2).await;
    let role = only_detection(&alerts, "member-role-unavailable");
    assert_eq!(role.body["severity"], "high");
    assert_eq!(
        role.body["title"],
        format!("could not act in account {MEMBER}: role {ROLE_NAME} missing or denied")
    );
    let summary = role.body["summary"].as_str().unwrap();
    assert!(
        summary.contains(ROLE_ARN) && summary.contains("AccessDenied"),
        "{summary}"
    );
    // The change itself is still reported, from what the event says.
    let change = alerts
        .iter()
        .find(|a| a.body["detection"] != "member-role-unavailable")
        .unwrap();
    let title = change.body["title"].as_str().unwrap();
    assert!(title.starts_with("REVOKE FAILED: world-open"), "{title}");
}
