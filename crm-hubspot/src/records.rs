//! One record family: `Records` and the per-family traits over HubSpot objects.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crm_core::raw::http::Request;
use crm_core::reexports::async_trait;
use crm_core::reexports::http::Method;
use crm_core::reexports::serde_json::{Map, Value, json};
use crm_core::{
    Account, Accounts, Activities, Activity, BatchResult, Contact, Contacts, Entity, Error,
    ErrorKind, Filter, Lead, Leads, ListQuery, Lookup, ObjectKind, Opportunities, Opportunity,
    PageStream, Record, RecordId, RecordRef, Records, Result, Ticket, Tickets, UpsertKey, Upserted,
    WriteContext,
};

use crate::batch::BatchOp;
use crate::core::{
    Core, GENERAL, HsBatch, HsObject, MAX_SEARCH_PAGE, Mode, Prepared, item_error, link_fields,
    link_reads, split_activity_id,
};
use crate::lister::{ListSpec, stream as list_stream};
use crate::mapping::MappingTarget;
use crate::objects::HubObject;
use crate::props::to_hubspot;
use crate::reads::{
    associated_ids, inline_ids, newest_activities, owner_with_engagements, put_association,
    read_batch, stage_of,
};
use crate::search::{phone_groups, same_number, search_records};

/// One record family of a HubSpot connection.
pub struct HubRecords<T> {
    pub(crate) core: Arc<Core>,
    _kind: PhantomData<fn() -> T>,
}

impl<T: Entity> fmt::Debug for HubRecords<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HubRecords<{}>", T::KIND)
    }
}

pub(crate) fn op<T: Entity>(name: &str) -> String {
    format!("{}.{name}", T::KIND)
}

