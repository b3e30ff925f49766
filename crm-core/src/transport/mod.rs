//! The one HTTP layer every adapter uses.
//!
//! Adapters describe a [`Request`] (method, path, body, whether it is idempotent, which limit
//! bucket) and parse bodies; the [`HttpClient`] does the rest, in this order for every attempt:
//! credentials → rate limiter → send (with a timeout) → classify the response → retry policy.
//! Adapters never write retry loops, sleeps or auth headers.
//!
//! A call never waits longer than its [`RetryPolicy`] allows: retry delays and waits for a
//! rate-limit permit both count against `max_elapsed`, and no single wait exceeds
//! `max_retry_after`. A longer wait (a far-future `Retry-After`) is returned at once as
//! [`ErrorKind::RateLimited`] with the real remaining wait, for the caller or the outbox to
//! schedule.
//!
//! Rules the client enforces: `https` only, except loopback hosts; absolute URLs (a vendor's
//! next-page link) only on the base URL's origin; response bodies bounded in size before they are
//! buffered; the vendor's correlation id kept in errors and logs; no URL, query string or body in
//! logs (they can hold personal values), only the operation name.

mod decode;
mod url_policy;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use http::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

pub use decode::{decode_json, decode_value};
pub use url_policy::{
    check_scheme, encode_segment, is_dot_segment, is_loopback, parse_base_url, same_origin,
};

use crate::credential::{Credential, CredentialProvider, StaticCredential};
use crate::error::{Error, ErrorKind, LimitScope, Result, VendorError};
use crate::limits::{Bucket, DEFAULT_BUCKET, RateLimiter, Unlimited};
use crate::retry::{RetryPolicy, parse_retry_after};

/// A request body.
#[derive(Clone)]
#[non_exhaustive]
pub enum Body {
    /// JSON.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies carry personal values; only their shape is shown.
        match self {
            Body::Json(_) => f.write_str("Body::Json(..)"),
            Body::Form(pairs) => write!(f, "Body::Form({} fields)", pairs.len()),
        }
    }
}

/// Where a request goes.
#[derive(Debug, Clone)]
enum Target {
    /// Appended to the base URL's path. Already percent-encoded.
    Path(String),
    /// An absolute URL, which must share the base URL's origin.
    Url(Url),
}

/// A request as an adapter describes it.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    target: Target,
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, String)>,
    body: Option<Body>,
    idempotent: bool,
    bucket: Bucket,
    /// Interned (see [`crate::telemetry`]), so that carrying it into the response, the metrics
    /// and the logs copies no text.
    operation: Cow<'static, str>,
    addresses_record: bool,
}

impl Request {
    /// A request to `path` under the base URL. Build paths with [`encode_segment`] for every
    /// variable part. Idempotency defaults to the method's (GET, PUT, DELETE yes; POST, PATCH
    /// no): mark a PATCH that sets fields idempotent with [`Request::idempotent`].
    ///
    /// `operation` names the call in errors, logs and metrics (`contact.get`); any string type
    /// will do, and it is interned, so a name used on every call is stored once per process.
    pub fn new(method: Method, path: impl Into<String>, operation: impl AsRef<str>) -> Self {
        let idempotent = method.is_idempotent();
        Self {
            method,
            target: Target::Path(path.into()),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            idempotent,
            bucket: DEFAULT_BUCKET,
            operation: crate::telemetry::name(operation.as_ref()),
            addresses_record: false,
        }
    }

    /// A GET request to `path`.
    pub fn get(path: impl Into<String>, operation: impl AsRef<str>) -> Self {
        Self::new(Method::GET, path, operation)
    }

    /// A request to an absolute URL (a next-page link the vendor gave). The client refuses it
    /// unless it shares the base URL's scheme, host and port.
    pub fn absolute(method: Method, url: Url, operation: impl AsRef<str>) -> Self {
        let mut r = Self::new(method, "", operation);
        r.target = Target::Url(url);
        r
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds a header. The value is checked (no CR/LF) when the request is sent.
    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets a JSON body.
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }

