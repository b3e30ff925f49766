//! The durable outbox: conversation writes are stored before the call returns and delivered by
//! a worker, so that nothing is lost when the CRM is down or the bot restarts, and nothing is
//! written twice.
//!
//! # How it never loses and never duplicates
//! - [`Outbox::enqueue`] commits the write to a SQLite file (WAL, `synchronous = FULL`) before it
//!   returns. Enqueueing the same idempotency key twice stores it once. When it cannot (a full
//!   disk), it returns a `Storage` error saying the write was not stored, so the caller falls back.
//! - [`Outbox::deliver`] claims due writes under a lease, sends each through the connection with
//!   its idempotency key — creates in the vendor's batches ([`crate::Records::create_batch_keyed`],
//!   each item with its own stored key), the rest one by one — and records each write's
//!   outcome: `delivered { record_id }`, back to `pending`
//!   with a backoff for transient errors (or for the vendor's `Retry-After`, however long, without
//!   holding the worker), or `failed { error }` for permanent ones (kept for an operator,
//!   re-drivable with [`Outbox::redrive`]). A corrupt row is failed with the reason; the other
//!   writes are delivered.
//! - Claiming a write counts the attempt and marks it *in doubt*, committed to the file before
//!   the request leaves; only an answer that proves the CRM did not carry it out (a rate limit,
//!   a connection never made) clears the mark. If the process dies while the request is out, the
//!   lease expires and the write is claimed again, still in doubt:
//!   - an adapter with [`crate::ObjectCapabilities::idempotent_create`] gets the create again
//!     *with the same key* and returns the first record;
//!   - otherwise, an adapter with [`crate::ObjectCapabilities::find_by_idempotency_key`] looks
//!     the create up by its key first: found once, the write is delivered with that record; not
//!     found, it is sent; found several times, it is parked;
//!   - otherwise the create is **parked** ([`WriteStatus::Parked`]), never sent blindly: listed by
//!     [`Outbox::parked`], it waits for an operator to check the CRM and either
//!     [`Outbox::resolve`] it with the record they found or [`Outbox::redrive`] it.
//!
//!   A create that fails in a way that may have reached the CRM (a timeout, a 5xx, an answer that
//!   cannot be read) on such a connection is parked at once for the same reason.
//!
//! # Writes that follow another
//! A write built with [`PendingWrite::depends_on`] (a note on a ticket created in the same
//! conversation) is never sent before the write it depends on is created; it is then linked to
//! that write's record (an activity's `what` or `who`, a ticket's `contact_id`...), and the link
//! is stored with it. If the write it depends on fails for good, it fails too, with a reason
//! naming that write; retrying the parent ([`Outbox::retry`]) re-queues it.
//!
//! It need not wait for another round: a create that goes out on its own in a round (not in a
//! vendor batch with others) takes the due creates that depend on it along, through
//! [`Crm::create_linked`] — one request where the vendor can refer to the parent's new record
//! (Salesforce Composite), else the parent and then, with its id, the children. Each keeps its
//! own key and gets its own outcome; a child the vendor did not keep because its parent was not
//! created goes back to waiting, its attempt not counted. A create in doubt on a connection that
//! cannot make creates idempotent is never sent in a group (it is looked up or parked first).
//! Batched creates leave their dependents to the next round's batches (fewer requests than a
//! group per create), and a chain advances one link per round.
//!
//! # Operating it
//! [`Outbox::overview`] counts each connection's writes, [`Outbox::list`] lists them with their
//! payloads masked ([`mask_payload`]), [`Outbox::retry`] and [`Outbox::retry_all_failed`] send
//! failed writes again. The file holds personal data at rest (the payloads); keep it on an
//! encrypted volume with owner-only permissions. A per-connection kill switch
//! ([`Outbox::pause`]), stored in the file so that every worker process sharing it obeys it,
//! stops delivery while writes keep queueing.

mod deliver;
mod mask;
mod operate;
mod store;
#[cfg(test)]
mod tests;

use futures::StreamExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::api::{
    Actor, Condition, Crm, Filter, IdempotencyKey, ObjectCapabilities, Records, UpsertKey,
    WriteContext,
};
use crate::error::{Error, ErrorKind, Result};
use crate::linked::{AnyEntity, LinkedCreate};
use crate::model::{
    Account, Activity, Contact, Email, Entity, Lead, ObjectKind, Opportunity, RecordId, Ticket,
};

