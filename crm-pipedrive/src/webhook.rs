//! Pipedrive webhooks v2 (its "Guide for Webhooks v2") → [`CrmEvent`]s.
//!
//! Pipedrive does not sign deliveries: a webhook is created with `http_auth_user` and
//! `http_auth_password`, and every delivery carries them as HTTP Basic authentication, checked
//! here in constant time. One delivery is one event: `meta` (`action` create / change / delete,
//! `entity`, `entity_id`, `id`, `timestamp`, `attempt`, `version` `2.0`), `data` (custom fields
//! inside `custom_fields`) and, on a change, `previous`. A change triggers one webhook in v2
//! (no duplicates to merge), but a delivery can still be retried, so the event's `meta.id` is
//! the dedupe key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use crm_core::events::{
    Change, CrmEvent, RawPayload, WebhookRequest, WebhookSource, check_size, constant_time_eq,
};
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_core::reexports::serde_json::{self, Value};
use crm_core::{Error, ErrorKind, RecordId, Result};

use crate::VENDOR;
use crate::wire::Entity;

/// Verifies and parses the deliveries of one webhook.
#[derive(Debug)]
pub struct PipedriveWebhook {
    /// `user:password`, as HTTP Basic authentication encodes it.
    credentials: SecretString,
    connection: String,
    max_body_bytes: usize,
}

impl PipedriveWebhook {
    /// Deliveries authenticated with `user` and `password` (the webhook's `http_auth_*`), for
    /// the connection named `connection`; bodies up to 1 MiB.
    pub fn new(connection: &str, user: &str, password: SecretString) -> Self {
        Self {
            credentials: format!("{user}:{}", password.expose_secret()).into(),
            connection: connection.to_owned(),
            max_body_bytes: 1024 * 1024,
        }
    }

    fn authenticated(&self, request: &WebhookRequest<'_>) -> bool {
        let expected = self.credentials.expose_secret().as_bytes();
        let given = request
            .header("authorization")
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, b64)| STANDARD.decode(b64.trim()).ok());
        given.is_some_and(|g| constant_time_eq(&g, expected))
    }
}

/// Names of the fields whose values differ between the body's `data` and `previous` (custom
/// fields by their hash), never the values.
fn changed(body: &Value) -> Vec<String> {
    let object = |k| body.get(k).and_then(Value::as_object);
    let (Some(d), Some(p)) = (object("data"), object("previous")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in d {
        match (k.as_str(), v, p.get(k)) {
            ("custom_fields", Value::Object(cf), old) => {
                for (h, hv) in cf {
                    if old.and_then(|o| o.get(h)) != Some(hv) {
                        out.push(h.clone());
                    }
                }
            }
            ("update_time", _, _) => {}
            (_, v, old) if old != Some(v) => out.push(k.clone()),
            _ => {}
        }
    }
    out
}

impl WebhookSource for PipedriveWebhook {
    fn verify_and_parse(&self, request: &WebhookRequest<'_>) -> Result<Vec<CrmEvent>> {
        check_size(request.body, self.max_body_bytes)?;
        if !self.authenticated(request) {
            return Err(Error::new(
                ErrorKind::Signature,
                "the webhook delivery's HTTP Basic credentials do not match the webhook's",
            ));
        }
        let v: Value = serde_json::from_slice(request.body)
            .map_err(|e| Error::decode(format!("the webhook body is not JSON: {e}")))?;
        let meta = v.get("meta").filter(|m| m.is_object()).ok_or_else(|| {
            Error::decode("the webhook body has no `meta` object (is the webhook version 2.0?)")
        })?;
        let text = |k: &str| match meta.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let (Some(action), Some(entity), Some(id)) =
            (text("action"), text("entity"), text("entity_id"))
        else {
            return Err(Error::decode(
                "the webhook's meta lacks action, entity or entity_id",
            ));
        };
        let change = match action.as_str() {
            "create" => Change::Created,
            "delete" => Change::Deleted,
            "change" => Change::Updated {
                fields: changed(&v),
            },
            _ => return Ok(Vec::new()),
        };
        let occurred_at = text("timestamp")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        let dedupe_key =
            text("id").unwrap_or_else(|| format!("{entity}:{id}:{action}:{occurred_at}"));
        Ok(vec![CrmEvent {
            connection: self.connection.clone(),
            vendor: VENDOR.to_owned(),
            kind: Entity::ALL
                .into_iter()
                .find(|e| e.noun() == entity)
                .map(Entity::kind),
            object: entity,
            record_id: RecordId::new(id)?,
            change,
            occurred_at,
            dedupe_key,
            raw: RawPayload::new(v),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::ObjectKind;
    use crm_core::reexports::http::{HeaderMap, HeaderValue};
    use crm_core::reexports::serde_json::json;

    fn deliver(hook: &PipedriveWebhook, auth: &str, body: &Value) -> Result<Vec<CrmEvent>> {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(auth).unwrap());
        let body = body.to_string();
        hook.verify_and_parse(&WebhookRequest {
            method: "POST",
            uri: "https://bot.example/hooks",
            headers: &h,
            body: body.as_bytes(),
        })
    }

    #[test]
    fn a_change_names_the_fields_that_changed_and_dedupes_by_event_id() {
        let hook = PipedriveWebhook::new("acme", "hook", SecretString::from("s3cret"));
        // base64("hook:s3cret")
        let auth = "Basic aG9vazpzM2NyZXQ=";
        let body = json!({"meta": {"action": "change", "entity": "person", "entity_id": "101",
            "id": "8a0c0f4e-0000-4000-8000-000000000001", "timestamp": "2025-01-02T03:04:05.000Z",
            "version": "2.0", "attempt": 1},
            "data": {"id": 101, "job_title": "COO", "update_time": "x", "custom_fields": {"ab": "1", "cd": null}},
            "previous": {"id": 101, "job_title": "CEO", "update_time": "y", "custom_fields": {"ab": "1", "cd": "2"}}});
        let events = deliver(&hook, auth, &body).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.kind, Some(ObjectKind::Contact));
        assert_eq!(e.record_id.as_str(), "101");
        assert_eq!(
            e.change,
            Change::Updated {
                fields: vec!["cd".into(), "job_title".into()]
            }
        );
        assert_eq!(e.dedupe_key, "8a0c0f4e-0000-4000-8000-000000000001");
        let wrong = deliver(&hook, "Basic aG9vazp3cm9uZw==", &body).unwrap_err();
        assert_eq!(wrong.kind(), &ErrorKind::Signature);
        let v1 = deliver(
            &hook,
            auth,
            &json!({"current": {}, "previous": {}, "event": "updated.person"}),
        );
        assert_eq!(v1.unwrap_err().kind(), &ErrorKind::Decode);
    }
}
