//! Security group changes as CloudTrail records them, parsed into one model.
//!
//! `AuthorizeSecurityGroupIngress` and friends come in two request shapes: flat (`cidrIp`,
//! `ipProtocol`, `fromPort`, `toPort`, `sourceSecurityGroupName`) and nested
//! (`ipPermissions.items[]` with `ipRanges`, `ipv6Ranges`, `prefixListIds` and `groups`).
//! The rules a call created are named in `responseElements.securityGroupRuleSet.items[]`;
//! each is matched back to the permission and source it came from so that exactly those
//! rules can be revoked. `ModifySecurityGroupRules` wraps its request in
//! `ModifySecurityGroupRulesRequest` with capitalised keys.

use serde::Serialize;
use serde_json::Value;
use trailwarden::Record;

/// Which traffic a rule governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Ingress,
    Egress,
    /// `ModifySecurityGroupRules` names a rule by id only: ingress or egress is learnt by
    /// looking the rule up.
    Unknown,
}

/// The rule's protocol, normalised (`6` is `tcp`, `all` is `-1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    All,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Other(String),
}

impl Protocol {
    pub fn parse(raw: &str) -> Protocol {
        match raw.trim().to_ascii_lowercase().as_str() {
            "-1" | "all" => Protocol::All,
            "tcp" | "6" => Protocol::Tcp,
            "udp" | "17" => Protocol::Udp,
            "icmp" | "1" => Protocol::Icmp,
            "icmpv6" | "58" => Protocol::Icmpv6,
            other => Protocol::Other(other.to_string()),
        }
    }

    /// The value the EC2 API takes.
    pub fn api_value(&self) -> &str {
        match self {
            Protocol::All => "-1",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Icmpv6 => "icmpv6",
            Protocol::Other(s) => s,
        }
    }

    pub fn has_ports(&self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

/// Where a rule lets traffic come from (ingress) or go to (egress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Peer {
    /// An IPv4 or IPv6 CIDR, kept as written; `prefix_len` is what follows the `/`.
    Cidr {
        text: String,
        prefix_len: Option<u8>,
        ipv6: bool,
    },
    PrefixList {
        id: String,
    },
    Group {
        id: Option<String>,
        name: Option<String>,
        owner: Option<String>,
    },
    /// A permission without any source (the request was cut short or malformed).
    Unspecified,
}

impl Peer {
    pub fn cidr(text: &str, ipv6_hint: bool) -> Peer {
        let text = text.trim().to_string();
        let parsed = trailwarden::net::parse_cidr(&text);
        let prefix_len = match &parsed {
            Some(n) => Some(trailwarden::net::prefix_len(n)),
            // Unparseable: what follows the `/`, if it is a number.
            None => text
                .split_once('/')
                .and_then(|(_, l)| l.trim().parse::<u8>().ok()),
        };
        let ipv6 = match &parsed {
            Some(n) => ipv6_hint && text.contains(':') || matches!(n, ipnet::IpNet::V6(_)),
            None => ipv6_hint || text.contains(':'),
        };
        Peer::Cidr {
            text,
            prefix_len,
            ipv6,
        }
    }

    /// Prefix length 0, IPv4 or IPv6, whatever the address bits (`208.236.235.254/0`).
    pub fn is_world(&self) -> bool {
        matches!(
            self,
            Peer::Cidr {
                prefix_len: Some(0),
                ..
            }
        )
    }

    /// Same peer, comparing CIDRs by value where they parse (`::/0` = `0:0::0/0`).
    pub fn same(&self, other: &Peer) -> bool {
        match (self, other) {
            (Peer::Cidr { text: a, .. }, Peer::Cidr { text: b, .. }) => {
                trailwarden::net::same_cidr(a, b)
            }
            (Peer::PrefixList { id: a }, Peer::PrefixList { id: b }) => a == b,
            (
                Peer::Group {
                    id: ia, name: na, ..
                },
                Peer::Group {
                    id: ib, name: nb, ..
                },
            ) => {
                (ia.is_some() && ia == ib)
                    || ((ia.is_none() || ib.is_none()) && na.is_some() && na == nb)
            }
            (Peer::Unspecified, Peer::Unspecified) => true,
            _ => false,
        }
    }
}

/// One rule: a protocol and port range for one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub direction: Direction,
    pub protocol: Protocol,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub peer: Peer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `sgr-…` when the event named the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
}

