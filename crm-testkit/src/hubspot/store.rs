//! The fake portal's records, associations and pipelines, and every rule about writing them:
//! string-typed properties, validation codes, case-insensitive unique email, unique properties,
//! pipeline stages and the eventually consistent search index. HTTP lives in `routes`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::Clock;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use super::error::{ApiError, PropError};
use super::schema::{self, AssocType, CustomProperty, ObjectType, PropDef, PropKind};

/// Property name → value. Only set values are kept; rendering fills in `null`s.
pub(crate) type Props = BTreeMap<String, String>;

/// ISO-8601 with milliseconds and `Z`, as HubSpot renders every timestamp (its CRM API docs).
pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a datetime property value: epoch milliseconds, RFC 3339 or a bare date (midnight UTC).
pub(crate) fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
}

/// One stored record.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) props: Props,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) archived: bool,
    /// What search sees (HubSpot's search docs: "newly created/updated records may take a few
    /// moments to appear"): `None` until the first write is indexed.
    pub(crate) indexed: Option<Props>,
    /// A write not yet visible to search, and when it becomes visible.
    pending: Option<(Instant, Props)>,
}

/// The records of one object type.
#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    pub(crate) records: Vec<Record>,
    by_id: HashMap<u64, usize>,
}

impl Table {
    pub(crate) fn get(&self, id: u64) -> Option<&Record> {
        self.by_id.get(&id).and_then(|&i| self.records.get(i))
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Record> {
        let i = *self.by_id.get(&id)?;
        self.records.get_mut(i)
    }

    /// Live (not archived) records.
    pub(crate) fn live(&self) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(|r| !r.archived)
    }
}

/// A pipeline stage.
#[derive(Clone, Debug)]
pub(crate) struct Stage {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) display_order: i64,
    pub(crate) metadata: Value,
}

/// A pipeline of deals or tickets.
#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    pub(crate) object: &'static str,
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) display_order: i64,
    pub(crate) stages: Vec<Stage>,
}

