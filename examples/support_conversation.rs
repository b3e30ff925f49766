//! The main job: a support conversation against the embedded sandbox CRM.
//!
//! ```text
//! cargo run --example support_conversation
//! ```
//!
//! Starts the sandbox CRM on 127.0.0.1 (nothing to install, nothing leaves the machine), connects
//! to it through the generic-REST adapter with its default spec, and plays a scripted
//! conversation: recognise a returning customer by email and by phone, print the 360° view, write
//! a lead with a follow-up task, open a ticket, read its status back, log the transcript, and
//! hear from the CRM (a signed webhook) when an agent solves the ticket.
//! Personal values are masked in everything printed. `CRM_AUDIT_FILE=audit.jsonl` writes the
//! audit trail of every write to a JSON-lines file.

use std::io::Write;
use std::process::ExitCode;

use std::sync::Arc;
use std::time::Duration;

use crm_core::events::ViewCache;
use crm_core::{
    Activity, ActivityKind, Actor, Crm, IdempotencyKey, ObjectKind, Personal, RecordRef,
    WriteContext,
};
use crm_examples::conversation::{Script, play};
use crm_examples::receiver::serve_local;
use crm_generic_rest::GenericRestBuilder;
use crm_generic_rest::{GenericWebhook, Spec};
use crm_testkit::sandbox::webhooks::{Delivery, WebhookEmitter};
use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("the conversation failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> crm_core::Result<()> {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "sandbox CRM listening at {}", sandbox.base_url());

    let mut builder = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .with_connection_name("sandbox");
    // CRM_AUDIT_FILE=audit.jsonl keeps the audit trail of every write in a JSON-lines file.
    if let Ok(path) = std::env::var("CRM_AUDIT_FILE") {
        let sink =
            crm_core::audit::JsonLinesAudit::open(path, crm_core::audit::FsyncPolicy::EveryRecord)?;
        builder = builder.with_audit_sink(Arc::new(sink));
    }
    let crm = builder.build()?;
    let _ = writeln!(out, "connected: vendor {}", crm.vendor());

    let script = Script {
        connection: "sandbox".into(),
        conversation_id: "demo-conversation-1".into(),
        email: demo::CUSTOMER_EMAIL.to_uppercase(),
        phone: "+1 415 555 0100".into(),
    };
    let before = sandbox.requests().total;
    let outcome = play(&crm, &script, &mut out, |ticket| {
        // An agent picks the ticket up in the CRM while the customer is still chatting.
        let mut fields = serde_json::Map::new();
        fields.insert("status".into(), "open".into());
        let changed = sandbox.update_record("tickets", ticket.as_str(), fields);
        async move {
            if changed {
                println!("(an agent picks ticket {ticket} up in the CRM)");
            }
        }
    })
    .await?;
    let requests = sandbox.requests().total - before;

    let _ = writeln!(
        out,
        "\n== 8. The CRM tells the bot when the ticket is solved"
    );
    let secret = "whsec-demo";
    let source = GenericWebhook::new(&Spec::default_spec()?, secret.to_owned().into(), "sandbox")?;
    let cache = Arc::new(ViewCache::new(Duration::from_secs(300), 1000));
    let (hook, mut events) = serve_local(Arc::new(source), cache).await?;
    sandbox.take_events();
    let mut fields = serde_json::Map::new();
    fields.insert("status".into(), "solved".into());
    sandbox.update_record("tickets", outcome.ticket.as_str(), fields);
    let _ = writeln!(
        out,
        "(an agent solves ticket {} in the CRM)",
        outcome.ticket
    );
    let answers = WebhookEmitter::new(hook, secret)
        .deliver(
            sandbox.take_events(),
            Delivery {
                duplicate: true,
                ..Delivery::default()
            },
        )
        .await;
    let _ = writeln!(
        out,
        "crm> signed webhook delivered twice (at-least-once), receiver answered {answers:?}"
    );
    while let Ok(event) = events.try_recv() {
        if event.record_id != outcome.ticket {
            continue;
        }
        let status = crm.tickets().status(&event.record_id).await?;
        let _ = writeln!(
            out,
            "event> {} {} changed ({:?}), verified and deduplicated",
            event.object, event.record_id, event.change
        );
        let _ = writeln!(
            out,
            "bot> Good news: your ticket {} is now \"{}\".",
            event.record_id,
            status.display()
        );
        if !status.state.is_open() {
            let follow_up = Activity {
                kind: ActivityKind::Task,
                subject: Some(Personal::new(
                    "Follow-up call after the ticket closed".to_owned(),
                )),
                due_at: Some(chrono::Utc::now() + chrono::Duration::days(3)),
                who: Some(RecordRef::new(ObjectKind::Contact, outcome.contact.clone())),
                what: Some(RecordRef::new(ObjectKind::Ticket, outcome.ticket.clone())),
                ..Activity::default()
            };
            let ctx = WriteContext::new(Actor::Bot).with_idempotency_key(IdempotencyKey::derive(
                "sandbox",
                "demo-conversation-1",
                "follow-up-after-close",
            ));
            let task = crm.activities().create(&follow_up, &ctx).await?;
            let _ = writeln!(
                out,
                "crm> scheduled follow-up task {} for the customer (回访)",
                task.id
            );
        }
    }

    let _ = writeln!(out, "\n== Done");
    let _ = writeln!(
        out,
        "contact {}: wrote lead {}, task {}, ticket {}, log {}; steps 1-7 took {requests} requests to the CRM",
        outcome.contact, outcome.lead.id, outcome.task, outcome.ticket, outcome.log
    );
    Ok(())
}
