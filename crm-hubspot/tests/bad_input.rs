//! Bad input from either side against the HubSpot fake: each case is a typed error naming the
//! record and field, never a panic, and a batch reports exactly which inputs were written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::sync::{Arc, Mutex};

use crm_core::audit::{AuditOutcome, AuditRecord, AuditSink};
use crm_core::mapping::ObjectMapping;
use crm_core::retry::RetryPolicy;
use crm_core::{
    Condition, Contact, Crm, Email, ErrorKind, FieldError, FieldValue, Filter, Personal, RecordId,
    Result, Ticket, UpsertKey, WriteContext,
};
use crm_hubspot::{HubSpot, MappingTarget};
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, HubSpotFaults, demo};

#[derive(Debug, Default)]
struct Captured(Mutex<Vec<AuditRecord>>);

impl AuditSink for Captured {
    fn record(&self, record: &AuditRecord) -> Result<()> {
        self.0.lock().unwrap().push(record.clone());
        Ok(())
    }
}

async fn setup() -> (HubSpotFake, HubSpot, Arc<Captured>) {
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let audit = Arc::new(Captured::default());
    let mut typed = ObjectMapping {
        pass_through: true,
        ..ObjectMapping::default()
    };
    typed.fields.insert("crm_score".into(), "crm_score".into());
    let crm = common::builder(&fake)
        .with_idempotency_field(Some(demo::IDEMPOTENCY_PROPERTY))
        .with_external_id_property(Some(demo::EXTERNAL_ID_PROPERTY))
        .with_lead_source_property(Some(demo::LEAD_SOURCE_PROPERTY))
        .with_mapping(MappingTarget::Contact, typed)
        .with_audit_sink(audit.clone())
        .with_retry(RetryPolicy::never())
        .build()
        .unwrap();
    (fake, crm, audit)
}

fn fields_of(err: &crm_core::Error) -> Vec<FieldError> {
    match err.kind() {
        ErrorKind::Validation { fields } => fields.clone(),
        other => panic!("expected a validation error, got {other:?}: {err}"),
    }
}

fn contact(email: &str) -> Contact {
    Contact {
        email: Some(Email::from_vendor(email)),
        last_name: Some("Tester".into()),
        ..Contact::default()
    }
}

#[tokio::test]
async fn an_unknown_property_is_named() {
    let (fake, crm, audit) = setup().await;
    let mut c = contact("shoes@example.com");
    c.custom
        .insert("shoe_size".into(), FieldValue::from("forty-four-wide"));
    let err = crm
        .contacts()
        .create(&c, &WriteContext::default())
        .await
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        [FieldError::new(
            "shoe_size",
            Some("PROPERTY_DOESNT_EXIST".into())
        )]
    );
    assert_eq!(err.operation(), Some("contact.create"));
    assert_eq!(err.status(), Some(400));
    assert!(
        fake.find("contacts", "email", "shoes@example.com")
            .is_none()
    );
    // The audit trail names the fields and the failure, never a value.
    let records = audit.0.lock().unwrap().clone();
    let last = records.last().unwrap();
    assert_eq!(
        last.outcome,
        AuditOutcome::Failed {
            kind: "validation".into()
        }
    );
    assert!(last.fields.contains(&"shoe_size".to_owned()));
    let json = serde_json::to_string(last).unwrap();
    assert!(
        !json.contains("shoes@example.com") && !json.contains("forty-four"),
        "{json}"
    );
}

#[tokio::test]
async fn an_invalid_option_names_the_common_field() {
    let (_fake, crm, _) = setup().await;
    let t = Ticket {
        subject: Some("Printer on fire".into()),
        priority: Some("SUPER_URGENT".into()),
        ..Ticket::default()
    };
    let err = crm
        .tickets()
        .create(&t, &WriteContext::default())
        .await
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        [FieldError::new("priority", Some("INVALID_OPTION".into()))]
    );
    assert!(!err.to_string().contains("SUPER_URGENT"), "{err}");
}

