//! Bad input from either side on Pipedrive: ids that would change the path a request addresses
//! or that no Pipedrive record can have, answers that are not the JSON Pipedrive documents, and
//! its `429`. Each is a typed error a caller can act on, with the requests it cost counted;
//! none panics, and none quotes what the answer held.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use crm_core::reexports::futures::StreamExt;
use crm_core::reexports::serde_json::{Value, json};
use crm_core::retry::RetryPolicy;
use crm_core::{
    Account, Activity, Contact, Crm, Email, ErrorKind, Lead, LimitScope, ListQuery, Opportunity,
    RecordId, WriteContext,
};
use crm_pipedrive::{Pipedrive, PipedriveBuilder};
use crm_testkit::conformance::FaultInjector;
use crm_testkit::pipedrive::{PipedriveFake, PipedriveFakeConfig, demo};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const EMAIL: &str = "victim.person@example.com";
const NAME: &str = "Leakwell";

async fn fake() -> PipedriveFake {
    PipedriveFake::start(PipedriveFakeConfig::default()).await
}

fn connect_to(base_url: &str, token: &str, retry: RetryPolicy) -> Pipedrive {
    PipedriveBuilder::new()
        .with_setting("base_url", base_url)
        .unwrap()
        .with_setting("api_token", token)
        .unwrap()
        .with_retry(retry)
        .build()
        .unwrap()
}

fn connect(fake: &PipedriveFake) -> Pipedrive {
    connect_to(&fake.base_url(), fake.api_token(), RetryPolicy::never())
}

fn id(text: &str) -> RecordId {
    RecordId::new(text).unwrap()
}

/// Reads and updates `bad` on every kind whose Pipedrive ids are integers (persons,
/// organizations, deals, activities), giving each error.
async fn integer_kinds(crm: &Pipedrive, bad: &RecordId) -> Vec<(&'static str, crm_core::Error)> {
    let ctx = WriteContext::default();
    vec![
        ("contact.get", crm.contacts().get(bad).await.unwrap_err()),
        (
            "contact.update",
            crm.contacts()
                .update(bad, &Contact::default(), &ctx)
                .await
                .unwrap_err(),
        ),
        ("account.get", crm.accounts().get(bad).await.unwrap_err()),
        (
            "account.update",
            crm.accounts()
                .update(bad, &Account::default(), &ctx)
                .await
                .unwrap_err(),
        ),
        (
            "opportunity.get",
            crm.opportunities().get(bad).await.unwrap_err(),
        ),
        (
            "opportunity.update",
            crm.opportunities()
                .update(bad, &Opportunity::default(), &ctx)
                .await
                .unwrap_err(),
        ),
        ("activity.get", crm.activities().get(bad).await.unwrap_err()),
        (
            "activity.update",
            crm.activities()
                .update(bad, &Activity::default(), &ctx)
                .await
                .unwrap_err(),
        ),
    ]
}

#[test]
fn ids_that_are_dot_segments_are_invalid_input_in_every_encoding() {
    for dot in [".", "..", "%2e%2e", "%2E", ".%2e", "%252e%252e"] {
        let err = RecordId::new(dot).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}");
    }
}

/// A note's id is `note-` and Pipedrive's id: what follows the prefix is a path segment too.
#[tokio::test]
async fn ids_with_a_dot_segment_after_the_note_prefix_make_no_request() {
    let fake = fake().await;
    let crm = connect(&fake);
    for dot in ["note-.", "note-..", "note-%2e%2e", "note-%2E."] {
        let bad = id(dot);
        let err = crm.activities().get(&bad).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}: {err}");
        let err = crm
            .activities()
            .update(&bad, &Activity::default(), &WriteContext::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{dot}: {err}");
    }
    assert_eq!(fake.requests().total, 0, "{:?}", fake.requests().log);
}

