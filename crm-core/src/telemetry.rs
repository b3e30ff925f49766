//! Metrics, through the `metrics` facade: install any recorder (Prometheus, StatsD) in the
//! application and these appear. Labels never hold record ids or personal values, so their
//! cardinality stays bounded: `vendor`, `operation` (`contact.get`), `outcome` (an error kind
//! name or `ok`), `scope` (a limit), `connection` (a configured name).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `crm_calls_total` | counter | vendor, operation, outcome |
//! | `crm_call_duration_seconds` | histogram | vendor, operation |
//! | `crm_retries_total` | counter | vendor, operation |
//! | `crm_limit_hits_total` | counter | vendor, scope |
//! | `crm_outbox_pending` | gauge | connection |
//! | `crm_outbox_failed` | gauge | connection |
//! | `crm_outbox_oldest_pending_seconds` | gauge | connection |

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::Duration;

use metrics::SharedString;

use crate::error::{Error, ErrorKind, LimitScope};

/// Calls by outcome.
pub const CALLS: &str = "crm_calls_total";
/// Call latency, all attempts included.
pub const CALL_DURATION: &str = "crm_call_duration_seconds";
/// Retries (attempts after the first).
pub const RETRIES: &str = "crm_retries_total";
/// Responses that said a vendor limit was hit (429, Salesforce 403 `REQUEST_LIMIT_EXCEEDED`).
pub const LIMIT_HITS: &str = "crm_limit_hits_total";
/// Outbox writes pending.
pub const OUTBOX_PENDING: &str = "crm_outbox_pending";
/// Outbox writes failed permanently.
pub const OUTBOX_FAILED: &str = "crm_outbox_failed";
/// Age of the oldest pending outbox write.
pub const OUTBOX_OLDEST: &str = "crm_outbox_oldest_pending_seconds";

/// How many distinct names [`intern`] keeps; labels have a bounded cardinality by design, so
/// this is far more than any deployment uses, and only guards against a caller that puts an
/// unbounded value (an id) in an operation name.
const MAX_NAMES: usize = 4096;
/// The longest name [`intern`] keeps.
const MAX_NAME_LEN: usize = 128;

/// `name`, stored once for the life of the process: every call carries its operation name into
/// the response, its error, its log span and two or three metric labels, and with the name
/// interned none of that copies text. `None` when the name is too long or the set is full; the
/// caller then keeps its own copy.
pub(crate) fn intern(name: &str) -> Option<&'static str> {
    if let Some(found) = recent(name) {
        return Some(found);
    }
    let found = intern_shared(name)?;
    remember(found);
    Some(found)
}

/// How many names each thread keeps in front of the shared set.
const RECENT: usize = 16;

thread_local! {
    /// The names this thread interned last: a call names its operation on every request, and
    /// finding it here costs a few length checks and one comparison, where the shared set costs
    /// a lock and a hash.
    static RECENT_NAMES: std::cell::RefCell<([&'static str; RECENT], usize)> =
        const { std::cell::RefCell::new(([""; RECENT], 0)) };
}

#[cfg(test)]
thread_local! {
    /// Look-ups in the shared set from this thread, for the tests.
    static SHARED_LOOKUPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn recent(name: &str) -> Option<&'static str> {
    RECENT_NAMES
        .try_with(|r| {
            let r = r.try_borrow().ok()?;
            r.0.iter()
                .copied()
                .find(|kept| !kept.is_empty() && *kept == name)
        })
        .ok()
        .flatten()
}

fn remember(name: &'static str) {
    let _ = RECENT_NAMES.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            let (names, next) = &mut *r;
            if let Some(slot) = names.get_mut(*next % RECENT) {
                *slot = name;
            }
            *next = (*next + 1) % RECENT;
        }
    });
}

fn intern_shared(name: &str) -> Option<&'static str> {
    #[cfg(test)]
    SHARED_LOOKUPS.with(|c| c.set(c.get() + 1));
    static NAMES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(Default::default);
    if let Some(found) = names
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
    {
        return Some(found);
    }
    if name.len() > MAX_NAME_LEN {
        return None;
    }
    let mut set = names.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = set.get(name) {
        return Some(found);
    }
    if set.len() >= MAX_NAMES {
        return None;
    }
    let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
    set.insert(kept);
    Some(kept)
}

/// `name` interned, or an owned copy when it cannot be (see [`intern`]).
pub(crate) fn name(name: &str) -> Cow<'static, str> {
    intern(name).map_or_else(|| Cow::Owned(name.to_owned()), Cow::Borrowed)
}

/// A label value: borrowed, with no copy, when the name is interned.
// `&Cow`, not `&str`: whether the name is a borrowed static decides whether a label copies it.
#[allow(clippy::ptr_arg)]
fn label(value: &Cow<'static, str>) -> SharedString {
    match value {
        Cow::Borrowed(s) => SharedString::const_str(s),
        Cow::Owned(s) => SharedString::from_owned(s.clone()),
    }
}

