//! All wording: the alert for a case and its walked plan, the steps' names and targets, the
//! reasons steps were held back, ignore reasons, and the typed statistics. Pure.

use crate::config::Config;
use crate::decide::{Assessed, Case, Ignored, PrefixList, Step, Why};
use crate::exposure::{Exposure, Risk};
use crate::rules::{Change, ChangeKind, Direction, Peer, Protocol, Rule};
use crate::{Output, SecurityGroup, NAME};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use trailwarden::alert::{part, Action, Alert, Status};
use trailwarden::respond::{Plan, PlannedStep, Report, Reporting, StepKind};
use trailwarden::Principal;

/// Detection id of world-open ingress on a port that is not allowed.
pub const DETECTION_WORLD_OPEN: &str = "ec2-sg-world-open-ingress";
/// Detection id of a customer-managed prefix list made to hold world-open entries.
pub const DETECTION_PREFIX_LIST: &str = "ec2-prefix-list-world-open";
/// Detection id of every other security group change (CIS 4.10).
pub const DETECTION_CHANGE: &str = "cis-4.10-security-group-changes";
/// The response step's name in alerts.
pub const STEP_REVOKE: &str = "revoke ingress rule";

trailwarden::counters! {
    /// The function's counters.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct SgStats {
        /// Rules the event named.
        rules: usize => "rules",
        /// Of those, world-open ingress on ports that are not allowed.
        world_open_ingress: usize => "world-open ingress",
        revoked: usize => "revoked",
        /// Rules (or groups) already gone, or no longer world-open, when looked at.
        already_gone: usize => "already gone",
        skipped: usize => "skipped",
        failed: usize => "failed",
    }
}

/// What became of one revocation, as execution found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    Done { by_id: bool },
    RuleGone,
    GroupGone,
    ReturnFalse,
    NoGroup,
    NoIdNorSource,
    Error(String),
}

pub fn revoked(r: &Revoked) -> String {
    match r {
        Revoked::Done { by_id: true } => "revoked by rule id".into(),
        Revoked::Done { by_id: false } => "revoked by permission".into(),
        Revoked::RuleGone => "the rule no longer exists".into(),
        Revoked::GroupGone => "the security group no longer exists".into(),
        Revoked::ReturnFalse => "ec2:RevokeSecurityGroupIngress answered Return=false".into(),
        Revoked::NoGroup => "not attempted: the event names no security group".into(),
        Revoked::NoIdNorSource => "not attempted: the rule has neither an id nor a source".into(),
        Revoked::Error(e) => e.clone(),
    }
}

/// Why a step was held back or settled before executing.
pub fn why(w: &Why) -> String {
    match w {
        Why::ExemptId(g) => format!("exempt: {g} is listed in EXEMPT_GROUP_IDS"),
        Why::ExemptTag(k, v) => format!("exempt: the group is tagged {k}={v}"),
        Why::Notify => "RESPONSE_MODE=notify: reported, not revoked".into(),
        Why::ExemptAccount(a) => {
            format!("exempt: account {a} is exempt in ACCOUNT_SETTINGS_URI: reported, not revoked")
        }
        Why::Egress => "egress rule: reported, never revoked".into(),
        Why::Gone => "the rule no longer exists".into(),
        Why::GroupGone => "the security group no longer exists".into(),
        Why::NoLongerWorldOpen(now) => format!(
            "rule {} now allows {} from {}: left alone",
            now.rule_id.as_deref().unwrap_or("(no id)"),
            traffic(now),
            short_peer(&now.peer)
        ),
    }
}

/// Why a payload was ignored.
pub fn ignored(i: &Ignored) -> String {
    match i {
        Ignored::NotCloudTrail(what) => {
            format!("{what}: not a CloudTrail record, nothing for the security-group function")
        }
        Ignored::NotEc2 { event, source } => {
            format!("{event} from {source:?} is not an EC2 security group change")
        }
        Ignored::NotSecurityGroupChange(event) => {
            format!("{event} is not a security group change")
        }
        Ignored::Failed { event, code } => format!("{event} failed ({code}): nothing changed"),
        Ignored::OwnRole { event, arn } => {
            format!("{event} by trailwarden's own role {arn}: not acted on (loop guard)")
        }
    }
}

/// A look-up before deciding failed: nothing was revoked.
pub fn lookup_failed(e: &str) -> String {
    format!("not attempted: nothing revoked until the group can be read: {e}")
}

