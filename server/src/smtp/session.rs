//! One SMTP connection: the read loop, the gate every command passes, EHLO/HELO, STARTTLS
//! and the small commands. Replies are buffered and flushed whenever the session is about to
//! wait for input, so a pipelining client gets a whole group's replies in one write
//! (RFC 2920 §3.1).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use smtp_proto::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::framing::{command_line, LineStatus};
use super::reply::{self, Reply};
use super::{auth, envelope, message, SmtpService};
use crate::directory::Official;
use crate::net::{Admission, Connection, ListenerKind, Stream, Strikes};

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with CRLF.
pub(crate) const MAX_COMMAND_LINE: usize = 512;
/// RFC 4954 §4: AUTH lines and SASL responses may reach 12,288 octets.
pub(crate) const MAX_AUTH_LINE: usize = 12_288;

/// Why a session ended before the client said QUIT.
#[derive(Debug)]
pub(super) enum End {
    /// The client closed the connection or the network failed.
    Gone,
    /// The session must close after telling the client this.
    Reply(Reply),
}

/// What the loop does after a command.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    Continue,
    Close,
}

/// Where a session stands (RFC 5321 §4.1.4, and RFC 3207 §4.2 after STARTTLS), each state
/// holding what it has: nothing before the client greets; its greeting, and on submission
/// the official once AUTH succeeded; and the envelope while a mail transaction is open.
#[derive(Debug, Default)]
enum State {
    #[default]
    Connected,
    Greeted(Client),
    /// Boxed: an envelope is large, and most of a session is spent outside one.
    Transaction(Client, Box<envelope::Envelope>),
}

/// A client that greeted: its greeting, and the official it signed in as, if it did.
#[derive(Debug)]
struct Client {
    greeting: Greeting,
    official: Option<Official>,
}

/// The client's EHLO or HELO.
#[derive(Debug, Clone)]
pub(super) struct Greeting {
    pub name: String,
    /// EHLO (extensions advertised, pipelining allowed) rather than HELO.
    pub extended: bool,
}

pub(super) struct Session<'a> {
    pub service: &'a SmtpService,
    kind: ListenerKind,
    pub peer: SocketAddr,
    stream: Option<Stream>,
    input: BytesMut,
    output: Vec<u8>,
    shutdown: CancellationToken,
    /// What the client has established: its greeting, its sign-in, its transaction.
    state: State,
    /// The blocklists' answer about the client (MX only), asked as it connected.
    pub blocklisting: Option<super::inbound::Blocklisting>,
    errors: Strikes,
    pub auth_failures: Strikes,
    /// The code of the last reply queued, for the command metrics.
    last_code: u16,
    /// How long the STARTTLS handshake may take (the listeners' one setting).
    handshake_timeout: Duration,
    /// The connection's place in the limits, released when the session ends.
    _admission: Admission,
}

