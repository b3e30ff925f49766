//! The org's own schema, from `GET /sobjects/{S}/describe`, for checking a mapping against it
//! and the upsert-key fields the connection uses ([`SalesforceBackend::check_setup`]).

use crm_core::mapping::{ObjectMapping, SchemaField, SchemaProblem};
use crm_core::raw::SetupCheck;
use crm_core::raw::http::Request;
use crm_core::raw::schema;
use crm_core::reexports::serde_json::Value;
use crm_core::{Error, ObjectKind, Result};

use crate::extras::org::SalesforceBackend;
use crate::wire::SObject;

/// The fields of a `describe` body: name, createable / updateable, active picklist values,
/// length of text fields.
pub fn from_describe(body: &Value) -> Result<Vec<SchemaField>> {
    schema::definitions(body, "fields", "describe", |f, name| {
        let active = |v: &Value| v.get("active").and_then(Value::as_bool).unwrap_or(true);
        // An empty picklist is no picklist.
        let listed = f
            .get("picklistValues")
            .and_then(Value::as_array)
            .is_some_and(|v| !v.is_empty());
        let options = schema::option_values(f, "picklistValues", active).filter(|_| listed);
        let text_types = ["string", "textarea", "email", "phone", "url", "picklist"];
        let max_length = f
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| text_types.contains(t))
            .and_then(|_| f.get("length").and_then(Value::as_u64))
            .filter(|l| *l > 0)
            .and_then(|l| usize::try_from(l).ok());
        SchemaField {
            name: name.to_owned(),
            createable: schema::flag(f, "createable"),
            updateable: schema::flag(f, "updateable"),
            options,
            max_length,
        }
    })
}

impl SalesforceBackend {
    /// The fields of `sobject` (`Contact`, `Case`...) as the org describes them.
    pub async fn schema(&self, sobject: &str) -> Result<Vec<SchemaField>> {
        let path = format!(
            "/sobjects/{}/describe",
            crm_core::raw::http::encode_segment(sobject)
        );
        let resp = self
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
        let sobject = SObject::for_target(table)
            .map(SObject::name)
            .ok_or_else(|| Error::config(format!("`{table}` is not a Salesforce mapping table")))?;
        let schema = self.schema(sobject).await?;
        Ok(mapping.check_schema(table, &schema))
    }
}

/// The admin step that creates `field` on `sobject` as an upsert key.
fn create_step(sobject: &str, field: &str) -> String {
    format!(
        "in Salesforce Setup > Object Manager > {sobject} > Fields & Relationships > New: Text \
         (100) with API name `{field}`, \"Unique\" and \"External ID\" checked, visible to the \
         integration user"
    )
}

impl SalesforceBackend {
    /// Checks through `describe` that the upsert-key fields the connection uses exist on every
    /// sObject it creates records in: `idempotency_field` (when set) must be an External ID
    /// field with unique values, and the field the mapping gives `external_id` must be an
    /// External ID field. One request per sObject; `crm-connect doctor` prints the result.
    pub async fn check_setup(&self) -> Result<Vec<SetupCheck>> {
        let mut out = Vec::new();
        for s in SObject::ALL {
            let mut needs: Vec<(&'static str, String, bool)> = Vec::new();
            if let Some(f) = &self.idempotency_field {
                needs.push(("idempotency_field", f.clone(), true));
            }
            // Activities carry no external id (the mapping has no such field for them).
            if s.kind() != ObjectKind::Activity
                && let Ok(f) = self.vendor_field(s, "external_id")
            {
                needs.push(("mapping.external_id", f, false));
            }
            if needs.is_empty() {
                continue;
            }
            let path = format!("/sobjects/{}/describe", s.name());
            let resp = self
                .send(Request::get(path, format!("{}.describe", s.name())))
                .await?;
            let body: Value = resp.json()?;
            let fields = body
                .get("fields")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    Error::decode("field `fields`: the describe body has no fields array")
                })?;
            for (setting, field, unique) in needs {
                let def = fields.iter().find(|f| {
                    f.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(&field))
                });
                let flag = |d: &Value, k: &str| d.get(k).and_then(Value::as_bool).unwrap_or(false);
                let problem = match def {
                    None => Some(format!(
                        "external ID field `{field}` does not exist on {}: {}",
                        s.name(),
                        create_step(s.name(), &field)
                    )),
                    Some(d) if !flag(d, "externalId") => Some(format!(
                        "field `{field}` on {} is not an External ID field: edit it in Setup > \
                         Object Manager > {} > Fields & Relationships and check \"External ID\"{}",
                        s.name(),
                        s.name(),
                        if unique { " and \"Unique\"" } else { "" }
                    )),
                    Some(d) if unique && !flag(d, "unique") => Some(format!(
                        "field `{field}` on {} does not require unique values: edit it in Setup \
                         > Object Manager > {} > Fields & Relationships and check \"Unique\"",
                        s.name(),
                        s.name()
                    )),
                    Some(_) => None,
                };
                out.push(SetupCheck::new(
                    setting,
                    field,
                    s.name(),
                    vec![s.kind()],
                    problem,
                ));
            }
        }
        Ok(out)
    }
}
