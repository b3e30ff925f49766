//! Issue 12, item 15: idempotent creates are off unless `idempotency_field` is configured; a
//! create carrying a key on a connection that cannot honour it fails before any request, and an
//! `idempotency_field` the org does not have is a `Config` error naming the field and object.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use crm_core::{
    Contact, Crm, ErrorKind, IdempotencyKey, Personal, Ticket, UpsertKey, WriteContext,
};
use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};

fn keyed(text: &str) -> WriteContext {
    WriteContext::default().with_idempotency_key(IdempotencyKey::new(text).unwrap())
}

fn ticket(subject: &str) -> Ticket {
    Ticket {
        subject: Some(Personal::new(subject.to_owned())),
        ..Ticket::default()
    }
}

async fn org() -> SalesforceFake {
    SalesforceFake::start(SalesforceFakeConfig::default()).await
}

/// A connection built without `with_idempotency_field`, as a new user's.
fn unconfigured(org: &SalesforceFake) -> crm_salesforce::Salesforce {
    let c = org.config();
    crm_salesforce::SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_refresh_token(
            c.client_id.clone(),
            Some(c.client_secret.clone().into()),
            c.refresh_token.clone().into(),
        )
        .build()
        .unwrap()
}

fn cases(org: &SalesforceFake) -> usize {
    org.records("Case").len()
}

#[tokio::test]
async fn issue12_item15_idempotency_is_off_by_default_and_a_keyed_create_fails_before_any_request()
{
    let org = org().await;
    let crm = unconfigured(&org);
    let caps = crm.capabilities().objects[&crm_core::ObjectKind::Ticket].clone();
    assert!(!caps.idempotent_create);
    assert!(!caps.upsert_keys.iter().any(|k| k == "idempotency_key"));

    let before = org.requests().total;
    let cases_before = cases(&org);
    let err = crm
        .tickets()
        .create(&ticket("Router reboots"), &keyed("conv-1.ticket"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
    assert!(err.message().contains("idempotency_field"), "{err}");
    assert!(
        err.message().contains("without an idempotency key"),
        "{err}"
    );
    assert_eq!(org.requests().total, before, "no request may leave");
    assert_eq!(cases(&org), cases_before);

    // The batch form fails every input the same way, also before any request.
    let batch = crm
        .tickets()
        .create_batch(&[ticket("a"), ticket("b")], &keyed("conv-1.batch"))
        .await;
    assert_eq!(batch.len(), 2);
    for r in &batch {
        assert_eq!(r.as_ref().unwrap_err().kind(), &ErrorKind::Config);
    }
    assert_eq!(org.requests().total, before);

    // Without a key the create proceeds as before.
    crm.tickets()
        .create(&ticket("Router reboots"), &WriteContext::default())
        .await
        .unwrap();
    assert_eq!(cases(&org), cases_before + 1);
}

#[tokio::test]
async fn issue12_item15_a_configured_idempotency_field_makes_a_keyed_create_return_the_first_record()
 {
    let org = org().await;
    let crm = common::connect(&org);
    assert!(crm.capabilities().objects[&crm_core::ObjectKind::Ticket].idempotent_create);
    let cases_before = cases(&org);
    let first = crm
        .tickets()
        .create(&ticket("Router reboots"), &keyed("conv-2.ticket"))
        .await
        .unwrap();
    let second = crm
        .tickets()
        .create(&ticket("Router reboots"), &keyed("conv-2.ticket"))
        .await
        .unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(cases(&org), cases_before + 1);
}

#[tokio::test]
async fn issue12_item15_a_missing_external_id_field_is_a_config_error_naming_field_and_object() {
    let org = org().await;
    let crm = common::builder(&org)
        .with_idempotency_field(Some("Missing_Key__c"))
        .build()
        .unwrap();
    let err = crm
        .tickets()
        .create(&ticket("Router reboots"), &keyed("conv-3.ticket"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
    assert!(
        err.message()
            .contains("external ID field `Missing_Key__c` does not exist on Case"),
        "{err}"
    );
    assert!(!err.message().contains("conv-3"), "no key values: {err}");

    // The batch path (Collections upsert by the field) says the same per item.
    let batch = crm
        .tickets()
        .create_batch(&[ticket("a")], &keyed("conv-3.batch"))
        .await;
    let e = batch[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Config, "{e}");
    assert!(e.message().contains("`Missing_Key__c`"), "{e}");

    // An upsert by a key on a missing field is the same error.
    let err = crm
        .contacts()
        .upsert(
            &UpsertKey::Idempotency(IdempotencyKey::new("conv-3.contact").unwrap()),
            &Contact {
                last_name: Some("Doe".into()),
                ..Contact::default()
            },
            &WriteContext::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
    assert!(err.message().contains("does not exist on Contact"), "{err}");
}

#[tokio::test]
async fn issue12_item15_check_setup_verifies_the_idempotency_field_through_describe() {
    let org = org().await;
    let ok = common::connect(&org).backend().check_setup().await.unwrap();
    let idem: Vec<_> = ok
        .iter()
        .filter(|c| c.setting == "idempotency_field")
        .collect();
    assert_eq!(idem.len(), 7, "one per sObject written: {ok:?}");
    assert!(ok.iter().all(|c| c.problem.is_none()), "{ok:?}");

    let missing = common::builder(&org)
        .with_idempotency_field(Some("Missing_Key__c"))
        .build()
        .unwrap()
        .backend()
        .check_setup()
        .await
        .unwrap();
    let case = missing
        .iter()
        .find(|c| c.setting == "idempotency_field" && c.object == "Case")
        .unwrap();
    assert_eq!(case.kinds, [crm_core::ObjectKind::Ticket]);
    let problem = case.problem.as_deref().unwrap();
    assert!(
        problem.contains("external ID field `Missing_Key__c` does not exist on Case"),
        "{problem}"
    );
    assert!(problem.contains("Object Manager > Case"), "{problem}");

    // External ID without Unique can match several records: not enough for idempotency.
    let not_unique = common::builder(&org)
        .with_idempotency_field(Some("Legacy_Id__c"))
        .build()
        .unwrap()
        .backend()
        .check_setup()
        .await
        .unwrap();
    let contact = not_unique
        .iter()
        .find(|c| c.setting == "idempotency_field" && c.object == "Contact")
        .unwrap();
    assert!(
        contact
            .problem
            .as_deref()
            .unwrap()
            .contains("does not require unique values"),
        "{contact:?}"
    );

    // Nothing configured: nothing to check for idempotency.
    let off = unconfigured(&org).backend().check_setup().await.unwrap();
    assert!(off.iter().all(|c| c.setting != "idempotency_field"));
}
