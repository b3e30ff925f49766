//! Pacing from the spec's `[rate_limit]`: the default bucket at the declared rate, corrected
//! by the rate-limit headers the spec names.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crm_core::limits::{BucketConfig, DEFAULT_BUCKET, LimitHint, PacingLimiter};

use crate::config::{RateLimitSpec, Spec};

impl Spec {
    /// The limiter the spec's `[rate_limit]` asks for, if it has one: for callers that wrap the
    /// limiter (to count requests) and must keep the pacing.
    pub fn pacing(&self) -> Option<PacingLimiter> {
        self.rate_limit.as_ref().map(pacing_for)
    }
}

/// Paces the default bucket under the spec's limit, corrected by its headers if it names any.
pub(crate) fn pacing_for(rl: &RateLimitSpec) -> PacingLimiter {
    let limit = NonZeroU32::new(rl.requests).unwrap_or(NonZeroU32::MIN);
    let bucket = BucketConfig::new(DEFAULT_BUCKET, limit, Duration::from_secs(rl.per_seconds));
    let limiter = PacingLimiter::new([bucket]);
    if rl.remaining_header.is_none() && rl.reset_header.is_none() {
        return limiter;
    }
    let (remaining, reset) = (rl.remaining_header.clone(), rl.reset_header.clone());
    limiter.with_hints(Arc::new(move |_status, headers| {
        let number = |name: &Option<String>| {
            name.as_deref()
                .and_then(|n| headers.get(n))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Some(LimitHint {
            remaining: number(&remaining),
            reset_after: number(&reset).map(Duration::from_secs),
            daily: None,
            limit: None,
        })
    }))
}
