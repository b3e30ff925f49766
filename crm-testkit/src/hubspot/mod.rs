//! A stateful fake of HubSpot's CRM API, served over HTTP on 127.0.0.1 by a `wiremock` server,
//! faithful to HubSpot's API reference and usage guidelines:
//!
//! - records under `/crm/v3/objects/{contacts|companies|deals|tickets|notes|tasks|calls}` (also
//!   by object type id `0-1`…) and the date-versioned `/crm/objects/2026-03/…` family
//!   ([`PathFamilies`]); string property values, `null` for requested-but-unset properties, ISO
//!   timestamps with milliseconds and `Z`, numeric-string ids;
//! - GET/POST/PATCH/DELETE of one record (`idProperty=email` lookups), list paging with `after`,
//!   batch read/create/update/upsert/archive (≤100 inputs; 207 per-item results only when every
//!   input has an `objectWriteTraceId`, otherwise the first bad input fails the batch);
//! - search with filter groups, the documented operators, both sort shapes, `after` paging,
//!   the 5 × 6 / 18 filter caps, limit 200, the 10,000-result cap, and an eventual-consistency
//!   lag, on by default ([`DEFAULT_SEARCH_LAG`], [`HubSpotFakeConfig::without_search_lag`],
//!   [`HubSpotFake::set_search_lag`]);
//! - validation errors in HubSpot's body shape (`PROPERTY_DOESNT_EXIST`, `INVALID_OPTION`,
//!   `INVALID_EMAIL`, `REQUIRED_PROPERTY` for `hs_timestamp` on engagements…), case-insensitive
//!   unique email with the 409 `Contact already exists. Existing ID: N`;
//! - v4 associations (inline on create, PUT/GET/DELETE per record, batch read/create), the
//!   pipelines API with default ticket and deal pipelines;
//! - the rolling 10-second window with `X-HubSpot-RateLimit-*` headers and the
//!   `errorType: RATE_LIMIT` 429, search's 5-per-second bucket and its `category: RATE_LIMITS`
//!   429 without headers, a daily budget, `X-HubSpot-Correlation-Id` on every response;
//! - a private-app token plus an OAuth token endpoint (`/oauth/v1/token`, 1800 s access tokens,
//!   refresh grant, `BAD_REFRESH_TOKEN`), 401 `EXPIRED_AUTHENTICATION` vs
//!   `INVALID_AUTHENTICATION`;
//! - fault injection ([`HubSpotFaults`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use crm_testkit::hubspot::{DEFAULT_SEARCH_LAG, HubSpotFake, HubSpotFakeConfig, demo};
//! let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
//! assert!(fake.record("contacts", demo::CUSTOMER_CONTACT_ID).is_some());
//! assert!(fake.base_url().starts_with("http://127.0.0.1:"));
//! println!("HubSpot at {} (token {})", fake.base_url(), fake.token());
//! // Search lags behind writes unless a test opts out.
//! assert_eq!(HubSpotFakeConfig::default().search_lag, DEFAULT_SEARCH_LAG);
//! let immediate = HubSpotFakeConfig::default().without_search_lag();
//! assert!(immediate.search_lag.is_zero());
//! # }
//! ```

mod api;
pub mod demo;
mod error;
mod faults;
mod limits;
mod oauth;
mod routes;
mod schema;
mod search;
mod store;
pub mod webhooks;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use wiremock::{Mock, MockServer, matchers};

pub use faults::HubSpotFaults;
pub use limits::Limits;
pub use oauth::OAuthConfig;
pub use schema::{CustomKind, CustomProperty};

use crate::clock::Clock;
use crate::faults::{FaultState, Injected};
use crate::sync::lock;
use limits::Counters;
use oauth::OAuthState;
use routes::{HubSpotResponder, State};
use store::Store;

/// Which path families the fake serves: classic `/crm/v3/…` and date-versioned (HubSpot's specs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathFamilies {
    /// `/crm/v3/objects`, `/crm/v4/...`, `/crm/v3/pipelines` and `/crm/objects/2026-03`, ….
    #[default]
    Both,
    /// Only the classic `/crm/v3` (and `/crm/v4` associations) family.
    V3Only,
    /// Only the date-versioned `/crm/objects/2026-03` family.
    DatedOnly,
}

