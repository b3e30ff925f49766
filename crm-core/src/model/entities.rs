//! The vendor-neutral records: contacts, accounts, leads, opportunities, tickets and activities.
//!
//! Every field is optional so that one type serves reads, creates and partial updates: on an
//! update, `None` leaves the CRM's value alone and a [`FieldValue::Null`] in `custom` clears a
//! custom field. Personal values are wrapped ([`Personal`], [`Email`], [`Phone`]) so that
//! `Debug` never shows them.
//!
//! Each type documents its *common field names*: the names the mapping engine and the spec and
//! mapping files use for it.

use std::fmt;
use std::ops::{Deref, DerefMut};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::fields::{FieldReader, FieldWriter};
use super::{
    Email, FieldList, FieldMap, FieldValue, LeadState, Number, ObjectKind, OpportunityState,
    Personal, Phone, RecordId, RecordRef, Region, Status, TaskState, TicketState,
};
use crate::error::Result;

/// A record type the SDK models. The record machinery and the mapping engine work on any
/// `Entity` through its common field map.
pub trait Entity:
    Clone + fmt::Debug + Default + Send + Sync + Serialize + DeserializeOwned + 'static
{
    /// Which kind of record this is.
    const KIND: ObjectKind;

    /// The fields that are set, by common name. Unset (`None`) fields are left out.
    fn to_fields(&self) -> FieldMap;

    /// Builds the entity from common fields; fields it does not know become `custom`.
    /// National phone numbers are read in `region`.
    fn from_fields(fields: FieldMap, region: Region) -> Result<Self>;

    /// [`Entity::from_fields`] from the list a read produces (the record machinery's path:
    /// no map is built for a record read once). The default goes through the map; the SDK's
    /// entities read the list directly.
    fn from_list(fields: FieldList, region: Region) -> Result<Self> {
        Self::from_fields(fields.into(), region)
    }
}

/// A record as stored in a CRM: its id and timestamps around the entity.
///
/// `Record<T>` dereferences to `T`, so `record.email` reads the contact's email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record<T> {
    /// The vendor's id.
    pub id: RecordId,
    /// When the CRM created it, where the vendor says.
    pub created_at: Option<DateTime<Utc>>,
    /// When the CRM last changed it, where the vendor says.
    pub updated_at: Option<DateTime<Utc>>,
    /// The record's fields.
    pub data: T,
}

impl<T: Entity> Record<T> {
    /// A reference to this record.
    pub fn to_ref(&self) -> RecordRef {
        RecordRef::new(T::KIND, self.id.clone())
    }
}

impl<T> Deref for Record<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T> DerefMut for Record<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

/// A person the company talks to.
///
/// Common fields: `external_id`, `email`, `phone`, `first_name`, `last_name`, `title`,
/// `account_id`; anything else is custom.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// An id from another system (the bot's user id, a shop's customer number).
    pub external_id: Option<String>,
    /// Email address.
    pub email: Option<Email>,
    /// Phone number.
    pub phone: Option<Phone>,
    /// Given name.
    pub first_name: Option<Personal<String>>,
    /// Family name.
    pub last_name: Option<Personal<String>>,
    /// Job title.
    pub title: Option<String>,
    /// The account (company) the contact belongs to.
    pub account_id: Option<RecordId>,
    /// Custom fields by common name.
    pub custom: FieldMap,
}

impl Contact {
    /// First and last name joined, as personal data.
    pub fn full_name(&self) -> Option<Personal<String>> {
        full_name(self.first_name.as_ref(), self.last_name.as_ref())
    }
}

fn full_name(
    first: Option<&Personal<String>>,
    last: Option<&Personal<String>>,
) -> Option<Personal<String>> {
    let parts: Vec<&str> = [first, last]
        .into_iter()
        .flatten()
        .map(|p| p.expose().as_str())
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| Personal::new(parts.join(" ")))
}

fn put_email(w: &mut FieldWriter, email: Option<&Email>) {
    w.text("email", email.map(Email::expose));
}

fn put_phone(w: &mut FieldWriter, phone: Option<&Phone>) {
    w.text("phone", phone.map(Phone::for_vendor));
}

impl Entity for Contact {
    const KIND: ObjectKind = ObjectKind::Contact;

