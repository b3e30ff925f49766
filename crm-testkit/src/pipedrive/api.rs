//! The endpoints: listing with API v2's cursors or v1's offsets, search, and single-record
//! reads and writes, each answering Pipedrive's envelope `{success, data, additional_data}`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::store::{Entity, Row, Store};

/// A status and JSON body, or an error.
pub(crate) type Answer = Result<(u16, Value), ApiError>;

/// The decoded query string.
pub(crate) struct Query(pub(crate) Vec<(String, String)>);

impl Query {
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn int(&self, k: &str) -> Result<Option<u64>, ApiError> {
        self.get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::validation(k, "must be an integer"))
            })
            .transpose()
    }

    fn flag(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(_) => Err(ApiError::validation(k, "must be a boolean")),
        }
    }
}

fn ok(data: Value, additional: Value) -> Answer {
    Ok((
        200,
        json!({"success": true, "data": data, "additional_data": additional}),
    ))
}

fn field_is(row: &Row, k: &str, want: u64) -> bool {
    row.data.get(k).and_then(Value::as_u64) == Some(want)
}

/// The page size: 100 by default, at most 500.
fn limit(q: &Query) -> Result<usize, ApiError> {
    match q.int("limit")? {
        None => Ok(100),
        Some(n @ 1..=500) => Ok(n as usize),
        Some(_) => Err(ApiError::validation("limit", "must be between 1 and 500")),
    }
}

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{{\"offset\":{offset}}}"))
}

fn decode_cursor(q: &Query) -> Result<usize, ApiError> {
    let Some(c) = q.get("cursor") else {
        return Ok(0);
    };
    let bad = || ApiError::validation("cursor", "is not a valid cursor");
    let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    v.get("offset")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .ok_or_else(bad)
}

fn since(q: &Query, k: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    q.get(k)
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::validation(k, "must be an RFC 3339 time"))
        })
        .transpose()
}

/// One page of `items` from `offset`, with the cursor of the next page.
fn page(items: Vec<Value>, offset: usize, size: usize) -> Answer {
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let next = (offset + size < total).then(|| encode_cursor(offset + size));
    ok(Value::Array(data), json!({"next_cursor": next}))
}

/// `GET /api/v2/{entity}`: filters, `sort_by`/`sort_direction`, cursor paging.
pub(crate) fn list_v2(store: &Store, e: Entity, q: &Query) -> Answer {
    let size = limit(q)?;
    let offset = decode_cursor(q)?;
    let ids: Option<Vec<String>> = q
        .get("ids")
        .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect());
    let filters: Vec<(&str, u64)> = [
        "owner_id",
        "org_id",
        "person_id",
        "deal_id",
        "pipeline_id",
        "stage_id",
    ]
    .into_iter()
    .filter_map(|k| q.int(k).transpose().map(|v| v.map(|v| (k, v))))
    .collect::<Result<_, _>>()?;
    let allowed: &[&str] = match e {
        Entity::Persons => &["owner_id", "org_id", "deal_id"],
        Entity::Organizations => &["owner_id"],
        Entity::Deals => &["owner_id", "org_id", "person_id", "pipeline_id", "stage_id"],
        _ => &["owner_id", "org_id", "person_id", "deal_id"],
    };
    let statuses: Option<Vec<String>> = q
        .get("status")
        .filter(|_| e == Entity::Deals)
        .map(|s| s.split(',').map(str::to_owned).collect());
    let done = q.flag("done")?.filter(|_| e == Entity::Activities);
    let lead = q.get("lead_id").filter(|_| e == Entity::Activities);
    let (from, until) = (since(q, "updated_since")?, since(q, "updated_until")?);
    let mut rows: Vec<&Row> = store
        .rows(e)
        .filter(|r| ids.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .filter(|r| {
            filters.iter().all(|(k, v)| {
                if !allowed.contains(k) {
                    return true;
                }
                if e == Entity::Persons && *k == "deal_id" {
                    // Persons linked to the deal.
                    let person = store
                        .get(Entity::Deals, &v.to_string())
                        .and_then(|d| d.data.get("person_id").and_then(Value::as_u64));
                    return person.map(|p| p.to_string()).as_deref() == Some(r.id.as_str());
                }
                field_is(r, k, *v)
            })
        })
        .filter(|r| {
            statuses.as_ref().is_none_or(|s| {
                r.data
                    .get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|st| s.iter().any(|x| x == st))
            })
        })
        .filter(|r| done.is_none_or(|d| r.data.get("done").and_then(Value::as_bool) == Some(d)))
        .filter(|r| lead.is_none_or(|l| r.data.get("lead_id").and_then(Value::as_str) == Some(l)))
        .filter(|r| {
            from.is_none_or(|t| r.update_time >= t) && until.is_none_or(|t| r.update_time < t)
        })
        .collect();
    let sort_by = q.get("sort_by").unwrap_or("id");
    match sort_by {
        "id" => {}
        "update_time" => rows.sort_by_key(|r| r.update_time),
        "add_time" => rows.sort_by_key(|r| r.add_time),
        "due_date" if e == Entity::Activities => rows.sort_by_key(|r| {
            r.data
                .get("due_date")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        }),
        _ => return Err(ApiError::validation("sort_by", "is not a sortable field")),
    }
    match q.get("sort_direction").unwrap_or("asc") {
        "asc" => {}
        "desc" => rows.reverse(),
        _ => {
            return Err(ApiError::validation(
                "sort_direction",
                "must be asc or desc",
            ));
        }
    }
    let items = rows.into_iter().map(|r| store.render(e, r)).collect();
    page(items, offset, size)
}

