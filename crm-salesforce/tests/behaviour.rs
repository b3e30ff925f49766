//! Salesforce-specific behaviour against the fake: the 360° view's request count, phone
//! formats, `nextRecordsUrl` paging with a batch size, Collections chunking, upsert statuses by
//! API version, duplicate rules, converted leads, ids, and the daily API allocation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use crm_core::reexports::futures::TryStreamExt;
use crm_core::{
    Activity, ActivityKind, Contact, Crm, Email, ErrorKind, LimitScope, ListQuery, Lookup,
    ObjectKind, OpportunityState, Phone, RecordId, RecordRef, Region, TicketState, UpsertKey,
    ViewOptions, WriteContext,
};
use crm_testkit::salesforce::{SalesforceFakeConfig, demo};
use serde_json::json;

fn jane_email() -> Lookup {
    Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap())
}

#[tokio::test]
async fn the_360_view_takes_one_request() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    for lookup in [
        jane_email(),
        Lookup::ExternalId(demo::CUSTOMER_EXTERNAL_ID.into()),
        Lookup::Phone(Phone::parse("4155550100", Region::us()).unwrap()),
    ] {
        let before = org.requests();
        let view = crm
            .customer_view(&lookup, &ViewOptions::default())
            .await
            .unwrap()
            .unwrap();
        let after = org.requests();
        assert_eq!(after.total - before.total, 1, "{lookup:?}");
        assert_eq!(
            after.composite_subrequests - before.composite_subrequests,
            5
        );
        assert_eq!(view.contact.id.as_str(), demo::CUSTOMER_CONTACT_ID);
        let account = view.account.as_ref().unwrap();
        assert_eq!(account.id.as_str(), demo::CUSTOMER_ACCOUNT_ID);
        assert_eq!(account.name.as_deref(), Some(demo::CUSTOMER_ACCOUNT_NAME));
        let opps: Vec<&str> = view
            .open_opportunities
            .iter()
            .map(|o| o.id.as_str())
            .collect();
        // Linked by ContactId, contact role, account, and account + ContactId; newest first.
        assert_eq!(
            opps,
            [
                demo::CONTACT_OPPORTUNITY_ID,
                demo::ROLE_OPPORTUNITY_ID,
                demo::ACCOUNT_OPPORTUNITY_ID,
                demo::OPEN_OPPORTUNITY_ID
            ]
        );
        assert!(
            view.open_opportunities
                .iter()
                .all(|o| o.stage.as_ref().unwrap().state == OpportunityState::Open)
        );
        let cases: Vec<&str> = view.open_tickets.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(cases, [demo::OPEN_CASE_ID]);
        let status = view.open_tickets[0].status.as_ref().unwrap();
        assert_eq!(
            (status.state, status.raw.as_deref()),
            (TicketState::Open, Some("Working"))
        );
        let kinds: Vec<ActivityKind> = view.recent_activities.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            [
                ActivityKind::ConversationLog,
                ActivityKind::Call,
                ActivityKind::Call,
                ActivityKind::Note
            ]
        );
        assert_eq!(view.recent_activities[0].id.as_str(), demo::CHAT_TASK_ID);
    }
    let before = org.requests().total;
    let nobody = Lookup::Email(Email::parse("nobody@nowhere.example").unwrap());
    assert!(
        crm.customer_view(&nobody, &ViewOptions::default())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(org.requests().total - before, 1);
}

