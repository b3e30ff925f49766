//! A mapping file laid over the spec: rules applied on writes and reads against the sandbox,
//! per-record failures in a batch, the version in the audit trail, and a swap without restart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::{Arc, Mutex};

use crm_core::audit::{AuditRecord, AuditSink};
use crm_core::mapping::MappingFile;
use crm_core::{
    Contact, Crm, Email, ErrorKind, FieldValue, Personal, Phone, Region, Result, WriteContext,
};
use crm_generic_rest::{GenericRestBuilder, MAPPING_TARGETS};
use crm_testkit::sandbox::{Sandbox, SandboxConfig};

#[derive(Debug, Default)]
struct Captured(Mutex<Vec<AuditRecord>>);

impl AuditSink for Captured {
    fn record(&self, record: &AuditRecord) -> Result<()> {
        self.0.lock().unwrap().push(record.clone());
        Ok(())
    }
}

const MAPPING: &str = r#"version = "acme-7"

[contact.fields]
tier = "loyalty_tier"

[contact.rules.email]
type = "email"
transforms = ["trim", "lowercase"]
required = true

[contact.rules.title]
max_length = 12

[contact.rules.phone]
transforms = ["e164"]

[contact.rules.preferred_language]
send = false

[contact.rules.tier]
default = "standard"
"#;

async fn setup(text: &str) -> (Sandbox, crm_generic_rest::GenericRest, Arc<Captured>) {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let file = MappingFile::parse(text, "acme.toml", MAPPING_TARGETS).unwrap();
    let audit = Arc::new(Captured::default());
    let crm = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .with_mapping_file(file)
        .with_audit_sink(audit.clone())
        .build()
        .unwrap();
    (sandbox, crm, audit)
}

fn contact(email: &str, title: &str) -> Contact {
    Contact {
        email: Some(Email::from_vendor(email)),
        last_name: Some(Personal::new("Mapped".to_owned())),
        title: Some(title.to_owned()),
        ..Contact::default()
    }
}

#[tokio::test]
async fn rules_apply_on_writes_and_reads() {
    let (sandbox, crm, audit) = setup(MAPPING).await;
    let mut c = contact("  Mia@Example.COM ", "Buyer");
    c.phone = Some(Phone::from_vendor("(415) 555-0199", Region::us()));
    c.custom.insert("preferred_language".into(), "fr".into());
    c.custom.insert("tier".into(), "gold".into());
    let created = crm
        .contacts()
        .create(&c, &WriteContext::default())
        .await
        .unwrap();
    let stored = sandbox.record("contacts", created.id.as_str()).unwrap();
    assert_eq!(stored["email"], "mia@example.com");
    assert_eq!(stored["phone"], "+14155550199");
    assert_eq!(
        stored["loyalty_tier"], "gold",
        "a custom field under the file's vendor name"
    );
    assert!(
        stored["preferred_language"].is_null(),
        "send = false never leaves the process"
    );
    // Reads: the tier default fills a record that has none.
    let plain = crm
        .contacts()
        .create(
            &contact("plain@example.com", "Ops"),
            &WriteContext::default(),
        )
        .await
        .unwrap();
    let read = crm.contacts().get(&plain.id).await.unwrap();
    assert_eq!(read.custom.get("tier"), Some(&FieldValue::from("standard")));
    // Every audit record carries the mapping's version and content hash.
    let label = crm.mapping_label().unwrap();
    assert!(label.starts_with("acme-7@"));
    assert!(
        audit
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.mapping_version.as_deref() == Some(label.as_str()))
    );
}

#[tokio::test]
async fn bad_values_fail_only_their_record_naming_field_and_line() {
    let (sandbox, crm, _) = setup(MAPPING).await;
    let before = sandbox.requests().total;
    let inputs = vec![
        contact("ok-1@example.com", "Buyer"),
        contact("ok-2@example.com", "Head of Procurement and Logistics"),
        Contact {
            email: None,
            last_name: Some(Personal::new("No email".to_owned())),
            ..Contact::default()
        },
        {
            let mut c = contact("ok-3@example.com", "Buyer");
            c.phone = Some(Phone::from_vendor("call reception", Region::us()));
            c
        },
        contact("ok-4@example.com", "Buyer"),
    ];
    let results = crm
        .contacts()
        .create_batch(&inputs, &WriteContext::default())
        .await;
    let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, false, false, false, true]);
    let too_long = results[1].as_ref().unwrap_err();
    assert_eq!(too_long.kind(), &ErrorKind::Mapping);
    assert!(
        too_long.message().contains("contact.title")
            && too_long.message().contains("mapping line 11"),
        "{too_long}"
    );
    let missing = results[2].as_ref().unwrap_err();
    assert!(
        matches!(missing.kind(), ErrorKind::Validation { fields } if fields[0].field == "email"),
        "{missing}"
    );
    assert!(missing.message().contains("mapping line 6"), "{missing}");
    let phone = results[3].as_ref().unwrap_err();
    assert!(phone.message().contains("contact.phone"), "{phone}");
    // The refused records never reached the CRM.
    assert_eq!(sandbox.requests().total - before, 2);
}

