//! One delivery attempt: a single SMTP transaction carrying one message to all of its
//! recipients in one destination domain, spoken with lettre's SMTP client.
//!
//! lettre's `AsyncSmtpTransport::send_raw` fails the whole message when any one `RCPT TO`
//! is refused, and does not say which. A queue must fail only the refused recipient, so this
//! module drives lettre's lower-level `AsyncSmtpConnection` command by command: `MAIL`, one
//! `RCPT` per recipient with its own reply, `DATA` for those accepted. The connection,
//! STARTTLS, AUTH, reply parsing and dot-stuffing are lettre's.
//!
//! Servers are tried in order (`route` decides the order) until one takes the transaction;
//! a server that cannot be reached, refuses the session or fails a required TLS policy
//! sends the attempt on to the next one.

use std::net::SocketAddr;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{
    ClientId, Extension, MailBodyParameter, MailParameter, ServerInfo,
};
use lettre::transport::smtp::Error as SmtpError;
use lettre::Address;

/// How long the server gets to answer QUIT.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much TLS a hop needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// STARTTLS when the server offers it, without checking its certificate (what every MTA
    /// does: an unverified encrypted channel beats a plaintext one); plaintext otherwise.
    Opportunistic,
    /// STARTTLS with a certificate that verifies for the server's name; a server that does
    /// not offer it, or whose certificate does not verify, is a temporary failure.
    Required,
}

/// Why a recipient was not delivered in an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`.
    pub status: String,
    /// The remote server's reply, when the failure is one: `550 5.1.1 No such user`.
    pub reply: Option<String>,
    /// What went wrong, in a sentence for logs, `last_error` and notifications.
    pub detail: String,
    /// The server that gave the reply or could not be used, when there was one.
    pub remote: Option<String>,
}

impl Failure {
    /// A failure found on this side (no reply to quote).
    pub(crate) fn local(status: &str, detail: String, remote: Option<&str>) -> Failure {
        Failure {
            status: status.to_string(),
            reply: None,
            detail,
            remote: remote.map(str::to_string),
        }
    }

    /// The failure a negative reply from `host` stands for. lettre keeps the code and the
    /// joined text of the reply in its error.
    fn from_reply(error: &SmtpError, host: &str) -> Failure {
        let code = error
            .status()
            .map_or_else(|| "451".to_string(), |c| c.to_string());
        let text = std::error::Error::source(error)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let reply = if text.is_empty() {
            code.clone()
        } else {
            format!("{code} {text}")
        };
        Failure {
            status: enhanced_status(&code, &text),
            detail: format!("{host} said: {reply}"),
            reply: Some(reply),
            remote: Some(host.to_string()),
        }
    }

    /// What `last_error` keeps: the remote reply as given, or else the problem.
    pub fn last_error(&self) -> String {
        self.reply.clone().unwrap_or_else(|| self.detail.clone())
    }

    /// The sentence a person reads in a notification.
    pub fn explanation(&self) -> String {
        self.detail.clone()
    }

    /// Whether the reply was permanent (5xx).
    fn is_permanent(&self) -> bool {
        self.status.starts_with('5')
    }

    /// The same failure, demoted to temporary: for problems that retrying may cure even
    /// though a server answered 5xx (its refusal of our AUTH credentials, a greeting).
    fn temporary(mut self) -> Failure {
        if self.is_permanent() {
            self.status.replace_range(0..1, "4");
        }
        self
    }
}

/// The enhanced status code a reply carries (RFC 3463 `class.subject.detail` at the start of
/// its text, RFC 2034), or the generic one for its basic code's class.
fn enhanced_status(code: &str, text: &str) -> String {
    let class = code.chars().next().filter(|c| matches!(c, '2' | '4' | '5'));
    let generic = format!("{}.0.0", class.unwrap_or('4'));
    let Some(first) = text.split_whitespace().next() else {
        return generic;
    };
    let fields: Vec<&str> = first.split('.').collect();
    let numeric = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    let valid = fields.len() == 3
        && fields[0].len() == 1
        && Some(fields[0].chars().next().unwrap_or('0')) == class
        && numeric(fields[1], 3)
        && numeric(fields[2], 3);
    if valid {
        first.to_string()
    } else {
        generic
    }
}

