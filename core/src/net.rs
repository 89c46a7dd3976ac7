//! Where a reseller's HTTP handler may send: the one place that classifies addresses and host
//! names, used when a handler is added or edited (`provisioning`) and again at every delivery
//! (`events::runner`), where the host is resolved once, checked, and the connection made to
//! exactly the checked addresses (no second lookup, so DNS rebinding finds nothing to rebind).
//!
//! Operator-owned handlers are not filtered: the operator may target its own services.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Why a delivery was not made. The same words go to the log of the operator and of the
/// reseller: they name neither the resolved address nor its range, so a reseller cannot map
/// the operator's internal names through the execution log.
pub(crate) const REFUSED: &str =
    "target refused: the host is or resolves to a local, private or reserved address";

/// IPv4 ranges nobody outside may reach through us: (network, prefix length, what it is).
const V4_RANGES: &[([u8; 4], u32, &str)] = &[
    ([255, 255, 255, 255], 32, "broadcast"),
    ([0, 0, 0, 0], 8, "this network (0/8)"),
    ([10, 0, 0, 0], 8, "private (10/8)"),
    (
        [100, 64, 0, 0],
        10,
        "shared address space (CGNAT, 100.64/10)",
    ),
    ([127, 0, 0, 0], 8, "loopback (127/8)"),
    ([169, 254, 0, 0], 16, "link-local (169.254/16)"),
    ([172, 16, 0, 0], 12, "private (172.16/12)"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments (192.0.0/24)"),
    ([192, 0, 2, 0], 24, "documentation (192.0.2/24)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99/24)"),
    ([192, 168, 0, 0], 16, "private (192.168/16)"),
    ([198, 18, 0, 0], 15, "benchmarking (198.18/15)"),
    ([198, 51, 100, 0], 24, "documentation (198.51.100/24)"),
    ([203, 0, 113, 0], 24, "documentation (203.0.113/24)"),
    ([224, 0, 0, 0], 4, "multicast (224/4)"),
    ([240, 0, 0, 0], 4, "reserved (240/4)"),
];

/// The range `ip` belongs to when a reseller's handler may not reach it; `None` when it is
/// an ordinary public address.
pub(crate) fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let n = u32::from(ip);
    V4_RANGES.iter().find_map(|(net, bits, what)| {
        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
        (n & mask == u32::from_be_bytes(*net) & mask).then_some(*what)
    })
}

/// IPv6: only global unicast (2000::/3) is open, less its special ranges; the addresses that
/// carry an IPv4 address (mapped, NAT64, 6to4) are judged by that address.
fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // ::ffff:a.b.c.d: the IPv4 address itself on the wire.
    if let Some(inner) = ip.to_ipv4_mapped() {
        return forbidden_v4(inner).map(|_| "IPv4-mapped (::ffff:0:0/96) local or private");
    }
    // 64:ff9b::a.b.c.d (NAT64, RFC 6052): the translator connects to the IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(v4(s[6], s[7])).map(|_| "NAT64 (64:ff9b::/96) local or private");
    }
    // 2002:AABB:CCDD::/48 (6to4): the relay sends to AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return forbidden_v4(v4(s[1], s[2])).map(|_| "6to4 (2002::/16) local or private");
    }
    if s[..6] == [0; 6] {
        return Some("IPv4-compatible (::/96, deprecated)");
    }
    match s[0] {
        x if x & 0xe000 != 0x2000 => Some(match x {
            x if x & 0xff00 == 0xff00 => "multicast (ff00::/8)",
            x if x & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
            x if x & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
            x if x & 0xffc0 == 0xfec0 => "site-local (fec0::/10, deprecated)",
            _ => "not global unicast (outside 2000::/3)",
        }),
        // 2001::/23: Teredo, benchmarking, ORCHID and other protocol assignments.
        0x2001 if s[1] < 0x0200 => Some("IETF protocol assignments (2001::/23)"),
        0x2001 if s[1] == 0x0db8 => Some("documentation (2001:db8::/32)"),
        0x3fff if s[1] < 0x1000 => Some("documentation (3fff::/20)"),
        _ => None,
    }
}

/// Names that are the operator's own machine or network whatever DNS says (RFC 6761, 6762,
/// 8375, and ICANN's `.internal`), compared without case and without a trailing dot.
pub(crate) fn local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let under = |zone: &str| h == zone || h.ends_with(&format!(".{zone}"));
    h.is_empty()
        || under("localhost")
        || under("local")
        || under("internal")
        || under("home.arpa")
        || under("localdomain")
}

