//! Issue 14: the durable outbox delivers creates in the vendor's batches, on the HubSpot and
//! Salesforce fakes — ⌈n / batch⌉ write requests, and after-commit faults neither lose nor
//! duplicate a write, because every item carries its own stored key. A note that depends on a
//! ticket enqueued in the same conversation waits for it and lands on its record.
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
use crm_core::{Activity, Actor, Crm, IdempotencyKey, Personal, RecordId, Ticket};
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

/// Enqueues `n` tickets and, for each, a note that depends on it. Returns (tickets, notes).
fn enqueue_tickets_with_notes(
    outbox: &Outbox,
    n: usize,
    run: &str,
) -> (Vec<WriteId>, Vec<WriteId>) {
    let tickets = enqueue(outbox, n, run);
    let notes = tickets
        .iter()
        .enumerate()
        .map(|(i, ticket)| {
            let note = Activity {
                body: Some(Personal::new(format!("{run} note {i}"))),
                ..Activity::default()
            };
            let key = IdempotencyKey::derive("acme", &format!("{run}-{i}"), "note");
            outbox
                .enqueue(
                    "acme",
                    &PendingWrite::create(&note, key, Actor::Bot)
                        .unwrap()
                        .depends_on(*ticket),
                )
                .unwrap()
        })
        .collect();
    (tickets, notes)
}

fn delivered_one(outbox: &Outbox, id: WriteId) -> RecordId {
    match outbox.status(id).unwrap() {
        WriteStatus::Delivered { record_id } => record_id,
        other => panic!("write {id}: {other:?}"),
    }
}

#[tokio::test]
async fn issue14_hubspot_a_note_that_depends_on_a_ticket_is_associated_with_its_record() {
    let (fake, crm) = hubspot().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let (tickets, notes) = enqueue_tickets_with_notes(&outbox, 3, "hs-dep");
    let seeded = fake.records("notes").len();
    // The first round sends the tickets only: the notes wait for their records.
    let report = outbox.deliver("acme", &crm, 100).await.unwrap();
    assert_eq!(report.delivered, 3);
    assert_eq!(
        fake.records("notes").len(),
        seeded,
        "a note went out before its ticket"
    );
    let report = outbox.deliver("acme", &crm, 100).await.unwrap();
    assert_eq!(report.delivered, 3);
    for (ticket, note) in tickets.iter().zip(&notes) {
        let ticket_id = delivered_one(&outbox, *ticket);
        let note_id = delivered_one(&outbox, *note);
        // HubSpot activity ids name their object: `note:<id>`.
        let raw = note_id.as_str().trim_start_matches("note:");
        assert_eq!(
            fake.associations("notes", raw, "tickets"),
            [ticket_id.as_str()],
            "note {note} is not on its ticket"
        );
    }
}

#[tokio::test]
async fn issue14_salesforce_a_task_that_depends_on_a_case_gets_its_what_id() {
    let (org, crm) = salesforce().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let (tickets, notes) = enqueue_tickets_with_notes(&outbox, 3, "sf-dep");
    let seeded = org.records("Task").len();
    let report = outbox.deliver("acme", &crm, 200).await.unwrap();
    assert_eq!(report.delivered, 3);
    assert_eq!(
        org.records("Task").len(),
        seeded,
        "a task went out before its case"
    );
    let report = outbox.deliver("acme", &crm, 200).await.unwrap();
    assert_eq!(report.delivered, 3);
    for (ticket, note) in tickets.iter().zip(&notes) {
        let case_id = delivered_one(&outbox, *ticket);
        let task_id = delivered_one(&outbox, *note);
        let task = org.record("Task", task_id.as_str()).unwrap();
        assert_eq!(task["WhatId"], case_id.as_str(), "{task}");
    }
}

// --- a create and the writes that depend on it, in one round ---------------------------------

/// Enqueues one ticket and a note depending on it; `note_subject` sets the note's subject.
fn enqueue_ticket_and_note(
    outbox: &Outbox,
    run: &str,
    note_subject: Option<String>,
) -> (WriteId, WriteId) {
    let ticket = enqueue(outbox, 1, run)[0];
    let note = Activity {
        subject: note_subject.map(Personal::new),
        body: Some(Personal::new(format!("{run} note"))),
        ..Activity::default()
    };
    let key = IdempotencyKey::derive("acme", run, "note");
    let note = outbox
        .enqueue(
            "acme",
            &PendingWrite::create(&note, key, Actor::Bot)
                .unwrap()
                .depends_on(ticket),
        )
        .unwrap();
    (ticket, note)
}

/// Tasks of the org whose description starts with `<run> note`.
fn tasks_of(org: &SalesforceFake, run: &str) -> Vec<serde_json::Value> {
    org.records("Task")
        .into_iter()
        .filter(|t| {
            t["Description"]
                .as_str()
                .is_some_and(|d| d.starts_with(&format!("{run} note")))
        })
        .collect()
}

#[tokio::test]
async fn issue14_salesforce_a_case_and_its_task_go_in_one_composite_request() {
    let (org, crm) = salesforce().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let (ticket, note) = enqueue_ticket_and_note(&outbox, "sf-linked", None);
    let report = outbox.deliver("acme", &crm, 200).await.unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    let stats = org.requests();
    assert_eq!(stats.total, 1, "one data request: {stats:?}");
    assert_eq!(stats.token_requests, 1);
    let log = org.request_log();
    assert!(log[0].1.ends_with("/composite"), "{log:?}");
    let case_id = delivered_one(&outbox, ticket);
    let task_id = delivered_one(&outbox, note);
    let task = org.record("Task", task_id.as_str()).unwrap();
    assert_eq!(task["WhatId"], case_id.as_str(), "{task}");
    assert_eq!(subjects(&org.records("Case"), "/Subject", "sf-linked"), 1);
}

