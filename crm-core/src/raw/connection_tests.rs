//! The generic connection over an in-memory backend that counts its calls: what every adapter
//! gets from core without writing it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::api::{Capabilities, ObjectCapabilities, WriteContext};
use crate::audit::{AuditRecord, AuditSink};
use crate::mapping::ObjectMapping;
use crate::model::Personal;
use crate::model::{FieldValue, Ticket};
use crate::raw::{
    Backend, BackendFacts, Mappings, Query, Target, VendorRecord, VendorWrite, WriteOp, Written,
};
use crate::{Crm, ErrorKind, IdempotencyKey, ObjectKind, Page, RecordId, Region, Result};

#[derive(Debug, Default)]
struct Memory {
    capabilities: Capabilities,
    batches: Mutex<Vec<Vec<Option<String>>>>,
    gets: AtomicUsize,
    queried: Mutex<Vec<ObjectKind>>,
}

#[async_trait::async_trait]
impl Backend for Memory {
    type Builder = ();

    fn facts(&self) -> BackendFacts<'_> {
        let setting = "memory_key";
        BackendFacts::new("memory", &self.capabilities, Region::default(), setting)
    }

    async fn get(&self, _kind: ObjectKind, id: &RecordId) -> Result<VendorRecord> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let mut fields = crate::FieldMap::new();
        fields.insert("Subject".into(), FieldValue::Text("printer".into()));
        Ok(VendorRecord::new(id.clone(), "ticket", fields))
    }
    async fn write(&self, write: VendorWrite) -> Result<Written> {
        let mut out = self.write_batch(vec![write]).await;
        out.pop()
            .unwrap_or_else(|| Err(crate::Error::decode("nothing")))
    }
    async fn write_batch(&self, writes: Vec<VendorWrite>) -> Vec<Result<Written>> {
        let keys = writes
            .iter()
            .map(|w| match &w.op {
                WriteOp::Create { key } => key.as_ref().map(|k| k.as_str().to_owned()),
                _ => None,
            })
            .collect();
        let mut batches = self.batches.lock().unwrap();
        batches.push(keys);
        let n = batches.len();
        writes
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                let id = RecordId::new(format!("t-{n}-{i}"))?;
                Ok(Written {
                    record: VendorRecord::new(id, w.target, w.fields),
                    created: true,
                })
            })
            .collect()
    }
    /// A look-up of contacts finds `c-1`; every other query finds nothing.
    async fn query_page(
        &self,
        query: &Query,
        _cursor: Option<String>,
    ) -> Result<Page<VendorRecord>> {
        self.queried.lock().unwrap().push(query.kind);
        let items = match (&query.kind, &query.filter) {
            (ObjectKind::Contact, crate::raw::QueryFilter::Lookup(_)) => {
                let id = RecordId::new("c-1")?;
                vec![VendorRecord::new(id, "contact", crate::FieldMap::new())]
            }
            _ => Vec::new(),
        };
        Ok(Page { items, next: None })
    }
}

#[derive(Debug, Default)]
struct Audits(Mutex<Vec<AuditRecord>>);

impl AuditSink for Audits {
    fn record(&self, record: &AuditRecord) -> Result<()> {
        self.0.lock().unwrap().push(record.clone());
        Ok(())
    }
}

const TARGETS: &[Target] = &[("ticket", ObjectKind::Ticket)];

fn connection(ticket: Option<ObjectCapabilities>) -> (Connection<Memory>, std::sync::Arc<Audits>) {
    let mut capabilities = Capabilities::default();
    if let Some(caps) = ticket {
        capabilities.objects.insert(ObjectKind::Ticket, caps);
    }
    let mut mapping = ObjectMapping::default();
    mapping.fields.insert("subject".into(), "Subject".into());
    mapping.pass_through = true;
    let defaults = BTreeMap::from([("ticket", mapping)]);
    let mappings = std::sync::Arc::new(Mappings::new("memory", TARGETS, defaults, None).unwrap());
    let audits = std::sync::Arc::new(Audits::default());
    let backend = Memory {
        capabilities,
        ..Memory::default()
    };
    let conn = Connection::new(
        std::sync::Arc::new(backend),
        mappings,
        "acme",
        audits.clone(),
    );
    (conn, audits)
}

fn ticket(i: usize) -> Ticket {
    Ticket {
        subject: Some(Personal::new(format!("printer {i}"))),
        ..Ticket::default()
    }
}

