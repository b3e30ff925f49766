//! Field mapping between the common model and a vendor's fields.
//!
//! An [`ObjectMapping`] renames common fields to vendor fields and back, and translates status
//! values: the vendor's raw value (`"2"`, `"solved"`) to a normalised state (`closed`) with an
//! optional label. It is data (TOML), so an admin can edit it; adapters ship a default and
//! apply it through this one engine in both directions.
//!
//! ```toml
//! [fields]            # common name = vendor name
//! subject = "title"
//! status = "state"
//!
//! [states.status]     # vendor value = normalised state
//! new = "new"
//! solved = "closed"
//!
//! [labels.status]     # vendor value = label shown to agents (optional)
//! solved = "Solved"
//! ```

mod file;
mod known;
mod ownership;
mod rules;
mod schema;
mod toml_error;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

pub use file::{MappingCheck, MappingFile, MappingProblem, Severity, effective, line_of};
pub use known::KnownFields;
pub use ownership::{FieldOutcome, OwnedUpdate, update_owned};
pub use rules::{Direction, FieldRule, FieldType, Ownership, Transform};
pub use schema::{SchemaField, SchemaProblem};
pub use toml_error::{TomlProblem, mask_values, toml_config_error};

use crate::error::{Error, Result};
use crate::model::{
    FieldList, FieldMap, FieldValue, LeadState, ObjectKind, OpportunityState, State, TaskState,
    TicketState,
};

/// One problem [`ObjectMapping::problems`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingIssue {
    /// The entry it is about, inside the object's table (`["fields", "tier"]`).
    pub path: Vec<String>,
    /// What is wrong, naming the entry.
    pub message: String,
}

/// How one object kind's fields map to a vendor's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectMapping {
    /// Common field name → vendor field name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// Per status field (common name): vendor value → normalised state name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub states: BTreeMap<String, BTreeMap<String, String>>,
    /// Per status field (common name): vendor value → label for people.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Per enum field that is not a status (common name): common value → vendor value, for
    /// values the vendor spells differently (`conversation_log` → `chat_log`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Per common field: direction, type, transforms, limits, default, `send`, ownership.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, FieldRule>,
    /// Whether fields without a rule pass through under their own name (custom fields the
    /// vendor and the caller both call the same). Default `true`.
    #[serde(default = "yes")]
    pub pass_through: bool,
}

fn yes() -> bool {
    true
}

impl Default for ObjectMapping {
    /// An empty mapping that passes every field through under its own name (as the TOML
    /// default does).
    fn default() -> Self {
        Self {
            fields: BTreeMap::new(),
            states: BTreeMap::new(),
            labels: BTreeMap::new(),
            values: BTreeMap::new(),
            rules: BTreeMap::new(),
            pass_through: true,
        }
    }
}

/// Vendor field name → the common field it holds, for reading records with one mapping: built
/// once per mapping (the connection's [`crate::raw::Mappings`] builds it with each mapping,
/// also on a swap), so that mapping a record's fields back looks each name up instead of
/// scanning the mapping. When several common fields name one vendor field, the last in name
/// order holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorNames {
    // Hashed with foldhash (seeded per process): a look-up per field of every record read,
    // where an ordered map compared several names per look-up.
    by_vendor: HashMap<String, String, foldhash::fast::RandomState>,
}

impl VendorNames {
    /// The index of `mapping`'s `fields`.
    pub fn new(mapping: &ObjectMapping) -> Self {
        let mut by_vendor = HashMap::default();
        // In name order, so a later common name replaces an earlier one.
        for (common, vendor) in &mapping.fields {
            by_vendor.insert(vendor.clone(), common.clone());
        }
        Self { by_vendor }
    }

    /// The common field `vendor` is mapped to, if any.
    pub fn common(&self, vendor: &str) -> Option<&str> {
        self.by_vendor.get(vendor).map(String::as_str)
    }
}

/// Whether a write creates a record (required fields are checked) or changes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// A create: every required field must be present.
    Create,
    /// An update: only the fields given are written.
    Update,
}

