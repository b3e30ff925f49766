//! The mapping file: a versioned TOML document with one [`ObjectMapping`] per object target,
//! loaded with positions so that every message names the file, line and column.
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
//!
//! [`MappingFile::check`] reports every problem of a file in one pass, each at its own line:
//! syntax errors, then per object table every entry of the wrong type or unknown name (a bad
//! entry is set aside and the table read again), then the checks of
//! [`ObjectMapping::problems`]. Adapters ship their default mapping in the same format
//! (`mapping.toml` beside their `docs.md`, without `version`), read by
//! [`MappingFile::defaults`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::Digest;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::ObjectMapping;
use super::toml_error::{TomlProblem, position};
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

/// How bad a [`MappingProblem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The file cannot be used as it is.
    Error,
    /// Worth a look, but the file works (a custom field the adapter cannot vouch for offline).
    Warning,
}

/// One problem of a mapping file, at its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingProblem {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The dotted key (`contact.fields.email`).
    pub key: String,
    /// What is wrong; never a value of the file other than names.
    pub message: String,
}

impl MappingProblem {
    fn error(p: TomlProblem) -> Self {
        Self {
            severity: Severity::Error,
            line: p.line,
            column: p.column,
            key: p.key,
            message: p.message,
        }
    }

    /// `origin:line:column: key: message`.
    pub fn describe(&self, origin: &str) -> String {
        TomlProblem::at(
            self.line,
            self.column,
            self.key.clone(),
            self.message.clone(),
        )
        .describe(origin)
    }
}

/// Everything [`MappingFile::check`] found in one file.
#[derive(Debug, Clone)]
pub struct MappingCheck {
    /// The file name the messages start with.
    pub origin: String,
    /// The file, when it has no errors (warnings allowed).
    pub file: Option<MappingFile>,
    /// Every problem, in file order.
    pub problems: Vec<MappingProblem>,
    /// Dotted key → where the key is written.
    positions: BTreeMap<String, (usize, usize)>,
    /// Every object table that could be read (those with bad entries without them).
    tables: BTreeMap<String, ObjectMapping>,
}

impl MappingCheck {
    /// Every object table that could be read, those with bad entries without them (for
    /// further checks in the same run).
    pub fn tables(&self) -> &BTreeMap<String, ObjectMapping> {
        &self.tables
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// Where `key` (dotted: `contact.fields.email`) is written: its own line, else the nearest
    /// enclosing key's, else the top of the file.
    pub fn position(&self, key: &str) -> (usize, usize) {
        let mut k = key;
        loop {
            if let Some(p) = self.positions.get(k) {
                return *p;
            }
            match k.rfind('.') {
                Some(i) => k = k.get(..i).unwrap_or_default(),
                None => return (1, 1),
            }
        }
    }

    /// Adds a problem about `key`, at the key's place, keeping file order.
    pub fn push(&mut self, severity: Severity, key: &str, message: impl Into<String>) {
        let (line, column) = self.position(key);
        self.problems.push(MappingProblem {
            severity,
            line,
            column,
            key: key.to_owned(),
            message: message.into(),
        });
        self.problems.sort_by_key(|p| (p.line, p.column));
    }

    /// The file, or one config error that lists every error (`origin:line:column: key:
    /// message`, one per line).
    pub fn into_result(self) -> Result<MappingFile> {
        let errors: Vec<String> = self
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| p.describe(&self.origin))
            .collect();
        match self.file {
            Some(f) if errors.is_empty() => Ok(f),
            _ if errors.is_empty() => Err(Error::config(format!(
                "{}: the mapping could not be read",
                self.origin
            ))),
            _ => Err(Error::config(errors.join("\n"))),
        }
    }
}

/// Every key of `table` (dotted under `prefix`) → where it is written.
fn collect_positions(
    text: &str,
    table: &DeTable<'_>,
    prefix: &str,
    out: &mut BTreeMap<String, (usize, usize)>,
) {
    for (k, v) in table.iter() {
        let key = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        out.entry(key.clone())
            .or_insert_with(|| position(text, k.span().start));
        if let DeValue::Table(t) = v.get_ref() {
            collect_positions(text, t, &key, out);
        }
    }
}

