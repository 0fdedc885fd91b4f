//! IMAP (RFC 3501 and the extensions mail clients rely on): 143 with STARTTLS and 993 with
//! implicit TLS.
//!
//! `framing` reads client messages with imap-codec's fragmentizer under the size limits;
//! one [`session::Session`] per connection holds the protocol state and hands each command
//! to a small handler: `account` (greeting, capabilities, STARTTLS, login, ID, NAMESPACE,
//! ENABLE), `folders` (the authenticated-state commands: LIST, SELECT, CREATE, STATUS,
//! APPEND, QUOTA…) and `selected` (FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, IDLE and the
//! unsolicited updates that keep a session in step with others on the same mailbox).
//! `fetch` and `search` turn stored messages into FETCH items and SEARCH answers; `utf7`
//! encodes folder names; reply texts live in `reply`. Responses are encoded by imap-codec.

mod account;
mod extended_list;
mod fetch;
mod flags;
pub(crate) mod folders;
pub(crate) mod framing;
mod reply;
mod search;
mod selected;
mod session;
pub mod utf7;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::directory::{Authenticator, OfficialId};
use crate::mailstore::Mailstore;
use crate::net::{Connection, Refusal, Stream};

/// What IMAP sessions are allowed and limited to.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub max_command_bytes: u32,
    pub max_literal_bytes: u32,
    pub max_connections_per_official: u32,
    pub max_auth_failures: u32,
    pub max_errors: u32,
    /// A silent session is closed after this long; a session in IDLE is not.
    pub idle_timeout: Duration,
    /// The portal's address, named where an initial password is refused.
    pub portal_url: String,
}

impl ImapSettings {
    /// The settings `config` describes.
    pub fn from_config(config: &Config) -> ImapSettings {
        let imap = &config.imap;
        ImapSettings {
            max_command_bytes: imap.max_command_bytes,
            max_literal_bytes: imap.max_literal_bytes,
            max_connections_per_official: imap.max_connections_per_official,
            max_auth_failures: imap.max_auth_failures,
            max_errors: imap.max_errors,
            idle_timeout: Duration::from_secs(imap.idle_timeout_seconds),
            portal_url: config.http.portal_url(&config.server.hostname),
        }
    }
}

/// Everything IMAP sessions share.
pub struct ImapService {
    settings: ImapSettings,
    authenticator: Arc<Authenticator>,
    mailstore: Mailstore,
    tls: Option<TlsAcceptor>,
    /// Open sessions per logged-in official.
    sessions_per_official: Mutex<HashMap<OfficialId, u32>>,
    /// rspamd, taught by officials' moves into and out of Junk.
    learner: Option<Arc<crate::filter::Rspamd>>,
}

impl std::fmt::Debug for ImapService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::net::debug_service(f, "ImapService", &self.settings, self.tls.is_some())
    }
}

impl ImapService {
    /// The service over the shared domain parts.
    pub fn new(
        settings: ImapSettings,
        authenticator: Arc<Authenticator>,
        mailstore: Mailstore,
        tls: Option<TlsAcceptor>,
    ) -> ImapService {
        ImapService {
            settings,
            authenticator,
            mailstore,
            tls,
            sessions_per_official: Mutex::default(),
            learner: None,
        }
    }

    /// The service with rspamd learning from Junk moves.
    pub fn with_learner(mut self, learner: Option<Arc<crate::filter::Rspamd>>) -> ImapService {
        self.learner = learner;
        self
    }

    /// Serves one IMAP connection until it ends.
    pub async fn serve(&self, conn: Connection) {
        session::Session::new(self, conn).run().await;
    }

    /// Takes one of an official's session places; `None` when they hold all of them.
    fn claim_session(&self, official: OfficialId) -> Option<OfficialSession<'_>> {
        let mut open = self
            .sessions_per_official
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let count = open.entry(official).or_insert(0);
        if *count >= self.settings.max_connections_per_official {
            return None;
        }
        *count += 1;
        Some(OfficialSession {
            service: self,
            official,
        })
    }
}

/// One of an official's session places, given back when the session ends.
#[derive(Debug)]
struct OfficialSession<'s> {
    service: &'s ImapService,
    official: OfficialId,
}

impl Drop for OfficialSession<'_> {
    fn drop(&mut self) {
        let mut open = self
            .service
            .sessions_per_official
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.official) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.official);
            }
        }
    }
}

/// Turns away a connection over the limits (RFC 3501 §7.1.5: an untagged BYE, then close).
pub async fn refuse(mut stream: Stream, why: Refusal) {
    let _ = stream
        .write_all(reply::refused_connection(why).as_bytes())
        .await;
    let _ = stream.shutdown().await;
}
