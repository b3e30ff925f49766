//! A create and the creates that link to it in one Composite request (REST API Developer Guide,
//! "Composite"): the parent is subrequest `parent`, each child `child<i>` with its link field
//! set to `@{parent.id}`, which Salesforce replaces with the id the parent's subrequest
//! returned. `allOrNone: true`: when one write fails, Salesforce rolls back the others and
//! answers each of them with `400 PROCESSING_HALTED`, so no note is left without its ticket and
//! no ticket is written twice when the group is sent again.
//!
//! With the connection's `idempotency_field`, every write is an upsert on its own key
//! (`PATCH /sobjects/{Object}/{field}/{key}`, whose answer carries the record's `id` on create
//! and, from API version 46.0, on update too), so a request whose answer was lost is sent again
//! safely: the upserts find the records the first attempt wrote. Without it, the writes are
//! plain `POST`s, sent once.

use std::collections::BTreeMap;

use crm_core::linked::{not_sent, rolled_back};
use crm_core::mapping::WriteMode;
use crm_core::raw::{LinkedWrites, LinkedWritten, VendorRecord, VendorWrite, WriteOp, Written};
use crm_core::{Error, FieldMap, FieldValue, ObjectKind, RecordId, Result};
use serde_json::{Map, Value, json};

use crate::error::missing_external_id;
use crate::extras::id;
use crate::extras::org::SalesforceBackend;
use crate::wire::{self, SObject, SubResponse};

/// Subrequests of one Composite request (REST API Developer Guide, "Composite").
pub(crate) const COMPOSITE_MAX: usize = 25;

/// The parent's reference id: letters, digits and underscores only, as Salesforce requires.
const PARENT: &str = "parent";

/// The first API version whose upsert answers an update with the record's id (200 with a body;
/// 204 without one before), which `@{parent.id}` needs.
const UPSERT_BODY_SINCE: f64 = 46.0;

/// One write of the group as sent.
struct Sub {
    s: SObject,
    /// The caller's fields, and the link for a child: the record a success answers with.
    common: FieldMap,
    /// The external-id field of an upsert, for naming it when the org lacks it.
    key_field: Option<String>,
}

impl SalesforceBackend {
    /// The API version as a number (`v62.0` → 62.0).
    fn version_number(&self) -> f64 {
        self.api_version
            .trim_start_matches('v')
            .parse()
            .unwrap_or(0.0)
    }

    /// Whether the group goes in one Composite request: creates only, at most 24 children (the
    /// parent takes the 25th subrequest), and, for upserts, an API version whose update answer
    /// carries the id the children refer to.
    fn fits_one_request(&self, group: &LinkedWrites) -> bool {
        let all_creates = std::iter::once(&group.parent)
            .chain(&group.children)
            .all(|w| matches!(w.op, WriteOp::Create { .. }));
        let keyed = self.idempotency_field.is_some()
            && matches!(group.parent.op, WriteOp::Create { key: Some(_) });
        all_creates
            && !group.children.is_empty()
            && group.children.len() < COMPOSITE_MAX
            && (!keyed || self.version_number() >= UPSERT_BODY_SINCE)
    }

    /// One create as a Composite subrequest: an upsert on its own key where the connection has
    /// an idempotency field and the write carries a key, a `POST` otherwise. `link` is the
    /// common link field of a child and the reference it gets.
    fn linked_sub(
        &self,
        w: &VendorWrite,
        reference: &str,
        link: Option<(&str, &str)>,
        operation: &str,
    ) -> Result<(Value, Sub)> {
        let s = SObject::for_kind(w.kind);
        let mut common = w.common.clone();
        let mut body = if w.kind == ObjectKind::Activity {
            // WhoId/WhatId are written from the common fields (polymorphic, outside the
            // mapping): the link goes in as the reference.
            if let Some((field, value)) = link {
                common.insert(field.to_owned(), FieldValue::Text(value.to_owned()));
            }
            wire::body(&*self.mapping(s)?, s, &common, WriteMode::Create, true)?
        } else {
            let mut body = wire::json_body(s, w.fields.clone(), Map::new());
            if let Some((field, value)) = link {
                body.insert(self.vendor_field(s, field)?, json!(value));
            }
            body
        };
        let key = match &w.op {
            WriteOp::Create { key } => key.as_ref(),
            _ => None,
        };
        let (method, path, key_field) = match (key, &self.idempotency_field) {
            (Some(key), Some(field)) => {
                // The key is a path segment of the subrequest URL, which the transport never
                // sees: a `.` or `..` would address another resource.
                if crm_core::raw::http::is_dot_segment(key.as_str()) {
                    return Err(Error::invalid_input(
                        "the idempotency key is `.` or `..`, which a URL reads as a step up the path",
                    )
                    .with_operation(operation.to_owned()));
                }
                // Salesforce's upsert: no Id and no external-id field in the body.
                body.retain(|k, _| !k.eq_ignore_ascii_case(field) && !k.eq_ignore_ascii_case("Id"));
                let path = Self::sobject_path(s, &[field, key.as_str()]);
                ("PATCH", path, Some(field.clone()))
            }
            _ => ("POST", Self::sobject_path(s, &[]), None),
        };
        let mut sub = json!({"method": method, "url": self.full_path(&path),
                             "referenceId": reference, "body": Value::Object(body)});
        if let (Some((h, v)), Some(m)) = (self.duplicate_header(), sub.as_object_mut()) {
            m.insert("httpHeaders".into(), json!({h.as_str(): v}));
        }
        Ok((
            sub,
            Sub {
                s,
                common,
                key_field,
            },
        ))
    }

