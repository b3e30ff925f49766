//! The trait an adapter implements: its vendor's hooks, and nothing else.
//!
//! An adapter speaks to its vendor in the vendor's field names and JSON; everything a user
//! relies on being the same across vendors is done once, in [`crate::raw::Connection`], on top
//! of this trait: the capability check before any request, operation names, the audit record of
//! every write, mapping common fields to vendor fields and back, building `Record<T>`, chunking
//! batches to the vendor's maximum, per-item idempotency keys, and "collect up to N" paging
//! through [`crate::raw::paginate`].
//!
//! So a backend never sees a `Contact` or a `Ticket`: it gets a [`VendorWrite`] whose fields are
//! already in vendor names and answers with [`VendorRecord`]s in vendor names.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::api::{Capabilities, Crm, IdempotencyKey, Lookup, Page, UpsertKey};
use crate::error::{Error, Result};
use crate::mapping::{ObjectMapping, VendorNames};
use crate::model::{
    Entity, FieldList, FieldMap, FieldValue, ObjectKind, Record, RecordId, RecordRef, Region,
};
use crate::raw::Target;
use crate::raw::checks::{SetupCheck, TableCheck};
use crate::view::{CustomerView, ViewOptions};

/// A record as the vendor holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorRecord {
    /// The vendor's id of the record.
    pub id: RecordId,
    /// The mapping target the record belongs to (see [`crate::raw::Target`]): its fields are
    /// mapped back to common names with that target's mapping.
    pub target: &'static str,
    /// When the record was created, if the vendor says.
    pub created_at: Option<DateTime<Utc>>,
    /// When the record last changed, if the vendor says.
    pub updated_at: Option<DateTime<Utc>>,
    /// The record's fields by vendor name.
    pub fields: FieldMap,
    /// Common fields the backend resolved itself, laid over the mapped ones: links read from
    /// the vendor's associations, a status label from the vendor's pipeline metadata. A
    /// backend that maps every field itself puts them all here (a list, not a map: the record
    /// is read once into its typed form).
    pub resolved: FieldList,
}

impl VendorRecord {
    /// A record of `target` with vendor fields and no timestamps.
    pub fn new(id: RecordId, target: &'static str, fields: FieldMap) -> Self {
        Self {
            id,
            target,
            created_at: None,
            updated_at: None,
            fields,
            resolved: FieldList::new(),
        }
    }

    /// The record as a `T`, as the connection returns it: its vendor fields mapped back with
    /// `mapping` (`names` being that mapping's index, [`crate::raw::Mappings::get_named`]), the
    /// resolved fields laid over them. For results a backend assembles itself (a 360° view).
    pub fn into_record<T: Entity>(
        mut self,
        mapping: &ObjectMapping,
        names: &VendorNames,
        region: Region,
    ) -> Result<Record<T>> {
        let fields = std::mem::take(&mut self.fields);
        let resolved = std::mem::replace(
            &mut self.resolved,
            mapping.read_vendor_named(names, T::KIND, fields),
        );
        self.resolved.extend(resolved);
        self.into_resolved(region)
    }

    /// The record as a `T` from its resolved fields alone, for a backend that resolves every
    /// common field itself (its `fields` are not read).
    pub fn into_resolved<T: Entity>(self, region: Region) -> Result<Record<T>> {
        Ok(Record {
            id: self.id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            data: T::from_list(self.resolved, region)?,
        })
    }
}

/// What a write does.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Create a record. With a key, the backend makes the create idempotent (the key in a
    /// unique field, an idempotency header); the connection only sends a key where the backend
    /// declares [`crate::ObjectCapabilities::idempotent_create`].
    Create {
        /// The idempotency key, if the caller gave one.
        key: Option<IdempotencyKey>,
    },
    /// Change the given fields of a record.
    Update {
        /// The record.
        id: RecordId,
    },
    /// Update the record matching the key, or create it. The key's field is one of the
    /// object's [`crate::ObjectCapabilities::upsert_keys`].
    Upsert {
        /// The key.
        key: UpsertKey,
    },
}

/// One write, mapped to vendor field names.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorWrite {
    /// The common kind of the record.
    pub kind: ObjectKind,
    /// The mapping target the fields were mapped with ([`Backend::target`]).
    pub target: &'static str,
    /// What the write does.
    pub op: WriteOp,
    /// The fields to write, by vendor name.
    pub fields: FieldMap,
    /// The same fields by common name, for backends that write some of them in another form
    /// than a field (links as associations).
    pub common: FieldMap,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The record after the write: read back, or built from the input and the vendor's id
    /// where the vendor answers with the id only.
    pub record: VendorRecord,
    /// `true` when a record was created.
    pub created: bool,
}

