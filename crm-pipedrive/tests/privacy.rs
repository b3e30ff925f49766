//! With `tracing` at TRACE captured into a buffer, a caller's usual path on Pipedrive — look a
//! customer up by email and by phone, read the 360° view, create a contact and a lead, update
//! the contact — never logs an email, a phone, a name or the API token (the default audit
//! sink, which logs through `tracing`, included).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use crm_core::{
    Contact, Crm, Email, Lead, Lookup, Personal, Phone, Region, ViewOptions, WriteContext,
};
use crm_pipedrive::PipedriveBuilder;
use crm_testkit::pipedrive::{Entity, PipedriveFake, PipedriveFakeConfig, demo};
use tracing_subscriber::util::SubscriberInitExt;

/// A personal API token: 40 characters, letters and digits.
const TOKEN: &str = "d0n0tl0g5ecret0123456789abcdef0123456789";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the calls read or write that must never reach a log line.
const PERSONAL: &[&str] = &[
    // The seeded customer, as read.
    demo::CUSTOMER_EMAIL,
    "jane.doe",
    demo::CUSTOMER_HOME_EMAIL,
    demo::CUSTOMER_PHONE,
    "4155550100",
    "555-0100",
    "555 0100",
    demo::CUSTOMER_NAME,
    "Jane",
    // The contact created and updated, and the lead's person.
    "penny.quill@example.org",
    "penny.quill",
    "+1 212 555 0142",
    "2125550142",
    "2125550199",
    "Penelope",
    "Quill",
    "Quillfeather",
    "lead.person@example.net",
    "Ottoline",
    TOKEN,
];

#[tokio::test]
async fn no_email_phone_name_or_token_reaches_the_trace_logs() {
    let fake = PipedriveFake::start(PipedriveFakeConfig {
        api_token: TOKEN.to_owned(),
        ..PipedriveFakeConfig::default()
    })
    .await;
    let logs = Buffer::default();
    let writer = logs.clone();
    let _guard = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .set_default();

    let crm = PipedriveBuilder::new()
        .with_setting("base_url", &fake.base_url())
        .unwrap()
        .with_setting("api_token", TOKEN)
        .unwrap()
        .build()
        .unwrap();
    tracing::debug!(crm = ?crm, "connected");
    let ctx = WriteContext::default();

    // Look-ups: by email (as a customer types it) and by phone, and the view.
    let by_email = Lookup::Email(Email::parse(&demo::CUSTOMER_EMAIL.to_uppercase()).unwrap());
    let found = crm.contacts().find_by(&by_email).await.unwrap();
    assert_eq!(found.len(), 1);
    let phone = Phone::parse("+1 415-555-0100", Region::us()).unwrap();
    let found = crm.contacts().find_by(&Lookup::Phone(phone)).await.unwrap();
    assert_eq!(found[0].id.as_str(), demo::CUSTOMER_PERSON_ID);
    let view = crm
        .customer_view(&by_email, &ViewOptions::default())
        .await
        .unwrap()
        .unwrap();
    // (The view is not logged here: deal names are plain text in the model, and the demo's
    // deals are named after the customer.)
    assert_eq!(view.contact.id.as_str(), demo::CUSTOMER_PERSON_ID);

    // A create and an update of a contact.
    let created = crm
        .contacts()
        .create(
            &Contact {
                email: Some(Email::parse("penny.quill@example.org").unwrap()),
                phone: Some(Phone::parse("+1 212 555 0142", Region::us()).unwrap()),
                first_name: Some(Personal::new("Penelope".to_owned())),
                last_name: Some(Personal::new("Quill".to_owned())),
                ..Contact::default()
            },
            &ctx,
        )
        .await
        .unwrap();
    tracing::debug!(record = ?created, "created");
    let updated = crm
        .contacts()
        .update(
            &created.id,
            &Contact {
                first_name: Some(Personal::new("Penelope".to_owned())),
                last_name: Some(Personal::new("Quillfeather".to_owned())),
                phone: Some(Phone::parse("+1 212 555 0199", Region::us()).unwrap()),
                ..Contact::default()
            },
            &ctx,
        )
        .await
        .unwrap();
    tracing::debug!(record = ?updated, "updated");
    // A lead whose person is created first.
    let lead = crm
        .leads()
        .create(
            &Lead {
                email: Some(Email::parse("lead.person@example.net").unwrap()),
                last_name: Some(Personal::new("Ottoline".to_owned())),
                description: Some(Personal::new("Chat lead".to_owned())),
                ..Lead::default()
            },
            &ctx,
        )
        .await
        .unwrap();
    tracing::debug!(record = ?lead, "lead created");
    // The writes happened, with the values the logs must not show.
    let stored = fake.record(Entity::Persons, created.id.as_str()).unwrap();
    assert_eq!(stored["name"], "Penelope Quillfeather");

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("crm.call"),
        "the capture saw no SDK span: {logs}"
    );
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "{logs}");
    for s in PERSONAL {
        assert!(!logs.contains(s), "the TRACE logs contain `{s}`:\n{logs}");
    }
}
