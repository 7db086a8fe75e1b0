//! IP addresses and CIDR blocks as CloudTrail records them, parsed one way.
//!
//! - IPv4-mapped IPv6 (`::ffff:203.0.113.7`, `::ffff:203.0.113.0/120`) is normalised to IPv4
//!   (`203.0.113.7`, `203.0.113.0/24`), so IPv4 networks match it and it counts as IPv4 space.
//! - IPv4 octets with leading zeros (`075.050.255.67`, as anonymized samples write them) are
//!   read as decimal.
//! - CIDRs keep the address as written, host bits included (`208.236.235.254/0` is what a
//!   security group rule may record); [`is_world`] looks at the prefix length only, and
//!   [`parse_network`] clears the host bits for matching.
//! - Anything else (`iam.amazonaws.com`, `AWS Internal`) is not an address: `None`.
//!
//! [`coverage`] answers "how much of the address space does this set of blocks cover", per
//! family, counting overlapping blocks once.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

pub use ipnet::IpNet as Cidr;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
    pub fn of_net(n: &IpNet) -> Family {
        Family::of(&n.addr())
    }
    /// Prefix length of a single host (32 or 128).
    pub fn max_prefix_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
    /// `IPv4` or `IPv6`.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// Parses an address (`sourceIPAddress`, a rule's address). IPv4-mapped IPv6 comes back as
/// IPv4; leading-zero IPv4 octets are decimal. `None` when it is not an IP address.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    parse_leading_zero_v4(s).map(IpAddr::V4)
}

/// IPv4 with leading zeros in octets (`075.050.255.67`). Rust's parser refuses these because
/// some C libraries read them as octal; CloudTrail means decimal.
fn parse_leading_zero_v4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (octet, part) in octets.iter_mut().zip(&parts) {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = part.trim_start_matches('0');
        *octet = if digits.is_empty() {
            0
        } else {
            digits.parse::<u8>().ok()?
        };
    }
    Some(Ipv4Addr::from(octets))
}

/// Parses a CIDR block as recorded (`203.0.113.9/24`, `2001:db8::/32`, `0.0.0.0/0`), host bits
/// kept; a bare address is a single host (`/32` or `/128`). IPv4-mapped IPv6 blocks of prefix
/// length 96 or more become IPv4 (`::ffff:10.0.0.0/104` is `10.0.0.0/8`). `None` when the
/// address or the prefix length does not parse or the length is too long for the family.
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    let Some((addr, len)) = s.split_once('/') else {
        return parse_ip(s).map(IpNet::from);
    };
    let len = len.trim();
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u8 = len.parse().ok()?;
    let addr = addr.trim();
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) if len >= 96 => Ipv4Net::new(v4, len - 96).ok().map(IpNet::V4),
            _ => Ipv6Net::new(v6, len).ok().map(IpNet::V6),
        },
        Ok(IpAddr::V4(v4)) => Ipv4Net::new(v4, len).ok().map(IpNet::V4),
        Err(_) => Ipv4Net::new(parse_leading_zero_v4(addr)?, len)
            .ok()
            .map(IpNet::V4),
    }
}

/// A network to match addresses against: [`parse_cidr`] with the host bits cleared
/// (`10.1.2.3/8` is `10.0.0.0/8`).
pub fn parse_network(s: &str) -> Option<IpNet> {
    parse_cidr(s).map(|n| n.trunc())
}

/// The prefix length of a block.
pub fn prefix_len(n: &IpNet) -> u8 {
    n.prefix_len()
}

/// True for a block of prefix length 0 (the whole IPv4 or IPv6 internet), whatever the
/// address bits (`208.236.235.254/0`).
pub fn is_world(n: &IpNet) -> bool {
    n.prefix_len() == 0
}

