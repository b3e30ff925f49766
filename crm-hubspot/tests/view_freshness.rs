//! The 360° view right after the bot's own writes: HubSpot's search index lags writes by
//! seconds and a hit carries the index's copy, so a ticket the bot closed a moment ago would
//! still read as open there. What this connection wrote recently is read by id instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::time::Duration;

use crm_core::{
    Crm, Email, Lookup, Opportunity, OpportunityState, RecordId, Status, Ticket, TicketState,
    ViewOptions, WriteContext,
};
use crm_hubspot::HubSpot;
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, demo};

async fn lagging_fake() -> HubSpotFake {
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    // Long enough that nothing written in the test reaches the index by itself.
    fake.set_search_lag(Duration::from_secs(3600));
    fake
}

fn connect(fake: &HubSpotFake) -> HubSpot {
    common::builder(fake).build().unwrap()
}

fn id(text: &str) -> RecordId {
    RecordId::new(text).unwrap()
}

/// Closes ticket `ticket` through `crm`.
async fn close_ticket(crm: &HubSpot, ticket: &str) {
    let closed = Ticket {
        status: Some(Status::new(TicketState::Closed)),
        ..Ticket::default()
    };
    crm.tickets()
        .update(&id(ticket), &closed, &WriteContext::default())
        .await
        .unwrap();
}

async fn view_of_jane(crm: &HubSpot) -> (Vec<String>, Vec<String>) {
    let email = Email::parse(demo::CUSTOMER_EMAIL).unwrap();
    let view = crm
        .customer_view(&Lookup::Email(email), &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    let tickets = view.open_tickets.iter().map(|t| t.id.to_string()).collect();
    let deals = view
        .open_opportunities
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    (tickets, deals)
}

/// A ticket of Jane's own, a ticket of her company's and a deal of hers, closed by the bot just
/// before the next conversation's view: none of them is shown as open, although search still
/// holds their open copies; records nobody wrote keep coming from search.
#[tokio::test]
async fn records_the_bot_just_closed_are_not_shown_open_in_the_next_view() {
    let fake = lagging_fake().await;
    let crm = connect(&fake);
    let (tickets, deals) = view_of_jane(&crm).await;
    assert!(
        tickets.contains(&demo::OPEN_TICKET_ID.to_owned()),
        "{tickets:?}"
    );
    assert!(
        tickets.contains(&demo::COMPANY_TICKET_ID.to_owned()),
        "{tickets:?}"
    );
    assert!(deals.contains(&demo::OPEN_DEAL_ID.to_owned()), "{deals:?}");

    for t in [demo::OPEN_TICKET_ID, demo::COMPANY_TICKET_ID] {
        close_ticket(&crm, t).await;
    }
    let won = Opportunity {
        stage: Some(Status::new(OpportunityState::Won)),
        ..Opportunity::default()
    };
    crm.opportunities()
        .update(&id(demo::OPEN_DEAL_ID), &won, &WriteContext::default())
        .await
        .unwrap();

    let before = fake.requests();
    let (tickets, deals) = view_of_jane(&crm).await;
    let cost = fake.requests().total - before.total;
    assert!(
        !tickets.contains(&demo::OPEN_TICKET_ID.to_owned()),
        "{tickets:?}"
    );
    assert!(
        !tickets.contains(&demo::COMPANY_TICKET_ID.to_owned()),
        "{tickets:?}"
    );
    assert!(!deals.contains(&demo::OPEN_DEAL_ID.to_owned()), "{deals:?}");
    // Her other open deals still come from search's copy.
    assert!(
        deals.contains(&demo::COMPANY_DEAL_ID.to_owned()),
        "{deals:?}"
    );
    // Six requests warm, plus the ticket and the deal of her own read by id beside the
    // searches, plus the company's ticket read by id after the ticket search named it.
    assert_eq!(cost, 9, "the view after the writes took {cost} requests");

    // A second connection (another process) knows nothing of those writes: it reads search's
    // copy, as any reader of a lagging index does.
    let other = connect(&fake);
    let (tickets, _) = view_of_jane(&other).await;
    assert!(
        tickets.contains(&demo::OPEN_TICKET_ID.to_owned()),
        "{tickets:?}"
    );
}

/// The usual case — the bot closed a ticket of the customer's own — costs one more request
/// (read beside the search): seven, the ticket gone from the open ones, her company's still
/// there.
#[tokio::test]
async fn closing_her_own_ticket_costs_one_more_request() {
    let fake = lagging_fake().await;
    let crm = connect(&fake);
    view_of_jane(&crm).await;
    close_ticket(&crm, demo::OPEN_TICKET_ID).await;
    let before = fake.requests();
    let (tickets, _) = view_of_jane(&crm).await;
    assert_eq!(fake.requests().total - before.total, 7);
    assert!(
        !tickets.contains(&demo::OPEN_TICKET_ID.to_owned()),
        "{tickets:?}"
    );
    assert!(
        tickets.contains(&demo::COMPANY_TICKET_ID.to_owned()),
        "{tickets:?}"
    );
}

/// `open_for` reads the contact's own tickets as written whoever wrote them: a connection that
/// did not close the ticket itself (another process) still does not list it as open, though
/// search holds its open copy.
#[tokio::test]
async fn open_for_reads_her_own_records_as_written_whoever_wrote_them() {
    let fake = lagging_fake().await;
    close_ticket(&connect(&fake), demo::OPEN_TICKET_ID).await;
    let reader = connect(&fake);
    let jane =
        crm_core::RecordRef::new(crm_core::ObjectKind::Contact, id(demo::CUSTOMER_CONTACT_ID));
    let open: Vec<String> = reader
        .tickets()
        .open_for(&jane, 50)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id.to_string())
        .collect();
    assert!(!open.contains(&demo::OPEN_TICKET_ID.to_owned()), "{open:?}");
    assert!(
        open.contains(&demo::COMPANY_TICKET_ID.to_owned()),
        "{open:?}"
    );
}
