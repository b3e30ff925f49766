//! HubSpot's buckets on core's pacing limiter: the rolling 10-second budget of the app, search's
//! 5 requests per second, and the account's daily budget, corrected by the
//! `X-HubSpot-RateLimit-*` headers (HubSpot's API usage guidelines) — and which of those limits
//! a 429 says was hit.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crm_core::LimitScope;
use crm_core::limits::{Bucket, BucketConfig, HintParser, LimitHint, PacingLimiter};
use crm_core::raw::status::header_number as number;
use crm_core::reexports::http::HeaderMap;

#[cfg(test)]
use crate::config::parse_rate;
use crate::config::{AppKind, HubSpotConfig};

pub use crm_core::limits::RateLimit;

pub use crate::config::WINDOW;

/// The bucket of every CRM call but search.
pub const GENERAL: &str = "general";
/// The search endpoints' own bucket.
pub const SEARCH: &str = "search";

/// Reads `X-HubSpot-RateLimit-Remaining` / `-Interval-Milliseconds` (the 10-second window),
/// `-Max` per `-Interval-Milliseconds` (the app's budget, which re-sizes the `general` bucket)
/// and `-Daily` / `-Daily-Remaining` (not sent for OAuth tokens, nor on search responses).
pub fn hints() -> HintParser {
    Arc::new(|_status, headers: &HeaderMap| {
        let remaining = number(headers, "x-hubspot-ratelimit-remaining");
        let interval = number(headers, "x-hubspot-ratelimit-interval-milliseconds")
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        let limit = number(headers, "x-hubspot-ratelimit-max")
            .filter(|max| *max > 0)
            .zip(interval);
        let daily_max = number(headers, "x-hubspot-ratelimit-daily");
        let daily_left = number(headers, "x-hubspot-ratelimit-daily-remaining");
        let daily = daily_max
            .zip(daily_left)
            .map(|(max, left)| (max.saturating_sub(left), max));
        let any = remaining.is_some() || daily.is_some() || limit.is_some();
        any.then_some(LimitHint {
            remaining,
            reset_after: interval,
            daily,
            limit,
        })
    })
}

/// The limiter a HubSpot connection uses unless given one: `general` at the app's 10-second
/// budget, `search` at 5 per second, corrected by HubSpot's headers (the stated
/// `X-HubSpot-RateLimit-Max` re-sizes `general`). Token requests draw from `general` too.
/// Share one per HubSpot account across clients.
pub fn default_limiter(app: AppKind) -> PacingLimiter {
    let burst = NonZeroU32::new(app.burst_per_10s()).unwrap_or(NonZeroU32::MIN);
    paced(RateLimit::new(burst, WINDOW), false)
}

/// The limiter for a connection's settings: [`default_limiter`] for its app kind, or its
/// `rate_limit` when one is set — then a ceiling HubSpot's headers may lower but never raise
/// (an operator who sets a rate may be leaving room for other users of the same app).
pub fn limiter_for(config: &HubSpotConfig) -> PacingLimiter {
    match config.rate_limit {
        Some(rate) => paced(rate, true),
        None => default_limiter(config.app),
    }
}

fn paced(general: RateLimit, capped: bool) -> PacingLimiter {
    let search = NonZeroU32::new(AppKind::default().search_per_second()).unwrap_or(NonZeroU32::MIN);
    let limiter = PacingLimiter::new([
        BucketConfig::new(GENERAL, general.requests, general.window),
        BucketConfig::new(SEARCH, search, Duration::from_secs(1)),
    ])
    .with_hints(hints());
    if capped {
        limiter.capped_at_configured(GENERAL)
    } else {
        limiter
    }
}

/// The route a failed request took, as far as HubSpot's limits are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// A search endpoint (`POST /crm/v3/objects/{type}/search`): its own 5-per-second limit.
    Search,
    /// Any other CRM call: the app's rolling 10-second limit and the daily limit.
    Other,
    /// Not known: [`crm_core::raw::http::ErrorParser::parse_error`] called without a route.
    Unknown,
}

