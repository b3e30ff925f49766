//! The one redactor for vendor text: what a CRM said about a failed call, made safe to log.
//!
//! CRMs echo what they were sent. A 422 repeats the rejected email address, a 500 may return the
//! whole record, a broken OAuth answer may carry a `refresh_token`. Errors therefore never print
//! vendor text in `Display` or `Debug`; an operator who needs it asks on purpose
//! ([`crate::VendorError::redacted_message`], [`crate::VendorError::redacted_body`],
//! [`crate::Error::vendor_text_redacted`]) and gets it through [`redact`].
//!
//! What [`redact`] removes:
//! - **JSON values by key.** Every string or number in a JSON object is replaced by `[value]`
//!   unless its key describes the error (`message`, `error`, `code`, `category`, `status`,
//!   `fields`, `propertyName`, `correlationId`...): the structure and the error's own words
//!   stay, a record's contents go. Values under secret-looking keys (`*token*`, `*secret*`,
//!   `password`, `authorization`, `cookie`, `session*`, `signature`...) become `[secret]`.
//!   This works on truncated or broken JSON too, because it scans rather than parses.
//! - **Patterns in free text** (the words kept above, and any non-JSON body such as an HTML
//!   page): `key=value` / `key: value` pairs with a secret-looking key, `Bearer …` and
//!   `Basic …` credentials, anything around an `@` (emails, also `%40` and `\u0040`, also
//!   malformed ones such as `jane@@x`, which validation errors echo most often), long
//!   token-like runs (20+ characters mixing letters and digits: JWTs, session ids, API keys,
//!   UUIDs) and phone-like digit runs (7+ digits with spaces, dots, dashes or brackets).
//!
//! What it cannot remove: a person's name inside free text ("Contact Jane Doe already exists")
//! does not look like anything. Names inside JSON values are removed by the key rule.
//!
//! It over-redacts on purpose: a long record id or a timestamp in milliseconds reads as a phone
//! number. The typed parts of an error (kind, vendor code, field names, ids, correlation id)
//! are kept separately and never need this text.

/// Replaces a value of a JSON key that does not describe the error.
const VALUE: &str = "[value]";
/// Replaces a secret (a token, a password, a credential).
const SECRET: &str = "[secret]";
/// Replaces an email address.
const EMAIL: &str = "[email]";
/// Replaces a token-like run.
const TOKEN: &str = "[token]";
/// Replaces a phone-like digit run.
const PHONE: &str = "[phone]";

/// Redacts vendor text (a message, a response body, JSON or not): see the module docs for what
/// goes. Never fails and never panics, whatever the input.
pub fn redact(text: &str) -> String {
    redact_depth(text, 0)
}

/// How deep JSON inside JSON strings is followed (HubSpot puts a JSON list inside `message`).
const MAX_DEPTH: usize = 4;

fn redact_depth(text: &str, depth: usize) -> String {
    let chars: Vec<char> = normalise_at(text).chars().collect();
    let mut out = String::with_capacity(text.len());
    // One frame per open `{` / `[`, plus the root; each holds the key its values belong to.
    let mut frames: Vec<Frame> = vec![Frame {
        array: false,
        key: None,
    }];
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '"' => {
                let (literal, end) = string_literal(&chars, i);
                let next = skip_ws(&chars, end);
                if chars.get(next) == Some(&':') {
                    // A key: keep its name (unless it looks like a value itself).
                    out.push('"');
                    out.push_str(&patterns(&literal.raw));
                    if literal.closed {
                        out.push('"');
                    }
                    if let Some(top) = frames.last_mut() {
                        top.key = Some(normalise_key(&literal.raw));
                    }
                } else {
                    let key = frames.last().and_then(|f| f.key.clone());
                    push_string_value(&mut out, &literal, key.as_deref(), depth);
                }
                i = end;
            }
            '{' | '[' => {
                let key = if c == '[' {
                    frames.last().and_then(|f| f.key.clone())
                } else {
                    None
                };
                frames.push(Frame {
                    array: c == '[',
                    key,
                });
                out.push(c);
                i += 1;
            }
            '}' | ']' => {
                if frames.len() > 1 {
                    frames.pop();
                }
                out.push(c);
                i += 1;
            }
            ',' => {
                if let Some(top) = frames.last_mut()
                    && !top.array
                {
                    top.key = None;
                }
                out.push(c);
                i += 1;
            }
            _ => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| !matches!(c, '"' | '{' | '}' | '[' | ']' | ','))
                {
                    i += 1;
                }
                let chunk: String = chars.get(start..i).unwrap_or_default().iter().collect();
                let key = frames.last().and_then(|f| f.key.clone());
                push_bare(&mut out, &chunk, key.as_deref());
            }
        }
    }
    out
}

