//! The HTTP side of the fake: the `wiremock` responder, faults, authentication (`x-api-token`
//! header, the legacy `api_token` query parameter, or an OAuth bearer token), limits, routing,
//! and the OAuth token endpoint.

use crate::sync::lock;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::time::Instant;
use wiremock::{Request, Respond, ResponseTemplate};

use super::api::{self, Answer, Query};
use super::error::ApiError;
use super::limits::{Cost, Counters, Refused};
use super::store::{Entity, Store};
use super::{OAuthApp, RequestStats};
use crate::faults::{FaultState, Injected};
use crate::wire::{auth_token, decode_segment, delayed};

/// Pipedrive's access tokens live an hour (`expires_in: 3599`).
const ACCESS_TOKEN_LIFE: Duration = Duration::from_secs(3599);

/// The OAuth side: issued access tokens and the refresh tokens that are still valid.
#[derive(Debug)]
pub(crate) struct OAuthState {
    pub(crate) app: OAuthApp,
    access: HashMap<String, Instant>,
    refresh: HashSet<String>,
    pub(crate) issued: usize,
}

impl OAuthState {
    pub(crate) fn new(app: OAuthApp) -> Self {
        let refresh = HashSet::from([app.refresh_token.clone()]);
        Self {
            app,
            access: HashMap::new(),
            refresh,
            issued: 0,
        }
    }

    pub(crate) fn expire_all(&mut self) {
        let past = Instant::now();
        for at in self.access.values_mut() {
            *at = past;
        }
    }

    pub(crate) fn revoke_refresh_tokens(&mut self) {
        self.refresh.clear();
    }

    fn valid(&self, token: &str) -> bool {
        self.access
            .get(token)
            .is_some_and(|at| *at > Instant::now())
    }

    /// `POST /oauth/token`: the refresh-token grant, client authenticated by HTTP Basic.
    fn token(&mut self, req: &Request) -> (u16, Value) {
        let basic = auth_token(req, &["basic"])
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let expected = format!("{}:{}", self.app.client_id, self.app.client_secret);
        if basic.as_deref() != Some(expected.as_str()) {
            return (
                401,
                json!({"success": false, "message": "Invalid client credentials"}),
            );
        }
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return (
                400,
                json!({"success": false, "message": "Unsupported grant type"}),
            );
        }
        let Some(old) = form
            .get("refresh_token")
            .filter(|t| self.refresh.contains(*t))
        else {
            return (
                400,
                json!({"success": false, "message": "Invalid grant: refresh token is invalid"}),
            );
        };
        let old = old.clone();
        self.issued += 1;
        let access = format!("v1u:fake-access-{}", self.issued);
        let refresh = format!("{}:r{}", self.app.refresh_token, self.issued);
        // Refresh tokens rotate: the old one is spent.
        self.refresh.remove(&old);
        self.refresh.insert(refresh.clone());
        self.access
            .insert(access.clone(), Instant::now() + ACCESS_TOKEN_LIFE);
        (
            200,
            json!({"access_token": access, "token_type": "Bearer", "refresh_token": refresh,
            "scope": "base,deals:full,contacts:full,leads:full,activities:full,search:read",
            "expires_in": ACCESS_TOKEN_LIFE.as_secs(), "api_domain": "https://fake.pipedrive.com"}),
        )
    }
}

/// Everything a request can read or change.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) store: Store,
    pub(crate) faults: FaultState,
    pub(crate) stats: RequestStats,
    pub(crate) limits: Counters,
    pub(crate) oauth: OAuthState,
    pub(crate) api_token: String,
    /// Webhook events of UI-side changes, not yet taken.
    pub(crate) webhooks: Vec<Value>,
}

/// The single responder: routes on method and path itself.
pub(crate) struct PipedriveResponder {
    pub(crate) state: Arc<Mutex<State>>,
}

const JSON: &str = "application/json";

/// Cloudflare, in front of Pipedrive, answers a gateway failure with an HTML page.
pub(crate) const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n\
<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n\
</body>\r\n</html>\r\n";

