//! The vendor fields an adapter knows without asking the CRM, for checking a mapping file
//! offline: a typo in a vendor field name (`email = "emial"`) is caught before it reaches a
//! live CRM, while fields the list cannot know (an org's custom fields) only warn.
//!
//! Each adapter ships a compact list (`known_fields.toml` beside its `mapping.toml`) naming
//! the vendor documentation it comes from:
//!
//! ```toml
//! vendor = "Salesforce"
//! source = "Salesforce Object Reference: standard fields of Contact, Account, ..."
//! custom_suffix = "__c"          # names that end so are custom fields (optional)
//!
//! [tables]                       # mapping table = the vendor's field names
//! contact = ["Email", "Phone", "FirstName"]
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::file::{MappingCheck, Severity};
use super::toml_error::toml_config_error;
use crate::error::Result;

/// An adapter's known vendor fields per mapping table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFields {
    /// The vendor's name, for messages (`HubSpot`).
    pub vendor: String,
    /// The documentation the list comes from.
    pub source: String,
    /// The suffix of custom field names (`__c` on Salesforce), when the vendor has one: other
    /// unknown names are then errors, not warnings.
    #[serde(default)]
    pub custom_suffix: Option<String>,
    /// Mapping table → the vendor's field names.
    pub tables: BTreeMap<String, BTreeSet<String>>,
}

impl KnownFields {
    /// Parses a known-fields list; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| toml_config_error(&e, origin, text))
    }

    /// Whether `field` of `table` is fine, and if not how bad and why. `None` for a known field
    /// or a table the list does not cover.
    ///
    /// A name close to a known one (an edit or two away, and not an extension of it such as
    /// `email_2`) is a typo: an error naming the field meant. A name with the custom suffix is a
    /// warning (the org may have it). Any other unknown name is an error when the vendor marks
    /// custom fields by a suffix, else a warning (HubSpot custom properties look like any other).
    pub fn judge(&self, table: &str, field: &str) -> Option<(Severity, String)> {
        let known = self.tables.get(table)?;
        if known.iter().any(|k| k.eq_ignore_ascii_case(field)) {
            return None;
        }
        let vendor = &self.vendor;
        let custom = self.custom_suffix.as_deref().filter(|s| {
            field
                .to_ascii_lowercase()
                .ends_with(&s.to_ascii_lowercase())
        });
        if let Some(suffix) = custom {
            return Some((
                Severity::Warning,
                format!(
                    "`{field}` is a custom field (`{suffix}`), not a standard {vendor} field of {table}: check the org has it (`--live`)"
                ),
            ));
        }
        if let Some(meant) = near_miss(field, known) {
            return Some((
                Severity::Error,
                format!("`{field}` is not a {vendor} field of {table}; did you mean `{meant}`?"),
            ));
        }
        Some(match &self.custom_suffix {
            Some(suffix) => (
                Severity::Error,
                format!(
                    "`{field}` is not a standard {vendor} field of {table}, and custom fields end in `{suffix}`"
                ),
            ),
            None => (
                Severity::Warning,
                format!(
                    "`{field}` is not a default {vendor} property of {table}: fine if it is a custom property (`--live` checks the CRM)"
                ),
            ),
        })
    }
}

/// The known name `field` is most likely a typo of.
fn near_miss<'a>(field: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    let f = field.to_ascii_lowercase();
    let allowed = if f.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .filter_map(|k| {
            let k_low = k.to_ascii_lowercase();
            if k_low.contains(&f) || f.contains(&k_low) {
                return None;
            }
            let d = edit_distance(&f, &k_low);
            (d <= allowed).then_some((d, k.as_str()))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbours (`emial` → `email` is one).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        if let Some(c) = d.get_mut(at(i, 0)) {
            *c = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(c) = d.get_mut(at(0, j)) {
            *c = j;
        }
    }
    let get = |d: &Vec<usize>, i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let (ai, bj) = (a.get(i - 1), b.get(j - 1));
            let cost = usize::from(ai != bj);
            let mut best = (get(&d, i - 1, j).saturating_add(1))
                .min(get(&d, i, j - 1).saturating_add(1))
                .min(get(&d, i - 1, j - 1).saturating_add(cost));
            if i > 1 && j > 1 && ai == b.get(j - 2) && a.get(i - 2) == bj {
                best = best.min(get(&d, i - 2, j - 2).saturating_add(1));
            }
            if let Some(c) = d.get_mut(at(i, j)) {
                *c = best;
            }
        }
    }
    get(&d, a.len(), b.len())
}

impl MappingCheck {
    /// Checks every vendor field name the file maps (`[table.fields]`) against `known`, adding
    /// an error or warning at the entry's line for each field the list does not know.
    pub fn check_known_fields(&mut self, known: &KnownFields) {
        let mut found = Vec::new();
        for (table, mapping) in self.tables() {
            for (common, vendor) in &mapping.fields {
                if let Some((severity, message)) = known.judge(table, vendor) {
                    found.push((severity, format!("{table}.fields.{common}"), message));
                }
            }
        }
        for (severity, key, message) in found {
            self.push(severity, &key, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectKind;
    use crate::mapping::MappingFile;

    const SF: &str = r#"
vendor = "Salesforce"
source = "test"
custom_suffix = "__c"
[tables]
contact = ["Email", "Phone", "FirstName"]
"#;

    const HS: &str = r#"
vendor = "HubSpot"
source = "test"
[tables]
contact = ["email", "phone", "firstname"]
"#;

    #[test]
    fn typos_are_errors_and_custom_fields_warnings() {
        let sf = KnownFields::parse(SF, "sf").unwrap();
        let hs = KnownFields::parse(HS, "hs").unwrap();
        assert_eq!(sf.judge("contact", "email"), None, "case-insensitive");
        assert_eq!(sf.judge("ticket", "Anything"), None, "table not covered");
        let (s, m) = hs.judge("contact", "emial").unwrap();
        assert_eq!(s, Severity::Error);
        assert!(m.contains("did you mean `email`"), "{m}");
        assert_eq!(hs.judge("contact", "email_2").unwrap().0, Severity::Warning);
        assert_eq!(
            hs.judge("contact", "loyalty_tier").unwrap().0,
            Severity::Warning
        );
        assert_eq!(
            sf.judge("contact", "Loyalty__c").unwrap().0,
            Severity::Warning
        );
        assert_eq!(sf.judge("contact", "Loyalty").unwrap().0, Severity::Error);
        assert_eq!(sf.judge("contact", "FristName").unwrap().0, Severity::Error);
        assert_eq!(edit_distance("emial", "email"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn a_check_places_each_unknown_field_at_its_line() {
        let text = "version = \"v\"\n[contact.fields]\nemail = \"emial\"\nphone = \"Phone\"\ntier = \"Tier__c\"\n";
        let mut check = MappingFile::check(text, "m.toml", &[("contact", ObjectKind::Contact)]);
        check.check_known_fields(&KnownFields::parse(SF, "sf").unwrap());
        let got: Vec<(Severity, usize, &str)> = check
            .problems
            .iter()
            .map(|p| (p.severity, p.line, p.key.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Severity::Error, 3, "contact.fields.email"),
                (Severity::Warning, 5, "contact.fields.tier"),
            ]
        );
        assert!(check.has_errors());
    }
}
