//! Decoding JSON bodies into typed values, with errors that name where the body went wrong
//! (the JSON path and the expected type) without quoting what it held.

use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderMap};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, VendorError};
use crate::redact;

/// Decodes a JSON body, naming the failing path. Used for success bodies and by adapters that
/// parse error bodies.
///
/// A failure is a [`crate::ErrorKind::Decode`] error whose message names the JSON path and the
/// type expected there (``field `results[0].id`: expected u32, found a string``), never the
/// value: serde's own messages quote it (`invalid type: string "jane@…"`). The start of the
/// body stays in the vendor details, readable only redacted.
pub fn decode_json<T: DeserializeOwned>(
    body: &[u8],
    headers: &HeaderMap,
    status: StatusCode,
    correlation_id: Option<&str>,
) -> Result<T> {
    let vendor = || {
        let mut v = VendorError::with_status(status.as_u16());
        v.set_correlation_id(correlation_id.map(str::to_owned));
        v.set_body(Some(body));
        v
    };
    // The plain decoder first: tracking the path costs on every field of every record, and
    // almost every body decodes. Only a failure is looked at again: an empty body or an HTML
    // page (neither ever decodes as JSON) is named as such, anything else is decoded again
    // with the path tracked, to say where it went wrong.
    let plain_err = match serde_json::from_slice(body) {
        Ok(value) => return Ok(value),
        Err(e) => e,
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
    let explained = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        Error::decode(describe(&path, e.inner())).with_vendor(vendor())
    })?;
    drop(explained);
    if de.end().is_err() {
        return Err(Error::decode("trailing data after the JSON body").with_vendor(vendor()));
    }
    // Both decoders read the same bytes with the same rules, so the second one fails too; were
    // it ever to succeed, the first one's error is still described without the value.
    Err(Error::decode(describe(".", &plain_err)).with_vendor(vendor()))
}

/// Decodes an already parsed JSON value (a sub-response of a composite call), with the same
/// errors as [`decode_json`]: the path and the expected type, never the value.
pub fn decode_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    // As in `decode_json`: the path is tracked only to explain a failure.
    let plain_err = match T::deserialize(&value) {
        Ok(decoded) => return Ok(decoded),
        Err(e) => e,
    };
    match serde_path_to_error::deserialize::<_, T>(value) {
        Err(e) => {
            let path = e.path().to_string();
            Err(Error::decode(describe(&path, e.inner())))
        }
        Ok(_) => Err(Error::decode(describe(".", &plain_err))),
    }
}

/// What went wrong at `path`, in words that never repeat the input.
fn describe(path: &str, err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let position = format!(" at line {} column {}", err.line(), err.column());
    let full = err.to_string();
    let msg = full.strip_suffix(&position).unwrap_or(&full);
    match err.classify() {
        Category::Eof => "the JSON body is truncated".to_owned(),
        // serde_json's syntax messages are a fixed set ("expected value", "trailing comma",
        // "invalid escape"...) that never quote the input; the redactor is a second guard.
        Category::Syntax | Category::Io => format!(
            "the body is not valid JSON ({}{position})",
            redact::patterns(msg)
        ),
        Category::Data => {
            let what = data_problem(msg);
            if path == "." {
                format!("unexpected JSON shape: {what}")
            } else {
                format!("field `{}`: {what}", redact::patterns(path))
            }
        }
    }
}

/// serde's data messages without the value they quote: `invalid type: string "x", expected
/// u32` becomes `expected u32, found a string`.
fn data_problem(msg: &str) -> String {
    // The expected part comes from the target type (static text); the value, if any, sits
    // before it, so split at the last `, expected `.
    let expected = msg.rsplit_once(", expected ").map(|(_, e)| e);
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        return match expected {
            Some(e) => format!("expected {e}, found {}", found(rest)),
            None => format!("found {}", found(rest)),
        };
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        return match expected {
            Some(e) => format!("expected {e}; this {} does not fit", kind_word(rest)),
            None => format!("this {} does not fit", kind_word(rest)),
        };
    }
    if msg.starts_with("unknown variant ") {
        return match expected {
            Some(e) => format!("unknown variant, expected {e}"),
            None => "unknown variant".to_owned(),
        };
    }
    if msg.starts_with("unknown field ") {
        // The field's name came from the input: shown redacted.
        let name = msg
            .split('`')
            .nth(1)
            .map(redact::patterns)
            .unwrap_or_default();
        return match expected {
            Some(e) => format!("unknown field `{name}`, expected {e}"),
            None => format!("unknown field `{name}`"),
        };
    }
    // Our own names or numbers only.
    if msg.starts_with("missing field ")
        || msg.starts_with("duplicate field ")
        || msg.starts_with("invalid length ")
    {
        return msg.to_owned();
    }
    // A type's own message (`Error::custom`): kept only when it cannot be quoting the input.
    let quotes = msg.contains(['"', '`', '\'']);
    if !quotes && redact::patterns(msg) == msg {
        msg.to_owned()
    } else {
        "the value has the wrong type or format".to_owned()
    }
}

/// `string "x"` → `a string`, `integer `5`` → `an integer`...
fn found(unexpected: &str) -> String {
    format!(
        "{} {}",
        article(kind_word(unexpected)),
        kind_word(unexpected)
    )
}

