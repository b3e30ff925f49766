//! The 360° view and `open_for` against an org shaped like a real one: Salesforce hangs
//! opportunities off the contact's account (`Opportunity.AccountId`) and attaches people through
//! `OpportunityContactRole`; `Opportunity.ContactId` is only set by some flows. The demo org
//! seeds one open opportunity per link (account only, contact role only, `ContactId` only, and
//! one on her account that also names her), a won one on her account, and another customer's
//! open one (on Globex, with Maria's contact role). The view must list each of hers once, newest
//! first, in one Composite request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use crm_core::{Crm, Email, Lookup, ObjectKind, RecordRef, ViewOptions};
use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig, demo};

/// Every open opportunity linked to Jane, newest first (the seeds are created in this reverse
/// order, so their `LastModifiedDate`s descend this way).
const JANES_OPEN: [&str; 4] = [
    demo::CONTACT_OPPORTUNITY_ID,
    demo::ROLE_OPPORTUNITY_ID,
    demo::ACCOUNT_OPPORTUNITY_ID,
    demo::OPEN_OPPORTUNITY_ID,
];

fn jane() -> Lookup {
    Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap())
}

async fn org() -> SalesforceFake {
    common::fake(SalesforceFakeConfig::default()).await
}

/// `(API requests, token requests, composite POSTs)` since `before`.
fn spent(
    org: &SalesforceFake,
    before: &crm_testkit::salesforce::RequestStats,
    log_before: usize,
) -> (usize, usize, usize) {
    let after = org.requests();
    let composites = org
        .request_log()
        .iter()
        .skip(log_before)
        .filter(|(m, p)| m == "POST" && p.ends_with("/composite"))
        .count();
    (
        after.total - before.total,
        after.token_requests - before.token_requests,
        composites,
    )
}

#[tokio::test]
async fn the_view_lists_opportunities_linked_by_account_role_and_contact_id() {
    let org = org().await;
    let crm = common::connect(&org);
    let before = org.requests();
    let log_before = org.request_log().len();
    let view = crm
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    // One Composite request, after the one token request of a cold connection.
    assert_eq!(spent(&org, &before, log_before), (1, 1, 1));
    assert_eq!(view.contact.id.as_str(), demo::CUSTOMER_CONTACT_ID);
    let opps: Vec<&str> = view
        .open_opportunities
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    for (id, link) in [
        (demo::ACCOUNT_OPPORTUNITY_ID, "her account only"),
        (demo::ROLE_OPPORTUNITY_ID, "a contact role only"),
        (demo::CONTACT_OPPORTUNITY_ID, "ContactId only"),
        (demo::OPEN_OPPORTUNITY_ID, "her account and ContactId"),
    ] {
        assert!(
            opps.contains(&id),
            "the opportunity linked by {link} is missing: {opps:?}"
        );
    }
    assert!(
        !opps.contains(&demo::WON_OPPORTUNITY_ID),
        "the won opportunity is listed as open"
    );
    assert!(
        !opps.contains(&demo::GLOBEX_OPPORTUNITY_ID),
        "another customer's opportunity is listed"
    );
    // Each once (the one on her account that names her is found twice), newest first.
    assert_eq!(opps, JANES_OPEN);
    let cases: Vec<&str> = view.open_tickets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(cases, [demo::OPEN_CASE_ID]);
    assert_eq!(view.recent_activities.len(), 4);
    assert_eq!(view.recent_activities[0].id.as_str(), demo::CHAT_TASK_ID);

    // Warm: one request, no token request.
    let before = org.requests();
    let log_before = org.request_log().len();
    let again = crm
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent(&org, &before, log_before), (1, 0, 1));
    assert_eq!(again, view);
}

#[tokio::test]
async fn the_view_limit_keeps_the_newest_across_links() {
    let org = org().await;
    let crm = common::connect(&org);
    let options = ViewOptions {
        opportunities: 2,
        ..ViewOptions::default()
    };
    let view = crm.customer_view(&jane(), &options).await.unwrap().unwrap();
    let opps: Vec<&str> = view
        .open_opportunities
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(opps, JANES_OPEN[..2]);
}

#[tokio::test]
async fn a_contact_without_an_account_still_gets_a_view_in_one_request() {
    let org = org().await;
    let crm = common::connect(&org);
    let kenji = Lookup::Email(Email::parse(demo::KENJI_EMAIL).unwrap());
    let before = org.requests();
    let log_before = org.request_log().len();
    let view = crm
        .customer_view(&kenji, &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent(&org, &before, log_before), (1, 1, 1));
    assert_eq!(view.contact.id.as_str(), demo::KENJI_CONTACT_ID);
    assert!(view.account.is_none());
    assert!(view.open_opportunities.is_empty());
}

#[tokio::test]
async fn open_for_a_contact_finds_every_link_in_one_request() {
    let org = org().await;
    let crm = common::connect(&org);
    // Warm the token first so the count below is the lookup alone.
    crm.customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap();
    let me = RecordRef::new(
        ObjectKind::Contact,
        demo::CUSTOMER_CONTACT_ID.parse().unwrap(),
    );
    let before = org.requests();
    let log_before = org.request_log().len();
    let open = crm.opportunities().open_for(&me, 10).await.unwrap();
    assert_eq!(spent(&org, &before, log_before), (1, 0, 1));
    let ids: Vec<&str> = open.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, JANES_OPEN);
    let two = crm.opportunities().open_for(&me, 2).await.unwrap();
    let ids: Vec<&str> = two.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, JANES_OPEN[..2]);
}

#[tokio::test]
async fn open_for_an_account_lists_its_open_opportunities() {
    let org = org().await;
    let crm = common::connect(&org);
    let acme = RecordRef::new(
        ObjectKind::Account,
        demo::CUSTOMER_ACCOUNT_ID.parse().unwrap(),
    );
    let open = crm.opportunities().open_for(&acme, 10).await.unwrap();
    let ids: Vec<&str> = open.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(
        ids,
        [demo::ACCOUNT_OPPORTUNITY_ID, demo::OPEN_OPPORTUNITY_ID]
    );
    let globex = RecordRef::new(
        ObjectKind::Account,
        demo::GLOBEX_ACCOUNT_ID.parse().unwrap(),
    );
    let open = crm.opportunities().open_for(&globex, 10).await.unwrap();
    let ids: Vec<&str> = open.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [demo::GLOBEX_OPPORTUNITY_ID]);
}
