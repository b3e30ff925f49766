//! Request plumbing, Salesforce JSON ↔ common fields, and `parse_error`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crm_core::audit::{self, AuditRecord, AuditSink};
use crm_core::credential::CredentialProvider;
use crm_core::limits::RateLimiter;
use crm_core::mapping::ObjectMapping;
use crm_core::model::fields::parse_datetime;
use crm_core::raw::http::{
    ErrorParser, ErrorResponse, HttpClient, HttpClientBuilder, Request, Response, decode_json,
    encode_segment,
};
use crm_core::reexports::http::{HeaderMap, HeaderName, Method, StatusCode};
use crm_core::reexports::url::Url;
use crm_core::retry::RetryPolicy;
use crm_core::{
    Entity, Error, ErrorKind, FieldError, FieldMap, FieldValue, LimitScope, ObjectKind, Record,
    RecordId, Region, Result, VendorError, WriteContext,
};
use serde_json::{Map, Value, json};

use crate::credential::SalesforceCredentials;
use crate::id;
use crate::limits::DAILY_BUCKET;

/// The sObjects the adapter reads and writes, and the mapping table each uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SObject {
    Contact,
    Account,
    Lead,
    Opportunity,
    Case,
    Task,
    Event,
}

impl SObject {
    pub(crate) const ALL: [SObject; 7] = [
        SObject::Contact,
        SObject::Account,
        SObject::Lead,
        SObject::Opportunity,
        SObject::Case,
        SObject::Task,
        SObject::Event,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            SObject::Contact => "Contact",
            SObject::Account => "Account",
            SObject::Lead => "Lead",
            SObject::Opportunity => "Opportunity",
            SObject::Case => "Case",
            SObject::Task => "Task",
            SObject::Event => "Event",
        }
    }

    /// The table of `mapping.toml`.
    pub(crate) fn table(self) -> &'static str {
        match self {
            SObject::Contact => "contact",
            SObject::Account => "account",
            SObject::Lead => "lead",
            SObject::Opportunity => "opportunity",
            SObject::Case => "ticket",
            SObject::Task => "task",
            SObject::Event => "event",
        }
    }

    pub(crate) fn kind(self) -> ObjectKind {
        match self {
            SObject::Contact => ObjectKind::Contact,
            SObject::Account => ObjectKind::Account,
            SObject::Lead => ObjectKind::Lead,
            SObject::Opportunity => ObjectKind::Opportunity,
            SObject::Case => ObjectKind::Ticket,
            SObject::Task | SObject::Event => ObjectKind::Activity,
        }
    }

    /// The sObject written for a kind (activities are written as Tasks).
    pub(crate) fn for_kind(kind: ObjectKind) -> Self {
        match kind {
            ObjectKind::Contact => SObject::Contact,
            ObjectKind::Account => SObject::Account,
            ObjectKind::Lead => SObject::Lead,
            ObjectKind::Opportunity => SObject::Opportunity,
            ObjectKind::Ticket => SObject::Case,
            ObjectKind::Activity => SObject::Task,
        }
    }

    /// The sObject an id belongs to, by key prefix: an id's first 3 characters, the `keyPrefix`
    /// the sObject's describe reports (REST API Developer Guide, "sObject Describe").
    pub(crate) fn by_prefix(id: &str) -> Option<Self> {
        Some(match id::prefix(id) {
            "003" => SObject::Contact,
            "001" => SObject::Account,
            "00Q" => SObject::Lead,
            "006" => SObject::Opportunity,
            "500" => SObject::Case,
            "00T" => SObject::Task,
            "00U" => SObject::Event,
            _ => return None,
        })
    }

    /// Fields Salesforce computes that give statuses their meaning, read with every record.
    fn flags(self) -> &'static [&'static str] {
        match self {
            SObject::Case => &["IsClosed"],
            SObject::Opportunity => &["IsClosed", "IsWon"],
            SObject::Lead => &["IsConverted"],
            SObject::Task => &["IsClosed", "TaskSubtype", "WhoId", "WhatId"],
            SObject::Event => &["WhoId", "WhatId"],
            SObject::Contact | SObject::Account => &[],
        }
    }
}

/// The default mapping (`mapping.toml`).
pub(crate) const DEFAULT_MAPPING: &str = include_str!("../mapping.toml");

