//! The company's data: one table per entity, Pipedrive's validation rules, custom fields keyed
//! by 40-character hashes, and the search index that lags behind writes.
//!
//! Records are kept as the JSON objects Pipedrive returns (without their timestamps and id,
//! which the table keeps), so what a test writes is what a client reads back.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::error::ApiError;

/// Pipedrive's entities the fake serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    /// `/api/v2/persons`.
    Persons,
    /// `/api/v2/organizations`.
    Organizations,
    /// `/api/v2/deals`.
    Deals,
    /// `/api/v2/activities`.
    Activities,
    /// `/v1/leads` (UUID ids).
    Leads,
    /// `/v1/notes`.
    Notes,
}

impl Entity {
    /// Every entity, in table order.
    pub const ALL: [Entity; 6] = [
        Entity::Persons,
        Entity::Organizations,
        Entity::Deals,
        Entity::Activities,
        Entity::Leads,
        Entity::Notes,
    ];

    /// The path segment (`persons`, …).
    pub fn path(self) -> &'static str {
        match self {
            Entity::Persons => "persons",
            Entity::Organizations => "organizations",
            Entity::Deals => "deals",
            Entity::Activities => "activities",
            Entity::Leads => "leads",
            Entity::Notes => "notes",
        }
    }

    /// The entity of a path segment.
    pub fn from_path(s: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.path() == s)
    }

    /// The singular noun Pipedrive's messages and webhooks use.
    pub fn singular(self) -> &'static str {
        match self {
            Entity::Persons => "person",
            Entity::Organizations => "organization",
            Entity::Deals => "deal",
            Entity::Activities => "activity",
            Entity::Leads => "lead",
            Entity::Notes => "note",
        }
    }

    /// Served by API v2 (typed JSON, RFC 3339 times, cursor paging, `custom_fields` object)
    /// rather than v1 (offset paging, custom fields as top-level keys).
    pub fn is_v2(self) -> bool {
        !matches!(self, Entity::Leads | Entity::Notes)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The entity whose custom fields this one carries (leads carry the deal fields, as in
    /// Pipedrive, where lead fields are deal fields).
    fn field_owner(self) -> Entity {
        if self == Entity::Leads {
            Entity::Deals
        } else {
            self
        }
    }

    /// The documented writable fields of a create or update body.
    fn writable(self) -> &'static [&'static str] {
        match self {
            Entity::Persons => &[
                "name",
                "owner_id",
                "org_id",
                "emails",
                "phones",
                "visible_to",
                "label_ids",
                "marketing_status",
                "job_title",
                "custom_fields",
                "add_time",
                "update_time",
            ],
            Entity::Organizations => &[
                "name",
                "owner_id",
                "visible_to",
                "label_ids",
                "address",
                "website",
                "industry",
                "custom_fields",
                "add_time",
                "update_time",
            ],
            Entity::Deals => &[
                "title",
                "owner_id",
                "person_id",
                "org_id",
                "pipeline_id",
                "stage_id",
                "value",
                "currency",
                "status",
                "probability",
                "lost_reason",
                "visible_to",
                "close_time",
                "won_time",
                "lost_time",
                "expected_close_date",
                "label_ids",
                "custom_fields",
                "is_archived",
                "add_time",
                "update_time",
            ],
            Entity::Activities => &[
                "subject",
                "type",
                "owner_id",
                "deal_id",
                "lead_id",
                "person_id",
                "org_id",
                "due_date",
                "due_time",
                "duration",
                "busy",
                "done",
                "participants",
                "public_description",
                "priority",
                "note",
                "location",
            ],
            Entity::Leads => &[
                "title",
                "owner_id",
                "label_ids",
                "person_id",
                "organization_id",
                "value",
                "expected_close_date",
                "visible_to",
                "was_seen",
                "origin_id",
                "channel",
                "channel_id",
                "is_archived",
            ],
            Entity::Notes => &[
                "content",
                "lead_id",
                "deal_id",
                "person_id",
                "org_id",
                "user_id",
                "add_time",
                "pinned_to_lead_flag",
                "pinned_to_deal_flag",
                "pinned_to_organization_flag",
                "pinned_to_person_flag",
            ],
        }
    }
}

