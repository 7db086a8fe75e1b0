//! `trailwarden doctor`: checks a deployment from the user's credentials and says, per account
//! and region, what is missing or wrong and what fixes it.
//!
//! In the account and region of the credentials (the security-tooling account, us-east-1):
//! the stack's functions (their roles, `<stack>-<Function>Role-*`), the trail (logging,
//! multi-region, log file validation), its bucket's notifications to EventBridge, its KMS key
//! (the log functions' roles and the key policy allow `kms:Decrypt`), the stack's EventBridge
//! rules (`<stack>-*`, enabled), and the alert topic's subscriptions (confirmed). With
//! `--accounts` and `--member-role`: the member role can be assumed in each account, and in
//! each of `--regions` a rule forwards events to this account's bus.
//!
//! Every line is OK, WARN (could not be checked, or worth a look) or PROBLEM (trailwarden
//! misses events or cannot act), with the command or setting that fixes it. Exit code 0 when
//! nothing is a PROBLEM, 1 otherwise.

use crate::Format;
use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::ExitCode;
use trailwarden::aws::access::key_policy_statement;
use trailwarden::aws::CallError;
use trailwarden::glob::glob_match;
use trailwarden_functions::Function;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The stack to check (its resources are named after it).
    #[arg(default_value = "trailwarden")]
    pub stack: String,
    /// The trail to check (name or ARN); default: every trail the account sees.
    #[arg(long)]
    pub trail: Option<String>,
    /// Member accounts to check (comma-separated account ids).
    #[arg(long, value_delimiter = ',')]
    pub accounts: Vec<String>,
    /// The responder role the member template creates in each member account (its name).
    #[arg(long, requires = "accounts")]
    pub member_role: Option<String>,
    /// Regions in which each member account must forward events (comma-separated); default:
    /// the region of the credentials.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Ok,
    Warn,
    Problem,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Problem => "PROBLEM",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub account: String,
    pub region: String,
    pub level: Level,
    /// What was checked (`trail main`, `rule trailwarden-...`).
    pub subject: String,
    pub detail: String,
    /// The command or setting that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

struct Report {
    checks: Vec<Check>,
}

struct Place {
    account: String,
    region: String,
}

impl Report {
    fn add(
        &mut self,
        at: &Place,
        level: Level,
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            account: at.account.clone(),
            region: at.region.clone(),
            level,
            subject: subject.into(),
            detail: detail.into(),
            fix,
        });
    }
    fn ok(&mut self, at: &Place, subject: impl Into<String>, detail: impl Into<String>) {
        self.add(at, Level::Ok, subject, detail, None);
    }
    fn warn(
        &mut self,
        at: &Place,
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.add(at, Level::Warn, subject, detail, Some(fix.into()));
    }
    fn problem(
        &mut self,
        at: &Place,
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.add(at, Level::Problem, subject, detail, Some(fix.into()));
    }
}

/// The function's logical id in the template (`log-delivery` -> `LogDeliveryFunction`).
fn logical_id(function: &str) -> String {
    let mut out = String::new();
    for part in function.split('-') {
        let mut c = part.chars();
        if let Some(f) = c.next() {
            out.push(f.to_ascii_uppercase());
            out.push_str(c.as_str());
        }
    }
    out + "Function"
}

/// The roles of the stack's functions, by function name (SAM names them
/// `<stack>-<LogicalId>Role-<suffix>`, the stack name cut when the whole is too long).
async fn function_roles(
    iam: &aws_sdk_iam::Client,
    stack: &str,
) -> Result<BTreeMap<String, String>, CallError> {
    let roles =
        trailwarden::aws::collect_all(iam.list_roles().into_paginator().items().send()).await?;
    let mut out = BTreeMap::new();
    for f in Function::ALL {
        let role_part = format!("{}Role-", logical_id(f.name()));
        let prefix = format!("{stack}-{role_part}");
        let found = roles.iter().find(|r| r.role_name().starts_with(&prefix));
        if let Some(r) = found {
            out.insert(f.name().to_string(), r.arn().to_string());
        }
    }
    Ok(out)
}

