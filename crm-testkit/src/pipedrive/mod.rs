//! A stateful fake of Pipedrive's API, served over HTTP on 127.0.0.1 by a `wiremock` server,
//! faithful to Pipedrive's API reference and its concept pages:
//!
//! - API v2 for persons, organizations, deals and activities (`/api/v2/{entity}`, GET/POST,
//!   `/{id}` GET/PATCH/DELETE), integer ids, RFC 3339 times, custom fields in a
//!   `custom_fields` object keyed by 40-character hashes ([`demo::custom_fields`]), emails and
//!   phones as arrays of `{value, primary, label}`; cursor paging (`cursor`, `limit` ≤ 500,
//!   `additional_data.next_cursor`), `sort_by`/`sort_direction`, the documented filters
//!   (`org_id`, `person_id`, `status`, `done`, `updated_since`, …);
//! - API v1 for leads (UUID ids, PATCH, custom fields as top-level keys) and notes (PUT), offset
//!   paging (`start`, `limit`, `additional_data.pagination`);
//! - search (`/api/v2/{persons|organizations|deals|leads}/search`: `term`, `fields`,
//!   `exact_match`, `organization_id`, results under `data.items` with `result_score`), which
//!   sees writes only after a lag ([`PipedriveFake::set_search_lag`]);
//! - the response envelope `{success, data, additional_data}` and the error envelope
//!   `{success: false, error, error_info, data: null, additional_data: null}`, validation
//!   errors naming the field (`Validation failed: <field>: …`);
//! - authentication by the `x-api-token` header (or the legacy `api_token` query parameter)
//!   or an OAuth bearer token from `POST /oauth/token` (refresh grant, client by HTTP Basic,
//!   rotating refresh tokens, `expires_in: 3599`);
//! - the burst window and daily token budget ([`Limits`]) with the `x-ratelimit-*` and
//!   `x-daily-requests-left` headers and the `429` `Request over limit`;
//! - fault injection ([`PipedriveFaults`]) and a request log ([`RequestStats`]).
//!
//! Where Pipedrive's documentation is silent the fake makes a stated choice: it does not check
//! the syntax of emails (Pipedrive stores what an agent types), an unknown path is a `404`
//! `Unknown method .`, and a spent daily budget is the same `429` with `x-ratelimit-reset`
//! counting to midnight UTC.
//!
//! ```no_run
//! # async fn demo() {
//! use crm_testkit::pipedrive::{PipedriveFake, PipedriveFakeConfig, Entity, demo};
//! let fake = PipedriveFake::start(PipedriveFakeConfig::default()).await;
//! assert!(fake.record(Entity::Persons, demo::CUSTOMER_PERSON_ID).is_some());
//! println!("Pipedrive at {} (token {})", fake.base_url(), fake.api_token());
//! # }
//! ```

mod api;
pub mod demo;
mod error;
mod limits;
mod routes;
mod store;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_core::ObjectKind;
use serde_json::{Map, Value, json};
use wiremock::{Mock, MockServer, matchers};

pub use limits::Limits;
pub use store::{ACTIVITY_TYPES, CustomField, Entity};

use crate::conformance::{Arrival, FaultInjector, LostAnswer};
use crate::faults::{FaultState, Injected, Plan};
use crate::sync::lock;
use routes::{OAuthState, PipedriveResponder, State};
use store::Store;

/// The OAuth app a fake company has installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthApp {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// A refresh token the fake accepts (once: refresh tokens rotate).
    pub refresh_token: String,
}

impl Default for OAuthApp {
    fn default() -> Self {
        Self {
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            refresh_token: "fake-refresh-token".into(),
        }
    }
}

/// How to start a fake.
#[derive(Clone, Debug)]
pub struct PipedriveFakeConfig {
    /// The personal API token requests may carry.
    pub api_token: String,
    /// The OAuth app.
    pub oauth: OAuthApp,
    /// Seed the demo company ([`demo`]); default `true`.
    pub demo_data: bool,
    /// Seed this many extra persons `bulk-001@example.com`, …; default 0.
    pub extra_persons: usize,
    /// The company's custom fields; default [`demo::custom_fields`].
    pub custom_fields: Vec<CustomField>,
    /// The limits enforced.
    pub limits: Limits,
    /// How long writes take to become visible to search; default zero.
    pub search_lag: Duration,
}

impl Default for PipedriveFakeConfig {
    fn default() -> Self {
        Self {
            api_token: "fake0api0token0000000000000000000000000a".into(),
            oauth: OAuthApp::default(),
            demo_data: true,
            extra_persons: 0,
            custom_fields: demo::custom_fields(),
            limits: Limits::default(),
            search_lag: Duration::ZERO,
        }
    }
}

