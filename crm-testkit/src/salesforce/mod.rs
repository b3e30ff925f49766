//! A stateful fake of a Salesforce org, faithful to Salesforce's REST API and OAuth docs, served
//! by two `wiremock` servers on 127.0.0.1: the **login** server (the OAuth token endpoint) and
//! the **instance** server (the REST API), on different ports, as `login.salesforce.com` and
//! `MyDomain.my.salesforce.com` are different hosts.
//!
//! What it does:
//! - `POST /services/oauth2/token` with the refresh-token, client-credentials and JWT-bearer
//!   grants (RS256 signature checked against the configured public key, `iss`, `sub`, `aud`,
//!   `exp` at most 3 minutes ahead); the response names the instance server in `instance_url`,
//!   carries `signature = base64(HMAC-SHA256(client_secret, id + issued_at))` and no
//!   `expires_in`. Sessions end after [`SalesforceFakeConfig::token_lifetime`] (or
//!   [`SalesforceFake::expire_sessions`]) with `401 INVALID_SESSION_ID` + `WWW-Authenticate: Token`.
//! - `/services/data/vNN.N/` routing (v20.0–v66.0), `Sforce-Limit-Info: api-usage=N/M` on every
//!   API response, `403 REQUEST_LIMIT_EXCEEDED` once the daily allocation is spent.
//! - sObjects Account, Contact, Lead, Opportunity, Case, Task, Event with real key prefixes and
//!   checksummed 18-character ids (15-character ids accepted): create `201 {id,success,errors}`,
//!   GET with `attributes` and every field (nulls included, `?fields=` honoured), PATCH `204`,
//!   DELETE `204`, `404 NOT_FOUND`; upsert by external id `201` / `200 created:false` (`204`
//!   before v46.0) / `300` with the matching URLs (Contact and Account carry `Legacy_Id__c`, an
//!   External ID that is not Unique, to make that reachable); validation with Salesforce's error codes
//!   (`REQUIRED_FIELD_MISSING` from the recorded describes, `INVALID_FIELD`,
//!   `INVALID_FIELD_FOR_INSERT_UPDATE`, `INVALID_EMAIL_ADDRESS`, `STRING_TOO_LONG`,
//!   `MALFORMED_ID`, `INVALID_CROSS_REFERENCE_KEY`, `JSON_PARSER_ERROR`, `DUPLICATE_VALUE`,
//!   `DUPLICATES_DETECTED` from a Contact-email duplicate rule that
//!   `Sforce-Duplicate-Rule-Header: allowSave=true` bypasses, `CANNOT_UPDATE_CONVERTED_LEAD`
//!   after [`SalesforceFake::convert_lead`], `ENTITY_IS_DELETED`).
//! - SOQL (the subset in `soql.rs`) on `/query` and `/queryAll`, paged through `nextRecordsUrl`
//!   with `Sforce-Query-Options: batchSize=` (200–2,000, default 2,000).
//! - sObject Collections create / update / upsert (≤ 200, per-item `statusCode` errors,
//!   `allOrNone` rollback) and Composite (≤ 25 subrequests, ≤ 5 queries, `@{ref.path}`
//!   references, `allOrNone`), each counting as one API call.
//! - Fault injection ([`Faults`]): seeded fail rate, after-commit faults, latency, truncated
//!   JSON, HTML error pages, and `403 REQUEST_LIMIT_EXCEEDED` in place of the 429 Salesforce
//!   never sends.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig, demo};
//! let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
//! assert!(org.record("Contact", demo::CUSTOMER_CONTACT_ID).is_some());
//! assert!(org.login_url().starts_with("http://127.0.0.1:"));
//! println!("login {} instance {}", org.login_url(), org.instance_url());
//! # }
//! ```

mod auth;
pub mod demo;
mod error;
mod faults;
mod ids;
mod keys;
pub mod outbound;
mod routes;
mod schema;
mod soql;
mod store;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use wiremock::{Mock, MockServer, matchers};

use crate::sync::lock;
pub use faults::Faults;
pub use keys::test_rsa_key_pair;
use routes::{InstanceResponder, LoginResponder, State};
use store::{Store, WriteOpts};

/// How to start a fake org.
#[derive(Clone)]
pub struct SalesforceFakeConfig {
    /// The connected app's consumer key (`client_id`, the JWT `iss`).
    pub client_id: String,
    /// The connected app's consumer secret.
    pub client_secret: String,
    /// The refresh token the refresh-token grant accepts.
    pub refresh_token: String,
    /// The integration user's username (the JWT `sub`).
    pub username: String,
    /// PEM of the RSA public key (or certificate) uploaded to the connected app; the JWT bearer
    /// grant is refused without it.
    pub jwt_public_key_pem: Option<String>,
    /// Audiences the JWT bearer grant accepts (default `https://login.salesforce.com` and
    /// `https://test.salesforce.com`, never the My Domain URL).
    pub jwt_audiences: Vec<String>,
    /// How long a session lasts (the org's session timeout; default 2 hours).
    pub token_lifetime: Duration,
    /// The daily API allocation (default 15,000, as the recorded Developer Edition org).
    pub daily_api_limit: u64,
    /// API calls already used today when the fake starts (default 0).
    pub api_usage_start: u64,
    /// Seed the demo data ([`demo`]); default `true`.
    pub demo_data: bool,
    /// Seed this many extra contacts `bulk-001@example.com`, … for paging tests; default 0.
    pub extra_contacts: usize,
    /// The standard Contact duplicate rule (same email) is active; default `true`.
    pub duplicate_rule: bool,
    /// How far the org's clock is ahead of the client's, in seconds (negative: behind), for
    /// testing JWT assertions a skewed clock makes invalid. Default 0.
    pub clock_skew_secs: i64,
}