    fn to_fields(&self) -> FieldMap {
        let mut w = FieldWriter::new();
        w.text("external_id", self.external_id.as_deref());
        put_email(&mut w, self.email.as_ref());
        put_phone(&mut w, self.phone.as_ref());
        w.personal("first_name", self.first_name.as_ref())
            .personal("last_name", self.last_name.as_ref())
            .text("title", self.title.as_deref())
            .id("account_id", self.account_id.as_ref())
            .custom(&self.custom);
        w.finish()
    }

    fn from_fields(fields: FieldMap, region: Region) -> Result<Self> {
        Self::from_list(fields.into(), region)
    }

    fn from_list(fields: FieldList, region: Region) -> Result<Self> {
        let mut r = FieldReader::from_list(Self::KIND, fields, region);
        Ok(Self {
            external_id: r.text("external_id")?,
            email: r.email("email")?,
            phone: r.phone("phone")?,
            first_name: r.personal("first_name")?,
            last_name: r.personal("last_name")?,
            title: r.text("title")?,
            account_id: r.id("account_id")?,
            custom: r.rest(),
        })
    }
}

/// A company (or household) the company sells to.
///
/// Common fields: `external_id`, `name`, `domain`, `phone`, `industry`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// An id from another system.
    pub external_id: Option<String>,
    /// The company name.
    pub name: Option<String>,
    /// Its web domain.
    pub domain: Option<String>,
    /// Main phone number.
    pub phone: Option<Phone>,
    /// Industry.
    pub industry: Option<String>,
    /// Custom fields by common name.
    pub custom: FieldMap,
}

impl Entity for Account {
    const KIND: ObjectKind = ObjectKind::Account;

    fn to_fields(&self) -> FieldMap {
        let mut w = FieldWriter::new();
        w.text("external_id", self.external_id.as_deref())
            .text("name", self.name.as_deref())
            .text("domain", self.domain.as_deref());
        put_phone(&mut w, self.phone.as_ref());
        w.text("industry", self.industry.as_deref())
            .custom(&self.custom);
        w.finish()
    }

    fn from_fields(fields: FieldMap, region: Region) -> Result<Self> {
        Self::from_list(fields.into(), region)
    }

    fn from_list(fields: FieldList, region: Region) -> Result<Self> {
        let mut r = FieldReader::from_list(Self::KIND, fields, region);
        Ok(Self {
            external_id: r.text("external_id")?,
            name: r.text("name")?,
            domain: r.text("domain")?,
            phone: r.phone("phone")?,
            industry: r.text("industry")?,
            custom: r.rest(),
        })
    }
}

/// A prospect who showed purchase intent and is not yet qualified.
///
/// Common fields: `external_id`, `email`, `phone`, `first_name`, `last_name`, `company`,
/// `source`, `status` (+ `status_state`, `status_label`), `description`, `contact_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// An id from another system.
    pub external_id: Option<String>,
    /// Email address.
    pub email: Option<Email>,
    /// Phone number.
    pub phone: Option<Phone>,
    /// Given name.
    pub first_name: Option<Personal<String>>,
    /// Family name.
    pub last_name: Option<Personal<String>>,
    /// The company the lead works for (free text).
    pub company: Option<String>,
    /// Where the lead came from (`chatbot`, `web`).
    pub source: Option<String>,
    /// Qualification status.
    pub status: Option<Status<LeadState>>,
    /// What the customer asked for, in their words.
    pub description: Option<Personal<String>>,
    /// The contact the lead was raised for, where the CRM links leads to contacts.
    pub contact_id: Option<RecordId>,
    /// Custom fields by common name.
    pub custom: FieldMap,
}

impl Entity for Lead {
    const KIND: ObjectKind = ObjectKind::Lead;

    fn to_fields(&self) -> FieldMap {
        let mut w = FieldWriter::new();
        w.text("external_id", self.external_id.as_deref());
        put_email(&mut w, self.email.as_ref());
        put_phone(&mut w, self.phone.as_ref());
        w.personal("first_name", self.first_name.as_ref())
            .personal("last_name", self.last_name.as_ref())
            .text("company", self.company.as_deref())
            .text("source", self.source.as_deref())
            .status("status", self.status.as_ref())
            .personal("description", self.description.as_ref())
            .id("contact_id", self.contact_id.as_ref())
            .custom(&self.custom);
        w.finish()
    }

