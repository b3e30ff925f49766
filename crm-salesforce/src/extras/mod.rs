//! What only Salesforce has: SOQL text built safely, record ids with a case checksum, writes
//! through Composite and sObject Collections, the 360° view in one Composite request, the org's
//! schema through `describe`, and Outbound Messages.

pub(crate) mod id;
mod instance;
pub mod outbound;
pub mod schema;
pub(crate) mod soql;
pub(crate) mod view;
mod writes;
