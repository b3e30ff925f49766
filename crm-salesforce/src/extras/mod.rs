//! What only Salesforce has: SOQL text built safely, record ids with a case checksum, writes
//! through Composite and sObject Collections, a create and the creates that link to it in one
//! Composite request, the 360° view in one Composite request, the org's
//! schema through `describe`, and Outbound Messages.

pub(crate) mod id;
mod linked;
pub(crate) mod org;
pub mod outbound;
pub(crate) mod queries;
pub mod schema;
pub(crate) mod soql;
pub(crate) mod view;
mod writes;
