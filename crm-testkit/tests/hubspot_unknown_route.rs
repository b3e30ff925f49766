//! Issue 12, item 17 in the HubSpot fake: a path HubSpot does not serve is answered with a plain
//! 404, not with the `OBJECT_NOT_FOUND` body HubSpot gives for a record that does not exist, so
//! that a client (and the SDK's tests) can tell "no such endpoint" from "no such record".
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig};

async fn get(fake: &HubSpotFake, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", fake.base_url()))
        .bearer_auth(fake.token())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn endpoint_unknown_routes_are_a_plain_404_and_missing_records_object_not_found() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    for path in [
        "/crm/v3/crm/v3/objects/contacts/jane%40example.com?idProperty=email",
        "/hubspot/crm/v3/objects/contacts/1001",
        "/crm/v3/objects/contacts/1001/nothing/here/at/all",
        "/crm/v3/pipelines/tickets/0/stages/x",
    ] {
        let (status, body) = get(&fake, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("OBJECT_NOT_FOUND"), "{path}: {body}");
    }
    let (status, body) = get(&fake, "/crm/v3/objects/contacts/999999").await;
    assert_eq!(status, 404);
    assert!(body.contains("\"category\":\"OBJECT_NOT_FOUND\""), "{body}");
    let (status, body) = get(
        &fake,
        "/crm/v3/objects/contacts/nobody%40example.com?idProperty=email",
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("\"category\":\"OBJECT_NOT_FOUND\""), "{body}");
}
