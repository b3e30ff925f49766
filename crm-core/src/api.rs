//! The contract a bot backend codes against and every adapter implements.
//!
//! A backend holds an `Arc<dyn Crm>` and reaches each record family through it:
//! `crm.contacts().find_by(&lookup)`, `crm.tickets().create(&ticket, &ctx)`. The per-family traits
//! share their common operations through [`Records`]; each adds what only that family has
//! (a ticket's status, a contact's lookups, the latest activities of a record).

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::error::{Error, ErrorKind, Result};
use crate::linked::{AnyEntity, LinkedCreate, LinkedCreated, not_sent};
use crate::model::{
    Account, Activity, Contact, Email, Entity, FieldValue, Lead, ObjectKind, Opportunity, Phone,
    Record, RecordId, RecordRef, Status, Ticket, TicketState,
};
use crate::view::{CustomerView, ViewOptions};
pub use crate::write_context::{Actor, IdempotencyKey, WriteContext};

/// How to recognise a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// By email address (case-insensitive).
    Email(Email),
    /// By phone number, compared in E.164 form.
    Phone(Phone),
    /// By an id from another system (the bot's user id).
    ExternalId(String),
}

impl Lookup {
    /// What the lookup is by, for logs: `email`, `phone` or `external_id`.
    pub fn by(&self) -> &'static str {
        match self {
            Lookup::Email(_) => "email",
            Lookup::Phone(_) => "phone",
            Lookup::ExternalId(_) => "external_id",
        }
    }

    /// The common field name and the value to match, as the record machinery compares them.
    pub fn condition(&self) -> Result<Condition> {
        let value = match self {
            Lookup::Email(e) => e.expose().to_owned(),
            Lookup::Phone(p) => p
                .e164()
                .ok_or_else(|| Error::invalid_input("phone number has no E.164 form"))?
                .to_owned(),
            Lookup::ExternalId(id) if id.trim().is_empty() => {
                return Err(Error::invalid_input("external id is empty"));
            }
            Lookup::ExternalId(id) => id.clone(),
        };
        Ok(Condition::eq(self.by(), value))
    }
}

/// One equality condition on a common field.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Common field name.
    pub field: String,
    /// Value the field must equal.
    pub value: FieldValue,
}

impl Condition {
    /// `field == value`.
    pub fn eq(field: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        Self {
            field: field.into(),
            value: value.into(),
        }
    }
}

/// Conditions that must all hold (AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// The conditions.
    pub all: Vec<Condition>,
}

impl Filter {
    /// A filter of one condition.
    pub fn new(condition: Condition) -> Self {
        Self {
            all: vec![condition],
        }
    }

    /// Adds a condition.
    pub fn and(mut self, condition: Condition) -> Self {
        self.all.push(condition);
        self
    }
}

/// The key an upsert matches on.
#[derive(Debug, Clone, PartialEq)]
pub enum UpsertKey {
    /// The record's external id (`external_id` common field).
    ExternalId(String),
    /// A contact's or lead's email.
    Email(Email),
    /// The idempotency key stored in the vendor's unique field.
    Idempotency(IdempotencyKey),
}

impl UpsertKey {
    /// The common field name the key is stored in.
    pub fn field(&self) -> &'static str {
        match self {
            UpsertKey::ExternalId(_) => "external_id",
            UpsertKey::Email(_) => "email",
            UpsertKey::Idempotency(_) => "idempotency_key",
        }
    }

    /// The key's value as text.
    pub fn value(&self) -> &str {
        match self {
            UpsertKey::ExternalId(v) => v,
            UpsertKey::Email(e) => e.expose(),
            UpsertKey::Idempotency(k) => k.as_str(),
        }
    }
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted<T> {
    /// The record after the write.
    pub record: Record<T>,
    /// `true` when the record was created, `false` when an existing one was updated.
    pub created: bool,
}

