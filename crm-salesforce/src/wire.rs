//! Salesforce JSON ↔ vendor records: the sObjects and their mapping tables, a write's JSON body,
//! a record read back with the flags that give statuses their meaning (`IsClosed`, `IsWon`,
//! `IsConverted`, `TaskSubtype`) and an activity's polymorphic links, and the result shapes of
//! queries, Composite and sObject Collections. Source: Salesforce's REST API Developer Guide and
//! Object Reference.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crm_core::mapping::{ObjectMapping, WriteMode};
use crm_core::model::fields::parse_datetime;
use crm_core::raw::VendorRecord;
use crm_core::{Error, ErrorKind, FieldMap, FieldValue, ObjectKind, RecordId, Result};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::error::{SfError, error_from, sub_error};
use crate::extras::id;

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
    pub(crate) fn flags(self) -> &'static [&'static str] {
        match self {
            SObject::Case => &["IsClosed"],
            SObject::Opportunity => &["IsClosed", "IsWon"],
            SObject::Lead => &["IsConverted"],
            SObject::Task => &["IsClosed", "TaskSubtype", "WhoId", "WhatId"],
            SObject::Event => &["WhoId", "WhatId"],
            SObject::Contact | SObject::Account => &[],
        }
    }

    /// The sObject of a mapping target (`ticket` → Case).
    pub(crate) fn for_target(target: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.table() == target)
    }

    /// The sObject of an existing record of `kind`: activities may be Tasks or Events.
    pub(crate) fn of_record(kind: ObjectKind, id: &RecordId) -> Self {
        match (kind, Self::by_prefix(id.as_str())) {
            (ObjectKind::Activity, Some(SObject::Event)) => SObject::Event,
            _ => Self::for_kind(kind),
        }
    }
}

/// Common fields of a write → the Salesforce JSON body. An activity's links go to the
/// polymorphic `WhoId`/`WhatId`, its kind `call` also to `TaskSubtype`; unless `keep_kind`
/// (creates and upserts) its `kind` is left alone: `Activity::kind` cannot say "unset", and
/// `TaskSubtype` can only be set on create.
pub(crate) fn body(
    mapping: &ObjectMapping,
    s: SObject,
    common: &FieldMap,
    mode: WriteMode,
    keep_kind: bool,
) -> Result<Map<String, Value>> {
    let mut common = common.clone();
    let mut extra = Map::new();
    if s == SObject::Task {
        if !keep_kind {
            common.remove("kind");
        }
        activity_to_task(&mut common, &mut extra);
    }
    let vendor = mapping.to_vendor_as(s.kind(), &common, mode)?;
    Ok(json_body(s, vendor, extra))
}

/// Vendor fields → the JSON body (multi-select picklists as `a;b`, a Task's `ActivityDate` as a
/// date), with `extra` fields set outside the mapping.
pub(crate) fn json_body(
    s: SObject,
    vendor: FieldMap,
    extra: Map<String, Value>,
) -> Map<String, Value> {
    let mut body: Map<String, Value> = vendor
        .into_iter()
        .map(|(k, v)| (k, value_to_json(v)))
        .collect();
    if s == SObject::Task
        && let Some(Value::String(d)) = body.get("ActivityDate")
        && let Some(dt) = parse_datetime(d)
    {
        // Task.ActivityDate is a date field: send the date part only.
        body.insert(
            "ActivityDate".into(),
            json!(dt.date_naive().format("%Y-%m-%d").to_string()),
        );
    }
    body.extend(extra);
    body
}

/// One Salesforce record (a JSON object) → a vendor record of `s`, with the common fields its
/// flags resolve (statuses, an activity's kind, time and links) in `resolved`.
pub(crate) fn vendor_record(
    mapping: &ObjectMapping,
    s: SObject,
    value: &Value,
) -> Result<VendorRecord> {
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
        .filter(|(k, v)| k.as_str() != "attributes" && k.as_str() != "Id" && !v.is_object())
        .map(|(k, v)| (k.clone(), FieldValue::from_json(v)))
        .collect();
    let created_at = take_time(&mut fields, "CreatedDate")?;
    let updated_at = take_time(&mut fields, "LastModifiedDate")?;
    let flags: BTreeMap<String, FieldValue> = s
        .flags()
        .iter()
        .filter_map(|f| fields.remove(*f).map(|v| ((*f).to_owned(), v)))
        .collect();
    let mapped = mapping.from_vendor(s.kind(), fields.clone());
    let mut common = mapped.clone();
    apply_flags(s, &flags, &mut common, created_at);
    let resolved = common
        .into_iter()
        .filter(|(k, v)| mapped.get(k) != Some(v))
        .collect();
    Ok(VendorRecord {
        id,
        target: s.table(),
        created_at,
        updated_at,
        fields,
        resolved,
    })
}

