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
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{
    Account, Activity, Contact, Email, Entity, FieldValue, Lead, ObjectKind, Opportunity, Phone,
    Record, RecordId, RecordRef, Status, Ticket, TicketState,
};
use crate::view::{CustomerView, ViewOptions};

/// Who a write is done for. Goes into the audit trail; never a personal value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// The bot itself.
    #[default]
    Bot,
    /// A human agent, by the desk's agent id.
    Agent(String),
    /// Another system or job, by name.
    System(String),
}

/// A key that makes a create safe to retry: the adapter stores it in a unique field (or sends it
/// as an `Idempotency-Key` header) so that a second attempt finds the first record instead of
/// creating another.
///
/// 1–100 characters from `A-Z a-z 0-9 . _ : -`, so it fits any vendor's unique text field.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks and wraps a caller-given key.
    pub fn new(key: impl Into<String>) -> Result<Self> {
        let key = key.into();
        let ok = (1..=100).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(Self(key))
        } else {
            Err(Error::invalid_input(
                "idempotency key must be 1-100 characters of A-Z a-z 0-9 . _ : -",
            ))
        }
    }

    /// Derives a key from the connection, the conversation and the intent
    /// (`"lead"`, `"ticket:1"`): the same three always give the same key, so a bot that replays a
    /// conversation after a crash writes nothing twice.
    pub fn derive(connection: &str, conversation: &str, intent: &str) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for part in [connection, conversation, intent] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Self(format!("cc1-{hex}"))
    }

    /// The key of item `index` of a batch created under this one key: `<key>.<index>`, or a
    /// key derived from both when that would be longer than a key may be. The one rule every
    /// adapter uses, so a batch replayed through any of them finds the items it created.
    pub fn for_item(&self, index: usize) -> Self {
        Self::new(format!("{}.{index}", self.0))
            .unwrap_or_else(|_| Self::derive(&self.0, &index.to_string(), "batch"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

impl From<IdempotencyKey> for String {
    fn from(value: IdempotencyKey) -> Self {
        value.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({})", self.0)
    }
}

/// Context every write carries: who it is for and, for creates, the idempotency key.
#[derive(Debug, Clone, Default)]
pub struct WriteContext {
    /// Who the write is done for.
    pub actor: Actor,
    /// Makes a create safe to retry. Ignored by updates, which are idempotent already.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl WriteContext {
    /// A write by `actor` without an idempotency key.
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            idempotency_key: None,
        }
    }

    /// Sets the idempotency key.
    pub fn with_idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

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
    /// The default ([`crate::linked::create_in_order`]) creates the parent, then the children
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
        crate::linked::create_in_order(self, parent, children).await
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
