//! HubSpot's rate limits as a caller meets them (issue 12): every 429 lands in the limit it
//! really hit — by HubSpot's own `policyName` first, by the route where the body names none —
//! and a far-future `Retry-After` fails calls at once instead of freezing the client.
//!
//! Time-dependent checks run on paused tokio time and count requests; none measures wall-clock
//! time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use crm_core::limits::{Bucket, Unlimited};
use crm_core::raw::http::{ErrorParser, ErrorResponse};
use crm_core::reexports::http::{HeaderMap, HeaderValue, StatusCode};
use crm_core::retry::RetryPolicy;
use crm_core::{Crm, Error, ErrorKind, LimitScope, Lookup, RecordId};
use crm_hubspot::limits::{GENERAL, SEARCH};
use crm_hubspot::{HubSpot, HubSpotBuilder, HubSpotErrorParser};
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, Limits, demo};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The 429 bodies HubSpot documents or was recorded sending, by the limit each names.
struct Bodies {
    /// The recorded search 429: `category: RATE_LIMITS`, no policy (grouparoo fixture).
    search_recorded: Value,
    /// The documented daily 429: `errorType: RATE_LIMIT`, `policyName: DAILY`.
    daily_documented: Value,
    ten_secondly: Value,
    secondly: Value,
    /// `errorType: RATE_LIMIT` without a policy.
    rate_limit_no_policy: Value,
    /// A bare 429 body: status and message only.
    plain: Value,
    /// A policy name HubSpot may add one day.
    new_policy: Value,
}

fn bodies() -> Bodies {
    let examples = fixture("error-examples.json")["hubspot"]
        .as_array()
        .unwrap()
        .clone();
    let of_429 = |has_policy: bool| {
        examples
            .iter()
            .find(|e| e["status"] == 429 && e["body"].get("policyName").is_some() == has_policy)
            .unwrap()["body"]
            .clone()
    };
    let documented = |policy: &str, what: &str| {
        json!({"status": "error", "message": format!("You have reached your {what} limit."),
               "errorType": "RATE_LIMIT", "correlationId": "c-1", "policyName": policy,
               "requestId": "r-1"})
    };
    Bodies {
        search_recorded: of_429(false),
        daily_documented: of_429(true),
        ten_secondly: documented("TEN_SECONDLY_ROLLING", "ten_secondly_rolling"),
        secondly: documented("SECONDLY", "secondly"),
        rate_limit_no_policy: json!({"status": "error", "message": "Too many requests.",
                                     "errorType": "RATE_LIMIT", "correlationId": "c-2"}),
        plain: json!({"status": "error", "message": "Too many requests."}),
        new_policy: documented("MINUTELY", "minutely"),
    }
}

/// What the transport hands the parser for a 429 on a request from `bucket`.
fn parse_429(bucket: Option<Bucket>, body: &[u8], retry_after: Option<&'static str>) -> Error {
    let mut headers = HeaderMap::new();
    if let Some(v) = retry_after {
        headers.insert("retry-after", HeaderValue::from_static(v));
    }
    let r = ErrorResponse {
        status: StatusCode::TOO_MANY_REQUESTS,
        headers: &headers,
        body,
        correlation_id: Some("cid-1"),
    };
    match bucket {
        Some(bucket) => HubSpotErrorParser.parse_error_for_bucket(bucket, &r),
        None => HubSpotErrorParser.parse_error(&r),
    }
}

fn limit(err: &Error) -> (LimitScope, Option<Duration>) {
    match err.kind() {
        ErrorKind::RateLimited { scope, retry_after } => (scope.clone(), *retry_after),
        other => panic!("expected RateLimited, got {other:?}: {err}"),
    }
}

fn unknown() -> LimitScope {
    LimitScope::Other(String::new())
}

/// One row: name, route (bucket, or none), body, expected scope and wait.
type Case<'a> = (
    &'static str,
    Option<Bucket>,
    &'a Value,
    LimitScope,
    Option<Duration>,
);

