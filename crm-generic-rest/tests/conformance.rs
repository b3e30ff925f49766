//! The generic-REST adapter against the sandbox CRM: the shared conformance suite, every paging
//! style, and the bad-input cases of the foundation issue.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use crm_core::reexports::futures::TryStreamExt;
use crm_core::{Crm, Email, ErrorKind, ListQuery, Phone, Region};
use crm_generic_rest::{DEFAULT_SPEC, GenericRest, GenericRestBuilder, Spec};
use crm_testkit::conformance::{self, Fixture, ViewSeeds};
use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};

const EXTRA_CONTACTS: usize = 30;

/// Short, so the suite's timeout scenarios wait little; far above a request to 127.0.0.1.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

async fn sandbox() -> Arc<Sandbox> {
    Arc::new(
        Sandbox::start(SandboxConfig {
            extra_contacts: EXTRA_CONTACTS,
            ..SandboxConfig::default()
        })
        .await,
    )
}

fn connect(sandbox: &Sandbox, spec: Option<Spec>) -> GenericRest {
    let mut b = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .with_timeout(CLIENT_TIMEOUT);
    if let Some(spec) = spec {
        b = b.with_spec(spec);
    }
    b.build().unwrap()
}

fn fixture(sandbox: Arc<Sandbox>) -> Fixture {
    Fixture {
        customer_email: Email::parse(demo::CUSTOMER_EMAIL).unwrap(),
        customer_phone: Phone::parse("+1 415-555-0100", Region::us()).unwrap(),
        customer_external_id: demo::CUSTOMER_EXTERNAL_ID.to_owned(),
        min_contacts: EXTRA_CONTACTS,
        view_seeds: ViewSeeds {
            open_tickets: vec![demo::OPEN_TICKET_ID.into()],
            open_opportunities: vec![demo::OPEN_OPPORTUNITY_ID.into()],
            absent_tickets: vec![demo::SOLVED_TICKET_ID.into()],
            absent_opportunities: vec![demo::WON_OPPORTUNITY_ID.into()],
        },
        faults: sandbox,
        client_timeout: CLIENT_TIMEOUT,
    }
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let sandbox = sandbox().await;
    let crm = connect(&sandbox, None);
    let report = conformance::run(&crm, &fixture(sandbox.clone())).await;
    println!("{report}");
    // The sandbox's default spec declares every capability the suite needs: nothing skips.
    report.assert_counts(25, &[]);
}

/// The default spec with its `[paging]` table replaced.
fn spec_with_paging(paging: &str) -> Spec {
    let start = DEFAULT_SPEC.find("[paging]").unwrap();
    let end = DEFAULT_SPEC.find("[lookup]").unwrap();
    let text = format!(
        "{}{paging}\n{}",
        &DEFAULT_SPEC[..start],
        &DEFAULT_SPEC[end..]
    );
    Spec::parse(&text, "test.toml").unwrap()
}

#[tokio::test]
async fn every_paging_style_lists_every_contact_once() {
    let sandbox = sandbox().await;
    let total = sandbox.records("contacts").len();
    let styles = [
        "[paging]\nstyle = \"cursor\"\nitems_pointer = \"/data\"\ncursor_param = \"cursor\"\nnext_cursor_pointer = \"/next_cursor\"\n",
        "[paging]\nstyle = \"offset\"\nitems_pointer = \"/data\"\noffset_param = \"offset\"\n",
        "[paging]\nstyle = \"page\"\nlimit_param = \"per_page\"\nitems_pointer = \"/data\"\npage_param = \"page\"\n",
        "[paging]\nstyle = \"link\"\nitems_pointer = \"/data\"\n",
    ];
    for paging in styles {
        let crm = connect(&sandbox, Some(spec_with_paging(paging)));
        let before = sandbox.requests().total;
        let pages: Vec<_> = crm
            .contacts()
            .list(ListQuery {
                page_size: NonZeroU32::new(8),
                ..ListQuery::default()
            })
            .try_collect()
            .await
            .unwrap();
        let ids: Vec<_> = pages
            .iter()
            .flat_map(|p| p.items.iter().map(|r| r.id.clone()))
            .collect();
        let unique: BTreeSet<_> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), total, "{paging}");
        assert_eq!(unique.len(), total, "{paging}");
        // Lazily fetched, one request per page, and no more pages than the records need
        // (offset and page styles may need one empty page to learn they are done).
        let requests = sandbox.requests().total - before;
        assert_eq!(requests, pages.len(), "{paging}");
        assert!(
            pages.len() <= total.div_ceil(8) + 1,
            "{paging}: {} pages",
            pages.len()
        );
    }
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_without_retries() {
    let sandbox = sandbox().await;
    let crm = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token("wrong".to_owned().into())
        .build()
        .unwrap();
    let before = sandbox.requests().total;
    let err = crm
        .contacts()
        .get(&"c-1001".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    assert_eq!(sandbox.requests().total - before, 1);
}

#[tokio::test]
async fn a_spec_without_a_token_or_with_http_elsewhere_fails_to_build() {
    let err = GenericRestBuilder::new()
        .with_base_url("http://127.0.0.1:1/api")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    let err = GenericRestBuilder::new()
        .with_base_url("http://crm.example.com/api")
        .with_token("t".to_owned().into())
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.message().contains("https"));
    let err = GenericRestBuilder::new()
        .with_spec_file("/nonexistent/spec.toml")
        .build()
        .unwrap_err();
    assert!(err.message().contains("/nonexistent/spec.toml"));
}
