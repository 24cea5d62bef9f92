//! Which addresses upstream calls may reach.
//!
//! A tenant writes its config's `baseUrl`, so without a policy every tenant could reach the
//! operator's network through the data plane: the control plane's own ports, the data plane's
//! `/metrics`, databases, cloud metadata services. By default only public unicast addresses
//! are reachable. Refused: unspecified, loopback, RFC 1918, CGNAT (100.64/10), link-local,
//! IETF-reserved, documentation and benchmarking ranges, multicast and broadcast; in IPv6
//! everything outside global unicast `2000::/3`, and inside it the IETF protocol assignments
//! `2001::/23` (Teredo and benchmarking included) and the documentation ranges. IPv4
//! addresses embedded in IPv6 (IPv4-mapped `::ffff:a.b.c.d`, SIIT `::ffff:0:a.b.c.d`,
//! IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged as the
//! IPv4 address they carry.
//!
//! The policy judges the addresses a connection would actually use — after DNS resolution,
//! whatever spelling the URL used (`127.1`, `2130706433`, `0x7f000001`, `[::ffff:127.0.0.1]`)
//! — see [`super::connect`]. An operator opens ranges with `--upstream-allow-cidr`; the cloud
//! metadata addresses stay closed unless allowed by a CIDR naming exactly that address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Cloud metadata and credential endpoints: the instance metadata address most clouds share
/// (AWS, GCP, Azure, Oracle, DigitalOcean), AWS ECS task credentials, EKS Pod Identity,
/// Tencent, Alibaba, Azure's WireServer (in public address space, reachable from inside Azure
/// only), and AWS and GCP over IPv6.
const METADATA: [IpAddr; 9] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 0, 23)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
    IpAddr::V6(Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254)),
];

/// The upstream network policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetPolicy {
    /// Ranges opened by the operator.
    pub allow: Vec<IpNet>,
}

impl NetPolicy {
    /// A policy opening `allow` on top of the public internet.
    #[must_use]
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// Whether an upstream connection to `ip` is permitted.
    #[must_use]
    pub fn permits(&self, ip: IpAddr) -> bool {
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let candidates = std::iter::once(ip).chain(embedded);
        if candidates.clone().any(|a| METADATA.contains(&a)) {
            return candidates.into_iter().any(|a| self.names_exactly(a));
        }
        if candidates.clone().any(|a| self.allows(a)) {
            return true;
        }
        is_public(embedded.unwrap_or(ip))
    }

    fn allows(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|net| net.contains(&ip))
    }

    fn names_exactly(&self, ip: IpAddr) -> bool {
        self.allow
            .iter()
            .any(|net| net.prefix_len() == net.max_prefix_len() && net.addr() == ip)
    }
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    if let Some(mapped) = v6.to_ipv4_mapped() {
        return Some(mapped);
    }
    // SIIT IPv4-translated, ::ffff:0:a.b.c.d.
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return Some(low);
    }
    // IPv4-compatible (deprecated, ::a.b.c.d), but not :: and ::1 themselves.
    if s[..6] == [0; 6] && u32::from(low) > 1 {
        return Some(low);
    }
    // NAT64 well-known prefix.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])));
    }
    None
}

/// Public unicast: not in any range reserved for private, local, special or future use.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(a == 0 // "this network", 0.0.0.0 included
                || a == 10
                || a == 127
                || (a == 100 && (64..128).contains(&b)) // CGNAT
                || (a == 169 && b == 254)
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 192 && b == 0 && c == 2) // documentation
                || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
                || (a == 192 && b == 168)
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || (a == 198 && b == 51 && c == 100) // documentation
                || (a == 203 && b == 0 && c == 113) // documentation
                || a >= 224) // multicast, reserved, broadcast
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let global_unicast = (s[0] & 0xe000) == 0x2000; // 2000::/3
            let ietf_assignments = s[0] == 0x2001 && s[1] < 0x200; // 2001::/23
            let documentation = (s[0] == 0x2001 && s[1] == 0xdb8) || (s[0] & 0xfff0) == 0x3ff0;
            global_unicast && !ietf_assignments && !documentation
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn refuses_every_private_and_special_range_in_every_spelling() {
        let p = NetPolicy::default();
        for addr in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "169.254.1.1",
            "100.100.100.200",
            "192.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "239.1.1.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fd20:ce::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "3fff::1",
            "4000::1",
            "64:ff9b:1::1",
            "168.63.129.16",
            "fd00:ec2::23",
            "::ffff:0:10.0.0.1",
            // IPv4 embedded in IPv6.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(!p.permits(ip(addr)), "{addr} must be refused");
        }
    }

    #[test]
    fn permits_the_public_internet() {
        let p = NetPolicy::default();
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
            "64:ff9b::808:808",
        ] {
            assert!(p.permits(ip(addr)), "{addr} must be permitted");
        }
    }

    #[test]
    fn operators_open_ranges_but_metadata_only_by_name() {
        let p = NetPolicy::new(vec![
            "127.0.0.0/8".parse().expect("cidr"),
            "10.0.0.0/8".parse().expect("cidr"),
            "169.254.0.0/16".parse().expect("cidr"),
            "100.64.0.0/10".parse().expect("cidr"),
        ]);
        assert!(p.permits(ip("127.0.0.1")));
        assert!(
            p.permits(ip("::ffff:127.0.0.1")),
            "the embedded address is allowed"
        );
        assert!(p.permits(ip("10.9.8.7")));
        assert!(p.permits(ip("169.254.1.1")));
        assert!(
            !p.permits(ip("169.254.169.254")),
            "metadata needs an exact allow"
        );
        assert!(!p.permits(ip("100.100.100.200")));
        assert!(!p.permits(ip("192.168.1.1")));
        let exact = NetPolicy::new(vec!["169.254.169.254/32".parse().expect("cidr")]);
        assert!(exact.permits(ip("169.254.169.254")));
        assert!(!exact.permits(ip("169.254.1.1")));
    }
}
