//! ManageSieve (RFC 5804) on port 4190: how officials' mail clients (Thunderbird's sieve
//! add-on, Roundcube's managesieve plugin, `sieve-connect`) upload, check and activate their
//! filters.
//!
//! `framing` reads commands (lines, quoted strings and literals, under limits); one
//! [`session::Session`] per connection holds the state, STARTTLS and AUTHENTICATE PLAIN
//! (only after TLS, through the shared authenticator, so lockout and source throttling are
//! the same as for IMAP, SMTP and LDAP); `scripts` answers the script commands from
//! [`crate::sieve::scripts::Scripts`], which owns what a script may be; `reply` holds the
//! responses and their texts. No crate serves the protocol, and its grammar is a dozen
//! lines; the byte-level splitting into lines and literals is imap-codec's.

mod framing;
mod reply;
mod scripts;
mod session;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::directory::Authenticator;
use crate::net::{Connection, Refusal, Stream};
use crate::sieve::scripts::Scripts;

/// Longest command line outside literals.
const MAX_LINE: usize = 8 * 1024;

/// What ManageSieve sessions are limited to.
#[derive(Debug, Clone)]
pub struct ManageSieveSettings {
    pub max_auth_failures: u32,
    pub max_errors: u32,
    pub idle_timeout: Duration,
    /// The portal's address, named where an initial password is refused.
    pub portal_url: String,
}

impl ManageSieveSettings {
    pub fn from_config(config: &Config) -> ManageSieveSettings {
        ManageSieveSettings {
            max_auth_failures: config.sieve.max_auth_failures,
            max_errors: config.sieve.max_errors,
            idle_timeout: Duration::from_secs(config.sieve.idle_timeout_seconds),
            portal_url: config.http.portal_url(&config.server.hostname),
        }
    }
}

/// Everything ManageSieve sessions share.
pub struct ManageSieveService {
    settings: ManageSieveSettings,
    authenticator: Arc<Authenticator>,
    scripts: Scripts,
    tls: Option<TlsAcceptor>,
    /// The `SIEVE` capability: the extensions scripts may require.
    extensions: String,
}

impl std::fmt::Debug for ManageSieveService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::net::debug_service(f, "ManageSieveService", &self.settings, self.tls.is_some())
    }
}

impl ManageSieveService {
    pub fn new(
        settings: ManageSieveSettings,
        authenticator: Arc<Authenticator>,
        scripts: Scripts,
        tls: Option<TlsAcceptor>,
    ) -> ManageSieveService {
        ManageSieveService {
            settings,
            authenticator,
            scripts,
            tls,
            extensions: crate::sieve::extensions(),
        }
    }

    /// Serves one ManageSieve connection until it ends.
    pub async fn serve(&self, conn: Connection) {
        session::Session::new(self, conn).run().await;
    }
}

/// Turns away a connection over the limits: a BYE, then close (RFC 5804 §1.2).
pub async fn refuse(mut stream: Stream, why: Refusal) {
    let text = match why {
        Refusal::ServerBusy => reply::BYE_BUSY,
        Refusal::TooManyFromAddress => reply::BYE_TOO_MANY_FROM,
    };
    let bye = reply::Response::bye(Some(reply::TRY_LATER), text);
    let _ = stream.write_all(&bye.to_wire()).await;
    let _ = stream.shutdown().await;
}
