//! Everything that talks to EC2, in the event's own region: the read-only look-ups before
//! deciding (`gather`) and the revocations (`execute_step`).

use crate::config::Config;
use crate::decide::{
    looked_up_early, triage, Facts, Group, GroupLookup, GroupRef, PrefixList, Step,
};
use crate::report;
use crate::rules::{Change, ChangeKind, Direction, Peer, Protocol, Rule};
use crate::SecurityGroup;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range, PrefixListId};
use aws_sdk_ec2::Client;
use std::collections::{BTreeMap, BTreeSet};
use trailwarden::alert::Status;
use trailwarden::aws::{collect_all, CallError};
use trailwarden::respond::{InitError, Job, Responder, StepError, StepResult};
use trailwarden::Payload;

/// `InvalidGroup.NotFound`, `InvalidGroupId.NotFound`...: the group is gone.
fn is_group_not_found(e: &CallError) -> bool {
    e.is_not_found()
        && e.code
            .as_deref()
            .is_some_and(|c| c.starts_with("InvalidGroup"))
}

/// `InvalidSecurityGroupRuleId.NotFound`, `InvalidPermission.NotFound`: the rule is gone.
fn is_rule_not_found(e: &CallError) -> bool {
    e.is_not_found() && !is_group_not_found(e)
}

fn failed(call: &str, e: &CallError) -> String {
    format!("ec2:{call} failed: {e}")
}

