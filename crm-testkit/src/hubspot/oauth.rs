//! The OAuth token endpoint (HubSpot's OAuth docs): `POST /oauth/v1/token` (and `/oauth/v3/token`)
//! with the `refresh_token` and `authorization_code` grants, 1800-second access tokens, and
//! `BAD_REFRESH_TOKEN` for a refresh token it does not know.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The fake app's OAuth settings.
#[derive(Clone, Debug)]
pub struct OAuthConfig {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// A refresh token the fake accepts from the start.
    pub refresh_token: String,
    /// An authorization code the fake exchanges once.
    pub authorization_code: String,
    /// Access token lifetime; HubSpot's is 30 minutes.
    pub access_token_ttl: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            refresh_token: "na1-fake-refresh-token".into(),
            authorization_code: "fake-authorization-code".into(),
            access_token_ttl: Duration::from_secs(1800),
        }
    }
}

/// What a bearer token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bearer {
    /// The private-app token.
    PrivateApp,
    /// A live OAuth access token.
    OAuth,
    /// An OAuth access token that expired this many seconds ago.
    Expired(u64),
    /// Unknown.
    Invalid,
}

/// Issued tokens.
#[derive(Debug)]
pub(crate) struct OAuthState {
    pub(crate) config: OAuthConfig,
    refresh_tokens: HashSet<String>,
    access_tokens: HashMap<String, Instant>,
    code_used: bool,
    rng: fastrand::Rng,
    pub(crate) issued: usize,
}

fn oauth_error(status: &str, error: &str, message: &str) -> (u16, Value) {
    (
        400,
        json!({"error": error, "error_description": message, "status": status, "message": message}),
    )
}

impl OAuthState {
    pub(crate) fn new(config: OAuthConfig) -> Self {
        let mut refresh_tokens = HashSet::new();
        refresh_tokens.insert(config.refresh_token.clone());
        Self {
            config,
            refresh_tokens,
            access_tokens: HashMap::new(),
            code_used: false,
            rng: fastrand::Rng::new(),
            issued: 0,
        }
    }

    pub(crate) fn classify(&self, token: &str, private_app: &str, now: Instant) -> Bearer {
        if token == private_app {
            return Bearer::PrivateApp;
        }
        match self.access_tokens.get(token) {
            Some(exp) if *exp > now => Bearer::OAuth,
            Some(exp) => Bearer::Expired(now.duration_since(*exp).as_secs()),
            None => Bearer::Invalid,
        }
    }

    /// Every issued access token expires now.
    pub(crate) fn expire_all(&mut self) {
        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        for exp in self.access_tokens.values_mut() {
            *exp = past;
        }
    }

    pub(crate) fn revoke_refresh_tokens(&mut self) {
        self.refresh_tokens.clear();
    }

    /// Answers a token request (form fields already parsed).
    pub(crate) fn token(&mut self, form: &[(String, String)], now: Instant) -> (u16, Value) {
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        if field("client_id") != self.config.client_id
            || field("client_secret") != self.config.client_secret
        {
            return oauth_error(
                "BAD_CLIENT_ID",
                "invalid_client",
                "missing or unknown client id",
            );
        }
        let refresh = match field("grant_type") {
            "refresh_token" => {
                let given = field("refresh_token");
                if !self.refresh_tokens.contains(given) {
                    return oauth_error(
                        "BAD_REFRESH_TOKEN",
                        "invalid_grant",
                        "refresh token is invalid, expired or revoked",
                    );
                }
                given.to_owned()
            }
            "authorization_code" => {
                if self.code_used || field("code") != self.config.authorization_code {
                    return oauth_error(
                        "BAD_AUTH_CODE",
                        "invalid_grant",
                        "missing or invalid auth code",
                    );
                }
                self.code_used = true;
                self.config.refresh_token.clone()
            }
            _ => {
                return oauth_error(
                    "BAD_GRANT_TYPE",
                    "unsupported_grant_type",
                    "unknown grant_type",
                );
            }
        };
        let access = format!("fake-at-{:016x}{:016x}", self.rng.u64(..), self.rng.u64(..));
        self.access_tokens
            .insert(access.clone(), now + self.config.access_token_ttl);
        self.issued += 1;
        (
            200,
            json!({"token_type": "bearer", "refresh_token": refresh, "access_token": access,
                   "expires_in": self.config.access_token_ttl.as_secs(), "hub_id": 62515,
                   "scopes": ["crm.objects.contacts.read", "crm.objects.contacts.write", "tickets"],
                   "token_use": "access_token"}),
        )
    }
}
