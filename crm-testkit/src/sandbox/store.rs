//! The sandbox's records and every rule about writing them (types, required fields, formats,
//! enums, links, uniqueness). HTTP concerns live in `routes`; this module only knows JSON maps.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::error::{ApiError, names};
use super::schema::{self, FieldSpec, Kind, OBJECTS, ObjectSpec, READ_ONLY};

/// One stored record. Only fields with a value are kept; rendering fills in the nulls.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) id: String,
    /// Creation order across the whole store: the default sort and the tie-breaker.
    pub(crate) seq: u64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) fields: Map<String, Value>,
}

/// Server timestamps: RFC 3339 UTC with milliseconds, so they also sort as strings.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Record {
    /// The value of `name` as the API shows it (`Null` when unset or unknown).
    pub(crate) fn value(&self, name: &str) -> Value {
        match name {
            "id" => Value::String(self.id.clone()),
            "created_at" => Value::String(timestamp(self.created_at)),
            "updated_at" => Value::String(timestamp(self.updated_at)),
            other => self.fields.get(other).cloned().unwrap_or(Value::Null),
        }
    }

    /// The flat JSON record with every known field present.
    pub(crate) fn render(&self, spec: &ObjectSpec) -> Value {
        let mut out = Map::new();
        for name in READ_ONLY {
            out.insert(name.to_owned(), self.value(name));
        }
        for field in spec.fields {
            out.insert(field.name.to_owned(), self.value(field.name));
        }
        Value::Object(out)
    }
}

/// The records of one object, in creation order.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) spec: &'static ObjectSpec,
    next_number: u64,
    pub(crate) records: Vec<Record>,
    by_id: HashMap<String, usize>,
}

impl Table {
    fn new(spec: &'static ObjectSpec) -> Self {
        Self {
            spec,
            next_number: spec.first_number,
            records: Vec::new(),
            by_id: HashMap::new(),
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Record> {
        self.by_id.get(id).and_then(|&i| self.records.get(i))
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Record> {
        let i = *self.by_id.get(id)?;
        self.records.get_mut(i)
    }

    /// The oldest record whose `field` equals `value` under the field's comparison rules.
    fn find_by(&self, field: &FieldSpec, value: &str) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| match r.fields.get(field.name) {
                Some(Value::String(s)) => same_unique_value(field.kind, s, value),
                _ => false,
            })
    }
}

/// Unique values compare exactly, except emails, which are case-insensitive.
fn same_unique_value(kind: Kind, a: &str, b: &str) -> bool {
    match kind {
        Kind::Email => a.to_lowercase() == b.to_lowercase(),
        _ => a == b,
    }
}

/// Whether a write creates a record or changes an existing one.
enum Mode<'a> {
    Create,
    Update(&'a Record),
}

/// All records plus the bits of server state that outlive a request.
#[derive(Debug)]
pub(crate) struct Store {
    tables: Vec<Table>,
    seq: u64,
    /// Last timestamp handed out; see [`Store::tick`].
    clock: Option<DateTime<Utc>>,
    /// `(object path, Idempotency-Key header)` → id of the record the first POST created.
    replays: HashMap<(&'static str, String), String>,
    /// Change events not yet taken by a webhook emitter, oldest first.
    pub(crate) changes: Vec<Value>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub(crate) fn new() -> Self {
        Self {
            tables: OBJECTS.iter().map(Table::new).collect(),
            seq: 0,
            clock: None,
            replays: HashMap::new(),
            changes: Vec::new(),
        }
    }

    pub(crate) fn table(&self, object: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.spec.path == object)
    }