    /// Sets a form body.
    pub fn form(mut self, pairs: Vec<(String, String)>) -> Self {
        self.body = Some(Body::Form(pairs));
        self
    }

    /// Declares whether the request may safely be carried out twice.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Names the rate-limit bucket the request draws from.
    pub fn bucket(mut self, bucket: Bucket) -> Self {
        self.bucket = bucket;
        self
    }

    /// Marks a request that addresses one record (or one named resource, such as an object's
    /// schema), so that a 404 means "no such record" and goes to the adapter's
    /// [`ErrorParser`] (usually [`ErrorKind::NotFound`]).
    ///
    /// A 404 on a request that is not marked (a search, a listing, a batch, pipelines) means the
    /// route itself does not exist, which is a wrong `base_url` or API version, not an empty
    /// answer: the client returns an [`ErrorKind::Config`] error that names the URL path it
    /// built (never the query), such as "the endpoint `/crm/v3/crm/v3/objects/contacts/search`
    /// was not found (HTTP 404): check base_url". Mark every request whose path holds a
    /// caller's value (an id, an email used as a key), so that the value is never in that
    /// message.
    pub fn addresses_record(mut self) -> Self {
        self.addresses_record = true;
        self
    }

    /// The operation name, used in errors, logs and metrics.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }
}

/// A successful (2xx) response, fully read.
///
/// Nothing else is a success. A redirect (3xx but `300 Multiple Choices`) is an
/// [`ErrorKind::Config`] error naming the status and the host in `Location` (not its path or
/// query), with nothing decoded from its body: redirects are not followed, since they would
/// carry the credential along, and an API call that is redirected means `base_url` is not the
/// API's. `300` goes to the adapter's [`ErrorParser`] (Salesforce answers it for an external id
/// held by several records).
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers (auth and cookie headers removed).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The vendor's correlation id, if it sent one.
    pub correlation_id: Option<String>,
    /// How many attempts the request took.
    pub attempts: u32,
    operation: Cow<'static, str>,
}

impl Response {
    /// Decodes the JSON body into `T`. A failure is a [`ErrorKind::Decode`] error that names the
    /// path of the offending field (`results[3].id`), says when the body is empty or an HTML page,
    /// and keeps the start of the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        decode_json(
            &self.body,
            &self.headers,
            self.status,
            self.correlation_id.as_deref(),
        )
        .map_err(|e| e.with_operation(self.operation.clone()))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A failed response, as the adapter's [`ErrorParser`] sees it.
#[derive(Debug)]
pub struct ErrorResponse<'a> {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// Body (already bounded in size).
    pub body: &'a [u8],
    /// The vendor's correlation id, if it sent one.
    pub correlation_id: Option<&'a str>,
}

impl ErrorResponse<'_> {
    /// The `Retry-After` header, parsed (seconds or HTTP-date).
    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
    }

    /// The vendor details every error carries: status, correlation id, body snippet.
    pub fn vendor(&self) -> VendorError {
        VendorError {
            status: Some(self.status.as_u16()),
            correlation_id: self.correlation_id.map(str::to_owned),
            body_snippet: Some(VendorError::snippet(self.body)),
            ..VendorError::default()
        }
    }

    /// The kind a status means when the body says nothing more: 404 not found, 409 conflict,
    /// 400/422 validation, 401 unauthorized, 403 forbidden, 429 rate limited (with
    /// `Retry-After`), 408/504 timeout, 423 and other 5xx unavailable.
    pub fn default_kind(&self) -> ErrorKind {
        match self.status.as_u16() {
            404 | 410 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict {
                existing_id: None,
                candidates: Vec::new(),
            },
            400 | 422 => ErrorKind::Validation { fields: Vec::new() },
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden {
                missing_scopes: Vec::new(),
            },
            429 => ErrorKind::RateLimited {
                retry_after: self.retry_after(),
                scope: LimitScope::Burst,
            },
            408 | 504 => ErrorKind::Timeout,
            423 | 500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::Unexpected,
        }
    }

    /// The error a status means when the body says nothing more.
    pub fn default_error(&self) -> Error {
        Error::new(
            self.default_kind(),
            format!("the server answered HTTP {}", self.status.as_u16()),
        )
        .with_vendor(self.vendor())
    }
}

