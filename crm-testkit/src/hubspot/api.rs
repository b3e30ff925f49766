//! The endpoint handlers: records, batches, associations, pipelines and properties. Each takes
//! the store and the parsed request and answers `(status, body)` or an [`ApiError`]; HTTP,
//! auth, limits and faults are `routes`' business.

use std::collections::BTreeSet;

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::schema::{self, PropKind};
use super::search::{self, SearchRequest};
use super::store::{NewAssoc, Store, iso};

/// Batch object endpoints take at most this many inputs (HubSpot docs, "Using object APIs").
const MAX_BATCH: usize = 100;
/// Association batch read takes at most this many inputs (HubSpot's associations v4 docs).
const MAX_ASSOC_READ: usize = 1_000;
/// Association batch create takes at most this many inputs (HubSpot's associations v4 docs).
const MAX_ASSOC_CREATE: usize = 2_000;
/// Association lists page at 500 (HubSpot's associations v4 docs).
const ASSOC_PAGE: usize = 500;

/// A handler's answer.
pub(crate) type Answer = Result<(u16, Value), ApiError>;

/// The query parameters of a request.
pub(crate) struct Query(pub(crate) Vec<(String, String)>);

impl Query {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A comma-separated list parameter (also accepted repeated).
    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        let items: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        (!items.is_empty()).then_some(items)
    }
}

fn object_name(store: &Store, idx: usize) -> Result<&'static str, ApiError> {
    store
        .object(idx)
        .map(|o| o.name)
        .ok_or_else(ApiError::not_found)
}

fn parse_id(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Resolves a path id, by `idProperty` when given (`GET /contacts/jane@x.com?idProperty=email`).
fn lookup(store: &Store, idx: usize, id: &str, id_property: Option<&str>) -> Option<u64> {
    match id_property {
        Some(prop) if prop != "hs_object_id" => {
            let unique = store
                .object(idx)
                .and_then(|o| o.prop(prop))
                .is_some_and(|p| p.unique);
            if unique {
                store.find_unique(idx, prop, id)
            } else {
                None
            }
        }
        _ => parse_id(id).filter(|id| store.get(idx, *id).is_some()),
    }
}

fn all_props(store: &Store, idx: usize, id: u64) -> Vec<String> {
    store
        .get(idx, id)
        .map(|r| r.props.keys().cloned().collect())
        .unwrap_or_default()
}

/// A record with every property it has (create and update answers).
fn render_full(store: &Store, idx: usize, id: u64) -> Result<Value, ApiError> {
    let r = store.get(idx, id).ok_or_else(ApiError::not_found)?;
    let names = all_props(store, idx, id);
    Ok(store.render(idx, r, &r.props, Some(&names)))
}

/// `associations=` on reads: per requested type, the associated ids with one entry per type id.
fn inline_associations(store: &Store, idx: usize, id: u64, types: &[String]) -> Value {
    let mut out = Map::new();
    let Ok(from) = object_name(store, idx) else {
        return Value::Object(out);
    };
    for given in types {
        let Some(to) = store.object_index(given).and_then(|i| store.object(i)) else {
            continue;
        };
        let mut results = Vec::new();
        for (to_id, type_ids) in store.associated(from, id, to.name) {
            for t in type_ids {
                if let Some(a) = schema::assoc_type(t) {
                    results.push(json!({"id": to_id.to_string(),
                                        "type": schema::assoc_type_name(&store.objects, a)}));
                }
            }
        }
        if results.is_empty() {
            continue;
        }
        let more = results.len() > ASSOC_PAGE;
        results.truncate(ASSOC_PAGE);
        let mut entry = json!({"results": results});
        if more && let Some(m) = entry.as_object_mut() {
            m.insert(
                "paging".into(),
                json!({"next": {"after": ASSOC_PAGE.to_string()}}),
            );
        }
        out.insert(to.name.to_owned(), entry);
    }
    Value::Object(out)
}

/// `GET /objects/{o}/{id}`.
pub(crate) fn get(store: &Store, idx: usize, id: &str, q: &Query) -> Answer {
    let id = lookup(store, idx, id, q.get("idProperty")).ok_or_else(ApiError::not_found)?;
    let r = store.get(idx, id).ok_or_else(ApiError::not_found)?;
    let props = q.list("properties");
    let mut body = store.render(idx, r, &r.props, props.as_deref());
    if let (Some(types), Some(map)) = (q.list("associations"), body.as_object_mut()) {
        let assocs = inline_associations(store, idx, id, &types);
        if assocs.as_object().is_some_and(|m| !m.is_empty()) {
            map.insert("associations".into(), assocs);
        }
    }
    Ok((200, body))
}

/// `GET /objects/{o}`: pages of at most 100 by ascending id, `after` = the last id seen.
pub(crate) fn list(store: &Store, idx: usize, q: &Query) -> Answer {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let after: u64 = match q.get("after") {
        None | Some("") => 0,
        Some(a) => parse_id(a).ok_or_else(|| ApiError::validation("after must be a cursor"))?,
    };
    let table = store.table(idx).ok_or_else(ApiError::not_found)?;
    let mut ids: Vec<u64> = table
        .live()
        .map(|r| r.id)
        .filter(|id| *id > after)
        .collect();
    ids.sort_unstable();
    let props = q.list("properties");
    let assoc_types = q.list("associations");
    let page: Vec<Value> = ids
        .iter()
        .take(limit)
        .filter_map(|id| {
            let r = store.get(idx, *id)?;
            let mut v = store.render(idx, r, &r.props, props.as_deref());
            if let (Some(types), Some(m)) = (&assoc_types, v.as_object_mut()) {
                m.insert(
                    "associations".into(),
                    inline_associations(store, idx, *id, types),
                );
            }
            Some(v)
        })
        .collect();
    let mut body = json!({"results": page});
    if ids.len() > limit
        && let (Some(last), Some(m)) = (ids.get(limit - 1), body.as_object_mut())
    {
        m.insert(
            "paging".into(),
            json!({"next": {"after": last.to_string(), "link": format!("?after={last}")}}),
        );
    }
    Ok((200, body))
}

fn properties_of(v: &Value) -> Result<Map<String, Value>, ApiError> {
    match v.get("properties") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ApiError::validation("properties must be an object")),
    }
}

