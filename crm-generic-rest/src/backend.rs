//! The builder, the capability declaration and the trait implementations.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crm_core::audit::{AuditSink, TracingAudit};
use crm_core::credential::{CredentialProvider, StaticCredential};
use crm_core::mapping::{MappingFile, WriteMode};
use std::num::NonZeroU32;

use crm_core::limits::{BucketConfig, DEFAULT_BUCKET, LimitHint, PacingLimiter, RateLimiter};
use crm_core::raw::http::{HttpClientBuilder, encode_segment};
use crm_core::reexports::async_trait;
use crm_core::reexports::futures::future::BoxFuture;
use crm_core::reexports::futures::{FutureExt, StreamExt, stream};
use crm_core::reexports::secrecy::SecretString;
use crm_core::reexports::serde_json::{Map, Value};
use crm_core::retry::RetryPolicy;
use crm_core::{
    Account, Accounts, Activities, Activity, BatchResult, Capabilities, Condition, Contact,
    Contacts, Crm, Entity, Error, FieldMap, FieldValue, Filter, IdempotencyKey, Lead, Leads,
    ListQuery, Lookup, ObjectCapabilities, ObjectKind, Opportunities, Opportunity, PageStream,
    Record, RecordId, RecordRef, Records, Result, Ticket, Tickets, UpsertKey, Upserted,
    WriteContext,
};

use crate::config::{AuthKind, RateLimitSpec, Spec};
use crate::core::{Core, SpecErrorParser};
use crate::lister::{ListParams, stream as list_stream};

/// How many single calls a batch runs at once when the server has no batch endpoint.
const BATCH_CONCURRENCY: usize = 4;

/// The vendor name this adapter reports.
pub const VENDOR: &str = "generic-rest";

#[doc = include_str!("../docs.md")]
pub struct GenericRestBuilder {
    spec: Option<Spec>,
    spec_file: Option<PathBuf>,
    base_url: Option<String>,
    token: Option<SecretString>,
    credentials: Option<Arc<dyn CredentialProvider>>,
    root_ca_files: Vec<PathBuf>,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    limiter: Option<Arc<dyn RateLimiter>>,
    observer: Option<Arc<dyn crm_core::limits::RequestObserver>>,
    connection: Option<String>,
    audit: Option<Arc<dyn AuditSink>>,
    mapping: Option<MappingFile>,
}

