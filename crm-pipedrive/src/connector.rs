//! The registry's entry for this adapter ([`connector`]): a connection built from config pairs
//! (the [`crate::config::KEYS`], and the credential as `auth.kind` = `api_token` (a personal
//! API token) or `bearer` (an OAuth access token) with the secret `auth.token`), and the
//! shipped default mapping with Pipedrive's standard fields for offline checks.

use std::sync::Arc;

use crm_core::raw::{AdapterFacts, Connector, ConnectorConfig, LiveConnection};
use crm_core::{Error, Result};

use crate::config::{KEYS as CONFIG_KEYS, PipedriveConfig};
use crate::{FACTS, Pipedrive, PipedriveBuilder, VENDOR};

/// The keys a Pipedrive connection takes besides the [`crate::config::KEYS`] and the ones every
/// adapter takes: the credential's.
const AUTH_KEYS: &[&str] = &["auth.kind", "auth.token"];

/// The Pipedrive adapter as a registry sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipedriveConnector;

/// This adapter's entry in a connector registry.
pub fn connector() -> &'static dyn Connector {
    &PipedriveConnector
}

impl PipedriveConnector {
    /// The connection itself, as its concrete type.
    pub fn connection(config: &ConnectorConfig) -> Result<Pipedrive> {
        let keys: Vec<&str> = CONFIG_KEYS.iter().chain(AUTH_KEYS).copied().collect();
        config.check_keys(VENDOR, &keys)?;
        let mut c = PipedriveConfig::default();
        for (key, value) in config.vendor_settings() {
            c.set(key, value)?;
        }
        match config.setting("auth.kind") {
            None => {}
            Some("api_token") => c.api_token = Some(config.require_secret("auth.token")?),
            Some("bearer") => c.access_token = Some(config.require_secret("auth.token")?),
            Some(other) => {
                return Err(Error::config(format!(
                    "auth.kind: `{other}` is not one of api_token, bearer (an OAuth access token)"
                )));
            }
        }
        let mut b = PipedriveBuilder::new().with_config(c);
        b.options.read_connector_config(config)?;
        b.build()
    }
}

impl Connector for PipedriveConnector {
    fn facts(&self) -> &'static AdapterFacts {
        &FACTS
    }

    fn connect(&self, config: &ConnectorConfig) -> Result<Arc<dyn LiveConnection>> {
        Ok(Arc::new(Self::connection(config)?))
    }

    fn idempotency_advice(&self) -> &'static str {
        "off: Pipedrive has no idempotency key and no upsert, so creates cannot be made idempotent; the outbox will not retry a create that may have reached the CRM"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::secrecy::SecretString;

    #[test]
    fn connector_builds_from_pairs_and_names_unknown_keys() {
        let config = ConnectorConfig::new(".")
            .with_setting("base_url", "http://127.0.0.1:9")
            .with_setting("auth.kind", "api_token")
            .with_secret("auth.token", SecretString::from("t0k".to_owned()));
        assert_eq!(connector().build(&config).unwrap().vendor(), VENDOR);
        let err = connector()
            .build(&config.clone().with_setting("idempotency_field", "x"))
            .unwrap_err();
        assert!(err.message().starts_with("idempotency_field:"), "{err}");
        assert!(err.message().contains("external_id_field"), "{err}");
        let err = connector()
            .build(&ConnectorConfig::new(".").with_setting("auth.kind", "oauth"))
            .unwrap_err();
        assert!(err.message().contains("auth.kind"), "{err}");
    }
}
