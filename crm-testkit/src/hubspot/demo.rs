//! The fake portal's demo data: the same returning customer as the sandbox's (`sandbox::demo`),
//! stored the HubSpot way — string properties, numeric-string ids, pipeline stage ids and
//! associations instead of link fields.
//!
//! Jane Doe is a contact at Acme Corp (primary company). Her deals and tickets are linked the
//! ways real portals link them: HubSpot hangs most deals and tickets off the company (a
//! deal→company or ticket→company association) and only some off the person. She has an open and
//! a won deal associated with both her and Acme, an open deal associated with Acme only, an open
//! deal associated with her only, and a won deal associated with Acme only; an open ticket
//! ("Waiting on us") and a closed one associated with both, and an open ticket ("New") associated
//! with Acme only. Globex has an open deal and an open ticket of its own (with its contact Maria),
//! which are not Jane's. She has three activities: a note, a call and a chat log
//! (a note whose body starts with the line [`CONVERSATION_LOG_MARKER`], as crm-connect writes one
//! on a stock portal, and with `crm_activity_kind = conversation_log` when that property is
//! declared). Bystanders: a UK contact, a contact at
//! Globex, a contact whose email is stored with capitals, and a lead (a contact in lifecycle
//! stage `lead`).

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use super::schema::{self, CustomKind, CustomProperty};
use super::store::Store;

/// The returning customer's contact id.
pub const CUSTOMER_CONTACT_ID: &str = "1001";
/// Her email, as stored.
pub const CUSTOMER_EMAIL: &str = "jane.doe@example.com";
/// Her phone, as stored (national US format).
pub const CUSTOMER_PHONE: &str = "(415) 555-0100";
/// Her id in the web shop, in the `crm_external_id` custom property.
pub const CUSTOMER_EXTERNAL_ID: &str = "shop-42";
/// Her first name.
pub const CUSTOMER_FIRST_NAME: &str = "Jane";
/// Her last name.
pub const CUSTOMER_LAST_NAME: &str = "Doe";
/// Her company's id.
pub const CUSTOMER_COMPANY_ID: &str = "3001";
/// Her company's name.
pub const CUSTOMER_COMPANY_NAME: &str = "Acme Corp";
/// A second company.
pub const GLOBEX_COMPANY_ID: &str = "3002";
/// Her open deal (stage `presentationscheduled`).
pub const OPEN_DEAL_ID: &str = "4001";
/// Her won deal (stage `closedwon`).
pub const WON_DEAL_ID: &str = "4002";
/// Her open ticket (stage `3`, "Waiting on us").
pub const OPEN_TICKET_ID: &str = "5001";
/// Her closed ticket (stage `4`).
pub const CLOSED_TICKET_ID: &str = "5002";
/// An open deal (stage `qualifiedtobuy`) associated with her company only.
pub const COMPANY_DEAL_ID: &str = "4003";
/// An open deal (stage `appointmentscheduled`) associated with her only, not her company.
pub const CONTACT_DEAL_ID: &str = "4004";
/// A won deal (stage `closedwon`) associated with her company only.
pub const COMPANY_WON_DEAL_ID: &str = "4005";
/// Globex's open deal (stage `contractsent`), associated with Globex and Maria.
pub const GLOBEX_DEAL_ID: &str = "4006";
/// An open ticket (stage `1`, "New") associated with her company only.
pub const COMPANY_TICKET_ID: &str = "5003";
/// Globex's open ticket (stage `2`), associated with Globex and Maria.
pub const GLOBEX_TICKET_ID: &str = "5004";
/// Her note (oldest activity).
pub const NOTE_ID: &str = "6001";
/// Her call.
pub const CALL_ID: &str = "6002";
/// Her chat log, a note (newest activity).
pub const CHAT_LOG_ID: &str = "6003";
/// A UK contact with an international phone.
pub const UK_CONTACT_ID: &str = "1002";
/// A contact at Globex.
pub const MARIA_CONTACT_ID: &str = "1003";
/// A contact whose email is stored with capitals.
pub const KENJI_CONTACT_ID: &str = "1004";
/// That capitalised email.
pub const KENJI_EMAIL: &str = "Kenji.Sato@Example.com";
/// A contact in lifecycle stage `lead`.
pub const LEAD_CONTACT_ID: &str = "1005";
/// The lead's email.
pub const LEAD_EMAIL: &str = "sam.lee@example.org";
/// Contacts in the demo data (before extra contacts).
pub const DEMO_CONTACTS: usize = 5;

