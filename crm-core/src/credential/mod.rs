//! Credentials: what the transport attaches to every request.
//!
//! The transport asks the [`CredentialProvider`] for a credential on *every attempt*, so a
//! provider that refreshes tokens is consulted again after a refresh. On a 401 the transport
//! calls [`CredentialProvider::invalidate`] once and, if the provider says a fresh credential may
//! now be available, replays the request once.
//!
//! Every OAuth flow goes through the same pieces: a [`TokenSource`] (one of the grants here, or
//! an adapter's own source wrapping one to read its vendor's extra fields), cached by
//! [`CachedToken`] (refresh ahead of expiry, single flight, invalidation on a 401), with token
//! requests sent by an [`OAuthClient`] that shares the connection's CA, timeout and retry
//! policy and reads error answers with one parser.

mod cache;
mod grant;
mod oauth;
mod rotation;
mod store;

use std::fmt;

use async_trait::async_trait;
use http::HeaderName;
use secrecy::SecretString;

pub use cache::{CachedToken, Token, TokenSource};
pub use grant::{
    AssertionSigner, ClientCredentialsGrant, JWT_BEARER_GRANT, JwtBearerGrant, RefreshTokenGrant,
};
pub use oauth::{OAuthClient, OAuthClientBuilder, TokenFields, TokenResponse};
pub use rotation::RotatingApiKey;
pub use store::{FileTokenStore, MemoryTokenStore, TokenStore};

use crate::error::{Error, Result};

/// A credential to attach to a request. Secrets are [`SecretString`]s: their `Debug` redacts
/// them and the transport marks the header they go into as sensitive.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credential {
    /// No authentication (a sandbox).
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// An API key in a header of its own (`X-Api-Key: <key>`).
    Header {
        /// Header name.
        name: HeaderName,
        /// Key.
        value: SecretString,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::None => f.write_str("Credential::None"),
            Credential::Bearer(_) => f.write_str("Credential::Bearer(<redacted>)"),
            Credential::Header { name, .. } => {
                write!(f, "Credential::Header({name}: <redacted>)")
            }
        }
    }
}

/// Gives the transport a credential for each attempt.
#[async_trait]
pub trait CredentialProvider: Send + Sync + fmt::Debug {
    /// The credential to use now. A caching provider returns its cached credential and refreshes
    /// it ahead of expiry.
    async fn credential(&self) -> Result<Credential>;

    /// The credential when it is at hand without waiting (a fixed token; a cached token that is
    /// not due for refresh), else `None` (the default), and the transport awaits
    /// [`CredentialProvider::credential`]. The transport asks this first on every attempt, so
    /// that the usual case allocates no future; it must never start a refresh.
    fn credential_now(&self) -> Option<Credential> {
        None
    }

    /// The vendor rejected `rejected` with a 401. Returns `true` when a different credential may
    /// now be available (a refreshed token, a rotated key), so that one replay is worth it;
    /// `false` when nothing would change (a static token).
    async fn invalidate(&self, rejected: &Credential) -> bool;
}

/// A fixed credential: a private-app token, an API key, or none.
pub struct StaticCredential {
    credential: Credential,
}

impl StaticCredential {
    /// No authentication.
    pub fn none() -> Self {
        Self {
            credential: Credential::None,
        }
    }

    /// A bearer token.
    pub fn bearer(token: SecretString) -> Self {
        Self {
            credential: Credential::Bearer(token),
        }
    }

    /// An API key sent in `header`. Fails if `header` is not a valid header name.
    pub fn api_key(header: &str, key: SecretString) -> Result<Self> {
        let name = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| Error::config(format!("`{header}` is not a valid HTTP header name")))?;
        Ok(Self {
            credential: Credential::Header { name, value: key },
        })
    }
}

impl fmt::Debug for StaticCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredential")
            .field("credential", &self.credential)
            .finish()
    }
}

#[async_trait]
impl CredentialProvider for StaticCredential {
    async fn credential(&self) -> Result<Credential> {
        Ok(self.credential.clone())
    }

    fn credential_now(&self) -> Option<Credential> {
        Some(self.credential.clone())
    }

    async fn invalidate(&self, _rejected: &Credential) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let c = StaticCredential::bearer(SecretString::from("pat-na1-supersecret"));
        let k =
            StaticCredential::api_key("X-Api-Key", SecretString::from("k-supersecret")).unwrap();
        let text = format!("{c:?} {k:?}");
        assert!(!text.contains("supersecret"), "{text}");
        assert!(text.contains("x-api-key"));
    }

    #[test]
    fn bad_header_name_is_a_config_error() {
        let err = StaticCredential::api_key("X Api\nKey", SecretString::from("k")).unwrap_err();
        assert_eq!(err.kind(), &crate::ErrorKind::Config);
    }
}
