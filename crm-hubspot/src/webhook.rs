//! HubSpot webhooks (its "Validating requests" docs): signatures v1, v2 and v3 verified on
//! the raw bytes, then the JSON array of events (up to 100) parsed into [`CrmEvent`]s.
//!
//! - v3 (`X-HubSpot-Signature-v3`, `X-HubSpot-Request-Timestamp` in epoch ms):
//!   `base64(HMAC-SHA256(client_secret, METHOD + URI + body + timestamp))`, the timestamp within
//!   5 minutes, the URI with `%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B` decoded.
//! - v2 (`X-HubSpot-Signature`, version `v2`): `hex(SHA-256(client_secret + METHOD + URI +
//!   body))`; v1 (version `v1`): `hex(SHA-256(client_secret + body))`. Neither carries a
//!   timestamp, so a captured request can be replayed: [`HubSpotWebhook::v3_only`] refuses them.
//!
//! Comparisons are constant-time on the decoded bytes; the signature header is never
//! URL-decoded (`+` and `/` in base64 stay as sent).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use crm_core::events::{
    Change, CrmEvent, RawPayload, WebhookRequest, WebhookSource, check_size, constant_time_eq,
};
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_core::reexports::serde_json::Value;
use crm_core::{Error, ErrorKind, ObjectKind, RecordId, RecordRef, Result};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Largest clock difference accepted for v3 signatures.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// Verifies and parses HubSpot webhook deliveries for one app.
pub struct HubSpotWebhook {
    client_secret: SecretString,
    connection: String,
    max_body_bytes: usize,
    v3_only: bool,
    now: fn() -> SystemTime,
}

impl fmt::Debug for HubSpotWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpotWebhook")
            .field("connection", &self.connection)
            .field("client_secret", &"<redacted>")
            .field("v3_only", &self.v3_only)
            .finish_non_exhaustive()
    }
}

fn bad_signature(msg: &str) -> Error {
    Error::new(ErrorKind::Signature, msg.to_owned()).with_operation("hubspot.webhook.verify")
}

fn malformed(msg: String) -> Error {
    Error::decode(msg).with_operation("hubspot.webhook.parse")
}

