//! OAuth 2.0 for Salesforce (Salesforce Help, "OAuth Authorization Flows"): the refresh-token
//! grant, the client-credentials grant and the JWT bearer flow, behind [`CredentialProvider`].
//!
//! The login host is not the instance host: every token response names the org's
//! `instance_url`, which the connection then sends API calls to. Salesforce's token response has
//! no `expires_in` (a session lasts the org's session timeout), so a session is kept until a call
//! is refused with `401 INVALID_SESSION_ID` — the transport then calls
//! [`CredentialProvider::invalidate`] and replays once — or until the optional
//! `session_lifetime` passes. Concurrent callers share one token request (single flight).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_core::credential::{Credential, CredentialProvider};
use crm_core::raw::http::{
    ErrorParser, ErrorResponse, HttpClient, HttpClientBuilder, Request, decode_json, parse_base_url,
};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::Method;
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_core::reexports::url::Url;
use crm_core::retry::RetryPolicy;
use crm_core::{Error, ErrorKind, Result, VendorError};
use serde::Deserialize;

/// `exp` of a JWT assertion: Salesforce accepts at most 3 minutes ahead; 2 leave room for skew.
const ASSERTION_LIFETIME_SECS: i64 = 120;

/// The JWT bearer grant's type.
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

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

/// How the connection gets its access token.
#[derive(Clone)]
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

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::RefreshToken { client_id, .. } => f
                .debug_struct("RefreshToken")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Grant::ClientCredentials { client_id, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Grant::JwtBearer {
                client_id,
                username,
                audience,
                ..
            } => f
                .debug_struct("JwtBearer")
                .field("client_id", client_id)
                .field("username", username)
                .field("audience", audience)
                .finish_non_exhaustive(),
            Grant::AccessToken { instance_url, .. } => f
                .debug_struct("AccessToken")
                .field("instance_url", instance_url)
                .finish_non_exhaustive(),
        }
    }
}

struct Session {
    token: SecretString,
    instance_url: Url,
    fetched: Instant,
}

/// The Salesforce credential provider: caches one session, refreshes it single-flight, and
/// knows the instance URL the last token response named.
pub struct SalesforceCredentials {
    grant: Grant,
    login: Option<HttpClient>,
    session: tokio::sync::Mutex<Option<Session>>,
    session_lifetime: Option<Duration>,
}

impl fmt::Debug for SalesforceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceCredentials")
            .field("grant", &self.grant)
            .field("session_lifetime", &self.session_lifetime)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's error body: `{error, error_description}`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OAuthErrorParser;

impl ErrorParser for OAuthErrorParser {
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error {
        #[derive(Deserialize)]
        struct Body {
            error: Option<String>,
            error_description: Option<String>,
        }
        let body: Option<Body> = decode_json(
            response.body,
            response.headers,
            response.status,
            response.correlation_id,
        )
        .ok();
        let mut vendor = response.vendor();
        // The body of a token error never holds a secret, but the request did; keep no snippet.
        vendor.set_body(None);
        let code = body.as_ref().and_then(|b| b.error.clone());
        vendor.set_message(body.and_then(|b| b.error_description));
        vendor.code = code.clone();
        let kind = match (response.status.as_u16(), code.as_deref()) {
            (_, Some("invalid_grant" | "invalid_client" | "invalid_client_id")) => {
                ErrorKind::Unauthorized
            }
            (_, Some("unsupported_grant_type" | "invalid_request")) => ErrorKind::Config,
            _ => response.default_kind(),
        };
        let what = match &code {
            Some(c) => format!("the token endpoint refused the grant ({c})"),
            None => format!(
                "the token endpoint answered HTTP {}",
                response.status.as_u16()
            ),
        };
        Error::new(kind, what).with_vendor(vendor)
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    instance_url: Option<String>,
    id: Option<String>,
    issued_at: Option<String>,
    signature: Option<String>,
}

/// Checks `signature = base64(HMAC-SHA256(client_secret, id + issued_at))` (Salesforce's OAuth
/// token response docs), in constant time. Responses without a signature (the JWT flow's) pass.
fn verify_signature(body: &TokenResponse, secret: &SecretString) -> Result<()> {
    use base64::Engine;
    let Some(signature) = &body.signature else {
        return Ok(());
    };
    let bad = || {
        Error::new(
            ErrorKind::Signature,
            "the token response's signature does not verify with the client secret",
        )
        .with_operation("salesforce.token")
    };
    let tag = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| bad())?;
    let msg = format!(
        "{}{}",
        body.id.as_deref().unwrap_or_default(),
        body.issued_at.as_deref().unwrap_or_default()
    );
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        secret.expose_secret().as_bytes(),
    );
    aws_lc_rs::hmac::verify(&key, msg.as_bytes(), &tag).map_err(|_| bad())
}

