//! The connection file: which CRM to talk to and how.
//!
//! ```toml
//! vendor = "generic-rest"                 # generic-rest | hubspot | salesforce
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
//! idempotency_property = "crm_idempotency_key"   # idempotent creates: off unless set (doctor checks it)
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
//! Relative paths are read relative to the connection file's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use crm_core::ObjectKind;
use crm_core::credential::StaticCredential;
use crm_core::limits::RequestObserver;
use crm_core::mapping::{KnownFields, MappingFile, ObjectMapping};
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Crm, Error, Result};
use crm_generic_rest::{GenericRestBuilder, Spec};
use crm_hubspot::HubSpotBuilder;
use crm_salesforce::SalesforceBuilder;

use crate::bench::Counter;
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
    /// `idempotency_property`, `rate_limit` for HubSpot; `idempotency_field`, `query_batch_size`
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

    /// Builds the connection it describes. Makes no network call.
    pub(crate) fn build(&self, dir: &Path) -> Result<Box<dyn Crm>> {
        self.build_inner(dir, None)
    }

    /// Builds the connection with a request counter in front of the vendor's own limiter
    /// (the bench counts requests this way): the counter only watches, through the builder's
    /// `with_request_observer`, so the connection paces exactly as [`Connection::build`]'s does.
    pub(crate) fn build_counted(&self, dir: &Path) -> Result<(Box<dyn Crm>, Arc<Counter>)> {
        let counter = Arc::new(Counter::default());
        let crm = self.build_inner(dir, Some(counter.clone()))?;
        Ok((crm, counter))
    }

    fn build_inner(
        &self,
        dir: &Path,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<Box<dyn Crm>> {
        match self.vendor.as_str() {
            "generic-rest" if !self.settings.is_empty() => Err(Error::config(
                "settings: generic-rest connections are configured by their spec file",
            )),
            "generic-rest" => self.build_generic(dir, observer),
            "salesforce" => self.build_salesforce(dir, observer),
            "hubspot" => self.build_hubspot(dir, observer),
            other => Err(Error::config(format!(
                "vendor: `{other}` is not one of generic-rest, hubspot, salesforce"
            ))),
        }
    }

    fn build_generic(
        &self,
        dir: &Path,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<Box<dyn Crm>> {
        Ok(Box::new(self.generic_rest(dir, observer)?))
    }

    /// The generic-REST connection itself.
    pub(crate) fn generic_rest(
        &self,
        dir: &Path,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<crm_generic_rest::GenericRest> {
        let mut b = GenericRestBuilder::new();
        if let Some(o) = observer {
            b = b.with_request_observer(o);
        }
        if let Some(file) = self.mapping_file(dir)? {
            b = b.with_mapping_file(file);
        }
        if let Some(spec) = &self.spec {
            b = b.with_spec_file(dir.join(spec));
        }
        if let Some(url) = &self.base_url {
            b = b.with_base_url(url.clone());
        }
        if let Some(ca) = &self.ca_file {
            b = b.with_ca_file(dir.join(ca));
        }
        if let Some(secs) = self.timeout_secs {
            b = b.with_timeout(Duration::from_secs(secs));
        }
        if let Some(auth) = &self.auth {
            if let Some(header) = &auth.header
                && auth.kind != "api_key"
            {
                return Err(Error::config(format!(
                    "auth.header `{header}` is only used with kind = \"api_key\""
                )));
            }
            match auth.kind.as_str() {
                "none" => b = b.with_credentials(Arc::new(StaticCredential::none())),
                "bearer" | "api_key" => b = b.with_token(secret(auth, dir)?),
                other => {
                    return Err(Error::config(format!(
                        "auth.kind: `{other}` is not supported here (none, bearer, api_key)"
                    )));
                }
            }
        }
        b.build()
    }
}

/// What the CLI knows about one adapter's mappings.
pub(crate) struct AdapterMapping {
    /// The object tables a mapping file may hold, and the kind each maps.
    pub(crate) targets: &'static [(&'static str, ObjectKind)],
    /// Where the default mapping comes from, for people.
    pub(crate) defaults_from: &'static str,
    /// The adapter's default mapping for a connection: its shipped `mapping.toml` (generic
    /// REST: the connection's spec's object tables).
    pub(crate) defaults: fn(&Connection, &Path) -> Result<MappingTables>,
    /// The adapter's list of known vendor fields, for offline checks (generic REST has none:
    /// a spec names only the fields it renames).
    pub(crate) known_fields: Option<fn() -> Result<KnownFields>>,
}

