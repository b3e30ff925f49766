//! The org's own schema, from `GET /sobjects/{S}/describe`, for checking a mapping against it.

use crm_core::mapping::{ObjectMapping, SchemaField, SchemaProblem};
use crm_core::reexports::serde_json::Value;
use crm_core::transport::Request;
use crm_core::{Error, Result};

use crate::backend::Salesforce;
use crate::core::Core;

/// The fields of a `describe` body: name, createable / updateable, active picklist values,
/// length of text fields.
pub fn from_describe(body: &Value) -> Result<Vec<SchemaField>> {
    let fields = body
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::decode("field `fields`: the describe body has no fields array"))?;
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::decode(format!("field `fields[{i}].name`: missing")))?;
            let flag = |k: &str| f.get(k).and_then(Value::as_bool).unwrap_or(false);
            let options = f
                .get("picklistValues")
                .and_then(Value::as_array)
                .filter(|v| !v.is_empty())
                .map(|values| {
                    values
                        .iter()
                        .filter(|v| v.get("active").and_then(Value::as_bool).unwrap_or(true))
                        .filter_map(|v| v.get("value").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                });
            let text_types = ["string", "textarea", "email", "phone", "url", "picklist"];
            let max_length = f
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| text_types.contains(t))
                .and_then(|_| f.get("length").and_then(Value::as_u64))
                .filter(|l| *l > 0)
                .and_then(|l| usize::try_from(l).ok());
            Ok(SchemaField {
                name: name.to_owned(),
                createable: flag("createable"),
                updateable: flag("updateable"),
                options,
                max_length,
            })
        })
        .collect()
}

impl Salesforce {
    /// The fields of `sobject` (`Contact`, `Case`...) as the org describes them.
    pub async fn schema(&self, sobject: &str) -> Result<Vec<SchemaField>> {
        let path = format!(
            "/sobjects/{}/describe",
            crm_core::transport::encode_segment(sobject)
        );
        let resp = self
            .core
            .send(Request::get(path, format!("{sobject}.describe")).addresses_record())
            .await?;
        from_describe(&resp.json()?)
    }

    /// Checks `mapping` (a table of the mapping file: `contact`, `ticket`, `task`, `event`...)
    /// against the live org.
    pub async fn check_mapping(
        &self,
        table: &str,
        mapping: &ObjectMapping,
    ) -> Result<Vec<SchemaProblem>> {
        let sobject = Core::sobject_for_table(table)
            .ok_or_else(|| Error::config(format!("`{table}` is not a Salesforce mapping table")))?;
        let schema = self.schema(sobject).await?;
        Ok(mapping.check_schema(table, &schema))
    }
}