/// How to start a fake.
#[derive(Clone, Debug)]
pub struct HubSpotFakeConfig {
    /// The private-app token requests may carry (default `pat-na1-fake-token`).
    pub private_app_token: String,
    /// The OAuth app.
    pub oauth: OAuthConfig,
    /// Seed the demo data ([`demo`]); default `true`.
    pub demo_data: bool,
    /// Seed this many extra contacts `bulk-001@example.com`, … (ids 2001…); default 0.
    pub extra_contacts: usize,
    /// Custom properties on top of HubSpot's defaults. Default none: a stock portal, as a new
    /// account has it. Declare what a test needs, as an admin would
    /// ([`demo::custom_properties`], [`demo::idempotency_properties`],
    /// [`HubSpotFakeConfig::with_demo_properties`]); demo values of undeclared properties are
    /// not seeded.
    pub custom_properties: Vec<CustomProperty>,
    /// The path families served.
    pub paths: PathFamilies,
    /// The limits enforced.
    pub limits: Limits,
    /// How long a create or update takes to become visible to search ([`DEFAULT_SEARCH_LAG`]
    /// unless a test opts out with [`HubSpotFakeConfig::without_search_lag`]). Reads by id,
    /// by `idProperty` and batch reads see every write at once; only search lags, as HubSpot's
    /// search index does. The lag runs on tokio's clock of the runtime that started the fake,
    /// so a test on paused time advances through it.
    pub search_lag: Duration,
}

/// How long the fake's search index lags behind writes by default. HubSpot's search docs say
/// newly created or updated records "may take a few moments to appear in search results"; a few
/// hundred milliseconds is enough for a lookup right after a write to miss the record, which is
/// what an adapter must cope with.
pub const DEFAULT_SEARCH_LAG: Duration = Duration::from_millis(300);

impl Default for HubSpotFakeConfig {
    fn default() -> Self {
        Self {
            private_app_token: "pat-na1-fake-token".into(),
            oauth: OAuthConfig::default(),
            demo_data: true,
            extra_contacts: 0,
            custom_properties: Vec::new(),
            paths: PathFamilies::Both,
            limits: Limits::default(),
            search_lag: DEFAULT_SEARCH_LAG,
        }
    }
}

impl HubSpotFakeConfig {
    /// The default portal with every custom property of [`demo::custom_properties`] declared:
    /// what crm-connect's optional HubSpot settings (`external_id_property`,
    /// `idempotency_property`, `lead_source_property`, `activity_kind_property`) name, plus the
    /// demo customer's own fields.
    pub fn with_demo_properties() -> Self {
        Self {
            custom_properties: demo::custom_properties(),
            ..Self::default()
        }
    }

    /// This config with search lagging `lag` behind writes.
    #[must_use]
    pub fn with_search_lag(self, lag: Duration) -> Self {
        Self {
            search_lag: lag,
            ..self
        }
    }

    /// This config with every write visible to search at once: an opt-out for a test that
    /// checks something other than how a client copes with search's lag. Real portals lag.
    #[must_use]
    pub fn without_search_lag(self) -> Self {
        self.with_search_lag(Duration::ZERO)
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
    /// Batch requests (`…/batch/…`) that got past auth and limits.
    pub batch: usize,
    /// Token endpoint requests.
    pub token: usize,
    /// 429s from the fake's limits (not injected storms).
    pub rate_limited: usize,
    /// Injected faults (429 storms, HTML pages, malformed bodies, 503s, after-commit 502s).
    pub faults_injected: usize,
    /// After-commit faults among `faults_injected`.
    pub after_commit: usize,
    /// `METHOD /path` of every request, in order (paths as sent, query strings left out).
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

/// The OAuth client a test configures an adapter with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClient {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// A refresh token the fake accepts.
    pub refresh_token: String,
}

/// A running HubSpot fake. Dropping it stops the server.
///
/// Every method is synchronous and cheap: the state sits behind a mutex never held across an
/// await, so tests can inspect or edit it between requests.
pub struct HubSpotFake {
    server: MockServer,
    state: Arc<Mutex<State>>,
    config: HubSpotFakeConfig,
}

impl fmt::Debug for HubSpotFake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpotFake")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl HubSpotFake {
    /// Starts a fake on a random free port of 127.0.0.1.
    pub async fn start(config: HubSpotFakeConfig) -> HubSpotFake {
        let server = crate::wire::server().await;
        Self::mount(server, config).await
    }

    /// Starts a fake on a fixed port of 127.0.0.1 (demos); fails when the port is taken.
    pub async fn start_on(port: u16, config: HubSpotFakeConfig) -> std::io::Result<HubSpotFake> {
        let server = crate::wire::server_on(port).await?;
        Ok(Self::mount(server, config).await)
    }

