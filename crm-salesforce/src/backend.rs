//! The builder, the capability declaration and the backend: Salesforce's hooks for core's
//! generic connection, and the request plumbing they share (the instance, the concurrency cap,
//! Composite requests).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_core::credential::CredentialProvider;
use crm_core::mapping::WriteMode;
use crm_core::raw::http::{Request, parse_base_url};
use crm_core::raw::{
    Backend, BackendFacts, Connection, ConnectionOptions, LinkedWrites, LinkedWritten, Query,
    VendorRecord, VendorWrite, WriteOp, Written,
};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::Method;
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_core::{
    Capabilities, Crm, CustomerView, Error, FieldMap, FieldValue, Lookup, ObjectCapabilities,
    ObjectKind, Page, RecordId, RecordRef, Region, Result, ViewOptions,
};
use serde_json::Value;

use crate::config::{SalesforceConfig, SalesforceConfigKey};
use crate::credential::{Grant, JwtKey, SalesforceCredentials};
use crate::extras::org::{SalesforceBackend, read_fields};
use crate::extras::{id, soql};
use crate::wire::{self, COLLECTIONS_MAX, HeldBatches, MAX_BATCH, MIN_BATCH, SObject};

/// Concurrent requests per org: Salesforce allows 25 long-running requests (Salesforce
/// Developer Limits and Allocations Quick Reference, "API Request Limits and Allocations").
const MAX_CONCURRENCY: usize = 25;

/// A connection to one Salesforce org: core's generic connection over [`SalesforceBackend`].
/// Salesforce-only calls (`check_setup`, `schema`, `api_usage`) are on
/// [`Connection::backend`].
pub type Salesforce = Connection<SalesforceBackend>;

#[doc = include_str!("../docs.md")]
pub struct SalesforceBuilder {
    config: SalesforceConfig,
    pending: Vec<(String, String)>,
    pub(crate) options: ConnectionOptions,
    /// A configuration error found before `build()` (in the environment), reported by it.
    error: Option<Error>,
    session_lifetime: Option<Duration>,
}

impl fmt::Debug for SalesforceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceBuilder")
            .field("config", &self.config)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

