//! Where tokens live between runs: the OS keyring (Secret Service on Linux)
//! under one service name, or a 0600 file in the user's config dir when the
//! user asks for it or there is no usable keyring. Passwords are never stored.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::StoreChoice;
use crate::error::{AuthError, Result};

/// The keyring service name every Mentorcast token lives under.
pub const KEYRING_SERVICE: &str = "mentorcast";

/// What a sign-in leaves behind. `Debug` never shows the tokens.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds at which the ID and access tokens expire.
    pub expires_at: u64,
    /// The user name Cognito knows (for SECRET_HASH on refresh).
    pub username: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A token store. Calls block (D-Bus or file I/O): call them off async worker threads.
pub trait TokenStore: Send + Sync {
    fn load(&self) -> Result<Option<Tokens>>;
    fn save(&self, tokens: &Tokens) -> Result<()>;
    /// Removes the tokens; Ok when there were none.
    fn clear(&self) -> Result<()>;
    /// "the OS keyring" or the file path, for messages.
    fn describe(&self) -> String;
}

pub struct KeyringStore {
    account: String,
}

/// Why the keyring cannot be used, when it cannot.
fn keyring_err(e: keyring::Error) -> AuthError {
    AuthError::Storage(format!("OS keyring: {e}"))
}

fn keyring_unavailable(e: &keyring::Error) -> bool {
    matches!(e, keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_))
}

impl KeyringStore {
    pub fn new(account: &str) -> KeyringStore {
        KeyringStore { account: account.to_string() }
    }

    fn entry(&self) -> Result<keyring::Entry> {
        keyring::Entry::new(KEYRING_SERVICE, &self.account).map_err(keyring_err)
    }

    /// Ok(()) when a keyring answers (with or without our entry); the error otherwise.
    pub fn probe(&self) -> std::result::Result<(), keyring::Error> {
        let entry = keyring::Entry::new(KEYRING_SERVICE, &self.account)?;
        match entry.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            // an entry we cannot decode is still a working keyring
            Err(keyring::Error::BadEncoding(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl TokenStore for KeyringStore {
    fn load(&self) -> Result<Option<Tokens>> {
        match self.entry()?.get_password() {
            Ok(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|_| AuthError::Storage("the tokens in the OS keyring are unreadable: sign in again".into())),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_err(e)),
        }
    }

    fn save(&self, tokens: &Tokens) -> Result<()> {
        let s = serde_json::to_string(tokens).map_err(|e| AuthError::Storage(e.to_string()))?;
        self.entry()?.set_password(&s).map_err(keyring_err)
    }

    fn clear(&self) -> Result<()> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_err(e)),
        }
    }

    fn describe(&self) -> String {
        format!("the OS keyring (service \"{KEYRING_SERVICE}\")")
    }
}

/// A JSON file of `{account: tokens}`, mode 0600, replaced atomically.
pub struct FileStore {
    path: PathBuf,
    account: String,
}

impl FileStore {
    pub fn new(path: PathBuf, account: &str) -> FileStore {
        FileStore { path, account: account.to_string() }
    }