fn kind_word(unexpected: &str) -> &'static str {
    const KINDS: &[(&str, &str)] = &[
        ("string", "string"),
        ("integer", "integer"),
        ("floating point", "decimal number"),
        ("boolean", "boolean"),
        ("character", "character"),
        ("null", "null"),
        ("unit value", "null"),
        ("map", "object"),
        ("sequence", "array"),
        ("byte array", "byte array"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| unexpected.starts_with(prefix))
        .map(|(_, word)| *word)
        .unwrap_or("value")
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Page {
        results: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        id: u32,
        kind: Kind,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Call,
    }

    fn decode(body: &str) -> Error {
        decode_json::<Page>(body.as_bytes(), &HeaderMap::new(), StatusCode::OK, None).unwrap_err()
    }

    #[test]
    fn decode_errors_name_path_and_type_never_the_value() {
        let cases = [
            (
                r#"{"results":[{"id":"victim@example.com","kind":"call"}]}"#,
                "field `results[0].id`: expected u32, found a string",
            ),
            (
                r#"{"results":[{"id":5550000004,"kind":"call"}]}"#,
                "field `results[0].id`: expected u32; this integer does not fit",
            ),
            (
                r#"{"results":[{"id":1,"kind":"victim@example.com"}]}"#,
                "field `results[0].kind`: unknown variant, expected `call`",
            ),
            (
                r#"{"results":"victim@example.com"}"#,
                "field `results`: expected a sequence, found a string",
            ),
            (
                r#"{"results":[{"id":1,"kind":"call","x":"victim@example.com"}] "#,
                "the JSON body is truncated",
            ),
        ];
        for (body, want) in cases {
            let err = decode(body);
            assert_eq!(err.message(), want, "{body}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("victim"), "{shown}");
            assert!(!shown.contains("5550000004"), "{shown}");
        }
    }

    #[test]
    fn syntax_errors_do_not_quote_the_input() {
        let err = decode(r#"{"results": victim@example.com}"#);
        assert!(
            err.message().starts_with("the body is not valid JSON ("),
            "{err}"
        );
        assert!(err.message().contains("line 1 column"), "{err}");
        assert!(!format!("{err} {err:?}").contains("victim"), "{err:?}");
    }

    /// Records the deserializer each decode ran through, so a test can see whether the
    /// path-tracking one ran.
    #[derive(Debug)]
    struct Probe(u32);

    thread_local! {
        static DESERIALIZERS: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    impl<'de> serde::Deserialize<'de> for Probe {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            DESERIALIZERS.with(|v| v.borrow_mut().push(std::any::type_name::<D>()));
            u32::deserialize(d).map(Probe)
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Probed {
        results: Vec<Probe>,
    }

    fn path_tracked_decodes() -> usize {
        DESERIALIZERS.with(|v| {
            v.borrow_mut()
                .drain(..)
                .filter(|name| name.contains("serde_path_to_error"))
                .count()
        })
    }

    #[test]
    fn a_good_body_is_decoded_without_path_tracking_issue15() {
        let ok = decode_json::<Probed>(
            br#"{"results":[1,2,3]}"#,
            &HeaderMap::new(),
            StatusCode::OK,
            None,
        )
        .unwrap();
        assert_eq!(ok.results.iter().map(|p| p.0).sum::<u32>(), 6);
        assert_eq!(path_tracked_decodes(), 0);
        let ok = decode_value::<Probed>(serde_json::json!({"results": [4]})).unwrap();
        assert_eq!(ok.results.first().map(|p| p.0), Some(4));
        assert_eq!(path_tracked_decodes(), 0);

        // A bad one is decoded again with the path tracked, to say where.
        let err = decode_json::<Probed>(
            br#"{"results":[1,"victim@example.com"]}"#,
            &HeaderMap::new(),
            StatusCode::OK,
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "field `results[1]`: expected u32, found a string"
        );
        assert!(path_tracked_decodes() > 0);
        let err =
            decode_value::<Probed>(serde_json::json!({"results": [1, "victim"]})).unwrap_err();
        assert_eq!(
            err.message(),
            "field `results[1]`: expected u32, found a string"
        );
        assert!(!format!("{err} {err:?}").contains("victim"));
        assert!(path_tracked_decodes() > 0);
    }

    #[test]
    fn trailing_data_is_still_refused() {
        let err = decode(r#"{"results":[]} {"#);
        assert_eq!(err.message(), "trailing data after the JSON body");
        let err = decode(r#"{"results":[]} x"#);
        assert_eq!(err.message(), "trailing data after the JSON body");
        // Trailing whitespace is fine.
        decode_json::<Page>(
            b"{\"results\":[]}\n ",
            &HeaderMap::new(),
            StatusCode::OK,
            None,
        )
        .unwrap();
    }

    #[test]
    fn decode_value_names_the_path() {
        let err = decode_value::<Page>(serde_json::json!({"results": [{"id": "+1 555 000 0004"}]}))
            .unwrap_err();
        assert_eq!(
            err.message(),
            "field `results[0].id`: expected u32, found a string"
        );
    }
}