struct Frame {
    array: bool,
    key: Option<String>,
}

struct Literal {
    /// The characters between the quotes, escapes as written.
    raw: String,
    /// Whether the closing quote was there (a truncated body may cut a string).
    closed: bool,
}

/// The string literal starting at the quote at `start`, and the index after it.
fn string_literal(chars: &[char], start: usize) -> (Literal, usize) {
    let mut raw = String::new();
    let mut i = start + 1;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => {
                raw.push(c);
                if let Some(&n) = chars.get(i + 1) {
                    raw.push(n);
                }
                i += 2;
            }
            '"' => return (Literal { raw, closed: true }, i + 1),
            _ => {
                raw.push(c);
                i += 1;
            }
        }
    }
    (Literal { raw, closed: false }, chars.len())
}

fn skip_ws(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// `refresh_token`, `refreshToken` and `Refresh-Token` all become `refreshtoken`.
fn normalise_key(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a (normalised) key names a secret.
fn is_secret_key(key: &str) -> bool {
    const PARTS: &[&str] = &[
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "authorization",
        "cookie",
        "session",
        "credential",
        "privatekey",
        "signature",
        "assertion",
        "bearer",
    ];
    PARTS.iter().any(|p| key.contains(p))
}

/// Whether a (normalised) key holds words about the error rather than a record's values.
fn describes_error(key: &str) -> bool {
    const KEYS: &[&str] = &[
        "message",
        "messages",
        "error",
        "errors",
        "errordescription",
        "errormessage",
        "errorcode",
        "errortype",
        "detail",
        "details",
        "title",
        "description",
        "reason",
        "category",
        "subcategory",
        "code",
        "status",
        "statuscode",
        "policyname",
        "correlationid",
        "requestid",
        "traceid",
        "propertyname",
        "fields",
        "field",
        "in",
        "type",
        "severity",
    ];
    KEYS.contains(&key)
}

enum Policy {
    Secret,
    Keep,
    Value,
}

fn policy(key: Option<&str>) -> Policy {
    match key {
        Some(k) if is_secret_key(k) => Policy::Secret,
        Some(k) if !describes_error(k) => Policy::Value,
        _ => Policy::Keep,
    }
}

fn push_string_value(out: &mut String, literal: &Literal, key: Option<&str>, depth: usize) {
    out.push('"');
    match policy(key) {
        Policy::Secret => out.push_str(SECRET),
        Policy::Value => out.push_str(VALUE),
        Policy::Keep => {
            let decoded: Option<String> = literal
                .closed
                .then(|| serde_json::from_str(&format!("\"{}\"", literal.raw)).ok())
                .flatten();
            match decoded {
                Some(text) => {
                    let clean = if depth < MAX_DEPTH {
                        redact_depth(&text, depth + 1)
                    } else {
                        patterns(&text)
                    };
                    let encoded = serde_json::to_string(&clean).unwrap_or_default();
                    // `encoded` is the string with its quotes; ours are written around it.
                    let inner = encoded
                        .strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'))
                        .unwrap_or_default();
                    out.push_str(inner);
                }
                // A truncated or broken literal: redact it as written, escapes and all.
                None => out.push_str(&patterns(&literal.raw)),
            }
        }
    }
    if literal.closed {
        out.push('"');
    }
}

/// Text between JSON strings and brackets: `: 5550100`, `: true`, or plain prose.
fn push_bare(out: &mut String, chunk: &str, key: Option<&str>) {
    let after_colon = chunk.trim_start().strip_prefix(':');
    let value = after_colon.map(str::trim).unwrap_or_else(|| chunk.trim());
    let is_number = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        && value.chars().any(|c| c.is_ascii_digit());
    if !is_number {
        out.push_str(&patterns(chunk));
        return;
    }
    let replacement = match policy(key) {
        Policy::Secret => Some(SECRET.to_owned()),
        Policy::Value if key.is_some() => Some(VALUE.to_owned()),
        _ => {
            let clean = patterns(value);
            (clean != value).then_some(clean)
        }
    };
    match replacement {
        None => out.push_str(chunk),
        Some(r) => {
            // Keep the layout around the number; write the marker as a JSON string so a
            // well-formed body stays well-formed.
            let at = chunk.find(value).unwrap_or(0);
            out.push_str(chunk.get(..at).unwrap_or_default());
            out.push('"');
            out.push_str(&r);
            out.push('"');
            out.push_str(chunk.get(at + value.len()..).unwrap_or_default());
        }
    }
}

/// `%40` and `\u0040` are an `@` in disguise (a URL query, an escaped JSON string).
fn normalise_at(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(['%', '\\']) {
        out.push_str(rest.get(..pos).unwrap_or_default());
        let tail = rest.get(pos..).unwrap_or_default();
        if tail.get(..3).is_some_and(|s| s == "%40") {
            out.push('@');
            rest = tail.get(3..).unwrap_or_default();
        } else if tail
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("\\u0040"))
        {
            out.push('@');
            rest = tail.get(6..).unwrap_or_default();
        } else {
            let mut cs = tail.chars();
            if let Some(c) = cs.next() {
                out.push(c);
            }
            rest = cs.as_str();
        }
    }
    out.push_str(rest);
    out
}

/// The free-text rules, in order: secret assignments and auth schemes, emails, tokens, phones.
pub(crate) fn patterns(text: &str) -> String {
    let text = normalise_at(text);
    let text = secrets(&text);
    let text = emails(&text);
    let text = tokens(&text);
    phones(&text)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `refresh_token=…`, `"password": "…"`, `Authorization: …`, `Bearer …`, `Basic …`.
fn secrets(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(c) = at(i) {
        let word_start = is_word(c) && !i.checked_sub(1).and_then(at).is_some_and(is_word);
        if !word_start {
            out.push(c);
            i += 1;
            continue;
        }
        let mut end = i;
        while at(end).is_some_and(|c| is_word(c) || c == '-') {
            end += 1;
        }
        let word: String = chars.get(i..end).unwrap_or_default().iter().collect();
        let lower = word.to_lowercase();
        out.push_str(&word);
        // An auth scheme and its credential.
        if lower == "bearer" || lower == "basic" {
            let mut j = end;
            while at(j).is_some_and(char::is_whitespace) {
                j += 1;
            }
            let mut k = j;
            while at(k).is_some_and(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c)) {
                k += 1;
            }
            // `basic` is also an English word: only a credential-looking run counts.
            let long_enough = if lower == "basic" { k - j >= 8 } else { k > j };
            if j > end && long_enough {
                out.extend(chars.get(end..j).unwrap_or_default());
                out.push_str(SECRET);
                i = k;
                continue;
            }
        }
        if is_secret_key(&normalise_key(&word)) {
            if let Some((value_start, value_end)) = assigned_value(&chars, end) {
                out.extend(chars.get(end..value_start).unwrap_or_default());
                out.push_str(SECRET);
                i = value_end;
                continue;
            }
            // Prose naming the secret: `refresh token rt-1x2y3z is revoked`. The next word is
            // taken when it looks like a credential (6+ token characters with a digit), so
            // `token has expired` stays.
            let mut j = end;
            while at(j).is_some_and(|c| c == ' ' || c == '\t') {
                j += 1;
            }
            let mut k = j;
            while at(k).is_some_and(in_token) {
                k += 1;
            }
            let next = chars.get(j..k).unwrap_or_default();
            if j > end && next.len() >= 6 && next.iter().any(char::is_ascii_digit) {
                out.extend(chars.get(end..j).unwrap_or_default());
                out.push_str(SECRET);
                i = k;
                continue;
            }
        }
        i = end;
    }
    out
}

/// After a key ending at `i`: `":"`, `=`, `: "…"`, `\":\"…\"`. Returns where the value starts and
/// ends, or `None` when no value is assigned here.
fn assigned_value(chars: &[char], mut i: usize) -> Option<(usize, usize)> {
    let at = |i: usize| chars.get(i).copied();
    // A closing quote of a quoted key, possibly escaped.
    if at(i) == Some('\\') && matches!(at(i + 1), Some('"' | '\'')) {
        i += 2;
    } else if matches!(at(i), Some('"' | '\'')) {
        i += 1;
    }
    while at(i).is_some_and(|c| c == ' ' || c == '\t') {
        i += 1;
    }
    if !matches!(at(i), Some(':' | '=')) {
        return None;
    }
    i += 1;
    while at(i).is_some_and(|c| c == ' ' || c == '\t') {
        i += 1;
    }
    let (start, close): (usize, Option<&[char]>) = match (at(i), at(i + 1)) {
        (Some('\\'), Some('"')) => (i + 2, Some(&['\\', '"'])),
        (Some('"'), _) => (i + 1, Some(&['"'])),
        (Some('\''), _) => (i + 1, Some(&['\''])),
        _ => (i, None),
    };
    let mut end = start;
    match close {
        Some(close) => {
            while end < chars.len() && !chars.get(end..).is_some_and(|s| s.starts_with(close)) {
                end += 1;
            }
        }
        None => {
            let run_end = |mut end: usize| {
                while at(end).is_some_and(|c| {
                    !c.is_whitespace()
                        && !matches!(c, '&' | ',' | ';' | '}' | ']' | ')' | '<' | '"' | '\\')
                }) {
                    end += 1;
                }
                end
            };
            end = run_end(start);
            // `Authorization: Bearer abc`: the scheme and the credential after it.
            let first: String = chars.get(start..end).unwrap_or_default().iter().collect();
            if matches!(
                first.to_lowercase().as_str(),
                "bearer" | "basic" | "token" | "oauth" | "digest"
            ) {
                let mut next = end;
                while at(next).is_some_and(|c| c == ' ' || c == '\t') {
                    next += 1;
                }
                if next > end {
                    end = run_end(next);
                }
            }
        }
    }
    (end > start).then_some((start, end))
}

/// Characters that end an email-like word.
fn ends_email(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\''
                | '`'
                | '<'
                | '>'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | ','
                | ';'
                | ':'
                | '='
                | '&'
                | '|'
                | '\\'
                | '/'
                | '?'
                | '#'
        )
}

