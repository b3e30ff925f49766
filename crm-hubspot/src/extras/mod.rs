//! What only HubSpot has: its objects and association types, pipelines (ticket and deal
//! stages), search by phone, association reads, batches matched by `objectWriteTraceId`, the
//! customer view in two round trips, the properties API checks, and the conversation-log mark.

pub(crate) mod associations;
pub(crate) mod batch;
pub(crate) mod logs;
pub(crate) mod objects;
pub(crate) mod pipelines;
pub(crate) mod recent;
pub mod schema;
pub(crate) mod search;
pub(crate) mod view;

use crm_core::{Contact, Crm, ErrorKind, Result, Upserted, WriteContext};

/// Creates a contact, or updates the existing one when HubSpot answers that its email is
/// taken (409 `Contact already exists. Existing ID: N`). Search is eventually consistent, so
/// "search, then create" races into that 409; this resolves it (HubSpot/hubspot-api-php#59).
pub async fn create_or_update_contact(
    crm: &dyn Crm,
    contact: &Contact,
    ctx: &WriteContext,
) -> Result<Upserted<Contact>> {
    let (record, created) = match crm.contacts().create(contact, ctx).await {
        Ok(record) => (record, true),
        Err(e) => match e.kind() {
            ErrorKind::Conflict {
                existing_id: Some(id),
                ..
            } => (crm.contacts().update(id, contact, ctx).await?, false),
            _ => return Err(e),
        },
    };
    Ok(Upserted { record, created })
}
