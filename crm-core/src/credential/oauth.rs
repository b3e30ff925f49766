//! OAuth 2.0 grants a server-side bot uses: refresh token and client credentials (RFC 6749 §6
//! and §4.4), as [`TokenSource`]s to put in a [`super::CachedToken`].
//!
//! The token endpoint is called through the SDK's own transport, so it gets the same rules as
//! every other call: `https` except loopback, bounded bodies, timeouts, typed errors. A grant
//! is a POST and is not replayed after a 5xx: with refresh-token rotation, a lost answer would
//! have consumed the old refresh token.
//!
//! Refresh tokens the server rotates are handed to a [`TokenStore`] before the new access token
//! is used, so a restart does not lose them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{Token, TokenSource};
use crate::error::{Error, ErrorKind, Result};
use crate::raw::http::{ErrorParser, ErrorResponse, HttpClient, HttpClientBuilder, Request};
use crate::retry::RetryPolicy;

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

/// Where and how to ask for tokens.
#[derive(Clone)]
pub struct OAuthClient {
    http: HttpClient,
    client_id: String,
    client_secret: Option<SecretString>,
    scopes: Vec<String>,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("token_url", &self.http.base_url().as_str())
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl OAuthClient {
    /// A client of the token endpoint `token_url` (`https`, or `http` on loopback).
    pub fn new(
        token_url: &str,
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
    ) -> Result<Self> {
        let http = HttpClientBuilder::new("oauth", token_url)
            .with_error_parser(Arc::new(OAuthErrors))
            .with_retry(RetryPolicy::never())
            .with_timeout(Duration::from_secs(30))
            .with_max_response_bytes(64 * 1024)
            .build()
            .map_err(|e| Error::config(format!("token_url: {}", e.message())))?;
        let client_id = client_id.into();
        if client_id.trim().is_empty() {
            return Err(Error::config("client_id: is empty"));
        }
        Ok(Self {
            http,
            client_id,
            client_secret,
            scopes: Vec::new(),
        })
    }

    /// Scopes to ask for (space-separated on the wire).
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Posts a grant and parses the token response.
    pub async fn grant(&self, mut form: Vec<(String, String)>) -> Result<TokenResponse> {
        form.push(("client_id".into(), self.client_id.clone()));
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret".into(), secret.expose_secret().to_owned()));
        }
        if !self.scopes.is_empty() {
            form.push(("scope".into(), self.scopes.join(" ")));
        }
        let resp = self
            .http
            .send(Request::new(Method::POST, "", "oauth.token").form(form))
            .await?;
        let raw: RawTokenResponse = resp.json()?;
        let access_token = raw.access_token.filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::decode("the token response has no `access_token`").with_operation("oauth.token")
        })?;
        Ok(TokenResponse {
            access_token: SecretString::from(access_token),
            expires_in: raw.expires_in.map(Duration::from_secs),
            refresh_token: raw.refresh_token.map(SecretString::from),
            extra: raw.extra,
        })
    }
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// A parsed token response.
pub struct TokenResponse {
    /// The access token.
    pub access_token: SecretString,
    /// Its lifetime, if given.
    pub expires_in: Option<Duration>,
    /// A new refresh token, if the server rotated it.
    pub refresh_token: Option<SecretString>,
    /// Other fields (Salesforce `instance_url`, HubSpot `hub_id`).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("extra_keys", &self.extra.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// RFC 6749 §5.2 error bodies (plus HubSpot's `status`): a dead refresh token or rejected client
/// needs a person, so it is `Unauthorized` with a message saying what to do, never a retry.
#[derive(Debug)]
struct OAuthErrors;

impl ErrorParser for OAuthErrors {
    fn parse_error(&self, r: &ErrorResponse<'_>) -> Error {
        #[derive(Deserialize)]
        struct Body {
            error: Option<String>,
            status: Option<String>,
        }
        let mut vendor = r.vendor();
        let body: Option<Body> = serde_json::from_slice(r.body).ok();
        // HubSpot adds a more specific `status` (`BAD_REFRESH_TOKEN`) next to RFC 6749's `error`.
        let code = body
            .as_ref()
            .and_then(|b| b.status.clone().or(b.error.clone()));
        vendor.code = code.clone();
        match code.as_deref() {
            Some("invalid_grant" | "BAD_REFRESH_TOKEN" | "BAD_AUTH_CODE") => Error::new(
                ErrorKind::Unauthorized,
                "the refresh token is invalid, expired or revoked: re-authorise the connection",
            ),
            Some("invalid_client" | "unauthorized_client") => Error::new(
                ErrorKind::Unauthorized,
                "the token endpoint rejected the client id or secret: check the connection's OAuth client",
            ),
            // The code is the vendor's word for the problem; the redactor guards against a
            // server that puts anything else there.
            Some(other) => Error::new(
                r.default_kind(),
                format!(
                    "the token endpoint refused the grant ({})",
                    crate::redact::redact(other)
                ),
            ),
            None => Error::new(
                r.default_kind(),
                format!("the token endpoint answered HTTP {}", r.status.as_u16()),
            ),
        }
        .with_vendor(vendor)
    }
}

/// The refresh-token grant, with rotation handed to a [`TokenStore`].
pub struct RefreshTokenGrant {
    client: OAuthClient,
    store: Arc<dyn TokenStore>,
    initial: Mutex<Option<SecretString>>,
}

impl fmt::Debug for RefreshTokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenGrant")
            .field("client", &self.client)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl RefreshTokenGrant {
    /// Refreshes with the token in `store`, or `initial` when the store is empty.
    pub fn new(
        client: OAuthClient,
        initial: Option<SecretString>,
        store: Arc<dyn TokenStore>,
    ) -> Self {
        Self {
            client,
            store,
            initial: Mutex::new(initial),
        }
    }
}

#[async_trait]
impl TokenSource for RefreshTokenGrant {
    async fn fetch(&self) -> Result<Token> {
        let current = match self.store.load().await? {
            Some(t) => t,
            None => self.initial.lock().await.clone().ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthorized,
                    "no refresh token: authorise the connection first",
                )
            })?,
        };
        let resp = self
            .client
            .grant(vec![
                ("grant_type".into(), "refresh_token".into()),
                ("refresh_token".into(), current.expose_secret().to_owned()),
            ])
            .await?;
        if let Some(rotated) = &resp.refresh_token
            && rotated.expose_secret() != current.expose_secret()
        {
            // Stored before the new access token is used: losing it would lock the bot out.
            self.store.save(rotated).await?;
        }
        Ok(Token {
            access_token: resp.access_token,
            expires_in: resp.expires_in,
        })
    }
}

/// The client-credentials grant (no refresh token; a new grant each time).
#[derive(Debug)]
pub struct ClientCredentialsGrant {
    client: OAuthClient,
}

impl ClientCredentialsGrant {
    /// A grant with `client` (which must carry a client secret).
    pub fn new(client: OAuthClient) -> Result<Self> {
        if client.client_secret.is_none() {
            return Err(Error::config(
                "client_secret: the client-credentials grant needs one",
            ));
        }
        Ok(Self { client })
    }
}

#[async_trait]
impl TokenSource for ClientCredentialsGrant {
    async fn fetch(&self) -> Result<Token> {
        let resp = self
            .client
            .grant(vec![("grant_type".into(), "client_credentials".into())])
            .await?;
        Ok(Token {
            access_token: resp.access_token,
            expires_in: resp.expires_in,
        })
    }
}
