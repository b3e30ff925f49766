//! HubSpot's JSON (its CRM API reference: objects, batch, search, associations v4) and the
//! conversion between HubSpot objects and vendor records: properties are strings both ways,
//! links are associations, an activity's id carries its object (`note:6001`), ticket and deal
//! stages get their state and label from the pipelines, a lead is a contact in a lifecycle
//! stage, and a conversation log is marked (see [`crate::extras::logs`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crm_core::mapping::{ObjectMapping, VendorNames};
use crm_core::model::fields::parse_datetime;
use crm_core::raw::http::Request;
use crm_core::raw::{VendorRecord, VendorWrite, WriteOp};
use crm_core::reexports::chrono::SecondsFormat;
use crm_core::reexports::serde_json::{Map, Value, json};
use crm_core::{Error, ErrorKind, FieldMap, FieldValue, ObjectKind, RecordId, RecordRef, Result};
use serde::{Deserialize, Deserializer};

use crate::config::ConversationLogAs;
use crate::extras::logs;
use crate::extras::objects::{HubObject, MappingTarget, assoc_specs};
use crate::limits::GENERAL;
use crate::state::HubSpotBackend;

fn id_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        // Name the JSON type only: a value could be personal data.
        other => Err(serde::de::Error::custom(format!(
            "expected an id (string or number), got {}",
            crm_core::raw::json::type_name(&other)
        ))),
    }
}

/// `SimplePublicObject(WithAssociations)`. A missing `Option` field is `None` (serde's rule).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HsObject {
    #[serde(deserialize_with = "id_text")]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) properties: Props,
    pub(crate) created_at: Option<String>,
    pub(crate) updated_at: Option<String>,
    pub(crate) associations: Option<BTreeMap<String, HsList<HsAssocId>>>,
    pub(crate) object_write_trace_id: Option<String>,
    pub(crate) new: Option<bool>,
}

/// An object's `properties` as HubSpot sent them: a list of name and value, not a map. A record
/// has a few dozen properties at most, each read once on its way into the common fields, so an
/// ordered map's inserts (the cost of decoding into `serde_json::Map`) would buy nothing.
/// Where a name comes twice, the last one counts, as in a map.
#[derive(Debug, Clone, Default)]
pub(crate) struct Props(Vec<(String, Value)>);

impl Props {
    /// The value of property `name`, if sent.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl IntoIterator for Props {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'de> Deserialize<'de> for Props {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Props;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of properties")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Props, A::Error> {
                let mut props = Vec::with_capacity(map.size_hint().unwrap_or(16).min(256));
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    props.push(entry);
                }
                Ok(Props(props))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// `results` and `paging`: a list or search page ([`HsPage`]), the `associations.{type}` of a
/// read (`HsList<HsAssocId>`), or a v4 associations batch read, whose inputs' lists are `to`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HsList<T> {
    #[serde(default = "Vec::new", alias = "to")]
    pub(crate) results: Vec<T>,
    pub(crate) paging: Option<HsPaging>,
}

/// A list or search page.
pub(crate) type HsPage = HsList<HsObject>;

/// One associated id and its type name (`contact_to_company`); a v4 target's `toObjectId`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HsAssocId {
    #[serde(deserialize_with = "id_text", alias = "toObjectId")]
    pub(crate) id: String,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
}

/// `paging`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HsPaging {
    pub(crate) next: Option<HsNext>,
}

/// `paging.next`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HsNext {
    #[serde(deserialize_with = "id_text")]
    pub(crate) after: String,
}

impl HsPaging {
    pub(crate) fn after(p: &Option<HsPaging>) -> Option<String> {
        p.as_ref()
            .and_then(|p| p.next.as_ref())
            .map(|n| n.after.clone())
            .filter(|a| !a.is_empty())
    }
}

/// A batch answer (200/201/207).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HsBatch {
    #[serde(default)]
    pub(crate) results: Vec<HsObject>,
    #[serde(default)]
    pub(crate) errors: Vec<Value>,
}

