//! The builder, the capability declaration and the `Backend` implementation: single writes,
//! reads by id, links. Listing and search pages are in `lister.rs`, batches, pipelines and the
//! customer view in `extras/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crm_core::credential::{CredentialProvider, StaticCredential};
use crm_core::limits::RateLimiter;
use crm_core::mapping::ObjectMapping;
use crm_core::raw::http::{HttpClientBuilder, Request};
use crm_core::raw::{
    Backend, BackendFacts, Connection, ConnectionOptions, Query, VendorRecord, VendorWrite,
    WriteOp, Written,
};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::Method;
use crm_core::reexports::secrecy::SecretString;
use crm_core::reexports::serde_json::{Value, json};
use crm_core::{
    Capabilities, Crm, CustomerView, Error, ErrorKind, FieldMap, FieldValue, Lookup,
    ObjectCapabilities, ObjectKind, Page, RecordId, RecordRef, Region, Result, UpsertKey,
    ViewOptions,
};

use crate::config::{AppKind, ConversationLogAs, HubSpotConfig, HubSpotConfigKey, PathFamily};
use crate::extras::logs;
use crate::extras::objects::{HubObject, MappingTarget, Paths};
use crate::extras::pipelines::PipelineCache;
use crate::limits::{self, GENERAL};
pub use crate::state::HubSpotBackend;
use crate::wire::{HsBatch, HsObject, link_fields, locate, ref_object, status_field, text};
use crate::{MAPPING_TARGETS, VENDOR};

/// Object batch endpoints take at most 100 inputs (HubSpot docs, "Using object APIs").
pub(crate) const MAX_BATCH: usize = 100;
/// List pages hold at most 100 records (HubSpot's object API docs).
pub(crate) const MAX_LIST_PAGE: u32 = 100;

#[doc = include_str!("../docs.md")]
#[derive(Debug, Default)]
pub struct HubSpotBuilder {
    config: HubSpotConfig,
    pub(crate) options: ConnectionOptions,
    mappings: BTreeMap<MappingTarget, ObjectMapping>,
    token_store: Option<Arc<dyn crm_core::credential::TokenStore>>,
    deferred: Option<Error>,
}

crm_core::connection_options!(HubSpotBuilder);

/// `pub fn with_x(mut self, arg: T) -> Self`, each setting one field of the builder's config.
macro_rules! config_setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => $field:ident = $value:expr;)*) => {
        $($(#[$doc])* pub fn $name(mut self, $arg: $ty) -> Self {
            self.config.$field = $value;
            self
        })*
    };
}

/// An optional property name as the config holds it.
fn owned(name: Option<&str>) -> Option<String> {
    name.map(str::to_owned)
}

