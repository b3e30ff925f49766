//! What a bot observes against the HubSpot fake: auth flows, value conversion, eventual
//! consistency, idempotent creates, limits, pipelines, leads, links and listings.
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
use std::time::Duration;

use crm_core::mapping::ObjectMapping;
use crm_core::reexports::chrono::{DateTime, NaiveDate, Utc};
use crm_core::reexports::futures::TryStreamExt;
use crm_core::retry::RetryPolicy;
use crm_core::{
    Activity, ActivityKind, Contact, Crm, Email, ErrorKind, FieldValue, IdempotencyKey, Lead,
    LeadState, LimitScope, ListQuery, Lookup, Number, ObjectKind, Opportunity, OpportunityState,
    Personal, RecordId, RecordRef, Status, TaskState, Ticket, TicketState, UpsertKey, WriteContext,
};
use crm_hubspot::{HubSpot, HubSpotBuilder, MappingTarget};
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, HubSpotFaults, Limits, demo};

async fn fake() -> HubSpotFake {
    HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await
}

fn builder(fake: &HubSpotFake) -> HubSpotBuilder {
    common::builder(fake)
        .with_idempotency_field(Some(demo::IDEMPOTENCY_PROPERTY))
        .with_external_id_property(Some(demo::EXTERNAL_ID_PROPERTY))
        .with_lead_source_property(Some(demo::LEAD_SOURCE_PROPERTY))
}

fn connect(fake: &HubSpotFake) -> HubSpot {
    builder(fake).build().unwrap()
}

fn jane() -> RecordRef {
    RecordRef::new(
        ObjectKind::Contact,
        RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap(),
    )
}

fn key(text: &str) -> WriteContext {
    WriteContext::default().with_idempotency_key(IdempotencyKey::new(text).unwrap())
}

#[tokio::test]
async fn oauth_tokens_are_fetched_refreshed_and_expiry_is_survived() {
    let fake = fake().await;
    let client = fake.oauth_client();
    let b = builder(&fake).with_oauth(
        client.client_id,
        client.client_secret.into(),
        client.refresh_token.into(),
    );
    let text = format!("{b:?}");
    assert!(!text.contains("fake-client-secret") && !text.contains("na1-fake-refresh"));
    let crm = b.build().unwrap();
    let id = RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap();
    crm.contacts().get(&id).await.unwrap();
    crm.contacts().get(&id).await.unwrap();
    assert_eq!(fake.tokens_issued(), 1, "the token is cached");
    // Thirty minutes pass on HubSpot's side: the next call gets EXPIRED_AUTHENTICATION, the
    // provider drops the token, core replays once with a fresh one.
    fake.expire_access_tokens();
    crm.contacts().get(&id).await.unwrap();
    assert_eq!(fake.tokens_issued(), 2);
    // An uninstalled app: the refresh token is refused.
    fake.revoke_refresh_tokens();
    fake.expire_access_tokens();
    let err = crm.contacts().get(&id).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    assert_eq!(
        err.vendor().unwrap().code.as_deref(),
        Some("BAD_REFRESH_TOKEN")
    );
    let text = format!("{crm:?} {err:?}");
    assert!(!text.contains("fake-client-secret") && !text.contains("na1-fake-refresh"));
}