/// `GET /v1/{leads|notes}`: filters, `sort`, `start`/`limit` offset paging.
pub(crate) fn list_v1(store: &Store, e: Entity, q: &Query) -> Answer {
    let start = q.int("start")?.unwrap_or(0) as usize;
    let size = limit(q)?;
    let keys: &[&str] = match e {
        Entity::Leads => &["owner_id", "person_id", "organization_id"],
        _ => &["user_id", "person_id", "org_id", "deal_id"],
    };
    let filters: Vec<(&str, u64)> = keys
        .iter()
        .filter_map(|k| q.int(k).transpose().map(|v| v.map(|v| (*k, v))))
        .collect::<Result<_, _>>()?;
    let lead = q.get("lead_id").filter(|_| e == Entity::Notes);
    let archived = match (e, q.get("archived_status")) {
        (Entity::Leads, None | Some("not_archived")) => Some(false),
        (Entity::Leads, Some("archived")) => Some(true),
        _ => None,
    };
    let mut rows: Vec<&Row> = store
        .rows(e)
        .filter(|r| filters.iter().all(|(k, v)| field_is(r, k, *v)))
        .filter(|r| lead.is_none_or(|l| r.data.get("lead_id").and_then(Value::as_str) == Some(l)))
        .filter(|r| {
            archived.is_none_or(|a| r.data.get("is_archived").and_then(Value::as_bool) == Some(a))
        })
        .collect();
    if let Some(sort) = q.get("sort") {
        let (field, dir) = sort.trim().split_once(' ').unwrap_or((sort.trim(), "ASC"));
        match field {
            "id" => {}
            "add_time" => rows.sort_by_key(|r| r.add_time),
            "update_time" => rows.sort_by_key(|r| r.update_time),
            _ => return Err(ApiError::validation("sort", "is not a sortable field")),
        }
        if dir.eq_ignore_ascii_case("DESC") {
            rows.reverse();
        }
    }
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip(start)
        .take(size)
        .map(|r| store.render(e, r))
        .collect();
    let more = start + size < total;
    let mut pagination = json!({"start": start, "limit": size, "more_items_in_collection": more});
    if let (true, Some(p)) = (more, pagination.as_object_mut()) {
        p.insert("next_start".into(), json!(start + size));
    }
    ok(Value::Array(data), json!({"pagination": pagination}))
}

pub(crate) fn get(store: &Store, e: Entity, id: &str) -> Answer {
    let row = store
        .get(e, id)
        .ok_or_else(|| ApiError::not_found(e.singular()))?;
    ok(store.render(e, row), Value::Null)
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::new(400, "Validation failed: body: must be a JSON object"))
}

pub(crate) fn create(store: &mut Store, e: Entity, body: &Value) -> Answer {
    let id = store.create(e, object(body)?, Utc::now())?;
    let (_, v) = get(store, e, &id)?;
    // API v1 answers a create with 201, v2 with 200.
    Ok((if e.is_v2() { 200 } else { 201 }, v))
}

pub(crate) fn update(store: &mut Store, e: Entity, id: &str, body: &Value) -> Answer {
    store.update(e, id, object(body)?, Utc::now())?;
    get(store, e, id)
}

