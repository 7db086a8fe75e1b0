//! The local demo (`scripts/demo.sh`): seeds a local AWS emulator, runs every trailwarden
//! function on the matching sample events with real SDK calls, and shows what happened.
//!
//! It refuses to run unless `AWS_ENDPOINT_URL` points at this machine (127.0.0.1 or
//! localhost): it creates and deletes IAM users and security group rules.

use anyhow::{bail, Context, Result};
use aws_config::SdkConfig;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use trailwarden::respond::{Outcome, StatLines};
use trailwarden::{Payload, Severity};
use trailwarden_cli::functions::Function;
use trailwarden_testkit::AlertInbox;

const ACCOUNT: &str = "123456789012";
const TRAIL_BUCKET: &str = "trailwarden-trail-123456789012";
const CONFIG_BUCKET: &str = "trailwarden-demo-config";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn event(name: &str) -> Result<Value> {
    let p = root().join("events").join(name);
    let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
    Ok(serde_json::from_slice(&bytes)?)
}

fn heading(s: &str) {
    println!("\n\x1b[1m== {s}\x1b[0m");
}

fn ok(s: &str) {
    println!("   \x1b[32mOK\x1b[0m  {s}");
}

fn bad(s: &str) {
    println!("   \x1b[31mFAIL\x1b[0m {s}");
}

struct Demo {
    sdk: SdkConfig,
    common: Vec<(String, String)>,
    failures: usize,
}

