//! The builder, the capability declaration and the trait implementations.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crm_core::audit::{AuditSink, TracingAudit};
use crm_core::credential::CredentialProvider;
use crm_core::limits::RateLimiter;
use crm_core::mapping::{MappingFile, ObjectMapping};
use crm_core::raw::http::{Request, parse_base_url};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::Method;
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_core::retry::RetryPolicy;
use crm_core::{
    Account, Accounts, Activities, Activity, BatchResult, Capabilities, Contact, Contacts, Crm,
    CustomerView, Entity, Error, ErrorKind, FieldMap, FieldValue, Filter, IdempotencyKey, Lead,
    Leads, ListQuery, Lookup, ObjectCapabilities, ObjectKind, Opportunities, Opportunity,
    PageStream, Record, RecordId, RecordRef, Records, Region, Result, Ticket, Tickets, UpsertKey,
    Upserted, ViewOptions, WriteContext,
};
use serde_json::{Map, Value, json};

use crate::config::{SalesforceConfig, SalesforceConfigKey};
use crate::core::{Core, CoreParts, SObject, SfError, error_from};
use crate::credential::{Grant, JwtKey, SalesforceCredentials};
use crate::id;
use crate::lister::{self, ListSpec, MAX_BATCH, MIN_BATCH};
use crate::soql::{self, Select, quote};

/// Records per sObject Collections request: 200 (Salesforce REST API Developer Guide, "sObject
/// Collections").
pub(crate) const COLLECTIONS_MAX: usize = 200;
/// Concurrent requests per org: Salesforce allows 25 long-running requests (Salesforce
/// Developer Limits and Allocations Quick Reference, "API Request Limits and Allocations").
const MAX_CONCURRENCY: usize = 25;

#[doc = include_str!("../docs.md")]
pub struct SalesforceBuilder {
    config: SalesforceConfig,
    pending: Vec<(String, String)>,
    credentials: Option<Arc<dyn CredentialProvider>>,
    limiter: Option<Arc<dyn RateLimiter>>,
    observer: Option<Arc<dyn crm_core::limits::RequestObserver>>,
    retry: Option<RetryPolicy>,
    audit: Option<Arc<dyn AuditSink>>,
    mappings: BTreeMap<String, ObjectMapping>,
    mapping_file: Option<MappingFile>,
    session_lifetime: Option<Duration>,
}

