//! Carrying a plan out through EC2, in the event's own region.

use crate::config::Config;
use crate::decide::{assess, Exposure, GroupFacts, Plan};
use crate::rules::{Change, ChangeKind, Direction, Peer, Protocol, Rule};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range};
use aws_sdk_ec2::Client;
use trailwarden::alert::Status;

fn is_group_not_found(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.starts_with("InvalidGroup") && c.ends_with("NotFound"))
}

fn is_rule_not_found(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InvalidSecurityGroupRuleId.NotFound" | "InvalidPermission.NotFound")
    )
}

/// Looks the group up: name, VPC and exemption tag. `Ok(None)` when it no longer exists.
pub async fn lookup_group(
    ec2: &Client,
    change: &Change,
    tag_key: &str,
) -> Result<Option<GroupFacts>, String> {
    let req = match (&change.group_id, &change.group_name) {
        (Some(id), _) => ec2.describe_security_groups().group_ids(id),
        (None, Some(name)) => ec2.describe_security_groups().group_names(name),
        (None, None) => return Err("the event names no security group".into()),
    };
    match req.send().await {
        Ok(out) => Ok(out.security_groups().first().map(|g| GroupFacts {
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
        })),
        Err(e) if is_group_not_found(e.code()) => Ok(None),
        Err(e) => Err(format!(
            "ec2:DescribeSecurityGroups failed: {}",
            DisplayErrorContext(&e)
        )),
    }
}

fn permission(rule: &Rule) -> Option<IpPermission> {
    let Peer::Cidr { text, ipv6, .. } = &rule.peer else {
        return None;
    };
    let mut p = IpPermission::builder().ip_protocol(rule.protocol.api_value());
    if rule.protocol != Protocol::All {
        if let Some(f) = rule.from_port {
            p = p.from_port(f);
        }
        if let Some(t) = rule.to_port {
            p = p.to_port(t);
        }
    }
    p = if *ipv6 {
        p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(text).build())
    } else {
        p.ip_ranges(IpRange::builder().cidr_ip(text).build())
    };
    Some(p.build())
}

/// Revokes one ingress rule: by rule id, else by its permission. A rule or group that is
/// already gone is success.
pub async fn revoke(ec2: &Client, change: &Change, rule: &Rule) -> (Status, String) {
    let mut req = ec2.revoke_security_group_ingress();
    req = match (&change.group_id, &change.group_name) {
        (Some(id), _) => req.group_id(id),
        (None, Some(name)) => req.group_name(name),
        (None, None) => {
            return (
                Status::Failed,
                "not attempted: the event names no security group".into(),
            )
        }
    };
    let how = match &rule.rule_id {
        Some(id) => {
            req = req.security_group_rule_ids(id);
            "by rule id"
        }
        None => match permission(rule) {
            Some(p) => {
                req = req.ip_permissions(p);
                "by permission"
            }
            None => {
                return (
                    Status::Failed,
                    "not attempted: the rule has neither an id nor a CIDR".into(),
                )
            }
        },
    };
    match req.send().await {
        Ok(out) if !out.unknown_ip_permissions().is_empty() => {
            (Status::AlreadyDone, "the rule no longer exists".into())
        }
        Ok(out) if out.r#return() == Some(false) => (
            Status::Failed,
            "ec2:RevokeSecurityGroupIngress answered Return=false".into(),
        ),
        Ok(_) => (Status::Done, format!("revoked {how}")),
        Err(e) if is_rule_not_found(e.code()) => {
            (Status::AlreadyDone, "the rule no longer exists".into())
        }
        Err(e) if is_group_not_found(e.code()) => (
            Status::AlreadyDone,
            "the security group no longer exists".into(),
        ),
        Err(e) => (
            Status::Failed,
            format!(
                "ec2:RevokeSecurityGroupIngress failed: {}",
                DisplayErrorContext(&e)
            ),
        ),
    }
}