impl Demo {
    fn env(&self, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = self.common.iter().cloned().collect();
        for (k, v) in extra {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    async fn run(
        &mut self,
        f: Function,
        ev: Value,
        extra: &[(&str, &str)],
    ) -> Result<Outcome<StatLines>> {
        let payload = Payload::from_value(ev)?;
        let env = self.env(extra);
        let ran = f.run(&self.sdk, &env, &payload).await?;
        if let Some(e) = &ran.error {
            println!("   (the function reported a partial failure: {e})");
        }
        let outcome = ran.outcome;
        println!("   {} -> {}", f.name(), payload.describe());
        if let Some(r) = &outcome.ignored {
            println!("   ignored: {r}");
        }
        if outcome.alerts.is_empty() && !outcome.stats.0.is_empty() {
            let stats: Vec<String> = outcome
                .stats
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!("   no alert; {}", stats.join(" "));
        }
        for a in &outcome.alerts {
            println!("   alert: {}", a.subject());
            for act in &a.actions {
                println!(
                    "     - {} {}: {}{}",
                    act.step,
                    act.target,
                    act.status.as_str(),
                    act.detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
            }
        }
        Ok(outcome)
    }

    fn check(&mut self, cond: bool, what: &str) {
        if cond {
            ok(what);
        } else {
            self.failures += 1;
            bad(what);
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    if !(endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:")) {
        bail!("the demo seeds and changes an AWS account: it runs only against a local emulator (AWS_ENDPOINT_URL=http://127.0.0.1:PORT); use scripts/demo.sh");
    }
    let sdk = trailwarden::aws::sdk_config().await;
    let inbox = AlertInbox::create(&sdk, "trailwarden-alerts").await?;
    let mut demo = Demo {
        sdk: sdk.clone(),
        common: vec![
            ("ALERT_TOPIC_ARN".into(), inbox.topic_arn.clone()),
            ("ACCOUNT_ALIAS".into(), "demo".into()),
            ("MIN_SEVERITY".into(), "low".into()),
        ],
        failures: 0,
    };
    println!("trailwarden demo against the AWS emulator at {endpoint}");
    println!(
        "alerts go to SNS topic {} (an SQS queue is subscribed)",
        inbox.topic_arn
    );

    unapproved_user(&mut demo).await?;
    credential_for_another_user(&mut demo).await?;
    security_group(&mut demo).await?;
    split_world_open(&mut demo).await?;
    root_activity(&mut demo).await?;
    catalog_real_time(&mut demo).await?;
    deployer_roles(&mut demo).await?;
    iam_grants_and_trusted_roles(&mut demo).await?;
    log_delivery(&mut demo).await?;
    log_integrity(&mut demo).await?;
    from_s3(&mut demo)?;

    heading("Alerts as the SNS subscriber received them");
    let alerts = inbox.receive(usize::MAX, Duration::from_secs(4)).await?;
    for a in &alerts {
        println!(
            "   [{:<8}] {}",
            a.attributes
                .get("severity")
                .map(String::as_str)
                .unwrap_or("?"),
            a.subject
        );
    }
    demo.check(
        alerts.len() >= 5,
        &format!("{} alerts received", alerts.len()),
    );

    heading("Summary");
    if demo.failures == 0 {
        println!("   every step did what it should");
        Ok(())
    } else {
        bail!("{} demo check(s) failed", demo.failures)
    }
}

async fn unapproved_user(demo: &mut Demo) -> Result<()> {
    heading("1. An IAM user created by someone who is not approved");
    let iam = aws_sdk_iam::Client::new(&demo.sdk);
    let user = "mallory";
    iam.create_user().user_name(user).send().await?;
    iam.create_login_profile()
        .user_name(user)
        .password("Correct-Horse-Battery-9")
        .send()
        .await?;
    for _ in 0..2 {
        iam.create_access_key().user_name(user).send().await?;
    }
    iam.put_user_policy()
        .user_name(user)
        .policy_name("backdoor")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await?;
    iam.attach_user_policy()
        .user_name(user)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await?;
    iam.create_group().group_name("developers").send().await?;
    iam.add_user_to_group()
        .group_name("developers")
        .user_name(user)
        .send()
        .await?;
    println!("   seeded: user {user} with a console password, 2 access keys, an inline admin policy, AdministratorAccess, group developers");
    let mut ev = event("iam-create-user-by-iam-user.json")?;
    let id = iam.get_user().user_name(user).send().await?;
    let user_id = id
        .user()
        .map(|u| u.user_id().to_string())
        .unwrap_or_default();
    ev["detail"]["responseElements"]["user"]["userId"] = json!(user_id);
    let _ = demo
        .run(
            Function::UnapprovedUser,
            ev,
            &[(
                "APPROVED_CREATOR_ARNS",
                "arn:aws:iam::123456789012:role/terraform-deployer",
            )],
        )
        .await?;
    let gone = iam.get_user().user_name(user).send().await.is_err();
    demo.check(gone, &format!("user {user} is gone"));
    let group = iam.get_group().group_name("developers").send().await?;
    demo.check(
        group.users().is_empty(),
        "group developers is left in place, without mallory",
    );
    Ok(())
}

async fn credential_for_another_user(demo: &mut Demo) -> Result<()> {
    heading("1b. An SSH key added to an existing user by someone who is not approved");
    let iam = aws_sdk_iam::Client::new(&demo.sdk);
    let user = "build-bot";
    iam.create_user().user_name(user).send().await?;
    let upload = |body: &'static str| {
        iam.upload_ssh_public_key()
            .user_name(user)
            .ssh_public_key_body(body)
            .send()
    };
    let own = upload(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyOfTheTeamOnly000000000000000000000 ci@build",
    )
    .await?
    .ssh_public_key
    .map(|k| k.ssh_public_key_id)
    .unwrap_or_default();
    let planted = upload(
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7ExampleKeyMaterialOnlyNotARealKey jdoe@laptop",
    )
    .await?
    .ssh_public_key
    .map(|k| k.ssh_public_key_id)
    .unwrap_or_default();
    println!("   seeded: user {user} with its team's SSH key {own}; DevOpsAdmin/jdoe uploads {planted} for it (CodeCommit over SSH)");
    let mut ev = event("iam-upload-ssh-public-key-for-other-user.json")?;
    ev["detail"]["responseElements"]["sSHPublicKey"]["sSHPublicKeyId"] = json!(planted);
    let _ = demo
        .run(
            Function::UnapprovedUser,
            ev,
            &[("CREDENTIAL_RESPONSE_MODE", "deactivate")],
        )
        .await?;
    let keys = iam.list_ssh_public_keys().user_name(user).send().await?;
    let status = |id: &str| {
        keys.ssh_public_keys()
            .iter()
            .find(|k| k.ssh_public_key_id() == id)
            .map(|k| k.status().as_str().to_string())
            .unwrap_or_default()
    };
    demo.check(
        status(&planted) == "Inactive" && status(&own) == "Active",
        &format!("the planted key {planted} is Inactive, the team's key {own} still Active"),
    );
    Ok(())
}

async fn security_group(demo: &mut Demo) -> Result<()> {
    heading("2. A security group opened to the world on SSH");
    let ec2 = aws_sdk_ec2::Client::new(&demo.sdk);
    let vpc = ec2.describe_vpcs().send().await?;
    let vpc_id = vpc
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .context("the emulator has no default VPC")?
        .to_string();
    let sg = ec2
        .create_security_group()
        .group_name("web-demo")
        .description("demo web servers")
        .vpc_id(&vpc_id)
        .send()
        .await?;
    let group_id = sg.group_id().context("no group id")?.to_string();
    let open = |port: i32, cidr: &str| {
        aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip(cidr).build())
            .build()
    };
    for (port, cidr) in [(22, "0.0.0.0/0"), (443, "0.0.0.0/0"), (22, "10.0.0.0/8")] {
        ec2.authorize_security_group_ingress()
            .group_id(&group_id)
            .ip_permissions(open(port, cidr))
            .send()
            .await?;
    }
    let rules = ingress_rules(&ec2, &group_id).await?;
    let ssh_world = rules
        .iter()
        .find(|(_, port, cidr)| *port == 22 && cidr == "0.0.0.0/0")
        .map(|(id, _, _)| id.clone())
        .context("world-open SSH rule not found")?;
    println!("   seeded: {group_id} (web-demo) with 0.0.0.0/0:22 ({ssh_world}), 0.0.0.0/0:443 and 10.0.0.0/8:22");
    let mut ev = event("ec2-authorize-ingress-nested-world-ssh.json")?;
    ev["detail"]["requestParameters"]["groupId"] = json!(group_id);
    ev["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["groupId"] =
        json!(group_id);
    ev["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["securityGroupRuleId"] =
        json!(ssh_world);
    let _ = demo.run(Function::SecurityGroup, ev, &[]).await?;
    let after = ingress_rules(&ec2, &group_id).await?;
    let left: Vec<String> = after.iter().map(|(_, p, c)| format!("{c}:{p}")).collect();
    println!("   ingress now: {}", left.join(", "));
    demo.check(
        !after.iter().any(|(id, _, _)| *id == ssh_world),
        "the world-open SSH rule is revoked",
    );
    demo.check(
        after.len() == 2,
        "HTTPS to the world and SSH from 10.0.0.0/8 remain",
    );
    Ok(())
}

/// The attack a `/0` check misses: the internet in two halves, `0.0.0.0/1` + `128.0.0.0/1`.
async fn split_world_open(demo: &mut Demo) -> Result<()> {
    heading("2b. The same exposure split in two halves (0.0.0.0/1 + 128.0.0.0/1)");
    let ec2 = aws_sdk_ec2::Client::new(&demo.sdk);
    let sg = ec2
        .create_security_group()
        .group_name("vendor-access-demo")
        .description("demo: vendor access")
        .send()
        .await?;
    let group_id = sg.group_id().context("no group id")?.to_string();
    let halves = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(
            aws_sdk_ec2::types::IpRange::builder()
                .cidr_ip("0.0.0.0/1")
                .build(),
        )
        .ip_ranges(
            aws_sdk_ec2::types::IpRange::builder()
                .cidr_ip("128.0.0.0/1")
                .build(),
        )
        .build();
    ec2.authorize_security_group_ingress()
        .group_id(&group_id)
        .ip_permissions(halves)
        .send()
        .await?;
    let rules = ingress_rules(&ec2, &group_id).await?;
    println!("   seeded: {group_id} with tcp/22 from 0.0.0.0/1 and from 128.0.0.0/1");
    let mut ev = event("ec2-authorize-ingress-split-world-ssh.json")?;
    ev["detail"]["requestParameters"]["groupId"] = json!(group_id);
    let items = ev["detail"]["responseElements"]["securityGroupRuleSet"]["items"]
        .as_array_mut()
        .context("the sample names its rules")?;
    for item in items.iter_mut() {
        let cidr = item["cidrIpv4"].as_str().unwrap_or_default().to_string();
        let id = rules
            .iter()
            .find(|(_, _, c)| *c == cidr)
            .map(|(id, _, _)| id.clone())
            .context("seeded rule not found")?;
        item["groupId"] = json!(group_id);
        item["securityGroupRuleId"] = json!(id);
    }
    let _ = demo.run(Function::SecurityGroup, ev, &[]).await?;
    let after = ingress_rules(&ec2, &group_id).await?;
    demo.check(
        after.is_empty(),
        "both halves are revoked: together they are the whole internet",
    );
    Ok(())
}

async fn ingress_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
) -> Result<Vec<(String, i32, String)>> {
    let out = ec2
        .describe_security_group_rules()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-id")
                .values(group)
                .build(),
        )
        .send()
        .await?;
    Ok(out
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .map(|r| {
            (
                r.security_group_rule_id().unwrap_or_default().to_string(),
                r.from_port().unwrap_or(-1),
                r.cidr_ipv4().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

async fn root_activity(demo: &mut Demo) -> Result<()> {
    heading("3. The root user signs in without MFA");
    let o = demo
        .run(
            Function::RootActivity,
            event("signin-root-success-no-mfa.json")?,
            &[],
        )
        .await?;
    let critical = o.alerts.iter().any(|a| a.severity == Severity::Critical);
    demo.check(critical, "a critical alert goes out");
    Ok(())
}

async fn catalog_real_time(demo: &mut Demo) -> Result<()> {
    heading("3b. Someone stops CloudTrail: the detection catalog alerts within seconds, once");
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let table = "trailwarden-demo-state";
    let ddb = aws_sdk_dynamodb::Client::new(&demo.sdk);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    ddb.create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .send()
        .await?;
    println!("   state table {table} (DynamoDB)");
    let env = [("STATE_TABLE", table)];
    let stop_logging = event("cloudtrail-stop-logging.json")?;
    let o = demo
        .run(Function::Catalog, stop_logging.clone(), &env)
        .await?;
    demo.check(
        o.alerts
            .iter()
            .any(|a| a.detection == "cloudtrail-tampering" && a.severity == Severity::Critical),
        "a critical cloudtrail-tampering alert, from the single event",
    );
    println!("   EventBridge delivers the same event again:");
    let again = demo.run(Function::Catalog, stop_logging, &env).await?;
    demo.check(
        again.alerts.is_empty() && again.ignored.is_some(),
        "the re-delivery publishes nothing (the event was recorded as handled)",
    );
    println!("   A CI role shares a snapshot with the backup account, then shares another with an unknown account:");
    let routine = demo
        .run(
            Function::Catalog,
            snapshot_shared(
                "snap-0dr1backup",
                "111100001111",
                "5f0d1c2e-3a4b-4c5d-8e6f-708192a3b4c5",
            ),
            &env,
        )
        .await?;
    let exfil = demo
        .run(
            Function::Catalog,
            snapshot_shared(
                "snap-0proddb",
                "999988887777",
                "6a1e2d3f-4b5c-4d6e-9f70-8192a3b4c5d6",
            ),
            &env,
        )
        .await?;
    let shared = |o: &Outcome<StatLines>| {
        o.alerts
            .iter()
            .any(|a| a.detection == "ec2-snapshot-shared-with-account")
    };
    demo.check(
        shared(&routine) && shared(&exfil),
        "both shares alerted: the routine one does not claim the incident of the second (a share is told apart by snapshot and grantee)",
    );
    println!("   The CI role creates a role named like a service-linked role (detections that leave out AWS's own sessions would pass its calls):");
    let disguised = demo
        .run(
            Function::Catalog,
            ci_creates_role(
                "AWSServiceRoleForSupportTools",
                "AROAEXAMPLEDISGUISE01",
                "7b2f3e40-5c6d-4e7f-8a91-a2b3c4d5e6f7",
            ),
            &env,
        )
        .await?;
    demo.check(
        disguised.alerts.iter().any(|a| {
            a.detection == "iam-role-named-like-service-linked-role" && a.severity == Severity::High
        }),
        "a high alert: a role made to pass as a service-linked role",
    );
    println!("   The root sign-in of step 3 reaches the catalog too (RESPONDERS set, as the stack does):");
    let responders = [
        ("STATE_TABLE", table),
        ("RESPONDERS", "root-activity,unapproved-user,security-group"),
    ];
    let root = demo
        .run(
            Function::Catalog,
            event("signin-root-success-no-mfa.json")?,
            &responders,
        )
        .await?;
    demo.check(
        root.alerts
            .iter()
            .all(|a| a.detection != "cis-4.3-root-usage"),
        "root use is left to root-activity, whose alert stands for it (no second root-use alert)",
    );
    Ok(())
}

/// An EventBridge delivery of a snapshot shared with `account` by a CI role session (always
/// the same session and time: one incident window).
fn snapshot_shared(snapshot: &str, account: &str, event_id: &str) -> Value {
    ci_call(
        "ec2",
        "ModifySnapshotAttribute",
        serde_json::json!({
            "snapshotId": snapshot,
            "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [{"userId": account}]}}
        }),
        serde_json::json!({"requestId": "0b6e2c1d-4f3a-4e5b-9c8d-7a6b5c4d3e2f", "_return": true}),
        event_id,
    )
}

/// The CI role creating the role `name` (unique id `role_id`), trusted by the CI role.
fn ci_creates_role(name: &str, role_id: &str, event_id: &str) -> Value {
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:role/ci-deploy"},
        "Action": "sts:AssumeRole"}]});
    ci_call(
        "iam",
        "CreateRole",
        serde_json::json!({"roleName": name, "path": "/",
            "assumeRolePolicyDocument": trust.to_string()}),
        serde_json::json!({"role": {
            "path": "/",
            "roleName": name,
            "roleId": role_id,
            "arn": format!("arn:aws:iam::123456789012:role/{name}"),
            "createDate": "Sep 12, 2024 10:02:11 AM"
        }}),
        event_id,
    )
}

/// An EventBridge delivery of a call to `service` by the CI role session of the demo.
fn ci_call(
    service: &str,
    event_name: &str,
    request: Value,
    response: Value,
    event_id: &str,
) -> Value {
    serde_json::json!({
        "version": "0",
        "id": event_id,
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{service}"),
        "account": "123456789012",
        "time": "2024-09-12T10:02:11Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLECIROLE0001:GitHubActions",
                "arn": "arn:aws:sts::123456789012:assumed-role/ci-deploy/GitHubActions",
                "accountId": "123456789012",
                "accessKeyId": "ASIAEXAMPLECI0000001",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROAEXAMPLECIROLE0001",
                        "arn": "arn:aws:iam::123456789012:role/ci-deploy",
                        "accountId": "123456789012",
                        "userName": "ci-deploy"
                    },
                    "attributes": {"creationDate": "2024-09-12T09:58:40Z", "mfaAuthenticated": "false"}
                }
            },
            "eventTime": "2024-09-12T10:02:11Z",
            "eventSource": format!("{service}.amazonaws.com"),
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.77",
            "userAgent": "aws-cli/2.17.0 Python/3.11.9 Linux/6.5.0 exe/x86_64.ubuntu.22",
            "requestParameters": request,
            "responseElements": response,
            "requestID": "0b6e2c1d-4f3a-4e5b-9c8d-7a6b5c4d3e2f",
            "eventID": event_id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "123456789012",
            "eventCategory": "Management"
        }
    })
}