/// What one attempt did for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecipientOutcome {
    /// The server took responsibility for it (`250` after the data).
    Delivered { remote: String },
    /// Try again later.
    Deferred(Failure),
    /// Give up: the message will not reach this recipient.
    Failed(Failure),
}

impl RecipientOutcome {
    fn from_failure(failure: Failure) -> RecipientOutcome {
        if failure.is_permanent() {
            RecipientOutcome::Failed(failure)
        } else {
            RecipientOutcome::Deferred(failure)
        }
    }
}

/// One server to try: its name (for TLS and reports) and an address of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    pub name: String,
    pub addr: SocketAddr,
}

/// The settings every attempt shares.
#[derive(Clone)]
pub(crate) struct TransferSettings {
    /// This host's name for EHLO.
    pub hello: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// SMTP AUTH credentials (smart host only); sent only over verified TLS.
    pub credentials: Option<(String, String)>,
    /// Trusted in addition to the webpki roots when a certificate must verify.
    pub extra_roots: Vec<Certificate>,
}

impl std::fmt::Debug for TransferSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferSettings")
            .field("hello", &self.hello)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(user, _)| user),
            )
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

/// The message and envelope of one attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    /// Empty for the null sender.
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub message: &'a [u8],
}

/// Carries `envelope` to the first of `hops` that takes the transaction; one outcome per
/// recipient, in order. With no hop usable, every recipient is deferred with the last
/// hop's problem.
pub(crate) async fn transfer(
    hops: &[Hop],
    policy: TlsPolicy,
    settings: &TransferSettings,
    envelope: &Envelope<'_>,
) -> Vec<RecipientOutcome> {
    let mut last = Failure::local("4.4.4", "no server to deliver to".into(), None);
    for hop in hops {
        match attempt_hop(hop, policy, settings, envelope).await {
            Ok(outcomes) => return outcomes,
            Err(failure) => {
                tracing::info!(server = %hop.name, addr = %hop.addr, problem = %failure.detail, "delivery attempt moves to the next server");
                last = failure;
            }
        }
    }
    let last = last.temporary();
    envelope
        .recipients
        .iter()
        .map(|_| RecipientOutcome::Deferred(last.clone()))
        .collect()
}

/// Whether a connection is to be encrypted and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encryption {
    /// STARTTLS with a verified certificate, or fail.
    Verified,
    /// STARTTLS if offered, certificate unchecked.
    IfOffered,
    /// No STARTTLS: the retry after an opportunistic handshake failed.
    Plaintext,
}

/// One server: `Err` when it could not be used at all (next server, please); `Ok` once it
/// answered `MAIL FROM`, from when on its replies decide.
async fn attempt_hop(
    hop: &Hop,
    policy: TlsPolicy,
    settings: &TransferSettings,
    envelope: &Envelope<'_>,
) -> Result<Vec<RecipientOutcome>, Failure> {
    // Credentials travel only over a channel whose far end proved who it is.
    let first = if policy == TlsPolicy::Required || settings.credentials.is_some() {
        Encryption::Verified
    } else {
        Encryption::IfOffered
    };
    let mut conn = match open(hop, first, settings).await {
        Ok(conn) => conn,
        Err(OpenError::Tls(failure)) if first == Encryption::IfOffered => {
            // Like other MTAs, an opportunistic sender whose TLS handshake failed delivers in
            // plaintext rather than not at all.
            tracing::info!(server = %hop.name, problem = %failure.detail, "STARTTLS failed; delivering without TLS");
            open(hop, Encryption::Plaintext, settings)
                .await
                .map_err(OpenError::into_failure)?
        }
        Err(e) => return Err(e.into_failure()),
    };
    let outcomes = transaction(&mut conn, hop, settings, envelope).await;
    // A connection that broke mid-transaction is only dropped; a polite QUIT gets a short
    // wait, since the outcomes are already decided.
    if outcomes.is_ok() {
        let _ = tokio::time::timeout(QUIT_TIMEOUT, conn.quit()).await;
    }
    outcomes
}

enum OpenError {
    Tls(Failure),
    Other(Failure),
}

impl OpenError {
    fn into_failure(self) -> Failure {
        match self {
            OpenError::Tls(f) | OpenError::Other(f) => f,
        }
    }
}

