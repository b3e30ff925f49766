//! HTTP side of the fake: the login-server and instance-server responders, versioned routing,
//! limits, auth, faults, sObject CRUD, ext-id upsert, SOQL with cursors, Collections and
//! Composite.

use crate::sync::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::RequestStats;
use super::auth::AuthState;
use super::error::ApiError;
use super::faults::{HTML_PAGE, TRUNCATED_JSON};
use super::soql;
use super::store::{Fields, Store, Upserted, WriteOpts};
use crate::faults::{FaultState, Injected};
use crate::wire::{auth_token, decode_segment, delayed};

/// Composite subrequests per request, and query subrequests among them (REST API Developer
/// Guide, "Composite").
const COMPOSITE_MAX: usize = 25;
const COMPOSITE_MAX_QUERIES: usize = 5;
/// sObject Collections records per request (REST API Developer Guide, "sObject Collections").
const COLLECTIONS_MAX: usize = 200;

/// Everything a request can read or change.
pub(crate) struct State {
    pub(crate) store: Store,
    pub(crate) auth: AuthState,
    pub(crate) faults: FaultState,
    pub(crate) stats: RequestStats,
    pub(crate) api_used: u64,
    pub(crate) api_max: u64,
    pub(crate) min_version: f64,
    pub(crate) max_version: f64,
    /// Query locators: the rows still to serve and the batch size of the query that made them
    /// (the next pages come in the same batches, without a header).
    cursors: BTreeMap<String, (Vec<Value>, usize)>,
    cursor_seq: u64,
    pub(crate) login_origin: String,
    pub(crate) instance_origin: String,
    /// Method and path (no query string) of every API request, in order.
    pub(crate) log: Vec<(String, String)>,
    /// Outbound-message notifications of UI-side changes: (sObject, record id, fields sent).
    pub(crate) outbound: Vec<(String, String, serde_json::Map<String, Value>)>,
}

impl State {
    pub(crate) fn new(store: Store, auth: AuthState, api_max: u64) -> Self {
        Self {
            store,
            auth,
            faults: FaultState::default(),
            stats: RequestStats::default(),
            api_used: 0,
            api_max,
            min_version: 20.0,
            max_version: 66.0,
            cursors: BTreeMap::new(),
            cursor_seq: 0,
            login_origin: String::new(),
            instance_origin: String::new(),
            log: Vec::new(),
            outbound: Vec::new(),
        }
    }
}

/// A response before it becomes a template.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn empty(status: u16) -> Self {
        Self {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    fn error(e: &ApiError) -> Self {
        Self::json(e.status, e.body())
    }
}

fn template(r: Reply) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(r.status);
    if let Some(body) = r.body {
        t = t.set_body_raw(
            serde_json::to_vec(&body).unwrap_or_default(),
            "application/json;charset=UTF-8",
        );
    }
    for (k, v) in r.headers {
        t = t.insert_header(k, v.as_str());
    }
    t
}

fn bearer(req: &Request) -> Option<String> {
    // Older clients send `OAuth <token>`; both are accepted (REST API Developer Guide).
    auth_token(req, &["bearer", "oauth"])
}

fn header<'a>(headers: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Per-request options from headers.
#[derive(Debug, Clone)]
struct Ctx {
    version: String,
    headers: BTreeMap<String, String>,
}

impl Ctx {
    fn opts(&self) -> WriteOpts {
        WriteOpts {
            allow_save: header(&self.headers, "sforce-duplicate-rule-header").is_some_and(|v| {
                v.split(';')
                    .any(|p| p.trim().eq_ignore_ascii_case("allowSave=true"))
            }),
        }
    }

    /// `Sforce-Query-Options: batchSize=N` on a query: 200–2,000, default 2,000 (Salesforce REST
    /// API Developer Guide, "Query Options Header"). The query's locator keeps it: the next
    /// pages are requested from `nextRecordsUrl` "without any parameters".
    fn batch_size(&self) -> usize {
        header(&self.headers, "sforce-query-options")
            .and_then(|v| {
                v.split(',')
                    .find_map(|p| p.trim().strip_prefix("batchSize="))
                    .and_then(|n| n.trim().parse::<usize>().ok())
            })
            .map_or(2000, |n| n.clamp(200, 2000))
    }

    fn version_number(&self) -> f64 {
        self.version
            .trim_start_matches('v')
            .parse()
            .unwrap_or_default()
    }
}

