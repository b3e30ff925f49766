//! Issue 14: a create and the creates that link to it (`Crm::create_linked`) in one all-or-none
//! Composite request, children referring to `@{parent.id}`: a contact and its cases, a case and
//! its task; more children than one request holds go parent first, then in a Collections batch.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use crm_core::linked::LinkedCreate;
use crm_core::{Activity, Actor, Contact, Crm, IdempotencyKey, Personal, Ticket};
use crm_testkit::salesforce::SalesforceFakeConfig;

fn ticket(subject: &str) -> Ticket {
    Ticket {
        subject: Some(Personal::new(subject.to_owned())),
        ..Ticket::default()
    }
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::new(text).unwrap()
}

#[tokio::test]
async fn issue14_a_contact_and_its_cases_are_one_composite_request_with_their_links() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::builder(&org).build().unwrap();
    let contact = Contact {
        last_name: Some(Personal::new("Linked".to_owned())),
        ..Contact::default()
    };
    let parent = LinkedCreate::new(contact, Actor::Bot).with_idempotency_key(key("c-1"));
    let children = [
        LinkedCreate::new(ticket("first"), Actor::Bot).with_idempotency_key(key("t-1")),
        LinkedCreate::new(ticket("second"), Actor::Bot).with_idempotency_key(key("t-2")),
    ];
    let done = crm.create_linked(&parent, &children).await;
    let contact_id = done.parent.unwrap();
    assert_eq!(org.requests().total, 1, "{:?}", org.request_log());
    for child in done.children {
        let case = org.record("Case", child.unwrap().as_str()).unwrap();
        assert_eq!(case["ContactId"], contact_id.as_str(), "{case}");
    }
    // The same group again (a replay after a lost answer): found by the keys, nothing added.
    let cases = org.records("Case").len();
    let again = crm.create_linked(&parent, &children).await;
    assert_eq!(again.parent.unwrap(), contact_id);
    assert_eq!(org.records("Case").len(), cases);
}

#[tokio::test]
async fn issue14_without_an_idempotency_field_the_group_is_plain_posts() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::builder(&org)
        .with_idempotency_field(None)
        .build()
        .unwrap();
    let note = Activity {
        body: Some(Personal::new("on the case".to_owned())),
        ..Activity::default()
    };
    let done = crm
        .create_linked(
            &LinkedCreate::new(ticket("plain"), Actor::Bot),
            &[LinkedCreate::new(note, Actor::Bot)],
        )
        .await;
    let case_id = done.parent.unwrap();
    let task_id = done.children[0].as_ref().unwrap();
    assert_eq!(org.requests().total, 1);
    assert_eq!(
        org.record("Task", task_id.as_str()).unwrap()["WhatId"],
        case_id.as_str()
    );
}

#[tokio::test]
async fn issue14_more_children_than_one_composite_holds_go_after_their_parent_in_a_batch() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::builder(&org).build().unwrap();
    let children: Vec<LinkedCreate> = (0..30)
        .map(|i| {
            let note = Activity {
                body: Some(Personal::new(format!("note {i}"))),
                ..Activity::default()
            };
            LinkedCreate::new(note, Actor::Bot).with_idempotency_key(key(&format!("n-{i}")))
        })
        .collect();
    let parent = LinkedCreate::new(ticket("many"), Actor::Bot).with_idempotency_key(key("m-1"));
    let done = crm.create_linked(&parent, &children).await;
    let case_id = done.parent.unwrap();
    // Composite takes 25 subrequests: the case, then its 30 tasks in one Collections request.
    assert_eq!(org.requests().total, 2, "{:?}", org.request_log());
    for child in done.children {
        let task = org.record("Task", child.unwrap().as_str()).unwrap();
        assert_eq!(task["WhatId"], case_id.as_str());
    }
}
