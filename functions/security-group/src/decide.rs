//! The pure part: from (configuration, payload, facts looked up) to a typed case and the
//! revocations to make. No AWS calls and no wording here (see `report`).

use crate::config::{Config, ResponseMode};
use crate::exposure::{analyse, analyse_change, Analysis, Exposure};
use crate::rules::{Change, ChangeKind, Direction, Peer, PrefixListEdit, Rule};
use crate::space::{parse_cidr, AddrSet, Threshold};
use crate::SecurityGroup;
use serde::Serialize;
use std::collections::BTreeMap;
use trailwarden::alert::{Severity, Status};
use trailwarden::estate::Resolved;
use trailwarden::respond::{Decide, Decision, PlannedStep, StepKind};
use trailwarden::{Payload, Record};

const EC2_SOURCE: &str = "ec2.amazonaws.com";

/// Which security group a step acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Revoke one ingress rule of `group`: by `rule.rule_id`, else by its permission, in
    /// `region` (the event's own).
    RevokeIngress {
        group: GroupRef,
        rule: Rule,
        region: Option<String>,
    },
}

impl StepKind for Step {
    fn name(&self) -> String {
        crate::report::STEP_REVOKE.to_string()
    }
    fn target(&self) -> String {
        crate::report::step_target(self)
    }
    fn changes(&self) -> bool {
        true
    }
}

/// Why a revocation is not made (or not needed), decided before executing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The group is listed in `EXEMPT_GROUP_IDS`.
    ExemptId(String),
    /// The group carries the exemption tag (key, value).
    ExemptTag(String, String),
    /// `RESPONSE_MODE=notify`.
    Notify,
    /// The account is exempt in `ACCOUNT_SETTINGS_URI`.
    ExemptAccount(String),
    /// The rule turned out to be an egress rule.
    Egress,
    /// The rule no longer exists.
    Gone,
    /// The group no longer exists.
    GroupGone,
    /// The rule is still there but no longer world-open: its current form.
    NoLongerWorldOpen(Rule),
}

/// Why a payload is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    NotCloudTrail(String),
    NotEc2 { event: String, source: String },
    NotSecurityGroupChange(String),
    Failed { event: String, code: String },
    OwnRole { event: String, arn: String },
}

/// A managed prefix list as looked up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrefixList {
    pub id: String,
    pub name: Option<String>,
    /// Owned by AWS (`com.amazonaws.*`): its entries are AWS's own ranges, never resolved.
    pub aws_managed: bool,
    pub version: Option<i64>,
    /// `create-complete`, `modify-in-progress`, `restore-in-progress`... as looked up.
    pub state: Option<String>,
    /// The entries (CIDRs) of the current version.
    pub entries: Vec<String>,
}

/// A security group as looked up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Group {
    pub id: String,
    pub name: Option<String>,
    pub vpc_id: Option<String>,
    /// `(key, value)` of the exemption tag when it exempts the group.
    pub exempt_tag: Option<(String, String)>,
    /// Every rule of the group now (`DescribeSecurityGroupRules`).
    pub rules: Vec<Rule>,
}

/// The group of the event, as looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupLookup {
    Gone,
    Found(Group),
}

/// Read-only look-ups made before deciding. `Default`: nothing looked up (offline plans).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The event's group (security group events).
    pub group: Option<GroupLookup>,
    /// Customer-managed and AWS-managed prefix lists referenced by the rules involved.
    pub prefix_lists: BTreeMap<String, PrefixList>,
    /// `ModifyManagedPrefixList`: every group with an ingress rule referencing the list
    /// (`None`: not looked up).
    pub referencing: Option<Vec<Group>>,
    /// `RestoreManagedPrefixListVersion` looked up before the restore completed: the entries of
    /// the version it restores (`None`: not looked up).
    pub restored_entries: Option<Vec<String>>,
}

/// One rule and its exposure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessed {
    pub rule: Rule,
    pub exposure: Exposure,
}

