//! [`PacingLimiter`]: per vendor bucket, a GCRA limiter (`governor`) for the steady pace, a
//! short burst from idle, and a log of the grants of the last window that caps every rolling
//! window; corrected by the vendor's headers, paused as a whole by a 429, and a daily budget
//! with a reserve.
//!
//! The goal is to *pace, not bounce*: a well-configured connection sends about no request that
//! gets a 429, while still using at least 90 % of the allowed rate on bulk work — and a
//! handful of requests from an idle connection (a customer look-up's parallel reads) go at
//! once instead of waiting for the steady pace.
//!
//! # Why a burst from idle is safe
//!
//! A GCRA burst `B` on top of the steady rate lets `B + steady` requests into one rolling
//! window, so on its own the burst had to stay tiny (a third of the headroom). The grant log
//! removes that bound: whatever the GCRA and the burst allow, a permit is granted only while
//! the last `window` holds fewer than `limit − headroom` grants (see [`BucketConfig`]). The
//! burst itself is only drawn while the bucket is nearly idle (fewer grants than the burst in
//! the last window and a tenth), so under continuous load the bucket paces exactly as the
//! steady GCRA does. The extra tenth is for the vendor's clock: when a window's burst ages out
//! all at once, only the GCRA's small lateness allowance may follow at that edge — not a second
//! burst that a server, seeing the first one arrive a little late and the second a little
//! early, would count in the same window.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter as Gcra};
use http::HeaderMap;
use http::header::RETRY_AFTER;
use tokio::time::Instant;

use super::seam::{Bucket, RateLimiter};
use crate::error::{Error, ErrorKind, LimitScope, Result};
use crate::retry::{parse_retry_after, saturate_wire_delay};

/// A vendor limit: at most `limit` requests in any `window` (HubSpot: 100 per 10 s; search: 5
/// per 1 s).
///
/// The limiter keeps about 6 % of the limit back as headroom (at least one request) and never
/// grants more than `limit − headroom` permits in any rolling `window`. Inside that cap it
/// paces at `limit − headroom` spread evenly over the window, and lets a burst of
/// `max(headroom, 3)` permits go at once from an idle bucket (HubSpot: 3 searches in the
/// 5-per-second bucket, 6 requests at 100 per 10 s, 12 at 190 per 10 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    /// The bucket's name, as requests name it.
    pub name: Bucket,
    /// Requests allowed per window.
    pub limit: NonZeroU32,
    /// The window.
    pub window: Duration,
}

impl BucketConfig {
    /// `limit` requests per `window` for the bucket `name`.
    pub fn new(name: Bucket, limit: NonZeroU32, window: Duration) -> Self {
        Self {
            name,
            limit,
            window,
        }
    }

    /// The steady pace: a GCRA quota of `limit − headroom` spread evenly over the window
    /// (about 94 % of the allowed rate), with a small burst of a third of the headroom (at
    /// least one request) that only makes up for lateness.
    ///
    /// The headroom (about 6 % of the limit, rounded up, at least one request) is never used:
    /// the grant log refuses a permit while the last window already holds `limit − headroom`
    /// grants, and the headroom absorbs what pacing on the client cannot see — requests that
    /// reach the server bunched up by network and scheduling jitter. A GCRA burst alone could
    /// put burst plus steady requests in one window (a full burst of `limit` on top of a
    /// steady `limit / window`, twice the limit), which is exactly what rolling-window vendors
    /// (HubSpot) answer with 429s; the log is what makes the larger burst from idle
    /// ([`BucketConfig::idle_burst`]) safe.
    ///
    /// The steady rate sits well above 90 % on purpose: a permit taken late (timers fire on
    /// whole milliseconds, a busy runtime wakes a waiter after its turn) is only partly made
    /// up by the small burst, so a pace of exactly 90 % would deliver less than 90 % as the
    /// server counts it. The burst is what makes up for lateness: with room for two requests,
    /// a permit taken up to one period late does not push every later one back.
    fn quota(&self) -> Quota {
        let (burst, steady) = self.shape();
        let period = (self.window / steady).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }

    /// `(burst, steady requests per window)` of [`BucketConfig::quota`]. The steady count is
    /// also the most the grant log lets into any rolling window ([`BucketConfig::cap`]).
    fn shape(&self) -> (u32, u32) {
        let headroom = self.headroom();
        let steady = self.cap();
        let burst = (headroom / 3).max(1);
        (burst, steady)
    }

    /// About 6 % of the limit, rounded up, at least one request: what no window ever uses.
    fn headroom(&self) -> u32 {
        let limit = self.limit.get();
        // At most the limit, so it fits in u32.
        u32::try_from((u64::from(limit) * 6).div_ceil(100))
            .unwrap_or(limit)
            .max(1)
    }

    /// The most permits granted in any rolling window: `limit − headroom` (at least one).
    fn cap(&self) -> u32 {
        self.limit.get().saturating_sub(self.headroom()).max(1)
    }

    /// How many permits may go at once from an idle bucket: the headroom, at least three (a
    /// HubSpot look-up by phone sends three searches, two of them in parallel, into a
    /// 5-per-second bucket whose steady pace is one per 250 ms), never more than the cap.
    ///
    /// Granted only while the last window and a tenth ([`BucketConfig::idle_span`]) hold fewer
    /// grants than this, so it is a burst *from idle*: under load the window is full and the
    /// steady pace alone applies. The grant log keeps even a burst followed at once by the
    /// steady pace under the cap.
    fn idle_burst(&self) -> u32 {
        self.headroom().max(3).min(self.cap())
    }

