//! HubSpot's webhook deliveries, as the fake's UI-side changes produce them (its webhooks docs):
//! JSON arrays of at most 100 events, signed v3 (`X-HubSpot-Signature-v3` =
//! base64 HMAC-SHA256 of METHOD + URI + body + timestamp ms), retried with `attemptNumber`
//! incremented until the receiver answers 2xx, optionally duplicated and out of order.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::Value;

use super::routes::State;

/// The fake portal's id in webhook payloads.
pub const PORTAL_ID: u64 = 62515;
/// The fake app's id in webhook payloads.
pub const APP_ID: u64 = 54321;

fn singular(object: &str) -> &str {
    match object {
        "contacts" | "0-1" => "contact",
        "companies" | "0-2" => "company",
        "deals" | "0-3" => "deal",
        "tickets" | "0-5" => "ticket",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}

pub(crate) fn log(st: &mut State, object: &str, id: u64, action: &str, extra: Value) {
    st.event_seq += 1;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut event = serde_json::json!({
        "eventId": 1000 + st.event_seq,
        "subscriptionId": 100,
        "portalId": PORTAL_ID,
        "appId": APP_ID,
        "occurredAt": now_ms + st.event_seq,
        "subscriptionType": format!("{}.{action}", singular(object)),
        "attemptNumber": 0,
        "objectId": id,
        "changeSource": "CRM_UI",
    });
    if let (Some(e), Value::Object(extra)) = (event.as_object_mut(), extra) {
        e.extend(extra);
    }
    st.webhooks.push(event);
}

/// How to deliver a batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery {
    /// Send the batch twice.
    pub duplicate: bool,
    /// Newest first.
    pub reverse: bool,
}

/// Posts event batches to a receiver, signed with the app's client secret.
#[derive(Debug, Clone)]
pub struct HubSpotEmitter {
    url: String,
    client_secret: String,
    client: reqwest::Client,
}

/// The v3 signature of a request, as HubSpot computes it.
pub fn sign_v3(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_ms: u64,
) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(client_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.to_string().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl HubSpotEmitter {
    /// An emitter to `url` signing with `client_secret`.
    pub fn new(url: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client_secret: client_secret.into(),
            client: reqwest::Client::new(),
        }
    }

    /// Delivers `events` in batches of at most 100, each retried (with `attemptNumber` raised)
    /// until a 2xx or 10 attempts. Returns every attempt's status, in order.
    pub async fn deliver(&self, mut events: Vec<Value>, how: Delivery) -> Vec<u16> {
        if how.reverse {
            events.reverse();
        }
        let mut statuses = Vec::new();
        for chunk in events.chunks(100) {
            for _copy in 0..if how.duplicate { 2 } else { 1 } {
                for attempt in 0..10u32 {
                    let batch: Vec<Value> = chunk
                        .iter()
                        .cloned()
                        .map(|mut e| {
                            if let Some(o) = e.as_object_mut() {
                                o.insert("attemptNumber".into(), attempt.into());
                            }
                            e
                        })
                        .collect();
                    let body = Value::Array(batch).to_string();
                    let ts = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0);
                    let sig = sign_v3(&self.client_secret, "POST", &self.url, body.as_bytes(), ts);
                    let status = self
                        .client
                        .post(&self.url)
                        .header("content-type", "application/json")
                        .header("x-hubspot-signature-v3", sig)
                        .header("x-hubspot-request-timestamp", ts.to_string())
                        .body(body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    statuses.push(status);
                    if (200..300).contains(&status) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1))).await;
                }
            }
        }
        statuses
    }
}
