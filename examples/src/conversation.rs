//! A scripted support conversation, played against any [`Crm`].
//!
//! This is the main job of crm-connect in miniature: recognise a returning customer, show the
//! 360° view, write back what the conversation produced (a lead with a follow-up task, a ticket,
//! the transcript) and read the ticket's status back. Every personal value printed is masked.

use std::io::Write;
use std::sync::Arc;

use chrono::{Duration, Utc};
use crm_core::events::{ViewCache, WebhookSource};
use crm_core::reexports::async_trait;
use crm_core::{
    Activity, ActivityKind, Actor, Crm, CustomerView, Email, Entity, IdempotencyKey, Lead, Lookup,
    ObjectKind, Opportunity, OpportunityState, Personal, Phone, Record, RecordId, RecordRef,
    Region, Result, Status, TaskState, Ticket, TicketState, ViewOptions, WriteContext,
};
use crm_generic_rest::{GenericWebhook, Spec};
use crm_testkit::sandbox::Sandbox;
use crm_testkit::sandbox::webhooks::{Delivery, WebhookEmitter};

use crate::receiver::serve_local;

/// What the conversation needs to know about the customer it plays.
#[derive(Debug, Clone)]
pub struct Script {
    /// A name for the connection, part of every idempotency key.
    pub connection: String,
    /// The conversation's id, part of every idempotency key: replaying the same conversation
    /// writes nothing twice.
    pub conversation_id: String,
    /// The email the customer types (any case).
    pub email: String,
    /// The phone number the customer types (any format).
    pub phone: String,
}

impl Script {
    /// The demo's script for `connection`: the customer types `email` in capitals (the CRM
    /// still recognises it) and a US number in a national format.
    pub fn demo(connection: &str, email: &str) -> Self {
        Self {
            connection: connection.into(),
            conversation_id: "demo-conversation-1".into(),
            email: email.to_uppercase(),
            phone: "+1 415 555 0100".into(),
        }
    }
}

/// What the conversation wrote.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The contact recognised.
    pub contact: RecordId,
    /// The lead created, or the opportunity where the CRM keeps one person as one record (a
    /// HubSpot lead is the contact itself).
    pub lead: RecordRef,
    /// The follow-up task for sales.
    pub task: RecordId,
    /// The ticket created.
    pub ticket: RecordId,
    /// The conversation log.
    pub log: RecordId,
}

/// Prints one line of the conversation.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        // A closed stdout must not fail the conversation.
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Plays steps 1–7 of the conversation. `between` runs after the ticket is created and before
/// its status is read back a second time, so a caller can act as an agent in the CRM (pick the
/// ticket up). [`play_demo`] plays the whole conversation, agent and CRM notifications included.
pub async fn play<F, Fut>(
    crm: &dyn Crm,
    script: &Script,
    out: &mut dyn Write,
    between: F,
) -> Result<Outcome>
where
    F: FnOnce(RecordId) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let opened = open_ticket(crm, script, out).await?;
    between(opened.ticket.clone()).await;
    finish(crm, script, out, opened).await
}

/// What steps 1–6 produced, for the rest of the conversation.
struct Opened {
    contact: RecordId,
    me: RecordRef,
    lead: RecordRef,
    task: RecordId,
    ticket: RecordId,
}

fn key(script: &Script, intent: &str) -> WriteContext {
    WriteContext::new(Actor::Bot).with_idempotency_key(IdempotencyKey::derive(
        &script.connection,
        &script.conversation_id,
        intent,
    ))
}

