//! OAuth 2.0 for Salesforce (Salesforce Help, "OAuth Authorization Flows"): the refresh-token
//! grant, the client-credentials grant and the JWT bearer flow, behind [`CredentialProvider`].
//!
//! Core does the OAuth: its grants post the token requests (with the connection's CA, timeout
//! and retry policy) and read their errors, and its token cache refreshes single-flight and
//! drops a session Salesforce refused. What only Salesforce has stays here: the JWT
//! assertion's claims and key, the token response's `instance_url` (the login host is not the
//! instance host: API calls go where the token response says), and the response's
//! `signature`, checked with the client secret.
//!
//! Salesforce's token response has no `expires_in` (a session lasts the org's session
//! timeout), so a session is kept until a call is refused with `401 INVALID_SESSION_ID` — the
//! transport then calls [`CredentialProvider::invalidate`] and replays once — or until the
//! optional `session_lifetime` passes.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crm_core::credential::{
    AssertionSigner, CachedToken, ClientCredentialsGrant, Credential, CredentialProvider,
    JwtBearerGrant, MemoryTokenStore, OAuthClient, RefreshTokenGrant, Token, TokenFields,
    TokenSource,
};
use crm_core::events::signature::{self, Encoding};
use crm_core::limits::RateLimiter;
use crm_core::raw::http::parse_base_url;
use crm_core::reexports::async_trait;
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_core::reexports::url::Url;
use crm_core::retry::RetryPolicy;
use crm_core::{Error, ErrorKind, Result};

/// `exp` of a JWT assertion: Salesforce accepts at most 3 minutes ahead; 2 leave room for skew.
const ASSERTION_LIFETIME_SECS: i64 = 120;

/// The token endpoint under the login URL.
const TOKEN_PATH: &str = "/services/oauth2/token";

/// The bucket token requests are reported in (see [`SalesforceCredentials::with_token_limiter`]).
pub(crate) const TOKEN_BUCKET: crm_core::limits::Bucket = "oauth";

/// An RSA private key for the JWT bearer flow, checked when it is loaded.
#[derive(Clone)]
pub struct JwtKey(jsonwebtoken::EncodingKey);

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKey(<redacted>)")
    }
}

impl JwtKey {
    /// Loads an RSA private key from PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    /// An EC or Ed25519 key, a public key or anything else is a `Config` error that never
    /// repeats the key.
    pub fn from_pem(pem: &SecretString) -> Result<Self> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
            .map_err(|_| {
                Error::config(
                    "private_key: not an RSA private key in PEM form (PKCS#1 or PKCS#8); the JWT bearer flow signs with RS256",
                )
            })?;
        let key = Self(key);
        // Sign once now, so a key the crypto backend refuses (too short, corrupt) fails at
        // build time rather than at the first call.
        key.sign("check", "check", "https://login.salesforce.com")?;
        Ok(key)
    }

    fn sign(&self, iss: &str, sub: &str, aud: &str) -> Result<String> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: &'a str,
            exp: i64,
        }
        let claims = Claims {
            iss,
            sub,
            aud,
            exp: chrono::Utc::now().timestamp() + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &self.0,
        )
        .map_err(|_| Error::config("private_key: the RSA key cannot sign an RS256 assertion"))
    }
}

/// How the connection gets its access token. Its `Debug` shows no secret: tokens and secrets
/// are [`SecretString`]s and the key a [`JwtKey`], all of which print redacted.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Grant {
    /// `grant_type=refresh_token` (a web-server flow's refresh token).
    RefreshToken {
        /// Consumer key.
        client_id: String,
        /// Consumer secret, if the connected app requires it for refresh.
        client_secret: Option<SecretString>,
        /// The refresh token.
        refresh_token: SecretString,
    },
    /// `grant_type=client_credentials` (a run-as integration user); use the My Domain URL as
    /// the login URL.
    ClientCredentials {
        /// Consumer key.
        client_id: String,
        /// Consumer secret.
        client_secret: SecretString,
    },
    /// The JWT bearer flow: an RS256 assertion with `iss` = consumer key, `sub` = username,
    /// `aud` = the login audience, `exp` within 3 minutes.
    JwtBearer {
        /// Consumer key (`iss`).
        client_id: String,
        /// The user (`sub`).
        username: String,
        /// `https://login.salesforce.com`, `https://test.salesforce.com` or an Experience
        /// Cloud site URL — never the My Domain URL.
        audience: String,
        /// The connected app's private key.
        key: JwtKey,
    },
    /// A ready access token and its instance (no refresh possible).
    AccessToken {
        /// The token.
        token: SecretString,
        /// The instance it belongs to.
        instance_url: String,
    },
}

