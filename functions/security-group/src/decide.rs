//! The pure part: from (payload, configuration) to a plan, and from a plan (plus what
//! execution learnt) to the alert. No AWS calls here.

use crate::config::{Config, ResponseMode};
use crate::rules::{Change, ChangeKind, Direction, Peer, Protocol, Rule};
use serde::Serialize;
use serde_json::json;
use trailwarden::alert::{Action, Alert, Severity, Status};
use trailwarden::{Payload, Principal, Record};

/// Detection id of world-open ingress on a port that is not allowed.
pub const DETECTION_WORLD_OPEN: &str = "ec2-sg-world-open-ingress";
/// Detection id of every other security group change (CIS 4.10).
pub const DETECTION_CHANGE: &str = "cis-4.10-security-group-changes";
/// The response step's name in alerts.
pub const STEP_REVOKE: &str = "revoke ingress rule";

const EC2_SOURCE: &str = "ec2.amazonaws.com";

/// How exposed a rule is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exposure {
    /// Not open to the whole internet (a narrower CIDR, a group, a prefix list).
    Restricted,
    /// Open to the whole internet, but only on allowed public ports.
    WorldAllowed,
    /// Open to the whole internet for ICMP/ICMPv6 (no ports; reported, never revoked).
    WorldIcmp,
    /// Open to the whole internet on a port that is not allowed.
    WorldRisky { critical: bool, reason: String },
}

fn port_name(p: u16) -> Option<&'static str> {
    Some(match p {
        22 => "SSH",
        3389 => "RDP",
        3306 => "MySQL",
        5432 => "PostgreSQL",
        1433 => "SQL Server",
        6379 => "Redis",
        9200 => "Elasticsearch/OpenSearch",
        27017 => "MongoDB",
        23 => "Telnet",
        445 => "SMB",
        5984 => "CouchDB",
        11211 => "Memcached",
        2049 => "NFS",
        _ => return None,
    })
}

fn named_port(p: u16) -> String {
    match port_name(p) {
        Some(n) => format!("{p} ({n})"),
        None => p.to_string(),
    }
}

/// Classifies one rule against the allowed and critical ports.
pub fn assess(config: &Config, rule: &Rule) -> Exposure {
    if !rule.peer.is_world() {
        return Exposure::Restricted;
    }
    match &rule.protocol {
        Protocol::All => Exposure::WorldRisky {
            critical: true,
            reason: "every protocol and every port is open to the internet".into(),
        },
        Protocol::Icmp | Protocol::Icmpv6 => Exposure::WorldIcmp,
        Protocol::Other(p) => Exposure::WorldRisky {
            critical: false,
            reason: format!("all traffic of IP protocol {p} is open to the internet"),
        },
        Protocol::Tcp | Protocol::Udp => {
            let (from, to) = rule.port_range().unwrap_or((0, 65535));
            if config.allowed_public_ports.covers(from, to) {
                return Exposure::WorldAllowed;
            }
            let critical = config.critical_ports.ports_within(from, to, 4);
            let allowed = format!("ALLOWED_PUBLIC_PORTS={}", config.allowed_public_ports);
            if from <= 1 && to == 65535 {
                Exposure::WorldRisky {
                    critical: true,
                    reason: format!(
                        "every {} port is open to the internet",
                        rule.protocol.api_value()
                    ),
                }
            } else if !critical.is_empty() {
                let names: Vec<String> = critical.into_iter().map(named_port).collect();
                Exposure::WorldRisky {
                    critical: true,
                    reason: format!(
                        "remote-administration/database port {} open to the internet",
                        names.join(", ")
                    ),
                }
            } else {
                let reason = if from == to {
                    format!("port {from} is not an allowed public port ({allowed})")
                } else {
                    format!("ports {from}-{to} are not all allowed public ports ({allowed})")
                };
                Exposure::WorldRisky {
                    critical: false,
                    reason,
                }
            }
        }
    }
}

/// One rule of the change and its exposure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub rule: Rule,
    pub exposure: Exposure,
}