impl fmt::Debug for SalesforceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceBuilder")
            .field("config", &self.config)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Default for SalesforceBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SalesforceBuilder {
    /// A builder with every default (see the table of configuration keys).
    pub fn new() -> Self {
        Self::from_config(SalesforceConfig::default())
    }

    /// A builder from a parsed configuration.
    pub fn from_config(config: SalesforceConfig) -> Self {
        Self {
            config,
            pending: Vec::new(),
            credentials: None,
            limiter: None,
            observer: None,
            retry: None,
            audit: None,
            mappings: BTreeMap::new(),
            mapping_file: None,
            session_lifetime: None,
        }
    }

    /// A builder from `CRM_SALESFORCE_*` environment variables.
    pub fn from_env() -> Result<Self> {
        Ok(Self::from_config(SalesforceConfig::from_env()?))
    }

    /// Sets a key by name (`login_url`, `client_id`…); an unknown key or a bad value fails
    /// `build()`, naming the key.
    pub fn with_config(mut self, key: &str, value: impl Into<String>) -> Self {
        self.pending.push((key.to_owned(), value.into()));
        self
    }

    /// The token endpoint's host. Default `https://login.salesforce.com`.
    pub fn with_login_url(mut self, url: impl Into<String>) -> Self {
        self.config.login_url = Some(url.into());
        self
    }

    /// Calls this instance instead of the one the token response names.
    pub fn with_instance_url(mut self, url: impl Into<String>) -> Self {
        self.config.instance_url = Some(url.into());
        self
    }

    /// The API version, `vNN.N`. Default [`crate::DEFAULT_API_VERSION`].
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.config.api_version = Some(version.into());
        self
    }

    /// The refresh-token grant.
    pub fn with_refresh_token(
        mut self,
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
        refresh_token: SecretString,
    ) -> Self {
        self.config.auth = Some("refresh_token".into());
        self.config.client_id = Some(client_id.into());
        self.config.client_secret = client_secret;
        self.config.refresh_token = Some(refresh_token);
        self
    }

    /// The client-credentials grant (set the login URL to the org's My Domain).
    pub fn with_client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Self {
        self.config.auth = Some("client_credentials".into());
        self.config.client_id = Some(client_id.into());
        self.config.client_secret = Some(client_secret);
        self
    }

    /// The JWT bearer flow with the connected app's RSA private key (PEM).
    pub fn with_jwt_bearer(
        mut self,
        client_id: impl Into<String>,
        username: impl Into<String>,
        private_key_pem: SecretString,
    ) -> Self {
        self.config.auth = Some("jwt_bearer".into());
        self.config.client_id = Some(client_id.into());
        self.config.username = Some(username.into());
        self.config.private_key = Some(private_key_pem);
        self
    }

    /// The JWT `aud`. Default: `https://test.salesforce.com` for a `test.` login URL,
    /// `https://login.salesforce.com` otherwise.
    pub fn with_jwt_audience(mut self, audience: impl Into<String>) -> Self {
        self.config.jwt_audience = Some(audience.into());
        self
    }

    /// A ready access token for `instance_url` (no refresh).
    pub fn with_access_token(
        mut self,
        token: SecretString,
        instance_url: impl Into<String>,
    ) -> Self {
        self.config.auth = Some("access_token".into());
        self.config.access_token = Some(token);
        self.config.instance_url = Some(instance_url.into());
        self
    }

    /// A custom credential provider (then `instance_url` is required).
    pub fn with_credentials(mut self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.credentials = Some(provider);
        self
    }

    /// Refresh the session proactively at 90 % of this age (the org's session timeout).
    /// Default: only when Salesforce answers `INVALID_SESSION_ID`.
    pub fn with_session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = Some(lifetime);
        self
    }

    /// Trusts an extra root CA (PEM file).
    pub fn with_root_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.ca_file = Some(path.into());
        self
    }

    /// Per-attempt timeout. Default 30 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout_secs = Some(timeout.as_secs().max(1));
        self
    }

    /// Retry policy. Default [`RetryPolicy::default`].
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// A rate limiter shared by every connection to the same org; it sees every call.
    pub fn with_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Shows every request and response to `observer` (a request counter, metrics), in front
    /// of the org's daily budget and any limiter given: observing never replaces them, and a
    /// request the budget refuses is never sent, so never shown.
    pub fn with_request_observer(
        mut self,
        observer: Arc<dyn crm_core::limits::RequestObserver>,
    ) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Percent of the daily API allocation left for other integrations. Default 10.
    pub fn with_daily_reserve_percent(mut self, percent: u8) -> Self {
        self.config.daily_reserve_percent = Some(percent);
        self
    }

    /// Where audit records go. Default [`TracingAudit`].
    pub fn with_audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// A name for this connection in audit records and logs. Default `salesforce`.
    pub fn with_connection_name(mut self, name: impl Into<String>) -> Self {
        self.config.connection_name = Some(name.into());
        self
    }

    /// Replaces one table of the default mapping (`contact`, `account`, `lead`,
    /// `opportunity`, `ticket`, `task`, `event`).
    pub fn with_mapping(mut self, table: &str, mapping: ObjectMapping) -> Self {
        self.mappings.insert(table.to_owned(), mapping);
        self
    }

    /// Lays an admin's mapping file over the default tables (load it with
    /// [`crate::MAPPING_TARGETS`]); tables given with [`SalesforceBuilder::with_mapping`] replace
    /// the file's. Its `version@hash` goes into every audit record;
    /// [`Salesforce::set_mapping_file`] swaps it at run time.
    pub fn with_mapping_file(mut self, file: MappingFile) -> Self {
        self.mapping_file = Some(file);
        self
    }

    /// The unique external-id field idempotency keys are stored in (a Text field marked
    /// *Unique* and *External ID* on every object the bot creates, such as
    /// `Idempotency_Key__c`). With it, a create carrying a key is an upsert by that field and
    /// never duplicates. Default none: idempotent creates are off, and a create that carries a
    /// key fails with a `Config` error before any request (`crm-connect doctor` checks the
    /// field exists).
    pub fn with_idempotency_field(mut self, field: Option<&str>) -> Self {
        self.config.idempotency_field = field.map(str::to_owned);
        self
    }

    /// Sends `Sforce-Duplicate-Rule-Header: allowSave=true`, saving records duplicate rules
    /// would block. Default `false`: a duplicate is a `Conflict` error.
    pub fn allow_duplicates(mut self, allow: bool) -> Self {
        self.config.allow_duplicates = Some(allow);
        self
    }

    /// Records per query batch (`Sforce-Query-Options: batchSize`), 200–2,000. Default 2,000.
    /// Every listing asks for it; a caller's page smaller than 200 is cut from these batches
    /// rather than asked of Salesforce one small query at a time.
    pub fn with_query_batch_size(mut self, size: u32) -> Self {
        self.config.query_batch_size = Some(size);
        self
    }

    /// Reads the records back after each sObject Collections request (one more query per 200
    /// records), so batch results carry the org's values: defaults, formula fields,
    /// timestamps. Default `false`: a batch result is the caller's input (for an update, the
    /// patch) with the id Collections returns, and 5,000 records cost 25 requests instead of 50.
    pub fn with_batch_read_back(mut self, read_back: bool) -> Self {
        self.config.batch_read_back = Some(read_back);
        self
    }

    /// The region phone numbers without a country code are read in. Default `US`.
    pub fn with_phone_region(mut self, region: impl Into<String>) -> Self {
        self.config.phone_region = Some(region.into());
        self
    }

    fn grant(c: &SalesforceConfig) -> Result<Grant> {
        let need = |v: &Option<String>, key: &str| {
            v.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                Error::config(format!(
                    "{key}: required for auth `{}`",
                    c.auth.as_deref().unwrap_or("")
                ))
            })
        };
        let need_secret = |v: &Option<SecretString>, key: &str| {
            v.clone()
                .filter(|s| !s.expose_secret().trim().is_empty())
                .ok_or_else(|| {
                    Error::config(format!(
                        "{key}: required for auth `{}`",
                        c.auth.as_deref().unwrap_or("")
                    ))
                })
        };
        let auth = match c.auth.as_deref() {
            Some(a) => a.to_owned(),
            None if c.private_key.is_some() || c.private_key_file.is_some() => "jwt_bearer".into(),
            None if c.refresh_token.is_some() => "refresh_token".into(),
            None if c.access_token.is_some() => "access_token".into(),
            None if c.client_secret.is_some() => "client_credentials".into(),
            None => {
                return Err(Error::config(
                    "auth: no credentials configured (refresh_token, client_credentials, jwt_bearer or access_token)",
                ));
            }
        };
        Ok(match auth.as_str() {
            "refresh_token" => Grant::RefreshToken {
                client_id: need(&c.client_id, "client_id")?,
                client_secret: c.client_secret.clone(),
                refresh_token: need_secret(&c.refresh_token, "refresh_token")?,
            },
            "client_credentials" => Grant::ClientCredentials {
                client_id: need(&c.client_id, "client_id")?,
                client_secret: need_secret(&c.client_secret, "client_secret")?,
            },
            "jwt_bearer" => {
                let pem = match (&c.private_key, &c.private_key_file) {
                    (Some(k), _) => k.clone(),
                    (None, Some(path)) => {
                        SecretString::from(std::fs::read_to_string(path).map_err(|e| {
                            Error::config(format!(
                                "private_key_file: cannot read `{}`: {e}",
                                path.display()
                            ))
                        })?)
                    }
                    (None, None) => {
                        return Err(Error::config("private_key: required for auth `jwt_bearer`"));
                    }
                };
                let login = c
                    .login_url
                    .as_deref()
                    .unwrap_or("https://login.salesforce.com");
                let audience = c.jwt_audience.clone().unwrap_or_else(|| {
                    if login.contains("://test.salesforce.com") {
                        "https://test.salesforce.com".into()
                    } else {
                        "https://login.salesforce.com".into()
                    }
                });
                Grant::JwtBearer {
                    client_id: need(&c.client_id, "client_id")?,
                    username: need(&c.username, "username")?,
                    audience,
                    key: JwtKey::from_pem(&pem)?,
                }
            }
            "access_token" => Grant::AccessToken {
                token: need_secret(&c.access_token, "access_token")?,
                instance_url: need(&c.instance_url, "instance_url")?,
            },
            other => {
                return Err(Error::config(format!(
                    "auth: `{other}` is not one of refresh_token, client_credentials, jwt_bearer, access_token"
                )));
            }
        })
    }

    /// Checks everything and builds the connection. Makes no network call: the first token is
    /// fetched with the first request.
    pub fn build(mut self) -> Result<Salesforce> {
        crm_core::warm_up(); // the phone metadata loads now, off the first call's latency
        for (k, v) in std::mem::take(&mut self.pending) {
            let key: SalesforceConfigKey = k.parse()?;
            self.config.set(key, &v)?;
        }
        let c = &self.config;
        let login_url = c
            .login_url
            .clone()
            .unwrap_or_else(|| "https://login.salesforce.com".into());
        parse_base_url("login_url", &login_url)?;
        let instance_override = c
            .instance_url
            .as_deref()
            .map(|u| parse_base_url("instance_url", u))
            .transpose()?;
        let api_version = c
            .api_version
            .clone()
            .unwrap_or_else(|| crate::DEFAULT_API_VERSION.into());
        let valid_version = api_version
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && b.len() == 1
                    && a.bytes().chain(b.bytes()).all(|x| x.is_ascii_digit())
            });
        if !valid_version {
            return Err(Error::config(format!(
                "api_version: `{api_version}` is not of the form vNN.N"
            )));
        }
        let region = Region::parse(c.phone_region.as_deref().unwrap_or("US"))
            .map_err(|e| Error::config(format!("phone_region: {}", e.message())))?;
        if let Some(size) = c.query_batch_size
            && !(MIN_BATCH..=MAX_BATCH).contains(&size)
        {
            return Err(Error::config(format!(
                "query_batch_size: {size} is outside Salesforce's 200–2000"
            )));
        }
        if c.daily_reserve_percent.is_some_and(|p| p > 100) {
            return Err(Error::config("daily_reserve_percent: must be 0–100"));
        }
        let timeout = c.timeout_secs.map(Duration::from_secs);
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::config("timeout_secs: must be more than zero"));
        }
        let root_ca_files: Vec<PathBuf> = c.ca_file.iter().cloned().collect();
        let (credentials, sf_credentials): (Arc<dyn CredentialProvider>, _) =
            match self.credentials.clone() {
                Some(p) => {
                    if instance_override.is_none() {
                        return Err(Error::config(
                            "instance_url: required with a custom credential provider",
                        ));
                    }
                    (p, None)
                }
                None => {
                    let mut creds = SalesforceCredentials::new(
                        Self::grant(c)?,
                        &login_url,
                        &root_ca_files,
                        timeout,
                        self.retry.clone(),
                    )?;
                    if let Some(l) = self.session_lifetime {
                        creds = creds.with_session_lifetime(l);
                    }
                    let creds = Arc::new(creds);
                    (creds.clone() as Arc<dyn CredentialProvider>, Some(creds))
                }
            };
        let mut tables = match &self.mapping_file {
            Some(file) => file_tables(file)?,
            None => BTreeMap::new(),
        };
        tables.extend(self.mappings.clone());
        let mappings = mappings(&tables)?;
        // Off unless configured: a stock org has no such field, and a default that needs an
        // admin step would fail every keyed create there.
        let idempotency_field = c
            .idempotency_field
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned);
        let limiter = Arc::new(crate::limits::daily_budget(
            c.daily_reserve_percent.unwrap_or(10),
        )?);
        let capabilities = capabilities(idempotency_field.is_some());
        // A caller's limiter (shared by every connection to the org) sees every call too.
        let paced = crm_core::limits::Stacked::layer(self.limiter.clone(), limiter.clone());
        let paced = crm_core::limits::Observed::layer(Some(paced.clone()), self.observer.as_ref())
            .unwrap_or(paced);
        let read_back = c.batch_read_back.unwrap_or(false);
        let core = Core::new(CoreParts {
            credentials,
            sf_credentials,
            instance_override,
            api_version,
            region,
            mappings,
            mapping_label: self.mapping_file.as_ref().map(MappingFile::label),
            idempotency_field,
            allow_duplicates: c.allow_duplicates.unwrap_or(false),
            query_batch_size: c.query_batch_size,
            connection: c
                .connection_name
                .clone()
                .unwrap_or_else(|| crate::VENDOR.into()),
            audit: self.audit.clone().unwrap_or_else(|| Arc::new(TracingAudit)),
            max_concurrency: MAX_CONCURRENCY,
            timeout,
            root_ca_files,
            retry: self.retry.clone(),
            limiter: paced,
        })?;
        Ok(Salesforce {
            contacts: SObjectFamily::new(core.clone(), read_back),
            accounts: SObjectFamily::new(core.clone(), read_back),
            leads: SObjectFamily::new(core.clone(), read_back),
            opportunities: SObjectFamily::new(core.clone(), read_back),
            tickets: SObjectFamily::new(core.clone(), read_back),
            activities: SObjectFamily::new(core.clone(), read_back),
            capabilities,
            budget: limiter,
            core,
        })
    }
}

