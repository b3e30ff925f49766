//! The objects the fake knows and their fields (`schema.json`): Account, Contact and Lead from
//! the recorded v42.0 `describe` bodies, the others hand-written from Salesforce's object
//! reference. Validation reads everything from here: required fields are
//! `nillable == false && createable && !defaultedOnCreate`, as in the sObject describe.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One field's metadata.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Field {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) length: usize,
    #[serde(default)]
    pub(crate) create: bool,
    #[serde(default)]
    pub(crate) update: bool,
    /// `nillable == false`.
    #[serde(default)]
    pub(crate) required: bool,
    #[serde(default)]
    pub(crate) defaulted: bool,
    #[serde(default)]
    pub(crate) external_id: bool,
    #[serde(default)]
    pub(crate) unique: bool,
    #[serde(default)]
    pub(crate) reference_to: Vec<String>,
    #[serde(default)]
    pub(crate) relationship: Option<String>,
    #[serde(default)]
    pub(crate) picklist: Vec<String>,
    /// A restricted picklist (`restrictedPicklist` in the describe): only `picklist` values are
    /// accepted on writes.
    #[serde(default)]
    pub(crate) restricted: bool,
    /// The org's field label where it is not derived from the API name (`Stage` for
    /// `StageName`).
    #[serde(default)]
    label: Option<String>,
}

impl Field {
    /// Required on create: not nillable, createable, and not defaulted by the server.
    pub(crate) fn required_on_create(&self) -> bool {
        self.required && self.create && !self.defaulted && self.kind != "boolean"
    }

    /// A human label for messages (`Last Name` for `LastName`), as Salesforce's messages use.
    pub(crate) fn label(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        let base = self.name.strip_suffix("__c").unwrap_or(&self.name);
        let mut out = String::new();
        let mut prev_lower = false;
        for c in base.chars() {
            if c.is_ascii_uppercase() && prev_lower {
                out.push(' ');
            }
            prev_lower = c.is_ascii_lowercase();
            out.push(if c == '_' { ' ' } else { c });
        }
        out
    }
}

/// One object's metadata.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Object {
    pub(crate) key_prefix: String,
    pub(crate) label: String,
    pub(crate) fields: Vec<Field>,
}

impl Object {
    /// A field by name, case-insensitively (API names are case-insensitive in SOQL and bodies).
    pub(crate) fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The reference field whose relationship is `name` (`Account` → `AccountId`).
    pub(crate) fn relationship(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| {
            f.relationship
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(name))
        })
    }
}

#[derive(Debug, Deserialize)]
struct File {
    objects: BTreeMap<String, Object>,
}

/// Every object, by API name.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    pub(crate) objects: BTreeMap<String, Object>,
}

const SCHEMA_JSON: &str = include_str!("schema.json");

impl Schema {
    /// Loads the embedded schema. It is test data compiled into the crate, so a parse failure
    /// leaves the fake with no objects (every request then answers `NOT_FOUND`) rather than a
    /// panic.
    pub(crate) fn load() -> Self {
        match serde_json::from_str::<File>(SCHEMA_JSON) {
            Ok(file) => Self {
                objects: file.objects,
            },
            Err(e) => {
                tracing::error!(error = %e, "the Salesforce fake's schema.json does not parse");
                Self {
                    objects: BTreeMap::new(),
                }
            }
        }
    }

    /// An object by API name, case-insensitively; returns the canonical name too.
    pub(crate) fn object(&self, name: &str) -> Option<(&str, &Object)> {
        self.objects
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The object whose ids start with `prefix`.
    pub(crate) fn by_prefix(&self, id: &str) -> Option<&str> {
        let prefix = id.get(..3)?;
        self.objects
            .iter()
            .find(|(_, o)| o.key_prefix == prefix)
            .map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_describes_give_the_documented_required_fields() {
        let s = Schema::load();
        let required = |o: &str| -> Vec<String> {
            s.object(o)
                .unwrap()
                .1
                .fields
                .iter()
                .filter(|f| f.required_on_create())
                .map(|f| f.name.clone())
                .collect()
        };
        assert_eq!(required("Contact"), ["LastName"]);
        assert_eq!(required("Account"), ["Name"]);
        assert_eq!(required("Lead"), ["LastName", "Company"]);
        assert_eq!(required("Opportunity"), ["Name", "StageName", "CloseDate"]);
        assert!(required("Case").is_empty());
        for (name, prefix) in [
            ("Account", "001"),
            ("Contact", "003"),
            ("Lead", "00Q"),
            ("Opportunity", "006"),
            ("Case", "500"),
            ("Task", "00T"),
            ("Event", "00U"),
        ] {
            assert_eq!(s.object(name).unwrap().1.key_prefix, prefix);
        }
        assert_eq!(
            s.object("contact")
                .unwrap()
                .1
                .field("lastname")
                .unwrap()
                .label(),
            "Last Name"
        );
    }
}