impl fmt::Debug for SalesforceFakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceFakeConfig")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("token_lifetime", &self.token_lifetime)
            .field("daily_api_limit", &self.daily_api_limit)
            .finish_non_exhaustive()
    }
}

impl Default for SalesforceFakeConfig {
    fn default() -> Self {
        Self {
            client_id: "3MVG9fake.consumer.key".into(),
            client_secret: "fake-consumer-secret".into(),
            refresh_token: "5Aep861fake.refresh.token".into(),
            username: "integration@acme.example".into(),
            jwt_public_key_pem: None,
            jwt_audiences: vec![
                "https://login.salesforce.com".into(),
                "https://test.salesforce.com".into(),
            ],
            token_lifetime: Duration::from_secs(2 * 60 * 60),
            clock_skew_secs: 0,
            daily_api_limit: 15_000,
            api_usage_start: 0,
            demo_data: true,
            extra_contacts: 0,
            duplicate_rule: true,
        }
    }
}

/// What the fake has served since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// API requests received by the instance server (token requests not included).
    pub total: usize,
    /// `GET` API requests.
    pub get: usize,
    /// `POST` API requests.
    pub post: usize,
    /// `PATCH` API requests.
    pub patch: usize,
    /// `DELETE` API requests.
    pub delete: usize,
    /// API requests with another method.
    pub other: usize,
    /// Token requests (login server and instance).
    pub token_requests: usize,
    /// Composite subrequests executed.
    pub composite_subrequests: usize,
    /// `401 INVALID_SESSION_ID` answers.
    pub unauthorized: usize,
    /// `403 REQUEST_LIMIT_EXCEEDED` answers for the daily allocation.
    pub limit_exceeded: usize,
    /// Injected faults of any kind.
    pub faults_injected: usize,
    /// After-commit faults among them (the write was applied).
    pub after_commit: usize,
}

impl RequestStats {
    fn count(&mut self, method: &str) {
        self.total += 1;
        match method {
            "GET" => self.get += 1,
            "POST" => self.post += 1,
            "PATCH" => self.patch += 1,
            "DELETE" => self.delete += 1,
            _ => self.other += 1,
        }
    }
}

/// A running fake org. Dropping it stops both servers.
pub struct SalesforceFake {
    login: MockServer,
    instance: MockServer,
    state: Arc<Mutex<State>>,
    config: SalesforceFakeConfig,
}

impl fmt::Debug for SalesforceFake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceFake")
            .field("login_url", &self.login_url())
            .field("instance_url", &self.instance_url())
            .finish_non_exhaustive()
    }
}

impl SalesforceFake {
    /// Starts the login and instance servers on two free ports of 127.0.0.1.
    pub async fn start(config: SalesforceFakeConfig) -> SalesforceFake {
        Self::mount(crate::wire::server().await, config).await
    }

    /// Starts the login server on a fixed port of 127.0.0.1 (the CLI's `sandbox`), the
    /// instance server on a free one; fails when the port is taken.
    pub async fn start_on(
        port: u16,
        config: SalesforceFakeConfig,
    ) -> std::io::Result<SalesforceFake> {
        Ok(Self::mount(crate::wire::server_on(port).await?, config).await)
    }

    async fn mount(login: MockServer, config: SalesforceFakeConfig) -> SalesforceFake {
        let instance = crate::wire::server().await;
        let mut store = Store::new();
        store.duplicate_rule = config.duplicate_rule;
        if let Err(e) = demo::seed(&mut store, config.demo_data, config.extra_contacts) {
            tracing::warn!(error = %e, "Salesforce fake seed data was not fully loaded");
        }
        let auth = auth::AuthState::new(
            auth::AuthConfig {
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                refresh_token: config.refresh_token.clone(),
                username: config.username.clone(),
                jwt_public_key_pem: config.jwt_public_key_pem.clone(),
                jwt_audiences: config.jwt_audiences.clone(),
                token_lifetime: config.token_lifetime,
                clock_skew_secs: config.clock_skew_secs,
            },
            ids::make("00D", 1),
        );
        let mut state = State::new(store, auth, config.daily_api_limit);
        state.api_used = config.api_usage_start;
        state.login_origin = format!("http://{}", login.address());
        state.instance_origin = format!("http://{}", instance.address());
        let state = Arc::new(Mutex::new(state));
        Mock::given(matchers::any())
            .respond_with(LoginResponder {
                state: Arc::clone(&state),
            })
            .mount(&login)
            .await;
        Mock::given(matchers::any())
            .respond_with(InstanceResponder {
                state: Arc::clone(&state),
            })
            .mount(&instance)
            .await;
        SalesforceFake {
            login,
            instance,
            state,
            config,
        }
    }

