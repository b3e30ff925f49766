//! SOQL results page by page (Salesforce REST API Developer Guide, "Query" and `nextRecordsUrl`);
//! core turns pages into streams.
//!
//! Every listing asks Salesforce for its batch size (`Sforce-Query-Options: batchSize=N`,
//! 200–2,000, the connection's `query_batch_size`, default 2,000) and follows
//! `nextRecordsUrl`, so 5,000 records cost three requests whatever page size the caller wants.
//! Two cursors, both opaque to callers and resumable:
//! - `next:<nextRecordsUrl>` — Salesforce's own query locator, for pages of 200–2,000 records
//!   (one page per batch). Locators expire after about 15 minutes unused.
//! - `after:<Id>` — for pages smaller than Salesforce's 200-record minimum batch: the listing
//!   cuts them from the batches it holds, and the cursor names the last record handed out. A
//!   listing resumed from it queries `WHERE Id > '…' ORDER BY Id` (again with the batch size).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crm_core::raw::Paging;
use crm_core::raw::http::Request;
use crm_core::reexports::http::{HeaderName, Method};
use crm_core::{Entity, Error, ListQuery, Page, PageStream, Record, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::core::{Core, SObject};
use crate::soql::{Select, quote};

/// Salesforce's smallest and largest query batch.
pub(crate) const MIN_BATCH: u32 = 200;
pub(crate) const MAX_BATCH: u32 = 2000;

/// A query result page as Salesforce sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct QueryPage {
    #[serde(default)]
    pub(crate) done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    pub(crate) next_records_url: Option<String>,
    pub(crate) records: Vec<Value>,
}

/// What to list.
#[derive(Debug, Clone)]
pub(crate) struct ListSpec {
    pub(crate) sobject: SObject,
    pub(crate) conditions: Vec<String>,
    /// Records per page the caller gets, 1–2,000.
    pub(crate) page_size: u32,
    /// Records per query batch Salesforce is asked for, 200–2,000.
    pub(crate) batch: u32,
}

fn batch_header(size: u32) -> (HeaderName, String) {
    (
        HeaderName::from_static("sforce-query-options"),
        format!("batchSize={}", size.clamp(MIN_BATCH, MAX_BATCH)),
    )
}

/// Runs one SOQL query and returns its first page.
pub(crate) async fn query(
    core: &Core,
    soql: &str,
    batch: Option<u32>,
    operation: &str,
) -> Result<QueryPage> {
    let mut req = Request::get("/query", operation).query("q", soql);
    if let Some(size) = batch {
        let (h, v) = batch_header(size);
        req = req.header(h, v);
    }
    core.send(req).await?.json()
}

/// Fetches the page `nextRecordsUrl` points at. A link to another host is refused by the
/// transport (`Request::absolute`), so a tampered response cannot send the token elsewhere.
pub(crate) async fn query_more(
    core: &Core,
    next: &str,
    batch: Option<u32>,
    operation: &str,
) -> Result<QueryPage> {
    let url = core.vendor_url(next).await?;
    let mut req = Request::absolute(Method::GET, url, operation);
    if let Some(size) = batch {
        let (h, v) = batch_header(size);
        req = req.header(h, v);
    }
    core.send(req).await?.json()
}

/// Decodes a page's records, naming the record that failed.
pub(crate) fn records<T: Entity>(
    core: &Core,
    s: SObject,
    page: &QueryPage,
    operation: &str,
) -> Result<Vec<Record<T>>> {
    decode::<T>(core, s, page.records.iter(), operation)
}

fn decode<'a, T: Entity>(
    core: &Core,
    s: SObject,
    rows: impl Iterator<Item = &'a Value>,
    operation: &str,
) -> Result<Vec<Record<T>>> {
    rows.enumerate()
        .map(|(i, r)| {
            core.record_from_json::<T>(s, r).map_err(|e| {
                Error::new(
                    e.kind().clone(),
                    format!("record {i} of the page: {}", e.message()),
                )
                .with_operation(operation.to_owned())
            })
        })
        .collect()
}

/// Records fetched in Salesforce's batch and not yet handed out as pages smaller than it.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// The cursor these records continue from (the last `after:` cursor handed out).
    at: String,
    records: VecDeque<Value>,
    /// The locator of the rest of the query.
    more: Option<String>,
}