    fn from_fields(fields: FieldMap, region: Region) -> Result<Self> {
        Self::from_list(fields.into(), region)
    }

    fn from_list(fields: FieldList, region: Region) -> Result<Self> {
        let mut r = FieldReader::from_list(Self::KIND, fields, region);
        Ok(Self {
            external_id: r.text("external_id")?,
            email: r.email("email")?,
            phone: r.phone("phone")?,
            first_name: r.personal("first_name")?,
            last_name: r.personal("last_name")?,
            company: r.text("company")?,
            source: r.text("source")?,
            status: r.status("status")?,
            description: r.personal("description")?,
            contact_id: r.id("contact_id")?,
            custom: r.rest(),
        })
    }
}

/// A potential sale (HubSpot deal, Salesforce opportunity).
///
/// Common fields: `external_id`, `name`, `amount`, `currency`, `close_date`, `stage`
/// (+ `stage_state`, `stage_label`), `account_id`, `contact_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    /// An id from another system.
    pub external_id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Expected amount.
    pub amount: Option<Number>,
    /// ISO 4217 currency of `amount`.
    pub currency: Option<String>,
    /// Expected close date.
    pub close_date: Option<NaiveDate>,
    /// Sales stage.
    pub stage: Option<Status<OpportunityState>>,
    /// The account it belongs to.
    pub account_id: Option<RecordId>,
    /// The main contact.
    pub contact_id: Option<RecordId>,
    /// Custom fields by common name.
    pub custom: FieldMap,
}

impl Opportunity {
    /// Whether the opportunity is still open: its stage is not a won or lost one. One without a
    /// stage counts as open, so that it is shown rather than hidden.
    pub fn is_open(&self) -> bool {
        self.stage.as_ref().is_none_or(|s| s.state.is_open())
    }
}

impl Entity for Opportunity {
    const KIND: ObjectKind = ObjectKind::Opportunity;

    fn to_fields(&self) -> FieldMap {
        let mut w = FieldWriter::new();
        w.text("external_id", self.external_id.as_deref())
            .text("name", self.name.as_deref())
            .put("amount", self.amount.clone().map(FieldValue::Number))
            .text("currency", self.currency.as_deref())
            .put("close_date", self.close_date.map(FieldValue::Date))
            .status("stage", self.stage.as_ref())
            .id("account_id", self.account_id.as_ref())
            .id("contact_id", self.contact_id.as_ref())
            .custom(&self.custom);
        w.finish()
    }

    fn from_fields(fields: FieldMap, region: Region) -> Result<Self> {
        Self::from_list(fields.into(), region)
    }

    fn from_list(fields: FieldList, region: Region) -> Result<Self> {
        let mut r = FieldReader::from_list(Self::KIND, fields, region);
        Ok(Self {
            external_id: r.text("external_id")?,
            name: r.text("name")?,
            amount: r.number("amount")?,
            currency: r.text("currency")?,
            close_date: r.date("close_date")?,
            stage: r.status("stage")?,
            account_id: r.id("account_id")?,
            contact_id: r.id("contact_id")?,
            custom: r.rest(),
        })
    }
}

/// A support case (HubSpot ticket, Salesforce Case).
///
/// Common fields: `external_id`, `subject`, `description`, `status` (+ `status_state`,
/// `status_label`), `priority`, `contact_id`, `account_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// An id from another system.
    pub external_id: Option<String>,
    /// One-line summary (customer's words, so personal).
    pub subject: Option<Personal<String>>,
    /// The problem as reported.
    pub description: Option<Personal<String>>,
    /// Where the ticket stands.
    pub status: Option<Status<TicketState>>,
    /// Priority as the CRM names it (`high`, `P2`...).
    pub priority: Option<String>,
    /// The contact who reported it.
    pub contact_id: Option<RecordId>,
    /// The account it concerns.
    pub account_id: Option<RecordId>,
    /// Custom fields by common name.
    pub custom: FieldMap,
}

impl Ticket {
    /// Whether the ticket is still open: its status is not a solved or closed one. One without
    /// a status counts as open, so that it is shown rather than hidden.
    pub fn is_open(&self) -> bool {
        self.status.as_ref().is_none_or(|s| s.state.is_open())
    }
}

