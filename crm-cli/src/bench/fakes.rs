//! The embedded fakes `crm-connect bench` runs against without `--config`: each started on
//! 127.0.0.1 with its faults under the bench's control, and a connection to it whose requests
//! the bench's observer counts.

use std::sync::Arc;
use std::time::Duration;

use crm_core::limits::RequestObserver;
use crm_core::reexports::futures::future::LocalBoxFuture;
use crm_core::{Crm, ObjectKind, Result};
use serde_json::Value;

/// An embedded fake: faults to inject, and its own store to count records in.
pub(crate) trait FaultControl: Send + Sync {
    /// Fails `fail_rate` of requests with 502/503, `after_commit` of those after the write.
    fn set(&self, fail_rate: f64, after_commit: f64, seed: u64);
    /// No more faults.
    fn clear(&self);
    /// Every stored record of `kind` (contacts, tickets), as the fake keeps it.
    fn stored(&self, kind: ObjectKind) -> Vec<Value>;
    /// `(requests, refused for a limit)` the fake has served so far, by its own counters:
    /// every request, token requests included.
    fn served(&self) -> (usize, usize);
}

struct SandboxFake(crm_testkit::sandbox::Sandbox);

impl FaultControl for SandboxFake {
    fn set(&self, fail_rate: f64, after_commit: f64, seed: u64) {
        self.0.set_faults(crm_testkit::sandbox::Faults {
            fail_rate,
            after_commit_share: after_commit,
            seed,
            ..Default::default()
        });
    }
    fn clear(&self) {
        self.0.set_faults(crm_testkit::sandbox::Faults::default());
    }
    fn stored(&self, kind: ObjectKind) -> Vec<Value> {
        match kind {
            ObjectKind::Contact => self.0.records("contacts"),
            ObjectKind::Ticket => self.0.records("tickets"),
            _ => Vec::new(),
        }
    }
    fn served(&self) -> (usize, usize) {
        let s = self.0.requests();
        (s.total, s.rate_limited)
    }
}

struct HubSpotFake(crm_testkit::hubspot::HubSpotFake);

impl FaultControl for HubSpotFake {
    fn set(&self, fail_rate: f64, after_commit: f64, seed: u64) {
        self.0.set_faults(crm_testkit::hubspot::HubSpotFaults {
            fail_rate,
            after_commit_share: after_commit,
            seed,
            ..Default::default()
        });
    }
    fn clear(&self) {
        self.0
            .set_faults(crm_testkit::hubspot::HubSpotFaults::default());
    }
    fn stored(&self, kind: ObjectKind) -> Vec<Value> {
        match kind {
            ObjectKind::Contact => self.0.records("contacts"),
            ObjectKind::Ticket => self.0.records("tickets"),
            _ => Vec::new(),
        }
    }
    fn served(&self) -> (usize, usize) {
        let s = self.0.requests();
        (s.total, s.rate_limited)
    }
}

struct SalesforceFake(crm_testkit::salesforce::SalesforceFake);

impl FaultControl for SalesforceFake {
    fn set(&self, fail_rate: f64, after_commit: f64, seed: u64) {
        self.0.set_faults(crm_testkit::salesforce::Faults {
            fail_rate,
            after_commit_share: after_commit,
            seed,
            ..Default::default()
        });
    }
    fn clear(&self) {
        self.0
            .set_faults(crm_testkit::salesforce::Faults::default());
    }
    fn stored(&self, kind: ObjectKind) -> Vec<Value> {
        match kind {
            ObjectKind::Contact => self.0.records("Contact"),
            ObjectKind::Ticket => self.0.records("Case"),
            _ => Vec::new(),
        }
    }
    fn served(&self) -> (usize, usize) {
        let s = self.0.requests();
        (s.total + s.token_requests, s.limit_exceeded)
    }
}

/// An embedded fake the bench runs against without `--config`, with a connection to it that
/// reports to the bench's observer.
pub(crate) type Embedded = (Box<dyn FaultControl>, Arc<dyn Crm>);

/// Starts an embedded fake and connects to it.
pub(crate) type StartFake =
    fn(Arc<dyn RequestObserver>) -> LocalBoxFuture<'static, Result<Embedded>>;

/// The embedded fakes `--vendor` chooses from, by their adapter's name.
pub(crate) fn embedded_fakes() -> [(&'static str, StartFake); 3] {
    [
        (crm_generic_rest::VENDOR, |o| Box::pin(start_sandbox(o))),
        (crm_hubspot::VENDOR, |o| Box::pin(start_hubspot(o))),
        (crm_salesforce::VENDOR, |o| Box::pin(start_salesforce(o))),
    ]
}

async fn start_sandbox(observer: Arc<dyn RequestObserver>) -> Result<Embedded> {
    use crm_testkit::sandbox::{Sandbox, SandboxConfig};
    let sandbox = Sandbox::start(SandboxConfig::default().with_demo_data(false)).await;
    let crm = crm_generic_rest::GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .with_request_observer(observer)
        .build()?;
    Ok((Box::new(SandboxFake(sandbox)), Arc::new(crm)))
}

async fn start_hubspot(observer: Arc<dyn RequestObserver>) -> Result<Embedded> {
    use crm_testkit::hubspot::{HubSpotFakeConfig, Limits, demo as hs};
    // A strict rolling window of 100 requests per second: runs stay short, and the
    // connection's own limiter (sized from the fake's `X-HubSpot-RateLimit-Max` and
    // `-Interval-Milliseconds` headers) must keep every window under it.
    let hub = crm_testkit::hubspot::HubSpotFake::start(HubSpotFakeConfig {
        demo_data: false,
        limits: Limits {
            ten_second_max: 100,
            window: Duration::from_secs(1),
            daily_max: 10_000_000,
            search_per_second: 5,
        },
        ..HubSpotFakeConfig::with_demo_properties()
    })
    .await;
    let crm = crm_hubspot::HubSpotBuilder::new()
        .with_base_url(hub.base_url())
        .with_token(hub.token().to_owned().into())
        .with_idempotency_field(Some(hs::IDEMPOTENCY_PROPERTY))
        .with_request_observer(observer)
        .build()?;
    Ok((Box::new(HubSpotFake(hub)), Arc::new(crm)))
}

async fn start_salesforce(observer: Arc<dyn RequestObserver>) -> Result<Embedded> {
    use crm_testkit::salesforce::SalesforceFakeConfig;
    let org = crm_testkit::salesforce::SalesforceFake::start(SalesforceFakeConfig {
        demo_data: false,
        daily_api_limit: 1_000_000,
        ..SalesforceFakeConfig::default()
    })
    .await;
    let c = org.config();
    let crm = crm_salesforce::SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_idempotency_field(Some("Idempotency_Key__c"))
        .with_refresh_token(
            c.client_id.clone(),
            Some(c.client_secret.clone().into()),
            c.refresh_token.clone().into(),
        )
        .with_request_observer(observer)
        .build()?;
    Ok((Box::new(SalesforceFake(org)), Arc::new(crm)))
}