impl Pipeline {
    /// The pipeline as the pipelines API renders it; default pipelines report `createdAt` 0
    /// (HubSpot's pipelines API reference).
    pub(crate) fn render(&self) -> Value {
        let epoch = "1970-01-01T00:00:00Z";
        let stages: Vec<Value> = self
            .stages
            .iter()
            .map(|s| {
                json!({"id": s.id, "label": s.label, "displayOrder": s.display_order,
                       "metadata": s.metadata, "archived": false, "createdAt": epoch,
                       "updatedAt": epoch, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"})
            })
            .collect();
        json!({"id": self.id, "label": self.label, "displayOrder": self.display_order,
               "archived": false, "createdAt": epoch, "updatedAt": epoch, "stages": stages})
    }
}

fn ticket_stage(id: &str, label: &str, order: i64, state: &str) -> Stage {
    Stage {
        id: id.to_owned(),
        label: label.to_owned(),
        display_order: order,
        metadata: json!({"ticketState": state}),
    }
}

fn deal_stage(id: &str, label: &str, order: i64, probability: &str, closed: bool) -> Stage {
    Stage {
        id: id.to_owned(),
        label: label.to_owned(),
        display_order: order,
        metadata: json!({"isClosed": closed.to_string(), "probability": probability}),
    }
}

/// HubSpot's default pipelines (its deals and tickets guides), plus a second ticket pipeline
/// so that clients must resolve stages by pipeline rather than assume one.
pub(crate) fn default_pipelines() -> Vec<Pipeline> {
    vec![
        Pipeline {
            object: "tickets",
            id: "0".into(),
            label: "Support Pipeline".into(),
            display_order: 0,
            stages: vec![
                ticket_stage("1", "New", 0, "OPEN"),
                ticket_stage("2", "Waiting on contact", 1, "OPEN"),
                ticket_stage("3", "Waiting on us", 2, "OPEN"),
                ticket_stage("4", "Closed", 3, "CLOSED"),
            ],
        },
        Pipeline {
            object: "tickets",
            id: "7100".into(),
            label: "Escalations".into(),
            display_order: 1,
            stages: vec![
                ticket_stage("7101", "Triage", 0, "OPEN"),
                ticket_stage("7102", "Engineering", 1, "OPEN"),
                ticket_stage("7103", "Resolved", 2, "CLOSED"),
            ],
        },
        Pipeline {
            object: "deals",
            id: "default".into(),
            label: "Sales Pipeline".into(),
            display_order: 0,
            stages: vec![
                deal_stage(
                    "appointmentscheduled",
                    "Appointment Scheduled",
                    0,
                    "0.2",
                    false,
                ),
                deal_stage("qualifiedtobuy", "Qualified To Buy", 1, "0.4", false),
                deal_stage(
                    "presentationscheduled",
                    "Presentation Scheduled",
                    2,
                    "0.6",
                    false,
                ),
                deal_stage(
                    "decisionmakerboughtin",
                    "Decision Maker Bought-In",
                    3,
                    "0.8",
                    false,
                ),
                deal_stage("contractsent", "Contract Sent", 4, "0.9", false),
                deal_stage("closedwon", "Closed Won", 5, "1.0", true),
                deal_stage("closedlost", "Closed Lost", 6, "0.0", true),
            ],
        },
    ]
}

/// Whether a write creates or updates.
#[derive(Clone, Copy)]
enum Mode<'a> {
    Create,
    Update(&'a Record),
}

/// One inline association of a create: `{to:{id}, types:[{associationCategory, associationTypeId}]}`.
#[derive(Clone, Debug)]
pub(crate) struct NewAssoc {
    pub(crate) to_id: u64,
    pub(crate) type_id: u32,
}

/// The whole portal.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    pub(crate) objects: Vec<ObjectType>,
    tables: Vec<Table>,
    /// (from object, from id, to object, to id) → type ids in that direction.
    assocs: BTreeMap<(&'static str, u64, &'static str, u64), BTreeSet<u32>>,
    pub(crate) pipelines: Vec<Pipeline>,
    next_id: u64,
    last_time: Option<DateTime<Utc>>,
    pub(crate) search_lag: Duration,
    /// The clock the lag runs on (tokio's, of the runtime that started the fake).
    clock: Clock,
}

impl Store {
    pub(crate) fn new(custom: &[CustomProperty]) -> Self {
        let mut objects = schema::default_objects();
        for c in custom {
            if let Some(o) = objects.iter_mut().find(|o| o.name == c.object) {
                o.props.retain(|p| p.name != c.name);
                o.props.push(c.def());
            }
        }
        let tables = objects.iter().map(|_| Table::default()).collect();
        Self {
            objects,
            tables,
            assocs: BTreeMap::new(),
            pipelines: default_pipelines(),
            next_id: 10_001,
            last_time: None,
            search_lag: Duration::ZERO,
            clock: Clock::default(),
        }
    }

    pub(crate) fn object(&self, idx: usize) -> Option<&ObjectType> {
        self.objects.get(idx)
    }

    pub(crate) fn object_index(&self, name: &str) -> Option<usize> {
        schema::resolve(&self.objects, name)
    }

    pub(crate) fn table(&self, idx: usize) -> Option<&Table> {
        self.tables.get(idx)
    }

    /// A strictly increasing clock, so every write moves `updatedAt` and orders are stable.
    fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let t = match self.last_time {
            Some(last) if now <= last => last + TimeDelta::milliseconds(1),
            _ => now,
        };
        self.last_time = Some(t);
        t
    }

    /// The live record `id` of object `idx`.
    pub(crate) fn get(&self, idx: usize, id: u64) -> Option<&Record> {
        self.tables
            .get(idx)
            .and_then(|t| t.get(id))
            .filter(|r| !r.archived)
    }

    /// The live record whose unique `prop` equals `value` (emails case-insensitively).
    pub(crate) fn find_unique(&self, idx: usize, prop: &str, value: &str) -> Option<u64> {
        let table = self.tables.get(idx)?;
        let ci = self
            .object(idx)
            .and_then(|o| o.prop(prop))
            .is_some_and(|p| p.kind == PropKind::Email);
        table
            .live()
            .find(|r| {
                r.props.get(prop).is_some_and(|v| {
                    if ci {
                        v.eq_ignore_ascii_case(value.trim())
                    } else {
                        v == value
                    }
                })
            })
            .map(|r| r.id)
    }

