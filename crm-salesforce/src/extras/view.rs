//! The 360° view in one round trip: a Composite request (one API call; Salesforce's REST API
//! guide, "Composite", allows up to 25 subrequests of which at most 5 are queries) whose first
//! subrequest finds the contact, with its account's fields through the `Account.` relationship
//! and its latest Tasks and Events as child relationship sub-queries, and whose four others
//! read, by reference to the contact found (`@{contact.records[0].Id}`), its open cases and its
//! open opportunities.
//!
//! Real orgs link opportunities to people three ways, and the view takes all three: the
//! contact's account (`Opportunity.AccountId`, how Salesforce hangs opportunities off
//! customers), an `OpportunityContactRole` naming the contact, and `Opportunity.ContactId`
//! (only set by some flows). SOQL refuses a semi-join combined with `OR` (SOQL and SOSL
//! reference, "Semi-Joins with IN and Anti-Joins with NOT IN"), so each link is its own query;
//! the account link is a semi-join on the contact (`AccountId IN (SELECT AccountId FROM
//! Contact …)`) rather than a reference to the contact's `AccountId`, which is null for a
//! contact without an account. The three results are merged, deduplicated and cut to the limit,
//! newest first.

use chrono::{DateTime, Utc};
use crm_core::raw::VendorRecord;
use crm_core::reexports::url::form_urlencoded;
use crm_core::{
    Activity, CustomerView, Error, Lookup, Opportunity, Record, RecordId, RecordRef, Result,
    Ticket, ViewOptions,
};
use serde_json::{Value, json};

use crate::backend::SalesforceBackend;
use crate::extras::id;
use crate::extras::soql::{Select, quote};
use crate::lister::{RECENT, lookup_condition, owner_condition, same_phone};
use crate::wire::{QueryPage, SObject, SubResponse};

/// The reference to the contact the first subrequest found.
const CONTACT_REF: &str = "@{contact.records[0].Id}";

/// A Composite query subrequest. The SOQL is percent-encoded except the one reference token,
/// which Salesforce substitutes; a looked-up value holding `@{…}` stays encoded and inert.
fn query_sub(b: &SalesforceBackend, reference_id: &str, soql: &str) -> Value {
    let encoded: Vec<String> = soql
        .split(CONTACT_REF)
        .map(|part| form_urlencoded::byte_serialize(part.as_bytes()).collect())
        .collect();
    json!({
        "method": "GET",
        "url": format!("{}?q={}", b.full_path("/query"), encoded.join(CONTACT_REF)),
        "referenceId": reference_id,
    })
}

/// When an activity happened, else when it was logged.
fn activity_time(b: &SalesforceBackend, r: &VendorRecord) -> Option<DateTime<Utc>> {
    b.record::<Activity>(r.clone())
        .ok()
        .and_then(|a| a.data.timestamp)
        .or(r.created_at)
}

/// Activities newest first, at most `limit`.
fn newest_first(b: &SalesforceBackend, all: Vec<VendorRecord>, limit: usize) -> Vec<VendorRecord> {
    let mut keyed: Vec<(Option<DateTime<Utc>>, VendorRecord)> =
        all.into_iter().map(|r| (activity_time(b, &r), r)).collect();
    keyed.sort_by_key(|k| std::cmp::Reverse(k.0));
    keyed.into_iter().take(limit).map(|(_, r)| r).collect()
}

/// The latest Tasks and Events of `owner`, in one Composite request (one round trip, one API
/// call), newest first.
pub(crate) async fn latest_activities(
    b: &SalesforceBackend,
    owner: &RecordRef,
    limit: usize,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    let mut subs = Vec::new();
    for s in [SObject::Task, SObject::Event] {
        let select = Select::new(s.name(), &b.read_fields(s)?)
            .and(owner_condition(b, s, owner, operation)?)
            .order_by("CreatedDate DESC, Id DESC")
            .limit(limit);
        subs.push(query_sub(b, s.name(), &select.text()));
    }
    let responses = b.composite(subs, true, operation).await?;
    let mut all = Vec::new();
    for (s, r) in [SObject::Task, SObject::Event].into_iter().zip(&responses) {
        all.extend(b.vendor_records(s, &r.page(operation)?.records, operation)?);
    }
    Ok(newest_first(b, all, limit))
}

/// Reference ids of the opportunity queries, one per link.
const OPPORTUNITY_REFS: [&str; 3] = [
    "opportunities_by_contact",
    "opportunities_by_account",
    "opportunities_by_role",
];

