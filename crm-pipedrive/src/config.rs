//! The connection's settings: [`PipedriveConfig`], set from strings by key (`base_url`,
//! `api_token`, …; the `CRM_PIPEDRIVE_*` environment variables) so a registry or the CLI can
//! build a connection from config pairs. Every key is listed in `docs.md`.

use std::num::NonZeroU32;
use std::time::Duration;

use crm_core::raw::parse_number;
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Error, Result};

use crate::limits::DEFAULT_BURST;
use crate::wire::is_custom_key;

/// Pipedrive's API host for API-token requests; a company's own
/// `https://{company}.pipedrive.com` (OAuth's `api_domain`) works the same.
pub const DEFAULT_BASE_URL: &str = "https://api.pipedrive.com";

/// Every setting of a Pipedrive connection.
#[derive(Debug, Clone)]
pub struct PipedriveConfig {
    /// The API root (`base_url`).
    pub base_url: String,
    /// A personal API token (`api_token`).
    pub api_token: Option<SecretString>,
    /// An OAuth access token instead (`access_token`).
    pub access_token: Option<SecretString>,
    /// Requests per 2-second window before the headers say (`burst`, default 80).
    pub burst: u32,
    /// The persons' custom field (a 40-character hash) holding the caller's external id
    /// (`external_id_field`); without it, look-up and upsert by external id are absent.
    pub external_id_field: Option<String>,
    /// The deals' custom field (which leads share) holding a lead's source
    /// (`lead_source_field`).
    pub lead_source_field: Option<String>,
    /// The timeout of one request (`timeout_secs`, default 30).
    pub timeout: Duration,
}

impl Default for PipedriveConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_token: None,
            access_token: None,
            burst: DEFAULT_BURST,
            external_id_field: None,
            lead_source_field: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The keys [`PipedriveConfig::set`] takes.
pub const KEYS: &[&str] = &[
    "base_url",
    "api_token",
    "access_token",
    "burst",
    "external_id_field",
    "lead_source_field",
    "timeout_secs",
];

fn field_key(key: &str, value: &str) -> Result<Option<String>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if !is_custom_key(v) {
        return Err(Error::config(format!(
            "{key}: Pipedrive custom fields are keyed by a 40-character hash (see the fields API), not `{v}`"
        )));
    }
    Ok(Some(v.to_ascii_lowercase()))
}

impl PipedriveConfig {
    /// Sets `key` from its text; an unknown key or a bad value is a config error naming it
    /// (never the value of a secret).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // Zero is no rate and no timeout: `NonZeroU32` refuses it.
        let number = |v| parse_number::<NonZeroU32>(key, v).map(NonZeroU32::get);
        match key {
            "base_url" => self.base_url = value.trim().trim_end_matches('/').to_owned(),
            "api_token" => self.api_token = Some(SecretString::from(value.trim().to_owned())),
            "access_token" => self.access_token = Some(SecretString::from(value.trim().to_owned())),
            "burst" => self.burst = number(value)?,
            "external_id_field" => self.external_id_field = field_key(key, value)?,
            "lead_source_field" => self.lead_source_field = field_key(key, value)?,
            "timeout_secs" => self.timeout = Duration::from_secs(u64::from(number(value)?)),
            _ => {
                return Err(Error::config(format!(
                    "`{key}` is not a Pipedrive setting; the settings are {}",
                    KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The settings from `CRM_PIPEDRIVE_<KEY>` environment variables, over the defaults.
    pub fn from_env() -> Result<Self> {
        let mut c = Self::default();
        for key in KEYS {
            if let Ok(v) = std::env::var(format!("CRM_PIPEDRIVE_{}", key.to_ascii_uppercase())) {
                c.set(key, &v)?;
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_set_their_settings_and_bad_values_name_the_key() {
        let mut c = PipedriveConfig::default();
        c.set("burst", "40").unwrap();
        c.set(
            "external_id_field",
            "7BAFBFCA0119CEAC54FA031AA2433D0B918D1C56",
        )
        .unwrap();
        c.set("base_url", "https://acme.pipedrive.com/").unwrap();
        assert_eq!(c.burst, 40);
        assert_eq!(
            c.external_id_field.as_deref(),
            Some("7bafbfca0119ceac54fa031aa2433d0b918d1c56")
        );
        assert_eq!(c.base_url, "https://acme.pipedrive.com");
        let e = c.set("external_id_field", "customer_id").unwrap_err();
        assert!(e.message().starts_with("external_id_field:"));
        assert!(c.set("burst", "0").is_err());
        let e = c.set("api_key", "secret-value").unwrap_err();
        assert!(!e.message().contains("secret-value"));
    }
}
