//! Fault injection: what a flaky network, gateway or rate limiter in front of the CRM does.

use std::time::Duration;

/// Faults the sandbox injects into its responses (test control, not part of the CRM's API).
///
/// Faults are decided per request before authentication, in this order: the `rate_limit_next`
/// storm, then `html_next`, then `malformed_next`, then the seeded `fail_rate` roll. A request
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
}

/// The fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Injected {
    /// `429` with this `Retry-After`.
    RateLimited(u64),
    /// `502` HTML page.
    Html,
    /// `200` truncated JSON.
    Malformed,
    /// `503` before anything happens.
    Unavailable,
    /// Process the request, then answer `502`.
    AfterCommit,
}

/// The live fault settings plus what is left of the "next N" counters.
#[derive(Debug)]
pub(crate) struct FaultState {
    config: Faults,
    rng: fastrand::Rng,
    rate_limit_left: u32,
    html_left: u32,
    malformed_left: u32,
}

impl Default for FaultState {
    fn default() -> Self {
        Self::new(Faults::default())
    }
}

/// NaN or out-of-range shares would make the rolls meaningless; treat them as bounds.
fn share(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

impl FaultState {
    pub(crate) fn new(config: Faults) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(config.seed),
            rate_limit_left: config.rate_limit_next,
            html_left: config.html_next,
            malformed_left: config.malformed_next,
            config,
        }
    }

    /// The next `n` requests get a 429 asking to wait `retry_after_secs`.
    pub(crate) fn rate_limit_next(&mut self, n: u32, retry_after_secs: u64) {
        self.rate_limit_left = n;
        self.config.retry_after_secs = retry_after_secs;
    }

    /// The next `n` requests get a 502 HTML page.
    pub(crate) fn html_next(&mut self, n: u32) {
        self.html_left = n;
    }

    /// The next `n` requests get a 200 with truncated JSON.
    pub(crate) fn malformed_next(&mut self, n: u32) {
        self.malformed_left = n;
    }

    pub(crate) fn latency(&self) -> Duration {
        self.config.latency
    }

    /// Chooses this request's fault, consuming a "next N" slot or a random roll.
    pub(crate) fn decide(&mut self, is_write: bool) -> Option<Injected> {
        if self.rate_limit_left > 0 {
            self.rate_limit_left -= 1;
            return Some(Injected::RateLimited(self.config.retry_after_secs));
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

/// What a gateway in front of the CRM sends when the CRM is down: HTML, not the JSON error body.
pub(crate) const HTML_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
<body><center><h1>502 Bad Gateway</h1></center><hr><center>sandbox-gateway</center></body></html>\n";

/// A JSON body cut off mid-record, as when a connection drops during the response.
pub(crate) const TRUNCATED_JSON: &str = r#"{"data": [{"id": "c-1001", "created_at": "2026-"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn rolls(seed: u64) -> Vec<Option<Injected>> {
        let mut f = FaultState::new(Faults {
            fail_rate: 0.5,
            after_commit_share: 0.5,
            seed,
            ..Faults::default()
        });
        (0..32).map(|_| f.decide(true)).collect()
    }

    #[test]
    fn same_seed_same_faults() {
        assert_eq!(rolls(7), rolls(7));
        assert!(rolls(7).iter().any(Option::is_some));
        assert!(rolls(7).iter().any(Option::is_none));
    }

    #[test]
    fn next_n_counters_come_first() {
        let mut f = FaultState::new(Faults {
            rate_limit_next: 1,
            retry_after_secs: 3,
            html_next: 1,
            malformed_next: 1,
            ..Faults::default()
        });
        assert_eq!(f.decide(false), Some(Injected::RateLimited(3)));
        assert_eq!(f.decide(false), Some(Injected::Html));
        assert_eq!(f.decide(false), Some(Injected::Malformed));
        assert_eq!(f.decide(false), None);
    }
}
