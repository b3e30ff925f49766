//! One record family of a connection: every entity trait implemented once on top of a
//! [`Backend`], for [`super::Connection`].
//!
//! What a user relies on being the same on every vendor happens here, in this order, for
//! every call: the capability check (an `Unsupported` error before any request), mapping the
//! common fields to the target's vendor fields, the backend's vendor call(s), mapping the
//! answer back into a `Record<T>`, the operation name on any error, and for writes one audit
//! record per item with the field names only.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::api::{
    Accounts, Activities, BatchResult, Contacts, Filter, IdempotencyKey, Leads, ListQuery, Lookup,
    ObjectCapabilities, Opportunities, Page, PageStream, Records, Tickets, UpsertKey, Upserted,
    WriteContext,
};
use crate::audit::{self, AuditRecord, AuditSink};
use crate::error::{Error, ErrorKind, Result};
use crate::mapping::{ObjectMapping, VendorNames, WriteMode};
use crate::model::{
    Account, Activity, Contact, Entity, FieldMap, Lead, ObjectKind, Opportunity, Record, RecordId,
    RecordRef, Ticket,
};
use crate::raw::backend::{
    Backend, Query, QueryFilter, VendorCondition, VendorRecord, VendorWrite, WriteOp, Written,
};
use crate::raw::mappings::Mappings;
use crate::raw::{Paging, paginate};

/// The most records a lookup returns (CRMs that allow duplicates).
const LOOKUP_LIMIT: usize = 10;

/// Page size when neither the caller nor the backend names one.
const DEFAULT_PAGE: u32 = 100;

/// Operation names, one static string per kind and verb, so that naming a call allocates
/// nothing. Rows follow [`ObjectKind::ALL`].
macro_rules! operation_table {
    ($($kind:literal),*) => {
        [$([
            concat!($kind, ".get"),
            concat!($kind, ".find"),
            concat!($kind, ".find_by"),
            concat!($kind, ".create"),
            concat!($kind, ".update"),
            concat!($kind, ".upsert"),
            concat!($kind, ".list"),
            concat!($kind, ".open_for"),
            concat!($kind, ".latest_for"),
        ]),*]
    };
}

static OPERATIONS: [[&str; 9]; 6] = operation_table!(
    "contact",
    "account",
    "lead",
    "opportunity",
    "ticket",
    "activity"
);

/// A call on one record family: with the record kind, it names the operation in errors, logs
/// and metric labels (see [`operation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `get`: one record by id.
    Get,
    /// `find`: records matching a filter.
    Find,
    /// `find_by`: a customer look-up (email, phone, external id).
    FindBy,
    /// `create`.
    Create,
    /// `update`.
    Update,
    /// `upsert`.
    Upsert,
    /// `list`: a listing or stream.
    List,
    /// `open_for`: open records linked to another.
    OpenFor,
    /// `latest_for`: the latest records linked to another.
    LatestFor,
}

impl Verb {
    /// The name in audit records (`create`), for writes.
    fn audit_name(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Update => "update",
            _ => "upsert",
        }
    }
}

/// `contact.get`, `ticket.create`, …: the operation name of a call, as a static string, so
/// that naming a call (in its request, errors and metric labels) allocates nothing. Adapters
/// name their own requests for a family call with it.
pub fn operation(kind: ObjectKind, verb: Verb) -> &'static str {
    let row = ObjectKind::ALL
        .iter()
        .position(|k| *k == kind)
        .and_then(|i| OPERATIONS.get(i));
    row.and_then(|r| r.get(verb as usize))
        .copied()
        .unwrap_or("record")
}

/// Names the operation on an error that does not name one yet.
pub(super) fn stamp(err: Error, operation: &'static str) -> Error {
    if err.operation().is_some() {
        err
    } else {
        err.with_operation(operation)
    }
}

/// A target's mapping with its vendor-name index (see [`Mappings::get_named`]).
type Named = (Arc<ObjectMapping>, Arc<VendorNames>);