/// An EventBridge delivery of a DeleteLogGroup by a session of `role`, which sends
/// Terraform's user agent.
fn log_group_deleted_by(role: &str, event_id: &str) -> Value {
    serde_json::json!({
        "version": "0",
        "id": event_id,
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.logs",
        "account": "123456789012",
        "time": "2024-09-12T09:02:11Z",
        "region": "us-east-1",
        "resources": [],
        "detail": trailwarden_testkit::harness::terraform_log_group_deletion("123456789012", role, event_id)
    })
}

async fn deployer_roles(demo: &mut Demo) -> Result<()> {
    heading("3c. Log groups deleted with Terraform's user agent: only the listed deployment role is trusted");
    let env = [(
        "DEPLOYER_ROLE_ARNS",
        "arn:aws:iam::123456789012:role/terraform",
    )];
    println!("   DEPLOYER_ROLE_ARNS=arn:aws:iam::123456789012:role/terraform");
    let pipeline = demo
        .run(
            Function::Catalog,
            log_group_deleted_by("terraform", "3f0c8a52-6d1e-4b7a-9c2f-5e8d1a4b7c60"),
            &env,
        )
        .await?;
    demo.check(
        pipeline
            .alerts
            .iter()
            .all(|a| a.detection != "logs-log-group-deleted"),
        "the pipeline's own role deleting a log group: no alert",
    );
    let copycat = demo
        .run(
            Function::Catalog,
            log_group_deleted_by("app-runtime", "8b2d4f61-0a3c-4e5b-8d7f-1c9e2a6b3d05"),
            &env,
        )
        .await?;
    demo.check(
        copycat
            .alerts
            .iter()
            .any(|a| a.detection == "logs-log-group-deleted"),
        "another role sending the same Terraform user agent: alerted",
    );
    Ok(())
}

