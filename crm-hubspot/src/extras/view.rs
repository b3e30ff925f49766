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
//! may not be searchable yet, and a hit carries the index's copy, which may predate a write. So
//! the contact's own ids, read consistently in step 1, are checked against the hits, and any
//! the search did not return are read by id, as are records this connection wrote within the
//! last minute (`extras/recent.rs`: a ticket the bot closed a moment ago must not show as open):
//! the contact's own ones beside the search (no extra round trip), those that came through the
//! company in a third round trip, only right after such writes. Without a company, the
//! contact's ids are batch-read as before.
//!
//! The two searches draw on search's own limit (5 requests per second per account, HubSpot's
//! usage guidelines), which the default limiter paces: the second search of a view may wait
//! for its turn. A contact without a company costs no search.
//!
//! For the demo customer (company, 3 deals and 2 tickets of her own or her company's, 2 notes,
//! 1 call) that is 6 requests by email, 8 with a cold pipeline cache; 2 sequential round trips.

use std::collections::HashSet;

use crm_core::raw::VendorRecord;
use crm_core::reexports::futures::{join, try_join};
use crm_core::reexports::serde_json::{Value, json};
use crm_core::{
    CustomerView, Entity, Error, FieldValue, Lookup, Opportunity, Record, RecordId, Result, Ticket,
    ViewOptions,
};

use crate::backend::HubSpotBackend;
use crate::extras::associations::{newest_changed, newest_happened};
use crate::extras::objects::{HubObject, MappingTarget};
use crate::extras::search::filter;
use crate::lister::MAX_SEARCH_PAGE;
use crate::wire::{HsObject, found};

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

/// How current the records of a contact's open deals or tickets must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// As search's index has them (it lags writes by seconds), except what this connection
    /// wrote lately: the 360° view, which answers a new conversation in two round trips and
    /// reads by id only what search has not caught up with or may hold an old copy of.
    Indexed,
    /// As last written: `open_for` after the bot's own update (a ticket it just closed must not
    /// read as open). The contact's own records are read by id beside the search.
    AsWritten,
}

/// Where a contact's deals or tickets are: associated with the contact (the ids its own read
/// named) or with its primary company.
struct Links<'a> {
    contact: &'a str,
    contact_ids: Vec<String>,
    company: Option<&'a str>,
}

/// The first `limit` open records among `found`.
fn open<T: Entity>(
    found: Vec<VendorRecord>,
    limit: usize,
    region: crm_core::Region,
    is_open: fn(&Record<T>) -> bool,
) -> Result<Vec<Record<T>>> {
    let all = found.into_iter().map(|r| r.into_resolved::<T>(region));
    let all = all.collect::<Result<Vec<_>>>()?;
    Ok(all.into_iter().filter(is_open).take(limit).collect())
}

impl HubSpotBackend {
    /// The contact with `properties` and the ids of its `associations`; `None` if unknown.
    async fn contact_with_associations(
        &self,
        id: &str,
        id_property: Option<&str>,
        properties: String,
        associations: String,
        operation: &str,
    ) -> Result<Option<HsObject>> {
        let contacts = HubObject::Contacts;
        let links = Some(associations.as_str());
        found(
            self.get_object(contacts, id, properties, links, id_property, operation)
                .await,
        )
    }

    /// Reads the deal and ticket pipelines the view will need into the connection's cache (no
    /// request when they are cached and fresh).
    async fn warm_pipelines(&self, deals: bool, tickets: bool) -> Result<()> {
        let read = |wanted: bool, object: HubObject| async move {
            if wanted {
                self.pipelines(object, None).await?;
            }
            Ok::<_, Error>(())
        };
        try_join!(
            read(deals, HubObject::Deals),
            read(tickets, HubObject::Tickets)
        )
        .map(drop)
    }

