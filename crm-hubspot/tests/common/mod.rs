//! What the test files share: a HubSpot connection to crm-testkit's fake.
// Each test file is its own crate and uses part of this module.
#![allow(dead_code)]

use crm_hubspot::HubSpotBuilder;
use crm_testkit::hubspot::HubSpotFake;

/// A builder aimed at `fake`, with its private-app token.
pub(crate) fn builder(fake: &HubSpotFake) -> HubSpotBuilder {
    aimed(HubSpotBuilder::new(), fake)
}

/// `b` aimed at `fake`, with its private-app token.
pub(crate) fn aimed(b: HubSpotBuilder, fake: &HubSpotFake) -> HubSpotBuilder {
    b.with_base_url(fake.base_url())
        .with_token(fake.token().to_owned().into())
}
