//! The outbox's SQLite schema and statements.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{Depth, PendingWrite, WriteOp, WriteStatus};
use crate::api::{Actor, IdempotencyKey};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ObjectKind, RecordId};

/// The id of a stored write.
pub type WriteId = i64;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox_writes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    connection       TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    operation        TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    actor            TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    record_id        TEXT,
    error            TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (connection, idempotency_key)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox_writes (connection, state, next_attempt_at);
CREATE TABLE IF NOT EXISTS outbox_paused (
    connection TEXT PRIMARY KEY,
    since      INTEGER NOT NULL
);
";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Turns a SQLite error into a `Storage` error, saying plainly when the disk is full.
fn storage(what: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| {
        let full = matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::DiskFull) | Some(ErrorCode::CannotOpen) | Some(ErrorCode::ReadOnly)
        );
        let msg = if full {
            format!("outbox: cannot {what}: the storage is full or not writable ({e})")
        } else {
            format!("outbox: cannot {what}: {e}")
        };
        Error::new(ErrorKind::Storage, msg).with_source(e)
    }
}

pub(super) fn open(path: &Path, max_size: Option<u64>) -> Result<Connection> {
    let db = Connection::open(path).map_err(storage("open the file"))?;
    // WAL keeps readers and the writer apart; FULL syncs each commit so that a write acknowledged
    // by `enqueue` survives a power cut, not only a process crash.
    db.pragma_update(None, "journal_mode", "WAL")
        .map_err(storage("enable WAL"))?;
    db.pragma_update(None, "synchronous", "FULL")
        .map_err(storage("set synchronous"))?;
    db.busy_timeout(Duration::from_secs(5))
        .map_err(storage("set the busy timeout"))?;
    db.execute_batch(SCHEMA)
        .map_err(storage("create the schema"))?;
    if let Some(max) = max_size {
        let page: i64 = db
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(storage("read the page size"))?;
        let pages = i64::try_from(max).unwrap_or(i64::MAX) / page.max(1);
        db.pragma_update(None, "max_page_count", pages.max(1))
            .map_err(storage("cap the file size"))?;
    }
    Ok(db)
}

pub(super) fn enqueue(db: &Connection, connection: &str, w: &PendingWrite) -> Result<WriteId> {
    let op = serde_json::to_string(&w.op)
        .map_err(|e| Error::new(ErrorKind::Storage, format!("outbox: {e}")))?;
    let actor = serde_json::to_string(&w.actor)
        .map_err(|e| Error::new(ErrorKind::Storage, format!("outbox: {e}")))?;
    let now = now_ms();
    db.execute(
        "INSERT INTO outbox_writes
           (connection, idempotency_key, kind, operation, payload, actor, state, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7, ?7)
         ON CONFLICT (connection, idempotency_key) DO NOTHING",
        params![
            connection,
            w.key.as_str(),
            w.kind.as_str(),
            op,
            w.payload.to_string(),
            actor,
            now
        ],
    )
    .map_err(storage("store the write"))?;
    db.query_row(
        "SELECT id FROM outbox_writes WHERE connection = ?1 AND idempotency_key = ?2",
        params![connection, w.key.as_str()],
        |r| r.get(0),
    )
    .map_err(storage("read back the write"))
}

/// A claimed write, decoded.
#[derive(Debug)]
pub(super) struct Row {
    pub(super) id: WriteId,
    pub(super) kind: ObjectKind,
    pub(super) op: WriteOp,
    pub(super) payload: serde_json::Value,
    pub(super) key: IdempotencyKey,
    pub(super) actor: Actor,
    pub(super) attempts: u32,
}

struct RawRow {
    id: WriteId,
    key: String,
    kind: String,
    op: String,
    payload: String,
    actor: String,
    attempts: u32,
}

fn decode(raw: RawRow) -> std::result::Result<Row, (WriteId, String)> {
    let bad = |what: &str| (raw.id, format!("corrupt outbox row: {what}"));
    Ok(Row {
        id: raw.id,
        kind: raw.kind.parse().map_err(|_| bad("unknown object kind"))?,
        op: serde_json::from_str(&raw.op).map_err(|_| bad("unreadable operation"))?,
        payload: serde_json::from_str(&raw.payload).map_err(|_| bad("unreadable payload"))?,
        key: IdempotencyKey::new(raw.key.clone()).map_err(|_| bad("invalid idempotency key"))?,
        actor: serde_json::from_str(&raw.actor).map_err(|_| bad("unreadable actor"))?,
        attempts: raw.attempts,
    })
}

