//! Pipedrive's JSON, and the flat view the mapping reads and writes.
//!
//! Pipedrive wraps every answer in `{success, data, additional_data}` (its "Responses" page).
//! Its records nest what the mapping wants flat: emails and phones are arrays of
//! `{value, primary, label}`, API v2 keeps custom fields in a `custom_fields` object keyed by
//! 40-character hashes (API v1, which leads still use, keeps them as top-level keys), an
//! activity's due moment is a `due_date` plus a `due_time` in UTC. [`to_flat`] lifts a record into
//! one level — `email`/`phone` are the primary entries, the hashes sit beside the standard
//! fields (they cannot collide: no standard field is 40 hex digits) — and [`from_flat`] puts a
//! flat write back into Pipedrive's shape.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use crm_core::raw::{IdShape, VendorRecord, json};
use crm_core::reexports::serde_json::{Map, Value, json};
use crm_core::{Error, ObjectKind, RecordId, Result};
use serde::Deserialize;

/// Pipedrive's entities behind the adapter's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    /// Persons (contacts), API v2.
    Persons,
    /// Organizations (accounts), API v2.
    Organizations,
    /// Deals (opportunities), API v2.
    Deals,
    /// Activities (tasks, calls), API v2.
    Activities,
    /// Leads, API v1 (UUID ids).
    Leads,
    /// Notes (notes and conversation logs), API v1.
    Notes,
}

impl Entity {
    /// Every entity.
    pub const ALL: [Entity; 6] = [
        Entity::Persons,
        Entity::Organizations,
        Entity::Deals,
        Entity::Activities,
        Entity::Leads,
        Entity::Notes,
    ];

    /// The collection's path, one record's name (in messages, and a webhook's `meta.entity`)
    /// and the kind it holds.
    fn row(self) -> (&'static str, &'static str, ObjectKind) {
        match self {
            Entity::Persons => ("/api/v2/persons", "person", ObjectKind::Contact),
            Entity::Organizations => ("/api/v2/organizations", "organization", ObjectKind::Account),
            Entity::Deals => ("/api/v2/deals", "deal", ObjectKind::Opportunity),
            Entity::Activities => ("/api/v2/activities", "activity", ObjectKind::Activity),
            Entity::Leads => ("/api/v1/leads", "lead", ObjectKind::Lead),
            Entity::Notes => ("/api/v1/notes", "note", ObjectKind::Activity),
        }
    }

    /// The collection's path: `/api/v2/persons`, `/api/v1/leads`, ….
    pub fn path(self) -> &'static str {
        self.row().0
    }

    /// API v2 (cursor paging, `custom_fields` object, RFC 3339 times) rather than v1.
    pub fn is_v2(self) -> bool {
        self.path().starts_with("/api/v2/")
    }

    /// One record's name: `person`, `lead`, ….
    pub fn noun(self) -> &'static str {
        self.row().1
    }

    /// The adapter's object kind it holds (activities and notes are both `Activity`).
    pub fn kind(self) -> ObjectKind {
        self.row().2
    }
}

/// Every answer's envelope: `data` is the record, the list, or (search) `{items}`;
/// `additional_data` pages by `next_cursor` (v2) or `pagination` (v1).
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// The record, the list, or `{items}`.
    #[serde(default)]
    pub data: Value,
    /// Paging.
    #[serde(default)]
    pub additional_data: Value,
}

