#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! The HubSpot fake's search lags behind writes by default, as HubSpot's search index does, on
//! tokio's clock: a test on paused time sees the record appear exactly when it advances past the
//! lag. Reads by id, by `idProperty` and batch reads see every write at once.

use std::time::Duration;

use crm_testkit::hubspot::{DEFAULT_SEARCH_LAG, HubSpotFake, HubSpotFakeConfig, demo};
use reqwest::Method;
use serde_json::{Value, json};

/// Keeps tokio from auto-advancing paused time while a request is on the wire (a running
/// blocking task inhibits it): the clock moves only when the test advances it.
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

struct Api {
    fake: HubSpotFake,
    http: reqwest::Client,
}

impl Api {
    async fn start(config: HubSpotFakeConfig) -> Self {
        Self {
            fake: HubSpotFake::start(config).await,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let _hold = HoldClock::new();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.fake.base_url()))
            .bearer_auth(self.fake.token());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Ids the contact search finds with `property == value`.
    async fn search(&self, property: &str, value: &str) -> Vec<String> {
        let body = json!({"filterGroups": [{"filters": [
            {"propertyName": property, "operator": "EQ", "value": value}]}]});
        let (status, v) = self
            .call(Method::POST, "/crm/v3/objects/contacts/search", Some(body))
            .await;
        assert_eq!(status, 200, "{v}");
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_created_contact_reaches_search_only_after_the_default_lag_on_tokios_clock() {
    assert!(DEFAULT_SEARCH_LAG >= Duration::from_millis(100));
    let api = Api::start(HubSpotFakeConfig::default()).await;
    let (status, created) = api
        .call(
            Method::POST,
            "/crm/v3/objects/contacts",
            Some(json!({"properties": {"email": "fresh@lag.example"}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // Search misses it; every read that is not search sees it at once.
    assert!(api.search("email", "fresh@lag.example").await.is_empty());
    let (status, _) = api
        .call(Method::GET, &format!("/crm/v3/objects/contacts/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .call(
            Method::GET,
            "/crm/v3/objects/contacts/fresh@lag.example?idProperty=email",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, batch) = api
        .call(
            Method::POST,
            "/crm/v3/objects/contacts/batch/read",
            Some(json!({"inputs": [{"id": id}], "properties": ["email"]})),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["results"][0]["id"], id.as_str());

    // Just before the lag is over, still nothing; at the lag, there it is.
    tokio::time::advance(DEFAULT_SEARCH_LAG - Duration::from_millis(1)).await;
    assert!(api.search("email", "fresh@lag.example").await.is_empty());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(api.search("email", "fresh@lag.example").await, [id]);
}

#[tokio::test(start_paused = true)]
async fn an_update_shows_the_old_values_to_search_until_the_lag_is_over() {
    let api = Api::start(HubSpotFakeConfig::default()).await;
    let path = format!("/crm/v3/objects/contacts/{}", demo::CUSTOMER_CONTACT_ID);
    let (status, v) = api
        .call(
            Method::PATCH,
            &path,
            Some(json!({"properties": {"jobtitle": "Lagging Title"}})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, read) = api
        .call(Method::GET, &format!("{path}?properties=jobtitle"), None)
        .await;
    assert_eq!(read["properties"]["jobtitle"], "Lagging Title");
    assert!(api.search("jobtitle", "Lagging Title").await.is_empty());
    // The seeded values are indexed from the start.
    assert_eq!(
        api.search("email", demo::CUSTOMER_EMAIL).await,
        [demo::CUSTOMER_CONTACT_ID]
    );
    tokio::time::advance(DEFAULT_SEARCH_LAG).await;
    assert_eq!(
        api.search("jobtitle", "Lagging Title").await,
        [demo::CUSTOMER_CONTACT_ID]
    );
}

#[tokio::test(start_paused = true)]
async fn a_test_can_opt_out_of_the_lag() {
    let api = Api::start(HubSpotFakeConfig::default().without_search_lag()).await;
    let (status, created) = api
        .call(
            Method::POST,
            "/crm/v3/objects/contacts",
            Some(json!({"properties": {"email": "now@lag.example"}})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        api.search("email", "now@lag.example").await,
        [created["id"].as_str().unwrap()]
    );
    let lagging = HubSpotFakeConfig::default().with_search_lag(Duration::from_secs(5));
    assert_eq!(lagging.search_lag, Duration::from_secs(5));
}