impl fmt::Debug for GenericRestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericRestBuilder")
            .field("spec", &self.spec.as_ref().map(|s| &s.name))
            .field("spec_file", &self.spec_file)
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Default for GenericRestBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl GenericRestBuilder {
    /// A builder with the default spec (the sandbox's), no credential and the default transport
    /// settings (30 s timeout, [`RetryPolicy::default`], no pacing).
    pub fn new() -> Self {
        Self {
            spec: None,
            spec_file: None,
            base_url: None,
            token: None,
            credentials: None,
            root_ca_files: Vec::new(),
            timeout: None,
            retry: None,
            limiter: None,
            observer: None,
            connection: None,
            audit: None,
            mapping: None,
        }
    }

    /// Lays a mapping file over the spec's field mapping (see `crm_core::mapping::MappingFile`;
    /// load it with [`crate::MAPPING_TARGETS`]). Its `version@hash` goes into every audit record.
    pub fn with_mapping_file(mut self, file: MappingFile) -> Self {
        self.mapping = Some(file);
        self
    }

    /// A name for this connection (a tenant's CRM) in audit records and logs. Default: the
    /// spec's `name`.
    pub fn with_connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection = Some(name.into());
        self
    }

    /// Where audit records of writes go. Default: [`TracingAudit`].
    pub fn with_audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Uses a parsed spec instead of the default.
    pub fn with_spec(mut self, spec: Spec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// Reads the spec from a TOML file at `build()`.
    pub fn with_spec_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.spec_file = Some(path.into());
        self
    }

    /// Overrides the spec's base URL.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The token (for `auth.kind = "bearer"`) or key (for `"api_key"`).
    pub fn with_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// A credential provider (rotation, OAuth); replaces `with_token`.
    pub fn with_credentials(mut self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.credentials = Some(provider);
        self
    }

    /// Trusts an extra root CA (PEM file).
    pub fn with_root_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_ca_files.push(path.into());
        self
    }

    /// Per-attempt timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Rate limiter (share one per vendor account). Default: a [`PacingLimiter`] for the
    /// spec's `[rate_limit]`, or none.
    pub fn with_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Shows every request and response to `observer` (a request counter, metrics), in front
    /// of the limiter the connection uses anyway (the given one, or the spec's pacing):
    /// observing never replaces the pacing.
    pub fn with_request_observer(
        mut self,
        observer: Arc<dyn crm_core::limits::RequestObserver>,
    ) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Checks everything and builds the connection. Makes no network call.
    pub fn build(self) -> Result<GenericRest> {
        crm_core::warm_up(); // the phone metadata loads now, off the first call's latency
        let spec = match (self.spec, &self.spec_file) {
            (Some(spec), _) => spec,
            (None, Some(path)) => Spec::from_file(path)?,
            (None, None) => Spec::default_spec()?,
        };
        let base_url = self
            .base_url
            .or_else(|| spec.base_url.clone())
            .ok_or_else(|| Error::config("base_url: not set in the spec nor the connection"))?;
        let credentials: Arc<dyn CredentialProvider> = match (self.credentials, self.token) {
            (Some(p), _) => p,
            (None, token) => match (spec.auth.kind, token) {
                (AuthKind::None, _) => Arc::new(StaticCredential::none()),
                (AuthKind::Bearer, Some(t)) => Arc::new(StaticCredential::bearer(t)),
                (AuthKind::ApiKey, Some(t)) => Arc::new(StaticCredential::api_key(
                    spec.auth.header.as_deref().unwrap_or("X-Api-Key"),
                    t,
                )?),
                (_, None) => {
                    return Err(Error::config(
                        "auth: the spec needs a token or key and none was given",
                    ));
                }
            },
        };
        let headers: Vec<&str> = spec
            .correlation_headers
            .iter()
            .map(String::as_str)
            .collect();
        let mut http = HttpClientBuilder::new(VENDOR, base_url)
            .with_credentials(credentials)
            .with_error_parser(Arc::new(SpecErrorParser {
                errors: spec.errors.clone(),
            }));
        if !headers.is_empty() {
            http = http.with_correlation_headers(&headers);
        }
        for ca in self.root_ca_files {
            http = http.with_root_ca_file(ca);
        }
        if let Some(t) = self.timeout {
            http = http.with_timeout(t);
        }
        if let Some(r) = self.retry {
            http = http.with_retry(r);
        }
        let limiter: Option<Arc<dyn RateLimiter>> = match (self.limiter, &spec.rate_limit) {
            (Some(l), _) => Some(l),
            (None, Some(rl)) => Some(Arc::new(pacing_for(rl))),
            (None, None) => None,
        };
        if let Some(l) = crm_core::limits::Observed::layer(limiter, self.observer.as_ref()) {
            http = http.with_limiter(l);
        }
        let capabilities = capabilities(&spec);
        let connection = self.connection.unwrap_or_else(|| spec.name.clone());
        let audit = self.audit.unwrap_or_else(|| Arc::new(TracingAudit));
        let core = Core::new(
            http.build()?,
            spec,
            connection,
            audit,
            self.mapping.as_ref(),
        )?;
        Ok(GenericRest {
            contacts: RestObject::new(core.clone()),
            accounts: RestObject::new(core.clone()),
            leads: RestObject::new(core.clone()),
            opportunities: RestObject::new(core.clone()),
            tickets: RestObject::new(core.clone()),
            activities: RestObject::new(core.clone()),
            capabilities,
            core,
        })
    }
}

impl Spec {
    /// The limiter the spec's `[rate_limit]` asks for, if it has one: for callers that wrap the
    /// limiter (to count requests) and must keep the pacing.
    pub fn pacing(&self) -> Option<PacingLimiter> {
        self.rate_limit.as_ref().map(pacing_for)
    }
}