/// The custom property holding a contact's external id (unique).
pub const EXTERNAL_ID_PROPERTY: &str = "crm_external_id";
/// The custom property holding an idempotency key (unique), on every object.
pub const IDEMPOTENCY_PROPERTY: &str = "crm_idempotency_key";
/// The custom property holding a lead's source.
pub const LEAD_SOURCE_PROPERTY: &str = "crm_lead_source";
/// The custom property marking a note as a conversation log.
pub const ACTIVITY_KIND_PROPERTY: &str = "crm_activity_kind";
/// The first body line crm-connect's HubSpot adapter gives a conversation log on a portal
/// without an activity-kind property.
pub const CONVERSATION_LOG_MARKER: &str = "[Conversation log]";

/// What a 360° view of the returning customer must and must not show, as the conformance suite
/// checks it: every open deal and ticket linked to her or to her company, and none of her closed
/// ones nor Globex's open ones.
pub fn customer_view_seeds() -> crate::conformance::ViewSeeds {
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    crate::conformance::ViewSeeds {
        open_tickets: ids(&[OPEN_TICKET_ID, COMPANY_TICKET_ID]),
        open_opportunities: ids(&[OPEN_DEAL_ID, COMPANY_DEAL_ID, CONTACT_DEAL_ID]),
        absent_tickets: ids(&[CLOSED_TICKET_ID, GLOBEX_TICKET_ID]),
        absent_opportunities: ids(&[WON_DEAL_ID, COMPANY_WON_DEAL_ID, GLOBEX_DEAL_ID]),
    }
}

/// Objects crm-connect creates records in, each of which needs the idempotency property.
const WRITTEN_OBJECTS: [&str; 7] = [
    "contacts",
    "companies",
    "deals",
    "tickets",
    "notes",
    "tasks",
    "calls",
];

/// Only the unique idempotency property [`IDEMPOTENCY_PROPERTY`], on every object crm-connect
/// writes: what an admin adds to turn idempotent creates on.
pub fn idempotency_properties() -> Vec<CustomProperty> {
    WRITTEN_OBJECTS
        .iter()
        .map(|object| CustomProperty::unique(object, IDEMPOTENCY_PROPERTY))
        .collect()
}

/// The email of extra contact `n` (1-based).
pub fn bulk_email(n: usize) -> String {
    format!("bulk-{n:03}@example.com")
}

/// The demo portal's custom properties: what crm-connect's default HubSpot mapping expects, plus
/// two contact fields of the sandbox's returning customer.
pub fn custom_properties() -> Vec<CustomProperty> {
    let mut props = vec![
        CustomProperty::select("contacts", "loyalty_tier", &["bronze", "silver", "gold"]),
        CustomProperty::text("contacts", "preferred_language"),
        CustomProperty::text("contacts", LEAD_SOURCE_PROPERTY),
        CustomProperty::select("notes", ACTIVITY_KIND_PROPERTY, &["conversation_log"]),
        // Typed fields, for tests of string conversion.
        CustomProperty::new("contacts", "crm_score", CustomKind::Number),
        CustomProperty::new("contacts", "crm_vip", CustomKind::Bool),
        CustomProperty::new("contacts", "crm_birthday", CustomKind::Date),
        CustomProperty::new("contacts", "crm_last_order_at", CustomKind::DateTime),
        CustomProperty::new(
            "contacts",
            "crm_interests",
            CustomKind::MultiSelect(vec!["billing".into(), "hardware".into(), "software".into()]),
        ),
    ];
    for object in ["contacts", "companies", "deals", "tickets"] {
        props.push(CustomProperty::unique(object, EXTERNAL_ID_PROPERTY));
    }
    props.extend(idempotency_properties());
    props
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now())
}

