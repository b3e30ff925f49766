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

use std::time::{Duration, SystemTime};

use crm_core::events::signature::{self, Encoding};
use crm_core::events::{Change, CrmEvent, RawPayload, WebhookRequest, WebhookSource, check_size};
use crm_core::raw::json;
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_core::reexports::serde_json::Value;
use crm_core::{Error, ErrorKind, ObjectKind, RecordId, RecordRef, Result};

use crate::extras::objects::HubObject;

/// Largest clock difference accepted for v3 signatures.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// Verifies and parses HubSpot webhook deliveries for one app. The client secret is a
/// [`SecretString`], which `Debug` prints redacted.
#[derive(Debug)]
pub struct HubSpotWebhook {
    client_secret: SecretString,
    connection: String,
    max_body_bytes: usize,
    v3_only: bool,
    now: fn() -> SystemTime,
}

fn bad_signature(msg: &str) -> Error {
    Error::new(ErrorKind::Signature, msg.to_owned()).with_operation("hubspot.webhook.verify")
}

fn malformed(msg: String) -> Error {
    Error::decode(msg).with_operation("hubspot.webhook.parse")
}

/// Decodes the percent-escapes HubSpot's v3 signature is computed without.
pub fn decode_uri_for_v3(uri: &str) -> String {
    let mut out = uri.to_owned();
    for ch in [':', '/', '?', '@', '!', '$', '\'', '(', ')', '*', ',', ';'] {
        let code = format!("%{:02X}", u32::from(ch));
        let text = ch.to_string();
        out = out
            .replace(&code, &text)
            .replace(&code.to_ascii_lowercase(), &text);
    }
    out
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
        Encoding::Hex.encode(&self.v1_v2(&[body]))
    }

    /// The v2 signature (hex) of a request.
    pub fn sign_v2(&self, method: &str, uri: &str, body: &[u8]) -> String {
        Encoding::Hex.encode(&self.v1_v2(&[method.as_bytes(), uri.as_bytes(), body]))
    }

    /// SHA-256 over the client secret, then `parts`: v1 and v2 differ only in the parts.
    fn v1_v2(&self, parts: &[&[u8]]) -> Vec<u8> {
        let secret = self.client_secret.expose_secret().as_bytes();
        signature::sha256(&[&[secret], parts].concat())
    }

    /// The v3 signature (base64) of a request at `timestamp` (epoch ms, as sent).
    pub fn sign_v3(&self, method: &str, uri: &str, body: &[u8], timestamp: &str) -> Result<String> {
        Ok(Encoding::Base64.encode(&self.v3(method, uri, body, timestamp)?))
    }

    fn v3(&self, method: &str, uri: &str, body: &[u8], timestamp: &str) -> Result<Vec<u8>> {
        let uri = decode_uri_for_v3(uri);
        let parts = [
            method.as_bytes(),
            uri.as_bytes(),
            body,
            timestamp.as_bytes(),
        ];
        signature::hmac_sha256(self.client_secret.expose_secret().as_bytes(), &parts)
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
            let now_ms = signature::since_epoch(self.now).as_millis();
            if !signature::within(u128::from(ms), now_ms, MAX_AGE.as_millis()) {
                return Err(bad_signature(
                    "the v3 timestamp is more than 5 minutes away from now (stale or replayed)",
                ));
            }
            let expected = self.v3(req.method, req.uri, req.body, ts)?;
            return signature::verify(given, &expected, Encoding::Base64)
                .map_err(|e| e.with_operation("hubspot.webhook.verify"));
        }
        let given = req
            .header("x-hubspot-signature")
            .ok_or_else(|| bad_signature("no HubSpot signature header"))?;
        if self.v3_only {
            return Err(bad_signature(
                "only v3 signatures are accepted (v1 and v2 can be replayed)",
            ));
        }
        let expected = match req.header("x-hubspot-signature-version").map(str::trim) {
            Some("v2") => self.v1_v2(&[req.method.as_bytes(), req.uri.as_bytes(), req.body]),
            Some("v1") | None => self.v1_v2(&[req.body]),
            Some(_) => return Err(bad_signature("unknown X-HubSpot-Signature-Version")),
        };
        signature::verify(given, &expected, Encoding::Hex)
            .map_err(|e| e.with_operation("hubspot.webhook.verify"))
    }

    fn event(&self, v: &Value, i: usize) -> Result<CrmEvent> {
        let num = |key: &str| json::id_text(v.get(key), key).ok();
        let text = |key: &str| v.get(key).and_then(Value::as_str);
        let bad = |what: String| malformed(format!("event {i}: {what}"));
        let kind_text = v.get("subscriptionType").or_else(|| v.get("eventType"));
        let kind_text = kind_text
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no subscriptionType or eventType".into()))?;
        let (object, action) = kind_text
            .split_once('.')
            .ok_or_else(|| bad(format!("`{kind_text}` is not object.action")))?;
        let object_name = match object {
            "object" => num("objectTypeId").unwrap_or_else(|| "object".to_owned()),
            other => other.to_owned(),
        };
        let kind = kind_of(&object_name);
        let object_id = num("objectId").ok_or_else(|| bad("no objectId".into()))?;
        // Engagement ids carry their object in this adapter (`note:6001`), as they do in reads.
        let engagement = HubObject::from_name(&object_name)
            .filter(|o| HubObject::ENGAGEMENTS.contains(o))
            .map(HubObject::singular);
        let id_text = engagement.map_or_else(|| object_id.clone(), |e| format!("{e}:{object_id}"));
        let record_id = RecordId::new(id_text).map_err(|e| bad(e.message().to_owned()))?;
        let occurred_ms = v.get("occurredAt").and_then(Value::as_i64);
        let occurred_ms =
            occurred_ms.ok_or_else(|| bad("occurredAt is missing or not a number".into()))?;
        let occurred_at = chrono::DateTime::from_timestamp_millis(occurred_ms)
            .ok_or_else(|| bad("occurredAt is out of range".into()))?;
        let property = text("propertyName");
        let change = match action {
            "creation" => Change::Created,
            "deletion" | "privacyDeletion" => Change::Deleted,
            "restore" => Change::Restored,
            "propertyChange" => Change::Updated {
                fields: property.map(|p| vec![p.to_owned()]).unwrap_or_default(),
            },
            "merge" => {
                let ids = v.get("mergedObjectIds").and_then(Value::as_array);
                let ids = ids.into_iter().flatten();
                let ids = ids.filter_map(|id| json::id_text(Some(id), "").ok());
                let merged_ids = ids.filter_map(|id| RecordId::new(id).ok()).collect();
                Change::Merged { merged_ids }
            }
            "associationChange" => {
                let to_kind = text("associationType")
                    .and_then(|t| t.split_once("_TO_"))
                    .and_then(|(_, to)| kind_of(&to.to_ascii_lowercase()));
                let to_id = num("toObjectId").and_then(|id| RecordId::new(id).ok());
                let removed = v.get("associationRemoved").and_then(Value::as_bool);
                Change::AssociationChanged {
                    to: to_kind.zip(to_id).map(|(k, id)| RecordRef::new(k, id)),
                    removed: removed.unwrap_or(false),
                }
            }
            other => return Err(bad(format!("unknown action `{other}` in `{kind_text}`"))),
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
            property.unwrap_or(""),
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
    HubObject::from_name(name).and_then(|o| o.kinds().first().copied())
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
