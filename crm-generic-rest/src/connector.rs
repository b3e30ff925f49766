//! The registry's entry for this adapter ([`connector`]): a connection built from config pairs
//! (`base_url`, `spec`, `ca_file`, `timeout_secs`, `auth.kind` = `none` | `bearer` |
//! `api_key`, the secret `auth.token`), the spec's object tables as the default mapping, and
//! the live mapping check against a sample record.

use std::collections::BTreeMap;
use std::sync::Arc;

use crm_core::credential::StaticCredential;
use crm_core::mapping::ObjectMapping;
use crm_core::raw::{AdapterFacts, Connector, ConnectorConfig, LiveConnection};
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Error, Result};

use crate::{FACTS, GenericRest, GenericRestBuilder, GenericWebhook, Spec, VENDOR};

/// The keys a generic REST connection takes; everything else about the CRM is in its spec.
const KEYS: &[&str] = &["base_url", "spec", "auth.kind", "auth.header", "auth.token"];

/// The generic REST adapter as a registry sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericRestConnector;

/// This adapter's entry in a connector registry.
pub fn connector() -> &'static dyn Connector {
    &GenericRestConnector
}

impl GenericRestConnector {
    /// The spec the connection names (the default spec, which describes the sandbox, without
    /// one).
    pub fn spec(config: &ConnectorConfig) -> Result<Spec> {
        match config.setting("spec") {
            Some(path) => Spec::from_file(&config.path(path)),
            None => Spec::default_spec(),
        }
    }

    /// The connection itself, as its concrete type.
    pub fn connection(config: &ConnectorConfig) -> Result<GenericRest> {
        config.check_keys(VENDOR, KEYS)?;
        let mut b = GenericRestBuilder::new();
        b.options.read_connector_config(config)?;
        if let Some(spec) = config.setting("spec") {
            b = b.with_spec_file(config.path(spec));
        }
        if let Some(url) = config.setting("base_url") {
            b = b.with_base_url(url);
        }
        if let Some(kind) = config.setting("auth.kind") {
            if let Some(header) = config.setting("auth.header")
                && kind != "api_key"
            {
                return Err(Error::config(format!(
                    "auth.header `{header}` is only used with kind = \"api_key\""
                )));
            }
            b = match kind {
                "none" => b.with_credentials(Arc::new(StaticCredential::none())),
                "bearer" | "api_key" => b.with_token(config.require_secret("auth.token")?),
                other => {
                    return Err(Error::config(format!(
                        "auth.kind: `{other}` is not supported here (none, bearer, api_key)"
                    )));
                }
            };
        }
        b.build()
    }
}

impl Connector for GenericRestConnector {
    fn facts(&self) -> &'static AdapterFacts {
        &FACTS
    }

    /// The spec's object tables: the default spec's, or those of the spec the connection names.
    fn default_mapping(&self, config: &ConnectorConfig) -> Result<BTreeMap<String, ObjectMapping>> {
        Self::spec(config).map(|s| s.default_mapping())
    }

    fn connect(&self, config: &ConnectorConfig) -> Result<Arc<dyn LiveConnection>> {
        Ok(Arc::new(Self::connection(config)?))
    }

    fn idempotency_advice(&self) -> &'static str {
        "off: declare an idempotency header or an idempotency_key upsert path (see the adapter docs); until then the outbox will not retry a create that may have reached the CRM"
    }

    fn webhook_source(
        &self,
        config: &ConnectorConfig,
        secret: SecretString,
    ) -> Result<Box<dyn crm_core::events::WebhookSource>> {
        let spec = Self::spec(config)?;
        let source = GenericWebhook::new(&spec, secret, spec.name.clone())?;
        Ok(Box::new(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_an_unknown_key_names_it_and_the_accepted_keys() {
        let config = ConnectorConfig::new(".").with_setting("path_family", "v3");
        let err = connector().build(&config).unwrap_err();
        assert!(err.message().starts_with("path_family:"), "{err}");
        assert!(err.message().contains("base_url, spec"), "{err}");
    }

    #[test]
    fn connector_builds_from_pairs() {
        let config = ConnectorConfig::new(".")
            .with_setting("base_url", "http://127.0.0.1:9/api")
            .with_setting("auth.kind", "bearer")
            .with_secret("auth.token", SecretString::from("t".to_owned()));
        let crm = connector().build(&config).unwrap();
        assert_eq!(crm.vendor(), VENDOR);
        let missing = ConnectorConfig::new(".").with_setting("auth.kind", "bearer");
        let err = connector().build(&missing).unwrap_err();
        assert!(err.message().contains("auth.token"), "{err}");
    }
}
