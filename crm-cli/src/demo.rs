//! `crm-connect demo`: the example's support conversation (`examples/support_conversation.rs`)
//! against an embedded fake, agent steps and the CRM's signed change notification included.

use std::process::ExitCode;
use std::sync::Arc;

use crm_core::events::WebhookSource;
use crm_core::reexports::async_trait;
use crm_core::reexports::futures::future::LocalBoxFuture;
use crm_core::{RecordId, Result};
use crm_examples::conversation::{CrmDesk, SandboxDesk, Script, play_demo};
use crm_testkit::hubspot::HubSpotFake;
use crm_testkit::salesforce::SalesforceFake;
use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};

use crate::output::Stdout;

/// Plays one demo: starts its fake and plays `script` against it.
type Play = for<'a> fn(&'a Script, &'a mut Stdout) -> LocalBoxFuture<'a, Result<()>>;

/// The demos `--vendor` chooses from, by their adapter's name.
fn demos() -> [(&'static str, Play); 3] {
    [
        (crm_generic_rest::VENDOR, |s, o| {
            Box::pin(play_sandbox(s, o))
        }),
        (crm_hubspot::VENDOR, |s, o| Box::pin(play_hubspot(s, o))),
        (crm_salesforce::VENDOR, |s, o| {
            Box::pin(play_salesforce(s, o))
        }),
    ]
}

/// Plays the conversation against the fake of `vendor`.
pub(crate) async fn run(vendor: &str) -> Result<ExitCode> {
    let demos = demos();
    let Some((name, play)) = demos.iter().find(|(name, _)| *name == vendor) else {
        let names: Vec<&str> = demos.iter().map(|(n, _)| *n).collect();
        return Err(crm_core::Error::invalid_input(format!(
            "--vendor: `{vendor}` is not one of {}",
            names.join(", ")
        )));
    };
    let script = Script::demo(name, demo::CUSTOMER_EMAIL);
    play(&script, &mut Stdout).await?;
    Ok(ExitCode::SUCCESS)
}

async fn play_sandbox(script: &Script, out: &mut Stdout) -> Result<()> {
    let vendor = crm_generic_rest::VENDOR;
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = crm_generic_rest::GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .with_connection_name(vendor)
        .build()?;
    let desk = SandboxDesk::new(&sandbox, vendor);
    play_demo(&crm, &desk, script, out).await.map(drop)
}

async fn play_hubspot(script: &Script, out: &mut Stdout) -> Result<()> {
    use crm_testkit::hubspot::{HubSpotFakeConfig, demo as hs};
    // The demo portal as an admin set it up for the bot: its custom properties declared.
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let crm = crm_hubspot::HubSpotBuilder::new()
        .with_base_url(fake.base_url())
        .with_token(fake.token().to_owned().into())
        .with_idempotency_field(Some(hs::IDEMPOTENCY_PROPERTY))
        .with_external_id_property(Some(hs::EXTERNAL_ID_PROPERTY))
        .with_lead_source_property(Some(hs::LEAD_SOURCE_PROPERTY))
        .build()?;
    play_demo(&crm, &HubSpotDesk::new(&fake), script, out)
        .await
        .map(drop)
}

async fn play_salesforce(script: &Script, out: &mut Stdout) -> Result<()> {
    use crm_testkit::salesforce::SalesforceFakeConfig;
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let c = org.config();
    let crm = crm_salesforce::SalesforceBuilder::new()
        .with_login_url(org.login_url())
        // The demo org has the external-id field the bot's idempotency keys go to.
        .with_idempotency_field(Some("Idempotency_Key__c"))
        .with_refresh_token(
            c.client_id.clone(),
            Some(c.client_secret.clone().into()),
            c.refresh_token.clone().into(),
        )
        .build()?;
    play_demo(&crm, &SalesforceDesk(&org), script, out)
        .await
        .map(drop)
}

/// The HubSpot fake's side: agents move tickets between the default pipeline's stages, and the
/// app's webhook subscription sends v3-signed `propertyChange` events.
struct HubSpotDesk<'a> {
    fake: &'a HubSpotFake,
    secret: String,
}

impl<'a> HubSpotDesk<'a> {
    fn new(fake: &'a HubSpotFake) -> Self {
        Self {
            fake,
            secret: "hubspot-app-secret".into(),
        }
    }

    /// Moves the ticket to a stage of HubSpot's default ticket pipeline.
    fn set_stage(&self, ticket: &RecordId, stage: &str) -> bool {
        let mut props = serde_json::Map::new();
        props.insert("hs_pipeline_stage".into(), stage.into());
        self.fake.update_record("tickets", ticket.as_str(), props)
    }
}

#[async_trait]
impl CrmDesk for HubSpotDesk<'_> {
    fn agent_picks_up(&self, ticket: &RecordId) -> bool {
        // Stage 3, "Waiting on us".
        self.set_stage(ticket, "3")
    }

    fn agent_solves(&self, ticket: &RecordId) -> bool {
        // Stage 4, "Closed".
        self.set_stage(ticket, "4")
    }

    fn discard_notifications(&self) {
        self.fake.take_webhook_events();
    }

    fn webhook_source(&self) -> Result<Arc<dyn WebhookSource>> {
        let source =
            crm_hubspot::HubSpotWebhook::new(self.secret.clone().into(), crm_hubspot::VENDOR)?
                .v3_only();
        Ok(Arc::new(source))
    }

    async fn deliver_notifications(&self, hook: &str) -> Vec<u16> {
        use crm_testkit::hubspot::webhooks::{Delivery, HubSpotEmitter};
        HubSpotEmitter::new(hook, &self.secret)
            .deliver(
                self.fake.take_webhook_events(),
                Delivery {
                    duplicate: true,
                    reverse: false,
                },
            )
            .await
    }

    fn requests(&self) -> usize {
        self.fake.requests().total
    }
}

/// The Salesforce fake's side: agents set a case's `Status`, and an Outbound Message carries
/// the change.
struct SalesforceDesk<'a>(&'a SalesforceFake);

impl SalesforceDesk<'_> {
    fn set_status(&self, case: &RecordId, status: &str) -> bool {
        let mut fields = serde_json::Map::new();
        fields.insert("Status".into(), status.into());
        self.0.update_record("Case", case.as_str(), fields)
    }
}

#[async_trait]
impl CrmDesk for SalesforceDesk<'_> {
    fn agent_picks_up(&self, ticket: &RecordId) -> bool {
        self.set_status(ticket, "Working")
    }

    fn agent_solves(&self, ticket: &RecordId) -> bool {
        self.set_status(ticket, "Closed")
    }

    fn discard_notifications(&self) {
        self.0.take_outbound_messages();
    }

    fn webhook_source(&self) -> Result<Arc<dyn WebhookSource>> {
        let source =
            crm_salesforce::OutboundMessages::new(&self.0.org_id(), crm_salesforce::VENDOR)?;
        Ok(Arc::new(source))
    }

    async fn deliver_notifications(&self, hook: &str) -> Vec<u16> {
        crm_testkit::salesforce::outbound::OutboundEmitter::new(hook, self.0.org_id())
            .deliver(self.0.take_outbound_messages(), true)
            .await
    }

    fn requests(&self) -> usize {
        self.0.requests().total
    }
}
