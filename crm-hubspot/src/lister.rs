//! One page of a query; core's `raw::paginate` turns pages into a lazy stream.
//!
//! A plain listing pages `GET /objects/{o}?limit=&after=` (≤100 per page). A listing of records
//! changed since an instant pages search (`lastmodifieddate GTE since`, oldest first, ≤200 per
//! page); when it nears search's 10,000-result cap (HubSpot's search documentation) it narrows
//! the filter to the last modification time seen and skips the records of that millisecond
//! already listed, so a listing of any size completes. A find pages search with its filters,
//! newest first. Activities list and find notes, then tasks, then calls. Look-ups and linked
//! records come in one page.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crm_core::model::fields::parse_datetime;
use crm_core::raw::http::Request;
use crm_core::raw::{Paging, Query, QueryFilter, VendorRecord, Verb, operation, paginate};
use crm_core::reexports::futures::StreamExt;
use crm_core::reexports::serde_json::{self, Value, json};
use crm_core::{Error, Lookup, ObjectKind, Page, Result};
use serde::{Deserialize, Serialize};

use crate::backend::{HubSpotBackend, MAX_LIST_PAGE, post};
use crate::extras::objects::MappingTarget;
use crate::extras::search::{check_search_caps, filter, phone_groups, same_number};
use crate::limits::{GENERAL, SEARCH};
use crate::wire::{HsObject, HsPage, HsPaging, found, link_fields, link_query, to_hubspot};

/// The cursor of the next search page: search serves at most 10,000 results, so a cursor past
/// them ends the search.
fn next_search_cursor(page: &HsPage) -> Option<String> {
    HsPaging::after(&page.paging)
        .filter(|a| a.parse::<usize>().map_or(true, |n| n < MAX_SEARCH_RESULTS))
}

/// Search pages hold at most 200 records (HubSpot's CRM API docs, "Search").
pub(crate) const MAX_SEARCH_PAGE: usize = 200;
/// Search never pages past 10,000 results; beyond, it answers 400 (HubSpot's search docs).
pub(crate) const MAX_SEARCH_RESULTS: usize = 10_000;

/// Where a listing stands: which target, the search's lower bound, the page cursor, and ids
/// already listed at the lower bound. Opaque to callers (`Page::next`), who hand it back within
/// one listing only (no store keeps one: the outbox and events hold no page cursors), so its
/// text is this version's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    target: usize,
    since: Option<i64>,
    after: Option<String>,
    skip: Vec<String>,
}

impl Cursor {
    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn decode(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|_| {
            Error::invalid_input("this page cursor did not come from the HubSpot adapter")
        })
    }

    /// The same listing at the vendor's next page.
    fn at(&self, after: String) -> Self {
        Self {
            after: Some(after),
            ..self.clone()
        }
    }
}

impl HubSpotBackend {
    /// One page of `query` from `cursor`.
    pub(crate) async fn page(
        &self,
        query: &Query,
        cursor: Option<String>,
    ) -> Result<Page<VendorRecord>> {
        let items = match &query.filter {
            QueryFilter::Lookup(lookup) => self.lookup(query.kind, lookup).await?,
            QueryFilter::Linked { owner, .. } => self.linked(query.kind, owner).await?,
            QueryFilter::All | QueryFilter::Where(_) => return self.next_page(query, cursor).await,
        };
        Ok(Page { items, next: None })
    }

