//! Errors for TOML the SDK parses (connection files, mapping files, generic-REST specs) that
//! point at the place and never show a value.
//!
//! toml's own `Display` of an error quotes the offending source line, so a malformed connection
//! file would echo an inline token into a terminal or a log, and serde's messages carry the
//! value (`invalid type: string "abc", expected u64`). Every TOML error the SDK reports goes
//! through [`toml_config_error`] (or [`TomlProblem`] where several are collected): file, line,
//! column, the dotted key, and toml's message with every value masked as `***`.
//!
//! It lives in the mapping module because that is core's TOML home; connection files (in
//! `crm-cli`) and spec files (in `crm-generic-rest`) use it too.

use std::fmt;

use crate::error::Error;

/// One TOML problem, located and with its values masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlProblem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The dotted key path (`auth.token`, `contact.rules.email.type`); empty when the problem
    /// is not inside any key.
    pub key: String,
    /// What is wrong, with every value masked.
    pub message: String,
}

impl TomlProblem {
    /// Locates and masks `err`, which came from parsing `text`.
    pub fn new(err: &toml::de::Error, text: &str) -> Self {
        let message = mask_values(err.message());
        let parsed = toml::de::DeTable::parse(text).is_ok();
        let mut key = if parsed {
            // A type or shape problem: toml knows the keys down to the value.
            let mut keys = error_keys(err);
            if let Some(name) = named_field(err.message()) {
                keys.push(name);
            }
            keys
        } else {
            Vec::new()
        };
        let (line, column) = match err.span() {
            Some(span) => position(text, span.start),
            None => key_position(text, &key).unwrap_or((1, 1)),
        };
        if key.is_empty() {
            key = key_on_line(text, line);
        }
        Self {
            line,
            column,
            key: key.join("."),
            message,
        }
    }

    /// A problem found after parsing (a validation), at a known place.
    pub fn at(
        line: usize,
        column: usize,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            line,
            column,
            key: key.into(),
            message: message.into(),
        }
    }

    /// `origin:line:column: key: message`.
    pub fn describe(&self, origin: &str) -> String {
        if self.key.is_empty() {
            format!("{origin}:{}:{}: {}", self.line, self.column, self.message)
        } else {
            format!(
                "{origin}:{}:{}: {}: {}",
                self.line, self.column, self.key, self.message
            )
        }
    }
}

impl fmt::Display for TomlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("<toml>"))
    }
}

/// A [`crate::ErrorKind::Config`] error for a TOML parse or type error in `origin` (a file
/// name): `origin:line:column: key: message`, with toml's message and no source snippet, and
/// every value masked (an inline secret on the offending line never reaches the message).
pub fn toml_config_error(err: &toml::de::Error, origin: &str, text: &str) -> Error {
    Error::config(TomlProblem::new(err, text).describe(origin))
}

/// The keys toml recorded on the way to the value: its `Display` without the input prints
/// them as ``in `a.b.c` `` (the only public way to reach them).
fn error_keys(err: &toml::de::Error) -> Vec<String> {
    let mut bare = err.clone();
    bare.set_input(None);
    let shown = bare.to_string();
    shown
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("in `").and_then(|r| r.strip_suffix('`')))
        .map(|path| path.split('.').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The field a serde message names (`unknown field `x``, `missing field `x``): part of the key
/// path, not a value.
fn named_field(msg: &str) -> Option<String> {
    ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|p| msg.strip_prefix(p))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned)
}

/// The 1-based line and column (in characters) of byte `at` in `text`.
pub(crate) fn position(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = text.get(..at).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where a key path is written, for errors toml gives without a span: the line of its last key
/// under the deepest table header that exists.
fn key_position(text: &str, path: &[String]) -> Option<(usize, usize)> {
    let last = path.last()?;
    let mut table_start = 0;
    for split in (0..path.len()).rev() {
        let header = format!("[{}]", path.get(..split)?.join("."));
        if split == 0 {
            break;
        }
        if let Some(at) = text.find(&header) {
            table_start = at;
            break;
        }
    }
    let rest = text.get(table_start..)?;
    let mut offset = table_start;
    for l in rest.split_inclusive('\n') {
        let trimmed = l.trim_start();
        if trimmed
            .strip_prefix(last.as_str())
            .is_some_and(|r| r.trim_start().starts_with('=') || r.starts_with('.'))
        {
            return Some(position(text, offset + (l.len() - trimmed.len())));
        }
        offset += l.len();
    }
    None
}

/// The key a syntax error's line is about, read from the text: the last table header above it
/// and the key before `=` on the line (or the header itself).
fn key_on_line(text: &str, line: usize) -> Vec<String> {
    let mut table: Vec<String> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        let is_header = t.starts_with('[');
        if is_header && let Some(end) = t.rfind(']') {
            let inner = t.get(..end).unwrap_or_default().trim_start_matches('[');
            table = split_key(inner);
        }
        if i + 1 < line {
            continue;
        }
        if is_header || t.starts_with('#') {
            return table;
        }
        let mut path = table;
        if let Some((key, _)) = t.split_once('=') {
            path.extend(split_key(key));
        }
        return path;
    }
    table
}

