//! The conformance suite: one set of scenarios every adapter must pass against its fake.
//!
//! An adapter opts in with one test:
//!
//! ```no_run
//! # // no_run: the suite needs an adapter, and crm-testkit depends on none (each adapter
//! # // depends on the testkit). The adapters' `tests/conformance.rs` run exactly this.
//! # async fn opt_in(crm: &dyn crm_core::Crm, fixture: &crm_testkit::conformance::Fixture) {
//! let report = crm_testkit::conformance::run(crm, fixture).await;
//! // Every scenario but those needing a capability the connection declares absent.
//! report.assert_counts(25, &[]);
//! # }
//! ```
//!
//! Scenarios are chosen by the connection's [`crm_core::Capabilities`]: a scenario whose
//! capability is missing is reported as skipped, never as passed, and a scenario skips for no
//! other reason (a failure to set it up is a failure). The report names each skip with the
//! capability it lacked; an adapter's test states its exact counts with
//! [`Report::assert_counts`]. Each scenario creates its own
//! records (with a run-unique marker), so scenarios can share one fake.
//!
//! The suite only grows: a bug fixed in one adapter gets a scenario here, so every adapter is
//! checked for it.

mod scenarios;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crm_core::{Crm, Email, ObjectKind, Phone};

/// Lets the suite inject faults into the fake the connection talks to, and read back what the
/// fake saw and holds.
pub trait FaultInjector: Send + Sync {
    /// The next `n` requests get a `200` whose JSON body is truncated.
    fn malformed_next(&self, n: u32);
    /// The next `n` requests get a `502` HTML page.
    fn html_next(&self, n: u32);
    /// The next `n` requests get the vendor's limit answer (HubSpot's `429`, Salesforce's `403
    /// REQUEST_LIMIT_EXCEEDED`, the sandbox's `429`) with `Retry-After: retry_after` (whole
    /// seconds, rounded up). HubSpot and Salesforce document no `Retry-After` on these answers,
    /// but a gateway in front of them may add one, and HTTP says a client honours it on any
    /// status: the suite checks that the retry waits at least that long.
    fn rate_limit_next(&self, n: u32, retry_after: Duration);
    /// The next `n` writes (creates, updates, batch writes; not searches or batch reads) are
    /// carried out, then their answer is lost as `how` says.
    fn after_commit_next(&self, n: u32, how: LostAnswer);
    /// Removes every pending fault. The arrivals are kept.
    fn clear(&self);
    /// Every request the fake's fault engine saw, oldest first (token requests of vendors with
    /// a separate login server are not included).
    fn arrivals(&self) -> Vec<Arrival>;
    /// How many live records of `kind` hold `marker` anywhere in their fields, read from the
    /// fake's store (not through the adapter): the ground truth for lost and duplicated writes.
    fn count_marked(&self, kind: ObjectKind, marker: &str) -> usize;
}

/// How the answer to a write the fake carried out is lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LostAnswer {
    /// The vendor's own 5xx answer (HubSpot's `502` page, Salesforce's `500
    /// UNKNOWN_EXCEPTION`, the sandbox's `502`).
    #[default]
    ServerError,
    /// The connection drops in the middle of the answer.
    Reset,
    /// The answer comes only after this long, so a client with a shorter timeout gives up.
    Timeout(Duration),
}

/// One request as the fake's fault engine saw it arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// When it arrived, on tokio's clock (paused time in a test that pauses it).
    pub at: tokio::time::Instant,
    /// Whether it was a write.
    pub write: bool,
    /// Whether it was answered with the vendor's limit answer.
    pub limited: bool,
    /// Whether it was carried out and its answer then lost.
    pub answer_lost: bool,
}

/// What the suite needs to know about the fake's seeded data.
#[derive(Clone)]
pub struct Fixture {
    /// A seeded contact's email, as a customer would type it (any case).
    pub customer_email: Email,
    /// The same contact's phone, written differently from how the fake stores it.
    pub customer_phone: Phone,
    /// The same contact's external id.
    pub customer_external_id: String,
    /// The fake holds at least this many contacts (for paging).
    pub min_contacts: usize,
    /// What the 360° view of that contact must and must not show, from the fake's seeds.
    pub view_seeds: ViewSeeds,
    /// Fault injection into the fake.
    pub faults: Arc<dyn FaultInjector>,
    /// The connection's request timeout: an answer the fake delays past it is a timeout.
    /// Keep it short (a few seconds), the timeout scenarios wait it out.
    pub client_timeout: Duration,
}

