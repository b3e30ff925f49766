//! The options every adapter's builder takes, whatever the vendor: the connection's name,
//! where audit records go, the credential provider, the retry policy, the rate limiter and a
//! request observer, extra root CAs, the per-attempt timeout, and a mapping file.
//!
//! An adapter's builder holds one [`ConnectionOptions`] and gets the setters for it from
//! [`connection_options!`](crate::connection_options), so the setters are written once, and
//! read the same (names, arguments, meaning) on every adapter. Building, the adapter hands its
//! own pieces (its default limiter, its error parser, its default mapping) to the methods
//! here, which apply the options in the one order every adapter uses.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditSink, TracingAudit};
use crate::credential::CredentialProvider;
use crate::error::{Error, Result};
use crate::limits::{Observed, RateLimiter, RequestObserver};
use crate::mapping::{MappingFile, ObjectMapping};
use crate::raw::http::HttpClientBuilder;
use crate::raw::{Backend, Connection, ConnectorConfig, Mappings, Target};
use crate::retry::RetryPolicy;

/// The options shared by every adapter's builder; each `None` or empty one means "the
/// adapter's default", which the adapter's docs name.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct ConnectionOptions {
    /// The connection's name in audit records and logs.
    pub connection_name: Option<String>,
    /// Where audit records go (default: [`TracingAudit`]).
    pub audit: Option<Arc<dyn AuditSink>>,
    /// A credential provider replacing the adapter's own token settings.
    pub credentials: Option<Arc<dyn CredentialProvider>>,
    /// The retry policy (default: [`RetryPolicy::default`]).
    pub retry: Option<RetryPolicy>,
    /// The rate limiter, replacing the adapter's own pacing.
    pub limiter: Option<Arc<dyn RateLimiter>>,
    /// Sees every request and response, in front of the limiter (which stays in place).
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Extra root CAs (PEM files) to trust.
    pub ca_files: Vec<PathBuf>,
    /// The per-attempt timeout (default: the transport's 30 s).
    pub timeout: Option<Duration>,
    /// A mapping file laid over the adapter's default mapping.
    pub mapping_file: Option<MappingFile>,
}

impl fmt::Debug for ConnectionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionOptions")
            .field("connection_name", &self.connection_name)
            .field("credentials", &self.credentials)
            .field("retry", &self.retry)
            .field("ca_files", &self.ca_files)
            .field("timeout", &self.timeout)
            .field(
                "mapping_file",
                &self.mapping_file.as_ref().map(|m| &m.origin),
            )
            .finish_non_exhaustive()
    }
}

impl ConnectionOptions {
    /// Takes the options a connection file gives every adapter alike from `config`: the
    /// connection's name (the file's, or the setting `connection_name`), the audit sink, the
    /// request observer, the mapping file, `ca_file` (resolved against the file's directory)
    /// and `timeout_secs`. The adapter reads its own settings and the credential itself.
    pub fn read_connector_config(&mut self, config: &ConnectorConfig) -> Result<()> {
        let name = config.connection_name.as_deref();
        if let Some(name) = name.or(config.setting("connection_name")) {
            self.connection_name = Some(name.to_owned());
        }
        if let Some(audit) = &config.audit {
            self.audit = Some(audit.clone());
        }
        if let Some(observer) = &config.observer {
            self.observer = Some(observer.clone());
        }
        if let Some(file) = &config.mapping {
            self.mapping_file = Some(file.clone());
        }
        if let Some(ca) = config.setting("ca_file") {
            self.ca_files.push(config.path(ca));
        }
        if let Some(secs) = config.setting("timeout_secs") {
            let secs: u64 = secs.trim().parse().map_err(|_| {
                Error::config(format!("timeout_secs: `{secs}` is not a whole number"))
            })?;
            self.timeout = Some(Duration::from_secs(secs));
        }
        Ok(())
    }

    /// `limiter` with the observer in front, if one was given: observing never replaces the
    /// pacing.
    pub fn observed(&self, limiter: Option<Arc<dyn RateLimiter>>) -> Option<Arc<dyn RateLimiter>> {
        Observed::layer(limiter, self.observer.as_ref())
    }

