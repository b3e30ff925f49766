//! The operator's view of the outbox file: states and dependents of one write, re-queueing
//! (redrive, retry, resolve), the kill switch, and the per-connection overview and listings.

use crate::error::{Error, ErrorKind, Result};
use crate::model::RecordId;
use crate::outbox::Depth;
use rusqlite::{Connection, OptionalExtension, params};
use std::time::{Duration, SystemTime};

use super::store::*;
/// The state of write `id` and of the write it depends on; `NotFound` naming the id when there
/// is no such write.
fn state_of(db: &Connection, id: WriteId) -> Result<(String, Option<(WriteId, String)>)> {
    let row: Option<(String, Option<WriteId>, Option<String>)> = db
        .query_row(
            "SELECT w.state, w.depends_on, p.state
             FROM outbox_writes w LEFT JOIN outbox_writes p ON p.id = w.depends_on
             WHERE w.id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(storage("read a write"))?;
    match row {
        None => Err(Error::new(
            ErrorKind::NotFound,
            format!("no outbox write {id}"),
        )),
        Some((state, parent, parent_state)) => {
            Ok((state, parent.map(|p| (p, parent_state.unwrap_or_default()))))
        }
    }
}

/// Refuses to put `id` back in the queue while the write it depends on has failed: it would
/// wait for ever. Retrying the parent re-queues it.
fn check_parent_not_failed(id: WriteId, parent: Option<&(WriteId, String)>) -> Result<()> {
    match parent {
        Some((parent, state)) if state == "failed" => Err(Error::invalid_input(format!(
            "outbox write {id} depends on outbox write {parent}, which failed: retry write {parent} (the writes that depend on it are re-queued with it)"
        ))),
        _ => Ok(()),
    }
}

/// The error for an operator command on a write in the wrong state.
fn wrong_state(id: WriteId, state: &str, wanted: &str) -> Error {
    let state = if state == "delivering" {
        "being delivered"
    } else {
        state
    };
    Error::invalid_input(format!("outbox write {id} is {state}, not {wanted}"))
}

/// Puts a failed or parked write back in the queue. The operator has checked that it did not
/// reach the CRM (or fixed its cause), so it is no longer in doubt. The writes that were failed
/// only because it failed are re-queued with it.
pub(super) fn redrive(db: &Connection, id: WriteId) -> Result<usize> {
    let tx = db.unchecked_transaction().map_err(storage("begin"))?;
    let (state, parent) = state_of(&tx, id)?;
    if state != "failed" && state != "parked" {
        return Err(wrong_state(id, &state, "failed or parked"));
    }
    check_parent_not_failed(id, parent.as_ref())?;
    tx.execute(
        "UPDATE outbox_writes SET state = 'pending', attempts = 0, in_doubt = 0,
                next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1",
        params![id, now_ms()],
    )
    .map_err(storage("re-drive a write"))?;
    let dependents = requeue_dependents(&tx, id)?;
    tx.commit().map_err(storage("re-drive a write"))?;
    Ok(1 + dependents)
}

/// Puts a failed write back in the queue to be sent again, with the usual care: unlike
/// [`redrive`], a create that may have reached the CRM stays in doubt (looked up or parked
/// rather than sent blindly). The writes that were failed only because it failed are
/// re-queued with it. Returns how many writes were re-queued.
pub(super) fn retry(db: &Connection, id: WriteId) -> Result<usize> {
    let tx = db.unchecked_transaction().map_err(storage("begin"))?;
    let (state, parent) = state_of(&tx, id)?;
    if state == "parked" {
        return Err(Error::invalid_input(format!(
            "outbox write {id} is parked: a create that may already be in the CRM; look for it there, then resolve the write with the record id, or redrive it if there is none"
        )));
    }
    if state != "failed" {
        return Err(wrong_state(id, &state, "failed"));
    }
    check_parent_not_failed(id, parent.as_ref())?;
    tx.execute(
        "UPDATE outbox_writes SET state = 'pending', attempts = 0, next_attempt_at = ?2,
                updated_at = ?2 WHERE id = ?1",
        params![id, now_ms()],
    )
    .map_err(storage("retry a write"))?;
    let dependents = requeue_dependents(&tx, id)?;
    tx.commit().map_err(storage("retry a write"))?;
    Ok(1 + dependents)
}

/// [`retry`] for every failed write (of `connection`, or of all): parents and the writes that
/// depend on them go back together. Returns how many writes were re-queued.
pub(super) fn retry_all_failed(db: &Connection, connection: Option<&str>) -> Result<usize> {
    let n = db
        .execute(
            "UPDATE outbox_writes SET state = 'pending', attempts = 0, next_attempt_at = ?2,
                    updated_at = ?2
             WHERE state = 'failed' AND (?1 IS NULL OR connection = ?1)",
            params![connection, now_ms()],
        )
        .map_err(storage("retry the failed writes"))?;
    Ok(n)
}

/// Records that a parked (or failed) write did reach the CRM as `record`, found by an operator.
/// The writes that were failed only because it failed are re-queued: it is delivered now.
pub(super) fn resolve(db: &Connection, id: WriteId, record: &RecordId) -> Result<()> {
    let tx = db.unchecked_transaction().map_err(storage("begin"))?;
    let (state, _) = state_of(&tx, id)?;
    if state != "failed" && state != "parked" {
        return Err(wrong_state(id, &state, "failed or parked"));
    }
    tx.execute(
        "UPDATE outbox_writes SET state = 'delivered', record_id = ?2, error = NULL,
                in_doubt = 0, lease_until = NULL, updated_at = ?3 WHERE id = ?1",
        params![id, record.as_str(), now_ms()],
    )
    .map_err(storage("resolve a write"))?;
    requeue_dependents(&tx, id)?;
    tx.commit().map_err(storage("resolve a write"))
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
    let (pending, failed, parked, oldest): (i64, i64, i64, Option<i64>) = db
        .query_row(
            "SELECT
               SUM(state IN ('pending', 'delivering')),
               SUM(state = 'failed'),
               SUM(state = 'parked'),
               MIN(CASE WHEN state IN ('pending', 'delivering') THEN created_at END)
             FROM outbox_writes WHERE connection = ?1",
            params![connection],
            |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?.unwrap_or(0),
                    r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                    r.get(3).ok().flatten(),
                ))
            },
        )
        .map_err(storage("count writes"))?;
    let age = oldest
        .map(|t| Duration::from_millis(u64::try_from(now_ms().saturating_sub(t)).unwrap_or(0)));
    Ok(Depth {
        pending: usize::try_from(pending).unwrap_or(0),
        failed: usize::try_from(failed).unwrap_or(0),
        parked: usize::try_from(parked).unwrap_or(0),
        oldest_pending: age,
    })
}

