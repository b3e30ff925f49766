//! The HTTP side of the fake: the `wiremock` responder, faults, auth, limits, routing and the
//! headers every response carries (`X-HubSpot-Correlation-Id`, `X-HubSpot-RateLimit-*`).

use crate::sync::lock;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use wiremock::{Request, Respond, ResponseTemplate};

use super::api::{self, Answer, BatchKind, Query};
use super::error::ApiError;
use super::faults::{HTML_502, TRUNCATED_JSON};
use super::limits::{Counters, Refused};
use super::oauth::{Bearer, OAuthState};
use super::store::Store;
use super::{PathFamilies, RequestStats};
use crate::faults::{FaultState, Injected};
use crate::wire::{auth_token, decode_segment, delayed};

/// Everything a request can read or change.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) store: Store,
    pub(crate) faults: FaultState,
    pub(crate) stats: RequestStats,
    pub(crate) limits: Counters,
    pub(crate) oauth: OAuthState,
    pub(crate) token: String,
    pub(crate) paths: PathFamilies,
    rng: fastrand::Rng,
    /// Webhook events for UI-side changes, not yet taken by an emitter.
    pub(crate) webhooks: Vec<serde_json::Value>,
    pub(crate) event_seq: u64,
}

impl State {
    pub(crate) fn new(
        store: Store,
        limits: Counters,
        oauth: OAuthState,
        token: String,
        paths: PathFamilies,
    ) -> Self {
        Self {
            store,
            faults: FaultState::default(),
            stats: RequestStats::default(),
            limits,
            oauth,
            token,
            paths,
            rng: fastrand::Rng::new(),
            webhooks: Vec::new(),
            event_seq: 0,
        }
    }

