//! HubSpot's buckets on core's pacing limiter (VENDORS.md §1.9): the rolling 10-second budget of
//! the app, search's 5 requests per second, and the account's daily budget, corrected by the
//! `X-HubSpot-RateLimit-*` headers.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crm_core::limits::{BucketConfig, HintParser, LimitHint, PacingLimiter};
use crm_core::reexports::http::HeaderMap;

use crate::config::AppKind;

/// The bucket of every CRM call but search.
pub const GENERAL: &str = "general";
/// The search endpoints' own bucket.
pub const SEARCH: &str = "search";

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads `X-HubSpot-RateLimit-Remaining` / `-Interval-Milliseconds` (the 10-second window) and
/// `-Daily` / `-Daily-Remaining` (not sent for OAuth tokens, nor on search responses).
pub fn hints() -> HintParser {
    Arc::new(|_status, headers: &HeaderMap| {
        let remaining = number(headers, "x-hubspot-ratelimit-remaining");
        let interval = number(headers, "x-hubspot-ratelimit-interval-milliseconds");
        let daily = match (
            number(headers, "x-hubspot-ratelimit-daily"),
            number(headers, "x-hubspot-ratelimit-daily-remaining"),
        ) {
            (Some(max), Some(left)) => Some((max.saturating_sub(left), max)),
            _ => None,
        };
        if remaining.is_none() && daily.is_none() {
            return None;
        }
        Some(LimitHint {
            remaining,
            reset_after: interval.map(Duration::from_millis),
            daily,
        })
    })
}

/// The limiter a HubSpot connection uses unless given one: `general` at the app's 10-second
/// budget, `search` at 5 per second, corrected by HubSpot's headers. Token requests (bucket
/// `oauth`) are not paced. Share one per HubSpot account across clients.
pub fn default_limiter(app: AppKind) -> PacingLimiter {
    let burst = NonZeroU32::new(app.burst_per_10s()).unwrap_or(NonZeroU32::MIN);
    let search = NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN);
    PacingLimiter::new([
        BucketConfig::new(GENERAL, burst, Duration::from_secs(10)),
        BucketConfig::new(SEARCH, search, Duration::from_secs(1)),
    ])
    .with_hints(hints())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::http::HeaderValue;

    #[test]
    fn headers_become_hints() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-hubspot-ratelimit-remaining",
            HeaderValue::from_static("0"),
        );
        h.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            HeaderValue::from_static("10000"),
        );
        h.insert(
            "x-hubspot-ratelimit-daily",
            HeaderValue::from_static("250000"),
        );
        h.insert(
            "x-hubspot-ratelimit-daily-remaining",
            HeaderValue::from_static("249990"),
        );
        let hint = hints()(200, &h).unwrap();
        assert_eq!(hint.remaining, Some(0));
        assert_eq!(hint.reset_after, Some(Duration::from_secs(10)));
        assert_eq!(hint.daily, Some((10, 250_000)));
        assert!(hints()(200, &HeaderMap::new()).is_none());
    }
}