/// Paces the default bucket under the spec's limit, corrected by its headers if it names any.
fn pacing_for(rl: &RateLimitSpec) -> PacingLimiter {
    let limit = NonZeroU32::new(rl.requests).unwrap_or(NonZeroU32::MIN);
    let bucket = BucketConfig::new(DEFAULT_BUCKET, limit, Duration::from_secs(rl.per_seconds));
    let limiter = PacingLimiter::new([bucket]);
    if rl.remaining_header.is_none() && rl.reset_header.is_none() {
        return limiter;
    }
    let (remaining, reset) = (rl.remaining_header.clone(), rl.reset_header.clone());
    limiter.with_hints(Arc::new(move |_status, headers| {
        let number = |name: &Option<String>| {
            name.as_deref()
                .and_then(|n| headers.get(n))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Some(LimitHint {
            remaining: number(&remaining),
            reset_after: number(&reset).map(Duration::from_secs),
            daily: None,
            limit: None,
        })
    }))
}

fn capabilities(spec: &Spec) -> Capabilities {
    let mut objects = BTreeMap::new();
    for kind in ObjectKind::ALL {
        let Some(object) = spec.object(kind) else {
            continue;
        };
        let mut caps = ObjectCapabilities::read_write();
        caps.upsert_keys = object.upsert.keys().cloned().collect();
        caps.list_changed_since = spec.query.changed_since_param.is_some();
        caps.max_page_size = Some(spec.paging.max_page_size);
        caps.idempotent_create =
            spec.idempotency.header.is_some() || object.upsert.contains_key("idempotency_key");
        objects.insert(kind, caps);
    }
    let mut caps = Capabilities::default();
    caps.objects = objects;
    caps.lookup_by_phone = spec.lookup.phone.is_some();
    caps.lookup_by_external_id = spec.lookup.external_id.is_some();
    caps.link = true;
    caps
}

/// A connection to a company's own REST CRM, described by a [`Spec`].
pub struct GenericRest {
    pub(crate) core: Arc<Core>,
    capabilities: Capabilities,
    contacts: RestObject<Contact>,
    accounts: RestObject<Account>,
    leads: RestObject<Lead>,
    opportunities: RestObject<Opportunity>,
    tickets: RestObject<Ticket>,
    activities: RestObject<Activity>,
}

impl fmt::Debug for GenericRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericRest")
            .field("spec", &self.core.spec.name)
            .field("http", &self.core.http)
            .finish_non_exhaustive()
    }
}

impl GenericRest {
    /// A builder.
    pub fn builder() -> GenericRestBuilder {
        GenericRestBuilder::new()
    }

    /// Replaces the mapping file for new work, without a restart: calls already running keep
    /// the mapping they started with. The file is validated against the spec first; on an
    /// error nothing changes.
    pub fn set_mapping_file(&self, file: Option<&MappingFile>) -> Result<()> {
        self.core.swap_mapping(file)
    }

    /// `version@hash` of the mapping file in use, if any.
    pub fn mapping_label(&self) -> Option<String> {
        self.core.mapping_label()
    }

    /// The mapping in use for `kind` (the spec's with the file laid over), if the spec declares
    /// the object.
    pub fn effective_mapping(&self, kind: ObjectKind) -> Option<crm_core::mapping::ObjectMapping> {
        self.core.mapping(kind).ok().map(|m| (*m).clone())
    }
}

/// One object family of a generic REST connection.
pub struct RestObject<T> {
    core: Arc<Core>,
    _kind: PhantomData<fn() -> T>,
}

impl<T: Entity> fmt::Debug for RestObject<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RestObject<{}>", T::KIND)
    }
}

fn op<T: Entity>(name: &str) -> String {
    format!("{}.{name}", T::KIND)
}

