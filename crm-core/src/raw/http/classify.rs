//! Turning what the transport saw into a typed [`Error`] when the adapter's parser is not the
//! one to ask: redirects, routes that do not exist, and failures to send or to read an answer.

use http::StatusCode;
use http::header::HeaderMap;
use url::Url;

use crate::error::{Error, ErrorKind, VendorError};

/// A 3xx answer (but `300 Multiple Choices`, which Salesforce uses for an ambiguous external id
/// and which the adapter's parser reads).
///
/// The client follows no redirect (it would carry the credential wherever it points), and a
/// CRM API does not redirect its API calls: a redirect means the base URL is not the API's
/// (plain `http` sent to `https`, a moved host, a login page). So it is an
/// [`ErrorKind::Config`] error, never retried, naming the status and the host `Location`
/// points to (not its path or query, which can hold a session or personal values), and
/// nothing is decoded from its body.
pub(super) fn redirect_error(
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
/// [`Request::addresses_record`](super::Request::addresses_record) and
/// [`ErrorParser::is_missing_record`](super::ErrorParser::is_missing_record)).
///
/// The message shows the URL path the client built, never its query. The path of a request
/// that addresses a record holds the record's key (an id, or an email used as one), so there
/// only the segments that cannot be a caller's value are shown: those of `base_url`'s own path
/// (configuration, and the likeliest culprit) and the API's words and versions (`objects`,
/// `contacts`, `v3`, `2026-03`); every other segment reads `…`.
pub(super) fn route_not_found(
    url: &Url,
    base: &Url,
    record: bool,
    correlation_id: Option<String>,
) -> Error {
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
pub(super) fn send_error(e: reqwest::Error, url: &Url) -> Error {
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
