//! Issue 12, item 15 on the generic REST adapter, as on HubSpot and Salesforce: a create that
//! carries an idempotency key on a connection whose spec gives the server no way to de-duplicate
//! it (no idempotency header, no `idempotency_key` upsert path for the object) fails before any
//! request with a `Config` error naming the fix, instead of silently sending a create a retry
//! could duplicate. A create without a key proceeds, and the outbox still delivers keyed writes
//! (it sends them without the key on such a connection).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_core::retry::RetryPolicy;
use crm_core::{Contact, Crm, ErrorKind, IdempotencyKey, ObjectKind, WriteContext};
use crm_generic_rest::{GenericRest, GenericRestBuilder, Spec};
use serde_json::json;
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The default spec without `[idempotency]` and without any `idempotency_key` upsert path.
fn spec_without_idempotency() -> Spec {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/default.toml"))
        .unwrap();
    let mut out = Vec::new();
    let mut in_idempotency = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_idempotency = line.trim() == "[idempotency]";
        }
        if in_idempotency {
            continue;
        }
        if let Some(entries) = line
            .strip_prefix("upsert = { ")
            .and_then(|l| l.strip_suffix(" }"))
        {
            let kept: Vec<&str> = entries
                .split(", ")
                .filter(|e| !e.starts_with("idempotency_key"))
                .collect();
            if !kept.is_empty() {
                out.push(format!("upsert = {{ {} }}", kept.join(", ")));
            }
            continue;
        }
        out.push(line.to_owned());
    }
    let edited = out.join("\n");
    assert!(!edited.contains("idempotency"), "{edited}");
    Spec::parse(&edited, "no-idempotency.toml").unwrap()
}

fn connect(server: &MockServer) -> GenericRest {
    GenericRestBuilder::new()
        .with_spec(spec_without_idempotency())
        .with_base_url(server.uri())
        .with_token("t0k3n".to_owned().into())
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap()
}

fn keyed(text: &str) -> WriteContext {
    WriteContext::default().with_idempotency_key(IdempotencyKey::new(text).unwrap())
}

fn contact() -> Contact {
    Contact {
        last_name: Some("Keyed".into()),
        ..Contact::default()
    }
}

async fn answering_creates(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/contacts"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "c1", "last_name": "Keyed"})),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn issue12_item15_a_keyed_create_without_a_way_to_deduplicate_fails_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let crm = connect(&server);
    assert!(!crm.capabilities().objects[&ObjectKind::Contact].idempotent_create);
    let err = crm
        .contacts()
        .create(&contact(), &keyed("conv-1.contact"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
    assert_eq!(err.operation(), Some("contact.create"));
    let text = err.to_string();
    assert!(text.contains("cannot honour its idempotency key"), "{text}");
    assert!(text.contains("[idempotency] header"), "{text}");
    assert!(text.contains("idempotency_key"), "{text}");
    assert!(text.contains("without an idempotency key"), "{text}");
    let batch = crm
        .contacts()
        .create_batch(&[contact(), contact()], &keyed("conv-1.batch"))
        .await;
    assert!(
        batch
            .iter()
            .all(|r| r.as_ref().unwrap_err().kind() == &ErrorKind::Config)
    );
    // `expect(0)` is checked when the server drops.
}

#[tokio::test]
async fn issue12_item15_an_unkeyed_create_proceeds_without_idempotency() {
    let server = MockServer::start().await;
    answering_creates(&server).await;
    let crm = connect(&server);
    let created = crm
        .contacts()
        .create(&contact(), &WriteContext::default())
        .await
        .unwrap();
    assert_eq!(created.id.as_str(), "c1");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn issue12_item15_the_outbox_delivers_keyed_creates_without_the_key() {
    use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite};
    let server = MockServer::start().await;
    answering_creates(&server).await;
    let crm = connect(&server);
    let path = std::env::temp_dir().join(format!(
        "crm-generic-idem-{}-{}.sqlite",
        std::process::id(),
        server.address().port()
    ));
    let outbox = Outbox::open(&path, OutboxConfig::default()).unwrap();
    let key = IdempotencyKey::new("conv-2.contact").unwrap();
    outbox
        .enqueue(
            "generic",
            &PendingWrite::create(&contact(), key, crm_core::Actor::Bot).unwrap(),
        )
        .unwrap();
    let report = outbox.deliver("generic", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get("idempotency-key").is_none());
    drop(outbox);
    let _ = std::fs::remove_file(&path);
}
