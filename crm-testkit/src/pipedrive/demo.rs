//! The demo company: a small Pipedrive account as a real one looks — persons with several
//! labelled emails and phones, organizations, deals linked to a person and an organization,
//! to the organization only or to the person only, activities, notes and leads.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::store::{CustomField, Entity, Store};
use crate::conformance::ViewSeeds;

/// The key of the persons' "Customer ID" custom field (the shop's own id of the customer).
pub const EXTERNAL_ID_FIELD: &str = "7bafbfca0119ceac54fa031aa2433d0b918d1c56";
/// The key of the deals' (and so the leads') "Lead source" custom field.
pub const LEAD_SOURCE_FIELD: &str = "e704fdeb97c5453fefaca05ebb5e90d26aa7aab1";

/// The customer every scenario starts from.
pub const CUSTOMER_PERSON_ID: &str = "101";
/// Her primary email.
pub const CUSTOMER_EMAIL: &str = "jane.doe@example.com";
/// Her second, private email.
pub const CUSTOMER_HOME_EMAIL: &str = "jane@doe-family.example";
/// Her work phone, as typed into Pipedrive.
pub const CUSTOMER_PHONE: &str = "+1 (415) 555-0100";
/// Her mobile phone.
pub const CUSTOMER_MOBILE: &str = "+1 415 555 0199";
/// Her "Customer ID".
pub const CUSTOMER_EXTERNAL_ID: &str = "shop-42";
/// Her name.
pub const CUSTOMER_NAME: &str = "Jane Doe";
/// Her organization.
pub const CUSTOMER_ORG_ID: &str = "11";
/// Its name.
pub const CUSTOMER_ORG_NAME: &str = "Acme Corp";
/// Another company.
pub const GLOBEX_ORG_ID: &str = "12";
/// A Globex buyer.
pub const GLOBEX_PERSON_ID: &str = "102";
/// A person without an organization.
pub const MARIA_PERSON_ID: &str = "103";
/// Jane's colleague at Acme, with a mixed-case email.
pub const KENJI_PERSON_ID: &str = "104";
/// Kenji's email as stored.
pub const KENJI_EMAIL: &str = "Kenji.Sato@Example.com";
/// Persons of the demo data (extra persons come after them).
pub const DEMO_PERSONS: usize = 4;

/// Open deal of Jane and Acme.
pub const OPEN_DEAL_ID: &str = "201";
/// Open deal of Acme without a person.
pub const ORG_DEAL_ID: &str = "202";
/// Jane's won deal.
pub const WON_DEAL_ID: &str = "203";
/// Acme's lost deal.
pub const LOST_ORG_DEAL_ID: &str = "204";
/// Globex's open deal.
pub const GLOBEX_DEAL_ID: &str = "205";
/// Open deal of Jane without an organization.
pub const PERSON_DEAL_ID: &str = "206";
/// A done call with Jane.
pub const CALL_ID: &str = "301";
/// An open task about Jane.
pub const TASK_ID: &str = "302";
/// A meeting with the Globex buyer.
pub const GLOBEX_MEETING_ID: &str = "303";
/// A note on Jane.
pub const NOTE_ID: &str = "401";
/// A chat transcript on Jane's open deal.
pub const CHAT_NOTE_ID: &str = "402";

/// The custom fields of the demo company.
pub fn custom_fields() -> Vec<CustomField> {
    vec![
        CustomField::varchar(Entity::Persons, EXTERNAL_ID_FIELD, "Customer ID"),
        CustomField::varchar(Entity::Deals, LEAD_SOURCE_FIELD, "Lead source"),
    ]
}

/// What a 360° view of Jane must and must not list.
pub fn customer_view_seeds() -> ViewSeeds {
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    ViewSeeds {
        open_tickets: Vec::new(),
        open_opportunities: ids(&[OPEN_DEAL_ID, ORG_DEAL_ID, PERSON_DEAL_ID]),
        absent_tickets: Vec::new(),
        absent_opportunities: ids(&[WON_DEAL_ID, LOST_ORG_DEAL_ID, GLOBEX_DEAL_ID]),
    }
}

/// The first id of each table once seeded (persons, organizations, deals, activities, leads,
/// notes), so that records the tests create follow the demo's.
pub(crate) const FIRST_IDS: [u64; 6] = [101, 11, 201, 301, 1, 401];

