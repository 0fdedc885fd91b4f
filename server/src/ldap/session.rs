//! One LDAP connection: read requests, answer each in order, upgrade to TLS on StartTLS.
//!
//! Requests are answered one at a time, in arrival order. Before each, every request that
//! has already arrived is read into a queue, so an Abandon can cancel a queued request and a
//! client pipelining past `max_pending_requests` is answered `busy` instead of buffered.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{FutureExt, SinkExt, StreamExt};
use ldap3_proto::proto::{LdapMsg, LdapOp, LdapResult, LdapResultCode};
use ldap3_proto::DisconnectionNotice;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Framed;

use super::access::Identity;
use super::frame::{FrameError, LdapFrames};
use super::schema::{OID_PASSWORD_MODIFY, OID_START_TLS, OID_WHO_AM_I};
use super::search::PagedSearch;
use super::{bind, extended, reply, search, LdapService};
use crate::net::{Connection, ListenerKind, Stream};

type Wire = Framed<Stream, LdapFrames>;

/// A connection's state between requests.
#[derive(Debug)]
pub struct Session<'a> {
    pub service: &'a LdapService,
    pub peer: SocketAddr,
    pub tls: bool,
    pub identity: Identity,
    /// Bound with an initial password: until it is changed the connection may only change
    /// it, ask who it is, start TLS and leave (as OpenLDAP's ppolicy with `pwdReset`).
    pub must_change: bool,
    /// Paged searches in progress, by cookie.
    pub pages: HashMap<Vec<u8>, PagedSearch>,
}

impl Session<'_> {
    /// Whether a password may be sent on this connection: over TLS, or in plain text from
    /// the loopback address when the configuration allows it for local tools.
    pub fn may_receive_password(&self) -> bool {
        self.tls
            || (self.service.settings.allow_plaintext_bind_on_loopback
                && self.peer.ip().is_loopback())
    }
}

/// What the loop does after answering a request.
#[derive(Debug)]
pub enum Next {
    Continue,
    /// StartTLS was accepted: upgrade before reading anything else.
    StartTls,
    Close,
}

/// The answers to one request and what comes next.
#[derive(Debug)]
pub struct Reply {
    /// Search entries, already encoded ([`super::ber`]): sent before `messages`.
    pub entries: Entries,
    pub messages: Vec<LdapMsg>,
    pub next: Next,
}

/// Search result entries written as BER, and how many.
#[derive(Debug, Default)]
pub struct Entries {
    pub encoded: BytesMut,
    pub count: usize,
}

impl Reply {
    pub fn one(msg: LdapMsg) -> Reply {
        Reply::of(vec![msg], Next::Continue)
    }

    pub fn of(messages: Vec<LdapMsg>, next: Next) -> Reply {
        Reply {
            entries: Entries::default(),
            messages,
            next,
        }
    }
}

/// An `LdapResult` with no matched DN or referral.
pub fn result(code: LdapResultCode, message: impl Into<String>) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.into(),
        referral: Vec::new(),
    }
}

/// The response a request of `op`'s kind takes, carrying `code`; `None` for requests that
/// have no response (Unbind, Abandon).
pub fn failure(msgid: i32, op: &LdapOp, code: LdapResultCode, message: &str) -> Option<LdapMsg> {
    let res = result(code, message);
    let op = match op {
        LdapOp::BindRequest(_) => LdapOp::BindResponse(ldap3_proto::proto::LdapBindResponse {
            res,
            saslcreds: None,
        }),
        LdapOp::SearchRequest(_) => LdapOp::SearchResultDone(res),
        LdapOp::ModifyRequest(_) => LdapOp::ModifyResponse(res),
        LdapOp::AddRequest(_) => LdapOp::AddResponse(res),
        LdapOp::DelRequest(_) => LdapOp::DelResponse(res),
        LdapOp::ModifyDNRequest(_) => LdapOp::ModifyDNResponse(res),
        LdapOp::CompareRequest(_) => LdapOp::CompareResult(res),
        LdapOp::ExtendedRequest(_) => {
            LdapOp::ExtendedResponse(ldap3_proto::proto::LdapExtendedResponse {
                res,
                name: None,
                value: None,
            })
        }
        _ => return None,
    };
    Some(LdapMsg {
        msgid,
        op,
        ctrl: Vec::new(),
    })
}

/// Serves `conn` to the end.
pub async fn run(service: &LdapService, conn: Connection) {
    let settings = &service.settings;
    let frames = LdapFrames::new(settings.max_request_bytes_unbound);
    let mut wire = Framed::new(conn.stream, frames);
    let mut session = Session {
        service,
        peer: conn.peer,
        tls: conn.kind == ListenerKind::Ldaps,
        identity: Identity::Anonymous,
        must_change: false,
        pages: HashMap::new(),
    };
    let mut queue: VecDeque<LdapMsg> = VecDeque::new();
    loop {
        if queue.is_empty() {
            match next_request(&session, &mut wire, &conn.shutdown).await {
                Some(msg) => queue.push_back(msg),
                None => return,
            }
        }
        if take_buffered(&session, &mut wire, &mut queue)
            .await
            .is_none()
        {
            return;
        }
        let Some(request) = queue.pop_front() else {
            continue;
        };
        let Some(next) = answer(&mut session, &mut wire, request).await else {
            return;
        };
        match next {
            Next::Continue => {}
            Next::Close => {
                let _ = wire.get_mut().shutdown().await;
                return;
            }
            Next::StartTls => {
                match start_tls(service, wire, &queue, conn.handshake_timeout, conn.peer).await {
                    Some(upgraded) => {
                        wire = upgraded;
                        session.tls = true;
                    }
                    None => return,
                }
            }
        }
    }
}

