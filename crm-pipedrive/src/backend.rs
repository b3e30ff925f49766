//! The builder, the capabilities, and core's [`Backend`] trait on Pipedrive's endpoints.
//!
//! What only this backend does (everything else is core's record family):
//! - an activity is an activity (`task`, `call`) or a note (notes, conversation logs, which are
//!   notes whose content starts with [`CONVERSATION_LOG_MARKER`]); notes' ids carry the prefix
//!   `note-` because the two id spaces overlap;
//! - a lead's name, email and phone are its person's: a lead created without `person_id` gets a
//!   person created first, and a lead read joins its person's fields as `person.*`;
//! - look-ups are exact searches of persons (email, phone, or the external-id custom field),
//!   whose hits are then read in one `ids=` listing (search hits carry few fields).

use std::collections::BTreeMap;
use std::sync::Arc;

use crm_core::credential::CredentialProvider;
use crm_core::limits::RateLimiter;
use crm_core::raw::http::{HttpClient, HttpClientBuilder, Request, encode_segment};
use crm_core::raw::{
    Backend, BackendFacts, Connection, ConnectionOptions, Query, QueryFilter, VendorRecord,
    VendorWrite, WriteOp, Written, json,
};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::Method;
use crm_core::reexports::serde_json::{Map, Value, json};
use crm_core::{
    Capabilities, Error, FieldMap, FieldValue, Lookup, ObjectCapabilities, ObjectKind, Page,
    RecordId, Region, Result,
};

use crate::config::PipedriveConfig;
use crate::error::PipedriveErrors;
use crate::lister::{MAX_PAGE, page, request, search_persons};
use crate::wire::{Entity, Envelope, from_flat, to_flat};
use crate::{FACTS, MAPPING_TARGETS, VENDOR, credential, limits};

/// What a note's content starts with when it is a conversation log.
pub const CONVERSATION_LOG_MARKER: &str = "[conversation log]\n";
const NOTE_ID_PREFIX: &str = "note-";

#[doc = include_str!("../docs.md")]
#[derive(Debug, Default)]
pub struct PipedriveBuilder {
    config: PipedriveConfig,
    pub(crate) options: ConnectionOptions,
}

crm_core::connection_options!(PipedriveBuilder);