/// The token endpoint, served on the login server (and on the instance, as My Domain does).
fn token_endpoint(state: &mut State, req: &Request) -> ResponseTemplate {
    state.stats.token_requests += 1;
    let (login, instance) = (state.login_origin.clone(), state.instance_origin.clone());
    match state.auth.token(&req.body, &login, &instance) {
        Ok(body) => template(Reply::json(200, body)),
        Err(e) => template(Reply::json(
            e.status,
            json!({"error": e.error, "error_description": e.description}),
        )),
    }
}

/// Serves the login host: only the OAuth endpoints live there.
pub(crate) struct LoginResponder {
    pub(crate) state: Arc<Mutex<State>>,
}

impl Respond for LoginResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        if req.method.as_str() == "POST" && req.url.path() == "/services/oauth2/token" {
            return token_endpoint(&mut state, req);
        }
        template(Reply::error(&ApiError::not_found()))
    }
}

/// Serves the instance host: the REST API under `/services/data/`.
pub(crate) struct InstanceResponder {
    pub(crate) state: Arc<Mutex<State>>,
}

impl Respond for InstanceResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let method = req.method.as_str().to_owned();
        let path = req.url.path().to_owned();
        if method == "POST" && path == "/services/oauth2/token" {
            return token_endpoint(&mut state, req);
        }
        state.stats.count(&method);
        if state.log.len() < 100_000 {
            state.log.push((method.clone(), path.clone()));
        }
        // `GET /services/data/` lists versions; it needs no session and costs nothing.
        if path.trim_end_matches('/') == "/services/data" && method == "GET" {
            let versions: Vec<Value> = [42.0, 46.0, 58.0, 62.0, state.max_version]
                .into_iter()
                .filter(|v| *v >= state.min_version && *v <= state.max_version)
                .map(|v| {
                    json!({"label": "crm-testkit", "url": format!("/services/data/v{v:.1}"), "version": format!("{v:.1}")})
                })
                .collect();
            return template(Reply::json(200, Value::Array(versions)));
        }
        let is_write = matches!(method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE");
        let fault = state.faults.decide(is_write);
        let latency = state.faults.latency();
        if let Some(f) = fault {
            state.stats.faults_injected += 1;
            if f == Injected::AfterCommit {
                state.stats.after_commit += 1;
            }
        }
        let reply = match fault {
            Some(Injected::Limited) => {
                let mut r = Reply::error(&ApiError::new(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                ));
                let wait = state.faults.retry_after_secs();
                if wait > 0 {
                    r.headers.push(("Retry-After", wait.to_string()));
                }
                Some(r)
            }
            Some(Injected::Html) => {
                drop(state);
                let t = ResponseTemplate::new(502).set_body_raw(HTML_PAGE, "text/html");
                return delayed(t, latency);
            }
            Some(Injected::Malformed) => {
                drop(state);
                let t = ResponseTemplate::new(200).set_body_raw(TRUNCATED_JSON, "application/json");
                return delayed(t, latency);
            }
            Some(Injected::Unavailable) => Some(Reply::error(&ApiError::new(
                503,
                "SERVER_UNAVAILABLE",
                "Server temporarily unavailable",
            ))),
            Some(Injected::AfterCommit) | None => None,
        };
        let mut reply = match reply {
            Some(r) => r,
            None => {
                let served = serve(&mut state, req);
                if fault == Some(Injected::AfterCommit) {
                    // The org did the work; the answer is lost on the way back.
                    Reply::error(&ApiError::new(
                        500,
                        "UNKNOWN_EXCEPTION",
                        "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-123456789)",
                    ))
                } else {
                    served
                }
            }
        };
        if reply.status != 401 {
            reply.headers.push((
                "Sforce-Limit-Info",
                format!("api-usage={}/{}", state.api_used, state.api_max),
            ));
        }
        let mut t = template(reply);
        if fault == Some(Injected::AfterCommit) {
            t = state.faults.lost_answer(t);
        }
        drop(state);
        delayed(t, latency)
    }
}