/// The default mapping with the caller's tables in place of its own, each validated.
fn default_tables() -> Result<BTreeMap<String, ObjectMapping>> {
    crate::default_mapping()
}

/// A mapping file's tables, each laid over the default table of its name.
fn file_tables(file: &MappingFile) -> Result<BTreeMap<String, ObjectMapping>> {
    let defaults = default_tables()?;
    Ok(file
        .objects
        .keys()
        .map(|table| {
            let base = defaults.get(table).cloned().unwrap_or_default();
            (table.clone(), file.overlay(table, &base))
        })
        .collect())
}

fn mappings(
    overrides: &BTreeMap<String, ObjectMapping>,
) -> Result<BTreeMap<SObject, ObjectMapping>> {
    let mut tables = default_tables()?;
    for (table, m) in overrides {
        if !SObject::ALL.iter().any(|s| s.table() == table) {
            return Err(Error::config(format!(
                "mapping: `{table}` is not one of contact, account, lead, opportunity, ticket, task, event"
            )));
        }
        tables.insert(table.clone(), m.clone());
    }
    let mut out = BTreeMap::new();
    for s in SObject::ALL {
        let m = tables
            .remove(s.table())
            .ok_or_else(|| Error::config(format!("mapping: no `{}` table", s.table())))?;
        m.validate(s.kind(), &format!("mapping.{}", s.table()))?;
        out.insert(s, m);
    }
    Ok(out)
}

fn capabilities(idempotent: bool) -> Capabilities {
    let mut objects = BTreeMap::new();
    for kind in ObjectKind::ALL {
        let mut caps = ObjectCapabilities::read_write();
        caps.upsert_keys = vec!["external_id".into()];
        if idempotent {
            caps.upsert_keys.push("idempotency_key".into());
        }
        caps.list_changed_since = true;
        caps.max_batch = Some(COLLECTIONS_MAX);
        caps.max_page_size = Some(MAX_BATCH);
        caps.idempotent_create = idempotent;
        objects.insert(kind, caps);
    }
    let mut caps = Capabilities::default();
    caps.objects = objects;
    caps.lookup_by_phone = true;
    caps.lookup_by_external_id = true;
    caps.link = true;
    caps
}

/// A connection to one Salesforce org.
pub struct Salesforce {
    pub(crate) core: Arc<Core>,
    capabilities: Capabilities,
    budget: Arc<crm_core::limits::PacingLimiter>,
    pub(crate) contacts: SObjectFamily<Contact>,
    accounts: SObjectFamily<Account>,
    leads: SObjectFamily<Lead>,
    opportunities: SObjectFamily<Opportunity>,
    tickets: SObjectFamily<Ticket>,
    activities: SObjectFamily<Activity>,
}

impl fmt::Debug for Salesforce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Salesforce")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl Salesforce {
    /// Replaces mapping tables for new work, without a restart (calls already running keep the
    /// mapping they started with). Each table replaces the default one, as
    /// [`SalesforceBuilder::with_mapping`] does. Checked first; on an error nothing changes.
    /// Audit records carry no mapping version afterwards; see [`Salesforce::set_mapping_file`].
    pub fn set_mappings(&self, overrides: &BTreeMap<String, ObjectMapping>) -> Result<()> {
        self.core.swap_mappings(mappings(overrides)?, None)
    }

    /// Replaces the mapping file for new work, as [`Salesforce::set_mappings`] does with its
    /// tables (each laid over the default table); audit records then carry the new file's
    /// `version@hash` (`None`: back to the default mapping).
    pub fn set_mapping_file(&self, file: Option<&MappingFile>) -> Result<()> {
        match file {
            Some(f) => self
                .core
                .swap_mappings(mappings(&file_tables(f)?)?, Some(f.label())),
            None => self.core.swap_mappings(mappings(&BTreeMap::new())?, None),
        }
    }

    /// `version@hash` of the mapping file in use, if one is.
    pub fn mapping_label(&self) -> Option<String> {
        self.core.mapping_label()
    }

    /// A builder.
    pub fn builder() -> SalesforceBuilder {
        SalesforceBuilder::new()
    }

    /// The org's API usage as the last response's `Sforce-Limit-Info` reported it:
    /// (used, daily allocation); `(0, 0)` before the first call.
    pub fn api_usage(&self) -> (u64, u64) {
        self.budget.daily_usage().unwrap_or((0, 0))
    }
}

