//! Fault injection for the instance server: what a flaky network, Salesforce's edge or an org at
//! its limits does to API requests. The token endpoint is never faulted.

use std::time::Duration;

use crate::faults::Plan;

/// Faults the fake injects into API responses (test control, not part of Salesforce's API).
///
/// Decided per request before authentication, in this order: `limit_exceeded_next`,
/// `html_next`, `malformed_next`, then the seeded `fail_rate` roll. A request gets at most one
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
    /// (Salesforce has no 429; this is its transient limit signal, per its API limits docs).
    pub limit_exceeded_next: u32,
    /// The next N requests get `200` with a truncated JSON body (nothing is processed).
    pub malformed_next: u32,
    /// The next N requests get `502` with an HTML error page.
    pub html_next: u32,
}

impl From<Faults> for Plan {
    fn from(f: Faults) -> Self {
        Plan {
            fail_rate: f.fail_rate,
            after_commit_share: f.after_commit_share,
            seed: f.seed,
            latency: f.latency,
            limit_next: f.limit_exceeded_next,
            html_next: f.html_next,
            malformed_next: f.malformed_next,
            ..Plan::default()
        }
    }
}

/// What Salesforce's edge sends when the instance is unreachable: HTML, not JSON.
pub(crate) const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
<body><h1>Bad Gateway</h1><p>The server encountered a temporary error and could not complete your request.</p></body></html>\n";

/// A query result cut off mid-record, as when a connection drops during the response.
pub(crate) const TRUNCATED_JSON: &str = r#"{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Contact","url":"/services/data/v"#;