/// Claims up to `max` due writes: pending ones whose time has come, and ones a crashed worker
/// left `delivering` past their lease. Corrupt rows are marked failed on the way, never
/// delivered and never a panic.
pub(super) fn claim(
    db: &Connection,
    connection: &str,
    max: usize,
    lease: Duration,
) -> Result<Vec<Row>> {
    let now = now_ms();
    let tx = db.unchecked_transaction().map_err(storage("begin"))?;
    let raws = {
        let mut stmt = tx
            .prepare(
                "SELECT id, idempotency_key, kind, operation, payload, actor, attempts FROM outbox_writes
                 WHERE connection = ?1
                   AND ((state = 'pending' AND next_attempt_at <= ?2)
                     OR (state = 'delivering' AND lease_until <= ?2))
                 ORDER BY id LIMIT ?3",
            )
            .map_err(storage("prepare the claim"))?;
        let rows = stmt
            .query_map(
                params![connection, now, i64::try_from(max).unwrap_or(i64::MAX)],
                |r| {
                    Ok(RawRow {
                        id: r.get(0)?,
                        key: r.get(1)?,
                        kind: r.get(2)?,
                        op: r.get(3)?,
                        payload: r.get(4)?,
                        actor: r.get(5)?,
                        attempts: r.get(6)?,
                    })
                },
            )
            .map_err(storage("claim writes"))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(storage("read claimed writes"))?
    };
    let mut claimed = Vec::with_capacity(raws.len());
    for raw in raws {
        match decode(raw) {
            Ok(row) => {
                tx.execute(
                    "UPDATE outbox_writes SET state = 'delivering', lease_until = ?2, updated_at = ?3 WHERE id = ?1",
                    params![row.id, now + ms(lease), now],
                )
                .map_err(storage("lease a write"))?;
                claimed.push(row);
            }
            Err((id, why)) => {
                tracing::error!(write = id, "{why}");
                tx.execute(
                    "UPDATE outbox_writes SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, why, now],
                )
                .map_err(storage("mark a corrupt write"))?;
            }
        }
    }
    tx.commit().map_err(storage("commit the claim"))?;
    Ok(claimed)
}

pub(super) fn mark_delivered(db: &Connection, id: WriteId, record: &RecordId) -> Result<()> {
    db.execute(
        "UPDATE outbox_writes SET state = 'delivered', record_id = ?2, error = NULL,
                attempts = attempts + 1, lease_until = NULL, updated_at = ?3 WHERE id = ?1",
        params![id, record.as_str(), now_ms()],
    )
    .map_err(storage("record a delivery"))?;
    Ok(())
}

pub(super) fn mark_retry(db: &Connection, id: WriteId, error: &str, wait: Duration) -> Result<()> {
    let now = now_ms();
    db.execute(
        "UPDATE outbox_writes SET state = 'pending', error = ?2, attempts = attempts + 1,
                next_attempt_at = ?3, lease_until = NULL, updated_at = ?4 WHERE id = ?1",
        params![id, error, now + ms(wait), now],
    )
    .map_err(storage("schedule a retry"))?;
    Ok(())
}

pub(super) fn mark_failed(db: &Connection, id: WriteId, error: &str) -> Result<()> {
    db.execute(
        "UPDATE outbox_writes SET state = 'failed', error = ?2, attempts = attempts + 1,
                lease_until = NULL, updated_at = ?3 WHERE id = ?1",
        params![id, error, now_ms()],
    )
    .map_err(storage("record a failure"))?;
    Ok(())
}

pub(super) fn status(db: &Connection, id: WriteId) -> Result<WriteStatus> {
    let row: Option<(String, u32, Option<String>, Option<String>)> = db
        .query_row(
            "SELECT state, attempts, record_id, error FROM outbox_writes WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(storage("read a write"))?;
    let Some((state, attempts, record_id, error)) = row else {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("no outbox write {id}"),
        ));
    };
    match state.as_str() {
        "pending" | "delivering" => Ok(WriteStatus::Pending {
            attempts,
            last_error: error,
        }),
        "delivered" => {
            let id = record_id
                .ok_or_else(|| Error::new(ErrorKind::Storage, "a delivered write has no record id"))
                .and_then(RecordId::new)?;
            Ok(WriteStatus::Delivered { record_id: id })
        }
        _ => Ok(WriteStatus::Failed {
            error: error.unwrap_or_default(),
        }),
    }
}

pub(super) fn redrive(db: &Connection, id: WriteId) -> Result<()> {
    let n = db
        .execute(
            "UPDATE outbox_writes SET state = 'pending', attempts = 0, next_attempt_at = ?2,
                    updated_at = ?2 WHERE id = ?1 AND state = 'failed'",
            params![id, now_ms()],
        )
        .map_err(storage("re-drive a write"))?;
    if n == 0 {
        return Err(Error::invalid_input(format!(
            "outbox write {id} is not a failed write"
        )));
    }
    Ok(())
}

pub(super) fn set_paused(db: &Connection, connection: &str, paused: bool) -> Result<()> {
    if paused {
        db.execute(
            "INSERT INTO outbox_paused (connection, since) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![connection, now_ms()],
        )
    } else {
        db.execute(
            "DELETE FROM outbox_paused WHERE connection = ?1",
            params![connection],
        )
    }
    .map_err(storage("set the kill switch"))?;
    Ok(())
}

pub(super) fn is_paused(db: &Connection, connection: &str) -> Result<bool> {
    db.query_row(
        "SELECT COUNT(*) FROM outbox_paused WHERE connection = ?1",
        params![connection],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(storage("read the kill switch"))
}

pub(super) fn depth(db: &Connection, connection: &str) -> Result<Depth> {
    let (pending, failed, oldest): (i64, i64, Option<i64>) = db
        .query_row(
            "SELECT
               SUM(state IN ('pending', 'delivering')),
               SUM(state = 'failed'),
               MIN(CASE WHEN state IN ('pending', 'delivering') THEN created_at END)
             FROM outbox_writes WHERE connection = ?1",
            params![connection],
            |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?.unwrap_or(0),
                    r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    r.get(2)?,
                ))
            },
        )
        .map_err(storage("count writes"))?;
    let age = oldest.map(|t| Duration::from_millis(u64::try_from(now_ms() - t).unwrap_or(0)));
    Ok(Depth {
        pending: usize::try_from(pending).unwrap_or(0),
        failed: usize::try_from(failed).unwrap_or(0),
        oldest_pending: age,
    })
}