/// One record family of a Salesforce connection (Contacts, Cases, Tasks…).
pub struct SObjectFamily<T> {
    pub(crate) core: Arc<Core>,
    /// Read records back after a Collections write (`batch_read_back`).
    read_back: bool,
    _kind: PhantomData<fn() -> T>,
}

impl<T: Entity> fmt::Debug for SObjectFamily<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SObjectFamily<{}>", SObject::for_kind(T::KIND).name())
    }
}

fn op<T: Entity>(name: &str) -> String {
    format!("{}.{name}", T::KIND)
}

/// The SOQL literal for a condition value.
fn literal(field: &str, v: &FieldValue) -> Result<String> {
    Ok(match v {
        FieldValue::Text(s) => quote(s),
        FieldValue::Number(n) => n.to_string(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        FieldValue::DateTime(dt) => soql::datetime(*dt),
        FieldValue::Null => "null".into(),
        other => {
            return Err(Error::invalid_input(format!(
                "cannot filter `{field}` by a {} value",
                other.type_name()
            )));
        }
    })
}

/// The candidate ids of a `300 Multiple Choices` body: a list of record URLs.
pub(crate) fn candidates(body: &Value) -> Vec<RecordId> {
    body.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|url| url.rsplit('/').next())
        .filter_map(id::to18)
        .filter_map(|s| RecordId::new(s).ok())
        .collect()
}

/// A write and the path the record is read back from, for [`SObjectFamily::write_read`].
struct WriteCall {
    method: &'static str,
    path: String,
    body: Map<String, Value>,
    read_path: String,
    idempotent: bool,
}

/// One Collections item's outcome: the record and whether it was created.
type ItemResult<T> = Result<(Record<T>, bool)>;

/// One item of a Collections result.
#[derive(Debug, serde::Deserialize)]
struct CollItem {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<SfError>,
    #[serde(default)]
    created: Option<bool>,
}

/// See [`crate::parse_collections_result`].
pub(crate) fn parse_collections(body: &[u8]) -> Result<Vec<Result<RecordId>>> {
    let items: Vec<CollItem> = crm_core::raw::http::decode_json(
        body,
        &crm_core::reexports::http::HeaderMap::new(),
        crm_core::reexports::http::StatusCode::OK,
        None,
    )?;
    Ok(items
        .into_iter()
        .map(|item| {
            if item.success {
                item.id
                    .as_deref()
                    .and_then(id::to18)
                    .and_then(|s| RecordId::new(s).ok())
                    .ok_or_else(|| Error::decode("a successful result has no record id"))
            } else {
                Err(error_from(&item.errors, 400, Default::default()))
            }
        })
        .collect())
}

/// The error of a create that carries an idempotency key on a connection without
/// `idempotency_field`. It is refused before any request: sent without the key it could
/// duplicate on a retry, which the caller asked to prevent.
fn key_without_field(s: SObject, operation: &str) -> Error {
    Error::config(format!(
        "Salesforce connection has no `idempotency_field`, so this {} create cannot honour its \
         idempotency key: create a Text field marked Unique and External ID (such as \
         `Idempotency_Key__c`) on every object the bot creates and set `idempotency_field` to \
         its API name, or send the create without an idempotency key",
        s.name()
    ))
    .with_operation(operation)
}

/// An upsert by an external-id field the org does not have: Salesforce answers the
/// `PATCH /sobjects/{S}/{field}/{value}` route with 404 `NOT_FOUND` (a missing record is created
/// there, never a 404) or `INVALID_FIELD`. The error names the field and the object, never the
/// value, and says what to do.
fn missing_external_id(e: Error, s: SObject, field: &str) -> Error {
    let vendor = e.vendor();
    let code = vendor.and_then(|v| v.code.as_deref());
    // The redacted text keeps field names (they carry no personal values).
    let names_field = vendor
        .and_then(|v| v.redacted_message())
        .is_some_and(|m| m.to_ascii_lowercase().contains(&field.to_ascii_lowercase()));
    // INVALID_FIELD may be about a field of the body; only one naming the key field counts.
    let missing = e.kind() == &ErrorKind::NotFound
        || code == Some("NOT_FOUND")
        || (code == Some("INVALID_FIELD") && names_field);
    if !missing {
        return e;
    }
    let mut out = Error::config(format!(
        "external ID field `{field}` does not exist on {}: create it (Text, Unique, External \
         ID) in Setup > Object Manager > {} > Fields & Relationships, or fix the field name in \
         the connection's settings",
        s.name(),
        s.name()
    ));
    if let Some(op) = e.operation() {
        out = out.with_operation(op.to_owned());
    }
    if let Some(v) = e.vendor() {
        out = out.with_vendor(v.clone());
    }
    out
}

/// The per-item key derived from a batch's idempotency key and the item's position.
fn item_key(key: &IdempotencyKey, index: usize) -> String {
    let k = format!("{}.{index}", key.as_str());
    if k.len() <= 100 {
        k
    } else {
        IdempotencyKey::derive(key.as_str(), &index.to_string(), "batch")
            .as_str()
            .to_owned()
    }
}

impl<T: Entity> SObjectFamily<T> {
    fn new(core: Arc<Core>, read_back: bool) -> Self {
        Self {
            core,
            read_back,
            _kind: PhantomData,
        }
    }

    fn sobject(&self) -> SObject {
        SObject::for_kind(T::KIND)
    }

    /// The sObject of an existing record: activities may be Tasks or Events.
    fn sobject_of(&self, id: &RecordId) -> SObject {
        match (T::KIND, SObject::by_prefix(id.as_str())) {
            (ObjectKind::Activity, Some(SObject::Event)) => SObject::Event,
            _ => self.sobject(),
        }
    }

    fn fields_param(&self, s: SObject) -> String {
        self.core.read_fields(s).join(",")
    }

    /// Runs a SELECT and decodes its first page.
    async fn select(&self, s: SObject, select: &Select, operation: &str) -> Result<Vec<Record<T>>> {
        let page = lister::query(&self.core, &select.text(), None, operation).await?;
        lister::records::<T>(&self.core, s, &page, operation)
    }

    /// A write (`POST`, `PATCH` or ext-id `PATCH`) and the read-back of the record, in one
    /// Composite request (one round trip, one API call).
    async fn write_read(
        &self,
        s: SObject,
        w: WriteCall,
        operation: &str,
    ) -> Result<(Record<T>, u16)> {
        let WriteCall {
            method,
            path,
            body,
            read_path,
            idempotent,
        } = w;
        let mut write = json!({"method": method, "url": self.core.full_path(&path),
                               "referenceId": "write", "body": Value::Object(body)});
        if let (Some((h, v)), Some(m)) = (self.core.duplicate_header(), write.as_object_mut()) {
            m.insert("httpHeaders".into(), json!({h.as_str(): v}));
        }
        let read = json!({"method": "GET",
            "url": format!("{}?fields={}", self.core.full_path(&read_path), self.fields_param(s)),
            "referenceId": "read"});
        let subs = self
            .core
            .composite(vec![write, read], idempotent, operation)
            .await?;
        let (Some(w), Some(r)) = (subs.first(), subs.get(1)) else {
            return Err(
                Error::decode("the composite response has fewer results than requests")
                    .with_operation(operation.to_owned()),
            );
        };
        if w.status == 300 {
            return Err(Error::new(
                ErrorKind::Conflict {
                    existing_id: None,
                    candidates: candidates(&w.body),
                },
                "more than one record holds this external id (HTTP 300); nothing was written",
            )
            .with_operation(operation.to_owned()));
        }
        if !w.ok() {
            return Err(self.core.name_fields(s, w.error(operation)));
        }
        if !r.ok() {
            return Err(r.error(operation));
        }
        let record = self
            .core
            .record_from_json::<T>(s, &r.body)
            .map_err(|e| e.with_operation(operation.to_owned()))?;
        Ok((record, w.status))
    }