/// The record's object, target and HubSpot id.
///
/// HubSpot record ids are decimal digits (`hs_object_id`), so anything else is refused before
/// a request: `.` or `..` (in any encoding, after an activity's `note:` prefix) as
/// `InvalidInput`, since it would change the resource a path addresses; any other text as
/// `NotFound`, the answer HubSpot itself gives for an id it does not hold.
pub(crate) fn locate(kind: ObjectKind, id: &RecordId) -> Result<(MappingTarget, String)> {
    let (target, raw) = locate_unchecked(kind, id);
    if crm_core::raw::http::is_dot_segment(&raw) {
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
    Ok((target, raw))
}

fn locate_unchecked(kind: ObjectKind, id: &RecordId) -> (MappingTarget, String) {
    match kind {
        ObjectKind::Activity => {
            let (object, raw) = split_activity_id(id.as_str());
            (
                MappingTarget::for_engagement(object).unwrap_or(MappingTarget::Note),
                raw.to_owned(),
            )
        }
        ObjectKind::Contact => (MappingTarget::Contact, id.to_string()),
        ObjectKind::Lead => (MappingTarget::Lead, id.to_string()),
        ObjectKind::Account => (MappingTarget::Account, id.to_string()),
        ObjectKind::Opportunity => (MappingTarget::Opportunity, id.to_string()),
        ObjectKind::Ticket => (MappingTarget::Ticket, id.to_string()),
    }
}

pub(crate) fn targets_of(kind: ObjectKind) -> Vec<MappingTarget> {
    match kind {
        ObjectKind::Activity => vec![
            MappingTarget::Note,
            MappingTarget::Task,
            MappingTarget::Call,
        ],
        ObjectKind::Contact => vec![MappingTarget::Contact],
        ObjectKind::Lead => vec![MappingTarget::Lead],
        ObjectKind::Account => vec![MappingTarget::Account],
        ObjectKind::Opportunity => vec![MappingTarget::Opportunity],
        ObjectKind::Ticket => vec![MappingTarget::Ticket],
    }
}

/// The id a reference has in HubSpot, and its object.
pub(crate) fn ref_object(r: &RecordRef) -> (HubObject, String) {
    match r.kind {
        ObjectKind::Activity => {
            let (o, id) = split_activity_id(r.id.as_str());
            (o, id.to_owned())
        }
        other => (
            HubObject::for_kind(other).unwrap_or(HubObject::Contacts),
            r.id.to_string(),
        ),
    }
}

/// Whether a failed keyed create may have hit its own key: a conflict, or a validation error
/// naming the key's property (HubSpot reports duplicate unique values either way).
pub(crate) fn conflicts_on(err: &Error, prop: &str) -> bool {
    match err.kind() {
        ErrorKind::Conflict { .. } => true,
        ErrorKind::Validation { fields } => fields.iter().any(|f| f.field == prop),
        _ => false,
    }
}

/// `(link field, id)` pairs of a prepared write, for filling the record it returns (create and
/// upsert answers carry no associations).
pub(crate) fn context_of(kind: ObjectKind, prepared: &Prepared) -> Vec<(&'static str, String)> {
    link_fields(kind)
        .iter()
        .filter_map(|(field, _)| match prepared.fields.get(*field) {
            Some(crm_core::FieldValue::Text(id)) if !id.is_empty() => Some((*field, id.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn as_pairs<'a>(ctx: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    ctx.iter().map(|(f, id)| (*f, id.as_str())).collect()
}

/// The upsert key's `idProperty` and value.
pub(crate) fn id_property(
    core: &Core,
    kind: ObjectKind,
    key: &UpsertKey,
    operation: &str,
) -> Result<String> {
    let unsupported = |why: String| Err(Error::unsupported(operation, why));
    match key {
        UpsertKey::Email(_) if matches!(kind, ObjectKind::Contact | ObjectKind::Lead) => {
            Ok("email".into())
        }
        UpsertKey::Email(_) => unsupported(format!("{kind} records cannot be upserted by email")),
        UpsertKey::ExternalId(_) => match (&core.settings.external_id, kind) {
            (Some(p), k) if k != ObjectKind::Activity => Ok(p.clone()),
            (None, k) if k != ObjectKind::Activity => Err(no_external_id_property(operation)),
            _ => unsupported(format!(
                "{kind} records cannot be upserted by external id: HubSpot's activities have \
                 no external id"
            )),
        },
        UpsertKey::Idempotency(_) => match &core.settings.idempotency {
            Some(p) => Ok(p.clone()),
            None => unsupported("no idempotency_property is configured".into()),
        },
    }
}

/// The error of a look-up or upsert by external id on a connection without
/// `external_id_property`, before any request: a stock portal has no property for it.
pub(crate) fn no_external_id_property(operation: &str) -> Error {
    Error::unsupported(
        operation,
        "no `external_id_property` is configured, so HubSpot records cannot be found or \
         upserted by external id: in HubSpot, Settings > Data Management > Properties, create \
         a single-line text property with \"Require unique values for this property\" checked \
         on each object (contacts, companies, deals, tickets), and set `external_id_property` \
         to its internal name",
    )
}

/// The error of a create that carries an idempotency key on a connection without
/// `idempotency_property`. Such a create is refused before any request: sent without the key it
/// could duplicate on a retry, which the caller asked to prevent.
pub(crate) fn key_without_property(kind: ObjectKind, operation: &str) -> Error {
    Error::config(format!(
        "HubSpot connection has no `idempotency_property`, so this {kind} create cannot honour its \
         idempotency key: create a unique-value property (\"Require unique values for this \
         property\") on every object the bot creates and set `idempotency_property` to its \
         internal name, or send the create without an idempotency key"
    ))
    .with_operation(operation)
}

/// One upsert of a batch: the prepared write, the `idProperty` and the key.
pub(crate) struct UpsertInput {
    pub(crate) prepared: Prepared,
    pub(crate) id_property: String,
    pub(crate) key: String,
}

impl<T: Entity> HubRecords<T> {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            _kind: PhantomData,
        }
    }

    /// `GET /objects/{o}/{id}` with the properties and associations a record of `T` needs.
    pub(crate) async fn fetch(
        &self,
        target: MappingTarget,
        id: &str,
        id_property: Option<&str>,
        extra_assocs: &[HubObject],
        operation: &str,
    ) -> Result<HsObject> {
        let mut req = Request::get(self.core.paths.record(target.object(), id), operation)
            .addresses_record()
            .query("properties", self.core.read_props(target).join(","))
            .bucket(GENERAL);
        let mut assocs: Vec<&str> = link_reads(T::KIND).iter().map(|o| o.name()).collect();
        assocs.extend(extra_assocs.iter().map(|o| o.name()));
        assocs.dedup();
        if !assocs.is_empty() {
            req = req.query("associations", assocs.join(","));
        }
        if let Some(p) = id_property {
            req = req.query("idProperty", p);
        }
        self.core.send(req).await?.json()
    }

    pub(crate) async fn to_record(
        &self,
        target: MappingTarget,
        hs: &HsObject,
        context: &[(&str, &str)],
    ) -> Result<Record<T>> {
        let stage = stage_of(target, hs);
        let mapping = self.core.read_mapping(target, stage.as_deref()).await?;
        self.core.record_from(target, &mapping, hs, context)
    }

    pub(crate) async fn put_links(
        &self,
        from: HubObject,
        id: &str,
        links: &[(HubObject, String)],
        operation: &str,
    ) -> Result<()> {
        for (to, to_id) in links {
            put_association(&self.core, from, id, *to, to_id, operation).await?;
        }
        Ok(())
    }

    /// `POST /objects/{o}/batch/upsert` of one input; the object and whether it is new.
    pub(crate) async fn upsert_one(
        &self,
        input: &UpsertInput,
        operation: &str,
    ) -> Result<(HsObject, bool)> {
        let object = input.prepared.target.object();
        let body = json!({"inputs": [upsert_json(input, "0")]});
        let req = Request::new(
            Method::POST,
            self.core.paths.batch(object, "upsert"),
            operation,
        )
        .json(body)
        .idempotent(true)
        .bucket(GENERAL);
        let resp = self.core.send(req).await?;
        let batch: HsBatch = resp.json()?;
        if let Some(err) = batch.errors.first() {
            return Err(item_error(err, resp.correlation_id.as_deref()).with_operation(operation));
        }
        let hs = batch.results.into_iter().next().ok_or_else(|| {
            Error::decode("the upsert answer has no result").with_operation(operation)
        })?;
        let new = hs.new.unwrap_or(false);
        Ok((hs, new))
    }

    pub(crate) async fn create_inner(
        &self,
        input: &T,
        ctx: &WriteContext,
        operation: &str,
    ) -> Result<(Record<T>, Prepared)> {
        if ctx.idempotency_key.is_some() && self.core.settings.idempotency.is_none() {
            return Err(key_without_property(T::KIND, operation));
        }
        let mut prepared = self.core.prepare(input, Mode::Create, None).await?;
        let target = prepared.target;
        let object = target.object();
        let context = context_of(T::KIND, &prepared);
        let key = match (&ctx.idempotency_key, &self.core.settings.idempotency) {
            (Some(key), Some(prop)) => {
                prepared
                    .props
                    .insert(prop.clone(), Value::String(key.as_str().to_owned()));
                Some((prop.clone(), key.as_str().to_owned()))
            }
            _ => None,
        };
        let body = json!({"properties": prepared.props,
                          "associations": prepared.inline_associations()});
        // With a key in a unique property the create is safe to send again: a second attempt
        // conflicts on the key, and the record is then read by it (HubSpot's object API docs).
        let req = Request::new(Method::POST, self.core.paths.collection(object), operation)
            .json(body)
            .idempotent(key.is_some())
            .bucket(GENERAL);
        let hs = match self.core.send(req).await.and_then(|r| r.json::<HsObject>()) {
            Ok(hs) => hs,
            Err(e) => match &key {
                Some((prop, key)) if conflicts_on(&e, prop) => {
                    match self.fetch(target, key, Some(prop), &[], operation).await {
                        Ok(hs) => hs,
                        // Not ours: the conflict was on another unique value (an email).
                        Err(_) => return Err(self.core.rename_fields(e, target)),
                    }
                }
                _ => return Err(self.core.rename_fields(e, target)),
            },
        };
        let record = self.to_record(target, &hs, &as_pairs(&context)).await?;
        Ok((record, prepared))
    }

    pub(crate) async fn update_inner(
        &self,
        id: &RecordId,
        patch: &T,
        operation: &str,
    ) -> Result<Record<T>> {
        let (target, raw) = locate(T::KIND, id)?;
        let object = target.object();
        let prepared = self
            .core
            .prepare(patch, Mode::Update { id: &raw }, Some(target))
            .await?;
        let hs = if prepared.props.is_empty() {
            None
        } else {
            let req = Request::new(
                Method::PATCH,
                self.core.paths.record(object, &raw),
                operation,
            )
            .addresses_record()
            .json(json!({"properties": prepared.props}))
            .idempotent(true)
            .bucket(GENERAL);
            Some(
                self.core
                    .send(req)
                    .await
                    .map_err(|e| self.core.rename_fields(e, target))?
                    .json::<HsObject>()?,
            )
        };
        self.put_links(object, &raw, &prepared.links, operation)
            .await?;
        let hs = match hs {
            Some(hs) if prepared.links.is_empty() => hs,
            _ => self.fetch(target, &raw, None, &[], operation).await?,
        };
        let context = context_of(T::KIND, &prepared);
        self.to_record(target, &hs, &as_pairs(&context)).await
    }

    pub(crate) async fn upsert_inner(
        &self,
        key: &UpsertKey,
        input: &T,
        operation: &str,
    ) -> Result<Upserted<T>> {
        let prop = id_property(&self.core, T::KIND, key, operation)?;
        if key.value().is_empty() {
            return Err(Error::invalid_input("the upsert key is empty").with_operation(operation));
        }
        let mut prepared = self.core.prepare(input, Mode::Upsert, None).await?;
        prepared.props.remove(&prop);
        let target = prepared.target;
        let input = UpsertInput {
            prepared,
            id_property: prop,
            key: key.value().to_owned(),
        };
        let (hs, created) = self
            .upsert_one(&input, operation)
            .await
            .map_err(|e| self.core.rename_fields(e, target))?;
        self.put_links(target.object(), &hs.id, &input.prepared.links, operation)
            .await?;
        let context = context_of(T::KIND, &input.prepared);
        let record = self.to_record(target, &hs, &as_pairs(&context)).await?;
        Ok(Upserted { record, created })
    }

    /// Records linked to `owner` (for a contact, also its primary company's), read in batches,
    /// newest first, filtered by `keep`.
    pub(crate) async fn linked(
        &self,
        owner: &RecordRef,
        target: MappingTarget,
        limit: usize,
        keep: fn(&Record<T>) -> bool,
        operation: &str,
    ) -> Result<Vec<Record<T>>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (from, id) = ref_object(owner);
        if from == HubObject::Contacts {
            // A contact's deals and tickets include its primary company's.
            return crate::view::open_for_contact(&self.core, target, &id, limit, keep, operation)
                .await;
        }
        let ids = associated_ids(&self.core, from, &id, target.object(), operation).await?;
        let field = owner.kind.link_field();
        let mut records =
            read_batch::<T>(&self.core, target, &ids, &[(field, id.as_str())], operation).await?;
        records.retain(keep);
        records.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        records.truncate(limit);
        Ok(records)
    }

    /// Search one object with AND-ed `filters`, newest first, up to `limit` records.
    pub(crate) async fn search(
        &self,
        target: MappingTarget,
        groups: Vec<Vec<Value>>,
        limit: usize,
        operation: &str,
    ) -> Result<Vec<Record<T>>> {
        search_records(&self.core, target, groups, limit, operation).await
    }

    pub(crate) async fn find_by_lookup(
        &self,
        lookup: &Lookup,
        target: MappingTarget,
    ) -> Result<Vec<Record<T>>> {
        let operation = op::<T>("find_by");
        match lookup {
            Lookup::Email(email) => {
                // The one consistent lookup: GET by the unique email (`?idProperty=email`).
                match self
                    .fetch(target, email.expose(), Some("email"), &[], &operation)
                    .await
                {
                    Ok(hs) => Ok(vec![self.to_record(target, &hs, &[]).await?]),
                    Err(e) if e.kind() == &ErrorKind::NotFound => Ok(Vec::new()),
                    Err(e) => Err(e),
                }
            }
            Lookup::Phone(phone) => {
                let e164 = phone.e164().ok_or_else(|| {
                    Error::invalid_input("phone number has no E.164 form")
                        .with_operation(operation.clone())
                })?;
                let groups = phone_groups(&self.core, e164);
                let found = self
                    .search(target, groups, MAX_SEARCH_PAGE, &operation)
                    .await?;
                let region = self.core.region;
                // Search matched text forms; keep only those that are the same number.
                Ok(found
                    .into_iter()
                    .filter(|r| same_number(&r.data, e164, region))
                    .collect())
            }
            Lookup::ExternalId(value) => {
                let prop = self
                    .core
                    .settings
                    .external_id
                    .clone()
                    .ok_or_else(|| no_external_id_property(&operation))?;
                if value.trim().is_empty() {
                    return Err(
                        Error::invalid_input("external id is empty").with_operation(operation)
                    );
                }
                let filter = json!({"propertyName": prop, "operator": "EQ", "value": value});
                self.search(target, vec![vec![filter]], 10, &operation)
                    .await
            }
        }
    }
}

pub(crate) fn upsert_json(input: &UpsertInput, trace: &str) -> Value {
    let mut props: Map<String, Value> = input.prepared.props.clone();
    props.remove(&input.id_property);
    json!({"id": input.key, "idProperty": input.id_property, "properties": props,
           "objectWriteTraceId": trace})
}

#[async_trait]
impl<T: Entity> Records<T> for HubRecords<T> {
    async fn get(&self, id: &RecordId) -> Result<Record<T>> {
        let operation = op::<T>("get");
        let (target, raw) = locate(T::KIND, id).map_err(|e| e.with_operation(operation.clone()))?;
        let hs = self.fetch(target, &raw, None, &[], &operation).await?;
        self.to_record(target, &hs, &[]).await
    }

    async fn find(&self, filter: &Filter, limit: usize) -> Result<Vec<Record<T>>> {
        let operation = op::<T>("find");
        let mut out = Vec::new();
        for target in targets_of(T::KIND) {
            let mapping = self.core.mappings().get(target)?;
            let mut filters = Vec::new();
            for c in &filter.all {
                let link = crate::core::link_field_object(T::KIND, &c.field);
                let property = match link {
                    Some(o) => format!("associations.{}", o.singular()),
                    None => mapping
                        .vendor_name(&c.field)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            Error::mapping(format!("{}.{}: no HubSpot property", T::KIND, c.field))
                                .with_operation(operation.clone())
                        })?,
                };
                filters.push(json!({"propertyName": property, "operator": "EQ",
                                    "value": to_hubspot(&c.value)}));
            }
            let groups = if filters.is_empty() {
                Vec::new()
            } else {
                vec![filters]
            };
            out.extend(
                self.search(target, groups, limit.saturating_sub(out.len()), &operation)
                    .await?,
            );
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    async fn create(&self, input: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let operation = op::<T>("create");
        let result = self
            .create_inner(input, ctx, &operation)
            .await
            .map(|(r, _)| r)
            .map_err(|e| e.with_operation(operation.clone()));
        self.core
            .audit("create", T::KIND, ctx, &input.to_fields(), &result, |r| {
                r.id.clone()
            });
        result
    }

    async fn update(&self, id: &RecordId, patch: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let operation = op::<T>("update");
        let result = self
            .update_inner(id, patch, &operation)
            .await
            .map_err(|e| e.with_operation(operation.clone()));
        self.core
            .audit("update", T::KIND, ctx, &patch.to_fields(), &result, |r| {
                r.id.clone()
            });
        result
    }

    async fn upsert(&self, key: &UpsertKey, input: &T, ctx: &WriteContext) -> Result<Upserted<T>> {
        let operation = op::<T>("upsert");
        let result = self
            .upsert_inner(key, input, &operation)
            .await
            .map_err(|e| e.with_operation(operation.clone()));
        self.core
            .audit("upsert", T::KIND, ctx, &input.to_fields(), &result, |u| {
                u.record.id.clone()
            });
        result
    }

    async fn create_batch(&self, inputs: &[T], ctx: &WriteContext) -> BatchResult<Record<T>> {
        let operation = op::<T>("create");
        if ctx.idempotency_key.is_some() && self.core.settings.idempotency.is_none() {
            let err = key_without_property(T::KIND, &operation);
            let out: BatchResult<Record<T>> = inputs.iter().map(|_| Err(err.clone())).collect();
            for (input, r) in inputs.iter().zip(&out) {
                self.core
                    .audit("create", T::KIND, ctx, &input.to_fields(), r, |r| {
                        r.id.clone()
                    });
            }
            return out;
        }
        let mut results: Vec<Option<Result<(Record<T>, bool)>>> =
            (0..inputs.len()).map(|_| None).collect();
        // With a key and an idempotency property, input `i` carries `<key>-<i>` in that unique
        // property: a replayed batch conflicts per input and those are read back by key.
        let key_prop = match (&ctx.idempotency_key, &self.core.settings.idempotency) {
            (Some(k), Some(prop)) => Some((prop.clone(), k.as_str().to_owned())),
            _ => None,
        };
        let mut items = Vec::new();
        let mut keyed = BTreeMap::new();
        for (i, input) in inputs.iter().enumerate() {
            match self.core.prepare(input, Mode::Create, None).await {
                Ok(mut p) => {
                    if let Some((prop, key)) = &key_prop {
                        let key = format!("{key}-{i}");
                        p.props.insert(prop.clone(), Value::String(key.clone()));
                        keyed.insert(i, (key, p.clone()));
                    }
                    items.push((i, p, None));
                }
                Err(e) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(Err(e.with_operation(operation.clone())));
                    }
                }
            }
        }
        let none = BTreeMap::new();
        let op = BatchOp {
            name: "create",
            replay_safe: key_prop.is_some(),
            update_ids: &none,
            operation: &operation,
        };
        self.run_batch(&op, items, &mut results).await;
        if let Some((prop, _)) = &key_prop {
            self.recover_keyed(prop, &keyed, &mut results, &operation)
                .await;
        }
        let out: BatchResult<Record<T>> = finish(results, &operation)
            .into_iter()
            .map(|r| r.map(|(rec, _)| rec))
            .collect();
        for (input, r) in inputs.iter().zip(&out) {
            self.core
                .audit("create", T::KIND, ctx, &input.to_fields(), r, |r| {
                    r.id.clone()
                });
        }
        out
    }

    async fn create_batch_keyed(
        &self,
        items: &[(crm_core::IdempotencyKey, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        // In batch.rs, with the rest of the batch machinery.
        self.create_batch_keyed_inner(items, ctx).await
    }

    async fn update_batch(
        &self,
        inputs: &[(RecordId, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        let operation = op::<T>("update");
        let mut results: Vec<Option<Result<(Record<T>, bool)>>> =
            (0..inputs.len()).map(|_| None).collect();
        let mut items = Vec::new();
        let mut ids = BTreeMap::new();
        for (i, (id, patch)) in inputs.iter().enumerate() {
            let prepared = match locate(T::KIND, id) {
                Ok((target, raw)) => self
                    .core
                    .prepare(patch, Mode::Update { id: &raw }, Some(target))
                    .await
                    .map(|p| (raw, p)),
                Err(e) => Err(e),
            };
            match prepared {
                Ok((raw, p)) => {
                    ids.insert(i, raw);
                    items.push((i, p, None));
                }
                Err(e) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(Err(e.with_operation(operation.clone())));
                    }
                }
            }
        }
        let op = BatchOp {
            name: "update",
            replay_safe: true,
            update_ids: &ids,
            operation: &operation,
        };
        self.run_batch(&op, items, &mut results).await;
        let out: BatchResult<Record<T>> = finish(results, &operation)
            .into_iter()
            .map(|r| r.map(|(rec, _)| rec))
            .collect();
        for ((_, patch), r) in inputs.iter().zip(&out) {
            self.core
                .audit("update", T::KIND, ctx, &patch.to_fields(), r, |r| {
                    r.id.clone()
                });
        }
        out
    }

    async fn upsert_batch(
        &self,
        inputs: &[(UpsertKey, T)],
        ctx: &WriteContext,
    ) -> BatchResult<Upserted<T>> {
        let operation = op::<T>("upsert");
        let mut results: Vec<Option<Result<(Record<T>, bool)>>> =
            (0..inputs.len()).map(|_| None).collect();
        let mut items = Vec::new();
        for (i, (key, input)) in inputs.iter().enumerate() {
            let prepared = match id_property(&self.core, T::KIND, key, &operation) {
                Ok(prop) if key.value().is_empty() => {
                    Err(Error::invalid_input("the upsert key is empty")).map(|()| prop)
                }
                other => other,
            }
            .map(|prop| (prop, key.value().to_owned()));
            let prepared = match prepared {
                Ok(k) => self
                    .core
                    .prepare(input, Mode::Upsert, None)
                    .await
                    .map(|p| (p, k)),
                Err(e) => Err(e),
            };
            match prepared {
                Ok((p, k)) => items.push((i, p, Some(k))),
                Err(e) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(Err(e.with_operation(operation.clone())));
                    }
                }
            }
        }
        let none = BTreeMap::new();
        let op = BatchOp {
            name: "upsert",
            replay_safe: true,
            update_ids: &none,
            operation: &operation,
        };
        self.run_batch(&op, items, &mut results).await;
        let out: BatchResult<Upserted<T>> = finish(results, &operation)
            .into_iter()
            .map(|r| r.map(|(record, created)| Upserted { record, created }))
            .collect();
        for ((_, input), r) in inputs.iter().zip(&out) {
            self.core
                .audit("upsert", T::KIND, ctx, &input.to_fields(), r, |u| {
                    u.record.id.clone()
                });
        }
        out
    }

    fn list(&self, query: ListQuery) -> PageStream<T> {
        let operation: &'static str = match T::KIND {
            ObjectKind::Contact => "contact.list",
            ObjectKind::Account => "account.list",
            ObjectKind::Lead => "lead.list",
            ObjectKind::Opportunity => "opportunity.list",
            ObjectKind::Ticket => "ticket.list",
            ObjectKind::Activity => "activity.list",
        };
        if T::KIND == ObjectKind::Lead && query.changed_since.is_none() {
            // Leads are contacts in a lifecycle stage: only search can select them.
            let spec = ListSpec {
                targets: vec![MappingTarget::Lead],
                page_size: query.page_size.map_or(100, |n| n.get()),
                since: Some(crm_core::reexports::chrono::DateTime::UNIX_EPOCH),
                operation,
            };
            return list_stream::<T>(self.core.clone(), spec, &query);
        }
        let page_size = query
            .page_size
            .map_or(crate::core::MAX_LIST_PAGE, |n| n.get());
        let spec = ListSpec {
            targets: targets_of(T::KIND),
            page_size,
            since: query.changed_since,
            operation,
        };
        list_stream::<T>(self.core.clone(), spec, &query)
    }
}

