//! One page of a query, in SOQL (Salesforce REST API Developer Guide, "Query" and
//! `nextRecordsUrl`); core's connection pages on and collects.
//!
//! Finds, lookups and linked records are one query (or one Composite request) each, newest
//! first, cut to the caller's limit. Listings ask Salesforce for the connection's batch size
//! (`Sforce-Query-Options: batchSize=N`, 200–2,000, `query_batch_size`, default 2,000) and
//! follow `nextRecordsUrl`, so 5,000 records cost three requests whatever page size the caller
//! wants. Two cursors, both opaque to callers and resumable:
//! - `next:<nextRecordsUrl>` — Salesforce's own query locator, for pages of 200–2,000 records
//!   (one page per batch). Locators expire after about 15 minutes unused.
//! - `after:<Id>` — for pages smaller than Salesforce's 200-record minimum batch: the backend
//!   cuts them from the batch it holds for the listing (keyed by the cursor it handed out), and
//!   the cursor names the last record handed out. A listing resumed from it elsewhere queries
//!   `WHERE Id > '…' ORDER BY Id` (again with the batch size).

use crm_core::raw::http::Request;
use crm_core::raw::{Query, QueryFilter, VendorCondition, VendorRecord};
use crm_core::reexports::http::{HeaderName, Method};
use crm_core::{Error, FieldValue, Lookup, ObjectKind, Page, Phone, RecordRef, Result};
use serde_json::Value;

use crate::extras::id;
use crate::extras::org::SalesforceBackend;
use crate::extras::queries::{
    RECENT, latest_activities, lookup_condition, open_opportunities_for_contact, owner_condition,
    same_phone,
};
use crate::extras::soql::{self, Select, quote};
use crate::wire::{Held, MAX_BATCH, MIN_BATCH, QueryPage, SObject};

fn batch_header(size: u32) -> (HeaderName, String) {
    (
        HeaderName::from_static("sforce-query-options"),
        format!("batchSize={}", size.clamp(MIN_BATCH, MAX_BATCH)),
    )
}

/// Runs one SOQL query and returns its first page.
pub(crate) async fn query(
    b: &SalesforceBackend,
    soql: &str,
    batch: Option<u32>,
    operation: &str,
) -> Result<QueryPage> {
    let mut req = Request::get("/query", operation).query("q", soql);
    if let Some(size) = batch {
        let (h, v) = batch_header(size);
        req = req.header(h, v);
    }
    b.send(req).await?.json()
}

/// Fetches the page `nextRecordsUrl` points at. A link to another host is refused by the
/// transport (`Request::absolute`), so a tampered response cannot send the token elsewhere.
async fn query_more(
    b: &SalesforceBackend,
    next: &str,
    batch: u32,
    operation: &str,
) -> Result<QueryPage> {
    let url = b.vendor_url(next).await?;
    let (h, v) = batch_header(batch);
    let req = Request::absolute(Method::GET, url, operation).header(h, v);
    b.send(req).await?.json()
}

/// The operation a query serves, as the connection names it.
fn operation(query: &Query) -> String {
    let verb = match (&query.filter, query.kind) {
        (QueryFilter::All, _) => "list",
        (QueryFilter::Where(_), _) => "find",
        (QueryFilter::Lookup(_), _) => "find_by",
        (QueryFilter::Linked { .. }, ObjectKind::Activity) => "latest_for",
        (QueryFilter::Linked { .. }, _) => "open_for",
    };
    format!("{}.{verb}", query.kind)
}

/// One page of `query` (see the module docs).
pub(crate) async fn query_page(
    b: &SalesforceBackend,
    query: &Query,
    cursor: Option<String>,
) -> Result<Page<VendorRecord>> {
    let op = operation(query);
    let s = SObject::for_kind(query.kind);
    let limit = query.page_size.clamp(1, MAX_BATCH) as usize;
    let items = match &query.filter {
        QueryFilter::All => return list_page(b, query, cursor, &op).await,
        QueryFilter::Where(conditions) => find(b, s, conditions, limit, &op).await?,
        QueryFilter::Lookup(lookup) => find_by(b, s, lookup, &op).await?,
        QueryFilter::Linked { owner, open_only } => {
            linked(b, query.kind, owner, *open_only, limit, &op).await?
        }
    };
    Ok(Page { items, next: None })
}

