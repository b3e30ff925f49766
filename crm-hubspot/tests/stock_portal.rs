//! Issue 12, item 16: conversation logs work on a stock portal (no custom properties), with the
//! default settings, and a configured `activity_kind_property` the portal lacks is reported by
//! the setup check.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use crm_core::{Activity, ActivityKind, Crm, ObjectKind, RecordId, RecordRef, WriteContext};
use crm_hubspot::{ConversationLogAs, HubSpot, HubSpotBuilder};
use crm_testkit::hubspot::{CustomProperty, HubSpotFake, HubSpotFakeConfig, demo};

/// The settings' other custom properties are off, so that each check below sees only the
/// activity-kind property.
fn connect(fake: &HubSpotFake, b: HubSpotBuilder) -> HubSpot {
    common::aimed(b, fake)
        .with_external_id_property(None)
        .with_lead_source_property(None)
        .build()
        .unwrap()
}

fn jane() -> RecordRef {
    RecordRef::new(
        ObjectKind::Contact,
        RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap(),
    )
}

fn log() -> Activity {
    Activity {
        kind: ActivityKind::ConversationLog,
        subject: Some("Chat with the support bot".into()),
        body: Some("customer: my router reboots".into()),
        who: Some(jane()),
        ..Activity::default()
    }
}

#[tokio::test]
async fn issue12_item16_a_conversation_log_round_trips_on_a_stock_portal_with_default_settings() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    for log_as in [ConversationLogAs::Note, ConversationLogAs::Call] {
        let crm = connect(
            &fake,
            HubSpotBuilder::new().with_conversation_log_as(log_as),
        );
        let created = crm
            .activities()
            .create(&log(), &WriteContext::default())
            .await
            .unwrap();
        assert_eq!(created.data.kind, ActivityKind::ConversationLog);
        let read = crm.activities().get(&created.id).await.unwrap();
        assert_eq!(read.data.kind, ActivityKind::ConversationLog, "{log_as:?}");
        let body = read.data.body.as_ref().unwrap().expose().to_owned();
        assert!(body.ends_with("customer: my router reboots"), "{body}");
        assert!(!body.contains("[Conversation log]"), "{body}");
        let latest = crm.activities().latest_for(&jane(), 20).await.unwrap();
        assert!(
            latest
                .iter()
                .any(|a| a.id == created.id && a.data.kind == ActivityKind::ConversationLog)
        );
        // No custom property was needed for the log.
        let checks = crm.backend().check_setup().await.unwrap();
        assert!(checks.iter().all(|c| c.setting != "activity_kind_property"));
    }
    // The demo chat log, written the same way, reads back as a log; the plain note does not.
    let crm = connect(&fake, HubSpotBuilder::new());
    let seeded = crm
        .activities()
        .get(&RecordId::new(format!("note:{}", demo::CHAT_LOG_ID)).unwrap())
        .await
        .unwrap();
    assert_eq!(seeded.data.kind, ActivityKind::ConversationLog);
    let note = crm
        .activities()
        .get(&RecordId::new(format!("note:{}", demo::NOTE_ID)).unwrap())
        .await
        .unwrap();
    assert_eq!(note.data.kind, ActivityKind::Note);
}

#[tokio::test]
async fn issue12_item16_a_configured_activity_kind_property_is_used_and_checked() {
    // Declared by the admin: the property marks logs, the body stays as written.
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        custom_properties: vec![CustomProperty::select(
            "notes",
            demo::ACTIVITY_KIND_PROPERTY,
            &["conversation_log"],
        )],
        ..HubSpotFakeConfig::default()
    })
    .await;
    let crm = connect(
        &fake,
        HubSpotBuilder::new().with_activity_kind_property(Some(demo::ACTIVITY_KIND_PROPERTY)),
    );
    let checks = crm.backend().check_setup().await.unwrap();
    assert_eq!(checks.len(), 1);
    assert!(checks[0].problem.is_none(), "{checks:?}");
    let created = crm
        .activities()
        .create(&log(), &WriteContext::default())
        .await
        .unwrap();
    let raw = created.id.as_str().trim_start_matches("note:").to_owned();
    let stored = fake.record("notes", &raw).unwrap();
    assert_eq!(
        stored["properties"][demo::ACTIVITY_KIND_PROPERTY],
        "conversation_log"
    );
    assert!(
        !stored["properties"]["hs_note_body"]
            .as_str()
            .unwrap()
            .contains("[Conversation log]")
    );
    let read = crm.activities().get(&created.id).await.unwrap();
    assert_eq!(read.data.kind, ActivityKind::ConversationLog);

    // Configured, but the portal is stock: the check names the property and the admin step.
    let stock = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let crm = connect(
        &stock,
        HubSpotBuilder::new().with_activity_kind_property(Some(demo::ACTIVITY_KIND_PROPERTY)),
    );
    let checks = crm.backend().check_setup().await.unwrap();
    assert_eq!(checks.len(), 1);
    let problem = checks[0].problem.clone().unwrap();
    assert_eq!(checks[0].setting, "activity_kind_property");
    assert!(
        problem.contains("property `crm_activity_kind` does not exist on notes"),
        "{problem}"
    );
    assert!(problem.contains("Create property"), "{problem}");
}