    /// The records of `target` linked to the contact or its company: each once, most recently
    /// changed first.
    async fn open_linked(
        &self,
        target: MappingTarget,
        links: &Links<'_>,
        fresh: Freshness,
        operation: &str,
    ) -> Result<Vec<VendorRecord>> {
        let mine = [("contact_id", links.contact)];
        let mut found = match links.company {
            None if links.contact_ids.is_empty() => return Ok(Vec::new()),
            None => {
                self.read_batch(target, &links.contact_ids, &mine, operation)
                    .await?
            }
            Some(company) => {
                // Search lags behind writes, and a hit carries the index's copy: a ticket
                // closed a moment ago still reads as open there. So the contact's own records
                // that may have changed since they were indexed — all of them where the caller
                // needs them as written, else those this connection wrote lately — are read by
                // id beside the search (their ids are known already) and replace their hits.
                let object = target.object();
                let own: Vec<String> = links
                    .contact_ids
                    .iter()
                    .filter(|id| fresh == Freshness::AsWritten || self.recent.is_recent(object, id))
                    .cloned()
                    .collect();
                let read_own = async {
                    if own.is_empty() {
                        return Ok(Vec::new());
                    }
                    self.read_batch(target, &own, &mine, operation).await
                };
                let (hits, read) = join!(
                    self.search_linked(target, links, company, operation),
                    read_own
                );
                let mut hits = hits?;
                hits.retain(|h| !own.iter().any(|id| id == h.id.as_str()));
                hits.extend(read?);
                self.behind_search(target, links, (company, &own), hits, operation)
                    .await?
            }
        };
        let mut seen = HashSet::new();
        found.retain(|r| seen.insert(r.id.clone()));
        newest_changed(&mut found);
        Ok(found)
    }

    /// Search's `hits` with what it may have wrong read by id instead, in one batch read (a
    /// third round trip, only right after writes): the records the contact's own read named
    /// that the search did not return (written too recently to be indexed; `read` were read
    /// beside the search already, whatever came back), and hits through the company this
    /// connection wrote lately (the index may hold a copy from before the write: a ticket closed
    /// a moment ago would read as open).
    async fn behind_search(
        &self,
        target: MappingTarget,
        links: &Links<'_>,
        (company, read): (&str, &[String]),
        mut hits: Vec<VendorRecord>,
        operation: &str,
    ) -> Result<Vec<VendorRecord>> {
        let object = target.object();
        let hit = |id: &str| hits.iter().any(|h| h.id.as_str() == id);
        let mut stale: Vec<String> = links
            .contact_ids
            .iter()
            .filter(|id| !hit(id) && !read.contains(id))
            .cloned()
            .collect();
        stale.extend(
            hits.iter()
                .map(|h| h.id.as_str())
                .filter(|id| !links.contact_ids.iter().any(|c| c == id))
                .filter(|id| self.recent.is_recent(object, id))
                .map(str::to_owned),
        );
        if stale.is_empty() {
            return Ok(hits);
        }
        hits.retain(|h| !stale.iter().any(|s| s == h.id.as_str()));
        // One read for both links: each record gets the link it came through.
        for mut r in self.read_batch(target, &stale, &[], operation).await? {
            let (field, to) = if links.contact_ids.iter().any(|c| c == r.id.as_str()) {
                ("contact_id", links.contact)
            } else {
                ("account_id", company)
            };
            r.resolved
                .insert_missing(field, || FieldValue::Text(to.to_owned()));
            hits.push(r);
        }
        Ok(hits)
    }

    /// One search for the records of `target` associated with the contact (any stage, so that
    /// one missing from the hits is one the index has not caught up with) or with its company
    /// (closed stages left out), newest first. One page of 200: beyond that the newest win.
    async fn search_linked(
        &self,
        target: MappingTarget,
        links: &Links<'_>,
        company: &str,
        operation: &str,
    ) -> Result<Vec<VendorRecord>> {
        let (mapping, names) = self.read_mapping(target, None).await?;
        let by_contact = vec![filter("associations.contact", "EQ", links.contact)];
        let mut by_company = vec![filter("associations.company", "EQ", company)];
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
        let groups = (vec![by_contact, by_company], false);
        let at = (MAX_SEARCH_PAGE, None);
        let page = self.search_page(target, groups, at, operation).await?;
        page.results
            .into_iter()
            .map(|hs| {
                // The hit says neither which group matched: the contact's own ids are hers,
                // the rest came through the company.
                let link = if links.contact_ids.contains(&hs.id) {
                    ("contact_id", links.contact)
                } else {
                    ("account_id", company)
                };
                self.decode_with(target, (&mapping, &names), hs, &[link])
            })
            .collect()
    }

