//! The connector registry's entry for one adapter: what a tool (the `crm-connect` CLI, a
//! tenant registry) needs to build and check a connection of a vendor it knows only by name.
//!
//! Each adapter exports `connector() -> &'static dyn Connector`; a registry is a slice of them,
//! found by [`Connector::name`] (see [`find`]). The registry never branches on a vendor name:
//! whatever differs between vendors — which settings exist, how the credential is made, what
//! the schema check asks the CRM — lives in the adapter's implementation of this trait.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::audit::AuditSink;
use crate::error::{Error, Result};
use crate::limits::RequestObserver;
use crate::mapping::{KnownFields, MappingFile, ObjectMapping};
use crate::raw::checks::{Advice, SetupCheck, TableCheck};
use crate::raw::{Backend, Connection, Target};
use crate::{Capabilities, Crm};

/// The keys every connection takes, whatever the vendor, read by
/// [`crate::raw::ConnectionOptions::read_connector_config`]: the connection's name, a CA
/// certificate file to trust and the request timeout. [`ConnectorConfig::check_keys`] accepts
/// them for every adapter, and [`ConnectorConfig::vendor_settings`] leaves them out.
pub const SHARED_KEYS: &[&str] = &["connection_name", "ca_file", "timeout_secs"];

/// What a connector builds a connection from: settings as text pairs, secrets apart, and the
/// context a configuration file gives (its directory, a mapping file, the connection's name).
///
/// Setting keys are the adapter's own (`base_url`, `idempotency_field`, …); the credential
/// is described by `auth.*` keys (`auth.kind`, `auth.client_id`) and `auth.*` secrets
/// (`auth.token`, `auth.client_secret`, `auth.refresh_token`). Secrets never appear in
/// `Debug`.
#[derive(Default, Clone)]
#[non_exhaustive]
pub struct ConnectorConfig {
    /// The connection's name in audit records and logs; the adapter's default without one.
    pub connection_name: Option<String>,
    /// The directory relative paths (`ca_file`, `spec`, `auth.private_key_file`) resolve
    /// against: a configuration file's own directory.
    pub dir: PathBuf,
    /// The settings, in order; a later pair overrides an earlier one with the same key.
    pub settings: Vec<(String, String)>,
    /// The secrets (`auth.token`…), already read from wherever the file keeps them.
    pub secrets: Vec<(String, SecretString)>,
    /// A mapping file laid over the adapter's default mapping (loaded with the connector's
    /// [`Connector::mapping_targets`]).
    pub mapping: Option<MappingFile>,
    /// Watches every request the connection sends (a benchmark counts them), in front of the
    /// adapter's own limiter, which stays in place.
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Where audit records go; the adapter's default without one.
    pub audit: Option<Arc<dyn AuditSink>>,
}

impl fmt::Debug for ConnectorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secrets: Vec<&str> = self.secrets.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ConnectorConfig")
            .field("connection_name", &self.connection_name)
            .field("dir", &self.dir)
            .field("settings", &self.settings)
            .field("secrets", &secrets)
            .field("mapping", &self.mapping.as_ref().map(|m| &m.origin))
            .finish_non_exhaustive()
    }
}

