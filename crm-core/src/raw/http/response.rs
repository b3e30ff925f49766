//! What comes back: the successful [`Response`], the failed [`ErrorResponse`] an
//! [`ErrorParser`](super::ErrorParser) reads, and reading a body within its size limit.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::StatusCode;
use http::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;
use url::Url;

use super::classify::send_error;
use super::decode_json;
use crate::error::{Error, ErrorKind, Result, VendorError};
use crate::retry::parse_retry_after;

/// A successful (2xx) response, fully read.
///
/// Nothing else is a success. A redirect (3xx but `300 Multiple Choices`) is an
/// [`ErrorKind::Config`] error naming the status and the host in `Location` (not its path or
/// query), with nothing decoded from its body: redirects are not followed, since they would
/// carry the credential along, and an API call that is redirected means `base_url` is not the
/// API's. `300` goes to the adapter's [`ErrorParser`](super::ErrorParser) (Salesforce answers it
/// for an external id held by several records).
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
    pub(super) operation: Cow<'static, str>,
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

/// A failed response, as the adapter's [`ErrorParser`](super::ErrorParser) sees it.
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

    /// The kind a status means when the body says nothing more
    /// ([`crate::raw::status::kind_of_status`]), a 429 with the wait its `Retry-After` asks.
    pub fn default_kind(&self) -> ErrorKind {
        match crate::raw::status::kind_of_status(self.status.as_u16()) {
            ErrorKind::RateLimited { scope, .. } => ErrorKind::RateLimited {
                retry_after: self.retry_after(),
                scope,
            },
            kind => kind,
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
/// Reads the body of `resp` (sent to `url`), refusing one larger than `max` bytes.
///
/// A body that arrives in one chunk (most API answers) is kept as that chunk, without a copy;
/// one in several is gathered into a buffer sized by `Content-Length` when the server sent it.
///
/// The response becomes its body's stream before the future is made, so the future holds the
/// stream and not the response as well.
pub(super) fn read_bounded(
    resp: reqwest::Response,
    url: &Url,
    max: usize,
) -> impl Future<Output = Result<Bytes>> + Send + '_ {
    let declared = resp.content_length();
    let mut stream = resp.bytes_stream();
    // A plain function returning an `async move` block: an `async fn` would keep each argument
    // twice in its state.
    async move {
        if let Some(len) = declared
            && len > max as u64
        {
            return Err(too_large(max));
        }
        let mut first: Option<Bytes> = None;
        let mut gathered: Option<BytesMut> = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| send_error(e, url))?;
            let so_far = match (&gathered, &first) {
                (Some(g), _) => g.len(),
                (None, Some(f)) => f.len(),
                (None, None) => 0,
            };
            if so_far + chunk.len() > max {
                return Err(too_large(max));
            }
            match (&mut gathered, first.take()) {
                (Some(g), _) => g.extend_from_slice(&chunk),
                (None, None) => first = Some(chunk),
                (None, Some(f)) => {
                    let hint = declared.and_then(|d| usize::try_from(d).ok()).unwrap_or(0);
                    let mut g = BytesMut::with_capacity(hint.clamp(f.len() + chunk.len(), max));
                    g.extend_from_slice(&f);
                    g.extend_from_slice(&chunk);
                    gathered = Some(g);
                }
            }
        }
        Ok(match (gathered, first) {
            (Some(g), _) => g.freeze(),
            (None, Some(f)) => f,
            (None, None) => Bytes::new(),
        })
    }
}

fn too_large(max: usize) -> Error {
    Error::decode(format!(
        "the response body is larger than the {max}-byte limit"
    ))
}

pub(super) fn strip_sensitive(headers: &mut HeaderMap) {
    // Typed names: a `&str` name is parsed again on every look-up.
    use http::header::{AUTHORIZATION, PROXY_AUTHENTICATE, SET_COOKIE, WWW_AUTHENTICATE};
    let sensitive = [
        SET_COOKIE,
        WWW_AUTHENTICATE,
        AUTHORIZATION,
        PROXY_AUTHENTICATE,
    ];
    // One pass over the few headers an answer has (standard names compare as a tag) finds
    // them in the rare answer that holds one; a removal hashes the name on every answer.
    if headers.keys().any(|k| sensitive.contains(k)) {
        for name in sensitive {
            headers.remove(name);
        }
    }
}