/// A custom field an admin added in the company settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomField {
    /// The field's key: a random 40-character hex hash, as Pipedrive generates them.
    pub key: String,
    /// The name shown in the UI.
    pub name: String,
    /// Pipedrive's field type (`varchar`, `text`, `double`, `enum`, …).
    pub field_type: String,
    /// The entity carrying it (persons, organizations or deals; deal fields also apply to leads).
    pub entity: Entity,
}

impl CustomField {
    /// A text field named `name` with the key `key`.
    pub fn varchar(entity: Entity, key: &str, name: &str) -> Self {
        Self {
            key: key.to_owned(),
            name: name.to_owned(),
            field_type: "varchar".into(),
            entity,
        }
    }
}

/// The activity types of a new company (Pipedrive's defaults, keyed by `key_string`).
pub const ACTIVITY_TYPES: &[&str] = &["call", "meeting", "task", "deadline", "email", "lunch"];

/// One stored record.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) data: Map<String, Value>,
    pub(crate) add_time: DateTime<Utc>,
    pub(crate) update_time: DateTime<Utc>,
    /// What search sees: `None` until the first write is indexed.
    indexed: Option<Map<String, Value>>,
    /// A write search does not see yet, and when it will.
    pending: Option<(Instant, Map<String, Value>)>,
}

#[derive(Debug, Default)]
struct Table {
    /// By insertion order (for integer ids, the id).
    rows: BTreeMap<u64, Row>,
    by_id: HashMap<String, u64>,
    next: u64,
}

/// Everything the company holds.
#[derive(Debug)]
pub(crate) struct Store {
    tables: Vec<Table>,
    pub(crate) fields: Vec<CustomField>,
    search_lag: Duration,
    rng: fastrand::Rng,
}

/// RFC 3339 with seconds and `Z`, as API v2 writes times.
pub(crate) fn v2_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, as API v1 writes times.
pub(crate) fn v1_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn invalid(field: &str, why: &str) -> ApiError {
    ApiError::validation(field, why)
}

impl Store {
    pub(crate) fn new(fields: Vec<CustomField>, first_ids: [u64; 6]) -> Self {
        let tables = first_ids
            .iter()
            .map(|&next| Table {
                next,
                ..Table::default()
            })
            .collect();
        Self {
            tables,
            fields,
            search_lag: Duration::ZERO,
            rng: fastrand::Rng::with_seed(7),
        }
    }

    pub(crate) fn set_search_lag(&mut self, lag: Duration) {
        self.search_lag = lag;
    }

    fn table(&self, e: Entity) -> Option<&Table> {
        self.tables.get(e.index())
    }

    fn table_mut(&mut self, e: Entity) -> Option<&mut Table> {
        self.tables.get_mut(e.index())
    }

    /// A live record.
    pub(crate) fn get(&self, e: Entity, id: &str) -> Option<&Row> {
        let t = self.table(e)?;
        t.rows.get(t.by_id.get(id)?)
    }

    /// Every live record, in id order.
    pub(crate) fn rows(&self, e: Entity) -> impl Iterator<Item = &Row> {
        self.table(e).into_iter().flat_map(|t| t.rows.values())
    }

