//! One delivery round's plan and outcomes: which claimed writes go out together in a vendor
//! batch, how each is sent (keyed, looked up by key, or plain), and what its answer means for the
//! write (delivered, retried later, failed, or parked for an operator).

use super::*;

/// How one delivery attempt ended.
#[derive(Debug)]
pub(super) enum Outcome {
    Delivered(RecordId),
    /// A create that may exist in the CRM already; the reason, for the operator.
    Parked(String),
    /// `in_doubt`: the attempt may have reached the CRM (no proof it did not).
    Failed {
        error: Error,
        in_doubt: bool,
    },
    /// A write sent with the write it depends on (`parent`), which was not created: the vendor
    /// certainly did not keep it either. It waits for its parent again, or fails with it.
    NotSent {
        parent: WriteId,
    },
}

/// Whether a create that failed with `e` may nevertheless exist in the CRM: no answer (a
/// timeout, a dropped connection), a server error, or an answer that could not be read. A
/// rejection the vendor gave (validation, conflict, auth, a rate limit) or a refusal before
/// sending proves it does not.
pub(super) fn may_have_created(e: &Error) -> bool {
    !e.certainly_not_processed()
        && matches!(
            e.kind(),
            ErrorKind::Unavailable
                | ErrorKind::Timeout
                | ErrorKind::Decode
                | ErrorKind::Mapping
                | ErrorKind::Unexpected
        )
}

/// What one request (or, for adapters without a batch endpoint, one write) of a delivery round
/// carries.
#[derive(Debug)]
pub(super) enum Unit {
    /// One write, sent on its own.
    One(store::Row),
    /// Creates of one kind by one actor, sent as one vendor batch.
    Creates(Vec<store::Row>),
    /// A create and the creates that depend on it, sent together through
    /// [`Crm::create_linked`]: in one request where the vendor allows, else the parent and
    /// then, with its id, the children, in this round.
    Linked {
        parent: store::Row,
        children: Vec<store::Row>,
    },
}

impl Unit {
    /// The create this unit sends on its own, if it could take the writes that depend on it
    /// along: a lone create (in a batch of one, or on an adapter without a batch endpoint) that
    /// is not in doubt on a connection that cannot make creates idempotent (that one is looked
    /// up or parked, never sent blind). Batched creates are not: their dependents go in the next
    /// round's batches, which costs fewer requests than one group per create.
    pub(super) fn lone_create(&self, crm: &dyn Crm) -> Option<&store::Row> {
        let row = match self {
            Unit::One(row) => row,
            Unit::Creates(rows) if rows.len() == 1 => rows.first()?,
            _ => return None,
        };
        (row.op == WriteOp::Create && groupable(crm, row)).then_some(row)
    }
}

/// Whether a create may go out in a group: sent again with its key where creates are
/// idempotent, or never sent before.
pub(super) fn groupable(crm: &dyn Crm, row: &store::Row) -> bool {
    row.op == WriteOp::Create && (caps_of(crm, row.kind).idempotent_create || !row.in_doubt)
}

/// The capabilities of `kind` on `crm`; none when the connection does not support it.
pub(super) fn caps_of(crm: &dyn Crm, kind: ObjectKind) -> ObjectCapabilities {
    crm.capabilities()
        .objects
        .get(&kind)
        .cloned()
        .unwrap_or_default()
}