/// The JWT bearer flow's claims, signed with the connected app's key: `iss` = consumer key,
/// `sub` = username, `aud` = the login audience, `exp` within 3 minutes.
#[derive(Debug)]
struct Assertion {
    client_id: String,
    username: String,
    audience: String,
    key: JwtKey,
}

impl AssertionSigner for Assertion {
    fn assertion(&self) -> Result<SecretString> {
        self.key
            .sign(&self.client_id, &self.username, &self.audience)
            .map(SecretString::from)
    }
}

/// Salesforce's sessions: one of core's grants with Salesforce's part of each answer (the
/// signature checked, the `instance_url` read), or the access token given. A session is the
/// token and the instance it belongs to.
#[derive(Debug)]
enum Sessions {
    Grant {
        grant: Box<dyn TokenSource<Extra = TokenFields>>,
        /// The client secret that signs the token response (refresh-token and
        /// client-credentials grants; the JWT flow's response is unsigned).
        signed_with: Option<SecretString>,
    },
    Fixed {
        token: SecretString,
        instance_url: Url,
    },
}

#[async_trait]
impl TokenSource for Sessions {
    type Extra = Url;

    async fn fetch(&self) -> Result<Token<Url>> {
        let (grant, signed_with) = match self {
            Sessions::Fixed {
                token,
                instance_url,
            } => {
                return Ok(Token::new(token.clone(), None).with_extra(instance_url.clone()));
            }
            Sessions::Grant { grant, signed_with } => (grant, signed_with),
        };
        let token = grant.fetch().await?;
        if let Some(secret) = signed_with {
            verify_signature(&token.extra, secret)?;
        }
        let instance = token
            .extra
            .get("instance_url")
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                Error::decode(
                    "the token response has no instance_url, so the org's API host is unknown",
                )
                .with_operation("salesforce.token")
            })?;
        // The instance must be https (or loopback): a token response cannot send the bearer
        // token to a plain-http host.
        let instance_url = parse_base_url("instance_url", instance)
            .map_err(|e| e.with_operation("salesforce.token"))?;
        Ok(token.with_extra(instance_url))
    }

    /// A given access token is all there is: a 401 on it is final.
    fn renews(&self) -> bool {
        matches!(self, Sessions::Grant { .. })
    }
}

/// Checks `signature = base64(HMAC-SHA256(client_secret, id + issued_at))` (Salesforce's OAuth
/// token response docs), in constant time. Responses without a signature (the JWT flow's) pass.
fn verify_signature(fields: &TokenFields, secret: &SecretString) -> Result<()> {
    let Some(given) = fields.get("signature") else {
        return Ok(());
    };
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let parts = [field("id").as_bytes(), field("issued_at").as_bytes()];
    let expected = signature::hmac_sha256(secret.expose_secret().as_bytes(), &parts)?;
    signature::verify(given, &expected, Encoding::Base64).map_err(|_| {
        Error::new(
            ErrorKind::Signature,
            "the token response's signature does not verify with the client secret",
        )
        .with_operation("salesforce.token")
    })
}

/// The Salesforce credential provider: core's token cache over Salesforce's sessions, which
/// also knows the instance URL the last token response named.
#[derive(Debug)]
pub struct SalesforceCredentials {
    sessions: CachedToken<Sessions>,
}

impl SalesforceCredentials {
    /// A provider for `grant`, talking to the token endpoint at `login_url`
    /// (`https://login.salesforce.com`, `https://test.salesforce.com` or a My Domain URL) with
    /// the connection's extra root CAs, timeout and retry policy (`None`: the default policy).
    /// Makes no network call.
    pub fn new(
        grant: Grant,
        login_url: &str,
        root_ca_files: &[PathBuf],
        timeout: Option<Duration>,
        retry: Option<RetryPolicy>,
    ) -> Result<Self> {
        Self::with_token_limiter(grant, login_url, root_ca_files, timeout, retry, None)
    }

