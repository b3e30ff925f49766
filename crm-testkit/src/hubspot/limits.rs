//! HubSpot's limits (its API usage guidelines): a rolling 10-second window per app with the
//! `X-HubSpot-RateLimit-*` headers, a daily budget per account, and search's own 5 requests per
//! second, which is exempt from the 10-second window and sends no rate headers.
//!
//! The windows and the arrival log run on tokio's clock of the runtime that started the fake
//! (see [`crate::clock`]), as the search lag does: a test on paused time (the client's pacing
//! waits on the same clock) sees the fake count its windows and log its arrivals on the time the
//! test controls, so no figure depends on how loaded the machine is.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::HubSpotFake;
use crate::clock::Clock;
use crate::sync::lock;

/// HubSpot's rolling window.
const WINDOW: Duration = Duration::from_secs(10);
const SECOND: Duration = Duration::from_secs(1);

/// The limits a fake portal enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests per rolling 10 seconds (private apps: 100 Free/Starter, 190 Pro/Enterprise;
    /// public apps: 110 per installing account). Default 190.
    pub ten_second_max: u32,
    /// Requests per day. Default 1,000,000 (Enterprise).
    pub daily_max: u64,
    /// Search requests per second. Default 5.
    pub search_per_second: u32,
    /// The rolling window `ten_second_max` counts over, and the
    /// `X-HubSpot-RateLimit-Interval-Milliseconds` the fake states. HubSpot's is 10 s (the
    /// default); a test may shorten it to see a strict window without waiting 10 s per window
    /// (100 requests per 1 s in the bench).
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ten_second_max: 190,
            daily_max: 1_000_000,
            search_per_second: 5,
            window: WINDOW,
        }
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The 10-second window is full.
    TenSecondly,
    /// The daily budget is spent.
    Daily,
    /// Search's per-second bucket is empty.
    Search,
}

/// The live counters.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) limits: Limits,
    window: VecDeque<Instant>,
    search: VecDeque<Instant>,
    pub(crate) daily_used: u64,
    /// When the fake started counting: the origin of [`HubSpotFake::request_times`].
    started: Instant,
    /// When each request arrived, whatever its outcome (token calls, faults, 401s and 429s
    /// included), in order.
    arrivals: Vec<Instant>,
    /// The clock the windows and the arrival log run on.
    clock: Clock,
}

impl Counters {
    /// Counters for `limits` on `clock`, counting from now.
    pub(crate) fn new(limits: Limits, clock: Clock) -> Self {
        Self {
            limits,
            window: VecDeque::new(),
            search: VecDeque::new(),
            daily_used: 0,
            started: clock.now(),
            arrivals: Vec::new(),
            clock,
        }
    }

    /// Now, on the counters' clock.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Notes that a request arrived at `now`, before anything decides its outcome.
    pub(crate) fn arrived(&mut self, now: Instant) {
        self.arrivals.push(now);
    }

    /// The rolling window; a zero window (a config mistake) counts as HubSpot's.
    fn window_length(&self) -> Duration {
        if self.limits.window.is_zero() {
            WINDOW
        } else {
            self.limits.window
        }
    }

    fn expire(queue: &mut VecDeque<Instant>, now: Instant, span: Duration) {
        while queue
            .front()
            .is_some_and(|t| now.duration_since(*t) >= span)
        {
            queue.pop_front();
        }
    }

    /// Counts a request; `Err` when a limit refuses it (a refused request still counts toward
    /// the daily total, as every call does).
    pub(crate) fn admit(&mut self, search: bool, now: Instant) -> Result<(), Refused> {
        if self.daily_used >= self.limits.daily_max {
            return Err(Refused::Daily);
        }
        self.daily_used += 1;
        if search {
            Self::expire(&mut self.search, now, SECOND);
            if self.search.len() >= self.limits.search_per_second as usize {
                return Err(Refused::Search);
            }
            self.search.push_back(now);
        } else {
            let span = self.window_length();
            Self::expire(&mut self.window, now, span);
            if self.window.len() >= self.limits.ten_second_max as usize {
                return Err(Refused::TenSecondly);
            }
            self.window.push_back(now);
        }
        Ok(())
    }