/// Everything one connection shares.
pub(crate) struct Core {
    credentials: Arc<dyn CredentialProvider>,
    sf_credentials: Option<Arc<SalesforceCredentials>>,
    instance_override: Option<Url>,
    instance: Mutex<Option<(Url, HttpClient)>>,
    pub(crate) api_version: String,
    pub(crate) region: Region,
    /// Swapped whole by `Salesforce::set_mappings`: work in flight keeps what it started with.
    mapped: std::sync::RwLock<Arc<Mapped>>,
    pub(crate) idempotency_field: Option<String>,
    pub(crate) allow_duplicates: bool,
    pub(crate) query_batch_size: Option<u32>,
    connection: String,
    audit: Arc<dyn AuditSink>,
    concurrency: tokio::sync::Semaphore,
    timeout: Option<Duration>,
    root_ca_files: Vec<PathBuf>,
    retry: Option<RetryPolicy>,
    limiter: Arc<dyn RateLimiter>,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("api_version", &self.api_version)
            .field(
                "instance_override",
                &self.instance_override.as_ref().map(Url::as_str),
            )
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// What `Core::new` needs.
pub(crate) struct CoreParts {
    pub(crate) credentials: Arc<dyn CredentialProvider>,
    pub(crate) sf_credentials: Option<Arc<SalesforceCredentials>>,
    pub(crate) instance_override: Option<Url>,
    pub(crate) api_version: String,
    pub(crate) region: Region,
    pub(crate) mappings: BTreeMap<SObject, ObjectMapping>,
    pub(crate) mapping_label: Option<String>,
    pub(crate) idempotency_field: Option<String>,
    pub(crate) allow_duplicates: bool,
    pub(crate) query_batch_size: Option<u32>,
    pub(crate) connection: String,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) max_concurrency: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) root_ca_files: Vec<PathBuf>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) limiter: Arc<dyn RateLimiter>,
}

/// The mappings in use and the SOQL field lists they imply.
#[derive(Debug)]
struct Mapped {
    mappings: BTreeMap<SObject, Arc<ObjectMapping>>,
    read_fields: BTreeMap<SObject, Vec<String>>,
    /// `version@hash` of the mapping file the tables came from.
    label: Option<String>,
}

impl Mapped {
    fn build(mappings: BTreeMap<SObject, ObjectMapping>, label: Option<String>) -> Result<Self> {
        let mut read_fields = BTreeMap::new();
        for s in SObject::ALL {
            let mapping = mappings
                .get(&s)
                .ok_or_else(|| Error::config(format!("mapping: no `{}` table", s.table())))?;
            let mut fields: BTreeSet<String> = ["Id", "CreatedDate", "LastModifiedDate"]
                .into_iter()
                .map(str::to_owned)
                .collect();
            for vendor in mapping.fields.values() {
                crate::soql::ident(vendor).map_err(|e| {
                    Error::config(format!("mapping.{}: {}", s.table(), e.message()))
                })?;
                fields.insert(vendor.clone());
            }
            fields.extend(s.flags().iter().map(|f| (*f).to_owned()));
            read_fields.insert(s, fields.into_iter().collect());
        }
        Ok(Self {
            mappings: mappings
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect(),
            read_fields,
            label,
        })
    }
}

impl Core {
    pub(crate) fn new(p: CoreParts) -> Result<Arc<Self>> {
        let mapped = Mapped::build(p.mappings, p.mapping_label)?;
        if let Some(f) = &p.idempotency_field {
            crate::soql::ident(f)
                .map_err(|e| Error::config(format!("idempotency_field: {}", e.message())))?;
        }
        Ok(Arc::new(Self {
            credentials: p.credentials,
            sf_credentials: p.sf_credentials,
            instance_override: p.instance_override,
            instance: Mutex::new(None),
            api_version: p.api_version,
            region: p.region,
            mapped: std::sync::RwLock::new(Arc::new(mapped)),
            idempotency_field: p.idempotency_field,
            allow_duplicates: p.allow_duplicates,
            query_batch_size: p.query_batch_size,
            connection: p.connection,
            audit: p.audit,
            concurrency: tokio::sync::Semaphore::new(p.max_concurrency.max(1)),
            timeout: p.timeout,
            root_ca_files: p.root_ca_files,
            retry: p.retry,
            limiter: p.limiter,
        }))
    }

