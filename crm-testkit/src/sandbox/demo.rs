//! The demo data set: a returning customer with history, plus a few bystanders.
//!
//! The returning customer is Jane Doe (the `CUSTOMER_*` constants): a gold-tier contact at
//! Acme Corp with an open and a won opportunity, a pending and a solved ticket, and three
//! activities (note, call, chat log). The bystanders are a UK contact with an international
//! phone, a contact at a second account, a contact whose email is stored with capitals, and
//! a lead.
//!
//! The constants are what demos and tests look for; ids are deterministic because records are
//! created in a fixed order into an empty store.

use serde_json::{Map, Value, json};

use super::store::Store;

/// The returning customer's contact id.
pub const CUSTOMER_CONTACT_ID: &str = "c-1001";
/// Her email, as stored.
pub const CUSTOMER_EMAIL: &str = "jane.doe@example.com";
/// Her phone, as stored (national US format, no country code).
pub const CUSTOMER_PHONE: &str = "(415) 555-0100";
/// Her phone in E.164 form, which finds her through the digits-only phone filter.
pub const CUSTOMER_PHONE_E164: &str = "+14155550100";
/// Her id in the web shop (`external_id`).
pub const CUSTOMER_EXTERNAL_ID: &str = "shop-42";
/// Her first name.
pub const CUSTOMER_FIRST_NAME: &str = "Jane";
/// Her last name.
pub const CUSTOMER_LAST_NAME: &str = "Doe";
/// Her job title.
pub const CUSTOMER_JOB_TITLE: &str = "Operations Manager";
/// Her custom `loyalty_tier` field.
pub const CUSTOMER_LOYALTY_TIER: &str = "gold";
/// Her custom `preferred_language` field.
pub const CUSTOMER_PREFERRED_LANGUAGE: &str = "en";

/// Her employer's account id.
pub const CUSTOMER_ACCOUNT_ID: &str = "a-2001";
/// Her employer's account name.
pub const CUSTOMER_ACCOUNT_NAME: &str = "Acme Corp";
/// Her employer's domain.
pub const CUSTOMER_ACCOUNT_DOMAIN: &str = "acme.example";
/// A second account, for a bystander contact.
pub const GLOBEX_ACCOUNT_ID: &str = "a-2002";

/// Her open opportunity (stage `proposal`).
pub const OPEN_OPPORTUNITY_ID: &str = "o-4001";
/// Her won opportunity.
pub const WON_OPPORTUNITY_ID: &str = "o-4002";

/// Her open ticket (status `pending`).
pub const OPEN_TICKET_ID: &str = "t-5001";
/// Her solved ticket.
pub const SOLVED_TICKET_ID: &str = "t-5002";

/// Her note (oldest activity).
pub const NOTE_ACTIVITY_ID: &str = "act-6001";
/// Her call.
pub const CALL_ACTIVITY_ID: &str = "act-6002";
/// Her chat log (newest activity).
pub const CHAT_ACTIVITY_ID: &str = "act-6003";

/// A UK contact whose phone is stored in international format.
pub const UK_CONTACT_ID: &str = "c-1002";
/// The UK contact's phone, as stored.
pub const UK_PHONE: &str = "+44 20 7946 0958";
/// A contact at the second account.
pub const MARIA_CONTACT_ID: &str = "c-1003";
/// A contact whose email is stored with capitals (for case-insensitive lookups).
pub const KENJI_CONTACT_ID: &str = "c-1004";
/// The capitalised email, as stored.
pub const KENJI_EMAIL: &str = "Kenji.Sato@Example.com";

/// The demo lead's id.
pub const LEAD_ID: &str = "l-3001";
/// The demo lead's email.
pub const LEAD_EMAIL: &str = "sam.lee@example.org";

/// Number of contacts the demo data holds (before `extra_contacts`).
pub const DEMO_CONTACTS: usize = 4;

