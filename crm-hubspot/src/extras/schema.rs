//! The portal's own schema, from the properties API (`GET /crm/v3/properties/{object}`), for
//! checking a mapping against it and the custom properties the settings name
//! ([`HubSpotBackend::check_setup`]).

use std::collections::BTreeMap;

use crm_core::Result;
use crm_core::mapping::{ObjectMapping, SchemaField, SchemaProblem};
pub use crm_core::raw::SetupCheck;
use crm_core::raw::http::Request;
use crm_core::raw::schema;
use crm_core::reexports::serde_json::Value;

use crate::backend::HubSpotBackend;
use crate::extras::objects::{HubObject, MappingTarget};

/// One property of a properties-API body: what the mapping check needs, and whether HubSpot
/// requires its values to be unique (`hasUniqueValue`), which the setup check needs.
struct Property {
    field: SchemaField,
    unique: bool,
}

/// The properties of a properties-API body: name, writability (`modificationMetadata.
/// readOnlyValue`, `calculated`), and enumeration options.
pub fn from_properties(body: &Value) -> Result<Vec<SchemaField>> {
    Ok(properties(body)?.into_iter().map(|p| p.field).collect())
}

fn properties(body: &Value) -> Result<Vec<Property>> {
    schema::definitions(body, "results", "properties", |p, name| {
        let read_only = p
            .pointer("/modificationMetadata/readOnlyValue")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || schema::flag(p, "calculated");
        let options = (p.get("type").and_then(Value::as_str) == Some("enumeration"))
            .then(|| schema::option_values(p, "options", |_| true))
            .flatten();
        Property {
            field: schema::field(name, !read_only, options),
            unique: schema::flag(p, "hasUniqueValue"),
        }
    })
}

impl HubSpotBackend {
    /// The properties of the object behind `target` as the portal defines them.
    pub async fn schema(&self, target: MappingTarget) -> Result<Vec<SchemaField>> {
        let operation = format!("{}.properties", target.as_str());
        let found = self.properties(target.object(), operation).await?;
        Ok(found.into_iter().map(|p| p.field).collect())
    }

    /// `GET /properties/{o}`.
    async fn properties(&self, object: HubObject, operation: String) -> Result<Vec<Property>> {
        let path = self.paths.properties(object);
        let req = Request::get(path, operation).bucket(crate::limits::GENERAL);
        properties(&self.http.send(req).await?.json()?)
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

/// What a setting needs of its property: the setting, the property it names, the objects it is
/// written to, whether its values must be unique, an option an enumeration must offer.
type Need<'a> = (
    &'static str,
    &'a String,
    Vec<HubObject>,
    bool,
    Option<&'static str>,
);

/// The admin step that creates `property` on `object` for `setting`.
fn create_step(
    object: HubObject,
    setting: &str,
    property: &str,
    unique: bool,
    option: Option<&str>,
) -> String {
    let kind = match (unique, option) {
        (true, _) => {
            "single-line text with \"Require unique values for this property\" checked".to_owned()
        }
        (false, Some(o)) => format!("single-line text (or a dropdown with the option `{o}`)"),
        (false, None) => "single-line text".to_owned(),
    };
    format!(
        "in HubSpot, Settings > Data Management > Properties > {} properties > Create property \
         with internal name `{property}`, {kind}; or set `{setting}` to \"\" to do without it",
        object.singular()
    )
}

impl HubSpotBackend {
    /// Checks through the properties API that every custom property the settings name
    /// (`idempotency_property`, `external_id_property`, `lead_source_property`,
    /// `activity_kind_property`) exists on each object it is written to, with unique values
    /// where the setting needs them. One request per object involved; a setting left unset
    /// needs nothing and is not checked. `crm-connect doctor` prints the result.
    pub async fn check_setup(&self) -> Result<Vec<SetupCheck>> {
        use HubObject::{Companies, Contacts, Deals, Tickets};
        let s = &self.config;
        let needs: [Option<Need<'_>>; 4] = [
            s.idempotency_property.as_ref().map(|p| {
                let all = HubObject::ALL.to_vec();
                ("idempotency_property", p, all, true, None)
            }),
            s.external_id_property.as_ref().map(|p| {
                let objects = vec![Contacts, Companies, Deals, Tickets];
                ("external_id_property", p, objects, true, None)
            }),
            s.lead_source_property
                .as_ref()
                .map(|p| ("lead_source_property", p, vec![Contacts], false, None)),
            s.activity_kind_property.as_ref().map(|p| {
                let log = vec![self.log_object()];
                (
                    "activity_kind_property",
                    p,
                    log,
                    false,
                    Some("conversation_log"),
                )
            }),
        ];
        let mut schemas: BTreeMap<&'static str, Vec<Property>> = BTreeMap::new();
        let mut out = Vec::new();
        for (setting, property, objects, unique, option) in needs.into_iter().flatten() {
            for object in objects {
                if !schemas.contains_key(object.name()) {
                    let operation = format!("{}.properties", object.singular());
                    let found = self.properties(object, operation).await?;
                    schemas.insert(object.name(), found);
                }
                let def = schemas
                    .get(object.name())
                    .and_then(|d| d.iter().find(|p| &p.field.name == property));
                let problem = match def {
                    None => Some(format!(
                        "property `{property}` does not exist on {}: {}",
                        object.name(),
                        create_step(object, setting, property, unique, option)
                    )),
                    Some(d) if unique && !d.unique => Some(format!(
                        "property `{}` on {} does not require unique values, which HubSpot \
                         cannot add to an existing property: in HubSpot, Settings > Data \
                         Management > Properties > {} properties > Create property, single-line \
                         text with \"Require unique values for this property\" checked, and set \
                         `{setting}` to its internal name",
                        property,
                        object.name(),
                        object.singular(),
                    )),
                    Some(Property {
                        field:
                            SchemaField {
                                options: Some(options),
                                ..
                            },
                        ..
                    }) if option.is_some_and(|o| !options.iter().any(|v| v == o)) => Some(format!(
                        "property `{property}` on {} is a dropdown without the option `{}`: \
                             add that option in HubSpot's property settings",
                        object.name(),
                        option.unwrap_or_default()
                    )),
                    Some(_) => None,
                };
                out.push(SetupCheck::new(
                    setting,
                    property.clone(),
                    object.name(),
                    object.kinds(),
                    problem,
                ));
            }
        }
        Ok(out)
    }
}
