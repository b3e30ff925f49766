//! The demo org: the same returning customer as the sandbox's demo data, in Salesforce's shape.
//!
//! Jane Doe is a Contact at the Account "Acme Corp" with an open and a closed Case, four Tasks
//! (a note, two completed calls, a chat log) and Opportunities linked the ways real orgs link
//! them: Salesforce hangs opportunities off the account (`Opportunity.AccountId`) and attaches
//! people through `OpportunityContactRole`; `Opportunity.ContactId` is only filled by some
//! flows. So she has an open opportunity on her account that names her too (`ContactId`), a won
//! one on her account, an open one linked only by her account, one linked only by a contact role
//! (on no account), and one linked only by `ContactId`. Bystanders: a UK contact with an
//! international phone, Maria at a second account (Globex) with an open opportunity on Globex
//! where she has a contact role and an open case, a contact whose email is stored with
//! capitals, and a Lead. [`customer_view_seeds`] lists what a 360° view of Jane must and must
//! not show. Ids are real-looking 18-character ids with correct key prefixes and checksums; they
//! are deterministic because records are created in a fixed order into an empty org.

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
/// Her open Opportunity (`Proposal/Price Quote`), on her Account and naming her in `ContactId`.
pub const OPEN_OPPORTUNITY_ID: &str = "0065F00000000G9QAI";
/// Her won Opportunity (`Closed Won`), on her Account.
pub const WON_OPPORTUNITY_ID: &str = "0065F00000000GAQAY";
/// An open Opportunity linked only by her Account (`AccountId`; no `ContactId`, no role): the
/// usual shape in a real org.
pub const ACCOUNT_OPPORTUNITY_ID: &str = "0065F00000000GBQAY";
/// An open Opportunity on no account, linked to her only by an `OpportunityContactRole`.
pub const ROLE_OPPORTUNITY_ID: &str = "0065F00000000GCQAY";
/// An open Opportunity on no account, linked to her only by `Opportunity.ContactId`.
pub const CONTACT_OPPORTUNITY_ID: &str = "0065F00000000GDQAY";
/// Another customer's open Opportunity: on Globex, with Maria as its primary contact role.
pub const GLOBEX_OPPORTUNITY_ID: &str = "0065F00000000GEQAY";
/// Her `OpportunityContactRole` on [`ROLE_OPPORTUNITY_ID`] (`Decision Maker`, primary).
pub const CUSTOMER_ROLE_ID: &str = "00K5F00000000G9UAI";
/// Maria's `OpportunityContactRole` on [`GLOBEX_OPPORTUNITY_ID`].
pub const GLOBEX_ROLE_ID: &str = "00K5F00000000GAUAY";
/// Maria's (Globex) open Case.
pub const GLOBEX_CASE_ID: &str = "5005F00000000GBQAY";
/// Maria, the contact at Globex.
pub const MARIA_CONTACT_ID: &str = "0035F00000000GBQAY";
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

