//! Salesforce at the platform's sizes (issue 14), counted on the fake: sObject Collections at
//! 200 records per request with no read-back query, keyed batch creates that keep each item's
//! key, and listings that ask for `Sforce-Query-Options: batchSize` and follow
//! `nextRecordsUrl` whatever page size the caller wants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use crm_core::reexports::futures::{StreamExt, TryStreamExt};
use crm_core::{
    Contact, Crm, Email, ErrorKind, IdempotencyKey, ListQuery, Page, Personal, Record, RecordId,
    Ticket, UpsertKey, WriteContext,
};
use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};

fn contact(n: usize) -> Contact {
    Contact {
        last_name: Some(format!("Batch {n}").into()),
        email: Some(Email::parse(&format!("batch{n}@sizes.example")).unwrap()),
        ..Contact::default()
    }
}

fn ticket(n: usize) -> Ticket {
    Ticket {
        subject: Some(Personal::new(format!("batch ticket {n}"))),
        ..Ticket::default()
    }
}

fn key(n: usize) -> IdempotencyKey {
    IdempotencyKey::derive("sizes", &format!("conv-{n}"), "ticket")
}

/// An org holding 5,000 contacts (the 4 of the demo data and 4,996 more).
async fn org_of_5000() -> SalesforceFake {
    let org = common::fake(SalesforceFakeConfig {
        extra_contacts: 4996,
        ..SalesforceFakeConfig::default()
    })
    .await;
    assert_eq!(org.records("Contact").len(), 5000);
    org
}

#[tokio::test]
async fn issue14_5000_upserts_are_25_collections_requests_and_1_token_with_no_read_back() {
    // No duplicate rule: every email is new, and checking 5,000 of them against each other
    // only slows the fake down.
    let org = common::fake(SalesforceFakeConfig {
        duplicate_rule: false,
        ..SalesforceFakeConfig::default()
    })
    .await;
    let crm = common::connect(&org);
    let inputs: Vec<(UpsertKey, Contact)> = (0..5000)
        .map(|n| (UpsertKey::ExternalId(format!("w1-{n}")), contact(n)))
        .collect();
    let results = crm
        .contacts()
        .upsert_batch(&inputs, &WriteContext::default())
        .await;
    let stats = org.requests();
    assert_eq!(stats.total, 25, "{stats:?}");
    assert_eq!(stats.patch, 25);
    assert_eq!(stats.get, 0, "a read-back query was sent");
    assert_eq!(stats.token_requests, 1);
    // Each result is the input with the id Collections returned.
    for (n, r) in results.iter().enumerate() {
        let u = r.as_ref().unwrap();
        assert!(u.created);
        assert_eq!(u.record.email, contact(n).email);
        let stored = org.record("Contact", u.record.id.as_str()).unwrap();
        assert_eq!(stored["External_Id__c"], format!("w1-{n}"));
    }
}

#[tokio::test]
async fn issue14_a_read_back_is_sent_only_when_asked() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let inputs: Vec<Contact> = (0..450).map(contact).collect();
    let crm = common::connect(&org);
    let created = crm
        .contacts()
        .create_batch(&inputs, &WriteContext::default())
        .await;
    assert!(created.iter().all(Result::is_ok));
    assert_eq!((org.requests().post, org.requests().get), (3, 0));

    let asked = common::builder(&org)
        .with_batch_read_back(true)
        .build()
        .unwrap();
    let before = org.requests();
    let fresh: Vec<Contact> = (1000..1010).map(contact).collect();
    let read: Vec<_> = asked
        .contacts()
        .create_batch(&fresh, &WriteContext::default())
        .await;
    let after = org.requests();
    assert_eq!((after.post - before.post, after.get - before.get), (1, 1));
    // The read-back carries what the org holds, such as the modification time.
    assert!(read[0].as_ref().unwrap().updated_at.is_some());
    // The setting also comes by name, as from a connection file.
    let by_name = common::builder(&org)
        .with_config("batch_read_back", "yes")
        .build()
        .unwrap();
    let before = org.requests().get;
    by_name
        .contacts()
        .create_batch(&[contact(2000)], &WriteContext::default())
        .await;
    assert_eq!(org.requests().get - before, 1);
    assert!(
        common::builder(&org)
            .with_config("batch_read_back", "maybe")
            .build()
            .is_err()
    );
}

async fn collect(crm: &dyn Crm, page_size: Option<u32>) -> Vec<Page<Record<Contact>>> {
    crm.contacts()
        .list(ListQuery {
            page_size: page_size.and_then(NonZeroU32::new),
            ..ListQuery::default()
        })
        .try_collect()
        .await
        .unwrap()
}

fn ids(pages: &[Page<Record<Contact>>]) -> BTreeSet<RecordId> {
    pages
        .iter()
        .flat_map(|p| p.items.iter().map(|r| r.id.clone()))
        .collect()
}