    /// The limiter every request of the connection draws from: the one given, or else the
    /// adapter's `own` (made only when none was given), with the observer in front.
    pub fn limiter(
        &self,
        own: impl FnOnce() -> Option<Arc<dyn RateLimiter>>,
    ) -> Option<Arc<dyn RateLimiter>> {
        self.observed(self.limiter.clone().or_else(own))
    }

    /// `http` with the transport options applied: the extra root CAs, the timeout and the
    /// retry policy. The limiter is the adapter's to give (see [`ConnectionOptions::limiter`]),
    /// since a token endpoint may draw from it too.
    pub fn transport(&self, mut http: HttpClientBuilder) -> HttpClientBuilder {
        for ca in &self.ca_files {
            http = http.with_root_ca_file(ca.clone());
        }
        if let Some(t) = self.timeout {
            http = http.with_timeout(t);
        }
        if let Some(r) = &self.retry {
            http = http.with_retry(r.clone());
        }
        http
    }

    /// The connection's mappings: the adapter's `defaults` for `targets` with the mapping
    /// file laid over them; `owner` names the defaults in errors ("the HubSpot adapter").
    pub fn mappings(
        &self,
        owner: impl Into<String>,
        targets: &'static [Target],
        defaults: std::collections::BTreeMap<&'static str, ObjectMapping>,
    ) -> Result<Arc<Mappings>> {
        Mappings::new(owner, targets, defaults, self.mapping_file.as_ref()).map(Arc::new)
    }

    /// The connection over `backend`, named as given or else `default_name`, auditing to the
    /// sink given or else [`TracingAudit`].
    pub fn connect<B: Backend>(
        &self,
        backend: B,
        mappings: Arc<Mappings>,
        default_name: impl Into<String>,
    ) -> Connection<B> {
        let name = match &self.connection_name {
            Some(name) => name.clone(),
            None => default_name.into(),
        };
        let audit = self.audit.clone().unwrap_or_else(|| Arc::new(TracingAudit));
        Connection::new(Arc::new(backend), mappings, name, audit)
    }
}

/// Writes the setters of [`ConnectionOptions`] on an adapter's builder, so each adapter has
/// them with the same names, arguments and meaning, written once.
///
/// `connection_options!(MyBuilder)` implements, on a builder with a field
/// `options: ConnectionOptions` (or `connection_options!(MyBuilder, field)` for another field
/// name): `with_connection_name`, `with_audit_sink`, `with_credentials`, `with_retry`,
/// `with_limiter`, `with_request_observer`, `with_ca_file`, `with_timeout` and
/// `with_mapping_file`. What the defaults are is the adapter's to say in its docs.
///
/// ```
/// use crm_core::raw::ConnectionOptions;
///
/// #[derive(Default)]
/// pub struct AcmeBuilder {
///     options: ConnectionOptions,
/// }
/// crm_core::connection_options!(AcmeBuilder);
///
/// let b = AcmeBuilder::default()
///     .with_connection_name("acme-eu")
///     .with_timeout(std::time::Duration::from_secs(5));
/// assert_eq!(b.options.connection_name.as_deref(), Some("acme-eu"));
/// ```
#[macro_export]
macro_rules! connection_options {
    ($builder:ty) => {
        $crate::connection_options!($builder, options);
    };
    ($builder:ty, $field:ident) => {
        impl $builder {
            /// The connection's name in audit records and logs (a tenant's CRM). Default: the
            /// adapter's (see its docs).
            pub fn with_connection_name(mut self, name: impl Into<String>) -> Self {
                self.$field.connection_name = Some(name.into());
                self
            }

            /// Where audit records of writes go. Default: `crm_core::audit::TracingAudit`.
            pub fn with_audit_sink(
                mut self,
                sink: ::std::sync::Arc<dyn $crate::audit::AuditSink>,
            ) -> Self {
                self.$field.audit = Some(sink);
                self
            }

            /// A credential provider (token rotation, OAuth); it replaces the token settings.
            pub fn with_credentials(
                mut self,
                provider: ::std::sync::Arc<dyn $crate::credential::CredentialProvider>,
            ) -> Self {
                self.$field.credentials = Some(provider);
                self
            }

            /// The retry policy. Default: `crm_core::retry::RetryPolicy::default()`.
            pub fn with_retry(mut self, retry: $crate::retry::RetryPolicy) -> Self {
                self.$field.retry = Some(retry);
                self
            }

            /// The rate limiter every request draws from, in place of the adapter's own pacing
            /// (see its docs for the buckets it tags requests with). Share one per vendor
            /// account. To count or watch requests, give `with_request_observer` instead.
            pub fn with_limiter(
                mut self,
                limiter: ::std::sync::Arc<dyn $crate::limits::RateLimiter>,
            ) -> Self {
                self.$field.limiter = Some(limiter);
                self
            }

            /// Shows every request and response to `observer` (a request counter, metrics),
            /// in front of the limiter the connection uses anyway: observing never replaces
            /// the pacing, and a request the limiter refuses is never sent, so never shown.
            pub fn with_request_observer(
                mut self,
                observer: ::std::sync::Arc<dyn $crate::limits::RequestObserver>,
            ) -> Self {
                self.$field.observer = Some(observer);
                self
            }

            /// Trusts an extra root CA (a PEM file; the connection file's `ca_file`).
            pub fn with_ca_file(mut self, path: impl Into<::std::path::PathBuf>) -> Self {
                self.$field.ca_files.push(path.into());
                self
            }

            /// The per-attempt timeout. Default 30 s.
            pub fn with_timeout(mut self, timeout: ::std::time::Duration) -> Self {
                self.$field.timeout = Some(timeout);
                self
            }

            /// Lays an admin's mapping file over the default mapping (load it with the
            /// adapter's `MAPPING_TARGETS`). Its `version@hash` goes into every audit record;
            /// `Connection::set_mapping_file` swaps it at run time.
            pub fn with_mapping_file(mut self, file: $crate::mapping::MappingFile) -> Self {
                self.$field.mapping_file = Some(file);
                self
            }
        }
    };
}

