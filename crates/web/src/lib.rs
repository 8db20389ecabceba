//! Swell's HTTP surface: the REST API under `/api/v1` (and, as later
//! capabilities land, tracking links, inbound webhooks and the UI).

use std::net::SocketAddr;

use axum::Router;
use swell_store::Store;
use tokio::net::TcpListener;

pub mod api;
mod auth;
mod error;
mod forms;
mod hooks;
pub mod tracking;
pub mod ui;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The sender: test sends, previews and tracking tokens go through it,
    /// and starting a broadcast wakes it.
    pub mailer: std::sync::Arc<swell_engine::Mailer>,
    /// The automation engine: launches, test mode and inbound webhooks go
    /// through it, and changes wake it.
    pub automation: std::sync::Arc<swell_engine::Automation>,
    /// The web app's cookie settings and sign-in limits.
    pub access: std::sync::Arc<ui::Access>,
}

impl AppState {
    /// Wakes the automation engine when something resumed campaign steps
    /// (an open, click, reply or bounce let waiting branches go on).
    pub(crate) fn woke(&self, resumed: u64) {
        if resumed > 0 {
            self.automation.wake();
        }
    }
}

/// The whole application's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .nest(
            "/api/v1",
            api::router().layer(axum::middleware::from_fn_with_state(
                state.clone(),
                ui::api_layer,
            )),
        )
        .merge(ui::router(state.clone()))
        .merge(tracking::router())
        .merge(hooks::router())
        .merge(forms::router())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the application on a bound listener until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "serving");
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
