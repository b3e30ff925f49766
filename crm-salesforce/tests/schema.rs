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

#[tokio::test]
async fn mapping_file_rules_apply_through_the_adapter() {
    use crm_core::{Contact, Crm, Email, ErrorKind, Personal, WriteContext};
    use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let file = MappingFile::parse(
        "version = \"acme-sf-2\"\n[contact.rules.title]\nmax_length = 10\n[contact.rules.email]\ntransforms = [\"trim\", \"lowercase\"]\n[contact.rules.phone]\nsend = false\n",
        "acme-sf.toml",
        TARGETS,
    )
    .unwrap();
    let c = org.config().clone();
    let crm = crm_salesforce::SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_refresh_token(
            c.client_id.clone(),
            Some(c.client_secret.clone().into()),
            c.refresh_token.clone().into(),
        )
        .with_mapping_file(file)
        .build()
        .unwrap();
    let contact = Contact {
        email: Some(Email::from_vendor(" Rules@Example.COM ")),
        phone: Some(crm_core::Phone::from_vendor(
            "+1 415 555 0188",
            crm_core::Region::us(),
        )),
        last_name: Some(Personal::new("Rules".to_owned())),
        title: Some("Buyer".into()),
        ..Contact::default()
    };
    let created = crm
        .contacts()
        .create(&contact, &WriteContext::default())
        .await
        .unwrap();
    let stored = org.record("Contact", created.id.as_str()).unwrap();
    assert_eq!(stored["Email"], "rules@example.com", "{stored}");
    assert!(stored["Phone"].is_null(), "send = false: {stored}");
    let long = Contact {
        title: Some("Head of Procurement".into()),
        ..contact
    };
    let err = crm
        .contacts()
        .create(&long, &WriteContext::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Mapping, "{err}");
}

#[derive(Debug, Default)]
struct Versions(std::sync::Mutex<Vec<Option<String>>>);

impl crm_core::audit::AuditSink for Versions {
    fn record(&self, record: &crm_core::audit::AuditRecord) -> crm_core::Result<()> {
        self.0.lock().unwrap().push(record.mapping_version.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_new_mapping_file_is_swapped_in_without_a_restart() {
    use crm_core::{Contact, Crm, Email, ErrorKind, Personal, WriteContext};
    use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let c = org.config().clone();
    let file =
        |text: &str| MappingFile::parse(text, "m.toml", crm_salesforce::MAPPING_TARGETS).unwrap();
    let v1 = file("version = \"v1\"\n[contact.fields]\ntitle = \"Title\"\n");
    let v2 = file("version = \"v2\"\n[contact.rules.title]\nmax_length = 10\n");
    let versions = std::sync::Arc::new(Versions::default());
    let crm = crm_salesforce::SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_refresh_token(
            c.client_id.clone(),
            Some(c.client_secret.clone().into()),
            c.refresh_token.clone().into(),
        )
        .with_mapping_file(v1.clone())
        .with_audit_sink(versions.clone())
        .build()
        .unwrap();
    assert_eq!(crm.mapping_label(), Some(v1.label()));
    let long = |n: u32| Contact {
        email: Some(Email::from_vendor(&format!("swap{n}@example.com"))),
        last_name: Some(Personal::new("Swap".to_owned())),
        title: Some("Head of Procurement".into()),
        ..Contact::default()
    };
    let ctx = WriteContext::default();
    crm.contacts().create(&long(1), &ctx).await.unwrap();
    crm.set_mapping_file(Some(&v2)).unwrap();
    let err = crm.contacts().create(&long(2), &ctx).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Mapping);
    // A field name that is not an API name never reaches SOQL: the next call is refused
    // with a `Config` error naming the table, before any request.
    let bad = file("version = \"bad\"\n[contact.fields]\nemail = \"Bad Name\"\n");
    crm.set_mapping_file(Some(&bad)).unwrap();
    let sent = org.requests().total;
    let lookup = crm_core::Lookup::Email(Email::parse("swap1@example.com").unwrap());
    let err = crm.contacts().find_by(&lookup).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
    assert!(err.message().contains("mapping.contact"), "{err}");
    assert_eq!(org.requests().total, sent, "a request was sent");
    crm.set_mapping_file(Some(&v2)).unwrap();
    assert_eq!(crm.mapping_label(), Some(v2.label()));
    crm.set_mapping_file(None).unwrap();
    crm.contacts().create(&long(3), &ctx).await.unwrap();
    assert_eq!(
        *versions.0.lock().unwrap(),
        [Some(v1.label()), Some(v2.label()), None]
    );
}
