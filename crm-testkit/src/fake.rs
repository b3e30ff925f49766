//! One vendor-neutral handle on every fake, so a tool (the `crm-connect` CLI's `demo`,
//! `sandbox` and `bench`) starts any fake and connects to it without knowing the vendor.
//!
//! A [`VendorFake`] starts its fake and returns a [`RunningFake`]: the server's base URL, a
//! [`ConnectorConfig`] that connects to it through the adapter's
//! [`crm_core::raw::Connector::build`] — the same path a user's connection file takes — and
//! what a caller drives on the fake itself: injected faults, the records it stores, the
//! requests it served, an agent's ticket changes and the change notifications it sends.
//!
//! This crate depends on no adapter: it knows its fakes ([`Sandbox`], [`HubSpot`],
//! [`Salesforce`], [`Pipedrive`]), not how an adapter verifies their notifications. Each
//! adapter's `testkit` module (cargo feature `testkit`) hands out its fake, joined with its own
//! verifier through [`Verified`].

use std::fmt;
use std::time::Duration;

use crm_core::events::WebhookSource;
use crm_core::raw::ConnectorConfig;
use crm_core::reexports::async_trait;
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Error, ObjectKind, RecordId, Result};
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::{hubspot, pipedrive, salesforce, sandbox};

/// How to start a fake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeOptions {
    /// The port on 127.0.0.1 to listen on; `0` takes a free one. (Salesforce's login server
    /// takes it; its instance server always runs on a free port.)
    pub port: u16,
    /// Seed the vendor's demo records (Jane Doe, her company, tickets and activities).
    pub demo_data: bool,
    /// The bearer token the fake accepts, where it takes one of the caller's choosing (the
    /// sandbox); the others issue their own, in [`RunningFake::config`].
    pub token: Option<String>,
    /// Sized for a load run (`crm-connect bench`): HubSpot's rolling window shortened to 100
    /// requests per second so runs stay short and a strict window is still felt, Salesforce's
    /// daily API budget raised out of the way; the connection sets only the idempotency key's
    /// field (a demo's also maps the demo portal's external-id and lead-source properties).
    pub load: bool,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            port: 0,
            demo_data: true,
            token: None,
            load: false,
        }
    }
}

impl FakeOptions {
    /// A demo: the vendor's demo records, on a free port.
    pub fn demo() -> Self {
        Self::default()
    }

    /// A load run: no demo records, the limits sized for a benchmark (see [`FakeOptions::load`]).
    pub fn load() -> Self {
        Self {
            demo_data: false,
            load: true,
            ..Self::default()
        }
    }

    /// The same options on `port` (`0`: a free one).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The same options with the bearer token the sandbox accepts.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// Faults to inject: a seeded share of requests failing with the vendor's 5xx, some of the
/// failed writes after they committed. Each fake turns it into its own fault settings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct FaultPlan {
    /// Share of requests (0.0–1.0) that fail.
    pub fail_rate: f64,
    /// Share (0.0–1.0) of the failed writes applied before the error.
    pub after_commit_share: f64,
    /// Seed of the rolls: the same faults on every run.
    pub seed: u64,
}

impl FaultPlan {
    /// `fail_rate` of requests fail, `after_commit_share` of those after the write, rolled
    /// from `seed`.
    pub fn new(fail_rate: f64, after_commit_share: f64, seed: u64) -> Self {
        Self {
            fail_rate,
            after_commit_share,
            seed,
        }
    }
}

/// What a fake has served so far, by its own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// API requests (token requests of a separate login server not included).
    pub requests: usize,
    /// Token requests the fake counts apart from [`Served::requests`] (Salesforce's login
    /// server); `0` where they are counted among the requests or there are none.
    pub token_requests: usize,
    /// Requests refused for a rate or request limit.
    pub limited: usize,
}

/// The fake's side of an agent's step on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentStep {
    /// An open, in-progress status.
    PickUp,
    /// A closed status.
    Solve,
}

/// What differs between fakes, behind one face.
trait Server: Send + Sync {
    fn set_faults(&self, plan: Option<FaultPlan>);
    fn stored(&self, kind: ObjectKind) -> Vec<Value>;
    fn served(&self) -> Served;
    /// `false` when the fake refused the change or keeps no tickets.
    fn agent(&self, ticket: &RecordId, step: AgentStep) -> bool;
    fn discard_notifications(&self);
    fn deliver_notifications<'a>(&'a self, hook: &'a str) -> BoxFuture<'a, Vec<u16>>;
}

