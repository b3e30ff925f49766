//! # crm-hubspot
//!
//! A crm-connect adapter for HubSpot's CRM API: contacts ↔ `Contact`, companies ↔ `Account`,
//! deals ↔ `Opportunity`, tickets ↔ `Ticket`, notes / tasks / calls ↔ `Activity`, and leads as
//! contacts in lifecycle stage `lead`. Objects through `/crm/v3/objects` (or the date-versioned
//! `/crm/objects/2026-03`), links through v4 associations, ticket and deal stages through the
//! pipelines API. See [`HubSpotBuilder`] for configuration, capabilities and limits.
//!
//! ```no_run
//! # async fn demo() -> crm_core::Result<()> {
//! use crm_core::{Crm, Email, Lookup, ViewOptions};
//! use crm_hubspot::HubSpotBuilder;
//! let crm = HubSpotBuilder::new()
//!     .with_token(std::env::var("HUBSPOT_TOKEN").unwrap_or_default().into())
//!     .build()?;
//! let lookup = Lookup::Email(Email::parse("jane@example.com")?);
//! let view = crm.customer_view(&lookup, &ViewOptions::default()).await?;
//! # Ok(()) }
//! ```

mod backend;
mod batch;
pub mod config;
mod core;
mod credential;
pub mod limits;
mod lister;
mod logs;
mod mapping;
mod objects;
mod pipelines;
mod props;
mod reads;
mod records;
pub mod schema;
mod search;
mod view;
pub mod webhook;

pub use backend::{HubSpot, HubSpotBuilder, VENDOR};
pub use config::{AppKind, ConversationLogAs, HubSpotConfig, HubSpotConfigKey, PathFamily};
pub use core::HubSpotErrorParser;
pub use credential::{HubSpotOAuth, TOKEN_PATH, oauth};
pub use logs::CONVERSATION_LOG_MARKER;
pub use mapping::{
    DEFAULT_MAPPING, KNOWN_FIELDS, MAPPING_TARGETS, MappingTarget, default_mapping, known_fields,
};
pub use records::HubRecords;
pub use webhook::HubSpotWebhook;

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::HubSpot>();
        assert_send_sync::<crate::HubSpotBuilder>();
        assert_send_sync::<crate::HubSpotOAuth>();
        assert_send_sync::<crate::HubSpotErrorParser>();
    }
}