impl PipedriveBuilder {
    /// A builder with the default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder with `config`'s settings.
    pub fn with_config(mut self, config: PipedriveConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets one of [`crate::config::KEYS`] from its text (`base_url`, `api_token`,
    /// `external_id_field`, …), as config pairs and `CRM_PIPEDRIVE_*` variables name them.
    pub fn with_setting(mut self, key: &str, value: &str) -> Result<Self> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// Checks everything and builds the connection. Makes no network call.
    pub fn build(self) -> Result<Pipedrive> {
        let (c, o) = (self.config, self.options);
        let credentials: Arc<dyn CredentialProvider> = match (
            o.credentials.clone(),
            c.api_token.clone(),
            c.access_token.clone(),
        ) {
            (Some(p), _, _) => p,
            (None, Some(t), _) => Arc::new(credential::api_token(t)?),
            (None, None, Some(t)) => Arc::new(credential::access_token(t)),
            (None, None, None) => {
                return Err(Error::config(
                    "api_token: set an API token or an access token",
                ));
            }
        };
        let own: Arc<dyn RateLimiter> = Arc::new(limits::limiter(c.burst));
        let mut http = HttpClientBuilder::new(VENDOR, c.base_url.clone())
            .with_credentials(credentials)
            .with_error_parser(Arc::new(PipedriveErrors))
            .with_timeout(c.timeout);
        if let Some(limiter) = o.limiter(|| Some(own)) {
            http = http.with_limiter(limiter);
        }
        let mut defaults = FACTS.default_mapping()?;
        let mut defaults: BTreeMap<&'static str, _> = MAPPING_TARGETS
            .iter()
            .filter_map(|(t, _)| Some((*t, defaults.remove(*t)?)))
            .collect();
        if let (Some(key), Some(m)) = (&c.external_id_field, defaults.get_mut("contact")) {
            m.fields.insert("external_id".into(), key.clone());
        }
        if let (Some(key), Some(m)) = (&c.lead_source_field, defaults.get_mut("lead")) {
            m.fields.insert("source".into(), key.clone());
        }
        let mappings = o.mappings("Pipedrive's defaults", MAPPING_TARGETS, defaults)?;
        let backend = PipedriveBackend {
            http: o.transport(http).build()?,
            capabilities: capabilities(&c),
            external_id_field: c.external_id_field,
        };
        Ok(o.connect(backend, mappings, VENDOR))
    }
}

/// Pipedrive has no tickets, no batch endpoints, no idempotency key and no upsert: creates are
/// not idempotent, and a batch is one request per item.
fn capabilities(c: &PipedriveConfig) -> Capabilities {
    let mut caps = Capabilities::default();
    for kind in Entity::ALL.map(Entity::kind) {
        let mut o = ObjectCapabilities::read_write();
        o.max_batch = Some(1);
        o.max_page_size = Some(MAX_PAGE);
        o.list_changed_since = !matches!(kind, ObjectKind::Lead | ObjectKind::Activity);
        caps.objects.insert(kind, o);
    }
    caps.lookup_by_phone = true;
    caps.lookup_by_external_id = c.external_id_field.is_some();
    caps
}

/// A connection to Pipedrive.
pub type Pipedrive = Connection<PipedriveBackend>;

/// Pipedrive's hooks.
#[derive(Debug)]
pub struct PipedriveBackend {
    http: HttpClient,
    capabilities: Capabilities,
    external_id_field: Option<String>,
}

/// The entity a `kind` record of mapping `target` lives in (an `Activity` is a note when its
/// target is `note`, else an activity).
fn entity_of(kind: ObjectKind, target: &str) -> Result<Entity> {
    let note = kind == ObjectKind::Activity && target == "note";
    let mut all = Entity::ALL.into_iter();
    all.find(|e| e.kind() == kind && (*e == Entity::Notes) == note)
        .ok_or_else(|| Error::unsupported(format!("{kind}"), "Pipedrive has no tickets"))
}

/// A lead's fields that are its person's, read and written as `person.*`.
const PERSON_FIELDS: [&str; 4] = ["email", "phone", "first_name", "last_name"];

impl PipedriveBackend {
    async fn send(&self, req: Request) -> Result<Envelope> {
        self.http.send(req).await?.json::<Envelope>()
    }

    /// A vendor record from Pipedrive's JSON; the kind of an activity or note resolved (an
    /// activity's is its target, `task` or `call`).
    fn record(&self, entity: Entity, json: Value) -> Result<VendorRecord> {
        let mut r = to_flat(entity, json)?;
        let mut kind = r.target;
        if entity == Entity::Notes {
            r.id = RecordId::new(format!("{NOTE_ID_PREFIX}{}", r.id.as_str()))?;
            let content = r.fields.get("content").and_then(FieldValue::as_text);
            let log = content.and_then(|c| c.strip_prefix(CONVERSATION_LOG_MARKER));
            if let Some(body) = log.map(str::to_owned) {
                r.fields.insert("content".into(), FieldValue::Text(body));
                kind = "conversation_log";
            }
        }
        if matches!(entity, Entity::Notes | Entity::Activities) {
            r.resolved.insert("kind".into(), kind.into());
        }
        Ok(r)
    }

    /// The record's path; an id that cannot be one of `entity`'s is refused before a request
    /// ([`crate::wire::check_id`]). Only a note's id carries the `note-` prefix.
    fn path(entity: Entity, id: &RecordId) -> Result<String> {
        let raw = id.as_str();
        let note = raw
            .strip_prefix(NOTE_ID_PREFIX)
            .filter(|_| entity == Entity::Notes);
        let raw = note.unwrap_or(raw);
        crate::wire::check_id(entity, raw)?;
        Ok(format!("{}/{}", entity.path(), encode_segment(raw)))
    }

    /// The record `data` of `entity` holds; a lead's with its person's fields, as `person.*`.
    async fn read(&self, entity: Entity, data: Value) -> Result<VendorRecord> {
        let mut record = self.record(entity, data)?;
        // Links are text in the flat view (`to_flat`), so `as_text` reads every id.
        let pid = record.fields.get("person_id").and_then(FieldValue::as_text);
        let pid = pid.map(str::to_owned);
        let Some(pid) = pid.filter(|_| entity == Entity::Leads) else {
            return Ok(record);
        };
        let req = Request::get(format!("{}/{pid}", Entity::Persons.path()), "lead.get");
        let person = to_flat(Entity::Persons, self.send(req).await?.data)?;
        for k in PERSON_FIELDS {
            let v = person.fields.get(k).cloned().unwrap_or(FieldValue::Null);
            record.fields.insert(format!("person.{k}"), v);
        }
        Ok(record)
    }

    /// Reads the persons found by a look-up, in one `ids=` listing.
    async fn lookup(&self, lookup: &Lookup, op: &str) -> Result<Vec<Value>> {
        let condition = lookup.condition()?;
        let value = condition.value.as_text().unwrap_or_default();
        // The external id is in a custom field; Pipedrive searches them all at once.
        let field = lookup.by().replace("external_id", "custom_fields");
        let req = request(search_persons(&field, value), op);
        let hits = self.send(req).await?.records()?;
        let ids = hits.iter().filter_map(|h| Some(h.get("id")?.to_string()));
        let ids = ids.collect::<Vec<_>>().join(",");
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let req = Request::get(Entity::Persons.path(), op).query("ids", ids);
        let mut persons = self.send(req).await?.records()?;
        // A search on custom fields matches any of them: keep the external-id field's.
        if let (Lookup::ExternalId(_), Some(key)) = (lookup, &self.external_id_field) {
            let field = format!("/custom_fields/{key}");
            persons.retain(|p| p.pointer(&field).and_then(Value::as_str) == Some(value));
        }
        Ok(persons)
    }

    async fn list(
        &self,
        entity: Entity,
        cursor: Option<&str>,
        query: &Query,
        filters: &[(&str, &str)],
    ) -> Result<(Vec<VendorRecord>, Option<String>)> {
        let op = format!("{}.find", query.kind);
        let env = self
            .send(request(page(entity, cursor, query, filters), &op))
            .await?;
        let next = env.next()?;
        let records = env.records()?.into_iter().map(|j| self.record(entity, j));
        Ok((records.collect::<Result<_>>()?, next))
    }
}

#[async_trait]
impl Backend for PipedriveBackend {
    type Builder = PipedriveBuilder;

    fn facts(&self) -> BackendFacts<'_> {
        let setting = "an idempotency key, which Pipedrive does not have";
        BackendFacts::new(VENDOR, &self.capabilities, Region::us(), setting)
    }

    fn target(&self, kind: ObjectKind, common: &FieldMap) -> &'static str {
        match (kind, common.get("kind").and_then(FieldValue::as_text)) {
            (ObjectKind::Activity, Some("task")) => "task",
            (ObjectKind::Activity, Some("call")) => "call",
            (ObjectKind::Activity, _) => "note",
            _ => kind.as_str(),
        }
    }