impl HubSpotBuilder {
    /// A builder with the defaults of [`HubSpotConfig::default`]: `https://api.hubapi.com`,
    /// `/crm/v3` paths, a Professional private app, no custom properties (external ids,
    /// idempotency keys and lead sources off: what a stock portal supports), 30 s timeout,
    /// [`RetryPolicy::default`](crm_core::retry::RetryPolicy::default), no pacing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder configured from every `CRM_HUBSPOT_*` environment variable that is set.
    pub fn from_env() -> HubSpotBuilder {
        let mut b = Self::new();
        for (key, value) in HubSpotConfigKey::from_env() {
            b = b.with_config(key.as_str(), value);
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

    config_setters! {
        /// The API base URL. Default `https://api.hubapi.com`.
        with_base_url(url: impl Into<String>) => base_url = url.into();
        /// The path family. Default [`PathFamily::V3`].
        with_path_family(family: PathFamily) => path_family = family;
        /// The app kind, which sets the burst budget reported by
        /// [`HubSpotBackend::burst_per_10s`]. Default [`AppKind::PrivateProfessional`].
        with_app(app: AppKind) => app = app;
        /// A private-app token (`Authorization: Bearer pat-…`).
        with_token(token: SecretString) => token = Some(token);
        /// The unique custom property holding `external_id`. Default none: look-ups and upserts
        /// by external id fail with an `Unsupported` error naming the setting before any
        /// request, and [`Capabilities::lookup_by_external_id`] and the upsert keys say so.
        with_external_id_property(name: Option<&str>) => external_id_property = owned(name);
        /// The unique custom property holding idempotency keys (on every object written; the
        /// connection setting `idempotency_property`); with it, a create carrying a key stores
        /// the key there, so a second attempt conflicts and returns the first record. Default
        /// none: idempotent creates are off, and a create carrying a key fails with a `Config`
        /// error before any request (`crm-connect doctor` checks the property).
        with_idempotency_field(name: Option<&str>) => idempotency_property = owned(name);
        /// The contact property holding a lead's `source`. Default none: a lead's `source` is
        /// not sent (a stock portal has no property for a free-text source).
        with_lead_source_property(name: Option<&str>) => lead_source_property = owned(name);
        /// A custom property marking conversation logs (value `conversation_log`; `crm-connect
        /// doctor` checks it exists). Default none: a log's body starts with
        /// [`crate::CONVERSATION_LOG_MARKER`], which needs no custom property.
        with_activity_kind_property(name: Option<&str>) => activity_kind_property = owned(name);
        /// Which object holds conversation logs. Default [`ConversationLogAs::Note`].
        with_conversation_log_as(what: ConversationLogAs) => conversation_log_as = what;
        /// The region phone numbers without a country code are read in. Default `US`.
        with_phone_region(region: impl Into<String>) => phone_region = region.into();
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

    /// Overrides (part of) the mapping of one target, merged over the default: its fields,
    /// states, labels and values replace entries of the same name, and its `pass_through`
    /// replaces the default's (`true`; note that `ObjectMapping::default()` has `false`, a
    /// mapping parsed from TOML `true`). A mapping file (`with_mapping_file`) is laid over the
    /// result the same way, table by table.
    pub fn with_mapping(mut self, target: MappingTarget, mapping: ObjectMapping) -> Self {
        self.mappings.insert(target, mapping);
        self
    }

    /// The connection's credentials; OAuth token refreshes draw from `limiter` too, since
    /// HubSpot counts its token endpoint against the same limit.
    fn credentials(
        &self,
        limiter: Option<Arc<dyn RateLimiter>>,
    ) -> Result<Arc<dyn CredentialProvider>> {
        let c = &self.config;
        if let Some(p) = &self.options.credentials {
            return Ok(p.clone());
        }
        if let (Some(id), Some(secret), Some(refresh)) =
            (&c.client_id, &c.client_secret, &c.refresh_token)
        {
            let (secret, refresh, store) =
                (secret.clone(), refresh.clone(), self.token_store.clone());
            let oauth =
                crate::credential::oauth_paced(&c.base_url, id, secret, refresh, store, limiter);
            return Ok(Arc::new(oauth?));
        }
        match &c.token {
            Some(token) => Ok(Arc::new(StaticCredential::bearer(token.clone()))),
            None => Err(Error::config(
                "token: set a private-app token, OAuth settings (client_id, client_secret, refresh_token) or a credential provider",
            )),
        }
    }

    /// The default mapping per target with the settings' custom properties and the
    /// [`HubSpotBuilder::with_mapping`] overrides laid over it.
    fn defaults(&self) -> Result<BTreeMap<&'static str, ObjectMapping>> {
        let c = &self.config;
        let defaults = crate::default_mapping()?;
        let mut out = BTreeMap::new();
        for target in MappingTarget::ALL {
            let mut m = defaults.get(target.as_str()).cloned().unwrap_or_default();
            if let Some(p) = &c.external_id_property
                && target.kind() != ObjectKind::Activity
            {
                m.fields.insert("external_id".into(), p.clone());
            }
            if let (MappingTarget::Lead, Some(p)) = (target, &c.lead_source_property) {
                m.fields.insert("source".into(), p.clone());
            }
            if let Some(o) = self.mappings.get(&target) {
                m = m.overlaid_with(o);
            }
            m.validate(
                target.kind(),
                &format!("hubspot {} mapping", target.as_str()),
            )?;
            out.insert(target.as_str(), m);
        }
        Ok(out)
    }

    /// Checks everything and builds the connection. Makes no network call.
    pub fn build(self) -> Result<HubSpot> {
        crm_core::warm_up(); // the phone metadata loads now, off the first call's latency
        if let Some(e) = self.deferred {
            return Err(e);
        }
        let c = &self.config;
        c.validate()?;
        // The limiter every request of the connection draws from, token requests included: the
        // one given or the adapter's own, with the observer in front.
        let limiter = self
            .options
            .limiter(|| Some(Arc::new(limits::limiter_for(c))));
        let mut http = HttpClientBuilder::new(VENDOR, c.base_url.clone())
            .with_credentials(self.credentials(limiter.clone())?)
            .with_correlation_headers(&["x-hubspot-correlation-id", "x-request-id"])
            .with_error_parser(Arc::new(crate::error::HubSpotErrorParser));
        if let Some(limiter) = limiter {
            http = http.with_limiter(limiter);
        }
        let http = self.options.transport(http).build()?;
        let mappings =
            self.options
                .mappings("the HubSpot adapter", MAPPING_TARGETS, self.defaults()?)?;
        let mut config = c.clone();
        (config.token, config.client_secret, config.refresh_token) = (None, None, None);
        let backend = HubSpotBackend {
            http,
            paths: Paths::new(&c.path_family),
            capabilities: capabilities(c),
            config,
            region: Region::parse(&c.phone_region)?,
            mappings: mappings.clone(),
            pipelines: PipelineCache::new(c.pipelines_ttl),
            props_cache: Default::default(),
            recent: Default::default(),
        };
        Ok(self.options.connect(backend, mappings, &c.connection_name))
    }
}

fn capabilities(s: &HubSpotConfig) -> Capabilities {
    let mut objects = BTreeMap::new();
    for kind in ObjectKind::ALL {
        let mut caps = ObjectCapabilities::read_write();
        let mut keys = Vec::new();
        if matches!(kind, ObjectKind::Contact | ObjectKind::Lead) {
            keys.push("email".to_owned());
        }
        if s.external_id_property.is_some() && kind != ObjectKind::Activity {
            keys.push("external_id".to_owned());
        }
        if s.idempotency_property.is_some() {
            keys.push("idempotency_key".to_owned());
        }
        caps.upsert_keys = keys;
        caps.list_changed_since = true;
        caps.max_batch = Some(MAX_BATCH);
        caps.max_page_size = Some(MAX_LIST_PAGE);
        caps.idempotent_create = s.idempotency_property.is_some();
        objects.insert(kind, caps);
    }
    let mut caps = Capabilities::default();
    caps.objects = objects;
    caps.lookup_by_phone = true;
    caps.lookup_by_external_id = s.external_id_property.is_some();
    caps.link = true;
    caps
}

/// A connection to one HubSpot account.
pub type HubSpot = Connection<HubSpotBackend>;

/// A replay-safe `POST` of a JSON body on the general bucket: batch reads and writes,
/// association reads. A create that may not be sent twice says so with `.idempotent(false)`.
pub(crate) fn post(path: String, operation: &str, body: Value) -> Request {
    Request::new(Method::POST, path, operation)
        .json(body)
        .idempotent(true)
        .bucket(GENERAL)
}

/// Whether a failed keyed create may have hit its own key: a conflict, or a validation error
/// naming the key's property (HubSpot reports duplicate unique values either way).
pub(crate) fn conflicts_on(err: &Error, prop: &str) -> bool {
    match err.kind() {
        ErrorKind::Conflict { .. } => true,
        ErrorKind::Validation { fields } => fields.iter().any(|f| f.field == prop),
        _ => false,
    }
}

impl HubSpotBackend {
    /// Requests per rolling 10 seconds this connection's app may send (HubSpot's API limits),
    /// for configuring a limiter's `general` bucket; the `search` bucket allows 5 per second.
    pub fn burst_per_10s(&self) -> u32 {
        self.config.app.burst_per_10s()
    }

    /// `POST /objects/{o}/batch/read` of `ids` in chunks of 100, by `id_property` when given
    /// (with that property read too); ids that do not exist are left out.
    pub(crate) async fn batch_read(
        &self,
        target: MappingTarget,
        ids: &[impl AsRef<str>],
        id_property: Option<&str>,
        operation: &str,
    ) -> Result<Vec<HsObject>> {
        let mut properties = self.read_props(target);
        properties.extend(id_property.map(str::to_owned));
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_BATCH) {
            let inputs: Vec<Value> = chunk.iter().map(|id| json!({"id": id.as_ref()})).collect();
            let mut body = json!({"inputs": inputs, "properties": properties});
            if let (Some(p), Some(m)) = (id_property, body.as_object_mut()) {
                m.insert("idProperty".into(), json!(p));
            }
            let path = self.paths.batch(target.object(), "read");
            let batch: HsBatch = self.http.send(post(path, operation, body)).await?.json()?;
            out.extend(batch.results);
        }
        Ok(out)
    }

    /// The upsert key's `idProperty` (the connection checked the key is one of the object's).
    pub(crate) fn id_property(&self, key: &UpsertKey) -> String {
        let configured = match key {
            UpsertKey::Email(_) => None,
            UpsertKey::ExternalId(_) => self.config.external_id_property.clone(),
            UpsertKey::Idempotency(_) => self.config.idempotency_property.clone(),
        };
        configured.unwrap_or_else(|| "email".to_owned())
    }

    async fn create(&self, w: VendorWrite, key: Option<String>) -> Result<Written> {
        let operation = crm_core::raw::operation(w.kind, crm_core::raw::Verb::Create);
        let mut p = self.prepare(&w, None).await?;
        let target = p.target;
        let key = match (key, &self.config.idempotency_property) {
            (Some(key), Some(prop)) => {
                p.props.insert(prop.clone(), Value::String(key.clone()));
                Some((prop.clone(), key))
            }
            _ => None,
        };
        let body = json!({"properties": p.props, "associations": p.inline_associations()});
        // With a key in a unique property the create is safe to send again: a second attempt
        // conflicts on the key, and the record is then read by it (HubSpot's object API docs).
        let path = self.paths.collection(target.object());
        let req = post(path, operation, body).idempotent(key.is_some());
        let sent = self.http.send(req).await.and_then(|r| r.json::<HsObject>());
        let hs = match (sent, &key) {
            (Ok(hs), _) => hs,
            (Err(e), Some((prop, key))) if conflicts_on(&e, prop) => {
                let by_key = self.fetch(target, key, Some(prop), operation).await;
                // Nothing under the key: the conflict was on another unique value (an email).
                by_key.map_err(|_| self.rename(e, target))?
            }
            (Err(e), _) => return Err(self.rename(e, target)),
        };
        let record = self.record(target, hs, &p.context()).await?;
        Ok(Written {
            record,
            created: true,
        })
    }

    async fn update(&self, w: VendorWrite, id: &RecordId) -> Result<Written> {
        let operation = crm_core::raw::operation(w.kind, crm_core::raw::Verb::Update);
        let (target, raw) = locate(w.kind, id)?;
        let p = self.prepare(&w, Some(&raw)).await?;
        let object = target.object();
        let mut hs = None;
        if !p.props.is_empty() {
            let req = Request::new(Method::PATCH, self.paths.record(object, &raw), operation)
                .addresses_record()
                .json(json!({"properties": p.props}))
                .idempotent(true)
                .bucket(GENERAL);
            let resp = self
                .http
                .send(req)
                .await
                .map_err(|e| self.rename(e, target))?;
            hs = Some(resp.json::<HsObject>()?);
        }
        self.put_links(object, &raw, &p.links, operation).await?;
        let hs = match hs {
            Some(hs) if p.links.is_empty() => hs,
            _ => self.fetch(target, &raw, None, operation).await?,
        };
        let record = self.record(target, hs, &p.context()).await?;
        Ok(Written {
            record,
            created: false,
        })
    }
}

#[async_trait]
impl Backend for HubSpotBackend {
    type Builder = HubSpotBuilder;

