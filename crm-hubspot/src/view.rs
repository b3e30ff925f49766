//! The 360° view in two sequential round trips.
//!
//! 1. The contact with the ids of everything associated with it, in one read: by email,
//!    `GET /contacts/{email}?idProperty=email&associations=companies,deals,tickets,notes,tasks,calls`
//!    (by phone or external id, a search and then that read by id). Alongside it, the deal and
//!    ticket pipelines, which tell open stages from closed ones; they are per-portal metadata,
//!    cached per connection, so only a cold connection reads them (once).
//! 2. Concurrently: the company (one batch read), the open deals and the open tickets (one
//!    request each, see below), and one batch read per kind of activity (≤100 ids per call).
//!
//! Real portals hang most deals and tickets off the company, not the person (a deal→company or
//! ticket→company association; HubSpot's associations guide), so the view takes the records
//! associated with the contact and those associated with its **primary company**. The primary
//! company is the one HubSpot's contact record names as its company (the `associatedcompanyid`
//! property, the "Primary" contact→company association): the company the view shows as the
//! account. Other companies a contact is associated with are often past employers or clients
//! of an agency contact; their deals are not this customer's.
//!
//! With a company, the records come from one CRM search per object: the filter groups
//! `associations.contact = her` OR (`associations.company = her company` AND stage not closed),
//! newest first (HubSpot's search reference documents the `associations.{object}`
//! pseudo-property). That keeps the view at two round trips and at the request count of the
//! contact-only view, at the price of search's documented lag: records written a moment ago
//! may not be searchable yet. So the contact's own ids, read consistently in step 1, are checked
//! against the hits, and any the search did not return are read by id (a third round trip, only
//! right after such a write). Without a company, the contact's ids are batch-read as before.
//!
//! The two searches draw on search's own limit (5 requests per second per account, HubSpot's
//! usage guidelines), which the default limiter paces: the second search of a view may wait
//! for its turn. A contact without a company costs no search.
//!
//! For the demo customer (company, 3 deals and 2 tickets of her own or her company's, 2 notes,
//! 1 call) that is 6 requests by email, 8 with a cold pipeline cache; 2 sequential round trips.

use std::collections::HashSet;

use crm_core::raw::http::Request;
use crm_core::reexports::futures::{join, try_join};
use crm_core::reexports::http::Method;
use crm_core::reexports::serde_json::{Value, json};
use crm_core::{
    Account, Activity, Contact, CustomerView, Entity, ErrorKind, Lookup, Opportunity, Record,
    RecordId, Result, Ticket, ViewOptions,
};

use crate::core::{Core, GENERAL, HsObject, HsPage, MAX_SEARCH_PAGE, SEARCH};
use crate::mapping::MappingTarget;
use crate::objects::HubObject;
use crate::reads::{inline_ids, newest_activities, read_batch};
use crate::search::{check_search_caps, phone_groups, same_number, search_records};

const VIEW_ASSOCIATIONS: &str = "companies,deals,tickets,notes,tasks,calls";

/// The contact property HubSpot keeps its primary company's id in.
const PRIMARY_COMPANY_PROPERTY: &str = "associatedcompanyid";

/// The inline association type name of a contact's primary company (unlabelled ones are
/// `contact_to_company_unlabeled`).
const PRIMARY_COMPANY_TYPE: &str = "contact_to_company";

/// States a stage filter may leave out on the server: the closed ones. The records' own
/// `is_open` still decides; this only keeps a company's history out of the search page.
const CLOSED_STATES: [&str; 3] = ["closed", "won", "lost"];

/// At most this many closed stage ids go into the search's `NOT_IN` filter, so the request stays
/// small on portals with many pipelines; beyond that the records' own state alone decides.
const MAX_STAGE_FILTER_VALUES: usize = 100;

