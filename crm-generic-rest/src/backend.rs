//! The builder, the capability declaration and the trait implementations.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crm_core::credential::{CredentialProvider, StaticCredential};
use crm_core::limits::RateLimiter;
use crm_core::mapping::{ObjectMapping, WriteMode};
use crm_core::raw::http::{HttpClient, HttpClientBuilder, Request, encode_segment};
use crm_core::raw::{
    Backend, BackendFacts, Connection, ConnectionOptions, Mappings, Query, QueryFilter,
    VendorCondition, VendorRecord, VendorWrite, WriteOp, Written, json,
};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::{HeaderName, Method};
use crm_core::reexports::secrecy::SecretString;
use crm_core::reexports::serde_json::{Map, Value};
use crm_core::{
    Capabilities, Error, FieldMap, FieldValue, Lookup, ObjectCapabilities, ObjectKind, Page,
    RecordId, RecordRef, Region, Result, UpsertKey,
};

use crate::MAPPING_TARGETS;
use crate::config::{AuthKind, ObjectSpec, Spec};
use crate::error::SpecErrorParser;
use crate::limits::pacing_for;
use crate::lister::{ListParams, fetch_page};
use crate::wire::decode_record;

/// The vendor name this adapter reports.
pub const VENDOR: &str = "generic-rest";

#[doc = include_str!("../docs.md")]
#[derive(Default)]
pub struct GenericRestBuilder {
    spec: Option<Spec>,
    spec_file: Option<PathBuf>,
    base_url: Option<String>,
    token: Option<SecretString>,
    pub(crate) options: ConnectionOptions,
}

impl fmt::Debug for GenericRestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericRestBuilder")
            .field("spec", &self.spec.as_ref().map(|s| &s.name))
            .field("spec_file", &self.spec_file)
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

crm_core::connection_options!(GenericRestBuilder);

