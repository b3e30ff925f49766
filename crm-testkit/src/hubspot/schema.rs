//! The fake portal's object types, their properties and the HUBSPOT_DEFINED association types.
//!
//! Property names, object type ids and association type ids follow HubSpot's CRM API docs
//! (association ids cross-checked with HubSpot's Ruby client, `association_type.rb`).

/// How a property's string value is checked on write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PropKind {
    /// Any text.
    Text,
    /// An email address (checked loosely, compared case-insensitively).
    Email,
    /// A decimal number.
    Number,
    /// `true` / `false`.
    Bool,
    /// A date: `YYYY-MM-DD`, midnight epoch milliseconds or an ISO datetime.
    Date,
    /// A datetime: epoch milliseconds or an ISO-8601 string.
    DateTime,
    /// One of `options`.
    Enum,
    /// `;`-separated options (multi-checkbox).
    MultiEnum,
    /// A pipeline id of the object (validated against the pipelines).
    Pipeline,
    /// A stage id of the record's pipeline.
    Stage,
}

/// One property definition.
#[derive(Clone, Debug)]
pub(crate) struct PropDef {
    pub(crate) name: String,
    pub(crate) kind: PropKind,
    pub(crate) options: Vec<String>,
    /// `hasUniqueValue`: usable as `idProperty`; two records never share a value.
    pub(crate) unique: bool,
    /// Calculated or system-managed; writes get `READ_ONLY_VALUE`.
    pub(crate) read_only: bool,
}

impl PropDef {
    fn new(name: &str, kind: PropKind) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            options: Vec::new(),
            unique: false,
            read_only: false,
        }
    }

    fn options(mut self, options: &[&str]) -> Self {
        self.options = options.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub(crate) fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
}

/// The type of a custom property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomKind {
    /// Single-line text.
    Text,
    /// A number.
    Number,
    /// A checkbox (`true`/`false`).
    Bool,
    /// A date picker (`YYYY-MM-DD`).
    Date,
    /// A date and time.
    DateTime,
    /// A dropdown of these options.
    Select(Vec<String>),
    /// Checkboxes of these options; values are `;`-separated.
    MultiSelect(Vec<String>),
}

/// A custom property a test portal defines on top of HubSpot's defaults.
#[derive(Clone, Debug)]
pub struct CustomProperty {
    /// Object name (`contacts`, `tickets`, ...).
    pub object: String,
    /// Internal property name.
    pub name: String,
    /// `hasUniqueValue`.
    pub unique: bool,
    /// Its type.
    pub kind: CustomKind,
}

impl CustomProperty {
    /// A property of any type.
    pub fn new(object: &str, name: &str, kind: CustomKind) -> Self {
        Self {
            object: object.to_owned(),
            name: name.to_owned(),
            unique: false,
            kind,
        }
    }

    /// A text property.
    pub fn text(object: &str, name: &str) -> Self {
        Self::new(object, name, CustomKind::Text)
    }

    /// A text property with unique values (usable as `idProperty`).
    pub fn unique(object: &str, name: &str) -> Self {
        Self {
            unique: true,
            ..Self::text(object, name)
        }
    }

    /// A single-select property.
    pub fn select(object: &str, name: &str, options: &[&str]) -> Self {
        let options = options.iter().map(|s| (*s).to_owned()).collect();
        Self::new(object, name, CustomKind::Select(options))
    }

    pub(crate) fn def(&self) -> PropDef {
        let (kind, options) = match &self.kind {
            CustomKind::Text => (PropKind::Text, Vec::new()),
            CustomKind::Number => (PropKind::Number, Vec::new()),
            CustomKind::Bool => (PropKind::Bool, Vec::new()),
            CustomKind::Date => (PropKind::Date, Vec::new()),
            CustomKind::DateTime => (PropKind::DateTime, Vec::new()),
            CustomKind::Select(o) => (PropKind::Enum, o.clone()),
            CustomKind::MultiSelect(o) => (PropKind::MultiEnum, o.clone()),
        };
        PropDef {
            name: self.name.clone(),
            kind,
            options,
            unique: self.unique,
            read_only: false,
        }
    }
}

