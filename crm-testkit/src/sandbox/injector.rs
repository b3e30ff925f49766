//! The conformance suite's fault hook, so a `Sandbox` can be a `Fixture`'s `faults`.

use std::time::Duration;

use super::Sandbox;
use super::routes::lock;
use crate::conformance::FaultInjector;
use crate::faults::FaultState;

impl FaultInjector for Sandbox {
    fn malformed_next(&self, n: u32) {
        lock(&self.state).faults.malformed_next(n);
    }

    fn html_next(&self, n: u32) {
        lock(&self.state).faults.html_next(n);
    }

    fn rate_limit_next(&self, n: u32, retry_after: Duration) {
        // Retry-After carries whole seconds; round up so a client never retries too early.
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        lock(&self.state).faults.limit_next(n, secs);
    }

    fn clear(&self) {
        lock(&self.state).faults = FaultState::default();
    }
}