pub use mask::mask_payload;
pub use store::WriteId;

/// What a stored write does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum WriteOp {
    /// Create a record.
    Create,
    /// Update the record with this id.
    Update {
        /// The record.
        id: RecordId,
    },
    /// Upsert on a key.
    Upsert {
        /// The key's common field (`external_id`, `email`, `idempotency_key`).
        field: String,
        /// The key's value.
        value: String,
    },
}

/// A write waiting to be stored in the outbox.
#[derive(Debug, Clone)]
pub struct PendingWrite {
    kind: ObjectKind,
    op: WriteOp,
    payload: serde_json::Value,
    key: IdempotencyKey,
    actor: Actor,
    depends_on: Option<WriteId>,
}

impl PendingWrite {
    fn new<T: Entity>(op: WriteOp, entity: &T, key: IdempotencyKey, actor: Actor) -> Result<Self> {
        let payload = serde_json::to_value(entity)
            .map_err(|e| Error::invalid_input(format!("cannot serialise the {}: {e}", T::KIND)))?;
        Ok(Self {
            kind: T::KIND,
            op,
            payload,
            key,
            actor,
            depends_on: None,
        })
    }

    /// Makes this write wait for write `parent` (stored earlier on the same connection): it is
    /// not sent until `parent` is delivered, and is then linked to `parent`'s record: an
    /// activity's `what` (a ticket, opportunity or account) or `who` (a contact or lead), a
    /// ticket's or opportunity's `contact_id` / `account_id`, a contact's `account_id`, a
    /// lead's `contact_id`. [`Outbox::enqueue`] refuses a parent whose kind cannot be linked.
    ///
    /// A bot needs this when it writes a ticket and a note on it in one conversation: the
    /// ticket's record id exists only once the ticket is delivered.
    #[must_use]
    pub fn depends_on(mut self, parent: WriteId) -> Self {
        self.depends_on = Some(parent);
        self
    }

    /// A create of `entity`.
    pub fn create<T: Entity>(entity: &T, key: IdempotencyKey, actor: Actor) -> Result<Self> {
        Self::new(WriteOp::Create, entity, key, actor)
    }

    /// An update of record `id` with the fields set in `patch`.
    pub fn update<T: Entity>(
        id: RecordId,
        patch: &T,
        key: IdempotencyKey,
        actor: Actor,
    ) -> Result<Self> {
        Self::new(WriteOp::Update { id }, patch, key, actor)
    }

    /// An upsert of `entity` on `upsert_key`.
    pub fn upsert<T: Entity>(
        upsert_key: &UpsertKey,
        entity: &T,
        key: IdempotencyKey,
        actor: Actor,
    ) -> Result<Self> {
        let op = WriteOp::Upsert {
            field: upsert_key.field().to_owned(),
            value: upsert_key.value().to_owned(),
        };
        Self::new(op, entity, key, actor)
    }
}

/// Where a stored write stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WriteStatus {
    /// Waiting for (another) delivery attempt, or being delivered.
    Pending {
        /// Attempts started so far (each is counted when it is claimed, before it is sent).
        attempts: u32,
        /// The last transient error, if an attempt failed.
        last_error: Option<String>,
        /// When the next attempt is due; `None` while a worker holds the write.
        next_attempt_at: Option<SystemTime>,
    },
    /// Delivered; the CRM's record id.
    Delivered {
        /// The record written.
        record_id: RecordId,
    },
    /// Failed permanently; kept for an operator.
    Failed {
        /// Why.
        error: String,
    },
    /// A create that may already have reached the CRM, on a connection that can neither make
    /// creates idempotent nor look one up by its key: set aside so that it is not created twice.
    /// An operator checks the CRM, then calls [`Outbox::resolve`] with the record they found, or
    /// [`Outbox::redrive`] when there is none.
    Parked {
        /// Why it was set aside.
        reason: String,
    },
}

/// A parked write, as [`Outbox::parked`] lists it for an operator. Carries no payload (personal
/// data); the idempotency key and the kind are what to search the CRM for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedWrite {
    /// The write.
    pub id: WriteId,
    /// What it creates; `None` if the stored kind is unreadable.
    pub kind: Option<ObjectKind>,
    /// Its idempotency key; `None` if the stored key is unreadable.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Why it was parked.
    pub reason: String,
    /// Attempts started.
    pub attempts: u32,
}

