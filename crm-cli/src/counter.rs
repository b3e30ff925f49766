//! The request counter the bench and counted connections put in front of a vendor's limiter.
//!
//! It reads no vendor's rate-limit headers: the bench's "share of the rate limit" comes from
//! the embedded fake's own stated limit (`RunningFake::stated_limit`), and a connection file's
//! server is not asked.

use std::sync::atomic::{AtomicUsize, Ordering};

use crm_core::limits::{Bucket, RequestObserver};
use crm_core::reexports::http::HeaderMap;

/// Counts every attempt the transport makes and every limit response it sees, for any server.
/// It only watches: builders put it in front of the vendor's own limiter.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    requests: AtomicUsize,
    limited: AtomicUsize,
    client_errors: AtomicUsize,
}

impl Counter {
    /// Requests sent so far (every attempt counts).
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// `(requests, 429s, other client errors)` so far, for the bench's rows.
    #[cfg(feature = "sandbox")]
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

    fn on_response(&self, _bucket: Bucket, status: u16, _headers: &HeaderMap) {
        if status == 429 {
            self.limited.fetch_add(1, Ordering::SeqCst);
        } else if (400..500).contains(&status) && status != 404 && status != 409 {
            self.client_errors.fetch_add(1, Ordering::SeqCst);
        }
    }
}
