//! Issue 12, items 4 and 5 on the generic REST adapter: a listing whose server cursors cycle or
//! never end stops with an error after a bounded number of requests, and a record id can never
//! change which resource a request addresses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_core::reexports::futures::StreamExt;
use crm_core::retry::RetryPolicy;
use crm_core::{Contact, Crm, ErrorKind, ListQuery, RecordId, UpsertKey, WriteContext};
use crm_generic_rest::{GenericRest, GenericRestBuilder};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn crm(server: &MockServer) -> GenericRest {
    GenericRestBuilder::new()
        .with_base_url(server.uri())
        .with_token("t0k3n".to_owned().into())
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap()
}

fn contact(n: u64) -> Value {
    json!({"id": format!("c{n}"), "last_name": "Paged"})
}

/// A contacts listing whose `cursor` parameter answers with `pages(cursor)`.
struct Listing(fn(Option<&str>) -> Value);

impl Respond for Listing {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let cursor = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.into_owned());
        ResponseTemplate::new(200).set_body_json((self.0)(cursor.as_deref()))
    }
}

async fn mount(server: &MockServer, pages: fn(Option<&str>) -> Value, requests: u64) {
    Mock::given(method("GET"))
        .and(path("/contacts"))
        .respond_with(Listing(pages))
        .expect(requests)
        .mount(server)
        .await;
}

#[tokio::test]
async fn paging_cursors_cycling_a_b_a_stop_after_three_requests() {
    let server = MockServer::start().await;
    mount(
        &server,
        |cursor| {
            let (n, next) = match cursor {
                None => (1, "A"),
                Some("A") => (2, "B"),
                _ => (3, "A"),
            };
            json!({"data": [contact(n)], "next_cursor": next})
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
async fn paging_empty_pages_with_new_cursors_stop_after_one_request() {
    let server = MockServer::start().await;
    mount(
        &server,
        |cursor| {
            let n: u64 = cursor.map_or(0, |c| c.parse().unwrap());
            json!({"data": [], "next_cursor": (n + 1).to_string()})
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
async fn paging_endless_cursors_stop_at_the_callers_page_cap() {
    let server = MockServer::start().await;
    mount(
        &server,
        |cursor| {
            let n: u64 = cursor.map_or(0, |c| c.parse().unwrap());
            json!({"data": [contact(n)], "next_cursor": (n + 1).to_string()})
        },
        2,
    )
    .await;
    let results: Vec<_> = crm(&server)
        .contacts()
        .list(ListQuery {
            max_pages: std::num::NonZeroU32::new(2),
            ..ListQuery::default()
        })
        .collect()
        .await;
    assert_eq!(results.len(), 3);
    assert!(
        results[2]
            .as_ref()
            .unwrap_err()
            .message()
            .contains("after 2 pages")
    );
}

#[test]
fn ids_that_are_dot_segments_are_invalid_input_in_every_encoding() {
    for dot in ["..", ".", "%2e%2e", "%2E.", "%252e%252e"] {
        let err = RecordId::new(dot).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}");
        let json = serde_json::to_string(dot).unwrap();
        assert!(serde_json::from_str::<RecordId>(&json).is_err(), "{dot}");
    }
}

#[tokio::test]
async fn upsert_keys_that_are_dot_segments_make_no_request() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(contact(1)))
        .expect(0)
        .mount(&server)
        .await;
    let crm = crm(&server);
    let input = Contact {
        last_name: Some("Dots".into()),
        ..Contact::default()
    };
    for dot in ["..", ".", "%2e%2e"] {
        let err = crm
            .contacts()
            .upsert(
                &UpsertKey::ExternalId(dot.into()),
                &input,
                &WriteContext::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}: {err}");
    }
}

#[tokio::test]
async fn an_id_with_slashes_and_dots_stays_one_path_segment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/contacts/a%2F..%2F..%2Fb"))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact(1)))
        .expect(1)
        .mount(&server)
        .await;
    let id = RecordId::new("a/../../b").unwrap();
    crm(&server).contacts().get(&id).await.unwrap();
}
