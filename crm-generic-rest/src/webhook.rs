//! Verifies and parses the signed change events a spec-described CRM posts.
//!
//! The signature is HMAC-SHA256 with the shared secret over the spec's `signed_payload`
//! template, computed on the raw body bytes (re-serialised JSON would not verify), compared in
//! constant time, with the timestamp checked against a tolerance in both directions. Nothing is
//! parsed before the size check and the signature pass.

use std::fmt;
use std::time::SystemTime;

use crm_core::events::signature::{self, Encoding};
use crm_core::events::{Change, CrmEvent, RawPayload, WebhookRequest, WebhookSource, check_size};
use crm_core::model::fields::parse_datetime;
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_core::reexports::serde_json::Value;
use crm_core::{Error, ErrorKind, ObjectKind, RecordId, Result};

use crate::config::{Spec, WebhookSpec};

/// The generic REST CRM's webhook source.
pub struct GenericWebhook {
    spec: WebhookSpec,
    secret: SecretString,
    connection: String,
    now: fn() -> SystemTime,
}

impl fmt::Debug for GenericWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericWebhook")
            .field("connection", &self.connection)
            .field("signature_header", &self.spec.signature_header)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn signature_error(msg: &str) -> Error {
    Error::new(ErrorKind::Signature, msg.to_owned()).with_operation("webhook.verify")
}

fn decode_error(msg: String) -> Error {
    Error::decode(msg).with_operation("webhook.parse")
}

impl GenericWebhook {
    /// A verifier for the spec's `[webhook]` section with the shared `secret`.
    pub fn new(spec: &Spec, secret: SecretString, connection: impl Into<String>) -> Result<Self> {
        let webhook = spec.webhook.clone().ok_or_else(|| {
            Error::config(format!("the spec `{}` has no [webhook] section", spec.name))
        })?;
        if secret.expose_secret().is_empty() {
            return Err(Error::config("webhook secret: is empty"));
        }
        Ok(Self {
            spec: webhook,
            secret,
            connection: connection.into(),
            now: SystemTime::now,
        })
    }

    /// Uses another clock (tests of the timestamp window).
    pub fn with_clock(mut self, now: fn() -> SystemTime) -> Self {
        self.now = now;
        self
    }

    /// The signature a request must carry (without prefix), for senders and tests.
    pub fn sign(
        &self,
        method: &str,
        uri: &str,
        timestamp: Option<u64>,
        body: &[u8],
    ) -> Result<String> {
        Ok(self
            .encoding()
            .encode(&self.mac(method, uri, timestamp, body)?))
    }

    /// The spec's `encoding` (checked to be `hex` or `base64` when the spec loaded).
    fn encoding(&self) -> Encoding {
        match self.spec.encoding.as_str() {
            "base64" => Encoding::Base64,
            _ => Encoding::Hex,
        }
    }

