//! [`Crm::create_linked`] on the generic connection: every write of the group checked, mapped and
//! audited as a create is, then sent in one request through [`Backend::write_linked`] where the
//! backend can, else in order ([`crate::api::create_in_order`]).

use crate::api::create_in_order;
use crate::api::{Crm, WriteContext};
use crate::error::{Error, Result};
use crate::linked::{LinkedCreate, LinkedCreated, link_slot, not_sent};
use crate::mapping::WriteMode;
use crate::model::{FieldMap, FieldValue, ObjectKind, RecordId};
use crate::raw::backend::{Backend, LinkedWrites, VendorWrite, WriteOp, Written};
use crate::raw::family::{Shared, Verb, operation, stamp};

/// `ticket.create`, …: the operation a linked create reports, as a plain create does.
fn create_op(kind: ObjectKind) -> &'static str {
    operation(kind, Verb::Create)
}

impl<B: Backend> Shared<B> {
    /// The checks and the mapping of one create of a group, before any request: the same as a
    /// plain create's (capability, a key the connection cannot honour, the mapping).
    fn prepare_create(
        &self,
        kind: ObjectKind,
        common: &FieldMap,
        ctx: &WriteContext,
    ) -> Result<VendorWrite> {
        let op = create_op(kind);
        let object = self.object(kind, op, |c| c.create)?;
        if ctx.idempotency_key.is_some() && !object.idempotent_create {
            return Err(self.key_refused(kind, op));
        }
        let write_op = WriteOp::Create {
            key: ctx.idempotency_key.clone(),
        };
        self.vendor_write(kind, write_op, common.clone(), WriteMode::Create)
            .map_err(|e| stamp(self.name_fields(self.backend.target(kind, common), e), op))
    }

    /// One create's answer as a plain create gives it: vendor field names in the error turned
    /// into common ones, the operation named, one audit record.
    fn finish_create(
        &self,
        kind: ObjectKind,
        common: &FieldMap,
        ctx: &WriteContext,
        result: Result<Written>,
    ) -> Result<RecordId> {
        let op = create_op(kind);
        let result =
            result.map_err(|e| stamp(self.name_fields(self.backend.target(kind, common), e), op));
        self.audit(
            "create",
            kind,
            ctx,
            crate::audit::field_names(common),
            &result,
            |w| w.record.id.clone(),
        );
        result.map(|w| w.record.id)
    }
}

/// A child's checks before any request: it can be linked to the parent's kind, and it maps.
fn prepare_child<B: Backend>(
    shared: &Shared<B>,
    parent: ObjectKind,
    child: &LinkedCreate,
    common: &FieldMap,
) -> Result<VendorWrite> {
    let kind = child.entity.kind();
    if link_slot(kind, parent).is_none() {
        return Err(
            Error::invalid_input(format!("a {kind} cannot be linked to a {parent}"))
                .with_operation(create_op(kind)),
        );
    }
    shared.prepare_create(kind, common, &child.ctx)
}

/// See the module docs. `crm` is the connection `shared` belongs to, for the in-order path.
pub(super) async fn create<B: Backend, C: Crm + ?Sized>(
    shared: &Shared<B>,
    crm: &C,
    parent: &LinkedCreate,
    children: &[LinkedCreate],
) -> LinkedCreated {
    let parent_kind = parent.entity.kind();
    let parent_common = parent.entity.to_fields();
    let parent_write = match shared.prepare_create(parent_kind, &parent_common, &parent.ctx) {
        Ok(w) => w,
        // Refused before any request: the in-order path refuses it the same way and sends
        // nothing.
        Err(_) => return create_in_order(crm, parent, children).await,
    };
    let mut commons = Vec::with_capacity(children.len());
    let mut writes = Vec::with_capacity(children.len());
    for child in children {
        let common = child.entity.to_fields();
        match prepare_child(shared, parent_kind, child, &common) {
            Ok(w) => writes.push(w),
            // A child that cannot go: the in-order path fails it alone and sends the rest.
            Err(_) => return create_in_order(crm, parent, children).await,
        }
        commons.push(common);
    }
    if writes.is_empty() {
        return create_in_order(crm, parent, children).await;
    }
    let group = LinkedWrites {
        parent: parent_write,
        children: writes,
    };
    let answer = match shared.backend.write_linked(group).await {
        Ok(answer) => answer,
        // Not in one request (the default, or too many for one): parent first, then children.
        Err(_) => return create_in_order(crm, parent, children).await,
    };
    let parent_result =
        shared.finish_create(parent_kind, &parent_common, &parent.ctx, answer.parent);
    let mut answers = answer.children.into_iter();
    let children = children
        .iter()
        .zip(commons)
        .map(|(child, mut common)| {
            let kind = child.entity.kind();
            let answer = answers.next().unwrap_or_else(|| {
                Err(Error::new(
                    crate::ErrorKind::Unexpected,
                    "the backend returned no result for this write",
                ))
            });
            let answer = match (&parent_result, answer) {
                // Halted or rolled back with its parent: say which write it waited for.
                (Err(why), Err(e)) if e.certainly_not_processed() => {
                    Err(not_sent(parent_kind, why))
                }
                (_, answer) => answer,
            };
            if let Ok(parent_id) = &parent_result {
                common.insert(
                    parent_kind.link_field().to_owned(),
                    FieldValue::Text(parent_id.to_string()),
                );
            }
            shared.finish_create(kind, &common, &child.ctx, answer)
        })
        .collect();
    LinkedCreated {
        parent: parent_result,
        children,
    }
}