// `&Cow`, not `&str`: whether the name is a borrowed static decides whether a label copies it.
#[allow(clippy::ptr_arg)]
pub(crate) fn call_finished(
    vendor: &Cow<'static, str>,
    operation: &Cow<'static, str>,
    elapsed: Duration,
    err: Option<&Error>,
) {
    let outcome = err.map_or("ok", |e| e.kind().name());
    metrics::counter!(CALLS, "vendor" => label(vendor), "operation" => label(operation), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(CALL_DURATION, "vendor" => label(vendor), "operation" => label(operation))
        .record(elapsed.as_secs_f64());
}

// `&Cow`, not `&str`: whether the name is a borrowed static decides whether a label copies it.
#[allow(clippy::ptr_arg)]
pub(crate) fn retried(vendor: &Cow<'static, str>, operation: &Cow<'static, str>) {
    metrics::counter!(RETRIES, "vendor" => label(vendor), "operation" => label(operation))
        .increment(1);
}

// `&Cow`, not `&str`: whether the name is a borrowed static decides whether a label copies it.
#[allow(clippy::ptr_arg)]
pub(crate) fn attempt_failed(vendor: &Cow<'static, str>, err: &Error) {
    if let ErrorKind::RateLimited { scope, .. } = err.kind() {
        let scope = match scope {
            LimitScope::Burst => "burst",
            LimitScope::Search => "search",
            LimitScope::Daily => "daily",
            LimitScope::Concurrency => "concurrency",
            LimitScope::Other(_) => "other",
        };
        metrics::counter!(LIMIT_HITS, "vendor" => label(vendor), "scope" => scope).increment(1);
    }
}

#[cfg(feature = "outbox")]
pub(crate) fn outbox_depth(
    connection: &str,
    pending: usize,
    failed: usize,
    oldest: Option<Duration>,
) {
    let c = name(connection);
    metrics::gauge!(OUTBOX_PENDING, "connection" => label(&c)).set(pending as f64);
    metrics::gauge!(OUTBOX_FAILED, "connection" => label(&c)).set(failed as f64);
    metrics::gauge!(OUTBOX_OLDEST, "connection" => label(&c))
        .set(oldest.map_or(0.0, |d| d.as_secs_f64()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_stored_once_issue15() {
        let a = intern(&String::from("contact.get")).unwrap();
        let b = intern(&format!("contact.{}", "get")).unwrap();
        assert_eq!(a, "contact.get");
        assert!(std::ptr::eq(a, b), "one copy per process");
        assert!(matches!(name("contact.get"), Cow::Borrowed(s) if std::ptr::eq(s, a)));
    }

    /// Keeps where each label value's text lives.
    #[derive(Default)]
    struct Labels(std::sync::Mutex<Vec<(String, usize)>>);

    impl Labels {
        fn keep(&self, key: &metrics::Key) {
            let mut seen = self.0.lock().unwrap();
            for l in key.labels() {
                seen.push((l.key().to_owned(), l.value().as_ptr() as usize));
            }
        }
    }

    impl metrics::Recorder for Labels {
        fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: SharedString) {
        }
        fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: SharedString) {}
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: SharedString,
        ) {
        }
        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            self.keep(key);
            metrics::Counter::noop()
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            self.keep(key);
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            self.keep(key);
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn labels_borrow_the_interned_names_issue15() {
        let vendor = name("hubspot");
        let operation = name(&String::from("contact.list"));
        let recorder = Labels::default();
        metrics::with_local_recorder(&recorder, || {
            call_finished(&vendor, &operation, Duration::from_millis(1), None);
            retried(&vendor, &operation);
            outbox_depth("default", 1, 0, None);
        });
        let seen = recorder.0.into_inner().unwrap();
        let at = |key: &str| -> Vec<usize> {
            seen.iter()
                .filter(|(k, _)| k == key)
                .map(|(_, p)| *p)
                .collect()
        };
        let vendor_at = intern("hubspot").unwrap().as_ptr() as usize;
        let operation_at = intern("contact.list").unwrap().as_ptr() as usize;
        let connection_at = intern("default").unwrap().as_ptr() as usize;
        // Counter, histogram and retry counter: three labels each, none of them a copy.
        assert_eq!(at("vendor"), vec![vendor_at; 3]);
        assert_eq!(at("operation"), vec![operation_at; 3]);
        assert_eq!(at("connection"), vec![connection_at; 3]);
    }

    #[test]
    fn a_request_carries_its_operation_interned_issue15() {
        let op = String::from("thing.get");
        let a = crate::raw::http::Request::get("/things/1", op.clone());
        let b = crate::raw::http::Request::get("/things/2", op.as_str());
        let c = crate::raw::http::Request::get("/things/3", "thing.get");
        assert_eq!(a.operation(), "thing.get");
        assert!(std::ptr::eq(a.operation(), b.operation()));
        assert!(std::ptr::eq(a.operation(), c.operation()));
    }

    /// Issue 15: every request names its operation, and after the first call on a thread the
    /// name is found without the shared set's lock and hash.
    #[test]
    fn a_repeated_operation_name_skips_the_shared_set_issue15() {
        let before = SHARED_LOOKUPS.with(std::cell::Cell::get);
        let op = String::from("widget.get.issue15");
        let first = crate::raw::http::Request::get("/widgets/1", op.as_str());
        for i in 0..100 {
            let r = crate::raw::http::Request::get(format!("/widgets/{i}"), "widget.get.issue15");
            assert!(std::ptr::eq(r.operation(), first.operation()));
        }
        let after = SHARED_LOOKUPS.with(std::cell::Cell::get);
        assert_eq!(
            after - before,
            1,
            "only the first naming reaches the shared set"
        );
    }

    #[test]
    fn an_overlong_name_is_kept_by_the_caller_not_interned() {
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(intern(&long), None);
        assert!(matches!(name(&long), Cow::Owned(s) if s == long));
    }
}