impl<'a> Session<'a> {
    pub fn new(service: &'a SmtpService, conn: Connection) -> Session<'a> {
        let (kind, peer, shutdown) = (conn.kind, conn.peer, conn.shutdown.clone());
        let handshake_timeout = conn.handshake_timeout;
        let (stream, admission) = conn.into_stream();
        Session {
            service,
            kind,
            handshake_timeout,
            peer,
            stream: Some(stream),
            input: BytesMut::with_capacity(4096),
            output: Vec::with_capacity(1024),
            shutdown,
            state: State::Connected,
            blocklisting: super::inbound::ask_blocklists(service, kind, peer),
            errors: Strikes::new(service.settings.max_errors),
            last_code: 0,
            auth_failures: Strikes::new(service.settings.max_auth_failures),
            _admission: admission,
        }
    }

    /// Whether the connection runs over TLS (implicit, or after STARTTLS).
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Some(Stream::Tls(_)))
    }

    /// The listener the client connected to.
    pub fn listener(&self) -> ListenerKind {
        self.kind
    }

    /// Whether this is a submission port (587 or 465), where officials authenticate.
    pub fn is_submission(&self) -> bool {
        matches!(
            self.kind,
            ListenerKind::Submission | ListenerKind::Submissions
        )
    }

    pub async fn run(mut self) {
        self.output
            .extend_from_slice(reply::greeting(&self.service.settings.hostname).as_bytes());
        loop {
            let line = match self.next_line(MAX_AUTH_LINE).await {
                Ok(line) => line,
                Err(end) => return self.close(end).await,
            };
            match self.command(&line).await {
                Ok(Next::Continue) => {}
                Ok(Next::Close) => return self.close(End::Gone).await,
                Err(end) => return self.close(end).await,
            }
        }
    }

    /// Parses and runs one command line.
    async fn command(&mut self, line: &[u8]) -> Result<Next, End> {
        if line.len() > MAX_COMMAND_LINE && !starts_with_auth(line) {
            return Ok(self.respond(reply::LINE_TOO_LONG));
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(error) => return Ok(self.respond(reply::for_parse_error(&error))),
        };
        let verb = request.name();
        let started = Instant::now();
        let next = self.request(request).await;
        let code = match &next {
            Err(End::Reply(reply)) => reply.code,
            _ => self.last_code,
        };
        crate::telemetry::smtp_command(verb, code, started.elapsed());
        next
    }

    /// Runs one parsed command.
    async fn request(&mut self, request: Request<Cow<'_, str>>) -> Result<Next, End> {
        if self.breaks_pipelining(&request) {
            tracing::info!(peer = %self.peer, command = request.name(), "SMTP client pipelined where RFC 2920 forbids it");
            return Err(End::Reply(reply::PIPELINING_REFUSED));
        }
        if let Request::Bdat {
            chunk_size,
            is_last,
        } = request
        {
            // The chunk follows whatever the answer: it is read before the gate's verdict.
            return message::bdat(self, chunk_size, is_last).await;
        }
        if let Some(refusal) = self.gate(&request) {
            if matches!(request, Request::Data) {
                message::refused_before_data(self, &refusal);
            }
            return Ok(self.respond(refusal));
        }
        match request {
            Request::Ehlo { host } => Ok(self.hello(host, true)),
            Request::Helo { host } => Ok(self.hello(host, false)),
            Request::Mail { from } => Ok(envelope::mail(self, from).await),
            Request::Rcpt { to } => Ok(envelope::rcpt(self, to).await),
            Request::Data => message::data(self).await,
            Request::Auth {
                mechanism,
                initial_response,
            } => auth::authenticate(self, mechanism, &initial_response).await,
            Request::StartTls => self.start_tls().await,
            Request::Rset => {
                self.end_transaction();
                Ok(self.respond(reply::RESET))
            }
            Request::Noop { .. } => Ok(self.respond(reply::OK)),
            Request::Vrfy { .. } => Ok(self.respond(reply::VRFY_NOTHING)),
            Request::Expn { .. } => Ok(self.respond(reply::EXPN_NOTHING)),
            Request::Help { .. } => Ok(self.respond(reply::HELP)),
            Request::Quit => {
                self.respond(reply::BYE);
                Ok(Next::Close)
            }
            Request::Lhlo { .. } => Ok(self.respond(reply::UNKNOWN_COMMAND)),
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                Ok(self.respond(reply::NOT_IMPLEMENTED))
            }
            Request::Bdat { .. } => Ok(Next::Continue),
        }
    }

    /// The one check of whether `request` is allowed in this state, for this client.
    pub fn gate<T>(&self, request: &Request<T>) -> Option<Reply> {
        let in_transaction = self.envelope().is_some();
        match request {
            Request::Mail { .. } if self.greeting().is_none() => Some(reply::NEED_HELO),
            Request::Mail { .. } if self.is_submission() && self.official().is_none() => {
                Some(reply::AUTH_REQUIRED)
            }
            Request::Mail { .. } if in_transaction => Some(reply::NESTED_MAIL),
            Request::Rcpt { .. } if !in_transaction => Some(reply::NEED_MAIL),
            Request::Data | Request::Bdat { .. } => match self.envelope() {
                None => Some(reply::NEED_MAIL),
                Some(e) if !e.has_recipients() => Some(reply::NEED_RCPT),
                Some(e) if e.chunked() && matches!(request, Request::Data) => {
                    Some(reply::BDAT_MIXED)
                }
                Some(_) => None,
            },
            Request::Auth { .. } if !self.is_submission() => Some(reply::AUTH_NOT_HERE),
            Request::Auth { .. } if self.greeting().is_none() => Some(reply::NEED_HELO),
            Request::Auth { .. } if !self.is_tls() => Some(reply::TLS_REQUIRED_FOR_AUTH),
            Request::Auth { .. } if self.official().is_some() => Some(reply::ALREADY_AUTHENTICATED),
            Request::Auth { .. } if in_transaction => Some(reply::NESTED_MAIL),
            Request::StartTls if self.is_tls() => Some(reply::TLS_ACTIVE),
            Request::StartTls if self.service.tls.is_none() => Some(reply::TLS_UNAVAILABLE),
            _ => None,
        }
    }

    /// RFC 2920 §3.1: EHLO, HELO, DATA, VRFY, EXPN, NOOP, STARTTLS and AUTH end a group — a
    /// client must wait for their reply — and a client that greeted with HELO may not
    /// pipeline at all. Unauthenticated clients that send on regardless are refused (the
    /// bytes after STARTTLS are the CVE-2011-0411 injection).
    fn breaks_pipelining<T>(&self, request: &Request<T>) -> bool {
        if self.input.is_empty() || self.official().is_some() {
            return false;
        }
        let ends_group = matches!(
            request,
            Request::Ehlo { .. }
                | Request::Helo { .. }
                | Request::Data
                | Request::Vrfy { .. }
                | Request::Expn { .. }
                | Request::Noop { .. }
                | Request::StartTls
                | Request::Auth { .. }
        );
        let may_pipeline = self.greeting().is_some_and(|g| g.extended);
        ends_group || !may_pipeline
    }

    /// EHLO or HELO: a new greeting ends any transaction (RFC 5321 §4.1.4).
    fn hello(&mut self, host: Cow<'_, str>, extended: bool) -> Next {
        self.greet(Greeting {
            name: host.into_owned(),
            extended,
        });
        let hostname = &self.service.settings.hostname;
        let text = if extended {
            let offered = reply::Offered {
                max_message_bytes: self.service.settings.max_message_bytes,
                starttls: !self.is_tls() && self.service.tls.is_some(),
                auth: self.is_submission() && self.is_tls() && self.official().is_none(),
            };
            reply::ehlo(hostname, &offered)
        } else {
            reply::helo(hostname)
        };
        self.respond_raw(&text);
        Next::Continue
    }

    /// STARTTLS (RFC 3207): the handshake, then a fresh session state (§4.2).
    async fn start_tls(&mut self) -> Result<Next, End> {
        self.respond(reply::READY_FOR_TLS);
        self.flush().await?;
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return Err(End::Gone);
        };
        let Some(acceptor) = self.service.tls.clone() else {
            return Err(End::Gone);
        };
        let upgraded = crate::net::upgrade_to_tls(
            &acceptor,
            tcp,
            self.handshake_timeout,
            self.kind,
            self.peer,
        )
        .await;
        self.stream = Some(upgraded.ok_or(End::Gone)?);
        self.state = State::Connected;
        self.input.clear();
        Ok(Next::Continue)
    }

    /// The client's greeting, once it greeted.
    pub fn greeting(&self) -> Option<&Greeting> {
        match &self.state {
            State::Connected => None,
            State::Greeted(client) | State::Transaction(client, _) => Some(&client.greeting),
        }
    }

    /// The official the client signed in as (submission ports only).
    pub fn official(&self) -> Option<&Official> {
        match &self.state {
            State::Connected => None,
            State::Greeted(client) | State::Transaction(client, _) => client.official.as_ref(),
        }
    }

    /// The open mail transaction's envelope.
    pub fn envelope(&self) -> Option<&envelope::Envelope> {
        match &self.state {
            State::Transaction(_, envelope) => Some(envelope),
            _ => None,
        }
    }

    pub fn envelope_mut(&mut self) -> Option<&mut envelope::Envelope> {
        match &mut self.state {
            State::Transaction(_, envelope) => Some(envelope),
            _ => None,
        }
    }

    /// Opens a mail transaction (MAIL FROM), for a client that greeted.
    pub fn begin_transaction(&mut self, envelope: envelope::Envelope) {
        self.state = match std::mem::take(&mut self.state) {
            State::Greeted(client) | State::Transaction(client, _) => {
                State::Transaction(client, Box::new(envelope))
            }
            State::Connected => State::Connected,
        };
    }

    /// Ends the open mail transaction, if any (RSET, a message taken or refused).
    pub fn end_transaction(&mut self) {
        self.state = match std::mem::take(&mut self.state) {
            State::Transaction(client, _) => State::Greeted(client),
            other => other,
        };
    }

    /// A new greeting: any transaction ends (RFC 5321 §4.1.4); a signed-in official stays.
    fn greet(&mut self, greeting: Greeting) {
        let official = match std::mem::take(&mut self.state) {
            State::Greeted(client) | State::Transaction(client, _) => client.official,
            State::Connected => None,
        };
        self.state = State::Greeted(Client { greeting, official });
    }

    /// Signs the client in as `official` (AUTH), once it greeted.
    pub fn sign_in(&mut self, official: Official) {
        match &mut self.state {
            State::Greeted(client) | State::Transaction(client, _) => {
                client.official = Some(official);
            }
            State::Connected => {}
        }
    }

    /// Queues `reply`; closes the session once the client has earned too many errors.
    pub fn respond(&mut self, reply: Reply) -> Next {
        self.last_code = reply.code;
        self.output.extend_from_slice(reply.to_wire().as_bytes());
        if reply.is_error() && self.errors.add() {
            self.output
                .extend_from_slice(reply::TOO_MANY_ERRORS.to_wire().as_bytes());
            return Next::Close;
        }
        Next::Continue
    }

    /// Queues a reply written as-is (SASL challenges).
    pub fn respond_raw(&mut self, line: &str) {
        if let Some(code) = line.get(..3).and_then(|c| c.parse().ok()) {
            self.last_code = code;
        }
        self.output.extend_from_slice(line.as_bytes());
    }

    /// Sends the buffered replies.
    pub async fn flush(&mut self) -> Result<(), End> {
        if self.output.is_empty() {
            return Ok(());
        }
        let stream = self.stream.as_mut().ok_or(End::Gone)?;
        stream
            .write_all(&self.output)
            .await
            .map_err(|_| End::Gone)?;
        self.output.clear();
        Ok(())
    }

    /// The next CRLF-terminated line, at most `max` bytes, within the command deadline.
    pub async fn next_line(&mut self, max: usize) -> Result<BytesMut, End> {
        let deadline = Instant::now() + self.service.settings.command_timeout;
        loop {
            match command_line(&self.input, max) {
                LineStatus::Line(n) => return Ok(self.input.split_to(n)),
                LineStatus::NeedMore => self.read_more(deadline, true).await?,
                LineStatus::TooLong => return Err(End::Reply(reply::LINE_TOO_LONG)),
                LineStatus::BareNewline(_) => return Err(End::Reply(reply::BARE_NEWLINE)),
            }
        }
    }

    /// The bytes read and not yet used.
    pub fn input(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// Flushes replies, then waits for more input until `deadline`. Between commands
    /// (`idle`), a server shutdown ends the wait.
    pub async fn read_more(&mut self, deadline: Instant, idle: bool) -> Result<(), End> {
        self.flush().await?;
        let stream = self.stream.as_mut().ok_or(End::Gone)?;
        self.input.reserve(8192);
        let read = tokio::time::timeout_at(deadline, stream.read_buf(&mut self.input));
        let outcome = if idle {
            crate::net::unless_shutting_down(read, &self.shutdown)
                .await
                .ok_or(End::Reply(reply::SHUTTING_DOWN))?
        } else {
            read.await
        };
        match outcome {
            Err(_) => Err(End::Reply(reply::TIMEOUT)),
            Ok(Ok(0)) | Ok(Err(_)) => Err(End::Gone),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// Reads and drops exactly `n` bytes (a refused BDAT chunk), within `deadline`.
    pub async fn skip(&mut self, mut n: usize, deadline: Instant) -> Result<(), End> {
        loop {
            let here = n.min(self.input.len());
            self.input.advance(here);
            n -= here;
            if n == 0 {
                return Ok(());
            }
            self.read_more(deadline, false).await?;
        }
    }

    /// Says goodbye if there is something to say, and closes.
    async fn close(mut self, end: End) {
        if let End::Reply(reply) = end {
            self.output.extend_from_slice(reply.to_wire().as_bytes());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.flush()).await;
        if let Some(mut stream) = self.stream.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.shutdown()).await;
        }
    }
}

pub(crate) fn starts_with_auth(line: &[u8]) -> bool {
    line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"AUTH ")
}