    /// A customer look-up: by email the one consistent read (`?idProperty=email`), by phone a
    /// search over the usual written forms compared by E.164, by external id a search on
    /// `external_id_property`.
    pub(crate) async fn lookup(
        &self,
        kind: ObjectKind,
        lookup: &Lookup,
    ) -> Result<Vec<VendorRecord>> {
        let target = MappingTarget::main(kind);
        let operation = operation(kind, Verb::FindBy);
        match lookup {
            Lookup::Email(email) => {
                let read = self.fetch(target, email.expose(), Some("email"), operation);
                match found(read.await)? {
                    Some(hs) => Ok(vec![self.record(target, hs, &[]).await?]),
                    None => Ok(Vec::new()),
                }
            }
            Lookup::Phone(phone) => {
                let e164 = phone
                    .e164()
                    .ok_or_else(|| Error::invalid_input("phone number has no E.164 form"))?;
                let groups = phone_groups(self.config.phone_search_calculated, e164);
                let found = self
                    .search(target, groups, MAX_SEARCH_PAGE, operation)
                    .await?;
                // Search matched text forms; keep only those that are the same number.
                Ok(found
                    .into_iter()
                    .filter(|r| same_number(&r.resolved, e164, self.region))
                    .collect())
            }
            Lookup::ExternalId(value) => {
                let prop = self.config.external_id_property.clone().ok_or_else(|| {
                    Error::unsupported(operation, "no external_id_property is configured")
                })?;
                if value.trim().is_empty() {
                    return Err(Error::invalid_input("external id is empty"));
                }
                let by_id = filter(&prop, "EQ", value.as_str());
                self.search(target, vec![vec![by_id]], 10, operation).await
            }
        }
    }

