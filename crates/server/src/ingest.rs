//! (issue 6: being written)

use crate::config::IngestConfig;
use crate::AppState;

pub struct IngestApps {}

impl IngestApps {
    pub fn new(_cfg: &IngestConfig) -> IngestApps {
        IngestApps {}
    }
}

pub async fn sync_all(_state: &AppState) {}
