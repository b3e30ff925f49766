//! # crm-core
//!
//! The vendor-neutral heart of crm-connect: the model a support bot reasons in, the traits every
//! CRM adapter implements, and the machinery they share (HTTP transport, credentials, pacing,
//! retries, mapping, paging).
//!
//! A bot backend holds an `Arc<dyn Crm>` built by an adapter crate (`crm-generic-rest`,
//! `crm-hubspot`, `crm-salesforce`) and never sees vendor JSON:
//!
//! ```no_run
//! # // no_run: crm-core has no CRM to run against (the adapters and the fakes all depend on
//! # // crm-core, not the other way round). The adapters' crate docs run the same lookup
//! # // against their embedded fakes.
//! # async fn demo(crm: std::sync::Arc<dyn crm_core::Crm>) -> crm_core::Result<()> {
//! use crm_core::{Email, Lookup, ViewOptions};
//! let lookup = Lookup::Email(Email::parse("jane@example.com")?);
//! if let Some(view) = crm.customer_view(&lookup, &ViewOptions::default()).await? {
//!     println!("{} open tickets", view.open_tickets.len());
//! }
//! # Ok(()) }
//! ```
//!
//! ## Two APIs
//! - **The user API**, at the crate root and in [`model`], [`api`], [`view`], [`error`],
//!   [`outbox`]: what a bot backend calls. It never shows vendor JSON, HTTP or paging.
//! - **The adapter-author API**, in [`raw`]: the machinery an adapter crate builds on — the
//!   HTTP layer ([`raw::http`]), paging into streams, batch chunks. A bot backend does not
//!   need it; an adapter supplies its vendor's hooks (paths, JSON shapes, an
//!   [`ErrorParser`](raw::http::ErrorParser)) and leaves retries, pacing and credentials to it.
//!
//! ## Modules
//! - [`model`]: records, ids, typed values, statuses, personal data wrappers.
//! - [`api`]: the traits ([`Crm`], [`Contacts`], [`Tickets`]...) and their argument types.
//! - [`view`]: the 360° [`CustomerView`].
//! - [`credential`], [`limits`], [`retry`]: the seams the HTTP layer calls on every attempt.
//! - [`mapping`]: common ↔ vendor field mapping.
//! - [`raw`]: the adapter-author API: the shared HTTP client adapters send requests through
//!   ([`raw::http`]), paging into streams, batch chunks.
//! - [`outbox`]: the durable outbox for conversation writes.
//! - [`audit`]: the audit trail of writes; [`telemetry`]: the metrics emitted.
//! - [`redact`]: the one redactor for vendor text an operator asks to see.

pub mod api;
pub mod audit;
pub mod credential;
pub mod error;
#[cfg(feature = "events")]
pub mod events;
pub mod limits;
pub mod linked;
pub mod mapping;
pub mod model;
#[cfg(feature = "outbox")]
pub mod outbox;
pub mod raw;
pub mod redact;
pub mod retry;
pub mod telemetry;
pub mod view;
mod view_text;
mod write_context;

pub use api::{
    Accounts, Activities, Actor, BatchResult, Capabilities, Condition, Contacts, Crm, Filter,
    IdempotencyKey, Leads, ListQuery, Lookup, ObjectCapabilities, Opportunities, Page, PageStream,
    Records, Tickets, UpsertKey, Upserted, WriteContext,
};
pub use error::{Error, ErrorKind, FieldError, LimitScope, Result, VendorError};
pub use model::{
    Account, Activity, ActivityKind, Contact, Email, Entity, FieldList, FieldMap, FieldValue, Lead,
    LeadState, Number, ObjectKind, Opportunity, OpportunityState, Personal, Phone, Record,
    RecordId, RecordRef, Region, State, Status, TaskState, Ticket, TicketState,
};
pub use view::{CustomerView, ViewOptions};
pub use view_text::MaskedView;

/// Prepares, once per process and off the calling thread, what the first record read would
/// otherwise pay for inside its latency: the phone library's numbering-plan metadata. Adapters'
/// builders call it; calling it again does nothing, and nothing waits for it.
pub fn warm_up() {
    model::warm_up_phone_metadata();
}

/// Re-exports adapters and tests need so they use the same versions as core.
pub mod reexports {
    pub use async_trait::async_trait;
    pub use chrono;
    pub use futures;
    pub use http;
    pub use secrecy;
    pub use serde_json;
    pub use url;
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::Error>();
        assert_send_sync::<crate::raw::http::HttpClient>();
        assert_send_sync::<crate::Contact>();
        assert_send_sync::<crate::CustomerView>();
        assert_send_sync::<crate::credential::StaticCredential>();
        assert_send_sync::<std::sync::Arc<dyn crate::Crm>>();
    }
}
