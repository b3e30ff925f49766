//! Bounded memory of what was already seen: repeats of a delivery, and events older than the
//! newest one seen for a record.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::CrmEvent;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keys by when they were last seen, and the sightings in arrival order.
type Seen = (HashMap<String, Instant>, VecDeque<(Instant, String)>);

/// Remembers dedupe keys for `ttl`, holding at most `capacity` of them (the oldest are
/// forgotten first), so that memory stays bounded under any delivery rate.
#[derive(Debug)]
pub struct Deduper {
    ttl: Duration,
    capacity: usize,
    state: Mutex<Seen>,
}

impl Deduper {
    /// Keys are remembered for `ttl` (make it longer than the vendor's retry window: HubSpot
    /// retries for 24 hours), at most `capacity` at once.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            state: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// `true` the first time a key is seen (within the TTL), `false` for a repeat.
    pub fn first_time(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut guard = lock(&self.state);
        let (seen, order) = &mut *guard;
        while let Some((at, k)) = order.front() {
            let expired = now.duration_since(*at) > self.ttl;
            if !expired && order.len() < self.capacity {
                break;
            }
            // Only forget the key if this queue entry is its latest sighting.
            if seen.get(k) == Some(at) {
                seen.remove(k);
            }
            order.pop_front();
        }
        if seen.contains_key(key) {
            return false;
        }
        seen.insert(key.to_owned(), now);
        order.push_back((now, key.to_owned()));
        true
    }

    /// Forgets a key, so that a redelivery is processed again (after the receiver failed to
    /// hand an event on and answered non-2xx).
    pub fn forget(&self, key: &str) {
        lock(&self.state).0.remove(key);
    }
}

/// The newest `occurred_at` seen per record, so that a late old event does not overwrite a newer
/// state. Bounded: past `capacity` records, the least recently updated are forgotten.
#[derive(Debug)]
pub struct LastSeen {
    capacity: usize,
    state: Mutex<HashMap<String, (DateTime<Utc>, u64)>>,
    tick: Mutex<u64>,
}

impl LastSeen {
    /// Tracks up to `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(HashMap::new()),
            tick: Mutex::new(0),
        }
    }

    /// `true` if the event is at least as new as anything seen for its record (and records it);
    /// `false` for an event older than one already applied.
    pub fn is_current(&self, event: &CrmEvent) -> bool {
        let key = format!("{}/{}/{}", event.connection, event.object, event.record_id);
        let tick = {
            let mut t = lock(&self.tick);
            *t += 1;
            *t
        };
        let mut seen = lock(&self.state);
        if let Some((newest, _)) = seen.get(&key)
            && event.occurred_at < *newest
        {
            return false;
        }
        seen.insert(key, (event.occurred_at, tick));
        if seen.len() > self.capacity
            && let Some(oldest) = seen
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
        {
            seen.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Change, RawPayload};
    use crate::model::RecordId;

    fn event(id: &str, at_ms: i64) -> CrmEvent {
        CrmEvent {
            connection: "c".into(),
            vendor: "v".into(),
            kind: None,
            object: "contact".into(),
            record_id: RecordId::new(id).unwrap(),
            change: Change::Updated { fields: vec![] },
            occurred_at: DateTime::from_timestamp_millis(at_ms).unwrap(),
            dedupe_key: format!("{id}-{at_ms}"),
            raw: RawPayload::none(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn repeats_are_dropped_within_the_ttl_and_memory_is_bounded() {
        let d = Deduper::new(Duration::from_secs(60), 3);
        assert!(d.first_time("a"));
        assert!(!d.first_time("a"));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(d.first_time("a"));
        for k in ["b", "c", "d", "e"] {
            assert!(d.first_time(k));
        }
        assert!(lock(&d.state).0.len() <= 3);
        d.forget("e");
        assert!(d.first_time("e"));
    }

    #[test]
    fn late_old_events_are_not_current() {
        let l = LastSeen::new(10);
        assert!(l.is_current(&event("1", 2000)));
        assert!(!l.is_current(&event("1", 1000)));
        assert!(l.is_current(&event("1", 2000)));
        assert!(l.is_current(&event("2", 1000)));
        let small = LastSeen::new(2);
        for i in 0..10 {
            small.is_current(&event(&i.to_string(), 5));
        }
        assert!(lock(&small.state).len() <= 2);
    }
}