/// A dotted TOML key as its parts, quotes removed.
fn split_key(key: &str) -> Vec<String> {
    key.split('.')
        .map(|p| p.trim().trim_matches('"').trim_matches('\'').to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// `msg` with every value it quotes masked: double-quoted strings (serde's `string "…"`) and
/// backticked values (`integer `5``, `unknown variant `x``) become `***`; backticked names of
/// fields and of what was expected stay, since they come from the schema, not the file.
pub fn mask_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    let mut expected = false;
    while let Some(i) = rest.find(['"', '`']) {
        let (before, from) = rest.split_at(i);
        out.push_str(before);
        if before.contains("expected") {
            expected = true;
        }
        let quote = if from.starts_with('"') { '"' } else { '`' };
        let body = from.get(1..).unwrap_or_default();
        // The closing quote; a backslash escapes the next character in serde's debug strings.
        let mut end = None;
        let mut escaped = false;
        for (j, c) in body.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' && quote == '"' {
                escaped = true;
            } else if c == quote {
                end = Some(j);
                break;
            }
        }
        let Some(end) = end else {
            // An unbalanced quote: drop the rest rather than risk showing a value.
            out.push(quote);
            out.push_str("***");
            return out;
        };
        let inner = body.get(..end).unwrap_or_default();
        let keep = quote == '`'
            && (expected
                || ["field ", "key "].iter().any(|w| out.ends_with(w))
                || inner.len() <= 1 && !inner.chars().any(char::is_alphanumeric));
        out.push(quote);
        out.push_str(if keep { inner } else { "***" });
        out.push(quote);
        rest = body.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Conn {
        vendor: String,
        #[serde(default)]
        timeout_secs: Option<u64>,
        #[serde(default)]
        auth: Option<Auth>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Auth {
        kind: Kind,
        #[serde(default)]
        token: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Bearer,
    }

    fn problem(text: &str) -> TomlProblem {
        let err = toml::from_str::<Conn>(text).unwrap_err();
        TomlProblem::new(&err, text)
    }

    #[test]
    fn an_unterminated_inline_secret_is_located_and_never_shown() {
        let text = "vendor = \"hubspot\"\n[auth]\nkind = \"bearer\"\ntoken = \"sk-live-SECRET\n";
        let p = problem(text);
        assert_eq!((p.line, p.key.as_str()), (4, "auth.token"), "{p:?}");
        assert!(p.column > 1, "{p:?}");
        let shown = toml_config_error(&toml::from_str::<Conn>(text).unwrap_err(), "c.toml", text);
        assert!(shown.message().starts_with("c.toml:4:"), "{shown}");
        assert!(!shown.message().contains("SECRET"), "{shown}");
        assert!(!format!("{shown:?}").contains("SECRET"), "{shown:?}");
    }

    #[test]
    fn a_wrong_type_names_the_key_and_masks_the_value() {
        let text = "vendor = \"hubspot\"\ntimeout_secs = \"abc-secret\"\n";
        let p = problem(text);
        assert_eq!((p.line, p.column), (2, 16), "{p:?}");
        assert_eq!(p.key, "timeout_secs");
        assert!(!p.message.contains("abc-secret"), "{p:?}");
        assert!(p.message.contains("expected u64"), "{p:?}");
    }

    #[test]
    fn unknown_keys_variants_and_missing_fields_are_named() {
        let p = problem("vendor = \"x\"\n[auth]\nkind = \"bearer\"\ntokn = \"s3cr3t\"\n");
        assert_eq!((p.line, p.key.as_str()), (4, "auth.tokn"), "{p:?}");
        assert!(p.message.contains("unknown field `tokn`"), "{p:?}");
        let p = problem("vendor = \"x\"\n[auth]\nkind = \"s3cr3t\"\n");
        assert_eq!((p.line, p.key.as_str()), (3, "auth.kind"), "{p:?}");
        assert!(
            !p.message.contains("s3cr3t") && p.message.contains("`bearer`"),
            "{p:?}"
        );
        let p = problem("timeout_secs = 5\n");
        assert!(p.message.contains("missing field `vendor`"), "{p:?}");
        assert_eq!(p.key, "vendor");
    }

    #[test]
    fn masking_keeps_names_and_expectations_only() {
        assert_eq!(
            mask_values("invalid type: string \"a\\\"b\", expected u64"),
            "invalid type: string \"***\", expected u64"
        );
        assert_eq!(
            mask_values("invalid value: integer `-5`, expected `a` or `b`"),
            "invalid value: integer `***`, expected `a` or `b`"
        );
        assert_eq!(mask_values("unterminated \"abc"), "unterminated \"***");
    }
}