/// Turns a vendor's failed response into an [`Error`]. Each adapter implements it in its
/// `core.rs` as a pure function of the response, with table-driven tests on captured bodies.
pub trait ErrorParser: Send + Sync + fmt::Debug {
    /// The error for a non-success response.
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error;

    /// The error for a non-success response to a request that drew from `bucket` — what the
    /// transport calls. The bucket is the route as the adapter named it: some vendors' bodies
    /// do not say which limit a 429 hit (HubSpot's search 429 names no policy), and only the
    /// route tells a search limit from a record read's. Defaults to
    /// [`ErrorParser::parse_error`].
    fn parse_error_for_bucket(&self, bucket: Bucket, response: &ErrorResponse<'_>) -> Error {
        let _ = bucket;
        self.parse_error(response)
    }

    /// Whether a 404 to a request that addresses one record ([`Request::addresses_record`])
    /// says that record does not exist. When it does not, the 404 is taken for a route that
    /// does not exist, and the client returns the same [`ErrorKind::Config`] "endpoint not
    /// found" error as for any other 404, instead of [`ErrorParser::parse_error`]'s answer.
    ///
    /// A wrong `base_url` turns a record read into a read of a route that does not exist, and
    /// the web server's 404 would then read as "no such record", so a look-up by key would
    /// answer "no match" for every value. Vendors whose record 404 carries a mark of its own
    /// (HubSpot's `category: OBJECT_NOT_FOUND`) override this to check for it. Default: every
    /// 404 does.
    fn is_missing_record(&self, response: &ErrorResponse<'_>) -> bool {
        let _ = response;
        true
    }
}

/// Maps statuses to kinds and keeps the body snippet; for servers whose error bodies say nothing
/// useful.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusOnly;

impl ErrorParser for StatusOnly {
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error {
        response.default_error()
    }
}

