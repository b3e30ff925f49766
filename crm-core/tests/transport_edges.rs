//! Issue 12, items 5, 6, 17 and 18 at the transport: a path holding a dot segment is never
//! sent, a redirect is an error naming its target host, a 404 on a route names the path the
//! SDK built, and certificate and DNS failures name the host and the fix without being retried.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crm_core::ErrorKind;
use crm_core::raw::http::{HttpClient, HttpClientBuilder, Request};
use crm_core::retry::RetryPolicy;
use http::Method;
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Retries quickly, so that a retried failure would show as extra attempts, not as a slow test.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: NonZeroU32::new(4).unwrap(),
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        ..RetryPolicy::default()
    }
}

fn client(base: &str) -> HttpClient {
    HttpClientBuilder::new("test", base)
        .with_retry(fast_retries())
        .build()
        .unwrap()
}

#[tokio::test]
async fn ids_a_path_with_a_dot_segment_is_never_sent() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let http = client(&server.uri());
    for p in [
        "/objects/contacts/..",
        "/objects/contacts/.",
        "/objects/contacts/%2e%2e",
        "/objects/contacts/%2E./x",
        "/sobjects/Contact/%252e%252e",
    ] {
        let err = http
            .send(Request::new(Method::PATCH, p, "contact.update"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{p}: {err}");
        assert_eq!(err.attempts(), 0, "{p}");
    }
}

#[tokio::test]
async fn redirect_is_a_config_error_naming_the_target_host_only() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header(
                    "location",
                    "https://login.example.net/sso?session=s3cret&email=jane%40example.com",
                )
                .set_body_json(serde_json::json!({"results": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server.uri())
        .send(Request::get("/crm/v3/objects/contacts", "contact.list"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert_eq!(err.status(), Some(302));
    let text = err.to_string();
    assert!(
        text.contains("302") && text.contains("login.example.net"),
        "{text}"
    );
    assert!(!text.contains("s3cret") && !text.contains("sso") && !text.contains("jane"));
    assert!(
        !err.vendor().unwrap().has_body(),
        "nothing read from the body"
    );
}

#[tokio::test]
async fn redirect_a_relative_location_names_the_servers_own_host() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/v2/contacts?x=1"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server.uri())
        .send(Request::get("/contacts", "contact.list"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.message().contains("`127.0.0.1`"), "{err}");
}

/// `300 Multiple Choices` is how Salesforce says an external id matched several records: it
/// goes to the adapter's error parser, not to the redirect rule.
#[tokio::test]
async fn redirect_rule_leaves_300_to_the_error_parser() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(300).set_body_json(serde_json::json!(["/a", "/b"])))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server.uri())
        .send(Request::get("/sobjects/Contact/Ext__c/k", "contact.get").addresses_record())
        .await
        .unwrap_err();
    assert_ne!(err.kind(), &ErrorKind::Config, "{err}");
    assert!(err.vendor().unwrap().has_body());
}

#[tokio::test]
async fn route_404_is_a_config_error_naming_the_path_without_the_query() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(404).set_body_json(
                serde_json::json!({"status": "error", "category": "OBJECT_NOT_FOUND"}),
            ),
        )
        .expect(2)
        .mount(&server)
        .await;
    let http = client(&format!("{}/crm/v3", server.uri()));
    let err = http
        .send(
            Request::new(
                Method::POST,
                "/crm/v3/objects/contacts/search",
                "contact.find",
            )
            .query("email", "jane@example.com"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert_eq!(err.status(), Some(404));
    let text = err.to_string();
    assert!(
        text.contains("the endpoint `/crm/v3/crm/v3/objects/contacts/search` was not found"),
        "{text}"
    );
    assert!(
        text.contains("base_url") && !text.contains("jane"),
        "{text}"
    );
    // A request for one record: a 404 is that record missing.
    let err = http
        .send(Request::get("/crm/v3/objects/contacts/512", "contact.get").addresses_record())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
}

const CA: &[u8] = include_bytes!("fixtures/test-ca.crt");
const CERT: &[u8] = include_bytes!("fixtures/localhost.crt");
const KEY: &[u8] = include_bytes!("fixtures/localhost.key");

/// A TLS server on 127.0.0.1 with a certificate from a test CA the system does not trust;
/// counts the connections accepted.
async fn untrusted_tls_server() -> (u16, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_slice(CERT).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The client refuses the certificate, so the handshake fails; nothing to serve.
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    (port, connections)
}

#[tokio::test]
async fn tls_an_untrusted_certificate_names_the_host_and_ca_file_after_one_attempt() {
    let (port, connections) = untrusted_tls_server().await;
    let http = client(&format!("https://localhost:{port}"));
    let err = http
        .send(Request::get("/crm/v3/objects/contacts", "contact.list"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.attempts(), 1, "{err}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    let text = err.to_string();
    assert!(text.contains("`localhost`"), "{text}");
    assert!(text.contains("certificate not trusted"), "{text}");
    assert!(text.contains("`ca_file`"), "{text}");
}

#[tokio::test]
async fn tls_the_same_server_is_trusted_with_its_ca_file() {
    let (port, connections) = untrusted_tls_server().await;
    let http = HttpClientBuilder::new("test", format!("https://localhost:{port}"))
        .with_root_ca_pem(CA)
        .with_retry(RetryPolicy::never())
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // The handshake now succeeds; the server then closes the connection without answering.
    let err = http.send(Request::get("/x", "probe")).await.unwrap_err();
    assert!(!err.message().contains("certificate"), "{err}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn dns_an_unresolvable_host_is_host_not_found_after_one_attempt() {
    // `.invalid` never resolves (RFC 6761); the query goes to the local resolver only.
    let http = client("https://nonexistent.invalid");
    let err = http
        .send(Request::get("/crm/v3/objects/contacts", "contact.list"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
    assert_eq!(err.attempts(), 1, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("`nonexistent.invalid`") && text.contains("host not found"),
        "{text}"
    );
}