    fn table_mut(&mut self, object: &str) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| t.spec.path == object)
    }

    /// The rendered record, if it exists.
    pub(crate) fn get(&self, object: &str, id: &str) -> Option<Value> {
        let table = self.table(object)?;
        table.get(id).map(|r| r.render(table.spec))
    }

    /// A fresh timestamp, strictly after every earlier one: `updated_since` and
    /// `sort=updated_at` stay exact even when several writes land in the same millisecond.
    fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let t = match self.clock {
            Some(last) if now <= last => last + TimeDelta::milliseconds(1),
            _ => now,
        };
        self.clock = Some(t);
        t
    }

    /// The record a previous POST with this `Idempotency-Key` created.
    pub(crate) fn replayed(&self, object: &str, key: &str) -> Option<Value> {
        let table = self.table(object)?;
        let id = self.replays.get(&(table.spec.path, key.to_owned()))?;
        self.get(object, id)
    }

    /// Remembers which record a POST with this `Idempotency-Key` created.
    pub(crate) fn remember(&mut self, object: &'static str, key: &str, id: &str) {
        self.replays.insert((object, key.to_owned()), id.to_owned());
    }

    /// Creates a record from a JSON body; returns it rendered.
    pub(crate) fn create(
        &mut self,
        object: &str,
        body: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let spec = self
            .table(object)
            .map(|t| t.spec)
            .ok_or_else(|| ApiError::not_found("object"))?;
        let fields = self.check_write(spec, body, Mode::Create)?;
        let now = self.tick();
        self.seq += 1;
        let seq = self.seq;
        let table = self
            .table_mut(object)
            .ok_or_else(|| ApiError::not_found("object"))?;
        let id = format!("{}-{}", spec.prefix, table.next_number);
        table.next_number += 1;
        let record = Record {
            id: id.clone(),
            seq,
            created_at: now,
            updated_at: now,
            fields: fields.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        };
        let rendered = record.render(spec);
        table.by_id.insert(id.clone(), table.records.len());
        table.records.push(record);
        self.log_change("created", spec.singular, &id, now, &[]);
        Ok(rendered)
    }

    /// Partially updates a record (`null` clears a field); returns it rendered.
    pub(crate) fn patch(
        &mut self,
        object: &str,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let table = self
            .table(object)
            .ok_or_else(|| ApiError::not_found("object"))?;
        let spec = table.spec;
        let existing = table
            .get(id)
            .ok_or_else(|| ApiError::not_found(spec.singular))?;
        let changes = self.check_write(spec, body, Mode::Update(existing))?;
        let changed = changes
            .iter()
            .any(|(k, v)| existing.fields.get(k).unwrap_or(&Value::Null) != v);
        // Only real changes move updated_at, so a no-op PATCH does not show up in syncs.
        let now = if changed { Some(self.tick()) } else { None };
        let record = self
            .table_mut(object)
            .and_then(|t| t.get_mut(id))
            .ok_or_else(|| ApiError::not_found(spec.singular))?;
        let changes_list: Vec<(String, bool)> = changes
            .iter()
            .map(|(k, v)| (k.clone(), existing_differs(record, k, v)))
            .collect();
        for (k, v) in changes {
            if v.is_null() {
                record.fields.remove(&k);
            } else {
                record.fields.insert(k, v);
            }
        }
        let changed_fields: Vec<String> = changes_names(&changes_list);
        if let Some(now) = now {
            record.updated_at = now;
        }
        let rendered = record.render(spec);
        if let Some(now) = now {
            self.log_change("updated", spec.singular, id, now, &changed_fields);
        }
        Ok(rendered)
    }

    /// Appends a change event in the sandbox's webhook format (SANDBOX_API.md, "Webhooks").
    fn log_change(
        &mut self,
        change: &str,
        object: &str,
        id: &str,
        at: DateTime<Utc>,
        fields: &[String],
    ) {
        self.seq += 1;
        let mut event = serde_json::json!({
            "event_id": format!("ev-{}", self.seq),
            "type": change,
            "object": object,
            "id": id,
            "occurred_at": timestamp(at),
        });
        if change == "updated"
            && let Some(obj) = event.as_object_mut()
        {
            obj.insert("changed_fields".into(), serde_json::json!(fields));
        }
        self.changes.push(event);
    }

    /// Upsert on a unique field: `Ok((true, record))` when created, `(false, record)` when
    /// updated. The caller has checked that `field` is a unique field and absent from `body`.
    pub(crate) fn upsert(
        &mut self,
        object: &str,
        field: &FieldSpec,
        value: &str,
        body: &Map<String, Value>,
    ) -> Result<(bool, Value), ApiError> {
        let table = self
            .table(object)
            .ok_or_else(|| ApiError::not_found("object"))?;
        match table.find_by(field, value).map(|r| r.id.clone()) {
            Some(id) => Ok((false, self.patch(object, &id, body)?)),
            None => {
                let mut with_key = body.clone();
                with_key.insert(field.name.to_owned(), Value::String(value.to_owned()));
                Ok((true, self.create(object, &with_key)?))
            }
        }
    }

    /// Validates a write and returns the normalised changes (`Null` = clear the field).
    ///
    /// Checks run in a fixed order so a client sees the cheapest-to-fix problem first:
    /// 400 unknown/read-only fields, 400 wrong JSON types, 422 field problems (all of them at
    /// once), then 409 uniqueness.
    fn check_write(
        &self,
        spec: &'static ObjectSpec,
        body: &Map<String, Value>,
        mode: Mode<'_>,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut bad: Vec<(String, &'static str)> = Vec::new();
        for key in body.keys() {
            if READ_ONLY.contains(&key.as_str()) {
                bad.push((key.clone(), "read_only"));
            } else if spec.field(key).is_none() {
                bad.push((key.clone(), "unknown_field"));
            }
        }
        if !bad.is_empty() {
            let message = format!("fields that cannot be written: {}", names(&bad));
            return Err(ApiError::new(400, "unknown_field", message).with_fields(bad));
        }

        let wrong_type: Vec<(String, &'static str)> = body
            .iter()
            .filter(|(k, v)| {
                let expects_number = spec.field(k).is_some_and(|f| f.kind == Kind::Number);
                match v {
                    Value::Null => false,
                    Value::Number(_) => !expects_number,
                    Value::String(_) => expects_number,
                    _ => true,
                }
            })
            .map(|(k, _)| (k.clone(), "invalid_type"))
            .collect();
        if !wrong_type.is_empty() {
            let message = format!(
                "fields with a value of the wrong type: {}",
                names(&wrong_type)
            );
            return Err(ApiError::new(400, "invalid_type", message).with_fields(wrong_type));
        }

        let is_create = matches!(mode, Mode::Create);
        let mut changes = Map::new();
        let mut problems: Vec<(String, &'static str)> = Vec::new();
        for field in spec.fields {
            let given = body.get(field.name);
            let blank = match given {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.trim().is_empty(),
                Some(_) => false,
            };
            // A create must supply required fields; an update only must not blank them.
            let touched = is_create || given.is_some();
            if field.required && touched && blank {
                problems.push((field.name.to_owned(), "required"));
                continue;
            }
            let Some(value) = given else {
                if let (true, Some(default)) = (is_create, field.default) {
                    changes.insert(field.name.to_owned(), Value::String(default.to_owned()));
                }
                continue;
            };
            if value.is_null() {
                match (is_create, field.default) {
                    (true, Some(default)) => {
                        changes.insert(field.name.to_owned(), Value::String(default.to_owned()));
                    }
                    // A defaulted field always has a value; clearing it is like clearing a required one.
                    (false, Some(_)) => problems.push((field.name.to_owned(), "required")),
                    _ => {
                        changes.insert(field.name.to_owned(), Value::Null);
                    }
                }
                continue;
            }
            match self.check_value(field, value) {
                Ok(v) => {
                    changes.insert(field.name.to_owned(), v);
                }
                Err(code) => problems.push((field.name.to_owned(), code)),
            }
        }
        if !problems.is_empty() {
            return Err(unprocessable(problems));
        }

        let own_id = match mode {
            Mode::Create => None,
            Mode::Update(r) => Some(r.id.as_str()),
        };
        if let Some(table) = self.table(spec.path) {
            for field in spec.fields.iter().filter(|f| f.unique) {
                let Some(Value::String(v)) = changes.get(field.name) else {
                    continue;
                };
                if let Some(other) = table
                    .records
                    .iter()
                    .filter(|r| Some(r.id.as_str()) != own_id)
                    .find(|r| matches!(r.fields.get(field.name), Some(Value::String(s)) if same_unique_value(field.kind, s, v)))
                {
                    return Err(ApiError::duplicate(field.name, &other.id));
                }
            }
        }
        Ok(changes)
    }

    /// Checks one non-null value of the right JSON type; returns it normalised or the
    /// per-field error code.
    fn check_value(&self, field: &FieldSpec, value: &Value) -> Result<Value, &'static str> {
        let Value::String(s) = value else {
            // Only numbers get here as non-strings, and the type check already vetted them.
            return Ok(value.clone());
        };
        match field.kind {
            Kind::Text | Kind::Phone | Kind::Number => Ok(value.clone()),
            Kind::Email if s.contains('@') => Ok(value.clone()),
            Kind::Email => Err("invalid_format"),
            Kind::Date => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|_| value.clone())
                .map_err(|_| "invalid_format"),
            // Stored in the server's own format so sorting by these fields is chronological.
            Kind::DateTime => DateTime::parse_from_rfc3339(s)
                .map(|t| Value::String(timestamp(t.with_timezone(&Utc))))
                .map_err(|_| "invalid_format"),
            Kind::Enum(allowed) if allowed.contains(&s.as_str()) => Ok(value.clone()),
            Kind::Enum(_) => Err("invalid_value"),
            Kind::Link(target) => match self.table(target) {
                Some(t) if t.get(s).is_some() => Ok(value.clone()),
                _ => Err("invalid_reference"),
            },
        }
    }
}

