//! The demo org: the same returning customer as the sandbox's demo data, in Salesforce's shape.
//!
//! Jane Doe is a Contact at the Account "Acme Corp" with an open and a won Opportunity, an open
//! and a closed Case, and four Tasks (a note, two completed calls, a chat log). Bystanders: a
//! UK contact with an international phone, a contact at a second account, a contact whose
//! email is stored with capitals, and a Lead. Ids are real-looking 18-character ids with correct
//! key prefixes and checksums; they are deterministic because records are created in a fixed
//! order into an empty org.

use serde_json::{Map, Value, json};

use super::store::{Store, WriteOpts};

/// The returning customer's Contact id.
pub const CUSTOMER_CONTACT_ID: &str = "0035F00000000G9QAI";
/// Her email, as stored.
pub const CUSTOMER_EMAIL: &str = "jane.doe@example.com";
/// Her phone, as stored (national US format).
pub const CUSTOMER_PHONE: &str = "(415) 555-0100";
/// Her phone in E.164 form.
pub const CUSTOMER_PHONE_E164: &str = "+14155550100";
/// Her id in the web shop, in the external-id field `External_Id__c`.
pub const CUSTOMER_EXTERNAL_ID: &str = "shop-42";
/// The external-id field the demo data uses on every object.
pub const EXTERNAL_ID_FIELD: &str = "External_Id__c";
/// Her first name.
pub const CUSTOMER_FIRST_NAME: &str = "Jane";
/// Her last name.
pub const CUSTOMER_LAST_NAME: &str = "Doe";
/// Her Account's id.
pub const CUSTOMER_ACCOUNT_ID: &str = "0015F00000000G9QAI";
/// Her Account's name.
pub const CUSTOMER_ACCOUNT_NAME: &str = "Acme Corp";
/// A second Account.
pub const GLOBEX_ACCOUNT_ID: &str = "0015F00000000GAQAY";
/// Her open Opportunity (`Proposal/Price Quote`).
pub const OPEN_OPPORTUNITY_ID: &str = "0065F00000000G9QAI";
/// Her won Opportunity (`Closed Won`).
pub const WON_OPPORTUNITY_ID: &str = "0065F00000000GAQAY";
/// Her open Case (`Working`).
pub const OPEN_CASE_ID: &str = "5005F00000000G9QAI";
/// Her closed Case.
pub const CLOSED_CASE_ID: &str = "5005F00000000GAQAY";
/// Her note (oldest activity).
pub const NOTE_TASK_ID: &str = "00T5F00000000G9UAI";
/// Her first call.
pub const CALL_TASK_ID: &str = "00T5F00000000GAUAY";
/// Her second call.
pub const SECOND_CALL_TASK_ID: &str = "00T5F00000000GBUAY";
/// Her chat log (newest activity).
pub const CHAT_TASK_ID: &str = "00T5F00000000GCUAY";
/// A UK contact whose phone is stored in international format.
pub const UK_CONTACT_ID: &str = "0035F00000000GAQAY";
/// The UK contact's phone, as stored.
pub const UK_PHONE: &str = "+44 20 7946 0958";
/// A contact whose email is stored with capitals.
pub const KENJI_CONTACT_ID: &str = "0035F00000000GCQAY";
/// The capitalised email, as stored.
pub const KENJI_EMAIL: &str = "Kenji.Sato@Example.com";
/// The demo Lead.
pub const LEAD_ID: &str = "00Q5F00000000G9UAI";
/// The demo Lead's email.
pub const LEAD_EMAIL: &str = "sam.lee@example.org";
/// Number of Contacts the demo data holds (before `extra_contacts`).
pub const DEMO_CONTACTS: usize = 4;

