//! Issue 12, item 16 follow-up: the default settings work on a stock portal. External ids and a
//! lead's source need custom properties a portal nobody configured lacks, so both are off
//! unless configured: a look-up or upsert by external id fails before any request with an
//! `Unsupported` error (core's capability check), the capabilities say so, a lead's `source` is not
//! sent, and the setup check has nothing to complain about.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use crm_core::{Contact, Crm, Email, ErrorKind, Lead, Lookup, ObjectKind, UpsertKey, WriteContext};
use crm_hubspot::HubSpot;
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, demo};

fn stock(fake: &HubSpotFake) -> HubSpot {
    common::builder(fake).build().unwrap()
}

#[tokio::test]
async fn stock_portal_external_ids_are_off_by_default_and_say_how_to_turn_them_on() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let crm = stock(&fake);
    let caps = crm.capabilities();
    assert!(!caps.lookup_by_external_id);
    for kind in ObjectKind::ALL {
        let keys = &caps.objects[&kind].upsert_keys;
        assert!(!keys.iter().any(|k| k == "external_id"), "{kind}: {keys:?}");
    }
    let before = fake.requests().total;
    let err = crm
        .contacts()
        .find_by(&Lookup::ExternalId(demo::CUSTOMER_EXTERNAL_ID.into()))
        .await
        .unwrap_err();
    let upsert = crm
        .contacts()
        .upsert(
            &UpsertKey::ExternalId("shop-1".into()),
            &Contact::default(),
            &WriteContext::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(fake.requests().total, before, "refused before any request");
    for e in [&err, &upsert] {
        assert_eq!(e.kind(), &ErrorKind::Unsupported, "{e}");
        let text = e.to_string();
        // Core's capability check refuses it, with HubSpot's advice on turning it on.
        assert!(text.contains("external_id_property"), "{text}");
        assert!(text.contains("Require unique values"), "{text}");
        assert!(!text.contains("shop-"), "{text}");
    }
}

#[tokio::test]
async fn stock_portal_a_leads_source_is_not_sent_by_default() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let crm = stock(&fake);
    let lead = Lead {
        email: Some(Email::parse("new-lead@example.com").unwrap()),
        last_name: Some("Lead".to_owned().into()),
        source: Some("chat".into()),
        ..Lead::default()
    };
    let created = crm
        .leads()
        .create(&lead, &WriteContext::default())
        .await
        .unwrap();
    let stored = fake.record("contacts", created.id.as_str()).unwrap();
    let props = stored["properties"].as_object().unwrap();
    assert!(
        !props.values().any(|v| v == "chat"),
        "the source went out: {props:?}"
    );
    assert_eq!(props["lifecyclestage"], "lead");
}

#[tokio::test]
async fn stock_portal_the_setup_check_finds_nothing_missing_with_default_settings() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let checks = stock(&fake).backend().check_setup().await.unwrap();
    let problems: Vec<_> = checks.iter().filter_map(|c| c.problem.as_ref()).collect();
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test]
async fn stock_portal_configured_properties_still_work() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let crm = common::builder(&fake)
        .with_external_id_property(Some(demo::EXTERNAL_ID_PROPERTY))
        .with_lead_source_property(Some(demo::LEAD_SOURCE_PROPERTY))
        .build()
        .unwrap();
    assert!(crm.capabilities().lookup_by_external_id);
    let found = crm
        .contacts()
        .find_by(&Lookup::ExternalId(demo::CUSTOMER_EXTERNAL_ID.into()))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let lead = Lead {
        email: Some(Email::parse("sourced-lead@example.com").unwrap()),
        last_name: Some("Lead".to_owned().into()),
        source: Some("chat".into()),
        ..Lead::default()
    };
    let created = crm
        .leads()
        .create(&lead, &WriteContext::default())
        .await
        .unwrap();
    let stored = fake.record("contacts", created.id.as_str()).unwrap();
    assert_eq!(stored["properties"][demo::LEAD_SOURCE_PROPERTY], "chat");
    assert!(
        crm.backend()
            .check_setup()
            .await
            .unwrap()
            .iter()
            .all(|c| c.problem.is_none())
    );
}