/// What one [`Outbox::deliver`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Writes delivered.
    pub delivered: usize,
    /// Writes that failed transiently and will be retried.
    pub retried: usize,
    /// Writes that failed permanently, including the writes that depended on them (failed
    /// with them, never sent).
    pub failed: usize,
    /// Creates that may have reached the CRM, set aside for an operator.
    pub parked: usize,
}

/// Queue depth of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// Writes pending or being delivered.
    pub pending: usize,
    /// Writes failed permanently.
    pub failed: usize,
    /// Creates parked for an operator ([`WriteStatus::Parked`]).
    pub parked: usize,
    /// Age of the oldest pending write.
    pub oldest_pending: Option<Duration>,
}

/// One connection's writes, as [`Outbox::overview`] counts them for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// The connection's name, as the writes were enqueued under.
    pub connection: String,
    /// Writes waiting to be claimed (including those in a backoff, and those in `waiting`).
    pub pending: usize,
    /// Of `pending`, writes waiting for the write they depend on to be delivered.
    pub waiting: usize,
    /// Writes claimed by a worker (a request may be out); after a crash, until the lease ends.
    pub in_flight: usize,
    /// Writes failed permanently.
    pub failed: usize,
    /// Creates parked for an operator ([`WriteStatus::Parked`]).
    pub parked: usize,
    /// Writes delivered (kept as the record of what was written).
    pub delivered: usize,
    /// Age of the oldest pending or in-flight write.
    pub oldest_pending: Option<Duration>,
    /// Whether delivery is paused ([`Outbox::pause`]).
    pub paused: bool,
    /// Since when, if paused.
    pub paused_since: Option<SystemTime>,
}

/// Which writes [`Outbox::list`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListState {
    /// Pending and in-flight writes.
    Pending,
    /// Writes failed permanently.
    Failed,
    /// Parked creates.
    Parked,
    /// Delivered writes.
    Delivered,
}

impl std::str::FromStr for ListState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(Self::Pending),
            "failed" => Ok(Self::Failed),
            "parked" => Ok(Self::Parked),
            "delivered" => Ok(Self::Delivered),
            _ => Err(Error::invalid_input(
                "state must be one of pending, failed, parked, delivered",
            )),
        }
    }
}

/// A stored write as [`Outbox::list`] shows it to an operator: everything but personal data.
/// The payload keeps its field names; personal values are masked ([`mask_payload`]), and the
/// error text goes through [`crate::redact::redact`].
#[derive(Debug, Clone, PartialEq)]
pub struct ListedWrite {
    /// The write.
    pub id: WriteId,
    /// Its connection.
    pub connection: String,
    /// What it writes; `None` if the stored kind is unreadable.
    pub kind: Option<ObjectKind>,
    /// `create`, `update` or `upsert`; `None` if unreadable.
    pub operation: Option<String>,
    /// The record an update targets (an id), or an upsert's key field and masked value.
    pub target: Option<String>,
    /// Its idempotency key (what to search the CRM for).
    pub idempotency_key: Option<String>,
    /// `pending`, `in_flight`, `failed`, `parked` or `delivered`.
    pub state: String,
    /// Attempts started.
    pub attempts: u32,
    /// The last error, the failure or the reason it was parked, redacted.
    pub error: Option<String>,
    /// The write it waits for, if any.
    pub depends_on: Option<WriteId>,
    /// When it was stored.
    pub created_at: Option<SystemTime>,
    /// When it is next due (pending writes).
    pub next_attempt_at: Option<SystemTime>,
    /// The record written (delivered writes).
    pub record_id: Option<String>,
    /// The payload with its field names and masked values; `null` if unreadable.
    pub payload: serde_json::Value,
}

/// A row as the store reads it for a listing, before masking.
#[derive(Debug)]
struct StoredWrite {
    id: WriteId,
    connection: String,
    kind: Option<String>,
    operation: Option<String>,
    payload: Option<String>,
    idempotency_key: Option<String>,
    state: String,
    attempts: i64,
    error: Option<String>,
    depends_on: Option<WriteId>,
    created_at: Option<SystemTime>,
    next_attempt_at: Option<SystemTime>,
    record_id: Option<String>,
}

