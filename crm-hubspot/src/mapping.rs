//! The default field mapping per HubSpot object (`mapping.toml` beside `docs.md`, in core's
//! mapping format, read by core's one loader), and how a tenant's overrides are merged over it.
//!
//! Link fields (`account_id`, `contact_id`, an activity's `who`/`what`) are associations in
//! HubSpot, not properties; the adapter turns them into inline associations on create and v4
//! association calls on update, and reads them back from `associations` (a contact's
//! `account_id` from its `associatedcompanyid` property). Ticket and deal stages get their
//! states and labels from the pipelines API at run time.

use std::collections::BTreeMap;

use crm_core::mapping::{FieldRule, KnownFields, MappingFile, ObjectMapping};
use crm_core::{Error, ObjectKind, Result};

use crate::objects::HubObject;

impl std::str::FromStr for MappingTarget {
    type Err = crm_core::Error;
    fn from_str(s: &str) -> crm_core::Result<Self> {
        MappingTarget::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                crm_core::Error::config(format!("`{s}` is not a HubSpot mapping target"))
            })
    }
}

/// What a mapping applies to: one common record kind in one HubSpot object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MappingTarget {
    /// Contacts in `contacts`.
    Contact,
    /// Accounts in `companies`.
    Account,
    /// Leads: contacts in lifecycle stage `lead`.
    Lead,
    /// Opportunities in `deals`.
    Opportunity,
    /// Tickets in `tickets`.
    Ticket,
    /// Notes (and conversation logs, by default) in `notes`.
    Note,
    /// Tasks in `tasks`.
    Task,
    /// Calls in `calls`.
    Call,
}

impl MappingTarget {
    /// The target's name in mapping files (`contact`, `note`...).
    pub fn as_str(self) -> &'static str {
        match self {
            MappingTarget::Contact => "contact",
            MappingTarget::Account => "account",
            MappingTarget::Lead => "lead",
            MappingTarget::Opportunity => "opportunity",
            MappingTarget::Ticket => "ticket",
            MappingTarget::Note => "note",
            MappingTarget::Task => "task",
            MappingTarget::Call => "call",
        }
    }

    /// Every target.
    pub const ALL: [MappingTarget; 8] = [
        MappingTarget::Contact,
        MappingTarget::Account,
        MappingTarget::Lead,
        MappingTarget::Opportunity,
        MappingTarget::Ticket,
        MappingTarget::Note,
        MappingTarget::Task,
        MappingTarget::Call,
    ];

    /// The common kind.
    pub fn kind(self) -> ObjectKind {
        match self {
            MappingTarget::Contact => ObjectKind::Contact,
            MappingTarget::Account => ObjectKind::Account,
            MappingTarget::Lead => ObjectKind::Lead,
            MappingTarget::Opportunity => ObjectKind::Opportunity,
            MappingTarget::Ticket => ObjectKind::Ticket,
            MappingTarget::Note | MappingTarget::Task | MappingTarget::Call => ObjectKind::Activity,
        }
    }

    pub(crate) fn object(self) -> HubObject {
        match self {
            MappingTarget::Contact | MappingTarget::Lead => HubObject::Contacts,
            MappingTarget::Account => HubObject::Companies,
            MappingTarget::Opportunity => HubObject::Deals,
            MappingTarget::Ticket => HubObject::Tickets,
            MappingTarget::Note => HubObject::Notes,
            MappingTarget::Task => HubObject::Tasks,
            MappingTarget::Call => HubObject::Calls,
        }
    }

    pub(crate) fn for_engagement(o: HubObject) -> Option<Self> {
        match o {
            HubObject::Notes => Some(MappingTarget::Note),
            HubObject::Tasks => Some(MappingTarget::Task),
            HubObject::Calls => Some(MappingTarget::Call),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            MappingTarget::Contact => "contact",
            MappingTarget::Account => "account",
            MappingTarget::Lead => "lead",
            MappingTarget::Opportunity => "opportunity",
            MappingTarget::Ticket => "ticket",
            MappingTarget::Note => "note",
            MappingTarget::Task => "task",
            MappingTarget::Call => "call",
        }
    }
}