#[tokio::test]
async fn issue14_reading_5000_contacts_is_3_query_requests_whatever_the_page_size() {
    let org = org_of_5000().await;
    let crm = common::connect(&org);
    // 100-record pages are below Salesforce's 200 minimum batch: they are cut from batches of
    // 2,000, not asked for one small keyset query at a time (which took 51 requests).
    for size in [Some(100), Some(7), None, Some(2000)] {
        let before = org.requests();
        let pages = collect(&crm, size).await;
        let after = org.requests();
        assert_eq!(after.total - before.total, 3, "page size {size:?}");
        assert_eq!(ids(&pages).len(), 5000, "page size {size:?}");
        let want = size.unwrap_or(2000) as usize;
        assert!(pages.iter().all(|p| p.items.len() <= want));
        assert_eq!(pages.len(), 5000usize.div_ceil(want), "page size {size:?}");
    }
    assert_eq!(org.requests().token_requests, 1);
}

#[tokio::test]
async fn issue14_the_query_batch_size_is_a_setting_of_200_to_2000() {
    let org = org_of_5000().await;
    let crm = common::builder(&org)
        .with_query_batch_size(500)
        .build()
        .unwrap();
    let before = org.requests().total;
    let pages = collect(&crm, Some(100)).await;
    assert_eq!(org.requests().total - before, 10);
    assert_eq!(ids(&pages).len(), 5000);
    for bad in [199, 2001] {
        let err = common::builder(&org)
            .with_query_batch_size(bad)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config);
        assert!(err.message().contains("query_batch_size"), "{err}");
    }
}

#[tokio::test]
async fn issue14_a_small_page_cursor_resumes_with_the_batch_size() {
    let org = org_of_5000().await;
    let crm = common::connect(&org);
    let mut stream = crm.contacts().list(ListQuery {
        page_size: NonZeroU32::new(100),
        ..ListQuery::default()
    });
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(stream.next().await.unwrap().unwrap());
    }
    drop(stream);
    let cursor = first[2].next.clone().unwrap();
    let before = org.requests().total;
    let rest: Vec<_> = crm
        .contacts()
        .list(ListQuery {
            page_size: NonZeroU32::new(100),
            resume: Some(cursor),
            ..ListQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    // 4,700 records left: the connection still holds the 1,700 of the first batch the
    // dropped stream did not hand out, so two more batches (2,000 + 1,000).
    assert_eq!(org.requests().total - before, 2);
    let mut all = ids(&first);
    let n = all.len();
    all.extend(ids(&rest));
    assert_eq!(n, 300);
    assert_eq!(all.len(), 5000, "a record was skipped or repeated");
    // Resumed on another connection (another process), the listing reads the org afresh from
    // the record the cursor names: three batches (2,000 + 2,000 + 700).
    let elsewhere = common::connect(&org);
    let before = org.requests().total;
    let rest: Vec<_> = elsewhere
        .contacts()
        .list(ListQuery {
            page_size: NonZeroU32::new(100),
            resume: first[2].next.clone(),
            ..ListQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(org.requests().total - before, 3);
    let again = ids(&rest);
    assert_eq!(again.len(), 4700);
    assert!(again.is_disjoint(&ids(&first)), "a record was repeated");
}

#[tokio::test]
async fn issue14_keyed_batch_creates_are_collections_upserts_on_each_items_own_key() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let cases = org.records("Case").len();
    let items: Vec<(IdempotencyKey, Ticket)> = (0..450).map(|n| (key(n), ticket(n))).collect();
    let first = crm
        .tickets()
        .create_batch_keyed(&items, &WriteContext::default())
        .await;
    assert_eq!(org.requests().total, 3, "450 records in 200 + 200 + 50");
    assert_eq!(org.records("Case").len(), cases + 450);
    for (n, r) in first.iter().enumerate() {
        let record = r.as_ref().unwrap();
        assert_eq!(record.data.subject, ticket(n).subject);
        let stored = org.record("Case", record.id.as_str()).unwrap();
        assert_eq!(stored["Idempotency_Key__c"], key(n).as_str());
    }
    // Regrouped and sent again (as after a lost answer): every item finds its first record.
    let mut regrouped = items[300..].to_vec();
    regrouped.extend_from_slice(&items[..300]);
    let again = crm
        .tickets()
        .create_batch_keyed(&regrouped, &WriteContext::default())
        .await;
    assert_eq!(
        org.records("Case").len(),
        cases + 450,
        "a replay duplicated"
    );
    for (r, (k, _)) in again.iter().zip(&regrouped) {
        let n = items.iter().position(|(key, _)| key == k).unwrap();
        assert_eq!(r.as_ref().unwrap().id, first[n].as_ref().unwrap().id);
    }
    assert_eq!(org.requests().total, 6);
}

#[tokio::test]
async fn issue14_keyed_batch_creates_without_the_field_fail_each_item_before_any_request() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let c = org.config();
    let crm = crm_salesforce::SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_refresh_token(
            c.client_id.clone(),
            Some(c.client_secret.clone().into()),
            c.refresh_token.clone().into(),
        )
        .build()
        .unwrap();
    let items: Vec<_> = (0..3).map(|n| (key(n), ticket(n))).collect();
    let results = crm
        .tickets()
        .create_batch_keyed(&items, &WriteContext::default())
        .await;
    assert_eq!(results.len(), 3);
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Config);
        assert!(e.message().contains("idempotency_field"), "{e}");
    }
    assert_eq!(org.requests().total, 0);
}
