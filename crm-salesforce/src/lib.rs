//! # crm-salesforce
//!
//! The crm-connect adapter for Salesforce's REST API: Contacts, Accounts, Leads,
//! Opportunities, Cases (tickets) and Tasks/Events (activities) on `/services/data/vNN.N/`,
//! lookups through escaped SOQL, the 360° view in one Composite request, writes with
//! ext-id upserts and sObject Collections, and OAuth with the refresh-token,
//! client-credentials and JWT bearer flows. See [`SalesforceBuilder`] for the capabilities,
//! configuration keys and known limits. Vendor source: Salesforce's REST API Developer Guide.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> crm_core::Result<()> {
//! # // Runs against the Salesforce fake on 127.0.0.1 (its login server is the My Domain).
//! # let org = crm_testkit::salesforce::SalesforceFake::start(Default::default()).await;
//! use crm_core::{Crm, Email, Lookup, ViewOptions};
//! use crm_salesforce::SalesforceBuilder;
//! let secret = std::env::var("SF_SECRET").unwrap_or_default();
//! # let secret = org.config().client_secret.clone();
//! # let fake_secret = secret.clone();
//! let crm = SalesforceBuilder::new()
//!     .with_client_credentials("3MVG9…consumer-key", secret.into())
//! #   .with_client_credentials(org.config().client_id.clone(), fake_secret.into())
//!     .with_login_url("https://acme.my.salesforce.com")
//! #   .with_login_url(org.login_url())
//!     .build()?;
//! let view = crm
//!     .customer_view(&Lookup::Email(Email::parse("jane.doe@example.com")?), &ViewOptions::default())
//!     .await?;
//! # let view = view.expect("the demo customer has a view");
//! # assert_eq!(view.contact.id.as_str(), crm_testkit::salesforce::demo::CUSTOMER_CONTACT_ID);
//! # assert!(!view.open_opportunities.is_empty());
//! # Ok(()) }
//! ```

mod backend;
pub mod config;
mod connector;
pub mod credential;
mod error;
pub mod extras;
pub mod limits;
mod lister;
/// This adapter's fake, for tools that start fakes by vendor name (feature `testkit`).
pub mod testkit;
mod wire;

pub use backend::{Salesforce, SalesforceBuilder};
pub use config::{SalesforceConfig, SalesforceConfigKey};
pub use connector::{SalesforceConnector, connector};
pub use credential::{Grant, JwtKey, SalesforceCredentials};
pub use crm_core::raw::SetupCheck;
pub use extras::org::SalesforceBackend;
pub use extras::outbound::{self, OutboundMessages};
pub use extras::schema;
pub use limits::{DAILY_BUCKET, LimitEntry, parse_limit_info};

crm_core::adapter_facts! {
    vendor: "salesforce",
    targets: [
        contact => Contact,
        account => Account,
        lead => Lead,
        opportunity => Opportunity,
        ticket => Ticket,
        task => Activity,
        event => Activity,
    ],
}

/// The API version used unless configured (`vNN.N`).
pub const DEFAULT_API_VERSION: &str = "v62.0";

/// Parses a failed Salesforce response the way a connection does: the error array
/// `[{message, errorCode, fields}]` mapped to an error kind with the fields named, anything else
/// (an HTML page from the edge, an empty body) by its status. For tools and golden tests.
pub fn parse_error(
    status: u16,
    headers: &crm_core::reexports::http::HeaderMap,
    body: &[u8],
) -> crm_core::Error {
    use crm_core::raw::http::{ErrorParser, ErrorResponse};
    let status = crm_core::reexports::http::StatusCode::from_u16(status)
        .unwrap_or(crm_core::reexports::http::StatusCode::BAD_GATEWAY);
    error::SalesforceErrorParser.parse_error(&ErrorResponse {
        status,
        headers,
        body,
        correlation_id: None,
    })
}

/// Parses an sObject Collections result (`[{id, success, errors:[{statusCode, message,
/// fields}]}]`) into one outcome per record: the written record's 18-character id, or the
/// error Salesforce gave for it. A body that is not such an array is a `Decode` error.
pub fn parse_collections_result(
    body: &[u8],
) -> crm_core::Result<Vec<crm_core::Result<crm_core::RecordId>>> {
    wire::parse_collections(body)
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::Salesforce>();
        assert_send_sync::<crate::SalesforceBackend>();
        assert_send_sync::<crate::SalesforceBuilder>();
        assert_send_sync::<crate::SalesforceCredentials>();
        assert_send_sync::<crate::SalesforceConfig>();
    }
}
