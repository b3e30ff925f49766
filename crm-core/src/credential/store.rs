//! Where a rotated refresh token is kept, so that a restart does not lose it.

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, ErrorKind, Result};

/// Keeps the current refresh token across restarts.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The stored refresh token, if any.
    async fn load(&self) -> Result<Option<SecretString>>;
    /// Replaces the stored refresh token. Must be durable when it returns.
    async fn save(&self, refresh_token: &SecretString) -> Result<()>;
}

/// Keeps the refresh token in memory only (tests, short-lived processes).
#[derive(Default)]
pub struct MemoryTokenStore(std::sync::Mutex<Option<SecretString>>);

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemoryTokenStore(<redacted>)")
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<Option<SecretString>> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone())
    }

    async fn save(&self, refresh_token: &SecretString) -> Result<()> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(refresh_token.clone());
        Ok(())
    }
}

/// Keeps the refresh token in a file (owner read/write only), replaced atomically: written to a
/// temporary file, synced, then renamed over the old one.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    path: PathBuf,
}

impl FileTokenStore {
    /// A store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl TokenStore for FileTokenStore {
    async fn load(&self) -> Result<Option<SecretString>> {
        match tokio::fs::read_to_string(&self.path).await {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => Ok(Some(SecretString::from(text.trim().to_owned()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::new(
                ErrorKind::Storage,
                format!("cannot read the token store `{}`: {e}", self.path.display()),
            )),
        }
    }

    async fn save(&self, refresh_token: &SecretString) -> Result<()> {
        let path = self.path.clone();
        let secret = refresh_token.expose_secret().to_owned();
        tokio::task::spawn_blocking(move || write_private(&path, secret.as_bytes()))
            .await
            .map_err(|e| Error::new(ErrorKind::Storage, format!("token store task failed: {e}")))?
    }
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let storage = |e: std::io::Error| {
        Error::new(
            ErrorKind::Storage,
            format!("cannot write the token store `{}`: {e}", path.display()),
        )
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(storage)?;
    file.write_all(bytes).map_err(storage)?;
    file.sync_all().map_err(storage)?;
    std::fs::rename(&tmp, path).map_err(storage)?;
    Ok(())
}
