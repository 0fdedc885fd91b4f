//! The old server: where it is (`imaps://` or `imap://` with STARTTLS), how to sign in to it
//! (the account's password, or an administrator's master credentials), and the few commands
//! a migration sends. Every command is read to its tagged completion here, so a NO or BAD is
//! never mistaken for an empty answer, and every byte read passes the response guard.
//! What the source answers is translated to congvu's terms (flags, dates) here and nowhere
//! else.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_imap::imap_proto::{
    AttributeValue, Capability, MailboxDatum, NameAttribute, Response, ResponseCode, Status,
};
use async_imap::{Client, Session};
use congvu::clock::UnixTime;
use congvu::mailstore::{MailboxRole, MessageFlags};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::guard::{Guarded, ResponseLimits, Violation, ViolationSlot};

/// How long connecting, TLS and the greeting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the source may stay silent while an answer is awaited.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// LIST and LSUB answers read at most: past this the listing is taken to loop.
const MAX_LISTED: usize = 20_000;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `imaps://`: TLS from the first byte.
    Tls,
    /// `imap://`: STARTTLS before anything else, refused if the source does not offer it.
    StartTls,
    /// `imap://` with `--insecure-plain`, for a source on this machine only.
    Plain,
}

/// Where the old server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAddress {
    /// The host as written, lowercase: also what names the source in the migration records.
    pub host: String,
    pub port: u16,
    pub security: Security,
}

impl SourceAddress {
    /// Reads `--source`; an error says what is wrong with it.
    pub fn parse(source: &str, insecure_plain: bool) -> Result<SourceAddress, String> {
        let url = url::Url::parse(source).map_err(|e| {
            format!("--source {source}: {e}; write it as imaps://host:993 or imap://host:143")
        })?;
        let (security, default_port) = match (url.scheme(), insecure_plain) {
            ("imaps", false) => (Security::Tls, 993),
            ("imap", false) => (Security::StartTls, 143),
            ("imap", true) => (Security::Plain, 143),
            ("imaps", true) => {
                return Err("--insecure-plain applies to imap:// sources only".into());
            }
            (other, _) => {
                return Err(format!(
                    "--source {source}: the scheme must be imaps:// or imap://, not {other}://"
                ))
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "--source {source}: put no credentials in the URL; they come from --accounts"
            ));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(format!(
                "--source {source}: only a host and a port are expected"
            ));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("--source {source}: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if security == Security::Plain && !is_loopback(&host) {
            return Err(format!(
                "--insecure-plain sends passwords unencrypted: it is allowed only for a source on \
                 this machine (127.0.0.1, ::1, localhost), not {host}; use imaps:// or imap:// \
                 with STARTTLS"
            ));
        }
        Ok(SourceAddress {
            host,
            port: url.port().unwrap_or(default_port),
            security,
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Trusted roots: the public ones, and the CAs of `ca_file` (PEM) for a private CA.
pub fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let shown = path.display();
        let certificates =
            CertificateDer::pem_file_iter(path).map_err(|e| format!("--ca-file {shown}: {e}"))?;
        let mut added = 0;
        for certificate in certificates {
            let certificate = certificate.map_err(|e| format!("--ca-file {shown}: {e}"))?;
            roots
                .add(certificate)
                .map_err(|e| format!("--ca-file {shown}: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "--ca-file {shown}: no certificate in it; give the CA certificate in PEM form"
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// How to sign in for one account.
#[derive(Clone)]
pub enum Credentials {
    /// The account's own password (LOGIN).
    Password { user: String, password: String },
    /// SASL PLAIN with the account as authorization identity and the administrator as
    /// authentication identity (Zimbra, Exchange, Cyrus, Dovecot with `master = yes`).
    MasterAuthzid {
        user: String,
        master: String,
        password: String,
    },
    /// Dovecot's master login: LOGIN `user*master` with the master password.
    MasterDovecot {
        user: String,
        master: String,
        password: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        match self {
            Credentials::Password { user, .. } => write!(f, "Password({user})"),
            Credentials::MasterAuthzid { user, master, .. } => {
                write!(f, "MasterAuthzid({user} by {master})")
            }
            Credentials::MasterDovecot { user, master, .. } => {
                write!(f, "MasterDovecot({user}*{master})")
            }
        }
    }
}

/// SASL PLAIN (RFC 4616): authzid NUL authcid NUL password.
struct Plain<'a> {
    authzid: &'a str,
    authcid: &'a str,
    password: &'a str,
}

impl async_imap::Authenticator for Plain<'_> {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        [self.authzid, self.authcid, self.password]
            .join("\0")
            .into_bytes()
    }
}

/// Why talking to the source failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The source could not be reached (worth trying again).
    Connect(String),
    /// The connection is not trustworthy (certificate, no STARTTLS): not worth trying again.
    Insecure(String),
    /// The connection broke (worth reconnecting).
    Lost(String),
    /// The source answered something that is not IMAP, or listed folders without end.
    Protocol(String),
    /// The source refused to sign in.
    Login(String),
    /// The source answered NO or BAD.
    Refused { command: String, text: String },
    /// A response broke a limit; the connection was closed.
    Limit(Violation),
}

impl SourceError {
    /// Whether reconnecting may help.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Connect(_) | SourceError::Lost(_) => true,
            SourceError::Limit(v) => matches!(v, Violation::Silent { .. }),
            _ => false,
        }
    }

    /// Whether the session it came from can take further commands.
    fn leaves_session_usable(&self) -> bool {
        matches!(self, SourceError::Refused { .. })
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Connect(e) => write!(f, "cannot reach the source: {e}"),
            SourceError::Insecure(e) => f.write_str(e),
            SourceError::Lost(e) => write!(f, "the connection to the source broke: {e}"),
            SourceError::Protocol(e) => f.write_str(e),
            SourceError::Login(e) => write!(
                f,
                "the source refused the sign-in ({e}); check source_user and the password"
            ),
            SourceError::Refused { command, text } => {
                write!(f, "the source refused {command}: {text}")
            }
            SourceError::Limit(v) => v.fmt(f),
        }
    }
}

