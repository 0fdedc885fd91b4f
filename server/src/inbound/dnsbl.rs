//! DNS blocklists (RFC 5782): whether the connecting address is listed by one of the
//! configured zones, asked once per MX connection, all zones at once.
//!
//! An answer in 127.0.0.0/8 is a listing, except 127.255.255.0/24: the lists answer that to
//! say they refuse the query (a public resolver, over quota), which says nothing about the
//! client. A list that does not answer in time lists nobody: a blocklist is a filter, not a
//! reason to lose mail.

use std::net::IpAddr;

use futures_util::future::join_all;
use mail_auth::MessageAuthenticator;

/// A listing: the zone that lists the address and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub zone: String,
    pub answer: std::net::Ipv4Addr,
}

/// The configured blocklists.
#[derive(Clone)]
pub struct Blocklists {
    resolver: MessageAuthenticator,
    zones: Vec<String>,
}

impl std::fmt::Debug for Blocklists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocklists")
            .field("zones", &self.zones)
            .finish_non_exhaustive()
    }
}

impl Blocklists {
    /// Blocklists over `zones` (e.g. `zen.spamhaus.org`); `None` without any.
    pub fn new(resolver: MessageAuthenticator, zones: &[String]) -> Option<Blocklists> {
        let zones: Vec<String> = zones
            .iter()
            .map(|z| z.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        (!zones.is_empty()).then_some(Blocklists { resolver, zones })
    }

    /// The first zone (in configured order) that lists `ip`.
    pub async fn listing(&self, ip: IpAddr) -> Option<Listing> {
        let reversed = reversed(ip);
        let questions = self.zones.iter().map(|zone| {
            let name = format!("{reversed}.{zone}.");
            async move { (zone, self.resolver.resolver().ipv4_lookup(name).await) }
        });
        // Zones are configured, so as metric labels they stay a bounded set.
        for (zone, answer) in join_all(questions).await {
            match answer {
                Ok(addresses) => {
                    let listed = addresses.iter().map(|a| a.0).find(|a| is_listing(*a));
                    if let Some(answer) = listed {
                        crate::telemetry::dnsbl_answer(zone.clone(), "listed");
                        return Some(Listing {
                            zone: zone.clone(),
                            answer,
                        });
                    }
                    crate::telemetry::dnsbl_answer(zone.clone(), "refused");
                }
                Err(error) if error.is_no_records_found() => {
                    crate::telemetry::dnsbl_answer(zone.clone(), "not_listed");
                }
                Err(error) => {
                    tracing::debug!(%zone, %error, "blocklist did not answer");
                    crate::telemetry::dnsbl_answer(zone.clone(), "error");
                }
            }
        }
        None
    }
}

/// An answer that lists the address: in 127.0.0.0/8, outside the lists' error range.
fn is_listing(answer: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = answer.octets();
    a == 127 && !(b == 255 && c == 255)
}

/// The address as a blocklist name: octets reversed for IPv4, nibbles for IPv6.
fn reversed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}")
        }
        IpAddr::V6(v6) => v6
            .octets()
            .iter()
            .rev()
            .flat_map(|byte| [byte & 0x0f, byte >> 4])
            .map(|nibble| format!("{nibble:x}"))
            .collect::<Vec<_>>()
            .join("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_reversed_as_rfc_5782_says() {
        assert_eq!(reversed("192.0.2.99".parse().unwrap()), "99.2.0.192");
        assert_eq!(
            reversed("2001:db8:1:2:3:4:567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2"
        );
    }

    #[test]
    fn the_lists_error_codes_are_not_listings() {
        assert!(is_listing("127.0.0.2".parse().unwrap()));
        assert!(is_listing("127.0.0.11".parse().unwrap()));
        assert!(!is_listing("127.255.255.254".parse().unwrap()));
        assert!(!is_listing("127.255.255.252".parse().unwrap()));
        assert!(!is_listing("10.0.0.2".parse().unwrap()));
    }
}