    /// A subresponse as a write's answer.
    fn linked_answer(&self, sub: &Sub, resp: &SubResponse, operation: &str) -> Result<Written> {
        if resp.status == 300 {
            return Err(wire::ambiguous(&resp.body, operation));
        }
        if !resp.ok() {
            let e = self.name_fields(sub.s, resp.error(operation));
            return Err(match &sub.key_field {
                Some(field) => missing_external_id(e, sub.s.name(), field),
                None => e,
            });
        }
        let id = resp
            .body
            .get("id")
            .and_then(Value::as_str)
            .and_then(id::to18)
            .and_then(|i| RecordId::new(i).ok())
            .ok_or_else(|| {
                Error::decode("a successful subrequest answered without a record id")
                    .with_operation(operation.to_owned())
            })?;
        Ok(Written {
            // The caller's own data with its new id, as Collections results are.
            record: VendorRecord {
                resolved: sub.common.clone().into(),
                ..VendorRecord::new(id, sub.s.table(), FieldMap::new())
            },
            created: resp.status == 201,
        })
    }

    /// See the module docs. `Err` hands the group back when it does not fit one request.
    pub(crate) async fn composite_linked(
        &self,
        group: LinkedWrites,
    ) -> std::result::Result<LinkedWritten, LinkedWrites> {
        if !self.fits_one_request(&group) {
            return Err(group);
        }
        Ok(self.linked_composite(group).await)
    }

    async fn linked_composite(&self, group: LinkedWrites) -> LinkedWritten {
        let parent_kind = group.parent.kind;
        let operation = format!("{parent_kind}.create");
        let reference = format!("@{{{PARENT}.id}}");
        let link_field = parent_kind.link_field();
        let parent = match self.linked_sub(&group.parent, PARENT, None, &operation) {
            Ok(p) => p,
            Err(e) => {
                let children = group
                    .children
                    .iter()
                    .map(|_| Err(not_sent(parent_kind, &e)))
                    .collect();
                return LinkedWritten {
                    parent: Err(e),
                    children,
                };
            }
        };
        // A child that cannot be built fails alone and is not sent.
        let children: Vec<(String, Result<(Value, Sub)>)> = group
            .children
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let r = format!("child{i}");
                let op = format!("{}.create", w.kind);
                let built = self.linked_sub(w, &r, Some((link_field, &reference)), &op);
                (r, built)
            })
            .collect();
        let mut subrequests = vec![parent.0];
        let mut keyed = parent.1.key_field.is_some();
        for (_, built) in &children {
            if let Ok((sub, item)) = built {
                subrequests.push(sub.clone());
                keyed &= item.key_field.is_some();
            }
        }
        // Upserts on stored keys may be sent again by the transport; plain POSTs may not.
        let answer = self
            .composite_with(subrequests, true, keyed, &operation)
            .await;
        let mut by_ref: BTreeMap<String, SubResponse> = match answer {
            Ok(subs) => subs
                .into_iter()
                .map(|s| (s.reference_id.clone(), s))
                .collect(),
            Err(e) => {
                // Nothing says which writes were kept: each gets the request's error.
                let children = children
                    .into_iter()
                    .map(|(_, built)| built.and(Err(e.clone())))
                    .collect();
                return LinkedWritten {
                    parent: Err(e),
                    children,
                };
            }
        };
        let missing = |op: &str| {
            Err(
                Error::decode("the composite response has no result for this write")
                    .with_operation(op.to_owned()),
            )
        };
        let halted = |r: &Result<Written>| matches!(r, Err(e) if e.vendor().and_then(|v| v.code.as_deref()) == Some("PROCESSING_HALTED"));
        let parent_result = match by_ref.remove(PARENT) {
            Some(resp) => self.linked_answer(&parent.1, &resp, &operation),
            None => missing(&operation),
        };
        let parent_result = if halted(&parent_result) {
            Err(rolled_back(&operation))
        } else {
            parent_result
        };
        let children = children
            .into_iter()
            .map(|(r, built)| {
                let (_, item) = built?;
                let op = format!("{}.create", item.s.kind());
                let mut item = item;
                let result = match by_ref.remove(&r) {
                    Some(resp) => {
                        if let Ok(w) = &parent_result {
                            item.common.insert(
                                link_field.to_owned(),
                                FieldValue::Text(w.record.id.to_string()),
                            );
                        }
                        self.linked_answer(&item, &resp, &op)
                    }
                    None => missing(&op),
                };
                if !halted(&result) {
                    return result;
                }
                Err(match &parent_result {
                    Err(why) => not_sent(parent_kind, why),
                    Ok(_) => rolled_back(&op),
                })
            })
            .collect();
        LinkedWritten {
            parent: parent_result,
            children,
        }
    }
}
