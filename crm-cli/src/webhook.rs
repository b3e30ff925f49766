//! `crm-connect webhook verify`: does a captured request verify, and if not, why.
//!
//! The capture is a raw HTTP/1.1 request: a request line, headers, a blank line, the body bytes
//! exactly as received (`POST /hooks/crm HTTP/1.1`, …). Its URI is joined to the connection's
//! `[webhook] public_base` when it is a path.

use crm_core::events::{WebhookRequest, WebhookSource, http_status};
use crm_core::reexports::http::{HeaderMap, HeaderName, HeaderValue};
use crm_core::{Error, Result};

/// A parsed capture.
pub(crate) struct Capture {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Parses a raw HTTP/1.1 request (CRLF or LF line ends).
pub(crate) fn parse(raw: &[u8]) -> Result<Capture> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .ok_or_else(|| {
            Error::invalid_input("the capture has no blank line between headers and body")
        })?;
    let head = std::str::from_utf8(raw.get(..split.0).unwrap_or_default())
        .map_err(|_| Error::invalid_input("the capture's headers are not UTF-8"))?;
    let body = raw.get(split.1..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let request_line = lines
        .next()
        .ok_or_else(|| Error::invalid_input("the capture is empty"))?;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(Error::invalid_input(
            "the first line is not `METHOD target HTTP/1.1`",
        ));
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::invalid_input(format!("not a header line: `{line}`")))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::invalid_input(format!("bad header name `{}`", name.trim())))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| Error::invalid_input(format!("bad value for header `{name}`")))?;
        headers.append(name, value);
    }
    Ok(Capture {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body,
    })
}

/// Verifies a capture; `Ok` holds a one-line summary per event, in words
/// (`ticket t-5001 updated: status at 2026-11-24 09:30:00 UTC`).
pub(crate) fn verify(
    source: &dyn WebhookSource,
    public_base: &str,
    capture: &Capture,
) -> std::result::Result<Vec<String>, (u16, Error)> {
    let uri = if capture.target.starts_with("http://") || capture.target.starts_with("https://") {
        capture.target.clone()
    } else {
        format!("{}{}", public_base.trim_end_matches('/'), capture.target)
    };
    let req = WebhookRequest {
        method: &capture.method,
        uri: &uri,
        headers: &capture.headers,
        body: &capture.body,
    };
    match source.verify_and_parse(&req) {
        Ok(events) => Ok(events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} at {}",
                    e.object, e.record_id, e.change, e.occurred_at
                )
            })
            .collect()),
        Err(e) => Err((http_status(&e), e)),
    }
}
