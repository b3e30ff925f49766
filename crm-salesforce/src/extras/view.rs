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

use crm_core::raw::VendorRecord;
use crm_core::{
    CustomerView, Error, Lookup, Opportunity, Record, RecordId, Result, Ticket, ViewOptions,
};
use serde_json::Value;

use crate::extras::id;
use crate::extras::org::SalesforceBackend;
use crate::extras::queries::{
    CONTACT_REF, RECENT, lookup_condition, merged_opportunities, newest_first, opportunity_subs,
    query_sub, rows, same_phone,
};
use crate::extras::soql::{Select, quote};
use crate::wire::{QueryPage, SObject, SubResponse};

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
