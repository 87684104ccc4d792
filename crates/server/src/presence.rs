//! (issue 6: being written)

use crate::config::ViewersConfig;

pub trait Presence: Send + Sync {}

pub struct MemoryPresence {}

impl MemoryPresence {
    pub fn new(_cfg: &ViewersConfig) -> MemoryPresence {
        MemoryPresence {}
    }
}

impl Presence for MemoryPresence {}