/// Waits for the next request; `None` once the connection is over (closed, idle too long,
/// refused input or the server shutting down, each told to the client where it can be).
async fn next_request(
    session: &Session<'_>,
    wire: &mut Wire,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<LdapMsg> {
    let idle = session.service.settings.idle_timeout;
    let next = crate::net::unless_shutting_down(tokio::time::timeout(idle, wire.next()), shutdown);
    let Some(next) = next.await else {
        notify(wire, LdapResultCode::Unavailable, reply::SHUTTING_DOWN).await;
        return None;
    };
    match next {
        Err(_) => {
            notify(wire, LdapResultCode::Unavailable, reply::IDLE).await;
            None
        }
        Ok(None) => None,
        Ok(Some(Err(e))) => {
            refuse_input(wire, session.peer, &e).await;
            None
        }
        Ok(Some(Ok(msg))) => Some(msg),
    }
}

/// Takes in whatever else has already arrived and been read. Only the read buffer is looked
/// at: trying the socket too would cost a system call per request, and pipelined requests
/// arrive in the same reads anyway. `None` once the connection is over.
async fn take_buffered(
    session: &Session<'_>,
    wire: &mut Wire,
    queue: &mut VecDeque<LdapMsg>,
) -> Option<()> {
    let max_pending = session.service.settings.max_pending_requests;
    while !wire.read_buffer().is_empty() {
        let Some(ready) = wire.next().now_or_never() else {
            break;
        };
        match ready {
            None => return None,
            Some(Err(e)) => {
                refuse_input(wire, session.peer, &e).await;
                return None;
            }
            Some(Ok(msg)) => {
                if let Some(busy) = admit(queue, msg, max_pending) {
                    wire.send(busy).await.ok()?;
                }
            }
        }
    }
    Some(())
}

/// Handles one request and sends its reply; what the connection does next, or `None` when
/// the reply could not be sent.
async fn answer(session: &mut Session<'_>, wire: &mut Wire, request: LdapMsg) -> Option<Next> {
    let operation = operation_name(&request.op);
    let started = std::time::Instant::now();
    let reply = handle(session, request).await;
    record_operation(operation, &reply, started.elapsed());
    // Entries go straight into the write buffer, ahead of the messages that follow them.
    wire.write_buffer_mut()
        .extend_from_slice(&reply.entries.encoded);
    for msg in reply.messages {
        wire.feed(msg).await.ok()?;
    }
    wire.flush().await.ok()?;
    // The request cap grows once the client has proved who it is.
    let settings = &session.service.settings;
    let cap = match session.identity {
        Identity::Anonymous => settings.max_request_bytes_unbound,
        _ => settings.max_request_bytes,
    };
    wire.codec_mut().set_max_bytes(cap);
    Some(reply.next)
}

/// Queues a request, or applies an Abandon to the queue. Returns a `busy` answer when the
/// queue is full.
fn admit(queue: &mut VecDeque<LdapMsg>, msg: LdapMsg, max_pending: usize) -> Option<LdapMsg> {
    if let LdapOp::AbandonRequest(target) = msg.op {
        queue.retain(|m| m.msgid != target);
        return None;
    }
    if queue.len() >= max_pending {
        return failure(
            msg.msgid,
            &msg.op,
            LdapResultCode::Busy,
            reply::TOO_MANY_WAITING,
        );
    }
    queue.push_back(msg);
    None
}

/// An operation's name in the metrics.
fn operation_name(op: &LdapOp) -> &'static str {
    match op {
        LdapOp::BindRequest(_) => "bind",
        LdapOp::SearchRequest(_) => "search",
        LdapOp::CompareRequest(_) => "compare",
        LdapOp::ExtendedRequest(_) => "extended",
        LdapOp::UnbindRequest => "unbind",
        LdapOp::AbandonRequest(_) => "abandon",
        LdapOp::AddRequest(_) => "add",
        LdapOp::ModifyRequest(_) => "modify",
        LdapOp::DelRequest(_) => "delete",
        LdapOp::ModifyDNRequest(_) => "modify_dn",
        _ => "other",
    }
}