/// Inline associations of a create: `[{to:{id}, types:[{associationCategory, associationTypeId}]}]`.
fn new_assocs(v: &Value) -> Result<Vec<NewAssoc>, ApiError> {
    let Some(list) = v.get("associations") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| ApiError::validation("associations must be an array"))?;
    let mut out = Vec::new();
    for a in list {
        let to_id = a
            .get("to")
            .and_then(|t| t.get("id"))
            .and_then(|id| match id {
                Value::String(s) => parse_id(s),
                Value::Number(n) => n.as_u64(),
                _ => None,
            })
            .ok_or_else(|| ApiError::validation("association `to.id` must be a record id"))?;
        let types = a
            .get("types")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::validation("association `types` must be an array"))?;
        for t in types {
            let type_id = t
                .get("associationTypeId")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ApiError::validation("associationTypeId must be an integer"))?;
            out.push(NewAssoc { to_id, type_id });
        }
    }
    Ok(out)
}

/// `POST /objects/{o}`.
pub(crate) fn create(store: &mut Store, idx: usize, body: &Value) -> Answer {
    let props = properties_of(body)?;
    let assocs = new_assocs(body)?;
    let id = store.create(idx, &props, &assocs)?;
    Ok((201, render_full(store, idx, id)?))
}

/// `PATCH /objects/{o}/{id}`.
pub(crate) fn update(store: &mut Store, idx: usize, id: &str, q: &Query, body: &Value) -> Answer {
    let id = lookup(store, idx, id, q.get("idProperty")).ok_or_else(ApiError::not_found)?;
    let props = properties_of(body)?;
    store.update(idx, id, &props)?;
    Ok((200, render_full(store, idx, id)?))
}

/// `DELETE /objects/{o}/{id}`.
pub(crate) fn archive(store: &mut Store, idx: usize, id: &str) -> Answer {
    let id = parse_id(id).ok_or_else(ApiError::not_found)?;
    store.archive(idx, id)?;
    Ok((204, Value::Null))
}

/// `POST /objects/{o}/search`.
pub(crate) fn search(store: &mut Store, idx: usize, body: &Value) -> Answer {
    let req = SearchRequest::parse(body)?;
    store.refresh_index(false);
    Ok((200, search::run(store, idx, &req)))
}

fn inputs(body: &Value, max: usize) -> Result<Vec<Value>, ApiError> {
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::validation("the body needs an `inputs` array"))?;
    if inputs.len() > max {
        return Err(ApiError::validation(format!(
            "Batch input size {} exceeds the limit of {max} inputs",
            inputs.len()
        )));
    }
    Ok(inputs.clone())
}