    /// How far back the bucket must be nearly idle for the burst: the window and a tenth of
    /// it, the tenth a margin for the vendor counting arrivals a little later or earlier than
    /// the grants were made.
    fn idle_span(&self) -> Duration {
        self.window.saturating_add(self.window / 10)
    }

    /// Whether this bucket allows fewer requests per unit of time than `other`.
    fn slower_than(&self, other: &BucketConfig) -> bool {
        // limit / window < other.limit / other.window, without division.
        u128::from(self.limit.get()) * other.window.as_nanos()
            < u128::from(other.limit.get()) * self.window.as_nanos()
    }
}

/// What a vendor's response headers say about the budget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitHint {
    /// Requests left in the current window (`X-HubSpot-RateLimit-Remaining`).
    pub remaining: Option<u64>,
    /// When the current window ends, if the vendor says.
    pub reset_after: Option<Duration>,
    /// Daily budget: `(used, max)` (`Sforce-Limit-Info: api-usage=used/max`,
    /// `X-HubSpot-RateLimit-Daily(-Remaining)`).
    pub daily: Option<(u64, u64)>,
    /// The bucket's limit as the vendor states it: `(requests, window)`
    /// (`X-HubSpot-RateLimit-Max` per `X-HubSpot-RateLimit-Interval-Milliseconds`). The
    /// limiter re-sizes the bucket to it (see [`PacingLimiter::resize`]), so a connection
    /// configured for the wrong tier still paces to what the account really allows.
    pub limit: Option<(u64, Duration)>,
}

/// Reads a vendor's rate-limit headers. Adapters provide one; it never fails (an unreadable
/// header gives `None`).
pub type HintParser = Arc<dyn Fn(u16, &HeaderMap) -> Option<LimitHint> + Send + Sync>;

/// Keeps part of the daily budget for the company's other integrations: once no more than this
/// share of the daily allocation is left, `acquire` fails with `RateLimited { scope: Daily }`
/// instead of spending it (with a share of zero: once the allocation is spent).
///
/// Held in millionths, so that a whole percent is exact: 10 % of 15,000 stops at 13,500 used,
/// not one call later through a rounding of `0.1 × 15,000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyReserve(u32);

impl DailyReserve {
    const WHOLE: u32 = 1_000_000;

    /// Keeps `share` (0.0 to 1.0) of the daily allocation; `0.1` stops at 90 % used.
    pub fn new(share: f64) -> Result<Self> {
        if (0.0..=1.0).contains(&share) {
            // In range, so the product fits and the cast cannot truncate.
            Ok(Self((share * f64::from(Self::WHOLE)).round() as u32))
        } else {
            Err(Error::config(
                "daily reserve: must be a share between 0.0 and 1.0",
            ))
        }
    }

    /// Keeps `percent` (0 to 100) of the daily allocation.
    pub fn percent(percent: u8) -> Result<Self> {
        if percent <= 100 {
            Ok(Self(u32::from(percent) * (Self::WHOLE / 100)))
        } else {
            Err(Error::config("daily reserve: must be 0–100 %"))
        }
    }

    /// Whether `left` of `max` is inside the reserve.
    fn reached(self, left: u64, max: u64) -> bool {
        u128::from(left) * u128::from(Self::WHOLE) <= u128::from(self.0) * u128::from(max)
    }
}

/// Measures time on tokio's clock, so that tests with `tokio::time::pause` are deterministic.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

type Limiter = Gcra<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// A bucket's current size, the GCRA state that paces it (both replaced on resize), and the
/// grants it made (kept across a resize: they are still in the vendor's window).
struct Sized {
    config: BucketConfig,
    gcra: Limiter,
    /// When each of the last grants was made, oldest first: every grant of the last `horizon`.
    log: VecDeque<Instant>,
    /// The longest [`BucketConfig::idle_span`] this bucket has had, so that a bucket re-sized
    /// to a longer window still counts the grants of all of it.
    horizon: Duration,
    /// No burst from idle before this: set one window ahead on resize, since a size the vendor
    /// corrected means our view of its window was off.
    burst_from: Instant,
}

impl Sized {
    fn new(config: BucketConfig, clock: TokioClock) -> Self {
        let gcra = Gcra::direct_with_clock(config.quota(), clock);
        Self {
            horizon: config.idle_span(),
            config,
            gcra,
            log: VecDeque::new(),
            burst_from: clock.origin,
        }
    }

    /// Takes a permit at `now` if the log, the steady pace or the idle burst allow one; else
    /// says how long to wait before asking again.
    fn try_grant(&mut self, now: Instant, clock: &TokioClock) -> std::result::Result<(), Duration> {
        let horizon = self.horizon;
        while self.log.front().is_some_and(|t| aged_out(*t, horizon, now)) {
            self.log.pop_front();
        }
        let window = self.config.window;
        // Grants still in the rolling window ending now: a grant at `t` counts until
        // `t + window`, as a vendor's rolling window counts it.
        let in_window = self.log.len() - self.log.partition_point(|t| aged_out(*t, window, now));
        let span = self.config.idle_span();
        let recent = self.log.len() - self.log.partition_point(|t| aged_out(*t, span, now));
        let cap = self.config.cap() as usize;
        if in_window >= cap {
            // Wait until enough of the window's grants age out to leave room for one more.
            let oldest = self
                .log
                .get(self.log.len().saturating_sub(cap))
                .copied()
                .unwrap_or(now);
            return Err(saturating_after(oldest, window).saturating_duration_since(now));
        }
        let steady = self.gcra.check();
        let granted = match steady {
            Ok(()) => Ok(()),
            Err(_) if now >= self.burst_from && recent < self.config.idle_burst() as usize => {
                Ok(())
            }
            Err(not_until) => Err(not_until.wait_time_from(clock.now())),
        };
        if granted.is_ok() {
            self.log.push_back(now);
        }
        granted
    }
}