/// Masks a stored row for a listing.
fn listed(w: StoredWrite) -> ListedWrite {
    let op: Option<WriteOp> = w
        .operation
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok());
    let (operation, target) = match op {
        None => (None, None),
        Some(WriteOp::Create) => (Some("create".to_owned()), None),
        Some(WriteOp::Update { id }) => (Some("update".to_owned()), Some(id.as_str().to_owned())),
        Some(WriteOp::Upsert { field, value }) => {
            let shown = mask::mask_value(&field, &value);
            (Some("upsert".to_owned()), Some(format!("{field}={shown}")))
        }
    };
    let payload = w
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .map_or(serde_json::Value::Null, |p| mask_payload(&p));
    ListedWrite {
        id: w.id,
        connection: w.connection,
        kind: w.kind.and_then(|k| k.parse().ok()),
        operation,
        target,
        idempotency_key: w.idempotency_key,
        state: w.state,
        attempts: u32::try_from(w.attempts.max(0)).unwrap_or(u32::MAX),
        error: w.error.as_deref().map(crate::redact::redact),
        depends_on: w.depends_on,
        created_at: w.created_at,
        next_attempt_at: w.next_attempt_at,
        record_id: w.record_id,
        payload,
    }
}

use crate::linked::link_slot;

/// Links a `child` payload to the `parent` record `id`: sets the field [`link_slot`] names
/// (an activity's `who`/`what` as a record reference, other kinds' `*_id` as the id). The
/// reason, when it cannot, names no value.
fn link_into(
    child: ObjectKind,
    payload: &mut serde_json::Value,
    parent: ObjectKind,
    id: &RecordId,
) -> std::result::Result<(), String> {
    let slot = link_slot(child, parent)
        .ok_or_else(|| format!("a {child} cannot be linked to a {parent}"))?;
    let value = if child == ObjectKind::Activity {
        serde_json::to_value(crate::model::RecordRef::new(parent, id.clone()))
            .map_err(|e| format!("cannot write the link: {e}"))?
    } else {
        serde_json::Value::String(id.as_str().to_owned())
    };
    let object = payload
        .as_object_mut()
        .ok_or_else(|| "the payload is not an object".to_owned())?;
    object.insert(slot.to_owned(), value);
    Ok(())
}

/// Tuning of delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxConfig {
    /// How long a claimed write is reserved for one worker; after that a crashed worker's writes
    /// are claimed again. Default 60 s.
    pub lease: Duration,
    /// Backoff after the first transient failure; doubles per attempt. Default 1 s.
    pub base_backoff: Duration,
    /// Largest backoff. Default 5 minutes.
    pub max_backoff: Duration,
    /// Transient failures after which a write is marked failed. Default 50.
    pub max_attempts: u32,
    /// A cap on the file's size; a write that would exceed it is refused with a `Storage` error
    /// (as on a full disk) instead of growing the file. Default: no cap.
    pub max_size_bytes: Option<u64>,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_attempts: 50,
            max_size_bytes: None,
        }
    }
}

/// The durable outbox. Share one per file (`Arc<Outbox>`); SQLite serialises the writers.
#[derive(Debug)]
pub struct Outbox {
    db: Mutex<rusqlite::Connection>,
    config: OutboxConfig,
}

