//! Many tenants in one process: each tenant's connection built from its connection file on
//! first use, kept, rebuilt on [`Tenants::reload`], dropped on [`Tenants::remove`].
//!
//! A support-bot vendor serves many companies from one backend; each company's CRM is a
//! connection file an operator edits (see [`crate::ConnectionFile`]). The registry finds each
//! file's adapter through [`crate::connectors`], so it knows no vendor by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use crm_core::{Crm, Error, ErrorKind, Result};

use crate::ConnectionFile;

/// A tenant's entry: where its file is, and its connection once built.
#[derive(Clone)]
struct Slot {
    file: PathBuf,
    crm: Option<Arc<dyn Crm>>,
}

/// Tenants by id, each with its connection file.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> crm_connect::Result<()> {
/// # let sandbox = crm_testkit::sandbox::Sandbox::start(Default::default()).await;
/// # let dir = std::env::temp_dir().join(format!("crm-connect-tenants-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).map_err(|e| crm_connect::Error::config(e.to_string()))?;
/// # let io = |e: std::io::Error| crm_connect::Error::config(e.to_string());
/// # std::fs::write(dir.join("acme.token"), sandbox.token()).map_err(io)?;
/// # std::fs::write(dir.join("acme.toml"), format!(
/// #     "vendor = \"generic-rest\"\nbase_url = \"{}\"\n[auth]\nkind = \"bearer\"\ntoken_file = \"acme.token\"\n",
/// #     sandbox.base_url())).map_err(io)?;
/// use crm_connect::{Email, Lookup, Tenants, ViewOptions};
///
/// // One connection file per tenant: `tenants/acme.toml` is tenant `acme`.
/// let tenants = Tenants::from_dir(&dir)?;
/// let crm = tenants.get("acme")?; // built on first use, then shared
/// let lookup = Lookup::Email(Email::parse("jane.doe@example.com")?);
/// assert!(crm.customer_view(&lookup, &ViewOptions::default()).await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Tenants {
    slots: RwLock<BTreeMap<String, Slot>>,
}

impl std::fmt::Debug for Tenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenants")
            .field("tenants", &self.ids())
            .finish()
    }
}

impl Tenants {
    /// An empty registry; add tenants with [`Tenants::insert`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Every `*.toml` file in `dir` as a tenant named by the file's stem (`acme.toml` is
    /// `acme`). Files are read when their tenant is first used, so one broken file does not
    /// stop the others; its tenant's [`Tenants::get`] names the problem.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::config(format!("tenants: cannot read `{}`: {e}", dir.display())))?;
        let tenants = Self::new();
        for entry in entries {
            let path = entry
                .map_err(|e| Error::config(format!("tenants: `{}`: {e}", dir.display())))?
                .path();
            let id = path.file_stem().and_then(|s| s.to_str());
            if let (Some(id), true) = (id, path.extension().is_some_and(|e| e == "toml")) {
                tenants.insert(id, &path)?;
            }
        }
        Ok(tenants)
    }

    /// Adds (or replaces) tenant `id` with its connection file; its connection is built on
    /// first use. Ids are letters, digits, `-`, `_` and `.`, up to 64 characters, so they are
    /// safe in logs, metric labels and file names.
    pub fn insert(&self, id: &str, file: impl AsRef<Path>) -> Result<()> {
        check_id(id)?;
        let slot = Slot {
            file: file.as_ref().to_path_buf(),
            crm: None,
        };
        self.write().insert(id.to_owned(), slot);
        Ok(())
    }

    /// Tenant `id`'s connection: built from its file on first use (no network call), then the
    /// same connection — with its limiter, token cache and mapping — for every later call.
    /// An unknown tenant is `NotFound`; a file that does not load or build is its `Config`
    /// error, tried again on the next call.
    pub fn get(&self, id: &str) -> Result<Arc<dyn Crm>> {
        let file = {
            let slots = self.read();
            let slot = slots.get(id).ok_or_else(|| unknown(id))?;
            if let Some(crm) = &slot.crm {
                return Ok(crm.clone());
            }
            slot.file.clone()
        };
        let crm = ConnectionFile::load(&file)?.build()?;
        let mut slots = self.write();
        let slot = slots.get_mut(id).ok_or_else(|| unknown(id))?;
        // Two first calls may race: keep whichever landed first, so every caller shares one
        // connection (one limiter, one token cache).
        Ok(slot.crm.get_or_insert(crm).clone())
    }

    /// Re-reads tenant `id`'s file and builds its connection again (a rotated credential, a
    /// new rate or mapping). Calls already holding the old connection finish on it; the next
    /// [`Tenants::get`] returns the new one. On error the old connection stays in place.
    pub fn reload(&self, id: &str) -> Result<Arc<dyn Crm>> {
        let file = self.read().get(id).ok_or_else(|| unknown(id))?.file.clone();
        let crm = ConnectionFile::load(&file)?.build()?;
        let mut slots = self.write();
        let slot = slots.get_mut(id).ok_or_else(|| unknown(id))?;
        slot.crm = Some(crm.clone());
        Ok(crm)
    }

    /// Takes tenant `id` out at once: the next [`Tenants::get`] is `NotFound`. Returns whether
    /// it was there.
    pub fn remove(&self, id: &str) -> bool {
        self.write().remove(id).is_some()
    }

    /// The tenants' ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Slot>> {
        // The map holds no invariant a panicking writer could break half-way.
        self.slots.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Slot>> {
        self.slots.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unknown(id: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("tenants: no tenant `{id}`"))
}

fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !matches!(id, "." | "..");
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "tenants: an id is 1 to 64 letters, digits, `-`, `_` or `.`",
        ))
    }
}
