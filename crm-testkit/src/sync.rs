//! Locking a fake's state, shared by every fake.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a fake's state; the state changes in whole steps, so a poisoned lock is still usable.
pub(crate) fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
