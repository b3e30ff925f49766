//! Hostile answers from a loopback server (issue 12, items 7 and 8): whatever a vendor echoes —
//! an email in a 422, a phone in a 400, a whole record in a 500, tokens in a broken OAuth answer
//! — neither `Display` nor `Debug` of the error shows it, and the one explicit accessor shows
//! the answer's structure with the values redacted. Plus a bounded property test of the
//! redactor.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;

use crm_core::credential::{
    CachedToken, ClientCredentialsGrant, CredentialProvider, MemoryTokenStore, OAuthClient,
    RefreshTokenGrant, StaticCredential,
};
use crm_core::raw::http::{HttpClient, HttpClientBuilder, Request};
use crm_core::redact::redact;
use crm_core::reexports::secrecy::SecretString;
use crm_core::retry::RetryPolicy;
use crm_core::{Error, ErrorKind};
use proptest::prelude::*;
use serde::Deserialize;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const EMAIL: &str = "victim.person@example.com";
const PHONE: &str = "+1 555-000-0004";
const PHONE_DIGITS: &str = "5550000004";
const NAME: &str = "Victoria Leakwell";
const ACCESS: &str = "at-LEAK-7f3a9c";
const REFRESH: &str = "rt-LEAK-0b1d2e";

/// Every personal value or secret a hostile answer below carries.
const VALUES: &[&str] = &[
    EMAIL,
    "victim.person",
    PHONE,
    PHONE_DIGITS,
    "555-000-0004",
    NAME,
    "Leakwell",
    ACCESS,
    REFRESH,
    "LEAK",
];

fn assert_private(err: &Error, case: &str) {
    let shown = format!("{err}\n{err:?}");
    for v in VALUES {
        assert!(
            !shown.contains(v),
            "{case}: `{v}` leaked through Display/Debug:\n{shown}"
        );
    }
}

/// The accessor shows what the vendor said, minus the values.
fn assert_redacted_text(err: &Error, case: &str, structure: &[&str]) -> String {
    let text = err
        .vendor_text_redacted()
        .unwrap_or_else(|| panic!("{case}: no vendor text kept: {err:?}"));
    for v in VALUES {
        assert!(
            !text.contains(v),
            "{case}: `{v}` in the redacted text:\n{text}"
        );
    }
    for s in structure {
        assert!(text.contains(s), "{case}: `{s}` missing from:\n{text}");
    }
    text
}

async fn http(server: &MockServer) -> HttpClient {
    HttpClientBuilder::new("test", format!("{}/api", server.uri()))
        .with_retry(RetryPolicy::never())
        .with_credentials(Arc::new(StaticCredential::bearer(SecretString::from(
            "tok-1",
        ))))
        .build()
        .unwrap()
}