/// Mapping tables by target name.
pub(crate) type MappingTables = std::collections::BTreeMap<String, ObjectMapping>;

/// The mapping facts of the adapter for `vendor`.
pub(crate) fn adapter_mapping(vendor: &str) -> AdapterMapping {
    match vendor {
        "hubspot" => AdapterMapping {
            targets: crm_hubspot::MAPPING_TARGETS,
            defaults_from: "crm-hubspot/mapping.toml",
            defaults: |_, _| crm_hubspot::default_mapping(),
            known_fields: Some(crm_hubspot::known_fields),
        },
        "salesforce" => AdapterMapping {
            targets: crm_salesforce::MAPPING_TARGETS,
            defaults_from: "crm-salesforce/mapping.toml",
            defaults: |_, _| crm_salesforce::default_mapping(),
            known_fields: Some(crm_salesforce::known_fields),
        },
        _ => AdapterMapping {
            targets: crm_generic_rest::MAPPING_TARGETS,
            defaults_from: "the spec's object tables",
            defaults: |conn, dir| conn.spec(dir).map(|s| s.default_mapping()),
            known_fields: None,
        },
    }
}

impl Connection {
    /// The vendor this file connects to.
    pub(crate) fn vendor(&self) -> &str {
        &self.vendor
    }

    /// The connection's mapping file, loaded and validated, if it names one.
    pub(crate) fn mapping_file(&self, dir: &Path) -> Result<Option<MappingFile>> {
        self.mapping
            .as_ref()
            .map(|p| MappingFile::load(&dir.join(p), adapter_mapping(&self.vendor).targets))
            .transpose()
    }

    /// The path of the mapping file the connection names, if any.
    pub(crate) fn mapping_path(&self, dir: &Path) -> Option<PathBuf> {
        self.mapping.as_ref().map(|p| dir.join(p))
    }

    /// The generic-REST spec the connection names (the default spec without one).
    pub(crate) fn spec(&self, dir: &Path) -> Result<Spec> {
        match &self.spec {
            Some(path) => Spec::from_file(&dir.join(path)),
            None => Spec::default_spec(),
        }
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
        match self.vendor.as_str() {
            "generic-rest" => {
                let spec = match &self.spec {
                    Some(path) => Spec::from_file(&dir.join(path))?,
                    None => Spec::default_spec()?,
                };
                let source =
                    crm_generic_rest::GenericWebhook::new(&spec, secret, spec.name.clone())?;
                Ok((Box::new(source), base))
            }
            "hubspot" => Ok((
                Box::new(crm_hubspot::HubSpotWebhook::new(secret, "hubspot")?),
                base,
            )),
            other => Err(Error::config(format!(
                "webhook: no webhook verifier for vendor `{other}` yet"
            ))),
        }
    }