/// A CRM object type the fake serves.
#[derive(Clone, Debug)]
pub(crate) struct ObjectType {
    /// Plural API name (`contacts`).
    pub(crate) name: &'static str,
    /// Singular, upper case in HubSpot's own messages (`CONTACT`) and lower case in
    /// association type names (`contact_to_company`).
    pub(crate) singular: &'static str,
    /// `0-1`...
    pub(crate) type_id: &'static str,
    /// `createdate` or `hs_createdate`.
    pub(crate) created_prop: &'static str,
    /// `lastmodifieddate` or `hs_lastmodifieddate`.
    pub(crate) modified_prop: &'static str,
    /// Returned when a read names no `properties` (HubSpot's CRM API docs).
    pub(crate) default_props: &'static [&'static str],
    /// Must be present on create.
    pub(crate) required: &'static [&'static str],
    pub(crate) props: Vec<PropDef>,
}

impl ObjectType {
    pub(crate) fn prop(&self, name: &str) -> Option<&PropDef> {
        self.props.iter().find(|p| p.name == name)
    }

    /// The object a pipeline-backed object's pipeline property is, if any.
    pub(crate) fn pipeline_props(&self) -> Option<(&'static str, &'static str)> {
        match self.name {
            "tickets" => Some(("hs_pipeline", "hs_pipeline_stage")),
            "deals" => Some(("pipeline", "dealstage")),
            _ => None,
        }
    }
}

fn system(created: &str, modified: &str) -> Vec<PropDef> {
    vec![
        PropDef::new("hs_object_id", PropKind::Number).read_only(),
        PropDef::new(created, PropKind::DateTime).read_only(),
        PropDef::new(modified, PropKind::DateTime).read_only(),
    ]
}

