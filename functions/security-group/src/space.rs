//! Address-space arithmetic: how much of the internet a set of CIDRs lets in.
//!
//! A set of sources is kept per family as sorted, disjoint, inclusive intervals of addresses
//! (IPv4 in the low 32 bits of a `u128`). Only addresses that can come from the internet are
//! counted: for IPv4 everything except the private and special-purpose ranges below; for
//! IPv6 everything except `::/8` (loopback, IPv4-mapped and other reserved), unique-local
//! `fc00::/7`, link-local `fe80::/10` and multicast `ff00::/8`. Unallocated IPv6 space counts:
//! it is not trailwarden's to say what will be routed. Pure: no I/O.

use ipnet::IpNet;

/// IPv4 ranges that cannot be the source of internet traffic: "this network", RFC 1918,
/// shared address space (RFC 6598), loopback, link-local, multicast and reserved.
const NOT_PUBLIC_V4: [(u32, u8); 9] = [
    (0x0000_0000, 8),  // 0.0.0.0/8
    (0x0a00_0000, 8),  // 10.0.0.0/8
    (0x6440_0000, 10), // 100.64.0.0/10
    (0x7f00_0000, 8),  // 127.0.0.0/8
    (0xa9fe_0000, 16), // 169.254.0.0/16
    (0xac10_0000, 12), // 172.16.0.0/12
    (0xc0a8_0000, 16), // 192.168.0.0/16
    (0xe000_0000, 4),  // 224.0.0.0/4
    (0xf000_0000, 4),  // 240.0.0.0/4
];

/// IPv6 ranges that cannot be the source of internet traffic.
const NOT_PUBLIC_V6: [(u128, u8); 4] = [
    (0, 8),                   // ::/8
    (0xfc00_u128 << 112, 7),  // fc00::/7
    (0xfe80_u128 << 112, 10), // fe80::/10
    (0xff00_u128 << 112, 8),  // ff00::/8
];

/// Parses a CIDR as the EC2 API takes it, host bits cleared (`208.236.235.254/0` is the whole
/// IPv4 space). A bare address is a single host; an IPv4-mapped IPv6 prefix of /96 or longer
/// (`::ffff:0.0.0.0/96`) is the IPv4 prefix it maps (the shared parser, `trailwarden::net`).
pub fn parse_cidr(text: &str) -> Option<IpNet> {
    trailwarden::net::parse_network(text)
}

/// Addresses, per family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddrSet {
    v4: Vec<(u128, u128)>,
    v6: Vec<(u128, u128)>,
}

/// Counts of public addresses in a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Count {
    pub v4: u128,
    pub v6: u128,
}

fn bounds(net: &IpNet) -> (bool, u128, u128) {
    match net {
        IpNet::V4(n) => (
            false,
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        IpNet::V6(n) => (true, u128::from(n.network()), u128::from(n.broadcast())),
    }
}

fn merge(v: &mut Vec<(u128, u128)>) {
    v.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
    for &(a, b) in v.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *v = out;
}

/// Addresses of `set` inside `[lo, hi]`, counted without overflow (at most 2^125 for IPv6).
fn count_within(set: &[(u128, u128)], lo: u128, hi: u128) -> u128 {
    set.iter()
        .filter_map(|&(a, b)| {
            let (a, b) = (a.max(lo), b.min(hi));
            (a <= b).then(|| b - a + 1)
        })
        .sum()
}

/// The complement of `holes` (networks of `bits`-bit addresses) within the family's space.
fn complement(holes: &[(u128, u8)], bits: u32) -> Vec<(u128, u128)> {
    let max = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    let mut holes: Vec<(u128, u128)> = holes
        .iter()
        .map(|&(net, len)| {
            let span = (u128::MAX >> (128 - bits)) >> u32::from(len);
            (net, net + span)
        })
        .collect();
    merge(&mut holes);
    let mut out = Vec::new();
    let mut next = Some(0u128);
    for (a, b) in holes {
        if let Some(n) = next {
            if a > n {
                out.push((n, a - 1));
            }
        }
        next = b.checked_add(1);
    }
    if let Some(n) = next.filter(|&n| n <= max) {
        out.push((n, max));
    }
    out
}

fn public_v4() -> Vec<(u128, u128)> {
    let holes: Vec<(u128, u8)> = NOT_PUBLIC_V4
        .iter()
        .map(|&(n, l)| (u128::from(n), l))
        .collect();
    complement(&holes, 32)
}

fn public_v6() -> Vec<(u128, u128)> {
    complement(&NOT_PUBLIC_V6, 128)
}

fn total(v: &[(u128, u128)]) -> u128 {
    v.iter().map(|&(a, b)| b - a + 1).sum()
}

impl AddrSet {
    pub fn new() -> AddrSet {
        AddrSet::default()
    }

    /// The set of one network.
    pub fn of(net: IpNet) -> AddrSet {
        let mut s = AddrSet::new();
        s.add(net);
        s
    }

    pub fn add(&mut self, net: IpNet) {
        let (v6, a, b) = bounds(&net);
        let list = if v6 { &mut self.v6 } else { &mut self.v4 };
        list.push((a, b));
        merge(list);
    }

    pub fn extend(&mut self, other: &AddrSet) {
        self.v4.extend_from_slice(&other.v4);
        self.v6.extend_from_slice(&other.v6);
        merge(&mut self.v4);
        merge(&mut self.v6);
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// How many public addresses of each family the set holds.
    pub fn public(&self) -> Count {
        let v4 = public_v4()
            .iter()
            .map(|&(lo, hi)| count_within(&self.v4, lo, hi))
            .sum();
        let v6 = public_v6()
            .iter()
            .map(|&(lo, hi)| count_within(&self.v6, lo, hi))
            .sum();
        Count { v4, v6 }
    }
}

/// How many public addresses make a port world-open, per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub v4: u128,
    pub v6: u128,
}

impl Threshold {
    /// From the minimum prefix lengths: sources adding up to as many addresses as a prefix one
    /// bit shorter (`/7` for 8) are world-open, capped at the whole public space so that `/0`
    /// always is.
    pub fn from_prefixes(v4: u8, v6: u8) -> Threshold {
        let v4_total = total(&public_v4());
        let v6_total = total(&public_v6());
        let size = |bits: u32, prefix: u8| {
            let shift = (bits + 1).saturating_sub(u32::from(prefix.max(1)));
            if shift >= 128 {
                u128::MAX
            } else {
                1u128 << shift
            }
        };
        Threshold {
            v4: size(32, v4).min(v4_total),
            v6: size(128, v6).min(v6_total),
        }
    }

    /// Which families of `c` reach the threshold.
    pub fn reached(&self, c: Count) -> Families {
        Families {
            v4: c.v4 >= self.v4,
            v6: c.v6 >= self.v6,
        }
    }
}

/// A yes/no per family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Families {
    pub v4: bool,
    pub v6: bool,
}