/// A lazy stream of pages, within the caller's paging limits.
pub(crate) fn stream<T: Entity>(
    core: Arc<Core>,
    spec: ListSpec,
    query: &ListQuery,
    operation: &'static str,
) -> PageStream<T> {
    let paging = Paging::for_query(query);
    let held = Arc::new(Mutex::new(Held::default()));
    crm_core::raw::paginate(paging, query.resume.clone(), move |cursor| {
        let core = core.clone();
        let spec = spec.clone();
        let held = held.clone();
        async move { fetch_page::<T>(&core, &spec, cursor, &held, operation).await }
    })
}

/// The first batch of the listing, from the start or after the record `after`.
async fn first_batch(
    core: &Core,
    spec: &ListSpec,
    after: Option<&str>,
    batch: u32,
    operation: &str,
) -> Result<QueryPage> {
    let fields = core.read_fields(spec.sobject);
    let mut select = Select::new(spec.sobject.name(), &fields).order_by("Id ASC");
    for c in &spec.conditions {
        select = select.and(c.clone());
    }
    if let Some(last) = after {
        select = select.and(format!("Id > {}", quote(last)));
    }
    query(core, &select.text(), Some(batch), operation).await
}

/// Fetches the page at `cursor` (`None`: the first page).
pub(crate) async fn fetch_page<T: Entity>(
    core: &Core,
    spec: &ListSpec,
    cursor: Option<String>,
    held: &Mutex<Held>,
    operation: &str,
) -> Result<Page<Record<T>>> {
    let s = spec.sobject;
    if let Some(c) = cursor.as_deref()
        && !c.starts_with("next:")
        && !c.starts_with("after:")
    {
        return Err(Error::invalid_input(
            "this page cursor did not come from a Salesforce listing",
        )
        .with_operation(operation.to_owned()));
    }
    if spec.page_size < MIN_BATCH {
        return small_page(core, spec, cursor, held, operation).await;
    }
    let page = match cursor.as_deref() {
        Some(c) if c.starts_with("next:") => {
            let next = c.strip_prefix("next:").unwrap_or_default();
            query_more(core, next, Some(spec.page_size), operation).await?
        }
        after => {
            let after = after.and_then(|c| c.strip_prefix("after:"));
            first_batch(core, spec, after, spec.page_size, operation).await?
        }
    };
    let items = records::<T>(core, s, &page, operation)?;
    let next = match (&page.next_records_url, page.done) {
        (Some(n), false) => Some(format!("next:{n}")),
        _ => None,
    };
    Ok(Page { items, next })
}

/// A page smaller than Salesforce's smallest batch, cut from the batch the listing holds; a
/// batch is fetched only when the held records run short.
async fn small_page<T: Entity>(
    core: &Core,
    spec: &ListSpec,
    cursor: Option<String>,
    held: &Mutex<Held>,
    operation: &str,
) -> Result<Page<Record<T>>> {
    let want = spec.page_size as usize;
    let at = cursor.clone().unwrap_or_default();
    // Take what this listing holds; none of it counts when the cursor is not where it stopped
    // (a resumed listing starts afresh).
    let mut h = {
        let mut guard = held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *guard)
    };
    if h.at != at || (h.records.is_empty() && h.more.is_none()) {
        let page = match cursor.as_deref() {
            Some(c) if c.starts_with("next:") => {
                let next = c.strip_prefix("next:").unwrap_or_default();
                query_more(core, next, Some(spec.batch), operation).await?
            }
            after => {
                let after = after.and_then(|c| c.strip_prefix("after:"));
                first_batch(core, spec, after, spec.batch, operation).await?
            }
        };
        h = Held {
            at,
            records: page.records.into(),
            more: page.next_records_url.filter(|_| !page.done),
        };
    }
    while h.records.len() < want {
        let Some(next) = h.more.take() else { break };
        let page = query_more(core, &next, Some(spec.batch), operation).await?;
        h.records.extend(page.records);
        h.more = page.next_records_url.filter(|_| !page.done);
    }
    let rows: Vec<Value> = h.records.drain(..want.min(h.records.len())).collect();
    let items = decode::<T>(core, spec.sobject, rows.iter(), operation)?;
    let next = if h.records.is_empty() && h.more.is_none() {
        None
    } else {
        items.last().map(|r| format!("after:{}", r.id))
    };
    if let Some(n) = &next {
        h.at = n.clone();
        let mut guard = held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = h;
    }
    Ok(Page { items, next })
}
