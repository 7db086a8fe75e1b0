//! Against moto: real EC2 calls over HTTP, alerts read back from an SQS queue subscribed to
//! the alert topic. Each test builds the CloudTrail event from what moto answered (group and
//! rule ids), runs the Lambda handler on it and looks at the account afterwards.

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, SecurityGroupRule, SecurityGroupRuleRequest,
    SecurityGroupRuleUpdate, Tag, TagSpecification,
};
use security_group::{handler, Config, State};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use trailwarden_testkit::{AlertInbox, Moto, ReceivedAlert};

const OWN_ROLES: &str = "arn:aws:iam::*:role/trailwarden-*";

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn state(sdk: &aws_config::SdkConfig, inbox: &AlertInbox, extra: &[(&str, &str)]) -> State {
    let mut env: HashMap<String, String> = [
        ("ALERT_TOPIC_ARN", inbox.topic_arn.as_str()),
        ("OWN_ROLE_ARNS", OWN_ROLES),
        ("ACCOUNT_ALIAS", "moto-test"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    State::new(sdk, Config::from_env(&env).unwrap())
}

async fn create_group(ec2: &aws_sdk_ec2::Client, name: &str, tags: &[(&str, &str)]) -> String {
    let mut req = ec2
        .create_security_group()
        .group_name(name)
        .description(format!("{name} tier"));
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::SecurityGroup);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        req = req.tag_specifications(spec.build());
    }
    req.send().await.unwrap().group_id().unwrap().to_string()
}

fn tcp(port: i32, cidrs: &[&str]) -> IpPermission {
    let mut p = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port);
    for c in cidrs {
        p = p.ip_ranges(IpRange::builder().cidr_ip(*c).build());
    }
    p.build()
}

async fn authorize(ec2: &aws_sdk_ec2::Client, gid: &str, perms: &[IpPermission]) {
    ec2.authorize_security_group_ingress()
        .group_id(gid)
        .set_ip_permissions(Some(perms.to_vec()))
        .send()
        .await
        .unwrap();
}

/// The group's ingress rules as moto has them now.
async fn ingress(ec2: &aws_sdk_ec2::Client, gid: &str) -> Vec<SecurityGroupRule> {
    ec2.describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(gid).build())
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .cloned()
        .collect()
}

/// `tcp/22 0.0.0.0/0` for each rule, sorted, to compare what is left.
fn summary(rules: &[SecurityGroupRule]) -> Vec<String> {
    let mut v: Vec<String> = rules
        .iter()
        .map(|r| {
            format!(
                "{}/{} {}",
                r.ip_protocol().unwrap_or_default(),
                r.from_port().unwrap_or(-1),
                r.cidr_ipv4().unwrap_or_default()
            )
        })
        .collect();
    v.sort();
    v
}

fn find<'a>(rules: &'a [SecurityGroupRule], port: i32, cidr: &str) -> &'a SecurityGroupRule {
    rules
        .iter()
        .find(|r| r.from_port() == Some(port) && r.cidr_ipv4() == Some(cidr))
        .unwrap_or_else(|| panic!("no rule {port} {cidr}"))
}

/// A rule as CloudTrail writes it in `responseElements.securityGroupRuleSet.items`.
fn rule_item(r: &SecurityGroupRule) -> Value {
    json!({
        "groupOwnerId": trailwarden_testkit::ACCOUNT_ID,
        "groupId": r.group_id(),
        "securityGroupRuleId": r.security_group_rule_id(),
        "isEgress": r.is_egress(),
        "ipProtocol": r.ip_protocol(),
        "fromPort": r.from_port(),
        "toPort": r.to_port(),
        "cidrIpv4": r.cidr_ipv4(),
    })
}

/// A permission as CloudTrail writes it in `requestParameters.ipPermissions.items`.
fn permission_item(p: &IpPermission) -> Value {
    let ranges: Vec<Value> = p
        .ip_ranges()
        .iter()
        .map(|r| json!({"cidrIp": r.cidr_ip()}))
        .collect();
    json!({"ipProtocol": p.ip_protocol(), "fromPort": p.from_port(), "toPort": p.to_port(),
           "groups": {}, "ipRanges": {"items": ranges}, "ipv6Ranges": {}, "prefixListIds": {}})
}