#[tokio::test]
async fn a_wrong_token_is_invalid_authentication_without_replay() {
    let fake = fake().await;
    let crm = builder(&fake)
        .with_token("pat-na1-wrong".to_owned().into())
        .build()
        .unwrap();
    let before = fake.requests().total;
    let err = crm
        .contacts()
        .get(&RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    assert_eq!(
        err.vendor().unwrap().code.as_deref(),
        Some("INVALID_AUTHENTICATION")
    );
    assert_eq!(fake.requests().total - before, 1);
    assert!(!format!("{crm:?}").contains("pat-na1-wrong"));
}

#[tokio::test]
async fn typed_values_survive_hubspots_strings() {
    let fake = fake().await;
    let mut m = ObjectMapping {
        pass_through: true,
        ..ObjectMapping::default()
    };
    for f in [
        "crm_score",
        "crm_vip",
        "crm_birthday",
        "crm_last_order_at",
        "crm_interests",
    ] {
        m.fields.insert(f.into(), f.into());
    }
    let crm = builder(&fake)
        .with_mapping(MappingTarget::Contact, m)
        .build()
        .unwrap();
    let at = DateTime::<Utc>::from_timestamp_millis(1_772_000_000_123).unwrap();
    let mut c = Contact {
        email: Some(Email::parse("typed@example.com").unwrap()),
        ..Contact::default()
    };
    for (k, v) in [
        (
            "crm_score",
            FieldValue::Number(Number::parse("12345678901234567890.5").unwrap()),
        ),
        ("crm_vip", FieldValue::Bool(false)),
        (
            "crm_birthday",
            FieldValue::Date(NaiveDate::from_ymd_opt(1990, 2, 28).unwrap()),
        ),
        ("crm_last_order_at", FieldValue::DateTime(at)),
        (
            "crm_interests",
            FieldValue::List(vec!["billing".into(), "software".into()]),
        ),
    ] {
        c.custom.insert(k.into(), v);
    }
    let created = crm
        .contacts()
        .create(&c, &WriteContext::default())
        .await
        .unwrap();
    let read = crm.contacts().get(&created.id).await.unwrap();
    let text = |k: &str| {
        read.custom
            .get(k)
            .and_then(FieldValue::as_text)
            .unwrap()
            .to_owned()
    };
    assert_eq!(text("crm_score"), "12345678901234567890.5");
    assert_eq!(text("crm_vip"), "false");
    assert_eq!(text("crm_birthday"), "1990-02-28");
    assert_eq!(
        crm_core::model::fields::parse_datetime(&text("crm_last_order_at")),
        Some(at)
    );
    assert_eq!(text("crm_interests"), "billing;software");
    // `Null` clears a property: HubSpot gets "" and reads it back as unset.
    let mut patch = Contact::default();
    patch.custom.insert("crm_vip".into(), FieldValue::Null);
    let after = crm
        .contacts()
        .update(&created.id, &patch, &WriteContext::default())
        .await
        .unwrap();
    assert!(!after.custom.contains_key("crm_vip"));
    assert_eq!(after.custom.get("crm_score"), read.custom.get("crm_score"));
}

#[tokio::test]
async fn search_lag_is_met_by_the_409_path() {
    let fake = fake().await;
    fake.set_search_lag(Duration::from_secs(3600));
    let crm = connect(&fake);
    let c = Contact {
        email: Some(Email::parse("lagging@example.com").unwrap()),
        external_id: Some("ext-lag".into()),
        phone: Some(crm_core::Phone::parse("+1 212 555 0199", crm_core::Region::us()).unwrap()),
        ..Contact::default()
    };
    let created = crm
        .contacts()
        .create(&c, &WriteContext::default())
        .await
        .unwrap();
    // Search has not seen it yet; GET by email has.
    let by_ext = Lookup::ExternalId("ext-lag".into());
    assert!(crm.contacts().find_by(&by_ext).await.unwrap().is_empty());
    let by_email = Lookup::Email(Email::parse("Lagging@Example.com").unwrap());
    assert_eq!(
        crm.contacts().find_by(&by_email).await.unwrap()[0].id,
        created.id
    );
    // A bot that searched and found nothing creates again: the 409 resolves to an update.
    let up = crm_hubspot::create_or_update_contact(&crm, &c, &WriteContext::default())
        .await
        .unwrap();
    assert!(!up.created);
    assert_eq!(up.record.id, created.id);
    fake.flush_search_index();
    assert_eq!(
        crm.contacts().find_by(&by_ext).await.unwrap()[0].id,
        created.id
    );
    let by_phone =
        Lookup::Phone(crm_core::Phone::parse("(212) 555-0199", crm_core::Region::us()).unwrap());
    assert_eq!(
        crm.contacts().find_by(&by_phone).await.unwrap()[0].id,
        created.id
    );
}

#[tokio::test]
async fn an_idempotent_create_survives_a_fault_after_commit() {
    let fake = fake().await;
    let crm = connect(&fake);
    fake.set_faults(HubSpotFaults {
        after_commit_next: 1,
        ..HubSpotFaults::default()
    });
    let t = Ticket {
        subject: Some("Lost answer".into()),
        contact_id: Some(RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap()),
        ..Ticket::default()
    };
    let created = crm
        .tickets()
        .create(&t, &key("conv-7:ticket"))
        .await
        .unwrap();
    let stats = fake.requests();
    assert_eq!(stats.after_commit, 1);
    let same_key: Vec<_> = fake
        .records("tickets")
        .into_iter()
        .filter(|r| r["properties"][demo::IDEMPOTENCY_PROPERTY] == "conv-7:ticket")
        .collect();
    assert_eq!(same_key.len(), 1, "the retry found the first ticket");
    assert_eq!(same_key[0]["id"], created.id.as_str());
    assert_eq!(
        fake.associations("tickets", created.id.as_str(), "contacts"),
        [demo::CUSTOMER_CONTACT_ID]
    );
    // A batch with a key is keyed per input, so a replay writes nothing twice.
    let notes: Vec<Activity> = (0..3)
        .map(|i| Activity {
            kind: ActivityKind::Note,
            body: Some(Personal::new(format!("note {i}"))),
            who: Some(jane()),
            ..Activity::default()
        })
        .collect();
    let first = crm
        .activities()
        .create_batch(&notes, &key("conv-7:notes"))
        .await;
    let again = crm
        .activities()
        .create_batch(&notes, &key("conv-7:notes"))
        .await;
    let ids = |r: &Vec<crm_core::Result<crm_core::Record<Activity>>>| {
        r.iter()
            .map(|x| x.as_ref().unwrap().id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&again));
    assert!(
        ids(&first)
            .iter()
            .all(|id| id.as_str().starts_with("note:"))
    );
}

#[tokio::test]
async fn email_upserts_fall_back_to_single_inputs() {
    let fake = fake().await;
    let crm = connect(&fake);
    let c = |last: &str| Contact {
        last_name: Some(Personal::new(last.to_owned())),
        ..Contact::default()
    };
    let inputs = vec![
        (
            UpsertKey::Email(Email::parse("up-1@example.com").unwrap()),
            c("One"),
        ),
        (
            UpsertKey::Email(Email::from_vendor("not-an-email")),
            c("Bad"),
        ),
        (
            UpsertKey::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap()),
            c("Doe"),
        ),
    ];
    let results = crm
        .contacts()
        .upsert_batch(&inputs, &WriteContext::default())
        .await;
    assert!(results[0].as_ref().unwrap().created);
    assert!(matches!(
        results[1].as_ref().unwrap_err().kind(),
        ErrorKind::Validation { .. }
    ));
    let jane = results[2].as_ref().unwrap();
    assert!(!jane.created);
    assert_eq!(jane.record.id.as_str(), demo::CUSTOMER_CONTACT_ID);
}