/// Removes the deepest entry of `value` whose key or value holds byte `at`; whether one was.
fn remove_at(value: &mut Spanned<DeValue<'_>>, at: usize) -> bool {
    let DeValue::Table(table) = value.get_mut() else {
        return false;
    };
    let hit = table
        .iter()
        .find(|(k, v)| k.span().contains(&at) || v.span().contains(&at))
        .map(|(k, _)| k.get_ref().to_string());
    let Some(name) = hit else {
        // Not in any entry's span (a table opened by a header): look deeper.
        let mut found = false;
        for (_, v) in table.iter_mut() {
            if remove_at(v, at) {
                found = true;
                break;
            }
        }
        return found;
    };
    let deeper = table
        .iter_mut()
        .find(|(k, _)| k.get_ref() == name.as_str())
        .is_some_and(|(_, v)| matches!(v.get_ref(), DeValue::Table(_)) && remove_at(v, at));
    if !deeper {
        let entries = std::mem::take(table);
        *table = entries
            .into_iter()
            .filter(|(k, _)| k.get_ref() != name.as_str())
            .collect();
    }
    true
}

/// How many bad entries of one table are reported before giving up on it.
const MAX_PROBLEMS_PER_TABLE: usize = 50;

/// The problem toml reports for an entry of object `name`, with the key path made absolute.
fn entry_problem(err: &toml::de::Error, text: &str, name: &str) -> TomlProblem {
    let mut p = TomlProblem::new(err, text);
    p.key = if p.key.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.{}", p.key)
    };
    p
}

impl MappingFile {
    /// Reads and validates a mapping file. `targets` lists the object tables the adapter knows
    /// and the kind each maps (`("contact", Contact)`, `("task", Activity)`...). On errors, one
    /// error lists them all.
    pub fn load(path: &Path, targets: &[(&str, ObjectKind)]) -> Result<Self> {
        Self::check_file(path, targets)?.into_result()
    }