/// A readable excerpt of an error that may quote raw protocol bytes.
fn excerpt(text: &str) -> String {
    const SHOWN: usize = 200;
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match clean.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean,
    }
}

/// What the source said in a NO or BAD that async-imap reports as `code: …, info: Some("…")`.
fn server_words(text: &str) -> String {
    let said = text
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map(|(words, _)| words.replace("\\\"", "\"").replace("\\\\", "\\"));
    excerpt(said.as_deref().unwrap_or(text))
}

/// Anything the IMAP client can run over: TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}
type Transport = Box<dyn Io>;
type Connection = Guarded<Transport>;

/// Opens signed-in sessions to the source.
#[derive(Clone)]
pub struct Connector {
    address: SourceAddress,
    tls: TlsConnector,
    limits: ResponseLimits,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("address", &self.address)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Connector {
    pub fn new(address: SourceAddress, tls: TlsConnector, limits: ResponseLimits) -> Connector {
        Connector {
            address,
            tls,
            limits,
        }
    }

    /// A session signed in with `credentials`.
    pub async fn open(&self, credentials: &Credentials) -> Result<SourceSession, SourceError> {
        let (client, violation) = tokio::time::timeout(CONNECT_TIMEOUT, self.start())
            .await
            .map_err(|_| {
                SourceError::Connect(format!(
                    "no IMAP greeting within {} seconds",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })??;
        let session = sign_in(client, credentials, &violation).await?;
        let mut session = SourceSession {
            session,
            violation,
            capabilities: Vec::new(),
            broken: false,
        };
        session.capabilities = session.read_capabilities().await?;
        Ok(session)
    }

    /// Connects and secures the connection; returns the client after the greeting.
    async fn start(&self) -> Result<(Client<Connection>, ViolationSlot), SourceError> {
        let address = (self.address.host.as_str(), self.address.port);
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| SourceError::Connect(format!("{}:{}: {e}", address.0, address.1)))?;
        let _ = tcp.set_nodelay(true);
        let tcp: Transport = Box::new(tcp);
        match self.address.security {
            Security::Plain => self.greeted(tcp).await,
            Security::Tls => self.greeted(self.secure(tcp).await?).await,
            Security::StartTls => {
                let (mut client, violation) = self.greeted(tcp).await?;
                // RFC 3501 §6.2.1: nothing but STARTTLS before TLS; a source that refuses it
                // is refused in turn rather than sent a password in the clear.
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| {
                        let why = match e {
                            async_imap::error::Error::Io(e) => lost(&violation, e),
                            async_imap::error::Error::No(text)
                            | async_imap::error::Error::Bad(text) => {
                                SourceError::Insecure(format!(
                                    "the source did not accept STARTTLS ({}); use imaps:// or \
                                     a source that offers STARTTLS",
                                    server_words(&text)
                                ))
                            }
                            other => SourceError::Lost(excerpt(&other.to_string())),
                        };
                        why
                    })?;
                // Whatever the source sent behind its OK in the clear is dropped with the
                // client's buffer (the STARTTLS command-injection family, CVE-2011-0411).
                let plain = client.into_inner().into_inner();
                let tls = self.secure(plain).await?;
                let (guarded, violation) = Guarded::new(tls, self.limits, IDLE_TIMEOUT);
                Ok((Client::new(guarded), violation))
            }
        }
    }

    async fn secure(&self, stream: Transport) -> Result<Transport, SourceError> {
        let name = ServerName::try_from(self.address.host.clone()).map_err(|e| {
            SourceError::Insecure(format!(
                "{} is not a valid TLS name: {e}",
                self.address.host
            ))
        })?;
        let tls = self.tls.connect(name, stream).await.map_err(|e| {
            SourceError::Insecure(format!(
                "TLS with {} failed: {e}; for a private CA give --ca-file",
                self.address.host
            ))
        })?;
        Ok(Box::new(tls))
    }

    async fn greeted(
        &self,
        stream: Transport,
    ) -> Result<(Client<Connection>, ViolationSlot), SourceError> {
        let (guarded, violation) = Guarded::new(stream, self.limits, IDLE_TIMEOUT);
        let mut client = Client::new(guarded);
        let greeting = client
            .read_response()
            .await
            .map_err(|e| lost(&violation, e))?
            .ok_or_else(|| SourceError::Lost("the source closed before its greeting".into()))?;
        match greeting.parsed() {
            Response::Data {
                status: Status::Ok, ..
            } => Ok((client, violation)),
            Response::Data { status, outcome } => Err(SourceError::Connect(format!(
                "the source greeted with {status:?}: {}",
                excerpt(outcome.information.as_deref().unwrap_or(""))
            ))),
            _ => Err(SourceError::Lost(
                "the source's greeting is not an IMAP greeting".into(),
            )),
        }
    }
}

/// The error for a broken read: the guard's reason when it cut the connection.
fn lost(violation: &ViolationSlot, error: std::io::Error) -> SourceError {
    if let Some(v) = violation.lock().ok().and_then(|mut v| v.take()) {
        return SourceError::Limit(v);
    }
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        return SourceError::Lost("the source closed it in the middle of an answer".into());
    }
    // async-imap's words for an answer its parser cannot read.
    let text = error.to_string();
    match text.split_once(" during parsing of ") {
        Some((_, answer)) => SourceError::Protocol(format!(
            "the source answered something that is not IMAP: {}",
            excerpt(answer)
        )),
        None => SourceError::Lost(excerpt(&text)),
    }
}

