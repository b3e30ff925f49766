//! A bot backend's outbox worker, as a process of its own: the crash-recovery tests kill it in
//! the middle of delivery and start it again.
//!
//! ```text
//! outbox_worker [--crm generic-rest|hubspot|salesforce] <base_url> <token> <outbox.sqlite> <tickets> [--no-idempotency]
//! ```
//! Enqueues `<tickets>` ticket creates with subjects `crash test ticket <i>` (idempotency keys
//! derived from the conversation, so a restarted worker enqueues nothing twice), then delivers
//! until nothing is pending, and exits 0. Each subject carries the marker `<i>` once, so a test
//! counts ticket `i`'s copies in the CRM by it.
//!
//! Which CRM (`--crm`, default `generic-rest`):
//! - `generic-rest`: the sandbox's default spec at `<base_url>`, bearer `<token>`;
//! - `hubspot`: HubSpot's API at `<base_url>` with the private-app `<token>`; keyed creates go
//!   to the unique property named by `OUTBOX_HUBSPOT_IDEMPOTENCY_PROPERTY` (default
//!   `crm_idempotency_key`);
//! - `salesforce`: `<base_url>` is the login URL and `<token>` a refresh token of the connected
//!   app whose consumer key and secret are in `OUTBOX_SALESFORCE_CLIENT_ID` and
//!   `OUTBOX_SALESFORCE_CLIENT_SECRET`; keyed creates go to the unique External ID field named by
//!   `OUTBOX_SALESFORCE_IDEMPOTENCY_FIELD` (default `Idempotency_Key__c`).
//!
//! With `--no-idempotency` the connection describes a CRM that cannot make creates idempotent
//! (the sandbox spec without its `Idempotency-Key` header and its upserts on the idempotency
//! key; HubSpot or Salesforce without an idempotency property or field). A create that may have
//! reached the CRM before a crash is then parked for an operator instead of being sent again;
//! the worker exits when only parked (or failed) writes are left.

use std::process::ExitCode;
use std::time::Duration;

use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite};
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Actor, Crm, Error, IdempotencyKey, Personal, Ticket};
use crm_generic_rest::{GenericRestBuilder, Spec};
use crm_hubspot::HubSpotBuilder;
use crm_salesforce::SalesforceBuilder;

const USAGE: &str = "usage: outbox_worker [--crm generic-rest|hubspot|salesforce] <base_url> <token> <outbox.sqlite> <tickets> [--no-idempotency]";

/// The CRM the worker delivers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    GenericRest,
    HubSpot,
    Salesforce,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (args, kind) = match args.as_slice() {
        [flag, kind, rest @ ..] if flag == "--crm" => match kind.as_str() {
            "generic-rest" => (rest, Kind::GenericRest),
            "hubspot" => (rest, Kind::HubSpot),
            "salesforce" => (rest, Kind::Salesforce),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        rest => (rest, Kind::GenericRest),
    };
    let (args, idempotent) = match args {
        [rest @ .., flag] if flag == "--no-idempotency" => (rest, false),
        rest => (rest, true),
    };
    let [base_url, token, path, count] = args else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(kind, base_url, token, path, count, idempotent).await {
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

/// An environment variable, or `default` when it is unset.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// An environment variable the chosen CRM needs.
fn required_env(name: &str) -> crm_core::Result<String> {
    std::env::var(name).map_err(|_| Error::config(format!("{name} is not set")))
}

fn connect(
    kind: Kind,
    base_url: &str,
    token: &str,
    idempotent: bool,
) -> crm_core::Result<Box<dyn Crm>> {
    Ok(match kind {
        Kind::GenericRest => {
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
            Box::new(builder.build()?)
        }
        Kind::HubSpot => {
            let property = env_or("OUTBOX_HUBSPOT_IDEMPOTENCY_PROPERTY", "crm_idempotency_key");
            Box::new(
                HubSpotBuilder::new()
                    .with_base_url(base_url)
                    .with_token(SecretString::from(token.to_owned()))
                    .with_idempotency_field(idempotent.then_some(property.as_str()))
                    .build()?,
            )
        }
        Kind::Salesforce => {
            let field = env_or("OUTBOX_SALESFORCE_IDEMPOTENCY_FIELD", "Idempotency_Key__c");
            let secret = required_env("OUTBOX_SALESFORCE_CLIENT_SECRET")?;
            Box::new(
                SalesforceBuilder::new()
                    .with_login_url(base_url)
                    .with_refresh_token(
                        required_env("OUTBOX_SALESFORCE_CLIENT_ID")?,
                        Some(SecretString::from(secret)),
                        SecretString::from(token.to_owned()),
                    )
                    .with_idempotency_field(idempotent.then_some(field.as_str()))
                    .build()?,
            )
        }
    })
}

async fn run(
    kind: Kind,
    base_url: &str,
    token: &str,
    path: &str,
    count: &str,
    idempotent: bool,
) -> crm_core::Result<()> {
    let count: usize = count
        .parse()
        .map_err(|_| Error::invalid_input("<tickets> is not a number"))?;
    let crm = connect(kind, base_url, token, idempotent)?;
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
            subject: Some(Personal::new(format!("crash test ticket <{i}>"))),
            ..Ticket::default()
        };
        outbox.enqueue(
            "crash",
            &PendingWrite::create(&ticket, ticket_key(i), Actor::Bot)?,
        )?;
    }
    loop {
        outbox.deliver("crash", crm.as_ref(), 8).await?;
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
