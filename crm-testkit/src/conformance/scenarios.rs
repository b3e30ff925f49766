//! The scenarios. Each one is what a support bot does, checked from the caller's side.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};

use crm_core::{
    Activity, ActivityKind, Contact, Crm, Email, Error, ErrorKind, IdempotencyKey, Lead, ListQuery,
    Lookup, ObjectKind, Personal, RecordId, Status, TaskState, Ticket, TicketState, UpsertKey,
    ViewOptions, WriteContext,
};

use super::{Fixture, LostAnswer, Outcome};

enum Stop {
    /// Only through [`lacks`], after reading the connection's declared capabilities.
    Skip(String),
    Fail(String),
}

/// The scenario cannot run: the connection declares `capability` absent.
fn lacks(capability: &str) -> Stop {
    Stop::Skip(format!("the connection declares no {capability}"))
}

type Checked = Result<(), Stop>;

fn fail(msg: impl Into<String>) -> Stop {
    Stop::Fail(msg.into())
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Checked {
    if cond { Ok(()) } else { Err(fail(msg())) }
}

/// An SDK error as a failure, keeping its one-line description.
fn sdk(what: &str) -> impl FnOnce(Error) -> Stop + '_ {
    move |e| fail(format!("{what}: {e}"))
}

type Scenario = for<'a> fn(&'a dyn Crm, &'a Fixture) -> BoxFuture<'a, Outcome>;

macro_rules! scenarios {
    ($($name:ident),+ $(,)?) => {
        pub(super) const ALL: &[(&str, Scenario)] = &[
            $((stringify!($name), |crm, fx| {
                async move {
                    match $name(crm, fx).await {
                        Ok(()) => Outcome::Passed,
                        Err(Stop::Skip(why)) => Outcome::Skipped(why),
                        Err(Stop::Fail(why)) => Outcome::Failed(why),
                    }
                }
                .boxed()
            })),+
        ];
    };
}

scenarios!(
    lookup_by_email,
    lookup_by_phone,
    lookup_by_external_id,
    lookup_by_email_right_after_create,
    customer_view,
    unknown_customer_has_no_view,
    lead_with_follow_up_task,
    ticket_status_read_back,
    conversation_log_activity,
    idempotent_create_does_not_duplicate,
    upsert_by_external_id,
    update_changes_only_given_fields,
    paging_streams_every_record_once,
    get_missing_is_not_found,
    validation_error_names_the_field,
    batch_reports_per_item,
    malformed_json_is_a_decode_error,
    html_error_page_is_unavailable,
    rate_limit_is_waited_out,
    unkeyed_create_is_not_replayed_after_a_lost_answer,
    keyed_create_is_recovered_after_a_lost_answer,
    update_is_applied_once_after_a_lost_answer,
    batch_create_after_a_lost_answer_has_no_duplicates,
    keyed_batch_create_is_recovered_after_a_lost_answer,
    batch_update_is_applied_once_after_a_lost_answer,
);

fn marker() -> String {
    format!("cc{:08x}", fastrand::u32(..))
}

fn ctx_with_key(intent: &str) -> Result<WriteContext, Stop> {
    let key =
        IdempotencyKey::new(format!("{}-{intent}", marker())).map_err(sdk("idempotency key"))?;
    Ok(WriteContext::default().with_idempotency_key(key))
}

/// A create's context as a careful bot builds it: keyed where the connection makes keyed
/// creates idempotent, unkeyed elsewhere (a key the connection cannot honour fails the create).
fn ctx_for(crm: &dyn Crm, kind: ObjectKind, intent: &str) -> Result<WriteContext, Stop> {
    let keyed = crm
        .capabilities()
        .objects
        .get(&kind)
        .is_some_and(|c| c.idempotent_create);
    if keyed {
        ctx_with_key(intent)
    } else {
        Ok(WriteContext::default())
    }
}

async fn the_customer(crm: &dyn Crm, fx: &Fixture) -> Result<RecordId, Stop> {
    let found = crm
        .contacts()
        .find_by(&Lookup::Email(fx.customer_email.clone()))
        .await
        .map_err(sdk("find_by email"))?;
    found
        .into_iter()
        .next()
        .map(|r| r.id)
        .ok_or_else(|| fail("the seeded customer was not found by email"))
}

async fn lookup_by_email(crm: &dyn Crm, fx: &Fixture) -> Checked {
    let shouted = Email::from_vendor(&fx.customer_email.expose().to_uppercase());
    let found = crm
        .contacts()
        .find_by(&Lookup::Email(shouted))
        .await
        .map_err(sdk("find_by email"))?;
    let first = found
        .first()
        .ok_or_else(|| fail("no contact found for the seeded email in upper case"))?;
    ensure(first.email.as_ref() == Some(&fx.customer_email), || {
        "the contact found has a different email".into()
    })
}

