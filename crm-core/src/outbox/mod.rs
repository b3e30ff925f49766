//! The durable outbox: conversation writes are stored before the call returns and delivered by
//! a worker, so that nothing is lost when the CRM is down or the bot restarts, and nothing is
//! written twice.
//!
//! # How it never loses and never duplicates
//! - [`Outbox::enqueue`] commits the write to a SQLite file (WAL, `synchronous = FULL`) before it
//!   returns. Enqueueing the same idempotency key twice stores it once.
//! - [`Outbox::deliver`] claims due writes under a lease, sends each through the connection with
//!   its idempotency key, and records the outcome: `delivered { record_id }`, back to `pending`
//!   with a backoff for transient errors, or `failed { error }` for permanent ones (kept for an
//!   operator, re-drivable with [`Outbox::redrive`]).
//! - If the process dies after the vendor committed a create but before the outbox recorded it,
//!   the lease expires and the write is sent again *with the same key*: an adapter with
//!   [`crate::ObjectCapabilities::idempotent_create`] returns the first record. Where the adapter
//!   cannot make a create idempotent, a create that may already have reached the vendor is not
//!   retried blindly: it is marked failed for an operator to check.
//!
//! The file holds personal data at rest (the payloads); keep it on an encrypted volume with
//! owner-only permissions. A per-connection kill switch ([`Outbox::pause`]) stops delivery while
//! writes keep queueing.

mod store;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::{Actor, Crm, IdempotencyKey, Records, UpsertKey, WriteContext};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    Account, Activity, Contact, Email, Entity, Lead, ObjectKind, Opportunity, RecordId, Ticket,
};

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
        })
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
    /// Waiting for (another) delivery attempt.
    Pending {
        /// Attempts made so far.
        attempts: u32,
        /// The last transient error, if an attempt failed.
        last_error: Option<String>,
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
}

/// What one [`Outbox::deliver`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Writes delivered.
    pub delivered: usize,
    /// Writes that failed transiently and will be retried.
    pub retried: usize,
    /// Writes that failed permanently.
    pub failed: usize,
}

/// Queue depth of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// Writes pending or being delivered.
    pub pending: usize,
    /// Writes failed permanently.
    pub failed: usize,
    /// Age of the oldest pending write.
    pub oldest_pending: Option<Duration>,
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
    pub fn enqueue(&self, connection: &str, write: &PendingWrite) -> Result<WriteId> {
        store::enqueue(&self.db(), connection, write)
    }

    /// Where a write stands.
    pub fn status(&self, id: WriteId) -> Result<WriteStatus> {
        store::status(&self.db(), id)
    }

    /// Stops delivery for `connection`; writes keep queueing.
    pub fn pause(&self, connection: &str) -> Result<()> {
        store::set_paused(&self.db(), connection, true)
    }

    /// Resumes delivery for `connection`.
    pub fn resume(&self, connection: &str) -> Result<()> {
        store::set_paused(&self.db(), connection, false)
    }

    /// Whether delivery is paused for `connection`.
    pub fn is_paused(&self, connection: &str) -> Result<bool> {
        store::is_paused(&self.db(), connection)
    }

    /// Puts a failed write back in the queue (after an operator fixed its cause).
    pub fn redrive(&self, id: WriteId) -> Result<()> {
        store::redrive(&self.db(), id)
    }

    /// Pending and failed counts and the oldest pending write's age.
    pub fn depth(&self, connection: &str) -> Result<Depth> {
        store::depth(&self.db(), connection)
    }

    /// Delivers up to `max` due writes of `connection` through `crm`, four at a time, and
    /// records each outcome. Does nothing while the connection is paused.
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
        let mut report = DeliveryReport::default();
        let outcomes = futures::stream::iter(claimed.into_iter().map(|row| async move {
            let outcome = deliver_one(crm, &row).await;
            (row, outcome)
        }))
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
        for (row, outcome) in outcomes {
            let db = self.db();
            match outcome {
                Ok(record_id) => {
                    store::mark_delivered(&db, row.id, &record_id)?;
                    report.delivered += 1;
                }
                Err(e) if e.is_retryable() && row.attempts + 1 < self.config.max_attempts => {
                    let wait = self.backoff(row.attempts + 1, e.retry_after());
                    store::mark_retry(&db, row.id, &e.to_string(), wait)?;
                    report.retried += 1;
                }
                Err(e) => {
                    store::mark_failed(&db, row.id, &e.to_string())?;
                    report.failed += 1;
                }
            }
        }
        let depth = self.depth(connection)?;
        crate::telemetry::outbox_depth(
            connection,
            depth.pending,
            depth.failed,
            depth.oldest_pending,
        );
        if report.delivered + report.retried + report.failed > 0 {
            tracing::debug!(
                connection,
                delivered = report.delivered,
                retried = report.retried,
                failed = report.failed,
                "outbox delivery"
            );
        }
        Ok(report)
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

