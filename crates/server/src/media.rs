//! (issue 6: being written)

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub struct Signer {}

impl Signer {
    pub fn new(_key: Option<&str>, _ttl_s: u64) -> Signer {
        Signer {}
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