/// What the fake has served since it started.
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
    /// `DELETE` requests.
    pub delete: usize,
    /// Search requests that got past auth and limits.
    pub search: usize,
    /// Token endpoint requests.
    pub token: usize,
    /// 429s from the fake's limits (not injected ones).
    pub rate_limited: usize,
    /// Injected faults.
    pub faults_injected: usize,
    /// After-commit faults among `faults_injected`.
    pub after_commit: usize,
    /// `METHOD /path` of every request, in order (query strings left out).
    pub log: Vec<String>,
}

impl RequestStats {
    fn count(&mut self, method: &str, path: &str) {
        self.total += 1;
        match method {
            "GET" => self.get += 1,
            "POST" => self.post += 1,
            "PUT" => self.put += 1,
            "PATCH" => self.patch += 1,
            "DELETE" => self.delete += 1,
            _ => {}
        }
        self.log.push(format!("{method} {path}"));
    }

    fn note_fault(&mut self, fault: Injected) {
        self.faults_injected += 1;
        if fault == Injected::AfterCommit {
            self.after_commit += 1;
        }
    }
}

/// Faults the fake injects (test control, not part of Pipedrive's API).
///
/// Decided per request before authentication, in this order: `rate_limit_next`, `html_next`,
/// `malformed_next`, `after_commit_next` (writes only), then the seeded `fail_rate` roll.
#[derive(Clone, Debug, Default)]
pub struct PipedriveFaults {
    /// Share of requests (0.0–1.0) that fault: a `503` before anything is written, or for a
    /// share of writes (`after_commit_share`) the write is applied and a `502` page returned.
    pub fail_rate: f64,
    /// Share (0.0–1.0) of faulted writes applied before the `502`.
    pub after_commit_share: f64,
    /// Seed of the rolls.
    pub seed: u64,
    /// Delay added to every response.
    pub latency: Duration,
    /// The next N requests get Pipedrive's `429` with `x-ratelimit-remaining: 0`.
    pub rate_limit_next: u32,
    /// A `Retry-After` (seconds) on those 429s; `0` sends none.
    pub retry_after_secs: u64,
    /// The next N requests get `200` with a truncated JSON body.
    pub malformed_next: u32,
    /// The next N requests get the edge's `502` HTML page.
    pub html_next: u32,
    /// The next N writes are applied, then their answer is lost.
    pub after_commit_next: u32,
    /// How the answer of those writes is lost.
    pub after_commit_how: LostAnswer,
}

