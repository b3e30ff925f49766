//! Request building, JSON ↔ field conversion and `parse_error` for a spec-described REST CRM.

use std::collections::BTreeMap;
use std::sync::Arc;

use crm_core::audit::{self, AuditRecord, AuditSink};
use crm_core::mapping::{MappingFile, ObjectMapping, WriteMode};
use crm_core::model::fields::parse_datetime;
use crm_core::raw::http::{
    ErrorParser, ErrorResponse, HttpClient, Request, Response, decode_json, encode_segment,
};
use crm_core::reexports::http::{HeaderName, Method};
use crm_core::reexports::serde_json::{Map, Value};
use crm_core::{
    Entity, Error, ErrorKind, FieldError, FieldMap, FieldValue, LimitScope, ObjectKind, Record,
    RecordId, Region, Result, WriteContext,
};

use crate::config::{KindName, ObjectSpec, Spec};

/// The object tables a mapping file may hold for this adapter.
pub const MAPPING_TARGETS: &[(&str, ObjectKind)] = &[
    ("contact", ObjectKind::Contact),
    ("account", ObjectKind::Account),
    ("lead", ObjectKind::Lead),
    ("opportunity", ObjectKind::Opportunity),
    ("ticket", ObjectKind::Ticket),
    ("activity", ObjectKind::Activity),
];

/// The mappings in use: the spec's, with a mapping file laid over them.
#[derive(Debug)]
pub(crate) struct Mappings {
    by_kind: BTreeMap<ObjectKind, Arc<ObjectMapping>>,
    label: Option<String>,
}

impl Mappings {
    fn build(spec: &Spec, file: Option<&MappingFile>) -> Result<Self> {
        let mut by_kind = BTreeMap::new();
        for kind in ObjectKind::ALL {
            let Some(object) = spec.object(kind) else {
                continue;
            };
            let base = object.mapping();
            let merged = match file {
                Some(f) => {
                    let m = f.overlay(kind.as_str(), &base);
                    m.validate(kind, &format!("{} over the spec: [{kind}]", f.origin))?;
                    m
                }
                None => base,
            };
            by_kind.insert(kind, Arc::new(merged));
        }
        if let Some(f) = file
            && let Some(extra) = f
                .objects
                .keys()
                .find(|k| !by_kind.keys().any(|kind| kind.as_str() == k.as_str()))
        {
            return Err(Error::config(format!(
                "{}: [{extra}]: the spec `{}` declares no such object",
                f.origin, spec.name
            )));
        }
        Ok(Self {
            by_kind,
            label: file.map(MappingFile::label),
        })
    }
}

/// Everything one connection shares: the HTTP client, the spec, the mappings.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) http: HttpClient,
    pub(crate) spec: Spec,
    pub(crate) region: Region,
    /// Swapped whole when a new mapping file is loaded, so in-flight work keeps the mapping it
    /// started with and new work sees the new one.
    mappings: std::sync::RwLock<Arc<Mappings>>,
    connection: String,
    audit: Arc<dyn AuditSink>,
}

impl Core {
    pub(crate) fn new(
        http: HttpClient,
        spec: Spec,
        connection: String,
        audit: Arc<dyn AuditSink>,
        file: Option<&MappingFile>,
    ) -> Result<Arc<Self>> {
        let region = spec.region()?;
        let mappings = Mappings::build(&spec, file)?;
        Ok(Arc::new(Self {
            http,
            spec,
            region,
            mappings: std::sync::RwLock::new(Arc::new(mappings)),
            connection,
            audit,
        }))
    }

