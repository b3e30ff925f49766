//! Salesforce Outbound Messages (Salesforce SOAP API Developer Guide, "Outbound Messaging"): the
//! SOAP `notifications` envelope a workflow or flow posts, turned into [`CrmEvent`]s, answered
//! with the SOAP ACK.
//!
//! Outbound Messages are **not signed**. What this checks: the body size, that the XML has no
//! DOCTYPE (no entity definitions, so no XXE and no entity expansion), and that
//! `OrganizationId` is the configured org's. What the operator must add, because nothing in the
//! message can prove where it came from: accept it only over HTTPS, only from Salesforce's
//! published IP ranges, ideally requiring Salesforce's client certificate (mutual TLS) at the
//! TLS terminator; optionally, when "Send Session ID" is on, call back with the session id to
//! confirm the org. Deliveries are at-least-once (retried for 24 h until acknowledged) and
//! unordered: the dedupe key is the notification `Id`.

use std::fmt;

use chrono::Utc;
use crm_core::events::{Change, CrmEvent, RawPayload, WebhookRequest, WebhookSource, check_size};
use crm_core::model::fields::parse_datetime;
use crm_core::reexports::serde_json::{Map, Value};
use crm_core::{Error, ErrorKind, ObjectKind, RecordId, Result};
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::extras::id::to18;

/// The SOAP acknowledgement Salesforce waits for; without it the message is retried.
pub const ACK: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">"#,
    r#"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#
);

/// Verifies (organisation, size, no DTD) and parses Outbound Messages for one org.
pub struct OutboundMessages {
    org_id: String,
    connection: String,
    max_body_bytes: usize,
}

impl fmt::Debug for OutboundMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundMessages")
            .field("org_id", &self.org_id)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::decode(msg).with_operation("salesforce.outbound.parse")
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    name.rsplit(':').next().unwrap_or_default().to_owned()
}

struct Notification {
    id: String,
    sobject: String,
    fields: Map<String, Value>,
}

impl OutboundMessages {
    /// Accepts messages from the org `org_id` (15 or 18 characters); bodies up to 1 MiB.
    pub fn new(org_id: &str, connection: impl Into<String>) -> Result<Self> {
        let org_id = to18(org_id.trim())
            .ok_or_else(|| Error::config("org_id: not a 15- or 18-character Salesforce id"))?;
        Ok(Self {
            org_id,
            connection: connection.into(),
            max_body_bytes: 1024 * 1024,
        })
    }