    async fn mount(server: MockServer, config: HubSpotFakeConfig) -> HubSpotFake {
        let mut store = Store::new(&config.custom_properties);
        if let Err(e) = demo::seed(&mut store, config.demo_data, config.extra_contacts) {
            tracing::warn!(error = %e, "HubSpot fake seed data was not fully loaded");
        }
        // Seeds are indexed already; writes from here on lag, on the starting runtime's clock.
        store.set_search_lag(config.search_lag);
        store.set_clock(Clock::of_current_runtime());
        let state = State::new(
            store,
            // The windows and the arrival log on the same clock as the search lag.
            Counters::new(config.limits, Clock::of_current_runtime()),
            OAuthState::new(config.oauth.clone()),
            config.private_app_token.clone(),
            config.paths,
        );
        let state = Arc::new(Mutex::new(state));
        Mock::given(matchers::any())
            .respond_with(HubSpotResponder {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        HubSpotFake {
            server,
            state,
            config,
        }
    }

    /// The API base URL, `http://127.0.0.1:PORT` (HubSpot's is `https://api.hubapi.com`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.address())
    }

    /// The private-app token.
    pub fn token(&self) -> &str {
        &self.config.private_app_token
    }

    /// The OAuth client and a refresh token the fake accepts.
    pub fn oauth_client(&self) -> OAuthClient {
        OAuthClient {
            client_id: self.config.oauth.client_id.clone(),
            client_secret: self.config.oauth.client_secret.clone(),
            refresh_token: self.config.oauth.refresh_token.clone(),
        }
    }

    /// Makes every OAuth access token issued so far expired (as if 30 minutes had passed).
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
    pub fn set_faults(&self, faults: HubSpotFaults) {
        lock(&self.state).faults = FaultState::new(faults);
    }

    /// Sets how long writes take to become visible to search (from the next write on; writes
    /// already waiting keep their time).
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

    /// All live records of `object` (`contacts`, `0-5`, …) with every property they have,
    /// oldest id first; empty for an unknown object.
    pub fn records(&self, object: &str) -> Vec<Value> {
        let st = lock(&self.state);
        let Some(idx) = st.store.object_index(object) else {
            return Vec::new();
        };
        let mut out: Vec<(u64, Value)> = st
            .store
            .table(idx)
            .map(|t| {
                t.live()
                    .map(|r| {
                        let names: Vec<String> = r.props.keys().cloned().collect();
                        (r.id, st.store.render(idx, r, &r.props, Some(&names)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|(id, _)| *id);
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// One live record with every property it has.
    pub fn record(&self, object: &str, id: &str) -> Option<Value> {
        let st = lock(&self.state);
        let idx = st.store.object_index(object)?;
        let r = st.store.get(idx, id.parse().ok()?)?;
        let names: Vec<String> = r.props.keys().cloned().collect();
        Some(st.store.render(idx, r, &r.props, Some(&names)))
    }

    /// The id of the live record whose unique `property` holds `value` (emails compared
    /// case-insensitively).
    pub fn find(&self, object: &str, property: &str, value: &str) -> Option<String> {
        let st = lock(&self.state);
        let idx = st.store.object_index(object)?;
        st.store
            .find_unique(idx, property, value)
            .map(|id| id.to_string())
    }

    /// Ids of the `to` records associated with a record, ascending.
    pub fn associations(&self, object: &str, id: &str, to: &str) -> Vec<String> {
        let st = lock(&self.state);
        let (Some(from), Some(to), Ok(id)) = (
            st.store
                .object_index(object)
                .and_then(|i| st.store.object(i))
                .map(|o| o.name),
            st.store
                .object_index(to)
                .and_then(|i| st.store.object(i))
                .map(|o| o.name),
            id.parse::<u64>(),
        ) else {
            return Vec::new();
        };
        st.store
            .associated(from, id, to)
            .into_iter()
            .map(|(i, _)| i.to_string())
            .collect()
    }

    /// Edits a record as an agent in HubSpot's UI would (same rules as a PATCH, but outside
    /// HTTP: no auth, limits, faults or counting). `false` when the record is missing or the
    /// edit invalid.
    pub fn update_record(&self, object: &str, id: &str, properties: Map<String, Value>) -> bool {
        let mut st = lock(&self.state);
        let (Some(idx), Ok(num)) = (st.store.object_index(object), id.parse::<u64>()) else {
            return false;
        };
        if st.store.update(idx, num, &properties).is_err() {
            return false;
        }
        // One propertyChange event per property, as HubSpot sends them.
        for (name, value) in &properties {
            let extra = serde_json::json!({"propertyName": name, "propertyValue": value});
            webhooks::log(&mut st, object, num, "propertyChange", extra);
        }
        true
    }

    /// Takes the webhook events of UI-side changes ([`HubSpotFake::update_record`],
    /// [`HubSpotFake::create_record`]) recorded since the last call, oldest first, in HubSpot's
    /// payload format; post them with a [`webhooks::HubSpotEmitter`].
    pub fn take_webhook_events(&self) -> Vec<Value> {
        std::mem::take(&mut lock(&self.state).webhooks)
    }

    /// Creates a record as an agent in the UI would; its id, or `None` when invalid.
    pub fn create_record(&self, object: &str, properties: Map<String, Value>) -> Option<String> {
        let mut st = lock(&self.state);
        let idx = st.store.object_index(object)?;
        let id = st.store.create(idx, &properties, &[]).ok()?;
        webhooks::log(&mut st, object, id, "creation", serde_json::json!({}));
        Some(id.to_string())
    }
}