/// Groups claimed writes into requests: creates of one kind and actor into batches of the
/// adapter's `max_batch`, everything else one by one. A create in doubt on a connection that
/// cannot make creates idempotent is never batched: it is looked up or parked on its own.
pub(super) fn plan(crm: &dyn Crm, rows: Vec<store::Row>) -> Vec<Unit> {
    let mut units = Vec::new();
    // (kind, actor, batch size, rows), in the order first seen.
    let mut groups: Vec<(ObjectKind, Actor, usize, Vec<store::Row>)> = Vec::new();
    for row in rows {
        let caps = caps_of(crm, row.kind);
        let batch = caps.max_batch.filter(|n| *n > 1);
        let batchable = row.op == WriteOp::Create
            && batch.is_some()
            && (caps.idempotent_create || !row.in_doubt);
        match (batchable, batch) {
            (true, Some(size)) => {
                match groups
                    .iter_mut()
                    .find(|(k, a, _, _)| *k == row.kind && *a == row.actor)
                {
                    Some((_, _, _, group)) => group.push(row),
                    None => groups.push((row.kind, row.actor.clone(), size, vec![row])),
                }
            }
            _ => units.push(Unit::One(row)),
        }
    }
    for (_, _, size, mut group) in groups {
        while !group.is_empty() {
            let rest = group.split_off(size.min(group.len()));
            units.push(Unit::Creates(std::mem::replace(&mut group, rest)));
        }
    }
    units
}

/// Sends one unit and gives each of its writes an outcome.
pub(super) async fn deliver_unit(crm: &dyn Crm, unit: Unit) -> Vec<(store::Row, Outcome)> {
    match unit {
        Unit::One(row) => {
            let outcome = deliver_one(crm, &row).await;
            vec![(row, outcome)]
        }
        Unit::Linked { parent, children } => deliver_linked(crm, parent, children).await,
        Unit::Creates(rows) => {
            let Some(first) = rows.first() else {
                return Vec::new();
            };
            let (kind, actor) = (first.kind, first.actor.clone());
            let caps = caps_of(crm, kind);
            match kind {
                ObjectKind::Contact => create_batch(crm.contacts(), &caps, rows, actor).await,
                ObjectKind::Account => create_batch(crm.accounts(), &caps, rows, actor).await,
                ObjectKind::Lead => create_batch(crm.leads(), &caps, rows, actor).await,
                ObjectKind::Opportunity => {
                    create_batch(crm.opportunities(), &caps, rows, actor).await
                }
                ObjectKind::Ticket => create_batch(crm.tickets(), &caps, rows, actor).await,
                ObjectKind::Activity => create_batch(crm.activities(), &caps, rows, actor).await,
            }
        }
    }
}

/// Sends a batch of creates in one vendor request (or as many as the adapter needs) and maps
/// each item's result onto its write.
///
/// On a connection with idempotent creates every item carries its own stored key, so a batch
/// whose answer was lost is sent again with the same keys and the vendor's unique field finds
/// the records the first attempt wrote. Otherwise the items go without keys (unless the adapter
/// can look a create up by its key), and an item that may have reached the CRM although it
/// failed is parked, as a single create would be.
pub(super) async fn create_batch<T: Entity>(
    records: &dyn Records<T>,
    caps: &ObjectCapabilities,
    rows: Vec<store::Row>,
    actor: Actor,
) -> Vec<(store::Row, Outcome)> {
    let mut out = Vec::with_capacity(rows.len());
    let mut items: Vec<(IdempotencyKey, T)> = Vec::with_capacity(rows.len());
    let mut sent_rows = Vec::with_capacity(rows.len());
    for row in rows {
        match entity::<T>(&row) {
            Ok(entity) => {
                items.push((row.key.clone(), entity));
                sent_rows.push(row);
            }
            Err(outcome) => out.push((row, outcome)),
        }
    }
    if items.is_empty() {
        return out;
    }
    let ctx = WriteContext::new(actor);
    tracing::debug!(kind = %T::KIND, items = items.len(), "outbox: sending a batch of creates");
    let results = if caps.idempotent_create || caps.find_by_idempotency_key {
        records.create_batch_keyed(&items, &ctx).await
    } else {
        // Adapters refuse a key they cannot honour; see `create`.
        let inputs: Vec<T> = items.into_iter().map(|(_, t)| t).collect();
        records.create_batch(&inputs, &ctx).await
    };
    let mut results = results.into_iter();
    for row in sent_rows {
        let result = results.next().unwrap_or_else(|| {
            // An adapter that answers fewer items than it was given: nothing says whether this
            // one was written.
            Err(Error::new(
                ErrorKind::Unexpected,
                "the adapter returned no result for this batch item",
            ))
        });
        let outcome = if caps.idempotent_create {
            idempotent_outcome(result.map(|r| r.id))
        } else {
            unkeyed_outcome(T::KIND, result.map(|r| r.id))
        };
        out.push((row, outcome));
    }
    out
}