/// Steps 1–6: recognise the customer, show the view, write the lead and task, open a ticket and
/// read its status once.
async fn open_ticket(crm: &dyn Crm, script: &Script, out: &mut dyn Write) -> Result<Opened> {
    let key = |intent: &str| key(script, intent);
    say!(out, "\n== 1. A returning customer writes in");
    say!(
        out,
        "customer> Hi, my router is acting up again. I'm {}",
        Email::from_vendor(&script.email).masked()
    );
    let email = Email::parse(&script.email)?;
    let by_email = crm
        .contacts()
        .find_by(&Lookup::Email(email.clone()))
        .await?;
    let Some(contact) = by_email.first() else {
        say!(out, "bot> I could not find you; let me open a new record.");
        return Err(crm_core::Error::new(
            crm_core::ErrorKind::NotFound,
            "the scripted customer is not in the CRM",
        ));
    };
    say!(
        out,
        "crm> recognised by email: contact {} ({})",
        contact.id,
        name_of(contact)
    );

    say!(out, "\n== 2. The customer confirms a phone number");
    let phone = Phone::parse(&script.phone, Region::us())?;
    say!(out, "customer> My number is {}", phone.masked());
    let by_phone = crm.contacts().find_by(&Lookup::Phone(phone)).await?;
    let same = by_phone.iter().any(|c| c.id == contact.id);
    say!(
        out,
        "crm> phone lookup found {} contact(s); same customer: {}",
        by_phone.len(),
        if same { "yes" } else { "no" }
    );

    say!(out, "\n== 3. The 360° view the bot and the agent see");
    let view = crm
        .customer_view(&Lookup::Email(email.clone()), &ViewOptions::default())
        .await?
        .ok_or_else(|| crm_core::Error::new(crm_core::ErrorKind::NotFound, "no view"))?;
    print_view(out, &view);
    let me = view.contact.to_ref();

    say!(
        out,
        "\n== 4. Purchase intent: a lead for sales, with a follow-up task"
    );
    say!(
        out,
        "customer> Also, we'd like the premium plan for 20 seats."
    );
    let lead = Lead {
        email: Some(email.clone()),
        first_name: view.contact.first_name.clone(),
        last_name: view.contact.last_name.clone(),
        company: view.account.as_ref().and_then(|a| a.name.clone()),
        source: Some("chatbot".into()),
        description: Some(Personal::new("Premium plan, 20 seats".to_owned())),
        // No `contact_id`: not every CRM links leads to contacts (Salesforce does not); the
        // follow-up task below links the sales work to the contact instead.
        ..Lead::default()
    };
    let lead = match crm.leads().create(&lead, &key("lead")).await {
        Ok(created) => {
            wrote(out, "lead", &lead, &created);
            created.to_ref()
        }
        // The CRM already holds this person as the contact (HubSpot's leads are contacts):
        // the intent becomes an opportunity on the contact and its account instead.
        Err(e) if matches!(e.kind(), crm_core::ErrorKind::Conflict { .. }) => {
            say!(
                out,
                "crm> the customer is already a contact here; recording an opportunity instead of a lead"
            );
            let deal = Opportunity {
                name: Some("Premium plan, 20 seats".into()),
                stage: Some(Status::new(OpportunityState::Open)),
                contact_id: Some(contact.id.clone()),
                account_id: contact.account_id.clone(),
                ..Opportunity::default()
            };
            let created = crm
                .opportunities()
                .create(&deal, &key("opportunity"))
                .await?;
            wrote(out, "opportunity", &deal, &created);
            created.to_ref()
        }
        Err(e) => return Err(e),
    };
    let task = Activity {
        kind: ActivityKind::Task,
        subject: Some(Personal::new("Call back about the premium plan".to_owned())),
        due_at: Some(Utc::now() + Duration::days(1)),
        task_status: Some(Status::new(TaskState::NotStarted)),
        who: Some(me.clone()),
        ..Activity::default()
    };
    let created = crm
        .activities()
        .create(&task, &key("sales-follow-up"))
        .await?;
    wrote(out, "follow-up task", &task, &created);
    let task = created;
    say!(
        out,
        "bot> Thanks! Someone from sales will call you tomorrow."
    );

    say!(
        out,
        "\n== 5. A problem report becomes a ticket linked to the contact"
    );
    let ticket = Ticket {
        subject: Some(Personal::new("Router reboots every hour".to_owned())),
        description: Some(Personal::new(
            "Since the last firmware update the router reboots about every hour.".to_owned(),
        )),
        status: Some(Status::new(TicketState::New)),
        priority: Some("high".into()),
        contact_id: Some(contact.id.clone()),
        account_id: contact.account_id.clone(),
        ..Ticket::default()
    };
    let created = crm.tickets().create(&ticket, &key("ticket")).await?;
    wrote(out, "ticket", &ticket, &created);
    let ticket = created;

    say!(
        out,
        "\n== 6. The ticket's status, read back into the conversation"
    );
    let status = crm.tickets().status(&ticket.id).await?;
    say!(
        out,
        "bot> Your ticket {} is \"{}\" ({}).",
        ticket.id,
        status.display(),
        open_word(status.state)
    );
    Ok(Opened {
        contact: contact.id.clone(),
        me,
        lead,
        task: task.id,
        ticket: ticket.id,
    })
}

