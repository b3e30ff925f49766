//! The [`HttpClient`] and its [`HttpClientBuilder`]: base URL, TLS roots, timeouts, body limit,
//! and the seams the send pipeline calls (credentials, limiter, retry policy, error parser).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use super::deadline::AttemptDeadlines;
use super::{ErrorParser, StatusOnly, parse_base_url};
use crate::credential::{CredentialProvider, StaticCredential};
use crate::error::{Error, Result};
use crate::limits::{RateLimiter, Unlimited};
use crate::retry::RetryPolicy;

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
    ///
    /// An attempt never waits longer; it may give up up to a thirty-second of the timeout (at
    /// most a quarter of a second) sooner, because attempts that start that close together share
    /// one timer (a timer per attempt costs every call a wake-up of the runtime's driver).
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
                deadlines: AttemptDeadlines::new(self.timeout),
                max_response_bytes: self.max_response_bytes,
                // Parsed once here, not on every response; a name that is not a valid header
                // name could never match one.
                correlation_headers: self
                    .correlation_headers
                    .iter()
                    .filter_map(|n| http::header::HeaderName::from_bytes(n.as_bytes()).ok())
                    .collect(),
                credentials: self.credentials,
                auth_header: Mutex::new(None),
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
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    /// Interned like operation names: it is a label on every call's metrics.
    pub(super) vendor: Cow<'static, str>,
    pub(super) base_url: Url,
    /// Each attempt's timeout, on one timer shared by attempts that start together.
    pub(super) deadlines: AttemptDeadlines,
    pub(super) max_response_bytes: usize,
    pub(super) correlation_headers: Vec<http::header::HeaderName>,
    pub(super) credentials: Arc<dyn CredentialProvider>,
    /// The header the last credential went out in, built once: every request sends it, and
    /// building it formats `Bearer …` and checks every byte again. Rebuilt when the provider
    /// hands out another credential (a refreshed token).
    pub(super) auth_header: Mutex<Option<(http::header::HeaderName, http::header::HeaderValue)>>,
    pub(super) limiter: Arc<dyn RateLimiter>,
    pub(super) retry: RetryPolicy,
    pub(super) error_parser: Arc<dyn ErrorParser>,
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

impl HttpClient {
    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The vendor name given to the builder.
    pub fn vendor(&self) -> &str {
        &self.inner.vendor
    }
}
