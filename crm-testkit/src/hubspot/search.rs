//! `POST /crm/v3/objects/{o}/search` (HubSpot's search docs): filter groups (OR of ANDs), the
//! documented operators, one sort in either shape, `after` offsets, and the caps (5 groups,
//! 6 filters per group, 18 in all, limit 200, 10,000 results, 3,000-character query).

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::error::ApiError;
use super::schema::{ObjectType, PropKind};
use super::store::{Props, Store, parse_instant};

const MAX_GROUPS: usize = 5;
const MAX_FILTERS_PER_GROUP: usize = 6;
const MAX_FILTERS: usize = 18;
const MAX_LIMIT: usize = 200;
const MAX_RESULTS: usize = 10_000;
const MAX_QUERY: usize = 3_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    In,
    NotIn,
    HasProperty,
    NotHasProperty,
    ContainsToken,
    NotContainsToken,
}

impl Op {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "EQ" => Op::Eq,
            "NEQ" => Op::Neq,
            "LT" => Op::Lt,
            "LTE" => Op::Lte,
            "GT" => Op::Gt,
            "GTE" => Op::Gte,
            "BETWEEN" => Op::Between,
            "IN" => Op::In,
            "NOT_IN" => Op::NotIn,
            "HAS_PROPERTY" => Op::HasProperty,
            "NOT_HAS_PROPERTY" => Op::NotHasProperty,
            "CONTAINS_TOKEN" => Op::ContainsToken,
            "NOT_CONTAINS_TOKEN" => Op::NotContainsToken,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
struct Filter {
    property: String,
    op: Op,
    value: Option<String>,
    high: Option<String>,
    values: Vec<String>,
}

/// A parsed search request.
#[derive(Clone, Debug)]
pub(crate) struct SearchRequest {
    groups: Vec<Vec<Filter>>,
    sort: Option<(String, bool)>,
    query: Option<String>,
    pub(crate) properties: Option<Vec<String>>,
    limit: usize,
    after: usize,
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl SearchRequest {
    pub(crate) fn parse(body: &Value) -> Result<Self, ApiError> {
        let bad = |m: String| ApiError::validation(m);
        let groups_in = body
            .get("filterGroups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if groups_in.len() > MAX_GROUPS {
            return Err(bad(format!(
                "There was a problem with the request: too many filterGroups ({}); the maximum is {MAX_GROUPS}",
                groups_in.len()
            )));
        }
        let mut groups = Vec::new();
        let mut total = 0;
        for g in &groups_in {
            let filters = g
                .get("filters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if filters.len() > MAX_FILTERS_PER_GROUP {
                return Err(bad(format!(
                    "There was a problem with the request: too many filters in a filterGroup ({}); the maximum is {MAX_FILTERS_PER_GROUP}",
                    filters.len()
                )));
            }
            total += filters.len();
            let mut parsed = Vec::new();
            for f in filters {
                let property = f
                    .get("propertyName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("every filter needs a propertyName".into()))?;
                let op_text = f.get("operator").and_then(Value::as_str).unwrap_or("EQ");
                let op = Op::parse(op_text)
                    .ok_or_else(|| bad(format!("unknown filter operator {op_text}")))?;
                let values = f
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(scalar).collect())
                    .unwrap_or_default();
                parsed.push(Filter {
                    property: property.to_owned(),
                    op,
                    value: f.get("value").and_then(scalar),
                    high: f.get("highValue").and_then(scalar),
                    values,
                });
            }
            groups.push(parsed);
        }
        if total > MAX_FILTERS {
            return Err(bad(format!(
                "There was a problem with the request: too many filters ({total}); the maximum is {MAX_FILTERS}"
            )));
        }
        let sorts = body
            .get("sorts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if sorts.len() > 1 {
            return Err(bad("only one sort is supported".into()));
        }
        // The spec types sorts as strings ("-createdate"); the docs send objects. Accept both.
        let sort = match sorts.first() {
            None => None,
            Some(Value::String(s)) => Some(match s.strip_prefix('-') {
                Some(p) => (p.to_owned(), true),
                None => (s.clone(), false),
            }),
            Some(Value::Object(o)) => {
                let p = o
                    .get("propertyName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("a sort needs a propertyName".into()))?;
                let desc = o.get("direction").and_then(Value::as_str) == Some("DESCENDING");
                Some((p.to_owned(), desc))
            }
            Some(_) => return Err(bad("a sort must be a string or an object".into())),
        };
        let query = body.get("query").and_then(Value::as_str).map(str::to_owned);
        if query
            .as_ref()
            .is_some_and(|q| q.chars().count() > MAX_QUERY)
        {
            return Err(bad(format!(
                "the query is longer than {MAX_QUERY} characters"
            )));
        }
        let limit = match body.get("limit") {
            None | Some(Value::Null) => 10,
            Some(v) => scalar(v)
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| bad("limit must be an integer".into()))?,
        };
        if limit > MAX_LIMIT {
            return Err(bad(format!(
                "limit {limit} is larger than the maximum of {MAX_LIMIT}"
            )));
        }
        let after = match body.get("after") {
            None | Some(Value::Null) => 0,
            Some(v) => scalar(v)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<usize>())
                .transpose()
                .map_err(|_| bad("after must be an integer".into()))?
                .unwrap_or(0),
        };
        if after >= MAX_RESULTS {
            return Err(bad(format!(
                "There was a problem with the request: paging beyond {MAX_RESULTS} results is not supported"
            )));
        }
        let properties = body.get("properties").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        });
        Ok(Self {
            groups,
            sort,
            query,
            properties,
            limit,
            after,
        })
    }
}

