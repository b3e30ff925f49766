//! The [`Request`] an adapter describes: method, target, query, headers, body, idempotency, limit
//! bucket and operation name. Building one does nothing; [`HttpClient::send`] carries it out.
//!
//! [`HttpClient::send`]: super::HttpClient::send

use std::borrow::Cow;
use std::fmt;

use http::Method;
use http::header::HeaderName;
use url::Url;

use crate::limits::{Bucket, DEFAULT_BUCKET};

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
pub(super) enum Target {
    /// Appended to the base URL's path. Already percent-encoded.
    Path(String),
    /// An absolute URL, which must share the base URL's origin. Boxed: a request is part of
    /// every call's future, and a path (24 bytes) is the common case.
    Url(Box<Url>),
}

/// A request as an adapter describes it.
#[derive(Debug, Clone)]
pub struct Request {
    pub(super) method: Method,
    pub(super) target: Target,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: Vec<(HeaderName, String)>,
    pub(super) body: Option<Body>,
    pub(super) idempotent: bool,
    pub(super) bucket: Bucket,
    /// Interned (see [`crate::telemetry`]), so that carrying it into the response, the metrics
    /// and the logs copies no text.
    pub(super) operation: Cow<'static, str>,
    pub(super) addresses_record: bool,
}

impl Request {
    /// A request to `path` under the base URL. Build paths with
    /// [`encode_segment`](super::encode_segment) for every variable part. Idempotency defaults to
    /// the method's (GET, PUT, DELETE yes; POST, PATCH no): mark a PATCH that sets fields
    /// idempotent with [`Request::idempotent`].
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
        r.target = Target::Url(Box::new(url));
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
    /// [`ErrorParser`](super::ErrorParser) (usually
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound)).
    ///
    /// A 404 on a request that is not marked (a search, a listing, a batch, pipelines) means the
    /// route itself does not exist, which is a wrong `base_url` or API version, not an empty
    /// answer: the client returns an [`ErrorKind::Config`](crate::ErrorKind::Config) error that
    /// names the URL path it built (never the query), such as "the endpoint
    /// `/crm/v3/crm/v3/objects/contacts/search` was not found (HTTP 404): check base_url". Mark
    /// every request whose path holds a caller's value (an id, an email used as a key), so that the
    /// value is never in that message.
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
