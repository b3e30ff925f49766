//! The CRM's JSON ↔ vendor records: where a record sits in a response, its id and timestamp
//! fields (all named by the spec), and typed JSON values ↔ field values.

use crm_core::model::fields::parse_datetime;
use crm_core::raw::http::Response;
use crm_core::raw::{VendorRecord, json};
use crm_core::reexports::serde_json::Value;
use crm_core::{Error, FieldMap, FieldValue, ObjectKind, RecordId, Result};

use crate::config::{ObjectSpec, Spec};

/// The record a write or read answered with, where the object's `record_pointer` says.
pub(crate) fn decode_record(
    spec: &Spec,
    kind: ObjectKind,
    resp: &Response,
    object: &ObjectSpec,
) -> Result<VendorRecord> {
    let body: Value = resp.json()?;
    let at = if object.record_pointer.is_empty() {
        Some(&body)
    } else {
        body.pointer(&object.record_pointer)
    };
    let record = at.ok_or_else(|| {
        Error::decode(format!(
            "the response has no record at `{}`",
            object.record_pointer
        ))
    })?;
    vendor_record(spec, kind, record).map_err(|e| e.with_operation(format!("{kind}.decode")))
}

/// One record of the CRM's JSON: the spec's id field becomes the id, its timestamp fields the
/// timestamps, the rest the vendor fields.
pub(crate) fn vendor_record(spec: &Spec, kind: ObjectKind, value: &Value) -> Result<VendorRecord> {
    let Value::Object(obj) = value else {
        return Err(Error::decode(format!(
            "expected a {kind} record (a JSON object), got {}",
            json::type_name(value)
        )));
    };
    let id_field = &spec.id_field;
    let id = match obj.get(id_field) {
        Some(Value::String(s)) => RecordId::new(s.clone()),
        Some(Value::Number(n)) => RecordId::new(n.to_string()),
        Some(other) => Err(Error::decode(format!(
            "field `{id_field}`: expected a string or number id, got {}",
            json::type_name(other)
        ))),
        None => Err(Error::decode(format!(
            "field `{id_field}`: missing from the {kind} record"
        ))),
    }
    .map_err(|e| Error::decode(format!("field `{id_field}`: {}", e.message())))?;
    let mut fields = json::to_fields(obj);
    fields.remove(id_field);
    let mut record = VendorRecord::new(id, kind.as_str(), FieldMap::new());
    record.created_at = take_time(&mut fields, spec.created_at_field.as_deref())?;
    record.updated_at = take_time(&mut fields, spec.updated_at_field.as_deref())?;
    record.fields = fields;
    Ok(record)
}

fn take_time(
    fields: &mut FieldMap,
    name: Option<&str>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    let Some(name) = name else { return Ok(None) };
    match fields.remove(name) {
        None | Some(FieldValue::Null) => Ok(None),
        Some(FieldValue::Text(s)) => parse_datetime(&s)
            .map(Some)
            .ok_or_else(|| Error::decode(format!("field `{name}`: not a timestamp"))),
        Some(FieldValue::Number(n)) => {
            Ok(n.as_i64().and_then(chrono::DateTime::from_timestamp_millis))
        }
        Some(other) => Err(Error::decode(format!(
            "field `{name}`: expected a timestamp, got {}",
            other.type_name()
        ))),
    }
}
