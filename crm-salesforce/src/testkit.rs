//! Salesforce's fake joined with this adapter's Outbound Message verifier: what a registry of
//! fakes (the facade's `crm_connect::fakes()`) lists for `salesforce`. The fake itself lives
//! in `crm-testkit`, which knows no adapter.
#![cfg(feature = "testkit")]

use crm_core::Result;
use crm_core::events::WebhookSource;
use crm_core::reexports::secrecy::ExposeSecret;
use crm_testkit::fake::{RunningFake, Salesforce, VendorFake, Verified};

use crate::{OutboundMessages, VENDOR};

static FAKE: Verified = Verified::new(&Salesforce, verifier);

/// The Salesforce fake (a login server for the refresh-token flow and the org's instance),
/// whose Outbound Messages this adapter's [`OutboundMessages`] verifies.
pub fn fake() -> &'static dyn VendorFake {
    &FAKE
}

/// Outbound Messages carry the org id, which the receiver checks against its own org's.
fn verifier(fake: &RunningFake) -> Result<Option<Box<dyn WebhookSource>>> {
    let Some(org_id) = fake.notification_secret() else {
        return Ok(None);
    };
    let name = fake.config().connection_name.as_deref().unwrap_or(VENDOR);
    let source = OutboundMessages::new(org_id.expose_secret(), name)?;
    Ok(Some(Box::new(source)))
}
