//! Which URLs the SDK may talk to, and how ids go into paths.

use std::net::IpAddr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::{Host, Url};

use crate::error::{Error, Result};

/// Whether `url` points at this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Parses `text` as a base URL the SDK may use: `https`, or `http` on a loopback host only.
/// `key` names the setting in the error.
pub fn parse_base_url(key: &str, text: &str) -> Result<Url> {
    let url = Url::parse(text.trim())
        .map_err(|e| Error::config(format!("{key}: `{text}` is not a URL ({e})")))?;
    check_scheme(key, &url)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(format!(
            "{key}: a base URL takes no query or fragment"
        )));
    }
    Ok(url)
}

/// Refuses anything but `https`, and `http` on loopback.
pub fn check_scheme(key: &str, url: &Url) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Error::config(format!(
            "{key}: plain http is only allowed on loopback (127.0.0.1, ::1, localhost); use https"
        ))),
        other => Err(Error::config(format!(
            "{key}: unsupported URL scheme `{other}`"
        ))),
    }
}

/// Whether two URLs share scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

// Everything but unreserved characters is encoded, so an id holding `/`, `?`, `#` or `%` stays
// one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    push_segment(&mut out, segment);
    out
}

/// Appends `segment` percent-encoded to `out` (as [`encode_segment`] does, without a string of
/// its own: a record path is built on every read).
pub fn push_segment(out: &mut String, segment: &str) {
    out.extend(utf8_percent_encode(segment, SEGMENT));
}

/// Whether `segment` is `.` or `..` once percent-decoded, however many times it was encoded
/// (`%2e`, `%2E.`, `%252e%252e`...).
///
/// URL parsers remove such segments and the one before a `..` (WHATWG URL "path state", which
/// counts `%2e` as a dot as well), so `…/sobjects/Contact/..` would address
/// `…/sobjects/`: a dot segment in a record id would change which resource a request reaches.
/// Ids that are dot segments are refused where they enter (`RecordId::new`), and the transport
/// refuses to send a path that still holds one.
pub fn is_dot_segment(segment: &str) -> bool {
    // Every segment of every request path comes through here: a plain one is decided without
    // a copy.
    if segment == "." || segment == ".." {
        return true;
    }
    if !segment.contains('%') || segment.len() > 18 {
        return false;
    }
    let mut text = segment.to_owned();
    // Each round undoes one level of encoding, up to four; `..` encoded four times is 18
    // characters long, so a longer segment is not one.
    for _ in 0..4 {
        if text == "." || text == ".." {
            return true;
        }
        if !text.contains('%') || text.len() > 18 {
            return false;
        }
        let decoded = percent_encoding::percent_decode_str(&text)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == text {
            return false;
        }
        text = decoded;
    }
    text == "." || text == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_everywhere_http_only_on_loopback() {
        assert!(parse_base_url("k", "https://api.hubapi.com").is_ok());
        assert!(parse_base_url("k", "http://127.0.0.1:8080/api").is_ok());
        assert!(parse_base_url("k", "http://127.9.9.9").is_ok());
        assert!(parse_base_url("k", "http://localhost:1").is_ok());
        assert!(parse_base_url("k", "http://[::1]:80").is_ok());
        let err = parse_base_url("base_url", "http://crm.example.com").unwrap_err();
        assert_eq!(err.kind(), &crate::ErrorKind::Config);
        assert!(err.message().starts_with("base_url:"));
        assert!(parse_base_url("k", "http://127.0.0.1.example.com").is_err());
        assert!(parse_base_url("k", "ftp://127.0.0.1").is_err());
        assert!(parse_base_url("k", "not a url").is_err());
    }

    #[test]
    fn dot_segments_in_any_encoding_are_recognised() {
        for dot in [
            ".",
            "..",
            "%2e",
            "%2E",
            "%2e%2e",
            "%2E%2e",
            ".%2e",
            "%2e.",
            "%252e",
            "%252E%252e",
            "%25252e%25252e",
        ] {
            assert!(is_dot_segment(dot), "{dot}");
        }
        for fine in [
            "...",
            "a.",
            ".a",
            "%2e%2e%2e",
            "%2f",
            "",
            "512",
            "%2",
            "%zz",
            "%25",
        ] {
            assert!(!is_dot_segment(fine), "{fine}");
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("a/b?c#d%e f"), "a%2Fb%3Fc%23d%25e%20f");
        assert_eq!(encode_segment("0031t00000AbCdEAAV"), "0031t00000AbCdEAAV");
        assert_eq!(encode_segment("jon@x.com"), "jon%40x.com");
    }
}
