//! Issue 12, item 17 in the adapter: a `base_url` that already holds HubSpot's API path is
//! refused by the builder, and a 404 to a record read is "no such record" only when HubSpot's
//! body says `OBJECT_NOT_FOUND`; any other 404 names the endpoint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_core::retry::RetryPolicy;
use crm_core::{Crm, Email, ErrorKind, Lookup, RecordId, ViewOptions};
use crm_hubspot::{HubSpot, HubSpotBuilder};
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn builder(base_url: &str) -> HubSpotBuilder {
    HubSpotBuilder::new()
        .with_base_url(base_url)
        .with_token("pat-na1-endpoint".to_owned().into())
        .with_retry(RetryPolicy::never())
}

async fn answering(template: ResponseTemplate) -> (MockServer, HubSpot) {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    let hub = builder(&server.uri()).build().unwrap();
    (server, hub)
}

#[test]
fn endpoint_the_builder_refuses_a_base_url_with_crm_v3() {
    for url in [
        "https://api.hubapi.com/crm/v3",
        "http://127.0.0.1:9/crm/v3/",
        "http://127.0.0.1:9/crm/v3/objects/contacts",
        "http://127.0.0.1:9/crm/objects/2026-03",
    ] {
        let err = builder(url).build().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{url}");
        let text = err.to_string();
        assert!(
            text.contains("base_url: give HubSpot's API root (https://api.hubapi.com)"),
            "{text}"
        );
        assert!(text.contains("the SDK adds the API paths"), "{text}");
    }
    assert!(builder("http://127.0.0.1:9/hubspot-proxy").build().is_ok());
}

#[tokio::test]
async fn endpoint_a_plain_404_to_an_email_read_names_the_endpoint() {
    for template in [
        ResponseTemplate::new(404),
        ResponseTemplate::new(404).set_body_string("<html>Not Found</html>"),
        ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
    ] {
        let (_server, hub) = answering(template).await;
        let lookup = Lookup::Email(Email::parse("jane@example.com").unwrap());
        let err = hub.contacts().find_by(&lookup).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("the endpoint `/crm/v3/objects/contacts/…` was not found"),
            "{text}"
        );
        assert!(!text.contains("jane"), "{text}");
        // The 360° view reads the contact by email the same way.
        let err = hub
            .customer_view(&lookup, &ViewOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
        // And a read by id.
        let err = hub
            .contacts()
            .get(&RecordId::new("512").unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
    }
}

#[tokio::test]
async fn endpoint_hubspots_object_not_found_is_no_match() {
    let (_server, hub) = answering(ResponseTemplate::new(404).set_body_json(json!({
        "status": "error", "message": "resource not found",
        "correlationId": "0b9c6a57-5c58-4b0b-9f4b-63b8c1b0e7a1", "category": "OBJECT_NOT_FOUND"
    })))
    .await;
    let lookup = Lookup::Email(Email::parse("jane@example.com").unwrap());
    assert!(hub.contacts().find_by(&lookup).await.unwrap().is_empty());
    let err = hub
        .contacts()
        .get(&RecordId::new("512").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
}
