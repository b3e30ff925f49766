//! Pipedrive's fake: what a registry of fakes (the facade's `crm_connect::fakes()`) lists for
//! `pipedrive`. The fake itself lives in `crm-testkit`, which knows no adapter; it sends no
//! webhooks, so no verifier is joined to it.
#![cfg(feature = "testkit")]

use crm_testkit::fake::{Pipedrive, VendorFake};

/// The Pipedrive fake, with the demo company's custom fields.
pub fn fake() -> &'static dyn VendorFake {
    &Pipedrive
}