    async fn create_inner(&self, input: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let operation = op::<T>("create");
        let s = self.sobject();
        if ctx.idempotency_key.is_some() && self.core.idempotency_field.is_none() {
            return Err(key_without_field(s, &operation));
        }
        let body = self.core.body_for(s, &input.to_fields(), true)?;
        if let (Some(key), Some(field)) =
            (&ctx.idempotency_key, self.core.idempotency_field.clone())
        {
            // The key goes in a unique external-id field through an upsert, so a retry (or a
            // replayed conversation) finds the first record instead of creating another.
            return self
                .upsert_vendor(s, &field, key.as_str(), body, &operation)
                .await
                .map(|u| u.record);
        }
        let (id_ref, path) = ("@{write.id}", Core::sobject_path(s, &[]));
        let read = format!("/sobjects/{}/{id_ref}", s.name());
        let call = WriteCall {
            method: "POST",
            path,
            body,
            read_path: read,
            idempotent: false,
        };
        self.write_read(s, call, &operation).await.map(|(r, _)| r)
    }

    async fn update_inner(&self, id: &RecordId, patch: &T) -> Result<Record<T>> {
        let id = id::check(id)?;
        let s = self.sobject_of(&id);
        let body = self.core.body_for(s, &patch.to_fields(), false)?;
        self.update_vendor(s, &id, body).await
    }

    pub(crate) async fn update_vendor(
        &self,
        s: SObject,
        id: &RecordId,
        body: Map<String, Value>,
    ) -> Result<Record<T>> {
        let operation = op::<T>("update");
        let path = Core::sobject_path(s, &[id.as_str()]);
        // Setting fields to given values is idempotent, so the call may be retried.
        let call = WriteCall {
            method: "PATCH",
            path: path.clone(),
            body,
            read_path: path,
            idempotent: true,
        };
        self.write_read(s, call, &operation).await.map(|(r, _)| r)
    }

    async fn upsert_vendor(
        &self,
        s: SObject,
        field: &str,
        value: &str,
        mut body: Map<String, Value>,
        operation: &str,
    ) -> Result<Upserted<T>> {
        if value.trim().is_empty() {
            return Err(Error::invalid_input("the upsert key is empty").with_operation(operation));
        }
        // The key is a path segment of a Composite subrequest URL, which the transport never
        // sees: a `.` or `..` would make the PATCH address another resource.
        if crm_core::raw::http::is_dot_segment(value) {
            return Err(Error::invalid_input(
                "the upsert key is `.` or `..` (possibly percent-encoded), which a URL reads as a \
                 step up the path",
            )
            .with_operation(operation));
        }
        // Salesforce's upsert docs: "Do not specify Id or an external ID field in the request
        // body or an error is generated".
        body.retain(|k, _| !k.eq_ignore_ascii_case(field) && !k.eq_ignore_ascii_case("Id"));
        let path = Core::sobject_path(s, &[field, value]);
        let call = WriteCall {
            method: "PATCH",
            path: path.clone(),
            body,
            read_path: path,
            idempotent: true,
        };
        let (record, status) = self
            .write_read(s, call, operation)
            .await
            .map_err(|e| missing_external_id(e, s, field))?;
        // 201 created; 200 (v46.0+) or 204 (earlier versions) updated.
        Ok(Upserted {
            record,
            created: status == 201,
        })
    }

    fn upsert_field(&self, key: &UpsertKey, operation: &str) -> Result<String> {
        match key {
            UpsertKey::ExternalId(_) => self.core.vendor_field(self.sobject(), "external_id"),
            UpsertKey::Idempotency(_) => self.core.idempotency_field.clone().ok_or_else(|| {
                Error::unsupported(
                    operation,
                    "no `idempotency_field` is configured: set it to a Unique External ID field",
                )
            }),
            UpsertKey::Email(_) => Err(Error::unsupported(
                operation,
                "Salesforce upserts only by an external-id field; Email is not one",
            )),
        }
    }

    async fn upsert_inner(&self, key: &UpsertKey, input: &T) -> Result<Upserted<T>> {
        let operation = op::<T>("upsert");
        let field = self.upsert_field(key, &operation)?;
        let s = self.sobject();
        let body = self.core.body_for(s, &input.to_fields(), true)?;
        self.upsert_vendor(s, &field, key.value(), body, &operation)
            .await
    }