/// Counts an answered operation by its result code, and a search's entries.
fn record_operation(operation: &'static str, reply: &Reply, took: std::time::Duration) {
    let code = reply.messages.iter().rev().find_map(|m| match &m.op {
        LdapOp::BindResponse(r) => Some(&r.res.code),
        LdapOp::SearchResultDone(res)
        | LdapOp::CompareResult(res)
        | LdapOp::ModifyResponse(res)
        | LdapOp::AddResponse(res)
        | LdapOp::DelResponse(res)
        | LdapOp::ModifyDNResponse(res) => Some(&res.code),
        LdapOp::ExtendedResponse(r) => Some(&r.res.code),
        _ => None,
    });
    let result = code.map_or_else(|| "none".to_string(), |c| snake_case(&format!("{c:?}")));
    let entries = (operation == "search").then_some(reply.entries.count);
    crate::telemetry::ldap_operation(operation, result, entries, took);
}

/// `InvalidCredentials` -> `invalid_credentials`, as Prometheus label values are written.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Answers one request.
async fn handle(session: &mut Session<'_>, msg: LdapMsg) -> Reply {
    let LdapMsg { msgid, op, ctrl } = msg;
    if let Some(oid) = critical_unknown_control(&ctrl) {
        let message = format!("control {oid} is not supported");
        return reply_or_continue(failure(
            msgid,
            &op,
            LdapResultCode::UnavailableCriticalExtension,
            &message,
        ));
    }
    if session.must_change && !allowed_before_change(&op) {
        let message = format!(
            "password must be changed first: use Password Modify, or sign in at {} to choose a new one",
            session.service.settings.portal_url
        );
        return reply_or_continue(failure(
            msgid,
            &op,
            LdapResultCode::UnwillingToPerform,
            &message,
        ));
    }
    match op {
        LdapOp::BindRequest(request) => bind::bind(session, msgid, request, &ctrl).await,
        LdapOp::SearchRequest(request) => search::search(session, msgid, request, &ctrl).await,
        LdapOp::CompareRequest(request) => search::compare(session, msgid, request).await,
        LdapOp::ExtendedRequest(request) => extended::extended(session, msgid, request).await,
        LdapOp::UnbindRequest => Reply::of(Vec::new(), Next::Close),
        LdapOp::AbandonRequest(_) => Reply::of(Vec::new(), Next::Continue),
        op @ (LdapOp::AddRequest(_)
        | LdapOp::ModifyRequest(_)
        | LdapOp::DelRequest(_)
        | LdapOp::ModifyDNRequest(_)) => reply_or_continue(failure(
            msgid,
            &op,
            LdapResultCode::UnwillingToPerform,
            reply::READ_ONLY,
        )),
        // A response sent to the server, or an operation LDAPv3 clients do not send.
        _ => Reply::of(
            vec![DisconnectionNotice::gen_response(
                LdapResultCode::ProtocolError,
                reply::UNEXPECTED_MESSAGE,
            )],
            Next::Close,
        ),
    }
}

/// What a connection bound with an initial password may still ask.
fn allowed_before_change(op: &LdapOp) -> bool {
    match op {
        LdapOp::BindRequest(_) | LdapOp::UnbindRequest | LdapOp::AbandonRequest(_) => true,
        LdapOp::ExtendedRequest(request) => matches!(
            request.name.as_str(),
            OID_START_TLS | OID_WHO_AM_I | OID_PASSWORD_MODIFY
        ),
        _ => false,
    }
}

fn reply_or_continue(msg: Option<LdapMsg>) -> Reply {
    Reply::of(msg.into_iter().collect(), Next::Continue)
}

/// The OID of a control marked critical that congvu does not implement.
fn critical_unknown_control(controls: &[ldap3_proto::control::LdapControl]) -> Option<&str> {
    controls.iter().find_map(|c| match c {
        ldap3_proto::control::LdapControl::Unknown {
            oid,
            criticality: true,
            ..
        } => Some(oid.as_str()),
        _ => None,
    })
}

/// Completes StartTLS. Anything the client sent after the request and before the
/// handshake could have been injected by a man in the middle, so it ends the session.
async fn start_tls(
    service: &LdapService,
    wire: Wire,
    queue: &VecDeque<LdapMsg>,
    handshake_timeout: Duration,
    peer: SocketAddr,
) -> Option<Wire> {
    let parts = wire.into_parts();
    if !parts.read_buf.is_empty() || !queue.is_empty() {
        tracing::info!("LDAP client sent data after StartTLS before the handshake; closing");
        return None;
    }
    let Stream::Plain(tcp) = parts.io else {
        return None;
    };
    let acceptor = service.tls.as_ref()?;
    let tls =
        crate::net::upgrade_to_tls(acceptor, tcp, handshake_timeout, ListenerKind::Ldap, peer)
            .await?;
    Some(Framed::new(tls, parts.codec))
}

/// Ends a connection whose input cannot be read as LDAP, telling the client why.
async fn refuse_input(wire: &mut Wire, peer: SocketAddr, error: &FrameError) {
    tracing::info!(%peer, %error, "LDAP input refused; disconnecting");
    let message = match error {
        FrameError::TooLarge(_) => "request too large",
        _ => "malformed request",
    };
    notify(wire, LdapResultCode::ProtocolError, message).await;
}

/// Sends a Notice of Disconnection and closes.
async fn notify(wire: &mut Wire, code: LdapResultCode, message: &str) {
    let notice = DisconnectionNotice::gen_response(code, message);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wire.send(notice)).await;
    let _ = wire.get_mut().shutdown().await;
}