use futures::StreamExt;

/// Sends one stored write. Returns the record id written.
async fn deliver_one(crm: &dyn Crm, row: &store::Row) -> Result<RecordId> {
    let ctx = WriteContext {
        actor: row.actor.clone(),
        idempotency_key: Some(row.key.clone()),
    };
    match row.kind {
        ObjectKind::Contact => send::<Contact>(crm, crm.contacts(), row, &ctx).await,
        ObjectKind::Account => send::<Account>(crm, crm.accounts(), row, &ctx).await,
        ObjectKind::Lead => send::<Lead>(crm, crm.leads(), row, &ctx).await,
        ObjectKind::Opportunity => send::<Opportunity>(crm, crm.opportunities(), row, &ctx).await,
        ObjectKind::Ticket => send::<Ticket>(crm, crm.tickets(), row, &ctx).await,
        ObjectKind::Activity => send::<Activity>(crm, crm.activities(), row, &ctx).await,
    }
}

async fn send<T: Entity>(
    crm: &dyn Crm,
    records: &dyn Records<T>,
    row: &store::Row,
    ctx: &WriteContext,
) -> Result<RecordId> {
    let entity: T = serde_json::from_value(row.payload.clone()).map_err(|e| {
        Error::new(
            ErrorKind::Storage,
            format!(
                "outbox write {} holds a corrupt {} payload: {e}",
                row.id,
                T::KIND
            ),
        )
    })?;
    match &row.op {
        WriteOp::Create => {
            let idempotent = crm
                .capabilities()
                .objects
                .get(&T::KIND)
                .is_some_and(|c| c.idempotent_create);
            if !idempotent && row.attempts > 0 {
                // An earlier attempt may have reached the vendor and this connection cannot
                // tell: a person must check rather than the outbox creating a duplicate.
                return Err(Error::new(
                    ErrorKind::Conflict {
                        existing_id: None,
                        candidates: Vec::new(),
                    },
                    format!(
                        "a create of this {} may already have reached the CRM and the connection cannot make creates idempotent; check before re-driving",
                        T::KIND
                    ),
                ));
            }
            // A key the connection cannot honour fails the create (a `Config` error naming the
            // missing setting): such a create goes without it, guarded by the check above.
            let unkeyed = WriteContext {
                idempotency_key: None,
                ..ctx.clone()
            };
            let ctx = if idempotent { ctx } else { &unkeyed };
            match records.create(&entity, ctx).await {
                Ok(r) => Ok(r.id),
                // The unique key is already taken by the record an earlier attempt created.
                Err(e) => match e.kind() {
                    ErrorKind::Conflict {
                        existing_id: Some(id),
                        ..
                    } if idempotent => Ok(id.clone()),
                    _ => Err(e),
                },
            }
        }
        WriteOp::Update { id } => records.update(id, &entity, ctx).await.map(|r| r.id),
        WriteOp::Upsert { field, value } => {
            let key = match field.as_str() {
                "external_id" => UpsertKey::ExternalId(value.clone()),
                "email" => UpsertKey::Email(Email::from_vendor(value)),
                "idempotency_key" => UpsertKey::Idempotency(IdempotencyKey::new(value.clone())?),
                other => {
                    return Err(Error::new(
                        ErrorKind::Storage,
                        format!(
                            "outbox write {} has an unknown upsert key `{other}`",
                            row.id
                        ),
                    ));
                }
            };
            records
                .upsert(&key, &entity, ctx)
                .await
                .map(|u| u.record.id)
        }
    }
}
