//! The connection file: which CRM to talk to and how.
//!
//! ```toml
//! vendor = "generic-rest"                 # generic-rest (hubspot and salesforce: their own issues)
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
//! Relative paths are read relative to the connection file's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use crm_core::credential::StaticCredential;
use crm_core::limits::RateLimiter;
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Crm, Error, Result};
use crm_generic_rest::{GenericRestBuilder, Spec};

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
    auth: Option<Auth>,
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
        let conn: Connection = toml::from_str(&text).map_err(|e| {
            Error::config(format!("{}: {}", path.display(), e.to_string().trim_end()))
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok((conn, dir))
    }

    /// Builds the connection it describes. Makes no network call.
    pub(crate) fn build(&self, dir: &Path) -> Result<Box<dyn Crm>> {
        self.build_inner(dir, None)
    }

    /// Builds the connection with a request counter in front of the connection's own pacing
    /// (the bench counts requests this way).
    pub(crate) fn build_counted(&self, dir: &Path) -> Result<(Box<dyn Crm>, Arc<Counter>)> {
        let spec = match &self.spec {
            Some(path) => Spec::from_file(&dir.join(path))?,
            None => Spec::default_spec()?,
        };
        let pacing = spec.pacing().map(|p| Arc::new(p) as Arc<dyn RateLimiter>);
        let counter = Arc::new(Counter::wrapping(pacing));
        let crm = self.build_inner(dir, Some(counter.clone()))?;
        Ok((crm, counter))
    }

    fn build_inner(
        &self,
        dir: &Path,
        limiter: Option<Arc<dyn RateLimiter>>,
    ) -> Result<Box<dyn Crm>> {
        match self.vendor.as_str() {
            "generic-rest" => self.build_generic(dir, limiter),
            "hubspot" | "salesforce" => Err(Error::config(format!(
                "vendor `{}`: this build of crm-connect does not include that adapter yet",
                self.vendor
            ))),
            other => Err(Error::config(format!(
                "vendor: `{other}` is not one of generic-rest, hubspot, salesforce"
            ))),
        }
    }

    fn build_generic(
        &self,
        dir: &Path,
        limiter: Option<Arc<dyn RateLimiter>>,
    ) -> Result<Box<dyn Crm>> {
        let mut b = GenericRestBuilder::new();
        if let Some(l) = limiter {
            b = b.with_limiter(l);
        }
        if let Some(spec) = &self.spec {
            b = b.with_spec_file(dir.join(spec));
        }
        if let Some(url) = &self.base_url {
            b = b.with_base_url(url.clone());
        }
        if let Some(ca) = &self.ca_file {
            b = b.with_root_ca_file(dir.join(ca));
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
        Ok(Box::new(b.build()?))
    }
}

/// The token: `${VAR}` from the environment, `token_file`, or (discouraged) inline.
fn secret(auth: &Auth, dir: &Path) -> Result<SecretString> {
    match (&auth.token, &auth.token_file) {
        (Some(_), Some(_)) => Err(Error::config("auth: give token or token_file, not both")),
        (None, None) => Err(Error::config("auth: token or token_file is required")),
        (None, Some(file)) => {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::config(format!(
                    "auth.token_file: cannot read `{}`: {e}",
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
                        "auth.token: environment variable `{var}` is not set"
                    ))
                })?;
                Ok(SecretString::from(value))
            } else {
                eprintln!(
                    "warning: auth.token is written inline; prefer \"${{VAR}}\" or token_file"
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
        assert!(err.message().contains("line 2"), "{err}");

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
}