impl Rule {
    /// The inclusive TCP/UDP port range, `None` for protocols without ports. Missing or
    /// negative bounds mean every port.
    pub fn port_range(&self) -> Option<(u16, u16)> {
        if !self.protocol.has_ports() {
            return None;
        }
        let clamp = |p: Option<i32>, dflt: u16| match p {
            Some(v) if (0..=65535).contains(&v) => v as u16,
            _ => dflt,
        };
        let (a, b) = (clamp(self.from_port, 0), clamp(self.to_port, 65535));
        Some(if a <= b { (a, b) } else { (b, a) })
    }

    /// Same grant (protocol, ports and peer), for matching created rule ids to permissions.
    pub fn same_grant(&self, other: &Rule) -> bool {
        let ports = |r: &Rule| match r.protocol {
            Protocol::All => None,
            _ if r.protocol.has_ports() => {
                r.port_range().map(|(a, b)| (i32::from(a), i32::from(b)))
            }
            _ => Some((r.from_port.unwrap_or(-1), r.to_port.unwrap_or(-1))),
        };
        self.protocol == other.protocol
            && ports(self) == ports(other)
            && self.peer.same(&other.peer)
    }
}

/// What kind of change a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Authorize,
    Revoke,
    Modify,
    CreateGroup,
    DeleteGroup,
    /// `ModifyManagedPrefixList`: entries added to or removed from a prefix list;
    /// `RestoreManagedPrefixListVersion`: an earlier version's entries made current again.
    ModifyPrefixList,
}

/// The event names this function handles.
pub const EVENT_NAMES: [&str; 9] = [
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "ModifySecurityGroupRules",
    "ModifyManagedPrefixList",
    "RestoreManagedPrefixListVersion",
];

/// One security group change, parsed from a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub direction: Direction,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub vpc_id: Option<String>,
    pub group_description: Option<String>,
    /// Rules added, removed or (for `ModifySecurityGroupRules`) their new form.
    pub rules: Vec<Rule>,
    /// Rule ids named without a description (a revoke by `securityGroupRuleIds`).
    pub rule_ids_only: Vec<String>,
    /// `ModifyManagedPrefixList`: the list and the CIDRs added and removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_list: Option<PrefixListEdit>,
}

/// What a `ModifyManagedPrefixList` call asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrefixListEdit {
    pub id: String,
    /// The version the caller modified (`CurrentVersion`).
    pub version: Option<i64>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// `RestoreManagedPrefixListVersion`: the version whose entries were restored (which
    /// entries those are is known only from the list as looked up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<i64>,
    /// The version the change makes current once it completes. The response shows the list
    /// while the change is still running (`"state": "modify-in-progress"` or
    /// `restore-in-progress`) at the version it started from, so this is one more than that
    /// (or than `CurrentVersion` when there is no response); a response already `*-complete`
    /// shows the version itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub produced: Option<i64>,
}

