//! Golden tests: every HubSpot body of the recorded exchanges (grouparoo, MIT) and of the
//! documented error examples, parsed into the right result or error kind. Fixtures and their
//! attribution: `tests/fixtures/README.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_core::limits::{Bucket, RateLimiter};
use crm_core::raw::http::{ErrorParser, ErrorResponse};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use crm_core::retry::RetryPolicy;
use crm_core::{
    Account, Condition, Contact, Crm, Error, ErrorKind, FieldError, Filter, LimitScope, RecordId,
    WriteContext,
};
use crm_hubspot::{HubSpot, HubSpotBuilder, HubSpotErrorParser};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn exchanges() -> Vec<Value> {
    fixture("hubspot-recorded-exchanges.json")["exchanges"]
        .as_array()
        .unwrap()
        .clone()
}

fn headers_of(e: &Value) -> HeaderMap {
    let mut h = HeaderMap::new();
    for pair in e["responseHeaders"].as_array().unwrap() {
        let name = HeaderName::from_bytes(pair[0].as_str().unwrap().as_bytes()).unwrap();
        h.append(
            name,
            HeaderValue::from_str(pair[1].as_str().unwrap()).unwrap(),
        );
    }
    h
}

fn parse(status: u16, headers: &HeaderMap, body: &Value) -> Error {
    let bytes = serde_json::to_vec(body).unwrap();
    let cid = headers
        .get("x-hubspot-correlation-id")
        .map(|v| v.to_str().unwrap().to_owned());
    HubSpotErrorParser.parse_error(&ErrorResponse {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: &bytes,
        correlation_id: cid.as_deref(),
    })
}

#[test]
fn every_recorded_error_body_parses_into_its_kind() {
    let mut checked = 0;
    for e in exchanges()
        .iter()
        .filter(|e| e["status"].as_u64().unwrap() >= 400)
    {
        let status = e["status"].as_u64().unwrap() as u16;
        let headers = headers_of(e);
        let err = parse(status, &headers, &e["responseBody"]);
        let what = format!("{} {} {status}", e["method"], e["path"]);
        match status {
            404 => assert_eq!(err.kind(), &ErrorKind::NotFound, "{what}"),
            429 => assert!(
                matches!(err.kind(), ErrorKind::RateLimited { scope: LimitScope::Search, retry_after: Some(d) } if *d == Duration::from_secs(1)),
                "{what}: {:?}",
                err.kind()
            ),
            400 => {
                let ErrorKind::Validation { fields } = err.kind() else {
                    panic!("{what}: {:?}", err.kind());
                };
                let expected: Vec<FieldError> = e["responseBody"]["validationResults"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| {
                        FieldError::new(
                            v["name"].as_str().unwrap(),
                            v["error"].as_str().map(str::to_owned),
                        )
                    })
                    .collect();
                assert_eq!(fields, &expected, "{what}");
            }
            other => panic!("{what}: no expectation for {other}"),
        }
        // The correlation id comes from the header, the vendor's message stays in `vendor`.
        assert_eq!(
            err.correlation_id(),
            headers
                .get("x-hubspot-correlation-id")
                .map(|v| v.to_str().unwrap())
        );
        assert!(err.vendor().unwrap().has_message(), "{what}");
        assert!(!err.message().contains("mailinator"), "{what}: {err}");
        checked += 1;
    }
    assert_eq!(checked, 21);
}

