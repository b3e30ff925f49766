//! A mapping checked against the portal's live properties (the fake serves the properties
//! API): the docs' worked example with two custom properties.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use crm_core::ObjectKind;
use crm_core::mapping::MappingFile;
use crm_hubspot::MappingTarget;
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig};

const TARGETS: &[(&str, ObjectKind)] = &[
    ("contact", ObjectKind::Contact),
    ("ticket", ObjectKind::Ticket),
];

#[tokio::test]
async fn two_custom_properties_checked_live() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let hub = common::builder(&fake).build().unwrap();
    let file = MappingFile::parse(
        r#"version = "acme-hs-1"

[contact.fields]
tier = "loyalty_tier"
language = "preferred_language"
company_ref = "associatedcompanyid"
shoe_size = "shoe_size"

[contact.values.tier]
gold = "gold"
platinum = "platinum"

[contact.rules.language]
transforms = ["trim", "lowercase"]

[ticket.fields]
priority = "hs_ticket_priority"

[ticket.values.priority]
high = "HIGH"
critical = "CRITICAL"
"#,
        "acme-hs.toml",
        TARGETS,
    )
    .unwrap();
    let problems = hub
        .backend()
        .check_mapping(MappingTarget::Contact, &file.objects["contact"])
        .await
        .unwrap();
    let text: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.problem))
        .collect();
    let has = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(
        has("contact.loyalty_tier: the picklist has no value `platinum`"),
        "{text:?}"
    );
    assert!(
        has("contact.associatedcompanyid: the CRM does not let this field be written"),
        "{text:?}"
    );
    assert!(has("contact.shoe_size: no such field"), "{text:?}");
    assert!(!has("preferred_language"), "{text:?}");
    assert_eq!(problems.len(), 3, "{text:?}");
    let problems = hub
        .backend()
        .check_mapping(MappingTarget::Ticket, &file.objects["ticket"])
        .await
        .unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].problem.contains("`CRITICAL`"));
}

#[tokio::test]
async fn mapping_file_rules_apply_through_the_adapter() {
    use crm_core::{Contact, Crm, Email, ErrorKind, Personal, WriteContext};
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let file = MappingFile::parse(
        r#"version = "acme-hs-2"
[contact.fields]
tier = "loyalty_tier"
language = "preferred_language"
[contact.rules.language]
send = false
[contact.rules.title]
max_length = 10
[contact.rules.email]
transforms = ["trim", "lowercase"]
"#,
        "acme-hs.toml",
        TARGETS,
    )
    .unwrap();
    let mut b = common::builder(&fake);
    for (t, m) in &file.objects {
        b = b.with_mapping(t.parse().unwrap(), m.clone());
    }
    let hub = b.build().unwrap();
    let mut c = Contact {
        email: Some(Email::from_vendor(" Rules@Example.COM ")),
        last_name: Some(Personal::new("Rules".to_owned())),
        title: Some("Buyer".into()),
        ..Contact::default()
    };
    c.custom.insert("tier".into(), "gold".into());
    c.custom.insert("language".into(), "fr".into());
    let created = hub
        .contacts()
        .create(&c, &WriteContext::default())
        .await
        .unwrap();
    let stored = fake.record("contacts", created.id.as_str()).unwrap();
    let props = &stored["properties"];
    assert_eq!(props["email"], "rules@example.com", "{stored}");
    assert_eq!(props["loyalty_tier"], "gold");
    assert!(
        props["preferred_language"].is_null(),
        "send = false: {stored}"
    );
    c.title = Some("Head of Procurement".into());
    c.email = Some(Email::from_vendor("rules2@example.com"));
    let err = hub
        .contacts()
        .create(&c, &WriteContext::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Mapping);
    assert!(err.message().contains("contact.title"), "{err}");
}

#[derive(Debug, Default)]
struct Versions(std::sync::Mutex<Vec<Option<String>>>);

