//! The connection's configuration as data: a serde struct (for config files), string keys (for
//! `with_config` and the environment) and one `Default`.

use std::path::PathBuf;

use crm_core::Result;
use crm_core::raw::{parse_flag, parse_number};
use crm_core::reexports::secrecy::SecretString;
use serde::Deserialize;

/// A Salesforce connection's settings. Secrets are [`SecretString`]s, whose `Debug` prints
/// `[REDACTED]`, so they never appear in the derived `Debug`. Every key is also settable by name ([`SalesforceConfigKey`]) and from
/// `CRM_SALESFORCE_<KEY>` environment variables.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SalesforceConfig {
    /// Token endpoint host: `https://login.salesforce.com` (default),
    /// `https://test.salesforce.com`, or the org's My Domain URL.
    pub login_url: Option<String>,
    /// The instance to call instead of the token response's `instance_url`.
    pub instance_url: Option<String>,
    /// API version `vNN.N` (default [`crate::DEFAULT_API_VERSION`]).
    pub api_version: Option<String>,
    /// `refresh_token`, `client_credentials`, `jwt_bearer` or `access_token`.
    pub auth: Option<String>,
    /// Connected app consumer key.
    pub client_id: Option<String>,
    /// Connected app consumer secret.
    #[serde(deserialize_with = "secret")]
    pub client_secret: Option<SecretString>,
    /// Refresh token (`auth = "refresh_token"`).
    #[serde(deserialize_with = "secret")]
    pub refresh_token: Option<SecretString>,
    /// Username (`auth = "jwt_bearer"`, the assertion's `sub`).
    pub username: Option<String>,
    /// The connected app's RSA private key in PEM (`auth = "jwt_bearer"`).
    #[serde(deserialize_with = "secret")]
    pub private_key: Option<SecretString>,
    /// A file holding that key.
    pub private_key_file: Option<PathBuf>,
    /// The JWT `aud` (default: `https://test.salesforce.com` for a `test.` login URL,
    /// `https://login.salesforce.com` otherwise).
    pub jwt_audience: Option<String>,
    /// A ready access token (`auth = "access_token"`; needs `instance_url`).
    #[serde(deserialize_with = "secret")]
    pub access_token: Option<SecretString>,
    /// Extra root CA (PEM file).
    pub ca_file: Option<PathBuf>,
    /// Per-attempt timeout in seconds (default 30).
    pub timeout_secs: Option<u64>,
    /// Region for phone numbers stored without a country code (default `US`).
    pub phone_region: Option<String>,
    /// Records per query batch, 200–2,000 (default 2,000): the `Sforce-Query-Options:
    /// batchSize` every listing asks for, whatever page size the caller wants.
    pub query_batch_size: Option<u32>,
    /// Read each record back after a batch write (one extra query per Collections request), so
    /// the results carry the org's values (defaults, formulas, timestamps). Default `false`:
    /// each result is the caller's input with the id Collections returns.
    pub batch_read_back: Option<bool>,
    /// Unique external-id field holding idempotency keys, such as `Idempotency_Key__c`. Default
    /// none: idempotent creates are off and a create carrying a key fails with a `Config` error.
    pub idempotency_field: Option<String>,
    /// Send `Sforce-Duplicate-Rule-Header: allowSave=true` (default `false`).
    pub allow_duplicates: Option<bool>,
    /// Share of the daily API allocation kept free for other integrations, in percent
    /// (default 10).
    pub daily_reserve_percent: Option<u8>,
    /// A name for audit records and logs (default `salesforce`).
    pub connection_name: Option<String>,
}

/// Reads a secret from a config file straight into a [`SecretString`] (`secrecy` has no serde
/// support enabled in this workspace).
fn secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

