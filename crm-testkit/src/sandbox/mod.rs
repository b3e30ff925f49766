//! The sandbox CRM: a stateful fake of "a company's own REST CRM", served over HTTP on
//! 127.0.0.1 by a `wiremock` server.
//!
//! Its wire protocol is `crm-testkit/SANDBOX_API.md`; the generic-REST adapter's default spec
//! describes exactly this server. Tests and demos start one with [`Sandbox::start`], point a
//! client at [`Sandbox::base_url`] with [`Sandbox::token`], and can inject faults with
//! [`Sandbox::set_faults`] (or through [`crate::conformance::FaultInjector`], which `Sandbox`
//! implements) or play "an agent in the CRM UI" with [`Sandbox::update_record`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};
//!
//! let sandbox = Sandbox::start(SandboxConfig::default()).await;
//! let jane = sandbox.record("contacts", demo::CUSTOMER_CONTACT_ID);
//! assert!(jane.is_some());
//! assert!(sandbox.base_url().starts_with("http://127.0.0.1:"));
//! println!("CRM at {} (token {})", sandbox.base_url(), sandbox.token());
//! # }
//! ```

pub mod demo;
mod error;
mod faults;
mod injector;
mod list;
mod routes;
mod schema;
mod store;
pub mod webhooks;

use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use wiremock::{Mock, MockServer, matchers};

use crate::faults::Injected;
use crate::sync::lock;
pub use faults::Faults;
use routes::{SandboxResponder, State};
use store::Store;

/// How to start a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The bearer token every request must carry (default `sandbox-token`).
    pub token: String,
    /// Seed the demo data set (see [`demo`]); default `true`.
    pub demo_data: bool,
    /// Seed this many extra contacts `bulk-001@example.com`, … for paging tests; default 0.
    pub extra_contacts: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            token: "sandbox-token".to_owned(),
            demo_data: true,
            extra_contacts: 0,
        }
    }
}

impl SandboxConfig {
    /// Sets the bearer token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// Turns the demo data on or off.
    #[must_use]
    pub fn with_demo_data(mut self, demo_data: bool) -> Self {
        self.demo_data = demo_data;
        self
    }

    /// Sets the number of extra bulk contacts.
    #[must_use]
    pub fn with_extra_contacts(mut self, extra_contacts: usize) -> Self {
        self.extra_contacts = extra_contacts;
        self
    }
}

/// What the sandbox has served since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Every request received, whatever its outcome.
    pub total: usize,
    /// `GET` requests.
    pub get: usize,
    /// `POST` requests.
    pub post: usize,
    /// `PUT` requests.
    pub put: usize,
    /// `PATCH` requests.
    pub patch: usize,
    /// Requests with any other method.
    pub other: usize,
    /// `429` responses sent by the rate-limit storm.
    pub rate_limited: usize,
    /// Other injected faults: `503`s, after-commit `502`s, malformed and HTML bodies.
    pub faults_injected: usize,
    /// The after-commit faults among `faults_injected` (the write was applied).
    pub after_commit: usize,
}

impl RequestStats {
    fn count(&mut self, method: &str) {
        self.total += 1;
        match method {
            "GET" => self.get += 1,
            "POST" => self.post += 1,
            "PUT" => self.put += 1,
            "PATCH" => self.patch += 1,
            _ => self.other += 1,
        }
    }

    fn note_fault(&mut self, fault: Injected) {
        match fault {
            Injected::Limited => self.rate_limited += 1,
            Injected::AfterCommit => {
                self.after_commit += 1;
                self.faults_injected += 1;
            }
            _ => self.faults_injected += 1,
        }
    }
}

/// A running sandbox CRM. Dropping it stops the server.
///
/// Every method is synchronous and cheap: the state sits behind a mutex that is never held
/// across an await, so tests can inspect or edit it between requests.
pub struct Sandbox {
    server: MockServer,
    state: Arc<Mutex<State>>,
    token: String,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts a sandbox on a random free port of 127.0.0.1.
    pub async fn start(config: SandboxConfig) -> Sandbox {
        let server = crate::wire::server().await;
        Self::mount(server, config).await
    }

    /// Starts a sandbox on a fixed port of 127.0.0.1 (for the CLI and demos); fails when the
    /// port is taken.
    pub async fn start_on(port: u16, config: SandboxConfig) -> std::io::Result<Sandbox> {
        let server = crate::wire::server_on(port).await?;
        Ok(Self::mount(server, config).await)
    }

    async fn mount(server: MockServer, config: SandboxConfig) -> Sandbox {
        let mut store = Store::new();
        if let Err(e) = demo::seed(&mut store, config.demo_data, config.extra_contacts) {
            tracing::warn!(error = %e, "sandbox seed data was not fully loaded");
        }
        let state = Arc::new(Mutex::new(State::new(config.token.clone(), store)));
        let origin = format!("http://{}", server.address());
        Mock::given(matchers::any())
            .respond_with(SandboxResponder {
                state: Arc::clone(&state),
                origin,
            })
            .mount(&server)
            .await;
        Sandbox {
            server,
            state,
            token: config.token,
        }
    }

    /// The API's base URL: `http://127.0.0.1:PORT/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.server.address(), routes::BASE_PATH)
    }

    /// The bearer token requests must carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Replaces the fault settings (and restarts their seeded sequence and "next N" counters).
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.state).faults = crate::faults::FaultState::new(faults);
    }

    /// Counts of what the sandbox has served so far.
    pub fn requests(&self) -> RequestStats {
        lock(&self.state).stats.clone()
    }

    /// All records of `object` (`contacts`, `tickets`, …) as the API renders them, oldest
    /// first; empty for an unknown object.
    pub fn records(&self, object: &str) -> Vec<Value> {
        let state = lock(&self.state);
        state
            .store
            .table(object)
            .map(|t| t.records.iter().map(|r| r.render(t.spec)).collect())
            .unwrap_or_default()
    }

    /// One record as the API renders it.
    pub fn record(&self, object: &str, id: &str) -> Option<Value> {
        lock(&self.state).store.get(object, id)
    }

    /// Edits a record as an agent in the CRM's UI would (e.g. closing a ticket): same rules as
    /// a `PATCH` (so `updated_at` moves on a real change), but outside HTTP, so no faults, auth
    /// or request counting. Returns `false` when the record does not exist or the edit is
    /// invalid.
    pub fn update_record(&self, object: &str, id: &str, fields: Map<String, Value>) -> bool {
        lock(&self.state).store.patch(object, id, &fields).is_ok()
    }

    /// Takes the change events recorded since the last call (every create and every real
    /// change, by API or by [`Sandbox::update_record`]), oldest first, in the webhook format of
    /// SANDBOX_API.md. Post them with a [`webhooks::WebhookEmitter`].
    pub fn take_events(&self) -> Vec<Value> {
        std::mem::take(&mut lock(&self.state).store.changes)
    }
}
