//! Creates that follow another: a record and the records linked to it (a ticket and the note
//! on it, written in one conversation), written together by [`crate::Crm::create_linked`].
//!
//! The children need the parent's record id, which exists only once the parent is created. The
//! default ([`crate::api::create_in_order`]) creates the parent, then the children with its id, in the same
//! call; an adapter whose vendor can reference a record created earlier in the same request
//! sends the whole group as one request (Salesforce: one Composite request with
//! `@{parent.id}`; see [`crate::raw::Backend::write_linked`]).

use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    Account, Activity, Contact, Entity, FieldMap, Lead, ObjectKind, Opportunity, RecordId,
    RecordRef, Ticket,
};
use crate::write_context::{Actor, IdempotencyKey, WriteContext};

/// A record of any kind, for calls that write several kinds at once.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyEntity {
    /// A contact.
    Contact(Contact),
    /// An account.
    Account(Account),
    /// A lead.
    Lead(Lead),
    /// An opportunity.
    Opportunity(Opportunity),
    /// A ticket.
    Ticket(Ticket),
    /// An activity.
    Activity(Activity),
}

macro_rules! any_entity_from {
    ($($t:ident),*) => {$(
        impl From<$t> for AnyEntity {
            fn from(value: $t) -> Self {
                Self::$t(value)
            }
        }
    )*};
}
any_entity_from!(Contact, Account, Lead, Opportunity, Ticket, Activity);

/// The field of a `child` record that holds its link to a `parent` record, as the records
/// serialise (`who`/`what` for an activity, `account_id`, `contact_id`); `None` when a `child`
/// cannot be linked to a `parent`. In common field names the link is always the parent kind's
/// [`ObjectKind::link_field`] (`ticket_id`, `contact_id`).
pub fn link_slot(child: ObjectKind, parent: ObjectKind) -> Option<&'static str> {
    use ObjectKind::{Account, Activity, Contact, Lead, Opportunity, Ticket};
    match (child, parent) {
        (Activity, Contact | Lead) => Some("who"),
        (Activity, Ticket | Opportunity | Account) => Some("what"),
        (Contact, Account) => Some("account_id"),
        (Lead, Contact) => Some("contact_id"),
        (Opportunity | Ticket, Contact) => Some("contact_id"),
        (Opportunity | Ticket, Account) => Some("account_id"),
        _ => None,
    }
}

impl AnyEntity {
    /// The record's kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Contact(_) => ObjectKind::Contact,
            Self::Account(_) => ObjectKind::Account,
            Self::Lead(_) => ObjectKind::Lead,
            Self::Opportunity(_) => ObjectKind::Opportunity,
            Self::Ticket(_) => ObjectKind::Ticket,
            Self::Activity(_) => ObjectKind::Activity,
        }
    }

    /// The record's common fields ([`Entity::to_fields`]).
    pub fn to_fields(&self) -> FieldMap {
        match self {
            Self::Contact(e) => e.to_fields(),
            Self::Account(e) => e.to_fields(),
            Self::Lead(e) => e.to_fields(),
            Self::Opportunity(e) => e.to_fields(),
            Self::Ticket(e) => e.to_fields(),
            Self::Activity(e) => e.to_fields(),
        }
    }

    /// Links this record to `parent` in the field [`link_slot`] names: an activity's `who`
    /// (a contact or lead) or `what` (a ticket, opportunity or account), a contact's
    /// `account_id`, a lead's `contact_id`, a ticket's or opportunity's `contact_id` or
    /// `account_id`. `InvalidInput` when this kind cannot be linked to the parent's.
    pub fn link_to(&mut self, parent: &RecordRef) -> Result<()> {
        let kind = self.kind();
        let unlinkable =
            || Error::invalid_input(format!("a {kind} cannot be linked to a {}", parent.kind));
        let id = Some(parent.id.clone());
        match (&mut *self, parent.kind) {
            (Self::Activity(a), ObjectKind::Contact | ObjectKind::Lead) => {
                a.who = Some(parent.clone());
            }
            (
                Self::Activity(a),
                ObjectKind::Ticket | ObjectKind::Opportunity | ObjectKind::Account,
            ) => a.what = Some(parent.clone()),
            (Self::Contact(c), ObjectKind::Account) => c.account_id = id,
            (Self::Lead(l), ObjectKind::Contact) => l.contact_id = id,
            (Self::Ticket(t), ObjectKind::Contact) => t.contact_id = id,
            (Self::Ticket(t), ObjectKind::Account) => t.account_id = id,
            (Self::Opportunity(o), ObjectKind::Contact) => o.contact_id = id,
            (Self::Opportunity(o), ObjectKind::Account) => o.account_id = id,
            _ => return Err(unlinkable()),
        }
        Ok(())
    }
}

