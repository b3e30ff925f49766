//! HTTP side of the sandbox: the `wiremock` responder, auth, faults, routing and responses.

use crate::sync::lock;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::RequestStats;
use super::error::ApiError;
use super::faults::{HTML_PAGE, TRUNCATED_JSON};
use super::list::{ListQuery, Style, encode_cursor};
use super::schema::{self, ObjectSpec};
use super::store::{self, Store};
use crate::faults::{FaultState, Injected};
use crate::wire::{auth_token, decode_segment, delayed};

/// The path every endpoint lives under.
pub(crate) const BASE_PATH: &str = "/api/v1";

/// Everything a request can read or change.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) token: String,
    pub(crate) store: Store,
    pub(crate) faults: FaultState,
    pub(crate) stats: RequestStats,
    /// Random per server, so request ids from two sandboxes never collide.
    id_rng: fastrand::Rng,
}

impl State {
    pub(crate) fn new(token: String, store: Store) -> Self {
        Self {
            token,
            store,
            faults: FaultState::default(),
            stats: RequestStats::default(),
            id_rng: fastrand::Rng::new(),
        }
    }

    /// A UUID-shaped (version 4 layout) request id.
    fn request_id(&mut self) -> String {
        let r = &mut self.id_rng;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            r.u32(..),
            r.u16(..),
            r.u16(..0x1000),
            r.u16(0x8000..0xc000),
            r.u64(..1 << 48)
        )
    }
}

/// The single `wiremock` responder: routes on method and path itself.
pub(crate) struct SandboxResponder {
    pub(crate) state: Arc<Mutex<State>>,
    /// `http://127.0.0.1:PORT`, for absolute URLs (`Link`, `Location`).
    pub(crate) origin: String,
}

/// A successful response before it becomes a `ResponseTemplate`.
struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

fn error_response(e: &ApiError) -> ResponseTemplate {
    e.headers.iter().fold(
        ResponseTemplate::new(e.status).set_body_json(e.body()),
        |t, (k, v)| t.insert_header(*k, v.as_str()),
    )
}

fn reply_response(r: Reply) -> ResponseTemplate {
    r.headers.iter().fold(
        ResponseTemplate::new(r.status).set_body_json(&r.body),
        |t, (k, v)| t.insert_header(*k, v.as_str()),
    )
}

impl Respond for SandboxResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let method = req.method.as_str();
        state.stats.count(method);
        let request_id = state.request_id();
        let is_write = matches!(method, "POST" | "PUT" | "PATCH");
        let fault = state.faults.decide(is_write);
        let latency = state.faults.latency();

        let template = match fault {
            None => self.serve(&mut state, req),
            Some(fault) => {
                state.stats.note_fault(fault);
                match fault {
                    Injected::Limited => error_response(
                        &ApiError::new(429, "rate_limited", "too many requests, slow down")
                            .with_header(
                                "Retry-After",
                                state.faults.retry_after_secs().to_string(),
                            ),
                    ),
                    Injected::Html => {
                        ResponseTemplate::new(502).set_body_raw(HTML_PAGE, "text/html")
                    }
                    Injected::Malformed => {
                        ResponseTemplate::new(200).set_body_raw(TRUNCATED_JSON, "application/json")
                    }
                    Injected::Unavailable => {
                        error_response(&ApiError::internal(503, "service temporarily unavailable"))
                    }
                    Injected::AfterCommit => {
                        // The CRM did the work; the response is lost on the way back.
                        let _applied = self.serve(&mut state, req);
                        state
                            .faults
                            .lost_answer(error_response(&ApiError::internal(502, "bad gateway")))
                    }
                }
            }
        };
        drop(state);
        let template = template.insert_header("X-Request-Id", request_id.as_str());
        delayed(template, latency)
    }
}

fn authorized(req: &Request, token: &str) -> bool {
    auth_token(req, &["bearer"]).is_some_and(|given| given == token)
}

/// The write body: a JSON object, or a 400.
fn json_body(req: &Request) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(
            400,
            "invalid_type",
            "the request body must be a JSON object",
        )),
        Err(_) => Err(ApiError::malformed_json()),
    }
}

impl SandboxResponder {
    fn serve(&self, state: &mut State, req: &Request) -> ResponseTemplate {
        if !authorized(req, &state.token) {
            return error_response(&ApiError::unauthorized());
        }
        match self.route(&mut state.store, req) {
            Ok(reply) => reply_response(reply),
            Err(e) => error_response(&e),
        }
    }