/// Anything around an `@`: `jane@example.com`, but also `jane@@x` and `@example.com`.
fn emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c != '@' {
            out.push(c);
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0 && chars.get(start - 1).is_some_and(|&c| !ends_email(c)) {
            start -= 1;
        }
        let mut end = i + 1;
        while chars.get(end).is_some_and(|&c| !ends_email(c)) {
            end += 1;
        }
        if start == i && end == i + 1 {
            // A lone `@` between separators.
            out.push(c);
            i += 1;
            continue;
        }
        // Take back what was already written of the local part.
        for _ in start..i {
            out.pop();
        }
        out.push_str(EMAIL);
        i = end;
    }
    out
}

fn in_token(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '=' | '~' | '!')
}

/// Runs of 20+ token characters (a trailing full stop or dash not counted) that mix letters
/// and digits: JWTs, session ids, API keys,
/// UUIDs. Identifiers without digits (`INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY`) stay.
fn tokens(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if !in_token(c) {
            out.push(c);
            i += 1;
            continue;
        }
        let mut end = i;
        while chars.get(end).is_some_and(|&c| in_token(c)) {
            end += 1;
        }
        let run = chars.get(i..end).unwrap_or_default();
        // A sentence's full stop is not part of the token.
        let core_len = run.len()
            - run
                .iter()
                .rev()
                .take_while(|c| matches!(c, '.' | '-'))
                .count();
        let core = run.get(..core_len).unwrap_or_default();
        let looks_like_token = core.len() >= 20
            && core.iter().any(char::is_ascii_digit)
            && core.iter().any(char::is_ascii_alphabetic);
        if looks_like_token {
            out.push_str(TOKEN);
            out.extend(run.get(core_len..).unwrap_or_default());
        } else {
            out.extend(run);
        }
        i = end;
    }
    out
}

