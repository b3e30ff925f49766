//! The conformance suite's fault hook, so a `Sandbox` can be a `Fixture`'s `faults`.

use std::time::Duration;

use super::Sandbox;
use crate::sync::lock;
use crm_core::ObjectKind;

use crate::conformance::{Arrival, FaultInjector, LostAnswer};

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
        let table = match kind {
            ObjectKind::Contact => "contacts",
            ObjectKind::Account => "accounts",
            ObjectKind::Opportunity => "opportunities",
            ObjectKind::Ticket => "tickets",
            ObjectKind::Lead => "leads",
            ObjectKind::Activity => "activities",
        };
        self.records(table)
            .iter()
            .filter(|r| crate::faults::holds(r, marker))
            .count()
    }
}
