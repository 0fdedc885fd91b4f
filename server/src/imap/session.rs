//! One IMAP connection: the protocol state (RFC 3501 §3), the read loop, routing each
//! command to its handler by state, and writing responses. Handlers write untagged data and
//! return how the command completed; the session then sends the updates other sessions
//! caused (EXISTS, EXPUNGE, FETCH FLAGS) and the tagged completion, in that order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use imap_codec::encode::Encoder;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{Tag, Text};
use imap_codec::imap_types::response::{
    Bye, Code, Data, Greeting, GreetingKind, Response, Status, StatusBody, StatusKind, Tagged,
};
use imap_codec::{GreetingCodec, ResponseCodec};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::extended_list::ListOptions;
use super::framing::{Expect, ReadFault, Reader, Received};
use super::selected::Selected;
use super::{reply, ImapService, OfficialSession};
use crate::directory::Official;
use crate::net::{Admission, Connection, ListenerKind, Stream, Strikes};

/// Output buffered beyond this is written out even in the middle of a command (a large
/// FETCH), so a session's memory stays bounded.
const FLUSH_AT: usize = 256 * 1024;

/// The connection ended; nothing more can be said on it.
#[derive(Debug)]
pub(super) struct End;

/// How a command completed: the tagged status the client gets.
#[derive(Debug)]
pub(super) struct Done {
    pub kind: StatusKind,
    pub code: Option<Code<'static>>,
    pub text: std::borrow::Cow<'static, str>,
    /// The session closes after this reply (LOGOUT, too many failures).
    pub close: bool,
    /// The BYE sent after the tagged reply when the session closes because of it.
    pub farewell: Option<&'static str>,
}

impl Done {
    pub(super) fn ok(text: &'static str) -> Done {
        Done::with(StatusKind::Ok, None, text)
    }
    pub(super) fn ok_code(code: Code<'static>, text: &'static str) -> Done {
        Done::with(StatusKind::Ok, Some(code), text)
    }
    pub(super) fn no(code: Option<Code<'static>>, text: &'static str) -> Done {
        Done::with(StatusKind::No, code, text)
    }
    pub(super) fn bad(text: &'static str) -> Done {
        Done::with(StatusKind::Bad, None, text)
    }
    /// A NO whose text is made at run time (it names the portal's address).
    pub(super) fn no_with(code: Option<Code<'static>>, text: String) -> Done {
        Done {
            text: text.into(),
            ..Done::with(StatusKind::No, code, "")
        }
    }
    fn with(kind: StatusKind, code: Option<Code<'static>>, text: &'static str) -> Done {
        Done {
            kind,
            code,
            text: text.into(),
            close: false,
            farewell: None,
        }
    }
    /// This reply, then a BYE saying why, then the connection closes.
    pub(super) fn then_close(self, farewell: &'static str) -> Done {
        Done {
            close: true,
            farewell: Some(farewell),
            ..self
        }
    }
    /// The NO a mail store failure earns.
    pub(super) fn refused(error: &crate::mailstore::MailstoreError) -> Done {
        if matches!(
            error,
            crate::mailstore::MailstoreError::Store(_) | crate::mailstore::MailstoreError::Stopped
        ) {
            tracing::error!(%error, "IMAP command failed in the mail store");
        }
        let (code, text) = reply::store_refusal(error);
        Done::no(code, text)
    }
}

/// Where a session stands (RFC 3501 §3), each state holding what it has: the signed-in
/// official's account once authenticated, and the selected mailbox's view once selected.
/// Handlers past the routing receive the official, and those of the selected state find the
/// view, so none can run in a state that lacks what it needs.
#[derive(Debug)]
enum State<'s> {
    NotAuthenticated,
    Authenticated(Account<'s>),
    /// Boxed: a view is several times the size of an account.
    Selected(Account<'s>, Box<Selected>),
}

/// The logged-in official and their place among their open sessions.
#[derive(Debug)]
pub(super) struct Account<'s> {
    /// Shared with each command that needs it, without a copy of the entity per command.
    pub official: Arc<Official>,
    _place: OfficialSession<'s>,
    /// Counts the session in `congvu_imap_sessions` while the official is signed in.
    _signed_in: crate::telemetry::GaugeHeld,
}

/// One connection's session.
pub(super) struct Session<'s> {
    pub(super) service: &'s ImapService,
    stream: Option<Stream>,
    _admission: Admission,
    pub(super) peer: SocketAddr,
    /// The port's kind, for the logs of a failed STARTTLS.
    pub(super) listener: ListenerKind,
    /// How long the STARTTLS handshake may take (the listeners' one setting).
    pub(super) handshake_timeout: Duration,
    shutdown: CancellationToken,
    pub(super) reader: Reader,
    out: Vec<u8>,
    state: State<'s>,
    pub(super) auth_failures: Strikes,
    errors: Strikes,
    /// CONDSTORE is on (RFC 7162 §3.1): FETCH responses for flag changes carry MODSEQ.
    pub(super) condstore: bool,
}

