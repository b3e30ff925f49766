//! SOQL results page by page (Salesforce REST API Developer Guide, "Query" and `nextRecordsUrl`);
//! core turns pages into streams.
//!
//! Two cursors, both opaque to callers and resumable:
//! - `next:<nextRecordsUrl>` — Salesforce's own query locator, for pages of 200–2,000 records
//!   (`Sforce-Query-Options: batchSize=N`). Locators expire after about 15 minutes unused.
//! - `after:<Id>` — keyset paging (`WHERE Id > '…' ORDER BY Id LIMIT n`) for pages smaller than
//!   Salesforce's 200-record minimum batch.

use std::sync::Arc;

use crm_core::raw::Paging;
use crm_core::reexports::http::{HeaderName, Method};
use crm_core::transport::Request;
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
    pub(crate) page_size: u32,
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
    page.records
        .iter()
        .enumerate()
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

/// A lazy stream of pages, within the caller's paging limits.
pub(crate) fn stream<T: Entity>(
    core: Arc<Core>,
    spec: ListSpec,
    query: &ListQuery,
    operation: &'static str,
) -> PageStream<T> {
    let paging = Paging::for_query(query);
    crm_core::raw::paginate(paging, query.resume.clone(), move |cursor| {
        let core = core.clone();
        let spec = spec.clone();
        async move { fetch_page::<T>(&core, &spec, cursor, operation).await }
    })
}

/// Fetches the page at `cursor` (`None`: the first page).
pub(crate) async fn fetch_page<T: Entity>(
    core: &Core,
    spec: &ListSpec,
    cursor: Option<String>,
    operation: &str,
) -> Result<Page<Record<T>>> {
    let s = spec.sobject;
    let fields = core.read_fields(s);
    let keyset = spec.page_size < MIN_BATCH;
    let page = match cursor.as_deref() {
        Some(c) if c.starts_with("next:") => {
            let next = c.strip_prefix("next:").unwrap_or_default();
            query_more(core, next, Some(spec.page_size), operation).await?
        }
        Some(c) if !c.starts_with("after:") => {
            return Err(Error::invalid_input(
                "this page cursor did not come from a Salesforce listing",
            )
            .with_operation(operation.to_owned()));
        }
        after => {
            let mut select = Select::new(s.name(), &fields).order_by("Id ASC");
            for c in &spec.conditions {
                select = select.and(c.clone());
            }
            if let Some(last) = after.and_then(|c| c.strip_prefix("after:")) {
                select = select.and(format!("Id > {}", quote(last)));
            }
            if keyset {
                select = select.limit(spec.page_size as usize);
                query(core, &select.text(), None, operation).await?
            } else {
                query(core, &select.text(), Some(spec.page_size), operation).await?
            }
        }
    };
    let items = records::<T>(core, s, &page, operation)?;
    let next = if keyset {
        (items.len() as u64 >= u64::from(spec.page_size))
            .then(|| items.last().map(|r| format!("after:{}", r.id)))
            .flatten()
    } else {
        match (&page.next_records_url, page.done) {
            (Some(n), false) => Some(format!("next:{n}")),
            _ => None,
        }
    };
    Ok(Page { items, next })
}
