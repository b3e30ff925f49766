//! The Pipedrive adapter against the Pipedrive fake: the shared conformance suite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::time::Duration;

use crm_core::{Email, Phone, Region};
use crm_pipedrive::{Pipedrive, PipedriveBuilder};
use crm_testkit::conformance::{self, Fixture};
use crm_testkit::pipedrive::{PipedriveFake, PipedriveFakeConfig, demo};

const EXTRA_PERSONS: usize = 30;

/// Short, so the suite's timeout scenarios wait little; far above a request to 127.0.0.1.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

async fn fake() -> Arc<PipedriveFake> {
    Arc::new(
        PipedriveFake::start(PipedriveFakeConfig {
            extra_persons: EXTRA_PERSONS,
            ..PipedriveFakeConfig::default()
        })
        .await,
    )
}

fn connect(fake: &PipedriveFake) -> Pipedrive {
    let settings = [
        ("base_url", fake.base_url()),
        ("api_token", fake.api_token().to_owned()),
        ("external_id_field", demo::EXTERNAL_ID_FIELD.to_owned()),
        ("lead_source_field", demo::LEAD_SOURCE_FIELD.to_owned()),
        ("timeout_secs", CLIENT_TIMEOUT.as_secs().to_string()),
    ];
    settings
        .iter()
        .try_fold(PipedriveBuilder::new(), |b, (k, v)| b.with_setting(k, v))
        .and_then(PipedriveBuilder::build)
        .unwrap()
}

fn fixture(fake: Arc<PipedriveFake>) -> Fixture {
    Fixture {
        customer_email: Email::parse(demo::CUSTOMER_EMAIL).unwrap(),
        customer_phone: Phone::parse("+1 415-555-0100", Region::us()).unwrap(),
        customer_external_id: demo::CUSTOMER_EXTERNAL_ID.to_owned(),
        min_contacts: EXTRA_PERSONS,
        view_seeds: demo::customer_view_seeds(),
        faults: fake,
        client_timeout: CLIENT_TIMEOUT,
    }
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let fake = fake().await;
    let crm = connect(&fake);
    let report = conformance::run(&crm, &fixture(fake.clone())).await;
    println!("{report}");
    // Pipedrive has no tickets and no upsert: the connection declares both absent, and the
    // scenarios that need them skip, each named with its reason.
    report.assert_counts(
        16,
        &[
            "ticket_status_read_back",
            "idempotent_create_does_not_duplicate",
            "upsert_by_external_id",
            "unkeyed_create_is_not_replayed_after_a_lost_answer",
            "keyed_create_is_recovered_after_a_lost_answer",
            "update_is_applied_once_after_a_lost_answer",
            "batch_create_after_a_lost_answer_has_no_duplicates",
            "keyed_batch_create_is_recovered_after_a_lost_answer",
            "batch_update_is_applied_once_after_a_lost_answer",
        ],
    );
}
