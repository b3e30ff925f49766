//! Writes the Salesforce way. One record: the write and the read-back of the record in one
//! Composite request (one round trip, one API call; REST API Developer Guide, "Composite").
//! Many: sObject Collections, 200 records per request with `allOrNone: false` (results per
//! item), and no read-back unless `batch_read_back` asks for one: each result is the caller's
//! input with the id Collections returns (REST API Developer Guide, "sObject Collections").
//! Idempotent creates are upserts on the connection's `idempotency_field`, a Unique External
//! ID field.

use std::collections::BTreeMap;

use crm_core::mapping::WriteMode;
use crm_core::raw::http::Request;
use crm_core::raw::{VendorRecord, VendorWrite, WriteOp, Written};
use crm_core::reexports::http::Method;
use crm_core::{Error, ErrorKind, FieldMap, ObjectKind, RecordId, Result, UpsertKey};
use serde_json::{Map, Value, json};

use crate::error::missing_external_id;
use crate::extras::id;
use crate::extras::org::SalesforceBackend;
use crate::extras::soql::{Select, quote};
use crate::lister;
use crate::wire::COLLECTIONS_MAX;
use crate::wire::{self, CollItem, SObject};

/// One record of a Collections request.
struct Item {
    slot: usize,
    s: SObject,
    body: Map<String, Value>,
    common: FieldMap,
    /// The upsert key field of a keyed create, for naming it when the org lacks it.
    key_field: Option<String>,
    creates: bool,
}

impl SalesforceBackend {
    /// The JSON body of a write to `s`: the connection's mapped fields, except for activities,
    /// whose links and kind Salesforce holds outside the mapping (and an Event is mapped with
    /// its own table).
    fn write_body(
        &self,
        w: &VendorWrite,
        s: SObject,
        mode: WriteMode,
        keep_kind: bool,
    ) -> Result<Map<String, Value>> {
        if w.kind == ObjectKind::Activity {
            wire::body(&*self.mapping(s)?, s, &w.common, mode, keep_kind)
        } else {
            Ok(wire::json_body(s, w.fields.clone(), Map::new()))
        }
    }

    /// The external-id field an upsert key names.
    fn upsert_field(&self, kind: ObjectKind, key: &UpsertKey, operation: &str) -> Result<String> {
        match key {
            UpsertKey::ExternalId(_) => self.vendor_field(SObject::for_kind(kind), "external_id"),
            UpsertKey::Idempotency(_) => self.idempotency_field.clone().ok_or_else(|| {
                Error::unsupported(
                    operation,
                    "no `idempotency_field` is configured: set it to a Unique External ID field",
                )
            }),
            UpsertKey::Email(_) => Err(Error::unsupported(
                operation,
                "Salesforce upserts only by an external-id field; Email is not one",
            )),
        }
    }

    /// One write (see the module docs).
    pub(crate) async fn write_one(&self, w: VendorWrite) -> Result<Written> {
        let kind = w.kind;
        match &w.op {
            WriteOp::Create { key } => {
                let operation = format!("{kind}.create");
                let s = SObject::for_kind(kind);
                let body = self.write_body(&w, s, WriteMode::Create, true)?;
                if let (Some(key), Some(field)) = (key, &self.idempotency_field) {
                    // The key goes in a unique external-id field through an upsert, so a retry
                    // (or a replayed conversation) finds the first record instead of creating
                    // another.
                    return self
                        .upsert_vendor(s, field, key.as_str(), body, &operation)
                        .await;
                }
                let read = format!("/sobjects/{}/@{{write.id}}", s.name());
                let path = Self::sobject_path(s, &[]);
                let (record, _) = self
                    .write_read(s, "POST", path, body, read, false, &operation)
                    .await?;
                Ok(Written {
                    record,
                    created: true,
                })
            }
            WriteOp::Update { id } => {
                let operation = format!("{kind}.update");
                let id = id::check(id)?;
                let s = SObject::of_record(kind, &id);
                let body = self.write_body(&w, s, WriteMode::Update, false)?;
                let path = Self::sobject_path(s, &[id.as_str()]);
                // Setting fields to given values is idempotent, so the call may be retried.
                let (record, _) = self
                    .write_read(s, "PATCH", path.clone(), body, path, true, &operation)
                    .await?;
                Ok(Written {
                    record,
                    created: false,
                })
            }
            WriteOp::Upsert { key } => {
                let operation = format!("{kind}.upsert");
                let field = self.upsert_field(kind, key, &operation)?;
                let s = SObject::for_kind(kind);
                let body = self.write_body(&w, s, WriteMode::Update, true)?;
                self.upsert_vendor(s, &field, key.value(), body, &operation)
                    .await
            }
        }
    }