impl Change {
    /// Parses a record of one of [`EVENT_NAMES`]; `None` for any other event.
    pub fn from_record(r: &Record) -> Option<Change> {
        let (kind, direction) = match r.event_name() {
            "AuthorizeSecurityGroupIngress" => (ChangeKind::Authorize, Direction::Ingress),
            "AuthorizeSecurityGroupEgress" => (ChangeKind::Authorize, Direction::Egress),
            "RevokeSecurityGroupIngress" => (ChangeKind::Revoke, Direction::Ingress),
            "RevokeSecurityGroupEgress" => (ChangeKind::Revoke, Direction::Egress),
            "ModifySecurityGroupRules" => (ChangeKind::Modify, Direction::Unknown),
            "CreateSecurityGroup" => (ChangeKind::CreateGroup, Direction::Unknown),
            "DeleteSecurityGroup" => (ChangeKind::DeleteGroup, Direction::Unknown),
            "ModifyManagedPrefixList" | "RestoreManagedPrefixListVersion" => {
                (ChangeKind::ModifyPrefixList, Direction::Unknown)
            }
            _ => return None,
        };
        let null = Value::Null;
        let req = r.request_parameters.as_ref().unwrap_or(&null);
        let resp = r.response_elements.as_ref().unwrap_or(&null);
        let mut c = Change {
            kind,
            direction,
            group_id: str_at(req, "groupId"),
            group_name: str_at(req, "groupName"),
            vpc_id: None,
            group_description: None,
            rules: Vec::new(),
            rule_ids_only: Vec::new(),
            prefix_list: None,
        };
        match kind {
            ChangeKind::Authorize | ChangeKind::Revoke => {
                c.rules = request_rules(req, direction);
                let set = if kind == ChangeKind::Authorize {
                    "securityGroupRuleSet"
                } else {
                    "revokedSecurityGroupRuleSet"
                };
                let created: Vec<Rule> = items(get_ci(resp, set))
                    .iter()
                    .filter_map(|i| response_rule(i, direction))
                    .collect();
                if c.group_id.is_none() {
                    c.group_id = items(get_ci(resp, set))
                        .iter()
                        .find_map(|i| str_at(i, "groupId"));
                }
                attach_rule_ids(&mut c.rules, created);
                if kind == ChangeKind::Revoke {
                    for id in items(get_ci(req, "securityGroupRuleIds")) {
                        let id = id
                            .as_str()
                            .map(str::to_string)
                            .or_else(|| str_at(id, "securityGroupRuleId"));
                        if let Some(id) = id {
                            if !c.rules.iter().any(|r| r.rule_id.as_ref() == Some(&id)) {
                                c.rule_ids_only.push(id);
                            }
                        }
                    }
                }
            }
            ChangeKind::Modify => {
                let m = get_ci(req, "ModifySecurityGroupRulesRequest").unwrap_or(req);
                c.group_id = str_ci(m, "GroupId").or(c.group_id);
                for item in list_or_one(get_ci(m, "SecurityGroupRule")) {
                    let id = str_ci(item, "SecurityGroupRuleId");
                    match get_ci(item, "SecurityGroupRule") {
                        Some(rule) => {
                            let mut rule = modified_rule(rule);
                            rule.rule_id = id;
                            c.rules.push(rule);
                        }
                        None => c.rule_ids_only.extend(id),
                    }
                }
            }
            ChangeKind::CreateGroup => {
                c.group_id = str_at(resp, "groupId").or(c.group_id);
                c.vpc_id = str_at(req, "vpcId");
                c.group_description = str_at(req, "groupDescription");
            }
            ChangeKind::DeleteGroup => {}
            ChangeKind::ModifyPrefixList => {
                let m = get_ci(req, "ModifyManagedPrefixListRequest")
                    .or_else(|| get_ci(req, "RestoreManagedPrefixListVersionRequest"))
                    .unwrap_or(req);
                let number = |key: &str| {
                    get_ci(m, key).and_then(|v| match v {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    })
                };
                let cidrs = |key: &str| -> Vec<String> {
                    list_or_one(get_ci(m, key))
                        .into_iter()
                        .flat_map(|v| items(Some(v)))
                        .filter_map(|e| str_ci(e, "Cidr"))
                        .collect()
                };
                let shown = get_ci(resp, "ModifyManagedPrefixListResponse")
                    .or_else(|| get_ci(resp, "RestoreManagedPrefixListVersionResponse"))
                    .unwrap_or(resp);
                let shown = get_ci(shown, "prefixList");
                let shown_version = shown.and_then(|p| match get_ci(p, "version")? {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                });
                let complete = shown
                    .and_then(|p| str_ci(p, "state"))
                    .is_some_and(|s| s.ends_with("-complete"));
                let version = number("CurrentVersion");
                c.prefix_list = Some(PrefixListEdit {
                    id: str_ci(m, "PrefixListId")?,
                    version,
                    added: [cidrs("AddEntry"), cidrs("AddEntries")].concat(),
                    removed: [cidrs("RemoveEntry"), cidrs("RemoveEntries")].concat(),
                    restored: (r.event_name() == "RestoreManagedPrefixListVersion")
                        .then(|| number("PreviousVersion"))
                        .flatten(),
                    produced: match shown_version {
                        Some(v) if complete => Some(v),
                        Some(v) => v.checked_add(1),
                        None => version.and_then(|v| v.checked_add(1)),
                    },
                });
            }
        }
        Some(c)
    }

    /// `sg-0123 (web)`, `sg-0123`, `web`.
    pub fn group_label(&self, name_hint: Option<&str>) -> String {
        let name = self.group_name.as_deref().or(name_hint);
        match (&self.group_id, name) {
            (Some(id), Some(n)) => format!("{id} ({n})"),
            (Some(id), None) => id.clone(),
            (None, Some(n)) => n.to_string(),
            (None, None) => "an unnamed security group".into(),
        }
    }
}