impl ConnectorConfig {
    /// A configuration whose relative paths resolve against `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            ..Self::default()
        }
    }

    /// Adds a setting.
    pub fn with_setting(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// Adds a secret.
    pub fn with_secret(mut self, key: impl Into<String>, value: SecretString) -> Self {
        self.secrets.push((key.into(), value));
        self
    }

    /// The value of setting `key` (the last one given).
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The secret `key` (the last one given).
    pub fn secret(&self, key: &str) -> Option<&SecretString> {
        self.secrets
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The secret `key`, or a `Config` error saying it is required.
    pub fn require_secret(&self, key: &str) -> Result<SecretString> {
        self.secret(key)
            .cloned()
            .ok_or_else(|| Error::config(format!("{key} is required")))
    }

    /// The setting `key`, or a `Config` error saying it is required.
    pub fn require(&self, key: &str) -> Result<&str> {
        self.setting(key)
            .ok_or_else(|| Error::config(format!("{key} is required")))
    }

    /// `path` resolved against [`ConnectorConfig::dir`] (an absolute path stays as it is).
    pub fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        self.dir.join(path)
    }

    /// Fails with a `Config` error naming the first setting or secret whose key is neither in
    /// `accepted` nor one of the [`SHARED_KEYS`], and listing the keys `vendor` accepts, so a
    /// typo is caught before any request is sent.
    pub fn check_keys(&self, vendor: &str, accepted: &[&str]) -> Result<()> {
        let keys = self
            .settings
            .iter()
            .map(|(k, _)| k)
            .chain(self.secrets.iter().map(|(k, _)| k));
        for key in keys {
            let key = key.as_str();
            if !accepted.contains(&key) && !SHARED_KEYS.contains(&key) {
                let all: Vec<&str> = accepted.iter().chain(SHARED_KEYS).copied().collect();
                return Err(Error::config(format!(
                    "{key}: not a {vendor} setting; {vendor} connections take {}",
                    all.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The settings that are the adapter's own, in order: every pair but the [`SHARED_KEYS`]
    /// (the connection options read them) and the credential's `auth.*` keys (the connector
    /// makes the credential from them), for an adapter's `with_config(key, value)`.
    pub fn vendor_settings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| !k.starts_with("auth.") && !SHARED_KEYS.contains(k))
    }
}

/// What an adapter's crate declares about itself as constants: its name, its mapping tables,
/// its shipped default mapping and the vendor's standard fields. A connector hands them to
/// the registry through [`Connector::facts`], and the trait's default methods answer from them.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AdapterFacts {
    /// The vendor name (`hubspot`).
    pub name: &'static str,
    /// The tables a mapping file may hold, and the kind each maps.
    pub mapping_targets: &'static [Target],
    /// The default mapping, in core's mapping format (the adapter's `mapping.toml`).
    pub default_mapping: &'static str,
    /// Where [`AdapterFacts::default_mapping`] comes from, for people (`crm-hubspot/mapping.toml`).
    pub default_mapping_source: &'static str,
    /// The vendor's standard fields per table (`known_fields.toml`) and where they come from;
    /// `None` when the adapter cannot know them.
    pub known_fields: Option<(&'static str, &'static str)>,
}

impl AdapterFacts {
    /// The facts of adapter `name`, with no standard fields known.
    pub const fn new(
        name: &'static str,
        mapping_targets: &'static [Target],
        default_mapping: &'static str,
        default_mapping_source: &'static str,
    ) -> Self {
        Self {
            name,
            mapping_targets,
            default_mapping,
            default_mapping_source,
            known_fields: None,
        }
    }

    /// The same facts with the vendor's standard fields (`known_fields.toml`) from `source`.
    pub const fn with_known_fields(mut self, text: &'static str, source: &'static str) -> Self {
        self.known_fields = Some((text, source));
        self
    }

    /// The default mapping's tables, read by core's loader.
    pub fn default_mapping(&self) -> Result<BTreeMap<String, ObjectMapping>> {
        MappingFile::defaults(
            self.default_mapping,
            self.default_mapping_source,
            self.mapping_targets,
        )
    }

    /// The vendor's standard fields, parsed.
    pub fn known_fields(&self) -> Result<Option<KnownFields>> {
        self.known_fields
            .map(|(text, source)| KnownFields::parse(text, source))
            .transpose()
    }
}

/// One adapter, as a registry sees it: its name, its mapping facts, how to build a connection
/// from a [`ConnectorConfig`], and the checks `crm-connect doctor` and `mapping check --live`
/// run. Object-safe: a registry holds `&'static dyn Connector`s.
#[async_trait]
pub trait Connector: Send + Sync + fmt::Debug {
    /// The adapter's constants, which the default methods below answer from.
    fn facts(&self) -> &'static AdapterFacts;

    /// The vendor name, as connection files and [`Crm::vendor`] give it (`hubspot`).
    fn name(&self) -> &'static str {
        self.facts().name
    }

    /// The tables a mapping file may hold, and the kind each maps.
    fn mapping_targets(&self) -> &'static [Target] {
        self.facts().mapping_targets
    }

    /// Where the default mapping comes from, for people (`crm-hubspot/mapping.toml`).
    fn default_mapping_source(&self) -> &'static str {
        self.facts().default_mapping_source
    }

    /// The default mapping of a connection `config` describes, per table. The default: the
    /// adapter's shipped one, whatever the configuration.
    fn default_mapping(&self, config: &ConnectorConfig) -> Result<BTreeMap<String, ObjectMapping>> {
        let _ = config;
        self.facts().default_mapping()
    }

    /// The vendor's standard fields per table, for checking a mapping file offline; `None`
    /// when the adapter cannot know them (a generic REST CRM's fields are its own).
    fn known_fields(&self) -> Result<Option<KnownFields>> {
        self.facts().known_fields()
    }

    /// Builds the connection `config` describes, with its schema checks. Makes no network
    /// call. An unknown key is a `Config` error naming it and the accepted keys. An adapter
    /// writes this one method (its `Connection<ItsBackend>` is a [`LiveConnection`]); the
    /// registry's other calls go through it.
    fn connect(&self, config: &ConnectorConfig) -> Result<Arc<dyn LiveConnection>>;

    /// The connection `config` describes, as the bot uses it. Makes no network call.
    fn build(&self, config: &ConnectorConfig) -> Result<Arc<dyn Crm>> {
        let live: Arc<dyn Crm> = self.connect(config)?;
        Ok(live)
    }

    /// Checks through the CRM's schema API that what the settings name exists (one request
    /// per object involved), on a connection of its own; [`LiveConnection::check_setup`] runs
    /// it on one already built.
    async fn check_setup(&self, config: &ConnectorConfig) -> Result<Vec<SetupCheck>> {
        self.connect(config)?.check_setup().await
    }

    /// How to make creates idempotent where they are not, for a warning line.
    fn idempotency_advice(&self) -> &'static str {
        "off: the adapter has no idempotency setting; the outbox will not retry a create that \
         may have reached the CRM"
    }

    /// Features this connection has off that a bot usually wants, and how to turn them on.
    fn advice(&self, capabilities: &Capabilities) -> Vec<Advice> {
        let _ = capabilities;
        Vec::new()
    }

    /// Checks each mapping table against the CRM's live schema, on a connection of its own.
    async fn check_mapping_live(
        &self,
        config: &ConnectorConfig,
        tables: &BTreeMap<String, ObjectMapping>,
    ) -> Result<Vec<(String, TableCheck)>> {
        self.connect(config)?.check_tables(tables).await
    }

    /// The verifier of the webhooks the CRM signs with `secret`. The default: none.
    #[cfg(feature = "events")]
    fn webhook_source(
        &self,
        config: &ConnectorConfig,
        secret: SecretString,
    ) -> Result<Box<dyn crate::events::WebhookSource>> {
        let _ = (config, secret);
        Err(Error::config(format!(
            "webhook: no webhook verifier for vendor `{}` yet",
            self.name()
        )))
    }
}

