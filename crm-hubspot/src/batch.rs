//! Batch writes: chunks of 100 per object, every input tagged with an `objectWriteTraceId`
//! so that HubSpot reports per item and one bad input fails alone (HubSpot's batch and
//! error-handling guides: the 207 per-item answer needs a distinct trace id on every input).
//! HubSpot does not promise that results come in input order; it echoes each input's trace
//! id, and results are matched by it (updates also by id), never by position.

use std::collections::BTreeMap;

use crm_core::raw::http::Request;
use crm_core::reexports::http::Method;
use crm_core::reexports::serde_json::{Map, Value, json};
use crm_core::{Entity, Error, ErrorKind, Record, Result};

use crate::core::{Core, GENERAL, HsBatch, HsObject, MAX_BATCH, Prepared, item_error};
use crate::mapping::MappingTarget;
use crate::records::{HubRecords, UpsertInput, as_pairs, conflicts_on, context_of, upsert_json};

/// One input of a batch write: its index in the caller's slice, the prepared write, and for
/// upserts the `idProperty` and key.
pub(crate) type BatchItem = (usize, Prepared, Option<(String, String)>);

/// An input within a chunk: index, prepared write, upsert key.
pub(crate) type ChunkItem = (usize, Prepared, Option<String>);

/// Per-input outcomes, filled in as chunks complete: the record and whether it was created.
pub(crate) type Slots<T> = [Option<Result<(Record<T>, bool)>>];

/// What a batch call does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchOp<'a> {
    /// `create`, `update` or `upsert` (the endpoint).
    pub(crate) name: &'static str,
    /// Whether sending a chunk twice is harmless (updates, upserts, keyed creates), so the
    /// transport may retry it.
    pub(crate) replay_safe: bool,
    /// Update inputs: input index → HubSpot id.
    pub(crate) update_ids: &'a BTreeMap<usize, String>,
    /// The operation name for errors.
    pub(crate) operation: &'a str,
}

/// Whether a written record's properties agree with what was sent for it: every property
/// present in both holds the same text (ignoring case and surrounding space, as HubSpot
/// normalises some values).
fn agrees(sent: &Map<String, Value>, written: &Map<String, Value>) -> bool {
    sent.iter().all(|(k, v)| match (v, written.get(k)) {
        (_, None | Some(Value::Null)) | (Value::Null, _) => true,
        (Value::String(a), Some(Value::String(b))) => a.trim().eq_ignore_ascii_case(b.trim()),
        (a, Some(b)) => a == b,
    })
}

/// Results that came back without a trace id, matched to the inputs not yet matched by what
/// was sent: a result goes to the only unmatched input its properties agree with, or, when
/// several agree and were sent with the same properties (so which gets which id does not
/// matter), to the first of them. A result that fits several different inputs matches none:
/// those inputs are then reported as unknown rather than given another input's record.
fn match_by_properties(
    chunk: &[ChunkItem],
    untraced: Vec<HsObject>,
    done: &mut BTreeMap<String, HsObject>,
) {
    for hs in untraced {
        let open: Vec<&ChunkItem> = chunk
            .iter()
            .filter(|(i, p, _)| {
                !done.contains_key(&i.to_string()) && agrees(&p.props, &hs.properties)
            })
            .collect();
        let Some(first) = open.first() else { continue };
        if open.iter().all(|(_, p, _)| p.props == first.1.props) {
            done.insert(first.0.to_string(), hs);
        }
    }
}

