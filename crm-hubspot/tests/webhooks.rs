//! HubSpot webhook verification: every published vector, the freshness window, tampering, and
//! payload parsing (creation, property change, merge, association, legacy `eventType`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crm_core::events::{Change, WebhookRequest, WebhookSource, http_status};
use crm_core::reexports::http::{HeaderMap, HeaderValue};
use crm_core::reexports::serde_json::{self, Value};
use crm_core::{ObjectKind, RecordId};
use crm_hubspot::HubSpotWebhook;

const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hubspot-signature-test-vectors.json"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

fn at_ms(ms: u64) -> fn() -> SystemTime {
    // Clocks are plain fns: pick one per known timestamp.
    match ms {
        1_564_113_600_000 => || UNIX_EPOCH + Duration::from_millis(1_564_113_600_000 + 60_000),
        _ => SystemTime::now,
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        let name = crm_core::reexports::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        h.insert(name, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn every_published_vector_verifies() {
    let vs = vectors();
    assert_eq!(vs.len(), 7);
    for v in vs {
        let body = v["request_body"].as_str().unwrap().as_bytes().to_vec();
        let method = v["http_method"].as_str().unwrap_or("POST");
        let uri = v["uri"]
            .as_str()
            .unwrap_or("https://www.example.com/webhook_uri");
        let expected = v["expected"].as_str().unwrap();
        match v["version"].as_str().unwrap() {
            "v1" | "v2" => {
                let version = v["version"].as_str().unwrap();
                let hook = HubSpotWebhook::new(SECRET.to_owned().into(), "t").unwrap();
                let h = headers(&[
                    ("x-hubspot-signature", expected),
                    ("x-hubspot-signature-version", version),
                ]);
                let req = WebhookRequest {
                    method,
                    uri,
                    headers: &h,
                    body: &body,
                };
                // Signature only: the v1/v2 example bodies are not event arrays.
                let err = hook.verify_and_parse(&req).err();
                assert!(
                    err.as_ref().is_none_or(|e| http_status(e) == 400),
                    "{version} {expected}: {err:?}"
                );
                let wrong = headers(&[
                    ("x-hubspot-signature", &"0".repeat(64)),
                    ("x-hubspot-signature-version", version),
                ]);
                let req = WebhookRequest {
                    method,
                    uri,
                    headers: &wrong,
                    body: &body,
                };
                assert_eq!(http_status(&hook.verify_and_parse(&req).unwrap_err()), 401);
            }
            "v3" => {
                let ts = v["timestamp"].as_str().unwrap();
                let ms: u64 = ts.parse().unwrap();
                let hook = HubSpotWebhook::new(SECRET.to_owned().into(), "t")
                    .unwrap()
                    .with_clock(at_ms(ms));
                assert_eq!(hook.sign_v3(method, uri, &body, ts).unwrap(), expected);
                let h = headers(&[
                    ("x-hubspot-signature-v3", expected),
                    ("x-hubspot-request-timestamp", ts),
                ]);
                let req = WebhookRequest {
                    method,
                    uri,
                    headers: &h,
                    body: &body,
                };
                let result = hook.verify_and_parse(&req);
                if ms == 15_000_000 {
                    // A valid signature from 1970: the freshness check must refuse it.
                    let err = result.unwrap_err();
                    assert_eq!(http_status(&err), 401);
                    assert!(err.message().contains("5 minutes"), "{err}");
                } else {
                    let events = result.unwrap();
                    assert_eq!(events.len(), 1);
                    assert_eq!(events[0].kind, Some(ObjectKind::Contact));
                    assert_eq!(events[0].record_id, RecordId::new("123").unwrap());
                    assert_eq!(events[0].change, Change::Created);
                }
            }
            other => panic!("unknown version {other}"),
        }
    }
}

fn signed_v3(hook: &HubSpotWebhook, uri: &str, body: &[u8]) -> HeaderMap {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let sig = hook.sign_v3("POST", uri, body, &ts).unwrap();
    headers(&[
        ("x-hubspot-signature-v3", &sig),
        ("x-hubspot-request-timestamp", &ts),
    ])
}

#[test]
fn v3_rules_uri_decoding_tampering_and_replays() {
    let hook = HubSpotWebhook::new(SECRET.to_owned().into(), "acme").unwrap();
    let body = br#"[{"eventId":7,"subscriptionId":1,"portalId":62515,"occurredAt":1715203101896,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":847297356,"propertyName":"email","propertyValue":"x@y.z"}]"#;
    // HubSpot signs the URI with these escapes decoded: a receiver seeing them encoded verifies.
    let sent = "https://bot.example/hooks/crm?from=a%40b%3Ac%2Cd";
    let h = signed_v3(&hook, "https://bot.example/hooks/crm?from=a@b:c,d", body);
    let events = hook
        .verify_and_parse(&WebhookRequest {
            method: "POST",
            uri: sent,
            headers: &h,
            body,
        })
        .unwrap();
    assert_eq!(
        events[0].change,
        Change::Updated {
            fields: vec!["email".into()]
        }
    );
    // Re-serialised JSON does not verify; nor does another method or URI.
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(body).unwrap()).unwrap();
    for (method, uri, b) in [
        ("POST", sent, reserialised.as_slice()),
        ("PUT", sent, &body[..]),
        ("POST", "https://bot.example/other", &body[..]),
    ] {
        let err = hook
            .verify_and_parse(&WebhookRequest {
                method,
                uri,
                headers: &h,
                body: b,
            })
            .unwrap_err();
        assert_eq!(http_status(&err), 401, "{method} {uri}");
    }
    // A timestamp from the future beyond 5 minutes, a missing timestamp.
    let future = (SystemTime::now() + Duration::from_secs(600))
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let sig = hook.sign_v3("POST", sent, body, &future).unwrap();
    let h2 = headers(&[
        ("x-hubspot-signature-v3", &sig),
        ("x-hubspot-request-timestamp", &future),
    ]);
    assert_eq!(
        http_status(
            &hook
                .verify_and_parse(&WebhookRequest {
                    method: "POST",
                    uri: sent,
                    headers: &h2,
                    body
                })
                .unwrap_err()
        ),
        401
    );
    let h3 = headers(&[("x-hubspot-signature-v3", &sig)]);
    assert_eq!(
        http_status(
            &hook
                .verify_and_parse(&WebhookRequest {
                    method: "POST",
                    uri: sent,
                    headers: &h3,
                    body
                })
                .unwrap_err()
        ),
        401
    );
    // v3_only refuses replayable v1 signatures.
    let strict = HubSpotWebhook::new(SECRET.to_owned().into(), "acme")
        .unwrap()
        .v3_only();
    let v1 = headers(&[
        ("x-hubspot-signature", &strict.sign_v1(body)),
        ("x-hubspot-signature-version", "v1"),
    ]);
    assert_eq!(
        http_status(
            &strict
                .verify_and_parse(&WebhookRequest {
                    method: "POST",
                    uri: sent,
                    headers: &v1,
                    body
                })
                .unwrap_err()
        ),
        401
    );
    // Oversize: 413 before anything else.
    let small = HubSpotWebhook::new(SECRET.to_owned().into(), "acme")
        .unwrap()
        .with_max_body_bytes(10);
    assert_eq!(
        http_status(
            &small
                .verify_and_parse(&WebhookRequest {
                    method: "POST",
                    uri: sent,
                    headers: &h,
                    body
                })
                .unwrap_err()
        ),
        413
    );
    assert!(!format!("{hook:?}").contains(SECRET));
}

#[test]
fn merges_associations_engagements_and_legacy_event_type() {
    let hook = HubSpotWebhook::new(SECRET.to_owned().into(), "acme").unwrap();
    let body = br#"[
      {"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":1715203101896,"subscriptionType":"contact.merge","objectId":10,"primaryObjectId":10,"mergedObjectIds":[11,12],"newObjectId":10},
      {"eventId":2,"subscriptionId":2,"portalId":3,"occurredAt":1715203101897,"subscriptionType":"contact.associationChange","objectId":10,"fromObjectId":10,"toObjectId":99,"associationType":"CONTACT_TO_COMPANY","associationRemoved":false},
      {"eventId":3,"subscriptionId":2,"portalId":3,"occurredAt":1715203101898,"subscriptionType":"object.creation","objectTypeId":"0-46","objectId":6001},
      {"objectId":1246978,"changeSource":"IMPORT","eventId":3816279480,"subscriptionId":22,"portalId":33,"appId":1160452,"occurredAt":1462216307945,"eventType":"contact.creation","attemptNumber":0}
    ]"#;
    let uri = "https://bot.example/hooks/crm";
    let h = signed_v3(&hook, uri, body);
    let events = hook
        .verify_and_parse(&WebhookRequest {
            method: "POST",
            uri,
            headers: &h,
            body,
        })
        .unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(
        events[0].change,
        Change::Merged {
            merged_ids: vec![RecordId::new("11").unwrap(), RecordId::new("12").unwrap()]
        }
    );
    match &events[1].change {
        Change::AssociationChanged {
            to: Some(to),
            removed: false,
        } => {
            assert_eq!(to.kind, ObjectKind::Account);
            assert_eq!(to.id.as_str(), "99");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events[2].kind, Some(ObjectKind::Activity));
    assert_eq!(events[2].record_id.as_str(), "note:6001");
    assert_eq!(events[3].change, Change::Created);
    // Distinct changes get distinct dedupe keys; the same delivery again gets the same ones.
    let keys: std::collections::BTreeSet<_> = events.iter().map(|e| e.dedupe_key.clone()).collect();
    assert_eq!(keys.len(), 4);
    // The raw payload (it can hold a property's value) is not in Debug.
    assert!(!format!("{:?}", events[0]).contains("mergedObjectIds"));
    // One malformed event rejects the delivery: nothing half-processed.
    let bad = br#"[{"eventId":1,"occurredAt":1,"subscriptionType":"contact.creation","objectId":1},{"eventId":2,"subscriptionType":"contact.creation"}]"#;
    let h = signed_v3(&hook, uri, bad);
    let err = hook
        .verify_and_parse(&WebhookRequest {
            method: "POST",
            uri,
            headers: &h,
            body: bad,
        })
        .unwrap_err();
    assert_eq!(http_status(&err), 400);
    assert!(err.message().contains("event 1"), "{err}");
}