async fn lookup_by_phone(crm: &dyn Crm, fx: &Fixture) -> Checked {
    if !crm.capabilities().lookup_by_phone {
        return Err(lacks("lookup by phone"));
    }
    let by_email = the_customer(crm, fx).await?;
    let found = crm
        .contacts()
        .find_by(&Lookup::Phone(fx.customer_phone.clone()))
        .await
        .map_err(sdk("find_by phone"))?;
    ensure(found.iter().any(|r| r.id == by_email), || {
        format!(
            "the phone lookup found {} contacts, none of them the customer found by email",
            found.len()
        )
    })
}

async fn lookup_by_external_id(crm: &dyn Crm, fx: &Fixture) -> Checked {
    if !crm.capabilities().lookup_by_external_id {
        return Err(lacks("lookup by external id"));
    }
    let by_email = the_customer(crm, fx).await?;
    let found = crm
        .contacts()
        .find_by(&Lookup::ExternalId(fx.customer_external_id.clone()))
        .await
        .map_err(sdk("find_by external id"))?;
    ensure(found.first().map(|r| &r.id) == Some(&by_email), || {
        "the external-id lookup did not find the customer".into()
    })
}

/// The bot creates a contact for a new customer, and the customer's next message looks them up
/// by email: the lookup must find that contact, even on a CRM whose search index lags behind
/// writes (HubSpot's search docs: new records "may take a few moments to appear"). A lookup that
/// misses it makes the bot create the customer again.
async fn lookup_by_email_right_after_create(crm: &dyn Crm, _fx: &Fixture) -> Checked {
    let m = marker();
    let email = Email::parse(&format!("{m}@fresh.example")).map_err(sdk("email"))?;
    let contact = Contact {
        email: Some(email.clone()),
        first_name: Some("Nova".into()),
        last_name: Some(Personal::new(format!("New {m}"))),
        ..Contact::default()
    };
    let created = crm
        .contacts()
        .create(&contact, &ctx_for(crm, ObjectKind::Contact, "fresh")?)
        .await
        .map_err(sdk("create contact"))?;
    let found = crm
        .contacts()
        .find_by(&Lookup::Email(email))
        .await
        .map_err(sdk("find_by email right after the create"))?;
    let ids: Vec<&RecordId> = found.iter().map(|r| &r.id).collect();
    ensure(ids == [&created.id], || {
        if ids.contains(&&created.id) {
            format!(
                "a lookup by email right after the create found the new contact among {}",
                ids.len()
            )
        } else {
            format!(
                "a lookup by email right after the create found {} contacts, not the new one",
                ids.len()
            )
        }
    })
}

async fn customer_view(crm: &dyn Crm, fx: &Fixture) -> Checked {
    let seeds = &fx.view_seeds;
    // Room for every seeded open record (and then some), so a missing one is a linking bug and
    // not the limit.
    let options = ViewOptions {
        activities: 2,
        opportunities: seeds.open_opportunities.len() + 5,
        tickets: seeds.open_tickets.len() + 5,
    };
    let view = crm
        .customer_view(&Lookup::Email(fx.customer_email.clone()), &options)
        .await
        .map_err(sdk("customer_view"))?
        .ok_or_else(|| fail("no view for the seeded customer"))?;
    ensure(
        view.contact.email.as_ref() == Some(&fx.customer_email),
        || "the view's contact has another email".into(),
    )?;
    if let Some(account_id) = &view.contact.account_id {
        let account = view
            .account
            .as_ref()
            .ok_or_else(|| fail("the contact has an account id but the view has no account"))?;
        ensure(&account.id == account_id, || {
            "the view's account is not the contact's".into()
        })?;
    }
    for t in &view.open_tickets {
        let open = t.is_open();
        ensure(open, || {
            format!("ticket {} in open_tickets is closed", t.id)
        })?;
    }
    for o in &view.open_opportunities {
        let open = o.is_open();
        ensure(open, || {
            format!("opportunity {} in open_opportunities is closed", o.id)
        })?;
    }
    let listed_tickets: BTreeSet<&str> = view.open_tickets.iter().map(|t| t.id.as_str()).collect();
    let listed_opportunities: BTreeSet<&str> = view
        .open_opportunities
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    let missing = |seeded: &[String], listed: &BTreeSet<&str>| -> Vec<String> {
        seeded
            .iter()
            .filter(|id| !listed.contains(id.as_str()))
            .cloned()
            .collect()
    };
    let present = |seeded: &[String], listed: &BTreeSet<&str>| -> Vec<String> {
        seeded
            .iter()
            .filter(|id| listed.contains(id.as_str()))
            .cloned()
            .collect()
    };
    let lost = missing(&seeds.open_opportunities, &listed_opportunities);
    ensure(lost.is_empty(), || {
        format!("the view misses the customer's open opportunities {lost:?}")
    })?;
    let lost = missing(&seeds.open_tickets, &listed_tickets);
    ensure(lost.is_empty(), || {
        format!("the view misses the customer's open tickets {lost:?}")
    })?;
    let wrong = present(&seeds.absent_opportunities, &listed_opportunities);
    ensure(wrong.is_empty(), || {
        format!("the view lists opportunities that are closed or another customer's: {wrong:?}")
    })?;
    let wrong = present(&seeds.absent_tickets, &listed_tickets);
    ensure(wrong.is_empty(), || {
        format!("the view lists tickets that are closed or another customer's: {wrong:?}")
    })?;
    ensure(
        listed_opportunities.len() == view.open_opportunities.len()
            && listed_tickets.len() == view.open_tickets.len(),
        || "the view lists a record twice".into(),
    )?;
    ensure(view.recent_activities.len() <= 2, || {
        format!(
            "asked for 2 activities, got {}",
            view.recent_activities.len()
        )
    })?;
    let times: Vec<_> = view
        .recent_activities
        .iter()
        .filter_map(|a| a.timestamp.or(a.created_at))
        .collect();
    ensure(times.is_sorted_by(|a, b| a >= b), || {
        "recent activities are not newest first".into()
    })
}

