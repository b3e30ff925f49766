//! The outbox's SQLite schema and statements.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{ParkedWrite, PendingWrite, WriteOp, WriteStatus};
use crate::api::{Actor, IdempotencyKey};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ObjectKind, RecordId};

/// The id of a stored write.
pub type WriteId = i64;

/// The schema's version, kept in SQLite's `user_version`. Version 1 (no `user_version` set) had
/// no `parked` state and no `in_doubt` column; [`migrate`] rebuilds such a table in place.
/// Version 2 had no `depends_on` column; [`migrate`] adds it.
pub(super) const SCHEMA_VERSION: i64 = 3;

pub(super) const WRITES_TABLE: &str = "
CREATE TABLE IF NOT EXISTS outbox_writes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    connection       TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    operation        TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    actor            TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'failed', 'parked')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- 1 once an attempt has been started (committed before the request leaves) until its
    -- outcome proves the CRM did not carry it out: a create in doubt may exist at the vendor.
    in_doubt         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    record_id        TEXT,
    error            TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    -- The write this one follows (a note on a ticket created in the same conversation): not
    -- claimed until that write is delivered, then linked to its record.
    depends_on       INTEGER,
    UNIQUE (connection, idempotency_key)
);
";

pub(super) const REST_OF_SCHEMA: &str = "
CREATE INDEX IF NOT EXISTS outbox_due ON outbox_writes (connection, state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_dependents ON outbox_writes (depends_on);
CREATE TABLE IF NOT EXISTS outbox_paused (
    connection TEXT PRIMARY KEY,
    since      INTEGER NOT NULL
);
";

/// Milliseconds since the Unix epoch; saturates instead of overflowing.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A duration in milliseconds, saturating at `i64::MAX` (a `Retry-After` of `u64::MAX` seconds
/// or `Duration::MAX` lands far in the future, never an overflow).
pub(super) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `now + wait`, saturating.
pub(super) fn after(now: i64, wait: Duration) -> i64 {
    now.saturating_add(ms(wait))
}

/// A stored instant (ms since the epoch) as a `SystemTime`; `None` when it cannot be one.
pub(super) fn instant(at: i64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(u64::try_from(at).ok()?))
}

/// Why SQLite could not write, in words an operator can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// `SQLITE_FULL`: the disk (or the configured `max_size_bytes` cap) is full.
    Full,
    /// `SQLITE_IOERR`: the disk failed a read, write or sync.
    Io,
    /// The file or its directory cannot be written.
    NotWritable,
    Other,
}

pub(super) fn cause(e: &rusqlite::Error) -> Cause {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => Cause::Full,
        Some(ErrorCode::SystemIoFailure) => Cause::Io,
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            Cause::NotWritable
        }
        _ => Cause::Other,
    }
}

/// Whether the disk holding `path` has no room for 64 KiB more: SQLite reports some writes that
/// fail for lack of space (growing the WAL index, a sync) as a plain "disk I/O error", so the
/// outbox asks the file system itself before telling the caller what went wrong.
pub(super) fn disk_is_full(path: &Path) -> bool {
    let mut probe = path.as_os_str().to_owned();
    probe.push(".space-probe");
    let probe = std::path::PathBuf::from(probe);
    let full = std::fs::write(&probe, [0u8; 64 * 1024])
        .err()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::StorageFull);
    let _ = std::fs::remove_file(&probe);
    full
}

/// Turns a SQLite error into a `Storage` error that says plainly what the operator must fix: a
/// full disk, a failing disk or a file that cannot be written.
pub(super) fn storage(what: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| storage_error(what, None, "", e)
}

