//! The HTTP listener: `/healthz` for load balancers and systemd watchdogs, `/metrics` in
//! the Prometheus text format, and mail client autoconfiguration ([`autoconfig`]).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

mod autoconfig;

pub use autoconfig::{Autoconfig, AutoconfigSettings, MAX_AUTODISCOVER_REQUEST_BYTES};

/// The process-wide Prometheus recorder. `metrics` has one global recorder, so every server
/// started in this process (tests start many) shares it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[derive(Clone)]
struct HttpState {
    store: Store,
    metrics: PrometheusHandle,
}

/// Serves HTTP on `listener` until `shutdown` is cancelled: health and metrics over
/// `store`, client autoconfiguration from `autoconfig`.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    autoconfig: Autoconfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = HttpState {
        store,
        metrics: metrics_handle(),
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
        .merge(autoconfig.router());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
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
        state.metrics.render(),
    )
}
