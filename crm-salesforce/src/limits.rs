//! The org's daily API allocation, as `Sforce-Limit-Info` reports it (REST API Developer Guide,
//! "Limit Info Header"), and a reserve the bot leaves for the company's other integrations.
//!
//! Salesforce has no 429 and no per-second limit, so nothing here sleeps: the header is a hint
//! for core's [`PacingLimiter`], whose daily reserve refuses requests locally with
//! `RateLimited { scope: Daily }` once the usage the org last reported reaches
//! `(100 − reserve) %` of the allocation.

use std::sync::Arc;

use crm_core::Result;
use crm_core::limits::{Bucket, DailyReserve, HintParser, LimitHint, PacingLimiter};
use crm_core::reexports::http::HeaderMap;

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

/// Reads `Sforce-Limit-Info`'s `api-usage=used/max` into core's hint: the org's daily
/// allocation and what it has used. Salesforce states no per-window limit and sends no 429, so
/// the hint carries only the daily budget.
pub fn hints() -> HintParser {
    Arc::new(|_status, headers: &HeaderMap| {
        let info = headers.get("sforce-limit-info")?.to_str().ok()?;
        let api = parse_limit_info(info)
            .into_iter()
            .find(|e| e.key == "api-usage")?;
        Some(LimitHint {
            daily: Some((api.used, api.max)),
            ..LimitHint::default()
        })
    })
}

/// The org's daily budget: core's pacing with no per-window bucket, following
/// [`hints`], refusing locally with `RateLimited { scope: Daily }` once usage reaches
/// `(100 − reserve_percent) %` of the allocation. Nothing here sleeps.
pub fn daily_budget(reserve_percent: u8) -> Result<PacingLimiter> {
    Ok(PacingLimiter::new([])
        .with_hints(hints())
        .with_daily_reserve(DailyReserve::percent(reserve_percent)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::limits::RateLimiter;
    use crm_core::reexports::http::HeaderValue;
    use crm_core::{ErrorKind, LimitScope};
    use std::time::Duration;

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

    /// Issue 13: the daily budget is core's pacing fed by the `Sforce-Limit-Info` hint; it
    /// refuses from `(100 − reserve) %` used, before sending.
    #[tokio::test]
    async fn item13_the_reserve_refuses_before_sending_through_core_pacing() {
        let b = daily_budget(10).unwrap();
        b.acquire(DAILY_BUCKET, Duration::ZERO).await.unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "sforce-limit-info",
            HeaderValue::from_static("api-usage=13500/15000; per-app-api-usage=17/250(appName=x)"),
        );
        b.observe(DAILY_BUCKET, 200, &h);
        assert_eq!(b.daily_usage(), Some((13_500, 15_000)));
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
        // A response without the header keeps the last usage.
        b.observe(DAILY_BUCKET, 200, &HeaderMap::new());
        assert_eq!(b.daily_usage(), Some((13_499, 15_000)));
        assert!(daily_budget(101).is_err());
    }
}