/// Runs a search over what the index shows of object `idx`.
pub(crate) fn run(store: &Store, idx: usize, req: &SearchRequest) -> Value {
    let (Some(object), Some(table)) = (store.object(idx), store.table(idx)) else {
        return json!({"total": 0, "results": []});
    };
    let mut hits: Vec<(u64, &Props, &super::store::Record)> = table
        .live()
        .filter_map(|r| r.indexed.as_ref().map(|p| (r.id, p, r)))
        .filter(|(id, props, _)| matches(store, object, *id, props, req))
        .collect();
    match &req.sort {
        Some((prop, desc)) => hits.sort_by(|a, b| {
            let o = compare_values(object, prop, a.1.get(prop), b.1.get(prop))
                .then_with(|| a.0.cmp(&b.0));
            if *desc { o.reverse() } else { o }
        }),
        None => hits.sort_by_key(|h| h.0),
    }
    let total = hits.len();
    let end = (req.after + req.limit).min(total).min(MAX_RESULTS);
    let page: Vec<Value> = hits
        .iter()
        .skip(req.after)
        .take(end.saturating_sub(req.after))
        .map(|(_, props, r)| store.render(idx, r, props, req.properties.as_deref()))
        .collect();
    let mut out = json!({"total": total, "results": page});
    if end < total
        && let Some(map) = out.as_object_mut()
    {
        map.insert("paging".into(), json!({"next": {"after": end.to_string()}}));
    }
    out
}

fn matches(
    store: &Store,
    object: &ObjectType,
    id: u64,
    props: &Props,
    req: &SearchRequest,
) -> bool {
    let groups_ok = req.groups.is_empty()
        || req.groups.iter().any(|g| {
            g.iter()
                .all(|f| filter_matches(store, object, id, props, f))
        });
    let query_ok = req.query.as_ref().is_none_or(|q| {
        let q = q.to_lowercase();
        props.values().any(|v| v.to_lowercase().contains(&q))
    });
    groups_ok && query_ok
}

