//! The HTTP listeners: the officials' portal ([`portal`]), `/healthz` for load balancers and
//! systemd watchdogs, `/metrics` in the Prometheus text format, and mail client
//! autoconfiguration ([`autoconfig`]).
//!
//! HTTP connections come through the same accept loop as the mail protocols (`net`): the same
//! global and per-address connection limits, implicit TLS on the HTTPS listener, graceful
//! shutdown. hyper serves each one with a deadline for a request's headers, and every
//! request gets a deadline for its body and handler, so a client trickling bytes holds a
//! connection for seconds, not forever. Every response carries the security headers.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

use crate::net::{Connection, ListenerKind, Refusal, Stream};
use crate::store::Store;

pub(crate) mod autoconfig;
pub mod portal;

pub use autoconfig::{Autoconfig, AutoconfigSettings, MAX_AUTODISCOVER_REQUEST_BYTES};
pub use portal::{Portal, PortalSettings, MAX_FORM_BYTES};

/// Where a request came from: put into every request's extensions by [`HttpService`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub address: SocketAddr,
    /// Whether the connection is TLS (the HTTPS listener).
    pub tls: bool,
}

/// The HTTP listeners' deadlines, and how browsers reach them.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    /// For a request's headers to arrive, counted from its first byte.
    pub header_timeout: Duration,
    /// For its body to arrive and its answer to be made.
    pub request_timeout: Duration,
    /// Whether the portal's public address is `https://` (a TLS proxy may sit in front).
    pub public_https: bool,
}

/// Serves HTTP connections admitted by the accept loop.
#[derive(Debug, Clone)]
pub struct HttpService {
    router: Router,
    settings: HttpSettings,
}

#[derive(Clone)]
struct HttpState {
    store: Store,
    metrics: PrometheusHandle,
}

impl HttpService {
    /// Health and metrics over `store`, client autoconfiguration and the portal.
    pub fn new(
        store: Store,
        autoconfig: Autoconfig,
        portal: Portal,
        settings: HttpSettings,
    ) -> HttpService {
        let state = HttpState {
            store,
            metrics: crate::telemetry::recorder(),
        };
        let router = Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics_text))
            .with_state(state)
            .merge(autoconfig.router())
            .merge(portal.router())
            .layer(middleware::from_fn_with_state(
                settings.request_timeout,
                request_deadline,
            ))
            .layer(middleware::from_fn_with_state(
                settings.public_https,
                security_headers,
            ))
            .layer(middleware::from_fn(count_request));
        HttpService { router, settings }
    }

    /// Serves one connection until the client closes it, a deadline passes, or the server
    /// shuts down (the request in hand is finished first).
    pub async fn serve(&self, conn: Connection) {
        let peer = Peer {
            address: conn.peer,
            tls: conn.kind == ListenerKind::Https,
        };
        let shutdown = conn.shutdown.clone();
        // The admission is held for as long as the connection is served.
        let (stream, _admission) = conn.into_stream();
        let router = self.router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<_>| {
            request.extensions_mut().insert(peer);
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.settings.header_timeout)
            .max_buf_size(MAX_HEADER_BYTES);
        let connection = http.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(peer = %peer.address, error = %e, "HTTP connection ended");
                }
            }
            _ = shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }
}

/// Largest buffered request head; hyper answers 431 past it.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Tells a client over a connection limit that the server is busy: a 503, over TLS already
/// on the HTTPS port.
pub async fn refuse(mut stream: Stream, why: Refusal) {
    let text = match why {
        Refusal::ServerBusy => "the server is busy; try again shortly\n",
        Refusal::TooManyFromAddress => "too many connections from your address\n",
    };
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        stream.write_all(response.as_bytes()),
    )
    .await;
    let _ = stream.shutdown().await;
}

/// Counts every request by the route it matched (the route's pattern, never the path the
/// client sent, so the label set stays bounded) and the class of its final status.
async fn count_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::telemetry::http_request(route, response.status().as_u16(), started.elapsed());
    response
}

/// Ends a request whose body or answer takes longer than the deadline with 408.
async fn request_deadline(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            "the request took too long\n",
        )
            .into_response(),
    }
}

/// The Content-Security-Policy of every response: nothing but our own stylesheet and
/// images, no script at all, no framing, forms posted only to ourselves.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

impl Peer {
    /// Whether the browser reached us over HTTPS: on the HTTPS listener, or through a proxy
    /// on this machine when the portal's public address is `https://`.
    pub fn browser_uses_https(&self, public_https: bool) -> bool {
        self.tls || (public_https && self.address.ip().is_loopback())
    }
}

/// Adds the security headers to every response, HSTS when the browser reached us over TLS.
async fn security_headers(
    State(public_https): State<bool>,
    request: Request,
    next: Next,
) -> Response {
    let over_tls = request
        .extensions()
        .get::<Peer>()
        .is_some_and(|p| p.browser_uses_https(public_https));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, value);
    }
    if over_tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// 200 when the database answers, 503 otherwise.
async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}

async fn metrics_text(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(&state.metrics),
    )
}