/// Records of `s` matching `conditions`, newest first.
pub(crate) async fn where_(
    b: &SalesforceBackend,
    s: SObject,
    conditions: Vec<String>,
    limit: usize,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    let mut select = Select::new(s.name(), &b.read_fields(s)?)
        .order_by(RECENT)
        .limit(limit.min(MAX_BATCH as usize));
    for c in conditions {
        select = select.and(c);
    }
    let page = query(b, &select.text(), None, operation).await?;
    b.vendor_records(s, &page.records, operation)
}

/// The SOQL literal for a condition value.
fn literal(field: &str, v: &FieldValue) -> Result<String> {
    Ok(match v {
        FieldValue::Text(s) => quote(s),
        FieldValue::Number(n) => n.to_string(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        FieldValue::DateTime(dt) => soql::datetime(*dt),
        FieldValue::Null => "null".into(),
        other => {
            return Err(Error::invalid_input(format!(
                "cannot filter `{field}` by a {} value",
                other.type_name()
            )));
        }
    })
}

async fn find(
    b: &SalesforceBackend,
    s: SObject,
    conditions: &[VendorCondition],
    limit: usize,
    op: &str,
) -> Result<Vec<VendorRecord>> {
    let mut soql = Vec::new();
    for c in conditions {
        if let ("phone", FieldValue::Text(text)) = (c.common.as_str(), &c.value) {
            if conditions.len() > 1 {
                return Err(Error::unsupported(
                    op,
                    "a phone condition cannot be combined with others",
                ));
            }
            let phone = Phone::parse(text, b.region)?;
            let mut found = find_by(b, s, &Lookup::Phone(phone), op).await?;
            found.truncate(limit);
            return Ok(found);
        }
        let vendor = match &c.vendor {
            Some(v) => soql::ident(v)?.to_owned(),
            None => {
                return Err(Error::mapping(format!(
                    "{}.{}: no Salesforce field",
                    s.kind(),
                    c.common
                )));
            }
        };
        soql.push(format!("{vendor} = {}", literal(&c.common, &c.value)?));
    }
    where_(b, s, soql, limit, op).await
}

/// At most 10 records matching a lookup, newest first.
async fn find_by(
    b: &SalesforceBackend,
    s: SObject,
    lookup: &Lookup,
    op: &str,
) -> Result<Vec<VendorRecord>> {
    let condition = lookup_condition(b, s, lookup)?;
    let Lookup::Phone(phone) = lookup else {
        return where_(b, s, vec![condition], 10, op).await;
    };
    let mut fields = b.read_fields(s)?;
    fields.push("MobilePhone".into());
    fields.dedup();
    let select = Select::new(s.name(), &fields)
        .and(condition)
        .order_by(RECENT)
        .limit(200);
    let page = query(b, &select.text(), None, op).await?;
    let phone_field = b.vendor_field(s, "phone")?;
    let mut rows = Vec::new();
    for row in &page.records {
        if !same_phone(b, row, &[phone_field.as_str(), "MobilePhone"], phone) {
            continue;
        }
        let mut row = row.clone();
        if phone_field != "MobilePhone"
            && let Some(m) = row.as_object_mut()
        {
            m.remove("MobilePhone");
        }
        rows.push(row);
        if rows.len() == 10 {
            break;
        }
    }
    b.vendor_records(s, &rows, op)
}

async fn linked(
    b: &SalesforceBackend,
    kind: ObjectKind,
    owner: &RecordRef,
    open_only: bool,
    limit: usize,
    op: &str,
) -> Result<Vec<VendorRecord>> {
    match (kind, owner.kind) {
        (ObjectKind::Opportunity, ObjectKind::Contact) => {
            // By account, contact role and ContactId, as real orgs link them.
            let id = id::check(&owner.id)?;
            open_opportunities_for_contact(b, &id, limit, op).await
        }
        (ObjectKind::Activity, _) => latest_activities(b, owner, limit, op).await,
        _ => {
            let s = SObject::for_kind(kind);
            let mut conditions = vec![owner_condition(b, s, owner, op)?];
            if open_only {
                conditions.push("IsClosed = false".into());
            }
            where_(b, s, conditions, limit, op).await
        }
    }
}

/// The first batch of a listing, from the start or after the record `after`.
async fn first_batch(
    b: &SalesforceBackend,
    q: &Query,
    after: Option<&str>,
    batch: u32,
    op: &str,
) -> Result<QueryPage> {
    let s = SObject::for_kind(q.kind);
    let mut select = Select::new(s.name(), &b.read_fields(s)?).order_by("Id ASC");
    if let Some(since) = q.changed_since {
        select = select.and(format!("LastModifiedDate >= {}", soql::datetime(since)));
    }
    if let Some(last) = after {
        select = select.and(format!("Id > {}", quote(last)));
    }
    query(b, &select.text(), Some(batch), op).await
}

/// The batch at `cursor`: the locator's, or the first after the record it names.
async fn batch_at(
    b: &SalesforceBackend,
    query: &Query,
    cursor: Option<&str>,
    batch: u32,
    op: &str,
) -> Result<QueryPage> {
    match cursor.and_then(|c| c.strip_prefix("next:")) {
        Some(next) => query_more(b, next, batch, op).await,
        None => {
            let after = cursor.and_then(|c| c.strip_prefix("after:"));
            first_batch(b, query, after, batch, op).await
        }
    }
}

/// One page of a listing.
async fn list_page(
    b: &SalesforceBackend,
    query: &Query,
    cursor: Option<String>,
    op: &str,
) -> Result<Page<VendorRecord>> {
    if let Some(c) = cursor.as_deref()
        && !c.starts_with("next:")
        && !c.starts_with("after:")
    {
        return Err(Error::invalid_input(
            "this page cursor did not come from a Salesforce listing",
        )
        .with_operation(op.to_owned()));
    }
    let s = SObject::for_kind(query.kind);
    let page_size = query.page_size.clamp(1, MAX_BATCH);
    if page_size < MIN_BATCH {
        return small_page(b, query, cursor, page_size as usize, op).await;
    }
    let page = batch_at(b, query, cursor.as_deref(), page_size, op).await?;
    let items = b.vendor_records(s, &page.records, op)?;
    let next = page.more().map(|n| format!("next:{n}"));
    Ok(Page { items, next })
}

/// A page smaller than Salesforce's smallest batch, cut from the batch the listing holds; a
/// batch is fetched only when the held records run short.
async fn small_page(
    b: &SalesforceBackend,
    query: &Query,
    cursor: Option<String>,
    want: usize,
    op: &str,
) -> Result<Page<VendorRecord>> {
    let batch = b.query_batch_size;
    let listing = format!("{:?}|{:?}|{want}", query.kind, query.changed_since);
    let at = cursor.clone().unwrap_or_default();
    let mut h = match b.held.take(&format!("{listing}|{at}")) {
        Some(h) if !(h.records.is_empty() && h.more.is_none()) => h,
        _ => {
            let page = batch_at(b, query, cursor.as_deref(), batch, op).await?;
            Held {
                more: page.more(),
                records: page.records.into(),
            }
        }
    };
    while h.records.len() < want {
        let Some(next) = h.more.take() else { break };
        let page = query_more(b, &next, batch, op).await?;
        h.more = page.more();
        h.records.extend(page.records);
    }
    let rows: Vec<Value> = h.records.drain(..want.min(h.records.len())).collect();
    let items = b.vendor_records(SObject::for_kind(query.kind), &rows, op)?;
    let next = if h.records.is_empty() && h.more.is_none() {
        None
    } else {
        items.last().map(|r| format!("after:{}", r.id))
    };
    if let Some(n) = &next {
        b.held.put(format!("{listing}|{n}"), h);
    }
    Ok(Page { items, next })
}