    fn exists(&self, e: Entity, v: &Value) -> bool {
        let id = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => return false,
        };
        self.get(e, &id).is_some()
    }

    fn field_keys(&self, e: Entity) -> impl Iterator<Item = &CustomField> {
        let owner = e.field_owner();
        self.fields.iter().filter(move |f| f.entity == owner)
    }

    fn is_custom_key(&self, e: Entity, key: &str) -> bool {
        self.field_keys(e).any(|f| f.key == key)
    }

    /// Checks a create (`creating`) or update body against Pipedrive's rules.
    fn validate(
        &self,
        e: Entity,
        body: &Map<String, Value>,
        creating: bool,
    ) -> Result<(), ApiError> {
        for (k, v) in body {
            let known = e.writable().contains(&k.as_str());
            // v1 (leads) carries custom fields as top-level keys.
            let custom = !e.is_v2() && self.is_custom_key(e, k);
            if !known && !custom {
                return Err(invalid(k, "is not a valid field"));
            }
            let _ = v;
        }
        let str_or_null = |k: &str| match body.get(k) {
            None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
            Some(_) => Err(invalid(k, "must be a string")),
        };
        let required = |k: &str| match body.get(k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
            _ if !creating && !body.contains_key(k) => Ok(()),
            _ => Err(invalid(k, "is required")),
        };
        let link = |k: &str, target: Entity| match body.get(k) {
            None | Some(Value::Null) => Ok(()),
            Some(v) if self.exists(target, v) => Ok(()),
            Some(_) => Err(ApiError::not_found_link(k, target.singular())),
        };
        match e {
            Entity::Persons => {
                required("name")?;
                str_or_null("job_title")?;
                link("org_id", Entity::Organizations)?;
                for k in ["emails", "phones"] {
                    check_labelled(body.get(k), k)?;
                }
            }
            Entity::Organizations => required("name")?,
            Entity::Deals => {
                required("title")?;
                link("person_id", Entity::Persons)?;
                link("org_id", Entity::Organizations)?;
                if let Some(s) = body.get("status")
                    && !matches!(s.as_str(), Some("open" | "won" | "lost"))
                {
                    return Err(invalid("status", "must be one of open, won, lost"));
                }
                if !matches!(
                    body.get("value"),
                    None | Some(Value::Null | Value::Number(_))
                ) {
                    return Err(invalid("value", "must be a number"));
                }
                check_date(body.get("expected_close_date"), "expected_close_date")?;
            }
            Entity::Activities => {
                link("person_id", Entity::Persons)?;
                link("org_id", Entity::Organizations)?;
                link("deal_id", Entity::Deals)?;
                link("lead_id", Entity::Leads)?;
                if let Some(t) = body.get("type")
                    && !t.as_str().is_some_and(|t| ACTIVITY_TYPES.contains(&t))
                {
                    return Err(invalid("type", "must be an existing activity type"));
                }
                check_date(body.get("due_date"), "due_date")?;
                if let Some(t) = body.get("due_time").and_then(Value::as_str)
                    && NaiveTime::parse_from_str(t, "%H:%M").is_err()
                {
                    return Err(invalid("due_time", "must be in HH:MM format"));
                }
                if !matches!(body.get("done"), None | Some(Value::Bool(_))) {
                    return Err(invalid("done", "must be a boolean"));
                }
                if let Some(ps) = body.get("participants") {
                    let ok = ps.as_array().is_some_and(|ps| {
                        ps.iter().all(|p| {
                            p.get("person_id")
                                .is_some_and(|id| self.exists(Entity::Persons, id))
                        })
                    });
                    if !ok {
                        return Err(invalid("participants", "must list existing persons"));
                    }
                }
            }
            Entity::Leads => {
                required("title")?;
                link("person_id", Entity::Persons)?;
                link("organization_id", Entity::Organizations)?;
                let linked = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
                if creating && !linked("person_id") && !linked("organization_id") {
                    return Err(invalid(
                        "person_id",
                        "person_id or organization_id is required",
                    ));
                }
                if let Some(v) = body.get("value").filter(|v| !v.is_null())
                    && !(v.get("amount").is_some_and(Value::is_number)
                        && v.get("currency").is_some_and(Value::is_string))
                {
                    return Err(invalid("value", "must have an amount and a currency"));
                }
                check_date(body.get("expected_close_date"), "expected_close_date")?;
            }
            Entity::Notes => {
                required("content")?;
                link("person_id", Entity::Persons)?;
                link("org_id", Entity::Organizations)?;
                link("deal_id", Entity::Deals)?;
                link("lead_id", Entity::Leads)?;
                let any = ["deal_id", "person_id", "org_id", "lead_id"]
                    .iter()
                    .any(|k| body.get(*k).is_some_and(|v| !v.is_null()));
                if creating && !any {
                    return Err(invalid(
                        "deal_id",
                        "one of deal_id, person_id, org_id, lead_id is required",
                    ));
                }
            }
        }
        if let Some(cf) = body.get("custom_fields") {
            let Some(cf) = cf.as_object() else {
                return Err(invalid("custom_fields", "must be an object"));
            };
            if let Some(k) = cf.keys().find(|k| !self.is_custom_key(e, k)) {
                return Err(invalid(
                    &format!("custom_fields.{k}"),
                    "is not a custom field",
                ));
            }
        }
        Ok(())
    }

    fn new_id(&mut self, e: Entity) -> (u64, String) {
        let uuid = e == Entity::Leads;
        let hex = |r: &mut fastrand::Rng, n: usize| -> String {
            (0..n)
                .map(|_| char::from_digit(r.u32(..16), 16).unwrap_or('0'))
                .collect()
        };
        let id_text = uuid.then(|| {
            let r = &mut self.rng;
            format!(
                "{}-{}-4{}-a{}-{}",
                hex(r, 8),
                hex(r, 4),
                hex(r, 3),
                hex(r, 3),
                hex(r, 12)
            )
        });
        let Some(t) = self.table_mut(e) else {
            return (0, String::new());
        };
        let seq = t.next;
        t.next += 1;
        (seq, id_text.unwrap_or_else(|| seq.to_string()))
    }

    /// Creates a record; its id.
    pub(crate) fn create(
        &mut self,
        e: Entity,
        body: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        self.validate(e, body, true)?;
        let mut data = defaults(e);
        for (k, v) in body {
            if k != "add_time" && k != "update_time" {
                data.insert(k.clone(), v.clone());
            }
        }
        normalise(e, &mut data);
        // A note's creation time may be set, in the past or the future (Notes API, "Add a note").
        let added = match (e, body.get("add_time").and_then(Value::as_str)) {
            (Entity::Notes, Some(t)) => {
                chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
                    .map(|t| t.and_utc())
                    .map_err(|_| invalid("add_time", "must be in YYYY-MM-DD HH:MM:SS format"))?
            }
            _ => at,
        };
        let (seq, id) = self.new_id(e);
        let row = Row {
            id: id.clone(),
            data,
            add_time: added,
            update_time: at,
            indexed: None,
            pending: None,
        };
        let lag = self.search_lag;
        if let Some(t) = self.table_mut(e) {
            t.by_id.insert(id.clone(), seq);
            t.rows.insert(seq, row);
        }
        self.index_write(e, &id, lag);
        Ok(id)
    }

    /// Applies a partial update (PATCH in v2 and for leads, PUT for notes).
    pub(crate) fn update(
        &mut self,
        e: Entity,
        id: &str,
        body: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        if self.get(e, id).is_none() {
            return Err(ApiError::not_found(e.singular()));
        }
        self.validate(e, body, false)?;
        let lag = self.search_lag;
        let Some(row) = self
            .table_mut(e)
            .and_then(|t| t.by_id.get(id).copied().and_then(|s| t.rows.get_mut(&s)))
        else {
            return Err(ApiError::not_found(e.singular()));
        };
        for (k, v) in body {
            if k == "custom_fields" {
                let into = row
                    .data
                    .entry("custom_fields")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Some(into), Some(from)) = (into.as_object_mut(), v.as_object()) {
                    into.extend(from.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            } else if k != "add_time" && k != "update_time" {
                row.data.insert(k.clone(), v.clone());
            }
        }
        normalise(e, &mut row.data);
        row.update_time = at;
        self.index_write(e, id, lag);
        Ok(())
    }

    /// Deletes a record.
    pub(crate) fn delete(&mut self, e: Entity, id: &str) -> Result<(), ApiError> {
        let t = self
            .table_mut(e)
            .ok_or_else(|| ApiError::not_found(e.singular()))?;
        let seq = t
            .by_id
            .remove(id)
            .ok_or_else(|| ApiError::not_found(e.singular()))?;
        t.rows.remove(&seq);
        Ok(())
    }

    fn index_write(&mut self, e: Entity, id: &str, lag: Duration) {
        let Some(row) = self
            .table_mut(e)
            .and_then(|t| t.by_id.get(id).copied().and_then(|s| t.rows.get_mut(&s)))
        else {
            return;
        };
        if lag.is_zero() {
            row.indexed = Some(row.data.clone());
            row.pending = None;
        } else {
            row.pending = Some((Instant::now() + lag, row.data.clone()));
        }
    }

    /// Makes due writes visible to search (`all`: every pending write).
    pub(crate) fn refresh_index(&mut self, all: bool) {
        let now = Instant::now();
        for t in &mut self.tables {
            for row in t.rows.values_mut() {
                if row
                    .pending
                    .as_ref()
                    .is_some_and(|(at, _)| all || *at <= now)
                {
                    row.indexed = row.pending.take().map(|(_, d)| d);
                }
            }
        }
    }

    /// What search sees of every record of `e`: `(id, indexed data)`.
    pub(crate) fn indexed(&self, e: Entity) -> Vec<(&Row, &Map<String, Value>)> {
        self.rows(e)
            .filter_map(|r| r.indexed.as_ref().map(|d| (r, d)))
            .collect()
    }

    /// A record as the API returns it.
    pub(crate) fn render(&self, e: Entity, row: &Row) -> Value {
        let mut out = Map::new();
        let id = if e == Entity::Leads {
            json!(row.id)
        } else {
            row.id
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(json!(row.id))
        };
        out.insert("id".into(), id);
        let mut data = row.data.clone();
        if e.is_v2() {
            // Every custom field of the entity is listed, unset ones as null.
            let mut cf = data
                .remove("custom_fields")
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            for f in self.field_keys(e) {
                cf.entry(f.key.clone()).or_insert(Value::Null);
            }
            out.extend(data);
            out.insert("custom_fields".into(), Value::Object(cf));
            out.insert("add_time".into(), json!(v2_time(row.add_time)));
            out.insert("update_time".into(), json!(v2_time(row.update_time)));
            out.insert("is_deleted".into(), json!(false));
        } else {
            for f in self.field_keys(e) {
                data.entry(f.key.clone()).or_insert(Value::Null);
            }
            out.extend(data);
            if e == Entity::Leads {
                // Leads write ISO 8601 with milliseconds and `Z`.
                let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
                out.insert("add_time".into(), json!(iso(row.add_time)));
                out.insert("update_time".into(), json!(iso(row.update_time)));
            } else {
                out.insert("add_time".into(), json!(v1_time(row.add_time)));
                out.insert("update_time".into(), json!(v1_time(row.update_time)));
                out.insert("active_flag".into(), json!(true));
                self.note_relations(&mut out);
            }
        }
        Value::Object(out)
    }

    /// Notes carry the names of what they are attached to (`person.name`, `deal.title`, …).
    fn note_relations(&self, out: &mut Map<String, Value>) {
        let name_of = |e: Entity, key: &str, field: &str| -> Option<Value> {
            let id = out.get(key)?;
            let id = id
                .as_u64()
                .map(|n| n.to_string())
                .or(id.as_str().map(str::to_owned))?;
            let row = self.get(e, &id)?;
            Some(json!({ field: row.data.get(field).cloned().unwrap_or(Value::Null) }))
        };
        let rel = [
            ("person", name_of(Entity::Persons, "person_id", "name")),
            (
                "organization",
                name_of(Entity::Organizations, "org_id", "name"),
            ),
            ("deal", name_of(Entity::Deals, "deal_id", "title")),
        ];
        for (k, v) in rel {
            out.insert(k.into(), v.unwrap_or(Value::Null));
        }
    }
}

