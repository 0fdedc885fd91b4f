//! The DNS resolver that sender authentication and blocklist checks ask: the system's
//! resolvers, or the `[dns] servers` of an air-gapped site (and of the tests), each over UDP
//! with TCP for truncated answers, with the configured timeout, attempts and answer cache.

use std::time::Duration;

use mail_auth::hickory_resolver::config::{
    NameServerConfig, ProtocolConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::MessageAuthenticator;

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
