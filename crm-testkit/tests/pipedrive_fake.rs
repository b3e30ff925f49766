#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! The Pipedrive fake's wire protocol, exercised over real HTTP against Pipedrive's docs.

use std::collections::BTreeSet;
use std::time::Duration;

use crm_core::ObjectKind;
use crm_testkit::conformance::{FaultInjector, LostAnswer};
use crm_testkit::pipedrive::{
    Entity, Limits, PipedriveFake, PipedriveFakeConfig, PipedriveFaults, demo,
};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

struct Api {
    fake: PipedriveFake,
    http: reqwest::Client,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

async fn api_with(config: PipedriveFakeConfig) -> Api {
    Api {
        fake: PipedriveFake::start(config).await,
        http: reqwest::Client::new(),
    }
}

async fn api() -> Api {
    api_with(PipedriveFakeConfig::default()).await
}

impl Api {
    async fn send(&self, req: reqwest::RequestBuilder, body: Option<Value>) -> Resp {
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let r = req.send().await.unwrap();
        Resp {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            text: r.text().await.unwrap(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let req = self
            .http
            .request(method, format!("{}{path}", self.fake.base_url()))
            .header("x-api-token", self.fake.api_token());
        self.send(req, body).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }
}

#[tokio::test]
async fn requests_authenticate_by_header_query_or_nothing() {
    let api = api().await;
    let path = format!("/api/v2/persons/{}", demo::CUSTOMER_PERSON_ID);
    assert_eq!(api.get(&path).await.status, 200);
    let url = format!("{}{path}", api.fake.base_url());
    let legacy = api
        .send(
            api.http
                .get(format!("{url}?api_token={}", api.fake.api_token())),
            None,
        )
        .await;
    assert_eq!(legacy.status, 200);
    for req in [
        api.http.get(&url),
        api.http.get(&url).header("x-api-token", "wrong"),
    ] {
        let r = api.send(req, None).await;
        assert_eq!(r.status, 401);
        let b = r.json();
        assert_eq!(b["success"], false);
        assert_eq!(b["errorCode"], 401);
        assert_eq!(b["error"], "unauthorized access");
        assert!(b["error_info"].is_string());
    }
}

#[tokio::test]
async fn a_person_has_labelled_emails_phones_and_hashed_custom_fields() {
    let api = api().await;
    let r = api
        .get(&format!("/api/v2/persons/{}", demo::CUSTOMER_PERSON_ID))
        .await;
    assert_eq!(r.status, 200);
    let b = r.json();
    assert_eq!(b["success"], true);
    let p = &b["data"];
    assert_eq!(p["id"], 101);
    assert_eq!(p["name"], demo::CUSTOMER_NAME);
    assert_eq!(p["first_name"], "Jane");
    assert_eq!(p["last_name"], "Doe");
    assert_eq!(p["org_id"], 11);
    assert_eq!(p["emails"].as_array().unwrap().len(), 2);
    assert_eq!(
        p["emails"][0],
        json!({"value": demo::CUSTOMER_EMAIL, "primary": true, "label": "work"})
    );
    assert_eq!(p["phones"][1]["label"], "mobile");
    assert_eq!(
        p["custom_fields"][demo::EXTERNAL_ID_FIELD],
        demo::CUSTOMER_EXTERNAL_ID
    );
    assert_eq!(demo::EXTERNAL_ID_FIELD.len(), 40);
    assert!(chrono::DateTime::parse_from_rfc3339(p["update_time"].as_str().unwrap()).is_ok());
    // Rate headers on every answer; the daily write allowance only for API tokens.
    assert_eq!(r.header("x-ratelimit-limit"), Some("80"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("79"));
    assert_eq!(r.header("x-ratelimit-reset"), Some("2"));
    assert_eq!(r.header("x-daily-requests-left"), Some("10000"));
    let missing = api.get("/api/v2/persons/999999").await;
    assert_eq!(
        (missing.status, missing.error()),
        (404, "Person not found".into())
    );
    let unknown = api.get("/api/v2/tickets").await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn v2_lists_page_by_cursor_and_filter() {
    let api = api_with(PipedriveFakeConfig {
        extra_persons: 7,
        ..PipedriveFakeConfig::default()
    })
    .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v2/persons?limit=3&cursor={c}"),
            None => "/api/v2/persons?limit=3".into(),
        };
        let b = api.get(&path).await.json();
        pages += 1;
        seen.extend(
            b["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_u64().unwrap()),
        );
        match b["additional_data"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), demo::DEMO_PERSONS + 7);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), seen.len());
    assert_eq!(pages, 4);
    assert_eq!(api.get("/api/v2/persons?limit=501").await.status, 400);
    assert_eq!(api.get("/api/v2/persons?cursor=%%%").await.status, 400);

    let ids = |r: Resp| -> Vec<u64> {
        r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        ids(api.get("/api/v2/deals?person_id=101").await),
        [201, 203, 206]
    );
    assert_eq!(
        ids(api.get("/api/v2/deals?org_id=11&status=open").await),
        [201, 202]
    );
    assert_eq!(
        ids(api
            .get("/api/v2/deals?status=open&sort_by=add_time&sort_direction=desc")
            .await),
        [206, 205, 202, 201]
    );
    assert_eq!(
        ids(api.get("/api/v2/activities?person_id=101&done=false").await),
        [302]
    );
    assert_eq!(ids(api.get("/api/v2/persons?org_id=11").await), [101, 104]);
}

#[tokio::test]
async fn writes_follow_pipedrives_validation_and_name_the_field() {
    let api = api().await;
    let cases = [
        (json!({"emails": [{"value": "a@b.example"}]}), "name"),
        (json!({"name": "X", "email": "a@b.example"}), "email"),
        (json!({"name": "X", "org_id": 999}), "org_id"),
        (json!({"name": "X", "emails": ["a@b.example"]}), "emails"),
        (
            json!({"name": "X", "custom_fields": {"nope": 1}}),
            "custom_fields.nope",
        ),
    ];
    for (body, field) in cases {
        let r = api.post("/api/v2/persons", body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(
            r.error()
                .starts_with(&format!("Validation failed: {field}:")),
            "{body}: {}",
            r.error()
        );
    }
    let r = api
        .post(
            "/api/v2/persons",
            json!({"name": "Ana Lima", "emails": [{"value": "ana@lima.example"},
                {"value": "ana@home.example", "label": "home"}],
                "custom_fields": {demo::EXTERNAL_ID_FIELD: "shop-77"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let p = r.json()["data"].clone();
    assert_eq!(p["emails"][0]["primary"], true);
    assert_eq!(p["emails"][1]["primary"], false);
    let id = p["id"].as_u64().unwrap();
    let r = api
        .call(
            Method::PATCH,
            &format!("/api/v2/persons/{id}"),
            Some(json!({"job_title": "CTO"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let p = r.json()["data"].clone();
    assert_eq!(
        (
            p["job_title"].as_str(),
            p["custom_fields"][demo::EXTERNAL_ID_FIELD].as_str()
        ),
        (Some("CTO"), Some("shop-77"))
    );
    // Activities: the person becomes the primary participant; types are the company's.
    let r = api
        .post(
            "/api/v2/activities",
            json!({"type": "call", "person_id": id, "due_date": "2030-01-02"}),
        )
        .await;
    let a = r.json()["data"].clone();
    assert_eq!(
        a["participants"],
        json!([{"person_id": id, "primary": true}])
    );
    assert_eq!(a["subject"], "Call");
    let r = api
        .post("/api/v2/activities", json!({"type": "chat"}))
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .post("/api/v2/deals", json!({"title": "X", "status": "closed"}))
        .await;
    assert!(r.error().starts_with("Validation failed: status:"));
    let gone = api
        .call(Method::DELETE, &format!("/api/v2/persons/{id}"), None)
        .await;
    assert_eq!(gone.json()["data"]["id"], id);
    assert_eq!(api.get(&format!("/api/v2/persons/{id}")).await.status, 404);
}

#[tokio::test]
async fn search_matches_emails_phones_and_custom_fields_and_lags_behind_writes() {
    let api = api().await;
    let found = |r: Resp| -> Vec<u64> {
        let b = r.json();
        b["data"]["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{b}"))
            .iter()
            .map(|i| i["item"]["id"].as_u64().unwrap())
            .collect()
    };
    let by_email = api
        .get("/api/v2/persons/search?term=JANE.DOE%40EXAMPLE.COM&fields=email&exact_match=true")
        .await;
    let b = by_email.json();
    assert_eq!(
        b["data"]["items"][0]["item"]["emails"][1],
        demo::CUSTOMER_HOME_EMAIL
    );
    assert_eq!(
        b["data"]["items"][0]["item"]["organization"]["name"],
        demo::CUSTOMER_ORG_NAME
    );
    assert_eq!(found(by_email), [101]);
    assert_eq!(
        found(
            api.get("/api/v2/persons/search?term=%2B14155550100&fields=phone&exact_match=true")
                .await
        ),
        [101]
    );
    assert_eq!(
        found(
            api.get("/api/v2/persons/search?term=shop-42&fields=custom_fields&exact_match=true")
                .await
        ),
        [101]
    );
    assert_eq!(
        found(
            api.get("/api/v2/persons/search?term=sato&fields=email")
                .await
        ),
        [104]
    );
    assert_eq!(api.get("/api/v2/persons/search?term=a").await.status, 400);
    assert_eq!(
        api.get("/api/v2/persons/search?term=ab&fields=title")
            .await
            .status,
        400
    );
    assert_eq!(
        found(api.get("/api/v2/organizations/search?term=acme").await),
        [11]
    );
    assert_eq!(
        found(api.get("/api/v2/deals/search?term=renewal").await),
        [201]
    );

    api.fake.set_search_lag(Duration::from_secs(60));
    let r = api
        .post(
            "/api/v2/persons",
            json!({"name": "Late Comer", "emails": [{"value": "late@x.example"}]}),
        )
        .await;
    let id = r.json()["data"]["id"].as_u64().unwrap();
    let search = "/api/v2/persons/search?term=late%40x.example&fields=email&exact_match=true";
    assert!(found(api.get(search).await).is_empty());
    // Reads by id see it at once.
    assert_eq!(api.get(&format!("/api/v2/persons/{id}")).await.status, 200);
    api.fake.flush_search_index();
    assert_eq!(found(api.get(search).await), [id]);
    assert_eq!(api.fake.requests().search, 10);
}

#[tokio::test]
async fn leads_and_notes_are_v1_with_offset_paging() {
    let api = api().await;
    let r = api.post("/v1/leads", json!({"title": "Chat lead"})).await;
    assert!(
        r.error().starts_with("Validation failed: person_id:"),
        "{}",
        r.text
    );
    let r = api
        .post(
            "/v1/leads",
            json!({"title": "Chat lead", "person_id": 103, demo::LEAD_SOURCE_FIELD: "chatbot",
                "value": {"amount": 500, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let lead = r.json()["data"].clone();
    let id = lead["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);
    assert_eq!(lead[demo::LEAD_SOURCE_FIELD], "chatbot");
    assert_eq!(lead["source_name"], "API");
    let r = api
        .call(
            Method::PATCH,
            &format!("/api/v1/leads/{id}"),
            Some(json!({"title": "Hot lead"})),
        )
        .await;
    assert_eq!(r.json()["data"]["title"], "Hot lead");
    let b = api.get("/v1/leads?person_id=103&limit=1").await.json();
    assert_eq!(b["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        b["additional_data"]["pagination"],
        json!({"start": 0, "limit": 1, "more_items_in_collection": true, "next_start": 1})
    );
    assert!(api.get("/api/v2/leads").await.status == 404);

    let r = api.post("/v1/notes", json!({"content": "orphan"})).await;
    assert_eq!(r.status, 400);
    let r = api
        .post(
            "/v1/notes",
            json!({"content": "Called back", "person_id": 101}),
        )
        .await;
    assert_eq!(r.status, 201);
    let note = r.json()["data"].clone();
    assert_eq!(note["person"]["name"], demo::CUSTOMER_NAME);
    assert!(
        chrono::NaiveDateTime::parse_from_str(
            note["add_time"].as_str().unwrap(),
            "%Y-%m-%d %H:%M:%S"
        )
        .is_ok()
    );
    let nid = note["id"].as_u64().unwrap();
    let r = api
        .call(
            Method::PUT,
            &format!("/v1/notes/{nid}"),
            Some(json!({"content": "Called back twice"})),
        )
        .await;
    assert_eq!(r.json()["data"]["content"], "Called back twice");
    let b = api
        .get("/v1/notes?person_id=101&sort=add_time%20DESC")
        .await
        .json();
    let ids: Vec<u64> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [nid, 402, 401]);
    // A note's creation time may be set; a malformed one is refused.
    let r = api
        .post(
            "/v1/notes",
            json!({"content": "Back-dated", "person_id": 101, "add_time": "2020-01-02 03:04:05"}),
        )
        .await;
    assert_eq!(r.json()["data"]["add_time"], "2020-01-02 03:04:05");
    let r = api
        .post(
            "/v1/notes",
            json!({"content": "Bad time", "person_id": 101, "add_time": "2020-01-02T03:04:05Z"}),
        )
        .await;
    assert!(r.error().starts_with("Validation failed: add_time:"));
    let fields = api.get("/v1/personFields").await.json();
    assert!(
        fields["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == demo::EXTERNAL_ID_FIELD)
    );
}

#[tokio::test]
async fn the_burst_window_and_the_daily_budget_answer_429() {
    let api = api_with(PipedriveFakeConfig {
        limits: Limits {
            burst: 3,
            ..Limits::default()
        },
        ..PipedriveFakeConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(api.get("/api/v2/persons/101").await.status, 200);
    }
    let r = api.get("/api/v2/persons/101").await;
    assert_eq!(r.status, 429);
    assert_eq!(
        (r.json()["errorCode"].as_u64(), r.error()),
        (Some(429), "Request over limit".into())
    );
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert!(
        r.header("x-ratelimit-reset")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(api.fake.requests().rate_limited, 1);

    // A budget of 25 tokens: two v2 searches (20 each) do not fit.
    let api = api_with(PipedriveFakeConfig {
        limits: Limits {
            daily_tokens: 25,
            ..Limits::default()
        },
        ..PipedriveFakeConfig::default()
    })
    .await;
    assert_eq!(
        api.get("/api/v2/persons/search?term=jane").await.status,
        200
    );
    assert_eq!(api.fake.tokens_spent(), 20);
    let r = api.get("/api/v2/persons/search?term=jane").await;
    assert_eq!(r.status, 429);
    assert_eq!(api.get("/api/v2/persons/101").await.status, 200);
}

#[tokio::test]
async fn injected_faults_use_pipedrives_shapes_and_after_commit_writes_land() {
    let api = api().await;
    api.fake.set_faults(PipedriveFaults {
        rate_limit_next: 1,
        retry_after_secs: 3,
        ..Default::default()
    });
    let r = api.get("/api/v2/persons/101").await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
    api.fake.html_next(1);
    let r = api.get("/api/v2/persons/101").await;
    assert_eq!(r.status, 502);
    assert!(r.text.contains("502 Bad Gateway"));
    api.fake.malformed_next(1);
    let r = api.get("/api/v2/persons/101").await;
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
    api.fake.after_commit_next(1, LostAnswer::ServerError);
    let r = api
        .post(
            "/api/v2/deals",
            json!({"title": "Lost answer cc0042", "person_id": 101}),
        )
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(api.fake.count_marked(ObjectKind::Opportunity, "cc0042"), 1);
    assert_eq!(api.fake.count_marked(ObjectKind::Ticket, "cc0042"), 0);
    let a = api.fake.arrivals();
    assert_eq!(a.iter().filter(|a| a.limited).count(), 1);
    assert!(a.last().unwrap().answer_lost);
    assert_eq!(api.fake.requests().after_commit, 1);
}

#[tokio::test]
async fn oauth_tokens_come_from_the_refresh_grant_with_basic_client_auth() {
    let api = api().await;
    let app = api.fake.oauth_app();
    let token_url = format!("{}/oauth/token", api.fake.base_url());
    let grant = |refresh: &str, secret: &str| {
        api.http
            .post(&token_url)
            .basic_auth(&app.client_id, Some(secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
    };
    assert_eq!(
        api.send(grant(&app.refresh_token, "wrong"), None)
            .await
            .status,
        401
    );
    let r = api
        .send(grant(&app.refresh_token, &app.client_secret), None)
        .await;
    assert_eq!(r.status, 200);
    let t = r.json();
    assert_eq!(
        (t["token_type"].as_str(), t["expires_in"].as_u64()),
        (Some("Bearer"), Some(3599))
    );
    let access = t["access_token"].as_str().unwrap().to_owned();
    let url = format!("{}/api/v2/persons/101", api.fake.base_url());
    assert_eq!(
        api.send(api.http.get(&url).bearer_auth(&access), None)
            .await
            .status,
        200
    );
    // Refresh tokens rotate: the first one is spent.
    assert_eq!(
        api.send(grant(&app.refresh_token, &app.client_secret), None)
            .await
            .status,
        400
    );
    let next = t["refresh_token"].as_str().unwrap();
    assert_eq!(
        api.send(grant(next, &app.client_secret), None).await.status,
        200
    );
    api.fake.expire_access_tokens();
    let r = api
        .send(api.http.get(&url).bearer_auth(&access), None)
        .await;
    assert_eq!(r.status, 401);
    // OAuth answers carry no daily write allowance.
    assert_eq!(r.header("x-daily-requests-left"), None);
    assert_eq!(api.fake.tokens_issued(), 2);
}

#[tokio::test]
async fn ui_changes_produce_webhooks_v2_payloads() {
    let api = api().await;
    let mut fields = serde_json::Map::new();
    fields.insert("job_title".into(), json!("COO"));
    assert!(
        api.fake
            .update_record(Entity::Persons, demo::CUSTOMER_PERSON_ID, fields)
    );
    let id = api
        .fake
        .create_record(
            Entity::Deals,
            json!({"title": "Phone order"}).as_object().unwrap().clone(),
        )
        .unwrap();
    let events = api.fake.take_webhook_events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["meta"]["action"], "change");
    assert_eq!(events[0]["meta"]["entity"], "person");
    assert_eq!(events[0]["meta"]["version"], "2.0");
    assert_eq!(events[0]["previous"]["job_title"], "Head of Operations");
    assert_eq!(events[0]["data"]["job_title"], "COO");
    assert_eq!(events[1]["meta"]["entity_id"], id);
    assert!(api.fake.take_webhook_events().is_empty());
    // UI changes are not API requests.
    assert_eq!(api.fake.requests().total, 0);
}