/// The group (and its exemption tag) could not be read.
pub fn exemption_unknown(tag: &str, e: &str) -> String {
    format!("not attempted: could not check the exemption tag {tag}: {e}")
}

/// `tcp/22`, `tcp/8000-8080`, `udp/all ports`, `all traffic`, `icmp`, `protocol 47`.
pub fn traffic(rule: &Rule) -> String {
    match &rule.protocol {
        Protocol::All => "all traffic".into(),
        Protocol::Tcp | Protocol::Udp => {
            let name = rule.protocol.api_value();
            match rule.port_range() {
                Some((a, b)) if a <= 1 && b == 65535 => format!("{name}/all ports"),
                Some((a, b)) if a == b => format!("{name}/{a}"),
                Some((a, b)) => format!("{name}/{a}-{b}"),
                None => name.to_string(),
            }
        }
        Protocol::Icmp | Protocol::Icmpv6 => {
            let name = rule.protocol.api_value();
            match rule.from_port {
                Some(t) if t >= 0 => format!("{name} type {t}"),
                _ => name.to_string(),
            }
        }
        Protocol::Other(p) => format!("protocol {p}"),
    }
}

/// A peer in full: `0.0.0.0/0 (the whole IPv4 internet)`, `prefix list pl-1 (holding
/// 0.0.0.0/0)`, `security group sg-1 (web) of account 1234`.
pub fn peer_long(p: &Peer, lists: &BTreeMap<String, PrefixList>) -> String {
    match p {
        Peer::Cidr { text, ipv6, .. } if p.is_world() => format!(
            "{text} (the whole {} internet)",
            if *ipv6 { "IPv6" } else { "IPv4" }
        ),
        Peer::Cidr { text, .. } => text.clone(),
        Peer::PrefixList { id } => match lists.get(id) {
            Some(l) if l.aws_managed => format!(
                "AWS-managed prefix list {id}{}",
                part(" (", l.name.as_deref(), ")")
            ),
            Some(l) => format!(
                "prefix list {id} (holding {})",
                join_and(&l.entries, 4).if_empty("no entries")
            ),
            None => format!("prefix list {id}"),
        },
        Peer::Group { id, name, owner } => {
            let mut s = String::from("security group ");
            match (id, name) {
                (Some(i), Some(n)) => s.push_str(&format!("{i} ({n})")),
                (Some(i), None) => s.push_str(i),
                (None, Some(n)) => s.push_str(n),
                (None, None) => s.push_str("(unnamed)"),
            }
            if let Some(o) = owner {
                s.push_str(&format!(" of account {o}"));
            }
            s
        }
        Peer::Unspecified => "(no source given)".into(),
    }
}