/// The `Storage` error for a failed `what`; `path` lets a "disk I/O error" be checked for a full
/// disk, `then` is appended to the message (what the caller should do).
pub(super) fn storage_error(
    what: &str,
    path: Option<&Path>,
    then: &str,
    e: rusqlite::Error,
) -> Error {
    let mut cause = cause(&e);
    if cause == Cause::Io && path.is_some_and(disk_is_full) {
        cause = Cause::Full;
    }
    let why = match cause {
        Cause::Full => {
            "the disk holding the outbox file is full (or the file reached its max_size_bytes cap)"
        }
        Cause::Io => "disk I/O error on the outbox file (the disk is failing or out of space)",
        Cause::NotWritable => "the outbox file or its directory cannot be written",
        Cause::Other => "SQLite error",
    };
    Error::new(
        ErrorKind::Storage,
        format!("outbox: cannot {what}: {why} ({e}){then}"),
    )
    .with_source(e)
}

/// Creates the schema, or brings an older file up to [`SCHEMA_VERSION`].
pub(super) fn migrate(db: &Connection) -> Result<()> {
    // Take the write lock first so that two processes opening one old file migrate it once.
    let tx = rusqlite::Transaction::new_unchecked(db, rusqlite::TransactionBehavior::Immediate)
        .map_err(storage("begin the schema update"))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(storage("read the schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::Storage,
            format!(
                "outbox: the file has schema version {version}, written by a newer crm-connect (this one knows {SCHEMA_VERSION})"
            ),
        ));
    }
    if version < SCHEMA_VERSION {
        let old: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox_writes'",
                [],
                |r| r.get(0),
            )
            .map_err(storage("read the schema"))?;
        if old > 0 && version == 2 {
            // Version 2: only the `depends_on` column is new.
            tx.execute_batch("ALTER TABLE outbox_writes ADD COLUMN depends_on INTEGER;")
                .map_err(storage("update the schema"))?;
        } else if old > 0 {
            // Version 1: rebuild the table (SQLite cannot change a CHECK constraint in place).
            // A write that was being delivered or had been tried may have reached the CRM.
            tx.execute_batch(
                "ALTER TABLE outbox_writes RENAME TO outbox_writes_v1;
                 DROP INDEX IF EXISTS outbox_due;",
            )
            .map_err(storage("update the schema"))?;
            tx.execute_batch(WRITES_TABLE)
                .map_err(storage("update the schema"))?;
            tx.execute_batch(
                "INSERT INTO outbox_writes
                   (id, connection, idempotency_key, kind, operation, payload, actor, state, attempts,
                    in_doubt, next_attempt_at, lease_until, record_id, error, created_at, updated_at)
                 SELECT id, connection, idempotency_key, kind, operation, payload, actor, state, attempts,
                    (state = 'delivering' OR attempts > 0), next_attempt_at, lease_until, record_id,
                    error, created_at, updated_at
                 FROM outbox_writes_v1;
                 DROP TABLE outbox_writes_v1;",
            )
            .map_err(storage("update the schema"))?;
        } else {
            tx.execute_batch(WRITES_TABLE)
                .map_err(storage("create the schema"))?;
        }
        tx.execute_batch(REST_OF_SCHEMA)
            .map_err(storage("create the schema"))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(storage("record the schema version"))?;
    }
    tx.commit().map_err(storage("commit the schema"))
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
    migrate(&db)?;
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
    // Any failure of the INSERT leaves nothing stored (the statement is atomic): say so, so
    // that the caller keeps the write and falls back.
    let not_stored = |e: rusqlite::Error| {
        let path = db.path().filter(|p| !p.is_empty()).map(Path::new);
        storage_error(
            "store the write",
            path,
            "; the write was not stored: keep it and fall back (write it directly or tell the user)",
            e,
        )
    };
    let op = serde_json::to_string(&w.op)
        .map_err(|e| Error::new(ErrorKind::Storage, format!("outbox: {e}")))?;
    let actor = serde_json::to_string(&w.actor)
        .map_err(|e| Error::new(ErrorKind::Storage, format!("outbox: {e}")))?;
    let now = now_ms();
    // A dependent write checks its parent and is stored in one write transaction, so that the
    // parent cannot fail in between and leave it waiting for ever.
    let tx = rusqlite::Transaction::new_unchecked(db, rusqlite::TransactionBehavior::Immediate)
        .map_err(not_stored)?;
    let (state, error) = match w.depends_on {
        None => ("pending", None),
        Some(parent) => match check_parent(&tx, connection, w.kind, parent)? {
            Some(parent_error) => ("failed", Some(dependency_failed(parent, &parent_error))),
            None => ("pending", None),
        },
    };
    tx.execute(
        "INSERT INTO outbox_writes
           (connection, idempotency_key, kind, operation, payload, actor, state, error, depends_on,
            next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?10)
         ON CONFLICT (connection, idempotency_key) DO NOTHING",
        params![
            connection,
            w.key.as_str(),
            w.kind.as_str(),
            op,
            w.payload.to_string(),
            actor,
            state,
            error,
            w.depends_on,
            now
        ],
    )
    .map_err(not_stored)?;
    let id = tx
        .query_row(
            "SELECT id FROM outbox_writes WHERE connection = ?1 AND idempotency_key = ?2",
            params![connection, w.key.as_str()],
            |r| r.get(0),
        )
        .map_err(storage("read back the write"))?;
    tx.commit().map_err(not_stored)?;
    Ok(id)
}