/// A write's target and common field names (see [`Shared::trace`]).
struct WriteTrace {
    target: &'static str,
    fields: Vec<String>,
}

/// What every family of a connection shares.
pub(super) struct Shared<B> {
    pub(super) backend: Arc<B>,
    pub(super) mappings: Arc<Mappings>,
    pub(super) connection: String,
    pub(super) audit: Arc<dyn AuditSink>,
}

impl<B: Backend> Shared<B> {
    pub(super) fn object(
        &self,
        kind: ObjectKind,
        op: &'static str,
        supported: impl FnOnce(&ObjectCapabilities) -> bool,
    ) -> Result<&ObjectCapabilities> {
        let caps = self.backend.capabilities();
        caps.check(kind, op, supported)?;
        caps.object(kind, op)
    }

    fn to_record<T: Entity>(&self, record: VendorRecord) -> Result<Record<T>> {
        let (mapping, names) = self.mappings.get_named(record.target)?;
        self.to_record_with(&mapping, &names, record)
    }

    /// [`Shared::to_record`] with the record target's mapping already at hand (a page's
    /// records share it).
    fn to_record_with<T: Entity>(
        &self,
        mapping: &ObjectMapping,
        names: &VendorNames,
        record: VendorRecord,
    ) -> Result<Record<T>> {
        record.into_record(mapping, names, self.backend.region())
    }

    pub(super) fn vendor_write(
        &self,
        kind: ObjectKind,
        op: WriteOp,
        common: FieldMap,
        mode: WriteMode,
    ) -> Result<VendorWrite> {
        let mut target = self.backend.target(kind, &common);
        let mut prepared = common.clone();
        self.backend
            .before_mapping(kind, &op, &mut target, &mut prepared)?;
        let mapping = self.mappings.get(target)?;
        let fields = mapping
            .to_vendor_as(kind, &prepared, mode)
            .map_err(|e| mapping.name_error_fields(e))?;
        Ok(VendorWrite {
            kind,
            target,
            op,
            fields,
            common,
        })
    }

    /// What a write's error naming and audit record need of its common fields, taken before
    /// the fields move into the write (so the write does not need a copy of them).
    fn trace(&self, kind: ObjectKind, common: &FieldMap) -> WriteTrace {
        WriteTrace {
            target: self.backend.target(kind, common),
            fields: audit::field_names(common),
        }
    }

    /// Vendor field names in an error become common ones, by the write's target.
    pub(super) fn name_fields(&self, target: &str, err: Error) -> Error {
        match self.mappings.get(target) {
            Ok(mapping) => mapping.name_error_fields(err),
            Err(_) => err,
        }
    }

    /// Emits the audit record of a write of the common fields named `fields` (see
    /// [`audit::field_names`]).
    pub(super) fn audit<R>(
        &self,
        verb: &str,
        kind: ObjectKind,
        ctx: &WriteContext,
        fields: Vec<String>,
        result: &Result<R>,
        id: impl FnOnce(&R) -> RecordId,
    ) {
        let mut record = AuditRecord::new(
            &self.connection,
            self.backend.vendor(),
            verb,
            kind,
            ctx,
            fields,
        )
        .finish(result, id);
        record.mapping_version = self.mappings.label();
        audit::emit(self.audit.as_ref(), &record);
    }

    /// `why`, followed by the backend's advice on turning `what` on, if it has any.
    fn hinted(&self, kind: ObjectKind, why: String, what: &str) -> String {
        match self.backend.setup_hint(kind, what) {
            Some(hint) => format!("{why}: {hint}"),
            None => why,
        }
    }

    /// The error of a keyed create on a connection that cannot honour the key: sent without
    /// it, a retry could duplicate the record, which the caller asked to prevent.
    pub(super) fn key_refused(&self, kind: ObjectKind, op: &'static str) -> Error {
        Error::config(format!(
            "this {kind} create cannot honour its idempotency key: the connection needs \
             `{}`; or send the create without an idempotency key",
            self.backend.idempotency_setting()
        ))
        .with_operation(op)
    }
}

