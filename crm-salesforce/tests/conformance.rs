//! The Salesforce adapter against the Salesforce fake: the shared conformance suite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::time::Duration;

use crm_core::reexports::secrecy::SecretString;
use crm_core::{Email, Phone, Region};
use crm_salesforce::{Salesforce, SalesforceBuilder};
use crm_testkit::conformance::{self, Fixture};
use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig, demo};

const EXTRA_CONTACTS: usize = 30;

/// Short, so the suite's timeout scenarios wait little; far above a request to 127.0.0.1.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

fn connect(org: &SalesforceFake, idempotency_field: Option<&str>) -> Salesforce {
    let c = org.config();
    SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_idempotency_field(idempotency_field)
        .with_timeout(CLIENT_TIMEOUT)
        .with_refresh_token(
            c.client_id.clone(),
            Some(SecretString::from(c.client_secret.clone())),
            SecretString::from(c.refresh_token.clone()),
        )
        .build()
        .unwrap()
}

async fn org() -> Arc<SalesforceFake> {
    Arc::new(
        SalesforceFake::start(SalesforceFakeConfig {
            extra_contacts: EXTRA_CONTACTS,
            ..SalesforceFakeConfig::default()
        })
        .await,
    )
}

fn fixture(org: Arc<SalesforceFake>) -> Fixture {
    Fixture {
        customer_email: Email::parse(demo::CUSTOMER_EMAIL).unwrap(),
        customer_phone: Phone::parse("+1 415 555 0100", Region::us()).unwrap(),
        customer_external_id: demo::CUSTOMER_EXTERNAL_ID.to_owned(),
        min_contacts: EXTRA_CONTACTS,
        view_seeds: demo::customer_view_seeds(),
        faults: org,
        client_timeout: CLIENT_TIMEOUT,
    }
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let org = org().await;
    let crm = connect(&org, Some("Idempotency_Key__c"));
    let report = conformance::run(&crm, &fixture(org.clone())).await;
    println!("{report}");
    // With the idempotency field the org declares every capability the suite needs.
    report.assert_counts(25, &[]);
}

/// Without an idempotency field creates are not idempotent: the keyed scenarios skip, naming
/// that capability, and nothing else does; unkeyed creates are still never replayed.
#[tokio::test]
async fn without_an_idempotency_field_exactly_the_keyed_scenarios_skip() {
    let org = org().await;
    let crm = connect(&org, None);
    let report = conformance::run(&crm, &fixture(org.clone())).await;
    println!("{report}");
    report.assert_counts(
        22,
        &[
            "idempotent_create_does_not_duplicate",
            "keyed_create_is_recovered_after_a_lost_answer",
            "keyed_batch_create_is_recovered_after_a_lost_answer",
        ],
    );
    for (name, why) in report.skipped() {
        assert!(why.contains("idempotent ticket create"), "{name}: {why}");
    }
}