/// What was found, for a prefix-list change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefixListCase {
    pub id: String,
    /// The list as looked up (`None`: offline), with the entries it holds once the change is
    /// complete (see [`entries_after`]).
    pub list: Option<PrefixList>,
    /// The look-up predates the change (still `*-in-progress`, or an older version): the
    /// entries the event added (or the restored version's) were counted in, those it removed
    /// left out. Version and state as looked up.
    pub looked_up_early: Option<(Option<i64>, Option<String>)>,
    /// How many security groups of the event's account and region have an ingress rule
    /// referencing the list (`None`: not looked up). Groups of accounts the list is shared
    /// with (AWS RAM) are not visible from here.
    pub groups_checked: Option<usize>,
    /// Entries of the list (as looked up, else as added) that reach the world-open
    /// threshold together.
    pub world_entries: Vec<String>,
    /// Ingress rules referencing the list, with their group and exposure.
    pub references: Vec<(GroupRef, Assessed)>,
}

/// What the decision is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    #[serde(skip)]
    pub record: Record,
    /// The event's own region: responses act there.
    pub region: Option<String>,
    pub change: Change,
    /// True when the facts were looked up (a live run), false for an offline plan.
    pub looked_up: bool,
    /// The group as looked up (name, VPC, exemption tag).
    pub group: Option<Group>,
    /// The event's rules and their exposure when the event was made (with the group's other
    /// rules as they are now).
    pub rules: Vec<Assessed>,
    /// Other rules of the group to be revoked too: those that keep a port world-open once the
    /// event's own rules are revoked (the port was world-open without them, or with pieces of
    /// a split range already there), and, when the event's rules were added to a port that
    /// older rules already make world-open, those older rules.
    pub pieces: Vec<Assessed>,
    /// The group's exemption, if any.
    pub exempt: Option<Why>,
    /// Prefix lists referenced by the rules, as looked up.
    pub prefix_lists: BTreeMap<String, PrefixList>,
    /// The settings that applied to the event's account (`ACCOUNT_SETTINGS_URI`).
    pub settings: AppliedSettings,
    /// `ModifyManagedPrefixList` only.
    pub prefix_list: Option<PrefixListCase>,
}

/// Which settings decided, for the event's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedSettings {
    /// `settings: account 111122223333 (ACCOUNT_SETTINGS_URI)`, or the deployment.
    pub source: String,
    /// The account is exempt: alert only.
    pub exempt: bool,
    /// The response mode in force for the account.
    #[serde(serialize_with = "mode_str")]
    pub response_mode: ResponseMode,
}