/// What a 360° view of the returning customer must show and must not show, as the conformance
/// suite checks it: every open Case and Opportunity linked to her (by account, contact role or
/// `ContactId`), and none of her closed ones or of another customer's open ones.
pub fn customer_view_seeds() -> crate::conformance::ViewSeeds {
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    crate::conformance::ViewSeeds {
        open_tickets: ids(&[OPEN_CASE_ID]),
        open_opportunities: ids(&[
            OPEN_OPPORTUNITY_ID,
            ACCOUNT_OPPORTUNITY_ID,
            ROLE_OPPORTUNITY_ID,
            CONTACT_OPPORTUNITY_ID,
        ]),
        absent_tickets: ids(&[CLOSED_CASE_ID, GLOBEX_CASE_ID]),
        absent_opportunities: ids(&[WON_OPPORTUNITY_ID, GLOBEX_OPPORTUNITY_ID]),
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
        // Created after the two above so their ids stay as they were.
        create(
            store,
            "Opportunity",
            json!({"Name": "Acme Corp - spare parts", "Amount": 2500,
            "CloseDate": "2026-09-30", "StageName": "Qualification",
            "AccountId": CUSTOMER_ACCOUNT_ID}),
        )?;
        create(
            store,
            "Opportunity",
            json!({"Name": "Jane Doe - consulting referral", "Amount": 900,
            "CloseDate": "2026-10-31", "StageName": "Needs Analysis"}),
        )?;
        create(
            store,
            "Opportunity",
            json!({"Name": "Jane Doe - training seats", "Amount": 1500,
            "CloseDate": "2026-11-30", "StageName": "Prospecting",
            "ContactId": CUSTOMER_CONTACT_ID}),
        )?;
        create(
            store,
            "Opportunity",
            json!({"Name": "Globex - fleet tracking", "Amount": 30000,
            "CloseDate": "2026-08-31", "StageName": "Negotiation/Review",
            "AccountId": GLOBEX_ACCOUNT_ID}),
        )?;
        create(
            store,
            "OpportunityContactRole",
            json!({"OpportunityId": ROLE_OPPORTUNITY_ID, "ContactId": CUSTOMER_CONTACT_ID,
            "Role": "Decision Maker", "IsPrimary": true}),
        )?;
        create(
            store,
            "OpportunityContactRole",
            json!({"OpportunityId": GLOBEX_OPPORTUNITY_ID, "ContactId": MARIA_CONTACT_ID,
            "Role": "Economic Buyer", "IsPrimary": true}),
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
        create(
            store,
            "Case",
            json!({"Subject": "Tracker offline", "Status": "New", "Priority": "Low",
            "ContactId": MARIA_CONTACT_ID, "AccountId": GLOBEX_ACCOUNT_ID}),
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
        let get = |o: &str, id: &str| {
            let mut rec = store.record(o, id).cloned().unwrap_or_default();
            // Unset fields read as null, as the REST API renders them.
            for f in ["AccountId", "ContactId"] {
                rec.entry(f).or_insert(Value::Null);
            }
            rec
        };
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
        assert_eq!(
            get("Contact", MARIA_CONTACT_ID)["AccountId"],
            GLOBEX_ACCOUNT_ID
        );
        let account_only = get("Opportunity", ACCOUNT_OPPORTUNITY_ID);
        assert_eq!(account_only["AccountId"], CUSTOMER_ACCOUNT_ID);
        assert_eq!(account_only["ContactId"], Value::Null);
        assert_eq!(account_only["IsClosed"], false);
        let role_only = get("Opportunity", ROLE_OPPORTUNITY_ID);
        assert_eq!(
            (&role_only["AccountId"], &role_only["ContactId"]),
            (&Value::Null, &Value::Null)
        );
        assert_eq!(role_only["IsClosed"], false);
        let contact_only = get("Opportunity", CONTACT_OPPORTUNITY_ID);
        assert_eq!(contact_only["AccountId"], Value::Null);
        assert_eq!(contact_only["ContactId"], CUSTOMER_CONTACT_ID);
        assert_eq!(contact_only["IsClosed"], false);
        assert_eq!(
            get("Opportunity", GLOBEX_OPPORTUNITY_ID)["AccountId"],
            GLOBEX_ACCOUNT_ID
        );
        let role = get("OpportunityContactRole", CUSTOMER_ROLE_ID);
        assert_eq!(
            (
                &role["OpportunityId"],
                &role["ContactId"],
                &role["IsPrimary"]
            ),
            (
                &json!(ROLE_OPPORTUNITY_ID),
                &json!(CUSTOMER_CONTACT_ID),
                &json!(true)
            )
        );
        let role = get("OpportunityContactRole", GLOBEX_ROLE_ID);
        assert_eq!(role["ContactId"], MARIA_CONTACT_ID);
        assert_eq!(get("Case", GLOBEX_CASE_ID)["ContactId"], MARIA_CONTACT_ID);
        assert_eq!(get("Case", GLOBEX_CASE_ID)["IsClosed"], false);
        assert_eq!(get("Task", NOTE_TASK_ID)["Type"], "Note");
        assert_eq!(get("Task", CALL_TASK_ID)["TaskSubtype"], "Call");
        assert_eq!(get("Task", SECOND_CALL_TASK_ID)["TaskSubtype"], "Call");
        assert_eq!(get("Task", CHAT_TASK_ID)["Type"], "Chat");
        assert_eq!(get("Task", CHAT_TASK_ID)["AccountId"], CUSTOMER_ACCOUNT_ID);
        assert_eq!(store.records("Contact").len(), DEMO_CONTACTS + 2);
    }
}