    /// [`SalesforceCredentials::new`] whose token requests draw from `limiter` (bucket
    /// [`TOKEN_BUCKET`]): the connection's request observer, so that a counter sees them too.
    /// Salesforce's token endpoint is not an API call and counts toward no API limit, so the
    /// connection's own pacing is not put in front of it.
    pub(crate) fn with_token_limiter(
        grant: Grant,
        login_url: &str,
        root_ca_files: &[PathBuf],
        timeout: Option<Duration>,
        retry: Option<RetryPolicy>,
        limiter: Option<Arc<dyn RateLimiter>>,
    ) -> Result<Self> {
        let client = |client_id: &str, secret: Option<SecretString>| {
            let token_url = format!("{}{TOKEN_PATH}", login_url.trim_end_matches('/'));
            let mut b = OAuthClient::builder(&token_url, client_id, secret)
                .with_label("salesforce")
                .with_retry(retry.clone().unwrap_or_default());
            if let Some(l) = &limiter {
                b = b.with_limiter(l.clone(), TOKEN_BUCKET);
            }
            for ca in root_ca_files {
                b = b.with_root_ca_file(ca.clone());
            }
            if let Some(t) = timeout {
                b = b.with_timeout(t);
            }
            b.build()
                .map_err(|e| Error::config(format!("login_url: {}", e.message())))
        };
        let sessions = match grant {
            Grant::AccessToken {
                token,
                instance_url,
            } => Sessions::Fixed {
                token,
                instance_url: parse_base_url("instance_url", &instance_url)?,
            },
            Grant::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => Sessions::Grant {
                // Salesforce does not rotate refresh tokens, so a lost answer costs nothing
                // and the grant may be replayed like any idempotent request.
                grant: Box::new(
                    RefreshTokenGrant::new(
                        client(&client_id, client_secret.clone())?,
                        Some(refresh_token),
                        Arc::new(MemoryTokenStore::default()),
                    )
                    .without_rotation(),
                ),
                signed_with: client_secret,
            },
            Grant::ClientCredentials {
                client_id,
                client_secret,
            } => Sessions::Grant {
                grant: Box::new(ClientCredentialsGrant::new(client(
                    &client_id,
                    Some(client_secret.clone()),
                )?)?),
                signed_with: Some(client_secret),
            },
            Grant::JwtBearer {
                client_id,
                username,
                audience,
                key,
            } => Sessions::Grant {
                // The consumer key is the assertion's `iss`; the form carries no client id.
                grant: Box::new(JwtBearerGrant::new(
                    client(&client_id, None)?,
                    Assertion {
                        client_id,
                        username,
                        audience,
                        key,
                    },
                )),
                signed_with: None,
            },
        };
        Ok(Self {
            sessions: CachedToken::new(sessions),
        })
    }

    /// Refreshes the session proactively at 90 % of this age (the org's session timeout, if
    /// known). Default: only when Salesforce refuses it.
    pub fn with_session_lifetime(mut self, lifetime: Duration) -> Self {
        self.sessions = self.sessions.with_max_age(lifetime.mul_f64(0.9));
        self
    }

    /// The instance URL of the current session, fetching a token first if there is none.
    pub async fn instance_url(&self) -> Result<Url> {
        Ok(self.sessions.token().await?.extra)
    }
}

#[async_trait]
impl CredentialProvider for SalesforceCredentials {
    async fn credential(&self) -> Result<Credential> {
        self.sessions.credential().await
    }

    async fn invalidate(&self, rejected: &Credential) -> bool {
        self.sessions.invalidate(rejected).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn login_failing_once() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "00D!session", "token_type": "Bearer",
                "instance_url": "http://127.0.0.1:9", "id": "https://login/id/00D/005",
                "issued_at": "1700000000000"
            })))
            .mount(&server)
            .await;
        server
    }

    fn grant() -> Grant {
        Grant::RefreshToken {
            client_id: "consumer-key".into(),
            client_secret: None,
            refresh_token: SecretString::from("rt-1"),
        }
    }

    /// Issue 13: Salesforce's token endpoint is core's OAuth client with the connection's
    /// retry policy: replayed after a 503 under the default policy, not under `never`.
    #[tokio::test]
    async fn item13_the_login_server_retries_by_the_connection_policy() {
        let fast = RetryPolicy {
            max_attempts: NonZeroU32::new(3).unwrap(),
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let server = login_failing_once().await;
        let creds =
            SalesforceCredentials::new(grant(), &server.uri(), &[], None, Some(fast)).unwrap();
        let instance = creds.instance_url().await.unwrap();
        assert_eq!(instance.as_str(), "http://127.0.0.1:9/");
        assert_eq!(server.received_requests().await.unwrap().len(), 2);

        let server = login_failing_once().await;
        let creds = SalesforceCredentials::new(
            grant(),
            &server.uri(),
            &[],
            None,
            Some(RetryPolicy::never()),
        )
        .unwrap();
        let err = creds.instance_url().await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Unavailable, "{err}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
        assert!(!format!("{creds:?} {err:?}").contains("rt-1"));
    }
}