#[tokio::test]
async fn the_rolling_window_and_the_daily_budget_are_rate_limits() {
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        limits: Limits {
            ten_second_max: 1,
            daily_max: 3,
            search_per_second: 5,
            ..Limits::default()
        },
        ..HubSpotFakeConfig::with_demo_properties()
    })
    .await;
    // No pacing here: this checks how HubSpot's 429s are read, not how the limiter avoids them.
    let crm = builder(&fake)
        .with_retry(RetryPolicy::never())
        .with_limiter(std::sync::Arc::new(crm_core::limits::Unlimited))
        .build()
        .unwrap();
    let id = RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap();
    crm.contacts().get(&id).await.unwrap();
    let err = crm.contacts().get(&id).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::RateLimited {
                scope: LimitScope::Burst,
                ..
            }
        ),
        "{err}"
    );
    crm.contacts()
        .find_by(&Lookup::ExternalId("x".into()))
        .await
        .unwrap();
    let err = crm.contacts().get(&id).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::RateLimited {
                scope: LimitScope::Daily,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn ticket_stages_resolve_through_cached_pipelines() {
    let fake = fake().await;
    let crm = connect(&fake);
    let t = Ticket {
        subject: Some("Escalated".into()),
        status: Some(Status::raw(TicketState::Unknown, "7101")),
        ..Ticket::default()
    };
    let created = crm
        .tickets()
        .create(&t, &WriteContext::default())
        .await
        .unwrap();
    let status = created.status.clone().unwrap();
    assert_eq!(
        (status.state, status.label.as_deref()),
        (TicketState::New, Some("Triage"))
    );
    let stored = fake.record("tickets", created.id.as_str()).unwrap();
    assert_eq!(stored["properties"]["hs_pipeline"], "7100");
    // Closing by state picks the closed stage of the ticket's own pipeline.
    let close = Ticket {
        status: Some(Status::new(TicketState::Closed)),
        ..Ticket::default()
    };
    let closed = crm
        .tickets()
        .update(&created.id, &close, &WriteContext::default())
        .await
        .unwrap();
    assert_eq!(closed.status.as_ref().unwrap().raw.as_deref(), Some("7103"));
    let s = crm
        .tickets()
        .status(&RecordId::new(demo::OPEN_TICKET_ID).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (s.state, s.raw.as_deref(), s.label.as_deref()),
        (TicketState::Waiting, Some("3"), Some("Waiting on us"))
    );
    let pipeline_calls = fake
        .requests()
        .log
        .iter()
        .filter(|l| l.contains("/pipelines/"))
        .count();
    assert_eq!(
        pipeline_calls, 1,
        "pipelines are fetched once per connection"
    );
}

#[tokio::test]
async fn deals_and_their_stages() {
    let fake = fake().await;
    let crm = connect(&fake);
    let won = Opportunity {
        name: Some("Won already".into()),
        amount: Some(Number::parse("999.95").unwrap()),
        currency: Some("EUR".into()),
        close_date: NaiveDate::from_ymd_opt(2026, 11, 30),
        stage: Some(Status::new(OpportunityState::Won)),
        contact_id: Some(RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap()),
        ..Opportunity::default()
    };
    let created = crm
        .opportunities()
        .create(&won, &WriteContext::default())
        .await
        .unwrap();
    let read = crm.opportunities().get(&created.id).await.unwrap();
    assert_eq!(read.amount.as_ref().unwrap().as_str(), "999.95");
    assert_eq!(read.close_date, NaiveDate::from_ymd_opt(2026, 11, 30));
    let stage = read.stage.clone().unwrap();
    assert_eq!(
        (stage.state, stage.raw.as_deref()),
        (OpportunityState::Won, Some("closedwon"))
    );
    assert_eq!(
        read.contact_id.as_ref().unwrap().as_str(),
        demo::CUSTOMER_CONTACT_ID
    );
    let open = crm.opportunities().open_for(&jane(), 10).await.unwrap();
    let ids: Vec<&str> = open.iter().map(|o| o.id.as_str()).collect();
    // Hers and her company's open deals, newest first; not the won one just created.
    assert_eq!(
        ids,
        [
            demo::CONTACT_DEAL_ID,
            demo::COMPANY_DEAL_ID,
            demo::OPEN_DEAL_ID
        ]
    );
}

#[tokio::test]
async fn leads_are_contacts_in_the_lead_stage() {
    let fake = fake().await;
    let crm = connect(&fake);
    let lead = Lead {
        email: Some(Email::parse("prospect@example.org").unwrap()),
        last_name: Some("Prospect".into()),
        company: Some("Initech".into()),
        source: Some("chatbot".into()),
        status: Some(Status::new(LeadState::Working)),
        ..Lead::default()
    };
    let created = crm
        .leads()
        .create(&lead, &WriteContext::default())
        .await
        .unwrap();
    let stored = fake.record("contacts", created.id.as_str()).unwrap();
    assert_eq!(stored["properties"]["lifecyclestage"], "lead");
    assert_eq!(stored["properties"]["hs_lead_status"], "IN_PROGRESS");
    assert_eq!(stored["properties"][demo::LEAD_SOURCE_PROPERTY], "chatbot");
    let status = created.status.clone().unwrap();
    assert_eq!(
        (status.state, status.label.as_deref()),
        (LeadState::Working, Some("In Progress"))
    );
    assert_eq!(created.contact_id.as_ref(), Some(&created.id));
    // Leads are listed by search, which lags behind writes (HubSpot's search docs): once the
    // index has caught up, the new lead is listed.
    fake.flush_search_index();
    let pages: Vec<_> = crm
        .leads()
        .list(ListQuery::default())
        .try_collect()
        .await
        .unwrap();
    let ids: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|r| r.id.to_string()))
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([demo::LEAD_CONTACT_ID.to_owned(), created.id.to_string()])
    );
    // Jane is a customer: read as a lead she is converted.
    let jane_as_lead = crm
        .leads()
        .get(&RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap())
        .await
        .unwrap();
    assert_eq!(
        jane_as_lead.status.as_ref().unwrap().state,
        LeadState::Converted
    );
}

