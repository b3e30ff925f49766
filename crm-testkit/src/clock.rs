//! The clock a fake keeps its time-dependent state on: tokio's clock of the runtime that
//! started the fake.
//!
//! The HTTP server behind a fake answers on a runtime of its own (wiremock runs each server on a
//! thread with its own runtime), whose clock never pauses. Reading the starting runtime's clock
//! instead means a test that pauses tokio time (`#[tokio::test(start_paused = true)]`,
//! `tokio::time::advance`) moves the fake's clock together with the client's: a 300 ms search
//! lag is over once the test advances 300 ms, and not before.

use tokio::runtime::Handle;
use tokio::time::Instant;

/// tokio's clock of the runtime a fake was started on (or of whatever runtime asks, when the
/// fake was built outside one).
#[derive(Clone, Debug, Default)]
pub(crate) struct Clock(Option<Handle>);

impl Clock {
    /// The clock of the runtime this is called on.
    pub(crate) fn of_current_runtime() -> Self {
        Self(Handle::try_current().ok())
    }

    /// Now, on that runtime's clock (paused or not).
    pub(crate) fn now(&self) -> Instant {
        match &self.0 {
            Some(handle) => {
                let _entered = handle.enter();
                Instant::now()
            }
            None => Instant::now(),
        }
    }
}
