//! A bot backend's outbox worker, as a process of its own: the crash-recovery tests kill it in
//! the middle of delivery and start it again.
//!
//! ```text
//! outbox_worker <base_url> <token> <outbox.sqlite> <tickets> [--no-idempotency]
//! ```
//! Enqueues `<tickets>` ticket creates with subjects `crash test ticket <i>` (idempotency keys
//! derived from the conversation, so a restarted worker enqueues nothing twice), then delivers
//! until nothing is pending, and exits 0.
//!
//! With `--no-idempotency` the connection describes a CRM that cannot make creates idempotent:
//! the sandbox spec without its `Idempotency-Key` header and without its upserts on the
//! idempotency key. A create that may have reached the CRM before a crash is then parked for an
//! operator instead of being sent again; the worker exits when only parked (or failed) writes
//! are left.

use std::process::ExitCode;
use std::time::Duration;

use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite};
use crm_core::{Actor, IdempotencyKey, Personal, Ticket};
use crm_generic_rest::{GenericRestBuilder, Spec};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (args, idempotent) = match args.as_slice() {
        [rest @ .., flag] if flag == "--no-idempotency" => (rest, false),
        rest => (rest, true),
    };
    let [base_url, token, path, count] = args else {
        eprintln!(
            "usage: outbox_worker <base_url> <token> <outbox.sqlite> <tickets> [--no-idempotency]"
        );
        return ExitCode::from(2);
    };
    match run(base_url, token, path, count, idempotent).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outbox worker: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The idempotency key of ticket `i`: the crash tests derive it the same way to find a parked
/// write's ticket.
fn ticket_key(i: usize) -> IdempotencyKey {
    IdempotencyKey::derive("crash", &format!("conversation-{i}"), "ticket")
}

async fn run(
    base_url: &str,
    token: &str,
    path: &str,
    count: &str,
    idempotent: bool,
) -> crm_core::Result<()> {
    let count: usize = count
        .parse()
        .map_err(|_| crm_core::Error::invalid_input("<tickets> is not a number"))?;
    let mut builder = GenericRestBuilder::new()
        .with_base_url(base_url)
        .with_token(token.to_owned().into());
    if !idempotent {
        let mut spec = Spec::default_spec()?;
        spec.idempotency.header = None;
        for object in spec.objects.values_mut() {
            object.upsert.remove("idempotency_key");
        }
        builder = builder.with_spec(spec);
    }
    let crm = builder.build()?;
    let outbox = Outbox::open(
        path,
        OutboxConfig {
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            lease: Duration::from_millis(500),
            ..OutboxConfig::default()
        },
    )?;
    for i in 0..count {
        let ticket = Ticket {
            subject: Some(Personal::new(format!("crash test ticket {i}"))),
            ..Ticket::default()
        };
        outbox.enqueue(
            "crash",
            &PendingWrite::create(&ticket, ticket_key(i), Actor::Bot)?,
        )?;
    }
    loop {
        outbox.deliver("crash", &crm, 8).await?;
        let depth = outbox.depth("crash")?;
        if depth.pending == 0 {
            println!(
                "delivered; {} failed, {} parked",
                depth.failed, depth.parked
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