    /// An activity's update goes where its id says, whatever kind the patch names: a `note-`
    /// id to its note, any other to its activity, so that it never writes the record of the
    /// other id space with the same number.
    fn before_mapping(
        &self,
        kind: ObjectKind,
        op: &WriteOp,
        target: &mut &'static str,
        _common: &mut FieldMap,
    ) -> Result<()> {
        if let (ObjectKind::Activity, WriteOp::Update { id }) = (kind, op) {
            let note = id.as_str().starts_with(NOTE_ID_PREFIX);
            *target = match (note, *target) {
                (true, _) => "note",
                (false, "note") => "task",
                (false, t) => t,
            };
        }
        Ok(())
    }

    async fn get(&self, kind: ObjectKind, id: &RecordId) -> Result<VendorRecord> {
        let note = id.as_str().starts_with(NOTE_ID_PREFIX);
        let entity = entity_of(kind, if note { "note" } else { "task" })?;
        let req = Request::get(Self::path(entity, id)?, format!("{kind}.get")).addresses_record();
        self.read(entity, self.send(req).await?.data).await
    }

    async fn write(&self, w: VendorWrite) -> Result<Written> {
        let entity = entity_of(w.kind, w.target)?;
        let mut fields = json::from_fields(w.fields);
        let creating = matches!(w.op, WriteOp::Create { .. });
        if let WriteOp::Upsert { .. } = w.op {
            return Err(Error::unsupported(
                format!("{}.upsert", w.kind),
                "Pipedrive has no upsert",
            ));
        }
        let op = format!("{}.{}", w.kind, if creating { "create" } else { "update" });
        match entity {
            Entity::Activities => {
                fields.remove("kind");
                // A task's or a call's kind sets the type; a note's kind on an activity's update
                // (an `Activity`'s default) leaves it as it is.
                let kind = w.common.get("kind").and_then(FieldValue::as_text);
                if matches!(kind, Some("task" | "call")) {
                    fields.insert("type".into(), json!(w.target));
                }
            }
            Entity::Notes => {
                let log = fields.remove("kind");
                if let (Some("conversation_log"), Some(Value::String(c))) = (
                    log.as_ref().and_then(Value::as_str),
                    fields.get_mut("content"),
                ) {
                    *c = format!("{CONVERSATION_LOG_MARKER}{c}");
                }
                // Notes take their time as `YYYY-MM-DD HH:MM:SS` in UTC.
                let at = fields.get("add_time").and_then(Value::as_str);
                if let Some(t) = at.and_then(crate::wire::parse_time) {
                    let t = t.format("%Y-%m-%d %H:%M:%S").to_string();
                    fields.insert("add_time".into(), json!(t));
                }
            }
            Entity::Leads => {
                // A lead's name and email are its person's: a new lead gets its person first;
                // an existing lead's person is updated as a contact.
                let take = |k: &&str| Some((k.to_string(), fields.remove(&format!("person.{k}"))?));
                let person: Map<String, Value> = PERSON_FIELDS.iter().filter_map(take).collect();
                if !person.is_empty() {
                    let person = from_flat(Entity::Persons, person, creating)?;
                    if !creating {
                        return Err(Error::invalid_input(
                            "a lead's name, email and phone are its person's: update the contact",
                        ));
                    }
                    if fields.get("person_id").is_none_or(Value::is_null) {
                        let req =
                            Request::new(Method::POST, Entity::Persons.path(), &op).json(person);
                        let id = to_flat(Entity::Persons, self.send(req).await?.data)?.id;
                        fields.insert("person_id".into(), json!(id.as_str()));
                    }
                }
            }
            _ => {}
        }
        let body = from_flat(entity, fields, creating)?;
        // Notes are updated with PUT, everything else with PATCH.
        let put = entity == Entity::Notes;
        let req = match &w.op {
            WriteOp::Update { id } => {
                let method = if put { Method::PUT } else { Method::PATCH };
                Request::new(method, Self::path(entity, id)?, &op)
                    .json(body)
                    .addresses_record()
                    .idempotent(true)
            }
            _ => Request::new(Method::POST, entity.path(), &op).json(body),
        };
        let record = self.read(entity, self.send(req).await?.data).await?;
        Ok(Written {
            record,
            created: creating,
        })
    }