/// A started fake: where it listens, how to connect to it, and its controls. Dropping it (or
/// [`RunningFake::stop`]) shuts its servers down.
pub struct RunningFake {
    vendor: &'static str,
    summary: String,
    env_prefix: &'static str,
    base_url: String,
    config: ConnectorConfig,
    notification_secret: Option<SecretString>,
    stated_limit: Option<(u64, Duration)>,
    server: Box<dyn Server>,
}

impl fmt::Debug for RunningFake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningFake")
            .field("vendor", &self.vendor)
            .field("base_url", &self.base_url)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RunningFake {
    /// The adapter's vendor name (`hubspot`).
    pub fn vendor(&self) -> &'static str {
        self.vendor
    }

    /// Where the fake listens: the API's base URL (for Salesforce, the login server, which
    /// hands out the instance URL with each token).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// One line for people: what the fake is, where, and the credential it accepts
    /// (`HubSpot fake at http://127.0.0.1:PORT (private-app token: …)`). It holds the fake's
    /// own test credentials, which are not secrets.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The prefix of the environment variables a printed connection file reads the secrets
    /// from (`HUBSPOT` for `${HUBSPOT_TOKEN}`).
    pub fn env_prefix(&self) -> &'static str {
        self.env_prefix
    }

    /// The settings and secrets that connect to this fake through the adapter's connector,
    /// as a connection file would give them. Clone it to add an observer or audit sink.
    pub fn config(&self) -> &ConnectorConfig {
        &self.config
    }

    /// What the fake's change notifications are verified with: the signing secret (the
    /// sandbox's webhooks, HubSpot's app secret) or the org id Salesforce's Outbound Messages
    /// carry. `None` when the fake sends none.
    pub fn notification_secret(&self) -> Option<SecretString> {
        self.notification_secret.clone()
    }

    /// The short-window rate limit the fake enforces and states in its response headers, as
    /// `(requests, window)`; `None` when it states none.
    pub fn stated_limit(&self) -> Option<(u64, Duration)> {
        self.stated_limit
    }

    /// Injects `plan`'s faults from now on.
    pub fn set_faults(&self, plan: FaultPlan) {
        self.server.set_faults(Some(plan));
    }

    /// No more injected faults.
    pub fn clear_faults(&self) {
        self.server.set_faults(None);
    }

    /// Every stored record of `kind` (contacts, tickets) as the fake keeps it; empty for a
    /// kind the fake does not keep apart.
    pub fn stored(&self, kind: ObjectKind) -> Vec<Value> {
        self.server.stored(kind)
    }

    /// What the fake has served so far.
    pub fn served(&self) -> Served {
        self.server.served()
    }

    /// An agent picks `ticket` up in the CRM: it moves to an open, in-progress status.
    /// `false` when the fake refused the change or keeps no tickets.
    pub fn agent_picks_up(&self, ticket: &RecordId) -> bool {
        self.server.agent(ticket, AgentStep::PickUp)
    }

    /// An agent solves `ticket`: it moves to a closed status. `false` when refused.
    pub fn agent_solves(&self, ticket: &RecordId) -> bool {
        self.server.agent(ticket, AgentStep::Solve)
    }

    /// Drops the change notifications recorded so far.
    pub fn discard_notifications(&self) {
        self.server.discard_notifications();
    }

    /// Delivers the change notifications recorded since the last call to `hook`, signed as
    /// the vendor signs them and twice (vendors deliver at least once). The receiver's answers.
    pub async fn deliver_notifications(&self, hook: &str) -> Vec<u16> {
        self.server.deliver_notifications(hook).await
    }

    /// Shuts the fake down.
    pub fn stop(self) {
        drop(self);
    }
}

/// One vendor's fake as a registry sees it: its vendor name and how to start it.
/// Object-safe: a registry holds `&'static dyn VendorFake`s.
#[async_trait]
pub trait VendorFake: Send + Sync + fmt::Debug {
    /// The adapter's vendor name (`hubspot`), as connection files give it.
    fn vendor(&self) -> &'static str;

    /// Starts the fake as `options` say.
    async fn start(&self, options: &FakeOptions) -> Result<RunningFake>;

    /// The verifier of `fake`'s change notifications, as the adapter builds it; `None` when
    /// the fake sends none or no verifier is known here (this crate knows no adapter: an
    /// adapter's `testkit` module adds its own through [`Verified`]).
    fn webhook_source(&self, fake: &RunningFake) -> Result<Option<Box<dyn WebhookSource>>> {
        let _ = fake;
        Ok(None)
    }
}