    /// The login server: `http://127.0.0.1:PORT`, where `/services/oauth2/token` lives.
    pub fn login_url(&self) -> String {
        format!("http://{}", self.login.address())
    }

    /// The instance server: `http://127.0.0.1:OTHER_PORT`, the `instance_url` tokens name.
    pub fn instance_url(&self) -> String {
        format!("http://{}", self.instance.address())
    }

    /// The configuration it was started with (client id, secret, refresh token, username).
    pub fn config(&self) -> &SalesforceFakeConfig {
        &self.config
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.state).faults = crate::faults::FaultState::new(faults);
    }

    /// Counts of what the fake has served so far.
    pub fn requests(&self) -> RequestStats {
        lock(&self.state).stats.clone()
    }

    /// Method and path (no query string) of every API request so far, in order.
    pub fn request_log(&self) -> Vec<(String, String)> {
        lock(&self.state).log.clone()
    }

    /// Every live record of `sobject` (`Contact`, `Case`, …) as GET renders it, oldest first.
    pub fn records(&self, sobject: &str) -> Vec<Value> {
        let state = lock(&self.state);
        let Some(name) = state.store.object_name(sobject) else {
            return Vec::new();
        };
        state
            .store
            .records(&name)
            .into_iter()
            .map(|r| state.store.render(&name, r, "v66.0"))
            .collect()
    }

    /// One live record as GET renders it (15- or 18-character id).
    pub fn record(&self, sobject: &str, id: &str) -> Option<Value> {
        let state = lock(&self.state);
        let name = state.store.object_name(sobject)?;
        let rec = state.store.record(&name, id)?;
        Some(state.store.render(&name, rec, "v66.0"))
    }

    /// Edits a record as a user in Salesforce's UI would (closing a case): the same rules as a
    /// PATCH, outside HTTP (no faults, auth or counting). `false` when the edit is refused.
    pub fn update_record(&self, sobject: &str, id: &str, fields: Map<String, Value>) -> bool {
        let mut st = lock(&self.state);
        let ok = st
            .store
            .update(sobject, id, &fields, WriteOpts { allow_save: true })
            .is_ok();
        if ok {
            let mut sent = fields;
            sent.insert(
                "LastModifiedDate".into(),
                Value::String(
                    chrono::Utc::now()
                        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                        .to_string(),
                ),
            );
            st.outbound.push((sobject.to_owned(), id.to_owned(), sent));
        }
        ok
    }

    /// The org's 18-character id (`OrganizationId` in Outbound Messages).
    pub fn org_id(&self) -> String {
        lock(&self.state).auth.org_id.clone()
    }

    /// Takes the Outbound-message notifications of UI-side changes
    /// ([`SalesforceFake::update_record`]) recorded since the last call, as
    /// `(sObject, record id, fields)`; post them with an [`outbound::OutboundEmitter`].
    pub fn take_outbound_messages(&self) -> Vec<(String, String, Map<String, Value>)> {
        std::mem::take(&mut lock(&self.state).outbound)
    }

    /// Creates a record as a user in Salesforce's UI would; returns its id.
    pub fn insert_record(&self, sobject: &str, fields: Map<String, Value>) -> Option<String> {
        lock(&self.state)
            .store
            .create(sobject, &fields, WriteOpts { allow_save: true })
            .ok()
    }

    /// Converts a lead (SOAP API `convertLead`): creates an Account, a Contact and optionally an
    /// Opportunity and marks the lead converted, after which updates to it fail with
    /// `CANNOT_UPDATE_CONVERTED_LEAD`. Returns the three ids.
    pub fn convert_lead(
        &self,
        lead_id: &str,
        create_opportunity: bool,
    ) -> Option<(String, String, Option<String>)> {
        lock(&self.state)
            .store
            .convert_lead(lead_id, create_opportunity)
            .ok()
    }

    /// Ends every session issued so far: the next API call with one gets `401
    /// INVALID_SESSION_ID`.
    pub fn expire_sessions(&self) {
        lock(&self.state).auth.expire_all();
    }

    /// Sets today's API usage (e.g. to the allocation, to see `REQUEST_LIMIT_EXCEEDED`).
    pub fn set_api_usage(&self, used: u64) {
        lock(&self.state).api_used = used;
    }

    /// Today's API usage and the allocation, as `Sforce-Limit-Info` reports them.
    pub fn api_usage(&self) -> (u64, u64) {
        let s = lock(&self.state);
        (s.api_used, s.api_max)
    }

    /// Makes token responses leave out `instance_url` (a broken proxy or a misconfigured
    /// endpoint), for bad-input tests.
    pub fn set_omit_instance_url(&self, omit: bool) {
        lock(&self.state).auth.omit_instance_url = omit;
    }

    /// Turns the Contact duplicate rule on or off.
    pub fn set_duplicate_rule(&self, active: bool) {
        lock(&self.state).store.duplicate_rule = active;
    }
}