async fn unknown_customer_has_no_view(crm: &dyn Crm, _fx: &Fixture) -> Checked {
    let nobody = Email::parse(&format!("{}@nobody.example", marker())).map_err(sdk("email"))?;
    let view = crm
        .customer_view(&Lookup::Email(nobody), &ViewOptions::default())
        .await
        .map_err(sdk("customer_view"))?;
    ensure(view.is_none(), || "an unknown email produced a view".into())
}

async fn lead_with_follow_up_task(crm: &dyn Crm, fx: &Fixture) -> Checked {
    let contact = the_customer(crm, fx).await?;
    let m = marker();
    let lead = Lead {
        email: Some(Email::parse(&format!("{m}@lead.example")).map_err(sdk("email"))?),
        first_name: Some("Lena".into()),
        last_name: Some(Personal::new(format!("Lead {m}"))),
        company: Some("Acme Corp".into()),
        source: Some("chatbot".into()),
        description: Some("Wants the premium plan for 20 seats".into()),
        ..Lead::default()
    };
    let created = crm
        .leads()
        .create(&lead, &ctx_for(crm, ObjectKind::Lead, "lead")?)
        .await
        .map_err(sdk("create lead"))?;
    let read = crm
        .leads()
        .get(&created.id)
        .await
        .map_err(sdk("get lead"))?;
    ensure(
        read.email == lead.email && read.last_name == lead.last_name,
        || "the lead read back differs from the lead written".into(),
    )?;
    let due = Utc::now() + chrono::Duration::days(1);
    let task = Activity {
        kind: ActivityKind::Task,
        subject: Some("Call back about the premium plan".into()),
        due_at: Some(due),
        task_status: Some(Status::new(TaskState::NotStarted)),
        who: Some(crm_core::RecordRef::new(
            ObjectKind::Contact,
            contact.clone(),
        )),
        ..Activity::default()
    };
    let task = crm
        .activities()
        .create(&task, &ctx_for(crm, ObjectKind::Activity, "task")?)
        .await
        .map_err(sdk("create task"))?;
    ensure(task.kind == ActivityKind::Task, || {
        "the task came back as another kind".into()
    })?;
    let state = task.task_status.as_ref().map(|s| s.state);
    ensure(state == Some(TaskState::NotStarted), || {
        format!("the task's status came back as {state:?}")
    })?;
    ensure(task.who.as_ref().map(|w| &w.id) == Some(&contact), || {
        "the task is not linked to the contact".into()
    })
}