/// The default mapping: HubSpot's default properties per mapping target, in core's mapping
/// format (see [`crm_core::mapping::MappingFile::defaults`]).
pub const DEFAULT_MAPPING: &str = include_str!("../mapping.toml");

/// HubSpot's default properties per mapping table (`known_fields.toml`, from HubSpot's
/// developer docs), for checking a mapping file offline (see
/// [`crm_core::mapping::KnownFields`]).
pub const KNOWN_FIELDS: &str = include_str!("../known_fields.toml");

/// [`KNOWN_FIELDS`], parsed.
pub fn known_fields() -> Result<KnownFields> {
    KnownFields::parse(KNOWN_FIELDS, "crm-hubspot/known_fields.toml")
}

/// The default mapping's tables, read by core's loader.
pub fn default_mapping() -> Result<BTreeMap<String, ObjectMapping>> {
    MappingFile::defaults(DEFAULT_MAPPING, "crm-hubspot/mapping.toml", MAPPING_TARGETS)
}

/// The vendor value a write of a bare state gets, where several values share the state.
pub(crate) fn preferred_raw(target: MappingTarget, state: &str) -> Option<&'static str> {
    match (target, state) {
        (MappingTarget::Lead, "new") => Some("NEW"),
        (MappingTarget::Lead, "working") => Some("IN_PROGRESS"),
        (MappingTarget::Lead, "qualified") => Some("OPEN_DEAL"),
        (MappingTarget::Lead, "unqualified") => Some("UNQUALIFIED"),
        (MappingTarget::Task, "not_started") => Some("NOT_STARTED"),
        (MappingTarget::Task, "in_progress") => Some("IN_PROGRESS"),
        (MappingTarget::Task, "waiting") => Some("WAITING"),
        (MappingTarget::Task, "completed") => Some("COMPLETED"),
        _ => None,
    }
}

/// Custom properties the connection's settings name.
#[derive(Debug, Clone, Default)]
pub(crate) struct CustomProps {
    pub(crate) external_id: Option<String>,
    pub(crate) lead_source: Option<String>,
}

/// The object tables a mapping file may hold for this adapter, and the kind each maps; give it
/// to `MappingFile::load`.
pub const MAPPING_TARGETS: &[(&str, ObjectKind)] = &[
    ("contact", ObjectKind::Contact),
    ("account", ObjectKind::Account),
    ("lead", ObjectKind::Lead),
    ("opportunity", ObjectKind::Opportunity),
    ("ticket", ObjectKind::Ticket),
    ("note", ObjectKind::Activity),
    ("task", ObjectKind::Activity),
    ("call", ObjectKind::Activity),
];

/// A mapping file's tables as overrides per target.
pub(crate) fn overrides_from(file: &MappingFile) -> Result<BTreeMap<MappingTarget, ObjectMapping>> {
    file.objects
        .iter()
        .map(|(name, m)| Ok((name.parse::<MappingTarget>()?, m.clone())))
        .collect()
}

/// The mappings of a connection, and the `version@hash` of the mapping file they came from.
#[derive(Debug, Clone)]
pub(crate) struct Mappings {
    by_target: BTreeMap<MappingTarget, std::sync::Arc<ObjectMapping>>,
    pub(crate) label: Option<String>,
}

