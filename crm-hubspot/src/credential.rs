//! OAuth for public apps (VENDORS.md §1.11): access tokens from `POST /oauth/v1/token` with the
//! refresh-token grant, cached and refreshed before they expire (HubSpot's live 30 minutes).
//! "401 is not a valid indicator that a new access token must be retrieved": refresh on
//! `expires_in`; a 401 still invalidates the cached token once (core replays the request once).

use std::fmt;
use std::time::{Duration, Instant};

use crm_core::credential::{Credential, CredentialProvider};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::Method;
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_core::transport::{HttpClient, Request};
use crm_core::{Error, Result};
use serde::Deserialize;
use tokio::sync::Mutex;

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth/v1/token";

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

struct State {
    refresh_token: SecretString,
    cached: Option<Cached>,
}

/// A [`CredentialProvider`] for HubSpot OAuth: one access token at a time, refreshed with the
/// refresh token `max(60 s, 10 %)` of its lifetime (minus up to 30 s of jitter) before it
/// expires. Concurrent callers wait for one refresh (single flight); a refresh token HubSpot
/// returns replaces the old one.
pub struct HubSpotOAuth {
    http: HttpClient,
    client_id: String,
    client_secret: SecretString,
    state: Mutex<State>,
}

impl fmt::Debug for HubSpotOAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpotOAuth")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl HubSpotOAuth {
    /// A provider that calls the token endpoint through `http` (a client without credentials
    /// on HubSpot's base URL).
    pub fn new(
        http: HttpClient,
        client_id: String,
        client_secret: SecretString,
        refresh_token: SecretString,
    ) -> Self {
        Self {
            http,
            client_id,
            client_secret,
            state: Mutex::new(State {
                refresh_token,
                cached: None,
            }),
        }
    }

    async fn refresh(&self, state: &mut State) -> Result<SecretString> {
        let form = vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("client_id".to_owned(), self.client_id.clone()),
            (
                "client_secret".to_owned(),
                self.client_secret.expose_secret().to_owned(),
            ),
            (
                "refresh_token".to_owned(),
                state.refresh_token.expose_secret().to_owned(),
            ),
        ];
        // A refresh changes nothing server-side that a second one would undo: safe to retry.
        let req = Request::new(Method::POST, TOKEN_PATH, "oauth.refresh")
            .form(form)
            .idempotent(true)
            .bucket("oauth");
        let body: TokenBody = self.http.send(req).await?.json()?;
        if body.access_token.is_empty() {
            return Err(
                Error::decode("the token endpoint returned an empty access token")
                    .with_operation("oauth.refresh"),
            );
        }
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(1800));
        let margin = (lifetime / 10).max(Duration::from_secs(60));
        let jitter = Duration::from_millis(fastrand::u64(..30_000));
        let refresh_at = Instant::now() + lifetime.saturating_sub(margin + jitter);
        if let Some(r) = body.refresh_token.filter(|r| !r.is_empty()) {
            state.refresh_token = SecretString::from(r);
        }
        let token = SecretString::from(body.access_token);
        state.cached = Some(Cached {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }
}

#[async_trait]
impl CredentialProvider for HubSpotOAuth {
    async fn credential(&self) -> Result<Credential> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.cached
            && Instant::now() < c.refresh_at
        {
            return Ok(Credential::Bearer(c.token.clone()));
        }
        let token = self.refresh(&mut state).await?;
        Ok(Credential::Bearer(token))
    }

    async fn invalidate(&self, rejected: &Credential) -> bool {
        let mut state = self.state.lock().await;
        let same = match (&state.cached, rejected) {
            (Some(c), Credential::Bearer(t)) => c.token.expose_secret() == t.expose_secret(),
            _ => false,
        };
        if same {
            state.cached = None;
        }
        // Either the rejected token is gone now, or another caller already replaced it.
        true
    }
}