/// The statements of a policy document (a single statement object or an array).
fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    }
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn action_matches(pattern: &str, action: &str) -> bool {
    glob_match(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// True when an Allow statement of `doc` grants `action` on `resource` (an identity policy).
fn identity_allows(doc: &Value, action: &str, resource: &str) -> bool {
    statements(doc).iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Action"])
                .iter()
                .any(|a| action_matches(a, action))
            && strings(&s["Resource"])
                .iter()
                .any(|r| glob_match(r, resource))
    })
}

/// How a key policy treats a principal for `kms:Decrypt`.
#[derive(Debug, PartialEq, Eq)]
enum KeyGrant {
    /// A statement names the role (or everyone).
    Role,
    /// A statement names the role's account root: the account's IAM policies decide.
    Account,
    None,
}

fn key_policy_allows(doc: &Value, role_arn: &str) -> KeyGrant {
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let mut best = KeyGrant::None;
    for s in statements(doc) {
        if s["Effect"] != "Allow"
            || !strings(&s["Action"])
                .iter()
                .any(|a| action_matches(a, "kms:Decrypt"))
        {
            continue;
        }
        let principals: Vec<&str> = match &s["Principal"] {
            Value::String(p) => vec![p.as_str()],
            p => strings(&p["AWS"]),
        };
        for p in principals {
            if p == "*" || glob_match(p, role_arn) {
                return KeyGrant::Role;
            }
            if p == account || p.ends_with(&format!(":{account}:root")) {
                best = KeyGrant::Account;
            }
        }
    }
    best
}

/// The inline policies of a role, parsed.
async fn role_policies(iam: &aws_sdk_iam::Client, role_arn: &str) -> Result<Vec<Value>, CallError> {
    let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let names = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|e| CallError::from_sdk(&e))?;
    let mut out = Vec::new();
    for p in names.policy_names() {
        let doc = iam
            .get_role_policy()
            .role_name(name)
            .policy_name(p)
            .send()
            .await
            .map_err(|e| CallError::from_sdk(&e))?;
        let text = percent_decode(doc.policy_document());
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            out.push(v);
        }
    }
    Ok(out)
}

/// IAM returns policy documents URL-encoded.
fn percent_decode(s: &str) -> String {
    if !s.trim_start().starts_with('%') && s.trim_start().starts_with('{') {
        return s.to_string();
    }
    trailwarden::payload::decode_s3_key(&s.replace('+', "%2B")).unwrap_or_else(|_| s.to_string())
}

/// Everything `doctor` looks at, with the clients of the credentials' account and region.
struct Doctor {
    sdk: aws_config::SdkConfig,
    args: DoctorArgs,
    report: Report,
    here: Place,
}