struct BucketState {
    sized: Mutex<Sized>,
    /// The size the caller configured, when the vendor's headers may shrink the bucket but
    /// never grow it past that ([`PacingLimiter::capped_at_configured`]).
    ceiling: Option<BucketConfig>,
    paused_until: Mutex<Option<Instant>>,
}

impl BucketState {
    fn config(&self) -> BucketConfig {
        lock(&self.sized).config.clone()
    }
}

/// A [`RateLimiter`] with one paced bucket per vendor limit. Share one (in an `Arc`) between
/// every client of the same vendor account: limits are per account, not per client.
///
/// Requests naming a bucket it does not know are not paced.
pub struct PacingLimiter {
    clock: TokioClock,
    buckets: HashMap<Bucket, BucketState>,
    hints: Option<HintParser>,
    reserve: Option<DailyReserve>,
    daily: Mutex<Option<(u64, u64)>>,
}

impl fmt::Debug for PacingLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let configs: Vec<BucketConfig> = self.buckets.values().map(BucketState::config).collect();
        f.debug_struct("PacingLimiter")
            .field("buckets", &configs)
            .field("reserve", &self.reserve)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PacingLimiter {
    /// A limiter for these buckets.
    pub fn new(buckets: impl IntoIterator<Item = BucketConfig>) -> Self {
        let clock = TokioClock {
            origin: Instant::now(),
        };
        let buckets = buckets
            .into_iter()
            .map(|config| {
                (
                    config.name,
                    BucketState {
                        sized: Mutex::new(Sized::new(config, clock)),
                        ceiling: None,
                        paused_until: Mutex::new(None),
                    },
                )
            })
            .collect();
        Self {
            clock,
            buckets,
            hints: None,
            reserve: None,
            daily: Mutex::new(None),
        }
    }

    /// Reads the vendor's headers to correct the local view.
    pub fn with_hints(mut self, parser: HintParser) -> Self {
        self.hints = Some(parser);
        self
    }

    /// Keeps a share of the daily budget unspent.
    pub fn with_daily_reserve(mut self, reserve: DailyReserve) -> Self {
        self.reserve = Some(reserve);
        self
    }

    /// Lets the vendor's headers shrink `bucket` below its configured size but never grow it
    /// past that: for a rate an operator set on purpose (to leave room for other integrations
    /// sharing the same app's budget). Without this, a stated limit re-sizes the bucket either
    /// way.
    pub fn capped_at_configured(mut self, bucket: Bucket) -> Self {
        if let Some(state) = self.buckets.get_mut(bucket) {
            state.ceiling = Some(state.config());
        }
        self
    }

    /// The current size of `bucket`, if the limiter paces it.
    pub fn bucket_config(&self, bucket: Bucket) -> Option<BucketConfig> {
        self.buckets.get(bucket).map(BucketState::config)
    }

    /// Re-sizes `bucket` to `limit` requests per `window` (a vendor's headers said so, or an
    /// operator changed the tier). Returns whether the size changed; an unknown bucket or the
    /// same size changes nothing.
    ///
    /// The grants already made stay in the bucket's log and count against the new size's
    /// window. The new pacing also starts with its steady burst spent and, unless the size
    /// only grew over the same window, no burst from idle for one window: a smaller size
    /// means the vendor's window may hold requests this limiter did not count (sent before it
    /// knew the real size, or by another client).
    pub fn resize(&self, bucket: Bucket, limit: NonZeroU32, window: Duration) -> bool {
        let Some(state) = self.buckets.get(bucket) else {
            return false;
        };
        if window.is_zero() {
            return false;
        }
        let mut wanted = BucketConfig::new(bucket, limit, window);
        if let Some(ceiling) = &state.ceiling
            && !wanted.slower_than(ceiling)
        {
            wanted = ceiling.clone();
        }
        let mut sized = lock(&state.sized);
        if sized.config == wanted {
            return false;
        }
        let gcra = Gcra::direct_with_clock(wanted.quota(), self.clock);
        let (burst, _) = wanted.shape();
        for _ in 0..burst {
            let _ = gcra.check();
        }
        sized.horizon = sized.horizon.max(wanted.idle_span());
        // A larger size over the same window (the portal's tier is above the configured one)
        // leaves the burst from idle where it was: every request this limiter sent is in its
        // log, which caps the window at the new size; only a smaller or otherwise reshaped
        // size may leave uncounted requests in the vendor's window.
        let growing = wanted.window == sized.config.window && !wanted.slower_than(&sized.config);
        if !growing {
            sized.burst_from = saturating_after(Instant::now(), wanted.window);
        }
        sized.config = wanted;
        sized.gcra = gcra;
        true
    }

    /// The last daily usage the vendor reported, as `(used, max)`.
    pub fn daily_usage(&self) -> Option<(u64, u64)> {
        *lock(&self.daily)
    }

    fn check_daily(&self) -> Result<()> {
        let (Some(reserve), Some((used, max))) = (self.reserve, *lock(&self.daily)) else {
            return Ok(());
        };
        if max > 0 && reserve.reached(max.saturating_sub(used), max) {
            return Err(Error::new(
                ErrorKind::RateLimited {
                    retry_after: None,
                    scope: LimitScope::Daily,
                },
                format!(
                    "the daily API budget is {used}/{max} used; the rest is reserved for other integrations"
                ),
            ));
        }
        Ok(())
    }

    /// Holds every request of the bucket for `for_`, or longer if it is already held longer.
    ///
    /// The pause is kept for its real length, however long (saturated at
    /// [`MAX_WIRE_DELAY`](crate::retry::MAX_WIRE_DELAY) so that no value from the wire can overflow the clock): shortening it
    /// would send requests the vendor told us it will refuse. It is never *waited* past what a
    /// caller allows, though — [`RateLimiter::acquire`] fails at once with the remaining wait
    /// when the pause ends beyond its `max_wait`.
    fn pause(&self, bucket: &BucketState, for_: Duration) {
        let until = saturating_after(Instant::now(), for_);
        let mut paused = lock(&bucket.paused_until);
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }
}

