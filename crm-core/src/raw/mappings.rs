//! The field mappings of one connection, per mapping target, with the admin's mapping file laid
//! over the adapter's defaults and swappable while the connection runs.
//!
//! Every adapter had its own copy of this (build per target, overlay the file, validate, swap
//! under a lock, report `version@hash`); it lives here once.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::error::{Error, Result};
use crate::mapping::{MappingFile, ObjectMapping, VendorNames};
use crate::model::ObjectKind;

/// A mapping target: the name a mapping file's table uses (`contact`, `note`, `task`) and the
/// common record kind it maps. Most adapters have one target per kind; HubSpot maps the
/// activity kind onto several vendor objects, one target each.
pub type Target = (&'static str, ObjectKind);

/// The mappings in use: the defaults with the file laid over, and the file's label.
#[derive(Debug)]
struct Current {
    by_target: BTreeMap<&'static str, Mapped>,
    label: Option<String>,
}

/// One target's mapping with its index of vendor names, built together (at build and on each
/// swap) so that reading records never scans the mapping.
#[derive(Debug)]
struct Mapped {
    mapping: Arc<ObjectMapping>,
    names: Arc<VendorNames>,
}

/// The mappings of one connection.
///
/// Built from the adapter's default mapping per target; [`Mappings::swap`] lays a new mapping
/// file over those defaults without a restart. Calls already running keep the mapping they
/// started with (they hold an `Arc` of it).
#[derive(Debug)]
pub struct Mappings {
    targets: &'static [Target],
    defaults: BTreeMap<&'static str, ObjectMapping>,
    owner: String,
    current: RwLock<Arc<Current>>,
}

impl Mappings {
    /// The mappings for `targets`, from `defaults` (one per target; a target without a default
    /// is not mapped and its records are unsupported) with `file` laid over them.
    ///
    /// `owner` names what the defaults come from in errors (`the spec `acme``, `HubSpot's
    /// defaults`). A file table naming no known target, or a merged mapping that does not
    /// validate, is a `Config` error naming the file and the table.
    pub fn new(
        owner: impl Into<String>,
        targets: &'static [Target],
        defaults: BTreeMap<&'static str, ObjectMapping>,
        file: Option<&MappingFile>,
    ) -> Result<Self> {
        let owner = owner.into();
        let current = build(&owner, targets, &defaults, file)?;
        Ok(Self {
            targets,
            defaults,
            owner,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// The targets this connection maps.
    pub fn targets(&self) -> &'static [Target] {
        self.targets
    }

    /// The mapping in use for `target`, or an `Unsupported` error when the target is not mapped.
    pub fn get(&self, target: &str) -> Result<Arc<ObjectMapping>> {
        self.with(target, |m| m.mapping.clone())
    }

    /// [`Mappings::get`] with the mapping's [`VendorNames`], for reading records with
    /// [`ObjectMapping::read_vendor_named`]: both from the same mapping, in one look-up.
    pub fn get_named(&self, target: &str) -> Result<(Arc<ObjectMapping>, Arc<VendorNames>)> {
        self.with(target, |m| (m.mapping.clone(), m.names.clone()))
    }

    /// `f` of `target`'s entry, under the read lock (held for a map look-up and the clones of
    /// an `Arc` or two: every call reads a mapping).
    fn with<R>(&self, target: &str, f: impl FnOnce(&Mapped) -> R) -> Result<R> {
        let found = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_target
            .get(target)
            .map(f);
        found.ok_or_else(|| {
            Error::unsupported(target, format!("{} maps no `{target}` records", self.owner))
        })
    }

    /// The target named `name` with its kind; a name the adapter does not know is a `Config`
    /// error listing the ones it does.
    pub fn target(&self, name: &str) -> Result<Target> {
        self.targets
            .iter()
            .find(|(t, _)| *t == name)
            .copied()
            .ok_or_else(|| {
                let known: Vec<&str> = self.targets.iter().map(|(t, _)| *t).collect();
                Error::config(format!(
                    "[{name}]: not a mapping table of {}; its tables are {}",
                    self.owner,
                    known.join(", ")
                ))
            })
    }

    /// The first target of `kind`, for adapters with one target per kind.
    pub fn target_of(&self, kind: ObjectKind) -> Option<&'static str> {
        self.targets
            .iter()
            .find(|(_, k)| *k == kind)
            .map(|(name, _)| *name)
    }

    /// The mapping of the first target of `kind`.
    pub fn for_kind(&self, kind: ObjectKind) -> Result<Arc<ObjectMapping>> {
        match self.target_of(kind) {
            Some(target) => self.get(target),
            None => Err(Error::unsupported(
                kind.as_str(),
                format!("{} maps no {kind} records", self.owner),
            )),
        }
    }

    /// `version@hash` of the mapping file in use, if any.
    pub fn label(&self) -> Option<String> {
        self.current().label.clone()
    }

    /// Lays `file` (or none: the defaults alone) over the defaults for new work. The file is
    /// validated first; on an error nothing changes.
    pub fn swap(&self, file: Option<&MappingFile>) -> Result<()> {
        let next = Arc::new(build(&self.owner, self.targets, &self.defaults, file)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(())
    }

    fn current(&self) -> Arc<Current> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn build(
    owner: &str,
    targets: &'static [Target],
    defaults: &BTreeMap<&'static str, ObjectMapping>,
    file: Option<&MappingFile>,
) -> Result<Current> {
    let mut by_target = BTreeMap::new();
    for (name, kind) in targets {
        let Some(base) = defaults.get(name) else {
            continue;
        };
        let merged = match file {
            Some(f) => {
                let m = f.overlay(name, base);
                m.validate(*kind, &format!("{} over {owner}: [{name}]", f.origin))?;
                m
            }
            None => base.clone(),
        };
        let names = Arc::new(VendorNames::new(&merged));
        let mapping = Arc::new(merged);
        by_target.insert(*name, Mapped { mapping, names });
    }
    if let Some(f) = file
        && let Some(extra) = f
            .objects
            .keys()
            .find(|k| !by_target.contains_key(k.as_str()))
    {
        return Err(Error::config(format!(
            "{}: [{extra}]: {owner} maps no such object",
            f.origin
        )));
    }
    Ok(Current {
        by_target,
        label: file.map(MappingFile::label),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FieldMap, FieldValue};

    const TARGETS: &[Target] = &[("contact", ObjectKind::Contact)];

    fn mappings() -> Mappings {
        let mut base = ObjectMapping {
            pass_through: false,
            ..Default::default()
        };
        base.fields.insert("title".into(), "jobtitle".into());
        let defaults = [("contact", base)].into_iter().collect();
        Mappings::new("the test adapter", TARGETS, defaults, None).unwrap()
    }

    fn read(m: &Mappings, vendor: &str) -> FieldMap {
        let (mapping, names) = m.get_named("contact").unwrap();
        let fields = [(vendor.to_owned(), FieldValue::from("Buyer"))];
        mapping
            .read_vendor_named(&names, ObjectKind::Contact, fields)
            .into()
    }

    /// Issue 15: the vendor-name index is built with each mapping, so a swap that maps a field
    /// to another vendor field changes what a read maps (and a swap back restores it).
    #[test]
    fn a_swap_rebuilds_the_vendor_name_index_issue15() {
        let m = mappings();
        assert_eq!(
            read(&m, "jobtitle").get("title"),
            Some(&FieldValue::from("Buyer"))
        );
        assert_eq!(read(&m, "role").get("title"), None);
        let file = MappingFile::parse(
            "version = \"v2\"\n[contact.fields]\ntitle = \"role\"\n",
            "m.toml",
            TARGETS,
        )
        .unwrap();
        m.swap(Some(&file)).unwrap();
        assert_eq!(
            read(&m, "role").get("title"),
            Some(&FieldValue::from("Buyer"))
        );
        assert_eq!(read(&m, "jobtitle").get("title"), None);
        m.swap(None).unwrap();
        assert_eq!(
            read(&m, "jobtitle").get("title"),
            Some(&FieldValue::from("Buyer"))
        );
        let err = m.get_named("ticket").unwrap_err();
        assert!(matches!(err.kind(), crate::ErrorKind::Unsupported), "{err}");
    }
}
