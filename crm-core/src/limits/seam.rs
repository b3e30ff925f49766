//! The seam itself: what the transport calls.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use http::HeaderMap;

use crate::error::Result;

/// The bucket a request draws from. Adapters name their buckets (`"general"`, `"search"`); the
/// limiter decides what each allows.
pub type Bucket = &'static str;

/// The bucket used when a request names none.
pub const DEFAULT_BUCKET: Bucket = "default";

/// Paces requests per bucket.
///
/// # Waiting is bounded by the caller
///
/// The transport passes every [`RateLimiter::acquire`] the longest it may wait: the smaller of
/// the connection's [`crate::retry::RetryPolicy::max_retry_after`] and what is left of the
/// call's total budget ([`crate::retry::RetryPolicy::max_elapsed`]). A limiter must never wait
/// longer. When the permit cannot come within that time (a bucket paused for an hour by a 429's
/// `Retry-After`), it fails at once with [`crate::ErrorKind::RateLimited`] carrying the *real*
/// remaining wait, so that the caller (or the outbox) can schedule the work for then instead of
/// holding a task, and every other call on the client fails just as fast rather than queueing
/// behind the pause.
#[async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Waits until a request from `bucket` may be sent, for at most `max_wait`.
    ///
    /// Fails with [`crate::ErrorKind::RateLimited`] without waiting when the permit cannot come
    /// within `max_wait` (its `retry_after` is then the wait still ahead, never more than
    /// [`crate::retry::MAX_WIRE_DELAY`]), or when the budget is spent and waiting would not help
    /// (a daily budget).
    async fn acquire(&self, bucket: Bucket, max_wait: Duration) -> Result<()>;

    /// Takes a permit for `bucket` when one is free now, without waiting: `true` when taken;
    /// `false` (the default) when the caller must go through [`RateLimiter::acquire`], which
    /// then also reports any refusal. A `false` must take nothing. The transport asks this
    /// first on every attempt, so that a request that need not wait allocates no future.
    fn try_acquire(&self, bucket: Bucket) -> bool {
        let _ = bucket;
        false
    }

    /// Sees a response's status and headers, to correct the local view of the budget (and to pause
    /// the whole bucket after a 429).
    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap);
}

/// No pacing at all: for the sandbox and for servers without limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

#[async_trait]
impl RateLimiter for Unlimited {
    async fn acquire(&self, _bucket: Bucket, _max_wait: Duration) -> Result<()> {
        Ok(())
    }

    fn try_acquire(&self, _bucket: Bucket) -> bool {
        true
    }

    fn observe(&self, _bucket: Bucket, _status: u16, _headers: &HeaderMap) {}
}