/// The outcome of a create sent with its key on a connection with idempotent creates.
pub(super) fn idempotent_outcome(result: Result<RecordId>) -> Outcome {
    match result {
        Ok(id) => Outcome::Delivered(id),
        // The unique key is already taken by the record an earlier attempt created.
        Err(e) => match e.kind() {
            ErrorKind::Conflict {
                existing_id: Some(id),
                ..
            } => Outcome::Delivered(id.clone()),
            _ => sent(Err(e)),
        },
    }
}

/// The outcome of a create on a connection that cannot make creates idempotent: one that may
/// have reached the CRM although it failed is parked.
pub(super) fn unkeyed_outcome(kind: ObjectKind, result: Result<RecordId>) -> Outcome {
    match result {
        Ok(id) => Outcome::Delivered(id),
        Err(e) if may_have_created(&e) => Outcome::Parked(format!(
            "the create of this {kind} may have reached the CRM although it failed ({e}), and this connection cannot make creates idempotent: look for it in the CRM, then resolve the write with the record id, or redrive it if there is none"
        )),
        Err(e) => sent(Err(e)),
    }
}

/// A stored write's payload as the entity it holds; a payload that cannot be read fails the
/// write with the reason (nothing is sent).
#[allow(clippy::result_large_err)]
pub(super) fn entity<T: Entity>(row: &store::Row) -> std::result::Result<T, Outcome> {
    serde_path_to_error::deserialize(row.payload.clone()).map_err(|e| {
        // The reason names where the payload is wrong, never its values (personal data).
        let error = Error::new(
            ErrorKind::Storage,
            format!(
                "corrupt outbox row: write {} holds an unreadable {} payload (at `{}`)",
                row.id,
                T::KIND,
                e.path()
            ),
        );
        Outcome::Failed {
            error,
            in_doubt: row.in_doubt,
        }
    })
}

/// Sends one stored write.
pub(super) async fn deliver_one(crm: &dyn Crm, row: &store::Row) -> Outcome {
    let ctx = WriteContext {
        actor: row.actor.clone(),
        idempotency_key: Some(row.key.clone()),
    };
    match row.kind {
        ObjectKind::Contact => send::<Contact>(crm, crm.contacts(), row, &ctx).await,
        ObjectKind::Account => send::<Account>(crm, crm.accounts(), row, &ctx).await,
        ObjectKind::Lead => send::<Lead>(crm, crm.leads(), row, &ctx).await,
        ObjectKind::Opportunity => send::<Opportunity>(crm, crm.opportunities(), row, &ctx).await,
        ObjectKind::Ticket => send::<Ticket>(crm, crm.tickets(), row, &ctx).await,
        ObjectKind::Activity => send::<Activity>(crm, crm.activities(), row, &ctx).await,
    }
}

/// The outcome of a request that may have reached the CRM.
pub(super) fn sent(result: Result<RecordId>) -> Outcome {
    match result {
        Ok(id) => Outcome::Delivered(id),
        Err(e) => Outcome::Failed {
            in_doubt: !e.certainly_not_processed(),
            error: e,
        },
    }
}