impl Assessment {
    /// World-open on a port that is not allowed, and not known to be egress.
    pub fn risky_ingress(&self) -> bool {
        self.rule.direction != Direction::Egress
            && matches!(self.exposure, Exposure::WorldRisky { .. })
    }
    fn critical(&self) -> bool {
        matches!(self.exposure, Exposure::WorldRisky { critical: true, .. })
    }
}

/// One response step: revoke the rule of `assessment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Index into [`Plan::assessments`].
    pub assessment: usize,
    /// True when the step is to be carried out (revoke mode, not exempt by id).
    pub execute: bool,
    pub action: Action,
}

/// What was decided about one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    #[serde(skip)]
    pub record: Record,
    /// The event's own region: responses act there.
    pub region: Option<String>,
    pub change: Change,
    pub assessments: Vec<Assessment>,
    pub steps: Vec<Step>,
}

impl Plan {
    /// Rules this change added (or modified into) world-open ingress on a port that is not
    /// allowed. Removals never count.
    pub fn risky(&self) -> impl Iterator<Item = &Assessment> {
        let adds = matches!(self.change.kind, ChangeKind::Authorize | ChangeKind::Modify);
        self.assessments
            .iter()
            .filter(move |a| adds && a.risky_ingress())
    }
}

/// Facts about the group learnt by looking it up (name, VPC, exemption tag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFacts {
    pub name: Option<String>,
    pub vpc_id: Option<String>,
    /// `(key, value)` of the exemption tag when it exempts the group.
    pub exempt_tag: Option<(String, String)>,
}

/// The decision about one payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing to do or say, and why.
    Ignore(String),
    Act(Box<Plan>),
}

/// Decides what to do about a payload.
pub fn decide(config: &Config, payload: &Payload) -> Decision {
    let Some(record) = payload.record() else {
        return Decision::Ignore(format!(
            "{}: not a CloudTrail record, nothing for the security-group function",
            payload.describe()
        ));
    };
    let name = record.event_name();
    if record.event_source() != EC2_SOURCE {
        return Decision::Ignore(format!(
            "{name} from {:?} is not an EC2 security group change",
            record.event_source()
        ));
    }
    let Some(change) = Change::from_record(record) else {
        return Decision::Ignore(format!("{name} is not a security group change"));
    };
    if record.failed() {
        return Decision::Ignore(format!(
            "{name} failed ({}): nothing changed",
            record.error_code.as_deref().unwrap_or_default()
        ));
    }
    let principal = record.principal();
    if config.common.is_own(principal.match_arn()) {
        return Decision::Ignore(format!(
            "{name} by trailwarden's own role {}: not acted on (loop guard)",
            principal.match_arn().unwrap_or_default()
        ));
    }
    let region = record.aws_region.clone().or_else(|| match payload {
        Payload::CloudTrail(e) => e.region.clone(),
        _ => None,
    });
    let assessments: Vec<Assessment> = change
        .rules
        .iter()
        .map(|rule| Assessment {
            exposure: assess(config, rule),
            rule: rule.clone(),
        })
        .collect();
    let mut steps = Vec::new();
    if matches!(change.kind, ChangeKind::Authorize | ChangeKind::Modify) {
        let exempt_id = change
            .group_id
            .as_deref()
            .filter(|g| config.exempt_by_id(g));
        for (i, a) in assessments.iter().enumerate() {
            if !a.risky_ingress() {
                continue;
            }
            let target = step_target(&change, &a.rule);
            let (execute, action) = if let Some(g) = exempt_id {
                (
                    false,
                    Action::new(STEP_REVOKE, target, Status::Skipped)
                        .with_detail(format!("exempt: {g} is listed in EXEMPT_GROUP_IDS")),
                )
            } else if config.response_mode == ResponseMode::Notify {
                (
                    false,
                    Action::new(STEP_REVOKE, target, Status::Planned)
                        .with_detail("RESPONSE_MODE=notify: reported, not revoked"),
                )
            } else {
                let how = match (&a.rule.rule_id, a.rule.direction) {
                    (Some(_), Direction::Unknown) => "by rule id, if it is an ingress rule",
                    (Some(_), _) => "by rule id",
                    (None, _) => "by permission (the event names no rule id)",
                };
                (
                    true,
                    Action::new(STEP_REVOKE, target, Status::Planned).with_detail(format!(
                        "{how}, unless the group is tagged {}",
                        config.exempt_tag
                    )),
                )
            };
            steps.push(Step {
                assessment: i,
                execute,
                action,
            });
        }
    }
    Decision::Act(Box::new(Plan {
        record: record.clone(),
        region,
        change,
        assessments,
        steps,
    }))
}

