//! (issue 6: being written)

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

pub fn spawn_sweeper(_state: AppState) {}