/// 7+ digits, optionally with a leading `+` and spaces, dots, dashes or brackets between them:
/// `+1 (555) 000-0004`, `07700 900123`, `5550100123`. An ISO date (`2024-01-15`) is not one.
fn phones(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(c) = at(i) {
        let starts = c.is_ascii_digit()
            || (matches!(c, '+' | '(') && at(i + 1).is_some_and(|n| n.is_ascii_digit()));
        // Not in the middle of a word or an identifier (`a456`, `x_123`, `v1.2`).
        let after_word = i
            .checked_sub(1)
            .and_then(at)
            .is_some_and(|p| p.is_alphanumeric() || matches!(p, '_' | '-' | '.' | '/'));
        if !starts || after_word {
            out.push(c);
            i += 1;
            continue;
        }
        if is_iso_date(&chars, i) {
            out.extend(chars.get(i..i + 10).unwrap_or_default());
            i += 10;
            continue;
        }
        let mut end = i + 1;
        while at(end)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            end += 1;
        }
        // Trailing separators belong to the sentence.
        while end > i && at(end - 1).is_some_and(|c| !c.is_ascii_digit() && c != ')') {
            end -= 1;
        }
        let run = chars.get(i..end).unwrap_or_default();
        let digits = run.iter().filter(|c| c.is_ascii_digit()).count();
        if digits >= 7 {
            out.push_str(PHONE);
        } else {
            out.extend(run);
        }
        i = end.max(i + 1);
    }
    out
}

