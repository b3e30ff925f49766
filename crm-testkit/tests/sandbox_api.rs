#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! The sandbox CRM's wire protocol, exercised over real HTTP as `SANDBOX_API.md` describes it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crm_testkit::sandbox::{Faults, Sandbox, SandboxConfig, demo};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A sandbox plus a client that talks to it.
struct Api {
    sandbox: Sandbox,
    http: reqwest::Client,
}

/// A response, read fully.
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

    fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap().to_owned()
    }

    /// `(field, code)` pairs of the error body.
    fn error_fields(&self) -> Vec<(String, String)> {
        self.json()["error"]["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        (
                            f["field"].as_str().unwrap().to_owned(),
                            f["code"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn ids(&self) -> Vec<String> {
        self.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The target of `Link: <…>; rel="next"`.
    fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        assert!(link.ends_with("; rel=\"next\""), "{link}");
        Some(link.split(['<', '>']).nth(1).unwrap().to_owned())
    }
}

impl Api {
    async fn start() -> Self {
        Self::with(SandboxConfig::default()).await
    }

    async fn with(config: SandboxConfig) -> Self {
        Self {
            sandbox: Sandbox::start(config).await,
            http: reqwest::Client::new(),
        }
    }

    /// Paths starting with `/` are relative to the base URL; others are absolute URLs.
    fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.sandbox.base_url())
        } else {
            path.to_owned()
        }
    }

    async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.sandbox.token());
        if let Some(body) = body {
            req = req.json(body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.send_with(Method::GET, path, None, &[]).await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send_with(Method::POST, path, Some(&body), &[]).await
    }

    async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send_with(Method::PATCH, path, Some(&body), &[]).await
    }

    async fn put(&self, path: &str, body: Value) -> Resp {
        self.send_with(Method::PUT, path, Some(&body), &[]).await
    }

    async fn raw_post(&self, path: &str, body: &'static str) -> Resp {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(self.sandbox.token())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }
}

fn is_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    // 2026-11-24T09:30:00.000Z
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

fn is_uuid_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

// ---------------------------------------------------------------- reading

#[tokio::test]
async fn get_returns_a_flat_record_with_every_field() {
    let api = Api::start().await;
    let r = api
        .get(&format!("/contacts/{}", demo::CUSTOMER_CONTACT_ID))
        .await;
    assert_eq!(r.status, 200);
    assert!(is_uuid_like(r.header("x-request-id").unwrap()));
    let jane = r.json();
    assert_eq!(jane["id"], demo::CUSTOMER_CONTACT_ID);
    assert_eq!(jane["email"], demo::CUSTOMER_EMAIL);
    assert_eq!(jane["phone"], demo::CUSTOMER_PHONE);
    assert_eq!(jane["external_id"], demo::CUSTOMER_EXTERNAL_ID);
    assert_eq!(jane["job_title"], demo::CUSTOMER_JOB_TITLE);
    assert_eq!(jane["loyalty_tier"], "gold");
    assert_eq!(jane["account_id"], demo::CUSTOMER_ACCOUNT_ID);
    assert!(is_timestamp(&jane["created_at"]));
    assert!(is_timestamp(&jane["updated_at"]));
    // Never-set fields are present as null.
    assert_eq!(jane["idempotency_key"], Value::Null);
    assert_eq!(jane.as_object().unwrap().len(), 13);

    let kenji = api
        .get(&format!("/contacts/{}", demo::KENJI_CONTACT_ID))
        .await
        .json();
    assert_eq!(kenji["phone"], Value::Null);
    assert!(kenji.as_object().unwrap().contains_key("account_id"));

    let acme = api
        .get(&format!("/accounts/{}", demo::CUSTOMER_ACCOUNT_ID))
        .await
        .json();
    assert_eq!(acme["name"], demo::CUSTOMER_ACCOUNT_NAME);
}

