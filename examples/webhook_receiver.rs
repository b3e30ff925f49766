//! Hear the CRM: the sandbox posts signed change events to an `axum` receiver, which verifies
//! them, drops repeats and stale events, and keeps the 360° view cache fresh.
//!
//! ```text
//! cargo run --example webhook_receiver
//! ```

use std::sync::Arc;
use std::time::Duration;

use crm_core::events::ViewCache;
use crm_core::{Crm, Email, Lookup, RecordId, ViewOptions};
use crm_examples::receiver::serve_local;
use crm_generic_rest::{GenericRestBuilder, GenericWebhook, Spec};
use crm_testkit::sandbox::webhooks::{Delivery, WebhookEmitter};
use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};

#[tokio::main]
async fn main() -> crm_core::Result<()> {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    sandbox.take_events();
    let crm = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .build()?;
    let secret = "whsec-demo";
    let source = GenericWebhook::new(&Spec::default_spec()?, secret.to_owned().into(), "sandbox")?;
    let cache = Arc::new(ViewCache::new(Duration::from_secs(300), 1000));
    let (url, mut rx) = serve_local(Arc::new(source), cache.clone()).await?;
    println!("receiver listening at {url}");

    let lookup = Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL)?);
    let view = cache
        .get_or_load(&crm, &lookup, &ViewOptions::default())
        .await?;
    let open = view.map(|v| v.open_tickets.len()).unwrap_or(0);
    println!(
        "cached the 360° view: {open} open ticket(s); {} view(s) cached",
        cache.len()
    );

    println!("an agent solves ticket {} in the CRM", demo::OPEN_TICKET_ID);
    let mut fields = serde_json::Map::new();
    fields.insert("status".into(), "solved".into());
    sandbox.update_record("tickets", demo::OPEN_TICKET_ID, fields);
    let events = sandbox.take_events();
    let emitter = WebhookEmitter::new(url, secret);
    let statuses = emitter
        .deliver(
            events,
            Delivery {
                duplicate: true,
                ..Delivery::default()
            },
        )
        .await;
    println!("the CRM delivered the event twice (at-least-once): answers {statuses:?}");

    while let Ok(event) = rx.try_recv() {
        println!(
            "event: {} {} {:?} at {}",
            event.object, event.record_id, event.change, event.occurred_at
        );
        let id = RecordId::new(event.record_id.as_str())?;
        let status = crm.tickets().status(&id).await?;
        println!(
            "bot> Good news: your ticket {id} is now \"{}\".",
            status.display()
        );
    }
    println!("views cached after the event: {}", cache.len());
    Ok(())
}
