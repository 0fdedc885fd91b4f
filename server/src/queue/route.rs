//! Where a domain's mail goes: the configured smart host, or the domain's MX hosts in
//! preference order (RFC 5321 §5.1), or, when the domain has no MX, the domain's own
//! addresses (the implicit MX). A null MX (RFC 7505) means the domain takes no mail.
//!
//! DNS is asked through the hickory resolver that mail-auth carries; the resolver is set up
//! from the system's configuration the first time a domain needs it, so a node that relays
//! everything through a smart host never reads resolv.conf.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mail_auth::common::cache::NoCache;
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::{IpLookupStrategy, MessageAuthenticator, MX};
use rand::seq::SliceRandom;
use tokio::sync::OnceCell;

use super::transfer::{Failure, Hop};
use super::SmartHost;

/// The SMTP port of MX hosts.
const SMTP_PORT: u16 = 25;
/// MX hosts tried per attempt, and addresses tried per host: enough to get past a broken
/// one, few enough that an attempt ends in bounded time.
const MAX_HOSTS: usize = 5;
const MAX_ADDRESSES_PER_HOST: usize = 2;

/// The servers to try for a domain, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Hops(Vec<Hop>),
    /// Nothing to try now; maybe later (DNS did not answer).
    Unavailable(Failure),
    /// The domain takes no mail, ever (no such domain, null MX).
    Undeliverable(Failure),
}

/// Finds the servers for a domain.
pub(crate) struct Router {
    smart_host: Option<SmartHost>,
    /// This host's own name: an MX pointing back here would loop.
    own_name: String,
    resolver: OnceCell<Result<Arc<MessageAuthenticator>, String>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("smart_host", &self.smart_host)
            .field("own_name", &self.own_name)
            .finish_non_exhaustive()
    }
}

type NoMxCache = NoCache<String, Arc<Vec<MX>>>;
type NoV4Cache = NoCache<String, Arc<Vec<std::net::Ipv4Addr>>>;
type NoV6Cache = NoCache<String, Arc<Vec<std::net::Ipv6Addr>>>;

impl Router {
    pub(crate) fn new(smart_host: Option<SmartHost>, own_name: &str) -> Router {
        Router {
            smart_host,
            own_name: own_name.to_ascii_lowercase(),
            resolver: OnceCell::new(),
        }
    }

    /// Whether all mail goes through a smart host.
    pub(crate) fn smart_host(&self) -> Option<&SmartHost> {
        self.smart_host.as_ref()
    }

    /// The servers to try for `domain`, best first.
    pub(crate) async fn route(&self, domain: &str) -> Route {
        match &self.smart_host {
            Some(relay) => self.smart_host_hops(relay).await,
            None => self.mx_hops(domain).await,
        }
    }

    async fn smart_host_hops(&self, relay: &SmartHost) -> Route {
        if let Ok(ip) = relay.host.parse::<IpAddr>() {
            return Route::Hops(vec![Hop {
                name: relay.host.clone(),
                addr: SocketAddr::new(ip, relay.port),
            }]);
        }
        // The system resolver, so that a relay named in /etc/hosts is found.
        match tokio::net::lookup_host((relay.host.as_str(), relay.port)).await {
            Ok(addrs) => Route::Hops(
                addrs
                    .take(MAX_ADDRESSES_PER_HOST * 2)
                    .map(|addr| Hop {
                        name: relay.host.clone(),
                        addr,
                    })
                    .collect(),
            ),
            Err(e) => Route::Unavailable(Failure::local(
                "4.4.3",
                format!("cannot resolve the smart host {relay}: {e}"),
                None,
            )),
        }
    }

