//! security-group when EC2 misbehaves: throttling (`RequestLimitExceeded`), 5xx and lost
//! responses, injected by the testkit's fault proxy in front of moto. The function talks to
//! the proxy with the retry settings it uses in Lambda; the tests check the group directly
//! against moto and read the alert back from SQS.

mod support;

use security_group::SecurityGroup;
use serde_json::{json, Value};
use support::{authorize, create_group, one_alert, tcp};
use trailwarden::lambda::Service;
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{fixture, service, AlertInbox, Moto, ReceivedAlert};

struct Env {
    moto: Moto,
    proxy: FaultProxy,
    /// Straight to moto.
    ec2: aws_sdk_ec2::Client,
    inbox: AlertInbox,
    state: Service<SecurityGroup>,
}

async fn setup() -> Env {
    let moto = Moto::start().await.unwrap();
    let direct = moto.sdk_config();
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    let inbox = AlertInbox::create(&direct, "sg-faults").await.unwrap();
    let state = service::<SecurityGroup>(
        &proxy.sdk_config(),
        &[("ALERT_TOPIC_ARN", inbox.topic_arn.as_str())],
    )
    .await
    .unwrap();
    Env {
        ec2: aws_sdk_ec2::Client::new(&direct),
        moto,
        proxy,
        inbox,
        state,
    }
}