#[test]
fn every_documented_error_example_parses_into_its_kind() {
    let examples = fixture("error-examples.json")["hubspot"]
        .as_array()
        .unwrap()
        .clone();
    let mut checked = 0;
    for ex in &examples {
        let status = ex["status"].as_u64().unwrap() as u16;
        let body = match (ex.get("body"), ex.get("body_fields")) {
            (Some(b), _) => b.clone(),
            (None, Some(fields)) => {
                let mut b = fields.clone();
                b["status"] = json!("error");
                b
            }
            // The 207 item is checked through a batch call in `a_207_item_fails_alone`.
            (None, None) => continue,
        };
        let err = parse(status, &HeaderMap::new(), &body);
        let kind = err.kind().clone();
        match status {
            409 => assert!(
                matches!(&kind, ErrorKind::Conflict { existing_id: Some(id), .. } if id.as_str() == "37765128953")
            ),
            429 if body.get("policyName").is_some() => assert!(matches!(
                &kind,
                ErrorKind::RateLimited {
                    scope: LimitScope::Daily,
                    ..
                }
            )),
            429 => assert!(matches!(
                &kind,
                ErrorKind::RateLimited {
                    scope: LimitScope::Search,
                    ..
                }
            )),
            400 if body.get("error").is_some() => {
                assert_eq!(kind, ErrorKind::Unauthorized);
                assert_eq!(
                    err.vendor().unwrap().code.as_deref(),
                    Some("BAD_REFRESH_TOKEN")
                );
            }
            400 => assert_eq!(
                kind,
                ErrorKind::Validation {
                    fields: vec![FieldError::new(
                        "testproperty",
                        Some("PROPERTY_DOESNT_EXIST".into())
                    )]
                }
            ),
            403 => assert!(
                matches!(&kind, ErrorKind::Forbidden { missing_scopes } if missing_scopes.contains(&"crm.objects.deals.read".to_owned()))
            ),
            401 => {
                assert_eq!(kind, ErrorKind::Unauthorized);
                let code = err.vendor().unwrap().code.clone().unwrap();
                assert!(
                    code == "INVALID_AUTHENTICATION" || code == "EXPIRED_AUTHENTICATION",
                    "{code}"
                );
            }
            404 => assert_eq!(kind, ErrorKind::NotFound),
            other => panic!("no expectation for {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 9);
}

/// A limiter that lets everything through and remembers what it was told.
#[derive(Debug, Default)]
struct Recording {
    seen: Mutex<Vec<(Bucket, u16, Option<String>)>>,
}

#[async_trait]
impl RateLimiter for Recording {
    async fn acquire(&self, _bucket: Bucket, _max_wait: Duration) -> crm_core::Result<()> {
        Ok(())
    }

    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap) {
        let remaining = headers
            .get("x-hubspot-ratelimit-remaining")
            .map(|v| v.to_str().unwrap().to_owned());
        self.seen.lock().unwrap().push((bucket, status, remaining));
    }
}

async fn serve(server: &MockServer, at: &str, e: &Value) {
    let mut t = ResponseTemplate::new(e["status"].as_u64().unwrap() as u16);
    for pair in e["responseHeaders"].as_array().unwrap() {
        t = t.insert_header(pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
    }
    if e["responseBody"].is_object() {
        t = t.set_body_json(&e["responseBody"]);
    }
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(t)
        .up_to_n_times(1)
        .mount(server)
        .await;
}

fn connect(server: &MockServer, limiter: Arc<Recording>) -> HubSpot {
    HubSpotBuilder::new()
        .with_base_url(server.uri())
        .with_token("pat-na1-golden".to_owned().into())
        .with_retry(RetryPolicy::never())
        .with_limiter(limiter)
        .build()
        .unwrap()
}

/// The recorded object: where the adapter reads it from (contacts or companies).
fn served_path(recorded: &str, op: &str) -> String {
    let object = if recorded.contains("COMPANY") {
        "companies"
    } else {
        "contacts"
    };
    format!("/crm/v3/objects/{object}/{op}")
}

#[tokio::test]
async fn every_recorded_search_body_decodes_into_records() {
    let mut checked = 0;
    for e in exchanges()
        .iter()
        .filter(|e| e["path"].as_str().unwrap().ends_with("/search"))
    {
        let server = MockServer::start().await;
        let limiter = Arc::new(Recording::default());
        let crm = connect(&server, limiter.clone());
        let recorded = e["path"].as_str().unwrap();
        serve(&server, &served_path(recorded, "search"), e).await;
        let filter = Filter::new(Condition::eq("external_id", "x"));
        let status = e["status"].as_u64().unwrap();
        if recorded.contains("COMPANY") {
            let result = crm.accounts().find(&filter, 10).await;
            check_search::<Account>(e, result, status);
        } else {
            let result = crm.contacts().find(&filter, 10).await;
            check_search::<Contact>(e, result, status);
        }
        // Search answers carry no 10-second-window headers (HubSpot's usage guidelines).
        let seen = limiter.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "search");
        assert_eq!(seen[0].1 as u64, status);
        assert_eq!(seen[0].2, None);
        checked += 1;
    }
    assert_eq!(checked, 18);
}

fn check_search<T: crm_core::Entity>(
    e: &Value,
    result: crm_core::Result<Vec<crm_core::Record<T>>>,
    status: u64,
) {
    if status == 429 {
        let err = result.unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::RateLimited {
                scope: LimitScope::Search,
                ..
            }
        ));
        return;
    }
    let records = result.unwrap();
    let expected: Vec<&str> = e["responseBody"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, expected);
    for (r, raw) in records
        .iter()
        .zip(e["responseBody"]["results"].as_array().unwrap())
    {
        assert_eq!(
            r.created_at.unwrap().to_rfc3339_opts(chrono_secs(), true),
            raw["createdAt"].as_str().unwrap()
        );
        // `null` (requested but unset) is unset, never an empty value.
        let fields = r.data.to_fields();
        for (name, value) in raw["properties"].as_object().unwrap() {
            if value.is_null() {
                assert!(!fields.contains_key(name.as_str()), "{name}");
            }
        }
    }
}