/// Matches each created rule (from the response) to the first request rule granting the
/// same thing and gives it the rule id; created rules that match nothing are added as they
/// are, so nothing created is missed.
fn attach_rule_ids(rules: &mut Vec<Rule>, created: Vec<Rule>) {
    for c in created {
        match rules
            .iter_mut()
            .find(|r| r.rule_id.is_none() && r.same_grant(&c))
        {
            Some(r) => {
                r.rule_id = c.rule_id;
                if r.description.is_none() {
                    r.description = c.description;
                }
            }
            None => rules.push(c),
        }
    }
}

// ---- JSON helpers: tolerant of missing fields, numbers as strings, single items as objects.

fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let m = v.as_object()?;
    m.get(key)
        .or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn str_at(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn str_ci(v: &Value, key: &str) -> Option<String> {
    get_ci(v, key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn int_ci(v: &Value, key: &str) -> Option<i32> {
    match get_ci(v, key)? {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `{"items": [...]}`, a bare array, or a single object.
fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(m)) => match m.get("items") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => Vec::new(),
            None if m.is_empty() => Vec::new(),
            None => vec![o],
        },
        Some(_) => Vec::new(),
    }
}

fn list_or_one(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    }
}

fn rules_for(
    direction: Direction,
    proto: Option<String>,
    from: Option<i32>,
    to: Option<i32>,
    peers: Vec<(Peer, Option<String>)>,
) -> Vec<Rule> {
    let protocol = Protocol::parse(proto.as_deref().unwrap_or("-1"));
    let peers = if peers.is_empty() {
        vec![(Peer::Unspecified, None)]
    } else {
        peers
    };
    peers
        .into_iter()
        .map(|(peer, description)| Rule {
            direction,
            protocol: protocol.clone(),
            from_port: from,
            to_port: to,
            peer,
            description,
            rule_id: None,
        })
        .collect()
}

/// The rules a request adds or removes, from both shapes.
fn request_rules(req: &Value, direction: Direction) -> Vec<Rule> {
    let mut out = Vec::new();
    // Flat shape.
    let flat_cidr = str_ci(req, "cidrIp");
    let flat_group = str_ci(req, "sourceSecurityGroupName");
    if flat_cidr.is_some() || flat_group.is_some() || get_ci(req, "ipProtocol").is_some() {
        let mut peers = Vec::new();
        if let Some(c) = flat_cidr {
            peers.push((Peer::cidr(&c, false), None));
        }
        if flat_group.is_some() {
            peers.push((
                Peer::Group {
                    id: None,
                    name: flat_group,
                    owner: str_ci(req, "sourceSecurityGroupOwnerId"),
                },
                None,
            ));
        }
        out.extend(rules_for(
            direction,
            str_ci(req, "ipProtocol"),
            int_ci(req, "fromPort"),
            int_ci(req, "toPort"),
            peers,
        ));
    }
    // Nested shape.
    for p in items(get_ci(req, "ipPermissions")) {
        let mut peers = Vec::new();
        for r in items(get_ci(p, "ipRanges")) {
            if let Some(c) = str_ci(r, "cidrIp") {
                peers.push((Peer::cidr(&c, false), str_ci(r, "description")));
            }
        }
        for r in items(get_ci(p, "ipv6Ranges")) {
            if let Some(c) = str_ci(r, "cidrIpv6") {
                peers.push((Peer::cidr(&c, true), str_ci(r, "description")));
            }
        }
        for r in items(get_ci(p, "prefixListIds")) {
            if let Some(id) = str_ci(r, "prefixListId") {
                peers.push((Peer::PrefixList { id }, str_ci(r, "description")));
            }
        }
        for g in items(get_ci(p, "groups")) {
            let id = str_ci(g, "groupId");
            let name = str_ci(g, "groupName");
            if id.is_some() || name.is_some() {
                peers.push((
                    Peer::Group {
                        id,
                        name,
                        owner: str_ci(g, "userId"),
                    },
                    str_ci(g, "description"),
                ));
            }
        }
        out.extend(rules_for(
            direction,
            str_ci(p, "ipProtocol"),
            int_ci(p, "fromPort"),
            int_ci(p, "toPort"),
            peers,
        ));
    }
    out
}