/// Builds the verifier of a running fake's notifications from the fake's notification secret
/// (a signing secret, or Salesforce's org id) and the connection's name.
pub type VerifierFn = fn(SecretString, &str) -> Result<Box<dyn WebhookSource>>;

/// A fake joined with its adapter's notification verifier: what an adapter's `testkit`
/// module hands out.
#[derive(Debug)]
pub struct Verified {
    fake: &'static dyn VendorFake,
    verifier: VerifierFn,
}

impl Verified {
    /// `fake`, whose notifications `verifier` checks.
    pub const fn new(fake: &'static dyn VendorFake, verifier: VerifierFn) -> Self {
        Self { fake, verifier }
    }
}

#[async_trait]
impl VendorFake for Verified {
    fn vendor(&self) -> &'static str {
        self.fake.vendor()
    }

    async fn start(&self, options: &FakeOptions) -> Result<RunningFake> {
        self.fake.start(options).await
    }

    /// None when the running fake sends no notifications; the connection's name defaults to
    /// the vendor's.
    fn webhook_source(&self, fake: &RunningFake) -> Result<Option<Box<dyn WebhookSource>>> {
        let Some(secret) = fake.notification_secret() else {
            return Ok(None);
        };
        let name = fake.config().connection_name.as_deref();
        (self.verifier)(secret, name.unwrap_or(self.vendor())).map(Some)
    }
}

/// The fake `vendor` in `registry`; an unknown name is a `Config` error listing the
/// registered ones.
pub fn find(registry: &[&'static dyn VendorFake], vendor: &str) -> Result<&'static dyn VendorFake> {
    registry
        .iter()
        .copied()
        .find(|f| f.vendor() == vendor)
        .ok_or_else(|| {
            let names: Vec<&str> = registry.iter().map(|f| f.vendor()).collect();
            Error::config(format!(
                "vendor: no fake of `{vendor}`; fakes: {}",
                names.join(", ")
            ))
        })
}

fn listen_error(port: u16, e: std::io::Error) -> Error {
    Error::config(format!("cannot listen on 127.0.0.1:{port}: {e}"))
}

fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

fn fields(key: &str, value: &str) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(key.to_owned(), value.into());
    map
}

// --- the sandbox (a company's own REST CRM, for the generic-REST adapter) -------------------

/// The sandbox CRM, the generic-REST adapter's fake.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sandbox;

/// The secret the sandbox's demo webhooks are signed with.
const SANDBOX_WEBHOOK_SECRET: &str = "whsec-demo";

#[async_trait]
impl VendorFake for Sandbox {
    fn vendor(&self) -> &'static str {
        "generic-rest"
    }

    async fn start(&self, options: &FakeOptions) -> Result<RunningFake> {
        let mut config = sandbox::SandboxConfig::default().with_demo_data(options.demo_data);
        if let Some(token) = &options.token {
            config = config.with_token(token.clone());
        }
        let fake = sandbox::Sandbox::start_on(options.port, config)
            .await
            .map_err(|e| listen_error(options.port, e))?;
        let base_url = fake.base_url();
        let mut connect = ConnectorConfig::new(".")
            .with_setting("base_url", base_url.clone())
            .with_setting("auth.kind", "bearer")
            .with_secret("auth.token", secret(fake.token()));
        connect.connection_name = Some(self.vendor().to_owned());
        Ok(RunningFake {
            vendor: self.vendor(),
            summary: format!("sandbox CRM at {base_url} (token: {})", fake.token()),
            env_prefix: "SANDBOX",
            base_url,
            config: connect,
            notification_secret: Some(secret(SANDBOX_WEBHOOK_SECRET)),
            stated_limit: None,
            server: Box::new(fake),
        })
    }
}

