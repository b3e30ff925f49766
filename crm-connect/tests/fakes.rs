//! The registry of fakes (`crm_connect::fakes()`, feature `testkit`): one fake per enabled
//! adapter, each reachable through its adapter's connector with the `ConnectorConfig` the fake
//! hands out — the path a user's connection file takes — and through a connection file written
//! from that configuration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crm_connect::raw::find;
use crm_connect::reexports::secrecy::ExposeSecret;
use crm_connect::testkit::FakeOptions;
use crm_connect::{ConnectionFile, Contact, Email, ErrorKind, Personal, WriteContext};

#[test]
fn item13_fakes_lists_one_fake_per_enabled_adapter() {
    let fakes: Vec<&str> = crm_connect::fakes().iter().map(|f| f.vendor()).collect();
    let connectors: Vec<&str> = crm_connect::connectors().iter().map(|c| c.name()).collect();
    assert_eq!(fakes, connectors);
    assert_eq!(
        fakes,
        ["generic-rest", "hubspot", "salesforce", "pipedrive"]
    );
}

#[test]
fn item13_an_unknown_fake_is_a_config_error_listing_the_vendors() {
    assert_eq!(crm_connect::fake("hubspot").unwrap().vendor(), "hubspot");
    let err = crm_connect::fake("zendesk").unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Config);
    for fake in crm_connect::fakes() {
        assert!(err.message().contains(fake.vendor()), "{err}");
    }
}

/// Each fake's configuration builds a connection through `connectors()` that creates a contact
/// and reads it back; the same configuration written as a connection file connects too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item13_every_fake_connects_through_its_connector_and_round_trips_a_contact() {
    let connectors = crm_connect::connectors();
    let dir = tempfile::tempdir().unwrap();
    for fake in crm_connect::fakes() {
        let vendor = fake.vendor();
        let running = fake.start(&FakeOptions::demo()).await.unwrap();
        let connector = find(&connectors, vendor).unwrap();
        let crm = connector.build(running.config()).unwrap();
        assert_eq!(crm.vendor(), vendor);

        let email = format!("fake-{vendor}@example.com");
        let contact = Contact {
            email: Some(Email::parse(&email).unwrap()),
            first_name: Some(Personal::new("Fay".to_owned())),
            last_name: Some(Personal::new(format!("Registry {vendor}"))),
            ..Contact::default()
        };
        let created = crm
            .contacts()
            .create(&contact, &WriteContext::default())
            .await
            .unwrap_or_else(|e| panic!("{vendor}: create: {e}"));
        let read = crm.contacts().get(&created.id).await.unwrap();
        assert_eq!(read.id, created.id, "{vendor}");
        assert_eq!(
            read.data.email.as_ref().map(|e| e.expose().to_owned()),
            Some(email.clone()),
            "{vendor}"
        );
        let before = running.served().requests + running.served().token_requests;
        assert!(
            before >= 2,
            "{vendor}: the fake served the create and the read"
        );

        // The same configuration as a connection file, its secrets filled in where the file
        // reads them from the environment.
        let mut text = ConnectionFile::render(vendor, running.config(), running.env_prefix());
        for (key, value) in &running.config().secrets {
            let name = key.trim_start_matches("auth.").to_ascii_uppercase();
            let var = format!("${{{}_{name}}}", running.env_prefix());
            assert!(text.contains(&var), "{vendor}: {text}");
            text = text.replace(&var, value.expose_secret());
        }
        assert!(!text.contains("${"), "{vendor}: {text}");
        let path = dir.path().join(format!("{vendor}.toml"));
        std::fs::write(&path, text).unwrap();
        let from_file = ConnectionFile::load(&path).unwrap().build().unwrap();
        let again = from_file.contacts().get(&created.id).await.unwrap();
        assert_eq!(again.id, created.id, "{vendor}: through the file");
    }
}