/// HubSpot's default objects with a representative set of their default properties.
pub(crate) fn default_objects() -> Vec<ObjectType> {
    use PropKind::*;
    let mut contacts = system("createdate", "lastmodifieddate");
    contacts.extend([
        PropDef::new("email", Email).unique(),
        PropDef::new("firstname", Text),
        PropDef::new("lastname", Text),
        PropDef::new("phone", Text),
        PropDef::new("mobilephone", Text),
        PropDef::new("jobtitle", Text),
        PropDef::new("company", Text),
        PropDef::new("message", Text),
        PropDef::new("website", Text),
        PropDef::new("city", Text),
        PropDef::new("country", Text),
        PropDef::new("hubspot_owner_id", Number),
        PropDef::new("lifecyclestage", Enum).options(&[
            "subscriber",
            "lead",
            "marketingqualifiedlead",
            "salesqualifiedlead",
            "opportunity",
            "customer",
            "evangelist",
            "other",
        ]),
        PropDef::new("hs_lead_status", Enum).options(&[
            "NEW",
            "OPEN",
            "IN_PROGRESS",
            "OPEN_DEAL",
            "UNQUALIFIED",
            "ATTEMPTED_TO_CONTACT",
            "CONNECTED",
            "BAD_TIMING",
        ]),
        PropDef::new("associatedcompanyid", Number).read_only(),
        PropDef::new("hs_email_domain", Text).read_only(),
        PropDef::new("hs_is_contact", Bool).read_only(),
        PropDef::new("hs_searchable_calculated_phone_number", Text).read_only(),
        PropDef::new("hs_searchable_calculated_mobile_number", Text).read_only(),
    ]);
    let mut companies = system("createdate", "hs_lastmodifieddate");
    companies.extend([
        PropDef::new("name", Text),
        PropDef::new("domain", Text),
        PropDef::new("phone", Text),
        PropDef::new("city", Text),
        PropDef::new("country", Text),
        PropDef::new("description", Text),
        PropDef::new("numberofemployees", Number),
        PropDef::new("hubspot_owner_id", Number),
        PropDef::new("industry", Enum).options(&[
            "ACCOUNTING",
            "COMPUTER_SOFTWARE",
            "CONSUMER_ELECTRONICS",
            "FINANCIAL_SERVICES",
            "HOSPITAL_HEALTH_CARE",
            "LOGISTICS_AND_SUPPLY_CHAIN",
            "MACHINERY",
            "RETAIL",
            "TELECOMMUNICATIONS",
        ]),
    ]);
    let mut deals = system("createdate", "hs_lastmodifieddate");
    deals.extend([
        PropDef::new("dealname", Text),
        PropDef::new("amount", Number),
        PropDef::new("closedate", DateTime),
        PropDef::new("pipeline", Pipeline),
        PropDef::new("dealstage", Stage),
        PropDef::new("deal_currency_code", Text),
        PropDef::new("dealtype", Enum).options(&["newbusiness", "existingbusiness"]),
        PropDef::new("description", Text),
        PropDef::new("hubspot_owner_id", Number),
    ]);
    let mut tickets = system("createdate", "hs_lastmodifieddate");
    tickets.extend([
        PropDef::new("subject", Text),
        PropDef::new("content", Text),
        PropDef::new("hs_pipeline", Pipeline),
        PropDef::new("hs_pipeline_stage", Stage),
        PropDef::new("hs_ticket_priority", Enum).options(&["LOW", "MEDIUM", "HIGH", "URGENT"]),
        PropDef::new("hs_ticket_category", MultiEnum).options(&[
            "PRODUCT_ISSUE",
            "BILLING_ISSUE",
            "FEATURE_REQUEST",
            "GENERAL_INQUIRY",
        ]),
        PropDef::new("source_type", Enum).options(&["CHAT", "EMAIL", "FORM", "PHONE"]),
        PropDef::new("hubspot_owner_id", Number),
    ]);
    let mut notes = system("hs_createdate", "hs_lastmodifieddate");
    notes.extend([
        PropDef::new("hs_timestamp", DateTime),
        PropDef::new("hs_note_body", Text),
        PropDef::new("hubspot_owner_id", Number),
        PropDef::new("hs_attachment_ids", Text),
    ]);
    let mut tasks = system("hs_createdate", "hs_lastmodifieddate");
    tasks.extend([
        PropDef::new("hs_timestamp", DateTime),
        PropDef::new("hs_task_subject", Text),
        PropDef::new("hs_task_body", Text),
        PropDef::new("hs_task_status", Enum).options(&[
            "NOT_STARTED",
            "IN_PROGRESS",
            "WAITING",
            "COMPLETED",
            "DEFERRED",
        ]),
        PropDef::new("hs_task_priority", Enum).options(&["NONE", "LOW", "MEDIUM", "HIGH"]),
        PropDef::new("hs_task_type", Enum).options(&["TODO", "CALL", "EMAIL"]),
        PropDef::new("hubspot_owner_id", Number),
    ]);
    let mut calls = system("hs_createdate", "hs_lastmodifieddate");
    calls.extend([
        PropDef::new("hs_timestamp", DateTime),
        PropDef::new("hs_call_title", Text),
        PropDef::new("hs_call_body", Text),
        PropDef::new("hs_call_direction", Enum).options(&["INBOUND", "OUTBOUND"]),
        PropDef::new("hs_call_status", Enum).options(&[
            "BUSY",
            "CALLING_CRM_USER",
            "CANCELED",
            "COMPLETED",
            "CONNECTING",
            "FAILED",
            "IN_PROGRESS",
            "NO_ANSWER",
            "QUEUED",
            "RINGING",
        ]),
        PropDef::new("hs_call_duration", Number),
        PropDef::new("hubspot_owner_id", Number),
    ]);
    vec![
        ObjectType {
            name: "contacts",
            singular: "contact",
            type_id: "0-1",
            created_prop: "createdate",
            modified_prop: "lastmodifieddate",
            default_props: &["firstname", "lastname", "email"],
            required: &[],
            props: contacts,
        },
        ObjectType {
            name: "companies",
            singular: "company",
            type_id: "0-2",
            created_prop: "createdate",
            modified_prop: "hs_lastmodifieddate",
            default_props: &["name", "domain"],
            required: &[],
            props: companies,
        },
        ObjectType {
            name: "deals",
            singular: "deal",
            type_id: "0-3",
            created_prop: "createdate",
            modified_prop: "hs_lastmodifieddate",
            default_props: &["dealname", "amount", "closedate", "pipeline", "dealstage"],
            required: &["dealname", "dealstage"],
            props: deals,
        },
        ObjectType {
            name: "tickets",
            singular: "ticket",
            type_id: "0-5",
            created_prop: "createdate",
            modified_prop: "hs_lastmodifieddate",
            default_props: &[
                "content",
                "hs_pipeline",
                "hs_pipeline_stage",
                "hs_ticket_category",
                "hs_ticket_priority",
                "subject",
            ],
            required: &["hs_pipeline_stage"],
            props: tickets,
        },
        ObjectType {
            name: "notes",
            singular: "note",
            type_id: "0-46",
            created_prop: "hs_createdate",
            modified_prop: "hs_lastmodifieddate",
            default_props: &[],
            required: &["hs_timestamp"],
            props: notes,
        },
        ObjectType {
            name: "tasks",
            singular: "task",
            type_id: "0-27",
            created_prop: "hs_createdate",
            modified_prop: "hs_lastmodifieddate",
            default_props: &[],
            required: &["hs_timestamp"],
            props: tasks,
        },
        ObjectType {
            name: "calls",
            singular: "call",
            type_id: "0-48",
            created_prop: "hs_createdate",
            modified_prop: "hs_lastmodifieddate",
            default_props: &[],
            required: &["hs_timestamp"],
            props: calls,
        },
    ]
}

