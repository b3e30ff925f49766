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

pub use backend::{CONVERSATION_LOG_MARKER, Pipedrive, PipedriveBackend, PipedriveBuilder};
pub use config::PipedriveConfig;
pub use connector::{PipedriveConnector, connector};
pub use error::PipedriveErrors;
pub use webhook::PipedriveWebhook;
pub use wire::Entity;

crm_core::adapter_facts! {
    vendor: "pipedrive",
    targets: [
        contact => Contact,
        account => Account,
        lead => Lead,
        opportunity => Opportunity,
        note => Activity,
        task => Activity,
        call => Activity,
    ],
}

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
