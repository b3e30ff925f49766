//! The HubSpot adapter against the HubSpot fake: the shared conformance suite, both path
//! families, and the request count of the 360° view.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use crm_core::{Crm, Email, Lookup, Phone, Region, ViewOptions};
use crm_hubspot::{HubSpot, PathFamily};
use crm_testkit::conformance::{self, Fixture};
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, PathFamilies, demo};

const EXTRA_CONTACTS: usize = 30;

/// Short, so the suite's timeout scenarios wait little; far above a request to 127.0.0.1.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

async fn fake(paths: PathFamilies) -> Arc<HubSpotFake> {
    Arc::new(
        HubSpotFake::start(HubSpotFakeConfig {
            extra_contacts: EXTRA_CONTACTS,
            paths,
            ..HubSpotFakeConfig::with_demo_properties()
        })
        .await,
    )
}

fn connect(fake: &HubSpotFake, family: PathFamily) -> HubSpot {
    common::builder(fake)
        .with_path_family(family)
        .with_idempotency_field(Some(demo::IDEMPOTENCY_PROPERTY))
        .with_external_id_property(Some(demo::EXTERNAL_ID_PROPERTY))
        .with_lead_source_property(Some(demo::LEAD_SOURCE_PROPERTY))
        .with_timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

fn fixture(fake: Arc<HubSpotFake>) -> Fixture {
    Fixture {
        customer_email: Email::parse(demo::CUSTOMER_EMAIL).unwrap(),
        customer_phone: Phone::parse("+1 415-555-0100", Region::us()).unwrap(),
        customer_external_id: demo::CUSTOMER_EXTERNAL_ID.to_owned(),
        min_contacts: EXTRA_CONTACTS,
        // Every open deal and ticket of Jane's or her company's, none of Globex's or closed.
        view_seeds: demo::customer_view_seeds(),
        faults: fake,
        client_timeout: CLIENT_TIMEOUT,
    }
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let fake = fake(PathFamilies::V3Only).await;
    let crm = connect(&fake, PathFamily::V3);
    let report = conformance::run(&crm, &fixture(fake.clone())).await;
    println!("{report}");
    // With the idempotency property HubSpot declares every capability the suite needs.
    report.assert_counts(25, &[]);
}

#[tokio::test]
async fn passes_the_conformance_suite_on_dated_paths() {
    let fake = fake(PathFamilies::DatedOnly).await;
    let crm = connect(&fake, PathFamily::dated_2026_03());
    let report = conformance::run(&crm, &fixture(fake.clone())).await;
    println!("{report}");
    report.assert_counts(25, &[]);
}

#[tokio::test]
async fn the_view_takes_six_requests_warm_and_eight_cold() {
    let fake = fake(PathFamilies::Both).await;
    let crm = connect(&fake, PathFamily::V3);
    let lookup = Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap());
    let before = fake.requests().total;
    let view = crm
        .customer_view(&lookup, &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    let cold = fake.requests().total - before;
    let before = fake.requests().total;
    crm.customer_view(&lookup, &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    let warm = fake.requests().total - before;
    let log = fake.requests().log;
    assert_eq!((cold, warm), (8, 6), "{log:#?}");

    assert_eq!(view.contact.id.as_str(), demo::CUSTOMER_CONTACT_ID);
    // By phone or external id: one search first (eventually consistent), then the same reads.
    for lookup in [
        Lookup::Phone(Phone::parse("415.555.0100", Region::us()).unwrap()),
        Lookup::ExternalId(demo::CUSTOMER_EXTERNAL_ID.to_owned()),
    ] {
        let before = fake.requests().total;
        let other = crm
            .customer_view(&lookup, &ViewOptions::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fake.requests().total - before, 7, "{lookup:?}");
        assert_eq!(other, view_again(&crm).await);
    }
    let account = view.account.as_ref().unwrap();
    assert_eq!(account.id.as_str(), demo::CUSTOMER_COMPANY_ID);
    assert_eq!(account.name.as_deref(), Some(demo::CUSTOMER_COMPANY_NAME));
    let deals: Vec<&str> = view
        .open_opportunities
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    // Hers and her company's, newest first.
    assert_eq!(
        deals,
        [
            demo::CONTACT_DEAL_ID,
            demo::COMPANY_DEAL_ID,
            demo::OPEN_DEAL_ID
        ]
    );
    let tickets: Vec<&str> = view.open_tickets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(tickets, [demo::COMPANY_TICKET_ID, demo::OPEN_TICKET_ID]);
    let status = view.open_tickets[1].status.as_ref().unwrap();
    assert_eq!(status.label.as_deref(), Some("Waiting on us"));
    assert_eq!(status.raw.as_deref(), Some("3"));
    let kinds: Vec<String> = view
        .recent_activities
        .iter()
        .map(|a| format!("{}:{}", a.kind, a.id))
        .collect();
    assert_eq!(
        kinds,
        [
            format!("conversation_log:note:{}", demo::CHAT_LOG_ID),
            format!("call:call:{}", demo::CALL_ID),
            format!("note:note:{}", demo::NOTE_ID),
        ]
    );
}

async fn view_again(crm: &HubSpot) -> crm_core::CustomerView {
    let lookup = Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap());
    crm.customer_view(&lookup, &ViewOptions::default())
        .await
        .unwrap()
        .unwrap()
}

/// The support conversation of the demo, request by request: recognise the customer, open a
/// ticket, log the chat, raise a deal with a follow-up task, read the ticket's status back.
#[tokio::test]
async fn the_support_conversation_takes_thirteen_requests() {
    use crm_core::{
        Activity, ActivityKind, IdempotencyKey, ObjectKind, Opportunity, RecordRef, Ticket,
        WriteContext,
    };
    let fake = fake(PathFamilies::Both).await;
    let crm = connect(&fake, PathFamily::V3);
    let ctx = |intent: &str| {
        WriteContext::default()
            .with_idempotency_key(IdempotencyKey::derive("acme", "conv-1", intent))
    };
    let start = fake.requests().total;
    let mut steps = Vec::new();
    let mut mark = |name: &str, fake: &HubSpotFake, last: &mut usize| {
        let now = fake.requests().total;
        steps.push(format!("{name}: {}", now - *last));
        *last = now;
    };
    let mut last = start;
    let view = crm
        .customer_view(
            &Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap()),
            &ViewOptions::default(),
        )
        .await
        .unwrap()
        .unwrap();
    mark("view (cold pipelines)", &fake, &mut last);
    let me = view.contact.to_ref();
    let ticket = crm
        .tickets()
        .create(
            &Ticket {
                subject: Some("Router keeps rebooting".into()),
                contact_id: Some(me.id.clone()),
                ..Ticket::default()
            },
            &ctx("ticket"),
        )
        .await
        .unwrap();
    mark("ticket (create with inline association)", &fake, &mut last);
    crm.activities()
        .create(
            &Activity {
                kind: ActivityKind::ConversationLog,
                body: Some("customer: my router reboots".into()),
                who: Some(me.clone()),
                what: Some(RecordRef::new(ObjectKind::Ticket, ticket.id.clone())),
                ..Activity::default()
            },
            &ctx("log"),
        )
        .await
        .unwrap();
    mark(
        "chat log (note with 2 inline associations)",
        &fake,
        &mut last,
    );
    let deal = crm
        .opportunities()
        .create(
            &Opportunity {
                name: Some("Router upgrade".into()),
                contact_id: Some(me.id.clone()),
                ..Opportunity::default()
            },
            &ctx("deal"),
        )
        .await
        .unwrap();
    mark("deal (create with inline association)", &fake, &mut last);
    crm.activities()
        .create(
            &Activity {
                kind: ActivityKind::Task,
                subject: Some("Call back about the upgrade".into()),
                who: Some(me.clone()),
                what: Some(deal.to_ref()),
                ..Activity::default()
            },
            &ctx("task"),
        )
        .await
        .unwrap();
    mark("follow-up task (2 inline associations)", &fake, &mut last);
    crm.tickets().status(&ticket.id).await.unwrap();
    mark("ticket status", &fake, &mut last);
    let total = fake.requests().total - start;
    println!("{steps:#?}");
    // Every create carries its idempotency key and its associations in one request.
    assert_eq!(total, 13, "{steps:#?}");
}