/// A create and the creates that link to it, mapped, for [`Backend::write_linked`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedWrites {
    /// The create the others link to.
    pub parent: VendorWrite,
    /// The creates that link to it, in order. Their link is not set: the backend writes it in
    /// the vendor's way of referring to the parent's new record (Salesforce: `@{parent.id}`),
    /// in the common field named by the parent kind's [`ObjectKind::link_field`]
    /// (`ticket_id`, `contact_id`).
    pub children: Vec<VendorWrite>,
}

/// What a linked group did: the parent's answer and each child's, in order.
#[derive(Debug, Clone)]
pub struct LinkedWritten {
    /// The parent.
    pub parent: Result<Written>,
    /// The children, in order.
    pub children: Vec<Result<Written>>,
}

/// One condition of a query, in both vocabularies: backends that filter by a lookup parameter
/// rather than a field (`?email=`) use the common name, the others the vendor field.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorCondition {
    /// The common field name (`email`, `phone`, `external_id`, `account_id`, …).
    pub common: String,
    /// The vendor field the mapping gives for it, if any.
    pub vendor: Option<String>,
    /// The value it must equal (a phone in E.164 form).
    pub value: FieldValue,
}

/// Which records a query asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryFilter {
    /// Every record of the kind.
    All,
    /// Records matching every condition.
    Where(Vec<VendorCondition>),
    /// A customer lookup on contacts or leads; the backend matches the way its vendor does
    /// (HubSpot searches a phone over several properties).
    Lookup(Lookup),
    /// Records linked to `owner`.
    Linked {
        /// The record they hang off.
        owner: RecordRef,
        /// Only open ones (tickets, opportunities): the backend filters by the vendor's open
        /// states where it can; the connection drops closed ones in any case.
        open_only: bool,
    },
}

/// A query for one page of records of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The kind.
    pub kind: ObjectKind,
    /// Which records.
    pub filter: QueryFilter,
    /// Only records changed at or after this instant.
    pub changed_since: Option<DateTime<Utc>>,
    /// Most recently changed first, where the vendor can sort (finds, lookups, linked records).
    pub newest_first: bool,
    /// Records per page the caller asked for; the backend caps it at its maximum.
    pub page_size: u32,
}

/// What a backend states about its connection ([`Backend::facts`]).
#[derive(Debug, Clone, Copy)]
pub struct BackendFacts<'a> {
    /// The vendor's name (`hubspot`), reported by [`Crm::vendor`] and in audit records.
    pub vendor: &'static str,
    /// What the connection supports; checked by the connection before every call.
    pub capabilities: &'a Capabilities,
    /// Where national phone numbers in this CRM are read.
    pub region: Region,
    /// The connection setting that makes creates idempotent (`idempotency_property`), named in
    /// the error of a keyed create on a connection without it.
    pub idempotency_setting: &'static str,
}

impl<'a> BackendFacts<'a> {
    /// The facts of a `vendor` connection: its capabilities, phone region and idempotency
    /// setting.
    pub fn new(
        vendor: &'static str,
        capabilities: &'a Capabilities,
        region: Region,
        idempotency_setting: &'static str,
    ) -> Self {
        Self {
            vendor,
            capabilities,
            region,
            idempotency_setting,
        }
    }
}

