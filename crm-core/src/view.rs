//! The 360° view of a customer: contact, account, open opportunities, open tickets and the latest
//! activities, loaded with concurrent calls.

use serde::Serialize;

use crate::api::{Crm, Lookup};
use crate::error::{ErrorKind, Result};
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

impl CustomerView {
    /// Loads the view through the record families: one lookup, then the account, open
    /// opportunities, open tickets and latest activities concurrently.
    ///
    /// Returns `Ok(None)` when no contact matches. When several match, the first (the adapter
    /// orders them most recently changed first) is used and the others are listed in
    /// [`CustomerView::other_matches`]. An account id that no longer resolves gives no account
    /// rather than an error; any other failure fails the load.
    pub async fn load<C: Crm + ?Sized>(
        crm: &C,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<Self>> {
        let mut matches = crm.contacts().find_by(lookup).await?.into_iter();
        let Some(contact) = matches.next() else {
            return Ok(None);
        };
        let other_matches = matches.map(|r| r.id).collect();
        let me = contact.to_ref();

        let account = async {
            match &contact.account_id {
                None => Ok(None),
                Some(id) => match crm.accounts().get(id).await {
                    Ok(account) => Ok(Some(account)),
                    Err(e) if e.kind() == &ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                },
            }
        };
        let opportunities = async {
            if options.opportunities == 0 {
                return Ok(Vec::new());
            }
            crm.opportunities()
                .open_for(&me, options.opportunities)
                .await
        };
        let tickets = async {
            if options.tickets == 0 {
                return Ok(Vec::new());
            }
            crm.tickets().open_for(&me, options.tickets).await
        };
        let activities = async {
            if options.activities == 0 {
                return Ok(Vec::new());
            }
            crm.activities().latest_for(&me, options.activities).await
        };
        let (account, open_opportunities, open_tickets, recent_activities) =
            futures::try_join!(account, opportunities, tickets, activities)?;

        Ok(Some(Self {
            contact,
            other_matches,
            account,
            open_opportunities,
            open_tickets,
            recent_activities,
        }))
    }
}
