//! The builder, the capability declaration and the `Crm` implementation.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crm_core::audit::{AuditSink, TracingAudit};
use crm_core::credential::{CredentialProvider, StaticCredential};
use crm_core::limits::RateLimiter;
use crm_core::mapping::{MappingFile, ObjectMapping};
use crm_core::raw::http::{HttpClient, HttpClientBuilder};
use crm_core::reexports::async_trait;
use crm_core::reexports::secrecy::SecretString;
use crm_core::retry::RetryPolicy;
use crm_core::{
    Account, Accounts, Activities, Activity, Capabilities, Contact, Contacts, Crm, CustomerView,
    Error, ErrorKind, Lead, Leads, Lookup, ObjectCapabilities, ObjectKind, Opportunities,
    Opportunity, RecordRef, Records, Region, Result, Ticket, Tickets, Upserted, ViewOptions,
    WriteContext,
};

use crate::config::{AppKind, ConversationLogAs, HubSpotConfig, HubSpotConfigKey, PathFamily};
use crate::core::{Core, MAX_BATCH, Settings};
use crate::mapping::{CustomProps, MappingTarget, Mappings};
use crate::objects::Paths;
use crate::pipelines::PipelineCache;
use crate::reads::put_association;
use crate::records::{HubRecords, ref_object};

/// The vendor name this adapter reports.
pub const VENDOR: &str = "hubspot";

#[doc = include_str!("../docs.md")]
pub struct HubSpotBuilder {
    config: HubSpotConfig,
    credentials: Option<Arc<dyn CredentialProvider>>,
    mappings: BTreeMap<MappingTarget, ObjectMapping>,
    mapping_label: Option<String>,
    root_ca_files: Vec<PathBuf>,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    limiter: Option<Arc<dyn RateLimiter>>,
    observer: Option<Arc<dyn crm_core::limits::RequestObserver>>,
    token_store: Option<Arc<dyn crm_core::credential::TokenStore>>,
    audit: Option<Arc<dyn AuditSink>>,
    deferred: Option<Error>,
}