impl From<PipedriveFaults> for Plan {
    fn from(f: PipedriveFaults) -> Self {
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

/// A running Pipedrive fake. Dropping it stops the server.
///
/// Every method is synchronous and cheap: the state sits behind a mutex never held across an
/// await, so tests can inspect or edit it between requests.
pub struct PipedriveFake {
    server: MockServer,
    state: Arc<Mutex<State>>,
    config: PipedriveFakeConfig,
}

impl fmt::Debug for PipedriveFake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipedriveFake")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl PipedriveFake {
    /// Starts a fake on a random free port of 127.0.0.1.
    pub async fn start(config: PipedriveFakeConfig) -> PipedriveFake {
        Self::mount(crate::wire::server().await, config).await
    }

    /// Starts a fake on a fixed port of 127.0.0.1 (demos); fails when the port is taken.
    pub async fn start_on(
        port: u16,
        config: PipedriveFakeConfig,
    ) -> std::io::Result<PipedriveFake> {
        Ok(Self::mount(crate::wire::server_on(port).await?, config).await)
    }

    async fn mount(server: MockServer, config: PipedriveFakeConfig) -> PipedriveFake {
        let mut store = Store::new(config.custom_fields.clone(), demo::FIRST_IDS);
        if let Err(e) = demo::seed(&mut store, config.demo_data, config.extra_persons) {
            tracing::warn!(error = %e, "Pipedrive fake seed data was not fully loaded");
        }
        store.set_search_lag(config.search_lag);
        let state = Arc::new(Mutex::new(State {
            store,
            faults: FaultState::default(),
            stats: RequestStats::default(),
            limits: limits::Counters::new(config.limits),
            oauth: OAuthState::new(config.oauth.clone()),
            api_token: config.api_token.clone(),
            webhooks: Vec::new(),
        }));
        Mock::given(matchers::any())
            .respond_with(PipedriveResponder {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        PipedriveFake {
            server,
            state,
            config,
        }
    }

    /// The base URL, `http://127.0.0.1:PORT` (a company's is `https://{company}.pipedrive.com`);
    /// paths are `/api/v2/…` and `/api/v1/…` (or `/v1/…`) under it.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.address())
    }

    /// The personal API token.
    pub fn api_token(&self) -> &str {
        &self.config.api_token
    }

    /// The OAuth app and a refresh token the fake accepts.
    pub fn oauth_app(&self) -> OAuthApp {
        self.config.oauth.clone()
    }

    /// Makes every access token issued so far expired (as if an hour had passed).
    pub fn expire_access_tokens(&self) {
        lock(&self.state).oauth.expire_all();
    }

    /// Revokes every refresh token (the app was uninstalled).
    pub fn revoke_refresh_tokens(&self) {
        lock(&self.state).oauth.revoke_refresh_tokens();
    }

    /// How many access tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> usize {
        lock(&self.state).oauth.issued
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: PipedriveFaults) {
        lock(&self.state).faults = FaultState::new(faults);
    }

    /// Sets how long writes take to become visible to search (from the next write on).
    pub fn set_search_lag(&self, lag: Duration) {
        lock(&self.state).store.set_search_lag(lag);
    }

    /// Makes every pending write visible to search now.
    pub fn flush_search_index(&self) {
        lock(&self.state).store.refresh_index(true);
    }

    /// Counts of what the fake has served so far.
    pub fn requests(&self) -> RequestStats {
        lock(&self.state).stats.clone()
    }

    /// Tokens of the daily budget spent so far.
    pub fn tokens_spent(&self) -> u64 {
        lock(&self.state).limits.tokens_used
    }

    /// Every live record of `entity` as the API returns it, oldest id first.
    pub fn records(&self, entity: Entity) -> Vec<Value> {
        let st = lock(&self.state);
        st.store
            .rows(entity)
            .map(|r| st.store.render(entity, r))
            .collect()
    }

    /// One live record as the API returns it.
    pub fn record(&self, entity: Entity, id: &str) -> Option<Value> {
        let st = lock(&self.state);
        st.store.get(entity, id).map(|r| st.store.render(entity, r))
    }

    /// Edits a record as an agent in Pipedrive's UI would (same rules as the API, but no auth,
    /// limits, faults or counting); records a `change` webhook event. `false` when the record
    /// is missing or the edit invalid.
    pub fn update_record(&self, entity: Entity, id: &str, fields: Map<String, Value>) -> bool {
        let mut st = lock(&self.state);
        let previous = st.store.get(entity, id).map(|r| st.store.render(entity, r));
        if st
            .store
            .update(entity, id, &fields, chrono::Utc::now())
            .is_err()
        {
            return false;
        }
        webhook(&mut st, entity, id, "change", previous);
        true
    }

    /// Creates a record as an agent in the UI would; its id, or `None` when invalid. Records a
    /// `create` webhook event.
    pub fn create_record(&self, entity: Entity, fields: Map<String, Value>) -> Option<String> {
        let mut st = lock(&self.state);
        let id = st.store.create(entity, &fields, chrono::Utc::now()).ok()?;
        webhook(&mut st, entity, &id, "create", None);
        Some(id)
    }

    /// Takes the webhook events (webhooks v2 payloads: `meta`, `data`, `previous`) of UI-side
    /// changes recorded since the last call, oldest first.
    pub fn take_webhook_events(&self) -> Vec<Value> {
        std::mem::take(&mut lock(&self.state).webhooks)
    }
}

/// A webhooks v2 payload: `meta` (action, entity, entity_id, attempt, version `2.0`), `data`
/// (custom fields inside), `previous` (on changes).
fn webhook(st: &mut State, entity: Entity, id: &str, action: &str, previous: Option<Value>) {
    let data = st.store.get(entity, id).map(|r| st.store.render(entity, r));
    let seq = st.webhooks.len() + 1;
    st.webhooks.push(json!({
        "meta": {
            "action": action,
            "entity": entity.singular(),
            "entity_id": id,
            "id": format!("00000000-0000-4000-8000-{seq:012}"),
            "attempt": 1,
            "version": "2.0",
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "company_id": "1234567",
            "user_id": "1",
            "change_source": "app",
            "is_bulk_edit": false,
            "type": "general",
        },
        "data": data,
        "previous": previous,
    }));
}

/// Pipedrive's entities holding records of `kind` (tickets: none, Pipedrive has no tickets).
fn entities_of(kind: ObjectKind) -> &'static [Entity] {
    match kind {
        ObjectKind::Contact => &[Entity::Persons],
        ObjectKind::Account => &[Entity::Organizations],
        ObjectKind::Opportunity => &[Entity::Deals],
        ObjectKind::Lead => &[Entity::Leads],
        ObjectKind::Activity => &[Entity::Activities, Entity::Notes],
        ObjectKind::Ticket => &[],
    }
}

impl FaultInjector for PipedriveFake {
    fn malformed_next(&self, n: u32) {
        lock(&self.state).faults.malformed_next(n);
    }

    fn html_next(&self, n: u32) {
        lock(&self.state).faults.html_next(n);
    }

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
        entities_of(kind)
            .iter()
            .flat_map(|e| self.records(*e))
            .filter(|r| crate::faults::holds(r, marker))
            .count()
    }
}