/// Batch slots → results; a slot nothing filled is an internal gap, reported per item.
pub(crate) fn finish<R>(results: Vec<Option<Result<R>>>, operation: &str) -> Vec<Result<R>> {
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Error::new(ErrorKind::Unexpected, "this input was not sent")
                    .with_operation(operation))
            })
        })
        .collect()
}

#[async_trait]
impl Contacts for HubRecords<Contact> {
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Contact>>> {
        self.find_by_lookup(lookup, MappingTarget::Contact).await
    }
}

#[async_trait]
impl Accounts for HubRecords<Account> {}

#[async_trait]
impl Leads for HubRecords<Lead> {
    async fn find_by(&self, lookup: &Lookup) -> Result<Vec<Record<Lead>>> {
        self.find_by_lookup(lookup, MappingTarget::Lead).await
    }
}

#[async_trait]
impl Opportunities for HubRecords<Opportunity> {
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Opportunity>>> {
        self.linked(
            owner,
            MappingTarget::Opportunity,
            limit,
            |o: &Record<Opportunity>| o.is_open(),
            "opportunity.open_for",
        )
        .await
    }
}

#[async_trait]
impl Tickets for HubRecords<Ticket> {
    async fn open_for(&self, owner: &RecordRef, limit: usize) -> Result<Vec<Record<Ticket>>> {
        self.linked(
            owner,
            MappingTarget::Ticket,
            limit,
            |t: &Record<Ticket>| t.is_open(),
            "ticket.open_for",
        )
        .await
    }
}

#[async_trait]
impl Activities for HubRecords<Activity> {
    async fn latest_for(&self, record: &RecordRef, limit: usize) -> Result<Vec<Record<Activity>>> {
        let operation = "activity.latest_for";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (from, id) = ref_object(record);
        let field = record.kind.link_field();
        let context = [(field, id.as_str())];
        // One read of the record names its notes, tasks and calls (`?associations=`).
        let owner = owner_with_engagements(&self.core, from, &id, operation).await?;
        let mut all = Vec::new();
        for object in HubObject::ENGAGEMENTS {
            let ids = inline_ids(&self.core, &owner, from, &id, object, operation).await?;
            if ids.is_empty() {
                continue;
            }
            let target = MappingTarget::for_engagement(object).unwrap_or(MappingTarget::Note);
            all.extend(
                read_batch::<Activity>(&self.core, target, &ids, &context, operation).await?,
            );
        }
        Ok(newest_activities(all, limit))
    }
}