pub async fn doctor(args: DoctorArgs, format: Format) -> Result<ExitCode> {
    let sdk = trailwarden::aws::sdk_config().await;
    let region = sdk.region().map(|r| r.to_string()).context(
        "no AWS region configured: set AWS_REGION (trailwarden's stack lives in us-east-1)",
    )?;
    let who = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| CallError::from_sdk(&e))
        .context("sts:GetCallerIdentity (are AWS credentials configured?)")?;
    let account = who.account().unwrap_or("unknown").to_string();
    let mut d = Doctor {
        sdk,
        args,
        report: Report { checks: Vec::new() },
        here: Place { account, region },
    };
    let roles = d.check_stack().await;
    let trails = d.check_trails().await;
    for t in &trails {
        d.check_bucket(t).await;
        d.check_key(t, &roles).await;
    }
    d.check_rules().await;
    d.check_topic().await;
    d.check_members().await;
    print(&d.report.checks, format);
    let problems = d.report.checks.iter().any(|c| c.level == Level::Problem);
    Ok(if problems {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What doctor keeps of a trail.
struct TrailInfo {
    name: String,
    bucket: Option<String>,
    kms_key: Option<String>,
}

impl Doctor {
    /// The stack's functions are present: each has its role.
    async fn check_stack(&mut self) -> BTreeMap<String, String> {
        let stack = self.args.stack.clone();
        let iam = aws_sdk_iam::Client::new(&self.sdk);
        let roles = match function_roles(&iam, &stack).await {
            Ok(r) => r,
            Err(e) => {
                self.report.warn(
                    &self.here,
                    format!("stack {stack}"),
                    format!("cannot list IAM roles: {e}"),
                    "run doctor with credentials allowed iam:ListRoles",
                );
                return BTreeMap::new();
            }
        };
        let missing: Vec<&str> = Function::ALL
            .iter()
            .map(|f| f.name())
            .filter(|n| !roles.contains_key(*n))
            .collect();
        if roles.is_empty() {
            self.report.problem(
                &self.here,
                format!("stack {stack}"),
                format!("none of its functions is deployed in this account (no role {stack}-<Function>Role-*)"),
                format!("deploy it here: sam build && sam deploy --stack-name {stack} --region {} (or give the stack's name: trailwarden doctor NAME)", self.here.region),
            );
        } else if !missing.is_empty() {
            self.report.problem(
                &self.here,
                format!("stack {stack}"),
                format!("functions missing: {}", missing.join(", ")),
                format!("update the stack from this version of trailwarden: sam build && sam deploy --stack-name {stack}"),
            );
        } else {
            self.report.ok(
                &self.here,
                format!("stack {stack}"),
                format!("all {} functions present", roles.len()),
            );
        }
        roles
    }

    /// The trails: logging, multi-region, log file validation.
    async fn check_trails(&mut self) -> Vec<TrailInfo> {
        let ct = aws_sdk_cloudtrail::Client::new(&self.sdk);
        let listed = match watchdog::execute::describe_trails(&ct, None).await {
            Ok(l) => l,
            Err(e) => {
                self.report.warn(&self.here, "trail", format!("cannot describe trails: {e}"), "allow cloudtrail:DescribeTrails and cloudtrail:GetTrailStatus to the credentials doctor runs with");
                return Vec::new();
            }
        };
        let wanted = self.args.trail.clone();
        let trails: Vec<_> = listed
            .iter()
            .filter(|t| match &wanted {
                Some(w) => t.name() == Some(w.as_str()) || t.trail_arn() == Some(w.as_str()),
                None => true,
            })
            .cloned()
            .collect();
        if trails.is_empty() {
            let (detail, fix) = match &wanted {
                Some(w) => (format!("no trail {w} in this account"), "check the name (aws cloudtrail describe-trails), or leave --trail out".to_string()),
                None => (
                    "no trail: CloudTrail sends no events to EventBridge and writes no log files".to_string(),
                    "deploy the stack with ExistingTrailBucketName empty (it creates a multi-region trail), or create one: aws cloudtrail create-trail --name main --s3-bucket-name BUCKET --is-multi-region-trail --enable-log-file-validation && aws cloudtrail start-logging --name main".to_string(),
                ),
            };
            self.report.problem(&self.here, "trail", detail, fix);
            return Vec::new();
        }
        let mut out = Vec::new();
        for t in trails {
            let name = t.name().unwrap_or("?").to_string();
            let arn = t.trail_arn().unwrap_or(&name).to_string();
            let subject = format!("trail {name}");
            match ct.get_trail_status().name(&arn).send().await {
                Ok(s) if s.is_logging() == Some(true) => {
                    self.report.ok(&self.here, subject.clone(), "logging")
                }
                Ok(_) => self.report.problem(
                    &self.here,
                    subject.clone(),
                    "not logging: no events reach EventBridge and no log files are written",
                    format!("aws cloudtrail start-logging --name {arn}"),
                ),
                Err(e) => self.report.warn(
                    &self.here,
                    subject.clone(),
                    format!("cannot read its status: {}", CallError::from_sdk(&e)),
                    "allow cloudtrail:GetTrailStatus to the credentials doctor runs with",
                ),
            }
            if t.is_multi_region_trail() == Some(true) {
                self.report.ok(&self.here, subject.clone(), "multi-region");
            } else {
                self.report.problem(
                    &self.here,
                    subject.clone(),
                    "single-region: events of the other regions are not recorded",
                    format!("aws cloudtrail update-trail --name {arn} --is-multi-region-trail"),
                );
            }
            if t.log_file_validation_enabled() == Some(true) {
                self.report
                    .ok(&self.here, subject.clone(), "log file validation on");
            } else {
                self.report.problem(&self.here, subject.clone(), "log file validation off: no digests, so log-integrity cannot tell an edited or deleted log file", format!("aws cloudtrail update-trail --name {arn} --enable-log-file-validation"));
            }
            out.push(TrailInfo {
                name,
                bucket: t.s3_bucket_name().map(str::to_string),
                kms_key: t.kms_key_id().map(str::to_string),
            });
        }
        out
    }

    /// The trail bucket sends its object events to EventBridge (what the log functions' rules
    /// receive).
    async fn check_bucket(&mut self, t: &TrailInfo) {
        let Some(bucket) = &t.bucket else { return };
        let subject = format!("bucket {bucket}");
        let mut s3 = trailwarden::aws::s3_client(&self.sdk);
        let mut at = Place {
            account: self.here.account.clone(),
            region: self.here.region.clone(),
        };
        let mut answer = s3
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await;
        // A bucket in another region: ask again there.
        let moved = answer
            .as_ref()
            .err()
            .is_some_and(|e| trailwarden::aws::access::wrong_region(&CallError::from_sdk(e)));
        if moved {
            if let Ok(loc) = s3.get_bucket_location().bucket(bucket).send().await {
                let region = match loc.location_constraint().map(|c| c.as_str()) {
                    None | Some("") => "us-east-1".to_string(),
                    Some("EU") => "eu-west-1".to_string(),
                    Some(r) => r.to_string(),
                };
                s3 =
                    trailwarden::aws::s3_client(&trailwarden::aws::with_region(&self.sdk, &region));
                at.region = region;
                answer = s3
                    .get_bucket_notification_configuration()
                    .bucket(bucket)
                    .send()
                    .await;
            }
        }
        match answer {
            Ok(n) if n.event_bridge_configuration().is_some() => {
                self.report
                    .ok(&at, subject, "sends its object events to EventBridge");
            }
            Ok(n) => {
                let others = n.topic_configurations().len()
                    + n.queue_configurations().len()
                    + n.lambda_function_configurations().len();
                let keep = if others > 0 {
                    format!(" (it has {others} other notification(s): put-bucket-notification-configuration replaces them all, so add \"EventBridgeConfiguration\": {{}} to the output of aws s3api get-bucket-notification-configuration --bucket {bucket} and put that back; or keep your SNS/SQS route and set LogNotificationTopicArn / LogFileQueueArn)")
                } else {
                    String::new()
                };
                self.report.problem(
                    &at,
                    subject,
                    format!("does not send notifications to EventBridge: log-delivery and log-integrity never run for trail {}", t.name),
                    format!("aws s3api put-bucket-notification-configuration --bucket {bucket} --notification-configuration '{{\"EventBridgeConfiguration\": {{}}}}'{keep}"),
                );
            }
            Err(e) => {
                let e = CallError::from_sdk(&e);
                self.report.warn(
                    &at,
                    subject,
                    format!("cannot read its notification configuration ({e}): only the bucket's owner can"),
                    "run doctor with the bucket owner's credentials, or check in the S3 console (bucket, Properties, Amazon EventBridge) that \"Send notifications to Amazon EventBridge\" is on and the log-archive template forwards them",
                );
            }
        }
    }

    /// The trail's KMS key lets the log functions decrypt: their roles are granted
    /// kms:Decrypt on it, and the key policy allows them (or leaves it to IAM in their own
    /// account).
    async fn check_key(&mut self, t: &TrailInfo, roles: &BTreeMap<String, String>) {
        let Some(key) = &t.kms_key else { return };
        let subject = format!("KMS key of trail {}", t.name);
        let readers: Vec<(&str, &String)> = ["log-delivery", "log-integrity"]
            .iter()
            .filter_map(|f| roles.get(*f).map(|r| (*f, r)))
            .collect();
        if readers.is_empty() {
            return;
        }
        let iam = aws_sdk_iam::Client::new(&self.sdk);
        let role_arns: Vec<String> = readers.iter().map(|(_, r)| (*r).clone()).collect();
        for (f, role) in &readers {
            match role_policies(&iam, role).await {
                Ok(docs) if docs.iter().any(|d| identity_allows(d, "kms:Decrypt", key)) => {
                    self.report.ok(&self.here, subject.clone(), format!("{f}'s role is granted kms:Decrypt on {key}"));
                }
                Ok(_) => self.report.problem(
                    &self.here,
                    subject.clone(),
                    format!("{f}'s role {role} is not granted kms:Decrypt on {key}: every log file read fails"),
                    format!("deploy the stack with TrailKmsKeyArn={key}"),
                ),
                Err(e) => self.report.warn(&self.here, subject.clone(), format!("cannot read {f}'s role policies: {e}"), "allow iam:ListRolePolicies and iam:GetRolePolicy to the credentials doctor runs with"),
            }
        }
        let key_region = key
            .split(':')
            .nth(3)
            .unwrap_or(&self.here.region)
            .to_string();
        let kms = aws_sdk_kms::Client::new(&trailwarden::aws::with_region(&self.sdk, &key_region));
        let statement = key_policy_statement(&role_arns);
        let fix = format!(
            "add this statement to the key policy of {key} (in the key's account): {statement}"
        );
        match kms
            .get_key_policy()
            .key_id(key)
            .policy_name("default")
            .send()
            .await
        {
            Ok(p) => {
                let doc: Value =
                    serde_json::from_str(p.policy().unwrap_or("{}")).unwrap_or(Value::Null);
                let key_account = key.split(':').nth(4).unwrap_or_default();
                let mut missing = Vec::new();
                for (f, role) in &readers {
                    match key_policy_allows(&doc, role) {
                        KeyGrant::Role => {}
                        // The role's own account delegates to IAM (checked above).
                        KeyGrant::Account if role.split(':').nth(4) == Some(key_account) => {}
                        _ => missing.push(format!("{f} ({role})")),
                    }
                }
                if missing.is_empty() {
                    self.report.ok(
                        &self.here,
                        subject,
                        "the key policy lets the log functions decrypt",
                    );
                } else {
                    self.report.problem(
                        &self.here,
                        subject,
                        format!("the key policy does not let {} decrypt", missing.join(", ")),
                        fix,
                    );
                }
            }
            Err(e) => {
                let e = CallError::from_sdk(&e);
                self.report.warn(
                    &self.here,
                    subject,
                    format!("cannot read the key policy of {key} ({e}); a key in another account can only be read there"),
                    format!("run doctor with the key account's credentials, or check that the key policy holds: {statement}"),
                );
            }
        }
    }

    /// The stack's EventBridge rules are enabled.
    async fn check_rules(&mut self) {
        let events = aws_sdk_eventbridge::Client::new(&self.sdk);
        let prefix = format!("{}-", self.args.stack);
        let mut rules = Vec::new();
        let mut token: Option<String> = None;
        loop {
            match events
                .list_rules()
                .name_prefix(&prefix)
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(page) => {
                    rules.extend(page.rules().iter().cloned());
                    token = page.next_token().map(str::to_string);
                    if token.is_none() {
                        break;
                    }
                }
                Err(e) => {
                    self.report.warn(
                        &self.here,
                        "rules",
                        format!("cannot list EventBridge rules: {}", CallError::from_sdk(&e)),
                        "allow events:ListRules to the credentials doctor runs with",
                    );
                    return;
                }
            }
        }
        if rules.is_empty() {
            self.report.problem(
                &self.here,
                "rules",
                format!("no EventBridge rule named {prefix}*: no event reaches trailwarden"),
                format!(
                    "deploy the stack here: sam deploy --stack-name {} --region {}",
                    self.args.stack, self.here.region
                ),
            );
            return;
        }
        let mut enabled = 0;
        for r in &rules {
            let name = r.name().unwrap_or("?");
            match r.state().map(|s| s.as_str()) {
                Some("DISABLED") => self.report.problem(
                    &self.here,
                    format!("rule {name}"),
                    "disabled: the function behind it receives nothing",
                    format!("aws events enable-rule --name {name} (or, for a rule that must see read-only events: aws events put-rule --name {name} --state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS with its pattern)"),
                ),
                _ => enabled += 1,
            }
        }
        if enabled > 0 {
            self.report.ok(
                &self.here,
                "rules",
                format!("{enabled} of {} rules enabled", rules.len()),
            );
        }
    }

    /// The alert topic has confirmed subscriptions.
    async fn check_topic(&mut self) {
        let sns = aws_sdk_sns::Client::new(&self.sdk);
        let marker = format!(":{}-AlertTopic-", self.args.stack);
        let topics = match trailwarden::aws::collect_all(
            sns.list_topics().into_paginator().items().send(),
        )
        .await
        {
            Ok(t) => t,
            Err(e) => {
                self.report.warn(&self.here, "alert topic", format!("cannot list SNS topics: {e}"), "allow sns:ListTopics and sns:ListSubscriptionsByTopic to the credentials doctor runs with");
                return;
            }
        };
        let Some(topic) = topics
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|a| a.contains(&marker))
        else {
            self.report.problem(
                &self.here,
                "alert topic",
                format!(
                    "no topic {}-AlertTopic-*: alerts go nowhere",
                    self.args.stack
                ),
                format!(
                    "deploy the stack here: sam deploy --stack-name {}",
                    self.args.stack
                ),
            );
            return;
        };
        let subject = format!("alert topic {}", topic.rsplit(':').next().unwrap_or(topic));
        let subs = match trailwarden::aws::collect_all(
            sns.list_subscriptions_by_topic()
                .topic_arn(topic)
                .into_paginator()
                .items()
                .send(),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                self.report.warn(
                    &self.here,
                    subject,
                    format!("cannot list its subscriptions: {e}"),
                    "allow sns:ListSubscriptionsByTopic to the credentials doctor runs with",
                );
                return;
            }
        };
        if subs.is_empty() {
            self.report.problem(&self.here, subject, "no subscription: nobody receives the alerts", format!("set AlertEmail on the stack, or: aws sns subscribe --topic-arn {topic} --protocol email --notification-endpoint you@example.com"));
            return;
        }
        let mut confirmed = 0;
        for s in &subs {
            let endpoint = s.endpoint().unwrap_or("?");
            let protocol = s.protocol().unwrap_or("?");
            if s.subscription_arn() == Some("PendingConfirmation") {
                self.report.problem(
                    &self.here,
                    subject.clone(),
                    format!("{protocol} subscription {endpoint} is not confirmed: it receives nothing"),
                    format!("open the \"AWS Notification - Subscription Confirmation\" message sent to {endpoint} and confirm (or send it again: aws sns subscribe --topic-arn {topic} --protocol {protocol} --notification-endpoint {endpoint})"),
                );
            } else {
                confirmed += 1;
            }
        }
        if confirmed > 0 {
            self.report.ok(
                &self.here,
                subject,
                format!("{confirmed} confirmed subscription(s)"),
            );
        }
    }

    /// In an organization: each member account's responder role can be assumed, and in each
    /// region a rule forwards events to this account's bus.
    async fn check_members(&mut self) {
        let Some(role) = self.args.member_role.clone() else {
            if !self.args.accounts.is_empty() {
                self.report.warn(
                    &self.here,
                    "member accounts",
                    "--accounts given without --member-role: members not checked",
                    "add --member-role <the member template's role name>",
                );
            }
            return;
        };
        let regions = if self.args.regions.is_empty() {
            vec![self.here.region.clone()]
        } else {
            self.args.regions.clone()
        };
        let sts = aws_sdk_sts::Client::new(&self.sdk);
        for account in self.args.accounts.clone() {
            let at = Place {
                account: account.clone(),
                region: self.here.region.clone(),
            };
            let arn = format!("arn:aws:iam::{account}:role/{role}");
            let creds = match sts
                .assume_role()
                .role_arn(&arn)
                .role_session_name("trailwarden-doctor")
                .send()
                .await
            {
                Ok(out) => match out.credentials() {
                    Some(c) => aws_sdk_sts::config::Credentials::new(
                        c.access_key_id(),
                        c.secret_access_key(),
                        Some(c.session_token().to_string()),
                        None,
                        "trailwarden-doctor",
                    ),
                    None => continue,
                },
                Err(e) => {
                    self.report.problem(
                        &at,
                        format!("member role {role}"),
                        format!("cannot be assumed ({}): trailwarden cannot respond in this account", CallError::from_sdk(&e)),
                        format!("deploy the member template to it: aws cloudformation create-stack-instances --stack-set-name trailwarden-member --accounts {account} --regions {} (README, \"Organizations\")", regions.join(" ")),
                    );
                    continue;
                }
            };
            self.report.ok(
                &at,
                format!("member role {role}"),
                format!("{arn} can be assumed"),
            );
            let member_sdk = self
                .sdk
                .to_builder()
                .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(creds))
                .build();
            for region in &regions {
                let at = Place {
                    account: account.clone(),
                    region: region.clone(),
                };
                let events = aws_sdk_eventbridge::Client::new(&trailwarden::aws::with_region(
                    &member_sdk,
                    region,
                ));
                match forwards_to(&events, &self.here.account).await {
                    Ok(Some(rule)) => self.report.ok(&at, "forwarder", format!("rule {rule} forwards events to account {}", self.here.account)),
                    Ok(None) => self.report.problem(
                        &at,
                        "forwarder",
                        format!("no rule forwards events to account {}'s event bus: nothing that happens in {region} reaches trailwarden", self.here.account),
                        format!("aws cloudformation create-stack-instances --stack-set-name trailwarden-member --accounts {account} --regions {region}"),
                    ),
                    Err(e) => self.report.warn(&at, "forwarder", format!("cannot list rules with {role}: {e}"), "check the forwarder stack instance in the StackSets console (or allow events:ListRules and events:ListTargetsByRule to the member role)"),
                }
            }
        }
    }
}

