//! Watching a connection's requests without taking over its pacing.
//!
//! A request counter (the CLI's `bench`), a metrics exporter or a test wants to see every request
//! a connection sends and every answer it gets. Handing such a thing to a builder as *the*
//! limiter replaces the vendor's own pacing (HubSpot's rolling window, the pause after a 429,
//! the `Remaining` hints), and the connection then bounces off the vendor's limits. Builders
//! instead take a [`RequestObserver`] (`with_request_observer`) and put it in front of whatever
//! limiter they would use, through [`Observed`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::HeaderMap;

use super::seam::{Bucket, RateLimiter};
use crate::error::Result;

/// Sees every request a connection sends and every response it gets; paces nothing.
pub trait RequestObserver: Send + Sync + fmt::Debug {
    /// A request from `bucket` got its permit and is about to be sent (every attempt: retries
    /// and token requests count too).
    fn on_send(&self, bucket: Bucket);

    /// A response to a request from `bucket` arrived.
    fn on_response(&self, bucket: Bucket, status: u16, headers: &HeaderMap);
}

/// A limiter that paces with the limiter it wraps (none: no pacing) and reports to an
/// observer. A request the inner limiter refuses is never sent, so it is not reported.
#[derive(Debug, Clone)]
pub struct Observed {
    inner: Option<Arc<dyn RateLimiter>>,
    observer: Arc<dyn RequestObserver>,
}

impl Observed {
    /// `observer` in front of `inner`.
    pub fn new(inner: Option<Arc<dyn RateLimiter>>, observer: Arc<dyn RequestObserver>) -> Self {
        Self { inner, observer }
    }

    /// The limiter a builder hands its transport: `limiter` itself without an observer, else
    /// the observer in front of it. For builders' `with_request_observer`.
    pub fn layer(
        limiter: Option<Arc<dyn RateLimiter>>,
        observer: Option<&Arc<dyn RequestObserver>>,
    ) -> Option<Arc<dyn RateLimiter>> {
        match observer {
            None => limiter,
            Some(o) => Some(Arc::new(Self::new(limiter, o.clone()))),
        }
    }
}

#[async_trait]
impl RateLimiter for Observed {
    async fn acquire(&self, bucket: Bucket, max_wait: Duration) -> Result<()> {
        if let Some(inner) = &self.inner {
            inner.acquire(bucket, max_wait).await?;
        }
        self.observer.on_send(bucket);
        Ok(())
    }

    fn try_acquire(&self, bucket: Bucket) -> bool {
        let granted = self.inner.as_ref().is_none_or(|l| l.try_acquire(bucket));
        if granted {
            self.observer.on_send(bucket);
        }
        granted
    }

    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap) {
        self.observer.on_response(bucket, status, headers);
        if let Some(inner) = &self.inner {
            inner.observe(bucket, status, headers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{BucketConfig, PacingLimiter};
    use std::num::NonZeroU32;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Default)]
    struct Count {
        sent: AtomicUsize,
        answers: AtomicUsize,
    }

    impl RequestObserver for Count {
        fn on_send(&self, _bucket: Bucket) {
            self.sent.fetch_add(1, Ordering::SeqCst);
        }
        fn on_response(&self, _bucket: Bucket, _status: u16, _headers: &HeaderMap) {
            self.answers.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Issue 14: observing keeps the wrapped limiter's pacing (the bench's counter used to
    /// replace it).
    #[tokio::test(start_paused = true)]
    async fn item14_an_observer_keeps_the_inner_pacing_and_sees_every_request() {
        let count = Arc::new(Count::default());
        let pacing = PacingLimiter::new([BucketConfig::new(
            "b",
            NonZeroU32::new(10).unwrap(),
            Duration::from_secs(10),
        )]);
        let observer: Arc<dyn RequestObserver> = count.clone();
        let limiter = Observed::layer(Some(Arc::new(pacing)), Some(&observer)).unwrap();
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            limiter.acquire("b", Duration::MAX).await.unwrap();
            limiter.observe("b", 200, &HeaderMap::new());
        }
        // A burst of three from idle, then 9 per 10 s: the fifth permit comes after two periods.
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(count.sent.load(Ordering::SeqCst), 5);
        assert_eq!(count.answers.load(Ordering::SeqCst), 5);
        // Without an observer the limiter is handed on as it is.
        assert!(Observed::layer(None, None).is_none());
    }
}