/// Whether a grant made at `at` is out of a window of `span` ending at `now`. A window too
/// long for the clock never lets it out.
fn aged_out(at: Instant, span: Duration, now: Instant) -> bool {
    at.checked_add(span).is_some_and(|end| end <= now)
}

/// `now + wait`, saturating: the wait is first clamped to [`MAX_WIRE_DELAY`](crate::retry::MAX_WIRE_DELAY), and should even
/// that not fit this platform's clock, halved until it does. Never panics.
fn saturating_after(now: Instant, wait: Duration) -> Instant {
    let mut wait = saturate_wire_delay(wait);
    loop {
        if let Some(at) = now.checked_add(wait) {
            return at;
        }
        wait /= 2;
    }
}

/// The refusal when the permit cannot come within the caller's `max_wait`. `retry_after` is
/// the real wait still ahead, so the caller can schedule the work for then. The limiter knows
/// buckets, not the vendor's policies, so the scope is the bucket's short window; the response
/// that paused the bucket carried the vendor's own scope to the call that got it.
fn too_long(bucket: Bucket, wait: Duration, max_wait: Duration) -> Error {
    Error::new(
        ErrorKind::RateLimited {
            retry_after: Some(saturate_wire_delay(wait)),
            scope: LimitScope::Burst,
        },
        format!(
            "the `{bucket}` rate-limit bucket has no permit for another {} ms, longer than this call may wait ({} ms)",
            wait.as_millis(),
            max_wait.as_millis()
        ),
    )
}

