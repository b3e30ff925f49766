//! The sandbox CRM (a company's own REST CRM, described by this adapter's default spec)
//! joined with this adapter's webhook verifier: what a registry of fakes (the facade's
//! `crm_connect::fakes()`) lists for `generic-rest`. The sandbox itself lives in
//! `crm-testkit`, which knows no adapter.
#![cfg(feature = "testkit")]

use crm_core::Result;
use crm_core::events::WebhookSource;
use crm_core::reexports::secrecy::SecretString;
use crm_testkit::fake::{Sandbox, VendorFake, Verified};

use crate::{GenericWebhook, Spec};

static FAKE: Verified = Verified::new(&Sandbox, verifier);

/// The sandbox CRM, whose signed webhooks this adapter's [`GenericWebhook`] verifies with the
/// default spec.
pub fn fake() -> &'static dyn VendorFake {
    &FAKE
}

fn verifier(secret: SecretString, name: &str) -> Result<Box<dyn WebhookSource>> {
    Ok(Box::new(GenericWebhook::new(
        &Spec::default_spec()?,
        secret,
        name,
    )?))
}