/// Seeds the demo data (when `demo`) and `extra` contacts. Errors name the record that failed.
pub(crate) fn seed(store: &mut Store, demo: bool, extra: usize) -> Result<(), String> {
    let base = at("2025-06-01T09:00:00.000Z");
    let mut records: Vec<(&str, u64, Value)> = Vec::new();
    if demo {
        records.extend([
            ("companies", 3001, json!({"name": CUSTOMER_COMPANY_NAME, "domain": "acme.example",
                "phone": "(415) 555-0000", "industry": "MACHINERY", "crm_external_id": "shop-acct-7"})),
            ("companies", 3002, json!({"name": "Globex Ltd", "domain": "globex.example",
                "industry": "LOGISTICS_AND_SUPPLY_CHAIN"})),
            ("contacts", 1001, json!({"firstname": CUSTOMER_FIRST_NAME, "lastname": CUSTOMER_LAST_NAME,
                "email": CUSTOMER_EMAIL, "phone": CUSTOMER_PHONE, "crm_external_id": CUSTOMER_EXTERNAL_ID,
                "jobtitle": "Operations Manager", "company": CUSTOMER_COMPANY_NAME,
                "lifecyclestage": "customer", "loyalty_tier": "gold", "preferred_language": "en"})),
            ("contacts", 1002, json!({"firstname": "Oliver", "lastname": "Bennett",
                "email": "oliver.bennett@example.co.uk", "phone": "+44 20 7946 0958",
                "preferred_language": "en-GB"})),
            ("contacts", 1003, json!({"firstname": "Maria", "lastname": "Garcia",
                "email": "maria.garcia@globex.example", "phone": "(212) 555-0147", "jobtitle": "Buyer",
                "preferred_language": "es"})),
            ("contacts", 1004, json!({"firstname": "Kenji", "lastname": "Sato", "email": KENJI_EMAIL})),
            ("contacts", 1005, json!({"firstname": "Sam", "lastname": "Lee", "email": LEAD_EMAIL,
                "company": "Initech", "lifecyclestage": "lead", "hs_lead_status": "NEW",
                "crm_lead_source": "chat", "message": "Asked about volume pricing in chat."})),
            ("deals", 4001, json!({"dealname": "Acme Corp - annual renewal", "amount": "12000",
                "deal_currency_code": "USD", "closedate": "2026-12-15T00:00:00.000Z",
                "pipeline": "default", "dealstage": "presentationscheduled"})),
            ("deals", 4002, json!({"dealname": "Acme Corp - starter plan", "amount": "4800.5",
                "deal_currency_code": "USD", "closedate": "2025-11-03T00:00:00.000Z",
                "pipeline": "default", "dealstage": "closedwon"})),
            ("tickets", 5001, json!({"subject": "Order arrived damaged", "hs_pipeline": "0",
                "hs_pipeline_stage": "3", "hs_ticket_priority": "HIGH",
                "content": "Two of the five units have cracked housings."})),
            ("tickets", 5002, json!({"subject": "Cannot reset password", "hs_pipeline": "0",
                "hs_pipeline_stage": "4", "hs_ticket_priority": "MEDIUM"})),
            // Seeded after her first deals and tickets, each a minute later than the one before:
            // her open ones newest first are deals 4004, 4003, 4001 and tickets 5003, 5001.
            ("deals", 4003, json!({"dealname": "Acme Corp - fleet expansion", "amount": "56000",
                "deal_currency_code": "USD", "closedate": "2026-09-30T00:00:00.000Z",
                "pipeline": "default", "dealstage": "qualifiedtobuy"})),
            ("deals", 4004, json!({"dealname": "Jane Doe - home office bundle", "amount": "900",
                "deal_currency_code": "USD", "closedate": "2026-07-01T00:00:00.000Z",
                "pipeline": "default", "dealstage": "appointmentscheduled"})),
            ("deals", 4005, json!({"dealname": "Acme Corp - spare parts", "amount": "2300",
                "deal_currency_code": "USD", "closedate": "2025-12-19T00:00:00.000Z",
                "pipeline": "default", "dealstage": "closedwon"})),
            ("deals", 4006, json!({"dealname": "Globex - warehouse robots", "amount": "88000",
                "deal_currency_code": "USD", "closedate": "2026-10-01T00:00:00.000Z",
                "pipeline": "default", "dealstage": "contractsent"})),
            ("tickets", 5003, json!({"subject": "Invoice address change for Acme", "hs_pipeline": "0",
                "hs_pipeline_stage": "1", "hs_ticket_priority": "LOW"})),
            ("tickets", 5004, json!({"subject": "Globex delivery delayed", "hs_pipeline": "0",
                "hs_pipeline_stage": "2", "hs_ticket_priority": "HIGH"})),
            ("notes", 6001, json!({"hs_note_body": "Customer asked to be contacted by email.",
                "hs_timestamp": "2026-01-12T10:15:00.000Z"})),
            ("calls", 6002, json!({"hs_call_title": "Renewal call",
                "hs_call_body": "Discussed renewal pricing; sent proposal afterwards.",
                "hs_call_direction": "OUTBOUND", "hs_call_status": "COMPLETED",
                "hs_timestamp": "2026-02-03T16:40:00.000Z"})),
            ("notes", 6003, json!({
                "hs_note_body": format!("{CONVERSATION_LOG_MARKER}\n\nCustomer reported damaged units; ticket opened."),
                "crm_activity_kind": "conversation_log", "hs_timestamp": "2026-03-09T09:05:00.000Z"})),
        ]);
    }
    for n in 1..=extra {
        records.push((
            "contacts",
            2000 + n as u64,
            json!({"firstname": "Bulk", "lastname": format!("Contact {n:03}"), "email": bulk_email(n)}),
        ));
    }
    for (i, (object, id, props)) in records.into_iter().enumerate() {
        let idx = store
            .object_index(object)
            .ok_or_else(|| format!("seeding {object}: unknown object"))?;
        let when = base + TimeDelta::minutes(i64::try_from(i).unwrap_or(0));
        // A stock portal has no custom properties: their demo values are left out.
        let mut props = obj(props);
        props.retain(|name, _| store.object(idx).is_some_and(|o| o.prop(name).is_some()));
        store
            .seed(idx, id, &props, when)
            .map_err(|e| format!("seeding {object} {id} failed: {}", e.message))?;
    }
    if demo {
        // (type id, from id, to id); HUBSPOT_DEFINED types from HubSpot's associations v4
        // reference: 1 contact→company (primary), 279 contact→company, 3 deal→contact,
        // 5 deal→company (primary), 16 ticket→contact, 26 ticket→company (primary),
        // 202 note→contact, 194 call→contact.
        let links: [(u32, u64, u64); 22] = [
            (1, 1001, 3001),
            (279, 1001, 3001),
            (1, 1003, 3002),
            (279, 1003, 3002),
            (3, 4001, 1001),
            (5, 4001, 3001),
            (3, 4002, 1001),
            (5, 4002, 3001),
            (16, 5001, 1001),
            (26, 5001, 3001),
            (16, 5002, 1001),
            // Acme only, Jane only, Acme only (won), Globex and Maria.
            (5, 4003, 3001),
            (3, 4004, 1001),
            (5, 4005, 3001),
            (5, 4006, 3002),
            (3, 4006, 1003),
            (26, 5003, 3001),
            (26, 5004, 3002),
            (16, 5004, 1003),
            (202, 6001, 1001),
            (194, 6002, 1001),
            (202, 6003, 1001),
        ];
        for (type_id, from, to) in links {
            let ty = schema::assoc_type(type_id).ok_or("unknown association type")?;
            store.associate(ty, from, to);
        }
        for (type_id, from, to) in [(206, 6002, 4001), (228, 6003, 5001)] {
            let ty = schema::assoc_type(type_id).ok_or("unknown association type")?;
            store.associate(ty, from, to);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_loads() {
        let mut store = Store::new(&custom_properties());
        seed(&mut store, true, 3).unwrap();
        let c = store.object_index("contacts").unwrap();
        let jane = store.get(c, 1001).unwrap();
        assert_eq!(jane.props["email"], CUSTOMER_EMAIL);
        assert_eq!(jane.props["associatedcompanyid"], CUSTOMER_COMPANY_ID);
        assert_eq!(
            store.find_unique(c, "email", "JANE.DOE@example.com"),
            Some(1001)
        );
        assert_eq!(store.associated("contacts", 1001, "tickets").len(), 2);
        // Deals: 4001 and 4002 (both), 4004 (hers only); Acme: 4001, 4002, 4003, 4005.
        let ids = |from: &str, id: u64, to: &str| -> Vec<u64> {
            store
                .associated(from, id, to)
                .into_iter()
                .map(|(i, _)| i)
                .collect()
        };
        assert_eq!(ids("contacts", 1001, "deals"), [4001, 4002, 4004]);
        assert_eq!(ids("companies", 3001, "deals"), [4001, 4002, 4003, 4005]);
        assert_eq!(ids("companies", 3001, "tickets"), [5001, 5003]);
        assert_eq!(ids("companies", 3002, "deals"), [4006]);
        assert_eq!(ids("deals", 4003, "contacts"), Vec::<u64>::new());
        assert_eq!(store.associated("contacts", 1001, "notes").len(), 2);
        assert!(store.get(c, 2003).is_some());
    }

    #[test]
    fn a_stock_portal_seeds_without_custom_values() {
        let mut store = Store::new(&[]);
        seed(&mut store, true, 0).unwrap();
        let c = store.object_index("contacts").unwrap();
        let jane = store.get(c, 1001).unwrap();
        assert_eq!(jane.props["email"], CUSTOMER_EMAIL);
        assert!(!jane.props.contains_key(EXTERNAL_ID_PROPERTY));
        assert!(!jane.props.contains_key("loyalty_tier"));
        let n = store.object_index("notes").unwrap();
        let log = store.get(n, 6003).unwrap();
        assert!(!log.props.contains_key(ACTIVITY_KIND_PROPERTY));
        assert!(log.props["hs_note_body"].starts_with(CONVERSATION_LOG_MARKER));
    }
}
