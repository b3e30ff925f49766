//! Pipedrive's error answers echo what was sent: a 400 repeats the submitted email or phone in
//! `error` (`Validation failed: emails: '…' is not valid`), a 401 may quote the token it
//! refused, a 500 may return the record. Through the adapter none of it reaches `Display` or
//! `Debug` of the error, and [`crm_core::Error::vendor_text_redacted`] hands it out redacted,
//! while the kind, the status, the field and Pipedrive's own words stay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_core::reexports::serde_json::json;
use crm_core::retry::RetryPolicy;
use crm_core::{Contact, Crm, Email, ErrorKind, FieldError, RecordId, WriteContext};
use crm_pipedrive::{Pipedrive, PipedriveBuilder};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const EMAIL: &str = "victim.person@example.com";
const PHONE: &str = "+1 555-000-0004";
const NAME: &str = "Leakwell";
/// A personal API token: 40 characters, letters and digits.
const TOKEN: &str = "d0n0tl0g5ecret0123456789abcdef0123456789";
const VALUES: &[&str] = &[
    EMAIL,
    "victim.person",
    PHONE,
    "5550000004",
    "555-000-0004",
    NAME,
    TOKEN,
];
const INFO: &str =
    "Please check developers.pipedrive.com for more information about Pipedrive API.";

fn connect(server: &MockServer) -> Pipedrive {
    PipedriveBuilder::new()
        .with_setting("base_url", &server.uri())
        .unwrap()
        .with_setting("api_token", TOKEN)
        .unwrap()
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap()
}

fn envelope(error: &str) -> String {
    json!({"success": false, "error": error, "error_info": INFO, "data": null,
           "additional_data": null})
    .to_string()
}

/// One answer, the kind it must give, and a word of Pipedrive's that must survive.
struct Case {
    status: u16,
    body: String,
    kind: ErrorKind,
    kept: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            status: 400,
            body: envelope(&format!(
                "Validation failed: emails: '{EMAIL}' is not a valid email address"
            )),
            kind: ErrorKind::Validation {
                fields: vec![FieldError::new("email", None)],
            },
            kept: "Validation failed: emails",
        },
        Case {
            status: 400,
            body: envelope(&format!(
                "Validation failed: phones: {PHONE} of {NAME} is not a phone number"
            )),
            kind: ErrorKind::Validation {
                fields: vec![FieldError::new("phone", None)],
            },
            kept: "Validation failed: phones",
        },
        Case {
            status: 401,
            body: json!({"success": false,
                         "error": format!("unauthorized access: api_token={TOKEN} is not valid"),
                         "errorCode": 401, "error_info": INFO})
            .to_string(),
            kind: ErrorKind::Unauthorized,
            kept: "unauthorized access",
        },
        Case {
            status: 401,
            body: envelope(&format!("the token {TOKEN} was revoked")),
            kind: ErrorKind::Unauthorized,
            kept: "was revoked",
        },
        Case {
            status: 500,
            body: json!({"success": false, "error": "Internal server error",
                         "data": {"id": 51, "name": NAME, "emails": [{"value": EMAIL}],
                                  "phones": [{"value": PHONE}]}})
            .to_string(),
            kind: ErrorKind::Unavailable,
            kept: "Internal server error",
        },
        Case {
            // Not JSON: the start of the body is all there is.
            status: 502,
            body: format!("<html><body>upstream echoed {EMAIL} / {PHONE} / {TOKEN}</body></html>"),
            kind: ErrorKind::Unavailable,
            kept: "upstream echoed",
        },
    ]
}

fn assert_private(err: &crm_core::Error, case: &Case) {
    let status = case.status;
    let shown = format!("{err}\n{err:?}");
    for v in VALUES {
        assert!(!shown.contains(v), "HTTP {status}: `{v}` leaked:\n{shown}");
    }
    assert_eq!(err.kind(), &case.kind, "HTTP {status}: {shown}");
    assert_eq!(err.status(), Some(status), "{shown}");
    // Emails, phones and tokens go everywhere; a name goes where it is a JSON value (the 500's
    // record), not from free text, where nothing marks it as a name.
    let text = err.vendor_text_redacted().unwrap_or_default();
    for v in VALUES.iter().filter(|v| status == 500 || **v != NAME) {
        assert!(!text.contains(v), "HTTP {status}: `{v}` in {text}");
    }
    assert!(
        text.contains(case.kept),
        "HTTP {status}: `{}` missing from {text}",
        case.kept
    );
}

#[tokio::test]
async fn pipedrive_errors_on_a_read_never_show_echoed_values_or_the_token() {
    for case in cases() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(case.status).set_body_raw(
                case.body.clone(),
                if case.status == 502 {
                    "text/html"
                } else {
                    "application/json"
                },
            ))
            .expect(1)
            .mount(&server)
            .await;
        let err = connect(&server)
            .contacts()
            .get(&RecordId::new("51").unwrap())
            .await
            .unwrap_err();
        assert_private(&err, &case);
        assert_eq!(err.operation(), Some("contact.get"));
    }
}

/// The usual way an email comes back: the create that submitted it is refused, naming it.
#[tokio::test]
async fn a_refused_create_never_shows_the_submitted_email() {
    let case = cases().remove(0);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_raw(case.body.clone(), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let contact = Contact {
        email: Some(Email::parse(EMAIL).unwrap()),
        last_name: Some(NAME.into()),
        ..Contact::default()
    };
    let err = connect(&server)
        .contacts()
        .create(&contact, &WriteContext::default())
        .await
        .unwrap_err();
    assert_private(&err, &case);
    assert_eq!(err.operation(), Some("contact.create"));
    assert!(err.message().contains("`email`"), "{err}");
}