/// The seeded records a 360° view of the fixture's customer is checked against, by vendor id.
///
/// `open_*` are every open record linked to the customer in any way the vendor links them (a
/// contact's account, a role or association, a direct contact field): the view must list each
/// one (the view's limits are raised to fit them). `absent_*` are records the view must not list:
/// the customer's closed ones and other customers' open ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewSeeds {
    /// Open tickets linked to the customer.
    pub open_tickets: Vec<String>,
    /// Open opportunities linked to the customer.
    pub open_opportunities: Vec<String>,
    /// Tickets the view must not list.
    pub absent_tickets: Vec<String>,
    /// Opportunities the view must not list.
    pub absent_opportunities: Vec<String>,
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("min_contacts", &self.min_contacts)
            .field("client_timeout", &self.client_timeout)
            .finish_non_exhaustive()
    }
}

/// How one scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every check held.
    Passed,
    /// The connection declares a capability the scenario needs absent; the reason names it.
    Skipped(String),
    /// A check failed; the message says which and why.
    Failed(String),
}

/// The outcome of every scenario, by name.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Scenario name and outcome, in run order.
    pub results: Vec<(&'static str, Outcome)>,
}

impl Report {
    /// Names of failed scenarios with their messages.
    pub fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|(name, o)| match o {
                Outcome::Failed(msg) => Some(format!("{name}: {msg}")),
                _ => None,
            })
            .collect()
    }

    /// How many scenarios passed.
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|(_, o)| *o == Outcome::Passed)
            .count()
    }

    /// Names of skipped scenarios with the capability each lacked.
    pub fn skipped(&self) -> Vec<(&'static str, &str)> {
        self.results
            .iter()
            .filter_map(|(name, o)| match o {
                Outcome::Skipped(why) => Some((*name, why.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Fails the calling test unless nothing failed, exactly `passed` scenarios passed, and
    /// exactly the scenarios named in `skipped` were skipped: a scenario that starts skipping
    /// (or a new one nobody counted) fails the adapter's test instead of going unnoticed.
    ///
    /// # Panics
    /// When the outcome differs; this is meant to be called from a test.
    #[allow(clippy::panic)]
    pub fn assert_counts(&self, passed: usize, skipped: &[&str]) {
        self.assert_passed();
        let got: Vec<&str> = self.skipped().iter().map(|(name, _)| *name).collect();
        if self.passed() != passed || got != skipped {
            panic!(
                "expected {passed} passed and skipped {skipped:?}; got {} passed and skipped {got:?}:\n{self}",
                self.passed()
            );
        }
    }

    /// Fails the calling test with every failure listed, if there is any.
    ///
    /// # Panics
    /// When a scenario failed; this is meant to be called from a test.
    #[allow(clippy::panic)]
    pub fn assert_passed(&self) {
        let failures = self.failures();
        if !failures.is_empty() {
            panic!(
                "{} of {} conformance scenarios failed:\n{}",
                failures.len(),
                self.results.len(),
                failures.join("\n")
            );
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, outcome) in &self.results {
            match outcome {
                Outcome::Passed => writeln!(f, "pass  {name}")?,
                Outcome::Skipped(why) => writeln!(f, "skip  {name} ({why})")?,
                Outcome::Failed(why) => writeln!(f, "FAIL  {name}: {why}")?,
            }
        }
        Ok(())
    }
}

/// Runs every scenario against `crm` and reports each outcome. Faults are cleared after each
/// scenario.
pub async fn run(crm: &dyn Crm, fixture: &Fixture) -> Report {
    let mut report = Report::default();
    for (name, scenario) in scenarios::ALL {
        fixture.faults.clear();
        let outcome = scenario(crm, fixture).await;
        fixture.faults.clear();
        report.results.push((name, outcome));
    }
    report
}