/// What Pipedrive fills in on create.
fn defaults(e: Entity) -> Map<String, Value> {
    let v = match e {
        Entity::Persons => json!({"owner_id": 1, "org_id": null, "emails": [], "phones": [],
            "visible_to": 3, "label_ids": [], "first_name": null, "last_name": null}),
        Entity::Organizations => json!({"owner_id": 1, "visible_to": 3, "label_ids": [],
            "address": null}),
        Entity::Deals => json!({"owner_id": 1, "person_id": null, "org_id": null,
            "pipeline_id": 1, "stage_id": 1, "value": 0, "currency": "USD", "status": "open",
            "probability": null, "lost_reason": null, "visible_to": 3, "close_time": null,
            "won_time": null, "lost_time": null, "expected_close_date": null, "label_ids": [],
            "is_archived": false}),
        Entity::Activities => json!({"subject": null, "type": "task", "owner_id": 1,
            "creator_user_id": 1, "deal_id": null, "lead_id": null, "person_id": null,
            "org_id": null, "due_date": null, "due_time": null, "duration": null, "busy": false,
            "done": false, "participants": [], "note": null, "public_description": null}),
        Entity::Leads => json!({"owner_id": 1, "creator_id": 1, "label_ids": [],
            "person_id": null, "organization_id": null, "source_name": "API", "origin": "API",
            "is_archived": false, "was_seen": false, "value": null,
            "expected_close_date": null, "visible_to": "3"}),
        Entity::Notes => json!({"user_id": 1, "deal_id": null, "person_id": null,
            "org_id": null, "lead_id": null, "pinned_to_deal_flag": false,
            "pinned_to_person_flag": false, "pinned_to_organization_flag": false}),
    };
    v.as_object().cloned().unwrap_or_default()
}