fn serve(state: &mut State, req: &Request) -> Reply {
    let path = req.url.path();
    let Some(rest) = path.strip_prefix("/services/data/") else {
        return Reply::error(&ApiError::not_found());
    };
    if bearer(req).filter(|t| state.auth.check(t)).is_none() {
        state.stats.unauthorized += 1;
        let mut r = Reply::error(&ApiError::new(
            401,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        ));
        r.headers.push(("WWW-Authenticate", "Token".into()));
        return r;
    }
    let (version, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if !valid_version(state, version) {
        return Reply::error(&ApiError::not_found());
    }
    // Every API call counts against the rolling 24-hour allocation (Salesforce's API limits docs).
    if state.api_used >= state.api_max {
        state.stats.limit_exceeded += 1;
        return Reply::error(&ApiError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ));
    }
    state.api_used += 1;
    let headers: BTreeMap<String, String> = req
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let ctx = Ctx {
        version: version.to_owned(),
        headers,
    };
    let query: Vec<(String, String)> = req
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let body = if req.body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(v) => Some(v),
            Err(e) => {
                return Reply::error(&ApiError::bad_json(format!(
                    "Unexpected character at [line:{}, column:{}]",
                    e.line(),
                    e.column()
                )));
            }
        }
    };
    match api(state, req.method.as_str(), tail, &query, &ctx, body) {
        Ok(r) => r,
        Err(e) => Reply::error(&e),
    }
}

fn valid_version(state: &State, version: &str) -> bool {
    let Some(num) = version.strip_prefix('v') else {
        return false;
    };
    let ok_shape = num.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty() && b.len() == 1 && (a.to_owned() + b).bytes().all(|c| c.is_ascii_digit())
    });
    ok_shape
        && num
            .parse::<f64>()
            .is_ok_and(|n| n >= state.min_version && n <= state.max_version)
}

fn as_object(body: Option<Value>) -> Result<Fields, ApiError> {
    match body {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(ApiError::bad_json(
            "Cannot deserialize instance of sObject from START_ARRAY",
        )),
        None => Err(ApiError::bad_json("The request body is empty")),
    }
}

