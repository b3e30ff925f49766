//! Change events from CRMs, as one vendor-neutral type, and what a receiver needs around them.
//!
//! Every source (HubSpot webhooks, Salesforce Outbound Messages, a generic REST CRM's signed
//! webhooks) implements [`WebhookSource::verify_and_parse`]: framework-neutral, on the raw bytes
//! of the request, returning verified [`CrmEvent`]s or an error whose [`http_status`] is what to
//! answer (401 bad signature, 400 malformed, 413 too large). Deliveries are at-least-once and
//! unordered, so a receiver drops repeats with a [`Deduper`] and stale events with a
//! [`LastSeen`], and invalidates its [`ViewCache`].

mod cache;
mod dedupe;
pub mod signature;

use std::fmt;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::Serialize;

pub use cache::ViewCache;
pub use dedupe::{Deduper, LastSeen};

use crate::error::{Error, ErrorKind, Result};
use crate::model::{ObjectKind, RecordId, RecordRef};

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// The record was created.
    Created,
    /// Fields changed; their vendor names, where the source says.
    Updated {
        /// Names of the changed fields (never their values).
        fields: Vec<String>,
    },
    /// The record was deleted (or archived).
    Deleted,
    /// Other records were merged into this one.
    Merged {
        /// The ids that no longer exist.
        merged_ids: Vec<RecordId>,
    },
    /// A deleted record was restored.
    Restored,
    /// A link to another record was added or removed.
    AssociationChanged {
        /// The other record, where the source says.
        to: Option<RecordRef>,
        /// `true` when the link was removed.
        removed: bool,
    },
}

/// One line for a person reading a change feed: `created`, `updated: email, phone`, `merged
/// with 12, 13`, `link to ticket 7 added`. Field names and ids only, never values.
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Created => f.write_str("created"),
            Change::Updated { fields } if fields.is_empty() => f.write_str("updated"),
            Change::Updated { fields } => write!(f, "updated: {}", fields.join(", ")),
            Change::Deleted => f.write_str("deleted"),
            Change::Restored => f.write_str("restored"),
            Change::Merged { merged_ids } => {
                let ids: Vec<&str> = merged_ids.iter().map(RecordId::as_str).collect();
                write!(f, "merged with {}", ids.join(", "))
            }
            Change::AssociationChanged { to, removed } => {
                let what = if *removed { "removed" } else { "added" };
                match to {
                    Some(to) => write!(f, "link to {} {} {what}", to.kind, to.id),
                    None => write!(f, "a link {what}"),
                }
            }
        }
    }
}

/// The raw payload of an event, kept for debugging. `Debug` shows only its size; call
/// [`RawPayload::redact`] before storing events anywhere long-lived.
#[derive(Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct RawPayload(Option<serde_json::Value>);

impl RawPayload {
    /// Wraps a payload.
    pub fn new(value: serde_json::Value) -> Self {
        Self(Some(value))
    }

    /// No payload.
    pub fn none() -> Self {
        Self(None)
    }

    /// The payload, if kept.
    pub fn value(&self) -> Option<&serde_json::Value> {
        self.0.as_ref()
    }

    /// Drops the payload (it can hold personal values).
    pub fn redact(&mut self) {
        self.0 = None;
    }
}

impl fmt::Debug for RawPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => write!(f, "RawPayload(<{} bytes>)", v.to_string().len()),
            None => f.write_str("RawPayload(<redacted>)"),
        }
    }
}

/// One change in a CRM, whatever the vendor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrmEvent {
    /// The connection (tenant CRM) it came from.
    pub connection: String,
    /// The vendor.
    pub vendor: String,
    /// The kind of record, when it is one the SDK models.
    pub kind: Option<ObjectKind>,
    /// The vendor's name for the object (`contact`, `Case`, `0-5`).
    pub object: String,
    /// The record.
    pub record_id: RecordId,
    /// What changed.
    pub change: Change,
    /// When it happened, by the vendor's clock.
    pub occurred_at: DateTime<Utc>,
    /// Identifies this change across redeliveries: equal keys are the same change.
    pub dedupe_key: String,
    /// The source payload of this event.
    pub raw: RawPayload,
}

impl CrmEvent {
    /// A reference to the changed record, when its kind is modelled.
    pub fn record(&self) -> Option<RecordRef> {
        self.kind.map(|k| RecordRef::new(k, self.record_id.clone()))
    }
}

/// A webhook request as it arrived: method, the URI the sender used, headers, raw body.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The full URI the vendor called (scheme, host, path, query), as signatures cover it.
    pub uri: &'a str,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// The body, exactly as received (signatures are over these bytes).
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A source of verified change events.
pub trait WebhookSource: Send + Sync + fmt::Debug {
    /// Checks the request's authenticity (signature, timestamp, organisation) on the raw bytes,
    /// then parses it into events. Nothing is returned unless everything verified.
    fn verify_and_parse(&self, request: &WebhookRequest<'_>) -> Result<Vec<CrmEvent>>;

    /// The body to answer a verified request with (Salesforce wants a SOAP ACK; most want
    /// nothing) and its content type.
    fn acknowledgement(&self) -> Option<(&'static str, Vec<u8>)> {
        None
    }
}

/// The HTTP status a receiver answers for an error from
/// [`WebhookSource::verify_and_parse`]: 401 signature, 413 too large, 400 anything malformed,
/// 503 for failures on the receiver's side (so that the vendor retries).
pub fn http_status(err: &Error) -> u16 {
    match err.kind() {
        ErrorKind::Signature => 401,
        ErrorKind::PayloadTooLarge => 413,
        ErrorKind::Decode | ErrorKind::InvalidInput | ErrorKind::Mapping => 400,
        _ => 503,
    }
}

/// Refuses a body over `max` bytes before anything parses it.
pub fn check_size(body: &[u8], max: usize) -> Result<()> {
    if body.len() > max {
        return Err(Error::new(
            ErrorKind::PayloadTooLarge,
            format!("the webhook body is larger than the {max}-byte limit"),
        ));
    }
    Ok(())
}

/// Constant-time comparison of two byte strings (for signatures).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