/// Checks that `parent` exists on `connection` and that a `kind` can be linked to its record;
/// gives the parent's error when it has failed already.
pub(super) fn check_parent(
    db: &Connection,
    connection: &str,
    kind: ObjectKind,
    parent: WriteId,
) -> Result<Option<String>> {
    let row: Option<(String, String, String, Option<String>)> = db
        .query_row(
            "SELECT connection, kind, state, error FROM outbox_writes WHERE id = ?1",
            params![parent],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3).ok().flatten())),
        )
        .optional()
        .map_err(storage("read the write this one depends on"))?;
    let Some((parent_connection, parent_kind, state, error)) = row else {
        return Err(Error::invalid_input(format!(
            "outbox write {parent}, which this write depends on, does not exist"
        )));
    };
    if parent_connection != connection {
        return Err(Error::invalid_input(format!(
            "outbox write {parent}, which this write depends on, belongs to another connection"
        )));
    }
    let parent_kind: ObjectKind = parent_kind.parse().map_err(|_| {
        Error::new(
            ErrorKind::Storage,
            format!("corrupt outbox row: write {parent} has an unknown object kind"),
        )
    })?;
    if super::link_slot(kind, parent_kind).is_none() {
        return Err(Error::invalid_input(format!(
            "a {kind} cannot be linked to a {parent_kind}: write {parent} cannot be its parent"
        )));
    }
    Ok((state == "failed").then(|| error.unwrap_or_default()))
}

/// Why a write was failed because the write it depends on failed.
pub(super) fn dependency_failed(parent: WriteId, parent_error: &str) -> String {
    format!("the write it depends on (outbox write {parent}) failed permanently: {parent_error}")
}

/// Fails the pending writes that depend on `parent` (and theirs in turn), each with a reason
/// naming the write it depends on: they can never be linked to its record. Returns how many.
pub(super) fn fail_dependents(db: &Connection, parent: WriteId) -> Result<usize> {
    let now = now_ms();
    let mut count = 0;
    let mut failed = vec![parent];
    while let Some(parent) = failed.pop() {
        let error: Option<String> = db
            .query_row(
                "SELECT error FROM outbox_writes WHERE id = ?1",
                params![parent],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage("read a failed write"))?
            .flatten();
        let reason = dependency_failed(parent, error.as_deref().unwrap_or(""));
        let mut stmt = db
            .prepare(
                "UPDATE outbox_writes SET state = 'failed', error = ?2, lease_until = NULL,
                        updated_at = ?3
                 WHERE depends_on = ?1 AND state = 'pending' RETURNING id",
            )
            .map_err(storage("fail the dependent writes"))?;
        let ids = stmt
            .query_map(params![parent, reason, now], |r| r.get::<_, WriteId>(0))
            .map_err(storage("fail the dependent writes"))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(storage("fail the dependent writes"))?;
        count += ids.len();
        failed.extend(ids);
    }
    Ok(count)
}