pub(crate) fn delete(store: &mut Store, e: Entity, id: &str) -> Answer {
    store.delete(e, id)?;
    let id = id.parse::<u64>().map(Value::from).unwrap_or(json!(id));
    ok(json!({"id": id}), Value::Null)
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn labelled(data: &Map<String, Value>, k: &str) -> Vec<String> {
    data.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|i| text(i.get("value"))).collect())
        .unwrap_or_default()
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// How well `value` matches `term` in a field of kind `phone` or text: 1.0 for a whole match,
/// 0.5 for a part, none for no match.
fn score(value: &str, term: &str, exact: bool, phone: bool) -> Option<f64> {
    let (v, t) = if phone && !digits(term).is_empty() {
        (digits(value), digits(term))
    } else {
        (value.to_lowercase(), term.to_lowercase())
    };
    if v == t {
        Some(1.0)
    } else if !exact && !t.is_empty() && v.contains(&t) {
        Some(0.5)
    } else {
        None
    }
}

fn related(store: &Store, e: Entity, id: Option<&Value>, field: &str) -> Value {
    let Some(id) = text(id) else {
        return Value::Null;
    };
    store.get(e, &id).map_or(Value::Null, |r| {
        let id = id.parse::<u64>().map(Value::from).unwrap_or(json!(id));
        json!({"id": id, field: r.data.get(field).cloned().unwrap_or(Value::Null)})
    })
}

/// `GET /api/v2/{persons|organizations|deals|leads}/search`: what the search index holds (it
/// lags behind writes), ranked by `result_score`.
pub(crate) fn search(store: &Store, e: Entity, q: &Query) -> Answer {
    let term = q.get("term").unwrap_or_default();
    let exact = q.flag("exact_match")?.unwrap_or(false);
    if term.chars().count() < if exact { 1 } else { 2 } {
        return Err(ApiError::validation(
            "term",
            "must be at least 2 characters long",
        ));
    }
    let searchable: &[&str] = match e {
        Entity::Persons => &["name", "email", "phone", "notes", "custom_fields"],
        Entity::Organizations => &["name", "address", "notes", "custom_fields"],
        _ => &["title", "notes", "custom_fields"],
    };
    let fields: Vec<&str> = match q.get("fields") {
        None => searchable.to_vec(),
        Some(f) => f.split(',').map(str::trim).collect(),
    };
    if let Some(bad) = fields.iter().find(|f| !searchable.contains(f)) {
        return Err(ApiError::validation(
            "fields",
            &format!("{bad} is not searchable"),
        ));
    }
    let org_filter = q.int("organization_id")?;
    let person_filter = q.int("person_id")?;
    let size = limit(q)?;
    let offset = decode_cursor(q)?;
    let mut hits: Vec<(f64, &Row, &Map<String, Value>)> = Vec::new();
    for (row, data) in store.indexed(e) {
        let org_key = if e == Entity::Leads {
            "organization_id"
        } else {
            "org_id"
        };
        if org_filter.is_some_and(|o| data.get(org_key).and_then(Value::as_u64) != Some(o))
            || person_filter
                .is_some_and(|p| data.get("person_id").and_then(Value::as_u64) != Some(p))
        {
            continue;
        }
        let mut best: Option<f64> = None;
        for f in &fields {
            let (values, phone): (Vec<String>, bool) = match *f {
                "email" => (labelled(data, "emails"), false),
                "phone" => (labelled(data, "phones"), true),
                "custom_fields" => {
                    let cf = if e.is_v2() {
                        data.get("custom_fields").and_then(Value::as_object)
                    } else {
                        Some(data)
                    };
                    let vals = cf
                        .map(|m| {
                            m.iter()
                                .filter(|(k, _)| k.len() == 40)
                                .filter_map(|(_, v)| text(Some(v)))
                                .collect()
                        })
                        .unwrap_or_default();
                    (vals, false)
                }
                "address" => (
                    text(data.get("address").and_then(|a| a.get("value")))
                        .into_iter()
                        .collect(),
                    false,
                ),
                "notes" => (Vec::new(), false),
                other => (text(data.get(other)).into_iter().collect(), false),
            };
            for v in values {
                if let Some(s) = score(&v, term, exact, phone) {
                    best = Some(best.map_or(s, |b: f64| b.max(s)));
                }
            }
        }
        if let Some(s) = best {
            hits.push((s, row, data));
        }
    }
    hits.sort_by(|a, b| b.0.total_cmp(&a.0));
    let items = hits
        .into_iter()
        .map(|(s, row, data)| json!({"result_score": s, "item": search_item(store, e, row, data)}))
        .collect();
    let (code, body) = page(items, offset, size)?;
    // Search answers list the hits under `data.items`.
    let mut body = body;
    if let Some(data) = body.get_mut("data") {
        let items = data.take();
        *data = json!({ "items": items });
    }
    Ok((code, body))
}