async fn ticket_status_read_back(crm: &dyn Crm, fx: &Fixture) -> Checked {
    ticket_caps(crm)?;
    let contact = the_customer(crm, fx).await?;
    let me = crm_core::RecordRef::new(ObjectKind::Contact, contact.clone());
    let ticket = Ticket {
        subject: Some(Personal::new(format!(
            "Router keeps rebooting {}",
            marker()
        ))),
        description: Some("Since the update it reboots every hour".into()),
        status: Some(Status::new(TicketState::New)),
        contact_id: Some(contact.clone()),
        ..Ticket::default()
    };
    let created = crm
        .tickets()
        .create(&ticket, &ctx_for(crm, ObjectKind::Ticket, "ticket")?)
        .await
        .map_err(sdk("create ticket"))?;
    let status = crm
        .tickets()
        .status(&created.id)
        .await
        .map_err(sdk("status"))?;
    ensure(status.state.is_open(), || {
        format!("a new ticket reads as {:?}", status.state)
    })?;
    let open = crm
        .tickets()
        .open_for(&me, 50)
        .await
        .map_err(sdk("open_for"))?;
    ensure(open.iter().any(|t| t.id == created.id), || {
        "the new ticket is not among the contact's open tickets".into()
    })?;
    ensure(in_view(crm, fx, &created.id).await?, || {
        "the new ticket is not among the open tickets of the customer's 360° view".into()
    })?;
    let close = Ticket {
        status: Some(Status::new(TicketState::Closed)),
        ..Ticket::default()
    };
    crm.tickets()
        .update(&created.id, &close, &WriteContext::default())
        .await
        .map_err(sdk("close ticket"))?;
    let status = crm
        .tickets()
        .status(&created.id)
        .await
        .map_err(sdk("status"))?;
    ensure(status.state == TicketState::Closed, || {
        format!("a closed ticket reads as {:?}", status.state)
    })?;
    ensure(status.raw.is_some(), || {
        "the status lost the vendor's raw value".into()
    })?;
    let open = crm
        .tickets()
        .open_for(&me, 50)
        .await
        .map_err(sdk("open_for"))?;
    ensure(!open.iter().any(|t| t.id == created.id), || {
        "the closed ticket is still among the open tickets".into()
    })?;
    // The next conversation's view, right after the bot closed the ticket: a view that read a
    // lagging search index would still show it as open.
    ensure(!in_view(crm, fx, &created.id).await?, || {
        "the ticket closed a moment ago is still among the open tickets of the 360° view".into()
    })
}

/// Whether the fixture customer's 360° view lists ticket `id` among its open tickets.
async fn in_view(crm: &dyn Crm, fx: &Fixture, id: &RecordId) -> Result<bool, Stop> {
    let options = ViewOptions {
        tickets: 50,
        ..ViewOptions::default()
    };
    let view = crm
        .customer_view(&Lookup::Email(fx.customer_email.clone()), &options)
        .await
        .map_err(sdk("customer_view"))?
        .ok_or_else(|| fail("the 360° view found no customer"))?;
    Ok(view.open_tickets.iter().any(|t| t.id == *id))
}

async fn conversation_log_activity(crm: &dyn Crm, fx: &Fixture) -> Checked {
    let contact = the_customer(crm, fx).await?;
    let me = crm_core::RecordRef::new(ObjectKind::Contact, contact);
    let log = Activity {
        kind: ActivityKind::ConversationLog,
        subject: Some("Chat transcript".into()),
        body: Some(Personal::new(format!(
            "customer: hello\nbot: hi {}",
            marker()
        ))),
        timestamp: Some(Utc::now() + chrono::Duration::minutes(5)),
        who: Some(me.clone()),
        ..Activity::default()
    };
    let created = crm
        .activities()
        .create(&log, &ctx_for(crm, ObjectKind::Activity, "log")?)
        .await
        .map_err(sdk("create log"))?;
    ensure(created.kind == ActivityKind::ConversationLog, || {
        format!("the log came back as {}", created.kind)
    })?;
    let latest = crm
        .activities()
        .latest_for(&me, 1)
        .await
        .map_err(sdk("latest_for"))?;
    ensure(latest.first().map(|a| &a.id) == Some(&created.id), || {
        "the newest activity of the contact is not the log just written".into()
    })
}

async fn idempotent_create_does_not_duplicate(crm: &dyn Crm, fx: &Fixture) -> Checked {
    if !ticket_caps(crm)?.idempotent_create {
        return Err(lacks("idempotent ticket create"));
    }
    let contact = the_customer(crm, fx).await?;
    let ctx = ctx_with_key("dup")?;
    let ticket = Ticket {
        subject: Some(Personal::new(format!("Double submit {}", marker()))),
        contact_id: Some(contact),
        ..Ticket::default()
    };
    let first = crm
        .tickets()
        .create(&ticket, &ctx)
        .await
        .map_err(sdk("first create"))?;
    let second = crm
        .tickets()
        .create(&ticket, &ctx)
        .await
        .map_err(sdk("second create"))?;
    ensure(first.id == second.id, || {
        format!(
            "the same idempotency key created two tickets ({} and {})",
            first.id, second.id
        )
    })
}

