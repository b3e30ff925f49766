//! Pipedrive's paging as a caller meets it: a listing follows API v2's `next_cursor` and API
//! v1's `start`/`more_items_in_collection` to the end in ⌈records / page size⌉ requests, and a
//! server whose cursors cycle, never end or page through nothing is stopped with an error after
//! a bounded number of requests. And an id decides which record a request addresses: an
//! activity's update never lands on the note with the same number, or the other way round.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};

use crm_core::reexports::futures::StreamExt;
use crm_core::reexports::serde_json::{Value, json};
use crm_core::retry::RetryPolicy;
use crm_core::{
    Activity, ActivityKind, Crm, ErrorKind, ListQuery, Page, Personal, Record, RecordId, Result,
    WriteContext,
};
use crm_pipedrive::{Pipedrive, PipedriveBuilder};
use crm_testkit::pipedrive::{Entity, PipedriveFake, PipedriveFakeConfig, demo};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const EXTRA_PERSONS: usize = 30;

fn connect_to(base_url: &str, token: &str) -> Pipedrive {
    PipedriveBuilder::new()
        .with_setting("base_url", base_url)
        .unwrap()
        .with_setting("api_token", token)
        .unwrap()
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap()
}

async fn fake() -> PipedriveFake {
    PipedriveFake::start(PipedriveFakeConfig {
        extra_persons: EXTRA_PERSONS,
        ..PipedriveFakeConfig::default()
    })
    .await
}

fn sized(size: u32) -> ListQuery {
    ListQuery {
        page_size: NonZeroU32::new(size),
        ..ListQuery::default()
    }
}

/// Every page of a listing, bounded so that a listing that never ends fails the test instead
/// of hanging it.
async fn pages<T: Send + 'static>(stream: crm_core::PageStream<T>) -> Vec<Result<Page<Record<T>>>> {
    stream.take(60).collect().await
}

fn ids<T>(pages: &[Result<Page<Record<T>>>]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.as_ref().unwrap().items.iter())
        .map(|r| r.id.to_string())
        .collect()
}

#[tokio::test]
async fn paging_v2_cursors_are_followed_to_the_end_in_one_request_per_page() {
    let fake = fake().await;
    let crm = connect_to(&fake.base_url(), fake.api_token());
    let persons = fake.records(Entity::Persons).len();
    assert_eq!(persons, EXTRA_PERSONS + demo::DEMO_PERSONS);
    for size in [1, 7, 10, 17, persons as u32, 500] {
        let before = fake.requests().total;
        let got = pages(crm.contacts().list(sized(size))).await;
        let requests = fake.requests().total - before;
        let ids = ids(&got);
        assert_eq!(ids.len(), persons, "page size {size}");
        let unique: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(
            unique.len(),
            persons,
            "page size {size}: a record came twice"
        );
        assert_eq!(
            requests,
            persons.div_ceil(size as usize),
            "page size {size}: {:?}",
            &fake.requests().log[before..]
        );
        assert_eq!(got.len(), requests);
    }
}

#[tokio::test]
async fn paging_v1_offsets_are_followed_to_the_end_in_one_request_per_page() {
    let fake = fake().await;
    let crm = connect_to(&fake.base_url(), fake.api_token());
    // Activities list activities (v2) and notes (v1); leads are v1 alone.
    let leads = fake.records(Entity::Leads).len();
    assert!(leads >= 2, "the demo company has {leads} leads");
    for size in [1, 2, leads as u32, 100] {
        let before = fake.requests().total;
        let got = pages(crm.leads().list(sized(size))).await;
        let requests = fake.requests().total - before;
        assert_eq!(ids(&got).len(), leads, "page size {size}");
        assert_eq!(requests, leads.div_ceil(size as usize), "page size {size}");
        assert!(
            fake.requests().log[before..]
                .iter()
                .all(|l| l == "GET /api/v1/leads")
        );
    }
}

/// A persons listing whose `cursor` is answered by `pages(cursor, n)`, `n` counting requests.
struct Listing(fn(Option<&str>, usize) -> Value, AtomicUsize);

fn listing(pages: fn(Option<&str>, usize) -> Value) -> Listing {
    Listing(pages, AtomicUsize::new(0))
}

impl Respond for Listing {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let cursor = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "cursor" || k == "start")
            .map(|(_, v)| v.into_owned());
        let n = self.1.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json((self.0)(cursor.as_deref(), n))
    }
}

fn person(id: usize) -> Value {
    json!({"id": id, "name": format!("P{id}"), "emails": [], "phones": [],
           "add_time": "2024-01-04T09:30:00Z", "update_time": "2024-02-01T10:00:00Z"})
}

fn v2_page(records: Vec<Value>, next: Option<&str>) -> Value {
    json!({"success": true, "data": records, "additional_data": {"next_cursor": next}})
}

async fn server(at: &str, respond: Listing, expect: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(respond)
        .expect(expect)
        .mount(&server)
        .await;
    server
}

fn crm(server: &MockServer) -> Pipedrive {
    connect_to(&server.uri(), "0123456789abcdef0123456789abcdef01234567")
}