    /// Validates property values for a create or an update of object `idx` and returns them
    /// normalised (`None` = clear).
    fn check_props(
        &self,
        idx: usize,
        input: &Map<String, Value>,
        mode: Mode<'_>,
    ) -> Result<BTreeMap<String, Option<String>>, ApiError> {
        let object = self.object(idx).ok_or_else(ApiError::not_found)?;
        let mut problems = Vec::new();
        let mut out = BTreeMap::new();
        for (name, value) in input {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                _ => {
                    problems.push(PropError::new(
                        name,
                        "INVALID_PROPERTY_VALUE",
                        format!("Property \"{name}\" must be a string"),
                    ));
                    continue;
                }
            };
            let Some(def) = object.prop(name) else {
                problems.push(PropError::new(
                    name,
                    "PROPERTY_DOESNT_EXIST",
                    format!("Property \"{name}\" does not exist"),
                ));
                continue;
            };
            if def.read_only {
                problems.push(PropError::new(
                    name,
                    "READ_ONLY_VALUE",
                    format!("Property \"{name}\" is a read only property; its value cannot be set"),
                ));
                continue;
            }
            if text.is_empty() {
                out.insert(name.clone(), None);
                continue;
            }
            match self.normalise(object, def, &text, input, mode) {
                Ok(v) => {
                    out.insert(name.clone(), Some(v));
                }
                Err(p) => problems.push(p),
            }
        }
        if let Mode::Create = mode {
            for req in object.required {
                let present = out.get(*req).is_some_and(Option::is_some);
                if !present && !problems.iter().any(|p| p.property == *req) {
                    problems.push(PropError::new(
                        req,
                        "REQUIRED_PROPERTY",
                        format!("Property \"{req}\" is required"),
                    ));
                }
            }
        }
        if let Mode::Update(_) = mode {
            for req in object.required {
                if out.get(*req).is_some_and(Option::is_none) {
                    problems.push(PropError::new(
                        req,
                        "REQUIRED_PROPERTY",
                        format!("Property \"{req}\" is required and cannot be cleared"),
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(ApiError::properties(&problems))
        }
    }

    /// One value checked against its definition. Messages may repeat the value, as HubSpot's do.
    fn normalise(
        &self,
        object: &ObjectType,
        def: &PropDef,
        text: &str,
        input: &Map<String, Value>,
        mode: Mode<'_>,
    ) -> Result<String, PropError> {
        let name = def.name.as_str();
        let bad = |code: &'static str, what: &str| {
            PropError::new(name, code, format!("{text} was not a valid {what}."))
        };
        match def.kind {
            PropKind::Text => Ok(text.to_owned()),
            PropKind::Email => {
                let t = text.trim();
                let ok = t.split_once('@').is_some_and(|(l, d)| {
                    !l.is_empty()
                        && d.contains('.')
                        && !d.starts_with('.')
                        && !d.ends_with('.')
                        && !d.contains('@')
                        && !t.contains(char::is_whitespace)
                });
                if ok {
                    Ok(t.to_owned())
                } else {
                    Err(PropError::new(
                        name,
                        "INVALID_EMAIL",
                        format!("Email address {text} is invalid"),
                    ))
                }
            }
            PropKind::Number => {
                if text.trim().parse::<f64>().is_ok_and(f64::is_finite) {
                    Ok(text.trim().to_owned())
                } else {
                    Err(bad("INVALID_DECIMAL", "number"))
                }
            }
            PropKind::Bool => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Ok("true".into()),
                "false" => Ok("false".into()),
                _ => Err(bad("INVALID_BOOLEAN", "boolean")),
            },
            PropKind::Date => parse_instant(text)
                .map(|t| t.date_naive().format("%Y-%m-%d").to_string())
                .ok_or_else(|| bad("INVALID_DATE", "date")),
            PropKind::DateTime => parse_instant(text)
                .map(iso)
                .ok_or_else(|| bad("INVALID_LONG", "long")),
            PropKind::Enum => {
                if def.options.iter().any(|o| o == text) {
                    Ok(text.to_owned())
                } else {
                    Err(invalid_option(def, text))
                }
            }
            PropKind::MultiEnum => {
                if text.split(';').all(|v| def.options.iter().any(|o| o == v)) {
                    Ok(text.to_owned())
                } else {
                    Err(invalid_option(def, text))
                }
            }
            PropKind::Pipeline => {
                if self
                    .pipelines
                    .iter()
                    .any(|p| p.object == object.name && p.id == text)
                {
                    Ok(text.to_owned())
                } else {
                    Err(invalid_option(def, text))
                }
            }
            PropKind::Stage => {
                let (pipe_prop, _) = object.pipeline_props().unwrap_or(("", ""));
                let pipeline = match input.get(pipe_prop).and_then(Value::as_str) {
                    Some(p) if !p.is_empty() => p.to_owned(),
                    _ => match mode {
                        Mode::Update(r) => r.props.get(pipe_prop).cloned().unwrap_or_default(),
                        Mode::Create => self.default_pipeline(object.name),
                    },
                };
                let ok = self.pipelines.iter().any(|p| {
                    p.object == object.name
                        && p.id == pipeline
                        && p.stages.iter().any(|s| s.id == text)
                });
                if ok {
                    Ok(text.to_owned())
                } else {
                    Err(PropError::new(
                        name,
                        "INVALID_OPTION",
                        format!("{text} is not a valid stage of pipeline {pipeline}"),
                    ))
                }
            }
        }
    }

    fn default_pipeline(&self, object: &str) -> String {
        self.pipelines
            .iter()
            .filter(|p| p.object == object)
            .min_by_key(|p| p.display_order)
            .map(|p| p.id.clone())
            .unwrap_or_default()
    }

    /// Unique values: email case-insensitively (409 `Contact already exists. Existing ID: N`),
    /// other unique properties exactly.
    fn check_unique(
        &self,
        idx: usize,
        values: &BTreeMap<String, Option<String>>,
        self_id: Option<u64>,
    ) -> Result<(), ApiError> {
        let object = self.object(idx).ok_or_else(ApiError::not_found)?;
        for (name, value) in values {
            let (Some(def), Some(v)) = (object.prop(name), value) else {
                continue;
            };
            if !def.unique {
                continue;
            }
            if let Some(existing) = self.find_unique(idx, name, v)
                && Some(existing) != self_id
            {
                return Err(ApiError::conflict(object.singular, existing));
            }
        }
        Ok(())
    }

    /// Checks inline associations of a create from object `idx`.
    fn check_assocs(&self, idx: usize, assocs: &[NewAssoc]) -> Result<(), ApiError> {
        let from = self.object(idx).ok_or_else(ApiError::not_found)?.name;
        for a in assocs {
            let ty = schema::assoc_type(a.type_id)
                .filter(|t| t.from == from)
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "{} is not a valid association type id from {from}",
                        a.type_id
                    ))
                })?;
            let to_idx = self
                .object_index(ty.to)
                .ok_or_else(|| ApiError::validation("unknown association target"))?;
            if self.get(to_idx, a.to_id).is_none() {
                return Err(ApiError::validation(format!(
                    "Cannot associate to {} {}: it does not exist",
                    ty.to, a.to_id
                )));
            }
        }
        Ok(())
    }

    /// Creates a record (validation, uniqueness, inline associations, derived properties).
    pub(crate) fn create(
        &mut self,
        idx: usize,
        input: &Map<String, Value>,
        assocs: &[NewAssoc],
    ) -> Result<u64, ApiError> {
        let values = self.check_props(idx, input, Mode::Create)?;
        self.check_unique(idx, &values, None)?;
        self.check_assocs(idx, assocs)?;
        let object = self.object(idx).ok_or_else(ApiError::not_found)?.clone();
        let id = self.next_id;
        self.next_id += 1;
        let now = self.tick();
        let mut props: Props = values
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        if let Some((pipe, stage)) = object.pipeline_props()
            && props.contains_key(stage)
            && !props.contains_key(pipe)
        {
            props.insert(pipe.to_owned(), self.default_pipeline(object.name));
        }
        props.insert("hs_object_id".into(), id.to_string());
        props.insert(object.created_prop.into(), iso(now));
        props.insert(object.modified_prop.into(), iso(now));
        let record = Record {
            id,
            props,
            created_at: now,
            updated_at: now,
            archived: false,
            indexed: None,
            pending: None,
        };
        if let Some(table) = self.tables.get_mut(idx) {
            table.by_id.insert(id, table.records.len());
            table.records.push(record);
        }
        for a in assocs {
            if let Some(ty) = schema::assoc_type(a.type_id) {
                self.associate(ty, id, a.to_id);
            }
        }
        self.derive(idx, id);
        self.reindex(idx, id);
        Ok(id)
    }

    /// Creates a record with fixed timestamps (seed data).
    pub(crate) fn seed(
        &mut self,
        idx: usize,
        id: u64,
        input: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let saved = self.next_id;
        self.next_id = id;
        let created = self.create(idx, input, &[]);
        self.next_id = saved.max(id + 1);
        created?;
        let object = self.object(idx).ok_or_else(ApiError::not_found)?.clone();
        if let Some(r) = self.tables.get_mut(idx).and_then(|t| t.get_mut(id)) {
            r.created_at = at;
            r.updated_at = at;
            r.props.insert(object.created_prop.into(), iso(at));
            r.props.insert(object.modified_prop.into(), iso(at));
        }
        self.reindex(idx, id);
        Ok(())
    }

    /// Updates a live record; a write that changes nothing leaves `updatedAt` alone.
    pub(crate) fn update(
        &mut self,
        idx: usize,
        id: u64,
        input: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let existing = self.get(idx, id).ok_or_else(ApiError::not_found)?.clone();
        let values = self.check_props(idx, input, Mode::Update(&existing))?;
        self.check_unique(idx, &values, Some(id))?;
        let object = self.object(idx).ok_or_else(ApiError::not_found)?.clone();
        let mut props = existing.props.clone();
        for (k, v) in values {
            match v {
                Some(v) => {
                    props.insert(k, v);
                }
                None => {
                    props.remove(&k);
                }
            }
        }
        if props == existing.props {
            return Ok(());
        }
        let now = self.tick();
        props.insert(object.modified_prop.into(), iso(now));
        if let Some(r) = self.tables.get_mut(idx).and_then(|t| t.get_mut(id)) {
            r.props = props;
            r.updated_at = now;
        }
        self.derive(idx, id);
        self.reindex(idx, id);
        Ok(())
    }

    /// Archives a record (DELETE; HubSpot's object API docs) and drops its associations.
    pub(crate) fn archive(&mut self, idx: usize, id: u64) -> Result<(), ApiError> {
        let name = self.object(idx).ok_or_else(ApiError::not_found)?.name;
        let r = self
            .tables
            .get_mut(idx)
            .and_then(|t| t.get_mut(id))
            .filter(|r| !r.archived)
            .ok_or_else(ApiError::not_found)?;
        r.archived = true;
        let keys: Vec<_> = self
            .assocs
            .keys()
            .filter(|(f, fid, t, tid)| (*f == name && *fid == id) || (*t == name && *tid == id))
            .copied()
            .collect();
        for k in keys {
            self.assocs.remove(&k);
        }
        Ok(())
    }

    /// Calculated properties: the contact's email domain and digits-only phone numbers.
    fn derive(&mut self, idx: usize, id: u64) {
        let Some(object) = self.object(idx).map(|o| o.name) else {
            return;
        };
        if object != "contacts" {
            return;
        }
        let Some(r) = self.tables.get_mut(idx).and_then(|t| t.get_mut(id)) else {
            return;
        };
        let domain = r
            .props
            .get("email")
            .and_then(|e| e.split_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase());
        set_or_clear(&mut r.props, "hs_email_domain", domain);
        for (from, to) in [
            ("phone", "hs_searchable_calculated_phone_number"),
            ("mobilephone", "hs_searchable_calculated_mobile_number"),
        ] {
            let digits = r.props.get(from).map(|p| national_digits(p));
            set_or_clear(&mut r.props, to, digits.filter(|d| !d.is_empty()));
        }
    }

    /// Schedules what search sees of a record after a write.
    fn reindex(&mut self, idx: usize, id: u64) {
        let lag = self.search_lag;
        let now = self.clock.now();
        if let Some(r) = self.tables.get_mut(idx).and_then(|t| t.get_mut(id)) {
            if lag.is_zero() {
                r.indexed = Some(r.props.clone());
                r.pending = None;
            } else {
                r.pending = Some((now + lag, r.props.clone()));
            }
        }
    }

    /// Makes due writes visible to search (`all`: every pending write, whatever its time).
    pub(crate) fn refresh_index(&mut self, all: bool) {
        let now = self.clock.now();
        for table in &mut self.tables {
            for r in &mut table.records {
                let due = r.pending.as_ref().is_some_and(|(at, _)| all || *at <= now);
                if due && let Some((_, props)) = r.pending.take() {
                    r.indexed = Some(props);
                }
            }
        }
    }

    /// Adds an association in both directions (a contact's primary company also sets its
    /// `associatedcompanyid`, and replaces an earlier primary).
    pub(crate) fn associate(&mut self, ty: &AssocType, from_id: u64, to_id: u64) {
        if ty.label == Some("Primary") {
            let (contact, company) = match (ty.from, ty.to) {
                ("contacts", "companies") => (Some(from_id), to_id),
                ("companies", "contacts") => (Some(to_id), from_id),
                _ => (None, 0),
            };
            if let Some(contact) = contact {
                let olds: Vec<u64> = self
                    .associated("contacts", contact, "companies")
                    .into_iter()
                    .filter(|(_, types)| types.contains(&1))
                    .map(|(id, _)| id)
                    .collect();
                for old in olds {
                    self.remove_type("contacts", contact, "companies", old, 1);
                }
                if let Some(ci) = self.object_index("contacts")
                    && let Some(r) = self.tables.get_mut(ci).and_then(|t| t.get_mut(contact))
                {
                    r.props
                        .insert("associatedcompanyid".into(), company.to_string());
                    self.reindex(ci, contact);
                }
            }
        }
        self.assocs
            .entry((ty.from, from_id, ty.to, to_id))
            .or_default()
            .insert(ty.id);
        self.assocs
            .entry((ty.to, to_id, ty.from, from_id))
            .or_default()
            .insert(ty.reverse);
    }

    fn remove_type(&mut self, from: &'static str, fid: u64, to: &'static str, tid: u64, ty: u32) {
        let reverse = schema::assoc_type(ty).map(|t| t.reverse);
        for (key, id) in [
            ((from, fid, to, tid), Some(ty)),
            ((to, tid, from, fid), reverse),
        ] {
            if let (Some(set), Some(id)) = (self.assocs.get_mut(&key), id) {
                set.remove(&id);
                if set.is_empty() {
                    self.assocs.remove(&key);
                }
            }
        }
    }

    /// Removes every association between two records (v4 DELETE).
    pub(crate) fn dissociate(&mut self, from: &'static str, fid: u64, to: &'static str, tid: u64) {
        let primary = from == "contacts"
            && to == "companies"
            && self
                .assocs
                .get(&(from, fid, to, tid))
                .is_some_and(|s| s.contains(&1));
        self.assocs.remove(&(from, fid, to, tid));
        self.assocs.remove(&(to, tid, from, fid));
        if primary
            && let Some(ci) = self.object_index("contacts")
            && let Some(r) = self.tables.get_mut(ci).and_then(|t| t.get_mut(fid))
        {
            r.props.remove("associatedcompanyid");
            self.reindex(ci, fid);
        }
    }

    /// Records of object `to` associated with (`from`, `id`), by id, with the type ids.
    pub(crate) fn associated(&self, from: &str, id: u64, to: &str) -> Vec<(u64, BTreeSet<u32>)> {
        self.assocs
            .iter()
            .filter(|((f, fid, t, _), _)| *f == from && *fid == id && *t == to)
            .map(|((_, _, _, tid), types)| (*tid, types.clone()))
            .collect()
    }

    /// The SimplePublicObject of a record: `requested` properties (unset ones as `null`), or the
    /// object's defaults, plus the system properties HubSpot always adds.
    pub(crate) fn render(
        &self,
        idx: usize,
        r: &Record,
        props: &Props,
        requested: Option<&[String]>,
    ) -> Value {
        let mut out = Map::new();
        if let Some(object) = self.object(idx) {
            let always = ["hs_object_id", object.created_prop, object.modified_prop];
            match requested {
                Some(names) => {
                    for name in names {
                        if object.prop(name).is_some() {
                            out.insert(
                                name.clone(),
                                props.get(name).map_or(Value::Null, |v| json!(v)),
                            );
                        }
                    }
                }
                None => {
                    for name in object.default_props {
                        if let Some(v) = props.get(*name) {
                            out.insert((*name).to_owned(), json!(v));
                        }
                    }
                }
            }
            for name in always {
                if let Some(v) = props.get(name) {
                    out.insert(name.to_owned(), json!(v));
                }
            }
        }
        let created = props
            .get(self.object(idx).map_or("createdate", |o| o.created_prop))
            .cloned()
            .unwrap_or_else(|| iso(r.created_at));
        let updated = props
            .get(
                self.object(idx)
                    .map_or("lastmodifieddate", |o| o.modified_prop),
            )
            .cloned()
            .unwrap_or_else(|| iso(r.updated_at));
        json!({"id": r.id.to_string(), "properties": out, "createdAt": created,
               "updatedAt": updated, "archived": r.archived})
    }

    /// How long writes take to become visible to search.
    pub(crate) fn set_search_lag(&mut self, lag: Duration) {
        self.search_lag = lag;
    }

    /// The clock the search lag runs on.
    pub(crate) fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }
}

