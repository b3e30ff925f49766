//! When and how long to wait before sending a failed request again.
//!
//! One policy for every adapter: exponential backoff with full jitter, the vendor's
//! `Retry-After` honoured (capped), bounded attempts and total time. Whether a request *may* be
//! sent again is decided by its idempotency: a request that might have been carried out (a POST
//! that timed out, a 5xx after the vendor committed) is never replayed blindly; one the vendor
//! certainly refused (401, or any error where [`Error::certainly_not_processed`]) may be.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// The retry policy of a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Most attempts in all, the first included. Default 4.
    pub max_attempts: NonZeroU32,
    /// The backoff ceiling of the first retry; it doubles with each retry. Default 200 ms.
    pub base_delay: Duration,
    /// The largest backoff between two attempts. Default 10 s.
    pub max_delay: Duration,
    /// Give up once this much time has passed since the first attempt. Default 60 s. Waits for
    /// a rate-limit permit count against it as retry delays do: no attempt starts after it.
    pub max_elapsed: Duration,
    /// A `Retry-After` longer than this is not waited for: the error is returned at once, so a
    /// caller (or the outbox) can schedule the work instead of holding a task for an hour.
    /// The same cap bounds a wait for a rate-limit permit, so a bucket paused by such a
    /// `Retry-After` fails every call at once (with the remaining wait) until the pause ends.
    /// Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: NonZeroU32::MIN.saturating_add(3),
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> Self {
        Self {
            max_attempts: NonZeroU32::MIN,
            ..Self::default()
        }
    }

    /// How long to wait before attempt `attempts + 1`, or `None` to give up now.
    ///
    /// `attempts` is how many were made, `elapsed` the time since the first, `idempotent` whether
    /// the request may safely be carried out twice, and `rng` a source of jitter in `[0, 1)`.
    pub fn next_delay(
        &self,
        err: &Error,
        attempts: u32,
        elapsed: Duration,
        idempotent: bool,
        rng: &mut dyn FnMut() -> f64,
    ) -> Option<Duration> {
        if !err.is_retryable() || attempts >= self.max_attempts.get() {
            return None;
        }
        // A spent daily budget does not come back within any sensible backoff.
        if let ErrorKind::RateLimited {
            scope: crate::error::LimitScope::Daily,
            ..
        } = err.kind()
        {
            return None;
        }
        if !idempotent && !err.certainly_not_processed() {
            return None;
        }
        let delay = match err.retry_after() {
            Some(after) if after > self.max_retry_after => return None,
            Some(after) => after,
            None => {
                let exp = attempts.saturating_sub(1).min(20);
                let ceiling = self
                    .base_delay
                    .saturating_mul(1u32 << exp)
                    .min(self.max_delay);
                ceiling.mul_f64(rng().clamp(0.0, 1.0))
            }
        };
        if elapsed.saturating_add(delay) > self.max_elapsed {
            return None;
        }
        Some(delay)
    }
}

