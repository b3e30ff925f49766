//! The mapping file: a versioned TOML document with one [`ObjectMapping`] per object target,
//! loaded with positions so that every message names the file and line.
//!
//! ```toml
//! version = "acme-2026-11-24"          # recorded in every audit record, with a content hash
//!
//! [contact.fields]                     # common name = vendor field
//! email = "email"
//! loyalty_tier = "loyalty_tier__c"     # a custom field
//!
//! [contact.rules.email]
//! type = "email"
//! transforms = ["trim", "lowercase"]
//! required = true
//!
//! [contact.rules.loyalty_tier]
//! max_length = 20
//! owner = "crm_wins"                   # only filled when the CRM has no value
//!
//! [contact.values.loyalty_tier]        # common value = vendor value
//! gold = "GOLD"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use sha2::Digest;

use super::ObjectMapping;
use crate::error::{Error, Result};
use crate::model::ObjectKind;

/// A loaded, validated mapping file.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingFile {
    /// The admin's version label.
    pub version: String,
    /// The first 16 hex digits of the SHA-256 of the file's bytes: two files with one version
    /// label but different content are told apart.
    pub hash: String,
    /// The mapping of each target (`contact`, `ticket`, or an adapter's own target names).
    pub objects: BTreeMap<String, ObjectMapping>,
    /// Where it was loaded from, for messages.
    pub origin: String,
}

/// The 1-based line of the first occurrence of `needle` in `text`.
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    let at = text.find(needle)?;
    Some(text.get(..at).map_or(0, |t| t.matches('\n').count()) + 1)
}

/// The dotted key path toml names in a conversion error (`in \`rules.tier.max_length\``).
fn key_path(msg: &str) -> Option<Vec<String>> {
    let start = msg.rfind("in `")? + 4;
    let rest = msg.get(start..)?;
    let end = rest.find('`')?;
    Some(rest.get(..end)?.split('.').map(str::to_owned).collect())
}

