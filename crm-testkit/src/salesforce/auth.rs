//! The OAuth 2.0 token endpoint (Salesforce Help): refresh-token, client-credentials and JWT
//! bearer grants. The response names the *instance* server in `instance_url` and carries no
//! `expires_in`; the session lasts `token_lifetime` and then fails with `INVALID_SESSION_ID`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

/// How long a JWT assertion may live: `exp` at most 3 minutes ahead (plus a little clock skew).
const MAX_ASSERTION_SECS: i64 = 180 + 5;

/// The connected app and user the fake's org knows.
#[derive(Clone)]
pub(crate) struct AuthConfig {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) refresh_token: String,
    pub(crate) username: String,
    pub(crate) jwt_public_key_pem: Option<String>,
    pub(crate) jwt_audiences: Vec<String>,
    pub(crate) token_lifetime: Duration,
    /// The org's clock minus the client's, in seconds.
    pub(crate) clock_skew_secs: i64,
}

struct Session {
    issued: Instant,
    revoked: bool,
}

/// Issued sessions and the org's ids.
pub(crate) struct AuthState {
    pub(crate) config: AuthConfig,
    sessions: BTreeMap<String, Session>,
    seq: u64,
    pub(crate) org_id: String,
    pub(crate) omit_instance_url: bool,
}

/// The token endpoint's error: HTTP 400 `{error, error_description}`.
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

fn oauth(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        status: 400,
        error,
        description: description.into(),
    }
}

#[derive(Deserialize)]
struct Claims {
    exp: i64,
}

impl AuthState {
    pub(crate) fn new(config: AuthConfig, org_id: String) -> Self {
        Self {
            config,
            sessions: BTreeMap::new(),
            seq: 0,
            org_id,
            omit_instance_url: false,
        }
    }

    /// Whether `token` is a live session.
    pub(crate) fn check(&self, token: &str) -> bool {
        self.sessions
            .get(token)
            .is_some_and(|s| !s.revoked && s.issued.elapsed() < self.config.token_lifetime)
    }

    /// Ends every session issued so far (what an admin's "revoke" or a session timeout does).
    pub(crate) fn expire_all(&mut self) {
        for s in self.sessions.values_mut() {
            s.revoked = true;
        }
    }

    fn issue(&mut self) -> String {
        self.seq += 1;
        let mut rng = fastrand::Rng::new();
        let tail: String = (0..48)
            .map(|_| {
                let set = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
                char::from(set.get(rng.usize(..set.len())).copied().unwrap_or(b'x'))
            })
            .collect();
        // Salesforce session ids start with the org id's 15-character form and a `!`.
        let token = format!(
            "{}!AQ{}{tail}",
            self.org_id.get(..15).unwrap_or(&self.org_id),
            self.seq
        );
        self.sessions.insert(
            token.clone(),
            Session {
                issued: Instant::now(),
                revoked: false,
            },
        );
        token
    }

    fn client(
        &self,
        form: &BTreeMap<String, String>,
        secret_required: bool,
    ) -> Result<(), OAuthError> {
        if form.get("client_id") != Some(&self.config.client_id) {
            return Err(oauth("invalid_client_id", "client identifier invalid"));
        }
        match form.get("client_secret") {
            Some(s) if *s != self.config.client_secret => {
                Err(oauth("invalid_client", "invalid client credentials"))
            }
            None if secret_required => Err(oauth("invalid_client", "invalid client credentials")),
            _ => Ok(()),
        }
    }

    fn verify_assertion(&self, assertion: &str) -> Result<(), OAuthError> {
        let pem = self
            .config
            .jwt_public_key_pem
            .as_deref()
            .ok_or_else(|| oauth("invalid_grant", "invalid assertion"))?;
        let key = DecodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|_| oauth("invalid_grant", "invalid assertion"))?;
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| oauth("invalid_grant", "invalid assertion"))?;
        if header.alg != Algorithm::RS256 {
            return Err(oauth("invalid_grant", "invalid assertion"));
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        v.set_issuer(&[self.config.client_id.as_str()]);
        v.set_audience(&self.config.jwt_audiences);
        v.sub = Some(self.config.username.clone());
        let data = jsonwebtoken::decode::<Claims>(assertion, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidAudience => oauth("invalid_grant", "audience is invalid"),
                K::InvalidIssuer => oauth("invalid_client_id", "client identifier invalid"),
                K::InvalidSubject => oauth("invalid_grant", "user hasn't approved this consumer"),
                K::ExpiredSignature => oauth("invalid_grant", "expired authorization code"),
                _ => oauth("invalid_grant", "invalid assertion"),
            }
        })?;
        let org_now = chrono::Utc::now().timestamp() + self.config.clock_skew_secs;
        let ahead = data.claims.exp - org_now;
        if ahead <= 0 {
            return Err(oauth("invalid_grant", "expired authorization code"));
        }
        if ahead > MAX_ASSERTION_SECS {
            return Err(oauth("invalid_grant", "invalid assertion"));
        }
        Ok(())
    }

    /// Handles `POST /services/oauth2/token` (a form body).
    pub(crate) fn token(
        &mut self,
        body: &[u8],
        login_origin: &str,
        instance_origin: &str,
    ) -> Result<Value, OAuthError> {
        let form: BTreeMap<String, String> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let grant = form
            .get("grant_type")
            .map(String::as_str)
            .unwrap_or_default();
        let signed = match grant {
            "refresh_token" => {
                self.client(&form, false)?;
                if form.get("refresh_token") != Some(&self.config.refresh_token) {
                    return Err(oauth("invalid_grant", "expired access/refresh token"));
                }
                true
            }
            "client_credentials" => {
                self.client(&form, true)?;
                true
            }
            "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
                let assertion = form
                    .get("assertion")
                    .ok_or_else(|| oauth("invalid_grant", "invalid assertion"))?;
                self.verify_assertion(assertion)?;
                false
            }
            "" => return Err(oauth("unsupported_grant_type", "grant type not supported")),
            _ => return Err(oauth("unsupported_grant_type", "grant type not supported")),
        };
        let token = self.issue();
        let user = super::ids::make("005", 1);
        let id = format!("{login_origin}/id/{}/{user}", self.org_id);
        let issued_at = chrono::Utc::now().timestamp_millis().to_string();
        let mut out = json!({
            "access_token": token,
            "instance_url": instance_origin,
            "id": id,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "scope": "api",
        });
        if self.omit_instance_url
            && let Value::Object(m) = &mut out
        {
            m.remove("instance_url");
        }
        if signed {
            // signature = base64(HMAC-SHA256(client_secret, id + issued_at)) (Salesforce docs).
            let key = aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                self.config.client_secret.as_bytes(),
            );
            let tag = aws_lc_rs::hmac::sign(&key, format!("{id}{issued_at}").as_bytes());
            let signature = json!(base64::engine::general_purpose::STANDARD.encode(tag.as_ref()));
            if let Value::Object(m) = &mut out {
                m.insert("signature".into(), signature);
            }
        }
        Ok(out)
    }
}
