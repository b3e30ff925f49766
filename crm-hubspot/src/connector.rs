//! The registry's entry for this adapter ([`connector`]): a connection built from config pairs
//! (every [`HubSpotConfigKey`] and its aliases, `idempotency_field` as the one name across
//! adapters for `idempotency_property`, `ca_file`, `timeout_secs`, and the credential as
//! `auth.kind` = `bearer` (a private-app token, the secret `auth.token`) or `oauth_refresh`
//! (`auth.client_id` and the secrets `auth.client_secret`, `auth.refresh_token`)), the shipped
//! default mapping, and the setup and mapping checks through HubSpot's properties API.

use std::sync::Arc;

use crm_core::raw::{AdapterFacts, Advice, Connector, ConnectorConfig, LiveConnection};
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Capabilities, Error, Result};

use crate::{HubSpot, HubSpotBuilder, HubSpotConfig, HubSpotConfigKey, HubSpotWebhook, VENDOR};

/// The credential's connection-file keys, which a HubSpot connection takes besides the
/// [`HubSpotConfigKey`]s, their aliases (`idempotency_field`, the name every adapter shares,
/// among them) and the keys every adapter takes.
const AUTH_KEYS: &[&str] = &[
    "auth.kind",
    "auth.client_id",
    "auth.token",
    "auth.client_secret",
    "auth.refresh_token",
];

/// The HubSpot adapter as a registry sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct HubSpotConnector;

/// This adapter's entry in a connector registry.
pub fn connector() -> &'static dyn Connector {
    &HubSpotConnector
}

impl HubSpotConnector {
    /// The connection itself, as its concrete type.
    pub fn connection(config: &ConnectorConfig) -> Result<HubSpot> {
        let keys = HubSpotConfigKey::ALL.iter().map(|k| k.as_str());
        let aliases = HubSpotConfigKey::ALIASES.iter().map(|(alias, _)| *alias);
        let keys: Vec<&str> = keys
            .chain(aliases)
            .chain(AUTH_KEYS.iter().copied())
            .collect();
        config.check_keys(VENDOR, &keys)?;
        let mut b = HubSpotBuilder::new();
        b.options.read_connector_config(config)?;
        let mut c = HubSpotConfig::default();
        for (key, value) in config.vendor_settings() {
            c.set(key.parse()?, value)?;
        }
        match config.setting("auth.kind") {
            Some("bearer") => c.token = Some(config.require_secret("auth.token")?),
            Some("oauth_refresh") => {
                c.client_id = Some(config.require("auth.client_id")?.to_owned());
                c.client_secret = Some(config.require_secret("auth.client_secret")?);
                c.refresh_token = Some(config.require_secret("auth.refresh_token")?);
            }
            None => {
                return Err(Error::config(
                    "auth: a hubspot connection needs an [auth] table",
                ));
            }
            Some(other) => {
                return Err(Error::config(format!(
                    "auth.kind: `{other}` is not one of bearer (private app), oauth_refresh"
                )));
            }
        }
        b.with_hubspot_config(c).build()
    }
}

impl Connector for HubSpotConnector {
    fn facts(&self) -> &'static AdapterFacts {
        &crate::FACTS
    }

    fn connect(&self, config: &ConnectorConfig) -> Result<Arc<dyn LiveConnection>> {
        Ok(Arc::new(Self::connection(config)?))
    }

    fn idempotency_advice(&self) -> &'static str {
        "off: a create carrying an idempotency key fails until `idempotency_field` (alias `idempotency_property`) names a property with unique values on every object the bot creates (see the adapter docs)"
    }

    fn advice(&self, capabilities: &Capabilities) -> Vec<Advice> {
        if capabilities.lookup_by_external_id {
            return Vec::new();
        }
        // Off by default (a stock portal has no property for it): say so, and how to turn it
        // on, without failing the check.
        vec![Advice::new(
            "external id look-up",
            "off: look-ups and upserts by external id fail until `external_id_property` \
             names a property with unique values on contacts, companies, deals and \
             tickets (see the adapter docs)",
        )]
    }

    fn webhook_source(
        &self,
        config: &ConnectorConfig,
        secret: SecretString,
    ) -> Result<Box<dyn crm_core::events::WebhookSource>> {
        let name = config.connection_name.as_deref().unwrap_or(VENDOR);
        Ok(Box::new(HubSpotWebhook::new(secret, name)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::Crm;

    fn pairs() -> ConnectorConfig {
        ConnectorConfig::new(".")
            .with_setting("base_url", "http://127.0.0.1:9")
            .with_setting("auth.kind", "bearer")
            .with_secret("auth.token", SecretString::from("pat-na1-x".to_owned()))
    }

    #[test]
    fn connector_idempotency_field_is_the_one_name_and_idempotency_property_an_alias() {
        for key in ["idempotency_field", "idempotency_property"] {
            let hub =
                HubSpotConnector::connection(&pairs().with_setting(key, "crm_idempotency_key"))
                    .unwrap();
            let caps = hub.capabilities();
            assert!(caps.objects.values().all(|o| o.idempotent_create), "{key}");
        }
        let hub = HubSpotConnector::connection(&pairs()).unwrap();
        assert!(
            !hub.capabilities()
                .objects
                .values()
                .any(|o| o.idempotent_create)
        );
    }

    #[test]
    fn connector_an_unknown_key_names_it_and_the_accepted_keys() {
        let err = connector()
            .build(&pairs().with_setting("login_url", "https://login.salesforce.com"))
            .unwrap_err();
        assert!(err.message().starts_with("login_url:"), "{err}");
        assert!(err.message().contains("idempotency_field"), "{err}");
    }
}