/// Connects, reads the greeting, says EHLO, and goes through STARTTLS and AUTH as needed.
async fn open(
    hop: &Hop,
    encryption: Encryption,
    settings: &TransferSettings,
) -> Result<AsyncSmtpConnection, OpenError> {
    let hello = ClientId::Domain(settings.hello.clone());
    let mut conn = connect(hop, settings, &hello).await?;
    secure(&mut conn, hop, encryption, settings, &hello).await?;
    if let Some((user, password)) = &settings.credentials {
        let credentials = Credentials::new(user.clone(), password.clone());
        authenticate(&mut conn, hop, settings.command_timeout, &credentials).await?;
    }
    Ok(conn)
}

/// The TCP connection, the greeting and EHLO.
async fn connect(
    hop: &Hop,
    settings: &TransferSettings,
    hello: &ClientId,
) -> Result<AsyncSmtpConnection, OpenError> {
    let connecting = AsyncSmtpConnection::connect_tokio1(
        hop.addr,
        Some(settings.connect_timeout),
        hello,
        None,
        None,
    );
    let waited = settings.connect_timeout + settings.command_timeout;
    match tokio::time::timeout(waited, connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) if e.status().is_some() => Err(OpenError::Other(
            Failure::from_reply(&e, &hop.name).temporary(),
        )),
        Ok(Err(e)) => Err(OpenError::Other(Failure::local(
            "4.4.1",
            format!("cannot connect to {} ({}): {e}", hop.name, hop.addr),
            Some(&hop.name),
        ))),
        Err(_) => Err(OpenError::Other(timed_out(hop, "the greeting"))),
    }
}

/// STARTTLS as `encryption` asks. A connection whose upgrade failed must only be dropped:
/// lettre leaves it without a stream, so not even QUIT may be written to it.
async fn secure(
    conn: &mut AsyncSmtpConnection,
    hop: &Hop,
    encryption: Encryption,
    settings: &TransferSettings,
    hello: &ClientId,
) -> Result<(), OpenError> {
    match encryption {
        Encryption::Plaintext => return Ok(()),
        Encryption::IfOffered if !conn.can_starttls() => return Ok(()),
        Encryption::Verified if !conn.can_starttls() => {
            conn.abort().await;
            return Err(OpenError::Other(Failure::local(
                "4.7.4",
                format!(
                    "{} does not offer STARTTLS, and TLS is required for this delivery",
                    hop.name
                ),
                Some(&hop.name),
            )));
        }
        Encryption::Verified | Encryption::IfOffered => {}
    }
    let verify = encryption == Encryption::Verified;
    let upgraded = match tls_parameters(&hop.name, verify, &settings.extra_roots) {
        Ok(params) => {
            let starttls = conn.starttls(params, hello);
            match tokio::time::timeout(settings.command_timeout, starttls).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err("timed out".to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    };
    upgraded.map_err(|e| {
        OpenError::Tls(Failure::local(
            "4.7.5",
            format!("TLS with {} failed: {e}", hop.name),
            Some(&hop.name),
        ))
    })
}

/// AUTH with the smart host's credentials.
async fn authenticate(
    conn: &mut AsyncSmtpConnection,
    hop: &Hop,
    timeout: Duration,
    credentials: &Credentials,
) -> Result<(), OpenError> {
    let mechanisms = [Mechanism::Plain, Mechanism::Login];
    let failure = match tokio::time::timeout(timeout, conn.auth(&mechanisms, credentials)).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) if e.status().is_some() => Failure::from_reply(&e, &hop.name),
        Ok(Err(e)) => Failure::local(
            "4.7.8",
            format!("authentication with {} failed: {e}", hop.name),
            Some(&hop.name),
        ),
        Err(_) => timed_out(hop, "AUTH"),
    };
    conn.abort().await;
    // Refused credentials are this server's configuration to fix, not the recipients' fault:
    // the mail waits for it rather than bouncing.
    Err(OpenError::Other(failure.temporary()))
}