fn step_target(change: &Change, rule: &Rule) -> String {
    let group = change.group_label(None);
    let what = format!("{} from {}", rule.traffic(), short_peer(&rule.peer));
    match &rule.rule_id {
        Some(id) => format!("{group} {id} ({what})"),
        None => format!("{group} ({what})"),
    }
}

/// Who made the call, briefly: `alice`, `deploy/ci-42`, `the root user`.
pub fn who(p: &Principal) -> String {
    match p {
        Principal::IamUser {
            user_name: Some(u), ..
        } => u.clone(),
        Principal::IdentityCenterRole {
            session_name: Some(s),
            ..
        } => s.clone(),
        Principal::AssumedRole {
            role_arn,
            session_name,
            ..
        } => {
            let role = role_arn.as_deref().and_then(|r| r.rsplit('/').next());
            match (role, session_name) {
                (Some(r), Some(s)) => format!("{r}/{s}"),
                (Some(r), None) => r.to_string(),
                _ => p.display(),
            }
        }
        Principal::Root { .. } => "the root user".into(),
        _ => p.display(),
    }
}

fn short_peer(p: &Peer) -> String {
    match p {
        Peer::Cidr { text, .. } => text.clone(),
        Peer::PrefixList { id } => id.clone(),
        Peer::Group { id, name, .. } => id.clone().or(name.clone()).unwrap_or_default(),
        Peer::Unspecified => "(no source)".into(),
    }
}

fn join_and(items: &[String], max: usize) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n if n <= max => format!("{} and {}", items[..n - 1].join(", "), items[n - 1]),
        n => format!("{} and {} more", items[..max - 1].join(", "), n - (max - 1)),
    }
}

/// One rule in words, for the change's direction and kind.
fn rule_phrase(rule: &Rule, long: bool) -> String {
    let peer = if long {
        rule.peer.to_string()
    } else {
        short_peer(&rule.peer)
    };
    format!("{} to {peer}", rule.traffic())
}

/// A rule as the response names it: `tcp/22 from 0.0.0.0/0`.
fn rule_ref(rule: &Rule) -> String {
    let fromto = if rule.direction == Direction::Egress {
        "to"
    } else {
        "from"
    };
    format!("{} {fromto} {}", rule.traffic(), short_peer(&rule.peer))
}