/// Puts back in the queue the writes that were failed only because `parent` failed (never
/// attempted: a dependent is not claimed before its parent is delivered), and theirs in turn.
pub(super) fn requeue_dependents(db: &Connection, parent: WriteId) -> Result<usize> {
    let now = now_ms();
    let mut count = 0;
    let mut requeued = vec![parent];
    while let Some(parent) = requeued.pop() {
        let mut stmt = db
            .prepare(
                "UPDATE outbox_writes SET state = 'pending', error = NULL, next_attempt_at = ?2,
                        updated_at = ?2
                 WHERE depends_on = ?1 AND state = 'failed' AND attempts = 0 RETURNING id",
            )
            .map_err(storage("re-queue the dependent writes"))?;
        let ids = stmt
            .query_map(params![parent, now], |r| r.get::<_, WriteId>(0))
            .map_err(storage("re-queue the dependent writes"))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(storage("re-queue the dependent writes"))?;
        count += ids.len();
        requeued.extend(ids);
    }
    Ok(count)
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
    /// Attempts including the one this claim starts.
    pub(super) attempts: u32,
    /// An earlier attempt was started and may have reached the CRM.
    pub(super) in_doubt: bool,
    /// The payload was linked to the record of the write it depends on: at this claim (stored
    /// with the claim, so later attempts send the same link), or when it was sent with that
    /// write (stored with its delivery).
    pub(super) linked: bool,
}

/// A row as read, before decoding; a column that cannot be read is a corrupt row.
type Raw = std::result::Result<Row, (WriteId, String)>;

/// Reads and decodes one row. A value of the wrong type (a blob, invalid UTF-8, text where a
/// number belongs) is this row's problem, reported as a reason, not an error of the whole claim.
///
/// With `link`, a write that depends on another is linked to that one's record (columns 8–10:
/// the parent's id, kind and record id); without, it is read as stored (a child claimed with its
/// parent, which is linked when the group is sent).
pub(super) fn decode(id: WriteId, r: &rusqlite::Row<'_>, link: bool) -> Raw {
    let bad = |what: &str| (id, format!("corrupt outbox row: {what}"));
    let text = |i: usize, what: &str| r.get::<_, String>(i).map_err(|_| bad(what));
    let attempts = r
        .get::<_, i64>(6)
        .map_err(|_| bad("unreadable attempt count"))?;
    let in_doubt = r
        .get::<_, i64>(7)
        .map_err(|_| bad("unreadable delivery marker"))?;
    let kind: ObjectKind = text(2, "unreadable object kind")?
        .parse()
        .map_err(|_| bad("unknown object kind"))?;
    let mut payload: serde_json::Value = serde_json::from_str(&text(4, "unreadable payload")?)
        .map_err(|_| bad("unreadable payload"))?;
    // A dependent write (claimed only once its parent is delivered) gets the parent's record.
    let parent = if link {
        r.get::<_, Option<WriteId>>(8)
            .map_err(|_| bad("unreadable dependency"))?
    } else {
        None
    };
    if let Some(parent) = parent {
        let parent_kind: ObjectKind = text(9, "unreadable kind of the write it depends on")?
            .parse()
            .map_err(|_| bad("unknown kind of the write it depends on"))?;
        let record = RecordId::new(text(10, "no record id on the write it depends on")?)
            .map_err(|_| bad("invalid record id on the write it depends on"))?;
        super::link_into(kind, &mut payload, parent_kind, &record).map_err(|why| {
            bad(&format!(
                "cannot link this write to the record of write {parent}: {why}"
            ))
        })?;
    }
    Ok(Row {
        id,
        kind,
        op: serde_json::from_str(&text(3, "unreadable operation")?)
            .map_err(|_| bad("unreadable operation"))?,
        payload,
        key: IdempotencyKey::new(text(1, "unreadable idempotency key")?)
            .map_err(|_| bad("invalid idempotency key"))?,
        actor: serde_json::from_str(&text(5, "unreadable actor")?)
            .map_err(|_| bad("unreadable actor"))?,
        attempts: u32::try_from(attempts.max(0))
            .unwrap_or(u32::MAX)
            .saturating_add(1),
        // Anything but a clean 0 counts as "may have been sent".
        in_doubt: in_doubt != 0,
        linked: parent.is_some(),
    })
}