#[tokio::test]
async fn issue14_salesforce_a_lost_composite_answer_is_sent_again_by_key_without_a_duplicate() {
    let (org, crm) = salesforce().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let (ticket, note) = enqueue_ticket_and_note(&outbox, "sf-lost", None);
    // The org writes both, and the answer is lost.
    org.set_faults(Faults {
        after_commit_next: 1,
        ..Faults::default()
    });
    let report = outbox.deliver("acme", &crm, 200).await.unwrap();
    assert_eq!(report.retried, 2, "{report:?}");
    assert_eq!(subjects(&org.records("Case"), "/Subject", "sf-lost"), 1);
    // Sent again as the same two upserts on their own keys: found, not created again.
    let report = outbox.deliver("acme", &crm, 200).await.unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    assert_eq!(org.requests().total, 2);
    assert_eq!(
        subjects(&org.records("Case"), "/Subject", "sf-lost"),
        1,
        "the case was duplicated"
    );
    let tasks = tasks_of(&org, "sf-lost");
    assert_eq!(tasks.len(), 1, "the task was duplicated");
    let case_id = delivered_one(&outbox, ticket);
    let task_id = delivered_one(&outbox, note);
    assert_eq!(tasks[0]["Id"], task_id.as_str());
    assert_eq!(tasks[0]["WhatId"], case_id.as_str());
}

#[tokio::test]
async fn issue14_salesforce_a_group_whose_task_fails_validation_is_rolled_back_and_reported_per_item()
 {
    let (org, crm) = salesforce().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    // Task.Subject holds 255 characters.
    let (ticket, note) = enqueue_ticket_and_note(&outbox, "sf-invalid", Some("x".repeat(300)));
    let report = outbox.deliver("acme", &crm, 200).await.unwrap();
    assert_eq!((report.retried, report.failed), (1, 1), "{report:?}");
    assert_eq!(
        subjects(&org.records("Case"), "/Subject", "sf-invalid"),
        0,
        "the case was not rolled back"
    );
    let WriteStatus::Failed { error } = outbox.status(note).unwrap() else {
        panic!("the task is not failed");
    };
    assert!(
        error.contains("subject"),
        "its own error, naming its field: {error}"
    );
    let WriteStatus::Pending {
        last_error: Some(why),
        ..
    } = outbox.status(ticket).unwrap()
    else {
        panic!("the case is not pending");
    };
    assert!(why.contains("rolled back"), "{why}");
    // The case goes alone in the next round.
    let report = outbox.deliver("acme", &crm, 200).await.unwrap();
    assert_eq!(report.delivered, 1);
    delivered_one(&outbox, ticket);
    assert_eq!(subjects(&org.records("Case"), "/Subject", "sf-invalid"), 1);
    assert!(tasks_of(&org, "sf-invalid").is_empty());
}

#[tokio::test]
async fn issue14_salesforce_without_an_idempotency_field_a_lost_group_is_parked_not_sent_again() {
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let c = org.config();
    let crm = SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_refresh_token(
            c.client_id.clone(),
            Some(c.client_secret.clone().into()),
            c.refresh_token.clone().into(),
        )
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let (ticket, note) = enqueue_ticket_and_note(&outbox, "sf-unkeyed", None);
    org.set_faults(Faults {
        after_commit_next: 1,
        ..Faults::default()
    });
    let report = outbox.deliver("acme", &crm, 200).await.unwrap();
    assert_eq!(report.parked, 2, "{report:?}");
    for id in [ticket, note] {
        assert!(matches!(
            outbox.status(id).unwrap(),
            WriteStatus::Parked { .. }
        ));
    }
    outbox.deliver("acme", &crm, 200).await.unwrap();
    assert_eq!(org.requests().total, 1, "a create in doubt was sent again");
    assert_eq!(subjects(&org.records("Case"), "/Subject", "sf-unkeyed"), 1);
}

#[tokio::test]
async fn issue14_hubspot_a_ticket_and_its_note_go_in_one_round_2_requests_no_association_call() {
    let (fake, crm) = hubspot().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), config()).unwrap();
    let (ticket, note) = enqueue_ticket_and_note(&outbox, "hs-linked", None);
    let before = fake.requests().log.len();
    let report = outbox.deliver("acme", &crm, 100).await.unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    // Besides the connection's one read of the ticket pipelines (cached metadata), the round
    // costs two requests: the ticket, then the note with its association inline.
    let log: Vec<String> = fake.requests().log[before..]
        .iter()
        .filter(|l| *l != "GET /crm/v3/pipelines/tickets")
        .cloned()
        .collect();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].contains("tickets") && log[1].contains("notes"),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("/associations")),
        "the note's association went inline: {log:?}"
    );
    let ticket_id = delivered_one(&outbox, ticket);
    let note_id = delivered_one(&outbox, note);
    let raw = note_id.as_str().trim_start_matches("note:");
    assert_eq!(
        fake.associations("notes", raw, "tickets"),
        [ticket_id.as_str()]
    );
}
