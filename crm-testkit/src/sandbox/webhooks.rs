//! Posts the sandbox's change events to a receiver the way a real CRM would: signed, in
//! batches, retried until acknowledged, and optionally duplicated and out of order (deliveries
//! are at-least-once and unordered).
//!
//! Signature (SANDBOX_API.md, "Webhooks"): `X-Sandbox-Signature: sha256=<hex HMAC-SHA256 of
//! "<timestamp>.<body>">`, `X-Sandbox-Timestamp: <unix seconds>`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

/// How to deliver a batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery {
    /// Send the whole batch twice.
    pub duplicate: bool,
    /// Send events newest first.
    pub reverse: bool,
    /// Sign with a timestamp this many seconds in the past (to test the receiver's window).
    pub age_secs: u64,
}

/// Posts signed event batches to one URL.
#[derive(Debug, Clone)]
pub struct WebhookEmitter {
    url: String,
    secret: String,
    client: reqwest::Client,
    max_attempts: u32,
}

/// Signs `body` at `timestamp` with `secret` the sandbox's way; returns the header value.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl WebhookEmitter {
    /// An emitter to `url` (a loopback receiver) signing with `secret`.
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret: secret.into(),
            client: reqwest::Client::new(),
            max_attempts: 10,
        }
    }

    /// Delivers `events` as one batch (twice if asked), retrying each post until the receiver
    /// answers 2xx or attempts run out (every retry is a fresh signature, like a real CRM).
    /// Returns the status of every attempt, in order.
    pub async fn deliver(&self, mut events: Vec<Value>, how: Delivery) -> Vec<u16> {
        if how.reverse {
            events.reverse();
        }
        let body = json!({ "events": events }).to_string();
        let copies = if how.duplicate { 2 } else { 1 };
        let mut statuses = Vec::new();
        for _ in 0..copies {
            for attempt in 0..self.max_attempts {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_secs();
                let ts = now.saturating_sub(how.age_secs);
                let status = self
                    .client
                    .post(&self.url)
                    .header("content-type", "application/json")
                    .header("x-sandbox-timestamp", ts.to_string())
                    .header(
                        "x-sandbox-signature",
                        sign(&self.secret, ts, body.as_bytes()),
                    )
                    .header("x-sandbox-attempt", attempt.to_string())
                    .body(body.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                statuses.push(status);
                if (200..300).contains(&status) || (400..500).contains(&status) && status != 429 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1))).await;
            }
        }
        statuses
    }
}