crm_core::config_keys! {
    /// The name of one configuration key, for [`crate::SalesforceBuilder::with_config`] and
    /// `CRM_SALESFORCE_<KEY>` environment variables (a name parses with or without that prefix).
    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    #[allow(missing_docs)]
    pub enum SalesforceConfigKey {
        vendor: "Salesforce",
        env_prefix: "CRM_SALESFORCE_",
        aliases: {},
        LoginUrl = "login_url",
        InstanceUrl = "instance_url",
        ApiVersion = "api_version",
        Auth = "auth",
        ClientId = "client_id",
        ClientSecret = "client_secret",
        RefreshToken = "refresh_token",
        Username = "username",
        PrivateKey = "private_key",
        PrivateKeyFile = "private_key_file",
        JwtAudience = "jwt_audience",
        AccessToken = "access_token",
        CaFile = "ca_file",
        TimeoutSecs = "timeout_secs",
        PhoneRegion = "phone_region",
        QueryBatchSize = "query_batch_size",
        BatchReadBack = "batch_read_back",
        IdempotencyField = "idempotency_field",
        AllowDuplicates = "allow_duplicates",
        DailyReservePercent = "daily_reserve_percent",
        ConnectionName = "connection_name",
    }
}

impl SalesforceConfig {
    /// Sets one key from text (bools: `true yes on 1` / `false no off 0`). Errors name the key.
    pub fn set(&mut self, key: SalesforceConfigKey, value: &str) -> Result<()> {
        use SalesforceConfigKey as K;
        let name = key.as_str();
        let text = || Some(value.trim().to_owned());
        let secret = || Some(SecretString::from(value.trim().to_owned()));
        match key {
            K::LoginUrl => self.login_url = text(),
            K::InstanceUrl => self.instance_url = text(),
            K::ApiVersion => self.api_version = text(),
            K::Auth => self.auth = text(),
            K::ClientId => self.client_id = text(),
            K::ClientSecret => self.client_secret = secret(),
            K::RefreshToken => self.refresh_token = secret(),
            K::Username => self.username = text(),
            K::PrivateKey => self.private_key = secret(),
            K::PrivateKeyFile => self.private_key_file = Some(PathBuf::from(value.trim())),
            K::JwtAudience => self.jwt_audience = text(),
            K::AccessToken => self.access_token = secret(),
            K::CaFile => self.ca_file = Some(PathBuf::from(value.trim())),
            K::TimeoutSecs => self.timeout_secs = Some(parse_number(name, value)?),
            K::PhoneRegion => self.phone_region = text(),
            K::QueryBatchSize => self.query_batch_size = Some(parse_number(name, value)?),
            K::IdempotencyField => self.idempotency_field = text(),
            K::AllowDuplicates => self.allow_duplicates = Some(parse_flag(name, value)?),
            K::BatchReadBack => self.batch_read_back = Some(parse_flag(name, value)?),
            K::DailyReservePercent => self.daily_reserve_percent = Some(parse_number(name, value)?),
            K::ConnectionName => self.connection_name = text(),
        }
        Ok(())
    }

    /// Reads every `CRM_SALESFORCE_<KEY>` variable of the environment.
    pub fn from_env() -> Result<Self> {
        let mut c = Self::default();
        for (key, value) in SalesforceConfigKey::from_env() {
            c.set(key, &value)?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_unknown_keys_fail() {
        for k in SalesforceConfigKey::ALL {
            assert_eq!(k.as_ref().parse::<SalesforceConfigKey>().unwrap(), k);
        }
        assert_eq!(
            "CRM_SALESFORCE_LOGIN_URL"
                .parse::<SalesforceConfigKey>()
                .unwrap(),
            SalesforceConfigKey::LoginUrl
        );
        assert!("login_uri".parse::<SalesforceConfigKey>().is_err());
        let mut c = SalesforceConfig::default();
        assert!(c.set(SalesforceConfigKey::TimeoutSecs, "soon").is_err());
        c.set(SalesforceConfigKey::ClientSecret, "s3cr3t-value")
            .unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