/// Per-connection counts for [`super::Outbox::overview`], by connection name: every connection
/// with a stored write or a kill switch set.
pub(super) fn overview(db: &Connection) -> Result<Vec<super::ConnectionStatus>> {
    let now = now_ms();
    let mut stmt = db
        .prepare(
            "SELECT w.connection,
               SUM(w.state = 'pending'),
               SUM(w.state = 'pending' AND w.depends_on IS NOT NULL
                   AND COALESCE(p.state, '') <> 'delivered'),
               SUM(w.state = 'delivering'),
               SUM(w.state = 'failed'),
               SUM(w.state = 'parked'),
               SUM(w.state = 'delivered'),
               MIN(CASE WHEN w.state IN ('pending', 'delivering') THEN w.created_at END),
               s.since
             FROM outbox_writes w
             LEFT JOIN outbox_writes p ON p.id = w.depends_on
             LEFT JOIN outbox_paused s ON s.connection = w.connection
             GROUP BY w.connection
             UNION ALL
             SELECT s.connection, 0, 0, 0, 0, 0, 0, NULL, s.since FROM outbox_paused s
             WHERE NOT EXISTS (SELECT 1 FROM outbox_writes w WHERE w.connection = s.connection)
             ORDER BY 1",
        )
        .map_err(storage("count writes"))?;
    let count = |r: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<usize> {
        Ok(usize::try_from(r.get::<_, Option<i64>>(i)?.unwrap_or(0)).unwrap_or(0))
    };
    let rows = stmt
        .query_map([], |r| {
            let oldest: Option<i64> = r.get(7).ok().flatten();
            let since: Option<i64> = r.get(8)?;
            Ok(super::ConnectionStatus {
                connection: r.get(0)?,
                pending: count(r, 1)?,
                waiting: count(r, 2)?,
                in_flight: count(r, 3)?,
                failed: count(r, 4)?,
                parked: count(r, 5)?,
                delivered: count(r, 6)?,
                oldest_pending: oldest.map(|t| {
                    Duration::from_millis(u64::try_from(now.saturating_sub(t)).unwrap_or(0))
                }),
                paused_since: since.and_then(instant),
                paused: since.is_some(),
            })
        })
        .map_err(storage("count writes"))?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(storage("count writes"))
}