/// Configures an [`HttpClient`]. Setters never fail; [`HttpClientBuilder::build`] checks
/// everything and names the setting in its error.
pub struct HttpClientBuilder {
    vendor: String,
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    root_ca_pem: Vec<Vec<u8>>,
    root_ca_files: Vec<std::path::PathBuf>,
    max_response_bytes: usize,
    correlation_headers: Vec<String>,
    credentials: Arc<dyn CredentialProvider>,
    limiter: Arc<dyn RateLimiter>,
    retry: RetryPolicy,
    error_parser: Arc<dyn ErrorParser>,
    user_agent: String,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("vendor", &self.vendor)
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl HttpClientBuilder {
    /// A builder for `vendor` (used in logs and errors) at `base_url`.
    ///
    /// Defaults: 30 s request timeout, 10 s connect timeout, 16 MiB response limit, no
    /// credentials, no pacing, [`RetryPolicy::default`], [`StatusOnly`] error parsing,
    /// correlation ids read from `X-Request-Id` and `X-Correlation-Id`.
    pub fn new(vendor: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            vendor: vendor.into(),
            base_url: base_url.into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            root_ca_pem: Vec::new(),
            root_ca_files: Vec::new(),
            max_response_bytes: 16 * 1024 * 1024,
            correlation_headers: vec!["x-request-id".into(), "x-correlation-id".into()],
            credentials: Arc::new(StaticCredential::none()),
            limiter: Arc::new(Unlimited),
            retry: RetryPolicy::default(),
            error_parser: Arc::new(StatusOnly),
            user_agent: concat!("crm-connect/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// Time allowed for one attempt, from sending to the last body byte.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to open a connection.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Trusts an extra root CA (PEM, one or more certificates) besides the system's.
    pub fn with_root_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_ca_pem.push(pem.into());
        self
    }

    /// Trusts the extra root CA(s) in a PEM file; read at `build()`.
    pub fn with_root_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.root_ca_files.push(path.into());
        self
    }

    /// The largest response body read; a larger one fails with a `Decode` error before it is
    /// buffered whole.
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Response headers that carry the vendor's correlation id, first match wins.
    pub fn with_correlation_headers(mut self, names: &[&str]) -> Self {
        self.correlation_headers = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        self
    }

    /// The credential provider.
    pub fn with_credentials(mut self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.credentials = provider;
        self
    }

    /// The rate limiter; share one `Arc` between every client of the same vendor account.
    pub fn with_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// The retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The adapter's error parser.
    pub fn with_error_parser(mut self, parser: Arc<dyn ErrorParser>) -> Self {
        self.error_parser = parser;
        self
    }

    /// Checks the configuration and builds the client. Makes no network call.
    pub fn build(self) -> Result<HttpClient> {
        let base_url = parse_base_url("base_url", &self.base_url)?;
        if self.timeout.is_zero() {
            return Err(Error::config("timeout: must be more than zero"));
        }
        if self.max_response_bytes == 0 {
            return Err(Error::config("max_response_bytes: must be more than zero"));
        }
        let mut certs = Vec::new();
        let mut pems = self.root_ca_pem;
        for path in &self.root_ca_files {
            let pem = std::fs::read(path).map_err(|e| {
                Error::config(format!("ca_file: cannot read `{}`: {e}", path.display()))
            })?;
            pems.push(pem);
        }
        for pem in &pems {
            let bundle = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::config(format!("ca_file: not a PEM certificate: {e}")))?;
            if bundle.is_empty() {
                return Err(Error::config("ca_file: no certificate in the PEM data"));
            }
            certs.extend(bundle);
        }
        let inner = reqwest::Client::builder()
            .user_agent(self.user_agent)
            .connect_timeout(self.connect_timeout)
            .gzip(true)
            // Redirects would carry the Authorization header to wherever they point; CRM APIs
            // do not redirect API calls, so none are followed.
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_merge(certs)
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient {
            inner: Arc::new(Inner {
                http: inner,
                vendor: crate::telemetry::name(&self.vendor),
                base_url,
                timeout: self.timeout,
                max_response_bytes: self.max_response_bytes,
                correlation_headers: self.correlation_headers,
                credentials: self.credentials,
                limiter: self.limiter,
                retry: self.retry,
                error_parser: self.error_parser,
            }),
        })
    }
}

/// The shared HTTP client: cheap to clone, one connection pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Interned like operation names: it is a label on every call's metrics.
    vendor: Cow<'static, str>,
    base_url: Url,
    timeout: Duration,
    max_response_bytes: usize,
    correlation_headers: Vec<String>,
    credentials: Arc<dyn CredentialProvider>,
    limiter: Arc<dyn RateLimiter>,
    retry: RetryPolicy,
    error_parser: Arc<dyn ErrorParser>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("vendor", &self.inner.vendor)
            .field("base_url", &self.inner.base_url.as_str())
            .field("credentials", &self.inner.credentials)
            .field("limiter", &self.inner.limiter)
            .finish_non_exhaustive()
    }
}

enum Attempt {
    Done(Response),
    /// The error, and the credential the attempt used (for a 401's invalidation).
    Failed(Error, Option<Credential>),
    /// The rate limiter gave no permit within what the call may still wait; nothing was sent.
    /// Never retried: a retry would have to wait longer than the limiter just refused to.
    NoPermit(Error),
}

impl HttpClient {
    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The vendor name given to the builder.
    pub fn vendor(&self) -> &str {
        &self.inner.vendor
    }

    /// Sends a request through credentials, pacing, the timeout, error classification and the
    /// retry policy. Returns the response of the first successful attempt, or the last error with
    /// the number of attempts made.
    pub async fn send(&self, request: Request) -> Result<Response> {
        let span = tracing::debug_span!(
            "crm.call",
            vendor = %self.inner.vendor,
            operation = %request.operation,
            method = %request.method,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
            correlation_id = tracing::field::Empty,
        );
        let started = Instant::now();
        let operation = request.operation.clone();
        let result = self.send_inner(request).instrument(span).await;
        crate::telemetry::call_finished(
            &self.inner.vendor,
            &operation,
            started.elapsed(),
            result.as_ref().err(),
        );
        result
    }