/// One page of a listing, and the cursor to the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The records on this page.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page. Opaque; it can be stored and given
    /// back in [`ListQuery::resume`] to carry on later.
    pub next: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Records per page; the adapter caps it at the vendor's maximum.
    pub page_size: Option<NonZeroU32>,
    /// Only records changed at or after this instant, where the adapter supports it
    /// ([`ObjectCapabilities::list_changed_since`]).
    pub changed_since: Option<DateTime<Utc>>,
    /// Start from this cursor (a [`Page::next`] from an earlier listing).
    pub resume: Option<String>,
    /// The most pages this listing fetches; `None` is 10,000
    /// ([`crate::raw::Paging::DEFAULT_MAX_PAGES`]). Past it the stream ends with a `Decode`
    /// error after the last page, whose cursor resumes the listing. It guards a caller that
    /// collects a whole listing against a server whose cursors never end.
    pub max_pages: Option<NonZeroU32>,
}

/// A stream of pages. Pages are fetched one at a time as the stream is polled; nothing is
/// collected up front.
pub type PageStream<T> = BoxStream<'static, Result<Page<Record<T>>>>;

/// The result of each item of a batch write, in input order. One failed item does not fail its
/// neighbours; an item's error says why it was not written.
pub type BatchResult<T> = Vec<Result<T>>;

/// The operations every record family shares.
///
/// # Behavior
/// - `get` of a missing id is [`crate::ErrorKind::NotFound`].
/// - `update` changes only the fields set in `patch`; it is idempotent.
/// - `create` with [`WriteContext::idempotency_key`] set never creates a second record for the
///   same key where the adapter declares [`ObjectCapabilities::idempotent_create`].
/// - Batch operations return one result per input, in input order, and split inputs into as
///   many vendor calls as the vendor's batch limit requires.
/// - `list` returns pages lazily.
#[async_trait]
pub trait Records<T: Entity>: Send + Sync + fmt::Debug {
    /// Reads one record.
    async fn get(&self, id: &RecordId) -> Result<Record<T>>;

    /// Records matching all conditions, at most `limit` (most recently changed first where the
    /// vendor can sort). Needs [`ObjectCapabilities::find`].
    async fn find(&self, filter: &Filter, limit: usize) -> Result<Vec<Record<T>>>;

    /// Creates a record.
    async fn create(&self, input: &T, ctx: &WriteContext) -> Result<Record<T>>;

    /// Changes the fields set in `patch`.
    async fn update(&self, id: &RecordId, patch: &T, ctx: &WriteContext) -> Result<Record<T>>;

    /// Updates the record matching `key`, or creates it. Needs the key's field in
    /// [`ObjectCapabilities::upsert_keys`].
    async fn upsert(&self, key: &UpsertKey, input: &T, ctx: &WriteContext) -> Result<Upserted<T>>;

    /// Creates many records; one result per input.
    async fn create_batch(&self, inputs: &[T], ctx: &WriteContext) -> BatchResult<Record<T>>;