/// The SQL states a listing of `state` covers.
fn states(state: super::ListState) -> &'static [&'static str] {
    match state {
        super::ListState::Pending => &["pending", "delivering"],
        super::ListState::Failed => &["failed"],
        super::ListState::Parked => &["parked"],
        super::ListState::Delivered => &["delivered"],
    }
}

/// Up to `limit` writes in `state` (of `connection`, or of all), oldest first, with their
/// payloads masked.
pub(super) fn list(
    db: &Connection,
    state: super::ListState,
    connection: Option<&str>,
    limit: usize,
) -> Result<Vec<super::ListedWrite>> {
    let wanted = states(state);
    let mut stmt = db
        .prepare(
            "SELECT id, connection, kind, operation, payload, idempotency_key, state, attempts,
                    error, depends_on, created_at, next_attempt_at, record_id
             FROM outbox_writes
             WHERE state IN (?1, ?2) AND (?3 IS NULL OR connection = ?3)
             ORDER BY id LIMIT ?4",
        )
        .map_err(storage("list writes"))?;
    let first = wanted.first().copied().unwrap_or("pending");
    let second = wanted.get(1).copied().unwrap_or(first);
    let rows = stmt
        .query_map(
            params![
                first,
                second,
                connection,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                // Every column but the id may be corrupt: a listing shows what it can.
                let text = |i: usize| r.get::<_, Option<String>>(i).ok().flatten();
                let state = text(6).unwrap_or_default();
                Ok(super::listed(super::StoredWrite {
                    id: r.get(0)?,
                    connection: text(1).unwrap_or_default(),
                    kind: text(2),
                    operation: text(3),
                    payload: text(4),
                    idempotency_key: text(5),
                    state: if state == "delivering" {
                        "in_flight".to_owned()
                    } else {
                        state
                    },
                    attempts: r.get::<_, i64>(7).ok().unwrap_or(0),
                    error: text(8),
                    depends_on: r.get(9).ok().flatten(),
                    created_at: r.get::<_, i64>(10).ok().and_then(instant),
                    next_attempt_at: r.get::<_, i64>(11).ok().and_then(instant),
                    record_id: text(12),
                }))
            },
        )
        .map_err(storage("list writes"))?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(storage("list writes"))
}

/// When the next write of `connection` can be claimed: the earliest due time of a pending write
/// whose parent (if any) is delivered, or the end of a lease held by a worker. `None` when no
/// write can become claimable without something else happening first (nothing pending, or only
/// writes waiting for a parent that is itself not due).
pub(super) fn next_due(db: &Connection, connection: &str) -> Result<Option<SystemTime>> {
    let at: Option<i64> = db
        .query_row(
            "SELECT MIN(CASE WHEN w.state = 'pending' THEN w.next_attempt_at ELSE w.lease_until END)
             FROM outbox_writes w LEFT JOIN outbox_writes p ON p.id = w.depends_on
             WHERE w.connection = ?1 AND w.state IN ('pending', 'delivering')
               AND (w.depends_on IS NULL OR p.state = 'delivered')",
            params![connection],
            |r| r.get(0),
        )
        .map_err(storage("read the next due write"))?;
    Ok(at.and_then(instant))
}