/// Resolves an object given in a path (`contacts`, `0-1`, `CONTACT`, `contact`) to its index in
/// `objects`.
pub(crate) fn resolve(objects: &[ObjectType], given: &str) -> Option<usize> {
    let g = given.to_ascii_lowercase();
    objects
        .iter()
        .position(|o| o.name == g || o.type_id == g || o.singular == g)
}

/// One HUBSPOT_DEFINED association type: `id` from `from` to `to`, its reverse, and its name
/// as `GET ...?associations=` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AssocType {
    pub(crate) id: u32,
    pub(crate) from: &'static str,
    pub(crate) to: &'static str,
    pub(crate) reverse: u32,
    /// Whether this is the pair's default (unlabelled) type, used by `associations/default`.
    pub(crate) default: bool,
    /// Label for labelled types (`Primary`).
    pub(crate) label: Option<&'static str>,
}

const fn t(
    id: u32,
    from: &'static str,
    to: &'static str,
    reverse: u32,
    default: bool,
    label: Option<&'static str>,
) -> AssocType {
    AssocType {
        id,
        from,
        to,
        reverse,
        default,
        label,
    }
}

/// The type ids the fake knows (both directions of every pair; HubSpot's associations v4 docs).
pub(crate) const ASSOC_TYPES: &[AssocType] = &[
    t(1, "contacts", "companies", 2, false, Some("Primary")),
    t(2, "companies", "contacts", 1, false, Some("Primary")),
    t(279, "contacts", "companies", 280, true, None),
    t(280, "companies", "contacts", 279, true, None),
    t(3, "deals", "contacts", 4, true, None),
    t(4, "contacts", "deals", 3, true, None),
    t(5, "deals", "companies", 6, false, Some("Primary")),
    t(6, "companies", "deals", 5, false, Some("Primary")),
    t(341, "deals", "companies", 342, true, None),
    t(342, "companies", "deals", 341, true, None),
    t(15, "contacts", "tickets", 16, true, None),
    t(16, "tickets", "contacts", 15, true, None),
    t(26, "tickets", "companies", 25, false, Some("Primary")),
    t(25, "companies", "tickets", 26, false, Some("Primary")),
    t(339, "tickets", "companies", 340, true, None),
    t(340, "companies", "tickets", 339, true, None),
    t(27, "deals", "tickets", 28, true, None),
    t(28, "tickets", "deals", 27, true, None),
    t(202, "notes", "contacts", 201, true, None),
    t(201, "contacts", "notes", 202, true, None),
    t(190, "notes", "companies", 189, true, None),
    t(189, "companies", "notes", 190, true, None),
    t(214, "notes", "deals", 213, true, None),
    t(213, "deals", "notes", 214, true, None),
    t(228, "notes", "tickets", 227, true, None),
    t(227, "tickets", "notes", 228, true, None),
    t(204, "tasks", "contacts", 203, true, None),
    t(203, "contacts", "tasks", 204, true, None),
    t(192, "tasks", "companies", 191, true, None),
    t(191, "companies", "tasks", 192, true, None),
    t(216, "tasks", "deals", 215, true, None),
    t(215, "deals", "tasks", 216, true, None),
    t(230, "tasks", "tickets", 229, true, None),
    t(229, "tickets", "tasks", 230, true, None),
    t(194, "calls", "contacts", 193, true, None),
    t(193, "contacts", "calls", 194, true, None),
    t(182, "calls", "companies", 181, true, None),
    t(181, "companies", "calls", 182, true, None),
    t(206, "calls", "deals", 205, true, None),
    t(205, "deals", "calls", 206, true, None),
    t(220, "calls", "tickets", 219, true, None),
    t(219, "tickets", "calls", 220, true, None),
    t(449, "contacts", "contacts", 449, true, None),
    t(450, "companies", "companies", 450, true, None),
    t(451, "deals", "deals", 451, true, None),
    t(452, "tickets", "tickets", 452, true, None),
];