fn batch_envelope(results: Vec<Value>, errors: Vec<Value>, ok_status: u16) -> (u16, Value) {
    let now = iso(Utc::now());
    let mut body = json!({"status": "COMPLETE", "results": results, "startedAt": now,
                          "completedAt": now});
    if errors.is_empty() {
        return (ok_status, body);
    }
    if let Some(m) = body.as_object_mut() {
        m.insert("numErrors".into(), json!(errors.len()));
        m.insert("errors".into(), Value::Array(errors));
    }
    (207, body)
}

/// `POST /objects/{o}/batch/read`: missing ids are reported in a 207.
pub(crate) fn batch_read(store: &Store, idx: usize, body: &Value) -> Answer {
    let inputs = inputs(body, MAX_BATCH)?;
    let props: Option<Vec<String>> = body.get("properties").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    let id_property = body.get("idProperty").and_then(Value::as_str);
    let mut results = Vec::new();
    let mut missing = Vec::new();
    let mut seen = BTreeSet::new();
    for input in &inputs {
        let given = match input.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(ApiError::validation("every input needs an `id`")),
        };
        match lookup(store, idx, &given, id_property).and_then(|id| store.get(idx, id)) {
            Some(r) => {
                if seen.insert(r.id) {
                    results.push(store.render(idx, r, &r.props, props.as_deref()));
                }
            }
            None => missing.push(given),
        }
    }
    let mut errors = Vec::new();
    if !missing.is_empty() {
        let singular = store
            .object(idx)
            .map_or("OBJECT".into(), |o| o.singular.to_ascii_uppercase());
        errors.push(json!({"status": "error", "category": "OBJECT_NOT_FOUND",
            "message": format!("Could not get some {singular} objects, they may be deleted or not exist. Check that ids are valid."),
            "context": {"ids": missing}}));
    }
    Ok(batch_envelope(results, errors, 200))
}

/// The kind of batch write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchKind {
    Create,
    Update,
    Upsert,
}

/// Trace ids when every input has a distinct non-empty `objectWriteTraceId`; `None` otherwise.
fn trace_ids(inputs: &[Value]) -> Option<Vec<String>> {
    let ids: Vec<String> = inputs
        .iter()
        .map(|i| i.get("objectWriteTraceId").and_then(Value::as_str))
        .collect::<Option<Vec<&str>>>()?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    (distinct.len() == ids.len() && ids.iter().all(|i| !i.is_empty())).then_some(ids)
}

/// One input of a batch write; returns the record id and, for upserts, whether it is new.
fn write_one(
    store: &mut Store,
    idx: usize,
    kind: BatchKind,
    input: &Value,
    batch_id_property: Option<&str>,
) -> Result<(u64, bool), ApiError> {
    let props = properties_of(input)?;
    match kind {
        BatchKind::Create => {
            let assocs = new_assocs(input)?;
            Ok((store.create(idx, &props, &assocs)?, true))
        }
        BatchKind::Update => {
            let given = input
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::validation("every input needs an `id`"))?;
            let id_property = input
                .get("idProperty")
                .and_then(Value::as_str)
                .or(batch_id_property);
            let id = lookup(store, idx, given, id_property).ok_or_else(ApiError::not_found)?;
            store.update(idx, id, &props)?;
            Ok((id, false))
        }
        BatchKind::Upsert => {
            let given = input
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::validation("every upsert input needs an `id`"))?;
            let prop = input
                .get("idProperty")
                .and_then(Value::as_str)
                .or(batch_id_property)
                .ok_or_else(|| ApiError::validation("upsert needs an idProperty"))?;
            let def = store
                .object(idx)
                .and_then(|o| o.prop(prop))
                .cloned()
                .ok_or_else(|| {
                    ApiError::validation(format!("Property \"{prop}\" does not exist"))
                })?;
            if !def.unique {
                return Err(ApiError::validation(format!(
                    "{prop} is not a unique property and cannot be used as idProperty"
                )));
            }
            match store.find_unique(idx, prop, given) {
                Some(id) => {
                    store.update(idx, id, &props)?;
                    Ok((id, false))
                }
                None => {
                    let mut with_key = props;
                    let key = if def.kind == PropKind::Email {
                        given.trim().to_owned()
                    } else {
                        given.to_owned()
                    };
                    with_key.insert(prop.to_owned(), Value::String(key));
                    Ok((store.create(idx, &with_key, &[])?, true))
                }
            }
        }
    }
}