#[tokio::test]
async fn activities_map_to_notes_tasks_and_calls() {
    let fake = fake().await;
    let crm = connect(&fake);
    let ticket = RecordRef::new(
        ObjectKind::Ticket,
        RecordId::new(demo::OPEN_TICKET_ID).unwrap(),
    );
    let due = DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000).unwrap();
    let task = Activity {
        kind: ActivityKind::Task,
        subject: Some("Follow up (回访) after the ticket closes".into()),
        due_at: Some(due),
        task_status: Some(Status::new(TaskState::Waiting)),
        who: Some(jane()),
        what: Some(ticket.clone()),
        ..Activity::default()
    };
    let t = crm
        .activities()
        .create(&task, &WriteContext::default())
        .await
        .unwrap();
    assert!(t.id.as_str().starts_with("task:"));
    let read = crm.activities().get(&t.id).await.unwrap();
    assert_eq!(read.due_at, Some(due));
    assert_eq!(
        read.task_status.as_ref().unwrap().raw.as_deref(),
        Some("WAITING")
    );
    assert_eq!(
        read.who.as_ref().unwrap().id.as_str(),
        demo::CUSTOMER_CONTACT_ID
    );
    assert_eq!(read.what.as_ref().unwrap(), &ticket);
    let raw_id = t.id.as_str().trim_start_matches("task:");
    assert_eq!(
        fake.associations("tasks", raw_id, "tickets"),
        [demo::OPEN_TICKET_ID]
    );

    let call = Activity {
        kind: ActivityKind::Call,
        subject: Some("Callback".into()),
        body: Some("Talked it through".into()),
        who: Some(jane()),
        ..Activity::default()
    };
    let c = crm
        .activities()
        .create(&call, &WriteContext::default())
        .await
        .unwrap();
    let stored = fake
        .record("calls", c.id.as_str().trim_start_matches("call:"))
        .unwrap();
    assert_eq!(stored["properties"]["hs_call_title"], "Callback");
    assert!(
        stored["properties"]["hs_timestamp"].is_string(),
        "hs_timestamp is required"
    );

    let log = Activity {
        kind: ActivityKind::ConversationLog,
        subject: Some("Chat".into()),
        body: Some("customer: hi".into()),
        who: Some(jane()),
        ..Activity::default()
    };
    let l = crm
        .activities()
        .create(&log, &WriteContext::default())
        .await
        .unwrap();
    let stored = fake
        .record("notes", l.id.as_str().trim_start_matches("note:"))
        .unwrap();
    // No activity_kind_property configured: the log is marked by its first body line.
    assert_eq!(
        stored["properties"]["hs_note_body"],
        "[Conversation log]\n\nChat\n\ncustomer: hi"
    );
    assert!(stored["properties"][demo::ACTIVITY_KIND_PROPERTY].is_null());
    assert_eq!(
        fake.associations(
            "notes",
            l.id.as_str().trim_start_matches("note:"),
            "contacts"
        ),
        [demo::CUSTOMER_CONTACT_ID]
    );
    let latest = crm.activities().latest_for(&jane(), 10).await.unwrap();
    assert!(
        latest
            .iter()
            .any(|a| a.id == l.id && a.kind == ActivityKind::ConversationLog)
    );
    assert!(
        latest
            .iter()
            .any(|a| a.id == t.id && a.kind == ActivityKind::Task)
    );
}