/// The first `table.key[.key]` a validation message names.
fn first_entry(msg: &str) -> Option<Vec<String>> {
    ["fields.", "rules.", "states.", "labels.", "values."]
        .iter()
        .filter_map(|t| msg.find(t).map(|i| (i, *t)))
        .min_by_key(|(i, _)| *i)
        .map(|(i, _)| {
            msg.get(i..)
                .unwrap_or_default()
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .next()
                .unwrap_or_default()
                .split('.')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
}

/// The line of `path` inside object `name`: the deepest `[name.a.b]` header that exists, then
/// the first line after it that starts with the next key.
fn locate(text: &str, name: &str, path: &[String]) -> Option<usize> {
    for split in (0..=path.len()).rev() {
        let (table, keys) = path.split_at(split);
        let header = if table.is_empty() {
            format!("[{name}]")
        } else {
            format!("[{name}.{}]", table.join("."))
        };
        let Some(header_line) = line_of(text, &header) else {
            continue;
        };
        let Some(key) = keys.first() else {
            return Some(header_line);
        };
        let found = text
            .lines()
            .enumerate()
            .skip(header_line)
            .take_while(|(_, l)| !l.trim_start().starts_with('['))
            .find(|(_, l)| l.trim_start().starts_with(key.as_str()))
            .map(|(i, _)| i + 1);
        return found.or(Some(header_line));
    }
    None
}

impl MappingFile {
    /// Reads and validates a mapping file. `targets` lists the object tables the adapter knows
    /// and the kind each maps (`("contact", Contact)`, `("task", Activity)`...).
    pub fn load(path: &Path, targets: &[(&str, ObjectKind)]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("cannot read `{}`: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string(), targets)
    }

    /// Parses and validates mapping text; `origin` (a file name) starts every message, with the
    /// line where it is known.
    pub fn parse(text: &str, origin: &str, targets: &[(&str, ObjectKind)]) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::config(format!("{origin}: {}", e.to_string().trim_end())))?;
        let version = match table.remove("version") {
            Some(toml::Value::String(v)) if !v.trim().is_empty() => v,
            Some(_) => {
                return Err(Error::config(format!(
                    "{origin}:{}: `version` must be a non-empty string",
                    line_of(text, "version").unwrap_or(1)
                )));
            }
            None => return Err(Error::config(format!("{origin}: `version` is missing"))),
        };
        let mut objects = BTreeMap::new();
        for (name, value) in table {
            let at = line_of(text, &format!("[{name}")).or_else(|| line_of(text, &name));
            let place = |at: Option<usize>| at.map(|l| format!(":{l}")).unwrap_or_default();
            let Some((_, kind)) = targets.iter().find(|(t, _)| *t == name) else {
                let known: Vec<&str> = targets.iter().map(|(t, _)| *t).collect();
                return Err(Error::config(format!(
                    "{origin}{}: unknown object `{name}` (this adapter maps {})",
                    place(at),
                    known.join(", ")
                )));
            };
            let mut mapping: ObjectMapping = value.try_into().map_err(|e: toml::de::Error| {
                let msg = e.to_string();
                let line = key_path(&msg)
                    .and_then(|path| locate(text, &name, &path))
                    .or(at);
                Error::config(format!(
                    "{origin}{}: [{name}]: {}",
                    place(line),
                    msg.trim_end().replace('\n', " ")
                ))
            })?;
            for (field, rule) in mapping.rules.iter_mut() {
                rule.line = line_of(text, &format!("[{name}.rules.{field}]"))
                    .or_else(|| line_of(text, &format!("{field} = {{")));
            }
            mapping
                .validate(*kind, &format!("{origin}: [{name}]"))
                .map_err(|e| {
                    // Point at the entry the message names (`fields.tier`, `states.status.x`).
                    let line = first_entry(e.message())
                        .and_then(|path| locate(text, &name, &path))
                        .or(at);
                    let msg = e.message().replacen(
                        &format!("{origin}: [{name}]"),
                        &format!("{origin}{}: [{name}]", place(line)),
                        1,
                    );
                    Error::config(msg)
                })?;
            objects.insert(name, mapping);
        }
        let digest = sha2::Sha256::digest(text.as_bytes());
        let hash = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            version,
            hash,
            objects,
            origin: origin.to_owned(),
        })
    }

    /// `version@hash`, as audit records carry it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.version, self.hash)
    }

    /// This file's mapping for `target` laid over `base` (see [`ObjectMapping::overlaid_with`]);
    /// `base` itself when the file has no table for `target`.
    pub fn overlay(&self, target: &str, base: &ObjectMapping) -> ObjectMapping {
        match self.objects.get(target) {
            Some(over) => base.overlaid_with(over),
            None => base.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Direction, WriteMode};
    use crate::model::{Contact, Email, Entity, FieldMap, FieldValue};

    const TARGETS: &[(&str, ObjectKind)] = &[
        ("contact", ObjectKind::Contact),
        ("ticket", ObjectKind::Ticket),
    ];

    const GOOD: &str = r#"version = "acme-1"

[contact.fields]
email = "Email"
phone = "Phone"
loyalty_tier = "Loyalty__c"
notes = "Notes__c"
internal_score = "Score__c"

[contact.rules.email]
type = "email"
transforms = ["trim", "lowercase"]
required = true

[contact.rules.phone]
type = "phone"
transforms = ["e164"]
phone_region = "GB"

[contact.rules.loyalty_tier]
max_length = 6
default = "none"

[contact.rules.notes]
send = false

[contact.rules.internal_score]
direction = "read"
type = "number"
"#;

    fn good() -> MappingFile {
        MappingFile::parse(GOOD, "acme.toml", TARGETS).unwrap()
    }

    #[test]
    fn a_good_file_loads_with_version_hash_and_lines() {
        let f = good();
        assert_eq!(f.version, "acme-1");
        assert_eq!(f.hash.len(), 16);
        assert!(f.label().starts_with("acme-1@"));
        let c = &f.objects["contact"];
        assert_eq!(c.rules["loyalty_tier"].line, Some(20));
        assert_eq!(c.rules["internal_score"].direction, Direction::Read);
        let other = MappingFile::parse(
            &GOOD.replace("max_length = 6", "max_length = 7"),
            "a",
            TARGETS,
        )
        .unwrap();
        assert_ne!(other.hash, f.hash);
    }

    #[test]
    fn writes_apply_transforms_limits_minimisation_and_required() {
        let c = &good().objects["contact"];
        let mut contact = Contact {
            email: Some(Email::from_vendor("  Ann@Example.COM ")),
            phone: Some(crate::Phone::from_vendor(
                "020 7946 0958",
                crate::Region::us(),
            )),
            ..Contact::default()
        };
        contact.custom.insert("notes".into(), "private".into());
        contact.custom.insert("internal_score".into(), "9".into());
        let vendor = c
            .to_vendor_as(ObjectKind::Contact, &contact.to_fields(), WriteMode::Create)
            .unwrap();
        assert_eq!(
            vendor.get("Email"),
            Some(&FieldValue::from("ann@example.com"))
        );
        assert_eq!(
            vendor.get("Phone"),
            Some(&FieldValue::from("+442079460958"))
        );
        assert!(
            !vendor.contains_key("Notes__c"),
            "send = false leaves the process"
        );
        assert!(
            !vendor.contains_key("Score__c"),
            "read-only is never written"
        );

        let mut long = FieldMap::new();
        long.insert("loyalty_tier".into(), "platinum".into());
        let err = c.to_vendor(ObjectKind::Contact, &long).unwrap_err();
        assert!(err.message().contains("contact.loyalty_tier"), "{err}");
        assert!(err.message().contains("mapping line 20"), "{err}");

        let err = c
            .to_vendor_as(ObjectKind::Contact, &FieldMap::new(), WriteMode::Create)
            .unwrap_err();
        assert!(
            matches!(err.kind(), crate::ErrorKind::Validation { fields } if fields[0].field == "email"),
            "{err}"
        );
        assert!(
            c.to_vendor_as(ObjectKind::Contact, &FieldMap::new(), WriteMode::Update)
                .is_ok()
        );

        let mut bad_phone = FieldMap::new();
        bad_phone.insert("phone".into(), "call reception".into());
        let err = c.to_vendor(ObjectKind::Contact, &bad_phone).unwrap_err();
        assert!(
            err.message().contains("contact.phone") && err.message().contains("does not parse"),
            "{err}"
        );
    }

    #[test]
    fn date_formats_apply_both_ways() {
        let f = MappingFile::parse(
            "version = \"d\"\n[contact.fields]\nbirthday = \"DOB\"\n[contact.rules.birthday]\ntype = \"date\"\nformat = \"%d/%m/%Y\"\n",
            "d.toml",
            TARGETS,
        )
        .unwrap();
        let c = &f.objects["contact"];
        let mut common = FieldMap::new();
        let day = chrono::NaiveDate::from_ymd_opt(1990, 7, 4).unwrap();
        common.insert("birthday".into(), FieldValue::Date(day));
        let vendor = c.to_vendor(ObjectKind::Contact, &common).unwrap();
        assert_eq!(vendor.get("DOB"), Some(&FieldValue::from("04/07/1990")));
        let back = c.from_vendor(ObjectKind::Contact, vendor);
        assert_eq!(back.get("birthday"), Some(&FieldValue::Date(day)));
        let bad = MappingFile::parse(
            "version = \"d\"\n[contact.rules.birthday]\nformat = \"%d/%m/%Y\"\n",
            "d.toml",
            TARGETS,
        )
        .unwrap_err();
        assert!(bad.message().contains("needs type"), "{bad}");
    }

    #[test]
    fn reads_fill_defaults_and_keep_read_only_fields() {
        let c = &good().objects["contact"];
        let mut vendor = FieldMap::new();
        vendor.insert(
            "Score__c".into(),
            FieldValue::Number(crate::Number::parse("7").unwrap()),
        );
        let common = c.from_vendor(ObjectKind::Contact, vendor);
        assert_eq!(common.get("loyalty_tier"), Some(&FieldValue::from("none")));
        assert!(common.contains_key("internal_score"));
    }

    #[test]
    fn bad_files_name_file_line_and_field() {
        let cases = [
            (
                GOOD.replace(
                    "[contact.rules.notes]",
                    "[contact.rules.notes]\ncolour = \"red\"",
                ),
                "colour",
            ),
            (
                GOOD.replace("version = \"acme-1\"", "version = 3"),
                "version",
            ),
            (
                GOOD.replace("version = \"acme-1\"\n", ""),
                "version` is missing",
            ),
            (
                GOOD.replace("phone = \"Phone\"", "phone = \"Email\""),
                "both map to vendor field `Email`",
            ),
            (
                GOOD.replace("transforms = [\"e164\"]", "transforms = [\"e164\"]\n")
                    .replace(
                        "type = \"number\"",
                        "type = \"number\"\ntransforms = [\"lowercase\"]",
                    ),
                "does not fit type `number`",
            ),
            (
                GOOD.replace("[contact.fields]", "[contakt.fields]"),
                "unknown object `contakt`",
            ),
            (
                GOOD.replace("max_length = 6", "max_length = \"six\""),
                "max_length",
            ),
            (
                format!("{GOOD}\n[contact.rules.vip]\nrequired = true\n")
                    .replace("pass_through", "x"),
                "",
            ),
        ];
        for (text, needle) in cases {
            let err = MappingFile::parse(&text, "acme.toml", TARGETS).err();
            if needle.is_empty() {
                // `vip` passes through under its own name, so a vendor field writes it.
                assert!(err.is_none(), "{err:?}");
                continue;
            }
            let err = err.unwrap_or_else(|| panic!("accepted: {needle}"));
            assert!(err.message().starts_with("acme.toml"), "{err}");
            assert!(err.message().contains(needle), "{needle}: {err}");
        }
        let err = MappingFile::parse(
            &GOOD.replace("max_length = 6", "max_length = \"six\""),
            "acme.toml",
            TARGETS,
        )
        .unwrap_err();
        assert!(
            err.message().starts_with("acme.toml:21:"),
            "the line of the bad value: {err}"
        );
        let no_source = format!(
            "{GOOD}\n[ticket]\npass_through = false\n[ticket.rules.subject]\nrequired = true\n"
        );
        let err = MappingFile::parse(&no_source, "acme.toml", TARGETS).unwrap_err();
        assert!(
            err.message()
                .contains("required, but no vendor field writes it"),
            "{err}"
        );
        assert!(err.message().contains("line"), "{err}");
    }

    #[test]
    fn overlay_extends_an_adapter_default() {
        let base: ObjectMapping =
            toml::from_str("[fields]\nemail = \"email\"\ntitle = \"jobtitle\"\n").unwrap();
        let merged = good().overlay("contact", &base);
        assert_eq!(merged.fields["title"], "jobtitle");
        assert_eq!(merged.fields["email"], "Email");
        assert!(merged.rules.contains_key("phone"));
        assert_eq!(good().overlay("ticket", &base), base);
    }

    #[test]
    fn an_overlay_adds_single_state_and_value_entries() {
        let base: ObjectMapping = toml::from_str(
            "[fields]\nstatus = \"state\"\n[states.status]\nopen = \"open\"\ndone = \"solved\"\n",
        )
        .unwrap();
        let over: ObjectMapping =
            toml::from_str("pass_through = false\n[states.status]\nhold = \"pending\"\n").unwrap();
        let merged = base.overlaid_with(&over);
        let states = &merged.states["status"];
        assert_eq!(states.len(), 3, "{states:?}");
        assert_eq!(states["hold"], "pending");
        assert_eq!(states["done"], "solved");
        assert_eq!(merged.fields["status"], "state");
        assert!(!merged.pass_through);
    }
}
