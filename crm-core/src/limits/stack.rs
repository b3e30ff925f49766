//! Two limiters in a row: a connection's own (a vendor's daily budget) behind one the caller
//! shares between connections.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::HeaderMap;
use tokio::time::Instant;

use super::seam::{Bucket, RateLimiter};
use crate::error::Result;

/// A request needs a permit from `first`, then from `then`; both see every response. The two
/// waits share the one `max_wait` the transport allows.
#[derive(Debug, Clone)]
pub struct Stacked {
    first: Arc<dyn RateLimiter>,
    then: Arc<dyn RateLimiter>,
}

impl Stacked {
    /// `first`, then `then`.
    pub fn new(first: Arc<dyn RateLimiter>, then: Arc<dyn RateLimiter>) -> Self {
        Self { first, then }
    }

    /// `then` behind `first` when there is one, else `then` alone. For builders whose
    /// `with_limiter` adds to the vendor's own limiter rather than replacing it.
    pub fn layer(
        first: Option<Arc<dyn RateLimiter>>,
        then: Arc<dyn RateLimiter>,
    ) -> Arc<dyn RateLimiter> {
        match first {
            Some(first) => Arc::new(Self::new(first, then)),
            None => then,
        }
    }
}

#[async_trait]
impl RateLimiter for Stacked {
    async fn acquire(&self, bucket: Bucket, max_wait: Duration) -> Result<()> {
        let started = Instant::now();
        self.first.acquire(bucket, max_wait).await?;
        self.then
            .acquire(bucket, max_wait.saturating_sub(started.elapsed()))
            .await
    }

    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap) {
        self.first.observe(bucket, status, headers);
        self.then.observe(bucket, status, headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, LimitScope};
    use crate::limits::{BucketConfig, DailyReserve, LimitHint, PacingLimiter};
    use std::num::NonZeroU32;

    /// Issue 13: a caller's shared limiter and the vendor's daily budget both apply; both see
    /// the vendor's answers, and the second wait gets only what the first left of `max_wait`.
    #[tokio::test(start_paused = true)]
    async fn item13_both_limiters_apply_and_share_the_wait() {
        let shared = Arc::new(PacingLimiter::new([BucketConfig::new(
            "daily",
            NonZeroU32::new(10).unwrap(),
            Duration::from_secs(10),
        )]));
        let budget = Arc::new(
            PacingLimiter::new([])
                .with_hints(Arc::new(|_, _| {
                    Some(LimitHint {
                        daily: Some((95, 100)),
                        ..LimitHint::default()
                    })
                }))
                .with_daily_reserve(DailyReserve::percent(10).unwrap()),
        );
        let both = Stacked::layer(Some(shared.clone()), budget.clone());
        // The shared bucket's burst from idle (three permits) goes at once.
        for _ in 0..3 {
            both.acquire("daily", Duration::ZERO).await.unwrap();
        }
        // The shared bucket's burst is spent: its wait (~1.1 s) exceeds what the call allows.
        let err = both
            .acquire("daily", Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::RateLimited {
                scope: LimitScope::Burst,
                ..
            }
        ));
        both.observe("daily", 200, &HeaderMap::new());
        assert_eq!(budget.daily_usage(), Some((95, 100)));
        // Past the shared wait, the budget refuses: 5 % left, 10 % reserved.
        let err = both
            .acquire("daily", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::RateLimited {
                scope: LimitScope::Daily,
                ..
            }
        ));
        // Without a caller's limiter the budget stands alone.
        let alone = Stacked::layer(None, budget);
        assert!(alone.acquire("daily", Duration::ZERO).await.is_err());
    }
}
