//! Checking a mapping against the live CRM. A company's own REST CRM publishes no schema API the
//! spec could name, so the field names come from the CRM's own records: the first record of a
//! one-record list of each object. Servers that return every field (the sandbox returns unset
//! fields as `null`) give the full set; a server that leaves empty fields out makes `--live`
//! report those as missing, so the report says where the names came from.

use crm_core::mapping::{ObjectMapping, SchemaField, SchemaProblem};
use crm_core::reexports::serde_json::Value;
use crm_core::transport::Request;
use crm_core::{Error, ObjectKind, Result};

use crate::backend::RestBackend;

impl RestBackend {
    /// The vendor field names one record of `kind` carries, read from the first record of a
    /// one-record list; `None` when the CRM has no such record yet (nothing to learn from).
    pub async fn sample_fields(&self, kind: ObjectKind) -> Result<Option<Vec<String>>> {
        let operation = format!("{kind}.sample");
        let object = self.object(kind, &operation)?;
        let paging = &self.spec.paging;
        let request = Request::get(object.path.clone(), operation.clone())
            .query(paging.limit_param.clone(), "1");
        let body: Value = self.http.send(request).await?.json()?;
        let items = if paging.items_pointer.is_empty() {
            Some(&body)
        } else {
            body.pointer(&paging.items_pointer)
        }
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::decode(format!(
                "field `{}`: the list response has no array of records there",
                paging.items_pointer
            ))
            .with_operation(operation.clone())
        })?;
        Ok(items
            .first()
            .and_then(Value::as_object)
            .map(|record| record.keys().cloned().collect()))
    }

    /// Checks `mapping` (the table of `kind` in a mapping file) against the field names of a
    /// live record (see [`RestBackend::sample_fields`]): a mapped vendor field no record carries
    /// is reported. `None` when the CRM has no record of `kind` to compare with.
    pub async fn check_mapping(
        &self,
        kind: ObjectKind,
        mapping: &ObjectMapping,
    ) -> Result<Option<Vec<SchemaProblem>>> {
        let Some(names) = self.sample_fields(kind).await? else {
            return Ok(None);
        };
        let schema: Vec<SchemaField> = names
            .into_iter()
            .map(|name| SchemaField {
                name,
                createable: true,
                updateable: true,
                options: None,
                max_length: None,
            })
            .collect();
        Ok(Some(mapping.check_schema(kind.as_str(), &schema)))
    }
}