/// The change in words: "alice opened tcp/5432 to 10.0.0.0/8 on sg-0123 (web)".
pub fn describe(plan: &Plan, facts: Option<&GroupFacts>, long: bool) -> String {
    let c = &plan.change;
    let actor = who(&plan.record.principal());
    let group = c.group_label(facts.and_then(|f| f.name.as_deref()));
    let max = if long { 6 } else { 2 };
    let rules = |pred: &dyn Fn(&Rule) -> bool| -> String {
        let v: Vec<String> = c
            .rules
            .iter()
            .filter(|r| pred(r))
            .map(|r| rule_phrase(r, long))
            .collect();
        join_and(&v, max)
    };
    let ids = join_and(&c.rule_ids_only, max);
    let ingress = |r: &Rule| r.direction != Direction::Egress;
    let egress = |r: &Rule| r.direction == Direction::Egress;
    match c.kind {
        ChangeKind::Authorize => {
            let (i, e) = (rules(&ingress), rules(&egress));
            match (i.is_empty(), e.is_empty()) {
                (false, true) => format!("{actor} opened {i} on {group}"),
                (true, false) => format!("{actor} allowed outbound {e} from {group}"),
                (false, false) => format!("{actor} opened {i} on {group} and allowed outbound {e}"),
                (true, true) => format!("{actor} added rules to {group}"),
            }
        }
        ChangeKind::Revoke => {
            let dir = if c.direction == Direction::Egress {
                "outbound"
            } else {
                "inbound"
            };
            let r = rules(&|_| true);
            match (r.is_empty(), ids.is_empty()) {
                (false, true) => format!("{actor} closed {dir} {r} on {group}"),
                (true, false) => format!("{actor} removed {dir} rule(s) {ids} from {group}"),
                (false, false) => {
                    format!("{actor} closed {dir} {r} and removed rule(s) {ids} on {group}")
                }
                (true, true) => format!("{actor} removed {dir} rules from {group}"),
            }
        }
        ChangeKind::Modify => {
            let v: Vec<String> = c
                .rules
                .iter()
                .map(|r| {
                    let id = r.rule_id.as_deref().unwrap_or("(no id)");
                    format!("rule {id} to {}", rule_phrase(r, long))
                })
                .collect();
            let r = join_and(&v, max);
            if r.is_empty() {
                format!("{actor} modified rule(s) {ids} on {group}")
            } else {
                format!("{actor} changed {r} on {group}")
            }
        }
        ChangeKind::CreateGroup => {
            let vpc = c
                .vpc_id
                .as_deref()
                .or(facts.and_then(|f| f.vpc_id.as_deref()));
            match vpc {
                Some(v) => format!("{actor} created security group {group} in {v}"),
                None => format!("{actor} created security group {group}"),
            }
        }
        ChangeKind::DeleteGroup => format!("{actor} deleted security group {group}"),
    }
}

/// The alert's severity: critical/high for world-open ingress on ports that are not allowed,
/// low for other additions, info for removals and group creation/deletion.
pub fn severity(plan: &Plan) -> Severity {
    let (mut any, mut critical) = (false, false);
    for a in plan.risky() {
        any = true;
        critical |= a.critical();
    }
    match (any, critical, plan.change.kind) {
        (true, true, _) => Severity::Critical,
        (true, false, _) => Severity::High,
        (false, _, ChangeKind::Authorize | ChangeKind::Modify) => Severity::Low,
        _ => Severity::Info,
    }
}

fn outcome_prefix(plan: &Plan, dry_run: bool) -> Option<String> {
    let statuses: Vec<Status> = plan.steps.iter().map(|s| s.action.status).collect();
    if statuses.is_empty() {
        return None;
    }
    let count = |s: Status| statuses.iter().filter(|&&x| x == s).count();
    let removed = count(Status::Done) + count(Status::AlreadyDone);
    let planned = |execute: bool| {
        plan.steps
            .iter()
            .filter(|s| s.action.status == Status::Planned && s.execute == execute)
            .count()
    };
    Some(if count(Status::Failed) > 0 {
        "REVOKE FAILED".into()
    } else if planned(true) > 0 {
        if dry_run {
            "Would revoke".into()
        } else {
            "Not yet revoked".into()
        }
    } else if planned(false) > 0 {
        "Not revoked (notify mode)".into()
    } else if removed == statuses.len() {
        "Revoked".into()
    } else if removed > 0 {
        "Partly revoked".into()
    } else {
        "Not revoked (exempt)".into()
    })
}

fn exposure_words(a: &Assessment, config: &Config) -> String {
    match &a.exposure {
        Exposure::Restricted => "not open to the internet".into(),
        Exposure::WorldAllowed => format!(
            "open to the internet on an allowed public port (ALLOWED_PUBLIC_PORTS={})",
            config.allowed_public_ports
        ),
        Exposure::WorldIcmp => {
            "ICMP open to the internet: reported, not revoked (ping and Path MTU Discovery need it)"
                .into()
        }
        Exposure::WorldRisky { reason, .. } if a.rule.direction == Direction::Egress => {
            format!("egress: {reason} (egress is reported, never revoked)")
        }
        Exposure::WorldRisky { critical, reason } => {
            format!("{}: {reason}", if *critical { "CRITICAL" } else { "HIGH" })
        }
    }
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
        Direction::Unknown => "rule",
    }
}