/// Claims up to `max` due writes: pending ones whose time has come, and ones a crashed worker
/// left `delivering` past their lease; a write that depends on another only once that one is
/// delivered, its payload then linked to the other's record. Claiming counts the attempt and marks the write in doubt,
/// committed before any request leaves: if the process dies while the request is out, the next
/// claim knows a create may have reached the CRM. Corrupt rows are marked failed with the reason
/// on the way, never delivered, never a panic, and never in the way of the other writes.
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
                "SELECT w.id, w.idempotency_key, w.kind, w.operation, w.payload, w.actor,
                        w.attempts, w.in_doubt, w.depends_on, p.kind, p.record_id
                 FROM outbox_writes w LEFT JOIN outbox_writes p ON p.id = w.depends_on
                 WHERE w.connection = ?1
                   AND ((w.state = 'pending' AND w.next_attempt_at <= ?2)
                     OR (w.state = 'delivering' AND w.lease_until <= ?2))
                   AND (w.depends_on IS NULL OR p.state = 'delivered')
                 ORDER BY w.id LIMIT ?3",
            )
            .map_err(storage("prepare the claim"))?;
        let rows = stmt
            .query_map(
                params![connection, now, i64::try_from(max).unwrap_or(i64::MAX)],
                |r| Ok(decode(r.get(0)?, r, true)),
            )
            .map_err(storage("claim writes"))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(storage("read claimed writes"))?
    };
    let mut claimed = Vec::with_capacity(raws.len());
    for raw in raws {
        match raw {
            Ok(row) => {
                tx.execute(
                    "UPDATE outbox_writes SET state = 'delivering', attempts = ?2, in_doubt = 1,
                            lease_until = ?3, updated_at = ?4 WHERE id = ?1",
                    params![row.id, row.attempts, after(now, lease), now],
                )
                .map_err(storage("lease a write"))?;
                if row.linked {
                    tx.execute(
                        "UPDATE outbox_writes SET payload = ?2 WHERE id = ?1",
                        params![row.id, row.payload.to_string()],
                    )
                    .map_err(storage("link a write to its parent's record"))?;
                }
                claimed.push(row);
            }
            Err((id, why)) => {
                tracing::error!(write = id, "{why}");
                tx.execute(
                    "UPDATE outbox_writes SET state = 'failed', error = ?2, lease_until = NULL,
                            updated_at = ?3 WHERE id = ?1",
                    params![id, why, now],
                )
                .map_err(storage("mark a corrupt write"))?;
                fail_dependents(&tx, id)?;
            }
        }
    }
    tx.commit().map_err(storage("commit the claim"))?;
    Ok(claimed)
}

