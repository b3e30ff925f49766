//! Pipedrive's limits (its "Rate limiting" and "Guide for optimizing API usage" pages):
//!
//! - a burst limit per token in a rolling 2-second window, stated on every response in
//!   `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds until the
//!   window has room again); over it, `429` with `errorCode: 429`;
//! - a daily token budget per company (30,000 base tokens × plan multiplier × seats), each call
//!   costing tokens by its kind (a single-record read costs least, a search most; API v2 calls
//!   cost about half their v1 equivalents), reset at midnight UTC; spent, every call is `429`
//!   until the reset;
//! - for API-token requests, `x-daily-requests-left`: the POST/PUT (write) calls left of the
//!   10,000-a-day fair-usage limit.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Pipedrive's burst window.
pub(crate) const WINDOW: Duration = Duration::from_secs(2);

/// The limits a fake company enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests per token per rolling 2 seconds. Default 80 (the Professional plan's API-token
    /// burst in Pipedrive's table; OAuth tokens get four times as many there).
    pub burst: u32,
    /// The company's daily token budget. Default 30,000 × 5 (plan multiplier) × 10 seats.
    pub daily_tokens: u64,
    /// Writes per day before `x-daily-requests-left` reaches 0. Default 10,000.
    pub daily_writes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            burst: 80,
            daily_tokens: 30_000 * 5 * 10,
            daily_writes: 10_000,
        }
    }
}

/// What a call costs, by its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cost {
    /// One record by id.
    Get,
    /// A page of a listing.
    List,
    /// A create, update or delete.
    Write,
    /// A search.
    Search,
}

impl Cost {
    /// Tokens of the call: Pipedrive's published v1 costs (2, 20, 10, 40), halved on v2.
    pub(crate) fn tokens(self, v2: bool) -> u64 {
        let v1 = match self {
            Cost::Get => 2,
            Cost::List => 20,
            Cost::Write => 10,
            Cost::Search => 40,
        };
        if v2 { v1 / 2 } else { v1 }
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The 2-second window is full.
    Burst,
    /// The day's token budget is spent.
    Daily,
}

/// The live counters.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) limits: Limits,
    window: VecDeque<Instant>,
    pub(crate) tokens_used: u64,
    pub(crate) writes: u64,
}

impl Counters {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            window: VecDeque::new(),
            tokens_used: 0,
            writes: 0,
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.window.pop_front();
        }
    }

    /// Counts a request; `Err` when a limit refuses it.
    pub(crate) fn admit(&mut self, cost: u64, write: bool, now: Instant) -> Result<(), Refused> {
        if self.tokens_used.saturating_add(cost) > self.limits.daily_tokens {
            return Err(Refused::Daily);
        }
        self.expire(now);
        if self.window.len() >= self.limits.burst as usize {
            return Err(Refused::Burst);
        }
        self.window.push_back(now);
        self.tokens_used += cost;
        if write {
            self.writes += 1;
        }
        Ok(())
    }

    /// Whole seconds (rounded up) until the oldest request in the window leaves it.
    pub(crate) fn reset_secs(&mut self, now: Instant) -> u64 {
        self.expire(now);
        self.window.front().map_or(0, |first| {
            let left = WINDOW.saturating_sub(now.saturating_duration_since(*first));
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        })
    }

    /// The rate headers after this request; `x-daily-requests-left` only for API tokens.
    pub(crate) fn headers(&mut self, api_token: bool, now: Instant) -> Vec<(&'static str, String)> {
        let reset = self.reset_secs(now);
        let used = u32::try_from(self.window.len()).unwrap_or(u32::MAX);
        let mut h = vec![
            ("x-ratelimit-limit", self.limits.burst.to_string()),
            (
                "x-ratelimit-remaining",
                self.limits.burst.saturating_sub(used).to_string(),
            ),
            ("x-ratelimit-reset", reset.to_string()),
        ];
        if api_token {
            h.push((
                "x-daily-requests-left",
                self.limits
                    .daily_writes
                    .saturating_sub(self.writes)
                    .to_string(),
            ));
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_window_rolls_and_the_budget_runs_out() {
        let mut c = Counters::new(Limits {
            burst: 2,
            daily_tokens: 25,
            daily_writes: 10,
        });
        let t0 = Instant::now();
        assert_eq!(c.admit(10, true, t0), Ok(()));
        assert_eq!(c.admit(1, false, t0), Ok(()));
        assert_eq!(c.admit(1, false, t0), Err(Refused::Burst));
        let h = c.headers(true, t0);
        assert!(h.contains(&("x-ratelimit-remaining", "0".into())));
        assert!(h.contains(&("x-ratelimit-reset", "2".into())));
        assert!(h.contains(&("x-daily-requests-left", "9".into())));
        assert_eq!(c.admit(10, false, t0 + WINDOW), Ok(()));
        // 21 of 25 tokens spent: a 10-token call no longer fits, a 1-token one does.
        assert_eq!(c.admit(10, false, t0 + WINDOW * 3), Err(Refused::Daily));
        assert_eq!(c.admit(1, false, t0 + WINDOW * 3), Ok(()));
        assert!(
            !c.headers(false, t0)
                .iter()
                .any(|(k, _)| *k == "x-daily-requests-left")
        );
    }

    #[test]
    fn v2_calls_cost_half() {
        assert_eq!(Cost::Search.tokens(false), 40);
        assert_eq!(Cost::Search.tokens(true), 20);
        assert_eq!(Cost::Get.tokens(true), 1);
    }
}
