//! Issue 14: the durable outbox delivers creates in the vendor's batches, on the HubSpot and
//! Salesforce fakes — ⌈n / batch⌉ write requests, and after-commit faults neither lose nor
//! duplicate a write, because every item carries its own stored key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeSet;
use std::time::Duration;

use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite, WriteId, WriteStatus};
use crm_core::retry::RetryPolicy;
use crm_core::{Actor, Crm, IdempotencyKey, Personal, RecordId, Ticket};
use crm_hubspot::HubSpotBuilder;
use crm_salesforce::SalesforceBuilder;
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, HubSpotFaults, demo};
use crm_testkit::salesforce::{Faults, SalesforceFake, SalesforceFakeConfig};

fn config() -> OutboxConfig {
    OutboxConfig {
        base_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        ..OutboxConfig::default()
    }
}

fn enqueue(outbox: &Outbox, n: usize, run: &str) -> Vec<WriteId> {
    (0..n)
        .map(|i| {
            let t = Ticket {
                subject: Some(Personal::new(format!("{run} {i}"))),
                ..Ticket::default()
            };
            let key = IdempotencyKey::derive("acme", &format!("{run}-{i}"), "ticket");
            outbox
                .enqueue("acme", &PendingWrite::create(&t, key, Actor::Bot).unwrap())
                .unwrap()
        })
        .collect()
}

async fn drain(outbox: &Outbox, crm: &dyn Crm, max: usize) {
    for _ in 0..100 {
        outbox.deliver("acme", crm, max).await.unwrap();
        if outbox.depth("acme").unwrap().pending == 0 {
            return;
        }
    }
    panic!("the outbox did not drain");
}

/// The record ids the writes were delivered as; panics on one that is not delivered.
fn delivered(outbox: &Outbox, ids: &[WriteId]) -> BTreeSet<RecordId> {
    ids.iter()
        .map(|id| match outbox.status(*id).unwrap() {
            WriteStatus::Delivered { record_id } => record_id,
            other => panic!("write {id}: {other:?}"),
        })
        .collect()
}

fn subjects(records: &[serde_json::Value], pointer: &str, run: &str) -> usize {
    records
        .iter()
        .filter(|r| {
            r.pointer(pointer)
                .and_then(|v| v.as_str())
                .is_some_and(|s| s.starts_with(&format!("{run} ")))
        })
        .count()
}

fn hubspot_writes(fake: &HubSpotFake) -> usize {
    fake.requests()
        .log
        .iter()
        .filter(|l| l.starts_with("POST") && l.contains("/batch/create"))
        .count()
}

async fn hubspot() -> (HubSpotFake, crm_hubspot::HubSpot) {
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        custom_properties: demo::idempotency_properties(),
        ..HubSpotFakeConfig::default()
    })
    .await;
    let crm = HubSpotBuilder::new()
        .with_base_url(fake.base_url())
        .with_token(fake.token().to_owned().into())
        .with_idempotency_field(Some(demo::IDEMPOTENCY_PROPERTY))
        // The outbox, not the transport, sends a failed batch again.
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap();
    (fake, crm)
}

async fn salesforce() -> (SalesforceFake, crm_salesforce::Salesforce) {
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let c = org.config();
    let crm = SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_idempotency_field(Some("Idempotency_Key__c"))
        .with_refresh_token(
            c.client_id.clone(),
            Some(c.client_secret.clone().into()),
            c.refresh_token.clone().into(),
        )
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap();
    (org, crm)
}

#[tokio::test]
async fn issue14_hubspot_500_outbox_creates_are_5_batch_requests() {
    let (fake, crm) = hubspot().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let ids = enqueue(&outbox, 500, "hs-batch");
    let report = outbox.deliver("acme", &crm, 500).await.unwrap();
    assert_eq!(report.delivered, 500);
    assert_eq!(hubspot_writes(&fake), 500usize.div_ceil(100));
    assert_eq!(delivered(&outbox, &ids).len(), 500);
    let tickets = fake.records("tickets");
    assert_eq!(subjects(&tickets, "/properties/subject", "hs-batch"), 500);
}

#[tokio::test]
async fn issue14_hubspot_after_commit_faults_lose_and_duplicate_nothing() {
    let (fake, crm) = hubspot().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let ids = enqueue(&outbox, 300, "hs-fault");
    // Two batches are written and their answers lost (a 502 page after commit).
    fake.set_faults(HubSpotFaults {
        after_commit_next: 2,
        ..HubSpotFaults::default()
    });
    let report = outbox.deliver("acme", &crm, 300).await.unwrap();
    assert_eq!(report.retried, 200);
    assert_eq!(report.delivered, 100);
    // Sent again in other groupings; each write keeps its key.
    drain(&outbox, &crm, 70).await;
    assert_eq!(delivered(&outbox, &ids).len(), 300, "a write was lost");
    let tickets = fake.records("tickets");
    assert_eq!(
        subjects(&tickets, "/properties/subject", "hs-fault"),
        300,
        "a write was duplicated"
    );
    // 3 first batches, then the 200 writes again in batches of at most 70.
    assert_eq!(hubspot_writes(&fake), 3 + 200usize.div_ceil(70));
}

#[tokio::test]
async fn issue14_salesforce_500_outbox_creates_are_3_collections_requests() {
    let (org, crm) = salesforce().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let ids = enqueue(&outbox, 500, "sf-batch");
    let report = outbox.deliver("acme", &crm, 500).await.unwrap();
    assert_eq!(report.delivered, 500);
    let stats = org.requests();
    assert_eq!(stats.total, 500usize.div_ceil(200), "{stats:?}");
    assert_eq!(stats.token_requests, 1);
    assert_eq!(delivered(&outbox, &ids).len(), 500);
    assert_eq!(subjects(&org.records("Case"), "/Subject", "sf-batch"), 500);
}

#[tokio::test]
async fn issue14_salesforce_after_commit_faults_lose_and_duplicate_nothing() {
    let (org, crm) = salesforce().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let ids = enqueue(&outbox, 500, "sf-fault");
    // Every Collections request is applied, then answered with a 500.
    org.set_faults(Faults {
        fail_rate: 1.0,
        after_commit_share: 1.0,
        seed: 7,
        ..Faults::default()
    });
    let report = outbox.deliver("acme", &crm, 500).await.unwrap();
    assert_eq!(report.retried, 500);
    assert_eq!(subjects(&org.records("Case"), "/Subject", "sf-fault"), 500);
    org.set_faults(Faults::default());
    drain(&outbox, &crm, 500).await;
    assert_eq!(delivered(&outbox, &ids).len(), 500, "a write was lost");
    assert_eq!(
        subjects(&org.records("Case"), "/Subject", "sf-fault"),
        500,
        "a write was duplicated"
    );
    let stats = org.requests();
    assert_eq!(stats.total, 3 + 3, "{stats:?}");
}
