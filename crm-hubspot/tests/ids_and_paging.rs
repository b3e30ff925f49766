//! Issue 12, items 4 and 5 on HubSpot: a listing, a search or an association read whose server
//! cursors cycle or never end stops with an error after a bounded number of requests, and a
//! record id can never change which resource a request addresses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_core::reexports::futures::StreamExt;
use crm_core::retry::RetryPolicy;
use crm_core::{Crm, ErrorKind, ListQuery, Page, Record, Result};
use crm_hubspot::{HubSpot, HubSpotBuilder};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn contact(id: &str) -> Value {
    json!({"id": id, "properties": {"email": format!("c{id}@example.com"), "hs_object_id": id},
           "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
           "archived": false})
}

fn crm(server: &MockServer) -> HubSpot {
    HubSpotBuilder::new()
        .with_base_url(server.uri())
        .with_token("pat-na1-ids".to_owned().into())
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap()
}

/// A contacts listing whose `after` cursor answers with `pages(after)`.
struct Listing(fn(Option<&str>) -> Value);

impl Respond for Listing {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let after = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "after")
            .map(|(_, v)| v.into_owned());
        ResponseTemplate::new(200).set_body_json((self.0)(after.as_deref()))
    }
}

async fn list_all(crm: &HubSpot) -> Vec<Result<Page<Record<crm_core::Contact>>>> {
    crm.contacts()
        .list(ListQuery::default())
        // Bounded, so a listing that never ends fails the test instead of hanging it.
        .take(50)
        .collect()
        .await
}

#[tokio::test]
async fn paging_cursors_cycling_a_b_a_stop_after_three_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(Listing(|after| {
            let (id, next) = match after {
                None => ("1", "A"),
                Some("A") => ("2", "B"),
                _ => ("3", "A"),
            };
            json!({"results": [contact(id)], "paging": {"next": {"after": next}}})
        }))
        .expect(3)
        .mount(&server)
        .await;
    let results = list_all(&crm(&server)).await;
    let err = results.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("paging stopped"), "{err}");
}

#[tokio::test]
async fn paging_empty_pages_with_new_cursors_stop_after_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(Listing(|after| {
            let n: u64 = after.map_or(0, |a| a.parse().unwrap());
            json!({"results": [], "paging": {"next": {"after": (n + 1).to_string()}}})
        }))
        .expect(1)
        .mount(&server)
        .await;
    let results = list_all(&crm(&server)).await;
    assert_eq!(results.len(), 1);
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("empty page"), "{err}");
}

#[tokio::test]
async fn paging_endless_cursors_stop_at_the_callers_page_cap() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(Listing(|after| {
            let n: u64 = after.map_or(0, |a| a.parse().unwrap());
            json!({"results": [contact(&(n + 1).to_string())],
                   "paging": {"next": {"after": (n + 1).to_string()}}})
        }))
        .expect(4)
        .mount(&server)
        .await;
    let results: Vec<_> = crm(&server)
        .contacts()
        .list(ListQuery {
            max_pages: std::num::NonZeroU32::new(4),
            ..ListQuery::default()
        })
        .collect()
        .await;
    assert_eq!(results.len(), 5);
    assert!(results[..4].iter().all(|r| r.is_ok()));
    assert!(
        results[4]
            .as_ref()
            .unwrap_err()
            .message()
            .contains("after 4 pages")
    );
}

/// Activities list notes, then tasks, then calls: an empty target is passed over inside the
/// adapter, so the empty-page rule does not cut the listing short.
#[tokio::test]
async fn paging_empty_activity_targets_are_passed_over() {
    let server = MockServer::start().await;
    for object in ["notes", "tasks"] {
        Mock::given(method("GET"))
            .and(path(format!("/crm/v3/objects/{object}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": []})))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/calls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [
            {"id": "77", "properties": {"hs_timestamp": "2026-01-02T00:00:00.000Z",
                                        "hs_call_title": "Call", "hs_object_id": "77"},
             "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
             "archived": false}]})))
        .expect(1)
        .mount(&server)
        .await;
    let pages: Vec<_> = crm(&server)
        .activities()
        .list(ListQuery::default())
        // Bounded, so a listing that never ends fails the test instead of hanging it.
        .take(50)
        .collect()
        .await;
    let ids: Vec<String> = pages
        .into_iter()
        .flat_map(|p| p.unwrap().items)
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["call:77"]);
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
    for dot in ["..", ".", "%2e%2e", "%2E", ".%2e"] {
        let err = crm_core::RecordId::new(dot).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}");
        assert!(dot.parse::<crm_core::RecordId>().is_err(), "{dot}");
    }
}

#[tokio::test]
async fn ids_with_a_dot_segment_after_the_activity_prefix_make_no_request() {
    let server = MockServer::start().await;
    no_requests(&server).await;
    let crm = crm(&server);
    for dot in ["note:..", "note:.", "task:%2e%2e", "call:%2E."] {
        let id = crm_core::RecordId::new(dot).unwrap();
        let err = crm.activities().get(&id).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}: {err}");
        let err = crm
            .activities()
            .update(
                &id,
                &crm_core::Activity::default(),
                &crm_core::WriteContext::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}: {err}");
    }
}