impl GenericRestBuilder {
    /// A builder with the default spec (the sandbox's), no credential and the default transport
    /// settings (30 s timeout, [`RetryPolicy`](crm_core::retry::RetryPolicy)'s default, no
    /// pacing unless the spec has a `[rate_limit]`). The connection's name defaults to the
    /// spec's `name`.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder from the environment, as every adapter's `from_env` does: `GENERIC_REST_SPEC_FILE`
    /// (the spec), `GENERIC_REST_BASE_URL` and `GENERIC_REST_TOKEN`, each only when set.
    pub fn from_env() -> Self {
        let mut b = Self::new();
        if let Ok(path) = std::env::var("GENERIC_REST_SPEC_FILE") {
            b = b.with_spec_file(path);
        }
        if let Ok(url) = std::env::var("GENERIC_REST_BASE_URL") {
            b = b.with_base_url(url);
        }
        if let Ok(token) = std::env::var("GENERIC_REST_TOKEN") {
            b = b.with_token(token.into());
        }
        b
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

    /// Checks everything and builds the connection. Makes no network call.
    pub fn build(self) -> Result<GenericRest> {
        crm_core::warm_up(); // the phone metadata loads now, off the first call's latency
        let o = self.options;
        let spec = match (self.spec, &self.spec_file) {
            (Some(spec), _) => spec,
            (None, Some(path)) => Spec::from_file(path)?,
            (None, None) => Spec::default_spec()?,
        };
        let base_url = self
            .base_url
            .or_else(|| spec.base_url.clone())
            .ok_or_else(|| Error::config("base_url: not set in the spec nor the connection"))?;
        let credentials: Arc<dyn CredentialProvider> = match (o.credentials.clone(), self.token) {
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
        // The spec's `[rate_limit]`, if it has one, paces the connection unless a limiter is given.
        let own = || -> Option<Arc<dyn RateLimiter>> {
            Some(Arc::new(pacing_for(spec.rate_limit.as_ref()?)))
        };
        if let Some(l) = o.limiter(own) {
            http = http.with_limiter(l);
        }
        let defaults = ObjectKind::ALL
            .iter()
            .filter_map(|kind| Some((kind.as_str(), spec.object(*kind)?.mapping())))
            .collect();
        let mappings = o.mappings(
            format!("the spec `{}`", spec.name),
            MAPPING_TARGETS,
            defaults,
        )?;
        let name = spec.name.clone();
        let backend = RestBackend {
            http: o.transport(http).build()?,
            region: spec.region()?,
            capabilities: capabilities(&spec),
            spec,
            mappings: mappings.clone(),
        };
        Ok(o.connect(backend, mappings, name))
    }
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
pub type GenericRest = Connection<RestBackend>;

/// The vendor hooks of a generic REST connection: requests built from the [`Spec`].
pub struct RestBackend {
    pub(crate) http: HttpClient,
    pub(crate) spec: Spec,
    region: Region,
    capabilities: Capabilities,
    mappings: Arc<Mappings>,
}

impl fmt::Debug for RestBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestBackend")
            .field("spec", &self.spec.name)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl RestBackend {
    /// The spec this connection follows.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The mapping in use for `kind` (the spec's with the file laid over), if the spec declares
    /// the object.
    pub fn effective_mapping(&self, kind: ObjectKind) -> Option<ObjectMapping> {
        self.mappings.for_kind(kind).ok().map(|m| (*m).clone())
    }

    pub(crate) fn object(&self, kind: ObjectKind, operation: &str) -> Result<&ObjectSpec> {
        self.spec.object(kind).ok_or_else(|| {
            Error::unsupported(
                operation,
                format!("the spec `{}` declares no {kind} object", self.spec.name),
            )
        })
    }

    fn record_path(object: &ObjectSpec, id: &RecordId) -> String {
        format!(
            "{}/{}",
            object.path.trim_end_matches('/'),
            encode_segment(id.as_str())
        )
    }

    fn request(
        method: &str,
        path: String,
        operation: &str,
        body: Map<String, Value>,
    ) -> Result<Request> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| Error::config(format!("`{method}` is not an HTTP method")))?;
        Ok(Request::new(method, path, operation).json(Value::Object(body)))
    }

    fn idempotency_header(&self) -> Result<Option<HeaderName>> {
        self.spec
            .idempotency
            .header
            .as_deref()
            .map(|h| {
                HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                    Error::config(format!("idempotency.header: `{h}` is not a header name"))
                })
            })
            .transpose()
    }

    fn vendor_field(&self, kind: ObjectKind, common: &str) -> Result<String> {
        self.mappings
            .for_kind(kind)?
            .vendor_name(common)
            .map(str::to_owned)
            .ok_or_else(|| Error::mapping(format!("{kind}.{common}: no vendor field")))
    }

    async fn create(
        &self,
        kind: ObjectKind,
        key: Option<&crm_core::IdempotencyKey>,
        fields: FieldMap,
    ) -> Result<Written> {
        let operation = format!("{kind}.create");
        let object = self.object(kind, &operation)?;
        let header = self.idempotency_header()?;
        let request = match (key, header) {
            (Some(key), Some(header)) => {
                // The server de-duplicates on the header, so the create may be retried.
                Self::request(
                    &object.create_method,
                    object.path.clone(),
                    &operation,
                    json::from_fields(fields),
                )?
                .header(header, key.as_str())
                .idempotent(true)
            }
            (Some(key), None) => {
                // No header: the key goes in the server's unique field, through an upsert.
                let key = UpsertKey::Idempotency(key.clone());
                return self.upsert(kind, &key, fields, &operation).await;
            }
            (None, _) => Self::request(
                &object.create_method,
                object.path.clone(),
                &operation,
                json::from_fields(fields),
            )?,
        };
        let resp = self.http.send(request).await?;
        let record = decode_record(&self.spec, kind, &resp, object)?;
        Ok(Written {
            record,
            created: true,
        })
    }

    async fn update(
        &self,
        kind: ObjectKind,
        id: &RecordId,
        fields: FieldMap,
    ) -> Result<VendorRecord> {
        let operation = format!("{kind}.update");
        let object = self.object(kind, &operation)?;
        let path = Self::record_path(object, id);
        // Setting fields to given values is idempotent, so an update may be retried.
        let req = Self::request(
            &object.update_method,
            path,
            &operation,
            json::from_fields(fields),
        )?
        .addresses_record()
        .idempotent(true);
        let resp = self.http.send(req).await?;
        if resp.body.iter().all(u8::is_ascii_whitespace) {
            return self.get(kind, id).await;
        }
        decode_record(&self.spec, kind, &resp, object)
    }

    async fn upsert(
        &self,
        kind: ObjectKind,
        key: &UpsertKey,
        mut fields: FieldMap,
        operation: &str,
    ) -> Result<Written> {
        let object = self.object(kind, operation)?;
        let template = object.upsert.get(key.field()).ok_or_else(|| {
            Error::unsupported(
                operation,
                format!("{kind} records cannot be upserted by {}", key.field()),
            )
        })?;
        // The key travels in the path; servers refuse it in the body too.
        if let Ok(vendor_key) = self.vendor_field(kind, key.field()) {
            fields.remove(&vendor_key);
        }
        let path = template.replace("{value}", &encode_segment(key.value()));
        let req = Self::request(
            &object.upsert_method,
            path,
            operation,
            json::from_fields(fields),
        )?
        .addresses_record()
        .idempotent(true);
        let resp = self.http.send(req).await?;
        let created = resp.status.as_u16() == 201;
        let record = decode_record(&self.spec, kind, &resp, object)?;
        Ok(Written { record, created })
    }

    /// The query parameter a condition filters by: the spec's lookup parameter for a lookup
    /// field, else the mapped vendor field.
    fn condition_param(&self, kind: ObjectKind, c: &VendorCondition) -> Result<String> {
        let lookup = &self.spec.lookup;
        let declared = match c.common.as_str() {
            "email" => lookup.email.clone(),
            "phone" => lookup.phone.clone(),
            "external_id" => lookup.external_id.clone(),
            _ => None,
        };
        match (declared, &c.vendor) {
            (Some(p), _) => Ok(p),
            (None, Some(v)) => Ok(v.clone()),
            (None, None) => Err(Error::mapping(format!(
                "{kind}.{}: no vendor field",
                c.common
            ))),
        }
    }

    /// The list parameters of a query.
    fn params(&self, query: &Query, operation: &str) -> Result<ListParams> {
        let kind = query.kind;
        let object = self.object(kind, operation)?;
        let spec = &self.spec;
        let mut filters = Vec::new();
        let mut newest = spec.updated_at_field.clone();
        match &query.filter {
            QueryFilter::All => newest = None,
            QueryFilter::Where(conditions) => {
                for c in conditions {
                    let param = self.condition_param(kind, c)?;
                    filters.push((param, condition_text(&c.common, &c.value)?));
                }
            }
            QueryFilter::Lookup(lookup) => {
                let declared = match lookup {
                    Lookup::Email(_) => &spec.lookup.email,
                    Lookup::Phone(_) => &spec.lookup.phone,
                    Lookup::ExternalId(_) => &spec.lookup.external_id,
                };
                let Some(param) = declared else {
                    return Err(Error::unsupported(
                        operation,
                        format!("the spec declares no lookup by {}", lookup.by()),
                    ));
                };
                let condition = lookup.condition()?;
                filters.push((
                    param.clone(),
                    condition_text(&condition.field, &condition.value)?,
                ));
            }
            QueryFilter::Linked { owner, open_only } => {
                filters.push((
                    self.vendor_field(kind, owner.kind.link_field())?,
                    owner.id.to_string(),
                ));
                if *open_only
                    && let (Some(open), Some(suffix)) = (&object.open_filter, &spec.query.in_suffix)
                {
                    let sep = spec.query.in_separator.as_deref().unwrap_or(",");
                    filters.push((format!("{}{suffix}", open.field), open.values.join(sep)));
                }
                newest = object.newest_first.clone().or(newest);
            }
        }
        if let Some(since) = query.changed_since {
            let Some(p) = &spec.query.changed_since_param else {
                return Err(Error::unsupported(
                    operation,
                    "the spec declares no query.changed_since_param",
                ));
            };
            filters.push((
                p.clone(),
                since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ));
        }
        let sort = query.newest_first && spec.query.sort_param.is_some();
        Ok(ListParams {
            filters,
            newest_first: if sort { newest } else { None },
            page_size: query.page_size,
        })
    }
}