impl fmt::Debug for HubSpotBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpotBuilder")
            .field("config", &self.config)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Default for HubSpotBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HubSpotBuilder {
    /// A builder with the defaults of [`HubSpotConfig::default`]: `https://api.hubapi.com`,
    /// `/crm/v3` paths, a Professional private app, no custom properties (external ids,
    /// idempotency keys and lead sources off: what a stock portal supports), 30 s timeout,
    /// [`RetryPolicy::default`], no pacing.
    pub fn new() -> Self {
        Self {
            config: HubSpotConfig::default(),
            credentials: None,
            mappings: BTreeMap::new(),
            mapping_label: None,
            root_ca_files: Vec::new(),
            timeout: None,
            retry: None,
            limiter: None,
            observer: None,
            token_store: None,
            audit: None,
            deferred: None,
        }
    }

    /// A builder configured from every `CRM_HUBSPOT_*` environment variable that is set.
    pub fn from_env() -> Self {
        let mut b = Self::new();
        for key in HubSpotConfigKey::ALL {
            if let Ok(value) = std::env::var(key.env_var()) {
                b = b.with_config(key.as_ref(), value);
            }
        }
        b
    }

    /// Sets a key by name (see [`HubSpotConfigKey`]); a bad key or value is reported by
    /// [`HubSpotBuilder::build`].
    pub fn with_config(mut self, key: &str, value: impl AsRef<str>) -> Self {
        let result = key
            .parse::<HubSpotConfigKey>()
            .and_then(|k| self.config.set(k, value.as_ref()));
        if let (Err(e), None) = (result, &self.deferred) {
            self.deferred = Some(e);
        }
        self
    }

    /// The whole configuration.
    pub fn with_hubspot_config(mut self, config: HubSpotConfig) -> Self {
        self.config = config;
        self
    }

    /// The API base URL. Default `https://api.hubapi.com`.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.config.base_url = url.into();
        self
    }

    /// The path family. Default [`PathFamily::V3`].
    pub fn with_path_family(mut self, family: PathFamily) -> Self {
        self.config.path_family = family;
        self
    }

    /// The app kind, which sets the burst budget reported by [`HubSpot::burst_per_10s`].
    /// Default [`AppKind::PrivateProfessional`].
    pub fn with_app(mut self, app: AppKind) -> Self {
        self.config.app = app;
        self
    }

    /// A private-app token (`Authorization: Bearer pat-…`).
    pub fn with_token(mut self, token: SecretString) -> Self {
        self.config.token = Some(token);
        self
    }

    /// OAuth: the app's client id and secret and a refresh token; access tokens (30 minutes)
    /// are fetched from `/oauth/v1/token` and refreshed before they expire.
    pub fn with_oauth(
        mut self,
        client_id: impl Into<String>,
        client_secret: SecretString,
        refresh_token: SecretString,
    ) -> Self {
        self.config.client_id = Some(client_id.into());
        self.config.client_secret = Some(client_secret);
        self.config.refresh_token = Some(refresh_token);
        self
    }

    /// Where rotated OAuth refresh tokens are kept (default: in memory; a `FileTokenStore`
    /// survives restarts).
    pub fn with_token_store(mut self, store: Arc<dyn crm_core::credential::TokenStore>) -> Self {
        self.token_store = Some(store);
        self
    }

    /// A credential provider; replaces the token and OAuth settings.
    pub fn with_credentials(mut self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.credentials = Some(provider);
        self
    }

    /// The unique custom property holding `external_id`. Default none: look-ups and upserts by
    /// external id fail with an `Unsupported` error naming the setting before any request, and
    /// [`Capabilities::lookup_by_external_id`] and the upsert keys say so.
    pub fn with_external_id_property(mut self, name: Option<&str>) -> Self {
        self.config.external_id_property = name.map(str::to_owned);
        self
    }

    /// The unique custom property holding idempotency keys (on every object written); with it,
    /// a create carrying a key stores the key there, so a second attempt conflicts and returns
    /// the first record. Default none: idempotent creates are off, and a create carrying a key
    /// fails with a `Config` error before any request (`crm-connect doctor` checks the
    /// property).
    pub fn with_idempotency_property(mut self, name: Option<&str>) -> Self {
        self.config.idempotency_property = name.map(str::to_owned);
        self
    }

    /// The contact property holding a lead's `source`. Default none: a lead's `source` is not
    /// sent (a stock portal has no property for a free-text source).
    pub fn with_lead_source_property(mut self, name: Option<&str>) -> Self {
        self.config.lead_source_property = name.map(str::to_owned);
        self
    }

    /// A custom property marking conversation logs (value `conversation_log`; `crm-connect
    /// doctor` checks it exists). Default none: a log's body starts with
    /// [`crate::CONVERSATION_LOG_MARKER`], which needs no custom property.
    pub fn with_activity_kind_property(mut self, name: Option<&str>) -> Self {
        self.config.activity_kind_property = name.map(str::to_owned);
        self
    }

    /// Which object holds conversation logs. Default [`ConversationLogAs::Note`].
    pub fn with_conversation_log_as(mut self, what: ConversationLogAs) -> Self {
        self.config.conversation_log_as = what;
        self
    }

    /// The region phone numbers without a country code are read in. Default `US`.
    pub fn with_phone_region(mut self, region: impl Into<String>) -> Self {
        self.config.phone_region = region.into();
        self
    }

    /// Overrides (part of) the mapping of one target, merged over the default: its fields,
    /// states, labels and values replace entries of the same name, and its `pass_through`
    /// replaces the default's (`true`; note that `ObjectMapping::default()` has `false`, a
    /// mapping parsed from TOML `true`).
    pub fn with_mapping(mut self, target: MappingTarget, mapping: ObjectMapping) -> Self {
        self.mappings.insert(target, mapping);
        self
    }

    /// Lays an admin's mapping file over the default mapping: each table is merged as
    /// [`HubSpotBuilder::with_mapping`] merges (load it with [`crate::MAPPING_TARGETS`]). Its
    /// `version@hash` goes into every audit record; [`HubSpot::set_mapping_file`] swaps it at
    /// run time.
    pub fn with_mapping_file(mut self, file: MappingFile) -> Self {
        match crate::mapping::overrides_from(&file) {
            Ok(overrides) => {
                self.mappings.extend(overrides);
                self.mapping_label = Some(file.label());
            }
            Err(e) => {
                self.deferred.get_or_insert(e);
            }
        }
        self
    }

    /// A name for this connection in audit records. Default `hubspot`.
    pub fn with_connection_name(mut self, name: impl Into<String>) -> Self {
        self.config.connection_name = name.into();
        self
    }

    /// Where audit records go. Default [`TracingAudit`].
    pub fn with_audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Trusts an extra root CA (PEM file).
    pub fn with_root_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_ca_files.push(path.into());
        self
    }

    /// Per-attempt timeout. Default 30 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Retry policy. Default [`RetryPolicy::default`].
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Rate limiter; requests draw from the buckets `general` and `search`. Default:
    /// [`crate::limits::limiter_for`] the configured app kind or `rate_limit`. Share one per
    /// HubSpot account.
    pub fn with_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Shows every request and response to `observer` (a request counter, metrics), in front
    /// of the limiter the connection uses anyway: observing never replaces HubSpot's pacing.
    pub fn with_request_observer(
        mut self,
        observer: Arc<dyn crm_core::limits::RequestObserver>,
    ) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The limiter every request of the connection draws from, token requests included: the
    /// one given or the adapter's own, with the observer in front.
    fn limiter(&self) -> Option<Arc<dyn RateLimiter>> {
        let limiter: Arc<dyn RateLimiter> = match &self.limiter {
            Some(l) => l.clone(),
            None => Arc::new(crate::limits::limiter_for(&self.config)),
        };
        crm_core::limits::Observed::layer(Some(limiter), self.observer.as_ref())
    }

    fn http(
        &self,
        credentials: Arc<dyn CredentialProvider>,
        limiter: Option<Arc<dyn RateLimiter>>,
    ) -> Result<HttpClient> {
        let mut http = HttpClientBuilder::new(VENDOR, self.config.base_url.clone())
            .with_credentials(credentials)
            .with_correlation_headers(&["x-hubspot-correlation-id", "x-request-id"])
            .with_error_parser(Arc::new(crate::core::HubSpotErrorParser));
        for ca in &self.root_ca_files {
            http = http.with_root_ca_file(ca.clone());
        }
        if let Some(t) = self.timeout {
            http = http.with_timeout(t);
        }
        if let Some(r) = &self.retry {
            http = http.with_retry(r.clone());
        }
        match limiter {
            Some(limiter) => http.with_limiter(limiter).build(),
            None => http.build(),
        }
    }

    /// Checks everything and builds the connection. Makes no network call.
    pub fn build(self) -> Result<HubSpot> {
        crm_core::warm_up(); // the phone metadata loads now, off the first call's latency
        if let Some(e) = self.deferred {
            return Err(e);
        }
        let c = &self.config;
        c.validate()?;
        let limiter = self.limiter();
        let credentials: Arc<dyn CredentialProvider> = match (
            &self.credentials,
            &c.client_id,
            &c.client_secret,
            &c.refresh_token,
            &c.token,
        ) {
            (Some(p), ..) => p.clone(),
            (None, Some(id), Some(secret), Some(refresh), _) => {
                Arc::new(crate::credential::oauth_paced(
                    &c.base_url,
                    id,
                    secret.clone(),
                    refresh.clone(),
                    self.token_store.clone(),
                    limiter.clone(),
                )?)
            }
            (None, _, _, _, Some(token)) => Arc::new(StaticCredential::bearer(token.clone())),
            _ => {
                return Err(Error::config(
                    "token: set a private-app token, OAuth settings (client_id, client_secret, refresh_token) or a credential provider",
                ));
            }
        };
        let http = self.http(credentials, limiter)?;
        let region = Region::parse(&c.phone_region)?;
        let mappings = Mappings::build(
            &CustomProps {
                external_id: c.external_id_property.clone(),
                lead_source: c.lead_source_property.clone(),
            },
            &self.mappings,
            self.mapping_label.clone(),
        )?;
        let settings = Settings {
            external_id: c.external_id_property.clone(),
            idempotency: c.idempotency_property.clone(),
            activity_kind: c.activity_kind_property.clone(),
            log_as_call: c.conversation_log_as == ConversationLogAs::Call,
            lead_stage: c.lead_lifecycle_stage.clone(),
            phone_calculated: c.phone_search_calculated,
            lead_source: c.lead_source_property.clone(),
        };
        let capabilities = capabilities(&settings);
        let core = Arc::new(Core {
            http,
            paths: Paths::new(&c.path_family),
            settings,
            region,
            mappings: std::sync::RwLock::new(Arc::new(mappings)),
            pipelines: PipelineCache::new(c.pipelines_ttl),
            connection: c.connection_name.clone(),
            audit: self.audit.unwrap_or_else(|| Arc::new(TracingAudit)),
        });
        Ok(HubSpot {
            contacts: HubRecords::new(core.clone()),
            accounts: HubRecords::new(core.clone()),
            leads: HubRecords::new(core.clone()),
            opportunities: HubRecords::new(core.clone()),
            tickets: HubRecords::new(core.clone()),
            activities: HubRecords::new(core.clone()),
            capabilities,
            app: c.app,
            core,
        })
    }
}