    /// The `X-HubSpot-RateLimit-*` headers after this request; the daily pair only for
    /// private-app tokens (never for OAuth, per HubSpot's usage guidelines).
    pub(crate) fn headers(
        &mut self,
        with_daily: bool,
        now: Instant,
    ) -> Vec<(&'static str, String)> {
        let span = self.window_length();
        Self::expire(&mut self.window, now, span);
        let max = self.limits.ten_second_max;
        let remaining = max.saturating_sub(u32::try_from(self.window.len()).unwrap_or(u32::MAX));
        let mut h = vec![
            (
                "X-HubSpot-RateLimit-Interval-Milliseconds",
                span.as_millis().to_string(),
            ),
            ("X-HubSpot-RateLimit-Max", max.to_string()),
            ("X-HubSpot-RateLimit-Remaining", remaining.to_string()),
        ];
        if with_daily {
            h.push((
                "X-HubSpot-RateLimit-Daily",
                self.limits.daily_max.to_string(),
            ));
            h.push((
                "X-HubSpot-RateLimit-Daily-Remaining",
                self.limits
                    .daily_max
                    .saturating_sub(self.daily_used)
                    .to_string(),
            ));
        }
        h
    }

    /// Daily headers only: what search responses carry for private-app tokens.
    pub(crate) fn daily_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "X-HubSpot-RateLimit-Daily",
                self.limits.daily_max.to_string(),
            ),
            (
                "X-HubSpot-RateLimit-Daily-Remaining",
                self.limits
                    .daily_max
                    .saturating_sub(self.daily_used)
                    .to_string(),
            ),
        ]
    }
}

impl HubSpotFake {
    /// When every request reached the fake, as time since it started, in order of arrival:
    /// token calls, injected faults, 401s and 429s included, as the requests in
    /// [`HubSpotFake::requests`]' log are. A test measures pacing on these server-side times
    /// (the most requests in any rolling window, the rate achieved) rather than on its own
    /// clock, which does not see how requests bunch up on the way.
    pub fn request_times(&self) -> Vec<Duration> {
        let st = lock(&self.state);
        let origin = st.limits.started;
        st.limits
            .arrivals
            .iter()
            .map(|t| t.saturating_duration_since(origin))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_refuse_and_recover() {
        let mut c = Counters::new(
            Limits {
                ten_second_max: 2,
                daily_max: 10,
                search_per_second: 1,
                ..Limits::default()
            },
            Clock::default(),
        );
        let t0 = Instant::now();
        assert_eq!(c.admit(false, t0), Ok(()));
        assert_eq!(c.admit(false, t0), Ok(()));
        assert_eq!(c.admit(false, t0), Err(Refused::TenSecondly));
        assert_eq!(c.admit(false, t0 + WINDOW), Ok(()));
        assert_eq!(c.admit(true, t0), Ok(()));
        assert_eq!(c.admit(true, t0), Err(Refused::Search));
        assert_eq!(c.admit(true, t0 + SECOND), Ok(()));
        let h = c.headers(true, t0 + WINDOW);
        assert!(
            h.iter()
                .any(|(k, v)| *k == "X-HubSpot-RateLimit-Remaining" && v == "1")
        );
        for _ in 0..3 {
            let _ = c.admit(true, t0 + WINDOW * 3);
        }
        assert_eq!(c.admit(false, t0 + WINDOW * 4), Err(Refused::Daily));
    }

    /// Issue 14: a shortened window is counted strictly (rolling, not by fixed slots) and
    /// stated in the interval header.
    #[test]
    fn item14_a_short_window_is_strict_and_stated() {
        let mut c = Counters::new(
            Limits {
                ten_second_max: 3,
                window: SECOND,
                ..Limits::default()
            },
            Clock::default(),
        );
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        for at in [0, 400, 800] {
            assert_eq!(c.admit(false, t0 + ms(at)), Ok(()));
        }
        // The window rolls: at 999 ms all three are still in it; at 1000 ms the first left.
        assert_eq!(c.admit(false, t0 + ms(999)), Err(Refused::TenSecondly));
        assert_eq!(c.admit(false, t0 + ms(1000)), Ok(()));
        assert_eq!(c.admit(false, t0 + ms(1300)), Err(Refused::TenSecondly));
        let h = c.headers(false, t0 + ms(1300));
        let get = |name: &str| h.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        assert_eq!(
            get("X-HubSpot-RateLimit-Interval-Milliseconds").as_deref(),
            Some("1000")
        );
        assert_eq!(get("X-HubSpot-RateLimit-Max").as_deref(), Some("3"));
        assert_eq!(get("X-HubSpot-RateLimit-Remaining").as_deref(), Some("0"));
    }
}
