//! The seam itself: what the transport calls.

use std::fmt;

use async_trait::async_trait;
use http::HeaderMap;

use crate::error::Result;

/// The bucket a request draws from. Adapters name their buckets (`"general"`, `"search"`); the
/// limiter decides what each allows.
pub type Bucket = &'static str;

/// The bucket used when a request names none.
pub const DEFAULT_BUCKET: Bucket = "default";

/// Paces requests per bucket.
#[async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Waits until a request from `bucket` may be sent, or fails with
    /// [`crate::ErrorKind::RateLimited`] when the budget is spent and waiting would not help
    /// (a daily budget).
    async fn acquire(&self, bucket: Bucket) -> Result<()>;

    /// Sees a response's status and headers, to correct the local view of the budget (and to pause
    /// the whole bucket after a 429).
    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap);
}

/// No pacing at all: for the sandbox and for servers without limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

#[async_trait]
impl RateLimiter for Unlimited {
    async fn acquire(&self, _bucket: Bucket) -> Result<()> {
        Ok(())
    }

    fn observe(&self, _bucket: Bucket, _status: u16, _headers: &HeaderMap) {}
}