    /// Sends Collections requests of up to 200 records (`allOrNone: false`, so results are per
    /// item). Each written record is the caller's input (`fallback`) with the id Collections
    /// returns; with `batch_read_back` the records are read back instead, one query per
    /// chunk. `Err` items failed before any call.
    async fn collections(
        &self,
        method: Method,
        path: String,
        items: Vec<Result<(SObject, Map<String, Value>)>>,
        fallback: &[T],
        operation: &str,
    ) -> Vec<ItemResult<T>> {
        let mut out: Vec<Option<ItemResult<T>>> = Vec::with_capacity(items.len());
        let mut pending: Vec<(usize, SObject, Map<String, Value>)> = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Ok((s, body)) => {
                    out.push(None);
                    pending.push((i, s, body));
                }
                Err(e) => out.push(Some(Err(e.with_operation(operation.to_owned())))),
            }
        }
        for chunk in pending.chunks(COLLECTIONS_MAX) {
            let records: Vec<Value> = chunk
                .iter()
                .map(|(_, s, body)| {
                    let mut r = body.clone();
                    r.insert("attributes".into(), json!({"type": s.name()}));
                    Value::Object(r)
                })
                .collect();
            let mut req = Request::new(method.clone(), path.clone(), operation)
                .json(json!({"allOrNone": false, "records": records}))
                .idempotent(method != Method::POST);
            if let Some((h, v)) = self.core.duplicate_header() {
                req = req.header(h, v);
            }
            let results = match self.core.send(req).await {
                Ok(resp) => resp.json::<Vec<CollItem>>(),
                Err(e) => Err(e),
            };
            let results = match results {
                Ok(r) if r.len() == chunk.len() => r,
                Ok(r) => {
                    let e = Error::decode(format!(
                        "Salesforce returned {} results for {} records; which were written is unknown",
                        r.len(),
                        chunk.len()
                    ));
                    for (i, _, _) in chunk {
                        if let Some(slot) = out.get_mut(*i) {
                            *slot = Some(Err(e.clone().with_operation(operation.to_owned())));
                        }
                    }
                    continue;
                }
                Err(e) => {
                    // A failed or unreadable call: nothing says which records were written.
                    for (i, _, _) in chunk {
                        if let Some(slot) = out.get_mut(*i) {
                            *slot = Some(Err(e.clone()));
                        }
                    }
                    continue;
                }
            };
            // Only when asked: read the written records back, one query per sObject in the
            // chunk.
            let mut by_id: BTreeMap<String, Record<T>> = BTreeMap::new();
            let mut ids_by_object: BTreeMap<SObject, Vec<String>> = BTreeMap::new();
            for ((_, s, _), r) in chunk.iter().zip(&results) {
                if let (true, Some(id), true) = (
                    r.success,
                    r.id.as_deref().and_then(id::to18),
                    self.read_back,
                ) {
                    ids_by_object.entry(*s).or_default().push(id);
                }
            }
            for (s, ids) in ids_by_object {
                let list: Vec<String> = ids.iter().map(|i| quote(i)).collect();
                let select = Select::new(s.name(), &self.core.read_fields(s))
                    .and(format!("Id IN ({})", list.join(", ")));
                if let Ok(found) = self.select(s, &select, operation).await {
                    by_id.extend(found.into_iter().map(|r| (r.id.to_string(), r)));
                }
            }
            for ((i, s, _), r) in chunk.iter().zip(results) {
                let result = if r.success {
                    match r.id.as_deref().and_then(id::to18) {
                        Some(id) => {
                            let record = match by_id.remove(&id) {
                                Some(rec) => Ok(rec),
                                // The caller's own data with its new id (or the read-back
                                // failed).
                                None => RecordId::new(id).map(|rid| Record {
                                    id: rid,
                                    created_at: None,
                                    updated_at: None,
                                    data: fallback.get(*i).cloned().unwrap_or_default(),
                                }),
                            };
                            record.map(|rec| (rec, r.created.unwrap_or(true)))
                        }
                        None => Err(Error::decode("a successful result has no record id")),
                    }
                } else {
                    let e = error_from(&r.errors, 400, Default::default());
                    Err(self.core.name_fields(*s, e))
                };
                if let Some(slot) = out.get_mut(*i) {
                    *slot = Some(result.map_err(|e| e.with_operation(operation.to_owned())));
                }
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "no result"))))
            .collect()
    }

    /// Records matching `conditions`, newest first.
    async fn where_(
        &self,
        s: SObject,
        conditions: Vec<String>,
        order: &str,
        limit: usize,
        operation: &str,
    ) -> Result<Vec<Record<T>>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut select = Select::new(s.name(), &self.core.read_fields(s))
            .order_by(order)
            .limit(limit.min(MAX_BATCH as usize));
        for c in conditions {
            select = select.and(c);
        }
        self.select(s, &select, operation).await
    }

    /// The conditions of a lookup. Phones: SOQL cannot normalise formats, so the query matches
    /// the number's digits in order with anything between them (`LIKE '%4%1%5…'`) on Phone and
    /// MobilePhone, and [`Self::find_by_lookup`] keeps only records whose number has the same
    /// E.164 form.
    fn lookup_condition(&self, s: SObject, lookup: &Lookup) -> Result<String> {
        Ok(match lookup {
            Lookup::Email(e) => format!(
                "{} = {}",
                self.core.vendor_field(s, "email")?,
                quote(e.expose())
            ),
            Lookup::ExternalId(v) if v.trim().is_empty() => {
                return Err(Error::invalid_input("external id is empty"));
            }
            Lookup::ExternalId(v) => {
                format!(
                    "{} = {}",
                    self.core.vendor_field(s, "external_id")?,
                    quote(v)
                )
            }
            Lookup::Phone(p) => {
                let e164 = p
                    .e164()
                    .ok_or_else(|| Error::invalid_input("phone number has no E.164 form"))?;
                let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
                let tail = digits
                    .get(digits.len().saturating_sub(10)..)
                    .unwrap_or(&digits);
                let pattern = soql::like_digits(tail);
                format!(
                    "{} LIKE {pattern} OR MobilePhone LIKE {pattern}",
                    self.core.vendor_field(s, "phone")?
                )
            }
        })
    }

    /// The lookup condition on this family's sObject.
    pub(crate) fn lookup_condition_pub(&self, lookup: &Lookup) -> Result<String> {
        self.lookup_condition(self.sobject(), lookup)
            .map_err(|e| e.with_operation(op::<T>("find_by")))
    }

    pub(crate) async fn find_by_lookup(&self, lookup: &Lookup) -> Result<Vec<Record<T>>> {
        let operation = op::<T>("find_by");
        let s = self.sobject();
        let condition = self
            .lookup_condition(s, lookup)
            .map_err(|e| e.with_operation(operation.clone()))?;
        let Lookup::Phone(phone) = lookup else {
            return self
                .where_(
                    s,
                    vec![condition],
                    "LastModifiedDate DESC, Id DESC",
                    10,
                    &operation,
                )
                .await;
        };
        let mut fields = self.core.read_fields(s);
        fields.push("MobilePhone".into());
        fields.dedup();
        let select = Select::new(s.name(), &fields)
            .and(condition)
            .order_by("LastModifiedDate DESC, Id DESC")
            .limit(200);
        let page = lister::query(&self.core, &select.text(), None, &operation).await?;
        let phone_field = self.core.vendor_field(s, "phone")?;
        let want = phone.e164();
        let mut out = Vec::new();
        for row in &page.records {
            let same = [phone_field.as_str(), "MobilePhone"].iter().any(|f| {
                row.get(*f)
                    .and_then(Value::as_str)
                    .map(|text| crm_core::Phone::from_vendor(text, self.core.region))
                    .is_some_and(|p| p.e164().is_some() && p.e164() == want)
            });
            if !same {
                continue;
            }
            let mut row = row.clone();
            if phone_field != "MobilePhone"
                && let Some(m) = row.as_object_mut()
            {
                m.remove("MobilePhone");
            }
            out.push(
                self.core
                    .record_from_json::<T>(s, &row)
                    .map_err(|e| e.with_operation(operation.clone()))?,
            );
            if out.len() == 10 {
                break;
            }
        }
        Ok(out)
    }

    /// The link condition of `owner` on `s` (`ContactId = '003…'`).
    fn owner_condition(&self, s: SObject, owner: &RecordRef, operation: &str) -> Result<String> {
        let id = id::check(&owner.id)?;
        let field = match (s, owner.kind) {
            (SObject::Task | SObject::Event, ObjectKind::Contact | ObjectKind::Lead) => {
                "WhoId".to_owned()
            }
            (SObject::Task | SObject::Event, _) => "WhatId".to_owned(),
            (_, kind) => self.core.vendor_field(s, kind.link_field()).map_err(|_| {
                Error::unsupported(
                    operation,
                    format!("{} records are not linked to {kind} records", s.name()),
                )
            })?,
        };
        Ok(format!("{field} = {}", quote(id.as_str())))
    }
}

#[async_trait]
impl<T: Entity> Records<T> for SObjectFamily<T> {
    async fn get(&self, id: &RecordId) -> Result<Record<T>> {
        let operation = op::<T>("get");
        let id = id::check(id).map_err(|e| e.with_operation(operation.clone()))?;
        let s = self.sobject_of(&id);
        let req = Request::get(Core::sobject_path(s, &[id.as_str()]), operation.clone())
            .addresses_record()
            .query("fields", self.fields_param(s));
        let resp = self.core.send(req).await?;
        let body: Value = resp.json()?;
        self.core
            .record_from_json::<T>(s, &body)
            .map_err(|e| e.with_operation(operation))
    }