async fn answer(status: u16, body: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(status)
                .insert_header("content-type", "application/json")
                .insert_header("x-request-id", "req-42")
                .set_body_string(body.to_owned()),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn hostile_error_answers_never_reach_display_or_debug_item7() {
    let record = format!(
        r#"{{"id":"12345","properties":{{"email":"{EMAIL}","firstname":"Victoria","lastname":"Leakwell","phone":"{PHONE}","notes":"{NAME} called from {PHONE}"}}}}"#
    );
    let cases: Vec<(&str, u16, String, Vec<&str>)> = vec![
        (
            "422 echoing an email",
            422,
            format!(
                r#"{{"status":"error","message":"Property values were not valid: email {EMAIL} is invalid","category":"VALIDATION_ERROR","errors":[{{"code":"INVALID_EMAIL","context":{{"propertyName":["email"]}},"value":"{EMAIL}"}}]}}"#
            ),
            vec![
                "\"category\":\"VALIDATION_ERROR\"",
                "INVALID_EMAIL",
                "[email]",
                "[value]",
            ],
        ),
        (
            "400 echoing a phone",
            400,
            format!(
                r#"[{{"message":"Phone: bad value {PHONE}","errorCode":"INVALID_PHONE","fields":["Phone"]}}]"#
            ),
            vec!["INVALID_PHONE", "\"fields\":[\"Phone\"]", "[phone]"],
        ),
        (
            "500 returning a whole record",
            500,
            record.clone(),
            vec![
                "\"properties\":{\"email\":\"[value]\"",
                "\"firstname\":\"[value]\"",
            ],
        ),
        (
            "502 HTML page quoting the caller",
            502,
            format!("<html><body>Bad gateway for {EMAIL} / {PHONE} Bearer {ACCESS}</body></html>"),
            vec!["Bad gateway", "[email]", "[phone]", "Bearer [secret]"],
        ),
    ];
    for (case, status, body, structure) in cases {
        let server = answer(status, &body).await;
        let err = http(&server)
            .await
            .send(Request::get("/contacts/1", "contacts.get"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status), "{case}");
        assert_private(&err, case);
        // What stays in Display: the kind, the status, the request id.
        let shown = err.to_string();
        assert!(shown.contains(&format!("HTTP {status}")), "{case}: {shown}");
        assert!(shown.contains("req-42"), "{case}: {shown}");
        assert_redacted_text(&err, case, &structure);
    }
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Contact {
    id: u64,
    email: Option<String>,
}

#[tokio::test]
async fn decode_errors_name_the_path_not_the_value_item8() {
    let cases = [
        (
            format!(r#"{{"id":"{EMAIL}","email":null}}"#),
            "field `id`: expected u64, found a string",
        ),
        (
            format!(r#"{{"id":1,"email":["{EMAIL}"]}}"#),
            "field `email`: expected a string, found an array",
        ),
        (
            format!(r#"{{"id":1,"email":{PHONE_DIGITS}}}"#),
            "field `email`: expected a string, found an integer",
        ),
    ];
    for (body, want) in cases {
        let server = answer(200, &body).await;
        let resp = http(&server)
            .await
            .send(Request::get("/contacts/1", "contacts.get"))
            .await
            .unwrap();
        let err = resp.json::<Contact>().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Decode);
        assert_eq!(err.message(), want, "{body}");
        assert_private(&err, &body);
    }
}

async fn token_error(status: u16, body: &str, refresh: bool) -> Error {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(status)
                .insert_header("content-type", "application/json")
                .set_body_string(body.to_owned()),
        )
        .mount(&server)
        .await;
    let client = OAuthClient::new(
        &format!("{}/oauth/token", server.uri()),
        "client-1",
        Some(SecretString::from("client-secret-LEAK")),
    )
    .unwrap();
    let provider: Box<dyn CredentialProvider> = if refresh {
        Box::new(CachedToken::new(RefreshTokenGrant::new(
            client,
            Some(SecretString::from("rt-initial-LEAK")),
            Arc::new(MemoryTokenStore::default()),
        )))
    } else {
        Box::new(CachedToken::new(
            ClientCredentialsGrant::new(client).unwrap(),
        ))
    };
    provider.credential().await.unwrap_err()
}

#[tokio::test]
async fn malformed_oauth_answers_keep_tokens_out_of_errors_item7() {
    let cases = [
        // A 200 cut short.
        (
            "truncated token answer",
            200,
            format!(r#"{{"access_token":"{ACCESS}","refresh_token":"{REFRESH}","expires_in":18"#),
        ),
        // A 200 with a wrong type next to the tokens.
        (
            "wrong-typed token answer",
            200,
            format!(
                r#"{{"access_token":"{ACCESS}","refresh_token":"{REFRESH}","expires_in":"{REFRESH}"}}"#
            ),
        ),
        // A 200 that is not JSON at all.
        (
            "form-encoded token answer",
            200,
            format!("access_token={ACCESS}&refresh_token={REFRESH}&expires_in=1800"),
        ),
        // An error whose description repeats the refresh token.
        (
            "invalid_grant echoing the token",
            400,
            format!(
                r#"{{"error":"invalid_grant","error_description":"refresh token {REFRESH} is revoked"}}"#
            ),
        ),
    ];
    for (case, status, body) in cases {
        for refresh in [false, true] {
            let err = token_error(status, &body, refresh).await;
            assert_private(&err, case);
            let shown = format!("{err}{err:?}");
            assert!(!shown.contains("client-secret"), "{case}: {shown}");
            assert!(!shown.contains("rt-initial"), "{case}: {shown}");
            let text = assert_redacted_text(&err, case, &[]);
            if body.starts_with('{') {
                assert!(
                    text.contains("access_token") || text.contains("error"),
                    "{text}"
                );
            }
        }
    }
}

/// The keys whose words describe the error and are kept (redacted by pattern only).
const DESCRIBE_ERROR: &[&str] = &[
    "message",
    "messages",
    "error",
    "errors",
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
    "errorcode",
    "errortype",
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
    "errormessage",
];

// --- the redactor, property-tested (bounded: 256 cases per property) ----------------------

fn email() -> impl Strategy<Value = String> {
    ("[a-z][a-z0-9._+-]{0,15}", "[a-z0-9-]{1,12}", "[a-z]{2,6}")
        .prop_map(|(local, host, tld)| format!("{local}@{host}.{tld}"))
}

fn phone() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("+1 "), Just("+44 "), Just(""), Just("(")],
        "[2-9][0-9]{2}",
        prop_oneof![Just(" "), Just("-"), Just(". "), Just(") ")],
        "[0-9]{3}",
        prop_oneof![Just(" "), Just("-"), Just(".")],
        "[0-9]{4}",
    )
        .prop_map(|(a, b, c, d, e, f)| format!("{a}{b}{c}{d}{e}{f}"))
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        // JWT-like.
        (
            "[A-Za-z0-9_-]{10,30}",
            "[A-Za-z0-9_-]{10,30}",
            "[A-Za-z0-9_-]{10,40}"
        )
            .prop_map(|(a, b, c)| format!("eyJ{a}.{b}.{c}")),
        // Long base64-ish with at least one digit and one letter.
        ("[A-Za-z0-9+=_-]{22,60}").prop_map(|s| format!("a1{s}")),
    ]
}