crm_core::connection_options!(SalesforceBuilder);

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
            options: ConnectionOptions::default(),
            error: None,
            session_lifetime: None,
        }
    }

    /// A builder from `CRM_SALESFORCE_*` environment variables; a variable with a bad value
    /// fails `build()`, naming the key.
    pub fn from_env() -> Self {
        match SalesforceConfig::from_env() {
            Ok(config) => Self::from_config(config),
            Err(e) => Self {
                error: Some(e),
                ..Self::new()
            },
        }
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

    /// A ready access token (no refresh); set the instance with
    /// [`SalesforceBuilder::with_instance_url`].
    pub fn with_token(mut self, token: SecretString) -> Self {
        self.config.auth = Some("access_token".into());
        self.config.access_token = Some(token);
        self
    }

    /// Refresh the session proactively at 90 % of this age (the org's session timeout).
    /// Default: only when Salesforce answers `INVALID_SESSION_ID`.
    pub fn with_session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = Some(lifetime);
        self
    }

    /// Percent of the daily API allocation left for other integrations. Default 10.
    pub fn with_daily_reserve_percent(mut self, percent: u8) -> Self {
        self.config.daily_reserve_percent = Some(percent);
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
        if let Some(e) = self.error.take() {
            return Err(e);
        }
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
        // The builder's options and the config file's keys for the same things add up (CAs)
        // or the builder's win (the timeout).
        let mut transport = self.options.clone();
        transport.ca_files.extend(c.ca_file.iter().cloned());
        transport.timeout = transport
            .timeout
            .or(c.timeout_secs.map(Duration::from_secs));
        if transport.timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::config("timeout_secs: must be more than zero"));
        }
        let (credentials, sf_credentials): (Arc<dyn CredentialProvider>, _) =
            match self.options.credentials.clone() {
                Some(p) => {
                    if instance_override.is_none() {
                        return Err(Error::config(
                            "instance_url: required with a custom credential provider",
                        ));
                    }
                    (p, None)
                }
                None => {
                    // The observer (a request counter) sees token requests too; nothing
                    // paces them (the token endpoint counts toward no API limit).
                    let mut creds = SalesforceCredentials::with_token_limiter(
                        Self::grant(c)?,
                        &login_url,
                        &transport.ca_files,
                        transport.timeout,
                        transport.retry.clone(),
                        self.options.observed(None),
                    )?;
                    if let Some(l) = self.session_lifetime {
                        creds = creds.with_session_lifetime(l);
                    }
                    let creds = Arc::new(creds);
                    (creds.clone() as Arc<dyn CredentialProvider>, Some(creds))
                }
            };
        let defaults = crate::default_mapping()?;
        let defaults = crate::MAPPING_TARGETS
            .iter()
            .filter_map(|(t, _)| Some((*t, defaults.get(*t)?.clone())))
            .collect();
        let mappings = self.options.mappings(
            "Salesforce's default mapping",
            crate::MAPPING_TARGETS,
            defaults,
        )?;
        for s in SObject::ALL {
            read_fields(&mappings, s)?;
        }
        // Off unless configured: a stock org has no such field, and a default that needs an
        // admin step would fail every keyed create there.
        let idempotency_field = c
            .idempotency_field
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned);
        if let Some(f) = &idempotency_field {
            soql::ident(f)
                .map_err(|e| Error::config(format!("idempotency_field: {}", e.message())))?;
        }
        let limiter = Arc::new(crate::limits::daily_budget(
            c.daily_reserve_percent.unwrap_or(10),
        )?);
        // A caller's limiter (shared by every connection to the org) sees every call too.
        let paced = crm_core::limits::Stacked::layer(self.options.limiter.clone(), limiter.clone());
        let paced = self.options.observed(Some(paced.clone())).unwrap_or(paced);
        let batch = c.query_batch_size.unwrap_or(MAX_BATCH);
        let backend = SalesforceBackend {
            credentials,
            sf_credentials,
            instance_override,
            instance: Mutex::new(None),
            api_version,
            region,
            mappings: mappings.clone(),
            capabilities: capabilities(idempotency_field.is_some(), batch),
            idempotency_field,
            allow_duplicates: c.allow_duplicates.unwrap_or(false),
            query_batch_size: batch,
            read_back: c.batch_read_back.unwrap_or(false),
            concurrency: tokio::sync::Semaphore::new(MAX_CONCURRENCY),
            transport,
            limiter: paced,
            budget: limiter,
            held: HeldBatches::default(),
        };
        let name = c.connection_name.as_deref().unwrap_or(crate::VENDOR);
        Ok(self.options.connect(backend, mappings, name))
    }
}