fn trace_ids(error: &Value) -> Vec<String> {
    error
        .get("context")
        .and_then(|c| c.get("objectWriteTraceId"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl<T: Entity> HubRecords<T> {
    /// Sends `items` in chunks of 100 per (object, `idProperty`) and fills `results`.
    pub(crate) async fn run_batch(
        &self,
        op: &BatchOp<'_>,
        items: Vec<BatchItem>,
        results: &mut Slots<T>,
    ) {
        let mut by_target: BTreeMap<(MappingTarget, Option<String>), Vec<ChunkItem>> =
            BTreeMap::new();
        for (i, p, key) in items {
            let (prop, key) = match key {
                Some((prop, key)) => (Some(prop), Some(key)),
                None => (None, None),
            };
            by_target
                .entry((p.target, prop))
                .or_default()
                .push((i, p, key));
        }
        for ((target, prop), group) in by_target {
            for chunk in group.chunks(MAX_BATCH) {
                match self.send_chunk(op, target, prop.as_deref(), chunk).await {
                    Ok(per_item) => {
                        for (i, r) in per_item {
                            if let Some(slot) = results.get_mut(i) {
                                *slot = Some(r);
                            }
                        }
                    }
                    Err(e) => {
                        // HubSpot does not do partial upserts by email (its contacts guide): send
                        // such a chunk's inputs one by one so only the bad ones fail.
                        let by_email = prop.as_deref() == Some("email")
                            && chunk.len() > 1
                            && matches!(
                                e.kind(),
                                ErrorKind::Validation { .. } | ErrorKind::Conflict { .. }
                            );
                        for item in chunk {
                            let r = if by_email {
                                self.send_one(op, target, prop.as_deref(), item).await
                            } else {
                                Err(e.clone())
                            };
                            if let Some(slot) = results.get_mut(item.0) {
                                *slot = Some(r);
                            }
                        }
                    }
                }
            }
        }
    }

    async fn send_one(
        &self,
        op: &BatchOp<'_>,
        target: MappingTarget,
        prop: Option<&str>,
        item: &ChunkItem,
    ) -> Result<(Record<T>, bool)> {
        let mut per_item = self
            .send_chunk(op, target, prop, std::slice::from_ref(item))
            .await?;
        per_item
            .pop()
            .map(|(_, r)| r)
            .ok_or_else(|| Error::decode("HubSpot's batch answer is empty"))?
    }

    async fn send_chunk(
        &self,
        op: &BatchOp<'_>,
        target: MappingTarget,
        prop: Option<&str>,
        chunk: &[ChunkItem],
    ) -> Result<Vec<(usize, Result<(Record<T>, bool)>)>> {
        let object = target.object();
        let inputs: Vec<Value> = chunk
            .iter()
            .map(|(i, p, key)| {
                let trace = i.to_string();
                match (op.name, prop, key) {
                    ("upsert", Some(prop), Some(key)) => upsert_json(
                        &UpsertInput {
                            prepared: p.clone(),
                            id_property: prop.to_owned(),
                            key: key.clone(),
                        },
                        &trace,
                    ),
                    ("update", _, _) => json!({
                        "id": op.update_ids.get(i).cloned().unwrap_or_default(),
                        "properties": p.props, "objectWriteTraceId": trace}),
                    _ => json!({"properties": p.props, "associations": p.inline_associations(),
                                "objectWriteTraceId": trace}),
                }
            })
            .collect();
        let req = Request::new(
            Method::POST,
            self.core.paths.batch(object, op.name),
            op.operation,
        )
        .json(json!({"inputs": inputs}))
        .idempotent(op.replay_safe)
        .bucket(GENERAL);
        let resp = self
            .core
            .send(req)
            .await
            .map_err(|e| self.core.rename_fields(e, target))?;
        let batch: HsBatch = resp.json()?;
        let cid = resp.correlation_id.clone();
        let mut done: BTreeMap<String, HsObject> = BTreeMap::new();
        let mut untraced = Vec::new();
        for hs in batch.results {
            // HubSpot echoes `objectWriteTraceId`; without it an update is matched by its id,
            // and any other result by its properties (below).
            let by_id = op
                .update_ids
                .iter()
                .find(|(i, id)| **id == hs.id && chunk.iter().any(|c| c.0 == **i))
                .map(|(i, _)| i.to_string());
            match (&hs.object_write_trace_id, by_id) {
                (Some(t), _) => {
                    done.insert(t.clone(), hs);
                }
                (None, Some(i)) if op.name == "update" => {
                    done.insert(i, hs);
                }
                (None, _) => untraced.push(hs),
            }
        }
        match_by_properties(chunk, untraced, &mut done);
        let mut failed: BTreeMap<String, Error> = BTreeMap::new();
        for e in &batch.errors {
            for t in trace_ids(e) {
                let err = self
                    .core
                    .rename_fields(item_error(e, cid.as_deref()), target)
                    .with_operation(op.operation);
                failed.insert(t, err);
            }
        }
        let mut out = Vec::new();
        for (i, p, _) in chunk {
            let trace = i.to_string();
            let r = match (done.remove(&trace), failed.remove(&trace)) {
                (Some(hs), _) => self.finish_item(op, target, p, hs).await,
                (None, Some(e)) => Err(e),
                (None, None) => Err(Error::new(
                    ErrorKind::Unexpected,
                    "HubSpot's batch answer does not mention this input; it may or may not have been written",
                )
                .with_operation(op.operation)),
            };
            out.push((*i, r));
        }
        Ok(out)
    }

    /// A written input → its record. Updates and upserts carry no associations: their links
    /// are PUT after the batch (idempotent).
    async fn finish_item(
        &self,
        op: &BatchOp<'_>,
        target: MappingTarget,
        p: &Prepared,
        hs: HsObject,
    ) -> Result<(Record<T>, bool)> {
        let new = hs.new.unwrap_or(op.name == "create");
        if op.name != "create" && !p.links.is_empty() {
            self.put_links(target.object(), &hs.id, &p.links, op.operation)
                .await?;
        }
        let context = context_of(T::KIND, p);
        let record = self.to_record(target, &hs, &as_pairs(&context)).await?;
        Ok((record, new))
    }

    /// After a keyed batch create: inputs that conflicted on their own key were written by an
    /// earlier attempt; read them back by key (`batch/read` with `idProperty`).
    pub(crate) async fn recover_keyed(
        &self,
        prop: &str,
        keyed: &BTreeMap<usize, (String, Prepared)>,
        results: &mut Slots<T>,
        operation: &str,
    ) {
        let mut by_target: BTreeMap<MappingTarget, Vec<(usize, &String, &Prepared)>> =
            BTreeMap::new();
        for (i, (key, p)) in keyed {
            let conflicted = matches!(results.get(*i), Some(Some(Err(e))) if conflicts_on(e, prop));
            if conflicted {
                by_target.entry(p.target).or_default().push((*i, key, p));
            }
        }
        for (target, items) in by_target {
            let keys: Vec<String> = items.iter().map(|(_, k, _)| (*k).clone()).collect();
            let Ok(found) = read_by_property(&self.core, target, prop, &keys, operation).await
            else {
                // The conflicts stand as they were reported.
                continue;
            };
            for (i, key, p) in items {
                let Some(hs) = found
                    .iter()
                    .find(|hs| hs.properties.get(prop).and_then(Value::as_str) == Some(key))
                else {
                    continue;
                };
                let context = context_of(T::KIND, p);
                let r = self
                    .to_record(target, hs, &as_pairs(&context))
                    .await
                    .map(|rec| (rec, false));
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
    }
}

/// `POST /objects/{o}/batch/read` with `idProperty`: records by a unique property's values.
async fn read_by_property(
    core: &Core,
    target: MappingTarget,
    prop: &str,
    keys: &[String],
    operation: &str,
) -> Result<Vec<HsObject>> {
    let mut properties = core.read_props(target);
    properties.push(prop.to_owned());
    let mut out = Vec::new();
    for chunk in keys.chunks(MAX_BATCH) {
        let inputs: Vec<Value> = chunk.iter().map(|k| json!({"id": k})).collect();
        let req = Request::new(
            Method::POST,
            core.paths.batch(target.object(), "read"),
            operation,
        )
        .json(json!({"inputs": inputs, "idProperty": prop, "properties": properties}))
        .idempotent(true)
        .bucket(GENERAL);
        let batch: HsBatch = core.send(req).await?.json()?;
        out.extend(batch.results);
    }
    Ok(out)
}

/// One input's outcome: the record and whether it was created.
type ItemResult<T> = Result<(Record<T>, bool)>;

/// Keyed batch creates (issue 14): each input carries its own idempotency key, kept however the
/// caller groups the inputs (the durable outbox regroups queued writes on every round).
impl<T: Entity> HubRecords<T> {
    /// `batch/create` in chunks of 100 with each input's own key in `idempotency_property` and
    /// its links inline. A chunk sent again (a retry after a lost answer, a replayed outbox
    /// write) conflicts per input on the keys the first attempt stored; those inputs are read
    /// back by key (`batch/read` with `idProperty`) and report the first record. Without the
    /// property every input fails with a `Config` error before any request, as a keyed single
    /// create does.
    pub(crate) async fn create_batch_keyed_inner(
        &self,
        items: &[(crm_core::IdempotencyKey, T)],
        ctx: &crm_core::WriteContext,
    ) -> crm_core::BatchResult<Record<T>> {
        let operation = crate::records::op::<T>("create");
        let item_ctx = |key: &crm_core::IdempotencyKey| crm_core::WriteContext {
            actor: ctx.actor.clone(),
            idempotency_key: Some(key.clone()),
        };
        let Some(prop) = self.core.settings.idempotency.clone() else {
            let err = crate::records::key_without_property(T::KIND, &operation);
            return items
                .iter()
                .map(|(key, input)| {
                    let r: Result<Record<T>> = Err(err.clone());
                    self.core.audit(
                        "create",
                        T::KIND,
                        &item_ctx(key),
                        &input.to_fields(),
                        &r,
                        |r| r.id.clone(),
                    );
                    r
                })
                .collect();
        };
        let mut results: Vec<Option<ItemResult<T>>> = (0..items.len()).map(|_| None).collect();
        let mut batch = Vec::new();
        let mut keyed = BTreeMap::new();
        for (i, (key, input)) in items.iter().enumerate() {
            match self
                .core
                .prepare(input, crate::core::Mode::Create, None)
                .await
            {
                Ok(mut p) => {
                    p.props
                        .insert(prop.clone(), Value::String(key.as_str().to_owned()));
                    keyed.insert(i, (key.as_str().to_owned(), p.clone()));
                    batch.push((i, p, None));
                }
                Err(e) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(Err(e.with_operation(operation.clone())));
                    }
                }
            }
        }
        let none = BTreeMap::new();
        let op = BatchOp {
            name: "create",
            // Every input carries its key in a unique property: a replay writes nothing twice.
            replay_safe: true,
            update_ids: &none,
            operation: &operation,
        };
        self.run_batch(&op, batch, &mut results).await;
        self.recover_keyed(&prop, &keyed, &mut results, &operation)
            .await;
        let out: crm_core::BatchResult<Record<T>> = crate::records::finish(results, &operation)
            .into_iter()
            .map(|r| r.map(|(rec, _)| rec))
            .collect();
        for ((key, input), r) in items.iter().zip(&out) {
            self.core.audit(
                "create",
                T::KIND,
                &item_ctx(key),
                &input.to_fields(),
                r,
                |r| r.id.clone(),
            );
        }
        out
    }
}