#[tokio::test]
async fn phone_formats_find_each_other() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    // Stored as "(415) 555-0100"; looked up in other forms.
    for text in [
        "+1 415 555 0100",
        "(415) 555-0100",
        "4155550100",
        "+1-415-555-0100",
    ] {
        let found = crm
            .contacts()
            .find_by(&Lookup::Phone(Phone::parse(text, Region::us()).unwrap()))
            .await
            .unwrap();
        let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, [demo::CUSTOMER_CONTACT_ID], "{text}");
    }
    // Stored as "+44 20 7946 0958"; looked up nationally in the UK.
    let uk = Phone::parse("020 7946 0958", Region::parse("GB").unwrap()).unwrap();
    let found = crm.contacts().find_by(&Lookup::Phone(uk)).await.unwrap();
    assert_eq!(found[0].id.as_str(), demo::UK_CONTACT_ID);
    // Same digits in another order or a different number: no match.
    let other = Phone::parse("(415) 555-0101", Region::us()).unwrap();
    assert!(
        crm.contacts()
            .find_by(&Lookup::Phone(other))
            .await
            .unwrap()
            .is_empty()
    );
    // A contact stored with "4155550100" in MobilePhone only is found too.
    let id = org
        .insert_record(
            "Contact",
            json!({"LastName": "Mobile", "MobilePhone": "415.555.0177"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
    let found = crm
        .contacts()
        .find_by(&Lookup::Phone(
            Phone::parse("+14155550177", Region::us()).unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(found[0].id.as_str(), id);
}

#[tokio::test]
async fn listing_follows_next_records_url_with_the_batch_size() {
    let org = common::fake(SalesforceFakeConfig {
        extra_contacts: 450,
        ..SalesforceFakeConfig::default()
    })
    .await;
    let crm = common::connect(&org);
    let total = org.records("Contact").len();
    for size in [200u32, 250, 7] {
        let before = org.requests().total;
        let pages: Vec<_> = crm
            .contacts()
            .list(ListQuery {
                page_size: NonZeroU32::new(size),
                ..ListQuery::default()
            })
            .try_collect()
            .await
            .unwrap();
        let ids: BTreeSet<RecordId> = pages
            .iter()
            .flat_map(|p| p.items.iter().map(|r| r.id.clone()))
            .collect();
        assert_eq!(ids.len(), total, "size {size}");
        assert!(pages.iter().all(|p| p.items.len() <= size as usize));
        assert_eq!(pages.len(), total.div_ceil(size as usize));
        // Pages below Salesforce's 200 minimum are cut from one 2,000-record batch.
        let requests = if size >= 200 { pages.len() } else { 1 };
        assert_eq!(org.requests().total - before, requests);
    }
    // A page can be resumed from its cursor.
    let mut first = crm.contacts().list(ListQuery {
        page_size: NonZeroU32::new(200),
        ..ListQuery::default()
    });
    let page = crm_core::reexports::futures::StreamExt::next(&mut first)
        .await
        .unwrap()
        .unwrap();
    let resumed: Vec<_> = crm
        .contacts()
        .list(ListQuery {
            page_size: NonZeroU32::new(200),
            resume: page.next.clone(),
            ..ListQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    let n: usize = resumed.iter().map(|p| p.items.len()).sum();
    assert_eq!(n + page.items.len(), total);
}

#[tokio::test]
async fn batches_use_collections_in_chunks_of_200() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let inputs: Vec<Contact> = (0..450)
        .map(|n| Contact {
            last_name: Some(format!("Bulk {n}").into()),
            email: Some(Email::parse(&format!("bulk{n}@chunk.example")).unwrap()),
            ..Contact::default()
        })
        .collect();
    let before = org.requests();
    let results = crm
        .contacts()
        .create_batch(&inputs, &WriteContext::default())
        .await;
    let after = org.requests();
    assert_eq!(results.len(), 450);
    assert!(results.iter().all(Result::is_ok));
    // Three Collections calls (200 + 200 + 50) and no read-back query.
    assert_eq!(after.post - before.post, 3);
    assert_eq!(after.get - before.get, 0);
    let emails: BTreeSet<_> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .unwrap()
                .email
                .clone()
                .unwrap()
                .expose()
                .to_owned()
        })
        .collect();
    assert_eq!(emails.len(), 450);

    // With an idempotency key the batch is upserted on derived keys: a replay writes nothing
    // new.
    let ctx = WriteContext::default()
        .with_idempotency_key(crm_core::IdempotencyKey::new("conv-9.batch").unwrap());
    let few: Vec<Contact> = (0..3)
        .map(|n| Contact {
            last_name: Some(format!("Idem {n}").into()),
            ..Contact::default()
        })
        .collect();
    let a = crm.contacts().create_batch(&few, &ctx).await;
    let b = crm.contacts().create_batch(&few, &ctx).await;
    let ids = |r: &Vec<crm_core::Result<crm_core::Record<Contact>>>| -> Vec<RecordId> {
        r.iter().map(|x| x.as_ref().unwrap().id.clone()).collect()
    };
    assert_eq!(ids(&a), ids(&b));

    // Updates and upserts by external id, per item.
    let updates: Vec<(RecordId, Contact)> = ids(&a)
        .into_iter()
        .map(|id| {
            (
                id,
                Contact {
                    title: Some("Buyer".into()),
                    ..Contact::default()
                },
            )
        })
        .collect();
    let updated = crm
        .contacts()
        .update_batch(&updates, &WriteContext::default())
        .await;
    assert!(
        updated
            .iter()
            .all(|r| r.as_ref().unwrap().title.as_deref() == Some("Buyer"))
    );
    let ups = vec![
        (
            UpsertKey::ExternalId(demo::CUSTOMER_EXTERNAL_ID.into()),
            Contact {
                title: Some("COO".into()),
                ..Contact::default()
            },
        ),
        (
            UpsertKey::ExternalId("new-ext-1".into()),
            Contact {
                last_name: Some("New".into()),
                ..Contact::default()
            },
        ),
        (
            UpsertKey::Email(Email::parse("a@b.co").unwrap()),
            Contact::default(),
        ),
    ];
    let up = crm
        .contacts()
        .upsert_batch(&ups, &WriteContext::default())
        .await;
    assert!(!up[0].as_ref().unwrap().created);
    assert_eq!(
        up[0].as_ref().unwrap().record.id.as_str(),
        demo::CUSTOMER_CONTACT_ID
    );
    assert!(up[1].as_ref().unwrap().created);
    assert_eq!(up[2].as_ref().unwrap_err().kind(), &ErrorKind::Unsupported);
}

#[tokio::test]
async fn upsert_statuses_by_api_version() {
    for version in ["v42.0", "v62.0"] {
        let org = common::fake(SalesforceFakeConfig::default()).await;
        let crm = common::builder(&org)
            .with_api_version(version)
            .build()
            .unwrap();
        let key = UpsertKey::ExternalId("ext-77".into());
        let c = Contact {
            last_name: Some("Upsert".into()),
            ..Contact::default()
        };
        let first = crm
            .contacts()
            .upsert(&key, &c, &WriteContext::default())
            .await
            .unwrap();
        assert!(first.created, "{version}");
        let second = crm
            .contacts()
            .upsert(&key, &c, &WriteContext::default())
            .await
            .unwrap();
        assert!(!second.created, "{version}");
        assert_eq!(first.record.id, second.record.id);
    }
}

#[tokio::test]
async fn duplicate_rules_are_conflicts_unless_saving_is_allowed() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let dup = Contact {
        last_name: Some("Doe".into()),
        email: Some(Email::parse(demo::CUSTOMER_EMAIL).unwrap()),
        ..Contact::default()
    };
    let err = crm
        .contacts()
        .create(&dup, &WriteContext::default())
        .await
        .unwrap_err();
    let jane = RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap();
    assert_eq!(
        err.kind(),
        &ErrorKind::Conflict {
            existing_id: Some(jane.clone()),
            candidates: vec![jane]
        }
    );
    let allowing = common::builder(&org)
        .allow_duplicates(true)
        .build()
        .unwrap();
    allowing
        .contacts()
        .create(&dup, &WriteContext::default())
        .await
        .unwrap();
    // A second record with the same unique external id: DUPLICATE_VALUE names the holder.
    let ext = Contact {
        last_name: Some("Other".into()),
        external_id: Some(demo::CUSTOMER_EXTERNAL_ID.into()),
        ..Contact::default()
    };
    let err = crm
        .contacts()
        .create(&ext, &WriteContext::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Conflict { existing_id: Some(id), .. } if id.as_str() == demo::CUSTOMER_CONTACT_ID)
    );
}

#[tokio::test]
async fn validation_errors_name_common_fields_and_converted_leads_refuse_updates() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let err = crm
        .contacts()
        .create(&Contact::default(), &WriteContext::default())
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::Validation { fields } => {
            assert_eq!(fields[0].field, "last_name");
            assert_eq!(fields[0].code.as_deref(), Some("REQUIRED_FIELD_MISSING"));
        }
        other => panic!("{other:?}"),
    }
    org.convert_lead(demo::LEAD_ID, true).unwrap();
    let lead = crm
        .leads()
        .get(&RecordId::new(demo::LEAD_ID).unwrap())
        .await
        .unwrap();
    assert_eq!(
        lead.status.as_ref().unwrap().state,
        crm_core::LeadState::Converted
    );
    assert!(lead.contact_id.is_some());
    let err = crm
        .leads()
        .update(
            &lead.id,
            &crm_core::Lead {
                company: Some("Initrode".into()),
                ..Default::default()
            },
            &WriteContext::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Validation { .. }));
    assert_eq!(
        err.vendor().unwrap().code.as_deref(),
        Some("CANNOT_UPDATE_CONVERTED_LEAD")
    );
}