    /// The deals (or tickets) associated with a contact or with its primary company, in two
    /// round trips (the contact with its associations, alongside the pipelines; then the
    /// records), most recently changed first; the connection keeps the open ones. An unknown
    /// contact has none.
    pub(crate) async fn open_for_contact(
        &self,
        target: MappingTarget,
        contact: &str,
        operation: &str,
    ) -> Result<Vec<VendorRecord>> {
        let object = target.object();
        let associations = format!("{},{}", HubObject::Companies.name(), object.name());
        let properties = PRIMARY_COMPANY_PROPERTY.to_owned();
        let read =
            self.contact_with_associations(contact, None, properties, associations, operation);
        // The pipelines alongside, into the cache (see `view`).
        let (hs, _warmed) = join!(read, self.pipelines(object, None));
        let Some(hs) = hs? else {
            return Ok(Vec::new());
        };
        let contact_ids = self
            .inline_ids(&hs, HubObject::Contacts, &hs.id, object, operation)
            .await?;
        let company = primary_company(&hs);
        let links = Links {
            contact: &hs.id,
            contact_ids,
            company: company.as_deref(),
        };
        self.open_linked(target, &links, Freshness::AsWritten, operation)
            .await
    }

    /// Loads the view; `None` when no contact matches.
    pub(crate) async fn view(
        &self,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<CustomerView>> {
        let operation = "customer_view";
        let first = async {
            let (id, id_property, others) = match lookup {
                Lookup::Email(email) => (email.expose().to_owned(), Some("email"), Vec::new()),
                other => {
                    // Contact ids matching a phone or external-id lookup, most recently
                    // changed first.
                    let found = self.lookup(crm_core::ObjectKind::Contact, other).await;
                    let mut ids = found.map_err(|e| e.with_operation(operation))?.into_iter();
                    match ids.next() {
                        None => return Ok((None, Vec::new())),
                        Some(first) => (first.id.to_string(), None, ids.map(|r| r.id).collect()),
                    }
                }
            };
            let props = self.read_props_query(MappingTarget::Contact);
            let links = VIEW_ASSOCIATIONS.to_owned();
            let hs = self.contact_with_associations(&id, id_property, props, links, operation);
            Ok::<_, Error>((hs.await?, others))
        };
        // The pipelines are read alongside the first request and kept in the connection's
        // cache. Their outcome is not the lookup's: a lookup that finds nobody does not need
        // them, and when a read failed, the first record that needs them reads them again and
        // reports why.
        let pipelines = self.warm_pipelines(options.opportunities > 0, options.tickets > 0);
        let (first, _warmed) = join!(first, pipelines);
        let (hs, other_matches): (Option<HsObject>, Vec<RecordId>) = first?;
        let Some(hs) = hs else { return Ok(None) };
        let contact = self.record(MappingTarget::Contact, hs.clone(), &[]).await?;
        let contact: Record<crm_core::Contact> = contact.into_resolved(self.region)?;
        let id = hs.id.clone();
        let me = [("contact_id", id.as_str())];
        let ids = |to: HubObject| self.inline_ids(&hs, HubObject::Contacts, &id, to, operation);
        let company: Option<String> = contact
            .account_id
            .as_ref()
            .map(|a| a.to_string())
            .or_else(|| primary_company(&hs));
        let account = async {
            let Some(company) = &company else {
                return Ok(None);
            };
            let one = std::slice::from_ref(company);
            let found = self
                .read_batch(MappingTarget::Account, one, &[], operation)
                .await?;
            found
                .into_iter()
                .next()
                .map(|r| r.into_resolved(self.region))
                .transpose()
        };
        let (contact_id, company_id) = (id.as_str(), company.as_deref());
        let linked = |target: MappingTarget, limit: usize| async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let contact_ids = ids(target.object()).await?;
            let links = Links {
                contact: contact_id,
                contact_ids,
                company: company_id,
            };
            self.open_linked(target, &links, Freshness::Indexed, operation)
                .await
        };
        let (region, deals, tickets) = (self.region, options.opportunities, options.tickets);
        let deals = async {
            let found = linked(MappingTarget::Opportunity, deals).await?;
            open(found, deals, region, |d: &Record<Opportunity>| d.is_open())
        };
        let tickets = async {
            let found = linked(MappingTarget::Ticket, tickets).await?;
            open(found, tickets, region, |t: &Record<Ticket>| t.is_open())
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
                let target = MappingTarget::for_engagement(object);
                self.read_batch(target, &ids, &me, operation).await
            };
            let (notes, tasks, calls) = try_join!(
                read(HubObject::Notes),
                read(HubObject::Tasks),
                read(HubObject::Calls)
            )?;
            let mut all: Vec<VendorRecord> = notes.into_iter().chain(tasks).chain(calls).collect();
            newest_happened(&mut all);
            all.truncate(options.activities);
            all.into_iter()
                .map(|r| r.into_resolved(self.region))
                .collect::<Result<Vec<_>>>()
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