fn day(d: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, m, d, 9, 30, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Seeds the demo records (when `demo`) and `extra` persons `bulk-001@example.com`, ….
pub(crate) fn seed(store: &mut Store, demo: bool, extra: usize) -> Result<(), String> {
    let mut add = |e: Entity, at: DateTime<Utc>, v: Value| {
        store
            .create(e, &obj(v), at)
            .map_err(|err| format!("{}: {}", e.path(), err.error))
    };
    if demo {
        add(
            Entity::Organizations,
            day(3, 1),
            json!({"name": CUSTOMER_ORG_NAME,
            "website": "https://acme.example", "address": {"value": "1 Market St, San Francisco"}}),
        )?;
        add(
            Entity::Organizations,
            day(5, 1),
            json!({"name": "Globex Corporation",
            "website": "https://globex.example"}),
        )?;
        add(
            Entity::Persons,
            day(4, 1),
            json!({"name": CUSTOMER_NAME, "org_id": 11,
            "job_title": "Head of Operations",
            "emails": [{"value": CUSTOMER_EMAIL, "primary": true, "label": "work"},
                       {"value": CUSTOMER_HOME_EMAIL, "primary": false, "label": "home"}],
            "phones": [{"value": CUSTOMER_PHONE, "primary": true, "label": "work"},
                       {"value": CUSTOMER_MOBILE, "primary": false, "label": "mobile"}],
            "custom_fields": {EXTERNAL_ID_FIELD: CUSTOMER_EXTERNAL_ID}}),
        )?;
        add(
            Entity::Persons,
            day(6, 1),
            json!({"name": "John Smith", "org_id": 12,
            "emails": [{"value": "john.smith@globex.example", "primary": true, "label": "work"}],
            "phones": [{"value": "+44 20 7946 0958", "primary": true, "label": "work"}]}),
        )?;
        add(
            Entity::Persons,
            day(7, 1),
            json!({"name": "María García",
            "emails": [{"value": "maria.garcia@example.es", "label": "home"}],
            "phones": [{"value": "+34 612 34 56 78", "label": "mobile"}]}),
        )?;
        add(
            Entity::Persons,
            day(8, 1),
            json!({"name": "Kenji Sato", "org_id": 11,
            "emails": [{"value": KENJI_EMAIL, "primary": true, "label": "work"},
                       {"value": "kenji@sato.example", "label": "other"}],
            "phones": [{"value": "+81 3-1234-5678", "label": "work"}]}),
        )?;
        let deal = |title: &str, person: Value, org: Value, status: &str, value: u32| {
            json!({"title": title, "person_id": person, "org_id": org, "status": status,
                "value": value, "currency": "USD"})
        };
        let n = Value::Null;
        add(
            Entity::Deals,
            day(1, 3),
            deal("Acme annual renewal", json!(101), json!(11), "open", 24_000),
        )?;
        add(
            Entity::Deals,
            day(2, 3),
            deal("Acme extra seats", n.clone(), json!(11), "open", 6_000),
        )?;
        add(
            Entity::Deals,
            day(3, 2),
            deal("Onboarding package", json!(101), json!(11), "won", 1_500),
        )?;
        add(
            Entity::Deals,
            day(4, 2),
            deal("Acme hardware refresh", n.clone(), json!(11), "lost", 9_000),
        )?;
        add(
            Entity::Deals,
            day(5, 3),
            deal("Globex pilot", json!(102), json!(12), "open", 12_000),
        )?;
        add(
            Entity::Deals,
            day(6, 3),
            deal("Jane's training budget", json!(101), n, "open", 800),
        )?;
        add(
            Entity::Activities,
            day(2, 5),
            json!({"subject": "Renewal call", "type": "call",
            "person_id": 101, "org_id": 11, "deal_id": 201, "done": true,
            "due_date": "2024-05-02", "due_time": "15:00", "note": "Asked for a quote"}),
        )?;
        add(
            Entity::Activities,
            day(3, 5),
            json!({"subject": "Send renewal quote", "type": "task",
            "person_id": 101, "deal_id": 201, "done": false, "due_date": "2024-06-01"}),
        )?;
        add(
            Entity::Activities,
            day(4, 5),
            json!({"subject": "Pilot kickoff", "type": "meeting",
            "person_id": 102, "org_id": 12, "deal_id": 205, "done": false,
            "due_date": "2024-06-10", "due_time": "10:00"}),
        )?;
        add(
            Entity::Notes,
            day(1, 4),
            json!({"content": "Prefers email over phone.",
            "person_id": 101}),
        )?;
        add(
            Entity::Notes,
            day(6, 5),
            json!({"content": "<p>customer: is the renewal price fixed?</p>",
            "person_id": 101, "deal_id": 201}),
        )?;
        add(
            Entity::Leads,
            day(9, 5),
            json!({"title": "Acme website chat", "person_id": 101,
            "organization_id": 11, "value": {"amount": 2000, "currency": "USD"},
            LEAD_SOURCE_FIELD: "chatbot"}),
        )?;
        add(
            Entity::Leads,
            day(10, 5),
            json!({"title": "María — trade fair", "person_id": 103}),
        )?;
    }
    for n in 1..=extra {
        add(
            Entity::Persons,
            day(1, 2),
            json!({"name": format!("Bulk Person {n:03}"),
            "emails": [{"value": format!("bulk-{n:03}@example.com"), "primary": true}]}),
        )?;
    }
    Ok(())
}