    fn facts(&self) -> BackendFacts<'_> {
        let setting = "idempotency_property` (a unique-value property, \"Require unique values for this \
             property\", on every object the bot creates, named by its internal name";
        BackendFacts::new(VENDOR, &self.capabilities, self.region, setting)
    }

    /// A stock portal has no property for external ids: say how an admin adds one.
    fn setup_hint(&self, _kind: ObjectKind, what: &str) -> Option<String> {
        (what == "external_id" && self.config.external_id_property.is_none()).then(|| {
            "no `external_id_property` is configured: in HubSpot, Settings > Data Management > \
             Properties, create a single-line text property with \"Require unique values for \
             this property\" checked on each object (contacts, companies, deals, tickets), and \
             set `external_id_property` to its internal name"
                .to_owned()
        })
    }

    /// Activities go to notes, tasks or calls by their `kind` (conversation logs to notes, or
    /// calls with `conversation_log_as = call`).
    fn target(&self, kind: ObjectKind, common: &FieldMap) -> &'static str {
        if kind != ObjectKind::Activity {
            return kind.as_str();
        }
        let kind = text(common, "kind")
            .and_then(|k| crm_core::ActivityKind::from_name(&k))
            .unwrap_or_default();
        let object = HubObject::for_activity(kind, self.log_object());
        MappingTarget::for_engagement(object).as_str()
    }

    /// Takes out what is not a property (links, a lead's contact, an activity's kind), folds a
    /// note's subject into its body, marks a conversation log in its body on a portal without
    /// `activity_kind_property`, and leaves stages given by state to the write itself
    /// (they come from the pipelines).
    fn before_mapping(
        &self,
        kind: ObjectKind,
        op: &WriteOp,
        target: &mut &'static str,
        common: &mut FieldMap,
    ) -> Result<()> {
        if let (ObjectKind::Activity, WriteOp::Update { id }) = (kind, op) {
            *target = crate::wire::locate_unchecked(kind, id.as_str()).0.as_str();
        }
        let target = MappingTarget::named(target).unwrap_or(MappingTarget::Note);
        for (field, _) in link_fields(kind) {
            common.remove(*field);
        }
        if kind == ObjectKind::Lead {
            // A lead is the contact itself.
            common.remove("contact_id");
            // No `lead_source_property` and no mapping for it: a stock portal has no property
            // for a free-text source, so it is not sent.
            let mapping = self.mappings.get(target.as_str())?;
            if !mapping.fields.contains_key("source") && !mapping.rules.contains_key("source") {
                common.remove("source");
            }
        }
        if kind == ObjectKind::Activity {
            let log = text(common, "kind").as_deref() == Some("conversation_log");
            common.remove("kind");
            if target == MappingTarget::Note
                && let Some(subject) = text(common, "subject")
            {
                // Notes have no subject: it becomes the first paragraph of the body.
                common.remove("subject");
                let body = match text(common, "body") {
                    Some(b) => format!("{subject}\n\n{b}"),
                    None => subject,
                };
                common.insert("body".into(), FieldValue::Text(body));
            }
            if target == MappingTarget::Task {
                // A task's hs_timestamp is its due date; its "when" is its creation time.
                common.remove("timestamp");
            }
            // A stock portal: the log is marked in its body, also when an update replaces it.
            let update = matches!(op, WriteOp::Update { .. });
            if log
                && self.config.activity_kind_property.is_none()
                && (!update || common.contains_key("body"))
            {
                logs::mark(common);
            }
        }
        if let Some(field) = status_field(target) {
            let state = format!("{field}_state");
            match target {
                MappingTarget::Ticket | MappingTarget::Opportunity => {
                    common.remove(&state);
                }
                _ => {
                    if text(common, field).is_none()
                        && let Some(s) = text(common, &state)
                        && let Some(v) = preferred_raw(target, &s)
                    {
                        common.insert(field.into(), FieldValue::Text(v.to_owned()));
                    }
                }
            }
        }
        Ok(())
    }

    async fn get(&self, kind: ObjectKind, id: &RecordId) -> Result<VendorRecord> {
        let operation = crm_core::raw::operation(kind, crm_core::raw::Verb::Get);
        let (target, raw) = locate(kind, id)?;
        // One mapping look-up for the request's properties and the decoding.
        let named = self.mappings.get_named(target.as_str())?;
        let hs = self
            .fetch_with(target, &named.0, &raw, None, operation)
            .await?;
        self.record_with(target, named, hs, &[]).await
    }

    async fn write(&self, write: VendorWrite) -> Result<Written> {
        let written = match write.op.clone() {
            WriteOp::Create { key } => self.create(write, key.map(|k| k.as_str().to_owned())).await,
            WriteOp::Update { id } => self.update(write, &id).await,
            // One input of the batch endpoint (HubSpot has no single-record upsert).
            WriteOp::Upsert { .. } => self
                .batch(vec![write])
                .await
                .pop()
                .unwrap_or_else(|| Err(Error::decode("HubSpot's upsert answer has no result"))),
        };
        self.note_written(&written);
        written
    }

    /// Batch endpoints, every input tagged with an `objectWriteTraceId` (`extras/batch.rs`).
    async fn write_batch(&self, writes: Vec<VendorWrite>) -> Vec<Result<Written>> {
        let written = self.batch(writes).await;
        for w in &written {
            self.note_written(w);
        }
        written
    }

    async fn query_page(
        &self,
        query: &Query,
        cursor: Option<String>,
    ) -> Result<Page<VendorRecord>> {
        self.page(query, cursor).await
    }

    /// PUTs a v4 association with the HUBSPOT_DEFINED types of the pair (HubSpot's v4 docs).
    async fn link(&self, from: &RecordRef, to: &RecordRef) -> Result<()> {
        let (from_obj, from_id) = ref_object(from);
        let (to_obj, to_id) = ref_object(to);
        let links = [(to_obj, to_id)];
        self.put_links(from_obj, &from_id, &links, "link").await
    }

    /// The view in two sequential round trips (`extras/view.rs`).
    async fn customer_view(
        &self,
        _crm: &dyn Crm,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<CustomerView>> {
        self.view(lookup, options).await
    }

    /// The settings' properties, through the properties API (`extras/schema.rs`).
    async fn check_setup(&self) -> Result<Vec<crm_core::raw::SetupCheck>> {
        HubSpotBackend::check_setup(self).await
    }

    async fn check_table(
        &self,
        (target, _): crm_core::raw::Target,
        mapping: &crm_core::mapping::ObjectMapping,
    ) -> Result<crm_core::raw::TableCheck> {
        let problems = self.check_mapping(target.parse()?, mapping).await?;
        Ok(crm_core::raw::TableCheck::Checked(problems))
    }
}

/// The vendor value a write of a bare state gets, where several values share the state.
fn preferred_raw(target: MappingTarget, state: &str) -> Option<&'static str> {
    match (target, state) {
        (MappingTarget::Lead, "new") => Some("NEW"),
        (MappingTarget::Lead, "working") => Some("IN_PROGRESS"),
        (MappingTarget::Lead, "qualified") => Some("OPEN_DEAL"),
        (MappingTarget::Lead, "unqualified") => Some("UNQUALIFIED"),
        (MappingTarget::Task, "not_started") => Some("NOT_STARTED"),
        (MappingTarget::Task, "in_progress") => Some("IN_PROGRESS"),
        (MappingTarget::Task, "waiting") => Some("WAITING"),
        (MappingTarget::Task, "completed") => Some("COMPLETED"),
        _ => None,
    }
}
