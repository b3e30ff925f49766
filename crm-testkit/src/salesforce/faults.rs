//! Fault injection for the instance server: what a flaky network, Salesforce's edge or an org at
//! its limits does to API requests. The token endpoint is never faulted.

use std::time::Duration;

use crm_core::ObjectKind;

use super::SalesforceFake;
use crate::conformance::{Arrival, FaultInjector, LostAnswer};
use crate::faults::Plan;
use crate::sync::lock;

/// Faults the fake injects into API responses (test control, not part of Salesforce's API).
///
/// Decided per request before authentication, in this order: `limit_exceeded_next`,
/// `html_next`, `malformed_next`, `after_commit_next` (writes only), then the seeded
/// `fail_rate` roll. A request gets at most one
/// fault. Only after-commit faults change state.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Share of requests (0.0–1.0) that fault: `503 SERVER_UNAVAILABLE` before anything is
    /// written, or, for a share of writes, the write is applied and then `500 UNKNOWN_EXCEPTION`
    /// is returned (see `after_commit_share`).
    pub fail_rate: f64,
    /// Share (0.0–1.0) of faulted write requests (`POST`, `PATCH`, `PUT`, `DELETE`) whose write
    /// is applied before the error is returned.
    pub after_commit_share: f64,
    /// Seed for the fault rolls, so a test sees the same faults on every run.
    pub seed: u64,
    /// Delay added to every API response.
    pub latency: Duration,
    /// The next N requests get `403 REQUEST_LIMIT_EXCEEDED` for the concurrent-request limit
    /// (Salesforce sends no 429 and no `Retry-After`; this 403 is its transient limit signal,
    /// per Salesforce's REST API developer guide on status codes and API limits).
    pub limit_exceeded_next: u32,
    /// A `Retry-After` (seconds) on those 403s; `0` sends none, as Salesforce documents them.
    /// A gateway in front of the org may add one; a client must then wait at least that long.
    pub retry_after_secs: u64,
    /// The next N requests get `200` with a truncated JSON body (nothing is processed).
    pub malformed_next: u32,
    /// The next N requests get `502` with an HTML error page.
    pub html_next: u32,
    /// The next N write requests are carried out, then answered with `500 UNKNOWN_EXCEPTION`
    /// (or lost as `after_commit_how` says).
    pub after_commit_next: u32,
    /// How the answer of those writes is lost.
    pub after_commit_how: LostAnswer,
}

impl From<Faults> for Plan {
    fn from(f: Faults) -> Self {
        Plan {
            fail_rate: f.fail_rate,
            after_commit_share: f.after_commit_share,
            seed: f.seed,
            latency: f.latency,
            limit_next: f.limit_exceeded_next,
            retry_after_secs: f.retry_after_secs,
            html_next: f.html_next,
            malformed_next: f.malformed_next,
            after_commit_next: f.after_commit_next,
            after_commit_how: f.after_commit_how,
        }
    }
}

/// What Salesforce's edge sends when the instance is unreachable: HTML, not JSON.
pub(crate) const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
<body><h1>Bad Gateway</h1><p>The server encountered a temporary error and could not complete your request.</p></body></html>\n";

/// A query result cut off mid-record, as when a connection drops during the response.
pub(crate) const TRUNCATED_JSON: &str = r#"{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Contact","url":"/services/data/v"#;

/// Salesforce's sObjects holding records of `kind`.
fn sobjects_of(kind: ObjectKind) -> &'static [&'static str] {
    match kind {
        ObjectKind::Contact => &["Contact"],
        ObjectKind::Account => &["Account"],
        ObjectKind::Opportunity => &["Opportunity"],
        ObjectKind::Ticket => &["Case"],
        ObjectKind::Lead => &["Lead"],
        ObjectKind::Activity => &["Task", "Event"],
    }
}

impl FaultInjector for SalesforceFake {
    fn malformed_next(&self, n: u32) {
        lock(&self.state).faults.malformed_next(n);
    }

    fn html_next(&self, n: u32) {
        lock(&self.state).faults.html_next(n);
    }

    /// Salesforce's `403 REQUEST_LIMIT_EXCEEDED`, plus the `Retry-After` the suite asks for.
    fn rate_limit_next(&self, n: u32, retry_after: Duration) {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        lock(&self.state).faults.limit_next(n, secs);
    }

    fn after_commit_next(&self, n: u32, how: LostAnswer) {
        lock(&self.state).faults.after_commit_next(n, how);
    }

    fn clear(&self) {
        lock(&self.state).faults.clear();
    }

    fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.state).faults.arrivals()
    }

    fn count_marked(&self, kind: ObjectKind, marker: &str) -> usize {
        sobjects_of(kind)
            .iter()
            .flat_map(|o| self.records(o))
            .filter(|r| crate::faults::holds(r, marker))
            .count()
    }
}