impl<'s> Session<'s> {
    pub(super) fn new(service: &'s ImapService, conn: Connection) -> Session<'s> {
        let (peer, listener, handshake_timeout) = (conn.peer, conn.kind, conn.handshake_timeout);
        let shutdown = conn.shutdown.clone();
        let (stream, admission) = conn.into_stream();
        let settings = &service.settings;
        Session {
            service,
            stream: Some(stream),
            _admission: admission,
            peer,
            listener,
            handshake_timeout,
            shutdown,
            reader: Reader::new(settings.max_command_bytes, settings.max_literal_bytes),
            out: Vec::with_capacity(4096),
            state: State::NotAuthenticated,
            auth_failures: Strikes::new(settings.max_auth_failures),
            errors: Strikes::new(settings.max_errors),
            condstore: false,
        }
    }

    /// Greets the client and serves commands until the connection ends.
    pub(super) async fn run(mut self) {
        let greeting = Greeting {
            kind: GreetingKind::Ok,
            code: Some(Code::Capability(reply::capabilities(self.is_tls(), false))),
            text: Text::unvalidated(reply::GREETING),
        };
        self.out
            .extend_from_slice(&GreetingCodec::default().encode(&greeting).dump());
        loop {
            if self.flush().await.is_err() {
                return;
            }
            let idle = self.service.settings.idle_timeout;
            let received = {
                let Some(stream) = self.stream.as_mut() else {
                    return;
                };
                let next = self.reader.next(stream, Expect::Command, idle);
                crate::net::unless_shutting_down(next, &self.shutdown).await
            };
            let Some(received) = received else {
                self.bye(None, reply::BYE_SHUTDOWN);
                break;
            };
            let close = match received {
                Ok(Received::Command(command, options)) => {
                    match self.command(command, options).await {
                        Ok(close) => close,
                        Err(End) => return,
                    }
                }
                Ok(Received::Malformed(tag)) => self.refuse_malformed(tag, reply::PARSE_ERROR),
                Ok(Received::LiteralRefused(tag)) => {
                    self.refuse_malformed(tag, reply::LITERAL_TOO_LARGE)
                }
                Ok(Received::AuthenticateData(_) | Received::IdleDone) => {
                    self.refuse_malformed(None, reply::PARSE_ERROR)
                }
                Err(fault) => {
                    self.read_fault(fault);
                    break;
                }
            };
            if close {
                break;
            }
        }
        let _ = self.flush().await;
        if let Some(mut stream) = self.stream.take() {
            let _ = stream.shutdown().await;
        }
    }

    /// Runs one command and writes its completion; `true` when the session ends.
    async fn command(
        &mut self,
        command: Command<'static>,
        options: ListOptions,
    ) -> Result<bool, End> {
        let Command { tag, body } = command;
        let name = body.name();
        let started = std::time::Instant::now();
        // RFC 3501 §7.4.1: no EXPUNGE while answering FETCH, STORE or SEARCH by sequence
        // number, since the client could not tell which message a number then meant.
        let expunges_allowed = !matches!(
            body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
        );
        let done = match body {
            CommandBody::Idle => return self.idle(tag).await,
            CommandBody::StartTLS => return self.start_tls(tag).await,
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => self.authenticate(mechanism, initial_response).await?,
            body => self.route(body, options).await?,
        };
        tracing::debug!(command = name, status = ?done.kind, peer = %self.peer, "IMAP command");
        let result = match done.kind {
            StatusKind::Ok => "ok",
            StatusKind::No => "no",
            StatusKind::Bad => "bad",
        };
        crate::telemetry::imap_command(name, result, started.elapsed());
        if done.kind != StatusKind::Bad && self.view().is_some() {
            self.send_updates(expunges_allowed).await;
        }
        Ok(self.complete(tag, done))
    }

    /// Sends the tagged completion; `true` when the session ends after it.
    pub(super) fn complete(&mut self, tag: Tag<'static>, done: Done) -> bool {
        let is_bad = done.kind == StatusKind::Bad;
        self.status(Status::Tagged(Tagged {
            tag,
            body: StatusBody {
                kind: done.kind,
                code: done.code,
                text: Text::unvalidated(done.text),
            },
        }));
        if let Some(farewell) = done.farewell {
            self.bye(None, farewell);
        }
        if done.close {
            return true;
        }
        if is_bad && self.errors.add() {
            self.bye(None, reply::BYE_TOO_MANY_ERRORS);
            return true;
        }
        false
    }

    /// Routes a command by the session's state: commands of any state first, then those of
    /// the authenticated state, and those that need a selected mailbox.
    async fn route(
        &mut self,
        body: CommandBody<'static>,
        options: ListOptions,
    ) -> Result<Done, End> {
        let official = match &self.state {
            State::NotAuthenticated => None,
            State::Authenticated(account) | State::Selected(account, _) => {
                Some(Arc::clone(&account.official))
            }
        };
        Ok(match body {
            CommandBody::Capability => self.capability(),
            CommandBody::Noop => Done::ok(reply::DONE),
            CommandBody::Logout => {
                self.bye(None, reply::BYE_LOGOUT);
                Done {
                    close: true,
                    ..Done::ok(reply::DONE)
                }
            }
            CommandBody::Id { parameters } => self.id(parameters),
            CommandBody::Login { username, password } if official.is_none() => {
                self.login(username, password).await
            }
            CommandBody::Login { .. } => Done::bad(reply::WRONG_STATE),
            body => match official {
                None => Done::bad(reply::WRONG_STATE),
                Some(official) if !needs_selection(&body) => {
                    self.route_authenticated(body, options, &official).await
                }
                Some(_) if self.view().is_none() => Done::bad(reply::WRONG_STATE),
                Some(official) => self.route_selected(body, &official).await?,
            },
        })
    }

    /// Commands of the selected state, a mailbox being selected.
    async fn route_selected(
        &mut self,
        body: CommandBody<'static>,
        official: &Official,
    ) -> Result<Done, End> {
        Ok(match body {
            CommandBody::Close => self.close().await,
            CommandBody::Unselect => {
                self.unselect();
                Done::ok(reply::DONE)
            }
            CommandBody::Expunge => self.expunge(None).await,
            CommandBody::ExpungeUid { sequence_set } => self.expunge(Some(sequence_set)).await,
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => self.search(charset, criteria, uid).await,
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                self.fetch(sequence_set, macro_or_item_names, uid, modifiers)
                    .await?
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                self.store(sequence_set, kind, response, flags, uid, modifiers)
                    .await
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(official, sequence_set, mailbox, uid, false).await,
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(official, sequence_set, mailbox, uid, true).await,
            // Every change is already durable: CHECK has nothing to do.
            CommandBody::Check => Done::ok(reply::DONE),
            _ => Done::bad(reply::NOT_SUPPORTED),
        })
    }

    /// Commands of the authenticated state (also allowed with a mailbox selected).
    async fn route_authenticated(
        &mut self,
        body: CommandBody<'static>,
        options: ListOptions,
        official: &Official,
    ) -> Done {
        match body {
            CommandBody::Select {
                mailbox,
                parameters,
            } => self.select(official, mailbox, parameters, false).await,
            CommandBody::Examine {
                mailbox,
                parameters,
            } => self.select(official, mailbox, parameters, true).await,
            CommandBody::Create { mailbox } => self.create(official, mailbox).await,
            CommandBody::Delete { mailbox } => self.delete(official, mailbox).await,
            CommandBody::Rename { from, to } => self.rename(official, from, to).await,
            CommandBody::Subscribe { mailbox } => self.subscribe(official, mailbox, true).await,
            CommandBody::Unsubscribe { mailbox } => self.subscribe(official, mailbox, false).await,
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => {
                self.list(official, reference, mailbox_wildcard, options)
                    .await
            }
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.lsub(official, reference, mailbox_wildcard).await,
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status_of(official, mailbox, &item_names).await,
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(official, mailbox, flags, date, message).await,
            CommandBody::Namespace => self.namespace(),
            CommandBody::Enable { capabilities } => self.enable(capabilities),
            CommandBody::GetQuota { root } => self.get_quota(official, root).await,
            CommandBody::GetQuotaRoot { mailbox } => self.get_quota_root(official, mailbox).await,
            CommandBody::SetQuota { .. } => Done::no(None, reply::QUOTA_READ_ONLY),
            _ => Done::bad(reply::NOT_SUPPORTED),
        }
    }

    /// Whether the connection is encrypted.
    pub(super) fn is_tls(&self) -> bool {
        matches!(self.stream, Some(Stream::Tls(_)))
    }

    /// The stream, lent to handlers that read from the client mid-command (STARTTLS, SASL).
    pub(super) fn take_stream(&mut self) -> Option<Stream> {
        self.stream.take()
    }

    pub(super) fn put_stream(&mut self, stream: Stream) {
        self.stream = Some(stream);
    }

    /// Queues an untagged data response.
    pub(super) fn data(&mut self, data: Data<'_>) {
        self.response(&Response::Data(data));
    }

    /// Queues a status response.
    pub(super) fn status(&mut self, status: Status<'static>) {
        self.response(&Response::Status(status));
    }

    /// Queues an untagged `* OK [code] text`.
    pub(super) fn untagged_ok(&mut self, code: Option<Code<'static>>, text: &'static str) {
        self.status(Status::Untagged(StatusBody {
            kind: StatusKind::Ok,
            code,
            text: Text::unvalidated(text),
        }));
    }

    /// Queues an untagged BYE.
    pub(super) fn bye(&mut self, code: Option<Code<'static>>, text: &'static str) {
        self.status(Status::Bye(Bye {
            code,
            text: Text::unvalidated(text),
        }));
    }

    /// Queues raw protocol bytes (continuation requests).
    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// The bytes queued to be written, for answers written without imap-codec.
    pub(super) fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    fn response(&mut self, response: &Response<'_>) {
        self.out
            .extend_from_slice(&ResponseCodec::default().encode(response).dump());
    }

    /// Writes out what is queued.
    pub(super) async fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let stream = self.stream.as_mut().ok_or(End)?;
        stream.write_all(&self.out).await.map_err(|_| End)?;
        stream.flush().await.map_err(|_| End)?;
        self.out.clear();
        Ok(())
    }