fn search_item(store: &Store, e: Entity, row: &Row, d: &Map<String, Value>) -> Value {
    let id = row
        .id
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or(json!(row.id));
    let customs: Vec<String> = if e.is_v2() {
        d.get("custom_fields")
            .and_then(Value::as_object)
            .map(|m| m.values().filter_map(|v| text(Some(v))).collect())
            .unwrap_or_default()
    } else {
        d.iter()
            .filter(|(k, _)| k.len() == 40)
            .filter_map(|(_, v)| text(Some(v)))
            .collect()
    };
    let owner = json!({"id": d.get("owner_id").cloned().unwrap_or(json!(1))});
    let org = |k: &str| related(store, Entity::Organizations, d.get(k), "name");
    match e {
        Entity::Persons => json!({"id": id, "type": "person", "name": d.get("name"),
            "phones": labelled(d, "phones"), "emails": labelled(d, "emails"),
            "visible_to": d.get("visible_to"), "owner": owner, "organization": org("org_id"),
            "custom_fields": customs, "notes": []}),
        Entity::Organizations => json!({"id": id, "type": "organization", "name": d.get("name"),
            "address": d.get("address").and_then(|a| a.get("value")), "visible_to": d.get("visible_to"),
            "owner": owner, "custom_fields": customs, "notes": []}),
        Entity::Deals => json!({"id": id, "type": "deal", "title": d.get("title"),
            "value": d.get("value"), "currency": d.get("currency"), "status": d.get("status"),
            "visible_to": d.get("visible_to"), "owner": owner,
            "stage": {"id": d.get("stage_id"), "name": "Qualified"},
            "person": related(store, Entity::Persons, d.get("person_id"), "name"),
            "organization": org("org_id"), "custom_fields": customs, "notes": []}),
        _ => json!({"id": id, "type": "lead", "title": d.get("title"), "owner": owner,
            "person": related(store, Entity::Persons, d.get("person_id"), "name"),
            "organization": org("organization_id"), "phones": [], "emails": [],
            "custom_fields": customs, "notes": [], "value": d.get("value").and_then(|v| v.get("amount")),
            "currency": d.get("value").and_then(|v| v.get("currency")),
            "visible_to": d.get("visible_to"), "is_archived": d.get("is_archived")}),
    }
}

/// `GET /v1/{personFields|organizationFields|dealFields}`: the standard fields and the
/// company's custom ones (keyed by their 40-character hash).
pub(crate) fn fields(store: &Store, e: Entity) -> Answer {
    let standard: &[(&str, &str, &str)] = match e {
        Entity::Persons => &[
            ("name", "Name", "varchar"),
            ("email", "Email", "varchar"),
            ("phone", "Phone", "phone"),
            ("org_id", "Organization", "org"),
            ("job_title", "Job title", "varchar"),
        ],
        Entity::Organizations => &[
            ("name", "Name", "varchar"),
            ("address", "Address", "address"),
            ("website", "Website", "varchar"),
        ],
        _ => &[
            ("title", "Title", "varchar"),
            ("value", "Value", "monetary"),
            ("status", "Status", "status"),
            ("person_id", "Contact person", "people"),
            ("org_id", "Organization", "org"),
            ("expected_close_date", "Expected close date", "date"),
        ],
    };
    let mut data: Vec<Value> = standard
        .iter()
        .enumerate()
        .map(|(n, (k, name, t))| {
            json!({"id": n + 1, "key": k, "name": name, "field_type": t,
            "edit_flag": false, "active_flag": true})
        })
        .collect();
    for (n, f) in store.fields.iter().filter(|f| f.entity == e).enumerate() {
        data.push(
            json!({"id": 9000 + n, "key": f.key, "name": f.name, "field_type": f.field_type,
            "edit_flag": true, "active_flag": true}),
        );
    }
    ok(
        Value::Array(data),
        json!({"pagination": {"start": 0, "limit": 500,
        "more_items_in_collection": false}}),
    )
}