/// One item of `securityGroupRuleSet` (or the rule of `ModifySecurityGroupRules`, whose keys
/// are capitalised; `get_ci` reads both).
fn response_rule(item: &Value, direction: Direction) -> Option<Rule> {
    let rule_id = str_ci(item, "securityGroupRuleId")?;
    let direction = match get_ci(item, "isEgress") {
        Some(Value::Bool(true)) => Direction::Egress,
        Some(Value::Bool(false)) => Direction::Ingress,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Direction::Egress,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Direction::Ingress,
        _ => direction,
    };
    let mut rule = rule_body(item, direction);
    rule.rule_id = Some(rule_id);
    Some(rule)
}

fn modified_rule(item: &Value) -> Rule {
    rule_body(item, Direction::Unknown)
}

fn rule_body(item: &Value, direction: Direction) -> Rule {
    let peer = if let Some(c) = str_ci(item, "cidrIpv4") {
        Peer::cidr(&c, false)
    } else if let Some(c) = str_ci(item, "cidrIpv6") {
        Peer::cidr(&c, true)
    } else if let Some(id) = str_ci(item, "prefixListId") {
        Peer::PrefixList { id }
    } else if let Some(g) = get_ci(item, "referencedGroupInfo") {
        Peer::Group {
            id: str_ci(g, "groupId"),
            name: None,
            owner: str_ci(g, "userId"),
        }
    } else if let Some(id) = str_ci(item, "referencedGroupId") {
        Peer::Group {
            id: Some(id),
            name: None,
            owner: None,
        }
    } else {
        Peer::Unspecified
    };
    Rule {
        direction,
        protocol: Protocol::parse(str_ci(item, "ipProtocol").as_deref().unwrap_or("-1")),
        from_port: int_ci(item, "fromPort"),
        to_port: int_ci(item, "toPort"),
        peer,
        description: str_ci(item, "description"),
        rule_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(name: &str, req: Value, resp: Value) -> Record {
        serde_json::from_value(json!({
            "eventName": name, "eventSource": "ec2.amazonaws.com",
            "requestParameters": req, "responseElements": resp
        }))
        .unwrap()
    }

    #[test]
    fn world_is_prefix_zero_whatever_the_bits() {
        for c in [
            "0.0.0.0/0",
            "208.236.235.254/0",
            "075.050.255.67/0",
            "::/0",
            "2001:db8::/0",
        ] {
            assert!(Peer::cidr(c, false).is_world(), "{c}");
        }
        for c in [
            "10.0.0.0/8",
            "0.0.0.0/1",
            "203.0.113.7",
            "::/1",
            "0.0.0.0/x",
        ] {
            assert!(!Peer::cidr(c, false).is_world(), "{c}");
        }
    }

    #[test]
    fn protocols_normalise() {
        assert_eq!(Protocol::parse("6"), Protocol::Tcp);
        assert_eq!(Protocol::parse("ALL"), Protocol::All);
        assert_eq!(Protocol::parse("-1"), Protocol::All);
        assert_eq!(Protocol::parse("58"), Protocol::Icmpv6);
        assert_eq!(Protocol::parse("47"), Protocol::Other("47".into()));
    }

    #[test]
    fn rule_ids_match_their_permission_and_source() {
        // The response lists the rules in another order than the request, with the protocol
        // spelt differently: each id must still land on its own source.
        let rec = record(
            "AuthorizeSecurityGroupIngress",
            json!({"groupId": "sg-1", "ipPermissions": {"items": [
                {"ipProtocol": "6", "fromPort": 22, "toPort": 22,
                 "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}, {"cidrIp": "0.0.0.0/0"}]},
                 "ipv6Ranges": {"items": [{"cidrIpv6": "0:0:0:0:0:0:0:0/0"}]}},
                {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                 "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}
            ]}}),
            json!({"_return": true, "securityGroupRuleSet": {"items": [
                {"groupId": "sg-1", "securityGroupRuleId": "sgr-443", "isEgress": false,
                 "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"},
                {"groupId": "sg-1", "securityGroupRuleId": "sgr-v6", "isEgress": false,
                 "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv6": "::/0"},
                {"groupId": "sg-1", "securityGroupRuleId": "sgr-world22", "isEgress": false,
                 "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"},
                {"groupId": "sg-1", "securityGroupRuleId": "sgr-private", "isEgress": false,
                 "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "10.0.0.0/8"}
            ]}}),
        );
        let c = Change::from_record(&rec).unwrap();
        type Row<'a> = (Option<(u16, u16)>, String, Option<&'a str>);
        let ids: Vec<Row> = c
            .rules
            .iter()
            .map(|r| {
                let Peer::Cidr { text, .. } = &r.peer else {
                    panic!()
                };
                (r.port_range(), text.clone(), r.rule_id.as_deref())
            })
            .collect();
        assert_eq!(
            ids,
            vec![
                (Some((22, 22)), "10.0.0.0/8".into(), Some("sgr-private")),
                (Some((22, 22)), "0.0.0.0/0".into(), Some("sgr-world22")),
                (Some((22, 22)), "0:0:0:0:0:0:0:0/0".into(), Some("sgr-v6")),
                (Some((443, 443)), "0.0.0.0/0".into(), Some("sgr-443")),
            ]
        );
    }

    #[test]
    fn created_rules_missing_from_the_request_are_kept() {
        let rec = record(
            "AuthorizeSecurityGroupIngress",
            json!({"groupId": "sg-1"}),
            json!({"securityGroupRuleSet": {"items": [
                {"groupId": "sg-1", "securityGroupRuleId": "sgr-1", "isEgress": false,
                 "ipProtocol": "-1", "fromPort": -1, "toPort": -1, "cidrIpv4": "0.0.0.0/0"}]}}),
        );
        let c = Change::from_record(&rec).unwrap();
        assert_eq!(c.rules.len(), 1);
        assert_eq!(c.rules[0].rule_id.as_deref(), Some("sgr-1"));
        assert_eq!(c.rules[0].protocol, Protocol::All);
    }

    #[test]
    fn groups_and_prefix_lists_are_peers() {
        let rec = record(
            "AuthorizeSecurityGroupIngress",
            json!({"groupId": "sg-1", "ipPermissions": {"items": [
                {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432,
                 "groups": {"items": [{"groupId": "sg-app", "userId": "123456789012"}]},
                 "prefixListIds": {"items": [{"prefixListId": "pl-0abc"}]},
                 "ipRanges": {}, "ipv6Ranges": {}}]}}),
            Value::Null,
        );
        let c = Change::from_record(&rec).unwrap();
        let peers: Vec<&Peer> = c.rules.iter().map(|r| &r.peer).collect();
        assert_eq!(
            peers,
            vec![
                &Peer::PrefixList {
                    id: "pl-0abc".into()
                },
                &Peer::Group {
                    id: Some("sg-app".into()),
                    name: None,
                    owner: Some("123456789012".into())
                }
            ]
        );
    }

    #[test]
    fn modify_reads_the_capitalised_request_one_or_many() {
        for rules in [
            json!({"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "tcp",
                "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"}}),
            json!([{"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "tcp",
                "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"}}]),
        ] {
            let rec = record(
                "ModifySecurityGroupRules",
                json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-9", "SecurityGroupRule": rules}}),
                json!({"ModifySecurityGroupRulesResponse": {"return": true}}),
            );
            let c = Change::from_record(&rec).unwrap();
            assert_eq!(c.group_id.as_deref(), Some("sg-9"));
            assert_eq!(c.rules.len(), 1);
            assert_eq!(c.rules[0].direction, Direction::Unknown);
            assert_eq!(c.rules[0].rule_id.as_deref(), Some("sgr-1"));
            assert!(c.rules[0].peer.is_world());
        }
    }

    #[test]
    fn revoke_by_rule_ids_only() {
        let rec = record(
            "RevokeSecurityGroupIngress",
            json!({"groupId": "sg-1", "securityGroupRuleIds": {"items": [
                {"securityGroupRuleId": "sgr-a"}, {"securityGroupRuleId": "sgr-b"}]}}),
            json!({"_return": true}),
        );
        let c = Change::from_record(&rec).unwrap();
        assert!(c.rules.is_empty());
        assert_eq!(c.rule_ids_only, vec!["sgr-a", "sgr-b"]);
    }

    #[test]
    fn other_events_are_not_changes() {
        assert!(
            Change::from_record(&record("DescribeSecurityGroups", json!({}), Value::Null))
                .is_none()
        );
    }
}
