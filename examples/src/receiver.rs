//! A webhook receiver on `axum`: verifies each delivery with a [`WebhookSource`], drops repeats
//! and stale events, hands the rest on, and keeps a [`ViewCache`] fresh.
//!
//! Answers: 200 when every event of the delivery was handed on (or was a repeat); 401 / 400 /
//! 413 for a delivery that does not verify or parse; 503 when the downstream could not take the
//! events, so that the CRM delivers them again (nothing is lost, and the repeat is not dropped as
//! a duplicate because its keys are forgotten).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::post;
use crm_core::events::{
    CrmEvent, Deduper, LastSeen, ViewCache, WebhookRequest, WebhookSource, http_status,
};
use tokio::sync::mpsc;

/// What the receiver shares between requests.
pub struct Receiver {
    /// Verifies and parses deliveries.
    pub source: Arc<dyn WebhookSource>,
    /// The public URL prefix the CRM calls (scheme and host), for signatures over the URI.
    pub public_base: String,
    /// Drops repeated deliveries.
    pub deduper: Deduper,
    /// Drops events older than what was already applied to a record.
    pub last_seen: LastSeen,
    /// The 360° views to invalidate.
    pub cache: Arc<ViewCache>,
    /// Where accepted events go.
    pub downstream: mpsc::Sender<CrmEvent>,
}

/// The routes: `POST /hooks/crm`.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/hooks/crm", post(handle))
        .with_state(receiver)
}

async fn handle(
    State(r): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = accept(&r, &method, &uri, &headers, &body);
    match (status, r.source.acknowledgement()) {
        // Salesforce Outbound Messages wait for a SOAP ACK body; others for a 2xx.
        (StatusCode::OK, Some((content_type, ack))) => (
            status,
            [(axum::http::header::CONTENT_TYPE, content_type)],
            ack,
        )
            .into_response(),
        (status, _) => status.into_response(),
    }
}

fn accept(
    r: &Receiver,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> StatusCode {
    let full_uri = format!("{}{}", r.public_base, uri);
    let request = WebhookRequest {
        method: method.as_str(),
        uri: &full_uri,
        headers,
        body,
    };
    let events = match r.source.verify_and_parse(&request) {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "webhook rejected");
            return StatusCode::from_u16(http_status(&e)).unwrap_or(StatusCode::BAD_REQUEST);
        }
    };
    for event in events {
        if !r.deduper.first_time(&event.dedupe_key) {
            continue;
        }
        r.cache.invalidate(&event);
        if !r.last_seen.is_current(&event) {
            // An older change than one already applied: the view is invalidated anyway, but
            // the event is not handed on to overwrite newer state.
            continue;
        }
        let key = event.dedupe_key.clone();
        if r.downstream.try_send(event).is_err() {
            // Not handed on: forget it so the CRM's retry is not dropped as a repeat.
            r.deduper.forget(&key);
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    StatusCode::OK
}

/// Serves a receiver for `source` on 127.0.0.1 (a free port) in the background. Returns the
/// hook URL and the stream of accepted events.
pub async fn serve_local(
    source: Arc<dyn WebhookSource>,
    cache: Arc<ViewCache>,
) -> crm_core::Result<(String, mpsc::Receiver<CrmEvent>)> {
    let (tx, rx) = mpsc::channel(1000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| crm_core::Error::config(format!("cannot listen on 127.0.0.1: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| crm_core::Error::config(format!("no local address: {e}")))?;
    let receiver = Arc::new(Receiver {
        source,
        public_base: format!("http://{addr}"),
        deduper: Deduper::new(std::time::Duration::from_secs(24 * 3600), 100_000),
        last_seen: LastSeen::new(100_000),
        cache,
        downstream: tx,
    });
    tokio::spawn(async move { axum::serve(listener, router(receiver)).await });
    Ok((format!("http://{addr}/hooks/crm"), rx))
}
