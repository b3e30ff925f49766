//! One page of a listing; core's `raw::paginate` turns pages into a lazy stream.
//!
//! A plain listing pages `GET /objects/{o}?limit=&after=` (≤100 per page). A listing of records
//! changed since an instant pages search (`lastmodifieddate GTE since`, oldest first, ≤200 per
//! page); when it nears search's 10,000-result cap (HubSpot's search documentation) it narrows the filter to the
//! last modification time seen and skips the records of that millisecond already listed, so a
//! listing of any size completes. Activities list notes, then tasks, then calls.

use std::sync::Arc;

use crm_core::model::fields::parse_datetime;
use crm_core::raw::Paging;
use crm_core::raw::http::Request;
use crm_core::reexports::chrono::{DateTime, Utc};
use crm_core::reexports::serde_json::{Value, json};
use crm_core::{Entity, Error, ListQuery, Page, PageStream, Record, Result};

use crate::core::{
    Core, GENERAL, HsPage, HsPaging, MAX_LIST_PAGE, MAX_SEARCH_PAGE, MAX_SEARCH_RESULTS, SEARCH,
    link_reads,
};
use crate::mapping::MappingTarget;

/// What a listing covers.
#[derive(Debug, Clone)]
pub(crate) struct ListSpec {
    pub(crate) targets: Vec<MappingTarget>,
    pub(crate) page_size: u32,
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) operation: &'static str,
}

/// Where a listing stands: which target, the search's lower bound, the page cursor, and ids
/// already listed at the lower bound. Opaque to callers (`Page::next`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Cursor {
    target: usize,
    since: Option<i64>,
    after: Option<String>,
    skip: Vec<String>,
}

