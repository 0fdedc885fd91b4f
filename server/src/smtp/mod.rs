//! SMTP: MX (25), submission (587, STARTTLS) and submissions (465, implicit TLS).
//!
//! One [`session::Session`] per connection reads commands with smtp-proto, passes each
//! through one gate (state, identity, pipelining), and hands it to a small handler:
//! `envelope` (MAIL, RCPT), `auth` (AUTH), `message` (DATA, BDAT and storing the message).
//! Recipients are looked up in the directory's in-memory index; accepted mail goes to the
//! mail store's intake, which answers only once it is committed and synced. Reply texts and
//! the mapping from domain answers to replies live in `reply`.

mod auth;
mod envelope;
mod filtering;
mod framing;
mod inbound;
mod message;
pub(crate) mod reply;
mod session;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::directory::{Authenticator, RecipientCache};
use crate::dkim::DkimCache;
use crate::filter::Engines;
use crate::inbound::{Blocklists, SenderCheck};
use crate::mailstore::{Intake, Mailstore};
use crate::net::{Connection, Refusal, Stream};
use crate::sieve::scripts::Scripts;

pub use framing::{command_line, DataFault, DataReader, LineStatus};
// The fuzz harness (crate::fuzzing) applies the session's own limits and decoding.
pub(crate) use auth::decode as decode_sasl_response;
pub(crate) use message::MAX_TEXT_LINE;
pub(crate) use session::{starts_with_auth, MAX_AUTH_LINE, MAX_COMMAND_LINE};

/// What the SMTP sessions are allowed and limited to.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// This host's name, in the greeting, EHLO and `Received:`.
    pub hostname: String,
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    /// Error replies one session may earn before it is closed.
    pub max_errors: u32,
    /// Failed AUTH attempts one session may make before it is closed.
    pub max_auth_failures: u32,
    /// Longest wait for one command line.
    pub command_timeout: Duration,
    /// Longest one message's data may take to arrive.
    pub data_timeout: Duration,
    /// The portal's address, named where an initial password is refused.
    pub portal_url: String,
}

impl SmtpSettings {
    /// The settings `config` describes.
    pub fn from_config(config: &Config) -> SmtpSettings {
        let smtp = &config.smtp;
        SmtpSettings {
            hostname: config.server.hostname.clone(),
            max_message_bytes: usize::try_from(smtp.max_message_bytes).unwrap_or(usize::MAX),
            max_recipients: smtp.max_recipients as usize,
            max_errors: smtp.max_errors,
            max_auth_failures: smtp.max_auth_failures,
            command_timeout: Duration::from_secs(config.limits.request_timeout_seconds),
            data_timeout: Duration::from_secs(smtp.data_timeout_seconds),
            portal_url: config.http.portal_url(&config.server.hostname),
        }
    }
}

/// Everything SMTP sessions share.
pub struct SmtpService {
    settings: SmtpSettings,
    recipients: RecipientCache,
    authenticator: Arc<Authenticator>,
    intake: Intake,
    mailstore: Mailstore,
    tls: Option<TlsAcceptor>,
    /// Signs submitted mail for the domains that have a DKIM key.
    dkim: DkimCache,
    /// Checks the senders of mail from outside (MX only); none: nothing is checked.
    sender_check: Option<SenderCheck>,
    /// The content filters in use (rspamd, ClamAV).
    engines: Engines,
    /// DNS blocklists asked about MX clients.
    blocklists: Option<Blocklists>,
    /// Officials' Sieve filters, run at local delivery; none: every copy goes to INBOX.
    scripts: Option<Scripts>,
}

impl std::fmt::Debug for SmtpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::net::debug_service(f, "SmtpService", &self.settings, self.tls.is_some())
    }
}

impl SmtpService {
    /// The service over the shared domain parts.
    pub fn new(
        settings: SmtpSettings,
        recipients: RecipientCache,
        authenticator: Arc<Authenticator>,
        intake: Intake,
        mailstore: Mailstore,
        tls: Option<TlsAcceptor>,
        dkim: DkimCache,
    ) -> SmtpService {
        SmtpService {
            settings,
            recipients,
            authenticator,
            intake,
            mailstore,
            tls,
            dkim,
            sender_check: None,
            engines: Engines::default(),
            blocklists: None,
            scripts: None,
        }
    }

    /// The service running officials' Sieve filters at local delivery.
    pub fn with_scripts(mut self, scripts: Scripts) -> SmtpService {
        self.scripts = Some(scripts);
        self
    }

    /// The service with content filters and blocklists.
    pub fn with_filters(mut self, engines: Engines, blocklists: Option<Blocklists>) -> SmtpService {
        self.engines = engines;
        self.blocklists = blocklists;
        self
    }

    /// The service with the MX's sender authentication.
    pub fn with_sender_check(mut self, check: SenderCheck) -> SmtpService {
        self.sender_check = Some(check);
        self
    }

    /// Serves one SMTP connection until it ends.
    pub async fn serve(&self, conn: Connection) {
        session::Session::new(self, conn).run().await;
    }
}

/// Turns away a connection over the limits (RFC 5321 §3.8: 421 before closing).
pub async fn refuse(mut stream: Stream, hostname: &str, why: Refusal) {
    let _ = stream
        .write_all(reply::refused_connection(hostname, why).as_bytes())
        .await;
    let _ = stream.shutdown().await;
}