    async fn find(&self, filter: &Filter, limit: usize) -> Result<Vec<Record<T>>> {
        let operation = op::<T>("find");
        let s = self.sobject();
        let mut conditions = Vec::new();
        for c in &filter.all {
            match (c.field.as_str(), &c.value) {
                ("phone", FieldValue::Text(text)) => {
                    let phone = crm_core::Phone::parse(text, self.core.region)
                        .map_err(|e| e.with_operation(operation.clone()))?;
                    let mut found = self.find_by_lookup(&Lookup::Phone(phone)).await?;
                    found.truncate(limit);
                    if filter.all.len() == 1 {
                        return Ok(found);
                    }
                    return Err(Error::unsupported(
                        operation,
                        "a phone condition cannot be combined with others",
                    ));
                }
                (field, value) => {
                    let vendor = self
                        .core
                        .vendor_field(s, field)
                        .and_then(|v| soql::ident(&v).map(str::to_owned))
                        .map_err(|e| e.with_operation(operation.clone()))?;
                    let lit =
                        literal(field, value).map_err(|e| e.with_operation(operation.clone()))?;
                    conditions.push(format!("{vendor} = {lit}"));
                }
            }
        }
        self.where_(
            s,
            conditions,
            "LastModifiedDate DESC, Id DESC",
            limit,
            &operation,
        )
        .await
    }

    async fn create(&self, input: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let result = self.create_inner(input, ctx).await;
        self.core
            .audit("create", T::KIND, ctx, &input.to_fields(), &result, |r| {
                r.id.clone()
            });
        result
    }

    async fn update(&self, id: &RecordId, patch: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let result = self.update_inner(id, patch).await;
        self.core
            .audit("update", T::KIND, ctx, &patch.to_fields(), &result, |r| {
                r.id.clone()
            });
        result
    }

    async fn upsert(&self, key: &UpsertKey, input: &T, ctx: &WriteContext) -> Result<Upserted<T>> {
        let result = self.upsert_inner(key, input).await;
        self.core
            .audit("upsert", T::KIND, ctx, &input.to_fields(), &result, |u| {
                u.record.id.clone()
            });
        result
    }

    async fn create_batch(&self, inputs: &[T], ctx: &WriteContext) -> BatchResult<Record<T>> {
        let operation = op::<T>("create_batch");
        let s = self.sobject();
        if ctx.idempotency_key.is_some() && self.core.idempotency_field.is_none() {
            let err = key_without_field(s, &operation);
            let out: BatchResult<Record<T>> = inputs.iter().map(|_| Err(err.clone())).collect();
            for (input, r) in inputs.iter().zip(&out) {
                self.core
                    .audit("create", T::KIND, ctx, &input.to_fields(), r, |x| {
                        x.id.clone()
                    });
            }
            return out;
        }
        let idem = ctx
            .idempotency_key
            .as_ref()
            .zip(self.core.idempotency_field.clone());
        let items: Vec<Result<(SObject, Map<String, Value>)>> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let mut body = self.core.body_for(s, &input.to_fields(), true)?;
                if let Some((key, field)) = &idem {
                    body.insert(field.clone(), json!(item_key(key, i)));
                }
                Ok((s, body))
            })
            .collect();
        let (method, path) = match &idem {
            // With a key, each item is upserted on its own derived key: a retried batch
            // writes nothing twice.
            Some((_, field)) => (
                Method::PATCH,
                format!("/composite/sobjects/{}/{}", s.name(), field),
            ),
            None => (Method::POST, "/composite/sobjects".to_owned()),
        };
        let results = self
            .collections(method, path, items, inputs, &operation)
            .await;
        results
            .into_iter()
            .zip(inputs)
            .map(|(r, input)| {
                let r = match &idem {
                    Some((_, field)) => r.map_err(|e| missing_external_id(e, s, field)),
                    None => r,
                }
                .map(|(rec, _)| rec);
                self.core
                    .audit("create", T::KIND, ctx, &input.to_fields(), &r, |x| {
                        x.id.clone()
                    });
                r
            })
            .collect()
    }

    /// sObject Collections upserts on `idempotency_field`, 200 records per request, each record
    /// carrying its own key: sending the same items again updates the records the first
    /// attempt created instead of creating more. Without the field every item is refused with
    /// a `Config` error before any request, as a keyed [`Records::create`] is.
    async fn create_batch_keyed(
        &self,
        items: &[(IdempotencyKey, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        let operation = op::<T>("create_batch");
        let s = self.sobject();
        let item_ctx = |key: &IdempotencyKey| WriteContext {
            actor: ctx.actor.clone(),
            idempotency_key: Some(key.clone()),
        };
        let Some(field) = self.core.idempotency_field.clone() else {
            let err = key_without_field(s, &operation);
            return items
                .iter()
                .map(|(key, input)| {
                    let r: Result<Record<T>> = Err(err.clone());
                    self.core.audit(
                        "create",
                        T::KIND,
                        &item_ctx(key),
                        &input.to_fields(),
                        &r,
                        |x| x.id.clone(),
                    );
                    r
                })
                .collect();
        };
        let bodies: Vec<Result<(SObject, Map<String, Value>)>> = items
            .iter()
            .map(|(key, input)| {
                let mut body = self.core.body_for(s, &input.to_fields(), true)?;
                body.retain(|k, _| {
                    !k.eq_ignore_ascii_case(&field) && !k.eq_ignore_ascii_case("Id")
                });
                body.insert(field.clone(), json!(key.as_str()));
                Ok((s, body))
            })
            .collect();
        let inputs: Vec<T> = items.iter().map(|(_, t)| t.clone()).collect();
        let path = format!("/composite/sobjects/{}/{}", s.name(), field);
        let results = self
            .collections(Method::PATCH, path, bodies, &inputs, &operation)
            .await;
        results
            .into_iter()
            .zip(items)
            .map(|(r, (key, input))| {
                let r = r
                    .map_err(|e| missing_external_id(e, s, &field))
                    .map(|(rec, _)| rec);
                self.core.audit(
                    "create",
                    T::KIND,
                    &item_ctx(key),
                    &input.to_fields(),
                    &r,
                    |x| x.id.clone(),
                );
                r
            })
            .collect()
    }

    async fn update_batch(
        &self,
        inputs: &[(RecordId, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        let operation = op::<T>("update_batch");
        let items: Vec<Result<(SObject, Map<String, Value>)>> = inputs
            .iter()
            .map(|(id, patch)| {
                let id = id::check(id)?;
                let s = self.sobject_of(&id);
                let mut body = self.core.body_for(s, &patch.to_fields(), false)?;
                body.insert("id".into(), json!(id.as_str()));
                Ok((s, body))
            })
            .collect();
        let fallback: Vec<T> = inputs.iter().map(|(_, t)| t.clone()).collect();
        let results = self
            .collections(
                Method::PATCH,
                "/composite/sobjects".into(),
                items,
                &fallback,
                &operation,
            )
            .await;
        results
            .into_iter()
            .zip(inputs)
            .map(|(r, (_, patch))| {
                let r = r.map(|(rec, _)| rec);
                self.core
                    .audit("update", T::KIND, ctx, &patch.to_fields(), &r, |x| {
                        x.id.clone()
                    });
                r
            })
            .collect()
    }

    async fn upsert_batch(
        &self,
        inputs: &[(UpsertKey, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Upserted<T>> {
        let operation = op::<T>("upsert_batch");
        let s = self.sobject();
        // Collections upsert takes one external-id field per request: group by key field,
        // keep input order in the results.
        let mut results: Vec<Option<Result<Upserted<T>>>> = inputs.iter().map(|_| None).collect();
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, (key, _)) in inputs.iter().enumerate() {
            match self.upsert_field(key, &operation) {
                Ok(f) => groups.entry(f).or_default().push(i),
                Err(e) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(Err(e));
                    }
                }
            }
        }
        for (field, idx) in groups {
            let items: Vec<Result<(SObject, Map<String, Value>)>> = idx
                .iter()
                .filter_map(|i| inputs.get(*i))
                .map(|(key, input)| {
                    if key.value().trim().is_empty() {
                        return Err(Error::invalid_input("the upsert key is empty"));
                    }
                    let mut body = self.core.body_for(s, &input.to_fields(), true)?;
                    body.retain(|k, _| !k.eq_ignore_ascii_case(&field));
                    body.insert(field.clone(), json!(key.value()));
                    Ok((s, body))
                })
                .collect();
            let fallback: Vec<T> = idx
                .iter()
                .filter_map(|i| inputs.get(*i).map(|(_, t)| t.clone()))
                .collect();
            let path = format!("/composite/sobjects/{}/{}", s.name(), field);
            let out = self
                .collections(Method::PATCH, path, items, &fallback, &operation)
                .await;
            for (i, r) in idx.into_iter().zip(out) {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r.map(|(record, created)| Upserted { record, created }));
                }
            }
        }
        results
            .into_iter()
            .zip(inputs)
            .map(|(r, (_, input))| {
                let r = r.unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "no result")));
                self.core
                    .audit("upsert", T::KIND, ctx, &input.to_fields(), &r, |u| {
                        u.record.id.clone()
                    });
                r
            })
            .collect()
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
        let mut conditions = Vec::new();
        if let Some(since) = query.changed_since {
            conditions.push(format!("LastModifiedDate >= {}", soql::datetime(since)));
        }
        // Salesforce is always asked for the connection's batch size; a smaller page is cut
        // from it, never asked for one small query at a time.
        let batch = self
            .core
            .query_batch_size
            .unwrap_or(MAX_BATCH)
            .clamp(MIN_BATCH, MAX_BATCH);
        let page_size = query.page_size.map_or(batch, |n| n.get()).min(MAX_BATCH);
        let spec = ListSpec {
            sobject: self.sobject(),
            conditions,
            page_size,
            batch,
        };
        lister::stream::<T>(self.core.clone(), spec, &query, operation)
    }
}

