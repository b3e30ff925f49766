#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
//! The HubSpot fake's wire protocol, exercised over real HTTP against HubSpot's docs.

use crm_testkit::hubspot::{
    HubSpotFake, HubSpotFakeConfig, HubSpotFaults, Limits, PathFamilies, demo,
};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

struct Api {
    fake: HubSpotFake,
    http: reqwest::Client,
    token: String,
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
}

async fn api_with(config: HubSpotFakeConfig) -> Api {
    let fake = HubSpotFake::start(config).await;
    let token = fake.token().to_owned();
    Api {
        fake,
        http: reqwest::Client::new(),
        token,
    }
}

async fn api() -> Api {
    api_with(HubSpotFakeConfig::default()).await
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.fake.base_url()))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }
}

fn is_iso_ms(s: &str) -> bool {
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn records_have_hubspots_shape() {
    let api = api().await;
    let r = api
        .get("/crm/v3/objects/contacts/1001?properties=email,firstname,mobilephone,nonexistent")
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["id"], "1001");
    assert_eq!(v["archived"], false);
    assert!(is_iso_ms(v["createdAt"].as_str().unwrap()), "{v}");
    assert!(is_iso_ms(v["updatedAt"].as_str().unwrap()));
    let p = &v["properties"];
    assert_eq!(p["email"], demo::CUSTOMER_EMAIL);
    assert_eq!(p["hs_object_id"], "1001");
    assert!(p["mobilephone"].is_null(), "requested but unset is null");
    assert!(p.get("nonexistent").is_none());
    assert!(p.get("phone").is_none(), "not requested");
    // Without `properties`: the defaults (firstname, lastname, email) plus system properties.
    let v = api.get("/crm/v3/objects/contacts/1001").await.json();
    let keys: Vec<&str> = v["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname"
        ]
    );
    // Every value is a string.
    let v = api
        .get("/crm/v3/objects/deals/4002?properties=amount,closedate")
        .await
        .json();
    assert_eq!(v["properties"]["amount"], "4800.5");
    assert!(is_iso_ms(v["properties"]["closedate"].as_str().unwrap()));
    // Objects by type id and in any case, and the dated family.
    assert_eq!(api.get("/crm/v3/objects/0-1/1001").await.status, 200);
    assert_eq!(api.get("/crm/v3/objects/CONTACT/1001").await.status, 200);
    assert_eq!(
        api.get("/crm/objects/2026-03/contacts/1001").await.status,
        200
    );
}

#[tokio::test]
async fn every_response_carries_correlation_and_rate_headers() {
    let api = api().await;
    let r = api.get("/crm/v3/objects/contacts/1001").await;
    let cid = r.header("x-hubspot-correlation-id").unwrap().to_owned();
    assert_eq!(cid.len(), 36);
    assert_eq!(r.header("x-hubspot-ratelimit-max"), Some("190"));
    assert_eq!(
        r.header("x-hubspot-ratelimit-interval-milliseconds"),
        Some("10000")
    );
    assert!(r.header("x-hubspot-ratelimit-remaining").is_some());
    assert!(r.header("x-hubspot-ratelimit-daily-remaining").is_some());
    let r = api.get("/crm/v3/objects/contacts/999999").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["category"], "OBJECT_NOT_FOUND");
    assert_eq!(
        r.json()["correlationId"],
        r.header("x-hubspot-correlation-id").unwrap()
    );
    // Search: no window headers (HubSpot's usage guidelines).
    let r = api.post("/crm/v3/objects/contacts/search", json!({})).await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-hubspot-ratelimit-max").is_none());
    assert!(r.header("x-hubspot-correlation-id").is_some());
}

