//! The fault engine every fake shares: which fault a request gets, if any. Each fake keeps its
//! own public settings type (documented in its vendor's terms) and turns the chosen [`Injected`]
//! into its vendor's response shape.
//!
//! Decided per request before authentication, in this order: the "next N" counters for limits,
//! HTML pages, truncated JSON and (writes only) after-commit failures, then the seeded
//! `fail_rate` roll. A request gets at most one fault.

use std::time::Duration;

/// The settings a fake's public fault type converts into.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    /// Share of requests (0.0–1.0) that fault.
    pub(crate) fail_rate: f64,
    /// Share (0.0–1.0) of faulted writes that are applied before the error.
    pub(crate) after_commit_share: f64,
    /// Seed of the rolls, so a test sees the same faults on every run.
    pub(crate) seed: u64,
    /// Delay added to every response.
    pub(crate) latency: Duration,
    /// The next N requests hit the vendor's limit.
    pub(crate) limit_next: u32,
    /// The wait a limit answer asks for, for vendors that send one.
    pub(crate) retry_after_secs: u64,
    /// The next N requests get an HTML error page.
    pub(crate) html_next: u32,
    /// The next N requests get `200` with truncated JSON.
    pub(crate) malformed_next: u32,
    /// The next N writes are applied, then answered with an error.
    pub(crate) after_commit_next: u32,
}

/// The fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Injected {
    /// The vendor's rate or request limit answer.
    Limited,
    /// An HTML error page from the edge.
    Html,
    /// `200` with a truncated JSON body.
    Malformed,
    /// A 5xx before anything happens.
    Unavailable,
    /// Process the request, then answer with an error.
    AfterCommit,
}

/// Live settings: what is left of the "next N" counters, and the seeded roll.
#[derive(Debug)]
pub(crate) struct FaultState {
    plan: Plan,
    rng: fastrand::Rng,
}

impl Default for FaultState {
    fn default() -> Self {
        Self::new(Plan::default())
    }
}

/// NaN or out-of-range shares would make the rolls meaningless; treat them as bounds.
fn share(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

fn take(left: &mut u32) -> bool {
    let some = *left > 0;
    *left = left.saturating_sub(1);
    some
}

impl FaultState {
    pub(crate) fn new(plan: impl Into<Plan>) -> Self {
        let plan = plan.into();
        Self {
            rng: fastrand::Rng::with_seed(plan.seed),
            plan,
        }
    }

    /// The next `n` requests hit the limit, asking to wait `retry_after_secs`.
    pub(crate) fn limit_next(&mut self, n: u32, retry_after_secs: u64) {
        self.plan.limit_next = n;
        self.plan.retry_after_secs = retry_after_secs;
    }

    /// The next `n` requests get an HTML page.
    pub(crate) fn html_next(&mut self, n: u32) {
        self.plan.html_next = n;
    }

    /// The next `n` requests get truncated JSON.
    pub(crate) fn malformed_next(&mut self, n: u32) {
        self.plan.malformed_next = n;
    }

    /// The delay added to every response.
    pub(crate) fn latency(&self) -> Duration {
        self.plan.latency
    }

    /// The wait a limit answer asks for.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        self.plan.retry_after_secs
    }

    /// Chooses this request's fault, consuming a "next N" slot or a roll.
    pub(crate) fn decide(&mut self, is_write: bool) -> Option<Injected> {
        let p = &mut self.plan;
        if take(&mut p.limit_next) {
            return Some(Injected::Limited);
        }
        if take(&mut p.html_next) {
            return Some(Injected::Html);
        }
        if take(&mut p.malformed_next) {
            return Some(Injected::Malformed);
        }
        if is_write && take(&mut p.after_commit_next) {
            return Some(Injected::AfterCommit);
        }
        let rate = share(p.fail_rate);
        if rate > 0.0 && self.rng.f64() < rate {
            if is_write && self.rng.f64() < share(p.after_commit_share) {
                return Some(Injected::AfterCommit);
            }
            return Some(Injected::Unavailable);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolls(seed: u64) -> Vec<Option<Injected>> {
        let mut f = FaultState::new(Plan {
            fail_rate: 0.5,
            after_commit_share: 0.5,
            seed,
            ..Plan::default()
        });
        (0..32).map(|_| f.decide(true)).collect()
    }

    #[test]
    fn same_seed_same_faults() {
        assert_eq!(rolls(7), rolls(7));
        assert!(rolls(7).contains(&Some(Injected::AfterCommit)));
        assert!(rolls(7).contains(&Some(Injected::Unavailable)));
        assert!(rolls(7).contains(&None));
    }

    #[test]
    fn next_n_counters_come_first_in_order() {
        let mut f = FaultState::new(Plan {
            limit_next: 1,
            retry_after_secs: 3,
            html_next: 1,
            malformed_next: 1,
            after_commit_next: 1,
            ..Plan::default()
        });
        assert_eq!(f.decide(false), Some(Injected::Limited));
        assert_eq!(f.retry_after_secs(), 3);
        assert_eq!(f.decide(false), Some(Injected::Html));
        assert_eq!(f.decide(false), Some(Injected::Malformed));
        // After-commit faults wait for a write.
        assert_eq!(f.decide(false), None);
        assert_eq!(f.decide(true), Some(Injected::AfterCommit));
        assert_eq!(f.decide(true), None);
    }

    #[test]
    fn nonsense_shares_are_bounds() {
        let mut never = FaultState::new(Plan {
            fail_rate: f64::NAN,
            ..Plan::default()
        });
        assert!((0..16).all(|_| never.decide(true).is_none()));
        let mut always = FaultState::new(Plan {
            fail_rate: 7.0,
            after_commit_share: -1.0,
            ..Plan::default()
        });
        assert!((0..16).all(|_| always.decide(true) == Some(Injected::Unavailable)));
    }
}