/// One record family of a [`Connection`](super::Connection): implements [`Records`] and the family's own trait.
pub struct Family<B, T> {
    shared: Arc<Shared<B>>,
    _kind: PhantomData<fn() -> T>,
}

impl<B, T: Entity> fmt::Debug for Family<B, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Family<{}>", T::KIND)
    }
}

impl<B: Backend, T: Entity> Family<B, T> {
    pub(super) fn new(shared: Arc<Shared<B>>) -> Self {
        Self {
            shared,
            _kind: PhantomData,
        }
    }

    fn op(verb: Verb) -> &'static str {
        operation(T::KIND, verb)
    }

    /// Pages through `query` until `limit` records pass `keep`, through core's paging (which
    /// stops a server whose cursors cycle or never end).
    async fn collect(
        &self,
        mut query: Query,
        limit: usize,
        keep: impl Fn(&Record<T>) -> bool + Send,
        op: &'static str,
    ) -> Result<Vec<Record<T>>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let max = self
            .shared
            .backend
            .capabilities()
            .objects
            .get(&T::KIND)
            .and_then(|c| c.max_page_size)
            .unwrap_or(u32::MAX);
        query.page_size = u32::try_from(limit).unwrap_or(u32::MAX).min(max).max(1);
        let mut pages = self.pages(query, Paging::default(), None);
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| stamp(e, op))?;
            found.extend(page.items.into_iter().filter(|r| keep(r)));
            if found.len() >= limit {
                found.truncate(limit);
                break;
            }
        }
        Ok(found)
    }

    fn pages(&self, query: Query, paging: Paging, start: Option<String>) -> PageStream<T> {
        let shared = self.shared.clone();
        let query = Arc::new(query);
        paginate(paging, start, move |cursor| {
            let shared = shared.clone();
            let query = query.clone();
            async move {
                let page = shared.backend.query_page(&query, cursor).await?;
                // One mapping look-up per target on the page, not per record.
                let mut mapping: Option<(&'static str, Named)> = None;
                let mut items = Vec::with_capacity(page.items.len());
                for (i, r) in page.items.into_iter().enumerate() {
                    let target = r.target;
                    let record = match &mapping {
                        Some((t, (m, n))) if *t == target => shared.to_record_with(m, n, r),
                        _ => shared.mappings.get_named(target).and_then(|(m, n)| {
                            let record = shared.to_record_with(&m, &n, r);
                            mapping = Some((target, (m, n)));
                            record
                        }),
                    };
                    items.push(record.map_err(|e| {
                        let message = format!("record {i} of the page: {}", e.message());
                        Error::new(e.kind().clone(), message)
                    })?);
                }
                Ok(Page {
                    items,
                    next: page.next,
                })
            }
        })
    }

    fn query(&self, filter: QueryFilter) -> Query {
        Query {
            kind: T::KIND,
            filter,
            changed_since: None,
            newest_first: true,
            page_size: DEFAULT_PAGE,
        }
    }

    async fn lookup(&self, lookup: &Lookup) -> Result<Vec<Record<T>>> {
        let op = Self::op(Verb::FindBy);
        self.shared.object(T::KIND, op, |c| c.find)?;
        let caps = self.shared.backend.capabilities();
        let supported = match lookup {
            Lookup::Email(_) => true,
            Lookup::Phone(_) => caps.lookup_by_phone,
            Lookup::ExternalId(_) => caps.lookup_by_external_id,
        };
        if !supported {
            let why = format!(
                "this connection cannot look {} up by {}",
                T::KIND,
                lookup.by()
            );
            return Err(Error::unsupported(
                op,
                self.shared.hinted(T::KIND, why, lookup.by()),
            ));
        }
        lookup.condition().map_err(|e| stamp(e, op))?;
        let query = self.query(QueryFilter::Lookup(lookup.clone()));
        self.collect(query, LOOKUP_LIMIT, |_| true, op).await
    }

    async fn linked(
        &self,
        owner: &RecordRef,
        limit: usize,
        open: Option<fn(&Record<T>) -> bool>,
        verb: Verb,
    ) -> Result<Vec<Record<T>>> {
        let op = Self::op(verb);
        self.shared.object(T::KIND, op, |c| c.find)?;
        let query = self.query(QueryFilter::Linked {
            owner: owner.clone(),
            open_only: open.is_some(),
        });
        let keep = move |r: &Record<T>| open.is_none_or(|f| f(r));
        self.collect(query, limit, keep, op).await
    }

    /// One write: map, send, map back, audit.
    async fn write_one(
        &self,
        verb: Verb,
        op: WriteOp,
        input: &T,
        ctx: &WriteContext,
    ) -> Result<Written> {
        let name = Self::op(verb);
        let common = input.to_fields();
        let trace = self.shared.trace(T::KIND, &common);
        let result = self.write_inner(verb, op, common).await;
        let result = result.map_err(|e| stamp(self.shared.name_fields(trace.target, e), name));
        self.shared.audit(
            verb.audit_name(),
            T::KIND,
            ctx,
            trace.fields,
            &result,
            |w| w.record.id.clone(),
        );
        result
    }

    async fn write_inner(&self, verb: Verb, op: WriteOp, common: FieldMap) -> Result<Written> {
        let write = self.prepare(verb, op, common)?;
        self.shared.backend.write(write).await
    }

    /// The checks and the mapping of one write, before any request.
    fn prepare(&self, verb: Verb, op: WriteOp, common: FieldMap) -> Result<VendorWrite> {
        let name = Self::op(verb);
        let mode = match verb {
            Verb::Create => WriteMode::Create,
            _ => WriteMode::Update,
        };
        let object = match &op {
            WriteOp::Create { .. } => self.shared.object(T::KIND, name, |c| c.create)?,
            WriteOp::Update { .. } => self.shared.object(T::KIND, name, |c| c.update)?,
            WriteOp::Upsert { key } => {
                let object = self.shared.object(T::KIND, name, |_| true)?;
                if !object.upsert_keys.iter().any(|k| k == key.field()) {
                    let why = format!("{} records cannot be upserted by {}", T::KIND, key.field());
                    return Err(Error::unsupported(
                        name,
                        self.shared.hinted(T::KIND, why, key.field()),
                    ));
                }
                if key.value().is_empty() {
                    return Err(Error::invalid_input("the upsert key is empty"));
                }
                object
            }
        };
        if matches!(op, WriteOp::Create { key: Some(_) }) && !object.idempotent_create {
            return Err(self.shared.key_refused(T::KIND, name));
        }
        self.shared.vendor_write(T::KIND, op, common, mode)
    }

    /// Many writes of one verb: prepared one by one (a bad item fails alone), sent in chunks
    /// of the vendor's batch maximum, answered and audited per item in input order.
    async fn write_many(
        &self,
        verb: Verb,
        items: Vec<(WriteOp, FieldMap)>,
        ctx: &WriteContext,
        per_item_ctx: impl Fn(usize) -> WriteContext,
    ) -> Vec<Result<Written>> {
        let name = Self::op(verb);
        let mut results: Vec<Option<Result<Written>>> = Vec::with_capacity(items.len());
        let mut ready = Vec::new();
        let mut traces = Vec::with_capacity(items.len());
        for (i, (op, common)) in items.into_iter().enumerate() {
            traces.push(self.shared.trace(T::KIND, &common));
            match self.prepare(verb, op, common) {
                Ok(write) => {
                    ready.push((i, write));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let max = self
            .shared
            .backend
            .capabilities()
            .objects
            .get(&T::KIND)
            .and_then(|c| c.max_batch)
            .unwrap_or(usize::MAX)
            .max(1);
        let mut ready = ready.into_iter().peekable();
        while ready.peek().is_some() {
            let chunk: Vec<(usize, VendorWrite)> = ready.by_ref().take(max).collect();
            let (slots, writes): (Vec<usize>, Vec<VendorWrite>) = chunk.into_iter().unzip();
            let answers = self.shared.backend.write_batch(writes).await;
            let mut answers = answers.into_iter();
            for slot in slots {
                let answer = answers.next().unwrap_or_else(|| {
                    Err(Error::new(
                        ErrorKind::Unexpected,
                        "the vendor's batch answer has fewer results than items",
                    ))
                });
                if let Some(r) = results.get_mut(slot) {
                    *r = Some(answer);
                }
            }
        }
        let mut out = Vec::with_capacity(results.len());
        for (i, (result, trace)) in results.into_iter().zip(traces).enumerate() {
            let result = result
                .unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "batch item lost")))
                .map_err(|e| stamp(self.shared.name_fields(trace.target, e), name));
            let item_ctx = per_item_ctx(i);
            self.shared.audit(
                verb.audit_name(),
                T::KIND,
                if item_ctx.idempotency_key.is_some() {
                    &item_ctx
                } else {
                    ctx
                },
                trace.fields,
                &result,
                |w| w.record.id.clone(),
            );
            out.push(result);
        }
        out
    }

    fn records(&self, written: Vec<Result<Written>>) -> BatchResult<Record<T>> {
        written
            .into_iter()
            .map(|w| w.and_then(|w| self.shared.to_record(w.record)))
            .collect()
    }
}