#[tokio::test]
async fn auth_distinguishes_invalid_and_expired_tokens() {
    let mut api = api().await;
    let client = api.fake.oauth_client();
    api.token = "nope".into();
    let r = api.get("/crm/v3/objects/contacts/1001").await;
    assert_eq!(
        (r.status, r.json()["category"].as_str()),
        (401, Some("INVALID_AUTHENTICATION"))
    );
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.as_str()),
        ("refresh_token", client.refresh_token.as_str()),
    ];
    let token: Value = api
        .http
        .post(format!("{}/oauth/v1/token", api.fake.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["expires_in"], 1800);
    assert_eq!(token["token_type"], "bearer");
    api.token = token["access_token"].as_str().unwrap().to_owned();
    let r = api.get("/crm/v3/objects/contacts/1001").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("x-hubspot-ratelimit-daily").is_none(),
        "no daily headers for OAuth"
    );
    api.fake.expire_access_tokens();
    let r = api.get("/crm/v3/objects/contacts/1001").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["category"], "EXPIRED_AUTHENTICATION");
    assert!(r.json()["message"].as_str().unwrap().contains("expired"));
    let bad = [
        ("grant_type", "refresh_token"),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.as_str()),
        ("refresh_token", "stolen"),
    ];
    let r = api
        .http
        .post(format!("{}/oauth/v1/token", api.fake.base_url()))
        .form(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn unique_email_is_case_insensitive_with_hubspots_409() {
    let api = api().await;
    let r = api
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": "JANE.DOE@EXAMPLE.COM"}}),
        )
        .await;
    assert_eq!(r.status, 409);
    let v = r.json();
    assert_eq!(v["message"], "Contact already exists. Existing ID: 1001");
    assert_eq!(v["category"], "CONFLICT");
    assert_eq!(v["status"], "error");
    let r = api
        .get("/crm/v3/objects/contacts/Jane.Doe%40Example.com?idProperty=email")
        .await;
    assert_eq!(r.json()["id"], "1001");
}

#[tokio::test]
async fn validation_errors_have_hubspots_codes() {
    let api = api().await;
    let r = api
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": "bad", "shoe": "44"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["category"], "VALIDATION_ERROR");
    let codes: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["INVALID_EMAIL", "PROPERTY_DOESNT_EXIST"]);
    assert_eq!(v["errors"][1]["context"]["propertyName"][0], "shoe");
    let r = api
        .post(
            "/crm/v3/objects/tickets",
            json!({"properties": {"hs_pipeline_stage": "1", "hs_ticket_priority": "high"}}),
        )
        .await;
    assert_eq!(r.json()["errors"][0]["code"], "INVALID_OPTION");
    let r = api
        .post(
            "/crm/v3/objects/notes",
            json!({"properties": {"hs_note_body": "x"}}),
        )
        .await;
    assert_eq!(
        r.json()["errors"][0]["context"]["propertyName"][0],
        "hs_timestamp"
    );
    let r = api
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"createdate": "1"}}),
        )
        .await;
    assert_eq!(r.json()["errors"][0]["code"], "READ_ONLY_VALUE");
    let r = api
        .call(Method::POST, "/crm/v3/objects/contacts", None)
        .await;
    assert_eq!(r.status, 201, "an empty contact is valid");
}

