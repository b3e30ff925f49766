//! Round trip: the sandbox emits signed change events, the receiver verifies them, drops
//! repeats and stale events, invalidates the view cache and hands the rest on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::time::Duration;

use crm_core::events::{Change, CrmEvent, Deduper, LastSeen, ViewCache};
use crm_core::{Email, Lookup, ObjectKind, ViewOptions};
use crm_examples::receiver::{Receiver, router};
use crm_generic_rest::{GenericRestBuilder, GenericWebhook, Spec};
use crm_testkit::sandbox::webhooks::{Delivery, WebhookEmitter};
use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};
use tokio::sync::mpsc;

const SECRET: &str = "whsec-roundtrip";

struct Setup {
    sandbox: Sandbox,
    url: String,
    cache: Arc<ViewCache>,
    events: mpsc::Receiver<CrmEvent>,
    crm: crm_generic_rest::GenericRest,
}

async fn setup(capacity: usize) -> Setup {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .build()
        .unwrap();
    let spec = Spec::default_spec().unwrap();
    let source = GenericWebhook::new(&spec, SECRET.to_owned().into(), "acme").unwrap();
    let cache = Arc::new(ViewCache::new(Duration::from_secs(300), 100));
    let (tx, rx) = mpsc::channel(capacity);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Arc::new(Receiver {
        source: Arc::new(source),
        public_base: format!("http://{addr}"),
        deduper: Deduper::new(Duration::from_secs(3600), 10_000),
        last_seen: LastSeen::new(10_000),
        cache: cache.clone(),
        downstream: tx,
    });
    tokio::spawn(async move { axum::serve(listener, router(receiver)).await });
    // Events from seeding the demo data are not part of these tests.
    sandbox.take_events();
    Setup {
        sandbox,
        url: format!("http://{addr}/hooks/crm"),
        cache,
        events: rx,
        crm,
    }
}

fn drain(rx: &mut mpsc::Receiver<CrmEvent>) -> Vec<CrmEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn events_arrive_verified_deduplicated_and_invalidate_the_view() {
    let mut s = setup(100).await;
    let lookup = Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap());
    let view = s
        .cache
        .get_or_load(&s.crm, &lookup, &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert!(
        view.open_tickets
            .iter()
            .any(|t| t.id.as_str() == demo::OPEN_TICKET_ID)
    );
    assert_eq!(s.cache.len(), 1);

    // An agent solves the ticket in the CRM.
    let mut fields = serde_json::Map::new();
    fields.insert("status".into(), "solved".into());
    assert!(
        s.sandbox
            .update_record("tickets", demo::OPEN_TICKET_ID, fields)
    );
    let events = s.sandbox.take_events();
    assert_eq!(events.len(), 1);

    // Delivered twice (at-least-once): handed on once.
    let emitter = WebhookEmitter::new(&s.url, SECRET);
    let statuses = emitter
        .deliver(
            events,
            Delivery {
                duplicate: true,
                ..Delivery::default()
            },
        )
        .await;
    assert_eq!(statuses, [200, 200]);
    let got = drain(&mut s.events);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind, Some(ObjectKind::Ticket));
    assert_eq!(got[0].record_id.as_str(), demo::OPEN_TICKET_ID);
    assert_eq!(
        got[0].change,
        Change::Updated {
            fields: vec!["status".into()]
        }
    );
    // The cached view mentioned the ticket: it is gone, and a reload sees the ticket closed.
    assert_eq!(s.cache.len(), 0);
    let view = s
        .cache
        .get_or_load(&s.crm, &lookup, &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !view
            .open_tickets
            .iter()
            .any(|t| t.id.as_str() == demo::OPEN_TICKET_ID)
    );
}

#[tokio::test]
async fn out_of_order_events_do_not_overwrite_newer_state() {
    let mut s = setup(100).await;
    for status in ["open", "pending", "solved"] {
        let mut fields = serde_json::Map::new();
        fields.insert("status".into(), status.into());
        assert!(
            s.sandbox
                .update_record("tickets", demo::OPEN_TICKET_ID, fields)
        );
    }
    let events = s.sandbox.take_events();
    assert_eq!(events.len(), 3);
    let emitter = WebhookEmitter::new(&s.url, SECRET);
    // Newest first, then each alone: only the newest is current.
    emitter
        .deliver(
            events,
            Delivery {
                reverse: true,
                ..Delivery::default()
            },
        )
        .await;
    let got = drain(&mut s.events);
    assert_eq!(got.len(), 1, "{got:?}");
    let newest = got[0].occurred_at;
    assert!(got.iter().all(|e| e.occurred_at >= newest));
}