/// The status fields of each kind, and the state names valid for each.
/// A status field's common name and a check of state names for it.
type StatusField = (&'static str, fn(&str) -> bool);

fn status_fields(kind: ObjectKind) -> &'static [StatusField] {
    fn valid<S: State>(name: &str) -> bool {
        S::from_name(name).is_some()
    }
    match kind {
        ObjectKind::Ticket => &[("status", valid::<TicketState>)],
        ObjectKind::Lead => &[("status", valid::<LeadState>)],
        ObjectKind::Opportunity => &[("stage", valid::<OpportunityState>)],
        ObjectKind::Activity => &[("task_status", valid::<TaskState>)],
        ObjectKind::Contact | ObjectKind::Account => &[],
    }
}

impl ObjectMapping {
    /// Checks the mapping for `kind`: no two common fields write one vendor field, state maps only
    /// on status fields and only with known state names. `context` (a file name and table)
    /// prefixes the message of the first problem (see [`ObjectMapping::problems`] for all).
    pub fn validate(&self, kind: ObjectKind, context: &str) -> Result<()> {
        match self.problems(kind).into_iter().next() {
            Some(issue) => Err(Error::config(format!("{context}: {}", issue.message))),
            None => Ok(()),
        }
    }

    /// Every problem of the mapping for `kind`, each with the entry it is about (so a file
    /// loader can point at its line).
    pub fn problems(&self, kind: ObjectKind) -> Vec<MappingIssue> {
        let mut out = Vec::new();
        let mut issue = |path: &[&str], message: String| {
            out.push(MappingIssue {
                path: path.iter().map(|p| (*p).to_owned()).collect(),
                message,
            });
        };
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (common, vendor) in &self.fields {
            if vendor.trim().is_empty() {
                issue(
                    &["fields", common],
                    format!("fields.{common} maps to an empty vendor field name"),
                );
                continue;
            }
            if let Some(other) = seen.insert(vendor.as_str(), common.as_str()) {
                issue(
                    &["fields", common],
                    format!(
                        "fields.{other} and fields.{common} both map to vendor field `{vendor}`"
                    ),
                );
            }
        }
        if self.pass_through {
            // A core field without an entry passes through under its own name: another field
            // mapped onto that name would write the same vendor field.
            for core in kind.core_fields() {
                if !self.fields.contains_key(*core)
                    && let Some(other) = seen.get(core)
                {
                    issue(
                        &["fields", other],
                        format!(
                            "fields.{other} maps to vendor field `{core}`, which `{core}` also writes (it passes through); map `{core}` elsewhere or pick another vendor field"
                        ),
                    );
                }
            }
        }
        let statuses = status_fields(kind);
        for (field, values) in &self.states {
            let Some((_, valid)) = statuses.iter().find(|(f, _)| f == field) else {
                issue(
                    &["states", field],
                    format!("states.{field}: {kind} has no status field `{field}`"),
                );
                continue;
            };
            for (raw, state) in values {
                if !valid(state) {
                    issue(
                        &["states", field, raw],
                        format!("states.{field}.{raw}: `{state}` is not a {kind} state"),
                    );
                }
            }
        }
        for (field, values) in &self.values {
            let mut vendor_values = BTreeSet::new();
            for (common, vendor) in values {
                if !vendor_values.insert(vendor.as_str()) {
                    issue(
                        &["values", field, common],
                        format!("values.{field}.{common}: vendor value `{vendor}` is mapped twice"),
                    );
                }
            }
        }
        for (field, rule) in &self.rules {
            let at = rule.at();
            for problem in rule.problems() {
                issue(&["rules", field], format!("rules.{field}: {problem}{at}"));
            }
            if rule.required && self.vendor_name(field).is_none() && rule.default.is_none() {
                issue(
                    &["rules", field],
                    format!("rules.{field}: required, but no vendor field writes it{at}"),
                );
            }
        }
        for field in self.labels.keys() {
            if !statuses.iter().any(|(f, _)| f == field) {
                issue(
                    &["labels", field],
                    format!("labels.{field}: {kind} has no status field `{field}`"),
                );
            }
        }
        out
    }