fn rule_from_sdk(r: &aws_sdk_ec2::types::SecurityGroupRule) -> Rule {
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

/// The rule as it is now, `Ok(None)` when it no longer exists.
async fn current_rule(
    ec2: &Client,
    group_id: Option<&str>,
    rule_id: &str,
) -> Result<Option<Rule>, String> {
    let mut req = ec2.describe_security_group_rules().filters(
        Filter::builder()
            .name("security-group-rule-id")
            .values(rule_id)
            .build(),
    );
    if let Some(g) = group_id {
        req = req.filters(Filter::builder().name("group-id").values(g).build());
    }
    match req.send().await {
        Ok(out) => Ok(out
            .security_group_rules()
            .iter()
            .find(|r| r.security_group_rule_id() == Some(rule_id))
            .map(rule_from_sdk)),
        Err(e) if is_rule_not_found(e.code()) || is_group_not_found(e.code()) => Ok(None),
        Err(e) => Err(format!(
            "ec2:DescribeSecurityGroupRules failed: {}",
            DisplayErrorContext(&e)
        )),
    }
}

/// Carries out the plan's steps and returns what was learnt about the group. Each step's
/// action gets its final status; a rule learnt to be egress is marked so.
pub async fn execute(config: &Config, ec2: &Client, plan: &mut Plan) -> Option<GroupFacts> {
    let change = plan.change.clone();
    let lookup = if change.kind == ChangeKind::DeleteGroup {
        Ok(None)
    } else {
        lookup_group(ec2, &change, &config.exempt_tag).await
    };
    if let Err(e) = &lookup {
        tracing::warn!(error = %e, "security group lookup failed");
    }
    let any_to_run = plan.steps.iter().any(|s| s.execute);
    if any_to_run {
        for i in 0..plan.steps.len() {
            if !plan.steps[i].execute {
                continue;
            }
            let idx = plan.steps[i].assessment;
            let (status, detail) = match &lookup {
                Err(e) => (
                    Status::Failed,
                    format!(
                        "not attempted: could not check the exemption tag {}: {e}",
                        config.exempt_tag
                    ),
                ),
                Ok(None) => (
                    Status::AlreadyDone,
                    "the security group no longer exists".into(),
                ),
                Ok(Some(GroupFacts {
                    exempt_tag: Some((k, v)),
                    ..
                })) => (
                    Status::Skipped,
                    format!("exempt: the group is tagged {k}={v}"),
                ),
                Ok(Some(_)) => {
                    revoke_step(config, ec2, &change, &mut plan.assessments[idx].rule).await
                }
            };
            tracing::info!(
                step = %plan.steps[i].action.target,
                status = status.as_str(),
                detail = %detail,
                "revoke"
            );
            plan.steps[i].action.status = status;
            plan.steps[i].action.detail = Some(detail);
        }
    }
    lookup.ok().flatten()
}

async fn revoke_step(
    config: &Config,
    ec2: &Client,
    change: &Change,
    rule: &mut Rule,
) -> (Status, String) {
    if rule.direction == Direction::Unknown {
        // ModifySecurityGroupRules: learn whether the rule is ingress, and what it is now.
        let Some(id) = rule.rule_id.clone() else {
            return (
                Status::Failed,
                "not attempted: the modified rule has no id".into(),
            );
        };
        match current_rule(ec2, change.group_id.as_deref(), &id).await {
            Err(e) => return (Status::Failed, format!("not attempted: {e}")),
            Ok(None) => return (Status::AlreadyDone, "the rule no longer exists".into()),
            Ok(Some(now)) if now.direction == Direction::Egress => {
                rule.direction = Direction::Egress;
                return (
                    Status::Skipped,
                    "egress rule: reported, never revoked".into(),
                );
            }
            Ok(Some(now)) => {
                rule.direction = Direction::Ingress;
                if !matches!(assess(config, &now), Exposure::WorldRisky { .. }) {
                    return (
                        Status::AlreadyDone,
                        format!(
                            "the rule was changed again and is no longer world-open: now {} from {}",
                            now.traffic(),
                            now.peer
                        ),
                    );
                }
            }
        }
    }
    revoke(ec2, change, rule).await
}