async fn upsert_by_external_id(crm: &dyn Crm, _fx: &Fixture) -> Checked {
    let caps = crm
        .capabilities()
        .object(ObjectKind::Contact, "contact.upsert")
        .map_err(sdk("capabilities"))?;
    if !caps.upsert_keys.iter().any(|k| k == "external_id") {
        return Err(lacks("contact upsert by external id"));
    }
    let m = marker();
    let key = UpsertKey::ExternalId(format!("ext-{m}"));
    let contact = Contact {
        email: Some(Email::parse(&format!("{m}@upsert.example")).map_err(sdk("email"))?),
        last_name: Some("Upsert".into()),
        ..Contact::default()
    };
    let ctx = WriteContext::default();
    let first = crm
        .contacts()
        .upsert(&key, &contact, &ctx)
        .await
        .map_err(sdk("first upsert"))?;
    ensure(first.created, || "the first upsert did not create".into())?;
    let again = Contact {
        title: Some("Buyer".into()),
        ..Contact::default()
    };
    let second = crm
        .contacts()
        .upsert(&key, &again, &ctx)
        .await
        .map_err(sdk("second upsert"))?;
    ensure(!second.created, || {
        "the second upsert created another record".into()
    })?;
    ensure(second.record.id == first.record.id, || {
        "the upserts hit two records".into()
    })?;
    ensure(second.record.title.as_deref() == Some("Buyer"), || {
        "the second upsert did not update the title".into()
    })
}

async fn update_changes_only_given_fields(crm: &dyn Crm, _fx: &Fixture) -> Checked {
    let m = marker();
    let email = Email::parse(&format!("{m}@update.example")).map_err(sdk("email"))?;
    let contact = Contact {
        email: Some(email.clone()),
        first_name: Some("Una".into()),
        last_name: Some("Update".into()),
        ..Contact::default()
    };
    let created = crm
        .contacts()
        .create(&contact, &WriteContext::default())
        .await
        .map_err(sdk("create"))?;
    let patch = Contact {
        title: Some("Head of IT".into()),
        ..Contact::default()
    };
    crm.contacts()
        .update(&created.id, &patch, &WriteContext::default())
        .await
        .map_err(sdk("update"))?;
    let read = crm.contacts().get(&created.id).await.map_err(sdk("get"))?;
    ensure(read.title.as_deref() == Some("Head of IT"), || {
        "the title was not updated".into()
    })?;
    ensure(
        read.email.as_ref() == Some(&email) && read.first_name == contact.first_name,
        || "the update changed fields it was not given".into(),
    )
}

async fn paging_streams_every_record_once(crm: &dyn Crm, fx: &Fixture) -> Checked {
    let query = ListQuery {
        page_size: NonZeroU32::new(7),
        ..ListQuery::default()
    };
    let mut pages = crm.contacts().list(query);
    let mut seen = BTreeSet::new();
    let mut page_count = 0usize;
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("list page"))?;
        page_count += 1;
        ensure(page.items.len() <= 7, || {
            format!("a page has {} records", page.items.len())
        })?;
        for r in page.items {
            ensure(seen.insert(r.id.clone()), || {
                format!("record {} listed twice", r.id)
            })?;
        }
    }
    ensure(seen.len() >= fx.min_contacts, || {
        format!(
            "listed {} contacts, the fake holds at least {}",
            seen.len(),
            fx.min_contacts
        )
    })?;
    ensure(page_count >= seen.len().div_ceil(7), || {
        "fewer pages than records need".into()
    })
}

async fn get_missing_is_not_found(crm: &dyn Crm, _fx: &Fixture) -> Checked {
    let id = RecordId::new(format!("missing/{}?x", marker())).map_err(sdk("id"))?;
    match crm.contacts().get(&id).await {
        Ok(_) => Err(fail("a missing id returned a record")),
        Err(e) if e.kind() == &ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail(format!("expected not_found, got {e}"))),
    }
}

async fn validation_error_names_the_field(crm: &dyn Crm, _fx: &Fixture) -> Checked {
    let contact = Contact {
        email: Some(Email::from_vendor("not-an-email")),
        last_name: Some("Invalid".into()),
        ..Contact::default()
    };
    match crm
        .contacts()
        .create(&contact, &WriteContext::default())
        .await
    {
        Ok(r) => Err(fail(format!("an invalid email was accepted as {}", r.id))),
        Err(e) => match e.kind() {
            ErrorKind::Validation { fields } => ensure(
                fields.iter().any(|f| f.field.eq_ignore_ascii_case("email")),
                || format!("the validation error does not name the email field: {e}"),
            ),
            _ => Err(fail(format!("expected a validation error, got {e}"))),
        },
    }
}