impl SalesforceCredentials {
    /// A provider for `grant`, talking to the token endpoint at `login_url`
    /// (`https://login.salesforce.com`, `https://test.salesforce.com` or a My Domain URL).
    /// Makes no network call.
    pub fn new(
        grant: Grant,
        login_url: &str,
        root_ca_files: &[std::path::PathBuf],
        timeout: Option<Duration>,
    ) -> Result<Self> {
        let login = match &grant {
            Grant::AccessToken { instance_url, .. } => {
                parse_base_url("instance_url", instance_url)?;
                None
            }
            _ => {
                let mut b = HttpClientBuilder::new("salesforce-login", login_url)
                    .with_error_parser(Arc::new(OAuthErrorParser))
                    .with_retry(RetryPolicy::default());
                for ca in root_ca_files {
                    b = b.with_root_ca_file(ca.clone());
                }
                if let Some(t) = timeout {
                    b = b.with_timeout(t);
                }
                Some(
                    b.build()
                        .map_err(|e| Error::config(format!("login_url: {}", e.message())))?,
                )
            }
        };
        Ok(Self {
            grant,
            login,
            session: tokio::sync::Mutex::new(None),
            session_lifetime: None,
        })
    }

    /// Refreshes the session proactively once it is this old (the org's session timeout, if
    /// known). Default: only when Salesforce refuses it.
    pub fn with_session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = Some(lifetime);
        self
    }

    /// The instance URL of the current session, fetching a token first if there is none.
    pub async fn instance_url(&self) -> Result<Url> {
        Ok(self.current().await?.1)
    }

    async fn current(&self) -> Result<(SecretString, Url)> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            let fresh = self
                .session_lifetime
                .is_none_or(|l| s.fetched.elapsed() < l.mul_f64(0.9));
            if fresh {
                return Ok((s.token.clone(), s.instance_url.clone()));
            }
        }
        // Held across the fetch: concurrent callers wait for this one token request.
        let session = self.fetch().await?;
        let out = (session.token.clone(), session.instance_url.clone());
        *guard = Some(session);
        Ok(out)
    }

    async fn fetch(&self) -> Result<Session> {
        let form: Vec<(String, String)> = match &self.grant {
            Grant::AccessToken {
                token,
                instance_url,
            } => {
                return Ok(Session {
                    token: token.clone(),
                    instance_url: parse_base_url("instance_url", instance_url)?,
                    fetched: Instant::now(),
                });
            }
            Grant::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => {
                let mut f = vec![
                    ("grant_type".into(), "refresh_token".into()),
                    ("client_id".into(), client_id.clone()),
                    (
                        "refresh_token".into(),
                        refresh_token.expose_secret().to_owned(),
                    ),
                ];
                if let Some(s) = client_secret {
                    f.push(("client_secret".into(), s.expose_secret().to_owned()));
                }
                f
            }
            Grant::ClientCredentials {
                client_id,
                client_secret,
            } => vec![
                ("grant_type".into(), "client_credentials".into()),
                ("client_id".into(), client_id.clone()),
                (
                    "client_secret".into(),
                    client_secret.expose_secret().to_owned(),
                ),
            ],
            Grant::JwtBearer {
                client_id,
                username,
                audience,
                key,
            } => vec![
                ("grant_type".into(), JWT_GRANT.into()),
                ("assertion".into(), key.sign(client_id, username, audience)?),
            ],
        };
        let login = self
            .login
            .as_ref()
            .ok_or_else(|| Error::config("login_url: no token endpoint for this grant"))?;
        // A token request changes nothing at Salesforce (refresh tokens are not rotated), so it
        // may be retried.
        let req = Request::new(Method::POST, "/services/oauth2/token", "salesforce.token")
            .form(form)
            .idempotent(true);
        let resp = login.send(req).await?;
        let body: TokenResponse = resp.json().map_err(|e| {
            // The body holds the new token: keep no snippet of it.
            Error::decode(e.message().to_owned()).with_operation("salesforce.token")
        })?;
        let secret = match &self.grant {
            Grant::RefreshToken { client_secret, .. } => client_secret.as_ref(),
            Grant::ClientCredentials { client_secret, .. } => Some(client_secret),
            _ => None,
        };
        if let Some(secret) = secret {
            verify_signature(&body, secret)?;
        }
        let token = body.access_token.filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::decode("the token response has no access_token")
                .with_operation("salesforce.token")
        })?;
        let instance = body.instance_url.filter(|u| !u.is_empty()).ok_or_else(|| {
            Error::decode(
                "the token response has no instance_url, so the org's API host is unknown",
            )
            .with_operation("salesforce.token")
            .with_vendor(VendorError::with_status(resp.status.as_u16()))
        })?;
        // The instance must be https (or loopback): a token response cannot send the bearer
        // token to a plain-http host.
        let instance_url = parse_base_url("instance_url", &instance)
            .map_err(|e| e.with_operation("salesforce.token"))?;
        Ok(Session {
            token: SecretString::from(token),
            instance_url,
            fetched: Instant::now(),
        })
    }
}

#[async_trait]
impl CredentialProvider for SalesforceCredentials {
    async fn credential(&self) -> Result<Credential> {
        Ok(Credential::Bearer(self.current().await?.0))
    }

    async fn invalidate(&self, rejected: &Credential) -> bool {
        if matches!(self.grant, Grant::AccessToken { .. }) {
            return false;
        }
        let mut guard = self.session.lock().await;
        let same = match (guard.as_ref(), rejected) {
            (Some(s), Credential::Bearer(r)) => s.token.expose_secret() == r.expose_secret(),
            _ => false,
        };
        // Only drop the session the vendor refused: another caller may have refreshed already.
        if same {
            *guard = None;
        }
        true
    }
}
