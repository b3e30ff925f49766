//! Checking a mapping against the vendor's own schema (HubSpot's properties API, Salesforce's
//! `describe`): fields that do not exist, are not writable, or whose picklist lacks a mapped
//! value.

use serde::Serialize;

use super::{Direction, ObjectMapping};

/// One vendor field as the vendor's schema describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaField {
    /// The vendor's field name (`Email`, `hs_ticket_priority`).
    pub name: String,
    /// Writable on create.
    pub createable: bool,
    /// Writable on update.
    pub updateable: bool,
    /// The allowed values of a picklist / enumeration field.
    pub options: Option<Vec<String>>,
    /// The longest text the field holds.
    pub max_length: Option<usize>,
}

/// One problem found against the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaProblem {
    /// `target.vendor_field`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl ObjectMapping {
    /// Checks this mapping (of `kind`, table `target`) against the vendor's fields. Names are
    /// compared case-insensitively (Salesforce API names are; HubSpot's are lower case). Only
    /// explicitly mapped fields are checked: pass-through names are the caller's custom fields.
    pub fn check_schema(&self, target: &str, schema: &[SchemaField]) -> Vec<SchemaProblem> {
        let find = |name: &str| schema.iter().find(|f| f.name.eq_ignore_ascii_case(name));
        let mut out = Vec::new();
        let mut push = |field: &str, problem: String| {
            out.push(SchemaProblem {
                field: format!("{target}.{field}"),
                problem,
            });
        };
        for (common, vendor) in &self.fields {
            let rule = self.rules.get(common);
            let at = rule.map(|r| r.at()).unwrap_or_default();
            let Some(field) = find(vendor) else {
                push(
                    vendor,
                    format!("no such field in the CRM (mapped from `{common}`){at}"),
                );
                continue;
            };
            let writes = rule.is_none_or(|r| r.direction != Direction::Read && r.send);
            if writes && !field.createable && !field.updateable {
                push(
                    vendor,
                    format!(
                        "the CRM does not let this field be written; mark `{common}` direction = \"read\"{at}"
                    ),
                );
            }
            if let (Some(options), Some(values)) = (&field.options, self.values.get(common)) {
                for (ours, theirs) in values {
                    if !options.iter().any(|o| o == theirs) {
                        push(
                            vendor,
                            format!(
                                "the picklist has no value `{theirs}` (mapped from `{ours}`){at}"
                            ),
                        );
                    }
                }
            }
            if let (Some(options), Some(states)) = (&field.options, self.states.get(common)) {
                for raw in states.keys() {
                    if !options.iter().any(|o| o == raw) {
                        push(
                            vendor,
                            format!(
                                "the picklist has no value `{raw}` (a state of `{common}`){at}"
                            ),
                        );
                    }
                }
            }
            if let (Some(theirs), Some(ours)) = (field.max_length, rule.and_then(|r| r.max_length))
                && ours > theirs
            {
                push(
                    vendor,
                    format!(
                        "the mapping allows {ours} characters but the field holds {theirs}{at}"
                    ),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(
        name: &str,
        writable: bool,
        options: Option<&[&str]>,
        len: Option<usize>,
    ) -> SchemaField {
        SchemaField {
            name: name.into(),
            createable: writable,
            updateable: writable,
            options: options.map(|o| o.iter().map(|s| (*s).to_owned()).collect()),
            max_length: len,
        }
    }

    #[test]
    fn finds_missing_read_only_and_picklist_gaps() {
        let m: ObjectMapping = toml::from_str(
            r#"
            [fields]
            subject = "Subject"
            status = "Status"
            priority = "Priority"
            ref = "Ref__c"
            created = "CreatedDate"
            [states.status]
            New = "new"
            Escalated = "open"
            [values.priority]
            high = "High"
            urgent = "Urgent"
            [rules.subject]
            max_length = 300
            "#,
        )
        .unwrap();
        let schema = [
            field("Subject", true, None, Some(255)),
            field("Status", true, Some(&["New", "Working", "Closed"]), None),
            field("priority", true, Some(&["High", "Medium", "Low"]), None),
            field("CreatedDate", false, None, None),
        ];
        let problems = m.check_schema("ticket", &schema);
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.problem))
            .collect();
        let has = |needle: &str| text.iter().any(|t| t.contains(needle));
        assert!(has("ticket.Ref__c: no such field"), "{text:?}");
        assert!(
            has("ticket.CreatedDate: the CRM does not let this field be written"),
            "{text:?}"
        );
        assert!(
            has("ticket.Status: the picklist has no value `Escalated`"),
            "{text:?}"
        );
        assert!(
            has("ticket.Priority: the picklist has no value `Urgent`"),
            "{text:?}"
        );
        assert!(
            has("ticket.Subject: the mapping allows 300 characters but the field holds 255"),
            "{text:?}"
        );
        assert_eq!(problems.len(), 5, "{text:?}");
    }
}
