//! The registry's entry for this adapter ([`connector`]): a connection built from config pairs
//! (every [`crate::SalesforceConfigKey`], and the credential as `auth.kind` = `oauth_refresh`,
//! `client_credentials`, `jwt_bearer` or `bearer` with `auth.client_id`, `auth.username`,
//! `auth.private_key_file`, `auth.jwt_audience` and the secrets `auth.client_secret`,
//! `auth.refresh_token`, `auth.token`), the shipped default mapping, and the setup and mapping
//! checks through `describe`.

use std::sync::Arc;

use crm_core::raw::{AdapterFacts, Connector, ConnectorConfig, LiveConnection};
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Error, Result};

use crate::{Salesforce, SalesforceBuilder, SalesforceConfigKey, VENDOR};

/// The credential's keys a Salesforce connection takes besides the
/// [`crate::SalesforceConfigKey`]s.
const AUTH_KEYS: &[&str] = &[
    "auth.kind",
    "auth.client_id",
    "auth.username",
    "auth.private_key_file",
    "auth.jwt_audience",
    "auth.token",
    "auth.client_secret",
    "auth.refresh_token",
];

/// The Salesforce adapter as a registry sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SalesforceConnector;

/// This adapter's entry in a connector registry.
pub fn connector() -> &'static dyn Connector {
    &SalesforceConnector
}

impl SalesforceConnector {
    /// The connection itself, as its concrete type.
    pub fn connection(config: &ConnectorConfig) -> Result<Salesforce> {
        let keys = SalesforceConfigKey::ALL.iter().map(|k| k.as_str());
        let keys: Vec<&str> = keys.chain(AUTH_KEYS.iter().copied()).collect();
        config.check_keys(VENDOR, &keys)?;
        let mut b = SalesforceBuilder::new();
        b.options.read_connector_config(config)?;
        for (key, value) in config.vendor_settings() {
            if key != "private_key_file" {
                b = b.with_config(key, value);
            }
        }
        if let Some(file) = config.setting("private_key_file") {
            b = b.with_config("private_key_file", config.path(file).display().to_string());
        }
        let kind = config
            .setting("auth.kind")
            .ok_or_else(|| Error::config("auth: a salesforce connection needs an [auth] table"))?;
        let client_id = || config.require("auth.client_id").map(str::to_owned);
        let client_secret = config.secret("auth.client_secret").cloned();
        b = match kind {
            "oauth_refresh" => b.with_refresh_token(
                client_id()?,
                client_secret,
                config.require_secret("auth.refresh_token")?,
            ),
            "client_credentials" => {
                let secret =
                    client_secret.ok_or_else(|| Error::config("auth.client_secret is required"))?;
                b.with_client_credentials(client_id()?, secret)
            }
            "jwt_bearer" => {
                let username = config.require("auth.username")?.to_owned();
                let key_file = config.path(config.require("auth.private_key_file")?);
                let pem = std::fs::read_to_string(&key_file).map_err(|e| {
                    Error::config(format!("auth.private_key_file: cannot read it: {e}"))
                })?;
                let mut b = b.with_jwt_bearer(client_id()?, username, SecretString::from(pem));
                if let Some(aud) = config.setting("auth.jwt_audience") {
                    b = b.with_jwt_audience(aud);
                }
                b
            }
            "bearer" => {
                let instance = config.setting("instance_url").ok_or_else(|| {
                    Error::config("instance_url is required with auth.kind = \"bearer\"")
                })?;
                b.with_access_token(config.require_secret("auth.token")?, instance)
            }
            other => {
                return Err(Error::config(format!(
                    "auth.kind: `{other}` is not one of oauth_refresh, client_credentials, jwt_bearer, bearer"
                )));
            }
        };
        b.build()
    }
}

impl Connector for SalesforceConnector {
    fn facts(&self) -> &'static AdapterFacts {
        &crate::FACTS
    }

    fn connect(&self, config: &ConnectorConfig) -> Result<Arc<dyn LiveConnection>> {
        Ok(Arc::new(Self::connection(config)?))
    }

    fn idempotency_advice(&self) -> &'static str {
        "off: a create carrying an idempotency key fails until `idempotency_field` names a Text field marked Unique and External ID on every object the bot creates (see the adapter docs)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_an_unknown_key_names_it_and_the_accepted_keys() {
        let config = ConnectorConfig::new(".")
            .with_setting("base_url", "https://x.my.salesforce.com")
            .with_setting("auth.kind", "oauth_refresh");
        let err = connector().build(&config).unwrap_err();
        assert!(err.message().starts_with("base_url:"), "{err}");
        assert!(err.message().contains("login_url"), "{err}");
    }

    #[test]
    fn connector_builds_from_pairs() {
        let config = ConnectorConfig::new(".")
            .with_setting("login_url", "http://127.0.0.1:9")
            .with_setting("idempotency_field", "Idempotency_Key__c")
            .with_setting("auth.kind", "oauth_refresh")
            .with_setting("auth.client_id", "id")
            .with_secret("auth.refresh_token", SecretString::from("r".to_owned()));
        let crm = connector().build(&config).unwrap();
        assert_eq!(crm.vendor(), VENDOR);
        let err = connector()
            .build(&ConnectorConfig::new(".").with_setting("auth.kind", "client_credentials"))
            .unwrap_err();
        assert!(err.message().contains("auth.client_secret"), "{err}");
    }
}