/// Derived fields Pipedrive keeps in step with what was written.
fn normalise(e: Entity, data: &mut Map<String, Value>) {
    match e {
        Entity::Persons => {
            // `name` is the one written field; `first_name` and `last_name` are read-only parts
            // of it: the first word, and the rest.
            if let Some(name) = data.get("name").and_then(Value::as_str).map(str::to_owned) {
                let (first, last) = match name.trim().split_once(' ') {
                    Some((f, l)) => (f.to_owned(), l.to_owned()),
                    None => (name.trim().to_owned(), String::new()),
                };
                data.insert("first_name".into(), json!(first));
                data.insert(
                    "last_name".into(),
                    if last.is_empty() {
                        Value::Null
                    } else {
                        json!(last)
                    },
                );
            }
            // One primary email and phone: the first, unless one is marked.
            for k in ["emails", "phones"] {
                if let Some(items) = data.get_mut(k).and_then(Value::as_array_mut) {
                    let marked = items.iter().any(|i| i.get("primary") == Some(&json!(true)));
                    for (n, item) in items.iter_mut().enumerate() {
                        if let Some(o) = item.as_object_mut() {
                            o.entry("label").or_insert(json!("work"));
                            let primary =
                                o.get("primary") == Some(&json!(true)) || (!marked && n == 0);
                            o.insert("primary".into(), json!(primary));
                        }
                    }
                }
            }
        }
        Entity::Activities => {
            // The primary participant is the activity's person.
            let person = data.get("person_id").cloned().filter(|v| !v.is_null());
            let listed = data
                .get("participants")
                .and_then(Value::as_array)
                .is_some_and(|p| !p.is_empty());
            if let (Some(p), false) = (person.clone(), listed) {
                data.insert(
                    "participants".into(),
                    json!([{"person_id": p, "primary": true}]),
                );
            }
            if person.is_none() {
                let primary = data
                    .get("participants")
                    .and_then(Value::as_array)
                    .and_then(|ps| {
                        ps.iter()
                            .find(|p| p.get("primary") == Some(&json!(true)))
                            .or(ps.first())
                    })
                    .and_then(|p| p.get("person_id").cloned());
                if let Some(p) = primary {
                    data.insert("person_id".into(), p);
                }
            }
            if data.get("subject").is_none_or(Value::is_null) {
                let t = data.get("type").and_then(Value::as_str).unwrap_or("task");
                let mut c = t.chars();
                let s: String = c
                    .next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default();
                data.insert("subject".into(), json!(s));
            }
        }
        Entity::Deals => {
            let status = data.get("status").and_then(Value::as_str).unwrap_or("open");
            if status == "open" {
                for k in ["close_time", "won_time", "lost_time"] {
                    data.insert(k.into(), Value::Null);
                }
            }
        }
        _ => {}
    }
}

fn check_labelled(v: Option<&Value>, field: &str) -> Result<(), ApiError> {
    let Some(v) = v else { return Ok(()) };
    let ok = v.as_array().is_some_and(|items| {
        items.iter().all(|i| {
            i.get("value").is_some_and(Value::is_string)
                && matches!(i.get("primary"), None | Some(Value::Bool(_)))
                && matches!(i.get("label"), None | Some(Value::String(_)))
        })
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            "must be an array of {value, primary, label} objects",
        ))
    }
}

fn check_date(v: Option<&Value>, field: &str) -> Result<(), ApiError> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => Ok(()),
        Some(_) => Err(invalid(field, "must be a date in YYYY-MM-DD format")),
    }
}