fn condition_text(field: &str, value: &FieldValue) -> Result<String> {
    match value {
        FieldValue::Text(s) => Ok(s.clone()),
        FieldValue::Number(n) => Ok(n.to_string()),
        FieldValue::Bool(b) => Ok(b.to_string()),
        FieldValue::Date(d) => Ok(d.format("%Y-%m-%d").to_string()),
        FieldValue::DateTime(dt) => Ok(dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        other => Err(Error::invalid_input(format!(
            "cannot filter `{field}` by a {} value",
            other.type_name()
        ))),
    }
}

#[async_trait]
impl Backend for RestBackend {
    type Builder = GenericRestBuilder;

    fn facts(&self) -> BackendFacts<'_> {
        let setting = "[idempotency] header` (if the server de-duplicates creates on a header) or an \
             `idempotency_key` upsert path for the object (if it has a unique field for the key) in \
             the spec";
        BackendFacts::new(VENDOR, &self.capabilities, self.region, setting)
    }

    async fn get(&self, kind: ObjectKind, id: &RecordId) -> Result<VendorRecord> {
        let operation = format!("{kind}.get");
        let object = self.object(kind, &operation)?;
        let request = Request::get(Self::record_path(object, id), operation).addresses_record();
        let resp = self.http.send(request).await?;
        decode_record(&self.spec, kind, &resp, object)
    }

    async fn write(&self, write: VendorWrite) -> Result<Written> {
        let kind = write.kind;
        match write.op {
            WriteOp::Create { key } => self.create(kind, key.as_ref(), write.fields).await,
            WriteOp::Update { id } => {
                let record = self.update(kind, &id, write.fields).await?;
                Ok(Written {
                    record,
                    created: false,
                })
            }
            WriteOp::Upsert { key } => {
                self.upsert(kind, &key, write.fields, &format!("{kind}.upsert"))
                    .await
            }
        }
    }

    async fn query_page(
        &self,
        query: &Query,
        cursor: Option<String>,
    ) -> Result<Page<VendorRecord>> {
        let operation = match query.filter {
            QueryFilter::All => format!("{}.list", query.kind),
            _ => format!("{}.find", query.kind),
        };
        let params = self.params(query, &operation)?;
        let object = self.object(query.kind, &operation)?;
        fetch_page(
            &self.http, &self.spec, object, query.kind, &params, cursor, &operation,
        )
        .await
    }

    /// Sets `from`'s link field for `to`'s kind (`ticket.contact_id = <contact>`).
    async fn link(&self, from: &RecordRef, to: &RecordRef) -> Result<()> {
        let mut common = FieldMap::new();
        common.insert(
            to.kind.link_field().to_owned(),
            FieldValue::Text(to.id.to_string()),
        );
        let fields = self.mappings.for_kind(from.kind)?.to_vendor_as(
            from.kind,
            &common,
            WriteMode::Update,
        )?;
        self.update(from.kind, &from.id, fields).await.map(drop)
    }

    /// A generic CRM has no schema API: the table is compared with the field names of one live
    /// record of its kind (`schema.rs`).
    async fn check_table(
        &self,
        (target, kind): crm_core::raw::Target,
        mapping: &crm_core::mapping::ObjectMapping,
    ) -> Result<crm_core::raw::TableCheck> {
        Ok(match self.check_mapping(kind, mapping).await? {
            Some(problems) => crm_core::raw::TableCheck::Checked(problems),
            None => crm_core::raw::TableCheck::Unchecked(format!(
                "[{target}]: the CRM has no {kind} record yet, so its field names could not be compared"
            )),
        })
    }
}
