//! The 360° view of a customer: contact, account, open opportunities, open tickets and the latest
//! activities. Plain data: [`CustomerView::load`], which composes it from the record families,
//! lives beside the traits it calls, in [`crate::api`].

use serde::Serialize;

use crate::model::{Account, Activity, Contact, Opportunity, Record, RecordId, Ticket};

/// How much of the view to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewOptions {
    /// How many of the latest activities to include. Default 5.
    pub activities: usize,
    /// At most this many open opportunities. Default 10.
    pub opportunities: usize,
    /// At most this many open tickets. Default 10.
    pub tickets: usize,
}

impl Default for ViewOptions {
    fn default() -> Self {
        Self {
            activities: 5,
            opportunities: 10,
            tickets: 10,
        }
    }
}

/// Everything the bot and the agent need to know about a customer at the start of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerView {
    /// The contact that matched.
    pub contact: Record<Contact>,
    /// Other contacts that matched the same lookup (CRMs that allow duplicates), by id.
    pub other_matches: Vec<RecordId>,
    /// The contact's account, if it has one.
    pub account: Option<Record<Account>>,
    /// Open opportunities linked to the contact.
    pub open_opportunities: Vec<Record<Opportunity>>,
    /// Open tickets linked to the contact.
    pub open_tickets: Vec<Record<Ticket>>,
    /// The latest activities linked to the contact, newest first.
    pub recent_activities: Vec<Record<Activity>>,
}
