//! # crm-connect
//!
//! One dependency for a support bot's backend: the vendor-neutral API of
//! [`crm_core`] (re-exported at this crate's root) and the adapters chosen by cargo feature —
//! `hubspot`, `salesforce`, `generic-rest`, `pipedrive` — with the durable `outbox` and the change `events`
//! from core. All are on by default; `default-features = false, features = ["hubspot"]` builds
//! only what a HubSpot-only backend needs.
//!
//! Connections come from code (each adapter's builder) or from connection files, the same files
//! the `crm-connect` CLI reads: [`ConnectionFile`] builds one, [`Tenants`] keeps one per tenant
//! in a process, and [`connectors`] lists the adapters this build has.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> crm_connect::Result<()> {
//! use crm_connect::{Crm, Email, Lookup, ViewOptions};
//! # let sandbox = crm_testkit::sandbox::Sandbox::start(Default::default()).await;
//! # let base_url = sandbox.base_url();
//! # let token = sandbox.token().to_owned();
//! // A company's own REST CRM (here the embedded sandbox, on 127.0.0.1).
//! let crm = crm_connect::generic_rest::GenericRest::builder()
//!     .with_base_url(base_url)
//!     .with_token(token.into())
//!     .build()?;
//! let lookup = Lookup::Email(Email::parse("jane.doe@example.com")?);
//! let view = crm.customer_view(&lookup, &ViewOptions::default()).await?;
//! assert!(view.is_some(), "the sandbox holds Jane");
//! # Ok(()) }
//! ```

pub use crm_core::*;

/// The HubSpot adapter (feature `hubspot`).
#[cfg(feature = "hubspot")]
pub use crm_hubspot as hubspot;

/// The Salesforce adapter (feature `salesforce`).
#[cfg(feature = "salesforce")]
pub use crm_salesforce as salesforce;

/// The adapter for a company's own REST CRM, described by a spec file (feature
/// `generic-rest`).
#[cfg(feature = "generic-rest")]
pub use crm_generic_rest as generic_rest;

/// The Pipedrive adapter (feature `pipedrive`).
#[cfg(feature = "pipedrive")]
pub use crm_pipedrive as pipedrive;

mod file;
mod tenants;

pub use file::ConnectionFile;
pub use tenants::Tenants;

/// Every adapter this build has (one per enabled cargo feature), by the name connection files
/// give as `vendor`. Whatever differs between vendors lives in each adapter's
/// [`raw::Connector`]; nothing here names a vendor but the features.
pub fn connectors() -> Vec<&'static dyn raw::Connector> {
    [
        #[cfg(feature = "generic-rest")]
        crm_generic_rest::connector(),
        #[cfg(feature = "hubspot")]
        crm_hubspot::connector(),
        #[cfg(feature = "salesforce")]
        crm_salesforce::connector(),
        #[cfg(feature = "pipedrive")]
        crm_pipedrive::connector(),
    ]
    .to_vec()
}

/// The fakes' crate (feature `testkit`): [`testkit::RunningFake`], [`testkit::FakeOptions`]
/// and the vendors' fakes themselves.
#[cfg(feature = "testkit")]
pub use crm_testkit as testkit;

/// Every enabled adapter's fake (feature `testkit`), as [`connectors`] lists the adapters:
/// each starts its vendor's fake on 127.0.0.1 and hands out a [`raw::ConnectorConfig`] that
/// connects to it through the adapter's connector. Nothing here names a vendor but the
/// features.
#[cfg(feature = "testkit")]
pub fn fakes() -> Vec<&'static dyn crm_testkit::VendorFake> {
    [
        #[cfg(feature = "generic-rest")]
        crm_generic_rest::testkit::fake(),
        #[cfg(feature = "hubspot")]
        crm_hubspot::testkit::fake(),
        #[cfg(feature = "salesforce")]
        crm_salesforce::testkit::fake(),
        #[cfg(feature = "pipedrive")]
        crm_pipedrive::testkit::fake(),
    ]
    .to_vec()
}

/// The fake of `vendor` among [`fakes`]; an unknown name is a `Config` error listing the
/// vendors that have one.
#[cfg(feature = "testkit")]
pub fn fake(vendor: &str) -> Result<&'static dyn crm_testkit::VendorFake> {
    crm_testkit::fake::find(&fakes(), vendor)
}
