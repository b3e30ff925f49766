//! Issue 12, item 17 for record reads: a 404 to a request that addresses one record is "no such
//! record" only when the adapter's parser recognises the vendor's record-404 body
//! (`ErrorParser::is_missing_record`); any other 404 (a web server's page, an empty body) is the
//! same "endpoint not found" `Config` error as a 404 on a route, with the record's key masked in
//! the path it shows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;

use crm_core::raw::http::{ErrorParser, ErrorResponse, HttpClient, HttpClientBuilder, Request};
use crm_core::retry::RetryPolicy;
use crm_core::{Error, ErrorKind};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A parser whose vendor marks a missing record with `{"missing": true}`.
#[derive(Debug)]
struct MarkedRecord404;

impl ErrorParser for MarkedRecord404 {
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error {
        response.default_error()
    }

    fn is_missing_record(&self, response: &ErrorResponse<'_>) -> bool {
        serde_json::from_slice::<serde_json::Value>(response.body)
            .is_ok_and(|v| v["missing"] == serde_json::json!(true))
    }
}

fn client(base: &str, parser: Arc<dyn ErrorParser>) -> HttpClient {
    HttpClientBuilder::new("test", base)
        .with_retry(RetryPolicy::never())
        .with_error_parser(parser)
        .build()
        .unwrap()
}

async fn answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn endpoint_a_record_404_without_the_vendors_mark_is_an_endpoint_error() {
    for template in [
        ResponseTemplate::new(404),
        ResponseTemplate::new(404).set_body_string("<html><body>Not Found</body></html>"),
        ResponseTemplate::new(404).set_body_json(serde_json::json!({"error": "no route"})),
    ] {
        let server = answering(template).await;
        let http = client(
            &format!("{}/proxy", server.uri()),
            Arc::new(MarkedRecord404),
        );
        let err = http
            .send(
                Request::get("/crm/v3/objects/contacts/jane%40example.com", "contact.get")
                    .query("idProperty", "email")
                    .addresses_record(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
        assert_eq!(err.status(), Some(404));
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("the endpoint `/proxy/crm/v3/objects/contacts/…` was not found"),
            "{text}"
        );
        assert!(text.contains("base_url"), "{text}");
        assert!(
            !text.contains("jane") && !text.contains("idProperty"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn endpoint_a_record_404_with_the_vendors_mark_is_not_found() {
    let server =
        answering(ResponseTemplate::new(404).set_body_json(serde_json::json!({"missing": true})))
            .await;
    let http = client(&server.uri(), Arc::new(MarkedRecord404));
    let err = http
        .send(Request::get("/objects/contacts/512", "contact.get").addresses_record())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn endpoint_the_default_parser_takes_every_record_404_for_a_missing_record() {
    let server = answering(ResponseTemplate::new(404)).await;
    let http = client(&server.uri(), Arc::new(crm_core::raw::http::StatusOnly));
    let err = http
        .send(Request::get("/objects/contacts/512", "contact.get").addresses_record())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn endpoint_the_path_shown_keeps_api_words_and_versions_and_masks_values() {
    let server = answering(ResponseTemplate::new(404)).await;
    let http = client(&format!("{}/gw-2", server.uri()), Arc::new(MarkedRecord404));
    for (path, shown) in [
        (
            "/crm/v4/objects/contacts/512/associations/companies/77",
            "/gw-2/crm/v4/objects/contacts/…/associations/companies/…",
        ),
        (
            "/crm/objects/2026-03/line_items/9",
            "/gw-2/crm/objects/2026-03/line_items/…",
        ),
        (
            "/services/data/v60.0/sobjects/Contact/Ext__c/shop-7",
            "/gw-2/services/data/v60.0/sobjects/Contact/Ext__c/…",
        ),
        (
            "/objects/contacts/%2B14155550100",
            "/gw-2/objects/contacts/…",
        ),
    ] {
        let err = http
            .send(Request::get(path, "x.get").addresses_record())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("`{shown}`")), "{path}: {text}");
    }
}