/// A rule as `DescribeSecurityGroupRules` returns it.
pub fn rule_from_sdk(r: &aws_sdk_ec2::types::SecurityGroupRule) -> Rule {
    let peer = if let Some(c) = r.cidr_ipv4() {
        Peer::cidr(c, false)
    } else if let Some(c) = r.cidr_ipv6() {
        Peer::cidr(c, true)
    } else if let Some(p) = r.prefix_list_id() {
        Peer::PrefixList { id: p.to_string() }
    } else if let Some(g) = r.referenced_group_info() {
        Peer::Group {
            id: g.group_id().map(str::to_string),
            name: None,
            owner: g.user_id().map(str::to_string),
        }
    } else {
        Peer::Unspecified
    };
    Rule {
        direction: if r.is_egress() == Some(true) {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        protocol: Protocol::parse(r.ip_protocol().unwrap_or("-1")),
        from_port: r.from_port(),
        to_port: r.to_port(),
        peer,
        description: r.description().map(str::to_string),
        rule_id: r.security_group_rule_id().map(str::to_string),
    }
}

/// Every rule matching `filters` (all pages), with its group id.
async fn describe_rules(ec2: &Client, filters: Vec<Filter>) -> Result<Vec<(String, Rule)>, String> {
    let rules = collect_all(
        ec2.describe_security_group_rules()
            .set_filters((!filters.is_empty()).then_some(filters))
            .max_results(1000)
            .into_paginator()
            .items()
            .send(),
    )
    .await
    .map_err(|e| failed("DescribeSecurityGroupRules", &e))?;
    Ok(rules
        .iter()
        .map(|r| {
            (
                r.group_id().unwrap_or_default().to_string(),
                rule_from_sdk(r),
            )
        })
        .collect())
}

/// Looks groups up (name, VPC, exemption tag), by id or by name. Groups that no longer
/// exist are missing from the answer.
async fn describe_groups(
    ec2: &Client,
    ids: &[String],
    name: Option<&str>,
    tag_key: &str,
) -> Result<Vec<Group>, CallError> {
    let req = match name {
        Some(n) => ec2.describe_security_groups().group_names(n),
        None => ec2
            .describe_security_groups()
            .set_group_ids(Some(ids.to_vec())),
    };
    let out = req.send().await.map_err(|e| CallError::from_sdk(&e))?;
    Ok(out
        .security_groups()
        .iter()
        .map(|g| Group {
            id: g.group_id().unwrap_or_default().to_string(),
            name: g.group_name().map(str::to_string),
            vpc_id: g.vpc_id().map(str::to_string),
            exempt_tag: g
                .tags()
                .iter()
                .find(|t| t.key() == Some(tag_key))
                .map(|t| {
                    (
                        tag_key.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .filter(|(_, v)| Config::tag_value_exempts(v)),
            rules: Vec::new(),
        })
        .collect())
}

/// Looks up prefix lists: AWS-managed ones by name only, customer-managed ones with their
/// current entries.
async fn describe_prefix_lists(
    ec2: &Client,
    ids: &BTreeSet<String>,
) -> Result<BTreeMap<String, PrefixList>, StepError> {
    let mut out = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let what = |id: &str| format!("ec2:GetManagedPrefixListEntries {id}");
    let lists = ec2
        .describe_managed_prefix_lists()
        .set_prefix_list_ids(Some(ids.iter().cloned().collect()))
        .send()
        .await
        .map_err(|e| {
            StepError::new(
                "ec2:DescribeManagedPrefixLists",
                report::lookup_failed(&failed(
                    "DescribeManagedPrefixLists",
                    &CallError::from_sdk(&e),
                )),
            )
        })?;
    for l in lists.prefix_lists() {
        let Some(id) = l.prefix_list_id() else {
            continue;
        };
        let name = l.prefix_list_name().map(str::to_string);
        let aws_managed = l.owner_id() == Some("AWS")
            || name
                .as_deref()
                .is_some_and(|n| n.starts_with("com.amazonaws."));
        let mut list = PrefixList {
            id: id.to_string(),
            name,
            aws_managed,
            version: l.version(),
            state: l.state().map(|s| s.as_str().to_string()),
            entries: Vec::new(),
        };
        if !aws_managed {
            list.entries = prefix_list_entries(ec2, id, None, what(id)).await?;
        }
        out.insert(id.to_string(), list);
    }
    Ok(out)
}

/// The CIDRs of a customer-managed prefix list: its current entries, or those of `version`.
async fn prefix_list_entries(
    ec2: &Client,
    id: &str,
    version: Option<i64>,
    what: String,
) -> Result<Vec<String>, StepError> {
    let entries = collect_all(
        ec2.get_managed_prefix_list_entries()
            .prefix_list_id(id)
            .set_target_version(version)
            .into_paginator()
            .items()
            .send(),
    )
    .await
    .map_err(|e| {
        StepError::new(
            what,
            report::lookup_failed(&failed("GetManagedPrefixListEntries", &e)),
        )
    })?;
    Ok(entries
        .iter()
        .filter_map(|e| e.cidr().map(str::to_string))
        .collect())
}

fn prefix_list_ids<'a>(rules: impl Iterator<Item = &'a Rule>) -> BTreeSet<String> {
    rules
        .filter(|r| r.direction != Direction::Egress)
        .filter_map(|r| match &r.peer {
            Peer::PrefixList { id } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// How the event's group is looked up: by its id, or by its name when the event names no id.
/// `None` when it names neither.
fn group_query(change: &Change) -> Option<(Vec<String>, Option<&str>)> {
    let ids: Vec<String> = change.group_id.iter().cloned().collect();
    let name = change
        .group_id
        .is_none()
        .then_some(change.group_name.as_deref())
        .flatten();
    (!ids.is_empty() || name.is_some()).then_some((ids, name))
}

impl Responder for SecurityGroup {
    const NAME: &'static str = crate::NAME;

    /// Builds the state, with the account settings document in S3 (`s3://` setting) read.
    async fn init(sdk: &aws_config::SdkConfig, config: &mut Config) -> Result<Self, InitError> {
        let s3 = trailwarden::aws::s3_client(sdk);
        config
            .account_settings
            .load_s3(&s3, trailwarden::estate::check_arn)
            .await?;
        Ok(SecurityGroup::new(sdk, config))
    }

    /// The look-ups, in the event's account and region ([`gather_with`]).
    async fn gather(&self, config: &Config, payload: &Payload) -> Result<Facts, StepError> {
        let region = Self::region_of(payload);
        let account = Self::account_of(payload);
        let ec2 = match self.ec2_in(account.as_deref(), region.as_deref()).await {
            Ok(c) => c,
            // Refused: decided from the event alone; its steps fail without a retry.
            Err(e) if e.refused => return Ok(Facts::default()),
            Err(e) => {
                return Err(StepError::new(
                    format!("sts:AssumeRole {}", e.role_arn),
                    e.to_string(),
                ))
            }
        };
        gather_with(config, &ec2, payload).await
    }

    /// Carries out one step, in the event's account and region.
    async fn execute_step(&self, step: &Step, job: Job<'_, Self>) -> StepResult {
        let Job { case, output, .. } = job;
        let Step::RevokeIngress {
            group,
            rule,
            region,
        } = step;
        let account = case.record.account_id();
        let ec2 = match self.ec2_in(account, region.as_deref()).await {
            Ok(c) => c,
            Err(e) => {
                let rest = format!(
                    "not attempted: trailwarden could not act in account {}",
                    e.account
                );
                let result = if e.refused {
                    StepResult::failed_no_retry(e.to_string())
                } else {
                    StepResult::failed(e.to_string())
                };
                output.unreachable = Some(e);
                return result.then_stop(Status::Skipped, rest);
            }
        };
        revoke(&ec2, group, rule).await
    }

    // Once the alert is out: records the hand-off, so the log scan does not alert again.
    trailwarden_state::handoff_after_publish!();
}

/// The look-ups a security group change needs: the group (name, VPC, exemption tag), all
/// its rules now, and the prefix lists its ingress rules reference. Creations, removals and
/// deletions need only the group's name (a failure there leaves it out).
pub async fn gather_with(
    config: &Config,
    ec2: &Client,
    payload: &Payload,
) -> Result<Facts, StepError> {
    let Ok((_, change, _)) = triage(config, payload) else {
        return Ok(Facts::default());
    };
    match change.kind {
        ChangeKind::DeleteGroup => Ok(Facts::default()),
        ChangeKind::ModifyPrefixList => gather_prefix_list(config, ec2, &change).await,
        ChangeKind::CreateGroup | ChangeKind::Revoke => {
            let Some((ids, name)) = group_query(&change) else {
                return Ok(Facts::default());
            };
            match describe_groups(ec2, &ids, name, &config.exempt_tag).await {
                Ok(g) => Ok(Facts {
                    group: Some(match g.into_iter().next() {
                        Some(g) => GroupLookup::Found(g),
                        None => GroupLookup::Gone,
                    }),
                    ..Facts::default()
                }),
                Err(e) if is_group_not_found(&e) => Ok(Facts {
                    group: Some(GroupLookup::Gone),
                    ..Facts::default()
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "security group lookup failed");
                    Ok(Facts::default())
                }
            }
        }
        ChangeKind::Authorize | ChangeKind::Modify => gather_group(config, ec2, &change).await,
    }
}

async fn gather_group(config: &Config, ec2: &Client, change: &Change) -> Result<Facts, StepError> {
    let label = change
        .group_id
        .clone()
        .or_else(|| change.group_name.clone())
        .unwrap_or_default();
    let Some((ids, name)) = group_query(change) else {
        return Err(StepError::new(
            "ec2:DescribeSecurityGroups",
            report::lookup_failed(&report::revoked(&report::Revoked::NoGroup)),
        ));
    };
    let group = match describe_groups(ec2, &ids, name, &config.exempt_tag).await {
        Ok(g) => g.into_iter().next(),
        Err(e) if is_group_not_found(&e) => None,
        Err(e) => {
            return Err(StepError::new(
                format!("ec2:DescribeSecurityGroups {label}"),
                report::exemption_unknown(
                    &config.exempt_tag,
                    &failed("DescribeSecurityGroups", &e),
                ),
            ))
        }
    };
    let Some(mut group) = group else {
        return Ok(Facts {
            group: Some(GroupLookup::Gone),
            ..Facts::default()
        });
    };
    let rules = describe_rules(
        ec2,
        vec![Filter::builder().name("group-id").values(&group.id).build()],
    )
    .await
    .map_err(|e| {
        StepError::new(
            format!("ec2:DescribeSecurityGroupRules {}", group.id),
            report::lookup_failed(&e),
        )
    })?;
    group.rules = rules.into_iter().map(|(_, r)| r).collect();
    let ids = prefix_list_ids(change.rules.iter().chain(&group.rules));
    let prefix_lists = describe_prefix_lists(ec2, &ids).await?;
    Ok(Facts {
        group: Some(GroupLookup::Found(group)),
        prefix_lists,
        ..Facts::default()
    })
}

/// `ModifyManagedPrefixList`: the list now, every group with an ingress rule referencing it
/// (all of each group's rules) and the other prefix lists those groups reference.
async fn gather_prefix_list(
    config: &Config,
    ec2: &Client,
    change: &Change,
) -> Result<Facts, StepError> {
    let Some(edit) = &change.prefix_list else {
        return Ok(Facts::default());
    };
    let all = describe_rules(ec2, Vec::new())
        .await
        .map_err(|e| StepError::new("ec2:DescribeSecurityGroupRules", report::lookup_failed(&e)))?;
    let mut by_group: BTreeMap<String, Vec<Rule>> = BTreeMap::new();
    for (g, r) in all {
        by_group.entry(g).or_default().push(r);
    }
    by_group.retain(|_, rules| {
        rules.iter().any(|r| {
            r.direction != Direction::Egress
                && matches!(&r.peer, Peer::PrefixList { id } if *id == edit.id)
        })
    });
    let mut ids = prefix_list_ids(by_group.values().flatten());
    ids.insert(edit.id.clone());
    let prefix_lists = describe_prefix_lists(ec2, &ids).await?;
    // A restore looked up before it completed: the entries it brings back are those of the
    // version it restores.
    let restored_entries = match (edit.restored, prefix_lists.get(&edit.id)) {
        (Some(v), Some(l)) if !l.aws_managed && looked_up_early(edit, l) => Some(
            prefix_list_entries(
                ec2,
                &edit.id,
                Some(v),
                format!("ec2:GetManagedPrefixListEntries {} version {v}", edit.id),
            )
            .await?,
        ),
        _ => None,
    };
    let mut groups = Vec::new();
    if !by_group.is_empty() {
        let gids: Vec<String> = by_group.keys().cloned().collect();
        let found = describe_groups(ec2, &gids, None, &config.exempt_tag)
            .await
            .map_err(|e| {
                StepError::new(
                    "ec2:DescribeSecurityGroups",
                    report::exemption_unknown(
                        &config.exempt_tag,
                        &failed("DescribeSecurityGroups", &e),
                    ),
                )
            })?;
        for mut g in found {
            g.rules = by_group.remove(&g.id).unwrap_or_default();
            groups.push(g);
        }
    }
    Ok(Facts {
        group: None,
        prefix_lists,
        referencing: Some(groups),
        restored_entries,
    })
}

fn permission(rule: &Rule) -> Option<IpPermission> {
    let mut p = IpPermission::builder().ip_protocol(rule.protocol.api_value());
    if rule.protocol != Protocol::All {
        if let Some(f) = rule.from_port {
            p = p.from_port(f);
        }
        if let Some(t) = rule.to_port {
            p = p.to_port(t);
        }
    }
    p = match &rule.peer {
        Peer::Cidr {
            text, ipv6: true, ..
        } => p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(text).build()),
        Peer::Cidr { text, .. } => p.ip_ranges(IpRange::builder().cidr_ip(text).build()),
        Peer::PrefixList { id } => {
            p.prefix_list_ids(PrefixListId::builder().prefix_list_id(id).build())
        }
        _ => return None,
    };
    Some(p.build())
}

/// Revokes one ingress rule: by rule id, else by its permission. A rule or group that is
/// already gone is success.
pub async fn revoke(ec2: &Client, group: &GroupRef, rule: &Rule) -> StepResult {
    use crate::report::Revoked;
    let mut req = ec2.revoke_security_group_ingress();
    req = match (&group.id, &group.name) {
        (Some(id), _) => req.group_id(id),
        (None, Some(name)) => req.group_name(name),
        (None, None) => return StepResult::failed(report::revoked(&Revoked::NoGroup)),
    };
    let by_id = match &rule.rule_id {
        Some(id) => {
            req = req.security_group_rule_ids(id);
            true
        }
        None => match permission(rule) {
            Some(p) => {
                req = req.ip_permissions(p);
                false
            }
            None => return StepResult::failed(report::revoked(&Revoked::NoIdNorSource)),
        },
    };
    let r = match req.send().await.map_err(|e| CallError::from_sdk(&e)) {
        Ok(out) if !out.unknown_ip_permissions().is_empty() => {
            (Status::AlreadyDone, Revoked::RuleGone)
        }
        Ok(out) if out.r#return() == Some(false) => (Status::Failed, Revoked::ReturnFalse),
        Ok(_) => (Status::Done, Revoked::Done { by_id }),
        Err(e) if is_group_not_found(&e) => (Status::AlreadyDone, Revoked::GroupGone),
        Err(e) if is_rule_not_found(&e) => (Status::AlreadyDone, Revoked::RuleGone),
        Err(e) => (
            Status::Failed,
            Revoked::Error(failed("RevokeSecurityGroupIngress", &e)),
        ),
    };
    StepResult::status(r.0, report::revoked(&r.1))
}