#[async_trait]
impl RateLimiter for PacingLimiter {
    async fn acquire(&self, bucket: Bucket, max_wait: Duration) -> Result<()> {
        self.check_daily()?;
        let Some(state) = self.buckets.get(bucket) else {
            return Ok(());
        };
        let deadline = saturating_after(Instant::now(), max_wait);
        loop {
            let now = Instant::now();
            let paused = *lock(&state.paused_until);
            if let Some(until) = paused
                && until > now
            {
                if until > deadline {
                    return Err(too_long(bucket, until - now, max_wait));
                }
                tokio::time::sleep_until(until).await;
                continue;
            }
            let checked = lock(&state.sized).try_grant(now, &self.clock);
            match checked {
                Ok(()) => return Ok(()),
                Err(wait) => {
                    let wait = wait.max(Duration::from_micros(100));
                    if saturating_after(now, wait) > deadline {
                        return Err(too_long(bucket, wait, max_wait));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn try_acquire(&self, bucket: Bucket) -> bool {
        // A refusal (the daily reserve reached) is reported by `acquire`.
        if self.check_daily().is_err() {
            return false;
        }
        let Some(state) = self.buckets.get(bucket) else {
            return true;
        };
        let now = Instant::now();
        if lock(&state.paused_until).is_some_and(|until| until > now) {
            return false;
        }
        lock(&state.sized).try_grant(now, &self.clock).is_ok()
    }

    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap) {
        let hint = self.hints.as_ref().and_then(|parse| parse(status, headers));
        if let Some(daily) = hint.as_ref().and_then(|h| h.daily) {
            *lock(&self.daily) = Some(daily);
        }
        let Some(state) = self.buckets.get(bucket) else {
            return;
        };
        if let Some((limit, window)) = hint.as_ref().and_then(|h| h.limit)
            && let Some(limit) = u32::try_from(limit).ok().and_then(NonZeroU32::new)
        {
            self.resize(bucket, limit, window);
        }
        let window = state.config().window;
        if status == 429 {
            // The vendor is over its limit for this bucket: hold every request of the bucket,
            // not just the one that bounced.
            let after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()))
                .or_else(|| hint.as_ref().and_then(|h| h.reset_after))
                .unwrap_or(window);
            self.pause(state, after);
        } else if let Some(LimitHint {
            remaining: Some(0),
            reset_after,
            ..
        }) = hint
        {
            self.pause(state, reset_after.unwrap_or(window));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::MAX_WIRE_DELAY;
    use http::HeaderValue;

    /// A caller that allows any wait.
    const FOREVER: Duration = Duration::MAX;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    /// Acquires `n` times and returns each acquisition's time since the start.
    async fn acquire_times(limiter: &PacingLimiter, bucket: Bucket, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            limiter.acquire(bucket, FOREVER).await.unwrap();
            times.push(start.elapsed());
        }
        times
    }

    fn max_in_any_window(times: &[Duration], window: Duration) -> usize {
        times
            .iter()
            .enumerate()
            .map(|(i, t)| times[i..].iter().take_while(|u| **u < *t + window).count())
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_the_window_and_uses_at_least_90_percent() {
        let window = Duration::from_secs(10);
        let limiter = PacingLimiter::new([BucketConfig::new("general", nz(100), window)]);
        let times = acquire_times(&limiter, "general", 400).await;
        assert!(max_in_any_window(&times, window) <= 100);
        let total = *times.last().unwrap();
        // 400 requests at 100 per 10 s need at least 30 s; at 90 % of the rate, at most 44.5 s.
        let rate = 400.0 / total.as_secs_f64();
        assert!(rate >= 9.0, "{rate} requests/s");
        assert!(rate <= 10.0 * 400.0 / 300.0 + 0.01, "{rate} requests/s");
    }

    /// Issue 15: a free permit is taken without waiting; once the window is full the
    /// synchronous path refuses and takes nothing, and `acquire` paces as before.
    #[tokio::test(start_paused = true)]
    async fn try_acquire_takes_only_free_permits_issue15() {
        let window = Duration::from_secs(10);
        let limiter = PacingLimiter::new([BucketConfig::new("general", nz(3), window)]);
        let mut granted = 0;
        for _ in 0..10 {
            if limiter.try_acquire("general") {
                granted += 1;
            }
        }
        assert!((1..=3).contains(&granted), "{granted} granted at once");
        assert!(!limiter.try_acquire("general"));
        assert!(
            limiter.try_acquire("unknown"),
            "unknown buckets are not paced"
        );
        let start = Instant::now();
        limiter.acquire("general", FOREVER).await.unwrap();
        assert!(
            start.elapsed() > Duration::ZERO,
            "the async path waited for room"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_buckets_are_not_paced() {
        let limiter =
            PacingLimiter::new([BucketConfig::new("search", nz(5), Duration::from_secs(1))]);
        let times = acquire_times(&limiter, "general", 1000).await;
        assert_eq!(*times.last().unwrap(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_the_whole_bucket_for_retry_after() {
        let limiter =
            PacingLimiter::new([BucketConfig::new("b", nz(1000), Duration::from_secs(1))]);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        limiter.observe("b", 429, &headers);
        let times = acquire_times(&limiter, "b", 3).await;
        assert!(times[0] >= Duration::from_secs(7));
        assert!(times[2] < Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn vendor_headers_correct_the_local_view() {
        let hints: HintParser = Arc::new(|_status, headers: &HeaderMap| {
            let remaining = headers
                .get("x-remaining")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            Some(LimitHint {
                remaining,
                reset_after: Some(Duration::from_secs(4)),
                daily: Some((950, 1000)),
                limit: None,
            })
        });
        let limiter =
            PacingLimiter::new([BucketConfig::new("b", nz(100), Duration::from_secs(10))])
                .with_hints(hints)
                .with_daily_reserve(DailyReserve::new(0.1).unwrap());
        let mut headers = HeaderMap::new();
        headers.insert("x-remaining", HeaderValue::from_static("0"));
        limiter.observe("b", 200, &headers);
        assert_eq!(limiter.daily_usage(), Some((950, 1000)));
        // 95 % of the daily budget is used and 10 % is reserved: refuse without waiting.
        let err = limiter.acquire("b", FOREVER).await.unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::RateLimited {
                scope: LimitScope::Daily,
                ..
            }
        ));
        let relaxed =
            PacingLimiter::new([BucketConfig::new("b", nz(100), Duration::from_secs(10))])
                .with_hints(Arc::new(|_, _| {
                    Some(LimitHint {
                        remaining: Some(0),
                        reset_after: Some(Duration::from_secs(4)),
                        daily: None,
                        limit: None,
                    })
                }));
        relaxed.observe("b", 200, &HeaderMap::new());
        let times = acquire_times(&relaxed, "b", 1).await;
        assert!(times[0] >= Duration::from_secs(4));
        assert!(DailyReserve::new(1.5).is_err());
    }

    /// Issue 13: the reserve is exact for whole percents (Salesforce's
    /// `daily_reserve_percent`): 10 % of 15,000 refuses from 13,500 used, and a reserve of zero
    /// refuses once the allocation is spent.
    #[tokio::test]
    async fn item13_a_percent_reserve_stops_exactly_at_its_share() {
        let cases = [
            (10, 13_500, false),
            (10, 13_499, true),
            (0, 14_999, true),
            (0, 15_000, false),
            (7, 13_950, false),
            (7, 13_949, true),
        ];
        for (percent, used, allowed) in cases {
            let limiter = PacingLimiter::new([])
                .with_hints(Arc::new(move |_, _| {
                    Some(LimitHint {
                        daily: Some((used, 15_000)),
                        ..LimitHint::default()
                    })
                }))
                .with_daily_reserve(DailyReserve::percent(percent).unwrap());
            limiter.observe("daily", 200, &HeaderMap::new());
            let got = limiter.acquire("daily", Duration::ZERO).await;
            assert_eq!(got.is_ok(), allowed, "{percent} % reserve at {used}/15000");
        }
        assert!(DailyReserve::percent(101).is_err());
        assert_eq!(
            DailyReserve::percent(10).unwrap(),
            DailyReserve::new(0.1).unwrap()
        );
    }

    fn retry_after_header(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
        headers
    }

    fn limited_for(err: &Error) -> Duration {
        match err.kind() {
            ErrorKind::RateLimited {
                retry_after: Some(wait),
                ..
            } => *wait,
            other => panic!("expected RateLimited with a wait, got {other:?}"),
        }
    }

    /// Issue 12, item 1: a pause longer than the caller may wait is refused at once, with the
    /// real remaining wait, for every caller of the bucket; a shorter one is waited for.
    #[tokio::test(start_paused = true)]
    async fn item1_a_pause_beyond_max_wait_is_refused_at_once_with_the_real_wait() {
        let limiter =
            PacingLimiter::new([BucketConfig::new("b", nz(1000), Duration::from_secs(1))]);
        limiter.observe("b", 429, &retry_after_header("3600"));
        let start = Instant::now();
        for _ in 0..3 {
            let err = limiter
                .acquire("b", Duration::from_secs(60))
                .await
                .unwrap_err();
            assert_eq!(limited_for(&err), Duration::from_secs(3600));
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "no caller waited");
        // Time passes: the remaining wait shrinks, and the pause is still held.
        tokio::time::advance(Duration::from_secs(3000)).await;
        let err = limiter
            .acquire("b", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(limited_for(&err), Duration::from_secs(600));
        // Once the rest fits in what the caller allows, it waits, and only that long.
        tokio::time::advance(Duration::from_secs(560)).await;
        let before = Instant::now();
        limiter.acquire("b", Duration::from_secs(60)).await.unwrap();
        assert_eq!(before.elapsed(), Duration::from_secs(40));
        // Other buckets were never held.
        let err = limiter.acquire("other", Duration::ZERO).await;
        assert!(err.is_ok());
    }

    /// Issue 12, item 1: pacing waits are bounded by `max_wait` as well.
    #[tokio::test(start_paused = true)]
    async fn item1_a_pacing_wait_beyond_max_wait_is_refused() {
        let limiter = PacingLimiter::new([BucketConfig::new("b", nz(10), Duration::from_secs(10))]);
        // The burst from idle (three requests) goes at once; the next permit is ~1.1 s away.
        for _ in 0..3 {
            limiter.acquire("b", Duration::ZERO).await.unwrap();
        }
        let start = Instant::now();
        let err = limiter
            .acquire("b", Duration::from_millis(100))
            .await
            .unwrap_err();
        let wait = limited_for(&err);
        assert!(
            wait > Duration::from_millis(100) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.acquire("b", Duration::from_secs(2)).await.unwrap();
        // Tokio's timer has millisecond resolution.
        assert!(start.elapsed() >= wait && start.elapsed() <= wait + Duration::from_millis(2));
    }

    /// Issue 12, item 2: a `Retry-After` or reset interval beyond any clock neither panics nor
    /// lifts the pause; it saturates at the far-future cap.
    #[tokio::test(start_paused = true)]
    async fn item2_a_huge_retry_after_saturates_instead_of_panicking() {
        let huge = PacingLimiter::new([BucketConfig::new("b", nz(100), Duration::from_secs(10))]);
        huge.observe("b", 429, &retry_after_header("18446744073709551615"));
        let err = huge
            .acquire("b", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(limited_for(&err), MAX_WIRE_DELAY);
        // A caller that allows any wait waits out the saturated pause, and no longer.
        let start = Instant::now();
        huge.acquire("b", Duration::MAX).await.unwrap();
        assert!(start.elapsed() <= MAX_WIRE_DELAY + Duration::from_millis(1));

        let endless: HintParser = Arc::new(|_, _| {
            Some(LimitHint {
                remaining: Some(0),
                reset_after: Some(Duration::MAX),
                daily: None,
                limit: None,
            })
        });
        let hinted = PacingLimiter::new([BucketConfig::new("b", nz(100), Duration::from_secs(10))])
            .with_hints(endless);
        hinted.observe("b", 200, &HeaderMap::new());
        hinted.observe("b", 429, &HeaderMap::new());
        let err = hinted
            .acquire("b", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(limited_for(&err), MAX_WIRE_DELAY);
    }

    /// Issue 12, item 2: an unusable `Retry-After` (past date, garbage) is no hint: the bucket
    /// pauses for its own window instead.
    #[tokio::test(start_paused = true)]
    async fn item2_an_unusable_retry_after_falls_back_on_the_window() {
        for value in ["Thu, 01 Jan 1970 00:00:00 GMT", "-5", "1.5", "soon"] {
            let limiter =
                PacingLimiter::new([BucketConfig::new("b", nz(100), Duration::from_secs(10))]);
            limiter.observe("b", 429, &retry_after_header(value));
            let err = limiter.acquire("b", Duration::ZERO).await.unwrap_err();
            assert_eq!(limited_for(&err), Duration::from_secs(10), "{value}");
        }
    }

    fn limit_hint(limit: u64, window: Duration) -> HintParser {
        Arc::new(move |_, _| {
            Some(LimitHint {
                limit: Some((limit, window)),
                ..LimitHint::default()
            })
        })
    }

    /// Issue 14: no rolling window ever holds more than about 96 % of the limit, so jitter
    /// between the client's pacing and the server's clock does not turn into 429s.
    #[tokio::test(start_paused = true)]
    async fn item14_every_window_keeps_headroom_below_the_limit() {
        let window = Duration::from_secs(1);
        for limit in [5, 10, 100, 110, 190, 250] {
            let limiter = PacingLimiter::new([BucketConfig::new("b", nz(limit), window)]);
            let times = acquire_times(&limiter, "b", 4 * limit as usize).await;
            let most = max_in_any_window(&times, window);
            assert!(most < limit as usize, "{most} of {limit}");
            assert!(most as f64 <= 0.96 * f64::from(limit), "{most} of {limit}");
        }
    }

    /// Issue 14: concurrent callers sharing one bucket, each taking a while before it asks
    /// again (a request on the wire), still get at least 92 % of the allowed rate between the
    /// first permit and the last, so that what a server counts stays at or above 90 % once
    /// its own jitter is taken off. A steady pace of exactly 90 % fell below that.
    #[tokio::test(start_paused = true)]
    async fn item14_concurrent_callers_get_well_over_90_percent_of_the_rate() {
        let window = Duration::from_secs(1);
        for limit in [100, 110, 190, 250] {
            let limiter = Arc::new(PacingLimiter::new([BucketConfig::new(
                "b",
                nz(limit),
                window,
            )]));
            let start = Instant::now();
            let times = Arc::new(Mutex::new(Vec::new()));
            let permits = 10 * limit as usize;
            let mut callers = Vec::new();
            for caller in 0..5u64 {
                let (limiter, times) = (limiter.clone(), times.clone());
                callers.push(tokio::spawn(async move {
                    loop {
                        limiter.acquire("b", FOREVER).await.unwrap();
                        {
                            let mut times = times.lock().unwrap();
                            if times.len() == permits {
                                return;
                            }
                            times.push(start.elapsed());
                        }
                        // The request's round trip: 3 to 7 ms, whole milliseconds as timers.
                        tokio::time::sleep(Duration::from_millis(3 + caller)).await;
                    }
                }));
            }
            for caller in callers {
                caller.await.unwrap();
            }
            let mut times = times.lock().unwrap().clone();
            times.sort();
            let span = (*times.last().unwrap() - times[0]).as_secs_f64();
            let rate = (times.len() - 1) as f64 / span;
            assert!(
                rate >= 0.92 * f64::from(limit),
                "{rate:.1} of {limit} per second"
            );
            let most = max_in_any_window(&times, window);
            assert!(most as f64 <= 0.96 * f64::from(limit), "{most} of {limit}");
        }
    }

    /// Issue 14: the vendor's stated limit (HubSpot's `X-HubSpot-RateLimit-Max` per
    /// `-Interval-Milliseconds`) re-sizes the bucket, and the new size paces at once, starting
    /// with its burst spent.
    #[tokio::test(start_paused = true)]
    async fn item14_a_stated_limit_resizes_the_bucket() {
        let limiter =
            PacingLimiter::new([BucketConfig::new("b", nz(190), Duration::from_secs(10))])
                .with_hints(limit_hint(10, Duration::from_secs(1)));
        limiter.observe("b", 200, &HeaderMap::new());
        assert_eq!(
            limiter.bucket_config("b"),
            Some(BucketConfig::new("b", nz(10), Duration::from_secs(1)))
        );
        // 9 per second steady, no burst left: 18 permits take two seconds.
        let times = acquire_times(&limiter, "b", 18).await;
        assert!(times[0] >= Duration::from_millis(100), "{:?}", times[0]);
        assert!(max_in_any_window(&times, Duration::from_secs(1)) <= 9);
        assert!(*times.last().unwrap() >= Duration::from_secs(2));
        // The same statement again changes nothing; a bucket it does not know is left alone.
        assert!(!limiter.resize("b", nz(10), Duration::from_secs(1)));
        assert!(!limiter.resize("other", nz(10), Duration::from_secs(1)));
        assert!(!limiter.resize("b", nz(10), Duration::ZERO));
    }

    /// Issue 14: a rate the operator set is a ceiling: the vendor's headers may shrink the
    /// bucket, never grow it.
    #[tokio::test(start_paused = true)]
    async fn item14_a_configured_rate_caps_what_the_headers_may_grow_to() {
        let configured = BucketConfig::new("b", nz(100), Duration::from_secs(10));
        let grow = PacingLimiter::new([configured.clone()])
            .with_hints(limit_hint(190, Duration::from_secs(10)))
            .capped_at_configured("b");
        grow.observe("b", 200, &HeaderMap::new());
        assert_eq!(grow.bucket_config("b"), Some(configured.clone()));
        let shrink = PacingLimiter::new([configured])
            .with_hints(limit_hint(50, Duration::from_secs(10)))
            .capped_at_configured("b");
        shrink.observe("b", 200, &HeaderMap::new());
        assert_eq!(
            shrink.bucket_config("b"),
            Some(BucketConfig::new("b", nz(50), Duration::from_secs(10)))
        );
        // Uncapped, the stated limit wins either way.
        let free = PacingLimiter::new([BucketConfig::new("b", nz(100), Duration::from_secs(10))])
            .with_hints(limit_hint(190, Duration::from_secs(10)));
        free.observe("b", 429, &HeaderMap::new());
        assert_eq!(
            free.bucket_config("b"),
            Some(BucketConfig::new("b", nz(190), Duration::from_secs(10)))
        );
    }

    /// `limit − headroom` (headroom: 6 % of the limit, rounded up, at least one), computed
    /// here on its own rather than through the code under test.
    fn cap_of(limit: u32) -> usize {
        limit as usize - (limit as usize * 6).div_ceil(100).max(1)
    }

    /// Issue 15: a customer look-up's parallel requests from an idle connection go at once —
    /// three searches in HubSpot's 5-per-second bucket, six reads at 100 per 10 s, twelve at 190
    /// per 10 s — and the next one waits for the pace.
    #[tokio::test(start_paused = true)]
    async fn item15_a_burst_from_idle_goes_without_waiting() {
        for (limit, window, burst) in [(5, 1, 3), (100, 10, 6), (190, 10, 12), (10, 10, 3)] {
            let limiter = PacingLimiter::new([BucketConfig::new(
                "b",
                nz(limit),
                Duration::from_secs(window),
            )]);
            for i in 0..burst {
                let got = limiter.acquire("b", Duration::ZERO).await;
                assert!(got.is_ok(), "permit {i} of {limit}/{window}s: {got:?}");
            }
            let err = limiter.acquire("b", Duration::ZERO).await.unwrap_err();
            assert!(limited_for(&err) > Duration::ZERO, "{limit}/{window}s");
            // Idle for a window and a tenth, the burst is there again.
            tokio::time::advance(Duration::from_millis(1100 * window)).await;
            for _ in 0..burst {
                limiter.acquire("b", Duration::ZERO).await.unwrap();
            }
        }
    }

    /// Issue 15: several tasks under continuous load, with idle spells that refill the burst,
    /// never get more than `limit − headroom` permits into any rolling window (every window
    /// starting at a grant, which covers every fullest window).
    #[tokio::test(start_paused = true)]
    async fn item15_no_rolling_window_ever_holds_more_than_limit_minus_headroom() {
        for (limit, window) in [(5, 1), (100, 1), (100, 10), (190, 10)] {
            let window = Duration::from_secs(window);
            let limiter = Arc::new(PacingLimiter::new([BucketConfig::new(
                "b",
                nz(limit),
                window,
            )]));
            let start = Instant::now();
            let times = Arc::new(Mutex::new(Vec::new()));
            let mut callers = Vec::new();
            for caller in 0..4u32 {
                let (limiter, times) = (limiter.clone(), times.clone());
                callers.push(tokio::spawn(async move {
                    for round in 0..(2 * limit) {
                        limiter.acquire("b", FOREVER).await.unwrap();
                        times.lock().unwrap().push(start.elapsed());
                        // Mostly back to back; now and then idle for about a window, so the
                        // burst from idle comes back in the middle of the run.
                        let pause = if (round + caller) % (limit + 3) == 0 {
                            window + Duration::from_millis(u64::from(caller) * 37)
                        } else {
                            Duration::from_millis(u64::from(1 + caller))
                        };
                        tokio::time::sleep(pause).await;
                    }
                }));
            }
            for caller in callers {
                caller.await.unwrap();
            }
            let mut times = times.lock().unwrap().clone();
            times.sort();
            assert_eq!(times.len(), 8 * limit as usize);
            let most = max_in_any_window(&times, window);
            assert!(
                most <= cap_of(limit),
                "{most} grants in one window at {limit} per {window:?}"
            );
        }
    }

    /// Issue 15: a bucket re-sized by the vendor's headers still counts what it granted in the
    /// window before: five permits just sent count against a stated 5 per second, so the next
    /// waits until they age out instead of going out on a fresh pace.
    #[tokio::test(start_paused = true)]
    async fn item15_a_resized_bucket_counts_what_was_already_sent() {
        let limiter =
            PacingLimiter::new([BucketConfig::new("b", nz(250), Duration::from_secs(10))]);
        for _ in 0..5 {
            limiter.acquire("b", Duration::ZERO).await.unwrap();
        }
        assert!(limiter.resize("b", nz(5), Duration::from_secs(1)));
        let err = limiter.acquire("b", Duration::ZERO).await.unwrap_err();
        assert_eq!(limited_for(&err), Duration::from_secs(1));
        let times = acquire_times(&limiter, "b", 8).await;
        assert!(times[0] >= Duration::from_secs(1), "{:?}", times[0]);
        // Every second that ends at a permit granted after the resize holds at most four,
        // counting the five granted before it.
        let mut all = vec![Duration::ZERO; 5];
        all.extend(times.iter().copied());
        for t in &times {
            let held = all
                .iter()
                .filter(|u| **u <= *t && **u + Duration::from_secs(1) > *t)
                .count();
            assert!(held <= 4, "{held} in the second up to {t:?}");
        }
    }

    /// A portal on a higher tier than configured (100 → 190 per 10 s): the re-size after the
    /// first answer keeps the burst from idle, so a look-up's second round of parallel reads
    /// does not wait for permits; a smaller size still withholds it for one window.
    #[tokio::test(start_paused = true)]
    async fn item15_a_bucket_that_grows_keeps_its_burst_from_idle() {
        let window = Duration::from_secs(10);
        let limiter = PacingLimiter::new([BucketConfig::new("b", nz(100), window)]);
        for _ in 0..2 {
            limiter.acquire("b", Duration::ZERO).await.unwrap();
        }
        assert!(limiter.resize("b", nz(190), window));
        for i in 0..3 {
            let got = limiter.acquire("b", Duration::ZERO).await;
            assert!(
                got.is_ok(),
                "read {i} of the second round had to wait: {got:?}"
            );
        }
        assert!(limiter.resize("b", nz(50), window));
        assert!(limiter.acquire("b", Duration::ZERO).await.is_err());
    }
}