async fn batch_reports_per_item(crm: &dyn Crm, _fx: &Fixture) -> Checked {
    let m = marker();
    let good = |n: u32| -> Result<Contact, Stop> {
        Ok(Contact {
            email: Some(Email::parse(&format!("{m}-{n}@batch.example")).map_err(sdk("email"))?),
            // A first name too: a vendor that keeps one `name` (Pipedrive) reads its first word
            // back as the first name, so a last name alone could not round-trip.
            first_name: Some(Personal::new("Batch".to_owned())),
            last_name: Some(Personal::new(format!("Item {n}"))),
            ..Contact::default()
        })
    };
    let bad = Contact {
        email: Some(Email::from_vendor("broken")),
        last_name: Some("Broken".into()),
        ..Contact::default()
    };
    let inputs = vec![good(1)?, bad, good(2)?];
    let results = crm
        .contacts()
        .create_batch(&inputs, &WriteContext::default())
        .await;
    ensure(results.len() == 3, || {
        format!("3 inputs gave {} results", results.len())
    })?;
    let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
    ensure(ok == [true, false, true], || {
        format!("per-item outcomes were {ok:?}")
    })?;
    // Each result is its own input's record (vendors need not answer in input order).
    for (n, (r, input)) in results.iter().zip(&inputs).enumerate() {
        let Ok(r) = r else { continue };
        ensure(
            r.email == input.email && r.last_name == input.last_name,
            || format!("batch result {n} is another input's record"),
        )?;
        let read = crm
            .contacts()
            .get(&r.id)
            .await
            .map_err(sdk("get a batch-created contact"))?;
        ensure(read.email == input.email, || {
            format!("batch result {n} has the id of another input's record")
        })?;
    }
    Ok(())
}

async fn malformed_json_is_a_decode_error(crm: &dyn Crm, fx: &Fixture) -> Checked {
    let id = the_customer(crm, fx).await?;
    fx.faults.malformed_next(1);
    match crm.contacts().get(&id).await {
        Ok(_) => return Err(fail("a truncated body was accepted")),
        Err(e) if e.kind() == &ErrorKind::Decode => {}
        Err(e) => return Err(fail(format!("expected a decode error, got {e}"))),
    }
    crm.contacts()
        .get(&id)
        .await
        .map(drop)
        .map_err(sdk("the call after the fault"))
}

async fn html_error_page_is_unavailable(crm: &dyn Crm, fx: &Fixture) -> Checked {
    let id = the_customer(crm, fx).await?;
    fx.faults.html_next(50);
    let result = crm.contacts().get(&id).await;
    fx.faults.clear();
    match result {
        Ok(_) => Err(fail("an HTML 502 page was accepted")),
        Err(e) if e.kind() == &ErrorKind::Unavailable => ensure(e.status() == Some(502), || {
            format!("the error lost the status: {e}")
        }),
        Err(e) => Err(fail(format!("expected unavailable, got {e}"))),
    }
}

async fn rate_limit_is_waited_out(crm: &dyn Crm, fx: &Fixture) -> Checked {
    let id = the_customer(crm, fx).await?;
    let hint = Duration::from_secs(2);
    let seen = fx.faults.arrivals().len();
    fx.faults.rate_limit_next(1, hint);
    crm.contacts()
        .get(&id)
        .await
        .map(drop)
        .map_err(sdk("a read after one limit answer with Retry-After: 2"))?;
    // Measured on the fake's clock: from the refused request's arrival to the next one.
    let arrivals = fx.faults.arrivals();
    let after: Vec<_> = arrivals.iter().skip(seen).collect();
    let refused = after
        .iter()
        .position(|a| a.limited)
        .ok_or_else(|| fail("the fake never sent the limit answer"))?;
    let (Some(limited), Some(retry)) = (after.get(refused), after.get(refused + 1)) else {
        return Err(fail("no request came after the limit answer"));
    };
    let waited = retry.at.saturating_duration_since(limited.at);
    ensure(waited >= hint, || {
        format!(
            "the retry came {} ms after a limit answer asking for Retry-After: {} s",
            waited.as_millis(),
            hint.as_secs()
        )
    })
}

/// Every way the suite loses the answer to a write the fake carried out: the vendor's 5xx, a
/// connection dropped mid-answer, and an answer that comes after the client's timeout.
fn lost_answers(fx: &Fixture) -> [LostAnswer; 3] {
    [
        LostAnswer::ServerError,
        LostAnswer::Reset,
        LostAnswer::Timeout(fx.client_timeout.saturating_add(Duration::from_secs(2))),
    ]
}

fn how(lost: LostAnswer) -> &'static str {
    match lost {
        LostAnswer::ServerError => "a 5xx after commit",
        LostAnswer::Reset => "a connection reset after commit",
        LostAnswer::Timeout(_) => "a timeout after commit",
    }
}

