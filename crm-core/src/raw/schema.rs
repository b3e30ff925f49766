//! Reading a vendor's field definitions (HubSpot's properties API, Salesforce's `describe`)
//! for [`SchemaField`]s: the list and each entry's `name` are checked the same way for every
//! vendor, and what a definition says about writability and options is the adapter's.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::mapping::SchemaField;

/// The definitions listed at `list` in `body` (a `what` body: `properties`, `describe`), each
/// read by `read` from its JSON object and its `name`. A body without that list, or an entry
/// without a text `name`, is a decode error naming where (`fields[3].name`), never a value.
pub fn definitions<T>(
    body: &Value,
    list: &str,
    what: &str,
    mut read: impl FnMut(&Value, &str) -> T,
) -> Result<Vec<T>> {
    let entries = body.get(list).and_then(Value::as_array).ok_or_else(|| {
        Error::decode(format!(
            "field `{list}`: the {what} body has no {list} array"
        ))
    })?;
    entries
        .iter()
        .enumerate()
        .map(
            |(i, entry)| match entry.get("name").and_then(Value::as_str) {
                Some(name) => Ok(read(entry, name)),
                None => Err(Error::decode(format!("field `{list}[{i}].name`: missing"))),
            },
        )
        .collect()
}

/// A boolean member of a definition; missing or not a boolean is `false`.
pub fn flag(definition: &Value, key: &str) -> bool {
    definition
        .get(key)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The text `value`s of the option list at `key` (enumeration options, picklist values) that
/// `keep` accepts; `None` when the definition has no such list.
pub fn option_values(
    definition: &Value,
    key: &str,
    keep: impl Fn(&Value) -> bool,
) -> Option<Vec<String>> {
    let options = definition.get(key)?.as_array()?;
    let kept = options.iter().filter(|o| keep(o));
    Some(
        kept.filter_map(|o| o.get("value").and_then(Value::as_str).map(str::to_owned))
            .collect(),
    )
}

/// A [`SchemaField`] named `name` with the same writability for creates and updates and no
/// length limit.
pub fn field(name: &str, writable: bool, options: Option<Vec<String>>) -> SchemaField {
    SchemaField {
        name: name.to_owned(),
        createable: writable,
        updateable: writable,
        options,
        max_length: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    #[test]
    fn definitions_need_the_list_and_a_name_and_errors_name_where() {
        let body = json!({"fields": [{"name": "Email", "nillable": true}]});
        let names = definitions(&body, "fields", "describe", |d, n| {
            (n.to_owned(), flag(d, "nillable"))
        });
        assert_eq!(names.unwrap(), [("Email".to_owned(), true)]);
        let err = definitions(&json!({}), "results", "properties", |_, _| ()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Decode);
        assert_eq!(
            err.message(),
            "field `results`: the properties body has no results array"
        );
        let bad = json!({"results": [{"name": "a"}, {"label": "jane@example.com"}]});
        let err = definitions(&bad, "results", "properties", |_, _| ()).unwrap_err();
        assert_eq!(err.message(), "field `results[1].name`: missing");
    }

    #[test]
    fn option_values_keep_what_the_filter_accepts() {
        let d = json!({"picklistValues": [{"value": "A", "active": true},
                                          {"value": "B", "active": false}]});
        let active = |o: &Value| o.get("active").and_then(Value::as_bool).unwrap_or(true);
        assert_eq!(
            option_values(&d, "picklistValues", active),
            Some(vec!["A".to_owned()])
        );
        assert_eq!(option_values(&d, "options", |_| true), None);
    }
}
