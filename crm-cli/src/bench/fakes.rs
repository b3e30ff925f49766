//! The embedded fakes `crm-connect bench` runs against without `--config`: any fake of
//! [`crm_connect::fakes`], started for a load run, with a connection built through its
//! adapter's connector — the path a connection file takes — whose requests the bench's
//! observer counts. Nothing here names a vendor.

use std::sync::Arc;

use crm_connect::testkit::{FakeOptions, RunningFake};
use crm_core::limits::RequestObserver;
use crm_core::{Crm, Result};

/// Starts the fake of `vendor` and connects to it, every request reported to `observer`.
/// An unknown vendor is a `Config` error listing the fakes.
pub(crate) async fn start(
    vendor: &str,
    observer: Arc<dyn RequestObserver>,
) -> Result<(RunningFake, Arc<dyn Crm>)> {
    let fake = crm_connect::fake(vendor)?;
    let connector = crm_core::raw::find(&crm_connect::connectors(), vendor)?;
    let running = fake.start(&FakeOptions::load()).await?;
    let mut config = running.config().clone();
    config.observer = Some(observer);
    let crm = connector.build(&config)?;
    Ok((running, crm))
}
