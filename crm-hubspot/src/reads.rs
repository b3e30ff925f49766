//! Reads by id: batch reads, association reads and writes (HubSpot's object and associations docs).

use crm_core::raw::http::Request;
use crm_core::raw::{Paging, paginate};
use crm_core::reexports::futures::StreamExt;
use crm_core::reexports::http::Method;
use crm_core::reexports::serde_json::{Value, json};
use crm_core::{Activity, Entity, Error, Page, Record, Result};

use crate::core::{Core, GENERAL, HsBatch, HsObject, HsPaging, MAX_BATCH};
use crate::mapping::MappingTarget;
use crate::objects::{HubObject, assoc_types};

pub(crate) fn stage_of(target: MappingTarget, hs: &HsObject) -> Option<String> {
    let prop = match target {
        MappingTarget::Ticket => "hs_pipeline_stage",
        MappingTarget::Opportunity => "dealstage",
        _ => return None,
    };
    hs.properties
        .get(prop)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// PUTs an association with the HUBSPOT_DEFINED types for the pair.
pub(crate) async fn put_association(
    core: &Core,
    from: HubObject,
    id: &str,
    to: HubObject,
    to_id: &str,
    operation: &str,
) -> Result<()> {
    let types: Vec<Value> = assoc_types(from, to)
        .iter()
        .map(|t| json!({"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t}))
        .collect();
    if types.is_empty() {
        return Err(Error::unsupported(
            operation,
            format!(
                "HubSpot has no default association from {} to {}",
                from.name(),
                to.name()
            ),
        ));
    }
    let req = Request::new(
        Method::PUT,
        core.paths.association(from, id, to, to_id),
        operation,
    )
    .addresses_record()
    .json(Value::Array(types))
    .bucket(GENERAL);
    core.send(req).await.map(drop)
}

/// Ids of `to` records associated with a record: the v4 associations batch read (one input,
/// 500 targets per page, `after` to continue; HubSpot's associations v4 docs).
pub(crate) async fn associated_ids(
    core: &Core,
    from: HubObject,
    id: &str,
    to: HubObject,
    operation: &str,
) -> Result<Vec<String>> {
    let http = core.http.clone();
    let path = core.paths.association_batch(from, to, "read");
    let (id, operation_owned) = (id.to_owned(), operation.to_owned());
    // Core's pager follows `after`, so a server whose cursors cycle, or that hands out a cursor
    // with an empty page, stops the read with a `Decode` error instead of paging forever.
    let mut pages = paginate(Paging::default(), None, move |after: Option<String>| {
        let mut input = json!({"id": id});
        if let (Some(a), Some(m)) = (&after, input.as_object_mut()) {
            m.insert("after".into(), json!(a));
        }
        let req = Request::new(Method::POST, path.clone(), operation_owned.clone())
            .json(json!({"inputs": [input]}))
            .idempotent(true)
            .bucket(GENERAL);
        let http = http.clone();
        async move {
            let page: crate::core::HsAssocBatch = http.send(req).await?.json()?;
            let mut items = Vec::new();
            let mut next = None;
            for r in page.results {
                items.extend(r.to.into_iter().map(|t| t.to_object_id));
                next = HsPaging::after(&r.paging);
            }
            Ok(Page { items, next })
        }
    });
    let mut ids = Vec::new();
    while let Some(page) = pages.next().await {
        ids.extend(page?.items);
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// `POST /objects/{o}/batch/read` in chunks of 100; ids that no longer exist are skipped.
pub(crate) async fn read_batch<T: Entity>(
    core: &Core,
    target: MappingTarget,
    ids: &[String],
    context: &[(&str, &str)],
    operation: &str,
) -> Result<Vec<Record<T>>> {
    let object = target.object();
    let mut hs_all = Vec::new();
    for chunk in ids.chunks(MAX_BATCH) {
        let inputs: Vec<Value> = chunk.iter().map(|id| json!({"id": id})).collect();
        let req = Request::new(Method::POST, core.paths.batch(object, "read"), operation)
            .json(json!({"inputs": inputs, "properties": core.read_props(target)}))
            .idempotent(true)
            .bucket(GENERAL);
        let batch: HsBatch = core.send(req).await?.json()?;
        hs_all.extend(batch.results);
    }
    let stage = hs_all.iter().find_map(|hs| stage_of(target, hs));
    let mapping = core.read_mapping(target, stage.as_deref()).await?;
    hs_all
        .iter()
        .map(|hs| core.record_from::<T>(target, &mapping, hs, context))
        .collect()
}

/// Activities newest first by when they happened (or were created), at most `limit`.
pub(crate) fn newest_activities(
    mut all: Vec<Record<Activity>>,
    limit: usize,
) -> Vec<Record<Activity>> {
    all.sort_by(|a, b| {
        let ta = a.timestamp.or(a.created_at);
        let tb = b.timestamp.or(b.created_at);
        tb.cmp(&ta).then_with(|| b.id.cmp(&a.id))
    });
    all.truncate(limit);
    all
}

/// `GET /objects/{o}/{id}?associations=notes,tasks,calls`.
pub(crate) async fn owner_with_engagements(
    core: &Core,
    from: HubObject,
    id: &str,
    operation: &str,
) -> Result<HsObject> {
    let req = Request::get(core.paths.record(from, id), operation)
        .addresses_record()
        .query("properties", "hs_object_id")
        .query("associations", "notes,tasks,calls")
        .bucket(GENERAL);
    core.send(req).await?.json()
}

/// The ids of `to` records an inline `associations` block names, following its paging through
/// the v4 list when HubSpot cut it short.
pub(crate) async fn inline_ids(
    core: &Core,
    owner: &HsObject,
    from: HubObject,
    id: &str,
    to: HubObject,
    operation: &str,
) -> Result<Vec<String>> {
    let Some(coll) = owner.associations.as_ref().and_then(|a| a.get(to.name())) else {
        return Ok(Vec::new());
    };
    if HsPaging::after(&coll.paging).is_some() {
        return associated_ids(core, from, id, to, operation).await;
    }
    let mut ids: Vec<String> = coll.results.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}
