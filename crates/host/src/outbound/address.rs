//! Which addresses a request may reach once its host is resolved: public ones, and others only
//! where a rule names them. The check is made on the address the connection is opened to, so a
//! name that resolves (or is re-pointed) to the metadata service or a private network is refused
//! however the rules name hosts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::rules::{Destination, Rule};

/// IPv4 ranges that are not the public internet (IANA special-purpose registry), each of which a
/// guest must not reach through a rule that names hosts.
const NOT_PUBLIC_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local: instance and microVM metadata services
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, and broadcast
];

/// IPv6 ranges that are not the public internet. Ranges that embed an IPv4 address (mapped,
/// NAT64, 6to4) are judged by that address instead.
const NOT_PUBLIC_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64: any IPv4 behind it
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96), // IPv4-translated (SIIT)
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // protocol assignments, Teredo
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique local, fd00:ec2::254 among them
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local (deprecated)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast
];

/// Whether `address` is on the public internet.
pub(super) fn is_public(address: IpAddr) -> bool {
    match canonical(address) {
        IpAddr::V4(v4) => !NOT_PUBLIC_V4
            .iter()
            .any(|&(net, len)| Ipv4Net::new_assert(net, len).contains(&v4)),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            !NOT_PUBLIC_V6
                .iter()
                .any(|&(net, len)| Ipv6Net::new_assert(net, len).contains(&v6))
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is; anything else as it is.
pub(super) fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The IPv4 address inside a NAT64 (64:ff9b::/96), 6to4 (2002::/16) or IPv4-compatible (::/96)
/// address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    if s[..6] == [0; 6] {
        return Some(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    let nat64 = Ipv6Net::new_assert(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
    if nat64.contains(&v6) {
        return Some(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Whether a request to `to` may open a connection to `address`: a public address (the request
/// matched a rule already), or one an address rule names for this scheme and port.
pub(super) fn may_reach(rules: &[Rule], to: &Destination<'_>, address: IpAddr) -> bool {
    let address = canonical(address);
    is_public(address) || rules.iter().any(|rule| rule.names_address(to, address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// Loopback, private, link-local (the metadata services), CGNAT and reserved addresses are
    /// not public, in either family and in IPv4-mapped, NAT64 and 6to4 disguise.
    #[test]
    fn special_addresses_are_not_public() {
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.170.2",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2001:db8::1",
            "::a9fe:a9fe",
            "::7f00:1",
            "64:ff9b:1::a9fe:a9fe",
            "::ffff:0:a9fe:a9fe",
        ] {
            assert!(!is_public(ip(address)), "{address} counted as public");
        }
    }

    /// Ordinary internet addresses are public.
    #[test]
    fn internet_addresses_are_public() {
        for address in [
            "1.1.1.1",
            "52.94.133.131",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(address)), "{address} counted as not public");
        }
    }

    /// A name rule reaches public addresses only; an address rule reaches what it names, for
    /// its scheme and port only.
    #[test]
    fn reaching_addresses() -> Result<(), String> {
        let wildcard = vec![Rule::parse("*://*:*")?];
        let dest = Destination {
            scheme: "http",
            host: "metadata.evil.example",
            port: 80,
        };
        assert!(!may_reach(&wildcard, &dest, ip("169.254.169.254")));
        assert!(!may_reach(&wildcard, &dest, ip("10.0.0.7")));
        assert!(may_reach(&wildcard, &dest, ip("93.184.216.34")));
        let loopback = vec![Rule::parse("http://127.0.0.1:9000")?];
        let mock = Destination {
            scheme: "http",
            host: "127.0.0.1",
            port: 9000,
        };
        assert!(may_reach(&loopback, &mock, ip("127.0.0.1")));
        assert!(may_reach(&loopback, &mock, ip("::ffff:127.0.0.1")));
        assert!(!may_reach(
            &loopback,
            &Destination { port: 9001, ..mock },
            ip("127.0.0.1")
        ));
        Ok(())
    }
}
