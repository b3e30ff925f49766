//! API keys with rotation: the new key is added while the old one still works, and taken over on
//! the old key's first 401, without a restart.

use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use http::HeaderName;
use secrecy::{ExposeSecret, SecretString};

use super::{Credential, CredentialProvider};
use crate::error::{Error, Result};

/// An API key (sent in a header, or as a bearer token) that can be rotated at runtime.
pub struct RotatingApiKey {
    header: Option<HeaderName>,
    keys: Mutex<Keys>,
}

struct Keys {
    current: SecretString,
    next: Option<SecretString>,
}

impl fmt::Debug for RotatingApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatingApiKey")
            .field("header", &self.header)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl RotatingApiKey {
    /// A key sent in `header` (`X-Api-Key`).
    pub fn in_header(header: &str, key: SecretString) -> Result<Self> {
        let name = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| Error::config(format!("`{header}` is not a valid HTTP header name")))?;
        Ok(Self {
            header: Some(name),
            keys: Mutex::new(Keys {
                current: key,
                next: None,
            }),
        })
    }

    /// A key sent as `Authorization: Bearer <key>` (HubSpot private-app tokens).
    pub fn bearer(key: SecretString) -> Self {
        Self {
            header: None,
            keys: Mutex::new(Keys {
                current: key,
                next: None,
            }),
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds the key that replaces the current one. The current key stays in use until the
    /// vendor rejects it (or [`RotatingApiKey::promote`] is called), so a rotation never has a
    /// window where neither key is sent.
    pub fn add_next(&self, key: SecretString) {
        self.keys().next = Some(key);
    }

    /// Switches to the next key now, if one was added. Returns whether it switched.
    pub fn promote(&self) -> bool {
        let mut keys = self.keys();
        match keys.next.take() {
            Some(next) => {
                keys.current = next;
                true
            }
            None => false,
        }
    }

    fn wrap(&self, key: SecretString) -> Credential {
        match &self.header {
            Some(name) => Credential::Header {
                name: name.clone(),
                value: key,
            },
            None => Credential::Bearer(key),
        }
    }
}

fn secret_of(c: &Credential) -> Option<&SecretString> {
    match c {
        Credential::Bearer(s) | Credential::Header { value: s, .. } => Some(s),
        _ => None,
    }
}

#[async_trait]
impl CredentialProvider for RotatingApiKey {
    async fn credential(&self) -> Result<Credential> {
        let current = self.keys().current.clone();
        Ok(self.wrap(current))
    }

    fn credential_now(&self) -> Option<Credential> {
        let current = self.keys().current.clone();
        Some(self.wrap(current))
    }

    async fn invalidate(&self, rejected: &Credential) -> bool {
        let Some(rejected) = secret_of(rejected) else {
            return false;
        };
        let mut keys = self.keys();
        if keys.current.expose_secret() != rejected.expose_secret() {
            // Another call already switched: the replay uses the new key.
            return true;
        }
        match keys.next.take() {
            Some(next) => {
                tracing::info!("API key rejected; switching to the rotated key");
                keys.current = next;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(c: &Credential) -> String {
        secret_of(c)
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn switches_on_the_old_keys_first_401() {
        let p = RotatingApiKey::in_header("X-Api-Key", SecretString::from("old")).unwrap();
        let old = p.credential().await.unwrap();
        assert!(
            !p.invalidate(&old).await,
            "no next key: nothing to switch to"
        );
        p.add_next(SecretString::from("new"));
        assert_eq!(value(&p.credential().await.unwrap()), "old");
        assert!(p.invalidate(&old).await);
        assert_eq!(value(&p.credential().await.unwrap()), "new");
        // A late 401 for the old key keeps the new one.
        assert!(p.invalidate(&old).await);
        assert_eq!(value(&p.credential().await.unwrap()), "new");
        assert!(!format!("{p:?}").contains("new"));
    }
}