    /// Writes out what is queued once it has grown large.
    pub(super) async fn flush_if_large(&mut self) -> Result<(), End> {
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Answers a message that could not be read: BAD with its tag if it had one.
    fn refuse_malformed(&mut self, tag: Option<Tag<'static>>, text: &'static str) -> bool {
        match tag {
            Some(tag) => self.complete(tag, Done::bad(text)),
            None => {
                self.status(Status::Untagged(StatusBody {
                    kind: StatusKind::Bad,
                    code: None,
                    text: Text::unvalidated(text),
                }));
                if self.errors.add() {
                    self.bye(None, reply::BYE_TOO_MANY_ERRORS);
                    return true;
                }
                false
            }
        }
    }

    /// Says goodbye for a read that cannot go on.
    pub(super) fn read_fault(&mut self, fault: ReadFault) {
        match fault {
            ReadFault::Closed => {}
            ReadFault::TimedOut => self.bye(None, reply::BYE_IDLE),
            ReadFault::LineTooLong => {
                self.bye(Some(reply::code("LIMIT")), reply::BYE_LINE_TOO_LONG)
            }
            ReadFault::LiteralTooLarge => {
                self.bye(Some(Code::TooBig), reply::BYE_LITERAL_TOO_LARGE)
            }
        }
    }

    /// Logs the official in, taking one of their session places; `false` when they hold
    /// all of them already.
    pub(super) fn enter(&mut self, official: Official) -> bool {
        match self.service.claim_session(official.id) {
            Some(place) => {
                self.state = State::Authenticated(Account {
                    official: Arc::new(official),
                    _place: place,
                    _signed_in: crate::telemetry::imap_session_signed_in(),
                });
                true
            }
            None => false,
        }
    }

    /// Whether an official is signed in.
    pub(super) fn is_authenticated(&self) -> bool {
        !matches!(self.state, State::NotAuthenticated)
    }

    /// The selected mailbox's view, in the selected state.
    pub(super) fn view(&self) -> Option<&Selected> {
        match &self.state {
            State::Selected(_, view) => Some(view),
            _ => None,
        }
    }

    pub(super) fn view_mut(&mut self) -> Option<&mut Selected> {
        match &mut self.state {
            State::Selected(_, view) => Some(view),
            _ => None,
        }
    }

    /// Makes `view` the selected mailbox, in place of any other; the official stays signed in.
    pub(super) fn select_view(&mut self, view: Selected) {
        self.state = match std::mem::replace(&mut self.state, State::NotAuthenticated) {
            State::NotAuthenticated => State::NotAuthenticated,
            State::Authenticated(account) | State::Selected(account, _) => {
                State::Selected(account, Box::new(view))
            }
        };
    }

    /// Leaves the selected mailbox, back to the authenticated state; its view, if one was
    /// selected.
    pub(super) fn unselect(&mut self) -> Option<Selected> {
        match std::mem::replace(&mut self.state, State::NotAuthenticated) {
            State::Selected(account, view) => {
                self.state = State::Authenticated(account);
                Some(*view)
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    /// The session's shutdown signal.
    pub(super) fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }
}

/// Whether `body` is a command of the selected state only.
fn needs_selection(body: &CommandBody<'_>) -> bool {
    matches!(
        body,
        CommandBody::Check
            | CommandBody::Close
            | CommandBody::Unselect
            | CommandBody::Expunge
            | CommandBody::ExpungeUid { .. }
            | CommandBody::Search { .. }
            | CommandBody::Fetch { .. }
            | CommandBody::Store { .. }
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. }
    )
}