    fn route(&self, store: &mut Store, req: &Request) -> Result<Reply, ApiError> {
        let not_found = || ApiError::not_found("resource");
        let path = req.url.path();
        let rest = path.strip_prefix(BASE_PATH).ok_or_else(not_found)?;
        let rest = rest.strip_prefix('/').ok_or_else(not_found)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segments: Vec<String> = rest.split('/').map(decode_segment).collect();
        let method = req.method.as_str();
        let spec = segments
            .first()
            .and_then(|s| schema::object(s))
            .ok_or_else(not_found)?;
        match (segments.get(1), segments.get(2), segments.len()) {
            (None, _, 1) => match method {
                "GET" => self.list(store, spec, req),
                "POST" => create(store, spec, req),
                _ => Err(ApiError::method_not_allowed("GET, POST")),
            },
            (Some(id), None, 2) if !id.is_empty() => match method {
                "GET" => store
                    .get(spec.path, id)
                    .map(|r| Reply::new(200, r))
                    .ok_or_else(|| ApiError::not_found(spec.singular)),
                "PATCH" => {
                    if store.get(spec.path, id).is_none() {
                        return Err(ApiError::not_found(spec.singular));
                    }
                    let body = json_body(req)?;
                    store
                        .patch(spec.path, id, &body)
                        .map(|r| Reply::new(200, r))
                }
                _ => Err(ApiError::method_not_allowed("GET, PATCH")),
            },
            (Some(key), Some(value), 3) if key.starts_with("by-") => match method {
                "PUT" => upsert(store, spec, key, value, req),
                _ => Err(ApiError::method_not_allowed("PUT")),
            },
            _ => Err(not_found()),
        }
    }

    fn list(&self, store: &Store, spec: &ObjectSpec, req: &Request) -> Result<Reply, ApiError> {
        let pairs: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        let query = ListQuery::parse(spec, &pairs)?;
        let table = store
            .table(spec.path)
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let page = query.run(&table.records);
        let data: Vec<Value> = page.records.iter().map(|r| r.render(spec)).collect();
        let next_cursor = page.next_offset.map(encode_cursor);
        let mut reply = Reply::new(
            200,
            json!({"data": data, "next_cursor": next_cursor, "total": page.total}),
        );
        if let Some(next) = page.next_offset {
            // The next page keeps every parameter and only moves the one of the client's style.
            let (param, value) = match query.style {
                Style::Cursor => ("cursor", encode_cursor(next)),
                Style::Offset => ("offset", next.to_string()),
                Style::Page => ("page", (query.page + 1).to_string()),
            };
            let mut url = url::Url::parse(&format!("{}{}", self.origin, req.url.path()))
                .map_err(|_| ApiError::internal(500, "could not build the next page link"))?;
            url.query_pairs_mut()
                .extend_pairs(pairs.iter().filter(|(k, _)| k != param))
                .append_pair(param, &value);
            reply
                .headers
                .push(("Link", format!("<{url}>; rel=\"next\"")));
        }
        Ok(reply)
    }
}

fn create(store: &mut Store, spec: &'static ObjectSpec, req: &Request) -> Result<Reply, ApiError> {
    let key = req
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if let Some(key) = key {
        // A replay answers before the body is read: the first request's outcome is what counts.
        if let Some(record) = store.replayed(spec.path, key) {
            let mut reply = Reply::new(200, record);
            reply
                .headers
                .push(("Idempotent-Replayed", "true".to_owned()));
            return Ok(reply);
        }
    }
    let body = json_body(req)?;
    let record = store.create(spec.path, &body)?;
    if let (Some(key), Some(id)) = (key, record.get("id").and_then(Value::as_str)) {
        store.remember(spec.path, key, id);
    }
    Ok(Reply::new(201, record))
}

fn upsert(
    store: &mut Store,
    spec: &'static ObjectSpec,
    key: &str,
    value: &str,
    req: &Request,
) -> Result<Reply, ApiError> {
    let name = key.strip_prefix("by-").unwrap_or(key);
    let field =
        store::upsert_key(spec.path, name).ok_or_else(|| ApiError::not_found("upsert key"))?;
    if value.is_empty() {
        return Err(ApiError::not_found(spec.singular));
    }
    let body = json_body(req)?;
    if body.contains_key(field.name) {
        return Err(ApiError::invalid_parameter(format!(
            "the body must not contain the upsert key {}; it comes from the path",
            field.name
        ))
        .with_fields(vec![(field.name.to_owned(), "invalid_parameter")]));
    }
    let (created, record) = store.upsert(spec.path, field, value, &body)?;
    Ok(Reply::new(if created { 201 } else { 200 }, record))
}
