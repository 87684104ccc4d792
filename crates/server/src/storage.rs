//! (issue 6: being written)

pub trait Storage: Send + Sync {}

pub struct LocalStorage {}

impl LocalStorage {
    pub fn new(root: std::path::PathBuf) -> anyhow::Result<LocalStorage> {
        std::fs::create_dir_all(&root)?;
        Ok(LocalStorage {})
    }
}

impl Storage for LocalStorage {}