#[tokio::test]
async fn missing_records_and_paths_are_404() {
    let api = Api::start().await;
    let r = api.get("/contacts/c-999999").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
    assert!(is_uuid_like(r.header("x-request-id").unwrap()));
    assert_eq!(api.get("/widgets").await.status, 404);
    assert_eq!(api.get("/contacts/c-1001/extra").await.status, 404);
    // Percent-encoded segments are decoded before lookup …
    assert_eq!(api.get("/contacts/c%2D1001").await.status, 200);
    // … and an encoded `/` or `?` makes an id no record can have.
    assert_eq!(api.get("/contacts/c-1001%2Fx").await.status, 404);
    assert_eq!(api.get("/contacts/c-1001%3Fx").await.status, 404);
    // Outside the base path.
    let r = api
        .get(&api.url("/contacts").replace("/api/v1", "/api/v2"))
        .await;
    assert_eq!(r.status, 404);
    // A method the path does not serve.
    let r = api
        .send_with(Method::DELETE, "/contacts/c-1001", None, &[])
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, PATCH"));
}

#[tokio::test]
async fn requests_need_the_bearer_token() {
    let api = Api::with(SandboxConfig::default().with_token("s3cret")).await;
    assert_eq!(api.sandbox.token(), "s3cret");
    let url = api.url("/contacts/c-1001");

    let none = api.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("x-request-id"));
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let wrong = api
        .http
        .get(&url)
        .bearer_auth("sandbox-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let basic = api
        .http
        .get(&url)
        .basic_auth("s3cret", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);

    let right = api
        .http
        .get(&url)
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
}

// ---------------------------------------------------------------- writing