impl Envelope {
    /// The cursor of the next page, whichever paging the entity uses (v1 offsets as text).
    ///
    /// A paging field of the wrong type is a decode error naming it: read as "no next page", it
    /// would end the listing early without a word.
    pub fn next(&self) -> Result<Option<String>> {
        let a = &self.additional_data;
        let cursor = json::opt_str(a.get("next_cursor"), "additional_data.next_cursor")?;
        if let Some(c) = cursor.filter(|c| !c.is_empty()) {
            return Ok(Some(c.to_owned()));
        }
        let p = a.get("pagination").unwrap_or(&Value::Null);
        let more = p.get("more_items_in_collection");
        if json::opt_bool(more, "additional_data.pagination.more_items_in_collection")?
            != Some(true)
        {
            return Ok(None);
        }
        match json::opt_u64(p.get("next_start"), "additional_data.pagination.next_start")? {
            Some(n) => Ok(Some(n.to_string())),
            None => Err(Error::decode(
                "field `additional_data.pagination.next_start`: missing, while \
                 `more_items_in_collection` says there are more records",
            )),
        }
    }

    /// The records of a listing (`data`, a list; `null` when API v1 has none), or of a search
    /// (`data.items[].item`). Anything else is a decode error naming where it went wrong.
    pub fn records(self) -> Result<Vec<Value>> {
        let Value::Object(mut o) = self.data else {
            return json::objects(self.data, "data");
        };
        let items = match o.remove("items") {
            Some(Value::Array(items)) => items,
            Some(other) => return Err(json::wrong_type("data.items", "a list", &other)),
            None => {
                let found = Value::Object(o);
                return Err(json::wrong_type("data", "a list of records", &found));
            }
        };
        let hits = items.into_iter().enumerate().map(|(i, mut hit)| {
            let missing = || Error::decode(format!("field `data.items[{i}].item`: missing"));
            hit.get_mut("item").map(Value::take).ok_or_else(missing)
        });
        json::objects(Value::Array(hits.collect::<Result<_>>()?), "data.items")
    }
}

/// Whether `raw` can be the id of a record of `entity`, checked before it goes into a path.
///
/// Pipedrive's API reference types the `id` path parameter as an integer for persons,
/// organizations, deals, activities and notes, and as a `string <uuid>` for leads
/// ([`IdShape::check`]: another shape is `NotFound` without a request, a dot segment
/// `InvalidInput`).
pub fn check_id(entity: Entity, raw: &str) -> Result<()> {
    let shape = match entity {
        Entity::Leads => IdShape::Uuid,
        _ => IdShape::Digits,
    };
    shape.check("Pipedrive", entity.noun(), raw)
}

/// Whether `key` is a custom field's key: 40 hexadecimal digits.
pub fn is_custom_key(key: &str) -> bool {
    key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads a Pipedrive time: RFC 3339 (v2, leads) or `YYYY-MM-DD HH:MM:SS` in UTC (v1).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let v1 = || NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok();
    let v2 = DateTime::parse_from_rfc3339(s).ok();
    v2.map(|t| t.with_timezone(&Utc))
        .or_else(|| Some(v1()?.and_utc()))
}

/// The primary entry's value of `key` (`emails`, `phones`: lists of `{value, primary,
/// label}`); absent or `null` is none, another type a decode error naming `key`.
fn primary(o: &Map<String, Value>, key: &str) -> Result<Value> {
    let items = match o.get(key) {
        None | Some(Value::Null) => return Ok(Value::Null),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(json::wrong_type(key, "a list of `{value, primary}`", other)),
    };
    let primary = items
        .iter()
        .find(|i| i.get("primary") == Some(&Value::Bool(true)));
    let value = primary.or(items.first()).and_then(|i| i.get("value"));
    Ok(value.cloned().unwrap_or_default())
}

/// The mapping target of a record of `entity` with these `fields`: an activity's is its
/// `type`.
fn target_of(entity: Entity, fields: &Map<String, Value>) -> &'static str {
    match entity {
        Entity::Notes => "note",
        Entity::Activities if fields.get("type").and_then(Value::as_str) == Some("call") => "call",
        Entity::Activities => "task",
        e => e.kind().as_str(),
    }
}