/// The EventBridge event of the `AuthorizeSecurityGroupIngress` call that created `created`.
fn authorize_event(gid: &str, perms: &[IpPermission], created: &[&SecurityGroupRule]) -> Value {
    let mut v = fixture("ec2-authorize-ingress-nested-world-ssh.json");
    let d = &mut v["detail"];
    d["requestParameters"] = json!({"groupId": gid, "ipPermissions": {"items":
        perms.iter().map(permission_item).collect::<Vec<_>>()}});
    d["responseElements"]["securityGroupRuleSet"]["items"] =
        Value::Array(created.iter().map(|r| rule_item(r)).collect());
    v
}

async fn invoke(state: &State, v: Value) -> Result<Value, lambda_runtime::Error> {
    handler(
        state,
        lambda_runtime::LambdaEvent::new(v, lambda_runtime::Context::default()),
    )
    .await
}

async fn one_alert(inbox: &AlertInbox) -> ReceivedAlert {
    let mut got = inbox.receive(1, Duration::from_secs(15)).await.unwrap();
    assert_eq!(got.len(), 1, "expected exactly one alert");
    got.remove(0)
}

fn actions(a: &ReceivedAlert) -> Vec<(String, String, String)> {
    a.body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["target"].as_str().unwrap().to_string(),
                x["status"].as_str().unwrap().to_string(),
                x["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn only_the_world_open_ssh_rule_is_revoked_and_running_twice_is_fine() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let inbox = AlertInbox::create(&sdk, "sg-main").await.unwrap();
    let gid = create_group(&ec2, "web", &[]).await;
    let perms = [
        tcp(22, &["0.0.0.0/0", "10.0.0.0/8"]),
        tcp(443, &["0.0.0.0/0"]),
    ];
    authorize(&ec2, &gid, &perms).await;
    let before = ingress(&ec2, &gid).await;
    let world_ssh = find(&before, 22, "0.0.0.0/0");
    let world_ssh_id = world_ssh.security_group_rule_id().unwrap().to_string();
    let created: Vec<&SecurityGroupRule> = before.iter().collect();
    let event = authorize_event(&gid, &perms, &created);
    let state = state(&sdk, &inbox, &[]);

    let out = invoke(&state, event.clone()).await.unwrap();
    assert_eq!(out["stats"]["revoked"], json!(1), "{out:#}");

    let after = ingress(&ec2, &gid).await;
    assert_eq!(
        summary(&after),
        vec!["tcp/22 10.0.0.0/8", "tcp/443 0.0.0.0/0"],
        "only the world-open SSH rule is gone"
    );

    let alert = one_alert(&inbox).await;
    assert_eq!(alert.attributes["severity"], "critical");
    assert!(
        alert.subject.starts_with(&format!(
            "[CRITICAL] Revoked: world-open tcp/22 on {gid} (web) by alice"
        )),
        "{}",
        alert.subject
    );
    let summary_text = alert.body["summary"].as_str().unwrap();
    assert!(
        summary_text.contains(&format!(
            "alice opened tcp/22 to 0.0.0.0/0 (the whole IPv4 internet), tcp/22 to 10.0.0.0/8 and tcp/443 to 0.0.0.0/0 (the whole IPv4 internet) on {gid} (web)"
        )),
        "{summary_text}"
    );
    assert!(
        summary_text.contains("trailwarden revoked tcp/22 from 0.0.0.0/0."),
        "{summary_text}"
    );
    assert!(summary_text.contains("203.0.113.24"), "{summary_text}");
    assert_eq!(
        actions(&alert),
        vec![(
            format!("{gid} {world_ssh_id} (tcp/22 from 0.0.0.0/0)"),
            "done".to_string(),
            "revoked by rule id".to_string()
        )]
    );
    assert_eq!(
        alert.body["event"]["actor"],
        "arn:aws:iam::123456789012:user/alice"
    );

    // EventBridge delivers at least once: the second delivery finds the rule gone.
    let out = invoke(&state, event).await.unwrap();
    assert_eq!(out["stats"]["already_gone"], json!(1), "{out:#}");
    assert_eq!(summary(&ingress(&ec2, &gid).await), summary(&after));
    let again = one_alert(&inbox).await;
    assert_eq!(
        actions(&again),
        vec![(
            format!("{gid} {world_ssh_id} (tcp/22 from 0.0.0.0/0)"),
            "already_done".to_string(),
            "the rule no longer exists".to_string()
        )]
    );
    assert!(again.body["summary"]
        .as_str()
        .unwrap()
        .contains("no longer existed"));
}

#[tokio::test]
async fn a_group_tagged_exempt_keeps_its_rule_and_false_does_not_exempt() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let inbox = AlertInbox::create(&sdk, "sg-exempt").await.unwrap();
    let state = state(&sdk, &inbox, &[]);
    let perms = [tcp(22, &["0.0.0.0/0"])];

    let bastion = create_group(&ec2, "bastion", &[("trailwarden:exempt", "ticket SEC-142")]).await;
    authorize(&ec2, &bastion, &perms).await;
    let rules = ingress(&ec2, &bastion).await;
    let out = invoke(&state, authorize_event(&bastion, &perms, &[&rules[0]]))
        .await
        .unwrap();
    assert_eq!(out["stats"]["skipped"], json!(1), "{out:#}");
    assert_eq!(
        summary(&ingress(&ec2, &bastion).await),
        vec!["tcp/22 0.0.0.0/0"]
    );
    let alert = one_alert(&inbox).await;
    assert_eq!(alert.attributes["severity"], "critical");
    assert!(
        alert
            .subject
            .contains("Not revoked (exempt): world-open tcp/22"),
        "{}",
        alert.subject
    );
    let (_, status, detail) = &actions(&alert)[0];
    assert_eq!(status, "skipped");
    assert_eq!(
        detail,
        "exempt: the group is tagged trailwarden:exempt=ticket SEC-142"
    );
    assert_eq!(
        alert.body["facts"]["Exempt"],
        "tagged trailwarden:exempt=ticket SEC-142"
    );

    let plain = create_group(&ec2, "tagged-false", &[("trailwarden:exempt", "false")]).await;
    authorize(&ec2, &plain, &perms).await;
    let rules = ingress(&ec2, &plain).await;
    invoke(&state, authorize_event(&plain, &perms, &[&rules[0]]))
        .await
        .unwrap();
    assert!(
        ingress(&ec2, &plain).await.is_empty(),
        "\"false\" does not exempt"
    );
    let alert = one_alert(&inbox).await;
    assert!(
        alert.subject.contains("Revoked: world-open tcp/22"),
        "{}",
        alert.subject
    );
}