async fn sign_in(
    client: Client<Connection>,
    credentials: &Credentials,
    violation: &ViolationSlot,
) -> Result<Session<Connection>, SourceError> {
    let result = match credentials {
        Credentials::Password { user, password } => client.login(user, password).await,
        Credentials::MasterDovecot {
            user,
            master,
            password,
        } => client.login(format!("{user}*{master}"), password).await,
        Credentials::MasterAuthzid {
            user,
            master,
            password,
        } => {
            let plain = Plain {
                authzid: user,
                authcid: master,
                password,
            };
            client.authenticate("PLAIN", plain).await
        }
    };
    result.map_err(|(error, _)| match error {
        async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
            SourceError::Login(server_words(&text))
        }
        async_imap::error::Error::Io(e) => lost(violation, e),
        async_imap::error::Error::Validate(e) => SourceError::Login(format!(
            "a user name or password holds a character IMAP cannot carry ({e})"
        )),
        other => SourceError::Lost(excerpt(&other.to_string())),
    })
}

/// A flag on a listed folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderAttribute {
    /// `\Noselect` or `\NonExistent`: a name in the hierarchy without messages.
    NoSelect,
    /// A special use (RFC 6154) congvu has a folder for.
    Special(MailboxRole),
    /// `\All` or `\Flagged`: a virtual folder showing messages that live elsewhere.
    Virtual,
    /// `\Subscribed` (LIST-EXTENDED).
    Subscribed,
}