impl Server for sandbox::Sandbox {
    fn set_faults(&self, plan: Option<FaultPlan>) {
        let plan = plan.unwrap_or_default();
        sandbox::Sandbox::set_faults(
            self,
            sandbox::Faults {
                fail_rate: plan.fail_rate,
                after_commit_share: plan.after_commit_share,
                seed: plan.seed,
                ..Default::default()
            },
        );
    }
    fn stored(&self, kind: ObjectKind) -> Vec<Value> {
        match kind {
            ObjectKind::Contact => self.records("contacts"),
            ObjectKind::Ticket => self.records("tickets"),
            _ => Vec::new(),
        }
    }
    fn served(&self) -> Served {
        let s = self.requests();
        Served {
            requests: s.total,
            token_requests: 0,
            limited: s.rate_limited,
        }
    }
    fn agent(&self, ticket: &RecordId, step: AgentStep) -> bool {
        let status = match step {
            AgentStep::PickUp => "open",
            AgentStep::Solve => "solved",
        };
        self.update_record("tickets", ticket.as_str(), fields("status", status))
    }
    fn discard_notifications(&self) {
        self.take_events();
    }
    fn deliver_notifications<'a>(&'a self, hook: &'a str) -> BoxFuture<'a, Vec<u16>> {
        use sandbox::webhooks::{Delivery, WebhookEmitter};
        Box::pin(async move {
            WebhookEmitter::new(hook, SANDBOX_WEBHOOK_SECRET)
                .deliver(
                    self.take_events(),
                    Delivery {
                        duplicate: true,
                        ..Delivery::default()
                    },
                )
                .await
        })
    }
}

// --- HubSpot --------------------------------------------------------------------------------

/// The HubSpot fake: the demo portal, its custom properties declared as an admin sets them up
/// for the bot.
#[derive(Debug, Clone, Copy, Default)]
pub struct HubSpot;

/// The app's client secret the fake's webhooks are signed with.
const HUBSPOT_APP_SECRET: &str = "hubspot-app-secret";

/// The HubSpot fake, with what [`Server`] needs beside it.
struct HubSpotRunning(hubspot::HubSpotFake);

#[async_trait]
impl VendorFake for HubSpot {
    fn vendor(&self) -> &'static str {
        "hubspot"
    }

    async fn start(&self, options: &FakeOptions) -> Result<RunningFake> {
        use hubspot::{HubSpotFakeConfig, Limits, demo};
        let mut config = HubSpotFakeConfig {
            demo_data: options.demo_data,
            ..HubSpotFakeConfig::with_demo_properties()
        };
        if options.load {
            // A strict rolling window of 100 requests per second: runs stay short, and the
            // connection's own limiter (sized from the fake's `X-HubSpot-RateLimit-Max` and
            // `-Interval-Milliseconds` headers) must keep every window under it.
            config.limits = Limits {
                ten_second_max: 100,
                window: Duration::from_secs(1),
                daily_max: 10_000_000,
                search_per_second: 5,
            };
        }
        let stated = (
            u64::from(config.limits.ten_second_max),
            config.limits.window,
        );
        let fake = hubspot::HubSpotFake::start_on(options.port, config)
            .await
            .map_err(|e| listen_error(options.port, e))?;
        let base_url = fake.base_url();
        let mut connect = ConnectorConfig::new(".")
            .with_setting("base_url", base_url.clone())
            .with_setting("idempotency_field", demo::IDEMPOTENCY_PROPERTY);
        if !options.load {
            connect = connect
                .with_setting("external_id_property", demo::EXTERNAL_ID_PROPERTY)
                .with_setting("lead_source_property", demo::LEAD_SOURCE_PROPERTY);
        }
        let mut connect = connect
            .with_setting("auth.kind", "bearer")
            .with_secret("auth.token", secret(fake.token()));
        connect.connection_name = Some(self.vendor().to_owned());
        Ok(RunningFake {
            vendor: self.vendor(),
            summary: format!(
                "HubSpot fake at {base_url} (private-app token: {})",
                fake.token()
            ),
            env_prefix: "HUBSPOT",
            base_url,
            config: connect,
            notification_secret: Some(secret(HUBSPOT_APP_SECRET)),
            stated_limit: Some(stated),
            server: Box::new(HubSpotRunning(fake)),
        })
    }
}