    /// A write (`POST`, `PATCH` or ext-id `PATCH`) and the read-back of the record, in one
    /// Composite request.
    #[allow(clippy::too_many_arguments)]
    async fn write_read(
        &self,
        s: SObject,
        method: &str,
        path: String,
        body: Map<String, Value>,
        read_path: String,
        idempotent: bool,
        operation: &str,
    ) -> Result<(VendorRecord, u16)> {
        let mut write = json!({"method": method, "url": self.full_path(&path),
                               "referenceId": "write", "body": Value::Object(body)});
        if let (Some((h, v)), Some(m)) = (self.duplicate_header(), write.as_object_mut()) {
            m.insert("httpHeaders".into(), json!({h.as_str(): v}));
        }
        let fields = self.read_fields(s)?.join(",");
        let read = json!({"method": "GET",
            "url": format!("{}?fields={fields}", self.full_path(&read_path)),
            "referenceId": "read"});
        let subs = self
            .composite(vec![write, read], idempotent, operation)
            .await?;
        let (Some(w), Some(r)) = (subs.first(), subs.get(1)) else {
            return Err(
                Error::decode("the composite response has fewer results than requests")
                    .with_operation(operation.to_owned()),
            );
        };
        if w.status == 300 {
            return Err(wire::ambiguous(&w.body, operation));
        }
        if !w.ok() {
            return Err(self.name_fields(s, w.error(operation)));
        }
        if !r.ok() {
            return Err(r.error(operation));
        }
        let record = self
            .vendor_record(s, &r.body)
            .map_err(|e| e.with_operation(operation.to_owned()))?;
        Ok((record, w.status))
    }

    async fn upsert_vendor(
        &self,
        s: SObject,
        field: &str,
        value: &str,
        mut body: Map<String, Value>,
        operation: &str,
    ) -> Result<Written> {
        if value.trim().is_empty() {
            return Err(Error::invalid_input("the upsert key is empty").with_operation(operation));
        }
        // The key is a path segment of a Composite subrequest URL, which the transport never
        // sees: a `.` or `..` would make the PATCH address another resource.
        if crm_core::raw::http::is_dot_segment(value) {
            return Err(Error::invalid_input(
                "the upsert key is `.` or `..` (possibly percent-encoded), which a URL reads as a \
                 step up the path",
            )
            .with_operation(operation));
        }
        // Salesforce's upsert docs: "Do not specify Id or an external ID field in the request
        // body or an error is generated".
        body.retain(|k, _| !k.eq_ignore_ascii_case(field) && !k.eq_ignore_ascii_case("Id"));
        let path = Self::sobject_path(s, &[field, value]);
        let (record, status) = self
            .write_read(s, "PATCH", path.clone(), body, path, true, operation)
            .await
            .map_err(|e| missing_external_id(e, s.name(), field))?;
        // 201 created; 200 (v46.0+) or 204 (earlier versions) updated.
        Ok(Written {
            record,
            created: status == 201,
        })
    }

    /// One Collections item of a write: the request it goes in (method, path) and the record.
    fn collection_item(&self, slot: usize, w: VendorWrite) -> Result<(Method, String, Item)> {
        let kind = w.kind;
        let (method, path, s, mut body, key) = match &w.op {
            WriteOp::Create { key } => {
                let s = SObject::for_kind(kind);
                let body = self.write_body(&w, s, WriteMode::Create, true)?;
                match (key, &self.idempotency_field) {
                    // With a key, each item is upserted on its own key: a retried batch writes
                    // nothing twice.
                    (Some(key), Some(field)) => {
                        let path = format!("/composite/sobjects/{}/{field}", s.name());
                        let key = (field.clone(), key.as_str().to_owned());
                        (Method::PATCH, path, s, body, Some(key))
                    }
                    _ => (Method::POST, "/composite/sobjects".into(), s, body, None),
                }
            }
            WriteOp::Update { id } => {
                let id = id::check(id)?;
                let s = SObject::of_record(kind, &id);
                let mut body = self.write_body(&w, s, WriteMode::Update, false)?;
                body.insert("id".into(), json!(id.as_str()));
                (Method::PATCH, "/composite/sobjects".into(), s, body, None)
            }
            WriteOp::Upsert { key } => {
                let s = SObject::for_kind(kind);
                let field = self.upsert_field(kind, key, &format!("{kind}.upsert"))?;
                let body = self.write_body(&w, s, WriteMode::Update, true)?;
                let path = format!("/composite/sobjects/{}/{field}", s.name());
                (
                    Method::PATCH,
                    path,
                    s,
                    body,
                    Some((field, key.value().to_owned())),
                )
            }
        };
        let creates = matches!(w.op, WriteOp::Create { .. });
        if let Some((field, value)) = &key {
            body.retain(|k, _| !k.eq_ignore_ascii_case(field) && !k.eq_ignore_ascii_case("Id"));
            body.insert(field.clone(), json!(value));
        }
        let item = Item {
            slot,
            s,
            body,
            common: w.common,
            key_field: key.filter(|_| creates).map(|(f, _)| f),
            creates,
        };
        Ok((method, path, item))
    }