/// A folder as the source lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFolder {
    /// The name on the wire (modified UTF-7), as sent back in EXAMINE.
    pub wire: String,
    pub delimiter: Option<String>,
    pub attributes: Vec<FolderAttribute>,
}

/// What LIST and LSUB said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub folders: Vec<ListedFolder>,
    /// Wire names the account is subscribed to.
    pub subscribed: Vec<String>,
}

/// A selected folder's identity and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Examined {
    pub uidvalidity: u32,
    pub exists: u32,
}

/// One message as listed by FETCH (UID FLAGS INTERNALDATE RFC822.SIZE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub uid: u32,
    /// System flags, `\Deleted` included.
    pub flags: MessageFlags,
    pub keywords: Vec<String>,
    pub internal_date: Option<UnixTime>,
    pub size: u32,
}

/// A signed-in session.
#[derive(Debug)]
pub struct SourceSession {
    session: Session<Connection>,
    violation: ViolationSlot,
    /// Capabilities, uppercase.
    capabilities: Vec<String>,
    broken: bool,
}

impl SourceSession {
    /// Whether the connection is known to be unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// Sends `command` and reads its answers until its tagged completion, handing each
    /// untagged one to `on_data`. Any failure but a NO or BAD leaves the session broken.
    async fn command(
        &mut self,
        command: &str,
        mut on_data: impl FnMut(&Response<'_>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        if self.broken {
            return Err(SourceError::Lost("the connection was closed".into()));
        }
        let result = self.exchange(command, &mut on_data).await;
        if let Err(e) = &result {
            self.broken |= !e.leaves_session_usable();
        }
        result
    }

    async fn exchange(
        &mut self,
        command: &str,
        on_data: &mut impl FnMut(&Response<'_>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let id = self
            .session
            .run_command(command)
            .await
            .map_err(|e| SourceError::Lost(excerpt(&e.to_string())))?;
        loop {
            let response = match self.session.read_response().await {
                Ok(Some(response)) => response,
                Ok(None) => {
                    return Err(SourceError::Lost("the source closed the connection".into()))
                }
                Err(e) => return Err(lost(&self.violation, e)),
            };
            match response.parsed() {
                Response::Done {
                    tag,
                    status,
                    outcome,
                } if *tag == id => {
                    return match status {
                        Status::Ok => Ok(()),
                        _ => Err(SourceError::Refused {
                            command: excerpt(command.split(" (").next().unwrap_or(command)),
                            text: excerpt(outcome.information.as_deref().unwrap_or("")),
                        }),
                    };
                }
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    return Err(SourceError::Lost(format!(
                        "the source said goodbye: {}",
                        excerpt(outcome.information.as_deref().unwrap_or(""))
                    )))
                }
                other => on_data(other)?,
            }
        }
    }

    async fn read_capabilities(&mut self) -> Result<Vec<String>, SourceError> {
        let mut capabilities = Vec::new();
        self.command("CAPABILITY", |response| {
            if let Response::Capabilities(list) = response {
                capabilities.extend(list.iter().filter_map(|c| match c {
                    Capability::Atom(atom) => Some(atom.to_ascii_uppercase()),
                    _ => None,
                }));
            }
            Ok(())
        })
        .await?;
        Ok(capabilities)
    }

