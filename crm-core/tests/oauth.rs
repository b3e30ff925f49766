//! OAuth grants against a loopback token endpoint: rotation stored, single flight, and every bad
//! answer a typed error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;

use crm_core::ErrorKind;
use crm_core::credential::{
    CachedToken, ClientCredentialsGrant, Credential, CredentialProvider, FileTokenStore,
    MemoryTokenStore, OAuthClient, RefreshTokenGrant, TokenStore,
};
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn bearer(c: Credential) -> String {
    match c {
        Credential::Bearer(t) => t.expose_secret().to_owned(),
        _ => String::new(),
    }
}

fn client(server: &MockServer) -> OAuthClient {
    OAuthClient::new(
        &format!("{}/oauth/v1/token", server.uri()),
        "client-1",
        Some(SecretString::from("very-secret")),
    )
    .unwrap()
}

#[tokio::test]
async fn a_rotated_refresh_token_is_stored_and_used_next_time() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "bearer", "access_token": "at-1", "refresh_token": "rt-2", "expires_in": 1800
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .and(body_string_contains("refresh_token=rt-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "at-2", "expires_in": 1800
        })))
        .mount(&server)
        .await;
    let store = Arc::new(MemoryTokenStore::default());
    let grant = RefreshTokenGrant::new(
        client(&server),
        Some(SecretString::from("rt-1")),
        store.clone(),
    );
    let cache = CachedToken::new(grant);
    assert_eq!(bearer(cache.credential().await.unwrap()), "at-1");
    assert_eq!(store.load().await.unwrap().unwrap().expose_secret(), "rt-2");
    // A 401 on at-1: the next token comes from the rotated refresh token.
    cache
        .invalidate(&Credential::Bearer(SecretString::from("at-1")))
        .await;
    assert_eq!(bearer(cache.credential().await.unwrap()), "at-2");
    assert!(!format!("{cache:?}").contains("very-secret"));
}

#[tokio::test]
async fn a_hundred_concurrent_callers_cause_one_token_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(std::time::Duration::from_millis(50))
                .set_body_json(serde_json::json!({"access_token": "cc-1", "expires_in": 3600})),
        )
        .mount(&server)
        .await;
    let cache = Arc::new(CachedToken::new(
        ClientCredentialsGrant::new(client(&server)).unwrap(),
    ));
    let calls = (0..100).map(|_| {
        let cache = cache.clone();
        tokio::spawn(async move { bearer(cache.credential().await.unwrap()) })
    });
    for t in futures::future::join_all(calls).await {
        assert_eq!(t.unwrap(), "cc-1");
    }
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let body = String::from_utf8(requests[0].body.clone()).unwrap();
    assert!(body.contains("grant_type=client_credentials"), "{body}");
    assert!(requests[0].url.path() == "/oauth/v1/token");
}

#[tokio::test]
async fn bad_token_answers_are_typed_errors() {
    let cases = [
        (
            400,
            r#"{"error":"invalid_grant","error_description":"expired"}"#,
            "application/json",
            "re-authorise",
        ),
        (
            400,
            r#"{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token"}"#,
            "application/json",
            "re-authorise",
        ),
        (
            401,
            r#"{"error":"invalid_client"}"#,
            "application/json",
            "client id or secret",
        ),
        (200, "<html><body>Login</body></html>", "text/html", "HTML"),
        (
            200,
            r#"{"token_type":"bearer"}"#,
            "application/json",
            "access_token",
        ),
    ];
    for (status, body, ct, needle) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(body, ct))
            .mount(&server)
            .await;
        let grant = RefreshTokenGrant::new(
            client(&server),
            Some(SecretString::from("rt")),
            Arc::new(MemoryTokenStore::default()),
        );
        let err = CachedToken::new(grant).credential().await.unwrap_err();
        assert!(err.to_string().contains(needle), "{status} {body}: {err}");
        if status == 200 {
            assert_eq!(err.kind(), &ErrorKind::Decode, "{err}");
        } else {
            assert_eq!(err.kind(), &ErrorKind::Unauthorized, "{err}");
            assert!(!err.is_retryable());
        }
        // The grant was sent once: a dead refresh token is not retried in a loop.
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn the_file_store_survives_a_restart_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refresh.token");
    let store = FileTokenStore::new(&path);
    assert!(store.load().await.unwrap().is_none());
    store.save(&SecretString::from("rt-rotated")).await.unwrap();
    let again = FileTokenStore::new(&path);
    assert_eq!(
        again.load().await.unwrap().unwrap().expose_secret(),
        "rt-rotated"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn token_urls_follow_the_https_rule() {
    let err = OAuthClient::new("http://login.example.com/token", "c", None).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.message().starts_with("token_url"));
    let no_secret = OAuthClient::new("https://login.example.com/t", "c", None).unwrap();
    assert!(ClientCredentialsGrant::new(no_secret).is_err());
}

#[tokio::test]
async fn a_revoked_api_key_mid_run_switches_to_the_rotated_one() {
    use crm_core::credential::RotatingApiKey;
    use crm_core::raw::http::{HttpClientBuilder, Request};
    use wiremock::matchers::header;
    let server = MockServer::start().await;
    Mock::given(header("x-api-key", "key-new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let key =
        Arc::new(RotatingApiKey::in_header("X-Api-Key", SecretString::from("key-old")).unwrap());
    let http = HttpClientBuilder::new("test", server.uri())
        .with_credentials(key.clone())
        .build()
        .unwrap();
    // Old key revoked, no new key yet: a typed error, one attempt, no loop.
    let err = http.send(Request::get("/x", "x.get")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    assert_eq!(err.attempts(), 1);
    // The operator adds the new key at runtime: the next call switches on the 401 and succeeds.
    key.add_next(SecretString::from("key-new"));
    let resp = http.send(Request::get("/x", "x.get")).await.unwrap();
    assert_eq!(resp.attempts, 2);
    let resp = http.send(Request::get("/x", "x.get")).await.unwrap();
    assert_eq!(resp.attempts, 1);
}
