//! A request budget as people write it in settings: `190/10s`, `100/1s`, `50/500ms`.
//!
//! Vendors state their limits as "N requests per window" with windows of their own (HubSpot 10
//! seconds, Pipedrive 2 seconds, a generic API whatever it documents), so the text form and its
//! parser belong here rather than in each adapter; an adapter only says what a bare count means.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use crate::{Error, Result};

/// `requests` per rolling `window`: the budget a [`crate::limits::BucketConfig`] is sized with.
///
/// Text form (`Display` and [`RateLimit::parse`] agree): `<count>/<window>`, the window a number
/// and a unit (`ms`, `s`, `m`; the number may be left out for one unit: `100/s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: NonZeroU32,
    /// The rolling window.
    pub window: Duration,
}

impl RateLimit {
    /// `requests` per `window`.
    pub fn new(requests: NonZeroU32, window: Duration) -> Self {
        Self { requests, window }
    }

    /// Parses `190/10s`, `100/1s`, `100/s`, `50/500ms`, `1000/1m`. A bare count (`190`) is per
    /// `bare_window` when the vendor has a window everyone means; with `None` it is refused.
    /// Errors name the setting `key` and never echo more than the given text.
    pub fn parse(text: &str, key: &str, bare_window: Option<Duration>) -> Result<Self> {
        let bad = || {
            Error::config(format!(
                "{key}: `{text}` is not requests per window such as `190/10s`, `100/1s`{}",
                match bare_window {
                    Some(w) => format!(" or a bare count per {}", Self::window_text(w)),
                    None => String::new(),
                }
            ))
        };
        let (count, window) = match text.split_once('/') {
            Some((c, w)) => (c.trim(), Some(w.trim())),
            None => (text.trim(), None),
        };
        let requests = count
            .parse::<u32>()
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(bad)?;
        let window = match (window, bare_window) {
            (Some(window), _) => window,
            (None, Some(bare)) => return Ok(Self::new(requests, bare)),
            (None, None) => return Err(bad()),
        };
        let (number, unit) = match window.find(|c: char| !c.is_ascii_digit()) {
            Some(at) => window.split_at(at),
            None => (window, "s"),
        };
        let number = if number.is_empty() {
            1
        } else {
            number.parse::<u64>().map_err(|_| bad())?
        };
        let window = match unit.trim() {
            "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(number),
            "ms" => Duration::from_millis(number),
            "m" | "min" | "minute" | "minutes" => {
                Duration::from_secs(number.checked_mul(60).ok_or_else(bad)?)
            }
            _ => return Err(bad()),
        };
        if window.is_zero() {
            return Err(bad());
        }
        Ok(Self::new(requests, window))
    }

    /// `10s` or `500ms`: whole seconds when the window is a whole number of them.
    fn window_text(window: Duration) -> String {
        let ms = window.as_millis();
        if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{ms}ms")
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, Self::window_text(self.window))
    }
}

/// The text form with its window stated (`190/10s`); the setting is named `rate_limit`.
impl FromStr for RateLimit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s, "rate_limit", None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn rate_limit_text_parses_and_round_trips() {
        for (text, requests, window) in [
            ("190/10s", 190, Duration::from_secs(10)),
            (" 100 / 1s ", 100, Duration::from_secs(1)),
            ("100/s", 100, Duration::from_secs(1)),
            ("100/1", 100, Duration::from_secs(1)),
            ("50/500ms", 50, Duration::from_millis(500)),
            ("1000/1m", 1000, Duration::from_secs(60)),
        ] {
            let rate: RateLimit = text.parse().unwrap();
            assert_eq!(rate, RateLimit::new(nz(requests), window), "{text}");
            assert_eq!(rate.to_string().parse::<RateLimit>().unwrap(), rate);
        }
    }

    #[test]
    fn a_bare_count_takes_the_vendors_window_or_is_refused() {
        let ten = Duration::from_secs(10);
        assert_eq!(
            RateLimit::parse("190", "rate_limit", Some(ten)).unwrap(),
            RateLimit::new(nz(190), ten)
        );
        let err = RateLimit::parse("190", "requests", None).unwrap_err();
        assert!(err.message().starts_with("requests:"), "{err}");
    }

    #[test]
    fn bad_rate_limits_name_the_key() {
        for bad in [
            "",
            "0/10s",
            "abc",
            "100/0s",
            "100/10 fortnights",
            "-5",
            "100/x",
        ] {
            let err =
                RateLimit::parse(bad, "rate_limit", Some(Duration::from_secs(10))).unwrap_err();
            assert!(err.message().starts_with("rate_limit:"), "{bad}: {err}");
        }
    }
}