fn capabilities(idempotent: bool, batch: u32) -> Capabilities {
    let mut objects = BTreeMap::new();
    for kind in ObjectKind::ALL {
        let mut caps = ObjectCapabilities::read_write();
        caps.upsert_keys = vec!["external_id".into()];
        if idempotent {
            caps.upsert_keys.push("idempotency_key".into());
        }
        caps.list_changed_since = true;
        caps.max_batch = Some(COLLECTIONS_MAX);
        // A caller's page is at most one query batch: Salesforce is always asked for the
        // connection's batch size, never for more.
        caps.max_page_size = Some(batch);
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

/// Common fields of an activity written outside the mapping: its links go to the polymorphic
/// `WhoId`/`WhatId`, and `timestamp` to `ActivityDate` when no due date is given.
const ACTIVITY_UNMAPPED: &[&str] = &[
    "contact_id",
    "lead_id",
    "ticket_id",
    "opportunity_id",
    "account_id",
    "timestamp",
];

#[async_trait]
impl Backend for SalesforceBackend {
    type Builder = SalesforceBuilder;

    fn facts(&self) -> BackendFacts<'_> {
        let setting = "idempotency_field` (a Text field marked Unique and External ID, such as \
             `Idempotency_Key__c`, on every object the bot creates";
        BackendFacts::new(crate::VENDOR, &self.capabilities, self.region, setting)
    }

    /// Activities are written as Tasks.
    fn target(&self, kind: ObjectKind, _common: &FieldMap) -> &'static str {
        SObject::for_kind(kind).table()
    }

    /// An activity's links go to the polymorphic `WhoId`/`WhatId` (and its timestamp is
    /// Salesforce's own), written by the backend from [`VendorWrite::common`], not through the
    /// Task mapping: they are taken out of what the connection maps.
    fn before_mapping(
        &self,
        kind: ObjectKind,
        _op: &WriteOp,
        _target: &mut &'static str,
        common: &mut FieldMap,
    ) -> Result<()> {
        if kind == ObjectKind::Activity {
            common.retain(|k, _| !ACTIVITY_UNMAPPED.contains(&k.as_str()));
        }
        Ok(())
    }

    async fn get(&self, kind: ObjectKind, id: &RecordId) -> Result<VendorRecord> {
        let operation = format!("{kind}.get");
        let id = id::check(id).map_err(|e| e.with_operation(operation.clone()))?;
        let s = SObject::of_record(kind, &id);
        let req = Request::get(Self::sobject_path(s, &[id.as_str()]), operation.clone())
            .addresses_record()
            .query("fields", self.read_fields(s)?.join(","));
        let body: Value = self.send(req).await?.json()?;
        self.vendor_record(s, &body)
    }

    async fn write(&self, write: VendorWrite) -> Result<Written> {
        self.write_one(write).await
    }

    async fn write_batch(&self, writes: Vec<VendorWrite>) -> Vec<Result<Written>> {
        self.collections(writes).await
    }

    /// One all-or-none Composite request, children referring to `@{parent.id}`.
    async fn write_linked(
        &self,
        writes: LinkedWrites,
    ) -> std::result::Result<LinkedWritten, LinkedWrites> {
        self.composite_linked(writes).await
    }

    async fn query_page(
        &self,
        query: &Query,
        cursor: Option<String>,
    ) -> Result<Page<VendorRecord>> {
        crate::lister::query_page(self, query, cursor).await
    }

    /// Sets `from`'s link field for `to` (`Case.ContactId`, `Task.WhoId`/`WhatId`).
    async fn link(&self, from: &RecordRef, to: &RecordRef) -> Result<()> {
        let to_id = id::check(&to.id)?;
        let id = id::check(&from.id)?;
        let mut common = FieldMap::new();
        common.insert(
            to.kind.link_field().to_owned(),
            FieldValue::Text(to_id.to_string()),
        );
        let s = SObject::of_record(from.kind, &id);
        let body = wire::body(&*self.mapping(s)?, s, &common, WriteMode::Update, false)?;
        let path = Self::sobject_path(s, &[id.as_str()]);
        let mut req = Request::new(Method::PATCH, path, "link")
            .addresses_record()
            .json(Value::Object(body))
            .idempotent(true);
        if let Some((h, v)) = self.duplicate_header() {
            req = req.header(h, v);
        }
        self.send(req)
            .await
            .map(drop)
            .map_err(|e| self.name_fields(s, e))
    }

    /// One Composite request: the contact lookup with its account's fields and its latest
    /// Tasks and Events, then open opportunities and open cases by reference to the contact.
    async fn customer_view(
        &self,
        _crm: &dyn Crm,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<CustomerView>> {
        crate::extras::view::load(self, lookup, options).await
    }

    /// The settings' fields, through `describe` (`extras/schema.rs`).
    async fn check_setup(&self) -> Result<Vec<crm_core::raw::SetupCheck>> {
        SalesforceBackend::check_setup(self).await
    }

    async fn check_table(
        &self,
        (target, _): crm_core::raw::Target,
        mapping: &crm_core::mapping::ObjectMapping,
    ) -> Result<crm_core::raw::TableCheck> {
        let problems = self.check_mapping(target, mapping).await?;
        Ok(crm_core::raw::TableCheck::Checked(problems))
    }
}
