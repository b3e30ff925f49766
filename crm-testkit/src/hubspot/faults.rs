//! Fault injection: what HubSpot's edge does on a bad day — rate-limit storms in HubSpot's 429
//! shape, its 502 HTML page, truncated JSON, 503s, and 502s after the write was committed.

use std::time::Duration;

use crm_core::ObjectKind;

use super::HubSpotFake;
use crate::conformance::{Arrival, FaultInjector, LostAnswer};
use crate::faults::Plan;
use crate::sync::lock;

/// Faults the fake injects (test control, not part of HubSpot's API).
///
/// Decided per request before authentication, in this order: `rate_limit_next`, `html_next`,
/// `malformed_next`, `after_commit_next` (writes only), then the seeded `fail_rate` roll
/// (the engine all fakes share). Only after-commit faults change state.
#[derive(Clone, Debug, Default)]
pub struct HubSpotFaults {
    /// Share of requests (0.0–1.0) that fault: a `503` before anything is written, or for a share
    /// of writes (see `after_commit_share`) the write is applied and a `502` HTML page returned.
    pub fail_rate: f64,
    /// Share (0.0–1.0) of faulted writes (`POST`, `PUT`, `PATCH`, `DELETE`) applied before the `502`.
    pub after_commit_share: f64,
    /// Seed of the fault rolls.
    pub seed: u64,
    /// Delay added to every response.
    pub latency: Duration,
    /// The next N requests get HubSpot's rolling-window 429 (`errorType: RATE_LIMIT`,
    /// `policyName: TEN_SECONDLY_ROLLING`), with its rate headers saying nothing is left.
    pub rate_limit_next: u32,
    /// A `Retry-After` (seconds) on those 429s; `0` sends none, as HubSpot documents its 429s.
    /// A gateway in front of HubSpot may add one; a client must then wait at least that long.
    pub retry_after_secs: u64,
    /// The next N requests get `200` with a truncated JSON body (not processed).
    pub malformed_next: u32,
    /// The next N requests get HubSpot's `502` HTML page (not processed).
    pub html_next: u32,
    /// The next N write requests are processed, then answered with the `502` HTML page.
    pub after_commit_next: u32,
    /// How the answer of those writes is lost (the `502` page by default).
    pub after_commit_how: LostAnswer,
}

impl From<HubSpotFaults> for Plan {
    fn from(f: HubSpotFaults) -> Self {
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

/// HubSpot's edge answers a gateway failure with an HTML page, not the JSON error body.
pub(crate) const HTML_502: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>502 Bad Gateway | HubSpot</title></head><body><h1>502 Bad Gateway</h1>\
<p>The server encountered a temporary error and could not complete your request. Please try again.</p>\
</body></html>\n";

/// A record body cut off mid-way, as when the connection drops during the response.
pub(crate) const TRUNCATED_JSON: &str = r#"{"id":"1001","properties":{"email":"jane.doe@exa"#;

/// HubSpot's objects holding records of `kind`.
fn objects_of(kind: ObjectKind) -> &'static [&'static str] {
    match kind {
        ObjectKind::Contact => &["contacts"],
        ObjectKind::Account => &["companies"],
        ObjectKind::Opportunity => &["deals"],
        ObjectKind::Ticket => &["tickets"],
        ObjectKind::Lead => &["leads", "contacts"],
        ObjectKind::Activity => &["notes", "tasks", "calls", "emails", "meetings"],
    }
}

impl FaultInjector for HubSpotFake {
    fn malformed_next(&self, n: u32) {
        lock(&self.state).faults.malformed_next(n);
    }

    fn html_next(&self, n: u32) {
        lock(&self.state).faults.html_next(n);
    }

    /// HubSpot's 429 in its own shape, plus the `Retry-After` the suite asks for.
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
        objects_of(kind)
            .iter()
            .flat_map(|o| self.records(o))
            .filter(|r| crate::faults::holds(r, marker))
            .count()
    }
}