impl<T: Entity> RestObject<T> {
    fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            _kind: PhantomData,
        }
    }

    fn check(&self, operation: &str) -> Result<&crate::config::ObjectSpec> {
        self.core.object(T::KIND, operation)
    }

    /// Vendor query parameters for a filter.
    fn filter_params(&self, filter: &Filter) -> Result<Vec<(String, String)>> {
        filter
            .all
            .iter()
            .map(|c| {
                let param = self.lookup_param(c)?;
                Ok((param, condition_text(c)?))
            })
            .collect()
    }

    fn lookup_param(&self, c: &Condition) -> Result<String> {
        let lookup = &self.core.spec.lookup;
        let declared = match c.field.as_str() {
            "email" => lookup.email.clone(),
            "phone" => lookup.phone.clone(),
            "external_id" => lookup.external_id.clone(),
            _ => None,
        };
        match declared {
            Some(p) => Ok(p),
            None => self.core.vendor_field(T::KIND, &c.field),
        }
    }

    async fn find_where(
        &self,
        filters: Vec<(String, String)>,
        limit: usize,
        newest_first: Option<String>,
        keep: impl Fn(&Record<T>) -> bool + Send,
        operation: &str,
    ) -> Result<Vec<Record<T>>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let params = ListParams {
            filters,
            newest_first: None,
            page_size: u32::try_from(limit).unwrap_or(u32::MAX),
        }
        .sorted_newest_first(&self.core, newest_first.as_deref());
        let mut found = Vec::new();
        // Pages are fetched only until `limit` matching records are found, through core's
        // paging, which stops a server whose cursors cycle or never end.
        let mut pages =
            list_stream::<T>(self.core.clone(), params, &ListQuery::default(), operation);
        while let Some(page) = pages.next().await {
            found.extend(page?.items.into_iter().filter(|r| keep(r)));
            if found.len() >= limit {
                found.truncate(limit);
                break;
            }
        }
        Ok(found)
    }

    async fn create_audited(&self, input: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let result = self
            .create_inner(input, ctx)
            .await
            .map_err(|e| self.core.name_fields(T::KIND, e));
        let fields = input.to_fields();
        self.core
            .audit("create", T::KIND, ctx, &fields, &result, |r| r.id.clone());
        result
    }

    async fn update_audited(
        &self,
        id: &RecordId,
        patch: &T,
        ctx: &WriteContext,
    ) -> Result<Record<T>> {
        let result = self
            .update_inner(id, patch)
            .await
            .map_err(|e| self.core.name_fields(T::KIND, e));
        let fields = patch.to_fields();
        self.core
            .audit("update", T::KIND, ctx, &fields, &result, |r| r.id.clone());
        result
    }

    async fn upsert_audited(
        &self,
        key: &UpsertKey,
        input: &T,
        ctx: &WriteContext,
        operation: &str,
    ) -> Result<Upserted<T>> {
        let result = match self.core.body_for(input, WriteMode::Update) {
            Ok(body) => self.upsert_inner(key, body, operation).await,
            Err(e) => Err(e),
        }
        .map_err(|e| self.core.name_fields(T::KIND, e));
        let fields = input.to_fields();
        self.core
            .audit("upsert", T::KIND, ctx, &fields, &result, |u| {
                u.record.id.clone()
            });
        result
    }

    async fn create_inner(&self, input: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let operation = op::<T>("create");
        let object = self.check(&operation)?;
        let header = self.core.idempotency_header()?;
        if ctx.idempotency_key.is_some()
            && header.is_none()
            && !object.upsert.contains_key("idempotency_key")
        {
            return Err(key_without_idempotency(T::KIND, &operation));
        }
        let body = self.core.body_for(input, WriteMode::Create)?;
        match (&ctx.idempotency_key, header) {
            (Some(key), Some(header)) => {
                // The server de-duplicates on the header, so the create may be retried.
                let req = self
                    .core
                    .write_request(&object.create_method, object.path.clone(), operation, body)?
                    .header(header, key.as_str())
                    .idempotent(true);
                let resp = self.core.http.send(req).await?;
                self.core.decode_record(&resp, object)
            }
            (Some(key), None) if object.upsert.contains_key("idempotency_key") => {
                // No header: the key goes in the server's unique field, through an upsert.
                let up = self
                    .upsert_inner(&UpsertKey::Idempotency(key.clone()), body, &operation)
                    .await?;
                Ok(up.record)
            }
            _ => {
                let req = self.core.write_request(
                    &object.create_method,
                    object.path.clone(),
                    operation,
                    body,
                )?;
                let resp = self.core.http.send(req).await?;
                self.core.decode_record(&resp, object)
            }
        }
    }

    async fn update_inner(&self, id: &RecordId, patch: &T) -> Result<Record<T>> {
        let body = self.core.body_for(patch, WriteMode::Update)?;
        self.update_vendor(id, body).await
    }

    async fn update_vendor(&self, id: &RecordId, body: Map<String, Value>) -> Result<Record<T>> {
        let operation = op::<T>("update");
        let object = self.check(&operation)?;
        let path = self.core.record_path(object, id);
        // Setting fields to given values is idempotent, so an update may be retried.
        let req = self
            .core
            .write_request(&object.update_method, path, operation, body)?
            .addresses_record()
            .idempotent(true);
        let resp = self.core.http.send(req).await?;
        if resp.body.iter().all(u8::is_ascii_whitespace) {
            return self.get(id).await;
        }
        self.core.decode_record(&resp, object)
    }

    async fn upsert_inner(
        &self,
        key: &UpsertKey,
        mut body: Map<String, Value>,
        operation: &str,
    ) -> Result<Upserted<T>> {
        let object = self.check(operation)?;
        let template = object.upsert.get(key.field()).ok_or_else(|| {
            Error::unsupported(
                operation,
                format!("{} records cannot be upserted by {}", T::KIND, key.field()),
            )
        })?;
        if key.value().is_empty() {
            return Err(Error::invalid_input("the upsert key is empty").with_operation(operation));
        }
        // The key travels in the path; servers refuse it in the body too.
        if let Ok(vendor_key) = self.core.vendor_field(T::KIND, key.field()) {
            body.remove(&vendor_key);
        }
        let path = template.replace("{value}", &encode_segment(key.value()));
        let req = self
            .core
            .write_request(&object.upsert_method, path, operation.to_owned(), body)?
            .addresses_record()
            .idempotent(true);
        let resp = self.core.http.send(req).await?;
        let created = resp.status.as_u16() == 201;
        let record = self.core.decode_record(&resp, object)?;
        Ok(Upserted { record, created })
    }
}