/// Decodes the percent-escapes HubSpot's v3 signature is computed without.
pub fn decode_uri_for_v3(uri: &str) -> String {
    const CODES: [(&str, &str); 12] = [
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = uri.to_owned();
    for (code, ch) in CODES {
        out = out
            .replace(code, ch)
            .replace(&code.to_ascii_lowercase(), ch);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl HubSpotWebhook {
    /// A verifier with the app's client secret; bodies up to 1 MiB.
    pub fn new(client_secret: SecretString, connection: impl Into<String>) -> Result<Self> {
        if client_secret.expose_secret().is_empty() {
            return Err(Error::config("client_secret: is empty"));
        }
        Ok(Self {
            client_secret,
            connection: connection.into(),
            max_body_bytes: 1024 * 1024,
            v3_only: false,
            now: SystemTime::now,
        })
    }

    /// Accepts only v3 signatures (timestamped, so not replayable).
    pub fn v3_only(mut self) -> Self {
        self.v3_only = true;
        self
    }

    /// The largest body accepted (checked before anything is parsed).
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Uses another clock (tests of the 5-minute window).
    pub fn with_clock(mut self, now: fn() -> SystemTime) -> Self {
        self.now = now;
        self
    }

    /// The v1 signature of `body` (hex).
    pub fn sign_v1(&self, body: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(self.client_secret.expose_secret().as_bytes());
        h.update(body);
        hex(&h.finalize())
    }

    /// The v2 signature (hex) of a request.
    pub fn sign_v2(&self, method: &str, uri: &str, body: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(self.client_secret.expose_secret().as_bytes());
        h.update(method.as_bytes());
        h.update(uri.as_bytes());
        h.update(body);
        hex(&h.finalize())
    }

    /// The v3 signature (base64) of a request at `timestamp` (epoch ms, as sent).
    pub fn sign_v3(&self, method: &str, uri: &str, body: &[u8], timestamp: &str) -> Result<String> {
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(self.client_secret.expose_secret().as_bytes())
                .map_err(|_| Error::config("client_secret: unusable as an HMAC key"))?;
        mac.update(method.as_bytes());
        mac.update(decode_uri_for_v3(uri).as_bytes());
        mac.update(body);
        mac.update(timestamp.as_bytes());
        Ok(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<()> {
        if let Some(given) = req.header("x-hubspot-signature-v3") {
            let ts = req
                .header("x-hubspot-request-timestamp")
                .ok_or_else(|| bad_signature("X-HubSpot-Request-Timestamp is missing"))?
                .trim();
            let ms: u64 = ts
                .parse()
                .map_err(|_| bad_signature("X-HubSpot-Request-Timestamp is not a number"))?;
            let now_ms = (self.now)()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis();
            if now_ms.abs_diff(u128::from(ms)) > MAX_AGE.as_millis() {
                return Err(bad_signature(
                    "the v3 timestamp is more than 5 minutes away from now (stale or replayed)",
                ));
            }
            let expected = self.sign_v3(req.method, req.uri, req.body, ts)?;
            let expected = base64::engine::general_purpose::STANDARD
                .decode(expected)
                .map_err(|_| bad_signature("internal: cannot decode the expected signature"))?;
            let given = base64::engine::general_purpose::STANDARD
                .decode(given.trim())
                .map_err(|_| bad_signature("X-HubSpot-Signature-v3 is not base64"))?;
            return if constant_time_eq(&given, &expected) {
                Ok(())
            } else {
                Err(bad_signature("the v3 signature does not match"))
            };
        }
        let given = req
            .header("x-hubspot-signature")
            .ok_or_else(|| bad_signature("no HubSpot signature header"))?
            .trim()
            .to_ascii_lowercase();
        if self.v3_only {
            return Err(bad_signature(
                "only v3 signatures are accepted (v1 and v2 can be replayed)",
            ));
        }
        let expected = match req.header("x-hubspot-signature-version").map(str::trim) {
            Some("v2") => self.sign_v2(req.method, req.uri, req.body),
            Some("v1") | None => self.sign_v1(req.body),
            Some(_) => return Err(bad_signature("unknown X-HubSpot-Signature-Version")),
        };
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(bad_signature("the signature does not match"))
        }
    }

    fn event(&self, v: &Value, i: usize) -> Result<CrmEvent> {
        let num = |key: &str| -> Option<String> {
            match v.get(key) {
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            }
        };
        let kind_text = v
            .get("subscriptionType")
            .or_else(|| v.get("eventType"))
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(format!("event {i}: no subscriptionType or eventType")))?;
        let (object, action) = kind_text
            .split_once('.')
            .ok_or_else(|| malformed(format!("event {i}: `{kind_text}` is not object.action")))?;
        let object_name = match object {
            "object" => num("objectTypeId").unwrap_or_else(|| "object".to_owned()),
            other => other.to_owned(),
        };
        let kind = kind_of(&object_name);
        let object_id =
            num("objectId").ok_or_else(|| malformed(format!("event {i}: no objectId")))?;
        // Engagement ids carry their object in this adapter (`note:6001`), as they do in reads.
        let engagement = match object_name.as_str() {
            "note" | "0-46" => Some("note"),
            "task" | "0-27" => Some("task"),
            "call" | "0-48" => Some("call"),
            _ => None,
        };
        let id_text = match engagement {
            Some(e) => format!("{e}:{object_id}"),
            None => object_id.clone(),
        };
        let record_id =
            RecordId::new(id_text).map_err(|e| malformed(format!("event {i}: {}", e.message())))?;
        let occurred_ms = v.get("occurredAt").and_then(Value::as_i64).ok_or_else(|| {
            malformed(format!("event {i}: occurredAt is missing or not a number"))
        })?;
        let occurred_at = chrono::DateTime::from_timestamp_millis(occurred_ms)
            .ok_or_else(|| malformed(format!("event {i}: occurredAt is out of range")))?;
        let change = match action {
            "creation" => Change::Created,
            "deletion" | "privacyDeletion" => Change::Deleted,
            "restore" => Change::Restored,
            "propertyChange" => Change::Updated {
                fields: v
                    .get("propertyName")
                    .and_then(Value::as_str)
                    .map(|p| vec![p.to_owned()])
                    .unwrap_or_default(),
            },
            "merge" => Change::Merged {
                merged_ids: v
                    .get("mergedObjectIds")
                    .and_then(Value::as_array)
                    .map(|ids| {
                        ids.iter()
                            .filter_map(|id| match id {
                                Value::Number(n) => RecordId::new(n.to_string()).ok(),
                                Value::String(s) => RecordId::new(s.clone()).ok(),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            "associationChange" => {
                let to_kind = v
                    .get("associationType")
                    .and_then(Value::as_str)
                    .and_then(|t| t.split_once("_TO_"))
                    .and_then(|(_, to)| kind_of(&to.to_ascii_lowercase()));
                let to = match (to_kind, num("toObjectId")) {
                    (Some(k), Some(id)) => RecordId::new(id).ok().map(|id| RecordRef::new(k, id)),
                    _ => None,
                };
                Change::AssociationChanged {
                    to,
                    removed: v
                        .get("associationRemoved")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                }
            }
            other => {
                return Err(malformed(format!(
                    "event {i}: unknown action `{other}` in `{kind_text}`"
                )));
            }
        };
        // eventId "is not guaranteed to be unique" (HubSpot's webhooks docs): the key adds what
        // identifies the change itself.
        let dedupe_key = format!(
            "{}:{}:{}:{}:{}:{}:{}",
            self.connection,
            num("portalId").unwrap_or_default(),
            num("subscriptionId").unwrap_or_default(),
            object_id,
            occurred_ms,
            v.get("propertyName").and_then(Value::as_str).unwrap_or(""),
            num("eventId").unwrap_or_default(),
        );
        Ok(CrmEvent {
            connection: self.connection.clone(),
            vendor: crate::VENDOR.to_owned(),
            kind,
            object: object_name,
            record_id,
            change,
            occurred_at,
            dedupe_key,
            raw: RawPayload::new(v.clone()),
        })
    }
}

/// The modelled kind of a HubSpot object name or object type id.
fn kind_of(name: &str) -> Option<ObjectKind> {
    match name {
        "contact" | "contacts" | "0-1" => Some(ObjectKind::Contact),
        "company" | "companies" | "0-2" => Some(ObjectKind::Account),
        "deal" | "deals" | "0-3" => Some(ObjectKind::Opportunity),
        "ticket" | "tickets" | "0-5" => Some(ObjectKind::Ticket),
        "note" | "task" | "call" | "0-27" | "0-46" | "0-48" => Some(ObjectKind::Activity),
        _ => None,
    }
}

impl WebhookSource for HubSpotWebhook {
    fn verify_and_parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<CrmEvent>> {
        check_size(req.body, self.max_body_bytes)?;
        self.verify(req)?;
        let body: Value = crm_core::reexports::serde_json::from_slice(req.body)
            .map_err(|e| malformed(format!("the body is not JSON: {e}")))?;
        let events = body
            .as_array()
            .ok_or_else(|| malformed("the body is not a JSON array of events".to_owned()))?;
        events
            .iter()
            .enumerate()
            .map(|(i, e)| self.event(e, i))
            .collect()
    }
}
