//! Bad input from either side: what the caller gives, what the server answers. Every case is a
//! typed error naming what was wrong, and the audit trail records names, not values.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::{Arc, Mutex};

use crm_core::audit::{AuditOutcome, AuditRecord, AuditSink};
use crm_core::reexports::futures::StreamExt;
use crm_core::{
    Actor, Contact, Crm, Email, ErrorKind, FieldValue, ListQuery, ObjectKind, Personal, RecordRef,
    Result, Ticket, WriteContext,
};
use crm_generic_rest::GenericRestBuilder;
use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Debug, Default)]
struct Captured(Mutex<Vec<AuditRecord>>);

impl AuditSink for Captured {
    fn record(&self, record: &AuditRecord) -> Result<()> {
        self.0.lock().unwrap().push(record.clone());
        Ok(())
    }
}

async fn sandbox_crm() -> (Sandbox, crm_generic_rest::GenericRest, Arc<Captured>) {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let audit = Arc::new(Captured::default());
    let crm = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .with_connection_name("acme")
        .with_audit_sink(audit.clone())
        .build()
        .unwrap();
    (sandbox, crm, audit)
}

#[tokio::test]
async fn missing_required_and_unknown_fields_are_named() {
    let (_sb, crm, _) = sandbox_crm().await;
    let ctx = WriteContext::default();
    let no_last_name = Contact {
        email: Some(Email::parse("nolast@example.com").unwrap()),
        ..Contact::default()
    };
    let err = crm
        .contacts()
        .create(&no_last_name, &ctx)
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::Validation { fields } => {
            assert!(fields.iter().any(|f| f.field == "last_name"), "{err}")
        }
        other => panic!("expected validation, got {other:?}"),
    }
    assert_eq!(err.operation(), Some("contact.create"));

    let mut with_unknown = Contact {
        last_name: Some("Known".into()),
        ..Contact::default()
    };
    with_unknown
        .custom
        .insert("shoe_size".into(), FieldValue::from("44"));
    let err = crm
        .contacts()
        .create(&with_unknown, &ctx)
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::Validation { fields } => {
            assert!(fields.iter().any(|f| f.field == "shoe_size"), "{err}")
        }
        other => panic!("expected validation, got {other:?}"),
    }
}

#[tokio::test]
async fn writes_are_audited_with_names_only() {
    let (_sb, crm, audit) = sandbox_crm().await;
    let ctx = WriteContext::new(Actor::Agent("agent-7".into()));
    let contact = crm
        .contacts()
        .find_by(&crm_core::Lookup::Email(
            Email::parse(demo::CUSTOMER_EMAIL).unwrap(),
        ))
        .await
        .unwrap()
        .remove(0);
    let ticket = Ticket {
        subject: Some(Personal::new("Secret subject 12345".into())),
        ..Ticket::default()
    };
    let created = crm.tickets().create(&ticket, &ctx).await.unwrap();
    crm.link(&created.to_ref(), &contact.to_ref(), &ctx)
        .await
        .unwrap();
    let linked = crm.tickets().get(&created.id).await.unwrap();
    assert_eq!(linked.contact_id.as_ref(), Some(&contact.id));
    let bad = Contact::default();
    let _ = crm.contacts().create(&bad, &ctx).await.unwrap_err();

    let records = audit.0.lock().unwrap().clone();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].operation, "create");
    assert_eq!(records[0].kind, ObjectKind::Ticket);
    assert_eq!(records[0].record_id.as_ref(), Some(&created.id));
    assert_eq!(records[0].connection, "acme");
    assert_eq!(records[0].actor, Actor::Agent("agent-7".into()));
    assert_eq!(records[0].fields, vec!["subject".to_owned()]);
    assert_eq!(records[1].operation, "link");
    assert_eq!(records[1].fields, vec!["contact_id".to_owned()]);
    assert_eq!(
        records[2].outcome,
        AuditOutcome::Failed {
            kind: "validation".into()
        }
    );
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains("Secret subject"), "{all}");
}

async fn mock_crm(server: &MockServer) -> crm_generic_rest::GenericRest {
    GenericRestBuilder::new()
        .with_base_url(format!("{}/api/v1", server.uri()))
        .with_token("t".to_owned().into())
        .with_retry(crm_core::retry::RetryPolicy::never())
        .build()
        .unwrap()
}

#[tokio::test]
async fn malformed_vendor_records_are_decode_errors_naming_the_field() {
    let server = MockServer::start().await;
    let cases = [
        ("c-1", serde_json::json!({"email": "a@b.com"}), "`id`"),
        (
            "c-2",
            serde_json::json!({"id": "c-2", "created_at": "yesterday"}),
            "created_at",
        ),
        ("c-3", serde_json::json!({"id": {"nested": true}}), "`id`"),
        (
            "c-4",
            serde_json::json!(["not", "an", "object"]),
            "JSON object",
        ),
    ];
    for (id, body, _) in &cases {
        Mock::given(method("GET"))
            .and(path(format!("/api/v1/contacts/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/v1/tickets/t-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"id": "t-1", "status": "exploded"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/tickets/t-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "t-2"})))
        .mount(&server)
        .await;
    let crm = mock_crm(&server).await;
    for (id, _, needle) in cases {
        let err = crm.contacts().get(&id.parse().unwrap()).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Decode, "{id}: {err}");
        assert!(err.to_string().contains(needle), "{id}: {err}");
    }
    // A status value the mapping does not know keeps the raw value with an unknown state.
    let status = crm.tickets().status(&"t-1".parse().unwrap()).await.unwrap();
    assert_eq!(status.state, crm_core::TicketState::Unknown);
    assert_eq!(status.raw.as_deref(), Some("exploded"));
    // A ticket without a status has no progress to read back: a decode error, not a guess.
    let err = crm
        .tickets()
        .status(&"t-2".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode, "{err}");
    assert_eq!(err.operation(), Some("ticket.status"));
}

#[tokio::test]
async fn a_list_without_records_array_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/contacts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"items": []})))
        .mount(&server)
        .await;
    let crm = mock_crm(&server).await;
    let first = crm
        .contacts()
        .list(ListQuery::default())
        .next()
        .await
        .unwrap();
    let err = first.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("/data"), "{err}");
}

#[tokio::test]
async fn a_failed_batch_item_names_itself_and_spares_its_neighbours() {
    let (sandbox, crm, _) = sandbox_crm().await;
    let inputs: Vec<Contact> = (0..5)
        .map(|i| Contact {
            email: Some(Email::from_vendor(&if i == 3 {
                "broken".to_owned()
            } else {
                format!("batch-{i}@example.com")
            })),
            last_name: Some("Batch".into()),
            ..Contact::default()
        })
        .collect();
    let before = sandbox.records("contacts").len();
    let results = crm
        .contacts()
        .create_batch(&inputs, &WriteContext::default())
        .await;
    assert_eq!(results.len(), 5);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.is_err(), i == 3, "item {i}");
    }
    assert_eq!(sandbox.records("contacts").len(), before + 4);
    // Linking to a record of an unlinked kind still goes through the mapping.
    let missing = RecordRef::new(ObjectKind::Contact, "c-9999".parse().unwrap());
    let ticket = RecordRef::new(ObjectKind::Ticket, demo::OPEN_TICKET_ID.parse().unwrap());
    let err = crm
        .link(&ticket, &missing, &WriteContext::default())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Validation { .. }), "{err}");
}
