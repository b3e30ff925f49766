//! The SDK's metrics in Prometheus' text format: install the exporter's recorder once at start-up,
//! and every CRM call, retry, limit hit and outbox delivery shows up.
//!
//! ```text
//! cargo run --example prometheus_metrics
//! ```
//! A real service serves `handle.render()` at `/metrics` (for example with an `axum` route); this
//! example runs a few calls against the sandbox and prints the rendered text.

use crm_core::{Crm, Email, Lookup, ViewOptions};
use crm_generic_rest::GenericRestBuilder;
use crm_testkit::sandbox::{Faults, Sandbox, SandboxConfig, demo};
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> crm_core::Result<()> {
    let handle = PrometheusBuilder::new().install_recorder().map_err(|e| {
        crm_core::Error::config(format!("cannot install the metrics recorder: {e}"))
    })?;

    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .build()?;
    let lookup = Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL)?);
    crm.customer_view(&lookup, &ViewOptions::default()).await?;
    // One 429 with Retry-After: 0 shows up as a limit hit and a retry.
    sandbox.set_faults(Faults {
        rate_limit_next: 1,
        retry_after_secs: 0,
        ..Faults::default()
    });
    crm.contacts().find_by(&lookup).await?;

    for line in handle.render().lines().filter(|l| l.starts_with("crm_")) {
        println!("{line}");
    }
    Ok(())
}