fn capabilities(s: &Settings) -> Capabilities {
    let mut objects = BTreeMap::new();
    for kind in ObjectKind::ALL {
        let mut caps = ObjectCapabilities::read_write();
        let mut keys = Vec::new();
        if matches!(kind, ObjectKind::Contact | ObjectKind::Lead) {
            keys.push("email".to_owned());
        }
        if s.external_id.is_some() && kind != ObjectKind::Activity {
            keys.push("external_id".to_owned());
        }
        if s.idempotency.is_some() {
            keys.push("idempotency_key".to_owned());
        }
        caps.upsert_keys = keys;
        caps.list_changed_since = true;
        caps.max_batch = Some(MAX_BATCH);
        caps.max_page_size = Some(crate::core::MAX_LIST_PAGE);
        caps.idempotent_create = s.idempotency.is_some();
        objects.insert(kind, caps);
    }
    let mut caps = Capabilities::default();
    caps.objects = objects;
    caps.lookup_by_phone = true;
    caps.lookup_by_external_id = s.external_id.is_some();
    caps.link = true;
    caps
}

/// A connection to one HubSpot account.
pub struct HubSpot {
    pub(crate) core: Arc<Core>,
    capabilities: Capabilities,
    app: AppKind,
    contacts: HubRecords<Contact>,
    accounts: HubRecords<Account>,
    leads: HubRecords<Lead>,
    opportunities: HubRecords<Opportunity>,
    tickets: HubRecords<Ticket>,
    activities: HubRecords<Activity>,
}

