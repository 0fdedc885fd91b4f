//! LDAP: 389 with StartTLS and 636 with implicit TLS, over `ldap3_proto`'s codec.
//!
//! Officials' mail clients use it as an address book and other government systems use it
//! to authenticate officials (bind as a service account, search, bind as the official).
//! Searches read an in-memory tree built from the directory ([`tree`]); binds and
//! password changes go to the domain's [`Authenticator`], which always reads the latest
//! stored state. The directory is read-only over LDAP apart from Password Modify: the admin
//! CLI is the write path.

mod access;
pub(crate) mod attributes;
pub(crate) mod ber;
pub(crate) mod bind;
pub(crate) mod dn;
mod extended;
pub(crate) mod filter;
pub(crate) mod frame;
mod reply;
pub(crate) mod schema;
mod search;
mod session;
mod tree;

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use ldap3_proto::proto::LdapResultCode;
use ldap3_proto::DisconnectionNotice;
use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::FramedWrite;

use crate::config::Config;
use crate::directory::{Authenticator, Directory, DirectorySnapshot};
use crate::net::{Connection, Refusal, Stream};

pub use tree::generalized_time;

/// The `[ldap]` settings a session applies.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    pub base_dn: String,
    pub allow_anonymous_read: bool,
    pub allow_plaintext_bind_on_loopback: bool,
    pub size_limit: usize,
    pub time_limit: Duration,
    pub max_request_bytes_unbound: usize,
    pub max_request_bytes: usize,
    pub max_filter_depth: usize,
    pub max_pending_requests: usize,
    pub idle_timeout: Duration,
    /// The portal's address, named where an initial password limits a connection.
    pub portal_url: String,
}

impl LdapSettings {
    /// The settings `config` describes.
    pub fn from_config(config: &Config) -> LdapSettings {
        let ldap = &config.ldap;
        LdapSettings {
            base_dn: config.ldap_base_dn(),
            allow_anonymous_read: ldap.allow_anonymous_read,
            allow_plaintext_bind_on_loopback: ldap.allow_plaintext_bind_on_loopback,
            size_limit: ldap.size_limit as usize,
            time_limit: Duration::from_secs(u64::from(ldap.time_limit_seconds)),
            max_request_bytes_unbound: ldap.max_request_bytes_unbound as usize,
            max_request_bytes: ldap.max_request_bytes as usize,
            max_filter_depth: ldap.max_filter_depth as usize,
            max_pending_requests: ldap.max_pending_requests as usize,
            idle_timeout: Duration::from_secs(ldap.idle_timeout_seconds),
            portal_url: config.http.portal_url(&config.server.hostname),
        }
    }
}

/// How often the in-memory tree checks for changes made by other processes (the admin CLI)
/// or other nodes; this process's own changes show at once.
const TREE_REFRESH: Duration = Duration::from_secs(1);

/// What every LDAP session shares.
pub struct LdapService {
    settings: LdapSettings,
    authenticator: Arc<Authenticator>,
    tree: tree::TreeCache,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for LdapService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::net::debug_service(f, "LdapService", &self.settings, self.tls.is_some())
    }
}

impl LdapService {
    /// Builds the tree from `snapshot` and readies the service.
    pub fn new(
        settings: LdapSettings,
        directory: Directory,
        snapshot: &DirectorySnapshot,
        authenticator: Arc<Authenticator>,
        tls: Option<TlsAcceptor>,
    ) -> LdapService {
        let base_dn = settings.base_dn.clone();
        let tree = tree::follow_tree(directory, base_dn, TREE_REFRESH, snapshot);
        LdapService {
            settings,
            authenticator,
            tree,
            tls,
        }
    }

    /// Serves one LDAP connection until the client unbinds or the connection ends.
    pub async fn serve(&self, conn: Connection) {
        session::run(self, conn).await;
    }
}

/// Turns away a connection over the limits with a Notice of Disconnection.
pub async fn refuse(stream: Stream, why: Refusal) {
    let message = match why {
        Refusal::TooManyFromAddress => "too many connections from your address; try again later",
        Refusal::ServerBusy => "the server is busy; try again later",
    };
    let mut out = FramedWrite::new(stream, frame::LdapFrames::new(0));
    // RFC 4511 §4.4.1 allows only a few codes in the notice; `unavailable` is the one for
    // "come back later".
    let notice = DisconnectionNotice::gen_response(LdapResultCode::Unavailable, message);
    let _ = tokio::time::timeout(Duration::from_secs(5), out.send(notice)).await;
    let _ = out.into_inner().shutdown().await;
}
