//! Metrics, through the `metrics` facade: install any recorder (Prometheus, StatsD) in the
//! application and these appear. Labels never hold record ids or personal values, so their
//! cardinality stays bounded: `vendor`, `operation` (`contact.get`), `outcome` (an error kind
//! name or `ok`), `scope` (a limit), `connection` (a configured name).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `crm_calls_total` | counter | vendor, operation, outcome |
//! | `crm_call_duration_seconds` | histogram | vendor, operation |
//! | `crm_retries_total` | counter | vendor, operation |
//! | `crm_limit_hits_total` | counter | vendor, scope |
//! | `crm_outbox_pending` | gauge | connection |
//! | `crm_outbox_failed` | gauge | connection |
//! | `crm_outbox_oldest_pending_seconds` | gauge | connection |

use std::time::Duration;

use crate::error::{Error, ErrorKind, LimitScope};

/// Calls by outcome.
pub const CALLS: &str = "crm_calls_total";
/// Call latency, all attempts included.
pub const CALL_DURATION: &str = "crm_call_duration_seconds";
/// Retries (attempts after the first).
pub const RETRIES: &str = "crm_retries_total";
/// Responses that said a vendor limit was hit (429, Salesforce 403 `REQUEST_LIMIT_EXCEEDED`).
pub const LIMIT_HITS: &str = "crm_limit_hits_total";
/// Outbox writes pending.
pub const OUTBOX_PENDING: &str = "crm_outbox_pending";
/// Outbox writes failed permanently.
pub const OUTBOX_FAILED: &str = "crm_outbox_failed";
/// Age of the oldest pending outbox write.
pub const OUTBOX_OLDEST: &str = "crm_outbox_oldest_pending_seconds";

pub(crate) fn call_finished(vendor: &str, operation: &str, elapsed: Duration, err: Option<&Error>) {
    let outcome = err.map_or("ok", |e| e.kind().name());
    metrics::counter!(CALLS, "vendor" => vendor.to_owned(), "operation" => operation.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(CALL_DURATION, "vendor" => vendor.to_owned(), "operation" => operation.to_owned())
        .record(elapsed.as_secs_f64());
}

pub(crate) fn retried(vendor: &str, operation: &str) {
    metrics::counter!(RETRIES, "vendor" => vendor.to_owned(), "operation" => operation.to_owned())
        .increment(1);
}

pub(crate) fn attempt_failed(vendor: &str, err: &Error) {
    if let ErrorKind::RateLimited { scope, .. } = err.kind() {
        let scope = match scope {
            LimitScope::Burst => "burst",
            LimitScope::Search => "search",
            LimitScope::Daily => "daily",
            LimitScope::Concurrency => "concurrency",
            LimitScope::Other(_) => "other",
        };
        metrics::counter!(LIMIT_HITS, "vendor" => vendor.to_owned(), "scope" => scope).increment(1);
    }
}

pub(crate) fn outbox_depth(
    connection: &str,
    pending: usize,
    failed: usize,
    oldest: Option<Duration>,
) {
    let c = connection.to_owned();
    metrics::gauge!(OUTBOX_PENDING, "connection" => c.clone()).set(pending as f64);
    metrics::gauge!(OUTBOX_FAILED, "connection" => c.clone()).set(failed as f64);
    metrics::gauge!(OUTBOX_OLDEST, "connection" => c).set(oldest.map_or(0.0, |d| d.as_secs_f64()));
}