    async fn resolver(&self) -> Result<Arc<MessageAuthenticator>, Failure> {
        let resolver = self
            .resolver
            .get_or_init(|| async {
                MessageAuthenticator::new_system_conf()
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await;
        resolver
            .clone()
            .map_err(|e| Failure::local("4.4.3", format!("no DNS resolver: {e}"), None))
    }

    async fn mx_hops(&self, domain: &str) -> Route {
        let resolver = match self.resolver().await {
            Ok(r) => r,
            Err(failure) => return Route::Unavailable(failure),
        };
        let hosts = match mx_hosts(&resolver, domain).await {
            Ok(hosts) => hosts,
            Err(route) => return route,
        };
        let implicit = hosts.len() == 1 && hosts[0] == domain;
        let mut hops = Vec::new();
        let mut last_problem = None;
        let mut looped = false;
        for host in hosts.into_iter().take(MAX_HOSTS) {
            if host.eq_ignore_ascii_case(&self.own_name) {
                looped = true;
                continue;
            }
            match resolver
                .ip_lookup(
                    &host,
                    IpLookupStrategy::Ipv4thenIpv6,
                    MAX_ADDRESSES_PER_HOST,
                    None::<&NoV4Cache>,
                    None::<&NoV6Cache>,
                )
                .await
            {
                Ok(ips) => hops.extend(ips.into_iter().map(|ip| Hop {
                    name: host.clone(),
                    addr: SocketAddr::new(ip, SMTP_PORT),
                })),
                Err(e) => last_problem = Some((host, e)),
            }
        }
        if !hops.is_empty() {
            return Route::Hops(hops);
        }
        if looped {
            return Route::Undeliverable(Failure::local(
                "5.4.6",
                format!("the MX of {domain} is this server: the mail would loop"),
                None,
            ));
        }
        match last_problem {
            Some((_, mail_auth::Error::DnsRecordNotFound(_))) if implicit => Route::Undeliverable(
                Failure::local("5.1.2", format!("{domain} has no MX and no address"), None),
            ),
            Some((host, e)) => Route::Unavailable(Failure::local(
                "4.4.3",
                format!("cannot resolve {host}: {e}"),
                None,
            )),
            None => Route::Unavailable(Failure::local(
                "4.4.3",
                format!("no usable MX host for {domain}"),
                None,
            )),
        }
    }
}

/// The MX hosts of `domain` by preference, hosts of equal preference in random order (RFC
/// 5321 §5.1), or the domain itself when it has no MX; `Err` is the route when the domain
/// takes no mail, does not exist, or could not be asked.
async fn mx_hosts(resolver: &MessageAuthenticator, domain: &str) -> Result<Vec<String>, Route> {
    let records = match resolver.mx_lookup(domain, None::<&NoMxCache>).await {
        Ok(records) => records,
        Err(mail_auth::Error::DnsRecordNotFound(ResponseCode::NXDomain)) => {
            return Err(Route::Undeliverable(Failure::local(
                "5.1.2",
                format!("the domain {domain} does not exist"),
                None,
            )))
        }
        // RFC 5321 §5.1: no MX records: the domain itself is the implicit MX.
        Err(mail_auth::Error::DnsRecordNotFound(_)) => return Ok(vec![domain.to_string()]),
        Err(e) => {
            return Err(Route::Unavailable(Failure::local(
                "4.4.3",
                format!("MX lookup for {domain} failed: {e}"),
                None,
            )))
        }
    };
    // RFC 7505: a single MX of "." says the domain accepts no mail.
    let null_mx = records.len() == 1
        && records[0].exchanges.len() == 1
        && records[0].exchanges[0].trim_end_matches('.').is_empty();
    if null_mx {
        return Err(Route::Undeliverable(Failure::local(
            "5.1.10",
            format!("{domain} accepts no mail (null MX, RFC 7505)"),
            None,
        )));
    }
    let mut hosts = Vec::new();
    for record in records.iter() {
        let mut same = record.exchanges.clone();
        same.shuffle(&mut rand::rng());
        hosts.extend(
            same.into_iter()
                .map(|h| h.trim_end_matches('.').to_string())
                .filter(|h| !h.is_empty()),
        );
    }
    if hosts.is_empty() {
        hosts.push(domain.to_string());
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_smart_host_by_address_needs_no_dns() {
        let router = Router::new(
            Some("127.0.0.1:2525".parse().unwrap()),
            "mail.vinhphuc.gov.vn",
        );
        assert_eq!(
            router.route("hanoi.gov.vn").await,
            Route::Hops(vec![Hop {
                name: "127.0.0.1".into(),
                addr: "127.0.0.1:2525".parse().unwrap()
            }])
        );
    }
}