/// Claims, for a write claimed in this round (`parent`, not yet delivered), up to `max` of the
/// writes that depend on it and are due (pending, or left `delivering` past their lease by a
/// crashed worker) and that `keep` accepts, so that they are sent with it in the same round.
/// They are claimed as [`claim`] claims (the attempt counted, in doubt) but not linked: the
/// parent's record does not exist yet. A row that cannot be read is left for the claim that
/// follows the parent's delivery, which fails it with the reason.
pub(super) fn claim_dependents(
    db: &Connection,
    parent: WriteId,
    max: usize,
    lease: Duration,
    keep: impl Fn(&Row) -> bool,
) -> Result<Vec<Row>> {
    if max == 0 {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let tx = db.unchecked_transaction().map_err(storage("begin"))?;
    let raws = {
        let mut stmt = tx
            .prepare(
                "SELECT w.id, w.idempotency_key, w.kind, w.operation, w.payload, w.actor,
                        w.attempts, w.in_doubt
                 FROM outbox_writes w
                 WHERE w.depends_on = ?1
                   AND ((w.state = 'pending' AND w.next_attempt_at <= ?2)
                     OR (w.state = 'delivering' AND w.lease_until <= ?2))
                 ORDER BY w.id",
            )
            .map_err(storage("prepare the claim of dependent writes"))?;
        let rows = stmt
            .query_map(params![parent, now], |r| Ok(decode(r.get(0)?, r, false)))
            .map_err(storage("claim dependent writes"))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(storage("read claimed dependent writes"))?
    };
    let mut claimed = Vec::new();
    for row in raws.into_iter().flatten().filter(|row| keep(row)).take(max) {
        tx.execute(
            "UPDATE outbox_writes SET state = 'delivering', attempts = ?2, in_doubt = 1,
                    lease_until = ?3, updated_at = ?4 WHERE id = ?1",
            params![row.id, row.attempts, after(now, lease), now],
        )
        .map_err(storage("lease a dependent write"))?;
        claimed.push(row);
    }
    tx.commit().map_err(storage("commit the claim"))?;
    Ok(claimed)
}

/// Puts a write claimed with its parent back as it was before the claim (pending, due now, its
/// attempt not counted, in doubt only if it was before): the vendor certainly did not keep it,
/// because its parent was not created. It waits for its parent again.
pub(super) fn mark_unsent(db: &Connection, row: &Row) -> Result<()> {
    let now = now_ms();
    db.execute(
        "UPDATE outbox_writes SET state = 'pending', attempts = ?2, in_doubt = ?3,
                next_attempt_at = ?4, lease_until = NULL, updated_at = ?4 WHERE id = ?1",
        params![row.id, row.attempts.saturating_sub(1), row.in_doubt, now],
    )
    .map_err(storage("put back a write that was not sent"))?;
    Ok(())
}

/// Whether write `id` has failed for good.
pub(super) fn is_failed(db: &Connection, id: WriteId) -> Result<bool> {
    let state: Option<String> = db
        .query_row(
            "SELECT state FROM outbox_writes WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()
        .map_err(storage("read a write"))?;
    Ok(state.as_deref() == Some("failed"))
}

/// Stores a write's payload as it was sent (linked to the record of the write it depends on).
pub(super) fn store_payload(
    db: &Connection,
    id: WriteId,
    payload: &serde_json::Value,
) -> Result<()> {
    db.execute(
        "UPDATE outbox_writes SET payload = ?2 WHERE id = ?1",
        params![id, payload.to_string()],
    )
    .map_err(storage("link a write to its parent's record"))?;
    Ok(())
}

pub(super) fn mark_delivered(db: &Connection, id: WriteId, record: &RecordId) -> Result<()> {
    db.execute(
        "UPDATE outbox_writes SET state = 'delivered', record_id = ?2, error = NULL, in_doubt = 0,
                lease_until = NULL, updated_at = ?3 WHERE id = ?1",
        params![id, record.as_str(), now_ms()],
    )
    .map_err(storage("record a delivery"))?;
    Ok(())
}

/// Back to pending after `wait` (saturating: a wait of `Duration::MAX` is "as late as the file
/// can say", not an overflow). `in_doubt` says whether the attempt may have reached the CRM.
pub(super) fn mark_retry(
    db: &Connection,
    id: WriteId,
    error: &str,
    wait: Duration,
    in_doubt: bool,
) -> Result<()> {
    let now = now_ms();
    db.execute(
        "UPDATE outbox_writes SET state = 'pending', error = ?2, next_attempt_at = ?3,
                in_doubt = ?4, lease_until = NULL, updated_at = ?5 WHERE id = ?1",
        params![id, error, after(now, wait), in_doubt, now],
    )
    .map_err(storage("schedule a retry"))?;
    Ok(())
}

/// Fails a write for good, and with it the writes waiting for it; returns how many of those.
/// `in_doubt` says whether the last attempt may have reached the CRM (a rejection proves it
/// did not), for a later retry.
pub(super) fn mark_failed(
    db: &Connection,
    id: WriteId,
    error: &str,
    in_doubt: bool,
) -> Result<usize> {
    db.execute(
        "UPDATE outbox_writes SET state = 'failed', error = ?2, in_doubt = ?4, lease_until = NULL,
                updated_at = ?3 WHERE id = ?1",
        params![id, error, now_ms(), in_doubt],
    )
    .map_err(storage("record a failure"))?;
    fail_dependents(db, id)
}

/// Sets a create that may have reached the CRM aside for an operator.
pub(super) fn mark_parked(db: &Connection, id: WriteId, reason: &str) -> Result<()> {
    db.execute(
        "UPDATE outbox_writes SET state = 'parked', error = ?2, lease_until = NULL,
                updated_at = ?3 WHERE id = ?1",
        params![id, reason, now_ms()],
    )
    .map_err(storage("park a write"))?;
    Ok(())
}

pub(super) fn status(db: &Connection, id: WriteId) -> Result<WriteStatus> {
    type Cols = (String, i64, Option<String>, Option<String>, i64);
    let row: Option<Cols> = db
        .query_row(
            "SELECT state, attempts, record_id, error, next_attempt_at FROM outbox_writes WHERE id = ?1",
            params![id],
            // Only the state must be readable; a corrupt count or date reads as 0.
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1).unwrap_or(0),
                    r.get(2).ok().flatten(),
                    r.get(3).ok().flatten(),
                    r.get(4).unwrap_or(0),
                ))
            },
        )
        .optional()
        .map_err(storage("read a write"))?;
    let Some((state, attempts, record_id, error, next)) = row else {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("no outbox write {id}"),
        ));
    };
    let attempts = u32::try_from(attempts.max(0)).unwrap_or(u32::MAX);
    match state.as_str() {
        "pending" => Ok(WriteStatus::Pending {
            attempts,
            last_error: error,
            next_attempt_at: instant(next),
        }),
        "delivering" => Ok(WriteStatus::Pending {
            attempts,
            last_error: error,
            next_attempt_at: None,
        }),
        "delivered" => {
            let id = record_id
                .ok_or_else(|| Error::new(ErrorKind::Storage, "a delivered write has no record id"))
                .and_then(RecordId::new)?;
            Ok(WriteStatus::Delivered { record_id: id })
        }
        "parked" => Ok(WriteStatus::Parked {
            reason: error.unwrap_or_default(),
        }),
        _ => Ok(WriteStatus::Failed {
            error: error.unwrap_or_default(),
        }),
    }
}

/// The parked writes of `connection`, oldest first.
pub(super) fn parked(db: &Connection, connection: &str) -> Result<Vec<ParkedWrite>> {
    let mut stmt = db
        .prepare(
            "SELECT id, kind, idempotency_key, error, attempts FROM outbox_writes
             WHERE connection = ?1 AND state = 'parked' ORDER BY id",
        )
        .map_err(storage("list parked writes"))?;
    let rows = stmt
        .query_map(params![connection], |r| {
            Ok((
                r.get::<_, WriteId>(0)?,
                r.get::<_, String>(1).ok(),
                r.get::<_, String>(2).ok(),
                r.get::<_, Option<String>>(3).ok().flatten(),
                r.get::<_, i64>(4).ok(),
            ))
        })
        .map_err(storage("list parked writes"))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, key, reason, attempts) = row.map_err(storage("list parked writes"))?;
        out.push(ParkedWrite {
            id,
            kind: kind.and_then(|k| k.parse().ok()),
            idempotency_key: key.and_then(|k| IdempotencyKey::new(k).ok()),
            reason: reason.unwrap_or_default(),
            attempts: attempts.map_or(0, |n| u32::try_from(n.max(0)).unwrap_or(u32::MAX)),
        });
    }
    Ok(out)
}