async fn contact_with_associations(
    core: &Core,
    id: &str,
    id_property: Option<&str>,
    properties: String,
    associations: &str,
    operation: &str,
) -> Result<Option<HsObject>> {
    let mut req = Request::get(core.paths.record(HubObject::Contacts, id), operation)
        .addresses_record()
        .query("properties", properties)
        .query("associations", associations)
        .bucket(GENERAL);
    if let Some(p) = id_property {
        req = req.query("idProperty", p);
    }
    match core.send(req).await {
        Ok(resp) => resp.json().map(Some),
        Err(e) if e.kind() == &ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the deal and ticket pipelines the view will need into the connection's cache (no
/// request when they are cached and fresh).
async fn warm_pipelines(core: &Core, deals: bool, tickets: bool) -> Result<()> {
    let read = |wanted: bool, object: HubObject| async move {
        if wanted {
            core.pipelines(object, None).await.map(drop)
        } else {
            Ok(())
        }
    };
    try_join!(
        read(deals, HubObject::Deals),
        read(tickets, HubObject::Tickets)
    )
    .map(drop)
}

/// The contact's primary company: the `associatedcompanyid` property, else the inline
/// association of the primary type, else the first associated company.
fn primary_company(hs: &HsObject) -> Option<String> {
    if let Some(id) = hs
        .properties
        .get(PRIMARY_COMPANY_PROPERTY)
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
    {
        return Some(id.to_owned());
    }
    let companies = hs
        .associations
        .as_ref()
        .and_then(|a| a.get(HubObject::Companies.name()))?;
    companies
        .results
        .iter()
        .find(|r| r.kind.as_deref() == Some(PRIMARY_COMPANY_TYPE))
        .or_else(|| companies.results.first())
        .map(|r| r.id.clone())
}

/// Where a contact's deals or tickets are: associated with the contact (the ids its own read
/// named) or with its primary company.
struct Links<'a> {
    contact: &'a str,
    contact_ids: Vec<String>,
    company: Option<&'a str>,
}

/// The open records of `target` linked to the contact or its company: each once, newest first,
/// at most `limit`.
async fn open_linked<T: Entity>(
    core: &Core,
    target: MappingTarget,
    links: &Links<'_>,
    limit: usize,
    keep: fn(&Record<T>) -> bool,
    operation: &str,
) -> Result<Vec<Record<T>>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mine = [("contact_id", links.contact)];
    let mut found: Vec<Record<T>> = match links.company {
        None if links.contact_ids.is_empty() => return Ok(Vec::new()),
        None => read_batch::<T>(core, target, &links.contact_ids, &mine, operation).await?,
        Some(company) => {
            let mut hits = search_linked::<T>(core, target, links, company, operation).await?;
            // Search lags behind writes: what the contact's own read named but the search did
            // not return is read by id.
            let missing: Vec<String> = links
                .contact_ids
                .iter()
                .filter(|id| !hits.iter().any(|h| h.id.as_str() == id.as_str()))
                .cloned()
                .collect();
            if !missing.is_empty() {
                hits.extend(read_batch::<T>(core, target, &missing, &mine, operation).await?);
            }
            hits
        }
    };
    found.retain(keep);
    let mut seen = HashSet::new();
    found.retain(|r| seen.insert(r.id.clone()));
    found.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| b.id.cmp(&a.id))
    });
    found.truncate(limit);
    Ok(found)
}

