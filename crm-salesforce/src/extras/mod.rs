//! What only Salesforce has: SOQL text built safely, record ids with a case checksum, writes
//! through Composite and sObject Collections, the 360° view in one Composite request, the org's
//! schema through `describe`, and Outbound Messages.

pub(crate) mod id;
pub(crate) mod org;
pub mod outbound;
pub(crate) mod queries;
pub mod schema;
pub(crate) mod soql;
pub(crate) mod view;
mod writes;
