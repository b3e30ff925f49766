//! Mappings checked against an org's schema: the recorded `describe` bodies of a real
//! Developer Edition org, and the fake's live `describe`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_core::ObjectKind;
use crm_core::mapping::{MappingFile, ObjectMapping};
use crm_core::reexports::serde_json::{self, Value};
use crm_salesforce::schema::from_describe;

fn describe(object: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/salesforce-describe-{object}-v42.0.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v.get("body").cloned().unwrap_or(v)
}

const TARGETS: &[(&str, ObjectKind)] = &[
    ("contact", ObjectKind::Contact),
    ("lead", ObjectKind::Lead),
    ("ticket", ObjectKind::Ticket),
];

#[test]
fn a_custom_picklist_mapping_is_checked_against_the_recorded_org() {
    // The worked example of docs/mapping.md: the bot's lead sources onto the org's LeadSource
    // picklist, one value the org does not have, a read-only field written, a missing field.
    let file = MappingFile::parse(
        r#"version = "acme-sf-1"

[lead.fields]
source = "LeadSource"
rating = "Rating"
converted = "IsConverted"
segment = "Segment__c"

[lead.values.source]
web = "Web"
phone = "Phone Inquiry"
chatbot = "Chatbot"

[lead.values.rating]
hot = "Hot"
"#,
        "acme-sf.toml",
        TARGETS,
    )
    .unwrap();
    let schema = from_describe(&describe("Lead")).unwrap();
    assert!(schema.len() > 30);
    let defaults: std::collections::BTreeMap<String, ObjectMapping> =
        toml::from_str(crm_salesforce::DEFAULT_MAPPING).unwrap();
    let lead = file.overlay("lead", &defaults["lead"]);
    let problems = lead.check_schema("lead", &schema);
    let text: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.problem))
        .collect();
    let has = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(
        has("lead.LeadSource: the picklist has no value `Chatbot`"),
        "{text:?}"
    );
    assert!(has("lead.Segment__c: no such field"), "{text:?}");
    assert!(!has("`Web`") && !has("`Hot`"), "{text:?}");
    // The default mapping's own custom fields are not in this org: the check says so.
    assert!(has("External_Id__c: no such field"), "{text:?}");
}

#[test]
fn the_default_contact_mapping_fits_the_recorded_contact_schema_but_its_custom_fields() {
    let schema = from_describe(&describe("Contact")).unwrap();
    let email = schema.iter().find(|f| f.name == "Email").unwrap();
    assert!(email.createable && email.updateable);
    assert_eq!(email.max_length, Some(80));
    let defaults: std::collections::BTreeMap<String, ObjectMapping> =
        toml::from_str(crm_salesforce::DEFAULT_MAPPING).unwrap();
    let problems = defaults["contact"].check_schema("contact", &schema);
    for p in &problems {
        assert!(
            p.field.ends_with("External_Id__c") || p.field.ends_with("Idempotency_Key__c"),
            "unexpected problem: {p:?}"
        );
    }
    assert!(from_describe(&serde_json::json!({"name": "Contact"})).is_err());
}
