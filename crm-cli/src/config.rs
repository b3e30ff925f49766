//! The connection file: which CRM to talk to and how.
//!
//! ```toml
//! vendor = "generic-rest"                 # generic-rest | hubspot | salesforce | pipedrive
//! base_url = "https://crm.acme.example/api/v1"   # overrides the spec's; https unless loopback
//! spec = "specs/acme.toml"                # generic-rest: the spec file; the sandbox's by default
//! ca_file = "certs/corp-root.pem"         # optional extra root CA
//! timeout_secs = 30                       # optional, per attempt
//!
//! [auth]
//! kind = "bearer"                         # none | bearer | api_key
//! token = "${ACME_CRM_TOKEN}"             # from the environment ...
//! # token_file = "/run/secrets/acme"      # ... or from a file
//! ```
//!
//! HubSpot:
//!
//! ```toml
//! vendor = "hubspot"
//! base_url = "https://api.hubapi.com"
//! [settings]                              # the adapter's config keys (crm-hubspot docs)
//! path_family = "v3"
//! idempotency_field = "crm_idempotency_key"   # idempotent creates: off unless set (doctor checks it)
//! rate_limit = "190/10s"                  # the app's budget if not its tier's; or requests_per_10s = 190
//! [auth]
//! kind = "bearer"                         # a private-app token; or oauth_refresh
//! token = "${HUBSPOT_TOKEN}"
//! ```
//!
//! Salesforce:
//!
//! ```toml
//! vendor = "salesforce"
//! login_url = "https://login.salesforce.com"   # or https://test.salesforce.com, or My Domain
//! # instance_url = "https://acme.my.salesforce.com"   # override; normally from the token response
//! api_version = "v62.0"
//!
//! [auth]
//! kind = "jwt_bearer"                     # oauth_refresh | client_credentials | jwt_bearer | bearer
//! client_id = "3MVG9..."
//! username = "integration@acme.example"
//! private_key_file = "/run/secrets/sf-key.pem"
//! # client_secret = "${SF_CLIENT_SECRET}"  refresh_token = "${SF_REFRESH_TOKEN}"
//! ```
//!
//! Pipedrive:
//!
//! ```toml
//! vendor = "pipedrive"
//! base_url = "https://api.pipedrive.com"  # or the company's own https://{company}.pipedrive.com
//! [settings]                              # the adapter's config keys (crm-pipedrive docs)
//! external_id_field = "7bafbfca0119ceac54fa031aa2433d0b918d1c56"
//! [auth]
//! kind = "api_token"                      # a personal API token; or bearer (an OAuth access token)
//! token = "${PIPEDRIVE_API_TOKEN}"
//! ```
//!
//! Every file's keys reach the vendor's adapter as config pairs (its [`Connector`]): the
//! adapter names a key it does not take, and lists the keys it does. `idempotency_field` is
//! the one name of the idempotency setting (HubSpot's `idempotency_property` still works).
//!
//! Relative paths are read relative to the connection file's directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crm_core::limits::RequestObserver;
use crm_core::mapping::MappingFile;
use crm_core::raw::{Connector, ConnectorConfig};
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Crm, Error, Result};

use crate::counter::Counter;
use serde::Deserialize;

/// A parsed connection file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Connection {
    vendor: String,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    spec: Option<PathBuf>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    login_url: Option<String>,
    #[serde(default)]
    instance_url: Option<String>,
    #[serde(default)]
    api_version: Option<String>,
    /// Vendor-specific keys, named as the adapter's config keys (`path_family`, `app`,
    /// `idempotency_field`, `rate_limit` for HubSpot; `idempotency_field`, `query_batch_size`
    /// for Salesforce...). Unknown keys are errors at build time. Values may be written as
    /// strings, numbers or booleans (`requests_per_10s = 190`).
    #[serde(default, deserialize_with = "settings_from_scalars")]
    settings: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    auth: Option<Auth>,
    #[serde(default)]
    webhook: Option<WebhookAuth>,
    /// A mapping file laid over the adapter's default mapping.
    #[serde(default)]
    mapping: Option<PathBuf>,
}

/// `[settings]` values as the adapters' text keys take them: a string as it is, a number or a
/// boolean as written. Tables and arrays are errors naming the key.
fn settings_from_scalars<'de, D>(
    deserializer: D,
) -> std::result::Result<std::collections::BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = std::collections::BTreeMap::<String, toml::Value>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(serde::de::Error::custom(format!(
                        "settings.{key}: expected a string, number or boolean"
                    )));
                }
            };
            Ok((key, text))
        })
        .collect()
}