#[async_trait]
impl Contacts for SObjectFamily<Contact> {
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Contact>>> {
        self.find_by_lookup(lookup).await
    }
}

#[async_trait]
impl Accounts for SObjectFamily<Account> {}

#[async_trait]
impl Leads for SObjectFamily<Lead> {
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Lead>>> {
        self.find_by_lookup(lookup).await
    }
}

#[async_trait]
impl Opportunities for SObjectFamily<Opportunity> {
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Opportunity>>> {
        let operation = "opportunity.open_for";
        if owner.kind == ObjectKind::Contact {
            // By account, contact role and ContactId, as real orgs link them (see view.rs).
            let id = id::check(&owner.id).map_err(|e| e.with_operation(operation))?;
            return crate::view::open_opportunities_for_contact(&self.core, &id, limit, operation)
                .await;
        }
        let s = SObject::Opportunity;
        let cond = self.owner_condition(s, owner, operation)?;
        self.where_(
            s,
            vec![cond, "IsClosed = false".into()],
            "LastModifiedDate DESC, Id DESC",
            limit,
            operation,
        )
        .await
    }
}

#[async_trait]
impl Tickets for SObjectFamily<Ticket> {
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Ticket>>> {
        let operation = "ticket.open_for";
        let s = SObject::Case;
        let cond = self.owner_condition(s, owner, operation)?;
        let found = self
            .where_(
                s,
                vec![cond, "IsClosed = false".into()],
                "LastModifiedDate DESC, Id DESC",
                limit,
                operation,
            )
            .await?;
        Ok(found.into_iter().filter(|t| t.is_open()).collect())
    }
}

#[async_trait]
impl Activities for SObjectFamily<Activity> {
    async fn latest_for(&self, record: &RecordRef, limit: usize) -> Result<Vec<Record<Activity>>> {
        let operation = "activity.latest_for";
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Tasks and Events in one Composite request (one round trip, one API call).
        let mut subs = Vec::new();
        for s in [SObject::Task, SObject::Event] {
            let select = Select::new(s.name(), &self.core.read_fields(s))
                .and(self.owner_condition(s, record, operation)?)
                .order_by("CreatedDate DESC, Id DESC")
                .limit(limit);
            subs.push(crate::view::query_sub(&self.core, s.name(), &select.text()));
        }
        let responses = self.core.composite(subs, true, operation).await?;
        let mut all = Vec::new();
        for (s, r) in [SObject::Task, SObject::Event].into_iter().zip(&responses) {
            if !r.ok() {
                return Err(r.error(operation));
            }
            let page: lister::QueryPage = crm_core::raw::http::decode_value(r.body.clone())
                .map_err(|e| {
                    Error::decode(format!("a query result: {}", e.message()))
                        .with_operation(operation)
                })?;
            all.extend(lister::records::<Activity>(
                &self.core, s, &page, operation,
            )?);
        }
        Ok(crate::view::newest_first(all, limit))
    }
}

#[async_trait]
impl Crm for Salesforce {
    fn vendor(&self) -> &str {
        crate::VENDOR
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

    /// Sets `from`'s link field for `to` (`Case.ContactId`, `Task.WhoId`/`WhatId`).
    async fn link(&self, from: &RecordRef, to: &RecordRef, ctx: &WriteContext) -> Result<()> {
        let mut common = FieldMap::new();
        let result = match id::check(&to.id) {
            Ok(to_id) => {
                common.insert(
                    to.kind.link_field().to_owned(),
                    FieldValue::Text(to_id.to_string()),
                );
                self.link_inner(from, &common).await
            }
            Err(e) => Err(e.with_operation("link")),
        };
        self.core
            .audit("link", from.kind, ctx, &common, &result, |_| {
                from.id.clone()
            });
        result
    }

    /// One Composite request: the contact lookup with its account's fields, then open
    /// opportunities, open cases, latest tasks and events by reference to the contact found.
    async fn customer_view(
        &self,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<CustomerView>> {
        crate::view::load(self, lookup, options).await
    }
}

impl Salesforce {
    async fn link_inner(&self, from: &RecordRef, common: &FieldMap) -> Result<()> {
        let id = id::check(&from.id)?;
        let s = match (from.kind, SObject::by_prefix(id.as_str())) {
            (ObjectKind::Activity, Some(SObject::Event)) => SObject::Event,
            (kind, _) => SObject::for_kind(kind),
        };
        let body = self.core.body_for(s, common, false)?;
        let path = Core::sobject_path(s, &[id.as_str()]);
        let mut req = Request::new(Method::PATCH, path, "link")
            .addresses_record()
            .json(Value::Object(body))
            .idempotent(true);
        if let Some((h, v)) = self.core.duplicate_header() {
            req = req.header(h, v);
        }
        self.core
            .send(req)
            .await
            .map(drop)
            .map_err(|e| self.core.name_fields(s, e))
    }
}