impl Route {
    /// The route of a request from `bucket`: adapters tag every search request [`SEARCH`].
    pub(crate) fn of(bucket: Bucket) -> Self {
        match bucket {
            SEARCH => Route::Search,
            _ => Route::Other,
        }
    }
}

/// How long a search 429 without `Retry-After` waits: search's limit is per second.
pub(crate) const SEARCH_WINDOW: Duration = Duration::from_secs(1);

/// Which of HubSpot's limits a 429 hit, decided by the vendor's own fields first and by the
/// route where they say nothing.
///
/// HubSpot documents its 429 body as `{"status":"error","errorType":"RATE_LIMIT",
/// "policyName":…,"message":…}` where `policyName` names the limit: `DAILY`,
/// `TEN_SECONDLY_ROLLING`, or `SECONDLY` (HubSpot's API usage guidelines). Search endpoints have
/// their own per-second limit and answer with `{"status":"error","category":"RATE_LIMITS",
/// "message":"You have reached your secondly limit."}` — no policy, no `Retry-After`, no rate
/// headers. So:
///
/// | `policyName` | search route | other route | route unknown |
/// |---|---|---|---|
/// | `DAILY` | daily | daily | daily |
/// | `TEN_SECONDLY_ROLLING` | burst | burst | burst |
/// | `SECONDLY` | search | burst | burst |
/// | another name | other(name) | other(name) | other(name) |
/// | none | search | unknown | search if the body has search's shape, else unknown |
///
/// "Unknown" is [`LimitScope::Other`] with an empty name: a 429 on a record read that names no
/// policy is not labelled as the search limit (or any other) on a guess. "Search's shape" is
/// `category: RATE_LIMITS` without `errorType`; it only decides when the caller gave no route
/// (the transport always gives one).
pub(crate) fn scope_of_429(
    route: Route,
    policy: Option<&str>,
    error_type: Option<&str>,
    category: Option<&str>,
) -> LimitScope {
    match (policy, route) {
        (Some("DAILY"), _) => LimitScope::Daily,
        (Some("TEN_SECONDLY_ROLLING"), _) => LimitScope::Burst,
        (Some("SECONDLY"), Route::Search) => LimitScope::Search,
        (Some("SECONDLY"), _) => LimitScope::Burst,
        (Some(other), _) => LimitScope::Other(other.to_owned()),
        (None, Route::Search) => LimitScope::Search,
        (None, Route::Unknown) if category == Some("RATE_LIMITS") && error_type.is_none() => {
            LimitScope::Search
        }
        (None, Route::Other | Route::Unknown) => LimitScope::Other(String::new()),
    }
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
        assert_eq!(hint.limit, None, "no -Max header");
        assert!(hints()(200, &HeaderMap::new()).is_none());
    }

    /// Issue 14: `X-HubSpot-RateLimit-Max` per `-Interval-Milliseconds` is the app's budget,
    /// and re-sizes the `general` bucket of the default limiter.
    #[tokio::test(start_paused = true)]
    async fn item14_the_max_header_sizes_the_general_bucket() {
        let mut h = HeaderMap::new();
        h.insert("x-hubspot-ratelimit-max", HeaderValue::from_static("100"));
        h.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            HeaderValue::from_static("10000"),
        );
        h.insert(
            "x-hubspot-ratelimit-remaining",
            HeaderValue::from_static("97"),
        );
        let hint = hints()(200, &h).unwrap();
        assert_eq!(hint.limit, Some((100, Duration::from_secs(10))));
        let limiter = default_limiter(AppKind::PrivateProfessional);
        let general = |l: &PacingLimiter| l.bucket_config(GENERAL).map(|c| c.limit.get());
        assert_eq!(general(&limiter), Some(190));
        use crm_core::limits::RateLimiter as _;
        limiter.observe(GENERAL, 200, &h);
        assert_eq!(general(&limiter), Some(100));
        // Search responses carry no rate headers and never touch `general`.
        limiter.observe(SEARCH, 200, &HeaderMap::new());
        assert_eq!(general(&limiter), Some(100));
        assert_eq!(
            limiter.bucket_config(SEARCH).map(|c| c.limit.get()),
            Some(5)
        );
    }

    /// Issue 14: the rate is settable per connection (`rate_limit`), and then a ceiling. Core
    /// tests the `requests/window` syntax; HubSpot's own case is a bare count, per 10 seconds.
    #[test]
    fn item14_rate_limit_parses_and_caps_the_headers() {
        let nz = |n| NonZeroU32::new(n).unwrap();
        assert_eq!(parse_rate("190").unwrap(), RateLimit::new(nz(190), WINDOW));
        assert_eq!(WINDOW, Duration::from_secs(10));
        let err = parse_rate("0/10s").unwrap_err();
        assert!(err.message().contains("rate_limit"), "{err}");
        let mut config = HubSpotConfig::default();
        config
            .set(crate::config::HubSpotConfigKey::RateLimit, "100/1s")
            .unwrap();
        let limiter = limiter_for(&config);
        assert_eq!(
            limiter.bucket_config(GENERAL),
            Some(BucketConfig::new(GENERAL, nz(100), Duration::from_secs(1)))
        );
        // `requests_per_10s = 100` is the same key with a bare number.
        let key: crate::config::HubSpotConfigKey = "requests_per_10s".parse().unwrap();
        config.set(key, "100").unwrap();
        assert_eq!(config.rate_limit, Some(RateLimit::new(nz(100), WINDOW)));
        assert!(config.set(key, "lots").is_err());
    }

    #[test]
    fn item3_every_policy_and_route_gives_its_scope() {
        use Route::{Other as Rec, Search as Srch, Unknown as Unk};
        let unknown = || LimitScope::Other(String::new());
        let rl = Some("RATE_LIMIT");
        let cat = Some("RATE_LIMITS");
        // Route, policyName, errorType, category, expected scope.
        type Case = (
            Route,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            LimitScope,
        );
        let cases: &[Case] = &[
            (Rec, Some("DAILY"), rl, None, LimitScope::Daily),
            (Srch, Some("DAILY"), rl, None, LimitScope::Daily),
            (
                Rec,
                Some("TEN_SECONDLY_ROLLING"),
                rl,
                None,
                LimitScope::Burst,
            ),
            (
                Srch,
                Some("TEN_SECONDLY_ROLLING"),
                rl,
                None,
                LimitScope::Burst,
            ),
            (Rec, Some("SECONDLY"), rl, None, LimitScope::Burst),
            (Srch, Some("SECONDLY"), rl, None, LimitScope::Search),
            (
                Rec,
                Some("NEW_POLICY"),
                rl,
                None,
                LimitScope::Other("NEW_POLICY".into()),
            ),
            (Rec, None, None, cat, unknown()),
            (Rec, None, rl, None, unknown()),
            (Rec, None, None, None, unknown()),
            (Srch, None, None, cat, LimitScope::Search),
            (Srch, None, None, None, LimitScope::Search),
            (Unk, None, None, cat, LimitScope::Search),
            (Unk, None, rl, cat, unknown()),
            (Unk, None, None, None, unknown()),
        ];
        for (route, policy, error_type, category, want) in cases {
            assert_eq!(
                &scope_of_429(*route, *policy, *error_type, *category),
                want,
                "{route:?} {policy:?} {error_type:?} {category:?}"
            );
        }
        assert_eq!(Route::of(SEARCH), Route::Search);
        assert_eq!(Route::of(GENERAL), Route::Other);
        assert_eq!(Route::of("oauth"), Route::Other);
    }
}