/// `kind`, `who`/`what` and `timestamp` of an activity → Task fields. WhoId and WhatId are
/// polymorphic (one field, several kinds of record), so the link fields are set here rather
/// than through the mapping.
fn activity_to_task(common: &mut FieldMap, extra: &mut Map<String, Value>) {
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

/// Typed value → Salesforce JSON: core's typed JSON, except multi-select picklists, which
/// Salesforce takes as `a;b`.
pub(crate) fn value_to_json(v: FieldValue) -> Value {
    match v {
        FieldValue::List(items) => Value::String(items.join(";")),
        other => other.to_json(),
    }
}

/// A query result page as Salesforce sends it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct QueryPage {
    #[serde(default)]
    pub(crate) done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    pub(crate) next_records_url: Option<String>,
    pub(crate) records: Vec<Value>,
}

impl QueryPage {
    /// The locator of the rest of the query, if any.
    pub(crate) fn more(&self) -> Option<String> {
        self.next_records_url.clone().filter(|_| !self.done)
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
        sub_error(self.status, &self.body, operation)
    }

    /// The query result page this subresponse holds. The decode error names the path and
    /// type, never a value of the result.
    pub(crate) fn page(&self, operation: &str) -> Result<QueryPage> {
        if !self.ok() {
            return Err(self.error(operation));
        }
        crm_core::raw::http::decode_value(self.body.clone()).map_err(|e| {
            Error::decode(format!("a query result: {}", e.message())).with_operation(operation)
        })
    }
}

/// Records per sObject Collections request: 200 (Salesforce REST API Developer Guide, "sObject
/// Collections").
pub(crate) const COLLECTIONS_MAX: usize = 200;

/// Salesforce's smallest and largest query batch.
pub(crate) const MIN_BATCH: u32 = 200;
pub(crate) const MAX_BATCH: u32 = 2000;

/// Records fetched in Salesforce's batch and not yet handed out as pages smaller than it.
#[derive(Debug, Default)]
pub(crate) struct Held {
    pub(crate) records: VecDeque<Value>,
    /// The locator of the rest of the query.
    pub(crate) more: Option<String>,
}

/// The batches listings with small pages hold, by listing and the cursor handed out last, so
/// the next page (of the same listing, or of one resumed from its cursor on this connection)
/// is cut from them. A listing abandoned midway leaves its batch here until newer listings push
/// it out or it gets too old to trust.
#[derive(Debug, Default)]
pub(crate) struct HeldBatches(Mutex<VecDeque<(String, Instant, Held)>>);

/// Listings whose batches are held at once.
const MAX_HELD: usize = 16;

/// How long a held batch is used: well inside the 15 minutes Salesforce keeps an unused query
/// locator, and short enough that a listing resumed later reads the org afresh.
const HELD_FOR: Duration = Duration::from_secs(600);

impl HeldBatches {
    pub(crate) fn take(&self, key: &str) -> Option<Held> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|(_, at, _)| at.elapsed() < HELD_FOR);
        let at = held.iter().position(|(k, _, _)| k == key)?;
        held.remove(at).map(|(_, _, h)| h)
    }

    pub(crate) fn put(&self, key: String, h: Held) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if held.len() >= MAX_HELD {
            held.pop_front();
        }
        held.push_back((key, Instant::now(), h));
    }
}

/// One item of an sObject Collections result.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CollItem {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) success: bool,
    #[serde(default)]
    pub(crate) errors: Vec<SfError>,
    #[serde(default)]
    pub(crate) created: Option<bool>,
}

impl CollItem {
    /// The written record's 18-character id, or the error Salesforce gave for the item.
    pub(crate) fn outcome(&self) -> Result<RecordId> {
        if self.success {
            self.id
                .as_deref()
                .and_then(id::to18)
                .and_then(|s| RecordId::new(s).ok())
                .ok_or_else(|| Error::decode("a successful result has no record id"))
        } else {
            Err(error_from(&self.errors, 400, Default::default()))
        }
    }
}

/// See [`crate::parse_collections_result`].
pub(crate) fn parse_collections(body: &[u8]) -> Result<Vec<Result<RecordId>>> {
    let items: Vec<CollItem> = crm_core::raw::http::decode_json(
        body,
        &crm_core::reexports::http::HeaderMap::new(),
        crm_core::reexports::http::StatusCode::OK,
        None,
    )?;
    Ok(items.iter().map(CollItem::outcome).collect())
}

/// The error of an upsert Salesforce answered with `300 Multiple Choices`: more than one record
/// holds the external id, nothing was written, and the body lists the candidates' URLs.
pub(crate) fn ambiguous(body: &Value, operation: &str) -> Error {
    let candidates = body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|url| url.rsplit('/').next())
        .filter_map(id::to18)
        .filter_map(|s| RecordId::new(s).ok())
        .collect();
    Error::new(
        ErrorKind::Conflict {
            existing_id: None,
            candidates,
        },
        "more than one record holds this external id (HTTP 300); nothing was written",
    )
    .with_operation(operation.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_targets_are_the_mapping_tables() {
        let listed: Vec<(&str, ObjectKind)> =
            SObject::ALL.iter().map(|s| (s.table(), s.kind())).collect();
        assert_eq!(listed, crate::MAPPING_TARGETS);
    }
}