impl crm_core::audit::AuditSink for Versions {
    fn record(&self, record: &crm_core::audit::AuditRecord) -> crm_core::Result<()> {
        self.0.lock().unwrap().push(record.mapping_version.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_new_mapping_file_is_swapped_in_without_a_restart() {
    use crm_core::{Contact, Crm, Email, ErrorKind, Personal, WriteContext};
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let file =
        |text: &str| MappingFile::parse(text, "m.toml", crm_hubspot::MAPPING_TARGETS).unwrap();
    let v1 = file("version = \"v1\"\n[contact.fields]\ntitle = \"jobtitle\"\n");
    let v2 = file("version = \"v2\"\n[contact.rules.title]\nmax_length = 10\n");
    let versions = std::sync::Arc::new(Versions::default());
    let hub = common::builder(&fake)
        .with_mapping_file(v1.clone())
        .with_audit_sink(versions.clone())
        .build()
        .unwrap();
    assert_eq!(hub.mapping_label(), Some(v1.label()));
    let long = |n: u32| Contact {
        email: Some(Email::from_vendor(&format!("swap{n}@example.com"))),
        last_name: Some(Personal::new("Swap".to_owned())),
        title: Some("Head of Procurement".into()),
        ..Contact::default()
    };
    let ctx = WriteContext::default();
    hub.contacts().create(&long(1), &ctx).await.unwrap();
    hub.set_mapping_file(Some(&v2)).unwrap();
    let err = hub.contacts().create(&long(2), &ctx).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Mapping);
    // A mapping that does not validate is refused and the current one stays.
    let bad = MappingFile {
        version: "bad".into(),
        hash: "0".into(),
        objects: [(
            "ticket".to_owned(),
            toml::from_str("[states.status]\n\"4\" = \"exploded\"\n").unwrap(),
        )]
        .into(),
        origin: "bad.toml".into(),
    };
    assert!(hub.set_mapping_file(Some(&bad)).is_err());
    assert!(hub.contacts().create(&long(3), &ctx).await.is_err());
    assert_eq!(hub.mapping_label(), Some(v2.label()));
    hub.set_mapping_file(None).unwrap();
    hub.contacts().create(&long(4), &ctx).await.unwrap();
    // Each write's audit record names the mapping version it was written with.
    assert_eq!(
        *versions.0.lock().unwrap(),
        [Some(v1.label()), Some(v2.label()), Some(v2.label()), None]
    );
}

/// Issue 15: the `properties` a get asks for are built once per mapping and cached; a swapped
/// mapping that maps a field to another property must change what the next get reads (and a
/// swap back must read the old property again).
#[tokio::test]
async fn a_swapped_mapping_changes_the_properties_a_get_reads_issue15() {
    use crm_core::{Contact, Crm, Email, Personal, WriteContext};
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let file =
        |text: &str| MappingFile::parse(text, "m.toml", crm_hubspot::MAPPING_TARGETS).unwrap();
    let by_language =
        file("version = \"lang\"\n[contact.fields]\ntitle = \"preferred_language\"\n");
    let hub = common::builder(&fake).build().unwrap();
    let contact = Contact {
        email: Some(Email::from_vendor("swapread@example.com")),
        last_name: Some(Personal::new("Swap".to_owned())),
        title: Some("Buyer".into()),
        ..Contact::default()
    };
    let ctx = WriteContext::default();
    // Written with the defaults: the title goes to `jobtitle`.
    let id = hub.contacts().create(&contact, &ctx).await.unwrap().id;
    // Written under the swapped mapping: `preferred_language` holds `fr`, `jobtitle` stays.
    hub.set_mapping_file(Some(&by_language)).unwrap();
    let french = Contact {
        title: Some("fr".into()),
        ..Contact::default()
    };
    hub.contacts().update(&id, &french, &ctx).await.unwrap();
    hub.set_mapping_file(None).unwrap();
    let read = hub.contacts().get(&id).await.unwrap();
    assert_eq!(read.data.title.as_deref(), Some("Buyer"));
    // Again, so the cached properties of the defaults are what the get uses.
    let read = hub.contacts().get(&id).await.unwrap();
    assert_eq!(read.data.title.as_deref(), Some("Buyer"));
    hub.set_mapping_file(Some(&by_language)).unwrap();
    let read = hub.contacts().get(&id).await.unwrap();
    assert_eq!(read.data.title.as_deref(), Some("fr"));
    hub.set_mapping_file(None).unwrap();
    let read = hub.contacts().get(&id).await.unwrap();
    assert_eq!(read.data.title.as_deref(), Some("Buyer"));
}