/// The results of a batch write in an order of the fake's own: HubSpot does not promise input
/// order, and echoes each input's `objectWriteTraceId` so results can be matched without it.
/// Seeded by the request body, so a run is repeatable; never the input order when two or more
/// results could be in another one.
fn unordered(mut results: Vec<Value>, body: &Value) -> Vec<Value> {
    use std::hash::{Hash, Hasher};
    if results.len() < 2 {
        return results;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.to_string().hash(&mut h);
    let before = results.clone();
    fastrand::Rng::with_seed(h.finish()).shuffle(&mut results);
    if results == before {
        results.rotate_left(1);
    }
    results
}

/// `POST /objects/{o}/batch/{create,update,upsert}`: ≤100 inputs; per-item 207 results only
/// when every input carries a distinct `objectWriteTraceId`, otherwise the first bad input
/// fails the whole batch and nothing is written (HubSpot's batch and error-handling guides).
/// Upserts by `email` never succeed partially (HubSpot's contacts guide). Results come in no
/// particular order (see [`unordered`]).
pub(crate) fn batch_write(store: &mut Store, idx: usize, kind: BatchKind, body: &Value) -> Answer {
    let inputs = inputs(body, MAX_BATCH)?;
    let batch_id_property = body.get("idProperty").and_then(Value::as_str);
    let by_email = kind == BatchKind::Upsert
        && inputs.iter().any(|i| {
            i.get("idProperty")
                .and_then(Value::as_str)
                .or(batch_id_property)
                == Some("email")
        });
    let ok_status = if kind == BatchKind::Create { 201 } else { 200 };
    let traces = trace_ids(&inputs).filter(|_| !by_email);
    let mut results = Vec::new();
    let mut errors = Vec::new();
    match traces {
        Some(traces) => {
            for (input, trace) in inputs.iter().zip(&traces) {
                match write_one(store, idx, kind, input, batch_id_property) {
                    Ok((id, new)) => {
                        results.push(result_item(store, idx, id, kind, new, Some(trace))?)
                    }
                    Err(e) => errors.push(e.batch_item(trace)),
                }
            }
        }
        None => {
            let before = store.clone();
            let mut written = Vec::new();
            for input in &inputs {
                match write_one(store, idx, kind, input, batch_id_property) {
                    Ok(done) => written.push((
                        done,
                        input
                            .get("objectWriteTraceId")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    )),
                    Err(e) => {
                        *store = before;
                        return Err(e);
                    }
                }
            }
            for ((id, new), trace) in written {
                results.push(result_item(store, idx, id, kind, new, trace.as_deref())?);
            }
        }
    }
    Ok(batch_envelope(unordered(results, body), errors, ok_status))
}

fn result_item(
    store: &Store,
    idx: usize,
    id: u64,
    kind: BatchKind,
    new: bool,
    trace: Option<&str>,
) -> Result<Value, ApiError> {
    let mut v = render_full(store, idx, id)?;
    if let Some(m) = v.as_object_mut() {
        if kind == BatchKind::Upsert {
            m.insert("new".into(), json!(new));
        }
        if let Some(t) = trace {
            m.insert("objectWriteTraceId".into(), json!(t));
        }
    }
    Ok(v)
}

/// `POST /objects/{o}/batch/archive`.
pub(crate) fn batch_archive(store: &mut Store, idx: usize, body: &Value) -> Answer {
    for input in inputs(body, MAX_BATCH)? {
        if let Some(id) = input.get("id").and_then(Value::as_str).and_then(parse_id) {
            // Archiving a missing or archived record is not an error.
            let _ = store.archive(idx, id);
        }
    }
    Ok((204, Value::Null))
}

fn assoc_types_json(type_ids: &BTreeSet<u32>) -> Vec<Value> {
    type_ids
        .iter()
        .filter_map(|t| schema::assoc_type(*t))
        .map(|a| json!({"category": "HUBSPOT_DEFINED", "typeId": a.id, "label": a.label}))
        .collect()
}

/// `GET /crm/v4/objects/{o}/{id}/associations/{to}` with `limit` (≤500) and `after`.
pub(crate) fn assoc_list(store: &Store, idx: usize, id: &str, to: usize, q: &Query) -> Answer {
    let id = parse_id(id)
        .filter(|id| store.get(idx, *id).is_some())
        .ok_or_else(ApiError::not_found)?;
    let from = object_name(store, idx)?;
    let to = object_name(store, to)?;
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(ASSOC_PAGE)
        .clamp(1, ASSOC_PAGE);
    let after = q
        .get("after")
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(0);
    let all = store.associated(from, id, to);
    let page: Vec<Value> = all
        .iter()
        .skip(after)
        .take(limit)
        .map(|(to_id, types)| json!({"toObjectId": to_id, "associationTypes": assoc_types_json(types)}))
        .collect();
    let mut body = json!({"results": page});
    if after + limit < all.len()
        && let Some(m) = body.as_object_mut()
    {
        m.insert(
            "paging".into(),
            json!({"next": {"after": (after + limit).to_string()}}),
        );
    }
    Ok((200, body))
}

fn checked_pair(
    store: &Store,
    idx: usize,
    id: &str,
    to: usize,
    to_id: &str,
) -> Result<(&'static str, u64, &'static str, u64), ApiError> {
    let from = object_name(store, idx)?;
    let to_name = object_name(store, to)?;
    let id = parse_id(id)
        .filter(|id| store.get(idx, *id).is_some())
        .ok_or_else(ApiError::not_found)?;
    let to_id = parse_id(to_id)
        .filter(|t| store.get(to, *t).is_some())
        .ok_or_else(ApiError::not_found)?;
    Ok((from, id, to_name, to_id))
}

/// `PUT /crm/v4/objects/{o}/{id}/associations/{to}/{toId}` with `[{associationCategory, associationTypeId}]`.
pub(crate) fn assoc_put(
    store: &mut Store,
    idx: usize,
    id: &str,
    to: usize,
    to_id: &str,
    body: &Value,
) -> Answer {
    let (from, id, to_name, to_id) = checked_pair(store, idx, id, to, to_id)?;
    let specs = body
        .as_array()
        .ok_or_else(|| ApiError::validation("the body must be an array of association types"))?;
    let mut types = Vec::new();
    for s in specs {
        let ty = s
            .get("associationTypeId")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .and_then(schema::assoc_type)
            .filter(|a| a.from == from && a.to == to_name)
            .ok_or_else(|| {
                ApiError::validation(format!("invalid association type from {from} to {to_name}"))
            })?;
        types.push(ty);
    }
    for ty in &types {
        store.associate(ty, id, to_id);
    }
    let labels: Vec<Value> = types
        .iter()
        .filter_map(|t| t.label)
        .map(|l| json!(l))
        .collect();
    let from_type = store.object(idx).map_or("", |o| o.type_id);
    let to_type = store.object(to).map_or("", |o| o.type_id);
    Ok((
        201,
        json!({"fromObjectTypeId": from_type, "fromObjectId": id,
                     "toObjectTypeId": to_type, "toObjectId": to_id, "labels": labels}),
    ))
}

/// `PUT /crm/v4/objects/{o}/{id}/associations/default/{to}/{toId}`.
pub(crate) fn assoc_put_default(
    store: &mut Store,
    idx: usize,
    id: &str,
    to: usize,
    to_id: &str,
) -> Answer {
    let (from, id, to_name, to_id) = checked_pair(store, idx, id, to, to_id)?;
    let ty = schema::default_assoc(from, to_name).ok_or_else(|| {
        ApiError::validation(format!("no default association from {from} to {to_name}"))
    })?;
    store.associate(ty, id, to_id);
    let now = iso(Utc::now());
    Ok((
        200,
        json!({"status": "COMPLETE", "startedAt": now, "completedAt": now, "results": [
        {"from": {"id": id.to_string()}, "to": {"id": to_id.to_string()},
         "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": ty.id}}]}),
    ))
}