    fn mappings(&self) -> Arc<Mappings> {
        self.mappings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the mapping for new work: the spec's, overlaid with `file`.
    pub(crate) fn swap_mapping(&self, file: Option<&MappingFile>) -> Result<()> {
        let next = Arc::new(Mappings::build(&self.spec, file)?);
        *self
            .mappings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        Ok(())
    }

    /// `version@hash` of the mapping file in use, if one is.
    pub(crate) fn mapping_label(&self) -> Option<String> {
        self.mappings().label.clone()
    }

    /// Records one write in the audit trail: field names from `common`, never values.
    pub(crate) fn audit<T>(
        &self,
        operation: &str,
        kind: ObjectKind,
        ctx: &WriteContext,
        common: &FieldMap,
        result: &Result<T>,
        id: impl FnOnce(&T) -> RecordId,
    ) {
        let mut record = AuditRecord::for_write(
            &self.connection,
            crate::VENDOR,
            operation,
            kind,
            ctx,
            common,
        )
        .finish(result, id);
        record.mapping_version = self.mapping_label();
        audit::emit(self.audit.as_ref(), &record);
    }

    pub(crate) fn object(&self, kind: ObjectKind, operation: &str) -> Result<&ObjectSpec> {
        self.spec.object(kind).ok_or_else(|| {
            Error::unsupported(
                operation,
                format!("the spec `{}` declares no {kind} object", self.spec.name),
            )
        })
    }

    pub(crate) fn mapping(&self, kind: ObjectKind) -> Result<Arc<ObjectMapping>> {
        self.mappings()
            .by_kind
            .get(&kind)
            .cloned()
            .ok_or_else(|| Error::unsupported(kind.as_str(), "no such object in the spec"))
    }

    /// The path of one record.
    pub(crate) fn record_path(&self, object: &ObjectSpec, id: &RecordId) -> String {
        format!(
            "{}/{}",
            object.path.trim_end_matches('/'),
            encode_segment(id.as_str())
        )
    }

    /// Common fields of an entity → the vendor's JSON body.
    pub(crate) fn body_for<T: Entity>(
        &self,
        entity: &T,
        mode: WriteMode,
    ) -> Result<Map<String, Value>> {
        self.body_from_common(T::KIND, &entity.to_fields(), mode)
    }

    pub(crate) fn body_from_common(
        &self,
        kind: ObjectKind,
        common: &FieldMap,
        mode: WriteMode,
    ) -> Result<Map<String, Value>> {
        let vendor = self.mapping(kind)?.to_vendor_as(kind, common, mode)?;
        Ok(vendor.into_iter().map(|(k, v)| (k, v.to_json())).collect())
    }

    /// `err` with the vendor's field names of a validation error turned into common ones.
    pub(crate) fn name_fields(&self, kind: ObjectKind, err: Error) -> Error {
        match self.mapping(kind) {
            Ok(mapping) => mapping.name_error_fields(err),
            Err(_) => err,
        }
    }

    /// The vendor name of a common field of `kind`.
    pub(crate) fn vendor_field(&self, kind: ObjectKind, common: &str) -> Result<String> {
        self.mapping(kind)?
            .vendor_name(common)
            .map(str::to_owned)
            .ok_or_else(|| Error::mapping(format!("{kind}.{common}: no vendor field")))
    }

    /// Decodes one record from a response.
    pub(crate) fn decode_record<T: Entity>(
        &self,
        resp: &Response,
        object: &ObjectSpec,
    ) -> Result<Record<T>> {
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
        self.record_from_json::<T>(record)
            .map_err(|e| e.with_operation(format!("{}.decode", T::KIND)))
    }

    /// One vendor JSON record → `Record<T>`.
    pub(crate) fn record_from_json<T: Entity>(&self, value: &Value) -> Result<Record<T>> {
        let Value::Object(obj) = value else {
            return Err(Error::decode(format!(
                "expected a {} record (a JSON object), got {}",
                T::KIND,
                json_type(value)
            )));
        };
        let id_field = &self.spec.id_field;
        let id = match obj.get(id_field) {
            Some(Value::String(s)) => RecordId::new(s.clone()),
            Some(Value::Number(n)) => RecordId::new(n.to_string()),
            Some(other) => Err(Error::decode(format!(
                "field `{id_field}`: expected a string or number id, got {}",
                json_type(other)
            ))),
            None => Err(Error::decode(format!(
                "field `{id_field}`: missing from the {} record",
                T::KIND
            ))),
        }
        .map_err(|e| Error::decode(format!("field `{id_field}`: {}", e.message())))?;
        let mut fields = json_to_fields(obj);
        fields.remove(id_field);
        let created_at = take_time(&mut fields, self.spec.created_at_field.as_deref())?;
        let updated_at = take_time(&mut fields, self.spec.updated_at_field.as_deref())?;
        let common = self.mapping(T::KIND)?.from_vendor(T::KIND, fields);
        let data = T::from_fields(common, self.region)?;
        Ok(Record {
            id,
            created_at,
            updated_at,
            data,
        })
    }

    /// Builds a write request for `method`.
    pub(crate) fn write_request(
        &self,
        method: &str,
        path: String,
        operation: String,
        body: Map<String, Value>,
    ) -> Result<Request> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| Error::config(format!("`{method}` is not an HTTP method")))?;
        Ok(Request::new(method, path, operation).json(Value::Object(body)))
    }

    /// The idempotency header, if the spec declares one.
    pub(crate) fn idempotency_header(&self) -> Result<Option<HeaderName>> {
        self.spec
            .idempotency
            .header
            .as_deref()
            .map(|h| {
                HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                    Error::config(format!("idempotency.header: `{h}` is not a header name"))
                })
            })
            .transpose()
    }
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

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Vendor JSON → typed values (the spec's CRMs speak typed JSON).
pub(crate) fn json_to_fields(obj: &Map<String, Value>) -> FieldMap {
    obj.iter()
        .map(|(k, v)| (k.clone(), FieldValue::from_json(v)))
        .collect()
}

/// Parses error bodies where the spec's pointers say, falling back to the status.
#[derive(Debug, Clone)]
pub(crate) struct SpecErrorParser {
    pub(crate) errors: crate::config::ErrorSpec,
}

impl ErrorParser for SpecErrorParser {
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error {
        let mut vendor = response.vendor();
        let body: Option<Value> = decode_json(
            response.body,
            response.headers,
            response.status,
            response.correlation_id,
        )
        .ok();
        let text_at = |ptr: &Option<String>| -> Option<String> {
            let v = body.as_ref()?.pointer(ptr.as_deref()?)?;
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        vendor.code = text_at(&self.errors.code_pointer);
        vendor.set_message(text_at(&self.errors.message_pointer));
        let fields = self.fields(body.as_ref());
        let existing_id =
            text_at(&self.errors.existing_id_pointer).and_then(|s| RecordId::new(s).ok());

        let by_code = vendor
            .code
            .as_ref()
            .and_then(|c| self.errors.codes.get(c))
            .copied();
        let mut kind = match by_code {
            Some(name) => kind_for(name, response),
            None => response.default_kind(),
        };
        match &mut kind {
            ErrorKind::Validation { fields: f } => *f = fields,
            ErrorKind::Conflict { existing_id: e, .. } => *e = existing_id,
            _ => {}
        }
        // The vendor's message stays in `vendor.message`; it may repeat submitted values, so the
        // error's own message only names the status and code.
        let what = match &vendor.code {
            Some(code) => format!(
                "the server refused the request with HTTP {} ({code})",
                response.status.as_u16()
            ),
            None => format!(
                "the server refused the request with HTTP {}",
                response.status.as_u16()
            ),
        };
        Error::new(kind, what).with_vendor(vendor)
    }
}

impl SpecErrorParser {
    fn fields(&self, body: Option<&Value>) -> Vec<FieldError> {
        let Some(list) = body
            .zip(self.errors.fields_pointer.as_deref())
            .and_then(|(b, p)| b.pointer(p))
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        let name_key = self.errors.field_name_key.as_deref().unwrap_or("field");
        let code_key = self.errors.field_code_key.as_deref().unwrap_or("code");
        list.iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(FieldError::new(s.clone(), None)),
                Value::Object(o) => o.get(name_key).and_then(Value::as_str).map(|name| {
                    FieldError::new(
                        name,
                        o.get(code_key).and_then(Value::as_str).map(str::to_owned),
                    )
                }),
                _ => None,
            })
            .collect()
    }
}

