//! Source addresses and known networks.
//!
//! `sourceIPAddress` is not always an IP: AWS services acting for a caller put their host name
//! there (`cloudformation.amazonaws.com`), some internal calls say `AWS Internal`, and anonymized
//! samples write IPv4 octets with leading zeros (`075.050.255.67`). None of these may fail an
//! invocation: a host name simply never matches a known network.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};

/// Parses a `sourceIPAddress` value. `None` when it is not an IP address (a service host name
/// such as `iam.amazonaws.com`, or `AWS Internal`). IPv4-mapped IPv6 addresses
/// (`::ffff:203.0.113.7`) come back as IPv4 so that IPv4 networks match them.
pub fn parse_source_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    // Anonymized CloudTrail samples write IPv4 octets with leading zeros (`075.050.255.67`).
    // Rust's parser rejects those because some C libraries would read them as octal; CloudTrail
    // means decimal, so strip the leading zeros of each octet and parse the rest as decimal.
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
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Parses one `KNOWN_SOURCE_CIDRS` item: a CIDR block (`203.0.113.0/24`, `2001:db8::/32`) or a
/// single address (taken as `/32` or `/128`). Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
pub fn parse_network(item: &str) -> Option<IpNet> {
    let item = item.trim();
    let net = match item.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => IpNet::from(item.parse::<IpAddr>().ok()?),
    };
    Some(net.trunc())
}

/// What the source of an event is, with respect to the known networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceMatch {
    /// The source is an IP inside this known network.
    Known { ip: IpAddr, network: IpNet },
    /// The source is an IP outside every known network.
    Unknown { ip: IpAddr },
    /// The source is not an IP (a service host name, `AWS Internal`).
    NotAnIp { value: String },
    /// The record has no `sourceIPAddress`.
    Missing,
}

/// Classifies `source` against `networks` (the first network that contains it wins).
pub fn match_source(source: Option<&str>, networks: &[IpNet]) -> SourceMatch {
    let Some(raw) = source.map(str::trim).filter(|s| !s.is_empty()) else {
        return SourceMatch::Missing;
    };
    let Some(ip) = parse_source_ip(raw) else {
        return SourceMatch::NotAnIp {
            value: raw.to_string(),
        };
    };
    match networks.iter().find(|n| n.contains(&ip)) {
        Some(n) => SourceMatch::Known { ip, network: *n },
        None => SourceMatch::Unknown { ip },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_leading_zero_addresses_parse() {
        assert_eq!(
            parse_source_ip("203.0.113.7"),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            parse_source_ip("075.050.255.67"),
            Some("75.50.255.67".parse().unwrap())
        );
        assert_eq!(
            parse_source_ip("000.000.000.000"),
            Some("0.0.0.0".parse().unwrap())
        );
        assert_eq!(
            parse_source_ip("2001:db8::1"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_source_ip("::ffff:203.0.113.7"),
            Some("203.0.113.7".parse().unwrap())
        );
    }

    #[test]
    fn host_names_and_garbage_are_not_addresses() {
        for s in [
            "iam.amazonaws.com",
            "AWS Internal",
            "cloudformation.amazonaws.com",
            "256.1.1.1",
            "0256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "+1.2.3.4",
            "",
        ] {
            assert_eq!(parse_source_ip(s), None, "{s:?}");
        }
    }

    #[test]
    fn networks_accept_cidrs_and_single_addresses() {
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network(" 203.0.113.9 ").unwrap().to_string(),
            "203.0.113.9/32"
        );
        assert_eq!(
            parse_network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse_network("office"), None);
        assert_eq!(parse_network("10.0.0.0/33"), None);
    }

    #[test]
    fn matching_handles_every_kind_of_source() {
        let nets = vec![
            parse_network("75.50.0.0/16").unwrap(),
            parse_network("2001:db8::/32").unwrap(),
        ];
        assert!(matches!(
            match_source(Some("075.050.255.67"), &nets),
            SourceMatch::Known { network, .. } if network.to_string() == "75.50.0.0/16"
        ));
        assert!(matches!(
            match_source(Some("2001:db8:1::5"), &nets),
            SourceMatch::Known { .. }
        ));
        assert!(matches!(
            match_source(Some("198.51.100.1"), &nets),
            SourceMatch::Unknown { .. }
        ));
        assert_eq!(
            match_source(Some("iam.amazonaws.com"), &nets),
            SourceMatch::NotAnIp {
                value: "iam.amazonaws.com".into()
            }
        );
        assert_eq!(match_source(None, &nets), SourceMatch::Missing);
        assert_eq!(match_source(Some("  "), &nets), SourceMatch::Missing);
    }
}