/// A ticket of the customer whose subject carries `m`, the marker the fake's store is searched
/// for (the fakes keep nothing unique about a ticket's subject, so a duplicate shows).
fn marked_ticket(contact: &RecordId, m: &str) -> Ticket {
    Ticket {
        subject: Some(Personal::new(format!("Printer jams {m}"))),
        description: Some("It jams on every second page".into()),
        status: Some(Status::new(TicketState::New)),
        contact_id: Some(contact.clone()),
        ..Ticket::default()
    }
}

fn subject_of(t: &Ticket) -> Option<&str> {
    t.subject.as_ref().map(|s| s.expose().as_str())
}

fn stored(fx: &Fixture, m: &str) -> usize {
    fx.faults.count_marked(ObjectKind::Ticket, m)
}

/// The connection's ticket capabilities; a connection that declares no ticket records (a CRM
/// without tickets, such as Pipedrive) skips the scenario with that reason.
fn ticket_caps(crm: &dyn Crm) -> Result<crm_core::ObjectCapabilities, Stop> {
    crm.capabilities()
        .objects
        .get(&ObjectKind::Ticket)
        .cloned()
        .ok_or_else(|| lacks("ticket records"))
}

async fn unkeyed_create_is_not_replayed_after_a_lost_answer(
    crm: &dyn Crm,
    fx: &Fixture,
) -> Checked {
    ticket_caps(crm)?;
    let contact = the_customer(crm, fx).await?;
    for lost in lost_answers(fx) {
        let m = marker();
        fx.faults.after_commit_next(1, lost);
        let result = crm
            .tickets()
            .create(&marked_ticket(&contact, &m), &WriteContext::default())
            .await;
        fx.faults.clear();
        let n = stored(fx, &m);
        ensure(n == 1, || {
            format!(
                "after {} on a create without a key the fake holds {n} such tickets, not 1",
                how(lost)
            )
        })?;
        ensure(result.is_err(), || {
            format!(
                "a create without a key reported success after {} (its answer never arrived)",
                how(lost)
            )
        })?;
    }
    Ok(())
}

async fn keyed_create_is_recovered_after_a_lost_answer(crm: &dyn Crm, fx: &Fixture) -> Checked {
    if !ticket_caps(crm)?.idempotent_create {
        return Err(lacks("idempotent ticket create"));
    }
    let contact = the_customer(crm, fx).await?;
    for lost in lost_answers(fx) {
        let m = marker();
        fx.faults.after_commit_next(1, lost);
        let result = crm
            .tickets()
            .create(&marked_ticket(&contact, &m), &ctx_with_key("lost")?)
            .await;
        fx.faults.clear();
        let n = stored(fx, &m);
        ensure(n == 1, || {
            format!(
                "after {} on a keyed create the fake holds {n} such tickets, not 1",
                how(lost)
            )
        })?;
        let created = result.map_err(|e| {
            fail(format!(
                "a keyed create was not recovered after {}: {e}",
                how(lost)
            ))
        })?;
        let read = crm
            .tickets()
            .get(&created.id)
            .await
            .map_err(sdk("get the recovered ticket"))?;
        ensure(subject_of(&read).is_some_and(|s| s.contains(&m)), || {
            format!(
                "after {} the keyed create returned another ticket's id",
                how(lost)
            )
        })?;
    }
    Ok(())
}

async fn update_is_applied_once_after_a_lost_answer(crm: &dyn Crm, fx: &Fixture) -> Checked {
    ticket_caps(crm)?;
    let contact = the_customer(crm, fx).await?;
    let m = marker();
    let created = crm
        .tickets()
        .create(
            &marked_ticket(&contact, &m),
            &ctx_for(crm, ObjectKind::Ticket, "upd")?,
        )
        .await
        .map_err(sdk("create"))?;
    for lost in lost_answers(fx) {
        let change = marker();
        let patch = Ticket {
            description: Some(Personal::new(format!("Now it also smokes {change}"))),
            ..Ticket::default()
        };
        fx.faults.after_commit_next(1, lost);
        let result = crm
            .tickets()
            .update(&created.id, &patch, &WriteContext::default())
            .await;
        fx.faults.clear();
        result.map_err(|e| {
            fail(format!(
                "an update (idempotent) failed after {}: {e}",
                how(lost)
            ))
        })?;
        let (tickets, changed) = (stored(fx, &m), stored(fx, &change));
        ensure(tickets == 1 && changed == 1, || {
            format!(
                "after {} on an update the fake holds {tickets} tickets, {changed} with the change (expected 1 and 1)",
                how(lost)
            )
        })?;
    }
    Ok(())
}

/// Three marked tickets of the customer, and their markers.
fn marked_batch(contact: &RecordId) -> (Vec<Ticket>, Vec<String>) {
    let m = marker();
    let marks: Vec<String> = (1..=3).map(|n| format!("{m}n{n}z")).collect();
    let tickets = marks.iter().map(|k| marked_ticket(contact, k)).collect();
    (tickets, marks)
}

