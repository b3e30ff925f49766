//! The attempt's deadline: one timer shared by the attempts that start close together.
//!
//! Why not `tokio::time::timeout` per attempt: inserting a timer into tokio's timer wheel
//! wakes the runtime's I/O driver whenever the new timer is due before every other one, which
//! on a runtime with no other timer is every time. A call to a vendor then costs an extra
//! cross-thread wake-up (measured on the overhead bench: about two `futex` calls and one
//! `eventfd` write per call, beyond the bare client's). Attempts that start within
//! the *slack* of each other share one timer instead: a new timer is
//! made (and the driver possibly woken) at most once per slack, whatever the call rate.
//!
//! The price is precision, and it is paid on the early side so that no attempt waits past its
//! timeout: an attempt gives up between `timeout − slack` and `timeout` after it started. The
//! slack is a sixteenth of the timeout, at most one second.

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
            slack: (timeout / 16).min(Duration::from_secs(1)),
            current: Mutex::new(None),
        }
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
        let deadlines = AttemptDeadlines::new(Duration::from_secs(32));
        assert_eq!(deadlines.slack, Duration::from_secs(1));
        let first_started = Instant::now();
        let first = deadlines.start();
        tokio::time::advance(Duration::from_millis(600)).await;
        let second_started = Instant::now();
        let second = deadlines.start();
        assert!(first.ptr_eq(&second), "started 0.6 s apart: one timer");
        tokio::time::advance(Duration::from_millis(600)).await;
        let third_started = Instant::now();
        let third = deadlines.start();
        assert!(
            !third.ptr_eq(&first),
            "1.2 s after the first: a timer of its own"
        );

        second.await;
        let waited = Instant::now() - second_started;
        assert!(waited <= Duration::from_secs(32), "{waited:?}");
        assert!(waited >= Duration::from_secs(31), "{waited:?}");
        assert_eq!(Instant::now() - first_started, Duration::from_secs(32));
        first.await;
        third.await;
        assert_eq!(Instant::now() - third_started, Duration::from_secs(32));
    }

    #[tokio::test(start_paused = true)]
    async fn the_slack_is_a_sixteenth_of_a_short_timeout() {
        let deadlines = AttemptDeadlines::new(Duration::from_millis(160));
        assert_eq!(deadlines.slack, Duration::from_millis(10));
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
