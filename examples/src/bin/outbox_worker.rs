//! A bot backend's outbox worker, as a process of its own: the crash-recovery test kills it in
//! the middle of delivery and starts it again.
//!
//! ```text
//! outbox_worker <base_url> <token> <outbox.sqlite> <tickets>
//! ```
//! Enqueues `<tickets>` ticket creates (idempotency keys derived from the conversation, so a
//! restarted worker enqueues nothing twice), then delivers until the queue is empty, and exits 0.

use std::process::ExitCode;
use std::time::Duration;

use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite};
use crm_core::{Actor, IdempotencyKey, Personal, Ticket};
use crm_generic_rest::GenericRestBuilder;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base_url, token, path, count] = args.as_slice() else {
        eprintln!("usage: outbox_worker <base_url> <token> <outbox.sqlite> <tickets>");
        return ExitCode::from(2);
    };
    match run(base_url, token, path, count).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("outbox worker: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(base_url: &str, token: &str, path: &str, count: &str) -> crm_core::Result<()> {
    let count: usize = count
        .parse()
        .map_err(|_| crm_core::Error::invalid_input("<tickets> is not a number"))?;
    let crm = GenericRestBuilder::new()
        .with_base_url(base_url)
        .with_token(token.to_owned().into())
        .build()?;
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
        let key = IdempotencyKey::derive("crash", &format!("conversation-{i}"), "ticket");
        outbox.enqueue("crash", &PendingWrite::create(&ticket, key, Actor::Bot)?)?;
    }
    loop {
        outbox.deliver("crash", &crm, 8).await?;
        let depth = outbox.depth("crash")?;
        if depth.pending == 0 {
            println!("delivered; {} failed", depth.failed);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
