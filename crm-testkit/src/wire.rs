//! Request and response details every fake reads or writes the same way.

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use wiremock::{MockServer, Request, ResponseTemplate};

/// A server on a free port of 127.0.0.1. Request recording is off: it would keep every request
/// in memory for the server's lifetime.
pub(crate) async fn server() -> MockServer {
    MockServer::builder()
        .disable_request_recording()
        .start()
        .await
}

/// A server on a fixed port of 127.0.0.1 (the CLI and demos); fails when the port is taken.
pub(crate) async fn server_on(port: u16) -> std::io::Result<MockServer> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    Ok(MockServer::builder()
        .listener(listener)
        .disable_request_recording()
        .start()
        .await)
}

/// Percent-decodes one path segment; bad escapes stay literal. Ids cannot contain `/` or `?`,
/// so `a%2Fb` decodes to a value no record has: a 404 rather than a different route.
pub(crate) fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The token of an `Authorization: <scheme> <token>` header whose scheme is one of `schemes`
/// (compared ignoring case).
pub(crate) fn auth_token(req: &Request, schemes: &[&str]) -> Option<String> {
    let value = req.headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    schemes
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
        .then(|| token.trim().to_owned())
}

/// `template`, answered after `latency`.
pub(crate) fn delayed(template: ResponseTemplate, latency: Duration) -> ResponseTemplate {
    if latency.is_zero() {
        template
    } else {
        template.set_delay(latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_decode() {
        assert_eq!(
            decode_segment("jane.doe%40example.com"),
            "jane.doe@example.com"
        );
        assert_eq!(decode_segment("missing%2Fx%3Fy"), "missing/x?y");
        assert_eq!(decode_segment("a+b"), "a+b");
        assert_eq!(decode_segment("100%"), "100%");
        assert_eq!(decode_segment("%zz"), "%zz");
    }
}