#[tokio::test]
async fn paging_cursors_cycling_a_b_a_stop_after_three_requests() {
    let server = server(
        "/api/v2/persons",
        listing(|cursor, _| match cursor {
            None => v2_page(vec![person(1)], Some("A")),
            Some("A") => v2_page(vec![person(2)], Some("B")),
            _ => v2_page(vec![person(3)], Some("A")),
        }),
        3,
    )
    .await;
    let got = pages(crm(&server).contacts().list(ListQuery::default())).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let err = got.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("paging stopped"), "{err}");
}

/// API v1 pages by offset: a server that keeps answering the same `next_start` cycles too.
#[tokio::test]
async fn paging_v1_offsets_that_repeat_stop_after_two_requests() {
    let server = server(
        "/api/v1/leads",
        listing(|_, n| {
            json!({"success": true,
                   "data": [{"id": format!("00000000-0000-4000-8000-{n:012}"), "title": "L"}],
                   "additional_data": {"pagination": {"start": 0, "limit": 1,
                       "more_items_in_collection": true, "next_start": 1}}})
        }),
        2,
    )
    .await;
    let got = pages(crm(&server).leads().list(ListQuery::default())).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("paging stopped"), "{err}");
}

#[tokio::test]
async fn paging_endless_cursors_stop_at_the_callers_page_cap() {
    let server = server(
        "/api/v2/persons",
        listing(|_, n| v2_page(vec![person(n + 1)], Some(&format!("c{}", n + 1)))),
        4,
    )
    .await;
    let got = pages(crm(&server).contacts().list(ListQuery {
        max_pages: NonZeroU32::new(4),
        ..ListQuery::default()
    }))
    .await;
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(
        got[..4]
            .iter()
            .all(|p| p.as_ref().unwrap().items.len() == 1)
    );
    let err = got[4].as_ref().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("after 4 pages"), "{err}");
}

#[tokio::test]
async fn paging_empty_pages_with_new_cursors_stop_after_one_request() {
    let server = server(
        "/api/v2/persons",
        listing(|_, n| v2_page(vec![], Some(&format!("c{}", n + 1)))),
        1,
    )
    .await;
    let got = pages(crm(&server).contacts().list(ListQuery::default())).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let err = got[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("empty page"), "{err}");
}

/// An empty collection: one request, one empty page, the end; the same for a last page that
/// says `next_cursor: null` or leaves `additional_data` out.
#[tokio::test]
async fn paging_an_empty_page_without_a_cursor_ends_the_listing() {
    for body in [
        v2_page(vec![], None),
        json!({"success": true, "data": []}),
        json!({"success": true, "data": [], "additional_data": null}),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v2/persons"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
            .expect(1)
            .mount(&server)
            .await;
        let got = pages(crm(&server).contacts().list(ListQuery::default())).await;
        assert_eq!(got.len(), 1, "{body}");
        assert!(got[0].as_ref().unwrap().items.is_empty());
    }
}

fn subject(r: &Value) -> &str {
    r["subject"].as_str().unwrap_or_default()
}

/// The demo's call 301 and note 401: an update goes where the id says, whatever kind the patch
/// names (an `Activity`'s kind defaults to a note), and a patch that names no activity type
/// leaves the call a call.
#[tokio::test]
async fn an_activity_update_goes_to_the_record_its_id_names() {
    let fake = fake().await;
    let crm = connect_to(&fake.base_url(), fake.api_token());
    let call = RecordId::new(demo::CALL_ID).unwrap();
    let note_before = fake.record(Entity::Notes, demo::NOTE_ID).unwrap();
    let type_before = fake.record(Entity::Activities, demo::CALL_ID).unwrap()["type"].clone();

    // A patch without a kind of its own (the default, a note) on the call's id.
    let patch = Activity {
        subject: Some(Personal::new("Call back about the router".to_owned())),
        ..Activity::default()
    };
    assert_eq!(patch.kind, ActivityKind::Note);
    let written = crm
        .activities()
        .update(&call, &patch, &WriteContext::default())
        .await
        .unwrap();
    assert_eq!(written.id, call);
    let stored = fake.record(Entity::Activities, demo::CALL_ID).unwrap();
    assert_eq!(subject(&stored), "Call back about the router");
    assert_eq!(stored["type"], type_before, "the patch named no type");
    assert_eq!(type_before, "call");
    assert_eq!(
        fake.record(Entity::Notes, demo::NOTE_ID).unwrap(),
        note_before
    );
    assert!(
        fake.requests().log.iter().all(|l| !l.contains("/notes/")),
        "{:?}",
        fake.requests().log
    );

    // A task's patch on a note's id updates the note.
    let note = RecordId::new(format!("note-{}", demo::NOTE_ID)).unwrap();
    let patch = Activity {
        kind: ActivityKind::Task,
        body: Some(Personal::new("Router replaced".to_owned())),
        ..Activity::default()
    };
    crm.activities()
        .update(&note, &patch, &WriteContext::default())
        .await
        .unwrap();
    assert_eq!(
        fake.record(Entity::Notes, demo::NOTE_ID).unwrap()["content"],
        "Router replaced"
    );
    assert_eq!(
        subject(&fake.record(Entity::Activities, demo::CALL_ID).unwrap()),
        "Call back about the router"
    );
}