#[async_trait]
impl<B: Backend, T: Entity> Records<T> for Family<B, T> {
    async fn get(&self, id: &RecordId) -> Result<Record<T>> {
        let op = Self::op(Verb::Get);
        self.shared.object(T::KIND, op, |c| c.get)?;
        let record = self
            .shared
            .backend
            .get(T::KIND, id)
            .await
            .map_err(|e| stamp(e, op))?;
        self.shared.to_record(record).map_err(|e| stamp(e, op))
    }

    async fn find(&self, filter: &Filter, limit: usize) -> Result<Vec<Record<T>>> {
        let op = Self::op(Verb::Find);
        self.shared.object(T::KIND, op, |c| c.find)?;
        let mapping = self
            .shared
            .mappings
            .for_kind(T::KIND)
            .map_err(|e| stamp(e, op))?;
        let conditions = filter
            .all
            .iter()
            .map(|c| VendorCondition {
                common: c.field.clone(),
                vendor: mapping.vendor_name(&c.field).map(str::to_owned),
                value: c.value.clone(),
            })
            .collect();
        let query = self.query(QueryFilter::Where(conditions));
        self.collect(query, limit, |_| true, op).await
    }

    async fn create(&self, input: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let key = ctx.idempotency_key.clone();
        let written = self
            .write_one(Verb::Create, WriteOp::Create { key }, input, ctx)
            .await?;
        let op = Self::op(Verb::Create);
        self.shared
            .to_record(written.record)
            .map_err(|e| stamp(e, op))
    }