/// One create of a linked group: the record and its own context (who it is for, and the
/// idempotency key that makes it safe to send again).
#[derive(Debug, Clone)]
pub struct LinkedCreate {
    /// The record to create. A child's link to the parent is set by the call.
    pub entity: AnyEntity,
    /// Its actor and idempotency key.
    pub ctx: WriteContext,
}

impl LinkedCreate {
    /// A create of `entity` by `actor`, without an idempotency key.
    pub fn new(entity: impl Into<AnyEntity>, actor: Actor) -> Self {
        Self {
            entity: entity.into(),
            ctx: WriteContext::new(actor),
        }
    }

    /// Sets the idempotency key (each write of a group has its own).
    #[must_use]
    pub fn with_idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.ctx.idempotency_key = Some(key);
        self
    }
}

/// What [`crate::Crm::create_linked`] did, per write: the parent's record id or error, and each
/// child's, in input order.
#[derive(Debug, Clone)]
pub struct LinkedCreated {
    /// The parent.
    pub parent: Result<RecordId>,
    /// The children, in input order.
    pub children: Vec<Result<RecordId>>,
}

/// The error of a child that was not sent, or was rolled back, because the record it links to
/// was not created (`why`). The vendor certainly did not keep it
/// ([`Error::certainly_not_processed`]): it may be sent again once the parent exists. Its kind
/// is the parent's when that one is worth retrying (a rate limit, an outage), else
/// `Unexpected`.
pub fn not_sent(parent: ObjectKind, why: &Error) -> Error {
    let kind = if why.is_retryable() {
        why.kind().clone()
    } else {
        ErrorKind::Unexpected
    };
    Error::new(
        kind,
        format!("not written: the {parent} it links to was not created ({why})"),
    )
    .with_not_processed()
}

/// The error of a write the vendor rolled back because another write of the same all-or-none
/// request failed: nothing was kept, and sent again without the failing write it succeeds, so
/// it is an `Unavailable` error the vendor certainly did not carry out.
pub fn rolled_back(operation: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "rolled back: another write of the same all-or-none request failed",
    )
    .with_not_processed()
    .with_operation(operation.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn issue14_link_to_sets_the_field_link_slot_names_and_refuses_the_rest() {
        let id = RecordId::new("500").unwrap();
        for parent in ObjectKind::ALL {
            for child in [
                AnyEntity::from(Contact::default()),
                Account::default().into(),
                Lead::default().into(),
                Opportunity::default().into(),
                Ticket::default().into(),
                Activity::default().into(),
            ] {
                let mut linked = child.clone();
                let result = linked.link_to(&RecordRef::new(parent, id.clone()));
                let slot = link_slot(child.kind(), parent);
                assert_eq!(
                    result.is_ok(),
                    slot.is_some(),
                    "{} -> {parent}",
                    child.kind()
                );
                if result.is_ok() {
                    // In common fields the link is the parent kind's link field.
                    let fields = linked.to_fields();
                    assert_eq!(
                        fields.get(parent.link_field()),
                        Some(&crate::FieldValue::Text("500".to_owned())),
                        "{} -> {parent}",
                        child.kind()
                    );
                }
            }
        }
    }
}