/// Step 6's second read and step 7: the ticket's status after the agent step, and the transcript.
async fn finish(
    crm: &dyn Crm,
    script: &Script,
    out: &mut dyn Write,
    opened: Opened,
) -> Result<Outcome> {
    let Opened {
        contact,
        me,
        lead,
        task,
        ticket,
    } = opened;
    let status = crm.tickets().status(&ticket).await?;
    say!(
        out,
        "bot> Update: ticket {} is now \"{}\" ({}).",
        ticket,
        status.display(),
        open_word(status.state)
    );

    say!(out, "\n== 7. The transcript is logged as an activity");
    let log = Activity {
        kind: ActivityKind::ConversationLog,
        subject: Some(Personal::new("Chat with the support bot".to_owned())),
        body: Some(Personal::new(
            "Router reboots hourly (ticket opened); interested in premium plan for 20 seats (lead opened)."
                .to_owned(),
        )),
        timestamp: Some(Utc::now()),
        who: Some(me.clone()),
        what: Some(RecordRef::new(ObjectKind::Ticket, ticket.clone())),
        ..Activity::default()
    };
    let created = crm
        .activities()
        .create(&log, &key(script, "transcript"))
        .await?;
    wrote(out, "conversation log", &log, &created);
    let log = created;

    Ok(Outcome {
        contact,
        lead,
        task,
        ticket,
        log: log.id,
    })
}

/// The CRM's side of the demo: what agents do in the CRM's own interface, and the change
/// notifications the CRM sends. A bot cannot do either through the SDK, so each embedded fake
/// provides them (the sandbox's is [`SandboxDesk`]).
#[async_trait]
pub trait CrmDesk: Send + Sync {
    /// An agent picks the ticket up: it moves to an open, in-progress status. `false` when the
    /// CRM refused the change.
    fn agent_picks_up(&self, ticket: &RecordId) -> bool;
    /// An agent solves the ticket: it moves to a closed status. `false` when refused.
    fn agent_solves(&self, ticket: &RecordId) -> bool;
    /// Drops the change notifications recorded so far (changes made before the bot listened).
    fn discard_notifications(&self);
    /// Verifies this CRM's notifications, as the bot's receiver does.
    fn webhook_source(&self) -> Result<Arc<dyn WebhookSource>>;
    /// Delivers, signed, the notifications recorded since the last call to the receiver at
    /// `hook`, the way the CRM does: at least once, so twice here. The receiver's answers.
    async fn deliver_notifications(&self, hook: &str) -> Vec<u16>;
    /// API requests the CRM has served so far.
    fn requests(&self) -> usize;
}

/// The sandbox's [`CrmDesk`]: agents edit its store directly and its signed webhooks carry the
/// changes.
pub struct SandboxDesk<'a> {
    sandbox: &'a Sandbox,
    secret: String,
    connection: String,
}

impl<'a> SandboxDesk<'a> {
    /// The desk of `sandbox`; `connection` names the connection in the events received.
    pub fn new(sandbox: &'a Sandbox, connection: impl Into<String>) -> Self {
        Self {
            sandbox,
            secret: "whsec-demo".into(),
            connection: connection.into(),
        }
    }

    fn set_status(&self, ticket: &RecordId, status: &str) -> bool {
        let mut fields = serde_json::Map::new();
        fields.insert("status".into(), status.into());
        self.sandbox
            .update_record("tickets", ticket.as_str(), fields)
    }
}

#[async_trait]
impl CrmDesk for SandboxDesk<'_> {
    fn agent_picks_up(&self, ticket: &RecordId) -> bool {
        self.set_status(ticket, "open")
    }

    fn agent_solves(&self, ticket: &RecordId) -> bool {
        self.set_status(ticket, "solved")
    }

    fn discard_notifications(&self) {
        self.sandbox.take_events();
    }

    fn webhook_source(&self) -> Result<Arc<dyn WebhookSource>> {
        let source = GenericWebhook::new(
            &Spec::default_spec()?,
            self.secret.clone().into(),
            self.connection.clone(),
        )?;
        Ok(Arc::new(source))
    }

    async fn deliver_notifications(&self, hook: &str) -> Vec<u16> {
        WebhookEmitter::new(hook, &self.secret)
            .deliver(
                self.sandbox.take_events(),
                Delivery {
                    duplicate: true,
                    ..Delivery::default()
                },
            )
            .await
    }

    fn requests(&self) -> usize {
        self.sandbox.requests().total
    }
}