#[tokio::test]
async fn forged_stale_or_unsigned_deliveries_are_refused() {
    let mut s = setup(100).await;
    let mut fields = serde_json::Map::new();
    fields.insert("priority".into(), "urgent".into());
    assert!(
        s.sandbox
            .update_record("tickets", demo::OPEN_TICKET_ID, fields)
    );
    let events = s.sandbox.take_events();
    let forged = WebhookEmitter::new(&s.url, "not-the-secret");
    assert_eq!(
        forged.deliver(events.clone(), Delivery::default()).await,
        [401]
    );
    let real = WebhookEmitter::new(&s.url, SECRET);
    let stale = Delivery {
        age_secs: 600,
        ..Delivery::default()
    };
    assert_eq!(real.deliver(events.clone(), stale).await, [401]);
    let unsigned = reqwest::Client::new()
        .post(&s.url)
        .body(r#"{"events":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    let huge = reqwest::Client::new()
        .post(&s.url)
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status().as_u16(), 413);
    assert!(drain(&mut s.events).is_empty());
    // The genuine delivery still goes through.
    assert_eq!(real.deliver(events, Delivery::default()).await, [200]);
    assert_eq!(drain(&mut s.events).len(), 1);
}

#[tokio::test]
async fn a_busy_downstream_gets_a_retry_and_loses_nothing() {
    let mut s = setup(1).await;
    for priority in ["low", "high"] {
        let mut fields = serde_json::Map::new();
        fields.insert("priority".into(), priority.into());
        assert!(
            s.sandbox
                .update_record("tickets", demo::OPEN_TICKET_ID, fields)
        );
    }
    let events = s.sandbox.take_events();
    let emitter = WebhookEmitter::new(&s.url, SECRET);
    // The downstream holds one event; the second is refused with 503 and retried. Drain the
    // downstream while the emitter backs off, as a consumer would.
    let delivery = tokio::spawn(async move { emitter.deliver(events, Delivery::default()).await });
    let mut got = Vec::new();
    while got.len() < 2 {
        if let Some(e) = s.events.recv().await {
            got.push(e);
        }
    }
    let statuses = delivery.await.unwrap();
    assert!(statuses.contains(&503), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&200));
    assert_eq!(got.len(), 2);
}

#[tokio::test]
async fn hubspot_deliveries_round_trip_through_the_receiver() {
    use crm_hubspot::HubSpotWebhook;
    use crm_testkit::hubspot::webhooks::{Delivery as HsDelivery, HubSpotEmitter};
    use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, demo as hs};
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let secret = "hubspot-app-secret";
    let source = HubSpotWebhook::new(secret.to_owned().into(), "hubspot")
        .unwrap()
        .v3_only();
    let cache = Arc::new(ViewCache::new(Duration::from_secs(60), 10));
    let (url, mut rx) = crm_examples::receiver::serve_local(Arc::new(source), cache)
        .await
        .unwrap();
    let mut props = serde_json::Map::new();
    props.insert("hs_ticket_priority".into(), "HIGH".into());
    assert!(fake.update_record("tickets", hs::OPEN_TICKET_ID, props));
    let events = fake.take_webhook_events();
    assert_eq!(events.len(), 1);
    let statuses = HubSpotEmitter::new(&url, secret)
        .deliver(
            events,
            HsDelivery {
                duplicate: true,
                reverse: true,
            },
        )
        .await;
    assert_eq!(statuses, [200, 200]);
    let got = drain(&mut rx);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, Some(ObjectKind::Ticket));
    assert_eq!(got[0].record_id.as_str(), hs::OPEN_TICKET_ID);
    assert_eq!(
        got[0].change,
        Change::Updated {
            fields: vec!["hs_ticket_priority".into()]
        }
    );
    // A forged delivery is refused and retried by the emitter, never handed on.
    let mut props = serde_json::Map::new();
    props.insert("subject".into(), "x".into());
    assert!(fake.update_record("tickets", hs::OPEN_TICKET_ID, props));
    let statuses = HubSpotEmitter::new(&url, "wrong-secret")
        .deliver(fake.take_webhook_events(), HsDelivery::default())
        .await;
    assert!(statuses.iter().all(|s| *s == 401));
    assert!(drain(&mut rx).is_empty());
}

#[tokio::test]
async fn salesforce_outbound_messages_round_trip_and_are_acknowledged() {
    use crm_salesforce::OutboundMessages;
    use crm_testkit::salesforce::outbound::OutboundEmitter;
    use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig, demo as sf};
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let source = OutboundMessages::new(&org.org_id(), "salesforce").unwrap();
    let cache = Arc::new(ViewCache::new(Duration::from_secs(60), 10));
    let (url, mut rx) = crm_examples::receiver::serve_local(Arc::new(source), cache)
        .await
        .unwrap();
    let mut fields = serde_json::Map::new();
    fields.insert("Status".into(), "Closed".into());
    assert!(org.update_record("Case", sf::OPEN_CASE_ID, fields));
    let changes = org.take_outbound_messages();
    assert_eq!(changes.len(), 1);
    // Salesforce redelivers until acknowledged, and may deliver again after: handed on once.
    let statuses = OutboundEmitter::new(&url, org.org_id())
        .deliver(changes.clone(), true)
        .await;
    assert_eq!(statuses, [200, 200]);
    let got = drain(&mut rx);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, Some(ObjectKind::Ticket));
    assert!(
        matches!(&got[0].change, Change::Updated { fields } if fields.contains(&"Status".to_owned()))
    );
    // Another org's message: refused (401), retried, never acknowledged.
    let statuses = OutboundEmitter::new(&url, "00D5F0000000999UAA")
        .deliver(changes, false)
        .await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert!(drain(&mut rx).is_empty());
}