fn tls_parameters(
    name: &str,
    verify: bool,
    extra_roots: &[Certificate],
) -> Result<TlsParameters, SmtpError> {
    let mut builder = TlsParameters::builder(name.to_string());
    if verify {
        builder = builder.certificate_store(CertificateStore::WebpkiRoots);
        for root in extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
    } else {
        builder = builder
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    builder.build_rustls()
}

fn timed_out(hop: &Hop, waiting_for: &str) -> Failure {
    Failure::local(
        "4.4.2",
        format!("{} did not answer {waiting_for} in time", hop.name),
        Some(&hop.name),
    )
}

/// The reply to one command: `Ok` for a positive one, `Err(Reply)` for a negative one (the
/// server spoke), `Err(Broken)` when the connection failed or timed out.
enum CommandError {
    Reply(Failure),
    Broken(Failure),
}

async fn command<C: std::fmt::Display>(
    conn: &mut AsyncSmtpConnection,
    cmd: C,
    hop: &Hop,
    timeout: Duration,
    what: &str,
) -> Result<(), CommandError> {
    match tokio::time::timeout(timeout, conn.command(cmd)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.status().is_some() => {
            Err(CommandError::Reply(Failure::from_reply(&e, &hop.name)))
        }
        Ok(Err(e)) => Err(CommandError::Broken(Failure::local(
            "4.4.2",
            format!("connection to {} failed during {what}: {e}", hop.name),
            Some(&hop.name),
        ))),
        Err(_) => Err(CommandError::Broken(timed_out(hop, what))),
    }
}

/// MAIL, RCPT per recipient, DATA. `Err` only while nothing is decided yet (the next server
/// may do better); once the data went out, every outcome is final for this attempt.
async fn transaction(
    conn: &mut AsyncSmtpConnection,
    hop: &Hop,
    settings: &TransferSettings,
    envelope: &Envelope<'_>,
) -> Result<Vec<RecipientOutcome>, Failure> {
    let timeout = settings.command_timeout;
    if let Some(refused) = mail_from(conn, hop, timeout, envelope).await? {
        return Ok(vec![refused; envelope.recipients.len()]);
    }
    let mut outcomes = rcpt_each(conn, hop, timeout, envelope).await?;
    if outcomes.iter().any(Option::is_none) {
        let outcome = data(conn, hop, timeout, envelope.message).await?;
        for accepted in outcomes.iter_mut().filter(|o| o.is_none()) {
            *accepted = Some(outcome.clone());
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                RecipientOutcome::Deferred(Failure::local("4.0.0", "no outcome".into(), None))
            })
        })
        .collect())
}

/// MAIL FROM with the parameters the message needs. `Some` is the outcome of every recipient
/// when the sender cannot be sent or the server refused it.
async fn mail_from(
    conn: &mut AsyncSmtpConnection,
    hop: &Hop,
    timeout: Duration,
    envelope: &Envelope<'_>,
) -> Result<Option<RecipientOutcome>, Failure> {
    let sender = if envelope.sender.is_empty() {
        None
    } else {
        match envelope.sender.parse::<Address>() {
            Ok(address) => Some(address),
            Err(e) => {
                return Ok(Some(RecipientOutcome::Failed(Failure::local(
                    "5.1.7",
                    format!("the sender address {:?} is not valid: {e}", envelope.sender),
                    None,
                ))))
            }
        }
    };
    let parameters = match mail_parameters(conn.server_info(), hop, envelope) {
        Ok(parameters) => parameters,
        Err(failure) => return Ok(Some(RecipientOutcome::Failed(failure))),
    };
    let mail = Mail::new(sender, parameters);
    match command(conn, mail, hop, timeout, "MAIL FROM").await {
        Ok(()) => Ok(None),
        Err(CommandError::Reply(failure)) => Ok(Some(RecipientOutcome::from_failure(failure))),
        Err(CommandError::Broken(failure)) => Err(failure),
    }
}

