//! What the connector's checks report: the setup check of the settings against the CRM's
//! schema (`crm-connect doctor`), advice on features that are off, and the live check of a
//! mapping table. Plain data: the backend produces them ([`crate::raw::Backend::check_setup`],
//! [`crate::raw::Backend::check_table`]), tools print them.

use crate::mapping::SchemaProblem;
use crate::model::ObjectKind;

/// One thing a connection's settings need from the CRM's schema (a custom property, an
/// external-id field) on one object, and whether the CRM has it: what `crm-connect doctor`
/// prints.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetupCheck {
    /// The setting that names the field (`idempotency_field`, `external_id_property`).
    pub setting: String,
    /// Whether the setting is the idempotency key's field: creates of [`SetupCheck::kinds`]
    /// are idempotent only where it exists.
    pub idempotency: bool,
    /// The field's name in the CRM.
    pub name: String,
    /// The vendor object checked (`tickets`, `Case`).
    pub object: String,
    /// The common kinds whose records live in that object.
    pub kinds: Vec<ObjectKind>,
    /// `None` when the CRM has what the setting needs; otherwise what is missing and the
    /// admin step that adds it. Names only, never values.
    pub problem: Option<String>,
}

impl SetupCheck {
    /// A check of `name`, named by `setting`, on `object`.
    pub fn new(
        setting: impl Into<String>,
        name: impl Into<String>,
        object: impl Into<String>,
        kinds: Vec<ObjectKind>,
        problem: Option<String>,
    ) -> Self {
        let setting = setting.into();
        Self {
            idempotency: setting.starts_with("idempotency"),
            setting,
            name: name.into(),
            object: object.into(),
            kinds,
            problem,
        }
    }
}

/// A feature that is off and how to turn it on: a warning line of `crm-connect doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Advice {
    /// What is off (`external id look-up`).
    pub what: String,
    /// Why, and the setting that turns it on.
    pub detail: String,
}

impl Advice {
    /// Advice about `what`.
    pub fn new(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// The live check of one mapping table against the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableCheck {
    /// Compared with the CRM's schema: the problems found (none: the table fits).
    Checked(Vec<SchemaProblem>),
    /// Not compared, and why (the adapter has no schema check; the CRM has no sample record).
    Unchecked(String),
}