fn mode_str<S: serde::Serializer>(m: &ResponseMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// The configuration in force for `account`: the deployment's, with its account or OU entry
/// of `ACCOUNT_SETTINGS_URI` applied (`security_group_mode`, `exempt`).
pub fn effective_config(config: &Config, account: &str) -> (Config, AppliedSettings) {
    let r = config.account_settings.resolve(account);
    let mut c = config.clone();
    let mut sources = Vec::new();
    if let Some(m) = &r.security_group_mode {
        c.response_mode = m.value;
        sources.push(&m.source);
    }
    if let Some(p) = &r.allowed_public_ports {
        c.allowed_public_ports = p.value.clone();
        sources.push(&p.source);
    }
    for g in &r.exempt_security_group_ids {
        if !c.exempt_group_ids.contains(&g.value) {
            c.exempt_group_ids.push(g.value.clone());
        }
        sources.push(&g.source);
    }
    if let Some(e) = &r.exempt {
        sources.push(&e.source);
    }
    let applied = AppliedSettings {
        source: Resolved::describe(&sources),
        exempt: r.is_exempt(),
        response_mode: c.response_mode,
    };
    (c, applied)
}

impl Case {
    /// The event's rules that added (or modified into) world-open ingress on a port that is
    /// not allowed. Removals never count.
    pub fn risky(&self) -> impl Iterator<Item = &Assessed> {
        let adds = matches!(self.change.kind, ChangeKind::Authorize | ChangeKind::Modify);
        self.rules
            .iter()
            .filter(move |a| adds && a.rule.direction != Direction::Egress && a.exposure.is_risky())
    }

    /// Rules already in the group, to be revoked with the event's, that are world-open on a
    /// port that is not allowed.
    pub fn risky_pieces(&self) -> impl Iterator<Item = &Assessed> {
        self.pieces.iter().filter(|a| a.exposure.is_risky())
    }

    /// The alert's severity: critical/high for world-open ingress on ports that are not
    /// allowed (by the event's rules, by older rules on a port the event added to, or through
    /// a prefix list it changed), high for a customer-managed prefix list now holding
    /// world-open entries even when no rule here makes use of it (accounts it is shared with
    /// are not visible from here), low for other additions, info for removals and group
    /// creation/deletion.
    pub fn severity(&self) -> Severity {
        let pl_risky = self
            .prefix_list
            .as_ref()
            .is_some_and(|p| p.references.iter().any(|(_, a)| a.exposure.is_risky()));
        let any = self.risky().next().is_some() || self.risky_pieces().next().is_some() || pl_risky;
        match (any, self.critical(), self.change.kind) {
            (true, true, _) => Severity::Critical,
            (true, false, _) => Severity::High,
            (false, _, ChangeKind::ModifyPrefixList)
                if self
                    .prefix_list
                    .as_ref()
                    .is_some_and(|p| !p.world_entries.is_empty()) =>
            {
                Severity::High
            }
            (
                false,
                _,
                ChangeKind::Authorize | ChangeKind::Modify | ChangeKind::ModifyPrefixList,
            ) => Severity::Low,
            _ => Severity::Info,
        }
    }

    /// True when the change exposes anything critical.
    pub fn critical(&self) -> bool {
        self.risky()
            .chain(self.risky_pieces())
            .any(|a| a.exposure.is_critical())
            || self
                .prefix_list
                .as_ref()
                .is_some_and(|p| p.references.iter().any(|(_, a)| a.exposure.is_critical()))
    }
}

/// Checks that a payload is a successful security group change made by someone else:
/// the record, the parsed change and the region to act in, or why it is ignored.
pub fn triage(
    config: &Config,
    payload: &Payload,
) -> Result<(Record, Change, Option<String>), Ignored> {
    let Some(record) = payload.record() else {
        return Err(Ignored::NotCloudTrail(payload.describe()));
    };
    let name = record.event_name().to_string();
    if record.event_source() != EC2_SOURCE {
        return Err(Ignored::NotEc2 {
            event: name,
            source: record.event_source().to_string(),
        });
    }
    let Some(change) = Change::from_record(record) else {
        return Err(Ignored::NotSecurityGroupChange(name));
    };
    if record.failed() {
        return Err(Ignored::Failed {
            event: name,
            code: record.error_code.clone().unwrap_or_default(),
        });
    }
    let principal = record.principal();
    if config.common.is_own(principal.match_arn(), record) {
        return Err(Ignored::OwnRole {
            event: name,
            arn: principal.match_arn().unwrap_or_default().to_string(),
        });
    }
    let region = record.aws_region.clone().or_else(|| match payload {
        Payload::CloudTrail(e) => e.region.clone(),
        _ => None,
    });
    Ok((record.clone(), change, region))
}

/// The addresses a rule lets in: its CIDR, or the entries of a customer-managed prefix list
/// that was looked up. Group references and AWS-managed or unresolved lists let in none.
pub fn addresses(rule: &Rule, lists: &BTreeMap<String, PrefixList>) -> AddrSet {
    match &rule.peer {
        Peer::Cidr { text, .. } => parse_cidr(text).map(AddrSet::of).unwrap_or_default(),
        Peer::PrefixList { id } => match lists.get(id) {
            Some(l) if !l.aws_managed => {
                let mut s = AddrSet::new();
                for e in &l.entries {
                    if let Some(n) = parse_cidr(e) {
                        s.add(n);
                    }
                }
                s
            }
            _ => AddrSet::new(),
        },
        _ => AddrSet::new(),
    }
}

fn analyse_rules(
    config: &Config,
    rules: &[Rule],
    lists: &BTreeMap<String, PrefixList>,
) -> Analysis {
    analyse_change_rules(config, rules, lists, &[])
}

/// [`analyse_rules`] with the change's own rules (`preferred`, indices) blamed first.
fn analyse_change_rules(
    config: &Config,
    rules: &[Rule],
    lists: &BTreeMap<String, PrefixList>,
    preferred: &[usize],
) -> Analysis {
    let sets: Vec<AddrSet> = rules.iter().map(|r| addresses(r, lists)).collect();
    let refs: Vec<&Rule> = rules.iter().collect();
    let srefs: Vec<&AddrSet> = sets.iter().collect();
    analyse_change(config, &refs, &srefs, preferred)
}

/// The rule found now is still what the event made it: same protocol, ports and source
/// (CIDRs compared as networks), not narrowed or otherwise changed since.
fn unchanged(event: &Rule, now: &Rule) -> bool {
    let net = |r: &Rule| match &r.peer {
        Peer::Cidr { text, .. } => parse_cidr(text),
        _ => None,
    };
    match (net(event), net(now)) {
        (Some(a), Some(b)) => {
            a == b
                && event.same_grant(&Rule {
                    peer: event.peer.clone(),
                    ..now.clone()
                })
        }
        _ => event.same_grant(now),
    }
}

/// The current rule an event's rule became: the same rule id, else the same grant.
fn find_now(event_rule: &Rule, now: &[Rule]) -> Option<usize> {
    match &event_rule.rule_id {
        Some(id) => now.iter().position(|r| r.rule_id.as_ref() == Some(id)),
        None => now
            .iter()
            .position(|r| r.direction != Direction::Egress && r.same_grant(event_rule)),
    }
}

/// Exposures of `rules` (one direction, the event's), with the group's `others` taken into
/// account; the event's rules are blamed first where they made a port world-open.
fn exposures_with(
    config: &Config,
    rules: &[Rule],
    others: &[Rule],
    lists: &BTreeMap<String, PrefixList>,
) -> Vec<Exposure> {
    let all: Vec<Rule> = rules.iter().chain(others).cloned().collect();
    let mine: Vec<usize> = (0..rules.len()).collect();
    let mut e = analyse_change_rules(config, &all, lists, &mine).exposures;
    e.truncate(rules.len());
    e
}

/// Applies the group's exemption and the response mode to planned revocations.
fn hold_back(config: &Config, exempt: Option<&Why>, plan: &mut [PlannedStep<Step>]) {
    for s in plan.iter_mut().filter(|s| s.status == Status::Planned) {
        let why = match exempt {
            Some(w) => w.clone(),
            None if config.response_mode == ResponseMode::Notify => Why::Notify,
            None => continue,
        };
        s.status = Status::Skipped;
        s.detail = Some(crate::report::why(&why));
    }
}

fn settled(step: Step, status: Status, why: &Why) -> PlannedStep<Step> {
    PlannedStep {
        status,
        ..PlannedStep::new(step).with_detail(crate::report::why(why))
    }
}

fn exemption(
    config: &Config,
    settings: &AppliedSettings,
    account: &str,
    id: Option<&str>,
    group: Option<&Group>,
) -> Option<Why> {
    if settings.exempt {
        return Some(Why::ExemptAccount(account.to_string()));
    }
    if let Some(g) = id.filter(|g| config.exempt_by_id(g)) {
        return Some(Why::ExemptId(g.to_string()));
    }
    group
        .and_then(|g| g.exempt_tag.clone())
        .map(|(k, v)| Why::ExemptTag(k, v))
}

impl Decide for SecurityGroup {
    type Config = Config;
    type Facts = Facts;
    type Case = Case;
    type Step = Step;

    /// Decides what to do about a payload.
    fn decide(config: &Config, payload: &Payload, facts: &Facts) -> Decision<Case, Step> {
        let (record, change, region) = match triage(config, payload) {
            Ok(x) => x,
            Err(why) => return Decision::ignore(crate::report::ignored(&why)),
        };
        let account = record.account_id().unwrap_or("unknown-account").to_string();
        let (effective, settings) = effective_config(config, &account);
        let config = &effective;
        if change.kind == ChangeKind::ModifyPrefixList {
            return decide_prefix_list(config, record, change, region, facts, settings, &account);
        }
        let looked_up = facts.group.is_some();
        let group = match &facts.group {
            Some(GroupLookup::Found(g)) => Some(g.clone()),
            _ => None,
        };
        let group_gone = matches!(facts.group, Some(GroupLookup::Gone));
        let now: Vec<Rule> = group.as_ref().map(|g| g.rules.clone()).unwrap_or_default();
        let lists = &facts.prefix_lists;

        // The event's rules, with a direction learnt from the group where the event leaves it
        // open (ModifySecurityGroupRules names a rule by id only).
        let mut rules = change.rules.clone();
        let matched: Vec<Option<usize>> = rules.iter().map(|r| find_now(r, &now)).collect();
        for (r, m) in rules.iter_mut().zip(&matched) {
            if r.direction == Direction::Unknown {
                if let Some(i) = m {
                    r.direction = now[*i].direction;
                }
            }
        }
        let adds = matches!(change.kind, ChangeKind::Authorize | ChangeKind::Modify);
        let exposures: Vec<Exposure> = if adds {
            // When the event was made: its rules plus the group's other rules as they are now.
            let others: Vec<Rule> = now
                .iter()
                .enumerate()
                .filter(|(i, _)| !matched.contains(&Some(*i)))
                .map(|(_, r)| r.clone())
                .collect();
            let mut out = vec![Exposure::Restricted; rules.len()];
            for egress in [false, true] {
                let pick = |r: &Rule| (r.direction == Direction::Egress) == egress;
                let idx: Vec<usize> = (0..rules.len()).filter(|&i| pick(&rules[i])).collect();
                let mine: Vec<Rule> = idx.iter().map(|&i| rules[i].clone()).collect();
                let theirs: Vec<Rule> = others.iter().filter(|r| pick(r)).cloned().collect();
                for (k, e) in exposures_with(config, &mine, &theirs, lists)
                    .into_iter()
                    .enumerate()
                {
                    out[idx[k]] = e;
                }
            }
            out
        } else {
            analyse_rules(config, &rules, lists).exposures
        };
        let assessed: Vec<Assessed> = rules
            .into_iter()
            .zip(exposures)
            .map(|(rule, exposure)| Assessed { rule, exposure })
            .collect();

        let exempt = exemption(
            config,
            &settings,
            &account,
            change.group_id.as_deref(),
            group.as_ref(),
        );
        let gref = GroupRef {
            id: change
                .group_id
                .clone()
                .or_else(|| group.as_ref().map(|g| g.id.clone())),
            name: change.group_name.clone(),
        };
        let revoke = |rule: Rule| Step::RevokeIngress {
            group: gref.clone(),
            rule,
            region: region.clone(),
        };

        let mut plan: Vec<PlannedStep<Step>> = Vec::new();
        let mut pieces = Vec::new();
        if adds {
            // The group now: which of its ingress rules make a port world-open together with
            // what the event added.
            let now_in: Vec<usize> = (0..now.len())
                .filter(|&i| now[i].direction != Direction::Egress)
                .collect();
            let now_rules: Vec<Rule> = now_in.iter().map(|&i| now[i].clone()).collect();
            let local = |i: usize| now_in.iter().position(|&j| j == i);
            // The event's rules as they are now (indices into `now_rules`): every one still
            // there, and those still as the event made them (`fresh`: not narrowed since),
            // which are blamed first where they made a port world-open.
            let mut event_now = Vec::new();
            let mut fresh = Vec::new();
            for (k, a) in assessed.iter().enumerate() {
                if let Some((i, l)) = matched[k].and_then(|i| local(i).map(|l| (i, l))) {
                    event_now.push(l);
                    if unchanged(&a.rule, &now[i]) {
                        fresh.push(l);
                    }
                }
            }
            let now_analysis = analyse_change_rules(config, &now_rules, lists, &fresh);
            for (k, a) in assessed.iter().enumerate() {
                let risky_in = a.rule.direction != Direction::Egress && a.exposure.is_risky();
                if !looked_up {
                    if risky_in {
                        plan.push(PlannedStep::new(revoke(a.rule.clone())));
                    }
                    continue;
                }
                if !risky_in {
                    // The event left the direction open and the rule is egress: reported.
                    if a.exposure.is_risky() && change.rules[k].direction == Direction::Unknown {
                        plan.push(settled(
                            revoke(a.rule.clone()),
                            Status::Skipped,
                            &Why::Egress,
                        ));
                    }
                    continue;
                }
                let step = match (group_gone, matched[k]) {
                    (true, _) => {
                        settled(revoke(a.rule.clone()), Status::AlreadyDone, &Why::GroupGone)
                    }
                    (false, None) => {
                        settled(revoke(a.rule.clone()), Status::AlreadyDone, &Why::Gone)
                    }
                    (false, Some(i)) => {
                        let current = now[i].clone();
                        let contributes = local(i).is_some_and(|l| now_analysis.is_contributor(l));
                        // Revoke what is there now, by id when the event named one.
                        let target = if a.rule.rule_id.is_some() {
                            current.clone()
                        } else {
                            a.rule.clone()
                        };
                        if contributes {
                            PlannedStep::new(revoke(target))
                        } else {
                            settled(
                                revoke(target),
                                Status::AlreadyDone,
                                &Why::NoLongerWorldOpen(current),
                            )
                        }
                    }
                };
                plan.push(step);
            }
            // Rules already in the group that keep open what the event opened, and, where the
            // event added to a port that older rules already make world-open (its own rules
            // then add nothing that makes it so and stay), those older rules: a port that is
            // not allowed is not left world-open once a change touches it.
            let mut others = if assessed.iter().any(|a| a.exposure.is_risky()) {
                now_analysis.contributors_with(&event_now)
            } else {
                Vec::new()
            };
            others.extend(now_analysis.contributors_on(&fresh));
            others.sort_unstable();
            others.dedup();
            for l in others {
                if event_now.contains(&l) {
                    continue;
                }
                let rule = now_rules[l].clone();
                pieces.push(Assessed {
                    exposure: now_analysis.exposures[l].clone(),
                    rule: rule.clone(),
                });
                plan.push(PlannedStep::new(revoke(rule)));
            }
            hold_back(config, exempt.as_ref(), &mut plan);
        }
        let used: BTreeMap<String, PrefixList> = assessed
            .iter()
            .chain(&pieces)
            .filter_map(|a| match &a.rule.peer {
                Peer::PrefixList { id } => lists.get(id).map(|l| (id.clone(), l.clone())),
                _ => None,
            })
            .collect();
        Decision::Respond {
            case: Case {
                record,
                region,
                change,
                looked_up,
                group,
                rules: assessed,
                pieces,
                exempt,
                prefix_lists: used,
                prefix_list: None,
                settings,
            },
            plan,
        }
    }
}

/// The list as looked up may not show the event's change yet: it is still `*-in-progress`
/// (the change, or another, is being applied), or its version is older than the one the change
/// makes current.
pub fn looked_up_early(edit: &PrefixListEdit, list: &PrefixList) -> bool {
    let in_progress = list
        .state
        .as_deref()
        .is_some_and(|s| s.ends_with("-in-progress"));
    let older = matches!((list.version, edit.produced), (Some(have), Some(made)) if have < made);
    in_progress || older
}

/// The entries the list holds once the event's change is complete. A look-up made after the
/// change completed shows them. One made before ([`looked_up_early`]) may still show the list
/// as it was: then the entries the event added (for a restore, `restored`: the restored
/// version's entries) are counted in and those it removed left out, so that a world-open entry
/// just added is never missed. Entries compare as networks (`0.0.0.0/0` = `1.2.3.4/0`).
pub fn entries_after(
    edit: &PrefixListEdit,
    list: &PrefixList,
    restored: Option<&[String]>,
) -> Vec<String> {
    if !looked_up_early(edit, list) {
        return list.entries.clone();
    }
    let same = |a: &str, b: &str| match (parse_cidr(a), parse_cidr(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    };
    let mut out: Vec<String> = Vec::new();
    for e in list
        .entries
        .iter()
        .chain(&edit.added)
        .chain(restored.unwrap_or_default())
    {
        if !out.iter().any(|o| same(o, e)) && !edit.removed.iter().any(|r| same(r, e)) {
            out.push(e.clone());
        }
    }
    out
}

/// `ModifyManagedPrefixList`: the list's entries now, and every ingress rule referencing it
/// that is world-open because of them. The entry itself is left in the list (it may be
/// shared with other accounts and used by route tables); the referencing rules are revoked.
fn decide_prefix_list(
    config: &Config,
    record: Record,
    change: Change,
    region: Option<String>,
    facts: &Facts,
    settings: AppliedSettings,
    account: &str,
) -> Decision<Case, Step> {
    let edit = change.prefix_list.clone().unwrap_or_default();
    let looked = facts.prefix_lists.get(&edit.id);
    let early = looked
        .filter(|l| looked_up_early(&edit, l))
        .map(|l| (l.version, l.state.clone()));
    // The list with the entries it holds once the change is complete; the referencing rules
    // are judged with those.
    let list = looked.map(|l| PrefixList {
        entries: entries_after(&edit, l, facts.restored_entries.as_deref()),
        ..l.clone()
    });
    let mut lists = facts.prefix_lists.clone();
    if let Some(l) = &list {
        lists.insert(l.id.clone(), l.clone());
    }
    let entries: Vec<String> = match &list {
        Some(l) => l.entries.clone(),
        None => edit.added.clone(),
    };
    let aws_managed = list.as_ref().is_some_and(|l| l.aws_managed);
    let t = Threshold::from_prefixes(
        config.world_open_min_prefix_v4,
        config.world_open_min_prefix_v6,
    );
    let mut set = AddrSet::new();
    let parsed: Vec<(String, AddrSet)> = entries
        .iter()
        .filter_map(|e| parse_cidr(e).map(|n| (e.clone(), AddrSet::of(n))))
        .collect();
    for (_, s) in &parsed {
        set.extend(s);
    }
    let world_entries: Vec<String> = if !aws_managed && t.reached(set.public()).any() {
        // The entries that matter: the list's own widest-first contributors.
        let rule = Rule {
            direction: Direction::Ingress,
            protocol: crate::rules::Protocol::All,
            from_port: None,
            to_port: None,
            peer: Peer::Unspecified,
            description: None,
            rule_id: None,
        };
        let rules: Vec<&Rule> = parsed.iter().map(|_| &rule).collect();
        let sets: Vec<&AddrSet> = parsed.iter().map(|(_, s)| s).collect();
        let a = analyse(config, &rules, &sets);
        a.contributor_sets
            .iter()
            .flatten()
            .map(|&i| parsed[i].0.clone())
            .fold(Vec::new(), |mut v, e| {
                if !v.contains(&e) {
                    v.push(e);
                }
                v
            })
    } else {
        Vec::new()
    };

    let mut plan = Vec::new();
    let mut references = Vec::new();
    for g in facts.referencing.iter().flatten() {
        let gref = GroupRef {
            id: Some(g.id.clone()),
            name: g.name.clone(),
        };
        let ingress: Vec<Rule> = g
            .rules
            .iter()
            .filter(|r| r.direction != Direction::Egress)
            .cloned()
            .collect();
        let refs: Vec<usize> = (0..ingress.len())
            .filter(|&i| matches!(&ingress[i].peer, Peer::PrefixList { id } if *id == edit.id))
            .collect();
        // The rules referencing the list are what the change changed: blamed first.
        let a = analyse_change_rules(config, &ingress, &lists, &refs);
        for &i in &refs {
            references.push((
                gref.clone(),
                Assessed {
                    rule: ingress[i].clone(),
                    exposure: a.exposures[i].clone(),
                },
            ));
        }
        let mut steps: Vec<PlannedStep<Step>> = a
            .contributors_with(&refs)
            .into_iter()
            .map(|i| {
                PlannedStep::new(Step::RevokeIngress {
                    group: gref.clone(),
                    rule: ingress[i].clone(),
                    region: region.clone(),
                })
            })
            .collect();
        let exempt = exemption(config, &settings, account, Some(&g.id), Some(g));
        hold_back(config, exempt.as_ref(), &mut steps);
        plan.extend(steps);
    }
    Decision::Respond {
        case: Case {
            record,
            region,
            looked_up: facts.referencing.is_some(),
            group: None,
            rules: Vec::new(),
            pieces: Vec::new(),
            exempt: settings
                .exempt
                .then(|| Why::ExemptAccount(account.to_string())),
            settings,
            prefix_lists: list.iter().map(|l| (l.id.clone(), l.clone())).collect(),
            prefix_list: Some(PrefixListCase {
                id: edit.id.clone(),
                list,
                looked_up_early: early,
                groups_checked: facts.referencing.as_ref().map(Vec::len),
                world_entries,
                references,
            }),
            change,
        },
        plan,
    }
}