/// One search for the records of `target` associated with the contact (any stage, so that one
/// missing from the hits is one the index has not caught up with) or with its company (closed
/// stages left out), newest first. One page of 200: beyond that the newest win.
async fn search_linked<T: Entity>(
    core: &Core,
    target: MappingTarget,
    links: &Links<'_>,
    company: &str,
    operation: &str,
) -> Result<Vec<Record<T>>> {
    let object = target.object();
    let mapping = core.read_mapping(target, None).await?;
    let by_contact = vec![json!({"propertyName": "associations.contact",
                                 "operator": "EQ", "value": links.contact})];
    let mut by_company = vec![json!({"propertyName": "associations.company",
                                     "operator": "EQ", "value": company})];
    let (stage_property, field) = match target {
        MappingTarget::Ticket => ("hs_pipeline_stage", "status"),
        _ => ("dealstage", "stage"),
    };
    // Search compares `IN`/`NOT_IN` string values in lower case (HubSpot's search reference).
    let mut closed: Vec<String> = mapping
        .states
        .get(field)
        .map(|states| {
            states
                .iter()
                .filter(|(_, state)| CLOSED_STATES.contains(&state.as_str()))
                .map(|(stage, _)| stage.to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    closed.sort();
    closed.dedup();
    if !closed.is_empty() && closed.len() <= MAX_STAGE_FILTER_VALUES {
        by_company.push(json!({"propertyName": stage_property, "operator": "NOT_IN",
                               "values": closed}));
    }
    let groups = vec![by_contact, by_company];
    check_search_caps(&groups).map_err(|e| e.with_operation(operation))?;
    let filter_groups: Vec<Value> = groups.iter().map(|g| json!({"filters": g})).collect();
    let body = json!({
        "filterGroups": filter_groups,
        "sorts": [{"propertyName": object.modified_prop(), "direction": "DESCENDING"}],
        "properties": core.read_props(target),
        "limit": MAX_SEARCH_PAGE,
    });
    let req = Request::new(Method::POST, core.paths.search(object), operation)
        .json(body)
        .idempotent(true)
        .bucket(SEARCH);
    let page: HsPage = core.send(req).await?.json()?;
    page.results
        .iter()
        .map(|hs| {
            // The hit says neither which group matched: the contact's own ids are hers, the
            // rest came through the company.
            let link = if links.contact_ids.contains(&hs.id) {
                ("contact_id", links.contact)
            } else {
                ("account_id", company)
            };
            core.record_from::<T>(target, &mapping, hs, &[link])
        })
        .collect()
}

/// `Opportunities::open_for` / `Tickets::open_for` a contact: the open deals (or tickets)
/// associated with the contact or with its primary company, in two round trips (the contact
/// with its associations, alongside the pipelines; then the records). An unknown contact has
/// none.
pub(crate) async fn open_for_contact<T: Entity>(
    core: &Core,
    target: MappingTarget,
    contact: &str,
    limit: usize,
    keep: fn(&Record<T>) -> bool,
    operation: &str,
) -> Result<Vec<Record<T>>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let object = target.object();
    let associations = format!("{},{}", HubObject::Companies.name(), object.name());
    let read = contact_with_associations(
        core,
        contact,
        None,
        PRIMARY_COMPANY_PROPERTY.to_owned(),
        &associations,
        operation,
    );
    // The pipelines alongside, into the cache (see `load`).
    let pipelines = core.pipelines(object, None);
    let (hs, _warmed) = join!(read, pipelines);
    let Some(hs) = hs? else {
        return Ok(Vec::new());
    };
    let contact_ids = inline_ids(core, &hs, HubObject::Contacts, &hs.id, object, operation).await?;
    let company = primary_company(&hs);
    let links = Links {
        contact: &hs.id,
        contact_ids,
        company: company.as_deref(),
    };
    open_linked(core, target, &links, limit, keep, operation).await
}

/// Loads the view; `None` when no contact matches.
pub(crate) async fn load(
    core: &Core,
    lookup: &Lookup,
    options: &ViewOptions,
) -> Result<Option<CustomerView>> {
    let operation = "customer_view";
    let properties = || core.read_props(MappingTarget::Contact).join(",");
    let first = async {
        match lookup {
            Lookup::Email(email) => Ok((
                contact_with_associations(
                    core,
                    email.expose(),
                    Some("email"),
                    properties(),
                    VIEW_ASSOCIATIONS,
                    operation,
                )
                .await?,
                Vec::new(),
            )),
            other => {
                let found = find(core, other, operation).await?;
                let mut ids = found.into_iter();
                match ids.next() {
                    None => Ok((None, Vec::new())),
                    Some(first) => Ok((
                        contact_with_associations(
                            core,
                            first.as_str(),
                            None,
                            properties(),
                            VIEW_ASSOCIATIONS,
                            operation,
                        )
                        .await?,
                        ids.collect(),
                    )),
                }
            }
        }
    };
    // The pipelines are read alongside the first request and kept in the connection's cache.
    // Their outcome is not the lookup's: a lookup that finds nobody does not need them, and
    // when a read failed, the first record that needs them reads them again and reports why.
    let pipelines = warm_pipelines(core, options.opportunities > 0, options.tickets > 0);
    let (first, _warmed): (Result<(Option<HsObject>, Vec<RecordId>)>, _) = join!(first, pipelines);
    let (hs, other_matches) = first?;
    let Some(hs) = hs else { return Ok(None) };
    let mapping = core.read_mapping(MappingTarget::Contact, None).await?;
    let contact: Record<Contact> = core.record_from(MappingTarget::Contact, &mapping, &hs, &[])?;
    let id = hs.id.clone();
    let me = [("contact_id", id.as_str())];
    let ids = |to: HubObject| inline_ids(core, &hs, HubObject::Contacts, &id, to, operation);
    let company: Option<String> = contact
        .account_id
        .as_ref()
        .map(|a| a.to_string())
        .or_else(|| primary_company(&hs));

    let account = async {
        let Some(company) = &company else {
            return Ok(None);
        };
        let mut found = read_batch::<Account>(
            core,
            MappingTarget::Account,
            std::slice::from_ref(company),
            &[],
            operation,
        )
        .await?;
        Ok::<_, crm_core::Error>(found.pop())
    };
    let (contact_id, company_id) = (id.as_str(), company.as_deref());
    let linked = |object: HubObject| async move {
        Ok::<_, crm_core::Error>(Links {
            contact: contact_id,
            contact_ids: ids(object).await?,
            company: company_id,
        })
    };
    let deals = async {
        if options.opportunities == 0 {
            return Ok(Vec::new());
        }
        let links = linked(HubObject::Deals).await?;
        open_linked(
            core,
            MappingTarget::Opportunity,
            &links,
            options.opportunities,
            |d: &Record<Opportunity>| d.is_open(),
            operation,
        )
        .await
    };
    let tickets = async {
        if options.tickets == 0 {
            return Ok(Vec::new());
        }
        let links = linked(HubObject::Tickets).await?;
        open_linked(
            core,
            MappingTarget::Ticket,
            &links,
            options.tickets,
            |t: &Record<Ticket>| t.is_open(),
            operation,
        )
        .await
    };
    let activities = async {
        if options.activities == 0 {
            return Ok(Vec::new());
        }
        let read = |object: HubObject| async move {
            let ids = ids(object).await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let target = MappingTarget::for_engagement(object).unwrap_or(MappingTarget::Note);
            read_batch::<Activity>(core, target, &ids, &me, operation).await
        };
        let (notes, tasks, calls) = try_join!(
            read(HubObject::Notes),
            read(HubObject::Tasks),
            read(HubObject::Calls)
        )?;
        let all = notes.into_iter().chain(tasks).chain(calls).collect();
        Ok::<_, crm_core::Error>(newest_activities(all, options.activities))
    };
    let (account, open_opportunities, open_tickets, recent_activities) =
        try_join!(account, deals, tickets, activities)?;
    Ok(Some(CustomerView {
        contact,
        other_matches,
        account,
        open_opportunities,
        open_tickets,
        recent_activities,
    }))
}

/// Contact ids matching a phone or external-id lookup, most recently changed first.
async fn find(core: &Core, lookup: &Lookup, operation: &str) -> Result<Vec<RecordId>> {
    let found: Vec<Record<Contact>> = match lookup {
        Lookup::Phone(phone) => {
            let e164 = phone.e164().ok_or_else(|| {
                crm_core::Error::invalid_input("phone number has no E.164 form")
                    .with_operation(operation)
            })?;
            let all = search_records::<Contact>(
                core,
                MappingTarget::Contact,
                phone_groups(core, e164),
                crate::core::MAX_SEARCH_PAGE,
                operation,
            )
            .await?;
            all.into_iter()
                .filter(|r| same_number(&r.data, e164, core.region))
                .collect()
        }
        Lookup::ExternalId(value) => {
            let Some(prop) = &core.settings.external_id else {
                return Err(crm_core::Error::unsupported(
                    operation,
                    "no external_id_property is configured",
                ));
            };
            let filter = crm_core::reexports::serde_json::json!(
                {"propertyName": prop, "operator": "EQ", "value": value});
            search_records::<Contact>(
                core,
                MappingTarget::Contact,
                vec![vec![filter]],
                10,
                operation,
            )
            .await?
        }
        Lookup::Email(_) => Vec::new(),
    };
    Ok(found.into_iter().map(|r| r.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::serde_json;

    fn contact(v: Value) -> HsObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_primary_company_is_the_property_then_the_primary_association() {
        let assocs = json!({"companies": {"results": [
            {"id": "7", "type": "contact_to_company_unlabeled"},
            {"id": "8", "type": "contact_to_company"}]}});
        let both = contact(
            json!({"id": "1", "properties": {"associatedcompanyid": "9"},
                                  "associations": assocs}),
        );
        assert_eq!(primary_company(&both).as_deref(), Some("9"));
        let typed = contact(json!({"id": "1", "properties": {"associatedcompanyid": ""},
                                   "associations": assocs}));
        assert_eq!(primary_company(&typed).as_deref(), Some("8"));
        let untyped = contact(
            json!({"id": "1", "associations": {"companies": {"results": [
            {"id": "7", "type": "contact_to_company_unlabeled"}]}}}),
        );
        assert_eq!(primary_company(&untyped).as_deref(), Some("7"));
        assert_eq!(primary_company(&contact(json!({"id": "1"}))), None);
    }
}
