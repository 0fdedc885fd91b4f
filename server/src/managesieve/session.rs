//! One ManageSieve connection: the greeting, the read loop, the two states (RFC 5804 §1.5:
//! not authenticated, authenticated), STARTTLS and AUTHENTICATE PLAIN, and routing each
//! script command to `scripts` with the signed-in official.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::framing::{Command, ReadFault, Reader, Received, Word};
use super::reply::{self, Response};
use super::{scripts, ManageSieveService, MAX_LINE};
use crate::directory::{plain_credentials, LoginName, LoginOutcome, Official, Principal};
use crate::net::{Admission, Connection, ListenerKind, Stream, Strikes};

/// The connection ended; nothing more can be said on it.
#[derive(Debug)]
pub(super) struct End;

/// Whether the session goes on after a command.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// Where a session stands: signed in or not, and as whom.
#[derive(Debug)]
enum State {
    NotAuthenticated,
    Authenticated(Arc<Official>),
}

/// One connection's session.
pub(super) struct Session<'s> {
    service: &'s ManageSieveService,
    stream: Option<Stream>,
    _admission: Admission,
    peer: SocketAddr,
    listener: ListenerKind,
    handshake_timeout: Duration,
    shutdown: CancellationToken,
    reader: Reader,
    out: Vec<u8>,
    state: State,
    auth_failures: Strikes,
    errors: Strikes,
}