/// The email of bulk contact `n` (1-based), as seeded by `SandboxConfig::extra_contacts`.
pub fn bulk_email(n: usize) -> String {
    format!("bulk-{n:03}@example.com")
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Seeds the demo data (when `demo`) and `extra` bulk contacts. Errors name the record that
/// failed: they mean the seed data and the schema disagree.
pub(crate) fn seed(store: &mut Store, demo: bool, extra: usize) -> Result<(), String> {
    let mut records: Vec<(&str, Value)> = Vec::new();
    if demo {
        records.extend([
            (
                "accounts",
                json!({"name": CUSTOMER_ACCOUNT_NAME, "domain": CUSTOMER_ACCOUNT_DOMAIN, "phone": "(415) 555-0000",
                       "industry": "Manufacturing", "external_id": "shop-acct-7"}),
            ),
            (
                "accounts",
                json!({"name": "Globex Ltd", "domain": "globex.example", "industry": "Logistics"}),
            ),
            (
                "contacts",
                json!({"first_name": CUSTOMER_FIRST_NAME, "last_name": CUSTOMER_LAST_NAME,
                       "email": CUSTOMER_EMAIL, "phone": CUSTOMER_PHONE, "external_id": CUSTOMER_EXTERNAL_ID,
                       "job_title": CUSTOMER_JOB_TITLE, "account_id": CUSTOMER_ACCOUNT_ID,
                       "loyalty_tier": CUSTOMER_LOYALTY_TIER,
                       "preferred_language": CUSTOMER_PREFERRED_LANGUAGE}),
            ),
            (
                "contacts",
                json!({"first_name": "Oliver", "last_name": "Bennett",
                       "email": "oliver.bennett@example.co.uk", "phone": UK_PHONE,
                       "preferred_language": "en-GB"}),
            ),
            (
                "contacts",
                json!({"first_name": "Maria", "last_name": "Garcia",
                       "email": "maria.garcia@globex.example", "phone": "(212) 555-0147",
                       "job_title": "Buyer", "account_id": GLOBEX_ACCOUNT_ID,
                       "preferred_language": "es"}),
            ),
            (
                "contacts",
                json!({"first_name": "Kenji", "last_name": "Sato", "email": KENJI_EMAIL}),
            ),
            (
                "leads",
                json!({"first_name": "Sam", "last_name": "Lee", "email": LEAD_EMAIL,
                       "company": "Initech", "source": "chat", "status": "new",
                       "description": "Asked about volume pricing in chat."}),
            ),
            (
                "opportunities",
                json!({"name": "Acme Corp - annual renewal", "amount": 12000, "currency": "USD",
                       "close_date": "2026-12-15", "stage": "proposal",
                       "account_id": CUSTOMER_ACCOUNT_ID, "contact_id": CUSTOMER_CONTACT_ID}),
            ),
            (
                "opportunities",
                json!({"name": "Acme Corp - starter plan", "amount": 4800.5, "currency": "USD",
                       "close_date": "2025-11-03", "stage": "won",
                       "account_id": CUSTOMER_ACCOUNT_ID, "contact_id": CUSTOMER_CONTACT_ID}),
            ),
            (
                "tickets",
                json!({"subject": "Order arrived damaged", "status": "pending", "priority": "high",
                       "description": "Two of the five units have cracked housings.",
                       "contact_id": CUSTOMER_CONTACT_ID, "account_id": CUSTOMER_ACCOUNT_ID}),
            ),
            (
                "tickets",
                json!({"subject": "Cannot reset password", "status": "solved",
                       "priority": "normal", "contact_id": CUSTOMER_CONTACT_ID,
                       "account_id": CUSTOMER_ACCOUNT_ID}),
            ),
            (
                "activities",
                json!({"type": "note", "subject": "Prefers email over phone",
                       "body": "Customer asked to be contacted by email.",
                       "occurred_at": "2026-01-12T10:15:00.000Z", "contact_id": CUSTOMER_CONTACT_ID}),
            ),
            (
                "activities",
                json!({"type": "call", "subject": "Renewal call",
                       "body": "Discussed renewal pricing; sent proposal afterwards.",
                       "occurred_at": "2026-02-03T16:40:00.000Z", "contact_id": CUSTOMER_CONTACT_ID,
                       "opportunity_id": OPEN_OPPORTUNITY_ID}),
            ),
            (
                "activities",
                json!({"type": "chat_log", "subject": "Chat about damaged order",
                       "body": "Customer reported damaged units; ticket opened.",
                       "occurred_at": "2026-03-09T09:05:00.000Z", "contact_id": CUSTOMER_CONTACT_ID,
                       "ticket_id": OPEN_TICKET_ID}),
            ),
        ]);
    }
    for n in 1..=extra {
        records.push((
            "contacts",
            json!({"first_name": "Bulk", "last_name": format!("Contact {n:03}"),
                   "email": bulk_email(n)}),
        ));
    }
    for (path, body) in records {
        store
            .create(path, &object(body))
            .map_err(|e| format!("seeding {path} failed: {} ({})", e.code, e.message))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_matches_the_constants() {
        let mut store = Store::new();
        seed(&mut store, true, 3).unwrap();
        let jane = store.get("contacts", CUSTOMER_CONTACT_ID).unwrap();
        assert_eq!(jane["email"], CUSTOMER_EMAIL);
        assert_eq!(jane["account_id"], CUSTOMER_ACCOUNT_ID);
        assert_eq!(
            store.get("accounts", CUSTOMER_ACCOUNT_ID).unwrap()["name"],
            CUSTOMER_ACCOUNT_NAME
        );
        assert_eq!(
            store.get("contacts", UK_CONTACT_ID).unwrap()["phone"],
            UK_PHONE
        );
        assert_eq!(
            store.get("contacts", KENJI_CONTACT_ID).unwrap()["email"],
            KENJI_EMAIL
        );
        assert_eq!(store.get("leads", LEAD_ID).unwrap()["email"], LEAD_EMAIL);
        assert_eq!(
            store.get("opportunities", OPEN_OPPORTUNITY_ID).unwrap()["stage"],
            "proposal"
        );
        assert_eq!(
            store.get("opportunities", WON_OPPORTUNITY_ID).unwrap()["stage"],
            "won"
        );
        assert_eq!(
            store.get("tickets", OPEN_TICKET_ID).unwrap()["status"],
            "pending"
        );
        assert_eq!(
            store.get("tickets", SOLVED_TICKET_ID).unwrap()["status"],
            "solved"
        );
        assert_eq!(
            store.get("activities", CHAT_ACTIVITY_ID).unwrap()["type"],
            "chat_log"
        );
        assert_eq!(
            store.get("activities", NOTE_ACTIVITY_ID).unwrap()["type"],
            "note"
        );
        assert_eq!(
            store.get("activities", CALL_ACTIVITY_ID).unwrap()["type"],
            "call"
        );
        let bulk = store.get("contacts", "c-1007").unwrap();
        assert_eq!(bulk["email"], bulk_email(3));
    }
}