    /// The sObject of a mapping table name.
    pub(crate) fn sobject_for_table(table: &str) -> Option<&'static str> {
        match table {
            "contact" => Some("Contact"),
            "account" => Some("Account"),
            "lead" => Some("Lead"),
            "opportunity" => Some("Opportunity"),
            "ticket" => Some("Case"),
            "task" => Some("Task"),
            "event" => Some("Event"),
            _ => None,
        }
    }

    fn mapped(&self) -> Arc<Mapped> {
        self.mapped
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the mappings for new work (checked first; on an error nothing changes).
    pub(crate) fn swap_mappings(
        &self,
        mappings: BTreeMap<SObject, ObjectMapping>,
        label: Option<String>,
    ) -> Result<()> {
        let next = Arc::new(Mapped::build(mappings, label)?);
        *self
            .mapped
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        Ok(())
    }

    /// `version@hash` of the mapping file in use, if one is.
    pub(crate) fn mapping_label(&self) -> Option<String> {
        self.mapped().label.clone()
    }

    pub(crate) fn mapping(&self, s: SObject) -> Arc<ObjectMapping> {
        // Every sObject has a mapping: `Mapped::build` refuses a set without one.
        self.mapped()
            .mappings
            .get(&s)
            .cloned()
            .unwrap_or_else(|| Arc::new(ObjectMapping::default()))
    }

    /// The fields read for `s`.
    pub(crate) fn read_fields(&self, s: SObject) -> Vec<String> {
        self.mapped()
            .read_fields
            .get(&s)
            .cloned()
            .unwrap_or_default()
    }

    /// The vendor field of a common field.
    pub(crate) fn vendor_field(&self, s: SObject, common: &str) -> Result<String> {
        self.mapping(s)
            .vendor_name(common)
            .map(str::to_owned)
            .ok_or_else(|| Error::mapping(format!("{}.{common}: no Salesforce field", s.kind())))
    }

    /// The instance URL: the configured override, else the one the token response named.
    pub(crate) async fn instance_url(&self) -> Result<Url> {
        if let Some(u) = &self.instance_override {
            return Ok(u.clone());
        }
        match &self.sf_credentials {
            Some(c) => c.instance_url().await,
            None => Err(Error::config(
                "instance_url: required with a custom credential provider",
            )),
        }
    }

    /// The HTTP client for the current instance (built when the instance is first known).
    pub(crate) async fn http(&self) -> Result<HttpClient> {
        let instance = self.instance_url().await?;
        let mut guard = self.instance.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((url, client)) = guard.as_ref()
            && *url == instance
        {
            return Ok(client.clone());
        }
        let base = format!(
            "{}/services/data/{}",
            instance.as_str().trim_end_matches('/'),
            self.api_version
        );
        let mut b = HttpClientBuilder::new(crate::VENDOR, base)
            .with_credentials(self.credentials.clone())
            .with_error_parser(Arc::new(SalesforceErrorParser))
            .with_limiter(self.limiter.clone());
        for ca in &self.root_ca_files {
            b = b.with_root_ca_file(ca.clone());
        }
        if let Some(t) = self.timeout {
            b = b.with_timeout(t);
        }
        if let Some(r) = &self.retry {
            b = b.with_retry(r.clone());
        }
        let client = b.build()?;
        *guard = Some((instance, client.clone()));
        Ok(client)
    }

    /// Sends a request on the instance, capped at the org's concurrent-request limit
    /// (25 concurrent requests of 20 s or more per org; Salesforce's API limits cheat sheet).
    pub(crate) async fn send(&self, request: Request) -> Result<Response> {
        let http = self.http().await?;
        let _permit =
            self.concurrency.acquire().await.map_err(|_| {
                Error::new(ErrorKind::Unexpected, "the connection is shutting down")
            })?;
        http.send(request.bucket(DAILY_BUCKET)).await
    }

    /// A path under the versioned base: `/sobjects/Contact/{id}` (segments encoded).
    pub(crate) fn sobject_path(s: SObject, rest: &[&str]) -> String {
        let mut p = format!("/sobjects/{}", s.name());
        for seg in rest {
            p.push('/');
            p.push_str(&encode_segment(seg));
        }
        p
    }

    /// The same path as a Composite subrequest URL (`/services/data/vNN.N/...`).
    pub(crate) fn full_path(&self, path: &str) -> String {
        format!("/services/data/{}{path}", self.api_version)
    }

    /// An absolute URL on the instance for a path the vendor gave (`nextRecordsUrl`). A full
    /// URL is kept as is, so the transport can refuse it when it names another host.
    pub(crate) async fn vendor_url(&self, link: &str) -> Result<Url> {
        let base = self.instance_url().await?;
        base.join(link)
            .map_err(|_| Error::decode("the vendor's link is not a URL"))
    }

    /// Records one write in the audit trail: field names, never values.
    pub(crate) fn audit<T>(
        &self,
        operation: &str,
        kind: ObjectKind,
        ctx: &WriteContext,
        common: &FieldMap,
        result: &Result<T>,
        id: impl FnOnce(&T) -> RecordId,
    ) {
        let mut record = AuditRecord::for_write(
            &self.connection,
            crate::VENDOR,
            operation,
            kind,
            ctx,
            common,
        )
        .finish(result, id);
        record.mapping_version = self.mapping_label();
        audit::emit(self.audit.as_ref(), &record);
    }

    /// The duplicate-rule header, only when the caller opted in (never the default).
    pub(crate) fn duplicate_header(&self) -> Option<(HeaderName, &'static str)> {
        self.allow_duplicates.then(|| {
            (
                HeaderName::from_static("sforce-duplicate-rule-header"),
                "allowSave=true",
            )
        })
    }

    /// Common fields of a write → the Salesforce JSON body.
    /// On an update, an activity's `kind` is left alone: `Activity::kind` cannot say "unset",
    /// and `TaskSubtype` can only be set on create.
    pub(crate) fn body_for(
        &self,
        s: SObject,
        common: &FieldMap,
        create: bool,
    ) -> Result<Map<String, Value>> {
        let mut common = common.clone();
        let mut extra = Map::new();
        if s == SObject::Task {
            if !create {
                common.remove("kind");
            }
            activity_to_task(&mut common, &mut extra)?;
        }
        let vendor = self.mapping(s).to_vendor(s.kind(), &common)?;
        let mut body: Map<String, Value> = vendor
            .into_iter()
            .map(|(k, v)| (k, value_to_json(v)))
            .collect();
        if s == SObject::Task {
            // Task.ActivityDate is a date field: send the date part only.
            if let Some(Value::String(d)) = body.get("ActivityDate")
                && let Some(dt) = parse_datetime(d)
            {
                body.insert(
                    "ActivityDate".into(),
                    json!(dt.date_naive().format("%Y-%m-%d").to_string()),
                );
            }
        }
        body.extend(extra);
        Ok(body)
    }

    /// One Salesforce record (JSON object) → `Record<T>`.
    pub(crate) fn record_from_json<T: Entity>(
        &self,
        s: SObject,
        value: &Value,
    ) -> Result<Record<T>> {
        let Value::Object(obj) = value else {
            return Err(Error::decode(format!(
                "expected a {} record (a JSON object)",
                s.name()
            )));
        };
        let id = match obj.get("Id") {
            Some(Value::String(v)) => id::to18(v)
                .and_then(|v| RecordId::new(v).ok())
                .ok_or_else(|| Error::decode("field `Id`: not a Salesforce id"))?,
            _ => {
                return Err(Error::decode(format!(
                    "field `Id`: missing from the {} record",
                    s.name()
                )));
            }
        };
        let mut fields: FieldMap = obj
            .iter()
            .filter(|(k, v)| k.as_str() != "attributes" && !v.is_object())
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect();
        fields.remove("Id");
        let created_at = take_time(&mut fields, "CreatedDate")?;
        let updated_at = take_time(&mut fields, "LastModifiedDate")?;
        let flags: BTreeMap<String, FieldValue> = s
            .flags()
            .iter()
            .filter_map(|f| fields.remove(*f).map(|v| ((*f).to_owned(), v)))
            .collect();
        let mut common = self.mapping(s).from_vendor(s.kind(), fields);
        apply_flags(s, &flags, &mut common, created_at);
        let data = T::from_fields(common, self.region)
            .map_err(|e| e.with_operation(format!("{}.decode", s.kind())))?;
        Ok(Record {
            id,
            created_at,
            updated_at,
            data,
        })
    }

    /// Renames vendor field names in a validation error to common names (`Email` → `email`).
    /// WhoId and WhatId are set outside the mapping (see [`activity_to_task`]).
    pub(crate) fn name_fields(&self, s: SObject, err: Error) -> Error {
        let mapping = self.mapping(s);
        err.rename_fields(|vendor| {
            let common = mapping.common_name(vendor).or(match vendor {
                "WhoId" => Some("who"),
                "WhatId" => Some("what"),
                _ => None,
            });
            common.map(str::to_owned)
        })
    }

    /// Sends a Composite request (≤25 subrequests counted as one API call; REST API Developer
    /// Guide, "Composite") and returns each subresponse.
    pub(crate) async fn composite(
        &self,
        subrequests: Vec<Value>,
        idempotent: bool,
        operation: &str,
    ) -> Result<Vec<SubResponse>> {
        let mut req = Request::new(Method::POST, "/composite", operation)
            .json(json!({"allOrNone": false, "compositeRequest": subrequests}))
            .idempotent(idempotent);
        if let Some((h, v)) = self.duplicate_header() {
            req = req.header(h, v);
        }
        let resp = self.send(req).await?;
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(rename = "compositeResponse")]
            composite_response: Vec<SubResponse>,
        }
        let body: Body = resp.json()?;
        Ok(body.composite_response)
    }
}