/// Each batch result names its own input's ticket, and each stored at most (`keyed`: exactly)
/// once.
fn check_batch(
    fx: &Fixture,
    lost: LostAnswer,
    results: &[Result<crm_core::Record<Ticket>, Error>],
    marks: &[String],
    keyed: bool,
) -> Checked {
    ensure(results.len() == marks.len(), || {
        format!("{} inputs gave {} results", marks.len(), results.len())
    })?;
    for (n, (r, m)) in results.iter().zip(marks).enumerate() {
        let count = stored(fx, m);
        ensure(count <= 1, || {
            format!(
                "after {} on a batch create input {n} is stored {count} times",
                how(lost)
            )
        })?;
        match r {
            Ok(rec) => {
                ensure(count == 1, || {
                    format!(
                        "after {} input {n} was reported created but is not stored",
                        how(lost)
                    )
                })?;
                ensure(
                    subject_of(rec).is_some_and(|s| s.contains(m.as_str())),
                    || format!("batch result {n} is another input's record"),
                )?;
            }
            Err(e) if keyed => {
                return Err(fail(format!(
                    "after {} keyed batch input {n} was not recovered: {e}",
                    how(lost)
                )));
            }
            Err(_) => {}
        }
    }
    Ok(())
}

async fn batch_create_after_a_lost_answer_has_no_duplicates(
    crm: &dyn Crm,
    fx: &Fixture,
) -> Checked {
    ticket_caps(crm)?;
    let contact = the_customer(crm, fx).await?;
    for lost in lost_answers(fx) {
        let (tickets, marks) = marked_batch(&contact);
        fx.faults.after_commit_next(1, lost);
        let results = crm
            .tickets()
            .create_batch(&tickets, &WriteContext::default())
            .await;
        fx.faults.clear();
        check_batch(fx, lost, &results, &marks, false)?;
        let failed = results.iter().filter(|r| r.is_err()).count();
        ensure(failed > 0, || {
            format!(
                "a batch create without a key reported every input created after {}",
                how(lost)
            )
        })?;
    }
    Ok(())
}

async fn keyed_batch_create_is_recovered_after_a_lost_answer(
    crm: &dyn Crm,
    fx: &Fixture,
) -> Checked {
    if !ticket_caps(crm)?.idempotent_create {
        return Err(lacks("idempotent ticket create"));
    }
    let contact = the_customer(crm, fx).await?;
    for lost in lost_answers(fx) {
        let (tickets, marks) = marked_batch(&contact);
        fx.faults.after_commit_next(1, lost);
        let results = crm
            .tickets()
            .create_batch(&tickets, &ctx_with_key("batch")?)
            .await;
        fx.faults.clear();
        check_batch(fx, lost, &results, &marks, true)?;
    }
    Ok(())
}

async fn batch_update_is_applied_once_after_a_lost_answer(crm: &dyn Crm, fx: &Fixture) -> Checked {
    ticket_caps(crm)?;
    let contact = the_customer(crm, fx).await?;
    let (tickets, marks) = marked_batch(&contact);
    let created = crm
        .tickets()
        .create_batch(&tickets, &ctx_for(crm, ObjectKind::Ticket, "bupd")?)
        .await;
    let ids = created
        .into_iter()
        .map(|r| r.map(|r| r.id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(sdk("batch create"))?;
    for lost in lost_answers(fx) {
        let changes: Vec<String> = ids.iter().map(|_| marker()).collect();
        let patches: Vec<(RecordId, Ticket)> = ids
            .iter()
            .zip(&changes)
            .map(|(id, c)| {
                let patch = Ticket {
                    description: Some(Personal::new(format!("Now it also smokes {c}"))),
                    ..Ticket::default()
                };
                (id.clone(), patch)
            })
            .collect();
        fx.faults.after_commit_next(1, lost);
        let results = crm
            .tickets()
            .update_batch(&patches, &WriteContext::default())
            .await;
        fx.faults.clear();
        for (n, r) in results.iter().enumerate() {
            let rec = r.as_ref().map_err(|e| {
                fail(format!(
                    "batch update input {n} (idempotent) failed after {}: {e}",
                    how(lost)
                ))
            })?;
            ensure(ids.get(n) == Some(&rec.id), || {
                format!("batch update result {n} is another input's record")
            })?;
        }
        for (m, c) in marks.iter().zip(&changes) {
            let (tickets, changed) = (stored(fx, m), stored(fx, c));
            ensure(tickets == 1 && changed == 1, || {
                format!(
                    "after {} on a batch update the fake holds {tickets} tickets, {changed} with the change (expected 1 and 1)",
                    how(lost)
                )
            })?;
        }
    }
    Ok(())
}
