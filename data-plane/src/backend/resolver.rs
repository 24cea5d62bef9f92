//! DNS resolution that refuses link-local and cloud metadata addresses (169.254.0.0/16,
//! fe80::/10, fd00:ec2::254, fd20:ce::254, 100.100.100.200, and those embedded in IPv6), so a tool's base URL cannot be pointed at the instance
//! metadata service, directly or through a DNS name.

use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// Which addresses upstream calls may not reach.
#[derive(Debug, Clone, Copy)]
pub struct BlockList {
    /// Operator override: allow them anyway.
    pub allow_link_local: bool,
}

impl BlockList {
    /// Whether `ip` is refused.
    #[must_use]
    pub fn is_blocked(self, ip: IpAddr) -> bool {
        if self.allow_link_local {
            return false;
        }
        match ip {
            IpAddr::V4(v4) => blocked_v4(v4),
            IpAddr::V6(v6) => {
                const METADATA_V6: [Ipv6Addr; 2] = [
                    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), // AWS
                    Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254),  // GCP
                ];
                let segs = v6.segments();
                // IPv4 embedded in IPv6: mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d).
                let embedded = v6.to_ipv4_mapped().or_else(|| {
                    (segs[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| {
                        std::net::Ipv4Addr::from(u32::from(segs[6]) << 16 | u32::from(segs[7]))
                    })
                });
                METADATA_V6.contains(&v6)
                    || (segs[0] & 0xffc0) == 0xfe80
                    || embedded.is_some_and(blocked_v4)
            }
        }
    }
}

/// Link-local (169.254.0.0/16, where AWS, GCP and Azure serve metadata) and Alibaba Cloud's
/// metadata address.
fn blocked_v4(v4: std::net::Ipv4Addr) -> bool {
    v4.is_link_local() || v4 == std::net::Ipv4Addr::new(100, 100, 100, 200)
}

/// A resolver (for hyper's `HttpConnector`) that drops blocked addresses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    blocklist: BlockList,
}

impl GuardedResolver {
    /// A resolver applying `blocklist`.
    #[must_use]
    pub fn new(blocklist: BlockList) -> Self {
        Self { blocklist }
    }
}

/// Resolution failures.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name did not resolve.
    #[error("dns lookup failed: {0}")]
    Lookup(std::io::Error),
    /// Every address of the name is blocked.
    #[error("blocked address: the host resolves only to link-local or metadata addresses")]
    Blocked,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let blocklist = self.blocklist;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(ResolveError::Lookup)?
                .collect();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| !blocklist.is_blocked(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(ResolveError::Blocked);
            }
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_metadata_and_link_local() {
        let b = BlockList {
            allow_link_local: false,
        };
        for ip in [
            "169.254.169.254",
            "169.254.0.1",
            "100.100.100.200",
            "fd00:ec2::254",
            "fd20:ce::254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(b.is_blocked(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["127.0.0.1", "10.0.0.1", "8.8.8.8", "::1", "2001:db8::1"] {
            assert!(!b.is_blocked(ip.parse().expect("ip")), "{ip}");
        }
        assert!(
            !BlockList {
                allow_link_local: true
            }
            .is_blocked("169.254.169.254".parse().expect("ip"))
        );
    }
}