    async fn query_page(
        &self,
        query: &Query,
        cursor: Option<String>,
    ) -> Result<Page<VendorRecord>> {
        let kind = query.kind;
        let op = format!("{kind}.find");
        let (cursor, entity) = (cursor.as_deref(), entity_of(kind, "task")?);
        let (items, next) = match &query.filter {
            QueryFilter::All => self.list(entity, cursor, query, &[]).await?,
            QueryFilter::Lookup(l) => {
                if kind != ObjectKind::Contact {
                    return Err(Error::unsupported(
                        op,
                        "Pipedrive finds persons, not leads, by contact details",
                    ));
                }
                let persons = self.lookup(l, &op).await?;
                let persons = persons.into_iter().map(|p| self.record(Entity::Persons, p));
                (persons.collect::<Result<_>>()?, None)
            }
            QueryFilter::Linked { owner, open_only } => {
                let id = owner.id.as_str().to_owned();
                let key = match owner.kind {
                    ObjectKind::Contact => "person_id",
                    ObjectKind::Account => "org_id",
                    ObjectKind::Opportunity => "deal_id",
                    ObjectKind::Lead => "lead_id",
                    _ => {
                        let (items, next) = (Vec::new(), None);
                        return Ok(Page { items, next });
                    }
                };
                match kind {
                    ObjectKind::Opportunity if owner.kind == ObjectKind::Contact => {
                        // A person's deals, and the deals of the person's organization.
                        let status = if *open_only { "open" } else { "open,won,lost" };
                        let f = [(key, id.as_str()), ("status", status)];
                        let (mut deals, _) = self.list(Entity::Deals, None, query, &f).await?;
                        let person = self.get(ObjectKind::Contact, &owner.id).await?;
                        if let Some(org) = person.fields.get("org_id").and_then(FieldValue::as_text)
                        {
                            let f = [("org_id", org), ("status", status)];
                            let (more, _) = self.list(Entity::Deals, None, query, &f).await?;
                            deals.extend(more.into_iter().filter(|d| {
                                d.fields.get("person_id").and_then(FieldValue::as_text)
                                    != Some(id.as_str())
                            }));
                        }
                        deals.sort_by_key(|d| std::cmp::Reverse(d.updated_at));
                        (deals, None)
                    }
                    ObjectKind::Activity => {
                        // Activities and notes of the record, newest first, one merged page.
                        let f = [(key, id.as_str())];
                        let (mut a, _) = self.list(Entity::Activities, None, query, &f).await?;
                        let (n, _) = self.list(Entity::Notes, None, query, &f).await?;
                        a.extend(n);
                        a.sort_by_key(|r| std::cmp::Reverse(r.created_at));
                        a.truncate(query.page_size as usize);
                        (a, None)
                    }
                    _ => {
                        let mut f = vec![(key, id.as_str())];
                        if *open_only && kind == ObjectKind::Opportunity {
                            f.push(("status", "open"));
                        }
                        self.list(entity, cursor, query, &f).await?
                    }
                }
            }
            QueryFilter::Where(_) => {
                return Err(Error::unsupported(
                    op,
                    "Pipedrive lists filter by links only",
                ));
            }
        };
        Ok(Page { items, next })
    }
}
