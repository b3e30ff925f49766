//! Restricted picklists, as a standard org enforces them: a write with a value outside Case
//! Status, Case Priority, Opportunity Stage, Task Status… is refused with Salesforce's `400
//! INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST` naming the field, and the adapter reports a
//! validation error naming that field (in the caller's terms), never a generic failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use chrono::NaiveDate;
use crm_core::{
    Activity, ActivityKind, Crm, Error, ErrorKind, Opportunity, OpportunityState, Personal,
    RecordId, Status, TaskState, Ticket, TicketState, WriteContext,
};
use crm_testkit::salesforce::{SalesforceFakeConfig, demo};

const RESTRICTED: &str = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST";

/// The validation error's field names and codes; fails on any other kind of error.
fn fields_of(e: &Error) -> Vec<(String, Option<String>)> {
    match e.kind() {
        ErrorKind::Validation { fields } => fields
            .iter()
            .map(|f| (f.field.clone(), f.code.clone()))
            .collect(),
        other => panic!("expected a validation error, got {other:?}: {e}"),
    }
}

fn names(e: &Error, field: &str) {
    let fields = fields_of(e);
    assert!(
        fields
            .iter()
            .any(|(f, code)| f == field && code.as_deref() == Some(RESTRICTED)),
        "the error does not name `{field}` with {RESTRICTED}: {fields:?} ({e})"
    );
}

fn ticket(status: Status<TicketState>) -> Ticket {
    Ticket {
        subject: Some(Personal::new("Printer on fire".to_owned())),
        status: Some(status),
        contact_id: Some(RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap()),
        ..Ticket::default()
    }
}

#[tokio::test]
async fn a_case_status_outside_the_picklist_is_a_validation_error_naming_status() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let before = org.records("Case").len();
    let e = crm
        .tickets()
        .create(
            &ticket(Status::raw(TicketState::Open, "In Review")),
            &WriteContext::default(),
        )
        .await
        .unwrap_err();
    names(&e, "status");
    assert_eq!(e.status(), Some(400), "{e}");
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(org.records("Case").len(), before, "nothing was written");
    // A stock value is accepted.
    crm.tickets()
        .create(
            &ticket(Status::raw(TicketState::Open, "Escalated")),
            &WriteContext::default(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_update_to_a_priority_outside_the_picklist_names_priority() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let created = crm
        .tickets()
        .create(
            &ticket(Status::new(TicketState::New)),
            &WriteContext::default(),
        )
        .await
        .unwrap();
    let patch = Ticket {
        priority: Some("Critical".into()),
        ..Ticket::default()
    };
    let e = crm
        .tickets()
        .update(&created.id, &patch, &WriteContext::default())
        .await
        .unwrap_err();
    names(&e, "priority");
    let stored = org.record("Case", created.id.as_str()).unwrap();
    assert_ne!(stored["Priority"], "Critical");
}

#[tokio::test]
async fn an_opportunity_stage_outside_the_picklist_names_stage() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let opportunity = Opportunity {
        name: Some("Fleet renewal".into()),
        close_date: NaiveDate::from_ymd_opt(2030, 1, 31),
        stage: Some(Status::raw(OpportunityState::Open, "Almost Won")),
        account_id: Some(RecordId::new(demo::CUSTOMER_ACCOUNT_ID).unwrap()),
        ..Opportunity::default()
    };
    let e = crm
        .opportunities()
        .create(&opportunity, &WriteContext::default())
        .await
        .unwrap_err();
    names(&e, "stage");
}

#[tokio::test]
async fn a_task_status_outside_the_picklist_names_task_status() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let task = Activity {
        kind: ActivityKind::Task,
        subject: Some("Call back".into()),
        task_status: Some(Status::raw(TaskState::InProgress, "Doing it")),
        ..Activity::default()
    };
    let e = crm
        .activities()
        .create(&task, &WriteContext::default())
        .await
        .unwrap_err();
    names(&e, "task_status");
}

/// In a Collections batch the refused input fails alone, naming the field; the others are
/// created.
#[tokio::test]
async fn in_a_batch_only_the_input_outside_the_picklist_fails_naming_status() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let inputs = [
        ticket(Status::new(TicketState::New)),
        ticket(Status::raw(TicketState::Open, "Waiting for Godot")),
        ticket(Status::new(TicketState::New)),
    ];
    let results = crm
        .tickets()
        .create_batch(&inputs, &WriteContext::default())
        .await;
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(results[2].is_ok(), "{:?}", results[2]);
    names(results[1].as_ref().unwrap_err(), "status");
}