impl Entity for Ticket {
    const KIND: ObjectKind = ObjectKind::Ticket;

    fn to_fields(&self) -> FieldMap {
        let mut w = FieldWriter::new();
        w.text("external_id", self.external_id.as_deref())
            .personal("subject", self.subject.as_ref())
            .personal("description", self.description.as_ref())
            .status("status", self.status.as_ref())
            .text("priority", self.priority.as_deref())
            .id("contact_id", self.contact_id.as_ref())
            .id("account_id", self.account_id.as_ref())
            .custom(&self.custom);
        w.finish()
    }

    fn from_fields(fields: FieldMap, region: Region) -> Result<Self> {
        Self::from_list(fields.into(), region)
    }

    fn from_list(fields: FieldList, region: Region) -> Result<Self> {
        let mut r = FieldReader::from_list(Self::KIND, fields, region);
        Ok(Self {
            external_id: r.text("external_id")?,
            subject: r.personal("subject")?,
            description: r.personal("description")?,
            status: r.status("status")?,
            priority: r.text("priority")?,
            contact_id: r.id("contact_id")?,
            account_id: r.id("account_id")?,
            custom: r.rest(),
        })
    }
}

/// What kind of activity a record is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// A free-text note.
    #[default]
    Note,
    /// Something someone has to do (a follow-up, a call-back).
    Task,
    /// A phone call.
    Call,
    /// The log (transcript or summary) of a chat conversation.
    ConversationLog,
}

impl ActivityKind {
    /// Every kind.
    pub const ALL: [ActivityKind; 4] = [
        ActivityKind::Note,
        ActivityKind::Task,
        ActivityKind::Call,
        ActivityKind::ConversationLog,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Note => "note",
            ActivityKind::Task => "task",
            ActivityKind::Call => "call",
            ActivityKind::ConversationLog => "conversation_log",
        }
    }

    /// Looks a kind up by its snake_case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A note, task, call or conversation log attached to records.
///
/// `who` is the person it concerns (a contact or lead) and `what` the business record (a ticket,
/// opportunity or account), as Salesforce's `WhoId`/`WhatId`; HubSpot turns both into
/// associations.
///
/// Common fields: `kind`, `subject`, `body`, `timestamp`, `due_at`, `task_status`
/// (+ `task_status_state`), and one link field per kind (`contact_id`, `lead_id`, `ticket_id`,
/// `opportunity_id`, `account_id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// What kind of activity.
    pub kind: ActivityKind,
    /// Subject line.
    pub subject: Option<Personal<String>>,
    /// Body text (note text, call notes, transcript summary).
    pub body: Option<Personal<String>>,
    /// When it happened (notes, calls, logs) or was created.
    pub timestamp: Option<DateTime<Utc>>,
    /// When a task is due.
    pub due_at: Option<DateTime<Utc>>,
    /// A task's status.
    pub task_status: Option<Status<TaskState>>,
    /// The person it concerns: a contact or a lead.
    pub who: Option<RecordRef>,
    /// The business record it concerns: a ticket, opportunity or account.
    pub what: Option<RecordRef>,
    /// Custom fields by common name.
    pub custom: FieldMap,
}

const WHO_KINDS: [ObjectKind; 2] = [ObjectKind::Contact, ObjectKind::Lead];
const WHAT_KINDS: [ObjectKind; 3] = [
    ObjectKind::Ticket,
    ObjectKind::Opportunity,
    ObjectKind::Account,
];

impl Entity for Activity {
    const KIND: ObjectKind = ObjectKind::Activity;

    fn to_fields(&self) -> FieldMap {
        let mut w = FieldWriter::new();
        w.text("kind", Some(self.kind.as_str()))
            .personal("subject", self.subject.as_ref())
            .personal("body", self.body.as_ref())
            .put("timestamp", self.timestamp.map(FieldValue::DateTime))
            .put("due_at", self.due_at.map(FieldValue::DateTime))
            .status("task_status", self.task_status.as_ref());
        for link in [&self.who, &self.what].into_iter().flatten() {
            w.id(link.kind.link_field(), Some(&link.id));
        }
        w.custom(&self.custom);
        w.finish()
    }