/// A record as Pipedrive returns it → a vendor record in the flat view, of its target.
pub fn to_flat(entity: Entity, record: Value) -> Result<VendorRecord> {
    let mut o = match record {
        Value::Object(o) => o,
        other => return Err(json::wrong_type("data", "a record (a JSON object)", &other)),
    };
    let id = json::id_text(o.get("id"), "id")?;
    let time = |k: &str| o.get(k).and_then(Value::as_str).and_then(parse_time);
    let (created, updated) = (time("add_time"), time("update_time"));
    let mut fields = Map::new();
    if let Some(Value::Object(cf)) = o.remove("custom_fields") {
        fields.extend(cf);
    }
    match entity {
        Entity::Persons => {
            let (email, phone) = (primary(&o, "emails")?, primary(&o, "phones")?);
            fields.insert("email".into(), email);
            fields.insert("phone".into(), phone);
        }
        Entity::Leads => {
            let value = o.remove("value").unwrap_or(Value::Null);
            for (k, part) in [("value", "amount"), ("currency", "currency")] {
                fields.insert(k.into(), value.get(part).cloned().unwrap_or(Value::Null));
            }
        }
        Entity::Activities => {
            let at = |k: &str| o.get(k).and_then(Value::as_str);
            let time = at("due_time").and_then(|t| NaiveTime::parse_from_str(t, "%H:%M").ok());
            let due = at("due_date")
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .map(|d| d.and_time(time.unwrap_or(NaiveTime::MIN)).and_utc());
            let due = due.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true));
            fields.insert("due".into(), due.map_or(Value::Null, Value::String));
            let done = o.get("done").and_then(Value::as_bool).unwrap_or(false);
            fields.insert("done".into(), json!(done.to_string()));
        }
        _ => {}
    }
    for (k, v) in o {
        if matches!(k.as_str(), "id" | "done" | "add_time" | "update_time") {
            continue;
        }
        // Links are ids: kept as text, as the model's record ids are.
        let v = match (k.ends_with("_id"), &v) {
            (true, Value::Number(n)) => Value::String(n.to_string()),
            _ => v,
        };
        fields.entry(k).or_insert(v);
    }
    let target = target_of(entity, &fields);
    let mut r = VendorRecord::new(RecordId::new(id)?, target, json::to_fields(&fields));
    (r.created_at, r.updated_at) = (created, updated);
    Ok(r)
}

/// `v` as a `T` (a link's integer id, an amount) when it is text that reads as one: the model
/// holds them as text, Pipedrive wants numbers.
fn parsed<T: std::str::FromStr + Into<Value>>(v: Value) -> Value {
    match &v {
        Value::String(s) => s.parse::<T>().map(Into::into).unwrap_or(v),
        _ => v,
    }
}