async fn iam_grants_and_trusted_roles(demo: &mut Demo) -> Result<()> {
    heading("3d. IAM grants and trusted roles: an escalation grant, one alert for an admin grant, a role made to fit an approved creator");
    let env = [(
        "APPROVED_CREATOR_ARNS",
        "arn:aws:iam::*:role/stacksets-exec-*",
    )];
    println!("   APPROVED_CREATOR_ARNS=arn:aws:iam::*:role/stacksets-exec-*");
    let alerted = |o: &Outcome<StatLines>, id: &str| o.alerts.iter().any(|a| a.detection == id);
    let grant = |action: &str, event_id: &str| {
        let document = serde_json::json!({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]});
        ci_call(
            "iam",
            "PutRolePolicy",
            serde_json::json!({"roleName": "web-app", "policyName": "ops",
                "policyDocument": document.to_string()}),
            Value::Null,
            event_id,
        )
    };
    let attach = demo
        .run(
            Function::Catalog,
            grant("iam:Attach*", "5a1e7c20-3b4d-4f6a-8e9b-0c1d2e3f4a51"),
            &env,
        )
        .await?;
    demo.check(
        alerted(&attach, "iam-policy-grants-privilege-escalation"),
        "iam:Attach* on every resource: the role may attach any policy to itself, alerted",
    );
    let everything = demo
        .run(
            Function::Catalog,
            grant("*", "5a1e7c20-3b4d-4f6a-8e9b-0c1d2e3f4a52"),
            &env,
        )
        .await?;
    demo.check(
        alerted(&everything, "iam-inline-policy-grants-admin")
            && !alerted(&everything, "iam-policy-grants-privilege-escalation"),
        "* on every resource: one alert, the admin grant (the escalation detection gives way)",
    );
    let role = demo
        .run(
            Function::Catalog,
            ci_creates_role(
                "stacksets-exec-audit",
                "AROAEXAMPLESTACKSET01",
                "5a1e7c20-3b4d-4f6a-8e9b-0c1d2e3f4a53",
            ),
            &env,
        )
        .await?;
    demo.check(
        role.alerts.iter().any(|a| {
            a.detection == "approved-creator-role-created-or-trust-changed"
                && a.severity == Severity::High
        }),
        "a role made to fit an approved creator: a high alert (left ten minutes, it would approve the users it creates)",
    );
    Ok(())
}