impl fmt::Debug for HubSpot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpot")
            .field("http", &self.core.http)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl HubSpot {
    /// A builder.
    pub fn builder() -> HubSpotBuilder {
        HubSpotBuilder::new()
    }

    /// Replaces the mapping overrides for new work, without a restart (calls already running
    /// keep the mapping they started with): each table is merged over the default mapping, as
    /// [`HubSpotBuilder::with_mapping`] does. Checked first; on an error nothing changes.
    /// Audit records carry no mapping version afterwards; see [`HubSpot::set_mapping_file`].
    pub fn set_mappings(&self, overrides: &BTreeMap<MappingTarget, ObjectMapping>) -> Result<()> {
        self.swap_mappings(overrides, None)
    }

    /// Replaces the mapping file for new work, as [`HubSpot::set_mappings`] does with its
    /// tables; audit records then carry the new file's `version@hash` (`None`: back to the
    /// default mapping).
    pub fn set_mapping_file(&self, file: Option<&MappingFile>) -> Result<()> {
        match file {
            Some(f) => self.swap_mappings(&crate::mapping::overrides_from(f)?, Some(f.label())),
            None => self.swap_mappings(&BTreeMap::new(), None),
        }
    }

    /// `version@hash` of the mapping file in use, if one is.
    pub fn mapping_label(&self) -> Option<String> {
        self.core.mappings().label.clone()
    }

    fn swap_mappings(
        &self,
        overrides: &BTreeMap<MappingTarget, ObjectMapping>,
        label: Option<String>,
    ) -> Result<()> {
        let next = Mappings::build(
            &crate::mapping::CustomProps {
                external_id: self.core.settings.external_id.clone(),
                lead_source: self.core.settings.lead_source.clone(),
            },
            overrides,
            label,
        )?;
        *self
            .core
            .mappings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }

    /// Requests per rolling 10 seconds this connection's app may send (HubSpot's API limits), for
    /// configuring a limiter's `general` bucket; the `search` bucket allows 5 per second.
    pub fn burst_per_10s(&self) -> u32 {
        self.app.burst_per_10s()
    }

    /// Creates a contact, or updates the existing one when HubSpot answers that its email is
    /// taken (409 `Contact already exists. Existing ID: N`). Search is eventually consistent,
    /// so "search, then create" races into that 409; this resolves it (HubSpot/hubspot-api-php#59).
    pub async fn create_or_update_contact(
        &self,
        contact: &Contact,
        ctx: &WriteContext,
    ) -> Result<Upserted<Contact>> {
        match self.contacts.create(contact, ctx).await {
            Ok(record) => Ok(Upserted {
                record,
                created: true,
            }),
            Err(e) => match e.kind() {
                ErrorKind::Conflict {
                    existing_id: Some(id),
                    ..
                } => {
                    let record = self.contacts.update(id, contact, ctx).await?;
                    Ok(Upserted {
                        record,
                        created: false,
                    })
                }
                _ => Err(e),
            },
        }
    }
}