#[tokio::test]
async fn create_then_get_with_defaults() {
    let api = Api::start().await;
    let r = api
        .post(
            "/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                   "account_id": demo::CUSTOMER_ACCOUNT_ID}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("c-"));
    assert_eq!(created["created_at"], created["updated_at"]);
    assert_eq!(created["phone"], Value::Null);
    assert_eq!(api.get(&format!("/contacts/{id}")).await.json(), created);

    let t = api
        .post("/tickets", json!({"subject": "Where is my order?"}))
        .await;
    assert_eq!(t.status, 201);
    assert_eq!(t.json()["status"], "new");
    assert!(t.json()["id"].as_str().unwrap().starts_with("t-"));

    let o = api
        .post(
            "/opportunities",
            json!({"name": "Upsell", "amount": 99.5, "close_date": "2027-01-31"}),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.text);
    assert_eq!(o.json()["stage"], "prospecting");
    assert_eq!(o.json()["amount"], 99.5);

    let a = api
        .post(
            "/activities",
            json!({"type": "note", "occurred_at": "2026-05-01T12:00:00+02:00",
                   "contact_id": demo::CUSTOMER_CONTACT_ID}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert!(a.json()["id"].as_str().unwrap().starts_with("act-"));
    assert_eq!(a.json()["occurred_at"], "2026-05-01T10:00:00.000Z");
}

#[tokio::test]
async fn patch_updates_partially_and_null_clears() {
    let api = Api::start().await;
    let before = api
        .sandbox
        .record("contacts", demo::CUSTOMER_CONTACT_ID)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = api
        .patch(
            &format!("/contacts/{}", demo::CUSTOMER_CONTACT_ID),
            json!({"job_title": "COO", "loyalty_tier": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = r.json();
    assert_eq!(after["job_title"], "COO");
    assert_eq!(after["loyalty_tier"], Value::Null);
    assert_eq!(after["email"], demo::CUSTOMER_EMAIL);
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(after["updated_at"].as_str().unwrap() > before["updated_at"].as_str().unwrap());
    assert_eq!(
        api.sandbox
            .record("contacts", demo::CUSTOMER_CONTACT_ID)
            .unwrap(),
        after
    );

    // Required and defaulted fields cannot be cleared.
    let r = api
        .patch(
            &format!("/tickets/{}", demo::OPEN_TICKET_ID),
            json!({"subject": null, "status": null}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_code(), "required");
    assert_eq!(r.error_fields().len(), 2);

    let r = api
        .patch("/contacts/c-424242", json!({"job_title": "x"}))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
}

#[tokio::test]
async fn duplicate_email_is_409_with_existing_id() {
    let api = Api::start().await;
    let shouted = demo::CUSTOMER_EMAIL.to_uppercase();
    let r = api
        .post(
            "/contacts",
            json!({"last_name": "Imposter", "email": shouted}),
        )
        .await;
    assert_eq!(r.status, 409);
    let body = r.json();
    assert_eq!(body["error"]["code"], "duplicate");
    assert_eq!(body["error"]["existing_id"], demo::CUSTOMER_CONTACT_ID);
    assert_eq!(
        r.error_fields(),
        vec![("email".to_owned(), "duplicate".to_owned())]
    );
    assert!(
        !r.text.to_lowercase().contains(demo::CUSTOMER_EMAIL),
        "echoes the value: {}",
        r.text
    );

    let r = api
        .post(
            "/contacts",
            json!({"last_name": "Other", "external_id": demo::CUSTOMER_EXTERNAL_ID}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["existing_id"], demo::CUSTOMER_CONTACT_ID);

    // A PATCH onto another record's email conflicts too; keeping one's own does not.
    let r = api
        .patch(
            &format!("/contacts/{}", demo::UK_CONTACT_ID),
            json!({"email": demo::CUSTOMER_EMAIL}),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = api
        .patch(
            &format!("/contacts/{}", demo::CUSTOMER_CONTACT_ID),
            json!({"email": shouted}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_create() {
    let api = Api::start().await;
    let before = api.sandbox.records("contacts").len();
    let body = json!({"last_name": "Once", "email": "once@example.com"});
    let headers = [("Idempotency-Key", "key-1")];
    let first = api
        .send_with(Method::POST, "/contacts", Some(&body), &headers)
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = api
        .send_with(Method::POST, "/contacts", Some(&body), &headers)
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.json()["id"], first.json()["id"]);
    assert_eq!(api.sandbox.records("contacts").len(), before + 1);

    // Keys are remembered per object path.
    let t = api
        .send_with(
            Method::POST,
            "/tickets",
            Some(&json!({"subject": "Hi"})),
            &headers,
        )
        .await;
    assert_eq!(t.status, 201);

    // Without the header the same body is a plain duplicate.
    let third = api.post("/contacts", body).await;
    assert_eq!(third.status, 409);
}

#[tokio::test]
async fn upsert_creates_then_updates() {
    let api = Api::start().await;
    let path = "/contacts/by-email/new.person%2Btag%40example.com";
    let r = api
        .put(path, json!({"last_name": "Person", "job_title": "CTO"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    assert_eq!(created["email"], "new.person+tag@example.com");
    let r = api.put(path, json!({"job_title": "CEO"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["id"], created["id"]);
    assert_eq!(r.json()["job_title"], "CEO");
    assert_eq!(r.json()["last_name"], "Person");

    // Email keys match case-insensitively; external ids exactly.
    let r = api
        .put(
            "/contacts/by-email/JANE.DOE%40EXAMPLE.COM",
            json!({"job_title": "VP"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], demo::CUSTOMER_CONTACT_ID);
    let r = api
        .put(
            &format!("/contacts/by-external_id/{}", demo::CUSTOMER_EXTERNAL_ID),
            json!({"first_name": "J."}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], demo::CUSTOMER_CONTACT_ID);
    let r = api
        .put(
            "/tickets/by-external_id/zd-1",
            json!({"subject": "From Zendesk"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["external_id"], "zd-1");

    // A create through upsert still needs the required fields.
    let r = api
        .put(
            "/contacts/by-external_id/shop-77",
            json!({"first_name": "No"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.error_fields(),
        vec![("last_name".to_owned(), "required".to_owned())]
    );

    // The key comes from the path, never the body.
    let r = api.put(path, json!({"email": "x@example.com"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_fields()[0].0, "email");

    // Only unique fields are upsert keys.
    let r = api
        .put("/contacts/by-first_name/Jane", json!({"last_name": "x"}))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
    let r = api
        .put("/accounts/by-email/a%40b.c", json!({"name": "x"}))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn validation_errors_name_fields_and_never_values() {
    let api = Api::start().await;

    let r = api
        .post(
            "/contacts",
            json!({"last_name": "X", "shoe_size": 44, "nickname": "secret-nick"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "unknown_field");
    let mut fields: Vec<String> = r.error_fields().into_iter().map(|f| f.0).collect();
    fields.sort();
    assert_eq!(fields, ["nickname", "shoe_size"]);
    assert!(!r.text.contains("secret-nick"));

    let r = api
        .post("/contacts", json!({"last_name": "X", "id": "c-1"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error_fields(),
        vec![("id".to_owned(), "read_only".to_owned())]
    );

    let r = api
        .post(
            "/opportunities",
            json!({"name": "X", "amount": "12000", "currency": 840}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "invalid_type");
    assert_eq!(r.error_fields().len(), 2);

    let r = api
        .post(
            "/tickets",
            json!({"description": "no subject", "priority": "high"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_code(), "required");
    assert_eq!(
        r.error_fields(),
        vec![("subject".to_owned(), "required".to_owned())]
    );

    let r = api.post("/activities", json!({"subject": "no type"})).await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.error_fields(),
        vec![("type".to_owned(), "required".to_owned())]
    );

    let r = api.post("/contacts", json!({"first_name": "only"})).await;
    assert_eq!(
        r.error_fields(),
        vec![("last_name".to_owned(), "required".to_owned())]
    );

    let r = api
        .post(
            "/contacts",
            json!({"last_name": "X", "email": "not-an-email-address"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_code(), "invalid_format");
    assert!(!r.text.contains("not-an-email-address"));

    let r = api
        .post(
            "/tickets",
            json!({"subject": "X", "status": "escalated-to-mars"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_code(), "invalid_value");
    assert_eq!(
        r.error_fields(),
        vec![("status".to_owned(), "invalid_value".to_owned())]
    );
    assert!(!r.text.contains("escalated-to-mars"));

    let r = api
        .post(
            "/tickets",
            json!({"subject": "X", "contact_id": "c-777777", "account_id": "a-777777"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error_code(), "invalid_reference");
    assert_eq!(r.error_fields().len(), 2);
    // A link must point at the right kind of record.
    let r = api
        .post(
            "/tickets",
            json!({"subject": "X", "contact_id": demo::CUSTOMER_ACCOUNT_ID}),
        )
        .await;
    assert_eq!(r.error_code(), "invalid_reference");

    let r = api
        .post(
            "/opportunities",
            json!({"name": "X", "close_date": "31/12/2026"}),
        )
        .await;
    assert_eq!(
        r.error_fields(),
        vec![("close_date".to_owned(), "invalid_format".to_owned())]
    );

    let r = api.raw_post("/contacts", "{\"last_name\": ").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "malformed_json");

    let r = api.raw_post("/contacts", "[1, 2]").await;
    assert_eq!(r.status, 400);

    // Nothing above created anything.
    assert_eq!(api.sandbox.records("contacts").len(), demo::DEMO_CONTACTS);
    assert_eq!(api.sandbox.records("tickets").len(), 2);
}

// ---------------------------------------------------------------- listing

fn bulk(n: usize) -> SandboxConfig {
    SandboxConfig::default()
        .with_demo_data(false)
        .with_extra_contacts(n)
}

#[tokio::test]
async fn cursor_paging_follows_next_cursor_and_link() {
    let api = Api::with(bulk(45)).await;
    let first = api.get("/contacts").await;
    assert_eq!(first.status, 200);
    let body = first.json();
    assert_eq!(body["total"], 45);
    assert_eq!(first.ids().len(), 20, "default limit is 20");
    assert_eq!(first.ids()[0], "c-1001");
    assert_eq!(body["data"][0]["email"], demo::bulk_email(1));
    let cursor = body["next_cursor"].as_str().unwrap().to_owned();

    // The Link header is absolute, on the server's own host:port.
    let link = first.next_link().unwrap();
    let base = api.sandbox.base_url();
    assert!(
        link.starts_with(&format!("{base}/contacts?")),
        "{link} vs {base}"
    );
    assert!(link.contains(&format!("cursor={cursor}")));

    // next_cursor by hand …
    let second = api
        .get(&format!("/contacts?limit=20&cursor={cursor}"))
        .await;
    assert_eq!(second.ids()[0], "c-1021");

    // … and the Link chain reach every record exactly once.
    let mut seen = HashSet::new();
    let mut next = Some(api.url("/contacts?limit=7"));
    let mut pages = 0;
    while let Some(url) = next {
        let page = api.get(&url).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for id in page.ids() {
            assert!(seen.insert(id));
        }
        let body = page.json();
        assert_eq!(body["next_cursor"].is_null(), page.next_link().is_none());
        next = page.next_link();
        pages += 1;
    }
    assert_eq!(seen.len(), 45);
    assert_eq!(pages, 7);

    let bad = api.get("/contacts?cursor=not-a-cursor").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_code(), "invalid_parameter");
}

#[tokio::test]
async fn offset_paging() {
    let api = Api::with(bulk(45)).await;
    let r = api.get("/contacts?offset=0&limit=20").await;
    let link = r.next_link().unwrap();
    assert!(link.contains("offset=20"), "{link}");
    assert!(link.contains("limit=20"), "{link}");
    assert!(!r.json()["next_cursor"].is_null());
    let r = api.get(&link).await;
    assert_eq!(r.ids()[0], "c-1021");
    let r = api.get("/contacts?offset=40&limit=20").await;
    assert_eq!(r.ids().len(), 5);
    assert!(r.next_link().is_none());
    assert!(r.json()["next_cursor"].is_null());
    assert_eq!(r.json()["total"], 45);
    let r = api.get("/contacts?offset=100").await;
    assert_eq!(r.ids().len(), 0);
}

#[tokio::test]
async fn page_paging() {
    let api = Api::with(bulk(45)).await;
    let r = api.get("/contacts?page=2&per_page=20").await;
    assert_eq!(r.ids().len(), 20);
    assert_eq!(r.ids()[0], "c-1021");
    let link = r.next_link().unwrap();
    assert!(
        link.contains("page=3") && link.contains("per_page=20"),
        "{link}"
    );
    let r = api.get(&link).await;
    assert_eq!(r.ids().len(), 5);
    assert!(r.next_link().is_none());
    assert_eq!(api.get("/contacts?page=0").await.status, 400);
    assert_eq!(api.get("/contacts?page=1&cursor=6f30").await.status, 400);
}

#[tokio::test]
async fn limit_bounds() {
    let api = Api::with(bulk(120)).await;
    assert_eq!(api.get("/contacts?limit=100").await.ids().len(), 100);
    let r = api.get("/contacts?limit=101").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "invalid_parameter");
    assert_eq!(api.get("/contacts?limit=0").await.status, 400);
    assert_eq!(api.get("/contacts?limit=ten").await.status, 400);
    assert_eq!(api.get("/contacts?per_page=500").await.status, 400);
}

#[tokio::test]
async fn filters_by_email_phone_links_and_sets() {
    let api = Api::start().await;
    let ids = |r: Resp| r.ids();

    // Email is case-insensitive, both ways round.
    assert_eq!(
        ids(api.get("/contacts?email=JANE.DOE%40Example.COM").await),
        [demo::CUSTOMER_CONTACT_ID]
    );
    assert_eq!(
        ids(api.get("/contacts?email=kenji.sato%40example.com").await),
        [demo::KENJI_CONTACT_ID]
    );

    // Phone compares digits, with or without the country code.
    let e164 = api
        .http
        .get(api.url("/contacts"))
        .bearer_auth(api.sandbox.token())
        .query(&[("phone", demo::CUSTOMER_PHONE_E164)])
        .send()
        .await
        .unwrap();
    let e164: Value = e164.json().await.unwrap();
    assert_eq!(e164["data"][0]["id"], demo::CUSTOMER_CONTACT_ID);
    assert_eq!(e164["total"], 1);
    assert_eq!(
        ids(api.get("/contacts?phone=4155550100").await),
        [demo::CUSTOMER_CONTACT_ID]
    );
    assert_eq!(
        ids(api.get("/contacts?phone=%2B442079460958").await),
        [demo::UK_CONTACT_ID]
    );
    assert!(ids(api.get("/contacts?phone=%2B12079460958").await).is_empty());

    assert_eq!(
        ids(api.get("/contacts?external_id=shop-42").await),
        [demo::CUSTOMER_CONTACT_ID]
    );
    assert_eq!(
        ids(api
            .get(&format!(
                "/tickets?contact_id={}",
                demo::CUSTOMER_CONTACT_ID
            ))
            .await),
        [demo::OPEN_TICKET_ID, demo::SOLVED_TICKET_ID]
    );
    assert_eq!(
        ids(api
            .get("/tickets?contact_id=c-1001&status_in=new,open,pending")
            .await),
        [demo::OPEN_TICKET_ID]
    );
    assert_eq!(
        ids(api
            .get("/opportunities?stage_in=prospecting,proposal,negotiation")
            .await),
        [demo::OPEN_OPPORTUNITY_ID]
    );
    assert_eq!(
        ids(api.get("/contacts?id_in=c-1003,c-1001").await),
        [demo::CUSTOMER_CONTACT_ID, demo::MARIA_CONTACT_ID]
    );
    assert_eq!(
        ids(api.get("/opportunities?amount=12000").await),
        [demo::OPEN_OPPORTUNITY_ID]
    );
    assert_eq!(ids(api.get("/leads?status=new").await), [demo::LEAD_ID]);

    let r = api.get("/contacts?favourite_colour=blue").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "invalid_parameter");
    assert!(!r.text.contains("blue"));
}

#[tokio::test]
async fn sorting() {
    let api = Api::start().await;
    assert_eq!(
        api.get("/activities?contact_id=c-1001&sort=-occurred_at")
            .await
            .ids(),
        [
            demo::CHAT_ACTIVITY_ID,
            demo::CALL_ACTIVITY_ID,
            demo::NOTE_ACTIVITY_ID
        ]
    );
    assert_eq!(
        api.get("/activities?sort=occurred_at").await.ids(),
        [
            demo::NOTE_ACTIVITY_ID,
            demo::CALL_ACTIVITY_ID,
            demo::CHAT_ACTIVITY_ID
        ]
    );
    assert_eq!(
        api.get("/opportunities?sort=-amount").await.ids(),
        [demo::OPEN_OPPORTUNITY_ID, demo::WON_OPPORTUNITY_ID]
    );
    // Unset values sort last in either direction.
    let by_phone = api.get("/contacts?sort=-phone").await.ids();
    assert_eq!(by_phone.last().unwrap(), demo::KENJI_CONTACT_ID);
    assert_eq!(api.get("/contacts?sort=-nope").await.status, 400);
}

#[tokio::test]
async fn agent_edits_show_up_in_updated_since_and_newest_first() {
    let api = Api::start().await;
    let t0 = api.sandbox.record("tickets", demo::OPEN_TICKET_ID).unwrap()["updated_at"].clone();
    let since = api.sandbox.records("activities").last().unwrap()["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let mut fields = serde_json::Map::new();
    fields.insert("status".into(), json!("solved"));
    assert!(
        api.sandbox
            .update_record("tickets", demo::OPEN_TICKET_ID, fields)
    );
    let t1 = api.sandbox.record("tickets", demo::OPEN_TICKET_ID).unwrap();
    assert_eq!(t1["status"], "solved");
    assert!(t1["updated_at"].as_str().unwrap() > t0.as_str().unwrap());

    // Only the edited record changed after the seed finished.
    let after = api
        .http
        .get(api.url("/tickets"))
        .bearer_auth(api.sandbox.token())
        .query(&[("updated_since", since.as_str())])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let changed: Vec<&str> = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(changed, [demo::OPEN_TICKET_ID]);
    assert_eq!(
        api.get("/tickets?sort=-updated_at").await.ids()[0],
        demo::OPEN_TICKET_ID
    );
    assert_eq!(
        api.get("/tickets?status_in=new,open,pending")
            .await
            .ids()
            .len(),
        0
    );
    assert_eq!(
        api.get("/tickets?updated_since=yesterday").await.status,
        400
    );

    // Invalid edits and missing records are refused.
    let mut bad = serde_json::Map::new();
    bad.insert("status".into(), json!("vanished"));
    assert!(
        !api.sandbox
            .update_record("tickets", demo::OPEN_TICKET_ID, bad)
    );
    assert!(
        !api.sandbox
            .update_record("tickets", "t-1", serde_json::Map::new())
    );
    assert!(
        !api.sandbox
            .update_record("widgets", "w-1", serde_json::Map::new())
    );
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn rate_limit_storm() {
    let api = Api::start().await;
    api.sandbox.set_faults(Faults {
        rate_limit_next: 2,
        retry_after_secs: 7,
        ..Faults::default()
    });
    for _ in 0..2 {
        let r = api.get("/contacts/c-1001").await;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("7"));
        assert_eq!(r.error_code(), "rate_limited");
        assert!(r.header("x-request-id").is_some());
    }
    assert_eq!(api.get("/contacts/c-1001").await.status, 200);
    let stats = api.sandbox.requests();
    assert_eq!(stats.rate_limited, 2);
    assert_eq!(stats.total, 3);
    assert_eq!(stats.get, 3);
}

#[tokio::test]
async fn html_and_malformed_bodies() {
    let api = Api::start().await;
    api.sandbox.set_faults(Faults {
        html_next: 1,
        malformed_next: 1,
        ..Faults::default()
    });
    let html = api.get("/contacts").await;
    assert_eq!(html.status, 502);
    assert!(
        html.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(html.text.contains("<html>"));

    let malformed = api.post("/contacts", json!({"last_name": "Never"})).await;
    assert_eq!(malformed.status, 200);
    assert!(
        malformed
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(serde_json::from_str::<Value>(&malformed.text).is_err());
    // The request never reached the CRM.
    assert_eq!(api.sandbox.records("contacts").len(), demo::DEMO_CONTACTS);

    assert_eq!(api.get("/contacts").await.status, 200);
    assert_eq!(api.sandbox.requests().faults_injected, 2);
}

#[tokio::test]
async fn unavailable_fault_happens_before_the_write() {
    let api = Api::start().await;
    api.sandbox.set_faults(Faults {
        fail_rate: 1.0,
        after_commit_share: 0.0,
        ..Faults::default()
    });
    let r = api
        .post(
            "/contacts",
            json!({"last_name": "Lost", "email": "lost@example.com"}),
        )
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.error_code(), "internal");
    assert_eq!(api.get("/contacts/c-1001").await.status, 503);
    assert_eq!(api.sandbox.records("contacts").len(), demo::DEMO_CONTACTS);

    api.sandbox.set_faults(Faults::default());
    assert_eq!(
        api.get("/contacts?email=lost%40example.com")
            .await
            .ids()
            .len(),
        0
    );
}

#[tokio::test]
async fn after_commit_fault_applies_the_write_then_502s() {
    let api = Api::start().await;
    api.sandbox.set_faults(Faults {
        fail_rate: 1.0,
        after_commit_share: 1.0,
        ..Faults::default()
    });
    let body = json!({"last_name": "Ghost", "email": "ghost@example.com"});
    let headers = [("Idempotency-Key", "ghost-1")];
    let r = api
        .send_with(Method::POST, "/contacts", Some(&body), &headers)
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.error_code(), "internal");
    // Reads never commit anything, so they get the plain 503.
    assert_eq!(api.get("/contacts").await.status, 503);

    let stored = api.sandbox.records("contacts");
    assert_eq!(stored.len(), demo::DEMO_CONTACTS + 1);
    let ghost = stored.last().unwrap();
    assert_eq!(ghost["email"], "ghost@example.com");
    let stats = api.sandbox.requests();
    assert_eq!((stats.after_commit, stats.faults_injected), (1, 2));

    // A retry with the same key replays instead of duplicating.
    api.sandbox.set_faults(Faults::default());
    let retry = api
        .send_with(Method::POST, "/contacts", Some(&body), &headers)
        .await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.json()["id"], ghost["id"]);
    // Without the key, the retry is a duplicate pointing at the committed record.
    let again = api.post("/contacts", body).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error"]["existing_id"], ghost["id"]);
}

#[tokio::test]
async fn seeded_faults_are_deterministic() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let api = Api::start().await;
        api.sandbox.set_faults(Faults {
            fail_rate: 0.5,
            seed,
            ..Faults::default()
        });
        let mut out = Vec::new();
        for _ in 0..16 {
            out.push(api.get("/contacts/c-1001").await.status);
        }
        out
    }
    let a = statuses(42).await;
    assert_eq!(a, statuses(42).await);
    assert!(a.contains(&200) && a.contains(&503), "{a:?}");
}

#[tokio::test]
async fn latency_is_added() {
    let api = Api::start().await;
    api.sandbox.set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(api.get("/contacts/c-1001").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn conformance_fault_injector() {
    use crm_testkit::conformance::FaultInjector;
    let api = Api::start().await;
    api.sandbox.rate_limit_next(1, Duration::from_millis(1500));
    let r = api.get("/contacts/c-1001").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    api.sandbox.html_next(5);
    api.sandbox.malformed_next(5);
    assert_eq!(api.get("/contacts/c-1001").await.status, 502);
    api.sandbox.clear();
    assert_eq!(api.get("/contacts/c-1001").await.status, 200);
    api.sandbox.malformed_next(1);
    let r = api.get("/contacts/c-1001").await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
}

// ---------------------------------------------------------------- server

#[tokio::test]
async fn start_on_a_fixed_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sandbox = Sandbox::start_on(port, SandboxConfig::default())
        .await
        .unwrap();
    assert_eq!(
        sandbox.base_url(),
        format!("http://127.0.0.1:{port}/api/v1")
    );
    let r = reqwest::Client::new()
        .get(format!("{}/contacts/c-1001", sandbox.base_url()))
        .bearer_auth(sandbox.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The port is now taken.
    assert!(
        Sandbox::start_on(port, SandboxConfig::default())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn request_stats_count_methods() {
    let api = Api::with(SandboxConfig::default().with_demo_data(false)).await;
    assert!(api.sandbox.records("contacts").is_empty());
    api.get("/contacts").await;
    api.post("/contacts", json!({"last_name": "A"})).await;
    api.patch("/contacts/c-1001", json!({"first_name": "B"}))
        .await;
    api.put("/contacts/by-external_id/e-1", json!({"last_name": "C"}))
        .await;
    let stats = api.sandbox.requests();
    assert_eq!(
        (stats.total, stats.get, stats.post, stats.patch, stats.put),
        (4, 1, 1, 1, 1)
    );
    assert_eq!(stats.faults_injected, 0);
}