#[tokio::test]
async fn batches_take_100_and_report_per_item_only_with_trace_ids() {
    let api = api().await;
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"properties": {"email": format!("b{i}@x.io")}}))
        .collect();
    let r = api
        .post(
            "/crm/v3/objects/contacts/batch/create",
            json!({"inputs": many}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["category"], "VALIDATION_ERROR");
    let before = api.fake.records("contacts").len();
    // Without trace ids the first bad input fails the batch and nothing is written.
    let inputs = json!([{"properties": {"email": "ok1@x.io"}}, {"properties": {"email": "bad"}},
                        {"properties": {"email": "jane.doe@example.com"}}]);
    let r = api
        .post(
            "/crm/v3/objects/contacts/batch/create",
            json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"][0]["code"], "INVALID_EMAIL");
    assert_eq!(api.fake.records("contacts").len(), before);
    // With trace ids: 207, one error per bad input, the rest written.
    let inputs = json!([
        {"properties": {"email": "ok1@x.io"}, "objectWriteTraceId": "a"},
        {"properties": {"email": "bad"}, "objectWriteTraceId": "b"},
        {"properties": {"email": "jane.doe@example.com"}, "objectWriteTraceId": "c"}]);
    let r = api
        .post(
            "/crm/v3/objects/contacts/batch/create",
            json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(r.status, 207);
    let v = r.json();
    assert_eq!(v["numErrors"], 2);
    assert_eq!(v["results"][0]["objectWriteTraceId"], "a");
    assert_eq!(v["errors"][0]["context"]["objectWriteTraceId"][0], "b");
    assert_eq!(v["errors"][1]["category"], "CONFLICT");
    assert_eq!(api.fake.records("contacts").len(), before + 1);
    // Upsert: `new` tells created from updated; email upserts never succeed partially.
    let r = api.post("/crm/v3/objects/contacts/batch/upsert", json!({"inputs": [
        {"id": "up@x.io", "idProperty": "email", "properties": {"firstname": "U"}, "objectWriteTraceId": "1"},
        {"id": "JANE.DOE@example.com", "idProperty": "email", "properties": {"jobtitle": "CEO"}, "objectWriteTraceId": "2"}]})).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    // HubSpot does not promise input order: results are matched by their trace id.
    let new = |trace: &str| {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["objectWriteTraceId"] == trace)
            .and_then(|r| r["new"].as_bool())
    };
    assert_eq!((new("1"), new("2")), (Some(true), Some(false)));
    let traces: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["objectWriteTraceId"].as_str().unwrap())
        .collect();
    assert_eq!(traces, ["2", "1"], "the fake answers out of input order");
    let r = api
        .post(
            "/crm/v3/objects/contacts/batch/upsert",
            json!({"inputs": [
        {"id": "up2@x.io", "idProperty": "email", "properties": {}, "objectWriteTraceId": "1"},
        {"id": "bad", "idProperty": "email", "properties": {}, "objectWriteTraceId": "2"}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(api.fake.find("contacts", "email", "up2@x.io").is_none());
    // Batch read reports missing ids in a 207.
    let r = api
        .post(
            "/crm/v3/objects/contacts/batch/read",
            json!({"inputs": [{"id": "1001"}, {"id": "424242"}], "properties": ["email"]}),
        )
        .await;
    assert_eq!(r.status, 207);
    assert_eq!(r.json()["errors"][0]["context"]["ids"][0], "424242");
}

#[tokio::test]
async fn search_filters_sorts_pages_and_caps() {
    // Many searches back to back: lift the 5-per-second bucket for this test.
    let api = api_with(HubSpotFakeConfig {
        extra_contacts: 12,
        limits: Limits {
            search_per_second: 1_000,
            ..Limits::default()
        },
        ..HubSpotFakeConfig::default()
    })
    .await;
    let search = |body: Value| api.post("/crm/v3/objects/contacts/search", body);
    let ids = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let v = search(json!({"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "EQ", "value": "JANE.DOE@example.com"}]}]}))
    .await
    .json();
    assert_eq!(ids(&v), ["1001"]);
    assert_eq!(v["total"], 1);
    let v = search(json!({"filterGroups": [{"filters": [
        {"propertyName": "phone", "operator": "IN", "values": ["+14155550100", "(415) 555-0100"]}]}]})).await.json();
    assert_eq!(ids(&v), ["1001"]);
    let v = search(json!({"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@globex.example"}]},
        {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"}]}]}))
    .await
    .json();
    assert_eq!(ids(&v), ["1003", "1005"]);
    let v = search(json!({"filterGroups": [{"filters": [
        {"propertyName": "associations.company", "operator": "EQ", "value": "3001"}]}],
        "properties": ["email", "mobilephone"]}))
    .await
    .json();
    assert_eq!(ids(&v), ["1001"]);
    assert!(v["results"][0]["properties"]["mobilephone"].is_null());
    // Both sort shapes, paging with integer-as-string `after`.
    let a = search(json!({"sorts": ["-hs_object_id"], "limit": 5}))
        .await
        .json();
    let b = search(
        json!({"sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}], "limit": 5}),
    )
    .await
    .json();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a["paging"]["next"]["after"], "5");
    let next = search(json!({"sorts": ["-hs_object_id"], "limit": 5, "after": "5"}))
        .await
        .json();
    assert!(ids(&next).iter().all(|id| !ids(&a).contains(id)));
    let last = search(json!({"limit": 200})).await.json();
    assert!(last.get("paging").is_none());
    // Caps.
    let f = json!({"propertyName": "email", "operator": "HAS_PROPERTY"});
    for body in [
        json!({"filterGroups": (0..6).map(|_| json!({"filters": [f]})).collect::<Vec<_>>()}),
        json!({"filterGroups": [{"filters": (0..7).map(|_| f.clone()).collect::<Vec<_>>()}]}),
        json!({"filterGroups": (0..4).map(|_| json!({"filters": [f, f, f, f, f]})).collect::<Vec<_>>()}),
        json!({"limit": 201}),
        json!({"after": "10000"}),
        json!({"query": "x".repeat(3001)}),
    ] {
        let r = search(body).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.json()["category"], "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn search_is_eventually_consistent() {
    let api = api().await;
    api.fake
        .set_search_lag(std::time::Duration::from_secs(3600));
    let r = api
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": "late@x.io"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let find = json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "late@x.io"}]}]});
    assert_eq!(
        api.post("/crm/v3/objects/contacts/search", find.clone())
            .await
            .json()["total"],
        0
    );
    assert_eq!(
        api.get("/crm/v3/objects/contacts/late@x.io?idProperty=email")
            .await
            .status,
        200
    );
    api.fake.flush_search_index();
    assert_eq!(
        api.post("/crm/v3/objects/contacts/search", find)
            .await
            .json()["total"],
        1
    );
}

#[tokio::test]
async fn limits_answer_in_both_429_shapes() {
    let api = api_with(HubSpotFakeConfig {
        limits: Limits {
            ten_second_max: 0,
            daily_max: 1_000,
            search_per_second: 0,
            ..Limits::default()
        },
        ..HubSpotFakeConfig::default()
    })
    .await;
    let r = api.get("/crm/v3/objects/contacts/1001").await;
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(
        (v["errorType"].as_str(), v["policyName"].as_str()),
        (Some("RATE_LIMIT"), Some("TEN_SECONDLY_ROLLING"))
    );
    assert_eq!(r.header("x-hubspot-ratelimit-remaining"), Some("0"));
    assert!(r.header("retry-after").is_none());
    let r = api.post("/crm/v3/objects/contacts/search", json!({})).await;
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(v["category"], "RATE_LIMITS");
    assert!(v.get("policyName").is_none());
    assert!(r.header("x-hubspot-ratelimit-max").is_none());
    assert_eq!(api.fake.requests().rate_limited, 2);
}

#[tokio::test]
async fn associations_inline_v4_and_batch() {
    let api = api().await;
    let r = api.post("/crm/v3/objects/notes", json!({
        "properties": {"hs_note_body": "hi", "hs_timestamp": "1700000000000"},
        "associations": [{"to": {"id": "1001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let note = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.json()["properties"]["hs_timestamp"],
        "2023-11-14T22:13:20.000Z"
    );
    let v = api
        .get("/crm/v3/objects/contacts/1001?associations=companies,notes")
        .await
        .json();
    assert_eq!(
        v["associations"]["companies"]["results"][0],
        json!({"id": "3001", "type": "contact_to_company"})
    );
    assert_eq!(
        v["associations"]["companies"]["results"][1]["type"],
        "contact_to_company_unlabeled"
    );
    assert!(
        v["associations"]["notes"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == note.as_str())
    );
    // Wrong type for the pair.
    let r = api
        .call(
            Method::PUT,
            &format!("/crm/v4/objects/notes/{note}/associations/tickets/5001"),
            Some(json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}])),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .call(
            Method::PUT,
            &format!("/crm/v4/objects/notes/{note}/associations/tickets/5001"),
            Some(json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}])),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["toObjectTypeId"], "0-5");
    let r = api
        .post(
            "/crm/v4/associations/tickets/notes/batch/read",
            json!({"inputs": [{"id": "5001"}]}),
        )
        .await;
    let to: Vec<String> = r.json()["results"][0]["to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["toObjectId"].to_string())
        .collect();
    assert!(to.contains(&note));
    assert_eq!(
        r.json()["results"][0]["to"][0]["associationTypes"][0]["typeId"],
        227
    );
    let r = api
        .call(
            Method::DELETE,
            &format!("/crm/v4/objects/notes/{note}/associations/tickets/5001"),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(api.fake.associations("notes", &note, "tickets").is_empty());
    let r = api
        .call(
            Method::PUT,
            &format!("/crm/objects/2026-03/notes/{note}/associations/default/deals/4001"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["results"][0]["associationSpec"]["associationTypeId"],
        214
    );
}

#[tokio::test]
async fn pipelines_have_stages_with_metadata() {
    let api = api().await;
    let v = api.get("/crm/v3/pipelines/tickets").await.json();
    let first = &v["results"][0];
    assert_eq!(first["id"], "0");
    let states: Vec<&str> = first["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["ticketState"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["OPEN", "OPEN", "OPEN", "CLOSED"]);
    assert_eq!(first["createdAt"], "1970-01-01T00:00:00Z");
    let v = api.get("/crm/pipelines/2026-03/deals/default").await.json();
    let won = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "closedwon")
        .unwrap();
    assert_eq!(
        won["metadata"],
        json!({"isClosed": "true", "probability": "1.0"})
    );
}

#[tokio::test]
async fn path_families_can_be_restricted() {
    let api = api_with(HubSpotFakeConfig {
        paths: PathFamilies::V3Only,
        ..HubSpotFakeConfig::default()
    })
    .await;
    assert_eq!(
        api.get("/crm/objects/2026-03/contacts/1001").await.status,
        404
    );
    assert_eq!(api.get("/crm/v3/objects/contacts/1001").await.status, 200);
    let api = api_with(HubSpotFakeConfig {
        paths: PathFamilies::DatedOnly,
        ..HubSpotFakeConfig::default()
    })
    .await;
    assert_eq!(api.get("/crm/v3/objects/contacts/1001").await.status, 404);
}

#[tokio::test]
async fn faults_look_like_hubspots_edge() {
    let api = api().await;
    api.fake.set_faults(HubSpotFaults {
        html_next: 1,
        malformed_next: 1,
        rate_limit_next: 1,
        ..HubSpotFaults::default()
    });
    let r = api.get("/crm/v3/objects/contacts/1001").await;
    assert_eq!(
        (r.status, r.json()["policyName"].as_str()),
        (429, Some("TEN_SECONDLY_ROLLING"))
    );
    // As HubSpot documents its 429s: no Retry-After unless one is asked for.
    assert!(r.header("retry-after").is_none());
    let r = api.get("/crm/v3/objects/contacts/1001").await;
    assert_eq!(r.status, 502);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = api.get("/crm/v3/objects/contacts/1001").await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
    api.fake.set_faults(HubSpotFaults {
        after_commit_next: 1,
        ..HubSpotFaults::default()
    });
    let r = api
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": "ghost@x.io"}}),
        )
        .await;
    assert_eq!(r.status, 502);
    assert!(
        api.fake.find("contacts", "email", "ghost@x.io").is_some(),
        "the write was committed"
    );
    let stats = api.fake.requests();
    assert_eq!((stats.faults_injected, stats.after_commit), (4, 1));
    // The suite's limit answer carries the wait it asks for, as a gateway in front may add.
    use crm_testkit::conformance::FaultInjector;
    api.fake
        .rate_limit_next(1, std::time::Duration::from_millis(1500));
    let r = api.get("/crm/v3/objects/contacts/1001").await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("2")));
}