    /// The vendor field a common field maps to (itself when it passes through).
    pub fn vendor_name<'a>(&'a self, common: &'a str) -> Option<&'a str> {
        match self.fields.get(common) {
            Some(v) => Some(v),
            None if self.pass_through => Some(common),
            None => None,
        }
    }

    /// `over` laid over this mapping, as an admin's mapping file is laid over an adapter's
    /// default: field names, rules and each entry of the state, label and value tables from
    /// `over` replace or extend this mapping's (so a file can add one status value without
    /// repeating the rest), and `over`'s `pass_through` wins.
    pub fn overlaid_with(&self, over: &ObjectMapping) -> ObjectMapping {
        fn merge(
            into: &mut BTreeMap<String, BTreeMap<String, String>>,
            from: &BTreeMap<String, BTreeMap<String, String>>,
        ) {
            for (field, entries) in from {
                into.entry(field.clone())
                    .or_default()
                    .extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let mut out = self.clone();
        out.fields
            .extend(over.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        merge(&mut out.states, &over.states);
        merge(&mut out.labels, &over.labels);
        merge(&mut out.values, &over.values);
        out.rules
            .extend(over.rules.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.pass_through = over.pass_through;
        out
    }

    /// The common field a vendor field holds, for naming fields in the vendor's errors. Exact
    /// spelling first, then ignoring ASCII case (Salesforce errors may spell API names in
    /// another case); `None` when no mapped field has that vendor name.
    pub fn common_name(&self, vendor: &str) -> Option<&str> {
        let by = |same: &dyn Fn(&str) -> bool| {
            self.fields
                .iter()
                .find(|(_, v)| same(v))
                .map(|(c, _)| c.as_str())
        };
        by(&|v| v == vendor).or_else(|| by(&|v| v.eq_ignore_ascii_case(vendor)))
    }

    /// `err` with the vendor field names of a validation error replaced by common ones; names
    /// the mapping does not know (pass-through custom fields) stay as the vendor spelled them.
    pub fn name_error_fields(&self, err: Error) -> Error {
        err.rename_fields(|vendor| self.common_name(vendor).map(str::to_owned))
    }

    /// Common fields → vendor fields, for an update (see [`ObjectMapping::to_vendor_as`]).
    pub fn to_vendor(&self, kind: ObjectKind, common: &FieldMap) -> Result<FieldMap> {
        self.to_vendor_as(kind, common, WriteMode::Update)
    }

    /// Common fields → vendor fields, for a write. Rules apply: read-only and `send = false`
    /// fields are left out, transforms run, types and lengths are checked, and on a create
    /// every required field must be there (or have a default). A status given only by state
    /// gets the first vendor value (in sorted order) that maps to that state. Errors name the
    /// field and, when known, the mapping line.
    pub fn to_vendor_as(
        &self,
        kind: ObjectKind,
        common: &FieldMap,
        mode: WriteMode,
    ) -> Result<FieldMap> {
        let mut prepared = FieldMap::new();
        for (name, value) in common {
            match self.rules.get(name) {
                Some(rule) if rule.direction == Direction::Read || !rule.send => {}
                Some(rule) => {
                    let v = rule.prepare(kind.as_str(), name, value.clone())?;
                    prepared.insert(name.clone(), v);
                }
                None => {
                    prepared.insert(name.clone(), value.clone());
                }
            }
        }
        if mode == WriteMode::Create {
            for (name, rule) in &self.rules {
                if !rule.required || prepared.get(name).is_some_and(|v| !v.is_null()) {
                    continue;
                }
                match rules::default_value(rule) {
                    Some(d) => {
                        prepared.insert(name.clone(), d);
                    }
                    None => {
                        return Err(Error::new(
                            crate::ErrorKind::Validation {
                                fields: vec![crate::FieldError::new(
                                    name.clone(),
                                    Some("required".into()),
                                )],
                            },
                            format!("{kind}.{name}: required by the mapping{}", rule.at()),
                        ));
                    }
                }
            }
        }
        let common = &prepared;
        let mut out = FieldMap::new();
        let status_names: BTreeSet<&str> = status_fields(kind).iter().map(|(f, _)| *f).collect();
        for (name, value) in common {
            if let Some(base) = name
                .strip_suffix("_state")
                .or_else(|| name.strip_suffix("_label"))
                && status_names.contains(base)
            {
                continue;
            }
            let vendor = self.vendor_name(name).ok_or_else(|| {
                Error::mapping(format!(
                    "{kind}.{name}: this connection's mapping has no vendor field for it"
                ))
            })?;
            let value = match (value, self.values.get(name.as_str())) {
                (FieldValue::Text(t), Some(map)) => {
                    FieldValue::Text(map.get(t).cloned().unwrap_or_else(|| t.clone()))
                }
                (v, _) => v.clone(),
            };
            out.insert(vendor.to_owned(), value);
        }
        for status in status_names {
            if common.contains_key(status) {
                continue;
            }
            let Some(FieldValue::Text(state)) = common.get(&format!("{status}_state")) else {
                continue;
            };
            let raw = self
                .states
                .get(status)
                .and_then(|m| m.iter().find(|(_, s)| *s == state).map(|(raw, _)| raw.clone()))
                .ok_or_else(|| {
                    Error::mapping(format!(
                        "{kind}.{status}: no vendor value maps to state `{state}`; set the raw value or add it to states.{status}"
                    ))
                })?;
            let vendor = self.vendor_name(status).ok_or_else(|| {
                Error::mapping(format!(
                    "{kind}.{status}: this connection's mapping has no vendor field for it"
                ))
            })?;
            out.insert(vendor.to_owned(), FieldValue::Text(raw));
        }
        Ok(out)
    }

    /// Vendor fields → common fields, for a read. Status fields gain `<field>_state` and
    /// `<field>_label` from the value maps.
    pub fn from_vendor(&self, kind: ObjectKind, vendor: FieldMap) -> FieldMap {
        self.from_vendor_iter(kind, vendor)
    }

    /// [`ObjectMapping::from_vendor`] for vendor fields as they come (each name once), so that
    /// an adapter reading a record need not gather them into a map first.
    pub fn from_vendor_iter(
        &self,
        kind: ObjectKind,
        vendor: impl IntoIterator<Item = (String, FieldValue)>,
    ) -> FieldMap {
        // Without an index at hand: a scan of `fields` per vendor field (building the index
        // would cost more than scanning for one record).
        self.read_fields(kind, vendor, |name| {
            self.fields
                .iter()
                .rev()
                .find(|(_, v)| *v == name)
                .map(|(c, _)| c.as_str())
        })
        .into()
    }

    /// [`ObjectMapping::from_vendor_iter`] with the mapping's [`VendorNames`] (built once, by
    /// [`VendorNames::new`] from this mapping, or one with the same `fields`): a look-up per
    /// vendor field rather than a scan of the mapping, and a [`FieldList`] rather than a map (a
    /// record read on its way to a typed record, [`crate::Entity::from_list`]). What it holds
    /// is the same.
    pub fn read_vendor_named(
        &self,
        names: &VendorNames,
        kind: ObjectKind,
        vendor: impl IntoIterator<Item = (String, FieldValue)>,
    ) -> FieldList {
        self.read_fields(kind, vendor, |name| names.common(name))
    }

    /// Vendor fields → common fields, `common_of` naming the common field a vendor field is
    /// mapped to: when several are, the last in name order.
    fn read_fields<'m>(
        &'m self,
        kind: ObjectKind,
        vendor: impl IntoIterator<Item = (String, FieldValue)>,
        common_of: impl Fn(&str) -> Option<&'m str>,
    ) -> FieldList {
        let vendor = vendor.into_iter();
        // A filtering iterator's lower bound is 0: its upper one is the record's field count.
        let (least, most) = vendor.size_hint();
        let mut read = Vec::with_capacity(most.unwrap_or(least));
        for (mut name, value) in vendor {
            let mapped = common_of(&name);
            let common = match mapped {
                // The vendor name's buffer takes the common name when it fits; a longer one is
                // a new string (growing the buffer would reallocate and copy just the same).
                Some(c) if c.len() <= name.capacity() => {
                    name.clear();
                    name.push_str(c);
                    name
                }
                Some(c) => c.to_owned(),
                // A vendor field whose name is a mapped common name of another field would
                // shadow it; keep only explicitly mapped names then.
                None if self.pass_through && !self.fields.contains_key(&name) => name,
                None => continue,
            };
            let value = match (value, self.values.get(&common)) {
                (FieldValue::Text(t), Some(map)) => FieldValue::Text(
                    map.iter()
                        .find(|(_, v)| **v == t)
                        .map(|(c, _)| c.clone())
                        .unwrap_or(t),
                ),
                (v, _) => v,
            };
            let value = match self.rules.get(&common) {
                Some(r) if r.direction == Direction::Write => continue,
                Some(r) => rules::read_formatted(r, value),
                None => value,
            };
            read.push((common, value));
        }
        let mut out = FieldList::from_unsorted(read);
        for (name, rule) in &self.rules {
            if rule.direction != Direction::Write
                && out.get(name).is_none_or(FieldValue::is_null)
                && let Some(d) = rules::default_value(rule)
            {
                out.insert(name.clone(), d);
            }
        }
        for (status, _) in status_fields(kind) {
            let Some(FieldValue::Text(raw)) = out.get(status).cloned() else {
                continue;
            };
            if let Some(state) = self.states.get(*status).and_then(|m| m.get(&raw)) {
                out.insert(format!("{status}_state"), FieldValue::Text(state.clone()));
            }
            if let Some(label) = self.labels.get(*status).and_then(|m| m.get(&raw)) {
                out.insert(format!("{status}_label"), FieldValue::Text(label.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Entity, Region, Status, Ticket};

    fn ticket_mapping() -> ObjectMapping {
        toml::from_str(
            r#"
            [fields]
            subject = "title"
            status = "state"
            [states.status]
            new = "new"
            pending = "waiting"
            solved = "closed"
            [labels.status]
            solved = "Solved"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn vendor_field_names_in_errors_become_common_names() {
        use crate::error::{ErrorKind, FieldError};
        let m = ticket_mapping();
        assert_eq!(m.common_name("title"), Some("subject"));
        assert_eq!(m.common_name("TITLE"), Some("subject"));
        assert_eq!(m.common_name("shoe_size"), None);
        let err = Error::new(
            ErrorKind::Validation {
                fields: vec![
                    FieldError::new("State", Some("INVALID".into())),
                    FieldError::new("shoe_size", None),
                ],
            },
            "rejected",
        );
        let ErrorKind::Validation { fields } = m.name_error_fields(err).kind().clone() else {
            panic!("kind changed");
        };
        assert_eq!(
            fields,
            [
                FieldError::new("status", Some("INVALID".into())),
                FieldError::new("shoe_size", None)
            ]
        );
        // Other kinds pass untouched.
        let other = m.name_error_fields(Error::decode("x"));
        assert_eq!(other.kind(), &ErrorKind::Decode);
    }

    #[test]
    fn round_trip_with_states_and_labels() {
        let m = ticket_mapping();
        m.validate(ObjectKind::Ticket, "spec.toml objects.ticket")
            .unwrap();
        let t = Ticket {
            subject: Some("Broken".into()),
            status: Some(Status::new(crate::model::TicketState::Closed)),
            ..Default::default()
        };
        let vendor = m.to_vendor(ObjectKind::Ticket, &t.to_fields()).unwrap();
        assert_eq!(vendor.get("title"), Some(&FieldValue::from("Broken")));
        assert_eq!(vendor.get("state"), Some(&FieldValue::from("solved")));
        assert_eq!(vendor.len(), 2);

        let back = m.from_vendor(ObjectKind::Ticket, vendor);
        let t2 = Ticket::from_fields(back, Region::us()).unwrap();
        let status = t2.status.unwrap();
        assert_eq!(status.state, crate::model::TicketState::Closed);
        assert_eq!(status.raw.as_deref(), Some("solved"));
        assert_eq!(status.label.as_deref(), Some("Solved"));
    }

    #[test]
    fn unknown_state_value_is_a_mapping_error() {
        let m = ticket_mapping();
        let t = Ticket {
            status: Some(Status::new(crate::model::TicketState::Open)),
            ..Default::default()
        };
        let err = m.to_vendor(ObjectKind::Ticket, &t.to_fields()).unwrap_err();
        assert_eq!(err.kind(), &crate::ErrorKind::Mapping);
        assert!(err.message().contains("ticket.status"));
    }

    #[test]
    fn plain_value_maps_apply_both_ways() {
        let m: ObjectMapping = toml::from_str(
            "[fields]\nkind = \"type\"\n[values.kind]\nconversation_log = \"chat_log\"\n",
        )
        .unwrap();
        m.validate(ObjectKind::Activity, "f").unwrap();
        let mut common = FieldMap::new();
        common.insert("kind".into(), "conversation_log".into());
        let vendor = m.to_vendor(ObjectKind::Activity, &common).unwrap();
        assert_eq!(vendor.get("type"), Some(&FieldValue::from("chat_log")));
        let back = m.from_vendor(ObjectKind::Activity, vendor);
        assert_eq!(back, common);
    }

    #[test]
    fn validation_names_the_problem() {
        let dup: ObjectMapping =
            toml::from_str("[fields]\nemail = \"mail\"\nphone = \"mail\"\n").unwrap();
        let err = dup.validate(ObjectKind::Contact, "f.toml").unwrap_err();
        assert!(
            err.message().contains("both map to vendor field `mail`"),
            "{}",
            err.message()
        );
        let bad_state: ObjectMapping =
            toml::from_str("[states.status]\nx = \"exploded\"\n").unwrap();
        assert!(bad_state.validate(ObjectKind::Ticket, "f").is_err());
        let wrong_kind: ObjectMapping = toml::from_str("[states.status]\nx = \"new\"\n").unwrap();
        assert!(wrong_kind.validate(ObjectKind::Contact, "f").is_err());
        assert!(toml::from_str::<ObjectMapping>("[fieldz]\na = \"b\"\n").is_err());
    }

    /// Issue 15: names are resolved by scanning the mapping rather than through a reverse map
    /// built per record; what a read yields is unchanged, also for a vendor field two common
    /// fields name (the last common name in order wins, as the reverse map had it) and for
    /// fields passed through.
    #[test]
    fn reading_maps_names_as_the_reverse_map_did_issue15() {
        let m: ObjectMapping = toml::from_str(
            r#"
            [fields]
            subject = "title"
            headline = "title"
            status = "state"
            [states.status]
            solved = "closed"
            "#,
        )
        .unwrap();
        let vendor: FieldMap = [
            ("title", FieldValue::from("Printer on fire")),
            ("state", FieldValue::from("solved")),
            ("loyalty", FieldValue::from("gold")),
            // A vendor field named like a mapped common field is not passed through.
            ("subject", FieldValue::from("shadow")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let common = m.from_vendor(ObjectKind::Ticket, vendor.clone());
        let names: Vec<&str> = common.keys().map(String::as_str).collect();
        assert_eq!(names, ["loyalty", "status", "status_state", "subject"]);
        assert_eq!(common["subject"], FieldValue::from("Printer on fire"));
        assert_eq!(common["status_state"], FieldValue::from("closed"));
        assert_eq!(
            m.from_vendor_iter(ObjectKind::Ticket, vendor.clone()),
            common
        );
        let names = VendorNames::new(&m);
        assert_eq!(names.common("title"), Some("subject"));
        assert_eq!(names.common("loyalty"), None);
        assert_eq!(
            FieldMap::from(m.read_vendor_named(&names, ObjectKind::Ticket, vendor)),
            common
        );
    }
}