#[tokio::test]
async fn ids_are_18_characters_and_15_are_accepted() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let short = &demo::CUSTOMER_CONTACT_ID[..15];
    let c = crm
        .contacts()
        .get(&RecordId::new(short).unwrap())
        .await
        .unwrap();
    assert_eq!(c.id.as_str(), demo::CUSTOMER_CONTACT_ID);
    let lower = demo::CUSTOMER_CONTACT_ID.to_lowercase();
    let c = crm
        .contacts()
        .get(&RecordId::new(lower).unwrap())
        .await
        .unwrap();
    assert_eq!(c.id.as_str(), demo::CUSTOMER_CONTACT_ID);
    // Activities: a Task read by id, linked through WhoId/WhatId.
    let a = crm
        .activities()
        .get(&RecordId::new(demo::CALL_TASK_ID).unwrap())
        .await
        .unwrap();
    assert_eq!(a.kind, ActivityKind::Call);
    assert_eq!(a.who.as_ref().unwrap().kind, ObjectKind::Contact);
    assert_eq!(a.what.as_ref().unwrap().kind, ObjectKind::Opportunity);
    // A task written with who/what reads back linked.
    let t = crm
        .activities()
        .create(
            &Activity {
                kind: ActivityKind::Task,
                subject: Some("Follow up".into()),
                who: Some(RecordRef::new(
                    ObjectKind::Contact,
                    RecordId::new(short).unwrap(),
                )),
                what: Some(RecordRef::new(
                    ObjectKind::Ticket,
                    RecordId::new(demo::OPEN_CASE_ID).unwrap(),
                )),
                ..Activity::default()
            },
            &WriteContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(t.what.as_ref().unwrap().id.as_str(), demo::OPEN_CASE_ID);
    let stored = org.record("Task", t.id.as_str()).unwrap();
    assert_eq!(stored["WhoId"], demo::CUSTOMER_CONTACT_ID);
    assert_eq!(stored["AccountId"], demo::CUSTOMER_ACCOUNT_ID);
}