/// Persons, organizations, deals, activities and notes have integer ids (Pipedrive's API
/// reference: `id` is an integer path parameter): any other id names no record, so it is
/// `NotFound`, as for an integer Pipedrive does not hold, without spending a request of the
/// rate-limit window on it.
#[tokio::test]
async fn ids_that_are_not_integers_are_not_found_without_a_request() {
    let fake = fake().await;
    let crm = connect(&fake);
    for text in [
        "abc",
        "101abc",
        "-5",
        "1.5",
        "101?fields=x",
        "101/deals",
        "12 ",
        "note-x",
    ] {
        for (op, err) in integer_kinds(&crm, &id(text)).await {
            assert_eq!(err.kind(), &ErrorKind::NotFound, "{op} `{text}`: {err}");
            assert_eq!(err.operation(), Some(op), "`{text}`: {err}");
        }
    }
    assert_eq!(fake.requests().total, 0, "{:?}", fake.requests().log);
}

/// The `note-` prefix says which id space an activity's id is in; on any other kind it is no
/// Pipedrive id, never the person, organization or deal with the number after it.
#[tokio::test]
async fn a_note_id_on_another_kind_never_reads_the_record_with_its_number() {
    let fake = fake().await;
    let crm = connect(&fake);
    let as_note = id(&format!("note-{}", demo::CUSTOMER_PERSON_ID));
    let err = crm.contacts().get(&as_note).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
    assert_eq!(fake.requests().total, 0, "{:?}", fake.requests().log);
    // The real ids still read.
    let person = crm
        .contacts()
        .get(&id(demo::CUSTOMER_PERSON_ID))
        .await
        .unwrap();
    assert_eq!(person.id.as_str(), demo::CUSTOMER_PERSON_ID);
    let note = crm
        .activities()
        .get(&id(&format!("note-{}", demo::NOTE_ID)))
        .await
        .unwrap();
    assert_eq!(note.id.as_str(), format!("note-{}", demo::NOTE_ID));
    assert_eq!(fake.requests().total, 2);
}

/// Leads have UUID ids (Pipedrive's API reference: `id` is a `string <uuid>`): other text is
/// not found without a request; a well-formed UUID Pipedrive does not hold costs one.
#[tokio::test]
async fn lead_ids_that_are_not_uuids_are_not_found_without_a_request() {
    let fake = fake().await;
    let crm = connect(&fake);
    for text in [
        "101",
        "not-a-uuid",
        "adf21080-0e10-11eb-879b-05d71fb426e",
        "adf21080-0e10-11eb-879b-05d71fb426ecx",
        "adf21080+0e10-11eb-879b-05d71fb426ec",
    ] {
        let err = crm.leads().get(&id(text)).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotFound, "`{text}`: {err}");
        let err = crm
            .leads()
            .update(&id(text), &Lead::default(), &WriteContext::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotFound, "`{text}`: {err}");
    }
    assert_eq!(fake.requests().total, 0, "{:?}", fake.requests().log);
    let err = crm
        .leads()
        .get(&id("adf21080-0e10-11eb-879b-05d71fb426ec"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
    assert_eq!(fake.requests().total, 1);
}

#[tokio::test]
async fn a_truncated_body_is_a_decode_error() {
    let fake = fake().await;
    let crm = connect(&fake);
    fake.malformed_next(1);
    let err = crm
        .contacts()
        .get(&id(demo::CUSTOMER_PERSON_ID))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode, "{err}");
    assert!(err.message().contains("truncated"), "{err}");
    // The fake's truncated body holds the start of the customer's name.
    assert!(!format!("{err}{err:?}").contains("Jane"), "{err:?}");
    assert_eq!(fake.requests().total, 1);
}

#[tokio::test]
async fn an_html_502_is_unavailable_and_an_html_200_a_decode_error() {
    let fake = fake().await;
    let crm = connect(&fake);
    fake.html_next(1);
    let err = crm
        .contacts()
        .get(&id(demo::CUSTOMER_PERSON_ID))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unavailable, "{err}");
    assert_eq!(err.status(), Some(502));
    assert!(
        err.vendor_text_redacted()
            .unwrap()
            .contains("502 Bad Gateway")
    );

    // A login page or a captive portal answering 200.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html><html><body>Sign in to Pipedrive</body></html>",
            "text/html",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let crm = connect_to(&server.uri(), demo_token(), RetryPolicy::never());
    let err = crm.contacts().get(&id("101")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode, "{err}");
    assert!(err.message().contains("HTML"), "{err}");
}

