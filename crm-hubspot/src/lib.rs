//! # crm-hubspot
//!
//! A crm-connect adapter for HubSpot's CRM API: contacts ↔ `Contact`, companies ↔ `Account`,
//! deals ↔ `Opportunity`, tickets ↔ `Ticket`, notes / tasks / calls ↔ `Activity`, and leads as
//! contacts in lifecycle stage `lead`. Objects through `/crm/v3/objects` (or the date-versioned
//! `/crm/objects/2026-03`), links through v4 associations, ticket and deal stages through the
//! pipelines API. See [`HubSpotBuilder`] for configuration, capabilities and limits.
//!
//! The adapter is HubSpot's hooks on core's [`crm_core::raw::Connection`]: `backend.rs` (the
//! builder and core's `Backend` on [`HubSpotBackend`], whose fields are in `state.rs`),
//! `wire.rs` (HubSpot JSON ↔ vendor records), `error.rs`, `lister.rs` (list and search pages), and `extras/` for what only HubSpot has (pipelines,
//! search by phone, associations, batches matched by trace id, the two-round-trip view).
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
pub mod config;
mod connector;
mod credential;
mod error;
mod extras;
pub mod limits;
mod lister;
mod state;
/// This adapter's fake, for tools that start fakes by vendor name (feature `testkit`).
pub mod testkit;
pub mod webhook;
mod wire;

pub use backend::{HubSpot, HubSpotBackend, HubSpotBuilder};
pub use config::{AppKind, ConversationLogAs, HubSpotConfig, HubSpotConfigKey, PathFamily};
pub use connector::{HubSpotConnector, connector};
pub use credential::{HubSpotOAuth, TOKEN_PATH, oauth};
pub use error::HubSpotErrorParser;
pub use extras::create_or_update_contact;
pub use extras::logs::CONVERSATION_LOG_MARKER;
pub use extras::objects::MappingTarget;
pub use extras::schema;
pub use webhook::HubSpotWebhook;

crm_core::adapter_facts! {
    vendor: "hubspot",
    targets: [
        contact => Contact,
        account => Account,
        lead => Lead,
        opportunity => Opportunity,
        ticket => Ticket,
        note => Activity,
        task => Activity,
        call => Activity,
    ],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::HubSpot>();
        assert_send_sync::<crate::HubSpotBuilder>();
        assert_send_sync::<crate::HubSpotOAuth>();
        assert_send_sync::<crate::HubSpotErrorParser>();
    }

    #[test]
    fn the_shipped_default_covers_every_target_with_default_properties() {
        let defaults = default_mapping().unwrap();
        let known = known_fields().unwrap();
        for target in MappingTarget::ALL {
            let table = &defaults[target.as_str()];
            for vendor in table.fields.values() {
                assert_eq!(known.judge(target.as_str(), vendor), None, "{vendor}");
            }
            assert_eq!(target.as_str().parse::<MappingTarget>().unwrap(), target);
        }
        assert_eq!(defaults.len(), MappingTarget::ALL.len());
        assert_eq!(defaults["contact"].fields["email"], "email");
        assert_eq!(defaults["ticket"].values["priority"]["urgent"], "URGENT");
    }
}
