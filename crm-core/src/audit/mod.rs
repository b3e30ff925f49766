//! The audit trail: one [`AuditRecord`] per write, with field *names* and never their values.
//!
//! Adapters hand every create, update, upsert and link to an [`AuditSink`] once the vendor has
//! answered, successful or not. [`TracingAudit`] (the default) emits each record as a `tracing`
//! event on the `crm_connect::audit` target; a backend plugs its own store in by implementing the
//! trait.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::{Actor, IdempotencyKey, WriteContext};
use crate::error::{Error, Result};
use crate::model::{ObjectKind, RecordId};

/// How a write ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The vendor accepted it.
    Ok,
    /// It failed; `kind` is the error kind's name (`validation`, `unavailable`...).
    Failed {
        /// [`crate::ErrorKind::name`] of the error.
        kind: String,
    },
}

/// One write, as the audit trail keeps it: who, what, when, which fields, how it ended. Never a
/// field value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// When the write finished.
    pub at: DateTime<Utc>,
    /// The connection's name (a tenant's CRM).
    pub connection: String,
    /// The vendor (`generic-rest`, `hubspot`, `salesforce`).
    pub vendor: String,
    /// Who the write was done for.
    pub actor: Actor,
    /// `create`, `update`, `upsert` or `link`.
    pub operation: String,
    /// The kind of record written.
    pub kind: ObjectKind,
    /// The record's id, when known (a failed create has none).
    pub record_id: Option<RecordId>,
    /// The idempotency key the write carried.
    pub idempotency_key: Option<IdempotencyKey>,
    /// The version of the field mapping used, when the connection has a versioned mapping.
    pub mapping_version: Option<String>,
    /// Common names of the fields written.
    pub fields: Vec<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The vendor's correlation id.
    pub correlation_id: Option<String>,
}

impl AuditRecord {
    /// A record for a write of `fields` on a `kind` record, from its context and result.
    pub fn new(
        connection: &str,
        vendor: &str,
        operation: &str,
        kind: ObjectKind,
        ctx: &WriteContext,
        fields: Vec<String>,
    ) -> Self {
        Self {
            at: Utc::now(),
            connection: connection.to_owned(),
            vendor: vendor.to_owned(),
            actor: ctx.actor.clone(),
            operation: operation.to_owned(),
            kind,
            record_id: None,
            idempotency_key: ctx.idempotency_key.clone(),
            mapping_version: None,
            fields,
            outcome: AuditOutcome::Ok,
            correlation_id: None,
        }
    }

    /// A record for a write of the common fields `common`: their names only, a status's
    /// `_state` companion counted as the status itself.
    pub fn for_write(
        connection: &str,
        vendor: &str,
        operation: &str,
        kind: ObjectKind,
        ctx: &WriteContext,
        common: &crate::model::FieldMap,
    ) -> Self {
        Self::new(
            connection,
            vendor,
            operation,
            kind,
            ctx,
            field_names(common),
        )
    }

    /// Fills in the outcome from a write's result: the record id on success, the error kind and
    /// the vendor's correlation id on failure.
    pub fn finish<T>(mut self, result: &Result<T>, id: impl FnOnce(&T) -> RecordId) -> Self {
        match result {
            Ok(value) => {
                self.record_id = Some(id(value));
                self.outcome = AuditOutcome::Ok;
            }
            Err(e) => {
                self.outcome = AuditOutcome::Failed {
                    kind: e.kind().name().to_owned(),
                };
                self.correlation_id = e.correlation_id().map(str::to_owned);
            }
        }
        self.at = Utc::now();
        self
    }
}

/// The names of the common fields in `common`, sorted, with a status's `_state` companion
/// folded into the status (`status_state` → `status`).
pub fn field_names(common: &crate::model::FieldMap) -> Vec<String> {
    let names: std::collections::BTreeSet<String> = common
        .keys()
        .map(|k| k.strip_suffix("_state").unwrap_or(k).to_owned())
        .collect();
    names.into_iter().collect()
}

/// Where audit records go.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Stores one record. A failure is reported by the caller (logged at error level); the
    /// write it describes has already happened at the vendor.
    fn record(&self, record: &AuditRecord) -> Result<()>;
}

/// Emits each record as a `tracing` event (target `crm_connect::audit`, level INFO).
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, r: &AuditRecord) -> Result<()> {
        let outcome = match &r.outcome {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Failed { kind } => kind.as_str(),
        };
        tracing::info!(
            target: "crm_connect::audit",
            connection = %r.connection,
            vendor = %r.vendor,
            actor = ?r.actor,
            operation = %r.operation,
            kind = %r.kind,
            record_id = r.record_id.as_ref().map(RecordId::as_str),
            idempotency_key = r.idempotency_key.as_ref().map(IdempotencyKey::as_str),
            fields = %r.fields.join(","),
            outcome,
            correlation_id = r.correlation_id.as_deref(),
            "crm write"
        );
        Ok(())
    }
}