    /// Every folder and subscription. Special-use attributes come with LIST on most servers;
    /// a server that announces SPECIAL-USE but leaves them out is asked for them (RFC 6154 §3).
    pub async fn list(&mut self) -> Result<Listing, SourceError> {
        let mut listing = Listing {
            folders: self.list_command("LIST \"\" \"*\"").await?,
            subscribed: Vec::new(),
        };
        let any_special = listing.folders.iter().any(|f| {
            f.attributes
                .iter()
                .any(|a| matches!(a, FolderAttribute::Special(_)))
        });
        if !any_special && self.has("SPECIAL-USE") && self.has("LIST-EXTENDED") {
            let special = self.list_command("LIST (SPECIAL-USE) \"\" \"*\"").await?;
            for folder in special {
                if let Some(known) = listing.folders.iter_mut().find(|f| f.wire == folder.wire) {
                    known.attributes.extend(folder.attributes);
                }
            }
        }
        listing.subscribed = self
            .list_command("LSUB \"\" \"*\"")
            .await?
            .into_iter()
            .map(|f| f.wire)
            .collect();
        Ok(listing)
    }

    async fn list_command(&mut self, command: &str) -> Result<Vec<ListedFolder>, SourceError> {
        let mut folders = Vec::new();
        self.command(command, |response| {
            if let Response::MailboxData(MailboxDatum::List(data)) = response {
                if folders.len() >= MAX_LISTED {
                    return Err(SourceError::Protocol(format!(
                        "the source listed more than {MAX_LISTED} folders; its folders seem to \
                         loop"
                    )));
                }
                folders.push(ListedFolder {
                    wire: data.name.to_string(),
                    delimiter: data.delimiter.as_ref().map(|d| d.to_string()),
                    attributes: data.name_attributes.iter().filter_map(attribute).collect(),
                });
            }
            Ok(())
        })
        .await?;
        Ok(folders)
    }

    /// Selects `wire` read-only (nothing on the source changes, not even `\Recent`).
    pub async fn examine(&mut self, wire: &str) -> Result<Examined, SourceError> {
        let mut uidvalidity = None;
        let mut exists = 0;
        self.command(&format!("EXAMINE {}", quoted(wire)), |response| {
            match response {
                Response::Data {
                    status: Status::Ok,
                    outcome,
                } => {
                    if let Some(ResponseCode::UidValidity(v)) = &outcome.code {
                        uidvalidity = Some(*v);
                    }
                }
                Response::MailboxData(MailboxDatum::Exists(n)) => exists = *n,
                _ => {}
            }
            Ok(())
        })
        .await?;
        let uidvalidity = uidvalidity.ok_or_else(|| SourceError::Refused {
            command: format!("EXAMINE {}", quoted(wire)),
            text: "no UIDVALIDITY in the answer (RFC 3501 §6.3.1 requires one)".into(),
        })?;
        Ok(Examined {
            uidvalidity,
            exists,
        })
    }

    /// UID, flags, internal date and size of the messages numbered `first..=last`.
    pub async fn message_infos(
        &mut self,
        first: u32,
        last: u32,
    ) -> Result<Vec<MessageInfo>, SourceError> {
        let mut infos = Vec::new();
        let command = format!("FETCH {first}:{last} (UID FLAGS INTERNALDATE RFC822.SIZE)");
        self.command(&command, |response| {
            if let Response::Fetch(_, attributes) = response {
                infos.extend(message_info(attributes));
            }
            Ok(())
        })
        .await?;
        infos.sort_by_key(|i| i.uid);
        infos.dedup_by_key(|i| i.uid);
        Ok(infos)
    }