impl Server for HubSpotRunning {
    fn set_faults(&self, plan: Option<FaultPlan>) {
        let plan = plan.unwrap_or_default();
        self.0.set_faults(hubspot::HubSpotFaults {
            fail_rate: plan.fail_rate,
            after_commit_share: plan.after_commit_share,
            seed: plan.seed,
            ..Default::default()
        });
    }
    fn stored(&self, kind: ObjectKind) -> Vec<Value> {
        match kind {
            ObjectKind::Contact => self.0.records("contacts"),
            ObjectKind::Ticket => self.0.records("tickets"),
            _ => Vec::new(),
        }
    }
    fn served(&self) -> Served {
        let s = self.0.requests();
        Served {
            requests: s.total,
            token_requests: 0,
            limited: s.rate_limited,
        }
    }
    fn agent(&self, ticket: &RecordId, step: AgentStep) -> bool {
        // Stages of HubSpot's default ticket pipeline: 3 "Waiting on us", 4 "Closed".
        let stage = match step {
            AgentStep::PickUp => "3",
            AgentStep::Solve => "4",
        };
        self.0.update_record(
            "tickets",
            ticket.as_str(),
            fields("hs_pipeline_stage", stage),
        )
    }
    fn discard_notifications(&self) {
        self.0.take_webhook_events();
    }
    fn deliver_notifications<'a>(&'a self, hook: &'a str) -> BoxFuture<'a, Vec<u16>> {
        use hubspot::webhooks::{Delivery, HubSpotEmitter};
        Box::pin(async move {
            HubSpotEmitter::new(hook, HUBSPOT_APP_SECRET)
                .deliver(
                    self.0.take_webhook_events(),
                    Delivery {
                        duplicate: true,
                        reverse: false,
                    },
                )
                .await
        })
    }
}

// --- Salesforce -----------------------------------------------------------------------------

/// The Salesforce fake: a login server handing out tokens for the refresh-token flow, and the
/// org's instance server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Salesforce;

/// The demo org's external-id field the bot's idempotency keys go to.
const SALESFORCE_IDEMPOTENCY_FIELD: &str = "Idempotency_Key__c";

#[async_trait]
impl VendorFake for Salesforce {
    fn vendor(&self) -> &'static str {
        "salesforce"
    }

    async fn start(&self, options: &FakeOptions) -> Result<RunningFake> {
        let mut config = salesforce::SalesforceFakeConfig {
            demo_data: options.demo_data,
            ..salesforce::SalesforceFakeConfig::default()
        };
        if options.load {
            config.daily_api_limit = 1_000_000;
        }
        let fake = salesforce::SalesforceFake::start_on(options.port, config)
            .await
            .map_err(|e| listen_error(options.port, e))?;
        let base_url = fake.login_url();
        let c = fake.config();
        let mut connect = ConnectorConfig::new(".")
            .with_setting("login_url", base_url.clone())
            .with_setting("idempotency_field", SALESFORCE_IDEMPOTENCY_FIELD)
            .with_setting("auth.kind", "oauth_refresh")
            .with_setting("auth.client_id", c.client_id.clone())
            .with_secret("auth.client_secret", secret(&c.client_secret))
            .with_secret("auth.refresh_token", secret(&c.refresh_token));
        connect.connection_name = Some(self.vendor().to_owned());
        let summary = format!(
            "Salesforce fake at {base_url} (client id: {}, client secret: {}, refresh token: {})",
            c.client_id, c.client_secret, c.refresh_token
        );
        Ok(RunningFake {
            vendor: self.vendor(),
            summary,
            env_prefix: "SALESFORCE",
            base_url,
            config: connect,
            notification_secret: Some(secret(&fake.org_id())),
            stated_limit: None,
            server: Box::new(fake),
        })
    }
}

impl Server for salesforce::SalesforceFake {
    fn set_faults(&self, plan: Option<FaultPlan>) {
        let plan = plan.unwrap_or_default();
        salesforce::SalesforceFake::set_faults(
            self,
            salesforce::Faults {
                fail_rate: plan.fail_rate,
                after_commit_share: plan.after_commit_share,
                seed: plan.seed,
                ..Default::default()
            },
        );
    }
    fn stored(&self, kind: ObjectKind) -> Vec<Value> {
        match kind {
            ObjectKind::Contact => self.records("Contact"),
            ObjectKind::Ticket => self.records("Case"),
            _ => Vec::new(),
        }
    }
    fn served(&self) -> Served {
        let s = self.requests();
        Served {
            requests: s.total,
            token_requests: s.token_requests,
            limited: s.limit_exceeded,
        }
    }
    fn agent(&self, ticket: &RecordId, step: AgentStep) -> bool {
        let status = match step {
            AgentStep::PickUp => "Working",
            AgentStep::Solve => "Closed",
        };
        self.update_record("Case", ticket.as_str(), fields("Status", status))
    }
    fn discard_notifications(&self) {
        self.take_outbound_messages();
    }
    fn deliver_notifications<'a>(&'a self, hook: &'a str) -> BoxFuture<'a, Vec<u16>> {
        Box::pin(async move {
            salesforce::outbound::OutboundEmitter::new(hook, self.org_id())
                .deliver(self.take_outbound_messages(), true)
                .await
        })
    }
}