/// Routes one API call (top-level or a Composite subrequest). `tail` is the path after
/// `/services/data/vNN.N/`.
fn api(
    state: &mut State,
    method: &str,
    tail: &str,
    query: &[(String, String)],
    ctx: &Ctx,
    body: Option<Value>,
) -> Result<Reply, ApiError> {
    let segs: Vec<String> = tail
        .trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let v = ctx.version.as_str();
    match (method, segs.as_slice()) {
        ("GET", []) => Ok(Reply::json(
            200,
            json!({
                "sobjects": format!("/services/data/{v}/sobjects"),
                "query": format!("/services/data/{v}/query"),
                "queryAll": format!("/services/data/{v}/queryAll"),
                "composite": format!("/services/data/{v}/composite"),
                "limits": format!("/services/data/{v}/limits"),
            }),
        )),
        ("GET", ["limits"]) => Ok(Reply::json(
            200,
            json!({"DailyApiRequests": {"Max": state.api_max, "Remaining": state.api_max.saturating_sub(state.api_used)}}),
        )),
        ("GET", ["sobjects"]) => {
            let list: Vec<Value> = state
                .store
                .schema
                .objects
                .iter()
                .map(|(name, o)| {
                    json!({"name": name, "keyPrefix": o.key_prefix, "label": o.label,
                    "urls": {"sobject": format!("/services/data/{v}/sobjects/{name}")}})
                })
                .collect();
            Ok(Reply::json(
                200,
                json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list}),
            ))
        }
        ("GET", ["sobjects", object, "describe"]) => describe(state, object),
        ("GET", ["sobjects", object]) => {
            let name = state
                .store
                .object_name(object)
                .ok_or_else(ApiError::not_found)?;
            Ok(Reply::json(
                200,
                json!({"objectDescribe": {"name": name}, "recentItems": []}),
            ))
        }
        ("POST", ["sobjects", object]) => {
            let body = as_object(body)?;
            let id = state.store.create(object, &body, ctx.opts())?;
            let name = state.store.object_name(object).unwrap_or_default();
            let mut r = Reply::json(201, json!({"id": id, "success": true, "errors": []}));
            r.headers.push((
                "Location",
                format!("/services/data/{v}/sobjects/{name}/{id}"),
            ));
            Ok(r)
        }
        ("GET", ["sobjects", object, id]) => {
            let fields: Option<Vec<String>> = query
                .iter()
                .find(|(k, _)| k == "fields")
                .map(|(_, f)| f.split(',').map(str::to_owned).collect());
            state
                .store
                .get(object, id, fields.as_deref(), v)
                .map(|b| Reply::json(200, b))
        }
        ("PATCH", ["sobjects", object, id]) => {
            let body = as_object(body)?;
            state.store.update(object, id, &body, ctx.opts())?;
            Ok(Reply::empty(204))
        }
        ("DELETE", ["sobjects", object, id]) => {
            state.store.delete(object, id)?;
            Ok(Reply::empty(204))
        }
        ("GET", ["sobjects", object, field, value]) => {
            let ids = state.store.find_by_field(object, field, value)?;
            match ids.as_slice() {
                [] => Err(ApiError::not_found()),
                [one] => state
                    .store
                    .get(object, one, None, v)
                    .map(|b| Reply::json(200, b)),
                many => Ok(multiple_choices(state, object, many, v)),
            }
        }
        ("PATCH", ["sobjects", object, field, value]) => {
            let body = as_object(body)?;
            match state
                .store
                .upsert(object, field, value, &body, ctx.opts())?
            {
                Upserted::Created(id) => Ok(Reply::json(
                    201,
                    json!({"id": id, "success": true, "errors": [], "created": true}),
                )),
                // 200 with a body from v46.0 on; 204 before (REST API Developer Guide, upsert; the
                // exact cut-over version is unverified).
                Upserted::Updated(id) if ctx.version_number() >= 46.0 => Ok(Reply::json(
                    200,
                    json!({"id": id, "success": true, "errors": [], "created": false}),
                )),
                Upserted::Updated(_) => Ok(Reply::empty(204)),
                Upserted::Multiple(ids) => Ok(multiple_choices(state, object, &ids, v)),
            }
        }
        ("GET", ["query" | "queryAll"]) => {
            let all = segs.first() == Some(&"queryAll");
            let q = query
                .iter()
                .find(|(k, _)| k == "q")
                .map(|(_, q)| q.as_str())
                .ok_or_else(|| {
                    ApiError::new(400, "MALFORMED_QUERY", "the q parameter is missing")
                })?;
            run_query(state, q, all, ctx)
        }
        ("GET", ["query" | "queryAll", locator]) => next_page(state, locator, ctx),
        ("POST", ["composite", "sobjects"]) => collections(state, CollOp::Create, body, ctx),
        ("PATCH", ["composite", "sobjects"]) => collections(state, CollOp::Update, body, ctx),
        ("PATCH", ["composite", "sobjects", object, field]) if ctx.version_number() >= 46.0 => {
            collections(
                state,
                CollOp::Upsert((*object).to_owned(), (*field).to_owned()),
                body,
                ctx,
            )
        }
        ("POST", ["composite"]) => composite(state, body, ctx),
        _ => Err(ApiError::not_found()),
    }
}

fn describe(state: &State, object: &str) -> Result<Reply, ApiError> {
    let (name, o) = state
        .store
        .schema
        .object(object)
        .ok_or_else(ApiError::not_found)?;
    let fields: Vec<Value> = o
        .fields
        .iter()
        .map(|f| {
            json!({"name": f.name, "type": f.kind, "length": f.length, "createable": f.create,
                   "updateable": f.update, "nillable": !f.required, "defaultedOnCreate": f.defaulted,
                   "externalId": f.external_id, "unique": f.unique, "referenceTo": f.reference_to,
                   "relationshipName": f.relationship, "label": f.label(),
                   "restrictedPicklist": f.restricted,
                   "picklistValues": f.picklist.iter().map(|p| json!({"value": p, "label": p, "active": true})).collect::<Vec<_>>()})
        })
        .collect();
    Ok(Reply::json(
        200,
        json!({"name": name, "keyPrefix": o.key_prefix, "label": o.label, "fields": fields}),
    ))
}

/// `300 Multiple Choices` with the matching records' URLs (REST API Developer Guide, upsert).
fn multiple_choices(state: &State, object: &str, ids: &[String], v: &str) -> Reply {
    let name = state.store.object_name(object).unwrap_or_default();
    Reply::json(
        300,
        Value::Array(
            ids.iter()
                .map(|id| json!(format!("/services/data/{v}/sobjects/{name}/{id}")))
                .collect(),
        ),
    )
}