    /// `<user config dir>/mentorcast/tokens.json`
    pub fn default_path() -> Result<PathBuf> {
        dirs::config_dir()
            .map(|d| d.join("mentorcast").join("tokens.json"))
            .ok_or_else(|| AuthError::Storage("no user config directory (HOME unset?)".into()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_all(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        match std::fs::read_to_string(&self.path) {
            Ok(s) => match serde_json::from_str::<serde_json::Value>(&s) {
                Ok(serde_json::Value::Object(m)) => Ok(m),
                _ => Err(AuthError::Storage(format!(
                    "{} is not a Mentorcast token file: remove it and sign in again",
                    self.path.display()
                ))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
            Err(e) => Err(AuthError::Storage(format!("cannot read {}: {e}", self.path.display()))),
        }
    }

    fn write_all(&self, m: &serde_json::Map<String, serde_json::Value>) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let err = |e: std::io::Error| AuthError::Storage(format!("cannot write {}: {e}", self.path.display()));
        if m.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err(e)),
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(err)?;
        }
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(err)?;
        // mode() is subject to the umask only by removing bits; make it exact anyway
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        let text = serde_json::to_vec_pretty(m).map_err(|e| AuthError::Storage(e.to_string()))?;
        f.write_all(&text).and_then(|_| f.sync_all()).map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(err)
    }
}

impl TokenStore for FileStore {
    fn load(&self) -> Result<Option<Tokens>> {
        match self.read_all()?.remove(&self.account) {
            Some(v) => serde_json::from_value(v).map(Some).map_err(|_| {
                AuthError::Storage(format!("the tokens in {} are unreadable: sign in again", self.path.display()))
            }),
            None => Ok(None),
        }
    }

    fn save(&self, tokens: &Tokens) -> Result<()> {
        let mut m = self.read_all().unwrap_or_default();
        m.insert(self.account.clone(), serde_json::to_value(tokens).map_err(|e| AuthError::Storage(e.to_string()))?);
        self.write_all(&m)
    }

    fn clear(&self) -> Result<()> {
        // an unreadable file holds nothing we can use: remove it
        let mut m = self.read_all().unwrap_or_default();
        m.remove(&self.account);
        self.write_all(&m)
    }

    fn describe(&self) -> String {
        format!("{} (a file readable only by you)", self.path.display())
    }
}

/// The store to use, plus a notice to show the user when it is a fallback.
pub struct Chosen {
    pub store: Box<dyn TokenStore>,
    /// Where else tokens may sit (the file, when the keyring is used); wiped on sign-out too.
    pub others: Vec<Box<dyn TokenStore>>,
    pub notice: Option<String>,
}

/// Opens the store `choice` asks for. Blocking (probes the keyring).
pub fn choose(choice: StoreChoice, account: &str, file_path: Option<PathBuf>) -> Result<Chosen> {
    let file = || -> Result<FileStore> {
        Ok(FileStore::new(
            match &file_path {
                Some(p) => p.clone(),
                None => FileStore::default_path()?,
            },
            account,
        ))
    };
    match choice {
        StoreChoice::File => Ok(Chosen { store: Box::new(file()?), others: vec![], notice: None }),
        StoreChoice::Keyring => {
            let k = KeyringStore::new(account);
            k.probe().map_err(|e| {
                AuthError::Storage(format!(
                    "the OS keyring is not usable ({e}); use --token-store file to keep tokens in a file"
                ))
            })?;
            Ok(Chosen { store: Box::new(k), others: vec![], notice: None })
        }
        StoreChoice::Auto => {
            let k = KeyringStore::new(account);
            match k.probe() {
                Ok(()) => {
                    let others: Vec<Box<dyn TokenStore>> = match file() {
                        Ok(f) => vec![Box::new(f)],
                        Err(_) => vec![],
                    };
                    Ok(Chosen { store: Box::new(k), others, notice: None })
                }
                Err(e) if keyring_unavailable(&e) => {
                    let f = file()?;
                    let why = match e {
                        keyring::Error::PlatformFailure(_) => "no D-Bus session for a Secret Service keyring",
                        _ => "the keyring is locked or absent",
                    };
                    tracing::debug!(error = %e, "keyring unavailable");
                    let notice = format!("no usable OS keyring ({why}): tokens are kept in {}", f.describe());
                    Ok(Chosen { store: Box::new(f), others: vec![], notice: Some(notice) })
                }
                Err(e) => Err(keyring_err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tokens(n: u64) -> Tokens {
        Tokens {
            id_token: format!("id{n}"),
            access_token: "acc".into(),
            refresh_token: "ref".into(),
            expires_at: n,
            username: "u".into(),
        }
    }

    #[test]
    fn file_store_roundtrip_mode_and_isolation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tokens.json");
        let a = FileStore::new(path.clone(), "pool:a");
        let b = FileStore::new(path.clone(), "pool:b");
        assert_eq!(a.load().unwrap(), None);
        a.save(&tokens(1)).unwrap();
        b.save(&tokens(2)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(a.load().unwrap(), Some(tokens(1)));
        assert_eq!(b.load().unwrap(), Some(tokens(2)));
        a.clear().unwrap();
        assert_eq!(a.load().unwrap(), None);
        assert_eq!(b.load().unwrap(), Some(tokens(2)));
        b.clear().unwrap();
        assert!(!path.exists(), "the file goes when it holds nothing");
        a.clear().unwrap();
    }

    #[test]
    fn garbage_file_is_a_storage_error_and_clear_fixes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, "not json").unwrap();
        let a = FileStore::new(path.clone(), "x");
        assert!(matches!(a.load(), Err(AuthError::Storage(_))));
        a.clear().unwrap();
        assert_eq!(a.load().unwrap(), None);
    }

    #[test]
    fn debug_hides_tokens() {
        let d = format!("{:?}", tokens(5));
        assert!(!d.contains("id5") && !d.contains("acc") && !d.contains("ref"), "{d}");
    }
}