/// The 422 for a set of field problems. The top-level code is the most basic problem present
/// (required, then format, value, reference); every field keeps its own code.
fn unprocessable(problems: Vec<(String, &'static str)>) -> ApiError {
    let order = [
        "required",
        "invalid_format",
        "invalid_value",
        "invalid_reference",
    ];
    let code = order
        .into_iter()
        .find(|c| problems.iter().any(|(_, p)| p == c))
        .unwrap_or("invalid_value");
    let message = match code {
        "required" => format!("required fields are missing: {}", names(&problems)),
        "invalid_format" => format!(
            "fields are not in the expected format: {}",
            names(&problems)
        ),
        "invalid_reference" => format!("linked records do not exist: {}", names(&problems)),
        _ => format!(
            "fields have a value that is not allowed: {}",
            names(&problems)
        ),
    };
    ApiError::new(422, code, message).with_fields(problems)
}

/// The spec of a unique field that can serve as an upsert key on `object`.
pub(crate) fn upsert_key(object: &str, field: &str) -> Option<&'static FieldSpec> {
    schema::object(object)?.field(field).filter(|f| f.unique)
}

fn existing_differs(record: &Record, field: &str, value: &Value) -> bool {
    record.fields.get(field).unwrap_or(&Value::Null) != value
}

fn changes_names(list: &[(String, bool)]) -> Vec<String> {
    list.iter()
        .filter(|(_, d)| *d)
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn timestamps_strictly_increase() {
        let mut s = Store::new();
        let a = s.tick();
        let b = s.tick();
        assert!(b > a);
    }

    #[test]
    fn create_fills_defaults_and_nulls() {
        let mut s = Store::new();
        let t = s
            .create("tickets", &body(json!({"subject": "Broken"})))
            .unwrap();
        assert_eq!(t["status"], "new");
        assert_eq!(t["priority"], Value::Null);
        assert_eq!(t["id"], "t-5001");
    }

    #[test]
    fn problems_are_all_reported() {
        let mut s = Store::new();
        let e = s
            .create(
                "opportunities",
                &body(json!({"stage": "maybe", "close_date": "soon"})),
            )
            .unwrap_err();
        assert_eq!(e.status, 422);
        assert_eq!(e.code, "required");
        assert_eq!(e.fields.len(), 3);
    }
}