    fn build_hubspot(
        &self,
        dir: &Path,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<Box<dyn Crm>> {
        Ok(Box::new(self.hubspot(dir, observer)?))
    }

    /// The HubSpot connection itself.
    pub(crate) fn hubspot(
        &self,
        dir: &Path,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<crm_hubspot::HubSpot> {
        if self.spec.is_some() || self.login_url.is_some() {
            return Err(Error::config(
                "hubspot connections take base_url, not spec or login_url",
            ));
        }
        let mut b = HubSpotBuilder::new();
        for (k, v) in &self.settings {
            b = b.with_config(k, v);
        }
        if let Some(file) = self.mapping_file(dir)? {
            b = b.with_mapping_file(file);
        }
        if let Some(o) = observer {
            b = b.with_request_observer(o);
        }
        if let Some(url) = &self.base_url {
            b = b.with_base_url(url.clone());
        }
        if let Some(ca) = &self.ca_file {
            b = b.with_ca_file(dir.join(ca));
        }
        if let Some(secs) = self.timeout_secs {
            b = b.with_timeout(Duration::from_secs(secs));
        }
        let auth = self
            .auth
            .as_ref()
            .ok_or_else(|| Error::config("auth: a hubspot connection needs an [auth] table"))?;
        b = match auth.kind.as_str() {
            "bearer" => b.with_token(secret(auth, dir)?),
            "oauth_refresh" => {
                let id = auth
                    .client_id
                    .clone()
                    .ok_or_else(|| Error::config("auth.client_id is required"))?;
                let secret = secret_from(
                    auth.client_secret.as_deref(),
                    auth.client_secret_file.as_deref(),
                    dir,
                    "client_secret",
                )?;
                let refresh = secret_from(
                    auth.refresh_token.as_deref(),
                    auth.refresh_token_file.as_deref(),
                    dir,
                    "refresh_token",
                )?;
                b.with_oauth(id, secret, refresh)
            }
            other => {
                return Err(Error::config(format!(
                    "auth.kind: `{other}` is not one of bearer (private app), oauth_refresh"
                )));
            }
        };
        b.build()
    }

    fn build_salesforce(
        &self,
        dir: &Path,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<Box<dyn Crm>> {
        Ok(Box::new(self.salesforce(dir, observer)?))
    }

    /// The Salesforce connection itself.
    pub(crate) fn salesforce(
        &self,
        dir: &Path,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<crm_salesforce::Salesforce> {
        if self.spec.is_some() || self.base_url.is_some() {
            return Err(Error::config(
                "salesforce connections take login_url (and optionally instance_url), not base_url or spec",
            ));
        }
        let mut b = SalesforceBuilder::new();
        for (k, v) in &self.settings {
            b = b.with_config(k, v.clone());
        }
        if let Some(file) = self.mapping_file(dir)? {
            b = b.with_mapping_file(file);
        }
        if let Some(o) = observer {
            b = b.with_request_observer(o);
        }
        if let Some(v) = &self.login_url {
            b = b.with_login_url(v.clone());
        }
        if let Some(v) = &self.instance_url {
            b = b.with_instance_url(v.clone());
        }
        if let Some(v) = &self.api_version {
            b = b.with_api_version(v.clone());
        }
        if let Some(ca) = &self.ca_file {
            b = b.with_ca_file(dir.join(ca));
        }
        if let Some(secs) = self.timeout_secs {
            b = b.with_timeout(Duration::from_secs(secs));
        }
        let auth = self
            .auth
            .as_ref()
            .ok_or_else(|| Error::config("auth: a salesforce connection needs an [auth] table"))?;
        let client_id = || {
            auth.client_id
                .clone()
                .ok_or_else(|| Error::config("auth.client_id is required"))
        };
        let optional_secret =
            |value: &Option<String>, file: &Option<PathBuf>, key: &str| match (value, file) {
                (None, None) => Ok(None),
                (v, f) => secret_from(v.as_deref(), f.as_deref(), dir, key).map(Some),
            };
        let client_secret = optional_secret(
            &auth.client_secret,
            &auth.client_secret_file,
            "client_secret",
        )?;
        b = match auth.kind.as_str() {
            "oauth_refresh" => {
                let refresh = optional_secret(
                    &auth.refresh_token,
                    &auth.refresh_token_file,
                    "refresh_token",
                )?
                .ok_or_else(|| Error::config("auth.refresh_token is required"))?;
                b.with_refresh_token(client_id()?, client_secret, refresh)
            }
            "client_credentials" => {
                let secret =
                    client_secret.ok_or_else(|| Error::config("auth.client_secret is required"))?;
                b.with_client_credentials(client_id()?, secret)
            }
            "jwt_bearer" => {
                let username = auth
                    .username
                    .clone()
                    .ok_or_else(|| Error::config("auth.username is required"))?;
                let key_file = auth
                    .private_key_file
                    .as_ref()
                    .ok_or_else(|| Error::config("auth.private_key_file is required"))?;
                let pem = std::fs::read_to_string(dir.join(key_file)).map_err(|e| {
                    Error::config(format!("auth.private_key_file: cannot read it: {e}"))
                })?;
                let mut b = b.with_jwt_bearer(client_id()?, username, SecretString::from(pem));
                if let Some(aud) = &auth.jwt_audience {
                    b = b.with_jwt_audience(aud.clone());
                }
                b
            }
            "bearer" => {
                let instance = self.instance_url.clone().ok_or_else(|| {
                    Error::config("instance_url is required with auth.kind = \"bearer\"")
                })?;
                b.with_access_token(secret(auth, dir)?, instance)
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

/// The token: `${VAR}` from the environment, `token_file`, or (discouraged) inline.
fn secret(auth: &Auth, dir: &Path) -> Result<SecretString> {
    secret_from(
        auth.token.as_deref(),
        auth.token_file.as_deref(),
        dir,
        "token",
    )
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
            conn.hubspot(&d, None).unwrap();
        }
        let p = hubspot_file(
            dir.path(),
            "http://127.0.0.1:9",
            "pat-na1-x",
            "rate_limit = \"fast\"",
        );
        let (conn, d) = Connection::load(&p).unwrap();
        let err = conn.hubspot(&d, None).unwrap_err();
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