/// True when two CIDR texts name the same block as recorded (`::/0` = `0:0::0/0`,
/// `::ffff:1.2.3.4/128` = `1.2.3.4/32`). Texts that do not parse compare as text,
/// ignoring ASCII case.
pub fn same_cidr(a: &str, b: &str) -> bool {
    match (parse_cidr(a), parse_cidr(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

/// How much of each address space a set of blocks covers (overlaps counted once).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Coverage {
    /// Fraction of the IPv4 space, 0.0 to 1.0.
    pub v4: f64,
    /// Fraction of the IPv6 space, 0.0 to 1.0.
    pub v6: f64,
    /// Number of IPv4 addresses covered (exact).
    pub v4_addresses: u64,
}

impl Coverage {
    pub fn fraction(&self, family: Family) -> f64 {
        match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }
    /// True when some family is covered entirely.
    pub fn is_world(&self) -> bool {
        self.v4 >= 1.0 || self.v6 >= 1.0
    }
}

/// The share of the IPv4 and IPv6 spaces covered by the union of `nets` (overlapping and
/// nested blocks are counted once). Host bits are ignored.
pub fn coverage<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> Coverage {
    let mut v4: Vec<(u128, u128)> = Vec::new();
    let mut v6: Vec<(u128, u128)> = Vec::new();
    for n in nets {
        match n.trunc() {
            IpNet::V4(n) => v4.push((
                u32::from(n.network()) as u128,
                u32::from(n.broadcast()) as u128,
            )),
            IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
        }
    }
    let v4_addresses = union_size(v4);
    let v6_size = union_size_f64(v6);
    Coverage {
        v4: v4_addresses as f64 / 4_294_967_296.0,
        v6: v6_size / 2f64.powi(128),
        v4_addresses: v4_addresses as u64,
    }
}

/// Merges inclusive ranges and counts what they cover (IPv4: never overflows).
fn union_size(ranges: Vec<(u128, u128)>) -> u128 {
    merge(ranges).iter().map(|(s, e)| e - s + 1).sum()
}

/// Same for IPv6, in floating point (the whole space, 2^128, does not fit a `u128`).
fn union_size_f64(ranges: Vec<(u128, u128)>) -> f64 {
    merge(ranges)
        .iter()
        .map(|(s, e)| (e - s) as f64 + 1.0)
        .sum()
}

fn merge(mut ranges: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    ranges.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// A set of TCP/UDP ports, kept as sorted, merged, inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    /// Parses `80,443,8000-8080` (blanks ignored). `none` is the empty set.
    pub fn parse(s: &str) -> Result<PortSet, String> {
        if s.trim().eq_ignore_ascii_case("none") {
            return Ok(PortSet::default());
        }
        let mut ranges = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || item.to_string();
            let (from, to) = match item.split_once('-') {
                Some((a, b)) => (
                    a.trim().parse::<u16>().map_err(|_| bad())?,
                    b.trim().parse::<u16>().map_err(|_| bad())?,
                ),
                None => {
                    let p = item.parse::<u16>().map_err(|_| bad())?;
                    (p, p)
                }
            };
            if from > to {
                return Err(bad());
            }
            ranges.push((from, to));
        }
        Ok(PortSet::from_ranges(ranges))
    }

    fn from_ranges(mut ranges: Vec<(u16, u16)>) -> PortSet {
        ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (from, to) in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(from) <= u32::from(last.1) + 1 => {
                    last.1 = last.1.max(to);
                }
                _ => merged.push((from, to)),
            }
        }
        PortSet { ranges: merged }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The merged inclusive ranges, in order.
    pub fn ranges(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        self.ranges.iter().copied()
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= port && port <= b)
    }

    /// True when every port of `from..=to` is in the set.
    pub fn covers(&self, from: u16, to: u16) -> bool {
        // Ranges are merged, so one range must hold the whole span.
        self.ranges.iter().any(|&(a, b)| a <= from && to <= b)
    }

    /// Ports of the set that fall inside `from..=to`, at most `limit` of them.
    pub fn ports_within(&self, from: u16, to: u16, limit: usize) -> Vec<u16> {
        let mut out = Vec::new();
        for &(a, b) in &self.ranges {
            let (lo, hi) = (a.max(from), b.min(to));
            if lo > hi {
                continue;
            }
            for p in lo..=hi {
                if out.len() == limit {
                    return out;
                }
                out.push(p);
            }
        }
        out
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ranges.is_empty() {
            return f.write_str("none");
        }
        for (i, (a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        parse_cidr(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn addresses_parse_with_mapped_v6_as_v4_and_leading_zeros_as_decimal() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(parse_ip("203.0.113.7"), Some(ip("203.0.113.7")));
        assert_eq!(parse_ip(" 075.050.255.67 "), Some(ip("75.50.255.67")));
        assert_eq!(parse_ip("000.000.000.000"), Some(ip("0.0.0.0")));
        assert_eq!(parse_ip("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_ip("::ffff:203.0.113.7"), Some(ip("203.0.113.7")));
        assert_eq!(parse_ip("::FFFF:cb00:7107"), Some(ip("203.0.113.7")));
        for s in [
            "iam.amazonaws.com",
            "AWS Internal",
            "256.1.1.1",
            "0256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "+1.2.3.4",
            "",
        ] {
            assert_eq!(parse_ip(s), None, "{s}");
        }
    }

    #[test]
    fn cidrs_keep_host_bits_and_normalise_mapped_v6() {
        let c = net("208.236.235.254/0");
        assert_eq!(c.addr(), "208.236.235.254".parse::<IpAddr>().unwrap());
        assert!(is_world(&c));
        assert_eq!(prefix_len(&net("10.1.2.3/8")), 8);
        assert_eq!(net("::ffff:10.0.0.0/104"), net("10.0.0.0/8"));
        assert_eq!(net("::ffff:1.2.3.4"), net("1.2.3.4/32"));
        assert_eq!(Family::of_net(&net("::ffff:1.2.3.4/128")), Family::V4);
        // A mapped block wider than the mapped range stays IPv6.
        assert_eq!(Family::of_net(&net("::ffff:0.0.0.0/80")), Family::V6);
        assert_eq!(net("2001:db8::1"), net("2001:db8::1/128"));
        assert_eq!(net("010.001.002.003/16").addr().to_string(), "10.1.2.3");
        assert!(is_world(&net("::/0")));
        assert!(!is_world(&net("0.0.0.0/1")));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/x",
            "a.b/8",
            "/8",
            "10.0.0.0/+8",
        ] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn networks_clear_host_bits_and_compare_by_value() {
        assert_eq!(parse_network("10.1.2.3/8"), Some(net("10.0.0.0/8")));
        assert!(parse_network("10.1.2.3/8")
            .unwrap()
            .contains(&"10.200.0.1".parse::<IpAddr>().unwrap()));
        assert!(same_cidr("::/0", "0:0::0/0"));
        assert!(same_cidr("::ffff:1.2.3.4/128", "1.2.3.4/32"));
        assert!(!same_cidr("10.0.0.0/8", "10.0.0.0/16"));
        assert!(same_cidr("pl-abc", "PL-ABC"));
    }

    #[test]
    fn coverage_counts_overlaps_once_per_family() {
        let nets = [net("0.0.0.0/1"), net("0.0.0.0/2"), net("128.0.0.0/1")];
        let c = coverage(&nets);
        assert_eq!(c.v4, 1.0);
        assert_eq!(c.v6, 0.0);
        assert!(c.is_world());
        let c = coverage(&[net("10.0.0.0/8"), net("10.1.0.0/16"), net("11.0.0.0/8")]);
        assert_eq!(c.v4_addresses, 2 << 24);
        assert!((c.v4 - 2.0 / 256.0).abs() < 1e-12);
        let c = coverage(&[net("::/1"), net("8000::/1"), net("1.2.3.4/32")]);
        assert_eq!(c.v6, 1.0);
        assert_eq!(c.v4_addresses, 1);
        assert!((coverage(&[net("2001:db8::/32")]).v6 - 2f64.powi(-32)).abs() < 1e-20);
        // Host bits are ignored: a /0 with address bits is still everything.
        assert_eq!(coverage(&[net("208.236.235.254/0")]).v4, 1.0);
        assert_eq!(coverage(&[]), Coverage::default());
        // Adjacent blocks merge.
        let c = coverage(&[net("10.0.0.0/9"), net("10.128.0.0/9")]);
        assert_eq!(c.v4_addresses, 1 << 24);
    }
}
