//! A receiving SMTP server for tests: it listens on `127.0.0.1:0`, answers what a test
//! scripts (per stage, per recipient, for the first N times or always), can offer STARTTLS
//! with a generated certificate and AUTH PLAIN, and records every transaction: envelope,
//! data bytes, whether it ran over TLS and who authenticated.
//!
//! Commands are parsed with smtp-proto; DATA is read line by line and un-dot-stuffed
//! (RFC 5321 §4.5.2). It accepts anything well-formed by default, as a relay would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use smtp_proto::{Request, AUTH_LOGIN, AUTH_PLAIN};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A point in the SMTP dialogue where a test may choose the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The greeting on connect (a 4xx or 5xx here closes the connection).
    Greeting,
    /// `MAIL FROM`.
    Mail,
    /// `RCPT TO` (optionally for one recipient).
    Rcpt,
    /// The `DATA` command itself (354 by default).
    Data,
    /// The reply after the message data.
    Message,
}

/// A scripted reply.
#[derive(Debug, Clone)]
struct Rule {
    stage: Stage,
    /// For `Rcpt`: only this recipient (lowercase).
    recipient: Option<String>,
    /// How many more times this rule applies; `None` is always.
    remaining: Option<usize>,
    reply: String,
}

/// One transaction that reached the end of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The reverse path as given (`""` for `<>`).
    pub mail_from: String,
    /// The recipients the sink accepted, in order.
    pub rcpt_to: Vec<String>,
    /// The message as received, un-dot-stuffed, including its final CRLF.
    pub data: Vec<u8>,
    /// Whether the session had switched to TLS.
    pub tls: bool,
    /// The user name of a successful AUTH.
    pub auth: Option<String>,
    /// The reply the sink gave after the data.
    pub reply: String,
}

#[derive(Debug, Default)]
struct Recorded {
    connections: usize,
    /// Every `RCPT TO` address received, accepted or not, in order.
    rcpt_attempts: Vec<String>,
    transactions: Vec<Transaction>,
}

/// How a sink behaves.
#[derive(Debug, Clone, Default)]
pub struct SinkBuilder {
    starttls: bool,
    credentials: Option<(String, String)>,
    rules: Vec<Rule>,
}

impl SinkBuilder {
    /// Offer STARTTLS with a self-signed certificate for `127.0.0.1` and `localhost`.
    pub fn starttls(mut self) -> Self {
        self.starttls = true;
        self
    }

    /// Offer AUTH PLAIN and LOGIN, accepting only these credentials.
    pub fn auth(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Answer `reply` (e.g. `"451 4.3.0 Try again later"`) at `stage` every time.
    pub fn reply(self, stage: Stage, reply: &str) -> Self {
        self.rule(stage, None, None, reply)
    }

    /// Answer `reply` at `stage` the first `times` times, then as before.
    pub fn reply_times(self, stage: Stage, times: usize, reply: &str) -> Self {
        self.rule(stage, None, Some(times), reply)
    }

    /// Answer `reply` to `RCPT TO:<recipient>` every time.
    pub fn rcpt_reply(self, recipient: &str, reply: &str) -> Self {
        self.rule(Stage::Rcpt, Some(recipient), None, reply)
    }

    /// Answer `reply` to `RCPT TO:<recipient>` the first `times` times.
    pub fn rcpt_reply_times(self, recipient: &str, times: usize, reply: &str) -> Self {
        self.rule(Stage::Rcpt, Some(recipient), Some(times), reply)
    }

    fn rule(
        mut self,
        stage: Stage,
        recipient: Option<&str>,
        remaining: Option<usize>,
        reply: &str,
    ) -> Self {
        self.rules.push(Rule {
            stage,
            recipient: recipient.map(str::to_ascii_lowercase),
            remaining,
            reply: reply.into(),
        });
        self
    }

    /// Binds `127.0.0.1:0` and starts answering.
    pub async fn start(self) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        let cert_pem = certified.cert.pem();
        let tls = if self.starttls {
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![certified.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into()),
            )
            .unwrap();
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
        } else {
            None
        };
        let shared = Arc::new(Shared {
            rules: Mutex::new(self.rules),
            recorded: Mutex::new(Recorded::default()),
            credentials: self.credentials,
            tls,
        });
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                // An accept error (a connection reset before it was taken, no file handle
                // free for a moment) concerns one connection, not the listener.
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::task::yield_now().await;
                    continue;
                };
                let shared = Arc::clone(&accepting);
                tokio::spawn(async move { shared.serve(stream).await });
            }
        });
        SmtpSink {
            addr,
            cert_pem,
            shared,
            task,
        }
    }
}

