//! Associations and reads by id: v4 association writes and reads, inline association ids,
//! batch reads, and the records linked to a record (HubSpot's object and associations docs).

use crm_core::model::fields::parse_datetime;
use crm_core::raw::http::Request;
use crm_core::raw::{Paging, VendorRecord, Verb, operation, paginate};
use crm_core::reexports::chrono::{DateTime, Utc};
use crm_core::reexports::futures::StreamExt;
use crm_core::reexports::http::Method;
use crm_core::reexports::serde_json::{Value, json};
use crm_core::{Error, FieldValue, ObjectKind, Page, RecordRef, Result};

use crate::backend::{HubSpotBackend, post};
use crate::extras::objects::{HubObject, MappingTarget, assoc_specs};
use crate::limits::GENERAL;
use crate::wire::{HsAssocId, HsList, HsObject, HsPaging, ref_object};

impl HubSpotBackend {
    /// PUTs each link as an association (idempotent), with the HUBSPOT_DEFINED types for the
    /// pair.
    pub(crate) async fn put_links(
        &self,
        from: HubObject,
        id: &str,
        links: &[(HubObject, String)],
        operation: &str,
    ) -> Result<()> {
        for (to, to_id) in links {
            let types = assoc_specs(from, *to);
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
            let path = self.paths.association(from, id, *to, to_id);
            let req = Request::new(Method::PUT, path, operation)
                .addresses_record()
                .json(Value::Array(types))
                .bucket(GENERAL);
            self.http.send(req).await?;
        }
        Ok(())
    }

    /// Ids of `to` records associated with a record: the v4 associations batch read (one input,
    /// 500 targets per page, `after` to continue; HubSpot's associations v4 docs).
    pub(crate) async fn associated_ids(
        &self,
        from: HubObject,
        id: &str,
        to: HubObject,
        operation: &str,
    ) -> Result<Vec<String>> {
        let http = self.http.clone();
        let path = self.paths.association_batch(from, to, "read");
        let (id, operation_owned) = (id.to_owned(), operation.to_owned());
        // Core's pager follows `after`, so a server whose cursors cycle, or that hands out a cursor
        // with an empty page, stops the read with a `Decode` error instead of paging forever.
        let mut pages = paginate(Paging::default(), None, move |after: Option<String>| {
            let mut input = json!({"id": id});
            if let (Some(a), Some(m)) = (&after, input.as_object_mut()) {
                m.insert("after".into(), json!(a));
            }
            let req = post(path.clone(), &operation_owned, json!({"inputs": [input]}));
            let http = http.clone();
            async move {
                let page: HsList<HsList<HsAssocId>> = http.send(req).await?.json()?;
                let mut items = Vec::new();
                let mut next = None;
                for r in page.results {
                    items.extend(r.results.into_iter().map(|t| t.id));
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

    /// Records of `target` by id ([`HubSpotBackend::batch_read`]), `context` filling their
    /// link fields.
    pub(crate) async fn read_batch(
        &self,
        target: MappingTarget,
        ids: &[String],
        context: &[(&str, &str)],
        operation: &str,
    ) -> Result<Vec<VendorRecord>> {
        let found = self.batch_read(target, ids, None, operation).await?;
        self.decode(target, found, context).await
    }

    /// The ids of `to` records an inline `associations` block names, following its paging through
    /// the v4 list when HubSpot cut it short.
    pub(crate) async fn inline_ids(
        &self,
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
            return self.associated_ids(from, id, to, operation).await;
        }
        let mut ids: Vec<String> = coll.results.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The records of `kind` linked to `owner`, newest first: a contact's deals and tickets with
    /// its primary company's (`extras/view.rs`), a record's notes, tasks and calls from one read of
    /// it, otherwise the v4 associations read in batches.
    pub(crate) async fn linked(
        &self,
        kind: ObjectKind,
        owner: &RecordRef,
    ) -> Result<Vec<VendorRecord>> {
        let operation = operation(kind, Verb::Find);
        let (from, id) = ref_object(owner);
        let context = [(owner.kind.link_field(), id.as_str())];
        let mut found = Vec::new();
        if kind == ObjectKind::Activity {
            // One read of the record names its notes, tasks and calls (`?associations=`).
            let links = Some("notes,tasks,calls");
            let read = self.get_object(from, &id, "hs_object_id".into(), links, None, operation);
            let hs = read.await?;
            for object in HubObject::ENGAGEMENTS {
                let ids = self.inline_ids(&hs, from, &id, object, operation).await?;
                if !ids.is_empty() {
                    let target = MappingTarget::for_engagement(object);
                    found.extend(self.read_batch(target, &ids, &context, operation).await?);
                }
            }
            // Newest first by when they happened (or were created).
            newest_happened(&mut found);
            return Ok(found);
        }
        let target = MappingTarget::main(kind);
        if from == HubObject::Contacts {
            // A contact's deals and tickets include its primary company's.
            return self.open_for_contact(target, &id, operation).await;
        }
        let ids = self
            .associated_ids(from, &id, target.object(), operation)
            .await?;
        found = self.read_batch(target, &ids, &context, operation).await?;
        newest_changed(&mut found);
        Ok(found)
    }
}

/// Records most recently changed first.
pub(crate) fn newest_changed(records: &mut [VendorRecord]) {
    records.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| b.id.cmp(&a.id))
    });
}

/// Activities newest first by when they happened (or were created).
pub(crate) fn newest_happened(records: &mut [VendorRecord]) {
    records.sort_by(|a, b| when(b).cmp(&when(a)).then_with(|| b.id.cmp(&a.id)));
}

/// When an activity happened: its `timestamp`, else its creation.
fn when(r: &VendorRecord) -> Option<DateTime<Utc>> {
    let at = match r.resolved.get("timestamp") {
        Some(FieldValue::DateTime(at)) => Some(*at),
        Some(FieldValue::Text(t)) => parse_datetime(t),
        _ => None,
    };
    at.or(r.created_at)
}