/// `DELETE /crm/v4/objects/{o}/{id}/associations/{to}/{toId}`.
pub(crate) fn assoc_delete(
    store: &mut Store,
    idx: usize,
    id: &str,
    to: usize,
    to_id: &str,
) -> Answer {
    let (from, id, to_name, to_id) = checked_pair(store, idx, id, to, to_id)?;
    store.dissociate(from, id, to_name, to_id);
    Ok((204, Value::Null))
}

/// `POST /crm/v4/associations/{from}/{to}/batch/read` (≤1,000 inputs).
pub(crate) fn assoc_batch_read(store: &Store, from: usize, to: usize, body: &Value) -> Answer {
    let inputs = inputs(body, MAX_ASSOC_READ)?;
    let from_name = object_name(store, from)?;
    let to_name = object_name(store, to)?;
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in inputs {
        let given = match input.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(ApiError::validation("every input needs an `id`")),
        };
        let Some(id) = parse_id(&given).filter(|id| store.get(from, *id).is_some()) else {
            missing.push(given);
            continue;
        };
        let after = input
            .get("after")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(0);
        let all = store.associated(from_name, id, to_name);
        let page: Vec<Value> = all
            .iter()
            .skip(after)
            .take(ASSOC_PAGE)
            .map(|(to_id, types)| json!({"toObjectId": to_id, "associationTypes": assoc_types_json(types)}))
            .collect();
        let mut item = json!({"from": {"id": given}, "to": page});
        if after + ASSOC_PAGE < all.len()
            && let Some(m) = item.as_object_mut()
        {
            m.insert(
                "paging".into(),
                json!({"next": {"after": (after + ASSOC_PAGE).to_string()}}),
            );
        }
        results.push(item);
    }
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        vec![json!({"status": "error", "category": "OBJECT_NOT_FOUND",
                    "message": "No associations found for some ids", "context": {"ids": missing}})]
    };
    Ok(batch_envelope(results, errors, 200))
}