fn is_iso_date(chars: &[char], i: usize) -> bool {
    let Some(s) = chars.get(i..i + 10) else {
        return false;
    };
    s.iter().enumerate().all(|(k, c)| match k {
        4 | 7 => *c == '-',
        _ => c.is_ascii_digit(),
    }) && !chars.get(i + 10).is_some_and(char::is_ascii_digit)
}

/// An identifier as sent by a vendor (a correlation id, a request id), shown only when it looks
/// like one: at most 128 characters from `A-Z a-z 0-9 . _ : / + = -`. Anything else is
/// replaced, so a hostile header or body cannot push a value through it.
pub(crate) fn identifier(id: &str) -> &str {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/+=-".contains(c));
    if ok { id } else { "[redacted]" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_in_all_their_disguises() {
        for text in [
            "jane.doe@example.com",
            "JANE@EXAMPLE.COM",
            "jane@@x",
            "jane%40example.com",
            "jane\\u0040example.com",
            "mailto:jane+tag@example.co.uk",
        ] {
            let out = redact(text);
            assert!(!out.to_lowercase().contains("jane"), "{text} -> {out}");
            assert!(out.contains(EMAIL), "{text} -> {out}");
        }
        assert_eq!(redact("a @ b"), "a @ b");
    }

    #[test]
    fn phones_dates_and_small_numbers() {
        for text in [
            "+1 555-000-0004",
            "(415) 555-0100",
            "07700 900123",
            "call 4155550100 now",
        ] {
            let out = redact(text);
            assert!(out.contains(PHONE), "{text} -> {out}");
            assert!(!out.contains("555") && !out.contains("900123"), "{out}");
        }
        assert_eq!(redact("HTTP 422 on 2024-01-15"), "HTTP 422 on 2024-01-15");
        assert_eq!(redact("limit 100 per 10 s"), "limit 100 per 10 s");
    }

    #[test]
    fn secrets_and_tokens() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        for (text, secret) in [
            ("refresh_token=abc123def&x=1", "abc123def"),
            ("{\"refresh_token\": \"r-1\", \"x\":1", "r-1"),
            ("\\\"client_secret\\\":\\\"s3cr\\\"", "s3cr"),
            ("Authorization: Bearer abc.def", "abc.def"),
            ("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw"),
            ("password: hunter2", "hunter2"),
            ("refresh token rt-1x2y3z is revoked", "rt-1x2y3z"),
            (jwt, "eyJ"),
            ("00D5g000004Fxyz!AQ4AQBcdefGHIJKlmnop.qrstuv", "AQ4AQ"),
        ] {
            let out = redact(text);
            assert!(!out.contains(secret), "{text} -> {out}");
        }
        for plain in [
            "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
            "the refresh token has expired",
            "Session expired or invalid",
        ] {
            assert_eq!(redact(plain), plain);
        }
    }

    #[test]
    fn json_keeps_structure_and_error_words() {
        let body = r#"{"status":"error","message":"Email jane@x.com is invalid","category":"VALIDATION_ERROR","correlationId":"c-1","properties":{"firstname":"Jane","phone":"+1 555 000 0004","score":42},"errors":[{"code":"INVALID_EMAIL","context":{"propertyName":["email"]}}]}"#;
        let out = redact(body);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["status"], "error");
        assert_eq!(v["message"], "Email [email] is invalid");
        assert_eq!(v["category"], "VALIDATION_ERROR");
        assert_eq!(v["properties"]["firstname"], VALUE);
        assert_eq!(v["properties"]["phone"], VALUE);
        assert_eq!(v["properties"]["score"], VALUE);
        assert_eq!(v["errors"][0]["code"], "INVALID_EMAIL");
        assert_eq!(v["errors"][0]["context"]["propertyName"][0], "email");
    }

    #[test]
    fn json_inside_a_message_is_followed() {
        let body = r#"{"message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Email address jane@x.com is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"Jane Doe\"}]"}"#;
        let out = redact(body);
        assert!(!out.contains("jane") && !out.contains("Jane"), "{out}");
        assert!(out.contains("INVALID_EMAIL"), "{out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }

    #[test]
    fn truncated_json_still_hides_secrets() {
        let out = redact(r#"{"access_token":"at-1","refresh_token":"rt-secret-value"#);
        assert!(!out.contains("at-1") && !out.contains("rt-secret"), "{out}");
        assert!(out.contains("refresh_token"), "{out}");
    }

    #[test]
    fn identifiers_are_shown_only_when_they_look_like_one() {
        assert_eq!(identifier("aeb3f0b2-1f2e-4c7d"), "aeb3f0b2-1f2e-4c7d");
        assert_eq!(identifier("jane@example.com"), "[redacted]");
        assert_eq!(identifier("a b"), "[redacted]");
    }
}