/// A group with `tcp/22 0.0.0.0/0` and `tcp/443 10.0.0.0/8`; returns the group id, the SSH
/// rule's id and the event that created the SSH rule.
async fn group_with_world_ssh(
    ec2: &aws_sdk_ec2::Client,
    tags: &[(&str, &str)],
) -> (String, String, Value) {
    let gid = create_group(ec2, "bastion", "bastion hosts", tags).await;
    for (port, cidr) in [(22, "0.0.0.0/0"), (443, "10.0.0.0/8")] {
        authorize(ec2, &gid, &[tcp(port, &[cidr])]).await;
    }
    let rules = ingress(ec2, &gid).await;
    let ssh = rules
        .iter()
        .find(|(port, cidr, _)| *port == 22 && cidr == "0.0.0.0/0")
        .unwrap()
        .2
        .clone();
    let mut event = fixture("ec2-authorize-ingress-nested-world-ssh.json");
    let d = &mut event["detail"];
    d["requestParameters"] = json!({"groupId": gid, "ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
         "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}});
    d["responseElements"]["securityGroupRuleSet"]["items"] = json!([{
        "groupOwnerId": trailwarden_testkit::ACCOUNT_ID, "groupId": gid,
        "securityGroupRuleId": ssh, "isEgress": false, "ipProtocol": "tcp",
        "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]);
    (gid, ssh, event)
}

/// (port, cidr, rule id) of the group's ingress rules, sorted.
async fn ingress(ec2: &aws_sdk_ec2::Client, gid: &str) -> Vec<(i32, String, String)> {
    let mut v: Vec<(i32, String, String)> = support::ingress(ec2, gid)
        .await
        .iter()
        .map(|r| {
            (
                r.from_port().unwrap_or(-1),
                r.cidr_ipv4().unwrap_or_default().to_string(),
                r.security_group_rule_id().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

async fn invoke(state: &Service<SecurityGroup>, v: &Value) -> Result<Value, String> {
    trailwarden_testkit::invoke(state, v).await
}

/// (status, detail) of the alert's only action.
fn only_action(a: &ReceivedAlert) -> (String, String) {
    let actions = a.body["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{:#}", a.body["actions"]);
    (
        actions[0]["status"].as_str().unwrap().to_string(),
        actions[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_and_the_rule_is_revoked() {
    let t = setup().await;
    let (gid, _, event) = group_with_world_ssh(&t.ec2, &[]).await;
    t.proxy
        .add(Rule::first(1, "DescribeSecurityGroups", Fault::Status(503)));
    t.proxy.add(Rule::first(
        2,
        "RevokeSecurityGroupIngress",
        Fault::Throttle,
    ));

    invoke(&t.state, &event)
        .await
        .expect("transient faults do not fail the job");
    assert_eq!(t.proxy.count("DescribeSecurityGroups"), 2);
    assert_eq!(t.proxy.count("RevokeSecurityGroupIngress"), 3);
    let left: Vec<i32> = ingress(&t.ec2, &gid).await.iter().map(|r| r.0).collect();
    assert_eq!(left, vec![443], "only the world-open SSH rule goes");
    let alert = one_alert(&t.inbox).await;
    assert_eq!(only_action(&alert).0, "done");
    drop(t.moto);
}

#[tokio::test]
async fn without_the_exemption_check_nothing_is_revoked_and_the_redelivery_finishes() {
    let t = setup().await;
    let (gid, _, event) = group_with_world_ssh(&t.ec2, &[]).await;
    t.proxy
        .add(Rule::always("DescribeSecurityGroups", Fault::Status(500)));

    // The group (and its exemption tag) cannot be read: nothing is decided, nothing is
    // revoked, the alert says so and the invocation fails so that Lambda retries it.
    let err = invoke(&t.state, &event).await.unwrap_err();
    assert!(err.contains("could not check the exemption tag"), "{err}");
    assert_eq!(
        t.proxy.count("DescribeSecurityGroups"),
        trailwarden::aws::MAX_ATTEMPTS as usize
    );
    assert_eq!(
        t.proxy.count("RevokeSecurityGroupIngress"),
        0,
        "a group that may be exempt is never touched"
    );
    assert_eq!(ingress(&t.ec2, &gid).await.len(), 2);
    let alert = one_alert(&t.inbox).await;
    let (status, detail) = only_action(&alert);
    assert_eq!(status, "failed");
    assert!(detail.starts_with("not attempted"), "{detail}");
    assert!(detail.contains("InternalFailure"), "{detail}");

    t.proxy.heal();
    invoke(&t.state, &event)
        .await
        .expect("the redelivery completes");
    let left: Vec<i32> = ingress(&t.ec2, &gid).await.iter().map(|r| r.0).collect();
    assert_eq!(left, vec![443]);
    assert_eq!(only_action(&one_alert(&t.inbox).await).0, "done");
    drop(t.moto);
}

#[tokio::test]
async fn an_exempt_group_stays_untouched_while_ec2_throttles() {
    let t = setup().await;
    let (gid, _, event) = group_with_world_ssh(&t.ec2, &[("trailwarden:exempt", "SEC-142")]).await;
    t.proxy
        .add(Rule::first(3, "DescribeSecurityGroups", Fault::Throttle));
    invoke(&t.state, &event).await.unwrap();
    assert_eq!(t.proxy.count("DescribeSecurityGroups"), 4);
    assert_eq!(t.proxy.count("RevokeSecurityGroupIngress"), 0);
    assert_eq!(ingress(&t.ec2, &gid).await.len(), 2);
    let (status, detail) = only_action(&one_alert(&t.inbox).await);
    assert_eq!(status, "skipped");
    assert!(detail.contains("trailwarden:exempt=SEC-142"), "{detail}");
    drop(t.moto);
}

#[tokio::test]
async fn a_revocation_whose_answer_was_lost_is_not_a_failure() {
    let t = setup().await;
    let (gid, _, event) = group_with_world_ssh(&t.ec2, &[]).await;
    t.proxy.add(Rule::first(
        1,
        "RevokeSecurityGroupIngress",
        Fault::LostResponse(Box::new(Fault::Status(503))),
    ));
    invoke(&t.state, &event)
        .await
        .expect("the retry finds the rule gone");
    assert_eq!(t.proxy.count("RevokeSecurityGroupIngress"), 2);
    let left: Vec<i32> = ingress(&t.ec2, &gid).await.iter().map(|r| r.0).collect();
    assert_eq!(left, vec![443], "the other rule is left alone");
    let (status, detail) = only_action(&one_alert(&t.inbox).await);
    assert!(
        status == "already_done" || status == "done",
        "{status}: {detail}"
    );
    drop(t.moto);
}
