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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{CachedToken, CredentialProvider, MemoryTokenStore};
    use crate::retry::RetryPolicy;
    use std::num::NonZeroU32;
    use std::time::Duration;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// The connection's policy, with short backoffs for the test.
    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: NonZeroU32::new(3).unwrap(),
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        }
    }

    fn client(server: &MockServer, secret: Option<&str>) -> OAuthClient {
        OAuthClient::builder(
            &format!("{}/oauth/token", server.uri()),
            "client-1",
            secret.map(SecretString::from),
        )
        .with_retry(policy())
        .build()
        .unwrap()
    }

    /// A token endpoint that fails once with a 503, then answers.
    async fn flaky() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "at-1", "token_type": "Bearer",
                "instance_url": "https://na1.example.com", "issued_at": 1700000000
            })))
            .mount(&server)
            .await;
        server
    }

    async fn requests(server: &MockServer) -> Vec<String> {
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect()
    }

    /// Issue 13: every adapter's token endpoint retries by the connection's policy; whether a
    /// grant is replayed after a 5xx depends on whether the lost answer could have cost
    /// anything (a rotated refresh token).
    #[tokio::test]
    async fn item13_token_requests_retry_by_the_connection_policy() {
        let server = flaky().await;
        let cc = ClientCredentialsGrant::new(client(&server, Some("s3cret"))).unwrap();
        let token = cc.fetch().await.unwrap();
        assert_eq!(token.access_token.expose_secret(), "at-1");
        // The response's other fields stay with the token, numbers as text.
        assert_eq!(token.extra["instance_url"], "https://na1.example.com");
        assert_eq!(token.extra["issued_at"], "1700000000");
        assert_eq!(requests(&server).await.len(), 2, "one 503, one replay");

        // A rotating refresh token: the 503 may have consumed it, so no replay.
        let server = flaky().await;
        let store = Arc::new(MemoryTokenStore::default());
        let rotating = RefreshTokenGrant::new(
            client(&server, Some("s3cret")),
            Some(SecretString::from("rt-1")),
            store.clone(),
        );
        let err = rotating.fetch().await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Unavailable);
        assert_eq!(requests(&server).await.len(), 1);

        // A vendor that never rotates: replayed like any idempotent request.
        let server = flaky().await;
        let steady = RefreshTokenGrant::new(
            client(&server, Some("s3cret")),
            Some(SecretString::from("rt-1")),
            store,
        )
        .without_rotation();
        steady.fetch().await.unwrap();
        let sent = requests(&server).await;
        assert_eq!(sent.len(), 2);
        assert!(sent[1].contains("grant_type=refresh_token"), "{}", sent[1]);
        assert!(sent[1].contains("refresh_token=rt-1"), "{}", sent[1]);
        assert!(sent[1].contains("client_secret=s3cret"), "{}", sent[1]);
    }

    #[derive(Debug)]
    struct FixedAssertion;

    impl AssertionSigner for FixedAssertion {
        fn assertion(&self) -> Result<SecretString> {
            Ok(SecretString::from("header.claims.signature"))
        }
    }

    /// Issue 13: the JWT bearer grant is core's, the assertion the adapter's: the form is the
    /// grant type and the assertion (the client id travels inside the assertion), and the grant
    /// is replayed after a 5xx since it only mints another token.
    #[tokio::test]
    async fn item13_the_jwt_bearer_grant_posts_the_adapters_assertion() {
        let server = flaky().await;
        let grant = JwtBearerGrant::new(client(&server, None), FixedAssertion);
        let cache = CachedToken::new(grant);
        cache.credential().await.unwrap();
        let sent = requests(&server).await;
        assert_eq!(sent.len(), 2);
        let form: Vec<(String, String)> = url::form_urlencoded::parse(sent[1].as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            form,
            vec![
                ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
                ("assertion".to_owned(), "header.claims.signature".to_owned()),
            ]
        );
    }

    const CA: &[u8] = include_bytes!("../../tests/fixtures/test-ca.crt");
    const CERT: &[u8] = include_bytes!("../../tests/fixtures/localhost.crt");
    const KEY: &[u8] = include_bytes!("../../tests/fixtures/localhost.key");

    /// A token endpoint on 127.0.0.1 over TLS, with a certificate from a test CA the system
    /// does not trust. Answers every request with a token.
    async fn tls_token_endpoint() -> u16 {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(CERT).unwrap()],
            PrivateKeyDer::from_pem_slice(KEY).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Read the head and the form (the form is short); then answer and close.
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        if seen.windows(14).any(|w| w == b"grant_type=cli") {
                            break;
                        }
                    }
                    let body = r#"{"access_token":"at-tls","token_type":"Bearer"}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    /// Issue 13: the token endpoint trusts the connection's extra root CA, as its API calls do.
    #[tokio::test]
    async fn item13_the_token_endpoint_trusts_the_connections_ca() {
        let port = tls_token_endpoint().await;
        let url = format!("https://localhost:{port}/token");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, CA).unwrap();
        let untrusted = OAuthClient::builder(&url, "c", Some(SecretString::from("s")))
            .build()
            .unwrap();
        let err = ClientCredentialsGrant::new(untrusted)
            .unwrap()
            .fetch()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("certificate"), "{err}");
        let trusted = OAuthClient::builder(&url, "c", Some(SecretString::from("s")))
            .with_root_ca_file(&ca)
            .with_label("vendor")
            .build()
            .unwrap();
        let token = ClientCredentialsGrant::new(trusted)
            .unwrap()
            .fetch()
            .await
            .unwrap();
        assert_eq!(token.access_token.expose_secret(), "at-tls");
    }
}
