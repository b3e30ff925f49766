//! Listing changed records past search's 10,000-result cap (HubSpot's Search docs): the adapter
//! restarts the search at the last modification time seen instead of paging into a 400, and
//! lists every record once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use crm_core::reexports::chrono::DateTime;
use crm_core::reexports::futures::TryStreamExt;
use crm_core::retry::RetryPolicy;
use crm_core::{Crm, ListQuery};
use crm_hubspot::HubSpotBuilder;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn contact(id: &str, modified: &str) -> Value {
    json!({"id": id, "properties": {"email": format!("c{id}@example.com"), "lastmodifieddate": modified,
                                    "hs_object_id": id},
           "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": modified, "archived": false})
}

/// Plays a portal with more than 10,000 changed contacts: the first query's next page would
/// cross the cap; the narrowed query starts at the last time seen and repeats that record.
struct Portal {
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Respond for Portal {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        self.bodies.lock().unwrap().push(body.clone());
        let since = body["filterGroups"][0]["filters"][0]["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = match (since.as_str(), body.get("after").and_then(Value::as_str)) {
            ("1767225600000", None) => json!({"total": 12000, "results": [
                contact("1", "2026-01-02T00:00:00.000Z"), contact("2", "2026-01-03T00:00:00.000Z")],
                "paging": {"next": {"after": "2"}}}),
            ("1767225600000", Some("2")) => json!({"total": 12000, "results": [
                contact("3", "2026-01-04T00:00:00.000Z"), contact("4", "2026-01-04T00:00:00.000Z")],
                // Paging on would cross 10,000 with a page of 2: 9,999 + 2.
                "paging": {"next": {"after": "9999"}}}),
            // Narrowed at 2026-01-04T00:00:00Z: records of that millisecond come again.
            ("1767484800000", None) => json!({"total": 3, "results": [
                contact("3", "2026-01-04T00:00:00.000Z"), contact("4", "2026-01-04T00:00:00.000Z"),
                contact("5", "2026-01-05T00:00:00.000Z")]}),
            other => panic!("unexpected search {other:?}"),
        };
        ResponseTemplate::new(200).set_body_json(page)
    }
}

#[tokio::test]
async fn changed_since_narrows_past_the_cap_and_lists_each_record_once() {
    let server = MockServer::start().await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(Portal {
            bodies: bodies.clone(),
        })
        .mount(&server)
        .await;
    let crm = HubSpotBuilder::new()
        .with_base_url(server.uri())
        .with_token("pat-na1-paging".to_owned().into())
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap();
    let pages: Vec<_> = crm
        .contacts()
        .list(ListQuery {
            page_size: NonZeroU32::new(2),
            changed_since: DateTime::from_timestamp_millis(1_767_225_600_000),
            ..ListQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<String> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|r| r.id.to_string()))
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 3);
    for b in bodies.iter() {
        assert_eq!(b["sorts"][0]["direction"], "ASCENDING");
        assert_eq!(b["filterGroups"][0]["filters"][0]["operator"], "GTE");
        assert!(b["limit"].as_u64().unwrap() <= 200);
    }
    assert!(
        bodies[2].get("after").is_none(),
        "the narrowed search starts over"
    );
}