#[tokio::test]
async fn an_unsupported_kind_is_refused_before_the_backend_is_called() {
    let (conn, _) = connection(None);
    let err = conn
        .tickets()
        .get(&RecordId::new("t-1").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unsupported), "{err}");
    assert_eq!(conn.backend().gets.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn batches_are_cut_at_the_vendors_maximum_and_items_keep_their_own_keys() {
    let caps = ObjectCapabilities {
        max_batch: Some(2),
        idempotent_create: true,
        ..ObjectCapabilities::read_write()
    };
    let (conn, audits) = connection(Some(caps));
    let ctx = WriteContext::default().with_idempotency_key(IdempotencyKey::new("conv-9").unwrap());
    let inputs: Vec<Ticket> = (0..5).map(ticket).collect();
    let results = conn.tickets().create_batch(&inputs, &ctx).await;
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(Result::is_ok));
    let batches = conn.backend().batches.lock().unwrap().clone();
    assert_eq!(
        batches.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let keys: Vec<String> = batches.into_iter().flatten().flatten().collect();
    assert_eq!(
        keys,
        ["conv-9.0", "conv-9.1", "conv-9.2", "conv-9.3", "conv-9.4"]
    );
    // One audit record per item, each with its own key and the field names only.
    let audits = audits.0.lock().unwrap();
    assert_eq!(audits.len(), 5);
    assert!(
        audits
            .iter()
            .all(|a| a.fields.iter().any(|f| f == "subject"))
    );
}

#[tokio::test]
async fn a_keyed_create_the_connection_cannot_honour_names_the_setting_and_sends_nothing() {
    let (conn, audits) = connection(Some(ObjectCapabilities::read_write()));
    let ctx = WriteContext::default().with_idempotency_key(IdempotencyKey::new("k-1").unwrap());
    let err = conn.tickets().create(&ticket(1), &ctx).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert_eq!(err.operation(), Some("ticket.create"));
    assert!(err.to_string().contains("memory_key"), "{err}");
    assert!(conn.backend().batches.lock().unwrap().is_empty());
    assert_eq!(
        audits.0.lock().unwrap().len(),
        1,
        "a refused write is audited too"
    );
}

#[tokio::test]
async fn reads_are_mapped_back_to_common_fields() {
    let (conn, _) = connection(Some(ObjectCapabilities::read_write()));
    let t = conn
        .tickets()
        .get(&RecordId::new("t-7").unwrap())
        .await
        .unwrap();
    assert_eq!(t.id.as_str(), "t-7");
    assert_eq!(
        t.data.subject.as_ref().map(|s| s.expose().as_str()),
        Some("printer")
    );
}

/// A connection that declares no tickets still answers the 360° view, its ticket list empty,
/// without asking the backend for tickets (Pipedrive has none).
#[tokio::test]
async fn the_view_of_a_connection_without_tickets_has_none_and_asks_for_none() {
    let mut capabilities = Capabilities::default();
    for kind in [ObjectKind::Contact, ObjectKind::Activity] {
        capabilities
            .objects
            .insert(kind, ObjectCapabilities::read_write());
    }
    let targets: &[Target] = &[
        ("contact", ObjectKind::Contact),
        ("activity", ObjectKind::Activity),
    ];
    let defaults = BTreeMap::from([
        ("contact", ObjectMapping::default()),
        ("activity", ObjectMapping::default()),
    ]);
    let mappings = std::sync::Arc::new(Mappings::new("memory", targets, defaults, None).unwrap());
    let backend = std::sync::Arc::new(Memory {
        capabilities,
        ..Memory::default()
    });
    let conn = Connection::new(
        backend.clone(),
        mappings,
        "acme",
        std::sync::Arc::new(Audits::default()),
    );
    let lookup = crate::Lookup::Email(crate::Email::parse("jane@example.com").unwrap());
    let options = crate::ViewOptions {
        opportunities: 0,
        ..crate::ViewOptions::default()
    };
    let view = conn
        .customer_view(&lookup, &options)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.contact.id.as_str(), "c-1");
    assert!(view.open_tickets.is_empty());
    let queried = backend.queried.lock().unwrap().clone();
    assert!(!queried.contains(&ObjectKind::Ticket), "{queried:?}");
    assert!(queried.contains(&ObjectKind::Activity), "{queried:?}");
}