/// How the CRM signs the webhooks it sends (`[webhook]`): the shared secret (the generic spec's
/// webhook secret; HubSpot's app client secret).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookAuth {
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
    /// The public URL prefix (scheme and host) the CRM calls, for signatures over the URI.
    #[serde(default)]
    public_base: Option<String>,
}

impl std::fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAuth")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("public_base", &self.public_base)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth {
    kind: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    refresh_token_file: Option<PathBuf>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    private_key_file: Option<PathBuf>,
    #[serde(default)]
    jwt_audience: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("kind", &self.kind)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .finish()
    }
}

/// Every adapter the CLI knows, by the name connection files give as `vendor`. The CLI
/// iterates this registry; whatever differs between vendors lives in each adapter's
/// [`Connector`].
pub(crate) fn registry() -> [&'static dyn Connector; 4] {
    [
        crm_generic_rest::connector(),
        crm_hubspot::connector(),
        crm_salesforce::connector(),
        crm_pipedrive::connector(),
    ]
}

impl Connection {
    /// Reads and parses a connection file; errors name the file, line and key.
    pub(crate) fn load(path: &Path) -> Result<(Self, PathBuf)> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("cannot read `{}`: {e}", path.display())))?;
        // Never toml's own Display: it quotes the offending line, inline secrets included.
        let conn: Connection = toml::from_str(&text).map_err(|e| {
            crm_core::mapping::toml_config_error(&e, &path.display().to_string(), &text)
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok((conn, dir))
    }

    /// The vendor this file connects to.
    pub(crate) fn vendor(&self) -> &str {
        &self.vendor
    }

    /// The adapter of [`Connection::vendor`]; an unknown vendor is an error listing the
    /// registered ones.
    pub(crate) fn connector(&self) -> Result<&'static dyn Connector> {
        crm_core::raw::find(&registry(), &self.vendor)
    }

    /// The file's settings as the adapter's config pairs, without secrets or the mapping file:
    /// enough for offline work (the default mapping, a webhook verifier). `[settings]` first,
    /// then the top-level keys, then `[auth]`'s plain keys as `auth.*`.
    pub(crate) fn settings_config(&self, dir: &Path) -> ConnectorConfig {
        let mut config = ConnectorConfig::new(dir);
        config.settings = self
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let top = [
            ("base_url", self.base_url.clone()),
            ("spec", path(&self.spec)),
            ("ca_file", path(&self.ca_file)),
            ("timeout_secs", self.timeout_secs.map(|s| s.to_string())),
            ("login_url", self.login_url.clone()),
            ("instance_url", self.instance_url.clone()),
            ("api_version", self.api_version.clone()),
        ];
        for (key, value) in top {
            if let Some(v) = value {
                config.settings.push((key.to_owned(), v));
            }
        }
        if let Some(auth) = &self.auth {
            let plain = [
                ("auth.kind", Some(auth.kind.clone())),
                ("auth.header", auth.header.clone()),
                ("auth.client_id", auth.client_id.clone()),
                ("auth.username", auth.username.clone()),
                ("auth.private_key_file", path(&auth.private_key_file)),
                ("auth.jwt_audience", auth.jwt_audience.clone()),
            ];
            for (key, value) in plain {
                if let Some(v) = value {
                    config.settings.push((key.to_owned(), v));
                }
            }
        }
        config
    }

    /// Everything the adapter builds the connection from: [`Connection::settings_config`],
    /// the `[auth]` secrets (read from the environment or their files here) as `auth.*`
    /// secrets, the mapping file and the request observer.
    pub(crate) fn connector_config(
        &self,
        dir: &Path,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<ConnectorConfig> {
        let mut config = self.settings_config(dir);
        if let Some(auth) = &self.auth {
            let secrets = [
                ("token", &auth.token, &auth.token_file),
                (
                    "client_secret",
                    &auth.client_secret,
                    &auth.client_secret_file,
                ),
                (
                    "refresh_token",
                    &auth.refresh_token,
                    &auth.refresh_token_file,
                ),
            ];
            for (key, value, file) in secrets {
                if value.is_some() || file.is_some() {
                    let secret = secret_from(value.as_deref(), file.as_deref(), dir, key)?;
                    config.secrets.push((format!("auth.{key}"), secret));
                }
            }
        }
        config.mapping = self.mapping_file(dir)?;
        config.observer = observer;
        Ok(config)
    }

    /// Builds the connection it describes. Makes no network call.
    pub(crate) fn build(&self, dir: &Path) -> Result<Arc<dyn Crm>> {
        let connector = self.connector()?;
        connector.build(&self.connector_config(dir, None)?)
    }

    /// Builds the connection with a request counter in front of the vendor's own limiter
    /// (the bench counts requests this way): the counter only watches, through the
    /// connector's request observer, so the connection paces exactly as
    /// [`Connection::build`]'s does.
    pub(crate) fn build_counted(&self, dir: &Path) -> Result<(Arc<dyn Crm>, Arc<Counter>)> {
        let counter = Arc::new(Counter::default());
        let connector = self.connector()?;
        let crm = connector.build(&self.connector_config(dir, Some(counter.clone()))?)?;
        Ok((crm, counter))
    }

    /// The connection's mapping file, loaded and validated, if it names one.
    pub(crate) fn mapping_file(&self, dir: &Path) -> Result<Option<MappingFile>> {
        let Some(p) = &self.mapping else {
            return Ok(None);
        };
        let targets = self.connector()?.mapping_targets();
        MappingFile::load(&dir.join(p), targets).map(Some)
    }

    /// The path of the mapping file the connection names, if any.
    pub(crate) fn mapping_path(&self, dir: &Path) -> Option<PathBuf> {
        self.mapping.as_ref().map(|p| dir.join(p))
    }

    /// The webhook source this connection's CRM signs with, and the public URL prefix.
    pub(crate) fn webhook_source(
        &self,
        dir: &Path,
    ) -> Result<(Box<dyn crm_core::events::WebhookSource>, String)> {
        let hook = self
            .webhook
            .as_ref()
            .ok_or_else(|| Error::config("webhook: the connection file has no [webhook] table"))?;
        let secret = secret_from(
            hook.secret.as_deref(),
            hook.secret_file.as_deref(),
            dir,
            "secret",
        )?;
        let base = hook.public_base.clone().unwrap_or_default();
        let connector = self.connector()?;
        // The webhook verifier needs the settings (a spec), not the credential.
        let config = self.settings_config(dir);
        Ok((connector.webhook_source(&config, secret)?, base))
    }
}