    async fn send_inner(&self, request: Request) -> Result<Response> {
        let url = self.url_for(&request)?;
        // Tokio's clock, so that the call's budget and the limiter's waits are measured on the
        // same clock (and tests with paused time see both).
        let started = tokio::time::Instant::now();
        let mut attempts = 0u32;
        let mut replayed_after_401 = false;
        loop {
            attempts += 1;
            let outcome = self.attempt(&request, &url, attempts, started).await;
            let span = tracing::Span::current();
            span.record("attempts", attempts);
            let (err, used) = match outcome {
                Attempt::NoPermit(err) => {
                    crate::telemetry::attempt_failed(&self.inner.vendor, &err);
                    tracing::debug!(
                        kind = err.kind().name(),
                        "no rate-limit permit within the call's allowance; giving up"
                    );
                    // This attempt sent nothing, so it does not count.
                    return Err(err
                        .with_attempts(attempts - 1)
                        .with_operation(request.operation.clone()));
                }
                Attempt::Done(resp) => {
                    span.record("status", resp.status.as_u16());
                    if let Some(id) = &resp.correlation_id {
                        span.record("correlation_id", id.as_str());
                    }
                    return Ok(resp);
                }
                Attempt::Failed(err, used) => (err, used),
            };
            if let Some(status) = err.status() {
                span.record("status", status);
            }
            crate::telemetry::attempt_failed(&self.inner.vendor, &err);
            if let Some(id) = err.correlation_id() {
                span.record("correlation_id", id);
            }
            if err.kind() == &ErrorKind::Unauthorized
                && !replayed_after_401
                && let Some(used) = used
            {
                // A 401 means the vendor refused the request before doing anything, so one
                // replay with a fresh credential is safe for any method.
                replayed_after_401 = true;
                if self.inner.credentials.invalidate(&used).await {
                    tracing::debug!("credential rejected; replaying once with a fresh one");
                    continue;
                }
            }
            let mut rng = fastrand::f64;
            match self.inner.retry.next_delay(
                &err,
                attempts,
                started.elapsed(),
                request.idempotent,
                &mut rng,
            ) {
                Some(delay) => {
                    tracing::debug!(
                        kind = err.kind().name(),
                        delay_ms = delay.as_millis() as u64,
                        "retrying"
                    );
                    crate::telemetry::retried(&self.inner.vendor, &request.operation);
                    tokio::time::sleep(delay).await;
                }
                None => {
                    tracing::debug!(kind = err.kind().name(), "giving up");
                    return Err(err
                        .with_attempts(attempts)
                        .with_operation(request.operation.clone()));
                }
            }
        }
    }

