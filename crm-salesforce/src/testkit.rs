//! Salesforce's fake joined with this adapter's Outbound Message verifier: what a registry of
//! fakes (the facade's `crm_connect::fakes()`) lists for `salesforce`. The fake itself lives
//! in `crm-testkit`, which knows no adapter.
#![cfg(feature = "testkit")]

use crm_core::Result;
use crm_core::events::WebhookSource;
use crm_core::reexports::secrecy::{ExposeSecret, SecretString};
use crm_testkit::fake::{Salesforce, VendorFake, Verified};

use crate::OutboundMessages;

static FAKE: Verified = Verified::new(&Salesforce, verifier);

/// The Salesforce fake (a login server for the refresh-token flow and the org's instance),
/// whose Outbound Messages this adapter's [`OutboundMessages`] verifies.
pub fn fake() -> &'static dyn VendorFake {
    &FAKE
}

/// Outbound Messages carry the org id, which the receiver checks against its own org's.
fn verifier(org_id: SecretString, name: &str) -> Result<Box<dyn WebhookSource>> {
    Ok(Box::new(OutboundMessages::new(
        org_id.expose_secret(),
        name,
    )?))
}
