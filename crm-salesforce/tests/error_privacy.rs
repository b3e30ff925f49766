//! Salesforce's error arrays echo what was sent (issue 12, item 7): through the adapter, an
//! email or a phone in the message, a record in a 500, never reach `Display` or `Debug`, while
//! the code and the field names do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_core::reexports::secrecy::SecretString;
use crm_core::retry::RetryPolicy;
use crm_core::{Crm, RecordId};
use crm_salesforce::SalesforceBuilder;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const EMAIL: &str = "victim.person@example.com";
const PHONE: &str = "+1 555-000-0004";
const NAME: &str = "Leakwell";
const VALUES: &[&str] = &[
    EMAIL,
    "victim.person",
    PHONE,
    "5550000004",
    "555-000-0004",
    NAME,
];

#[tokio::test]
async fn salesforce_errors_never_show_echoed_values_item7() {
    let cases = [
        (
            400,
            format!(
                r#"[{{"message":"Email: invalid email address: {EMAIL}","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]}}]"#
            ),
            "INVALID_EMAIL_ADDRESS",
        ),
        (
            400,
            format!(
                r#"[{{"message":"{NAME}: phone {PHONE} fails the rule","errorCode":"FIELD_CUSTOM_VALIDATION_EXCEPTION","fields":["Phone"]}}]"#
            ),
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        ),
        (
            500,
            format!(
                r#"{{"attributes":{{"type":"Contact"}},"Email":"{EMAIL}","LastName":"{NAME}","Phone":"{PHONE}"}}"#
            ),
            "attributes",
        ),
    ];
    for (status, body, kept) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("content-type", "application/json")
                    .set_body_string(body.clone()),
            )
            .mount(&server)
            .await;
        let crm = SalesforceBuilder::new()
            .with_access_token(SecretString::from("00Dx!token"), server.uri())
            .with_retry(RetryPolicy::never())
            .build()
            .unwrap();
        let err = crm
            .contacts()
            .get(&RecordId::new("003000000000001AAA").unwrap())
            .await
            .unwrap_err();
        let shown = format!("{err}\n{err:?}");
        for v in VALUES {
            assert!(!shown.contains(v), "HTTP {status}: `{v}` leaked:\n{shown}");
        }
        assert!(shown.contains(&format!("HTTP {status}")), "{shown}");
        // The accessor: emails and phones go everywhere; a name goes when it is a JSON value
        // (the 500's record), not from free text, which the redactor cannot read for names.
        let text = err.vendor_text_redacted().unwrap_or_default();
        for v in VALUES.iter().filter(|v| status == 500 || **v != NAME) {
            assert!(!text.contains(v), "HTTP {status}: `{v}` in {text}");
        }
        assert!(
            text.contains(kept) || shown.contains(kept),
            "`{kept}` missing: {text}\n{shown}"
        );
    }
}