    fn url_for(&self, request: &Request) -> Result<Url> {
        let mut url = match &request.target {
            Target::Path(path) if path.trim_start_matches('/').is_empty() => {
                // The base URL is the endpoint itself (a token URL).
                self.inner.base_url.clone()
            }
            Target::Path(path) if path.split('/').any(is_dot_segment) => {
                // URL parsing would drop the segment (and the one before a `..`), so the request
                // would reach another resource than the one the adapter named.
                return Err(Error::invalid_input(
                    "the request path has a `.` or `..` segment (possibly percent-encoded), which \
                     would change the resource it addresses; nothing was sent",
                )
                .with_operation(request.operation.clone()));
            }
            Target::Path(path) => {
                let mut url = self.inner.base_url.clone();
                let joined = format!(
                    "{}/{}",
                    url.path().trim_end_matches('/'),
                    path.trim_start_matches('/')
                );
                url.set_path(&joined);
                url
            }
            Target::Url(url) => {
                if !same_origin(url, &self.inner.base_url) {
                    return Err(Error::new(
                        ErrorKind::Decode,
                        "the vendor gave a link to another host; refusing to follow it",
                    )
                    .with_operation(request.operation.clone()));
                }
                url.clone()
            }
        };
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &request.query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// How long the call that started at `started` may still wait for a rate-limit permit.
    ///
    /// Waits for a permit count against the call's total budget
    /// ([`RetryPolicy::max_elapsed`]) like retry delays do, and no single wait exceeds
    /// [`RetryPolicy::max_retry_after`]: a bucket paused for longer (a far-future `Retry-After`)
    /// fails the call at once with the real remaining wait instead of freezing it, and every
    /// other call on the client fails just as fast until the pause ends.
    fn permit_allowance(&self, started: tokio::time::Instant) -> Duration {
        let policy = &self.inner.retry;
        let left = policy.max_elapsed.saturating_sub(started.elapsed());
        left.min(policy.max_retry_after)
    }

    async fn attempt(
        &self,
        request: &Request,
        url: &Url,
        attempt: u32,
        started: tokio::time::Instant,
    ) -> Attempt {
        let credential = match self.inner.credentials.credential().await {
            Ok(c) => c,
            Err(e) => return Attempt::Failed(e, None),
        };
        let allowance = self.permit_allowance(started);
        if let Err(e) = self.inner.limiter.acquire(request.bucket, allowance).await {
            return Attempt::NoPermit(e);
        }
        let builder = match self.build(request, url.clone(), &credential) {
            Ok(b) => b,
            Err(e) => return Attempt::Failed(e, None),
        };
        let fut = async {
            let resp = builder.send().await.map_err(|e| send_error(e, url))?;
            let status = resp.status();
            let mut headers = resp.headers().clone();
            let body = read_bounded(resp, self.inner.max_response_bytes).await?;
            strip_sensitive(&mut headers);
            Ok::<_, Error>((status, headers, body))
        };
        let (status, headers, body) = match tokio::time::timeout(self.inner.timeout, fut).await {
            Err(_) => {
                return Attempt::Failed(
                    Error::new(
                        ErrorKind::Timeout,
                        format!("no complete answer within {:?}", self.inner.timeout),
                    ),
                    None,
                );
            }
            Ok(Err(e)) => return Attempt::Failed(e, None),
            Ok(Ok(parts)) => parts,
        };
        self.inner
            .limiter
            .observe(request.bucket, status.as_u16(), &headers);
        let correlation_id = self
            .inner
            .correlation_headers
            .iter()
            .find_map(|h| headers.get(h.as_str()))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        tracing::trace!(attempt, status = status.as_u16(), "response");
        if status.is_redirection() && status != StatusCode::MULTIPLE_CHOICES {
            return Attempt::Failed(redirect_error(status, &headers, url, correlation_id), None);
        }
        if status == StatusCode::NOT_FOUND && !request.addresses_record {
            return Attempt::Failed(
                route_not_found(url, &self.inner.base_url, false, correlation_id),
                None,
            );
        }
        if status.is_success() {
            return Attempt::Done(Response {
                status,
                headers,
                body,
                correlation_id,
                attempts: attempt,
                operation: request.operation.clone(),
            });
        }
        let failed = ErrorResponse {
            status,
            headers: &headers,
            body: &body,
            correlation_id: correlation_id.as_deref(),
        };
        if status == StatusCode::NOT_FOUND && !self.inner.error_parser.is_missing_record(&failed) {
            let err = route_not_found(url, &self.inner.base_url, true, correlation_id);
            return Attempt::Failed(err, None);
        }
        let mut err = self
            .inner
            .error_parser
            .parse_error_for_bucket(request.bucket, &failed);
        // `Retry-After` is honoured on every failure (RFC 9110 §10.2.3 names 503 as well as
        // 429), whatever the vendor's parser made of the body.
        if err.retry_after().is_none()
            && let Some(wait) = failed.retry_after()
        {
            err = err.with_retry_after(wait);
        }
        Attempt::Failed(err, Some(credential))
    }

    fn build(
        &self,
        request: &Request,
        url: Url,
        credential: &Credential,
    ) -> Result<reqwest::RequestBuilder> {
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let v = HeaderValue::from_str(value).map_err(|_| {
                Error::invalid_input(format!(
                    "header `{name}` has a value that is not allowed (CR, LF or control characters)"
                ))
            })?;
            headers.append(name.clone(), v);
        }
        match credential {
            Credential::None => {}
            Credential::Bearer(token) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                    .map_err(|_| {
                        Error::config("the bearer token holds characters not allowed in a header")
                    })?;
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
            }
            Credential::Header { name, value } => {
                let mut v = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                    Error::config("the API key holds characters not allowed in a header")
                })?;
                v.set_sensitive(true);
                headers.insert(name.clone(), v);
            }
        }
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), url)
            .headers(headers);
        match &request.body {
            None => {}
            Some(Body::Json(value)) => builder = builder.json(value),
            Some(Body::Form(pairs)) => builder = builder.form(pairs),
        }
        Ok(builder)
    }
}