/// The longest wait any duration read from the wire is allowed to mean: about a hundred years.
///
/// A vendor (or anything between it and us) can send `Retry-After: 18446744073709551615` or an
/// HTTP-date in the year 9999; adding such a value to an `Instant` or a `SystemTime` overflows and
/// panics. Every wire duration saturates here instead, which is still far enough in the future
/// to mean "not within this process's life" and small enough to add to any clock reading.
pub const MAX_WIRE_DELAY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Clamps a duration read from the wire (a `Retry-After`, a vendor's reset interval) to
/// [`MAX_WIRE_DELAY`], so that adding it to a clock reading cannot overflow.
pub fn saturate_wire_delay(delay: Duration) -> Duration {
    delay.min(MAX_WIRE_DELAY)
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
///
/// Only a usable hint gives `Some`: delay-seconds is one or more ASCII digits (a number larger
/// than any clock can hold saturates at [`MAX_WIRE_DELAY`]), and an HTTP-date must lie in the
/// future. Everything else — a negative or fractional number, a sign, garbage, a date that has
/// already passed — is "no hint" (`None`), so the caller falls back on its own backoff instead
/// of retrying at once on a value the server did not mean. Never panics, whatever the input.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // All digits, so the only way to fail is a number beyond u64: saturate.
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(saturate_wire_delay(Duration::from_secs(secs)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    match at.duration_since(now) {
        Ok(wait) if !wait.is_zero() => Some(saturate_wire_delay(wait)),
        // Now or in the past: the server gives no wait worth honouring.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LimitScope;
    use std::time::SystemTime;

    fn limited(after: Option<u64>) -> Error {
        Error::new(
            ErrorKind::RateLimited {
                retry_after: after.map(Duration::from_secs),
                scope: LimitScope::Burst,
            },
            "429",
        )
    }

    #[test]
    fn honours_retry_after_and_its_cap() {
        let p = RetryPolicy::default();
        let mut rng = || 0.5;
        assert_eq!(
            p.next_delay(&limited(Some(3)), 1, Duration::ZERO, false, &mut rng),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            p.next_delay(&limited(Some(3600)), 1, Duration::ZERO, true, &mut rng),
            None
        );
    }

    #[test]
    fn a_spent_daily_budget_is_not_retried() {
        let daily = Error::new(
            ErrorKind::RateLimited {
                retry_after: None,
                scope: LimitScope::Daily,
            },
            "403 REQUEST_LIMIT_EXCEEDED",
        );
        assert!(
            RetryPolicy::default()
                .next_delay(&daily, 1, Duration::ZERO, true, &mut || 0.5)
                .is_none()
        );
    }

    #[test]
    fn non_idempotent_requests_are_not_replayed_after_5xx() {
        let p = RetryPolicy::default();
        let mut rng = || 0.5;
        let unavailable = Error::new(ErrorKind::Unavailable, "503");
        assert!(
            p.next_delay(&unavailable, 1, Duration::ZERO, true, &mut rng)
                .is_some()
        );
        assert!(
            p.next_delay(&unavailable, 1, Duration::ZERO, false, &mut rng)
                .is_none()
        );
    }

    #[test]
    fn backoff_is_exponential_jittered_and_bounded() {
        let p = RetryPolicy {
            max_attempts: NonZeroU32::new(10).unwrap(),
            ..RetryPolicy::default()
        };
        let err = Error::new(ErrorKind::Unavailable, "503");
        let mut one = || 0.999_999;
        let d1 = p
            .next_delay(&err, 1, Duration::ZERO, true, &mut one)
            .unwrap();
        let d3 = p
            .next_delay(&err, 3, Duration::ZERO, true, &mut one)
            .unwrap();
        let d9 = p
            .next_delay(&err, 9, Duration::ZERO, true, &mut one)
            .unwrap();
        assert!(d1 <= Duration::from_millis(200));
        assert!(d3 > Duration::from_millis(700) && d3 <= Duration::from_millis(800));
        assert!(d9 <= p.max_delay);
        let mut zero = || 0.0;
        assert_eq!(
            p.next_delay(&err, 3, Duration::ZERO, true, &mut zero),
            Some(Duration::ZERO)
        );
        assert!(
            p.next_delay(&err, 10, Duration::ZERO, true, &mut one)
                .is_none()
        );
        assert!(
            p.next_delay(&err, 2, Duration::from_secs(60), true, &mut one)
                .is_none()
        );
        assert!(
            p.next_delay(&Error::config("x"), 1, Duration::ZERO, true, &mut one)
                .is_none()
        );
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    /// Issue 12, item 2: a past HTTP-date is "no hint", not "retry now".
    #[test]
    fn item2_a_past_or_present_http_date_is_no_hint() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:20:00 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            None
        );
    }

    /// Issue 12, item 2: negative, fractional, signed and garbage values are "no hint"; huge
    /// ones saturate at the far-future cap instead of overflowing later.
    #[test]
    fn item2_bad_and_huge_retry_after_values() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        for bad in [
            "",
            " ",
            "-1",
            "-0",
            "+5",
            "1.5",
            "0.5",
            "1e3",
            "0x10",
            "5s",
            "5 6",
            "NaN",
            "inf",
            "\u{0}",
            "٣",
            "Wed, 21 Oct 2015",
            "Fri, 31 Feb 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        for huge in [
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999999999999999",
            "3155760000",
        ] {
            assert_eq!(parse_retry_after(huge, now), Some(MAX_WIRE_DELAY), "{huge}");
        }
        let far = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now);
        assert_eq!(far, Some(MAX_WIRE_DELAY));
        // A saturated wait still adds to every clock the crate uses.
        let wait = far.unwrap();
        assert!(tokio::time::Instant::now().checked_add(wait).is_some());
        assert!(std::time::Instant::now().checked_add(wait).is_some());
        assert!(SystemTime::now().checked_add(wait).is_some());
    }

    /// Issue 12, item 2, as a bounded property test: no header value, however built, panics;
    /// whatever comes back is at most the far-future cap.
    #[test]
    fn item2_no_retry_after_value_panics() {
        let mut rng = fastrand::Rng::with_seed(0x5eed_1212);
        let now = SystemTime::now();
        let pieces = [
            "0",
            "1",
            "9",
            "-",
            "+",
            ".",
            " ",
            ",",
            ":",
            "GMT",
            "Wed",
            "Oct",
            "31",
            "9999",
            "1970",
            "18446744073709551615",
            "e",
            "\t",
            "é",
            "\u{0}",
            "\u{7f}",
            "💥",
        ];
        for _ in 0..20_000 {
            let len = rng.usize(0..12);
            let mut s = String::new();
            for _ in 0..len {
                match rng.u8(0..3) {
                    0 => s.push_str(pieces[rng.usize(0..pieces.len())]),
                    1 => s.push(rng.char(..)),
                    _ => s.push_str(&rng.u64(..).to_string()),
                }
            }
            if let Some(wait) = parse_retry_after(&s, now) {
                assert!(wait <= MAX_WIRE_DELAY, "{s:?}");
            }
        }
        // Well-formed dates at random instants, past and future, around `now`.
        for _ in 0..5_000 {
            let secs = rng.u64(0..253_402_300_799);
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let text = httpdate::fmt_http_date(at);
            match parse_retry_after(&text, now) {
                Some(wait) => assert!(at > now && wait <= MAX_WIRE_DELAY, "{text}"),
                None => assert!(at <= now, "{text}"),
            }
        }
    }
}
