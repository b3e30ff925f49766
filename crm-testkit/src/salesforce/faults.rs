//! Fault injection for the instance server: what a flaky network, Salesforce's edge or an org at
//! its limits does to API requests. The token endpoint is never faulted.

use std::time::Duration;

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
    /// (Salesforce has no 429; this is its transient limit signal, VENDORS.md §2.9).
    pub limit_exceeded_next: u32,
    /// The next N requests get `200` with a truncated JSON body (nothing is processed).
    pub malformed_next: u32,
    /// The next N requests get `502` with an HTML error page.
    pub html_next: u32,
}

/// The fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Injected {
    LimitExceeded,
    Html,
    Malformed,
    Unavailable,
    AfterCommit,
}

/// The live fault settings plus what is left of the "next N" counters.
#[derive(Debug)]
pub(crate) struct FaultState {
    config: Faults,
    rng: fastrand::Rng,
    limit_left: u32,
    html_left: u32,
    malformed_left: u32,
}

impl Default for FaultState {
    fn default() -> Self {
        Self::new(Faults::default())
    }
}

fn share(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

impl FaultState {
    pub(crate) fn new(config: Faults) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(config.seed),
            limit_left: config.limit_exceeded_next,
            html_left: config.html_next,
            malformed_left: config.malformed_next,
            config,
        }
    }

    pub(crate) fn limit_exceeded_next(&mut self, n: u32) {
        self.limit_left = n;
    }

    pub(crate) fn html_next(&mut self, n: u32) {
        self.html_left = n;
    }

    pub(crate) fn malformed_next(&mut self, n: u32) {
        self.malformed_left = n;
    }

    pub(crate) fn latency(&self) -> Duration {
        self.config.latency
    }

    pub(crate) fn decide(&mut self, is_write: bool) -> Option<Injected> {
        if self.limit_left > 0 {
            self.limit_left -= 1;
            return Some(Injected::LimitExceeded);
        }
        if self.html_left > 0 {
            self.html_left -= 1;
            return Some(Injected::Html);
        }
        if self.malformed_left > 0 {
            self.malformed_left -= 1;
            return Some(Injected::Malformed);
        }
        let rate = share(self.config.fail_rate);
        if rate > 0.0 && self.rng.f64() < rate {
            if is_write && self.rng.f64() < share(self.config.after_commit_share) {
                return Some(Injected::AfterCommit);
            }
            return Some(Injected::Unavailable);
        }
        None
    }
}

/// What Salesforce's edge sends when the instance is unreachable: HTML, not JSON.
pub(crate) const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
<body><h1>Bad Gateway</h1><p>The server encountered a temporary error and could not complete your request.</p></body></html>\n";

/// A query result cut off mid-record, as when a connection drops during the response.
pub(crate) const TRUNCATED_JSON: &str = r#"{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Contact","url":"/services/data/v"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let rolls = |seed| {
            let mut f = FaultState::new(Faults {
                fail_rate: 0.5,
                after_commit_share: 0.5,
                seed,
                ..Faults::default()
            });
            (0..32).map(|_| f.decide(true)).collect::<Vec<_>>()
        };
        assert_eq!(rolls(7), rolls(7));
        assert!(rolls(7).contains(&Some(Injected::AfterCommit)));
        assert!(rolls(7).contains(&None));
    }
}
