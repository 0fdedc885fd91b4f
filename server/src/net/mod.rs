//! Listeners and connections: binding, the accept loop with back-off and shutdown,
//! connection limits, implicit TLS, and handing each connection to its protocol's session.
//! Owns no protocol logic.

mod limits;
pub mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::model::{ListenerKind, Refusal};
pub use limits::{Admission, ConnectionLimits, Strikes, REFUSAL_HANDSHAKES};

impl fmt::Display for ListenerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection's byte stream: plain TCP or TLS over it.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => std::pin::Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => std::pin::Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// An admitted connection, ready for its protocol session.
#[derive(Debug)]
pub struct Connection {
    pub kind: ListenerKind,
    pub peer: SocketAddr,
    pub stream: Stream,
    /// Cancelled when the server begins to shut down: sessions finish the command in hand
    /// and close.
    pub shutdown: CancellationToken,
    /// How long a TLS handshake may take, on an implicit-TLS port and after STARTTLS alike
    /// (see [`upgrade_to_tls`]).
    pub handshake_timeout: Duration,
    _admission: Admission,
}

impl Connection {
    /// Splits off the stream, keeping the connection's place in the limits for as long as
    /// the returned [`Admission`] lives: a session that takes its stream must hold it.
    pub fn into_stream(self) -> (Stream, Admission) {
        (self.stream, self._admission)
    }
}

/// Runs a protocol session over an admitted connection, or tells a refused peer why.
pub trait ConnectionHandler: Send + Sync + 'static {
    /// Serves one connection until it ends.
    fn serve(&self, conn: Connection) -> impl std::future::Future<Output = ()> + Send;
    /// Tells a peer over a limit that the server is busy, in its protocol's words: over
    /// TLS already on an implicit-TLS port.
    fn refuse(
        &self,
        kind: ListenerKind,
        stream: Stream,
        why: Refusal,
    ) -> impl std::future::Future<Output = ()> + Send;
}

/// Everything an accept loop needs besides its socket.
#[derive(Clone)]
pub struct AcceptContext {
    pub limits: Arc<ConnectionLimits>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// How long a TLS handshake on an implicit-TLS port may take.
    pub handshake_timeout: Duration,
}

impl fmt::Debug for AcceptContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptContext")
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// The `Debug` of a protocol service: its settings and whether it offers TLS. The shared
/// domain parts it holds (directory, mail store, caches) are left out.
pub fn debug_service(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    settings: &dyn fmt::Debug,
    tls: bool,
) -> fmt::Result {
    f.debug_struct(name)
        .field("settings", settings)
        .field("tls", &tls)
        .finish_non_exhaustive()
}

/// Why a listener could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address} for {kind}: {source}{hint}")]
pub struct BindError {
    pub kind: ListenerKind,
    pub address: SocketAddr,
    #[source]
    pub source: std::io::Error,
    hint: &'static str,
}

impl BindError {
    fn new(kind: ListenerKind, address: SocketAddr, source: std::io::Error) -> BindError {
        let hint = match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (another program uses this port: stop it or change the port in the config)"
            }
            std::io::ErrorKind::PermissionDenied => " (ports below 1024 need CAP_NET_BIND_SERVICE)",
            _ => "",
        };
        BindError {
            kind,
            address,
            source,
            hint,
        }
    }
}

/// Binds `address` for `kind`, naming both in the error; returns the listener and the
/// address it really has (the port chosen when `address` asked for port 0).
pub async fn bind(
    kind: ListenerKind,
    address: SocketAddr,
) -> Result<(TcpListener, SocketAddr), BindError> {
    let error = |source| BindError::new(kind, address, source);
    let listener = TcpListener::bind(address).await.map_err(error)?;
    let local = listener.local_addr().map_err(error)?;
    Ok((listener, local))
}

