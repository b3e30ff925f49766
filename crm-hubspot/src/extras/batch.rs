//! Batch writes: every input tagged with an `objectWriteTraceId` so that HubSpot reports per
//! item and one bad input fails alone (HubSpot's batch and error-handling guides: the 207
//! per-item answer needs a distinct trace id on every input). HubSpot does not promise that
//! results come in input order; it echoes each input's trace id, and results are matched by it
//! (updates also by id), never by position. The connection hands over at most 100 writes of
//! one kind and one operation; they are sent per (object, `idProperty`).

use std::collections::BTreeMap;

use crm_core::raw::{VendorWrite, WriteOp, Written};
use crm_core::reexports::serde_json::{Map, Value, json};
use crm_core::{Error, ErrorKind, Result};

use crate::backend::{HubSpotBackend, MAX_BATCH, conflicts_on, post};
use crate::error::{context_strings, item_error};
use crate::extras::objects::MappingTarget;
use crate::wire::{HsBatch, HsObject, Prepared, Props, locate};

/// One input of a batch: its index among the writes, the prepared write, the HubSpot id of an
/// update, the `idProperty` and key of an upsert, the idempotency key of a keyed create.
#[derive(Debug, Clone)]
struct Item {
    i: usize,
    p: Prepared,
    id: Option<String>,
    upsert: Option<(String, String)>,
    key: Option<String>,
}

impl Item {
    fn trace(&self) -> String {
        self.i.to_string()
    }
}

/// Whether a written record's properties agree with what was sent for it: every property
/// present in both holds the same text (ignoring case and surrounding space, as HubSpot
/// normalises some values).
fn agrees(sent: &Map<String, Value>, written: &Props) -> bool {
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
    chunk: &[Item],
    untraced: Vec<HsObject>,
    done: &mut BTreeMap<String, HsObject>,
) {
    for hs in untraced {
        let open: Vec<&Item> = chunk
            .iter()
            .filter(|it| !done.contains_key(&it.trace()) && agrees(&it.p.props, &hs.properties))
            .collect();
        let Some(first) = open.first() else { continue };
        if open.iter().all(|it| it.p.props == first.p.props) {
            done.insert(first.trace(), hs);
        }
    }
}