#[tokio::test]
async fn a_new_mapping_version_is_swapped_in_without_a_restart() {
    let (sandbox, crm, audit) = setup(MAPPING).await;
    let first = crm.mapping_label().unwrap();
    let v8 = MappingFile::parse(
        &MAPPING
            .replace("acme-7", "acme-8")
            .replace("max_length = 12", "max_length = 40"),
        "acme.toml",
        MAPPING_TARGETS,
    )
    .unwrap();
    // A file that does not fit the spec is refused and the old mapping stays.
    let bad = MappingFile::parse(
        "version = \"x\"\n[activity.fields]\nkind = \"subject\"\nsubject = \"subject\"\n",
        "bad.toml",
        MAPPING_TARGETS,
    );
    assert!(bad.is_err());
    crm.set_mapping_file(Some(&v8)).unwrap();
    let second = crm.mapping_label().unwrap();
    assert_ne!(first, second);
    assert!(second.starts_with("acme-8@"));
    let long = contact("swap@example.com", "Head of Procurement and Logistics");
    let created = crm
        .contacts()
        .create(&long, &WriteContext::default())
        .await
        .unwrap();
    assert!(sandbox.record("contacts", created.id.as_str()).is_some());
    assert_eq!(
        audit
            .0
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .mapping_version
            .as_deref(),
        Some(second.as_str())
    );
    crm.set_mapping_file(None).unwrap();
    assert_eq!(crm.mapping_label(), None);
}

#[tokio::test]
async fn ownership_rules_decide_what_an_update_writes() {
    use crm_core::mapping::{FieldOutcome, update_owned};
    let text = r#"version = "own-1"
[contact.fields]
tier = "loyalty_tier"
[contact.rules.title]
owner = "crm_wins"
[contact.rules.tier]
owner = "newest_wins"
[contact.rules.preferred_language]
send = false
"#;
    let (sandbox, crm, _) = setup(text).await;
    let file = MappingFile::parse(text, "own.toml", MAPPING_TARGETS).unwrap();
    let rules = &file.objects["contact"];
    let jane: crm_core::RecordId = crm_testkit::sandbox::demo::CUSTOMER_CONTACT_ID
        .parse()
        .unwrap();
    let observed = chrono::Utc::now() - chrono::Duration::seconds(5);
    // An agent changes the tier in the CRM after the bot looked.
    let mut agent = serde_json::Map::new();
    agent.insert("loyalty_tier".into(), "platinum".into());
    assert!(sandbox.update_record("contacts", jane.as_str(), agent));

    let mut patch = Contact {
        title: Some("Chief Router Officer".into()),
        first_name: Some(Personal::new("Janet".to_owned())),
        ..Contact::default()
    };
    patch.custom.insert("tier".into(), "silver".into());
    patch
        .custom
        .insert("preferred_language".into(), "de".into());
    let out = update_owned(
        crm.contacts(),
        rules,
        &jane,
        &patch,
        Some(observed),
        &WriteContext::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        out.fields["title"],
        FieldOutcome::KeptCrmValue,
        "the CRM already has a title"
    );
    assert_eq!(
        out.fields["tier"],
        FieldOutcome::KeptCrmValue,
        "the CRM changed it after the bot looked"
    );
    assert_eq!(out.fields["first_name"], FieldOutcome::Written);
    assert_eq!(out.fields["preferred_language"], FieldOutcome::Skipped);
    let stored = sandbox.record("contacts", jane.as_str()).unwrap();
    assert_eq!(stored["job_title"], "Operations Manager");
    assert_eq!(stored["loyalty_tier"], "platinum");
    assert_eq!(stored["first_name"], "Janet");
    assert_eq!(stored["preferred_language"], "en");

    // With a fresh observation the bot's value is the newest; an empty title is filled.
    let blank = crm
        .contacts()
        .create(&contact("blank@example.com", ""), &WriteContext::default())
        .await
        .unwrap();
    let mut later = Contact {
        title: Some("Buyer".into()),
        ..Contact::default()
    };
    later.custom.insert("tier".into(), "silver".into());
    let out = update_owned(
        crm.contacts(),
        rules,
        &blank.id,
        &later,
        Some(chrono::Utc::now()),
        &WriteContext::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.fields["tier"], FieldOutcome::Written);
    assert_eq!(
        out.fields["title"],
        FieldOutcome::Written,
        "{:?}",
        out.fields
    );

    // Two conversations update different fields of one record at once: neither is lost.
    let a = Contact {
        first_name: Some(Personal::new("Ann".to_owned())),
        ..Contact::default()
    };
    let b = Contact {
        last_name: Some(Personal::new("Bee".to_owned())),
        ..Contact::default()
    };
    let ctx = WriteContext::default();
    let (ra, rb) = tokio::join!(
        update_owned(crm.contacts(), rules, &blank.id, &a, None, &ctx),
        update_owned(crm.contacts(), rules, &blank.id, &b, None, &ctx)
    );
    ra.unwrap();
    rb.unwrap();
    let stored = sandbox.record("contacts", blank.id.as_str()).unwrap();
    assert_eq!(stored["first_name"], "Ann");
    assert_eq!(stored["last_name"], "Bee");
}

#[tokio::test]
async fn the_servers_field_errors_name_the_callers_fields() {
    // `nickname` goes out as `shoe_size`, a field the sandbox does not have: its 422 names
    // `shoe_size`, and the caller reads back the name it sent.
    let (_sandbox, crm, _) = setup(
        r#"version = "1"
[contact.fields]
nickname = "shoe_size"
"#,
    )
    .await;
    let mut c = contact("nick@example.com", "Buyer");
    c.custom.insert("nickname".into(), "Mimi".into());
    let ctx = WriteContext::default();
    let created = crm.contacts().create(&c, &ctx).await.unwrap_err();
    let batch = crm.contacts().create_batch(&[c], &ctx).await;
    for err in [&created, batch[0].as_ref().unwrap_err()] {
        match err.kind() {
            ErrorKind::Validation { fields } => {
                assert_eq!(fields.len(), 1, "{err}");
                assert_eq!(fields[0].field, "nickname", "{err}");
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
}
