//! The org's records and the rules a write must pass, in Salesforce's order and with its error
//! codes (REST API Developer Guide: sObjects, upsert, error codes; SOAP API `convertLead`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::ids;
use super::schema::{Field, Object, Schema};
use super::soql::{self, Expr, Query, Resolve};

/// One record: canonical API field name → typed JSON value.
pub(crate) type Fields = Map<String, Value>;

/// Per-request write options (request headers).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriteOpts {
    /// `Sforce-Duplicate-Rule-Header: allowSave=true`.
    pub(crate) allow_save: bool,
}

/// What an upsert by external id did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Upserted {
    Created(String),
    Updated(String),
    /// More than one record holds the value: nothing written (HTTP 300).
    Multiple(Vec<String>),
}

/// Case statuses that mean closed (`CaseStatus.IsClosed`).
const CLOSED_CASE_STATUSES: &[&str] = &["Closed"];
/// Task statuses that mean closed (`TaskStatus.IsClosed`).
const CLOSED_TASK_STATUSES: &[&str] = &["Completed"];

/// The store: every object's records plus the counters ids and autonumbers come from.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub(crate) schema: Schema,
    tables: BTreeMap<String, BTreeMap<String, Fields>>,
    counters: BTreeMap<String, u64>,
    case_number: u64,
    last_stamp: DateTime<Utc>,
    /// The integration user every write is done as.
    pub(crate) user_id: String,
    /// The standard Contact duplicate rule (same email) is active.
    pub(crate) duplicate_rule: bool,
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

fn is_texty(kind: &str) -> bool {
    matches!(
        kind,
        "string"
            | "textarea"
            | "email"
            | "phone"
            | "picklist"
            | "multipicklist"
            | "url"
            | "combobox"
            | "encryptedstring"
    )
}

/// `YYYY-MM-DDTHH:MM:SS.sss+0000`, as Salesforce writes datetimes.
pub(crate) fn sf_datetime(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
        .replace('Z', "+0000")
}

fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn valid_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn json_error(field: &Field, what: &str, value: &Value) -> ApiError {
    ApiError::bad_json(format!(
        "Cannot deserialize instance of {what} from {} value {value} or request may be missing a required field",
        match value {
            Value::String(_) => "VALUE_STRING",
            Value::Number(_) => "VALUE_NUMBER",
            Value::Bool(_) => "VALUE_BOOLEAN",
            Value::Array(_) => "START_ARRAY",
            Value::Object(_) => "START_OBJECT",
            Value::Null => "VALUE_NULL",
        }
    ))
    .with_fields(vec![field.name.clone()])
}

impl Store {
    pub(crate) fn new() -> Self {
        let schema = Schema::load();
        let tables = schema
            .objects
            .keys()
            .map(|k| (k.clone(), BTreeMap::new()))
            .collect();
        Self {
            schema,
            tables,
            counters: BTreeMap::new(),
            case_number: 1000,
            last_stamp: DateTime::<Utc>::MIN_UTC,
            user_id: ids::make("005", 1),
            duplicate_rule: true,
        }
    }

    /// A timestamp later than every earlier one, so "newest first" never ties.
    fn stamp(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let next = if now > self.last_stamp {
            now
        } else {
            self.last_stamp + Duration::milliseconds(1)
        };
        self.last_stamp = next;
        next
    }

    fn object(&self, name: &str) -> Result<(String, &Object), ApiError> {
        self.schema
            .object(name)
            .map(|(n, o)| (n.to_owned(), o))
            .ok_or_else(ApiError::not_found)
    }

    /// Canonical object name, or `None`.
    pub(crate) fn object_name(&self, name: &str) -> Option<String> {
        self.schema.object(name).map(|(n, _)| n.to_owned())
    }

    /// A live (not deleted) record, by canonical object name and any id form.
    pub(crate) fn record(&self, object: &str, id: &str) -> Option<&Fields> {
        let id = ids::normalize(id)?;
        self.tables
            .get(object)?
            .get(&id)
            .filter(|r| r.get("IsDeleted") != Some(&Value::Bool(true)))
    }

