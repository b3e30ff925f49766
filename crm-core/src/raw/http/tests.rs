//! The transport against a loopback server: retries, Retry-After, idempotency, timeouts, bad
//! bodies, credentials.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use http::Method;
use http::header::HeaderName;
use url::Url;

use super::*;
use crate::credential::{Credential, CredentialProvider, StaticCredential};
use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryPolicy;

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    }
}

async fn client(server: &MockServer) -> HttpClient {
    HttpClientBuilder::new("test", format!("{}/api", server.uri()))
        .with_retry(fast_retry())
        .with_credentials(Arc::new(StaticCredential::bearer(SecretString::from(
            "tok-123",
        ))))
        .build()
        .unwrap()
}

#[derive(Debug, Deserialize)]
struct Thing {
    #[allow(dead_code)]
    id: String,
    count: u32,
}

#[tokio::test]
async fn sends_bearer_and_decodes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/things/a%2Fb"))
        .and(header("authorization", "Bearer tok-123"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-request-id", "req-9")
                .set_body_json(serde_json::json!({"id": "a/b", "count": 3})),
        )
        .mount(&server)
        .await;
    let c = client(&server).await;
    let resp = c
        .send(Request::get(
            format!("/things/{}", encode_segment("a/b")),
            "things.get",
        ))
        .await
        .unwrap();
    assert_eq!(resp.correlation_id.as_deref(), Some("req-9"));
    assert_eq!(resp.json::<Thing>().unwrap().count, 3);
}

#[tokio::test]
async fn decode_errors_name_the_field_and_the_shape() {
    let server = MockServer::start().await;
    for (p, body, ct) in [
        (
            "/api/wrong-type",
            r#"{"id":"x","count":"three"}"#,
            "application/json",
        ),
        ("/api/truncated", r#"{"id":"x","cou"#, "application/json"),
        ("/api/html", "<!DOCTYPE html><html>502</html>", "text/html"),
        ("/api/empty", "", "application/json"),
        ("/api/missing", r#"{"id":"x"}"#, "application/json"),
    ] {
        Mock::given(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, ct))
            .mount(&server)
            .await;
    }
    let c = client(&server).await;
    let msg = |p: &'static str| {
        let c = c.clone();
        async move {
            let resp = c.send(Request::get(p, "t")).await.unwrap();
            let err = resp.json::<Thing>().unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::Decode);
            err.message().to_owned()
        }
    };
    assert!(msg("/wrong-type").await.contains("`count`"));
    assert!(msg("/truncated").await.contains("truncated"));
    assert!(msg("/html").await.contains("HTML"));
    assert!(msg("/empty").await.contains("empty"));
    assert!(msg("/missing").await.contains("count"));
}

#[tokio::test]
async fn a_post_refused_with_429_is_sent_again_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(path("/api/x"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(path("/api/x"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    let c = client(&server).await;
    // A POST is not idempotent, but a 429 means it was not processed, so it is retried.
    let resp = c
        .send(Request::new(Method::POST, "/x", "x.create").json(serde_json::json!({})))
        .await
        .unwrap();
    assert_eq!(resp.attempts, 3);
}

/// Reads one request head from `stream`; gives up at end of stream.
async fn read_head(stream: &tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        stream.readable().await.unwrap();
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
}

async fn write_all(stream: &tokio::net::TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        stream.writable().await.unwrap();
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
}

/// The retry after a `429` with `Retry-After: 2` arrives at least 2 s after the refused request,
/// measured on the server's clock: a loopback server in this runtime notes each arrival on
/// tokio's (paused) clock. A ticker keeps the paused clock from jumping to the request timeout
/// while a request is on the wire.
#[tokio::test(start_paused = true)]
async fn retries_429_only_after_the_retry_after_on_the_servers_clock() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = arrivals.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            read_head(&stream).await;
            let first = {
                let mut log = log.lock().unwrap();
                log.push(tokio::time::Instant::now());
                log.len() == 1
            };
            let answer: &[u8] = if first {
                b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 2\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
            };
            write_all(&stream, answer).await;
        }
    });
    tokio::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let c = HttpClientBuilder::new("test", format!("http://{addr}/api"))
        .with_retry(fast_retry())
        .build()
        .unwrap();
    let resp = c.send(Request::get("/x", "x.get")).await.unwrap();
    assert_eq!(resp.attempts, 2);
    let at = arrivals.lock().unwrap().clone();
    assert_eq!(at.len(), 2);
    let waited = at[1] - at[0];
    assert!(
        waited >= Duration::from_secs(2),
        "the retry came {waited:?} after a 429 with Retry-After: 2"
    );
}

