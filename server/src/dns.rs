//! The DNS resolver that sender authentication and blocklist checks ask: the system's
//! resolvers, or the `[dns] servers` of an air-gapped site (and of the tests), each over UDP
//! with TCP for truncated answers, with the configured timeout, attempts and answer cache.

use std::borrow::Borrow;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_auth::hickory_resolver::config::{
    NameServerConfig, ProtocolConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::{MessageAuthenticator, Parameters, ResolverCache, Txt, MX};

use crate::config::DnsConfig;

/// The resolver could not be set up (an unreadable `/etc/resolv.conf`).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver: {0}")]
pub struct DnsSetupError(String);

/// A resolver for `config`, wrapped as `mail-auth` uses it.
pub fn authenticator(config: &DnsConfig) -> Result<MessageAuthenticator, DnsSetupError> {
    let servers = config.server_addrs();
    let (resolvers, mut options) = if servers.is_empty() {
        mail_auth::hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| DnsSetupError(e.to_string()))?
    } else {
        let mut resolvers = ResolverConfig::default();
        for addr in servers {
            resolvers.add_name_server(NameServerConfig::new(addr, ProtocolConfig::Udp));
            resolvers.add_name_server(NameServerConfig::new(addr, ProtocolConfig::Tcp));
        }
        (resolvers, ResolverOpts::default())
    };
    options.timeout = Duration::from_secs(config.timeout_seconds);
    options.attempts = config.attempts as usize;
    options.cache_size = config.cache_entries as usize;
    // Names in mail are fully qualified: never try them under the host's search domains.
    options.ndots = 0;
    MessageAuthenticator::new(resolvers, options).map_err(|e| DnsSetupError(e.to_string()))
}

/// Records already parsed (SPF policies, DKIM keys, DMARC policies) and addresses looked
/// up, kept for their TTL. The resolver caches answers as wire data; without these, every
/// message would parse its sender's SPF policy and decode its DKIM key afresh, a large
/// share of what checking a message costs on a busy MX.
#[derive(Debug)]
pub struct RecordCaches {
    pub txt: Expiring<String, Txt>,
    pub mx: Expiring<String, Arc<Vec<MX>>>,
    pub ipv4: Expiring<String, Arc<Vec<Ipv4Addr>>>,
    pub ipv6: Expiring<String, Arc<Vec<Ipv6Addr>>>,
    pub ptr: Expiring<IpAddr, Arc<Vec<String>>>,
}

impl RecordCaches {
    /// Caches of `config.cache_entries` records each; none at all when that is 0.
    pub fn new(config: &DnsConfig) -> RecordCaches {
        let entries = config.cache_entries as usize;
        RecordCaches {
            txt: Expiring::new(entries),
            mx: Expiring::new(entries),
            ipv4: Expiring::new(entries),
            ipv6: Expiring::new(entries),
            ptr: Expiring::new(entries),
        }
    }

    /// `params` with every cache attached, as `mail-auth`'s verifiers take them.
    pub fn around<P>(&self, params: P) -> Cached<'_, P> {
        Parameters::new(params)
            .with_txt_cache(&self.txt)
            .with_mx_cache(&self.mx)
            .with_ipv4_cache(&self.ipv4)
            .with_ipv6_cache(&self.ipv6)
            .with_ptr_cache(&self.ptr)
    }
}

/// Verifier parameters with [`RecordCaches`] attached.
pub type Cached<'c, P> = Parameters<
    'c,
    P,
    Expiring<String, Txt>,
    Expiring<String, Arc<Vec<MX>>>,
    Expiring<String, Arc<Vec<Ipv4Addr>>>,
    Expiring<String, Arc<Vec<Ipv6Addr>>>,
    Expiring<IpAddr, Arc<Vec<String>>>,
>;

/// A bounded cache whose entries lapse at the time their DNS answer stops being valid.
pub struct Expiring<K, V>(Option<quick_cache::sync::Cache<K, (V, Instant)>>);

impl<K: Eq + Hash + Clone, V: Clone> Expiring<K, V> {
    fn new(entries: usize) -> Self {
        Expiring((entries > 0).then(|| quick_cache::sync::Cache::new(entries)))
    }
}

impl<K: Eq + Hash + Clone, V: Clone> std::fmt::Debug for Expiring<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.0.as_ref().map_or(0, |cache| cache.len());
        f.debug_struct("Expiring")
            .field("entries", &entries)
            .finish()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> ResolverCache<K, V> for Expiring<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (value, valid_until) = self.0.as_ref()?.get(name)?;
        (valid_until > Instant::now()).then_some(value)
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.as_ref()?.remove(name).map(|(_, (value, _))| value)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        if let Some(cache) = &self.0 {
            cache.insert(key, (value, valid_until));
        }
    }
}