pub(super) async fn send<T: Entity>(
    crm: &dyn Crm,
    records: &dyn Records<T>,
    row: &store::Row,
    ctx: &WriteContext,
) -> Outcome {
    let entity: T = match entity(row) {
        Ok(entity) => entity,
        Err(outcome) => return outcome,
    };
    match &row.op {
        WriteOp::Create => {
            let caps = caps_of(crm, T::KIND);
            create(records, &caps, row, &entity, ctx).await
        }
        WriteOp::Update { id } => sent(records.update(id, &entity, ctx).await.map(|r| r.id)),
        WriteOp::Upsert { field, value } => {
            let key = match field.as_str() {
                "external_id" => UpsertKey::ExternalId(value.clone()),
                "email" => UpsertKey::Email(Email::from_vendor(value)),
                "idempotency_key" => match IdempotencyKey::new(value.clone()) {
                    Ok(key) => UpsertKey::Idempotency(key),
                    Err(error) => {
                        return Outcome::Failed {
                            error,
                            in_doubt: row.in_doubt,
                        };
                    }
                },
                other => {
                    let error = Error::new(
                        ErrorKind::Storage,
                        format!(
                            "corrupt outbox row: write {} has an unknown upsert key `{other}`",
                            row.id
                        ),
                    );
                    return Outcome::Failed {
                        error,
                        in_doubt: row.in_doubt,
                    };
                }
            };
            sent(
                records
                    .upsert(&key, &entity, ctx)
                    .await
                    .map(|u| u.record.id),
            )
        }
    }
}

/// A create: resolved first when an earlier attempt may have reached the CRM and the connection
/// cannot make creates idempotent.
pub(super) async fn create<T: Entity>(
    records: &dyn Records<T>,
    caps: &ObjectCapabilities,
    row: &store::Row,
    entity: &T,
    ctx: &WriteContext,
) -> Outcome {
    let kind = T::KIND;
    if caps.idempotent_create {
        // The same key gives back the first record, however many attempts reached the CRM.
        return idempotent_outcome(records.create(entity, ctx).await.map(|r| r.id));
    }
    if row.in_doubt {
        if !caps.find_by_idempotency_key {
            return Outcome::Parked(format!(
                "an earlier attempt to create this {kind} may have reached the CRM (the worker stopped or the answer was lost), and this connection can neither make creates idempotent nor look one up by its idempotency key: look for it in the CRM, then resolve the write with the record id, or redrive it if there is none"
            ));
        }
        let filter = Filter::new(Condition::eq("idempotency_key", row.key.as_str()));
        match records.find(&filter, 2).await {
            Ok(found) => match found.as_slice() {
                [] => {} // The earlier attempt did not create it: send it now.
                [one] => return Outcome::Delivered(one.id.clone()),
                _ => {
                    return Outcome::Parked(format!(
                        "several {kind} records in the CRM carry this write's idempotency key: an operator must keep one and resolve the write with its id"
                    ));
                }
            },
            // The look-up did not happen: try again later, still in doubt.
            Err(error) if error.is_retryable() => {
                return Outcome::Failed {
                    error,
                    in_doubt: true,
                };
            }
            Err(error) => {
                return Outcome::Parked(format!(
                    "an earlier attempt to create this {kind} may have reached the CRM, and looking it up by its idempotency key failed ({error}): look for it in the CRM, then resolve or redrive the write"
                ));
            }
        }
    }
    // Adapters refuse a key they cannot honour (a `Config` error naming the missing setting),
    // so a connection that neither makes creates idempotent nor stores the key to find it by
    // sends the create without one; the in-doubt check above is what guards it.
    let unkeyed;
    let ctx = if caps.find_by_idempotency_key {
        ctx
    } else {
        unkeyed = WriteContext {
            idempotency_key: None,
            ..ctx.clone()
        };
        &unkeyed
    };
    unkeyed_outcome(kind, records.create(entity, ctx).await.map(|r| r.id))
}