/// `POST /crm/v4/associations/{from}/{to}/batch/create` (≤2,000 inputs).
pub(crate) fn assoc_batch_create(
    store: &mut Store,
    from: usize,
    to: usize,
    body: &Value,
) -> Answer {
    let inputs = inputs(body, MAX_ASSOC_CREATE)?;
    let mut results = Vec::new();
    for input in inputs {
        let id_of = |side: &str| {
            input
                .get(side)
                .and_then(|s| s.get("id"))
                .and_then(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.as_u64().map(|n| n.to_string()))
                })
                .unwrap_or_default()
        };
        let types = input
            .get("types")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        let (_, answer) = assoc_put(store, from, &id_of("from"), to, &id_of("to"), &types)?;
        results.push(answer);
    }
    Ok(batch_envelope(results, Vec::new(), 201))
}

/// `GET /crm/v3/pipelines/{o}` and `/{pipelineId}`.
pub(crate) fn pipelines(store: &Store, object: &str, pipeline: Option<&str>) -> Answer {
    let idx = store.object_index(object).ok_or_else(ApiError::not_found)?;
    let name = object_name(store, idx)?;
    let mut all: Vec<_> = store
        .pipelines
        .iter()
        .filter(|p| p.object == name)
        .collect();
    all.sort_by_key(|p| p.display_order);
    match pipeline {
        None => Ok((
            200,
            json!({"results": all.iter().map(|p| p.render()).collect::<Vec<_>>()}),
        )),
        Some(id) => all
            .iter()
            .find(|p| p.id == id)
            .map(|p| (200, p.render()))
            .ok_or_else(ApiError::not_found),
    }
}

/// `GET /crm/v3/properties/{o}`: the property definitions (for a client's schema check).
pub(crate) fn properties(store: &Store, object: &str) -> Answer {
    let idx = store.object_index(object).ok_or_else(ApiError::not_found)?;
    let o = store.object(idx).ok_or_else(ApiError::not_found)?;
    let results: Vec<Value> = o
        .props
        .iter()
        .map(|p| {
            let (ty, field) = match p.kind {
                PropKind::Number => ("number", "number"),
                PropKind::Bool => ("bool", "booleancheckbox"),
                PropKind::Date => ("date", "date"),
                PropKind::DateTime => ("datetime", "date"),
                PropKind::Enum | PropKind::Pipeline | PropKind::Stage => ("enumeration", "select"),
                PropKind::MultiEnum => ("enumeration", "checkbox"),
                PropKind::Text | PropKind::Email => ("string", "text"),
            };
            let options: Vec<Value> = p
                .options
                .iter()
                .map(|o| json!({"label": o, "value": o, "hidden": false}))
                .collect();
            json!({"name": p.name, "label": p.name, "type": ty, "fieldType": field,
                   "options": options, "hasUniqueValue": p.unique, "calculated": p.read_only,
                   "modificationMetadata": {"readOnlyValue": p.read_only, "archivable": !p.read_only,
                                            "readOnlyDefinition": true}})
        })
        .collect();
    Ok((200, json!({"results": results})))
}