/// One Composite subresponse.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct SubResponse {
    #[serde(default)]
    pub(crate) body: Value,
    #[serde(rename = "httpStatusCode")]
    pub(crate) status: u16,
    #[serde(rename = "referenceId", default)]
    pub(crate) reference_id: String,
}

impl SubResponse {
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The subresponse's error, parsed as a top-level response with its status would be.
    pub(crate) fn error(&self, operation: &str) -> Error {
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY);
        SalesforceErrorParser
            .parse_error(&ErrorResponse {
                status,
                headers: &HeaderMap::new(),
                body: &body,
                correlation_id: None,
            })
            .with_operation(operation.to_owned())
    }
}

/// `kind`, `who`/`what` and `timestamp` of an activity → Task fields. WhoId and WhatId are
/// polymorphic (one field, several kinds of record), so the link fields are set here rather
/// than through the mapping.
fn activity_to_task(common: &mut FieldMap, extra: &mut Map<String, Value>) -> Result<()> {
    for (field, target) in [
        ("contact_id", "WhoId"),
        ("lead_id", "WhoId"),
        ("ticket_id", "WhatId"),
        ("opportunity_id", "WhatId"),
        ("account_id", "WhatId"),
    ] {
        if let Some(v) = common.remove(field) {
            extra.insert(target.to_owned(), value_to_json(v));
        }
    }
    match common.get("kind") {
        Some(FieldValue::Text(k)) if k == "task" => {
            common.remove("kind");
        }
        Some(FieldValue::Text(k)) if k == "call" => {
            // A logged call is TaskSubtype "Call" in Salesforce's UI; settable on create only.
            extra.insert("TaskSubtype".into(), json!("Call"));
        }
        _ => {}
    }
    // A Task has no writable "occurred at": Salesforce stamps CreatedDate. The date is kept in
    // ActivityDate when no due date is given.
    if let Some(ts) = common.remove("timestamp")
        && !common.contains_key("due_at")
    {
        common.insert("due_at".into(), ts);
    }
    Ok(())
}