fn query_page(
    state: &mut State,
    mut rows: Vec<Value>,
    total: usize,
    size: usize,
    ctx: &Ctx,
) -> Value {
    if rows.len() <= size {
        return json!({"totalSize": total, "done": true, "records": rows});
    }
    let rest = rows.split_off(size);
    state.cursor_seq += 1;
    let locator = super::ids::make("01g", state.cursor_seq);
    let offset = total - rest.len();
    let next = format!("{locator}-{offset}");
    state.cursors.insert(next.clone(), (rest, size));
    json!({"totalSize": total, "done": false,
           "nextRecordsUrl": format!("/services/data/{}/query/{next}", ctx.version),
           "records": rows})
}

fn run_query(state: &mut State, q: &str, all: bool, ctx: &Ctx) -> Result<Reply, ApiError> {
    let parsed = soql::parse(q).map_err(|e| ApiError::new(400, e.code, e.message))?;
    let rows = state.store.query(&parsed, all, &ctx.version)?;
    let total = rows.len();
    let size = ctx.batch_size();
    let body = query_page(state, rows, total, size, ctx);
    Ok(Reply::json(200, body))
}

fn next_page(state: &mut State, locator: &str, ctx: &Ctx) -> Result<Reply, ApiError> {
    let (rows, size) = state
        .cursors
        .remove(locator)
        .ok_or_else(|| ApiError::new(404, "INVALID_QUERY_LOCATOR", "invalid query locator"))?;
    let offset: usize = locator
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0);
    let total = offset + rows.len();
    let body = query_page(state, rows, total, size, ctx);
    Ok(Reply::json(200, body))
}

enum CollOp {
    Create,
    Update,
    Upsert(String, String),
}

/// sObject Collections: up to 200 records, one result per record in input order, `allOrNone`
/// rolling everything back on any failure (REST API Developer Guide, "sObject Collections").
fn collections(
    state: &mut State,
    op: CollOp,
    body: Option<Value>,
    ctx: &Ctx,
) -> Result<Reply, ApiError> {
    let body = as_object(body)?;
    let all_or_none = body
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let records = match body.get("records") {
        Some(Value::Array(r)) => r.clone(),
        _ => return Err(ApiError::bad_json("The request body has no records array")),
    };
    if records.len() > COLLECTIONS_MAX {
        // [?] the exact code for an oversized request; the limit itself is documented.
        return Err(ApiError::new(
            400,
            "EXCEEDED_ID_LIMIT",
            format!("Number of records in the request exceeds the limit of {COLLECTIONS_MAX}"),
        ));
    }
    let snapshot = all_or_none.then(|| state.store.clone());
    let mut results: Vec<Result<Value, ApiError>> = Vec::with_capacity(records.len());
    for rec in records {
        let Value::Object(mut fields) = rec else {
            results.push(Err(ApiError::bad_json("a record is not a JSON object")));
            continue;
        };
        let object = fields
            .remove("attributes")
            .and_then(|a| a.get("type").and_then(Value::as_str).map(str::to_owned));
        let result = match &op {
            CollOp::Create => match object {
                None => Err(ApiError::new(
                    400,
                    "INVALID_TYPE",
                    "sObject type is required in attributes",
                )),
                Some(o) => state
                    .store
                    .create(&o, &fields, ctx.opts())
                    .map(|id| json!({"id": id, "success": true, "errors": []})),
            },
            CollOp::Update => {
                let id = fields
                    .remove("id")
                    .or_else(|| fields.remove("Id"))
                    .and_then(|v| v.as_str().map(str::to_owned));
                match (object, id) {
                    (None, _) => Err(ApiError::new(
                        400,
                        "INVALID_TYPE",
                        "sObject type is required in attributes",
                    )),
                    (_, None) => Err(ApiError::new(
                        400,
                        "MISSING_ARGUMENT",
                        "Id not specified in an update call",
                    )),
                    (Some(o), Some(id)) => state
                        .store
                        .update(&o, &id, &fields, ctx.opts())
                        .map(|id| json!({"id": id, "success": true, "errors": []})),
                }
            }
            CollOp::Upsert(object_name, field) => {
                let key = fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(field))
                    .map(|(k, v)| (k.clone(), v.clone()));
                match key {
                    Some((k, Value::String(value))) => {
                        fields.remove(&k);
                        match state
                            .store
                            .upsert(object_name, field, &value, &fields, ctx.opts())
                        {
                            Ok(Upserted::Created(id)) => Ok(
                                json!({"id": id, "success": true, "errors": [], "created": true}),
                            ),
                            Ok(Upserted::Updated(id)) => Ok(
                                json!({"id": id, "success": true, "errors": [], "created": false}),
                            ),
                            Ok(Upserted::Multiple(_)) => Err(ApiError::new(
                                300,
                                "DUPLICATE_EXTERNAL_ID",
                                format!(
                                    "The external ID value matched more than one record: {field}"
                                ),
                            )),
                            Err(e) => Err(e),
                        }
                    }
                    _ => Err(ApiError::new(
                        400,
                        "REQUIRED_FIELD_MISSING",
                        format!("Required fields are missing: [{field}]"),
                    )
                    .with_fields(vec![field.clone()])),
                }
            }
        };
        results.push(result);
    }
    let failed = results.iter().any(Result::is_err);
    if let (true, Some(snapshot)) = (failed, snapshot) {
        state.store = snapshot;
        let body: Vec<Value> = results
            .into_iter()
            .map(|r| match r {
                Err(e) => json!({"success": false, "errors": [e.item()]}),
                Ok(_) => json!({"success": false, "errors": [{
                    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
                    "fields": []}]}),
            })
            .collect();
        return Ok(Reply::json(200, Value::Array(body)));
    }
    let body: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(v) => v,
            Err(e) => json!({"success": false, "errors": [e.item()]}),
        })
        .collect();
    Ok(Reply::json(200, Value::Array(body)))
}