#[cfg(test)]
#[allow(unreachable_pub)] // the setters are `pub`, as on an adapter's public builder
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[derive(Default)]
    struct Builder {
        options: ConnectionOptions,
    }
    crate::connection_options!(Builder);

    #[derive(Debug)]
    struct Watch;

    impl RequestObserver for Watch {
        fn on_send(&self, _: crate::limits::Bucket) {}
        fn on_response(&self, _: crate::limits::Bucket, _: u16, _: &http::HeaderMap) {}
    }

    #[test]
    fn connection_options_setters_fill_the_options() {
        let observer: Arc<dyn RequestObserver> = Arc::new(Watch);
        let file = MappingFile::parse("version = \"1\"\n", "inline", &[]).unwrap();
        let b = Builder::default()
            .with_connection_name("eu")
            .with_audit_sink(Arc::new(TracingAudit))
            .with_credentials(Arc::new(crate::credential::StaticCredential::none()))
            .with_limiter(Arc::new(crate::limits::Unlimited))
            .with_request_observer(observer)
            .with_mapping_file(file)
            .with_ca_file("/etc/ca.pem")
            .with_ca_file("/etc/ca2.pem")
            .with_timeout(Duration::from_secs(7))
            .with_retry(RetryPolicy::default());
        assert_eq!(b.options.connection_name.as_deref(), Some("eu"));
        assert_eq!(b.options.ca_files.len(), 2);
        assert_eq!(b.options.timeout, Some(Duration::from_secs(7)));
        assert!(b.options.retry.is_some());
        let o = &b.options;
        assert!(o.audit.is_some() && o.credentials.is_some() && o.mapping_file.is_some());
        assert!(o.limiter(|| None).is_some(), "the given limiter, observed");
    }

    #[test]
    fn connection_options_read_the_shared_keys_of_a_connection_file() {
        let config = ConnectorConfig::new("/srv/crm")
            .with_setting("connection_name", "tenant-7")
            .with_setting("ca_file", "ca.pem")
            .with_setting("timeout_secs", "12");
        let mut o = ConnectionOptions::default();
        o.read_connector_config(&config).unwrap();
        assert_eq!(o.connection_name.as_deref(), Some("tenant-7"));
        assert_eq!(o.ca_files, [PathBuf::from("/srv/crm/ca.pem")]);
        assert_eq!(o.timeout, Some(Duration::from_secs(12)));
        let bad = ConnectorConfig::new(".").with_setting("timeout_secs", "soon");
        let err = ConnectionOptions::default()
            .read_connector_config(&bad)
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config);
        assert!(err.message().starts_with("timeout_secs:"), "{err}");
    }
}