#[tokio::test]
async fn a_missing_required_property_is_named() {
    let (fake, crm, _) = setup().await;
    // An upsert sends only the given fields: a new ticket without a stage is refused.
    let t = Ticket {
        subject: Some("No stage".into()),
        ..Ticket::default()
    };
    let err = crm
        .tickets()
        .upsert(
            &UpsertKey::ExternalId("ext-no-stage".into()),
            &t,
            &WriteContext::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        [FieldError::new("status", Some("REQUIRED_PROPERTY".into()))]
    );
    assert!(
        fake.find("tickets", demo::EXTERNAL_ID_PROPERTY, "ext-no-stage")
            .is_none()
    );
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_named() {
    let (_fake, crm, _) = setup().await;
    let mut c = contact("typed@example.com");
    c.custom
        .insert("crm_score".into(), FieldValue::from("lots"));
    let err = crm
        .contacts()
        .create(&c, &WriteContext::default())
        .await
        .unwrap_err();
    assert_eq!(
        fields_of(&err),
        [FieldError::new("crm_score", Some("INVALID_DECIMAL".into()))]
    );
}

#[tokio::test]
async fn a_batch_of_101_goes_out_in_two_calls() {
    let (fake, crm, _) = setup().await;
    let inputs: Vec<Contact> = (0..101)
        .map(|i| contact(&format!("batch101-{i}@example.com")))
        .collect();
    let before = fake.requests();
    let results = crm
        .contacts()
        .create_batch(&inputs, &WriteContext::default())
        .await;
    let after = fake.requests();
    assert_eq!(results.len(), 101);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(after.batch - before.batch, 2);
    assert_eq!(after.total - before.total, 2);
    let ids: std::collections::BTreeSet<_> = results
        .iter()
        .map(|r| r.as_ref().unwrap().id.clone())
        .collect();
    assert_eq!(ids.len(), 101);
}

#[tokio::test]
async fn a_batch_reports_exactly_which_inputs_were_written() {
    let (fake, crm, _) = setup().await;
    let inputs = vec![
        contact("first-ok@example.com"),
        contact("broken"),
        contact(demo::CUSTOMER_EMAIL),
        contact("last-ok@example.com"),
    ];
    let results = crm
        .contacts()
        .create_batch(&inputs, &WriteContext::default())
        .await;
    assert!(results[0].is_ok());
    assert_eq!(
        fields_of(results[1].as_ref().unwrap_err()),
        [FieldError::new("email", Some("INVALID_EMAIL".into()))]
    );
    match results[2].as_ref().unwrap_err().kind() {
        ErrorKind::Conflict { existing_id, .. } => {
            assert_eq!(
                existing_id.as_ref().unwrap().as_str(),
                demo::CUSTOMER_CONTACT_ID
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(results[3].is_ok());
    assert!(
        fake.find("contacts", "email", "first-ok@example.com")
            .is_some()
    );
    assert!(
        fake.find("contacts", "email", "last-ok@example.com")
            .is_some()
    );
    assert!(fake.find("contacts", "email", "broken").is_none());
}

#[tokio::test]
async fn a_truncated_body_is_a_decode_error() {
    let (fake, crm, _) = setup().await;
    fake.set_faults(HubSpotFaults {
        malformed_next: 1,
        ..HubSpotFaults::default()
    });
    let err = crm
        .contacts()
        .get(&RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("truncated"), "{err}");
}

#[tokio::test]
async fn an_html_502_is_unavailable_and_keeps_the_page() {
    let (fake, crm, _) = setup().await;
    fake.set_faults(HubSpotFaults {
        html_next: 1,
        ..HubSpotFaults::default()
    });
    let err = crm
        .contacts()
        .get(&RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unavailable);
    assert_eq!(err.status(), Some(502));
    assert!(
        err.vendor()
            .unwrap()
            .redacted_body()
            .unwrap()
            .contains("502 Bad Gateway")
    );
    assert!(err.correlation_id().is_some());
}

#[tokio::test]
async fn ids_with_slashes_and_question_marks_never_reach_a_path() {
    let (fake, crm, _) = setup().await;
    let before = fake.requests().log.len();
    // HubSpot ids are digits: anything else is not found without a request.
    let id = RecordId::new("1001/../1002?archived=true").unwrap();
    let err = crm.contacts().get(&id).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    let err = crm
        .tickets()
        .update(&id, &Ticket::default(), &WriteContext::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert_eq!(fake.requests().log.len(), before);
}

#[tokio::test]
async fn a_search_over_its_caps_is_refused_before_sending() {
    let (fake, crm, _) = setup().await;
    let mut filter = Filter::new(Condition::eq("email", "a@b.co"));
    for f in [
        "first_name",
        "last_name",
        "title",
        "phone",
        "crm_score",
        "mobile_phone",
    ] {
        filter = filter.and(Condition::eq(f, "x"));
    }
    let before = fake.requests().total;
    let err = crm.contacts().find(&filter, 10).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(err.message().contains("6 filters"), "{err}");
    assert_eq!(fake.requests().total, before);
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_with_the_existing_id() {
    let (fake, crm, _) = setup().await;
    let jane_again = Contact {
        email: Some(Email::parse("JANE.DOE@example.com").unwrap()),
        title: Some("COO".into()),
        ..Contact::default()
    };
    let err = crm
        .contacts()
        .create(&jane_again, &WriteContext::default())
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::Conflict { existing_id, .. } => {
            assert_eq!(
                existing_id.as_ref().unwrap().as_str(),
                demo::CUSTOMER_CONTACT_ID
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(err.vendor().unwrap().code.as_deref(), Some("CONFLICT"));
    // create-or-update resolves the 409 by updating the existing contact.
    let up = crm_hubspot::create_or_update_contact(&crm, &jane_again, &WriteContext::default())
        .await
        .unwrap();
    assert!(!up.created);
    assert_eq!(up.record.id.as_str(), demo::CUSTOMER_CONTACT_ID);
    assert_eq!(up.record.title.as_deref(), Some("COO"));
    let stored = fake.record("contacts", demo::CUSTOMER_CONTACT_ID).unwrap();
    assert_eq!(stored["properties"]["jobtitle"], "COO");
    let created = crm_hubspot::create_or_update_contact(
        &crm,
        &contact("brand-new@example.com"),
        &WriteContext::default(),
    )
    .await
    .unwrap();
    assert!(created.created);
}

#[tokio::test]
async fn caller_misuse_is_refused_before_any_call() {
    let (fake, crm, _) = setup().await;
    let before = fake.requests().total;
    let err = crm
        .contacts()
        .upsert(
            &UpsertKey::ExternalId(String::new()),
            &Contact::default(),
            &WriteContext::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    let err = crm
        .tickets()
        .upsert(
            &UpsertKey::Email(Email::parse("a@b.co").unwrap()),
            &Ticket::default(),
            &WriteContext::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unsupported);
    let err = crm
        .contacts()
        .find_by(&crm_core::Lookup::ExternalId("  ".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert_eq!(fake.requests().total, before);
    let _ = Personal::new(String::new());
}