    fn from_fields(fields: FieldMap, region: Region) -> Result<Self> {
        Self::from_list(fields.into(), region)
    }

    fn from_list(fields: FieldList, region: Region) -> Result<Self> {
        let mut r = FieldReader::from_list(Self::KIND, fields, region);
        let kind = match r.text("kind")? {
            None => ActivityKind::Note,
            Some(name) => ActivityKind::from_name(&name).ok_or_else(|| {
                crate::Error::mapping(format!("activity.kind: `{name}` is not a known kind"))
            })?,
        };
        let mut link = |kinds: &[ObjectKind]| -> Result<Option<RecordRef>> {
            let mut found = None;
            for k in kinds {
                if let Some(id) = r.id(k.link_field())?
                    && found.is_none()
                {
                    found = Some(RecordRef::new(*k, id));
                }
            }
            Ok(found)
        };
        let who = link(&WHO_KINDS)?;
        let what = link(&WHAT_KINDS)?;
        Ok(Self {
            kind,
            subject: r.personal("subject")?,
            body: r.personal("body")?,
            timestamp: r.datetime("timestamp")?,
            due_at: r.datetime("due_at")?,
            task_status: r.status("task_status")?,
            who,
            what,
            custom: r.rest(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_means_not_closed_and_a_missing_status_counts_as_open() {
        let ticket = |state: Option<TicketState>| Ticket {
            status: state.map(Status::new),
            ..Ticket::default()
        };
        assert!(ticket(None).is_open());
        assert!(ticket(Some(TicketState::Waiting)).is_open());
        assert!(!ticket(Some(TicketState::Closed)).is_open());
        let deal = |state: Option<OpportunityState>| Opportunity {
            stage: state.map(Status::new),
            ..Opportunity::default()
        };
        assert!(deal(None).is_open());
        assert!(deal(Some(OpportunityState::Unknown)).is_open());
        assert!(!deal(Some(OpportunityState::Won)).is_open());
    }

    fn round_trip<T: Entity + PartialEq>(value: T) {
        let fields = value.to_fields();
        let back = T::from_fields(fields, Region::us()).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn entities_round_trip_through_common_fields() {
        let mut custom = FieldMap::new();
        custom.insert("loyalty_tier".into(), "gold".into());
        round_trip(Contact {
            external_id: Some("u-1".into()),
            email: Some(Email::parse("a@b.co").unwrap()),
            phone: Some(Phone::from_vendor("+14155550100", Region::us())),
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            title: Some("CTO".into()),
            account_id: Some(RecordId::new("acc-1").unwrap()),
            custom,
        });
        round_trip(Opportunity {
            name: Some("Upgrade".into()),
            amount: Some(Number::parse("1200.50").unwrap()),
            close_date: NaiveDate::from_ymd_opt(2026, 12, 1),
            stage: Some(Status::raw(OpportunityState::Open, "qualified")),
            ..Default::default()
        });
        round_trip(Activity {
            kind: ActivityKind::Task,
            subject: Some("Call back".into()),
            due_at: DateTime::from_timestamp(1_800_000_000, 0),
            task_status: Some(Status::raw(TaskState::NotStarted, "open")),
            who: Some(RecordRef::new(
                ObjectKind::Contact,
                RecordId::new("c-1").unwrap(),
            )),
            what: Some(RecordRef::new(
                ObjectKind::Ticket,
                RecordId::new("t-1").unwrap(),
            )),
            ..Default::default()
        });
    }

    #[test]
    fn debug_of_a_contact_has_no_personal_values() {
        let c = Contact {
            email: Some(Email::parse("ann.lee@example.com").unwrap()),
            first_name: Some("Annabel".into()),
            phone: Some(Phone::from_vendor("+14155550100", Region::us())),
            ..Default::default()
        };
        let text = format!("{c:?}");
        assert!(!text.contains("ann"), "{text}");
        assert!(!text.contains("Annabel"));
        assert!(!text.contains("4155550100"));
    }

    #[test]
    fn unknown_activity_kind_is_a_mapping_error() {
        let mut m = FieldMap::new();
        m.insert("kind".into(), "carrier_pigeon".into());
        let err = Activity::from_fields(m, Region::us()).unwrap_err();
        assert_eq!(err.kind(), &crate::ErrorKind::Mapping);
    }
}
