//! Browser-origin and DNS-rebinding protection (`docs/mcp.md`, admission).
//!
//! A request carrying an `Origin` is allowed only from the request's own host, from an
//! operator-listed origin, or — when the listener is on loopback — from a loopback origin.
//! On a loopback listener the `Host` must itself be a loopback name, so a DNS name rebound
//! to 127.0.0.1 cannot reach the gateway from a browser.

use http::HeaderMap;
use http::uri::Authority;

/// Which origins and hosts are accepted.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// Whether the listener is bound to a loopback address.
    pub loopback: bool,
    /// Extra origins allowed (exact `scheme://host[:port]`).
    pub allowed: Vec<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The `Origin` is foreign.
    Origin,
    /// The `Host` is not a loopback name on a loopback listener.
    Host,
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host of a `Host` value (`host`, `host:port`, `[v6]`, `[v6]:port`), without parsing
/// it into an owned authority on every request; `None` when it is not of that shape.
fn host_of(value: &str) -> Option<&str> {
    let (host, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        (&value[..=end], &value[end + 1..])
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host, value.get(host.len()..).unwrap_or(port)),
            None => (value, ""),
        }
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        });
    (port_ok && !host.is_empty() && !host.contains(['@', '/', '?', '#', ' '])).then_some(host)
}

impl OriginPolicy {
    /// Checks a request's `Host` (or HTTP/2 authority) and `Origin`.
    ///
    /// # Errors
    /// The [`Refusal`].
    pub fn check(&self, headers: &HeaderMap, authority: Option<&Authority>) -> Result<(), Refusal> {
        let host = authority.map(Authority::as_str).or_else(|| {
            headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
        });
        if self.loopback && !host.and_then(host_of).is_some_and(is_loopback_host) {
            return Err(Refusal::Host);
        }
        let Some(origin) = headers.get(http::header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().map_err(|_| Refusal::Origin)?.trim();
        if self
            .allowed
            .iter()
            .any(|a| a.trim_end_matches('/') == origin)
        {
            return Ok(());
        }
        let Some((_scheme, rest)) = origin.split_once("://") else {
            return Err(Refusal::Origin);
        };
        let origin_authority: Authority = rest.parse().map_err(|_| Refusal::Origin)?;
        if host.is_some_and(|h| h.eq_ignore_ascii_case(origin_authority.as_str())) {
            return Ok(());
        }
        if self.loopback && is_loopback_host(origin_authority.host()) {
            return Ok(());
        }
        Err(Refusal::Origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", host.parse().expect("host"));
        if let Some(o) = origin {
            h.insert("origin", o.parse().expect("origin"));
        }
        h
    }

    #[test]
    fn loopback_listener_rules() {
        let p = OriginPolicy {
            loopback: true,
            allowed: vec!["https://app.example.com".into()],
        };
        assert!(p.check(&headers("127.0.0.1:8081", None), None).is_ok());
        assert!(
            p.check(
                &headers("localhost:8081", Some("http://localhost:6274")),
                None
            )
            .is_ok()
        );
        assert!(
            p.check(
                &headers("127.0.0.1:8081", Some("https://app.example.com")),
                None
            )
            .is_ok()
        );
        assert_eq!(
            p.check(
                &headers("evil.example.com", Some("http://evil.example.com")),
                None
            ),
            Err(Refusal::Host)
        );
        assert_eq!(
            p.check(
                &headers("127.0.0.1:8081", Some("http://evil.example.com")),
                None
            ),
            Err(Refusal::Origin)
        );
        assert_eq!(
            p.check(&headers("127.0.0.1:8081", Some("null")), None),
            Err(Refusal::Origin)
        );
    }

    #[test]
    fn loopback_hosts_are_recognised_in_every_spelling_and_nothing_else_is() {
        let p = OriginPolicy {
            loopback: true,
            allowed: Vec::new(),
        };
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8081",
            "localhost",
            "LOCALHOST:80",
            "[::1]",
            "[::1]:8081",
            "127.9.9.9:1",
        ] {
            assert!(p.check(&headers(ok, None), None).is_ok(), "{ok}");
        }
        for refused in [
            "",
            "evil.example.com",
            "127.0.0.1.evil.example.com",
            "127.0.0.1:",
            "127.0.0.1:abc",
            "127.0.0.1:123456",
            "evil@127.0.0.1",
            "[::1",
            "[::1]x",
            "::1",
            "10.0.0.1:80",
            "[::ffff:10.0.0.1]",
        ] {
            assert_eq!(
                p.check(&headers(refused, None), None),
                Err(Refusal::Host),
                "{refused}"
            );
        }
    }

    #[test]
    fn public_listener_rules() {
        let p = OriginPolicy {
            loopback: false,
            allowed: Vec::new(),
        };
        assert!(p.check(&headers("mcp.example.com", None), None).is_ok());
        assert!(
            p.check(
                &headers("mcp.example.com", Some("https://mcp.example.com")),
                None
            )
            .is_ok()
        );
        assert_eq!(
            p.check(
                &headers("mcp.example.com", Some("https://evil.example.com")),
                None
            ),
            Err(Refusal::Origin)
        );
    }
}
