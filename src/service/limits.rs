//! The service's resource limits for clients it does not know: connection count, timeouts,
//! event streams per token, the shutdown grace period, and which proxies may name a client's
//! address. Every value is named, has a default, and is set in the config file's `[limits]`.
//!
//! Without them one client trickling a header line every ten seconds holds a connection
//! forever, a few hundred such clients exhaust the process, and a stream subscriber keeps the
//! service from stopping.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

/// Default time to receive a request's whole header (also how long a keep-alive connection may
/// sit idle between requests).
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default time from a request's header to its response's header (the body is read inside it).
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Default cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default cap on `/v1/events/stream` subscriptions per token.
pub const DEFAULT_MAX_STREAMS_PER_TOKEN: usize = 4;
/// Default time SIGTERM waits for requests in flight before the service stops anyway.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 10_000;
/// Most trusted proxy entries.
pub const MAX_TRUSTED_PROXIES: usize = 64;

/// `[limits]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub header_read_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub max_connections: usize,
    pub max_streams_per_token: usize,
    pub shutdown_grace_ms: u64,
    /// Addresses (or CIDR blocks) of reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_streams_per_token: DEFAULT_MAX_STREAMS_PER_TOKEN,
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Limits {
    /// Every problem with the values, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ms = |key: &str, value: u64, min: u64, max: u64, out: &mut Vec<String>| {
            if !(min..=max).contains(&value) {
                out.push(format!("limits.{key}: {min}..={max} ms"));
            }
        };
        ms(
            "header_read_timeout_ms",
            self.header_read_timeout_ms,
            100,
            300_000,
            &mut out,
        );
        ms(
            "request_timeout_ms",
            self.request_timeout_ms,
            100,
            600_000,
            &mut out,
        );
        ms(
            "shutdown_grace_ms",
            self.shutdown_grace_ms,
            0,
            600_000,
            &mut out,
        );
        if !(1..=1_000_000).contains(&self.max_connections) {
            out.push("limits.max_connections: 1..=1000000".into());
        }
        if !(1..=1_000).contains(&self.max_streams_per_token) {
            out.push("limits.max_streams_per_token: 1..=1000".into());
        }
        if self.trusted_proxies.len() > MAX_TRUSTED_PROXIES {
            out.push(format!(
                "limits.trusted_proxies: at most {MAX_TRUSTED_PROXIES}"
            ));
        }
        for entry in &self.trusted_proxies {
            if Cidr::parse(entry).is_none() {
                out.push(format!(
                    "limits.trusted_proxies: {entry:?} is not an address or CIDR block"
                ));
            }
        }
        out
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// The trusted proxies, parsed (entries that do not parse were refused by `problems`).
    pub fn proxies(&self) -> TrustedProxies {
        TrustedProxies(
            self.trusted_proxies
                .iter()
                .filter_map(|e| Cidr::parse(e))
                .collect(),
        )
    }
}

/// An address block: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (
                addr.parse::<IpAddr>().ok()?,
                Some(prefix.parse::<u8>().ok()?),
            ),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u32),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (u128::from(u32::from(v4)), 32),
                None => (u128::from(v6), 128),
            },
        };
        let ((mine, width), (theirs, their_width)) = (bits(self.addr), bits(ip));
        if width != their_width {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        shift >= width || (mine >> shift) == (theirs >> shift)
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

/// Longest `X-Forwarded-For` header read, in bytes.
pub const MAX_FORWARDED_BYTES: usize = 1024;

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the rightmost
    /// `X-Forwarded-For` address that is not itself a trusted proxy. Anyone else's header is
    /// ignored, so a client cannot pick the address it is limited under.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let Some(header) = forwarded_for.filter(|h| h.len() <= MAX_FORWARDED_BYTES) else {
            return peer;
        };
        let mut client = peer;
        for hop in header.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.contains(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_proxy_may_name_the_client() {
        let limits = Limits {
            trusted_proxies: vec!["10.0.0.0/8".into(), "192.0.2.7".into()],
            ..Limits::default()
        };
        assert!(limits.problems().is_empty());
        let proxies = limits.proxies();
        let table = [
            // A client naming any address it likes is not believed.
            ("203.0.113.9", Some("1.2.3.4"), "203.0.113.9"),
            ("192.0.2.7", Some("198.51.100.1"), "198.51.100.1"),
            // Spoofed entries to the left of what our proxies appended are ignored.
            (
                "10.1.2.3",
                Some("6.6.6.6, 198.51.100.1, 10.9.9.9"),
                "198.51.100.1",
            ),
            ("10.1.2.3", None, "10.1.2.3"),
            ("10.1.2.3", Some("garbage"), "10.1.2.3"),
            ("192.0.2.8", Some("198.51.100.1"), "192.0.2.8"),
        ];
        for (peer, header, expected) in table {
            assert_eq!(
                proxies.client(ip(peer), header),
                ip(expected),
                "{peer} {header:?}"
            );
        }
    }

    #[test]
    fn bad_values_are_named() {
        let limits = Limits {
            max_connections: 0,
            header_read_timeout_ms: 1,
            trusted_proxies: vec!["10.0.0.0/33".into(), "proxy".into()],
            ..Limits::default()
        };
        let problems = limits.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(Cidr::parse("::1").is_some_and(|c| c.contains(ip("::1"))));
        assert!(Cidr::parse("0.0.0.0/0").is_some_and(|c| c.contains(ip("8.8.8.8"))));
    }
}