/// A connection a [`Connector`] built: the bot's [`Crm`], and the checks `crm-connect doctor`
/// and `mapping check --live` run on it through the backend's schema hooks.
#[async_trait]
pub trait LiveConnection: Crm {
    /// [`Backend::check_setup`]: whether what the settings name exists in the CRM's schema.
    async fn check_setup(&self) -> Result<Vec<SetupCheck>>;

    /// [`Backend::check_table`] for each table, in order; a target the adapter does not know
    /// is a `Config` error naming it.
    async fn check_tables(
        &self,
        tables: &BTreeMap<String, ObjectMapping>,
    ) -> Result<Vec<(String, TableCheck)>>;
}

#[async_trait]
impl<B: Backend> LiveConnection for Connection<B> {
    async fn check_setup(&self) -> Result<Vec<SetupCheck>> {
        self.backend().check_setup().await
    }

    async fn check_tables(
        &self,
        tables: &BTreeMap<String, ObjectMapping>,
    ) -> Result<Vec<(String, TableCheck)>> {
        let mut out = Vec::with_capacity(tables.len());
        for (target, mapping) in tables {
            let known = self.mappings().target(target)?;
            out.push((
                target.clone(),
                self.backend().check_table(known, mapping).await?,
            ));
        }
        Ok(out)
    }
}