#[tokio::test]
async fn links_are_v4_associations() {
    let fake = fake().await;
    let crm = connect(&fake);
    let note = RecordRef::new(
        ObjectKind::Activity,
        RecordId::new(format!("note:{}", demo::NOTE_ID)).unwrap(),
    );
    let ticket = RecordRef::new(
        ObjectKind::Ticket,
        RecordId::new(demo::OPEN_TICKET_ID).unwrap(),
    );
    crm.link(&note, &ticket, &WriteContext::default())
        .await
        .unwrap();
    assert_eq!(
        fake.associations("notes", demo::NOTE_ID, "tickets"),
        [demo::OPEN_TICKET_ID]
    );
    assert!(
        fake.requests()
            .log
            .last()
            .unwrap()
            .starts_with("PUT /crm/v4/objects/notes/")
    );
}

#[tokio::test]
async fn listings_page_lazily_and_changed_since_uses_search() {
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        extra_contacts: 23,
        ..HubSpotFakeConfig::with_demo_properties()
    })
    .await;
    let crm = connect(&fake);
    let all = fake.records("contacts").len();
    let before = fake.requests().total;
    let pages: Vec<_> = crm
        .contacts()
        .list(ListQuery {
            page_size: NonZeroU32::new(10),
            ..ListQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(fake.requests().total - before, pages.len());
    assert_eq!(pages.len(), all.div_ceil(10));
    let since = Utc::now();
    for i in 0..3 {
        let c = Contact {
            email: Some(Email::parse(&format!("changed-{i}@example.com")).unwrap()),
            ..Contact::default()
        };
        crm.contacts()
            .create(&c, &WriteContext::default())
            .await
            .unwrap();
    }
    // `changed_since` pages search, which lags behind writes: once the index has caught up,
    // every change is listed.
    fake.flush_search_index();
    let changed: Vec<_> = crm
        .contacts()
        .list(ListQuery {
            page_size: NonZeroU32::new(2),
            changed_since: Some(since),
            ..ListQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    let emails: Vec<String> = changed
        .iter()
        .flat_map(|p| {
            p.items
                .iter()
                .map(|r| r.email.as_ref().unwrap().expose().to_owned())
        })
        .collect();
    assert_eq!(
        emails,
        [
            "changed-0@example.com",
            "changed-1@example.com",
            "changed-2@example.com"
        ]
    );
    // Activities list notes, then tasks, then calls.
    let acts: Vec<_> = crm
        .activities()
        .list(ListQuery::default())
        .try_collect()
        .await
        .unwrap();
    let kinds: Vec<ActivityKind> = acts
        .iter()
        .flat_map(|p| p.items.iter().map(|a| a.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ActivityKind::Note,
            ActivityKind::ConversationLog,
            ActivityKind::Call
        ]
    );
}
