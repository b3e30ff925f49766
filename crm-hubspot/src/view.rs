//! The 360° view in as few requests as HubSpot allows.
//!
//! 1. The contact with the ids of everything associated with it, in one read: by email,
//!    `GET /contacts/{email}?idProperty=email&associations=companies,deals,tickets,notes,tasks,calls`;
//!    by phone or external id, a search and then that read by id.
//! 2. Concurrently, one batch read per object that has associated records (≤100 ids per call):
//!    the company, deals, tickets, notes, tasks, calls. Open deals and tickets are chosen with
//!    the pipelines (cached per connection, fetched once).
//!
//! For the demo customer (company, 2 deals, 2 tickets, 2 notes, 1 call) that is 6 requests by
//! email, 8 with a cold pipeline cache.

use crm_core::reexports::futures::try_join;
use crm_core::transport::Request;
use crm_core::{
    Account, Activity, Contact, CustomerView, ErrorKind, Lookup, Opportunity, Record, RecordId,
    Result, Ticket, ViewOptions,
};

use crate::core::{Core, GENERAL, HsObject};
use crate::mapping::MappingTarget;
use crate::objects::HubObject;
use crate::reads::{inline_ids, newest_activities, read_batch};
use crate::search::{phone_groups, same_number, search_records};

const VIEW_ASSOCIATIONS: &str = "companies,deals,tickets,notes,tasks,calls";

async fn contact_with_associations(
    core: &Core,
    id: &str,
    id_property: Option<&str>,
    operation: &str,
) -> Result<Option<HsObject>> {
    let mut req = Request::get(core.paths.record(HubObject::Contacts, id), operation)
        .addresses_record()
        .query(
            "properties",
            core.read_props(MappingTarget::Contact).join(","),
        )
        .query("associations", VIEW_ASSOCIATIONS)
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

/// Loads the view; `None` when no contact matches.
pub(crate) async fn load(
    core: &Core,
    lookup: &Lookup,
    options: &ViewOptions,
) -> Result<Option<CustomerView>> {
    let operation = "customer_view";
    let (hs, other_matches) = match lookup {
        Lookup::Email(email) => (
            contact_with_associations(core, email.expose(), Some("email"), operation).await?,
            Vec::new(),
        ),
        other => {
            let found = find(core, other, operation).await?;
            let mut ids = found.into_iter();
            match ids.next() {
                None => return Ok(None),
                Some(first) => (
                    contact_with_associations(core, first.as_str(), None, operation).await?,
                    ids.collect(),
                ),
            }
        }
    };
    let Some(hs) = hs else { return Ok(None) };
    let mapping = core.read_mapping(MappingTarget::Contact, None).await?;
    let contact: Record<Contact> = core.record_from(MappingTarget::Contact, &mapping, &hs, &[])?;
    let id = hs.id.clone();
    let me = [("contact_id", id.as_str())];
    let ids = |to: HubObject| inline_ids(core, &hs, HubObject::Contacts, &id, to, operation);

    let account = async {
        let company = match &contact.account_id {
            Some(a) => vec![a.to_string()],
            None => ids(HubObject::Companies)
                .await?
                .into_iter()
                .take(1)
                .collect(),
        };
        if company.is_empty() {
            return Ok(None);
        }
        let mut found =
            read_batch::<Account>(core, MappingTarget::Account, &company, &[], operation).await?;
        Ok::<_, crm_core::Error>(found.pop())
    };
    let deals = async {
        if options.opportunities == 0 {
            return Ok(Vec::new());
        }
        let ids = ids(HubObject::Deals).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut deals =
            read_batch::<Opportunity>(core, MappingTarget::Opportunity, &ids, &me, operation)
                .await?;
        deals.retain(|d| d.is_open());
        deals.sort_by_key(|d| std::cmp::Reverse(d.updated_at));
        deals.truncate(options.opportunities);
        Ok::<_, crm_core::Error>(deals)
    };
    let tickets = async {
        if options.tickets == 0 {
            return Ok(Vec::new());
        }
        let ids = ids(HubObject::Tickets).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tickets =
            read_batch::<Ticket>(core, MappingTarget::Ticket, &ids, &me, operation).await?;
        tickets.retain(|t| t.is_open());
        tickets.sort_by_key(|t| std::cmp::Reverse(t.updated_at));
        tickets.truncate(options.tickets);
        Ok::<_, crm_core::Error>(tickets)
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
