//! `mentorcast-server`: the reference backend of the mentoring platform:
//! channels with secret stream keys, the ingest's hooks (nginx-rtmp
//! `on_publish`, `on_publish_done`, `on_record_done`, and the platform's
//! original `POST /store-live`), recordings (MP4 + thumbnail, signed URLs with
//! range requests), live viewer counts from heartbeats (pushed over SSE), a
//! watch page, `/openapi.json`, `/metrics` and `/healthz`.
//!
//! Module map:
//! - identity: who is calling (Cognito ID/access token via JWKS)
//! - channels, ingest: a mentor's channel, its key, and the ingest's application for it
//! - hooks: what nginx-rtmp calls
//! - sessions: live sessions, continued over the encoder's reconnects
//! - processing: the finished pieces (FLV) of a session joined into one stored MP4 + thumbnail
//! - storage, media, recordings: where recordings live, signed range-served URLs, the listings
//! - presence, viewers, watch: heartbeats, counts, stats, SSE, the watch page
//! - metrics, openapi, error, db, config

pub mod channels;
pub mod config;
pub mod db;
pub mod error;
pub mod hooks;
pub mod identity;
pub mod ingest;
pub mod media;
pub mod metrics;
pub mod presence;
pub mod processing;
pub mod recordings;
pub mod sessions;
pub mod storage;
pub mod viewers;
pub mod watch;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use sqlx::SqlitePool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use config::ServerConfig;
pub use error::ServerError;

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub db: SqlitePool,
    pub tokens: Arc<identity::Tokens>,
    pub metrics: Arc<metrics::Metrics>,
    pub presence: Arc<dyn presence::Presence>,
    pub storage: Arc<dyn storage::Storage>,
    pub signer: Arc<media::Signer>,
    pub ingest: Arc<ingest::IngestApps>,
    /// Heartbeat-path caches and the SSE channels (viewers.rs).
    pub viewers: Arc<viewers::Viewers>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mentorcast backend",
        description = "Channels, ingest hooks, recordings and live viewer counts. \
                       Authenticated calls carry a Cognito ID or access token: `Authorization: Bearer <token>`."
    ),
    components(schemas(mentorcast_api::ErrorBody)),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

/// The `bearer` security scheme the handlers' `security(("bearer" = []))` name.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A Cognito ID or access token of the platform's user pool"))
                    .build(),
            ),
        );
    }
}

/// Opens the database, builds the state and the background tasks.
pub async fn state(config: ServerConfig) -> Result<AppState, ServerError> {
    let config = Arc::new(config);
    let db = db::open(&config.database_url).await?;
    let c = &config.cognito;
    let verifier = mentorcast_auth::Verifier::new(
        c.jwks_url(),
        c.issuer(),
        c.client_id.clone(),
        Arc::new(mentorcast_auth::SystemClock),
    );
    let metrics = Arc::new(metrics::Metrics::new());
    let presence: Arc<dyn presence::Presence> = Arc::new(presence::MemoryPresence::new(&config.viewers));
    let storage: Arc<dyn storage::Storage> = Arc::new(storage::LocalStorage::new(config.data_dir.join("recordings"))?);
    let signer = Arc::new(media::Signer::new(config.media.signing_key.as_deref(), config.media.url_ttl_s));
    let ingest = Arc::new(ingest::IngestApps::new(&config.ingest));
    let viewers = Arc::new(viewers::Viewers::new());
    Ok(AppState {
        config,
        db,
        tokens: Arc::new(identity::Tokens::new(verifier)),
        metrics,
        presence,
        storage,
        signer,
        ingest,
        viewers,
    })
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(channels::routes())
        .merge(hooks::routes())
        .merge(recordings::routes())
        .merge(media::routes())
        .merge(viewers::routes())
        .merge(watch::routes())
        .split_for_parts();
    let doc = Arc::new(doc);
    api.route("/openapi.json", get(move || std::future::ready(axum::Json(doc.as_ref().clone()))))
        .route("/healthz", get(|| std::future::ready("ok\n")))
        .route("/metrics", get(metrics::handler))
        .fallback(|| std::future::ready(error::ApiErr::NotFound("no such route".into())))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

/// Binds `addr` with a deep accept queue (4096, capped by the kernel's somaxconn):
/// with tokio's default (1024), a crowd of viewers connecting at once overflows
/// it, the kernel drops SYNs, and those clients wait a whole second to retry
/// (what the heartbeat bench ran into at 15,000 viewers).
pub fn listen(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
    let bind = || {
        let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(4096)
    };
    bind().map_err(|source| ServerError::Bind { addr, source })
}

/// Starts the background tasks (presence sweeper, ingest config) and serves until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    viewers::spawn_sweeper(state.clone());
    ingest::sync_all(&state).await;
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.map_err(ServerError::Serve)
}
