//! HubSpot's fake joined with this adapter's webhook verifier: what a registry of fakes (the
//! facade's `crm_connect::fakes()`) lists for `hubspot`. The fake itself lives in
//! `crm-testkit`, which knows no adapter.
#![cfg(feature = "testkit")]

use crm_core::Result;
use crm_core::events::WebhookSource;
use crm_core::reexports::secrecy::SecretString;
use crm_testkit::fake::{HubSpot, VendorFake, Verified};

use crate::HubSpotWebhook;

static FAKE: Verified = Verified::new(&HubSpot, verifier);

/// The HubSpot fake (the demo portal with its custom properties declared), whose webhooks
/// this adapter's [`HubSpotWebhook`] verifies.
pub fn fake() -> &'static dyn VendorFake {
    &FAKE
}

/// The fake signs its webhooks with the app's client secret, v3 only (the current version).
fn verifier(secret: SecretString, name: &str) -> Result<Box<dyn WebhookSource>> {
    Ok(Box::new(HubSpotWebhook::new(secret, name)?.v3_only()))
}