fn filter_matches(store: &Store, object: &ObjectType, id: u64, props: &Props, f: &Filter) -> bool {
    // `associations.contact` filters by associated record id (HubSpot's CRM API docs, "Search").
    if let Some(singular) = f.property.strip_prefix("associations.") {
        let to = store
            .objects
            .iter()
            .find(|o| o.singular == singular || o.name == singular)
            .map(|o| o.name);
        let ids: Vec<String> = to
            .map(|to| {
                store
                    .associated(object.name, id, to)
                    .into_iter()
                    .map(|(i, _)| i.to_string())
                    .collect()
            })
            .unwrap_or_default();
        return match f.op {
            Op::Eq => f.value.as_ref().is_some_and(|v| ids.contains(v)),
            Op::Neq => f.value.as_ref().is_none_or(|v| !ids.contains(v)),
            Op::In => f.values.iter().any(|v| ids.contains(v)),
            Op::NotIn => !f.values.iter().any(|v| ids.contains(v)),
            Op::HasProperty => !ids.is_empty(),
            Op::NotHasProperty => ids.is_empty(),
            _ => false,
        };
    }
    let stored = props.get(&f.property);
    let eq =
        |v: &str| stored.is_some_and(|s| compare(object, &f.property, s, v) == Ordering::Equal);
    let cmp = |v: &Option<String>| -> Option<Ordering> {
        Some(compare(object, &f.property, stored?, v.as_deref()?))
    };
    match f.op {
        Op::Eq => f.value.as_deref().is_some_and(eq),
        Op::Neq => !f.value.as_deref().is_some_and(eq),
        Op::Lt => cmp(&f.value) == Some(Ordering::Less),
        Op::Lte => matches!(cmp(&f.value), Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => cmp(&f.value) == Some(Ordering::Greater),
        Op::Gte => matches!(cmp(&f.value), Some(Ordering::Greater | Ordering::Equal)),
        Op::Between => {
            matches!(cmp(&f.value), Some(Ordering::Greater | Ordering::Equal))
                && matches!(cmp(&f.high), Some(Ordering::Less | Ordering::Equal))
        }
        Op::In => f.values.iter().any(|v| eq(v)),
        Op::NotIn => !f.values.iter().any(|v| eq(v)),
        Op::HasProperty => stored.is_some(),
        Op::NotHasProperty => stored.is_none(),
        Op::ContainsToken => stored.is_some_and(|s| contains_token(s, f.value.as_deref())),
        Op::NotContainsToken => !stored.is_some_and(|s| contains_token(s, f.value.as_deref())),
    }
}

/// Compares a stored value with a filter value by the property's type: numbers and dates by
/// value, enumerations exactly (case-sensitive), other text case-insensitively.
fn compare(object: &ObjectType, prop: &str, stored: &str, given: &str) -> Ordering {
    match object.prop(prop).map(|p| p.kind) {
        Some(PropKind::Number) => match (stored.parse::<f64>(), given.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            _ => stored.cmp(given),
        },
        Some(PropKind::Date | PropKind::DateTime) => {
            match (parse_instant(stored), parse_instant(given)) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => stored.cmp(given),
            }
        }
        Some(PropKind::Enum | PropKind::MultiEnum | PropKind::Pipeline | PropKind::Stage) => {
            stored.cmp(given)
        }
        _ => stored.to_lowercase().cmp(&given.to_lowercase()),
    }
}

fn compare_values(
    object: &ObjectType,
    prop: &str,
    a: Option<&String>,
    b: Option<&String>,
) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => compare(object, prop, a, b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// `CONTAINS_TOKEN`: a word of the value, or a `*` wildcard pattern over the whole value.
fn contains_token(stored: &str, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    let stored = stored.to_lowercase();
    let token = token.to_lowercase();
    if token.contains('*') {
        return glob(&token, &stored);
    }
    stored
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w == token)
        || stored == token
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_enforced() {
        let filter = json!({"propertyName": "email", "operator": "EQ", "value": "x"});
        let six_groups: Vec<Value> = (0..6).map(|_| json!({"filters": [filter]})).collect();
        assert!(SearchRequest::parse(&json!({"filterGroups": six_groups})).is_err());
        let seven: Vec<Value> = (0..7).map(|_| filter.clone()).collect();
        assert!(SearchRequest::parse(&json!({"filterGroups": [{"filters": seven}]})).is_err());
        let four: Vec<Value> = (0..4)
            .map(|_| json!({"filters": [filter, filter, filter, filter, filter]}))
            .collect();
        assert!(SearchRequest::parse(&json!({"filterGroups": four})).is_err());
        assert!(SearchRequest::parse(&json!({"limit": 201})).is_err());
        assert!(SearchRequest::parse(&json!({"after": "10000"})).is_err());
        assert!(SearchRequest::parse(&json!({"after": "9990", "limit": 5})).is_ok());
        assert!(SearchRequest::parse(&json!({"sorts": ["-createdate"]})).is_ok());
    }

    #[test]
    fn tokens_and_wildcards() {
        assert!(contains_token("jane@hubspot.com", Some("*@hubspot.com")));
        assert!(contains_token("Order arrived damaged", Some("damaged")));
        assert!(!contains_token("Order arrived damaged", Some("dam")));
        assert!(glob("a*c*e", "abcde"));
    }
}
