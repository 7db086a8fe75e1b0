//! Loop and lock-out safety against moto: an exempt group (by id or by tag) keeps every rule
//! in every mode, dry-run or not; changes made by trailwarden's own roles are never acted on;
//! dry-run changes nothing. "Nothing" is checked on every rule of every group, before and
//! after.

mod support;

use security_group::SecurityGroup;
use serde_json::{json, Value};
use support::{authorize, create_group, tcp};
use trailwarden::lambda::Service;
use trailwarden_testkit::{fixture, invoke, AlertInbox, Moto};

async fn state(
    sdk: &aws_config::SdkConfig,
    topic: &str,
    vars: &[(&str, &str)],
) -> Service<SecurityGroup> {
    let mut all = vars.to_vec();
    all.push(("ALERT_TOPIC_ARN", topic));
    trailwarden_testkit::service::<SecurityGroup>(sdk, &all)
        .await
        .unwrap()
}

/// A group with world-open SSH and RDP; returns its id and the event that opened them.
async fn open_group(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    tags: &[(&str, &str)],
) -> (String, Value) {
    let gid = create_group(ec2, name, name, tags).await;
    authorize(
        ec2,
        &gid,
        &[tcp(22, &["0.0.0.0/0"]), tcp(3389, &["0.0.0.0/0"])],
    )
    .await;
    // The flat form (no rule ids): the function revokes by permission, the widest path.
    let mut event = fixture("ec2-authorize-ingress-flat-world.json");
    let items: Vec<Value> = [22, 3389]
        .iter()
        .map(|p| {
            json!({"ipProtocol": "tcp", "fromPort": p, "toPort": p, "groups": {},
                   "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {},
                   "prefixListIds": {}})
        })
        .collect();
    event["detail"]["requestParameters"] =
        json!({"groupId": gid, "ipPermissions": {"items": items}});
    if let Some(re) = event["detail"]["responseElements"].as_object_mut() {
        re.remove("securityGroupRuleSet");
    }
    (gid, event)
}

/// Every rule of every group: (group, direction, protocol, from, to, cidr, rule id).
async fn all_rules(ec2: &aws_sdk_ec2::Client) -> Vec<String> {
    let mut v: Vec<String> = ec2
        .describe_security_group_rules()
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}/{}-{} {} {}",
                r.group_id().unwrap_or_default(),
                if r.is_egress() == Some(true) {
                    "egress"
                } else {
                    "ingress"
                },
                r.ip_protocol().unwrap_or_default(),
                r.from_port().unwrap_or(-1),
                r.to_port().unwrap_or(-1),
                r.cidr_ipv4().unwrap_or_default(),
                r.security_group_rule_id().unwrap_or_default()
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn exempt_groups_keep_their_rules_in_every_mode() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let inbox = AlertInbox::create(&sdk, "sg-safety").await.unwrap();
    let (by_id, by_id_event) = open_group(&ec2, "bastion", &[]).await;
    let (_, by_tag_event) = open_group(&ec2, "vpn", &[("trailwarden:exempt", "SEC-7")]).await;
    let before = all_rules(&ec2).await;
    assert!(before.iter().filter(|r| r.contains("0.0.0.0/0")).count() >= 4);

    for mode in ["revoke", "notify"] {
        for dry_run in ["false", "true"] {
            let st = state(
                &sdk,
                &inbox.topic_arn,
                &[
                    ("EXEMPT_GROUP_IDS", by_id.as_str()),
                    ("RESPONSE_MODE", mode),
                    ("DRY_RUN", dry_run),
                ],
            )
            .await;
            for event in [&by_id_event, &by_tag_event] {
                let out = invoke(&st, event).await.unwrap();
                assert_eq!(
                    out["stats"]["revoked"],
                    json!(0),
                    "{mode} {dry_run}: {out:#}"
                );
                assert_eq!(
                    out["stats"]["failed"],
                    json!(0),
                    "{mode} {dry_run}: {out:#}"
                );
                assert_eq!(
                    all_rules(&ec2).await,
                    before,
                    "{mode} dry-run={dry_run} changed a rule"
                );
            }
        }
    }
    // Every one of them was still reported.
    let alerts = inbox
        .receive(8, std::time::Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(alerts.len(), 8);
    drop(moto);
}

#[tokio::test]
async fn changes_by_our_own_roles_are_never_acted_on_and_dry_run_changes_nothing() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let inbox = AlertInbox::create(&sdk, "sg-safety").await.unwrap();
    let (_, mut event) = open_group(&ec2, "web", &[]).await;
    let before = all_rules(&ec2).await;

    // The same world-open change, made by a role listed in OWN_ROLE_ARNS.
    event["detail"]["userIdentity"] = json!({
        "type": "AssumedRole",
        "principalId": "AROA4EXAMPLETRAILWDN:security-group",
        "arn": "arn:aws:sts::123456789012:assumed-role/trailwarden-security-group/security-group",
        "accountId": "123456789012",
        "sessionContext": {"sessionIssuer": {"type": "Role",
            "principalId": "AROA4EXAMPLETRAILWDN",
            "arn": "arn:aws:iam::123456789012:role/trailwarden-security-group",
            "accountId": "123456789012", "userName": "trailwarden-security-group"}}
    });
    let own = state(
        &sdk,
        &inbox.topic_arn,
        &[(
            "OWN_ROLE_ARNS",
            "arn:aws:iam::123456789012:role/trailwarden-*",
        )],
    )
    .await;
    let out = invoke(&own, &event).await.unwrap();
    assert!(
        out["ignored"]
            .as_str()
            .unwrap_or_default()
            .contains("loop guard"),
        "{out:#}"
    );
    assert_eq!(all_rules(&ec2).await, before);
    assert!(inbox.drain().await.unwrap().is_empty());

    // Not our role, but dry-run: reported, nothing changed.
    let dry = state(&sdk, &inbox.topic_arn, &[("DRY_RUN", "true")]).await;
    let out = invoke(&dry, &fixture_with(&event, "alice")).await.unwrap();
    assert_eq!(out["dry_run"], json!(true));
    assert_eq!(out["stats"]["world_open_ingress"], json!(2), "{out:#}");
    assert_eq!(all_rules(&ec2).await, before);
    drop(moto);
}

/// The event as made by IAM user `name`.
fn fixture_with(event: &Value, name: &str) -> Value {
    let mut e = event.clone();
    e["detail"]["userIdentity"] = json!({
        "type": "IAMUser", "principalId": "AIDA4EXAMPLEUSER0001",
        "arn": format!("arn:aws:iam::123456789012:user/{name}"),
        "accountId": "123456789012", "userName": name});
    e
}