/// Free text around the value, never glued to it (a word, a sentence, JSON punctuation).
fn surroundings() -> impl Strategy<Value = (String, String)> {
    let side = prop_oneof![
        Just(String::new()),
        "[A-Za-z ]{0,20} ".prop_map(|s| s),
        Just("\"".to_owned()),
        Just("(".to_owned()),
        Just("value: ".to_owned()),
    ];
    let end = prop_oneof![
        Just(String::new()),
        " [A-Za-z ]{0,20}".prop_map(|s| s),
        Just("\"".to_owned()),
        Just(")".to_owned()),
        Just(", next".to_owned()),
        Just(".".to_owned()),
    ];
    (side, end)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn redact_removes_emails(e in email(), (pre, post) in surroundings()) {
        let out = redact(&format!("{pre}{e}{post}"));
        prop_assert!(!out.contains(&e), "{} -> {}", e, out);
        prop_assert!(!out.contains('@'), "{}", out);
    }

    #[test]
    fn redact_removes_phones(p in phone(), (pre, post) in surroundings()) {
        let out = redact(&format!("{pre}{p}{post}"));
        let digits: String = p.chars().filter(char::is_ascii_digit).collect();
        let kept: String = out.chars().filter(char::is_ascii_digit).collect();
        prop_assert!(!kept.contains(&digits[digits.len() - 7..]), "{} -> {}", p, out);
    }

    #[test]
    fn redact_removes_tokens(t in token(), (pre, post) in surroundings()) {
        let out = redact(&format!("{pre}{t}{post}"));
        prop_assert!(!out.contains(&t), "{} -> {}", t, out);
    }

    #[test]
    fn redact_removes_secret_values(
        key in prop_oneof![
            Just("access_token"), Just("refresh_token"), Just("client_secret"),
            Just("password"), Just("api_key"), Just("Authorization"), Just("sessionId"),
        ],
        value in "[A-Za-z0-9]{4,30}",
        json in any::<bool>(),
    ) {
        let text = if json {
            format!(r#"{{"{key}": "{value}", "ok": true}}"#)
        } else {
            format!("error for {key}={value}&x=1")
        };
        let out = redact(&text);
        prop_assert!(!out.contains(&value), "{} -> {}", text, out);
        prop_assert!(out.contains(key), "{} -> {}", text, out);
    }

    /// Well-formed JSON stays well-formed, with the same keys, and keeps no string value
    /// outside the error-describing keys.
    #[test]
    fn redact_keeps_json_structure(
        map in proptest::collection::btree_map("[a-z]{1,10}", "[ -~]{0,30}", 0..8),
        n in any::<i64>(),
    ) {
        let mut obj = serde_json::Map::new();
        for (k, v) in &map {
            obj.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        obj.insert("count".into(), serde_json::Value::from(n));
        let text = serde_json::Value::Object(obj).to_string();
        let out = redact(&text);
        let back: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| TestCaseError::fail(format!("{e}: {text} -> {out}")))?;
        let back = back.as_object().unwrap();
        let mut want: Vec<&str> = map.keys().map(String::as_str).collect();
        want.push("count");
        want.sort_unstable();
        want.dedup();
        prop_assert_eq!(back.keys().map(String::as_str).collect::<Vec<_>>(), want);
        for (k, v) in back {
            let hidden = v == "[value]" || v == "[secret]";
            prop_assert!(hidden || DESCRIBE_ERROR.contains(&k.as_str()), "{}: {}", k, out);
        }
    }

    /// Never panics, whatever the bytes (truncated JSON, escapes, odd Unicode).
    #[test]
    fn redact_never_panics(s in "\\PC{0,200}", cut in "[\"{}\\[\\],:\\\\@%+0-9 ]{0,40}") {
        let _ = redact(&s);
        let _ = redact(&format!("{cut}{s}{cut}"));
    }

    /// Plain prose (letters, spaces, short numbers) passes unchanged: the redactor does not
    /// eat the words an operator needs.
    #[test]
    fn redact_leaves_plain_prose(words in proptest::collection::vec("[A-Za-z]{1,12}|[0-9]{1,3}", 0..20)) {
        let text = words.join(" ");
        // A run of numbers separated only by spaces can read as a phone number; keep one per text.
        prop_assume!(text.chars().filter(char::is_ascii_digit).count() < 7);
        prop_assert_eq!(redact(&text), text);
    }
}
