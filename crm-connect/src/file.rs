//! Connection files: which CRM a tenant's bot talks to and how, as data an operator edits.
//!
//! The same file drives the `crm-connect` CLI (`lookup`, `doctor`, `mapping check`, `bench`,
//! `outbox drain`) and a bot backend ([`ConnectionFile::build`], or many tenants at once through
//! [`crate::Tenants`]), so what an operator checks with the CLI is what the bot runs.
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
//! Every file's keys reach the vendor's adapter as config pairs (its [`Connector`], found in [`connectors`]): the
//! adapter names a key it does not take, and lists the keys it does. `idempotency_field` is
//! the one name of the idempotency setting (HubSpot's `idempotency_property` still works).
//!
//! Relative paths are read relative to the connection file's directory. Secrets come from
//! `"${VAR}"` (the environment) or a `*_file`; an inline secret works but logs a warning.
//! Nothing in an error or a `Debug` shows a secret's value.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crm_core::limits::RequestObserver;
use crm_core::mapping::MappingFile;
use crm_core::raw::{Connector, ConnectorConfig};
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Crm, Error, Result};
use serde::Deserialize;

use crate::connectors;

/// The string keys a file keeps at its top rather than in `[settings]`.
const TOP_KEYS: &[&str] = &[
    "base_url",
    "spec",
    "ca_file",
    "login_url",
    "instance_url",
    "api_version",
];

/// The file's keys as parsed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
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

/// A connection file, read and parsed: [`ConnectionFile::build`] turns it into a connection
/// through its vendor's [`Connector`].
///
/// ```
/// # fn main() -> crm_connect::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("crm-connect-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).map_err(|e| crm_connect::Error::config(e.to_string()))?;
/// # let path = dir.join("acme.toml");
/// # std::fs::write(&path, "vendor = \"generic-rest\"\nbase_url = \"http://127.0.0.1:9/api\"\n[auth]\nkind = \"none\"\n")
/// #     .map_err(|e| crm_connect::Error::config(e.to_string()))?;
/// use crm_connect::ConnectionFile;
///
/// let file = ConnectionFile::load(&path)?;
/// assert_eq!(file.vendor(), "generic-rest");
/// let crm = file.build()?; // no network call yet
/// # let _ = crm;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ConnectionFile {
    keys: Keys,
    path: PathBuf,
    dir: PathBuf,
    warnings: Vec<String>,
}

