//! Where recordings live. Callers see only [`Storage`]: keys like
//! `room-mentor1/room-mentor1-1795562609.mp4`, `put_file` to store a finished
//! file, `locate` to serve one. [`LocalStorage`] (a folder, the default) is the
//! only implementation now; an object store (S3 and the like) would answer
//! `locate` with a presigned URL instead of a path, without touching callers.

use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;

use crate::error::ServerError;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The key is empty, absolute, has `..` or characters outside `[A-Za-z0-9._/-]`.
    #[error("invalid storage key {0:?}")]
    BadKey(String),
    #[error("no object {0:?}")]
    NotFound(String),
    #[error("storage I/O on {key:?}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

/// How to serve a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file (served by us, with range requests).
    File(PathBuf),
    /// Somewhere else (e.g. a presigned object-storage URL): redirect there.
    Url(String),
}

/// Where recordings are kept, by key.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Moves (or copies) the local file `from` in under `key`, replacing any object
    /// of that key; returns its size in bytes.
    async fn put_file(&self, key: &str, from: &Path) -> Result<u64, StorageError>;
    /// Where to serve `key` from; [`StorageError::NotFound`] when there is no such object.
    async fn locate(&self, key: &str) -> Result<Location, StorageError>;
    /// Size in bytes.
    async fn size(&self, key: &str) -> Result<u64, StorageError>;
    /// Removes the object (no error when it is already gone).
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
}

/// Checks a storage key: relative, `/`-separated, no `.`/`..` segments, a safe alphabet.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('/')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        && key.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && Path::new(key).components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(StorageError::BadKey(key.to_string()))
    }
}

/// Objects as files under a root folder (`{data_dir}/recordings`).
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Storage in the folder `root`, created when missing.
    pub fn new(root: PathBuf) -> Result<LocalStorage, ServerError> {
        match std::fs::create_dir_all(&root) {
            Ok(()) => Ok(LocalStorage { root }),
            Err(source) => Err(ServerError::Storage { path: root, source }),
        }
    }

    /// The folder that holds the objects.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn io(key: &str) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            StorageError::NotFound(key.to_string())
        } else {
            StorageError::Io { key: key.to_string(), source }
        }
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn put_file(&self, key: &str, from: &Path) -> Result<u64, StorageError> {
        let dest = self.path(key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| StorageError::Io { key: key.to_string(), source })?;
        }
        // Same filesystem: an atomic rename. Else copy to a temporary name, then rename.
        if tokio::fs::rename(from, &dest).await.is_err() {
            let tmp = dest.with_extension("part");
            tokio::fs::copy(from, &tmp).await.map_err(|source| StorageError::Io { key: key.to_string(), source })?;
            tokio::fs::rename(&tmp, &dest).await.map_err(|source| StorageError::Io { key: key.to_string(), source })?;
            let _ = tokio::fs::remove_file(from).await;
        }
        let meta = tokio::fs::metadata(&dest).await.map_err(io(key))?;
        Ok(meta.len())
    }

    async fn locate(&self, key: &str) -> Result<Location, StorageError> {
        let p = self.path(key)?;
        let meta = tokio::fs::metadata(&p).await.map_err(io(key))?;
        if !meta.is_file() {
            return Err(StorageError::NotFound(key.to_string()));
        }
        Ok(Location::File(p))
    }

    async fn size(&self, key: &str) -> Result<u64, StorageError> {
        let p = self.path(key)?;
        Ok(tokio::fs::metadata(&p).await.map_err(io(key))?.len())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let p = self.path(key)?;
        match tokio::fs::remove_file(&p).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StorageError::Io { key: key.to_string(), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        for good in ["a.mp4", "room-mentor1/room-mentor1-17.mp4", "x/y/z_1.jpg"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a\\b", "a b", "é", "a/"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn put_locate_size_delete() {
        let dir = tempfile::tempdir().unwrap();
        let st = LocalStorage::new(dir.path().join("rec")).unwrap();
        let src = dir.path().join("in.bin");
        std::fs::write(&src, b"hello").unwrap();
        assert_eq!(st.put_file("app/one.mp4", &src).await.unwrap(), 5);
        assert!(!src.exists(), "moved in");
        assert_eq!(st.size("app/one.mp4").await.unwrap(), 5);
        assert_eq!(st.locate("app/one.mp4").await.unwrap(), Location::File(dir.path().join("rec/app/one.mp4")));
        assert!(matches!(st.locate("app/two.mp4").await, Err(StorageError::NotFound(_))));
        assert!(matches!(st.locate("../in.bin").await, Err(StorageError::BadKey(_))));
        st.delete("app/one.mp4").await.unwrap();
        st.delete("app/one.mp4").await.unwrap();
        assert!(matches!(st.size("app/one.mp4").await, Err(StorageError::NotFound(_))));
    }
}