/// The alert describing a plan, with the steps' current statuses.
pub fn alert(config: &Config, plan: &Plan, facts: Option<&GroupFacts>, dry_run: bool) -> Alert {
    let r = &plan.record;
    let sev = severity(plan);
    let risky: Vec<&Assessment> = plan.risky().collect();
    let detection = if risky.is_empty() {
        DETECTION_CHANGE
    } else {
        DETECTION_WORLD_OPEN
    };
    let group = plan
        .change
        .group_label(facts.and_then(|f| f.name.as_deref()));
    let title = if risky.is_empty() {
        describe(plan, facts, false)
    } else {
        let mut t: Vec<String> = risky.iter().map(|a| a.rule.traffic()).collect();
        t.dedup();
        // The outcome first: subjects are cut at 100 characters.
        let base = format!(
            "world-open {} on {group} by {}",
            join_and(&t, 3),
            who(&r.principal())
        );
        match outcome_prefix(plan, dry_run) {
            Some(s) => format!("{s}: {base}"),
            None => format!("Reported: {base}"),
        }
    };

    let mut summary = format!("{}.", describe(plan, facts, true));
    if let Some(ip) = &r.source_ip_address {
        summary.push_str(&format!(" The call came from {ip}."));
    }
    if !risky.is_empty() {
        summary.push_str(&format!(
            " Ingress open to the whole internet on a port that is not an allowed public port \
             (ALLOWED_PUBLIC_PORTS={}) lets anyone reach the instances behind {group}.",
            config.allowed_public_ports
        ));
        let reasons: Vec<String> = risky
            .iter()
            .filter_map(|a| match &a.exposure {
                Exposure::WorldRisky { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        summary.push_str(&format!(" Why: {}.", join_and(&reasons, 4)));
        summary.push(' ');
        summary.push_str(&response_sentence(plan, dry_run));
    }
    if plan
        .assessments
        .iter()
        .any(|a| a.rule.direction == Direction::Egress && a.rule.peer.is_world())
        && plan.change.kind != ChangeKind::Revoke
    {
        summary.push_str(" Egress rules are reported, never revoked.");
    }
    if plan
        .assessments
        .iter()
        .any(|a| a.exposure == Exposure::WorldIcmp && plan.change.kind != ChangeKind::Revoke)
    {
        summary.push_str(
            " World-open ICMP is reported but not revoked: ping and Path MTU Discovery need it.",
        );
    }

    let mut a = Alert::new(sev, detection, title).about(r);
    a.summary = summary;
    if plan.region.is_some() {
        a.region = plan.region.clone();
    }
    a.account_alias = config.common.account_alias.clone();
    a.dry_run = dry_run;
    let mut group_fact = group.clone();
    if let Some(v) = plan
        .change
        .vpc_id
        .as_deref()
        .or(facts.and_then(|f| f.vpc_id.as_deref()))
    {
        group_fact.push_str(&format!(" in {v}"));
    }
    a = a.fact("Security group", group_fact);
    if let Some(d) = &plan.change.group_description {
        a = a.fact("Group description", d.clone());
    }
    const MAX_RULE_FACTS: usize = 20;
    for (i, x) in plan.assessments.iter().enumerate().take(MAX_RULE_FACTS) {
        let verb = match plan.change.kind {
            ChangeKind::Revoke => "removed",
            ChangeKind::Modify => "now",
            _ => "added",
        };
        let dir = direction_word(x.rule.direction);
        let id = x
            .rule
            .rule_id
            .as_deref()
            .map(|i| format!(" [{i}]"))
            .unwrap_or_default();
        let descr = x
            .rule
            .description
            .as_deref()
            .map(|d| format!(" \"{d}\""))
            .unwrap_or_default();
        let fromto = if x.rule.direction == Direction::Egress {
            "to"
        } else {
            "from"
        };
        let mut line = format!(
            "{verb} {dir} {} {fromto} {}{id}{descr}",
            x.rule.traffic(),
            x.rule.peer
        );
        if plan.change.kind != ChangeKind::Revoke {
            line.push_str(&format!(" - {}", exposure_words(x, config)));
        }
        a = a.fact(format!("Rule {}", i + 1), line);
    }
    if plan.assessments.len() > MAX_RULE_FACTS {
        a = a.fact(
            "More rules",
            format!(
                "{} more not listed",
                plan.assessments.len() - MAX_RULE_FACTS
            ),
        );
    }
    if !plan.change.rule_ids_only.is_empty() {
        a = a.fact("Rule ids", plan.change.rule_ids_only.join(", "));
    }
    if !risky.is_empty() {
        a = a.fact("Response mode", config.response_mode.as_str());
        if let Some((k, v)) = facts.and_then(|f| f.exempt_tag.as_ref()) {
            a = a.fact("Exempt", format!("tagged {k}={v}"));
        } else if let Some(g) = plan
            .change
            .group_id
            .as_deref()
            .filter(|g| config.exempt_by_id(g))
        {
            a = a.fact("Exempt", format!("{g} is listed in EXEMPT_GROUP_IDS"));
        }
    }
    a.actions = plan.steps.iter().map(|s| s.action.clone()).collect();
    a.evidence = Some(json!({
        "requestParameters": r.request_parameters,
        "responseElements": r.response_elements,
    }));
    a.references = if risky.is_empty() {
        vec!["CIS AWS Foundations Benchmark 4.10 (security group changes)".into()]
    } else {
        vec![
            "CIS AWS Foundations Benchmark 4.10 (security group changes), 5.2/5.3 (no ingress from 0.0.0.0/0 or ::/0 to remote administration ports)".into(),
            "AWS Security Hub EC2.18, EC2.19 (unrestricted ingress on unauthorised / high-risk ports)".into(),
            "MITRE ATT&CK T1562.007 (Impair Defenses: Disable or Modify Cloud Firewall)".into(),
        ]
    };
    a
}

fn response_sentence(plan: &Plan, dry_run: bool) -> String {
    let pick = |s: Status| -> Vec<String> {
        plan.steps
            .iter()
            .filter(|x| x.action.status == s)
            .map(|x| rule_ref(&plan.assessments[x.assessment].rule))
            .collect()
    };
    let mut out = Vec::new();
    let done = pick(Status::Done);
    if !done.is_empty() {
        out.push(format!("trailwarden revoked {}.", join_and(&done, 4)));
    }
    let already = pick(Status::AlreadyDone);
    if !already.is_empty() {
        out.push(format!(
            "{} no longer existed (nothing left to revoke).",
            join_and(&already, 4)
        ));
    }
    let failed = pick(Status::Failed);
    if !failed.is_empty() {
        out.push(format!(
            "Revoking {} FAILED: the rule is still open; see Response below.",
            join_and(&failed, 4)
        ));
    }
    let planned = |execute: bool| -> Vec<String> {
        plan.steps
            .iter()
            .filter(|x| x.action.status == Status::Planned && x.execute == execute)
            .map(|x| rule_ref(&plan.assessments[x.assessment].rule))
            .collect()
    };
    let would = planned(true);
    if !would.is_empty() {
        out.push(format!(
            "{}{} would be revoked (RESPONSE_MODE=revoke){}.",
            if dry_run { "Dry run: " } else { "" },
            join_and(&would, 4),
            if dry_run { "; nothing was changed" } else { "" }
        ));
    }
    let notify = planned(false);
    if !notify.is_empty() {
        out.push(format!(
            "RESPONSE_MODE=notify: {} was not revoked; revoke it by hand if it is not intended.",
            join_and(&notify, 4)
        ));
    }
    for x in plan
        .steps
        .iter()
        .filter(|x| x.action.status == Status::Skipped)
    {
        out.push(format!(
            "{} was not revoked ({}).",
            rule_ref(&plan.assessments[x.assessment].rule),
            x.action.detail.as_deref().unwrap_or("skipped")
        ));
    }
    out.join(" ")
}