/// One open-opportunity query per link to the contact `id_expr` (a quoted id or the quoted
/// reference token), in [`OPPORTUNITY_REFS`] order, newest first, `limit` each.
fn opportunity_subs(b: &SalesforceBackend, id_expr: &str, limit: usize) -> Result<Vec<Value>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let fields = b.read_fields(SObject::Opportunity)?;
    let links = [
        format!("ContactId = {id_expr}"),
        format!("AccountId IN (SELECT AccountId FROM Contact WHERE Id = {id_expr})"),
        format!(
            "Id IN (SELECT OpportunityId FROM OpportunityContactRole WHERE ContactId = {id_expr})"
        ),
    ];
    Ok(OPPORTUNITY_REFS
        .iter()
        .zip(links)
        .map(|(refid, link)| {
            let select = Select::new("Opportunity", &fields)
                .and(link)
                .and("IsClosed = false")
                .order_by(RECENT)
                .limit(limit);
            query_sub(b, refid, &select.text())
        })
        .collect())
}

/// The open opportunities of the three link queries: each once, newest first, at most `limit`.
fn merged_opportunities(
    b: &SalesforceBackend,
    responses: &[SubResponse],
    limit: usize,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    let mut all: Vec<VendorRecord> = Vec::new();
    for refid in OPPORTUNITY_REFS {
        let found = responses.iter().find(|r| r.reference_id == refid);
        for o in rows(b, SObject::Opportunity, found, operation)? {
            if !all.iter().any(|seen| seen.id == o.id) {
                all.push(o);
            }
        }
    }
    all.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| b.id.as_str().cmp(a.id.as_str()))
    });
    all.truncate(limit);
    Ok(all)
}

/// `Opportunities::open_for` a contact: the three link queries in one Composite request.
pub(crate) async fn open_opportunities_for_contact(
    b: &SalesforceBackend,
    contact: &RecordId,
    limit: usize,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    let subs = opportunity_subs(b, &quote(contact.as_str()), limit)?;
    if subs.is_empty() {
        return Ok(Vec::new());
    }
    let responses = b.composite(subs, true, operation).await?;
    merged_opportunities(b, &responses, limit, operation)
}

/// The dependent queries for the contact `id_expr` (a quoted id or the quoted reference
/// token): its open opportunities by each link and its open cases.
fn dependents(b: &SalesforceBackend, id_expr: &str, options: &ViewOptions) -> Result<Vec<Value>> {
    let mut subs = opportunity_subs(b, id_expr, options.opportunities)?;
    if options.tickets > 0 {
        let select = Select::new("Case", &b.read_fields(SObject::Case)?)
            .and(format!("ContactId = {id_expr}"))
            .and("IsClosed = false")
            .order_by(RECENT)
            .limit(options.tickets);
        subs.push(query_sub(b, "cases", &select.text()));
    }
    Ok(subs)
}

/// Child relationship sub-queries of the contact query for its latest Tasks and Events.
fn activity_children(b: &SalesforceBackend, limit: usize) -> Result<Vec<String>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    [(SObject::Task, "Tasks"), (SObject::Event, "Events")]
        .into_iter()
        .map(|(s, relationship)| {
            let select = Select::new(relationship, &b.read_fields(s)?)
                .order_by("CreatedDate DESC, Id DESC")
                .limit(limit);
            Ok(format!("({})", select.text()))
        })
        .collect()
}

/// The activities of a child relationship sub-query result (`null` when there are none).
fn child_activities(
    b: &SalesforceBackend,
    s: SObject,
    value: Option<Value>,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => {
            let page: QueryPage = serde_json::from_value(v).map_err(|e| {
                Error::decode(format!("a child relationship result: {e}")).with_operation(operation)
            })?;
            b.vendor_records(s, &page.records, operation)
        }
    }
}

fn rows(
    b: &SalesforceBackend,
    s: SObject,
    r: Option<&SubResponse>,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    match r {
        None => Ok(Vec::new()),
        Some(r) => b.vendor_records(s, &r.page(operation)?.records, operation),
    }
}

/// Vendor records → `Record<T>`s.
fn records<T: crm_core::Entity>(
    b: &SalesforceBackend,
    found: Vec<VendorRecord>,
    operation: &str,
) -> Result<Vec<Record<T>>> {
    found
        .into_iter()
        .map(|r| b.record(r).map_err(|e| e.with_operation(operation)))
        .collect()
}