    /// The largest body accepted (checked before parsing).
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    fn parse(&self, body: &[u8]) -> Result<(String, Vec<Notification>)> {
        let mut reader = Reader::from_reader(body);
        let mut buf = Vec::new();
        let mut path: Vec<String> = Vec::new();
        let mut org = None;
        let mut out = Vec::new();
        let mut current: Option<Notification> = None;
        let mut text = String::new();
        loop {
            let event = reader
                .read_event_into(&mut buf)
                .map_err(|e| malformed(format!("the body is not well-formed XML: {e}")))?;
            match event {
                Event::DocType(_) => {
                    // No DTD, no entities: the only safe answer to XXE and entity bombs.
                    return Err(malformed("the message declares a DOCTYPE; refused"));
                }
                Event::Start(e) => {
                    let name = local(e.name().as_ref());
                    if name == "Notification" {
                        current = Some(Notification {
                            id: String::new(),
                            sobject: String::new(),
                            fields: Map::new(),
                        });
                    }
                    if name == "sObject"
                        && let Some(n) = current.as_mut()
                    {
                        for attr in e.attributes().flatten() {
                            if local(attr.key.as_ref()) == "type" {
                                n.sobject = local(&attr.value);
                            }
                        }
                    }
                    path.push(name);
                    text.clear();
                }
                Event::Empty(e) => {
                    // `<sf:Phone xsi:nil="true"/>`: a field sent as null.
                    let name = local(e.name().as_ref());
                    if path.last().is_some_and(|p| p == "sObject")
                        && let Some(n) = current.as_mut()
                    {
                        n.fields.insert(name, Value::Null);
                    }
                }
                Event::Text(t) => {
                    let s = t
                        .decode()
                        .map_err(|e| malformed(format!("bad text in the message: {e}")))?;
                    text.push_str(&s);
                }
                Event::GeneralRef(r) => {
                    // Only XML's five predefined entities and character references exist
                    // here: there is no DTD to define others.
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        Ok(None) => match r.decode().as_deref() {
                            Ok("amp") => Some('&'),
                            Ok("lt") => Some('<'),
                            Ok("gt") => Some('>'),
                            Ok("quot") => Some('"'),
                            Ok("apos") => Some('\''),
                            _ => None,
                        },
                        Err(_) => None,
                    };
                    let c = resolved.ok_or_else(|| {
                        malformed("an undefined entity reference in the message; refused")
                    })?;
                    text.push(c);
                }
                Event::End(_) => {
                    let trimmed = text.trim().to_owned();
                    text = trimmed;
                    let name = path.pop().unwrap_or_default();
                    let parent = path.last().map(String::as_str);
                    match (parent, name.as_str()) {
                        (Some("notifications"), "OrganizationId") => org = Some(text.clone()),
                        (Some("Notification"), "Id") => {
                            if let Some(n) = current.as_mut() {
                                n.id = text.clone();
                            }
                        }
                        (Some("sObject"), field) => {
                            if let Some(n) = current.as_mut() {
                                n.fields
                                    .insert(field.to_owned(), Value::String(text.clone()));
                            }
                        }
                        (_, "Notification") => {
                            if let Some(n) = current.take() {
                                out.push(n);
                            }
                        }
                        _ => {}
                    }
                    text.clear();
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        let org = org.ok_or_else(|| malformed("no OrganizationId in the message"))?;
        Ok((org, out))
    }
}

fn kind_of(sobject: &str) -> Option<ObjectKind> {
    match sobject {
        "Contact" => Some(ObjectKind::Contact),
        "Account" => Some(ObjectKind::Account),
        "Lead" => Some(ObjectKind::Lead),
        "Opportunity" => Some(ObjectKind::Opportunity),
        "Case" => Some(ObjectKind::Ticket),
        "Task" | "Event" => Some(ObjectKind::Activity),
        _ => None,
    }
}

impl WebhookSource for OutboundMessages {
    fn verify_and_parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<CrmEvent>> {
        check_size(req.body, self.max_body_bytes)?;
        let (org, notifications) = self.parse(req.body)?;
        if to18(org.trim()).as_deref() != Some(self.org_id.as_str()) {
            return Err(Error::new(
                ErrorKind::Signature,
                "the message's OrganizationId is not the configured org",
            )
            .with_operation("salesforce.outbound.verify"));
        }
        if notifications.len() > 100 {
            return Err(malformed("more than 100 notifications in one message"));
        }
        notifications
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let id_text =
                    n.fields.get("Id").and_then(Value::as_str).ok_or_else(|| {
                        malformed(format!("notification {i}: the sObject has no Id"))
                    })?;
                // The message is unsigned, so its Id is checked like a caller's: only a
                // Salesforce id (15 or 18 characters, checksum matching) names a record; `..`
                // or anything else would let a forged message steer a later read or write.
                let record_id = to18(id_text.trim())
                    .and_then(|id| RecordId::new(id).ok())
                    .ok_or_else(|| {
                        malformed(format!(
                            "notification {i}: the sObject Id is not a Salesforce record id"
                        ))
                    })?;
                if n.id.is_empty() {
                    return Err(malformed(format!("notification {i}: no notification Id")));
                }
                // Only the latest values are sent, not what changed: every field sent counts.
                let fields: Vec<String> = n.fields.keys().filter(|k| *k != "Id").cloned().collect();
                // Without LastModifiedDate or SystemModstamp in the message, the receipt time
                // stands in (configure the outbound message to send one of them).
                let occurred_at = ["SystemModstamp", "LastModifiedDate"]
                    .iter()
                    .find_map(|f| {
                        n.fields
                            .get(*f)
                            .and_then(Value::as_str)
                            .and_then(parse_datetime)
                    })
                    .unwrap_or_else(Utc::now);
                Ok(CrmEvent {
                    connection: self.connection.clone(),
                    vendor: crate::VENDOR.to_owned(),
                    kind: kind_of(&n.sobject),
                    object: n.sobject.clone(),
                    record_id,
                    change: Change::Updated { fields },
                    occurred_at,
                    dedupe_key: format!("{}:{}", self.org_id, n.id),
                    raw: RawPayload::new(Value::Object(n.fields)),
                })
            })
            .collect()
    }

    fn acknowledgement(&self) -> Option<(&'static str, Vec<u8>)> {
        Some(("text/xml; charset=utf-8", ACK.as_bytes().to_vec()))
    }
}