    /// Every live record of `object`, oldest first.
    pub(crate) fn records(&self, object: &str) -> Vec<&Fields> {
        self.tables
            .get(object)
            .map(|t| {
                t.values()
                    .filter(|r| r.get("IsDeleted") != Some(&Value::Bool(true)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The object a record id belongs to, if the record exists (deleted or not).
    fn object_of(&self, id: &str) -> Option<(String, &Fields)> {
        let name = self.schema.by_prefix(id)?;
        let rec = self.tables.get(name)?.get(id)?;
        Some((name.to_owned(), rec))
    }

    /// A record as the REST API renders it: `attributes`, then every field, nulls included.
    pub(crate) fn render(&self, object: &str, rec: &Fields, version: &str) -> Value {
        let mut out = Map::new();
        let id = rec.get("Id").and_then(Value::as_str).unwrap_or_default();
        out.insert(
            "attributes".into(),
            json!({"type": object, "url": format!("/services/data/{version}/sobjects/{object}/{id}")}),
        );
        if let Some(o) = self.schema.objects.get(object) {
            for f in &o.fields {
                out.insert(
                    f.name.clone(),
                    rec.get(&f.name).cloned().unwrap_or(Value::Null),
                );
            }
        }
        Value::Object(out)
    }

    /// GET of one record, optionally only `fields`.
    pub(crate) fn get(
        &self,
        object: &str,
        id: &str,
        fields: Option<&[String]>,
        version: &str,
    ) -> Result<Value, ApiError> {
        let (name, o) = self.object(object)?;
        let Some(canon) = ids::normalize(id) else {
            // Salesforce reads a non-id in this position as an external id field name.
            return Err(ApiError::new(
                404,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {id}"),
            ));
        };
        let rec = self
            .tables
            .get(&name)
            .and_then(|t| t.get(&canon))
            .ok_or_else(ApiError::not_found)?;
        if rec.get("IsDeleted") == Some(&Value::Bool(true)) {
            return Err(ApiError::new(404, "ENTITY_IS_DELETED", "entity is deleted"));
        }
        let full = self.render(&name, rec, version);
        match fields {
            None => Ok(full),
            Some(list) => {
                let mut out = Map::new();
                if let Some(attrs) = full.get("attributes") {
                    out.insert("attributes".into(), attrs.clone());
                }
                for f in list {
                    let field = o.field(f.trim()).ok_or_else(|| {
                        ApiError::new(
                            400,
                            "INVALID_FIELD",
                            format!("No such column '{}' on entity '{name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", f.trim()),
                        )
                    })?;
                    out.insert(
                        field.name.clone(),
                        rec.get(&field.name).cloned().unwrap_or(Value::Null),
                    );
                }
                if !out.contains_key("Id") {
                    out.insert("Id".into(), json!(canon));
                }
                Ok(Value::Object(out))
            }
        }
    }

    /// Ids of live records whose `field` equals `value` (case-insensitive, as external ids).
    pub(crate) fn find_by_field(
        &self,
        object: &str,
        field: &str,
        value: &str,
    ) -> Result<Vec<String>, ApiError> {
        let (name, o) = self.object(object)?;
        let f = o.field(field).ok_or_else(ApiError::not_found)?;
        if f.name == "Id" {
            return Ok(self
                .record(&name, value)
                .and_then(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                .into_iter()
                .collect());
        }
        if !f.external_id {
            return Err(ApiError::new(
                404,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {field}"),
            ));
        }
        Ok(self
            .records(&name)
            .into_iter()
            .filter(|r| {
                r.get(&f.name)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
            .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// Checks a write body and converts its values to stored form.
    fn check(
        &self,
        name: &str,
        o: &Object,
        body: &Fields,
        create: bool,
        self_id: Option<&str>,
        opts: WriteOpts,
    ) -> Result<Fields, ApiError> {
        let mut out = Fields::new();
        let mut readonly = Vec::new();
        for (key, value) in body {
            if key == "attributes" {
                continue;
            }
            let Some(field) = o.field(key) else {
                return Err(ApiError::new(
                    400,
                    "INVALID_FIELD",
                    format!("No such column '{key}' on sobject of type {name}"),
                ));
            };
            if (create && !field.create) || (!create && !field.update) {
                readonly.push(field.name.clone());
                continue;
            }
            out.insert(field.name.clone(), self.convert(field, value)?);
        }
        if !readonly.is_empty() {
            return Err(ApiError::new(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!(
                    "Unable to {} fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                    if create { "create" } else { "update" },
                    readonly.join(", ")
                ),
            )
            .with_fields(readonly));
        }
        for (fname, value) in &out {
            let Some(field) = o.field(fname) else {
                continue;
            };
            if let Some(s) = text(value) {
                if is_texty(&field.kind) && field.length > 0 && s.chars().count() > field.length {
                    return Err(ApiError::new(
                        400,
                        "STRING_TOO_LONG",
                        format!(
                            "{}: data value too large: {s} (max length={})",
                            field.label(),
                            field.length
                        ),
                    )
                    .with_fields(vec![field.name.clone()]));
                }
                if field.kind == "email" && !valid_email(s) {
                    return Err(ApiError::new(
                        400,
                        "INVALID_EMAIL_ADDRESS",
                        format!("{}: invalid email address: {s}", field.label()),
                    )
                    .with_fields(vec![field.name.clone()]));
                }
                if field.kind == "reference" {
                    self.check_reference(field, s)?;
                }
                // A restricted picklist takes only its own values, as written (Salesforce's
                // status code INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, naming the field).
                if field.restricted && !field.picklist.iter().any(|p| p == s) {
                    return Err(ApiError::new(
                        400,
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!(
                            "{}: bad value for restricted picklist field: {s}",
                            field.label()
                        ),
                    )
                    .with_fields(vec![field.name.clone()]));
                }
            }
        }
        // Required fields, on the record as it would be after the write.
        let existing = self_id.and_then(|id| self.tables.get(name)?.get(id));
        let after = |f: &str| -> Option<&Value> {
            out.get(f)
                .or_else(|| existing.and_then(|e| e.get(f)))
                .filter(|v| !v.is_null() && v.as_str() != Some(""))
        };
        let missing: Vec<String> = o
            .fields
            .iter()
            .filter(|f| f.required_on_create() && after(&f.name).is_none())
            .map(|f| f.name.clone())
            .collect();
        let mut missing = missing;
        if name == "Event" {
            if after("ActivityDateTime").is_none() && after("StartDateTime").is_none() {
                missing.push("ActivityDateTime".into());
            }
            if after("DurationInMinutes").is_none() && after("EndDateTime").is_none() {
                missing.push("DurationInMinutes".into());
            }
        }
        if !missing.is_empty() {
            return Err(ApiError::new(
                400,
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
            )
            .with_fields(missing));
        }
        // Unique fields (external ids marked unique).
        for (fname, value) in &out {
            let (Some(field), Some(v)) = (o.field(fname), text(value)) else {
                continue;
            };
            if !field.unique {
                continue;
            }
            if let Some(other) = self.records(name).into_iter().find(|r| {
                r.get("Id").and_then(Value::as_str) != self_id
                    && r.get(fname)
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(v))
            }) {
                let other_id = other.get("Id").and_then(Value::as_str).unwrap_or_default();
                return Err(ApiError::new(
                    400,
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {fname} duplicates value on record with id: {other_id}"
                    ),
                )
                .with_fields(Vec::new()));
            }
        }
        // The standard Contact duplicate rule: same email (`DUPLICATES_DETECTED`). Bypassed only by
        // `Sforce-Duplicate-Rule-Header: allowSave=true`.
        if name == "Contact"
            && self.duplicate_rule
            && !opts.allow_save
            && let Some(email) = out.get("Email").and_then(text)
        {
            {
                let matches: Vec<String> = self
                    .records(name)
                    .into_iter()
                    .filter(|r| r.get("Id").and_then(Value::as_str) != self_id)
                    .filter(|r| {
                        r.get("Email")
                            .and_then(Value::as_str)
                            .is_some_and(|e| e.eq_ignore_ascii_case(email))
                    })
                    .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                if !matches.is_empty() {
                    return Err(duplicates_detected(name, &matches));
                }
            }
        }
        Ok(out)
    }

    fn check_reference(&self, field: &Field, value: &str) -> Result<(), ApiError> {
        let Some(id) = ids::normalize(value) else {
            return Err(ApiError::new(
                400,
                "MALFORMED_ID",
                format!("{}: id value of incorrect type: {value}", field.label()),
            )
            .with_fields(vec![field.name.clone()]));
        };
        // Users and groups are not modelled: owner ids only need the right shape.
        if field
            .reference_to
            .iter()
            .all(|t| t == "User" || t == "Group")
        {
            return if id.starts_with("005") || id.starts_with("00G") {
                Ok(())
            } else {
                Err(cross_reference(field))
            };
        }
        match self.object_of(&id) {
            Some((object, rec))
                if field.reference_to.contains(&object)
                    && rec.get("IsDeleted") != Some(&Value::Bool(true)) =>
            {
                Ok(())
            }
            _ => Err(cross_reference(field)),
        }
    }

    fn convert(&self, field: &Field, value: &Value) -> Result<Value, ApiError> {
        if value.is_null() {
            return Ok(if field.kind == "boolean" {
                Value::Bool(false)
            } else {
                Value::Null
            });
        }
        match field.kind.as_str() {
            "boolean" => match value {
                Value::Bool(_) => Ok(value.clone()),
                _ => Err(json_error(field, "boolean", value)),
            },
            "double" | "currency" | "percent" => match value {
                Value::Number(_) => Ok(value.clone()),
                Value::String(s) if s.trim().parse::<f64>().is_ok() => Ok(s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)),
                _ => Err(json_error(field, "double", value)),
            },
            "int" => match value {
                Value::Number(n) if n.as_i64().is_some() => Ok(value.clone()),
                Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
                    Ok(json!(n.as_f64().unwrap_or_default() as i64))
                }
                _ => Err(json_error(field, "int", value)),
            },
            "date" => match value {
                Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .or_else(|| parse_datetime(s).map(|d| d.date_naive()))
                    .map(|d| json!(d.format("%Y-%m-%d").to_string()))
                    .ok_or_else(|| json_error(field, "date", value)),
                _ => Err(json_error(field, "date", value)),
            },
            "datetime" => match value {
                Value::String(s) => parse_datetime(s)
                    .map(|d| json!(sf_datetime(d)))
                    .ok_or_else(|| json_error(field, "datetime", value)),
                _ => Err(json_error(field, "datetime", value)),
            },
            "reference" | "id" => match value {
                Value::String(s) => Ok(json!(ids::normalize(s).unwrap_or_else(|| s.clone()))),
                _ => Err(json_error(field, "reference", value)),
            },
            _ => match value {
                Value::String(_) => Ok(value.clone()),
                // Salesforce coerces scalars into text fields.
                Value::Number(n) => Ok(json!(n.to_string())),
                Value::Bool(b) => Ok(json!(b.to_string())),
                _ => Err(json_error(field, "String", value)),
            },
        }
    }

    /// Creates a record; returns its id.
    pub(crate) fn create(
        &mut self,
        object: &str,
        body: &Fields,
        opts: WriteOpts,
    ) -> Result<String, ApiError> {
        let (name, o) = self.object(object)?;
        if body.keys().any(|k| k.eq_ignore_ascii_case("Id")) {
            return Err(ApiError::new(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "Unable to create/update fields: Id. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
            )
            .with_fields(vec!["Id".into()]));
        }
        let checked = self.check(&name, o, body, true, None, opts)?;
        let prefix = o.key_prefix.clone();
        let n = self.counters.entry(name.clone()).or_insert(0);
        *n += 1;
        let id = ids::make(&prefix, *n + 1000);
        let now = sf_datetime(self.stamp());
        let mut rec = Fields::new();
        rec.insert("Id".into(), json!(id));
        rec.insert("IsDeleted".into(), json!(false));
        rec.insert("CreatedDate".into(), json!(now));
        rec.insert("CreatedById".into(), json!(self.user_id));
        rec.insert("OwnerId".into(), json!(self.user_id));
        if let Some(o) = self.schema.objects.get(&name) {
            for f in &o.fields {
                if f.kind == "boolean" && !rec.contains_key(&f.name) {
                    rec.insert(f.name.clone(), json!(false));
                }
            }
        }
        for (k, v) in checked {
            rec.insert(k, v);
        }
        self.apply_defaults(&name, &mut rec);
        self.derive(&name, &mut rec, &now);
        self.tables.entry(name).or_default().insert(id.clone(), rec);
        Ok(id)
    }

    fn apply_defaults(&mut self, name: &str, rec: &mut Fields) {
        let mut default = |k: &str, v: Value| {
            if rec.get(k).is_none_or(Value::is_null) {
                rec.insert(k.to_owned(), v);
            }
        };
        match name {
            "Case" => {
                default("Status", json!("New"));
                default("Priority", json!("Medium"));
                self.case_number += 1;
                rec.insert(
                    "CaseNumber".into(),
                    json!(format!("{:08}", self.case_number)),
                );
            }
            "Task" => {
                default("Status", json!("Not Started"));
                default("Priority", json!("Normal"));
                default("TaskSubtype", json!("Task"));
            }
            "Event" => {
                default("ShowAs", json!("Busy"));
                default("EventSubtype", json!("Event"));
            }
            "Lead" => {
                default("Status", json!("Open - Not Contacted"));
                default("IsUnreadByOwner", json!(true));
            }
            "Opportunity" => default("ForecastCategoryName", json!("Pipeline")),
            _ => {}
        }
    }

    /// Fields Salesforce computes: names, closed flags, activity accounts, event ends.
    fn derive(&self, name: &str, rec: &mut Fields, now: &str) {
        let s = |rec: &Fields, k: &str| rec.get(k).and_then(text).map(str::to_owned);
        rec.insert("LastModifiedDate".into(), json!(now));
        rec.insert("SystemModstamp".into(), json!(now));
        rec.insert("LastModifiedById".into(), json!(self.user_id));
        match name {
            "Contact" | "Lead" => {
                let full = [s(rec, "FirstName"), s(rec, "LastName")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                rec.insert("Name".into(), json!(full));
            }
            "Case" => {
                let closed =
                    s(rec, "Status").is_some_and(|st| CLOSED_CASE_STATUSES.contains(&st.as_str()));
                let was = rec.get("IsClosed") == Some(&Value::Bool(true));
                rec.insert("IsClosed".into(), json!(closed));
                if closed && !was {
                    rec.insert("ClosedDate".into(), json!(now));
                } else if !closed {
                    rec.insert("ClosedDate".into(), Value::Null);
                }
                let contact =
                    s(rec, "ContactId").and_then(|id| self.record("Contact", &id).cloned());
                rec.insert(
                    "ContactEmail".into(),
                    contact
                        .as_ref()
                        .and_then(|c| c.get("Email").cloned())
                        .unwrap_or(Value::Null),
                );
                rec.insert(
                    "ContactPhone".into(),
                    contact
                        .as_ref()
                        .and_then(|c| c.get("Phone").cloned())
                        .unwrap_or(Value::Null),
                );
            }
            "Opportunity" => {
                let stage = s(rec, "StageName").unwrap_or_default();
                let won = stage == "Closed Won";
                let closed = won || stage == "Closed Lost";
                rec.insert("IsClosed".into(), json!(closed));
                rec.insert("IsWon".into(), json!(won));
                let probability = match stage.as_str() {
                    "Closed Won" => 100,
                    "Closed Lost" => 0,
                    "Prospecting" => 10,
                    "Qualification" => 10,
                    "Proposal/Price Quote" => 75,
                    "Negotiation/Review" => 90,
                    _ => 50,
                };
                rec.insert("Probability".into(), json!(probability));
            }
            "Task" | "Event" => {
                if name == "Task" {
                    let closed = s(rec, "Status")
                        .is_some_and(|st| CLOSED_TASK_STATUSES.contains(&st.as_str()));
                    let was = rec.get("IsClosed") == Some(&Value::Bool(true));
                    rec.insert("IsClosed".into(), json!(closed));
                    if closed && !was {
                        rec.insert("CompletedDateTime".into(), json!(now));
                    }
                    let high = s(rec, "Priority").as_deref() == Some("High");
                    rec.insert("IsHighPriority".into(), json!(high));
                } else {
                    let start = s(rec, "StartDateTime")
                        .or_else(|| s(rec, "ActivityDateTime"))
                        .and_then(|t| parse_datetime(&t));
                    if let Some(start) = start {
                        rec.insert("StartDateTime".into(), json!(sf_datetime(start)));
                        rec.insert("ActivityDateTime".into(), json!(sf_datetime(start)));
                        rec.insert(
                            "ActivityDate".into(),
                            json!(start.date_naive().format("%Y-%m-%d").to_string()),
                        );
                        let minutes = rec.get("DurationInMinutes").and_then(Value::as_i64);
                        match (
                            minutes,
                            s(rec, "EndDateTime").and_then(|t| parse_datetime(&t)),
                        ) {
                            (Some(m), _) => {
                                rec.insert(
                                    "EndDateTime".into(),
                                    json!(sf_datetime(start + Duration::minutes(m))),
                                );
                            }
                            (None, Some(end)) => {
                                rec.insert(
                                    "DurationInMinutes".into(),
                                    json!((end - start).num_minutes()),
                                );
                            }
                            _ => {}
                        }
                    }
                }
                // The activity's account: the what's account, else the contact's.
                let what = s(rec, "WhatId");
                let who = s(rec, "WhoId");
                let account = what
                    .as_deref()
                    .and_then(|id| {
                        if id.starts_with("001") {
                            Some(id.to_owned())
                        } else {
                            self.object_of(id).and_then(|(_, r)| s(r, "AccountId"))
                        }
                    })
                    .or_else(|| {
                        who.as_deref()
                            .filter(|id| id.starts_with("003"))
                            .and_then(|id| self.record("Contact", id))
                            .and_then(|r| s(r, "AccountId"))
                    });
                rec.insert("AccountId".into(), account.map_or(Value::Null, Value::from));
            }
            _ => {}
        }
    }

    /// Updates a record (PATCH semantics: only the given fields).
    pub(crate) fn update(
        &mut self,
        object: &str,
        id: &str,
        body: &Fields,
        opts: WriteOpts,
    ) -> Result<String, ApiError> {
        let (name, o) = self.object(object)?;
        let canon = ids::normalize(id).ok_or_else(|| {
            ApiError::new(
                404,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {id}"),
            )
        })?;
        let existing = self
            .tables
            .get(&name)
            .and_then(|t| t.get(&canon))
            .cloned()
            .ok_or_else(ApiError::not_found)?;
        if existing.get("IsDeleted") == Some(&Value::Bool(true)) {
            return Err(ApiError::new(404, "ENTITY_IS_DELETED", "entity is deleted"));
        }
        if name == "Lead" && existing.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(ApiError::new(
                400,
                "CANNOT_UPDATE_CONVERTED_LEAD",
                "cannot reference converted lead",
            )
            .with_fields(Vec::new()));
        }
        let body: Fields = body
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("Id"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let checked = self.check(&name, o, &body, false, Some(&canon), opts)?;
        let now = sf_datetime(self.stamp());
        let mut rec = existing;
        for (k, v) in checked {
            rec.insert(k, v);
        }
        self.derive(&name, &mut rec, &now);
        self.tables
            .entry(name)
            .or_default()
            .insert(canon.clone(), rec);
        Ok(canon)
    }

    /// Upsert by external id: create, update, or report the matches.
    pub(crate) fn upsert(
        &mut self,
        object: &str,
        field: &str,
        value: &str,
        body: &Fields,
        opts: WriteOpts,
    ) -> Result<Upserted, ApiError> {
        let (name, o) = self.object(object)?;
        let f = o.field(field).ok_or_else(|| {
            ApiError::new(
                404,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {field}"),
            )
        })?;
        if !f.external_id && f.name != "Id" {
            return Err(ApiError::new(
                404,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {field}"),
            ));
        }
        let fname = f.name.clone();
        // "Do not specify Id or an external ID field in the request body" (Salesforce upsert docs).
        if body
            .keys()
            .any(|k| k.eq_ignore_ascii_case("Id") || k.eq_ignore_ascii_case(&fname))
        {
            return Err(ApiError::new(
                400,
                "INVALID_FIELD",
                format!(
                    "The field {fname} is specified in both the URL and the request body; remove it from the body"
                ),
            ));
        }
        let matches = self.find_by_field(&name, &fname, value)?;
        match matches.as_slice() {
            [] => {
                let mut with_key = body.clone();
                if fname != "Id" {
                    with_key.insert(fname, json!(value));
                }
                self.create(&name, &with_key, opts).map(Upserted::Created)
            }
            [one] => {
                let one = one.clone();
                self.update(&name, &one, body, opts).map(Upserted::Updated)
            }
            many => Ok(Upserted::Multiple(many.to_vec())),
        }
    }

    /// Deletes a record (it stays visible to `queryAll`).
    pub(crate) fn delete(&mut self, object: &str, id: &str) -> Result<(), ApiError> {
        let (name, _) = self.object(object)?;
        let canon = ids::normalize(id).ok_or_else(ApiError::not_found)?;
        let rec = self
            .tables
            .get_mut(&name)
            .and_then(|t| t.get_mut(&canon))
            .ok_or_else(ApiError::not_found)?;
        if rec.get("IsDeleted") == Some(&Value::Bool(true)) {
            return Err(ApiError::new(404, "ENTITY_IS_DELETED", "entity is deleted"));
        }
        rec.insert("IsDeleted".into(), json!(true));
        Ok(())
    }

    /// Converts a lead (SOAP API `convertLead`): creates an account, a contact and
    /// optionally an opportunity from it, and marks it converted.
    pub(crate) fn convert_lead(
        &mut self,
        lead_id: &str,
        create_opportunity: bool,
    ) -> Result<(String, String, Option<String>), ApiError> {
        let lead = self
            .record("Lead", lead_id)
            .cloned()
            .ok_or_else(ApiError::not_found)?;
        if lead.get("IsConverted") == Some(&Value::Bool(true)) {
            return Err(ApiError::new(
                400,
                "CANNOT_UPDATE_CONVERTED_LEAD",
                "cannot reference converted lead",
            ));
        }
        let opts = WriteOpts { allow_save: true };
        let pick = |keys: &[&str]| -> Fields {
            keys.iter()
                .filter_map(|k| {
                    lead.get(*k)
                        .filter(|v| !v.is_null())
                        .map(|v| ((*k).to_owned(), v.clone()))
                })
                .collect()
        };
        let mut account = Fields::new();
        account.insert(
            "Name".into(),
            lead.get("Company")
                .cloned()
                .unwrap_or_else(|| json!("Converted lead")),
        );
        let account_id = self.create("Account", &account, opts)?;
        let mut contact = pick(&["FirstName", "LastName", "Email", "Phone", "Title"]);
        contact.insert("AccountId".into(), json!(account_id));
        let contact_id = self.create("Contact", &contact, opts)?;
        let opportunity_id = if create_opportunity {
            let today = Utc::now().date_naive();
            let mut opp = Fields::new();
            opp.insert(
                "Name".into(),
                json!(format!(
                    "{}-",
                    lead.get("Company")
                        .and_then(Value::as_str)
                        .unwrap_or("Lead")
                )),
            );
            opp.insert("StageName".into(), json!("Prospecting"));
            opp.insert(
                "CloseDate".into(),
                json!((today + Duration::days(30)).format("%Y-%m-%d").to_string()),
            );
            opp.insert("AccountId".into(), json!(account_id));
            opp.insert("ContactId".into(), json!(contact_id));
            Some(self.create("Opportunity", &opp, opts)?)
        } else {
            None
        };
        let id = lead
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let now = sf_datetime(self.stamp());
        if let Some(rec) = self.tables.get_mut("Lead").and_then(|t| t.get_mut(&id)) {
            rec.insert("IsConverted".into(), json!(true));
            rec.insert("Status".into(), json!("Closed - Converted"));
            rec.insert(
                "ConvertedDate".into(),
                json!(Utc::now().date_naive().format("%Y-%m-%d").to_string()),
            );
            rec.insert("ConvertedAccountId".into(), json!(account_id));
            rec.insert("ConvertedContactId".into(), json!(contact_id));
            rec.insert(
                "ConvertedOpportunityId".into(),
                opportunity_id.clone().map_or(Value::Null, Value::from),
            );
            rec.insert("LastModifiedDate".into(), json!(now));
        }
        Ok((account_id, contact_id, opportunity_id))
    }

    /// Sets a system field directly (seed data with past dates).
    pub(crate) fn set_system(&mut self, object: &str, id: &str, field: &str, value: Value) {
        if let Some(rec) = self.tables.get_mut(object).and_then(|t| t.get_mut(id)) {
            rec.insert(field.to_owned(), value);
        }
    }

    /// Runs a parsed query; returns the rendered rows, each with its child relationship
    /// sub-query results (`null` when a relationship has no rows, as the REST API renders it).
    pub(crate) fn query(
        &self,
        q: &Query,
        include_deleted: bool,
        version: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let (name, o) = self
            .schema
            .object(&q.object)
            .ok_or_else(|| invalid_type(&q.object))?;
        let mut children = Vec::with_capacity(q.children.len());
        for child in &q.children {
            let Some(&(_, rel, child_object, link)) = CHILD_RELATIONSHIPS
                .iter()
                .find(|(p, r, _, _)| *p == name && r.eq_ignore_ascii_case(&child.object))
            else {
                return Err(ApiError::new(
                    400,
                    "INVALID_TYPE",
                    format!(
                        "Didn't understand relationship '{}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.",
                        child.object
                    ),
                ));
            };
            let (child_name, child_o) = self
                .schema
                .object(child_object)
                .ok_or_else(|| invalid_type(child_object))?;
            children.push((rel, child_name, child_o, link, child));
        }
        let rows = self.select_rows(q, name, o, include_deleted, None)?;
        let mut out = Vec::with_capacity(rows.len());
        for rec in rows {
            let mut row = self.render_row(name, o, rec, &q.fields, version);
            let id = rec.get("Id").and_then(Value::as_str).unwrap_or_default();
            for (rel, child_name, child_o, link, child) in &children {
                let found =
                    self.select_rows(child, child_name, child_o, false, Some((*link, id)))?;
                let value = if found.is_empty() {
                    Value::Null
                } else {
                    let records: Vec<Value> = found
                        .into_iter()
                        .map(|r| self.render_row(child_name, child_o, r, &child.fields, version))
                        .collect();
                    json!({"totalSize": records.len(), "done": true, "records": records})
                };
                if let Value::Object(m) = &mut row {
                    m.insert((*rel).to_owned(), value);
                }
            }
            out.push(row);
        }
        Ok(out)
    }

    /// The records of `name` that `q` selects, filtered, ordered and cut; with `parent`, only
    /// those whose link field holds the parent's id (a child relationship sub-query).
    fn select_rows<'a>(
        &'a self,
        q: &Query,
        name: &str,
        o: &'a Object,
        include_deleted: bool,
        parent: Option<(&str, &str)>,
    ) -> Result<Vec<&'a Fields>, ApiError> {
        let mut paths: Vec<&str> = q.fields.iter().map(String::as_str).collect();
        paths.extend(q.order.iter().map(|k| k.field.as_str()));
        if let Some(f) = &q.filter {
            collect_paths(f, &mut paths);
        }
        for p in &paths {
            self.resolve_path(o, p)
                .ok_or_else(|| no_such_column(p, name))?;
        }
        let filter = match &q.filter {
            Some(f) => Some(self.resolve_semi_joins(f, name, o)?),
            None => None,
        };
        let table = self.tables.get(name);
        let mut rows: Vec<Row<'_>> = Vec::new();
        for rec in table.map(|t| t.values()).into_iter().flatten() {
            if !include_deleted && rec.get("IsDeleted") == Some(&Value::Bool(true)) {
                continue;
            }
            if let Some((link, id)) = parent
                && rec.get(link).and_then(Value::as_str) != Some(id)
            {
                continue;
            }
            let row = Row {
                store: self,
                object: o,
                rec,
            };
            let keep = match &filter {
                None => true,
                Some(f) => {
                    soql::eval(f, &row).map_err(|e| ApiError::new(400, e.code, e.message))?
                }
            };
            if keep {
                rows.push(row);
            }
        }
        rows.sort_by(|a, b| soql::order(&q.order, a, b));
        Ok(rows
            .into_iter()
            .skip(q.offset.unwrap_or(0))
            .take(q.limit.unwrap_or(usize::MAX))
            .map(|row| row.rec)
            .collect())
    }

    /// Runs each semi-join's sub-select and replaces it with the `IN` list of the ids it found
    /// (nulls dropped: they match nothing). Both sides must be ids or references, and the
    /// sub-select must read another object, as Salesforce requires.
    fn resolve_semi_joins(&self, e: &Expr, name: &str, o: &Object) -> Result<Expr, ApiError> {
        let malformed = |m: String| ApiError::new(400, "MALFORMED_QUERY", m);
        Ok(match e {
            Expr::And(a, b) => Expr::And(
                Box::new(self.resolve_semi_joins(a, name, o)?),
                Box::new(self.resolve_semi_joins(b, name, o)?),
            ),
            Expr::Or(a, b) => Expr::Or(
                Box::new(self.resolve_semi_joins(a, name, o)?),
                Box::new(self.resolve_semi_joins(b, name, o)?),
            ),
            Expr::Not(a) => Expr::Not(Box::new(self.resolve_semi_joins(a, name, o)?)),
            Expr::SemiJoin(field, negated, sub) => {
                let id_like = |k: &str| k == "id" || k == "reference";
                if !self
                    .resolve_path(o, field)
                    .is_some_and(|(_, f)| id_like(&f.kind))
                {
                    return Err(malformed(format!(
                        "the left operand of a semi join must be an id or reference field: {field}"
                    )));
                }
                let (sub_name, sub_o) = self
                    .schema
                    .object(&sub.object)
                    .ok_or_else(|| invalid_type(&sub.object))?;
                if sub_name == name {
                    return Err(malformed(
                        "The inner and outer selects should not be on the same object type".into(),
                    ));
                }
                let selected = sub.fields.first().map(String::as_str).unwrap_or_default();
                let (path, sub_field) = self
                    .resolve_path(sub_o, selected)
                    .ok_or_else(|| no_such_column(selected, sub_name))?;
                if !id_like(&sub_field.kind) || path.contains('.') {
                    return Err(malformed(format!(
                        "a semi join sub-select must select an id or reference field of {sub_name}: {selected}"
                    )));
                }
                let values = self
                    .select_rows(sub, sub_name, sub_o, false, None)?
                    .into_iter()
                    .filter_map(|r| r.get(&sub_field.name).and_then(Value::as_str))
                    .map(|v| soql::Literal::Text(v.to_owned()))
                    .collect();
                Expr::In(field.clone(), *negated, values)
            }
            other => other.clone(),
        })
    }

    /// The canonical path and field for `path` on `o`: `Email`, or `Account.Name` through a
    /// single-target relationship.
    fn resolve_path<'a>(&'a self, o: &'a Object, path: &str) -> Option<(String, &'a Field)> {
        match path.split_once('.') {
            None => o.field(path).map(|f| (f.name.clone(), f)),
            Some((rel, rest)) => {
                let link = o.relationship(rel)?;
                let [target] = link.reference_to.as_slice() else {
                    return None;
                };
                let (_, parent) = self.schema.object(target)?;
                if rest.contains('.') {
                    return None;
                }
                let f = parent.field(rest)?;
                Some((
                    format!("{}.{}", link.relationship.as_deref().unwrap_or(rel), f.name),
                    f,
                ))
            }
        }
    }

    fn render_row(
        &self,
        name: &str,
        o: &Object,
        rec: &Fields,
        fields: &[String],
        version: &str,
    ) -> Value {
        let id = rec.get("Id").and_then(Value::as_str).unwrap_or_default();
        let mut out = Map::new();
        out.insert(
            "attributes".into(),
            json!({"type": name, "url": format!("/services/data/{version}/sobjects/{name}/{id}")}),
        );
        for path in fields {
            match path.split_once('.') {
                None => {
                    if let Some(f) = o.field(path) {
                        out.insert(
                            f.name.clone(),
                            rec.get(&f.name).cloned().unwrap_or(Value::Null),
                        );
                    }
                }
                Some((rel, rest)) => {
                    let Some(link) = o.relationship(rel) else {
                        continue;
                    };
                    let rel_name = link.relationship.clone().unwrap_or_else(|| rel.to_owned());
                    let parent = link.reference_to.first().and_then(|t| {
                        let pid = rec.get(&link.name).and_then(Value::as_str)?;
                        self.record(t, pid).map(|r| (t.clone(), r))
                    });
                    match parent {
                        None => {
                            out.insert(rel_name, Value::Null);
                        }
                        Some((pname, prec)) => {
                            let pid = prec.get("Id").and_then(Value::as_str).unwrap_or_default();
                            let entry = out.entry(rel_name).or_insert_with(|| {
                                json!({"attributes": {"type": pname, "url": format!("/services/data/{version}/sobjects/{pname}/{pid}")}})
                            });
                            if let (Value::Object(m), Some(pf)) = (
                                entry,
                                self.schema.objects.get(&pname).and_then(|p| p.field(rest)),
                            ) {
                                m.insert(
                                    pf.name.clone(),
                                    prec.get(&pf.name).cloned().unwrap_or(Value::Null),
                                );
                            }
                        }
                    }
                }
            }
        }
        Value::Object(out)
    }
}

fn no_such_column(path: &str, object: &str) -> ApiError {
    ApiError::new(
        400,
        "INVALID_FIELD",
        format!(
            "No such column '{path}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

fn invalid_type(object: &str) -> ApiError {
    ApiError::new(
        400,
        "INVALID_TYPE",
        format!(
            "sObject type '{object}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

/// The child relationships sub-queries can name: (parent, relationship, child, link field), as
/// the standard objects' describe lists them.
const CHILD_RELATIONSHIPS: &[(&str, &str, &str, &str)] = &[
    ("Account", "Contacts", "Contact", "AccountId"),
    ("Account", "Opportunities", "Opportunity", "AccountId"),
    ("Account", "Cases", "Case", "AccountId"),
    ("Contact", "Cases", "Case", "ContactId"),
    ("Contact", "Tasks", "Task", "WhoId"),
    ("Contact", "Events", "Event", "WhoId"),
    (
        "Contact",
        "OpportunityContactRoles",
        "OpportunityContactRole",
        "ContactId",
    ),
    (
        "Opportunity",
        "OpportunityContactRoles",
        "OpportunityContactRole",
        "OpportunityId",
    ),
];

fn cross_reference(field: &Field) -> ApiError {
    ApiError::new(
        400,
        "INVALID_CROSS_REFERENCE_KEY",
        format!("{}: invalid cross reference id", field.label()),
    )
    .with_fields(vec![field.name.clone()])
}

/// The `DUPLICATES_DETECTED` error with a `duplicateResult` naming the matching records.
fn duplicates_detected(object: &str, matches: &[String]) -> ApiError {
    let records: Vec<Value> = matches
        .iter()
        .map(|id| {
            json!({"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                   "record": {"attributes": {"type": object}, "Id": id}})
        })
        .collect();
    let mut e = ApiError::new(400, "DUPLICATES_DETECTED", "Use one of these records?")
        .with_fields(Vec::new());
    e.extra = Some(Box::new((
        "duplicateResult".into(),
        json!({
            "allowSave": true,
            "duplicateRule": format!("Standard_{object}_Duplicate_Rule"),
            "duplicateRuleEntityType": object,
            "errorMessage": "Use one of these records?",
            "matchResults": [{
                "entityType": object, "errors": [], "matchEngine": "ExactMatchEngine",
                "matchRecords": records,
                "rule": format!("Standard_{object}_Match_Rule_v1_1"),
                "size": matches.len(), "success": true
            }]
        }),
    )));
    e
}

fn collect_paths<'a>(e: &'a soql::Expr, out: &mut Vec<&'a str>) {
    match e {
        soql::Expr::And(a, b) | soql::Expr::Or(a, b) => {
            collect_paths(a, out);
            collect_paths(b, out);
        }
        soql::Expr::Not(a) => collect_paths(a, out),
        soql::Expr::Cmp(p, _, _)
        | soql::Expr::In(p, _, _)
        | soql::Expr::Like(p, _, _)
        | soql::Expr::SemiJoin(p, _, _) => {
            out.push(p);
        }
    }
}

/// A record during query evaluation.
struct Row<'a> {
    store: &'a Store,
    object: &'a Object,
    rec: &'a Fields,
}

impl Resolve for Row<'_> {
    fn value(&self, path: &str) -> Value {
        match path.split_once('.') {
            None => self
                .object
                .field(path)
                .and_then(|f| self.rec.get(&f.name).cloned())
                .unwrap_or(Value::Null),
            Some((rel, rest)) => {
                let Some(link) = self.object.relationship(rel) else {
                    return Value::Null;
                };
                let Some(pid) = self.rec.get(&link.name).and_then(Value::as_str) else {
                    return Value::Null;
                };
                link.reference_to
                    .first()
                    .and_then(|t| {
                        let parent = self.store.record(t, pid)?;
                        let f = self.store.schema.objects.get(t)?.field(rest)?;
                        parent.get(&f.name).cloned()
                    })
                    .unwrap_or(Value::Null)
            }
        }
    }

    fn kind(&self, path: &str) -> String {
        self.store
            .resolve_path(self.object, path)
            .map(|(_, f)| f.kind.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Fields {
        match v {
            Value::Object(m) => m,
            _ => Fields::new(),
        }
    }

    /// Standard orgs restrict Case Status/Priority/Origin, Lead Status, Opportunity Stage and
    /// Task Status/Priority to their stock values: anything else is Salesforce's 400
    /// `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST` naming the field, with its label in the message.
    #[test]
    fn restricted_picklists_take_only_their_stock_values() {
        let mut s = Store::new();
        let opts = WriteOpts::default();
        let refused = [
            ("Case", json!({"Status": "On Hold"}), "Status", "Status"),
            (
                "Case",
                json!({"Priority": "Urgent"}),
                "Priority",
                "Priority",
            ),
            ("Case", json!({"Origin": "Chat"}), "Origin", "Case Origin"),
            (
                "Lead",
                json!({"LastName": "L", "Company": "C", "Status": "Qualified"}),
                "Status",
                "Lead Status",
            ),
            (
                "Opportunity",
                json!({"Name": "O", "CloseDate": "2030-01-01", "StageName": "Won"}),
                "StageName",
                "Stage",
            ),
            ("Task", json!({"Status": "Done"}), "Status", "Status"),
            (
                "Task",
                json!({"Priority": "Urgent"}),
                "Priority",
                "Priority",
            ),
            // As written: the value's case matters.
            ("Case", json!({"Status": "closed"}), "Status", "Status"),
        ];
        for (object, fields, field, label) in refused {
            let e = s.create(object, &body(fields), opts).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.code, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
            assert_eq!(e.fields, [field]);
            assert!(
                e.message.starts_with(&format!(
                    "{label}: bad value for restricted picklist field: "
                )),
                "{}",
                e.message
            );
            let top = e.body();
            assert_eq!(
                top[0]["errorCode"],
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
            );
            assert_eq!(top[0]["fields"], json!([field]));
        }
        // Stock values pass, and unrestricted picklists (Case Type) take any value.
        let id = s
            .create(
                "Case",
                &body(
                    json!({"Status": "Escalated", "Priority": "Low", "Origin": "Web",
                             "Type": "Billing question"}),
                ),
                opts,
            )
            .unwrap();
        // Updates are checked the same way.
        let e = s
            .update("Case", &id, &body(json!({"Status": "Reopened"})), opts)
            .unwrap_err();
        assert_eq!(e.fields, ["Status"]);
    }

    #[test]
    fn validation_codes() {
        let mut s = Store::new();
        let opts = WriteOpts::default();
        let e = s
            .create("Contact", &body(json!({"FirstName": "A"})), opts)
            .unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.fields.clone()),
            ("REQUIRED_FIELD_MISSING", vec!["LastName".to_owned()])
        );
        let e = s
            .create(
                "Contact",
                &body(json!({"LastName": "A", "Email": "nope"})),
                opts,
            )
            .unwrap_err();
        assert_eq!(e.code, "INVALID_EMAIL_ADDRESS");
        let e = s
            .create(
                "Contact",
                &body(json!({"LastName": "A", "Bogus__c": 1})),
                opts,
            )
            .unwrap_err();
        assert_eq!(e.code, "INVALID_FIELD");
        let e = s
            .create("Contact", &body(json!({"LastName": "x".repeat(81)})), opts)
            .unwrap_err();
        assert_eq!(e.code, "STRING_TOO_LONG");
        let e = s
            .create(
                "Contact",
                &body(json!({"LastName": "A", "AccountId": "nope"})),
                opts,
            )
            .unwrap_err();
        assert_eq!(e.code, "MALFORMED_ID");
        let e = s
            .create(
                "Contact",
                &body(json!({"LastName": "A", "AccountId": ids::make("001", 99)})),
                opts,
            )
            .unwrap_err();
        assert_eq!(e.code, "INVALID_CROSS_REFERENCE_KEY");
        let e = s
            .create(
                "Contact",
                &body(json!({"LastName": "A", "Name": "B"})),
                opts,
            )
            .unwrap_err();
        assert_eq!(e.code, "INVALID_FIELD_FOR_INSERT_UPDATE");

        let a = s
            .create(
                "Contact",
                &body(json!({"LastName": "A", "Email": "a@b.co", "External_Id__c": "k1"})),
                opts,
            )
            .unwrap();
        let e = s
            .create(
                "Contact",
                &body(json!({"LastName": "B", "Email": "A@B.co"})),
                opts,
            )
            .unwrap_err();
        assert_eq!(e.code, "DUPLICATES_DETECTED");
        assert!(e.extra.unwrap().1.to_string().contains(&a));
        s.create(
            "Contact",
            &body(json!({"LastName": "B", "Email": "A@B.co"})),
            WriteOpts { allow_save: true },
        )
        .unwrap();
        let e = s
            .create(
                "Contact",
                &body(json!({"LastName": "C", "External_Id__c": "K1"})),
                opts,
            )
            .unwrap_err();
        assert_eq!(e.code, "DUPLICATE_VALUE");
        assert!(e.message.contains(&a));
    }

    #[test]
    fn upsert_and_lead_conversion() {
        let mut s = Store::new();
        let opts = WriteOpts::default();
        let b = body(json!({"LastName": "Up"}));
        let Upserted::Created(id) = s
            .upsert("Contact", "External_Id__c", "e-1", &b, opts)
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            s.upsert("Contact", "external_id__c", "E-1", &b, opts)
                .unwrap(),
            Upserted::Updated(id)
        );
        assert_eq!(
            s.upsert("Contact", "Nope__c", "x", &b, opts)
                .unwrap_err()
                .code,
            "NOT_FOUND"
        );
        let lead = s
            .create(
                "Lead",
                &body(json!({"LastName": "L", "Company": "Initech"})),
                opts,
            )
            .unwrap();
        s.convert_lead(&lead, true).unwrap();
        let e = s
            .update("Lead", &lead, &body(json!({"Title": "x"})), opts)
            .unwrap_err();
        assert_eq!(e.code, "CANNOT_UPDATE_CONVERTED_LEAD");
    }

    #[test]
    fn cases_close_by_status() {
        let mut s = Store::new();
        let opts = WriteOpts::default();
        let id = s
            .create("Case", &body(json!({"Subject": "x"})), opts)
            .unwrap();
        assert_eq!(s.record("Case", &id).unwrap()["IsClosed"], json!(false));
        assert_eq!(s.record("Case", &id).unwrap()["Status"], json!("New"));
        s.update("Case", &id, &body(json!({"Status": "Closed"})), opts)
            .unwrap();
        assert_eq!(s.record("Case", &id).unwrap()["IsClosed"], json!(true));
    }
}

#[cfg(test)]
mod join_tests {
    use super::super::demo;
    use super::*;

    fn org() -> Store {
        let mut store = Store::new();
        demo::seed(&mut store, true, 0).unwrap();
        store
    }

    fn ids(store: &Store, q: &str) -> Result<Vec<String>, ApiError> {
        let q = soql::parse(q).map_err(|e| ApiError::new(400, e.code, e.message))?;
        Ok(store
            .query(&q, false, "v60.0")?
            .iter()
            .map(|r| r["Id"].as_str().unwrap().to_owned())
            .collect())
    }

    #[test]
    fn semi_joins_select_by_contact_role_and_by_the_contacts_account() {
        let store = org();
        let jane = demo::CUSTOMER_CONTACT_ID;
        let by_role = ids(
            &store,
            &format!(
                "SELECT Id FROM Opportunity WHERE Id IN (SELECT OpportunityId FROM \
                 OpportunityContactRole WHERE ContactId = '{jane}') AND IsClosed = false"
            ),
        )
        .unwrap();
        assert_eq!(by_role, [demo::ROLE_OPPORTUNITY_ID]);
        let by_account = ids(
            &store,
            &format!(
                "SELECT Id FROM Opportunity WHERE AccountId IN (SELECT AccountId FROM Contact \
                 WHERE Id = '{}') ORDER BY Id",
                &jane[..15]
            ),
        )
        .unwrap();
        assert_eq!(
            by_account,
            [
                demo::OPEN_OPPORTUNITY_ID,
                demo::WON_OPPORTUNITY_ID,
                demo::ACCOUNT_OPPORTUNITY_ID
            ]
        );
        // A contact without an account: the sub-select yields null, which matches nothing.
        let none = ids(
            &store,
            &format!(
                "SELECT Id FROM Opportunity WHERE AccountId IN (SELECT AccountId FROM Contact \
                 WHERE Id = '{}')",
                demo::KENJI_CONTACT_ID
            ),
        )
        .unwrap();
        assert!(none.is_empty());
        let anti = ids(
            &store,
            "SELECT Id FROM Opportunity WHERE Id NOT IN (SELECT OpportunityId FROM \
             OpportunityContactRole) AND AccountId = null",
        )
        .unwrap();
        assert_eq!(anti, [demo::CONTACT_OPPORTUNITY_ID]);
    }

    #[test]
    fn semi_joins_follow_salesforce_rules() {
        let store = org();
        for (q, code) in [
            (
                "SELECT Id FROM Opportunity WHERE Id IN (SELECT Id FROM Opportunity)",
                "MALFORMED_QUERY",
            ),
            (
                "SELECT Id FROM Opportunity WHERE Name IN (SELECT OpportunityId FROM OpportunityContactRole)",
                "MALFORMED_QUERY",
            ),
            (
                "SELECT Id FROM Opportunity WHERE Id IN (SELECT Role FROM OpportunityContactRole)",
                "MALFORMED_QUERY",
            ),
            (
                "SELECT Id FROM Opportunity WHERE Id IN (SELECT OpportunityId FROM Nothing)",
                "INVALID_TYPE",
            ),
            (
                "SELECT Id FROM Opportunity WHERE Id IN (SELECT Nope FROM OpportunityContactRole)",
                "INVALID_FIELD",
            ),
        ] {
            assert_eq!(ids(&store, q).unwrap_err().code, code, "{q}");
        }
    }

    #[test]
    fn child_sub_queries_nest_each_parents_rows() {
        let store = org();
        let q = soql::parse(&format!(
            "SELECT Id, (SELECT Id, Subject FROM Tasks ORDER BY CreatedDate DESC LIMIT 2), \
             (SELECT Id FROM Events), (SELECT OpportunityId, Role FROM OpportunityContactRoles) \
             FROM Contact WHERE Id IN ('{}', '{}')",
            demo::CUSTOMER_CONTACT_ID,
            demo::KENJI_CONTACT_ID
        ))
        .unwrap();
        let rows = store.query(&q, false, "v60.0").unwrap();
        let jane = rows
            .iter()
            .find(|r| r["Id"] == demo::CUSTOMER_CONTACT_ID)
            .unwrap();
        assert_eq!(jane["Tasks"]["totalSize"], 2);
        assert_eq!(jane["Tasks"]["records"][0]["Id"], demo::CHAT_TASK_ID);
        assert_eq!(jane["Tasks"]["records"][1]["Id"], demo::SECOND_CALL_TASK_ID);
        assert_eq!(jane["Events"], Value::Null);
        assert_eq!(
            jane["OpportunityContactRoles"]["records"][0]["OpportunityId"],
            demo::ROLE_OPPORTUNITY_ID
        );
        let kenji = rows
            .iter()
            .find(|r| r["Id"] == demo::KENJI_CONTACT_ID)
            .unwrap();
        assert_eq!(kenji["Tasks"], Value::Null);
        let bad = soql::parse("SELECT Id, (SELECT Id FROM Deals) FROM Contact").unwrap();
        assert_eq!(
            store.query(&bad, false, "v60.0").unwrap_err().code,
            "INVALID_TYPE"
        );
    }
}
