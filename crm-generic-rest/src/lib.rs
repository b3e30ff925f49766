//! # crm-generic-rest
//!
//! A crm-connect adapter for a company's own REST CRM. Nothing about the CRM is hard-coded: a
//! declarative spec file (TOML) gives the base URL, auth, per-object paths and methods, the id
//! field, field names and status values, lookup parameters, the paging style (cursor, offset,
//! page number or `Link` header) and where the error body keeps its details. The default spec
//! describes the embedded sandbox CRM; the format is documented on [`GenericRestBuilder`].
//!
//! ```no_run
//! # async fn demo() -> crm_core::Result<()> {
//! use crm_core::{Crm, Email, Lookup, ViewOptions};
//! use crm_generic_rest::GenericRestBuilder;
//! let crm = GenericRestBuilder::new()
//!     .with_spec_file("specs/acme.toml")
//!     .with_base_url("https://crm.acme.example/api/v2")
//!     .with_token(std::env::var("ACME_CRM_TOKEN").unwrap_or_default().into())
//!     .build()?;
//! let lookup = Lookup::Email(Email::parse("jane@example.com")?);
//! let view = crm.customer_view(&lookup, &ViewOptions::default()).await?;
//! # Ok(()) }
//! ```

mod backend;
pub mod config;
mod error;
mod limits;
mod lister;
mod schema;
mod webhook;
mod wire;

pub use backend::{GenericRest, GenericRestBuilder, RestBackend, VENDOR};
pub use config::{DEFAULT_MAPPING, DEFAULT_SPEC, Spec};
pub use webhook::GenericWebhook;

/// The mapping targets of a generic REST connection: one per common kind, named like it.
pub const MAPPING_TARGETS: &[crm_core::raw::Target] = &[
    ("contact", crm_core::ObjectKind::Contact),
    ("account", crm_core::ObjectKind::Account),
    ("lead", crm_core::ObjectKind::Lead),
    ("opportunity", crm_core::ObjectKind::Opportunity),
    ("ticket", crm_core::ObjectKind::Ticket),
    ("activity", crm_core::ObjectKind::Activity),
];
