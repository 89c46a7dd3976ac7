//! Who may talk to the RADIUS port: networks and their shared secrets.
//!
//! `--radius-clients FILE` holds one `CIDR secret` per line (`10.0.0.0/8 s3cret`,
//! `192.0.2.7 other`, `2001:db8::/32 v6secret`); blank lines and `#` comments are skipped; the
//! secret is the rest of the line after the first run of spaces or tabs. The most specific
//! network holding a packet's source wins. A source in none of them is an unknown NAS: its
//! packets are dropped. `--radius-secret-file FILE` gives one secret (its first line) to every
//! source.

use crate::limits;
use std::net::IpAddr;
use std::sync::Arc;

/// One network and its secret.
#[derive(Clone)]
pub struct Nas {
    network: IpAddr,
    prefix: u8,
    /// The shared secret.
    pub secret: Arc<[u8]>,
    /// Position in the list (names the NAS in a Class tag).
    pub index: u32,
}

impl std::fmt::Debug for Nas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nas({}/{})", self.network, self.prefix)
    }
}

/// The NAS list.
#[derive(Clone, Debug, Default)]
pub struct Clients {
    /// Most specific first.
    list: Vec<Nas>,
}

/// IPv4-mapped IPv6 addresses count as their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn contains(network: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (network, canonical(ip)) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn check_secret(secret: &[u8]) -> Result<(), String> {
    if secret.is_empty() {
        return Err("the shared secret is empty".into());
    }
    if secret.len() > limits::secret_bytes_max {
        return Err(format!(
            "the shared secret is {} bytes; the limit is {}",
            secret.len(),
            limits::secret_bytes_max
        ));
    }
    Ok(())
}

impl Clients {
    /// One secret for every source address.
    pub fn any(secret: &[u8]) -> Result<Clients, String> {
        check_secret(secret)?;
        let secret: Arc<[u8]> = Arc::from(secret);
        Ok(Clients {
            list: vec![
                Nas {
                    network: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    prefix: 0,
                    secret: secret.clone(),
                    index: 0,
                },
                Nas {
                    network: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                    prefix: 0,
                    secret,
                    index: 0,
                },
            ],
        })
    }

    /// The secret of a `--radius-secret-file`: its first line.
    pub fn from_secret_file(text: &str) -> Result<Clients, String> {
        let first = text.lines().next().unwrap_or_default();
        Clients::any(first.as_bytes())
    }

    /// Parse a `--radius-clients` file. Errors name the line.
    pub fn parse(text: &str) -> Result<Clients, String> {
        let mut list = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |m: String| format!("line {}: {m}", n + 1);
            let (cidr, secret) = line
                .split_once([' ', '\t'])
                .map(|(c, s)| (c, s.trim()))
                .ok_or_else(|| at("expected `CIDR secret`".into()))?;
            let (addr, prefix) = match cidr.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (cidr, None),
            };
            let network: IpAddr = addr
                .parse()
                .map_err(|_| at(format!("`{addr}` is not an IP address")))?;
            let network = canonical(network);
            let max = if network.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| at(format!("`/{p}` is not a prefix length (0 to {max})")))?,
            };
            check_secret(secret.as_bytes()).map_err(at)?;
            if list.len() >= limits::clients_max {
                return Err(at(format!("more than {} clients", limits::clients_max)));
            }
            list.push(Nas {
                network,
                prefix,
                secret: Arc::from(secret.as_bytes()),
                index: list.len() as u32,
            });
        }
        if list.is_empty() {
            return Err("no clients listed".into());
        }
        list.sort_by_key(|n| std::cmp::Reverse(n.prefix));
        Ok(Clients { list })
    }

    /// The NAS a packet from `ip` comes from, if any.
    pub fn find(&self, ip: IpAddr) -> Option<&Nas> {
        self.list.iter().find(|n| contains(n.network, n.prefix, ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_network_wins_and_strangers_are_unknown() {
        let c = Clients::parse(
            "# switches\n10.0.0.0/8 wide secret\n\n10.1.2.3 narrow\n  2001:db8::/32\tsix\n127.0.0.1/32 lo\n",
        )
        .unwrap();
        let s = |ip: &str| {
            c.find(ip.parse().unwrap())
                .map(|n| String::from_utf8(n.secret.to_vec()).unwrap())
        };
        assert_eq!(s("10.9.9.9").as_deref(), Some("wide secret"));
        assert_eq!(s("10.1.2.3").as_deref(), Some("narrow"));
        assert_eq!(s("::ffff:10.1.2.3").as_deref(), Some("narrow"));
        assert_eq!(s("2001:db8::1").as_deref(), Some("six"));
        assert_eq!(s("192.0.2.1"), None);
        assert_eq!(s("127.0.0.1").as_deref(), Some("lo"));
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(Clients::parse("10.0.0.0/8").unwrap_err().contains("line 1"));
        assert!(Clients::parse("# x\n10.0.0.0/33 s")
            .unwrap_err()
            .contains("line 2"));
        assert!(Clients::parse("nope s").unwrap_err().contains("IP address"));
        assert!(Clients::parse("# only comments\n").is_err());
        assert!(Clients::from_secret_file("\nsecond").is_err());
        let long = format!("10.0.0.1 {}", "x".repeat(200));
        assert!(Clients::parse(&long).unwrap_err().contains("limit"));
        assert!(Clients::from_secret_file("s3cret\n")
            .unwrap()
            .find("192.0.2.1".parse().unwrap())
            .is_some());
    }
}
