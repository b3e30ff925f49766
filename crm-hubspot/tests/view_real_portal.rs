//! The 360° view and `open_for` against a portal shaped like a real one: HubSpot hangs most deals
//! and tickets off the company (deal→company, ticket→company associations) and only some off the
//! person. The demo portal seeds, for Jane at Acme, an open deal and ticket on both, an open deal
//! and ticket on Acme only, an open deal on Jane only, won deals on both and on Acme only, a closed
//! ticket, and Globex's own open deal and ticket. The view must list each of hers once, newest
//! first, in two sequential round trips, with no more requests than the contact-only view took
//! (6 warm, 8 with the pipelines still to read), the pipelines read once per client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_core::limits::{Bucket, RateLimiter};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::HeaderMap;
use crm_core::{
    Crm, Email, Lookup, ObjectKind, Opportunity, RecordId, RecordRef, ViewOptions, WriteContext,
};
use crm_hubspot::HubSpot;
use crm_hubspot::config::AppKind;
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, demo};

/// Her open deals, newest first (seeded in the reverse order).
const HER_OPEN_DEALS: [&str; 3] = [
    demo::CONTACT_DEAL_ID,
    demo::COMPANY_DEAL_ID,
    demo::OPEN_DEAL_ID,
];
/// Her open tickets, newest first.
const HER_OPEN_TICKETS: [&str; 2] = [demo::COMPANY_TICKET_ID, demo::OPEN_TICKET_ID];

/// Requests the contact-only view took for Jane: the contact, her company, her deals, her
/// tickets, her notes and her calls; plus the deal and ticket pipelines on a cold connection.
const VIEW_REQUESTS_WARM: usize = 6;
const VIEW_REQUESTS_COLD: usize = 8;

/// HubSpot's pacing limiter, recording when each request asks to go (`A`) and when its answer
/// comes back (`O`). A request that waited for an answer starts a new run of `A`s, so the runs
/// count the sequential round trips: requests sent together ask together. (Recorded as they
/// ask, not when let go: a wait for the search bucket's pace is not a round trip.)
#[derive(Debug)]
struct Rounds {
    inner: crm_core::limits::PacingLimiter,
    events: Mutex<Vec<char>>,
}

impl Rounds {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: crm_hubspot::limits::default_limiter(AppKind::default()),
            events: Mutex::new(Vec::new()),
        })
    }

    /// Sequential round trips since the last call.
    fn take(&self) -> usize {
        let events = std::mem::take(&mut *self.events.lock().unwrap());
        let mut rounds = 0;
        let mut previous = 'O';
        for e in events {
            if e == 'A' && previous == 'O' {
                rounds += 1;
            }
            previous = e;
        }
        rounds
    }
}

#[async_trait]
impl RateLimiter for Rounds {
    async fn acquire(&self, bucket: Bucket, max_wait: Duration) -> crm_core::Result<()> {
        self.events.lock().unwrap().push('A');
        self.inner.acquire(bucket, max_wait).await
    }

    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap) {
        self.events.lock().unwrap().push('O');
        self.inner.observe(bucket, status, headers);
    }
}

async fn portal() -> HubSpotFake {
    HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await
}

fn connect(fake: &HubSpotFake, rounds: Arc<Rounds>) -> HubSpot {
    common::builder(fake)
        .with_external_id_property(Some(demo::EXTERNAL_ID_PROPERTY))
        .with_limiter(rounds)
        .build()
        .unwrap()
}

fn jane() -> Lookup {
    Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap())
}

fn jane_ref() -> RecordRef {
    RecordRef::new(
        ObjectKind::Contact,
        RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap(),
    )
}

/// Pipeline reads (deals, tickets) in the fake's log since entry `from`.
fn pipeline_reads(fake: &HubSpotFake, from: usize) -> (usize, usize) {
    let log = fake.requests().log;
    let count = |object: &str| {
        log.iter()
            .skip(from)
            .filter(|l| l.starts_with("GET ") && l.ends_with(&format!("/pipelines/{object}")))
            .count()
    };
    (count("deals"), count("tickets"))
}