#[tokio::test]
async fn dry_run_and_notify_change_nothing() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let inbox = AlertInbox::create(&sdk, "sg-dry").await.unwrap();
    let gid = create_group(&ec2, "web", &[]).await;
    let perms = [tcp(3389, &["0.0.0.0/0"])];
    authorize(&ec2, &gid, &perms).await;
    let rules = ingress(&ec2, &gid).await;
    let event = authorize_event(&gid, &perms, &[&rules[0]]);

    let dry = state(&sdk, &inbox, &[("DRY_RUN", "true")]);
    let out = invoke(&dry, event.clone()).await.unwrap();
    assert_eq!(out["dry_run"], json!(true));
    assert_eq!(
        summary(&ingress(&ec2, &gid).await),
        vec!["tcp/3389 0.0.0.0/0"]
    );
    let alert = one_alert(&inbox).await;
    assert!(
        alert
            .subject
            .starts_with("[CRITICAL] [dry-run] Would revoke: world-open tcp/3389"),
        "{}",
        alert.subject
    );
    assert_eq!(alert.body["dry_run"], json!(true));
    assert_eq!(actions(&alert)[0].1, "planned");

    let notify = state(&sdk, &inbox, &[("RESPONSE_MODE", "notify")]);
    invoke(&notify, event).await.unwrap();
    assert_eq!(
        summary(&ingress(&ec2, &gid).await),
        vec!["tcp/3389 0.0.0.0/0"]
    );
    let alert = one_alert(&inbox).await;
    assert!(
        alert
            .subject
            .contains("Not revoked (notify mode): world-open tcp/3389 on"),
        "{}",
        alert.subject
    );
    // The lookup still names the group.
    assert!(alert.subject.contains("(web)"), "{}", alert.subject);
}

