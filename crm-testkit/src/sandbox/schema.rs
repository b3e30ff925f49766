//! The sandbox's object and field definitions: one table, straight from `SANDBOX_API.md`.
//!
//! Keeping the schema as data (instead of per-object code) means validation, filtering and
//! rendering all read the same source of truth, so a field added here is handled everywhere.

/// What values a field accepts and how it compares in filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Free text.
    Text,
    /// Text with an `@`; compared case-insensitively.
    Email,
    /// Text; compared on its digits.
    Phone,
    /// A JSON number.
    Number,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339, normalised to UTC with milliseconds.
    DateTime,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
    /// The id of a record of the named object (its path name).
    Link(&'static str),
}

/// One vendor field of an object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldSpec {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// Must be present (non-null, non-blank) on create and can never be cleared.
    pub(crate) required: bool,
    /// Two records of the object cannot share a non-null value; also an upsert key.
    pub(crate) unique: bool,
    /// Value applied on create when the field is absent or null; such fields cannot be cleared.
    pub(crate) default: Option<&'static str>,
}

/// One object type (a path under the base URL).
#[derive(Debug)]
pub(crate) struct ObjectSpec {
    /// The path segment, e.g. `contacts`.
    pub(crate) path: &'static str,
    /// Singular name, used in messages (`contact not found`).
    pub(crate) singular: &'static str,
    /// Id prefix, e.g. `c` for `c-1001`.
    pub(crate) prefix: &'static str,
    /// Number of the first record's id.
    pub(crate) first_number: u64,
    pub(crate) fields: &'static [FieldSpec],
}

impl ObjectSpec {
    /// The spec of a vendor field, if the object has it.
    pub(crate) fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Fields the server sets; clients can read and filter on them but never write them.
pub(crate) const READ_ONLY: [&str; 3] = ["id", "created_at", "updated_at"];

const fn f(name: &'static str, kind: Kind) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: false,
        unique: false,
        default: None,
    }
}
const fn required(name: &'static str, kind: Kind) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: true,
        unique: false,
        default: None,
    }
}
const fn unique(name: &'static str, kind: Kind) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: false,
        unique: true,
        default: None,
    }
}
const fn defaulted(name: &'static str, kind: Kind, value: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: false,
        unique: false,
        default: Some(value),
    }
}

const LEAD_STATUS: &[&str] = &["new", "contacted", "qualified", "disqualified", "converted"];
const STAGE: &[&str] = &["prospecting", "proposal", "negotiation", "won", "lost"];
const TICKET_STATUS: &[&str] = &["new", "open", "pending", "solved", "closed"];
const PRIORITY: &[&str] = &["low", "normal", "high", "urgent"];
const ACTIVITY_TYPE: &[&str] = &["note", "task", "call", "chat_log"];
const TASK_STATUS: &[&str] = &["open", "in_progress", "waiting", "done"];

/// Every object the sandbox serves, in the order of `SANDBOX_API.md`.
pub(crate) static OBJECTS: &[ObjectSpec] = &[
    ObjectSpec {
        path: "contacts",
        singular: "contact",
        prefix: "c",
        first_number: 1001,
        fields: &[
            unique("external_id", Kind::Text),
            unique("email", Kind::Email),
            f("phone", Kind::Phone),
            f("first_name", Kind::Text),
            required("last_name", Kind::Text),
            f("job_title", Kind::Text),
            f("account_id", Kind::Link("accounts")),
            unique("idempotency_key", Kind::Text),
            f("loyalty_tier", Kind::Text),
            f("preferred_language", Kind::Text),
        ],
    },
    ObjectSpec {
        path: "accounts",
        singular: "account",
        prefix: "a",
        first_number: 2001,
        fields: &[
            unique("external_id", Kind::Text),
            required("name", Kind::Text),
            f("domain", Kind::Text),
            f("phone", Kind::Phone),
            f("industry", Kind::Text),
            unique("idempotency_key", Kind::Text),
        ],
    },
    ObjectSpec {
        path: "leads",
        singular: "lead",
        prefix: "l",
        first_number: 3001,
        fields: &[
            unique("external_id", Kind::Text),
            unique("email", Kind::Email),
            f("phone", Kind::Phone),
            f("first_name", Kind::Text),
            required("last_name", Kind::Text),
            f("company", Kind::Text),
            f("source", Kind::Text),
            defaulted("status", Kind::Enum(LEAD_STATUS), "new"),
            f("description", Kind::Text),
            f("contact_id", Kind::Link("contacts")),
            unique("idempotency_key", Kind::Text),
        ],
    },
    ObjectSpec {
        path: "opportunities",
        singular: "opportunity",
        prefix: "o",
        first_number: 4001,
        fields: &[
            unique("external_id", Kind::Text),
            required("name", Kind::Text),
            f("amount", Kind::Number),
            f("currency", Kind::Text),
            f("close_date", Kind::Date),
            defaulted("stage", Kind::Enum(STAGE), "prospecting"),
            f("account_id", Kind::Link("accounts")),
            f("contact_id", Kind::Link("contacts")),
            unique("idempotency_key", Kind::Text),
        ],
    },
    ObjectSpec {
        path: "tickets",
        singular: "ticket",
        prefix: "t",
        first_number: 5001,
        fields: &[
            unique("external_id", Kind::Text),
            required("subject", Kind::Text),
            f("description", Kind::Text),
            defaulted("status", Kind::Enum(TICKET_STATUS), "new"),
            f("priority", Kind::Enum(PRIORITY)),
            f("contact_id", Kind::Link("contacts")),
            f("account_id", Kind::Link("accounts")),
            unique("idempotency_key", Kind::Text),
        ],
    },
    ObjectSpec {
        path: "activities",
        singular: "activity",
        prefix: "act",
        first_number: 6001,
        fields: &[
            required("type", Kind::Enum(ACTIVITY_TYPE)),
            f("subject", Kind::Text),
            f("body", Kind::Text),
            f("occurred_at", Kind::DateTime),
            f("due_at", Kind::DateTime),
            f("task_status", Kind::Enum(TASK_STATUS)),
            f("contact_id", Kind::Link("contacts")),
            f("lead_id", Kind::Link("leads")),
            f("ticket_id", Kind::Link("tickets")),
            f("opportunity_id", Kind::Link("opportunities")),
            f("account_id", Kind::Link("accounts")),
            unique("idempotency_key", Kind::Text),
        ],
    },
];

/// The spec of the object served at `path` (`contacts`, …).
pub(crate) fn object(path: &str) -> Option<&'static ObjectSpec> {
    OBJECTS.iter().find(|o| o.path == path)
}
