//! How exposed a group's rules are, taken together: for each protocol and port, how much of
//! the internet's address space the group's rules let in, summed over every rule.
//!
//! A port is **world-open** when the public addresses let in add up to the threshold of
//! [`crate::space::Threshold`] (by default as many as a /7 of IPv4 or a /15 of IPv6): one
//! `0.0.0.0/0` rule, `0.0.0.0/1` plus `128.0.0.0/1`, many /8 pieces, a prefix list holding
//! `0.0.0.0/0`. The rules that make a port world-open (its *contributors*) are chosen widest
//! first until what is left falls below the threshold, and every rule at least as wide as the
//! narrowest one chosen goes too (equal pieces go together); narrower rules that remain (an
//! office /32) are not contributors.
//!
//! When a change is being judged, the rules it added are *preferred*: if the port would not be
//! world-open without them (the change made it so), they are chosen first, widest first, and
//! the older rules not at all, since taking the change's rules away closes the port. So pieces
//! of a split range cannot hide behind an older, wider rule (`11.0.0.0/8` there, the change
//! adds `12.0.0.0/9` and `12.128.0.0/9`: the two /9s are the contributors, not the /8). When
//! the port was world-open without them, the choice is widest first over all the rules, as
//! above. Pure: no I/O.

use crate::config::Config;
use crate::rules::{Protocol, Rule};
use crate::space::{AddrSet, Count, Threshold};
use serde::Serialize;

/// Why a world-open rule is risky.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Risk {
    /// Protocol `-1`: every protocol and port.
    AllTraffic,
    /// Every TCP or UDP port.
    AllPorts { protocol: String },
    /// Critical ports (the first few) among the world-open ones.
    CriticalPorts { ports: Vec<u16> },
    /// Ports that are not allowed public ports (the rule's range).
    NotAllowed { from: u16, to: u16 },
    /// A protocol without ports other than ICMP.
    OtherProtocol { protocol: String },
}

/// How exposed one rule is, in the context of its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exposure {
    /// Not part of any world-open port (a narrow CIDR, a group, a prefix list without wide
    /// entries, an AWS-managed prefix list).
    Restricted,
    /// Part of a world-open port, but only on allowed public ports.
    WorldAllowed,
    /// Part of world-open ICMP/ICMPv6 (no ports; reported, never revoked).
    WorldIcmp,
    /// Part of a world-open port that is not allowed. `alone`: the rule reaches the threshold
    /// by itself; otherwise together with the group's other contributors.
    WorldRisky {
        critical: bool,
        risk: Risk,
        alone: bool,
    },
}

impl Exposure {
    fn rank(&self) -> u8 {
        match self {
            Exposure::Restricted => 0,
            Exposure::WorldAllowed => 1,
            Exposure::WorldIcmp => 2,
            Exposure::WorldRisky {
                critical: false, ..
            } => 3,
            Exposure::WorldRisky { critical: true, .. } => 4,
        }
    }

    pub fn is_risky(&self) -> bool {
        matches!(self, Exposure::WorldRisky { .. })
    }

    pub fn is_critical(&self) -> bool {
        matches!(self, Exposure::WorldRisky { critical: true, .. })
    }
}

/// The exposure of a set of rules (all of one direction, of one group).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// One per input rule, in order.
    pub exposures: Vec<Exposure>,
    /// For each world-open, not allowed protocol/port range: the rules that make it so
    /// (indices into the input). Revoking all of them closes it.
    pub contributor_sets: Vec<Vec<usize>>,
    /// For the same ranges, in the same order: every rule letting internet addresses in on
    /// the range, contributor or not (an office /32 next to a `0.0.0.0/0`).
    pub open_sets: Vec<Vec<usize>>,
}