#[tokio::test]
async fn a_post_is_not_replayed_after_a_5xx_but_a_get_is() {
    let server = MockServer::start().await;
    Mock::given(path("/api/x"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let c = client(&server).await;
    let err = c
        .send(Request::new(Method::POST, "/x", "x.create"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unavailable);
    assert_eq!(err.attempts(), 1);
    let err = c.send(Request::get("/x", "x.get")).await.unwrap_err();
    assert_eq!(err.attempts(), 4);
    assert!(err.to_string().contains("after 4 attempts"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 5);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_returned_not_slept() {
    let server = MockServer::start().await;
    Mock::given(path("/api/x"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .mount(&server)
        .await;
    let c = client(&server).await;
    let err = c.send(Request::get("/x", "x.get")).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn a_503_retry_after_is_honoured_too() {
    let server = MockServer::start().await;
    Mock::given(path("/api/x"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "3600"))
        .mount(&server)
        .await;
    let c = client(&server).await;
    let err = c.send(Request::get("/x", "x.get")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unavailable);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    // Beyond the policy's cap: returned to the caller (or the outbox) instead of slept.
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn a_create_is_sent_again_when_no_connection_was_made() {
    // A port nothing listens on: the connection is refused, so the POST never left.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = HttpClientBuilder::new("test", format!("http://127.0.0.1:{port}"))
        .with_retry(fast_retry())
        .build()
        .unwrap();
    let err = c
        .send(Request::new(Method::POST, "/x", "x.create").json(serde_json::json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unavailable);
    assert!(err.certainly_not_processed());
    assert_eq!(err.attempts(), 4);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = MockServer::start().await;
    Mock::given(path("/api/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let c = HttpClientBuilder::new("test", server.uri())
        .with_timeout(Duration::from_millis(100))
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap();
    let err = c
        .send(Request::new(Method::POST, "/api/slow", "slow"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let server = MockServer::start().await;
    Mock::given(path("/api/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(10_000)))
        .mount(&server)
        .await;
    let c = HttpClientBuilder::new("test", server.uri())
        .with_max_response_bytes(1_000)
        .build()
        .unwrap();
    let err = c.send(Request::get("/api/big", "big")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("1000-byte limit"));
}

#[tokio::test]
async fn links_to_other_hosts_and_crlf_headers_are_refused() {
    let server = MockServer::start().await;
    let c = client(&server).await;
    let other = Url::parse("http://127.0.0.2:1/steal").unwrap();
    let err = c
        .send(Request::absolute(Method::GET, other, "next"))
        .await
        .unwrap_err();
    assert!(err.message().contains("another host"));
    let err = c
        .send(Request::get("/x", "x").header(HeaderName::from_static("x-tag"), "a\r\nInjected: 1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_a_config_error() {
    let err = HttpClientBuilder::new("test", "http://crm.example.com/api")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    let err = HttpClientBuilder::new("test", "https://crm.example.com")
        .with_root_ca_pem(b"not a pem".to_vec())
        .build()
        .unwrap_err();
    assert!(err.message().contains("ca_file"), "{err}");
}

/// A provider whose token "expires" once: the first credential is rejected, the refreshed one
/// works.
#[derive(Debug)]
struct Refreshing {
    generation: AtomicUsize,
    invalidations: AtomicUsize,
}

#[async_trait]
impl CredentialProvider for Refreshing {
    async fn credential(&self) -> Result<Credential> {
        let g = self.generation.load(Ordering::SeqCst);
        Ok(Credential::Bearer(SecretString::from(format!("gen-{g}"))))
    }

    async fn invalidate(&self, _rejected: &Credential) -> bool {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        true
    }
}

#[tokio::test]
async fn a_401_refreshes_once_and_replays_once() {
    let server = MockServer::start().await;
    Mock::given(header("authorization", "Bearer gen-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let provider = Arc::new(Refreshing {
        generation: AtomicUsize::new(0),
        invalidations: AtomicUsize::new(0),
    });
    let c = HttpClientBuilder::new("test", server.uri())
        .with_credentials(provider.clone())
        .build()
        .unwrap();
    // A POST is replayed after a 401: the vendor refused it before doing anything.
    let resp = c.send(Request::new(Method::POST, "/a", "a")).await.unwrap();
    assert_eq!(resp.attempts, 2);
    // The token "expires" again for good: one refresh, one replay, then a typed error.
    provider.generation.store(5, Ordering::SeqCst);
    let err = c.send(Request::get("/a", "a")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    assert_eq!(err.attempts(), 2);
    assert_eq!(provider.invalidations.load(Ordering::SeqCst), 2);
}

/// Counts which path the transport took for credentials and permits.
#[derive(Debug, Default)]
struct FastPaths {
    credential_now: AtomicUsize,
    credential_async: AtomicUsize,
    try_acquire: AtomicUsize,
    acquire_async: AtomicUsize,
    /// Whether the synchronous paths answer (else they send the transport to the async ones).
    ready: bool,
}

#[async_trait]
impl CredentialProvider for FastPaths {
    async fn credential(&self) -> Result<Credential> {
        self.credential_async.fetch_add(1, Ordering::SeqCst);
        Ok(Credential::Bearer(SecretString::from("tok-fast")))
    }

    fn credential_now(&self) -> Option<Credential> {
        self.credential_now.fetch_add(1, Ordering::SeqCst);
        self.ready
            .then(|| Credential::Bearer(SecretString::from("tok-fast")))
    }

    async fn invalidate(&self, _rejected: &Credential) -> bool {
        false
    }
}

#[async_trait]
impl crate::limits::RateLimiter for FastPaths {
    async fn acquire(&self, _bucket: crate::limits::Bucket, _max_wait: Duration) -> Result<()> {
        self.acquire_async.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn try_acquire(&self, _bucket: crate::limits::Bucket) -> bool {
        self.try_acquire.fetch_add(1, Ordering::SeqCst);
        self.ready
    }

    fn observe(&self, _bucket: crate::limits::Bucket, _status: u16, _headers: &http::HeaderMap) {}
}

/// Issue 15: a credential at hand and a free permit are taken without the async paths (a
/// boxed future each per attempt); when the synchronous paths do not answer, the async ones
/// still run, once per attempt.
#[tokio::test]
async fn credentials_and_permits_take_the_synchronous_path_when_ready_issue15() {
    let server = MockServer::start().await;
    Mock::given(header("authorization", "Bearer tok-fast"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    for ready in [true, false] {
        let paths = Arc::new(FastPaths {
            ready,
            ..FastPaths::default()
        });
        let c = HttpClientBuilder::new("test", server.uri())
            .with_credentials(paths.clone())
            .with_limiter(paths.clone())
            .build()
            .unwrap();
        for _ in 0..3 {
            c.send(Request::get("/a", "a.get")).await.unwrap();
        }
        let n = |a: &AtomicUsize| a.load(Ordering::SeqCst);
        assert_eq!(n(&paths.credential_now), 3, "ready: {ready}");
        assert_eq!(n(&paths.try_acquire), 3, "ready: {ready}");
        let async_calls = if ready { 0 } else { 3 };
        assert_eq!(n(&paths.credential_async), async_calls, "ready: {ready}");
        assert_eq!(n(&paths.acquire_async), async_calls, "ready: {ready}");
    }
}

#[tokio::test]
async fn debug_output_holds_no_secret() {
    let server = MockServer::start().await;
    let c = client(&server).await;
    assert!(!format!("{c:?}").contains("tok-123"));
}

/// Counts counter increments by name and labels, for checking what the transport reports.
#[derive(Default)]
struct Counting(std::sync::Mutex<std::collections::BTreeMap<String, u64>>);

struct Handle(String, Arc<Counting>);

impl metrics::CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self.1.0.lock().unwrap().entry(self.0.clone()).or_default() += value;
    }
    fn absolute(&self, _value: u64) {}
}

struct Recorder(Arc<Counting>);

impl metrics::Recorder for Recorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        metrics::Counter::from_arc(Arc::new(Handle(name, self.0.clone())))
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

#[test]
fn calls_retries_and_limit_hits_are_counted_without_ids_in_labels() {
    let counts = Arc::new(Counting::default());
    let recorder = Recorder(counts.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let server = MockServer::start().await;
            Mock::given(path("/api/things/t-42"))
                .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
                .up_to_n_times(1)
                .mount(&server)
                .await;
            Mock::given(path("/api/things/t-42"))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
                .mount(&server)
                .await;
            let c = client(&server).await;
            c.send(Request::get("/things/t-42", "thing.get"))
                .await
                .unwrap();
        });
    });
    let counts = counts.0.lock().unwrap().clone();
    assert_eq!(
        counts.get("crm_calls_total{vendor=test,operation=thing.get,outcome=ok}"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("crm_retries_total{vendor=test,operation=thing.get}"),
        Some(&1)
    );
    assert_eq!(
        counts.get("crm_limit_hits_total{vendor=test,scope=burst}"),
        Some(&1)
    );
    assert!(counts.keys().all(|k| !k.contains("t-42")));
}

/// Issue 12, item 1: a far-future `Retry-After` must not freeze the client. Tests run on paused
/// tokio time, so any wait the client makes shows up as elapsed test time (auto-advanced, not
/// slept), and are counted in requests the server saw — never in wall-clock time.
mod item1_permit_waits_are_bounded {
    use std::num::NonZeroU32;

    use super::*;
    use crate::limits::{BucketConfig, PacingLimiter};

    /// Keeps tokio from auto-advancing paused time while a request is on the wire (a running
    /// blocking task inhibits it), so that the client's own timeouts cannot fire while the
    /// loopback server answers. Dropping it lets time auto-advance again.
    struct HoldClock(Option<std::sync::mpsc::Sender<()>>);

    impl HoldClock {
        fn new() -> Self {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            tokio::task::spawn_blocking(move || {
                let _ = rx.recv();
            });
            Self(Some(tx))
        }
    }

    impl Drop for HoldClock {
        fn drop(&mut self) {
            self.0.take();
        }
    }

    fn paced_client(server: &MockServer, retry: RetryPolicy) -> HttpClient {
        let limiter = PacingLimiter::new([BucketConfig::new(
            "general",
            NonZeroU32::new(100).unwrap(),
            Duration::from_secs(10),
        )]);
        HttpClientBuilder::new("test", format!("{}/api", server.uri()))
            .with_retry(retry)
            .with_limiter(Arc::new(limiter))
            .build()
            .unwrap()
    }

    fn get() -> Request {
        Request::get("/x", "x.get").bucket("general")
    }

    fn wait_of(err: &Error) -> Duration {
        match err.kind() {
            ErrorKind::RateLimited {
                retry_after: Some(wait),
                ..
            } => *wait,
            other => panic!("expected RateLimited with a wait, got {other:?}: {err}"),
        }
    }

    async fn mount_429_once_then_ok(server: &MockServer, retry_after: &str) {
        Mock::given(path("/api/x"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", retry_after))
            .up_to_n_times(1)
            .mount(server)
            .await;
        Mock::given(path("/api/x"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .mount(server)
            .await;
    }

    async fn requests_seen(server: &MockServer) -> usize {
        server.received_requests().await.unwrap().len()
    }

    #[tokio::test(start_paused = true)]
    async fn item1_a_far_future_retry_after_fails_every_call_at_once_never_hangs() {
        let server = MockServer::start().await;
        mount_429_once_then_ok(&server, "3600").await;
        let c = paced_client(&server, RetryPolicy::default());
        let start = tokio::time::Instant::now();

        let first = {
            let _clock = HoldClock::new();
            c.send(get()).await.unwrap_err()
        };
        assert_eq!(wait_of(&first), Duration::from_secs(3600));
        assert_eq!(first.attempts(), 1);

        // Time may auto-advance again: a client that waited for the pause would show an hour
        // of elapsed test time here, and a second request.
        let second = c.send(get()).await.unwrap_err();
        assert_eq!(wait_of(&second), Duration::from_secs(3600));
        assert_eq!(second.attempts(), 0, "nothing was sent");
        let many = futures::future::join_all((0..5).map(|_| c.send(get()))).await;
        for r in many {
            let err = r.unwrap_err();
            assert_eq!(wait_of(&err), Duration::from_secs(3600));
            assert!(err.certainly_not_processed());
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "no call waited");
        assert_eq!(requests_seen(&server).await, 1);

        // Once the pause is over, the same client is served.
        tokio::time::advance(Duration::from_secs(3600)).await;
        let _clock = HoldClock::new();
        c.send(get()).await.unwrap();
        assert_eq!(requests_seen(&server).await, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn item1_permit_waits_count_against_the_call_budget() {
        let server = MockServer::start().await;
        // 50 s is under the 60 s cap, but more than the 20 s this connection allows a call.
        mount_429_once_then_ok(&server, "50").await;
        let retry = RetryPolicy {
            max_elapsed: Duration::from_secs(20),
            ..RetryPolicy::default()
        };
        let c = paced_client(&server, retry);
        let start = tokio::time::Instant::now();
        let first = {
            let _clock = HoldClock::new();
            c.send(get()).await.unwrap_err()
        };
        assert_eq!(wait_of(&first), Duration::from_secs(50));
        let second = c.send(get()).await.unwrap_err();
        assert_eq!(wait_of(&second), Duration::from_secs(50));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(requests_seen(&server).await, 1);
        // Ten seconds later the rest of the pause (40 s) is still more than the call may wait.
        tokio::time::advance(Duration::from_secs(10)).await;
        let third = c.send(get()).await.unwrap_err();
        assert_eq!(wait_of(&third), Duration::from_secs(40));
        assert_eq!(requests_seen(&server).await, 1);
    }

    /// Issue 12, item 2 through the transport: the header that used to overflow the pacing
    /// pause gives a saturated wait, and no panic.
    #[tokio::test(start_paused = true)]
    async fn item2_a_huge_retry_after_through_the_client_saturates() {
        let server = MockServer::start().await;
        mount_429_once_then_ok(&server, "18446744073709551615").await;
        let c = paced_client(&server, RetryPolicy::default());
        let first = {
            let _clock = HoldClock::new();
            c.send(get()).await.unwrap_err()
        };
        assert_eq!(wait_of(&first), crate::retry::MAX_WIRE_DELAY);
        let second = c.send(get()).await.unwrap_err();
        assert_eq!(wait_of(&second), crate::retry::MAX_WIRE_DELAY);
        assert_eq!(requests_seen(&server).await, 1);
    }
}

/// A loopback server that answers every request with a chunked body made of `chunks`, each
/// written (and flushed) on its own so that the client sees them arrive one by one.
async fn chunked_server(chunks: Vec<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let chunks = chunks.clone();
            tokio::spawn(async move {
                read_head(&stream).await;
                write_all(
                    &stream,
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                )
                .await;
                for chunk in chunks {
                    write_all(
                        &stream,
                        format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes(),
                    )
                    .await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                write_all(&stream, b"0\r\n\r\n").await;
            });
        }
    });
    format!("http://{addr}")
}

/// Issue 15: a body is kept as its one chunk without a copy, and gathered when it comes in
/// several: every byte, in order, and the size limit still holds without a `Content-Length`.
#[tokio::test]
async fn item15_a_body_in_several_chunks_is_read_whole_and_bounded() {
    let base = chunked_server(vec![r#"{"id":"a-"#, r#"1","count""#, ":7}"]).await;
    let c = HttpClientBuilder::new("test", base.clone())
        .build()
        .unwrap();
    let resp = c.send(Request::get("/thing", "thing.get")).await.unwrap();
    assert_eq!(&resp.body[..], br#"{"id":"a-1","count":7}"#);
    let thing: Thing = resp.json().unwrap();
    assert_eq!(thing.count, 7);

    let one = chunked_server(vec![r#"{"id":"b","count":1}"#]).await;
    let c = HttpClientBuilder::new("test", one).build().unwrap();
    let resp = c.send(Request::get("/thing", "thing.get")).await.unwrap();
    assert_eq!(&resp.body[..], br#"{"id":"b","count":1}"#);

    // 9 + 11 bytes fit in 20; the third chunk passes the limit.
    let c = HttpClientBuilder::new("test", base)
        .with_max_response_bytes(20)
        .build()
        .unwrap();
    let err = c
        .send(Request::get("/thing", "thing.get"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("20-byte limit"), "{err}");
}

/// Issue 15: the credential's header is built once and reused while the credential is the
/// same (no `Bearer …` formatted and checked on every call), and built again for another one.
#[tokio::test]
async fn the_auth_header_is_built_once_per_credential_issue15() {
    let server = MockServer::start().await;
    let c = client(&server).await;
    let token = |t: &str| Credential::Bearer(SecretString::from(t.to_owned()));
    let (name, first) = c.auth_header(&token("tok-123")).unwrap().unwrap();
    let (_, again) = c.auth_header(&token("tok-123")).unwrap().unwrap();
    assert_eq!(name, http::header::AUTHORIZATION);
    assert_eq!(first, "Bearer tok-123");
    assert!(first.is_sensitive());
    assert!(
        std::ptr::eq(first.as_bytes().as_ptr(), again.as_bytes().as_ptr()),
        "the same credential reuses the header it was sent in"
    );
    let (_, refreshed) = c.auth_header(&token("tok-456")).unwrap().unwrap();
    assert_eq!(refreshed, "Bearer tok-456");
    // An API key in a header of its own; same text as the token, another header.
    let key = Credential::Header {
        name: HeaderName::from_static("x-api-key"),
        value: SecretString::from("Bearer tok-456"),
    };
    let (name, value) = c.auth_header(&key).unwrap().unwrap();
    assert_eq!(
        (name.as_str(), value.to_str().unwrap()),
        ("x-api-key", "Bearer tok-456")
    );
    assert!(c.auth_header(&Credential::None).unwrap().is_none());
    let bad = Credential::Bearer(SecretString::from("tok\r\n"));
    assert_eq!(c.auth_header(&bad).unwrap_err().kind(), &ErrorKind::Config);
}

/// The credential's header goes out once, over an `Authorization` header the adapter set.
#[tokio::test]
async fn the_credential_header_wins_over_the_adapters() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/things/1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "1", "count": 1})),
        )
        .mount(&server)
        .await;
    let c = client(&server).await;
    for _ in 0..2 {
        let resp = c
            .send(
                Request::get("/things/1", "thing.get")
                    .header(http::header::AUTHORIZATION, "Bearer adapter")
                    .header(HeaderName::from_static("x-extra"), "1"),
            )
            .await
            .unwrap();
        assert_eq!(resp.json::<Thing>().unwrap().count, 1);
    }
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    for r in received {
        let auth: Vec<_> = r.headers.get_all("authorization").iter().collect();
        assert_eq!(auth, vec!["Bearer tok-123"]);
        assert_eq!(r.headers.get("x-extra").unwrap(), "1");
    }
}

/// Issue 15: a base URL without a path takes the request's path as it is, without building a
/// joined copy; both ways reach the same resource, and leading slashes never make a path
/// that names another host.
#[tokio::test]
async fn request_paths_join_the_base_url_the_same_way_with_or_without_a_base_path_issue15() {
    let server = MockServer::start().await;
    for p in ["/a/b", "/api/a/b"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"at": p})))
            .mount(&server)
            .await;
    }
    let at = |base: String, request: &'static str| async move {
        let c = HttpClientBuilder::new("test", base).build().unwrap();
        let resp = c.send(Request::get(request, "a.get")).await.unwrap();
        resp.json::<serde_json::Value>().unwrap()["at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for request in ["/a/b", "a/b", "//a/b"] {
        assert_eq!(at(server.uri(), request).await, "/a/b", "{request}");
        assert_eq!(at(format!("{}/", server.uri()), request).await, "/a/b");
        assert_eq!(
            at(format!("{}/api", server.uri()), request).await,
            "/api/a/b"
        );
    }
}

/// Issue 15: the empty-body and HTML checks run only when the body does not decode, and still
/// name what came back then.
#[test]
fn empty_and_html_bodies_are_named_and_json_decodes_first_issue15() {
    use http::header::CONTENT_TYPE;
    let mut html = http::HeaderMap::new();
    html.insert(CONTENT_TYPE, "text/html".parse().unwrap());
    let ok = http::StatusCode::OK;
    let decoded: serde_json::Value = decode_json(br#"{"id":"1"}"#, &html, ok, None).unwrap();
    assert_eq!(decoded["id"], "1");
    let none = http::HeaderMap::new();
    let empty = decode_json::<serde_json::Value>(b"  \n", &none, ok, None).unwrap_err();
    assert!(empty.to_string().contains("empty"), "{empty}");
    let page = decode_json::<serde_json::Value>(b"<!DOCTYPE html><p>x", &none, ok, None);
    let page = page.unwrap_err();
    assert!(page.to_string().contains("HTML page"), "{page}");
}

/// The future of every call is boxed by `send`; at most a kilobyte, glibc serves it from its
/// per-thread cache (sizes up to 1,032 bytes), where a larger block goes through the general
/// allocator on every call (~2,500 instructions more per call in the overhead bench's
/// callgrind profile). A field kept twice in some future below (an `async fn` keeping its
/// arguments as passed and as bound, a rare wait not boxed) pushes it over.
#[tokio::test]
async fn a_call_future_fits_the_allocators_thread_cache_issue15() {
    let c = HttpClientBuilder::new("test", "http://127.0.0.1:1".to_string())
        .build()
        .unwrap();
    let fut = c.send(Request::get("/x", "x.get"));
    let size = std::mem::size_of_val(&*fut);
    assert!(size <= 1024, "the call future is {size} bytes");
}

/// A path with a dot segment, plain or percent-encoded, is refused before anything is sent; a
/// dot inside a segment is an ordinary character (the check looks only where a `.` or `%` is).
#[tokio::test]
async fn paths_with_dot_segments_are_refused_and_dots_in_names_are_not() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
        .mount(&server)
        .await;
    let c = client(&server).await;
    for bad in ["/things/../admin", "/things/%2e%2E/admin", "/things/./x"] {
        let err = c.send(Request::get(bad, "x.get")).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{bad}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
    for fine in ["/things/a.b", "/things/50%25", "/things/plain"] {
        c.send(Request::get(fine, "x.get")).await.unwrap();
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn cookies_and_auth_challenges_never_reach_the_response() {
    let server = MockServer::start().await;
    Mock::given(path("/api/cookie"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("set-cookie", "session=secret")
                .insert_header("www-authenticate", "Bearer realm=\"x\"")
                .insert_header("x-request-id", "req-1")
                .set_body_string("{}"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/plain"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-request-id", "req-2")
                .set_body_string("{}"),
        )
        .mount(&server)
        .await;
    let c = client(&server).await;
    let resp = c.send(Request::get("/cookie", "cookie")).await.unwrap();
    assert_eq!(resp.header("set-cookie"), None);
    assert_eq!(resp.header("www-authenticate"), None);
    assert_eq!(resp.header("x-request-id"), Some("req-1"));
    let resp = c.send(Request::get("/plain", "plain")).await.unwrap();
    assert_eq!(resp.header("x-request-id"), Some("req-2"));
}

#[tokio::test]
async fn a_timeout_too_long_for_the_clock_is_no_timeout_and_no_panic() {
    let server = MockServer::start().await;
    Mock::given(path("/api/slow-ok"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&server)
        .await;
    for timeout in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
        let c = HttpClientBuilder::new("test", server.uri())
            .with_timeout(timeout)
            .build()
            .unwrap();
        let resp = c
            .send(Request::get("/api/slow-ok", "slow-ok"))
            .await
            .unwrap();
        assert_eq!(resp.status.as_u16(), 200);
    }
}