// --- Pipedrive ------------------------------------------------------------------------------

/// The Pipedrive fake, with its demo company's custom fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pipedrive;

/// Pipedrive's burst window: a token's requests per rolling 2 seconds.
const PIPEDRIVE_WINDOW: Duration = Duration::from_secs(2);

#[async_trait]
impl VendorFake for Pipedrive {
    fn vendor(&self) -> &'static str {
        "pipedrive"
    }

    async fn start(&self, options: &FakeOptions) -> Result<RunningFake> {
        use pipedrive::demo;
        let config = pipedrive::PipedriveFakeConfig {
            demo_data: options.demo_data,
            ..pipedrive::PipedriveFakeConfig::default()
        };
        let stated = (u64::from(config.limits.burst), PIPEDRIVE_WINDOW);
        let fake = pipedrive::PipedriveFake::start_on(options.port, config)
            .await
            .map_err(|e| listen_error(options.port, e))?;
        let base_url = fake.base_url();
        let mut connect = ConnectorConfig::new(".").with_setting("base_url", base_url.clone());
        if !options.load {
            connect = connect
                .with_setting("external_id_field", demo::EXTERNAL_ID_FIELD)
                .with_setting("lead_source_field", demo::LEAD_SOURCE_FIELD);
        }
        let mut connect = connect
            .with_setting("auth.kind", "api_token")
            .with_secret("auth.token", secret(fake.api_token()));
        connect.connection_name = Some(self.vendor().to_owned());
        Ok(RunningFake {
            vendor: self.vendor(),
            summary: format!(
                "Pipedrive fake at {base_url} (API token: {})",
                fake.api_token()
            ),
            env_prefix: "PIPEDRIVE",
            base_url,
            config: connect,
            notification_secret: None,
            stated_limit: Some(stated),
            server: Box::new(fake),
        })
    }
}

impl Server for pipedrive::PipedriveFake {
    fn set_faults(&self, plan: Option<FaultPlan>) {
        let plan = plan.unwrap_or_default();
        pipedrive::PipedriveFake::set_faults(
            self,
            pipedrive::PipedriveFaults {
                fail_rate: plan.fail_rate,
                after_commit_share: plan.after_commit_share,
                seed: plan.seed,
                ..Default::default()
            },
        );
    }
    fn stored(&self, kind: ObjectKind) -> Vec<Value> {
        match kind {
            ObjectKind::Contact => self.records(pipedrive::Entity::Persons),
            _ => Vec::new(),
        }
    }
    fn served(&self) -> Served {
        let s = self.requests();
        Served {
            requests: s.total,
            token_requests: 0,
            limited: s.rate_limited,
        }
    }
    fn agent(&self, _ticket: &RecordId, _step: AgentStep) -> bool {
        // Pipedrive keeps no tickets.
        false
    }
    fn discard_notifications(&self) {}
    fn deliver_notifications<'a>(&'a self, _hook: &'a str) -> BoxFuture<'a, Vec<u16>> {
        Box::pin(async { Vec::new() })
    }
}

/// Every fake this crate has, as [`VendorFake`]s without a notification verifier (the
/// adapters' `testkit` modules add theirs).
pub fn all() -> [&'static dyn VendorFake; 4] {
    [&Sandbox, &HubSpot, &Salesforce, &Pipedrive]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_find_names_every_registered_fake_for_an_unknown_vendor() {
        let registry = all();
        assert_eq!(find(&registry, "hubspot").unwrap().vendor(), "hubspot");
        let err = find(&registry, "zendesk").unwrap_err();
        assert_eq!(*err.kind(), crm_core::ErrorKind::Config);
        for name in ["generic-rest", "hubspot", "salesforce", "pipedrive"] {
            assert!(err.message().contains(name), "{err}");
        }
    }

    #[tokio::test]
    async fn fake_every_fake_starts_counts_and_stores_its_demo_contacts() {
        for fake in all() {
            let running = fake.start(&FakeOptions::demo()).await.unwrap();
            assert_eq!(running.vendor(), fake.vendor());
            assert!(running.base_url().starts_with("http://127.0.0.1:"));
            assert!(
                !running.stored(ObjectKind::Contact).is_empty(),
                "{}: demo contacts",
                fake.vendor()
            );
            assert_eq!(running.served(), Served::default(), "{}", fake.vendor());
            let none = fake.webhook_source(&running).unwrap();
            assert!(none.is_none(), "this crate knows no verifier");
        }
    }
}