#[tokio::test]
async fn the_daily_allocation_is_tracked_and_respected() {
    let org = common::fake(SalesforceFakeConfig {
        api_usage_start: 100,
        ..SalesforceFakeConfig::default()
    })
    .await;
    let crm = common::connect(&org);
    crm.contacts().find_by(&jane_email()).await.unwrap();
    assert_eq!(crm.backend().api_usage(), (101, 15_000));

    // The org is out of calls: 403 REQUEST_LIMIT_EXCEEDED → RateLimited { Daily }.
    org.set_api_usage(15_000);
    let err = crm.contacts().find_by(&jane_email()).await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::RateLimited {
            retry_after: None,
            scope: LimitScope::Daily
        }
    );

    // Inside the reserve (10 % by default) the SDK stops before sending anything.
    org.set_api_usage(13_600);
    let crm = common::connect(&org);
    crm.contacts().find_by(&jane_email()).await.unwrap();
    let before = org.requests().total;
    let err = crm.contacts().find_by(&jane_email()).await.unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::RateLimited {
            scope: LimitScope::Daily,
            ..
        }
    ));
    assert_eq!(org.requests().total, before);
    // With no reserve, the same usage is fine.
    let greedy = common::builder(&org)
        .with_daily_reserve_percent(0)
        .build()
        .unwrap();
    greedy.contacts().find_by(&jane_email()).await.unwrap();
}
