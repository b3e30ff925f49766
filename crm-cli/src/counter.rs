//! The request counter the bench and counted connections put in front of a vendor's limiter.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crm_core::limits::{Bucket, HintParser, RequestObserver};
use crm_core::reexports::http::HeaderMap;

/// Counts every attempt the transport makes and every limit response it sees, for any server.
/// It only watches: builders put it in front of the vendor's own limiter.
#[derive(Default)]
pub(crate) struct Counter {
    requests: AtomicUsize,
    limited: AtomicUsize,
    client_errors: AtomicUsize,
    /// The short-window limit the server last stated, as `(requests, window)`.
    stated: Mutex<Option<(u64, Duration)>>,
    /// Reads a stated limit from response headers (HubSpot's `X-HubSpot-RateLimit-Max` per
    /// `-Interval-Milliseconds`; other vendors send neither header, and state none).
    hints: Option<HintParser>,
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("requests", &self.requests)
            .field("limited", &self.limited)
            .field("client_errors", &self.client_errors)
            .finish_non_exhaustive()
    }
}

impl Counter {
    /// A counter that also learns the rate limit servers state in their headers.
    pub(crate) fn new() -> Self {
        Self {
            hints: Some(crm_hubspot::limits::hints()),
            ..Self::default()
        }
    }

    /// Requests sent so far (every attempt counts).
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The short-window limit the server last stated, if any.
    pub(crate) fn stated_limit(&self) -> Option<(u64, Duration)> {
        *self
            .stated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn snapshot(&self) -> (usize, usize, usize) {
        (
            self.requests.load(Ordering::SeqCst),
            self.limited.load(Ordering::SeqCst),
            self.client_errors.load(Ordering::SeqCst),
        )
    }
}

impl RequestObserver for Counter {
    fn on_send(&self, _bucket: Bucket) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }

    fn on_response(&self, _bucket: Bucket, status: u16, headers: &HeaderMap) {
        if status == 429 {
            self.limited.fetch_add(1, Ordering::SeqCst);
        } else if (400..500).contains(&status) && status != 404 && status != 409 {
            self.client_errors.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(limit) = self
            .hints
            .as_ref()
            .and_then(|parse| parse(status, headers))
            .and_then(|h| h.limit)
        {
            *self
                .stated
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(limit);
        }
    }
}