    async fn update(&self, id: &RecordId, patch: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let op = WriteOp::Update { id: id.clone() };
        let written = self.write_one(Verb::Update, op, patch, ctx).await?;
        self.shared
            .to_record(written.record)
            .map_err(|e| stamp(e, Self::op(Verb::Update)))
    }

    async fn upsert(&self, key: &UpsertKey, input: &T, ctx: &WriteContext) -> Result<Upserted<T>> {
        let op = WriteOp::Upsert { key: key.clone() };
        let written = self.write_one(Verb::Upsert, op, input, ctx).await?;
        let record = self
            .shared
            .to_record(written.record)
            .map_err(|e| stamp(e, Self::op(Verb::Upsert)))?;
        Ok(Upserted {
            record,
            created: written.created,
        })
    }

    async fn create_batch(&self, inputs: &[T], ctx: &WriteContext) -> BatchResult<Record<T>> {
        // One key for the whole batch would make the vendor answer every input with the first
        // one's record: input `i` gets its own key, derived from the batch's.
        let key_of = |i: usize| ctx.idempotency_key.as_ref().map(|k| k.for_item(i));
        let items = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| (WriteOp::Create { key: key_of(i) }, input.to_fields()))
            .collect();
        let per_item = |i: usize| WriteContext {
            actor: ctx.actor.clone(),
            idempotency_key: key_of(i),
        };
        let written = self.write_many(Verb::Create, items, ctx, per_item).await;
        self.records(written)
    }

    async fn create_batch_keyed(
        &self,
        items: &[(IdempotencyKey, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        let writes = items
            .iter()
            .map(|(key, input)| {
                let op = WriteOp::Create {
                    key: Some(key.clone()),
                };
                (op, input.to_fields())
            })
            .collect();
        let per_item = |i: usize| WriteContext {
            actor: ctx.actor.clone(),
            idempotency_key: items.get(i).map(|(k, _)| k.clone()),
        };
        let written = self.write_many(Verb::Create, writes, ctx, per_item).await;
        self.records(written)
    }

    async fn update_batch(
        &self,
        inputs: &[(RecordId, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        let items = inputs
            .iter()
            .map(|(id, patch)| (WriteOp::Update { id: id.clone() }, patch.to_fields()))
            .collect();
        let written = self
            .write_many(Verb::Update, items, ctx, |_| ctx.clone())
            .await;
        self.records(written)
    }

    async fn upsert_batch(
        &self,
        inputs: &[(UpsertKey, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Upserted<T>> {
        let items = inputs
            .iter()
            .map(|(key, input)| (WriteOp::Upsert { key: key.clone() }, input.to_fields()))
            .collect();
        let written = self
            .write_many(Verb::Upsert, items, ctx, |_| ctx.clone())
            .await;
        written
            .into_iter()
            .map(|w| {
                w.and_then(|w| {
                    let created = w.created;
                    let record = self.shared.to_record(w.record)?;
                    Ok(Upserted { record, created })
                })
            })
            .collect()
    }

    fn list(&self, query: ListQuery) -> PageStream<T> {
        let op = Self::op(Verb::List);
        let checked = self.shared.object(T::KIND, op, |c| {
            c.list && (query.changed_since.is_none() || c.list_changed_since)
        });
        let max_page = match checked {
            Ok(object) => object.max_page_size,
            Err(e) => return futures::stream::once(async move { Err(e) }).boxed(),
        };
        let page_size = query
            .page_size
            .map(|n| n.get())
            .or(max_page)
            .unwrap_or(DEFAULT_PAGE);
        let raw = Query {
            kind: T::KIND,
            filter: QueryFilter::All,
            changed_since: query.changed_since,
            newest_first: false,
            page_size: max_page.map_or(page_size, |m| page_size.min(m)),
        };
        self.pages(raw, Paging::for_query(&query), query.resume.clone())
            .map(move |page| page.map_err(|e| stamp(e, op)))
            .boxed()
    }
}

#[async_trait]
impl<B: Backend> Contacts for Family<B, Contact> {
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Contact>>> {
        self.lookup(lookup).await
    }
}

#[async_trait]
impl<B: Backend> Accounts for Family<B, Account> {}

#[async_trait]
impl<B: Backend> Leads for Family<B, Lead> {
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Lead>>> {
        self.lookup(lookup).await
    }
}

#[async_trait]
impl<B: Backend> Opportunities for Family<B, Opportunity> {
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Opportunity>>> {
        let open = |o: &Record<Opportunity>| o.data.is_open();
        self.linked(owner, limit, Some(open), Verb::OpenFor).await
    }
}

#[async_trait]
impl<B: Backend> Tickets for Family<B, Ticket> {
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Ticket>>> {
        let open = |t: &Record<Ticket>| t.data.is_open();
        self.linked(owner, limit, Some(open), Verb::OpenFor).await
    }
}

#[async_trait]
impl<B: Backend> Activities for Family<B, Activity> {
    async fn latest_for(&self, record: &RecordRef, limit: usize) -> Result<Vec<Record<Activity>>> {
        self.linked(record, limit, None, Verb::LatestFor).await
    }
}