trait IfEmpty {
    fn if_empty(self, alt: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, alt: &str) -> String {
        if self.is_empty() {
            alt.to_string()
        } else {
            self
        }
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

/// The step's target: `sg-0123 sgr-0456 (tcp/22 from 0.0.0.0/0)`.
pub fn step_target(step: &Step) -> String {
    let Step::RevokeIngress { group, rule, .. } = step;
    let g = group
        .id
        .clone()
        .or_else(|| group.name.clone())
        .unwrap_or_else(|| "an unnamed security group".into());
    let what = format!("{} from {}", traffic(rule), short_peer(&rule.peer));
    match &rule.rule_id {
        Some(id) => format!("{g} {id} ({what})"),
        None => format!("{g} ({what})"),
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

fn join_and(items: &[String], max: usize) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n if n <= max => format!("{} and {}", items[..n - 1].join(", "), items[n - 1]),
        n => format!("{} and {} more", items[..max - 1].join(", "), n - (max - 1)),
    }
}

fn rule_phrase(rule: &Rule, long: bool, lists: &BTreeMap<String, PrefixList>) -> String {
    let peer = if long {
        peer_long(&rule.peer, lists)
    } else {
        short_peer(&rule.peer)
    };
    format!("{} to {peer}", traffic(rule))
}

/// A rule as the response names it: `tcp/22 from 0.0.0.0/0`.
fn rule_ref(rule: &Rule) -> String {
    let fromto = if rule.direction == Direction::Egress {
        "to"
    } else {
        "from"
    };
    format!("{} {fromto} {}", traffic(rule), short_peer(&rule.peer))
}

fn group_label(change: &Change, case: &Case) -> String {
    let name = change
        .group_name
        .as_deref()
        .or(case.group.as_ref().and_then(|g| g.name.as_deref()));
    let id = change
        .group_id
        .as_deref()
        .or(case.group.as_ref().map(|g| g.id.as_str()));
    match (id, name) {
        (Some(id), Some(n)) => format!("{id} ({n})"),
        (Some(id), None) => id.to_string(),
        (None, Some(n)) => n.to_string(),
        (None, None) => "an unnamed security group".into(),
    }
}

/// The change in words: "alice opened tcp/5432 to 10.0.0.0/8 on sg-0123 (web)".
pub fn describe(case: &Case, long: bool) -> String {
    let c = &case.change;
    let actor = who(&case.record.principal());
    let group = group_label(c, case);
    let max = if long { 6 } else { 2 };
    let lists = &case.prefix_lists;
    let rules = |pred: &dyn Fn(&Rule) -> bool| -> String {
        let v: Vec<String> = case
            .rules
            .iter()
            .map(|a| &a.rule)
            .filter(|r| pred(r))
            .map(|r| rule_phrase(r, long, lists))
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
            let v: Vec<String> = case
                .rules
                .iter()
                .map(|a| {
                    let id = a.rule.rule_id.as_deref().unwrap_or("(no id)");
                    format!("rule {id} to {}", rule_phrase(&a.rule, long, lists))
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
                .or(case.group.as_ref().and_then(|g| g.vpc_id.as_deref()));
            match vpc {
                Some(v) => format!("{actor} created security group {group} in {v}"),
                None => format!("{actor} created security group {group}"),
            }
        }
        ChangeKind::DeleteGroup => format!("{actor} deleted security group {group}"),
        ChangeKind::ModifyPrefixList => {
            let edit = c.prefix_list.clone().unwrap_or_default();
            let mut parts = Vec::new();
            if !edit.added.is_empty() {
                parts.push(format!("added {}", join_and(&edit.added, max)));
            }
            if !edit.removed.is_empty() {
                parts.push(format!("removed {}", join_and(&edit.removed, max)));
            }
            if let Some(v) = edit.restored {
                parts.push(format!("restored version {v}'s entries"));
            }
            let what = if parts.is_empty() {
                "modified".to_string()
            } else {
                parts.join(" and ")
            };
            let name = case
                .prefix_list
                .as_ref()
                .and_then(|p| p.list.as_ref())
                .and_then(|l| l.name.clone())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!("{actor} {what} in prefix list {}{name}", edit.id)
        }
    }
}

fn outcome_prefix(plan: &[PlannedStep<Step>], dry_run: bool) -> Option<String> {
    if plan.is_empty() {
        return None;
    }
    let count = |s: Status| plan.iter().filter(|x| x.status == s).count();
    let notify = why(&Why::Notify);
    let (done, already) = (count(Status::Done), count(Status::AlreadyDone));
    Some(if count(Status::Failed) > 0 {
        "REVOKE FAILED".into()
    } else if count(Status::Planned) > 0 {
        if dry_run {
            "Would revoke".into()
        } else {
            "Not yet revoked".into()
        }
    } else if plan
        .iter()
        .any(|s| s.detail.as_deref() == Some(notify.as_str()))
    {
        "Not revoked (notify mode)".into()
    } else if done + already == plan.len() {
        if done > 0 {
            "Revoked".into()
        } else {
            "Already closed".into()
        }
    } else if done + already > 0 {
        "Partly revoked".into()
    } else {
        "Not revoked (exempt)".into()
    })
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

/// Why a world-open rule is risky, in words.
pub fn risk_words(risk: &Risk, config: &Config) -> String {
    let allowed = format!("ALLOWED_PUBLIC_PORTS={}", config.allowed_public_ports);
    match risk {
        Risk::AllTraffic => "every protocol and every port is open to the internet".into(),
        Risk::AllPorts { protocol } => format!("every {protocol} port is open to the internet"),
        Risk::CriticalPorts { ports } => {
            let names: Vec<String> = ports.iter().copied().map(named_port).collect();
            format!(
                "remote-administration/database port {} open to the internet",
                names.join(", ")
            )
        }
        Risk::NotAllowed { from, to } if from == to => {
            format!("port {from} is not an allowed public port ({allowed})")
        }
        Risk::NotAllowed { from, to } => {
            format!("ports {from}-{to} are not all allowed public ports ({allowed})")
        }
        Risk::OtherProtocol { protocol } => {
            format!("all traffic of IP protocol {protocol} is open to the internet")
        }
    }
}

fn exposure_words(a: &Assessed, config: &Config) -> String {
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
        Exposure::WorldRisky { risk, .. } if a.rule.direction == Direction::Egress => format!(
            "egress: {} (egress is reported, never revoked)",
            risk_words(risk, config)
        ),
        Exposure::WorldRisky {
            critical,
            risk,
            alone,
        } => format!(
            "{}: {}{}",
            if *critical { "CRITICAL" } else { "HIGH" },
            risk_words(risk, config),
            if *alone {
                ""
            } else {
                " (together with the group's other rules on the same port)"
            }
        ),
    }
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
        Direction::Unknown => "rule",
    }
}

/// How a planned revocation will be made (shown until it runs).
fn planned_detail(config: &Config, case: &Case, rule: &Rule) -> String {
    let how = match (&rule.rule_id, rule.direction) {
        (Some(_), Direction::Unknown) => "by rule id, if it is an ingress rule",
        (Some(_), _) => "by rule id",
        (None, _) => "by permission (the event names no rule id)",
    };
    if case.looked_up || config.exempt_tag.is_empty() {
        how.to_string()
    } else {
        format!("{how}, unless the group is tagged {}", config.exempt_tag)
    }
}

fn response_sentence(case: &Case, plan: &[PlannedStep<Step>], dry_run: bool) -> String {
    let rule_of = |s: &PlannedStep<Step>| {
        let Step::RevokeIngress { rule, .. } = &s.step;
        rule_ref(rule)
    };
    let pick = |pred: &dyn Fn(&PlannedStep<Step>) -> bool| -> Vec<String> {
        plan.iter().filter(|s| pred(s)).map(rule_of).collect()
    };
    let mut out = Vec::new();
    let done = pick(&|s| s.status == Status::Done);
    if !done.is_empty() {
        out.push(format!("trailwarden revoked {}.", join_and(&done, 4)));
    }
    let already: Vec<String> = plan
        .iter()
        .filter(|s| s.status == Status::AlreadyDone)
        .map(|s| {
            let d = s.detail.as_deref().unwrap_or_default();
            if d.contains("left alone") {
                format!("{}: {d}", rule_of(s))
            } else {
                rule_of(s)
            }
        })
        .collect();
    let gone: Vec<String> = already
        .iter()
        .filter(|s| !s.contains("left alone"))
        .cloned()
        .collect();
    let narrowed: Vec<String> = already
        .iter()
        .filter(|s| s.contains("left alone"))
        .cloned()
        .collect();
    if !gone.is_empty() {
        out.push(format!(
            "{} no longer existed (nothing left to revoke).",
            join_and(&gone, 4)
        ));
    }
    if !narrowed.is_empty() {
        out.push(format!(
            "Found changed since the event, no longer world-open: {}.",
            narrowed.join("; ")
        ));
    }
    let failed = pick(&|s| s.status == Status::Failed);
    if !failed.is_empty() {
        out.push(format!(
            "Revoking {} FAILED: the rule is still open; see Response below.",
            join_and(&failed, 4)
        ));
    }
    let would = pick(&|s| s.status == Status::Planned);
    if !would.is_empty() {
        out.push(format!(
            "{}{} would be revoked (RESPONSE_MODE=revoke){}.",
            if dry_run { "Dry run: " } else { "" },
            join_and(&would, 4),
            if dry_run { "; nothing was changed" } else { "" }
        ));
    }
    let notify_detail = why(&Why::Notify);
    let notify = pick(&|s| s.detail.as_deref() == Some(notify_detail.as_str()));
    if !notify.is_empty() {
        out.push(format!(
            "RESPONSE_MODE=notify: {} was not revoked; revoke it by hand if it is not intended.",
            join_and(&notify, 4)
        ));
    }
    for s in plan.iter().filter(|s| {
        s.status == Status::Skipped && s.detail.as_deref() != Some(notify_detail.as_str())
    }) {
        out.push(format!(
            "{} was not revoked ({}).",
            rule_of(s),
            s.detail.as_deref().unwrap_or("skipped")
        ));
    }
    // (When the event's own rules are not revoked, the summary already says why the older
    // rules are.)
    if !case.pieces.is_empty() && case.risky().next().is_some() {
        let v: Vec<String> = case.pieces.iter().map(|a| rule_ref(&a.rule)).collect();
        out.push(format!(
            "Rules already in the group that make the same ports world-open together with this change are revoked with it: {}.",
            join_and(&v, 6)
        ));
    }
    out.join(" ")
}

/// For a customer-managed prefix list now holding world-open entries: which security groups
/// were checked (this account and region only), that accounts the list is shared with are not
/// visible from here, and what to do about it.
fn shared_list_words(case: &Case, p: &crate::decide::PrefixListCase) -> String {
    let account = case.record.account_id().unwrap_or("(unknown account)");
    let region = case.region.as_deref().unwrap_or("(unknown region)");
    let rules = p.references.len();
    let checked = match p.groups_checked {
        None => format!(
            "The security groups of account {account} in {region} referencing the list were not \
             looked up (offline plan: no AWS call was made)."
        ),
        Some(0) => format!(
            "The security group rules of account {account} in {region} were checked: none \
             references the list."
        ),
        Some(n) => format!(
            "The security group rules of account {account} in {region} were checked: {n} \
             security group{} reference{} the list ({rules} ingress rule{}, listed below).",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
            if rules == 1 { "" } else { "s" },
        ),
    };
    let region_flag = case
        .region
        .as_deref()
        .map(|r| format!(" --region {r}"))
        .unwrap_or_default();
    let remove: Vec<String> = p
        .world_entries
        .iter()
        .map(|e| format!("Cidr={e}"))
        .collect();
    let arn = format!("arn:aws:ec2:{region}:{account}:prefix-list/{}", p.id);
    format!(
        "{checked} Accounts the list is shared with through AWS RAM are not visible from here: \
         their security groups may reference it and be open to the internet now, and nothing \
         is revoked there. Remove the world-open {entry} from the list (`aws ec2 \
         modify-managed-prefix-list --prefix-list-id {id} --remove-entries {remove}{region_flag}`); \
         in the owner account (the list's, {account}), `aws ec2 \
         get-managed-prefix-list-associations --prefix-list-id {id}{region_flag}` lists every \
         security group referencing it, in any account, and `aws ram list-principals \
         --resource-owner SELF --resource-arn {arn}{region_flag}` the accounts it is shared with.",
        id = p.id,
        remove = remove.join(" "),
        entry = if remove.len() == 1 { "entry" } else { "entries" },
    )
}

/// The statistics of a walked plan.
pub fn stats(case: &Case, plan: &Plan<Step>) -> SgStats {
    let count = |s: Status| plan.iter().filter(|x| x.status == s).count();
    let pl_risky = case.prefix_list.as_ref().map_or(0, |p| {
        p.references
            .iter()
            .filter(|(_, a)| a.exposure.is_risky())
            .count()
    });
    SgStats {
        rules: case.rules.len(),
        world_open_ingress: case.risky().count() + pl_risky,
        revoked: count(Status::Done),
        already_gone: count(Status::AlreadyDone),
        skipped: count(Status::Skipped),
        failed: count(Status::Failed),
    }
}

impl Reporting for SecurityGroup {
    type Output = Output;
    type Stats = SgStats;

    /// The alert and statistics for a case and its walked plan (`output` is `None` for an
    /// offline plan: a dry run). An event whose account refused the responder role is said
    /// once more, in its own alert.
    fn report(
        config: &Config,
        case: &Case,
        plan: &Plan<Step>,
        output: Option<&Output>,
    ) -> Report<SgStats> {
        let dry_run = config.common.dry_run || output.is_none();
        let mut alerts = vec![alert(config, case, plan, dry_run)];
        if let Some(e) = output
            .and_then(|o| o.unreachable.as_ref())
            .filter(|e| e.refused)
        {
            alerts.push(e.alert(NAME, Some(&case.record)));
        }
        Report {
            alerts,
            stats: stats(case, plan),
        }
    }
}

fn alert(config: &Config, case: &Case, plan: &Plan<Step>, dry_run: bool) -> Alert {
    let r = &case.record;
    let sev = case.severity();
    let risky: Vec<&Assessed> = case.risky().collect();
    let pl = case.prefix_list.as_ref();
    let pl_risky: Vec<&Assessed> = pl
        .map(|p| {
            p.references
                .iter()
                .map(|(_, a)| a)
                .filter(|a| a.exposure.is_risky())
                .collect()
        })
        .unwrap_or_default();
    // Older rules to be revoked: with the event's (`risky`), or alone, when the event added to
    // a port they already make world-open (`touched`).
    let older: Vec<&Assessed> = case.risky_pieces().collect();
    let touched = risky.is_empty() && !older.is_empty();
    let world = !risky.is_empty() || !pl_risky.is_empty() || !older.is_empty();
    let detection = if !risky.is_empty() || touched {
        DETECTION_WORLD_OPEN
    } else if pl.is_some_and(|p| !p.world_entries.is_empty() || !p.references.is_empty() && world) {
        DETECTION_PREFIX_LIST
    } else {
        DETECTION_CHANGE
    };
    let group = group_label(&case.change, case);
    let actor = who(&r.principal());
    let title = if let Some(p) = pl.filter(|p| !p.world_entries.is_empty()) {
        let base = format!(
            "prefix list {} holds {} (world-open) by {actor}",
            p.id,
            join_and(&p.world_entries, 2)
        );
        match outcome_prefix(plan, dry_run) {
            Some(s) => format!("{s}: {base}"),
            None => base,
        }
    } else if touched {
        let mut t: Vec<String> = older.iter().map(|a| traffic(&a.rule)).collect();
        t.dedup();
        let base = format!(
            "world-open {} on {group} by older rules, added to by {actor}",
            join_and(&t, 3)
        );
        match outcome_prefix(plan, dry_run) {
            Some(s) => format!("{s}: {base}"),
            None => format!("Reported: {base}"),
        }
    } else if risky.is_empty() {
        describe(case, false)
    } else {
        let mut t: Vec<String> = risky.iter().map(|a| traffic(&a.rule)).collect();
        t.dedup();
        // The outcome first: subjects are cut at 100 characters.
        let base = format!("world-open {} on {group} by {actor}", join_and(&t, 3));
        match outcome_prefix(plan, dry_run) {
            Some(s) => format!("{s}: {base}"),
            None => format!("Reported: {base}"),
        }
    };

    let mut summary = format!("{}.", describe(case, true));
    if let Some(ip) = &r.source_ip_address {
        summary.push_str(&format!(" The call came from {ip}."));
    }
    if !risky.is_empty() || touched {
        let blamed = if touched { &older } else { &risky };
        summary.push_str(&format!(
            " Ingress open to the whole internet on a port that is not an allowed public port \
             (ALLOWED_PUBLIC_PORTS={}) lets anyone reach the instances behind {group}.",
            config.allowed_public_ports
        ));
        let mut reasons: Vec<String> = blamed
            .iter()
            .filter_map(|a| match &a.exposure {
                Exposure::WorldRisky { risk, .. } => Some(risk_words(risk, config)),
                _ => None,
            })
            .collect();
        reasons.dedup();
        summary.push_str(&format!(" Why: {}.", join_and(&reasons, 4)));
        if touched {
            let v: Vec<String> = older.iter().map(|a| rule_ref(&a.rule)).collect();
            summary.push_str(&format!(
                " The change added to a port that rules already in the group make world-open \
                 ({}). Its own rules add nothing that makes it so and are left alone; the older \
                 rules are what is revoked (RESPONSE_MODE=revoke): a port that is not allowed is \
                 not left world-open once a change touches it.",
                join_and(&v, 6)
            ));
        }
        let partial: Vec<String> = risky
            .iter()
            .filter(|a| !a.rule.peer.is_world())
            .map(|a| short_peer(&a.rule.peer))
            .collect();
        if !partial.is_empty() {
            summary.push_str(&format!(
                " {} {} not /0, but the rules on the port let in at least as many internet \
                 addresses as a /{} of IPv4 or a /{} of IPv6 (WORLD_OPEN_MIN_PREFIX_IPV4={}, \
                 WORLD_OPEN_MIN_PREFIX_IPV6={}; private ranges not counted): world-open for \
                 practical purposes.",
                join_and(&partial, 4),
                if partial.len() == 1 { "is" } else { "are" },
                config.world_open_min_prefix_v4.saturating_sub(1),
                config.world_open_min_prefix_v6.saturating_sub(1),
                config.world_open_min_prefix_v4,
                config.world_open_min_prefix_v6
            ));
        }
    }
    if let Some(p) = pl {
        if !p.world_entries.is_empty() {
            summary.push_str(&format!(
                " The list now holds {}: every security group rule referencing it is open to \
                 the internet on its ports. trailwarden leaves the list itself alone (it may be \
                 shared with other accounts or used by route tables) and revokes the ingress \
                 rules here that the list makes world-open on ports that are not allowed.",
                join_and(&p.world_entries, 4)
            ));
            summary.push(' ');
            summary.push_str(&shared_list_words(case, p));
        }
        if let Some((version, state)) = &p.looked_up_early {
            summary.push_str(&format!(
                " The list was looked up before the change had completed ({}{}): the entries \
                 the event added{} are counted as in it and those it removed as gone.",
                version
                    .map(|v| format!("version {v}"))
                    .unwrap_or_else(|| "version unknown".into()),
                part(", ", state.as_deref(), ""),
                if case
                    .change
                    .prefix_list
                    .as_ref()
                    .is_some_and(|e| e.restored.is_some())
                {
                    " (the restored version's entries)"
                } else {
                    ""
                }
            ));
        }
    }
    if world {
        summary.push(' ');
        summary.push_str(&response_sentence(case, plan, dry_run));
    }
    if case
        .rules
        .iter()
        .any(|a| a.rule.direction == Direction::Egress && a.rule.peer.is_world())
        && case.change.kind != ChangeKind::Revoke
    {
        summary.push_str(" Egress rules are reported, never revoked.");
    }
    if case
        .rules
        .iter()
        .any(|a| a.exposure == Exposure::WorldIcmp && case.change.kind != ChangeKind::Revoke)
    {
        summary.push_str(
            " World-open ICMP is reported but not revoked: ping and Path MTU Discovery need it.",
        );
    }

    let mut a = Alert::new(sev, detection, title).about(r);
    a.summary = summary.trim_end().to_string();
    if case.region.is_some() {
        a.region = case.region.clone();
    }
    if pl.is_none() {
        let mut group_fact = group.clone();
        if let Some(v) = case
            .change
            .vpc_id
            .as_deref()
            .or(case.group.as_ref().and_then(|g| g.vpc_id.as_deref()))
        {
            group_fact.push_str(&format!(" in {v}"));
        }
        a = a.fact("Security group", group_fact);
    }
    if let Some(d) = &case.change.group_description {
        a = a.fact("Group description", d.clone());
    }
    const MAX_RULE_FACTS: usize = 20;
    for (i, x) in case.rules.iter().enumerate().take(MAX_RULE_FACTS) {
        let verb = match case.change.kind {
            ChangeKind::Revoke => "removed",
            ChangeKind::Modify => "now",
            _ => "added",
        };
        let id = part(" [", x.rule.rule_id.as_deref(), "]");
        let descr = part(" \"", x.rule.description.as_deref(), "\"");
        let fromto = if x.rule.direction == Direction::Egress {
            "to"
        } else {
            "from"
        };
        let mut line = format!(
            "{verb} {} {} {fromto} {}{id}{descr}",
            direction_word(x.rule.direction),
            traffic(&x.rule),
            peer_long(&x.rule.peer, &case.prefix_lists)
        );
        if case.change.kind != ChangeKind::Revoke {
            line.push_str(&format!(" - {}", exposure_words(x, config)));
        }
        a = a.fact(format!("Rule {}", i + 1), line);
    }
    a = a.fact_unlisted("More rules", case.rules.len(), MAX_RULE_FACTS, |n| {
        format!("{n} more not listed")
    });
    for (i, x) in case.pieces.iter().enumerate().take(MAX_RULE_FACTS) {
        let id = part(" [", x.rule.rule_id.as_deref(), "]");
        a = a.fact(
            format!("Rule already there {}", i + 1),
            format!(
                "ingress {} from {}{id} - {}",
                traffic(&x.rule),
                peer_long(&x.rule.peer, &case.prefix_lists),
                exposure_words(x, config)
            ),
        );
    }
    if !case.change.rule_ids_only.is_empty() {
        a = a.fact("Rule ids", case.change.rule_ids_only.join(", "));
    }
    if let Some(p) = pl {
        if let Some(l) = &p.list {
            a = a.fact(
                "Prefix list",
                format!(
                    "{}{}{} - {} entries: {}",
                    l.id,
                    part(" (", l.name.as_deref(), ")"),
                    l.version
                        .map(|v| format!(" version {v}"))
                        .unwrap_or_default()
                        + &p.looked_up_early
                            .as_ref()
                            .map(|(_, state)| {
                                format!(
                                    " ({}looked up before the change completed: with its entries)",
                                    part("", state.as_deref(), ", ")
                                )
                            })
                            .unwrap_or_default(),
                    l.entries.len(),
                    join_and(&l.entries, 8).if_empty("none")
                ),
            );
        }
        for (i, (g, x)) in p.references.iter().enumerate().take(MAX_RULE_FACTS) {
            a = a.fact(
                format!("Reference {}", i + 1),
                format!(
                    "{} {} {} - {}",
                    g.id.as_deref().unwrap_or_default(),
                    x.rule.rule_id.as_deref().unwrap_or("(no id)"),
                    traffic(&x.rule),
                    exposure_words(x, config)
                ),
            );
        }
    }
    if world {
        a = a.fact("Response mode", case.settings.response_mode.as_str());
        // Which entries of ACCOUNT_SETTINGS_URI applied; nothing when the deployment's did.
        if case.settings.source != trailwarden::estate::DEPLOYMENT_SETTINGS {
            a = a.fact("Settings", &case.settings.source);
        }
        match &case.exempt {
            Some(Why::ExemptAccount(acct)) => {
                a = a.fact(
                    "Exempt",
                    format!("account {acct} is exempt (ACCOUNT_SETTINGS_URI)"),
                )
            }
            Some(Why::ExemptTag(k, v)) => a = a.fact("Exempt", format!("tagged {k}={v}")),
            Some(Why::ExemptId(g)) => {
                a = a.fact("Exempt", format!("{g} is listed in EXEMPT_GROUP_IDS"))
            }
            _ => {}
        }
    }
    a.actions = plan
        .iter()
        .map(|s| {
            let mut act = Action::new(s.step.name(), s.step.target(), s.status);
            act.detail = s.detail.clone().or_else(|| {
                let Step::RevokeIngress { rule, .. } = &s.step;
                (s.status == Status::Planned).then(|| planned_detail(config, case, rule))
            });
            act
        })
        .collect();
    a.evidence = Some(json!({
        "requestParameters": r.request_parameters,
        "responseElements": r.response_elements,
    }));
    a.references = if world || pl.is_some_and(|p| !p.world_entries.is_empty()) {
        vec![
            "CIS AWS Foundations Benchmark 4.10 (security group changes), 5.2/5.3 (no ingress from 0.0.0.0/0 or ::/0 to remote administration ports)".into(),
            "AWS Security Hub EC2.18, EC2.19 (unrestricted ingress on unauthorised / high-risk ports)".into(),
            "MITRE ATT&CK T1562.007 (Impair Defenses: Disable or Modify Cloud Firewall)".into(),
        ]
    } else {
        vec!["CIS AWS Foundations Benchmark 4.10 (security group changes)".into()]
    };
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_reads_well() {
        let r = |p: &str, a: Option<i32>, b: Option<i32>| Rule {
            direction: Direction::Ingress,
            protocol: Protocol::parse(p),
            from_port: a,
            to_port: b,
            peer: Peer::Unspecified,
            description: None,
            rule_id: None,
        };
        assert_eq!(traffic(&r("tcp", Some(22), Some(22))), "tcp/22");
        assert_eq!(traffic(&r("6", Some(8000), Some(8080))), "tcp/8000-8080");
        assert_eq!(traffic(&r("udp", Some(0), Some(65535))), "udp/all ports");
        assert_eq!(traffic(&r("tcp", None, None)), "tcp/all ports");
        assert_eq!(traffic(&r("-1", Some(-1), Some(-1))), "all traffic");
        assert_eq!(traffic(&r("icmp", Some(8), Some(-1))), "icmp type 8");
        assert_eq!(traffic(&r("icmp", Some(-1), Some(-1))), "icmp");
        assert_eq!(traffic(&r("47", None, None)), "protocol 47");
    }

    #[test]
    fn peers_read_well() {
        let none = BTreeMap::new();
        assert_eq!(
            peer_long(&Peer::cidr("::/0", true), &none),
            "::/0 (the whole IPv6 internet)"
        );
        assert_eq!(
            peer_long(
                &Peer::Group {
                    id: Some("sg-app".into()),
                    name: None,
                    owner: Some("123456789012".into())
                },
                &none
            ),
            "security group sg-app of account 123456789012"
        );
        let mut lists = BTreeMap::new();
        lists.insert(
            "pl-1".to_string(),
            PrefixList {
                id: "pl-1".into(),
                entries: vec!["0.0.0.0/0".into()],
                ..PrefixList::default()
            },
        );
        assert_eq!(
            peer_long(&Peer::PrefixList { id: "pl-1".into() }, &lists),
            "prefix list pl-1 (holding 0.0.0.0/0)"
        );
    }
}