/// Issue 12, item 3: burst / search / daily / unknown, each from its fixture body, on a record
/// read (`general`), on search (`search`) and without a route.
#[test]
fn item3_each_429_lands_in_its_bucket_by_policy_and_route() {
    let b = bodies();
    let one_second = Some(Duration::from_secs(1));
    let cases: Vec<Case<'_>> = vec![
        // A record read: HubSpot's policy decides; without one, the limit is unknown.
        (
            "read/ten-secondly",
            Some(GENERAL),
            &b.ten_secondly,
            LimitScope::Burst,
            None,
        ),
        (
            "read/secondly",
            Some(GENERAL),
            &b.secondly,
            LimitScope::Burst,
            None,
        ),
        (
            "read/daily",
            Some(GENERAL),
            &b.daily_documented,
            LimitScope::Daily,
            None,
        ),
        (
            "read/new policy",
            Some(GENERAL),
            &b.new_policy,
            LimitScope::Other("MINUTELY".into()),
            None,
        ),
        (
            "read/search-shaped",
            Some(GENERAL),
            &b.search_recorded,
            unknown(),
            None,
        ),
        (
            "read/no policy",
            Some(GENERAL),
            &b.rate_limit_no_policy,
            unknown(),
            None,
        ),
        ("read/plain", Some(GENERAL), &b.plain, unknown(), None),
        (
            "unbucketed/plain",
            Some("default"),
            &b.plain,
            unknown(),
            None,
        ),
        // Search: its own per-second limit unless HubSpot names another one.
        (
            "search/recorded",
            Some(SEARCH),
            &b.search_recorded,
            LimitScope::Search,
            one_second,
        ),
        (
            "search/plain",
            Some(SEARCH),
            &b.plain,
            LimitScope::Search,
            one_second,
        ),
        (
            "search/secondly",
            Some(SEARCH),
            &b.secondly,
            LimitScope::Search,
            one_second,
        ),
        (
            "search/daily",
            Some(SEARCH),
            &b.daily_documented,
            LimitScope::Daily,
            None,
        ),
        (
            "search/ten-secondly",
            Some(SEARCH),
            &b.ten_secondly,
            LimitScope::Burst,
            None,
        ),
        // No route: only search's recorded shape is taken for search.
        (
            "no route/recorded search",
            None,
            &b.search_recorded,
            LimitScope::Search,
            one_second,
        ),
        ("no route/plain", None, &b.plain, unknown(), None),
        (
            "no route/no policy",
            None,
            &b.rate_limit_no_policy,
            unknown(),
            None,
        ),
        (
            "no route/daily",
            None,
            &b.daily_documented,
            LimitScope::Daily,
            None,
        ),
    ];
    for (what, bucket, body, scope, wait) in cases {
        let bytes = serde_json::to_vec(body).unwrap();
        let err = parse_429(bucket, &bytes, None);
        assert_eq!(limit(&err), (scope, wait), "{what}: {err}");
        assert!(err.is_retryable(), "{what}");
        if let LimitScope::Other(name) = &limit(&err).0
            && name.is_empty()
        {
            assert!(!err.message().contains("search"), "{what}: {err}");
        }
    }
}

/// Issue 12, item 3: a 429 whose body is not JSON (a proxy's page, an empty body) follows the
/// route too, and a `Retry-After` the server did send wins over search's one-second default.
#[test]
fn item3_non_json_429s_follow_the_route_and_retry_after_wins() {
    for body in [&b""[..], b"<html>Too Many Requests</html>", b"{\"trunc"] {
        let read = parse_429(Some(GENERAL), body, None);
        assert_eq!(limit(&read), (unknown(), None));
        let search = parse_429(Some(SEARCH), body, None);
        assert_eq!(
            limit(&search),
            (LimitScope::Search, Some(Duration::from_secs(1)))
        );
    }
    let b = bodies();
    let bytes = serde_json::to_vec(&b.search_recorded).unwrap();
    let err = parse_429(Some(SEARCH), &bytes, Some("3"));
    assert_eq!(
        limit(&err),
        (LimitScope::Search, Some(Duration::from_secs(3)))
    );
    let bytes = serde_json::to_vec(&b.ten_secondly).unwrap();
    let err = parse_429(Some(GENERAL), &bytes, Some("7"));
    assert_eq!(
        limit(&err),
        (LimitScope::Burst, Some(Duration::from_secs(7)))
    );
}

fn connect(uri: String, retry: RetryPolicy) -> HubSpot {
    HubSpotBuilder::new()
        .with_base_url(uri)
        .with_token("pat-na1-limits".to_owned().into())
        // The external-id look-ups below are searches.
        .with_external_id_property(Some("crm_external_id"))
        .with_retry(retry)
        .build()
        .unwrap()
}

/// Issue 12, item 3, end to end: the same search-shaped 429 body on a record read is not
/// reported as the search limit, while on search it is.
#[tokio::test]
async fn item3_a_plain_429_on_a_record_read_is_not_the_search_limit() {
    let server = MockServer::start().await;
    let b = bodies();
    Mock::given(path_regex("^/crm/v3/objects/contacts/[^/]+$"))
        .respond_with(ResponseTemplate::new(429).set_body_json(&b.search_recorded))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/search$"))
        .respond_with(ResponseTemplate::new(429).set_body_json(&b.search_recorded))
        .mount(&server)
        .await;
    let crm = HubSpotBuilder::new()
        .with_base_url(server.uri())
        .with_token("pat-na1-limits".to_owned().into())
        .with_external_id_property(Some("crm_external_id"))
        .with_retry(RetryPolicy::never())
        .with_limiter(Arc::new(Unlimited))
        .build()
        .unwrap();
    let read = crm
        .contacts()
        .get(&RecordId::new("101").unwrap())
        .await
        .unwrap_err();
    assert_eq!(limit(&read), (unknown(), None), "{read}");
    let search = crm
        .contacts()
        .find_by(&Lookup::ExternalId("x".into()))
        .await
        .unwrap_err();
    assert_eq!(
        limit(&search),
        (LimitScope::Search, Some(Duration::from_secs(1))),
        "{search}"
    );
}