    /// Reads a mapping file and reports every problem in it (the error is only for a file that
    /// cannot be read).
    pub fn check_file(path: &Path, targets: &[(&str, ObjectKind)]) -> Result<MappingCheck> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("cannot read `{}`: {e}", path.display())))?;
        Ok(Self::check(&text, &path.display().to_string(), targets))
    }

    /// Parses and validates mapping text; `origin` (a file name) starts every message, with the
    /// line and column. On errors, one error lists them all.
    pub fn parse(text: &str, origin: &str, targets: &[(&str, ObjectKind)]) -> Result<Self> {
        Self::check(text, origin, targets).into_result()
    }

    /// An adapter's shipped default mapping: the format of a mapping file without `version`
    /// (each adapter embeds its `mapping.toml` with `include_str!`). `origin` names the file in
    /// errors.
    pub fn defaults(
        text: &str,
        origin: &str,
        targets: &[(&str, ObjectKind)],
    ) -> Result<BTreeMap<String, ObjectMapping>> {
        let mut check = Self::check_tables(text, origin, targets, false);
        let version_free = check.file.as_ref().map(|f| f.objects.clone());
        match version_free {
            Some(objects) if !check.has_errors() => Ok(objects),
            _ => {
                check.file = None;
                check.into_result().map(|f| f.objects)
            }
        }
    }

    /// Every problem of mapping text, each at its line and column, and the file when it has
    /// no errors.
    pub fn check(text: &str, origin: &str, targets: &[(&str, ObjectKind)]) -> MappingCheck {
        Self::check_tables(text, origin, targets, true)
    }

    fn check_tables(
        text: &str,
        origin: &str,
        targets: &[(&str, ObjectKind)],
        versioned: bool,
    ) -> MappingCheck {
        let (root, syntax) = DeTable::parse_recoverable(text);
        let mut check = MappingCheck {
            origin: origin.to_owned(),
            file: None,
            problems: Vec::new(),
            positions: BTreeMap::new(),
            tables: BTreeMap::new(),
        };
        if !syntax.is_empty() {
            check.problems = syntax
                .iter()
                .map(|e| MappingProblem::error(TomlProblem::new(e, text)))
                .collect();
            return check;
        }
        collect_positions(text, root.get_ref(), "", &mut check.positions);
        let mut version = String::new();
        let mut objects = BTreeMap::new();
        let mut problems: Vec<(String, String)> = Vec::new();
        for (key, value) in root.get_ref().iter() {
            let name = key.get_ref().to_string();
            if name == "version" && versioned {
                match value.get_ref() {
                    DeValue::String(v) if !v.trim().is_empty() => version = v.to_string(),
                    _ => problems.push((name, "`version` must be a non-empty string".into())),
                }
                continue;
            }
            let Some((_, kind)) = targets.iter().find(|(t, _)| *t == name) else {
                let known: Vec<&str> = targets.iter().map(|(t, _)| *t).collect();
                problems.push((
                    name.clone(),
                    format!(
                        "unknown object `{name}` (this adapter maps {})",
                        known.join(", ")
                    ),
                ));
                continue;
            };
            // Read the table; on an error, set the bad entry aside and read it again, so every
            // bad entry is reported at its own line.
            let mut table = value.clone();
            let mut clean = true;
            let mut mapping = None;
            for _ in 0..MAX_PROBLEMS_PER_TABLE {
                match ObjectMapping::deserialize(ValueDeserializer::from(table.clone())) {
                    Ok(m) => {
                        mapping = Some(m);
                        break;
                    }
                    Err(e) => {
                        clean = false;
                        check
                            .problems
                            .push(MappingProblem::error(entry_problem(&e, text, &name)));
                        let removed = e.span().is_some_and(|s| remove_at(&mut table, s.start));
                        if !removed {
                            break;
                        }
                    }
                }
            }
            // A table with bad entries is still checked without them: its other problems are
            // reported in the same run.
            let Some(mut mapping) = mapping else {
                continue;
            };
            for (field, rule) in mapping.rules.iter_mut() {
                rule.line = check
                    .positions
                    .get(&format!("{name}.rules.{field}"))
                    .map(|(line, _)| *line);
            }
            for issue in mapping.problems(*kind) {
                let key = format!("{name}.{}", issue.path.join("."));
                problems.push((key, issue.message));
            }
            if clean {
                objects.insert(name.clone(), mapping.clone());
            }
            check.tables.insert(name, mapping);
        }
        if versioned
            && version.is_empty()
            && !root.get_ref().iter().any(|(k, _)| k.get_ref() == "version")
        {
            problems.push(("version".into(), "`version` is missing".into()));
        }
        for (key, message) in problems {
            check.push(Severity::Error, &key, message);
        }
        check.problems.sort_by_key(|p| (p.line, p.column));
        if !check.has_errors() {
            let digest = sha2::Sha256::digest(text.as_bytes());
            let hash = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            check.file = Some(Self {
                version,
                hash,
                objects,
                origin: origin.to_owned(),
            });
        }
        check
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

/// The effective mapping of a connection: each table of an adapter's `defaults` with the
/// file's table laid over it, and the file's tables the defaults lack as they are.
pub fn effective(
    defaults: &BTreeMap<String, ObjectMapping>,
    file: Option<&MappingFile>,
) -> BTreeMap<String, ObjectMapping> {
    let mut out: BTreeMap<String, ObjectMapping> = defaults
        .iter()
        .map(|(t, m)| {
            (
                t.clone(),
                file.map_or_else(|| m.clone(), |f| f.overlay(t, m)),
            )
        })
        .collect();
    if let Some(f) = file {
        for (t, m) in &f.objects {
            out.entry(t.clone()).or_insert_with(|| m.clone());
        }
    }
    out
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
    fn every_problem_is_reported_at_its_own_line() {
        let text = GOOD
            .replace("phone = \"Phone\"", "phone = \"Email\"")
            .replace(
                "phone_region = \"GB\"",
                "phone_region = \"GB\"\nregoin = \"US\"",
            )
            .replace("max_length = 6", "max_length = \"six\"")
            .replace("direction = \"read\"", "direction = \"sideways\"");
        let check = MappingFile::check(&text, "acme.toml", TARGETS);
        let shown: Vec<String> = check
            .problems
            .iter()
            .map(|p| p.describe("acme.toml"))
            .collect();
        assert_eq!(check.problems.len(), 4, "{shown:#?}");
        let line = |needle: &str| {
            text.lines()
                .position(|l| l.contains(needle))
                .map(|i| i + 1)
                .unwrap()
        };
        let at = |key: &str| check.problems.iter().find(|p| p.key == key).map(|p| p.line);
        assert_eq!(
            at("contact.fields.phone"),
            Some(line("phone = \"Email\"")),
            "{shown:#?}"
        );
        assert_eq!(
            at("contact.rules.phone.regoin"),
            Some(line("regoin")),
            "{shown:#?}"
        );
        assert_eq!(
            at("contact.rules.loyalty_tier.max_length"),
            Some(line("max_length")),
            "{shown:#?}"
        );
        assert_eq!(
            at("contact.rules.internal_score.direction"),
            Some(line("sideways")),
            "{shown:#?}"
        );
        assert!(
            !shown
                .iter()
                .any(|s| s.contains("six") || s.contains("sideways")),
            "{shown:#?}"
        );
        let err = MappingFile::parse(&text, "acme.toml", TARGETS).unwrap_err();
        assert_eq!(err.message().lines().count(), 4, "{err}");
    }

    #[test]
    fn a_syntax_error_names_line_and_key_without_the_value() {
        let text = "version = \"v\"\n[contact.fields]\nemail = \"secret-ish\n";
        let err = MappingFile::parse(text, "m.toml", TARGETS).unwrap_err();
        assert!(err.message().starts_with("m.toml:3:"), "{err}");
        assert!(err.message().contains("contact.fields.email"), "{err}");
        assert!(!err.message().contains("secret-ish"), "{err}");
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