/// The connector named `name` in `registry`; an unknown name is a `Config` error listing the
/// registered ones.
pub fn find(registry: &[&'static dyn Connector], name: &str) -> Result<&'static dyn Connector> {
    registry
        .iter()
        .copied()
        .find(|c| c.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = registry.iter().map(|c| c.name()).collect();
            Error::config(format!(
                "vendor: `{name}` is not one of {}",
                names.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, ObjectKind};

    #[derive(Debug)]
    struct Fake;

    static FACTS: AdapterFacts =
        AdapterFacts::new("fake", &[("contact", ObjectKind::Contact)], "", "none");

    impl Connector for Fake {
        fn facts(&self) -> &'static AdapterFacts {
            &FACTS
        }
        fn connect(&self, config: &ConnectorConfig) -> Result<Arc<dyn LiveConnection>> {
            config.check_keys("fake", &["base_url"])?;
            Err(Error::config("not buildable"))
        }
    }

    static FAKE: Fake = Fake;

    #[test]
    fn an_unknown_vendor_lists_the_registered_names() {
        let registry: [&'static dyn Connector; 1] = [&FAKE];
        assert_eq!(find(&registry, "fake").unwrap().name(), "fake");
        let err = find(&registry, "zoho").unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config);
        assert!(err.message().contains("`zoho`"), "{err}");
        assert!(err.message().contains("fake"), "{err}");
    }

    #[test]
    fn connector_defaults_answer_from_the_adapter_facts() {
        assert_eq!(FAKE.name(), "fake");
        assert_eq!(FAKE.mapping_targets().len(), 1);
        assert_eq!(FAKE.default_mapping_source(), "none");
        assert!(FAKE.known_fields().unwrap().is_none());
        let known = "vendor = \"Fake\"\nsource = \"inline\"\n[tables]\ncontact = [\"email\"]\n";
        let facts = FACTS.with_known_fields(known, "inline");
        assert!(facts.known_fields().unwrap().is_some());
    }

    #[test]
    fn an_unknown_key_is_named_with_the_accepted_keys_and_secrets_stay_out_of_debug() {
        let config = ConnectorConfig::new("/tmp")
            .with_setting("base_ulr", "x")
            .with_secret("auth.token", SecretString::from("s3cr3t".to_owned()));
        let err = FAKE.build(&config).unwrap_err();
        assert!(err.message().starts_with("base_ulr:"), "{err}");
        assert!(err.message().contains("base_url"), "{err}");
        assert!(!format!("{config:?}").contains("s3cr3t"));
        assert!(config.secret("auth.token").is_some());
        assert_eq!(config.setting("base_ulr"), Some("x"));
    }

    #[test]
    fn shared_keys_are_accepted_everywhere_and_left_out_of_vendor_settings() {
        let config = ConnectorConfig::new("/tmp")
            .with_setting("connection_name", "acme")
            .with_setting("timeout_secs", "5")
            .with_setting("base_url", "http://127.0.0.1:9")
            .with_setting("auth.kind", "bearer");
        config
            .check_keys("fake", &["base_url", "auth.kind"])
            .unwrap();
        let own: Vec<_> = config.vendor_settings().collect();
        assert_eq!(own, vec![("base_url", "http://127.0.0.1:9")]);
        let err = config.check_keys("fake", &["auth.kind"]).unwrap_err();
        assert!(
            err.message().contains("auth.kind, connection_name"),
            "{err}"
        );
    }
}
