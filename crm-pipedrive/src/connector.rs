//! The registry's entry for this adapter ([`connector`]): a connection built from config pairs
//! (the [`crate::config::KEYS`], and the credential as `auth.kind` = `api_token` (a personal
//! API token) or `bearer` (an OAuth access token) with the secret `auth.token`), and the
//! shipped default mapping with Pipedrive's standard fields for offline checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use crm_core::limits::{Observed, RateLimiter};
use crm_core::mapping::{KnownFields, ObjectMapping};
use crm_core::raw::{Connector, ConnectorConfig, Target};
use crm_core::{Crm, Error, Result};

use crate::config::{KEYS as CONFIG_KEYS, PipedriveConfig};
use crate::{MAPPING_TARGETS, Pipedrive, PipedriveBuilder, VENDOR, limits};

/// The keys a Pipedrive connection takes: the [`crate::config::KEYS`] and the credential's
/// `auth.*` keys.
const KEYS: &[&str] = &[
    "base_url",
    "api_token",
    "access_token",
    "burst",
    "external_id_field",
    "lead_source_field",
    "timeout_secs",
    "connection_name",
    "auth.kind",
    "auth.token",
];

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
        config.check_keys(VENDOR, KEYS)?;
        let mut c = PipedriveConfig::default();
        for (key, value) in &config.settings {
            if CONFIG_KEYS.contains(&key.as_str()) {
                c.set(key, value)?;
            }
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
        let burst = c.burst;
        let mut b = PipedriveBuilder::new().with_config(c);
        // The observer watches in front of the adapter's own limiter, which keeps pacing.
        let own: Arc<dyn RateLimiter> = Arc::new(limits::limiter(burst));
        if let Some(limiter) = Observed::layer(Some(own), config.observer.as_ref())
            && config.observer.is_some()
        {
            b = b.with_limiter(limiter);
        }
        if let Some(file) = &config.mapping {
            b = b.with_mapping_file(file.clone());
        }
        if let Some(a) = &config.audit {
            b = b.with_audit_sink(a.clone());
        }
        if let Some(name) = config
            .connection_name
            .as_deref()
            .or(config.setting("connection_name"))
        {
            b = b.with_connection_name(name);
        }
        b.build()
    }
}

impl Connector for PipedriveConnector {
    fn name(&self) -> &'static str {
        VENDOR
    }

    fn mapping_targets(&self) -> &'static [Target] {
        MAPPING_TARGETS
    }

    fn default_mapping_source(&self) -> &'static str {
        "crm-pipedrive/mapping.toml"
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
