//! Request and response details every fake reads or writes the same way.

use std::time::Duration;

use wiremock::{Request, ResponseTemplate};

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
