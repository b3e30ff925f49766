//! A cache of 360° views that change events keep fresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::CrmEvent;
use crate::api::{Crm, Lookup};
use crate::error::Result;
use crate::view::{CustomerView, ViewOptions};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Caches [`CustomerView`]s by lookup for a TTL, at most `capacity` of them, and drops every
/// view that mentions a record an event says changed.
#[derive(Debug)]
pub struct ViewCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, (Instant, CustomerView)>>,
}

fn key_of(lookup: &Lookup) -> String {
    match lookup {
        Lookup::Email(e) => format!("email:{}", e.expose()),
        Lookup::Phone(p) => format!("phone:{}", p.for_vendor()),
        Lookup::ExternalId(x) => format!("external_id:{x}"),
    }
}

impl ViewCache {
    /// A cache of at most `capacity` views, each kept for `ttl`.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached view for `lookup`, or a fresh one from `crm` (which is then cached).
    pub async fn get_or_load(
        &self,
        crm: &dyn Crm,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<CustomerView>> {
        let key = key_of(lookup);
        if let Some((at, view)) = lock(&self.entries).get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(view.clone()));
        }
        let view = crm.customer_view(lookup, options).await?;
        if let Some(v) = &view {
            let mut entries = lock(&self.entries);
            if entries.len() >= self.capacity
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
            entries.insert(key, (Instant::now(), v.clone()));
        }
        Ok(view)
    }

    /// Drops every cached view that contains the event's record. Returns how many were dropped.
    pub fn invalidate(&self, event: &CrmEvent) -> usize {
        let id = &event.record_id;
        let mut entries = lock(&self.entries);
        let before = entries.len();
        entries.retain(|_, (_, v)| {
            let mentions = v.contact.id == *id
                || v.other_matches.contains(id)
                || v.account.as_ref().is_some_and(|a| a.id == *id)
                || v.open_opportunities.iter().any(|o| o.id == *id)
                || v.open_tickets.iter().any(|t| t.id == *id)
                || v.recent_activities.iter().any(|a| a.id == *id)
                || v.contact.account_id.as_ref() == Some(id);
            !mentions
        });
        before - entries.len()
    }

    /// How many views are cached.
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