/// A typed value as HubSpot's string: numbers as written, booleans `true`/`false`, dates
/// `YYYY-MM-DD`, instants ISO-8601 UTC with milliseconds, multi-select `a;b`, and `""` for
/// [`FieldValue::Null`], which clears the property.
pub(crate) fn to_hubspot(value: &FieldValue) -> String {
    match value {
        FieldValue::Text(s) => s.clone(),
        FieldValue::Number(n) => n.as_str().to_owned(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        FieldValue::DateTime(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
        FieldValue::List(items) => items.join(";"),
        _ => String::new(),
    }
}

/// A property value from a response: strings stay text (moved, not copied), `null` (requested
/// but unset) is [`FieldValue::Null`]; anything else (HubSpot sends none) keeps its JSON text.
pub(crate) fn from_hubspot(value: Value) -> FieldValue {
    match value {
        Value::Null => FieldValue::Null,
        Value::String(s) => FieldValue::Text(s),
        other => FieldValue::Text(other.to_string()),
    }
}

/// Vendor fields → a `properties` object.
pub(crate) fn to_properties(fields: &FieldMap) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(to_hubspot(v))))
        .collect()
}

/// The link fields of a kind and the object each points to.
pub(crate) fn link_fields(kind: ObjectKind) -> &'static [(&'static str, HubObject)] {
    match kind {
        ObjectKind::Contact => &[("account_id", HubObject::Companies)],
        ObjectKind::Opportunity | ObjectKind::Ticket => &[
            ("contact_id", HubObject::Contacts),
            ("account_id", HubObject::Companies),
        ],
        ObjectKind::Activity => &[
            ("contact_id", HubObject::Contacts),
            ("lead_id", HubObject::Contacts),
            ("ticket_id", HubObject::Tickets),
            ("opportunity_id", HubObject::Deals),
            ("account_id", HubObject::Companies),
        ],
        ObjectKind::Lead | ObjectKind::Account => &[],
    }
}

/// The `associations` query parameter of a read of `kind`, if it needs one: the objects its
/// link fields point to (see [`link_fields`]), each once. A contact's company is its
/// `associatedcompanyid`, not read this way. A static string per kind: every read sends it.
pub(crate) fn link_query(kind: ObjectKind) -> Option<&'static str> {
    match kind {
        ObjectKind::Opportunity | ObjectKind::Ticket => Some("contacts,companies"),
        ObjectKind::Activity => Some("contacts,tickets,deals,companies"),
        ObjectKind::Contact | ObjectKind::Lead | ObjectKind::Account => None,
    }
}

/// Splits an activity id (`call:9`); a bare id is a note's.
pub(crate) fn split_activity_id(id: &str) -> (HubObject, &str) {
    match id.split_once(':') {
        Some((prefix, rest)) => match HubObject::from_name(prefix) {
            Some(o) if HubObject::ENGAGEMENTS.contains(&o) => (o, rest),
            _ => (HubObject::Notes, id),
        },
        None => (HubObject::Notes, id),
    }
}

/// The pipeline property of tickets and deals.
pub(crate) fn pipeline_prop(object: HubObject) -> Option<&'static str> {
    match object {
        HubObject::Tickets => Some("hs_pipeline"),
        HubObject::Deals => Some("pipeline"),
        _ => None,
    }
}

/// The common status field of a target, if it has one.
pub(crate) fn status_field(target: MappingTarget) -> Option<&'static str> {
    match target {
        MappingTarget::Ticket | MappingTarget::Lead => Some("status"),
        MappingTarget::Opportunity => Some("stage"),
        MappingTarget::Task => Some("task_status"),
        _ => None,
    }
}

