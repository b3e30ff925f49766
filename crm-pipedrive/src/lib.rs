//! # crm-pipedrive
//!
//! A crm-connect adapter for Pipedrive: persons ↔ `Contact`, organizations ↔ `Account`, deals ↔
//! `Opportunity`, leads ↔ `Lead`, activities (tasks, calls) and notes (notes, conversation
//! logs) ↔ `Activity`. Persons, organizations, deals and activities through API v2, leads and
//! notes through API v1 (Pipedrive has no v2 for them). Pipedrive has no tickets: the
//! connection declares them absent. See `docs.md` for the settings, the limits and what
//! Pipedrive's documentation says about each.
//!
//! The adapter is its vendor's hooks only: the JSON shapes ([`wire`]), the error parser
//! ([`PipedriveErrors`]), the rate-limit headers ([`limits`]), the credential ([`credential`]),
//! the default mapping (`mapping.toml`) and the webhooks ([`webhook`]); core's record family
//! does the rest.

mod backend;
pub mod config;
mod connector;
pub mod credential;
mod error;
pub mod limits;
pub mod lister;
/// This adapter's fake, for tools that start fakes by vendor name (feature `testkit`).
pub mod testkit;
pub mod webhook;
pub mod wire;

use crm_core::ObjectKind;
use crm_core::raw::AdapterFacts;

pub use backend::{CONVERSATION_LOG_MARKER, Pipedrive, PipedriveBackend, PipedriveBuilder};
pub use config::PipedriveConfig;
pub use connector::{PipedriveConnector, connector};
pub use error::PipedriveErrors;
pub use webhook::PipedriveWebhook;
pub use wire::Entity;

/// The vendor's name, as connections and events name it.
pub const VENDOR: &str = "pipedrive";

/// The tables a mapping file may hold for this adapter, and the kind each maps.
pub const MAPPING_TARGETS: &[(&str, ObjectKind)] = &[
    ("contact", ObjectKind::Contact),
    ("account", ObjectKind::Account),
    ("lead", ObjectKind::Lead),
    ("opportunity", ObjectKind::Opportunity),
    ("note", ObjectKind::Activity),
    ("task", ObjectKind::Activity),
    ("call", ObjectKind::Activity),
];

/// The default mapping (`mapping.toml`).
pub const DEFAULT_MAPPING: &str = include_str!("../mapping.toml");

/// Pipedrive's standard fields per mapping table (`known_fields.toml`), for offline checks.
pub const KNOWN_FIELDS: &str = include_str!("../known_fields.toml");

/// What the connector registry knows of this adapter without a connection: the default mapping
/// and the standard fields, parsed by core.
pub const FACTS: AdapterFacts = AdapterFacts::new(
    VENDOR,
    MAPPING_TARGETS,
    DEFAULT_MAPPING,
    "crm-pipedrive/mapping.toml",
)
.with_known_fields(KNOWN_FIELDS, "crm-pipedrive/known_fields.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mapping_loads_and_knows_its_fields() {
        let m = FACTS.default_mapping().unwrap();
        assert_eq!(m.len(), MAPPING_TARGETS.len());
        let known = FACTS.known_fields().unwrap().unwrap();
        for (table, mapping) in &m {
            for vendor in mapping.fields.values() {
                assert!(known.judge(table, vendor).is_none(), "{table}.{vendor}");
            }
        }
    }
}