fn demo_token() -> &'static str {
    "0123456789abcdef0123456789abcdef01234567"
}

/// A server answering every GET of `at` with `body`.
async fn answering(at: &str, body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    server
}

fn person(extra: Value) -> Value {
    let mut p = json!({"id": 101, "name": NAME, "first_name": "Vic", "last_name": NAME,
        "emails": [{"value": EMAIL, "primary": true, "label": "work"}], "phones": [],
        "add_time": "2024-01-04T09:30:00Z", "update_time": "2024-02-01T10:00:00Z"});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

/// Answers of the documented envelope with a field of the wrong type: a decode error naming
/// where (the JSON path), never what the answer held there or beside it.
#[tokio::test]
async fn wrong_types_in_a_record_are_decode_errors_naming_the_path() {
    let cases = [
        (json!({"success": true, "data": EMAIL}), "data"),
        (
            json!({"success": true, "data": [person(json!({}))]}),
            "data",
        ),
        (
            json!({"success": true, "data": person(json!({"id": {"value": 101}}))}),
            "id",
        ),
        (
            json!({"success": true, "data": person(json!({"id": true}))}),
            "id",
        ),
        (
            json!({"success": true, "data": person(json!({"emails": EMAIL}))}),
            "emails",
        ),
        (
            json!({"success": true, "data": person(json!({"phones": {"value": "+1 555 0100"}}))}),
            "phones",
        ),
        (
            json!({"success": true, "data": person(json!({"id": null}))}),
            "id",
        ),
    ];
    for (body, named) in cases {
        let server = answering("/api/v2/persons/101", body.clone()).await;
        let crm = connect_to(&server.uri(), demo_token(), RetryPolicy::never());
        let err = crm.contacts().get(&id("101")).await.unwrap_err();
        let shown = format!("{err}\n{err:?}");
        assert_eq!(err.kind(), &ErrorKind::Decode, "{body}: {shown}");
        assert!(
            err.message().contains(&format!("`{named}`")),
            "{body}: the message does not name `{named}`: {err}"
        );
        for v in [EMAIL, NAME, "555 0100"] {
            assert!(!shown.contains(v), "`{v}` leaked: {shown}");
        }
        assert_eq!(err.operation(), Some("contact.get"));
    }
}

/// A listing whose paging fields have the wrong type would end early without a word (a cursor
/// that is a number is no cursor); it is a decode error naming the field instead.
#[tokio::test]
async fn wrong_types_in_a_listing_are_decode_errors_naming_the_path() {
    let cases = [
        (
            "/api/v2/persons",
            json!({"success": true, "data": [person(json!({}))],
                   "additional_data": {"next_cursor": 42}}),
            "additional_data.next_cursor",
        ),
        (
            "/api/v2/persons",
            json!({"success": true, "data": {"items": EMAIL}}),
            "data.items",
        ),
        (
            "/api/v2/persons",
            json!({"success": true, "data": person(json!({}))}),
            "data",
        ),
        (
            "/api/v2/persons",
            json!({"success": true, "data": [person(json!({})), EMAIL]}),
            "data[1]",
        ),
        (
            "/api/v1/leads",
            json!({"success": true, "data": [], "additional_data": {"pagination":
                   {"start": 0, "limit": 100, "more_items_in_collection": true,
                    "next_start": "100"}}}),
            "additional_data.pagination.next_start",
        ),
        (
            "/api/v1/leads",
            json!({"success": true, "data": [], "additional_data": {"pagination":
                   {"start": 0, "limit": 100, "more_items_in_collection": "yes",
                    "next_start": 100}}}),
            "additional_data.pagination.more_items_in_collection",
        ),
    ];
    for (at, body, named) in cases {
        let server = answering(at, body.clone()).await;
        let crm = connect_to(&server.uri(), demo_token(), RetryPolicy::never());
        let pages: Vec<_> = if at.contains("leads") {
            crm.leads()
                .list(ListQuery::default())
                .take(3)
                .map(|p| p.map(|p| p.items.len()))
                .collect()
                .await
        } else {
            crm.contacts()
                .list(ListQuery::default())
                .take(3)
                .map(|p| p.map(|p| p.items.len()))
                .collect()
                .await
        };
        assert_eq!(pages.len(), 1, "{body}: {pages:?}");
        let err = pages[0].as_ref().unwrap_err();
        let shown = format!("{err}\n{err:?}");
        assert_eq!(err.kind(), &ErrorKind::Decode, "{body}: {shown}");
        assert!(
            err.message().contains(&format!("`{named}`")),
            "{body}: the message does not name `{named}`: {err}"
        );
        for v in [EMAIL, NAME] {
            assert!(!shown.contains(v), "`{v}` leaked: {shown}");
        }
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

/// `data: null` is how API v1 answers an empty listing: an empty page, not an error.
#[tokio::test]
async fn a_null_listing_is_an_empty_page() {
    let server = answering(
        "/api/v1/leads",
        json!({"success": true, "data": null, "additional_data": {"pagination":
               {"start": 0, "limit": 100, "more_items_in_collection": false}}}),
    )
    .await;
    let crm = connect_to(&server.uri(), demo_token(), RetryPolicy::never());
    let pages: Vec<_> = crm.leads().list(ListQuery::default()).collect().await;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].as_ref().unwrap().items.is_empty());
}

fn rate_limit(err: &crm_core::Error) -> (LimitScope, Option<Duration>) {
    match err.kind() {
        ErrorKind::RateLimited { scope, retry_after } => (scope.clone(), *retry_after),
        other => panic!("expected RateLimited, got {other:?}: {err}"),
    }
}

/// Without retries, a `429` is reported with the wait Pipedrive asked for.
#[tokio::test]
async fn a_429_with_retry_after_is_rate_limited_with_the_wait() {
    let fake = fake().await;
    let crm = connect(&fake);
    fake.rate_limit_next(1, Duration::from_secs(7));
    let err = crm
        .contacts()
        .get(&id(demo::CUSTOMER_PERSON_ID))
        .await
        .unwrap_err();
    assert_eq!(
        rate_limit(&err),
        (LimitScope::Burst, Some(Duration::from_secs(7))),
        "{err}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(err.status(), Some(429));
    assert!(err.is_retryable());
    assert_eq!(fake.requests().total, 1);
}

/// With room left in the 2-second window (`x-ratelimit-remaining` above 0) a `429` is the daily
/// token budget's, and `x-ratelimit-reset` says when it refills.
#[tokio::test]
async fn a_429_with_room_in_the_window_is_the_daily_budget() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-limit", "80")
                .insert_header("x-ratelimit-remaining", "75")
                .insert_header("x-ratelimit-reset", "3600")
                .set_body_json(json!({"success": false, "error": "Request over limit",
                                      "errorCode": 429})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let crm = connect_to(&server.uri(), demo_token(), RetryPolicy::never());
    let err = crm.contacts().get(&id("101")).await.unwrap_err();
    assert_eq!(
        rate_limit(&err),
        (LimitScope::Daily, Some(Duration::from_secs(3600))),
        "{err}"
    );
}

/// With the default retry policy a short `Retry-After` is waited out: the call succeeds on the
/// second request, sent no sooner than asked (measured on the fake's clock).
#[tokio::test]
async fn a_429_with_a_short_retry_after_is_waited_out() {
    let fake = fake().await;
    let crm = connect_to(&fake.base_url(), fake.api_token(), RetryPolicy::default());
    let hint = Duration::from_secs(1);
    fake.rate_limit_next(1, hint);
    let person = crm
        .contacts()
        .get(&id(demo::CUSTOMER_PERSON_ID))
        .await
        .unwrap();
    assert_eq!(
        person.email,
        Some(Email::parse(demo::CUSTOMER_EMAIL).unwrap())
    );
    assert_eq!(fake.requests().total, 2);
    let arrivals = fake.arrivals();
    assert!(arrivals[0].limited && !arrivals[1].limited);
    assert!(arrivals[1].at.duration_since(arrivals[0].at) >= hint);
}
