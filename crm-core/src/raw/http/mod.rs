//! The one HTTP layer every adapter uses.
//!
//! Adapters describe a [`Request`] (method, path, body, whether it is idempotent, which limit
//! bucket), parse bodies ([`Response::json`], [`decode_json`]) and turn failures into typed
//! errors ([`ErrorParser`]); the [`HttpClient`] does the rest, through the send pipeline. The
//! pipeline's order and the reasons for it are stated once, in [`pipeline`].
//!
//! Rules the client enforces: `https` only, except loopback hosts; absolute URLs (a vendor's
//! next-page link) only on the base URL's origin; response bodies bounded in size before they are
//! buffered; the vendor's correlation id kept in errors and logs; no URL, query string or body in
//! logs (they can hold personal values), only the operation name.
//!
//! The files, by concern: `request` (the [`Request`] builder), `response` ([`Response`],
//! [`ErrorResponse`], body limits), `decode` (JSON bodies into types), `error_parser` (the
//! adapter's [`ErrorParser`] hook), `client` ([`HttpClient`], [`HttpClientBuilder`]: TLS roots,
//! timeouts), `deadline` (each attempt's timeout, on a timer attempts share), [`pipeline`] (the send loop), `classify` (redirects, unknown routes, connection
//! failures), `url_policy` (which URLs may be called, path segments).

mod classify;
mod client;
mod deadline;
mod decode;
mod error_parser;
pub mod pipeline;
mod request;
mod response;
mod url_policy;

pub use client::{HttpClient, HttpClientBuilder};
pub use decode::{decode_json, decode_value};
pub use error_parser::{ErrorParser, StatusOnly};
pub use request::{Body, Request};
pub use response::{ErrorResponse, Response};
pub use url_policy::{
    check_scheme, encode_segment, is_dot_segment, is_loopback, parse_base_url, push_segment,
    same_origin,
};

#[cfg(test)]
mod tests;