/// Plays the whole conversation: steps 1–7 with an agent picking the ticket up between the two
/// status reads, then step 8, where the CRM's signed notification that the ticket was solved
/// reaches the bot's webhook receiver and the bot schedules a follow-up. The example
/// `support_conversation` and `crm-connect demo` both play this.
pub async fn play_demo(
    crm: &dyn Crm,
    desk: &dyn CrmDesk,
    script: &Script,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let before = desk.requests();
    let opened = open_ticket(crm, script, out).await?;
    // An agent picks the ticket up in the CRM while the customer is still chatting.
    if desk.agent_picks_up(&opened.ticket) {
        say!(
            out,
            "(an agent picks ticket {} up in the CRM)",
            opened.ticket
        );
    } else {
        say!(
            out,
            "(the CRM refused the agent's change to ticket {})",
            opened.ticket
        );
    }
    let outcome = finish(crm, script, out, opened).await?;
    let requests = desk.requests().saturating_sub(before);

    say!(
        out,
        "\n== 8. The CRM tells the bot when the ticket is solved"
    );
    let cache = Arc::new(ViewCache::new(std::time::Duration::from_secs(300), 1000));
    let (hook, mut events) = serve_local(desk.webhook_source()?, cache).await?;
    // The receiver subscribes from now on: the pick-up above was read directly.
    desk.discard_notifications();
    if !desk.agent_solves(&outcome.ticket) {
        return Err(crm_core::Error::invalid_input(
            "the CRM refused the agent's change to the ticket",
        ));
    }
    say!(
        out,
        "(an agent solves ticket {} in the CRM)",
        outcome.ticket
    );
    let answers = desk.deliver_notifications(&hook).await;
    let answers: Vec<String> = answers.iter().map(u16::to_string).collect();
    say!(
        out,
        "crm> signed notification delivered twice (at least once), receiver answered {}",
        answers.join(", ")
    );
    while let Ok(event) = events.try_recv() {
        if event.record_id != outcome.ticket {
            continue;
        }
        let status = crm.tickets().status(&event.record_id).await?;
        say!(
            out,
            "event> {} {} {}, verified and deduplicated",
            event.object,
            event.record_id,
            event.change
        );
        say!(
            out,
            "bot> Good news: your ticket {} is now \"{}\" ({}).",
            event.record_id,
            status.display(),
            open_word(status.state)
        );
        if !status.state.is_open() {
            let follow_up = Activity {
                kind: ActivityKind::Task,
                subject: Some(Personal::new(
                    "Follow-up call after the ticket closed".to_owned(),
                )),
                due_at: Some(Utc::now() + Duration::days(3)),
                task_status: Some(Status::new(TaskState::NotStarted)),
                who: Some(RecordRef::new(ObjectKind::Contact, outcome.contact.clone())),
                what: Some(RecordRef::new(ObjectKind::Ticket, outcome.ticket.clone())),
                ..Activity::default()
            };
            let task = crm
                .activities()
                .create(&follow_up, &key(script, "follow-up-after-close"))
                .await?;
            say!(
                out,
                "crm> scheduled follow-up task {} for the customer (回访)",
                task.id
            );
        }
    }

    say!(out, "\n== Done");
    say!(
        out,
        "contact {}: wrote {} {}, task {}, ticket {}, log {}; steps 1-7 took {requests} requests to the CRM",
        outcome.contact,
        outcome.lead.kind,
        outcome.lead.id,
        outcome.task,
        outcome.ticket,
        outcome.log
    );
    Ok(outcome)
}

fn open_word(state: TicketState) -> &'static str {
    if state.is_open() { "open" } else { "closed" }
}

fn name_of(contact: &Record<crm_core::Contact>) -> String {
    masked(contact.full_name().as_ref())
}

/// Prints what was written: the id and the names of the fields sent, never their values.
fn wrote<T: Entity>(out: &mut dyn Write, what: &str, input: &T, record: &Record<T>) {
    // A status given by state alone is sent as the vendor's value for that state.
    let fields = crm_core::audit::field_names(&input.to_fields());
    say!(
        out,
        "crm> wrote {what} {} (fields: {})",
        record.id,
        fields.join(", ")
    );
}

fn masked(p: Option<&Personal<String>>) -> String {
    p.map(Personal::masked).unwrap_or_else(|| "-".into())
}

/// Prints the 360° view readably, personal values masked ([`CustomerView::masked`]).
fn print_view(out: &mut dyn Write, view: &CustomerView) {
    say!(out, "{}", view.masked().to_string().trim_end());
}
