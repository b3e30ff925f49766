//! Issue 15: the 360° view from a fresh connection is not held back by HubSpot's own pacing.
//! Its parallel reads — two searches in the 5-per-second search bucket, a handful of reads in
//! the app's 10-second bucket — fit in the burst the limiter lets go at once from idle.
//!
//! Counts, never times: every permit is first asked for with no wait allowed, and a permit the
//! pacing would have made the view wait for shows up as a refusal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm_core::limits::{Bucket, RateLimiter};
use crm_core::reexports::async_trait;
use crm_core::reexports::http::HeaderMap;
use crm_core::{Crm, Email, Lookup, Phone, Region, Result, ViewOptions};
use crm_hubspot::{AppKind, limits};
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, Limits, demo};

/// HubSpot's own limiter, asked first with no wait: a permit it would have made the caller
/// wait for is recorded (by bucket), then waited for as usual so the view still completes.
#[derive(Debug)]
struct NoWaitProbe {
    inner: Arc<dyn RateLimiter>,
    held: Mutex<Vec<Bucket>>,
    granted: Mutex<Vec<Bucket>>,
}

impl NoWaitProbe {
    fn new(inner: impl RateLimiter + 'static) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(inner),
            held: Mutex::new(Vec::new()),
            granted: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl RateLimiter for NoWaitProbe {
    async fn acquire(&self, bucket: Bucket, max_wait: Duration) -> Result<()> {
        if self.inner.acquire(bucket, Duration::ZERO).await.is_err() {
            self.held.lock().unwrap().push(bucket);
            self.inner.acquire(bucket, max_wait).await?;
        }
        self.granted.lock().unwrap().push(bucket);
        Ok(())
    }

    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap) {
        self.inner.observe(bucket, status, headers);
    }
}

/// A portal of `per_10s` requests per 10 s (what its headers state) with the demo data.
async fn portal(per_10s: u32) -> HubSpotFake {
    HubSpotFake::start(HubSpotFakeConfig {
        limits: Limits {
            ten_second_max: per_10s,
            ..Limits::default()
        },
        ..HubSpotFakeConfig::with_demo_properties()
    })
    .await
}

/// The lookups a bot makes: by email (two searches at once), by phone and by external id.
fn lookups() -> Vec<Lookup> {
    vec![
        Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap()),
        Lookup::Phone(Phone::parse("415.555.0100", Region::us()).unwrap()),
        Lookup::ExternalId(demo::CUSTOMER_EXTERNAL_ID.to_owned()),
    ]
}

#[tokio::test]
async fn item15_the_360_view_from_a_fresh_connection_waits_for_no_permit() {
    for (app, per_10s) in [
        (AppKind::PrivateStarter, 100),
        (AppKind::PrivateProfessional, 190),
        (AppKind::PublicApp, 110),
    ] {
        for lookup in lookups() {
            let fake = portal(per_10s).await;
            let probe = NoWaitProbe::new(limits::default_limiter(app));
            let crm = common::builder(&fake)
                .with_app(app)
                .with_idempotency_field(Some(demo::IDEMPOTENCY_PROPERTY))
                .with_external_id_property(Some(demo::EXTERNAL_ID_PROPERTY))
                .with_lead_source_property(Some(demo::LEAD_SOURCE_PROPERTY))
                .with_limiter(probe.clone())
                .build()
                .unwrap();
            let view = crm
                .customer_view(&lookup, &ViewOptions::default())
                .await
                .unwrap()
                .expect("the demo customer is found");
            assert_eq!(view.contact.id.as_str(), demo::CUSTOMER_CONTACT_ID);
            let granted = probe.granted.lock().unwrap().clone();
            let searches = granted.iter().filter(|b| **b == limits::SEARCH).count();
            // The view really drew on both buckets, the search one more than once by email.
            assert!(
                granted.contains(&limits::GENERAL),
                "{lookup:?}: {granted:?}"
            );
            if matches!(lookup, Lookup::Email(_)) {
                assert!(searches >= 2, "{granted:?}");
            }
            assert_eq!(
                *probe.held.lock().unwrap(),
                Vec::<Bucket>::new(),
                "{app:?} at {per_10s}/10 s, {lookup:?}: permits held back out of {granted:?}"
            );
            assert_eq!(fake.requests().rate_limited, 0);
        }
    }
}