impl Families {
    pub fn any(self) -> bool {
        self.v4 || self.v6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cidrs: &[&str]) -> AddrSet {
        let mut s = AddrSet::new();
        for c in cidrs {
            s.add(parse_cidr(c).unwrap());
        }
        s
    }

    #[test]
    fn parses_with_host_bits_and_maps_ipv4_in_ipv6() {
        assert_eq!(
            parse_cidr("208.236.235.254/0").unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            parse_cidr("203.0.113.7").unwrap().to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(
            parse_cidr("::ffff:0.0.0.0/96").unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(parse_cidr("0:0:0:0:0:0:0:0/0").unwrap().to_string(), "::/0");
        assert!(parse_cidr("0.0.0.0/x").is_none());
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn halves_add_up_to_the_whole_internet() {
        let t = Threshold::from_prefixes(8, 16);
        let whole = set(&["0.0.0.0/0"]).public();
        assert_eq!(set(&["0.0.0.0/1", "128.0.0.0/1"]).public(), whole);
        assert!(t.reached(whole).v4);
        assert!(t.reached(set(&["::/1", "8000::/1"]).public()).v6);
        assert!(t.reached(set(&["2000::/3"]).public()).v6);
        assert!(t.reached(set(&["8000::/1"]).public()).v6);
        assert_eq!(set(&["::/0"]).public(), set(&["::/1", "8000::/1"]).public());
    }

    #[test]
    fn private_space_does_not_count() {
        let t = Threshold::from_prefixes(8, 16);
        assert_eq!(set(&["10.0.0.0/8", "192.168.0.0/16"]).public().v4, 0);
        // Two private /8-sized blocks and some more are still not the internet.
        assert!(!t
            .reached(set(&["10.0.0.0/8", "172.16.0.0/12", "100.64.0.0/10"]).public())
            .any());
        // One public /8 is not world-open; two are (as much as a /7).
        assert!(!t.reached(set(&["11.0.0.0/8"]).public()).any());
        assert!(t.reached(set(&["11.0.0.0/8", "12.0.0.0/8"]).public()).v4);
        assert!(t.reached(set(&["64.0.0.0/7"]).public()).v4);
        // Sixteen /12s are a /8, not more.
        let pieces: Vec<String> = (0..16)
            .map(|i| format!("{}.{}.0.0/12", 20, i * 16))
            .collect();
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        assert_eq!(set(&refs).public(), set(&["20.0.0.0/8"]).public());
        // IPv6: a /16 is not world-open, a /15 is; unique-local space never counts.
        assert!(!t.reached(set(&["2a00::/16"]).public()).any());
        assert!(t.reached(set(&["2a00::/15"]).public()).v6);
        assert!(!t.reached(set(&["fc00::/7"]).public()).any());
    }

    #[test]
    fn the_threshold_never_exceeds_the_whole_space() {
        let t = Threshold::from_prefixes(1, 1);
        assert!(t.reached(set(&["0.0.0.0/0"]).public()).v4);
        assert!(t.reached(set(&["::/0"]).public()).v6);
        assert!(!t.reached(set(&["0.0.0.0/1"]).public()).v4);
        let t = Threshold::from_prefixes(32, 128);
        assert!(t.reached(set(&["203.0.113.0/31"]).public()).v4);
        assert!(!t.reached(set(&["203.0.113.7/32"]).public()).v4);
    }
}