/// Gives statuses their meaning from Salesforce's own flags, and activities their kind and links.
fn apply_flags(
    s: SObject,
    flags: &BTreeMap<String, FieldValue>,
    common: &mut FieldMap,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
) {
    let flag = |name: &str| matches!(flags.get(name), Some(FieldValue::Bool(true)));
    let has = |common: &FieldMap, f: &str| common.contains_key(f);
    let set = |common: &mut FieldMap, f: &str, v: &str| {
        common.insert(f.to_owned(), FieldValue::Text(v.to_owned()));
    };
    match s {
        SObject::Case => {
            if flag("IsClosed") {
                set(common, "status_state", "closed");
            } else if !has(common, "status_state")
                || matches!(common.get("status_state"), Some(FieldValue::Text(t)) if t == "closed")
            {
                // A status this mapping does not know (Escalated, a custom one): IsClosed says
                // it is still open.
                set(common, "status_state", "open");
            }
        }
        SObject::Opportunity => {
            if flag("IsWon") {
                set(common, "stage_state", "won");
            } else if flag("IsClosed") {
                set(common, "stage_state", "lost");
            } else {
                set(common, "stage_state", "open");
            }
        }
        SObject::Lead => {
            if flag("IsConverted") {
                set(common, "status_state", "converted");
            }
        }
        SObject::Task | SObject::Event => {
            if s == SObject::Task {
                if flag("IsClosed") {
                    set(common, "task_status_state", "completed");
                }
                let known = matches!(common.get("kind"), Some(FieldValue::Text(k))
                    if matches!(k.as_str(), "note" | "call" | "conversation_log"));
                if !known {
                    let call = matches!(flags.get("TaskSubtype"), Some(FieldValue::Text(t)) if t == "Call");
                    set(common, "kind", if call { "call" } else { "task" });
                }
                // Salesforce stamps a Task when it is logged; that is its "when".
                if let Some(at) = created_at {
                    common.insert("timestamp".into(), FieldValue::DateTime(at));
                }
                // ActivityDate is a date; read it as that day's start in UTC.
                if let Some(FieldValue::Text(d)) = common.get("due_at").cloned()
                    && let Ok(day) = chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    && let Some(at) = day.and_hms_opt(0, 0, 0)
                {
                    common.insert("due_at".into(), FieldValue::DateTime(at.and_utc()));
                }
            } else {
                set(common, "kind", "task");
            }
            for (field, links) in [
                ("WhoId", &[("003", "contact_id"), ("00Q", "lead_id")][..]),
                (
                    "WhatId",
                    &[
                        ("500", "ticket_id"),
                        ("006", "opportunity_id"),
                        ("001", "account_id"),
                    ][..],
                ),
            ] {
                if let Some(FieldValue::Text(id)) = flags.get(field)
                    && let Some((_, common_name)) = links.iter().find(|(p, _)| id::prefix(id) == *p)
                {
                    common.insert((*common_name).to_owned(), FieldValue::Text(id.clone()));
                }
            }
        }
        SObject::Contact | SObject::Account => {}
    }
}