/// A flat write → the body Pipedrive takes. `creating` adds what a create needs.
pub fn from_flat(entity: Entity, flat: Map<String, Value>, creating: bool) -> Result<Value> {
    let mut body = Map::new();
    let (custom, mut flat): (Map<String, Value>, Map<String, Value>) =
        flat.into_iter().partition(|(k, _)| is_custom_key(k));
    match entity {
        Entity::Persons => {
            // Pipedrive keeps one name; first and last name are read-only parts of it.
            let first = flat.remove("first_name").filter(|v| !v.is_null());
            let last = flat.remove("last_name").filter(|v| !v.is_null());
            if first.is_some() || last.is_some() {
                if !creating && (first.is_none() || last.is_none()) {
                    return Err(Error::invalid_input(
                        "Pipedrive keeps a person's name as one field: update first_name and last_name together",
                    ));
                }
                let parts = [&first, &last].map(|p| p.as_ref().and_then(Value::as_str));
                let parts: Vec<&str> = parts.into_iter().flatten().collect();
                body.insert("name".into(), json!(parts.join(" ")));
            }
            // Pipedrive stores what it is given; an address that cannot be one is refused here.
            if let Some(e) = flat.get("email").and_then(Value::as_str) {
                crm_core::Email::parse(e).map_err(|_| {
                    let code = Some("INVALID_EMAIL".into());
                    let fields = vec![crm_core::FieldError::new("email", code)];
                    Error::new(
                        crm_core::ErrorKind::Validation { fields },
                        "the email is not an address (no local part, `@` and domain)",
                    )
                })?;
            }
            for (k, label) in [("email", "emails"), ("phone", "phones")] {
                let entry = |v| json!([{"value": v, "primary": true, "label": "work"}]);
                if let Some(v) = flat.remove(k) {
                    body.insert(label.into(), if v.is_null() { json!([]) } else { entry(v) });
                }
            }
        }
        Entity::Leads => {
            let (amount, currency) = (flat.remove("value"), flat.remove("currency"));
            if let Some(a) = amount.filter(|a| !a.is_null()) {
                let currency = currency.unwrap_or(json!("USD"));
                body.insert(
                    "value".into(),
                    json!({"amount": parsed::<f64>(a), "currency": currency}),
                );
            }
        }
        Entity::Activities => {
            if let Some(due) = flat.remove("due") {
                let t = due.as_str().and_then(parse_time);
                let part = |f| t.map_or(Value::Null, |t| json!(t.format(f).to_string()));
                body.insert("due_date".into(), part("%Y-%m-%d"));
                body.insert("due_time".into(), part("%H:%M"));
            }
            if let Some(done) = flat.remove("done") {
                let done = matches!(&done, Value::Bool(true)) || done.as_str() == Some("true");
                body.insert("done".into(), json!(done));
            }
        }
        Entity::Deals => {
            if let Some(v) = flat.remove("value") {
                flat.insert("value".into(), parsed::<f64>(v));
            }
        }
        _ => {}
    }
    for (k, v) in flat {
        let v = if k.ends_with("_id") {
            parsed::<u64>(v)
        } else {
            v
        };
        body.insert(k, v);
    }
    if !custom.is_empty() {
        if entity.is_v2() {
            body.insert("custom_fields".into(), Value::Object(custom));
        } else {
            body.extend(custom);
        }
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "7bafbfca0119ceac54fa031aa2433d0b918d1c56";

    /// A record's flat view, and its fields as JSON.
    fn flat(entity: Entity, record: Value) -> (VendorRecord, Map<String, Value>) {
        let r = to_flat(entity, record).unwrap();
        let fields = json::from_fields(r.fields.clone());
        (r, fields)
    }

    #[test]
    fn a_person_flattens_to_its_primary_email_and_phone_and_its_custom_fields() {
        let p = json!({"id": 101, "name": "Jane Doe", "first_name": "Jane", "last_name": "Doe",
            "org_id": 11, "add_time": "2024-01-04T09:30:00Z", "update_time": "2024-02-01T10:00:00Z",
            "emails": [{"value": "j@home.example", "primary": false, "label": "home"},
                       {"value": "jane@example.com", "primary": true, "label": "work"}],
            "phones": [], "custom_fields": {HASH: "shop-42"}});
        let (r, f) = flat(Entity::Persons, p);
        assert_eq!((r.id.as_str(), r.target), ("101", "contact"));
        assert_eq!(f["email"], "jane@example.com");
        assert_eq!(f["phone"], Value::Null);
        assert_eq!(f["org_id"], "11");
        assert_eq!(f[HASH], "shop-42");
        assert_eq!(
            r.created_at.unwrap().to_rfc3339(),
            "2024-01-04T09:30:00+00:00"
        );
    }

    #[test]
    fn a_person_write_goes_back_to_pipedrives_shape() {
        let flat = json!({"first_name": "Una", "last_name": "Update", "email": "u@x.example",
            "org_id": "11", HASH: "ext-1"});
        let body = from_flat(Entity::Persons, flat.as_object().unwrap().clone(), true).unwrap();
        assert_eq!(
            body,
            json!({"name": "Una Update", "org_id": 11,
            "emails": [{"value": "u@x.example", "primary": true, "label": "work"}],
            "custom_fields": {HASH: "ext-1"}})
        );
        let half = json!({"last_name": "Only"});
        let err = from_flat(Entity::Persons, half.as_object().unwrap().clone(), false).unwrap_err();
        assert_eq!(err.kind(), &crm_core::ErrorKind::InvalidInput);
    }

    #[test]
    fn an_activity_due_moment_is_a_date_and_a_utc_time() {
        let a = json!({"id": 7, "type": "task", "due_date": "2030-01-02", "due_time": "15:30",
            "done": false, "person_id": 101});
        let (r, f) = flat(Entity::Activities, a);
        assert_eq!(r.target, "task");
        assert_eq!(f["due"], "2030-01-02T15:30:00Z");
        assert_eq!(f["done"], "false");
        let body = from_flat(Entity::Activities, f, true).unwrap();
        assert_eq!(body["due_date"], "2030-01-02");
        assert_eq!(body["due_time"], "15:30");
        assert_eq!(body["done"], false);
        assert_eq!(body["person_id"], 101);
    }

    #[test]
    fn leads_keep_custom_fields_at_the_top_and_value_as_an_object() {
        let l = json!({"id": "adf21080-0e10-11eb-879b-05d71fb426ec", "title": "Chat",
            "value": {"amount": 500, "currency": "EUR"}, HASH: "chatbot",
            "add_time": "2024-05-09T09:30:00.000Z"});
        let (_, f) = flat(Entity::Leads, l);
        assert_eq!(
            (f["value"].clone(), f["currency"].clone()),
            (json!(500), json!("EUR"))
        );
        let body = from_flat(Entity::Leads, f, true).unwrap();
        assert_eq!(body["value"], json!({"amount": 500, "currency": "EUR"}));
        assert_eq!(body[HASH], "chatbot");
        assert!(body.get("custom_fields").is_none());
    }

    #[test]
    fn ids_are_checked_by_the_entitys_id_type() {
        use crm_core::ErrorKind;
        assert!(check_id(Entity::Persons, "101").is_ok());
        assert!(check_id(Entity::Leads, "adf21080-0e10-11eb-879b-05d71fb426ec").is_ok());
        for (e, bad) in [
            (Entity::Deals, "abc"),
            (Entity::Deals, ""),
            (Entity::Notes, "-1"),
            (Entity::Leads, "101"),
            (Entity::Leads, "adf21080-0e10-11eb-879b-05d71fb426eg"),
        ] {
            assert_eq!(
                check_id(e, bad).unwrap_err().kind(),
                &ErrorKind::NotFound,
                "{bad}"
            );
        }
        let err = check_id(Entity::Notes, "%2e%2e").unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    }

    #[test]
    fn envelopes_page_by_cursor_or_offset_and_unwrap_search_hits() {
        let v2: Envelope = crm_core::reexports::serde_json::from_value(json!({"success": true,
            "data": [{"id": 1}], "additional_data": {"next_cursor": "eyJ4IjoxfQ"}}))
        .unwrap();
        assert_eq!(v2.next().unwrap().as_deref(), Some("eyJ4IjoxfQ"));
        let v1: Envelope = crm_core::reexports::serde_json::from_value(json!({"success": true,
            "data": [], "additional_data": {"pagination": {"start": 0, "limit": 1,
            "more_items_in_collection": true, "next_start": 1}}}))
        .unwrap();
        assert_eq!(v1.next().unwrap().as_deref(), Some("1"));
        let s: Envelope = crm_core::reexports::serde_json::from_value(json!({"success": true,
            "data": {"items": [{"result_score": 1.0, "item": {"id": 101}}]},
            "additional_data": {"next_cursor": null}}))
        .unwrap();
        assert_eq!(s.next().unwrap(), None);
        assert_eq!(s.records().unwrap(), vec![json!({"id": 101})]);
    }
}