/// A stored write's payload as a record of its kind.
#[allow(clippy::result_large_err)]
fn any_entity(row: &store::Row) -> std::result::Result<AnyEntity, Outcome> {
    Ok(match row.kind {
        ObjectKind::Contact => AnyEntity::Contact(entity(row)?),
        ObjectKind::Account => AnyEntity::Account(entity(row)?),
        ObjectKind::Lead => AnyEntity::Lead(entity(row)?),
        ObjectKind::Opportunity => AnyEntity::Opportunity(entity(row)?),
        ObjectKind::Ticket => AnyEntity::Ticket(entity(row)?),
        ObjectKind::Activity => AnyEntity::Activity(entity(row)?),
    })
}

/// A create of a group as `crm` can send it: with its own stored key where the connection can
/// honour one (as [`create`] sends it).
fn linked_create(crm: &dyn Crm, row: &store::Row, entity: AnyEntity) -> LinkedCreate {
    let caps = caps_of(crm, row.kind);
    let key = (caps.idempotent_create || caps.find_by_idempotency_key).then(|| row.key.clone());
    LinkedCreate {
        entity,
        ctx: WriteContext {
            actor: row.actor.clone(),
            idempotency_key: key,
        },
    }
}

/// The outcome of one create of a group, by the rules of a single create on this connection.
fn create_outcome(crm: &dyn Crm, kind: ObjectKind, result: Result<RecordId>) -> Outcome {
    if caps_of(crm, kind).idempotent_create {
        idempotent_outcome(result)
    } else {
        unkeyed_outcome(kind, result)
    }
}

/// Sends a create and the creates that depend on it through [`Crm::create_linked`], and gives
/// each write its own outcome: the parent's first (so that a failure is recorded before its
/// children are put back or failed with it), then each child's. A child the vendor did not keep
/// because its parent was not created waits for the parent again ([`Outcome::NotSent`]); a child
/// that failed on its own is retried, failed or parked by the usual rules.
pub(super) async fn deliver_linked(
    crm: &dyn Crm,
    parent: store::Row,
    children: Vec<store::Row>,
) -> Vec<(store::Row, Outcome)> {
    let mut out = Vec::with_capacity(children.len() + 1);
    let parent_entity = match any_entity(&parent) {
        Ok(entity) => entity,
        Err(outcome) => {
            let id = parent.id;
            out.push((parent, outcome));
            out.extend(
                children
                    .into_iter()
                    .map(|c| (c, Outcome::NotSent { parent: id })),
            );
            return out;
        }
    };
    let mut sent = Vec::with_capacity(children.len());
    let mut unreadable = Vec::new();
    let mut creates = Vec::with_capacity(children.len());
    for child in children {
        match any_entity(&child) {
            Ok(entity) => {
                creates.push(linked_create(crm, &child, entity));
                sent.push(child);
            }
            Err(outcome) => unreadable.push((child, outcome)),
        }
    }
    let group = linked_create(crm, &parent, parent_entity);
    tracing::debug!(
        kind = %parent.kind,
        children = creates.len(),
        "outbox: sending a create with the writes that depend on it"
    );
    let answer = crm.create_linked(&group, &creates).await;
    let parent_record = answer.parent.as_ref().ok().cloned();
    let (parent_id, parent_kind) = (parent.id, parent.kind);
    out.push((parent, create_outcome(crm, parent_kind, answer.parent)));
    let mut answers = answer.children.into_iter();
    for mut child in sent {
        let result = answers.next().unwrap_or_else(|| {
            Err(Error::new(
                ErrorKind::Unexpected,
                "the adapter returned no result for this write",
            ))
        });
        let outcome = match (&parent_record, result) {
            (None, Err(e)) if e.certainly_not_processed() => Outcome::NotSent { parent: parent_id },
            (parent_record, result) => {
                // The link the call set, stored with the delivery as a claim stores it.
                if let (Some(id), Ok(_)) = (parent_record, &result)
                    && link_into(child.kind, &mut child.payload, parent_kind, id).is_ok()
                {
                    child.linked = true;
                }
                create_outcome(crm, child.kind, result)
            }
        };
        out.push((child, outcome));
    }
    out.extend(unreadable);
    out
}