/// A non-empty text field.
pub(crate) fn text(map: &FieldMap, key: &str) -> Option<String> {
    match map.get(key) {
        Some(FieldValue::Text(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The record's target and HubSpot id, the id not checked.
pub(crate) fn locate_unchecked(kind: ObjectKind, id: &str) -> (MappingTarget, &str) {
    match kind {
        ObjectKind::Activity => {
            let (object, raw) = split_activity_id(id);
            (MappingTarget::for_engagement(object), raw)
        }
        other => (MappingTarget::main(other), id),
    }
}

/// The record's target and HubSpot id.
///
/// HubSpot record ids are decimal digits (`hs_object_id`), so anything else is refused before
/// a request: `.` or `..` (in any encoding, after an activity's `note:` prefix) as
/// `InvalidInput`, since it would change the resource a path addresses; any other text as
/// `NotFound`, the answer HubSpot itself gives for an id it does not hold.
pub(crate) fn locate(kind: ObjectKind, id: &RecordId) -> Result<(MappingTarget, String)> {
    let (target, raw) = locate_unchecked(kind, id.as_str());
    if crm_core::raw::http::is_dot_segment(raw) {
        return Err(Error::invalid_input(
            "record id is `.` or `..` (possibly percent-encoded), not a HubSpot record id",
        ));
    }
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new(
            ErrorKind::NotFound,
            "not a HubSpot record id (HubSpot ids are decimal digits); nothing was sent",
        ));
    }
    Ok((target, raw.to_owned()))
}

/// The object a reference points to and its id in HubSpot.
pub(crate) fn ref_object(r: &RecordRef) -> (HubObject, String) {
    let (target, id) = locate_unchecked(r.kind, r.id.as_str());
    (target.object(), id.to_owned())
}

/// `None` for a record HubSpot does not hold.
pub(crate) fn found<T>(read: Result<T>) -> Result<Option<T>> {
    match read {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == &ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The first id associated with `to`, preferring a labelled (primary) type over `_unlabeled`.
fn associated_id(hs: &HsObject, to: HubObject) -> Option<String> {
    let assocs = hs.associations.as_ref()?;
    let coll = assocs
        .get(to.name())
        .or_else(|| assocs.get(to.type_id()))
        .or_else(|| assocs.get(to.singular()))?;
    coll.results
        .iter()
        .find(|a| {
            a.kind
                .as_deref()
                .is_some_and(|k| !k.ends_with("_unlabeled"))
        })
        .or_else(|| coll.results.first())
        .map(|a| a.id.clone())
}

/// The stage property of a ticket or deal read.
pub(crate) fn stage_of(target: MappingTarget, hs: &HsObject) -> Option<String> {
    let prop = match target {
        MappingTarget::Ticket => "hs_pipeline_stage",
        MappingTarget::Opportunity => "dealstage",
        _ => return None,
    };
    hs.properties
        .get(prop)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A target's mapping with its vendor-name index, from one look-up
/// ([`crm_core::raw::Mappings::get_named`]).
pub(crate) type Named = (Arc<ObjectMapping>, Arc<VendorNames>);

/// Names as the `properties` query parameter (`a,b,c`).
fn join_names(names: &mut dyn Iterator<Item = &str>) -> String {
    let mut out = String::new();
    for name in names {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(name);
    }
    out
}

impl HubSpotBackend {
    /// Vendor property names in a validation error become common field names.
    pub(crate) fn rename(&self, err: Error, target: MappingTarget) -> Error {
        match self.mappings.get(target.as_str()) {
            Ok(mapping) => mapping.name_error_fields(err),
            Err(_) => err,
        }
    }

    /// `GET /objects/{o}/{id}` with the properties and associations a record needs.
    pub(crate) async fn fetch(
        &self,
        target: MappingTarget,
        id: &str,
        id_property: Option<&str>,
        operation: &str,
    ) -> Result<HsObject> {
        let mapping = self.mappings.get(target.as_str())?;
        self.fetch_with(target, &mapping, id, id_property, operation)
            .await
    }

    /// [`HubSpotBackend::fetch`] with the target's mapping already at hand (a get looks it up
    /// once, for the request and the decoding).
    pub(crate) async fn fetch_with(
        &self,
        target: MappingTarget,
        mapping: &Arc<ObjectMapping>,
        id: &str,
        id_property: Option<&str>,
        operation: &str,
    ) -> Result<HsObject> {
        let props = self.read_props_query_with(target, mapping);
        let links = link_query(target.kind());
        self.get_object(target.object(), id, props, links, id_property, operation)
            .await
    }

    /// `GET /objects/{o}/{id}?properties=…`, with `associations` and `idProperty` when given.
    pub(crate) async fn get_object(
        &self,
        object: HubObject,
        id: &str,
        properties: String,
        associations: Option<&str>,
        id_property: Option<&str>,
        operation: &str,
    ) -> Result<HsObject> {
        let mut req = Request::get(self.paths.record(object, id), operation)
            .addresses_record()
            .query("properties", properties)
            .bucket(GENERAL);
        if let Some(assocs) = associations {
            req = req.query("associations", assocs);
        }
        if let Some(p) = id_property {
            req = req.query("idProperty", p);
        }
        self.http.send(req).await?.json()
    }

    /// One HubSpot object as a vendor record.
    pub(crate) async fn record(
        &self,
        target: MappingTarget,
        hs: HsObject,
        context: &[(&str, &str)],
    ) -> Result<VendorRecord> {
        let base = self.mappings.get_named(target.as_str())?;
        self.record_with(target, base, hs, context).await
    }

    /// [`HubSpotBackend::record`] with the target's mapping already at hand: no look-up again,
    /// no one-item list.
    pub(crate) async fn record_with(
        &self,
        target: MappingTarget,
        (base, names): Named,
        hs: HsObject,
        context: &[(&str, &str)],
    ) -> Result<VendorRecord> {
        let stage = stage_of(target, &hs);
        let mapping = self
            .read_mapping_from(target, base, stage.as_deref())
            .await?;
        self.decode_with(target, (&mapping, &names), hs, context)
    }

    /// The object conversation logs live in.
    pub(crate) fn log_object(&self) -> HubObject {
        match self.config.conversation_log_as {
            ConversationLogAs::Call => HubObject::Calls,
            ConversationLogAs::Note => HubObject::Notes,
        }
    }

    /// Properties requested on reads of `target`.
    pub(crate) fn read_props(&self, target: MappingTarget) -> Vec<String> {
        let mapping = self.mappings.get(target.as_str()).ok();
        self.with_read_props(target, mapping.as_deref(), |names| {
            names.map(str::to_owned).collect()
        })
    }

    /// [`HubSpotBackend::read_props`] as the `properties` query parameter (`a,b,c`).
    pub(crate) fn read_props_query(&self, target: MappingTarget) -> String {
        match self.mappings.get(target.as_str()) {
            Ok(mapping) => self.read_props_query_with(target, &mapping),
            Err(_) => self.with_read_props(target, None, join_names),
        }
    }

    /// [`HubSpotBackend::read_props_query`] for `mapping`, built once per target and mapping:
    /// every read sends it, and it changes only when the mapping does (a swap brings a new
    /// mapping, which the cache tells from the old by its pointer; the cache holds the mapping
    /// so that its address is not reused while cached).
    pub(crate) fn read_props_query_with(
        &self,
        target: MappingTarget,
        mapping: &Arc<ObjectMapping>,
    ) -> String {
        let cached = self.props_cache.read().ok().and_then(|cache| {
            cache
                .get(target.as_str())
                .filter(|(m, _)| Arc::ptr_eq(m, mapping))
                .map(|(_, q)| q.clone())
        });
        if let Some(query) = cached {
            return query;
        }
        let query = self.with_read_props(target, Some(mapping), join_names);
        if let Ok(mut cache) = self.props_cache.write() {
            cache.insert(target.as_str(), (mapping.clone(), query.clone()));
        }
        query
    }

    /// Calls `f` with the names of the properties read for `target`, sorted and each once.
    fn with_read_props<R>(
        &self,
        target: MappingTarget,
        mapping: Option<&ObjectMapping>,
        f: impl FnOnce(&mut dyn Iterator<Item = &str>) -> R,
    ) -> R {
        let mut names: BTreeSet<&str> = mapping
            .map(|m| m.fields.values().map(String::as_str).collect())
            .unwrap_or_default();
        let object = target.object();
        if let Some(p) = pipeline_prop(object) {
            names.insert(p);
        }
        if target == MappingTarget::Lead {
            names.insert("lifecyclestage");
        }
        if let Some(kind_prop) = &self.config.activity_kind_property
            && object == self.log_object()
        {
            names.insert(kind_prop);
        }
        names.insert(object.modified_prop());
        f(&mut names.into_iter())
    }

    /// The mapping to read `target` records with: for tickets and deals, with every stage's
    /// state and label from the pipelines.
    pub(crate) async fn read_mapping(
        &self,
        target: MappingTarget,
        stage_hint: Option<&str>,
    ) -> Result<Named> {
        let (base, names) = self.mappings.get_named(target.as_str())?;
        let mapping = self.read_mapping_from(target, base, stage_hint).await?;
        Ok((mapping, names))
    }

    /// [`HubSpotBackend::read_mapping`] from the target's mapping in use, `base` (the stages
    /// add states and labels only: the fields, and so the vendor-name index, stay).
    pub(crate) async fn read_mapping_from(
        &self,
        target: MappingTarget,
        base: Arc<ObjectMapping>,
        stage_hint: Option<&str>,
    ) -> Result<Arc<ObjectMapping>> {
        match (target, status_field(target)) {
            (MappingTarget::Ticket | MappingTarget::Opportunity, Some(field)) => {
                // Boxed: only these targets wait for pipelines, and the wait is large enough
                // to double the size of every other read's future.
                let set = Box::pin(self.pipelines(target.object(), stage_hint)).await?;
                Ok(Arc::new(set.apply(&base, field)))
            }
            _ => Ok(base),
        }
    }

    /// HubSpot objects of `target` as vendor records. `context` fills link fields the read did
    /// not return (a batch read has no associations; the caller knows how it found them).
    pub(crate) async fn decode(
        &self,
        target: MappingTarget,
        objects: Vec<HsObject>,
        context: &[(&str, &str)],
    ) -> Result<Vec<VendorRecord>> {
        let stage = objects.iter().find_map(|hs| stage_of(target, hs));
        let (mapping, names) = self.read_mapping(target, stage.as_deref()).await?;
        objects
            .into_iter()
            .map(|hs| self.decode_with(target, (&mapping, &names), hs, context))
            .collect()
    }

    /// One HubSpot object as a vendor record. The common fields are resolved here, with the
    /// pipelines' stages in the mapping, so the record's `resolved` holds them all.
    pub(crate) fn decode_with(
        &self,
        target: MappingTarget,
        (mapping, names): (&ObjectMapping, &VendorNames),
        mut hs: HsObject,
        context: &[(&str, &str)],
    ) -> Result<VendorRecord> {
        let kind = target.kind();
        let object = target.object();
        let properties = std::mem::take(&mut hs.properties);
        let skip = object.system_props();
        let pipeline = pipeline_prop(object);
        let kind_prop = self.config.activity_kind_property.as_deref();
        let (mut lifecycle, mut marker) = (None, None);
        // The properties go straight into the mapping, without a map of vendor fields in
        // between; the ones that are not fields are taken out on the way.
        let vendor = properties.into_iter().filter_map(|(name, value)| {
            let n = name.as_str();
            let taken = match n {
                _ if skip.contains(&n) || pipeline == Some(n) => return None,
                "lifecyclestage" => &mut lifecycle,
                _ if kind_prop == Some(n) => &mut marker,
                _ => return Some((name, from_hubspot(value))),
            };
            *taken = Some(from_hubspot(value));
            None
        });
        let mut common = mapping.read_vendor_named(names, kind, vendor);
        let mut activity_kind = match target {
            MappingTarget::Task => "task",
            MappingTarget::Call => "call",
            _ => "note",
        };
        let log_object = object == self.log_object();
        let unmarked = log_object && kind == ObjectKind::Activity && logs::unmark(&mut common);
        let marked = matches!(marker, Some(FieldValue::Text(ref m)) if m == "conversation_log");
        if unmarked || (log_object && marked) {
            activity_kind = "conversation_log";
        }
        for (field, to) in link_fields(kind) {
            if !common.contains_key(field)
                && let Some(id) = associated_id(&hs, *to)
            {
                common.insert((*field).to_owned(), FieldValue::Text(id));
            }
        }
        for (field, id) in context {
            common.insert_missing(field, || FieldValue::Text((*id).to_owned()));
        }
        let created_at = hs.created_at.as_deref().and_then(parse_datetime);
        let updated_at = hs.updated_at.as_deref().and_then(parse_datetime);
        let mut id = std::mem::take(&mut hs.id);
        if kind == ObjectKind::Activity {
            common.insert("kind".into(), FieldValue::Text(activity_kind.to_owned()));
            if target == MappingTarget::Task
                && let Some(at) = created_at
            {
                common.insert("timestamp".into(), FieldValue::DateTime(at));
            }
            id = format!("{}:{id}", object.singular());
        }
        if kind == ObjectKind::Lead {
            common.insert("contact_id".into(), FieldValue::Text(id.clone()));
            // A contact past the lead stages has been converted.
            if let Some(FieldValue::Text(stage)) = lifecycle
                && matches!(stage.as_str(), "opportunity" | "customer" | "evangelist")
            {
                common.insert("status_state".into(), FieldValue::Text("converted".into()));
                common.insert_missing("status", || FieldValue::Text(stage));
            }
        }
        let id =
            RecordId::new(id).map_err(|e| Error::decode(format!("field `id`: {}", e.message())))?;
        let mut record = VendorRecord::new(id, target.as_str(), FieldMap::new());
        record.created_at = created_at;
        record.updated_at = updated_at;
        record.resolved = common;
        Ok(record)
    }
}

/// A write's HubSpot properties, associations and the link fields it sets.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) target: MappingTarget,
    pub(crate) props: Map<String, Value>,
    pub(crate) links: Vec<(HubObject, String)>,
    pub(crate) context: Vec<(&'static str, String)>,
}

impl Prepared {
    /// Inline associations of a create (`[{to:{id}, types:[…]}]`).
    pub(crate) fn inline_associations(&self) -> Value {
        let from = self.target.object();
        let links = self
            .links
            .iter()
            .map(|(to, id)| json!({"to": {"id": id}, "types": assoc_specs(from, *to)}));
        Value::Array(links.collect())
    }

    /// The `(link field, id)` pairs that fill the record a write returns.
    pub(crate) fn context(&self) -> Vec<(&str, &str)> {
        self.context
            .iter()
            .map(|(f, id)| (*f, id.as_str()))
            .collect()
    }
}

impl HubSpotBackend {
    /// A write's properties and associations: the mapped fields, then what HubSpot needs
    /// besides (a ticket's or deal's pipeline and first stage, a lead's lifecycle stage, the
    /// conversation-log property, an engagement's `hs_timestamp`), the links as associations.
    pub(crate) async fn prepare(&self, w: &VendorWrite, id: Option<&str>) -> Result<Prepared> {
        let target = MappingTarget::named(w.target)
            .ok_or_else(|| Error::config(format!("`{}` is not a HubSpot target", w.target)))?;
        let kind = w.kind;
        let mut props = to_properties(&w.fields);
        let mut links = Vec::new();
        let mut context = Vec::new();
        for (field, to) in link_fields(kind) {
            if let Some(id) = text(&w.common, field) {
                links.push((*to, id.clone()));
                context.push((*field, id));
            }
        }
        let mut extra = Map::new();
        let create = matches!(w.op, WriteOp::Create { .. });
        if let Some(p) = &self.config.activity_kind_property
            && !matches!(w.op, WriteOp::Update { .. })
            && text(&w.common, "kind").as_deref() == Some("conversation_log")
        {
            extra.insert(p.clone(), json!("conversation_log"));
        }
        if matches!(target, MappingTarget::Ticket | MappingTarget::Opportunity) {
            self.resolve_stage(target, w, id, &mut props, &mut extra)
                .await?;
        }
        if kind == ObjectKind::Lead && create {
            extra.insert(
                "lifecyclestage".into(),
                json!(self.config.lead_lifecycle_stage),
            );
        }
        for (k, v) in extra {
            props.entry(k).or_insert(v);
        }
        let object = target.object();
        if create && HubObject::ENGAGEMENTS.contains(&object) && !props.contains_key("hs_timestamp")
        {
            // hs_timestamp is required on engagements (HubSpot's notes, tasks and calls guides).
            let now = FieldValue::DateTime(crm_core::reexports::chrono::Utc::now());
            props.insert("hs_timestamp".into(), json!(to_hubspot(&now)));
        }
        Ok(Prepared {
            target,
            props,
            links,
            context,
        })
    }

    /// The stage of a ticket or deal given by state, and the pipeline of any stage.
    async fn resolve_stage(
        &self,
        target: MappingTarget,
        w: &VendorWrite,
        id: Option<&str>,
        props: &mut Map<String, Value>,
        extra: &mut Map<String, Value>,
    ) -> Result<()> {
        let field = status_field(target).unwrap_or("status");
        let raw = text(&w.common, field);
        let state = text(&w.common, &format!("{field}_state"));
        let object = target.object();
        let pipe_prop = pipeline_prop(object).unwrap_or("pipeline");
        if raw.is_none() && state.is_none() && !matches!(w.op, WriteOp::Create { .. }) {
            // Only a create needs a stage; an update or upsert leaves it alone.
            return Ok(());
        }
        let set = self.pipelines(object, raw.as_deref()).await?;
        if let Some(raw) = raw {
            if let Some(stage) = set.stage(&raw) {
                extra.insert(pipe_prop.into(), json!(stage.pipeline.clone()));
            }
            return Ok(());
        }
        let pipeline = match id {
            Some(id) if set.count() > 1 => {
                Some(self.current_pipeline(object, id, pipe_prop).await?)
            }
            _ => set.default_pipeline().map(str::to_owned),
        }
        .ok_or_else(|| Error::mapping(format!("{}: no pipeline", target.kind())))?;
        // A new record without a status starts in its pipeline's first stage: HubSpot requires
        // a stage (its deals and tickets guides).
        let first = if target == MappingTarget::Ticket {
            "new"
        } else {
            "open"
        };
        let state = state.unwrap_or_else(|| first.to_owned());
        let stage = set.stage_for(&pipeline, &state).ok_or_else(|| {
            Error::mapping(format!(
                "{}.{field}: pipeline {pipeline} has no stage for state `{state}`",
                target.kind()
            ))
        })?;
        let mapping = self.mappings.get(target.as_str())?;
        let vendor = mapping.vendor_name(field).unwrap_or(field);
        props.insert(vendor.to_owned(), json!(stage.id.clone()));
        extra.insert(pipe_prop.into(), json!(pipeline));
        Ok(())
    }

    async fn current_pipeline(&self, object: HubObject, id: &str, prop: &str) -> Result<String> {
        let op = format!("{}.update", object.singular());
        let props = prop.to_owned();
        let hs = self.get_object(object, id, props, None, None, &op).await?;
        let pipeline = hs.properties.get(prop).and_then(Value::as_str);
        Ok(pipeline.unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::Number;
    use crm_core::model::fields::FieldReader;
    use crm_core::reexports::chrono::{DateTime, NaiveDate};
    use crm_core::{ObjectKind, Region};

    /// Issue 15: the `associations` parameter is a static string per kind; it names the objects
    /// the kind's link fields point to, each once, in link-field order (a contact's company is
    /// its `associatedcompanyid`, not read this way).
    #[test]
    fn link_query_names_each_linked_object_once_issue15() {
        for kind in ObjectKind::ALL {
            let mut names: Vec<&str> = Vec::new();
            for (_, o) in link_fields(kind) {
                if kind != ObjectKind::Contact && !names.contains(&o.name()) {
                    names.push(o.name());
                }
            }
            let derived = (!names.is_empty()).then(|| names.join(","));
            assert_eq!(link_query(kind).map(str::to_owned), derived, "{kind}");
        }
        assert_eq!(
            link_query(ObjectKind::Activity),
            Some("contacts,tickets,deals,companies")
        );
    }

    #[test]
    fn typed_values_round_trip_through_strings() {
        let cases = [
            (
                FieldValue::Number(Number::parse("12345678901234567890.01").unwrap()),
                "12345678901234567890.01",
            ),
            (FieldValue::Bool(false), "false"),
            (
                FieldValue::Date(NaiveDate::from_ymd_opt(2026, 12, 15).unwrap()),
                "2026-12-15",
            ),
            (
                FieldValue::DateTime(DateTime::from_timestamp_millis(1_572_480_000_123).unwrap()),
                "2019-10-31T00:00:00.123Z",
            ),
            (FieldValue::List(vec!["a".into(), "b".into()]), "a;b"),
            (FieldValue::Null, ""),
            (FieldValue::Text("x".into()), "x"),
        ];
        for (v, s) in cases {
            assert_eq!(to_hubspot(&v), s);
        }
        let mut map = FieldMap::new();
        for (name, text) in [
            ("n", "17"),
            ("b", "false"),
            ("ms", "1572480000000"),
            ("iso", "2019-10-31T00:00:00.000Z"),
            ("d", "2026-12-15"),
        ] {
            map.insert(name.into(), from_hubspot(Value::String(text.into())));
        }
        let mut r = FieldReader::new(ObjectKind::Contact, map, Region::us());
        assert_eq!(r.number("n").unwrap().unwrap().as_str(), "17");
        assert_eq!(r.bool("b").unwrap(), Some(false));
        assert_eq!(
            r.datetime("ms").unwrap(),
            DateTime::from_timestamp_millis(1_572_480_000_000)
        );
        assert_eq!(
            r.datetime("iso").unwrap(),
            DateTime::from_timestamp_millis(1_572_480_000_000)
        );
        assert_eq!(r.date("d").unwrap(), NaiveDate::from_ymd_opt(2026, 12, 15));
        assert_eq!(from_hubspot(Value::Null), FieldValue::Null);
    }

    #[test]
    fn activity_ids_carry_their_object() {
        assert_eq!(split_activity_id("call:9"), (HubObject::Calls, "9"));
        assert_eq!(split_activity_id("9"), (HubObject::Notes, "9"));
        assert_eq!(split_activity_id("x:9"), (HubObject::Notes, "x:9"));
    }
}