    fn mac(&self, method: &str, uri: &str, timestamp: Option<u64>, body: &[u8]) -> Result<Vec<u8>> {
        let ts = timestamp.map(|t| t.to_string()).unwrap_or_default();
        let template = self.spec.signed_payload.as_str();
        let (before, after) = template.split_once("{body}").unwrap_or((template, ""));
        let fill = |part: &str| {
            part.replace("{method}", method)
                .replace("{uri}", uri)
                .replace("{timestamp}", &ts)
        };
        let (before, after) = (fill(before), fill(after));
        let parts = [before.as_bytes(), body, after.as_bytes()];
        signature::hmac_sha256(self.secret.expose_secret().as_bytes(), &parts)
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<()> {
        let given = req
            .header(&self.spec.signature_header)
            .ok_or_else(|| signature_error("the signature header is missing"))?;
        let given = given
            .trim()
            .strip_prefix(self.spec.signature_prefix.as_str())
            .ok_or_else(|| signature_error("the signature header has the wrong prefix"))?;
        let timestamp = match &self.spec.timestamp_header {
            None => None,
            Some(h) => {
                let ts: u64 = req
                    .header(h)
                    .ok_or_else(|| signature_error("the timestamp header is missing"))?
                    .trim()
                    .parse()
                    .map_err(|_| signature_error("the timestamp header is not a number"))?;
                let now = signature::since_epoch(self.now).as_secs();
                let tolerance = self.spec.tolerance_secs;
                if !signature::within(ts.into(), now.into(), tolerance.into()) {
                    return Err(signature_error(
                        "the timestamp is outside the accepted window (stale or from the future)",
                    ));
                }
                Some(ts)
            }
        };
        let expected = self.mac(req.method, req.uri, timestamp, req.body)?;
        signature::verify(given, &expected, self.encoding())
            .map_err(|e| e.with_operation("webhook.verify"))
    }

    fn event(&self, value: &Value, index: usize) -> Result<CrmEvent> {
        let at = |ptr: &str| value.pointer(ptr);
        let text = |ptr: &str, what: &str| -> Result<String> {
            match at(ptr) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(decode_error(format!(
                    "event {index}: `{ptr}` ({what}) is missing or not text"
                ))),
            }
        };
        let object = text(&self.spec.object_pointer, "object")?;
        let id = RecordId::new(text(&self.spec.id_pointer, "record id")?)
            .map_err(|e| decode_error(format!("event {index}: {}", e.message())))?;
        let change_name = text(&self.spec.change_pointer, "change")?;
        let change = match self.spec.changes.get(&change_name).map(String::as_str) {
            Some("created") => Change::Created,
            Some("deleted") => Change::Deleted,
            Some("restored") => Change::Restored,
            Some("updated") => Change::Updated {
                fields: self
                    .spec
                    .fields_pointer
                    .as_deref()
                    .and_then(|p| value.pointer(p))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            _ => {
                return Err(decode_error(format!(
                    "event {index}: change `{change_name}` is not one the spec maps"
                )));
            }
        };
        let occurred_at = match at(&self.spec.occurred_at_pointer) {
            Some(Value::String(s)) => parse_datetime(s),
            Some(Value::Number(n)) => n.as_i64().and_then(chrono::DateTime::from_timestamp_millis),
            _ => None,
        }
        .ok_or_else(|| {
            decode_error(format!(
                "event {index}: occurred_at is missing or not a time"
            ))
        })?;
        let event_id = text(&self.spec.event_id_pointer, "event id")?;
        Ok(CrmEvent {
            connection: self.connection.clone(),
            vendor: crate::VENDOR.to_owned(),
            kind: object.parse::<ObjectKind>().ok(),
            dedupe_key: format!("{}:{event_id}", self.connection),
            object,
            record_id: id,
            change,
            occurred_at,
            raw: RawPayload::new(value.clone()),
        })
    }
}

impl WebhookSource for GenericWebhook {
    fn verify_and_parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<CrmEvent>> {
        check_size(req.body, self.spec.max_body_bytes)?;
        self.verify(req)?;
        let body: Value = crm_core::reexports::serde_json::from_slice(req.body)
            .map_err(|e| decode_error(format!("the body is not JSON: {e}")))?;
        let list = if self.spec.events_pointer.is_empty() {
            Some(&body)
        } else {
            body.pointer(&self.spec.events_pointer)
        }
        .and_then(Value::as_array)
        .ok_or_else(|| {
            decode_error(format!(
                "no array of events at `{}`",
                self.spec.events_pointer
            ))
        })?;
        // All or nothing: one bad event rejects the delivery (400), so none is half-processed.
        list.iter()
            .enumerate()
            .map(|(i, e)| self.event(e, i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    use crm_core::events::http_status;
    use crm_core::reexports::http::{HeaderMap, HeaderValue};

    const NOW: u64 = 1_800_000_000;

    fn source() -> GenericWebhook {
        let spec = Spec::default_spec().unwrap();
        GenericWebhook::new(&spec, SecretString::from("whsec-test"), "acme")
            .unwrap()
            .with_clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
    }

    fn request<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            uri: "https://bot.example/hooks/crm",
            headers,
            body,
        }
    }

    fn signed(src: &GenericWebhook, ts: u64, body: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        let sig = src.sign("POST", "", Some(ts), body).unwrap();
        h.insert(
            "x-sandbox-signature",
            HeaderValue::from_str(&format!("sha256={sig}")).unwrap(),
        );
        h.insert(
            "x-sandbox-timestamp",
            HeaderValue::from_str(&ts.to_string()).unwrap(),
        );
        h
    }

    const BODY: &[u8] = br#"{"events":[{"event_id":"ev-1","type":"updated","object":"ticket","id":"t-5001","occurred_at":"2027-01-15T08:00:00.000Z","changed_fields":["status"]}]}"#;

    #[test]
    fn a_signed_delivery_verifies_and_parses() {
        let src = source();
        let headers = signed(&src, NOW - 10, BODY);
        let events = src.verify_and_parse(&request(&headers, BODY)).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.kind, Some(ObjectKind::Ticket));
        assert_eq!(e.record_id.as_str(), "t-5001");
        assert_eq!(
            e.change,
            Change::Updated {
                fields: vec!["status".into()]
            }
        );
        assert_eq!(e.dedupe_key, "acme:ev-1");
    }

    #[test]
    fn bad_deliveries_are_rejected_with_the_right_status() {
        let src = source();
        let good = signed(&src, NOW, BODY);
        // A wrong signature, re-serialised JSON, stale and future timestamps, a missing header.
        let mut wrong = good.clone();
        wrong.insert(
            "x-sandbox-signature",
            HeaderValue::from_static("sha256=00ff"),
        );
        let reserialised = crm_core::reexports::serde_json::to_vec(
            &crm_core::reexports::serde_json::from_slice::<Value>(BODY).unwrap(),
        )
        .unwrap();
        let stale = signed(&src, NOW - 301, BODY);
        let future = signed(&src, NOW + 301, BODY);
        let mut missing = good.clone();
        missing.remove("x-sandbox-timestamp");
        for (headers, body) in [
            (&wrong, BODY),
            (&good, reserialised.as_slice()),
            (&stale, BODY),
            (&future, BODY),
            (&missing, BODY),
        ] {
            let err = src.verify_and_parse(&request(headers, body)).unwrap_err();
            assert_eq!(http_status(&err), 401, "{err}");
        }
        // Oversize: refused before anything else.
        let big = vec![b' '; 2 * 1024 * 1024];
        let err = src.verify_and_parse(&request(&good, &big)).unwrap_err();
        assert_eq!(http_status(&err), 413);
        // Signed but malformed: 400, and no event comes out of a half-good batch.
        let half = br#"{"events":[{"event_id":"ev-2","type":"created","object":"contact","id":"c-1","occurred_at":"2027-01-15T08:00:00Z"},{"event_id":"ev-3","type":"exploded","object":"contact","id":"c-1","occurred_at":"2027-01-15T08:00:00Z"}]}"#;
        let headers = signed(&src, NOW, half);
        let err = src.verify_and_parse(&request(&headers, half)).unwrap_err();
        assert_eq!(http_status(&err), 400);
        assert!(err.message().contains("event 1"), "{err}");
        assert!(!format!("{src:?}").contains("whsec-test"));
    }
}