fn take_time(fields: &mut FieldMap, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    match fields.remove(name) {
        None | Some(FieldValue::Null) => Ok(None),
        Some(FieldValue::Text(s)) => parse_datetime(&s)
            .map(Some)
            .ok_or_else(|| Error::decode(format!("field `{name}`: not a timestamp"))),
        Some(_) => Err(Error::decode(format!(
            "field `{name}`: expected a timestamp"
        ))),
    }
}

/// Salesforce JSON → typed values (Salesforce sends typed JSON: numbers, booleans, text).
pub(crate) fn json_to_value(v: &Value) -> FieldValue {
    FieldValue::from_json(v)
}

/// Typed value → Salesforce JSON: core's typed JSON, except multi-select picklists, which
/// Salesforce takes as `a;b`.
pub(crate) fn value_to_json(v: FieldValue) -> Value {
    match v {
        FieldValue::List(items) => Value::String(items.join(";")),
        other => other.to_json(),
    }
}

/// One error object of a Salesforce error array (top level: `errorCode`; inside Collections
/// results: `statusCode`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct SfError {
    #[serde(rename = "errorCode", alias = "statusCode", default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) fields: Vec<String>,
    #[serde(rename = "duplicateResult", default)]
    pub(crate) duplicate_result: Option<Value>,
}

/// The kind a Salesforce error code means, given the HTTP status (REST API Developer Guide,
/// "Status Codes and Error Responses").
pub(crate) fn kind_for(code: &str, status: u16, errors: &[SfError], message: &str) -> ErrorKind {
    let fields = || {
        errors
            .iter()
            .flat_map(|e| {
                e.fields
                    .iter()
                    .map(|f| FieldError::new(f.clone(), e.code.clone()))
            })
            .collect::<Vec<_>>()
    };
    match code {
        "NOT_FOUND" | "ENTITY_IS_DELETED" | "INVALID_QUERY_LOCATOR" => ErrorKind::NotFound,
        "INVALID_SESSION_ID" => ErrorKind::Unauthorized,
        "REQUEST_LIMIT_EXCEEDED" => ErrorKind::RateLimited {
            retry_after: None,
            scope: if message.contains("Concurrent") {
                LimitScope::Concurrency
            } else {
                LimitScope::Daily
            },
        },
        "INSUFFICIENT_ACCESS_OR_READONLY"
        | "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"
        | "API_DISABLED_FOR_ORG"
        | "API_CURRENTLY_DISABLED"
        | "FUNCTIONALITY_NOT_ENABLED" => ErrorKind::Forbidden {
            missing_scopes: Vec::new(),
        },
        "DUPLICATE_VALUE" => ErrorKind::Conflict {
            existing_id: existing_id_in(message),
            candidates: Vec::new(),
        },
        "DUPLICATES_DETECTED" | "DUPLICATE_EXTERNAL_ID" => {
            let ids = duplicate_ids(errors);
            ErrorKind::Conflict {
                existing_id: ids.first().cloned(),
                candidates: ids,
            }
        }
        "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE" => ErrorKind::Unavailable,
        "REQUIRED_FIELD_MISSING"
        | "INVALID_FIELD"
        | "INVALID_FIELD_FOR_INSERT_UPDATE"
        | "INVALID_EMAIL_ADDRESS"
        | "STRING_TOO_LONG"
        | "MALFORMED_ID"
        | "INVALID_ID_FIELD"
        | "INVALID_CROSS_REFERENCE_KEY"
        | "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        | "FIELD_INTEGRITY_EXCEPTION"
        | "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        | "INVALID_TYPE_ON_FIELD_IN_RECORD"
        | "JSON_PARSER_ERROR"
        | "CANNOT_UPDATE_CONVERTED_LEAD"
        | "MALFORMED_QUERY"
        | "INVALID_QUERY_FILTER_OPERATOR"
        | "INVALID_TYPE"
        | "MISSING_ARGUMENT"
        | "NUMBER_OUTSIDE_VALID_RANGE" => {
            let mut f = fields();
            if f.is_empty()
                && code == "INVALID_FIELD"
                && let Some(column) = column_in(message)
            {
                f.push(FieldError::new(column, Some(code.to_owned())));
            }
            ErrorKind::Validation { fields: f }
        }
        _ => match status {
            400 => ErrorKind::Validation { fields: fields() },
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden {
                missing_scopes: Vec::new(),
            },
            404 | 410 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            // 420: Salesforce Edge routing failure (REST API Developer Guide, status codes).
            420 | 423 | 500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::Unexpected,
        },
    }
}

