//! The portal's own schema, from the properties API (`GET /crm/v3/properties/{object}`), for
//! checking a mapping against it.

use crm_core::mapping::{ObjectMapping, SchemaField, SchemaProblem};
use crm_core::reexports::serde_json::Value;
use crm_core::transport::Request;
use crm_core::{Error, Result};

use crate::backend::HubSpot;
use crate::mapping::MappingTarget;

/// The properties of a properties-API body: name, writability (`modificationMetadata.
/// readOnlyValue`, `calculated`), and enumeration options.
pub fn from_properties(body: &Value) -> Result<Vec<SchemaField>> {
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::decode("field `results`: the properties body has no results array")
        })?;
    results
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::decode(format!("field `results[{i}].name`: missing")))?;
            let read_only = p
                .pointer("/modificationMetadata/readOnlyValue")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                || p.get("calculated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            let options = (p.get("type").and_then(Value::as_str) == Some("enumeration"))
                .then(|| {
                    p.get("options").and_then(Value::as_array).map(|o| {
                        o.iter()
                            .filter_map(|v| {
                                v.get("value").and_then(Value::as_str).map(str::to_owned)
                            })
                            .collect()
                    })
                })
                .flatten();
            Ok(SchemaField {
                name: name.to_owned(),
                createable: !read_only,
                updateable: !read_only,
                options,
                max_length: None,
            })
        })
        .collect()
}

impl HubSpot {
    /// The properties of the object behind `target` as the portal defines them.
    pub async fn schema(&self, target: MappingTarget) -> Result<Vec<SchemaField>> {
        let path = self.core.paths.properties(target.object());
        let resp = self
            .core
            .send(
                Request::get(path, format!("{}.properties", target.as_str()))
                    .bucket(crate::limits::GENERAL),
            )
            .await?;
        from_properties(&resp.json()?)
    }

    /// Checks `mapping` (a table of the mapping file) against the live portal.
    pub async fn check_mapping(
        &self,
        target: MappingTarget,
        mapping: &ObjectMapping,
    ) -> Result<Vec<SchemaProblem>> {
        let schema = self.schema(target).await?;
        Ok(mapping.check_schema(target.as_str(), &schema))
    }
}