/// A body cut off mid-way.
pub(crate) const TRUNCATED_JSON: &str = r#"{"success":true,"data":{"id":101,"name":"Jane D"#;

fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    let text = serde_json::to_string(body).unwrap_or_default();
    ResponseTemplate::new(status).set_body_raw(text, JSON)
}

fn with_headers(t: ResponseTemplate, headers: &[(&'static str, String)]) -> ResponseTemplate {
    headers
        .iter()
        .fold(t, |t, (k, v)| t.insert_header(*k, v.as_str()))
}

/// Which credential a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    ApiToken,
    OAuth,
}

fn authenticate(st: &State, req: &Request) -> Option<Auth> {
    let header = req
        .headers
        .get("x-api-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let query = req
        .url
        .query_pairs()
        .find(|(k, _)| k == "api_token")
        .map(|(_, v)| v.into_owned());
    if let Some(t) = header.or(query) {
        return (t == st.api_token).then_some(Auth::ApiToken);
    }
    let bearer = auth_token(req, &["bearer"])?;
    st.oauth.valid(&bearer).then_some(Auth::OAuth)
}

impl Respond for PipedriveResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = lock(&self.state);
        let method = req.method.as_str().to_owned();
        let path = req.url.path().to_owned();
        st.stats.count(&method, &path);
        let is_write = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
            && !path.starts_with("/oauth/");
        let fault = st.faults.decide(is_write);
        let latency = st.faults.latency();
        let template = match fault {
            None => serve(&mut st, req),
            Some(fault) => {
                st.stats.note_fault(fault);
                match fault {
                    Injected::Limited => {
                        let now = Instant::now();
                        let mut headers = st.limits.headers(true, now);
                        for h in &mut headers {
                            if h.0 == "x-ratelimit-remaining" {
                                h.1 = "0".into();
                            }
                        }
                        let wait = st.faults.retry_after_secs();
                        if wait > 0 {
                            headers.push(("retry-after", wait.to_string()));
                        }
                        with_headers(
                            json_response(429, &ApiError::rate_limited().body()),
                            &headers,
                        )
                    }
                    Injected::Html => {
                        ResponseTemplate::new(502).set_body_raw(HTML_502, "text/html")
                    }
                    Injected::Malformed => {
                        ResponseTemplate::new(200).set_body_raw(TRUNCATED_JSON, JSON)
                    }
                    Injected::Unavailable => json_response(503, &ApiError::unavailable().body()),
                    Injected::AfterCommit => {
                        let _applied = serve(&mut st, req);
                        st.faults.lost_answer(
                            ResponseTemplate::new(502).set_body_raw(HTML_502, "text/html"),
                        )
                    }
                }
            }
        };
        drop(st);
        delayed(template, latency)
    }
}

fn body_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::new(400, "Invalid JSON in the request body"))
}

/// The route of a path: the entity, the id or action segment, and the API version.
enum Route {
    Collection(Entity),
    Search(Entity),
    One(Entity, String),
    Fields(Entity),
    Unknown,
}

fn route_of(path: &str) -> Route {
    let path = path.trim_end_matches('/');
    let (v2, rest) = if let Some(r) = path.strip_prefix("/api/v2/") {
        (true, r)
    } else if let Some(r) = path.strip_prefix("/api/v1/").or(path.strip_prefix("/v1/")) {
        (false, r)
    } else {
        return Route::Unknown;
    };
    let segs: Vec<String> = rest.split('/').map(decode_segment).collect();
    let fields = |name: &str| match name {
        "personFields" => Some(Entity::Persons),
        "organizationFields" => Some(Entity::Organizations),
        "dealFields" => Some(Entity::Deals),
        _ => None,
    };
    match segs.as_slice() {
        [one] if !v2 && fields(one).is_some() => fields(one).map_or(Route::Unknown, Route::Fields),
        [name, rest @ ..] => {
            let Some(e) = Entity::from_path(name) else {
                return Route::Unknown;
            };
            // Leads search is served by v2; leads and notes records by v1 only.
            match (rest, v2, e.is_v2()) {
                ([], true, true) | ([], false, false) => Route::Collection(e),
                ([s], true, _)
                    if s == "search" && e != Entity::Activities && e != Entity::Notes =>
                {
                    Route::Search(e)
                }
                ([id], true, true) | ([id], false, false) => Route::One(e, id.clone()),
                _ => Route::Unknown,
            }
        }
        _ => Route::Unknown,
    }
}

