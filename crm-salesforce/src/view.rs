//! The 360° view in one round trip: a Composite request (VENDORS.md §2.6) whose first
//! subrequest finds the contact (with its account's fields through the `Account.` relationship)
//! and whose others read open opportunities, open cases, the latest tasks and events by
//! reference to the contact found (`@{contact.records[0].Id}`). Five queries: Composite's
//! limit. One API call.

use crm_core::reexports::url::form_urlencoded;
use crm_core::{
    Account, Activity, Contact, CustomerView, Entity, Error, Lookup, Opportunity, Record, Result,
    Ticket, ViewOptions,
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
    crm_core::transport::decode_value(r.body.clone()).map_err(|e| {
        Error::decode(format!("a query result: {}", e.message())).with_operation(operation)
    })
}

/// The dependent queries for the contact `id_expr` (a quoted id or the reference token).
fn dependents(core: &Core, id_expr: &str, options: &ViewOptions) -> Vec<Value> {
    let mut subs = Vec::new();
    let mut add = |s: SObject, refid: &str, cond: String, order: &str, limit: usize| {
        if limit == 0 {
            return;
        }
        let mut select = Select::new(s.name(), &core.read_fields(s))
            .and(cond)
            .order_by(order)
            .limit(limit);
        if matches!(s, SObject::Opportunity | SObject::Case) {
            select = select.and("IsClosed = false");
        }
        subs.push(query_sub(core, refid, &select.text()));
    };
    let recent = "LastModifiedDate DESC, Id DESC";
    add(
        SObject::Opportunity,
        "opportunities",
        format!("ContactId = {id_expr}"),
        recent,
        options.opportunities,
    );
    add(
        SObject::Case,
        "cases",
        format!("ContactId = {id_expr}"),
        recent,
        options.tickets,
    );
    add(
        SObject::Task,
        "tasks",
        format!("WhoId = {id_expr}"),
        "CreatedDate DESC, Id DESC",
        options.activities,
    );
    add(
        SObject::Event,
        "events",
        format!("WhoId = {id_expr}"),
        "CreatedDate DESC, Id DESC",
        options.activities,
    );
    subs
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
/// a second Composite request keyed by the right contact.
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
    if let Some(m) = row.as_object_mut() {
        m.remove("Account");
        m.remove("MobilePhone");
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
    let open_opportunities: Vec<Record<Opportunity>> =
        decode_rows(core, SObject::Opportunity, find("opportunities"), operation)?;
    let open_tickets: Vec<Record<Ticket>> =
        decode_rows(core, SObject::Case, find("cases"), operation)?;
    let mut activities: Vec<Record<Activity>> =
        decode_rows(core, SObject::Task, find("tasks"), operation)?;
    activities.extend(decode_rows::<Activity>(
        core,
        SObject::Event,
        find("events"),
        operation,
    )?);
    let recent_activities = newest_first(activities, options.activities);
    Ok(Some(CustomerView {
        contact,
        other_matches,
        account,
        open_opportunities: open_opportunities
            .into_iter()
            .filter(|o| o.is_open())
            .collect(),
        open_tickets: open_tickets.into_iter().filter(|t| t.is_open()).collect(),
        recent_activities,
    }))
}

fn sf_lookup(sf: &Salesforce, lookup: &Lookup) -> Result<String> {
    sf.contacts.lookup_condition_pub(lookup)
}
