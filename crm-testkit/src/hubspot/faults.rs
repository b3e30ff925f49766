//! Fault injection: what HubSpot's edge does on a bad day — rate-limit storms in HubSpot's 429
//! shape, its 502 HTML page, truncated JSON, 503s, and 502s after the write was committed.

use std::time::Duration;

/// Faults the fake injects (test control, not part of HubSpot's API).
///
/// Decided per request before authentication, in this order: `rate_limit_next`, `html_next`,
/// `malformed_next`, `after_commit_next` (writes only), then the seeded `fail_rate` roll. Only after-commit faults change state.
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
    /// `policyName: TEN_SECONDLY_ROLLING`, no `Retry-After`).
    pub rate_limit_next: u32,
    /// The next N requests get `200` with a truncated JSON body (not processed).
    pub malformed_next: u32,
    /// The next N requests get HubSpot's `502` HTML page (not processed).
    pub html_next: u32,
    /// The next N write requests are processed, then answered with the `502` HTML page.
    pub after_commit_next: u32,
}

/// The fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Injected {
    RateLimited,
    Html,
    Malformed,
    Unavailable,
    AfterCommit,
}

/// Live fault settings and what is left of the "next N" counters.
#[derive(Debug)]
pub(crate) struct FaultState {
    config: HubSpotFaults,
    rng: fastrand::Rng,
    rate_limit_left: u32,
    html_left: u32,
    malformed_left: u32,
    after_commit_left: u32,
}

impl Default for FaultState {
    fn default() -> Self {
        Self::new(HubSpotFaults::default())
    }
}

fn share(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

impl FaultState {
    pub(crate) fn new(config: HubSpotFaults) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(config.seed),
            rate_limit_left: config.rate_limit_next,
            html_left: config.html_next,
            malformed_left: config.malformed_next,
            after_commit_left: config.after_commit_next,
            config,
        }
    }

    pub(crate) fn rate_limit_next(&mut self, n: u32) {
        self.rate_limit_left = n;
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
        if self.rate_limit_left > 0 {
            self.rate_limit_left -= 1;
            return Some(Injected::RateLimited);
        }
        if self.html_left > 0 {
            self.html_left -= 1;
            return Some(Injected::Html);
        }
        if self.malformed_left > 0 {
            self.malformed_left -= 1;
            return Some(Injected::Malformed);
        }
        if is_write && self.after_commit_left > 0 {
            self.after_commit_left -= 1;
            return Some(Injected::AfterCommit);
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

/// HubSpot's edge answers a gateway failure with an HTML page, not the JSON error body.
pub(crate) const HTML_502: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>502 Bad Gateway | HubSpot</title></head><body><h1>502 Bad Gateway</h1>\
<p>The server encountered a temporary error and could not complete your request. Please try again.</p>\
</body></html>\n";

/// A record body cut off mid-way, as when the connection drops during the response.
pub(crate) const TRUNCATED_JSON: &str = r#"{"id":"1001","properties":{"email":"jane.doe@exa"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_ordered() {
        let run = || {
            let mut f = FaultState::new(HubSpotFaults {
                fail_rate: 0.5,
                after_commit_share: 0.5,
                seed: 9,
                ..HubSpotFaults::default()
            });
            (0..20).map(|_| f.decide(true)).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
        let mut f = FaultState::new(HubSpotFaults {
            rate_limit_next: 1,
            html_next: 1,
            malformed_next: 1,
            ..HubSpotFaults::default()
        });
        assert_eq!(f.decide(false), Some(Injected::RateLimited));
        assert_eq!(f.decide(false), Some(Injected::Html));
        assert_eq!(f.decide(false), Some(Injected::Malformed));
        assert_eq!(f.decide(false), None);
    }
}