impl HubSpotBackend {
    /// The writes through HubSpot's batch endpoints; one result per write, in order.
    pub(crate) async fn batch(&self, writes: Vec<VendorWrite>) -> Vec<Result<Written>> {
        let mut results: Vec<Option<Result<Written>>> = writes.iter().map(|_| None).collect();
        let name = match writes.first().map(|w| &w.op) {
            Some(WriteOp::Update { .. }) => "update",
            Some(WriteOp::Upsert { .. }) => "upsert",
            _ => "create",
        };
        let keyed = self.config.idempotency_property.clone();
        let mut items = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            match self.item(i, w, keyed.as_deref()).await {
                Ok(item) => items.push(item),
                Err(e) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(Err(e));
                    }
                }
            }
        }
        let operation = format!(
            "{}.{name}",
            writes.first().map_or("record", |w| w.kind.as_str())
        );
        self.run(name, &items, &mut results, &operation).await;
        if let Some(prop) = &keyed {
            self.recover_keyed(prop, &items, &mut results, &operation)
                .await;
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::new(ErrorKind::Unexpected, "this input was not sent"))
                })
            })
            .collect()
    }

    async fn item(&self, i: usize, w: &VendorWrite, keyed: Option<&str>) -> Result<Item> {
        let (id, upsert, key) = match &w.op {
            WriteOp::Update { id } => (Some(locate(w.kind, id)?.1), None, None),
            WriteOp::Upsert { key } => {
                let upsert = (self.id_property(key), key.value().to_owned());
                (None, Some(upsert), None)
            }
            WriteOp::Create { key } => (None, None, key.as_ref().map(|k| k.as_str().to_owned())),
        };
        let mut p = self.prepare(w, id.as_deref()).await?;
        if let (Some(prop), Some(key)) = (keyed, &key) {
            p.props.insert(prop.to_owned(), Value::String(key.clone()));
        }
        Ok(Item {
            i,
            p,
            id,
            upsert,
            key,
        })
    }

    /// Sends `items` per (object, `idProperty`) and fills `results`.
    async fn run(
        &self,
        name: &'static str,
        items: &[Item],
        results: &mut [Option<Result<Written>>],
        operation: &str,
    ) {
        let mut groups: BTreeMap<(MappingTarget, Option<String>), Vec<Item>> = BTreeMap::new();
        for item in items {
            let prop = item.upsert.as_ref().map(|(prop, _)| prop.clone());
            groups
                .entry((item.p.target, prop))
                .or_default()
                .push(item.clone());
        }
        for ((target, prop), group) in groups {
            for chunk in group.chunks(MAX_BATCH) {
                let per_item = match self.send_chunk(name, target, chunk, operation).await {
                    Ok(per_item) => per_item,
                    Err(e) => {
                        // HubSpot does not do partial upserts by email (its contacts guide): send
                        // such a chunk's inputs one by one so only the bad ones fail.
                        let by_email = prop.as_deref() == Some("email")
                            && chunk.len() > 1
                            && matches!(
                                e.kind(),
                                ErrorKind::Validation { .. } | ErrorKind::Conflict { .. }
                            );
                        let mut out = Vec::new();
                        for item in chunk {
                            let one = std::slice::from_ref(item);
                            let sent = match by_email {
                                true => self.send_chunk(name, target, one, operation).await,
                                false => Err(e.clone()),
                            };
                            out.extend(sent.unwrap_or_else(|e| vec![(item.i, Err(e))]));
                        }
                        out
                    }
                };
                for (i, r) in per_item {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(r);
                    }
                }
            }
        }
    }

    async fn send_chunk(
        &self,
        name: &'static str,
        target: MappingTarget,
        chunk: &[Item],
        operation: &str,
    ) -> Result<Vec<(usize, Result<Written>)>> {
        let inputs: Vec<Value> = chunk
            .iter()
            .map(|it| {
                let trace = it.trace();
                match (&it.upsert, &it.id) {
                    (Some((prop, key)), _) => {
                        let mut props = it.p.props.clone();
                        props.remove(prop);
                        json!({"id": key, "idProperty": prop, "properties": props,
                               "objectWriteTraceId": trace})
                    }
                    (None, Some(id)) => {
                        json!({"id": id, "properties": it.p.props, "objectWriteTraceId": trace})
                    }
                    (None, None) => json!({"properties": it.p.props,
                                           "associations": it.p.inline_associations(),
                                           "objectWriteTraceId": trace}),
                }
            })
            .collect();
        // Sending a chunk twice is harmless for updates, upserts and creates that all carry their
        // key in a unique property (a replay writes nothing twice), so the transport may retry it.
        let keyed = chunk.iter().all(|it| it.key.is_some());
        let replay_safe = name != "create" || keyed && self.config.idempotency_property.is_some();
        let path = self.paths.batch(target.object(), name);
        let req = post(path, operation, json!({"inputs": inputs})).idempotent(replay_safe);
        let sent = self.http.send(req).await;
        let resp = sent.map_err(|e| self.rename(e, target))?;
        let batch: HsBatch = resp.json()?;
        let cid = resp.correlation_id.clone();
        let mut done: BTreeMap<String, HsObject> = BTreeMap::new();
        let mut untraced = Vec::new();
        for hs in batch.results {
            // HubSpot echoes `objectWriteTraceId`; without it an update is matched by its id,
            // and any other result by its properties (below).
            let by_id = chunk
                .iter()
                .find(|it| it.id.as_deref() == Some(hs.id.as_str()));
            match (&hs.object_write_trace_id, by_id) {
                (Some(t), _) => {
                    done.insert(t.clone(), hs);
                }
                (None, Some(it)) => {
                    done.insert(it.trace(), hs);
                }
                (None, None) => untraced.push(hs),
            }
        }
        match_by_properties(chunk, untraced, &mut done);
        let mut failed: BTreeMap<String, Error> = BTreeMap::new();
        for e in &batch.errors {
            for t in context_strings(e, "objectWriteTraceId") {
                failed.insert(t, self.rename(item_error(e, cid.as_deref()), target));
            }
        }
        let mut out = Vec::new();
        for it in chunk {
            let trace = it.trace();
            let r = match (done.remove(&trace), failed.remove(&trace)) {
                (Some(hs), _) => self.finish_item(name, it, hs, operation).await,
                (None, Some(e)) => Err(e),
                (None, None) => Err(Error::new(
                    ErrorKind::Unexpected,
                    "HubSpot's batch answer does not mention this input; it may or may not have been written",
                )),
            };
            out.push((it.i, r));
        }
        Ok(out)
    }

    /// A written input → its record. Updates and upserts carry no associations: their links
    /// are PUT after the batch (idempotent).
    async fn finish_item(
        &self,
        name: &'static str,
        it: &Item,
        hs: HsObject,
        operation: &str,
    ) -> Result<Written> {
        let created = hs.new.unwrap_or(name == "create");
        if name != "create" && !it.p.links.is_empty() {
            self.put_links(it.p.target.object(), &hs.id, &it.p.links, operation)
                .await?;
        }
        let record = self.record(it.p.target, hs, &it.p.context()).await?;
        Ok(Written { record, created })
    }

    /// After a keyed batch create: inputs that conflicted on their own key were written by an
    /// earlier attempt (a retry after a lost answer, a replayed outbox write); read them back
    /// by key (`batch/read` with `idProperty`): they report the first record.
    async fn recover_keyed(
        &self,
        prop: &str,
        items: &[Item],
        results: &mut [Option<Result<Written>>],
        operation: &str,
    ) {
        let mut by_target: BTreeMap<MappingTarget, Vec<(&Item, &String)>> = BTreeMap::new();
        for it in items {
            let conflicted =
                matches!(results.get(it.i), Some(Some(Err(e))) if conflicts_on(e, prop));
            if let (true, Some(key)) = (conflicted, &it.key) {
                by_target.entry(it.p.target).or_default().push((it, key));
            }
        }
        for (target, items) in by_target {
            let keys: Vec<&String> = items.iter().map(|(_, k)| *k).collect();
            let Ok(found) = self.batch_read(target, &keys, Some(prop), operation).await else {
                // The conflicts stand as they were reported.
                continue;
            };
            for (it, key) in items {
                let Some(hs) = found
                    .iter()
                    .find(|hs| hs.properties.get(prop).and_then(Value::as_str) == Some(key))
                else {
                    continue;
                };
                let r = self.record(target, hs.clone(), &it.p.context()).await;
                if let Some(slot) = results.get_mut(it.i) {
                    *slot = Some(r.map(|record| Written {
                        record,
                        created: false,
                    }));
                }
            }
        }
    }
}
