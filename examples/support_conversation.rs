//! The main job: a support conversation against the embedded sandbox CRM.
//!
//! ```text
//! cargo run --example support_conversation
//! ```
//!
//! Starts the sandbox CRM on 127.0.0.1 (nothing to install, nothing leaves the machine), connects
//! to it through the generic-REST adapter with its default spec, and plays a scripted
//! conversation: recognise a returning customer by email and by phone, print the 360° view, write
//! a lead with a follow-up task, open a ticket, read its status back after an agent picked it up,
//! log the transcript, and hear from the CRM (a signed webhook) when an agent solves the ticket.
//! `crm-connect demo` plays the same conversation.
//! Personal values are masked in everything printed. `CRM_AUDIT_FILE=audit.jsonl` writes the
//! audit trail of every write to a JSON-lines file.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use crm_core::Crm;
use crm_examples::conversation::{SandboxDesk, Script, play_demo};
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

    let script = Script::demo("sandbox", demo::CUSTOMER_EMAIL);
    play_demo(
        &crm,
        &SandboxDesk::new(&sandbox, "sandbox"),
        &script,
        &mut out,
    )
    .await?;
    Ok(())
}