impl Mappings {
    /// The defaults with the settings' custom properties, then `overrides` merged over them:
    /// an override's fields, states, labels and values replace the default entries of the same
    /// name, and its `pass_through` wins.
    pub(crate) fn build(
        custom: &CustomProps,
        overrides: &BTreeMap<MappingTarget, ObjectMapping>,
        label: Option<String>,
    ) -> Result<Self> {
        let defaults = default_mapping()?;
        let mut out = BTreeMap::new();
        for target in MappingTarget::ALL {
            let mut m = defaults.get(target.as_str()).cloned().unwrap_or_default();
            if let Some(p) = &custom.external_id
                && !matches!(
                    target,
                    MappingTarget::Note | MappingTarget::Task | MappingTarget::Call
                )
            {
                m.fields.insert("external_id".into(), p.clone());
            }
            if let (MappingTarget::Lead, Some(p)) = (target, &custom.lead_source) {
                m.fields.insert("source".into(), p.clone());
            }
            if let Some(o) = overrides.get(&target) {
                m = m.overlaid_with(o);
            }
            if target == MappingTarget::Lead
                && !m.fields.contains_key("source")
                && !m.rules.contains_key("source")
            {
                // No `lead_source_property` and no mapping for it: a stock portal has no
                // property for a free-text source, so it is not sent (passed through as
                // `source` it would be refused as a property that does not exist).
                m.rules.insert(
                    "source".into(),
                    FieldRule {
                        send: false,
                        ..FieldRule::default()
                    },
                );
            }
            m.validate(target.kind(), &format!("hubspot {} mapping", target.name()))?;
            out.insert(target, std::sync::Arc::new(m));
        }
        Ok(Self {
            by_target: out,
            label,
        })
    }

    pub(crate) fn get(&self, target: MappingTarget) -> Result<std::sync::Arc<ObjectMapping>> {
        self.by_target
            .get(&target)
            .cloned()
            .ok_or_else(|| Error::config(format!("no mapping for {}", target.name())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_overrides_merge() {
        let custom = CustomProps {
            external_id: Some("crm_external_id".into()),
            lead_source: Some("crm_lead_source".into()),
        };
        let mut overrides = BTreeMap::new();
        let mut o = ObjectMapping::default();
        o.fields.insert("title".into(), "job_function".into());
        o.fields
            .insert("loyalty_tier".into(), "loyalty_tier".into());
        overrides.insert(MappingTarget::Contact, o);
        let m = Mappings::build(&custom, &overrides, None).unwrap();
        let c = m.get(MappingTarget::Contact).unwrap();
        assert_eq!(c.fields["title"], "job_function");
        assert_eq!(c.fields["external_id"], "crm_external_id");
        assert_eq!(
            m.get(MappingTarget::Lead).unwrap().fields["source"],
            "crm_lead_source"
        );
        assert!(
            !m.get(MappingTarget::Note)
                .unwrap()
                .fields
                .contains_key("external_id")
        );

        let mut bad = BTreeMap::new();
        let mut o = ObjectMapping::default();
        o.fields.insert("phone".into(), "email".into());
        bad.insert(MappingTarget::Contact, o);
        let err = Mappings::build(&custom, &bad, None).unwrap_err();
        assert!(err.message().contains("both map"), "{}", err.message());
    }

    #[test]
    fn the_shipped_default_covers_every_target_with_default_properties() {
        let defaults = default_mapping().unwrap();
        let known = known_fields().unwrap();
        for target in MappingTarget::ALL {
            let table = defaults
                .get(target.as_str())
                .unwrap_or_else(|| panic!("no default table for {}", target.as_str()));
            for vendor in table.fields.values() {
                assert_eq!(known.judge(target.as_str(), vendor), None, "{vendor}");
            }
        }
        assert_eq!(defaults.len(), MappingTarget::ALL.len());
        assert_eq!(defaults["contact"].fields["email"], "email");
        assert_eq!(defaults["ticket"].values["priority"]["urgent"], "URGENT");
    }

    #[test]
    fn the_file_targets_are_the_mapping_targets() {
        let listed: Vec<(&str, ObjectKind)> = MappingTarget::ALL
            .iter()
            .map(|t| (t.as_str(), t.kind()))
            .collect();
        assert_eq!(listed, MAPPING_TARGETS);
    }
}