/// `duplicate value found: External_Id__c duplicates value on record with id: 003…`
fn existing_id_in(message: &str) -> Option<RecordId> {
    let (_, tail) = message.rsplit_once("record with id:")?;
    let id = tail
        .trim()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()?;
    id::to18(id).and_then(|s| RecordId::new(s).ok())
}

/// `No such column 'Foo__c' on sobject of type Contact`
fn column_in(message: &str) -> Option<String> {
    let (_, tail) = message.split_once("No such column '")?;
    let (name, _) = tail.split_once('\'')?;
    crate::soql::ident(name).ok().map(str::to_owned)
}

/// The matching record ids in a `duplicateResult` (`matchResults[].matchRecords[].record.Id`).
fn duplicate_ids(errors: &[SfError]) -> Vec<RecordId> {
    errors
        .iter()
        .filter_map(|e| e.duplicate_result.as_ref())
        .filter_map(|d| d.get("matchResults").and_then(Value::as_array))
        .flatten()
        .filter_map(|m| m.get("matchRecords").and_then(Value::as_array))
        .flatten()
        .filter_map(|r| r.pointer("/record/Id").and_then(Value::as_str))
        .filter_map(id::to18)
        .filter_map(|s| RecordId::new(s).ok())
        .collect()
}

/// The error for one Salesforce error array (top level or a Collections item).
pub(crate) fn error_from(errors: &[SfError], status: u16, mut vendor: VendorError) -> Error {
    let first = errors.first().cloned().unwrap_or_default();
    let code = first.code.clone().unwrap_or_default();
    let message = first.message.clone().unwrap_or_default();
    let kind = kind_for(&code, status, errors, &message);
    vendor.code = first.code;
    // The vendor's message may repeat submitted values (`invalid email address: jane@@x`): it
    // stays in `vendor.message`; the error's own message names only the status and code.
    vendor.set_message(first.message);
    let what = if code.is_empty() {
        format!("Salesforce refused the request with HTTP {status}")
    } else {
        format!("Salesforce refused the request with HTTP {status} ({code})")
    };
    let err = Error::new(kind, what).with_vendor(vendor);
    if code == "UNABLE_TO_LOCK_ROW" {
        // The record was locked, so nothing was written: a create may be sent again.
        err.with_not_processed()
    } else {
        err
    }
}

/// Parses Salesforce's error bodies: `[{message, errorCode, fields}]`, and falls back to the
/// status for bodies that are not that (HTML pages from the edge, empty bodies).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SalesforceErrorParser;

