//! Record identity: ids, object kinds and references between records.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A vendor's record id, opaque to the SDK (HubSpot `"512"`, Salesforce 18-character ids,
/// whatever a company's own CRM uses). Never empty, never longer than 255 bytes, no control
/// characters: adapters percent-encode it into paths, so `/` and `?` are harmless. Never `.` or
/// `..`, in any percent-encoding (`%2e%2e`): URL parsers drop such a path segment and the one
/// before it, so `…/objects/contacts/..` would address the collection, not a record.
/// Adapters check their vendor's own id syntax on top (HubSpot: digits; Salesforce: 15 or 18
/// characters with a case checksum).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordId(String);

impl RecordId {
    /// Checks and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        if id.is_empty() {
            return Err(Error::invalid_input("record id is empty"));
        }
        if id.len() > 255 {
            return Err(Error::invalid_input("record id is longer than 255 bytes"));
        }
        if id.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "record id contains a control character",
            ));
        }
        if crate::raw::http::is_dot_segment(&id) {
            return Err(Error::invalid_input(
                "record id is `.` or `..` (possibly percent-encoded), which a URL reads as a step \
                 up the path, not as an id",
            ));
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RecordId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

impl TryFrom<&str> for RecordId {
    type Error = Error;
    fn try_from(value: &str) -> Result<Self> {
        Self::new(value)
    }
}

impl FromStr for RecordId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl From<RecordId> for String {
    fn from(value: RecordId) -> Self {
        value.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.0)
    }
}

/// The kinds of record the SDK models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A person the company talks to.
    Contact,
    /// A company or household.
    Account,
    /// A prospect not yet qualified.
    Lead,
    /// A potential sale (a deal).
    Opportunity,
    /// A support case.
    Ticket,
    /// A note, task, call or conversation log.
    Activity,
}

impl ObjectKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::Contact,
        ObjectKind::Account,
        ObjectKind::Lead,
        ObjectKind::Opportunity,
        ObjectKind::Ticket,
        ObjectKind::Activity,
    ];

    /// The lower-case singular name (`contact`), used in spec files, mapping files and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Contact => "contact",
            ObjectKind::Account => "account",
            ObjectKind::Lead => "lead",
            ObjectKind::Opportunity => "opportunity",
            ObjectKind::Ticket => "ticket",
            ObjectKind::Activity => "activity",
        }
    }

    /// The common field names of this kind's core (typed) fields, as the entity's
    /// `to_fields` writes them (status fields also have `_state` companions).
    pub fn core_fields(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Contact => &[
                "external_id",
                "email",
                "phone",
                "first_name",
                "last_name",
                "title",
                "account_id",
            ],
            ObjectKind::Account => &["external_id", "name", "domain", "phone", "industry"],
            ObjectKind::Lead => &[
                "external_id",
                "email",
                "phone",
                "first_name",
                "last_name",
                "company",
                "source",
                "status",
                "description",
                "contact_id",
            ],
            ObjectKind::Opportunity => &[
                "external_id",
                "name",
                "amount",
                "currency",
                "close_date",
                "stage",
                "account_id",
                "contact_id",
            ],
            ObjectKind::Ticket => &[
                "external_id",
                "subject",
                "description",
                "status",
                "priority",
                "contact_id",
                "account_id",
            ],
            ObjectKind::Activity => &[
                "kind",
                "subject",
                "body",
                "timestamp",
                "due_at",
                "task_status",
                "contact_id",
                "lead_id",
                "ticket_id",
                "opportunity_id",
                "account_id",
            ],
        }
    }

    /// The common field that links a record to a record of this kind (`contact_id`).
    pub fn link_field(self) -> &'static str {
        match self {
            ObjectKind::Contact => "contact_id",
            ObjectKind::Account => "account_id",
            ObjectKind::Lead => "lead_id",
            ObjectKind::Opportunity => "opportunity_id",
            ObjectKind::Ticket => "ticket_id",
            ObjectKind::Activity => "activity_id",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ObjectKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ObjectKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::config(format!("unknown object kind `{s}`")))
    }
}

/// A typed pointer to a record: its kind and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    /// What kind of record.
    pub kind: ObjectKind,
    /// Its id.
    pub id: RecordId,
}

impl RecordRef {
    /// A reference to the record `id` of `kind`.
    pub fn new(kind: ObjectKind, id: RecordId) -> Self {
        Self { kind, id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(RecordId::new("").is_err());
        assert!(RecordId::new("a\r\nb").is_err());
        assert!(RecordId::new("x".repeat(256)).is_err());
        assert_eq!(RecordId::new("a/b?c").unwrap().as_str(), "a/b?c");
        let parsed: std::result::Result<RecordId, _> = serde_json::from_str("\"\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn dot_segment_ids_are_invalid_input_however_they_enter() {
        for dot in [".", "..", "%2e%2e", "%2E", ".%2e", "%252e%252e"] {
            let err = RecordId::new(dot).unwrap_err();
            assert_eq!(err.kind(), &crate::ErrorKind::InvalidInput, "{dot}");
            assert!(dot.parse::<RecordId>().is_err());
            let json = serde_json::to_string(dot).unwrap();
            assert!(serde_json::from_str::<RecordId>(&json).is_err());
        }
        assert!(RecordId::new("...").is_ok());
        assert!(
            RecordId::new("1001/../1002").is_ok(),
            "encoded as one segment"
        );
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for k in ObjectKind::ALL {
            assert_eq!(k.as_str().parse::<ObjectKind>().unwrap(), k);
        }
        assert!("case".parse::<ObjectKind>().is_err());
    }
}