#[async_trait]
impl Crm for HubSpot {
    fn vendor(&self) -> &str {
        VENDOR
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn contacts(&self) -> &dyn Contacts {
        &self.contacts
    }

    fn accounts(&self) -> &dyn Accounts {
        &self.accounts
    }

    fn leads(&self) -> &dyn Leads {
        &self.leads
    }

    fn opportunities(&self) -> &dyn Opportunities {
        &self.opportunities
    }

    fn tickets(&self) -> &dyn Tickets {
        &self.tickets
    }

    fn activities(&self) -> &dyn Activities {
        &self.activities
    }

    /// PUTs a v4 association with the HUBSPOT_DEFINED types of the pair (HubSpot's v4 docs).
    async fn link(&self, from: &RecordRef, to: &RecordRef, ctx: &WriteContext) -> Result<()> {
        let (from_obj, from_id) = ref_object(from);
        let (to_obj, to_id) = ref_object(to);
        let result = put_association(&self.core, from_obj, &from_id, to_obj, &to_id, "link").await;
        let mut fields = crm_core::FieldMap::new();
        fields.insert(
            to.kind.link_field().to_owned(),
            crm_core::FieldValue::Text(to.id.to_string()),
        );
        self.core
            .audit("link", from.kind, ctx, &fields, &result, |_| {
                from.id.clone()
            });
        result
    }

    /// The view in as few calls as HubSpot allows; see `docs.md`.
    async fn customer_view(
        &self,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<CustomerView>> {
        crate::view::load(&self.core, lookup, options).await
    }
}