    /// Searches `target` with OR-ed `groups` of AND-ed filters, newest first, up to `limit`
    /// records, following `after` through core's pager (so a server whose cursors cycle, or
    /// that hands out a cursor with an empty page, stops the search with a `Decode` error).
    pub(crate) async fn search(
        &self,
        target: MappingTarget,
        groups: Vec<Vec<Value>>,
        limit: usize,
        operation: &str,
    ) -> Result<Vec<VendorRecord>> {
        let base = self.search_body(target, groups, false)?;
        // How many records are still wanted, so that each page asks for no more (the stream
        // asks for the next page only after the previous one has been taken).
        let wanted = Arc::new(AtomicUsize::new(limit));
        let pages_wanted = wanted.clone();
        let (http, path) = (self.http.clone(), self.paths.search(target.object()));
        let operation_owned = operation.to_owned();
        let mut pages = paginate(Paging::default(), None, move |after: Option<String>| {
            let wanted = pages_wanted.load(Ordering::Relaxed);
            let body = page_of(base.clone(), wanted, after.as_deref());
            let req = search_post(path.clone(), &operation_owned, body);
            let http = http.clone();
            async move {
                let page: HsPage = http.send(req).await?.json()?;
                let next = next_search_cursor(&page);
                Ok(Page {
                    items: page.results,
                    next,
                })
            }
        });
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            found.extend(self.decode(target, page?.items, &[]).await?);
            wanted.store(limit.saturating_sub(found.len()), Ordering::Relaxed);
            if found.len() >= limit {
                break;
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    /// A search body without `limit` and `after` (see [`page_of`]): `groups` OR-ed, the lead
    /// stage added to every group of a lead search, search's caps checked, sorted by last
    /// modification, newest first unless `oldest_first`.
    pub(crate) fn search_body(
        &self,
        target: MappingTarget,
        mut groups: Vec<Vec<Value>>,
        oldest_first: bool,
    ) -> Result<Value> {
        if target == MappingTarget::Lead {
            let stage = filter(
                "lifecyclestage",
                "EQ",
                self.config.lead_lifecycle_stage.as_str(),
            );
            for g in &mut groups {
                g.push(stage.clone());
            }
        }
        check_search_caps(&groups)?;
        let filter_groups: Vec<Value> = groups.iter().map(|g| json!({"filters": g})).collect();
        let direction = if oldest_first {
            "ASCENDING"
        } else {
            "DESCENDING"
        };
        Ok(json!({
            "filterGroups": filter_groups,
            "sorts": [{"propertyName": target.object().modified_prop(), "direction": direction}],
            "properties": self.read_props(target),
        }))
    }

    /// One page of a search of `target` (`POST /objects/{o}/search`, on search's own rate limit
    /// bucket): [`HubSpotBackend::search_body`] with `limit` and `after` (see [`page_of`]).
    pub(crate) async fn search_page(
        &self,
        target: MappingTarget,
        (groups, oldest_first): (Vec<Vec<Value>>, bool),
        (limit, after): (usize, Option<&str>),
        operation: &str,
    ) -> Result<HsPage> {
        let body = self.search_body(target, groups, oldest_first)?;
        let body = page_of(body, limit, after);
        let req = search_post(self.paths.search(target.object()), operation, body);
        self.http.send(req).await?.json()
    }

    /// A find's filter groups for `target`: each condition on the mapped property, a link
    /// field on search's `associations.{object}` pseudo-property.
    fn find_groups(&self, query: &Query, target: MappingTarget) -> Result<Vec<Vec<Value>>> {
        let QueryFilter::Where(conditions) = &query.filter else {
            return Ok(Vec::new());
        };
        let mapping = self.mappings.get(target.as_str())?;
        let unmapped = |f: &str| Error::mapping(format!("{}.{f}: no HubSpot property", query.kind));
        let mut filters = Vec::new();
        for c in conditions {
            let link = link_fields(query.kind).iter().find(|(f, _)| *f == c.common);
            let property = match link {
                Some((_, o)) => format!("associations.{}", o.singular()),
                None => mapping
                    .vendor_name(&c.common)
                    .ok_or_else(|| unmapped(&c.common))?
                    .to_owned(),
            };
            filters.push(filter(&property, "EQ", to_hubspot(&c.value)));
        }
        // No conditions: no filter group at all, rather than one empty group.
        let group = (!filters.is_empty()).then_some(filters);
        Ok(group.into_iter().collect())
    }

    /// The next page that has records, or the last one.
    ///
    /// Core ends a listing at an empty page that still has a cursor (a server handing out
    /// fresh cursors with empty pages would otherwise be paged forever), so the empty pages
    /// this adapter itself moves past are fetched through here instead of returned: a target
    /// with nothing in it (no notes, go on to tasks), and the one page after a narrowed search
    /// restart that can hold only records already listed (at most as many as one page, so at
    /// most one such page).
    async fn next_page(&self, query: &Query, cursor: Option<String>) -> Result<Page<VendorRecord>> {
        let mut cursor = cursor;
        let mut skipped_page = false;
        loop {
            let (page, moved_on, all_skipped) = self.fetch_one(query, cursor).await?;
            let (true, Some(next)) = (page.items.is_empty(), &page.next) else {
                return Ok(page);
            };
            if !moved_on {
                if !all_skipped || skipped_page {
                    return Ok(page);
                }
                skipped_page = true;
            }
            cursor = Some(next.clone());
        }
    }

    /// One vendor page: the page, whether its cursor moves on to the next target, and whether
    /// every record on it had already been listed.
    async fn fetch_one(
        &self,
        query: &Query,
        cursor: Option<String>,
    ) -> Result<(Page<VendorRecord>, bool, bool)> {
        let find = matches!(query.filter, QueryFilter::Where(_));
        let operation = operation(query.kind, if find { Verb::Find } else { Verb::List });
        let start_since = match query.changed_since {
            _ if find => None,
            Some(s) => Some(s.timestamp_millis()),
            // Leads are contacts in a lifecycle stage: only search can select them.
            None if query.kind == ObjectKind::Lead => Some(0),
            None => None,
        };
        let cursor = match cursor {
            Some(c) => Cursor::decode(&c)?,
            None => Cursor {
                since: start_since,
                ..Cursor::default()
            },
        };
        let targets = MappingTarget::of(query.kind);
        let target = *targets.get(cursor.target).ok_or_else(|| {
            Error::invalid_input("this page cursor is past the end of the listing")
        })?;
        let object = target.object();
        let (page, next_in_target) = match cursor.since {
            _ if find => {
                let groups = self.find_groups(query, target)?;
                let size = usize::try_from(query.page_size).unwrap_or(MAX_SEARCH_PAGE);
                let at = (size, cursor.after.as_deref());
                let page = self.search_page(target, (groups, false), at, operation);
                let page = page.await?;
                let next = next_search_cursor(&page).map(|after| cursor.at(after));
                (page, next)
            }
            None => {
                let mut req = Request::get(self.paths.collection(object), operation)
                    .query("limit", query.page_size.clamp(1, MAX_LIST_PAGE).to_string())
                    .query("properties", self.read_props_query(target))
                    .bucket(GENERAL);
                if let Some(links) = link_query(target.kind()) {
                    req = req.query("associations", links);
                }
                if let Some(after) = &cursor.after {
                    req = req.query("after", after.clone());
                }
                let page: HsPage = self.http.send(req).await?.json()?;
                let next = HsPaging::after(&page.paging).map(|after| cursor.at(after));
                (page, next)
            }
            Some(since) => {
                self.changed_page(query, target, &cursor, since, operation)
                    .await?
            }
        };
        let listed = page.results.len();
        let fresh: Vec<HsObject> = page
            .results
            .into_iter()
            .filter(|hs| !cursor.skip.contains(&hs.id))
            .collect();
        let items = self.decode(target, fresh, &[]).await?;
        let all_skipped = items.is_empty() && listed > 0;
        let (next, moved_on) = match next_in_target {
            Some(c) => (Some(c), false),
            None if cursor.target + 1 < targets.len() => (
                Some(Cursor {
                    target: cursor.target + 1,
                    since: start_since,
                    ..Cursor::default()
                }),
                true,
            ),
            None => (None, false),
        };
        let page = Page {
            items,
            next: next.map(|c| c.encode()),
        };
        Ok((page, moved_on, all_skipped))
    }

    /// One page of "changed since", and where the next one starts.
    async fn changed_page(
        &self,
        query: &Query,
        target: MappingTarget,
        cursor: &Cursor,
        since: i64,
        operation: &str,
    ) -> Result<(HsPage, Option<Cursor>)> {
        let modified = target.object().modified_prop();
        let limit = usize::try_from(query.page_size)
            .unwrap_or(MAX_SEARCH_PAGE)
            .clamp(1, MAX_SEARCH_PAGE);
        // A lead search adds the lead lifecycle stage.
        let groups = vec![vec![filter(modified, "GTE", since.to_string())]];
        let at = (limit, cursor.after.as_deref());
        let page = self.search_page(target, (groups, true), at, operation);
        let page = page.await?;
        let Some(after) = HsPaging::after(&page.paging) else {
            return Ok((page, None));
        };
        let offset: usize = after.parse().unwrap_or(MAX_SEARCH_RESULTS);
        if offset + limit <= MAX_SEARCH_RESULTS {
            return Ok((page, Some(cursor.at(after))));
        }
        // The next page would cross the 10,000 cap: restart at the last modification time seen.
        let stamp = |hs: &HsObject| {
            hs.properties
                .get(modified)
                .and_then(Value::as_str)
                .and_then(parse_datetime)
                .map(|t| t.timestamp_millis())
        };
        let last = page
            .results
            .iter()
            .filter_map(stamp)
            .max()
            .ok_or_else(|| Error::decode(format!("search results lack `{modified}`")))?;
        if last <= since {
            return Err(Error::new(
                crm_core::ErrorKind::Unsupported,
                "more than 10,000 records changed within one millisecond; HubSpot search cannot page past them",
            ));
        }
        let skip = page
            .results
            .iter()
            .filter(|hs| stamp(hs) == Some(last))
            .map(|hs| hs.id.clone())
            .collect();
        let next = Cursor {
            target: cursor.target,
            since: Some(last),
            after: None,
            skip,
        };
        Ok((page, Some(next)))
    }
}

/// `body` as one page: `limit` (clamped to search's page size) and `after` set.
pub(crate) fn page_of(mut body: Value, limit: usize, after: Option<&str>) -> Value {
    if let Some(m) = body.as_object_mut() {
        m.insert("limit".into(), json!(limit.clamp(1, MAX_SEARCH_PAGE)));
        if let Some(a) = after {
            m.insert("after".into(), json!(a));
        }
    }
    body
}

/// A search request, replay-safe, on search's own rate limit bucket.
fn search_post(path: String, operation: &str, body: Value) -> Request {
    post(path, operation, body).bucket(SEARCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            target: 2,
            since: Some(1_700_000_000_000),
            after: Some("200".into()),
            skip: vec!["1".into(), "2".into()],
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let plain = Cursor::default();
        assert_eq!(Cursor::decode(&plain.encode()).unwrap(), plain);
        assert!(Cursor::decode("garbage").is_err());
        assert!(Cursor::decode(r#"{"target":"x","since":null,"after":null,"skip":[]}"#).is_err());
    }
}