impl ErrorParser for SalesforceErrorParser {
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error {
        let parsed: Option<Vec<SfError>> = decode_json(
            response.body,
            response.headers,
            response.status,
            response.correlation_id,
        )
        .ok();
        match parsed {
            Some(errors) if !errors.is_empty() => {
                error_from(&errors, response.status.as_u16(), response.vendor())
            }
            _ => response.default_error(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &str) -> Error {
        SalesforceErrorParser.parse_error(&ErrorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &HeaderMap::new(),
            body: body.as_bytes(),
            correlation_id: None,
        })
    }

    #[test]
    fn the_file_targets_are_the_mapping_tables() {
        let listed: Vec<(&str, ObjectKind)> =
            SObject::ALL.iter().map(|s| (s.table(), s.kind())).collect();
        assert_eq!(listed, crate::MAPPING_TARGETS);
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        let table: &[(u16, &str, ErrorKind)] = &[
            (
                404,
                r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#,
                ErrorKind::NotFound,
            ),
            (
                401,
                r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
                ErrorKind::Unauthorized,
            ),
            (
                403,
                r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
                ErrorKind::RateLimited {
                    retry_after: None,
                    scope: LimitScope::Daily,
                },
            ),
            (
                403,
                r#"[{"message":"ConcurrentRequests (Concurrent API Requests) Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
                ErrorKind::RateLimited {
                    retry_after: None,
                    scope: LimitScope::Concurrency,
                },
            ),
            (
                400,
                r#"[{"message":"Required fields are missing: [LastName]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName"]}]"#,
                ErrorKind::Validation {
                    fields: vec![FieldError::new(
                        "LastName",
                        Some("REQUIRED_FIELD_MISSING".into()),
                    )],
                },
            ),
            (
                400,
                r#"[{"message":"No such column 'Bogus__c' on sobject of type Contact","errorCode":"INVALID_FIELD"}]"#,
                ErrorKind::Validation {
                    fields: vec![FieldError::new("Bogus__c", Some("INVALID_FIELD".into()))],
                },
            ),
            (
                400,
                r#"[{"message":"duplicate value found: External_Id__c duplicates value on record with id: 0034S000005YJVl","errorCode":"DUPLICATE_VALUE","fields":[]}]"#,
                ErrorKind::Conflict {
                    existing_id: Some(RecordId::new("0034S000005YJVlQAO").unwrap()),
                    candidates: vec![],
                },
            ),
            (
                503,
                r#"[{"message":"Server temporarily unavailable","errorCode":"SERVER_UNAVAILABLE"}]"#,
                ErrorKind::Unavailable,
            ),
            (
                502,
                "<html><body>Bad Gateway</body></html>",
                ErrorKind::Unavailable,
            ),
            (500, "", ErrorKind::Unavailable),
        ];
        for (status, body, kind) in table {
            let e = parse(*status, body);
            assert_eq!(e.kind(), kind, "{body}");
            assert_eq!(e.status(), Some(*status));
        }
    }

    #[test]
    fn a_locked_row_may_be_sent_again_but_a_server_error_not() {
        let locked = parse(
            400,
            r#"[{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]"#,
        );
        assert_eq!(locked.kind(), &ErrorKind::Unavailable);
        assert!(locked.is_retryable() && locked.certainly_not_processed());
        let down = parse(
            503,
            r#"[{"message":"down","errorCode":"SERVER_UNAVAILABLE"}]"#,
        );
        assert_eq!(down.kind(), &ErrorKind::Unavailable);
        assert!(!down.certainly_not_processed());
    }

    #[test]
    fn duplicates_detected_names_the_matches() {
        let body = r#"[{"duplicateResult":{"matchResults":[{"matchRecords":[{"record":{"attributes":{"type":"Contact"},"Id":"0034S000005YJVlQAO"}}]}]},
            "errorCode":"DUPLICATES_DETECTED","message":"Use one of these records?","fields":[]}]"#;
        let e = parse(400, body);
        let id = RecordId::new("0034S000005YJVlQAO").unwrap();
        assert_eq!(
            e.kind(),
            &ErrorKind::Conflict {
                existing_id: Some(id.clone()),
                candidates: vec![id]
            }
        );
        let bare = parse(
            400,
            r#"[{"message":"Use one of these records?","errorCode":"DUPLICATES_DETECTED","fields":[]}]"#,
        );
        assert_eq!(
            bare.kind(),
            &ErrorKind::Conflict {
                existing_id: None,
                candidates: vec![]
            }
        );
    }

    #[test]
    fn messages_stay_in_vendor_details_only() {
        let e = parse(
            400,
            r#"[{"message":"Email: invalid email address: jane@@x","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]}]"#,
        );
        assert!(!e.to_string().contains("jane"), "{e}");
        // Kept, but read back only redacted.
        assert_eq!(
            e.vendor().unwrap().redacted_message().as_deref(),
            Some("Email: invalid email address: [email]")
        );
        assert!(!format!("{e:?}").contains("jane"), "{e:?}");
    }
}