/// A 3xx answer (but `300 Multiple Choices`, which Salesforce uses for an ambiguous external id
/// and which the adapter's parser reads).
///
/// The client follows no redirect (it would carry the credential wherever it points), and a
/// CRM API does not redirect its API calls: a redirect means the base URL is not the API's
/// (plain `http` sent to `https`, a moved host, a login page). So it is an
/// [`ErrorKind::Config`] error, never retried, naming the status and the host `Location`
/// points to (not its path or query, which can hold a session or personal values), and
/// nothing is decoded from its body.
fn redirect_error(
    status: StatusCode,
    headers: &HeaderMap,
    url: &Url,
    correlation_id: Option<String>,
) -> Error {
    let target = headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|loc| url.join(loc.trim()).ok())
        .and_then(|to| to.host_str().map(str::to_owned));
    let message = match target {
        Some(host) => format!(
            "the server answered HTTP {} redirecting to host `{host}`; API calls are not \
             redirected, so base_url is probably wrong (redirects are not followed)",
            status.as_u16()
        ),
        None => format!(
            "the server answered HTTP {} (a redirect without a usable Location); API calls are \
             not redirected, so base_url is probably wrong (redirects are not followed)",
            status.as_u16()
        ),
    };
    Error::config(message).with_vendor(VendorError {
        status: Some(status.as_u16()),
        correlation_id,
        ..VendorError::default()
    })
}

/// A 404 that is not "no such record": the route does not exist (see
/// [`Request::addresses_record`] and [`ErrorParser::is_missing_record`]).
///
/// The message shows the URL path the client built, never its query. The path of a request
/// that addresses a record holds the record's key (an id, or an email used as one), so there
/// only the segments that cannot be a caller's value are shown: those of `base_url`'s own path
/// (configuration, and the likeliest culprit) and the API's words and versions (`objects`,
/// `contacts`, `v3`, `2026-03`); every other segment reads `…`.
fn route_not_found(url: &Url, base: &Url, record: bool, correlation_id: Option<String>) -> Error {
    let path = if record {
        shown_path(url, base)
    } else {
        url.path().to_owned()
    };
    Error::config(format!(
        "the endpoint `{path}` was not found (HTTP 404): check base_url (the API's root, without \
         the API paths the SDK adds itself)"
    ))
    .with_vendor(VendorError {
        status: Some(404),
        correlation_id,
        ..VendorError::default()
    })
}