/// BODY=8BITMIME and SMTPUTF8 as the message and the server call for; `Err` when the
/// addresses need SMTPUTF8 and the server lacks it.
fn mail_parameters(
    server: &ServerInfo,
    hop: &Hop,
    envelope: &Envelope<'_>,
) -> Result<Vec<MailParameter>, Failure> {
    let mut parameters = Vec::new();
    // RFC 6152: 8-bit data goes only to servers that announce 8BITMIME; to others it is
    // sent as it is, which is what servers without the extension receive in practice.
    if !envelope.message.is_ascii() && server.supports_feature(Extension::EightBitMime) {
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let international =
        !envelope.sender.is_ascii() || envelope.recipients.iter().any(|r| !r.is_ascii());
    if international {
        if !server.supports_feature(Extension::SmtpUtfEight) {
            // RFC 6531 §3.5: an address that needs SMTPUTF8 cannot go to a server without it.
            return Err(Failure::local(
                "5.6.7",
                format!(
                    "{} does not accept internationalized addresses (SMTPUTF8)",
                    hop.name
                ),
                Some(&hop.name),
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    Ok(parameters)
}

/// RCPT TO for each recipient: the outcome of each the server refused (or that is not an
/// address), `None` for each it accepted.
async fn rcpt_each(
    conn: &mut AsyncSmtpConnection,
    hop: &Hop,
    timeout: Duration,
    envelope: &Envelope<'_>,
) -> Result<Vec<Option<RecipientOutcome>>, Failure> {
    let mut outcomes = Vec::with_capacity(envelope.recipients.len());
    for recipient in envelope.recipients {
        let address = match recipient.parse::<Address>() {
            Ok(address) => address,
            Err(e) => {
                outcomes.push(Some(RecipientOutcome::Failed(Failure::local(
                    "5.1.3",
                    format!("the recipient address {recipient:?} is not valid: {e}"),
                    None,
                ))));
                continue;
            }
        };
        let rcpt = Rcpt::new(address, Vec::new());
        outcomes.push(match command(conn, rcpt, hop, timeout, "RCPT TO").await {
            Ok(()) => None,
            Err(CommandError::Reply(failure)) => Some(RecipientOutcome::from_failure(failure)),
            Err(CommandError::Broken(failure)) => return Err(failure),
        });
    }
    Ok(outcomes)
}

/// DATA and the message: the outcome of every recipient the server accepted.
async fn data(
    conn: &mut AsyncSmtpConnection,
    hop: &Hop,
    timeout: Duration,
    message: &[u8],
) -> Result<RecipientOutcome, Failure> {
    match command(conn, Data, hop, timeout, "DATA").await {
        Ok(()) => {}
        Err(CommandError::Reply(failure)) => return Ok(RecipientOutcome::from_failure(failure)),
        Err(CommandError::Broken(failure)) => return Err(failure),
    }
    // RFC 5321 §4.1.1.4: the data ends with CRLF.CRLF whose first CRLF ends its last line;
    // lettre sends CRLF.CRLF after the bytes, so a message that already ends with CRLF goes
    // without it to arrive byte for byte.
    let body = message.strip_suffix(b"\r\n").unwrap_or(message);
    // RFC 5321 §4.5.3.2.6: up to 10 minutes for the reply after the data.
    let after_data = timeout.max(Duration::from_secs(600));
    Ok(
        match tokio::time::timeout(after_data, conn.message(body)).await {
            Ok(Ok(_)) => RecipientOutcome::Delivered {
                remote: hop.name.clone(),
            },
            Ok(Err(e)) if e.status().is_some() => {
                RecipientOutcome::from_failure(Failure::from_reply(&e, &hop.name))
            }
            Ok(Err(e)) => RecipientOutcome::Deferred(Failure::local(
                "4.4.2",
                format!(
                    "connection to {} failed after the message data: {e}",
                    hop.name
                ),
                Some(&hop.name),
            )),
            Err(_) => RecipientOutcome::Deferred(timed_out(hop, "the message data")),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::enhanced_status;

    #[test]
    fn enhanced_codes_come_from_the_reply_text_or_its_class() {
        assert_eq!(enhanced_status("550", "5.1.1 No such user"), "5.1.1");
        assert_eq!(enhanced_status("452", "4.2.2 Mailbox full"), "4.2.2");
        assert_eq!(enhanced_status("550", "No such user"), "5.0.0");
        assert_eq!(enhanced_status("451", ""), "4.0.0");
        // A code of the wrong class is not believed.
        assert_eq!(enhanced_status("550", "4.1.1 odd"), "5.0.0");
        assert_eq!(enhanced_status("554", "5.7.1234 too long"), "5.0.0");
    }
}