/// The first rule whose target is an event bus of `tooling_account`.
async fn forwards_to(
    events: &aws_sdk_eventbridge::Client,
    tooling_account: &str,
) -> Result<Option<String>, CallError> {
    let rules = events
        .list_rules()
        .send()
        .await
        .map_err(|e| CallError::from_sdk(&e))?;
    for r in rules.rules() {
        let Some(name) = r.name() else { continue };
        let targets = events
            .list_targets_by_rule()
            .rule(name)
            .send()
            .await
            .map_err(|e| CallError::from_sdk(&e))?;
        if targets.targets().iter().any(|t| {
            t.arn().contains(":event-bus/") && t.arn().split(':').nth(4) == Some(tooling_account)
        }) {
            return Ok(Some(name.to_string()));
        }
    }
    Ok(None)
}

fn print(checks: &[Check], format: Format) {
    let problems = checks.iter().filter(|c| c.level == Level::Problem).count();
    let warnings = checks.iter().filter(|c| c.level == Level::Warn).count();
    if format == Format::Json {
        let v = json!({"ok": problems == 0, "problems": problems, "warnings": warnings, "checks": checks});
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    let mut places: Vec<(&str, &str)> = Vec::new();
    for c in checks {
        if !places.contains(&(c.account.as_str(), c.region.as_str())) {
            places.push((c.account.as_str(), c.region.as_str()));
        }
    }
    for (account, region) in places {
        outln!("account {account}, {region}");
        for c in checks
            .iter()
            .filter(|c| c.account == account && c.region == region)
        {
            outln!("  {:<8} {}: {}", c.level.as_str(), c.subject, c.detail);
            if let Some(fix) = &c.fix {
                outln!("  {:<8} fix: {fix}", "");
            }
        }
        outln!();
    }
    outln!("{problems} problem(s), {warnings} warning(s)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_follow_the_template() {
        assert_eq!(logical_id("log-delivery"), "LogDeliveryFunction");
        assert_eq!(logical_id("catalog"), "CatalogFunction");
    }

    #[test]
    fn policies_are_read_as_iam_reads_them() {
        let role = "arn:aws:iam::123456789012:role/trailwarden-LogDeliveryFunctionRole-AB12";
        let key = "arn:aws:kms:eu-west-1:111111111111:key/0f1e2d3c";
        let doc =
            json!({"Statement": [{"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key}]});
        assert!(identity_allows(&doc, "kms:Decrypt", key));
        assert!(!identity_allows(
            &doc,
            "kms:Decrypt",
            "arn:aws:kms:eu-west-1:111111111111:key/other"
        ));
        let policy = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"}]});
        assert_eq!(key_policy_allows(&policy, role), KeyGrant::None);
        let with = json!({"Statement": [policy["Statement"][0].clone(), key_policy_statement(&[role.to_string()])]});
        assert_eq!(key_policy_allows(&with, role), KeyGrant::Role);
        let own = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}});
        assert_eq!(key_policy_allows(&own, role), KeyGrant::Account);
        assert_eq!(
            percent_decode("%7B%22Statement%22%3A%5B%5D%7D"),
            "{\"Statement\":[]}"
        );
    }
}