    /// A UUID-shaped correlation id.
    fn correlation_id(&mut self) -> String {
        let r = &mut self.rng;
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

/// The single responder: routes on method and path itself.
pub(crate) struct HubSpotResponder {
    pub(crate) state: Arc<Mutex<State>>,
}

const JSON: &str = "application/json;charset=utf-8";

fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    if status == 204 {
        return ResponseTemplate::new(204);
    }
    let text = serde_json::to_string(body).unwrap_or_default();
    ResponseTemplate::new(status).set_body_raw(text, JSON)
}

fn with_headers(t: ResponseTemplate, headers: &[(&'static str, String)]) -> ResponseTemplate {
    headers
        .iter()
        .fold(t, |t, (k, v)| t.insert_header(*k, v.as_str()))
}

impl Respond for HubSpotResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = lock(&self.state);
        let method = req.method.as_str().to_owned();
        let cid = st.correlation_id();
        st.stats.count(&method, req.url.path());
        let arrived = st.limits.now();
        st.limits.arrived(arrived);
        let path = req.url.path();
        // Searches and batch reads are POSTs that change nothing.
        let is_write = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            && !path.ends_with("/search")
            && !path.ends_with("/batch/read")
            && !path.starts_with("/oauth/");
        let fault = st.faults.decide(is_write);
        let latency = st.faults.latency();
        let template = match fault {
            None => serve(&mut st, req, &cid),
            Some(fault) => {
                st.stats.note_fault(fault);
                match fault {
                    Injected::Limited => {
                        let now = st.limits.now();
                        let mut headers = st.limits.headers(false, now);
                        for h in &mut headers {
                            if h.0 == "X-HubSpot-RateLimit-Remaining" {
                                h.1 = "0".into();
                            }
                        }
                        let wait = st.faults.retry_after_secs();
                        if wait > 0 {
                            headers.push(("Retry-After", wait.to_string()));
                        }
                        with_headers(
                            json_response(
                                429,
                                &ApiError::rate_limit("TEN_SECONDLY_ROLLING").body(&cid),
                            ),
                            &headers,
                        )
                    }
                    Injected::Html => {
                        ResponseTemplate::new(502).set_body_raw(HTML_502, "text/html")
                    }
                    Injected::Malformed => {
                        ResponseTemplate::new(200).set_body_raw(TRUNCATED_JSON, JSON)
                    }
                    Injected::Unavailable => {
                        json_response(503, &ApiError::internal(503).body(&cid))
                    }
                    Injected::AfterCommit => {
                        // The write is done; the answer is lost at the edge.
                        let _applied = serve(&mut st, req, &cid);
                        st.faults.lost_answer(
                            ResponseTemplate::new(502).set_body_raw(HTML_502, "text/html"),
                        )
                    }
                }
            }
        };
        drop(st);
        let template = template.insert_header("X-HubSpot-Correlation-Id", cid.as_str());
        delayed(template, latency)
    }
}

fn error_response(e: &ApiError, cid: &str) -> ResponseTemplate {
    if e.category == NO_ROUTE {
        return ResponseTemplate::new(404);
    }
    json_response(e.status, &e.body(cid))
}

/// Marks the answer for a path HubSpot does not serve.
const NO_ROUTE: &str = "(no route)";

/// A path HubSpot does not serve (a `base_url` with `/crm/v3` in it doubles every path): a plain
/// 404 without HubSpot's error body. Only a record that does not exist is answered with
/// HubSpot's JSON and `category: OBJECT_NOT_FOUND`, which is what tells a client "no such
/// record" from "no such endpoint".
fn no_route() -> ApiError {
    ApiError::new(404, NO_ROUTE, "")
}

fn serve(st: &mut State, req: &Request, cid: &str) -> ResponseTemplate {
    let path = req.url.path().trim_end_matches('/').to_owned();
    let method = req.method.as_str();
    if path == "/oauth/v1/token" || path == "/oauth/v3/token" {
        if method != "POST" {
            return error_response(&ApiError::new(405, "VALIDATION_ERROR", "use POST"), cid);
        }
        st.stats.token += 1;
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let (status, body) = st.oauth.token(&form, Instant::now());
        return json_response(status, &body);
    }
    // Tokens expire on real time (the OAuth state's clock); the windows count on the
    // counters' clock (tokio's, of the runtime that started the fake).
    let kind = match auth_token(req, &["bearer"]) {
        None => Bearer::Invalid,
        Some(t) => st.oauth.classify(&t, &st.token, Instant::now()),
    };
    let now = st.limits.now();
    match kind {
        Bearer::Invalid => return error_response(&ApiError::invalid_auth(), cid),
        Bearer::Expired(secs) => return error_response(&ApiError::expired_auth(secs), cid),
        Bearer::PrivateApp | Bearer::OAuth => {}
    }
    let private_app = kind == Bearer::PrivateApp;
    let is_search = method == "POST" && path.ends_with("/search");
    if let Err(refused) = st.limits.admit(is_search, now) {
        st.stats.rate_limited += 1;
        return match refused {
            // Search's 429: the recorded shape, no rate headers, no Retry-After (HubSpot docs).
            Refused::Search => error_response(&ApiError::search_rate_limit(), cid),
            Refused::TenSecondly => with_headers(
                error_response(&ApiError::rate_limit("TEN_SECONDLY_ROLLING"), cid),
                &st.limits.headers(private_app, now),
            ),
            Refused::Daily => with_headers(
                error_response(&ApiError::rate_limit("DAILY"), cid),
                &st.limits.headers(private_app, now),
            ),
        };
    }
    if is_search {
        st.stats.search += 1;
    }
    if path.contains("/batch/") {
        st.stats.batch += 1;
    }
    let query = Query(req.url.query_pairs().into_owned().collect());
    let answer = route(st, method, &path, &query, &req.body);
    let template = match answer {
        Ok((status, body)) => json_response(status, &body),
        Err(e) => error_response(&e, cid),
    };
    let headers = if is_search {
        if private_app {
            st.limits.daily_headers()
        } else {
            Vec::new()
        }
    } else {
        st.limits.headers(private_app, now)
    };
    with_headers(template, &headers)
}

fn body_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(format!(
            "Invalid input JSON on line {}, column {}",
            e.line(),
            e.column()
        ))
    })
}

fn segments(rest: &str) -> Vec<String> {
    rest.split('/').map(decode_segment).collect()
}

fn route(st: &mut State, method: &str, path: &str, q: &Query, body: &[u8]) -> Answer {
    let v3 = st.paths != PathFamilies::DatedOnly;
    let dated = st.paths != PathFamilies::V3Only;
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('/'))
            .map(segments)
    };
    if v3 {
        if let Some(s) = under("/crm/v3/objects") {
            return objects(st, method, &s, q, body, (true, false));
        }
        if let Some(s) = under("/crm/v4/objects") {
            return objects(st, method, &s, q, body, (false, true));
        }
        if let Some(s) = under("/crm/v4/associations") {
            return assoc_batch(st, method, &s, body);
        }
        if let Some(s) = under("/crm/v3/pipelines") {
            return pipelines(st, method, &s);
        }
        if let Some(s) = under("/crm/v3/properties") {
            return properties(st, method, &s);
        }
    }
    if dated {
        if let Some(s) = under("/crm/objects/2026-03") {
            // The dated family serves records and their associations under one prefix.
            return objects(st, method, &s, q, body, (true, true));
        }
        if let Some(s) = under("/crm/associations/2026-03") {
            return assoc_batch(st, method, &s, body);
        }
        if let Some(s) = under("/crm/pipelines/2026-03") {
            return pipelines(st, method, &s);
        }
        if let Some(s) = under("/crm/properties/2026-03") {
            return properties(st, method, &s);
        }
    }
    Err(no_route())
}