/// A secret from `"${VAR}"`, a file, or (discouraged) inline text; errors name the key.
fn secret_from(
    value: Option<&str>,
    file: Option<&Path>,
    dir: &Path,
    key: &str,
) -> Result<SecretString> {
    match (value, file) {
        (Some(_), Some(_)) => Err(Error::config(format!(
            "auth: give {key} or {key}_file, not both"
        ))),
        (None, None) => Err(Error::config(format!(
            "auth: {key} or {key}_file is required"
        ))),
        (None, Some(file)) => {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::config(format!(
                    "auth.{key}_file: cannot read `{}`: {e}",
                    path.display()
                ))
            })?;
            Ok(SecretString::from(text.trim().to_owned()))
        }
        (Some(token), None) => {
            let t = token.trim();
            if let Some(var) = t.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                let value = std::env::var(var).map_err(|_| {
                    Error::config(format!(
                        "auth.{key}: environment variable `{var}` is not set"
                    ))
                })?;
                Ok(SecretString::from(value))
            } else {
                eprintln!(
                    "warning: auth.{key} is written inline; prefer \"${{VAR}}\" or {key}_file"
                );
                Ok(SecretString::from(t.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn secrets_come_from_env_or_file_and_stay_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "tok", "s3cr3t-from-file\n");
        let p = write(
            dir.path(),
            "c.toml",
            "vendor = \"generic-rest\"\nbase_url = \"http://127.0.0.1:9/api\"\n[auth]\nkind = \"bearer\"\ntoken_file = \"tok\"\n",
        );
        let (conn, d) = Connection::load(&p).unwrap();
        let crm = conn.build(&d).unwrap();
        assert!(!format!("{conn:?} {crm:?}").contains("s3cr3t"));

        let p = write(
            dir.path(),
            "e.toml",
            "vendor = \"generic-rest\"\n[auth]\nkind = \"bearer\"\ntoken = \"${CRM_CLI_TEST_UNSET_VAR}\"\n",
        );
        let (conn, d) = Connection::load(&p).unwrap();
        let err = conn.build(&d).unwrap_err();
        assert!(err.message().contains("CRM_CLI_TEST_UNSET_VAR"), "{err}");
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "u.toml",
            "vendor = \"generic-rest\"\nbase_ulr = \"x\"\n",
        );
        let err = Connection::load(&p).unwrap_err();
        assert!(err.message().contains("base_ulr"), "{err}");
        assert!(err.message().contains("u.toml:2:1: base_ulr:"), "{err}");

        let p = write(
            dir.path(),
            "h.toml",
            "vendor = \"generic-rest\"\nbase_url = \"http://crm.example.com\"\n[auth]\nkind = \"none\"\n",
        );
        let (conn, d) = Connection::load(&p).unwrap();
        let err = conn.build(&d).unwrap_err();
        assert!(err.message().contains("https"), "{err}");

        let p = write(dir.path(), "v.toml", "vendor = \"zoho\"\n");
        let (conn, d) = Connection::load(&p).unwrap();
        assert!(conn.build(&d).unwrap_err().message().contains("zoho"));
    }

    #[test]
    fn malformed_connection_files_name_the_place_and_mask_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "vendor = \"hubspot\"\n[auth]\nkind = \"bearer\"\ntoken = \"sk-live-SECRET\n",
                "sk-live-SECRET",
                "t.toml:4:",
                "auth.token",
            ),
            (
                "vendor = \"hubspot\"\ntimeout_secs = \"abc\"\n[auth]\nkind = \"bearer\"\ntoken = \"sk-live-SECRET\"\n",
                "abc",
                "t.toml:2:16:",
                "timeout_secs",
            ),
        ];
        for (text, value, place, key) in cases {
            let p = write(dir.path(), "t.toml", text);
            let err = Connection::load(&p).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert_eq!(err.kind(), &crm_core::ErrorKind::Config);
            assert!(err.message().contains(place), "{err}");
            assert!(err.message().contains(key), "{err}");
            assert!(!shown.contains(value), "{shown}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }

    /// A HubSpot fake whose rolling window allows 100 requests per second, strictly.
    async fn strict_hubspot() -> crm_testkit::hubspot::HubSpotFake {
        use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, Limits};
        HubSpotFake::start(HubSpotFakeConfig {
            limits: Limits {
                ten_second_max: 100,
                window: Duration::from_secs(1),
                ..Limits::default()
            },
            ..HubSpotFakeConfig::default()
        })
        .await
    }

    fn hubspot_file(dir: &Path, base_url: &str, token: &str, settings: &str) -> PathBuf {
        write(
            dir,
            "hub.toml",
            &format!(
                "vendor = \"hubspot\"\nbase_url = \"{base_url}\"\n[settings]\n{settings}\n[auth]\nkind = \"bearer\"\ntoken = \"{token}\"\n"
            ),
        )
    }

    /// Issue 14: the bench's counted connection from a connection file keeps HubSpot's own
    /// limiter (it used to be replaced by an unpaced counter): more requests than one window
    /// holds, none refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn item14_a_counted_connection_from_a_file_keeps_the_vendors_pacing() {
        let fake = strict_hubspot().await;
        let dir = tempfile::tempdir().unwrap();
        let p = hubspot_file(dir.path(), &fake.base_url(), fake.token(), "");
        let (conn, d) = Connection::load(&p).unwrap();
        let (crm, counter) = conn.build_counted(&d).unwrap();
        let id = crm_core::RecordId::new("1").unwrap();
        for _ in 0..150 {
            let _ = crm.contacts().get(&id).await;
        }
        assert_eq!(counter.requests(), 150, "every request is counted");
        let stats = fake.requests();
        assert!(stats.total >= 150, "{}", stats.total);
        assert_eq!(stats.rate_limited, 0, "the connection was not paced");
    }

    /// Issue 14: the HubSpot rate is settable per connection file, as text or a number.
    #[test]
    fn item14_the_hubspot_rate_is_set_in_the_connection_file() {
        let dir = tempfile::tempdir().unwrap();
        for settings in [
            "rate_limit = \"100/1s\"",
            "requests_per_10s = 190",
            "app = \"private_starter\"",
        ] {
            let p = hubspot_file(dir.path(), "http://127.0.0.1:9", "pat-na1-x", settings);
            let (conn, d) = Connection::load(&p).unwrap();
            conn.build(&d).unwrap();
        }
        let p = hubspot_file(
            dir.path(),
            "http://127.0.0.1:9",
            "pat-na1-x",
            "rate_limit = \"fast\"",
        );
        let (conn, d) = Connection::load(&p).unwrap();
        let err = conn.build(&d).unwrap_err();
        assert!(err.message().contains("rate_limit"), "{err}");
        let p = hubspot_file(
            dir.path(),
            "http://127.0.0.1:9",
            "pat-na1-x",
            "rate_limit = [1]",
        );
        let err = Connection::load(&p).unwrap_err();
        assert!(err.message().contains("rate_limit"), "{err}");
    }
}