fn chrono_secs() -> crm_core::reexports::chrono::SecondsFormat {
    crm_core::reexports::chrono::SecondsFormat::Millis
}

#[tokio::test]
async fn every_recorded_batch_create_and_update_decodes_per_item() {
    let mut checked = 0;
    for e in exchanges().iter().filter(|e| {
        let p = e["path"].as_str().unwrap();
        p.ends_with("/batch/create") || p.ends_with("/batch/update")
    }) {
        let server = MockServer::start().await;
        let limiter = Arc::new(Recording::default());
        let crm = connect(&server, limiter.clone());
        let recorded = e["path"].as_str().unwrap();
        let op = if recorded.ends_with("create") {
            "batch/create"
        } else {
            "batch/update"
        };
        serve(&server, &served_path(recorded, op), e).await;
        let inputs = e["requestBody"]["inputs"].as_array().unwrap();
        let results = e["responseBody"]["results"].as_array().unwrap();
        let ctx = WriteContext::default();
        let ids: Vec<String> = if recorded.contains("COMPANY") {
            let got = if op == "batch/create" {
                // The recorded inputs' names: real HubSpot answered one of these batches in
                // another order than its inputs, so results are matched, not taken by position.
                let accounts: Vec<Account> = inputs
                    .iter()
                    .map(|i| Account {
                        name: Some(i["properties"]["name"].as_str().unwrap().into()),
                        ..Account::default()
                    })
                    .collect();
                crm.accounts().create_batch(&accounts, &ctx).await
            } else {
                let updates: Vec<(RecordId, Account)> = inputs
                    .iter()
                    .map(|i| {
                        (
                            RecordId::new(i["id"].as_str().unwrap()).unwrap(),
                            Account::default(),
                        )
                    })
                    .collect();
                crm.accounts().update_batch(&updates, &ctx).await
            };
            got.into_iter().map(|r| r.unwrap().id.to_string()).collect()
        } else {
            let got = if op == "batch/create" {
                let contacts: Vec<Contact> = inputs.iter().map(|_| Contact::default()).collect();
                crm.contacts().create_batch(&contacts, &ctx).await
            } else {
                let updates: Vec<(RecordId, Contact)> = inputs
                    .iter()
                    .map(|i| {
                        (
                            RecordId::new(i["id"].as_str().unwrap()).unwrap(),
                            Contact::default(),
                        )
                    })
                    .collect();
                crm.contacts().update_batch(&updates, &ctx).await
            };
            got.into_iter().map(|r| r.unwrap().id.to_string()).collect()
        };
        let expected: Vec<String> = if op == "batch/update" {
            // Updates are matched by id, whatever order HubSpot answers in.
            inputs
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect()
        } else if recorded.contains("COMPANY") {
            // Each input gets the record HubSpot wrote for it, whatever order it answered in.
            inputs
                .iter()
                .map(|i| {
                    let name = &i["properties"]["name"];
                    let r = results
                        .iter()
                        .find(|r| &r["properties"]["name"] == name)
                        .unwrap();
                    r["id"].as_str().unwrap().to_owned()
                })
                .collect()
        } else {
            // Inputs sent without properties fit any result: in the order HubSpot answered.
            results
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids, expected, "{recorded}");
        // The real rate headers reach the limiter.
        let seen = limiter.seen.lock().unwrap().clone();
        assert_eq!(seen[0].0, "general");
        assert!(seen[0].2.is_some());
        checked += 1;
    }
    assert_eq!(checked, 18);
}

#[tokio::test]
async fn a_207_item_fails_alone() {
    let example = fixture("error-examples.json")["hubspot"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == 207)
        .unwrap()["body_errors_item"]
        .clone();
    let server = MockServer::start().await;
    let mut item = example.clone();
    item["context"]["objectWriteTraceId"] = json!(["1"]);
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/create"))
        .respond_with(ResponseTemplate::new(207).set_body_json(json!({
            "status": "COMPLETE",
            "results": [{"id": "11", "properties": {}, "createdAt": "2024-01-01T00:00:00.000Z",
                          "updatedAt": "2024-01-01T00:00:00.000Z", "archived": false,
                          "objectWriteTraceId": "0"}],
            "numErrors": 1,
            "errors": [item],
            "startedAt": "2024-01-01T00:00:00.000Z", "completedAt": "2024-01-01T00:00:00.000Z"})))
        .mount(&server)
        .await;
    let crm = connect(&server, Arc::new(Recording::default()));
    let results = crm
        .contacts()
        .create_batch(
            &[Contact::default(), Contact::default()],
            &WriteContext::default(),
        )
        .await;
    assert_eq!(results[0].as_ref().unwrap().id.as_str(), "11");
    let err = results[1].as_ref().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Validation { .. }), "{err}");
    assert_eq!(err.status(), Some(207));
}