impl<'s> Session<'s> {
    pub(super) fn new(service: &'s ManageSieveService, conn: Connection) -> Session<'s> {
        let (peer, listener, handshake_timeout) = (conn.peer, conn.kind, conn.handshake_timeout);
        let shutdown = conn.shutdown.clone();
        let (stream, admission) = conn.into_stream();
        let max_command = (crate::sieve::MAX_SCRIPT_BYTES + MAX_LINE) as u32;
        Session {
            service,
            stream: Some(stream),
            _admission: admission,
            peer,
            listener,
            handshake_timeout,
            shutdown,
            reader: Reader::new(MAX_LINE, max_command),
            out: Vec::with_capacity(1024),
            state: State::NotAuthenticated,
            auth_failures: Strikes::new(service.settings.max_auth_failures),
            errors: Strikes::new(service.settings.max_errors),
        }
    }

    /// Greets the client with the capabilities and serves commands until the end.
    pub(super) async fn run(mut self) {
        self.capabilities();
        self.respond(&Response::ok(reply::GREETING));
        loop {
            if self.flush().await.is_err() {
                return;
            }
            let Some(received) = self.read().await else {
                self.respond(&Response::bye(None, reply::BYE_SHUTDOWN));
                break;
            };
            let flow = match received {
                Ok(Received::Words(words)) => match Command::from_words(words) {
                    Ok(command) => match self.command(command).await {
                        Ok(flow) => flow,
                        Err(End) => return,
                    },
                    Err(why) => self.refuse(Response::no(None, why)),
                },
                Ok(Received::TooLarge) => {
                    self.refuse(Response::no(Some(reply::MAX_SIZE), reply::TOO_LARGE))
                }
                Ok(Received::Malformed(why)) => self.refuse(Response::no(None, why)),
                Err(fault) => {
                    self.read_fault(fault);
                    Flow::Close
                }
            };
            if flow == Flow::Close {
                break;
            }
        }
        let _ = self.flush().await;
        if let Some(mut stream) = self.stream.take() {
            let _ = stream.shutdown().await;
        }
    }

    /// The next message, or `None` once the server begins to shut down.
    async fn read(&mut self) -> Option<Result<Received, ReadFault>> {
        let idle = self.service.settings.idle_timeout;
        let stream = self.stream.as_mut()?;
        let next = self.reader.next(stream, idle);
        crate::net::unless_shutting_down(next, &self.shutdown).await
    }

    async fn command(&mut self, command: Command) -> Result<Flow, End> {
        let signed_in = match &self.state {
            State::Authenticated(official) => Some(Arc::clone(official)),
            State::NotAuthenticated => None,
        };
        let response = match (command.name.as_str(), signed_in) {
            ("CAPABILITY", _) => {
                self.capabilities();
                Response::ok(reply::DONE)
            }
            ("NOOP", _) => return Ok(self.noop(&command.args)),
            ("LOGOUT", _) => {
                self.respond(&Response::ok(reply::LOGOUT));
                return Ok(Flow::Close);
            }
            ("STARTTLS", None) => return self.start_tls().await,
            ("STARTTLS", Some(_)) => Response::no(None, reply::TLS_AFTER_LOGIN),
            ("AUTHENTICATE", None) => return self.authenticate(&command.args).await,
            ("AUTHENTICATE", Some(_)) => Response::no(None, reply::ALREADY_AUTHENTICATED),
            ("UNAUTHENTICATE", Some(_)) => {
                self.state = State::NotAuthenticated;
                Response::ok(reply::UNAUTHENTICATED)
            }
            (name, Some(official)) if scripts::handles(name) => {
                let service = self.service;
                match scripts::run(service, &official, &command, &mut self.out).await {
                    Ok(response) => response,
                    Err(misused) => return Ok(self.refuse(misused)),
                }
            }
            (name, None) if scripts::handles(name) || name == "UNAUTHENTICATE" => {
                return Ok(self.refuse(Response::no(None, reply::NOT_AUTHENTICATED)))
            }
            _ => return Ok(self.refuse(Response::no(None, reply::UNKNOWN_COMMAND))),
        };
        self.respond(&response);
        Ok(Flow::Continue)
    }

    /// The capability lines (RFC 5804 §1.7), as in the greeting and after STARTTLS.
    fn capabilities(&mut self) {
        let tls = self.is_tls();
        let mut lines: Vec<(&str, String)> = vec![
            ("IMPLEMENTATION", "congvu".into()),
            ("SASL", if tls { "PLAIN".into() } else { String::new() }),
            ("SIEVE", self.service.extensions.clone()),
        ];
        if !tls && self.service.tls.is_some() {
            lines.push(("STARTTLS", String::new()));
        }
        lines.push(("MAXREDIRECTS", crate::sieve::MAX_REDIRECTS.to_string()));
        if let State::Authenticated(official) = &self.state {
            lines.push(("OWNER", official.login.to_string()));
        }
        lines.push(("VERSION", "1.0".into()));
        for (name, value) in lines {
            reply::string(&mut self.out, name.as_bytes());
            if name != "STARTTLS" {
                self.out.push(b' ');
                reply::string(&mut self.out, value.as_bytes());
            }
            self.out.extend_from_slice(b"\r\n");
        }
    }

    /// NOOP, echoing the client's tag when it gave one (RFC 5804 §2.14).
    fn noop(&mut self, args: &[Word]) -> Flow {
        match args {
            [] => self.respond(&Response::ok(reply::DONE)),
            [Word::Text(tag)] => {
                self.out.extend_from_slice(b"OK (TAG ");
                reply::string(&mut self.out, tag);
                self.out.extend_from_slice(b") ");
                reply::string(&mut self.out, reply::DONE.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            _ => return self.refuse(Response::no(None, reply::BAD_ARGUMENTS)),
        }
        Flow::Continue
    }

    /// STARTTLS (RFC 5804 §2.2): OK, the handshake, and the capabilities again over TLS.
    async fn start_tls(&mut self) -> Result<Flow, End> {
        if self.is_tls() {
            return Ok(self.refuse(Response::no(None, reply::TLS_ACTIVE)));
        }
        let Some(acceptor) = self.service.tls.clone() else {
            return Ok(self.refuse(Response::no(None, reply::NO_TLS)));
        };
        self.respond(&Response::ok(reply::TLS_GO));
        self.flush().await?;
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return Err(End);
        };
        let timeout = self.handshake_timeout;
        let upgraded =
            crate::net::upgrade_to_tls(&acceptor, tcp, timeout, self.listener, self.peer).await;
        self.stream = Some(upgraded.ok_or(End)?);
        self.reader.discard_buffered();
        self.capabilities();
        self.respond(&Response::ok(reply::DONE));
        Ok(Flow::Continue)
    }

    /// AUTHENTICATE "PLAIN" with the response inline or after an empty challenge.
    async fn authenticate(&mut self, args: &[Word]) -> Result<Flow, End> {
        if !self.is_tls() {
            let refusal = Response::no(Some(reply::ENCRYPT_NEEDED), reply::TLS_FIRST);
            return Ok(self.refuse(refusal));
        }
        let (mechanism, initial) = match args {
            [Word::Text(mechanism)] => (mechanism, None),
            [Word::Text(mechanism), Word::Text(initial)] => (mechanism, Some(initial.clone())),
            _ => return Ok(self.refuse(Response::no(None, reply::BAD_ARGUMENTS))),
        };
        if !mechanism.eq_ignore_ascii_case(b"PLAIN") {
            return Ok(self.refuse(Response::no(None, reply::AUTH_MECHANISM)));
        }
        let encoded = match initial {
            Some(initial) => initial,
            None => match self.sasl_response().await? {
                Some(response) => response,
                None => return Ok(self.respond_flow(Response::no(None, reply::AUTH_CANCELLED))),
            },
        };
        let credentials = STANDARD
            .decode(&encoded)
            .ok()
            .and_then(|bytes| plain_credentials(&bytes).ok());
        let Some((user, password)) = credentials else {
            return Ok(self.failed_login(reply::AUTH_MALFORMED));
        };
        Ok(self.check_credentials(&user, &password).await)
    }

    /// Sends the empty challenge and reads the client's answer: `None` when it cancels.
    async fn sasl_response(&mut self) -> Result<Option<Vec<u8>>, End> {
        self.out.extend_from_slice(b"\"\"\r\n");
        self.flush().await?;
        match self.read().await {
            Some(Ok(Received::Words(words))) => match words.as_slice() {
                [Word::Text(text)] if text.as_slice() == b"*" => Ok(None),
                [Word::Text(text)] => Ok(Some(text.clone())),
                _ => Ok(Some(Vec::new())),
            },
            Some(Ok(_)) => Ok(Some(Vec::new())),
            Some(Err(fault)) => {
                self.read_fault(fault);
                let _ = self.flush().await;
                Err(End)
            }
            None => Err(End),
        }
    }

    async fn check_credentials(&mut self, user: &str, password: &str) -> Flow {
        let outcome = self
            .service
            .authenticator
            .login_official(&LoginName::parse(user), password, self.peer.ip())
            .await;
        crate::directory::count_login("managesieve", &outcome);
        match outcome {
            Ok(LoginOutcome::Accepted(principal)) => match *principal {
                Principal::Official(official) => {
                    tracing::info!(login = %official.login, peer = %self.peer, "ManageSieve login");
                    self.state = State::Authenticated(Arc::new(official));
                    self.respond_flow(Response::ok(reply::AUTH_OK))
                }
                Principal::Service(_) => self.failed_login(reply::AUTH_FAILED),
            },
            Ok(LoginOutcome::MustChange(official)) => {
                tracing::info!(login = %official.login, peer = %self.peer,
                    "ManageSieve login with an initial password refused");
                let text = reply::must_change(&self.service.settings.portal_url);
                self.respond_flow(Response::no_with(None, text))
            }
            Ok(LoginOutcome::Refused(_)) => self.failed_login(reply::AUTH_FAILED),
            Err(error) => {
                tracing::error!(%error, "ManageSieve login could not be checked");
                let unavailable = Response::no(Some(reply::TRY_LATER), reply::AUTH_UNAVAILABLE);
                self.respond_flow(unavailable)
            }
        }
    }

    /// One more failed login; the session closes after too many.
    fn failed_login(&mut self, text: &'static str) -> Flow {
        self.respond(&Response::no(None, text));
        if self.auth_failures.add() {
            self.respond(&Response::bye(None, reply::BYE_TOO_MANY_FAILURES));
            return Flow::Close;
        }
        Flow::Continue
    }

    /// A refused command: its NO, and the session closes after too many.
    fn refuse(&mut self, response: Response) -> Flow {
        self.respond(&response);
        if self.errors.add() {
            self.respond(&Response::bye(None, reply::BYE_TOO_MANY_ERRORS));
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Says why the connection ends when a read fails.
    fn read_fault(&mut self, fault: ReadFault) {
        let text = match fault {
            ReadFault::Closed => return,
            ReadFault::TimedOut => reply::BYE_IDLE,
            ReadFault::LineTooLong => reply::BYE_LINE,
            ReadFault::LiteralTooLarge => reply::BYE_LITERAL,
        };
        self.respond(&Response::bye(None, text));
    }

    fn respond(&mut self, response: &Response) {
        self.out.extend_from_slice(&response.to_wire());
    }

    fn respond_flow(&mut self, response: Response) -> Flow {
        self.respond(&response);
        Flow::Continue
    }

    fn is_tls(&self) -> bool {
        matches!(self.stream, Some(Stream::Tls(_)))
    }

    async fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let stream = self.stream.as_mut().ok_or(End)?;
        let written = stream.write_all(&self.out).await;
        self.out.clear();
        written.map_err(|_| End)?;
        stream.flush().await.map_err(|_| End)
    }
}
