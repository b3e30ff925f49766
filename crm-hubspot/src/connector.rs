//! The registry's entry for this adapter ([`connector`]): a connection built from config pairs
//! (every [`HubSpotConfigKey`] and its aliases, `idempotency_field` as the one name across
//! adapters for `idempotency_property`, `ca_file`, `timeout_secs`, and the credential as
//! `auth.kind` = `bearer` (a private-app token, the secret `auth.token`) or `oauth_refresh`
//! (`auth.client_id` and the secrets `auth.client_secret`, `auth.refresh_token`)), the shipped
//! default mapping, and the setup and mapping checks through HubSpot's properties API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crm_core::mapping::{KnownFields, ObjectMapping};
use crm_core::raw::{Advice, Connector, ConnectorConfig, SetupCheck, TableCheck, Target};
use crm_core::reexports::async_trait;
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Capabilities, Crm, Error, Result};

use crate::{HubSpot, HubSpotBuilder, HubSpotConfigKey, HubSpotWebhook, MAPPING_TARGETS, VENDOR};

/// The keys a HubSpot connection takes: the [`HubSpotConfigKey`]s, their aliases, and the
/// connection-file keys every adapter shares.
const KEYS: &[&str] = &[
    "base_url",
    "path_family",
    "app",
    "token",
    "client_id",
    "client_secret",
    "refresh_token",
    "phone_region",
    "external_id_property",
    "idempotency_field",
    "idempotency_property",
    "lead_source_property",
    "activity_kind_property",
    "conversation_log_as",
    "lead_lifecycle_stage",
    "phone_search_calculated",
    "pipelines_ttl_secs",
    "connection_name",
    "rate_limit",
    "requests_per_10s",
    "access_token",
    "private_app_token",
    "api_base_url",
    "url",
    "ca_file",
    "timeout_secs",
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
        config.check_keys(VENDOR, KEYS)?;
        let mut b = HubSpotBuilder::new();
        for (key, value) in &config.settings {
            if key.starts_with("auth.") || matches!(key.as_str(), "ca_file" | "timeout_secs") {
                continue;
            }
            // One name across adapters; HubSpot's own key stays an alias.
            let key = match key.as_str() {
                "idempotency_field" => HubSpotConfigKey::IdempotencyProperty.as_ref(),
                other => other,
            };
            b = b.with_config(key, value);
        }
        if let Some(file) = &config.mapping {
            b = b.with_mapping_file(file.clone());
        }
        if let Some(o) = &config.observer {
            b = b.with_request_observer(o.clone());
        }
        if let Some(a) = &config.audit {
            b = b.with_audit_sink(a.clone());
        }
        if let Some(name) = &config.connection_name {
            b = b.with_connection_name(name.clone());
        }
        if let Some(ca) = config.setting("ca_file") {
            b = b.with_ca_file(config.path(ca));
        }
        if let Some(secs) = config.setting("timeout_secs") {
            let secs: u64 = secs.trim().parse().map_err(|_| {
                Error::config(format!("timeout_secs: `{secs}` is not a whole number"))
            })?;
            b = b.with_timeout(Duration::from_secs(secs));
        }
        let kind = config
            .setting("auth.kind")
            .ok_or_else(|| Error::config("auth: a hubspot connection needs an [auth] table"))?;
        b = match kind {
            "bearer" => b.with_token(config.require_secret("auth.token")?),
            "oauth_refresh" => b.with_oauth(
                config.require("auth.client_id")?.to_owned(),
                config.require_secret("auth.client_secret")?,
                config.require_secret("auth.refresh_token")?,
            ),
            other => {
                return Err(Error::config(format!(
                    "auth.kind: `{other}` is not one of bearer (private app), oauth_refresh"
                )));
            }
        };
        b.build()
    }
}

#[async_trait]
impl Connector for HubSpotConnector {
    fn name(&self) -> &'static str {
        VENDOR
    }

    fn mapping_targets(&self) -> &'static [Target] {
        MAPPING_TARGETS
    }

    fn default_mapping_source(&self) -> &'static str {
        "crm-hubspot/mapping.toml"
    }

    fn default_mapping(&self, _: &ConnectorConfig) -> Result<BTreeMap<String, ObjectMapping>> {
        crate::default_mapping()
    }

    fn known_fields(&self) -> Result<Option<KnownFields>> {
        crate::known_fields().map(Some)
    }

    fn build(&self, config: &ConnectorConfig) -> Result<Arc<dyn Crm>> {
        Ok(Arc::new(Self::connection(config)?))
    }

    async fn check_setup(&self, config: &ConnectorConfig) -> Result<Vec<SetupCheck>> {
        let hub = Self::connection(config)?;
        let checks = hub.backend().check_setup().await?;
        Ok(checks
            .into_iter()
            .map(|c| SetupCheck::new(c.setting, c.property, c.object, c.kinds, c.problem))
            .collect())
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

    async fn check_mapping_live(
        &self,
        config: &ConnectorConfig,
        tables: &BTreeMap<String, ObjectMapping>,
    ) -> Result<Vec<(String, TableCheck)>> {
        let hub = Self::connection(config)?;
        let mut out = Vec::new();
        for (target, mapping) in tables {
            let problems = hub
                .backend()
                .check_mapping(target.parse()?, mapping)
                .await?;
            out.push((target.clone(), TableCheck::Checked(problems)));
        }
        Ok(out)
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