#[tokio::test]
async fn ids_that_are_not_hubspot_digits_are_not_found_without_a_request() {
    let server = MockServer::start().await;
    no_requests(&server).await;
    let crm = crm(&server);
    for bad in ["abc", "1001/../1002?archived=true", "12 ", "-5", "note:x"] {
        let id = crm_core::RecordId::new(bad).unwrap();
        let err = crm.contacts().get(&id).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotFound, "{bad}: {err}");
        assert_eq!(err.operation(), Some("contact.get"));
        let err = crm
            .tickets()
            .update(
                &id,
                &crm_core::Ticket::default(),
                &crm_core::WriteContext::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotFound, "{bad}: {err}");
    }
    let results = crm
        .contacts()
        .update_batch(
            &[(
                crm_core::RecordId::new("x").unwrap(),
                crm_core::Contact::default(),
            )],
            &crm_core::WriteContext::default(),
        )
        .await;
    assert_eq!(
        results[0].as_ref().unwrap_err().kind(),
        &ErrorKind::NotFound
    );
}

/// A POST whose JSON body's `after` (top level, or in `inputs[0]`) answers with `pages(after)`.
///
/// From the 50th request on, the answer has no cursor, so a client that does not stop by itself
/// still ends (and fails the test's request count) instead of hanging the test.
struct Posted(fn(Option<&str>) -> Value, std::sync::atomic::AtomicUsize);

fn posted(pages: fn(Option<&str>) -> Value) -> Posted {
    Posted(pages, std::sync::atomic::AtomicUsize::new(0))
}

impl Respond for Posted {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let after = body
            .get("after")
            .or_else(|| body["inputs"][0].get("after"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut page = (self.0)(after.as_deref());
        if self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 49 {
            strip_paging(&mut page);
        }
        ResponseTemplate::new(200).set_body_json(page)
    }
}

fn strip_paging(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("paging");
            m.values_mut().for_each(strip_paging);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_paging),
        _ => {}
    }
}

fn phone_lookup() -> crm_core::Lookup {
    crm_core::Lookup::Phone(crm_core::Phone::parse("+14155550100", crm_core::Region::us()).unwrap())
}

fn search_page(id: &str, next: &str) -> Value {
    let mut c = contact(id);
    c["properties"]["phone"] = json!("+14155550100");
    json!({"total": 1000, "results": [c], "paging": {"next": {"after": next}}})
}

#[tokio::test]
async fn paging_search_cursors_cycling_a_b_a_stop_after_three_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(posted(|after| match after {
            None => search_page("1", "A"),
            Some("A") => search_page("2", "B"),
            _ => search_page("3", "A"),
        }))
        .expect(3)
        .mount(&server)
        .await;
    let err = crm(&server)
        .contacts()
        .find_by(&phone_lookup())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("paging stopped"), "{err}");
}

#[tokio::test]
async fn paging_search_empty_pages_with_new_cursors_stop_after_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(posted(|after| {
            let n: u64 = after.map_or(0, |a| a.parse().unwrap());
            json!({"total": 0, "results": [], "paging": {"next": {"after": (n + 1).to_string()}}})
        }))
        .expect(1)
        .mount(&server)
        .await;
    let err = crm(&server)
        .contacts()
        .find_by(&phone_lookup())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("empty page"), "{err}");
}

#[tokio::test]
async fn paging_search_still_follows_honest_cursors_to_the_end() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(posted(|after| match after {
            None => search_page("1", "200"),
            Some("200") => search_page("2", "400"),
            _ => json!({"total": 3, "results": [search_page("3", "")["results"][0]]}),
        }))
        .expect(3)
        .mount(&server)
        .await;
    let found = crm(&server)
        .contacts()
        .find_by(&phone_lookup())
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
}

/// A company: its open tickets are read through the v4 associations batch read.
fn ticket_owner() -> crm_core::RecordRef {
    crm_core::RecordRef::new(
        crm_core::ObjectKind::Account,
        crm_core::RecordId::new("2001").unwrap(),
    )
}

fn assoc_page(to: &str, next: Option<&str>) -> Value {
    let mut result = json!({"from": {"id": "2001"},
                            "to": [{"toObjectId": to, "associationTypes": []}]});
    if let Some(n) = next {
        result["paging"] = json!({"next": {"after": n}});
    }
    json!({"status": "COMPLETE", "results": [result]})
}

#[tokio::test]
async fn paging_association_cursors_cycling_a_b_a_stop_after_three_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v4/associations/companies/tickets/batch/read"))
        .respond_with(posted(|after| match after {
            None => assoc_page("11", Some("A")),
            Some("A") => assoc_page("12", Some("B")),
            _ => assoc_page("13", Some("A")),
        }))
        .expect(3)
        .mount(&server)
        .await;
    let err = crm(&server)
        .tickets()
        .open_for(&ticket_owner(), 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("paging stopped"), "{err}");
}

#[tokio::test]
async fn paging_association_empty_pages_with_new_cursors_stop_after_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v4/associations/companies/tickets/batch/read"))
        .respond_with(posted(|after| {
            let n: u64 = after.map_or(0, |a| a.parse().unwrap());
            json!({"status": "COMPLETE", "results": [{"from": {"id": "2001"}, "to": [],
                   "paging": {"next": {"after": (n + 1).to_string()}}}]})
        }))
        .expect(1)
        .mount(&server)
        .await;
    let err = crm(&server)
        .tickets()
        .open_for(&ticket_owner(), 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("empty page"), "{err}");
}
