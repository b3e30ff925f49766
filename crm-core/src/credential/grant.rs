//! The grants a server-side bot uses, as [`TokenSource`]s to put in a [`super::CachedToken`]:
//! refresh token (with rotated refresh tokens handed to a [`TokenStore`] before the new access
//! token is used, so a restart does not lose them), client credentials, and a JWT assertion
//! signed by the adapter ([`AssertionSigner`]). Each keeps the token response's other fields
//! ([`TokenFields`]) with the token, for an adapter that needs them (Salesforce's
//! `instance_url`).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::{OAuthClient, Token, TokenFields, TokenResponse, TokenSource, TokenStore};
use crate::error::{Error, ErrorKind, Result};

/// The JWT bearer grant's type (RFC 7523 §2.1).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn token(resp: TokenResponse) -> Token<TokenFields> {
    Token {
        access_token: resp.access_token,
        expires_in: resp.expires_in,
        extra: resp.extra,
    }
}

/// The refresh-token grant, with rotation handed to a [`TokenStore`].
pub struct RefreshTokenGrant {
    client: OAuthClient,
    store: Arc<dyn TokenStore>,
    initial: Mutex<Option<SecretString>>,
    rotates: bool,
}

impl fmt::Debug for RefreshTokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenGrant")
            .field("client", &self.client)
            .field("store", &self.store)
            .field("rotates", &self.rotates)
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
            rotates: true,
        }
    }

    /// The vendor never rotates refresh tokens (Salesforce, unless the connected app turns
    /// rotation on), so a grant whose answer was lost (a 5xx, a timeout) may be sent again
    /// under the retry policy. By default it is not: with rotation, the lost answer would have
    /// consumed the refresh token, and the replay would fail with `invalid_grant`.
    pub fn without_rotation(mut self) -> Self {
        self.rotates = false;
        self
    }
}

#[async_trait]
impl TokenSource for RefreshTokenGrant {
    type Extra = TokenFields;

    async fn fetch(&self) -> Result<Token<TokenFields>> {
        let current = match self.store.load().await? {
            Some(t) => t,
            None => self.initial.lock().await.clone().ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthorized,
                    "no refresh token: authorise the connection first",
                )
            })?,
        };
        let mut resp = self.client.refresh(&current, !self.rotates).await?;
        if let Some(rotated) = resp.refresh_token.take()
            && rotated.expose_secret() != current.expose_secret()
        {
            // Stored before the new access token is used: losing it would lock the bot out.
            self.store.save(&rotated).await?;
        }
        Ok(token(resp))
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
        if !client.has_secret() {
            return Err(Error::config(
                "client_secret: the client-credentials grant needs one",
            ));
        }
        Ok(Self { client })
    }
}

#[async_trait]
impl TokenSource for ClientCredentialsGrant {
    type Extra = TokenFields;

    async fn fetch(&self) -> Result<Token<TokenFields>> {
        Ok(token(self.client.client_credentials().await?))
    }
}

/// Signs a fresh assertion for each token request: the adapter's part of an assertion grant
/// (the claims and the key are the vendor's; Salesforce signs an RS256 JWT with the connected
/// app's key).
pub trait AssertionSigner: Send + Sync + fmt::Debug {
    /// A new signed assertion. A key that cannot sign is a `Config` error that never repeats
    /// the key.
    fn assertion(&self) -> Result<SecretString>;
}

/// The JWT bearer grant (RFC 7523 §2.1): a new assertion from `A` for each token request, no
/// refresh token.
#[derive(Debug)]
pub struct JwtBearerGrant<A> {
    client: OAuthClient,
    signer: A,
}

impl<A: AssertionSigner> JwtBearerGrant<A> {
    /// A grant posting `signer`'s assertions to `client`'s token endpoint.
    pub fn new(client: OAuthClient, signer: A) -> Self {
        Self { client, signer }
    }
}

#[async_trait]
impl<A: AssertionSigner> TokenSource for JwtBearerGrant<A> {
    type Extra = TokenFields;

    async fn fetch(&self) -> Result<Token<TokenFields>> {
        let assertion = self.signer.assertion()?;
        Ok(token(
            self.client.assertion(JWT_BEARER_GRANT, &assertion).await?,
        ))
    }
}
