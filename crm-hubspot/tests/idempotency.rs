//! Issue 12, item 15: idempotent creates are off unless `idempotency_property` is configured; a
//! create carrying a key on a connection that cannot honour it fails before any request instead
//! of silently creating a second record; and `check_setup` verifies the property through the
//! properties API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use crm_core::{Crm, ErrorKind, IdempotencyKey, ObjectKind, Personal, Ticket, WriteContext};
use crm_hubspot::{HubSpot, HubSpotBuilder};
use crm_testkit::hubspot::{CustomProperty, HubSpotFake, HubSpotFakeConfig, demo};

fn keyed(text: &str) -> WriteContext {
    WriteContext::default().with_idempotency_key(IdempotencyKey::new(text).unwrap())
}

fn ticket(subject: &str) -> Ticket {
    Ticket {
        subject: Some(Personal::new(subject.to_owned())),
        ..Ticket::default()
    }
}

fn connect(fake: &HubSpotFake, b: HubSpotBuilder) -> HubSpot {
    common::aimed(b, fake).build().unwrap()
}

#[tokio::test]
async fn issue12_item15_a_keyed_create_without_idempotency_property_fails_before_any_request() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let crm = connect(&fake, HubSpotBuilder::new());
    assert!(!crm.capabilities().objects[&ObjectKind::Ticket].idempotent_create);
    let tickets_before = fake.records("tickets").len();
    let before = fake.requests().total;

    // Two runs with the same key used to create two tickets, silently.
    for _ in 0..2 {
        let err = crm
            .tickets()
            .create(&ticket("Router reboots"), &keyed("conv-1.ticket"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
        assert!(err.message().contains("idempotency_property"), "{err}");
        assert!(err.message().contains("unique"), "{err}");
        assert!(
            err.message().contains("without an idempotency key"),
            "{err}"
        );
    }
    let batch = crm
        .tickets()
        .create_batch(&[ticket("a"), ticket("b")], &keyed("conv-1.batch"))
        .await;
    assert!(
        batch
            .iter()
            .all(|r| r.as_ref().unwrap_err().kind() == &ErrorKind::Config)
    );
    assert_eq!(fake.requests().total, before, "no request may leave");
    assert_eq!(fake.records("tickets").len(), tickets_before);

    // Without a key the create proceeds as before.
    crm.tickets()
        .create(&ticket("Router reboots"), &WriteContext::default())
        .await
        .unwrap();
    assert_eq!(fake.records("tickets").len(), tickets_before + 1);
}

#[tokio::test]
async fn issue12_item15_with_the_property_declared_a_repeated_key_returns_the_first_ticket() {
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        custom_properties: demo::idempotency_properties(),
        ..HubSpotFakeConfig::default()
    })
    .await;
    let crm = connect(
        &fake,
        HubSpotBuilder::new().with_idempotency_field(Some(demo::IDEMPOTENCY_PROPERTY)),
    );
    let checks: Vec<_> = crm
        .backend()
        .check_setup()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.setting == "idempotency_property")
        .collect();
    assert_eq!(checks.len(), 7, "{checks:?}");
    assert!(checks.iter().all(|c| c.problem.is_none()), "{checks:?}");

    let before = fake.records("tickets").len();
    let first = crm
        .tickets()
        .create(&ticket("Router reboots"), &keyed("conv-2.ticket"))
        .await
        .unwrap();
    let second = crm
        .tickets()
        .create(&ticket("Router reboots"), &keyed("conv-2.ticket"))
        .await
        .unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(fake.records("tickets").len(), before + 1);
}

#[tokio::test]
async fn issue12_item15_check_setup_reports_a_missing_or_non_unique_idempotency_property() {
    // Declared on contacts only, and not unique on tickets.
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        custom_properties: vec![
            CustomProperty::unique("contacts", demo::IDEMPOTENCY_PROPERTY),
            CustomProperty::text("tickets", demo::IDEMPOTENCY_PROPERTY),
        ],
        ..HubSpotFakeConfig::default()
    })
    .await;
    let crm = connect(
        &fake,
        HubSpotBuilder::new().with_idempotency_field(Some(demo::IDEMPOTENCY_PROPERTY)),
    );
    let checks = crm.backend().check_setup().await.unwrap();
    let on = |object: &str| {
        checks
            .iter()
            .find(|c| c.object == object && c.setting == "idempotency_property")
            .unwrap()
    };
    assert!(on("contacts").problem.is_none());
    assert!(on("contacts").kinds.contains(&ObjectKind::Lead));
    let tickets = on("tickets").problem.clone().unwrap();
    assert!(
        tickets.contains("does not require unique values"),
        "{tickets}"
    );
    let deals = on("deals").problem.clone().unwrap();
    assert!(
        deals.contains("property `crm_idempotency_key` does not exist on deals"),
        "{deals}"
    );
    assert!(deals.contains("Require unique values"), "{deals}");
    assert_eq!(on("deals").kinds, [ObjectKind::Opportunity]);
}

#[tokio::test]
async fn issue12_item15_the_outbox_delivers_creates_on_a_connection_without_idempotency() {
    use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite};
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let crm = connect(&fake, HubSpotBuilder::new());
    let path = std::env::temp_dir().join(format!(
        "crm-hubspot-idem-{}-{}.sqlite",
        std::process::id(),
        fake.base_url().rsplit(':').next().unwrap_or("0")
    ));
    let outbox = Outbox::open(&path, OutboxConfig::default()).unwrap();
    let key = IdempotencyKey::new("conv-4.ticket").unwrap();
    let before = fake.records("tickets").len();
    outbox
        .enqueue(
            "hubspot",
            &PendingWrite::create(&ticket("Outbox ticket"), key, crm_core::Actor::Bot).unwrap(),
        )
        .unwrap();
    // The outbox sends the create without the key the connection cannot honour (and, having no
    // idempotent create, will not resend it blindly after an attempt).
    let report = outbox.deliver("hubspot", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(fake.records("tickets").len(), before + 1);
    drop(outbox);
    let _ = std::fs::remove_file(&path);
}