#[tokio::test]
async fn the_view_lists_deals_and_tickets_of_her_company_as_well_as_her_own() {
    let fake = portal().await;
    let crm = connect(&fake, Rounds::new());
    let view = crm
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.contact.id.as_str(), demo::CUSTOMER_CONTACT_ID);
    assert_eq!(
        view.account.as_ref().map(|a| a.id.as_str()),
        Some(demo::CUSTOMER_COMPANY_ID)
    );
    let deals: Vec<&str> = view
        .open_opportunities
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    for (id, link) in [
        (demo::COMPANY_DEAL_ID, "her company only"),
        (demo::CONTACT_DEAL_ID, "her only"),
        (demo::OPEN_DEAL_ID, "her and her company"),
    ] {
        assert!(
            deals.contains(&id),
            "the open deal linked to {link} is missing: {deals:?}"
        );
    }
    for (id, what) in [
        (demo::WON_DEAL_ID, "her won deal"),
        (demo::COMPANY_WON_DEAL_ID, "her company's won deal"),
        (demo::GLOBEX_DEAL_ID, "Globex's open deal"),
    ] {
        assert!(!deals.contains(&id), "{what} is listed: {deals:?}");
    }
    // Each once, newest first.
    assert_eq!(deals, HER_OPEN_DEALS);
    let tickets: Vec<&str> = view.open_tickets.iter().map(|t| t.id.as_str()).collect();
    assert!(
        tickets.contains(&demo::COMPANY_TICKET_ID),
        "the open ticket of her company only is missing: {tickets:?}"
    );
    assert!(!tickets.contains(&demo::GLOBEX_TICKET_ID), "{tickets:?}");
    assert!(!tickets.contains(&demo::CLOSED_TICKET_ID), "{tickets:?}");
    assert_eq!(tickets, HER_OPEN_TICKETS);
    // Open states come from the pipelines whichever way the record was found.
    let company_ticket = &view.open_tickets[0];
    let status = company_ticket.status.as_ref().unwrap();
    assert_eq!(
        (status.raw.as_deref(), status.label.as_deref()),
        (Some("1"), Some("New"))
    );
    // A deal found through her company names the company; one found through her, her.
    let by_company = &view.open_opportunities[1];
    assert_eq!(
        by_company.account_id.as_ref().map(RecordId::as_str),
        Some(demo::CUSTOMER_COMPANY_ID)
    );
    let hers = &view.open_opportunities[0];
    assert_eq!(
        hers.contact_id.as_ref().map(RecordId::as_str),
        Some(demo::CUSTOMER_CONTACT_ID)
    );
}

#[tokio::test]
async fn the_view_limits_keep_the_newest_across_both_links() {
    let fake = portal().await;
    let crm = connect(&fake, Rounds::new());
    let options = ViewOptions {
        opportunities: 2,
        tickets: 1,
        ..ViewOptions::default()
    };
    let view = crm.customer_view(&jane(), &options).await.unwrap().unwrap();
    let deals: Vec<&str> = view
        .open_opportunities
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(deals, HER_OPEN_DEALS[..2]);
    let tickets: Vec<&str> = view.open_tickets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(tickets, HER_OPEN_TICKETS[..1]);
}

#[tokio::test]
async fn the_view_takes_two_round_trips_and_no_more_requests_than_before() {
    let fake = portal().await;
    let rounds = Rounds::new();
    let crm = connect(&fake, rounds.clone());
    let start = fake.requests().log.len();

    // Cold: the pipelines are read alongside the contact, not after the records.
    let before = fake.requests().total;
    let cold = crm
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    let cold_requests = fake.requests().total - before;
    let cold_rounds = rounds.take();
    let log = fake.requests().log;
    assert!(
        cold_requests <= VIEW_REQUESTS_COLD,
        "{cold_requests} requests: {log:#?}"
    );
    assert_eq!(cold_rounds, 2, "{log:#?}");

    // Warm: the pipelines come from the client's cache.
    let before = fake.requests().total;
    let warm = crm
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    let warm_requests = fake.requests().total - before;
    let log = fake.requests().log;
    assert!(
        warm_requests <= VIEW_REQUESTS_WARM,
        "{warm_requests} requests: {log:#?}"
    );
    assert_eq!(rounds.take(), 2, "{log:#?}");
    assert_eq!(warm, cold);
    assert_eq!(fake.requests().rate_limited, 0);

    // Once per client, across both lookups.
    assert_eq!(pipeline_reads(&fake, start), (1, 1));
    // Another client of the same portal has its own cache.
    let other = connect(&fake, Rounds::new());
    let start = fake.requests().log.len();
    other
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pipeline_reads(&fake, start), (1, 1));
}