impl ConnectionFile {
    /// Reads and parses a connection file; errors name the file, line, column and key, and
    /// never quote a value from the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("cannot read `{}`: {e}", path.display())))?;
        // Never toml's own Display: it quotes the offending line, inline secrets included.
        let keys: Keys = toml::from_str(&text).map_err(|e| {
            crm_core::mapping::toml_config_error(&e, &path.display().to_string(), &text)
        })?;
        let warnings = keys.inline_secrets();
        for warning in &warnings {
            tracing::warn!(file = %path.display(), "{warning}");
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Self {
            keys,
            path: path.to_path_buf(),
            dir,
            warnings,
        })
    }

    /// The text of a connection file for `vendor` that `config` describes — what a user
    /// writes to connect the way `config` does (the CLI's `sandbox` prints it for a fake).
    /// The keys a file keeps at its top stay there, `auth.*` settings go to `[auth]`, the
    /// others to `[settings]`; each `auth.*` secret is written as `"${PREFIX_NAME}"` (the
    /// environment variable `{env_prefix}_{NAME}`), never its value. Secrets outside `auth.*`
    /// have no place in a file and are left out, as are the name, mapping and observer.
    pub fn render(vendor: &str, config: &ConnectorConfig, env_prefix: &str) -> String {
        let quote = |v: &str| toml::Value::String(v.to_owned()).to_string();
        let mut top = vec![format!("vendor = {}", quote(vendor))];
        let mut settings = Vec::new();
        let mut auth = Vec::new();
        for (key, value) in &config.settings {
            if let Some(k) = key.strip_prefix("auth.") {
                auth.push(format!("{k} = {}", quote(value)));
            } else if key == "timeout_secs" && value.trim().parse::<u64>().is_ok() {
                top.push(format!("{key} = {}", value.trim()));
            } else if TOP_KEYS.contains(&key.as_str()) {
                top.push(format!("{key} = {}", quote(value)));
            } else {
                settings.push(format!("{key} = {}", quote(value)));
            }
        }
        for (key, _) in &config.secrets {
            if let Some(k) = key.strip_prefix("auth.") {
                let var = format!("{env_prefix}_{}", k.to_ascii_uppercase());
                auth.push(format!("{k} = {}", quote(&format!("${{{var}}}"))));
            }
        }
        let mut text = top.join("\n") + "\n";
        for (table, lines) in [("settings", settings), ("auth", auth)] {
            if !lines.is_empty() {
                text.push_str(&format!("[{table}]\n{}\n", lines.join("\n")));
            }
        }
        text
    }

    /// The file's path, as given to [`ConnectionFile::load`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory relative paths in the file are read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Advice for the operator about the file (a secret written inline rather than as
    /// `"${VAR}"` or a `*_file`), without any value. Also logged at `warn` on load.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The vendor this file connects to, as written (`vendor = "..."`).
    pub fn vendor(&self) -> &str {
        &self.keys.vendor
    }

    /// The adapter of [`ConnectionFile::vendor`] among [`connectors`]; an unknown vendor (or
    /// one whose cargo feature is off) is a `Config` error listing the available ones.
    pub fn connector(&self) -> Result<&'static dyn Connector> {
        crm_core::raw::find(&connectors(), &self.keys.vendor)
    }

    /// The file's settings as the adapter's config pairs, without secrets or the mapping file:
    /// enough for offline work (the default mapping, a webhook verifier). `[settings]` first,
    /// then the top-level keys, then `[auth]`'s plain keys as `auth.*`.
    pub fn settings_config(&self) -> ConnectorConfig {
        self.keys.settings_config(&self.dir)
    }

    /// Everything the adapter builds the connection from: [`ConnectionFile::settings_config`],
    /// the `[auth]` secrets (read from the environment or their files now) as `auth.*`
    /// secrets, the mapping file and an optional request observer.
    pub fn connector_config(
        &self,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<ConnectorConfig> {
        let mut config = self.settings_config();
        if let Some(auth) = &self.keys.auth {
            for (key, value, file) in auth.secrets() {
                if value.is_some() || file.is_some() {
                    let secret = secret_from(value, file, &self.dir, key)?;
                    config.secrets.push((format!("auth.{key}"), secret));
                }
            }
        }
        config.mapping = self.mapping_file()?;
        config.observer = observer;
        Ok(config)
    }

    /// Builds the connection the file describes, with the vendor's own pacing, retry policy
    /// and mapping. Makes no network call.
    pub fn build(&self) -> Result<Arc<dyn Crm>> {
        self.connector()?.build(&self.connector_config(None)?)
    }

    /// [`ConnectionFile::build`] with `observer` watching every attempt (a request counter, a
    /// metrics hook). The observer only watches: the connection paces exactly as
    /// [`ConnectionFile::build`]'s does.
    pub fn build_observed(&self, observer: Arc<dyn RequestObserver>) -> Result<Arc<dyn Crm>> {
        self.connector()?
            .build(&self.connector_config(Some(observer))?)
    }

    /// The connection's mapping file, loaded and checked against the adapter's targets, if the
    /// file names one.
    pub fn mapping_file(&self) -> Result<Option<MappingFile>> {
        let Some(path) = self.mapping_path() else {
            return Ok(None);
        };
        let targets = self.connector()?.mapping_targets();
        MappingFile::load(&path, targets).map(Some)
    }

    /// The path of the mapping file the connection names, if any.
    pub fn mapping_path(&self) -> Option<PathBuf> {
        self.keys.mapping.as_ref().map(|p| self.dir.join(p))
    }

    /// The webhook source this connection's CRM signs with (from `[webhook]`), and the public
    /// URL prefix the CRM calls.
    #[cfg(feature = "events")]
    pub fn webhook_source(&self) -> Result<(Box<dyn crm_core::events::WebhookSource>, String)> {
        let hook =
            self.keys.webhook.as_ref().ok_or_else(|| {
                Error::config("webhook: the connection file has no [webhook] table")
            })?;
        let secret = secret_from(
            hook.secret.as_deref(),
            hook.secret_file.as_deref(),
            &self.dir,
            "secret",
        )?;
        let base = hook.public_base.clone().unwrap_or_default();
        // The webhook verifier needs the settings (a spec), not the credential.
        let source = self
            .connector()?
            .webhook_source(&self.settings_config(), secret)?;
        Ok((source, base))
    }
}

impl Keys {
    fn settings_config(&self, dir: &Path) -> ConnectorConfig {
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

    /// One line of advice per secret written inline (neither `"${VAR}"` nor a file).
    fn inline_secrets(&self) -> Vec<String> {
        let auth = self.auth.iter().flat_map(|a| a.secrets());
        let hook = self
            .webhook
            .iter()
            .map(|h| ("secret", h.secret.as_deref(), h.secret_file.as_deref()));
        auth.chain(hook)
            .filter_map(|(key, value, _)| {
                let v = value?.trim();
                let from_env = v.starts_with("${") && v.ends_with('}');
                (!from_env)
                    .then(|| format!("{key} is written inline; prefer \"${{VAR}}\" or {key}_file"))
            })
            .collect()
    }
}

impl Auth {
    /// The secret keys of `[auth]`: name, inline value, file.
    fn secrets(&self) -> [(&'static str, Option<&str>, Option<&Path>); 3] {
        [
            ("token", self.token.as_deref(), self.token_file.as_deref()),
            (
                "client_secret",
                self.client_secret.as_deref(),
                self.client_secret_file.as_deref(),
            ),
            (
                "refresh_token",
                self.refresh_token.as_deref(),
                self.refresh_token_file.as_deref(),
            ),
        ]
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
                // Warned about at load (`ConnectionFile::warnings`), not here: a build runs
                // once per connection, the warning is for the operator who wrote the file.
                Ok(SecretString::from(t.to_owned()))
            }
        }
    }
}