    /// Many writes of one kind and one operation in sObject Collections requests of up to 200
    /// records; one result per write, in input order.
    pub(crate) async fn collections(&self, writes: Vec<VendorWrite>) -> Vec<Result<Written>> {
        let mut out: Vec<Option<Result<Written>>> = writes.iter().map(|_| None).collect();
        let Some(first) = writes.first() else {
            return Vec::new();
        };
        let operation = match first.op {
            WriteOp::Create { .. } => format!("{}.create", first.kind),
            WriteOp::Update { .. } => format!("{}.update", first.kind),
            WriteOp::Upsert { .. } => format!("{}.upsert", first.kind),
        };
        // Collections takes one external-id field per request: group by request, keep input
        // order in the results.
        let mut groups: Vec<((Method, String), Vec<Item>)> = Vec::new();
        for (slot, w) in writes.into_iter().enumerate() {
            match self.collection_item(slot, w) {
                Ok((method, path, item)) => {
                    match groups
                        .iter_mut()
                        .find(|(k, _)| k.0 == method && k.1 == path)
                    {
                        Some((_, items)) => items.push(item),
                        None => groups.push(((method, path), vec![item])),
                    }
                }
                Err(e) => {
                    if let Some(o) = out.get_mut(slot) {
                        *o = Some(Err(e.with_operation(operation.clone())));
                    }
                }
            }
        }
        for ((method, path), items) in groups {
            for chunk in items.chunks(COLLECTIONS_MAX) {
                for (slot, r) in self
                    .collections_call(&method, &path, chunk, &operation)
                    .await
                {
                    if let Some(o) = out.get_mut(slot) {
                        *o = Some(r);
                    }
                }
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "no result"))))
            .collect()
    }

    async fn collections_call(
        &self,
        method: &Method,
        path: &str,
        chunk: &[Item],
        operation: &str,
    ) -> Vec<(usize, Result<Written>)> {
        let records: Vec<Value> = chunk
            .iter()
            .map(|it| {
                let mut r = it.body.clone();
                r.insert("attributes".into(), json!({"type": it.s.name()}));
                Value::Object(r)
            })
            .collect();
        let mut req = Request::new(method.clone(), path.to_owned(), operation)
            .json(json!({"allOrNone": false, "records": records}))
            .idempotent(*method != Method::POST);
        if let Some((h, v)) = self.duplicate_header() {
            req = req.header(h, v);
        }
        let results = match self.send(req).await {
            Ok(resp) => resp.json::<Vec<CollItem>>(),
            Err(e) => Err(e),
        };
        let results = match results {
            Ok(r) if r.len() == chunk.len() => r,
            // A failed or unreadable call: nothing says which records were written.
            other => {
                let e = match other {
                    Ok(r) => Error::decode(format!(
                        "Salesforce returned {} results for {} records; which were written is unknown",
                        r.len(),
                        chunk.len()
                    ))
                    .with_operation(operation.to_owned()),
                    Err(e) => e,
                };
                return chunk.iter().map(|it| (it.slot, Err(e.clone()))).collect();
            }
        };
        let mut read = self.read_back_records(chunk, &results, operation).await;
        chunk
            .iter()
            .zip(results)
            .map(|(it, r)| {
                let result = match r.outcome() {
                    Ok(id) => Ok(Written {
                        record: read.remove(id.as_str()).unwrap_or_else(|| VendorRecord {
                            // The caller's own data with its new id (or the read-back failed).
                            resolved: it.common.clone().into(),
                            ..VendorRecord::new(id, it.s.table(), FieldMap::new())
                        }),
                        created: r.created.unwrap_or(it.creates),
                    }),
                    Err(e) => {
                        let e = self.name_fields(it.s, e);
                        Err(match &it.key_field {
                            Some(field) => missing_external_id(e, it.s.name(), field),
                            None => e,
                        })
                    }
                };
                (
                    it.slot,
                    result.map_err(|e| e.with_operation(operation.to_owned())),
                )
            })
            .collect()
    }

    /// Only when asked (`batch_read_back`): the written records, one query per sObject.
    async fn read_back_records(
        &self,
        chunk: &[Item],
        results: &[CollItem],
        operation: &str,
    ) -> BTreeMap<String, VendorRecord> {
        let mut by_id = BTreeMap::new();
        if !self.read_back {
            return by_id;
        }
        let mut ids_by_object: BTreeMap<SObject, Vec<RecordId>> = BTreeMap::new();
        for (it, r) in chunk.iter().zip(results) {
            if let Ok(id) = r.outcome() {
                ids_by_object.entry(it.s).or_default().push(id);
            }
        }
        for (s, ids) in ids_by_object {
            let Ok(fields) = self.read_fields(s) else {
                continue;
            };
            let list: Vec<String> = ids.iter().map(|i| quote(i.as_str())).collect();
            let select = Select::new(s.name(), &fields).and(format!("Id IN ({})", list.join(", ")));
            let found = match lister::query(self, &select.text(), None, operation).await {
                Ok(page) => self.vendor_records(s, &page.records, operation),
                Err(e) => Err(e),
            };
            if let Ok(found) = found {
                by_id.extend(found.into_iter().map(|r| (r.id.to_string(), r)));
            }
        }
        by_id
    }
}
