//! Source addresses and known networks.
//!
//! `sourceIPAddress` is not always an IP: AWS services acting for a caller put their host name
//! there (`cloudformation.amazonaws.com`), some internal calls say `AWS Internal`, and anonymized
//! samples write IPv4 octets with leading zeros (`075.050.255.67`). None of these may fail an
//! invocation: a host name simply never matches a known network.

use ipnet::IpNet;
use std::net::IpAddr;
use trailwarden::net::parse_ip;

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
    let Some(ip) = parse_ip(raw) else {
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
    use trailwarden::net::parse_network;

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
            match_source(Some("::ffff:75.50.1.2"), &nets),
            SourceMatch::Known { ip, .. } if ip.to_string() == "75.50.1.2"
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