impl Cursor {
    fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.target,
            self.since.map(|s| s.to_string()).unwrap_or_default(),
            self.after.clone().unwrap_or_default(),
            self.skip.join(",")
        )
    }

    fn decode(text: &str) -> Result<Self> {
        let bad = || Error::invalid_input("this page cursor did not come from the HubSpot adapter");
        let mut parts = text.split('|');
        let target = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
        let since = match parts.next().ok_or_else(bad)? {
            "" => None,
            s => Some(s.parse().map_err(|_| bad())?),
        };
        let after = parts.next().ok_or_else(bad)?;
        let skip = parts.next().ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            target,
            since,
            after: (!after.is_empty()).then(|| after.to_owned()),
            skip: skip
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// A lazy stream of pages, within the caller's paging limits.
pub(crate) fn stream<T: Entity>(
    core: Arc<Core>,
    spec: ListSpec,
    query: &ListQuery,
) -> PageStream<T> {
    let paging = Paging::for_query(query);
    crm_core::raw::paginate(paging, query.resume.clone(), move |cursor| {
        let core = core.clone();
        let spec = spec.clone();
        async move { fetch::<T>(&core, &spec, cursor).await }
    })
}

/// The next page that has records, or the last one.
///
/// Core ends a listing at an empty page that still has a cursor (a server handing out fresh
/// cursors with empty pages would otherwise be paged forever), so the empty pages this adapter
/// itself moves past are fetched through here instead of returned: a target with nothing in it
/// (no notes, go on to tasks), and the one page after a narrowed search restart that can hold
/// only records already listed (at most as many as one page, so at most one such page).
async fn fetch<T: Entity>(
    core: &Core,
    spec: &ListSpec,
    cursor: Option<String>,
) -> Result<Page<Record<T>>> {
    let mut cursor = cursor;
    let mut skipped_page = false;
    loop {
        let (page, moved_on, all_skipped) = fetch_one::<T>(core, spec, cursor).await?;
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
async fn fetch_one<T: Entity>(
    core: &Core,
    spec: &ListSpec,
    cursor: Option<String>,
) -> Result<(Page<Record<T>>, bool, bool)> {
    let start_since = spec.since.map(|s| s.timestamp_millis());
    let cursor = match cursor {
        Some(c) => Cursor::decode(&c).map_err(|e| e.with_operation(spec.operation))?,
        None => Cursor {
            since: start_since,
            ..Cursor::default()
        },
    };
    let target = *spec.targets.get(cursor.target).ok_or_else(|| {
        Error::invalid_input("this page cursor is past the end of the listing")
            .with_operation(spec.operation)
    })?;
    let object = target.object();
    let props = core.read_props(target).join(",");
    let (page, next_in_target) = match cursor.since {
        None => {
            let mut req = Request::get(core.paths.collection(object), spec.operation)
                .query("limit", spec.page_size.clamp(1, MAX_LIST_PAGE).to_string())
                .query("properties", props)
                .bucket(GENERAL);
            let links: Vec<&str> = link_reads(target.kind()).iter().map(|o| o.name()).collect();
            if !links.is_empty() {
                req = req.query("associations", links.join(","));
            }
            if let Some(after) = &cursor.after {
                req = req.query("after", after.clone());
            }
            let page: HsPage = core.send(req).await?.json()?;
            let next = HsPaging::after(&page.paging).map(|after| Cursor {
                after: Some(after),
                ..cursor.clone()
            });
            (page, next)
        }
        Some(since) => changed_page(core, spec, target, &cursor, since).await?,
    };
    let mapping = core.read_mapping(target, None).await?;
    let mut items = Vec::with_capacity(page.results.len());
    for hs in page
        .results
        .iter()
        .filter(|hs| !cursor.skip.contains(&hs.id))
    {
        items.push(
            core.record_from::<T>(target, &mapping, hs, &[])
                .map_err(|e| e.with_operation(spec.operation))?,
        );
    }
    let all_skipped = items.is_empty() && !page.results.is_empty();
    let (next, moved_on) = match next_in_target {
        Some(c) => (Some(c), false),
        None if cursor.target + 1 < spec.targets.len() => (
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
    core: &Core,
    spec: &ListSpec,
    target: MappingTarget,
    cursor: &Cursor,
    since: i64,
) -> Result<(HsPage, Option<Cursor>)> {
    let object = target.object();
    let modified = object.modified_prop();
    let limit = usize::try_from(spec.page_size)
        .unwrap_or(MAX_SEARCH_PAGE)
        .clamp(1, MAX_SEARCH_PAGE);
    let mut filters = vec![json!(
        {"propertyName": modified, "operator": "GTE", "value": since.to_string()})];
    if target == MappingTarget::Lead {
        // Leads are the contacts in the lead lifecycle stage.
        filters.push(json!({"propertyName": "lifecyclestage", "operator": "EQ",
                            "value": core.settings.lead_stage}));
    }
    let mut body = json!({
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
        "properties": core.read_props(target),
        "limit": limit,
    });
    if let (Some(after), Some(m)) = (&cursor.after, body.as_object_mut()) {
        m.insert("after".into(), Value::String(after.clone()));
    }
    let req = Request::new(
        crm_core::reexports::http::Method::POST,
        core.paths.search(object),
        spec.operation,
    )
    .json(body)
    .idempotent(true)
    .bucket(SEARCH);
    let page: HsPage = core.send(req).await?.json()?;
    let Some(after) = HsPaging::after(&page.paging) else {
        return Ok((page, None));
    };
    let offset: usize = after.parse().unwrap_or(MAX_SEARCH_RESULTS);
    if offset + limit <= MAX_SEARCH_RESULTS {
        let next = Cursor {
            after: Some(after),
            ..cursor.clone()
        };
        return Ok((page, Some(next)));
    }
    // The next page would cross the 10,000 cap: restart at the last modification time seen.
    let stamp = |hs: &crate::core::HsObject| {
        hs.properties
            .get(modified)
            .and_then(Value::as_str)
            .and_then(parse_datetime)
            .map(|t| t.timestamp_millis())
    };
    let last = page.results.iter().filter_map(stamp).max().ok_or_else(|| {
        Error::decode(format!("search results lack `{modified}`")).with_operation(spec.operation)
    })?;
    if last <= since {
        return Err(Error::new(
            crm_core::ErrorKind::Unsupported,
            "more than 10,000 records changed within one millisecond; HubSpot search cannot page past them",
        )
        .with_operation(spec.operation));
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
        assert!(Cursor::decode("0|x||").is_err());
    }
}