fn invalid_option(def: &PropDef, text: &str) -> PropError {
    PropError::new(
        &def.name,
        "INVALID_OPTION",
        format!(
            "{text} was not one of the allowed options: [{}]",
            def.options.join(", ")
        ),
    )
}

fn set_or_clear(props: &mut Props, name: &str, value: Option<String>) {
    match value {
        Some(v) => {
            props.insert(name.to_owned(), v);
        }
        None => {
            props.remove(name);
        }
    }
}

/// The digits of a phone number without a leading `1` country code on 11-digit NANP numbers,
/// as HubSpot's `hs_searchable_calculated_phone_number` holds them.
pub(crate) fn national_digits(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if phone.trim_start().starts_with("+1") || (digits.len() == 11 && digits.starts_with('1')) {
        digits.get(1..).unwrap_or_default().to_owned()
    } else {
        digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn validation_codes() {
        let mut s = Store::new(&[]);
        let c = s.object_index("contacts").unwrap();
        let err = s
            .create(
                c,
                &props(json!({"email": "nope", "shoe_size": "44", "lifecyclestage": "Lead"})),
                &[],
            )
            .unwrap_err();
        let codes: Vec<&str> = err
            .errors
            .iter()
            .map(|e| e["code"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            ["INVALID_EMAIL", "INVALID_OPTION", "PROPERTY_DOESNT_EXIST"]
        );
        let n = s.object_index("notes").unwrap();
        let err = s
            .create(n, &props(json!({"hs_note_body": "x"})), &[])
            .unwrap_err();
        assert_eq!(err.errors[0]["code"], "REQUIRED_PROPERTY");
    }

    #[test]
    fn email_is_unique_case_insensitively() {
        let mut s = Store::new(&[]);
        let c = s.object_index("contacts").unwrap();
        let id = s
            .create(c, &props(json!({"email": "A@b.co"})), &[])
            .unwrap();
        let err = s
            .create(c, &props(json!({"email": "a@B.CO"})), &[])
            .unwrap_err();
        assert_eq!(err.status, 409);
        assert!(err.message.ends_with(&format!("Existing ID: {id}")));
    }

    #[test]
    fn stages_belong_to_the_pipeline() {
        let mut s = Store::new(&[]);
        let t = s.object_index("tickets").unwrap();
        let id = s
            .create(t, &props(json!({"hs_pipeline_stage": "1"})), &[])
            .unwrap();
        assert_eq!(s.get(t, id).unwrap().props["hs_pipeline"], "0");
        let err = s
            .update(t, id, &props(json!({"hs_pipeline_stage": "7103"})))
            .unwrap_err();
        assert_eq!(err.errors[0]["code"], "INVALID_OPTION");
        s.update(
            t,
            id,
            &props(json!({"hs_pipeline": "7100", "hs_pipeline_stage": "7103"})),
        )
        .unwrap();
    }

    #[test]
    fn phone_digits() {
        assert_eq!(national_digits("(415) 555-0100"), "4155550100");
        assert_eq!(national_digits("+1 415 555 0100"), "4155550100");
        assert_eq!(national_digits("+44 20 7946 0958"), "442079460958");
    }
}