async fn log_delivery(demo: &mut Demo) -> Result<()> {
    heading("4. CloudTrail delivers a log file: the detection catalog runs over every record");
    let s3 = trailwarden::aws::s3_client(&demo.sdk);
    s3.create_bucket().bucket(TRAIL_BUCKET).send().await?;
    let ev = event("s3-object-created-log-file.json")?;
    let key = ev["detail"]["object"]["key"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let file = root()
        .join("events/logs")
        .join(key.rsplit('/').next().unwrap_or_default());
    s3.put_object()
        .bucket(TRAIL_BUCKET)
        .key(&key)
        .body(std::fs::read(&file)?.into())
        .send()
        .await?;
    println!("   uploaded s3://{TRAIL_BUCKET}/{key}");
    let o = demo.run(Function::LogDelivery, ev, &[]).await?;
    demo.check(
        !o.alerts.is_empty(),
        &format!("{} aggregated finding(s) from one log file", o.alerts.len()),
    );
    Ok(())
}

/// The `trailwarden` command over the trail bucket as the steps above left it, as a user
/// with years of logs and no local copy runs it: `scan` and `validate` read S3 directly.
fn from_s3(demo: &mut Demo) -> Result<()> {
    heading("6. Years of logs, no local copy: trailwarden scan and validate read S3 directly");
    let bin = std::env::var("TRAILWARDEN_BIN")
        .context("TRAILWARDEN_BIN: the trailwarden command (scripts/demo.sh builds it)")?;
    let prefix = format!("s3://{TRAIL_BUCKET}/AWSLogs/");
    let resume = std::env::temp_dir().join(format!(
        "trailwarden-demo-resume-{}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&resume);
    let resume_arg = resume.display().to_string();
    let scan = || -> Result<(Option<i32>, Value)> {
        let out = Command::new(&bin)
            .args([
                "--format",
                "json",
                "scan",
                &prefix,
                "--resume-file",
                &resume_arg,
            ])
            .output()
            .with_context(|| format!("running {bin}"))?;
        let report = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "trailwarden scan printed no report: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        Ok((out.status.code(), report))
    };
    println!("   $ trailwarden scan {prefix} --resume-file {resume_arg}");
    let (code, report) = scan()?;
    let files = report["files"].as_array().map_or(0, Vec::len);
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    println!(
        "   {files} log files, {} records read from S3 (4 objects fetched at once); {} findings:",
        report["records"],
        findings.len()
    );
    for f in findings.iter().take(5) {
        println!(
            "   [{:<8}] {} ({} records)",
            f["severity"].as_str().unwrap_or("?"),
            f["title"].as_str().unwrap_or("?"),
            f["count"]
        );
    }
    demo.check(
        code == Some(0) && files > 0 && !findings.is_empty(),
        "every log file under the prefix scanned from S3, findings reported",
    );
    println!("   $ trailwarden scan {prefix} --resume-file {resume_arg}   (again)");
    let (code, again) = scan()?;
    let again_files = again["files"].as_array().map_or(usize::MAX, Vec::len);
    demo.check(
        code == Some(0) && again_files == 0,
        "run again with the same resume file: it continues after the last key, nothing is read twice",
    );
    let _ = std::fs::remove_file(&resume);

    let keys = root().join("events/trail/public-keys.json");
    println!("   $ trailwarden validate {prefix} --public-keys events/trail/public-keys.json");
    let out = Command::new(&bin)
        .args(["--format", "json", "validate", &prefix, "--public-keys"])
        .arg(&keys)
        .output()
        .with_context(|| format!("running {bin}"))?;
    let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "trailwarden validate printed no report: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let summary = &v["summary"];
    println!(
        "   digests: {} valid, {} invalid; log files: {} valid, {} invalid, {} missing",
        summary["digests_valid"],
        summary["digests_invalid"],
        summary["log_files_valid"],
        summary["log_files_invalid"],
        summary["log_files_missing"]
    );
    // The log files reported with a status (unlisted files are log lines too).
    let log_files = |status: &str| -> Vec<&str> {
        v["report"]["lines"]
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter(|l| l["kind"] == "log" && l["status"] == status)
                    .filter_map(|l| l["key"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    };
    let invalid = log_files("invalid");
    for k in &invalid {
        println!("   invalid: {k}");
    }
    demo.check(
        out.status.code() == Some(3) && v["valid"] == false && invalid.len() == 1,
        "the log file edited in step 5 is found again from S3 (exit code 3)",
    );
    let unlisted = log_files("unlisted");
    for k in &unlisted {
        println!("   listed in no digest: {k}");
    }
    demo.check(
        unlisted.len() == 1 && summary["log_files_unlisted"] == 1,
        "the log file uploaded in step 5, after the newest digest, is named as listed in no digest (so would a planted one be)",
    );
    Ok(())
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes)?;
    Ok(e.finish()?)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            files_under(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

async fn log_integrity(demo: &mut Demo) -> Result<()> {
    heading("5. Digest files arrive: signatures, log file hashes and the chain are verified");
    let s3 = trailwarden::aws::s3_client(&demo.sdk);
    s3.create_bucket().bucket(CONFIG_BUCKET).send().await?;
    let trail = root().join("events/trail");
    s3.put_object()
        .bucket(CONFIG_BUCKET)
        .key("public-keys.json")
        .body(std::fs::read(trail.join("public-keys.json"))?.into())
        .send()
        .await?;
    let mut files = Vec::new();
    files_under(&trail.join("AWSLogs"), &mut files)?;
    files.sort();
    let mut digests = Vec::new();
    for f in &files {
        let name = f.to_string_lossy();
        if name.ends_with(".metadata.json") {
            continue;
        }
        let key = f.strip_prefix(&trail)?.to_string_lossy().to_string();
        let mut put = s3
            .put_object()
            .bucket(TRAIL_BUCKET)
            .key(&key)
            .body(std::fs::read(f)?.into());
        let sidecar = PathBuf::from(format!("{name}.metadata.json"));
        if sidecar.exists() {
            let meta: HashMap<String, String> = serde_json::from_slice(&std::fs::read(&sidecar)?)?;
            for (k, v) in meta {
                put = put.metadata(k, v);
            }
            digests.push(key.clone());
        }
        put.send().await?;
    }
    println!(
        "   uploaded a trail: {} digests (signatures in x-amz-meta-signature) and their log files",
        digests.len()
    );
    let keys_uri = format!("s3://{CONFIG_BUCKET}/public-keys.json");
    let env = [("PUBLIC_KEYS_URI", keys_uri.as_str())];
    let notify = |key: &str| {
        json!({"version": "0", "id": "5f0e1c2a-demo", "detail-type": "Object Created", "source": "aws.s3",
               "account": ACCOUNT, "time": "2024-05-14T12:06:43Z", "region": "us-east-1",
               "resources": [format!("arn:aws:s3:::{TRAIL_BUCKET}")],
               "detail": {"bucket": {"name": TRAIL_BUCKET}, "object": {"key": key}}})
    };
    println!("   -- the untouched trail:");
    let mut quiet = true;
    for d in &digests {
        quiet &= demo
            .run(Function::LogIntegrity, notify(d), &env)
            .await?
            .alerts
            .is_empty();
    }
    demo.check(
        quiet,
        "every digest of the untouched trail is valid (no alert)",
    );
    // An attacker removes one record from a log file the newest digest lists.
    let newest = digests.last().context("no digest")?.clone();
    let digest = gunzip(&std::fs::read(trail.join(&newest))?)?;
    let digest: Value = serde_json::from_slice(&digest)?;
    let victim = digest["logFiles"][0]["s3Object"]
        .as_str()
        .context("newest digest lists no log file")?
        .to_string();
    let mut log: Value = serde_json::from_slice(&gunzip(&std::fs::read(trail.join(&victim))?)?)?;
    if let Some(r) = log["Records"].as_array_mut() {
        r.pop();
    }
    s3.put_object()
        .bucket(TRAIL_BUCKET)
        .key(&victim)
        .body(gzip(serde_json::to_vec(&log)?.as_slice())?.into())
        .send()
        .await?;
    println!("   -- after removing one record from {victim}:");
    let o = demo
        .run(Function::LogIntegrity, notify(&newest), &env)
        .await?;
    let caught = o.alerts.iter().any(|a| a.severity == Severity::Critical);
    demo.check(caught, "the edited log file is caught (critical)");
    Ok(())
}