/// Accepts connections on `listener` until shutdown, admitting each under the limits and
/// spawning its session on the tracker.
pub async fn accept_loop<H: ConnectionHandler>(
    kind: ListenerKind,
    listener: TcpListener,
    handler: Arc<H>,
    ctx: AcceptContext,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::from_millis(5);
                pair
            }
            Err(e) => {
                // Usually EMFILE/ENFILE: wait for connections to close instead of spinning.
                tracing::warn!(listener = %kind, error = %e, "accept failed; backing off");
                tokio::select! {
                    _ = ctx.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        metrics::counter!("congvu_connections_total", "listener" => kind.as_str()).increment(1);
        // Every protocol here answers a request with a reply the client waits for; Nagle's
        // algorithm would hold a short reply back behind an unacknowledged long one.
        let _ = stream.set_nodelay(true);
        let admission = match ctx.limits.admit(peer.ip()) {
            Ok(a) => a,
            Err(why) => {
                metrics::counter!("congvu_connections_refused_total", "listener" => kind.as_str(), "reason" => why.as_str())
                    .increment(1);
                tracing::info!(listener = %kind, %peer, reason = why.as_str(), "connection refused");
                spawn_refusal(kind, stream, peer, why, &handler, &ctx);
                continue;
            }
        };
        let handler = Arc::clone(&handler);
        let tracker = ctx.tracker.clone();
        let ctx = ctx.clone();
        // Every log line of the connection, from its TLS handshake to its close, carries
        // its id: one grep follows one client.
        let span = tracing::info_span!(
            "connection",
            id = next_connection_id(),
            listener = kind.as_str(),
            %peer
        );
        let session = async move {
            let Some(stream) = open_stream(kind, stream, peer, &ctx).await else {
                return;
            };
            let conn = Connection {
                kind,
                peer,
                stream,
                shutdown: ctx.shutdown.clone(),
                handshake_timeout: ctx.handshake_timeout,
                _admission: admission,
            };
            handler.serve(conn).await;
        };
        tracker.spawn(tracing::Instrument::instrument(session, span));
    }
}

/// How long a refused peer's TLS handshake may take: less than an admitted one's, since the
/// refusal holds one of the few [`REFUSAL_HANDSHAKES`].
const REFUSAL_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Tells a refused peer why, in a task of its own. On an implicit-TLS port the refusal goes
/// inside TLS, as the client expects nothing else; when TLS is not set up or
/// [`REFUSAL_HANDSHAKES`] are under way already, the peer is closed without a word.
fn spawn_refusal<H: ConnectionHandler>(
    kind: ListenerKind,
    tcp: TcpStream,
    peer: SocketAddr,
    why: Refusal,
    handler: &Arc<H>,
    ctx: &AcceptContext,
) {
    let handshake = if kind.implicit_tls() {
        match (ctx.tls.clone(), ctx.limits.refusal_handshake()) {
            (Some(acceptor), Some(place)) => Some((acceptor, place)),
            _ => return,
        }
    } else {
        None
    };
    let handler = Arc::clone(handler);
    let timeout = ctx.handshake_timeout.min(REFUSAL_HANDSHAKE_TIMEOUT);
    ctx.tracker.spawn(async move {
        let Some((acceptor, place)) = handshake else {
            return handler.refuse(kind, Stream::Plain(tcp), why).await;
        };
        if let Some(tls) = upgrade_to_tls(&acceptor, tcp, timeout, kind, peer).await {
            handler.refuse(kind, tls, why).await;
        }
        drop(place);
    });
}

/// A number for each connection this process accepts, for the logs.
fn next_connection_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Completes the TLS handshake on implicit-TLS listeners, within the handshake timeout.
async fn open_stream(
    kind: ListenerKind,
    tcp: TcpStream,
    peer: SocketAddr,
    ctx: &AcceptContext,
) -> Option<Stream> {
    if !kind.implicit_tls() {
        return Some(Stream::Plain(tcp));
    }
    let acceptor = ctx.tls.as_ref()?;
    upgrade_to_tls(acceptor, tcp, ctx.handshake_timeout, kind, peer).await
}

/// Waits for `next` (a client's next request) unless the server begins to shut down first,
/// `None` then. Shutdown is looked at first: once it has begun, a request that has already
/// arrived is refused like one still to come, the same on every protocol.
pub async fn unless_shutting_down<T>(
    next: impl std::future::Future<Output = T>,
    shutdown: &CancellationToken,
) -> Option<T> {
    tokio::select! {
        biased;
        () = shutdown.cancelled() => None,
        ready = next => Some(ready),
    }
}

/// The TLS handshake over `tcp`, within `timeout`: the one every implicit-TLS listener and
/// every STARTTLS (SMTP, IMAP, LDAP) goes through. `None` when it fails or takes too long,
/// which is logged; the caller closes the connection.
pub async fn upgrade_to_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    timeout: Duration,
    kind: ListenerKind,
    peer: SocketAddr,
) -> Option<Stream> {
    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some(Stream::Tls(Box::new(tls))),
        Ok(Err(e)) => {
            tracing::debug!(listener = %kind, %peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(listener = %kind, %peer, "TLS handshake timed out");
            None
        }
    }
}
