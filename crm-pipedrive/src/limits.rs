//! Pipedrive's limits as hints for core's pacing limiter (its "Rate limiting" page): one burst
//! window of 2 seconds per token, stated on every answer as `x-ratelimit-limit` (requests per
//! window), `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds until the window resets).
//!
//! The daily token budget is not fed to the limiter: Pipedrive states no header for it, and
//! `x-daily-requests-left` counts only POST/PUT calls against the 10,000-a-day fair-usage
//! limit, while core's daily budget counts every call. A spent budget still comes back as a 429
//! the error parser reads as [`crm_core::LimitScope::Daily`].

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crm_core::limits::{BucketConfig, HintParser, LimitHint, PacingLimiter};
pub(crate) use crm_core::raw::status::header_number as number;
use crm_core::reexports::http::HeaderMap;

/// The one bucket every call draws from (searches included: the window is per token).
pub const GENERAL: &str = "general";

/// Pipedrive's burst window.
pub const WINDOW: Duration = Duration::from_secs(2);

/// The burst of an API token on the Professional plan (80 per 2 s; Essential 20, Advanced 40,
/// Enterprise 120; OAuth tokens four times those). The headers re-size the bucket to the real
/// figure after the first answer.
pub const DEFAULT_BURST: u32 = 80;

/// Reads the `x-ratelimit-*` headers.
pub fn hints() -> HintParser {
    Arc::new(|_status, headers: &HeaderMap| {
        let remaining = number(headers, "x-ratelimit-remaining");
        let reset_after = number(headers, "x-ratelimit-reset").map(Duration::from_secs);
        let limit = number(headers, "x-ratelimit-limit")
            .filter(|n| *n > 0)
            .map(|n| (n, WINDOW));
        (remaining.is_some() || limit.is_some()).then_some(LimitHint {
            remaining,
            reset_after,
            daily: None,
            limit,
        })
    })
}

/// A limiter pacing to `burst` requests per 2 seconds, corrected by the headers.
pub fn limiter(burst: u32) -> PacingLimiter {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    PacingLimiter::new([BucketConfig::new(GENERAL, burst, WINDOW)]).with_hints(hints())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::http::HeaderValue;

    #[test]
    fn the_documented_example_reads_as_a_two_second_window() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-ratelimit-limit", "40"),
            ("x-ratelimit-remaining", "39"),
            ("x-ratelimit-reset", "2"),
            ("x-daily-requests-left", "9999"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        let hint = hints()(200, &h).unwrap();
        assert_eq!(
            hint,
            LimitHint {
                remaining: Some(39),
                reset_after: Some(Duration::from_secs(2)),
                daily: None,
                limit: Some((40, WINDOW)),
            }
        );
        assert_eq!(hints()(200, &HeaderMap::new()), None);
    }
}