impl Outbox {
    /// Opens (creating if needed) the outbox file at `path`.
    pub fn open(path: impl AsRef<Path>, config: OutboxConfig) -> Result<Self> {
        let db = store::open(path.as_ref(), config.max_size_bytes)?;
        Ok(Self {
            db: Mutex::new(db),
            config,
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores a write for `connection` and returns its id once it is on disk. The same
    /// idempotency key on the same connection returns the id of the write already stored.
    ///
    /// A write built with [`PendingWrite::depends_on`] is refused (`InvalidInput`, nothing
    /// stored) when the parent does not exist, belongs to another connection, or is of a kind it
    /// cannot be linked to; it is stored already failed, naming the parent, when the parent has
    /// failed.
    pub fn enqueue(&self, connection: &str, write: &PendingWrite) -> Result<WriteId> {
        store::enqueue(&self.db(), connection, write)
    }

    /// Where a write stands.
    pub fn status(&self, id: WriteId) -> Result<WriteStatus> {
        store::status(&self.db(), id)
    }

    /// Every connection with stored writes or a kill switch set, by name, with its counts:
    /// what `crm-connect outbox status` prints.
    pub fn overview(&self) -> Result<Vec<ConnectionStatus>> {
        operate::overview(&self.db())
    }

    /// Up to `limit` writes in `state` (of `connection`, or of every connection), oldest first,
    /// with masked payloads: safe to print for an operator.
    pub fn list(
        &self,
        state: ListState,
        connection: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ListedWrite>> {
        operate::list(&self.db(), state, connection, limit)
    }

    /// Puts a failed write back in the queue, after an operator fixed its cause. Unlike
    /// [`Outbox::redrive`] it keeps the usual care: a create that may already have reached the
    /// CRM is still looked up or parked rather than sent blindly. The writes that were failed
    /// only because this one failed (they depend on it) are re-queued with it. Returns how many
    /// writes were re-queued.
    ///
    /// `NotFound` for an unknown id; `InvalidInput` for a write that is not failed (a parked
    /// one needs [`Outbox::resolve`] or [`Outbox::redrive`]), or whose parent failed.
    pub fn retry(&self, id: WriteId) -> Result<usize> {
        operate::retry(&self.db(), id)
    }

    /// [`Outbox::retry`] for every failed write of `connection` (`None`: of every connection).
    /// Returns how many writes were re-queued.
    pub fn retry_all_failed(&self, connection: Option<&str>) -> Result<usize> {
        operate::retry_all_failed(&self.db(), connection)
    }

    /// When the next write of `connection` can be claimed (a backoff ends, a `Retry-After`
    /// passes, another worker's lease runs out); `None` when nothing is due or can become due
    /// by waiting. A loop that drains the outbox sleeps until then.
    pub fn next_due(&self, connection: &str) -> Result<Option<SystemTime>> {
        operate::next_due(&self.db(), connection)
    }

    /// Stops delivery for `connection`; writes keep queueing.
    pub fn pause(&self, connection: &str) -> Result<()> {
        operate::set_paused(&self.db(), connection, true)
    }

    /// Resumes delivery for `connection`.
    pub fn resume(&self, connection: &str) -> Result<()> {
        operate::set_paused(&self.db(), connection, false)
    }

    /// Whether delivery is paused for `connection`.
    pub fn is_paused(&self, connection: &str) -> Result<bool> {
        operate::is_paused(&self.db(), connection)
    }

    /// Puts a failed or parked write back in the queue, to be sent again: after an operator
    /// fixed a failed write's cause, or checked that a parked create is not in the CRM. The
    /// write is no longer in doubt, so a create is sent even on a connection that cannot make
    /// it idempotent.
    ///
    /// The writes that were failed only because this one failed are re-queued with it; a write
    /// whose parent failed cannot be redriven alone.
    pub fn redrive(&self, id: WriteId) -> Result<()> {
        operate::redrive(&self.db(), id).map(|_| ())
    }

    /// Records that a parked (or failed) write did reach the CRM as `record_id`, which an
    /// operator found there: the write becomes delivered and is never sent again, and the
    /// writes that depend on it go on.
    pub fn resolve(&self, id: WriteId, record_id: &RecordId) -> Result<()> {
        operate::resolve(&self.db(), id, record_id)
    }

    /// The parked writes of `connection`, oldest first: creates that may have reached the CRM
    /// and wait for an operator ([`Outbox::resolve`] or [`Outbox::redrive`]).
    pub fn parked(&self, connection: &str) -> Result<Vec<ParkedWrite>> {
        store::parked(&self.db(), connection)
    }

    /// Pending, failed and parked counts and the oldest pending write's age.
    pub fn depth(&self, connection: &str) -> Result<Depth> {
        operate::depth(&self.db(), connection)
    }

    /// Delivers up to `max` due writes of `connection` through `crm` and records each outcome.
    /// Does nothing while the connection is paused.
    ///
    /// Creates of one object kind (and one actor) go out in the vendor's batches, up to the
    /// adapter's [`ObjectCapabilities::max_batch`] per request, through
    /// [`Records::create_batch_keyed`] with each write's own stored key; the per-item results
    /// are recorded on each write. Updates, upserts, creates on adapters without a batch
    /// endpoint, and creates in doubt on connections that cannot make creates idempotent go one
    /// by one. A create that goes out alone takes the due writes that depend on it along
    /// ([`Crm::create_linked`]; see the module docs), within the same `max`. Four requests are
    /// in flight at a time. Pass a `max` of at least the batch size
    /// (200 on Salesforce, 100 on HubSpot) to fill whole batches.
    pub async fn deliver(
        &self,
        connection: &str,
        crm: &dyn Crm,
        max: usize,
    ) -> Result<DeliveryReport> {
        if self.is_paused(connection)? {
            return Ok(DeliveryReport::default());
        }
        let claimed = store::claim(&self.db(), connection, max, self.config.lease)?;
        let mut room = max.saturating_sub(claimed.len());
        let mut report = DeliveryReport::default();
        let mut units = plan(crm, claimed);
        // A create that goes out alone takes the writes that depend on it along, so that they
        // need not wait for another round.
        for unit in &mut units {
            let Some(parent) = unit.lone_create(crm) else {
                continue;
            };
            let parent_kind = parent.kind;
            let keep = |row: &store::Row| {
                groupable(crm, row) && link_slot(row.kind, parent_kind).is_some()
            };
            let children =
                store::claim_dependents(&self.db(), parent.id, room, self.config.lease, keep)?;
            if children.is_empty() {
                continue;
            }
            room = room.saturating_sub(children.len());
            let lone = std::mem::replace(unit, Unit::Creates(Vec::new()));
            let parent = match lone {
                Unit::One(row) => Some(row),
                Unit::Creates(rows) => rows.into_iter().next(),
                Unit::Linked { parent, .. } => Some(parent),
            };
            if let Some(parent) = parent {
                *unit = Unit::Linked { parent, children };
            }
        }
        let outcomes = futures::stream::iter(units.into_iter().map(|unit| deliver_unit(crm, unit)))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        {
            // One transaction for the round's outcomes: one sync instead of one per write. If it
            // fails, the writes stay leased and in doubt, and are resolved as after a crash.
            let db = self.db();
            let tx = db
                .unchecked_transaction()
                .map_err(|e| store::storage_error("record the deliveries", None, "", e))?;
            for (row, outcome) in outcomes.into_iter().flatten() {
                self.record(&tx, &row, outcome, &mut report)?;
            }
            tx.commit()
                .map_err(|e| store::storage_error("record the deliveries", None, "", e))?;
        }
        let depth = self.depth(connection)?;
        // The "failed" gauge counts every write waiting for an operator, parked ones included,
        // so that an alert on it sees them.
        crate::telemetry::outbox_depth(
            connection,
            depth.pending,
            depth.failed.saturating_add(depth.parked),
            depth.oldest_pending,
        );
        if report != DeliveryReport::default() {
            tracing::debug!(
                connection,
                delivered = report.delivered,
                retried = report.retried,
                failed = report.failed,
                parked = report.parked,
                "outbox delivery"
            );
        }
        Ok(report)
    }

    /// Records one write's outcome and counts it in `report`.
    fn record(
        &self,
        db: &rusqlite::Connection,
        row: &store::Row,
        outcome: Outcome,
        report: &mut DeliveryReport,
    ) -> Result<()> {
        match outcome {
            Outcome::Delivered(record_id) => {
                if row.linked {
                    store::store_payload(db, row.id, &row.payload)?;
                }
                store::mark_delivered(db, row.id, &record_id)?;
                report.delivered += 1;
            }
            Outcome::NotSent { parent } => {
                // Back as before the claim, not counted; if the parent has failed for good
                // (recorded just before), it fails with it, as a write waiting for it would.
                store::mark_unsent(db, row)?;
                if store::is_failed(db, parent)? {
                    report.failed += store::fail_dependents(db, parent)?;
                }
            }
            Outcome::Parked(reason) => {
                tracing::warn!(
                    write = row.id,
                    kind = %row.kind,
                    "outbox: a create that may have reached the CRM is parked for an operator"
                );
                store::mark_parked(db, row.id, &reason)?;
                report.parked += 1;
            }
            Outcome::Failed { error, in_doubt }
                if error.is_retryable() && row.attempts < self.config.max_attempts =>
            {
                // A long `Retry-After` (an hour) reschedules the write for then; the worker
                // goes on with other writes.
                let wait = self.backoff(row.attempts, error.retry_after());
                store::mark_retry(db, row.id, &error.to_string(), wait, in_doubt)?;
                report.retried += 1;
            }
            Outcome::Failed { error, in_doubt } => {
                // A rejection by the vendor (validation, conflict, auth) proves nothing was
                // written, so a later `retry` sends the create without the in-doubt care.
                let in_doubt = in_doubt && may_have_created(&error);
                let dependents = store::mark_failed(db, row.id, &error.to_string(), in_doubt)?;
                report.failed += 1 + dependents;
            }
        }
        Ok(())
    }

    fn backoff(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(self.config.max_backoff);
        retry_after.map_or(exp, |r| r.max(exp))
    }
}

use deliver::{Outcome, Unit, deliver_unit, groupable, may_have_created, plan};