fn kind_for(name: KindName, response: &ErrorResponse<'_>) -> ErrorKind {
    match name {
        KindName::NotFound => ErrorKind::NotFound,
        KindName::Conflict => ErrorKind::Conflict {
            existing_id: None,
            candidates: Vec::new(),
        },
        KindName::Validation => ErrorKind::Validation { fields: Vec::new() },
        KindName::Unauthorized => ErrorKind::Unauthorized,
        KindName::Forbidden => ErrorKind::Forbidden {
            missing_scopes: Vec::new(),
        },
        KindName::RateLimited => ErrorKind::RateLimited {
            retry_after: response.retry_after(),
            scope: LimitScope::Burst,
        },
        KindName::Unavailable => ErrorKind::Unavailable,
        KindName::Timeout => ErrorKind::Timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::http::{HeaderMap, HeaderValue, StatusCode};

    fn parser() -> SpecErrorParser {
        SpecErrorParser {
            errors: crate::config::Spec::default_spec().unwrap().errors,
        }
    }

    fn parse(status: u16, body: &str, headers: HeaderMap) -> Error {
        parser().parse_error(&ErrorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &headers,
            body: body.as_bytes(),
            correlation_id: Some("req-1"),
        })
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        let e = parse(
            422,
            r#"{"error":{"code":"required","message":"missing","fields":[{"field":"last_name","code":"required"}]}}"#,
            HeaderMap::new(),
        );
        assert_eq!(
            e.kind(),
            &ErrorKind::Validation {
                fields: vec![FieldError::new("last_name", Some("required".into()))]
            }
        );
        assert_eq!(e.correlation_id(), Some("req-1"));
        assert_eq!(e.vendor().unwrap().code.as_deref(), Some("required"));

        let e = parse(
            409,
            r#"{"error":{"code":"duplicate","message":"exists","existing_id":"c-1001"}}"#,
            HeaderMap::new(),
        );
        assert_eq!(
            e.kind(),
            &ErrorKind::Conflict {
                existing_id: Some(RecordId::new("c-1001").unwrap()),
                candidates: vec![]
            }
        );

        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = parse(429, r#"{"error":{"code":"rate_limited"}}"#, h);
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(7)));
        assert!(e.is_retryable());

        let e = parse(
            502,
            "<html><body>Bad gateway</body></html>",
            HeaderMap::new(),
        );
        assert_eq!(e.kind(), &ErrorKind::Unavailable);
        assert!(
            e.vendor()
                .unwrap()
                .redacted_body()
                .unwrap()
                .contains("Bad gateway")
        );

        let e = parse(404, "", HeaderMap::new());
        assert_eq!(e.kind(), &ErrorKind::NotFound);
    }

    #[test]
    fn error_message_never_repeats_the_vendor_message() {
        let e = parse(
            422,
            r#"{"error":{"code":"invalid_format","message":"jane@@x is not an email"}}"#,
            HeaderMap::new(),
        );
        assert!(!e.to_string().contains("jane"), "{e}");
        // Kept, but read back only redacted.
        assert_eq!(
            e.vendor().unwrap().redacted_message().as_deref(),
            Some("[email] is not an email")
        );
        assert!(!format!("{e:?}").contains("jane"), "{e:?}");
    }
}