/// May a reseller's handler target `url`? Checked on the host as a browser would read it (the
/// WHATWG URL parser turns `2130706433`, `0x7f.1`, `0177.0.0.1` or `127.1` into 127.0.0.1),
/// so every IP spelling is judged by the address it means. A DNS name passes here unless it
/// is a local name; what it resolves to is checked at each delivery.
pub(crate) fn check_reseller_url(url: &str) -> Result<(), &'static str> {
    let parsed = url::Url::parse(url).map_err(|_| "a valid http:// or https:// URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("an http:// or https:// URL");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("a URL without credentials");
    }
    let local = match parsed.host() {
        None => return Err("a URL with a host"),
        Some(url::Host::Ipv4(v4)) => forbidden_v4(v4).is_some(),
        Some(url::Host::Ipv6(v6)) => forbidden_v6(v6).is_some(),
        Some(url::Host::Domain(d)) => local_name(d),
    };
    if local {
        return Err("resellers' handlers may not target local, private or reserved addresses");
    }
    Ok(())
}

/// The resolver of a reseller's deliveries: looks the host up once (ureq's own lookup, with
/// its timeout), refuses the whole answer when any address is forbidden, and hands ureq the
/// addresses it checked, which are the only ones it connects to.
#[derive(Debug, Default)]
pub(crate) struct CheckedResolver {
    /// Set when the answer was refused, so the runner can tell a refusal from a failure.
    pub refused: Arc<parking_lot::Mutex<Option<IpAddr>>>,
}

impl ureq::unversioned::resolver::Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        use ureq::unversioned::resolver::DefaultResolver;
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        if let Some(bad) = addrs.iter().find(|a| forbidden(a.ip()).is_some()) {
            *self.refused.lock() = Some(bad.ip());
            return Err(refusal());
        }
        Ok(addrs)
    }
}

fn refusal() -> ureq::Error {
    ureq::Error::Io(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        REFUSED,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::resolver::Resolver;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn local_private_and_reserved_addresses_are_forbidden() {
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.7",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
        ] {
            assert!(forbidden(ip(bad)).is_some(), "{bad} should be forbidden");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.3.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(forbidden(ip(good)), None, "{good} should be allowed");
        }
    }

    #[test]
    fn local_names_are_recognised_with_any_case_and_a_trailing_dot() {
        for name in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "sub.localhost",
            "Sub.LocalHost..",
            "printer.local",
            "db.internal",
            "nas.home.arpa",
            "localhost.localdomain",
            "",
        ] {
            assert!(local_name(name), "{name}");
        }
        for name in ["hooks.example.com", "localhost.example.com", "mylocal"] {
            assert!(!local_name(name), "{name}");
        }
    }

    fn resolve(url: &str) -> (Result<Vec<std::net::SocketAddr>, String>, Option<IpAddr>) {
        let r = CheckedResolver::default();
        let uri: ureq::http::Uri = url.parse().expect("a URI");
        let config = ureq::config::Config::default();
        let got = r
            .resolve(
                &uri,
                &config,
                ureq::unversioned::transport::NextTimeout::default(),
            )
            .map(|a| a.iter().copied().collect())
            .map_err(|e| e.to_string());
        let refused = *r.refused.lock();
        (got, refused)
    }

    #[test]
    fn the_resolver_refuses_names_and_spellings_that_resolve_to_loopback() {
        // Names the system resolver answers with 127.0.0.1 or ::1, and IPv4 spellings the C
        // library's parser (inet_aton) reads as 127.0.0.1.
        for url in [
            "http://localhost:9/",
            "http://LOCALHOST:9/",
            "http://127.0.0.1:9/",
            "http://2130706433:9/",
            "http://0x7f000001:9/",
            "http://127.1:9/",
            "http://0177.0.0.1:9/",
            "http://0:9/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]:9/",
        ] {
            let (got, refused) = resolve(url);
            match got {
                Err(e) => assert!(e.contains(REFUSED), "{url}: {e}"),
                Ok(a) => panic!("{url} resolved to {a:?} and was not refused"),
            }
            assert!(refused.is_some(), "{url}: refused by the check");
        }
    }
}