/// A running sink; it stops when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    cert_pem: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    /// A sink that accepts everything, without STARTTLS or AUTH.
    pub fn builder() -> SinkBuilder {
        SinkBuilder::default()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, as `[queue] smart_host` takes it.
    pub fn smart_host(&self) -> String {
        self.addr.to_string()
    }

    /// Its certificate (PEM), for a client that is to trust it.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Every transaction that reached the end of its data, in order.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.shared.recorded.lock().unwrap().transactions.clone()
    }

    /// Every `RCPT TO` address received, accepted or refused, in order.
    pub fn rcpt_attempts(&self) -> Vec<String> {
        self.shared.recorded.lock().unwrap().rcpt_attempts.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.recorded.lock().unwrap().connections
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    rules: Mutex<Vec<Rule>>,
    recorded: Mutex<Recorded>,
    credentials: Option<(String, String)>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("rules", &self.rules)
            .field("recorded", &self.recorded)
            .field("starttls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// How a session on one stream ended.
enum Ended {
    Closed,
    /// The client asked for STARTTLS and was told to go ahead.
    StartTls,
}

/// Session state that survives the switch to TLS (RFC 3207 §4.2 resets the rest).
#[derive(Default)]
struct Session {
    tls: bool,
    auth: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl Shared {
    /// The scripted reply for `stage` (and `recipient`), if a rule still applies.
    fn scripted(&self, stage: Stage, recipient: Option<&str>) -> Option<String> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|r| {
            r.stage == stage
                && r.remaining != Some(0)
                && (r.recipient.is_none() || r.recipient.as_deref() == recipient)
        })?;
        if let Some(n) = &mut rule.remaining {
            *n -= 1;
        }
        Some(rule.reply.clone())
    }

    async fn serve(self: Arc<Self>, mut stream: TcpStream) {
        self.recorded.lock().unwrap().connections += 1;
        let greeting = self
            .scripted(Stage::Greeting, None)
            .unwrap_or_else(|| "220 sink.test ESMTP".into());
        if write(&mut stream, &greeting).await.is_err() || !greeting.starts_with('2') {
            return;
        }
        let mut session = Session::default();
        let (ended, stream) = self.session(stream, &mut session).await;
        if let (Ended::StartTls, Some(stream), Some(acceptor)) = (ended, stream, &self.tls) {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let mut session = Session {
                tls: true,
                ..Session::default()
            };
            let _ = self.session(tls, &mut session).await;
        }
    }

    /// Serves commands until QUIT, a closed connection or STARTTLS; on STARTTLS returns
    /// the plain stream (any bytes the client sent after STARTTLS are discarded).
    async fn session<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        session: &mut Session,
    ) -> (Ended, Option<S>) {
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return (Ended::Closed, None),
                Ok(_) => {}
            }
            let reply = match Request::parse(&mut line.iter()) {
                Ok(Request::Ehlo { .. }) | Ok(Request::Helo { .. }) => {
                    session.mail_from = None;
                    session.rcpt_to.clear();
                    self.ehlo_reply(session.tls)
                }
                Ok(Request::StartTls) if self.tls.is_some() && !session.tls => {
                    if write(reader.get_mut(), "220 2.0.0 Ready to start TLS")
                        .await
                        .is_err()
                    {
                        return (Ended::Closed, None);
                    }
                    return (Ended::StartTls, Some(reader.into_inner()));
                }
                Ok(Request::Auth {
                    mechanism,
                    initial_response,
                }) => {
                    let initial = initial_response.to_string();
                    self.auth(&mut reader, session, mechanism, initial).await
                }
                Ok(Request::Mail { from }) => {
                    let reply = self
                        .scripted(Stage::Mail, None)
                        .unwrap_or_else(|| "250 2.1.0 Ok".into());
                    if reply.starts_with('2') {
                        session.mail_from = Some(from.address.to_string());
                        session.rcpt_to.clear();
                    }
                    reply
                }
                Ok(Request::Rcpt { to }) => {
                    let address = to.address.to_string();
                    self.recorded
                        .lock()
                        .unwrap()
                        .rcpt_attempts
                        .push(address.clone());
                    let reply = if session.mail_from.is_none() {
                        "503 5.5.1 MAIL first".to_string()
                    } else {
                        self.scripted(Stage::Rcpt, Some(&address.to_ascii_lowercase()))
                            .unwrap_or_else(|| "250 2.1.5 Ok".into())
                    };
                    if reply.starts_with('2') {
                        session.rcpt_to.push(address);
                    }
                    reply
                }
                Ok(Request::Data) if session.rcpt_to.is_empty() => {
                    "554 5.5.1 No valid recipients".to_string()
                }
                Ok(Request::Data) => {
                    let reply = self
                        .scripted(Stage::Data, None)
                        .unwrap_or_else(|| "354 End data with <CR><LF>.<CR><LF>".into());
                    if !reply.starts_with('3') {
                        reply
                    } else {
                        if write(reader.get_mut(), &reply).await.is_err() {
                            return (Ended::Closed, None);
                        }
                        let Some(data) = read_data(&mut reader).await else {
                            return (Ended::Closed, None);
                        };
                        let reply = self
                            .scripted(Stage::Message, None)
                            .unwrap_or_else(|| "250 2.0.0 Ok: queued".into());
                        self.recorded
                            .lock()
                            .unwrap()
                            .transactions
                            .push(Transaction {
                                mail_from: session.mail_from.take().unwrap_or_default(),
                                rcpt_to: std::mem::take(&mut session.rcpt_to),
                                data,
                                tls: session.tls,
                                auth: session.auth.clone(),
                                reply: reply.clone(),
                            });
                        reply
                    }
                }
                Ok(Request::Rset) => {
                    session.mail_from = None;
                    session.rcpt_to.clear();
                    "250 2.0.0 Ok".to_string()
                }
                Ok(Request::Noop { .. }) => "250 2.0.0 Ok".to_string(),
                Ok(Request::Quit) => {
                    let _ = write(reader.get_mut(), "221 2.0.0 Bye").await;
                    return (Ended::Closed, None);
                }
                Ok(_) => "502 5.5.1 Command not implemented".to_string(),
                Err(_) => "500 5.5.2 Syntax error".to_string(),
            };
            if write(reader.get_mut(), &reply).await.is_err() {
                return (Ended::Closed, None);
            }
        }
    }

    fn ehlo_reply(&self, tls: bool) -> String {
        let mut lines = vec![
            "sink.test".to_string(),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
        ];
        if self.tls.is_some() && !tls {
            lines.push("STARTTLS".into());
        }
        if self.credentials.is_some() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("ENHANCEDSTATUSCODES".into());
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    /// AUTH PLAIN (RFC 4616) with or without an initial response, and AUTH LOGIN.
    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        reader: &mut BufReader<S>,
        session: &mut Session,
        mechanism: u64,
        initial: String,
    ) -> String {
        let Some((user, password)) = &self.credentials else {
            return "502 5.5.1 AUTH not offered".into();
        };
        let decode = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        };
        let given = if mechanism == AUTH_PLAIN {
            let response = if initial.is_empty() {
                prompt(reader, "334 ").await
            } else {
                Some(initial)
            };
            response.as_deref().and_then(decode).and_then(|plain| {
                let mut fields = plain.split('\0');
                let (_authz, user, password) = (fields.next()?, fields.next()?, fields.next()?);
                Some((user.to_string(), password.to_string()))
            })
        } else if mechanism == AUTH_LOGIN {
            let user = prompt(reader, "334 VXNlcm5hbWU6").await;
            let password = prompt(reader, "334 UGFzc3dvcmQ6").await;
            match (
                user.as_deref().and_then(decode),
                password.as_deref().and_then(decode),
            ) {
                (Some(u), Some(p)) => Some((u, p)),
                _ => None,
            }
        } else {
            return "504 5.5.4 Mechanism not supported".into();
        };
        match given {
            Some((u, p)) if &u == user && &p == password => {
                session.auth = Some(u);
                "235 2.7.0 Authentication successful".into()
            }
            _ => "535 5.7.8 Authentication credentials invalid".into(),
        }
    }
}

/// Sends `challenge` and reads the client's one-line answer.
async fn prompt<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut BufReader<S>,
    challenge: &str,
) -> Option<String> {
    write(reader.get_mut(), challenge).await.ok()?;
    let mut line = String::new();
    reader.read_line(&mut line).await.ok()?;
    Some(line.trim_end().to_string())
}

/// Reads message data up to the terminating `.` line, removing dot-stuffing.
async fn read_data<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" {
            return Some(data);
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, reply: &str) -> std::io::Result<()> {
    stream.write_all(format!("{reply}\r\n").as_bytes()).await?;
    stream.flush().await
}