#[tokio::test]
async fn flat_event_without_rule_ids_is_revoked_by_permission_in_the_events_region() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config(); // us-east-1; the group lives in eu-west-1
    let ec2_eu = aws_sdk_ec2::Client::new(&moto.sdk_config_in("eu-west-1"));
    let inbox = AlertInbox::create(&sdk, "sg-flat").await.unwrap();
    let gid = create_group(&ec2_eu, "rdp", &[]).await;
    ec2_eu
        .authorize_security_group_ingress()
        .group_id(&gid)
        .ip_protocol("tcp")
        .from_port(3389)
        .to_port(3389)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    let mut event = fixture("ec2-authorize-ingress-flat-world.json");
    event["detail"]["requestParameters"]["groupId"] = json!(gid);
    event["detail"]["responseElements"] = json!({"requestId": "r-1", "_return": true});
    let state = state(&sdk, &inbox, &[]);

    invoke(&state, event.clone()).await.unwrap();
    assert!(ingress(&ec2_eu, &gid).await.is_empty());
    let alert = one_alert(&inbox).await;
    assert_eq!(alert.attributes["region"], "eu-west-1");
    assert_eq!(
        actions(&alert),
        vec![(
            format!("{gid} (tcp/3389 from 0.0.0.0/0)"),
            "done".to_string(),
            "revoked by permission".to_string()
        )]
    );

    invoke(&state, event).await.unwrap();
    assert_eq!(actions(&one_alert(&inbox).await)[0].1, "already_done");
}

async fn modify_to_world_mysql(ec2: &aws_sdk_ec2::Client, gid: &str, rule_id: &str) {
    ec2.modify_security_group_rules()
        .group_id(gid)
        .security_group_rules(
            SecurityGroupRuleUpdate::builder()
                .security_group_rule_id(rule_id)
                .security_group_rule(
                    SecurityGroupRuleRequest::builder()
                        .ip_protocol("tcp")
                        .from_port(3306)
                        .to_port(3306)
                        .cidr_ipv4("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rule_modified_to_world_open_is_revoked_only_when_ingress() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let inbox = AlertInbox::create(&sdk, "sg-modify").await.unwrap();
    let state = state(&sdk, &inbox, &[]);
    let gid = create_group(&ec2, "db", &[]).await;
    authorize(&ec2, &gid, &[tcp(3306, &["10.0.0.0/8"])]).await;
    let rule_id = ingress(&ec2, &gid).await[0]
        .security_group_rule_id()
        .unwrap()
        .to_string();
    modify_to_world_mysql(&ec2, &gid, &rule_id).await;
    assert_eq!(
        summary(&ingress(&ec2, &gid).await),
        vec!["tcp/3306 0.0.0.0/0"]
    );

    let mut event = fixture("ec2-modify-security-group-rules-world.json");
    let req = &mut event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"];
    req["GroupId"] = json!(gid);
    req["SecurityGroupRule"]["SecurityGroupRuleId"] = json!(rule_id);
    invoke(&state, event.clone()).await.unwrap();
    assert!(ingress(&ec2, &gid).await.is_empty());
    let alert = one_alert(&inbox).await;
    assert_eq!(alert.attributes["severity"], "critical");
    assert_eq!(actions(&alert)[0].1, "done");

    // The same change on an egress rule is reported, not revoked.
    let egress_id = ec2
        .describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(&gid).build())
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .iter()
        .find(|r| r.is_egress() == Some(true))
        .and_then(|r| r.security_group_rule_id())
        .expect("a new group has its default egress rule")
        .to_string();
    modify_to_world_mysql(&ec2, &gid, &egress_id).await;
    let req = &mut event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"];
    req["SecurityGroupRule"]["SecurityGroupRuleId"] = json!(egress_id);
    invoke(&state, event).await.unwrap();
    let alert = one_alert(&inbox).await;
    assert_eq!(alert.attributes["severity"], "low");
    assert_eq!(
        actions(&alert)[0].1.as_str(),
        "skipped",
        "{:?}",
        actions(&alert)
    );
    assert_eq!(actions(&alert)[0].2, "egress rule: reported, never revoked");
}

#[tokio::test]
async fn our_own_revocation_is_silent() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config();
    let inbox = AlertInbox::create(&sdk, "sg-own").await.unwrap();
    let state = state(&sdk, &inbox, &[]);
    let out = invoke(&state, fixture("ec2-revoke-ingress-by-trailwarden.json"))
        .await
        .unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("own role"));
    assert!(
        inbox.drain().await.unwrap().is_empty(),
        "no alert for our own revocation"
    );
}
