//! # crm-generic-rest
//!
//! A crm-connect adapter for a company's own REST CRM. Nothing about the CRM is hard-coded: a
//! declarative spec file (TOML) gives the base URL, auth, per-object paths and methods, the id
//! field, field names and status values, lookup parameters, the paging style (cursor, offset,
//! page number or `Link` header) and where the error body keeps its details. The default spec
//! describes the embedded sandbox CRM; the format is documented on [`GenericRestBuilder`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> crm_core::Result<()> {
//! # // Runs against the sandbox CRM on 127.0.0.1 with the default spec, which describes it.
//! # let sandbox = crm_testkit::sandbox::Sandbox::start(Default::default()).await;
//! use crm_core::{Crm, Email, Lookup, ViewOptions};
//! use crm_generic_rest::GenericRestBuilder;
//! let spec = "specs/acme.toml";
//! # let spec = std::env::temp_dir().join(format!("crm-connect-doc-spec-{}.toml", std::process::id()));
//! # std::fs::write(&spec, crm_generic_rest::DEFAULT_SPEC).expect("a temporary spec file");
//! let token = std::env::var("ACME_CRM_TOKEN").unwrap_or_default();
//! # let token = sandbox.token().to_owned();
//! let crm = GenericRestBuilder::new()
//!     .with_spec_file(&spec)
//!     .with_base_url("https://crm.acme.example/api/v2")
//! #   .with_base_url(sandbox.base_url())
//!     .with_token(token.into())
//!     .build()?;
//! let lookup = Lookup::Email(Email::parse("jane.doe@example.com")?);
//! let view = crm.customer_view(&lookup, &ViewOptions::default()).await?;
//! # let _ = std::fs::remove_file(&spec);
//! # let view = view.expect("the demo customer has a view");
//! # assert_eq!(view.contact.id.as_str(), crm_testkit::sandbox::demo::CUSTOMER_CONTACT_ID);
//! # Ok(()) }
//! ```

mod backend;
pub mod config;
mod connector;
mod error;
mod limits;
mod lister;
mod schema;
/// This adapter's fake, for tools that start fakes by vendor name (feature `testkit`).
pub mod testkit;
mod webhook;
mod wire;

pub use backend::{GenericRest, GenericRestBuilder, RestBackend, VENDOR};
pub use config::{DEFAULT_MAPPING, DEFAULT_SPEC, Spec};
pub use connector::{GenericRestConnector, connector};
pub use webhook::GenericWebhook;

/// What the connector registry knows of this adapter without a connection: its default mapping
/// is the default spec's object tables (a connection's own spec may have others).
pub const FACTS: crm_core::raw::AdapterFacts = crm_core::raw::AdapterFacts::new(
    VENDOR,
    MAPPING_TARGETS,
    DEFAULT_MAPPING,
    "the spec's object tables",
);

/// The mapping targets of a generic REST connection: one per common kind, named like it.
pub const MAPPING_TARGETS: &[crm_core::raw::Target] = &[
    ("contact", crm_core::ObjectKind::Contact),
    ("account", crm_core::ObjectKind::Account),
    ("lead", crm_core::ObjectKind::Lead),
    ("opportunity", crm_core::ObjectKind::Opportunity),
    ("ticket", crm_core::ObjectKind::Ticket),
    ("activity", crm_core::ObjectKind::Activity),
];
