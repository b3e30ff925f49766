//! `crm-connect demo`: the example's support conversation (`examples/support_conversation.rs`)
//! against an embedded fake, agent steps and the CRM's signed change notification included.
//!
//! Any fake of [`crm_connect::fakes`] that keeps tickets plays it: the fake is started with
//! its demo records, the connection is built through its adapter's connector from the fake's
//! configuration (the path a connection file takes), and the desk's agent steps and
//! notifications are the fake's own. Nothing here names a vendor.

use std::process::ExitCode;
use std::sync::Arc;

use crm_connect::testkit::sandbox::demo::CUSTOMER_EMAIL;
use crm_connect::testkit::{FakeOptions, RunningFake, VendorFake};
use crm_core::events::WebhookSource;
use crm_core::reexports::async_trait;
use crm_core::{Error, ObjectKind, RecordId, Result};
use crm_examples::conversation::{CrmDesk, Script, play_demo};

use crate::output::Stdout;

/// Plays the conversation against the fake of `vendor`.
pub(crate) async fn run(vendor: &str) -> Result<ExitCode> {
    let fake = crm_connect::fake(vendor)?;
    let connector = crm_core::raw::find(&crm_connect::connectors(), vendor)?;
    let running = fake.start(&FakeOptions::demo()).await?;
    let crm = connector.build(running.config())?;
    // The conversation opens a ticket and reads its status back: refuse a vendor without
    // tickets before anything is written, naming the ones that play it.
    if !crm.capabilities().objects.contains_key(&ObjectKind::Ticket) {
        return Err(Error::invalid_input(format!(
            "demo --vendor {vendor}: the conversation opens a ticket, and {vendor} connections \
             declare no ticket records; the demo plays on generic-rest, hubspot or salesforce"
        )));
    }
    let desk = FakeDesk {
        fake,
        running: &running,
    };
    let script = Script::demo(vendor, CUSTOMER_EMAIL);
    play_demo(crm.as_ref(), &desk, &script, &mut Stdout).await?;
    Ok(ExitCode::SUCCESS)
}

/// A running fake's side of the conversation: agents change tickets in its store, and its
/// notifications are verified by its adapter's verifier.
struct FakeDesk<'a> {
    fake: &'static dyn VendorFake,
    running: &'a RunningFake,
}

#[async_trait]
impl CrmDesk for FakeDesk<'_> {
    fn agent_picks_up(&self, ticket: &RecordId) -> bool {
        self.running.agent_picks_up(ticket)
    }

    fn agent_solves(&self, ticket: &RecordId) -> bool {
        self.running.agent_solves(ticket)
    }

    fn discard_notifications(&self) {
        self.running.discard_notifications();
    }

    fn webhook_source(&self) -> Result<Arc<dyn WebhookSource>> {
        let vendor = self.fake.vendor();
        let source = self.fake.webhook_source(self.running)?.ok_or_else(|| {
            Error::invalid_input(format!(
                "demo --vendor {vendor}: the {vendor} fake sends no change notifications"
            ))
        })?;
        Ok(Arc::from(source))
    }

    async fn deliver_notifications(&self, hook: &str) -> Vec<u16> {
        self.running.deliver_notifications(hook).await
    }

    fn requests(&self) -> usize {
        self.running.served().requests
    }
}