    /// The bytes of the messages with `uids`, without setting `\Seen` (BODY.PEEK[]).
    /// A message the source does not return (expunged meanwhile) is left out.
    pub async fn bodies(&mut self, uids: &[u32]) -> Result<HashMap<u32, Vec<u8>>, SourceError> {
        let mut bodies = HashMap::with_capacity(uids.len());
        let command = format!("UID FETCH {} (UID BODY.PEEK[])", uid_set(uids));
        self.command(&command, |response| {
            if let Response::Fetch(_, attributes) = response {
                let mut uid = None;
                let mut body = None;
                for attribute in attributes {
                    match attribute {
                        AttributeValue::Uid(u) => uid = Some(*u),
                        AttributeValue::BodySection {
                            section: None,
                            data: Some(data),
                            ..
                        }
                        | AttributeValue::Rfc822(Some(data)) => body = Some(data),
                        _ => {}
                    }
                }
                if let (Some(uid), Some(body)) = (uid, body) {
                    if uids.contains(&uid) {
                        bodies.insert(uid, body.to_vec());
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(bodies)
    }

    /// Signs out politely; a source that does not answer is left behind.
    pub async fn logout(mut self) {
        if !self.broken {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.session.logout()).await;
        }
    }
}

fn attribute(attribute: &NameAttribute<'_>) -> Option<FolderAttribute> {
    Some(match attribute {
        NameAttribute::NoSelect => FolderAttribute::NoSelect,
        NameAttribute::Sent => FolderAttribute::Special(MailboxRole::Sent),
        NameAttribute::Drafts => FolderAttribute::Special(MailboxRole::Drafts),
        NameAttribute::Trash => FolderAttribute::Special(MailboxRole::Trash),
        NameAttribute::Junk => FolderAttribute::Special(MailboxRole::Junk),
        NameAttribute::Archive => FolderAttribute::Special(MailboxRole::Archive),
        NameAttribute::All | NameAttribute::Flagged => FolderAttribute::Virtual,
        NameAttribute::Extension(name) => {
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "\\nonexistent" => FolderAttribute::NoSelect,
                "\\subscribed" => FolderAttribute::Subscribed,
                // Older Exchange and Gmail spellings.
                "\\spam" => FolderAttribute::Special(MailboxRole::Junk),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// Reads one FETCH response; `None` without the UID or the size.
fn message_info(attributes: &[AttributeValue<'_>]) -> Option<MessageInfo> {
    let mut uid = None;
    let mut size = None;
    let mut flags = MessageFlags::default();
    let mut keywords = Vec::new();
    let mut internal_date = None;
    for attribute in attributes {
        match attribute {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::Rfc822Size(s) => size = Some(*s),
            AttributeValue::InternalDate(date) => internal_date = parse_internal_date(date),
            AttributeValue::Flags(list) => {
                for flag in list {
                    match system_flag(flag) {
                        Some(f) => flags = flags.with(f),
                        // `\Recent` and unknown system flags are the source's own business.
                        None if flag.starts_with('\\') => {}
                        None => keywords.push(flag.to_string()),
                    }
                }
            }
            _ => {}
        }
    }
    Some(MessageInfo {
        uid: uid?,
        flags,
        keywords,
        internal_date,
        size: size?,
    })
}

fn system_flag(flag: &str) -> Option<MessageFlags> {
    let flag = flag.to_ascii_lowercase();
    Some(match flag.as_str() {
        "\\seen" => MessageFlags::SEEN,
        "\\answered" => MessageFlags::ANSWERED,
        "\\flagged" => MessageFlags::FLAGGED,
        "\\deleted" => MessageFlags::DELETED,
        "\\draft" => MessageFlags::DRAFT,
        _ => return None,
    })
}

/// RFC 3501 `date-time`: `"17-Jul-1996 02:44:25 -0700"` (the day may be space-padded).
pub fn parse_internal_date(text: &str) -> Option<UnixTime> {
    chrono::DateTime::parse_from_str(text.trim(), "%d-%b-%Y %H:%M:%S %z")
        .ok()
        .map(|t| UnixTime(t.timestamp()))
}

/// A mailbox name as an IMAP quoted string.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `uids` (ascending) as a sequence set, runs written as ranges: `3:5,9`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut set = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !set.is_empty() {
            set.push(',');
        }
        if start == end {
            set.push_str(&start.to_string());
        } else {
            set.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    set
}

#[cfg(test)]
mod tests;
