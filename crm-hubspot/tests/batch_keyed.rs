//! Issue 14: keyed batch creates on HubSpot — `batch/create` in chunks of 100 with each
//! input's own key in `idempotency_property`, so that a replay, however regrouped, finds the
//! records the first attempt wrote instead of creating more.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use crm_core::{Crm, ErrorKind, IdempotencyKey, Personal, Ticket, WriteContext};
use crm_hubspot::{HubSpot, HubSpotBuilder};
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, demo};

fn ticket(n: usize) -> Ticket {
    Ticket {
        subject: Some(Personal::new(format!("keyed batch {n}"))),
        ..Ticket::default()
    }
}

fn key(n: usize) -> IdempotencyKey {
    IdempotencyKey::derive("portal", &format!("conv-{n}"), "ticket")
}

fn connect(fake: &HubSpotFake, b: HubSpotBuilder) -> HubSpot {
    common::aimed(b, fake).build().unwrap()
}

fn batch_creates(fake: &HubSpotFake) -> usize {
    fake.requests()
        .log
        .iter()
        .filter(|l| l.starts_with("POST") && l.ends_with("/batch/create"))
        .count()
}

#[tokio::test]
async fn issue14_keyed_batch_creates_go_100_per_request_each_with_its_own_key() {
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        custom_properties: demo::idempotency_properties(),
        ..HubSpotFakeConfig::default()
    })
    .await;
    let crm = connect(
        &fake,
        HubSpotBuilder::new().with_idempotency_field(Some(demo::IDEMPOTENCY_PROPERTY)),
    );
    let tickets = fake.records("tickets").len();
    let items: Vec<(IdempotencyKey, Ticket)> = (0..250).map(|n| (key(n), ticket(n))).collect();
    let first = crm
        .tickets()
        .create_batch_keyed(&items, &WriteContext::default())
        .await;
    assert_eq!(batch_creates(&fake), 3, "250 inputs in 100 + 100 + 50");
    assert_eq!(fake.records("tickets").len(), tickets + 250);
    for (n, r) in first.iter().enumerate() {
        let record = r.as_ref().unwrap();
        assert_eq!(record.data.subject, ticket(n).subject);
        let stored = fake
            .records("tickets")
            .into_iter()
            .find(|t| t["id"] == record.id.as_str())
            .unwrap();
        assert_eq!(
            stored["properties"][demo::IDEMPOTENCY_PROPERTY],
            key(n).as_str()
        );
    }

    // Sent again, regrouped (as the outbox does after a lost answer): nothing new, and each
    // input reports the record its key first made.
    let mut regrouped = items[170..].to_vec();
    regrouped.extend_from_slice(&items[..170]);
    let again = crm
        .tickets()
        .create_batch_keyed(&regrouped, &WriteContext::default())
        .await;
    assert_eq!(
        fake.records("tickets").len(),
        tickets + 250,
        "a replay duplicated"
    );
    for (r, (k, _)) in again.iter().zip(&regrouped) {
        let n = items.iter().position(|(key, _)| key == k).unwrap();
        assert_eq!(r.as_ref().unwrap().id, first[n].as_ref().unwrap().id);
    }
}

#[tokio::test]
async fn issue14_keyed_batch_creates_without_the_property_fail_each_item_before_any_request() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let crm = connect(&fake, HubSpotBuilder::new());
    let before = fake.requests().total;
    let items: Vec<_> = (0..3).map(|n| (key(n), ticket(n))).collect();
    let results = crm
        .tickets()
        .create_batch_keyed(&items, &WriteContext::default())
        .await;
    assert_eq!(results.len(), 3);
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Config);
        assert!(e.message().contains("idempotency_property"), "{e}");
    }
    assert_eq!(fake.requests().total, before);
}
