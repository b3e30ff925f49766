//! The vendor-neutral model: records, ids, typed values, statuses and personal data.

mod entities;
mod field_list;
pub mod fields;
mod id;
mod personal;
mod status;
mod value;

pub use entities::{
    Account, Activity, ActivityKind, Contact, Entity, Lead, Opportunity, Record, Ticket,
};
pub use field_list::FieldList;
pub use id::{ObjectKind, RecordId, RecordRef};
pub(crate) use personal::warm_up_phone_metadata;
pub use personal::{Email, Personal, Phone, Region};
pub use status::{LeadState, OpportunityState, State, Status, TaskState, TicketState};
pub use value::{FieldMap, FieldValue, Number};
