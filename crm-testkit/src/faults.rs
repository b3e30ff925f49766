//! The fault engine every fake shares: which fault a request gets, if any. Each fake keeps its
//! own public settings type (documented in its vendor's terms) and turns the chosen [`Injected`]
//! into its vendor's response shape.
//!
//! Decided per request before authentication, in this order: the "next N" counters for limits,
//! HTML pages, truncated JSON and (writes only) after-commit failures, then the seeded
//! `fail_rate` roll. A request gets at most one fault.
//!
//! The engine also keeps the arrival time of every request it decides on (on tokio's clock,
//! so a test with paused time reads the same clock as the client), so a test can measure how
//! long a client waited between a limit answer and its retry.

use std::time::Duration;

use tokio::time::Instant;
use wiremock::ResponseTemplate;

use crate::conformance::{Arrival, LostAnswer};

/// Arrivals kept at most; older ones are dropped first (a long soak test must not grow without
/// bound).
const MAX_ARRIVALS: usize = 10_000;

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
    /// How the answer of those writes is lost.
    pub(crate) after_commit_how: LostAnswer,
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

/// Live settings: what is left of the "next N" counters, the seeded roll, and the arrivals.
#[derive(Debug)]
pub(crate) struct FaultState {
    plan: Plan,
    rng: fastrand::Rng,
    arrivals: Vec<Arrival>,
    /// How the answer of the request just decided is lost, when it is an after-commit fault.
    lost: Option<LostAnswer>,
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
            arrivals: Vec::new(),
            lost: None,
        }
    }

    /// The next `n` writes are carried out, then their answer is lost as `how` says.
    pub(crate) fn after_commit_next(&mut self, n: u32, how: LostAnswer) {
        self.plan.after_commit_next = n;
        self.plan.after_commit_how = how;
    }

    /// Removes every pending fault and sets the seeded roll to zero; the arrivals stay.
    pub(crate) fn clear(&mut self) {
        self.plan = Plan::default();
        self.lost = None;
    }

    /// Every request decided on so far, oldest first.
    pub(crate) fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.clone()
    }

    /// The answer of a write that was carried out: `failure` (the vendor's 5xx) as it is, cut
    /// off mid-way (a connection reset), or sent only after the client gave up (see
    /// [`FaultState::latency`]).
    pub(crate) fn lost_answer(&self, failure: ResponseTemplate) -> ResponseTemplate {
        match self.lost {
            Some(LostAnswer::Reset) => {
                // A length and then a chunked encoding: the HTTP server refuses to write such
                // a head and closes the connection instead, so the client sees it drop with no
                // answer, as when the connection is reset.
                let body = "{}";
                ResponseTemplate::new(200)
                    .insert_header("content-length", body.len().to_string())
                    .insert_header("transfer-encoding", "chunked")
                    .set_body_raw(body, "application/json")
            }
            _ => failure,
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

    /// The delay of the response to the request just decided: the plan's latency, plus the
    /// delay of an answer that is lost by a timeout.
    pub(crate) fn latency(&self) -> Duration {
        match self.lost {
            Some(LostAnswer::Timeout(after)) => self.plan.latency.saturating_add(after),
            _ => self.plan.latency,
        }
    }

    /// The wait a limit answer asks for.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        self.plan.retry_after_secs
    }

    /// Chooses this request's fault, consuming a "next N" slot or a roll, and notes the
    /// request's arrival.
    pub(crate) fn decide(&mut self, is_write: bool) -> Option<Injected> {
        let fault = self.choose(is_write);
        self.lost = match fault {
            Some(Injected::AfterCommit) => Some(self.plan.after_commit_how),
            _ => None,
        };
        if self.arrivals.len() >= MAX_ARRIVALS {
            self.arrivals.remove(0);
        }
        self.arrivals.push(Arrival {
            at: Instant::now(),
            write: is_write,
            limited: fault == Some(Injected::Limited),
            answer_lost: fault == Some(Injected::AfterCommit),
        });
        fault
    }

    fn choose(&mut self, is_write: bool) -> Option<Injected> {
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

/// Whether any string in `value` contains `marker`.
pub(crate) fn holds(value: &serde_json::Value, marker: &str) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains(marker),
        serde_json::Value::Array(a) => a.iter().any(|v| holds(v, marker)),
        serde_json::Value::Object(m) => m.values().any(|v| holds(v, marker)),
        _ => false,
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
    fn arrivals_note_limits_and_lost_answers_and_survive_a_clear() {
        let mut f = FaultState::default();
        f.limit_next(1, 2);
        assert_eq!(f.decide(false), Some(Injected::Limited));
        f.after_commit_next(1, LostAnswer::Reset);
        assert_eq!(f.decide(false), None);
        assert_eq!(f.decide(true), Some(Injected::AfterCommit));
        f.clear();
        assert_eq!(f.decide(true), None);
        let a = f.arrivals();
        let flags: Vec<(bool, bool, bool)> = a
            .iter()
            .map(|a| (a.write, a.limited, a.answer_lost))
            .collect();
        assert_eq!(
            flags,
            [
                (false, true, false),
                (false, false, false),
                (true, false, true),
                (true, false, false)
            ]
        );
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn a_timeout_delays_only_the_lost_answer() {
        let mut f = FaultState::new(Plan {
            latency: Duration::from_millis(5),
            ..Plan::default()
        });
        f.after_commit_next(1, LostAnswer::Timeout(Duration::from_secs(3)));
        assert_eq!(f.decide(true), Some(Injected::AfterCommit));
        assert_eq!(f.latency(), Duration::from_millis(3005));
        assert_eq!(f.decide(true), None);
        assert_eq!(f.latency(), Duration::from_millis(5));
    }

    #[test]
    fn markers_are_found_in_any_nested_string() {
        let record = serde_json::json!({"id": "1", "properties": {"subject": "Printer jams cc12ab"},
            "tags": [{"x": "cc99"}], "n": 7});
        assert!(holds(&record, "cc12ab"));
        assert!(holds(&record, "cc99"));
        assert!(!holds(&record, "cc77"));
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