/// Resolves `@{ref.path}` against earlier subrequest bodies: `refContact.id`,
/// `refQuery.records[0].Id`.
fn reference(results: &BTreeMap<String, Value>, expr: &str) -> Option<String> {
    let mut parts = expr.split('.');
    let mut at = results.get(parts.next()?)?;
    for part in parts {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, Some(i.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (part, None),
        };
        if !name.is_empty() {
            at = at.get(name)?;
        }
        if let Some(i) = index {
            at = at.get(i)?;
        }
    }
    match at {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn substitute(text: &str, results: &BTreeMap<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 2..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            return Err(after.to_owned());
        };
        let expr = after.get(..end).unwrap_or_default();
        out.push_str(&reference(results, expr).ok_or_else(|| expr.to_owned())?);
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

fn substitute_json(v: &Value, results: &BTreeMap<String, Value>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(substitute(s, results)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute_json(x, results))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), substitute_json(x, results)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Composite: up to 25 subrequests (5 queries) run in order in one call, later ones referring to
/// earlier results with `@{ref.field}` (REST API Developer Guide, "Composite").
fn composite(state: &mut State, body: Option<Value>, ctx: &Ctx) -> Result<Reply, ApiError> {
    let body = as_object(body)?;
    let all_or_none = body
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let subs = match body.get("compositeRequest") {
        Some(Value::Array(s)) => s.clone(),
        _ => return Err(ApiError::bad_json("compositeRequest is missing")),
    };
    if subs.len() > COMPOSITE_MAX {
        return Err(ApiError::new(
            400,
            "LIMIT_EXCEEDED",
            format!(
                "Limit Exceeded: the composite request has more than {COMPOSITE_MAX} subrequests"
            ),
        ));
    }
    let queries = subs
        .iter()
        .filter(|s| {
            s.get("url")
                .and_then(Value::as_str)
                .is_some_and(|u| u.contains("/query"))
        })
        .count();
    if queries > COMPOSITE_MAX_QUERIES {
        return Err(ApiError::new(
            400,
            "LIMIT_EXCEEDED",
            format!(
                "Limit Exceeded: the composite request has more than {COMPOSITE_MAX_QUERIES} query subrequests"
            ),
        ));
    }
    // Every subrequest names a reference id of letters, digits and underscores, unique in the
    // request (REST API Developer Guide, "Composite Subrequest Result": reference ids "must not
    // contain anything besides letters, numbers, and underscores"; results are told apart by
    // them). What Salesforce answers to a bad one depends on the version; the fake refuses the
    // whole request before running any of it.
    let mut seen = std::collections::BTreeSet::new();
    for sub in &subs {
        let id = sub.get("referenceId").and_then(Value::as_str).unwrap_or("");
        let legal = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !legal {
            return Err(ApiError::new(
                400,
                "INVALID_INPUT",
                "every subrequest needs a referenceId of letters, numbers and underscores",
            ));
        }
        if !seen.insert(id.to_owned()) {
            return Err(ApiError::new(
                400,
                "INVALID_INPUT",
                format!("Duplicate referenceId provided in the request: {id}"),
            ));
        }
    }
    let snapshot = all_or_none.then(|| state.store.clone());
    let mut results: BTreeMap<String, Value> = BTreeMap::new();
    let mut out = Vec::with_capacity(subs.len());
    let mut failed = false;
    for sub in subs {
        state.stats.composite_subrequests += 1;
        let reference_id = sub
            .get("referenceId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let method = sub
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_owned();
        let reply = if failed && all_or_none {
            Reply::error(&ApiError::new(
                400,
                "PROCESSING_HALTED",
                "The transaction was rolled back since another operation in the same transaction failed.",
            ))
        } else {
            run_sub(state, &sub, &method, &results, ctx)
        };
        if reply.status >= 400 {
            failed = true;
        } else if let Some(b) = &reply.body {
            // Only a result can be referred to: a reference to a failed subrequest halts the
            // one that makes it.
            results.insert(reference_id.clone(), b.clone());
        }
        let headers: Map<String, Value> = reply
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        out.push(json!({"body": reply.body, "httpHeaders": headers,
                        "httpStatusCode": reply.status, "referenceId": reference_id}));
    }
    if let (true, Some(snapshot)) = (failed, snapshot) {
        state.store = snapshot;
        for item in &mut out {
            if item
                .get("httpStatusCode")
                .and_then(Value::as_u64)
                .is_some_and(|s| s < 400)
            {
                *item = json!({"body": [{"errorCode": "PROCESSING_HALTED",
                    "message": "The transaction was rolled back since another operation in the same transaction failed."}],
                    "httpHeaders": {}, "httpStatusCode": 400,
                    "referenceId": item.get("referenceId").cloned().unwrap_or(Value::Null)});
            }
        }
    }
    Ok(Reply::json(200, json!({"compositeResponse": out})))
}

fn run_sub(
    state: &mut State,
    sub: &Value,
    method: &str,
    results: &BTreeMap<String, Value>,
    ctx: &Ctx,
) -> Reply {
    let halted = |expr: String| {
        Reply::error(&ApiError::new(
            400,
            "PROCESSING_HALTED",
            format!("Invalid reference specified. No value for {expr} found"),
        ))
    };
    let url = match sub
        .get("url")
        .and_then(Value::as_str)
        .map(|u| substitute(u, results))
    {
        Some(Ok(u)) => u,
        Some(Err(expr)) => return halted(expr),
        None => return Reply::error(&ApiError::bad_json("a subrequest has no url")),
    };
    let body = match sub.get("body").map(|b| substitute_json(b, results)) {
        Some(Ok(b)) => Some(b),
        Some(Err(expr)) => return halted(expr),
        None => None,
    };
    let Ok(parsed) = url::Url::parse("http://composite.invalid").and_then(|b| b.join(&url)) else {
        return Reply::error(&ApiError::not_found());
    };
    let Some(rest) = parsed.path().strip_prefix("/services/data/") else {
        return Reply::error(&ApiError::not_found());
    };
    let (version, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if !valid_version(state, version) {
        return Reply::error(&ApiError::not_found());
    }
    let mut headers = ctx.headers.clone();
    if let Some(Value::Object(h)) = sub.get("httpHeaders") {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                headers.insert(k.to_ascii_lowercase(), v.to_owned());
            }
        }
    }
    let sub_ctx = Ctx {
        version: version.to_owned(),
        headers,
    };
    let query: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match api(state, method, tail, &query, &sub_ctx, body) {
        Ok(r) => r,
        Err(e) => Reply::error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_paths() {
        let mut r = BTreeMap::new();
        r.insert(
            "q".to_owned(),
            json!({"records": [{"Id": "003A"}], "totalSize": 1}),
        );
        r.insert("c".to_owned(), json!({"id": "001B"}));
        assert_eq!(
            substitute("x='@{q.records[0].Id}' and @{c.id}", &r).unwrap(),
            "x='003A' and 001B"
        );
        assert_eq!(
            substitute("@{q.records[1].Id}", &r).unwrap_err(),
            "q.records[1].Id"
        );
    }
}
