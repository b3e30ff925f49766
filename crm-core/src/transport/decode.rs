//! Decoding JSON bodies into typed values, with errors that name where the body went wrong
//! (the JSON path and the expected type) without quoting what it held.

use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderMap};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, VendorError};

/// Decodes a JSON body, naming the failing path. Used for success bodies and by adapters that
/// parse error bodies.
pub fn decode_json<T: DeserializeOwned>(
    body: &[u8],
    headers: &HeaderMap,
    status: StatusCode,
    correlation_id: Option<&str>,
) -> Result<T> {
    let vendor = || VendorError {
        status: Some(status.as_u16()),
        correlation_id: correlation_id.map(str::to_owned),
        body_snippet: Some(VendorError::snippet(body)),
        ..VendorError::default()
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(
            Error::decode("the response body is empty; expected JSON").with_vendor(vendor())
        );
    }
    if looks_like_html(body, headers) {
        return Err(
            Error::decode("the response is an HTML page; expected JSON").with_vendor(vendor())
        );
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = if inner.is_eof() {
            "the JSON body is truncated".to_owned()
        } else if inner.is_syntax() {
            format!("the body is not valid JSON ({inner})")
        } else if path == "." {
            format!("unexpected JSON shape: {inner}")
        } else {
            format!("field `{path}`: {inner}")
        };
        Error::decode(what).with_vendor(vendor())
    })?;
    de.end()
        .map_err(|_| Error::decode("trailing data after the JSON body").with_vendor(vendor()))?;
    Ok(value)
}

fn looks_like_html(body: &[u8], headers: &HeaderMap) -> bool {
    let ct_html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("text/html"));
    let start: Vec<u8> = body
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(15)
        .map(u8::to_ascii_lowercase)
        .collect();
    ct_html || start.starts_with(b"<!doctype html") || start.starts_with(b"<html")
}