/// The association type with this id.
pub(crate) fn assoc_type(id: u32) -> Option<&'static AssocType> {
    ASSOC_TYPES.iter().find(|a| a.id == id)
}

/// The default (unlabelled) type from `from` to `to`.
pub(crate) fn default_assoc(from: &str, to: &str) -> Option<&'static AssocType> {
    ASSOC_TYPES
        .iter()
        .find(|a| a.from == from && a.to == to && a.default)
}

/// The name `GET ...?associations=` gives a type: `contact_to_company`, with `_unlabeled` for
/// the unlabelled variant of a pair that also has a labelled (primary) type.
pub(crate) fn assoc_type_name(objects: &[ObjectType], a: &AssocType) -> String {
    let singular = |name: &str| {
        objects
            .iter()
            .find(|o| o.name == name)
            .map_or(name.to_owned(), |o| o.singular.to_owned())
    };
    let base = format!("{}_to_{}", singular(a.from), singular(a.to));
    let pair_has_primary = ASSOC_TYPES
        .iter()
        .any(|o| o.from == a.from && o.to == a.to && o.label.is_some());
    if a.default && pair_has_primary {
        format!("{base}_unlabeled")
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_its_reverse() {
        for a in ASSOC_TYPES {
            let r = assoc_type(a.reverse).unwrap();
            assert_eq!((r.from, r.to), (a.to, a.from), "{}", a.id);
            assert_eq!(r.reverse, a.id);
        }
    }

    #[test]
    fn names_resolve() {
        let objects = default_objects();
        assert_eq!(resolve(&objects, "CONTACT"), Some(0));
        assert_eq!(resolve(&objects, "0-3"), Some(2));
        assert_eq!(resolve(&objects, "leads"), None);
        let primary = assoc_type(1).unwrap();
        assert_eq!(assoc_type_name(&objects, primary), "contact_to_company");
        let unlabeled = assoc_type(279).unwrap();
        assert_eq!(
            assoc_type_name(&objects, unlabeled),
            "contact_to_company_unlabeled"
        );
        assert_eq!(
            assoc_type_name(&objects, assoc_type(202).unwrap()),
            "note_to_contact"
        );
    }
}