/// The email of bulk contact `n` (1-based).
pub fn bulk_email(n: usize) -> String {
    format!("bulk-{n:03}@example.com")
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Seeds the demo org. Errors name the record that failed (seed data and schema disagree).
pub(crate) fn seed(store: &mut Store, demo: bool, extra: usize) -> Result<(), String> {
    let opts = WriteOpts { allow_save: true };
    let create = |store: &mut Store, sobject: &str, body: Value| -> Result<String, String> {
        store
            .create(sobject, &object(body), opts)
            .map_err(|e| format!("seeding {sobject} failed: {} ({})", e.code, e.message))
    };
    if demo {
        create(
            store,
            "Account",
            json!({"Name": CUSTOMER_ACCOUNT_NAME, "Website": "acme.example",
            "Phone": "(415) 555-0000", "Industry": "Manufacturing", "External_Id__c": "shop-acct-7"}),
        )?;
        create(
            store,
            "Account",
            json!({"Name": "Globex Ltd", "Website": "globex.example", "Industry": "Transportation"}),
        )?;
        create(
            store,
            "Contact",
            json!({"FirstName": CUSTOMER_FIRST_NAME, "LastName": CUSTOMER_LAST_NAME,
            "Email": CUSTOMER_EMAIL, "Phone": CUSTOMER_PHONE, "External_Id__c": CUSTOMER_EXTERNAL_ID,
            "Title": "Operations Manager", "AccountId": CUSTOMER_ACCOUNT_ID}),
        )?;
        create(
            store,
            "Contact",
            json!({"FirstName": "Oliver", "LastName": "Bennett",
            "Email": "oliver.bennett@example.co.uk", "Phone": UK_PHONE}),
        )?;
        create(
            store,
            "Contact",
            json!({"FirstName": "Maria", "LastName": "Garcia",
            "Email": "maria.garcia@globex.example", "Phone": "(212) 555-0147", "Title": "Buyer",
            "AccountId": GLOBEX_ACCOUNT_ID}),
        )?;
        create(
            store,
            "Contact",
            json!({"FirstName": "Kenji", "LastName": "Sato", "Email": KENJI_EMAIL}),
        )?;
        create(
            store,
            "Lead",
            json!({"FirstName": "Sam", "LastName": "Lee", "Email": LEAD_EMAIL,
            "Company": "Initech", "LeadSource": "Web", "Description": "Asked about volume pricing in chat."}),
        )?;
        create(
            store,
            "Opportunity",
            json!({"Name": "Acme Corp - annual renewal", "Amount": 12000,
            "CloseDate": "2026-12-15", "StageName": "Proposal/Price Quote",
            "AccountId": CUSTOMER_ACCOUNT_ID, "ContactId": CUSTOMER_CONTACT_ID}),
        )?;
        create(
            store,
            "Opportunity",
            json!({"Name": "Acme Corp - starter plan", "Amount": 4800.5,
            "CloseDate": "2025-11-03", "StageName": "Closed Won",
            "AccountId": CUSTOMER_ACCOUNT_ID, "ContactId": CUSTOMER_CONTACT_ID}),
        )?;
        create(
            store,
            "Case",
            json!({"Subject": "Order arrived damaged", "Status": "Working",
            "Priority": "High", "Origin": "Web",
            "Description": "Two of the five units have cracked housings.",
            "ContactId": CUSTOMER_CONTACT_ID, "AccountId": CUSTOMER_ACCOUNT_ID}),
        )?;
        create(
            store,
            "Case",
            json!({"Subject": "Cannot reset password", "Status": "Closed",
            "Priority": "Medium", "ContactId": CUSTOMER_CONTACT_ID, "AccountId": CUSTOMER_ACCOUNT_ID}),
        )?;
        let tasks = [
            (
                json!({"Subject": "Prefers email over phone", "Type": "Note", "Status": "Completed",
                "Description": "Customer asked to be contacted by email.", "ActivityDate": "2026-01-12",
                "WhoId": CUSTOMER_CONTACT_ID}),
                "2026-01-12T10:15:00.000+0000",
            ),
            (
                json!({"Subject": "Renewal call", "Type": "Call", "TaskSubtype": "Call", "Status": "Completed",
                "CallType": "Outbound", "CallDurationInSeconds": 540,
                "Description": "Discussed renewal pricing; sent proposal afterwards.",
                "ActivityDate": "2026-02-03", "WhoId": CUSTOMER_CONTACT_ID, "WhatId": OPEN_OPPORTUNITY_ID}),
                "2026-02-03T16:40:00.000+0000",
            ),
            (
                json!({"Subject": "Delivery follow-up call", "Type": "Call", "TaskSubtype": "Call",
                "Status": "Completed", "CallType": "Inbound", "CallDurationInSeconds": 180,
                "Description": "Customer asked when the replacement units ship.",
                "ActivityDate": "2026-03-02", "WhoId": CUSTOMER_CONTACT_ID}),
                "2026-03-02T11:20:00.000+0000",
            ),
            (
                json!({"Subject": "Chat about damaged order", "Type": "Chat", "Status": "Completed",
                "Description": "Customer reported damaged units; case opened.", "ActivityDate": "2026-03-09",
                "WhoId": CUSTOMER_CONTACT_ID, "WhatId": OPEN_CASE_ID}),
                "2026-03-09T09:05:00.000+0000",
            ),
        ];
        for (body, at) in tasks {
            let id = create(store, "Task", body)?;
            // Seeded history happened in the past: backdate it as a data import would.
            for f in [
                "CreatedDate",
                "LastModifiedDate",
                "SystemModstamp",
                "CompletedDateTime",
            ] {
                store.set_system("Task", &id, f, json!(at));
            }
        }
    }
    for n in 1..=extra {
        create(
            store,
            "Contact",
            json!({"FirstName": "Bulk", "LastName": format!("Contact {n:03}"),
            "Email": bulk_email(n)}),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_matches_the_constants() {
        let mut store = Store::new();
        seed(&mut store, true, 2).unwrap();
        let get = |o: &str, id: &str| store.record(o, id).cloned().unwrap_or_default();
        assert_eq!(get("Contact", CUSTOMER_CONTACT_ID)["Email"], CUSTOMER_EMAIL);
        assert_eq!(get("Contact", CUSTOMER_CONTACT_ID)["Phone"], CUSTOMER_PHONE);
        assert_eq!(
            get("Contact", CUSTOMER_CONTACT_ID)["AccountId"],
            CUSTOMER_ACCOUNT_ID
        );
        assert_eq!(
            get("Account", CUSTOMER_ACCOUNT_ID)["Name"],
            CUSTOMER_ACCOUNT_NAME
        );
        assert_eq!(get("Account", GLOBEX_ACCOUNT_ID)["Name"], "Globex Ltd");
        assert_eq!(get("Contact", UK_CONTACT_ID)["Phone"], UK_PHONE);
        assert_eq!(get("Contact", KENJI_CONTACT_ID)["Email"], KENJI_EMAIL);
        assert_eq!(get("Lead", LEAD_ID)["Email"], LEAD_EMAIL);
        assert_eq!(get("Opportunity", OPEN_OPPORTUNITY_ID)["IsClosed"], false);
        assert_eq!(get("Opportunity", WON_OPPORTUNITY_ID)["IsWon"], true);
        assert_eq!(get("Case", OPEN_CASE_ID)["IsClosed"], false);
        assert_eq!(get("Case", CLOSED_CASE_ID)["IsClosed"], true);
        assert_eq!(get("Task", NOTE_TASK_ID)["Type"], "Note");
        assert_eq!(get("Task", CALL_TASK_ID)["TaskSubtype"], "Call");
        assert_eq!(get("Task", SECOND_CALL_TASK_ID)["TaskSubtype"], "Call");
        assert_eq!(get("Task", CHAT_TASK_ID)["Type"], "Chat");
        assert_eq!(get("Task", CHAT_TASK_ID)["AccountId"], CUSTOMER_ACCOUNT_ID);
        assert_eq!(store.records("Contact").len(), DEMO_CONTACTS + 2);
    }
}
