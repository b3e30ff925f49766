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

use crm_core::reexports::url::form_urlencoded;
use crm_core::{
    Account, Activity, Contact, CustomerView, Entity, Error, Lookup, Opportunity, Record, RecordId,
    Result, Ticket, ViewOptions,
};
use serde_json::{Value, json};

use crate::backend::Salesforce;
use crate::core::{Core, SObject, SubResponse};
use crate::lister::{self, QueryPage};
use crate::soql::{Select, quote};

/// The reference to the contact the first subrequest found.
const CONTACT_REF: &str = "@{contact.records[0].Id}";

/// A Composite query subrequest. The SOQL is percent-encoded except the one reference token,
/// which Salesforce substitutes; a looked-up value holding `@{…}` stays encoded and inert.
pub(crate) fn query_sub(core: &Core, reference_id: &str, soql: &str) -> Value {
    let encoded: Vec<String> = soql
        .split(CONTACT_REF)
        .map(|part| form_urlencoded::byte_serialize(part.as_bytes()).collect())
        .collect();
    json!({
        "method": "GET",
        "url": format!("{}?q={}", core.full_path("/query"), encoded.join(CONTACT_REF)),
        "referenceId": reference_id,
    })
}

/// Activities newest first (by when they happened, else when they were logged).
pub(crate) fn newest_first(mut all: Vec<Record<Activity>>, limit: usize) -> Vec<Record<Activity>> {
    all.sort_by(|a, b| {
        let ka = a.timestamp.or(a.created_at);
        let kb = b.timestamp.or(b.created_at);
        kb.cmp(&ka)
    });
    all.truncate(limit);
    all
}

fn page(r: &SubResponse, operation: &str) -> Result<QueryPage> {
    if !r.ok() {
        return Err(r.error(operation));
    }
    // The decode error names the path and type, never a value of the result.
    crm_core::raw::http::decode_value(r.body.clone()).map_err(|e| {
        Error::decode(format!("a query result: {}", e.message())).with_operation(operation)
    })
}

/// Reference ids of the opportunity queries, one per link.
const OPPORTUNITY_REFS: [&str; 3] = [
    "opportunities_by_contact",
    "opportunities_by_account",
    "opportunities_by_role",
];

/// One open-opportunity query per link to the contact `id_expr` (a quoted id or the quoted
/// reference token), in [`OPPORTUNITY_REFS`] order, newest first, `limit` each.
fn opportunity_subs(core: &Core, id_expr: &str, limit: usize) -> Vec<Value> {
    if limit == 0 {
        return Vec::new();
    }
    let links = [
        format!("ContactId = {id_expr}"),
        format!("AccountId IN (SELECT AccountId FROM Contact WHERE Id = {id_expr})"),
        format!(
            "Id IN (SELECT OpportunityId FROM OpportunityContactRole WHERE ContactId = {id_expr})"
        ),
    ];
    OPPORTUNITY_REFS
        .iter()
        .zip(links)
        .map(|(refid, link)| {
            let select = Select::new("Opportunity", &core.read_fields(SObject::Opportunity))
                .and(link)
                .and("IsClosed = false")
                .order_by(RECENT)
                .limit(limit);
            query_sub(core, refid, &select.text())
        })
        .collect()
}

