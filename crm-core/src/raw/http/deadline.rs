//! The attempt's deadline: one timer shared by the attempts that start close together.
//!
//! Why not `tokio::time::timeout` per attempt: inserting a timer into tokio's timer wheel
//! wakes the runtime's I/O driver whenever the new timer is due before every other one, which
//! on a runtime with no other timer is every time. A call to a vendor then costs an extra
//! cross-thread wake-up (measured on the overhead bench: about two `futex` calls and one
//! `eventfd` write per call, beyond the bare client's). Attempts that start within the *slack*
//! of each other share one timer instead: a new timer is made (and the driver possibly woken)
//! at most once per slack, whatever the call rate.
//!
//! The price is precision, and it is paid on the early side so that no attempt waits past its
//! timeout: an attempt gives up between `timeout − slack` and `timeout` after it started. The
//! slack is a thirty-second of the timeout and at most a quarter of a second (four timers a
//! second at most at the default 30 s timeout): small enough that an answer due just under the
//! timeout is rarely cut short.

use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::Shared;
use tokio::runtime::{Handle, Id};
use tokio::time::{Instant, Sleep};

/// A deadline some attempts share: completes when it passes.
pub(super) type Deadline = Shared<Pin<Box<Sleep>>>;

/// The attempts' shared deadlines of one client.
pub(super) struct AttemptDeadlines {
    timeout: Duration,
    /// How much earlier than `timeout` an attempt may give up.
    slack: Duration,
    current: Mutex<Option<Current>>,
}

/// The deadline the attempts starting now share, and what it was made for.
struct Current {
    /// A timer belongs to the runtime it was made on: an attempt on another runtime gets its
    /// own (`None`: made outside any runtime's context).
    runtime: Option<Id>,
    /// When the first attempt sharing it started.
    started: Instant,
    deadline: Deadline,
}

impl AttemptDeadlines {
    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            slack: (timeout / 32).min(Duration::from_millis(250)),
            current: Mutex::new(None),
        }
    }

    /// The time allowed for one attempt.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The deadline of an attempt starting now: it passes no later than `timeout` from now and
    /// no earlier than `timeout − slack` from now.
    pub(super) fn start(&self) -> Deadline {
        let now = Instant::now();
        let runtime = Handle::try_current().ok().map(|h| h.id());
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = current.as_ref()
            && c.runtime == runtime
            && now.saturating_duration_since(c.started) <= self.slack
        {
            return c.deadline.clone();
        }
        let deadline = Box::pin(tokio::time::sleep_until(after(now, self.timeout))).shared();
        *current = Some(Current {
            runtime,
            started: now,
            deadline: deadline.clone(),
        });
        deadline
    }
}

/// `now + timeout`, or the furthest instant the clock can hold: a timeout too long for the
/// clock (a connection file may say `timeout_secs = 18446744073709551615`) is no timeout, not a
/// panic.
fn after(now: Instant, timeout: Duration) -> Instant {
    let mut wait = timeout;
    loop {
        if let Some(at) = now.checked_add(wait) {
            return at;
        }
        wait /= 2;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn attempts_within_the_slack_share_one_timer_and_none_waits_past_its_timeout() {
        let timeout = Duration::from_millis(3_200);
        let deadlines = AttemptDeadlines::new(timeout);
        assert_eq!(deadlines.slack, Duration::from_millis(100));
        let first_started = Instant::now();
        let first = deadlines.start();
        tokio::time::advance(Duration::from_millis(60)).await;
        let second_started = Instant::now();
        let second = deadlines.start();
        assert!(first.ptr_eq(&second), "started 60 ms apart: one timer");
        tokio::time::advance(Duration::from_millis(60)).await;
        let third_started = Instant::now();
        let third = deadlines.start();
        assert!(
            !third.ptr_eq(&first),
            "120 ms after the first: a timer of its own"
        );

        second.await;
        let waited = Instant::now() - second_started;
        assert!(waited <= timeout, "{waited:?}");
        assert!(waited >= timeout - deadlines.slack, "{waited:?}");
        assert_eq!(Instant::now() - first_started, timeout);
        first.await;
        third.await;
        assert_eq!(Instant::now() - third_started, timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn the_slack_is_a_thirty_second_of_the_timeout_and_at_most_a_quarter_second() {
        assert_eq!(
            AttemptDeadlines::new(Duration::from_secs(30)).slack,
            Duration::from_millis(250)
        );
        let deadlines = AttemptDeadlines::new(Duration::from_millis(160));
        assert_eq!(deadlines.slack, Duration::from_millis(5));
        let started = Instant::now();
        deadlines.start().await;
        assert_eq!(Instant::now() - started, Duration::from_millis(160));
    }

    #[test]
    fn each_runtime_gets_its_own_timer() {
        let deadlines = AttemptDeadlines::new(Duration::from_millis(50));
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap()
        };
        let (one, two) = (runtime(), runtime());
        let first = {
            let _in_one = one.enter();
            deadlines.start()
        };
        drop(one);
        // The first runtime is gone, so its timer would never fire here; the second runtime's
        // attempt must get one that does.
        let second = {
            let _in_two = two.enter();
            deadlines.start()
        };
        assert!(!first.ptr_eq(&second));
        two.block_on(second);
    }
}
