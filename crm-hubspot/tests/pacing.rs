//! Issue 14: every HubSpot connection paces itself to what the portal allows — the tier it
//! was configured for, or what HubSpot's `X-HubSpot-RateLimit-Max` and
//! `-Interval-Milliseconds` headers state — on a fake that counts a strict rolling window.
//! Counts, never times: a pacing failure shows as 429s the fake refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crm_core::limits::{Bucket, RequestObserver};
use crm_core::reexports::http::HeaderMap;
use crm_core::{Crm, RecordId};
use crm_hubspot::AppKind;
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, Limits};

/// A portal whose rolling window allows `max` requests per second.
async fn strict(max: u32) -> HubSpotFake {
    HubSpotFake::start(HubSpotFakeConfig {
        limits: Limits {
            ten_second_max: max,
            window: Duration::from_secs(1),
            ..Limits::default()
        },
        ..HubSpotFakeConfig::default()
    })
    .await
}

async fn reads(crm: &dyn Crm, n: usize) {
    let id = RecordId::new("1").unwrap();
    for _ in 0..n {
        let _ = crm.contacts().get(&id).await;
    }
}

/// Counts requests, and answers that say the window is full (`X-HubSpot-RateLimit-Remaining:
/// 0`) or refused (429): a connection paced to the portal's size never reaches either, while
/// one paced to a bigger tier runs into the full window and only then stops.
#[derive(Debug, Default)]
struct Count {
    sent: AtomicUsize,
    window_full: AtomicUsize,
    refused: AtomicUsize,
}

impl RequestObserver for Count {
    fn on_send(&self, _bucket: Bucket) {
        self.sent.fetch_add(1, Ordering::SeqCst);
    }
    fn on_response(&self, _bucket: Bucket, status: u16, headers: &HeaderMap) {
        if status == 429 {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
        let remaining = headers
            .get("x-hubspot-ratelimit-remaining")
            .and_then(|v| v.to_str().ok());
        if remaining == Some("0") {
            self.window_full.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A connection configured for a bigger tier (250 per 10 s: 12 at once, then 22 a second)
/// than the portal allows (30 per second, strictly) follows the portal's headers from the
/// first answer on: it never fills the window, and is never refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item14_the_portals_stated_limit_sizes_the_default_limiter() {
    let fake = strict(30).await;
    let count = Arc::new(Count::default());
    let crm = common::builder(&fake)
        .with_app(AppKind::PrivateWithLimitIncrease)
        .with_request_observer(count.clone())
        .build()
        .unwrap();
    reads(&crm, 60).await;
    assert_eq!(fake.requests().rate_limited, 0);
    assert_eq!(count.refused.load(Ordering::SeqCst), 0);
    assert_eq!(
        count.window_full.load(Ordering::SeqCst),
        0,
        "paced to the edge"
    );
    assert_eq!(count.sent.load(Ordering::SeqCst), 60);
}

/// The rate set per connection (`rate_limit`, as a connection file's `[settings]` gives it)
/// paces the connection, and an observer watching it changes nothing about that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item14_a_configured_rate_paces_and_an_observer_keeps_it() {
    let fake = strict(20).await;
    let count = Arc::new(Count::default());
    let crm = common::builder(&fake)
        .with_config("rate_limit", "20/1s")
        .with_request_observer(count.clone())
        .build()
        .unwrap();
    reads(&crm, 50).await;
    assert_eq!(fake.requests().rate_limited, 0);
    assert_eq!(count.refused.load(Ordering::SeqCst), 0);
    assert_eq!(
        count.window_full.load(Ordering::SeqCst),
        0,
        "paced to the edge"
    );
    assert_eq!(count.sent.load(Ordering::SeqCst), 50);
}
