//! # crm-hubspot
//!
//! A crm-connect adapter for HubSpot's CRM API: contacts ↔ `Contact`, companies ↔ `Account`,
//! deals ↔ `Opportunity`, tickets ↔ `Ticket`, notes / tasks / calls ↔ `Activity`, and leads as
//! contacts in lifecycle stage `lead`. Objects through `/crm/v3/objects` (or the date-versioned
//! `/crm/objects/2026-03`), links through v4 associations, ticket and deal stages through the
//! pipelines API. See [`HubSpotBuilder`] for configuration, capabilities and limits.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> crm_core::Result<()> {
//! # // Runs against the HubSpot fake on 127.0.0.1, a stock portal with the demo customer.
//! # let fake = crm_testkit::hubspot::HubSpotFake::start(Default::default()).await;
//! use crm_core::{Crm, Email, Lookup, ViewOptions};
//! use crm_hubspot::HubSpotBuilder;
//! let token = std::env::var("HUBSPOT_TOKEN").unwrap_or_default();
//! # let token = fake.token().to_owned();
//! let crm = HubSpotBuilder::new()
//!     .with_token(token.into())
//! #   .with_base_url(fake.base_url())
//!     .build()?;
//! let lookup = Lookup::Email(Email::parse("jane.doe@example.com")?);
//! let view = crm.customer_view(&lookup, &ViewOptions::default()).await?;
//! # let view = view.expect("the demo customer has a view");
//! # assert_eq!(view.contact.id.as_str(), crm_testkit::hubspot::demo::CUSTOMER_CONTACT_ID);
//! # assert!(!view.open_tickets.is_empty());
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
