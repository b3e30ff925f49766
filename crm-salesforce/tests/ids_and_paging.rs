//! Issue 12, items 4 and 5 on Salesforce: a listing whose query locators cycle or never end
//! stops with an error after a bounded number of requests, and a record id can never change
//! which resource a request addresses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_core::events::{WebhookRequest, WebhookSource};
use crm_core::reexports::futures::StreamExt;
use crm_core::reexports::http::HeaderMap;
use crm_core::reexports::secrecy::SecretString;
use crm_core::retry::RetryPolicy;
use crm_core::{Contact, Crm, ErrorKind, ListQuery, RecordId, UpsertKey, WriteContext};
use crm_salesforce::{OutboundMessages, Salesforce, SalesforceBuilder};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const QUERY: &str = "/services/data/v62.0/query";

fn contact(n: u64) -> Value {
    json!({"attributes": {"type": "Contact"}, "Id": format!("0035F0000000{n:03}"),
           "LastName": "Paged"})
}

fn crm(server: &MockServer) -> Salesforce {
    SalesforceBuilder::new()
        .with_access_token(SecretString::from("00Dx!token"), server.uri())
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap()
}

/// The first query page and every `nextRecordsUrl` page, by locator (`None`: the query).
struct Locators(fn(Option<&str>) -> Value);

impl Respond for Locators {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let locator = req.url.path().strip_prefix(&format!("{QUERY}/"));
        ResponseTemplate::new(200).set_body_json((self.0)(locator))
    }
}

async fn mount(server: &MockServer, pages: fn(Option<&str>) -> Value, requests: u64) {
    Mock::given(method("GET"))
        .and(path_regex(format!("^{QUERY}(/.*)?$")))
        .respond_with(Locators(pages))
        .expect(requests)
        .mount(server)
        .await;
}

#[tokio::test]
async fn paging_locators_cycling_a_b_a_stop_after_three_requests() {
    let server = MockServer::start().await;
    mount(
        &server,
        |locator| {
            let (n, next) = match locator {
                None => (1, "01gA-2000"),
                Some("01gA-2000") => (2, "01gB-4000"),
                _ => (3, "01gA-2000"),
            };
            json!({"done": false, "totalSize": 9000, "nextRecordsUrl": format!("{QUERY}/{next}"),
                   "records": [contact(n)]})
        },
        3,
    )
    .await;
    let results: Vec<_> = crm(&server)
        .contacts()
        .list(ListQuery::default())
        // Bounded, so a listing that never ends fails the test instead of hanging it.
        .take(50)
        .collect()
        .await;
    let err = results.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("already followed"), "{err}");
}

#[tokio::test]
async fn paging_empty_pages_with_new_locators_stop_after_one_request() {
    let server = MockServer::start().await;
    mount(
        &server,
        |locator| {
            let n: u64 = locator.map_or(0, |l| l.trim_start_matches("01g").parse().unwrap());
            json!({"done": false, "totalSize": 1, "nextRecordsUrl": format!("{QUERY}/01g{}", n + 1),
                   "records": []})
        },
        1,
    )
    .await;
    let results: Vec<_> = crm(&server)
        .contacts()
        .list(ListQuery::default())
        // Bounded, so a listing that never ends fails the test instead of hanging it.
        .take(50)
        .collect()
        .await;
    assert_eq!(results.len(), 1);
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("empty page"), "{err}");
}

#[tokio::test]
async fn paging_endless_locators_stop_at_the_callers_page_cap() {
    let server = MockServer::start().await;
    mount(
        &server,
        |locator| {
            let n: u64 = locator.map_or(0, |l| l.trim_start_matches("01g").parse().unwrap());
            json!({"done": false, "totalSize": 1, "nextRecordsUrl": format!("{QUERY}/01g{}", n + 1),
                   "records": [contact(n)]})
        },
        3,
    )
    .await;
    let results: Vec<_> = crm(&server)
        .contacts()
        .list(ListQuery {
            max_pages: std::num::NonZeroU32::new(3),
            ..ListQuery::default()
        })
        .collect()
        .await;
    assert_eq!(results.len(), 4);
    assert!(
        results[3]
            .as_ref()
            .unwrap_err()
            .message()
            .contains("after 3 pages")
    );
}

/// Answers anything, and expects nothing: the tests below must not send a request.
async fn no_requests(server: &MockServer) {
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(0)
        .mount(server)
        .await;
}

#[test]
fn ids_that_are_dot_segments_are_invalid_input_in_every_encoding() {
    for dot in ["..", ".", "%2e%2e", "%2E."] {
        let err = RecordId::new(dot).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}");
    }
}

#[tokio::test]
async fn ids_with_a_wrong_case_checksum_are_refused_without_a_request() {
    let server = MockServer::start().await;
    no_requests(&server).await;
    let crm = crm(&server);
    // `0034S000005YJVlQAO` is a real id; these alter its case or its suffix.
    for bad in [
        "0034S000005YJVlAAA",
        "0034s000005YJVlQAO",
        "0034S000005YJVlQA9",
        "x/../y",
        "003",
    ] {
        let id = RecordId::new(bad).unwrap();
        let err = crm.contacts().get(&id).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotFound, "{bad}: {err}");
        let err = crm
            .contacts()
            .update(&id, &Contact::default(), &WriteContext::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotFound, "{bad}: {err}");
    }
}

#[tokio::test]
async fn upsert_keys_that_are_dot_segments_make_no_request() {
    let server = MockServer::start().await;
    no_requests(&server).await;
    let crm = crm(&server);
    let contact = Contact {
        last_name: Some("Dots".into()),
        ..Contact::default()
    };
    for dot in ["..", ".", "%2e%2e"] {
        let err = crm
            .contacts()
            .upsert(
                &UpsertKey::ExternalId(dot.into()),
                &contact,
                &WriteContext::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}: {err}");
    }
}

#[test]
fn an_outbound_message_whose_id_is_a_dot_segment_is_refused() {
    let source = OutboundMessages::new("00D5F0000000001", "acme").unwrap();
    for id in ["..", ".", "%2e%2e", "5005F00000000g9AAA"] {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5F0000000001UAA</OrganizationId>
   <Notification><Id>04l5F0000000001AAA</Id>
    <sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"
             xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
     <sf:Id>{id}</sf:Id><sf:Status>Closed</sf:Status>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#
        );
        let headers = HeaderMap::new();
        let err = source
            .verify_and_parse(&WebhookRequest {
                method: "POST",
                uri: "https://bot.example/sf",
                headers: &headers,
                body: body.as_bytes(),
            })
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Decode, "{id}: {err}");
        assert!(
            err.message().contains("not a Salesforce record id"),
            "{err}"
        );
    }
}