/// `url`'s path with every segment that may hold a caller's value masked (see
/// [`route_not_found`]).
fn shown_path(url: &Url, base: &Url) -> String {
    let base_segments: Vec<&str> = base.path().split('/').filter(|s| !s.is_empty()).collect();
    let same_origin = url.origin() == base.origin();
    let mut out = String::new();
    for (i, segment) in url.path().split('/').filter(|s| !s.is_empty()).enumerate() {
        let from_base = same_origin && base_segments.get(i) == Some(&segment);
        out.push('/');
        out.push_str(if from_base || is_api_word(segment) {
            segment
        } else {
            "…"
        });
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether a path segment is an API's own word or version rather than a value: letters with
/// `_` or `-` (`objects`, `line_items`, `Contact`), `v` and a version number (`v3`, `v60.0`),
/// or a dated version (`2026-03`, `2026-09-beta`). Digits elsewhere, `%`, `@` and `.` mark a
/// value (an id, an encoded email).
fn is_api_word(segment: &str) -> bool {
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-')
    };
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if word(segment) {
        return true;
    }
    if let Some(version) = segment.strip_prefix('v') {
        let mut parts = version.splitn(2, '.');
        let major = parts.next().unwrap_or_default();
        let minor = parts.next();
        return number(major) && minor.is_none_or(number);
    }
    let mut parts = segment.splitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(year), Some(month), rest) => {
            year.len() == 4
                && number(year)
                && month.len() == 2
                && number(month)
                && rest.is_none_or(|r| r.bytes().all(|b| b.is_ascii_lowercase()) && !r.is_empty())
        }
        _ => false,
    }
}

/// Classifies a failure to send or to read an answer.
///
/// Two failures are not worth a retry, because sending again cannot fix them, and they name
/// the host and what to change instead of "cannot connect":
/// - the server's TLS certificate is not trusted (unknown issuer, expired, issued for another
///   name): an [`ErrorKind::Config`] error saying "certificate not trusted: set `ca_file`";
/// - the host name does not resolve: an [`ErrorKind::Config`] error saying "host not found"
///   (a wrong `base_url` far more often than a passing DNS outage).
///
/// Other connection failures stay [`ErrorKind::Unavailable`] and are retried.
fn send_error(e: reqwest::Error, url: &Url) -> Error {
    // Never include the URL: it can hold a looked-up email in the query string. The host is
    // configuration, not a caller's value.
    let host = url.host_str().unwrap_or("the server");
    let e = e.without_url();
    if let Some(problem) = certificate_problem(&e) {
        return Error::config(format!(
            "cannot connect to `{host}`: certificate not trusted ({problem}): set `ca_file` to \
             the CA that signed the server's certificate, or fix the certificate"
        ))
        .with_not_processed()
        .with_source(e);
    }
    if e.is_dns() {
        return Error::config(format!(
            "cannot connect to `{host}`: host not found (the name does not resolve): check base_url"
        ))
        .with_not_processed()
        .with_source(e);
    }
    if e.is_timeout() {
        Error::new(ErrorKind::Timeout, "the request timed out").with_source(e)
    } else if e.is_connect() {
        // No connection, so no request: safe to send again even when it creates a record.
        Error::new(ErrorKind::Unavailable, "cannot connect to the server")
            .with_not_processed()
            .with_source(e)
    } else if e.is_builder() {
        Error::config("the request could not be built").with_source(e)
    } else {
        Error::new(
            ErrorKind::Unavailable,
            "the connection failed before a complete answer arrived",
        )
        .with_source(e)
    }
}

/// Why the server's TLS certificate was refused, if that is what `e` is: the reason rustls
/// gives (`UnknownIssuer`, `Expired`, ...), found by walking the error's sources. rustls is
/// reached through reqwest, hyper and an `io::Error`, whose text is the rustls error's, so the
/// text is matched rather than the type.
fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if let Some(reason) = text.strip_prefix("invalid peer certificate: ") {
            return Some(reason.to_owned());
        }
        next = err.source();
    }
    None
}

async fn read_bounded(resp: reqwest::Response, max: usize) -> Result<Bytes> {
    if let Some(len) = resp.content_length()
        && len > max as u64
    {
        return Err(too_large(max));
    }
    let url = resp.url().clone();
    let mut body = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| send_error(e, &url))?;
        if body.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn too_large(max: usize) -> Error {
    Error::decode(format!(
        "the response body is larger than the {max}-byte limit"
    ))
}

fn strip_sensitive(headers: &mut HeaderMap) {
    for name in [
        "set-cookie",
        "www-authenticate",
        "authorization",
        "proxy-authenticate",
    ] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests;