    /// Creates many records, each with its own idempotency key; one result per input, in input
    /// order. `ctx` gives the actor; its own `idempotency_key` is ignored.
    ///
    /// Unlike [`create_batch`](Self::create_batch), which derives every item's key from one
    /// context key and the item's position, an item keeps its key however the inputs are
    /// grouped: the durable outbox regroups queued writes into a different batch on every
    /// delivery round, and a write re-sent after a lost answer must carry the key it was first
    /// sent with, or the vendor cannot recognise it.
    ///
    /// Where the adapter declares [`ObjectCapabilities::idempotent_create`], sending the same
    /// items again (a batch whose answer was lost) creates nothing twice, and an item whose key is
    /// already taken reports the record that holds it. An adapter that cannot honour keys
    /// refuses each item with a `Config` error, as [`create`](Self::create) does.
    ///
    /// The default sends one [`create`](Self::create) per item, four at a time, for adapters
    /// without a batch endpoint; adapters with one override it.
    async fn create_batch_keyed(
        &self,
        items: &[(IdempotencyKey, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        use futures::StreamExt;
        // By position, not by reference: a closure over `&(key, input)` trips the compiler's
        // higher-ranked lifetime check inside `async_trait`.
        futures::stream::iter(0..items.len())
            .map(|i| async move {
                let Some((key, input)) = items.get(i) else {
                    return Err(Error::new(
                        crate::ErrorKind::Unexpected,
                        "no such batch item",
                    ));
                };
                let ctx = WriteContext {
                    actor: ctx.actor.clone(),
                    idempotency_key: Some(key.clone()),
                };
                self.create(input, &ctx).await
            })
            .buffered(4)
            .collect()
            .await
    }

    /// Updates many records; one result per input.
    async fn update_batch(
        &self,
        inputs: &[(RecordId, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Record<T>>;

    /// Upserts many records; one result per input.
    async fn upsert_batch(
        &self,
        inputs: &[(UpsertKey, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Upserted<T>>;

    /// Lists records page by page.
    fn list(&self, query: ListQuery) -> PageStream<T>;
}

/// Contacts: people the company talks to.
#[async_trait]
pub trait Contacts: Records<Contact> {
    /// Contacts matching a lookup (usually one; CRMs that allow duplicates may give several,
    /// most recently changed first).
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Contact>>>;
}

/// Accounts: companies.
#[async_trait]
pub trait Accounts: Records<Account> {}

/// Leads: prospects.
#[async_trait]
pub trait Leads: Records<Lead> {
    /// Leads matching a lookup.
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Lead>>>;
}

/// Opportunities: potential sales.
#[async_trait]
pub trait Opportunities: Records<Opportunity> {
    /// Open opportunities linked to a contact or account, at most `limit`.
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Opportunity>>>;
}

/// Tickets: support cases.
#[async_trait]
pub trait Tickets: Records<Ticket> {
    /// Open tickets linked to a contact or account, at most `limit`.
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Ticket>>>;

    /// A ticket's current status, with its label and whether it is still open, for reading a
    /// ticket's progress back into a conversation. By default one read of the ticket; a
    /// ticket the CRM holds without a status is a [`crate::ErrorKind::Decode`] error.
    async fn status(&self, id: &RecordId) -> Result<Status<TicketState>> {
        let ticket = self
            .get(id)
            .await
            .map_err(|e| e.with_operation("ticket.status"))?;
        ticket.data.status.ok_or_else(|| {
            crate::Error::decode("the ticket has no status").with_operation("ticket.status")
        })
    }
}

/// Activities: notes, tasks, calls and conversation logs.
#[async_trait]
pub trait Activities: Records<Activity> {
    /// The `limit` latest activities linked to a record, newest first.
    async fn latest_for(&self, record: &RecordRef, limit: usize) -> Result<Vec<Record<Activity>>>;
}

/// What one object kind supports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectCapabilities {
    /// Read by id.
    pub get: bool,
    /// Find by conditions (and lookups).
    pub find: bool,
    /// Create.
    pub create: bool,
    /// Update.
    pub update: bool,
    /// Common field names usable as upsert keys (`external_id`, `email`, `idempotency_key`).
    pub upsert_keys: Vec<String>,
    /// List page by page.
    pub list: bool,
    /// List only records changed since an instant.
    pub list_changed_since: bool,
    /// The most records one vendor batch call takes; `None` when the vendor has no batch
    /// endpoint (batches then run as concurrent single calls).
    pub max_batch: Option<usize>,
    /// Largest page the vendor serves.
    pub max_page_size: Option<u32>,
    /// A create with an idempotency key never duplicates.
    pub idempotent_create: bool,
    /// A create with an idempotency key stores the key in a field that [`Records::find`] can
    /// filter on, with the common field name `idempotency_key`, and `find` sees a create as soon
    /// as the vendor has answered it (no search-index delay). Where creates are not
    /// [`idempotent_create`](Self::idempotent_create), this lets the durable outbox resolve a
    /// create that may have reached the CRM before a crash by looking it up instead of sending
    /// it again or setting it aside for an operator. Default `false`.
    pub find_by_idempotency_key: bool,
}

impl ObjectCapabilities {
    /// Everything supported (get, find, create, update, list); no upsert keys, no batch.
    pub fn read_write() -> Self {
        Self {
            get: true,
            find: true,
            create: true,
            update: true,
            list: true,
            ..Self::default()
        }
    }
}

/// What a connection can do, declared by the adapter when it is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Per object kind; a kind not in the map is not supported at all.
    pub objects: BTreeMap<ObjectKind, ObjectCapabilities>,
    /// Contacts can be looked up by phone.
    pub lookup_by_phone: bool,
    /// Contacts can be looked up by external id.
    pub lookup_by_external_id: bool,
    /// Records can be linked after creation ([`Crm::link`]).
    pub link: bool,
}

impl Capabilities {
    /// The capabilities of one object kind, or an `Unsupported` error naming the operation.
    pub fn object(&self, kind: ObjectKind, operation: &str) -> Result<&ObjectCapabilities> {
        self.objects.get(&kind).ok_or_else(|| {
            Error::unsupported(
                operation,
                format!("this connection does not support {kind} records"),
            )
        })
    }

    /// Checks that `kind` supports an operation, before any network call.
    pub fn check(
        &self,
        kind: ObjectKind,
        operation: &str,
        supported: impl FnOnce(&ObjectCapabilities) -> bool,
    ) -> Result<()> {
        if supported(self.object(kind, operation)?) {
            Ok(())
        } else {
            Err(Error::unsupported(
                operation,
                format!("this connection cannot do `{operation}` on {kind} records"),
            ))
        }
    }
}

/// A connection to one CRM: every record family, the capabilities and the links between records.
#[async_trait]
pub trait Crm: Send + Sync + fmt::Debug {
    /// The vendor's name (`generic-rest`, `hubspot`, `salesforce`).
    fn vendor(&self) -> &str;

    /// What this connection supports.
    fn capabilities(&self) -> &Capabilities;

    /// Contacts.
    fn contacts(&self) -> &dyn Contacts;
    /// Accounts.
    fn accounts(&self) -> &dyn Accounts;
    /// Leads.
    fn leads(&self) -> &dyn Leads;
    /// Opportunities.
    fn opportunities(&self) -> &dyn Opportunities;
    /// Tickets.
    fn tickets(&self) -> &dyn Tickets;
    /// Activities.
    fn activities(&self) -> &dyn Activities;

    /// Links two existing records (a ticket to a contact, an activity to a ticket). Needs
    /// [`Capabilities::link`].
    async fn link(&self, from: &RecordRef, to: &RecordRef, ctx: &WriteContext) -> Result<()>;

    /// Creates `parent` and then `children`, each linked to the parent's new record (an
    /// activity's `what` or `who`, a ticket's `contact_id`...; see
    /// [`crate::linked::AnyEntity::link_to`]), in this one call: a bot that writes a ticket and
    /// the note on it in one conversation need not wait for the ticket's id. Each write has its
    /// own context (actor and idempotency key) and its own result.
    ///
    /// The default ([`create_in_order`]) creates the parent, then the children
    /// with its id (children of one kind together through the batch path). An adapter whose
    /// vendor can reference a record created earlier in the same request sends the group as one
    /// request: Salesforce, one all-or-none Composite request (a failed write rolls the others
    /// back; each reports its own error). A child not written because its parent was not
    /// carries [`crate::linked::not_sent`]'s error.
    async fn create_linked(
        &self,
        parent: &crate::linked::LinkedCreate,
        children: &[crate::linked::LinkedCreate],
    ) -> crate::linked::LinkedCreated {
        create_in_order(self, parent, children).await
    }

    /// The 360° view of a customer, or `None` when no contact matches. The default composes it
    /// from the record families with concurrent calls ([`CustomerView::load`]); an adapter
    /// overrides it where the vendor has a cheaper path.
    async fn customer_view(
        &self,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<CustomerView>> {
        CustomerView::load(self, lookup, options).await
    }
}

// The view loads through the traits defined here: `view.rs` holds only the data, so the two
// modules do not import each other.
impl CustomerView {
    /// Loads the view through the record families: one lookup, then the account, open
    /// opportunities, open tickets and latest activities concurrently.
    ///
    /// Returns `Ok(None)` when no contact matches. When several match, the first (the adapter
    /// orders them most recently changed first) is used and the others are listed in
    /// [`CustomerView::other_matches`]. An account id that no longer resolves gives no account
    /// rather than an error; any other failure fails the load.
    pub async fn load<C: Crm + ?Sized>(
        crm: &C,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<Self>> {
        let mut matches = crm.contacts().find_by(lookup).await?.into_iter();
        let Some(contact) = matches.next() else {
            return Ok(None);
        };
        let other_matches = matches.map(|r| r.id).collect();
        let me = contact.to_ref();

        let account = async {
            match &contact.account_id {
                None => Ok(None),
                Some(id) => match crm.accounts().get(id).await {
                    Ok(account) => Ok(Some(account)),
                    Err(e) if e.kind() == &crate::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                },
            }
        };
        let opportunities = async {
            if options.opportunities == 0 {
                return Ok(Vec::new());
            }
            crm.opportunities()
                .open_for(&me, options.opportunities)
                .await
        };
        let tickets = async {
            if options.tickets == 0 {
                return Ok(Vec::new());
            }
            crm.tickets().open_for(&me, options.tickets).await
        };
        let activities = async {
            if options.activities == 0 {
                return Ok(Vec::new());
            }
            crm.activities().latest_for(&me, options.activities).await
        };
        let (account, open_opportunities, open_tickets, recent_activities) =
            futures::try_join!(account, opportunities, tickets, activities)?;

        Ok(Some(Self {
            contact,
            other_matches,
            account,
            open_opportunities,
            open_tickets,
            recent_activities,
        }))
    }
}

// The in-order default of `Crm::create_linked` writes through the traits defined here, so it
// lives here: `linked.rs` holds only the data, and the two modules do not import each other.

/// Creates `entity` through the family of its kind.
async fn create_any<C: Crm + ?Sized>(
    crm: &C,
    entity: &AnyEntity,
    ctx: &WriteContext,
) -> Result<RecordId> {
    match entity {
        AnyEntity::Contact(e) => crm.contacts().create(e, ctx).await.map(|r| r.id),
        AnyEntity::Account(e) => crm.accounts().create(e, ctx).await.map(|r| r.id),
        AnyEntity::Lead(e) => crm.leads().create(e, ctx).await.map(|r| r.id),
        AnyEntity::Opportunity(e) => crm.opportunities().create(e, ctx).await.map(|r| r.id),
        AnyEntity::Ticket(e) => crm.tickets().create(e, ctx).await.map(|r| r.id),
        AnyEntity::Activity(e) => crm.activities().create(e, ctx).await.map(|r| r.id),
    }
}

/// Creates many records of one kind with their own keys ([`crate::Records::create_batch_keyed`])
/// or, unkeyed, in one batch ([`crate::Records::create_batch`]); one result per input.
async fn create_many<C: Crm + ?Sized>(
    crm: &C,
    kind: ObjectKind,
    items: &[&LinkedCreate],
    actor: &Actor,
    keyed: bool,
) -> Vec<Result<RecordId>> {
    macro_rules! batch {
        ($family:ident, $variant:ident) => {{
            let inputs: Vec<(Option<IdempotencyKey>, _)> = items
                .iter()
                .filter_map(|c| match &c.entity {
                    AnyEntity::$variant(e) => Some((c.ctx.idempotency_key.clone(), e.clone())),
                    _ => None,
                })
                .collect();
            let ctx = WriteContext::new(actor.clone());
            let records = if keyed {
                let keyed: Vec<_> = inputs
                    .into_iter()
                    .filter_map(|(k, e)| Some((k?, e)))
                    .collect();
                crm.$family().create_batch_keyed(&keyed, &ctx).await
            } else {
                let plain: Vec<_> = inputs.into_iter().map(|(_, e)| e).collect();
                crm.$family().create_batch(&plain, &ctx).await
            };
            records.into_iter().map(|r| r.map(|r| r.id)).collect()
        }};
    }
    let results: Vec<Result<RecordId>> = match kind {
        ObjectKind::Contact => batch!(contacts, Contact),
        ObjectKind::Account => batch!(accounts, Account),
        ObjectKind::Lead => batch!(leads, Lead),
        ObjectKind::Opportunity => batch!(opportunities, Opportunity),
        ObjectKind::Ticket => batch!(tickets, Ticket),
        ObjectKind::Activity => batch!(activities, Activity),
    };
    results
}

/// Children sent together: their kind, actor, whether they carry keys, and each one linked,
/// with its input position.
type ChildGroup = (ObjectKind, Actor, bool, Vec<(usize, LinkedCreate)>);

/// The default of [`Crm::create_linked`]: creates the parent, then, with its id, the children,
/// all in this one call. Children of one kind, actor and keying go out together through the
/// family's batch path where the kind has a batch endpoint
/// ([`crate::ObjectCapabilities::max_batch`]), else one create each, four at a time. A child that cannot be
/// linked to the parent's kind fails alone (`InvalidInput`) and is not sent; when the parent
/// fails, no child is sent and each gets [`not_sent`].
pub async fn create_in_order<C: Crm + ?Sized>(
    crm: &C,
    parent: &LinkedCreate,
    children: &[LinkedCreate],
) -> LinkedCreated {
    let parent_kind = parent.entity.kind();
    let parent_result = create_any(crm, &parent.entity, &parent.ctx).await;
    let parent_id = match &parent_result {
        Ok(id) => id.clone(),
        Err(e) => {
            let children = children
                .iter()
                .map(|_| Err(not_sent(parent_kind, e)))
                .collect();
            return LinkedCreated {
                parent: parent_result,
                children,
            };
        }
    };
    let parent_ref = RecordRef::new(parent_kind, parent_id);
    let mut results: Vec<Option<Result<RecordId>>> = children.iter().map(|_| None).collect();
    // (kind, actor, keyed, the linked children with their input positions), in input order.
    let mut groups: Vec<ChildGroup> = Vec::new();
    for (i, child) in children.iter().enumerate() {
        let mut linked = child.clone();
        match linked.entity.link_to(&parent_ref) {
            Ok(()) => {
                let kind = linked.entity.kind();
                let keyed = child.ctx.idempotency_key.is_some();
                let actor = &child.ctx.actor;
                match groups
                    .iter_mut()
                    .find(|(k, a, with_key, _)| *k == kind && a == actor && *with_key == keyed)
                {
                    Some((_, _, _, items)) => items.push((i, linked)),
                    None => groups.push((kind, actor.clone(), keyed, vec![(i, linked)])),
                }
            }
            Err(e) => {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(Err(e));
                }
            }
        }
    }
    // A kind without a batch endpoint: one create per child.
    let batches = |kind: ObjectKind| {
        crm.capabilities()
            .objects
            .get(&kind)
            .and_then(|c| c.max_batch)
            .is_some_and(|n| n > 1)
    };
    let mut units = Vec::with_capacity(groups.len());
    for (kind, actor, keyed, items) in groups {
        if batches(kind) {
            units.push((kind, actor, keyed, items));
        } else {
            units.extend(
                items
                    .into_iter()
                    .map(|item| (kind, actor.clone(), keyed, vec![item])),
            );
        }
    }
    let sends = units
        .into_iter()
        .map(|(kind, actor, keyed, items)| async move {
            let answers = if let [(_, one)] = items.as_slice() {
                vec![create_any(crm, &one.entity, &one.ctx).await]
            } else {
                let refs: Vec<&LinkedCreate> = items.iter().map(|(_, c)| c).collect();
                create_many(crm, kind, &refs, &actor, keyed).await
            };
            let slots: Vec<usize> = items.iter().map(|(i, _)| *i).collect();
            (slots, answers)
        });
    let answered: Vec<(Vec<usize>, Vec<Result<RecordId>>)> =
        futures::stream::iter(sends).buffered(4).collect().await;
    for (slots, answers) in answered {
        let mut answers = answers.into_iter();
        for slot in slots {
            let answer = answers.next().unwrap_or_else(|| {
                Err(Error::new(
                    ErrorKind::Unexpected,
                    "the adapter returned no result for this write",
                ))
            });
            if let Some(r) = results.get_mut(slot) {
                *r = Some(answer);
            }
        }
    }
    LinkedCreated {
        parent: parent_result,
        children: results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "write lost"))))
            .collect(),
    }
}