/// Loads the view (see the module docs). Phone lookups match digits in SOQL and E.164 on the
/// client; when the first SOQL match is not a true match, the dependent queries run again in
/// a second Composite request keyed by the right contact (its activities came with its row).
pub(crate) async fn load(
    b: &SalesforceBackend,
    lookup: &Lookup,
    options: &ViewOptions,
) -> Result<Option<CustomerView>> {
    let operation = "customer_view";
    let condition = lookup_condition(b, SObject::Contact, lookup)
        .map_err(|e| e.with_operation("contact.find_by"))?;
    let mut fields = b.read_fields(SObject::Contact)?;
    fields.extend(
        b.read_fields(SObject::Account)?
            .into_iter()
            .map(|f| format!("Account.{f}")),
    );
    let is_phone = matches!(lookup, Lookup::Phone(_));
    if is_phone {
        fields.push("MobilePhone".into());
    }
    fields.extend(activity_children(b, options.activities)?);
    let contact_query = Select::new("Contact", &fields)
        .and(condition)
        .order_by(RECENT)
        .limit(if is_phone { 200 } else { 10 });
    let mut subs = vec![query_sub(b, "contact", &contact_query.text())];
    subs.extend(dependents(b, &format!("'{CONTACT_REF}'"), options)?);
    let responses = b.composite(subs, true, operation).await?;
    let Some(first) = responses.first() else {
        return Err(Error::decode("the composite response is empty").with_operation(operation));
    };
    let contacts = first.page(operation)?;
    let matches: Vec<&Value> = contacts
        .records
        .iter()
        .filter(|row| match lookup {
            Lookup::Phone(p) => same_phone(b, row, &["Phone", "MobilePhone"], p),
            _ => true,
        })
        .take(10)
        .collect();
    let Some(&row) = matches.first() else {
        return Ok(None);
    };
    let mut row = row.clone();
    let account_row = row.get("Account").cloned().filter(Value::is_object);
    let (mut tasks, mut events) = (None, None);
    if let Some(m) = row.as_object_mut() {
        m.remove("Account");
        m.remove("MobilePhone");
        tasks = m.remove("Tasks");
        events = m.remove("Events");
    }
    let contact = b
        .vendor_record(SObject::Contact, &row)
        .and_then(|r| b.record(r))
        .map_err(|e| e.with_operation(operation))?;
    let other_matches = matches
        .iter()
        .skip(1)
        .filter_map(|r| r.get("Id").and_then(Value::as_str))
        .filter_map(id::to18)
        .filter_map(|s| RecordId::new(s).ok())
        .collect();
    let account = match account_row {
        Some(a) if a.get("Id").is_some_and(|v| !v.is_null()) => Some(
            b.vendor_record(SObject::Account, &a)
                .and_then(|r| b.record(r))
                .map_err(|e| e.with_operation(operation))?,
        ),
        _ => None,
    };
    // The references pointed at the first SOQL row; if a phone lookup filtered it out, read
    // the rest again for the contact that matched.
    let first_row_id = contacts
        .records
        .first()
        .and_then(|r| r.get("Id"))
        .and_then(Value::as_str);
    let dependents_responses =
        if first_row_id.and_then(id::to18).as_deref() == Some(contact.id.as_str()) {
            responses
                .get(1..)
                .map(<[SubResponse]>::to_vec)
                .unwrap_or_default()
        } else {
            let subs = dependents(b, &quote(contact.id.as_str()), options)?;
            if subs.is_empty() {
                Vec::new()
            } else {
                b.composite(subs, true, operation).await?
            }
        };
    let cases = dependents_responses
        .iter()
        .find(|r| r.reference_id == "cases");
    let opportunities =
        merged_opportunities(b, &dependents_responses, options.opportunities, operation)?;
    let open_opportunities: Vec<Record<Opportunity>> = records(b, opportunities, operation)?;
    let open_tickets: Vec<Record<Ticket>> =
        records(b, rows(b, SObject::Case, cases, operation)?, operation)?;
    let mut activities = child_activities(b, SObject::Task, tasks, operation)?;
    activities.extend(child_activities(b, SObject::Event, events, operation)?);
    let activities = newest_first(b, activities, options.activities);
    Ok(Some(CustomerView {
        contact,
        other_matches,
        account,
        open_opportunities: open_opportunities
            .into_iter()
            .filter(|o| o.is_open())
            .collect(),
        open_tickets: open_tickets.into_iter().filter(|t| t.is_open()).collect(),
        recent_activities: records(b, activities, operation)?,
    }))
}