impl Analysis {
    /// Every rule that contributes to a world-open, not allowed port together with any rule
    /// in `with` (indices), including those of `with` themselves.
    pub fn contributors_with(&self, with: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .contributor_sets
            .iter()
            .filter(|set| set.iter().any(|i| with.contains(i)))
            .flatten()
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every rule that contributes to a world-open, not allowed port on which any rule in
    /// `with` lets internet addresses in, whether or not that rule contributes itself.
    pub fn contributors_on(&self, with: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .contributor_sets
            .iter()
            .zip(&self.open_sets)
            .filter(|(_, on)| on.iter().any(|i| with.contains(i)))
            .flat_map(|(set, _)| set.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub fn is_contributor(&self, i: usize) -> bool {
        self.contributor_sets.iter().any(|s| s.contains(&i))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    Ports(Protocol),
    Icmp(Protocol),
    Other(String),
    All,
}

fn covers(rule: &Rule, class: &Class) -> bool {
    match (class, &rule.protocol) {
        (_, Protocol::All) => true,
        (Class::All, _) => false,
        (Class::Ports(p) | Class::Icmp(p), q) => p == q,
        (Class::Other(p), Protocol::Other(q)) => p == q,
        (Class::Other(_), _) => false,
    }
}

/// Contributors of one segment: widest first until the rest is below the threshold, then
/// every rule as wide as the narrowest chosen. When the rules other than `preferred` (the
/// change's own) are below the threshold by themselves, the preferred rules are chosen first
/// (widest first, and equal pieces together) and no other rule is. Returns the contributors
/// (empty when the segment is not world-open) and every covering rule letting internet
/// addresses in, in a family that reaches the threshold.
fn contributors(
    covering: &[usize],
    counts: &[Count],
    sets: &[&AddrSet],
    t: &Threshold,
    preferred: &[usize],
) -> (Vec<usize>, Vec<usize>) {
    let union = |idx: &[usize]| {
        let mut s = AddrSet::new();
        for &i in idx {
            s.extend(sets[i]);
        }
        s.public()
    };
    let reached = t.reached(union(covering));
    let mut out = Vec::new();
    let mut on = Vec::new();
    for (is_v6, hit) in [(false, reached.v4), (true, reached.v6)] {
        if !hit {
            continue;
        }
        let size = |i: usize| if is_v6 { counts[i].v6 } else { counts[i].v4 };
        let family = |c: Count| if is_v6 { c.v6 } else { c.v4 };
        let limit = if is_v6 { t.v6 } else { t.v4 };
        let mut rest: Vec<usize> = covering.iter().copied().filter(|&i| size(i) > 0).collect();
        on.extend_from_slice(&rest);
        let others: Vec<usize> = rest
            .iter()
            .copied()
            .filter(|i| !preferred.contains(i))
            .collect();
        // The change made the port world-open: its own rules go first (and suffice).
        let change_first = others.len() < rest.len() && family(union(&others)) < limit;
        let first = |i: usize| change_first && preferred.contains(&i);
        rest.sort_by_key(|&i| (!first(i), std::cmp::Reverse(size(i))));
        let mut last: Option<(bool, u128)> = None;
        while !rest.is_empty() {
            if family(union(&rest)) < limit {
                break;
            }
            let i = rest.remove(0);
            last = Some((first(i), size(i)));
            out.push(i);
        }
        if let Some((tier, narrowest)) = last {
            out.extend(
                rest.into_iter()
                    .filter(|&i| first(i) == tier && size(i) >= narrowest),
            );
        }
    }
    out.sort_unstable();
    out.dedup();
    on.sort_unstable();
    on.dedup();
    if out.is_empty() {
        on.clear();
    }
    (out, on)
}

fn worse(slot: &mut Exposure, e: Exposure) {
    if e.rank() > slot.rank() {
        *slot = e;
    }
}

/// Assesses `rules` (one direction of one group) with the addresses each lets in
/// (`addrs[i]`, empty for group references and unresolved prefix lists).
pub fn analyse(config: &Config, rules: &[&Rule], addrs: &[&AddrSet]) -> Analysis {
    analyse_change(config, rules, addrs, &[])
}

/// [`analyse`], judging a change: `preferred` (indices) are the rules the change added, chosen
/// first as contributors when the change made a port world-open (see the module's doc).
pub fn analyse_change(
    config: &Config,
    rules: &[&Rule],
    addrs: &[&AddrSet],
    preferred: &[usize],
) -> Analysis {
    let t = Threshold::from_prefixes(
        config.world_open_min_prefix_v4,
        config.world_open_min_prefix_v6,
    );
    let counts: Vec<Count> = addrs.iter().map(|a| a.public()).collect();
    let mut exposures = vec![Exposure::Restricted; rules.len()];
    let mut contributor_sets = Vec::new();
    let mut open_sets = Vec::new();
    // Per rule: the risky TCP/UDP ports it contributes to (ranges).
    let mut risky_ports: Vec<Vec<(u16, u16)>> = vec![Vec::new(); rules.len()];

    let mut classes = vec![
        Class::All,
        Class::Ports(Protocol::Tcp),
        Class::Ports(Protocol::Udp),
        Class::Icmp(Protocol::Icmp),
        Class::Icmp(Protocol::Icmpv6),
    ];
    for r in rules {
        if let Protocol::Other(p) = &r.protocol {
            let c = Class::Other(p.clone());
            if !classes.contains(&c) {
                classes.push(c);
            }
        }
    }

    for class in classes {
        let covering: Vec<usize> = (0..rules.len())
            .filter(|&i| covers(rules[i], &class) && !addrs[i].is_empty())
            .collect();
        if covering.is_empty() {
            continue;
        }
        match &class {
            Class::Ports(_) => {
                let range = |i: usize| rules[i].port_range().unwrap_or((0, 65535));
                let mut points: Vec<u32> = vec![0, 65536];
                for &i in &covering {
                    let (a, b) = range(i);
                    points.push(u32::from(a));
                    points.push(u32::from(b) + 1);
                }
                for (a, b) in config.allowed_public_ports.ranges() {
                    points.push(u32::from(a));
                    points.push(u32::from(b) + 1);
                }
                points.sort_unstable();
                points.dedup();
                // Consecutive pieces with the same covering rules and the same allowed-ness
                // are one segment.
                let mut segments: Vec<(u16, u16, Vec<usize>, bool)> = Vec::new();
                for w in points.windows(2) {
                    let (a, b) = (w[0] as u16, (w[1] - 1) as u16);
                    let cov: Vec<usize> = covering
                        .iter()
                        .copied()
                        .filter(|&i| {
                            let (x, y) = range(i);
                            x <= a && b <= y
                        })
                        .collect();
                    let allowed = config.allowed_public_ports.covers(a, b);
                    match segments.last_mut() {
                        Some(last)
                            if last.2 == cov
                                && last.3 == allowed
                                && u32::from(last.1) + 1 == u32::from(a) =>
                        {
                            last.1 = b
                        }
                        _ => segments.push((a, b, cov, allowed)),
                    }
                }
                for (a, b, cov, allowed) in segments {
                    if cov.is_empty() {
                        continue;
                    }
                    let (set, on) = contributors(&cov, &counts, addrs, &t, preferred);
                    if set.is_empty() {
                        continue;
                    }
                    for &i in &set {
                        if allowed {
                            worse(&mut exposures[i], Exposure::WorldAllowed);
                        } else {
                            risky_ports[i].push((a, b));
                        }
                    }
                    if !allowed {
                        contributor_sets.push(set);
                        open_sets.push(on);
                    }
                }
            }
            Class::Icmp(_) => {
                for i in contributors(&covering, &counts, addrs, &t, preferred).0 {
                    worse(&mut exposures[i], Exposure::WorldIcmp);
                }
            }
            Class::Other(p) => {
                let (set, on) = contributors(&covering, &counts, addrs, &t, preferred);
                for &i in &set {
                    worse(
                        &mut exposures[i],
                        Exposure::WorldRisky {
                            critical: false,
                            risk: Risk::OtherProtocol {
                                protocol: p.clone(),
                            },
                            alone: t.reached(counts[i]).any(),
                        },
                    );
                }
                if !set.is_empty() {
                    contributor_sets.push(set);
                    open_sets.push(on);
                }
            }
            Class::All => {
                let (set, on) = contributors(&covering, &counts, addrs, &t, preferred);
                for &i in &set {
                    worse(
                        &mut exposures[i],
                        Exposure::WorldRisky {
                            critical: true,
                            risk: Risk::AllTraffic,
                            alone: t.reached(counts[i]).any(),
                        },
                    );
                }
                if !set.is_empty() {
                    contributor_sets.push(set);
                    open_sets.push(on);
                }
            }
        }
    }

    for (i, ports) in risky_ports.into_iter().enumerate() {
        if ports.is_empty() {
            continue;
        }
        let rule = rules[i];
        let alone = t.reached(counts[i]).any();
        let (from, to) = rule.port_range().unwrap_or((0, 65535));
        let mut critical: Vec<u16> = Vec::new();
        for (a, b) in &ports {
            for p in config.critical_ports.ports_within(*a, *b, 4) {
                if critical.len() < 4 && !critical.contains(&p) {
                    critical.push(p);
                }
            }
        }
        critical.sort_unstable();
        let e = if rule.protocol.has_ports() && from <= 1 && to == 65535 {
            Exposure::WorldRisky {
                critical: true,
                risk: Risk::AllPorts {
                    protocol: rule.protocol.api_value().to_string(),
                },
                alone,
            }
        } else if !critical.is_empty() {
            Exposure::WorldRisky {
                critical: true,
                risk: Risk::CriticalPorts { ports: critical },
                alone,
            }
        } else if rule.protocol == Protocol::All {
            Exposure::WorldRisky {
                critical: true,
                risk: Risk::AllTraffic,
                alone,
            }
        } else {
            Exposure::WorldRisky {
                critical: false,
                risk: Risk::NotAllowed { from, to },
                alone,
            }
        };
        worse(&mut exposures[i], e);
    }
    Analysis {
        exposures,
        contributor_sets,
        open_sets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Direction, Peer};
    use crate::space::parse_cidr;
    use trailwarden::respond::Settings;

    fn rule(proto: &str, from: i32, to: i32, cidr: &str) -> (Rule, AddrSet) {
        (
            Rule {
                direction: Direction::Ingress,
                protocol: Protocol::parse(proto),
                from_port: Some(from),
                to_port: Some(to),
                peer: Peer::cidr(cidr, false),
                description: None,
                rule_id: None,
            },
            AddrSet::of(parse_cidr(cidr).unwrap()),
        )
    }

    fn run(env: &[(&str, &str)], input: &[(Rule, AddrSet)]) -> Analysis {
        let map: std::collections::HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::from_env(&map).unwrap();
        let rules: Vec<&Rule> = input.iter().map(|(r, _)| r).collect();
        let addrs: Vec<&AddrSet> = input.iter().map(|(_, a)| a).collect();
        analyse(&config, &rules, &addrs)
    }

    #[test]
    fn halves_on_ssh_are_both_contributors_and_the_private_rule_is_not() {
        let a = run(
            &[],
            &[
                rule("tcp", 22, 22, "0.0.0.0/1"),
                rule("tcp", 22, 22, "128.0.0.0/1"),
                rule("tcp", 0, 65535, "10.0.0.0/8"),
                rule("tcp", 22, 22, "203.0.113.7/32"),
            ],
        );
        assert_eq!(a.contributor_sets, vec![vec![0, 1]]);
        assert!(a.exposures[0].is_critical() && a.exposures[1].is_critical());
        assert_eq!(a.exposures[2], Exposure::Restricted);
        assert_eq!(a.exposures[3], Exposure::Restricted);
        assert!(matches!(
            &a.exposures[0],
            Exposure::WorldRisky { risk: Risk::CriticalPorts { ports }, alone: true, .. } if ports == &vec![22]
        ));
    }

    #[test]
    fn equal_pieces_go_together() {
        let input: Vec<(Rule, AddrSet)> = (0..8)
            .map(|i| rule("tcp", 5432, 5432, &format!("{}.0.0.0/8", 20 + i)))
            .collect();
        let a = run(&[], &input);
        assert_eq!(a.contributor_sets, vec![(0..8).collect::<Vec<_>>()]);
        // One /8 alone is not world-open.
        let a = run(&[], &input[..1]);
        assert!(a.contributor_sets.is_empty());
        assert_eq!(a.exposures[0], Exposure::Restricted);
    }

    fn run_change(input: &[(Rule, AddrSet)], preferred: &[usize]) -> Analysis {
        let config = Config::from_env(&std::collections::HashMap::new()).unwrap();
        let rules: Vec<&Rule> = input.iter().map(|(r, _)| r).collect();
        let addrs: Vec<&AddrSet> = input.iter().map(|(_, a)| a).collect();
        analyse_change(&config, &rules, &addrs, preferred)
    }

    #[test]
    fn the_change_is_blamed_first_where_it_made_the_port_world_open() {
        // An older /8 and the change's two /9s: widest first would blame the /8 alone.
        let input = [
            rule("tcp", 22, 22, "11.0.0.0/8"),
            rule("tcp", 22, 22, "12.0.0.0/9"),
            rule("tcp", 22, 22, "12.128.0.0/9"),
            rule("tcp", 22, 22, "203.0.113.7/32"),
        ];
        assert_eq!(run_change(&input, &[]).contributor_sets, vec![vec![0]]);
        let a = run_change(&input, &[1, 2]);
        assert_eq!(a.contributor_sets, vec![vec![1, 2]]);
        assert_eq!(a.open_sets, vec![vec![0, 1, 2, 3]]);
        assert_eq!(a.exposures[0], Exposure::Restricted);
        assert!(a.exposures[1].is_critical() && a.exposures[2].is_critical());
        // Equal pieces of the change go together, whatever their order.
        assert_eq!(
            run_change(&input, &[2, 1]).contributor_sets,
            vec![vec![1, 2]]
        );

        // The port was world-open without the change: widest first over all, as without one.
        let input = [
            rule("tcp", 22, 22, "0.0.0.0/0"),
            rule("tcp", 22, 22, "203.0.113.7/32"),
        ];
        let a = run_change(&input, &[1]);
        assert_eq!(a.contributor_sets, vec![vec![0]]);
        assert_eq!(a.exposures[1], Exposure::Restricted);
        assert_eq!(a.contributors_on(&[1]), vec![0]);
        assert!(a.contributors_with(&[1]).is_empty());
        // A private source is not on the world-open port.
        let input = [
            rule("tcp", 22, 22, "0.0.0.0/0"),
            rule("tcp", 22, 22, "10.0.0.0/8"),
        ];
        assert!(run_change(&input, &[1]).contributors_on(&[1]).is_empty());
    }

    #[test]
    fn all_traffic_and_tcp_pieces_combine() {
        let a = run(
            &[],
            &[
                rule("-1", -1, -1, "11.0.0.0/8"),
                rule("tcp", 3389, 3389, "12.0.0.0/8"),
            ],
        );
        assert!(a.exposures.iter().all(Exposure::is_critical), "{a:?}");
        assert_eq!(a.contributor_sets, vec![vec![0, 1]]);
    }

    #[test]
    fn allowed_ports_and_icmp_are_not_risky() {
        let a = run(
            &[],
            &[
                rule("tcp", 443, 443, "0.0.0.0/1"),
                rule("tcp", 443, 443, "128.0.0.0/1"),
                rule("icmp", 8, -1, "0.0.0.0/0"),
            ],
        );
        assert_eq!(a.exposures[0], Exposure::WorldAllowed);
        assert_eq!(a.exposures[2], Exposure::WorldIcmp);
        assert!(a.contributor_sets.is_empty());
    }

    #[test]
    fn a_wide_range_partly_allowed_is_risky_on_the_rest() {
        let a = run(&[], &[rule("tcp", 80, 8080, "0.0.0.0/0")]);
        assert!(a.exposures[0].is_risky());
        let a = run(
            &[("WORLD_OPEN_MIN_PREFIX_IPV4", "4")],
            &[rule("tcp", 22, 22, "64.0.0.0/4")],
        );
        assert_eq!(a.exposures[0], Exposure::Restricted);
        let a = run(
            &[("WORLD_OPEN_MIN_PREFIX_IPV4", "4")],
            &[rule("tcp", 22, 22, "64.0.0.0/3")],
        );
        assert!(a.exposures[0].is_critical());
    }
}
