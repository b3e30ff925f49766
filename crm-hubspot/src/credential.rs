//! OAuth for public apps (HubSpot's OAuth docs): access tokens from `POST /oauth/v1/token` with the
//! refresh-token grant, through core's one token cache ([`CachedToken`] over a
//! [`RefreshTokenGrant`]): refreshed `max(60 s, 10 %)` of their 30-minute life before expiry,
//! single flight, rotated refresh tokens handed to a [`TokenStore`]. "401 is not a valid
//! indicator that a new access token must be retrieved": refresh on `expires_in`; a 401 still
//! invalidates the cached token once (core replays the request once). `BAD_REFRESH_TOKEN` is
//! `Unauthorized` telling the operator to re-authorise, never a retry loop.

use std::sync::Arc;

use crm_core::Result;
use crm_core::credential::{
    CachedToken, MemoryTokenStore, OAuthClient, RefreshTokenGrant, TokenStore,
};
use crm_core::limits::RateLimiter;
use crm_core::reexports::secrecy::SecretString;

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth/v1/token";

/// The credential provider of a HubSpot OAuth connection.
pub type HubSpotOAuth = CachedToken<RefreshTokenGrant>;

/// A provider for the app `client_id` (with its client `secret`) holding the `refresh` token,
/// calling the token endpoint under `base_url`. Rotated refresh tokens go to `store` (in
/// memory when `None`; give a `FileTokenStore` so that a restart keeps them).
pub fn oauth(
    base_url: &str,
    client_id: &str,
    secret: SecretString,
    refresh: SecretString,
    store: Option<Arc<dyn TokenStore>>,
) -> Result<HubSpotOAuth> {
    oauth_paced(base_url, client_id, secret, refresh, store, None)
}

/// [`oauth`] whose token requests draw from `limiter`'s `general` bucket, as the connection's
/// own calls do: the token endpoint is on HubSpot's API host, and a refresh sent outside the
/// budget could tip a full rolling window into a 429.
pub(crate) fn oauth_paced(
    base_url: &str,
    client_id: &str,
    client_secret: SecretString,
    refresh_token: SecretString,
    store: Option<Arc<dyn TokenStore>>,
    limiter: Option<Arc<dyn RateLimiter>>,
) -> Result<HubSpotOAuth> {
    let token_url = format!("{}{TOKEN_PATH}", base_url.trim_end_matches('/'));
    let mut client = OAuthClient::builder(&token_url, client_id, Some(client_secret));
    if let Some(limiter) = limiter {
        client = client.with_limiter(limiter, crate::limits::GENERAL);
    }
    let store = store.unwrap_or_else(|| Arc::new(MemoryTokenStore::default()));
    Ok(CachedToken::new(RefreshTokenGrant::new(
        client.build()?,
        Some(refresh_token),
        store,
    )))
}
