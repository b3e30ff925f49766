//! Fault injection: what a flaky network, gateway or rate limiter in front of the CRM does.

use std::time::Duration;

use crate::faults::Plan;

/// Faults the sandbox injects into its responses (test control, not part of the CRM's API).
///
/// Faults are decided per request before authentication, in this order: the `rate_limit_next`
/// storm, then `html_next`, then `malformed_next`, then `after_commit_next` (writes only), then
/// the seeded `fail_rate` roll. A request
/// gets at most one fault. Only after-commit faults change state; every other fault is
/// returned before the request reaches the CRM.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Share of requests (0.0–1.0) that fault: `503` `internal` before anything is written, or
    /// for a share of writes an after-commit `502` (see `after_commit_share`).
    pub fail_rate: f64,
    /// Share (0.0–1.0) of faulted write requests (`POST`, `PUT`, `PATCH`) whose write is applied
    /// before the `502` `internal` is returned. Faulted reads always get the `503`.
    pub after_commit_share: f64,
    /// Seed for the fault rolls, so a test sees the same faults on every run.
    pub seed: u64,
    /// Delay added to every response, faulted or not.
    pub latency: Duration,
    /// The next N requests get `429` `rate_limited` with `Retry-After: retry_after_secs`.
    pub rate_limit_next: u32,
    /// The `Retry-After` value of the 429s, in seconds.
    pub retry_after_secs: u64,
    /// The next N requests get `200` with a truncated JSON body (the request is not processed).
    pub malformed_next: u32,
    /// The next N requests get `502` with an HTML error page (`content-type: text/html`).
    pub html_next: u32,
    /// The next N write requests are carried out, then answered with `502` `internal` (or
    /// lost as `after_commit_how` says).
    pub after_commit_next: u32,
    /// How the answer of those writes is lost.
    pub after_commit_how: crate::conformance::LostAnswer,
}

impl From<Faults> for Plan {
    fn from(f: Faults) -> Self {
        Plan {
            fail_rate: f.fail_rate,
            after_commit_share: f.after_commit_share,
            seed: f.seed,
            latency: f.latency,
            limit_next: f.rate_limit_next,
            retry_after_secs: f.retry_after_secs,
            html_next: f.html_next,
            malformed_next: f.malformed_next,
            after_commit_next: f.after_commit_next,
            after_commit_how: f.after_commit_how,
        }
    }
}

/// What a gateway in front of the CRM sends when the CRM is down: HTML, not the JSON error body.
pub(crate) const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
<body><center><h1>502 Bad Gateway</h1></center><hr><center>sandbox-gateway</center></body></html>\n";

/// A JSON body cut off mid-record, as when a connection drops during the response.
pub(crate) const TRUNCATED_JSON: &str = r#"{"data": [{"id": "c-1001", "created_at": "2026-"#;