/// The vendor's hooks. See the [`raw`](crate::raw) module for what the connection does around them.
///
/// Errors a backend returns get the operation name stamped by the connection when they carry
/// none, so a backend need not stamp them.
#[async_trait]
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The adapter's builder, so that `Connection::<ThisBackend>::builder()` (under the
    /// adapter's alias: `HubSpot::builder()`) starts one.
    type Builder: Default;

    /// What every connection of this backend states about itself: the vendor, the capabilities,
    /// the phone region and the idempotency setting. The four methods below read it, so that a
    /// backend writes one method instead of four that return its fields.
    fn facts(&self) -> BackendFacts<'_>;

    /// The vendor's name (`hubspot`), reported by [`Crm::vendor`] and in audit records.
    fn vendor(&self) -> &'static str {
        self.facts().vendor
    }

    /// What this connection supports; checked by the connection before every call.
    fn capabilities(&self) -> &Capabilities {
        self.facts().capabilities
    }

    /// Where national phone numbers in this CRM are read.
    fn region(&self) -> Region {
        self.facts().region
    }

    /// The connection setting that makes creates idempotent (`idempotency_property`), named in
    /// the error of a keyed create on a connection without it.
    fn idempotency_setting(&self) -> &'static str {
        self.facts().idempotency_setting
    }

    /// What an admin does to make `what` (a lookup or upsert key: `phone`, `external_id`)
    /// available on `kind` records, when the connection declares it absent; the connection adds
    /// it to the `Unsupported` error it returns before any request. Default none.
    fn setup_hint(&self, kind: ObjectKind, what: &str) -> Option<String> {
        let _ = (kind, what);
        None
    }

    /// The mapping target a write of `kind` with these common fields goes to. The default is
    /// the kind's own name; HubSpot sends an activity to its notes, tasks or calls by kind.
    fn target(&self, kind: ObjectKind, common: &FieldMap) -> &'static str {
        let _ = common;
        kind.as_str()
    }

    /// Prepares a write's common fields before the connection maps them to vendor fields, and
    /// may move the write to another `target` (an update of a HubSpot task goes to its tasks,
    /// whatever the patch says). [`VendorWrite::common`] keeps the fields as the caller gave
    /// them. The default leaves both as they are; HubSpot folds a note's subject into its body,
    /// marks conversation logs and takes out the fields it writes as associations or resolves
    /// from pipelines; Salesforce takes out an activity's links, which it writes to
    /// `WhoId`/`WhatId` itself.
    fn before_mapping(
        &self,
        kind: ObjectKind,
        op: &WriteOp,
        target: &mut &'static str,
        common: &mut FieldMap,
    ) -> Result<()> {
        let _ = (kind, op, target, common);
        Ok(())
    }

    /// Reads one record. A missing record is `NotFound`.
    async fn get(&self, kind: ObjectKind, id: &RecordId) -> Result<VendorRecord>;

    /// Writes one record.
    async fn write(&self, write: VendorWrite) -> Result<Written>;

    /// Writes at most [`crate::ObjectCapabilities::max_batch`] records of one kind and one
    /// [`WriteOp`] variant in one vendor call where the vendor has one; one result per input,
    /// in input order. The default sends [`write`](Self::write)s, four at a time.
    async fn write_batch(&self, writes: Vec<VendorWrite>) -> Vec<Result<Written>> {
        futures::stream::iter(writes)
            .map(|w| self.write(w))
            .buffered(4)
            .collect()
            .await
    }

    /// Writes a create and the creates that link to it in one vendor request, where the vendor
    /// can refer to a record created earlier in the same request (Salesforce Composite
    /// references): one round trip instead of two, and, all-or-none, no note without its
    /// ticket. Each write gets its own answer: a write the vendor rolled back because another
    /// failed gets [`crate::linked::rolled_back`], a child not written because its parent was
    /// not gets [`crate::linked::not_sent`].
    ///
    /// The default hands the writes back untouched (`Err`), as a backend does when the group
    /// does not fit one request: the connection then writes the parent, and the children with
    /// its id, in order ([`crate::api::create_in_order`]).
    async fn write_linked(
        &self,
        writes: LinkedWrites,
    ) -> std::result::Result<LinkedWritten, LinkedWrites> {
        Err(writes)
    }

    /// One page of a query, starting at `cursor` (`None`: the first page). The connection pages
    /// on through [`crate::raw::paginate`], which stops cycling or endless cursors.
    async fn query_page(&self, query: &Query, cursor: Option<String>)
    -> Result<Page<VendorRecord>>;

    /// Checks through the CRM's schema API that the fields the connection's settings name
    /// (an idempotency property, an external-id field) exist and fit, for `crm-connect
    /// doctor`: one request per object involved. The default checks nothing.
    async fn check_setup(&self) -> Result<Vec<SetupCheck>> {
        Ok(Vec::new())
    }

    /// Compares the mapping table of `target` (one of the adapter's targets, with its kind)
    /// with the CRM's live schema, for `crm-connect mapping check --live`. The default
    /// compares nothing and says so.
    async fn check_table(&self, target: Target, mapping: &ObjectMapping) -> Result<TableCheck> {
        let _ = (target, mapping);
        Ok(TableCheck::Unchecked(format!(
            "the {} adapter has no live schema check",
            self.vendor()
        )))
    }

    /// Links two existing records. The default says the connection cannot.
    async fn link(&self, from: &RecordRef, to: &RecordRef) -> Result<()> {
        let _ = (from, to);
        Err(Error::unsupported(
            "link",
            "this connection cannot link records",
        ))
    }

    /// The 360° view; the default composes it from the record families
    /// ([`CustomerView::load`]), without tickets where the connection declares none (Pipedrive
    /// has no tickets: the view is still there, its ticket list empty). A backend overrides it
    /// where its vendor has a cheaper path (one Composite request).
    async fn customer_view(
        &self,
        crm: &dyn Crm,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<CustomerView>> {
        if self
            .capabilities()
            .objects
            .contains_key(&ObjectKind::Ticket)
        {
            return CustomerView::load(crm, lookup, options).await;
        }
        let options = ViewOptions {
            tickets: 0,
            ..options.clone()
        };
        CustomerView::load(crm, lookup, &options).await
    }
}