fn serve(st: &mut State, req: &Request) -> ResponseTemplate {
    let method = req.method.as_str();
    let path = req.url.path();
    if path.trim_end_matches('/') == "/oauth/token" {
        st.stats.token += 1;
        if method != "POST" {
            return json_response(405, &ApiError::new(405, "Method not allowed").body());
        }
        let (status, body) = st.oauth.token(req);
        return json_response(status, &body);
    }
    let Some(auth) = authenticate(st, req) else {
        return json_response(401, &ApiError::unauthorized().body());
    };
    let route = route_of(path);
    let (cost, v2) = match (&route, method) {
        (Route::Search(_), _) => (Cost::Search, true),
        (Route::Collection(e), "GET") => (Cost::List, e.is_v2()),
        (Route::Fields(_), _) => (Cost::List, false),
        (Route::One(e, _), "GET") => (Cost::Get, e.is_v2()),
        (Route::Collection(e) | Route::One(e, _), _) => (Cost::Write, e.is_v2()),
        (Route::Unknown, _) => (Cost::Get, true),
    };
    let now = Instant::now();
    let api_token = auth == Auth::ApiToken;
    let is_write = cost == Cost::Write;
    if let Err(refused) = st.limits.admit(cost.tokens(v2), is_write, now) {
        st.stats.rate_limited += 1;
        let mut headers = st.limits.headers(api_token, now);
        if refused == Refused::Daily {
            // Spent until midnight UTC.
            let left = 86_400 - chrono::Utc::now().timestamp().rem_euclid(86_400);
            for h in &mut headers {
                if h.0 == "x-ratelimit-reset" {
                    h.1 = left.to_string();
                }
            }
        }
        return with_headers(
            json_response(429, &ApiError::rate_limited().body()),
            &headers,
        );
    }
    if matches!(route, Route::Search(_)) {
        st.stats.search += 1;
        st.store.refresh_index(false);
    }
    let q = Query(req.url.query_pairs().into_owned().collect());
    let answer: Answer = match (route, method) {
        (Route::Collection(e), "GET") if e.is_v2() => api::list_v2(&st.store, e, &q),
        (Route::Collection(e), "GET") => api::list_v1(&st.store, e, &q),
        (Route::Collection(e), "POST") => {
            body_json(&req.body).and_then(|b| api::create(&mut st.store, e, &b))
        }
        (Route::Search(e), "GET") => api::search(&st.store, e, &q),
        (Route::Fields(e), "GET") => api::fields(&st.store, e),
        (Route::One(e, id), "GET") => api::get(&st.store, e, &id),
        // v2 and leads update with PATCH; notes with PUT.
        (Route::One(e, id), "PATCH") if e != Entity::Notes => {
            body_json(&req.body).and_then(|b| api::update(&mut st.store, e, &id, &b))
        }
        (Route::One(Entity::Notes, id), "PUT") => {
            body_json(&req.body).and_then(|b| api::update(&mut st.store, Entity::Notes, &id, &b))
        }
        (Route::One(e, id), "DELETE") => api::delete(&mut st.store, e, &id),
        (Route::Unknown, _) => Err(ApiError::unknown_route()),
        _ => Err(ApiError::new(405, "Method not allowed")),
    };
    let template = match answer {
        Ok((status, body)) => json_response(status, &body),
        Err(e) => json_response(e.status, &e.body()),
    };
    with_headers(template, &st.limits.headers(api_token, now))
}