fn not_allowed() -> ApiError {
    ApiError::new(
        405,
        "VALIDATION_ERROR",
        "HTTP method not allowed on this path",
    )
}

fn object_idx(st: &State, given: &str) -> Result<usize, ApiError> {
    st.store
        .object_index(given)
        .ok_or_else(|| ApiError::validation(format!("Unable to infer object type from: {given}")))
}

fn objects(
    st: &mut State,
    method: &str,
    s: &[String],
    q: &Query,
    body: &[u8],
    (records, associations): (bool, bool),
) -> Answer {
    let seg = |i: usize| s.get(i).map(String::as_str);
    let Some(object) = seg(0) else {
        return Err(no_route());
    };
    let idx = object_idx(st, object)?;
    let store = &mut st.store;
    match (s.len(), seg(1), seg(2), seg(3)) {
        (1, _, _, _) if records => match method {
            "GET" => api::list(store, idx, q),
            "POST" => api::create(store, idx, &body_json(body)?),
            _ => Err(not_allowed()),
        },
        (2, Some("search"), _, _) if records => match method {
            "POST" => api::search(store, idx, &body_json(body)?),
            _ => Err(not_allowed()),
        },
        (3, Some("batch"), Some(op), _) if records => {
            if method != "POST" {
                return Err(not_allowed());
            }
            let body = body_json(body)?;
            match op {
                "read" => api::batch_read(store, idx, &body),
                "create" => api::batch_write(store, idx, BatchKind::Create, &body),
                "update" => api::batch_write(store, idx, BatchKind::Update, &body),
                "upsert" => api::batch_write(store, idx, BatchKind::Upsert, &body),
                "archive" => api::batch_archive(store, idx, &body),
                _ => Err(no_route()),
            }
        }
        (2, Some(id), _, _) if records => match method {
            "GET" => api::get(store, idx, id, q),
            "PATCH" => api::update(store, idx, id, q, &body_json(body)?),
            "DELETE" => api::archive(store, idx, id),
            _ => Err(not_allowed()),
        },
        (4, Some(id), Some("associations"), Some(to)) if associations => {
            let to = object_idx_static(store, to)?;
            match method {
                "GET" => api::assoc_list(store, idx, id, to, q),
                _ => Err(not_allowed()),
            }
        }
        (5, Some(id), Some("associations"), Some(to)) if associations => {
            let to = object_idx_static(store, to)?;
            let to_id = seg(4).unwrap_or_default();
            match method {
                "PUT" => api::assoc_put(store, idx, id, to, to_id, &body_json(body)?),
                "DELETE" => api::assoc_delete(store, idx, id, to, to_id),
                _ => Err(not_allowed()),
            }
        }
        (6, Some(id), Some("associations"), Some("default")) if associations => {
            let to = object_idx_static(store, seg(4).unwrap_or_default())?;
            let to_id = seg(5).unwrap_or_default();
            match method {
                "PUT" => api::assoc_put_default(store, idx, id, to, to_id),
                _ => Err(not_allowed()),
            }
        }
        _ => Err(no_route()),
    }
}

fn object_idx_static(store: &Store, given: &str) -> Result<usize, ApiError> {
    store
        .object_index(given)
        .ok_or_else(|| ApiError::validation(format!("Unable to infer object type from: {given}")))
}

fn assoc_batch(st: &mut State, method: &str, s: &[String], body: &[u8]) -> Answer {
    if method != "POST" {
        return Err(not_allowed());
    }
    let (Some(from), Some(to), Some("batch"), Some(op), 4) = (
        s.first(),
        s.get(1),
        s.get(2).map(String::as_str),
        s.get(3).map(String::as_str),
        s.len(),
    ) else {
        return Err(no_route());
    };
    let from = object_idx(st, from)?;
    let to = object_idx(st, to)?;
    let body = body_json(body)?;
    match op {
        "read" => api::assoc_batch_read(&st.store, from, to, &body),
        "create" => api::assoc_batch_create(&mut st.store, from, to, &body),
        _ => Err(no_route()),
    }
}

fn pipelines(st: &mut State, method: &str, s: &[String]) -> Answer {
    if method != "GET" {
        return Err(not_allowed());
    }
    match (s.first(), s.get(1), s.len()) {
        (Some(o), None, 1) => api::pipelines(&st.store, o, None),
        (Some(o), Some(p), 2) => api::pipelines(&st.store, o, Some(p)),
        _ => Err(no_route()),
    }
}

fn properties(st: &mut State, method: &str, s: &[String]) -> Answer {
    match (method, s.first(), s.len()) {
        ("GET", Some(o), 1) => api::properties(&st.store, o),
        ("GET", _, _) => Err(no_route()),
        _ => Err(not_allowed()),
    }
}
