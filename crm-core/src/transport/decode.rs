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
        Error::decode(describe(&path, e.inner())).with_vendor(vendor())
    })?;
    de.end()
        .map_err(|_| Error::decode("trailing data after the JSON body").with_vendor(vendor()))?;
    Ok(value)
}

/// Decodes an already parsed JSON value (a sub-response of a composite call), with the same
/// errors as [`decode_json`]: the path and the expected type, never the value.
pub fn decode_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Error::decode(describe(&path, e.inner()))
    })
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
