//! The org's daily API allocation, as `Sforce-Limit-Info` reports it (REST API Developer Guide,
//! "Limit Info Header"), and a reserve the bot leaves for the company's other integrations.
//!
//! Salesforce has no 429 and no per-second limit, so nothing here sleeps: once the usage the
//! org last reported reaches `(100 − reserve) %` of the allocation, requests are refused locally
//! with `RateLimited { scope: Daily }` before they are sent.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crm_core::limits::{Bucket, RateLimiter};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::HeaderMap;
use crm_core::{Error, ErrorKind, LimitScope, Result};

/// The bucket every Salesforce API request draws from.
pub const DAILY_BUCKET: Bucket = "daily";

/// One `key=used/max` entry of `Sforce-Limit-Info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitEntry {
    /// `api-usage`, `per-app-api-usage`, `api-bursts`…
    pub key: String,
    /// Calls used.
    pub used: u64,
    /// The allocation.
    pub max: u64,
    /// The parenthesised detail (`appName=sample-connected-app`), if any.
    pub detail: Option<String>,
}

/// Parses `Sforce-Limit-Info`: `;`-separated `key=used/max[(detail)]` entries. Entries that do
/// not parse are skipped.
pub fn parse_limit_info(header: &str) -> Vec<LimitEntry> {
    header
        .split(';')
        .filter_map(|part| {
            let (key, rest) = part.trim().split_once('=')?;
            let (counts, detail) = match rest.split_once('(') {
                Some((c, d)) => (c, Some(d.trim_end_matches(')').to_owned())),
                None => (rest, None),
            };
            let (used, max) = counts.trim().split_once('/')?;
            Some(LimitEntry {
                key: key.trim().to_owned(),
                used: used.trim().parse().ok()?,
                max: max.trim().parse().ok()?,
                detail,
            })
        })
        .collect()
}

/// Tracks the org's `api-usage` and refuses requests inside the reserve. Wraps the limiter the
/// caller configured (if any), which sees every call too.
pub struct DailyBudget {
    used: AtomicU64,
    max: AtomicU64,
    reserve_percent: u8,
    inner: Option<Arc<dyn RateLimiter>>,
}

impl fmt::Debug for DailyBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DailyBudget")
            .field("used", &self.used.load(Ordering::Relaxed))
            .field("max", &self.max.load(Ordering::Relaxed))
            .field("reserve_percent", &self.reserve_percent)
            .finish_non_exhaustive()
    }
}

impl DailyBudget {
    /// A budget that keeps `reserve_percent` (0–100) of the allocation free.
    pub fn new(reserve_percent: u8, inner: Option<Arc<dyn RateLimiter>>) -> Self {
        Self {
            used: AtomicU64::new(0),
            max: AtomicU64::new(0),
            reserve_percent: reserve_percent.min(100),
            inner,
        }
    }

    /// The last `api-usage` the org reported: (used, allocation); `(0, 0)` before any response.
    pub fn usage(&self) -> (u64, u64) {
        (
            self.used.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        )
    }

    fn exhausted(&self) -> bool {
        let (used, max) = self.usage();
        if max == 0 {
            return false;
        }
        let cap = max.saturating_mul(100 - u64::from(self.reserve_percent)) / 100;
        used >= cap
    }
}

#[async_trait]
impl RateLimiter for DailyBudget {
    async fn acquire(&self, bucket: Bucket, max_wait: Duration) -> Result<()> {
        if let Some(inner) = &self.inner {
            inner.acquire(bucket, max_wait).await?;
        }
        if bucket == DAILY_BUCKET && self.exhausted() {
            return Err(Error::new(
                ErrorKind::RateLimited {
                    retry_after: None,
                    scope: LimitScope::Daily,
                },
                format!(
                    "the org's daily API allocation is used up to the {} % reserve kept for other integrations",
                    self.reserve_percent
                ),
            ));
        }
        Ok(())
    }

    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap) {
        if let Some(inner) = &self.inner {
            inner.observe(bucket, status, headers);
        }
        let Some(info) = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        if let Some(api) = parse_limit_info(info)
            .into_iter()
            .find(|e| e.key == "api-usage")
        {
            self.used.store(api.used, Ordering::Relaxed);
            self.max.store(api.max, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::http::HeaderValue;

    #[test]
    fn parses_documented_and_recorded_headers() {
        let e = parse_limit_info("api-usage=8688/15000");
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].used, e[0].max), (8688, 15000));
        let e = parse_limit_info(
            "api-usage=25/5000; per-app-api-usage=17/250(appName=sample-app); api-bursts=1/750",
        );
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].detail.as_deref(), Some("appName=sample-app"));
        assert!(parse_limit_info("garbage; api-usage=x/y").is_empty());
    }

    #[tokio::test]
    async fn the_reserve_refuses_before_sending() {
        let b = DailyBudget::new(10, None);
        b.acquire(DAILY_BUCKET, Duration::ZERO).await.unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "sforce-limit-info",
            HeaderValue::from_static("api-usage=13500/15000"),
        );
        b.observe(DAILY_BUCKET, 200, &h);
        let err = b.acquire(DAILY_BUCKET, Duration::ZERO).await.unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::RateLimited {
                retry_after: None,
                scope: LimitScope::Daily
            }
        );
        h.insert(
            "sforce-limit-info",
            HeaderValue::from_static("api-usage=13499/15000"),
        );
        b.observe(DAILY_BUCKET, 200, &h);
        b.acquire(DAILY_BUCKET, Duration::ZERO).await.unwrap();
    }
}
