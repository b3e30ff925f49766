//! What this connection wrote lately, so that a read through HubSpot's search index can tell
//! which hits may be older than the connection's own writes.
//!
//! HubSpot's search index catches up with writes asynchronously (its search docs: newly
//! created or updated objects "may take a few moments" to appear), and a hit carries the
//! index's copy. A bot that closes a ticket and then shows the customer's view would read the
//! ticket as still open. Records the connection wrote within [`WINDOW`] are therefore read by
//! id, which HubSpot answers from the record itself; every other hit keeps coming from search,
//! so a view costs one more request only right after the bot's own writes. Writes by other
//! processes are not known here: their readers see what any reader of the index sees.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crm_core::Result;
use crm_core::raw::Written;
use tokio::time::Instant;

use crate::extras::objects::{HubObject, MappingTarget};
use crate::state::HubSpotBackend;

/// How long after a write its record is read by id rather than trusted from search: well past
/// the lag HubSpot's index shows in practice (seconds), short enough that the set stays small.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// At most this many records are remembered; past it, the expired ones are dropped, and if
/// the connection wrote more than this within one window, the oldest half is forgotten (those
/// records are read from search's copy again, as without this set).
const CAPACITY: usize = 4096;

/// The records this connection wrote within [`WINDOW`], by object and id.
#[derive(Debug, Default)]
pub(crate) struct RecentWrites {
    written: Mutex<HashMap<(HubObject, String), Instant>>,
}

impl RecentWrites {
    /// Notes that the record `id` of `object` was just written.
    pub(crate) fn note(&self, object: HubObject, id: &str) {
        let now = Instant::now();
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.len() >= CAPACITY {
            written.retain(|_, at| now.duration_since(*at) < WINDOW);
        }
        if written.len() >= CAPACITY {
            let mut times: Vec<Instant> = written.values().copied().collect();
            times.sort_unstable();
            let cut = times.get(times.len() / 2).copied().unwrap_or(now);
            written.retain(|_, at| *at > cut);
        }
        written.insert((object, id.to_owned()), now);
    }

    /// Whether the record `id` of `object` was written by this connection within [`WINDOW`].
    pub(crate) fn is_recent(&self, object: HubObject, id: &str) -> bool {
        let written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        written
            .get(&(object, id.to_owned()))
            .is_some_and(|at| at.elapsed() < WINDOW)
    }
}

impl HubSpotBackend {
    /// Notes a deal or ticket this connection wrote (the view reads other kinds by id anyway).
    pub(crate) fn note_written(&self, written: &Result<Written>) {
        if let Ok(w) = written
            && let Some(target) = MappingTarget::named(w.record.target)
            && matches!(target, MappingTarget::Ticket | MappingTarget::Opportunity)
        {
            self.recent.note(target.object(), w.record.id.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_is_recent_for_one_window_and_per_object() {
        let recent = RecentWrites::default();
        recent.note(HubObject::Tickets, "5001");
        assert!(recent.is_recent(HubObject::Tickets, "5001"));
        assert!(!recent.is_recent(HubObject::Deals, "5001"));
        assert!(!recent.is_recent(HubObject::Tickets, "5002"));
        tokio::time::advance(WINDOW).await;
        assert!(!recent.is_recent(HubObject::Tickets, "5001"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_set_stays_bounded_and_keeps_the_newest() {
        let recent = RecentWrites::default();
        for i in 0..CAPACITY * 3 {
            if i % 64 == 0 {
                tokio::time::advance(Duration::from_millis(1)).await;
            }
            recent.note(HubObject::Tickets, &i.to_string());
        }
        let len = recent.written.lock().unwrap().len();
        assert!(len <= CAPACITY, "{len}");
        let newest = (CAPACITY * 3 - 1).to_string();
        assert!(recent.is_recent(HubObject::Tickets, &newest));
    }
}