fn condition_text(c: &Condition) -> Result<String> {
    match &c.value {
        FieldValue::Text(s) => Ok(s.clone()),
        FieldValue::Number(n) => Ok(n.to_string()),
        FieldValue::Bool(b) => Ok(b.to_string()),
        FieldValue::Date(d) => Ok(d.format("%Y-%m-%d").to_string()),
        FieldValue::DateTime(dt) => Ok(dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        other => Err(Error::invalid_input(format!(
            "cannot filter `{}` by a {} value",
            c.field,
            other.type_name()
        ))),
    }
}

/// The error of a create that carries an idempotency key on a connection whose spec gives the
/// server no way to de-duplicate it: neither an idempotency header nor an `idempotency_key`
/// upsert path for the object. It is refused before any request, as on HubSpot and
/// Salesforce: sent without the key it could duplicate on a retry, which the caller asked to
/// prevent. (The outbox sends creates without a key on such connections, since the capabilities
/// say creates are not idempotent.)
fn key_without_idempotency(kind: ObjectKind, operation: &str) -> Error {
    Error::config(format!(
        "the spec declares neither `[idempotency] header` nor an `idempotency_key` upsert path \
         for {kind}, so this {kind} create cannot honour its idempotency key: declare \
         `[idempotency] header` if the server de-duplicates creates on a header, or \
         `upsert = {{ idempotency_key = \"…/{{value}}\" }}` in `[objects.{kind}]` if it has a \
         unique field for the key, or send the create without an idempotency key"
    ))
    .with_operation(operation)
}

/// Runs one call per batch item, a few at a time, keeping input order. The calls are boxed
/// first so that the future stays `Send` inside `async_trait` methods.
/// The key of input `index` of a keyed batch create: `<key>.<index>`, or a key derived from
/// both when that is longer than a key may be.
fn item_key(key: &IdempotencyKey, index: usize) -> IdempotencyKey {
    IdempotencyKey::new(format!("{}.{index}", key.as_str()))
        .unwrap_or_else(|_| IdempotencyKey::derive(key.as_str(), &index.to_string(), "batch"))
}

async fn run_batch<O: Send>(calls: Vec<BoxFuture<'_, Result<O>>>) -> BatchResult<O> {
    stream::iter(calls)
        .buffered(BATCH_CONCURRENCY)
        .collect()
        .await
}

#[async_trait]
impl<T: Entity> Records<T> for RestObject<T> {
    async fn get(&self, id: &RecordId) -> Result<Record<T>> {
        let operation = op::<T>("get");
        let object = self.check(&operation)?;
        let resp = self
            .core
            .http
            .send(
                crm_core::raw::http::Request::get(self.core.record_path(object, id), operation)
                    .addresses_record(),
            )
            .await?;
        self.core.decode_record(&resp, object)
    }

    async fn find(&self, filter: &Filter, limit: usize) -> Result<Vec<Record<T>>> {
        let operation = op::<T>("find");
        self.check(&operation)?;
        let params = self
            .filter_params(filter)
            .map_err(|e| e.with_operation(operation.clone()))?;
        let newest = self.core.spec.updated_at_field.clone();
        self.find_where(params, limit, newest, |_| true, &operation)
            .await
    }

    async fn create(&self, input: &T, ctx: &WriteContext) -> Result<Record<T>> {
        self.create_audited(input, ctx).await
    }

    async fn update(&self, id: &RecordId, patch: &T, ctx: &WriteContext) -> Result<Record<T>> {
        self.update_audited(id, patch, ctx).await
    }

    async fn upsert(&self, key: &UpsertKey, input: &T, ctx: &WriteContext) -> Result<Upserted<T>> {
        self.upsert_audited(key, input, ctx, &op::<T>("upsert"))
            .await
    }

    async fn create_batch(&self, inputs: &[T], ctx: &WriteContext) -> BatchResult<Record<T>> {
        // One key for the whole batch would make the server answer every input with the
        // first one's record: input `i` gets its own key, derived from the batch's.
        let contexts: Vec<WriteContext> = (0..inputs.len())
            .map(|i| {
                let mut item = ctx.clone();
                item.idempotency_key = ctx.idempotency_key.as_ref().map(|k| item_key(k, i));
                item
            })
            .collect();
        let calls = inputs
            .iter()
            .zip(&contexts)
            .map(|(input, ctx)| self.create_audited(input, ctx).boxed())
            .collect();
        run_batch(calls).await
    }

    async fn update_batch(
        &self,
        inputs: &[(RecordId, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        let calls = inputs
            .iter()
            .map(|(id, patch)| self.update_audited(id, patch, ctx).boxed())
            .collect();
        run_batch(calls).await
    }

    async fn upsert_batch(
        &self,
        inputs: &[(UpsertKey, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Upserted<T>> {
        let operation = op::<T>("upsert");
        let calls = inputs
            .iter()
            .map(|(key, input)| self.upsert_audited(key, input, ctx, &operation).boxed())
            .collect();
        run_batch(calls).await
    }

    fn list(&self, query: ListQuery) -> PageStream<T> {
        let operation: &'static str = match T::KIND {
            ObjectKind::Contact => "contact.list",
            ObjectKind::Account => "account.list",
            ObjectKind::Lead => "lead.list",
            ObjectKind::Opportunity => "opportunity.list",
            ObjectKind::Ticket => "ticket.list",
            ObjectKind::Activity => "activity.list",
        };
        let mut filters = Vec::new();
        if let Some(since) = query.changed_since {
            match &self.core.spec.query.changed_since_param {
                Some(p) => filters.push((
                    p.clone(),
                    since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                )),
                None => {
                    let err = Error::unsupported(
                        operation,
                        "the spec declares no query.changed_since_param",
                    );
                    return stream::once(async move { Err(err) }).boxed();
                }
            }
        }
        let params = ListParams {
            filters,
            newest_first: None,
            page_size: query
                .page_size
                .map_or(self.core.spec.paging.max_page_size, |n| n.get()),
        };
        list_stream::<T>(self.core.clone(), params, &query, operation)
    }
}

impl<T: Entity> RestObject<T> {
    async fn find_by_lookup(&self, lookup: &Lookup) -> Result<Vec<Record<T>>> {
        let operation = op::<T>("find_by");
        let condition = lookup
            .condition()
            .map_err(|e| e.with_operation(operation.clone()))?;
        let lookups = &self.core.spec.lookup;
        let declared = match lookup {
            Lookup::Email(_) => &lookups.email,
            Lookup::Phone(_) => &lookups.phone,
            Lookup::ExternalId(_) => &lookups.external_id,
        };
        if declared.is_none() {
            return Err(Error::unsupported(
                operation,
                format!("the spec declares no lookup by {}", lookup.by()),
            ));
        }
        self.find(&Filter::new(condition), 10).await
    }

    /// Records linked to `owner` (by its link field), optionally only open ones, newest first.
    async fn linked(
        &self,
        owner: &RecordRef,
        limit: usize,
        open_only: Option<fn(&Record<T>) -> bool>,
        operation: &str,
    ) -> Result<Vec<Record<T>>> {
        let object = self.check(operation)?;
        let mut filters = vec![(
            self.core.vendor_field(T::KIND, owner.kind.link_field())?,
            owner.id.to_string(),
        )];
        if open_only.is_some()
            && let (Some(open), Some(suffix)) =
                (&object.open_filter, &self.core.spec.query.in_suffix)
        {
            let sep = self.core.spec.query.in_separator.as_deref().unwrap_or(",");
            filters.push((format!("{}{suffix}", open.field), open.values.join(sep)));
        }
        let newest = object
            .newest_first
            .clone()
            .or_else(|| self.core.spec.updated_at_field.clone());
        let keep = move |r: &Record<T>| open_only.is_none_or(|f| f(r));
        self.find_where(filters, limit, newest, keep, operation)
            .await
    }
}

#[async_trait]
impl Contacts for RestObject<Contact> {
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Contact>>> {
        self.find_by_lookup(lookup).await
    }
}

#[async_trait]
impl Accounts for RestObject<Account> {}

#[async_trait]
impl Leads for RestObject<Lead> {
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Lead>>> {
        self.find_by_lookup(lookup).await
    }
}

#[async_trait]
impl Opportunities for RestObject<Opportunity> {
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Opportunity>>> {
        self.linked(
            owner,
            limit,
            Some(|o: &Record<Opportunity>| o.is_open()),
            "opportunity.open_for",
        )
        .await
    }
}

#[async_trait]
impl Tickets for RestObject<Ticket> {
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Ticket>>> {
        self.linked(
            owner,
            limit,
            Some(|t: &Record<Ticket>| t.is_open()),
            "ticket.open_for",
        )
        .await
    }
}

#[async_trait]
impl Activities for RestObject<Activity> {
    async fn latest_for(&self, record: &RecordRef, limit: usize) -> Result<Vec<Record<Activity>>> {
        self.linked(record, limit, None, "activity.latest_for")
            .await
    }
}

#[async_trait]
impl Crm for GenericRest {
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

    /// Sets `from`'s link field for `to`'s kind (`ticket.contact_id = <contact>`).
    async fn link(&self, from: &RecordRef, to: &RecordRef, ctx: &WriteContext) -> Result<()> {
        let mut common = FieldMap::new();
        common.insert(
            to.kind.link_field().to_owned(),
            FieldValue::Text(to.id.to_string()),
        );
        let result = self.link_inner(from, &common).await;
        self.core
            .audit("link", from.kind, ctx, &common, &result, |_| {
                from.id.clone()
            });
        result
    }
}

impl GenericRest {
    async fn link_inner(&self, from: &RecordRef, common: &FieldMap) -> Result<()> {
        let body = self
            .core
            .body_from_common(from.kind, common, WriteMode::Update)?;
        match from.kind {
            ObjectKind::Contact => self.contacts.update_vendor(&from.id, body).await.map(drop),
            ObjectKind::Account => self.accounts.update_vendor(&from.id, body).await.map(drop),
            ObjectKind::Lead => self.leads.update_vendor(&from.id, body).await.map(drop),
            ObjectKind::Opportunity => self
                .opportunities
                .update_vendor(&from.id, body)
                .await
                .map(drop),
            ObjectKind::Ticket => self.tickets.update_vendor(&from.id, body).await.map(drop),
            ObjectKind::Activity => self
                .activities
                .update_vendor(&from.id, body)
                .await
                .map(drop),
        }
        .map_err(|e| e.with_operation("link"))
    }
}