#[tokio::test]
async fn a_lookup_that_finds_nobody_takes_one_round_trip() {
    let fake = portal().await;
    let rounds = Rounds::new();
    let crm = connect(&fake, rounds.clone());
    let nobody = Lookup::Email(Email::parse("nobody@example.com").unwrap());
    let before = fake.requests().total;
    assert!(
        crm.customer_view(&nobody, &ViewOptions::default())
            .await
            .unwrap()
            .is_none()
    );
    // The contact read, and the pipelines read alongside it (kept for the next lookup).
    assert!(fake.requests().total - before <= 3);
    assert_eq!(rounds.take(), 1);
    let start = fake.requests().log.len();
    crm.customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pipeline_reads(&fake, start), (0, 0));
}

#[tokio::test]
async fn a_deal_created_for_her_a_moment_ago_is_in_the_view() {
    // Search sees writes only after a while; the view must not lose her newest deal to that.
    let fake = portal().await;
    let crm = connect(&fake, Rounds::new());
    fake.set_search_lag(Duration::from_secs(3600));
    let created = crm
        .opportunities()
        .create(
            &Opportunity {
                name: Some("Router upgrade".into()),
                contact_id: Some(RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap()),
                ..Opportunity::default()
            },
            &WriteContext::default(),
        )
        .await
        .unwrap();
    let view = crm
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    let deals: Vec<&str> = view
        .open_opportunities
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(deals[0], created.id.as_str(), "{deals:?}");
    assert_eq!(deals[1..], HER_OPEN_DEALS);
}

#[tokio::test]
async fn open_for_her_lists_the_deals_and_tickets_of_her_company_too() {
    let fake = portal().await;
    let crm = connect(&fake, Rounds::new());
    let open = crm.opportunities().open_for(&jane_ref(), 10).await.unwrap();
    let ids: Vec<&str> = open.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, HER_OPEN_DEALS);
    let two = crm.opportunities().open_for(&jane_ref(), 2).await.unwrap();
    let ids: Vec<&str> = two.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, HER_OPEN_DEALS[..2]);
    let tickets = crm.tickets().open_for(&jane_ref(), 10).await.unwrap();
    let ids: Vec<&str> = tickets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, HER_OPEN_TICKETS);
}

#[tokio::test]
async fn open_for_a_company_lists_only_its_own_open_deals() {
    let fake = portal().await;
    let crm = connect(&fake, Rounds::new());
    let company = |id: &str| RecordRef::new(ObjectKind::Account, RecordId::new(id).unwrap());
    let open = crm
        .opportunities()
        .open_for(&company(demo::CUSTOMER_COMPANY_ID), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = open.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [demo::COMPANY_DEAL_ID, demo::OPEN_DEAL_ID]);
    let open = crm
        .opportunities()
        .open_for(&company(demo::GLOBEX_COMPANY_ID), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = open.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, [demo::GLOBEX_DEAL_ID]);
}

#[tokio::test]
async fn concurrent_lookups_on_a_cold_client_read_the_pipelines_once() {
    let fake = portal().await;
    let crm = connect(&fake, Rounds::new());
    let (options, jane) = (ViewOptions::default(), jane());
    let (a, b) = crm_core::reexports::futures::join!(
        crm.customer_view(&jane, &options),
        crm.customer_view(&jane, &options)
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(pipeline_reads(&fake, 0), (1, 1));
}