/// When [`JsonLinesAudit`] forces its writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `fsync` after every record: a record acknowledged is on disk, at the cost of one disk
    /// flush per write (the default; writes to a CRM are far slower than a flush).
    #[default]
    EveryRecord,
    /// Leave flushing to the operating system: a power cut can lose the last records; a process
    /// crash cannot (each record is written with one `write` call).
    OsDecides,
}

/// Appends one JSON object per line to a file, never rewriting it.
pub struct JsonLinesAudit {
    path: std::path::PathBuf,
    file: std::sync::Mutex<std::fs::File>,
    fsync: FsyncPolicy,
}

impl fmt::Debug for JsonLinesAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLinesAudit")
            .field("path", &self.path)
            .field("fsync", &self.fsync)
            .finish()
    }
}

impl JsonLinesAudit {
    /// Opens (creating if needed, owner read/write only) the file at `path` for appending.
    pub fn open(path: impl Into<std::path::PathBuf>, fsync: FsyncPolicy) -> Result<Self> {
        let path = path.into();
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(|e| {
            Error::new(
                crate::ErrorKind::Storage,
                format!("cannot open the audit file `{}`: {e}", path.display()),
            )
        })?;
        Ok(Self {
            path,
            file: std::sync::Mutex::new(file),
            fsync,
        })
    }
}

impl AuditSink for JsonLinesAudit {
    fn record(&self, record: &AuditRecord) -> Result<()> {
        use std::io::Write;
        let mut line = serde_json::to_vec(record).map_err(|e| {
            Error::new(
                crate::ErrorKind::Storage,
                format!("cannot encode an audit record: {e}"),
            )
        })?;
        line.push(b'\n');
        let storage = |e: std::io::Error| {
            Error::new(
                crate::ErrorKind::Storage,
                format!(
                    "cannot append to the audit file `{}`: {e}",
                    self.path.display()
                ),
            )
        };
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.write_all(&line).map_err(storage)?;
        if self.fsync == FsyncPolicy::EveryRecord {
            file.sync_data().map_err(storage)?;
        }
        Ok(())
    }
}

/// Hands a record to a sink and logs (never swallows silently) a sink failure.
pub fn emit(sink: &dyn AuditSink, record: &AuditRecord) {
    if let Err(e) = sink.record(record) {
        report_failure(&e, record);
    }
}

fn report_failure(e: &Error, record: &AuditRecord) {
    metrics::counter!("crm_audit_failures_total").increment(1);
    tracing::error!(
        target: "crm_connect::audit",
        error = %e,
        operation = %record.operation,
        kind = %record.kind,
        "the audit sink failed to store a write record"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_append_and_failures_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let sink = JsonLinesAudit::open(&path, FsyncPolicy::EveryRecord).unwrap();
        let ctx = WriteContext::default();
        let r = AuditRecord::new(
            "acme",
            "v",
            "create",
            ObjectKind::Ticket,
            &ctx,
            vec!["subject".into()],
        );
        sink.record(&r).unwrap();
        sink.record(&r).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["operation"], "create");
        }
        let err = JsonLinesAudit::open(
            dir.path().join("no/such/dir/a.jsonl"),
            FsyncPolicy::OsDecides,
        )
        .unwrap_err();
        assert_eq!(err.kind(), &crate::ErrorKind::Storage);
    }

    #[test]
    fn records_carry_names_not_values() {
        let ctx = WriteContext::new(Actor::Agent("agent-7".into()));
        let r = AuditRecord::new(
            "acme",
            "generic-rest",
            "create",
            ObjectKind::Contact,
            &ctx,
            vec!["email".into(), "last_name".into()],
        );
        let ok: Result<RecordId> = RecordId::new("c-1");
        let done = r.clone().finish(&ok, Clone::clone);
        assert_eq!(done.record_id.as_ref().map(RecordId::as_str), Some("c-1"));
        let json = serde_json::to_string(&done).unwrap();
        assert!(
            json.contains("\"fields\":[\"email\",\"last_name\"]"),
            "{json}"
        );
        assert!(json.contains("\"status\":\"ok\""), "{json}");
        let failed: Result<RecordId> = Err(Error::new(crate::ErrorKind::Unavailable, "x"));
        let done = r.finish(&failed, Clone::clone);
        assert_eq!(
            done.outcome,
            AuditOutcome::Failed {
                kind: "unavailable".into()
            }
        );
    }
}