/// Issue 12, item 3, against the HubSpot fake: its search bucket (5 per second, HubSpot's
/// recorded body) gives the search scope; its rolling window gives burst.
#[tokio::test]
async fn item3_the_fakes_search_and_window_limits_keep_their_scopes() {
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        limits: Limits {
            ten_second_max: 2,
            daily_max: 1000,
            search_per_second: 1,
            ..Limits::default()
        },
        ..HubSpotFakeConfig::default()
    })
    .await;
    let crm = common::builder(&fake)
        .with_external_id_property(Some("crm_external_id"))
        .with_retry(RetryPolicy::never())
        .with_limiter(Arc::new(Unlimited))
        .build()
        .unwrap();
    let lookup = Lookup::ExternalId("x".into());
    crm.contacts().find_by(&lookup).await.unwrap();
    let err = crm.contacts().find_by(&lookup).await.unwrap_err();
    assert_eq!(limit(&err).0, LimitScope::Search, "{err}");
    let id = RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap();
    let mut burst = None;
    for _ in 0..4 {
        if let Err(e) = crm.contacts().get(&id).await {
            burst = Some(e);
            break;
        }
    }
    let burst = burst.expect("the rolling window refused a read");
    assert_eq!(limit(&burst).0, LimitScope::Burst, "{burst}");
}

/// Keeps tokio from auto-advancing paused time while a request is on the wire (a running
/// blocking task inhibits it), so the client's own timeouts cannot fire while the loopback
/// server answers. Dropping it lets time auto-advance again.
struct HoldClock(Option<std::sync::mpsc::Sender<()>>);

impl HoldClock {
    fn new() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            let _ = rx.recv();
        });
        Self(Some(tx))
    }
}

impl Drop for HoldClock {
    fn drop(&mut self) {
        self.0.take();
    }
}

/// Issue 12, item 1, end to end on a HubSpot connection with its default limiter: one 429 with
/// `Retry-After: 3600` fails that call at once with the hour to wait, and every later call on
/// the client fails just as fast (nothing sent) until the hour is over — no call hangs.
#[tokio::test(start_paused = true)]
async fn item1_a_far_future_retry_after_never_freezes_the_client() {
    let server = MockServer::start().await;
    let b = bodies();
    Mock::given(path_regex("^/crm/v3/objects/contacts/[^/]+$"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3600")
                .set_body_json(&b.ten_secondly),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path_regex("^/crm/v3/objects/contacts/[^/]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "101", "properties": {"email": null}, "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-01-01T00:00:00Z", "archived": false
        })))
        .mount(&server)
        .await;
    let crm = connect(server.uri(), RetryPolicy::default());
    let id = RecordId::new("101").unwrap();
    let seen = || async { server.received_requests().await.unwrap().len() };
    let start = tokio::time::Instant::now();

    let first = {
        let _clock = HoldClock::new();
        crm.contacts().get(&id).await.unwrap_err()
    };
    assert_eq!(
        limit(&first),
        (LimitScope::Burst, Some(Duration::from_secs(3600)))
    );
    assert_eq!(first.attempts(), 1);

    // Paused time auto-advances from here: a client that waited for the pause would show an
    // hour of elapsed time and a second request.
    let second = crm.contacts().get(&id).await.unwrap_err();
    assert_eq!(limit(&second).1, Some(Duration::from_secs(3600)));
    assert!(second.is_retryable());
    let together = futures_join(&crm, &id).await;
    assert!(
        together
            .iter()
            .all(|r| limit(r).1 == Some(Duration::from_secs(3600)))
    );
    assert_eq!(start.elapsed(), Duration::ZERO, "no call waited");
    assert_eq!(seen().await, 1, "nothing else was sent");

    // The hour passes: the same client is served again.
    tokio::time::advance(Duration::from_secs(3600)).await;
    let _clock = HoldClock::new();
    crm.contacts().get(&id).await.unwrap();
    assert_eq!(seen().await, 2);
}

/// Three reads at once on the paused client.
async fn futures_join(crm: &HubSpot, id: &RecordId) -> Vec<Error> {
    let (a, b, c) = tokio::join!(
        crm.contacts().get(id),
        crm.contacts().get(id),
        crm.contacts().get(id)
    );
    vec![a.unwrap_err(), b.unwrap_err(), c.unwrap_err()]
}