/// The open opportunities of the three link queries: each once, newest first, at most `limit`.
fn merged_opportunities(
    core: &Core,
    responses: &[SubResponse],
    limit: usize,
    operation: &str,
) -> Result<Vec<Record<Opportunity>>> {
    let mut all: Vec<Record<Opportunity>> = Vec::new();
    for refid in OPPORTUNITY_REFS {
        let found = responses.iter().find(|r| r.reference_id == refid);
        for o in decode_rows::<Opportunity>(core, SObject::Opportunity, found, operation)? {
            if o.is_open() && !all.iter().any(|seen| seen.id == o.id) {
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
    core: &Core,
    contact: &RecordId,
    limit: usize,
    operation: &str,
) -> Result<Vec<Record<Opportunity>>> {
    let subs = opportunity_subs(core, &quote(contact.as_str()), limit);
    if subs.is_empty() {
        return Ok(Vec::new());
    }
    let responses = core.composite(subs, true, operation).await?;
    merged_opportunities(core, &responses, limit, operation)
}

/// Newest first, ties broken by id, for cases and opportunities.
const RECENT: &str = "LastModifiedDate DESC, Id DESC";

/// The dependent queries for the contact `id_expr` (a quoted id or the quoted reference
/// token): its open opportunities by each link and its open cases.
fn dependents(core: &Core, id_expr: &str, options: &ViewOptions) -> Vec<Value> {
    let mut subs = opportunity_subs(core, id_expr, options.opportunities);
    if options.tickets > 0 {
        let select = Select::new("Case", &core.read_fields(SObject::Case))
            .and(format!("ContactId = {id_expr}"))
            .and("IsClosed = false")
            .order_by(RECENT)
            .limit(options.tickets);
        subs.push(query_sub(core, "cases", &select.text()));
    }
    subs
}

/// Child relationship sub-queries of the contact query for its latest Tasks and Events.
fn activity_children(core: &Core, limit: usize) -> Vec<String> {
    if limit == 0 {
        return Vec::new();
    }
    [(SObject::Task, "Tasks"), (SObject::Event, "Events")]
        .into_iter()
        .map(|(s, relationship)| {
            let select = Select::new(relationship, &core.read_fields(s))
                .order_by("CreatedDate DESC, Id DESC")
                .limit(limit);
            format!("({})", select.text())
        })
        .collect()
}

/// The activities of a child relationship sub-query result (`null` when there are none).
fn child_activities(
    core: &Core,
    s: SObject,
    value: Option<Value>,
    operation: &str,
) -> Result<Vec<Record<Activity>>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => {
            let page: QueryPage = serde_json::from_value(v).map_err(|e| {
                Error::decode(format!("a child relationship result: {e}")).with_operation(operation)
            })?;
            lister::records::<Activity>(core, s, &page, operation)
        }
    }
}

fn decode_rows<T: Entity>(
    core: &Core,
    s: SObject,
    r: Option<&SubResponse>,
    operation: &str,
) -> Result<Vec<Record<T>>> {
    match r {
        None => Ok(Vec::new()),
        Some(r) => lister::records::<T>(core, s, &page(r, operation)?, operation),
    }
}

/// Loads the view (see the module docs). Phone lookups match digits in SOQL and E.164 on the
/// client; when the first SOQL match is not a true match, the dependent queries run again in
/// a second Composite request keyed by the right contact (its activities came with its row).
pub(crate) async fn load(
    sf: &Salesforce,
    lookup: &Lookup,
    options: &ViewOptions,
) -> Result<Option<CustomerView>> {
    let operation = "customer_view";
    let core = &sf.core;
    let condition = sf_lookup(sf, lookup)?;
    let mut fields = core.read_fields(SObject::Contact);
    fields.extend(
        core.read_fields(SObject::Account)
            .into_iter()
            .map(|f| format!("Account.{f}")),
    );
    let is_phone = matches!(lookup, Lookup::Phone(_));
    if is_phone {
        fields.push("MobilePhone".into());
    }
    fields.extend(activity_children(core, options.activities));
    let contact_query = Select::new("Contact", &fields)
        .and(condition)
        .order_by("LastModifiedDate DESC, Id DESC")
        .limit(if is_phone { 200 } else { 10 });
    let mut subs = vec![query_sub(core, "contact", &contact_query.text())];
    subs.extend(dependents(core, &format!("'{CONTACT_REF}'"), options));
    let responses = core.composite(subs, true, operation).await?;
    let Some(first) = responses.first() else {
        return Err(Error::decode("the composite response is empty").with_operation(operation));
    };
    let contacts = page(first, operation)?;
    let matches: Vec<&Value> = contacts
        .records
        .iter()
        .filter(|row| match lookup {
            Lookup::Phone(p) => ["Phone", "MobilePhone"].iter().any(|f| {
                row.get(*f)
                    .and_then(Value::as_str)
                    .map(|t| crm_core::Phone::from_vendor(t, core.region))
                    .is_some_and(|x| x.e164().is_some() && x.e164() == p.e164())
            }),
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
    let contact: Record<Contact> = core
        .record_from_json(SObject::Contact, &row)
        .map_err(|e| e.with_operation(operation))?;
    let other_matches = matches
        .iter()
        .skip(1)
        .filter_map(|r| r.get("Id").and_then(Value::as_str))
        .filter_map(crate::id::to18)
        .filter_map(|s| crm_core::RecordId::new(s).ok())
        .collect();
    let account = match account_row {
        Some(a) if a.get("Id").is_some_and(|v| !v.is_null()) => Some(
            core.record_from_json::<Account>(SObject::Account, &a)
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
        if first_row_id.and_then(crate::id::to18).as_deref() == Some(contact.id.as_str()) {
            responses
                .get(1..)
                .map(<[SubResponse]>::to_vec)
                .unwrap_or_default()
        } else {
            let subs = dependents(core, &quote(contact.id.as_str()), options);
            if subs.is_empty() {
                Vec::new()
            } else {
                core.composite(subs, true, operation).await?
            }
        };
    let find = |refid: &str| {
        dependents_responses
            .iter()
            .find(|r| r.reference_id == refid)
    };
    let open_opportunities = merged_opportunities(
        core,
        &dependents_responses,
        options.opportunities,
        operation,
    )?;
    let open_tickets: Vec<Record<Ticket>> =
        decode_rows(core, SObject::Case, find("cases"), operation)?;
    let mut activities = child_activities(core, SObject::Task, tasks, operation)?;
    activities.extend(child_activities(core, SObject::Event, events, operation)?);
    let recent_activities = newest_first(activities, options.activities);
    Ok(Some(CustomerView {
        contact,
        other_matches,
        account,
        open_opportunities,
        open_tickets: open_tickets.into_iter().filter(|t| t.is_open()).collect(),
        recent_activities,
    }))
}

fn sf_lookup(sf: &Salesforce, lookup: &Lookup) -> Result<String> {
    sf.contacts.lookup_condition_pub(lookup)
}
