//! The main job: a support conversation against the embedded sandbox CRM.
//!
//! ```text
//! cargo run --example support_conversation
//! ```
//!
//! Starts the sandbox CRM on 127.0.0.1 (nothing to install, nothing leaves the machine), connects
//! to it through the generic-REST adapter with its default spec, and plays a scripted
//! conversation: recognise a returning customer by email and by phone, print the 360° view, write
//! a lead with a follow-up task, open a ticket, read its status back, and log the transcript.
//! Personal values are masked in everything printed.

use std::io::Write;
use std::process::ExitCode;

use crm_core::Crm;
use crm_examples::conversation::{Script, play};
use crm_generic_rest::GenericRestBuilder;
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

    let crm = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .build()?;
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

    let _ = writeln!(out, "\n== Done");
    let _ = writeln!(
        out,
        "contact {}: wrote lead {}, task {}, ticket {}, log {} in {requests} requests to the CRM",
        outcome.contact, outcome.lead, outcome.task, outcome.ticket, outcome.log
    );
    Ok(())
}
